//! Checkpoint directories a trainer wrote itself (the HF Trainer's `checkpoint-N/`):
//! make them durable (fsync every file, then every directory bottom-up, then the run
//! directory that names them) and record each file's size and hash in the run's
//! `.ckpt/state.json`, so `verify` can tell the complete directory from one truncated
//! or altered afterwards, and a scan (the monitor, `ls`) flags a recorded file that is
//! missing or has another size without reading any bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use super::atomic;
use super::commit::store_state;
use super::prune::stamps_of;
use super::EngineOptions;
use crate::store::manifest::{DirRecord, FileRecord};
use crate::store::read::load_state;
use crate::{Error, Result};

/// What [`record_dir`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirReport {
    /// The checkpoint's name in the run (its path relative to the run, e.g. `checkpoint-10`).
    pub name: String,
    pub files: usize,
    pub bytes: u64,
    /// Records of directories no longer in the run, dropped from the state.
    pub forgotten: Vec<String>,
}

/// `dir` relative to `run`: a plain path inside it (resolved, so a symlink cannot lead
/// out), not `.ckpt/` and not the run itself.
fn dir_rel(run: &Path, dir: &Path) -> Result<String> {
    let refuse = |why: &str| {
        Error::Protected(format!(
            "{} {why}; ckpt records checkpoint directories inside the run {}",
            dir.display(),
            run.display()
        ))
    };
    let run_c = run
        .canonicalize()
        .map_err(|e| Error::io("resolve", run, e))?;
    let md = std::fs::symlink_metadata(dir).map_err(|e| Error::io("stat", dir, e))?;
    if !md.is_dir() {
        return Err(refuse("is not a directory"));
    }
    let dir_c = dir
        .canonicalize()
        .map_err(|e| Error::io("resolve", dir, e))?;
    let rel = dir_c
        .strip_prefix(&run_c)
        .map_err(|_| refuse("is outside the run"))?;
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(refuse("is the run itself"));
    }
    if rel
        .components()
        .next()
        .is_some_and(|c| c.as_os_str() == ".ckpt")
    {
        return Err(refuse("is ckpt's own state"));
    }
    Ok(rel.to_string_lossy().into_owned())
}

fn fsync_file(path: &Path) -> Result<()> {
    super::fault::point("record.fsync").map_err(|e| Error::io("fsync", path, e))?;
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("fsync", path, e))
}

/// Directories under `dir` (itself included), deepest first, never following symlinks.
fn dirs_bottom_up(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let d = out[i].clone();
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io("read directory", &d, e))?;
        for ent in rd.flatten() {
            if ent.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(ent.path());
            }
        }
        i += 1;
    }
    out.reverse();
    Ok(out)
}

/// Make checkpoint directory `dir` of `run` durable and record its files' sizes and
/// hashes in `.ckpt/state.json` (under the run lock). Symlinks inside are neither
/// followed nor recorded. Records of checkpoint directories that are gone (rotated away
/// by the trainer) are dropped at the same time.
pub fn record_dir(run: &Path, dir: &Path, options: &EngineOptions) -> Result<DirReport> {
    let name = dir_rel(run, dir)?;
    let mut files = BTreeMap::new();
    let mut bytes = 0;
    // The slow part (read, hash, fsync) takes no lock.
    for st in stamps_of(dir)? {
        let md = std::fs::symlink_metadata(&st.path).map_err(|e| Error::io("stat", &st.path, e))?;
        if !md.is_file() {
            continue;
        }
        fsync_file(&st.path)?;
        let (n, hash) = super::hash::hash_file(&st.path, None)?;
        let rel = st
            .path
            .strip_prefix(dir)
            .map_err(|_| Error::Internal(format!("{} left {}", st.path.display(), dir.display())))?
            .to_string_lossy()
            .into_owned();
        bytes += n;
        files.insert(rel, FileRecord { bytes: n, hash });
    }
    for d in dirs_bottom_up(dir)? {
        atomic::fsync_dir(&d)?;
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        atomic::fsync_dir(parent)?;
    }
    let _lock = super::mutation::begin(run, "record", options)?;
    let mut state = load_state(run)?;
    let forgotten: Vec<String> = state
        .files
        .keys()
        .filter(|k| **k != name && !run.join(k).is_dir())
        .cloned()
        .collect();
    for k in &forgotten {
        state.files.remove(k);
    }
    let count = files.len();
    state.files.insert(
        name.clone(),
        DirRecord {
            recorded_at: Some(chrono::Utc::now()),
            files,
            extra: BTreeMap::new(),
        },
    );
    store_state(run, &state)?;
    Ok(DirReport {
        name,
        files: count,
        bytes,
        forgotten,
    })
}

/// Re-hash a checkpoint directory against its record: the first file that is missing,
/// of another size or with other bytes, as (path, reason).
pub(crate) fn check_record(dir: &Path, rec: &DirRecord) -> Result<Option<(PathBuf, String)>> {
    if let Some(m) = rec.size_mismatch(dir) {
        return Ok(Some(m));
    }
    for (rel, f) in &rec.files {
        let p = dir.join(rel);
        let (_, hash) = super::hash::hash_file(&p, None)?;
        if hash != f.hash {
            return Ok(Some((
                p,
                format!("{rel}: content hash {hash} != recorded {}", f.hash),
            )));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hf_run() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("out");
        let ck = run.join("checkpoint-10");
        std::fs::create_dir_all(ck.join("sub")).unwrap();
        std::fs::write(ck.join("model.safetensors"), vec![7u8; 4096]).unwrap();
        std::fs::write(ck.join("trainer_state.json"), b"{}").unwrap();
        std::fs::write(ck.join("sub").join("x.bin"), b"abc").unwrap();
        (d, run, ck)
    }

    #[test]
    fn records_every_file_and_detects_truncation_and_edits() {
        let (_d, run, ck) = hf_run();
        let r = record_dir(&run, &ck, &EngineOptions::default()).unwrap();
        assert_eq!(
            (r.name.as_str(), r.files, r.bytes),
            ("checkpoint-10", 3, 4096 + 2 + 3)
        );
        let state = load_state(&run).unwrap();
        let rec = &state.files["checkpoint-10"];
        assert!(rec.files.contains_key("sub/x.bin"));
        assert_eq!(check_record(&ck, rec).unwrap(), None);
        // Same size, other bytes: only the hash sees it.
        std::fs::write(ck.join("sub").join("x.bin"), b"abd").unwrap();
        assert_eq!(rec.size_mismatch(&ck), None);
        let (p, why) = check_record(&ck, rec).unwrap().unwrap();
        assert!(p.ends_with("sub/x.bin") && why.contains("hash"), "{why}");
        // Truncated: the size alone says so.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(ck.join("model.safetensors"))
            .unwrap();
        f.set_len(100).unwrap();
        let (p, why) = rec.size_mismatch(&ck).unwrap();
        assert!(
            p.ends_with("model.safetensors") && why.contains("truncated"),
            "{why}"
        );
    }

    #[test]
    fn refuses_outside_dirs_and_forgets_rotated_ones() {
        let (d, run, ck) = hf_run();
        let opts = EngineOptions::default();
        assert!(record_dir(&run, d.path(), &opts).is_err());
        assert!(record_dir(&run, &run, &opts).is_err());
        record_dir(&run, &ck, &opts).unwrap();
        let ck2 = run.join("checkpoint-20");
        std::fs::create_dir(&ck2).unwrap();
        std::fs::write(ck2.join("a.bin"), b"a").unwrap();
        std::fs::remove_dir_all(&ck).unwrap();
        let r = record_dir(&run, &ck2, &opts).unwrap();
        assert_eq!(r.forgotten, vec!["checkpoint-10".to_string()]);
        let state = load_state(&run).unwrap();
        assert_eq!(
            state.files.keys().collect::<Vec<_>>(),
            vec!["checkpoint-20"]
        );
    }
}
