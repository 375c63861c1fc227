//! `ckpt save`: a file (copied, or renamed with `--move`) or stdin (`-`) into a native run.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::args::{run_and_item, ModeArg, PolicyArgs, SaveArgs};
use super::output::{human_bytes, Bar, Paint};
use super::{view, Ctx, UsageError};
use ckpt::engine::metric_choice::{choose_metric, MetricChoice};
use ckpt::engine::{Run, SaveRequest, SaveSource};
use ckpt::rank::{Mode, RetentionPolicy};
use ckpt::snapshot::LayoutKind;

/// Parse `--metric`: a number, or nan/inf (accepted, never ranked as best).
pub(crate) fn parse_metric(s: &str) -> Result<f64> {
    s.trim().parse::<f64>().map_err(|_| {
        UsageError(format!(
            "--metric {s:?} is not a number (use e.g. 71.25, or nan when evaluation failed)"
        ))
        .into()
    })
}

/// The retention flags as a policy, or `None` to keep the run's own.
pub(crate) fn policy(p: &PolicyArgs) -> Option<RetentionPolicy> {
    p.any().then_some(RetentionPolicy {
        keep_top_k: p.keep_top,
        keep_last: p.keep_last,
        keep_every: p.keep_every,
    })
}

/// `--ext`: a file extension such as `.pt` (leading dot, no path separators).
fn check_ext(ext: &str) -> Result<()> {
    let ok = ext.len() > 1
        && ext.starts_with('.')
        && !ext.contains('/')
        && !ext.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--ext {ext:?} is not a file extension; use e.g. --ext .pt or --ext .pth.tar"
        ))
        .into())
    }
}

pub(crate) fn run(args: &SaveArgs, ctx: &Ctx) -> Result<()> {
    let (dir, source) = run_and_item(&args.targets);
    let Some(source) = source else {
        return Err(UsageError("save needs a FILE, or - to read stdin".into()).into());
    };
    if let Some(l) = ctx.layout {
        if l != LayoutKind::Ckpt {
            return Err(UsageError(format!(
                "save writes native (ckpt) runs only, not --layout {}",
                l.as_str()
            ))
            .into());
        }
    }
    let stdin = source == "-";
    if stdin && args.r#move {
        return Err(UsageError("--move needs a FILE, not - (stdin)".into()).into());
    }
    let metric = args.metric.as_deref().map(parse_metric).transpose()?;
    let mut engine = ctx.engine.clone();
    if let Some(ext) = &args.ext {
        check_ext(ext)?;
        // A run's extension is fixed by its manifest: a different --ext is a mistake.
        if let Ok(m) = ckpt::store::load_manifest(&dir) {
            if m.ext != *ext {
                return Err(ckpt::Error::BadRequest(format!(
                    "{} saves its checkpoints as *{}, fixed when it was created; drop --ext {ext} (or pass --ext {}), or start a new run directory",
                    dir.display(),
                    m.ext,
                    m.ext
                ))
                .into());
            }
        }
        engine.ext = ext.clone();
    }
    let run = Run::open_or_create(&dir, engine)?;
    // The run's metric is fixed by the first save that names one; a bare --metric on a
    // run without one records it as "metric" (max) so `ls` can say what it ranks by.
    let existing = run.snapshot().ok().and_then(|s| s.metric);
    let mode = args.mode.map(|m| match m {
        ModeArg::Max => Mode::Max,
        ModeArg::Min => Mode::Min,
    });
    let choice = choose_metric(
        args.metric_name.as_deref(),
        mode,
        existing.as_ref(),
        metric.is_some(),
    );
    if let MetricChoice::Defaulted(_) = choice {
        eprintln!(
            "note: no --metric-name given; this run will rank by `metric` (max) from now on. To name it, save with e.g. `--metric-name top1` (or `--metric-name val_loss --mode min`) the first time"
        );
    }
    let metric_spec = choice.spec();
    let req = SaveRequest {
        epoch: args.epoch,
        step: args.step,
        metric,
        metric_spec,
        metrics: Default::default(),
        policy: policy(&args.policy),
        ..Default::default()
    };
    let bar = Bar::new();
    let mut progress = |p: &ckpt::engine::Progress| bar.update(p);
    let report = if stdin {
        let mut input = std::io::stdin().lock();
        run.save(&req, SaveSource::Stream(&mut input), Some(&mut progress))?
    } else {
        let path = Path::new(&source);
        run.save(
            &req,
            SaveSource::File {
                path,
                move_file: args.r#move,
            },
            Some(&mut progress),
        )?
    };
    bar.finish();
    let mut out = std::io::stdout().lock();
    if args.json {
        return Ok(view::print_json(&mut out, &view::save_view(&report))?);
    }
    let paint = Paint::stdout();
    let verb = if report.replaced { "replaced" } else { "saved" };
    writeln!(
        out,
        "{verb} epoch {} -> {} ({}, {})",
        args.epoch,
        report.path.display(),
        human_bytes(report.bytes),
        report.hash
    )?;
    if report.became_best {
        writeln!(out, "{}", paint.green("new best"))?;
    }
    for n in &report.notes {
        writeln!(out, "{} {n}", paint.yellow("note:"))?;
    }
    for p in &report.pruned {
        writeln!(out, "pruned {}", p.display())?;
    }
    if !report.pruned.is_empty() {
        writeln!(out, "freed {}", human_bytes(report.bytes_freed))?;
    }
    Ok(())
}
