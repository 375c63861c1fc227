//! Property test: random sequences of save / promote / release / restore / prune /
//! pin / unpin with random metrics (NaN and ±inf included) against a real run in a
//! temp dir, checked after every step against a tiny reference model of DESIGN §1/§3:
//! ranking by finite metrics only, ties keep the earlier checkpoint, a held best stays,
//! pinned is never pruned, best and last are always kept, top-k / newest-n retention.

use crate::util;

use std::collections::{BTreeMap, BTreeSet};

use ckpt::engine::{EngineOptions, RestoreOptions, Run, SaveRequest, SaveSource};
use ckpt::rank::{MetricSpec, Mode, RetentionPolicy};
use ckpt::snapshot::Role;
use proptest::prelude::*;

/// One step of a sequence. Indices pick among the checkpoints present (modulo).
#[derive(Debug, Clone)]
enum Op {
    /// Save the next epoch (`gap` after the previous one) with this metric.
    Save {
        gap: u64,
        metric: f64,
    },
    /// Save again an epoch that exists (`pick` among them), replacing it.
    Resave {
        pick: u64,
        metric: f64,
    },
    Promote(usize),
    Release,
    Restore(usize),
    Prune,
    Pin(usize),
    Unpin(usize),
}

fn metric_strategy() -> impl Strategy<Value = f64> {
    // A coarse grid so ties happen, plus the values that must never become best.
    prop_oneof![
        6 => (0u8..6).prop_map(f64::from),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (1u64..3, metric_strategy()).prop_map(|(gap, metric)| Op::Save { gap, metric }),
        2 => (any::<u64>(), metric_strategy())
            .prop_map(|(pick, metric)| Op::Resave { pick, metric }),
        1 => any::<usize>().prop_map(Op::Promote),
        1 => Just(Op::Release),
        1 => any::<usize>().prop_map(Op::Restore),
        1 => Just(Op::Prune),
        1 => any::<usize>().prop_map(Op::Pin),
        1 => any::<usize>().prop_map(Op::Unpin),
    ]
}

#[derive(Debug, Clone)]
struct ModelEntry {
    metric: f64,
    pinned: bool,
}

/// The reference model: what the run must look like after each step.
#[derive(Debug, Default)]
struct Model {
    entries: BTreeMap<u64, ModelEntry>,
    best: Option<u64>,
    held: bool,
    last: Option<u64>,
    next_epoch: u64,
}

impl Model {
    fn retain(&mut self, policy: &RetentionPolicy, max: bool) {
        let items: Vec<(u64, u64, Option<f64>)> = self
            .entries
            .iter()
            .map(|(&e, m)| (e, e, Some(m.metric)))
            .collect();
        let ranked = util::stress::reference_ranking(&items, max);
        let mut keep: BTreeSet<u64> = ranked
            .iter()
            .take(policy.keep_top_k.unwrap_or(0))
            .copied()
            .collect();
        keep.extend(
            self.entries
                .keys()
                .rev()
                .take(policy.keep_last.unwrap_or(0))
                .copied(),
        );
        if let Some(n) = policy.keep_every {
            keep.extend(self.entries.keys().filter(|&&e| e % n == 0).copied());
        }
        keep.extend(
            self.entries
                .iter()
                .filter(|(_, m)| m.pinned)
                .map(|(&e, _)| e),
        );
        keep.extend(self.best);
        keep.extend(self.last);
        self.entries.retain(|e, _| keep.contains(e));
    }

    /// Unless held, best is the top of the ranking over what is present (ties: the
    /// earlier one). Best is always kept, so this only differs from "the new one when
    /// strictly better" after a held best was released.
    fn recompute_best(&mut self, max: bool) {
        let items: Vec<(u64, u64, Option<f64>)> = self
            .entries
            .iter()
            .map(|(&e, m)| (e, e, Some(m.metric)))
            .collect();
        self.best = util::stress::reference_ranking(&items, max)
            .first()
            .copied();
    }

    fn nth(&self, i: usize) -> Option<u64> {
        let n = self.entries.len();
        (n > 0).then(|| *self.entries.keys().nth(i % n).unwrap())
    }

    fn nth_finite(&self, i: usize) -> Option<u64> {
        let finite: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, m)| m.metric.is_finite())
            .map(|(&e, _)| e)
            .collect();
        (!finite.is_empty()).then(|| finite[i % finite.len()])
    }
}

fn check(run: &Run, model: &Model, step: usize, op: &Op) -> Result<(), TestCaseError> {
    let ctx = format!("after step {step} ({op:?})");
    let check = util::stress::assert_run_consistent(&run.dir);
    prop_assert!(check.temps.is_empty(), "{ctx}: temps {:?}", check.temps);
    let snap = run
        .snapshot()
        .map_err(|e| TestCaseError::fail(format!("{ctx}: {e}")))?;
    let kept: BTreeSet<u64> = snap.checkpoints.iter().filter_map(|c| c.epoch).collect();
    let want: BTreeSet<u64> = model.entries.keys().copied().collect();
    prop_assert_eq!(&kept, &want, "{}: kept set", ctx);
    prop_assert_eq!(
        snap.best.as_ref().and_then(|a| a.epoch),
        model.best,
        "{}: best",
        ctx
    );
    prop_assert_eq!(
        snap.best.as_ref().is_some_and(|a| a.held),
        model.held && model.best.is_some(),
        "{}: best held",
        ctx
    );
    prop_assert_eq!(
        snap.last.as_ref().and_then(|a| a.epoch),
        model.last,
        "{}: last",
        ctx
    );
    prop_assert_eq!(
        snap.with_role(Role::Best).and_then(|c| c.epoch),
        model.best,
        "{}: best role",
        ctx
    );
    prop_assert_eq!(
        snap.with_role(Role::Last).and_then(|c| c.epoch),
        model.last,
        "{}: last role",
        ctx
    );
    for c in &snap.checkpoints {
        let e = c.epoch.unwrap();
        let m = &model.entries[&e];
        prop_assert_eq!(c.pinned, m.pinned, "{}: pinned flag of epoch {}", ctx, e);
        prop_assert!(
            util::stress::same_metric(c.metric, Some(m.metric)),
            "{}: metric of epoch {}: {:?} vs {}",
            ctx,
            e,
            c.metric,
            m.metric
        );
    }
    // The manifest agrees with the snapshot.
    let man = check.manifest;
    prop_assert_eq!(man.last, model.last, "{}: manifest last", ctx);
    prop_assert_eq!(
        man.best.as_ref().map(|b| b.epoch),
        model.best,
        "{}: manifest best",
        ctx
    );
    Ok(())
}

/// Run `ops` against a fresh run and the model. `nan_held_resave`: let a resave give
/// the held best a NaN/inf metric (skipped otherwise; pinned down by its own test).
fn run_sequence(
    max: bool,
    policy: RetentionPolicy,
    ops: &[Op],
    nan_held_resave: bool,
) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::open_or_create(&tmp.path().join("run"), EngineOptions::default()).unwrap();
    let spec = MetricSpec {
        name: if max { "eval_top1" } else { "eval_loss" }.into(),
        mode: if max { Mode::Max } else { Mode::Min },
    };
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let fail = |e: ckpt::Error| TestCaseError::fail(format!("step {step} ({op:?}): {e}"));
        match *op {
            Op::Save { gap, metric } | Op::Resave { pick: gap, metric } => {
                // Resave: a resumed trainer writing an epoch that exists (replace).
                let resave = matches!(op, Op::Resave { .. });
                let epoch = if resave {
                    let Some(e) = model.nth(gap as usize) else {
                        continue;
                    };
                    // A held best given a NaN/inf metric is pinned down on its own in
                    // `resave_of_a_held_best_is_refused_and_best_stays_finite`.
                    if !nan_held_resave
                        && model.held
                        && model.best == Some(e)
                        && !metric.is_finite()
                    {
                        continue;
                    }
                    e
                } else {
                    model.next_epoch += gap;
                    model.next_epoch - gap
                };
                let data = format!("epoch {epoch} metric {metric} step {step}").into_bytes();
                let req = SaveRequest {
                    epoch,
                    metric: Some(metric),
                    metric_spec: Some(spec.clone()),
                    policy: Some(policy),
                    ..Default::default()
                };
                let mut w = |out: &mut dyn std::io::Write| out.write_all(&data);
                // Saving over a pinned epoch or the held best is refused; nothing changes.
                let protected = resave
                    && (model.entries.get(&epoch).is_some_and(|m| m.pinned)
                        || (model.held && model.best == Some(epoch)));
                if protected {
                    let refused = run.save(&req, SaveSource::Writer(&mut w), None);
                    prop_assert!(
                        refused.is_err(),
                        "step {} resave of a protected epoch",
                        step
                    );
                    // Refused before anything was written: the run is as it was.
                    check(&run, &model, step, op)?;
                    continue;
                }
                let report = run
                    .save(&req, SaveSource::Writer(&mut w), None)
                    .map_err(fail)?;
                let best_before = model.best;
                let pinned = model.entries.get(&epoch).is_some_and(|m| m.pinned);
                model.entries.insert(epoch, ModelEntry { metric, pinned });
                model.last = Some(epoch);
                if !model.held {
                    model.recompute_best(max);
                }
                prop_assert_eq!(
                    report.became_best,
                    model.best == Some(epoch) && (best_before != model.best || resave),
                    "step {} report.became_best",
                    step
                );
                prop_assert_eq!(report.replaced, resave, "step {} report.replaced", step);
                model.retain(&policy, max);
            }
            Op::Promote(i) => {
                let Some(e) = model.nth_finite(i) else {
                    continue;
                };
                let rep = run.promote(&e.to_string()).map_err(fail)?;
                prop_assert_eq!(rep.epoch, Some(e));
                prop_assert_eq!(
                    rep.previous.is_some(),
                    model.best.is_some(),
                    "step {} promote.previous",
                    step
                );
                model.best = Some(e);
                model.held = true;
                model.entries.get_mut(&e).unwrap().pinned = true;
            }
            Op::Release => {
                if !model.held {
                    continue;
                }
                run.release_best().map_err(fail)?;
                model.held = false;
                // Best stays until the next save moves it, unless a resave gave the held
                // checkpoint a NaN/inf metric: an unheld best is never non-finite.
                let finite = model
                    .best
                    .is_some_and(|b| model.entries[&b].metric.is_finite());
                if !finite {
                    model.recompute_best(max);
                }
            }
            Op::Restore(i) => {
                let Some(e) = model.nth(i) else { continue };
                let plan = run
                    .plan_restore(&e.to_string(), &RestoreOptions::default())
                    .map_err(fail)?;
                let newer: BTreeSet<u64> =
                    model.entries.keys().filter(|&&k| k > e).copied().collect();
                prop_assert_eq!(plan.epoch, Some(e));
                prop_assert_eq!(
                    plan.newer.len() + plan.kept_newer.len(),
                    newer.len(),
                    "step {} restore.newer",
                    step
                );
                run.restore(&plan, None).map_err(fail)?;
                model.last = Some(e);
            }
            Op::Prune => {
                let plan = run.plan_prune(Some(policy), &[]).map_err(fail)?;
                let report = run.prune(&plan).map_err(fail)?;
                prop_assert!(
                    report.refused.is_empty(),
                    "step {}: refused {:?}",
                    step,
                    report.refused
                );
                let before: BTreeSet<u64> = model.entries.keys().copied().collect();
                model.retain(&policy, max);
                prop_assert_eq!(
                    report.removed.len(),
                    before.len() - model.entries.len(),
                    "step {} prune removed {:?}",
                    step,
                    report.removed
                );
            }
            Op::Pin(i) | Op::Unpin(i) => {
                let Some(e) = model.nth(i) else { continue };
                let pin = matches!(op, Op::Pin(_));
                run.set_pinned(&e.to_string(), pin).map_err(fail)?;
                model.entries.get_mut(&e).unwrap().pinned = pin;
            }
        }
        check(&run, &model, step, op)?;
    }
    Ok(())
}

fn policy_strategy() -> impl Strategy<Value = RetentionPolicy> {
    (
        1usize..4,
        0usize..3,
        prop_oneof![3 => Just(None), 1 => Just(Some(4u64))],
    )
        .prop_map(|(k, n, every)| RetentionPolicy {
            keep_top_k: Some(k),
            keep_last: (n > 0).then_some(n),
            keep_every: every,
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("CKPT_PROP_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64),
        max_shrink_iters: 256,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_reference_model(
        max in any::<bool>(),
        policy in policy_strategy(),
        ops in proptest::collection::vec(op_strategy(), 1..24),
    ) {
        run_sequence(max, policy, &ops, false)?;
    }
}

/// timm's NaN case, pinned down as a plain example: first metric NaN, then finite ones.
#[test]
fn nan_first_then_finite_best_is_best_finite() {
    let ops = [
        Op::Save {
            gap: 1,
            metric: f64::NAN,
        },
        Op::Save {
            gap: 1,
            metric: 2.0,
        },
        Op::Save {
            gap: 1,
            metric: 5.0,
        },
        Op::Save {
            gap: 1,
            metric: f64::INFINITY,
        },
        Op::Save {
            gap: 1,
            metric: 5.0,
        },
        Op::Save {
            gap: 1,
            metric: 1.0,
        },
    ];
    let policy = RetentionPolicy {
        keep_top_k: Some(2),
        keep_last: Some(1),
        keep_every: None,
    };
    run_sequence(true, policy, &ops, false).unwrap();
}

/// A held best re-saved with a NaN metric: the resave is refused (the held best is
/// protected), so once released best is still a finite checkpoint (DESIGN §1).
#[test]
fn resave_of_a_held_best_is_refused_and_best_stays_finite() {
    let ops = [
        Op::Save {
            gap: 1,
            metric: 1.0,
        },
        Op::Save {
            gap: 1,
            metric: 3.0,
        },
        Op::Promote(0),
        Op::Resave {
            pick: 0,
            metric: f64::NAN,
        },
        Op::Release,
    ];
    let policy = RetentionPolicy {
        keep_top_k: Some(2),
        keep_last: None,
        keep_every: None,
    };
    run_sequence(true, policy, &ops, true).unwrap();
}
