//! History table. Virtualised: only the rows in the visible window are built, so a
//! 10,000-checkpoint run costs the same to draw as a 20-checkpoint one.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget};

use super::fmt;
use super::theme::Theme;
use crate::snapshot::{CheckpointState, Role};
use crate::tui::app::{role_name, state_name, App, RunEntry, SortKey};

/// A column: title, width, and drop priority (higher survives longer on narrow screens).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Mark,
    Epoch,
    Step,
    Metric,
    Rank,
    Size,
    Age,
    Roles,
    State,
}

impl Col {
    /// Title, width and drop priority (higher survives longer on narrow screens).
    fn spec(self) -> (&'static str, u16, u8) {
        match self {
            Col::Mark => ("", 1, 9),
            Col::Epoch => ("epoch", 6, 9),
            Col::Step => ("step", 7, 8),
            Col::Metric => ("metric", 9, 9),
            Col::Rank => ("rank", 4, 4),
            Col::Size => ("size", 8, 6),
            Col::Age => ("age", 4, 3),
            Col::Roles => ("roles", 13, 7),
            // Outranks everything but the key columns while a row is not ok.
            Col::State => ("state", 7, 8),
        }
    }

    /// Numbers are right-aligned, and so are their titles.
    fn numeric(self) -> bool {
        matches!(
            self,
            Col::Epoch | Col::Step | Col::Metric | Col::Rank | Col::Size | Col::Age
        )
    }
}

/// The columns that fit `width`: epoch/step only when the run has them, then the
/// least useful columns dropped until the rest fit — `state` first when every row is
/// ok (it says nothing then), else `age`, `rank`, `size`, `roles`.
fn columns(width: u16, has_epoch: bool, has_step: bool, all_ok: bool) -> Vec<Col> {
    let mut cols: Vec<Col> = [
        Col::Mark,
        Col::Epoch,
        Col::Step,
        Col::Metric,
        Col::Rank,
        Col::Size,
        Col::Age,
        Col::Roles,
        Col::State,
    ]
    .into_iter()
    .filter(|c| match c {
        Col::Epoch => has_epoch || !has_step,
        Col::Step => has_step,
        _ => true,
    })
    .collect();
    let priority = |c: Col| match c {
        Col::State if all_ok => 0,
        c => c.spec().2,
    };
    let need = |cols: &[Col]| -> u16 {
        cols.iter().map(|c| c.spec().1).sum::<u16>() + cols.len().saturating_sub(1) as u16
    };
    while need(&cols) > width && cols.len() > 2 {
        let Some((i, _)) = cols
            .iter()
            .enumerate()
            .min_by_key(|(i, c)| (priority(**c), std::cmp::Reverse(*i)))
        else {
            break;
        };
        cols.remove(i);
    }
    cols
}

/// Which column the sort key orders.
fn sorted_col(sort: SortKey) -> Col {
    match sort {
        SortKey::Epoch => Col::Epoch,
        SortKey::Metric => Col::Metric,
        SortKey::Size => Col::Size,
    }
}

pub(crate) fn render(
    app: &App,
    run: &RunEntry,
    area: Rect,
    boxed: bool,
    buf: &mut Buffer,
    theme: Theme,
) {
    if area.area() == 0 {
        return;
    }
    let total = run
        .snapshot
        .as_ref()
        .map(|s| s.checkpoints.len())
        .unwrap_or(0);
    let mut title = format!(
        " history {}/{} · sort {} ",
        run.view.len(),
        total,
        app.sort.as_str()
    );
    if !app.filter.is_empty() {
        title.push_str(&format!("· filter \"{}\" ", app.filter));
    }
    if !run.marked.is_empty() {
        title.push_str(&format!("· {} marked ", run.marked.len()));
    }
    if run.gone {
        title.push_str("· STALE: run directory is gone ");
    }
    let inner = if boxed {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(title, theme.title()));
        let inner = block.inner(area);
        block.render(area, buf);
        inner
    } else {
        area
    };
    let Some(snap) = run.snapshot.as_ref() else {
        let text = match &run.error {
            Some(e) if e.starts_with("waiting") => Line::from(Span::styled(e.clone(), theme.dim())),
            Some(e) => Line::from(Span::styled(e.clone(), theme.error())),
            None => Line::from(Span::styled("scanning…", theme.dim())),
        };
        Paragraph::new(text)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .render(inner, buf);
        return;
    };
    let rows_h = (inner.height as usize).saturating_sub(1);
    let has_epoch = snap.checkpoints.iter().any(|c| c.epoch.is_some());
    let has_step = snap.checkpoints.iter().any(|c| c.step.is_some());
    let all_ok = !run.gone
        && snap
            .checkpoints
            .iter()
            .all(|c| run.state_of(c) == CheckpointState::Complete);
    let cols = columns(inner.width, has_epoch, has_step, all_ok);
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|c| Constraint::Length(c.spec().1))
        .collect();
    // The sorted column's title carries the direction (S reverses it).
    let sorted = sorted_col(app.sort);
    let sorted = if sorted == Col::Epoch && !cols.contains(&Col::Epoch) {
        Col::Step
    } else {
        sorted
    };
    let header = Row::new(
        cols.iter()
            .map(|c| {
                let title = if *c == sorted {
                    format!("{}{}", c.spec().0, app.sort_arrow())
                } else {
                    c.spec().0.to_string()
                };
                let line = Line::from(Span::styled(title, theme.title()));
                Cell::from(if c.numeric() {
                    line.right_aligned()
                } else {
                    line
                })
            })
            .collect::<Vec<_>>(),
    );
    let end = (run.offset + rows_h).min(run.view.len());
    let start = run.offset.min(end);
    let rows: Vec<Row> = run.view[start..end]
        .iter()
        .enumerate()
        .filter_map(|(i, &idx)| {
            let c = snap.checkpoints.get(idx)?;
            let marked = run.marked.contains(&c.name);
            let mut roles: Vec<&str> = c.roles.iter().map(|r| role_name(*r)).collect();
            if c.pinned {
                roles.push("pin");
            }
            let state = run.state_of(c);
            let state_style = match state {
                _ if run.gone => theme.error(),
                CheckpointState::Complete => theme.dim(),
                CheckpointState::Writing => theme.warn(),
                CheckpointState::Damaged => theme.error(),
            };
            // The directory is gone: these rows are what was last seen, not what is.
            let state_text = if run.gone {
                "stale"
            } else {
                state_name(&state)
            };
            let base = if marked {
                theme.marked()
            } else if c.has_role(Role::Best) {
                theme.best()
            } else if c.has_role(Role::Last) {
                theme.last()
            } else {
                Style::new()
            };
            let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
            let right = |t: String| Cell::from(Line::from(t).right_aligned());
            let cells: Vec<Cell> = cols
                .iter()
                .map(|col| match col {
                    Col::Mark => Cell::from(if marked { "×" } else { " " }),
                    Col::Epoch => right(num(c.epoch)),
                    Col::Step => right(num(c.step)),
                    Col::Metric => right(fmt::metric(c)),
                    Col::Rank => right(
                        run.ranks
                            .get(idx)
                            .copied()
                            .flatten()
                            .map(|r| format!("#{r}"))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Col::Size => right(fmt::bytes(c.bytes)),
                    Col::Age => right(fmt::age(c.mtime, app.now)),
                    Col::Roles => Cell::from(roles.join(",")),
                    Col::State => Cell::from(Span::styled(state_text, state_style)),
                })
                .collect();
            let mut row = Row::new(cells).style(base);
            if start + i == run.selected {
                row = row.style(base.patch(theme.selected()));
            }
            Some(row)
        })
        .collect();
    if rows.is_empty() {
        let text = if total == 0 {
            "no checkpoints yet"
        } else {
            "no checkpoint matches the filter (Esc clears it)"
        };
        Table::new(Vec::<Row>::new(), widths)
            .header(header)
            .render(inner, buf);
        if inner.height > 1 {
            let r = Rect::new(inner.x, inner.y + 1, inner.width, 1);
            Paragraph::new(Span::styled(text, theme.dim())).render(r, buf);
        }
        return;
    }
    Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .render(inner, buf);
}
