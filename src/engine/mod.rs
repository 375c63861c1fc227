//! The save engine: every mutation of a run goes through here (DESIGN §3).
//!
//! Open a [`Run`], then call an operation. Reads (`snapshot`) take no lock; every
//! mutation enters through `mutation` (run lock, sweep of dead writers' temps, a native
//! manifest with any interrupted operation finished) and commits in the order data →
//! manifest → unlink → dir fsync (`commit`).
//!
//! Files: `mutation` (the one entry), `commit` (manifest and state writes, pending
//! intents, alias re-pointing), `fault` (the test seam every filesystem step passes),
//! `atomic` (temp + fsync + rename + dir fsync), `hash`, `alias` (hardlink → reflink →
//! copy), `lock`; one file per operation: `save`, `prune`, `pin`, `promote`, `restore`,
//! `trash`, `verify`, `doctor`; `foreign` holds what may be deleted or overwritten in a
//! foreign run, `foreign/opsfs` the filesystem steps those operations share.

pub mod alias;
pub mod atomic;
pub mod commit;
pub mod dir_record;
pub(crate) mod doctor;
pub mod doctor_state;
pub(crate) mod export;
pub mod fault;
pub mod foreign;
pub mod hash;
pub mod lock;
pub mod metric_choice;
pub(crate) mod mutation;
pub(crate) mod only_copy;
pub(crate) mod pin;
pub(crate) mod promote;
pub(crate) mod prune;
pub(crate) mod reclaim;
pub(crate) mod restore;
pub mod run_files;
pub mod save;
pub(crate) mod saved_by;
pub mod trash;
pub(crate) mod verify;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::rank::KeepReason;
use crate::rank::{MetricSpec, RetentionPolicy};
use crate::snapshot::LayoutKind;
use crate::snapshot::RunSnapshot;
use crate::Result;

/// Called once when a mutation starts waiting for a run lock another process holds.
pub(crate) type LockWaitFn = std::sync::Arc<dyn Fn(&lock::LockHolder) + Send + Sync>;

/// Knobs shared by all operations.
#[derive(Clone)]
pub struct EngineOptions {
    /// How long a mutation waits for the run lock (DESIGN rule 1; default 60 s).
    pub lock_timeout: Duration,
    /// Extension for new native checkpoint files (default ".pth.tar").
    pub ext: String,
    /// Told who holds the run lock when a mutation has to wait for it (DESIGN §3.1).
    pub on_lock_wait: Option<LockWaitFn>,
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("lock_timeout", &self.lock_timeout)
            .field("ext", &self.ext)
            .field("on_lock_wait", &self.on_lock_wait.as_ref().map(|_| "Fn"))
            .finish()
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lock_timeout: Duration::from_secs(60),
            ext: ".pth.tar".into(),
            on_lock_wait: None,
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
pub(crate) type ProgressFn<'a> = &'a mut dyn FnMut(&Progress);

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
    /// Expected size of a stream or writer source, for the free-space preflight (rule 6);
    /// `None` = the previous checkpoint's size. A file source's own size always wins.
    pub size_hint: Option<u64>,
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
    /// How the aliases were realised.
    /// `None` when an alias name is taken by something ckpt does not replace (JSON
    /// `"none"`).
    #[serde(serialize_with = "alias::serialize_strategy")]
    pub alias_strategy: Option<alias::AliasStrategy>,
    /// What the caller may not expect and should be told (printed by the CLI, in
    /// `--json` and in Python's result).
    pub notes: Vec<SaveNote>,
}

/// Something a save did that a user may not expect.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SaveNote {
    /// The epoch saved is lower than the run's previous `last`, which now points back at
    /// it: a resumed trainer starts from this epoch.
    EarlierThanLast { epoch: u64, previous_last: u64 },
    /// A file with the checkpoint's name was on disk but not in the manifest (left by an
    /// interrupted save, or copied in by hand); the save replaced it.
    ReplacedUnlistedFile { name: String, bytes: u64 },
}

impl std::fmt::Display for SaveNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveNote::EarlierThanLast {
                epoch,
                previous_last,
            } => write!(
                f,
                "epoch {epoch} is lower than the previous last (epoch {previous_last}): `last` now \
                 points at epoch {epoch}, so a resumed trainer starts from it \
                 (restoring epoch {previous_last} points it back)"
            ),
            SaveNote::ReplacedUnlistedFile { name, bytes } => write!(
                f,
                "{name} ({}) was on disk but not in the manifest (left by an interrupted save, \
                 or copied in by hand); it was replaced",
                crate::units::human_bytes(*bytes)
            ),
        }
    }
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
    ///
    /// A directory with `.ckpt/manifest.json` is a native run. Opening reads nothing
    /// else, so a run with a corrupt manifest can still be opened for `doctor`.
    pub fn open(dir: &Path, layout: Option<LayoutKind>, options: EngineOptions) -> Result<Run> {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(crate::Error::NoRun {
                    path: dir.to_path_buf(),
                    reason: "not a directory".into(),
                })
            }
            Err(e) => {
                return Err(crate::Error::NoRun {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                })
            }
        }
        let has_manifest = crate::store::manifest_path(dir).is_file();
        let layout = match layout {
            Some(LayoutKind::Ckpt) if !has_manifest => {
                return Err(crate::Error::NoRun {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "{} does not exist; `ckpt save` creates a native run",
                        crate::store::manifest_path(dir).display()
                    ),
                })
            }
            Some(l) => l,
            None if has_manifest => LayoutKind::Ckpt,
            None => crate::layout::detect(dir).ok_or_else(|| crate::Error::NoRun {
                path: dir.to_path_buf(),
                reason: "no .ckpt/manifest.json and no timm, Lightning or HF checkpoints".into(),
            })?,
        };
        Ok(Run {
            dir: resolved_run_dir(dir, layout),
            layout,
            options,
        })
    }

    /// Open a native run, creating `dir`, `.ckpt/`, `.ckpt/trash/` and an empty
    /// manifest when missing (under the run lock, so concurrent creators agree).
    /// Refuses a directory that already holds a foreign run.
    pub fn open_or_create(dir: &Path, options: EngineOptions) -> Result<Run> {
        if crate::store::manifest_path(dir).is_file() {
            return Run::open(dir, Some(LayoutKind::Ckpt), options);
        }
        let has_files = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().any(|e| e.file_name() != ".ckpt"))
            .unwrap_or(false);
        if has_files {
            if let Some(kind) = crate::layout::detect(dir).filter(|k| *k != LayoutKind::Ckpt) {
                return Err(crate::Error::WrongLayout(format!(
                    "{} is a {} run; ckpt saves only into native runs (a new directory, or one made by `ckpt save`)",
                    dir.display(),
                    kind.as_str()
                )));
            }
        }
        crate::store::state_files::check_state_dirs(dir)?;
        atomic::create_dir_durable(&crate::store::trash_dir(dir))?;
        let _lock = mutation::begin(dir, "create", &options)?;
        if !crate::store::manifest_path(dir).is_file() {
            commit::store_manifest(dir, &crate::store::new_manifest(&options.ext))?;
        }
        Ok(Run {
            dir: dir.to_path_buf(),
            layout: LayoutKind::Ckpt,
            options,
        })
    }

    /// Read the run as it is now (no lock).
    pub fn snapshot(&self) -> Result<RunSnapshot> {
        crate::layout::scan(&self.dir, Some(self.layout))
    }
}

/// The directory a layout's scan really reads for `dir`, so that every operation (pin
/// state, prune paths, aliases) agrees with the snapshot: a Lightning logger dir
/// (`lightning_logs/` holding `version_N/checkpoints/`) or a `checkpoints/` dir resolves
/// to its run (`snap.run`); every other layout reads `dir` itself.
fn resolved_run_dir(dir: &Path, layout: LayoutKind) -> PathBuf {
    if layout != LayoutKind::Lightning {
        return dir.to_path_buf();
    }
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let located = crate::layout::lightning::locate(&canonical, &mut Vec::new()).run;
    if located == canonical {
        dir.to_path_buf()
    } else {
        located
    }
}

/// Identity of a file at plan time; apply refuses to delete it if any of these changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileStamp {
    pub path: PathBuf,
    pub bytes: u64,
    pub mtime_ns: i128,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

/// One checkpoint the plan removes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Victim {
    /// `Checkpoint::name`.
    pub name: String,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Every file (or every file under the directory) that will be unlinked.
    pub files: Vec<FileStamp>,
    /// Bytes this removal actually frees (inodes whose last name goes).
    pub bytes_freed: u64,
}

/// A prune plan: pure data, shown to the user before anything is deleted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrunePlan {
    pub run: PathBuf,
    pub policy: RetentionPolicy,
    pub victims: Vec<Victim>,
    /// (checkpoint name, reasons) for each kept checkpoint.
    pub kept: Vec<(String, Vec<KeepReason>)>,
    pub bytes_freed: u64,
}

/// What applying a prune plan did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PruneReport {
    pub removed: Vec<String>,
    pub bytes_freed: u64,
    /// Victims left alone because they changed since the plan, with the reason.
    pub refused: Vec<(String, String)>,
}

/// Options of a restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Move checkpoints newer than the restored one to `.ckpt/trash/<time>/`.
    pub archive_newer: bool,
    /// Export an independent copy to this path instead of moving `last`.
    pub to: Option<PathBuf>,
    /// Overwrite `to` if it exists.
    pub force: bool,
}

/// A restore plan, shown before it is applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RestorePlan {
    pub run: PathBuf,
    /// Checkpoint that becomes the resume point (or is exported).
    pub target: String,
    pub epoch: Option<u64>,
    /// Alias file rewritten (e.g. last.pth.tar), or the export path.
    pub dest: PathBuf,
    /// The old `last` is the only copy of its state and will be backed up here first.
    pub backup: Option<PathBuf>,
    /// Checkpoints newer than the target (a resumed trainer will overwrite them).
    pub newer: Vec<String>,
    /// Where `newer` go when archiving (`None` = they stay).
    pub archive_dir: Option<PathBuf>,
    /// Bytes to copy (0 when a hardlink/rename suffices).
    pub bytes_to_copy: u64,
    /// `dest` is an export (`--to`): an independent copy; the run is not changed.
    pub export: bool,
    /// An export may replace an existing `dest` (`--force`).
    pub force: bool,
    /// Newer checkpoints that stay in place whatever `archive_dir` says, with why
    /// ("pinned", "held best"): a restore never moves them.
    pub kept_newer: Vec<(String, String)>,
    /// The target's step, for layouts that count steps (hf), so messages say "step N".
    pub step: Option<u64>,
    /// Epoch (or step) of the old `last` that `backup` keeps, when known.
    pub backup_epoch: Option<u64>,
}

/// What a promote did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromoteReport {
    pub target: String,
    pub epoch: Option<u64>,
    /// Alias path rewritten (None for layouts where best is a record only, e.g. hf).
    pub alias: Option<PathBuf>,
    /// The checkpoint that was best before, if any.
    pub previous: Option<String>,
    /// Where an alias file that was the only copy of its bytes was kept before it was
    /// rewritten (`.ckpt/trash/<time>/<alias name>`).
    pub backup: Option<PathBuf>,
}

/// What a promote will do, shown before it runs (CLI `--dry-run`, the monitor's dialog).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromotePlan {
    pub run: PathBuf,
    pub target: String,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// The alias file rewritten to hold best (`None`: hf, best is a record).
    pub alias: Option<PathBuf>,
    /// `alias` exists already (it is replaced, not created).
    pub alias_exists: bool,
    /// The best it replaces, if any.
    pub previous: Option<String>,
    /// `alias` is the only copy of its bytes: it is kept here first (in `.ckpt/trash/`).
    pub backup: Option<PathBuf>,
}

/// One problem found by verify.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyIssue {
    pub name: String,
    pub path: PathBuf,
    pub reason: String,
}

/// Result of re-checking every checkpoint's bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub run: PathBuf,
    pub checked: usize,
    pub bytes: u64,
    pub ok: Vec<String>,
    pub damaged: Vec<VerifyIssue>,
    /// Checkpoints or aliases counted in `ok` that need a word: e.g. after a crash an
    /// alias still holds the bytes an interrupted operation allows (`pending`), which
    /// the next mutation of the run finishes.
    pub notes: Vec<VerifyIssue>,
}

/// The verdict of one doctor check; ordered so that the worst is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }

    /// The worst status among `checks` (`Ok` when there are none).
    pub fn worst(checks: &[DoctorCheck]) -> CheckStatus {
        checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Ok)
    }
}

/// How `ckpt watch` would notice changes of a run, as doctor judges its filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DoctorWatchMode {
    #[serde(rename = "native events")]
    NativeEvents,
    #[serde(rename = "polling")]
    Polling,
}

impl DoctorWatchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DoctorWatchMode::NativeEvents => "native events",
            DoctorWatchMode::Polling => "polling",
        }
    }
}

impl std::fmt::Display for DoctorWatchMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a doctor report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorCheck {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

/// Preflight and health report of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    pub run: PathBuf,
    pub layout: LayoutKind,
    pub checks: Vec<DoctorCheck>,
    pub disk: Option<crate::disk::Headroom>,
    pub watch_mode: DoctorWatchMode,
    pub stale_temps: Vec<PathBuf>,
}
