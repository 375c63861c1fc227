//! `save`: rules 1–8 of DESIGN §3, then aliases and retention.

use super::*;
use crate::Result;

impl Run {
    /// Save a checkpoint (native runs).
    pub fn save(
        &self,
        req: &SaveRequest,
        source: SaveSource<'_>,
        progress: Option<ProgressFn<'_>>,
    ) -> Result<SaveReport> {
        let _ = (req, source, progress);
        todo!("issue 2")
    }
}
