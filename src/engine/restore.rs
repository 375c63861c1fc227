//! `restore`: make a checkpoint the resume point (exporting a copy is `export`).
//!
//! The old `last` is kept in `.ckpt/trash/<time>/` first when it is the only copy of
//! its state (timm's `last.pth.tar` often is). Newer checkpoints are reported and, with
//! `archive_newer` (always on hf, where resume picks the highest step), moved to trash.

use std::fs;
use std::path::{Path, PathBuf};

use super::commit::set_pending;
use super::export::export_plan;
use super::foreign::opsfs::{
    self, keep_copy, make_trash_dir, move_into, plan_trash_dir, step, with_progress, Report,
};
use super::foreign::{ensure_alias_name, is_newer};
use super::only_copy::{
    foreign_alias_is_only_copy, keep_native_alias, native_alias_is_only_copy, trash_rel,
};
use super::promote::refuse;
use super::*;
use crate::snapshot::{Checkpoint, CheckpointState, Role};
use crate::store::lookup::{damage, entry_path, find_entry, rank_best};
use crate::store::{self, Pending};
use crate::store::{BestRef, Entry, Manifest};
use crate::{Error, Result};

impl Run {
    /// Plan a restore of `selector` (pure apart from reading the run).
    pub fn plan_restore(&self, selector: &str, options: &RestoreOptions) -> Result<RestorePlan> {
        match self.layout {
            LayoutKind::Ckpt => self.plan_restore_native(selector, options),
            _ => self.plan_restore_foreign(selector, options),
        }
    }

    /// (epoch, why) of the newer checkpoints `plan` keeps in place ("pinned", "held best")
    /// on a native run: a resumed trainer reaches those epochs and `save` refuses them
    /// until they are unpinned/released, so the plan must say so. Empty for exports and
    /// foreign runs (their trainer writes its own files).
    pub fn restore_refused_saves(&self, plan: &RestorePlan) -> Result<Vec<(u64, String)>> {
        if plan.export || self.layout != LayoutKind::Ckpt || plan.kept_newer.is_empty() {
            return Ok(Vec::new());
        }
        let m = crate::store::load_manifest(&self.dir)?;
        Ok(plan
            .kept_newer
            .iter()
            .filter_map(|(name, why)| {
                m.checkpoints
                    .iter()
                    .rfind(|e| &e.path == name && !e.is_trashed())
                    .map(|e| (e.epoch, why.clone()))
            })
            .collect())
    }

    /// Apply a restore plan.
    pub fn restore(&self, plan: &RestorePlan, progress: Option<ProgressFn<'_>>) -> Result<()> {
        if plan.export {
            // An export only reads the run: no lock, no `.ckpt/` (works on a read-only run).
            return with_progress(progress, |report| self.restore_export(plan, report));
        }
        with_progress(progress, |report| match self.layout {
            LayoutKind::Ckpt => {
                let (_lock, m) = self.begin_mutation("restore")?;
                let m = m.ok_or_else(|| Error::Internal("restore: no manifest".into()))?;
                self.restore_native(m, plan, report)
            }
            _ => {
                let _lock = super::mutation::begin(&self.foreign_base(), "restore", &self.options)?;
                self.restore_foreign(plan, report)
            }
        })
    }

    fn plan_restore_native(&self, selector: &str, options: &RestoreOptions) -> Result<RestorePlan> {
        let m = crate::store::load_manifest(&self.dir)?;
        let i = find_entry(&self.dir, &m, selector)?;
        let e = &m.checkpoints[i];
        if let Some(why) = damage(&self.dir, e) {
            return Err(refuse(selector, &why));
        }
        if let Some(to) = &options.to {
            let src = entry_path(&self.dir, e)?;
            let mut plan = export_plan(&self.dir, &src, &e.path, to, e.bytes, options.force)?;
            plan.epoch = Some(e.epoch);
            plan.step = e.step;
            return Ok(plan);
        }
        let last = self.dir.join(format!("last{}", m.ext));
        let trash = plan_trash_dir(&self.dir);
        let backup =
            native_alias_is_only_copy(&self.dir, &m, &last).then(|| trash.join(file_name(&last)));
        let held = held_epoch(&m);
        let mut newer = Vec::new();
        let mut kept_newer = Vec::new();
        for n in newer_entries(&m, e.epoch) {
            match keep_reason(n.pinned, held == Some(n.epoch)) {
                Some(why) => kept_newer.push((n.path.clone(), why)),
                None => newer.push(n.path.clone()),
            }
        }
        let archive_dir = (options.archive_newer && !newer.is_empty()).then(|| trash.clone());
        Ok(RestorePlan {
            run: self.dir.clone(),
            target: e.path.clone(),
            epoch: Some(e.epoch),
            dest: last,
            backup,
            newer,
            archive_dir,
            bytes_to_copy: 0,
            export: false,
            force: false,
            kept_newer,
            step: e.step,
            backup_epoch: m.last,
        })
    }

    /// Apply under the lock, on the manifest `begin_mutation` loaded and recovered.
    fn restore_native(
        &self,
        mut m: Manifest,
        plan: &RestorePlan,
        report: Report<'_>,
    ) -> Result<()> {
        let i = find_entry(&self.dir, &m, &plan.target)?;
        if let Some(why) = damage(&self.dir, &m.checkpoints[i]) {
            return Err(refuse(&plan.target, &why));
        }
        let src = entry_path(&self.dir, &m.checkpoints[i])?;
        let epoch = m.checkpoints[i].epoch;
        let (last_name, best_name) = store::alias_names(&m.ext);
        let last = self.dir.join(&last_name);
        if plan.dest != last {
            return Err(Error::PlanOutdated(format!(
                "restore plan names {} but this run's resume point is {}; re-plan",
                plan.dest.display(),
                last.display()
            )));
        }
        let trash = plan
            .archive_dir
            .clone()
            .or_else(|| {
                plan.backup
                    .as_ref()
                    .and_then(|b| b.parent().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| plan_trash_dir(&self.dir));
        let stamp = trash_rel(&self.dir, &trash)?;
        let live = |m: &Manifest, epoch: Option<u64>| {
            epoch.and_then(|ep| {
                m.checkpoints
                    .iter()
                    .rfind(|e| e.epoch == ep && !e.is_trashed())
                    .map(|e| (e.hash.clone(), e.epoch))
            })
        };
        // The aliases may keep their old bytes until re-pointed.
        let mut pending = Pending {
            operation: "restore".into(),
            ..Default::default()
        };
        if let Some((h, e)) = live(&m, m.last) {
            pending.allow(&last_name, &h, e);
        }
        let old_best = m.best.as_ref().map(|b| b.epoch);
        let held = held_epoch(&m);
        if let Some((h, e)) = live(&m, old_best) {
            pending.allow(&best_name, &h, e);
        }

        // 1. Keep an only-copy `last` (re-checked under the lock): a second name in trash.
        let old_last = m.last;
        if keep_native_alias(
            &self.dir,
            &mut m,
            &last_name,
            old_last,
            &trash,
            "previous last, kept by restore",
            report,
        )?
        .is_some()
        {
            if let Some(e) = m.checkpoints.last() {
                pending.allow(&last_name, &e.hash, e.epoch);
            }
        }

        // 2. Archive newer checkpoints: a second name in trash now, the manifest next,
        //    the old names unlinked last (rule 5).
        let mut unlink = Vec::new();
        if plan.archive_dir.is_some() {
            let victims: Vec<usize> = m
                .checkpoints
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.is_trashed() && e.epoch > epoch)
                // Pinned and held-best checkpoints stay in place (the plan says so).
                .filter(|(_, e)| keep_reason(e.pinned, held == Some(e.epoch)).is_none())
                .map(|(j, _)| j)
                .collect();
            if !victims.is_empty() {
                make_trash_dir(&trash)?;
            }
            for j in victims {
                let name = m.checkpoints[j].path.clone();
                let from = entry_path(&self.dir, &m.checkpoints[j])?;
                keep_copy(&from, &trash.join(&name), report)?;
                m.checkpoints[j].path = format!("{stamp}/{name}");
                unlink.push(name);
            }
            let best_left = old_best.is_some_and(|b| {
                !m.checkpoints
                    .iter()
                    .any(|e| e.epoch == b && !e.is_trashed())
            });
            if best_left {
                m.best = rank_best(&m).map(|e| BestRef {
                    epoch: e,
                    held: false,
                    extra: Default::default(),
                });
            }
        }

        // best moves too when its checkpoint was archived: an only-copy model_best is
        // kept first (recorded in the manifest stored next).
        if m.best.as_ref().map(|b| b.epoch) != old_best {
            keep_native_alias(
                &self.dir,
                &mut m,
                &best_name,
                old_best,
                &trash,
                "previous best, kept by restore",
                report,
            )?;
        }

        // 3. Manifest (last := target) with a pending note covering the alias moves and
        //    unlinks, then the aliases, the unlinks, and the manifest without the note.
        m.last = Some(epoch);
        pending.unlink = unlink.clone();
        // Both aliases are named even when nothing may differ (an empty list allows
        // nothing), as before.
        pending.may_hold.entry(last_name.clone()).or_default();
        pending.may_hold.entry(best_name.clone()).or_default();
        set_pending(&mut m, Some(&pending));
        step("restore.manifest", &self.dir)?;
        super::commit::store_manifest(&self.dir, &m)?;
        // Renames and unlinks in the run dir, then one fsync of it for all of them.
        step("restore.alias", &last)?;
        alias::link_or_copy(&src, &last)?;
        if m.best.as_ref().map(|b| b.epoch) != old_best {
            if let Some(be) = m.best.as_ref().and_then(|b| {
                m.checkpoints
                    .iter()
                    .rfind(|e| e.epoch == b.epoch && !e.is_trashed())
            }) {
                let alias = self.dir.join(&best_name);
                step("restore.best_alias", &alias)?;
                alias::link_or_copy(&entry_path(&self.dir, be)?, &alias)?;
            }
        }
        for name in &unlink {
            let f = self.dir.join(name);
            step("restore.unlink", &f)?;
            match fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("restore.unlink", &f, e)),
            }
        }
        opsfs::fsync_dir("restore.fsync_dir", &self.dir)?;
        // A settled record (aliases hardlinked, nothing to unlink) is left for the next
        // mutation to drop; otherwise the manifest is stored again without it.
        if store::has_unsettled_pending(&self.dir, &m) {
            set_pending(&mut m, None);
            step("restore.manifest", &self.dir)?;
            super::commit::store_manifest(&self.dir, &m)?;
        }
        Ok(())
    }

    fn plan_restore_foreign(
        &self,
        selector: &str,
        options: &RestoreOptions,
    ) -> Result<RestorePlan> {
        let snap = self.snapshot()?;
        let base = snap.run.clone();
        let c = usable(&snap, selector, &base)?;
        let primary = primary_path(c);
        if let Some(to) = &options.to {
            let mut plan = export_plan(
                &base,
                &base.join(&primary),
                &c.name,
                to,
                c.bytes,
                options.force,
            )?;
            plan.epoch = c.epoch;
            plan.step = c.step;
            return Ok(plan);
        }
        let trash = plan_trash_dir(&base);
        let (movable, kept_newer) = foreign_newer(&snap, c);
        let mut newer: Vec<String> = movable.iter().map(|n| n.name.clone()).collect();
        let hf = self.layout == LayoutKind::Hf;
        if hf {
            newer.extend(hf_unlisted_newer(&base, &snap, c));
        }
        if hf {
            if let Some((name, why)) = kept_newer.first() {
                let run = self.dir.display();
                let mut steps = Vec::new();
                if why.contains("held") {
                    steps.push(format!("`ckpt promote {run} --release`"));
                }
                if why.contains("pinned") {
                    steps.push(format!("`ckpt unpin {run} {name}`"));
                }
                return Err(Error::Protected(format!(
                    "refusing to restore {}: {name} is newer and {why}, so a resumed trainer \
                     would pick it instead; first run {}",
                    c.name,
                    steps.join(" and ")
                )));
            }
        }
        let archive = (options.archive_newer || hf) && !newer.is_empty();
        let (dest, backup) = if hf {
            (base.join(&primary), None)
        } else {
            let rel = snap.alias_files.last.clone().unwrap_or_default();
            ensure_alias_name(&snap, &rel)?;
            let dest = base.join(&rel);
            let already_last = base.join(&primary) == dest;
            let backup = (!already_last && foreign_alias_is_only_copy(&base, &snap, &dest))
                .then(|| trash.join(file_name(&dest)));
            (dest, backup)
        };
        let backup_epoch = backup.as_ref().and_then(|_| {
            snap.checkpoints
                .iter()
                .find(|n| n.paths.iter().any(|p| base.join(p) == dest))
                .and_then(|n| n.epoch.or(n.step))
        });
        Ok(RestorePlan {
            run: base.clone(),
            target: c.name.clone(),
            epoch: c.epoch,
            dest,
            backup,
            newer,
            archive_dir: archive.then_some(trash),
            bytes_to_copy: 0,
            export: false,
            force: false,
            kept_newer,
            step: c.step,
            backup_epoch,
        })
    }

    fn restore_foreign(&self, plan: &RestorePlan, report: Report<'_>) -> Result<()> {
        let snap = self.snapshot()?;
        let base = snap.run.clone();
        let c = usable(&snap, &plan.target, &base)?;
        let primary = primary_path(c);
        let src = base.join(&primary);
        let hf = self.layout == LayoutKind::Hf;
        let in_run_dest = if hf {
            Some(src.clone())
        } else {
            let rel = snap.alias_files.last.clone().unwrap_or_default();
            ensure_alias_name(&snap, &rel)?;
            Some(base.join(rel))
        };
        if in_run_dest.as_ref() != Some(&plan.dest) {
            return Err(Error::PlanOutdated(format!(
                "the run changed since the restore plan ({} is no longer its resume point); re-plan",
                plan.dest.display()
            )));
        }
        let trash = plan
            .archive_dir
            .clone()
            .or_else(|| {
                plan.backup
                    .as_ref()
                    .and_then(|b| b.parent().map(Path::to_path_buf))
            })
            .unwrap_or_else(|| plan_trash_dir(&base));

        // Restoring the checkpoint `last` already is (timm's only-copy `last.pth.tar`):
        // only the archive step has anything to do.
        let already_last = src == plan.dest;

        // 1. Keep an only-copy `last` (re-checked under the lock).
        if !hf && !already_last && foreign_alias_is_only_copy(&base, &snap, &plan.dest) {
            make_trash_dir(&trash)?;
            keep_copy(&plan.dest, &trash.join(file_name(&plan.dest)), report)?;
        }

        // 2. Archive newer checkpoints (whole hf directories) by rename into trash.
        if plan.archive_dir.is_some() {
            // Pinned and held-best checkpoints stay in place (the plan says so).
            let (victims, _) = foreign_newer(&snap, c);
            if !victims.is_empty() {
                make_trash_dir(&trash)?;
            }
            let names = snap.alias_files.clone();
            let is_alias = |rel: &Path| {
                names.best.as_deref() == Some(rel) || names.last.as_deref() == Some(rel)
            };
            // hf: every other name transformers would resume from that is newer (a
            // symlinked `checkpoint-N`, a second name of a step): moved as it is (a
            // symlink as a link, never followed), so the restored one is the newest.
            if hf {
                let extra = hf_unlisted_newer(&base, &snap, c);
                if !extra.is_empty() {
                    make_trash_dir(&trash)?;
                }
                for name in extra {
                    let from = base.join(&name);
                    let to = unique_in(&trash, &name);
                    move_into(&from, &to)?;
                }
            }
            for v in victims {
                // Alias names (a hardlinked model_best.pth.tar) stay: they never vanish.
                for rel in v.paths.iter().filter(|r| !is_alias(r)) {
                    let from = base.join(rel);
                    if from.symlink_metadata().is_err() {
                        continue;
                    }
                    let to = unique_in(&trash, &file_name(&from));
                    move_into(&from, &to)?;
                }
            }
        }

        // 3. `last` := the chosen checkpoint under the layout's own name.
        if !hf && !already_last {
            step("restore.alias", &plan.dest)?;
            if plan.dest.is_symlink() {
                relink(&src, &plan.dest)?;
            } else {
                super::alias::point_alias(&src, &plan.dest)?;
            }
        }
        Ok(())
    }
}

/// Why a newer checkpoint stays in place during a restore, if it does.
fn keep_reason(pinned: bool, held_best: bool) -> Option<String> {
    match (pinned, held_best) {
        (true, true) => Some("pinned, held best".into()),
        (true, false) => Some("pinned".into()),
        (false, true) => Some("held best".into()),
        (false, false) => None,
    }
}

fn held_epoch(m: &Manifest) -> Option<u64> {
    m.best.as_ref().filter(|b| b.held).map(|b| b.epoch)
}

/// Foreign checkpoints newer than `c` that a restore may archive, and those it keeps
/// (pinned, held best). Checkpoints that exist only as an alias file (timm's only-copy
/// `last.pth.tar`) are neither: the backup step keeps those.
fn foreign_newer<'a>(
    snap: &'a crate::snapshot::RunSnapshot,
    c: &Checkpoint,
) -> (Vec<&'a Checkpoint>, Vec<(String, String)>) {
    let names = snap.alias_files.clone();
    let is_alias =
        |rel: &Path| names.best.as_deref() == Some(rel) || names.last.as_deref() == Some(rel);
    let held = snap
        .best
        .as_ref()
        .filter(|b| b.held)
        .and_then(|b| b.target.clone());
    let mut movable = Vec::new();
    let mut kept = Vec::new();
    for n in snap.checkpoints.iter().filter(|n| {
        n.name != c.name
            && is_newer(n, c)
            && !n.has_role(Role::Milestone)
            && n.paths.iter().any(|r| !is_alias(r))
    }) {
        match keep_reason(n.pinned, held.as_deref() == Some(n.name.as_str())) {
            Some(why) => kept.push((n.name.clone(), why)),
            None => movable.push(n),
        }
    }
    (movable, kept)
}

/// The file (or directory) holding a checkpoint's data, relative to the run.
pub(super) fn primary_path(c: &Checkpoint) -> std::path::PathBuf {
    c.paths
        .first()
        .cloned()
        .unwrap_or_else(|| c.name.clone().into())
}

/// The checkpoint a selector names, refused when it is not complete.
pub(super) fn usable<'a>(
    snap: &'a crate::snapshot::RunSnapshot,
    selector: &str,
    run: &Path,
) -> Result<&'a Checkpoint> {
    let c = snap
        .find(selector)
        .ok_or_else(|| Error::UnknownCheckpoint {
            selector: selector.to_string(),
            run: run.to_path_buf(),
        })?;
    match c.state {
        CheckpointState::Complete => Ok(c),
        CheckpointState::Writing => Err(refuse(selector, "it is still being written")),
        CheckpointState::Damaged => Err(refuse(
            selector,
            c.damage.as_deref().unwrap_or("it is damaged"),
        )),
    }
}

fn newer_entries(m: &Manifest, epoch: u64) -> impl Iterator<Item = &Entry> {
    m.checkpoints
        .iter()
        .filter(move |e| !e.is_trashed() && e.epoch > epoch)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A name in `dir` that does not exist yet (`name`, `name.1`, …).
fn unique_in(dir: &Path, name: &str) -> PathBuf {
    let mut p = dir.join(name);
    let mut n = 1;
    while p.symlink_metadata().is_ok() {
        p = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    p
}

/// Replace the symlink `link` with a relative symlink to `target` (temp link + rename),
/// as Lightning's `save_last="link"` writes it.
fn relink(target: &Path, link: &Path) -> Result<()> {
    let dir = link.parent().unwrap_or(Path::new("."));
    let rel = target
        .strip_prefix(dir)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| target.to_path_buf());
    let tmp = crate::store::temp::temp_path(dir, link);
    step("restore.symlink", &tmp)?;
    opsfs::io(
        "restore.symlink",
        &tmp,
        std::os::unix::fs::symlink(&rel, &tmp),
    )?;
    step("restore.rename", link)?;
    if let Err(e) = fs::rename(&tmp, link) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("restore.rename", link, e));
    }
    opsfs::fsync_dir("restore.fsync_dir", dir)
}

/// hf names transformers' `get_last_checkpoint` would resume from that are newer than
/// `c` but are not checkpoints of the snapshot (a symlinked `checkpoint-N`, a second
/// directory of one step).
fn hf_unlisted_newer(
    base: &Path,
    snap: &crate::snapshot::RunSnapshot,
    c: &Checkpoint,
) -> Vec<String> {
    let Some(target) = c.step else {
        return Vec::new();
    };
    crate::layout::hf::resume_candidates(base)
        .into_iter()
        .filter(|(name, step)| *step > target && !snap.checkpoints.iter().any(|k| &k.name == name))
        .map(|(name, _)| name)
        .collect()
}
