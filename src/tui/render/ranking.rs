//! Top-k ranking by the run's metric.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use super::fmt;
use super::theme::Theme;
use crate::snapshot::Role;
use crate::tui::app::RunEntry;

pub(crate) fn render(run: &RunEntry, area: Rect, buf: &mut Buffer, theme: Theme) {
    let mode = run.mode();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Span::styled(
            format!(
                " top-k ({} is better) ",
                if mode.as_str() == "max" {
                    "higher"
                } else {
                    "lower"
                }
            ),
            theme.title(),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(snap) = run.snapshot.as_ref() else {
        return;
    };
    let ranking = run.ranking();
    if ranking.is_empty() {
        Paragraph::new(Span::styled("no ranked checkpoints", theme.dim())).render(inner, buf);
        return;
    }
    let lines: Vec<Line> = ranking
        .iter()
        .take(inner.height as usize)
        .enumerate()
        .filter_map(|(r, &i)| {
            let c = snap.checkpoints.get(i)?;
            let style = if c.has_role(Role::Best) {
                theme.best()
            } else {
                Style::new()
            };
            let mut tags = Vec::new();
            if c.has_role(Role::Best) {
                tags.push("best");
            }
            if c.has_role(Role::Last) {
                tags.push("last");
            }
            if c.pinned {
                tags.push("pin");
            }
            Some(Line::from(vec![
                Span::styled(format!("#{:<2} ", r + 1), theme.dim()),
                Span::styled(
                    format!("{:>6} {:>9}  ", fmt::label(c), fmt::metric(c)),
                    style,
                ),
                Span::styled(fmt::bytes(c.bytes), theme.dim()),
                Span::raw(if tags.is_empty() {
                    String::new()
                } else {
                    format!("  {}", tags.join(","))
                }),
            ]))
        })
        .collect();
    Paragraph::new(lines).render(inner, buf);
}
