//! Disk projection: how fast a run grows and how many more checkpoints fit, from the
//! sizes seen over the last half hour.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::disk::Headroom;
use crate::snapshot::{Checkpoint, CheckpointState, Role, RunSnapshot};

/// How far back the run's growth is measured.
const GROWTH_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

/// Remember the run's size at a scan (only the last [`GROWTH_WINDOW`], at most 256).
pub fn record_size(sizes: &mut Vec<(DateTime<Utc>, u64)>, at: DateTime<Utc>, bytes: u64) {
    sizes.retain(|(t, _)| *t <= at && at - *t <= GROWTH_WINDOW);
    sizes.push((at, bytes));
    if sizes.len() > 256 {
        sizes.drain(..sizes.len() - 256);
    }
}

/// How the run's own size moves: what the trainer adds net of pruning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Growth {
    /// Fewer than two scans a second or more apart.
    Unknown,
    /// Not growing (retention keeps it flat, or nothing is saved).
    Steady,
    /// Growing at this many bytes per second.
    Rate(f64),
}

/// Fewest scans in the window before the run's growth is judged at all.
pub(crate) const GROWTH_MIN_SCANS: usize = 3;
/// Fewest increases of the run's size (saves seen growing it) before a rate, and so a
/// time to full, is claimed: one save is not a trend.
pub(crate) const GROWTH_MIN_STEPS: usize = 3;

/// Growth between the oldest and the newest recorded scan; steady when the newest
/// size is no larger than one seen before it in the window. Unknown until there are
/// enough samples of the run's own growth ([`GROWTH_MIN_SCANS`], [`GROWTH_MIN_STEPS`]).
pub fn growth(sizes: &[(DateTime<Utc>, u64)]) -> Growth {
    let (Some(first), Some(last)) = (sizes.first(), sizes.last()) else {
        return Growth::Unknown;
    };
    let secs = (last.0 - first.0).num_milliseconds() as f64 / 1000.0;
    if secs < 1.0 || sizes.len() < GROWTH_MIN_SCANS {
        return Growth::Unknown;
    }
    // Not above an earlier size: retention is holding it (a save and its prune
    // make it oscillate), even if it grew before the window's newest peak.
    let earlier_max = sizes[..sizes.len() - 1]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    if last.1 <= first.1 || last.1 <= earlier_max {
        return Growth::Steady;
    }
    let steps = sizes.windows(2).filter(|w| w[1].1 > w[0].1).count();
    if steps < GROWTH_MIN_STEPS {
        return Growth::Unknown;
    }
    Growth::Rate((last.1 - first.1) as f64 / secs)
}

/// Disk projection for the gauge: what the next save needs and how long space lasts.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Expected size of the next checkpoint (the newest complete one's).
    pub next_size: u64,
    /// How many more checkpoints of that size fit (with the engine's few-% headroom).
    pub fits: u64,
    /// Median interval between the recent saves.
    pub interval: Option<Duration>,
    /// The run's own growth between scans.
    pub growth: Growth,
    /// Time until full at that growth (none when steady or unknown).
    pub full_in: Option<Duration>,
    /// The next save would not fit.
    pub warn: bool,
}

/// Project headroom from the run's recent saves and its measured growth; `None`
/// without checkpoints. Time to full comes from the growth, never from the save
/// interval alone: retention can keep a busy run's size flat.
pub fn projection(snap: &RunSnapshot, headroom: &Headroom, growth: Growth) -> Option<Projection> {
    let complete: Vec<&Checkpoint> = snap
        .checkpoints
        .iter()
        .filter(|c| c.state == CheckpointState::Complete && !c.has_role(Role::Recovery))
        .collect();
    let next_size = complete.iter().rev().take(3).map(|c| c.bytes).max()?;
    // The engine's preflight wants the size plus a few percent.
    let need = next_size + next_size / 32;
    let fits = headroom.available.checked_div(need).unwrap_or(0);
    let mut times: Vec<DateTime<Utc>> = complete.iter().filter_map(|c| c.mtime).collect();
    times.sort();
    let recent = &times[times.len().saturating_sub(11)..];
    let mut gaps: Vec<i64> = recent
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .filter(|g| *g > 0)
        .collect();
    gaps.sort_unstable();
    let interval = gaps
        .get(gaps.len() / 2)
        .map(|ms| Duration::from_millis(*ms as u64));
    let full_in = match growth {
        Growth::Rate(r) if r > 0.0 => Some(Duration::from_secs_f64(
            (headroom.available as f64 / r).min(1e12),
        )),
        _ => None,
    };
    Some(Projection {
        next_size,
        fits,
        interval,
        growth,
        full_in,
        warn: headroom.available < need,
    })
}
