//! Headroom of the filesystem a run lives on (statvfs of the run's own filesystem),
//! and its type, which decides native file events vs. polling.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Free space and identity of the filesystem holding a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Headroom {
    /// Filesystem type from the mount table (ext4, xfs, nfs4, lustre, fuse.*, tmpfs, …).
    pub fs_type: String,
    pub mount: PathBuf,
    pub total: u64,
    /// Bytes available to an unprivileged writer (`f_bavail * f_frsize`).
    pub available: u64,
}

/// Measure the filesystem holding `path`.
pub fn headroom(path: &Path) -> crate::Result<Headroom> {
    let _ = path;
    todo!("issue 2")
}

/// True for network/cluster filesystems where inotify misses remote writes.
pub fn is_network_fs(fs_type: &str) -> bool {
    let t = fs_type.to_ascii_lowercase();
    t.starts_with("nfs")
        || t.starts_with("fuse")
        || matches!(
            t.as_str(),
            "lustre"
                | "gpfs"
                | "cifs"
                | "smb3"
                | "smbfs"
                | "ceph"
                | "glusterfs"
                | "beegfs"
                | "9p"
                | "afs"
                | "panfs"
                | "wekafs"
        )
}
