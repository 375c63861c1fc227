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
use crate::tui::app::{role_name, state_name, App, RunEntry};

const WIDTHS: [Constraint; 10] = [
    Constraint::Length(1),
    Constraint::Length(6),
    Constraint::Length(7),
    Constraint::Length(10),
    Constraint::Length(4),
    Constraint::Length(9),
    Constraint::Length(5),
    Constraint::Length(9),
    Constraint::Length(3),
    Constraint::Length(8),
];

pub fn render(app: &App, run: &RunEntry, area: Rect, boxed: bool, buf: &mut Buffer, theme: Theme) {
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
            Some(e) => Line::from(Span::styled(e.clone(), theme.error())),
            None => Line::from(Span::styled("scanning…", theme.dim())),
        };
        Paragraph::new(text).render(inner, buf);
        return;
    };
    let rows_h = (inner.height as usize).saturating_sub(1);
    let header = Row::new(
        [
            "", "epoch", "step", "metric", "rank", "size", "age", "roles", "pin", "state",
        ]
        .map(|h| Cell::from(Span::styled(h, theme.title()))),
    );
    let end = (run.offset + rows_h).min(run.view.len());
    let start = run.offset.min(end);
    let rows: Vec<Row> = run.view[start..end]
        .iter()
        .enumerate()
        .filter_map(|(i, &idx)| {
            let c = snap.checkpoints.get(idx)?;
            let marked = run.marked.contains(&c.name);
            let roles: Vec<&str> = c
                .roles
                .iter()
                .map(|r| match r {
                    Role::Recovery => "recov",
                    Role::Milestone => "milest",
                    r => role_name(*r),
                })
                .collect();
            let state_style = match c.state {
                CheckpointState::Complete => theme.dim(),
                CheckpointState::Writing => theme.warn(),
                CheckpointState::Damaged => theme.error(),
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
            let cells = vec![
                Cell::from(if marked { "×" } else { " " }),
                Cell::from(Line::from(num(c.epoch)).right_aligned()),
                Cell::from(Line::from(num(c.step)).right_aligned()),
                Cell::from(Line::from(fmt::metric(c)).right_aligned()),
                Cell::from(
                    Line::from(
                        run.ranks
                            .get(idx)
                            .copied()
                            .flatten()
                            .map(|r| format!("#{r}"))
                            .unwrap_or_else(|| "-".into()),
                    )
                    .right_aligned(),
                ),
                Cell::from(Line::from(fmt::bytes(c.bytes)).right_aligned()),
                Cell::from(Line::from(fmt::age(c.mtime, app.now)).right_aligned()),
                Cell::from(roles.join(",")),
                Cell::from(if c.pinned { "pin" } else { "" }),
                Cell::from(Span::styled(state_name(&c.state), state_style)),
            ];
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
        Table::new(Vec::<Row>::new(), WIDTHS)
            .header(header)
            .render(inner, buf);
        if inner.height > 1 {
            let r = Rect::new(inner.x, inner.y + 1, inner.width, 1);
            Paragraph::new(Span::styled(text, theme.dim())).render(r, buf);
        }
        return;
    }
    Table::new(rows, WIDTHS)
        .header(header)
        .column_spacing(1)
        .render(inner, buf);
}
