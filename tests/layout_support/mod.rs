//! Shared by the layout tests: unpack a real fixture run into a fresh temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Unpack `tests/fixtures/<name>.tar.gz` (hardlinks and symlinks kept) into a temp
/// dir; returns the temp dir (keep it alive) and the unpacked run path.
pub fn unpack(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.tar.gz"));
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success(), "tar -xzf {} failed", archive.display());
    let run = tmp.path().join(name);
    (tmp, run)
}

pub fn names(s: &ckpt::snapshot::RunSnapshot) -> Vec<String> {
    s.checkpoints.iter().map(|c| c.name.clone()).collect()
}
