//! Trainer activity: the process whose command line or working directory points
//! into the run (found with sysinfo), with its PID, CPU and memory.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use super::app::TrainerInfo;

/// Programs that sit in a directory without writing checkpoints.
const INTERACTIVE: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "fish",
    "dash",
    "tmux",
    "tmux: server",
    "screen",
    "less",
    "more",
    "vim",
    "nvim",
    "vi",
    "nano",
    "emacs",
    "watch",
    "tail",
    "htop",
    "top",
];

/// Lexically normalise `p` (resolve `.` and `..` without touching the filesystem).
fn normalize(p: &Path) -> PathBuf {
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

/// Does an argument (or `--flag=value`) name a path inside `run`?
fn arg_points_into(arg: &str, cwd: Option<&Path>, run: &Path) -> bool {
    let value = arg.rsplit_once('=').map(|(_, v)| v).unwrap_or(arg);
    if value.is_empty() || value.starts_with('-') {
        return false;
    }
    let p = Path::new(value);
    let abs = if p.is_absolute() {
        normalize(p)
    } else if let Some(cwd) = cwd {
        normalize(&cwd.join(p))
    } else {
        return false;
    };
    abs.starts_with(run)
}

/// This process and its ancestors (a shell or tmux that started `ckpt watch RUN`).
fn own_lineage(sys: &System) -> HashSet<Pid> {
    let mut out = HashSet::new();
    let mut cur = sysinfo::get_current_pid().ok();
    while let Some(pid) = cur {
        if !out.insert(pid) {
            break;
        }
        cur = sys.process(pid).and_then(|p| p.parent());
    }
    out
}

/// Find the trainer of each run among the processes in `sys`.
pub fn find(sys: &System, runs: &[PathBuf]) -> Vec<Option<TrainerInfo>> {
    let skip = own_lineage(sys);
    let mut matches: Vec<Vec<Pid>> = vec![Vec::new(); runs.len()];
    for (pid, p) in sys.processes() {
        if skip.contains(pid) || p.thread_kind().is_some() {
            continue;
        }
        let cmd: Vec<String> = p
            .cmd()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // Monitors, and whatever launched one (tmux, scripts), are not trainers.
        if cmd
            .windows(2)
            .any(|w| w[0].ends_with("ckpt") && (w[1] == "watch" || w[1] == "demo"))
        {
            continue;
        }
        let name = p.name().to_string_lossy();
        let interactive = INTERACTIVE.contains(&name.as_ref());
        let cwd = p.cwd();
        for (i, run) in runs.iter().enumerate() {
            // A shell or editor merely sitting in the run is not writing it.
            let in_cwd = !interactive && cwd.is_some_and(|c| c.starts_with(run));
            if in_cwd || cmd.iter().skip(1).any(|a| arg_points_into(a, cwd, run)) {
                matches[i].push(*pid);
            }
        }
    }
    // `ckpt demo` trains in this very process: it is the trainer of its run.
    if let Some(me) = sysinfo::get_current_pid()
        .ok()
        .and_then(|pid| sys.process(pid))
    {
        let demo = me
            .cmd()
            .windows(2)
            .any(|w| w[0].to_string_lossy().ends_with("ckpt") && w[1] == "demo");
        if demo {
            for m in matches.iter_mut().filter(|m| m.is_empty()) {
                m.push(me.pid());
            }
        }
    }
    matches
        .into_iter()
        .map(|pids| {
            let set: HashSet<Pid> = pids.iter().copied().collect();
            // Prefer the top of a process tree (the trainer, not its data loaders),
            // looking through launcher shells.
            let is_plain =
                |p: &&sysinfo::Process| !INTERACTIVE.contains(&p.name().to_string_lossy().as_ref());
            let plain: HashSet<Pid> = pids
                .iter()
                .filter_map(|pid| sys.process(*pid))
                .filter(is_plain)
                .map(|p| p.pid())
                .collect();
            let set = if plain.is_empty() { set } else { plain };
            pids.iter()
                .filter(|pid| set.contains(pid))
                .filter_map(|pid| sys.process(*pid))
                .filter(|p| p.parent().is_none_or(|pp| !set.contains(&pp)))
                .max_by(|a, b| {
                    a.cpu_usage()
                        .partial_cmp(&b.cpu_usage())
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then(b.pid().cmp(&a.pid()))
                })
                .map(|p| TrainerInfo {
                    pid: p.pid().as_u32(),
                    command: p
                        .cmd()
                        .iter()
                        .take(4)
                        .map(|a| {
                            let s = a.to_string_lossy();
                            Path::new(s.as_ref())
                                .file_name()
                                .filter(|_| s.starts_with('/'))
                                .map(|f| f.to_string_lossy().into_owned())
                                .unwrap_or_else(|| s.into_owned())
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    cpu_percent: p.cpu_usage(),
                    memory: p.memory(),
                })
        })
        .collect()
}

/// Look for trainers every `every` until `stop` is dropped; report each result.
pub fn poll_loop(
    runs: Vec<PathBuf>,
    every: Duration,
    stop: Receiver<()>,
    mut report: impl FnMut(&Path, Option<TrainerInfo>),
) {
    let mut sys = System::new();
    let kind = ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_cmd(UpdateKind::OnlyIfNotSet)
        .with_cwd(UpdateKind::OnlyIfNotSet);
    let mut last: Vec<Option<TrainerInfo>> = vec![None; runs.len()];
    let mut first = true;
    loop {
        sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        let found = find(&sys, &runs);
        for (i, t) in found.into_iter().enumerate() {
            // Report changes only (CPU rounded), so an idle trainer costs no redraws.
            let key = |t: &Option<TrainerInfo>| {
                t.as_ref()
                    .map(|t| (t.pid, t.cpu_percent.round() as i64, t.memory >> 20))
            };
            if first || key(&t) != key(&last[i]) {
                report(&runs[i], t.clone());
            }
            last[i] = t;
        }
        first = false;
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_pointing_into_the_run() {
        let run = Path::new("/data/runs/a");
        let cwd = Some(Path::new("/data"));
        assert!(arg_points_into("/data/runs/a", None, run));
        assert!(arg_points_into("--output_dir=runs/a/ckpt", cwd, run));
        assert!(arg_points_into("./runs/x/../a", cwd, run));
        assert!(!arg_points_into("runs/ab", cwd, run));
        assert!(!arg_points_into("--lr=0.1", cwd, run));
        assert!(
            !arg_points_into("runs/a", None, run),
            "relative without cwd"
        );
    }

    #[test]
    fn finds_a_process_working_in_the_run() {
        let tmp = tempfile::tempdir().unwrap();
        let run = std::fs::canonicalize(tmp.path()).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&run)
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut sys = System::new();
        let kind = ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::Always)
            .with_cwd(UpdateKind::Always)
            .with_memory();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let found = loop {
            sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
            let found = find(&sys, std::slice::from_ref(&run));
            if found[0].is_some() || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = child.kill();
        let _ = child.wait();
        let t = found[0].as_ref().expect("the sleeping process is found");
        assert_eq!(t.pid, pid);
        assert!(t.command.starts_with("sleep"));
        // Nothing points into another directory.
        let other = run.join("elsewhere");
        assert!(find(&sys, &[other])[0].is_none());
    }
}
