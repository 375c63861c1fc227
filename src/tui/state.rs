//! The monitor's view state per run and overall: rows, sort, marks, dialogs, status,
//! busy work, the trash view.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::disk::Headroom;
use crate::engine::trash::TrashListing;
use crate::engine::{Progress, VerifyReport};
use crate::rank::Mode;
use crate::snapshot::{Checkpoint, CheckpointState, RunSnapshot};
use crate::watch::WatchMode;

use super::render;

use super::app::*;

/// Column the history table is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Newest first.
    #[default]
    Epoch,
    /// Best first under the run's mode; non-finite last.
    Metric,
    /// Largest first.
    Size,
}

impl SortKey {
    pub(crate) fn next(self) -> SortKey {
        match self {
            SortKey::Epoch => SortKey::Metric,
            SortKey::Metric => SortKey::Size,
            SortKey::Size => SortKey::Epoch,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SortKey::Epoch => "epoch",
            SortKey::Metric => "metric",
            SortKey::Size => "size",
        }
    }
}

/// Severity of the status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Error,
}

/// The status line: the last result or error.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub level: Level,
    pub text: String,
}

/// An action running on the worker.
#[derive(Debug, Clone)]
pub struct Busy {
    pub label: String,
    pub progress: Option<Progress>,
}

/// What covers the main view.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per app; boxing buys nothing
pub enum Overlay {
    None,
    Help,
    Details,
    Confirm(Confirm),
    /// The full text of the status line (and the last verify's findings), wrapped.
    Message,
}

/// Which screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    RunList,
    Run(usize),
    /// The trash of run `usize`.
    Trash(usize),
}

/// The trash view of one run: the last listing and the cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrashView {
    pub listing: Option<TrashListing>,
    /// Why the last listing failed.
    pub error: Option<String>,
    pub selected: usize,
}

/// A damaged verdict of the last `v` verify for one checkpoint; it stands until the
/// next verify or until the checkpoint's size or mtime changes.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyMark {
    pub reason: String,
    pub bytes: u64,
    pub mtime: Option<DateTime<Utc>>,
}

/// Everything known about one watched run.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub path: PathBuf,
    pub snapshot: Option<RunSnapshot>,
    /// The last scan's error, if it failed.
    pub error: Option<String>,
    pub headroom: Option<Headroom>,
    pub trainer: Option<TrainerInfo>,
    /// False until the trainer search has run once.
    pub trainer_checked: bool,
    /// `(pid, when)`: that process said its training stopped (it lives on, so the
    /// tracker would call it alive).
    pub trainer_stopped: Option<(u32, DateTime<Utc>)>,
    pub watch_mode: Option<WatchMode>,
    pub watch_reason: Option<String>,
    pub last_scan: Option<DateTime<Utc>>,
    /// 1-based rank by metric per checkpoint index (finite metrics only).
    pub ranks: Vec<Option<usize>>,
    /// Checkpoint indices in display order (sorted, filtered).
    pub view: Vec<usize>,
    /// Names marked for prune.
    pub marked: BTreeSet<String>,
    /// Rows `d` last refused to mark, with why (cleared by the next mark).
    pub refused_marks: Vec<(String, String)>,
    /// Selected position in `view`, and the first visible one.
    pub selected: usize,
    pub offset: usize,
    /// Checkpoints the last verify found damaged, by name.
    pub damaged: BTreeMap<String, VerifyMark>,
    /// The last verify's report (its full findings for the message view).
    pub last_verify: Option<VerifyReport>,
    /// The run directory is gone: the rows are the last known ones (stale).
    pub gone: bool,
    /// The run's total bytes at each recent scan (oldest first), for its growth rate.
    pub sizes: Vec<(DateTime<Utc>, u64)>,
    /// The chart's and sparkline's data, computed once per scan (not per frame).
    pub series: render::chart::Series,
    /// The trash view's state.
    pub trash: TrashView,
}

impl RunEntry {
    /// Show the trainer as stopped when its process said so (and is still it).
    pub(crate) fn apply_trainer_stopped(&mut self) {
        if let (Some((pid, at)), Some(t)) = (self.trainer_stopped, self.trainer.as_mut()) {
            if t.pid == pid && t.liveness == super::trainer::Liveness::Alive {
                t.liveness = super::trainer::Liveness::Stopped { at };
                t.cpu_percent = 0.0;
            }
        }
    }

    pub fn new(path: PathBuf) -> RunEntry {
        RunEntry {
            path,
            snapshot: None,
            error: None,
            headroom: None,
            trainer: None,
            trainer_checked: false,
            trainer_stopped: None,
            watch_mode: None,
            watch_reason: None,
            last_scan: None,
            ranks: Vec::new(),
            view: Vec::new(),
            marked: BTreeSet::new(),
            refused_marks: Vec::new(),
            selected: 0,
            offset: 0,
            damaged: BTreeMap::new(),
            last_verify: None,
            gone: false,
            sizes: Vec::new(),
            series: render::chart::Series::default(),
            trash: TrashView::default(),
        }
    }

    /// A checkpoint's state as shown: the scan's, or `Damaged` after a failed verify.
    pub fn state_of(&self, c: &Checkpoint) -> CheckpointState {
        if self.damaged.contains_key(&c.name) {
            CheckpointState::Damaged
        } else {
            c.state.clone()
        }
    }

    /// Why a checkpoint is damaged: the scan's reason, else the last verify's.
    pub fn damage_of(&self, c: &Checkpoint) -> Option<String> {
        match (&c.damage, self.damaged.get(&c.name)) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(m)) => Some(format!("verify: {}", m.reason)),
            (None, None) => None,
        }
    }

    /// The checkpoint under the cursor.
    pub fn selected_checkpoint(&self) -> Option<&Checkpoint> {
        let snap = self.snapshot.as_ref()?;
        let idx = *self.view.get(self.selected)?;
        snap.checkpoints.get(idx)
    }

    /// Metric mode of the run (max when unknown).
    pub(crate) fn mode(&self) -> Mode {
        self.snapshot
            .as_ref()
            .and_then(|s| s.metric.as_ref())
            .map(|m| m.mode)
            .unwrap_or_default()
    }

    /// Checkpoint indices best first (finite metrics only; ties keep the earlier first).
    pub(crate) fn ranking(&self) -> Vec<usize> {
        let mut ranked: Vec<(usize, usize)> = self
            .ranks
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (r, i)))
            .collect();
        ranked.sort_unstable();
        ranked.into_iter().map(|(_, i)| i).collect()
    }
}
