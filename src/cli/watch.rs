//! `ckpt watch`: flags -> `WatchOptions` -> the monitor.

use anyhow::Result;

use super::args::{ColorArg, WatchArgs};
use super::Ctx;
use ckpt::tui::{ColorChoice, WatchOptions};

/// Translate the parsed flags into the monitor's options (kept separate so `demo` reuses it).
pub(crate) fn options(args: &WatchArgs, ctx: &Ctx) -> Result<WatchOptions> {
    let poll = match args.poll {
        Some(s) => Some(super::secs("--poll", s)?),
        None => None,
    };
    Ok(WatchOptions {
        paths: args.paths.clone(),
        poll,
        read_only: args.read_only,
        color: color_choice(args.color),
        layout: ctx.layout,
        notes: None,
    })
}

pub(crate) fn color_choice(c: ColorArg) -> ColorChoice {
    match c {
        ColorArg::Auto => ColorChoice::Auto,
        ColorArg::Always => ColorChoice::Always,
        ColorArg::Never => ColorChoice::Never,
    }
}

pub(crate) fn run(args: &WatchArgs, ctx: &Ctx) -> Result<()> {
    let opts = options(args, ctx)?;
    ckpt::tui::run(opts)?;
    Ok(())
}
