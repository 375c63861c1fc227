//! `pin` / `unpin`.

use super::*;
use crate::Result;

impl Run {
    /// Pin (`true`) or unpin a checkpoint: pinned checkpoints are never pruned.
    pub fn set_pinned(&self, selector: &str, pinned: bool) -> Result<()> {
        let _ = (selector, pinned);
        todo!("issue 2")
    }
}
