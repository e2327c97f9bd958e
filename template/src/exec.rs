//! Executing a parsed template against data.

use std::collections::HashMap;

use crate::funcs::Funcs;
use crate::parse::{Arg, Branch, Command, Node, Pipe};
use crate::value::Value;

/// What a failed step reports before it is placed in the template: the action and the message.
#[derive(Debug)]
pub(crate) struct ExecFail {
    pub(crate) pos: usize,
    pub(crate) action: String,
    pub(crate) msg: String,
}

/// What to do when a map has no entry for a key (Go's `missingkey` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MissingKey {
    /// Go's default: the missing value prints as `<no value>`.
    #[default]
    Default,
    /// The zero value of the map's element type (`""` for maps of strings). Prometheus uses this.
    Zero,
    /// An error.
    Error,
}

/// Limits that keep hostile templates bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_output: usize,
    pub(crate) max_steps: u64,
    pub(crate) max_depth: usize,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    pub(crate) funcs: &'a Funcs,
    pub(crate) defines: &'a HashMap<String, Vec<Node>>,
    pub(crate) missing: MissingKey,
    pub(crate) limits: Limits,
    pub(crate) out: String,
    vars: Vec<(String, Value)>,
    steps: u64,
    depth: usize,
}

type R<T> = Result<T, ExecFail>;

fn fail(pipe: &Pipe, msg: impl Into<String>) -> ExecFail {
    ExecFail {
        pos: pipe.pos,
        action: pipe.text.clone(),
        msg: msg.into(),
    }
}

impl<'a> Exec<'a> {
    pub(crate) fn new(
        funcs: &'a Funcs,
        defines: &'a HashMap<String, Vec<Node>>,
        missing: MissingKey,
        limits: Limits,
    ) -> Exec<'a> {
        Exec {
            funcs,
            defines,
            missing,
            limits,
            out: String::new(),
            vars: Vec::new(),
            steps: 0,
            depth: 0,
        }
    }

    pub(crate) fn run(&mut self, nodes: &[Node], dot: &Value) -> R<()> {
        self.vars.push(("$".to_string(), dot.clone()));
        self.list(nodes, dot).map(|_| ())
    }

    fn step(&mut self, pos: usize) -> R<()> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(ExecFail {
                pos,
                action: String::new(),
                msg: format!("execution exceeded {} steps", self.limits.max_steps),
            });
        }
        if self.out.len() > self.limits.max_output {
            return Err(ExecFail {
                pos,
                action: String::new(),
                msg: format!("output exceeded {} bytes", self.limits.max_output),
            });
        }
        Ok(())
    }

    fn list(&mut self, nodes: &[Node], dot: &Value) -> R<Flow> {
        for n in nodes {
            match self.node(n, dot)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value) -> R<Flow> {
        match n {
            Node::Text(t) => {
                self.step(0)?;
                self.out.push_str(t);
            }
            Node::Action(p) => {
                self.step(p.pos)?;
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    self.print(&v);
                }
            }
            Node::If(b) => return self.branch(b, dot, BranchKind::If),
            Node::With(b) => return self.branch(b, dot, BranchKind::With),
            Node::Range(b) => return self.range(b, dot),
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { name, pipe, pos } => {
                let Some(body) = self.defines.get(name) else {
                    return Err(ExecFail {
                        pos: *pos,
                        action: format!("template {name:?}"),
                        msg: format!("no such template {name:?}"),
                    });
                };
                let newdot = match pipe {
                    Some(p) => self.pipe(p, dot)?,
                    None => Value::Nil,
                };
                if self.depth >= self.limits.max_depth {
                    return Err(ExecFail {
                        pos: *pos,
                        action: format!("template {name:?}"),
                        msg: "exceeded maximum template depth".into(),
                    });
                }
                self.depth += 1;
                let saved = std::mem::take(&mut self.vars);
                self.vars.push(("$".to_string(), newdot.clone()));
                let r = self.list(body, &newdot);
                self.vars = saved;
                self.depth -= 1;
                r?;
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, v: &Value) {
        v.write_go(&mut self.out);
    }

    fn branch(&mut self, b: &Branch, dot: &Value, kind: BranchKind) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.pipe(&b.pipe, dot)?;
        let r = if v.truthy() {
            let newdot = if matches!(kind, BranchKind::With) {
                v
            } else {
                dot.clone()
            };
            self.list(&b.body, &newdot)
        } else {
            self.list(&b.else_body, dot)
        };
        self.vars.truncate(mark);
        r
    }

    fn range(&mut self, b: &Branch, dot: &Value) -> R<Flow> {
        let mark = self.vars.len();
        // The range pipeline's declared variables are the loop variables; evaluate without them.
        let mut p = b.pipe.clone();
        let decl = std::mem::take(&mut p.decl);
        let v = self.pipe(&p, dot)?;
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match &v {
            Value::List(l) => {
                let l = l.clone();
                Box::new((0..l.len()).map(move |i| (Value::Int(i as i64), l[i].clone())))
            }
            Value::Map(m) => {
                let pairs: Vec<(Value, Value)> = m
                    .iter()
                    .map(|(k, x)| (Value::str(k.as_str()), x.clone()))
                    .collect();
                Box::new(pairs.into_iter())
            }
            Value::Int(n) => {
                if u64::try_from(*n).unwrap_or(0) > self.limits.max_steps {
                    return Err(fail(
                        &b.pipe,
                        format!("range over {n} exceeds the step limit"),
                    ));
                }
                Box::new((0..(*n).max(0)).map(|i| (Value::Int(i), Value::Int(i))))
            }
            Value::Nil => Box::new(std::iter::empty()),
            other => {
                return Err(fail(
                    &b.pipe,
                    format!("range can't iterate over {}", other.to_go_string()),
                ))
            }
        };
        let mut items = items.peekable();
        if items.peek().is_none() {
            let r = self.list(&b.else_body, dot);
            self.vars.truncate(mark);
            return r;
        }
        for (k, x) in items {
            self.step(b.pipe.pos)?;
            let inner = self.vars.len();
            match decl.len() {
                1 => self.set_var(&decl[0], x.clone(), b.pipe.assign),
                2 => {
                    self.set_var(&decl[0], k, b.pipe.assign);
                    self.set_var(&decl[1], x.clone(), b.pipe.assign);
                }
                _ => {}
            }
            let flow = self.list(&b.body, &x)?;
            self.vars.truncate(inner.max(mark));
            match flow {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_var(&mut self, name: &str, v: Value, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    fn var(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    fn pipe(&mut self, p: &Pipe, dot: &Value) -> R<Value> {
        let mut prev: Option<Value> = None;
        for c in &p.cmds {
            prev = Some(self.command(p, c, dot, prev)?);
        }
        let v = prev.unwrap_or_default();
        for d in &p.decl {
            self.set_var(d, v.clone(), p.assign);
        }
        Ok(v)
    }

    fn command(&mut self, p: &Pipe, c: &Command, dot: &Value, prev: Option<Value>) -> R<Value> {
        let Some(first) = c.args.first() else {
            return Err(fail(p, "empty command"));
        };
        match first {
            Arg::Func(name) => self.call(p, name, &c.args[1..], dot, prev),
            Arg::Field(chain) if c.args.len() > 1 || prev.is_some() => {
                // A method call with arguments on the last field.
                let (last, head) = chain
                    .split_last()
                    .ok_or_else(|| fail(p, "empty field chain"))?;
                let recv = self.fields(p, dot.clone(), head)?;
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push(self.arg(p, a, dot)?);
                }
                args.extend(prev);
                self.method(p, &recv, last, &args)
            }
            _ => {
                if c.args.len() > 1 || prev.is_some() {
                    return Err(fail(
                        p,
                        format!(
                            "can't give argument to non-function {}",
                            describe_arg(first)
                        ),
                    ));
                }
                self.arg(p, first, dot)
            }
        }
    }

    fn call(
        &mut self,
        p: &Pipe,
        name: &str,
        args: &[Arg],
        dot: &Value,
        prev: Option<Value>,
    ) -> R<Value> {
        // `and` and `or` evaluate lazily, returning the deciding argument.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(prev.is_some());
            if total < 1 {
                return Err(fail(
                    p,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.arg(p, a, dot)?;
                if (name == "and") != last.truthy() {
                    return Ok(last);
                }
            }
            if let Some(v) = prev {
                last = v;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(p, a, dot)?);
        }
        vals.extend(prev);
        let f = self
            .funcs
            .get(name)
            .ok_or_else(|| fail(p, format!("function {name:?} not defined")))?;
        f(&vals).map_err(|e| fail(p, format!("error calling {name}: {e}")))
    }

    fn arg(&mut self, p: &Pipe, a: &Arg, dot: &Value) -> R<Value> {
        match a {
            Arg::Dot => Ok(dot.clone()),
            Arg::Nil => Ok(Value::Nil),
            Arg::Const(v) => Ok(v.clone()),
            Arg::Field(chain) => self.fields(p, dot.clone(), chain),
            Arg::Var(name, chain) => {
                let v = self
                    .var(name)
                    .cloned()
                    .ok_or_else(|| fail(p, format!("undefined variable: {name}")))?;
                self.fields(p, v, chain)
            }
            Arg::Func(name) => self.call(p, name, &[], dot, None),
            Arg::Pipe(inner, chain) => {
                let v = self.pipe(inner, dot)?;
                self.fields(p, v, chain)
            }
        }
    }

    fn fields(&mut self, p: &Pipe, mut v: Value, chain: &[String]) -> R<Value> {
        for f in chain {
            v = self.field(p, &v, f)?;
        }
        Ok(v)
    }

    fn field(&mut self, p: &Pipe, v: &Value, name: &str) -> R<Value> {
        match v {
            Value::Map(m) => match m.get(name) {
                Some(x) => Ok(x.clone()),
                None => match self.missing {
                    MissingKey::Error => Err(fail(p, format!("map has no entry for key {name:?}"))),
                    MissingKey::Zero => Ok(zero_of(m.values().next())),
                    MissingKey::Default => Ok(Value::Object(std::sync::Arc::new(NoValue))),
                },
            },
            Value::Object(o) => o.field(name).ok_or_else(|| {
                fail(
                    p,
                    format!("can't evaluate field {name} in type {}", o.display()),
                )
            }),
            Value::Nil => Err(fail(p, format!("nil data; no entry for key {name:?}"))),
            other => Err(fail(
                p,
                format!("can't evaluate field {name} in type {}", other.kind()),
            )),
        }
    }

    fn method(&mut self, p: &Pipe, recv: &Value, name: &str, args: &[Value]) -> R<Value> {
        match recv {
            Value::Object(o) => match o.call(name, args) {
                Some(r) => r.map_err(|e| fail(p, format!("error calling {name}: {e}"))),
                None => Err(fail(
                    p,
                    format!("can't evaluate field {name} in type {}", o.display()),
                )),
            },
            other => Err(fail(
                p,
                format!(
                    "{name} has arguments but cannot be invoked as function on {}",
                    other.kind()
                ),
            )),
        }
    }
}

#[derive(Clone, Copy)]
enum BranchKind {
    If,
    With,
}

fn zero_of(sample: Option<&Value>) -> Value {
    match sample {
        Some(Value::Float(_)) => Value::Float(0.0),
        Some(Value::Int(_)) => Value::Int(0),
        Some(Value::Bool(_)) => Value::Bool(false),
        Some(Value::List(_) | Value::Map(_) | Value::Object(_) | Value::Nil) => Value::Nil,
        Some(Value::String(_)) | None => Value::str(""),
    }
}

fn describe_arg(a: &Arg) -> String {
    match a {
        Arg::Dot => "<.>".into(),
        Arg::Nil => "nil".into(),
        Arg::Const(v) => v.to_go_string(),
        Arg::Field(c) => format!(".{}", c.join(".")),
        Arg::Var(n, c) if c.is_empty() => n.clone(),
        Arg::Var(n, c) => format!("{n}.{}", c.join(".")),
        Arg::Func(n) => n.clone(),
        Arg::Pipe(p, _) => format!("({})", p.text),
    }
}

/// Go's invalid value: what a missing map key gives with `missingkey=default`.
#[derive(Debug)]
struct NoValue;

impl crate::value::Object for NoValue {
    fn field(&self, _: &str) -> Option<Value> {
        None
    }
    fn display(&self) -> String {
        "<no value>".into()
    }
    fn truthy(&self) -> bool {
        false
    }
}
