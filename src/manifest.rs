//! On-disk state ckpt owns: the native run manifest (`.ckpt/manifest.json`, DESIGN §2)
//! and, for foreign runs, `.ckpt/state.json` (pins, held best, known hashes).
//!
//! Unknown fields are kept on write (`extra`), so a newer ckpt's data survives an
//! older one's rewrite. Reading and validating lives in `engine::manifest_io`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rank::{MetricSpec, RetentionPolicy};

pub const MANIFEST_FORMAT: &str = "ckpt-manifest";
pub const STATE_FORMAT: &str = "ckpt-state";
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
    /// Relative path: a single component, or `trash/…` for archived entries.
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
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Entry {
    /// The metric as the engine ranks it: NaN when the raw text said so.
    pub fn rank_value(&self) -> Option<f64> {
        match (self.metric, &self.metric_raw) {
            (Some(v), _) => Some(v),
            (None, Some(raw)) => raw.trim().parse::<f64>().ok(),
            (None, None) => None,
        }
    }
}

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
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

pub fn default_ext() -> String {
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
    pub fn size_mismatch(&self, dir: &std::path::Path) -> Option<(std::path::PathBuf, String)> {
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
