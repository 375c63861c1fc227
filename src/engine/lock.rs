//! The run lock (rule 1): exclusive flock on `.ckpt/lock`, holder pid and operation
//! recorded in the file so a waiting call (and `doctor`) can say who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use super::fault;
use crate::{Error, Result};

/// Who holds (or last held) a run lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub operation: String,
    /// RFC 3339 time the lock was taken.
    pub since: String,
}

impl LockHolder {
    /// True for the stand-in used when the lock file holds no readable holder record.
    pub(crate) fn is_unknown(&self) -> bool {
        self.pid == 0
    }

    /// "pid 42 (save) since <time>", or "another process (no holder record)".
    pub fn describe(&self) -> String {
        if self.is_unknown() {
            "another process (no holder record)".into()
        } else {
            format!("pid {} ({}) since {}", self.pid, self.operation, self.since)
        }
    }
}

/// An acquired run lock; released (and its holder record cleared) on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
}

pub(crate) use crate::store::lock_path;

impl RunLock {
    /// Take the exclusive lock of `run_dir` for `operation`, waiting up to `timeout`.
    /// Creates `.ckpt/` when missing. On timeout returns [`Error::Locked`] naming the
    /// holder.
    pub fn acquire(run_dir: &Path, operation: &str, timeout: Duration) -> Result<RunLock> {
        RunLock::acquire_with(run_dir, operation, timeout, None)
    }

    /// [`acquire`](Self::acquire), calling `on_wait` once with the holder when the
    /// lock is busy, so a waiting call can say who it waits for.
    pub(crate) fn acquire_with(
        run_dir: &Path,
        operation: &str,
        timeout: Duration,
        on_wait: Option<&(dyn Fn(&LockHolder) + Send + Sync)>,
    ) -> Result<RunLock> {
        let ckpt = run_dir.join(".ckpt");
        // `.ckpt` and the lock are never followed through a symlink (a symlinked lock
        // used to let `ckpt pin` truncate the file it pointed to).
        crate::store::state_files::check_real_dir(&ckpt)?;
        if std::fs::symlink_metadata(&ckpt).is_err() {
            super::atomic::create_dir_durable(&ckpt)?;
        }
        let path = lock_path(run_dir);
        fault::point("lock.open").map_err(|e| Error::io("open lock", &path, e))?;
        let file = crate::store::state_files::open_state_file(
            run_dir,
            "lock",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CREATE,
            0o666,
        )
        .map_err(|e| match e {
            Error::Io { source, .. }
                if matches!(
                    source.raw_os_error(),
                    Some(libc::EACCES) | Some(libc::EROFS)
                ) =>
            {
                Error::NotWritable {
                    path: path.clone(),
                    source,
                }
            }
            other => other,
        })?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut told = false;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {
                    if let (false, Some(f)) = (told, on_wait) {
                        // The holder writes its record just after locking: give it a
                        // moment before reporting an unknown holder.
                        let h = read_holder(&path).or_else(|| {
                            (start.elapsed() >= Duration::from_millis(100)).then(unknown_holder)
                        });
                        if let Some(h) = h {
                            told = true;
                            f(&h);
                        }
                    }
                    if start.elapsed() >= timeout {
                        let h = read_holder(&path).unwrap_or_else(unknown_holder);
                        return Err(Error::Locked {
                            run: run_dir.to_path_buf(),
                            pid: h.pid,
                            operation: h.operation,
                            since: h.since,
                            waited_secs: start.elapsed().as_secs(),
                        });
                    }
                    // Poll with a deadline; backoff keeps a long wait cheap.
                    std::thread::sleep(pause.min(timeout.saturating_sub(start.elapsed())));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(Error::io(
                        "lock",
                        &path,
                        std::io::Error::from_raw_os_error(e.raw_os_error()),
                    ))
                }
            }
        }
        let mut lock = RunLock { file };
        lock.write_holder(operation);
        Ok(lock)
    }

    fn write_holder(&mut self, operation: &str) {
        let h = LockHolder {
            pid: std::process::id(),
            operation: operation.to_string(),
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        // Best effort: the lock works without the record (e.g. on a full disk).
        if let Ok(text) = serde_json::to_string(&h) {
            let _ = self.file.set_len(0);
            let _ = self.file.seek(SeekFrom::Start(0));
            let _ = self.file.write_all(text.as_bytes());
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Clear the record while still holding the lock, then release by closing.
        let _ = self.file.set_len(0);
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

/// Stand-in when the holder record is missing or unreadable.
fn unknown_holder() -> LockHolder {
    LockHolder {
        pid: 0,
        operation: "unknown".into(),
        since: "an unknown time".into(),
    }
}

/// The holder record in the lock file (may be stale when nobody holds the lock).
pub(crate) fn read_holder(path: &Path) -> Option<LockHolder> {
    let mut s = String::new();
    open_nofollow(path)?.read_to_string(&mut s).ok()?;
    serde_json::from_str(s.trim()).ok()
}

/// Open a lock file for reading, never through a symlink, and only a regular file.
fn open_nofollow(path: &Path) -> Option<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

/// Who holds the lock of `run_dir` right now, if anyone (for `doctor`).
pub(crate) fn current_holder(run_dir: &Path) -> Option<LockHolder> {
    let path = lock_path(run_dir);
    let f = open_nofollow(&path)?;
    match flock(&f, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&f, FlockOperation::Unlock);
            None
        }
        Err(_) => Some(read_holder(&path).unwrap_or(LockHolder {
            pid: 0,
            operation: "unknown".into(),
            since: "an unknown time".into(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_times_out_naming_holder() {
        let d = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(d.path(), "save", Duration::from_secs(1)).unwrap();
        assert_eq!(current_holder(d.path()).unwrap().operation, "save");
        let e = RunLock::acquire(d.path(), "prune", Duration::from_millis(50)).unwrap_err();
        match e {
            Error::Locked { pid, operation, .. } => {
                assert_eq!(pid, std::process::id());
                assert_eq!(operation, "save");
            }
            other => panic!("unexpected {other}"),
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let cb = move |h: &LockHolder| s2.lock().unwrap().push(h.operation.clone());
        RunLock::acquire_with(d.path(), "pin", Duration::from_millis(80), Some(&cb)).unwrap_err();
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["save".to_string()],
            "called once"
        );
        drop(held);
        assert!(current_holder(d.path()).is_none());
        RunLock::acquire(d.path(), "prune", Duration::from_millis(50)).unwrap();
    }
}
