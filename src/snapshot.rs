//! One read-only picture of a run, whatever its layout: what the CLI prints, the
//! monitor draws, and the engine plans against.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::rank::MetricSpec;
pub use crate::rank::Role;

/// The naming scheme of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// Written by ckpt's engine (`.ckpt/manifest.json`).
    Ckpt,
    /// timm `CheckpointSaver`.
    Timm,
    /// Lightning `ModelCheckpoint`.
    Lightning,
    /// transformers `Trainer`.
    Hf,
}

impl LayoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::Ckpt => "ckpt",
            LayoutKind::Timm => "timm",
            LayoutKind::Lightning => "lightning",
            LayoutKind::Hf => "hf",
        }
    }
}

impl std::str::FromStr for LayoutKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ckpt" | "native" => Ok(LayoutKind::Ckpt),
            "timm" => Ok(LayoutKind::Timm),
            "lightning" | "pl" => Ok(LayoutKind::Lightning),
            "hf" | "transformers" => Ok(LayoutKind::Hf),
            other => Err(format!(
                "unknown layout {other:?}; expected one of ckpt, timm, lightning, hf"
            )),
        }
    }
}

/// Whether a checkpoint's data can be trusted right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointState {
    /// Fully written.
    #[default]
    Complete,
    /// A temp file for it is present: a writer is mid-save.
    Writing,
    /// Known bad (missing, truncated, hash or CRC mismatch); the reason is in `damage`.
    Damaged,
}

/// One saved training state: a file, or a directory (HF).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Checkpoint {
    /// Stable key within the run: the primary file or directory name (relative).
    pub name: String,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Batch index for recovery saves.
    pub batch: Option<u64>,
    /// The ranking metric's value; may be NaN/inf (never ranks as best then).
    #[serde(skip)]
    pub metric: Option<f64>,
    /// The metric as written in the source when it was not a finite number ("nan", "inf", "abc").
    pub metric_raw: Option<String>,
    /// Other metrics known for this checkpoint (e.g. eval_loss).
    pub metrics: BTreeMap<String, f64>,
    /// Total bytes (sum of files for a directory checkpoint).
    pub bytes: u64,
    /// Files that hold this checkpoint, relative to the run dir (primary first).
    pub paths: Vec<PathBuf>,
    /// Last modification time.
    pub mtime: Option<chrono::DateTime<chrono::Utc>>,
    pub roles: Vec<Role>,
    pub pinned: bool,
    pub state: CheckpointState,
    /// Why it is damaged, when `state == Damaged`.
    pub damage: Option<String>,
    /// Content hash from the manifest (native runs), e.g. "xxh3-128:…".
    pub hash: Option<String>,
    /// Inode and device of the primary file; used to count bytes freed by inode.
    #[serde(skip)]
    pub inode: Option<(u64, u64)>,
    /// The process that wrote it (native runs whose manifest records it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<crate::store::manifest::SavedBy>,
}

impl Checkpoint {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The metric only when it is a finite number.
    pub fn finite_metric(&self) -> Option<f64> {
        self.metric.filter(|m| m.is_finite())
    }
}

/// How an alias holds its checkpoint (in JSON the lowercase word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AliasHow {
    /// A second name for the checkpoint's inode.
    Hardlink,
    /// A copy-on-write clone.
    Reflink,
    /// An independent byte copy.
    Copy,
    /// A symbolic link to the checkpoint.
    Symlink,
    /// Not known (yet): the target is missing or the scanner could not tell.
    #[default]
    Unknown,
    /// The alias file is the only copy of its state and is listed as a checkpoint.
    File,
    /// A best recorded by the trainer or by `.ckpt/state.json`; no alias file.
    Record,
    /// Lightning's best computed from the metric.
    Ranking,
    /// hf's last: the highest step.
    Newest,
}

impl AliasHow {
    pub fn as_str(self) -> &'static str {
        match self {
            AliasHow::Hardlink => "hardlink",
            AliasHow::Reflink => "reflink",
            AliasHow::Copy => "copy",
            AliasHow::Symlink => "symlink",
            AliasHow::Unknown => "unknown",
            AliasHow::File => "file",
            AliasHow::Record => "record",
            AliasHow::Ranking => "ranking",
            AliasHow::Newest => "newest",
        }
    }
}

impl std::fmt::Display for AliasHow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alias file (`last.pth.tar`, `model_best.pth.tar`, `last.ckpt`, …) and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alias {
    pub role: Role,
    /// Path of the alias file relative to the run dir.
    pub path: PathBuf,
    /// `name` of the checkpoint it resolves to, when known.
    pub target: Option<String>,
    /// Epoch it holds (may be known even when no listed checkpoint matches, e.g.
    /// timm's `last.pth.tar` being the only copy of its epoch).
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// How the alias is realised (see [`AliasHow`]).
    pub how: AliasHow,
    /// For `best`: held by a promote until released.
    pub held: bool,
}

impl Alias {
    /// An alias file whose target is not known yet (scanners fill it in).
    pub(crate) fn unresolved(role: Role, path: &std::path::Path) -> Alias {
        Alias {
            role,
            path: path.to_path_buf(),
            target: None,
            epoch: None,
            step: None,
            how: AliasHow::Unknown,
            held: false,
        }
    }
}

/// The files that realise the `best` and `last` roles of a run, relative to the run
/// dir, as its layout names them (the scan fills them in; engine and monitor read them
/// here). `None` where a layout has no file for the role (hf: best is a record, last is
/// the highest step).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AliasFiles {
    pub best: Option<PathBuf>,
    pub last: Option<PathBuf>,
}

/// One value of the ranking metric the run has seen: a save (pruned ones included) or
/// an evaluation its trainer logged, whether or not a checkpoint of it still exists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPoint {
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// Always finite (non-finite values are left out of the history).
    pub value: f64,
    /// When it was saved, when the source says.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

impl MetricPoint {
    /// Where it goes on a chart's x axis: the epoch, else the step.
    pub fn x(&self) -> Option<u64> {
        self.epoch.or(self.step)
    }
}

/// Most history points a snapshot keeps (the newest win); a chart needs far fewer.
pub(crate) const MAX_HISTORY_POINTS: usize = 100_000;

/// Everything known about a run at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSnapshot {
    /// The run directory (as given, canonicalised when possible).
    pub run: PathBuf,
    pub layout: LayoutKind,
    pub metric: Option<MetricSpec>,
    /// Checkpoints in ascending (epoch, step) order.
    pub checkpoints: Vec<Checkpoint>,
    pub best: Option<Alias>,
    pub last: Option<Alias>,
    /// Temp files present (a save is in flight, or a writer died).
    pub temps: Vec<PathBuf>,
    /// Things that look wrong but did not stop the scan.
    pub warnings: Vec<String>,
    pub scanned_at: chrono::DateTime<chrono::Utc>,
    /// The retention the trainer itself was told to apply (timm `checkpoint_hist`, HF
    /// `save_total_limit`): what `prune` with no flags keeps on a foreign run. `None`
    /// when the run records none (and always for native runs, whose manifest has one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_policy: Option<crate::rank::RetentionPolicy>,
    /// Bytes under the run's `.ckpt/trash/` (each inode once): part of the run's disk
    /// use (DESIGN §5); `ckpt trash` lists what they are.
    pub trash_bytes: u64,
    /// What the trainer itself recorded (its best), and which checkpoints' metadata
    /// could not be read: retention protects both (DESIGN §1).
    pub trainer_record: TrainerRecord,
    /// Every metric value the run has seen, by epoch (or step), ascending: the native
    /// manifest's save history, timm's `summary.csv`, Lightning's `metrics.csv`, the HF
    /// Trainer's `log_history`. Empty when the layout records none; see
    /// [`RunSnapshot::metric_history`] for the merged view.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<MetricPoint>,
    /// The alias files a mutation writes for best and last (see [`AliasFiles`]).
    #[serde(skip)]
    pub alias_files: AliasFiles,
}

/// What a foreign run's trainer recorded about its checkpoints, as far as it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct TrainerRecord {
    /// The checkpoint the trainer records as its best (hf `best_model_checkpoint`, timm
    /// saver `best_epoch`, Lightning `ModelCheckpoint.best_model_path`): never pruned,
    /// whatever ckpt's own `best` says.
    pub best: Option<String>,
    /// Checkpoints whose metadata (and so metric) could not be read, with why: no
    /// metric rule ranks them worse or prunes them.
    pub unreadable: BTreeMap<String, String>,
    /// Files the trainer treats specially, or whose name it would not read the way a
    /// guess would (Lightning `last-vN.ckpt` resume aliases, `checkpoint-+8`,
    /// `checkpoint-007` next to `checkpoint-7`): listed here with why, never ranked,
    /// never pruned.
    pub unmanaged: BTreeMap<String, String>,
}

impl RunSnapshot {
    /// Find a checkpoint by its name, epoch, or (for step-named layouts) step.
    ///
    /// A number matches an epoch first, then a step; anything else matches a
    /// checkpoint's name or any of its paths' file names.
    pub fn find(&self, selector: &str) -> Option<&Checkpoint> {
        let sel = selector.trim().trim_end_matches('/');
        if let Ok(n) = sel.parse::<u64>() {
            let regular = |c: &&Checkpoint| !c.has_role(Role::Recovery);
            if let Some(c) = self
                .checkpoints
                .iter()
                .filter(regular)
                .rfind(|c| c.epoch == Some(n))
            {
                return Some(c);
            }
            return self
                .checkpoints
                .iter()
                .filter(regular)
                .rfind(|c| c.step == Some(n) && c.epoch.is_none());
        }
        let file = std::path::Path::new(sel)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.checkpoints.iter().find(|c| {
            c.name == sel
                || c.name == file
                || c.paths.iter().any(|p| {
                    p.file_name()
                        .is_some_and(|f| f.to_string_lossy() == file.as_str())
                })
        })
    }

    /// Rank (1 = best) of each checkpoint, in `checkpoints` order: only complete,
    /// non-recovery checkpoints with a finite metric are ranked; ties keep the
    /// earlier checkpoint ahead. The one ranking the CLI and the monitor show.
    pub(crate) fn ranks(&self) -> Vec<Option<usize>> {
        let mode = self.metric.as_ref().map(|m| m.mode).unwrap_or_default();
        let metrics: Vec<Option<f64>> = self
            .checkpoints
            .iter()
            .map(|c| {
                let eligible = c.state == CheckpointState::Complete && !c.has_role(Role::Recovery);
                c.metric.filter(|_| eligible)
            })
            .collect();
        let mut ranks = vec![None; self.checkpoints.len()];
        for (r, i) in crate::rank::ranked(&metrics, mode).into_iter().enumerate() {
            ranks[i] = Some(r + 1);
        }
        ranks
    }

    /// The checkpoint holding a role, if any.
    pub fn with_role(&self, role: Role) -> Option<&Checkpoint> {
        self.checkpoints.iter().find(|c| c.has_role(role))
    }

    /// The metric over the whole run, one point per epoch (or step), ascending: the
    /// recorded history, plus every listed checkpoint the history lacks (a run whose
    /// history predates it). Recovery saves and non-finite values are left out.
    pub fn metric_history(&self) -> Vec<MetricPoint> {
        let point = |c: &Checkpoint| {
            let eligible = !c.has_role(Role::Recovery) && c.state != CheckpointState::Writing;
            Some(MetricPoint {
                epoch: c.epoch,
                step: c.step,
                value: c.finite_metric().filter(|_| eligible)?,
                at: c.mtime,
            })
        };
        let mut out: Vec<MetricPoint> = self
            .history
            .iter()
            .filter(|p| p.x().is_some() && p.value.is_finite())
            .cloned()
            .collect();
        // Stable: for a repeated x the newest record is the last one; keep it.
        out.sort_by_key(|p| p.x());
        out.reverse();
        out.dedup_by_key(|p| p.x());
        out.reverse();
        let recorded = out.len();
        for c in &self.checkpoints {
            if let Some(p) = point(c) {
                if out[..recorded]
                    .binary_search_by_key(&p.x(), |q| q.x())
                    .is_err()
                {
                    out.push(p);
                }
            }
        }
        if out.len() > recorded {
            out.sort_by_key(|p| p.x());
            out.dedup_by_key(|p| p.x());
        }
        out
    }

    /// Total bytes of all checkpoints (counted once per inode).
    pub fn total_bytes(&self) -> u64 {
        let mut seen = std::collections::HashSet::new();
        self.checkpoints
            .iter()
            .filter(|c| c.inode.is_none_or(|i| seen.insert(i)))
            .map(|c| c.bytes)
            .sum()
    }
}
