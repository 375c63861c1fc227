//! Metric over the whole run (every epoch or step it has seen, pruned saves included),
//! with the checkpoints that still exist, the best and the last marked; and the
//! one-line sparkline of the same history for the compact view.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

use super::fmt;
use super::theme::Theme;
use crate::snapshot::{Checkpoint, CheckpointState, Role, RunSnapshot};
use crate::tui::app::RunEntry;

/// What the chart and the sparkline draw, computed from one snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The metric over the whole run, ascending x (epoch, else step).
    pub history: Vec<(f64, f64)>,
    /// Checkpoints that still exist (finite metric, not recovery saves).
    pub kept: Vec<(f64, f64)>,
    /// "epoch" or "step": what x counts.
    pub unit: &'static str,
}

fn x_of(c: &Checkpoint) -> Option<f64> {
    c.epoch.or(c.step).map(|v| v as f64)
}

/// The chart's data for a run.
pub(crate) fn series(snap: &RunSnapshot) -> Series {
    let history: Vec<(f64, f64)> = snap
        .metric_history()
        .iter()
        .filter_map(|p| Some((p.x()? as f64, p.value)))
        .collect();
    let kept = snap
        .checkpoints
        .iter()
        .filter(|c| !c.has_role(Role::Recovery) && c.state != CheckpointState::Writing)
        .filter_map(|c| Some((x_of(c)?, c.finite_metric()?)))
        .collect();
    let by_step = snap.checkpoints.iter().all(|c| c.epoch.is_none())
        && snap.history.iter().all(|p| p.epoch.is_none());
    Series {
        history,
        kept,
        unit: if by_step { "step" } else { "epoch" },
    }
}

/// At most `budget` points, keeping each bucket's lowest and highest value (in x
/// order), so that a spike survives downsampling; the last point always stays.
pub fn downsample(points: &[(f64, f64)], budget: usize) -> Vec<(f64, f64)> {
    let budget = budget.max(2);
    if points.len() <= budget {
        return points.to_vec();
    }
    let size = points.len().div_ceil(budget / 2);
    let mut out = Vec::with_capacity(budget + 1);
    for chunk in points.chunks(size) {
        let lo = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, _)| i);
        let hi = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
            .map(|(i, _)| i);
        let (Some(lo), Some(hi)) = (lo, hi) else {
            continue;
        };
        out.push(chunk[lo.min(hi)]);
        if lo != hi {
            out.push(chunk[lo.max(hi)]);
        }
    }
    if let (Some(l), Some(p)) = (points.last(), out.last()) {
        if l != p {
            out.push(*l);
        }
    }
    out
}

/// Axis bounds and labels for values `lo..=hi`: a flat series or a single point sits in
/// the middle of a range around it, labelled once, instead of on an edge of `x..x+1`.
fn axis(lo: f64, hi: f64, pad_frac: f64, integer: bool) -> ([f64; 2], Vec<String>) {
    let label = |v: f64| {
        if integer {
            format!("{}", v.round() as i64)
        } else {
            fmt::metric_value(v)
        }
    };
    if hi > lo {
        let pad = (hi - lo) * pad_frac;
        return ([lo - pad, hi + pad], vec![label(lo), label(hi)]);
    }
    let half = if integer || lo == 0.0 {
        1.0
    } else {
        lo.abs() * 0.1
    };
    (
        [lo - half, lo + half],
        vec![String::new(), label(lo), String::new()],
    )
}

pub(crate) fn render(run: &RunEntry, area: Rect, buf: &mut Buffer, theme: Theme) {
    let Some(snap) = run.snapshot.as_ref() else {
        return;
    };
    let name = snap
        .metric
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "metric".into());
    let s = &run.series;
    let mark = |role: Role| {
        snap.with_role(role)
            .and_then(|c| Some((x_of(c)?, c.finite_metric()?, fmt::label(c))))
    };
    let best = mark(Role::Best);
    let last = mark(Role::Last);
    let mut title = vec![Span::styled(format!(" {name} "), theme.title())];
    if let Some((_, v, l)) = &best {
        title.push(Span::styled(
            format!("● best {l} {} ", fmt::metric_value(*v)),
            theme.best(),
        ));
    }
    if let Some((_, v, l)) = &last {
        title.push(Span::styled(
            format!("◆ last {l} {} ", fmt::metric_value(*v)),
            theme.last(),
        ));
    }
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Line::from(title));
    if s.history.is_empty() {
        let inner = block.inner(area);
        block.render(area, buf);
        Paragraph::new(Span::styled("no metric values yet", theme.dim())).render(inner, buf);
        return;
    }
    let pruned = s.history.len().saturating_sub(s.kept.len());
    let legend = if pruned > 0 {
        format!(
            " {} {}s · • {} on disk ",
            s.history.len(),
            s.unit,
            s.kept.len()
        )
    } else {
        format!(" • {} on disk ", s.kept.len())
    };
    block = block.title_bottom(Line::from(Span::styled(legend, theme.dim())).right_aligned());
    // About two points per column (braille gives 2 dots per cell).
    let line = downsample(&s.history, area.width as usize * 2);
    // One dot per cell at most: more would overdraw the same cells.
    let kept = downsample(&s.kept, area.width as usize);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in s.history.iter().chain(&s.kept) {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let (xb, xl) = axis(x0, x1, 0.0, true);
    let (yb, yl) = axis(y0, y1, 0.05, false);
    let best_pt = best.map(|(x, y, _)| [(x, y)]);
    let last_pt = last.map(|(x, y, _)| [(x, y)]);
    let mut datasets = vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(if line.len() == 1 {
            GraphType::Scatter
        } else {
            GraphType::Line
        })
        .style(theme.accent())
        .data(&line)];
    datasets.push(
        Dataset::default()
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(theme.title())
            .data(&kept),
    );
    if let Some(p) = &last_pt {
        datasets.push(
            Dataset::default()
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(theme.last())
                .data(p),
        );
    }
    if let Some(p) = &best_pt {
        datasets.push(
            Dataset::default()
                .marker(Marker::Block)
                .graph_type(GraphType::Scatter)
                .style(theme.best())
                .data(p),
        );
    }
    let spans = |v: Vec<String>| -> Vec<Span<'static>> {
        v.into_iter()
            .map(|t| Span::styled(t, theme.dim()))
            .collect()
    };
    Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds(xb).labels(spans(xl)))
        .y_axis(Axis::default().bounds(yb).labels(spans(yl)))
        .render(area, buf);
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` as a sparkline `width` cells wide (each cell the mean of its share of the
/// values; all cells mid-height when the values are flat).
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() || width == 0 {
        return String::new();
    }
    let cells = width.min(values.len());
    let means: Vec<f64> = (0..cells)
        .map(|i| {
            let a = i * values.len() / cells;
            let b = ((i + 1) * values.len() / cells).max(a + 1);
            values[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let lo = means.iter().copied().fold(f64::MAX, f64::min);
    let hi = means.iter().copied().fold(f64::MIN, f64::max);
    means
        .iter()
        .map(|v| {
            if hi > lo {
                let i = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                BARS[i.min(7)]
            } else {
                BARS[3]
            }
        })
        .collect()
}

/// The compact view's trend line: "eval_top1 ▁▃▂▅▄█▂▃ 10…62.5 · 8 epochs".
pub(crate) fn render_sparkline(run: &RunEntry, area: Rect, buf: &mut Buffer, theme: Theme) {
    let Some(snap) = run.snapshot.as_ref() else {
        return;
    };
    let s = &run.series;
    let name = snap
        .metric
        .as_ref()
        .map(|m| m.name.as_str())
        .unwrap_or("metric");
    let mut spans = vec![Span::styled(format!("{name} "), theme.title())];
    if s.history.is_empty() {
        spans.push(Span::styled("no metric values yet", theme.dim()));
        Paragraph::new(Line::from(spans)).render(area, buf);
        return;
    }
    let values: Vec<f64> = s.history.iter().map(|p| p.1).collect();
    let lo = values.iter().copied().fold(f64::MAX, f64::min);
    let hi = values.iter().copied().fold(f64::MIN, f64::max);
    let range = if hi > lo {
        format!(" {}…{}", fmt::metric_value(lo), fmt::metric_value(hi))
    } else {
        format!(" {}", fmt::metric_value(lo))
    };
    let count = format!(" · {} {}s", values.len(), s.unit);
    let used = spans[0].width() + range.chars().count() + count.chars().count();
    let w = (area.width as usize).saturating_sub(used).min(60);
    spans.push(Span::styled(sparkline(&values, w), theme.accent()));
    spans.push(Span::styled(range, theme.dim()));
    spans.push(Span::styled(count, theme.dim()));
    Paragraph::new(Line::from(spans)).render(area, buf);
}
