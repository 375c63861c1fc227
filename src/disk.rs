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
    /// Bytes in use (`(f_blocks - f_bfree) * f_frsize`, df's "Used"): blocks reserved
    /// for root are neither used nor available.
    pub used: u64,
}

impl Headroom {
    /// Percent used as `df` shows it: used / (used + available), rounded up.
    pub(crate) fn used_percent(&self) -> u64 {
        let denom = self.used.saturating_add(self.available);
        if denom == 0 {
            return 0;
        }
        (self.used as u128 * 100).div_ceil(denom as u128) as u64
    }

    /// The same as a fraction (for a gauge).
    pub(crate) fn used_fraction(&self) -> f64 {
        let denom = self.used.saturating_add(self.available);
        if denom == 0 {
            0.0
        } else {
            self.used as f64 / denom as f64
        }
    }

    /// Take new space figures (a [`space`] reading), keeping the mount and type.
    pub(crate) fn update(&mut self, s: Space) {
        self.total = s.total;
        self.available = s.available;
        self.used = s.used;
    }
}

/// The space figures of a filesystem: one statvfs, no mount table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    pub available: u64,
    pub used: u64,
}

fn statvfs(path: &Path) -> crate::Result<Space> {
    let st = rustix::fs::statvfs(path).map_err(|e| {
        crate::Error::io(
            "statvfs",
            path,
            std::io::Error::from_raw_os_error(e.raw_os_error()),
        )
    })?;
    Ok(Space {
        total: st.f_blocks.saturating_mul(st.f_frsize),
        available: st.f_bavail.saturating_mul(st.f_frsize),
        used: st
            .f_blocks
            .saturating_sub(st.f_bfree)
            .saturating_mul(st.f_frsize),
    })
}

/// Space on the filesystem holding `path` (cheap: for ticking a known run's gauge).
pub(crate) fn space(path: &Path) -> crate::Result<Space> {
    statvfs(path)
}

/// Measure the filesystem holding `path` (statvfs; type and mount from
/// /proc/self/mountinfo, longest mount prefix of the canonical path).
pub fn headroom(path: &Path) -> crate::Result<Headroom> {
    let canon = std::fs::canonicalize(path).map_err(|e| crate::Error::io("resolve", path, e))?;
    let s = statvfs(&canon)?;
    let (mount, fs_type) = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|text| mount_of(&text, &canon))
        .unwrap_or_else(|| (PathBuf::from("/"), "unknown".to_string()));
    Ok(Headroom {
        fs_type,
        mount,
        total: s.total,
        available: s.available,
        used: s.used,
    })
}

/// Undo the octal escapes (`\040` for a space) of /proc mount tables.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount point and fs type holding `canon` in mountinfo text: the longest mount
/// point that is a path prefix (later mounts win ties, as they shadow earlier ones).
pub(crate) fn mount_of(mountinfo: &str, canon: &Path) -> Option<(PathBuf, String)> {
    let mut best: Option<(usize, PathBuf, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 7 {
            continue;
        }
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let Some(fs_type) = fields.get(sep + 1) else {
            continue;
        };
        let mount = PathBuf::from(unescape(fields[4]));
        if !canon.starts_with(&mount) {
            continue;
        }
        let depth = mount.components().count();
        if best.as_ref().is_none_or(|(d, _, _)| depth >= *d) {
            best = Some((depth, mount, fs_type.to_string()));
        }
    }
    best.map(|(_, m, t)| (m, t))
}

/// True for network/cluster filesystems where inotify misses remote writes.
pub(crate) fn is_network_fs(fs_type: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_percent_is_df_s() {
        // 100 GiB disk, 5 GiB reserved for root: 32 used, 63 available → df says 34%.
        let g = 1u64 << 30;
        let h = Headroom {
            fs_type: "ext4".into(),
            mount: "/".into(),
            total: 100 * g,
            available: 63 * g,
            used: 32 * g,
        };
        assert_eq!(h.used_percent(), 34);
        assert!((h.used_fraction() - 32.0 / 95.0).abs() < 1e-9);
        let empty = Headroom {
            total: 0,
            available: 0,
            used: 0,
            ..h
        };
        assert_eq!(empty.used_percent(), 0);
    }

    #[test]
    fn longest_prefix_mount() {
        let info = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
                    30 22 0:5 / /data rw - xfs /dev/sdb rw\n\
                    31 30 0:6 / /data/my\\040runs rw - nfs4 srv:/x rw\n";
        let (m, t) = mount_of(info, Path::new("/data/my runs/r1")).unwrap();
        assert_eq!(m, PathBuf::from("/data/my runs"));
        assert_eq!(t, "nfs4");
        let (m, t) = mount_of(info, Path::new("/data2/x")).unwrap();
        assert_eq!((m, t.as_str()), (PathBuf::from("/"), "ext4"));
        let (_, t) = mount_of(info, Path::new("/data/x")).unwrap();
        assert_eq!(t, "xfs");
    }

    #[test]
    fn headroom_of_tempdir() {
        let d = tempfile::tempdir().unwrap();
        let h = headroom(d.path()).unwrap();
        assert!(h.total >= h.available);
        assert!(!h.fs_type.is_empty());
    }
}
