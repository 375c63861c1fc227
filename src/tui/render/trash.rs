//! The trash view (`t`): what the run keeps in `.ckpt/trash/` — restore backups,
//! archived newer checkpoints, a replaced only-copy best — with its bytes, and the keys
//! to bring one back (`r`) or empty it (`x`), both planned and confirmed.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Widget, Wrap};

use super::fmt;
use super::theme::Theme;
use crate::tui::app::{App, RunEntry};

/// The area the trash list takes on a screen of `area` (between header and status).
pub(crate) fn list_area(area: Rect) -> Rect {
    let a = super::areas(area);
    Rect::new(
        area.x,
        a.header.bottom(),
        area.width,
        a.status.y.saturating_sub(a.header.bottom()),
    )
}

pub(crate) fn render(app: &App, run: &RunEntry, area: Rect, buf: &mut Buffer, theme: Theme) {
    if area.area() == 0 {
        return;
    }
    let t = &run.trash;
    let mut title = " trash ".to_string();
    if let Some(l) = &t.listing {
        title.push_str(&format!(
            "· {} item{} · {} · emptying frees {} ",
            l.entries.len(),
            if l.entries.len() == 1 { "" } else { "s" },
            fmt::bytes(l.bytes),
            fmt::bytes(l.reclaimable)
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(title, theme.title()));
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(listing) = &t.listing else {
        let text = match &t.error {
            Some(e) => Span::styled(e.clone(), theme.error()),
            None => Span::styled("listing .ckpt/trash/…", theme.dim()),
        };
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    };
    let step_named = listing
        .entries
        .iter()
        .all(|e| e.epoch.is_none() && e.step.is_some());
    let mut notes: Vec<Line> = Vec::new();
    if let Some(e) = &t.error {
        notes.push(Line::from(Span::styled(e.clone(), theme.error())));
    }
    if !listing.missing.is_empty() {
        notes.push(Line::from(Span::styled(
            format!(
                "{} record(s) of trash files deleted by hand (not damage; emptying drops them)",
                listing.missing.len()
            ),
            theme.dim(),
        )));
    }
    for w in &listing.warnings {
        notes.push(Line::from(Span::styled(
            format!("warning: {w}"),
            theme.warn(),
        )));
    }
    let notes_h = (notes.len() as u16).min(inner.height.saturating_sub(2));
    let table_area = Rect::new(
        inner.x,
        inner.y,
        inner.width,
        inner.height.saturating_sub(notes_h),
    );
    if notes_h > 0 {
        let r = Rect::new(inner.x, table_area.bottom(), inner.width, notes_h);
        Paragraph::new(notes).render(r, buf);
    }
    if listing.entries.is_empty() {
        Paragraph::new(vec![
            Line::from(Span::styled("the trash is empty", theme.dim())),
            Line::from(Span::styled(
                "restore keeps an only-copy last here; `a` in the restore dialog archives newer checkpoints here",
                theme.dim(),
            )),
        ])
        .wrap(Wrap { trim: true })
        .render(table_area, buf);
        return;
    }
    let unit = if step_named { "step" } else { "epoch" };
    // Narrow screens keep the number, size, age and name; origin and metric need room.
    let wide = table_area.width >= 100;
    let title = |t: &'static str, right: bool| {
        let l = Line::from(Span::styled(t, theme.title()));
        Cell::from(if right { l.right_aligned() } else { l })
    };
    let mut header = vec![title(unit, true)];
    let mut widths = vec![Constraint::Length(6)];
    if wide {
        header.push(title("metric", true));
        widths.push(Constraint::Length(9));
    }
    header.extend([title("size", true), title("age", true)]);
    widths.extend([Constraint::Length(9), Constraint::Length(4)]);
    header.push(title("name in .ckpt/trash/", false));
    widths.push(Constraint::Fill(1));
    if wide {
        header.push(title("how it got here", false));
        widths.push(Constraint::Length(24));
    }
    let header = Row::new(header);
    let rows_h = (table_area.height as usize).saturating_sub(1).max(1);
    let fixed: u16 = if wide {
        6 + 9 + 9 + 4 + 24 + 5
    } else {
        6 + 9 + 4 + 3
    };
    let name_w = table_area.width.saturating_sub(fixed).max(8) as usize;
    let offset = t.selected.saturating_sub(rows_h - 1);
    let right = |s: String| Cell::from(Line::from(s).right_aligned());
    let rows: Vec<Row> = listing
        .entries
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_h)
        .map(|(i, e)| {
            let n = if step_named {
                e.step
            } else {
                e.epoch.or(e.step)
            };
            let mut cells = vec![right(
                n.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            )];
            if wide {
                cells.push(right(
                    e.metric
                        .map(fmt::metric_value)
                        .unwrap_or_else(|| "-".into()),
                ));
            }
            cells.extend([
                right(fmt::bytes(e.bytes)),
                right(fmt::age(e.trashed_at, app.now)),
                Cell::from(fmt::fit_left(&e.name, name_w)),
            ]);
            if wide {
                cells.push(Cell::from(e.origin.as_str()));
            }
            let row = Row::new(cells);
            if i == t.selected {
                row.style(theme.selected())
            } else {
                row.style(Style::new())
            }
        })
        .collect();
    Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .render(table_area, buf);
}
