//! Temp file names (DESIGN §3 rule 2): how ckpt names a temp (`.ckpt-tmp-<host>-<pid>-
//! <random>-<final name>`), how to read a name back, and which temps a run holds now
//! with whether their writer is still alive. Reading only: removing stale temps is the
//! engine's sweep.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Prefix of every temp file ckpt creates; the writer's pid follows.
pub(crate) const CKPT_TEMP_PREFIX: &str = ".ckpt-tmp-";
/// Temp names timm's `CheckpointSaver` uses (fixed names; reported, never deleted).
pub(crate) const FOREIGN_TEMPS: &[&str] = &["tmp.pth.tar", "recovery_tmp.pth.tar"];

/// Names of the temps this process is writing right now; a sweep never removes them.
/// Keyed by file name (unique by construction), so any spelling of the dir matches.
fn live_temps() -> &'static Mutex<HashSet<std::ffi::OsString>> {
    static LIVE: OnceLock<Mutex<HashSet<std::ffi::OsString>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

pub(crate) fn register_live(p: &Path, live: bool) {
    let Some(name) = p.file_name() else { return };
    let mut set = live_temps().lock().unwrap_or_else(|e| e.into_inner());
    if live {
        set.insert(name.to_os_string());
    } else {
        set.remove(name);
    }
}

fn is_live(p: &Path) -> bool {
    p.file_name().is_some_and(|n| {
        live_temps()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(n)
    })
}

fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!(
        "{t}-{n}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(seed.as_bytes()))
}

/// Short tag of this host (8 hex digits of a hash of its name), carried in temp names
/// so a sweep can tell this host's dead writers from writers on other NFS/Lustre nodes.
pub fn host_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
        let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let name: &[u8] = if r == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            &buf[..end]
        } else {
            b"unknown-host"
        };
        format!("{:08x}", xxhash_rust::xxh3::xxh3_64(name) as u32)
    })
}

/// A fresh temp name for `final_name`: `.ckpt-tmp-<host8>-<pid>-<random>-<final name>`.
pub fn temp_name(final_name: &str) -> String {
    let mut name = format!(
        "{CKPT_TEMP_PREFIX}{}-{}-{}-",
        host_tag(),
        std::process::id(),
        random_hex()
    );
    // Stay under NAME_MAX (255 bytes) whatever the final name's length.
    let room = 255usize.saturating_sub(name.len());
    let mut tail = final_name;
    while tail.len() > room {
        let mut cut = tail.len() - room;
        while !tail.is_char_boundary(cut) {
            cut += 1;
        }
        tail = &tail[cut..];
    }
    name.push_str(tail);
    name
}

/// The parts of a ckpt temp name: writer host tag (None for the older
/// `.ckpt-tmp-<pid>-<random>-<final>` names), writer pid, final name.
pub(crate) fn parse_temp_name(name: &str) -> Option<(Option<&str>, u32, &str)> {
    let rest = name.strip_prefix(CKPT_TEMP_PREFIX)?;
    let is_rand = |r: &str| r.len() == 16 && r.bytes().all(|b| b.is_ascii_hexdigit());
    let is_pid = |p: &str| !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit());
    let (a, rest1) = rest.split_once('-')?;
    // Old form: <pid>-<rand16>-<final>.
    if let Some((b, fin)) = rest1.split_once('-') {
        if is_pid(a) && is_rand(b) {
            return Some((None, a.parse().ok()?, fin));
        }
    }
    // New form: <host8>-<pid>-<rand16>-<final>.
    if a.len() != 8 || !a.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (pid, rest2) = rest1.split_once('-')?;
    let (rand, fin) = rest2.split_once('-')?;
    if !is_pid(pid) || !is_rand(rand) {
        return None;
    }
    Some((Some(a), pid.parse().ok()?, fin))
}

/// True for a name ckpt's temps use.
pub(crate) fn is_temp_name(name: &str) -> bool {
    parse_temp_name(name).is_some()
}

/// The final name a ckpt temp is for (`checkpoint-7.pth.tar`), when it fits whole.
pub(crate) fn temp_final_name(name: &str) -> Option<&str> {
    parse_temp_name(name).map(|(_, _, fin)| fin)
}

/// A temp written on another host (or by an older ckpt that did not record its host)
/// is only presumed abandoned when untouched this long: its pid means nothing here.
pub(crate) const FOREIGN_HOST_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

/// True when `path` was modified less than [`FOREIGN_HOST_GRACE`] ago (or its age is
/// unknown): a writer elsewhere may still be appending to it.
fn recently_modified(path: &Path) -> bool {
    match std::fs::symlink_metadata(path).and_then(|m| m.modified()) {
        Ok(t) => t
            .elapsed()
            .map(|age| age < FOREIGN_HOST_GRACE)
            .unwrap_or(true),
        Err(_) => true,
    }
}

/// True for timm's fixed temp names (`tmp.pth.tar`, `recovery_tmp.pth.tar`).
pub(crate) fn is_foreign_temp_name(name: &str) -> bool {
    FOREIGN_TEMPS.contains(&name)
}

/// True when a process with this pid exists (EPERM still means it exists).
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A temp file found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTemp {
    pub path: PathBuf,
    /// Writer pid (ckpt temps only).
    pub pid: Option<u32>,
    /// False when the writer is known to be gone (this host: its pid is dead; another
    /// or unknown host: the temp is untouched for [`FOREIGN_HOST_GRACE`]).
    pub writer_alive: bool,
    /// timm's fixed temp name: its writer is unknown, so it is never deleted.
    pub foreign: bool,
}

/// Temps in `dir` (ckpt's own and timm's), without touching them.
pub fn find_temps(dir: &Path) -> Vec<FoundTemp> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let me = std::process::id();
    for ent in rd.flatten() {
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = dir.join(name);
        if let Some((host, pid, _)) = parse_temp_name(name) {
            let alive = if host != Some(host_tag()) {
                // Another host's writer (or an unknown one): its pid is not ours to check.
                recently_modified(&path)
            } else if pid == me {
                is_live(&path)
            } else {
                pid_alive(pid)
            };
            out.push(FoundTemp {
                path,
                pid: Some(pid),
                writer_alive: alive,
                foreign: false,
            });
        } else if is_foreign_temp_name(name) {
            out.push(FoundTemp {
                path,
                pid: None,
                writer_alive: true,
                foreign: true,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Directories of a run where ckpt writes temps: the run itself, `.ckpt/`,
/// `.ckpt/trash/` and each archive directory directly under it, and Lightning's
/// `checkpoints/` (where its aliases are written) when there is one.
pub(crate) fn run_temp_dirs(run_dir: &Path) -> Vec<PathBuf> {
    let ckpt = run_dir.join(".ckpt");
    let trash = ckpt.join("trash");
    // Only real directories: a symlinked `.ckpt` or trash leads out of the run.
    let real = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let mut dirs = vec![run_dir.to_path_buf()];
    if !real(&ckpt) {
        return dirs;
    }
    dirs.push(ckpt);
    if !real(&trash) {
        return dirs;
    }
    dirs.push(trash.clone());
    if let Ok(rd) = std::fs::read_dir(&trash) {
        let mut subs: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        subs.sort();
        dirs.extend(subs);
    }
    let lightning = run_dir.join("checkpoints");
    if lightning.is_dir() {
        dirs.push(lightning);
    }
    dirs
}

/// A unique temp path in `dir` for the final name of `dest` (or `export` when it has
/// none), in ckpt's temp naming (swept when its writer is gone).
pub(crate) fn temp_path(dir: &Path, dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    dir.join(temp_name(&name))
}

/// Temps anywhere ckpt writes in a run (see [`run_temp_dirs`]), for `doctor`.
pub fn find_run_temps(run_dir: &Path) -> Vec<FoundTemp> {
    run_temp_dirs(run_dir)
        .iter()
        .flat_map(|d| find_temps(d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_roundtrip() {
        let n = temp_name("checkpoint-7.pth.tar");
        assert!(n.starts_with(CKPT_TEMP_PREFIX));
        assert!(is_temp_name(&n));
        assert_eq!(parse_temp_name(&n).map(|t| t.1), Some(std::process::id()));
        assert_eq!(temp_final_name(&n), Some("checkpoint-7.pth.tar"));
        assert_ne!(n, temp_name("checkpoint-7.pth.tar"));
        assert!(!is_temp_name("checkpoint-7.pth.tar"));
        assert!(!is_temp_name(".ckpt-tmp-abc-0123456789abcdef-x"));
        assert_eq!(parse_temp_name(&n).and_then(|t| t.0), Some(host_tag()));
        // Old names (no host) still parse.
        let old = ".ckpt-tmp-4194000-0123456789abcdef-checkpoint-9.pth.tar";
        assert_eq!(parse_temp_name(old).map(|t| t.1), Some(4194000));
        assert_eq!(parse_temp_name(old).and_then(|t| t.0), None);
        assert_eq!(temp_final_name(old), Some("checkpoint-9.pth.tar"));
        // A host tag made only of digits is not taken for an old pid.
        let digits = ".ckpt-tmp-12345678-42-0123456789abcdef-a-b.bin";
        assert_eq!(
            parse_temp_name(digits),
            Some((Some("12345678"), 42, "a-b.bin"))
        );
        let long = "x".repeat(300);
        assert!(temp_name(&long).len() <= 255);
    }
}
