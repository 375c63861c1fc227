//! What flows into the monitor's pure update and out of it: [`Msg`] (keys, scans,
//! plans, results), [`Command`] (work for other threads), the actions a dialog confirms,
//! and the typed outcomes of planning ([`Planned`]) and applying ([`Applied`]) them.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use crossterm::event::KeyEvent;

use crate::disk::Headroom;
use crate::engine::trash::{TrashEmptyPlan, TrashListing, TrashRestorePlan};
use crate::engine::{Progress, PrunePlan, RestorePlan, VerifyReport};
use crate::rank::KeepReason;
use crate::snapshot::RunSnapshot;
use crate::watch::WatchMode;

use super::app::*;

/// News from outside the monitor, from the process it runs in (`ckpt demo`).
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// An error for the status line.
    Error(String),
    /// The trainer saving into `run` from process `pid` stopped at `at` because of
    /// `why` (a failed save): the process lives on, its training does not, and the
    /// header must not call it alive.
    TrainerStopped {
        run: PathBuf,
        pid: u32,
        at: DateTime<Utc>,
        why: String,
    },
}

/// Why a prune plan deletes what it deletes.
#[derive(Debug, Clone, PartialEq)]
pub enum PruneBasis {
    /// The rows marked with `d`; `refused` were marked but the engine keeps them.
    Marked {
        refused: Vec<(String, Vec<KeepReason>)>,
    },
    /// No row is marked: the run's retention policy, from `source` ("the run's
    /// manifest", "timm's checkpoint_hist", …). `refused_marks` are the rows `d` last
    /// refused to mark (best, last, pinned), which is why nothing is marked.
    Policy {
        source: String,
        refused_marks: Vec<(String, String)>,
    },
}

/// A prune plan and why it deletes what it deletes.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneProposal {
    pub plan: PrunePlan,
    pub basis: PruneBasis,
}

impl From<PrunePlan> for PruneProposal {
    /// A plan by the run's policy.
    fn from(plan: PrunePlan) -> PruneProposal {
        PruneProposal {
            plan,
            basis: PruneBasis::Policy {
                source: "the run's retention policy".into(),
                refused_marks: Vec::new(),
            },
        }
    }
}

/// What planning an action came to: a plan to confirm, or nothing to do (advice, not a
/// failure: the status line says why in a warning, not an error).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // sent once per plan; boxing buys nothing
pub enum Planned {
    Confirm(PendingAction),
    NothingToDo(String),
}

/// Which confirmed action finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Promote,
    Pin,
    Restore,
    Prune,
    TrashRestore,
    TrashEmpty,
    Verify,
}

/// What a confirmed action did: which action, and the status line that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub action: ActionKind,
    pub text: String,
}

/// An action planned and waiting for the user's yes (default No).
#[derive(Debug, Clone, PartialEq)]
pub enum PendingAction {
    Promote {
        name: String,
        epoch: Option<u64>,
        /// Its step, for layouts that count steps (hf).
        step: Option<u64>,
        /// The checkpoint's files and their bytes.
        files: Vec<(PathBuf, u64)>,
        /// The alias file the engine writes to hold best (`None`: hf, best is a record).
        alias: Option<PathBuf>,
        /// `alias` exists already (it is replaced, not created).
        alias_exists: bool,
        /// The best it replaces, if any.
        previous: Option<String>,
        /// `alias` is the only copy of its checkpoint's bytes: kept in `.ckpt/trash/` first.
        keeps_only_copy: bool,
    },
    Pin {
        name: String,
        pin: bool,
        files: Vec<(PathBuf, u64)>,
    },
    Restore(RestorePlan),
    Prune(PruneProposal),
    /// Bring a trash entry back into the run as a regular checkpoint.
    TrashRestore(TrashRestorePlan),
    /// Delete what is in the trash.
    TrashEmpty(TrashEmptyPlan),
    Verify {
        checkpoints: usize,
        bytes: u64,
    },
}

impl PendingAction {
    /// One word for status lines ("promote", "prune", …).
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            PendingAction::Promote { .. } => "promote",
            PendingAction::Pin { pin: true, .. } => "pin",
            PendingAction::Pin { pin: false, .. } => "unpin",
            PendingAction::Restore(_) => "restore",
            PendingAction::Prune(_) => "prune",
            PendingAction::TrashRestore(_) => "restore from the trash",
            PendingAction::TrashEmpty(_) => "empty the trash",
            PendingAction::Verify { .. } => "verify",
        }
    }
}

/// The confirm dialog: the exact plan, and which button has focus.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub run: PathBuf,
    pub action: PendingAction,
    /// False = "No" focused (the default).
    pub yes_focused: bool,
}

/// A plan the engine must compute (it reads the run).
#[derive(Debug, Clone, PartialEq)]
pub enum PlanRequest {
    Restore {
        name: String,
        /// Plan moving the newer checkpoints to `.ckpt/trash/<time>/` (`--archive-newer`).
        archive_newer: bool,
    },
    /// Marked checkpoints, or the run's retention policy when empty.
    Prune { marked: Vec<String> },
    /// Bring back the trash entry of this name (its path below `.ckpt/trash/`).
    TrashRestore { name: String },
    /// Delete everything in the trash.
    TrashEmpty,
}

/// Work for the event loop to start; results come back as messages.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per key press; boxing buys nothing
pub enum Command {
    Scan(PathBuf),
    Plan {
        run: PathBuf,
        request: PlanRequest,
    },
    Apply {
        run: PathBuf,
        action: PendingAction,
    },
    /// List the run's trash (the worker answers with `Msg::TrashListed`).
    ListTrash(PathBuf),
    Quit,
}

/// Everything that can happen to the monitor.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // moved once per scan; boxing buys nothing
pub enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    /// A watcher saw the run change.
    RunChanged(PathBuf),
    Scanned {
        run: PathBuf,
        result: Result<RunSnapshot, String>,
        headroom: Option<Headroom>,
        at: DateTime<Utc>,
    },
    WatchMode {
        run: PathBuf,
        mode: WatchMode,
        /// Why polling was chosen (fs type, a failed watch, `--poll`).
        reason: Option<String>,
    },
    Trainer {
        run: PathBuf,
        trainer: Option<TrainerInfo>,
    },
    Planned {
        run: PathBuf,
        result: Result<Planned, String>,
    },
    Progress(Progress),
    Done {
        run: PathBuf,
        result: Result<Applied, String>,
    },
    /// The run directory no longer exists (deleted or moved): its rows go stale.
    Gone {
        run: PathBuf,
        at: DateTime<Utc>,
    },
    /// A verify finished: its verdicts mark rows damaged (sent just before `Done`).
    Verified {
        run: PathBuf,
        report: VerifyReport,
    },
    /// What the run's trash holds (or why it cannot be listed).
    TrashListed {
        run: PathBuf,
        result: Result<TrashListing, String>,
    },
    /// The wall clock moved (ages and "last save" are drawn relative to it).
    Tick(DateTime<Utc>),
    /// New free-space figures of a run's filesystem (the once-a-second disk tick).
    Space {
        run: PathBuf,
        space: crate::disk::Space,
    },
    /// News from outside the monitor (`ckpt demo`'s trainer).
    Note(Note),
    /// SIGTERM/SIGHUP: leave now.
    Terminate,
}
