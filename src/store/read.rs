//! Read and validate `.ckpt/manifest.json` and `.ckpt/state.json` (DESIGN §2).
//!
//! A corrupt file is an [`Error::CorruptManifest`] naming it and pointing to
//! `ckpt doctor`: never a panic, never a silent reset to an empty run.
//!
//! Crash consistency across several files: an operation that changes the manifest and
//! then other files (aliases, a replaced checkpoint, unlinks) first records a
//! [`Pending`] intent in the manifest (stored under the key `"pending"` of its unknown
//! fields, so the shared types stay unchanged). Until it is cleared, a file may hold
//! the hashes listed in `may_hold` besides its entry's. The engine's next mutation
//! finishes the job. An operation whose files all reached their final state (aliases
//! hardlinked to their entries) may leave its record in place instead of paying a
//! second fsynced write: such a record is [`is_settled`], allows nothing a file still
//! holds, and scans ignore it.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::manifest::{
    Entry, ForeignState, Manifest, MANIFEST_FORMAT, MANIFEST_VERSION, STATE_FORMAT,
};
use super::path::{check_rel_path, resolve};
use super::{alias_names, manifest_path, state_path};
use crate::{Error, Result};

/// An empty native manifest.
pub fn new_manifest(ext: &str) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.to_string(),
        version: MANIFEST_VERSION,
        metric: None,
        policy: Default::default(),
        ext: ext.to_string(),
        best: None,
        last: None,
        checkpoints: Vec::new(),
        history: Vec::new(),
        extra: BTreeMap::new(),
    }
}

pub(crate) fn corrupt(path: &Path, run: &Path, reason: impl Into<String>) -> Error {
    Error::CorruptManifest {
        path: path.to_path_buf(),
        run: run.to_path_buf(),
        reason: reason.into(),
    }
}

/// Validate a parsed manifest (format, version, paths, duplicate epochs).
pub fn validate_manifest(m: &Manifest, path: &Path, run: &Path) -> Result<()> {
    if m.format != MANIFEST_FORMAT {
        return Err(corrupt(
            path,
            run,
            format!("format is {:?}, expected {MANIFEST_FORMAT:?}", m.format),
        ));
    }
    if m.version != MANIFEST_VERSION {
        return Err(corrupt(
            path,
            run,
            format!(
                "unknown version {} (this ckpt reads version {MANIFEST_VERSION}; a newer ckpt may have written it)",
                m.version
            ),
        ));
    }
    if m.ext.contains('/') || m.ext.contains('\0') {
        return Err(corrupt(path, run, format!("bad extension {:?}", m.ext)));
    }
    let mut seen = std::collections::HashSet::new();
    let mut paths = std::collections::HashSet::new();
    for e in &m.checkpoints {
        check_rel_path(&e.path)
            .map_err(|r| corrupt(path, run, format!("epoch {}: {r}", e.epoch)))?;
        if !paths.insert(e.path.as_str()) {
            return Err(corrupt(
                path,
                run,
                format!("path {:?} is listed twice", e.path),
            ));
        }
        if !e.is_trashed() && !seen.insert(e.epoch) {
            return Err(corrupt(
                path,
                run,
                format!("epoch {} is listed twice", e.epoch),
            ));
        }
    }
    if let Some(p) = pending(m).map_err(|r| corrupt(path, run, r))? {
        for f in p.may_hold.keys().chain(p.unlink.iter()) {
            check_rel_path(f).map_err(|r| corrupt(path, run, format!("pending: {r}")))?;
        }
        if let Some(r) = &p.replace {
            check_rel_path(&r.entry.path)
                .map_err(|e| corrupt(path, run, format!("pending: {e}")))?;
        }
    }
    Ok(())
}

/// Parse and validate manifest text read from `path`.
pub fn parse_manifest(text: &[u8], path: &Path, run: &Path) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(text)
        .map_err(|e| corrupt(path, run, format!("not a valid manifest: {e}")))?;
    validate_manifest(&m, path, run)?;
    Ok(m)
}

/// Load the manifest of `run`; `Ok(None)` when there is none.
pub fn try_load_manifest(run: &Path) -> Result<Option<Manifest>> {
    let path = manifest_path(run);
    match super::state_files::read_state_file(run, "manifest.json")? {
        Some(bytes) => parse_manifest(&bytes, &path, run).map(Some),
        None => Ok(None),
    }
}

/// Load the manifest of `run`; [`Error::NoRun`] when there is none.
pub fn load_manifest(run: &Path) -> Result<Manifest> {
    try_load_manifest(run)?.ok_or_else(|| Error::NoRun {
        path: run.to_path_buf(),
        reason: format!("{} does not exist", manifest_path(run).display()),
    })
}

/// Parse `.ckpt/state.json` text without checking its format and version: what a scan
/// uses (it only reads pins from it; a bad file becomes a warning there).
pub(crate) fn parse_state_lenient(
    bytes: &[u8],
) -> std::result::Result<ForeignState, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Load `.ckpt/state.json` of a foreign run; an empty state when missing.
pub fn load_state(run: &Path) -> Result<ForeignState> {
    let path = state_path(run);
    let bytes = match super::state_files::read_state_file(run, "state.json")? {
        Some(b) => b,
        None => {
            return Ok(ForeignState {
                format: STATE_FORMAT.to_string(),
                version: MANIFEST_VERSION,
                ..Default::default()
            })
        }
    };
    let s = parse_state_lenient(&bytes)
        .map_err(|e| corrupt(&path, run, format!("not a valid state file: {e}")))?;
    if s.format != STATE_FORMAT {
        return Err(corrupt(
            &path,
            run,
            format!("format is {:?}, expected {STATE_FORMAT:?}", s.format),
        ));
    }
    if s.version != MANIFEST_VERSION {
        return Err(corrupt(
            &path,
            run,
            format!("unknown version {}", s.version),
        ));
    }
    Ok(s)
}

/// An operation caught between its steps (see the module doc).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Pending {
    /// Which operation recorded it ("save", "promote", …).
    pub operation: String,
    /// File name (manifest path) → hashes it may hold besides its entry's until the
    /// operation finishes (aliases being re-pointed, a checkpoint being replaced).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub may_hold: BTreeMap<String, Vec<String>>,
    /// Hash (of `may_hold`) → the epoch whose bytes those were: lets a reader name what
    /// an alias still holds after a crash, even when that version was since replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub epochs: BTreeMap<String, u64>,
    /// An entry replacing the one with the same path once that file has this inode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<PendingReplace>,
    /// Files the manifest no longer lists, still to be unlinked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlink: Vec<String>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The new entry of a checkpoint being replaced in place, identified by inode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingReplace {
    pub entry: Entry,
    pub dev: u64,
    pub ino: u64,
}

impl Pending {
    /// Allow `file` to hold `hash` (the bytes of `epoch`) until the operation finishes.
    pub(crate) fn allow(&mut self, file: &str, hash: &str, epoch: u64) {
        let v = self.may_hold.entry(file.to_string()).or_default();
        if !v.iter().any(|h| h == hash) {
            v.push(hash.to_string());
        }
        self.epochs.insert(hash.to_string(), epoch);
    }
}

pub(crate) const PENDING_KEY: &str = "pending";

/// The pending intent recorded in a manifest, if any.
pub fn pending(m: &Manifest) -> std::result::Result<Option<Pending>, String> {
    match m.extra.get(PENDING_KEY) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("bad pending record: {e}")),
    }
}

/// The target entry's file of each alias the manifest names: (alias name, entry path).
pub(crate) fn alias_targets(m: &Manifest) -> Vec<(String, String)> {
    let (last_name, best_name) = alias_names(&m.ext);
    let find = |epoch: u64| {
        m.checkpoints
            .iter()
            .find(|e| e.epoch == epoch && !e.is_trashed())
            .map(|e| e.path.clone())
    };
    let mut v = Vec::new();
    if let Some(p) = m.last.and_then(find) {
        v.push((last_name, p));
    }
    if let Some(p) = m.best.as_ref().and_then(|b| find(b.epoch)) {
        v.push((best_name, p));
    }
    v
}

/// True when a pending record no longer allows anything: it only lets alias files hold
/// older bytes (no replace, no unlink), and each of those aliases is already a hardlink
/// of the file of the entry the manifest points it at. Such a record is harmless; the
/// next mutation drops it (stat only, no reads).
pub fn is_settled(run: &Path, m: &Manifest, p: &Pending) -> bool {
    if p.replace.is_some() || !p.unlink.is_empty() {
        return false;
    }
    let targets = alias_targets(m);
    p.may_hold.iter().all(|(name, hashes)| {
        // An empty list allows nothing.
        if hashes.is_empty() {
            return true;
        }
        let Some((_, target)) = targets.iter().find(|(a, _)| a == name) else {
            return false;
        };
        let Ok(target) = resolve(run, target) else {
            return false;
        };
        let (Ok(a), Ok(t)) = (
            std::fs::symlink_metadata(run.join(name)),
            std::fs::symlink_metadata(target),
        ) else {
            return false;
        };
        a.is_file() && t.is_file() && (a.dev(), a.ino()) == (t.dev(), t.ino())
    })
}

/// True when the manifest records a pending intent that is not [`is_settled`]: an
/// operation really was caught between its steps.
pub fn has_unsettled_pending(run: &Path, m: &Manifest) -> bool {
    match pending(m) {
        Ok(Some(p)) => !is_settled(run, m, &p),
        Ok(None) => false,
        Err(_) => true,
    }
}
