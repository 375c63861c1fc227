//! `pin` / `unpin`: native runs record it in the manifest, foreign runs in
//! `.ckpt/state.json` (`pinned`), both replaced atomically under the run lock.

use super::commit::{store_manifest, store_state};
use super::prune::scan_run;
use super::*;
use crate::store::{load_manifest, load_state};
use crate::{Error, Result};

impl Run {
    /// Pin (`true`) or unpin a checkpoint: pinned checkpoints are never pruned.
    pub fn set_pinned(&self, selector: &str, pinned: bool) -> Result<()> {
        self.change_pinned(selector, pinned).map(|_| ())
    }

    /// [`Run::set_pinned`], telling whether anything changed (`false`: it already was).
    pub fn change_pinned(&self, selector: &str, pinned: bool) -> Result<bool> {
        let op = if pinned { "pin" } else { "unpin" };
        let (_lock, recovered) = self.begin_mutation(op)?;
        let snap = scan_run(self)?;
        let c = snap
            .find(selector)
            .ok_or_else(|| Error::UnknownCheckpoint {
                selector: selector.to_string(),
                run: self.dir.clone(),
            })?;
        if self.layout == LayoutKind::Ckpt {
            // The recovered manifest: a settled pending record is already dropped from it.
            let mut m = match recovered {
                Some(m) => m,
                None => load_manifest(&self.dir)?,
            };
            let e = m
                .checkpoints
                .iter_mut()
                .find(|e| e.path == c.name)
                .ok_or_else(|| Error::UnknownCheckpoint {
                    selector: selector.to_string(),
                    run: self.dir.clone(),
                })?;
            if e.pinned == pinned {
                return Ok(false);
            }
            e.pinned = pinned;
            store_manifest(&self.dir, &m)?;
        } else {
            let mut state = load_state(&self.dir)?;
            let has = state.pinned.contains(&c.name);
            if pinned && !has {
                state.pinned.push(c.name.clone());
                state.pinned.sort();
            } else if !pinned && has {
                state.pinned.retain(|n| n != &c.name);
            } else {
                return Ok(false);
            }
            store_state(&self.dir, &state)?;
        }
        Ok(true)
    }
}
