//! `promote` / `promote --release`: best := a checkpoint, held.
//!
//! Native runs record the hold in the manifest (`best {epoch, held: true}`) and pin the
//! entry; foreign runs rewrite their own best alias (timm `model_best.pth.tar`,
//! Lightning `best.ckpt`) and record hold and pin in `.ckpt/state.json` (hf: record only).

use super::foreign::native::{damage, entry_path, find_entry};
use super::foreign::opsfs::{engine as core, step};
use super::foreign::{alias_names, DEFAULT_EXT};
use super::manifest_io::{set_pending, Pending};
use super::*;
use crate::snapshot::CheckpointState;
use crate::{Error, Result};

impl Run {
    /// `best` := that checkpoint, held until [`Run::release_best`]; the checkpoint is pinned.
    pub fn promote(&self, selector: &str) -> Result<PromoteReport> {
        match self.layout {
            LayoutKind::Ckpt => self.promote_native(selector),
            _ => self.promote_foreign(selector),
        }
    }

    /// Release a held best: later saves may move it again.
    pub fn release_best(&self) -> Result<()> {
        let base = match self.layout {
            LayoutKind::Ckpt => self.dir.clone(),
            _ => self.foreign_base(),
        };
        let _lock = core::lock(&base, "promote --release", self.options.lock_timeout)?;
        match self.layout {
            LayoutKind::Ckpt => {
                let mut m = core::load_manifest_locked(&self.dir)?;
                match m.best.as_mut() {
                    Some(b) if b.held => b.held = false,
                    _ => return Ok(()),
                }
                step("promote.manifest", &self.dir)?;
                core::store_manifest(&self.dir, &m)
            }
            _ => {
                let base = self.foreign_base();
                let mut s = core::load_state(&base)?;
                if s.best_held.take().is_none() {
                    return Ok(());
                }
                step("promote.state", &base)?;
                core::store_state(&base, &s)
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

    fn promote_native(&self, selector: &str) -> Result<PromoteReport> {
        let _lock = core::lock(&self.dir, "promote", self.options.lock_timeout)?;
        let mut m = core::load_manifest_locked(&self.dir)?;
        let i = find_entry(&self.dir, &m, selector)?;
        if let Some(why) = damage(&self.dir, &m.checkpoints[i]) {
            return Err(refuse(selector, &why));
        }
        let epoch = m.checkpoints[i].epoch;
        let target = m.checkpoints[i].path.clone();
        let previous = m.best.as_ref().and_then(|b| {
            m.checkpoints
                .iter()
                .rfind(|e| e.epoch == b.epoch && !super::foreign::native::is_trashed(e))
                .map(|e| e.path.clone())
        });
        let best_name = format!("model_best{}", m.ext);
        let old_best_hash = m.best.as_ref().and_then(|b| {
            m.checkpoints
                .iter()
                .rfind(|e| e.epoch == b.epoch && !super::foreign::native::is_trashed(e))
                .map(|e| e.hash.clone())
        });
        let extra = m.best.take().map(|b| b.extra).unwrap_or_default();
        m.best = Some(crate::manifest::BestRef {
            epoch,
            held: true,
            extra,
        });
        m.checkpoints[i].pinned = true;
        let src = entry_path(&self.dir, &m.checkpoints[i]);
        let alias = self.dir.join(&best_name);
        // Manifest first (rule 5), with a pending note that the alias may still hold
        // the old best: a crash before the alias moves is finished by the next mutation.
        let pending = Pending {
            operation: "promote".into(),
            may_hold: old_best_hash
                .map(|h| (best_name.clone(), vec![h]))
                .into_iter()
                .collect(),
            ..Default::default()
        };
        set_pending(&mut m, Some(&pending));
        step("promote.manifest", &self.dir)?;
        core::store_manifest(&self.dir, &m)?;
        step("promote.alias", &alias)?;
        core::set_alias(&src, &alias)?;
        set_pending(&mut m, None);
        step("promote.manifest", &self.dir)?;
        core::store_manifest(&self.dir, &m)?;
        Ok(PromoteReport {
            target,
            epoch: Some(epoch),
            alias: Some(alias),
            previous,
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
        let names = alias_names(&snap, DEFAULT_EXT);
        let previous = snap
            .best
            .as_ref()
            .and_then(|a| a.target.clone())
            .or_else(|| {
                snap.with_role(crate::snapshot::Role::Best)
                    .map(|b| b.name.clone())
            });
        let _lock = core::lock(&base, "promote", self.options.lock_timeout)?;
        let mut alias_written = None;
        if let (Some(rel), Some(primary)) = (names.best.as_ref(), c.paths.first()) {
            let src = base.join(primary);
            if src.is_file() {
                let alias = base.join(rel);
                step("promote.alias", &alias)?;
                core::set_alias(&src, &alias)?;
                alias_written = Some(alias);
            }
        }
        let mut state = core::load_state(&base)?;
        state.best_held = Some(c.name.clone());
        if !state.pinned.contains(&c.name) {
            state.pinned.push(c.name.clone());
        }
        step("promote.state", &base)?;
        core::store_state(&base, &state)?;
        Ok(PromoteReport {
            target: c.name.clone(),
            epoch: c.epoch,
            alias: alias_written,
            previous,
        })
    }
}

/// The error for acting on a checkpoint that is not complete.
pub(crate) fn refuse(selector: &str, why: &str) -> Error {
    Error::Invalid(format!(
        "refusing to use checkpoint {selector}: {why}; pick another one or run `ckpt verify`"
    ))
}
