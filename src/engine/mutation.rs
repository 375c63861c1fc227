//! The one way into a mutation (DESIGN §3 rules 1, 2, 5): take the run lock, sweep the
//! temps whose writer is gone, and for a native run load the manifest and finish what a
//! crashed operation left pending. Every operation on every layout (CLI, monitor,
//! Python) starts here and holds the returned lock until its commit (see `commit`) is
//! done; nothing else takes the run lock.

use std::path::{Path, PathBuf};

use super::commit::recover_pending;
use super::fault;
use super::lock::RunLock;
use super::{EngineOptions, Run};
use crate::snapshot::LayoutKind;
use crate::store::temp::{find_temps, run_temp_dirs};
use crate::store::{load_manifest, Manifest};
use crate::{Error, Result};

/// Take the lock of the run at `dir` for `operation` (waiting as `options` say), then
/// sweep its stale temps. Hold the lock until the mutation is committed.
pub(crate) fn begin(dir: &Path, operation: &str, options: &EngineOptions) -> Result<RunLock> {
    begin_sweeping(dir, operation, options).map(|(lock, _)| lock)
}

/// [`begin`], also returning the temps the sweep removed.
pub(crate) fn begin_sweeping(
    dir: &Path,
    operation: &str,
    options: &EngineOptions,
) -> Result<(RunLock, Vec<PathBuf>)> {
    let lock = RunLock::acquire_with(
        dir,
        operation,
        options.lock_timeout,
        options.on_lock_wait.as_deref(),
    )?;
    let swept = sweep_run(dir)?;
    Ok((lock, swept))
}

impl Run {
    /// Start a mutation of this run: [`begin`], and for a native run the manifest,
    /// loaded with any interrupted operation finished first.
    pub fn begin_mutation(&self, operation: &str) -> Result<(RunLock, Option<Manifest>)> {
        let lock = begin(&self.dir, operation, &self.options)?;
        if self.layout != LayoutKind::Ckpt {
            return Ok((lock, None));
        }
        let mut m = load_manifest(&self.dir)?;
        recover_pending(&self.dir, &mut m)?;
        Ok((lock, Some(m)))
    }
}

/// Remove ckpt temps in `dir` whose writer is gone (rule 2: "any mutation removes temps
/// whose writer is gone"). Returns what was removed. timm's temps are never removed.
pub(crate) fn sweep_stale_temps(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for t in find_temps(dir) {
        if t.foreign || t.writer_alive {
            continue;
        }
        // Never follow a symlink: lstat, and remove the name itself. A temp directory
        // is a checkpoint directory being deleted (see `prune::remove_dir_atomically`).
        let is_dir = match std::fs::symlink_metadata(&t.path) {
            Ok(m) => m.is_dir(),
            Err(_) => continue,
        };
        fault::point("sweep.unlink").map_err(|e| Error::io("remove stale temp", &t.path, e))?;
        let r = if is_dir {
            std::fs::remove_dir_all(&t.path)
        } else {
            std::fs::remove_file(&t.path)
        };
        match r {
            Ok(()) => removed.push(t.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove stale temp", &t.path, e)),
        }
    }
    if !removed.is_empty() {
        super::atomic::fsync_dir(dir)?;
    }
    Ok(removed)
}

/// [`sweep_stale_temps`] over every directory ckpt writes in a run; every mutation
/// calls this under the run lock.
pub(crate) fn sweep_run(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for d in run_temp_dirs(run_dir) {
        if d.is_dir() {
            removed.extend(sweep_stale_temps(&d)?);
        }
    }
    Ok(removed)
}
