//! `ckpt promote`: best := a checkpoint, held (and pinned); `--release` lets saves move it.

use std::io::Write;

use anyhow::Result;

use super::args::{run_and_item, PromoteArgs};
use super::confirm::{confirm, Answer};
use super::view::rel;
use super::{Ctx, UsageError};

pub(crate) fn run(args: &PromoteArgs, ctx: &Ctx) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if args.release {
        if args.targets.len() > 1 {
            return Err(UsageError("promote --release takes only RUN".into()).into());
        }
        let dir = args
            .targets
            .first()
            .map_or_else(|| ".".into(), std::path::PathBuf::from);
        let run = super::open(&dir, ctx)?;
        if run.release_best_held()? {
            writeln!(
                out,
                "released best of {}: later saves may move it",
                dir.display()
            )?;
        } else {
            writeln!(out, "nothing to release: best is not held")?;
        }
        return Ok(());
    }
    let (dir, item) = run_and_item(&args.targets);
    if item.is_none() {
        return Err(UsageError(
            "promote needs a CHECKPOINT (epoch or file name), or --release".into(),
        )
        .into());
    }
    let run = super::open(&dir, ctx)?;
    let snap = run.snapshot()?;
    let c = super::resolve(&snap, item.as_deref())?;
    // Refuses a damaged checkpoint before any plan, dry run or not.
    let pplan = run.plan_promote(&c.name)?;
    let current = pplan.previous.clone();
    let replaces = snap.best.is_some() && current.as_deref() != Some(c.name.as_str());
    // hf keeps best as a record (trainer_state + .ckpt/), other layouts write a file.
    let target = match &pplan.alias {
        None => "best is recorded in .ckpt/state.json".to_string(),
        Some(p) => {
            let verb = if pplan.alias_exists {
                "rewritten"
            } else {
                "created"
            };
            let kept = match &pplan.backup {
                Some(b) => format!(
                    " ({} is the only copy of its checkpoint: it is kept in {} first)",
                    rel(&snap.run, p),
                    rel(&snap.run, b)
                ),
                None => String::new(),
            };
            format!("{} is {verb} to hold it{kept}", rel(&snap.run, p))
        }
    };
    if let Some(m) = odd_metric(c) {
        eprintln!(
            "warning: the metric of {} is {m}; it will stay best until released (`ckpt promote {} --release`)",
            c.name,
            dir.display()
        );
    }
    let plan = format!(
        "promote {} to best: {target} (was {}); it is pinned, and best stays held until `ckpt promote {} --release`",
        c.name,
        current.as_deref().unwrap_or("none"),
        dir.display()
    );
    if args.dry_run {
        writeln!(out, "{plan}")?;
        return Ok(());
    }
    if replaces {
        eprintln!("{plan}");
        if confirm("Replace the current best?", args.yes, "promote")? == Answer::No {
            writeln!(out, "nothing changed")?;
            return Ok(());
        }
    }
    let report = run.promote(&c.name)?;
    let alias = report.alias.as_ref().map_or_else(
        || "the run's record".to_string(),
        |p| p.display().to_string(),
    );
    writeln!(
        out,
        "best := {} ({alias}); held and pinned{}{}",
        report.target,
        report
            .previous
            .as_ref()
            .map_or(String::new(), |p| format!("; was {p}")),
        report.backup.as_ref().map_or(String::new(), |b| format!(
            "; the old best file was the only copy of its checkpoint and is kept in {}",
            rel(&snap.run, b)
        ))
    )?;
    Ok(())
}

/// "nan"/"inf" when the checkpoint's metric is not a finite number.
fn odd_metric(c: &ckpt::snapshot::Checkpoint) -> Option<String> {
    if let Some(m) = c.metric.filter(|m| !m.is_finite()) {
        return Some(m.to_string().to_lowercase());
    }
    c.metric_raw
        .as_deref()
        .map(str::trim)
        .filter(|r| r.parse::<f64>().is_ok_and(|v| !v.is_finite()))
        .map(str::to_lowercase)
}
