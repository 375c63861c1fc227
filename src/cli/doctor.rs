//! `ckpt doctor`: the preflight and health report.

use std::io::Write;

use anyhow::Result;

use super::args::DoctorArgs;
use super::output::{human_bytes, Paint};
use super::view::{self, rel};
use super::Ctx;
use ckpt::engine::{CheckStatus, DoctorReport};
use ckpt::store::{manifest_path, state_path};

/// A failing manifest/state check ends in the repair step, not in "run ckpt doctor"
/// (this is ckpt doctor): which file, and how to move it aside safely.
fn add_repair_steps(report: &mut DoctorReport) {
    let run = report.run.clone();
    // Under a `.ckpt` that is not a directory no `mv` of a file in it can work; the
    // "ckpt dir" check carries the fix.
    if !ckpt::engine::doctor_state::state_dir_ok(&run) {
        return;
    }
    for c in &mut report.checks {
        if c.status != CheckStatus::Fail {
            continue;
        }
        let step = match c.name.as_str() {
            "manifest" => {
                let m = manifest_path(&run).display().to_string();
                format!(
                    "ckpt rebuilds nothing automatically: restore it from a backup, or move it aside \
                     with `mv {m} {m}.bad`; the checkpoint files stay where they are, but metrics, pins \
                     and a held best are lost, and new saves need a fresh run directory"
                )
            }
            "ckpt state" => {
                let s = state_path(&run).display().to_string();
                format!(
                    "restore it from a backup, or move it aside with `mv {s} {s}.bad`; ckpt then starts \
                     a fresh state (its pins and held best are forgotten) and the trainer's files stay untouched"
                )
            }
            _ => continue,
        };
        if let Some(i) = c.detail.find("; run `ckpt doctor") {
            c.detail.truncate(i);
        }
        c.detail = format!("{}; {step}", c.detail);
    }
}

pub(crate) fn run(args: &DoctorArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let mut report = run.doctor()?;
    add_repair_steps(&mut report);
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
            let status = match c.status {
                CheckStatus::Ok => paint.green("ok  "),
                CheckStatus::Warn => paint.yellow("warn"),
                CheckStatus::Fail => paint.red("FAIL"),
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
    if CheckStatus::worst(&report.checks) == CheckStatus::Fail {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
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
