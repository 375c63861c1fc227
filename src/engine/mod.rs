//! The save engine: every mutation of a run goes through here (DESIGN §3).
//!
//! API shape (filled in by issue 2): open a [`Run`], then call an operation. Reads
//! (`snapshot`) take no lock; every mutation takes the run lock, sweeps stale temps,
//! and commits in the order data → manifest → unlink → dir fsync.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::layout::LayoutKind;
use crate::rank::{MetricSpec, RetentionPolicy};
use crate::snapshot::RunSnapshot;
use crate::Result;

/// Knobs shared by all operations.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How long a mutation waits for the run lock (DESIGN rule 1; default 60 s).
    pub lock_timeout: Duration,
    /// Extension for new native checkpoint files (default ".pth.tar").
    pub ext: String,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lock_timeout: Duration::from_secs(60),
            ext: ".pth.tar".into(),
        }
    }
}

/// Progress of a long copy, hash or verify, for progress bars and the monitor.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub what: String,
    pub done: u64,
    pub total: u64,
}

/// Callback for [`Progress`]; called often, should be cheap.
pub type ProgressFn<'a> = &'a mut dyn FnMut(&Progress);

/// Where the bytes of a save come from.
pub enum SaveSource<'a> {
    /// Copy this file; or rename it into place when `move_file` and on the same filesystem.
    File { path: &'a Path, move_file: bool },
    /// Read until EOF (e.g. stdin).
    Stream(&'a mut dyn Read),
    /// An in-process writer: called once with the temp file to fill.
    Writer(&'a mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>),
}

/// What to record for a new checkpoint.
#[derive(Debug, Clone, Default)]
pub struct SaveRequest {
    pub epoch: u64,
    pub step: Option<u64>,
    /// Ranking metric value; NaN/inf allowed (never becomes best).
    pub metric: Option<f64>,
    /// Name and mode of the metric; fixed by the first save that gives one.
    pub metric_spec: Option<MetricSpec>,
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// Retention to apply after the save; `None` = the manifest's policy.
    pub policy: Option<RetentionPolicy>,
}

/// What a save did.
#[derive(Debug, Clone, Serialize)]
pub struct SaveReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub hash: String,
    /// True when an existing checkpoint of the same epoch was replaced.
    pub replaced: bool,
    pub became_best: bool,
    /// Files removed by retention.
    pub pruned: Vec<PathBuf>,
    pub bytes_freed: u64,
    /// How the aliases were realised ("hardlink", "reflink" or "copy").
    pub alias_strategy: String,
}

/// A run opened for reading and mutation.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    pub layout: LayoutKind,
    pub options: EngineOptions,
}

impl Run {
    /// Open an existing run of any layout (detected unless `layout` is given).
    pub fn open(dir: &Path, layout: Option<LayoutKind>, options: EngineOptions) -> Result<Run> {
        let _ = (dir, layout, options);
        todo!("issue 2")
    }

    /// Open a native run, creating `dir` and `.ckpt/` when missing.
    pub fn open_or_create(dir: &Path, options: EngineOptions) -> Result<Run> {
        let _ = (dir, options);
        todo!("issue 2")
    }

    /// Read the run as it is now (no lock).
    pub fn snapshot(&self) -> Result<RunSnapshot> {
        crate::layout::scan(&self.dir, Some(self.layout))
    }

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
