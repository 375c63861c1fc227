//! `ckpt restore`: make a checkpoint the resume point, or export a copy with `--to`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Result;

use super::args::{run_and_item, RestoreArgs};
use super::confirm::{confirm, Answer};
use super::output::{human_bytes, Bar};
use super::view::rel;
use super::{Ctx, UsageError};
use ckpt::engine::{RestoreOptions, RestorePlan};

/// How the plan names its target: "epoch 5 (checkpoint-5.pth.tar)", "step 20 (checkpoint-20)".
fn what(plan: &RestorePlan) -> String {
    match (plan.epoch, plan.step) {
        (Some(e), _) => format!("epoch {e} ({})", plan.target),
        (None, Some(s)) => format!("step {s} ({})", plan.target),
        (None, None) => plan.target.clone(),
    }
}

/// "epoch 7" / "step 40" for the old `last`, in the plan's own unit.
fn unit(plan: &RestorePlan, n: u64) -> String {
    if plan.epoch.is_none() && plan.step.is_some() {
        format!("step {n}")
    } else {
        format!("epoch {n}")
    }
}

/// The plan in words: exactly what will be written, backed up and moved.
pub(crate) fn describe(
    plan: &RestorePlan,
    refused: &[String],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if plan.export {
        writeln!(out, "export {}", what(plan))?;
        let verb = if plan.dest.symlink_metadata().is_ok() {
            "overwrite"
        } else {
            "write  "
        };
        writeln!(
            out,
            "  {verb} {} ({} to copy); the run is not changed",
            plan.dest.display(),
            human_bytes(plan.bytes_to_copy)
        )?;
        return Ok(());
    }
    writeln!(out, "restore {}", what(plan))?;
    if plan.dest == plan.run.join(&plan.target) {
        if plan.step.is_some() && plan.epoch.is_none() {
            writeln!(
                out,
                "  resume  a resumed trainer picks the highest step; newer step directories are archived so it picks {}",
                unit(plan, plan.step.unwrap_or(0))
            )?;
        } else {
            writeln!(
                out,
                "  keep    {} already holds it",
                rel(&plan.run, &plan.dest)
            )?;
        }
    } else {
        writeln!(
            out,
            "  rewrite {} := {} (the resume point)",
            rel(&plan.run, &plan.dest),
            plan.target
        )?;
    }
    if let Some(b) = &plan.backup {
        let old = plan
            .backup_epoch
            .map_or_else(String::new, |n| format!(" ({})", unit(plan, n)));
        writeln!(
            out,
            "  backup  the current last{old}, the only copy of its state -> {}",
            rel(&plan.run, b)
        )?;
    }
    if !plan.newer.is_empty() {
        match &plan.archive_dir {
            Some(dir) => writeln!(
                out,
                "  archive {} newer checkpoint(s) -> {}: {}",
                plan.newer.len(),
                rel(&plan.run, dir),
                plan.newer.join(", ")
            )?,
            None => writeln!(
                out,
                "  note    {} newer checkpoint(s) stay and a resumed trainer will overwrite them: {} (--archive-newer moves them to .ckpt/trash/)",
                plan.newer.len(),
                plan.newer.join(", ")
            )?,
        }
    }
    if !plan.kept_newer.is_empty() {
        writeln!(out, "  kept    {}", kept(plan))?;
    }
    for w in refused {
        writeln!(out, "  warning {w}")?;
    }
    Ok(())
}

/// One line per kept newer epoch the resumed trainer will reach: its `ckpt save` will be
/// refused, which crashes a training loop that checks the exit code, so say it up front.
pub(crate) fn refused_saves(refused: &[(u64, String)], run_arg: &Path) -> Vec<String> {
    let run = quote_arg(run_arg);
    refused
        .iter()
        .map(|(epoch, why)| {
            let mut steps = Vec::new();
            if why.contains("pinned") {
                steps.push(format!("`ckpt unpin {run} {epoch}`"));
            }
            if why.contains("held") {
                steps.push(format!("`ckpt promote {run} --release`"));
            }
            format!(
                "the resumed trainer will reach epoch {epoch}, which is {why}: its save will be refused until {}",
                steps.join(" and ")
            )
        })
        .collect()
}

/// The run as the user typed it, quoted for a shell when it needs it.
fn quote_arg(p: &Path) -> String {
    let s = p.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@,%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// "pinned/held best stay in place: checkpoint-4.pth.tar (pinned, held best)".
fn kept(plan: &RestorePlan) -> String {
    let list: Vec<String> = plan
        .kept_newer
        .iter()
        .map(|(n, why)| format!("{n} ({why})"))
        .collect();
    format!(
        "pinned/held best newer checkpoint(s) stay in place: {}",
        list.join(", ")
    )
}

pub(crate) fn run(args: &RestoreArgs, ctx: &Ctx) -> Result<()> {
    let (dir, item) = run_and_item(&args.targets);
    let run = super::open(&dir, ctx)?;
    let snap = run.snapshot()?;
    let c = super::resolve(&snap, item.as_deref())?;
    let opts = RestoreOptions {
        archive_newer: args.archive_newer,
        to: args.to.clone(),
        force: args.force,
    };
    let plan = run.plan_restore(&c.name, &opts)?;
    let refused = refused_saves(&run.restore_refused_saves(&plan)?, &dir);
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        describe(&plan, &refused, &mut out)?;
        writeln!(out, "dry run: nothing changed")?;
        return Ok(());
    }
    if plan.export {
        // An export never changes the run; only overwriting an existing file asks.
        let overwrites = plan.dest.symlink_metadata().is_ok();
        if overwrites && !args.yes {
            describe(&plan, &refused, &mut std::io::stderr().lock())?;
            if !std::io::stdin().is_terminal() {
                return Err(UsageError(format!(
                    "export overwrites {} and stdin is not a terminal to confirm it; \
                     pass --yes to overwrite it (or pick another path)",
                    plan.dest.display()
                ))
                .into());
            }
            if confirm(
                &format!("Overwrite {}?", plan.dest.display()),
                false,
                "export",
            )? == Answer::No
            {
                writeln!(out, "nothing changed")?;
                return Ok(());
            }
        }
    } else if !args.yes {
        describe(&plan, &refused, &mut std::io::stderr().lock())?;
        if confirm("Restore?", args.yes, "restore")? == Answer::No {
            writeln!(out, "nothing changed")?;
            return Ok(());
        }
    }
    let bar = Bar::new();
    let mut progress = |p: &ckpt::engine::Progress| bar.update(p);
    run.restore(&plan, Some(&mut progress))?;
    bar.finish();
    if plan.export {
        writeln!(out, "exported {} -> {}", c.name, plan.dest.display())?;
        return Ok(());
    }
    let unit_of = match (plan.epoch, plan.step) {
        (Some(e), _) => format!("epoch {e}"),
        (None, Some(s)) => format!("step {s}"),
        (None, None) => "its state".to_string(),
    };
    if plan.dest == plan.run.join(&plan.target) {
        writeln!(out, "resume point := {} ({unit_of})", plan.target)?;
    } else {
        writeln!(
            out,
            "resume point := {} ({unit_of}), now in {}",
            plan.target,
            plan.dest.display()
        )?;
    }
    if let Some(b) = &plan.backup {
        let old = plan
            .backup_epoch
            .map_or_else(String::new, |n| format!("{}, ", unit(&plan, n)));
        writeln!(
            out,
            "old last ({old}only copy) kept in {}",
            rel(&plan.run, b)
        )?;
    }
    if let (Some(dir), false) = (&plan.archive_dir, plan.newer.is_empty()) {
        writeln!(
            out,
            "archived {} newer checkpoint(s) -> {}: {}",
            plan.newer.len(),
            rel(&plan.run, dir),
            plan.newer.join(", ")
        )?;
    }
    if !plan.kept_newer.is_empty() {
        writeln!(out, "kept: {}", kept(&plan))?;
    }
    for w in &refused {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}
