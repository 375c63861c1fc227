//! Text formatting shared by the panes: bytes, ages, durations, metrics.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, Utc};

use crate::snapshot::Checkpoint;

/// "2.9 MiB", "812 B".
pub(crate) fn bytes(n: u64) -> String {
    crate::units::human_bytes(n)
}

/// "1,234,567" — exact bytes for confirm dialogs.
pub fn exact(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Coarse duration: "12s", "5m", "3h", "2d".
pub(crate) fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// Two-unit duration: "6h 40m", "3m 20s", "4d 2h".
pub(crate) fn long_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A count that is an estimate, to two significant digits: "17", "1,800", "7,000,000".
/// The exact figure would tick with every megabyte anyone writes to the disk.
pub fn approx_count(n: u64) -> String {
    if n < 100 {
        return n.to_string();
    }
    let mut scale = 1u64;
    while n / scale >= 100 {
        scale *= 10;
    }
    exact((n + scale / 2) / scale * scale)
}

/// An age as the screen shows it, in steps that grow with it: by the second under
/// 10 s (a save just landed), then by ten seconds, then minutes, hours, days. A finer
/// step would say nothing more and keep a watched screen changing every second (the
/// idle budget of DESIGN §6 is 1.5 KiB a minute over SSH).
pub(crate) fn age_step(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        10..60 => format!("{}s", s / 10 * 10),
        _ => short_duration(d),
    }
}

/// Age of `t` relative to `now` in [`age_step`]s ("-" when unknown or in the future
/// by more than a minute).
pub(crate) fn age(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => {
            let ms = (now - t).num_milliseconds();
            if ms < -60_000 {
                "-".into()
            } else {
                age_step(Duration::from_millis(ms.max(0) as u64))
            }
        }
        None => "-".into(),
    }
}

/// Wall-clock time of day in the monitor's offset, "14:03:22".
pub(crate) fn clock(t: DateTime<Utc>, offset_secs: i32) -> String {
    let off = FixedOffset::east_opt(offset_secs).unwrap_or_else(|| Utc.fix());
    t.with_timezone(&off).format("%H:%M:%S").to_string()
}

/// A metric value: up to 4 decimals, trailing zeros trimmed.
pub(crate) fn metric_value(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}").to_lowercase();
    }
    let s = if v.abs() >= 10000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The checkpoint's metric as shown: the number, the raw text (nan, inf), or "-".
pub(crate) fn metric(c: &Checkpoint) -> String {
    match (c.metric, &c.metric_raw) {
        (Some(v), _) if v.is_finite() => metric_value(v),
        (_, Some(raw)) => raw.clone(),
        (Some(v), None) => metric_value(v),
        (None, None) => "-".into(),
    }
}

/// "e5", "s40", "e3/s16" — how a checkpoint is named briefly.
pub(crate) fn label(c: &Checkpoint) -> String {
    match (c.epoch, c.step) {
        (Some(e), _) => format!("e{e}"),
        (None, Some(s)) => format!("s{s}"),
        (None, None) => c.name.clone(),
    }
}

/// Cut `s` to `w` display columns, ending with "…" when cut.
pub(crate) fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(w - 1).collect();
    out.push('…');
    out
}

/// Keep the end of a path-like string: "…/runs/exp1".
pub(crate) fn fit_left(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let tail: String = s.chars().skip(n - (w - 1)).collect();
    format!("…{tail}")
}

/// Cut each name to `w` columns so that different names stay different: from the left
/// ("…/runs/exp1") when that is enough, else around the first character where a name
/// differs from the others it would collide with ("lr0.1…seed1-final").
pub fn fit_distinct(names: &[String], w: usize) -> Vec<String> {
    let cut: Vec<String> = names.iter().map(|n| fit_left(n, w)).collect();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let collides = |j: usize| j != i && cut[j] == cut[i] && names[j] != *name;
            if w < 5 || !(0..names.len()).any(collides) {
                return cut[i].clone();
            }
            let chars: Vec<char> = name.chars().collect();
            // The first position where it differs from every name it collides with.
            let d = (0..names.len())
                .filter(|&j| collides(j))
                .map(|j| {
                    chars
                        .iter()
                        .zip(names[j].chars())
                        .take_while(|(a, b)| **a == *b)
                        .count()
                })
                .max()
                .unwrap_or(0)
                .min(chars.len().saturating_sub(1));
            let n = chars.len();
            if d + 1 < w - 1 {
                // head up to and including the difference, "…", then the tail.
                let tail = w - 1 - (d + 1);
                let head: String = chars[..d + 1].iter().collect();
                let tail: String = chars[n - tail.min(n - d - 1)..].iter().collect();
                format!("{head}…{tail}")
            } else {
                // "…" + a window ending just after the difference + "…".
                let end = (d + 1).min(n);
                let start = end.saturating_sub(w - 2);
                let mid: String = chars[start..end].iter().collect();
                format!("…{mid}…")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_step_by_the_second_then_by_ten_then_by_the_minute() {
        let at = |s: u64| age_step(Duration::from_secs(s));
        assert_eq!(at(0), "0s");
        assert_eq!(at(9), "9s");
        assert_eq!(at(10), "10s");
        assert_eq!(at(19), "10s");
        assert_eq!(at(59), "50s");
        assert_eq!(at(60), "1m");
        assert_eq!(at(7200), "2h");
    }

    #[test]
    fn estimates_keep_two_significant_digits() {
        assert_eq!(approx_count(7), "7");
        assert_eq!(approx_count(99), "99");
        assert_eq!(approx_count(174), "170");
        assert_eq!(approx_count(17_858), "18,000");
        assert_eq!(approx_count(6_978_704), "7,000,000");
    }
}
