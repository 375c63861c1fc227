//! Status line: a running action's progress, else the last result or error, else
//! scan problems and warnings.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Widget};

use super::fmt;
use super::theme::Theme;
use crate::tui::app::{App, Level};

/// Fit one status text to `width`: cut with "…" and say where the rest is.
fn cut(text: &str, width: u16) -> String {
    const MORE: &str = " (! shows all)";
    let w = width as usize;
    // Several lines (a list) never fit one row: show the first and point at the rest.
    let first = text.lines().next().unwrap_or_default();
    if text.chars().count() <= w && first.len() == text.len() {
        return text.to_string();
    }
    if w <= MORE.len() + 8 {
        return fmt::fit(first, w);
    }
    format!("{}{MORE}", fmt::fit(first, w - MORE.len()))
}

pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
    let span = if let Some(b) = &app.busy {
        let p = b.progress.as_ref().map(|p| {
            let pct = if p.total > 0 {
                (p.done as f64 / p.total as f64 * 100.0).min(100.0)
            } else {
                0.0
            };
            format!(
                " {} {pct:.0}% ({} / {})",
                p.what,
                fmt::bytes(p.done),
                fmt::bytes(p.total)
            )
        });
        Span::styled(
            format!("⟳ {}{}", b.label, p.unwrap_or_default()),
            theme.warn(),
        )
    } else if let Some(run) = app.current().filter(|r| r.gone) {
        let text = format!(
            "{} · rows are stale until it is back",
            crate::tui::app::gone_text(&run.path)
        );
        Span::styled(cut(&text, area.width), theme.error())
    } else if let Some(s) = &app.status {
        let style = match s.level {
            Level::Info => theme.dim(),
            Level::Ok => theme.ok(),
            Level::Warn => theme.warn(),
            Level::Error => theme.error(),
        };
        let prefix = match s.level {
            Level::Error => "error: ",
            _ => "",
        };
        Span::styled(cut(&format!("{prefix}{}", s.text), area.width), style)
    } else if let Some(run) = app.current() {
        if let Some(e) = run.error.as_ref().filter(|e| !e.starts_with("waiting")) {
            Span::styled(cut(&format!("scan failed: {e}"), area.width), theme.error())
        } else if let Some(w) = run.snapshot.as_ref().and_then(|s| s.warnings.first()) {
            let n = run.snapshot.as_ref().map(|s| s.warnings.len()).unwrap_or(0);
            let more = if n > 1 {
                format!(" (+{} more)", n - 1)
            } else {
                String::new()
            };
            Span::styled(
                cut(&format!("warning: {w}{more}"), area.width),
                theme.warn(),
            )
        } else {
            Span::raw("")
        }
    } else {
        Span::raw("")
    };
    Paragraph::new(span).render(area, buf);
}
