//! Filesystem steps shared by promote/restore/verify/doctor: trash folders, durable
//! link-or-copy, content comparison, no-clobber export. Each step passes the fault seam.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::engine::fault;
use crate::engine::{Progress, ProgressFn};
use crate::store::temp::temp_path;
use crate::{Error, Result};

/// Progress sink used inside the operations (the public `Option<ProgressFn>` is
/// turned into one by [`with_progress`]).
pub(crate) type Report<'a> = &'a mut dyn FnMut(&Progress);

/// Call `f` with a progress sink: the caller's callback, or a no-op.
pub(crate) fn with_progress<T>(
    progress: Option<ProgressFn<'_>>,
    f: impl FnOnce(Report<'_>) -> T,
) -> T {
    let mut noop = |_: &Progress| {};
    match progress {
        Some(p) => f(p),
        None => f(&mut noop),
    }
}

/// Chunk size for copies and comparisons.
const CHUNK: usize = 1 << 20;

/// Run a fault point, mapping an injected failure to a typed error on `path`.
pub(crate) fn step(label: &'static str, path: &Path) -> Result<()> {
    fault::point(label).map_err(|e| Error::io(label, path, e))
}

/// Map an io error to a typed error naming the step and path.
pub(crate) fn io<T>(label: &'static str, path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Error::io(label, path, e))
}

/// fsync a directory so a rename or link in it is durable.
pub(crate) fn fsync_dir(label: &'static str, dir: &Path) -> Result<()> {
    step(label, dir)?;
    let d = io(label, dir, File::open(dir))?;
    io(label, dir, d.sync_all())
}

/// `.ckpt/` of a run.
pub(crate) fn state_dir(run: &Path) -> PathBuf {
    run.join(".ckpt")
}

/// Name of a fresh trash folder: `.ckpt/trash/<UTC time>` (suffixed if taken). Pure.
pub(crate) fn plan_trash_dir(run: &Path) -> PathBuf {
    let base = state_dir(run).join("trash");
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut dir = base.join(&stamp);
    let mut n = 1;
    while dir.exists() {
        dir = base.join(format!("{stamp}-{n}"));
        n += 1;
    }
    dir
}

/// Create a trash folder (and its parents) durably.
pub(crate) fn make_trash_dir(dir: &Path) -> Result<()> {
    step("trash.mkdir", dir)?;
    // `.ckpt`, `.ckpt/trash` and the folder itself: real directories, never a symlink
    // out of the run.
    for a in dir.ancestors() {
        crate::store::state_files::check_real_dir(a)?;
        if a.file_name().is_some_and(|n| n == crate::store::STATE_DIR) {
            break;
        }
    }
    crate::engine::atomic::create_dir_durable(dir)
}

/// Keep a second durable name for `src` at `dst` (a new name in the trash): hardlink,
/// or a durable copy when the filesystem cannot link. `src` stays where it is.
pub(crate) fn keep_copy(src: &Path, dst: &Path, report: Report<'_>) -> Result<()> {
    step("trash.link", dst)?;
    if crate::engine::alias::hard_link(src, dst).is_err() {
        let copy = crate::engine::atomic::write_temp(
            dst,
            crate::engine::atomic::Source::CopyOf(src),
            Some(report),
        )?;
        step("trash.rename", dst)?;
        copy.persist_noclobber()?;
    }
    fsync_dir("trash.fsync_dir", dst.parent().unwrap_or(Path::new(".")))
}

/// Move a file or a whole directory into the trash by rename (same filesystem; a
/// symlink is moved as a link, never followed). Durable in both directories.
pub(crate) fn move_into(src: &Path, dst: &Path) -> Result<()> {
    step("trash.rename", src)?;
    io("trash.rename", src, fs::rename(src, dst))?;
    fsync_dir("trash.fsync_dir", dst.parent().unwrap_or(Path::new(".")))?;
    fsync_dir("trash.fsync_dir", src.parent().unwrap_or(Path::new(".")))
}

/// True when `a` and `b` hold the same bytes (same inode, or equal size and content).
/// Neither path is followed if it is a symlink.
pub(crate) fn same_content(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (ma, mb) = (fs::metadata(a)?, fs::metadata(b)?);
    if !ma.is_file() || !mb.is_file() {
        return Ok(false);
    }
    if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
        return Ok(true);
    }
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (File::open(a)?, File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    loop {
        let n = read_full(&mut fa, &mut ba)?;
        let m = read_full(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Copy `src` into a fresh temp file `tmp` (O_EXCL), fsync it, with progress by bytes.
/// The temp gets plain-create permissions. The caller renames or removes it.
pub(crate) fn copy_to_temp(src: &Path, tmp: &Path, report: Report<'_>) -> Result<u64> {
    step("copy.open", src)?;
    let mut input = io("copy.open", src, File::open(src))?;
    let total = io("copy.open", src, input.metadata())?.len();
    step("copy.create", tmp)?;
    let mut out = io(
        "copy.create",
        tmp,
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp),
    )?;
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    let what = format!("copy {}", src.display());
    loop {
        let n = io("copy.read", src, read_full(&mut input, &mut buf))?;
        if n == 0 {
            break;
        }
        step("copy.write", tmp)?;
        io("copy.write", tmp, out.write_all(&buf[..n]))?;
        done += n as u64;
        report(&Progress {
            what: what.clone(),
            done,
            total,
        });
    }
    step("copy.fsync", tmp)?;
    io("copy.fsync", tmp, out.sync_all())?;
    Ok(done)
}

/// Copy a directory tree (regular files and subdirectories; symlinks are recreated as
/// links, never followed) into a fresh `tmp` directory, every file fsynced.
pub(crate) fn copy_dir_to_temp(src: &Path, tmp: &Path, report: Report<'_>) -> Result<u64> {
    step("copy.mkdir", tmp)?;
    io("copy.mkdir", tmp, fs::create_dir(tmp))?;
    let mut total = 0;
    for entry in io("copy.readdir", src, fs::read_dir(src))? {
        let entry = io("copy.readdir", src, entry)?;
        let from = entry.path();
        let to = tmp.join(entry.file_name());
        let ft = io("copy.stat", &from, entry.file_type())?;
        if ft.is_symlink() {
            let target = io("copy.readlink", &from, fs::read_link(&from))?;
            io("copy.symlink", &to, std::os::unix::fs::symlink(target, &to))?;
        } else if ft.is_dir() {
            total += copy_dir_to_temp(&from, &to, report)?;
        } else {
            total += copy_to_temp(&from, &to, report)?;
        }
    }
    fsync_dir("copy.fsync_dir", tmp)?;
    Ok(total)
}

/// Rename `tmp` onto `dest`. Without `force` the rename refuses to replace anything
/// (RENAME_NOREPLACE, or link+unlink where that is unsupported) → [`Error::Exists`].
pub(crate) fn rename_into_place(tmp: &Path, dest: &Path, force: bool) -> Result<()> {
    step("export.rename", dest)?;
    if force {
        if dest.is_dir() && !dest.is_symlink() {
            // A directory cannot be renamed over a non-empty one: swap it aside first.
            let parent = dest.parent().unwrap_or(Path::new("."));
            let aside = temp_path(parent, dest);
            io("export.rename", dest, fs::rename(dest, &aside))?;
            io("export.rename", dest, fs::rename(tmp, dest))?;
            io("export.remove_old", &aside, fs::remove_dir_all(&aside))?;
        } else {
            io("export.rename", dest, fs::rename(tmp, dest))?;
        }
        return Ok(());
    }
    let r = rustix::fs::renameat_with(
        rustix::fs::CWD,
        tmp,
        rustix::fs::CWD,
        dest,
        rustix::fs::RenameFlags::NOREPLACE,
    );
    match r {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::EXIST) => Err(Error::Exists {
            path: dest.to_path_buf(),
        }),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // Filesystem without RENAME_NOREPLACE: link fails if dest exists.
            if tmp.is_dir() {
                if dest.exists() {
                    return Err(Error::Exists {
                        path: dest.to_path_buf(),
                    });
                }
                return io("export.rename", dest, fs::rename(tmp, dest));
            }
            match fs::hard_link(tmp, dest) {
                Ok(()) => io("export.unlink_temp", tmp, fs::remove_file(tmp)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Exists {
                    path: dest.to_path_buf(),
                }),
                Err(e) => Err(Error::io("export.rename", dest, e)),
            }
        }
        Err(e) => Err(Error::io("export.rename", dest, e.into())),
    }
}

/// Export an independent copy of `src` (file or directory) to `dest` atomically: temp
/// next to `dest`, fsync, rename, directory fsync. Refuses to clobber unless `force`.
pub(crate) fn export(src: &Path, dest: &Path, force: bool, report: Report<'_>) -> Result<u64> {
    if !force && (dest.exists() || dest.is_symlink()) {
        return Err(Error::Exists {
            path: dest.to_path_buf(),
        });
    }
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::BadRequest(format!(
            "cannot export to {}: directory {} does not exist",
            dest.display(),
            parent.display()
        )));
    }
    let is_dir = io("export.stat", src, fs::metadata(src))?.is_dir();
    // Rule 6: room for the whole copy, checked before anything is written.
    let size: u64 = tree_files(src)
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    crate::engine::save::preflight(&parent, size, || {
        "free space there or export to another filesystem".to_string()
    })?;
    if !is_dir {
        step("export.copy", dest)?;
        let copy = crate::engine::atomic::write_temp(
            dest,
            crate::engine::atomic::Source::CopyOf(src),
            Some(report),
        )?;
        step("export.rename", dest)?;
        let written = if force {
            copy.persist()?
        } else {
            copy.persist_noclobber()?
        };
        return Ok(written.bytes);
    }
    let tmp = temp_path(&parent, dest);
    let bytes = match copy_dir_to_temp(src, &tmp, report) {
        Ok(b) => b,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = rename_into_place(&tmp, dest, force) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    fsync_dir("export.fsync_dir", &parent)?;
    Ok(bytes)
}

/// Regular files under `path` (itself when it is a file), never following symlinks.
pub(crate) fn tree_files(path: &Path) -> Vec<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let mut v: Vec<PathBuf> = fs::read_dir(path)
                .map(|rd| rd.flatten().flat_map(|e| tree_files(&e.path())).collect())
                .unwrap_or_default();
            v.sort();
            v
        }
        Ok(m) if m.is_file() => vec![path.to_path_buf()],
        _ => vec![],
    }
}
