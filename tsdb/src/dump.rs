//! `promtool tsdb dump`'s text output over any [`Querier`].

use std::io::{self, Write};

use lookout_model::{format_go_g, Matcher, Querier, SelectHints, ValueKind};

/// Writes every float sample of the series matching `matchers` (all series when empty) in
/// `[mint, maxt]` as `promtool tsdb dump` prints them: `{labels} VALUE TIMESTAMP_MS`, one per
/// line, the value in Go's `%g`. Series come in label order. Returns the number of samples.
pub fn write_dump(
    q: &(impl Querier + ?Sized),
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    out: &mut impl Write,
) -> io::Result<u64> {
    let all;
    let matchers = if matchers.is_empty() {
        all = [Matcher::new(lookout_model::MatchType::Regex, "", ".*").map_err(io::Error::other)?];
        &all[..]
    } else {
        matchers
    };
    let set = q
        .select(mint, maxt, matchers, &SelectHints::default())
        .map_err(io::Error::other)?;
    let mut n = 0u64;
    let mut line = String::new();
    for s in set {
        let s = s.map_err(io::Error::other)?;
        let labels = s.labels().to_string();
        let mut it = s.iter();
        while it.next() == ValueKind::Float {
            let smp = it.at();
            line.clear();
            line.push_str(&labels);
            line.push(' ');
            format_go_g(smp.v, &mut line);
            line.push(' ');
            push_i64(&mut line, smp.t);
            line.push('\n');
            out.write_all(line.as_bytes())?;
            n += 1;
        }
        if let Some(e) = it.err() {
            return Err(io::Error::other(e.to_string()));
        }
    }
    Ok(n)
}

/// Appends the decimal form of `v` without allocating.
fn push_i64(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

#[cfg(test)]
mod tests {
    use super::push_i64;

    #[test]
    fn integers_print_as_decimal() {
        for v in [0, 7, -7, 1_700_000_000_000, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_i64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }
}
