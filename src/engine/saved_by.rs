//! `saved_by` of a save (DESIGN §2): host, pid, parent pid and command lines of the
//! process calling the engine, read from /proc. Recorded in-process, so the CLI, the
//! Python package and `ckpt demo` get it alike.

use std::collections::BTreeMap;

use crate::store::manifest::SavedBy;

/// Longest command line kept in a manifest (characters).
pub(crate) const MAX_CMD: usize = 512;

/// A `/proc/<pid>/cmdline` as one line: arguments joined by spaces, one with a space
/// quoted, cut to [`MAX_CMD`] characters (with "…"). `None` when unreadable or empty.
pub(crate) fn cmdline_text(raw: &[u8]) -> Option<String> {
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if s.contains(char::is_whitespace) {
                format!("'{s}'")
            } else {
                s.into_owned()
            }
        })
        .collect();
    if args.is_empty() {
        return None;
    }
    let line = args.join(" ");
    if line.chars().count() <= MAX_CMD {
        return Some(line);
    }
    let mut cut: String = line.chars().take(MAX_CMD - 1).collect();
    cut.push('…');
    Some(cut)
}

fn read_cmdline(pid: &str) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|raw| cmdline_text(&raw))
}

/// The host name (`/proc/sys/kernel/hostname`, else "unknown").
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Who is saving: this process (read at each save: a forked worker has its own pid).
pub(crate) fn this_process() -> SavedBy {
    let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32);
    SavedBy {
        host: host_name(),
        pid: std::process::id(),
        ppid,
        cmd: read_cmdline("self").unwrap_or_default(),
        parent_cmd: (ppid > 0)
            .then(|| read_cmdline(&ppid.to_string()))
            .flatten(),
        extra: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_is_joined_quoted_and_bounded() {
        assert_eq!(
            cmdline_text(b"python\0train.py\0--output\0./out dir\0").as_deref(),
            Some("python train.py --output './out dir'")
        );
        assert_eq!(cmdline_text(b""), None);
        let long = vec![b'x'; 2000];
        let t = cmdline_text(&long).unwrap();
        assert_eq!(t.chars().count(), MAX_CMD);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn this_process_is_us() {
        let me = this_process();
        assert_eq!(me.pid, std::process::id());
        assert!(me.ppid > 0);
        assert!(!me.cmd.is_empty());
        assert!(!me.host.is_empty());
        assert!(!me.is_cli_save());
        assert_eq!(me.trainer().0, me.pid);
    }
}
