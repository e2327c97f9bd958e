//! Float formatting as Prometheus' tools print numbers.

use std::fmt::Write;

/// Formats a value as Prometheus' HTTP API does (`strconv.FormatFloat(v, 'f', -1, 64)`):
/// the shortest decimal that reads back as the same float, never in exponent form; `NaN`,
/// `+Inf` and `-Inf` spelled so.
pub fn format_api_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Rust's Display for f64 prints the shortest round-trip digits without an exponent,
        // which is exactly Go's 'f' format with precision -1.
        let _ = write!(out, "{v}");
    }
}

/// Formats a value as Go's `%g` verb (`strconv.FormatFloat(v, 'g', -1, 64)`): shortest digits,
/// exponent form when the decimal exponent is below -4 or at least 6, else plain. This is what
/// `promtool tsdb dump` prints. `NaN`, `+Inf`, `-Inf` are spelled as Go does.
pub fn format_go_g(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits as d.ddde±x.
    let sci = format!("{v:e}");
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    // Go's strconv ('g', shortest): %e form when the decimal exponent is < -4 or >= 6.
    let (neg, digits_part) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = digits_part.chars().filter(|c| *c != '.').collect();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.abs());
    } else {
        let _ = write!(out, "{}", v.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(v: f64) -> String {
        let mut s = String::new();
        format_api_float(v, &mut s);
        s
    }

    fn g(v: f64) -> String {
        let mut s = String::new();
        format_go_g(v, &mut s);
        s
    }

    #[test]
    fn api_format() {
        assert_eq!(api(1.0), "1");
        assert_eq!(api(1.5), "1.5");
        assert_eq!(api(-0.0), "-0");
        assert_eq!(api(1e21), "1000000000000000000000");
        assert_eq!(api(1e-7), "0.0000001");
        assert_eq!(api(f64::NAN), "NaN");
        assert_eq!(api(f64::INFINITY), "+Inf");
        assert_eq!(api(f64::NEG_INFINITY), "-Inf");
        assert_eq!(api(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn go_g_format() {
        // Values and spellings from Go's strconv tests for FormatFloat(x, 'g', -1, 64).
        assert_eq!(g(1e6), "1e+06");
        assert_eq!(g(999999.5), "999999.5");
        assert_eq!(g(123456.0), "123456");
        assert_eq!(g(1234567.0), "1.234567e+06");
        assert_eq!(g(608863452348.1149), "6.088634523481149e+11");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1e-05");
        assert_eq!(g(-1.5e-7), "-1.5e-07");
        assert_eq!(g(1e100), "1e+100");
        assert_eq!(g(100.0), "100");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(f64::NAN), "NaN");
        assert_eq!(g(f64::NEG_INFINITY), "-Inf");
    }
}
