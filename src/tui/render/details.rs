//! Details overlay: everything known about the selected checkpoint.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::fmt;
use super::theme::Theme;
use crate::tui::app::{role_name, state_name, App};

pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer, theme: Theme) {
    let Some(run) = app.current() else { return };
    let Some(c) = run.selected_checkpoint() else {
        return;
    };
    let kv = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<9}"), theme.title()),
            Span::raw(v),
        ])
    };
    let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let mut lines = vec![
        kv("name", c.name.clone()),
        kv("epoch", num(c.epoch)),
        kv("step", num(c.step)),
        kv("metric", fmt::metric(c)),
        kv(
            "size",
            format!("{} ({} bytes)", fmt::bytes(c.bytes), fmt::exact(c.bytes)),
        ),
        kv(
            "saved",
            c.mtime
                .map(|t| {
                    format!(
                        "{} ({} ago)",
                        t.format("%Y-%m-%d %H:%M:%S UTC"),
                        fmt::age(Some(t), app.now)
                    )
                })
                .unwrap_or_else(|| "-".into()),
        ),
        kv(
            "roles",
            c.roles
                .iter()
                .map(|r| role_name(*r))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        kv("pinned", if c.pinned { "yes".into() } else { "no".into() }),
        kv("state", state_name(&run.state_of(c)).to_string()),
    ];
    if let Some(d) = run.damage_of(c) {
        lines.push(Line::from(Span::styled(
            format!("damage   {d}"),
            theme.error(),
        )));
    }
    if let Some(h) = &c.hash {
        lines.push(kv("hash", h.clone()));
    }
    for (k, v) in &c.metrics {
        lines.push(kv("", format!("{k} = {}", fmt::metric_value(*v))));
    }
    lines.push(Line::from(Span::styled("files", theme.title())));
    for p in &c.paths {
        lines.push(Line::from(format!("  {}", p.display())));
    }
    // Long reasons and paths wrap: count the rows they take at the popup's width.
    let w = 76.min(area.width);
    let rows = |l: &Line| {
        let n = l.width().max(1);
        let iw = w.saturating_sub(2).max(1) as usize;
        (n.div_ceil(iw) + usize::from(n > iw)) as u16
    };
    let h = lines.iter().map(rows).sum::<u16>() + 2;
    let inner = super::popup(area, w, h, "checkpoint · Esc closes", buf, theme);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}
