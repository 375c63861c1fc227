//! Layouts: how a run names things (DESIGN §4). Each layout scans a run directory
//! into one [`RunSnapshot`] and says which file names carry its roles.

pub mod common;
pub mod hf;
pub(crate) mod lightning;
pub mod native;
pub(crate) mod timm;
pub(crate) mod trash;

use std::path::{Path, PathBuf};

use crate::snapshot::{AliasFiles, LayoutKind, RunSnapshot};
use crate::{Error, Result};

/// Guess the layout of `dir`; `None` when nothing ckpt can read is there.
///
/// `.ckpt/manifest.json` means native, even when the names also look like timm (a
/// foreign run ckpt has acted on gets `.ckpt/state.json`, never a manifest).
pub fn detect(dir: &Path) -> Option<LayoutKind> {
    match std::fs::symlink_metadata(dir.join(".ckpt")) {
        // A `.ckpt` that is a symlink or a file is ckpt's state gone wrong, never a
        // foreign run's: reading it as one (its names look like timm's) would hide that;
        // `ckpt doctor` says what it is and how to fix it.
        Ok(md) if !md.is_dir() => return Some(LayoutKind::Ckpt),
        Ok(_) if dir.join(".ckpt").join("manifest.json").is_file() => {
            return Some(LayoutKind::Ckpt)
        }
        _ => {}
    }
    let entries = common::list_types(dir).ok()?;
    if hf::looks_like(&entries) {
        return Some(LayoutKind::Hf);
    }
    if timm::looks_like(&entries) {
        return Some(LayoutKind::Timm);
    }
    if lightning::looks_like(dir, &entries) {
        return Some(LayoutKind::Lightning);
    }
    None
}

/// Scan `dir` into a snapshot, detecting the layout unless `layout` is given.
pub fn scan(dir: &Path, layout: Option<LayoutKind>) -> Result<RunSnapshot> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::NoRun {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(Error::NoRun {
            path: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let kind = match layout.or_else(|| detect(dir)) {
        Some(k) => k,
        None => {
            return Err(Error::NoRun {
                path: dir.to_path_buf(),
                reason: "no checkpoints of a known layout (ckpt, timm, lightning, hf); \
                         pass --layout to choose one"
                    .into(),
            })
        }
    };
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut snap = match kind {
        LayoutKind::Ckpt => native::scan(&canonical),
        LayoutKind::Timm => timm::scan(&canonical),
        LayoutKind::Lightning => lightning::scan(&canonical),
        LayoutKind::Hf => hf::scan(&canonical),
    }?;
    snap.trash_bytes = trash::trash_bytes(&snap.run);
    for w in &mut snap.warnings {
        *w = crate::units::cut_long_tokens(w, crate::units::WARNING_TOKEN_MAX);
    }
    Ok(snap)
}

/// The alias files of a scanned foreign run, as its layout names them (timm
/// `model_best<ext>`/`last<ext>`, Lightning `best.ckpt`/`last.ckpt`, hf none). A native
/// run's come from its manifest's extension (see `native::scan`).
pub(crate) fn foreign_alias_files(snap: &RunSnapshot) -> AliasFiles {
    match snap.layout {
        LayoutKind::Timm => timm::alias_files(snap),
        LayoutKind::Lightning => lightning::alias_files(snap),
        LayoutKind::Ckpt | LayoutKind::Hf => AliasFiles::default(),
    }
}

/// How deep [`discover_runs`] looks below the directory it is given.
const DISCOVER_DEPTH: usize = 3;

/// Runs found at or below `dir` (for `ckpt watch runs/`): `dir` itself if it is a
/// run, else its run subdirectories (a few levels deep), sorted by path. A Lightning
/// logger directory with several `version_N` runs yields each of them.
pub fn discover_runs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    discover(dir, 0, &mut out);
    out.sort();
    out.dedup();
    out
}

fn discover(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if let Some(kind) = detect(dir) {
        let versions = lightning::version_dirs(dir);
        if kind == LayoutKind::Lightning
            && !dir.join("checkpoints").is_dir()
            && !versions.is_empty()
        {
            out.extend(versions);
        } else {
            out.push(dir.to_path_buf());
        }
        return;
    }
    if depth >= DISCOVER_DEPTH {
        return;
    }
    let Ok(entries) = common::list_types(dir) else {
        return;
    };
    // lstat-based: symlinked directories are not entered (no loops).
    for e in entries
        .iter()
        .filter(|e| e.is_dir() && !e.name.starts_with('.'))
    {
        discover(&dir.join(&e.name), depth + 1, out);
    }
}

/// Check one checkpoint file's internal integrity without trusting it: every member's
/// CRC32 for a torch zip, the header against the file size for safetensors.
/// Returns `Some(reason)` when damaged, `None` when intact or of an unknown format.
pub fn check_file_integrity(path: &Path) -> Option<String> {
    check_file_integrity_report(path).0
}

/// [`check_file_integrity`], plus what it could not check (zip members compressed
/// with a method ckpt cannot inflate), so `verify` can say so.
pub(crate) fn check_file_integrity_report(path: &Path) -> (Option<String>, Vec<String>) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return (Some(format!("cannot read: {e}")), Vec::new()),
    };
    if !meta.is_file() {
        return (None, Vec::new());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".safetensors") {
        return (crate::formats::safetensors::check(path).err(), Vec::new());
    }
    if meta.len() == 0 {
        return (Some("zero-byte file".into()), Vec::new());
    }
    let torch_ext = [".pth.tar", ".pth", ".pt", ".ckpt", ".bin", ".tar"]
        .iter()
        .any(|e| name.ends_with(e));
    if crate::formats::torchzip::looks_like_zip(path) || (torch_ext && looks_truncated_zip(path)) {
        return match crate::formats::torchzip::verify_file(path) {
            Ok(unchecked) => (None, unchecked),
            Err(e) => (Some(e.to_string()), Vec::new()),
        };
    }
    (None, Vec::new())
}

/// A torch-named file that is too short to even hold a zip's local header.
fn looks_truncated_zip(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() < 4)
}
