//! `prune`: plan (pure data) → confirm → apply with re-checks (rule 10).
//!
//! The plan works from a [`RunSnapshot`], so it is the same for every layout: victims
//! are checkpoints the layout names (HF: whole `checkpoint-N` directories). Apply takes
//! the lock, re-stats every file (size, mtime, inode) and refuses what changed; on
//! native runs the manifest drops the victims before anything is unlinked (rule 5).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

use super::lock::RunLock;
use super::manifest_io::{
    self, load_manifest, recover_pending, set_pending, store_manifest, Pending,
};
use super::save::unlink_unlisted;
use super::*;
use crate::rank::{plan_retention, RetentionItem};
use crate::snapshot::{CheckpointState, Role};
use crate::{Error, Result};

/// Read a run as it is now, native runs through the manifest.
pub(crate) fn scan_run(run: &Run) -> Result<RunSnapshot> {
    match run.layout {
        LayoutKind::Ckpt => crate::layout::native::scan(&run.dir),
        other => crate::layout::scan(&run.dir, Some(other)),
    }
}

/// The identity of one file now (lstat: a symlink is stamped, never followed).
pub fn stamp(path: &Path) -> Result<FileStamp> {
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
pub fn stamps_of(path: &Path) -> Result<Vec<FileStamp>> {
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
            })
            .collect();
        let outcome = plan_retention(&items, &policy, mode);
        let mut victim_names: Vec<String> = outcome.victims;
        let mut kept = outcome.kept;
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
                return Err(Error::Invalid(format!("cannot prune {}: {why}", c.name)));
            }
            if !victim_names.contains(&c.name) {
                victim_names.push(c.name.clone());
            }
            kept.retain(|(n, _)| n != &c.name);
        }
        let alias_paths: HashSet<&Path> = snap
            .best
            .iter()
            .chain(snap.last.iter())
            .map(|a| a.path.as_path())
            .collect();
        let mut victims = Vec::new();
        for c in snap
            .checkpoints
            .iter()
            .filter(|c| victim_names.contains(&c.name))
        {
            let mut files = Vec::new();
            for rel in &c.paths {
                if !inside_run(rel) || alias_paths.contains(rel.as_path()) {
                    continue;
                }
                let full = self.dir.join(rel);
                if std::fs::symlink_metadata(&full).is_ok() {
                    files.extend(stamps_of(&full)?);
                }
            }
            victims.push(Victim {
                name: c.name.clone(),
                epoch: c.epoch,
                step: c.step,
                files,
                bytes_freed: 0,
            });
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
        let _lock = RunLock::acquire(&self.dir, "prune", self.options.lock_timeout)?;
        super::atomic::sweep_stale_temps(&self.dir)?;
        if self.layout == LayoutKind::Ckpt {
            let mut m = load_manifest(&self.dir)?;
            recover_pending(&self.dir, &mut m)?;
        }
        let snap = scan_run(self)?;
        let mut refused = Vec::new();
        let mut accepted: Vec<&Victim> = Vec::new();
        for v in &plan.victims {
            match self.recheck(&snap, v) {
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
                freed += self.remove_foreign(&snap, v)?;
                removed.push(v.name.clone());
            }
            if !removed.is_empty() {
                super::atomic::fsync_dir(&self.dir)?;
                let mut state = manifest_io::load_state(&self.dir)?;
                let before = state.hashes.len();
                state.hashes.retain(|k, _| !removed.contains(k));
                if state.hashes.len() != before {
                    manifest_io::store_state(&self.dir, &state)?;
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
        let mut now: BTreeMap<&Path, FileStamp> = BTreeMap::new();
        let mut fresh = Vec::new();
        for rel in &c.paths {
            let full = self.dir.join(rel);
            if std::fs::symlink_metadata(&full).is_ok() {
                fresh.extend(stamps_of(&full).map_err(|e| e.to_string())?);
            }
        }
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
            if !inside_run(rel) || alias_paths.contains(rel.as_path()) {
                continue;
            }
            let full = self.dir.join(rel);
            let Ok(md) = std::fs::symlink_metadata(&full) else {
                continue;
            };
            super::fault::point("prune.unlink").map_err(|e| Error::io("remove", &full, e))?;
            if md.is_dir() {
                for f in stamps_of(&full)? {
                    if f.nlink <= 1 {
                        freed += f.bytes;
                    }
                }
                // remove_dir_all removes symlinks inside, never what they point to.
                std::fs::remove_dir_all(&full)
                    .map_err(|e| Error::io("remove directory", &full, e))?;
            } else {
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
