//! A small tmpfs of its own for a test (root only; otherwise the test says
//! `SKIPPED` and fails under `CI=true`): real ENOSPC, a quiet filesystem whose free
//! space only the test changes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use crate::common_skip::{require_root, skip};

/// A tmpfs mounted for one test, unmounted (and its mount point removed) on drop.
pub struct TmpfsMount {
    pub path: PathBuf,
    _parent: tempfile::TempDir,
}

impl TmpfsMount {
    /// Mount a tmpfs of `size` ("8m") with extra `opts`; `None` (after saying why) when
    /// this process may not mount.
    pub fn new(test: &str, size: &str, opts: &str) -> Option<TmpfsMount> {
        if !require_root(test, "mount a tmpfs") {
            return None;
        }
        let parent = tempfile::tempdir().unwrap();
        let path = parent.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let mut o = format!("size={size},mode=0755");
        if !opts.is_empty() {
            o.push(',');
            o.push_str(opts);
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &o, "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        if !out.status.success() {
            skip(
                test,
                &format!(
                    "could not mount a tmpfs: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
            return None;
        }
        Some(TmpfsMount {
            path,
            _parent: parent,
        })
    }

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
