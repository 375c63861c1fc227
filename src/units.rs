//! Small text forms shared by the CLI, the monitor and the engine's messages, so a
//! size or a non-finite metric reads the same everywhere.

/// The units [`human_bytes`] writes after a figure.
pub const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// Bytes in binary units: "812 B", "2.9 MiB", "145 GiB".
pub fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The text of a metric that is not a finite number: "nan", "inf" or "-inf".
pub fn non_finite_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

/// Longest run of non-space characters a warning keeps whole (a file name, a path).
pub const WARNING_TOKEN_MAX: usize = 64;

/// `text` with every whitespace-separated token longer than `max` characters cut in
/// the middle (`head…tail`, the tail keeps an extension or epoch): a 4,000-character
/// file name in a warning would otherwise push everything else off a terminal line
/// (`ls`, the monitor's status area). Whitespace is kept as it was.
pub fn cut_long_tokens(text: &str, max: usize) -> String {
    let max = max.max(5);
    let mut out = String::with_capacity(text.len().min(1024));
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        let n = token.chars().count();
        if n > max {
            let keep = max - 1;
            let head = keep / 2;
            let tail = keep - head;
            out.extend(token.chars().take(head));
            out.push('…');
            out.extend(token.chars().skip(n - tail));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tokens_are_cut_in_the_middle_and_short_ones_kept() {
        let long = format!("{}-{}.pth.tar", "a".repeat(500), "é".repeat(300));
        let w = format!("stale temp {long} (writer pid 7 is gone)");
        let cut = cut_long_tokens(&w, WARNING_TOKEN_MAX);
        assert!(cut.starts_with("stale temp aaaa"), "{cut}");
        assert!(cut.ends_with("éé.pth.tar (writer pid 7 is gone)"), "{cut}");
        let token = cut.split(' ').nth(2).unwrap();
        assert_eq!(token.chars().count(), WARNING_TOKEN_MAX);
        assert!(token.contains('…'));
        assert_eq!(cut_long_tokens("a  b\tc", 8), "a  b\tc");
        assert_eq!(cut_long_tokens("", 8), "");
    }

    #[test]
    fn sizes_and_non_finite_texts() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
        assert_eq!(human_bytes(150 << 30), "150 GiB");
        assert_eq!(non_finite_text(f64::NAN), "nan");
        assert_eq!(non_finite_text(f64::NEG_INFINITY), "-inf");
    }
}
