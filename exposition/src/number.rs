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
    // Fast path: integers and plain decimals, the common sample values.
    if let Some(v) = fast_decimal(s) {
        return Ok(v);
    }
    // The spellings exporters use for the special values.
    match s {
        // Go's NaN bits, as Prometheus stores a parsed `NaN`.
        b"NaN" => return Ok(lookout_model::go_nan()),
        b"+Inf" => return Ok(f64::INFINITY),
        b"-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
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
    if v.is_nan() {
        return Ok(lookout_model::go_nan());
    }
    Ok(v)
}

/// Powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Clinger's exact fast path for plain decimals: `[+-]digits[.digits][(e|E)[+-]digits]`
/// whose digits, read as one integer `w`, stay below 2^53 and whose decimal exponent `e` is
/// within ±22. Then `w` and `10^|e|` are exact doubles and one IEEE multiplication or
/// division rounds correctly, so the result is bit-identical to `str::parse::<f64>`. Anything
/// else (more digits, bigger exponents, `Inf`, `NaN`, bad syntax) returns `None` for the
/// exact path to decide.
#[inline]
fn fast_decimal(s: &[u8]) -> Option<f64> {
    match fast_decimal_prefix(s) {
        Some((v, len)) if len == s.len() => Some(v),
        _ => None,
    }
}

/// [`fast_decimal`] on the longest prefix of `s` that has its syntax: the value and the
/// prefix's length, so that a caller can parse a token without finding its end first. `None`
/// when the prefix is not in the fast path's range (the caller then scans and parses the
/// token exactly).
#[inline]
pub(crate) fn fast_decimal_prefix(s: &[u8]) -> Option<(f64, usize)> {
    let (neg, mut rest) = match s.split_first() {
        Some((b'-', r)) => (true, r),
        Some((b'+', r)) => (false, r),
        _ => (false, s),
    };
    let mut w: u64 = 0;
    let mut digits = 0usize;
    let mut exp: i64 = 0;
    while let Some((&c, r)) = rest.split_first() {
        if !c.is_ascii_digit() {
            break;
        }
        w = w.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        digits += 1;
        rest = r;
    }
    if let Some((b'.', r)) = rest.split_first() {
        rest = r;
        while let Some((&c, r)) = rest.split_first() {
            if !c.is_ascii_digit() {
                break;
            }
            w = w.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            digits += 1;
            exp -= 1;
            rest = r;
        }
    }
    // 19 digits cannot overflow a u64; the 2^53 bound below is the real limit.
    if digits == 0 || digits > 19 || w > (1 << 53) {
        return None;
    }
    if let Some((b'e' | b'E', r)) = rest.split_first() {
        let (eneg, mut r) = match r.split_first() {
            Some((b'-', r2)) => (true, r2),
            Some((b'+', r2)) => (false, r2),
            _ => (false, r),
        };
        let mut e: i64 = 0;
        let mut edigits = 0usize;
        while let Some((&c, r2)) = r.split_first() {
            if !c.is_ascii_digit() {
                break;
            }
            if edigits >= 4 {
                return None;
            }
            e = e * 10 + i64::from(c - b'0');
            edigits += 1;
            r = r2;
        }
        if edigits == 0 {
            return None;
        }
        exp += if eneg { -e } else { e };
        rest = r;
    }
    let len = s.len() - rest.len();
    let m = w as f64;
    let v = if exp >= 0 {
        m * *POW10.get(usize::try_from(exp).ok()?)?
    } else {
        m / *POW10.get(usize::try_from(-exp).ok()?)?
    };
    Some((if neg { -v } else { v }, len))
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
    fn fast_prefix_stops_at_the_token_end() {
        for (s, want) in [
            ("1.5 123", Some((1.5, 3))),
            ("-2e3{", Some((-2000.0, 4))),
            ("7", Some((7.0, 1))),
            ("1e 5", None),
            ("+Inf", None),
            ("1e12345", None),
        ] {
            assert_eq!(fast_decimal_prefix(s.as_bytes()), want, "{s}");
        }
    }

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
        // Go's `math.NaN()` bits, whatever the spelling.
        for nan in ["NaN", "nan", "NAN"] {
            let v = parse_float(nan.as_bytes()).map(f64::to_bits);
            assert_eq!(v, Ok(0x7ff8_0000_0000_0001), "{nan}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// The fast path agrees bit for bit with the exact path on decimal syntax, including
        /// forms it hands over (long mantissas, big exponents).
        #[test]
        fn fast_floats_are_exact(s in "[+-]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?") {
            let ours = parse_float(s.as_bytes());
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => {
                    proptest::prop_assert_eq!(ours.map(f64::to_bits), Ok(v.to_bits()), "{}", s);
                }
                _ => proptest::prop_assert!(ours.is_err(), "{}", s),
            }
        }

        /// Values printed from random doubles (shortest and fixed forms) read back exactly.
        #[test]
        fn printed_floats_are_exact(bits in proptest::prelude::any::<u64>(), prec in 0usize..18) {
            let f = f64::from_bits(bits);
            if f.is_finite() {
                for s in [format!("{f}"), format!("{f:e}"), format!("{f:.prec$}"), format!("{f:.prec$e}")] {
                    let want = s.parse::<f64>().map(f64::to_bits);
                    let got = parse_float(s.as_bytes()).map(f64::to_bits);
                    if want.as_ref().is_ok_and(|b| f64::from_bits(*b).is_finite()) {
                        proptest::prop_assert_eq!(got, Ok(want.unwrap_or(0)), "{}", s);
                    }
                }
            }
        }
    }

    #[test]
    fn fast_path_edges() {
        for s in [
            "9007199254740992",
            "9007199254740993",
            "9007199254740993.0",
            "1e22",
            "1e23",
            "1.5e-22",
            "123456789012345678e-22",
            "-0",
            "-0.0",
            "0e999",
            "1e-400",
            ".5",
            "5.",
            "-.5e+3",
            "1.e5",
            "4.9351e-05",
            "7.424100000000001e-05",
            "0.000106744",
        ] {
            let want: f64 = s.parse().unwrap();
            if want.is_finite() {
                assert_eq!(
                    parse_float(s.as_bytes()).map(f64::to_bits),
                    Ok(want.to_bits()),
                    "{s}"
                );
            }
        }
        for s in ["NaN", "+Inf", "-Inf"] {
            // Go's NaN bits rather than Rust's.
            let want = if s == "NaN" {
                lookout_model::go_nan()
            } else {
                s.parse().unwrap()
            };
            assert_eq!(
                parse_float(s.as_bytes()).map(f64::to_bits),
                Ok(want.to_bits()),
                "{s}"
            );
        }
        for bad in ["1e", "1e+", "e5", "+", "-", "1..2", "1e5.0", ".e5"] {
            assert!(fast_decimal(bad.as_bytes()).is_none(), "{bad}");
            assert!(parse_float(bad.as_bytes()).is_err(), "{bad}");
        }
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
