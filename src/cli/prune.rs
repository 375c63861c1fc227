//! `ckpt prune`: plan -> show exact files and bytes -> confirm -> apply with re-checks.

use std::io::Write;

use anyhow::Result;

use super::args::{PolicyArgs, PruneArgs};
use super::confirm::{confirm, Answer};
use super::output::{human_bytes, Paint};
use super::view::{self, keep_reason_str, rel};
use super::Ctx;
use ckpt::engine::{PrunePlan, PruneReport, Run};
use ckpt::rank::RetentionPolicy;
use ckpt::snapshot::LayoutKind;

/// Printed instead of a plan when neither flags nor the run give any keep rule.
pub(crate) const NO_POLICY: &str =
    "no retention policy for this run: pass --keep-top/--keep-last/--keep-every";

/// The policy a prune applies: each flag given replaces that one rule of the run's
/// saved policy, the other rules stay. Returns it with its words for the plan
/// ("keep-top 3 (saved), keep-every 4 (flag)").
pub(crate) fn effective_policy(
    flags: &PolicyArgs,
    saved: &RetentionPolicy,
    saved_from: &'static str,
) -> (RetentionPolicy, String) {
    let pick = |flag: Option<u64>, saved: Option<u64>| match (flag, saved) {
        (Some(v), _) => Some((v, "flag")),
        (None, Some(v)) => Some((v, saved_from)),
        (None, None) => None,
    };
    let top = pick(
        flags.keep_top.map(|v| v as u64),
        saved.keep_top_k.map(|v| v as u64),
    );
    let last = pick(
        flags.keep_last.map(|v| v as u64),
        saved.keep_last.map(|v| v as u64),
    );
    let every = pick(flags.keep_every, saved.keep_every);
    let words: Vec<String> = [
        ("keep-top", top),
        ("keep-last", last),
        ("keep-every", every),
    ]
    .into_iter()
    .filter_map(|(name, rule)| rule.map(|(v, from)| format!("{name} {v} ({from})")))
    .collect();
    let policy = RetentionPolicy {
        keep_top_k: top.map(|(v, _)| v as usize),
        keep_last: last.map(|(v, _)| v as usize),
        keep_every: every.map(|(v, _)| v),
    };
    (policy, words.join(", "))
}

/// The run's saved policy and where it comes from: the manifest's for native runs;
/// for foreign runs the trainer's own setting (timm `checkpoint_hist`, HF
/// `save_total_limit`) when the layout records one.
fn saved_policy(run: &Run) -> Result<(RetentionPolicy, &'static str)> {
    Ok(match run.layout {
        LayoutKind::Ckpt => (ckpt::store::load_manifest(&run.dir)?.policy, "saved"),
        _ => (
            run.snapshot()?.default_policy.unwrap_or_default(),
            "trainer setting",
        ),
    })
}

/// The plan in words: the policy, every file that goes, its bytes, and why the rest stays.
pub(crate) fn describe(
    plan: &PrunePlan,
    policy_words: &str,
    out: &mut dyn Write,
    paint: Paint,
) -> std::io::Result<()> {
    if !policy_words.is_empty() {
        writeln!(out, "policy: {policy_words}")?;
    }
    if plan.victims.is_empty() {
        writeln!(
            out,
            "nothing to prune: every checkpoint is kept by the policy"
        )?;
    } else {
        writeln!(
            out,
            "prune {} checkpoint(s), freeing {}:",
            plan.victims.len(),
            human_bytes(plan.bytes_freed)
        )?;
        for v in &plan.victims {
            for f in &v.files {
                writeln!(
                    out,
                    "  {} {}  {}",
                    paint.red("delete"),
                    rel(&plan.run, &f.path),
                    human_bytes(f.bytes)
                )?;
            }
        }
    }
    for (name, reasons) in &plan.kept {
        let why: Vec<String> = reasons.iter().map(keep_reason_str).collect();
        let why = if why.is_empty() {
            "no keep rule deletes it".to_string()
        } else {
            why.join(", ")
        };
        writeln!(out, "  {} {name}  ({why})", paint.green("keep  "))?;
    }
    Ok(())
}

fn summary(r: &PruneReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "removed {} checkpoint(s), freed {}",
        r.removed.len(),
        human_bytes(r.bytes_freed)
    )?;
    for (name, why) in &r.refused {
        writeln!(out, "left alone {name}: {why}")?;
    }
    Ok(())
}

pub(crate) fn run(args: &PruneArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let (saved, saved_from) = saved_policy(&run)?;
    let (policy, words) = effective_policy(&args.policy, &saved, saved_from);
    let plan = run.plan_prune(Some(policy), &[])?;
    let mut out = std::io::stdout().lock();
    let json = |result: Option<&PruneReport>, out: &mut dyn Write| -> Result<()> {
        Ok(view::print_json(
            out,
            &view::prune_view(&plan, args.dry_run, result),
        )?)
    };
    let paint = Paint::stdout();
    if plan.policy.is_empty() && !args.json {
        writeln!(out, "{NO_POLICY}")?;
        return Ok(());
    }
    if args.dry_run || plan.victims.is_empty() {
        if args.json {
            return json(
                (!args.dry_run)
                    .then(|| PruneReport {
                        removed: vec![],
                        bytes_freed: 0,
                        refused: vec![],
                    })
                    .as_ref(),
                &mut out,
            );
        }
        describe(&plan, &words, &mut out, paint)?;
        if args.dry_run {
            writeln!(out, "dry run: nothing deleted")?;
        }
        return Ok(());
    }
    if !args.yes {
        describe(
            &plan,
            &words,
            &mut std::io::stderr().lock(),
            Paint::stderr(),
        )?;
        if confirm("Delete these files?", args.yes, "prune")? == Answer::No {
            if args.json {
                return json(None, &mut out);
            }
            writeln!(out, "nothing deleted")?;
            return Ok(());
        }
    } else if !args.json {
        describe(&plan, &words, &mut out, paint)?;
    }
    let report = run.prune(&plan)?;
    if args.json {
        return json(Some(&report), &mut out);
    }
    summary(&report, &mut out)?;
    Ok(())
}
