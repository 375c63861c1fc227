//! On-disk state ckpt owns: the native run manifest (`.ckpt/manifest.json`, DESIGN §2)
//! and, for foreign runs, `.ckpt/state.json` (pins, held best, known hashes).
//!
//! Unknown fields are kept on write (`extra`), so a newer ckpt's data survives an
//! older one's rewrite. Reading and validating lives in [`super::read`], writing in the
//! engine's commit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rank::{MetricSpec, RetentionPolicy};

pub const MANIFEST_FORMAT: &str = "ckpt-manifest";
pub(crate) const STATE_FORMAT: &str = "ckpt-state";
pub const MANIFEST_VERSION: u32 = 1;

/// Which checkpoint is best, and whether a promote holds it there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestRef {
    pub epoch: u64,
    #[serde(default)]
    pub held: bool,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One checkpoint entry of a native manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub epoch: u64,
    #[serde(default)]
    pub step: Option<u64>,
    /// Manifest path: one file name, or `trash/<dir>/<name>` for archived entries
    /// (checked by [`super::path::ManifestPath`]).
    pub path: String,
    pub bytes: u64,
    pub hash: String,
    /// Ranking metric; `null` in JSON when absent or not finite (then `metric_raw` says what it was).
    #[serde(default)]
    pub metric: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_raw: Option<String>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    pub saved_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub pinned: bool,
    /// The process that wrote it (absent in manifests written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_by: Option<SavedBy>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Who wrote a checkpoint (DESIGN §2, §6): the saving process on its host. For a
/// `ckpt save` child, `ppid`/`parent_cmd` name the trainer that spawned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBy {
    pub host: String,
    pub pid: u32,
    #[serde(default)]
    pub ppid: u32,
    /// Command line, arguments joined by spaces (bounded).
    #[serde(default)]
    pub cmd: String,
    /// Command line of the parent (bounded), when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_cmd: Option<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl SavedBy {
    /// True when the saving process was the `ckpt save` command (then its parent is
    /// the trainer), false for a trainer that saved in-process (Python, `ckpt demo`).
    pub fn is_cli_save(&self) -> bool {
        let mut args = self.cmd.split_whitespace();
        let prog = args.next().unwrap_or("");
        let prog = prog.rsplit('/').next().unwrap_or(prog);
        prog == "ckpt" && args.find(|a| !a.starts_with('-')) == Some("save")
    }

    /// The trainer: (pid, command line). The parent of a `ckpt save` child, else the
    /// saving process itself.
    pub fn trainer(&self) -> (u32, &str) {
        if self.is_cli_save() && self.ppid > 1 {
            (self.ppid, self.parent_cmd.as_deref().unwrap_or(""))
        } else {
            (self.pid, &self.cmd)
        }
    }
}

impl Entry {
    /// True for an entry archived under `.ckpt/trash/` (judged by its checked path).
    pub(crate) fn is_trashed(&self) -> bool {
        super::path::is_trashed(&self.path)
    }

    /// The metric as the engine ranks it: NaN when the raw text said so.
    pub fn rank_value(&self) -> Option<f64> {
        match (self.metric, &self.metric_raw) {
            (Some(v), _) => Some(v),
            (None, Some(raw)) => raw.trim().parse::<f64>().ok(),
            (None, None) => None,
        }
    }
}

/// One save as the run's history remembers it: kept after its checkpoint is pruned,
/// so the monitor can chart every epoch the run has seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub epoch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Ranking metric; `null` when absent or not finite.
    #[serde(default)]
    pub metric: Option<f64>,
    pub saved_at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Most entries `Manifest::history` holds; past it the older half is thinned (every
/// other entry dropped), so a long run keeps its whole shape at a coarser grain and
/// the manifest stays small (it is rewritten on every save).
pub const MAX_HISTORY: usize = 2048;

/// `.ckpt/manifest.json` of a native run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub metric: Option<MetricSpec>,
    #[serde(default)]
    pub policy: RetentionPolicy,
    /// File extension of checkpoint files, e.g. ".pth.tar".
    #[serde(default = "default_ext")]
    pub ext: String,
    #[serde(default)]
    pub best: Option<BestRef>,
    #[serde(default)]
    pub last: Option<u64>,
    #[serde(default)]
    pub checkpoints: Vec<Entry>,
    /// Every save, in order (bounded by [`MAX_HISTORY`]), pruned ones included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    /// Remember a save in the history; thins the older half when it is full.
    pub fn record_history(&mut self, entry: HistoryEntry) {
        self.history.push(entry);
        if self.history.len() > MAX_HISTORY {
            let half = self.history.len() / 2;
            let mut i = 0usize;
            self.history.retain(|_| {
                i += 1;
                // Keep the first entry, every other one of the older half, all newer.
                i > half || i % 2 == 1
            });
        }
    }
}

pub(crate) fn default_ext() -> String {
    ".pth.tar".to_string()
}

/// `.ckpt/state.json` of a foreign (timm/lightning/hf) run: what ckpt adds to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ForeignState {
    pub format: String,
    pub version: u32,
    /// Checkpoint names (as in `Checkpoint::name`) that are pinned.
    #[serde(default)]
    pub pinned: Vec<String>,
    /// Checkpoint name promoted to best and held until released.
    #[serde(default)]
    pub best_held: Option<String>,
    /// Known content hashes by checkpoint name.
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
    /// Every file of a checkpoint directory (hf `checkpoint-N/`) as it was when made
    /// durable, by checkpoint name: `verify` re-hashes against it, a scan compares sizes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, DirRecord>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The files of one checkpoint directory as recorded when it was made durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DirRecord {
    pub recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Path relative to the checkpoint directory → size and content hash.
    pub files: BTreeMap<String, FileRecord>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl DirRecord {
    /// How a checkpoint directory differs from this record by size alone (no bytes
    /// read): the first recorded file that is missing or has another size, as
    /// (path, reason).
    pub(crate) fn size_mismatch(
        &self,
        dir: &std::path::Path,
    ) -> Option<(std::path::PathBuf, String)> {
        for (rel, f) in &self.files {
            let p = dir.join(rel);
            let reason = match std::fs::symlink_metadata(&p) {
                Err(_) => format!("{rel} is missing (recorded {} bytes)", f.bytes),
                Ok(md) if !md.is_file() => format!("{rel} is no longer a regular file"),
                Ok(md) if md.len() != f.bytes => format!(
                    "{rel} has {} bytes, recorded {} (truncated or overwritten)",
                    md.len(),
                    f.bytes
                ),
                Ok(_) => continue,
            };
            return Some((p, reason));
        }
        None
    }
}

/// One recorded file: its size and `xxh3-128:` content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub bytes: u64,
    pub hash: String,
}
