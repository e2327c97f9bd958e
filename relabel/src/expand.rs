//! Go's `regexp.Expand` template syntax, compiled once against a regex.
//!
//! `$name` and `${name}` take the longest run of letters, digits and `_` (Unicode letters and
//! digits, as Go's `unicode.IsLetter` and `IsDigit`); an all-ASCII-digit name without a leading
//! zero and below 1e8 is a group number, anything else a group name. `$$` is a `$`, and a `$`
//! that does not start a well-formed reference is literal text. A reference to a group that does
//! not exist expands to nothing, so it is dropped when the template is compiled.

use lookout_model::GoRegex;

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text.
    Lit(String),
    /// The text of capture group `n` (empty when the group did not take part in the match).
    Group(usize),
}

/// A template resolved against one regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub(crate) pieces: Vec<Piece>,
}

/// A reference found by [`extract`]: the name and, when it is a valid number, the number.
struct Reference<'t> {
    name: &'t str,
    num: Option<usize>,
    /// Bytes of the template the reference takes, after the `$`.
    len: usize,
}

/// Go's `extract`: reads a `name` or `{name}` at the start of `s`.
fn extract(s: &str) -> Option<Reference<'_>> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(is_go_letter(c) || is_go_digit(c) || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let mut len = end;
    if brace {
        if body.as_bytes().get(end) != Some(&b'}') {
            return None;
        }
        len += 2;
    }
    let mut num: Option<usize> = Some(0);
    for &b in name.as_bytes() {
        match num {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                num = Some(n * 10 + usize::from(b - b'0'));
            }
            _ => {
                num = None;
                break;
            }
        }
    }
    if name.len() > 1 && name.as_bytes()[0] == b'0' {
        num = None;
    }
    Some(Reference { name, num, len })
}

/// Go's `unicode.IsLetter`: the general categories L*. Rust's `is_alphabetic` also admits
/// `Other_Alphabetic` marks and letter numbers, so rule those out.
fn is_go_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    // `is_alphabetic` = L* + Nl + Other_Alphabetic. Letter numbers and the alphabetic marks are
    // not letters in Go; telling them apart exactly needs category tables, so accept what is
    // alphabetic and neither a mark-like combining character nor a number.
    c.is_alphabetic() && !c.is_numeric() && !is_combining(c)
}

/// Go's `unicode.IsDigit`: category Nd.
fn is_go_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    // Rust has no Nd query; `to_digit` covers only ASCII. Nd characters come in runs of ten
    // code points whose first is a zero; `is_numeric` is Nd + Nl + No. Accept numeric
    // characters that are not alphabetic (Nl is alphabetic) in the blocks holding decimal
    // digit runs.
    c.is_numeric() && !c.is_alphabetic() && is_decimal_block(c)
}

fn is_combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x0670 | 0x06D6..=0x06ED | 0x0711 | 0x0730..=0x074A | 0x0900..=0x0903
        | 0x093A..=0x094F | 0x0951..=0x0957 | 0x0962..=0x0963 | 0x0981..=0x0983
        | 0x09BC..=0x09D7 | 0x0A01..=0x0A03 | 0x0A3C..=0x0A51 | 0x0B01..=0x0B03
        | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Whether `c` lies in a run of ten decimal digits (Unicode Nd), judged by the run's zero.
fn is_decimal_block(c: char) -> bool {
    // The zeros of the Nd runs in the BMP most likely to appear; other numerics (fractions,
    // superscripts, circled numbers) are No and are not digits in Go.
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
        0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0,
        0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
        0xAA50, 0xABF0, 0xFF10,
    ];
    let u = c as u32;
    ZEROS.iter().any(|&z| u >= z && u < z + 10)
}

impl Template {
    /// Compiles `template` against `re` (`None`: a regex with only group 0).
    pub(crate) fn compile(template: &str, re: Option<&GoRegex>) -> Template {
        let groups = re.map_or(1, GoRegex::captures_len);
        let mut pieces: Vec<Piece> = Vec::new();
        let mut lit = String::new();
        let mut rest = template;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            rest = &rest[pos + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                lit.push('$');
                rest = after;
                continue;
            }
            let Some(r) = extract(rest) else {
                lit.push('$');
                continue;
            };
            rest = &rest[r.len..];
            let index = match r.num {
                Some(n) => (n < groups).then_some(n),
                None => re.and_then(|re| re.capture_index(r.name)),
            };
            if let Some(i) = index {
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Group(i));
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Template { pieces }
    }

    /// The literal text, when the template has no group reference.
    pub(crate) fn as_literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// The group, when the template is exactly one group reference.
    pub(crate) fn as_single_group(&self) -> Option<usize> {
        match self.pieces.as_slice() {
            [Piece::Group(g)] => Some(*g),
            _ => None,
        }
    }

    /// The highest group the template reads, if any.
    pub(crate) fn max_group(&self) -> Option<usize> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Group(g) => Some(*g),
                Piece::Lit(_) => None,
            })
            .max()
    }

    /// Appends the expansion to `out`; `group(i)` gives the text of group `i`.
    #[inline]
    pub(crate) fn expand<'s>(&self, out: &mut String, group: impl Fn(usize) -> &'s str) {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Group(g) => out.push_str(group(*g)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(pattern: &str, template: &str, input: &str) -> String {
        let re = GoRegex::new(pattern).unwrap();
        let t = Template::compile(template, Some(&re));
        let caps = re.regex().captures(input).unwrap();
        let mut out = String::new();
        t.expand(&mut out, |i| caps.get(i).map_or("", |m| m.as_str()));
        out
    }

    #[test]
    fn go_expand_rules() {
        assert_eq!(expand("(a)(b)", "$1-$2", "ab"), "a-b");
        assert_eq!(expand("(a)(b)", "${1}x", "ab"), "ax");
        assert_eq!(expand("(a)(b)", "$1x", "ab"), "");
        assert_eq!(expand("(a)(b)", "$$1", "ab"), "$1");
        assert_eq!(expand("(a)(b)", "$", "ab"), "$");
        assert_eq!(expand("(a)(b)", "a$", "ab"), "a$");
        assert_eq!(expand("(a)(b)", "${", "ab"), "${");
        assert_eq!(expand("(a)(b)", "${}", "ab"), "${}");
        assert_eq!(expand("(a)(b)", "${1", "ab"), "${1");
        assert_eq!(expand("(a)(b)", "${a.b}", "ab"), "${a.b}");
        assert_eq!(expand("(a)(b)", "$-", "ab"), "$-");
        assert_eq!(expand("(a)(b)", "$01", "ab"), "");
        assert_eq!(expand("(a)(b)", "$0", "ab"), "ab");
        assert_eq!(expand("(a)(b)", "$9", "ab"), "");
        assert_eq!(expand("(a)(?P<n>b)", "$n.${n}", "ab"), "b.b");
        assert_eq!(expand("(a)(?<1x>b)", "$1x", "ab"), "b");
        assert_eq!(expand("(a)(b)?", "[$2]", "a"), "[]");
        assert_eq!(expand("(a)", "$1é", "a"), "");
        assert_eq!(expand("(a)", "$1-é", "a"), "a-é");
        assert_eq!(expand("(a)", "$99999999999", "a"), "");
    }

    #[test]
    fn shapes() {
        let re = GoRegex::new("(a)").unwrap();
        assert_eq!(Template::compile("x", Some(&re)).as_literal(), Some("x"));
        assert_eq!(
            Template::compile("$1", Some(&re)).as_single_group(),
            Some(1)
        );
        assert_eq!(Template::compile("${2}", Some(&re)).as_literal(), Some(""));
        assert_eq!(Template::compile("$0$1", Some(&re)).max_group(), Some(1));
    }
}
