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
    } else if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else if v.abs() < 1e-6 || v.abs() >= 1e21 {
        Shortest::of(v).push_exponent_form(out);
    } else {
        // Fast path: zmij lays most values out in plain decimal already (`12.5`, `3.0`).
        let mut zb = zmij::Buffer::new();
        let s = zb.format_finite(v);
        if s.contains(['e', 'E']) {
            Shortest::of(v).push_plain(out);
        } else {
            out.push_str(s.strip_suffix(".0").unwrap_or(s));
        }
    }
}

/// The shortest decimal digits that read back as a finite, non-zero `f64`, as Go's
/// `strconv.FormatFloat` chooses them (exact ties between two shortest candidates go to the
/// even digit, where Rust's `Display` rounds up): `0.d1d2…dn × 10^point`.
struct Shortest {
    neg: bool,
    digits: [u8; 64],
    n: usize,
    /// Position of the decimal point relative to the first digit.
    point: i32,
}

impl Shortest {
    fn of(v: f64) -> Shortest {
        let mut zb = zmij::Buffer::new();
        let s = zb.format_finite(v);
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (mant, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
            None => (s, 0),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let mut d = Shortest {
            neg,
            digits: [b'0'; 64],
            n: 0,
            point: int.len() as i32 + exp,
        };
        for b in int.bytes().chain(frac.bytes()) {
            if d.n < d.digits.len() && b.is_ascii_digit() {
                d.digits[d.n] = b;
                d.n += 1;
            }
        }
        // Leading zeros (`0.001`) move the point; trailing zeros (`100.0`) are not digits.
        let lead = d.digits[..d.n].iter().take_while(|&&b| b == b'0').count();
        d.digits.copy_within(lead..d.n, 0);
        d.n -= lead;
        d.point -= lead as i32;
        while d.n > 1 && d.digits[d.n - 1] == b'0' {
            d.n -= 1;
        }
        d
    }

    fn digits(&self) -> &str {
        // Only ASCII digits were stored.
        std::str::from_utf8(&self.digits[..self.n]).unwrap_or("0")
    }

    /// Go's 'f' layout with precision -1.
    fn push_plain(&self, out: &mut String) {
        if self.neg {
            out.push('-');
        }
        let digits = self.digits();
        if self.point <= 0 {
            out.push_str("0.");
            for _ in 0..-self.point {
                out.push('0');
            }
            out.push_str(digits);
        } else if self.point as usize >= self.n {
            out.push_str(digits);
            for _ in 0..self.point as usize - self.n {
                out.push('0');
            }
        } else {
            let (a, b) = digits.split_at(self.point as usize);
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        }
    }

    /// Go's 'e' layout with the shortest digits: `d.ddde±XX`, at least two exponent digits.
    fn push_exponent_form(&self, out: &mut String) {
        if self.neg {
            out.push('-');
        }
        let digits = self.digits();
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let exp = self.point - 1;
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.abs());
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
    // Go's strconv ('g', shortest): %e form when the decimal exponent is < -4 or >= 6.
    let d = Shortest::of(v);
    if !(-4..6).contains(&(d.point - 1)) {
        d.push_exponent_form(out);
    } else {
        d.push_plain(out);
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
        assert_eq!(g(0.5), "0.5");
        assert_eq!(g(0.000123), "0.000123");
        assert_eq!(g(-123.456), "-123.456");
        assert_eq!(g(5e-324), "5e-324");
        assert_eq!(g(f64::MAX), "1.7976931348623157e+308");
    }

    #[test]
    fn exact_ties_go_to_even() {
        // Go's strconv.FormatFloat(v, 'f', -1, 64) for values exactly halfway between two
        // shortest candidates (Rust's `Display` rounds these up).
        for (bits, go) in [
            (4833825756619274653u64, "1491739019525735.2"),
            (4828535531249722762, "647541291990193.2"),
            (4834997847029381833, "1784761622052530.2"),
        ] {
            assert_eq!(api(f64::from_bits(bits)), go);
        }
    }

    proptest::proptest! {
        /// Every output reads back as the same float.
        #[test]
        fn round_trips(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            if v.is_finite() && v != 0.0 {
                let a = api(v);
                proptest::prop_assert_eq!(a.parse::<f64>().ok(), Some(v), "{}", a);
                let b = g(v);
                proptest::prop_assert_eq!(b.parse::<f64>().ok(), Some(v), "{}", b);
                // As short as Rust's shortest digits (the two differ only on exact ties).
                let sci = format!("{v:e}");
                let want = sci.split('e').next().unwrap_or("").bytes().filter(u8::is_ascii_digit).count();
                proptest::prop_assert_eq!(Shortest::of(v).n, want, "{}", sci);
            }
        }
    }
}
