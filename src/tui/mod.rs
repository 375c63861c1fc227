//! The live monitor, `ckpt watch`: app state + pure update, keymap,
//! one widget file per pane, and a terminal guard that restores the terminal.
//!
//! The loop blocks on one channel fed by the input, watcher, scanner, worker and
//! trainer threads; it redraws only when the rendered screen differs, at most once
//! per [`FRAME_GAP`], inside a synchronized update, so an idle monitor writes nothing.

pub mod app;
pub(crate) mod frame;
pub mod keymap;
pub(crate) mod msg;
pub(crate) mod procinfo;
pub mod projection;
pub mod render;
pub(crate) mod state;
pub(crate) mod terminal;
pub(crate) mod ticker;
pub mod trainer;
pub mod worker;

use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Local, Offset, Utc};
use crossterm::event::{self, Event, KeyEventKind};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::snapshot::LayoutKind;
use crate::watch::{self, WatchConfig, WatchEvent};

use app::{update, App, Command, Msg};

/// Shortest gap between two frames: bursts of messages are coalesced into one draw.
pub(crate) const FRAME_GAP: Duration = Duration::from_millis(50);

/// Shortest `--poll` interval: below it polling burns a core re-listing the run.
pub(crate) const MIN_POLL: Duration = Duration::from_millis(100);

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour on a terminal unless `NO_COLOR` is set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Decide from the choice, whether stdout is a terminal, and `NO_COLOR`.
    pub fn enabled(self, is_tty: bool, no_color: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && no_color.is_none_or(str::is_empty),
        }
    }
}

/// Options of `ckpt watch` (and of the monitor `ckpt demo` opens).
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Runs, or directories holding runs; empty = the current directory.
    pub paths: Vec<PathBuf>,
    /// Force polling at this interval instead of native file events.
    pub poll: Option<Duration>,
    /// Disable every action (promote, restore, pin, prune).
    pub read_only: bool,
    pub color: ColorChoice,
    /// Layout override for every run.
    pub layout: Option<LayoutKind>,
    /// News from outside the monitor (`ckpt demo`'s trainer stopping).
    pub notes: Option<NoteFeed>,
}

/// A channel of [`app::Note`]s into the monitor.
#[derive(Clone)]
pub struct NoteFeed(pub Arc<std::sync::Mutex<std::sync::mpsc::Receiver<app::Note>>>);

impl std::fmt::Debug for NoteFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoteFeed")
    }
}

/// Expand the given paths into run directories (a directory of runs → its runs).
pub(crate) fn resolve_runs(paths: &[PathBuf]) -> crate::Result<(Vec<PathBuf>, Option<PathBuf>)> {
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut runs = Vec::new();
    for p in &paths {
        let meta = std::fs::metadata(p).map_err(|e| crate::Error::NoRun {
            path: p.clone(),
            reason: format!("{e}; give the run directory (or a directory of runs)"),
        })?;
        if !meta.is_dir() {
            return Err(crate::Error::NoRun {
                path: p.clone(),
                reason: "not a directory; give the run directory (or a directory of runs)".into(),
            });
        }
        let canon = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        let found = discover(&canon);
        if found.is_empty() {
            // An empty or not-yet-started run: watch it, checkpoints will appear.
            runs.push(canon);
        } else {
            runs.extend(found);
        }
    }
    runs.dedup();
    let root = if paths.len() == 1 && runs.len() > 1 {
        std::fs::canonicalize(&paths[0]).ok()
    } else {
        None
    };
    Ok((runs, root))
}

/// Refuse a `--poll` interval below [`MIN_POLL`] (zero would spin a core).
pub fn check_poll(poll: Option<Duration>) -> crate::Result<()> {
    match poll {
        Some(p) if p < MIN_POLL => Err(crate::Error::BadRequest(
            "--poll must be at least 0.1 seconds".into(),
        )),
        _ => Ok(()),
    }
}

fn discover(dir: &std::path::Path) -> Vec<PathBuf> {
    terminal::CATCHING.with(|c| c.set(true));
    let r = std::panic::catch_unwind(|| crate::layout::discover_runs(dir));
    terminal::CATCHING.with(|c| c.set(false));
    r.unwrap_or_default()
}

/// Run the monitor until the user quits; restores the terminal on every exit path.
pub fn run(options: WatchOptions) -> crate::Result<()> {
    check_poll(options.poll)?;
    let (runs, root) = resolve_runs(&options.paths)?;
    let is_tty = crossterm::tty::IsTty::is_tty(&std::io::stdout());
    let no_color = std::env::var("NO_COLOR").ok();
    let mut app = App::new(runs.clone(), options.read_only, Utc::now());
    app.color = options.color.enabled(is_tty, no_color.as_deref());
    app.utc_offset = Local::now().offset().fix().local_minus_utc();
    app.root = root;

    let (tx, rx) = mpsc::channel::<Msg>();
    let mut guard = terminal::TerminalGuard::enter()?;
    {
        let tx = tx.clone();
        terminal::on_signals(move || {
            let _ = tx.send(Msg::Terminate);
        });
    }
    spawn_input(tx.clone());
    if let Some(NoteFeed(notes)) = options.notes.clone() {
        let tx = tx.clone();
        let _ = std::thread::Builder::new()
            .name("ckpt-notes".into())
            .spawn(move || loop {
                let next = notes.lock().map(|rx| rx.recv());
                match next {
                    Ok(Ok(note)) => {
                        if tx.send(Msg::Note(note)).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            });
    }
    let scanner = worker::spawn_scanner(tx.clone(), options.layout);
    let worker = worker::spawn_worker(tx.clone(), options.layout);
    let _watcher = {
        let tx = tx.clone();
        let emit: watch::Emit = Arc::new(move |ev| {
            let msg = match ev {
                WatchEvent::Changed(run) => Msg::RunChanged(run),
                WatchEvent::Mode { run, mode, reason } => Msg::WatchMode { run, mode, reason },
            };
            let _ = tx.send(msg);
        });
        let config = WatchConfig {
            poll: options.poll,
            ..WatchConfig::default()
        };
        watch::start(&runs, config, emit)
    };
    // Dropped when the loop ends: that stops the tracker.
    let trainer_hints = {
        let tx = tx.clone();
        trainer::spawn(runs.clone(), move |run, trainer| {
            let _ = tx.send(Msg::Trainer {
                run: run.to_path_buf(),
                trainer,
            });
        })
    };

    let size = guard
        .terminal
        .size()
        .map_err(|e| crate::Error::io("read the terminal size", "/dev/tty", e))?;
    update(&mut app, Msg::Resize(size.width, size.height));
    for r in &runs {
        let _ = scanner.send(r.clone());
    }

    // Ages and the visible run's disk figures tick once a second; a tick that changes
    // no cell draws nothing.
    let visible = ticker::Visible::default();
    ticker::spawn(tx.clone(), visible.clone());

    let mut last: Option<Buffer> = None;
    let mut last_draw = Instant::now() - FRAME_GAP;
    let mut pending: Vec<Msg> = Vec::new();
    // Block until something happens.
    while let Ok(msg) = rx.recv() {
        pending.push(msg);
        // Coalesce: drain the queue, and wait out the rest of the frame gap.
        loop {
            while let Ok(m) = rx.try_recv() {
                pending.push(m);
            }
            let wait = FRAME_GAP.saturating_sub(last_draw.elapsed());
            if wait.is_zero() {
                break;
            }
            match rx.recv_timeout(wait) {
                Ok(m) => pending.push(m),
                Err(_) => break,
            }
        }
        // A tick alone that moves no age on screen is not even rendered.
        let only_ticks = pending.iter().all(|m| matches!(m, Msg::Tick(_)));
        let before = app.now;
        for m in pending.drain(..) {
            if let Msg::Scanned {
                run,
                result: Ok(snap),
                ..
            } = &m
            {
                let _ = trainer_hints.send(trainer::hint_of(snap, run));
            }
            for cmd in update(&mut app, m) {
                match cmd {
                    Command::Scan(run) => {
                        let _ = scanner.send(run);
                    }
                    Command::Plan { run, request } => {
                        let _ = worker.send(worker::Job::Plan { run, request });
                    }
                    Command::Apply { run, action } => {
                        let _ = worker.send(worker::Job::Apply { run, action });
                    }
                    Command::ListTrash(run) => {
                        let _ = worker.send(worker::Job::ListTrash { run });
                    }
                    Command::Quit => app.quit = true,
                }
            }
        }
        if app.quit {
            break;
        }
        if only_ticks && last.is_some() && !ticker::ages_change(&app, before) {
            continue;
        }
        visible.set(
            app.current()
                .map(|r| std::slice::from_ref(&r.path))
                .unwrap_or(&[]),
        );
        let area = Rect::new(0, 0, app.size.0, app.size.1);
        let mut buf = Buffer::empty(area);
        render::draw(&app, area, &mut buf);
        if last.as_ref() != Some(&buf) {
            last = Some(draw(&mut guard.terminal, last.as_ref(), buf)?);
            last_draw = Instant::now();
            // Test seam (debug builds only): prove the panic hook restores the terminal.
            #[cfg(debug_assertions)]
            if std::env::var_os("CKPT_TUI_TEST_PANIC").is_some() {
                panic!("CKPT_TUI_TEST_PANIC: deliberate panic after a frame");
            }
        }
    }
    drop(guard);
    Ok(())
}

/// Write one frame over the previous one: only the changed cells (no full clears; a
/// large frame inside a synchronized update, see [`frame`]). Returns what the screen
/// now shows: `buf`, or a blank fallback when the terminal's real size differs (a
/// resize is on its way).
fn draw(
    terminal: &mut terminal::Term,
    prev: Option<&Buffer>,
    buf: Buffer,
) -> crate::Result<Buffer> {
    let io = |e: std::io::Error| crate::Error::io("draw", "/dev/tty", e);
    let size = terminal.size().map_err(io)?;
    let shown = if (size.width, size.height) == (buf.area.width, buf.area.height) {
        buf
    } else {
        let area = Rect::new(0, 0, size.width, size.height);
        let mut fallback = Buffer::empty(area);
        render::draw_fallback(area, &mut fallback);
        fallback
    };
    frame::write_frame(terminal.backend_mut(), prev, &shown).map_err(io)?;
    Ok(shown)
}

fn spawn_input(tx: Sender<Msg>) {
    let _ = std::thread::Builder::new()
        .name("ckpt-input".into())
        .spawn(move || loop {
            let msg = match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.send(msg).is_err() {
                return;
            }
        });
}
