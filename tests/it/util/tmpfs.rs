//! A small tmpfs of a test's own (root only; otherwise the test says `SKIPPED` and
//! fails under `CI=true`): real ENOSPC, a read-only remount, a quiet filesystem whose
//! free space only the test changes. The one place tests mount anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::skip::{require_root, skip};

/// A tmpfs mounted for one test, unmounted (lazily if busy) on drop.
pub struct TmpfsMount {
    pub path: PathBuf,
    _parent: Option<tempfile::TempDir>,
}

impl TmpfsMount {
    /// Mount a tmpfs of `size` ("8m") with extra `opts` ("ro", or ""); `None` (after
    /// [`skip`] said why) when this process may not mount.
    pub fn new(test: &str, size: &str, opts: &str) -> Option<TmpfsMount> {
        if !require_root(test, "mount a tmpfs") {
            return None;
        }
        match TmpfsMount::try_new(size, opts) {
            Ok(m) => Some(m),
            Err(why) => {
                skip(test, &format!("could not mount a tmpfs: {why}"));
                None
            }
        }
    }

    /// Like [`TmpfsMount::new`], mounted on `path` (created if missing), for tests
    /// that name the mount relative to their own directory.
    pub fn new_at(test: &str, path: &Path, size: &str, opts: &str) -> Option<TmpfsMount> {
        if !require_root(test, "mount a tmpfs") {
            return None;
        }
        match TmpfsMount::try_at(path, size, opts) {
            Ok(m) => Some(m),
            Err(why) => {
                skip(test, &format!("could not mount a tmpfs: {why}"));
                None
            }
        }
    }

    /// Mount without the skip: the caller decides what to do without a tmpfs (a plain
    /// temp dir will do for [`super::engine::Scratch`]). The error is `mount`'s stderr.
    pub fn try_new(size: &str, opts: &str) -> Result<TmpfsMount, String> {
        let parent = tempfile::tempdir().unwrap();
        let mut m = TmpfsMount::try_at(&parent.path().join("mnt"), size, opts)?;
        m._parent = Some(parent);
        Ok(m)
    }

    /// [`TmpfsMount::try_new`] on `path` (created if missing).
    pub fn try_at(path: &Path, size: &str, opts: &str) -> Result<TmpfsMount, String> {
        let path = path.to_path_buf();
        std::fs::create_dir_all(&path).unwrap();
        let mut o = format!("size={size},mode=0755");
        if !opts.is_empty() {
            o.push(',');
            o.push_str(opts);
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &o, "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(TmpfsMount {
            path,
            _parent: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `mount -o remount,<opts>` (e.g. "ro").
    pub fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(st.success(), "remount {opts} failed");
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
