//! Confirm dialog: the exact files and bytes an action touches; "No" is focused.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use std::path::Path;

use super::fmt;
use super::theme::Theme;
use crate::engine::RestorePlan;
use crate::snapshot::LayoutKind;
use crate::snapshot::{Checkpoint, RunSnapshot};
use crate::tui::app::{Confirm, PendingAction};

/// Most file lines listed before "… and N more".
const MAX_FILES: usize = 12;

fn file_line(path: &std::path::Path, bytes: u64) -> Line<'static> {
    Line::from(format!(
        "  {:<44} {:>10}",
        path.display(),
        fmt::bytes(bytes)
    ))
}

/// A path shown relative to the run when it lies inside it (`.ckpt/trash/…`).
fn in_run(run: &Path, p: &Path) -> String {
    p.strip_prefix(run).unwrap_or(p).display().to_string()
}

/// The files of a checkpoint that move when it is archived and their bytes on disk:
/// every file under its paths (an hf step directory holds several), never an alias file
/// (`last.pth.tar`, `model_best.pth.tar`) that merely names it.
fn moving_files(snap: &RunSnapshot, c: &Checkpoint) -> (usize, u64) {
    let aliases: Vec<&Path> = [snap.best.as_ref(), snap.last.as_ref()]
        .into_iter()
        .flatten()
        .map(|a| a.path.as_path())
        .collect();
    let (mut files, mut bytes, mut seen) = (0usize, 0u64, false);
    for p in &c.paths {
        if aliases.contains(&p.as_path()) && c.paths.len() > 1 {
            continue;
        }
        let mut stack = vec![snap.run.join(p)];
        while let Some(q) = stack.pop() {
            match std::fs::symlink_metadata(&q) {
                Ok(m) if m.is_dir() => {
                    if let Ok(rd) = std::fs::read_dir(&q) {
                        stack.extend(rd.flatten().map(|e| e.path()));
                    }
                }
                Ok(m) => {
                    seen = true;
                    files += 1;
                    bytes += m.len();
                }
                Err(_) => {}
            }
        }
    }
    if seen {
        (files, bytes)
    } else {
        // Not on disk (a test's snapshot): the scan's own numbers.
        (1, c.bytes)
    }
}

/// "epoch 7" or, for layouts that count steps (hf), "step 20".
fn unit(plan: &RestorePlan, n: u64) -> String {
    if plan.step.is_some() && plan.epoch.is_none() {
        format!("step {n}")
    } else {
        format!("epoch {n}")
    }
}

/// What moves first (so a small dialog keeps it), then the kept and newer lists:
/// off = newer checkpoints stay; on = the exact checkpoints, files and bytes that move.
fn newer_lines(plan: &RestorePlan, snap: Option<&RunSnapshot>, lines: &mut Vec<Line<'static>>) {
    let hf = plan.step.is_some() && plan.epoch.is_none()
        || snap.is_some_and(|s| s.layout == LayoutKind::Hf);
    let found: Vec<Option<&Checkpoint>> = plan
        .newer
        .iter()
        .map(|n| snap.and_then(|s| s.checkpoints.iter().find(|c| &c.name == n)))
        .collect();
    if !plan.newer.is_empty() {
        match &plan.archive_dir {
            None => {
                lines.push(Line::from(format!(
                    "{} newer checkpoint(s); a resumed trainer will overwrite them:",
                    plan.newer.len()
                )));
                lines.push(Line::from(
                    "[ ] a: archive them to .ckpt/trash/ first (off: they stay)",
                ));
            }
            Some(dir) => {
                let mut files = 0usize;
                let mut bytes = 0u64;
                for c in found.iter().flatten() {
                    if let Some(s) = snap {
                        let (f, b) = moving_files(s, c);
                        files += f;
                        bytes += b;
                    }
                }
                let known = snap.is_some() && found.iter().all(Option::is_some);
                let size = if known {
                    format!(
                        ", {files} file(s), {} bytes, {}",
                        fmt::exact(bytes),
                        fmt::bytes(bytes)
                    )
                } else {
                    String::new()
                };
                let n = plan.newer.len();
                if hf {
                    let to = plan
                        .step
                        .map(|s| format!(" from {}", unit(plan, s)))
                        .unwrap_or_default();
                    lines.push(Line::from(format!("Moves {n} newer step dir(s){size} to")));
                    lines.push(Line::from(format!(
                        "  {}/ so the trainer resumes{to}",
                        in_run(&plan.run, dir)
                    )));
                } else {
                    lines.push(Line::from(format!(
                        "[x] a: archive {n} checkpoint(s){size} to"
                    )));
                    lines.push(Line::from(format!("       {}/", in_run(&plan.run, dir))));
                }
            }
        }
    }
    if !plan.kept_newer.is_empty() {
        let list: Vec<String> = plan
            .kept_newer
            .iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        lines.push(Line::from(format!("Stay in place: {}", list.join(", "))));
        lines.push(Line::from(
            "  the resumed trainer's save of that epoch will be refused while it stays",
        ));
        lines.push(Line::from("  pinned/held: unpin it or release best first"));
    }
    if plan.newer.is_empty() {
        return;
    }
    match (&plan.archive_dir, hf) {
        (Some(_), true) => lines.push(Line::from("newer step(s) moved:")),
        (Some(_), false) => lines.push(Line::from("newer checkpoint(s) moved:")),
        (None, _) => {}
    }
    for (n, c) in plan.newer.iter().zip(&found).take(MAX_FILES) {
        match (c, snap) {
            (Some(c), Some(s)) => lines.push(file_line(Path::new(n), moving_files(s, c).1)),
            _ => lines.push(Line::from(format!("  {n}"))),
        }
    }
    if plan.newer.len() > MAX_FILES {
        lines.push(Line::from(format!(
            "  … and {} more",
            plan.newer.len() - MAX_FILES
        )));
    }
}

/// The dialog's title and body lines for an action (also used by tests); `snap` is the
/// run's latest scan, for the sizes of checkpoints a plan names only.
pub fn body(action: &PendingAction, snap: Option<&RunSnapshot>) -> (String, Vec<Line<'static>>) {
    let mut lines = Vec::new();
    let title = match action {
        PendingAction::Promote {
            name,
            epoch,
            step,
            files,
            alias,
            alias_exists,
            previous,
            keeps_only_copy,
        } => {
            let e = match (epoch, step) {
                (Some(e), _) => format!(" (epoch {e})"),
                (None, Some(s)) => format!(" (step {s})"),
                _ => String::new(),
            };
            lines.push(Line::from(format!(
                "Make {name}{e} the best checkpoint, held"
            )));
            lines.push(Line::from(
                "until `ckpt promote --release`; it is also pinned.",
            ));
            lines.push(Line::from(match previous.as_deref() {
                Some(p) if p == name => "It is already best: this holds and pins it.".to_string(),
                Some(p) => format!("Replaces the current best (was {p})."),
                None => "There is no best yet (was none).".to_string(),
            }));
            match alias {
                Some(a) => {
                    let verb = if *alias_exists { "replaced" } else { "created" };
                    lines.push(Line::from(format!("{} is {verb} to hold:", a.display())));
                }
                None => {
                    lines.push(Line::from(
                        "No file is rewritten: best is recorded (and pinned)",
                    ));
                    lines.push(Line::from("in .ckpt/state.json. Best checkpoint:"));
                }
            }
            for (p, b) in files {
                lines.push(file_line(p, *b));
            }
            if let (true, Some(a)) = (keeps_only_copy, alias) {
                lines.push(Line::from(format!(
                    "{} is the only copy of its checkpoint:",
                    a.display()
                )));
                lines.push(Line::from("it is kept in .ckpt/trash/ first."));
            }
            "Promote to best?".to_string()
        }
        PendingAction::Pin { name, pin, files } => {
            if *pin {
                lines.push(Line::from(format!("Pin {name}: it will never be pruned.")));
            } else {
                lines.push(Line::from(format!(
                    "Unpin {name}: the retention policy may prune it."
                )));
            }
            for (p, b) in files {
                lines.push(file_line(p, *b));
            }
            if *pin { "Pin?" } else { "Unpin?" }.to_string()
        }
        PendingAction::Restore(plan) => {
            let e = plan
                .epoch
                .map(|e| format!(" (epoch {e})"))
                .unwrap_or_default();
            let hf = plan.step.is_some() && plan.epoch.is_none();
            let what = match (plan.epoch, plan.step) {
                (None, Some(st)) => format!(" (step {st})"),
                _ => e,
            };
            if plan.export {
                lines.push(Line::from(format!(
                    "Export an independent copy of {}{what} to",
                    plan.target
                )));
                lines.push(Line::from(format!(
                    "  {}  ({} bytes to copy); the run is not changed",
                    plan.dest.display(),
                    fmt::exact(plan.bytes_to_copy)
                )));
            } else {
                lines.push(Line::from(format!(
                    "Make {}{what} the resume point:",
                    plan.target
                )));
                if plan.dest == plan.run.join(&plan.target) {
                    if hf {
                        // With newer steps, the "Moves …" line below says it all.
                        if plan.newer.is_empty() {
                            lines.push(Line::from(
                                "  it is the highest step: the trainer resumes from it",
                            ));
                        }
                    } else {
                        lines.push(Line::from(format!(
                            "  {} already holds it",
                            in_run(&plan.run, &plan.dest)
                        )));
                    }
                } else {
                    lines.push(Line::from(format!(
                        "  rewrite {}  ({} bytes to copy)",
                        in_run(&plan.run, &plan.dest),
                        fmt::exact(plan.bytes_to_copy)
                    )));
                }
            }
            if let Some(b) = &plan.backup {
                let old = plan
                    .backup_epoch
                    .map(|n| format!(" ({})", unit(plan, n)))
                    .unwrap_or_default();
                lines.push(Line::from(format!(
                    "  the old last{old} is the only copy of its state: kept in {}",
                    in_run(&plan.run, b)
                )));
            }
            if !plan.export {
                newer_lines(plan, snap, &mut lines);
            }
            "Restore?".to_string()
        }
        PendingAction::Prune(plan) => {
            let files: usize = plan.victims.iter().map(|v| v.files.len()).sum();
            lines.push(Line::from(format!(
                "Delete {} checkpoint(s), {} file(s); frees {} bytes ({}):",
                plan.victims.len(),
                files,
                fmt::exact(plan.bytes_freed),
                fmt::bytes(plan.bytes_freed)
            )));
            let mut shown = 0;
            let all: Vec<_> = plan.victims.iter().flat_map(|v| v.files.iter()).collect();
            for f in &all {
                if shown == MAX_FILES {
                    break;
                }
                lines.push(file_line(&f.path, f.bytes));
                shown += 1;
            }
            if all.len() > shown {
                let rest: u64 = all[shown..].iter().map(|f| f.bytes).sum();
                lines.push(Line::from(format!(
                    "  … and {} more file(s), {}",
                    all.len() - shown,
                    fmt::bytes(rest)
                )));
            }
            let kept: Vec<&str> = plan.kept.iter().map(|(n, _)| n.as_str()).collect();
            if !kept.is_empty() {
                lines.push(Line::from(format!(
                    "Kept: {}",
                    fmt::fit(&kept.join(", "), 60)
                )));
            }
            "Prune?".to_string()
        }
        PendingAction::Verify { checkpoints, bytes } => {
            lines.push(Line::from(format!(
                "Re-read {checkpoints} checkpoint(s), {} bytes ({}),",
                fmt::exact(*bytes),
                fmt::bytes(*bytes)
            )));
            lines.push(Line::from(
                "and check them against their hashes / zip CRCs.",
            ));
            lines.push(Line::from("Nothing is changed."));
            "Verify?".to_string()
        }
    };
    (title, lines)
}

pub fn render(c: &Confirm, snap: Option<&RunSnapshot>, area: Rect, buf: &mut Buffer, theme: Theme) {
    let (title, mut lines) = body(&c.action, snap);
    lines.push(Line::from(""));
    let (no, yes) = if c.yes_focused {
        (theme.title(), theme.selected().patch(theme.warn()))
    } else {
        (theme.selected().patch(theme.title()), theme.title())
    };
    lines.push(Line::from(vec![
        Span::raw("        "),
        Span::styled("[ No ]", no),
        Span::raw("    "),
        Span::styled("[ Yes ]", yes),
        Span::styled("    y confirm · n/Esc cancel", theme.dim()),
    ]));
    // As wide as the longest line when the screen allows; else long lines (paths)
    // wrap, and the dialog grows taller instead of cutting them.
    let want = lines.iter().map(|l| l.width()).max().unwrap_or(20) as u16 + 4;
    let w = want.max(40).min(area.width);
    let iw = w.saturating_sub(2).max(1) as usize;
    let h = lines
        .iter()
        .map(|l| {
            let n = l.width().max(1);
            (n.div_ceil(iw) + usize::from(n > iw)) as u16
        })
        .sum::<u16>()
        + 2;
    let inner = super::popup(area, w, h, &title, buf, theme);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}
