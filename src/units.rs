//! Small text forms shared by the CLI, the monitor and the engine's messages, so a
//! size or a non-finite metric reads the same everywhere.

/// Bytes in binary units: "812 B", "2.9 MiB", "145 GiB".
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
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

#[cfg(test)]
mod tests {
    use super::*;

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
