//! The binary's modules: argument types, one file per command, output helpers.

pub(crate) mod args;
pub(crate) mod confirm;
pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod ls;
pub(crate) mod output;
pub(crate) mod pin;
pub(crate) mod promote;
pub(crate) mod prune;
pub(crate) mod restore;
pub(crate) mod save;
pub(crate) mod trash;
pub(crate) mod verify;
pub(crate) mod watch;

/// The `--json` documents live in the library (shared with the Python package).
pub(crate) use ckpt::view;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use ckpt::engine::{EngineOptions, Run};
use ckpt::snapshot::LayoutKind;
use ckpt::snapshot::{Checkpoint, RunSnapshot};

/// What every command gets from the global flags.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub layout: Option<LayoutKind>,
    pub engine: EngineOptions,
}

/// A bad combination of arguments found after parsing: exit code 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// `verify` found damage: exit code 3 (the report was already printed).
#[derive(Debug, thiserror::Error)]
#[error("verify found {count} damaged checkpoint(s) in {run}; nothing was changed. Resume from an intact one with `ckpt restore {run} EPOCH`, or save the damaged epoch again")]
pub(crate) struct DamageFound {
    pub count: usize,
    pub run: String,
}

/// Seconds from a flag (`--poll`, `--interval`): 0 to 1e9; anything else is a usage
/// error that states the range.
pub(crate) fn secs(flag: &str, s: f64) -> Result<Duration> {
    if !s.is_finite() || !(0.0..=1e9).contains(&s) {
        return Err(UsageError(format!(
            "{flag} {s}: expected a number of seconds from 0 to 1e9"
        ))
        .into());
    }
    Ok(Duration::from_secs_f64(s))
}

/// A wait (`--lock-timeout`): any non-negative number of seconds (beyond what a
/// `Duration` holds, or `inf`, means "as long as it takes"); negative and NaN are
/// usage errors.
pub(crate) fn wait_secs(flag: &str, s: f64) -> Result<Duration> {
    if s.is_nan() || s < 0.0 {
        return Err(UsageError(format!(
            "{flag} {s}: expected a number of seconds ≥ 0 (inf waits as long as it takes)"
        ))
        .into());
    }
    Ok(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
}

/// Open an existing run with the global `--layout`. When `dir` is not a run but holds
/// runs (`ckpt ls runs/`), say which, since that is what the user was looking for.
pub(crate) fn open(dir: &Path, ctx: &Ctx) -> Result<Run> {
    // A forced --layout the directory does not match: say what it looks like instead.
    let mismatch = ctx
        .layout
        .zip(ckpt::layout::detect(dir))
        .filter(|(forced, found)| forced != found)
        .map(|(forced, found)| {
            anyhow::anyhow!(
                "{} is not a {} run (it looks like a {} run); drop --layout or pass --layout {}",
                dir.display(),
                forced.as_str(),
                found.as_str(),
                found.as_str()
            )
        });
    match (Run::open(dir, ctx.layout, ctx.engine.clone()), mismatch) {
        // A forced reader that finds nothing in another layout's run is the same mistake.
        (Ok(run), Some(e)) if run.snapshot().is_ok_and(|s| s.checkpoints.is_empty()) => Err(e),
        (Ok(run), _) => Ok(run),
        (Err(ckpt::Error::NoRun { .. }), Some(e)) => Err(e),
        (Err(err @ ckpt::Error::NoRun { .. }), None) if dir.is_dir() => {
            let runs = ckpt::layout::discover_runs(dir);
            if runs.is_empty() {
                return Err(err.into());
            }
            let names: Vec<String> = runs
                .iter()
                .take(5)
                .map(|r| r.display().to_string())
                .collect();
            let more = if runs.len() > 5 { ", …" } else { "" };
            Err(anyhow::anyhow!(
                "{} is not a run but holds {} run(s): {}{more}; name one (e.g. `ckpt ls {}`), or `ckpt watch {}` to browse them all",
                dir.display(),
                runs.len(),
                names.join(", "),
                names[0],
                dir.display()
            ))
        }
        (Err(err), _) => Err(err.into()),
    }
}

/// `[RUN] EPOCH` commands given one positional that names a run directory (`ckpt
/// promote pyrun`) lack the epoch: a usage error, not a search for epoch "pyrun" in `.`.
/// One positional that is not a run stays the epoch in the run `.` (`ckpt promote 5`).
pub(crate) fn require_item(cmd: &str, targets: &[std::ffi::OsString], usage: &str) -> Result<()> {
    let missing = match targets {
        [] => true,
        [one] => is_run_dir(Path::new(one)),
        _ => false,
    };
    if missing {
        return Err(UsageError(format!("missing EPOCH: ckpt {cmd}{usage}")).into());
    }
    Ok(())
}

/// An existing directory that holds a run ckpt can read.
fn is_run_dir(p: &Path) -> bool {
    p.is_dir() && ckpt::layout::detect(p).is_some()
}

/// A checkpoint named by epoch (or step) or by file name.
pub(crate) fn resolve<'a>(
    snap: &'a RunSnapshot,
    selector: Option<&OsStr>,
) -> Result<&'a Checkpoint> {
    let Some(sel) = selector else {
        return Err(UsageError("name a CHECKPOINT: an epoch number or a file name".into()).into());
    };
    let sel = sel.to_string_lossy();
    snap.find(&sel).ok_or_else(|| {
        ckpt::Error::UnknownCheckpoint {
            selector: sel.into_owned(),
            run: snap.run.clone(),
        }
        .into()
    })
}

/// Run the parsed command.
pub(crate) fn dispatch(cli: args::Cli) -> Result<()> {
    let ctx = Ctx {
        layout: cli.layout,
        engine: EngineOptions {
            lock_timeout: wait_secs("--lock-timeout", cli.lock_timeout)?,
            on_lock_wait: Some(std::sync::Arc::new(|h: &ckpt::engine::lock::LockHolder| {
                eprintln!("waiting for the run lock held by {}…", h.describe());
            })),
            ..EngineOptions::default()
        },
    };
    run_command(cli.command, &ctx).map_err(name_unknown_holder)
}

/// A lock timeout whose holder left no record says so instead of "pid 0 (unknown)".
fn name_unknown_holder(err: anyhow::Error) -> anyhow::Error {
    match err.downcast_ref::<ckpt::Error>() {
        Some(ckpt::Error::Locked {
            run,
            pid: 0,
            waited_secs,
            ..
        }) => anyhow::anyhow!(
            "run {} is locked by another process (no holder record); waited {waited_secs}s. \
             If that process is gone, `ckpt doctor {}` shows the lock",
            run.display(),
            run.display()
        ),
        _ => err,
    }
}

fn run_command(command: args::Command, ctx: &Ctx) -> Result<()> {
    use args::Command as C;
    match command {
        C::Watch(a) => watch::run(&a, ctx),
        C::Ls(a) => ls::run(&a, ctx),
        C::Save(a) => save::run(&a, ctx),
        C::Promote(a) => {
            if !a.release {
                require_item("promote", &a.targets, " RUN EPOCH, or --release")?;
            }
            promote::run(&a, ctx)
        }
        C::Restore(a) => {
            require_item("restore", &a.targets, " RUN EPOCH")?;
            restore::run(&a, ctx)
        }
        C::Prune(a) => prune::run(&a, ctx),
        C::Pin(a) => {
            require_item("pin", &a.targets, " RUN EPOCH")?;
            pin::run(&a, ctx, true)
        }
        C::Unpin(a) => {
            require_item("unpin", &a.targets, " RUN EPOCH")?;
            pin::run(&a, ctx, false)
        }
        C::Verify(a) => verify::run(&a, ctx),
        C::Doctor(a) => doctor::run(&a, ctx),
        C::Trash(a) => trash::run(a, ctx),
        C::Demo(a) => demo::run(&a, ctx),
    }
}
