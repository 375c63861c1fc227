//! The next step a user is told after an error (`ckpt: error: <message>; <hint>`):
//! shared by the CLI and the Python package, so both say the same thing.

use std::path::Path;

use crate::Error;

/// The whole user-facing text of an error: its message, any cause not already in it,
/// and the next step ([`hint`]). The CLI prints it after `ckpt: error: `.
pub fn message(err: &Error) -> String {
    let mut msg = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !msg.contains(&c_text) {
            msg.push_str(": ");
            msg.push_str(&c_text);
        }
        cause = c.source();
    }
    if let Some(h) = hint(err) {
        msg.push_str("; ");
        msg.push_str(&h);
    }
    msg
}

/// The next step for library errors whose message does not already carry one.
pub fn hint(err: &Error) -> Option<String> {
    match err {
        Error::NoRun { path, .. } if path.is_file() => Some(format!(
            "{} is a file, not a run directory; name the directory that holds the checkpoints",
            path.display()
        )),
        Error::NoRun { path, .. } => Some(format!(
            "ckpt reads ckpt, timm, lightning and hf runs (--layout NAME forces one); \
             `ckpt save {} --epoch N FILE` starts a new one",
            path.display()
        )),
        Error::Io { op, path, source } => io_hint(op, path, source),
        _ => None,
    }
}

/// A next step that fits the OS error: full disk, directory for a file, file for a
/// directory, permissions; only a missing path is told to check that it exists.
fn io_hint(op: &str, path: &Path, source: &std::io::Error) -> Option<String> {
    let p = path.display();
    match source.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => {
            let mount = existing_ancestor(path)
                .and_then(|a| crate::disk::headroom(a).ok())
                .map_or_else(|| p.to_string(), |h| h.mount.display().to_string());
            Some(match run_of(path) {
                Some(run) => format!(
                    "free space on {mount} (`ckpt prune {} --dry-run` shows what pruning frees)",
                    run.display()
                ),
                None => format!("free space on {mount}, or choose another path"),
            })
        }
        Some(libc::EISDIR) => Some(format!("{p} is a directory; give a file path")),
        Some(libc::EEXIST) if op.contains("director") && path.is_file() => Some(format!(
            "{p} is a file, not a directory; choose a directory for the run"
        )),
        Some(libc::EEXIST) => Some(format!(
            "{p} already exists; move it aside or choose another path"
        )),
        Some(libc::ENOTDIR) => Some(format!(
            "part of {p} is a file, not a directory; choose a path under a directory"
        )),
        Some(libc::EROFS) => Some(format!(
            "{p} is on a read-only filesystem; remount it read-write or choose another directory"
        )),
        Some(libc::EACCES | libc::EPERM) => Some(format!(
            "permission denied on {p}; check its and its directory's permissions (`ls -ld`) or choose another directory"
        )),
        _ if source.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("check that {p} exists, then retry"))
        }
        _ => None,
    }
}

/// The nearest ancestor of `path` (itself included) that exists.
fn existing_ancestor(path: &Path) -> Option<&Path> {
    path.ancestors()
        .find(|a| !a.as_os_str().is_empty() && a.exists())
        .or_else(|| Some(Path::new(".")))
}

/// The run a failing path belongs to: the nearest ancestor ckpt recognises as a run.
fn run_of(path: &Path) -> Option<&Path> {
    path.ancestors()
        .skip(1)
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .find(|a| a.join(".ckpt").is_dir() || crate::layout::detect(a).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(op: &'static str, path: &str, errno: i32) -> String {
        let err = Error::io(op, path, std::io::Error::from_raw_os_error(errno));
        hint(&err).unwrap_or_default()
    }

    #[test]
    fn io_hints_fit_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir_all(run.join(".ckpt")).unwrap();
        let file = run.join("checkpoint-2.pth.tar");
        let full = io("write", file.to_str().unwrap(), libc::ENOSPC);
        assert!(full.starts_with("free space on /"), "{full}");
        assert!(
            full.contains(&format!("`ckpt prune {} --dry-run`", run.display())),
            "{full}"
        );
        assert!(!full.contains("exists"), "{full}");
        let export = io(
            "write",
            tmp.path().join("x").to_str().unwrap(),
            libc::ENOSPC,
        );
        assert!(export.ends_with("or choose another path"), "{export}");
        let dir = io("rename into place", "out", libc::EISDIR);
        assert_eq!(dir, "out is a directory; give a file path");
        let afile = tmp.path().join("afile");
        std::fs::write(&afile, b"x").unwrap();
        let exists = io("create directory", afile.to_str().unwrap(), libc::EEXIST);
        assert!(
            exists.ends_with("afile is a file, not a directory; choose a directory for the run"),
            "{exists}"
        );
        assert!(io("write", "ro/x", libc::EROFS).contains("read-only filesystem"));
        assert!(io("write", "x", libc::EACCES).contains("permission denied"));
        assert_eq!(
            io("read", "gone", libc::ENOENT),
            "check that gone exists, then retry"
        );
    }
}
