//! The real runs in `tests/fixtures/<name>.tar.gz` (see its README), unpacked for a
//! test: hardlinks, symlinks, permissions and mtimes as archived.

use std::path::{Path, PathBuf};

/// Unpack `tests/fixtures/<name>.tar.gz` into `dir`; returns `dir/<name>`.
pub fn unpack_into(dir: &Path, name: &str) -> PathBuf {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.tar.gz"));
    let file =
        std::fs::File::open(&archive).unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.set_preserve_permissions(true);
    tar.unpack(dir)
        .unwrap_or_else(|e| panic!("unpacking {}: {e}", archive.display()));
    dir.join(name)
}

/// Unpack `tests/fixtures/<name>.tar.gz` into a fresh temp dir; returns the temp dir
/// (keep it alive) and the unpacked run.
pub fn unpack(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run = unpack_into(tmp.path(), name);
    (tmp, run)
}

/// The checkpoint names of a snapshot, in its order.
pub fn names(s: &ckpt::snapshot::RunSnapshot) -> Vec<String> {
    s.checkpoints.iter().map(|c| c.name.clone()).collect()
}
