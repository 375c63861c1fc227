//! File events / polling → "run changed" messages for the monitor.
//!
//! One thread per watcher: native non-recursive events (inotify & co.) are debounced
//! and coalesced per run; runs on network/cluster filesystems (by fs type), runs whose
//! watch fails, and `--poll` use a cheap directory-listing signature instead; and every
//! run is rescanned periodically as a safety net. Everything arrives through one callback.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

use notify::{EventKind, RecursiveMode, Watcher as _};

/// How a run's changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchMode {
    /// Native file events.
    Events,
    /// Re-listing the directory at this interval.
    Polling(Duration),
}

impl WatchMode {
    /// "events" or "polling 2s", as the header shows it.
    pub(crate) fn label(&self) -> String {
        match self {
            WatchMode::Events => "events".into(),
            WatchMode::Polling(d) => {
                let ms = d.as_millis();
                if ms % 1000 == 0 {
                    format!("polling {}s", ms / 1000)
                } else {
                    format!("polling {:.1}s", d.as_secs_f64())
                }
            }
        }
    }
}

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WatchEvent {
    /// Something in the run changed (or the safety-net rescan is due): scan it.
    Changed(PathBuf),
    /// The mode chosen for a run, and why when it is not the default.
    Mode {
        run: PathBuf,
        mode: WatchMode,
        reason: Option<String>,
    },
}

/// Timing knobs.
#[derive(Debug, Clone)]
pub(crate) struct WatchConfig {
    /// Force polling at this interval (`--poll`).
    pub poll: Option<Duration>,
    /// Interval used when polling is chosen automatically.
    pub auto_poll: Duration,
    /// Quiet time that ends a burst of events.
    pub debounce: Duration,
    /// Longest a burst can delay its report.
    pub max_delay: Duration,
    /// Safety-net rescan period.
    pub rescan_every: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            poll: None,
            auto_poll: Duration::from_secs(2),
            debounce: Duration::from_millis(40),
            max_delay: Duration::from_millis(150),
            rescan_every: Duration::from_secs(60),
        }
    }
}

/// Callback receiving every [`WatchEvent`].
pub(crate) type Emit = Arc<dyn Fn(WatchEvent) + Send + Sync>;

enum Wake {
    /// A native event touched run `i`.
    Event(usize),
    /// The native backend failed for run `i`: fall back to polling.
    Failed(usize, String),
    Stop,
}

/// A running watcher; dropping it stops the thread.
pub(crate) struct Watcher {
    wake: Sender<Wake>,
    /// Not joined on drop: a listing stuck on a dead network mount must not block quitting.
    _thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.wake.send(Wake::Stop);
    }
}

/// Subdirectories whose direct entries also matter (non-recursive watches each).
const SUBDIRS: &[&str] = &[".ckpt", "checkpoints"];

struct RunWatch {
    path: PathBuf,
    mode: WatchMode,
    /// Directories under native watch.
    watched: HashSet<PathBuf>,
    pending_since: Option<Instant>,
    last_event: Instant,
    next_poll: Instant,
    signature: u64,
    /// The run directory vanished: its native watches died with it, so its parent is
    /// polled (every [`GONE_POLL`]) until it is back.
    gone: bool,
}

/// How often a vanished run directory is looked for.
const GONE_POLL: Duration = Duration::from_secs(1);

/// Start watching `runs`; every change and mode decision goes to `emit`.
pub(crate) fn start(runs: &[PathBuf], config: WatchConfig, emit: Emit) -> Watcher {
    let (tx, rx) = mpsc::channel::<Wake>();
    let runs: Vec<PathBuf> = runs.to_vec();
    let roots = runs.clone();
    let cb_tx = tx.clone();
    let native = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) => {
            if matches!(ev.kind, EventKind::Access(_)) {
                return; // our own reads (and the trainer's) are not changes
            }
            let mut hit = HashSet::new();
            for p in &ev.paths {
                if let Some(i) = owner(&roots, p) {
                    hit.insert(i);
                }
            }
            for i in hit {
                let _ = cb_tx.send(Wake::Event(i));
            }
        }
        Err(e) => {
            for i in e.paths.iter().filter_map(|p| owner(&roots, p)) {
                let _ = cb_tx.send(Wake::Failed(i, e.to_string()));
            }
        }
    });
    let thread = std::thread::Builder::new()
        .name("ckpt-watch".into())
        .spawn(move || watch_loop(runs, config, native.ok(), rx, emit))
        .ok();
    Watcher {
        wake: tx,
        _thread: thread,
    }
}

/// Which run a path belongs to (the run dir itself or one of its watched subdirs).
fn owner(runs: &[PathBuf], p: &Path) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, r) in runs.iter().enumerate() {
        if p.starts_with(r) {
            let n = r.components().count();
            if best.is_none_or(|(_, m)| n > m) {
                best = Some((i, n));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// The mode forced by `--poll` or by the filesystem type; `None` = try native events.
pub(crate) fn forced_mode(
    fs_type: Option<&str>,
    config: &WatchConfig,
) -> Option<(WatchMode, String)> {
    if let Some(p) = config.poll {
        return Some((WatchMode::Polling(p), "--poll".into()));
    }
    match fs_type {
        Some(t) if crate::disk::is_network_fs(t) => Some((
            WatchMode::Polling(config.auto_poll),
            format!("{t} filesystem"),
        )),
        _ => None,
    }
}

fn choose_mode(run: &Path, config: &WatchConfig) -> (Option<WatchMode>, Option<String>) {
    match forced_mode(fs_type(run).as_deref(), config) {
        Some((m, why)) => (Some(m), Some(why)),
        None => (None, None),
    }
}

/// The filesystem type of the mount holding `path` (no statvfs: the watcher needs
/// only the type, and must not fail when statvfs does).
pub(crate) fn fs_type(path: &Path) -> Option<String> {
    let canon = std::fs::canonicalize(path).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    crate::disk::mount_of(&info, &canon).map(|(_, t)| t)
}

fn add_watches(
    native: &mut Option<notify::RecommendedWatcher>,
    run: &mut RunWatch,
) -> Result<(), String> {
    let Some(w) = native.as_mut() else {
        return Err("native file events are unavailable".into());
    };
    if !run.watched.contains(&run.path) {
        w.watch(&run.path, RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", run.path.display()))?;
        run.watched.insert(run.path.clone());
    }
    for sub in SUBDIRS {
        let d = run.path.join(sub);
        if !run.watched.contains(&d)
            && d.is_dir()
            && w.watch(&d, RecursiveMode::NonRecursive).is_ok()
        {
            run.watched.insert(d);
        }
    }
    Ok(())
}

fn watch_loop(
    paths: Vec<PathBuf>,
    config: WatchConfig,
    mut native: Option<notify::RecommendedWatcher>,
    rx: mpsc::Receiver<Wake>,
    emit: Emit,
) {
    let start = Instant::now();
    let mut runs: Vec<RunWatch> = Vec::new();
    for path in paths {
        let (forced, mut reason) = choose_mode(&path, &config);
        let mut run = RunWatch {
            path: path.clone(),
            mode: forced.unwrap_or(WatchMode::Events),
            watched: HashSet::new(),
            pending_since: None,
            last_event: start,
            next_poll: start,
            signature: 0,
            gone: false,
        };
        if forced.is_none() {
            if let Err(e) = add_watches(&mut native, &mut run) {
                run.mode = WatchMode::Polling(config.auto_poll);
                reason = Some(e);
            }
        }
        if let WatchMode::Polling(p) = run.mode {
            run.signature = signature(&path);
            run.next_poll = start + p;
        }
        emit(WatchEvent::Mode {
            run: path,
            mode: run.mode,
            reason,
        });
        runs.push(run);
    }
    let mut next_rescan = start + config.rescan_every;
    loop {
        let now = Instant::now();
        let mut deadline = next_rescan;
        for r in &runs {
            if let Some(since) = r.pending_since {
                deadline =
                    deadline.min((r.last_event + config.debounce).min(since + config.max_delay));
            }
            if matches!(r.mode, WatchMode::Polling(_)) || r.gone {
                deadline = deadline.min(r.next_poll);
            }
        }
        match rx.recv_timeout(deadline.saturating_duration_since(now)) {
            Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Wake::Event(i)) => {
                if let Some(r) = runs.get_mut(i) {
                    let t = Instant::now();
                    r.pending_since.get_or_insert(t);
                    r.last_event = t;
                }
            }
            Ok(Wake::Failed(i, why)) => {
                if let Some(r) = runs.get_mut(i) {
                    if r.mode == WatchMode::Events {
                        r.mode = WatchMode::Polling(config.auto_poll);
                        r.signature = signature(&r.path);
                        r.next_poll = Instant::now() + config.auto_poll;
                        emit(WatchEvent::Mode {
                            run: r.path.clone(),
                            mode: r.mode,
                            reason: Some(why),
                        });
                        emit(WatchEvent::Changed(r.path.clone()));
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        for r in &mut runs {
            if let Some(since) = r.pending_since {
                if now >= r.last_event + config.debounce || now >= since + config.max_delay {
                    r.pending_since = None;
                    if r.mode == WatchMode::Events && !r.path.is_dir() {
                        // Deleted or moved: the kernel dropped its watches; look for it.
                        r.gone = true;
                        if let Some(w) = native.as_mut() {
                            for d in r.watched.drain() {
                                let _ = w.unwatch(&d);
                            }
                        }
                        r.watched.clear();
                        r.next_poll = now + GONE_POLL;
                    } else {
                        // A subdirectory created since (e.g. `.ckpt/` on the first save).
                        let _ = add_watches(&mut native, r);
                    }
                    emit(WatchEvent::Changed(r.path.clone()));
                }
            }
            if r.gone && r.mode == WatchMode::Events && now >= r.next_poll {
                r.next_poll = now + GONE_POLL;
                if r.path.is_dir() {
                    r.gone = false;
                    let _ = add_watches(&mut native, r);
                    emit(WatchEvent::Changed(r.path.clone()));
                }
            }
            if let WatchMode::Polling(p) = r.mode {
                if now >= r.next_poll {
                    r.next_poll = now + p;
                    let sig = signature(&r.path);
                    if sig != r.signature {
                        r.signature = sig;
                        emit(WatchEvent::Changed(r.path.clone()));
                    }
                }
            }
        }
        if now >= next_rescan {
            next_rescan = now + config.rescan_every;
            for r in &runs {
                emit(WatchEvent::Changed(r.path.clone()));
            }
        }
    }
}

/// A cheap fingerprint of a run's listing: names, sizes, mtimes (order-independent).
pub(crate) fn signature(run: &Path) -> u64 {
    let mut sig = 0u64;
    let mut add_dir = |dir: &Path| {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            e.file_name().hash(&mut h);
            if let Ok(md) = e.metadata() {
                md.len().hash(&mut h);
                md.is_dir().hash(&mut h);
                if let Ok(t) = md.modified() {
                    t.duration_since(UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                        .hash(&mut h);
                }
            }
            sig = sig.wrapping_add(h.finish());
        }
    };
    add_dir(run);
    for sub in SUBDIRS {
        add_dir(&run.join(sub));
    }
    sig
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn collect(run: &Path, config: WatchConfig) -> (Watcher, Arc<Mutex<Vec<WatchEvent>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let w = start(
            &[run.to_path_buf()],
            config,
            Arc::new(move |ev| s.lock().unwrap().push(ev)),
        );
        (w, seen)
    }

    fn wait_changes(seen: &Mutex<Vec<WatchEvent>>, n: usize, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            let k = seen
                .lock()
                .unwrap()
                .iter()
                .filter(|e| matches!(e, WatchEvent::Changed(_)))
                .count();
            if k >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn changes(seen: &Mutex<Vec<WatchEvent>>) -> usize {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, WatchEvent::Changed(_)))
            .count()
    }

    #[test]
    fn network_filesystems_and_poll_flag_force_polling() {
        let c = WatchConfig::default();
        for t in ["nfs4", "lustre", "fuse.sshfs", "cifs", "gpfs"] {
            assert_eq!(
                forced_mode(Some(t), &c).map(|m| m.0),
                Some(WatchMode::Polling(c.auto_poll)),
                "{t}"
            );
        }
        assert_eq!(forced_mode(Some("ext4"), &c), None);
        assert_eq!(forced_mode(None, &c), None);
        let forced = WatchConfig {
            poll: Some(Duration::from_secs(5)),
            ..WatchConfig::default()
        };
        assert_eq!(
            forced_mode(Some("ext4"), &forced).map(|m| m.0),
            Some(WatchMode::Polling(Duration::from_secs(5)))
        );
        assert_eq!(
            WatchMode::Polling(Duration::from_secs(2)).label(),
            "polling 2s"
        );
        assert_eq!(
            WatchMode::Polling(Duration::from_millis(500)).label(),
            "polling 0.5s"
        );
        assert_eq!(WatchMode::Events.label(), "events");
    }

    #[test]
    fn events_are_debounced_and_reads_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().to_path_buf();
        std::fs::write(run.join("checkpoint-0.pth.tar"), b"x").unwrap();
        let (_w, seen) = collect(&run, WatchConfig::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !seen
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, WatchEvent::Mode { .. }))
        {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(
            seen.lock().unwrap()[0],
            WatchEvent::Mode {
                mode: WatchMode::Events,
                ..
            }
        ));
        // A burst of writes is one change.
        for i in 0..20 {
            std::fs::write(run.join(format!("f{i}")), b"data").unwrap();
        }
        assert!(wait_changes(&seen, 1, 5));
        // Reading files (as our own scans do) is not a change.
        let before = changes(&seen);
        for _ in 0..5 {
            let _ = std::fs::read(run.join("checkpoint-0.pth.tar")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(400)); // observation window
        assert!(changes(&seen) - before <= 1, "reads triggered rescans");
        // Subdirectory `.ckpt/` created later is watched after the next change.
        std::fs::create_dir(run.join(".ckpt")).unwrap();
        assert!(wait_changes(&seen, before + 1, 5));
        let n = changes(&seen);
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(run.join(".ckpt/manifest.json"), b"{}").unwrap();
        assert!(wait_changes(&seen, n + 1, 5), "manifest change seen");
    }

    #[test]
    fn polling_sees_new_files() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().to_path_buf();
        let config = WatchConfig {
            poll: Some(Duration::from_millis(100)),
            ..WatchConfig::default()
        };
        let (_w, seen) = collect(&run, config);
        std::thread::sleep(Duration::from_millis(150));
        let before = changes(&seen);
        std::fs::write(run.join("checkpoint-1.pth.tar"), b"x").unwrap();
        assert!(wait_changes(&seen, before + 1, 5));
        assert!(seen.lock().unwrap().iter().any(|e| matches!(
            e,
            WatchEvent::Mode { mode: WatchMode::Polling(_), reason: Some(r), .. } if r == "--poll"
        )));
    }

    #[test]
    fn missing_directory_falls_back_to_polling() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("not-yet");
        let (_w, seen) = collect(&run, WatchConfig::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if seen.lock().unwrap().iter().any(|e| {
                matches!(
                    e,
                    WatchEvent::Mode {
                        mode: WatchMode::Polling(_),
                        ..
                    }
                )
            }) {
                break;
            }
            assert!(Instant::now() < deadline, "{:?}", seen.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_deleted_run_is_noticed_and_watched_again_when_it_is_back() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let (_w, seen) = collect(&run, WatchConfig::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !seen
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, WatchEvent::Mode { .. }))
        {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        let before = changes(&seen);
        std::fs::remove_dir(&run).unwrap();
        assert!(wait_changes(&seen, before + 1, 5), "deletion is a change");
        let gone = changes(&seen);
        std::fs::create_dir(&run).unwrap();
        assert!(wait_changes(&seen, gone + 1, 5), "its return is a change");
        // Watched natively again: a new file is noticed.
        let back = changes(&seen);
        std::fs::write(run.join("checkpoint-1.pth.tar"), b"x").unwrap();
        assert!(wait_changes(&seen, back + 1, 5), "events resume");
    }

    #[test]
    fn signature_changes_with_listing() {
        let tmp = tempfile::tempdir().unwrap();
        let a = signature(tmp.path());
        std::fs::write(tmp.path().join("x"), b"1").unwrap();
        let b = signature(tmp.path());
        assert_ne!(a, b);
        assert_eq!(b, signature(tmp.path()));
    }
}
