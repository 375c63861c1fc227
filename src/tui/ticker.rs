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
pub struct Visible(Arc<Mutex<Vec<PathBuf>>>);

impl Visible {
    pub fn set(&self, runs: &[PathBuf]) {
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
pub fn spawn(tx: Sender<Msg>, visible: Visible) {
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
