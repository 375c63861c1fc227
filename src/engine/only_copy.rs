//! Only copies: an operation that rewrites an alias file (promote,
//! release, restore) first keeps it in `.ckpt/trash/<time>/` when no checkpoint file of
//! the run holds its bytes — timm's `model_best.pth.tar` after its `checkpoint-N` was
//! rotated out, a Lightning `best.ckpt` written under its own name, timm's `last`.
//!
//! Two questions, two costs: [`listed_alias_only_copy`] answers from a snapshot alone
//! (no reads; for plans and the monitor's dialog), the `*_is_only_copy` functions
//! re-check on disk under the lock, comparing inodes first and bytes only when needed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::foreign::opsfs::{keep_copy, make_trash_dir, same_content, Report};
use super::Progress;
use crate::snapshot::LayoutKind;
use crate::snapshot::{CheckpointState, Role, RunSnapshot};
use crate::store::lookup::entry_path;
use crate::store::{Entry, Manifest};
use crate::{Error, Result};

/// From a snapshot alone: the alias file `rel` holds bytes no other checkpoint file
/// holds — the scan lists it as a checkpoint itself (timm, Lightning), or on a native
/// run the checkpoint the alias should mirror is missing or damaged.
pub(crate) fn listed_alias_only_copy(snap: &RunSnapshot, rel: &Path) -> bool {
    if !snap.run.join(rel).is_file() {
        return false;
    }
    if snap.layout == LayoutKind::Ckpt {
        let role = if rel.to_string_lossy().starts_with("model_best") {
            Role::Best
        } else {
            Role::Last
        };
        return snap
            .with_role(role)
            .is_some_and(|c| c.state == CheckpointState::Damaged);
    }
    snap.checkpoints
        .iter()
        .any(|c| c.paths.first().map(PathBuf::as_path) == Some(rel))
}

/// True when the foreign alias file `alias` (absolute) is a regular file whose bytes
/// no other checkpoint file of the run holds (a symlink alias holds nothing itself).
pub(crate) fn foreign_alias_is_only_copy(run: &Path, snap: &RunSnapshot, alias: &Path) -> bool {
    let Ok(md) = fs::symlink_metadata(alias) else {
        return false;
    };
    if !md.is_file() {
        return false;
    }
    !snap
        .checkpoints
        .iter()
        .filter_map(|c| c.paths.first())
        .map(|p| run.join(p))
        .filter(|p| p != alias)
        .any(|p| same_content(alias, &p).unwrap_or(false))
}

/// True when the native alias file `alias` holds bytes no checkpoint file the manifest
/// lists holds (live or already in trash: a copy in trash is a copy): same inode → no;
/// else one read of the alias compared with the manifest's hashes.
pub(crate) fn native_alias_is_only_copy(run: &Path, m: &Manifest, alias: &Path) -> bool {
    let Ok(lm) = fs::symlink_metadata(alias) else {
        return false;
    };
    if !lm.is_file() {
        return false;
    }
    let live: Vec<&Entry> = m.checkpoints.iter().collect();
    let meta = |e: &Entry| {
        entry_path(run, e)
            .ok()
            .and_then(|p| fs::symlink_metadata(p).ok())
    };
    let intact = |e: &Entry| meta(e).is_some_and(|em| em.is_file() && em.len() == e.bytes);
    let shares_inode = live
        .iter()
        .any(|e| meta(e).is_some_and(|em| (em.dev(), em.ino()) == (lm.dev(), lm.ino())));
    if shares_inode {
        return false;
    }
    // A copy: only an intact entry file of the same size can hold the same bytes.
    let candidates: Vec<&&Entry> = live
        .iter()
        .filter(|e| e.bytes == lm.len() && intact(e))
        .collect();
    if candidates.is_empty() {
        return true;
    }
    match super::hash::content_hash(alias, &mut |_: &Progress| {}) {
        Ok(h) => !candidates.iter().any(|e| e.hash == h),
        // Unreadable: nothing to keep that we could copy anyway.
        Err(_) => false,
    }
}

/// `trash/<stamp>` relative to `.ckpt/`, as native manifest paths spell it.
pub(crate) fn trash_rel(run: &Path, trash: &Path) -> Result<String> {
    trash
        .strip_prefix(run.join(".ckpt"))
        .ok()
        .filter(|r| r.starts_with("trash"))
        .map(|r| r.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::Internal(format!(
                "trash folder {} is outside {}/.ckpt/trash",
                trash.display(),
                run.display()
            ))
        })
}

/// Keep the native alias `alias_name` in `trash` when it is the only copy of its bytes:
/// a second durable name there, recorded in `m` as a trash entry of `epoch` (so
/// `verify`, `ls` and `ckpt trash` know it). Returns where it was kept. `m` is stored by
/// the caller (before the alias is rewritten: rule 5).
pub(crate) fn keep_native_alias(
    run: &Path,
    m: &mut Manifest,
    alias_name: &str,
    epoch: Option<u64>,
    trash: &Path,
    why: &str,
    report: Report<'_>,
) -> Result<Option<PathBuf>> {
    let alias = run.join(alias_name);
    if !native_alias_is_only_copy(run, m, &alias) {
        return Ok(None);
    }
    let stamp = trash_rel(run, trash)?;
    make_trash_dir(trash)?;
    let kept = trash.join(alias_name);
    keep_copy(&alias, &kept, report)?;
    let hash = super::hash::content_hash(&kept, &mut |_: &Progress| {})?;
    let bytes = fs::metadata(&kept).map(|md| md.len()).unwrap_or(0);
    let old = epoch.and_then(|ep| m.checkpoints.iter().rfind(|e| e.epoch == ep).cloned());
    m.checkpoints.push(Entry {
        epoch: old.as_ref().map(|o| o.epoch).or(epoch).unwrap_or(0),
        step: old.as_ref().and_then(|o| o.step),
        path: format!("{stamp}/{alias_name}"),
        bytes,
        hash,
        metric: old.as_ref().and_then(|o| o.metric),
        metric_raw: old.as_ref().and_then(|o| o.metric_raw.clone()),
        metrics: old.as_ref().map(|o| o.metrics.clone()).unwrap_or_default(),
        saved_at: chrono::Utc::now(),
        pinned: false,
        saved_by: old.as_ref().and_then(|o| o.saved_by.clone()),
        extra: [(
            "note".to_string(),
            serde_json::Value::String(why.to_string()),
        )]
        .into_iter()
        .collect(),
    });
    Ok(Some(kept))
}

/// Keep the foreign alias `alias` (absolute) in `trash` when it is the only copy of
/// its bytes. Returns where it was kept.
pub(crate) fn keep_foreign_alias(
    run: &Path,
    snap: &RunSnapshot,
    alias: &Path,
    trash: &Path,
    report: Report<'_>,
) -> Result<Option<PathBuf>> {
    if !foreign_alias_is_only_copy(run, snap, alias) {
        return Ok(None);
    }
    make_trash_dir(trash)?;
    let name = alias
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "alias".into());
    let kept = trash.join(name);
    keep_copy(alias, &kept, report)?;
    Ok(Some(kept))
}
