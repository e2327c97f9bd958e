//! Function sets: Go's builtins and the registry that callers extend.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::printf::{go_sprint, go_sprintf, go_sprintln};
use crate::value::Value;

/// A template function: takes evaluated arguments, returns a value or an error message.
pub type Func = Arc<dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync>;

/// A set of functions a template may call. Starts with Go's builtins; callers add their own
/// (`prometheus()` adds Prometheus' alerting and recording template functions).
#[derive(Clone)]
pub struct Funcs {
    map: HashMap<String, Func>,
}

impl fmt::Debug for Funcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.map.keys().collect();
        names.sort();
        f.debug_struct("Funcs").field("names", &names).finish()
    }
}

impl Default for Funcs {
    fn default() -> Self {
        Funcs::builtins()
    }
}

impl Funcs {
    /// Go's `text/template` builtins: `and or not len index slice print printf println eq ne lt
    /// le gt ge html js urlquery`.
    pub fn builtins() -> Funcs {
        let mut f = Funcs {
            map: HashMap::new(),
        };
        // `and` and `or` are evaluated lazily by the executor; these entries make them known.
        f.insert("and", |_| Ok(Value::Nil));
        f.insert("or", |_| Ok(Value::Nil));
        f.insert("not", |a| Ok(Value::Bool(!one(a, "not")?.truthy())));
        f.insert("len", |a| {
            let n = match one(a, "len")? {
                Value::String(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(format!("len of type {}", other.kind())),
            };
            Ok(Value::Int(n as i64))
        });
        f.insert("index", index);
        f.insert("slice", slice);
        f.insert("print", |a| Ok(Value::str(go_sprint(a))));
        f.insert("println", |a| Ok(Value::str(go_sprintln(a))));
        f.insert("printf", |a| match a.split_first() {
            Some((Value::String(fmt), rest)) => Ok(Value::str(go_sprintf(fmt, rest))),
            Some((other, _)) => Err(format!(
                "wrong type for value; expected string; got {}",
                other.kind()
            )),
            None => Err("wrong number of args for printf: want at least 1 got 0".into()),
        });
        f.insert("eq", |a| {
            let (first, rest) = a.split_first().ok_or("missing argument for comparison")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            for b in rest {
                if compare(first, b)? == Some(std::cmp::Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        });
        f.insert("ne", |a| {
            let [x, y] = two(a, "ne")?;
            Ok(Value::Bool(
                compare(x, y)? != Some(std::cmp::Ordering::Equal),
            ))
        });
        f.insert("lt", |a| ordered(a, "lt", |o| o.is_lt()));
        f.insert("le", |a| ordered(a, "le", |o| o.is_le()));
        f.insert("gt", |a| ordered(a, "gt", |o| o.is_gt()));
        f.insert("ge", |a| ordered(a, "ge", |o| o.is_ge()));
        f.insert("html", |a| Ok(Value::str(html_escape(&go_sprint(a)))));
        f.insert("js", |a| Ok(Value::str(js_escape(&go_sprint(a)))));
        f.insert("urlquery", |a| Ok(Value::str(query_escape(&go_sprint(a)))));
        f
    }

    /// Adds or replaces a function.
    pub fn insert<F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.map.insert(name.to_string(), Arc::new(f));
        self
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&Func> {
        self.map.get(name)
    }

    /// Whether a function called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
}

pub(crate) fn one<'v>(a: &'v [Value], name: &str) -> Result<&'v Value, String> {
    match a {
        [x] => Ok(x),
        _ => Err(format!(
            "wrong number of args for {name}: want 1 got {}",
            a.len()
        )),
    }
}

pub(crate) fn two<'v>(a: &'v [Value], name: &str) -> Result<[&'v Value; 2], String> {
    match a {
        [x, y] => Ok([x, y]),
        _ => Err(format!(
            "wrong number of args for {name}: want 2 got {}",
            a.len()
        )),
    }
}

/// Go's `eq`/`lt` rules: both basic values of the same kind (ints and floats do not mix).
fn compare(a: &Value, b: &Value) -> Result<Option<std::cmp::Ordering>, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => {
            if x == y {
                Some(std::cmp::Ordering::Equal)
            } else {
                // Booleans are comparable for equality only; any non-Equal answer serves `eq`.
                Some(std::cmp::Ordering::Less)
            }
        }
        (Value::Nil, Value::Nil) => Some(std::cmp::Ordering::Equal),
        (x, y) if is_basic(x) && is_basic(y) => {
            return Err("incompatible types for comparison".into())
        }
        _ => return Err("invalid type for comparison".into()),
    })
}

fn is_basic(v: &Value) -> bool {
    matches!(
        v,
        Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Bool(_)
    )
}

fn ordered(a: &[Value], name: &str, ok: fn(std::cmp::Ordering) -> bool) -> Result<Value, String> {
    let [x, y] = two(a, name)?;
    if matches!(x, Value::Bool(_)) {
        return Err("invalid type for comparison".into());
    }
    Ok(Value::Bool(compare(x, y)?.is_some_and(ok)))
}

fn as_index(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(format!(
            "cannot index slice/array with type {}",
            other.kind()
        )),
    }
}

fn index(a: &[Value]) -> Result<Value, String> {
    let (first, keys) = a
        .split_first()
        .ok_or("wrong number of args for index: want at least 1 got 0")?;
    let mut v = first.clone();
    for k in keys {
        v = match &v {
            Value::List(l) => {
                let i = as_index(k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| l.get(i))
                    .cloned()
                    .ok_or_else(|| format!("error calling index: index out of range: {i}"))?
            }
            Value::String(s) => {
                let i = as_index(k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| s.as_bytes().get(i))
                    .map(|b| Value::Int(i64::from(*b)))
                    .ok_or_else(|| format!("error calling index: index out of range: {i}"))?
            }
            Value::Map(m) => match k {
                Value::String(key) => m.get(&**key).cloned().unwrap_or(Value::str("")),
                other => return Err(format!("value has type {}; should be string", other.kind())),
            },
            Value::Nil => return Err("index of untyped nil".into()),
            other => return Err(format!("can't index item of type {}", other.kind())),
        };
    }
    Ok(v)
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let (first, idx) = a
        .split_first()
        .ok_or("wrong number of args for slice: want at least 1 got 0")?;
    let len = match first {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.kind())),
    };
    if idx.len() > 2 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let get = |i: usize, default: usize| -> Result<usize, String> {
        match idx.get(i) {
            None => Ok(default),
            Some(v) => {
                let n = as_index(v)?;
                usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= len)
                    .ok_or_else(|| format!("index out of range: {n}"))
            }
        }
    };
    let (lo, hi) = (get(0, 0)?, get(1, len)?);
    if lo > hi {
        return Err(format!("invalid slice index: {lo} > {hi}"));
    }
    match first {
        Value::String(s) => s
            .get(lo..hi)
            .map(Value::str)
            .ok_or_else(|| "slice index splits a UTF-8 character".to_string()),
        Value::List(l) => Ok(Value::list(l[lo..hi].to_vec())),
        _ => Err("can't slice".into()),
    }
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
