//! `ckpt pin` / `ckpt unpin`.

use std::io::Write;

use anyhow::Result;

use super::args::{run_and_item, PinArgs};
use super::Ctx;

pub(crate) fn run(args: &PinArgs, ctx: &Ctx, pinned: bool) -> Result<()> {
    let (dir, item) = run_and_item(&args.targets);
    let run = super::open(&dir, ctx)?;
    let snap = run.snapshot()?;
    let c = super::resolve(&snap, item.as_deref())?;
    let changed = run.change_pinned(&c.name, pinned)?;
    let mut out = std::io::stdout().lock();
    match (changed, pinned) {
        (true, true) => writeln!(out, "pinned {}", c.name)?,
        (true, false) => writeln!(out, "unpinned {}", c.name)?,
        (false, true) => writeln!(out, "{} is already pinned", c.name)?,
        (false, false) => writeln!(out, "{} was not pinned", c.name)?,
    }
    Ok(())
}
