//! Temps of writers that are gone are the run's own garbage (DESIGN §3 rule 2): they
//! count as reclaimable space, and a save that the space preflight would refuse sweeps
//! them first instead of asking the user to prune checkpoints.

use std::path::PathBuf;

use super::Run;
use crate::store::temp::find_run_temps;
use crate::Result;

/// Bytes held by temps in the run whose writer is gone (ckpt's own temps only; timm's
/// fixed names are never ours to delete). A temp directory counts with its files.
pub(crate) fn reclaimable_temp_bytes(run: &std::path::Path) -> u64 {
    find_run_temps(run)
        .iter()
        .filter(|t| !t.foreign && !t.writer_alive)
        .flat_map(|t| super::foreign::opsfs::tree_files(&t.path))
        .filter_map(|f| std::fs::symlink_metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

impl Run {
    /// Take the run lock just long enough to sweep temps whose writer is gone; returns
    /// what was removed.
    pub(crate) fn sweep_dead_temps(&self) -> Result<Vec<PathBuf>> {
        super::mutation::begin_sweeping(&self.dir, "sweep", &self.options).map(|(_, swept)| swept)
    }
}
