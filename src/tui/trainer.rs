//! Trainer liveness (DESIGN §6): which process writes a run, and whether it is alive.
//!
//! A native run names its writer: every save records `saved_by` (the `ckpt save`
//! child's parent, or the process that saved in-process). That pid is checked with one
//! read of `/proc/<pid>/stat` per tick (its start time and command line must match the
//! record, so a reused pid is not taken for the trainer).
//!
//! Runs written by timm, Lightning or transformers record nothing: their writer is
//! searched in /proc, only when needed (at start, when the run changed while no live
//! trainer is known, and every [`SEARCH_EVERY`] otherwise): a process with a file open
//! under the run, or a command line whose path arguments resolve (relative to its cwd)
//! into the run, or — weakest — a cwd inside the run (or at the root a Lightning
//! logger writes the run's `<name>/version_N` under) together with real writes. Shells,
//! pagers, editors and monitors that merely sit there never count.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::procinfo::{self as proc, normalize};
use crate::store::manifest::SavedBy;

/// How often a known trainer's pid is checked (one small read each).
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How often /proc is searched for the writer of a run that has no live trainer.
pub(crate) const SEARCH_EVERY: Duration = Duration::from_secs(30);
/// Shortest gap between two searches (a busy run changes many times a second).
pub(crate) const SEARCH_GAP: Duration = Duration::from_secs(3);
/// A process with only its cwd in the run must have written this much to count.
pub(crate) const CWD_MIN_WRITTEN: u64 = 1 << 20;

/// Programs that sit in a directory, or read a run, without writing checkpoints.
const SITTERS: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "fish",
    "dash",
    "ksh",
    "tcsh",
    "csh",
    "tmux",
    "tmux: server",
    "screen",
    "less",
    "more",
    "most",
    "vim",
    "nvim",
    "vi",
    "view",
    "nano",
    "emacs",
    "micro",
    "watch",
    "tail",
    "head",
    "cat",
    "htop",
    "btop",
    "top",
    "sleep",
    // Wrappers that stay the trainer's parent: the trainer is their child.
    "timeout",
    "time",
    "ls",
    "du",
    "df",
    "find",
    "ranger",
    "mc",
    "nnn",
    "tensorboard",
    "sshd",
];

/// Whether the process is alive.
#[derive(Debug, Clone, PartialEq)]
pub enum Liveness {
    Alive,
    /// Gone. `at`: when this monitor saw it go; `None` when it was gone before the
    /// monitor looked, and then `last_save` (its newest recorded save) bounds when.
    Exited {
        at: Option<DateTime<Utc>>,
        last_save: Option<DateTime<Utc>>,
    },
    /// The process lives on but its training stopped at `at` (`ckpt demo`, whose
    /// trainer thread ends when a save fails).
    Stopped {
        at: DateTime<Utc>,
    },
    /// It runs on another host (`saved_by.host`): it cannot be checked from here.
    Remote {
        host: String,
    },
}

/// Why a process is taken for the run's trainer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// Its cwd is inside the run and it has written data.
    WorkingDir,
    /// A path argument of its command line resolves into the run.
    Argument,
    /// It has a file under the run open.
    OpenFile,
    /// The run's manifest names it (`saved_by` of the newest save).
    SavedBy,
}

/// The process that trains into a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerInfo {
    pub pid: u32,
    /// Its command line (program without its directory, then the arguments).
    pub command: String,
    /// CPU use in percent of one core (0 when not alive).
    pub cpu_percent: f32,
    /// Resident memory in bytes (0 when not alive).
    pub memory: u64,
    pub liveness: Liveness,
    pub evidence: Evidence,
}

impl TrainerInfo {
    pub(crate) fn alive(&self) -> bool {
        self.liveness == Liveness::Alive
    }
}

/// What the monitor's scans tell the tracker about a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hint {
    pub run: PathBuf,
    /// `saved_by` of the newest save that records one, and that save's time.
    pub writer: Option<(SavedBy, DateTime<Utc>)>,
    /// Time of the newest save (any layout).
    pub newest: Option<DateTime<Utc>>,
}

/// `saved_by` and time of the run's newest save that records one.
pub(crate) fn newest_writer(
    snap: &crate::snapshot::RunSnapshot,
) -> Option<(SavedBy, DateTime<Utc>)> {
    snap.checkpoints
        .iter()
        .filter_map(|c| Some((c.saved_by.clone()?, c.mtime?)))
        .max_by_key(|(_, t)| *t)
}

/// The run's hint from a scan.
pub(crate) fn hint_of(snap: &crate::snapshot::RunSnapshot, run: &Path) -> Hint {
    Hint {
        run: run.to_path_buf(),
        writer: newest_writer(snap),
        newest: snap.checkpoints.iter().filter_map(|c| c.mtime).max(),
    }
}

// ------------------------------------------------------------------ the search

/// A command line shown short: the program without its directory, then the arguments.
pub(crate) fn short_command(args: &[String]) -> String {
    let out: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else if i == 0 || (i == 1 && a.starts_with('/')) {
                // The interpreter and its script: their names say enough.
                a.rsplit('/').next().unwrap_or(a).to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    out.join(" ")
}

/// Shorten a recorded command line (`saved_by.cmd`) the same way.
fn short_recorded(cmd: &str) -> String {
    let mut parts = cmd.splitn(2, ' ');
    let prog = parts.next().unwrap_or("");
    let prog = prog.rsplit('/').next().unwrap_or(prog);
    match parts.next() {
        Some(rest) => format!("{prog} {rest}"),
        None => prog.to_string(),
    }
}

/// Programs that never count as trainers: shells, pagers, editors, monitors, and
/// `ckpt` itself (except `ckpt demo`, which trains).
pub(crate) fn is_sitter(comm: &str, args: &[String]) -> bool {
    let prog = args
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or(comm);
    let prog = prog.trim_start_matches('-'); // login shells: "-bash"
    if SITTERS.contains(&prog) || SITTERS.contains(&comm) {
        return true;
    }
    if prog == "ckpt" {
        return args.iter().skip(1).find(|a| !a.starts_with('-')) != Some(&"demo".to_string());
    }
    // `python -m tensorboard.main`, `python /usr/bin/tensorboard`
    args.iter()
        .skip(1)
        .take(3)
        .any(|a| a.rsplit('/').next().unwrap_or(a).starts_with("tensorboard"))
}

/// The value of an argument that may name a path: `--out=x` and `key=x` give `x`;
/// a bare flag gives nothing.
fn arg_value(arg: &str) -> Option<&str> {
    let v = arg.rsplit_once('=').map(|(_, v)| v).unwrap_or(arg);
    (!v.is_empty() && !v.starts_with('-')).then_some(v)
}

fn resolve(value: &str, cwd: Option<&Path>) -> Option<PathBuf> {
    let p = Path::new(value);
    if p.is_absolute() {
        Some(normalize(p))
    } else {
        cwd.map(|c| normalize(&c.join(p)))
    }
}

/// Does the command line name the run? Either a path argument inside it, or one
/// naming a directory at most three levels above it together with another argument
/// that names the rest (timm: `--output ./output --experiment exp` writes
/// `output/train/exp`), or naming the root a Lightning logger writes the run under
/// ([`logger_root_of`]: `--root ./logs` writes `logs/lightning_logs/version_N`).
pub(crate) fn args_name_run(args: &[String], cwd: Option<&Path>, run: &Path) -> bool {
    let values: Vec<&str> = args.iter().skip(1).filter_map(|a| arg_value(a)).collect();
    for (i, v) in values.iter().enumerate() {
        let Some(abs) = resolve(v, cwd) else {
            continue;
        };
        if abs.starts_with(run) {
            return true;
        }
        if abs.parent().is_none() || !run.starts_with(&abs) {
            continue;
        }
        let Ok(rest) = run.strip_prefix(&abs) else {
            continue;
        };
        let rest: Vec<String> = rest
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if rest.is_empty() || rest.len() > 3 {
            continue;
        }
        let named = values
            .iter()
            .enumerate()
            .any(|(j, w)| j != i && rest.iter().any(|r| r == w));
        if named || logger_root_of(run) == Some(abs) {
            return true;
        }
    }
    false
}

/// The root a Lightning logger writes the run under: `run` is `<root>/<name>/version_N`
/// (`lightning_logs/version_0` by default) and the newest version there — what a
/// trainer given `<root>` (`--root ./logs`, `default_root_dir`, or its cwd) writes
/// now. Older versions are finished runs of earlier trainers.
pub(crate) fn logger_root_of(run: &Path) -> Option<PathBuf> {
    let version = |name: &std::ffi::OsStr| -> Option<u64> {
        name.to_str()?.strip_prefix("version_")?.parse().ok()
    };
    let n = version(run.file_name()?)?;
    let name_dir = run.parent()?;
    let newest = std::fs::read_dir(name_dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| version(&e.file_name()))
        .max()?;
    (newest == n).then(|| name_dir.parent().map(Path::to_path_buf))?
}

/// One process that looks like it writes a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub pid: u32,
    pub ppid: u32,
    pub evidence: Evidence,
    pub args: Vec<String>,
}

/// Search /proc for the writer of each run, skipping `skip` (the monitor's lineage).
pub(crate) fn search(runs: &[PathBuf], skip: &[u32]) -> Vec<Option<Found>> {
    let mut cands: Vec<Vec<Found>> = vec![Vec::new(); runs.len()];
    // A Lightning run's logger root: a trainer whose cwd is there writes the run.
    let roots: Vec<Option<PathBuf>> = runs.iter().map(|r| logger_root_of(r)).collect();
    for pid in proc::pids() {
        if skip.contains(&pid) {
            continue;
        }
        let Some(st) = proc::stat(pid) else {
            continue;
        };
        if st.kernel_thread {
            continue;
        }
        let args = proc::cmdline(pid);
        if args.is_empty() || is_sitter(&st.comm, &args) {
            continue;
        }
        let cwd = proc::cwd(pid);
        let mut ev: Vec<Option<Evidence>> = runs
            .iter()
            .map(|r| args_name_run(&args, cwd.as_deref(), r).then_some(Evidence::Argument))
            .collect();
        for i in proc::open_under(pid, runs) {
            ev[i] = Some(Evidence::OpenFile);
        }
        if let Some(c) = &cwd {
            let mut written = None;
            for (i, r) in runs.iter().enumerate() {
                let here = c.starts_with(r) || roots[i].as_deref() == Some(c.as_path());
                if ev[i].is_none() && here {
                    let w = *written.get_or_insert_with(|| proc::written(pid).unwrap_or(0));
                    if w >= CWD_MIN_WRITTEN {
                        ev[i] = Some(Evidence::WorkingDir);
                    }
                }
            }
        }
        for (i, e) in ev.into_iter().enumerate() {
            if let Some(evidence) = e {
                cands[i].push(Found {
                    pid,
                    ppid: st.ppid,
                    evidence,
                    args: args.clone(),
                });
            }
        }
    }
    cands.into_iter().map(pick).collect()
}

/// The trainer among a run's candidates: the top of a process tree (not its data
/// loaders or workers), strongest evidence first, then the oldest.
fn pick(cands: Vec<Found>) -> Option<Found> {
    let pids: Vec<u32> = cands.iter().map(|c| c.pid).collect();
    cands
        .into_iter()
        .filter(|c| !pids.contains(&c.ppid))
        .max_by(|a, b| a.evidence.cmp(&b.evidence).then(b.pid.cmp(&a.pid)))
}

// ------------------------------------------------------------------ liveness

/// Is `pid` still the process `saved_by` recorded? It must exist, have started no
/// later than the save, and (when recorded) have the same command line.
fn is_recorded(pid: u32, cmd: &str, saved_at: DateTime<Utc>) -> Option<proc::Stat> {
    let st = proc::stat(pid)?;
    if let Some(started) = proc::started_at(&st) {
        if started > saved_at + chrono::TimeDelta::seconds(2) {
            return None; // pid reused after the save
        }
    }
    if !cmd.is_empty() && proc::cmdline_text(pid).as_deref() != Some(cmd) {
        return None;
    }
    Some(st)
}

#[derive(Debug, Clone)]
struct Tracked {
    info: TrainerInfo,
    start_ticks: u64,
    /// CPU ticks and when they were read, for the next CPU percentage.
    cpu: Option<(u64, Instant)>,
}

impl Tracked {
    /// `last_save`: the process's newest recorded save, said of it when it is gone.
    fn new(
        pid: u32,
        command: String,
        evidence: Evidence,
        st: Option<proc::Stat>,
        last_save: Option<DateTime<Utc>>,
    ) -> Tracked {
        let liveness = if st.is_some() {
            Liveness::Alive
        } else {
            Liveness::Exited {
                at: None,
                last_save,
            }
        };
        let mut t = Tracked {
            info: TrainerInfo {
                pid,
                command,
                cpu_percent: 0.0,
                memory: 0,
                liveness,
                evidence,
            },
            start_ticks: st.as_ref().map_or(0, |s| s.start_ticks),
            cpu: None,
        };
        if let Some(st) = st {
            t.observe(&st, Instant::now());
        }
        t
    }

    fn observe(&mut self, st: &proc::Stat, at: Instant) {
        if let Some((ticks, then)) = self.cpu {
            let secs = at.duration_since(then).as_secs_f64();
            if secs > 0.2 {
                let used = st.cpu_ticks.saturating_sub(ticks) as f64 / proc::clock_ticks() as f64;
                self.info.cpu_percent = (used / secs * 100.0) as f32;
            }
        }
        self.cpu = Some((st.cpu_ticks, at));
        self.info.memory = st.rss_pages * proc::page_size();
    }

    /// Re-read the process; a vanished pid (or one reused) has exited now.
    fn refresh(&mut self, now: DateTime<Utc>) {
        if self.info.liveness != Liveness::Alive {
            return;
        }
        match proc::stat(self.info.pid) {
            Some(st) if st.start_ticks == self.start_ticks => self.observe(&st, Instant::now()),
            _ => {
                self.info.liveness = Liveness::Exited {
                    at: Some(now),
                    last_save: None,
                };
                self.info.cpu_percent = 0.0;
                self.info.memory = 0;
                self.cpu = None;
            }
        }
    }
}

/// One run's tracking state.
#[derive(Debug)]
struct RunTrack {
    run: PathBuf,
    writer: Option<(SavedBy, DateTime<Utc>)>,
    newest: Option<DateTime<Utc>>,
    /// Newest save already searched for.
    searched_newest: Option<DateTime<Utc>>,
    current: Option<Tracked>,
    reported: Option<Option<TrainerInfo>>,
}

impl RunTrack {
    fn alive(&self) -> bool {
        self.current.as_ref().is_some_and(|t| t.info.alive())
    }

    /// Follow the manifest's `saved_by`: a new writer replaces what was tracked.
    fn follow_writer(&mut self, host: &str) {
        let Some((by, at)) = &self.writer else {
            return;
        };
        let (pid, cmd) = by.trainer();
        if pid == 0 {
            return;
        }
        if self
            .current
            .as_ref()
            .is_some_and(|t| t.info.pid == pid && t.info.evidence == Evidence::SavedBy)
        {
            return;
        }
        // A live process found by the search beats an older record that has exited.
        let command = short_recorded(cmd);
        if by.host != host {
            self.current = Some(Tracked {
                info: TrainerInfo {
                    pid,
                    command,
                    cpu_percent: 0.0,
                    memory: 0,
                    liveness: Liveness::Remote {
                        host: by.host.clone(),
                    },
                    evidence: Evidence::SavedBy,
                },
                start_ticks: 0,
                cpu: None,
            });
            return;
        }
        let st = is_recorded(pid, cmd, *at);
        if st.is_none() && self.alive() {
            return;
        }
        self.current = Some(Tracked::new(pid, command, Evidence::SavedBy, st, Some(*at)));
    }

    /// Whether /proc should be searched for this run now.
    fn wants_search(&self, last_search: Option<Instant>) -> bool {
        if self.alive()
            || matches!(
                self.current.as_ref().map(|t| &t.info.liveness),
                Some(Liveness::Remote { .. })
            )
        {
            return false;
        }
        match last_search {
            None => true,
            Some(t) => {
                let changed = self.newest.is_some() && self.newest != self.searched_newest;
                (changed && t.elapsed() >= SEARCH_GAP) || t.elapsed() >= SEARCH_EVERY
            }
        }
    }
}

/// What the screen shows of a trainer changed enough to redraw.
fn differs(a: &Option<TrainerInfo>, b: &Option<TrainerInfo>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.pid != b.pid
                || a.liveness != b.liveness
                || a.evidence != b.evidence
                || a.command != b.command
                || (a.cpu_percent - b.cpu_percent).abs() >= 3.0
                || a.memory.abs_diff(b.memory) >= (a.memory / 16).max(4 << 20)
        }
        (None, None) => false,
        _ => true,
    }
}

/// Start the tracker thread: it reports each run's trainer (changes only) through
/// `report` and takes [`Hint`]s from the returned sender; dropping it stops the thread.
pub(crate) fn spawn(
    runs: Vec<PathBuf>,
    report: impl FnMut(&Path, Option<TrainerInfo>) + Send + 'static,
) -> Sender<Hint> {
    let (tx, rx) = mpsc::channel();
    let _ = std::thread::Builder::new()
        .name("ckpt-trainer".into())
        .spawn(move || track(runs, rx, report));
    tx
}

fn track(
    runs: Vec<PathBuf>,
    hints: Receiver<Hint>,
    mut report: impl FnMut(&Path, Option<TrainerInfo>),
) {
    let host = crate::engine::saved_by::host_name();
    let skip = proc::own_lineage();
    let mut tracks: Vec<RunTrack> = runs
        .into_iter()
        .map(|run| RunTrack {
            run,
            writer: None,
            newest: None,
            searched_newest: None,
            current: None,
            reported: None,
        })
        .collect();
    let mut last_search: Option<Instant> = None;
    // Let the first scans arrive: a native run needs no search at all.
    let mut next_check = Instant::now() + Duration::from_millis(300);
    loop {
        let wait = next_check.saturating_duration_since(Instant::now());
        match hints.recv_timeout(wait) {
            Ok(h) => {
                if let Some(t) = tracks.iter_mut().find(|t| t.run == h.run) {
                    let new_writer = h.writer.as_ref().map(|w| (w.0.trainer().0, &w.0.host))
                        != t.writer.as_ref().map(|w| (w.0.trainer().0, &w.0.host));
                    t.writer = h.writer;
                    t.newest = h.newest;
                    if new_writer {
                        t.follow_writer(&host);
                        publish(t, &mut report);
                    }
                }
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        next_check = Instant::now() + CHECK_EVERY;
        let now = Utc::now();
        for t in tracks.iter_mut() {
            t.follow_writer(&host);
            if let Some(c) = &mut t.current {
                c.refresh(now);
            }
        }
        let want: Vec<usize> = (0..tracks.len())
            .filter(|&i| tracks[i].wants_search(last_search))
            .collect();
        if !want.is_empty() {
            last_search = Some(Instant::now());
            let dirs: Vec<PathBuf> = want.iter().map(|&i| tracks[i].run.clone()).collect();
            for (&i, found) in want.iter().zip(search(&dirs, &skip)) {
                let t = &mut tracks[i];
                t.searched_newest = t.newest;
                if let Some(f) = found {
                    let st = proc::stat(f.pid);
                    let cmd = short_command(&f.args);
                    t.current = Some(Tracked::new(f.pid, cmd, f.evidence, st, None));
                }
            }
        }
        for t in tracks.iter_mut() {
            publish(t, &mut report);
        }
    }
}

fn publish(t: &mut RunTrack, report: &mut impl FnMut(&Path, Option<TrainerInfo>)) {
    let info = t.current.as_ref().map(|c| c.info.clone());
    let changed = match &t.reported {
        None => true,
        Some(prev) => differs(prev, &info),
    };
    if changed {
        report(&t.run, info.clone());
        t.reported = Some(info);
    }
}

// ------------------------------------------------------------------ overdue

/// The run's usual interval between saves: the median gap of its last saves (at least
/// three gaps), `None` before that.
pub(crate) fn usual_interval(times: &[DateTime<Utc>]) -> Option<Duration> {
    let mut ts: Vec<DateTime<Utc>> = times.to_vec();
    ts.sort();
    // One save seen twice (a file's mtime and its recorded time) is one save.
    ts.dedup_by(|b, a| (*b - *a).num_milliseconds() < 1000);
    let recent = &ts[ts.len().saturating_sub(11)..];
    let mut gaps: Vec<i64> = recent
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .filter(|g| *g > 0)
        .collect();
    if gaps.len() < 3 {
        return None;
    }
    gaps.sort_unstable();
    Some(Duration::from_millis(gaps[gaps.len() / 2] as u64))
}

/// A save is overdue when none came for clearly longer than usual: three intervals,
/// and at least a minute more than one.
pub(crate) fn overdue_after(usual: Duration) -> Duration {
    (usual * 3).max(usual + Duration::from_secs(60))
}

/// `(time since the last save, the usual interval)` when the run is overdue.
pub(crate) fn overdue(times: &[DateTime<Utc>], now: DateTime<Utc>) -> Option<(Duration, Duration)> {
    let usual = usual_interval(times)?;
    let last = *times.iter().max()?;
    let since = (now - last).to_std().ok()?;
    (since > overdue_after(usual)).then_some((since, usual))
}

/// The newest save times known from a snapshot (checkpoint mtimes, and the times of
/// the run's recorded history, pruned saves included), at most the couple of dozen
/// [`usual_interval`] looks at: linear in the run's size, no full sort.
pub(crate) fn save_times(snap: &crate::snapshot::RunSnapshot) -> Vec<DateTime<Utc>> {
    const KEEP: usize = 24;
    let mut times: Vec<DateTime<Utc>> = snap
        .checkpoints
        .iter()
        .filter_map(|c| c.mtime)
        .chain(snap.history.iter().filter_map(|p| p.at))
        .collect();
    if times.len() > KEEP {
        let cut = times.len() - KEEP;
        times.select_nth_unstable(cut);
        times.drain(..cut);
    }
    times
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn arguments_naming_the_run() {
        let run = Path::new("/data/runs/a");
        let cwd = Some(Path::new("/data"));
        let yes = |a: &[&str], cwd| args_name_run(&s(a), cwd, run);
        assert!(yes(&["py", "/data/runs/a"], None));
        assert!(yes(&["py", "--output_dir=runs/a/ckpt"], cwd));
        assert!(yes(&["py", "./runs/x/../a"], cwd));
        assert!(yes(&["py", "trainer.default_root_dir=runs/a"], cwd));
        assert!(!yes(&["py", "runs/ab"], cwd));
        assert!(!yes(&["py", "--lr=0.1"], cwd));
        assert!(!yes(&["py", "runs/a"], None), "relative without cwd");
        // timm: --output ./output --experiment exp writes output/train/exp.
        let timm = Path::new("/work/proj/output/train/exp");
        let cwd = Some(Path::new("/work/proj"));
        let a = s(&[
            "python",
            "train.py",
            "--output",
            "./output",
            "--experiment",
            "exp",
        ]);
        assert!(args_name_run(&a, cwd, timm));
        let other = s(&[
            "python",
            "train.py",
            "--output",
            "./output",
            "--experiment",
            "b",
        ]);
        assert!(!args_name_run(&other, cwd, timm), "another experiment");
        // The program's own name never counts, nor a far ancestor.
        assert!(!args_name_run(
            &s(&["/work/proj/output/train/exp/x"]),
            None,
            timm
        ));
        assert!(!args_name_run(&s(&["py", "/", "exp"]), None, timm));
        assert!(!args_name_run(&s(&["py", "/work", "exp"]), None, timm));
    }

    #[test]
    fn a_lightning_root_names_only_its_newest_version() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = tmp.path().join("proj/logs");
        for v in ["version_0", "version_1"] {
            std::fs::create_dir_all(logs.join("lightning_logs").join(v)).unwrap();
        }
        let (old, new) = (
            logs.join("lightning_logs/version_0"),
            logs.join("lightning_logs/version_1"),
        );
        assert_eq!(logger_root_of(&new), Some(logs.clone()));
        assert_eq!(
            logger_root_of(&old),
            None,
            "an earlier trainer's finished run"
        );
        let cwd = Some(tmp.path().join("proj"));
        let a = s(&["python", "train.py", "--root", "./logs"]);
        assert!(args_name_run(&a, cwd.as_deref(), &new));
        assert!(!args_name_run(&a, cwd.as_deref(), &old));
        // Not a logger's layout: the parent alone does not name the run.
        let plain = tmp.path().join("proj/out/run");
        std::fs::create_dir_all(&plain).unwrap();
        assert_eq!(logger_root_of(&plain), None);
        assert!(!args_name_run(
            &s(&["python", "train.py", "--out", "./out"]),
            cwd.as_deref(),
            &plain
        ));
    }

    #[test]
    fn sitters_are_never_trainers() {
        assert!(is_sitter("sleep", &s(&["sleep", "30"])));
        assert!(is_sitter("bash", &s(&["-bash"])));
        assert!(is_sitter("less", &s(&["/usr/bin/less", "summary.csv"])));
        assert!(is_sitter("ckpt", &s(&["/x/ckpt", "watch", "runs"])));
        assert!(is_sitter("ckpt", &s(&["ckpt", "--poll", "1", "ls"])));
        assert!(!is_sitter("ckpt", &s(&["ckpt", "demo", "--dir", "r"])));
        assert!(is_sitter(
            "python3",
            &s(&["python3", "/usr/bin/tensorboard", "--logdir", "r"])
        ));
        assert!(!is_sitter(
            "python3",
            &s(&["python3", "train.py", "--output", "r"])
        ));
    }

    #[test]
    fn the_top_of_a_process_tree_is_picked() {
        let f = |pid, ppid, evidence| Found {
            pid,
            ppid,
            evidence,
            args: vec![],
        };
        // A trainer (argument) and its data loader (open file) under it.
        let got = pick(vec![
            f(11, 10, Evidence::OpenFile),
            f(10, 1, Evidence::Argument),
        ]);
        assert_eq!(got.unwrap().pid, 10);
        // Unrelated: the stronger evidence wins.
        let got = pick(vec![
            f(20, 1, Evidence::WorkingDir),
            f(30, 1, Evidence::OpenFile),
        ]);
        assert_eq!(got.unwrap().pid, 30);
        assert_eq!(pick(vec![]), None);
    }

    #[test]
    fn overdue_is_clearly_longer_than_the_usual_interval() {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |s: i64| t0 + chrono::TimeDelta::seconds(s);
        let times: Vec<_> = (0..6).map(|i| at(i * 300)).collect();
        assert_eq!(usual_interval(&times), Some(Duration::from_secs(300)));
        assert_eq!(overdue(&times, at(1500 + 899)), None);
        let (since, usual) = overdue(&times, at(1500 + 901)).unwrap();
        assert_eq!((since.as_secs(), usual.as_secs()), (901, 300));
        // Too little history says nothing.
        assert_eq!(usual_interval(&times[..3]), None);
        assert_eq!(overdue(&times[..3], at(100_000)), None);
        // Short intervals: at least a minute more than one.
        let fast: Vec<_> = (0..6).map(|i| at(i * 2)).collect();
        assert_eq!(overdue(&fast, at(10 + 61)), None);
        assert!(overdue(&fast, at(10 + 63)).is_some());
    }

    #[test]
    fn a_sleeping_shell_child_in_the_run_is_not_found_but_a_writer_is() {
        let tmp = tempfile::tempdir().unwrap();
        let run = std::fs::canonicalize(tmp.path()).unwrap();
        // `sleep 30` whose cwd is the run: not a trainer.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&run)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc::cwd(sleeper.id()).as_deref() != Some(run.as_path()) {
            assert!(Instant::now() < deadline, "sleep never started");
            std::thread::sleep(Duration::from_millis(5));
        }
        let alone = search(std::slice::from_ref(&run), &proc::own_lineage());
        assert_eq!(alone[0], None, "a sleep in the run is not its trainer");
        // A process holding a file open under the run: the writer.
        let mut writer = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys,time; f=open('held','w'); print('ok', flush=True); time.sleep(30)",
            ])
            .current_dir(&run)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(writer.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let found = search(std::slice::from_ref(&run), &proc::own_lineage());
        let _ = sleeper.kill();
        let _ = writer.kill();
        let _ = sleeper.wait();
        let _ = writer.wait();
        let f = found[0].as_ref().expect("the writer is found");
        assert_eq!(f.pid, writer.id());
        assert_eq!(f.evidence, Evidence::OpenFile);
        assert_ne!(f.pid, sleeper.id());
    }
}
