//! The run list (`ckpt watch DIR` with several runs): per-run layout, best, last, size.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::fmt;
use super::header::{self, Activity};
use super::theme::Theme;
use crate::snapshot::Role;
use crate::tui::app::App;

fn split(area: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// The list's area (including its border and column header).
pub(crate) fn list_area(area: Rect) -> Rect {
    split(area)[1]
}

/// The first (longest) wording that fits `w`, else the last one cut.
fn longest_fitting(options: &[String], w: usize) -> String {
    options
        .iter()
        .find(|o| o.chars().count() <= w)
        .cloned()
        .unwrap_or_else(|| fmt::fit(options.last().map(String::as_str).unwrap_or(""), w))
}

/// A run's name in the list: its path under the root, else the whole path.
fn run_name(app: &App, i: usize) -> String {
    let Some(r) = app.runs.get(i) else {
        return String::new();
    };
    match &app.root {
        Some(root) => r
            .path
            .strip_prefix(root)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.path.to_string_lossy().into_owned()),
        None => r.path.to_string_lossy().into_owned(),
    }
}

pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
    let [header, list, status, footer] = split(area);
    let root = app
        .root
        .as_ref()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut spans = vec![
        Span::styled("ckpt ", theme.accent()),
        Span::styled(format!("{} runs", app.runs.len()), theme.title()),
    ];
    if !root.is_empty() {
        spans.push(Span::raw(format!(" under {root}")));
    }
    if app.read_only {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled("READ-ONLY", theme.warn()));
    }
    Paragraph::new(Line::from(spans)).render(header, buf);

    let mut title = " runs ".to_string();
    if !app.filter.is_empty() {
        title.push_str(&format!("· filter \"{}\" ", app.filter));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(title, theme.title()));
    let inner = block.inner(list);
    block.render(list, buf);
    // Below 100 columns the layout column goes (the run's own header says it) and
    // the activity gets the room: whether the trainer lives matters more than a name's
    // last letters.
    let narrow = inner.width < 100;
    let widths = [
        Constraint::Fill(if narrow { 4 } else { 3 }),
        Constraint::Length(if narrow { 0 } else { 9 }),
        Constraint::Length(5),
        Constraint::Length(14),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Fill(if narrow { 5 } else { 2 }),
    ];
    // The table lays its columns out the same way: cut names to the real width, from
    // the left, so `…/runs/timm-basic` and `…/qa/timm-basic` stay distinguishable.
    let widths: Vec<Constraint> = widths
        .into_iter()
        .filter(|c| *c != Constraint::Length(0))
        .collect();
    let cols = Layout::horizontal(widths.clone()).spacing(1).split(inner);
    let name_w = cols[0].width as usize;
    let activity_w = cols[cols.len() - 1].width as usize;
    let view = app.list_view();
    let full_names: Vec<String> = view.iter().map(|&i| run_name(app, i)).collect();
    let names = fmt::fit_distinct(&full_names, name_w);
    let rows_h = (inner.height as usize).saturating_sub(1).max(1);
    let offset = app.list_selected.saturating_sub(rows_h - 1);
    let rows: Vec<Row> = view
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_h)
        .filter_map(|(pos, &i)| {
            let r = app.runs.get(i)?;
            let name = names.get(pos).cloned().unwrap_or_default();
            let snap = r.snapshot.as_ref();
            let best = snap
                .and_then(|s| s.with_role(Role::Best))
                .map(|c| format!("{} {}", fmt::label(c), fmt::metric(c)))
                .unwrap_or_else(|| "-".into());
            let last = snap
                .and_then(|s| s.with_role(Role::Last))
                .map(fmt::label)
                .or_else(|| {
                    snap.and_then(|s| s.last.as_ref())
                        .and_then(|a| a.epoch)
                        .map(|e| format!("e{e}"))
                })
                .unwrap_or_else(|| "-".into());
            let (layout, count, size) = match snap {
                Some(s) => (
                    s.layout.as_str().to_string(),
                    s.checkpoints.len().to_string(),
                    fmt::bytes(s.total_bytes()),
                ),
                None => ("?".into(), "-".into(), "-".into()),
            };
            // What the trainer does (the watch mode is in each run's own header).
            let last_save = snap.and_then(|s| s.checkpoints.iter().filter_map(|c| c.mtime).max());
            let age = last_save.map(|t| fmt::age(Some(t), app.now));
            let saved = |lead: &str| match &age {
                Some(a) => vec![
                    format!("{lead} · last save {a} ago"),
                    format!("{lead} · saved {a} ago"),
                    format!("{lead} {a}"),
                    lead.to_string(),
                ],
                None => vec![format!("{lead} · no save yet"), lead.to_string()],
            };
            let (act, overdue) = header::activity(app, r);
            let pid = r.trainer.as_ref().map(|t| t.pid).unwrap_or(0);
            let activity = match (&r.error, act) {
                (Some(e), _) if r.gone || !e.starts_with("waiting") => {
                    Span::styled(fmt::fit(e, activity_w), theme.error())
                }
                (_, _) if overdue.is_some() => {
                    Span::styled(longest_fitting(&saved("overdue"), activity_w), theme.warn())
                }
                (_, Activity::Alive) => Span::styled(
                    longest_fitting(
                        &[
                            format!(
                                "pid {pid} · cpu {:.0}%{}",
                                r.trainer.as_ref().map_or(0.0, |t| t.cpu_percent),
                                age.as_ref()
                                    .map(|a| format!(" · saved {a} ago"))
                                    .unwrap_or_default()
                            ),
                            format!(
                                "pid {pid} · cpu {:.0}%",
                                r.trainer.as_ref().map_or(0.0, |t| t.cpu_percent)
                            ),
                            format!("pid {pid}"),
                        ],
                        activity_w,
                    ),
                    theme.ok(),
                ),
                (_, Activity::Exited { ago, last_save }) => Span::styled(
                    longest_fitting(
                        &[
                            format!("pid {pid} {}", header::exited_text(ago, last_save)),
                            header::exited_text(ago, last_save),
                            match (ago, last_save) {
                                (None, Some(d)) => {
                                    format!("exited, saved {} ago", fmt::age_step(d))
                                }
                                _ => header::exited_text(ago, None),
                            },
                            "exited".into(),
                        ],
                        activity_w,
                    ),
                    theme.error(),
                ),
                (_, Activity::Stopped(ago)) => Span::styled(
                    longest_fitting(
                        &[
                            format!("pid {pid} {}", header::stopped_text(ago)),
                            header::stopped_text(ago),
                        ],
                        activity_w,
                    ),
                    theme.error(),
                ),
                (_, Activity::Remote(host)) => Span::styled(
                    longest_fitting(&saved(&format!("on {host}")), activity_w),
                    theme.dim(),
                ),
                (_, Activity::Looking) => Span::styled("…", theme.dim()),
                (_, Activity::NoTrainer) => Span::styled(
                    longest_fitting(&saved("no trainer"), activity_w),
                    theme.dim(),
                ),
            };
            let style = if pos == app.list_selected {
                theme.selected()
            } else {
                Style::new()
            };
            let mut cells = vec![Cell::from(name)];
            if !narrow {
                cells.push(Cell::from(layout));
            }
            cells.extend([
                Cell::from(Line::from(count).right_aligned()),
                Cell::from(Span::styled(best, theme.best())),
                Cell::from(last),
                Cell::from(Line::from(size).right_aligned()),
                Cell::from(activity),
            ]);
            Some(Row::new(cells).style(style))
        })
        .collect();
    let header_row = Row::new(
        ["run", "layout", "ckpts", "best", "last", "size", "activity"]
            .into_iter()
            .filter(|h| !(narrow && *h == "layout"))
            .map(|h| {
                // Numbers are right-aligned, so are their headers.
                let line = Line::from(Span::styled(h, theme.title()));
                Cell::from(if matches!(h, "ckpts" | "size") {
                    line.right_aligned()
                } else {
                    line
                })
            }),
    );
    Table::new(rows, widths)
        .header(header_row)
        .column_spacing(1)
        .render(inner, buf);
    super::status::render(app, status, buf, theme);
    super::footer::render(app, footer, buf, theme);
}
