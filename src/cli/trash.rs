//! `ckpt trash`: list `.ckpt/trash/`, bring an entry back, or empty it (DESIGN §5).
//! Plan → show exact files and bytes → confirm → apply, like prune.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::args::{run_and_item, TrashAction, TrashArgs, TrashEmptyArgs, TrashRestoreArgs};
use super::confirm::{confirm, Answer};
use super::output::{human_bytes, Paint};
use super::view::{self, rel};
use super::{Ctx, UsageError};
use ckpt::engine::trash::{TrashEntry, TrashListing};

pub(crate) fn run(args: TrashArgs, ctx: &Ctx) -> Result<()> {
    match args.action {
        None => list(&args, ctx),
        Some(TrashAction::Restore(a)) => restore(&a, ctx),
        Some(TrashAction::Empty(a)) => empty(&a, ctx),
    }
}

/// A JSON document: the format version, then the engine's own listing/plan/report
/// fields (each names its `run`).
#[derive(Serialize)]
struct Doc<'a, T: Serialize> {
    version: u32,
    #[serde(flatten)]
    body: &'a T,
}

fn print<T: Serialize>(_run: &std::path::Path, body: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    view::print_json(
        &mut out,
        &Doc {
            version: view::JSON_VERSION,
            body,
        },
    )?;
    Ok(())
}

/// Age in words: "3d", "5h", "12m", "40s".
fn age(e: &TrashEntry, now: chrono::DateTime<chrono::Utc>) -> String {
    let s = e.age_secs(now);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn number(e: &TrashEntry) -> String {
    match (e.epoch, e.step) {
        (Some(ep), Some(st)) => format!("epoch {ep} step {st}"),
        (Some(ep), None) => format!("epoch {ep}"),
        (None, Some(st)) => format!("step {st}"),
        (None, None) => "?".into(),
    }
}

fn write_listing(out: &mut dyn Write, l: &TrashListing, paint: Paint) -> std::io::Result<()> {
    let now = chrono::Utc::now();
    if l.entries.is_empty() {
        writeln!(out, "trash of {} is empty", l.run.display())?;
    } else {
        writeln!(
            out,
            "{:<20} {:>9} {:>6}  {:<26} NAME",
            "WHAT", "SIZE", "AGE", "ORIGIN"
        )?;
        for e in &l.entries {
            writeln!(
                out,
                "{:<20} {:>9} {:>6}  {:<26} {}",
                number(e),
                human_bytes(e.bytes),
                age(e, now),
                e.origin.as_str(),
                e.name
            )?;
        }
        writeln!(
            out,
            "{} {} in {} entr{}; emptying frees {}",
            paint.bold("trash"),
            human_bytes(l.bytes),
            l.entries.len(),
            if l.entries.len() == 1 { "y" } else { "ies" },
            human_bytes(l.reclaimable)
        )?;
    }
    for m in &l.missing {
        writeln!(
            out,
            "note: {m} is recorded but gone (deleted by hand); `ckpt trash empty {}` drops the record",
            l.run.display()
        )?;
    }
    for w in &l.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

fn list(args: &TrashArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let l = run.trash()?;
    if args.json {
        return print(&l.run, &l);
    }
    write_listing(&mut std::io::stdout().lock(), &l, Paint::stdout())?;
    Ok(())
}

fn restore(args: &TrashRestoreArgs, ctx: &Ctx) -> Result<()> {
    super::require_item("trash restore", &args.targets, " RUN EPOCH")?;
    let (dir, item) = run_and_item(&args.targets);
    let Some(item) = item else {
        return Err(UsageError("missing EPOCH: ckpt trash restore RUN EPOCH".into()).into());
    };
    let run = super::open(&dir, ctx)?;
    let plan = run.plan_trash_restore(&item.to_string_lossy())?;
    let mut out = std::io::stdout().lock();
    if !args.json {
        writeln!(
            out,
            "restore {} ({}, {}) from the trash to {}",
            plan.entry.name,
            number(&plan.entry),
            human_bytes(plan.bytes),
            rel(&plan.run, &plan.dest)
        )?;
        if plan.becomes_best {
            writeln!(out, "  it ranks best: best moves to it")?;
        }
        if plan.becomes_resume_point {
            writeln!(
                out,
                "  it becomes the resume point (a resumed trainer starts from it)"
            )?;
        }
    }
    if args.dry_run {
        if args.json {
            return print(
                &plan.run,
                &serde_json::json!({ "dry_run": true, "plan": plan }),
            );
        }
        return Ok(());
    }
    if confirm("restore it?", args.yes, "trash restore")? == Answer::No {
        writeln!(out, "nothing changed")?;
        return Ok(());
    }
    let report = run.trash_restore(&plan, None)?;
    if args.json {
        return print(
            &plan.run,
            &serde_json::json!({ "dry_run": false, "plan": plan, "result": report }),
        );
    }
    writeln!(
        out,
        "restored {} ({}) as {}",
        plan.entry.name,
        human_bytes(report.bytes),
        rel(&plan.run, &report.path)
    )?;
    Ok(())
}

fn empty(args: &TrashEmptyArgs, ctx: &Ctx) -> Result<()> {
    let older = match args.older_than {
        None => None,
        Some(d) if d.is_finite() && (0.0..=1e6).contains(&d) => {
            Some(Duration::from_secs_f64(d * 86_400.0))
        }
        Some(d) => {
            return Err(
                UsageError(format!("--older-than {d}: expected a number of days ≥ 0")).into(),
            )
        }
    };
    let run = super::open(&args.run, ctx)?;
    let plan = run.plan_trash_empty(older)?;
    let mut out = std::io::stdout().lock();
    if !args.json {
        if plan.entries.is_empty() && plan.records.is_empty() {
            writeln!(out, "nothing to delete in the trash")?;
        }
        for e in &plan.entries {
            for f in &e.files {
                writeln!(
                    out,
                    "  {} {}  {}",
                    Paint::stdout().red("delete"),
                    rel(&plan.run, &f.path),
                    human_bytes(f.bytes)
                )?;
            }
        }
        if !plan.kept.is_empty() {
            writeln!(
                out,
                "  keep {} newer entr{}",
                plan.kept.len(),
                if plan.kept.len() == 1 { "y" } else { "ies" }
            )?;
        }
        if !plan.entries.is_empty() {
            writeln!(
                out,
                "empty {} entr{} ({} bytes), freeing {} bytes ({})",
                plan.entries.len(),
                if plan.entries.len() == 1 { "y" } else { "ies" },
                plan.bytes,
                plan.bytes_freed,
                human_bytes(plan.bytes_freed)
            )?;
        }
    }
    if args.dry_run || (plan.entries.is_empty() && plan.records.is_empty()) {
        if args.json {
            return print(
                &plan.run,
                &serde_json::json!({ "dry_run": args.dry_run, "plan": plan }),
            );
        }
        return Ok(());
    }
    if confirm("delete them?", args.yes, "trash empty")? == Answer::No {
        writeln!(out, "nothing changed")?;
        return Ok(());
    }
    let report = run.trash_empty(&plan)?;
    if args.json {
        return print(
            &plan.run,
            &serde_json::json!({ "dry_run": false, "plan": plan, "result": report }),
        );
    }
    writeln!(
        out,
        "removed {} entr{}, freed {} bytes ({})",
        report.removed.len(),
        if report.removed.len() == 1 {
            "y"
        } else {
            "ies"
        },
        report.bytes_freed,
        human_bytes(report.bytes_freed)
    )?;
    if report.records_dropped > 0 {
        writeln!(
            out,
            "dropped {} manifest record(s) of trash",
            report.records_dropped
        )?;
    }
    for (name, why) in &report.refused {
        writeln!(out, "left {name}: {why}")?;
    }
    Ok(())
}
