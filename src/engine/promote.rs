//! `promote` / `promote --release`: best := a checkpoint, held.
//!
//! Native runs record the hold in the manifest (`best {epoch, held: true}`) and pin the
//! entry; foreign runs rewrite their own best alias (timm `model_best.pth.tar`,
//! Lightning `best.ckpt`) and record hold and pin in `.ckpt/state.json` (hf: record only).

use super::commit::store_and_repoint;
use super::foreign::ensure_alias_name;
use super::foreign::opsfs::step;
use super::*;
use crate::snapshot::CheckpointState;
use crate::store::lookup::{damage, find_entry, rank_best};
use crate::store::{alias_names as alias_names_native, BestRef};
use crate::{Error, Result};

impl Run {
    /// The refusal `promote` would give for `selector` (damaged, still being written,
    /// unknown), checked without the lock so a dry run refuses exactly as `--yes` does.
    pub fn check_promote(&self, selector: &str) -> Result<()> {
        if self.layout == LayoutKind::Ckpt {
            let m = crate::store::load_manifest(&self.dir)?;
            let i = find_entry(&self.dir, &m, selector)?;
            if let Some(why) = damage(&self.dir, &m.checkpoints[i]) {
                return Err(refuse(selector, &why));
            }
            return Ok(());
        }
        let snap = self.snapshot()?;
        let c = snap
            .find(selector)
            .ok_or_else(|| Error::UnknownCheckpoint {
                selector: selector.to_string(),
                run: snap.run.clone(),
            })?;
        match c.state {
            CheckpointState::Complete => Ok(()),
            CheckpointState::Writing => Err(refuse(selector, "it is still being written")),
            CheckpointState::Damaged => {
                let why = c.damage.clone().unwrap_or_else(|| "it is damaged".into());
                Err(refuse(selector, &why))
            }
        }
    }

    /// `best` := that checkpoint, held until [`Run::release_best`]; the checkpoint is pinned.
    pub fn promote(&self, selector: &str) -> Result<PromoteReport> {
        match self.layout {
            LayoutKind::Ckpt => self.promote_native(selector),
            _ => self.promote_foreign(selector),
        }
    }

    /// Release a held best: later saves may move it again.
    pub fn release_best(&self) -> Result<()> {
        self.release_best_held().map(|_| ())
    }

    /// The file a promote writes to hold best (`model_best.pth.tar`, Lightning's
    /// `best.ckpt`); `None` where best is a record only (hf).
    pub(crate) fn best_alias_path(&self) -> Result<Option<std::path::PathBuf>> {
        if self.layout == LayoutKind::Ckpt {
            let m = crate::store::load_manifest(&self.dir)?;
            return Ok(Some(self.dir.join(alias_names_native(&m.ext).1)));
        }
        let snap = self.snapshot()?;
        Ok(snap.alias_files.best.clone().map(|rel| snap.run.join(rel)))
    }

    /// [`Run::release_best`], telling whether a held best was released (`false`: none was held).
    pub fn release_best_held(&self) -> Result<bool> {
        match self.layout {
            LayoutKind::Ckpt => {
                let (_lock, m) = self.begin_mutation("promote --release")?;
                let old = m.ok_or_else(|| Error::Internal("release: no manifest".into()))?;
                let mut m = old.clone();
                let held_epoch = match m.best.as_mut() {
                    Some(b) if b.held => {
                        b.held = false;
                        b.epoch
                    }
                    _ => return Ok(false),
                };
                // An unheld best is never NaN/inf: a held best re-saved with such a
                // metric gives way to the ranking's best once released.
                let finite = m
                    .checkpoints
                    .iter()
                    .rfind(|e| e.epoch == held_epoch && !e.is_trashed())
                    .and_then(|e| e.rank_value())
                    .is_some_and(f64::is_finite);
                if !finite {
                    if let Some(epoch) = rank_best(&m) {
                        m.best = Some(BestRef {
                            epoch,
                            held: false,
                            extra: Default::default(),
                        });
                        step("promote.manifest", &self.dir)?;
                        store_and_repoint(&self.dir, &old, &mut m, "promote --release")?;
                        return Ok(true);
                    }
                }
                step("promote.manifest", &self.dir)?;
                super::commit::store_manifest(&self.dir, &m).map(|()| true)
            }
            _ => {
                let base = self.foreign_base();
                // Nothing held: nothing to write, not even a lock file.
                if crate::store::load_state(&base)?.best_held.is_none() {
                    return Ok(false);
                }
                let _lock = super::mutation::begin(&base, "promote --release", &self.options)?;
                let mut s = crate::store::load_state(&base)?;
                if s.best_held.take().is_none() {
                    return Ok(false);
                }
                step("promote.state", &base)?;
                super::commit::store_state(&base, &s).map(|()| true)
            }
        }
    }

    /// The directory a foreign run's files and `.ckpt/` live in, as the scan locates it
    /// (Lightning: the newest `version_N` under a logger directory).
    pub(crate) fn foreign_base(&self) -> std::path::PathBuf {
        self.snapshot()
            .map(|s| s.run)
            .unwrap_or_else(|_| self.dir.clone())
    }

    /// What [`Run::promote`] of `selector` would do, without changing anything: the
    /// alias it rewrites and, when that alias is the only copy of its bytes (timm's
    /// `model_best` after its checkpoint rotated out), where it is kept first.
    pub fn plan_promote(&self, selector: &str) -> Result<PromotePlan> {
        self.check_promote(selector)?;
        let snap = self.snapshot()?;
        let c = snap
            .find(selector)
            .ok_or_else(|| Error::UnknownCheckpoint {
                selector: selector.to_string(),
                run: snap.run.clone(),
            })?;
        let alias = self.best_alias_path()?;
        let alias_exists = alias.as_ref().is_some_and(|a| a.symlink_metadata().is_ok());
        let previous = snap.best.as_ref().and_then(|b| b.target.clone());
        let trash = super::foreign::opsfs::plan_trash_dir(&snap.run);
        let backup = match (&alias, self.layout) {
            (None, _) => None,
            (Some(a), LayoutKind::Ckpt) => {
                let m = crate::store::load_manifest(&self.dir)?;
                super::only_copy::native_alias_is_only_copy(&self.dir, &m, a)
                    .then(|| trash.join(a.file_name().unwrap_or_default()))
            }
            (Some(a), _) => super::only_copy::foreign_alias_is_only_copy(&snap.run, &snap, a)
                .then(|| trash.join(a.file_name().unwrap_or_default())),
        };
        Ok(PromotePlan {
            run: snap.run.clone(),
            target: c.name.clone(),
            epoch: c.epoch,
            step: c.step,
            alias,
            alias_exists,
            previous,
            backup,
        })
    }

    fn promote_native(&self, selector: &str) -> Result<PromoteReport> {
        let (_lock, m) = self.begin_mutation("promote")?;
        let old = m.ok_or_else(|| Error::Internal("promote: no manifest".into()))?;
        let i = find_entry(&self.dir, &old, selector)?;
        if let Some(why) = damage(&self.dir, &old.checkpoints[i]) {
            return Err(refuse(selector, &why));
        }
        let epoch = old.checkpoints[i].epoch;
        let target = old.checkpoints[i].path.clone();
        let previous = old.best.as_ref().and_then(|b| {
            old.checkpoints
                .iter()
                .rfind(|e| e.epoch == b.epoch && !e.is_trashed())
                .map(|e| e.path.clone())
        });
        let mut new = old.clone();
        let extra = new.best.take().map(|b| b.extra).unwrap_or_default();
        new.best = Some(BestRef {
            epoch,
            held: true,
            extra,
        });
        new.checkpoints[i].pinned = true;
        // Manifest first (rule 5) with a pending note that model_best may still hold
        // the old best; then the alias; then the manifest without the note.
        step("promote.manifest", &self.dir)?;
        let kept = store_and_repoint(&self.dir, &old, &mut new, "promote")?;
        let (_, best_name) = alias_names_native(&new.ext);
        Ok(PromoteReport {
            target,
            epoch: Some(epoch),
            alias: Some(self.dir.join(&best_name)),
            previous,
            backup: kept
                .into_iter()
                .find(|p| p.file_name().is_some_and(|f| f == best_name.as_str())),
        })
    }

    fn promote_foreign(&self, selector: &str) -> Result<PromoteReport> {
        let snap = self.snapshot()?;
        // The run the scan located (e.g. Lightning's newest `version_N`).
        let base = snap.run.clone();
        let c = snap
            .find(selector)
            .ok_or_else(|| Error::UnknownCheckpoint {
                selector: selector.to_string(),
                run: base.clone(),
            })?;
        match c.state {
            CheckpointState::Complete => {}
            CheckpointState::Writing => {
                return Err(refuse(selector, "it is still being written"));
            }
            CheckpointState::Damaged => {
                let why = c.damage.clone().unwrap_or_else(|| "it is damaged".into());
                return Err(refuse(selector, &why));
            }
        }
        let names = snap.alias_files.clone();
        let previous = snap
            .best
            .as_ref()
            .and_then(|a| a.target.clone())
            .or_else(|| {
                snap.with_role(crate::snapshot::Role::Best)
                    .map(|b| b.name.clone())
            });
        let _lock = super::mutation::begin(&base, "promote", &self.options)?;
        let mut alias_written = None;
        let mut backup = None;
        if let (Some(rel), Some(primary)) = (names.best.as_ref(), c.paths.first()) {
            ensure_alias_name(&snap, rel)?;
            let src = base.join(primary);
            if src.is_file() {
                let alias = base.join(rel);
                // The alias being replaced may be the only copy of its checkpoint
                // (timm's model_best after checkpoint-N rotated out): keep it first.
                if src != alias {
                    let trash = super::foreign::opsfs::plan_trash_dir(&base);
                    backup = super::only_copy::keep_foreign_alias(
                        &base,
                        &snap,
                        &alias,
                        &trash,
                        &mut |_: &Progress| {},
                    )?;
                }
                step("promote.alias", &alias)?;
                super::alias::point_alias(&src, &alias)?;
                alias_written = Some(alias);
            }
        }
        let mut state = crate::store::load_state(&base)?;
        state.best_held = Some(c.name.clone());
        if !state.pinned.contains(&c.name) {
            state.pinned.push(c.name.clone());
        }
        step("promote.state", &base)?;
        super::commit::store_state(&base, &state)?;
        Ok(PromoteReport {
            target: c.name.clone(),
            epoch: c.epoch,
            alias: alias_written,
            previous,
            backup,
        })
    }
}

/// The error for acting on a checkpoint that is not complete.
pub(crate) fn refuse(selector: &str, why: &str) -> Error {
    Error::Unusable(format!(
        "refusing to use checkpoint {selector}: {why}; pick another one or run `ckpt verify`"
    ))
}
