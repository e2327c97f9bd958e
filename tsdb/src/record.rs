//! WAL record encoding (format doc §6.3): series, float samples and tombstones records, the
//! three kinds the head writes. Other record types (exemplars, histograms, metadata) are
//! recognised and skipped on replay.

use lookout_model::Labels;

use crate::block::Decbuf;
use crate::error::{Error, Result};
use crate::xor::{put_uvarint, put_varint};

/// Record type byte of a series record.
pub const RECORD_SERIES: u8 = 1;
/// Record type byte of a float samples record.
pub const RECORD_SAMPLES: u8 = 2;
/// Record type byte of a tombstones record.
pub const RECORD_TOMBSTONES: u8 = 3;

/// A series' WAL reference and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSeries {
    /// The head's series reference.
    pub series_ref: u64,
    /// The series' labels.
    pub labels: Labels,
}

/// One float sample of a series reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// The head's series reference.
    pub series_ref: u64,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The value (its exact bits are kept).
    pub v: f64,
}

/// A deleted closed interval `[mint, maxt]` of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stone {
    /// The head's series reference.
    pub series_ref: u64,
    /// First deleted timestamp.
    pub mint: i64,
    /// Last deleted timestamp.
    pub maxt: i64,
}

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// New series.
    Series(Vec<RefSeries>),
    /// Float samples.
    Samples(Vec<RefSample>),
    /// Deletions.
    Tombstones(Vec<Stone>),
    /// A record type this crate does not interpret (exemplars, histograms, metadata, …).
    Other(u8),
}

fn put_uv(out: &mut Vec<u8>, x: u64) {
    let mut b = [0u8; 10];
    let n = put_uvarint(&mut b, x);
    out.extend_from_slice(&b[..n]);
}

fn put_v(out: &mut Vec<u8>, x: i64) {
    let mut b = [0u8; 10];
    let n = put_varint(&mut b, x);
    out.extend_from_slice(&b[..n]);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uv(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends a series record to `out`.
pub fn encode_series<'a>(series: impl IntoIterator<Item = (u64, &'a Labels)>, out: &mut Vec<u8>) {
    out.push(RECORD_SERIES);
    for (r, labels) in series {
        out.extend_from_slice(&r.to_be_bytes());
        put_uv(out, labels.len() as u64);
        for l in labels.iter() {
            put_str(out, l.name);
            put_str(out, l.value);
        }
    }
}

/// Writes the zig-zag encoded `u` as a varint at the start of `w`, returning its length (at
/// most 10); one- and two-byte values (the usual deltas) take no loop.
#[inline(always)]
fn put_zz(w: &mut [u8], mut u: u64) -> usize {
    if u < 0x80 {
        if let Some(b) = w.first_mut() {
            *b = u as u8;
        }
        return 1;
    }
    if u < 0x4000 {
        if let Some(b) = w.get_mut(..2) {
            b[0] = (u as u8) | 0x80;
            b[1] = (u >> 7) as u8;
        }
        return 2;
    }
    let mut i = 0;
    while u >= 0x80 && i < 9 {
        if let Some(b) = w.get_mut(i) {
            *b = (u as u8) | 0x80;
        }
        u >>= 7;
        i += 1;
    }
    if let Some(b) = w.get_mut(i) {
        *b = u as u8;
    }
    i + 1
}

/// Zig-zag encoding of a signed delta.
#[inline(always)]
fn zz(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

/// The longest samples row: two 10-byte varints and the value.
const MAX_ROW: usize = 28;

/// Writes one samples row (the deltas zig-zag encoded) at the start of `w`, returning its
/// length.
#[inline(always)]
fn put_row(w: &mut [u8; MAX_ROW], dr: u64, dt: u64, v: u64) -> usize {
    let k = if dr < 0x80 && dt < 0x80 {
        w[0] = dr as u8;
        w[1] = dt as u8;
        2
    } else {
        let i = put_zz(w, dr);
        i + put_zz(w.get_mut(i..).unwrap_or_default(), dt)
    };
    if let Some(b) = w.get_mut(k..k + 8) {
        b.copy_from_slice(&v.to_be_bytes());
    }
    k + 8
}

/// Appends a samples record to `out` (the first sample is repeated as a row, as Prometheus
/// writes it).
pub fn encode_samples(samples: impl IntoIterator<Item = RefSample>, out: &mut Vec<u8>) {
    out.push(RECORD_SAMPLES);
    let mut it = samples.into_iter();
    let Some(first) = it.next() else {
        return;
    };
    let (r0, t0) = (first.series_ref, first.t);
    // Typical rows are 10–12 bytes: two short deltas and the value.
    out.reserve(16 + (it.size_hint().0.min(1 << 20) + 1) * 12);
    out.extend_from_slice(&r0.to_be_bytes());
    out.extend_from_slice(&t0.to_be_bytes());
    // Rows are gathered in a block on the stack and copied out a block at a time.
    const BLOCK: usize = 1024;
    let mut buf = [0u8; BLOCK];
    let mut n = 0usize;
    for s in std::iter::once(first).chain(it) {
        if n > BLOCK - MAX_ROW {
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
            n = 0;
        }
        if let Some(w) = buf
            .get_mut(n..n + MAX_ROW)
            .and_then(|w| <&mut [u8; MAX_ROW]>::try_from(w).ok())
        {
            n += put_row(
                w,
                zz(s.series_ref.wrapping_sub(r0) as i64),
                zz(s.t.wrapping_sub(t0)),
                s.v.to_bits(),
            );
        }
    }
    out.extend_from_slice(buf.get(..n).unwrap_or_default());
}

/// Appends a tombstones record to `out`.
pub fn encode_tombstones(stones: &[Stone], out: &mut Vec<u8>) {
    out.push(RECORD_TOMBSTONES);
    for s in stones {
        out.extend_from_slice(&s.series_ref.to_be_bytes());
        put_v(out, s.mint);
        put_v(out, s.maxt);
    }
}

fn bad(d: &Decbuf<'_>, reason: &'static str) -> Error {
    Error::CorruptRecord {
        offset: d.pos(),
        reason,
    }
}

/// The most labels a WAL series may carry; a bound against hostile input.
const MAX_LABELS: u64 = 1 << 16;

/// Decodes the rows of a samples record (after its type byte), appending them to `out`; on
/// an error, rows before the bad one have been appended.
fn samples_into(d: &mut Decbuf<'_>, out: &mut Vec<RefSample>) -> Result<()> {
    let start = d.pos();
    let rest = d.bytes(d.remaining()).unwrap_or_default();
    // Rows take at least 10 bytes (two varints and the value).
    out.reserve(rest.len() / 10);
    for_each_row(rest, start, |s| out.push(s))
}

/// The zig-zag varint starting with bytes `b0`, `b1`, `b2` if it takes at most three bytes:
/// the value and its length.
#[inline(always)]
fn short_zz(b0: u8, b1: u8, b2: u8) -> Option<(i64, usize)> {
    let (u, n) = if b0 < 0x80 {
        (u64::from(b0), 1)
    } else if b1 < 0x80 {
        (u64::from(b0 & 0x7F) | (u64::from(b1) << 7), 2)
    } else if b2 < 0x80 {
        (
            u64::from(b0 & 0x7F) | (u64::from(b1 & 0x7F) << 7) | (u64::from(b2) << 14),
            3,
        )
    } else {
        return None;
    };
    Some((((u >> 1) as i64) ^ -((u & 1) as i64), n))
}

/// The window [`short_row`] reads a row from.
const ROW_WINDOW: usize = 14;

/// One row of a samples record whose deltas take at most three bytes each (what heads write:
/// references within a batch and timestamps within ~17 min of the first), read from a window
/// that holds the longest such row: `(ref delta, time delta, value bits, row length)`.
#[inline(always)]
fn short_row(w: &[u8; ROW_WINDOW]) -> Option<(i64, i64, u64, usize)> {
    let (dr, i) = short_zz(w[0], w[1], w[2])?;
    let (dt, j) = short_zz(*w.get(i)?, *w.get(i + 1)?, *w.get(i + 2)?)?;
    let k = i + j;
    let mut v = [0u8; 8];
    v.copy_from_slice(w.get(k..k + 8)?);
    Some((dr, dt, u64::from_be_bytes(v), k + 8))
}

/// A zig-zag varint of any length at `b[p..]`: the value and the position after it.
fn long_zz(b: &[u8], p: usize) -> Option<(i64, usize)> {
    let mut x = 0u64;
    let mut s = 0u32;
    for i in 0..10 {
        let byte = *b.get(p + i)?;
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            let u = x | (u64::from(byte) << s);
            return Some((((u >> 1) as i64) ^ -((u & 1) as i64), p + i + 1));
        }
        x |= u64::from(byte & 0x7F) << s;
        s += 7;
    }
    None
}

/// Decodes the rows of a samples record, `b` being the record after its type byte (at
/// offset `base` of the record, for errors), calling `f` for each row in order. On an error,
/// `f` has seen the rows before the bad one.
#[inline(always)]
fn for_each_row(b: &[u8], base: usize, mut f: impl FnMut(RefSample)) -> Result<()> {
    let bad = |at: usize, reason| Error::CorruptRecord {
        offset: base + at,
        reason,
    };
    if b.is_empty() {
        return Ok(());
    }
    let mut be = [0u8; 8];
    be.copy_from_slice(b.get(..8).ok_or_else(|| bad(0, "truncated base ref"))?);
    let r0 = u64::from_be_bytes(be);
    be.copy_from_slice(b.get(8..16).ok_or_else(|| bad(8, "truncated base time"))?);
    let t0 = u64::from_be_bytes(be) as i64;
    let mut p = 16;
    while p < b.len() {
        // Fast path: a whole short row in a small window (bounds checked once).
        if let Some(w) = b
            .get(p..p + ROW_WINDOW)
            .and_then(|w| <&[u8; ROW_WINDOW]>::try_from(w).ok())
        {
            if let Some((dr, dt, v, n)) = short_row(w) {
                f(RefSample {
                    series_ref: r0.wrapping_add(dr as u64),
                    t: t0.wrapping_add(dt),
                    v: f64::from_bits(v),
                });
                p += n;
                continue;
            }
        }
        let (dr, q) = long_zz(b, p).ok_or_else(|| bad(p, "bad ref delta"))?;
        let (dt, q) = long_zz(b, q).ok_or_else(|| bad(q, "bad time delta"))?;
        let v = b.get(q..q + 8).ok_or_else(|| bad(q, "truncated value"))?;
        be.copy_from_slice(v);
        f(RefSample {
            series_ref: r0.wrapping_add(dr as u64),
            t: t0.wrapping_add(dt),
            v: f64::from_bits(u64::from_be_bytes(be)),
        });
        p = q + 8;
    }
    Ok(())
}

/// Decodes a samples record (type byte included), calling `f` with each row in order, as
/// replay does to gather samples without a vector per record; on an error, `f` has seen the
/// rows before the bad one (the caller undoes them). A record of another type is an error.
#[inline(always)]
pub(crate) fn for_each_sample(rec: &[u8], f: impl FnMut(RefSample)) -> Result<()> {
    match rec.split_first() {
        Some((&RECORD_SAMPLES, rest)) => for_each_row(rest, 1, f),
        _ => Err(Error::CorruptRecord {
            offset: usize::from(!rec.is_empty()),
            reason: "not a samples record",
        }),
    }
}

/// Decodes one (decompressed) record.
pub fn decode(rec: &[u8]) -> Result<Record> {
    let mut d = Decbuf::new(rec);
    let Some(kind) = d.u8() else {
        return Err(bad(&d, "empty record"));
    };
    match kind {
        RECORD_SERIES => {
            let mut out = Vec::new();
            let mut pairs: Vec<(&str, &str)> = Vec::new();
            // Label sets are encoded here, then copied once into their own allocation.
            let mut scratch = String::new();
            while !d.at_end() {
                let r = d.be64().ok_or_else(|| bad(&d, "truncated series ref"))?;
                let n = d.uvarint().ok_or_else(|| bad(&d, "bad label count"))?;
                if n > MAX_LABELS {
                    return Err(bad(&d, "too many labels"));
                }
                pairs.clear();
                for _ in 0..n {
                    let name = d.ustr().ok_or_else(|| bad(&d, "bad label name"))?;
                    let value = d.ustr().ok_or_else(|| bad(&d, "bad label value"))?;
                    pairs.push((name, value));
                }
                let sorted = pairs.windows(2).all(|w| w[0].0 < w[1].0)
                    && pairs.iter().all(|p| !p.1.is_empty());
                let labels = if sorted {
                    Labels::from_sorted_unchecked_in(pairs.iter().copied(), &mut scratch)
                } else {
                    Labels::from_pairs(pairs.iter().copied())
                };
                out.push(RefSeries {
                    series_ref: r,
                    labels,
                });
            }
            Ok(Record::Series(out))
        }
        RECORD_SAMPLES => {
            let mut out = Vec::new();
            samples_into(&mut d, &mut out)?;
            Ok(Record::Samples(out))
        }
        RECORD_TOMBSTONES => {
            let mut out = Vec::new();
            while !d.at_end() {
                let r = d.be64().ok_or_else(|| bad(&d, "truncated ref"))?;
                let mint = d.varint().ok_or_else(|| bad(&d, "bad mint"))?;
                let maxt = d.varint().ok_or_else(|| bad(&d, "bad maxt"))?;
                out.push(Stone {
                    series_ref: r,
                    mint,
                    maxt,
                });
            }
            Ok(Record::Tombstones(out))
        }
        other => Ok(Record::Other(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of a samples record decoded the plain way (one varint at a time), as a
    /// reference for the fast path.
    fn reference_rows(rec: &[u8]) -> Option<Vec<(u64, i64, u64)>> {
        let mut d = Decbuf::new(rec);
        if d.u8()? != RECORD_SAMPLES {
            return None;
        }
        let mut out = Vec::new();
        if d.at_end() {
            return Some(out);
        }
        let r0 = d.be64()?;
        let t0 = d.be64()? as i64;
        while !d.at_end() {
            let dr = d.varint()?;
            let dt = d.varint()?;
            let v = d.be64()?;
            out.push((r0.wrapping_add(dr as u64), t0.wrapping_add(dt), v));
        }
        Some(out)
    }

    #[test]
    fn samples_rows_of_every_width_and_cut_anywhere() {
        let mut rnd = crate::testing::xorshift(0x9E37_79B9_7F4A_7C15u64);
        for round in 0..200 {
            // Deltas from one byte to ten, negative ones and the extremes.
            let n = 1 + (rnd() % 40) as usize;
            let samples: Vec<RefSample> = (0..n)
                .map(|_| {
                    let w = |r: u64| match r % 6 {
                        0 => r % 64,
                        1 => r % 8000,
                        2 => r % 2_000_000,
                        3 => r >> (r % 64),
                        4 => u64::MAX - r % 100,
                        _ => r,
                    };
                    RefSample {
                        series_ref: 1000u64.wrapping_add(w(rnd())),
                        t: 1_700_000_000_000i64.wrapping_add(w(rnd()) as i64),
                        v: f64::from_bits(rnd()),
                    }
                })
                .collect();
            let mut buf = Vec::new();
            encode_samples(samples.iter().copied(), &mut buf);
            let want: Vec<(u64, i64, u64)> = samples
                .iter()
                .map(|s| (s.series_ref, s.t, s.v.to_bits()))
                .collect();
            let mut got = Vec::new();
            for_each_sample(&buf, |s| got.push((s.series_ref, s.t, s.v.to_bits()))).unwrap();
            assert_eq!(got, want, "round {round}");
            assert_eq!(reference_rows(&buf).unwrap(), want);
            // Every prefix: the fast decoder agrees with the reference, rows before a cut
            // are delivered and a cut inside a row is an error.
            for cut in 0..buf.len() {
                let part = &buf[..cut];
                let mut rows = Vec::new();
                let res = for_each_sample(part, |s| rows.push((s.series_ref, s.t, s.v.to_bits())));
                match reference_rows(part) {
                    Some(all) => {
                        assert!(res.is_ok(), "cut {cut}");
                        assert_eq!(rows, all);
                    }
                    None => {
                        assert!(res.is_err(), "cut {cut}");
                        assert_eq!(rows[..], want[..rows.len()]);
                    }
                }
            }
        }
        // A varint of more than ten bytes is an error on both paths.
        let mut bad = vec![RECORD_SAMPLES];
        bad.extend_from_slice(&[0; 16]);
        bad.extend_from_slice(&[0xFF; 11]);
        bad.extend_from_slice(&[0; 20]);
        assert!(for_each_sample(&bad, |_| {}).is_err());
        assert!(reference_rows(&bad).is_none());
        assert!(for_each_sample(&[RECORD_SERIES], |_| {}).is_err());
        assert!(for_each_sample(&[], |_| {}).is_err());
    }

    #[test]
    fn round_trip() {
        let a: Labels = r#"up{job="a"}"#.parse().unwrap();
        let b: Labels = r#"x{y="z",q=""}"#.parse().unwrap();
        let mut buf = Vec::new();
        encode_series([(5, &a), (3, &b)], &mut buf);
        assert_eq!(
            decode(&buf).unwrap(),
            Record::Series(vec![
                RefSeries {
                    series_ref: 5,
                    labels: a
                },
                RefSeries {
                    series_ref: 3,
                    labels: b
                },
            ])
        );
        let samples = [
            RefSample {
                series_ref: 9,
                t: 100,
                v: 1.5,
            },
            RefSample {
                series_ref: 2,
                t: 90,
                v: f64::NAN,
            },
        ];
        buf.clear();
        encode_samples(samples.iter().copied(), &mut buf);
        // type, ref0, t0, then two rows of (varint, varint, 8 bytes).
        assert_eq!(buf.len(), 1 + 16 + 10 + 10);
        match decode(&buf).unwrap() {
            Record::Samples(got) => {
                assert_eq!(got.len(), 2);
                assert_eq!(got[1].series_ref, 2);
                assert_eq!(got[1].t, 90);
                assert!(got[1].v.is_nan());
            }
            other => panic!("{other:?}"),
        }
        buf.clear();
        encode_samples(std::iter::empty(), &mut buf);
        assert_eq!(decode(&buf).unwrap(), Record::Samples(vec![]));
        buf.clear();
        let stones = [Stone {
            series_ref: 1,
            mint: -5,
            maxt: 10,
        }];
        encode_tombstones(&stones, &mut buf);
        assert_eq!(decode(&buf).unwrap(), Record::Tombstones(stones.to_vec()));
        assert_eq!(decode(&[42]).unwrap(), Record::Other(42));
        assert!(decode(&[]).is_err());
        assert!(decode(&[2, 0, 0]).is_err());
    }
}
