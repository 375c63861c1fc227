//! `ckpt verify`: re-hash every checkpoint; exit 3 when any is damaged.

use std::io::Write;

use anyhow::Result;

use super::args::VerifyArgs;
use super::output::{human_bytes, Bar, Paint};
use super::view::{self, rel};
use super::{Ctx, DamageFound};

pub(crate) fn run(args: &VerifyArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let bar = Bar::new();
    let mut progress = |p: &ckpt::engine::Progress| bar.update(p);
    let report = run.verify(Some(&mut progress))?;
    bar.finish();
    let mut out = std::io::stdout().lock();
    if args.json {
        view::print_json(&mut out, &view::verify_view(&report))?;
    } else {
        let paint = Paint::stdout();
        for name in &report.ok {
            writeln!(out, "{} {name}", paint.green("ok     "))?;
        }
        for n in &report.notes {
            writeln!(
                out,
                "{} {} ({}): {}",
                paint.yellow("note   "),
                n.name,
                rel(&report.run, &n.path),
                n.reason
            )?;
        }
        for d in &report.damaged {
            writeln!(
                out,
                "{} {} ({}): {}",
                paint.red("DAMAGED"),
                d.name,
                rel(&report.run, &d.path),
                d.reason
            )?;
        }
        writeln!(
            out,
            "checked {} checkpoint(s), {}: {} damaged",
            report.checked,
            human_bytes(report.bytes),
            report.damaged.len()
        )?;
    }
    if report.damaged.is_empty() {
        Ok(())
    } else {
        Err(DamageFound {
            count: report.damaged.len(),
            run: report.run.display().to_string(),
        }
        .into())
    }
}
