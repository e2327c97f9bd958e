//! The PromQL lexer: turns bytes into tokens on demand, one at a time.
//!
//! The lexer is modal in one place only: inside `[...]` a `:` separates range and step and
//! words are duration keywords, while outside it a `:` may start a metric name. The parser
//! switches the mode when it consumes a bracket, which is why tokens are lexed lazily.

use crate::error::ParseError;

/// Errors are boxed while parsing: they are rare, and a one-word error keeps every `Result`
/// the lexer and parser pass around small.
pub(crate) type LexResult<T> = Result<T, Box<ParseError>>;
use crate::Span;

/// The kinds of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A word: identifier, keyword, metric name (may contain `:`).
    Ident,
    Number,
    Duration,
    String,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    /// `=`
    Assign,
    /// `==`
    EqlC,
    /// `!=`
    Neq,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    Lss,
    Lte,
    /// `</`
    TrimUpper,
    /// `>/`
    TrimLower,
    Gtr,
    Gte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    At,
    Eof,
}

/// One token: its kind and byte range. Offsets are `u32` (the parser refuses longer input) so
/// that a token, and the `Result` carrying it, fit in two registers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    lo: u32,
    hi: u32,
}

/// The longest query the parser takes, so that offsets fit in a [`Token`].
pub(crate) const MAX_INPUT: usize = u32::MAX as usize;

impl Token {
    /// A token of `kind` over `start..end` (both at most [`MAX_INPUT`]).
    #[inline]
    pub(crate) fn new(kind: Tok, start: usize, end: usize) -> Token {
        Token {
            kind,
            lo: start as u32,
            hi: end as u32,
        }
    }

    /// First byte.
    #[inline]
    pub(crate) fn start(&self) -> usize {
        self.lo as usize
    }

    /// One past the last byte.
    #[inline]
    pub(crate) fn end(&self) -> usize {
        self.hi as usize
    }

    pub(crate) fn span(&self) -> Span {
        Span::new(self.start(), self.end())
    }
}

pub(crate) struct Lexer<'a> {
    pub(crate) src: &'a str,
    pub(crate) pos: usize,
    /// Inside `[...]`: `:` is a separator, letters start duration keywords.
    pub(crate) in_brackets: bool,
}

/// Byte classes for identifier scanning: bit 0 letter or `_`, bit 1 digit, bit 2 `:`.
const WORD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        if c == b'_' || c.is_ascii_alphabetic() {
            t[i] = 1;
        } else if c.is_ascii_digit() {
            t[i] = 2;
        } else if c == b':' {
            t[i] = 4;
        }
        i += 1;
    }
    t
};

fn is_alpha(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

pub(crate) fn is_alnum(b: u8) -> bool {
    is_alpha(b) || b.is_ascii_digit()
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            in_brackets: false,
        }
    }

    fn byte(&self, i: usize) -> u8 {
        self.src.as_bytes().get(i).copied().unwrap_or(0)
    }

    #[cold]
    #[inline(never)]
    fn err(&self, start: usize, end: usize, msg: String) -> Box<ParseError> {
        Box::new(ParseError::new(Span::new(start, end.max(start)), msg))
    }

    /// The error for a character that cannot start a token (here, or inside brackets).
    #[cold]
    #[inline(never)]
    fn bad_char(&self, start: usize, in_duration: bool) -> Box<ParseError> {
        let ch = self
            .src
            .get(start..)
            .and_then(|s| s.chars().next())
            .unwrap_or('\u{fffd}');
        if in_duration {
            return self.err(
                start,
                start + 1,
                format!("unexpected character in duration expression: {ch:?}"),
            );
        }
        self.err(
            start,
            start + ch.len_utf8(),
            format!("unexpected character: {ch:?}"),
        )
    }

    /// Skips whitespace and `#` comments (the slow path of [`Lexer::next_token`], taken at a
    /// comment).
    #[cold]
    #[inline(never)]
    fn skip_trivia(&mut self) {
        let b = self.src.as_bytes();
        loop {
            while self.pos < b.len() && is_space(b[self.pos]) {
                self.pos += 1;
            }
            if self.pos < b.len() && b[self.pos] == b'#' && !self.in_brackets {
                while self.pos < b.len() && b[self.pos] != b'\n' && b[self.pos] != b'\r' {
                    self.pos += 1;
                }
                continue;
            }
            return;
        }
    }

    pub(crate) fn next_token(&mut self) -> LexResult<Token> {
        let b = self.src.as_bytes();
        let mut start = self.pos;
        while start < b.len() && is_space(b[start]) {
            start += 1;
        }
        self.pos = start;
        if start < b.len() && b[start] == b'#' && !self.in_brackets {
            self.skip_trivia();
            start = self.pos;
        }
        if start >= b.len() {
            return Ok(Token::new(Tok::Eof, start, start));
        }
        let c = b[start];
        if self.in_brackets && b"\"'`{}[@=!<>#".contains(&c) {
            return Err(self.bad_char(start, true));
        }
        let one = |kind| (kind, 1usize);
        let (kind, len) = match c {
            b'(' => one(Tok::LParen),
            b')' => one(Tok::RParen),
            b'{' => one(Tok::LBrace),
            b'}' => one(Tok::RBrace),
            b'[' => one(Tok::LBracket),
            b']' => one(Tok::RBracket),
            b',' => one(Tok::Comma),
            b'+' => one(Tok::Add),
            b'-' => one(Tok::Sub),
            b'*' => one(Tok::Mul),
            b'/' => one(Tok::Div),
            b'%' => one(Tok::Mod),
            b'^' => one(Tok::Pow),
            b'@' => one(Tok::At),
            b'=' => match self.byte(start + 1) {
                b'=' => (Tok::EqlC, 2),
                b'~' => (Tok::EqlRegex, 2),
                _ => (Tok::Assign, 1),
            },
            b'!' => match self.byte(start + 1) {
                b'=' => (Tok::Neq, 2),
                b'~' => (Tok::NeqRegex, 2),
                _ => {
                    return Err(self.err(
                        start,
                        start + 1,
                        "unexpected character after '!'".to_string(),
                    ))
                }
            },
            b'<' => match self.byte(start + 1) {
                b'=' => (Tok::Lte, 2),
                b'/' => (Tok::TrimUpper, 2),
                _ => (Tok::Lss, 1),
            },
            b'>' => match self.byte(start + 1) {
                b'=' => (Tok::Gte, 2),
                b'/' => (Tok::TrimLower, 2),
                _ => (Tok::Gtr, 1),
            },
            b':' if self.in_brackets => one(Tok::Colon),
            b'"' | b'\'' | b'`' => {
                let end = self.scan_string(start)?;
                (Tok::String, end - start)
            }
            b'0'..=b'9' => {
                // Plain digits followed by neither a word character nor `.` are a complete
                // number (what `scan_number` would find); anything else takes the full path.
                let digits = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
                let next = b.get(start + digits).copied().unwrap_or(0);
                if is_alnum(next) || next == b'.' {
                    return self.number_or_duration(start);
                }
                (Tok::Number, digits)
            }
            b'.' if self.byte(start + 1).is_ascii_digit() => return self.number_or_duration(start),
            c if is_alpha(c) || c == b':' => {
                // Inside brackets `:` separates range and step, so words stop there.
                let mask = if self.in_brackets { 3 } else { 7 };
                let i = start
                    + 1
                    + b[start + 1..]
                        .iter()
                        .take_while(|&&c| WORD[usize::from(c)] & mask != 0)
                        .count();
                let word = &b[start..i];
                let kind = if word.len() == 3
                    && (word.eq_ignore_ascii_case(b"inf") || word.eq_ignore_ascii_case(b"nan"))
                {
                    Tok::Number
                } else {
                    Tok::Ident
                };
                (kind, i - start)
            }
            _ => return Err(self.bad_char(start, false)),
        };
        self.pos = start + len;
        Ok(Token::new(kind, start, start + len))
    }

    /// Scans a quoted string starting at `start`, validating escapes as Prometheus' lexer does.
    #[inline(never)]
    fn scan_string(&self, start: usize) -> LexResult<usize> {
        let b = self.src.as_bytes();
        let q = b[start];
        let mut i = start + 1;
        if q == b'`' {
            return match b[i..].iter().position(|&c| c == b'`') {
                Some(p) => Ok(i + p + 1),
                None => Err(self.err(start, b.len(), "unterminated raw string".into())),
            };
        }
        loop {
            match b.get(i) {
                None | Some(b'\n') => {
                    return Err(self.err(start, i, "unterminated quoted string".into()))
                }
                Some(&c) if c == q => return Ok(i + 1),
                Some(b'\\') => {
                    i += 1;
                    let e = b.get(i).copied().unwrap_or(0);
                    let (n, base) = match e {
                        b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'\\' => (0, 0),
                        c if c == q => (0, 0),
                        b'0'..=b'7' => (3, 8),
                        b'x' => (2, 16),
                        b'u' => (4, 16),
                        b'U' => (8, 16),
                        0 => return Err(self.err(i, i, "escape sequence not terminated".into())),
                        _ => {
                            let ch = self.src[i..].chars().next().unwrap_or('\u{fffd}');
                            return Err(self.err(
                                i - 1,
                                i + ch.len_utf8(),
                                format!("unknown escape sequence {ch:?}"),
                            ));
                        }
                    };
                    if n == 0 {
                        i += 1;
                        continue;
                    }
                    let digits_start = if base == 8 { i } else { i + 1 };
                    let mut x: u32 = 0;
                    for k in 0..n {
                        let d = match b.get(digits_start + k) {
                            Some(c) => (*c as char).to_digit(16).unwrap_or(16),
                            None => {
                                return Err(self.err(
                                    i - 1,
                                    b.len(),
                                    "escape sequence not terminated".into(),
                                ))
                            }
                        };
                        if d >= base {
                            return Err(self.err(
                                i - 1,
                                digits_start + k + 1,
                                "illegal character in escape sequence".into(),
                            ));
                        }
                        x = x * base + d;
                    }
                    let max = if base == 8 || n == 2 { 255 } else { 0x10ffff };
                    if x > max || (0xd800..0xe000).contains(&x) {
                        return Err(self.err(
                            i - 1,
                            digits_start + n,
                            "escape sequence is an invalid Unicode code point".into(),
                        ));
                    }
                    i = digits_start + n;
                }
                Some(_) => i += 1,
            }
        }
    }

    #[inline(never)]
    fn number_or_duration(&mut self, start: usize) -> LexResult<Token> {
        let (end, ok) = self.scan_number(start);
        if ok {
            self.pos = end;
            return Ok(Token::new(Tok::Number, start, end));
        }
        // A duration: digits followed by units, possibly several (`1h30m`), scanned as
        // Prometheus' `acceptRemainingDuration` does so that errors quote the same text.
        let b = self.src.as_bytes();
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut i = end;
        // Whether the failing check consumed the character it looked at.
        let mut consumed = false;
        let ok = (|| {
            if !(i > start && b"smhdwy".contains(&at(i))) {
                return false;
            }
            i += 1;
            if at(i) == b's' {
                i += 1;
            }
            while at(i).is_ascii_digit() {
                while at(i).is_ascii_digit() {
                    i += 1;
                }
                if !b"smhdw".contains(&at(i)) || at(i) == 0 {
                    return false;
                }
                i += 1;
                if at(i) == b's' {
                    i += 1;
                }
            }
            consumed = is_alnum(at(i));
            !consumed
        })();
        if ok && i > start {
            self.pos = i;
            return Ok(Token::new(Tok::Duration, start, i));
        }
        let stop = if consumed { i + 1 } else { i }.max(end);
        let text = self.src.get(start..stop).unwrap_or("");
        Err(self.err(
            start,
            stop,
            format!(
                "bad number or duration syntax: {}",
                lookout_model::go_quote(text)
            ),
        ))
    }

    /// Prometheus' `scanNumber`: returns where the number ends and whether it is a complete
    /// number (not followed by an alphanumeric).
    fn scan_number(&self, start: usize) -> (usize, bool) {
        let b = self.src.as_bytes();
        let mut i = start;
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let mut hex = false;
        if at(i) == b'0' && matches!(at(i + 1), b'x' | b'X') {
            i += 2;
            if at(i) == b'_' {
                i += 1;
            }
            hex = true;
        }
        let is_digit = |c: u8| {
            if hex {
                c.is_ascii_hexdigit()
            } else {
                c.is_ascii_digit()
            }
        };
        if at(i) == b'.' {
            i += 1;
        }
        if is_digit(at(i)) {
            i += 1;
        }
        let mut dot = false;
        let mut exp = false;
        loop {
            let c = at(i);
            if !(is_digit(c) || c == b'.' || c == b'_' || c == b'e' || c == b'E') {
                break;
            }
            if c == b'.' {
                if dot {
                    return (i + 1, false);
                }
                dot = true;
                i += 1;
                if matches!(at(i), b'_' | b'.') || hex {
                    return (i + 1, false);
                }
                continue;
            }
            if (c == b'e' || c == b'E') && !hex {
                if exp {
                    return (i + 1, false);
                }
                exp = true;
                i += 1;
                if matches!(at(i), b'+' | b'-') {
                    i += 1;
                }
                if matches!(at(i), b'.' | b'_' | b'e' | b'E') || i >= b.len() {
                    return (i, false);
                }
                continue;
            }
            if c == b'_' {
                i += 1;
                if matches!(at(i), b'.' | b'_' | b'e' | b'E') || i >= b.len() {
                    return (i, false);
                }
                continue;
            }
            while is_digit(at(i)) {
                i += 1;
            }
        }
        if i == start {
            return (i, false);
        }
        (i, !is_alnum(at(i)))
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `strconv.ParseFloat(s, 64)`, as Prometheus reads
/// number literals (so `010` is octal 8 and `0x1f` is 31).
#[inline]
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    // Fast path: a plain decimal integer without a leading zero (the common `5`, `100`).
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 15 && b[0] != b'0' && b.iter().all(u8::is_ascii_digit) {
        let v = b
            .iter()
            .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
        return Some(v as f64);
    }
    parse_number_general(s)
}

#[inline(never)]
fn parse_number_general(s: &str) -> Option<f64> {
    if let Some(v) = parse_go_int(s) {
        return Some(v as f64);
    }
    if s.starts_with("0x") || s.starts_with("0X") {
        return None;
    }
    if !s.contains('_') {
        return s.parse::<f64>().ok();
    }
    if s.starts_with('_') || s.ends_with('_') {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    clean.parse::<f64>().ok()
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (digits, radix, prefixed) = if let Some(r) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        (r, 16, true)
    } else if let Some(r) = s.strip_prefix("0o").or(s.strip_prefix("0O")) {
        (r, 8, true)
    } else if let Some(r) = s.strip_prefix("0b").or(s.strip_prefix("0B")) {
        (r, 2, true)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8, true)
    } else {
        (s, 10, false)
    };
    // Underscores must separate digits (a base prefix counts as a digit).
    let digits = if prefixed {
        digits.strip_prefix('_').unwrap_or(digits)
    } else {
        digits
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    if !digits.contains('_') {
        return i64::from_str_radix(digits, radix).ok();
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    i64::from_str_radix(&clean, radix).ok()
}

/// Unquotes a string token the lexer has validated. Escapes that produce bytes which are not
/// UTF-8 (`"\\xff"`) are kept as U+FFFD, since Rust strings hold only UTF-8.
pub(crate) fn unquote(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let q = *b.first()?;
    if b.len() < 2 || *b.last()? != q {
        return None;
    }
    let inner = text.get(1..text.len() - 1)?;
    if q == b'`' {
        return Some(inner.to_string());
    }
    if !inner.contains('\\') {
        return Some(inner.to_string());
    }
    let ib = inner.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(ib.len());
    let mut i = 0;
    while i < ib.len() {
        let c = ib[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *ib.get(i + 1)?;
        i += 2;
        let simple = match e {
            b'a' => Some(7u8),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' | b'"' | b'\'' => Some(e),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (n, radix, start) = match e {
            b'0'..=b'7' => (3, 8, i - 1),
            b'x' => (2, 16, i),
            b'u' => (4, 16, i),
            b'U' => (8, 16, i),
            _ => return None,
        };
        let digits = inner.get(start..start + n)?;
        let v = u32::from_str_radix(digits, radix).ok()?;
        i = start + n;
        if matches!(e, b'x' | b'0'..=b'7') {
            out.push(u8::try_from(v).ok()?);
        } else {
            let ch = char::from_u32(v)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        let mut l = Lexer::new(s);
        let mut out = vec![];
        loop {
            let t = l.next_token().unwrap();
            out.push(t.kind);
            if t.kind == Tok::Eof {
                return out;
            }
        }
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(kinds("1.5e3"), vec![Tok::Number, Tok::Eof]);
        assert_eq!(kinds("0x1F"), vec![Tok::Number, Tok::Eof]);
        assert_eq!(kinds("1h30m"), vec![Tok::Duration, Tok::Eof]);
        assert_eq!(kinds("100ms"), vec![Tok::Duration, Tok::Eof]);
        assert_eq!(kinds("1_000"), vec![Tok::Number, Tok::Eof]);
        assert_eq!(kinds("Inf NaN"), vec![Tok::Number, Tok::Number, Tok::Eof]);
        assert!(Lexer::new("1x").next_token().is_err());
        assert!(Lexer::new("1__0").next_token().is_err());
        assert_eq!(parse_number("010"), Some(8.0));
        assert_eq!(parse_number("0x1f"), Some(31.0));
        assert_eq!(parse_number("1_000.5"), Some(1000.5));
        assert_eq!(parse_number("08"), Some(8.0));
        assert_eq!(parse_number("7"), Some(7.0));
        assert_eq!(parse_number("123456789012345"), Some(123456789012345.0));
        assert_eq!(
            parse_number("12345678901234567890"),
            Some(12345678901234567890.0)
        );
        assert!(parse_number("Inf").unwrap().is_infinite());
    }

    #[test]
    fn strings() {
        assert_eq!(
            kinds(r#""a\"b" 'c' `d\`"#),
            vec![Tok::String; 3]
                .into_iter()
                .chain([Tok::Eof])
                .collect::<Vec<_>>()
        );
        assert!(Lexer::new(r#""a\qb""#).next_token().is_err());
        assert!(Lexer::new("\"ab").next_token().is_err());
    }
}
