//! `ckpt demo`: a simulated trainer saving through the engine (issue 3).

use std::path::PathBuf;
use std::time::Duration;

/// Options of `ckpt demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep the run here; `None` = a fresh temp dir removed on exit.
    pub dir: Option<PathBuf>,
    /// Payload bytes per checkpoint.
    pub size: u64,
    /// Seconds between saves.
    pub interval: Duration,
}
