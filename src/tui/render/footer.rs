//! Footer: key hints of the current mode, generated from the keymap.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::theme::Theme;
use crate::tui::app::App;
use crate::tui::keymap::{self, KeyMode};

pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
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
    let wide = area.width >= 100;
    if wide && matches!(mode, KeyMode::Run | KeyMode::RunList | KeyMode::Details) {
        spans.push(Span::styled("j/k", theme.key()));
        spans.push(Span::raw(" move "));
    }
    // Fit the hints by priority (help and quit always, since help lists everything;
    // then the actions, Enter and `/`), then show them in the keymap's order. When some
    // do not fit, the help hint says that it has the rest.
    let mut hints = keymap::hints_where(mode, app.read_only, |a| app.offers(a));
    let priority = |h: &str| match h {
        "help" | "all keys" | "quit" => 0,
        "promote" | "restore" | "pin" | "mark" | "prune" | "verify" | "yes" | "no" | "open"
        | "details" | "filter" | "apply" | "archive newer" | "empty" => 1,
        _ => 2,
    };
    let cost = |(k, h): &(String, &str)| k.chars().count() + h.len() + 2;
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let width = (area.width as usize).saturating_sub(used);
    if hints.iter().map(cost).sum::<usize>() > width {
        for h in &mut hints {
            if h.1 == "help" {
                h.1 = "all keys";
            }
        }
    }
    let mut budget = width;
    let mut keep = vec![false; hints.len()];
    for p in 0..3 {
        for (i, h) in hints.iter().enumerate() {
            if priority(h.1) == p && cost(h) <= budget {
                budget -= cost(h);
                keep[i] = true;
            }
        }
    }
    for ((key, hint), _) in hints.iter().zip(&keep).filter(|(_, k)| **k) {
        spans.push(Span::styled(key.clone(), theme.key()));
        spans.push(Span::raw(format!(" {hint} ")));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}
