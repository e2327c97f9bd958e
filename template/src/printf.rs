//! Go's `fmt.Sprint`, `Sprintln` and `Sprintf` over template values.

use lookout_model::{format_go_g, go_quote};

use crate::value::Value;

/// `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither is a
/// string.
pub(crate) fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::String(_)) && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out
}

/// `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(crate) fn go_sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf` with the verbs templates use: `%v %s %q %d %b %o %x %X %c %e %E %f %F %g %G %t
/// %%`, flags `+ - # 0 space`, width and precision. Wrong types, missing and extra arguments are
/// reported inline as Go does (`%!d(string=x)`, `%!d(MISSING)`, `%!(EXTRA int=1)`).
pub(crate) fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    let mut argi = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut s = Spec::default();
        while let Some(&f) = chars.get(i) {
            match f {
                '-' => s.minus = true,
                '+' => s.plus = true,
                ' ' => s.space = true,
                '0' => s.zero = true,
                '#' => s.sharp = true,
                _ => break,
            }
            i += 1;
        }
        let num = |i: &mut usize| -> Option<usize> {
            let st = *i;
            while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            (*i > st).then(|| {
                chars[st..*i]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
                    .min(10_000)
            })
        };
        s.width = num(&mut i);
        if chars.get(i) == Some(&'.') {
            i += 1;
            s.prec = Some(num(&mut i).unwrap_or(0));
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let body = format_one(verb, &s, arg);
        let body = match body {
            Some(b) => b,
            None => {
                out.push_str(&format!("%!{verb}({})", typed(arg)));
                continue;
            }
        };
        pad(
            &mut out,
            &body,
            &s,
            is_numeric(arg) && verb != 'q' && verb != 'c',
        );
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let rest: Vec<String> = args[argi..].iter().map(typed).collect();
        out.push_str(&rest.join(", "));
        out.push(')');
    }
    out
}

fn typed(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".to_string(),
        other => format!("{}={}", other.kind(), other.to_go_string()),
    }
}

fn is_numeric(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

fn pad(out: &mut String, body: &str, s: &Spec, numeric: bool) {
    let len = body.chars().count();
    let w = s.width.unwrap_or(0);
    if len >= w {
        out.push_str(body);
        return;
    }
    let fill = w - len;
    if s.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if s.zero && numeric && !body.contains(['N', 'I']) {
        // Zeros go after the sign.
        let (sign, digits) = match body.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (c.to_string(), &body[1..]),
            _ => (String::new(), body),
        };
        out.push_str(&sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

fn sign(s: &Spec, neg: bool) -> &'static str {
    if neg {
        "-"
    } else if s.plus {
        "+"
    } else if s.space {
        " "
    } else {
        ""
    }
}

fn format_one(verb: char, s: &Spec, v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => matches!(verb, 't' | 'v').then(|| b.to_string()),
        Value::Int(n) => format_int(verb, s, *n),
        Value::Float(f) => format_float(verb, s, *f),
        Value::String(st) => match verb {
            'v' | 's' => Some(match s.prec {
                Some(p) => st.chars().take(p).collect(),
                None => st.to_string(),
            }),
            'q' => Some(go_quote(st)),
            'x' => Some(st.bytes().map(|b| format!("{b:02x}")).collect()),
            'X' => Some(st.bytes().map(|b| format!("{b:02X}")).collect()),
            _ => None,
        },
        Value::Nil => (verb == 'v').then(|| "<nil>".to_string()),
        other => matches!(verb, 'v' | 's').then(|| other.to_go_string()),
    }
}

fn format_int(verb: char, s: &Spec, n: i64) -> Option<String> {
    let neg = n < 0;
    let mag = n.unsigned_abs();
    let digits = match verb {
        'd' | 'v' => mag.to_string(),
        'b' => format!("{mag:b}"),
        'o' => {
            let d = format!("{mag:o}");
            if s.sharp {
                format!("0{d}")
            } else {
                d
            }
        }
        'O' => format!("0o{mag:o}"),
        'x' => {
            let d = format!("{mag:x}");
            if s.sharp {
                format!("0x{d}")
            } else {
                d
            }
        }
        'X' => {
            let d = format!("{mag:X}");
            if s.sharp {
                format!("0X{d}")
            } else {
                d
            }
        }
        'c' => return char::from_u32(u32::try_from(n).ok()?).map(|c| c.to_string()),
        'q' => return char::from_u32(u32::try_from(n).ok()?).map(|c| format!("{c:?}")),
        'U' => return Some(format!("U+{mag:04X}")),
        _ => return None,
    };
    let digits = match s.prec {
        Some(p) if digits.len() < p => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    Some(format!("{}{digits}", sign(s, neg)))
}

fn format_float(verb: char, s: &Spec, f: f64) -> Option<String> {
    if f.is_nan() {
        return matches!(verb, 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G').then(|| {
            if s.plus {
                "+NaN".to_string()
            } else if s.space {
                " NaN".to_string()
            } else {
                "NaN".to_string()
            }
        });
    }
    if f.is_infinite() {
        return matches!(verb, 'v' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G').then(|| {
            if f < 0.0 {
                "-Inf".to_string()
            } else if s.plus {
                "+Inf".to_string()
            } else if s.space {
                " Inf".to_string()
            } else {
                "+Inf".to_string()
            }
        });
    }
    let neg = f.is_sign_negative();
    let a = f.abs();
    let body = match verb {
        'v' | 'g' | 'G' => {
            let b = match s.prec {
                None => {
                    let mut o = String::new();
                    format_go_g(a, &mut o);
                    o
                }
                Some(p) => fmt_g(a, p.max(1)),
            };
            if verb == 'G' {
                b.to_uppercase()
            } else {
                b
            }
        }
        'e' | 'E' => {
            let b = fmt_e(a, s.prec.unwrap_or(6));
            if verb == 'E' {
                b.to_uppercase()
            } else {
                b
            }
        }
        'f' | 'F' => format!("{a:.*}", s.prec.unwrap_or(6)),
        _ => return None,
    };
    Some(format!("{}{body}", sign(s, neg)))
}

/// `%.{prec}e` with Go's exponent (sign and at least two digits).
fn fmt_e(a: f64, prec: usize) -> String {
    let r = format!("{a:.prec$e}");
    match r.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        None => r,
    }
}

/// `%.{prec}g` as Go's strconv formats it.
fn fmt_g(a: f64, prec: usize) -> String {
    let r = format!("{a:.*e}", prec - 1);
    let Some((m, e)) = r.split_once('e') else {
        return r;
    };
    let exp: i32 = e.parse().unwrap_or(0);
    let digits: String = m.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if exp < -4 || exp >= eprec {
        fmt_e(a, (nd - 1).max(0) as usize)
    } else {
        format!("{a:.*}", (nd - dp).max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[Value]) -> String {
        go_sprintf(fmt, args)
    }

    #[test]
    fn verbs_like_go() {
        // Expected strings are what Go's fmt prints for the same calls.
        assert_eq!(f("%d", &[Value::Int(42)]), "42");
        assert_eq!(
            f(
                "%5d|%-5d|%05d",
                &[Value::Int(42), Value::Int(42), Value::Int(-42)]
            ),
            "   42|42   |-0042"
        );
        assert_eq!(
            f(
                "%x %X %o %b",
                &[
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5)
                ]
            ),
            "ff FF 10 101"
        );
        assert_eq!(f("%.2f", &[Value::Float(1.23456)]), "1.23");
        assert_eq!(f("%f", &[Value::Float(1.0)]), "1.000000");
        assert_eq!(f("%e", &[Value::Float(1234.5678)]), "1.234568e+03");
        assert_eq!(f("%g", &[Value::Float(1e6)]), "1e+06");
        assert_eq!(f("%.4g", &[Value::Float(1234.5678)]), "1235");
        assert_eq!(f("%.4g", &[Value::Float(12345.678)]), "1.235e+04");
        assert_eq!(f("%.3g", &[Value::Float(1.0)]), "1");
        assert_eq!(f("%.4g", &[Value::Float(0.0001234)]), "0.0001234");
        assert_eq!(f("%.4g", &[Value::Float(0.00001234)]), "1.234e-05");
        assert_eq!(f("%v", &[Value::Float(2.5)]), "2.5");
        assert_eq!(
            f(
                "%s|%q|%v",
                &[Value::str("a"), Value::str("b\"c"), Value::str("d")]
            ),
            "a|\"b\\\"c\"|d"
        );
        assert_eq!(f("%.2s", &[Value::str("hello")]), "he");
        assert_eq!(f("%t", &[Value::Bool(true)]), "true");
        assert_eq!(f("%d%%", &[Value::Int(5)]), "5%");
        assert_eq!(
            f("%+d %+.1f", &[Value::Int(5), Value::Float(2.0)]),
            "+5 +2.0"
        );
        assert_eq!(f("%f", &[Value::Float(f64::INFINITY)]), "+Inf");
        assert_eq!(f("%f", &[Value::Float(f64::NAN)]), "NaN");
    }

    #[test]
    fn errors_inline_like_go() {
        assert_eq!(f("%d", &[Value::str("x")]), "%!d(string=x)");
        assert_eq!(f("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%d", &[Value::Int(1), Value::Int(2)]), "1%!(EXTRA int=2)");
        assert_eq!(f("%s", &[Value::Float(1.5)]), "%!s(float64=1.5)");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(go_sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(go_sprint(&[Value::str("a"), Value::Int(2)]), "a2");
        assert_eq!(go_sprint(&[Value::str("a"), Value::str("b")]), "ab");
        assert_eq!(go_sprintln(&[Value::str("a"), Value::str("b")]), "a b\n");
    }
}
