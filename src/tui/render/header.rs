//! Header: run, layout, metric and mode, watch mode and last scan, trainer activity.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::fmt;
use super::theme::Theme;
use crate::snapshot::Role;
use crate::tui::app::{App, RunEntry};
use crate::tui::trainer::{self, Liveness};

/// "eval_top1 ▲max" or "no metric".
pub(crate) fn metric_label(run: &RunEntry) -> String {
    match run.snapshot.as_ref().and_then(|s| s.metric.as_ref()) {
        Some(m) => format!("{} ({})", m.name, m.mode.as_str()),
        None => "no metric".into(),
    }
}

/// "events · scan 14:03:22", "polling 2s · scan …", "starting…".
pub(crate) fn watch_label(app: &App, run: &RunEntry) -> String {
    if run.gone {
        let since = run
            .last_scan
            .map(|t| format!(" · stale since {}", fmt::clock(t, app.utc_offset)))
            .unwrap_or_default();
        return format!("directory gone{since}");
    }
    let mut mode = run
        .watch_mode
        .map(|m| m.label())
        .unwrap_or_else(|| "starting".into());
    // Say why when polling was chosen for the user (not by --poll).
    if let (Some(crate::watch::WatchMode::Polling(_)), Some(why)) =
        (run.watch_mode, &run.watch_reason)
    {
        if why != "--poll" {
            mode.push_str(&format!(" ({})", fmt::fit(why, 24)));
        }
    }
    match run.last_scan {
        Some(t) => format!("{mode} · scan {}", fmt::clock(t, app.utc_offset)),
        None => format!("{mode} · scanning…"),
    }
}

/// What the run's trainer is doing, as the header and the run list word it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Activity {
    /// The trainer search has not reported yet.
    Looking,
    /// No process found.
    NoTrainer,
    Alive,
    /// Exited: how long ago when this monitor saw it go (`ago`), else how long ago
    /// its last save was (it was gone before the monitor looked).
    Exited {
        ago: Option<std::time::Duration>,
        last_save: Option<std::time::Duration>,
    },
    /// The process lives on, its training stopped this long ago (`ckpt demo` after a
    /// failed save).
    Stopped(std::time::Duration),
    /// On another host (named by `saved_by`): liveness unknown here.
    Remote(String),
}

/// The run's trainer activity, and `(since last save, usual interval)` when saves
/// are overdue (not said of an exited trainer: that says more).
pub(crate) fn activity(
    app: &App,
    run: &RunEntry,
) -> (Activity, Option<(std::time::Duration, std::time::Duration)>) {
    let act = match (&run.trainer, run.trainer_checked) {
        (Some(t), _) => match &t.liveness {
            Liveness::Alive => Activity::Alive,
            Liveness::Exited { at, last_save } => {
                let since = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                    t.and_then(|t| (app.now - t).to_std().ok())
                };
                Activity::Exited {
                    ago: since(at),
                    last_save: since(last_save),
                }
            }
            Liveness::Stopped { at } => {
                Activity::Stopped((app.now - *at).to_std().unwrap_or_default())
            }
            Liveness::Remote { host } => Activity::Remote(host.clone()),
        },
        (None, true) => Activity::NoTrainer,
        (None, false) => Activity::Looking,
    };
    let overdue = match act {
        Activity::Exited { .. } | Activity::Stopped(_) => None,
        _ => run
            .snapshot
            .as_ref()
            .and_then(|s| trainer::overdue(&trainer::save_times(s), app.now)),
    };
    (act, overdue)
}

/// "exited 3m ago"; for a trainer gone before the monitor looked, "exited (last
/// save 3m ago)": it died after that save, and that is all anyone can know.
pub(crate) fn exited_text(
    ago: Option<std::time::Duration>,
    last_save: Option<std::time::Duration>,
) -> String {
    match (ago, last_save) {
        (Some(d), _) => format!("exited {} ago", fmt::age_step(d)),
        (None, Some(d)) => format!("exited (last save {} ago)", fmt::age_step(d)),
        (None, None) => "exited".into(),
    }
}

/// "stopped 3s ago": the process lives, its training does not.
pub(crate) fn stopped_text(ago: std::time::Duration) -> String {
    format!("stopped {} ago", fmt::age_step(ago))
}

/// Trainer line: time since the last save, overdue, and the trainer: pid, alive or
/// exited N ago, cpu, memory and command line; or "no trainer seen".
pub(crate) fn trainer_spans(app: &App, run: &RunEntry, theme: Theme) -> Vec<Span<'static>> {
    trainer_spans_with(app, run, theme, true)
}

/// [`trainer_spans`], with the live trainer's cpu and memory or without (they give
/// way first when the line is too long: the command line says more).
fn trainer_spans_with(app: &App, run: &RunEntry, theme: Theme, usage: bool) -> Vec<Span<'static>> {
    let last_save = run
        .snapshot
        .as_ref()
        .and_then(|s| s.checkpoints.iter().filter_map(|c| c.mtime).max());
    let since = match last_save {
        Some(t) => format!("last save {} ago", fmt::age(Some(t), app.now)),
        None => "no save yet".into(),
    };
    let (act, overdue) = activity(app, run);
    // "exited (last save 3m ago)" already says when the last save was.
    let said = matches!(act, Activity::Exited { ago: None, last_save: Some(d) }
        if last_save.is_some_and(|t| fmt::age(Some(t), app.now) == fmt::age_step(d)));
    let mut spans = Vec::new();
    if !said {
        spans.push(Span::raw(since));
    }
    if let Some((_, usual)) = overdue {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("overdue (usually every {})", fmt::short_duration(usual)),
            theme.warn(),
        ));
    }
    if !said {
        spans.push(Span::raw(" · "));
    }
    let t = run.trainer.as_ref();
    let pid = t.map(|t| format!("pid {}", t.pid)).unwrap_or_default();
    match act {
        Activity::Alive => {
            spans.push(Span::styled("trainer ", theme.title()));
            spans.push(Span::styled(format!("{pid} alive"), theme.ok()));
            if let Some(t) = t {
                spans.push(Span::raw(if usage {
                    format!(
                        " · cpu {:.0}% · mem {} · {}",
                        t.cpu_percent,
                        fmt::bytes(t.memory),
                        t.command
                    )
                } else {
                    format!(" · {}", t.command)
                }));
            }
        }
        Activity::Exited { ago, last_save } => {
            spans.push(Span::styled("trainer ", theme.title()));
            spans.push(Span::styled(
                format!("{pid} {}", exited_text(ago, last_save)),
                theme.error(),
            ));
            if let Some(t) = t {
                spans.push(Span::raw(format!(" · {}", t.command)));
            }
        }
        Activity::Stopped(ago) => {
            spans.push(Span::styled("trainer ", theme.title()));
            spans.push(Span::styled(
                format!("{pid} {}", stopped_text(ago)),
                theme.error(),
            ));
            if let Some(t) = t {
                spans.push(Span::raw(format!(" · {}", t.command)));
            }
        }
        Activity::Remote(host) => {
            spans.push(Span::styled("trainer ", theme.title()));
            spans.push(Span::raw(format!(
                "{pid} on {host} (not checked from here)"
            )));
            if let Some(t) = t {
                spans.push(Span::raw(format!(" · {}", t.command)));
            }
        }
        Activity::NoTrainer => spans.push(Span::styled("no trainer seen", theme.dim())),
        Activity::Looking => spans.push(Span::styled("looking for a trainer…", theme.dim())),
    }
    spans
}

/// Spans cut to `w` columns with a "…" where text was cut (a command line that runs
/// off the edge must not look complete).
fn fit_spans(spans: Vec<Span<'static>>, w: usize) -> Vec<Span<'static>> {
    let total: usize = spans.iter().map(Span::width).sum();
    if total <= w {
        return spans;
    }
    let mut out = Vec::new();
    let mut left = w;
    for s in spans {
        let sw = s.width();
        if sw < left {
            left -= sw;
            out.push(s);
        } else {
            let cut = fmt::fit(&s.content, left);
            out.push(Span::styled(cut, s.style));
            break;
        }
    }
    out
}

pub(crate) fn render(app: &App, run: &RunEntry, area: Rect, buf: &mut Buffer, theme: Theme) {
    let w = area.width as usize;
    let layout = run
        .snapshot
        .as_ref()
        .map(|s| s.layout.as_str())
        .unwrap_or("?");
    let right = watch_label(app, run);
    let metric = metric_label(run);
    let ro = if app.read_only { " · READ-ONLY" } else { "" };
    let fixed = 8 + layout.len() + metric.len() + right.len() + ro.len() + 9;
    let path = fmt::fit_left(&run.path.to_string_lossy(), w.saturating_sub(fixed).max(8));
    let mut line = vec![
        Span::styled("ckpt ", theme.accent()),
        Span::styled(path, theme.title()),
        Span::raw(" · "),
        Span::raw(layout.to_string()),
        Span::raw(" · "),
        Span::raw(metric),
        Span::raw(" · "),
        Span::styled(right, if run.gone { theme.error() } else { theme.dim() }),
    ];
    if app.read_only {
        line.push(Span::raw(" · "));
        line.push(Span::styled("READ-ONLY", theme.warn()));
    }
    let mut lines = vec![Line::from(line)];
    if area.height >= 2 {
        let mut spans = trainer_spans(app, run, theme);
        if spans.iter().map(Span::width).sum::<usize>() > w {
            spans = trainer_spans_with(app, run, theme, false);
        }
        lines.push(Line::from(fit_spans(spans, w)));
    }
    Paragraph::new(lines).render(area, buf);
}

/// Compact one-liner: best and last.
pub(crate) fn render_summary(
    app: &App,
    run: &RunEntry,
    area: Rect,
    buf: &mut Buffer,
    theme: Theme,
) {
    let mut spans = Vec::new();
    let snap = run.snapshot.as_ref();
    let best = snap.and_then(|s| s.with_role(Role::Best));
    let last = snap.and_then(|s| s.with_role(Role::Last));
    spans.push(Span::styled("best ", theme.title()));
    match best {
        Some(c) => spans.push(Span::styled(
            format!("{} {}", fmt::label(c), fmt::metric(c)),
            theme.best(),
        )),
        None => spans.push(Span::styled("-", theme.dim())),
    }
    if snap.and_then(|s| s.best.as_ref()).is_some_and(|a| a.held) {
        spans.push(Span::raw(" (held)"));
    }
    spans.push(Span::raw("  "));
    spans.push(Span::styled("last ", theme.title()));
    match last {
        Some(c) => spans.push(Span::styled(
            format!("{} {}", fmt::label(c), fmt::metric(c)),
            theme.last(),
        )),
        None => match snap.and_then(|s| s.last.as_ref()).and_then(|a| a.epoch) {
            Some(e) => spans.push(Span::styled(format!("e{e} (alias only)"), theme.last())),
            None => spans.push(Span::styled("-", theme.dim())),
        },
    }
    if let Some(s) = snap {
        spans.push(Span::raw(format!(
            "  {} checkpoints · {}",
            s.checkpoints.len(),
            fmt::bytes(s.total_bytes())
        )));
    }
    // The compact layout has no table title: say how the table is shaped here.
    if app.sort != crate::tui::app::SortKey::Epoch {
        spans.push(Span::styled(
            format!(" · sort {}", app.sort.as_str()),
            theme.key(),
        ));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(
                " · filter \"{}\" {}/{}",
                app.filter,
                run.view.len(),
                snap.map(|s| s.checkpoints.len()).unwrap_or(0)
            ),
            theme.key(),
        ));
    }
    if !run.marked.is_empty() {
        spans.push(Span::styled(
            format!(" · {} marked", run.marked.len()),
            theme.marked(),
        ));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}
