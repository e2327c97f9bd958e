//! The template functions Prometheus adds for alerting and recording rules (and that
//! Alertmanager shares in part): `humanize*`, `toUpper`, `reReplaceAll`, `first`, …
//!
//! `query` needs an engine: the caller registers it with [`Funcs::insert`]. Query results are
//! lists of maps with a `Labels` map and a `Value` float, as Prometheus' `queryResult` is.

use std::sync::Arc;

use lookout_model::{civil_from_days, GoRegex, RegexOptions};

use crate::funcs::{one, two, Funcs};
use crate::printf::go_sprintf;
use crate::value::Value;

/// Converts a template argument to a float as Prometheus' `convertToFloat` does: floats, ints
/// and numeric strings.
pub fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::String(s) => parse_go_float(s)
            .ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.kind())),
    }
}

fn parse_go_float(s: &str) -> Option<f64> {
    let l = s.to_ascii_lowercase();
    let t = l.trim_start_matches(['+', '-']);
    match t {
        "inf" | "infinity" => Some(if l.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        "nan" => Some(f64::NAN),
        _ if t.contains("inf") || t.contains("nan") => None,
        _ => l.replace('_', "").parse().ok(),
    }
}

fn g4(v: f64) -> String {
    go_sprintf("%.4g", &[Value::Float(v)])
}

/// Prometheus' `humanize`: SI prefixes, four significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanizeDuration` of a number of seconds.
pub fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Go's `time.Time.String()` of a Unix time in seconds, in UTC
/// (`2006-01-02 15:04:05.999999999 +0000 UTC`), at the millisecond precision Prometheus keeps
/// (it converts through `model.TimeFromUnixNano`).
pub fn go_time_string(secs: f64) -> String {
    let ms = ((secs * 1e9) as i64) / 1_000_000;
    let (days, rem_ms) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (s, frac_ms) = (rem_ms / 1000, rem_ms % 1000);
    let (y, mo, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        (s / 60) % 60,
        s % 60
    );
    if frac_ms > 0 {
        let frac = format!("{frac_ms:03}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Go's `time.Duration.String()` of a number of seconds (`1h2m3.5s`, `1.5ms`, `0s`).
pub fn go_duration_string(secs: f64) -> String {
    let ns = (secs * 1e9) as i128;
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let frac = |v: u128, unit: u128| -> String {
        let whole = v / unit;
        let rem = v % unit;
        if rem == 0 {
            whole.to_string()
        } else {
            let digits = unit.to_string().len() - 1;
            let f = format!("{rem:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 1_000))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 1_000_000))
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s = frac(u % 60_000_000_000, 1_000_000_000);
        if h > 0 {
            format!("{h}h{m}m{s}s")
        } else if m > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{s}s")
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Expands `$1`, `${1}`, `$name`, `${name}` in `template` as Go's `regexp.Expand` does.
pub fn go_expand(template: &str, caps: &regex::Captures<'_>, re: &GoRegex, out: &mut String) {
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let Some(off) = template[i..].find('$') else {
            out.push_str(&template[i..]);
            break;
        };
        out.push_str(&template[i..i + off]);
        i += off + 1;
        if b.get(i) == Some(&b'$') {
            out.push('$');
            i += 1;
            continue;
        }
        let (name, next) = if b.get(i) == Some(&b'{') {
            let end = template[i + 1..].find('}').map(|e| i + 1 + e);
            match end {
                Some(e)
                    if e > i + 1
                        && template[i + 1..e]
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_') =>
                {
                    (&template[i + 1..e], e + 1)
                }
                _ => {
                    out.push('$');
                    continue;
                }
            }
        } else {
            let end = template[i..]
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map(|(p, _)| i + p)
                .unwrap_or(template.len());
            if end == i {
                out.push('$');
                continue;
            }
            (&template[i..end], end)
        };
        i = next;
        let idx = if name.bytes().all(|c| c.is_ascii_digit())
            && !(name.len() > 1 && name.starts_with('0'))
            && name.len() <= 8
        {
            name.parse::<usize>().ok()
        } else {
            re.capture_index(name)
        };
        if let Some(m) = idx.and_then(|k| caps.get(k)) {
            out.push_str(m.as_str());
        }
    }
}

fn simple_case(s: &str, upper: bool) -> String {
    s.chars()
        .map(|c| {
            let mut m: Vec<char> = if upper {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            if m.len() == 1 {
                m.pop().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.push_str(&simple_case(&c.to_string(), true));
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn split_host_port(hp: &str) -> Option<(&str, &str)> {
    if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':')?;
        return Some((&rest[..end], port));
    }
    let i = hp.rfind(':')?;
    if hp[..i].contains(':') {
        return None;
    }
    Some((&hp[..i], &hp[i + 1..]))
}

fn arg_str<'v>(v: &'v Value, what: &str) -> Result<&'v str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what}: expected string, got {}", v.kind()))
}

fn sample_field(s: &Value, field: &str) -> Result<Value, String> {
    match s {
        Value::Map(m) => Ok(m.get(field).cloned().unwrap_or_default()),
        Value::Object(o) => o
            .field(field)
            .ok_or_else(|| format!("sample has no field {field}")),
        other => Err(format!(
            "expected a query result sample, got {}",
            other.kind()
        )),
    }
}

impl Funcs {
    /// Go's builtins plus Prometheus' template functions (all but `query`, `tmpl` and the
    /// link helpers, which need an engine or a server): `humanize humanize1024 humanizeDuration
    /// humanizePercentage humanizeTimestamp toTime toDuration parseDuration title toUpper toLower
    /// match reReplaceAll stripPort stripDomain safeHtml args first label value strvalue
    /// sortByLabel externalURL pathPrefix`.
    pub fn prometheus(external_url: &str) -> Funcs {
        let mut f = Funcs::builtins();
        f.insert("humanize", |a| {
            Ok(Value::str(humanize(to_float(one(a, "humanize")?)?)))
        });
        f.insert("humanize1024", |a| {
            Ok(Value::str(humanize1024(to_float(one(a, "humanize1024")?)?)))
        });
        f.insert("humanizeDuration", |a| {
            Ok(Value::str(humanize_duration(to_float(one(
                a,
                "humanizeDuration",
            )?)?)))
        });
        f.insert("humanizePercentage", |a| {
            let v = to_float(one(a, "humanizePercentage")?)?;
            Ok(Value::str(format!("{}%", g4(v * 100.0))))
        });
        f.insert("humanizeTimestamp", |a| {
            let v = to_float(one(a, "humanizeTimestamp")?)?;
            if v.is_nan() || v.is_infinite() {
                return Ok(Value::str(g4(v)));
            }
            Ok(Value::str(go_time_string(v)))
        });
        f.insert("toTime", |a| {
            let v = to_float(one(a, "toTime")?)?;
            if v.is_nan() || v.is_infinite() {
                return Err(format!("cannot convert {} to time", g4(v)));
            }
            Ok(Value::str(go_time_string(v)))
        });
        f.insert("toDuration", |a| {
            let v = to_float(one(a, "toDuration")?)?;
            if v.is_nan() || v.is_infinite() {
                return Err(format!("cannot convert {} to duration", g4(v)));
            }
            Ok(Value::str(go_duration_string(v)))
        });
        f.insert("parseDuration", |a| {
            let s = arg_str(one(a, "parseDuration")?, "parseDuration")?;
            let ms = lookout_model::parse_duration(s).map_err(|e| e.to_string())?;
            Ok(Value::Float(ms as f64 / 1000.0))
        });
        f.insert("title", |a| {
            Ok(Value::str(title(arg_str(one(a, "title")?, "title")?)))
        });
        f.insert("toUpper", |a| {
            Ok(Value::str(simple_case(
                arg_str(one(a, "toUpper")?, "toUpper")?,
                true,
            )))
        });
        f.insert("toLower", |a| {
            Ok(Value::str(simple_case(
                arg_str(one(a, "toLower")?, "toLower")?,
                false,
            )))
        });
        f.insert("match", |a| {
            let [p, s] = two(a, "match")?;
            let re = GoRegex::with_options(arg_str(p, "match")?, RegexOptions::SEARCH)
                .map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(arg_str(s, "match")?)))
        });
        f.insert("reReplaceAll", |a| {
            let [p, repl, text] = match a {
                [p, r, t] => [p, r, t],
                _ => {
                    return Err(format!(
                        "wrong number of args for reReplaceAll: want 3 got {}",
                        a.len()
                    ))
                }
            };
            let re = GoRegex::with_options(arg_str(p, "reReplaceAll")?, RegexOptions::SEARCH)
                .map_err(|e| e.to_string())?;
            let (repl, text) = (
                arg_str(repl, "reReplaceAll")?,
                arg_str(text, "reReplaceAll")?,
            );
            let mut out = String::new();
            let mut last = 0;
            for caps in re.regex().captures_iter(text) {
                let Some(m) = caps.get(0) else { continue };
                out.push_str(&text[last..m.start()]);
                go_expand(repl, &caps, &re, &mut out);
                last = m.end();
            }
            out.push_str(&text[last..]);
            Ok(Value::str(out))
        });
        f.insert("stripPort", |a| {
            let hp = arg_str(one(a, "stripPort")?, "stripPort")?;
            Ok(Value::str(
                split_host_port(hp).map(|(h, _)| h).unwrap_or(hp),
            ))
        });
        f.insert("stripDomain", |a| {
            let hp = arg_str(one(a, "stripDomain")?, "stripDomain")?;
            let (host, port) = split_host_port(hp).unwrap_or((hp, ""));
            if host.parse::<std::net::IpAddr>().is_ok() {
                return Ok(Value::str(hp));
            }
            let short = host.split('.').next().unwrap_or(host);
            Ok(Value::str(if port.is_empty() {
                short.to_string()
            } else if short.contains(':') {
                format!("[{short}]:{port}")
            } else {
                format!("{short}:{port}")
            }))
        });
        f.insert("safeHtml", |a| {
            Ok(Value::str(arg_str(one(a, "safeHtml")?, "safeHtml")?))
        });
        f.insert("args", |a| {
            Ok(Value::map(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v.clone())),
            ))
        });
        f.insert("first", |a| match one(a, "first")? {
            Value::List(l) => l
                .first()
                .cloned()
                .ok_or_else(|| "first() called on vector with no elements".to_string()),
            other => Err(format!("first() called on {}", other.kind())),
        });
        f.insert("label", |a| {
            let [name, s] = two(a, "label")?;
            let labels = sample_field(s, "Labels")?;
            Ok(match labels {
                Value::Map(m) => m
                    .get(arg_str(name, "label")?)
                    .cloned()
                    .unwrap_or(Value::str("")),
                _ => Value::str(""),
            })
        });
        f.insert("value", |a| sample_field(one(a, "value")?, "Value"));
        f.insert("strvalue", |a| {
            let labels = sample_field(one(a, "strvalue")?, "Labels")?;
            Ok(match labels {
                Value::Map(m) => m.get("__value__").cloned().unwrap_or(Value::str("")),
                _ => Value::str(""),
            })
        });
        f.insert("sortByLabel", |a| {
            let [name, list] = two(a, "sortByLabel")?;
            let name = arg_str(name, "sortByLabel")?.to_string();
            let Value::List(l) = list else {
                return Err(format!("sortByLabel called on {}", list.kind()));
            };
            let key = |s: &Value| -> String {
                match sample_field(s, "Labels") {
                    Ok(Value::Map(m)) => m.get(&name).map(|v| v.to_go_string()).unwrap_or_default(),
                    _ => String::new(),
                }
            };
            let mut v: Vec<Value> = l.as_ref().clone();
            v.sort_by_cached_key(key);
            Ok(Value::list(v))
        });
        let url: Arc<str> = Arc::from(external_url);
        let u2 = url.clone();
        f.insert("externalURL", move |_| Ok(Value::String(url.clone())));
        f.insert("pathPrefix", move |_| {
            // The path of the external URL (after scheme://host).
            let s: &str = &u2;
            let after = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
            Ok(Value::str(
                after.find('/').map(|i| &after[i..]).unwrap_or(""),
            ))
        });
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_prometheus() {
        // Expected values from Prometheus' template_test.go.
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(1.0), "1");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0001234), "123.4u");
        assert_eq!(humanize(-1234.0), "-1.234k");
        assert_eq!(humanize1024(1.0), "1");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize1024(1073741824.0 * 1.5), "1.5Gi");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(humanize_duration(1.0), "1s");
        assert_eq!(humanize_duration(60.0), "1m 0s");
        assert_eq!(humanize_duration(3600.0), "1h 0m 0s");
        assert_eq!(humanize_duration(86400.0), "1d 0h 0m 0s");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(0.1), "100ms");
        assert_eq!(humanize_duration(0.0001), "100us");
        assert_eq!(humanize_duration(-90061.0), "-1d 1h 1m 1s");
        assert_eq!(humanize_duration(1.2345), "1.234s");
    }

    #[test]
    fn time_strings_like_go() {
        assert_eq!(
            go_time_string(1435065584.128),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(go_time_string(0.0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_duration_string(3723.5), "1h2m3.5s");
        assert_eq!(go_duration_string(0.0015), "1.5ms");
        assert_eq!(go_duration_string(60.0), "1m0s");
    }
}
