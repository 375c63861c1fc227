//! The once-a-second tick (DESIGN §6): the wall clock for ages, and one statvfs of
//! each visible run's filesystem for the disk gauge. The event loop redraws only when
//! the rendered screen differs, and then only the changed cells go out, so a tick that
//! changes nothing writes nothing.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Timelike, Utc};

use super::app::Msg;
use crate::disk::{self, Space};

/// Which runs are on screen (their disk figures tick); set by the event loop.
#[derive(Debug, Clone, Default)]
pub(crate) struct Visible(Arc<Mutex<Vec<PathBuf>>>);

impl Visible {
    pub(crate) fn set(&self, runs: &[PathBuf]) {
        if let Ok(mut v) = self.0.lock() {
            if v.as_slice() != runs {
                *v = runs.to_vec();
            }
        }
    }

    fn get(&self) -> Vec<PathBuf> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Time to the next whole second of the wall clock (plus a little, so the tick
/// lands after the flip): ages then change in step with a clock on the wall.
fn to_next_second() -> Duration {
    let nanos = Utc::now().nanosecond() % 1_000_000_000;
    Duration::from_nanos(1_000_000_000 - nanos as u64) + Duration::from_millis(5)
}

/// Tick until the event loop is gone: `Msg::Space` for a visible run whose figures
/// changed, then `Msg::Tick`.
pub(crate) fn spawn(tx: Sender<Msg>, visible: Visible) {
    let _ = std::thread::Builder::new()
        .name("ckpt-tick".into())
        .spawn(move || {
            let mut last: Vec<(PathBuf, Space)> = Vec::new();
            loop {
                std::thread::sleep(to_next_second());
                for run in visible.get() {
                    let Ok(space) = disk::space(&run) else {
                        continue;
                    };
                    let seen = last.iter_mut().find(|(r, _)| *r == run);
                    let changed = match seen {
                        Some((_, s)) if *s == space => false,
                        Some((_, s)) => {
                            *s = space;
                            true
                        }
                        None => {
                            last.push((run.clone(), space));
                            true
                        }
                    };
                    if changed && tx.send(Msg::Space { run, space }).is_err() {
                        return;
                    }
                }
                if tx.send(Msg::Tick(Utc::now())).is_err() {
                    return;
                }
            }
        });
}

/// Would moving the clock from `old` to `app.now` change any age on screen? A tick
/// that changes none is not rendered at all (idle CPU). Looks at the visible rows, the
/// ranking, the last save, a trainer's exit and the overdue mark; anything else that
/// is open (an overlay) is rendered.
pub(crate) fn ages_change(app: &super::app::App, old: chrono::DateTime<Utc>) -> bool {
    use super::render::fmt::age;
    let new = app.now;
    let differs = |t: Option<chrono::DateTime<Utc>>| t.is_some() && age(t, old) != age(t, new);
    let run_differs = |run: &super::app::RunEntry, rows: bool| {
        use super::trainer::Liveness;
        match run.trainer.as_ref().map(|t| &t.liveness) {
            Some(Liveness::Exited { at, last_save }) if differs(at.or(*last_save)) => {
                return true;
            }
            Some(Liveness::Stopped { at }) if differs(Some(*at)) => return true,
            _ => {}
        }
        let Some(snap) = &run.snapshot else {
            return false;
        };
        if differs(snap.checkpoints.iter().filter_map(|c| c.mtime).max()) {
            return true;
        }
        let times = super::trainer::save_times(snap);
        if super::trainer::overdue(&times, old).is_some()
            != super::trainer::overdue(&times, new).is_some()
        {
            return true;
        }
        if !rows {
            return false;
        }
        let end = (run.offset + app.size.1 as usize).min(run.view.len());
        let visible = run.view[run.offset.min(end)..end].iter();
        let ranked = run.ranking().into_iter().take(app.size.1 as usize);
        visible
            .copied()
            .chain(ranked)
            .any(|i| differs(snap.checkpoints.get(i).and_then(|c| c.mtime)))
    };
    if app.overlay != super::app::Overlay::None {
        return true;
    }
    match app.current() {
        Some(run) => run_differs(run, true),
        None => app.runs.iter().any(|r| run_differs(r, false)),
    }
}
