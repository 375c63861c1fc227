//! `ckpt restore`: make a checkpoint the resume point, or export a copy with `--to`.

use std::io::Write;

use anyhow::Result;

use super::args::{run_and_item, RestoreArgs};
use super::confirm::{confirm, Answer};
use super::output::{human_bytes, Bar};
use super::view::rel;
use super::Ctx;
use ckpt::engine::{RestoreOptions, RestorePlan};

/// The plan in words: exactly what will be written, backed up and moved.
pub fn describe(plan: &RestorePlan, out: &mut dyn Write) -> std::io::Result<()> {
    let what = plan.epoch.map_or_else(
        || plan.target.clone(),
        |e| format!("epoch {e} ({})", plan.target),
    );
    writeln!(out, "restore {what}")?;
    writeln!(
        out,
        "  write   {} ({} to copy)",
        plan.dest.display(),
        human_bytes(plan.bytes_to_copy)
    )?;
    if let Some(b) = &plan.backup {
        writeln!(
            out,
            "  backup  the current last (the only copy of its state) -> {}",
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
    Ok(())
}

pub fn run(args: &RestoreArgs, ctx: &Ctx) -> Result<()> {
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
    let mut out = std::io::stdout().lock();
    if args.dry_run {
        describe(&plan, &mut out)?;
        writeln!(out, "dry run: nothing changed")?;
        return Ok(());
    }
    // An export to a fresh path changes nothing in the run: no question needed.
    let destructive = args.to.is_none() || args.force;
    if destructive && !args.yes {
        describe(&plan, &mut std::io::stderr().lock())?;
        if confirm("Restore?", args.yes, "restore")? == Answer::No {
            writeln!(out, "nothing changed")?;
            return Ok(());
        }
    }
    let bar = Bar::new();
    let mut progress = |p: &ckpt::engine::Progress| bar.update(p);
    run.restore(&plan, Some(&mut progress))?;
    bar.finish();
    match &args.to {
        Some(to) => writeln!(out, "exported {} -> {}", c.name, to.display())?,
        None => {
            writeln!(out, "resume point := {} ({})", c.name, plan.dest.display())?;
            if let (Some(dir), false) = (&plan.archive_dir, plan.newer.is_empty()) {
                writeln!(
                    out,
                    "archived {} -> {}",
                    plan.newer.join(", "),
                    dir.display()
                )?;
            }
        }
    }
    Ok(())
}
