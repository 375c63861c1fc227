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
    pub(crate) fn infer_from_name(name: &str) -> Mode {
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
pub(crate) fn strictly_better(a: f64, b: f64, mode: Mode) -> bool {
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

impl RetentionPolicy {
    /// True when no keep rule is set: then retention keeps everything (a run without a
    /// policy is never pruned implicitly).
    pub fn is_empty(&self) -> bool {
        self.keep_top_k.is_none() && self.keep_last.is_none() && self.keep_every.is_none()
    }
}

/// Ranking order of two metric values: the better first; finite values before NaN,
/// ±inf and absent ones; equal values compare `Equal` so a stable sort keeps the
/// earlier checkpoint ahead.
pub(crate) fn rank_cmp(a: Option<f64>, b: Option<f64>, mode: Mode) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let fa = a.filter(|v| v.is_finite());
    let fb = b.filter(|v| v.is_finite());
    match (fa, fb) {
        (Some(x), Some(y)) => {
            let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
            match mode {
                Mode::Max => o.reverse(),
                Mode::Min => o,
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Indices of the finite metrics, best first (ties: the earlier index first).
pub fn ranked(metrics: &[Option<f64>], mode: Mode) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..metrics.len())
        .filter(|&i| metrics[i].is_some_and(f64::is_finite))
        .collect();
    idx.sort_by(|&a, &b| rank_cmp(metrics[a], metrics[b], mode));
    idx
}

/// Index of the best finite metric (the earliest among equals); `None` when no metric
/// is finite.
pub fn best_index(metrics: &[Option<f64>], mode: Mode) -> Option<usize> {
    ranked(metrics, mode).first().copied()
}

/// A role a file or checkpoint plays in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The checkpoint the `best` alias resolves to.
    Best,
    /// The checkpoint the `last` alias (the resume point) resolves to.
    Last,
    /// A mid-epoch recovery save (timm `recovery-<epoch>-<batch>`).
    Recovery,
    /// A timm milestone: kept outside the ranking, never pruned unless named.
    Milestone,
}

/// Why a checkpoint is kept by a prune plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    Best,
    Last,
    Pinned,
    /// Rank (1-based) within keep_top_k.
    TopK(usize),
    /// Among the newest keep_last.
    Newest,
    /// Epoch is a multiple of keep_every.
    EveryNth,
    /// timm milestone: never pruned unless named.
    Milestone,
    /// Not a checkpoint the policy decides on (e.g. damaged, writing).
    NotManaged,
    /// The trainer's own recorded best (hf `best_model_checkpoint`, timm saver
    /// `best_epoch`, Lightning `best_model_path`), even when ckpt's `best` is another.
    TrainerBest,
    /// Its metadata could not be read, so its metric is unknown: a metric rule
    /// (keep-top) never ranks it worse or prunes it.
    MetricUnknown,
}

/// One checkpoint as the retention planner sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RetentionItem {
    /// `Checkpoint::name`.
    pub name: String,
    pub epoch: Option<u64>,
    pub step: Option<u64>,
    pub metric: Option<f64>,
    pub pinned: bool,
    pub roles: Vec<Role>,
    /// False for checkpoints the policy must not decide on (damaged, being written).
    pub managed: bool,
    /// The trainer's own recorded best: always kept.
    pub trainer_best: bool,
    /// Its metadata could not be read: its metric is unknown, not bad.
    pub metric_unknown: bool,
}

/// What retention keeps (with every reason that applies) and what it would remove.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RetentionOutcome {
    pub kept: Vec<(String, Vec<KeepReason>)>,
    /// Names of the checkpoints no rule keeps, in the input order.
    pub victims: Vec<String>,
}

/// Decide keep reasons vs victims under `policy` (pure). Best, last and pinned are
/// always kept, milestones too; unmanaged items are kept as `NotManaged`. With an empty
/// policy nothing is a victim. Recovery saves are not ranked and count as newest only
/// when nothing regular is newer.
pub(crate) fn plan_retention(
    items: &[RetentionItem],
    policy: &RetentionPolicy,
    mode: Mode,
) -> RetentionOutcome {
    let order_key = |it: &RetentionItem| (it.epoch.unwrap_or(0), it.step.unwrap_or(0));
    let regular = |it: &RetentionItem| {
        it.managed && !it.roles.contains(&Role::Recovery) && !it.roles.contains(&Role::Milestone)
    };
    let mut reasons: Vec<Vec<KeepReason>> = vec![Vec::new(); items.len()];

    // top-k among regular checkpoints with a finite metric, in chronological order.
    if let Some(k) = policy.keep_top_k {
        let mut chrono: Vec<usize> = (0..items.len()).filter(|&i| regular(&items[i])).collect();
        chrono.sort_by_key(|&i| order_key(&items[i]));
        let metrics: Vec<Option<f64>> = chrono.iter().map(|&i| items[i].metric).collect();
        for (rank, pos) in ranked(&metrics, mode).into_iter().take(k).enumerate() {
            reasons[chrono[pos]].push(KeepReason::TopK(rank + 1));
        }
    }
    if let Some(n) = policy.keep_last {
        let mut newest: Vec<usize> = (0..items.len()).filter(|&i| regular(&items[i])).collect();
        newest.sort_by_key(|&i| std::cmp::Reverse(order_key(&items[i])));
        for &i in newest.iter().take(n) {
            reasons[i].push(KeepReason::Newest);
        }
    }
    if let Some(n) = policy.keep_every.filter(|&n| n > 0) {
        for (i, it) in items.iter().enumerate() {
            if regular(it) && it.epoch.is_some_and(|e| e % n == 0) {
                reasons[i].push(KeepReason::EveryNth);
            }
        }
    }
    let newest_regular = items.iter().filter(|it| regular(it)).map(order_key).max();
    let mut out = RetentionOutcome::default();
    for (i, it) in items.iter().enumerate() {
        let mut r = Vec::new();
        if it.roles.contains(&Role::Best) {
            r.push(KeepReason::Best);
        }
        if it.roles.contains(&Role::Last) {
            r.push(KeepReason::Last);
        }
        if it.pinned {
            r.push(KeepReason::Pinned);
        }
        if it.roles.contains(&Role::Milestone) {
            r.push(KeepReason::Milestone);
        }
        if it.trainer_best && !it.roles.contains(&Role::Best) {
            r.push(KeepReason::TrainerBest);
        }
        if it.metric_unknown && policy.keep_top_k.is_some() {
            r.push(KeepReason::MetricUnknown);
        }
        if !it.managed {
            r.push(KeepReason::NotManaged);
        }
        if it.managed
            && it.roles.contains(&Role::Recovery)
            && newest_regular.is_none_or(|n| order_key(it) > n)
        {
            r.push(KeepReason::Newest);
        }
        r.append(&mut reasons[i]);
        if r.is_empty() && policy.is_empty() {
            out.kept.push((it.name.clone(), r));
        } else if r.is_empty() {
            out.victims.push(it.name.clone());
        } else {
            out.kept.push((it.name.clone(), r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    fn item(epoch: u64, metric: Option<f64>) -> RetentionItem {
        RetentionItem {
            name: format!("c{epoch}"),
            epoch: Some(epoch),
            metric,
            managed: true,
            ..Default::default()
        }
    }

    #[test]
    fn nan_never_best_ties_keep_earlier() {
        let m = [
            Some(f64::NAN),
            Some(1.0),
            Some(3.0),
            Some(3.0),
            Some(f64::INFINITY),
        ];
        assert_eq!(best_index(&m, Mode::Max), Some(2));
        assert_eq!(ranked(&m, Mode::Max), vec![2, 3, 1]);
        assert_eq!(best_index(&m, Mode::Min), Some(1));
        assert_eq!(best_index(&[Some(f64::NAN), None], Mode::Max), None);
    }

    #[test]
    fn retention_rules() {
        let mut items: Vec<RetentionItem> = [10.0, 30.0, 20.0, 50.0, 40.0, 62.5, 25.0, 35.0]
            .iter()
            .enumerate()
            .map(|(e, m)| item(e as u64, Some(*m)))
            .collect();
        items[5].roles.push(Role::Best);
        items[7].roles.push(Role::Last);
        items[0].pinned = true;
        let p = RetentionPolicy {
            keep_top_k: Some(3),
            keep_last: Some(1),
            keep_every: Some(4),
        };
        let out = plan_retention(&items, &p, Mode::Max);
        assert_eq!(out.victims, vec!["c1", "c2", "c6"]);
        let reasons = |n: &str| out.kept.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(reasons("c5"), vec![KeepReason::Best, KeepReason::TopK(1)]);
        assert_eq!(
            reasons("c0"),
            vec![KeepReason::Pinned, KeepReason::EveryNth]
        );
        assert_eq!(reasons("c7"), vec![KeepReason::Last, KeepReason::Newest]);
        assert_eq!(
            reasons("c4"),
            vec![KeepReason::TopK(3), KeepReason::EveryNth]
        );
        // empty policy keeps everything
        let out = plan_retention(&items, &RetentionPolicy::default(), Mode::Max);
        assert!(out.victims.is_empty());
    }

    #[test]
    fn milestones_and_unmanaged_are_kept() {
        let mut items = vec![item(1, Some(1.0)), item(2, Some(2.0)), item(3, None)];
        items[0].roles.push(Role::Milestone);
        items[2].managed = false;
        let p = RetentionPolicy {
            keep_last: Some(0),
            ..Default::default()
        };
        let out = plan_retention(&items, &p, Mode::Max);
        assert_eq!(out.victims, vec!["c2"]);
    }
}
