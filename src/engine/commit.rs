//! Commit: the write side of the manifest (DESIGN §3 rules 3, 5): store the manifest
//! and ckpt's state file atomically, record and clear [`Pending`] intents, re-point the
//! alias files, and finish what a crashed operation left pending. Called under the run
//! lock only (see [`super::mutation`]).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::atomic::replace_file_atomic;
use crate::store::manifest::{BestRef, Entry, ForeignState, Manifest};
use crate::store::read::{alias_targets, corrupt, is_settled, pending, Pending, PENDING_KEY};
use crate::store::{alias_names, manifest_path, resolve, state_dir, state_path};
use crate::{Error, Result};

/// Serialize a manifest as stored (pretty JSON, newline-terminated).
pub(crate) fn manifest_bytes(m: &Manifest) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::Internal(format!("cannot serialize manifest: {e}")))?;
    v.push(b'\n');
    Ok(v)
}

/// Replace the manifest atomically (temp + fsync + rename + dir fsync).
pub fn store_manifest(run: &Path, m: &Manifest) -> Result<()> {
    super::fault::point("manifest.store")
        .map_err(|e| Error::io("write manifest", manifest_path(run), e))?;
    // The temp and the rename happen in `.ckpt/`: never through a symlink out of the run.
    crate::store::state_files::check_real_dir(&state_dir(run))?;
    replace_file_atomic(&manifest_path(run), &manifest_bytes(m)?)
}

/// Replace `.ckpt/state.json` atomically (creating `.ckpt/` when missing).
pub(crate) fn store_state(run: &Path, s: &ForeignState) -> Result<()> {
    crate::store::state_files::check_real_dir(&state_dir(run))?;
    super::atomic::create_dir_durable(&state_dir(run))?;
    let mut v = serde_json::to_vec_pretty(s)
        .map_err(|e| Error::Internal(format!("cannot serialize state: {e}")))?;
    v.push(b'\n');
    super::fault::point("state.store").map_err(|e| Error::io("write state", state_path(run), e))?;
    replace_file_atomic(&state_path(run), &v)
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
pub(crate) fn recover_pending(run: &Path, m: &mut Manifest) -> Result<bool> {
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
        let on_disk = resolve(run, &r.entry.path)
            .ok()
            .and_then(|p| std::fs::symlink_metadata(p).ok());
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
        // Only what the interrupted operation could have left (never an alias, a listed
        // checkpoint or another file of the run: the record may come from a tarball).
        if listed.contains(f.as_str())
            || crate::store::pending_check::unlink_refusal(run, m, f).is_some()
        {
            continue;
        }
        let Ok(path) = resolve(run, f) else {
            continue;
        };
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
    let live: Vec<&Entry> = m.checkpoints.iter().filter(|e| !e.is_trashed()).collect();
    let metrics: Vec<Option<f64>> = live.iter().map(|e| e.rank_value()).collect();
    let best = crate::rank::best_index(&metrics, mode).map(|i| live[i].epoch);
    m.best = match (best, m.best.take()) {
        (Some(epoch), Some(mut b)) => {
            b.epoch = epoch;
            Some(b)
        }
        (Some(epoch), None) => Some(BestRef {
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
/// [`finish_pending`]). An alias file that is the only copy of its bytes is first kept
/// in `.ckpt/trash/<time>/` and recorded in `new`; returns where.
/// For promote/restore/release (call under the run lock).
pub fn store_and_repoint(
    run: &Path,
    old: &Manifest,
    new: &mut Manifest,
    operation: &str,
) -> Result<Vec<PathBuf>> {
    store_repoint_unlink(run, old, new, operation, &[])
}

/// [`store_and_repoint`], and then unlink `unlink` (manifest paths `new` no longer
/// lists, e.g. a trash name): recorded in the pending record, so a crash before the
/// unlinks leaves them to the next mutation.
pub(crate) fn store_repoint_unlink(
    run: &Path,
    old: &Manifest,
    new: &mut Manifest,
    operation: &str,
    unlink: &[String],
) -> Result<Vec<PathBuf>> {
    let (last_name, best_name) = alias_names(&new.ext);
    // An alias file that is the only copy of its bytes is kept in trash first (and
    // recorded in `new`); both aliases: one that stays is still rewritten when it does
    // not hold its target.
    let trash = super::foreign::opsfs::plan_trash_dir(run);
    let mut kept = Vec::new();
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
            .find(|e| e.epoch == epoch && !e.is_trashed())
            .map(|e| e.hash.clone())
    };
    let mut p = Pending {
        operation: operation.to_string(),
        unlink: unlink.to_vec(),
        ..Default::default()
    };
    if let Some((l, h)) = old.last.and_then(|l| live(old, l).map(|h| (l, h))) {
        p.allow(&last_name, &h, l);
    }
    if let Some((b, h)) = old
        .best
        .as_ref()
        .and_then(|b| live(old, b.epoch).map(|h| (b.epoch, h)))
    {
        p.allow(&best_name, &h, b);
    }
    set_pending(new, Some(&p));
    store_manifest(run, new)?;
    if repoint_aliases(run, new)? {
        super::atomic::fsync_dir(run)?;
    }
    let mut dirs = std::collections::BTreeSet::new();
    for f in unlink {
        let path = resolve(run, f).map_err(|e| Error::Internal(format!("unlink {f}: {e}")))?;
        super::fault::point("unlink").map_err(|e| Error::io("remove", &path, e))?;
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &path, e)),
        }
        if let Some(d) = path.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for d in dirs {
        super::atomic::fsync_dir(&d)?;
    }
    finish_pending(run, new)?;
    Ok(kept)
}

/// After an operation's files are in place (and their directory fsynced): leave a
/// settled record to be dropped by the next mutation (one durable manifest write per
/// operation), or store the manifest without an unsettled one.
pub(crate) fn finish_pending(run: &Path, m: &mut Manifest) -> Result<()> {
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

/// Make the `last` and `best` alias files hold the manifest's `last`/`best` entries
/// (renames only; the caller fsyncs the run dir once). Returns true when a name changed.
pub fn repoint_aliases(run: &Path, m: &Manifest) -> Result<bool> {
    let mut changed = false;
    for (alias, target) in alias_targets(m) {
        let Ok(src) = resolve(run, &target) else {
            continue;
        };
        if !src.is_file() {
            continue;
        }
        let dest = run.join(&alias);
        // A directory in the alias's place is reported (scan, doctor), not a wedge.
        if super::alias::blocked(&dest) {
            continue;
        }
        let before = std::fs::symlink_metadata(&dest).ok();
        // Without hardlinks the alias is a copy: when it holds bytes a checkpoint file
        // also holds, it may go first if the new copy does not fit otherwise.
        super::alias::link_or_copy_reclaiming(&src, &dest, || {
            !super::only_copy::native_alias_is_only_copy(run, m, &dest)
        })?;
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
    use crate::store::{load_manifest, new_manifest};

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
