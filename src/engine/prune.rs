//! `prune`: plan (pure data) → confirm → apply with re-checks (rule 10).
//!
//! The plan works from a [`RunSnapshot`], so it is the same for every layout: victims
//! are checkpoints the layout names (HF: whole `checkpoint-N` directories). Apply takes
//! the lock, re-stats every file (size, mtime, inode) and refuses what changed; on
//! native runs the manifest drops the victims before anything is unlinked (rule 5).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

use super::commit::{self, set_pending, store_manifest};
use super::save::unlink_unlisted;
use super::*;
use crate::rank::{plan_retention, RetentionItem};
use crate::snapshot::{CheckpointState, Role};
use crate::store::{load_manifest, Pending};
use crate::{Error, Result};

/// Read a run as it is now, native runs through the manifest.
pub(crate) fn scan_run(run: &Run) -> Result<RunSnapshot> {
    match run.layout {
        LayoutKind::Ckpt => crate::layout::native::scan(&run.dir),
        other => crate::layout::scan(&run.dir, Some(other)),
    }
}

/// The identity of one file now (lstat: a symlink is stamped, never followed).
pub(crate) fn stamp(path: &Path) -> Result<FileStamp> {
    let md = std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
    Ok(FileStamp {
        path: path.to_path_buf(),
        bytes: md.len(),
        mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
        dev: md.dev(),
        ino: md.ino(),
        nlink: md.nlink(),
    })
}

/// Stamps of every file at `path`: the file itself, or every file under a directory
/// (walked without following symlinks), sorted by path.
pub(crate) fn stamps_of(path: &Path) -> Result<Vec<FileStamp>> {
    let md = std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
    if !md.is_dir() {
        return Ok(vec![stamp(path)?]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io("read directory", &d, e))?;
        for ent in rd {
            let ent = ent.map_err(|e| Error::io("read directory", &d, e))?;
            let p = ent.path();
            let ft = ent.file_type().map_err(|e| Error::io("stat", &p, e))?;
            if ft.is_dir() {
                stack.push(p);
            } else {
                out.push(stamp(&p)?);
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Remove a checkpoint directory so it vanishes at once: rename it to a temp name in
/// the same directory (fsynced), then delete the temp. A crash in between leaves a temp
/// of a dead writer, which the next mutation sweeps; never a half-deleted checkpoint.
/// Symlinks inside are removed, never followed.
pub(crate) fn remove_dir_atomically(dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(crate::store::temp::temp_name(&name));
    super::fault::point("prune.rename_dir").map_err(|e| Error::io("remove directory", dir, e))?;
    std::fs::rename(dir, &tmp).map_err(|e| Error::io("remove directory", dir, e))?;
    super::atomic::fsync_dir(parent)?;
    super::fault::point("prune.remove_dir").map_err(|e| Error::io("remove directory", &tmp, e))?;
    std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove directory", &tmp, e))
}

/// A run-relative path that stays inside the run (rule 9).
fn inside_run(rel: &Path) -> bool {
    !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Bytes freed per victim when all `victims` go: an inode frees its size only when
/// every one of its names is among the removed files (hardlinks elsewhere keep it).
fn freed_by_inode(victims: &mut [Victim]) -> u64 {
    let mut names: HashMap<(u64, u64), u64> = HashMap::new();
    for v in victims.iter() {
        for f in &v.files {
            *names.entry((f.dev, f.ino)).or_default() += 1;
        }
    }
    let mut counted = HashSet::new();
    let mut total = 0;
    for v in victims.iter_mut() {
        v.bytes_freed = 0;
        for f in &v.files {
            let key = (f.dev, f.ino);
            if names[&key] >= f.nlink && counted.insert(key) {
                v.bytes_freed += f.bytes;
            }
        }
        total += v.bytes_freed;
    }
    total
}

impl Run {
    /// The files removing checkpoint `c` unlinks, each allowed by the protected set
    /// ([`super::foreign::protected_reason`]): `Ok(Err(why))` when its own file (or any
    /// file under its directory) is protected, so the checkpoint must stay. Other names
    /// of it that are protected (a hardlinked `model_best.pth.tar`) are left out.
    fn victim_files(
        &self,
        snap: &RunSnapshot,
        c: &crate::snapshot::Checkpoint,
        named: bool,
    ) -> Result<std::result::Result<Vec<FileStamp>, String>> {
        let mut files = Vec::new();
        for (i, rel) in c.paths.iter().enumerate() {
            let why = if inside_run(rel) {
                super::foreign::protected_reason(snap, rel, named)
            } else {
                Some(format!("{} is outside the run", rel.display()))
            };
            if let Some(why) = why {
                if i == 0 {
                    return Ok(Err(why));
                }
                continue;
            }
            let full = self.dir.join(rel);
            if std::fs::symlink_metadata(&full).is_err() {
                continue;
            }
            for f in stamps_of(&full)? {
                if let Some(why) = self.file_protected(snap, &f.path, named) {
                    return Ok(Err(why));
                }
                files.push(f);
            }
        }
        Ok(Ok(files))
    }

    /// Why the protected set forbids deleting `path` (absolute, under the run).
    fn file_protected(&self, snap: &RunSnapshot, path: &Path, named: bool) -> Option<String> {
        match path.strip_prefix(&self.dir) {
            Ok(rel) if inside_run(rel) => super::foreign::protected_reason(snap, rel, named),
            _ => Some(format!("{} is outside the run", path.display())),
        }
    }

    /// Plan a prune: by `policy` (or the manifest's), plus checkpoints named in `extra`
    /// (e.g. marked in the monitor). Pure apart from reading the run. Naming best,
    /// last, a pinned or an in-flight checkpoint in `extra` is refused.
    pub fn plan_prune(
        &self,
        policy: Option<RetentionPolicy>,
        extra: &[String],
    ) -> Result<PrunePlan> {
        let snap = scan_run(self)?;
        let policy = match (policy, self.layout) {
            (Some(p), _) => p,
            (None, LayoutKind::Ckpt) => load_manifest(&self.dir)?.policy,
            (None, _) => RetentionPolicy::default(),
        };
        self.plan_prune_from(&snap, policy, extra)
    }

    /// Plan a prune from a snapshot already taken (e.g. the monitor's): the same rules
    /// as [`Run::plan_prune`], for any layout.
    pub(crate) fn plan_prune_from(
        &self,
        snap: &RunSnapshot,
        policy: RetentionPolicy,
        extra: &[String],
    ) -> Result<PrunePlan> {
        let mode = snap.metric.as_ref().map(|m| m.mode).unwrap_or_default();
        let items: Vec<RetentionItem> = snap
            .checkpoints
            .iter()
            .map(|c| RetentionItem {
                name: c.name.clone(),
                epoch: c.epoch,
                step: c.step,
                metric: c.metric,
                pinned: c.pinned,
                roles: c.roles.clone(),
                managed: c.state == CheckpointState::Complete,
                trainer_best: snap.trainer_record.best.as_deref() == Some(c.name.as_str()),
                metric_unknown: snap.trainer_record.unreadable.contains_key(&c.name),
            })
            .collect();
        let outcome = plan_retention(&items, &policy, mode);
        let mut victim_names: Vec<String> = outcome.victims;
        let mut kept = outcome.kept;
        let mut named: HashSet<String> = HashSet::new();
        for sel in extra {
            let c = snap.find(sel).ok_or_else(|| Error::UnknownCheckpoint {
                selector: sel.clone(),
                run: self.dir.clone(),
            })?;
            let why = if c.has_role(Role::Best) {
                Some("it is the best checkpoint (promote another one first)")
            } else if c.has_role(Role::Last) {
                Some("it is the resume point `last` (restore another one first)")
            } else if c.pinned {
                Some("it is pinned (unpin it first)")
            } else if c.state == CheckpointState::Writing {
                Some("it is being written right now")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::Protected(format!("cannot prune {}: {why}", c.name)));
            }
            if !victim_names.contains(&c.name) {
                victim_names.push(c.name.clone());
            }
            named.insert(c.name.clone());
            kept.retain(|(n, _)| n != &c.name);
        }
        let mut victims = Vec::new();
        for c in snap
            .checkpoints
            .iter()
            .filter(|c| victim_names.contains(&c.name))
        {
            let is_named = named.contains(&c.name);
            match self.victim_files(snap, c, is_named)? {
                Ok(files) => victims.push(Victim {
                    name: c.name.clone(),
                    epoch: c.epoch,
                    step: c.step,
                    files,
                    bytes_freed: 0,
                }),
                Err(why) if is_named => {
                    return Err(Error::Protected(format!("cannot prune {}: {why}", c.name)))
                }
                Err(_) => {
                    let reason = if c.has_role(Role::Milestone) {
                        KeepReason::Milestone
                    } else {
                        KeepReason::NotManaged
                    };
                    kept.push((c.name.clone(), vec![reason]));
                }
            }
        }
        let bytes_freed = freed_by_inode(&mut victims);
        Ok(PrunePlan {
            run: self.dir.clone(),
            policy,
            victims,
            kept,
            bytes_freed,
        })
    }

    /// Apply a prune plan, re-checking every victim first; changed victims are refused
    /// (listed in the report) and left alone.
    pub fn prune(&self, plan: &PrunePlan) -> Result<PruneReport> {
        let (_lock, _) = self.begin_mutation("prune")?;
        let snap = scan_run(self)?;
        self.apply_prune(plan, &snap)
    }

    /// Apply a plan against `snap`, a snapshot taken under the run lock.
    fn apply_prune(&self, plan: &PrunePlan, snap: &RunSnapshot) -> Result<PruneReport> {
        let mut refused = Vec::new();
        let mut accepted: Vec<&Victim> = Vec::new();
        for v in &plan.victims {
            match self.recheck(snap, v) {
                Ok(()) => accepted.push(v),
                Err(reason) => refused.push((v.name.clone(), reason)),
            }
        }
        let mut removed = Vec::new();
        let mut freed = 0;
        if self.layout == LayoutKind::Ckpt {
            let names: Vec<String> = accepted.iter().map(|v| v.name.clone()).collect();
            let mut m = load_manifest(&self.dir)?;
            m.checkpoints.retain(|e| !names.contains(&e.path));
            if !names.is_empty() {
                set_pending(
                    &mut m,
                    Some(&Pending {
                        operation: "prune".into(),
                        unlink: names.clone(),
                        ..Default::default()
                    }),
                );
                store_manifest(&self.dir, &m)?;
                let (_, f) = unlink_unlisted(&self.dir, &names)?;
                freed = f;
                set_pending(&mut m, None);
                store_manifest(&self.dir, &m)?;
                removed = names;
            }
        } else {
            for v in &accepted {
                freed += self.remove_foreign(snap, v)?;
                removed.push(v.name.clone());
            }
            if !removed.is_empty() {
                super::atomic::fsync_dir(&self.dir)?;
                let mut state = crate::store::load_state(&self.dir)?;
                let before = state.hashes.len();
                state.hashes.retain(|k, _| !removed.contains(k));
                if state.hashes.len() != before {
                    commit::store_state(&self.dir, &state)?;
                }
            }
        }
        Ok(PruneReport {
            removed,
            bytes_freed: freed,
            refused,
        })
    }

    /// Why a victim may no longer be removed (`Err(reason)`), from a fresh snapshot.
    fn recheck(&self, snap: &RunSnapshot, v: &Victim) -> std::result::Result<(), String> {
        let Some(c) = snap.checkpoints.iter().find(|c| c.name == v.name) else {
            return Err("it is no longer a checkpoint of the run".into());
        };
        if c.has_role(Role::Best) || c.has_role(Role::Last) {
            return Err("it became best or last".into());
        }
        if c.pinned {
            return Err("it was pinned".into());
        }
        if c.state == CheckpointState::Writing {
            return Err("it is being written".into());
        }
        // A milestone is a victim of a plan only when it was named, so apply re-checks
        // the protected set as named; everything else (trainer files, aliases, files
        // that are no checkpoint of the run, paths outside it) is refused again here.
        for f in &v.files {
            if let Some(why) = self.file_protected(snap, &f.path, true) {
                return Err(format!("{} is protected: {why}", f.path.display()));
            }
        }
        let mut now: BTreeMap<&Path, FileStamp> = BTreeMap::new();
        let fresh = self
            .victim_files(snap, c, true)
            .map_err(|e| e.to_string())?
            .map_err(|why| format!("it is protected now: {why}"))?;
        for f in &fresh {
            now.insert(f.path.as_path(), f.clone());
        }
        for old in &v.files {
            let Some(cur) = now.remove(old.path.as_path()) else {
                return Err(format!("{} is gone", old.path.display()));
            };
            let mut what = Vec::new();
            if cur.bytes != old.bytes {
                what.push(format!("size {} → {}", old.bytes, cur.bytes));
            }
            if cur.mtime_ns != old.mtime_ns {
                what.push("mtime changed".to_string());
            }
            if (cur.dev, cur.ino) != (old.dev, old.ino) {
                what.push("replaced by another file".to_string());
            }
            if !what.is_empty() {
                return Err(format!("{}: {}", old.path.display(), what.join(", ")));
            }
        }
        let planned: HashSet<&Path> = v.files.iter().map(|f| f.path.as_path()).collect();
        if let Some(extra) = now.keys().find(|p| !planned.contains(*p)) {
            return Err(format!("{} appeared since the plan", extra.display()));
        }
        Ok(())
    }

    /// Remove one checkpoint of a foreign layout (a file, or a whole directory without
    /// following symlinks). Returns bytes freed by inode.
    fn remove_foreign(&self, snap: &RunSnapshot, v: &Victim) -> Result<u64> {
        let Some(c) = snap.checkpoints.iter().find(|c| c.name == v.name) else {
            return Ok(0);
        };
        let alias_paths: HashSet<&Path> = snap
            .best
            .iter()
            .chain(snap.last.iter())
            .map(|a| a.path.as_path())
            .collect();
        let mut freed = 0;
        for rel in &c.paths {
            if !inside_run(rel)
                || alias_paths.contains(rel.as_path())
                || super::foreign::protected_reason(snap, rel, true).is_some()
            {
                continue;
            }
            let full = self.dir.join(rel);
            let Ok(md) = std::fs::symlink_metadata(&full) else {
                continue;
            };
            if md.is_dir() {
                for f in stamps_of(&full)? {
                    if f.nlink <= 1 {
                        freed += f.bytes;
                    }
                }
                remove_dir_atomically(&full)?;
            } else {
                super::fault::point("prune.unlink").map_err(|e| Error::io("remove", &full, e))?;
                if md.is_file() && md.nlink() <= 1 {
                    freed += md.len();
                }
                std::fs::remove_file(&full).map_err(|e| Error::io("remove", &full, e))?;
            }
            if let Some(parent) = full.parent() {
                if parent != self.dir {
                    super::atomic::fsync_dir(parent)?;
                }
            }
        }
        Ok(freed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Checkpoint;
    use std::path::PathBuf;

    /// An HF-like run: checkpoint-N directories, one holding a symlink out of the run.
    fn hf_run() -> (tempfile::TempDir, Run, RunSnapshot, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let run_dir = d.path().join("run");
        let outside = d.path().join("precious.bin");
        std::fs::write(&outside, b"not ours").unwrap();
        let mut checkpoints = Vec::new();
        for (step, roles) in [
            (10, vec![]),
            (20, vec![Role::Best]),
            (30, vec![]),
            (40, vec![Role::Last]),
        ] {
            let c = run_dir.join(format!("checkpoint-{step}"));
            std::fs::create_dir_all(c.join("sub")).unwrap();
            std::fs::write(c.join("model.safetensors"), vec![step as u8; 1000]).unwrap();
            std::fs::write(c.join("sub").join("opt.pt"), vec![1u8; 500]).unwrap();
            std::os::unix::fs::symlink(&outside, c.join("link")).unwrap();
            checkpoints.push(Checkpoint {
                name: format!("checkpoint-{step}"),
                step: Some(step),
                metric: Some(step as f64),
                bytes: 1500,
                paths: vec![format!("checkpoint-{step}").into()],
                roles,
                ..Default::default()
            });
        }
        let mut snap = RunSnapshot {
            run: run_dir.clone(),
            layout: LayoutKind::Hf,
            metric: None,
            checkpoints,
            best: None,
            last: None,
            temps: vec![],
            warnings: vec![],
            scanned_at: chrono::Utc::now(),
            default_policy: None,
            trash_bytes: 0,
            trainer_record: Default::default(),
            history: Vec::new(),
            alias_files: Default::default(),
        };
        snap.alias_files = crate::layout::foreign_alias_files(&snap);
        let run = Run {
            dir: run_dir,
            layout: LayoutKind::Hf,
            options: EngineOptions::default(),
        };
        (d, run, snap, outside)
    }

    #[test]
    fn foreign_dirs_pruned_whole_without_following_symlinks() {
        let (_d, run, snap, outside) = hf_run();
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let plan = run.plan_prune_from(&snap, policy, &[]).unwrap();
        let names: Vec<&str> = plan.victims.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["checkpoint-10", "checkpoint-30"]);
        // three entries per dir: two files and the symlink itself (stamped, not followed)
        assert_eq!(plan.victims[0].files.len(), 3);
        let rep = run.apply_prune(&plan, &snap).unwrap();
        assert_eq!(rep.removed.len(), 2);
        assert!(!run.dir.join("checkpoint-10").exists());
        assert!(!run.dir.join("checkpoint-30").exists());
        assert!(run.dir.join("checkpoint-20").exists());
        assert_eq!(std::fs::read(&outside).unwrap(), b"not ours");
        assert!(crate::store::temp::find_temps(&run.dir).is_empty());
    }

    #[test]
    fn foreign_changed_dir_is_refused() {
        let (_d, run, snap, _) = hf_run();
        let plan = run
            .plan_prune_from(&snap, RetentionPolicy::default(), &["checkpoint-30".into()])
            .unwrap();
        std::fs::write(run.dir.join("checkpoint-30").join("new.bin"), b"x").unwrap();
        let rep = run.apply_prune(&plan, &snap).unwrap();
        assert!(rep.removed.is_empty());
        assert!(rep.refused[0].1.contains("appeared"), "{rep:?}");
        assert!(run
            .dir
            .join("checkpoint-30")
            .join("model.safetensors")
            .exists());
        let e = run
            .plan_prune_from(&snap, RetentionPolicy::default(), &["checkpoint-40".into()])
            .unwrap_err();
        assert!(e.to_string().contains("resume point"), "{e}");
    }

    /// A timm-like run whose (stale) snapshot lists a hardlinked alias and a trainer
    /// file among a victim's paths, and a checkpoint the protected set owns outright.
    fn timm_run() -> (tempfile::TempDir, Run, RunSnapshot) {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        for (name, byte) in [
            ("checkpoint-3.pth.tar", 3u8),
            ("checkpoint-4.pth.tar", 4),
            ("checkpoint-5.pth.tar", 5),
            ("last.pth.tar", 7),
            ("summary.csv", b's'),
            ("args.yaml", b'a'),
        ] {
            std::fs::write(dir.join(name), vec![byte; 100]).unwrap();
        }
        std::fs::hard_link(
            dir.join("checkpoint-3.pth.tar"),
            dir.join("model_best.pth.tar"),
        )
        .unwrap();
        let ck = |epoch: u64, paths: &[&str], roles: Vec<Role>| Checkpoint {
            name: paths[0].into(),
            epoch: Some(epoch),
            metric: Some(epoch as f64),
            bytes: 100,
            paths: paths.iter().map(PathBuf::from).collect(),
            roles,
            ..Default::default()
        };
        let mut snap = RunSnapshot {
            run: dir.clone(),
            layout: LayoutKind::Timm,
            metric: None,
            checkpoints: vec![
                // A monitor snapshot taken before best moved on: the hardlinked alias
                // is still listed among checkpoint-3's names, without the role.
                ck(
                    3,
                    &["checkpoint-3.pth.tar", "model_best.pth.tar", "summary.csv"],
                    vec![],
                ),
                ck(4, &["args.yaml"], vec![]),
                ck(5, &["checkpoint-5.pth.tar"], vec![Role::Best]),
                ck(7, &["last.pth.tar"], vec![Role::Last]),
            ],
            best: None,
            last: None,
            temps: vec![],
            warnings: vec![],
            scanned_at: chrono::Utc::now(),
            default_policy: None,
            trash_bytes: 0,
            trainer_record: Default::default(),
            history: Vec::new(),
            alias_files: Default::default(),
        };
        snap.alias_files = crate::layout::foreign_alias_files(&snap);
        let run = Run {
            dir,
            layout: LayoutKind::Timm,
            options: EngineOptions::default(),
        };
        (d, run, snap)
    }

    #[test]
    fn prune_never_deletes_an_alias_name_or_a_trainer_file() {
        let (_d, run, snap) = timm_run();
        let policy = RetentionPolicy {
            keep_top_k: Some(1),
            ..Default::default()
        };
        let plan = run.plan_prune_from(&snap, policy, &[]).unwrap();
        let names: Vec<&str> = plan.victims.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["checkpoint-3.pth.tar"], "{plan:?}");
        let files: Vec<&Path> = plan.victims[0]
            .files
            .iter()
            .map(|f| f.path.as_path())
            .collect();
        assert_eq!(files, vec![run.dir.join("checkpoint-3.pth.tar")]);
        // The alias keeps the inode alive: nothing is freed.
        assert_eq!(plan.bytes_freed, 0);
        // `args.yaml` is listed as a checkpoint, but the trainer owns it: kept.
        assert!(plan
            .kept
            .iter()
            .any(|(n, why)| n == "args.yaml" && why == &vec![KeepReason::NotManaged]));

        let rep = run.apply_prune(&plan, &snap).unwrap();
        assert_eq!(rep.removed, vec!["checkpoint-3.pth.tar".to_string()]);
        assert!(!run.dir.join("checkpoint-3.pth.tar").exists());
        for f in [
            "model_best.pth.tar",
            "summary.csv",
            "args.yaml",
            "last.pth.tar",
        ] {
            assert!(run.dir.join(f).is_file(), "{f} removed");
        }
        assert_eq!(
            std::fs::read(run.dir.join("model_best.pth.tar")).unwrap(),
            vec![3u8; 100]
        );

        // Naming a protected "checkpoint" is refused with the reason.
        let e = run
            .plan_prune_from(&snap, RetentionPolicy::default(), &["args.yaml".into()])
            .unwrap_err();
        assert!(e.to_string().contains("belongs to the trainer"), "{e}");
    }

    #[test]
    fn apply_refuses_a_plan_file_the_protected_set_covers() {
        let (_d, run, snap) = timm_run();
        let mut plan = run
            .plan_prune_from(
                &snap,
                RetentionPolicy::default(),
                &["checkpoint-3.pth.tar".into()],
            )
            .unwrap();
        // A plan edited (or made elsewhere) to delete the alias name is refused whole.
        plan.victims[0]
            .files
            .push(stamp(&run.dir.join("model_best.pth.tar")).unwrap());
        let rep = run.apply_prune(&plan, &snap).unwrap();
        assert!(rep.removed.is_empty(), "{rep:?}");
        assert!(rep.refused[0].1.contains("alias"), "{rep:?}");
        assert!(run.dir.join("checkpoint-3.pth.tar").is_file());
        assert!(run.dir.join("model_best.pth.tar").is_file());
    }
}
