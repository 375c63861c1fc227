//! Read, validate and atomically replace `.ckpt/manifest.json` and `.ckpt/state.json`.
//!
//! A corrupt file is an [`Error::CorruptManifest`] naming it and pointing to
//! `ckpt doctor`: never a panic, never a silent reset to an empty run.
//!
//! Crash consistency across several files: an operation that changes the manifest and
//! then other files (aliases, a replaced checkpoint, unlinks) first records a
//! [`Pending`] intent in the manifest (stored under the key `"pending"` of its unknown
//! fields, so the shared types stay unchanged). Until it is cleared, a file may hold
//! the hashes listed in `may_hold` besides its entry's. The next mutation finishes the
//! job with [`recover_pending`]. An operation whose files all reached their final state
//! (aliases hardlinked to their entries) may leave its record in place instead of
//! paying a second fsynced write: such a record is [`is_settled`], allows nothing a
//! file still holds, and scans ignore it.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::replace_file_atomic;
use crate::manifest::{
    Entry, ForeignState, Manifest, MANIFEST_FORMAT, MANIFEST_VERSION, STATE_FORMAT,
};
use crate::{Error, Result};

/// `RUN/.ckpt/manifest.json`.
pub fn manifest_path(run: &Path) -> PathBuf {
    run.join(".ckpt").join("manifest.json")
}

/// `RUN/.ckpt/state.json` (foreign runs).
pub fn state_path(run: &Path) -> PathBuf {
    run.join(".ckpt").join("state.json")
}

/// `RUN/.ckpt/trash`.
pub fn trash_dir(run: &Path) -> PathBuf {
    run.join(".ckpt").join("trash")
}

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
        extra: BTreeMap::new(),
    }
}

/// Names of the alias files of a native run with extension `ext`: (last, best).
pub fn alias_names(ext: &str) -> (String, String) {
    (format!("last{ext}"), format!("model_best{ext}"))
}

/// File name of the checkpoint of `epoch`.
pub fn checkpoint_name(epoch: u64, ext: &str) -> String {
    format!("checkpoint-{epoch}{ext}")
}

fn corrupt(path: &Path, run: &Path, reason: impl Into<String>) -> Error {
    Error::CorruptManifest {
        path: path.to_path_buf(),
        run: run.to_path_buf(),
        reason: reason.into(),
    }
}

/// Check a manifest path: relative, a single component or `trash/…`, no `..`.
pub fn check_rel_path(p: &str) -> std::result::Result<(), String> {
    if p.is_empty() {
        return Err("empty path".into());
    }
    let path = Path::new(p);
    if path.is_absolute() {
        return Err(format!("absolute path {p:?}"));
    }
    let comps: Vec<Component> = path.components().collect();
    for c in &comps {
        match c {
            Component::Normal(_) => {}
            _ => {
                return Err(format!(
                    "path {p:?} leaves the run (\"..\", \".\" or a root)"
                ))
            }
        }
    }
    if comps.len() > 1 && comps[0] != Component::Normal("trash".as_ref()) {
        return Err(format!(
            "path {p:?} is not a file of the run (only trash/… may have a directory)"
        ));
    }
    if p.contains('\0') {
        return Err(format!("path {p:?} contains NUL"));
    }
    Ok(())
}

/// Where a manifest path lives on disk: single names in the run dir, `trash/…` under
/// `.ckpt/trash/`.
pub fn resolve(run: &Path, rel: &str) -> PathBuf {
    match rel.strip_prefix("trash/") {
        Some(rest) => trash_dir(run).join(rest),
        None => run.join(rel),
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
        if !e.path.starts_with("trash/") && !seen.insert(e.epoch) {
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
    match std::fs::read(&path) {
        Ok(bytes) => parse_manifest(&bytes, &path, run).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// Load the manifest of `run`; [`Error::NoRun`] when there is none.
pub fn load_manifest(run: &Path) -> Result<Manifest> {
    try_load_manifest(run)?.ok_or_else(|| Error::NoRun {
        path: run.to_path_buf(),
        reason: format!("{} does not exist", manifest_path(run).display()),
    })
}

/// Serialize a manifest as stored (pretty JSON, newline-terminated).
pub fn manifest_bytes(m: &Manifest) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::Invalid(format!("cannot serialize manifest: {e}")))?;
    v.push(b'\n');
    Ok(v)
}

/// Replace the manifest atomically (temp + fsync + rename + dir fsync).
pub fn store_manifest(run: &Path, m: &Manifest) -> Result<()> {
    super::fault::point("manifest.store")
        .map_err(|e| Error::io("write manifest", manifest_path(run), e))?;
    replace_file_atomic(&manifest_path(run), &manifest_bytes(m)?)
}

/// Load `.ckpt/state.json` of a foreign run; an empty state when missing.
pub fn load_state(run: &Path) -> Result<ForeignState> {
    let path = state_path(run);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ForeignState {
                format: STATE_FORMAT.to_string(),
                version: MANIFEST_VERSION,
                ..Default::default()
            })
        }
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let s: ForeignState = serde_json::from_slice(&bytes)
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

/// Replace `.ckpt/state.json` atomically (creating `.ckpt/` when missing).
pub fn store_state(run: &Path, s: &ForeignState) -> Result<()> {
    super::atomic::create_dir_durable(&run.join(".ckpt"))?;
    let mut v = serde_json::to_vec_pretty(s)
        .map_err(|e| Error::Invalid(format!("cannot serialize state: {e}")))?;
    v.push(b'\n');
    super::fault::point("state.store").map_err(|e| Error::io("write state", state_path(run), e))?;
    replace_file_atomic(&state_path(run), &v)
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

const PENDING_KEY: &str = "pending";

/// The pending intent recorded in a manifest, if any.
pub fn pending(m: &Manifest) -> std::result::Result<Option<Pending>, String> {
    match m.extra.get(PENDING_KEY) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("bad pending record: {e}")),
    }
}

/// Record (or clear, with `None`) a pending intent in a manifest (not stored yet).
pub fn set_pending(m: &mut Manifest, p: Option<&Pending>) {
    match p.and_then(|p| serde_json::to_value(p).ok()) {
        Some(v) => {
            m.extra.insert(PENDING_KEY.to_string(), v);
        }
        None => {
            m.extra.remove(PENDING_KEY);
        }
    }
}

/// Finish what a crashed operation left pending (call under the run lock, before
/// anything else): adopt a replaced entry whose file made it, re-point the aliases to
/// the manifest's `last` and `best`, unlink what the manifest no longer lists, then
/// store the manifest without the record. A settled record ([`is_settled`]) is only
/// dropped from `m`: the caller's next store writes it out. Returns true when something
/// was pending.
pub fn recover_pending(run: &Path, m: &mut Manifest) -> Result<bool> {
    let mpath = manifest_path(run);
    let Some(p) = pending(m).map_err(|r| corrupt(&mpath, run, r))? else {
        return Ok(false);
    };
    if is_settled(run, m, &p) {
        // The operation finished its files and left the record to be dropped lazily:
        // make its alias renames durable (a kill may have come before its dir fsync),
        // then drop the record in memory; this mutation's own store writes it out.
        super::atomic::fsync_dir(run)?;
        set_pending(m, None);
        return Ok(true);
    }
    if let Some(r) = &p.replace {
        let on_disk = std::fs::symlink_metadata(resolve(run, &r.entry.path)).ok();
        if on_disk.is_some_and(|md| md.dev() == r.dev && md.ino() == r.ino) {
            if let Some(e) = m.checkpoints.iter_mut().find(|e| e.path == r.entry.path) {
                *e = r.entry.clone();
            }
            recompute_best(m);
        }
    }
    repoint_aliases(run, m)?;
    let listed: std::collections::HashSet<&str> =
        m.checkpoints.iter().map(|e| e.path.as_str()).collect();
    for f in &p.unlink {
        if listed.contains(f.as_str()) {
            continue;
        }
        let path = resolve(run, f);
        match std::fs::symlink_metadata(&path) {
            Ok(md) if md.is_file() => {
                super::fault::point("recover.unlink").map_err(|e| Error::io("remove", &path, e))?;
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io("remove", &path, e)),
                }
            }
            _ => {}
        }
    }
    // Always, even when nothing changed here: the crashed operation's alias renames
    // may not be durable yet.
    super::atomic::fsync_dir(run)?;
    set_pending(m, None);
    store_manifest(run, m)?;
    Ok(true)
}

/// Unless best is held, set it to the best finite metric among the live entries
/// (ties: the earlier epoch); `None` when no metric is finite.
pub fn recompute_best(m: &mut Manifest) {
    if m.best.as_ref().is_some_and(|b| b.held) {
        return;
    }
    let mode = m.metric.as_ref().map(|s| s.mode).unwrap_or_default();
    let live: Vec<&Entry> = m
        .checkpoints
        .iter()
        .filter(|e| !e.path.starts_with("trash/"))
        .collect();
    let metrics: Vec<Option<f64>> = live.iter().map(|e| e.rank_value()).collect();
    let best = crate::rank::best_index(&metrics, mode).map(|i| live[i].epoch);
    m.best = match (best, m.best.take()) {
        (Some(epoch), Some(mut b)) => {
            b.epoch = epoch;
            Some(b)
        }
        (Some(epoch), None) => Some(crate::manifest::BestRef {
            epoch,
            held: false,
            extra: BTreeMap::new(),
        }),
        (None, _) => None,
    };
}

/// Commit a manifest whose `last`/`best` changed and re-point the alias files,
/// crash-safely with one durable manifest write: store `new` with a pending record
/// saying the aliases may still hold `old`'s last/best bytes, re-point them, fsync the
/// run dir; the record, settled now, is dropped by the next mutation (see
/// [`finish_pending`]).
/// An alias file that is the only copy of its bytes is first kept in
/// `.ckpt/trash/<time>/` and recorded in `new` (issue 10 item 1); returns where.
/// For promote/restore/release (call under the run lock).
pub fn store_and_repoint(
    run: &Path,
    old: &Manifest,
    new: &mut Manifest,
    operation: &str,
) -> Result<Vec<PathBuf>> {
    let (last_name, best_name) = alias_names(&new.ext);
    let trash = super::foreign::opsfs::plan_trash_dir(run);
    let mut kept = Vec::new();
    // Both aliases: one that stays is still rewritten when it does not hold its target.
    for (name, epoch) in [
        (&last_name, old.last),
        (&best_name, old.best.as_ref().map(|b| b.epoch)),
    ] {
        let why = format!("previous {name}, kept by {operation}: it was the only copy");
        if let Some(p) = super::only_copy::keep_native_alias(
            run,
            new,
            name,
            epoch,
            &trash,
            &why,
            &mut |_: &super::Progress| {},
        )? {
            kept.push(p);
        }
    }
    let live = |m: &Manifest, epoch: u64| {
        m.checkpoints
            .iter()
            .find(|e| e.epoch == epoch && !e.path.starts_with("trash/"))
            .map(|e| e.hash.clone())
    };
    let mut may_hold = BTreeMap::new();
    if let Some(h) = old.last.and_then(|l| live(old, l)) {
        may_hold.insert(last_name, vec![h]);
    }
    if let Some(h) = old.best.as_ref().and_then(|b| live(old, b.epoch)) {
        may_hold.insert(best_name, vec![h]);
    }
    set_pending(
        new,
        Some(&Pending {
            operation: operation.to_string(),
            may_hold,
            ..Default::default()
        }),
    );
    store_manifest(run, new)?;
    if repoint_aliases(run, new)? {
        super::atomic::fsync_dir(run)?;
    }
    finish_pending(run, new)?;
    Ok(kept)
}

/// After an operation's files are in place (and their directory fsynced): leave a
/// settled record to be dropped by the next mutation (one durable manifest write per
/// operation), or store the manifest without an unsettled one.
pub fn finish_pending(run: &Path, m: &mut Manifest) -> Result<()> {
    let mpath = manifest_path(run);
    let Some(p) = pending(m).map_err(|r| corrupt(&mpath, run, r))? else {
        return Ok(());
    };
    if is_settled(run, m, &p) {
        return Ok(());
    }
    set_pending(m, None);
    store_manifest(run, m)
}

/// The target entry's file of each alias the manifest names: (alias name, entry path).
fn alias_targets(m: &Manifest) -> Vec<(String, String)> {
    let (last_name, best_name) = alias_names(&m.ext);
    let find = |epoch: u64| {
        m.checkpoints
            .iter()
            .find(|e| e.epoch == epoch && !e.path.starts_with("trash/"))
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
        let (Ok(a), Ok(t)) = (
            std::fs::symlink_metadata(run.join(name)),
            std::fs::symlink_metadata(resolve(run, target)),
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

/// Make the `last` and `best` alias files hold the manifest's `last`/`best` entries
/// (renames only; the caller fsyncs the run dir once). Returns true when a name changed.
pub fn repoint_aliases(run: &Path, m: &Manifest) -> Result<bool> {
    let mut changed = false;
    for (alias, target) in alias_targets(m) {
        let src = resolve(run, &target);
        if !src.is_file() {
            continue;
        }
        let dest = run.join(&alias);
        let before = std::fs::symlink_metadata(&dest).ok();
        super::alias::link_or_copy(&src, &dest)?;
        let same = before.is_some_and(|b| {
            std::fs::symlink_metadata(&dest).is_ok_and(|a| (a.dev(), a.ino()) == (b.dev(), b.ino()))
        });
        changed |= !same;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_paths() {
        assert!(check_rel_path("checkpoint-1.pth.tar").is_ok());
        assert!(check_rel_path("trash/2026/checkpoint-1.pth.tar").is_ok());
        assert!(check_rel_path("../x").is_err());
        assert!(check_rel_path("/etc/passwd").is_err());
        assert!(check_rel_path("a/b").is_err());
        assert!(check_rel_path("trash/../../x").is_err());
        assert!(check_rel_path("").is_err());
    }

    #[test]
    fn roundtrip_keeps_unknown_fields_and_pending() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".ckpt")).unwrap();
        let mut m = new_manifest(".pt");
        m.extra.insert("future".into(), serde_json::json!({"x": 1}));
        set_pending(
            &mut m,
            Some(&Pending {
                operation: "save".into(),
                unlink: vec!["checkpoint-1.pt".into()],
                ..Default::default()
            }),
        );
        store_manifest(d.path(), &m).unwrap();
        let back = load_manifest(d.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(pending(&back).unwrap().unwrap().unlink.len(), 1);
        set_pending(&mut m, None);
        assert!(pending(&m).unwrap().is_none());
        assert!(m.extra.contains_key("future"));
    }

    #[test]
    fn corrupt_names_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(".ckpt")).unwrap();
        std::fs::write(manifest_path(d.path()), b"{not json").unwrap();
        let e = load_manifest(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("manifest.json") && e.contains("ckpt doctor"),
            "{e}"
        );
    }
}
