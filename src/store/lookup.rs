//! Native-manifest lookups the operations share: find an entry by selector, the file of
//! an entry, whether it is damaged, which live entry ranks best.

use std::path::{Path, PathBuf};

use super::manifest::{Entry, Manifest};
use crate::rank::{strictly_better, Mode};
use crate::{Error, Result};

/// Where an entry's file is (see [`super::path::resolve`]); a path that is not a file
/// of the run is a corrupt manifest (validation on load refuses it first).
pub(crate) fn entry_path(run: &Path, e: &Entry) -> Result<PathBuf> {
    super::path::resolve(run, &e.path).map_err(|r| {
        super::read::corrupt(
            &super::manifest_path(run),
            run,
            format!("epoch {}: {r}", e.epoch),
        )
    })
}

/// Index of the live entry a selector names: an epoch number, or a file name.
pub(crate) fn find_entry(run: &Path, m: &Manifest, selector: &str) -> Result<usize> {
    let sel = selector.trim();
    let file = Path::new(sel)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let by_epoch = sel.parse::<u64>().ok();
    m.checkpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_trashed())
        .rfind(|(_, e)| match by_epoch {
            Some(n) => e.epoch == n,
            None => e.path == sel || e.path == file,
        })
        .map(|(i, _)| i)
        .ok_or_else(|| Error::UnknownCheckpoint {
            selector: selector.to_string(),
            run: run.to_path_buf(),
        })
}

/// Why an entry cannot be acted on (its file is missing or not the size recorded).
pub(crate) fn damage(run: &Path, e: &Entry) -> Option<String> {
    let p = match entry_path(run, e) {
        Ok(p) => p,
        Err(err) => return Some(err.to_string()),
    };
    match std::fs::metadata(&p) {
        Err(err) => Some(format!("{} is unreadable: {err}", p.display())),
        Ok(md) if !md.is_file() => Some(format!("{} is not a regular file", p.display())),
        Ok(md) if md.len() != e.bytes => Some(format!(
            "{} has {} bytes, the manifest says {}",
            p.display(),
            md.len(),
            e.bytes
        )),
        Ok(_) => None,
    }
}

/// The best live entry by metric (finite only; ties keep the earlier epoch).
pub(crate) fn rank_best(m: &Manifest) -> Option<u64> {
    let mode = m.metric.as_ref().map(|s| s.mode).unwrap_or(Mode::Max);
    let mut best: Option<(u64, f64)> = None;
    let mut live: Vec<&Entry> = m.checkpoints.iter().filter(|e| !e.is_trashed()).collect();
    live.sort_by_key(|e| e.epoch);
    for e in live {
        let Some(v) = e.rank_value().filter(|v| v.is_finite()) else {
            continue;
        };
        match best {
            Some((_, b)) if !strictly_better(v, b, mode) => {}
            _ => best = Some((e.epoch, v)),
        }
    }
    best.map(|(epoch, _)| epoch)
}
