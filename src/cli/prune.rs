//! `ckpt prune`: plan -> show exact files and bytes -> confirm -> apply with re-checks.

use std::io::Write;

use anyhow::Result;

use super::args::PruneArgs;
use super::confirm::{confirm, Answer};
use super::output::{human_bytes, Paint};
use super::save::policy;
use super::view::{self, keep_reason_str, rel};
use super::Ctx;
use ckpt::engine::{PrunePlan, PruneReport};

/// The plan in words: every file that goes, its bytes, and why the rest stays.
pub fn describe(plan: &PrunePlan, out: &mut dyn Write, paint: Paint) -> std::io::Result<()> {
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
        writeln!(
            out,
            "  {} {name}  ({})",
            paint.green("keep  "),
            why.join(", ")
        )?;
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

pub fn run(args: &PruneArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let plan = run.plan_prune(policy(&args.policy), &[])?;
    let mut out = std::io::stdout().lock();
    let json = |result: Option<&PruneReport>, out: &mut dyn Write| {
        view::print_json(
            out,
            &view::PruneView {
                version: view::JSON_VERSION,
                run: view::run_str(&plan.run),
                dry_run: args.dry_run,
                plan: view::prune_plan_view(&plan),
                result: result.map(view::prune_result_view),
            },
        )
    };
    let paint = Paint::stdout();
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
        describe(&plan, &mut out, paint)?;
        if args.dry_run {
            writeln!(out, "dry run: nothing deleted")?;
        }
        return Ok(());
    }
    if !args.yes {
        describe(&plan, &mut std::io::stderr().lock(), Paint::stderr())?;
        if confirm("Delete these files?", args.yes, "prune")? == Answer::No {
            if args.json {
                return json(None, &mut out);
            }
            writeln!(out, "nothing deleted")?;
            return Ok(());
        }
    } else if !args.json {
        describe(&plan, &mut out, paint)?;
    }
    let report = run.prune(&plan)?;
    if args.json {
        return json(Some(&report), &mut out);
    }
    summary(&report, &mut out)?;
    Ok(())
}
