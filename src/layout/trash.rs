//! What is in a run's `.ckpt/trash/` (DESIGN §5): restore backups of an only-copy
//! `last`, promote backups of an only-copy `best`, checkpoints archived by
//! `restore --archive-newer`. Read-only: a walk that never follows a symlink, bounded in
//! depth and in entries, reading each item's epoch/step the way its layout names it.
//! The engine's `trash` operations (restore from, empty) plan against this listing.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::layout::{hf, lightning, timm, LayoutKind};
use crate::store::manifest::Manifest;

/// Deepest level walked below an item (an hf `checkpoint-N/` holds a shallow tree).
const MAX_DEPTH: usize = 8;
/// Most files counted under the trash; beyond that the listing says it stopped.
const MAX_FILES: usize = 200_000;

/// How an item got into the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrashOrigin {
    /// The previous `last`, kept by `restore` because it was the only copy of its state.
    PreviousLast,
    /// The previous `best`, kept by `promote` because it was the only copy of its state.
    PreviousBest,
    /// A checkpoint newer than a restored one, moved by `restore --archive-newer`
    /// (always on hf, whose trainer resumes from the highest step).
    ArchivedNewer,
    /// Not something ckpt puts there (a file moved in by hand or by another tool).
    Unknown,
}

impl TrashOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            TrashOrigin::PreviousLast => "previous last (restore)",
            TrashOrigin::PreviousBest => "previous best (promote)",
            TrashOrigin::ArchivedNewer => "archived newer (restore)",
            TrashOrigin::Unknown => "unknown",
        }
    }
}

/// One regular file under the trash, as it was when listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrashFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mtime_ns: i128,
}

/// One item in the trash: a checkpoint file, or a whole hf `checkpoint-N/` directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashEntry {
    /// Path below `.ckpt/trash/`, e.g. `20261129T083000Z/checkpoint-7.pth.tar`: the
    /// entry's stable key (what `trash restore` also accepts).
    pub name: String,
    /// Absolute path.
    pub path: PathBuf,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    /// The ranking metric recorded for it (native manifest), when known and finite.
    pub metric: Option<f64>,
    pub origin: TrashOrigin,
    /// When it was moved to the trash (from the trash folder's name, else its mtime).
    pub trashed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Apparent bytes of its files (each inode once).
    pub bytes: u64,
    /// Bytes deleting it alone would free (inodes with no name outside this entry).
    pub bytes_freed: u64,
    pub is_dir: bool,
    /// Listed in the native manifest as a `trash/…` entry (with its hash).
    pub recorded: bool,
    /// Every regular file it holds (the entry itself for a file).
    pub files: Vec<TrashFile>,
}

impl TrashEntry {
    /// Seconds since it was trashed (0 when unknown or in the future).
    pub fn age_secs(&self, now: chrono::DateTime<chrono::Utc>) -> u64 {
        self.trashed_at
            .map(|t| (now - t).num_seconds().max(0) as u64)
            .unwrap_or(0)
    }
}

/// The trash of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrashListing {
    pub run: PathBuf,
    /// `.ckpt/trash/` of the run.
    pub dir: PathBuf,
    /// Oldest first.
    pub entries: Vec<TrashEntry>,
    /// Bytes of every file under the trash (each inode once).
    pub bytes: u64,
    /// Bytes emptying the whole trash would free (inodes with no name outside it).
    pub reclaimable: u64,
    /// Native manifest records of trash files that are gone (deleted by hand): they are
    /// not damage, and the next `trash empty` drops them.
    pub missing: Vec<String>,
    /// Things that did not stop the listing (a symlink inside, the file cap reached).
    pub warnings: Vec<String>,
}

/// Why the trash cannot be listed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrashProblem {
    /// `.ckpt` or `.ckpt/trash` is not a directory (a symlink, a file): named, never followed.
    NotADirectory {
        path: PathBuf,
        is: &'static str,
    },
    Unreadable {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for TrashProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrashProblem::NotADirectory { path, is } => {
                write!(f, "{} is {is}, not a directory", path.display())
            }
            TrashProblem::Unreadable { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
        }
    }
}

/// What kind of thing a path is, for messages ("a symlink", "a file", …).
pub(crate) fn kind_of(md: &std::fs::Metadata) -> &'static str {
    let t = md.file_type();
    if t.is_symlink() {
        "a symlink"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// `RUN/.ckpt/trash`.
pub(crate) fn trash_dir(run: &Path) -> PathBuf {
    run.join(".ckpt").join("trash")
}

/// Parse a trash folder name `YYYYmmddTHHMMSSZ[-n]` into its time.
pub(crate) fn stamp_time(name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let stamp = name.get(..16)?;
    let rest = &name[16..];
    if !(rest.is_empty()
        || rest
            .strip_prefix('-')
            .is_some_and(|n| n.parse::<u64>().is_ok()))
    {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Total bytes under the trash (each inode once); 0 when there is none or it cannot
/// be read. Cheap enough for every scan: one `lstat` per file.
pub(crate) fn trash_bytes(run: &Path) -> u64 {
    list(run, LayoutKind::Ckpt, None)
        .map(|l| l.bytes)
        .unwrap_or(0)
}

/// List the trash of `run` (the directory holding `.ckpt/`). `manifest` (native runs)
/// gives recorded entries their epoch, step, metric and origin.
pub(crate) fn list(
    run: &Path,
    layout: LayoutKind,
    manifest: Option<&Manifest>,
) -> Result<TrashListing, TrashProblem> {
    let dir = trash_dir(run);
    let mut out = TrashListing {
        run: run.to_path_buf(),
        dir: dir.clone(),
        entries: Vec::new(),
        bytes: 0,
        reclaimable: 0,
        missing: Vec::new(),
        warnings: Vec::new(),
    };
    for p in [run.join(".ckpt"), dir.clone()] {
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {}
            Ok(md) => {
                return Err(TrashProblem::NotADirectory {
                    path: p,
                    is: kind_of(&md),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.missing = recorded_missing(run, manifest);
                return Ok(out);
            }
            Err(e) => {
                return Err(TrashProblem::Unreadable {
                    path: p,
                    reason: e.to_string(),
                })
            }
        }
    }
    let mut budget = MAX_FILES;
    let top = read_sorted(&dir).map_err(|e| TrashProblem::Unreadable {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    for (name, md) in top {
        let path = dir.join(&name);
        if md.is_dir() && stamp_time(&name).is_some() {
            let when = stamp_time(&name);
            let items = match read_sorted(&path) {
                Ok(v) => v,
                Err(e) => {
                    out.warnings
                        .push(format!("cannot read {}: {e}", path.display()));
                    continue;
                }
            };
            for (item, imd) in items {
                let rel = format!("{name}/{item}");
                let e = entry(
                    &dir,
                    &rel,
                    &imd,
                    when,
                    layout,
                    manifest,
                    &mut out.warnings,
                    &mut budget,
                );
                out.entries.push(e);
            }
        } else {
            // Loose in the trash (not in a time-stamped folder): listed, time from mtime.
            let e = entry(
                &dir,
                &name,
                &md,
                None,
                layout,
                manifest,
                &mut out.warnings,
                &mut budget,
            );
            out.entries.push(e);
        }
    }
    if budget == 0 {
        out.warnings.push(format!(
            "{} holds more than {MAX_FILES} files; counted the first {MAX_FILES}",
            dir.display()
        ));
    }
    out.entries
        .sort_by(|a, b| (a.trashed_at, &a.name).cmp(&(b.trashed_at, &b.name)));
    let all: Vec<&TrashFile> = out.entries.iter().flat_map(|e| e.files.iter()).collect();
    let (bytes, freed) = bytes_of(&all);
    out.bytes = bytes;
    out.reclaimable = freed;
    out.missing = recorded_missing(run, manifest);
    Ok(out)
}

/// Apparent bytes (each inode once) of `files`, and the bytes deleting all of them
/// frees (inodes whose every name is among them).
pub(crate) fn bytes_of(files: &[&TrashFile]) -> (u64, u64) {
    let mut names: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new();
    for f in files {
        let e = names.entry((f.dev, f.ino)).or_insert((0, f.nlink, f.bytes));
        e.0 += 1;
    }
    names
        .values()
        .fold((0, 0), |(b, fr), (seen, nlink, bytes)| {
            (b + bytes, fr + if seen >= nlink { *bytes } else { 0 })
        })
}

/// Native manifest `trash/…` records whose file is gone.
fn recorded_missing(run: &Path, manifest: Option<&Manifest>) -> Vec<String> {
    let Some(m) = manifest else {
        return Vec::new();
    };
    m.checkpoints
        .iter()
        .filter_map(|e| e.path.strip_prefix("trash/").map(|rel| (e, rel)))
        .filter(|(_, rel)| {
            matches!(std::fs::symlink_metadata(trash_dir(run).join(rel)),
                     Err(err) if err.kind() == std::io::ErrorKind::NotFound)
        })
        .map(|(e, _)| e.path.clone())
        .collect()
}

fn read_sorted(dir: &Path) -> std::io::Result<Vec<(String, std::fs::Metadata)>> {
    let mut v = Vec::new();
    for ent in std::fs::read_dir(dir)? {
        let ent = ent?;
        // DirEntry::metadata does not follow symlinks.
        let Ok(md) = ent.metadata() else { continue };
        v.push((ent.file_name().to_string_lossy().into_owned(), md));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
fn entry(
    trash: &Path,
    rel: &str,
    md: &std::fs::Metadata,
    when: Option<chrono::DateTime<chrono::Utc>>,
    layout: LayoutKind,
    manifest: Option<&Manifest>,
    warnings: &mut Vec<String>,
    budget: &mut usize,
) -> TrashEntry {
    let path = trash.join(rel);
    let mut files = Vec::new();
    walk(&path, md, 0, &mut files, warnings, budget);
    let refs: Vec<&TrashFile> = files.iter().collect();
    let (bytes, bytes_freed) = bytes_of(&refs);
    let file_name = rel.rsplit('/').next().unwrap_or(rel).to_string();
    let recorded = manifest.and_then(|m| {
        let key = format!("trash/{rel}");
        m.checkpoints.iter().find(|e| e.path == key)
    });
    let (epoch, step, metric, origin) = match recorded {
        Some(e) => {
            let note = e.extra.get("note").and_then(|v| v.as_str()).unwrap_or("");
            let origin = if note.contains("previous last") {
                TrashOrigin::PreviousLast
            } else if note.contains("previous best") {
                TrashOrigin::PreviousBest
            } else {
                name_origin(&file_name, md.is_dir())
            };
            (
                Some(e.epoch),
                e.step,
                e.metric.filter(|v| v.is_finite()),
                origin,
            )
        }
        None => {
            let (epoch, step) = numbers(&path, &file_name, md.is_dir(), layout, manifest);
            (epoch, step, None, name_origin(&file_name, md.is_dir()))
        }
    };
    let trashed_at = when.or_else(|| crate::layout::common::mtime(md));
    TrashEntry {
        name: rel.to_string(),
        path,
        epoch,
        step,
        metric,
        origin,
        trashed_at,
        bytes,
        bytes_freed,
        is_dir: md.is_dir(),
        recorded: recorded.is_some(),
        files,
    }
}

fn walk(
    path: &Path,
    md: &std::fs::Metadata,
    depth: usize,
    out: &mut Vec<TrashFile>,
    warnings: &mut Vec<String>,
    budget: &mut usize,
) {
    if *budget == 0 {
        return;
    }
    if md.is_file() {
        *budget -= 1;
        out.push(TrashFile {
            path: path.to_path_buf(),
            bytes: md.len(),
            dev: md.dev(),
            ino: md.ino(),
            nlink: md.nlink(),
            mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
        });
    } else if md.is_dir() {
        if depth >= MAX_DEPTH {
            warnings.push(format!(
                "{}: deeper than {MAX_DEPTH} levels; not counted",
                path.display()
            ));
            return;
        }
        match read_sorted(path) {
            Ok(items) => {
                for (name, imd) in items {
                    walk(&path.join(name), &imd, depth + 1, out, warnings, budget);
                }
            }
            Err(e) => warnings.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    // Symlinks and special files hold no bytes of the run: neither followed nor counted.
}

/// Origin from the item's own name: ckpt trashes an alias file only as the backup of
/// an only copy, and any other checkpoint only when archiving newer ones.
fn name_origin(name: &str, is_dir: bool) -> TrashOrigin {
    if is_dir {
        return if hf::parse_dir_name(name).is_some() {
            TrashOrigin::ArchivedNewer
        } else {
            TrashOrigin::Unknown
        };
    }
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.split("-v").next().unwrap_or(stem);
    match stem {
        "last" => TrashOrigin::PreviousLast,
        "model_best" | "best" => TrashOrigin::PreviousBest,
        _ if timm::classify(name).is_some() || lightning::parse_name(name).is_some() => {
            TrashOrigin::ArchivedNewer
        }
        _ => TrashOrigin::Unknown,
    }
}

/// (epoch, step) of an unrecorded trash item, read the way its layout names it; alias
/// files (`last.pth.tar`, `last.ckpt`) are asked for the numbers inside them.
fn numbers(
    path: &Path,
    name: &str,
    is_dir: bool,
    layout: LayoutKind,
    manifest: Option<&Manifest>,
) -> (Option<u64>, Option<u64>) {
    if is_dir {
        return (None, hf::parse_dir_name(name));
    }
    if let Some(ext) = manifest.map(|m| m.ext.as_str()) {
        if let Some(e) = crate::store::epoch_of_name(name, ext) {
            return (Some(e), None);
        }
    }
    if layout == LayoutKind::Lightning || name.ends_with(".ckpt") {
        if let Some(n) = lightning::parse_name(name) {
            return (n.epoch, n.step);
        }
    }
    match timm::classify(name) {
        Some(timm::TimmName::Checkpoint(e) | timm::TimmName::Milestone(e)) => {
            return (Some(e), None)
        }
        Some(timm::TimmName::Recovery(e, _)) => return (Some(e), None),
        _ => {}
    }
    // An alias backup: the epoch/step the trainer wrote into it (data-only pickle read).
    match crate::layout::common::read_pickle(path, &["epoch", "global_step"]) {
        Ok(v) => (
            v.get("epoch").and_then(as_u64),
            v.get("global_step").and_then(as_u64),
        ),
        Err(_) => (None, None),
    }
}

fn as_u64(v: &crate::formats::pickle::Value) -> Option<u64> {
    v.as_i64().and_then(|i| u64::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_names_parse() {
        assert!(stamp_time("20261129T083000Z").is_some());
        assert!(stamp_time("20261129T083000Z-3").is_some());
        assert!(stamp_time("20261129T083000Z-x").is_none());
        assert!(stamp_time("checkpoint-7").is_none());
    }

    #[test]
    fn shared_inodes_free_only_when_every_name_goes() {
        let f = |ino, nlink| TrashFile {
            path: PathBuf::from("x"),
            bytes: 10,
            dev: 1,
            ino,
            nlink,
            mtime_ns: 0,
        };
        let (a, b, c) = (f(1, 2), f(1, 2), f(2, 2));
        assert_eq!(bytes_of(&[&a, &b]), (10, 10));
        assert_eq!(bytes_of(&[&a]), (10, 0));
        assert_eq!(bytes_of(&[&a, &b, &c]), (20, 10));
    }
}
