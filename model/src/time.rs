//! Prometheus durations and timestamps.

use crate::error::Error;

const MS_PER: [(&str, i64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

/// The longest duration Prometheus accepts: `time.Duration`'s range, in milliseconds.
const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

fn bad(what: &'static str, text: &str) -> Error {
    Error::InvalidTime {
        what,
        text: text.to_string(),
    }
}

/// Parses a Prometheus duration (`1h30m`, `5m`, `90s`, `100ms`, `2d`, `1w`, `1y`, or `0`) into
/// milliseconds. Units must come in descending order, each at most once; a year is 365 days.
///
/// ```
/// assert_eq!(lookout_model::parse_duration("1h30m").unwrap(), 5_400_000);
/// assert!(lookout_model::parse_duration("30m1h").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<i64, Error> {
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad("duration", s));
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut next_unit = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad("duration", s));
        }
        let n: i64 = s[start..i].parse().map_err(|_| bad("duration", s))?;
        let rest = &s[i..];
        let unit = MS_PER[next_unit..]
            .iter()
            .position(|(u, _)| rest.starts_with(u) && !(*u == "m" && rest.starts_with("ms")))
            .map(|p| p + next_unit)
            .ok_or_else(|| bad("duration", s))?;
        let (u, mult) = MS_PER[unit];
        i += u.len();
        next_unit = unit + 1;
        // Like Prometheus' model.ParseDuration, a duration must fit Go's time.Duration (int64
        // nanoseconds, about 292 years).
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .filter(|t| *t <= MAX_DURATION_MS)
            .ok_or_else(|| bad("duration", s))?;
    }
    Ok(total)
}

/// Formats milliseconds as Prometheus does (`model.Duration.String()`): `1h30m`, `90d`, `0s`;
/// years and weeks only when they divide the duration exactly.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let (neg, mut rest) = if ms < 0 {
        (true, -(ms as i128))
    } else {
        (false, ms as i128)
    };
    if neg {
        out.push('-');
    }
    for (i, (unit, mult)) in MS_PER.iter().enumerate() {
        let mult = *mult as i128;
        if i < 2 && rest % mult != 0 {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
            rest -= v * mult;
        }
    }
    out
}

/// Parses a timestamp as Prometheus' HTTP API and `promtool` accept it: an RFC 3339 date-time
/// (`2024-01-02T03:04:05.123Z`, offsets allowed) or Unix seconds with an optional fraction
/// (`1700000000.5`). Returns milliseconds since the epoch (fractions below a millisecond are
/// rounded to the nearest millisecond, as Prometheus does).
pub fn parse_timestamp(s: &str) -> Result<i64, Error> {
    let err = || bad("timestamp", s);
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() || s.contains(['e', 'E', 'n', 'N', 'i', 'I']) {
            return Err(err());
        }
        let ms = (f * 1000.0).round();
        if ms.abs() > 9.2e18 {
            return Err(err());
        }
        return Ok(ms as i64);
    }
    parse_rfc3339(s).ok_or_else(err)
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 9)];
        nanos = frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32);
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            let o = oh * 60 + om;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + (nanos + 500_000) / 1_000_000)
}

/// The number of days in month `m` (1–12) of year `y` in the proleptic Gregorian calendar.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The (year, month 1–12, day 1–31) of a day counted from 1970-01-01 (negative before), in the
/// proleptic Gregorian calendar (Howard Hinnant's algorithm); the inverse of `days_from_civil`.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert_eq!(parse_duration("5m").unwrap(), 300_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration("100ms").unwrap(), 100);
        assert_eq!(parse_duration("1m1ms").unwrap(), 60_001);
        assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
        for bad in [
            "",
            "5",
            "1.5h",
            "-1m",
            "30m1h",
            "1h1h",
            "1x",
            "1hh",
            "99999999999999999999y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duration_strings_like_prometheus() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(365 * 86_400_000), "1y");
        assert_eq!(format_duration(61_001), "1m1s1ms");
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for d in (-800_000..800_000).step_by(997) {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
            assert!(dd >= 1 && dd <= days_in_month(y, m));
        }
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2024, 4), 30);
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("0").unwrap(), 0);
        assert_eq!(parse_timestamp("1700000000.5").unwrap(), 1_700_000_000_500);
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_timestamp("2023-11-14T23:13:20.250+01:00").unwrap(),
            1_700_000_000_250
        );
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00Z").unwrap(),
            951_782_400_000
        );
        for bad in [
            "",
            "NaN",
            "Inf",
            "1e3",
            "2023-02-30T00:00:00Z",
            "2023-11-14T22:13:20",
            "2023-11-14",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
