//! Atomic file writes (DESIGN §3 rules 2, 3, 7, 8): unique O_EXCL temp in the
//! destination's directory, hash while writing, fsync, rename, directory fsync.
//!
//! The write is split in two so the slow part needs no lock (rule 1): [`TempFile`]
//! streams and hashes the data into a temp, [`TempFile::finish`] makes it durable and
//! returns a [`DurableTemp`], and [`DurableTemp::persist`] renames it onto its final
//! name under the caller's lock. Dropping either one removes the temp (rule 7).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use xxhash_rust::xxh3::Xxh3;

use super::fault;
use super::hash::{format_hash, hash_file};
use super::{Progress, ProgressFn};
use crate::store::temp::{register_live, temp_name};
use crate::{Error, Result};

pub(crate) use crate::store::hash::BUF;
/// Writeback window: writeback of each window is started as soon as it is written, so
/// the final fsync has little left to do.
const WINDOW: u64 = 16 << 20;
/// Windows allowed in flight before waiting for the oldest: keeps the device queue
/// deep (waiting on each window serialised I/O) while bounding dirty memory.
const IN_FLIGHT: u64 = 8;

/// Permissions a plain `create` would give a new file: 0666 & !umask (rule 8). The
/// umask is read once per process.
pub fn create_mode() -> u32 {
    static MODE: OnceLock<u32> = OnceLock::new();
    *MODE.get_or_init(|| 0o666 & !current_umask())
}

/// Give a just-written file [`create_mode`] (rule 8).
pub(crate) fn set_create_mode(file: &File) -> std::io::Result<()> {
    file.set_permissions(std::fs::Permissions::from_mode(create_mode()))
}

/// A chmod result, with "this filesystem has no permission bits" counted as done:
/// many FUSE mounts (gcsfuse, s3fs, some sshfs options) answer `fchmod` with ENOSYS or
/// ENOTSUP and give every file the mount's fixed mode whatever we ask, so that is no
/// reason to lose a save.
pub(crate) fn chmod_unsupported_is_ok(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::ENOTSUP)) => Ok(()),
        r => r,
    }
}

fn current_umask() -> u32 {
    // /proc/self/status reads the umask without changing it (no race with other threads).
    if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
        for line in s.lines() {
            if let Some(v) = line.strip_prefix("Umask:") {
                if let Ok(m) = u32::from_str_radix(v.trim(), 8) {
                    return m;
                }
            }
        }
    }
    // SAFETY: umask cannot fail; we set it back at once.
    unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old as u32
    }
}

/// fsync a directory so renames and unlinks in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    fault::point("dir.fsync").map_err(|e| Error::io("fsync directory", dir, e))?;
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all()
        .map_err(|e| Error::io("fsync directory", dir, e))
}

fn parent_of(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name_of(dest: &Path) -> Result<String> {
    dest.file_name()
        .and_then(OsStr::to_str)
        .map(str::to_string)
        .ok_or_else(|| Error::BadRequest(format!("{} has no usable file name", dest.display())))
}

/// Where the bytes of an atomic write come from.
pub enum Source<'a> {
    Bytes(&'a [u8]),
    /// Read until EOF.
    Reader(&'a mut dyn Read),
    /// Called once with the temp file to fill.
    Writer(&'a mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>),
    /// Copy this file's bytes.
    CopyOf(&'a Path),
}

/// A temp file being written and hashed; removed on drop unless finished.
pub struct TempFile {
    path: PathBuf,
    dest: PathBuf,
    file: Option<File>,
    hasher: Xxh3,
    bytes: u64,
    kicked: u64,
}

/// Writer adapter that hashes and counts; the write step passes the fault seam.
struct HashingWriter<'a, 'p> {
    file: &'a mut File,
    hasher: &'a mut Xxh3,
    bytes: &'a mut u64,
    /// Start of the window whose writeback was started last.
    kicked: &'a mut u64,
    progress: Option<ProgressFn<'p>>,
    /// Bytes at the last progress report.
    reported: u64,
    what: String,
    total: u64,
}

/// Report progress at most once per this many bytes.
const REPORT_EVERY: u64 = 1 << 20;

impl HashingWriter<'_, '_> {
    fn report(&mut self, last: bool) {
        let done = *self.bytes;
        if let Some(p) = self.progress.as_mut() {
            if done >= self.reported + REPORT_EVERY
                || (last && done != self.reported)
                || (last && done == 0)
            {
                self.reported = done;
                p(&Progress {
                    what: self.what.clone(),
                    done,
                    total: self.total.max(done),
                });
            }
        }
    }

    /// Start writeback of each full window, and wait for the window `IN_FLIGHT` back
    /// (sync_file_range: a hint; errors surface at the final fsync).
    fn pump_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        while *self.bytes >= *self.kicked + WINDOW {
            let start = *self.kicked;
            // SAFETY: plain syscalls on a valid fd we own; ranges are in bounds.
            unsafe {
                libc::sync_file_range(
                    fd,
                    start as libc::off64_t,
                    WINDOW as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
                if start >= IN_FLIGHT * WINDOW {
                    libc::sync_file_range(
                        fd,
                        (start - IN_FLIGHT * WINDOW) as libc::off64_t,
                        WINDOW as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WAIT_BEFORE
                            | libc::SYNC_FILE_RANGE_WRITE
                            | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                    );
                }
            }
            *self.kicked = start + WINDOW;
        }
    }
}

impl Write for HashingWriter<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        fault::point("tmp.write")?;
        // At most one buffer per call, so the bytes are still in cache when hashed.
        let buf = &buf[..buf.len().min(BUF)];
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        *self.bytes += n as u64;
        self.pump_writeback();
        self.report(false);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn classify_create_error(dir: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EROFS) | Some(libc::EPERM) => Error::NotWritable {
            path: dir.to_path_buf(),
            source: e,
        },
        _ => Error::io("create temp file in", dir, e),
    }
}

impl TempFile {
    /// Create a unique temp (O_EXCL) next to `dest`. Fails with [`Error::NotWritable`]
    /// when the directory refuses writes, before any data is written.
    pub fn create_for(dest: &Path) -> Result<TempFile> {
        let dir = parent_of(dest);
        let final_name = file_name_of(dest)?;
        let mut attempts = 0;
        loop {
            let path = dir.join(temp_name(&final_name));
            fault::point("tmp.create").map_err(|e| classify_create_error(&dir, e))?;
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(file) => {
                    register_live(&path, true);
                    return Ok(TempFile {
                        path,
                        dest: dest.to_path_buf(),
                        file: Some(file),
                        hasher: Xxh3::new(),
                        bytes: 0,
                        kicked: 0,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                Err(e) => return Err(classify_create_error(&dir, e)),
            }
        }
    }

    /// The temp's current path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Append data from `source`, hashing it; progress is reported per buffer.
    pub fn fill(&mut self, source: Source<'_>, progress: Option<ProgressFn<'_>>) -> Result<()> {
        let dest = self.dest.clone();
        let Some(file) = self.file.as_mut() else {
            return Err(Error::Internal("temp file already finished".into()));
        };
        let total = match &source {
            Source::Bytes(b) => b.len() as u64,
            Source::CopyOf(src) => std::fs::metadata(src).map(|m| m.len()).unwrap_or(0),
            _ => 0,
        };
        let mut w = HashingWriter {
            file,
            hasher: &mut self.hasher,
            bytes: &mut self.bytes,
            kicked: &mut self.kicked,
            progress,
            reported: 0,
            what: format!("write {}", dest.display()),
            total,
        };
        let werr = |e: std::io::Error| Error::io("write", &dest, e);
        match source {
            Source::Bytes(b) => w.write_all(b).map_err(werr)?,
            Source::Writer(f) => f(&mut w).map_err(werr)?,
            Source::Reader(r) => copy_stream(r, &mut w, Path::new("stream"), &dest)?,
            Source::CopyOf(src) => {
                let mut f = File::open(src).map_err(|e| Error::io("open", src, e))?;
                advise_sequential(&f);
                copy_stream(&mut f, &mut w, src, &dest)?;
            }
        }
        w.report(true);
        Ok(())
    }

    /// fsync and close the temp (checking both), give it umask permissions; the data is
    /// durable under the temp name afterwards.
    pub(crate) fn finish(mut self) -> Result<DurableTemp> {
        let Some(file) = self.file.take() else {
            return Err(Error::Internal("temp file already finished".into()));
        };
        let dest = self.dest.clone();
        chmod_unsupported_is_ok(fault::point("tmp.chmod").and_then(|()| set_create_mode(&file)))
            .map_err(|e| Error::io("chmod", &dest, e))?;
        fault::point("tmp.fsync").map_err(|e| Error::io("fsync", &dest, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", &dest, e))?;
        let meta = file.metadata().map_err(|e| Error::io("stat", &dest, e))?;
        close_checked(file).map_err(|e| Error::io("close", &dest, e))?;
        let hash = format_hash(self.hasher.digest128());
        let path = std::mem::take(&mut self.path);
        Ok(DurableTemp {
            path,
            dest,
            bytes: self.bytes,
            hash,
            dev: meta.dev(),
            ino: meta.ino(),
            unlink_after: None,
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            // Cleanup is not a step: it never passes the fault seam (see `fault`).
            let _ = std::fs::remove_file(&self.path);
            register_live(&self.path, false);
        }
    }
}

fn close_checked(file: File) -> std::io::Result<()> {
    use std::os::fd::IntoRawFd;
    let fd = file.into_raw_fd();
    // SAFETY: we own fd (taken from the File) and close it exactly once.
    if unsafe { libc::close(fd) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
    Ok(())
}

fn copy_stream(
    r: &mut dyn Read,
    w: &mut HashingWriter<'_, '_>,
    src: &Path,
    dest: &Path,
) -> Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read", src, e)),
        };
        w.write_all(&buf[..n])
            .map_err(|e| Error::io("write", dest, e))?;
    }
}

/// Tell the kernel a source file is read front to back (larger readahead).
fn advise_sequential(f: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a hint on a valid fd; the result does not matter.
    unsafe {
        libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
    }
}

/// A complete, fsynced temp file waiting to be renamed onto its final name.
/// Dropping it removes the temp.
#[derive(Debug)]
pub(crate) struct DurableTemp {
    path: PathBuf,
    dest: PathBuf,
    /// Bytes written.
    pub bytes: u64,
    /// `xxh3-128:<hex>` of the bytes written.
    pub hash: String,
    /// Device and inode: after the rename the final name has this identity.
    pub dev: u64,
    pub ino: u64,
    /// For a move: the source to unlink once persisted.
    unlink_after: Option<PathBuf>,
}

/// A file written atomically: its final path, size and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub hash: String,
}

impl DurableTemp {
    /// The temp's current path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Rename onto the destination (atomic replace; never unlink first), then fsync the
    /// directory (rule 3). For a move, the source name is removed afterwards.
    pub(crate) fn persist(self) -> Result<Written> {
        self.persist_inner(false)
    }

    /// Like [`persist`](Self::persist) but never replaces an existing destination:
    /// fails with [`Error::Exists`] instead (for exports without `--force`).
    pub(crate) fn persist_noclobber(self) -> Result<Written> {
        self.persist_inner(true)
    }

    fn persist_inner(mut self, noclobber: bool) -> Result<Written> {
        let dest = self.dest.clone();
        fault::point("tmp.rename").map_err(|e| Error::io("rename into place", &dest, e))?;
        if noclobber {
            rename_noreplace(&self.path, &dest).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists { path: dest.clone() }
                } else {
                    Error::io("rename into place", &dest, e)
                }
            })?;
        } else {
            std::fs::rename(&self.path, &dest)
                .map_err(|e| Error::io("rename into place", &dest, e))?;
        }
        register_live(&self.path, false);
        self.path = PathBuf::new();
        let dir = parent_of(&dest);
        fsync_dir(&dir)?;
        if let Some(src) = self.unlink_after.take() {
            fault::point("move.unlink_source")
                .map_err(|e| Error::io("remove moved source", &src, e))?;
            std::fs::remove_file(&src).map_err(|e| Error::io("remove moved source", &src, e))?;
            fsync_dir(&parent_of(&src))?;
        }
        Ok(Written {
            path: dest,
            bytes: self.bytes,
            hash: self.hash.clone(),
        })
    }
}

impl Drop for DurableTemp {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
            register_live(&self.path, false);
        }
    }
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
            // Filesystems without RENAME_NOREPLACE: link() refuses an existing name too.
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(std::io::Error::from_raw_os_error(e.raw_os_error())),
    }
}

/// Write `source` durably to a temp next to `dest` (no rename yet).
pub(crate) fn write_temp(
    dest: &Path,
    source: Source<'_>,
    progress: Option<ProgressFn<'_>>,
) -> Result<DurableTemp> {
    let mut t = TempFile::create_for(dest)?;
    t.fill(source, progress)?;
    t.finish()
}

/// Prepare moving `src` to `dest`: when on the same filesystem, link it under a temp
/// name next to `dest` (no data copied) and hash it; the source name is removed on
/// persist. Otherwise copy it (and still remove the source on persist).
pub(crate) fn move_temp(
    src: &Path,
    dest: &Path,
    progress: Option<ProgressFn<'_>>,
) -> Result<DurableTemp> {
    let dir = parent_of(dest);
    let final_name = file_name_of(dest)?;
    let smeta = std::fs::metadata(src).map_err(|e| Error::io("stat", src, e))?;
    let dmeta = std::fs::metadata(&dir).map_err(|e| Error::io("stat", &dir, e))?;
    if smeta.dev() == dmeta.dev() {
        let path = dir.join(temp_name(&final_name));
        let linked = fault::point("move.link").and_then(|_| super::alias::hard_link(src, &path));
        match linked {
            Ok(()) => {
                register_live(&path, true);
                let mut t = DurableTemp {
                    path,
                    dest: dest.to_path_buf(),
                    bytes: 0,
                    hash: String::new(),
                    dev: smeta.dev(),
                    ino: smeta.ino(),
                    unlink_after: Some(src.to_path_buf()),
                };
                let (bytes, hash) = hash_file(&t.path, progress)?;
                // The source may not be durable yet: make it so before it is committed.
                fault::point("tmp.fsync").map_err(|e| Error::io("fsync", dest, e))?;
                File::open(&t.path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Error::io("fsync", dest, e))?;
                t.bytes = bytes;
                t.hash = hash;
                return Ok(t);
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EACCES)
                    || e.raw_os_error() == Some(libc::EROFS) =>
            {
                return Err(Error::NotWritable {
                    path: dir,
                    source: e,
                });
            }
            Err(_) => {} // no hardlinks here: copy instead
        }
    }
    let mut t = write_temp(dest, Source::CopyOf(src), progress)?;
    t.unlink_after = Some(src.to_path_buf());
    Ok(t)
}

/// Write `source` to `dest` atomically and durably (temp, fsync, rename, dir fsync).
pub(crate) fn write_file_atomic(
    dest: &Path,
    source: Source<'_>,
    progress: Option<ProgressFn<'_>>,
) -> Result<Written> {
    write_temp(dest, source, progress)?.persist()
}

/// Replace a small file (manifest, state) atomically and durably.
pub(crate) fn replace_file_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_file_atomic(dest, Source::Bytes(bytes), None).map(|_| ())
}

/// Create `dir` (and parents) and fsync the parent of each new directory.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_durable(parent)?;
        }
    }
    fault::point("dir.create").map_err(|e| Error::io("create directory", dir, e))?;
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => {
            return Err(match e.raw_os_error() {
                Some(libc::EACCES) | Some(libc::EROFS) | Some(libc::EPERM) => Error::NotWritable {
                    path: dir.to_path_buf(),
                    source: e,
                },
                _ => Error::io("create directory", dir, e),
            })
        }
    }
    fsync_dir(&parent_of(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::hash::{format_hash, hash_file};
    use crate::engine::mutation::sweep_stale_temps;
    use crate::store::temp::{find_temps, host_tag, FOREIGN_HOST_GRACE};

    #[test]
    fn write_hash_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("a.bin");
        let w = write_file_atomic(&dest, Source::Bytes(b"hello"), None).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        assert_eq!(w.hash, format_hash(xxhash_rust::xxh3::xxh3_128(b"hello")));
        assert_eq!(hash_file(&dest, None).unwrap(), (5, w.hash.clone()));
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, create_mode());
        // replace keeps a single final file and no temps
        replace_file_atomic(&dest, b"world!").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"world!");
        assert!(find_temps(d.path()).is_empty());
    }

    #[test]
    fn failure_removes_temp_and_keeps_old() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("a.bin");
        std::fs::write(&dest, b"old").unwrap();
        fault::arm(fault::FaultPlan::fail(1, libc::EIO).on_label("tmp.fsync"));
        let e = write_file_atomic(&dest, Source::Bytes(b"new"), None).unwrap_err();
        fault::disarm();
        assert!(e.to_string().contains("fsync"), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn sweep_removes_dead_writers_only() {
        let d = tempfile::tempdir().unwrap();
        // pid that cannot exist (beyond pid_max) on this host counts as dead
        let dead = d.path().join(format!(
            ".ckpt-tmp-{}-2147483600-0123456789abcdef-x.bin",
            host_tag()
        ));
        std::fs::write(&dead, b"partial").unwrap();
        // Another host's (or an old, hostless) temp being written: kept despite its pid.
        let other = d
            .path()
            .join(".ckpt-tmp-0badc0de-2147483600-0123456789abcdef-x.bin");
        std::fs::write(&other, b"writing").unwrap();
        let old = d.path().join(".ckpt-tmp-2147483600-0123456789abcdef-z.bin");
        std::fs::write(&old, b"writing").unwrap();
        let timm = d.path().join("tmp.pth.tar");
        std::fs::write(&timm, b"timm").unwrap();
        let mut live = TempFile::create_for(&d.path().join("y.bin")).unwrap();
        live.fill(Source::Bytes(b"abc"), None).unwrap();
        let removed = sweep_stale_temps(d.path()).unwrap();
        assert_eq!(removed, vec![dead.clone()]);
        assert!(other.exists() && old.exists());
        assert!(timm.exists());
        // Untouched past the grace period: presumed abandoned wherever it was written.
        let past = std::time::SystemTime::now() - FOREIGN_HOST_GRACE * 2;
        std::fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(past)
            .unwrap();
        assert_eq!(sweep_stale_temps(d.path()).unwrap(), vec![other.clone()]);
        assert!(old.exists());
        assert!(live.path().exists());
        let found = find_temps(d.path());
        assert!(found.iter().any(|t| t.foreign && t.path == timm));
    }

    #[test]
    fn move_links_and_removes_source() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src.bin");
        std::fs::write(&src, b"payload").unwrap();
        let dest = d.path().join("dest.bin");
        let t = move_temp(&src, &dest, None).unwrap();
        assert_eq!(t.bytes, 7);
        assert!(src.exists(), "source stays until persist");
        t.persist().unwrap();
        assert!(!src.exists());
        assert_eq!(std::fs::read(&dest).unwrap(), b"payload");
    }

    #[test]
    fn noclobber_refuses_existing() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("x");
        std::fs::write(&dest, b"keep").unwrap();
        let t = write_temp(&dest, Source::Bytes(b"new"), None).unwrap();
        let e = t.persist_noclobber().unwrap_err();
        assert!(matches!(e, Error::Exists { .. }));
        assert_eq!(std::fs::read(&dest).unwrap(), b"keep");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
