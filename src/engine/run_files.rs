//! Files a trainer names itself, written and removed through the engine: Lightning's
//! `epoch=E-step=S.ckpt` / `last.ckpt`, timm's `recovery-E-B.pth.tar` next to a native
//! run. The trainer picks the name; ckpt makes the write atomic and durable (rules 2, 3,
//! 6, 7, 8: preflight, unique temp in the same directory, fsync, rename under the run
//! lock, directory fsync) and the removal safe (rule 9: only inside the run, never
//! `.ckpt/` or a trainer's own bookkeeping files, symlinks removed and never followed,
//! pinned checkpoints kept).
//!
//! [`RunFileWriter`] streams: the bytes go to the temp as the caller produces them (e.g.
//! `torch.save` writing into a Python file object), with no lock held; only the rename
//! takes the lock.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::atomic::{self, Source, TempFile, Written};
use super::commit::store_state;
use super::save::preflight;
use super::EngineOptions;
use crate::store::read::load_state;
use crate::{Error, Result};

/// The run a trainer-named file belongs to: the directory holding `checkpoints/` when
/// the file is in a `checkpoints/` directory (Lightning's `version_N/checkpoints/`),
/// else the file's own directory.
pub fn owning_run(dest: &Path) -> PathBuf {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if parent.file_name().is_some_and(|n| n == "checkpoints") {
        if let Some(gp) = parent.parent().filter(|p| !p.as_os_str().is_empty()) {
            return gp.to_path_buf();
        }
    }
    parent
}

/// `dest` relative to `run`, refusing anything that is not a plain path inside the run
/// (checked on the resolved parent, so a symlinked directory cannot lead out), under
/// `.ckpt/`, a ckpt temp name, or a file the trainer's logger owns.
fn checked_rel(run: &Path, dest: &Path) -> Result<PathBuf> {
    let refuse = |why: &str| {
        Error::Protected(format!(
            "{} {why}; ckpt writes and removes only checkpoint files inside the run {}",
            dest.display(),
            run.display()
        ))
    };
    let name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| refuse("has no usable file name"))?;
    if dest
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(refuse("has a `.` or `..` component"));
    }
    let run_c = run
        .canonicalize()
        .map_err(|e| Error::io("resolve", run, e))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parent_c = parent
        .canonicalize()
        .map_err(|e| Error::io("resolve", &parent, e))?;
    let rel_parent = parent_c
        .strip_prefix(&run_c)
        .map_err(|_| refuse("is outside the run"))?;
    let rel = rel_parent.join(name);
    if rel
        .components()
        .next()
        .is_some_and(|c| c.as_os_str() == ".ckpt")
    {
        return Err(refuse("is ckpt's own state"));
    }
    if crate::store::temp::is_temp_name(name)
        || name.starts_with(crate::store::temp::CKPT_TEMP_PREFIX)
    {
        return Err(refuse("is a ckpt temp name"));
    }
    if super::foreign::PROTECTED_NAMES.contains(&name) {
        return Err(refuse("belongs to the trainer's logger"));
    }
    Ok(rel)
}

/// Size of the newest regular file in `dir` ending like `name` (same extension): the
/// size a new checkpoint of that kind is expected to have, for the preflight.
fn expected_size(dir: &Path, name: &str) -> u64 {
    let ext = match name.find('.') {
        Some(i) => &name[i..],
        None => return 0,
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(ext) && !crate::store::temp::is_temp_name(n))
        })
        .filter_map(|e| std::fs::symlink_metadata(e.path()).ok())
        .filter(|m| m.is_file())
        .max_by_key(|m| (m.mtime(), m.mtime_nsec()))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// What to tell a user whose run is full: ckpt's prune plan for the run when it has one.
fn prune_hint(run: &Path, options: &EngineOptions) -> String {
    match super::Run::open(run, None, options.clone()) {
        Ok(r) => r.prune_hint(),
        Err(_) => format!(
            "free space on the filesystem of {} or save elsewhere",
            run.display()
        ),
    }
}

/// The space preflight (rule 6) for `size` bytes in `dir`; when it refuses and temps of
/// dead writers (a killed trainer's half-written checkpoint) hold space in `dir` or the
/// run, sweep them under the run lock and look again.
fn preflight_reclaiming(run: &Path, dir: &Path, size: u64, options: &EngineOptions) -> Result<()> {
    let first = preflight(dir, size, || prune_hint(run, options));
    let Err(Error::NoSpace { .. }) = first else {
        return first;
    };
    let dead_here = crate::store::temp::find_temps(dir)
        .iter()
        .any(|t| !t.foreign && !t.writer_alive);
    if !dead_here && super::reclaim::reclaimable_temp_bytes(run) == 0 {
        return first;
    }
    {
        let _lock = super::mutation::begin(run, "sweep", options)?;
        super::mutation::sweep_stale_temps(dir)?;
    }
    preflight(dir, size, || prune_hint(run, options))
}

/// A file being written atomically at a trainer-chosen name inside a run. Dropping it
/// without [`commit`](Self::commit) removes the temp; the destination is untouched.
pub struct RunFileWriter {
    run: PathBuf,
    dest: PathBuf,
    temp: TempFile,
    options: EngineOptions,
}

impl std::fmt::Debug for RunFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunFileWriter")
            .field("run", &self.run)
            .field("dest", &self.dest)
            .field("temp", &self.temp.path())
            .finish()
    }
}

impl RunFileWriter {
    /// Check `dest` (inside `run`, see module doc), create its directory durably, run the
    /// preflight (writable; free space for `expected` bytes, or the newest file of the same
    /// kind in that directory), and open a unique temp next to it.
    pub fn create(
        run: &Path,
        dest: &Path,
        expected: Option<u64>,
        options: EngineOptions,
    ) -> Result<RunFileWriter> {
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                // Only directories under an existing run are created.
                if !run.is_dir() {
                    return Err(Error::NoRun {
                        path: run.to_path_buf(),
                        reason: "the run directory does not exist".into(),
                    });
                }
                atomic::create_dir_durable(parent)?;
            }
        }
        checked_rel(run, dest)?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let size = expected.unwrap_or_else(|| expected_size(&dir, name));
        preflight_reclaiming(run, &dir, size, &options)?;
        let temp = TempFile::create_for(dest)?;
        Ok(RunFileWriter {
            run: run.to_path_buf(),
            dest: dest.to_path_buf(),
            temp,
            options,
        })
    }

    /// Append everything `source` yields.
    pub fn fill(&mut self, source: Source<'_>) -> Result<()> {
        let r = self.temp.fill(source, None);
        r.map_err(|e| self.no_space(e))
    }

    fn no_space(&self, e: Error) -> Error {
        no_space(e, &self.run, &self.dest, self.temp.bytes(), &self.options)
    }

    /// fsync the temp (no lock), then under the run lock sweep temps of dead writers,
    /// rename onto the final name and fsync the directory. Stale records of the old file
    /// at that name are dropped from `.ckpt/state.json`.
    pub fn commit(self) -> Result<Written> {
        let RunFileWriter {
            run,
            dest,
            temp,
            options,
        } = self;
        let bytes = temp.bytes();
        let durable = temp
            .finish()
            .map_err(|e| no_space(e, &run, &dest, bytes, &options))?;
        let _lock = super::mutation::begin(&run, "write", &options)?;
        sweep_dir_of(&dest)?;
        let written = durable.persist()?;
        forget_records(&run, &dest)?;
        Ok(written)
    }
}

/// A full disk met while writing or syncing `dest`: the typed no-space error with what
/// is free now, what the file needed and what pruning would free. Other errors pass.
fn no_space(e: Error, run: &Path, dest: &Path, bytes: u64, options: &EngineOptions) -> Error {
    super::save::no_space_midway(e, dest, bytes, || prune_hint(run, options))
}

fn sweep_dir_of(dest: &Path) -> Result<()> {
    if let Some(d) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        super::mutation::sweep_stale_temps(d)?;
    }
    Ok(())
}

/// Drop `.ckpt/state.json` records (hashes, file records) of the checkpoint at `path`:
/// its bytes changed or it is gone. Writes the state only when something was dropped.
fn forget_records(run: &Path, path: &Path) -> Result<()> {
    if !crate::store::state_path(run).is_file() {
        return Ok(());
    }
    let Ok(rel) = checked_rel(run, path) else {
        return Ok(());
    };
    let name = rel.to_string_lossy().into_owned();
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut state = load_state(run)?;
    let before = (state.hashes.len(), state.files.len());
    for key in [&name, &file] {
        state.hashes.remove(key);
        state.files.remove(key);
    }
    if (state.hashes.len(), state.files.len()) != before {
        store_state(run, &state)?;
    }
    Ok(())
}

/// What [`remove_run_file`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Removed {
    /// Unlinked; `bytes_freed` counts an inode only when this was its last name.
    Removed { bytes_freed: u64 },
    /// Nothing was there.
    Missing,
    /// Kept: the checkpoint is pinned or the held best (`ckpt pin`/`promote`).
    Kept { reason: String },
}

/// Remove a checkpoint file (or a checkpoint directory, atomically) that a trainer names
/// inside `run`, under the run lock. The name itself goes (a symlink is never
/// followed); `.ckpt/`, trainer bookkeeping files and anything outside the run are
/// refused; a pinned or held-best checkpoint is kept and reported.
pub fn remove_run_file(run: &Path, path: &Path, options: EngineOptions) -> Result<Removed> {
    let rel = checked_rel(run, path)?;
    let _lock = super::mutation::begin(run, "remove", &options)?;
    let md = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removed::Missing),
        Err(e) => return Err(Error::io("stat", path, e)),
    };
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rel_s = rel.to_string_lossy().into_owned();
    if crate::store::state_path(run).is_file() {
        let state = load_state(run)?;
        let named = |n: &String| *n == file || *n == rel_s;
        if state.pinned.iter().any(named) {
            return Ok(Removed::Kept {
                reason: format!("{rel_s} is pinned (`ckpt unpin` to let the trainer remove it)"),
            });
        }
        if state.best_held.as_ref().is_some_and(named) {
            return Ok(Removed::Kept {
                reason: format!(
                    "{rel_s} is the promoted best (`ckpt promote --release` to let the trainer remove it)"
                ),
            });
        }
    }
    let mut freed = 0;
    if md.is_dir() {
        for f in super::prune::stamps_of(path)? {
            if f.nlink <= 1 {
                freed += f.bytes;
            }
        }
        super::prune::remove_dir_atomically(path)?;
    } else {
        super::fault::point("prune.unlink").map_err(|e| Error::io("remove", path, e))?;
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removed::Missing),
            Err(e) => return Err(Error::io("remove", path, e)),
        }
        if md.is_file() && md.nlink() <= 1 {
            freed = md.len();
        }
    }
    if let Some(d) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        atomic::fsync_dir(d)?;
    }
    forget_records(run, path)?;
    Ok(Removed::Removed { bytes_freed: freed })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write `source` at `dest` inside `run` in one call, as a trainer's adapter does.
    fn write_run_file(
        run: &Path,
        dest: &Path,
        source: Source<'_>,
        options: EngineOptions,
    ) -> Result<Written> {
        let expected = match &source {
            Source::Bytes(b) => Some(b.len() as u64),
            Source::CopyOf(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            _ => None,
        };
        let mut w = RunFileWriter::create(run, dest, expected, options)?;
        w.fill(source)?;
        w.commit()
    }

    fn opts() -> EngineOptions {
        EngineOptions::default()
    }

    #[test]
    fn owning_run_of_lightning_and_plain_files() {
        assert_eq!(
            owning_run(Path::new(
                "/x/lightning_logs/version_0/checkpoints/epoch=0-step=2.ckpt"
            )),
            PathBuf::from("/x/lightning_logs/version_0")
        );
        assert_eq!(
            owning_run(Path::new("/x/out/recovery-1-5.pth.tar")),
            PathBuf::from("/x/out")
        );
    }

    #[test]
    fn writes_atomically_and_streams() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("version_0");
        std::fs::create_dir(&run).unwrap();
        let dest = run.join("checkpoints").join("epoch=0-step=2.ckpt");
        let mut w = RunFileWriter::create(&run, &dest, None, opts()).unwrap();
        w.fill(Source::Bytes(b"hello ")).unwrap();
        w.fill(Source::Bytes(b"world")).unwrap();
        let temp = w.temp.path().to_path_buf();
        assert!(
            temp.exists() && !dest.exists(),
            "nothing under the final name yet"
        );
        assert_eq!(temp.parent(), dest.parent(), "temp in the same directory");
        let written = w.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
        assert_eq!(written.bytes, 11);
        assert!(!temp.exists());
        assert!(crate::store::temp::find_temps(&run.join("checkpoints")).is_empty());
        // Dropped without commit: the temp goes, the old file stays.
        let mut w = RunFileWriter::create(&run, &dest, None, opts()).unwrap();
        w.fill(Source::Bytes(b"partial")).unwrap();
        let temp = w.temp.path().to_path_buf();
        drop(w);
        assert!(!temp.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
    }

    #[test]
    fn refuses_paths_outside_the_run_and_its_state() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir_all(run.join(".ckpt")).unwrap();
        let outside = d.path().join("elsewhere.ckpt");
        for dest in [
            outside.clone(),
            run.join(".ckpt").join("manifest.json"),
            run.join("hparams.yaml"),
            run.join("..").join("run").join("x.ckpt"),
        ] {
            let e = write_run_file(&run, &dest, Source::Bytes(b"x"), opts()).unwrap_err();
            assert!(matches!(e, Error::Protected(_)), "{dest:?}: {e}");
        }
        // A symlinked directory inside the run that points out of it.
        std::os::unix::fs::symlink(d.path(), run.join("link")).unwrap();
        let e = write_run_file(
            &run,
            &run.join("link").join("a.ckpt"),
            Source::Bytes(b"x"),
            opts(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("outside the run"), "{e}");
        assert!(!d.path().join("a.ckpt").exists());
        std::fs::write(&outside, b"keep").unwrap();
        assert!(remove_run_file(&run, &outside, opts()).is_err());
        assert!(outside.exists());
    }

    #[test]
    fn removes_names_never_targets_and_keeps_pinned() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        let ck = run.join("checkpoints");
        std::fs::create_dir_all(&ck).unwrap();
        let target = d.path().join("precious.bin");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, ck.join("last.ckpt")).unwrap();
        assert_eq!(
            remove_run_file(&run, &ck.join("last.ckpt"), opts()).unwrap(),
            Removed::Removed { bytes_freed: 0 }
        );
        assert!(target.exists(), "a symlink is removed, never followed");
        std::fs::write(ck.join("epoch=1-step=4.ckpt"), b"12345").unwrap();
        let mut state = load_state(&run).unwrap();
        state.pinned.push("epoch=1-step=4.ckpt".into());
        store_state(&run, &state).unwrap();
        let r = remove_run_file(&run, &ck.join("epoch=1-step=4.ckpt"), opts()).unwrap();
        assert!(matches!(r, Removed::Kept { .. }), "{r:?}");
        assert!(ck.join("epoch=1-step=4.ckpt").exists());
        std::fs::write(ck.join("epoch=2-step=6.ckpt"), b"123").unwrap();
        assert_eq!(
            remove_run_file(&run, &ck.join("epoch=2-step=6.ckpt"), opts()).unwrap(),
            Removed::Removed { bytes_freed: 3 }
        );
        assert_eq!(
            remove_run_file(&run, &ck.join("epoch=2-step=6.ckpt"), opts()).unwrap(),
            Removed::Missing
        );
    }

    #[test]
    fn a_stale_temp_of_a_dead_writer_is_swept_by_the_next_commit() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        let ck = run.join("checkpoints");
        std::fs::create_dir_all(&ck).unwrap();
        let dead = ck.join(format!(
            ".ckpt-tmp-{}-2147483600-0123456789abcdef-epoch=0-step=1.ckpt",
            crate::store::temp::host_tag()
        ));
        std::fs::write(&dead, b"partial").unwrap();
        write_run_file(&run, &ck.join("last.ckpt"), Source::Bytes(b"x"), opts()).unwrap();
        assert!(!dead.exists());
    }
}
