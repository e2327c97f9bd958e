//! Query results and their JSON encoding (the `data` member of Prometheus' HTTP API).

use std::fmt::Write;

use lookout_model::{format_api_float, Labels, Sample};

/// One sample of an instant vector: a series' labels, the evaluation time and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// The series' labels.
    pub labels: Labels,
    /// The evaluation time in milliseconds.
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// One series of a range vector (matrix): labels and points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// The points, ascending by time (never stale markers).
    pub points: Vec<Sample>,
}

/// The value of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at an evaluation time (ms).
    Scalar {
        /// Evaluation time, ms.
        t: i64,
        /// The value.
        v: f64,
    },
    /// A string at an evaluation time (ms).
    String {
        /// Evaluation time, ms.
        t: i64,
        /// The value.
        s: String,
    },
    /// An instant vector. Order is Prometheus' (by labels unless a `sort`-like function or
    /// `topk`/`bottomk` set it).
    Vector(Vec<VectorSample>),
    /// A range vector, sorted by labels.
    Matrix(Vec<RangeSeries>),
}

/// A query's value with the annotations raised while evaluating it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The value.
    pub value: Value,
    /// Warnings, worded as Prometheus words them (`PromQL warning: ... (line:col)`).
    pub warnings: Vec<String>,
    /// Informational annotations (`PromQL info: ... (line:col)`).
    pub infos: Vec<String>,
}

impl Value {
    /// The API's `resultType`: `scalar`, `string`, `vector` or `matrix`.
    pub fn result_type(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }

    /// The JSON of the `data` member of Prometheus' `/api/v1/query` and `/api/v1/query_range`
    /// responses: `{"resultType":"vector","result":[...]}`, with values as strings.
    ///
    /// ```
    /// use lookout_promql::engine::Value;
    /// let v = Value::Scalar { t: 1500, v: f64::INFINITY };
    /// assert_eq!(v.to_json(), r#"{"resultType":"scalar","result":[1.5,"+Inf"]}"#);
    /// ```
    pub fn to_json(&self) -> String {
        // About 24 bytes a point plus the labels: one allocation for most results.
        let size = match self {
            Value::Vector(v) => v.len() * 96,
            Value::Matrix(m) => m.iter().map(|s| 64 + s.points.len() * 24).sum(),
            _ => 0,
        };
        let mut out = String::with_capacity(64 + size);
        out.push_str("{\"resultType\":\"");
        out.push_str(self.result_type());
        out.push_str("\",\"result\":");
        match self {
            Value::Scalar { t, v } => {
                // Scalars and strings go through Go's encoding/json: the time is a float64
                // written in shortest form (`1.05`, not `1.050` as for vector points).
                out.push('[');
                format_api_float(*t as f64 / 1000.0, &mut out);
                out.push_str(",\"");
                format_api_float(*v, &mut out);
                out.push_str("\"]");
            }
            Value::String { t, s } => {
                out.push('[');
                format_api_float(*t as f64 / 1000.0, &mut out);
                out.push(',');
                write_json_string(&mut out, s);
                out.push(']');
            }
            Value::Vector(samples) => {
                out.push('[');
                for (i, s) in samples.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    write_metric(&mut out, &s.labels);
                    out.push_str(",\"value\":");
                    write_point(&mut out, s.t, s.v);
                    out.push('}');
                }
                out.push(']');
            }
            Value::Matrix(series) => {
                out.push('[');
                for (i, s) in series.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"metric\":");
                    write_metric(&mut out, &s.labels);
                    out.push_str(",\"values\":[");
                    for (j, p) in s.points.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_point(&mut out, p.t, p.v);
                    }
                    out.push_str("]}");
                }
                out.push(']');
            }
        }
        out.push('}');
        out
    }
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    format_api_float(v, out);
    out.push_str("\"]");
}

/// Seconds with up to three decimals, as Prometheus' `jsonutil.MarshalTimestamp`.
fn write_timestamp(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let a = t.unsigned_abs();
    push_u64(out, a / 1000);
    let frac = a % 1000;
    if frac != 0 {
        out.push('.');
        for d in [frac / 100, frac / 10 % 10, frac % 10] {
            out.push(char::from(b'0' + d as u8));
        }
    }
}

/// Decimal digits of `n` without going through `fmt` (timestamps are written per point).
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

fn write_metric(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, l.name);
        out.push(':');
        write_json_string(out, l.value);
    }
    out.push('}');
}

/// A JSON string as Go's `encoding/json` writes it (HTML characters escaped).
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes() {
        let l: Labels = r#"up{job="a<b"}"#.parse().unwrap();
        let v = Value::Vector(vec![VectorSample {
            labels: l.clone(),
            t: 1_435_781_451_781,
            v: 1.0,
        }]);
        assert_eq!(
            v.to_json(),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\u003cb"},"value":[1435781451.781,"1"]}]}"#
        );
        let m = Value::Matrix(vec![RangeSeries {
            labels: Labels::empty(),
            points: vec![
                Sample::new(-1500, f64::NAN),
                Sample::new(2000, -0.5),
                Sample::new(3050, 1e21),
            ],
        }]);
        assert_eq!(
            m.to_json(),
            r#"{"resultType":"matrix","result":[{"metric":{},"values":[[-1.500,"NaN"],[2,"-0.5"],[3.050,"1e+21"]]}]}"#
        );
        let s = Value::String {
            t: 0,
            s: "a\"b".into(),
        };
        assert_eq!(
            s.to_json(),
            r#"{"resultType":"string","result":[0,"a\"b"]}"#
        );
    }
}
