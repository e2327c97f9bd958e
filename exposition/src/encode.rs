//! Streaming encoders for Prometheus text 0.0.4 and OpenMetrics 1.0 text.
//!
//! A family header, then its samples, one call each; the OpenMetrics `# EOF` trailer is written
//! by [`TextEncoder::finish`]. Every call validates before it writes, so a metric the format
//! cannot express is an error for that call alone and leaves no partial line behind.

use std::io::Write;

use lookout_model::{is_legacy_label_name, is_legacy_metric_name, METRIC_NAME};

use crate::error::Error;
use crate::number::om_timestamp_text;
use crate::types::MetricType;

/// Writes Prometheus text 0.0.4 or OpenMetrics 1.0 text into a `&mut` writer.
///
/// ```
/// use lookout_exposition::{MetricType, TextEncoder};
/// let mut out = Vec::new();
/// let mut enc = TextEncoder::openmetrics(&mut out);
/// enc.family("http_requests", MetricType::Counter, Some("Requests."), None)?;
/// enc.sample("http_requests_total", &[("code", "200")], 1027.0, Some(1_395_066_363_000), None)?;
/// enc.finish()?;
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     "# TYPE http_requests counter\n# HELP http_requests Requests.\n\
///      http_requests_total{code=\"200\"} 1027 1395066363\n# EOF\n"
/// );
/// # Ok::<(), lookout_exposition::Error>(())
/// ```
#[derive(Debug)]
pub struct TextEncoder<'w, W: Write> {
    out: &'w mut W,
    om: bool,
    line: Vec<u8>,
    num: String,
    /// OpenMetrics seconds text of the sample's and the exemplar's timestamps, made while
    /// validating and written from there.
    ts: String,
    ex_ts: String,
}

/// An exemplar to attach to a sample: labels, value and optional timestamp in milliseconds.
pub type ExemplarRef<'x> = (&'x [(&'x str, &'x str)], f64, Option<i64>);

impl<'w, W: Write> TextEncoder<'w, W> {
    /// An encoder for Prometheus text 0.0.4 (`text/plain; version=0.0.4`).
    pub fn prometheus(out: &'w mut W) -> Self {
        TextEncoder {
            out,
            om: false,
            line: Vec::with_capacity(256),
            num: String::with_capacity(32),
            ts: String::with_capacity(24),
            ex_ts: String::with_capacity(24),
        }
    }

    /// An encoder for OpenMetrics 1.0 text.
    pub fn openmetrics(out: &'w mut W) -> Self {
        TextEncoder {
            om: true,
            ..TextEncoder::prometheus(out)
        }
    }

    /// Writes a family's metadata: `# TYPE`, then `# UNIT` (OpenMetrics) and `# HELP` when
    /// given. Types the format lacks are written as `untyped` (text) or `unknown`
    /// (OpenMetrics).
    pub fn family(
        &mut self,
        name: &str,
        metric_type: MetricType,
        help: Option<&str>,
        unit: Option<&str>,
    ) -> Result<(), Error> {
        self.line.clear();
        let tname = if self.om {
            match metric_type {
                MetricType::Untyped => "unknown",
                t => t.as_str(),
            }
        } else {
            match metric_type {
                MetricType::Counter
                | MetricType::Gauge
                | MetricType::Histogram
                | MetricType::Summary => metric_type.as_str(),
                _ => "untyped",
            }
        };
        if name.is_empty() {
            return Err(encode_err(name, "empty metric name"));
        }
        if let Some(u) = unit.filter(|u| self.om && !u.is_empty()) {
            let ok = name
                .strip_suffix(u)
                .is_some_and(|h| h.len() > 1 && h.ends_with('_'));
            if !ok || u.contains(['\n', ' ']) {
                return Err(encode_err(u, "a unit must be a suffix of the metric name"));
            }
        }
        self.meta("TYPE", name);
        self.line.extend_from_slice(tname.as_bytes());
        self.line.push(b'\n');
        if let Some(u) = unit.filter(|u| self.om && !u.is_empty()) {
            self.meta("UNIT", name);
            self.line.extend_from_slice(u.as_bytes());
            self.line.push(b'\n');
        }
        if let Some(h) = help {
            self.meta("HELP", name);
            for c in h.bytes() {
                match c {
                    b'\\' => self.line.extend_from_slice(b"\\\\"),
                    b'\n' => self.line.extend_from_slice(b"\\n"),
                    b'"' if self.om => self.line.extend_from_slice(b"\\\""),
                    _ => self.line.push(c),
                }
            }
            self.line.push(b'\n');
        }
        self.out.write_all(&self.line)?;
        Ok(())
    }

    fn meta(&mut self, keyword: &str, name: &str) {
        self.line.extend_from_slice(b"# ");
        self.line.extend_from_slice(keyword.as_bytes());
        self.line.push(b' ');
        if is_legacy_metric_name(name) {
            self.line.extend_from_slice(name.as_bytes());
        } else {
            quote(&mut self.line, name);
        }
        self.line.push(b' ');
    }

    /// Writes one sample line. `labels` must not repeat a name or contain `__name__`; a
    /// text 0.0.4 timestamp must not be negative (Prometheus reads digits only there), an
    /// OpenMetrics one must have an exact seconds form (any within ±2^53 ms has), and text
    /// 0.0.4 cannot carry exemplars, so they are left out.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
        timestamp: Option<i64>,
        exemplar: Option<ExemplarRef<'_>>,
    ) -> Result<(), Error> {
        if name.is_empty() {
            return Err(encode_err(name, "empty metric name"));
        }
        check_labels(labels)?;
        if let (false, Some(t)) = (self.om, timestamp) {
            if t < 0 {
                return Err(encode_err(
                    &t.to_string(),
                    "text 0.0.4 timestamps must not be negative",
                ));
            }
        }
        if self.om {
            for (t, text) in [
                (timestamp, &mut self.ts),
                (exemplar.and_then(|e| e.2), &mut self.ex_ts),
            ] {
                let Some(t) = t else { continue };
                text.clear();
                if !om_timestamp_text(t, text) {
                    return Err(encode_err(
                        &t.to_string(),
                        "timestamp has no exact OpenMetrics seconds form",
                    ));
                }
            }
        }
        if let (true, Some((ex, _, _))) = (self.om, exemplar) {
            check_labels(ex)?;
            if ex.iter().any(|(_, v)| v.contains('\0')) {
                return Err(encode_err("exemplar", "NUL in an exemplar label value"));
            }
        }
        self.line.clear();
        let legacy = is_legacy_metric_name(name);
        if legacy {
            self.line.extend_from_slice(name.as_bytes());
        }
        if !legacy || !labels.is_empty() {
            self.line.push(b'{');
            let mut first = true;
            if !legacy {
                quote(&mut self.line, name);
                first = false;
            }
            write_labels(&mut self.line, labels, first);
            self.line.push(b'}');
        }
        self.line.push(b' ');
        write_float(&mut self.line, &mut self.num, value);
        if let Some(t) = timestamp {
            self.line.push(b' ');
            if self.om {
                self.line.extend_from_slice(self.ts.as_bytes());
            } else {
                write_int(&mut self.line, t);
            }
        }
        if let (true, Some((ex, v, ts))) = (self.om, exemplar) {
            self.line.extend_from_slice(b" # {");
            write_labels(&mut self.line, ex, true);
            self.line.extend_from_slice(b"} ");
            write_float(&mut self.line, &mut self.num, v);
            if ts.is_some() {
                self.line.push(b' ');
                self.line.extend_from_slice(self.ex_ts.as_bytes());
            }
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    /// Ends the exposition: `# EOF` for OpenMetrics, nothing for text 0.0.4.
    pub fn finish(self) -> Result<(), Error> {
        if self.om {
            self.out.write_all(b"# EOF\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
}

fn encode_err(what: &str, reason: &'static str) -> Error {
    Error::Encode {
        what: what.to_string(),
        reason,
    }
}

fn check_labels(labels: &[(&str, &str)]) -> Result<(), Error> {
    for (i, (n, _)) in labels.iter().enumerate() {
        if n.is_empty() {
            return Err(encode_err(n, "empty label name"));
        }
        if *n == METRIC_NAME {
            return Err(encode_err(n, "the metric name is passed separately"));
        }
        if labels
            .get(..i)
            .unwrap_or_default()
            .iter()
            .any(|(m, _)| m == n)
        {
            return Err(encode_err(n, "repeated label name"));
        }
    }
    Ok(())
}

fn write_labels(line: &mut Vec<u8>, labels: &[(&str, &str)], mut first: bool) {
    for (n, v) in labels {
        if !first {
            line.push(b',');
        }
        first = false;
        if is_legacy_label_name(n) {
            line.extend_from_slice(n.as_bytes());
        } else {
            quote(line, n);
        }
        line.push(b'=');
        quote(line, v);
    }
}

/// Writes `"s"` with `\\`, `\"` and `\n` escaped.
fn quote(line: &mut Vec<u8>, s: &str) {
    line.push(b'"');
    let b = s.as_bytes();
    let mut last = 0;
    for i in memchr::memchr3_iter(b'\\', b'"', b'\n', b) {
        line.extend_from_slice(b.get(last..i).unwrap_or_default());
        line.extend_from_slice(match b.get(i) {
            Some(b'\\') => b"\\\\",
            Some(b'"') => b"\\\"",
            _ => b"\\n",
        });
        last = i + 1;
    }
    line.extend_from_slice(b.get(last..).unwrap_or_default());
    line.push(b'"');
}

fn write_int(line: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let neg = v < 0;
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    if neg {
        line.push(b'-');
    }
    line.extend_from_slice(buf.get(i..).unwrap_or_default());
}

/// Writes a value as Go's `strconv.FormatFloat(v, 'g', -1, 64)`, as client_golang does.
fn write_float(line: &mut Vec<u8>, scratch: &mut String, v: f64) {
    if v.fract() == 0.0 && v.abs() < 1e6 {
        if v == 0.0 && v.is_sign_negative() {
            line.extend_from_slice(b"-0");
        } else {
            write_int(line, v as i64);
        }
        return;
    }
    if (1e-4..1e6).contains(&v.abs()) {
        // Go's shortest %g is plain decimal in this range, with the same shortest digits
        // Rust prints, so skip format_go_g's detour through the exponent form.
        let _ = write!(line, "{v}");
        return;
    }
    scratch.clear();
    lookout_model::format_go_g(v, scratch);
    line.extend_from_slice(scratch.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_values() {
        let mut s = String::new();
        for (v, want) in [
            (1.0, "1"),
            (-0.0, "-0"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (0.5, "0.5"),
            (1e-5, "1e-05"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            let mut line = Vec::new();
            write_float(&mut line, &mut s, v);
            assert_eq!(String::from_utf8(line).unwrap(), want);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Byte for byte Go's %g as the model formats it, over all doubles and the plain range.
        #[test]
        fn float_text_matches_go_g(bits in proptest::prelude::any::<u64>(), m in 1e-5f64..2e6) {
            let mut s = String::new();
            for v in [f64::from_bits(bits), m, -m, m.round(), m / 1e3] {
                let mut line = Vec::new();
                write_float(&mut line, &mut s, v);
                let mut want = String::new();
                lookout_model::format_go_g(v, &mut want);
                proptest::prop_assert_eq!(String::from_utf8(line).unwrap_or_default(), want);
            }
        }
    }

    #[test]
    fn plain_range_edges() {
        let mut s = String::new();
        let below = f64::from_bits(1e-4f64.to_bits() - 1);
        let under_million = f64::from_bits(1e6f64.to_bits() - 1);
        for v in [
            1e-4,
            below,
            1e6,
            under_million,
            999999.9999999999,
            0.000999999,
            123.456,
        ] {
            let mut line = Vec::new();
            write_float(&mut line, &mut s, v);
            let mut want = String::new();
            lookout_model::format_go_g(v, &mut want);
            assert_eq!(String::from_utf8(line).unwrap(), want, "{v:e}");
        }
    }

    #[test]
    fn utf8_names_are_quoted() {
        let mut out = Vec::new();
        let mut enc = TextEncoder::prometheus(&mut out);
        enc.sample("my.metric", &[("a.b", "x\"y\n")], 1.5, Some(5), None)
            .unwrap();
        assert!(enc
            .sample("m", &[("a", "1"), ("a", "2")], 1.0, None, None)
            .is_err());
        assert!(enc.sample("m", &[], 1.0, Some(-1), None).is_err());
        enc.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"my.metric\",\"a.b\"=\"x\\\"y\\n\"} 1.5 5\n"
        );
    }
}
