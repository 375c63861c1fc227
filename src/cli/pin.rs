//! `ckpt pin` / `ckpt unpin`.

use std::io::Write;

use anyhow::Result;

use super::args::{run_and_item, PinArgs};
use super::Ctx;

pub fn run(args: &PinArgs, ctx: &Ctx, pinned: bool) -> Result<()> {
    let (dir, item) = run_and_item(&args.targets);
    let run = super::open(&dir, ctx)?;
    let snap = run.snapshot()?;
    let c = super::resolve(&snap, item.as_deref())?;
    run.set_pinned(&c.name, pinned)?;
    let verb = if pinned { "pinned" } else { "unpinned" };
    writeln!(std::io::stdout().lock(), "{verb} {}", c.name)?;
    Ok(())
}
