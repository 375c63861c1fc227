//! Layouts: how a run names things (DESIGN §4). Each layout scans a run directory
//! into one [`RunSnapshot`] and says which file names carry its roles.

pub mod native;

use std::path::Path;

use serde::Serialize;

use crate::snapshot::RunSnapshot;
use crate::Result;

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

/// Guess the layout of `dir`; `None` when nothing ckpt can read is there.
pub fn detect(dir: &Path) -> Option<LayoutKind> {
    let _ = dir;
    todo!("layout detection (issue 5)")
}

/// Scan `dir` into a snapshot, detecting the layout unless `layout` is given.
pub fn scan(dir: &Path, layout: Option<LayoutKind>) -> Result<RunSnapshot> {
    let _ = (dir, layout);
    todo!("layout scan (issue 5)")
}

/// Runs found at or below `dir` (for `ckpt watch runs/`): `dir` itself if it is a
/// run, else its run subdirectories (a few levels deep), sorted by path.
pub fn discover_runs(dir: &Path) -> Vec<std::path::PathBuf> {
    let _ = dir;
    todo!("run discovery (issue 5)")
}

/// Check one checkpoint file's internal integrity without trusting it: every member's
/// CRC32 for a torch zip, the header against the file size for safetensors.
/// Returns `Some(reason)` when damaged, `None` when intact or of an unknown format.
pub fn check_file_integrity(path: &Path) -> Option<String> {
    let _ = path;
    None
}
