//! Files under `.ckpt/` (lock, manifest, state, trash) are opened without following
//! symlinks and must be the type they should be (DESIGN §2): `.ckpt` itself is opened
//! `O_NOFOLLOW|O_DIRECTORY`, its files `openat(…, O_NOFOLLOW)` relative to it and
//! checked to be regular files. Anything else is [`Error::NotOurs`] naming the path, so
//! a run unpacked from someone's tarball cannot make ckpt write or read elsewhere.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, FileType, Mode, OFlags, CWD};

use super::state_dir;
use crate::{Error, Result};

/// What a file type is called in messages.
pub(crate) fn type_word(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symlink",
        FileType::Fifo => "a fifo",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        _ => "an unknown kind of file",
    }
}

fn not_ours(path: PathBuf, expected: &'static str, found: &'static str) -> Error {
    Error::NotOurs {
        path,
        expected,
        found,
    }
}

/// Check that `path`, when it exists, is a real directory (not a symlink to one).
pub(crate) fn check_real_dir(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(md) => Err(not_ours(
            path.to_path_buf(),
            "directory",
            type_word(FileType::from_raw_mode(
                std::os::unix::fs::MetadataExt::mode(&md),
            )),
        )),
        // Missing (or a parent is not a directory): the caller's own step says so.
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            Ok(())
        }
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

/// `.ckpt/` and `.ckpt/trash/`, where they exist, are real directories.
pub(crate) fn check_state_dirs(run: &Path) -> Result<()> {
    check_real_dir(&state_dir(run))?;
    check_real_dir(&super::trash_dir(run))
}

/// Open `.ckpt/` of `run` as a directory without following a symlink.
pub(crate) fn open_state_dir(run: &Path) -> Result<OwnedFd> {
    let path = state_dir(run);
    match openat(
        CWD,
        &path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(fd),
        Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR => {
            check_real_dir(&path)?;
            Err(Error::io("open", &path, e.into()))
        }
        Err(e) => Err(Error::io("open", &path, e.into())),
    }
}

/// Open `.ckpt/<name>` with `flags` (plus `O_NOFOLLOW|O_CLOEXEC`; `mode` when it is
/// created) and check it is a regular file.
pub(crate) fn open_state_file(run: &Path, name: &str, flags: OFlags, mode: u32) -> Result<File> {
    let dir = open_state_dir(run)?;
    let path = state_dir(run).join(name);
    let fd = openat(
        &dir,
        name,
        // NONBLOCK: a fifo in place of a file must not hang the open (fstat refuses it).
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            not_ours(path.clone(), "regular file", "a symlink")
        } else if e == rustix::io::Errno::ISDIR {
            not_ours(path.clone(), "regular file", "a directory")
        } else {
            Error::io("open", &path, e.into())
        }
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", &path, e.into()))?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(not_ours(path, "regular file", type_word(t)));
    }
    Ok(File::from(fd))
}

/// The bytes of `.ckpt/<name>`, `None` when it (or `.ckpt/`) does not exist.
pub(crate) fn read_state_file(run: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut f = match open_state_file(run, name, OFlags::RDONLY, 0) {
        Ok(f) => f,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let mut v = Vec::new();
    f.read_to_end(&mut v)
        .map_err(|e| Error::io("read", state_dir(run).join(name), e))?;
    Ok(Some(v))
}
