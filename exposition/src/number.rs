//! Numbers as Prometheus reads and writes them.

use lookout_model::format_go_g;

/// Why a number did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatError {
    /// `p`, `P` or `_`: Prometheus refuses hex floats and digit separators.
    Unsupported,
    /// Not Go `strconv.ParseFloat` syntax, or out of range.
    Syntax,
}

/// Parses a float as Prometheus does: Go's `strconv.ParseFloat` (decimal, `Inf`/`Infinity`
/// with an optional sign and `NaN`, all case-insensitive), minus hex floats and `_`.
#[inline]
pub(crate) fn parse_float(s: &[u8]) -> Result<f64, FloatError> {
    // Fast path: short unsigned integers, the most common sample values.
    if !s.is_empty() && s.len() <= 15 && s.iter().all(u8::is_ascii_digit) {
        let mut n: u64 = 0;
        for c in s {
            n = n * 10 + u64::from(c - b'0');
        }
        // Exact: below 2^53.
        return Ok(n as f64);
    }
    if s.iter().any(|c| matches!(c, b'p' | b'P' | b'_')) {
        return Err(FloatError::Unsupported);
    }
    let text = std::str::from_utf8(s).map_err(|_| FloatError::Syntax)?;
    let (signed, body) = match text.as_bytes().first() {
        Some(b'+' | b'-') => (true, text.get(1..).unwrap_or_default()),
        _ => (false, text),
    };
    let first = body.as_bytes().first().copied().unwrap_or(0);
    // Go accepts no sign before NaN; Rust does.
    if signed && (first == b'n' || first == b'N') {
        return Err(FloatError::Syntax);
    }
    let v: f64 = text.parse().map_err(|_| FloatError::Syntax)?;
    // Go reports overflow (1e400) as an error where Rust gives infinity.
    if v.is_infinite() && first != b'i' && first != b'I' {
        return Err(FloatError::Syntax);
    }
    Ok(v)
}

/// Parses the digits of a text 0.0.4 timestamp (Prometheus' lexer allows digits only).
pub(crate) fn parse_ts_digits(s: &[u8]) -> Option<i64> {
    let mut n: i64 = 0;
    for c in s {
        n = n.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(n)
}

/// OpenMetrics canonical float text (Go `%g`, plus `.0` when it has neither `.` nor `e`), as
/// used for `le` and `quantile` label values.
pub(crate) fn format_om_float(v: f64) -> String {
    let mut s = String::with_capacity(24);
    format_go_g(v, &mut s);
    if v.is_finite() && !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// Seconds text for a millisecond timestamp that Prometheus' OpenMetrics parser (seconds ×
/// 1000, truncated) reads back as exactly `ms`; false (and nothing written) when no float
/// does, as happens far beyond 2^53 ms.
pub(crate) fn om_timestamp_text(ms: i64, out: &mut String) -> bool {
    use std::fmt::Write;
    let mut f = ms as f64 / 1000.0;
    for _ in 0..8 {
        let back = (f * 1000.0) as i64;
        if back == ms {
            // Rust prints the shortest text that reads back as the same float, never in
            // exponent form.
            let _ = write!(out, "{f}");
            return true;
        }
        f = if back < ms { next_up(f) } else { next_down(f) };
    }
    false
}

fn next_up(f: f64) -> f64 {
    if f == 0.0 {
        return f64::from_bits(1);
    }
    let b = f.to_bits();
    f64::from_bits(if f > 0.0 { b + 1 } else { b - 1 })
}

fn next_down(f: f64) -> f64 {
    -next_up(-f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_syntax() {
        for ok in [
            "1", "-1.5", "+.5", "1.", "1e5", "1E-5", "NaN", "nan", "+Inf", "-inf", "Infinity",
            "007",
        ] {
            assert!(parse_float(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "", "+nan", "-NaN", "1e400", "true", "0x10", "1 2", "infin", ".",
        ] {
            assert!(parse_float(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(parse_float(b"0x1p-3"), Err(FloatError::Unsupported));
        assert_eq!(parse_float(b"1_2"), Err(FloatError::Unsupported));
    }

    #[test]
    fn canonical_om_floats() {
        for (v, s) in [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (0.001, "0.001"),
            (1e-5, "1e-05"),
            (1e6, "1e+06"),
            (10.0, "10.0"),
        ] {
            assert_eq!(format_om_float(v), s);
        }
        assert_eq!(format_om_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn om_timestamps_round_trip() {
        for ms in [
            0,
            1,
            -1,
            1520879607789,
            -1500,
            999,
            1_700_000_000_123,
            i64::from(i32::MAX),
        ] {
            let mut s = String::new();
            assert!(om_timestamp_text(ms, &mut s));
            let f: f64 = s.parse().unwrap();
            assert_eq!((f * 1000.0) as i64, ms, "{s}");
        }
        assert!(!om_timestamp_text(
            9_223_372_036_854_775_000,
            &mut String::new()
        ));
    }
}
