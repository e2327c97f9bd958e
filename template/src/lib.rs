//! The subset of Go's `text/template` that Prometheus alerting rules, Loki's `line_format` and
//! Alertmanager notifications share.
//!
//! It covers Go's syntax (actions, pipelines, variables, `if`/`else if`/`with`/`range` with
//! `break` and `continue`, `define`/`template`/`block`, comments, `{{-`/`-}}` trimming), Go's
//! builtin functions and `fmt` verbs, and pluggable function sets: [`Funcs::builtins`] and
//! [`Funcs::prometheus`], to which callers add their own (a `query` function bound to an engine,
//! Alertmanager's helpers, LogQL's).
//!
//! ```
//! use lookout_template::{Funcs, Template, Value};
//!
//! let defs = "{{$labels := .Labels}}{{$value := .Value}}";
//! let text = format!("{defs}{{{{ $labels.instance }}}} is at {{{{ humanize $value }}}}");
//! let t = Template::parse("summary", &text, Funcs::prometheus("http://prom"))?;
//! let data = Value::map([
//!     ("Labels", Value::map([("instance", Value::str("db1"))])),
//!     ("Value", Value::Float(1234567.0)),
//! ]);
//! assert_eq!(t.execute(&data)?, "db1 is at 1.235M");
//! # Ok::<(), lookout_template::Error>(())
//! ```
#![forbid(unsafe_code)]

mod error;
mod exec;
mod funcs;
mod parse;
mod printf;
mod prometheus;
mod value;

pub use crate::error::Error;
pub use crate::exec::MissingKey;
pub use crate::funcs::{Func, Funcs};
pub use crate::prometheus::{
    go_duration_string, go_expand, go_time_string, humanize, humanize1024, humanize_duration,
    to_float,
};
pub use crate::value::{Object, Value};

use crate::error::{go_byte_col, line_col};
use crate::exec::{Exec, Limits};

/// A parsed template, ready to execute any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    src: String,
    tree: parse::Tree,
    funcs: Funcs,
    missing: MissingKey,
    limits: Limits,
}

impl Template {
    /// Parses `text` as the template `name`. Every function it calls must be in `funcs`, as Go
    /// checks at parse time.
    pub fn parse(name: &str, text: &str, funcs: Funcs) -> Result<Template, Error> {
        let tree = parse::parse(text, &|f| funcs.contains(f)).map_err(|e| {
            let (line, column) = line_col(text, e.pos);
            Error::Parse {
                name: name.to_string(),
                line,
                column,
                message: e.msg,
            }
        })?;
        Ok(Template {
            name: name.to_string(),
            src: text.to_string(),
            tree,
            funcs,
            missing: MissingKey::Default,
            limits: Limits {
                max_output: 16 << 20,
                max_steps: 10_000_000,
                // Go allows far more, on a growable stack; ours is fixed, and real templates
                // nest a few levels.
                max_depth: 100,
            },
        })
    }

    /// Sets what a missing map key gives (Go's `missingkey` option). Prometheus uses
    /// [`MissingKey::Zero`].
    pub fn missing_key(mut self, m: MissingKey) -> Template {
        self.missing = m;
        self
    }

    /// Caps the output size in bytes (default 16 MiB); exceeding it is an error.
    pub fn max_output(mut self, bytes: usize) -> Template {
        self.limits.max_output = bytes;
        self
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the template with `data` as dot and `$`.
    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        self.execute_named(None, data)
    }

    /// Runs the template defined (with `define` or `block`) as `name`, or the main one for `None`.
    pub fn execute_named(&self, name: Option<&str>, data: &Value) -> Result<String, Error> {
        let nodes = match name {
            None => &self.tree.root,
            Some(n) => self.tree.defines.get(n).ok_or_else(|| Error::Exec {
                name: self.name.clone(),
                line: 1,
                column: 0,
                action: String::new(),
                message: format!("no template {n:?} associated with template {:?}", self.name),
            })?,
        };
        let mut ex = Exec::new(&self.funcs, &self.tree.defines, self.missing, self.limits);
        ex.run(nodes, data).map_err(|f| {
            let (line, _) = line_col(&self.src, f.pos);
            let column = go_byte_col(&self.src, f.pos);
            Error::Exec {
                name: self.name.clone(),
                line,
                column,
                action: f.action,
                message: f.msg,
            }
        })?;
        Ok(ex.out)
    }
}
