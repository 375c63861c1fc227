//! Terminal guard: raw mode + alternate screen while the monitor runs, and the
//! terminal restored on every exit path — drop, panic (hook), SIGTERM/SIGHUP.

use std::cell::Cell;
use std::io::{BufWriter, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use crossterm::{cursor, execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// True while the terminal is in raw mode / the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

thread_local! {
    /// Set by threads that catch panics themselves (the scanner): don't restore for them.
    pub(crate) static CATCHING: Cell<bool> = const { Cell::new(false) };
}

/// The ratatui terminal over buffered stdout.
pub(crate) type Term = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

/// Restores the terminal when dropped.
pub(crate) struct TerminalGuard {
    pub terminal: Term,
}

/// Put the terminal back: leave the alternate screen, show the cursor, cooked mode.
/// Idempotent and safe from any thread; errors are ignored (the tty may be gone).
pub(crate) fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = std::io::stdout();
        let _ = execute!(
            out,
            terminal::EndSynchronizedUpdate,
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

impl TerminalGuard {
    /// Enter raw mode and the alternate screen (mouse capture stays off).
    pub(crate) fn enter() -> crate::Result<TerminalGuard> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // A caught panic becomes a status-line error; printing it would
                // scribble over the screen.
                if CATCHING.with(Cell::get) {
                    return;
                }
                restore();
                previous(info);
            }));
        });
        let io = |e: std::io::Error| crate::Error::io("set up the terminal", "/dev/tty", e);
        terminal::enable_raw_mode().map_err(io)?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = std::io::stdout();
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
            restore();
            return Err(io(e));
        }
        let backend = CrosstermBackend::new(BufWriter::with_capacity(64 * 1024, std::io::stdout()));
        let terminal = match Terminal::new(backend) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(io(e));
            }
        };
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = self.terminal.backend_mut().flush();
        restore();
    }
}

/// On SIGTERM, SIGHUP or SIGINT: ask the loop to quit via `notify`; if it has not
/// restored the terminal within a second, restore it here and exit.
pub(crate) fn on_signals(notify: impl Fn() + Send + 'static) -> Option<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT]).ok()?;
    let seen = Arc::new(AtomicBool::new(false));
    let flag = seen.clone();
    std::thread::Builder::new()
        .name("ckpt-signals".into())
        .spawn(move || {
            if let Some(sig) = signals.forever().next() {
                flag.store(true, Ordering::SeqCst);
                notify();
                // A watchdog, not synchronisation: the loop normally exits at once.
                let deadline = std::time::Instant::now() + Duration::from_secs(1);
                while std::time::Instant::now() < deadline {
                    if !ACTIVE.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                restore();
                std::process::exit(128 + sig);
            }
        })
        .ok()?;
    Some(seen)
}
