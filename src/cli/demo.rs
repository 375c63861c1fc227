//! `ckpt demo`: start the simulated trainer, then show it in the monitor (on a
//! terminal) or print each save (off a terminal, or with `--saves N`).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use anyhow::Result;

use super::args::DemoArgs;
use super::output::{human_bytes, human_metric};
use super::{secs, Ctx, UsageError};
use ckpt::demo::{DemoEvent, DemoOptions, Trainer};
use ckpt::tui::WatchOptions;

/// Set by SIGINT/SIGTERM/SIGHUP in print mode, so the temp run is still removed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

pub(crate) fn run(args: &DemoArgs, ctx: &Ctx) -> Result<()> {
    if args.size == 0 {
        return Err(UsageError("--size must be at least 1 byte".into()).into());
    }
    if args.saves == Some(0) {
        return Err(UsageError("--saves must be at least 1".into()).into());
    }
    let interval = secs("--interval", args.interval)?;
    let options = DemoOptions {
        dir: args.dir.clone(),
        size: args.size,
        interval,
        saves: args.saves,
    };
    let monitor = args.saves.is_none() && std::io::stdout().is_terminal();
    if !monitor {
        catch_signals();
    }
    let mut trainer = Trainer::start(&options)?;
    // Why the trainer stopped, when a save failed (the disk is full…).
    let mut failure: Option<String> = None;
    let result = if monitor {
        let (note_tx, note_rx) = std::sync::mpsc::channel();
        let done = AtomicBool::new(false);
        let watch = WatchOptions {
            paths: vec![trainer.run_dir().to_path_buf()],
            layout: ctx.layout,
            notes: Some(ckpt::tui::NoteFeed(std::sync::Arc::new(
                std::sync::Mutex::new(note_rx),
            ))),
            ..WatchOptions::default()
        };
        let result = std::thread::scope(|s| {
            let monitor = s.spawn(|| {
                let r = ckpt::tui::run(watch);
                done.store(true, Ordering::SeqCst);
                r
            });
            // Forward the trainer's failure to the monitor's status line.
            while !done.load(Ordering::SeqCst) {
                match trainer.events().recv_timeout(Duration::from_millis(200)) {
                    Ok(DemoEvent {
                        epoch,
                        result: Err(e),
                        ..
                    }) => {
                        let why = failure_text(epoch, &e);
                        let _ = note_tx.send(ckpt::tui::app::Note::TrainerStopped {
                            // As the monitor names it (resolved).
                            run: std::fs::canonicalize(trainer.run_dir())
                                .unwrap_or_else(|_| trainer.run_dir().to_path_buf()),
                            pid: std::process::id(),
                            at: chrono::Utc::now(),
                            why: why.clone(),
                        });
                        failure = Some(why);
                    }
                    Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(Duration::from_millis(200))
                    }
                }
            }
            monitor
                .join()
                .unwrap_or_else(|_| Err(ckpt::Error::Internal("the monitor panicked".into())))
        });
        result.map_err(anyhow::Error::from)
    } else {
        print_saves(&trainer, &mut failure)
    };
    trainer.stop();
    let mut out = std::io::stdout().lock();
    let kept = if trainer.is_temporary() {
        "its temporary run was removed".to_string()
    } else {
        format!("the run is kept in {}", trainer.run_dir().display())
    };
    let farewell = match &failure {
        Some(why) => format!("{why}\ndemo stopped; {kept}"),
        None => format!("demo stopped; {kept}"),
    };
    // Drop removes the temp run before we say so.
    drop(trainer);
    let _ = writeln!(out, "{farewell}");
    result
}

/// Why the demo's trainer stopped: the failed save and the engine's reason.
fn failure_text(epoch: u64, e: &ckpt::Error) -> String {
    format!("demo trainer stopped: saving epoch {epoch} failed: {e}")
}

/// Print mode: one line per save until the trainer finishes or a signal arrives; a
/// failed save ends it, with the reason in `failure`.
fn print_saves(trainer: &Trainer, failure: &mut Option<String>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "demo run {} (metric {} max; keep top 3 and last 2); Ctrl-C stops",
        trainer.run_dir().display(),
        ckpt::demo::DEMO_METRIC
    )?;
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Ok(());
        }
        match trainer.events().recv_timeout(Duration::from_millis(100)) {
            Ok(DemoEvent {
                epoch,
                result: Err(e),
                ..
            }) => {
                *failure = Some(failure_text(epoch, &e));
                return Err(anyhow::anyhow!("the demo's save failed"));
            }
            Ok(ev) => print_event(&mut out, ev)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn print_event(out: &mut dyn Write, ev: DemoEvent) -> Result<()> {
    let metric = human_metric(Some(ev.metric), None);
    let report = ev.result?;
    let mut line = format!(
        "epoch {:>3}  {:>7} {}  {:>9}  {}",
        ev.epoch,
        metric,
        ckpt::demo::DEMO_METRIC,
        human_bytes(report.bytes),
        report.path.file_name().map_or_else(
            || report.path.display().to_string(),
            |f| f.to_string_lossy().into_owned()
        )
    );
    if report.became_best {
        line.push_str("  new best");
    }
    if !report.pruned.is_empty() {
        let names: Vec<String> = report
            .pruned
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |f| f.to_string_lossy().into_owned(),
                )
            })
            .collect();
        line.push_str(&format!("  pruned {}", names.join(", ")));
    }
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
