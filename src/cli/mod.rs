//! The binary's modules: argument types, one file per command, output helpers.

pub mod args;
pub mod watch;

use std::time::Duration;

use anyhow::Result;

use ckpt::engine::EngineOptions;
use ckpt::layout::LayoutKind;

/// What every command gets from the global flags.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub layout: Option<LayoutKind>,
    pub engine: EngineOptions,
}

/// A bad combination of arguments found after parsing: exit code 2, like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `verify` found damage: exit code 3 (the report was already printed).
#[derive(Debug, thiserror::Error)]
#[error("verify found {0} damaged checkpoint(s)")]
pub struct DamageFound(pub usize);

/// Seconds from a flag, rejecting negative, NaN and absurd values as a usage error.
pub fn secs(flag: &str, s: f64) -> Result<Duration> {
    if !s.is_finite() || s < 0.0 || s > 1e9 {
        return Err(UsageError(format!("{flag} {s}: expected a number of seconds ≥ 0")).into());
    }
    Ok(Duration::from_secs_f64(s))
}

/// Run the parsed command.
pub fn dispatch(cli: args::Cli) -> Result<()> {
    let ctx = Ctx {
        layout: cli.layout,
        engine: EngineOptions {
            lock_timeout: secs("--lock-timeout", cli.lock_timeout)?,
            ..EngineOptions::default()
        },
    };
    use args::Command as C;
    match cli.command {
        C::Watch(a) => watch::run(&a, &ctx),
        _ => Err(anyhow::anyhow!("this command is not implemented yet")),
    }
}
