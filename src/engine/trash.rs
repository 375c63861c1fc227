//! `trash`: what a run keeps in `.ckpt/trash/` (DESIGN §5), brought back or deleted.
//!
//! Plan → confirm → apply, like prune: [`Run::trash`] lists (read-only, no lock),
//! [`Run::plan_trash_restore`] / [`Run::plan_trash_empty`] are pure data with exact files
//! and bytes, and the apply steps take the run lock, re-check every file against the
//! plan, and commit in the engine's order (data at its final name → manifest →
//! unlink → dir fsync). A restore never lands on an existing checkpoint or file name.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::commit::{self, recompute_best};
use super::foreign::opsfs::{self, keep_copy, step, with_progress};
use super::*;
use crate::layout::{lightning, timm};
use crate::snapshot::Role;
use crate::store::checkpoint_name;
use crate::store::manifest::{Entry, Manifest};
use crate::{Error, Result};

pub use crate::layout::trash::{TrashEntry, TrashFile, TrashListing, TrashOrigin, TrashProblem};

/// Bring one trash entry back into the run as a regular checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashRestorePlan {
    pub run: PathBuf,
    /// The trash entry, as listed when planned (its files are re-checked on apply).
    pub entry: TrashEntry,
    /// Where it goes: a name no file of the run has.
    pub dest: PathBuf,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Bytes that come back into the run.
    pub bytes: u64,
    /// It becomes `best` (native: better than the current best, which is not held).
    pub becomes_best: bool,
    /// It becomes `last` (native: the run had no `last`).
    pub becomes_last: bool,
    /// hf: it is now the highest step, so a resumed trainer starts from it.
    pub becomes_resume_point: bool,
}

/// What a trash restore did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashRestoreReport {
    /// Name of the checkpoint in the run (as `ls` shows it).
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub became_best: bool,
    pub became_last: bool,
}

/// Delete trash entries (all, or those older than a cutoff).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashEmptyPlan {
    pub run: PathBuf,
    /// Only entries trashed at least this long ago (`None`: everything).
    pub older_than_secs: Option<u64>,
    /// What goes, with every file.
    pub entries: Vec<TrashEntry>,
    /// Entries younger than the cutoff, left alone.
    pub kept: Vec<String>,
    /// Apparent bytes of what goes (each inode once).
    pub bytes: u64,
    /// Bytes the disk gets back (inodes with no other name left).
    pub bytes_freed: u64,
    /// Native manifest records dropped: those of the entries, and of trash files already
    /// deleted by hand.
    pub records: Vec<String>,
}

/// What emptying the trash did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashEmptyReport {
    pub removed: Vec<String>,
    pub bytes_freed: u64,
    /// Entries left alone because they changed since the plan, with why.
    pub refused: Vec<(String, String)>,
    pub records_dropped: usize,
}

impl Run {
    /// The directory holding this run's `.ckpt/` (Lightning: the version dir).
    fn trash_base(&self) -> PathBuf {
        match self.layout {
            LayoutKind::Ckpt => self.dir.clone(),
            _ => self.foreign_base(),
        }
    }

    fn trash_listing(&self, base: &Path) -> Result<TrashListing> {
        let m = match self.layout {
            LayoutKind::Ckpt => Some(crate::store::load_manifest(base)?),
            _ => None,
        };
        crate::layout::trash::list(base, self.layout, m.as_ref()).map_err(|p| problem(base, p))
    }

    /// What is in the trash now (no lock; read-only).
    pub fn trash(&self) -> Result<TrashListing> {
        self.trash_listing(&self.trash_base())
    }

    /// Plan bringing a trash entry back: `selector` is an epoch (a step on hf, where
    /// checkpoints are named by step) or the entry's name below `.ckpt/trash/`. When
    /// several entries have that number, the most recently trashed one is chosen (the
    /// plan names it; pass its name for another).
    pub fn plan_trash_restore(&self, selector: &str) -> Result<TrashRestorePlan> {
        let base = self.trash_base();
        let listing = self.trash_listing(&base)?;
        let entry = find_trash(&listing, selector, self.layout).ok_or_else(|| {
            Error::UnknownCheckpoint {
                selector: format!("{selector} in the trash"),
                run: base.clone(),
            }
        })?;
        match self.layout {
            LayoutKind::Ckpt => self.plan_trash_restore_native(&base, entry),
            _ => self.plan_trash_restore_foreign(&base, entry),
        }
    }

    fn plan_trash_restore_native(&self, base: &Path, e: &TrashEntry) -> Result<TrashRestorePlan> {
        let m = crate::store::load_manifest(base)?;
        let epoch = e.epoch.ok_or_else(|| no_number(e))?;
        if e.is_dir {
            return Err(Error::Unusable(format!(
                "{} is a directory; a native run's checkpoints are files",
                e.path.display()
            )));
        }
        let dest = base.join(checkpoint_name(epoch, &m.ext));
        refuse_taken_native(base, &m, epoch, &dest, e)?;
        let mut after = m.clone();
        adopt(&mut after, e, &dest, epoch, None);
        let becomes_last = m.last.is_none();
        let becomes_best = after.best.as_ref().map(|b| b.epoch) == Some(epoch)
            && m.best.as_ref().map(|b| b.epoch) != Some(epoch);
        Ok(TrashRestorePlan {
            run: base.to_path_buf(),
            entry: e.clone(),
            dest,
            epoch: Some(epoch),
            step: e.step,
            bytes: e.bytes,
            becomes_best,
            becomes_last,
            becomes_resume_point: becomes_last,
        })
    }

    fn plan_trash_restore_foreign(&self, base: &Path, e: &TrashEntry) -> Result<TrashRestorePlan> {
        let snap = self.snapshot()?;
        let dest = foreign_dest(base, &snap, self.layout, e)?;
        if let Some(c) = snap.checkpoints.iter().find(|c| {
            !c.has_role(Role::Recovery)
                && match self.layout {
                    LayoutKind::Hf => c.step.is_some() && c.step == e.step,
                    LayoutKind::Lightning => {
                        (c.epoch, c.step) == (e.epoch, e.step) && e.epoch.is_some()
                    }
                    _ => c.epoch.is_some() && c.epoch == e.epoch,
                }
        }) {
            return Err(taken(e, &c.name));
        }
        if let Ok(md) = fs::symlink_metadata(&dest) {
            return Err(Error::Protected(format!(
                "refusing to restore {} from the trash: {} already exists ({}); \
                 a trash restore never replaces anything",
                e.name,
                dest.display(),
                crate::layout::trash::kind_of(&md)
            )));
        }
        let newest = snap.checkpoints.iter().filter_map(|c| c.step).max();
        let becomes_resume_point =
            self.layout == LayoutKind::Hf && e.step.is_some_and(|s| newest.is_none_or(|n| s > n));
        Ok(TrashRestorePlan {
            run: base.to_path_buf(),
            entry: e.clone(),
            dest,
            epoch: e.epoch,
            step: e.step,
            bytes: e.bytes,
            becomes_best: false,
            becomes_last: becomes_resume_point,
            becomes_resume_point,
        })
    }

    /// Apply a trash restore plan under the run lock.
    pub fn trash_restore(
        &self,
        plan: &TrashRestorePlan,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<TrashRestoreReport> {
        with_progress(progress, |report| match self.layout {
            LayoutKind::Ckpt => {
                let (_lock, m) = self.begin_mutation("trash restore")?;
                let m = m.ok_or_else(|| Error::Internal("trash restore: no manifest".into()))?;
                self.trash_restore_native(m, plan, report)
            }
            _ => {
                let base = self.trash_base();
                let _lock = super::mutation::begin(&base, "trash restore", &self.options)?;
                self.trash_restore_foreign(&base, plan)
            }
        })
    }

    fn trash_restore_native(
        &self,
        m: Manifest,
        plan: &TrashRestorePlan,
        report: opsfs::Report<'_>,
    ) -> Result<TrashRestoreReport> {
        let base = self.dir.clone();
        let listing = crate::layout::trash::list(&base, self.layout, Some(&m))
            .map_err(|p| problem(&base, p))?;
        let e = current(&listing, &plan.entry)?;
        let epoch = plan.epoch.ok_or_else(|| no_number(e))?;
        if plan.dest != base.join(checkpoint_name(epoch, &m.ext)) {
            return Err(Error::PlanOutdated(format!(
                "the trash restore plan names {}; re-plan",
                plan.dest.display()
            )));
        }
        refuse_taken_native(&base, &m, epoch, &plan.dest, e)?;
        // 1. The data under its final name (a second name, or a durable copy).
        if fs::symlink_metadata(&plan.dest).is_err() {
            keep_copy(&e.path, &plan.dest, report)?;
        }
        let hash = match manifest_record(&m, e) {
            Some(r) => r.hash.clone(),
            None => super::hash::content_hash(&plan.dest, report)?,
        };
        // 2. The manifest lists it at its new name; aliases follow; 3. the trash name goes.
        let mut new = m.clone();
        adopt(&mut new, e, &plan.dest, epoch, Some(hash));
        let trash_rel = format!("trash/{}", e.name);
        commit::store_repoint_unlink(&base, &m, &mut new, "trash restore", &[trash_rel])?;
        remove_empty_stamp(&listing.dir, e);
        Ok(TrashRestoreReport {
            name: file_name(&plan.dest),
            path: plan.dest.clone(),
            bytes: e.bytes,
            became_best: new.best.as_ref().map(|b| b.epoch) == Some(epoch)
                && m.best.as_ref().map(|b| b.epoch) != Some(epoch),
            became_last: m.last.is_none() && new.last == Some(epoch),
        })
    }

    fn trash_restore_foreign(
        &self,
        base: &Path,
        plan: &TrashRestorePlan,
    ) -> Result<TrashRestoreReport> {
        let listing =
            crate::layout::trash::list(base, self.layout, None).map_err(|p| problem(base, p))?;
        let e = current(&listing, &plan.entry)?;
        // Re-plan under the lock: the run may have gained that checkpoint since.
        let fresh = self.plan_trash_restore_foreign(base, e)?;
        if fresh.dest != plan.dest {
            return Err(Error::PlanOutdated(format!(
                "the run changed since the trash restore plan ({} now goes to {}); re-plan",
                e.name,
                fresh.dest.display()
            )));
        }
        if let Some(parent) = plan.dest.parent() {
            if !parent.is_dir() {
                super::atomic::create_dir_durable(parent)?;
            }
        }
        step("trash.restore", &plan.dest)?;
        move_noreplace(&e.path, &plan.dest)?;
        opsfs::fsync_dir("trash.fsync_dir", plan.dest.parent().unwrap_or(base))?;
        opsfs::fsync_dir("trash.fsync_dir", e.path.parent().unwrap_or(&listing.dir))?;
        remove_empty_stamp(&listing.dir, e);
        Ok(TrashRestoreReport {
            name: file_name(&plan.dest),
            path: plan.dest.clone(),
            bytes: e.bytes,
            became_best: false,
            became_last: plan.becomes_resume_point,
        })
    }

    /// Plan deleting trash entries: all, or those trashed at least `older_than` ago.
    pub fn plan_trash_empty(&self, older_than: Option<Duration>) -> Result<TrashEmptyPlan> {
        let base = self.trash_base();
        let listing = self.trash_listing(&base)?;
        Ok(empty_plan(&base, listing, older_than, chrono::Utc::now()))
    }

    /// Apply a trash empty plan under the run lock; entries that changed since the plan
    /// are left alone and reported.
    pub fn trash_empty(&self, plan: &TrashEmptyPlan) -> Result<TrashEmptyReport> {
        let base = self.trash_base();
        let (_lock, m) = match self.layout {
            LayoutKind::Ckpt => self.begin_mutation("trash empty")?,
            _ => (
                super::mutation::begin(&base, "trash empty", &self.options)?,
                None,
            ),
        };
        let listing = crate::layout::trash::list(&base, self.layout, m.as_ref())
            .map_err(|p| problem(&base, p))?;
        let mut go = Vec::new();
        let mut refused = Vec::new();
        for want in &plan.entries {
            match current(&listing, want) {
                Ok(e) => go.push(e.clone()),
                Err(why) => refused.push((want.name.clone(), why.to_string())),
            }
        }
        // Manifest first (rule 5): drop the records of what goes and of what is gone.
        let mut records_dropped = 0;
        if let Some(m) = m {
            let mut new = m.clone();
            let drop: std::collections::HashSet<String> = go
                .iter()
                .map(|e| format!("trash/{}", e.name))
                .chain(listing.missing.iter().cloned())
                .collect();
            new.checkpoints.retain(|e| !drop.contains(&e.path));
            records_dropped = m.checkpoints.len() - new.checkpoints.len();
            if records_dropped > 0 {
                step("trash.manifest", &base)?;
                super::commit::store_manifest(&base, &new)?;
            }
        }
        let files: Vec<&TrashFile> = go.iter().flat_map(|e| e.files.iter()).collect();
        let (_, bytes_freed) = crate::layout::trash::bytes_of(&files);
        let mut removed = Vec::new();
        for e in &go {
            step("trash.remove", &e.path)?;
            let r = if e.is_dir {
                // Never follows a symlink inside (std's remove_dir_all unlinks links).
                fs::remove_dir_all(&e.path)
            } else {
                fs::remove_file(&e.path)
            };
            match r {
                Ok(()) => removed.push(e.name.clone()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    removed.push(e.name.clone())
                }
                Err(err) => return Err(Error::io("trash.remove", &e.path, err)),
            }
            remove_empty_stamp(&listing.dir, e);
        }
        if !go.is_empty() {
            opsfs::fsync_dir("trash.fsync_dir", &listing.dir)?;
        }
        Ok(TrashEmptyReport {
            removed,
            bytes_freed,
            refused,
            records_dropped,
        })
    }
}

/// The pure part of [`Run::plan_trash_empty`]: which entries go at `now`.
pub(crate) fn empty_plan(
    base: &Path,
    listing: TrashListing,
    older_than: Option<Duration>,
    now: chrono::DateTime<chrono::Utc>,
) -> TrashEmptyPlan {
    let cutoff = older_than.map(|d| d.as_secs());
    let (entries, kept): (Vec<TrashEntry>, Vec<TrashEntry>) = listing
        .entries
        .into_iter()
        .partition(|e| cutoff.is_none_or(|c| e.trashed_at.is_some() && e.age_secs(now) >= c));
    let files: Vec<&TrashFile> = entries.iter().flat_map(|e| e.files.iter()).collect();
    let (bytes, bytes_freed) = crate::layout::trash::bytes_of(&files);
    let records = entries
        .iter()
        .filter(|e| e.recorded)
        .map(|e| format!("trash/{}", e.name))
        .chain(listing.missing)
        .collect();
    TrashEmptyPlan {
        run: base.to_path_buf(),
        older_than_secs: cutoff,
        entries,
        kept: kept.into_iter().map(|e| e.name).collect(),
        bytes,
        bytes_freed,
        records,
    }
}

fn problem(run: &Path, p: TrashProblem) -> Error {
    match p {
        TrashProblem::NotADirectory { path, is } => Error::Unusable(format!(
            "{} is {is}, not a directory; ckpt never follows it. Move it aside \
             (`ckpt doctor {}` shows the fix)",
            path.display(),
            run.display()
        )),
        TrashProblem::Unreadable { path, reason } => Error::Io {
            op: "read trash",
            path,
            source: std::io::Error::other(reason),
        },
    }
}

fn no_number(e: &TrashEntry) -> Error {
    Error::Unusable(format!(
        "cannot tell which epoch {} holds (its name does not say and it records none); \
         copy it out by hand if you need it",
        e.path.display()
    ))
}

fn taken(e: &TrashEntry, by: &str) -> Error {
    Error::Protected(format!(
        "refusing to restore {} from the trash: the run already has {by} for that \
         epoch/step; a trash restore never replaces a checkpoint (prune or export that one first)",
        e.name
    ))
}

/// The entry a selector names: its name below the trash, or a number (epoch, else step);
/// among several, the most recently trashed.
fn find_trash<'a>(
    l: &'a TrashListing,
    selector: &str,
    layout: LayoutKind,
) -> Option<&'a TrashEntry> {
    let sel = selector.trim().trim_end_matches('/');
    if let Some(e) = l.entries.iter().find(|e| e.name == sel) {
        return Some(e);
    }
    let n = sel.parse::<u64>().ok()?;
    let by = |e: &&TrashEntry| match layout {
        LayoutKind::Hf => e.step == Some(n),
        _ => e.epoch == Some(n) || (e.epoch.is_none() && e.step == Some(n)),
    };
    l.entries
        .iter()
        .filter(by)
        .max_by_key(|e| (e.trashed_at, e.name.clone()))
}

/// The planned entry as it is now; an error when its files changed or went.
fn current<'a>(l: &'a TrashListing, want: &TrashEntry) -> Result<&'a TrashEntry> {
    let e = l
        .entries
        .iter()
        .find(|e| e.name == want.name)
        .ok_or_else(|| Error::ChangedSincePlan {
            path: want.path.clone(),
            what: "it is no longer in the trash".into(),
        })?;
    let stamp = |f: &TrashFile| (f.path.clone(), f.bytes, f.dev, f.ino, f.mtime_ns);
    let a: Vec<_> = e.files.iter().map(stamp).collect();
    let b: Vec<_> = want.files.iter().map(stamp).collect();
    if a != b || e.is_dir != want.is_dir {
        return Err(Error::ChangedSincePlan {
            path: want.path.clone(),
            what: "its files changed".into(),
        });
    }
    Ok(e)
}

fn manifest_record<'a>(m: &'a Manifest, e: &TrashEntry) -> Option<&'a Entry> {
    let key = format!("trash/{}", e.name);
    m.checkpoints.iter().find(|r| r.path == key)
}

/// Refuse a native restore onto a live epoch or an existing file (except the file this
/// very restore linked before a crash: same inode as the trash entry).
fn refuse_taken_native(
    base: &Path,
    m: &Manifest,
    epoch: u64,
    dest: &Path,
    e: &TrashEntry,
) -> Result<()> {
    if let Some(live) = m
        .checkpoints
        .iter()
        .find(|x| x.epoch == epoch && !x.path.starts_with("trash/"))
    {
        return Err(taken(e, &live.path));
    }
    if let Ok(md) = fs::symlink_metadata(dest) {
        let ours = e
            .files
            .first()
            .is_some_and(|f| md.is_file() && (md.dev(), md.ino()) == (f.dev, f.ino));
        if !ours {
            return Err(Error::Protected(format!(
                "refusing to restore {} from the trash: {} already exists and the manifest \
                 does not list it; move it aside first (`ckpt doctor {}`)",
                e.name,
                dest.display(),
                base.display()
            )));
        }
    }
    Ok(())
}

/// Make `m` list the trash entry `e` as the live checkpoint `dest` of `epoch`; `last`
/// when the run has none, and best re-ranked unless held.
fn adopt(m: &mut Manifest, e: &TrashEntry, dest: &Path, epoch: u64, hash: Option<String>) {
    let name = file_name(dest);
    let key = format!("trash/{}", e.name);
    match m.checkpoints.iter_mut().find(|r| r.path == key) {
        Some(r) => {
            r.path = name;
            r.extra.remove("note");
        }
        None => m.checkpoints.push(Entry {
            epoch,
            step: e.step,
            path: name,
            bytes: e.bytes,
            hash: hash.unwrap_or_default(),
            metric: None,
            metric_raw: None,
            metrics: Default::default(),
            saved_at: e.trashed_at.unwrap_or_else(chrono::Utc::now),
            pinned: false,
            saved_by: None,
            extra: [(
                "note".to_string(),
                serde_json::Value::String("restored from the trash".into()),
            )]
            .into_iter()
            .collect(),
        }),
    }
    m.checkpoints
        .sort_by_key(|r| (r.path.starts_with("trash/"), r.epoch));
    if m.last.is_none() {
        m.last = Some(epoch);
    }
    recompute_best(m);
}

/// Where a foreign trash entry goes back: its own name where the layout keeps
/// checkpoints; an alias backup (`last.pth.tar`, `last.ckpt`) under the checkpoint name
/// of the epoch/step it holds.
fn foreign_dest(
    base: &Path,
    snap: &crate::snapshot::RunSnapshot,
    layout: LayoutKind,
    e: &TrashEntry,
) -> Result<PathBuf> {
    let name = e.name.rsplit('/').next().unwrap_or(&e.name).to_string();
    match layout {
        LayoutKind::Hf => {
            let s = e.step.filter(|_| e.is_dir).ok_or_else(|| no_number(e))?;
            Ok(base.join(format!("checkpoint-{s}")))
        }
        LayoutKind::Lightning => {
            let dir = snap
                .checkpoints
                .iter()
                .filter_map(|c| c.paths.first())
                .find_map(|p| p.parent().map(Path::to_path_buf))
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| base.join(p))
                .unwrap_or_else(|| {
                    let c = base.join("checkpoints");
                    if c.is_dir() {
                        c
                    } else {
                        base.to_path_buf()
                    }
                });
            let own = lightning::parse_name(&name)
                .is_some_and(|n| n.epoch.is_some() || n.step.is_some())
                && !name.starts_with("last");
            if own {
                return Ok(dir.join(name));
            }
            match (e.epoch, e.step) {
                (Some(ep), Some(st)) => Ok(dir.join(format!("epoch={ep}-step={st}.ckpt"))),
                (Some(ep), None) => Ok(dir.join(format!("epoch={ep}.ckpt"))),
                _ => Err(no_number(e)),
            }
        }
        _ => {
            if e.is_dir {
                return Err(Error::Unusable(format!(
                    "{} is a directory; a {} run's checkpoints are files",
                    e.path.display(),
                    layout.as_str()
                )));
            }
            match timm::classify(&name) {
                Some(
                    timm::TimmName::Checkpoint(_)
                    | timm::TimmName::Recovery(..)
                    | timm::TimmName::Milestone(_),
                ) => Ok(base.join(name)),
                _ => {
                    let ep = e.epoch.ok_or_else(|| no_number(e))?;
                    let ext = crate::layout::common::split_ext(&name, timm::EXTS)
                        .map(|(_, x)| x)
                        .unwrap_or(".pth.tar");
                    Ok(base.join(format!("checkpoint-{ep}{ext}")))
                }
            }
        }
    }
}

/// Rename `from` to `to` without replacing anything (files and directories).
fn move_noreplace(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // No RENAME_NOREPLACE here: we hold the run lock, so check, then rename.
            if fs::symlink_metadata(to).is_ok() {
                return Err(Error::Exists {
                    path: to.to_path_buf(),
                });
            }
            fs::rename(from, to).map_err(|err| Error::io("trash.restore", to, err))
        }
        Err(e) if e == rustix::io::Errno::EXIST => Err(Error::Exists {
            path: to.to_path_buf(),
        }),
        Err(e) => Err(Error::io(
            "trash.restore",
            to,
            std::io::Error::from_raw_os_error(e.raw_os_error()),
        )),
    }
}

/// Remove the entry's time-stamped folder when it is now empty (best effort).
fn remove_empty_stamp(trash: &Path, e: &TrashEntry) {
    if let Some((stamp, _)) = e.name.split_once('/') {
        let _ = fs::remove_dir(trash.join(stamp));
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}
