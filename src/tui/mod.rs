//! The live monitor, `ckpt watch` (issue 4): app state + pure update, keymap,
//! one widget file per pane, and a terminal guard that restores the terminal.

use std::path::PathBuf;
use std::time::Duration;

use crate::layout::LayoutKind;

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour on a terminal unless `NO_COLOR` is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Options of `ckpt watch` (and of the monitor `ckpt demo` opens).
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Runs, or directories holding runs; empty = the current directory.
    pub paths: Vec<PathBuf>,
    /// Force polling at this interval instead of native file events.
    pub poll: Option<Duration>,
    /// Disable every action (promote, restore, pin, prune).
    pub read_only: bool,
    pub color: ColorChoice,
    /// Layout override for every run.
    pub layout: Option<LayoutKind>,
}

/// Run the monitor until the user quits; restores the terminal on every exit path.
pub fn run(options: WatchOptions) -> crate::Result<()> {
    let _ = options;
    todo!("issue 4")
}
