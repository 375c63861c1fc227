//! Metric over epochs (or steps), with the best and the last checkpoint marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

use super::fmt;
use super::theme::Theme;
use crate::snapshot::Role;
use crate::tui::app::RunEntry;

pub fn render(run: &RunEntry, area: Rect, buf: &mut Buffer, theme: Theme) {
    let name = run
        .snapshot
        .as_ref()
        .and_then(|s| s.metric.as_ref())
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "metric".into());
    let Some(snap) = run.snapshot.as_ref() else {
        return;
    };
    let x_of = |c: &crate::snapshot::Checkpoint| c.epoch.or(c.step).map(|v| v as f64);
    let mut points: Vec<(f64, f64)> = snap
        .checkpoints
        .iter()
        .filter(|c| !c.has_role(Role::Recovery))
        .filter_map(|c| Some((x_of(c)?, c.finite_metric()?)))
        .collect();
    let best = snap
        .with_role(Role::Best)
        .and_then(|c| Some((x_of(c)?, c.finite_metric()?, fmt::label(c))));
    let last = snap
        .with_role(Role::Last)
        .and_then(|c| Some((x_of(c)?, c.finite_metric()?, fmt::label(c))));
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Line::from(title));
    if points.is_empty() {
        let inner = block.inner(area);
        block.render(area, buf);
        Paragraph::new(Span::styled("no metric values yet", theme.dim())).render(inner, buf);
        return;
    }
    // Downsample to about two points per column (braille gives 2 dots per cell).
    let budget = (area.width as usize * 2).max(2);
    if points.len() > budget {
        let step = points.len().div_ceil(budget);
        let lastp = points[points.len() - 1];
        points = points.iter().step_by(step).copied().collect();
        points.push(lastp);
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in &points {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let pad = (y1 - y0) * 0.05;
    let best_pt = best.map(|(x, y, _)| [(x, y)]);
    let last_pt = last.map(|(x, y, _)| [(x, y)]);
    let mut datasets = vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.accent())
        .data(&points)];
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
    let xl = [
        Span::styled(fmt::metric_value(x0), theme.dim()),
        Span::styled(fmt::metric_value(x1), theme.dim()),
    ];
    let yl = [
        Span::styled(fmt::metric_value(y0), theme.dim()),
        Span::styled(fmt::metric_value(y1), theme.dim()),
    ];
    Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds([x0, x1]).labels(xl))
        .y_axis(Axis::default().bounds([y0 - pad, y1 + pad]).labels(yl))
        .render(area, buf);
}
