//! Message overlay (`!`): the status line's full text, wrapped, so nothing cut at the
//! terminal's width is lost (long engine errors, every finding of the last verify).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::theme::Theme;
use crate::tui::app::App;

/// Rows `text` takes when word-wrapped at `width` columns (one spare row per wrapped
/// line: words pushed to the next row make it a little longer than chars / width).
pub(crate) fn wrapped_rows(text: &str, width: u16) -> u16 {
    let w = width.max(1) as usize;
    text.lines()
        .map(|l| {
            let n = l.chars().count().max(1);
            (n.div_ceil(w) + usize::from(n > w)) as u16
        })
        .sum()
}

pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
    let Some(text) = app.full_message() else {
        return;
    };
    let w = area.width.saturating_sub(4).clamp(20, 100);
    let h = wrapped_rows(&text, w.saturating_sub(2)) + 2;
    let h = h.min(area.height);
    let inner = super::popup(area, w, h, "message · Esc closes", buf, theme);
    let lines: Vec<Line> = text.lines().map(|l| Line::from(l.to_string())).collect();
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}
