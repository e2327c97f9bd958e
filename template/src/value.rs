//! Dynamic values that templates read and print.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use lookout_model::format_go_g;

/// A value a template works on: the data passed in, variables, literals and function results.
///
/// The variants mirror the Go kinds that Prometheus, Alertmanager and Loki pass to their templates:
/// strings, numbers, booleans, slices and maps (iterated in key order, as Go's `range` does), plus
/// [`Object`]s for structured values with fields and methods.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Value {
    /// Go's `nil`.
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (Go `int`; rune literals too).
    Int(i64),
    /// A float (Go `float64`).
    Float(f64),
    /// A string.
    String(Arc<str>),
    /// A slice.
    List(Arc<Vec<Value>>),
    /// A map with string keys.
    Map(Arc<BTreeMap<String, Value>>),
    /// A structured value with fields and methods.
    Object(Arc<dyn Object>),
}

/// A structured value: fields (`.Name`) and methods (`.Name arg…`).
pub trait Object: fmt::Debug + Send + Sync {
    /// The field or zero-argument method `name`, if it exists.
    fn field(&self, name: &str) -> Option<Value>;
    /// Calls method `name` with arguments; `None` if there is no such method.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let _ = (name, args);
        None
    }
    /// How `{{.}}` prints it (Go's `%v`).
    fn display(&self) -> String;
    /// Whether it counts as true in `if` (non-zero in Go terms).
    fn truthy(&self) -> bool {
        true
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// A map value from pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(Arc::new(
            pairs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        ))
    }

    /// A map of strings from a label set (as Prometheus passes `$labels`).
    pub fn from_labels(labels: &lookout_model::Labels) -> Value {
        Value::map(labels.iter().map(|l| (l.name, Value::str(l.value))))
    }

    /// Go's notion of truth: false, 0, nil and empty strings, slices and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => o.truthy(),
        }
    }

    /// The Go kind name, used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "struct",
        }
    }

    /// The string inside a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Prints the value as Go's `fmt` `%v` does.
    pub fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => format_go_g(*f, out),
            Value::String(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Object(o) => out.push_str(&o.display()),
        }
    }

    /// The value printed as `%v`.
    pub fn to_go_string(&self) -> String {
        let mut s = String::new();
        self.write_go(&mut s);
        s
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(s) => write!(f, "{s:?}"),
            other => f.write_str(&other.to_go_string()),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::str(s)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
