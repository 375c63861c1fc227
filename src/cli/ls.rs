//! `ckpt ls`: one table of the run, then aliases, disk headroom and warnings.

use std::io::Write;

use anyhow::Result;

use super::args::LsArgs;
use super::output::{human_age, human_bytes, human_metric, Align, Cell, Paint, Table};
use super::view::{self, ranks, role_str, state_str};
use super::Ctx;
use ckpt::snapshot::{Alias, CheckpointState, RunSnapshot};

pub(crate) fn run(args: &LsArgs, ctx: &Ctx) -> Result<()> {
    let run = super::open(&args.run, ctx)?;
    let snap = run.snapshot()?;
    // Headroom is informative here: a failure to measure it must not hide the listing.
    let disk = ckpt::disk::headroom(&snap.run).ok();
    let mut out = std::io::stdout().lock();
    if args.json {
        return Ok(view::print_json(
            &mut out,
            &view::ls_view(&snap, disk.as_ref()),
        )?);
    }
    write_human(&mut out, &snap, disk.as_ref(), Paint::stdout())?;
    Ok(())
}

/// The human listing (also used by tests through the binary).
pub(crate) fn write_human(
    out: &mut dyn Write,
    snap: &RunSnapshot,
    disk: Option<&ckpt::disk::Headroom>,
    paint: Paint,
) -> Result<()> {
    let metric = match &snap.metric {
        Some(m) => format!("{} ({})", m.name, m.mode.as_str()),
        None => "none".into(),
    };
    writeln!(
        out,
        "{} {}  layout {}  metric {}",
        paint.bold("run"),
        snap.run.display(),
        snap.layout.as_str(),
        metric
    )?;
    if snap.checkpoints.is_empty() {
        writeln!(out, "no checkpoints yet")?;
    } else {
        let ranks = ranks(snap);
        let mut t = Table::new(&[
            ("EPOCH", Align::Right),
            ("STEP", Align::Right),
            ("METRIC", Align::Right),
            ("RANK", Align::Right),
            ("SIZE", Align::Right),
            ("AGE", Align::Right),
            ("ROLES", Align::Left),
            ("PIN", Align::Left),
            ("STATE", Align::Left),
            ("NAME", Align::Left),
        ]);
        for c in &snap.checkpoints {
            let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let roles: Vec<&str> = c.roles.iter().map(|r| role_str(*r)).collect();
            let rank = ranks.get(&c.name);
            let state = Cell::styled(
                state_str(&c.state),
                match c.state {
                    CheckpointState::Complete => Paint::green,
                    CheckpointState::Writing => Paint::yellow,
                    CheckpointState::Damaged => Paint::red,
                },
            );
            let metric_text = human_metric(c.metric, view::metric_raw(c).as_deref());
            t.row(vec![
                Cell::plain(opt(c.epoch)),
                Cell::plain(opt(c.step)),
                if c.finite_metric().is_some() {
                    Cell::plain(metric_text)
                } else {
                    Cell::styled(metric_text, Paint::dim)
                },
                Cell::plain(rank.map_or("-".into(), |r| r.to_string())),
                Cell::plain(human_bytes(c.bytes)),
                Cell::plain(human_age(c.mtime)),
                if roles.is_empty() {
                    Cell::plain("-")
                } else {
                    Cell::styled(roles.join(","), Paint::cyan)
                },
                Cell::plain(if c.pinned { "yes" } else { "-" }),
                state,
                Cell::plain(c.name.clone()),
            ]);
        }
        t.write(out, paint)?;
    }
    let alias = |a: &Option<Alias>| match a {
        None => "none".to_string(),
        Some(a) => {
            let what = match (a.epoch, a.step) {
                (Some(e), _) => format!("epoch {e}"),
                (None, Some(s)) => format!("step {s}"),
                (None, None) => a.target.clone().unwrap_or_else(|| "?".into()),
            };
            let held = if a.held { ", held" } else { "" };
            // A "record" alias (hf) is no file of its own: name what it resolves to.
            let file = match (&a.target, a.how) {
                (Some(t), ckpt::snapshot::AliasHow::Record) => t.clone(),
                _ => a.path.display().to_string(),
            };
            format!("{what} ({file}, {}{held})", a.how)
        }
    };
    let trash = if snap.trash_bytes > 0 {
        format!(
            " + {} in trash (`ckpt trash {}`)",
            human_bytes(snap.trash_bytes),
            snap.run.display()
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} {}   {} {}   total {}{trash}",
        paint.bold("best"),
        alias(&snap.best),
        paint.bold("last"),
        alias(&snap.last),
        human_bytes(snap.total_bytes())
    )?;
    if let Some(h) = disk {
        let fit = match view::projected_fit(snap, h.available) {
            Some(n) => format!("; ~{n} more checkpoints fit"),
            None => String::new(),
        };
        writeln!(
            out,
            "{} {} free of {} on {} ({}){fit}",
            paint.bold("disk"),
            human_bytes(h.available),
            human_bytes(h.total),
            h.mount.display(),
            h.fs_type
        )?;
    }
    for w in &snap.warnings {
        writeln!(out, "{} {w}", paint.yellow("warning:"))?;
    }
    Ok(())
}
