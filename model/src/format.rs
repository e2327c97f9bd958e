//! Float formatting as Prometheus' tools print numbers.

use std::fmt::Write;

/// Formats a value as Prometheus' HTTP API does (`jsonutil.MarshalFloat`): the shortest digits
/// that read back as the same float, in plain decimal (`strconv` 'f', -1) unless the magnitude is
/// below 1e-6 or at least 1e21, where Go's exponent form is used (`1e-07`, `1.5e+300`); `NaN`,
/// `+Inf` and `-Inf` spelled so.
pub fn format_api_float(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v != 0.0 && (v.abs() < 1e-6 || v.abs() >= 1e21) {
        push_go_exponent_form(v, out);
    } else {
        // Rust's Display for f64 prints the shortest round-trip digits without an exponent,
        // which is exactly Go's 'f' format with precision -1.
        let _ = write!(out, "{v}");
    }
}

/// Go's 'e' format with the shortest digits: `d.ddde±XX`, at least two exponent digits.
fn push_go_exponent_form(v: f64, out: &mut String) {
    let sci = format!("{v:e}");
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    out.push_str(mant);
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.abs());
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
    // Go's strconv ('g', shortest): %e form when the decimal exponent is < -4 or >= 6.
    let sci = format!("{v:e}");
    let exp = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse::<i32>().ok())
        .unwrap_or(0);
    if !(-4..6).contains(&exp) {
        push_go_exponent_form(v, out);
    } else {
        let _ = write!(out, "{v}");
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
        // Prometheus' MarshalFloat switches to exponent form outside [1e-6, 1e21).
        assert_eq!(api(1e21), "1e+21");
        assert_eq!(api(999999999999999900000.0), "999999999999999900000");
        assert_eq!(api(1e-7), "1e-07");
        assert_eq!(api(0.000001), "0.000001");
        assert_eq!(api(-1.5e300), "-1.5e+300");
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
