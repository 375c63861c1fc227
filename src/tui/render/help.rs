//! Help overlay, generated from the keymap (the same table that dispatches keys).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::theme::Theme;
use crate::tui::app::{App, Screen};
use crate::tui::keymap::{help_lines, KeyMode};

pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
    let mut sections = vec![];
    match app.screen {
        Screen::Run(_) => sections.push(("Run", KeyMode::Run)),
        Screen::Trash(_) => sections.push(("Trash", KeyMode::Trash)),
        Screen::RunList => sections.push(("Run list", KeyMode::RunList)),
    }
    sections.push(("Filter input", KeyMode::Filter));
    sections.push(("Confirm dialog", KeyMode::Confirm));
    let mut lines: Vec<Line> = Vec::new();
    if app.read_only {
        lines.push(Line::from(Span::styled(
            "read-only: promote, restore, pin, mark and prune are disabled",
            theme.warn(),
        )));
    }
    for (title, mode) in sections {
        lines.push(Line::from(Span::styled(title, theme.title())));
        for (keys, help, disabled) in help_lines(mode, app.read_only) {
            let style = if disabled { theme.dim() } else { theme.key() };
            let mut text = help.to_string();
            if disabled {
                text.push_str(" (read-only)");
            }
            lines.push(Line::from(vec![
                Span::styled(format!(" {keys:<12} "), style),
                Span::raw(text),
            ]));
        }
    }
    let h = lines.len() as u16 + 2;
    if h <= area.height || area.width < 60 {
        let inner = super::popup(area, 78, h, "help · ? or Esc closes", buf, theme);
        Paragraph::new(lines).render(inner, buf);
        return;
    }
    // Too tall: two columns, descriptions cut to fit.
    let half = lines.len().div_ceil(2);
    let right: Vec<Line> = lines.split_off(half);
    let inner = super::popup(
        area,
        area.width,
        half as u16 + 2,
        "help · ? or Esc closes",
        buf,
        theme,
    );
    let cols = ratatui::layout::Layout::horizontal([
        ratatui::layout::Constraint::Fill(1),
        ratatui::layout::Constraint::Fill(1),
    ])
    .spacing(1)
    .areas::<2>(inner);
    Paragraph::new(lines).render(cols[0], buf);
    Paragraph::new(right).render(cols[1], buf);
}
