//! Footer: key hints of the current mode, generated from the keymap.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::theme::Theme;
use crate::tui::app::App;
use crate::tui::keymap::{self, KeyMode};

pub fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
    let mode = app.key_mode();
    let mut spans = Vec::new();
    if mode == KeyMode::Filter {
        spans.push(Span::styled("/", theme.key()));
        spans.push(Span::raw(app.filter.clone()));
        spans.push(Span::styled("█", theme.dim()));
        spans.push(Span::raw("  "));
    }
    if app.read_only && matches!(mode, KeyMode::Run | KeyMode::RunList) {
        spans.push(Span::styled("read-only ", theme.warn()));
    }
    if matches!(mode, KeyMode::Run | KeyMode::RunList | KeyMode::Details) {
        spans.push(Span::styled("j/k", theme.key()));
        spans.push(Span::raw(" move "));
    }
    for (key, hint) in keymap::hints(mode, app.read_only) {
        spans.push(Span::styled(key, theme.key()));
        spans.push(Span::raw(format!(" {hint} ")));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}
