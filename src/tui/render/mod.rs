//! Rendering: a pure function of `&App` into a buffer. One file per pane (trippy-style)
//! so you know where a pixel comes from; `layout` decides which panes fit the size.

pub mod chart;
mod confirm;
mod details;
mod disk;
pub mod fmt;
mod footer;
mod header;
mod help;
mod message;
mod ranking;
mod runs;
mod status;
mod table;
pub(crate) mod theme;
mod trash;

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Borders, Clear, Widget};

use super::app::{App, Overlay, Screen};
use theme::Theme;

/// Where each pane goes for a given size.
#[derive(Debug, Clone, Copy, Default)]
pub struct Areas {
    pub header: Rect,
    /// Compact only: one line with best and last.
    pub summary: Rect,
    /// Compact only: one line with the metric's trend (sparkline).
    pub spark: Rect,
    pub table: Rect,
    pub chart: Rect,
    pub ranking: Rect,
    pub disk: Rect,
    pub status: Rect,
    pub footer: Rect,
    /// True when the table has a border (full layout).
    pub boxed: bool,
}

/// True when every pane fits.
pub(crate) fn is_full(area: Rect) -> bool {
    area.width >= 100 && area.height >= 30
}

/// Split the screen for the run view.
pub fn areas(area: Rect) -> Areas {
    let full = is_full(area);
    let [header, middle, status, footer] = Layout::vertical([
        Constraint::Length(if area.height >= 12 { 2 } else { 1 }),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    if full {
        let right_w = (area.width * 2 / 5).clamp(40, 64);
        let [table, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(right_w)]).areas(middle);
        let [chart, ranking, disk] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(7),
            Constraint::Length(7),
        ])
        .areas(right);
        Areas {
            header,
            summary: Rect::default(),
            spark: Rect::default(),
            table,
            chart,
            ranking,
            disk,
            status,
            footer,
            boxed: true,
        }
    } else {
        let lines = if middle.height >= 6 { 1 } else { 0 };
        let spark_lines = if middle.height >= 10 { 1 } else { 0 };
        let [summary, spark, disk, table] = Layout::vertical([
            Constraint::Length(lines),
            Constraint::Length(spark_lines),
            Constraint::Length(lines),
            Constraint::Fill(1),
        ])
        .areas(middle);
        Areas {
            header,
            summary,
            spark,
            table,
            chart: Rect::default(),
            ranking: Rect::default(),
            disk,
            status,
            footer,
            boxed: false,
        }
    }
}

/// Rows of data the table (or run list) shows at the app's terminal size.
pub fn table_rows(app: &App) -> usize {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    let a = areas(area);
    let chrome = if a.boxed { 3 } else { 1 };
    let t = match app.screen {
        Screen::Run(_) => a.table,
        Screen::Trash(_) => trash::list_area(area),
        Screen::RunList => runs::list_area(area),
    };
    (t.height as usize).saturating_sub(chrome).max(1)
}

/// Draw the whole monitor from `&App` into `buf`.
pub fn draw(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme { color: app.color };
    Clear.render(area, buf);
    match app.screen {
        Screen::RunList => runs::render(app, area, buf, theme),
        Screen::Trash(i) => {
            let Some(run) = app.runs.get(i) else { return };
            let a = areas(area);
            header::render(app, run, a.header, buf, theme);
            let body = Rect::new(
                area.x,
                a.header.bottom(),
                area.width,
                a.status.y.saturating_sub(a.header.bottom()),
            );
            trash::render(app, run, body, buf, theme);
            status::render(app, a.status, buf, theme);
            footer::render(app, a.footer, buf, theme);
        }
        Screen::Run(i) => {
            let Some(run) = app.runs.get(i) else { return };
            let a = areas(area);
            header::render(app, run, a.header, buf, theme);
            if a.summary.height > 0 {
                header::render_summary(app, run, a.summary, buf, theme);
            }
            if a.spark.height > 0 {
                chart::render_sparkline(run, a.spark, buf, theme);
            }
            table::render(app, run, a.table, a.boxed, buf, theme);
            if a.chart.area() > 0 {
                chart::render(run, a.chart, buf, theme);
            }
            if a.ranking.area() > 0 {
                ranking::render(run, a.ranking, buf, theme);
            }
            if a.disk.area() > 0 {
                disk::render(app, run, a.disk, a.boxed, buf, theme);
            }
            status::render(app, a.status, buf, theme);
            footer::render(app, a.footer, buf, theme);
        }
    }
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help => help::render(app, area, buf, theme),
        Overlay::Details => details::render(app, area, buf, theme),
        Overlay::Message => message::render(app, area, buf, theme),
        Overlay::Confirm(c) => {
            let snap = app
                .runs
                .iter()
                .find(|r| r.path == c.run)
                .and_then(|r| r.snapshot.as_ref());
            confirm::render(c, snap, area, buf, theme)
        }
    }
}

/// A centred popup of at most `w`×`h`, cleared, with a titled border; returns the inner area.
pub(crate) fn popup(
    area: Rect,
    w: u16,
    h: u16,
    title: &str,
    buf: &mut Buffer,
    theme: Theme,
) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(r, buf);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(ratatui::text::Span::styled(
            format!(" {title} "),
            theme.title(),
        ));
    let inner = block.inner(r);
    block.render(r, buf);
    inner
}

/// Drawn for the one frame where the terminal size changed under us; the resize
/// message that follows brings a proper frame.
pub(crate) fn draw_fallback(area: Rect, buf: &mut Buffer) {
    Clear.render(area, buf);
}
