//! `save`: rules 1–8 of DESIGN §3, then aliases and retention.
//!
//! Order: preflight (writable, free space) → stream into a temp (no lock) → lock →
//! sweep stale temps → finish any pending intent → [replacing: record the intent] →
//! rename → manifest (new entry, last/best, aliases pending) → aliases → manifest
//! (victims dropped) → unlink victims → dir fsync → manifest (intent cleared).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::alias::{known_strategy, set_alias, AliasStrategy};
use super::atomic::{self, move_temp, write_temp, DurableTemp, Source};
use super::lock::RunLock;
use super::manifest_io::{
    alias_names, checkpoint_name, load_manifest, recompute_best, recover_pending, resolve,
    set_pending, store_manifest, Pending, PendingReplace,
};
use super::*;
use crate::manifest::{Entry, Manifest};
use crate::rank::{Mode, RetentionItem};
use crate::snapshot::Role;
use crate::{Error, Result};

/// Extra room asked for on top of the checkpoint: ~3% plus 1 MiB for the manifest.
pub fn space_needed(bytes: u64) -> u64 {
    bytes + bytes / 32 + (1 << 20)
}

/// Check that `dir` is writable and has room for `bytes` more (rule 6), before
/// anything is touched. `hint` is appended to a [`Error::NoSpace`].
pub fn preflight(dir: &Path, bytes: u64, hint: impl FnOnce() -> String) -> Result<()> {
    use rustix::fs::{access, Access};
    if let Err(e) = access(dir, Access::WRITE_OK) {
        return Err(Error::NotWritable {
            path: dir.to_path_buf(),
            source: std::io::Error::from_raw_os_error(e.raw_os_error()),
        });
    }
    let h = crate::disk::headroom(dir)?;
    let needed = space_needed(bytes);
    if h.available < needed {
        return Err(Error::NoSpace {
            path: dir.to_path_buf(),
            mount: h.mount,
            fs_type: h.fs_type,
            available: h.available,
            needed,
            hint: hint(),
        });
    }
    Ok(())
}

/// The manifest's `metric_raw` text for a non-finite value ("nan", "inf", "-inf").
fn raw_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// Current (non-trash) entry of an epoch.
fn live_entry(m: &Manifest, epoch: u64) -> Option<&Entry> {
    m.checkpoints
        .iter()
        .find(|e| e.epoch == epoch && !e.path.starts_with("trash/"))
}

/// Ranking mode of a manifest (max when no metric is named yet).
pub fn manifest_mode(m: &Manifest) -> Mode {
    m.metric.as_ref().map(|s| s.mode).unwrap_or_default()
}

/// Retention victims of a manifest under `policy`: entries no rule keeps.
pub fn manifest_victims(m: &Manifest, policy: &RetentionPolicy) -> Vec<String> {
    let items: Vec<RetentionItem> = m
        .checkpoints
        .iter()
        .filter(|e| !e.path.starts_with("trash/"))
        .map(|e| {
            let mut roles = Vec::new();
            if m.best.as_ref().is_some_and(|b| b.epoch == e.epoch) {
                roles.push(Role::Best);
            }
            if m.last == Some(e.epoch) {
                roles.push(Role::Last);
            }
            RetentionItem {
                name: e.path.clone(),
                epoch: Some(e.epoch),
                step: e.step,
                metric: e.rank_value(),
                pinned: e.pinned,
                roles,
                managed: true,
            }
        })
        .collect();
    crate::rank::plan_retention(&items, policy, manifest_mode(m)).victims
}

/// Unlink `names` (manifest paths) that the manifest no longer lists; then fsync the
/// run directory. Returns (paths removed, bytes freed by inode).
pub(crate) fn unlink_unlisted(run: &Path, names: &[String]) -> Result<(Vec<PathBuf>, u64)> {
    let mut removed = Vec::new();
    let mut freed = 0;
    for n in names {
        let path = resolve(run, n);
        let Ok(md) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if md.is_dir() {
            continue;
        }
        super::fault::point("prune.unlink").map_err(|e| Error::io("remove", &path, e))?;
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if md.nlink() <= 1 && md.is_file() {
                    freed += md.len();
                }
                removed.push(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &path, e)),
        }
    }
    if !removed.is_empty() {
        atomic::fsync_dir(run)?;
    }
    Ok((removed, freed))
}

impl Run {
    /// Start a mutation: take the run lock for `operation`, sweep temps of dead
    /// writers, and for native runs load the manifest and finish any interrupted
    /// operation first. Hold the returned lock until the mutation is committed.
    pub fn begin_mutation(&self, operation: &str) -> Result<(RunLock, Option<Manifest>)> {
        let lock = RunLock::acquire(&self.dir, operation, self.options.lock_timeout)?;
        atomic::sweep_run(&self.dir)?;
        if self.layout != LayoutKind::Ckpt {
            return Ok((lock, None));
        }
        let mut m = load_manifest(&self.dir)?;
        recover_pending(&self.dir, &mut m)?;
        Ok((lock, Some(m)))
    }

    /// Save a checkpoint (native runs): see the module doc for the order of steps.
    pub fn save(
        &self,
        req: &SaveRequest,
        source: SaveSource<'_>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<SaveReport> {
        if self.layout != LayoutKind::Ckpt {
            return Err(Error::Invalid(format!(
                "{} is a {} run: `ckpt save` writes native runs only (the training library writes this one); save into a new directory instead",
                self.dir.display(),
                self.layout.as_str()
            )));
        }
        // Read-only look for the extension and the preflight (no lock yet).
        let m0 = load_manifest(&self.dir)?;
        if let (Some(have), Some(want)) = (&m0.metric, &req.metric_spec) {
            if have.name != want.name || have.mode != want.mode {
                return Err(Error::Invalid(format!(
                    "this run ranks by {} ({}); a save cannot switch it to {} ({})",
                    have.name,
                    have.mode.as_str(),
                    want.name,
                    want.mode.as_str()
                )));
            }
        }
        let name = checkpoint_name(req.epoch, &m0.ext);
        let dest = self.dir.join(&name);

        let dir_dev = std::fs::metadata(&self.dir)
            .map(|m| m.dev())
            .map_err(|e| Error::io("stat", &self.dir, e))?;
        let (size, free_move) = match &source {
            SaveSource::File { path, move_file } => {
                let md = std::fs::metadata(path).map_err(|e| Error::io("stat", *path, e))?;
                (md.len(), *move_file && md.dev() == dir_dev)
            }
            _ => {
                let prev = m0
                    .last
                    .and_then(|l| live_entry(&m0, l))
                    .or_else(|| m0.checkpoints.last())
                    .map(|e| e.bytes)
                    .unwrap_or(0);
                (prev, false)
            }
        };
        let mut needed = if free_move { 0 } else { size };
        if known_strategy(dir_dev) == Some(AliasStrategy::Copy) {
            needed += 2 * size; // `last` and maybe `best` are full copies here
        }
        preflight(&self.dir, needed, || self.prune_hint())?;

        let temp = match source {
            SaveSource::File {
                path,
                move_file: true,
            } => move_temp(path, &dest, progress)?,
            SaveSource::File { path, .. } => write_temp(&dest, Source::CopyOf(path), progress)?,
            SaveSource::Stream(r) => write_temp(&dest, Source::Reader(r), progress)?,
            SaveSource::Writer(w) => write_temp(&dest, Source::Writer(w), progress)?,
        };

        let (_lock, m) = self.begin_mutation("save")?;
        let m = m.ok_or_else(|| Error::Invalid("save needs a native run".into()))?;
        self.commit_save(m, req, name, temp)
    }

    /// What `ckpt prune` would free, for a no-space error.
    fn prune_hint(&self) -> String {
        match self.plan_prune(None, &[]) {
            Ok(p) if !p.victims.is_empty() => format!(
                "`ckpt prune {}` would free {} bytes ({} checkpoints)",
                self.dir.display(),
                p.bytes_freed,
                p.victims.len()
            ),
            _ => {
                let policy = RetentionPolicy {
                    keep_top_k: Some(1),
                    ..Default::default()
                };
                match self.plan_prune(Some(policy), &[]) {
                    Ok(p) if !p.victims.is_empty() => format!(
                        "`ckpt prune {} --keep-top 1` would free {} bytes ({} checkpoints)",
                        self.dir.display(),
                        p.bytes_freed,
                        p.victims.len()
                    ),
                    _ => "pruning this run would not free enough; free space on the filesystem or save elsewhere".into(),
                }
            }
        }
    }

    fn commit_save(
        &self,
        mut m: Manifest,
        req: &SaveRequest,
        name: String,
        temp: DurableTemp,
    ) -> Result<SaveReport> {
        let dir = self.dir.clone();
        let (last_name, best_name) = alias_names(&m.ext);
        if m.metric.is_none() {
            m.metric = req.metric_spec.clone();
        }
        if let Some(p) = req.policy {
            m.policy = p;
        }
        let existing = m
            .checkpoints
            .iter()
            .position(|e| e.epoch == req.epoch && !e.path.starts_with("trash/"));
        let replaced = existing.is_some();
        let (metric, metric_raw) = match req.metric {
            Some(v) if v.is_finite() => (Some(v), None),
            Some(v) => (None, Some(raw_text(v))),
            None => (None, None),
        };
        let entry = Entry {
            epoch: req.epoch,
            step: req.step,
            path: name.clone(),
            bytes: temp.bytes,
            hash: temp.hash.clone(),
            metric,
            metric_raw,
            metrics: req.metrics.clone(),
            saved_at: chrono::Utc::now(),
            pinned: existing.is_some_and(|i| m.checkpoints[i].pinned),
            extra: existing
                .map(|i| m.checkpoints[i].extra.clone())
                .unwrap_or_default(),
        };
        // Aliases may keep their old bytes until re-pointed.
        let mut may_hold: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(e) = m.last.and_then(|l| live_entry(&m, l)) {
            may_hold.insert(last_name.clone(), vec![e.hash.clone()]);
        }
        if let Some(e) = m.best.as_ref().and_then(|b| live_entry(&m, b.epoch)) {
            may_hold.insert(best_name.clone(), vec![e.hash.clone()]);
        }
        let mut old_path_to_drop = None;
        if let Some(i) = existing {
            let old = &m.checkpoints[i];
            if old.path != name {
                old_path_to_drop = Some(old.path.clone());
            }
            // The final name is about to change bytes: record the intent first.
            let mut mh = may_hold.clone();
            mh.entry(name.clone()).or_default().push(temp.hash.clone());
            let p = Pending {
                operation: "save".into(),
                may_hold: mh,
                replace: Some(PendingReplace {
                    entry: entry.clone(),
                    dev: temp.dev,
                    ino: temp.ino,
                }),
                ..Default::default()
            };
            set_pending(&mut m, Some(&p));
            store_manifest(&dir, &m)?;
        }

        let written = temp.persist()?;

        // Entries, last, best.
        match existing {
            Some(i) => m.checkpoints[i] = entry,
            None => {
                let at = m
                    .checkpoints
                    .iter()
                    .position(|e| e.epoch > req.epoch)
                    .unwrap_or(m.checkpoints.len());
                m.checkpoints.insert(at, entry);
            }
        }
        m.last = Some(req.epoch);
        let old_best = m.best.as_ref().map(|b| b.epoch);
        // Unless held, best is the top of the ranking over every live entry: the same as
        // "new if strictly better" in a steady run, and right after a release or a crash
        // (ties keep the earlier checkpoint whatever order epochs arrive in).
        recompute_best(&mut m);
        let best_now = m.best.as_ref().map(|b| b.epoch);
        let became_best = best_now == Some(req.epoch) && (old_best != best_now || replaced);

        set_pending(
            &mut m,
            Some(&Pending {
                operation: "save".into(),
                may_hold,
                ..Default::default()
            }),
        );
        store_manifest(&dir, &m)?;

        let strategy = set_alias(&dir, &last_name, Path::new(&name))?;
        if best_now.is_some() && (best_now != old_best || best_now == Some(req.epoch)) {
            if let Some(e) = best_now.and_then(|b| live_entry(&m, b)) {
                set_alias(&dir, &best_name, Path::new(&e.path))?;
            }
        }

        // Retention: drop victims from the manifest first, unlink after (rule 5).
        let victims = manifest_victims(&m, &m.policy);
        let mut unlink: Vec<String> = victims.clone();
        if let Some(p) = old_path_to_drop {
            unlink.push(p);
        }
        m.checkpoints.retain(|e| !victims.contains(&e.path));
        let pend = (!unlink.is_empty()).then(|| Pending {
            operation: "save".into(),
            unlink: unlink.clone(),
            ..Default::default()
        });
        set_pending(&mut m, pend.as_ref());
        store_manifest(&dir, &m)?;
        let (pruned, bytes_freed) = if unlink.is_empty() {
            (Vec::new(), 0)
        } else {
            let r = unlink_unlisted(&dir, &unlink)?;
            set_pending(&mut m, None);
            store_manifest(&dir, &m)?;
            r
        };

        Ok(SaveReport {
            path: written.path,
            bytes: written.bytes,
            hash: written.hash,
            replaced,
            became_best,
            pruned,
            bytes_freed,
            alias_strategy: strategy.as_str().to_string(),
        })
    }
}
