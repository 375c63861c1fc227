//! Aliases (rule 4): link/reflink/copy under a temp name, then rename over the alias;
//! the strategy that works is remembered per device.
//!
//! The alias name never disappears, even for an instant: it is only ever replaced by
//! `rename(2)`, which also replaces a symlink itself rather than following it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use super::atomic::{chmod_unsupported_is_ok, fsync_dir, set_create_mode};
use super::fault;
use crate::store::temp::temp_name;
use crate::{Error, Result};

/// How an alias file is realised on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AliasStrategy {
    /// A second name for the same inode: instant, no extra space.
    Hardlink,
    /// A copy-on-write clone (FICLONE): instant, shares blocks.
    Reflink,
    /// A full byte copy, fsynced.
    Copy,
}

impl From<AliasStrategy> for crate::snapshot::AliasHow {
    fn from(s: AliasStrategy) -> Self {
        match s {
            AliasStrategy::Hardlink => crate::snapshot::AliasHow::Hardlink,
            AliasStrategy::Reflink => crate::snapshot::AliasHow::Reflink,
            AliasStrategy::Copy => crate::snapshot::AliasHow::Copy,
        }
    }
}

/// An optional strategy as its word, `"none"` when there is none.
pub(crate) fn serialize_strategy<S: serde::Serializer>(
    s: &Option<AliasStrategy>,
    ser: S,
) -> std::result::Result<S::Ok, S::Error> {
    ser.serialize_str(s.map_or("none", AliasStrategy::as_str))
}

impl std::fmt::Display for AliasStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AliasStrategy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AliasStrategy::Hardlink => "hardlink",
            AliasStrategy::Reflink => "reflink",
            AliasStrategy::Copy => "copy",
        }
    }

    /// The chain from this strategy on (hardlink → reflink → copy).
    fn chain_from(self) -> &'static [AliasStrategy] {
        const ALL: [AliasStrategy; 3] = [
            AliasStrategy::Hardlink,
            AliasStrategy::Reflink,
            AliasStrategy::Copy,
        ];
        match self {
            AliasStrategy::Hardlink => &ALL[..],
            AliasStrategy::Reflink => &ALL[1..],
            AliasStrategy::Copy => &ALL[2..],
        }
    }
}

fn known() -> &'static Mutex<HashMap<u64, AliasStrategy>> {
    static KNOWN: OnceLock<Mutex<HashMap<u64, AliasStrategy>>> = OnceLock::new();
    KNOWN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The strategy remembered for a device (first one that worked after a real failure).
pub(crate) fn known_strategy(dev: u64) -> Option<AliasStrategy> {
    known()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&dev)
        .copied()
}

fn remember(dev: u64, s: AliasStrategy) {
    known()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dev, s);
}

/// Point `dir/alias_name` at `dir/target` (a relative path inside the run, or absolute)
/// by hardlink, reflink or copy, atomically. Returns the strategy used; `None` when the
/// alias name is taken by something ckpt does not replace (a directory: see
/// [`blocked`]).
pub fn set_alias(dir: &Path, alias_name: &str, target: &Path) -> Result<Option<AliasStrategy>> {
    let src = dir.join(target);
    let alias = dir.join(alias_name);
    if blocked(&alias) {
        return Ok(None);
    }
    let strategy = link_or_copy(&src, &alias)?;
    fsync_dir(dir)?;
    Ok(Some(strategy))
}

/// True when an alias name is taken by something that is neither a file nor a symlink
/// (a directory, a fifo…): ckpt never replaces it, and a mutation goes on without that
/// alias instead of failing every time (the scan and `doctor` report it).
pub(crate) fn blocked(alias: &Path) -> bool {
    std::fs::symlink_metadata(alias)
        .is_ok_and(|m| !m.file_type().is_file() && !m.file_type().is_symlink())
}

/// How aliases will be realised in `dir`: the strategy remembered
/// for its device, else a probe — link `sample` (a small file of the run) under a temp
/// name, else clone it — remembered from then on. The space preflight counts full
/// copies of the new checkpoint when it says [`AliasStrategy::Copy`].
pub(crate) fn probe_strategy(dir: &Path, sample: &Path) -> AliasStrategy {
    let Ok(dev) = std::fs::metadata(dir).map(|m| m.dev()) else {
        return AliasStrategy::Hardlink;
    };
    if let Some(s) = known_strategy(dev) {
        return s;
    }
    let tmp = dir.join(temp_name("link-probe"));
    let found = if hard_link(sample, &tmp).is_ok() {
        AliasStrategy::Hardlink
    } else {
        let _ = std::fs::remove_file(&tmp);
        if try_clone(sample, &tmp, true).is_ok() {
            AliasStrategy::Reflink
        } else {
            AliasStrategy::Copy
        }
    };
    let _ = std::fs::remove_file(&tmp);
    remember(dev, found);
    found
}

/// [`link_or_copy`]; if the copy does not fit (ENOSPC) and `dest` is a copy whose bytes
/// a checkpoint file also holds (`may_drop`, asked only then), `dest` is unlinked first
/// and the copy tried once more, so re-pointing never needs more space than it frees
/// (no-hardlink filesystems).
pub(crate) fn link_or_copy_reclaiming(
    src: &Path,
    dest: &Path,
    may_drop: impl FnOnce() -> bool,
) -> Result<AliasStrategy> {
    match link_or_copy(src, dest) {
        Err(Error::Io { source, .. })
            if source.raw_os_error() == Some(libc::ENOSPC)
                && std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_file() && m.nlink() == 1)
                && may_drop() =>
        {
            fault::point("alias.reclaim").map_err(|e| Error::io("remove alias copy", dest, e))?;
            std::fs::remove_file(dest).map_err(|e| Error::io("remove alias copy", dest, e))?;
            link_or_copy(src, dest)
        }
        r => r,
    }
}

/// Make the alias file `alias` hold `src`'s bytes (rule 4), durably: [`link_or_copy`],
/// then fsync the alias's directory. Returns the strategy used.
pub(crate) fn point_alias(src: &Path, alias: &Path) -> Result<AliasStrategy> {
    let strategy = link_or_copy(src, alias)?;
    fsync_dir(alias.parent().unwrap_or(Path::new(".")))?;
    Ok(strategy)
}

/// Make `dest` an independent name for `src`'s bytes (hardlink → reflink → copy) via a
/// temp next to `dest` renamed over it. Does not fsync `dest`'s directory.
pub(crate) fn link_or_copy(src: &Path, dest: &Path) -> Result<AliasStrategy> {
    let smeta = std::fs::metadata(src).map_err(|e| Error::io("stat alias target", src, e))?;
    if !smeta.is_file() {
        return Err(Error::Unusable(format!(
            "{} is not a regular file; an alias must point at a checkpoint file",
            src.display()
        )));
    }
    // Already the same inode: rename(2) would be a no-op and leave the temp behind.
    if let Ok(d) = std::fs::symlink_metadata(dest) {
        if d.is_file() && d.dev() == smeta.dev() && d.ino() == smeta.ino() {
            return Ok(AliasStrategy::Hardlink);
        }
    }
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dmeta = std::fs::metadata(&dir).map_err(|e| Error::io("stat", &dir, e))?;
    let dest_name = dest
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::BadRequest(format!("{} has no usable name", dest.display())))?;
    let dev = dmeta.dev();
    let start = if smeta.dev() != dev {
        AliasStrategy::Copy
    } else {
        known_strategy(dev).unwrap_or(AliasStrategy::Hardlink)
    };
    let mut real_failure = false;
    let mut injected = false;
    let mut last_err = None;
    for &s in start.chain_from() {
        let tmp = dir.join(temp_name(dest_name));
        let attempt = match s {
            AliasStrategy::Hardlink => try_hardlink(src, &tmp),
            AliasStrategy::Reflink => try_clone(src, &tmp, true),
            AliasStrategy::Copy => try_clone(src, &tmp, false),
        };
        match attempt {
            Ok(()) => {
                let renamed =
                    fault::point("alias.rename").and_then(|_| std::fs::rename(&tmp, dest));
                if let Err(e) = renamed {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Error::io("rename alias into place", dest, e));
                }
                if real_failure && !injected {
                    remember(dev, s);
                }
                return Ok(s);
            }
            Err(Attempt::Injected(e)) => {
                let _ = std::fs::remove_file(&tmp);
                injected = true;
                last_err = Some(e);
            }
            Err(Attempt::Real(e)) => {
                let _ = std::fs::remove_file(&tmp);
                if s == AliasStrategy::Copy || is_fatal(&e) {
                    return Err(Error::io("copy alias", dest, e));
                }
                // Too many links is about this file, not the filesystem.
                if e.raw_os_error() != Some(libc::EMLINK) {
                    real_failure = true;
                }
                last_err = Some(e);
            }
        }
    }
    Err(Error::io(
        "create alias",
        dest,
        last_err.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::EIO)),
    ))
}

/// Errors that no other strategy can get around (disk full, read-only, I/O error).
fn is_fatal(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC) | Some(libc::EROFS) | Some(libc::EDQUOT) | Some(libc::EACCES)
    )
}

enum Attempt {
    /// The fault seam refused the step (a test): fall back, but remember nothing.
    Injected(std::io::Error),
    Real(std::io::Error),
}

fn try_hardlink(src: &Path, tmp: &Path) -> std::result::Result<(), Attempt> {
    fault::point("alias.link").map_err(Attempt::Injected)?;
    hard_link(src, tmp).map_err(Attempt::Real)
}

/// `link(2)`, after the `fs.link` seam point that lets tests stand in a filesystem
/// without hardlinks (its error is the filesystem's answer, not a transient step).
pub(crate) fn hard_link(src: &Path, dst: &Path) -> std::io::Result<()> {
    fault::point("fs.link")?;
    std::fs::hard_link(src, dst)
}

fn try_clone(src: &Path, tmp: &Path, reflink: bool) -> std::result::Result<(), Attempt> {
    fault::point("alias.create").map_err(Attempt::Injected)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(tmp)
        .map_err(Attempt::Real)?;
    let mut input = File::open(src).map_err(Attempt::Real)?;
    if reflink {
        fault::point("alias.reflink").map_err(Attempt::Injected)?;
        rustix::fs::ioctl_ficlone(&out, &input)
            .map_err(|e| Attempt::Real(std::io::Error::from_raw_os_error(e.raw_os_error())))?;
    } else {
        fault::point("alias.copy").map_err(Attempt::Injected)?;
        copy_all(&mut input, &mut out).map_err(Attempt::Real)?;
    }
    match fault::point("alias.chmod") {
        Ok(()) => chmod_unsupported_is_ok(set_create_mode(&out)).map_err(Attempt::Real)?,
        Err(e) => chmod_unsupported_is_ok(Err(e)).map_err(Attempt::Injected)?,
    }
    fault::point("alias.fsync").map_err(Attempt::Injected)?;
    out.sync_all().map_err(Attempt::Real)?;
    Ok(())
}

/// Copy a whole file in the kernel when possible (copy_file_range), else by buffer.
fn copy_all(input: &mut File, out: &mut File) -> std::io::Result<()> {
    let len = input.metadata()?.len();
    let mut done = 0u64;
    while done < len {
        match rustix::fs::copy_file_range(&*input, None, &*out, None, (len - done) as usize) {
            Ok(0) => break,
            Ok(n) => done += n as u64,
            Err(e)
                if e == rustix::io::Errno::XDEV
                    || e == rustix::io::Errno::NOSYS
                    || e == rustix::io::Errno::INVAL
                    || e == rustix::io::Errno::OPNOTSUPP =>
            {
                break
            }
            Err(e) => return Err(std::io::Error::from_raw_os_error(e.raw_os_error())),
        }
    }
    if done < len {
        // Fallback: user-space copy of whatever is left (the offsets are both at `done`).
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::atomic::create_mode;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hardlink_then_relink_same_inode() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("c1"), b"one").unwrap();
        std::fs::write(d.path().join("c2"), b"two").unwrap();
        let s = set_alias(d.path(), "last", Path::new("c1"))
            .unwrap()
            .unwrap();
        assert_eq!(s, AliasStrategy::Hardlink);
        assert_eq!(std::fs::read(d.path().join("last")).unwrap(), b"one");
        // same target again: no temp left behind
        set_alias(d.path(), "last", Path::new("c1")).unwrap();
        set_alias(d.path(), "last", Path::new("c2")).unwrap();
        assert_eq!(std::fs::read(d.path().join("last")).unwrap(), b"two");
        assert_eq!(
            crate::layout::common::alias_how(&d.path().join("last"), &d.path().join("c2")),
            crate::snapshot::AliasHow::Hardlink
        );
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3);
    }

    #[test]
    fn injected_link_failure_falls_back_without_remembering() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("c1"), vec![7u8; 100_000]).unwrap();
        fault::arm(fault::FaultPlan::fail(1, libc::EPERM).on_label("alias.link"));
        let s = set_alias(d.path(), "best", Path::new("c1"))
            .unwrap()
            .unwrap();
        fault::disarm();
        assert!(matches!(s, AliasStrategy::Reflink | AliasStrategy::Copy));
        assert_eq!(
            std::fs::read(d.path().join("best")).unwrap(),
            std::fs::read(d.path().join("c1")).unwrap()
        );
        let dev = std::fs::metadata(d.path()).unwrap().dev();
        assert_ne!(known_strategy(dev), Some(AliasStrategy::Copy));
        let mode = std::fs::metadata(d.path().join("best"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, create_mode());
    }

    #[test]
    fn symlink_alias_is_replaced_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("precious");
        std::fs::write(&victim, b"outside").unwrap();
        std::fs::write(d.path().join("c1"), b"inside").unwrap();
        std::os::unix::fs::symlink(&victim, d.path().join("last")).unwrap();
        set_alias(d.path(), "last", Path::new("c1"))
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"outside");
        assert_eq!(std::fs::read(d.path().join("last")).unwrap(), b"inside");
        assert!(!std::fs::symlink_metadata(d.path().join("last"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
