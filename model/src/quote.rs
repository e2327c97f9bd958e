//! Go's string quoting (`strconv.Quote`) and unquoting (`strconv.Unquote`), which Prometheus uses
//! for label values in its text forms.

use std::fmt::{self, Write};

/// Writes `s` in double quotes with Go's `strconv.Quote` escaping: `\a \b \f \n \r \t \v \\ \"`,
/// other control characters as `\xNN`, and non-printable non-ASCII characters as `\uNNNN` or
/// `\UNNNNNNNN`.
///
/// "Printable" follows Go's `unicode.IsPrint` for the characters that matter in practice
/// (controls, the non-ASCII spaces, format characters, private use and non-characters). Go
/// also escapes code points unassigned in its Unicode tables; those are written as is here.
pub fn write_go_quoted(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '\x07' => Some("\\a"),
            '\x08' => Some("\\b"),
            '\x0c' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\x0b' => Some("\\v"),
            '\\' => Some("\\\\"),
            '"' => Some("\\\""),
            _ => None,
        };
        if esc.is_none() && is_go_printable(c) {
            continue;
        }
        out.write_str(&s[start..i])?;
        start = i + c.len_utf8();
        match esc {
            Some(e) => out.write_str(e)?,
            None => {
                let cp = c as u32;
                if cp < 0x80 {
                    write!(out, "\\x{cp:02x}")?;
                } else if cp < 0x10000 {
                    write!(out, "\\u{cp:04x}")?;
                } else {
                    write!(out, "\\U{cp:08x}")?;
                }
            }
        }
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

/// Returns `s` quoted as Go's `strconv.Quote` would (see [`write_go_quoted`]).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    // Writing into a String cannot fail.
    let _ = write_go_quoted(&mut out, s);
    out
}

/// Approximates Go's `unicode.IsPrint`.
fn is_go_printable(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x80 {
        return (0x20..0x7f).contains(&cp);
    }
    !matches!(cp,
        0x80..=0xa0 // C1 controls and no-break space
        | 0xad // soft hyphen
        | 0x1680
        | 0x2000..=0x200f
        | 0x2028..=0x202f
        | 0x205f..=0x2064
        | 0x2066..=0x206f
        | 0x3000
        | 0xd800..=0xdfff
        | 0xe000..=0xf8ff
        | 0xfdd0..=0xfdef
        | 0xfeff
        | 0xfff9..=0xfffb
        | 0xf0000..=0x10ffff
    ) && (cp & 0xfffe) != 0xfffe
}

/// Reads one Go string literal (`"…"`, `'…'` or `` `…` ``) at the start of `input`, as Go's
/// `strconv.Unquote` reads it (single-quoted strings may hold any number of characters, as in
/// PromQL). Returns the value and the number of bytes consumed; the error carries the byte offset.
pub fn parse_go_string(input: &str) -> Result<(String, usize), crate::Error> {
    go_unquote_prefix(input).map_err(|e| crate::Error::Parse {
        offset: e.offset,
        message: e.message.into(),
    })
}

/// Why [`go_unquote_prefix`] rejected its input, with the byte offset into the quoted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnquoteError {
    pub(crate) offset: usize,
    pub(crate) message: &'static str,
}

/// Reads one Go string literal (`"…"`, `'…'` or `` `…` ``) at the start of `input`.
///
/// Returns the unescaped value and the number of bytes consumed. Double- and single-quoted
/// strings accept Go's escapes (`\a \b \f \n \r \t \v \\ \' \" \xNN \NNN \uNNNN \UNNNNNNNN`);
/// raw strings take everything up to the closing backquote. Newlines are not allowed in the
/// quoted forms. As in PromQL, a single-quoted string may hold any number of characters.
pub(crate) fn go_unquote_prefix(input: &str) -> Result<(String, usize), UnquoteError> {
    let bytes = input.as_bytes();
    let quote = match bytes.first() {
        Some(q @ (b'"' | b'\'' | b'`')) => *q,
        _ => {
            return Err(UnquoteError {
                offset: 0,
                message: "expected a quoted string",
            })
        }
    };
    if quote == b'`' {
        return match memchr::memchr(b'`', &bytes[1..]) {
            Some(end) => Ok((input[1..1 + end].to_string(), end + 2)),
            None => Err(UnquoteError {
                offset: input.len(),
                message: "unterminated raw string",
            }),
        };
    }
    let mut out = String::new();
    let mut i = 1;
    loop {
        // Copy the run of plain bytes up to the next quote, backslash or newline.
        let run_end = bytes[i..]
            .iter()
            .position(|&b| b == quote || b == b'\\' || b == b'\n')
            .map(|p| i + p);
        let Some(j) = run_end else {
            return Err(UnquoteError {
                offset: input.len(),
                message: "unterminated quoted string",
            });
        };
        out.push_str(&input[i..j]);
        i = j;
        match bytes[i] {
            b'\n' => {
                return Err(UnquoteError {
                    offset: i,
                    message: "newline in quoted string",
                })
            }
            b if b == quote => return Ok((out, i + 1)),
            _ => {
                let (c, used) = read_escape(&input[i..], quote).map_err(|m| UnquoteError {
                    offset: i,
                    message: m,
                })?;
                match c {
                    Escaped::Char(c) => out.push(c),
                    Escaped::Byte(b) => {
                        // A \x or octal escape above 0x7f makes a raw byte in Go, which is only
                        // valid here if it forms UTF-8 with its neighbours; we keep strings valid
                        // UTF-8, so such bytes are rejected.
                        if b < 0x80 {
                            out.push(b as char);
                        } else {
                            return Err(UnquoteError {
                                offset: i,
                                message: "escape produces a byte that is not valid UTF-8",
                            });
                        }
                    }
                }
                i += used;
            }
        }
    }
}

enum Escaped {
    Char(char),
    Byte(u8),
}

fn read_escape(s: &str, quote: u8) -> Result<(Escaped, usize), &'static str> {
    let b = s.as_bytes();
    let Some(&k) = b.get(1) else {
        return Err("unterminated escape sequence");
    };
    let simple = |c: char| Ok((Escaped::Char(c), 2));
    match k {
        b'a' => simple('\x07'),
        b'b' => simple('\x08'),
        b'f' => simple('\x0c'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\x0b'),
        b'\\' => simple('\\'),
        b'\'' | b'"' if k == quote => simple(k as char),
        b'x' => {
            let v = hex_digits(b.get(2..4)).ok_or("invalid \\x escape")?;
            Ok((Escaped::Byte(v as u8), 4))
        }
        b'u' => {
            let v = hex_digits(b.get(2..6)).ok_or("invalid \\u escape")?;
            let c = char::from_u32(v).ok_or("\\u escape is not a valid character")?;
            Ok((Escaped::Char(c), 6))
        }
        b'U' => {
            let v = hex_digits(b.get(2..10)).ok_or("invalid \\U escape")?;
            let c = char::from_u32(v).ok_or("\\U escape is not a valid character")?;
            Ok((Escaped::Char(c), 10))
        }
        b'0'..=b'7' => {
            let digits = b.get(1..4).ok_or("invalid octal escape")?;
            let mut v: u32 = 0;
            for d in digits {
                if !(b'0'..=b'7').contains(d) {
                    return Err("invalid octal escape");
                }
                v = v * 8 + u32::from(d - b'0');
            }
            if v > 255 {
                return Err("octal escape value > 255");
            }
            Ok((Escaped::Byte(v as u8), 4))
        }
        _ => Err("unknown escape sequence"),
    }
}

fn hex_digits(d: Option<&[u8]>) -> Option<u32> {
    let d = d?;
    let mut v: u32 = 0;
    for &c in d {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_like_go() {
        assert_eq!(go_quote("abc"), r#""abc""#);
        assert_eq!(go_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(go_quote("\x01\x7f"), r#""\x01\x7f""#);
        assert_eq!(go_quote("\u{a0}é"), "\"\\u00a0é\"");
        assert_eq!(go_quote("日本"), "\"日本\"");
        assert_eq!(go_quote("\u{feff}"), "\"\\ufeff\"");
    }

    #[test]
    fn unquote_forms() {
        assert_eq!(
            go_unquote_prefix(r#""a\"b" rest"#).unwrap(),
            ("a\"b".into(), 6)
        );
        assert_eq!(go_unquote_prefix(r"'a\'b'").unwrap(), ("a'b".into(), 6));
        assert_eq!(go_unquote_prefix("`a\\nb`").unwrap(), ("a\\nb".into(), 6));
        assert_eq!(
            go_unquote_prefix(r#""\x41\101\u00e9\U0001F600""#)
                .unwrap()
                .0,
            "AAé😀"
        );
        assert!(go_unquote_prefix(r#""abc"#).is_err());
        assert!(go_unquote_prefix("\"a\nb\"").is_err());
        assert!(go_unquote_prefix(r#""\q""#).is_err());
        assert!(go_unquote_prefix(r#""\'""#).is_err());
        assert!(go_unquote_prefix(r#""\xff""#).is_err());
    }
}
