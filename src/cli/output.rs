//! Human output helpers: sizes, ages, colour (terminal only, never under NO_COLOR),
//! aligned tables, and progress bars on stderr when it is a terminal.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};

use ckpt::engine::Progress;

/// `1536` -> `1.5 KiB`; bytes below 1 KiB stay exact.
pub(crate) fn human_bytes(n: u64) -> String {
    ckpt::units::human_bytes(n)
}

/// Compact age: `42s`, `5m`, `3h`, `2d`; `-` when unknown.
pub(crate) fn human_age(mtime: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let Some(t) = mtime else {
        return "-".into();
    };
    let secs = (chrono::Utc::now() - t).num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// A metric for humans: up to 4 decimals, trailing zeros trimmed; non-finite as text.
pub(crate) fn human_metric(v: Option<f64>, raw: Option<&str>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let s = format!("{v:.4}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            s.to_string()
        }
        Some(v) => raw
            .map(str::to_string)
            .unwrap_or_else(|| ckpt::units::non_finite_text(v)),
        None => raw.map(str::to_string).unwrap_or_else(|| "-".into()),
    }
}

/// ANSI styling that is a no-op unless stdout is a terminal and NO_COLOR is unset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paint {
    pub enabled: bool,
}

impl Paint {
    /// Colour for stdout: a terminal, and `NO_COLOR` absent or empty.
    pub(crate) fn stdout() -> Paint {
        Paint {
            enabled: std::io::stdout().is_terminal() && !no_color(),
        }
    }

    /// Colour for stderr (errors, prompts).
    pub(crate) fn stderr() -> Paint {
        Paint {
            enabled: std::io::stderr().is_terminal() && !no_color(),
        }
    }

    fn wrap(self, code: &str, s: &str) -> String {
        if self.enabled && !s.is_empty() {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub(crate) fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    pub(crate) fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }
    pub(crate) fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }
    pub(crate) fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
    pub(crate) fn red(self, s: &str) -> String {
        self.wrap("31", s)
    }
    pub(crate) fn cyan(self, s: &str) -> String {
        self.wrap("36", s)
    }
}

/// `NO_COLOR` set to anything non-empty (https://no-color.org).
pub(crate) fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table cell: its plain text (for width) and an optional styled rendering.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    text: String,
    style: Option<fn(Paint, &str) -> String>,
}

impl Cell {
    pub(crate) fn plain(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            style: None,
        }
    }
    pub(crate) fn styled(text: impl Into<String>, style: fn(Paint, &str) -> String) -> Cell {
        Cell {
            text: text.into(),
            style: Some(style),
        }
    }
}

/// An aligned table: widths are measured on plain text, colour is applied after padding.
#[derive(Debug, Default)]
pub(crate) struct Table {
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub(crate) fn new(headers: &[(&str, Align)]) -> Table {
        Table {
            headers: headers.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    pub(crate) fn write(&self, out: &mut dyn Write, paint: Paint) -> std::io::Result<()> {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(&c.text));
            }
        }
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|(h, _)| Cell::styled(h.clone(), Paint::bold))
            .collect();
        for row in std::iter::once(&header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, c) in row.iter().enumerate().take(n) {
                let last = i + 1 == n;
                let pad = widths[i].saturating_sub(width(&c.text));
                let styled = match c.style {
                    Some(f) => f(paint, &c.text),
                    None => c.text.clone(),
                };
                match self.headers[i].1 {
                    Align::Left if last => line.push_str(&styled),
                    Align::Left => {
                        line.push_str(&styled);
                        line.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(&styled);
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// A progress bar on stderr, shown only when stderr is a terminal.
pub(crate) struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub(crate) fn new() -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        Bar { bar }
    }

    /// The callback to hand to the engine.
    pub(crate) fn update(&self, p: &Progress) {
        if let Some(b) = &self.bar {
            if p.total == 0 {
                // A stream of unknown length: show bytes and rate, not a bar.
                if b.length().is_some() {
                    b.unset_length();
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {msg:20!} {bytes} {binary_bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                }
            } else if b.length() != Some(p.total) {
                b.set_length(p.total);
            }
            if b.message() != p.what {
                b.set_message(p.what.clone());
            }
            b.set_position(p.done);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(150 << 30), "150 GiB");
    }

    #[test]
    fn metrics_trim_zeros_and_keep_nan_text() {
        assert_eq!(human_metric(Some(62.5), None), "62.5");
        assert_eq!(human_metric(Some(0.4), None), "0.4");
        assert_eq!(human_metric(Some(f64::NAN), Some("nan")), "nan");
        assert_eq!(human_metric(None, None), "-");
        assert_eq!(human_metric(Some(f64::NAN), None), "nan");
        assert_eq!(human_metric(Some(f64::NEG_INFINITY), None), "-inf");
    }

    #[test]
    fn table_aligns_without_colour_codes() {
        let mut t = Table::new(&[("A", Align::Right), ("NAME", Align::Left)]);
        t.row(vec![Cell::plain("10"), Cell::styled("x", Paint::red)]);
        let mut out = Vec::new();
        t.write(&mut out, Paint { enabled: false }).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), " A  NAME\n10  x\n");
    }
}
