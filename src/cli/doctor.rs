//! `ckpt doctor`: the preflight and health report.

use std::io::Write;

use anyhow::Result;

use super::args::DoctorArgs;
use super::output::{human_bytes, Paint};
use super::view::{self, rel};
use super::Ctx;

pub fn run(args: &DoctorArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let report = run.doctor()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        view::print_json(&mut out, &view::doctor_view(&report))?;
    } else {
        let paint = Paint::stdout();
        writeln!(
            out,
            "{} {} (layout {}, watch mode: {})",
            paint.bold("doctor"),
            report.run.display(),
            report.layout.as_str(),
            report.watch_mode
        )?;
        let width = report
            .checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        for c in &report.checks {
            let status = match c.status.as_str() {
                "ok" => paint.green("ok  "),
                "warn" => paint.yellow("warn"),
                _ => paint.red("FAIL"),
            };
            writeln!(out, "{status}  {:width$}  {}", c.name, c.detail)?;
        }
        if let Some(h) = &report.disk {
            writeln!(
                out,
                "disk  {} free of {} on {} ({})",
                human_bytes(h.available),
                human_bytes(h.total),
                h.mount.display(),
                h.fs_type
            )?;
        }
        for t in &report.stale_temps {
            writeln!(out, "stale temp {}", rel(&report.run, t))?;
        }
    }
    if view::worst(&report.checks) == "fail" {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.status == "fail")
            .map(|c| c.name.as_str())
            .collect();
        anyhow::bail!(
            "doctor found failing checks in {}: {}; see the details above",
            report.run.display(),
            failed.join(", ")
        );
    }
    Ok(())
}
