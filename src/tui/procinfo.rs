//! The few facts about a process the trainer search needs, read straight from /proc
//! (one small read each; nothing is read for a process that is not asked about).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

/// `/proc/<pid>/stat`, the fields we use.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stat {
    /// Kernel's short name (`comm`, at most 15 bytes).
    pub comm: String,
    pub ppid: u32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
    /// Resident set, in pages.
    pub rss_pages: u64,
    /// Kernel threads have no memory map and no command line.
    pub kernel_thread: bool,
}

/// Parse the text of `/proc/<pid>/stat` (the name may hold spaces and parentheses).
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 2..)?.split(' ').collect();
    // rest[0] = state (field 3); field n is rest[n - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let flags = field(9)?;
    Some(Stat {
        comm,
        ppid: field(4)? as u32,
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        rss_pages: field(24)?,
        // PF_KTHREAD
        kernel_thread: flags & 0x0020_0000 != 0,
    })
}

pub(crate) fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Arguments of a process (empty for kernel threads and zombies).
pub(crate) fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The command line as `saved_by` records it (so the two compare equal).
pub(crate) fn cmdline_text(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    crate::engine::saved_by::cmdline_text(&raw)
}

pub(crate) fn cwd(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// Bytes the process has written through write(2) and friends (`wchar`), if readable.
pub(crate) fn written(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Most file descriptors looked at per process (a server with 100k sockets is not
/// read through).
pub(crate) const MAX_FDS: usize = 1024;

/// Which of `dirs` the process has a file or directory open under (by index).
pub(crate) fn open_under(pid: u32, dirs: &[PathBuf]) -> Vec<usize> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut hit = vec![false; dirs.len()];
    for ent in rd.flatten().take(MAX_FDS) {
        let Ok(target) = std::fs::read_link(ent.path()) else {
            continue;
        };
        if !target.is_absolute() {
            continue; // socket:[…], pipe:[…], anon_inode:…
        }
        for (i, d) in dirs.iter().enumerate() {
            if target.starts_with(d) {
                hit[i] = true;
            }
        }
    }
    (0..dirs.len()).filter(|&i| hit[i]).collect()
}

/// Every process id now in /proc.
pub(crate) fn pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

fn sysconf(name: libc::c_int, default: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 {
        v as u64
    } else {
        default
    }
}

/// Clock ticks per second (`_SC_CLK_TCK`).
pub(crate) fn clock_ticks() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| sysconf(libc::_SC_CLK_TCK, 100))
}

pub(crate) fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| sysconf(libc::_SC_PAGESIZE, 4096))
}

/// Boot time (`btime` of /proc/stat).
fn boot_time() -> Option<DateTime<Utc>> {
    static BOOT: OnceLock<Option<i64>> = OnceLock::new();
    let secs = *BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse().ok())
        })
    });
    DateTime::from_timestamp(secs?, 0)
}

/// When a process started (wall clock, to the second).
pub(crate) fn started_at(st: &Stat) -> Option<DateTime<Utc>> {
    let boot = boot_time()?;
    Some(boot + chrono::TimeDelta::milliseconds((st.start_ticks * 1000 / clock_ticks()) as i64))
}

/// This process and its ancestors (the shell or tmux that started the monitor).
pub(crate) fn own_lineage() -> Vec<u32> {
    let mut out = Vec::new();
    let mut cur = std::process::id();
    while cur > 1 && !out.contains(&cur) && out.len() < 64 {
        out.push(cur);
        match stat(cur) {
            Some(st) => cur = st.ppid,
            None => break,
        }
    }
    out
}

/// Lexically normalise `p` (resolve `.` and `..` without touching the filesystem).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_name_holding_spaces_and_parens() {
        let text = "4242 (py (train) x) S 4100 4242 4100 0 -1 4194304 1 0 0 0 150 25 0 0 20 0 3 0 98765 1000 2048 18446744073709551615";
        let st = parse_stat(text).unwrap();
        assert_eq!(st.comm, "py (train) x");
        assert_eq!(st.ppid, 4100);
        assert_eq!(st.cpu_ticks, 175);
        assert_eq!(st.start_ticks, 98765);
        assert_eq!(st.rss_pages, 2048);
        assert!(!st.kernel_thread);
        assert!(parse_stat("12 (x").is_none());
    }

    #[test]
    fn this_process_reads_back() {
        let me = std::process::id();
        let st = stat(me).unwrap();
        assert!(st.rss_pages > 0);
        let started = started_at(&st).unwrap();
        assert!(started <= Utc::now());
        assert!(!cmdline(me).is_empty());
        assert_eq!(cwd(me), std::env::current_dir().ok());
        assert_eq!(own_lineage()[0], me);
        let dir = tempfile::tempdir().unwrap();
        let canon = dir.path().canonicalize().unwrap();
        let f = std::fs::File::create(canon.join("held")).unwrap();
        assert_eq!(
            open_under(me, &[PathBuf::from("/nonexistent"), canon.clone()]),
            vec![1]
        );
        drop(f);
        assert!(open_under(me, &[canon]).is_empty());
    }
}
