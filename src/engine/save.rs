//! `save`: rules 1–8 of DESIGN §3, then aliases and retention.
//!
//! Order: refusals (a source inside the run; overwriting a pinned epoch or the held
//! best) → preflight (writable, free space) → stream into a temp (no lock) → refuse an
//! empty or cut-off payload (the temp is removed) → lock →
//! sweep stale temps → finish any pending intent → [replacing: record the intent] →
//! rename → manifest (new entry, last/best, aliases pending) → aliases → manifest
//! (victims dropped) → unlink victims → dir fsync → manifest (intent cleared).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::alias::{set_alias, AliasStrategy};
use super::atomic::{self, move_temp, DurableTemp, Source};
use super::commit::{recompute_best, set_pending, store_manifest};
use super::*;
use crate::rank::{Mode, RetentionItem};
use crate::snapshot::Role;
use crate::store::temp::{is_temp_name, run_temp_dirs, CKPT_TEMP_PREFIX};
use crate::store::{alias_names, checkpoint_name, load_manifest, resolve, Pending, PendingReplace};
use crate::store::{Entry, HistoryEntry, Manifest};
use crate::{Error, Result};

/// Smallest headroom asked for: room for the manifest rewrite and directory entries.
const MIN_HEADROOM: u64 = 64 << 10;

/// Room asked for a checkpoint of `bytes`: the bytes plus a proportional headroom
/// (~3%, at least 64 KiB), so small saves are not refused on a nearly full disk.
pub fn space_needed(bytes: u64) -> u64 {
    bytes + (bytes / 32).max(MIN_HEADROOM)
}

/// Refuse bytes that cannot be a complete checkpoint: empty, or a zip (torch.save's
/// format) with no readable end of central directory — a writer cut off mid-stream.
fn check_payload(temp: &DurableTemp, dest: &Path, source_desc: &str) -> Result<()> {
    let refuse = |reason: String| Error::IncompletePayload {
        path: dest.to_path_buf(),
        source_desc: source_desc.to_string(),
        reason,
    };
    if temp.bytes == 0 {
        return Err(refuse("it is empty (0 bytes)".into()));
    }
    if crate::formats::torchzip::looks_like_zip(temp.path()) {
        if let Err(e) = crate::formats::torchzip::TorchZip::open(temp.path()) {
            return Err(refuse(format!(
                "it starts like a torch zip but is not complete ({})",
                e.0
            )));
        }
    }
    Ok(())
}

/// Refuse to overwrite an epoch that a promote holds as best or that is pinned.
fn check_overwrite(m: &Manifest, run: &Path, epoch: u64) -> Result<()> {
    let Some(e) = live_entry(m, epoch) else {
        return Ok(());
    };
    if m.best.as_ref().is_some_and(|b| b.held && b.epoch == epoch) {
        return Err(Error::Protected(format!(
            "epoch {epoch} is the promoted best (held) of {}; `ckpt promote {} --release` first, or save under another epoch",
            run.display(),
            run.display()
        )));
    }
    if e.pinned {
        return Err(Error::Protected(format!(
            "epoch {epoch} of {} is pinned; `ckpt unpin {} {epoch}` first, or save under another epoch",
            run.display(),
            run.display()
        )));
    }
    Ok(())
}

/// (dev, ino) of every file ckpt keeps in a run (top level, `.ckpt/` and trash dirs),
/// except the name `skip` (canonical parent, file name) itself.
fn run_inodes(run: &Path, skip: Option<(&Path, &str)>) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for d in run_temp_dirs(run) {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let d_c = d.canonicalize().ok();
        for ent in rd.flatten() {
            if let (Some((sp, sn)), Some(dc)) = (skip, d_c.as_deref()) {
                if sp == dc && ent.file_name().to_str() == Some(sn) {
                    continue;
                }
            }
            if let Ok(md) = std::fs::symlink_metadata(ent.path()) {
                if md.is_file() {
                    out.push((md.dev(), md.ino()));
                }
            }
        }
    }
    out
}

/// Refuse a source file that belongs to the run itself (a checkpoint, alias, temp or
/// anything under `.ckpt/`): copying or moving it onto the run would lose data.
fn check_source_outside(m: &Manifest, run: &Path, src: &Path) -> Result<()> {
    let refuse = |what: &str| {
        Error::Protected(format!(
            "{} is {what} of run {}; a save takes a file from outside the run (to re-record it, copy it elsewhere first; to change best or last, use `ckpt promote` or `ckpt restore`)",
            src.display(),
            run.display()
        ))
    };
    let md = std::fs::metadata(src).map_err(|e| Error::io("stat", src, e))?;
    if md.is_dir() {
        return Err(Error::BadRequest(format!(
            "{} is a directory; save takes one checkpoint file (or - for stdin)",
            src.display()
        )));
    }
    let run_c = run
        .canonicalize()
        .map_err(|e| Error::io("resolve", run, e))?;
    let name = src.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent = match src.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent_c = parent.canonicalize().ok();
    if let Some(parent_c) = &parent_c {
        if parent_c.starts_with(run_c.join(".ckpt")) {
            return Err(refuse("inside .ckpt/"));
        }
        if *parent_c == run_c {
            let (last, best) = alias_names(&m.ext);
            if name == last || name == best {
                return Err(refuse("an alias"));
            }
            if is_temp_name(name) || name.starts_with(CKPT_TEMP_PREFIX) {
                return Err(refuse("a temp file"));
            }
            if m.checkpoints.iter().any(|e| e.path == name) {
                return Err(refuse("a checkpoint"));
            }
        }
    }
    let skip = parent_c.as_deref().map(|p| (p, name));
    if run_inodes(run, skip).contains(&(md.dev(), md.ino())) {
        return Err(refuse("the same file as a checkpoint, alias or temp"));
    }
    Ok(())
}

/// Check that `dir` is writable and has room for `bytes` more (rule 6), before
/// anything is touched. `hint` is appended to a [`Error::NoSpace`].
pub(crate) fn preflight(dir: &Path, bytes: u64, hint: impl FnOnce() -> String) -> Result<()> {
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

/// A full disk met after the preflight passed, while the bytes of `dest` were written
/// or synced: the typed [`Error::NoSpace`] with what is free now and what the file
/// needs (`bytes`: written so far, or what is expected in all when that is more), so a
/// mid-stream failure says the same as a refused preflight. Other errors pass unchanged.
pub(crate) fn no_space_midway(
    e: Error,
    dest: &Path,
    bytes: u64,
    hint: impl FnOnce() -> String,
) -> Error {
    let enospc = matches!(&e, Error::Io { source, .. }
        if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)));
    if !enospc {
        return e;
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match crate::disk::headroom(dir) {
        Ok(h) => Error::NoSpace {
            path: dest.to_path_buf(),
            mount: h.mount,
            fs_type: h.fs_type,
            available: h.available,
            needed: space_needed(bytes),
            hint: hint(),
        },
        Err(_) => e,
    }
}

/// [`atomic::write_temp`], with a full disk met on the way reported by [`no_space_midway`]
/// (`expected`: the bytes the preflight asked room for).
fn write_temp_sized(
    dest: &Path,
    source: Source<'_>,
    progress: Option<ProgressFn<'_>>,
    expected: u64,
    hint: impl FnOnce() -> String,
) -> Result<DurableTemp> {
    let mut t = atomic::TempFile::create_for(dest)?;
    if let Err(e) = t.fill(source, progress) {
        let written = t.bytes();
        drop(t); // the temp is removed first: what is free is what the user has
        return Err(no_space_midway(e, dest, written.max(expected), hint));
    }
    let written = t.bytes();
    t.finish()
        .map_err(|e| no_space_midway(e, dest, written.max(expected), hint))
}

/// Current (non-trash) entry of an epoch.
fn live_entry(m: &Manifest, epoch: u64) -> Option<&Entry> {
    m.checkpoints
        .iter()
        .find(|e| e.epoch == epoch && !e.is_trashed())
}

/// Ranking mode of a manifest (max when no metric is named yet).
pub(crate) fn manifest_mode(m: &Manifest) -> Mode {
    m.metric.as_ref().map(|s| s.mode).unwrap_or_default()
}

/// Retention victims of a manifest under `policy`: entries no rule keeps.
pub(crate) fn manifest_victims(m: &Manifest, policy: &RetentionPolicy) -> Vec<String> {
    let items: Vec<RetentionItem> = m
        .checkpoints
        .iter()
        .filter(|e| !e.is_trashed())
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
                ..Default::default()
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
        let Ok(path) = resolve(run, n) else {
            continue;
        };
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
    /// Save a checkpoint (native runs): see the module doc for the order of steps.
    pub fn save(
        &self,
        req: &SaveRequest,
        source: SaveSource<'_>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<SaveReport> {
        if self.layout != LayoutKind::Ckpt {
            return Err(Error::WrongLayout(format!(
                "{} is a {} run: `ckpt save` writes native runs only (the training library writes this one); save into a new directory instead",
                self.dir.display(),
                self.layout.as_str()
            )));
        }
        // Read-only look for the extension and the preflight (no lock yet).
        let m0 = load_manifest(&self.dir)?;
        if let (Some(have), Some(want)) = (&m0.metric, &req.metric_spec) {
            if have.name != want.name || have.mode != want.mode {
                return Err(Error::BadRequest(format!(
                    "{} ranks by `{}` ({}), fixed by its first save; it cannot switch to `{}` ({}). Save with `--metric-name {} --mode {}`, or start a new run directory",
                    self.dir.display(),
                    have.name,
                    have.mode.as_str(),
                    want.name,
                    want.mode.as_str(),
                    have.name,
                    have.mode.as_str()
                )));
            }
        }
        check_overwrite(&m0, &self.dir, req.epoch)?;
        if let SaveSource::File { path, .. } = &source {
            check_source_outside(&m0, &self.dir, path)?;
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
                (req.size_hint.unwrap_or(prev), false)
            }
        };
        let mut needed = if free_move { 0 } else { size };
        // Without hardlinks and reflinks the aliases are full copies: `last` always,
        // `best` when the new checkpoint may become best.
        let sample = crate::store::manifest_path(&self.dir);
        if super::alias::probe_strategy(&self.dir, &sample) == AliasStrategy::Copy {
            let may_be_best =
                req.metric.is_some_and(f64::is_finite) && !m0.best.as_ref().is_some_and(|b| b.held);
            needed += size * if may_be_best { 2 } else { 1 };
        }
        match preflight(&self.dir, needed, || self.prune_hint()) {
            // Temps of dead writers are reclaimable: sweep them, then look again.
            Err(Error::NoSpace { .. }) if super::reclaim::reclaimable_temp_bytes(&self.dir) > 0 => {
                self.sweep_dead_temps()?;
                preflight(&self.dir, needed, || self.prune_hint())?;
            }
            r => r?,
        }

        let source_desc = match &source {
            SaveSource::File { path, .. } => path.display().to_string(),
            SaveSource::Stream(_) => "the input stream".to_string(),
            SaveSource::Writer(_) => "the written data".to_string(),
        };
        let hint = || self.prune_hint();
        let temp = match source {
            SaveSource::File {
                path,
                move_file: true,
            } => move_temp(path, &dest, progress)?,
            SaveSource::File { path, .. } => {
                write_temp_sized(&dest, Source::CopyOf(path), progress, size, hint)?
            }
            SaveSource::Stream(r) => {
                write_temp_sized(&dest, Source::Reader(r), progress, size, hint)?
            }
            SaveSource::Writer(w) => {
                write_temp_sized(&dest, Source::Writer(w), progress, size, hint)?
            }
        };

        // Checked on the durable temp (the bytes that would be committed); on refusal
        // dropping the temp removes it.
        check_payload(&temp, &dest, &source_desc)?;

        let (_lock, m) = self.begin_mutation("save")?;
        let m = m.ok_or_else(|| Error::WrongLayout("save needs a native run".into()))?;
        check_overwrite(&m, &self.dir, req.epoch)?;
        self.commit_save(m, req, name, temp)
    }

    /// What `ckpt prune` would free, for a no-space error.
    pub(crate) fn prune_hint(&self) -> String {
        match self.plan_prune(None, &[]) {
            Ok(p) if !p.victims.is_empty() => format!(
                "`ckpt prune {}` would free {} bytes ({})",
                self.dir.display(),
                p.bytes_freed,
                checkpoints(p.victims.len())
            ),
            _ => {
                let policy = RetentionPolicy {
                    keep_top_k: Some(1),
                    ..Default::default()
                };
                match self.plan_prune(Some(policy), &[]) {
                    Ok(p) if !p.victims.is_empty() => format!(
                        "`ckpt prune {} --keep-top 1` would free {} bytes ({})",
                        self.dir.display(),
                        p.bytes_freed,
                        checkpoints(p.victims.len())
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
            .position(|e| e.epoch == req.epoch && !e.is_trashed());
        let replaced = existing.is_some();
        // Said, not refused: both are legitimate (re-running an epoch, an orphan of an
        // interrupted save), but neither should happen silently.
        let mut notes = Vec::new();
        if let Some(previous_last) = m.last.filter(|&l| req.epoch < l) {
            notes.push(SaveNote::EarlierThanLast {
                epoch: req.epoch,
                previous_last,
            });
        }
        if !replaced {
            if let Ok(md) = std::fs::symlink_metadata(dir.join(&name)) {
                if md.is_file() {
                    notes.push(SaveNote::ReplacedUnlistedFile {
                        name: name.clone(),
                        bytes: md.len(),
                    });
                }
            }
        }
        let (metric, metric_raw) = match req.metric {
            Some(v) if v.is_finite() => (Some(v), None),
            Some(v) => (None, Some(crate::units::non_finite_text(v))),
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
            saved_by: Some(super::saved_by::this_process()),
            extra: existing
                .map(|i| m.checkpoints[i].extra.clone())
                .unwrap_or_default(),
        };
        let history = HistoryEntry {
            epoch: entry.epoch,
            step: entry.step,
            metric: entry.metric,
            saved_at: entry.saved_at,
            extra: BTreeMap::new(),
        };
        // Aliases may keep their old bytes until re-pointed.
        let mut aliases_pending = Pending {
            operation: "save".into(),
            ..Default::default()
        };
        if let Some(e) = m.last.and_then(|l| live_entry(&m, l)) {
            aliases_pending.allow(&last_name, &e.hash, e.epoch);
        }
        if let Some(e) = m.best.as_ref().and_then(|b| live_entry(&m, b.epoch)) {
            aliases_pending.allow(&best_name, &e.hash, e.epoch);
        }
        let mut old_path_to_drop = None;
        if let Some(i) = existing {
            let old = &m.checkpoints[i];
            if old.path != name {
                old_path_to_drop = Some(old.path.clone());
            }
            // The final name is about to change bytes: record the intent first.
            let mut p = aliases_pending.clone();
            p.allow(&name, &temp.hash, req.epoch);
            p.replace = Some(PendingReplace {
                entry: entry.clone(),
                dev: temp.dev,
                ino: temp.ino,
            });
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
        m.record_history(history);
        m.last = Some(req.epoch);
        let old_best = m.best.as_ref().map(|b| b.epoch);
        // Unless held, best is the top of the ranking over every live entry: the same as
        // "new if strictly better" in a steady run, and right after a release or a crash
        // (ties keep the earlier checkpoint whatever order epochs arrive in).
        recompute_best(&mut m);
        let best_now = m.best.as_ref().map(|b| b.epoch);
        let became_best = best_now == Some(req.epoch) && (old_best != best_now || replaced);

        set_pending(&mut m, Some(&aliases_pending));
        store_manifest(&dir, &m)?;

        // An alias name taken by a directory is skipped (reported by the scan).
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
            alias_strategy: strategy,
            notes,
        })
    }
}

/// "1 checkpoint", "3 checkpoints".
fn checkpoints(n: usize) -> String {
    if n == 1 {
        "1 checkpoint".into()
    } else {
        format!("{n} checkpoints")
    }
}
