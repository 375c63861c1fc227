//! Ranking and retention: pure functions over checkpoints and a metric.
//!
//! NaN and ±inf never rank above a finite value and never become best; ties keep
//! the earlier checkpoint ahead (DESIGN §1).

use serde::{Deserialize, Serialize};

/// Whether a larger or a smaller metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Max,
    Min,
}

impl Mode {
    /// timm's rule: a metric whose name contains "loss" is minimised.
    pub fn infer_from_name(name: &str) -> Mode {
        if name.to_ascii_lowercase().contains("loss") {
            Mode::Min
        } else {
            Mode::Max
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Max => "max",
            Mode::Min => "min",
        }
    }
}

/// The metric a run is ranked by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    pub name: String,
    pub mode: Mode,
}

/// Keep rules; everything not kept by one of them (or by pin/best/last) is prunable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RetentionPolicy {
    /// Keep the k best by metric (finite metrics only).
    pub keep_top_k: Option<usize>,
    /// Keep the newest n checkpoints.
    pub keep_last: Option<usize>,
    /// Keep every n-th epoch (epoch % n == 0).
    pub keep_every: Option<u64>,
}

/// True when `a` is strictly better than `b` under `mode`; non-finite values never are.
pub fn strictly_better(a: f64, b: f64, mode: Mode) -> bool {
    if !a.is_finite() {
        return false;
    }
    if !b.is_finite() {
        return true;
    }
    match mode {
        Mode::Max => a > b,
        Mode::Min => a < b,
    }
}
