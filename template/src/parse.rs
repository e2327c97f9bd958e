//! Lexing and parsing of Go template text into a tree.

use std::collections::HashMap;

use crate::error::Raw as Error;
use crate::value::Value;

/// A node of a parsed template.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        name: String,
        pipe: Option<Pipe>,
        pos: usize,
    },
    Break,
    Continue,
}

/// `if`, `with` and `range`: a pipeline, the body, and the `else` body.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub(crate) pipe: Pipe,
    pub(crate) body: Vec<Node>,
    pub(crate) else_body: Vec<Node>,
}

/// A pipeline: optional variable declarations, then commands joined by `|`.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub(crate) pos: usize,
    /// Declared (or assigned, when `assign`) variable names, `$` included.
    pub(crate) decl: Vec<String>,
    pub(crate) assign: bool,
    pub(crate) cmds: Vec<Command>,
    /// The source text of the action, for error messages.
    pub(crate) text: String,
}

/// One command: a function call, a method call or a single operand.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub(crate) args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.`
    Dot,
    /// `.A.B` on dot.
    Field(Vec<String>),
    /// `$x.A.B`
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// A constant.
    Const(Value),
    /// `nil`
    Nil,
    /// `(pipeline).A.B`
    Pipe(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Left,
    Right,
    Space,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
    Str(String),
    Char(i64),
    Number(String),
    Field(String),
    Dot,
    Var(String),
    Ident(String),
    /// A printable ASCII character with no meaning of its own in an action.
    Other(char),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let b = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut trim_next_text = false;
    while i < b.len() {
        // Text up to the next "{{".
        let next = src[i..].find("{{").map(|p| p + i).unwrap_or(b.len());
        let mut text = &src[i..next];
        if trim_next_text {
            text = text.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
            trim_next_text = false;
        }
        let left_trim = next + 3 < b.len() + 1
            && b.get(next + 2) == Some(&b'-')
            && b.get(next + 3).is_some_and(|c| is_space(*c));
        if left_trim {
            text = text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                pos: i,
            });
        }
        if next >= b.len() {
            break;
        }
        let start = next;
        i = next + 2;
        if left_trim {
            i += 2;
        }
        // Comments: {{/* ... */}}
        let j = skip_spaces(b, i);
        if src[if left_trim { j } else { i }..].starts_with("/*") {
            let ci = if left_trim { j } else { i };
            let end = src[ci + 2..]
                .find("*/")
                .map(|p| ci + 2 + p + 2)
                .ok_or_else(|| Error::parse(start, "unclosed comment"))?;
            let mut k = end;
            let right_trim = src[k..].starts_with(" -}}")
                || src[k..].starts_with("\t-}}")
                || src[k..].starts_with("\n-}}");
            if right_trim {
                k += 1;
                trim_next_text = true;
                k += 1;
            }
            if !src[k..].starts_with("}}") {
                return Err(Error::parse(k, "comment ends before closing delimiter"));
            }
            i = k + 2;
            continue;
        }
        out.push(Token {
            tok: Tok::Left,
            pos: start,
        });
        // Inside the action.
        loop {
            let Some(&c) = b.get(i) else {
                return Err(Error::parse(start, "unclosed action"));
            };
            // Right delimiter, with or without trim marker.
            if is_space(c) {
                let j = skip_spaces(b, i);
                if src[j..].starts_with("-}}") && j > i {
                    out.push(Token {
                        tok: Tok::Right,
                        pos: j,
                    });
                    i = j + 3;
                    trim_next_text = true;
                    break;
                }
                out.push(Token {
                    tok: Tok::Space,
                    pos: i,
                });
                i = j;
                continue;
            }
            if src[i..].starts_with("}}") {
                out.push(Token {
                    tok: Tok::Right,
                    pos: i,
                });
                i += 2;
                break;
            }
            let pos = i;
            let tok = match c {
                b'|' => {
                    i += 1;
                    Tok::Pipe
                }
                b'(' => {
                    i += 1;
                    Tok::LParen
                }
                b')' => {
                    i += 1;
                    Tok::RParen
                }
                b',' => {
                    i += 1;
                    Tok::Comma
                }
                b':' if b.get(i + 1) == Some(&b'=') => {
                    i += 2;
                    Tok::Declare
                }
                b'=' => {
                    i += 1;
                    Tok::Assign
                }
                b'"' | b'`' => {
                    let (s, used) =
                        lookout_model::parse_go_string(&src[i..]).map_err(|e| match e {
                            lookout_model::Error::Parse { offset, message } => {
                                Error::parse(i + offset, message.as_str().to_string())
                            }
                            _ => Error::parse(i, "bad string"),
                        })?;
                    i += used;
                    Tok::Str(s)
                }
                b'\'' => {
                    let (s, used) = lookout_model::parse_go_string(&src[i..])
                        .map_err(|_| Error::parse(i, "malformed character constant"))?;
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(ch), None) => {
                            i += used;
                            Tok::Char(i64::from(u32::from(ch)))
                        }
                        _ => return Err(Error::parse(pos, "malformed character constant")),
                    }
                }
                b'.' if b
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
                {
                    let j = ident_end(src, i + 1);
                    let name = src[i + 1..j].to_string();
                    i = j;
                    Tok::Field(name)
                }
                b'.' if b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                    let j = number_end(b, i);
                    let n = src[i..j].to_string();
                    i = j;
                    Tok::Number(n)
                }
                b'.' => {
                    i += 1;
                    Tok::Dot
                }
                b'$' => {
                    let j = ident_end(src, i + 1);
                    let name = src[i..j].to_string();
                    i = j;
                    Tok::Var(name)
                }
                b'0'..=b'9' | b'+' | b'-' => {
                    let j = number_end(b, i);
                    if j == i || (j == i + 1 && matches!(c, b'+' | b'-')) {
                        return Err(Error::parse(
                            i,
                            format!("unexpected {:?} in command", c as char),
                        ));
                    }
                    let n = src[i..j].to_string();
                    i = j;
                    Tok::Number(n)
                }
                c if (c.is_ascii_alphabetic() || c == b'_' || c >= 0x80)
                    && ident_end(src, i) > i =>
                {
                    let j = ident_end(src, i);
                    let name = src[i..j].to_string();
                    i = j;
                    Tok::Ident(name)
                }
                // Go's lexer passes any other printable ASCII character on as a token of
                // its own, for the parser to reject in context; anything else stops it.
                c if c.is_ascii_graphic() => {
                    i += 1;
                    Tok::Other(c as char)
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    let code = format!("U+{:04X}", ch as u32);
                    let shown = if ch.is_control() {
                        code
                    } else {
                        format!("{code} '{ch}'")
                    };
                    return Err(Error::parse(
                        i,
                        format!("unrecognized character in action: {shown}"),
                    ));
                }
            };
            out.push(Token { tok, pos });
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_space(b[i]) {
        i += 1;
    }
    i
}

fn ident_end(src: &str, i: usize) -> usize {
    src[i..]
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map(|(p, _)| i + p)
        .unwrap_or(src.len())
}

fn number_end(b: &[u8], mut i: usize) -> usize {
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    while let Some(&c) = b.get(i) {
        let prev = if i > 0 { b[i - 1] } else { 0 };
        if c.is_ascii_alphanumeric()
            || c == b'.'
            || c == b'_'
            || ((c == b'+' || c == b'-') && matches!(prev, b'e' | b'E' | b'p' | b'P'))
        {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Parses a Go number literal as `text/template` does: integers (decimal, `0x`, `0o`, `0b`,
/// legacy octal, `_` separators) stay integers, anything with a fraction or exponent is a float.
pub(crate) fn parse_number(s: &str) -> Option<Value> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(bn) = lower.strip_prefix("0b") {
        i64::from_str_radix(bn, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(v) = int {
        return Some(Value::Int(if neg { -v } else { v }));
    }
    if lower.starts_with("0x") || lower.contains("inf") || lower.contains("nan") {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Some(Value::Float(if neg { -f } else { f }))
}

/// A parsed template set: the main template and those it `define`s.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tree {
    pub(crate) root: Vec<Node>,
    pub(crate) defines: HashMap<String, Vec<Node>>,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    funcs: &'a dyn Fn(&str) -> bool,
    defines: HashMap<String, Vec<Node>>,
    vars: Vec<String>,
    in_range: usize,
}

#[derive(Debug, PartialEq)]
enum Stop {
    Eof,
    End,
    Else,
}

pub(crate) fn parse(src: &str, funcs: &dyn Fn(&str) -> bool) -> Result<Tree, Error> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        funcs,
        defines: HashMap::new(),
        vars: vec!["$".to_string()],
        in_range: 0,
    };
    let (root, end, pos) = p.list()?;
    if end != Stop::Eof {
        return Err(Error::parse(
            pos,
            format!(
                "unexpected {{{{{}}}}}",
                if end == Stop::End { "end" } else { "else" }
            ),
        ));
    }
    Ok(Tree {
        root,
        defines: p.defines,
    })
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].pos
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        self.i += 1;
        t
    }
    fn skip_space(&mut self) {
        while *self.peek() == Tok::Space {
            self.i += 1;
        }
    }
    fn expect_right(&mut self, ctx: &str) -> Result<(), Error> {
        self.skip_space();
        match self.peek() {
            Tok::Right => {
                self.i += 1;
                Ok(())
            }
            other => Err(Error::parse(
                self.pos(),
                format!("unexpected {} in {ctx}", describe(other)),
            )),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or the end of input. For `else`, the tokens
    /// after the keyword are left for the caller (`else if …`).
    fn list(&mut self) -> Result<(Vec<Node>, Stop, usize), Error> {
        let mut nodes = Vec::new();
        loop {
            let t = self.bump();
            match t.tok {
                Tok::Eof => return Ok((nodes, Stop::Eof, t.pos)),
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Left => {
                    self.skip_space();
                    let kw_pos = self.pos();
                    if let Tok::Ident(kw) = self.peek().clone() {
                        match kw.as_str() {
                            "end" => {
                                self.i += 1;
                                self.expect_right("end")?;
                                return Ok((nodes, Stop::End, kw_pos));
                            }
                            "else" => {
                                self.i += 1;
                                return Ok((nodes, Stop::Else, kw_pos));
                            }
                            "if" | "with" | "range" => {
                                self.i += 1;
                                nodes.push(self.branch(&kw, kw_pos)?);
                                continue;
                            }
                            "define" => {
                                self.i += 1;
                                self.define(kw_pos)?;
                                continue;
                            }
                            "template" | "block" => {
                                self.i += 1;
                                nodes.push(self.template(&kw, kw_pos)?);
                                continue;
                            }
                            "break" | "continue" => {
                                self.i += 1;
                                if self.in_range == 0 {
                                    return Err(Error::parse(
                                        kw_pos,
                                        format!("{{{{{kw}}}}} outside {{{{range}}}}"),
                                    ));
                                }
                                self.expect_right(&kw)?;
                                nodes.push(if kw == "break" {
                                    Node::Break
                                } else {
                                    Node::Continue
                                });
                                continue;
                            }
                            _ => {}
                        }
                    }
                    let pipe = self.pipeline("command", true)?;
                    self.expect_right("command")?;
                    nodes.push(Node::Action(pipe));
                }
                other => {
                    return Err(Error::parse(
                        t.pos,
                        format!("unexpected {}", describe(&other)),
                    ))
                }
            }
        }
    }

    fn branch(&mut self, kw: &str, pos: usize) -> Result<Node, Error> {
        let mark = self.vars.len();
        let pipe = self.pipeline(kw, kw != "if")?;
        self.expect_right(kw)?;
        if kw == "range" {
            self.in_range += 1;
        }
        let (body, end, end_pos) = self.list()?;
        if kw == "range" {
            self.in_range -= 1;
        }
        let else_body = match end {
            Stop::Eof => {
                return Err(Error::parse(
                    pos,
                    format!("unexpected EOF: missing {{{{end}}}} for {{{{{kw}}}}}"),
                ))
            }
            Stop::End => Vec::new(),
            Stop::Else => {
                self.skip_space();
                // `else if` / `else with` chain into a nested branch that shares our {{end}}.
                if let Tok::Ident(next) = self.peek().clone() {
                    if (next == "if" || next == "with") && kw != "range" {
                        self.i += 1;
                        let nested = self.branch(&next, end_pos)?;
                        self.vars.truncate(mark);
                        let b = Branch {
                            pipe,
                            body,
                            else_body: vec![nested],
                        };
                        return Ok(match kw {
                            "if" => Node::If(b),
                            _ => Node::With(b),
                        });
                    }
                }
                self.expect_right("else")?;
                let (else_body, end2, _) = self.list()?;
                if end2 != Stop::End {
                    return Err(Error::parse(
                        end_pos,
                        format!("expected {{{{end}}}} after {{{{else}}}} of {{{{{kw}}}}}"),
                    ));
                }
                else_body
            }
        };
        self.vars.truncate(mark);
        let b = Branch {
            pipe,
            body,
            else_body,
        };
        Ok(match kw {
            "if" => Node::If(b),
            "with" => Node::With(b),
            _ => Node::Range(b),
        })
    }

    fn template_name(&mut self, kw: &str) -> Result<String, Error> {
        self.skip_space();
        match self.bump().tok {
            Tok::Str(s) => Ok(s),
            other => Err(Error::parse(
                self.pos(),
                format!("unexpected {} in {kw} clause", describe(&other)),
            )),
        }
    }

    fn define(&mut self, pos: usize) -> Result<(), Error> {
        let name = self.template_name("define")?;
        self.expect_right("define")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (body, end, _) = self.list()?;
        self.vars = saved;
        if end != Stop::End {
            return Err(Error::parse(pos, "missing {{end}} for {{define}}"));
        }
        self.defines.insert(name, body);
        Ok(())
    }

    fn template(&mut self, kw: &str, pos: usize) -> Result<Node, Error> {
        let name = self.template_name(kw)?;
        self.skip_space();
        let pipe = if *self.peek() == Tok::Right {
            None
        } else {
            Some(self.pipeline(kw, false)?)
        };
        self.expect_right(kw)?;
        if kw == "block" {
            let saved = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
            let (body, end, _) = self.list()?;
            self.vars = saved;
            if end != Stop::End {
                return Err(Error::parse(pos, "missing {{end}} for {{block}}"));
            }
            self.defines.entry(name.clone()).or_insert(body);
        }
        Ok(Node::Template { name, pipe, pos })
    }

    fn pipeline(&mut self, ctx: &str, allow_decl: bool) -> Result<Pipe, Error> {
        self.skip_space();
        let start = self.i;
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        // Look ahead for `$x :=`, `$x =`, or `$i, $e :=` (range).
        if let Tok::Var(v) = self.peek().clone() {
            let save = self.i;
            self.i += 1;
            self.skip_space();
            match self.peek().clone() {
                Tok::Declare | Tok::Assign if allow_decl || ctx == "command" => {
                    assign = *self.peek() == Tok::Assign;
                    self.i += 1;
                    decl.push(v);
                }
                Tok::Comma if ctx == "range" => {
                    self.i += 1;
                    self.skip_space();
                    if let Tok::Var(v2) = self.bump().tok {
                        self.skip_space();
                        match self.bump().tok {
                            Tok::Declare => {}
                            Tok::Assign => assign = true,
                            _ => {
                                return Err(Error::parse(
                                    pos,
                                    "expected := or = after range variables",
                                ))
                            }
                        }
                        decl.push(v);
                        decl.push(v2);
                    } else {
                        return Err(Error::parse(pos, "range can only initialize variables"));
                    }
                }
                _ => self.i = save,
            }
            if assign {
                for d in &decl {
                    if !self.vars.contains(d) {
                        return Err(Error::parse(pos, format!("undefined variable {d:?}")));
                    }
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Right | Tok::RParen | Tok::Eof => break,
                _ => {}
            }
            cmds.push(self.command()?);
            self.skip_space();
            if *self.peek() == Tok::Pipe {
                self.i += 1;
                self.skip_space();
                if matches!(self.peek(), Tok::Right | Tok::RParen) {
                    return Err(Error::parse(self.pos(), "missing command after |"));
                }
            }
        }
        if cmds.is_empty() {
            return Err(Error::parse(pos, format!("missing value for {ctx}")));
        }
        // Variables become visible after their declaration.
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        let end = self.pos();
        let text = self
            .src
            .get(self.toks[start].pos..end)
            .unwrap_or("")
            .trim()
            .to_string();
        Ok(Pipe {
            pos,
            decl,
            assign,
            cmds,
            text,
        })
    }

    fn command(&mut self) -> Result<Command, Error> {
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Tok::Right | Tok::RParen | Tok::Pipe | Tok::Eof => break,
                _ => {}
            }
            args.push(self.operand()?);
            match self.peek() {
                Tok::Space | Tok::Right | Tok::RParen | Tok::Pipe | Tok::Eof => {}
                other => {
                    return Err(Error::parse(
                        self.pos(),
                        format!("unexpected {} in operand", describe(other)),
                    ))
                }
            }
        }
        if args.is_empty() {
            return Err(Error::parse(self.pos(), "empty command"));
        }
        Ok(Command { args })
    }

    fn fields(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Tok::Field(f) = self.peek().clone() {
            self.i += 1;
            out.push(f);
        }
        out
    }

    fn operand(&mut self) -> Result<Arg, Error> {
        let t = self.bump();
        let arg = match t.tok {
            Tok::Dot => Arg::Dot,
            Tok::Field(f) => {
                let mut chain = vec![f];
                chain.extend(self.fields());
                return Ok(Arg::Field(chain));
            }
            Tok::Var(v) => {
                if !self.vars.contains(&v) {
                    return Err(Error::parse(t.pos, format!("undefined variable {v:?}")));
                }
                let chain = self.fields();
                return Ok(Arg::Var(v, chain));
            }
            Tok::Str(s) => Arg::Const(Value::str(s)),
            Tok::Char(c) => Arg::Const(Value::Int(c)),
            Tok::Number(n) => Arg::Const(
                parse_number(&n)
                    .ok_or_else(|| Error::parse(t.pos, format!("bad number syntax: {n:?}")))?,
            ),
            Tok::Ident(id) => match id.as_str() {
                "true" => Arg::Const(Value::Bool(true)),
                "false" => Arg::Const(Value::Bool(false)),
                "nil" => Arg::Nil,
                _ if (self.funcs)(&id) => Arg::Func(id),
                _ => return Err(Error::parse(t.pos, format!("function {id:?} not defined"))),
            },
            Tok::LParen => {
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.skip_space();
                if self.bump().tok != Tok::RParen {
                    return Err(Error::parse(t.pos, "unclosed left paren"));
                }
                let chain = self.fields();
                return Ok(Arg::Pipe(Box::new(p), chain));
            }
            other => {
                return Err(Error::parse(
                    t.pos,
                    format!("unexpected {} in operand", describe(&other)),
                ))
            }
        };
        if let Tok::Field(_) = self.peek() {
            return Err(Error::parse(self.pos(), "unexpected . after term"));
        }
        Ok(arg)
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Left => "\"{{\"".into(),
        Tok::Right => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Char(_) => "character constant".into(),
        Tok::Number(n) => format!("<{n}>"),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Dot => "<.>".into(),
        Tok::Var(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Other(c) => format!("{:?}", c.to_string()),
        Tok::Eof => "EOF".into(),
    }
}
