//! Disk headroom: free/total, checkpoint bytes, "~N more checkpoints fit", time to
//! full at the observed save rate, and a warning when the next save would not fit.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use super::fmt;
use super::theme::Theme;
use crate::tui::app::{growth, projection, App, Growth, RunEntry};

/// `text` broken into lines of at most `width` characters at spaces (a word longer
/// than a line is cut); a figure keeps its unit ("2.3 MiB") on its line.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut words: Vec<String> = Vec::new();
    for w in text.split(' ') {
        match words.last_mut() {
            Some(prev) if crate::units::UNITS.contains(&w.trim_end_matches(',')) => {
                prev.push(' ');
                prev.push_str(w);
            }
            _ => words.push(w.to_string()),
        }
    }
    for word in &words {
        let need = cur.chars().count() + usize::from(!cur.is_empty()) + word.chars().count();
        if !cur.is_empty() && need > width {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|l| fmt::fit(&l, width)).collect()
}

fn bar(used_frac: f64, width: usize) -> String {
    let filled = ((used_frac.clamp(0.0, 1.0)) * width as f64).round() as usize;
    let mut s = "█".repeat(filled.min(width));
    s.push_str(&"░".repeat(width - filled.min(width)));
    s
}

pub(crate) fn render(
    _app: &App,
    run: &RunEntry,
    area: Rect,
    boxed: bool,
    buf: &mut Buffer,
    theme: Theme,
) {
    let inner = if boxed {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(theme.border())
            .title(Span::styled(" disk ", theme.title()));
        let inner = block.inner(area);
        block.render(area, buf);
        inner
    } else {
        area
    };
    let Some(h) = run.headroom.as_ref() else {
        Paragraph::new(Span::styled("disk: measuring…", theme.dim())).render(inner, buf);
        return;
    };
    // As df: used / (used + available); root's reserved blocks are neither.
    let used = h.used_fraction();
    let proj = run
        .snapshot
        .as_ref()
        .and_then(|s| projection(s, h, growth(&run.sizes)));
    let ckpt_bytes = run.snapshot.as_ref().map(|s| s.total_bytes()).unwrap_or(0);
    let trash_bytes = run.snapshot.as_ref().map(|s| s.trash_bytes).unwrap_or(0);
    let bar_style = if proj.as_ref().is_some_and(|p| p.warn) || used > 0.95 {
        theme.error()
    } else if used > 0.85 {
        theme.warn()
    } else {
        theme.ok()
    };
    let fits = proj
        .as_ref()
        .map(|p| format!("~{} more checkpoints fit", fmt::approx_count(p.fits)));
    let full = proj.as_ref().map(|p| match (p.growth, p.full_in) {
        (Growth::Rate(r), Some(d)) => format!(
            "full in ~{} · run +{}/h",
            fmt::long_duration(d),
            fmt::bytes((r * 3600.0) as u64)
        ),
        (Growth::Steady, _) => "run size steady: not filling the disk".to_string(),
        // The rate needs saves seen growing the run (a finished run never has them).
        _ => "time to full: no growth seen yet".to_string(),
    });
    let warn = proj.as_ref().filter(|p| p.warn).map(|p| {
        format!(
            "⚠ next save would not fit: needs ~{}, {} free",
            fmt::bytes(p.next_size),
            fmt::bytes(h.available)
        )
    });
    if !boxed {
        let width = inner.width as usize;
        let bw = (width / 6).clamp(4, 12);
        let free_of = format!(
            " {} free of {}",
            fmt::bytes(h.available),
            fmt::bytes(h.total)
        );
        let free = format!(" {} free", fmt::bytes(h.available));
        let base = |bar_w: usize, free: &str| -> Vec<Span<'static>> {
            let mut s = vec![Span::styled("disk ", theme.title())];
            if bar_w > 0 {
                s.push(Span::styled(bar(used, bar_w), bar_style));
            }
            s.push(Span::raw(free.to_string()));
            s
        };
        let mut spans = base(bw, &free_of);
        // Whole segments only: one that does not fit is dropped, never cut mid-phrase.
        let mut segs: Vec<Vec<Span>> = Vec::new();
        if let Some(w) = warn {
            // The warning matters most and is never cut: the other text gives way first
            // (the total, then the bar), then the warning's short form.
            let short = format!("⚠ next save won't fit ({} free)", fmt::bytes(h.available));
            let shortest = "⚠ next save won't fit".to_string();
            let width_of = |s: &[Span]| s.iter().map(Span::width).sum::<usize>();
            let mut chosen = None;
            'pick: for text in [&w, &short, &shortest] {
                for b in [
                    base(bw, &free_of),
                    base(4, &free_of),
                    base(4, &free),
                    base(0, &free),
                ] {
                    if width_of(&b) + 3 + text.chars().count() <= width {
                        chosen = Some((b, text.clone()));
                        break 'pick;
                    }
                }
            }
            let (b, text) = chosen.unwrap_or_else(|| (Vec::new(), fmt::fit(&shortest, width)));
            let lead = if b.is_empty() { "" } else { " · " };
            spans = b;
            segs.push(vec![Span::raw(lead), Span::styled(text, theme.error())]);
        } else {
            if let Some(p) = &proj {
                segs.push(vec![Span::raw(format!(
                    " · ~{} more fit",
                    fmt::approx_count(p.fits)
                ))]);
            }
            match proj.as_ref().map(|p| (p.growth, p.full_in)) {
                Some((Growth::Rate(_), Some(d))) => segs.push(vec![Span::raw(format!(
                    " · full ~{}",
                    fmt::long_duration(d)
                ))]),
                Some((Growth::Steady, _)) => segs.push(vec![Span::raw(" · run size steady")]),
                _ => {}
            }
        }
        if trash_bytes > 0 {
            segs.push(vec![Span::raw(format!(
                " · trash {}",
                fmt::bytes(trash_bytes)
            ))]);
        }
        let mut used_w: usize = spans.iter().map(Span::width).sum();
        for seg in segs {
            let w: usize = seg.iter().map(Span::width).sum();
            if used_w + w <= inner.width as usize {
                used_w += w;
                spans.extend(seg);
            }
        }
        Paragraph::new(Line::from(spans)).render(inner, buf);
        return;
    }
    let bw = (inner.width as usize).saturating_sub(12).max(1);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(bar(used, bw), bar_style),
            Span::raw(format!(" {:>3}% used", h.used_percent())),
        ]),
        Line::from(format!(
            "free {} of {} · {}",
            fmt::bytes(h.available),
            fmt::bytes(h.total),
            h.fs_type
        )),
        {
            // The trash is part of the run's disk use (t shows what is there); the
            // next save's size gives way first when the line is too long.
            let trash = if trash_bytes > 0 {
                format!(" · trash {}", fmt::bytes(trash_bytes))
            } else {
                String::new()
            };
            let next = proj
                .as_ref()
                .map(|p| format!(" · next ~{}", fmt::bytes(p.next_size)))
                .unwrap_or_default();
            let full = format!("checkpoints {}{trash}{next}", fmt::bytes(ckpt_bytes));
            if full.chars().count() <= inner.width as usize {
                Line::from(full)
            } else {
                Line::from(format!("checkpoints {}{trash}", fmt::bytes(ckpt_bytes)))
            }
        },
    ];
    if let Some(w) = warn {
        // Right under the gauge, wrapped by words: never cut, by width or by a short
        // pane (the lines below it give way first).
        let wrapped = wrap_words(&w, inner.width as usize);
        for (i, l) in wrapped.into_iter().enumerate() {
            lines.insert(1 + i, Line::from(Span::styled(l, theme.error())));
        }
    } else if let Some(f) = fits {
        lines.push(Line::from(f));
    }
    lines.push(Line::from(Span::styled(
        full.unwrap_or_else(|| "time to full: no checkpoint yet".into()),
        theme.dim(),
    )));
    Paragraph::new(lines).render(inner, buf);
}
