//! `promote` / `promote --release`: best := a checkpoint, held.

use super::*;
use crate::Result;

impl Run {
    /// `best` := that checkpoint, held until [`Run::release_best`]; the checkpoint is pinned.
    pub fn promote(&self, selector: &str) -> Result<PromoteReport> {
        let _ = selector;
        todo!("issue 2")
    }

    /// Release a held best: later saves may move it again.
    pub fn release_best(&self) -> Result<()> {
        todo!("issue 2")
    }
}
