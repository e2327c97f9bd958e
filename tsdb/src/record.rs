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

/// Writes the zig-zag varint of `x` into `b` at `at`, returning the new end (at most `at + 10`).
#[inline(always)]
fn put_zz_at(b: &mut [u8; 28], at: usize, x: i64) -> usize {
    let mut u = ((x << 1) ^ (x >> 63)) as u64;
    let mut i = at;
    while u >= 0x80 && i < at + 9 {
        b[i] = (u as u8) | 0x80;
        u >>= 7;
        i += 1;
    }
    b[i] = u as u8;
    i + 1
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
    out.reserve(18 + (it.size_hint().0 + 1) * 12);
    out.extend_from_slice(&r0.to_be_bytes());
    out.extend_from_slice(&t0.to_be_bytes());
    let row = |s: RefSample, out: &mut Vec<u8>| {
        // One row: two varints (≤ 10 bytes each) and the value, written at once.
        let mut b = [0u8; 28];
        let n = put_zz_at(&mut b, 0, s.series_ref.wrapping_sub(r0) as i64);
        let n = put_zz_at(&mut b, n, s.t.wrapping_sub(t0));
        b[n..n + 8].copy_from_slice(&s.v.to_bits().to_be_bytes());
        out.extend_from_slice(&b[..n + 8]);
    };
    row(first, out);
    for s in it {
        row(s, out);
    }
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
    // Rows take at least 10 bytes (two varints and the value).
    out.reserve(d.remaining() / 10);
    if d.at_end() {
        return Ok(());
    }
    let r0 = d.be64().ok_or_else(|| bad(d, "truncated base ref"))?;
    let t0 = d.be64().ok_or_else(|| bad(d, "truncated base time"))? as i64;
    while !d.at_end() {
        let dr = d.varint().ok_or_else(|| bad(d, "bad ref delta"))?;
        let dt = d.varint().ok_or_else(|| bad(d, "bad time delta"))?;
        let v = d.be64().ok_or_else(|| bad(d, "truncated value"))?;
        out.push(RefSample {
            series_ref: r0.wrapping_add(dr as u64),
            t: t0.wrapping_add(dt),
            v: f64::from_bits(v),
        });
    }
    Ok(())
}

/// Decodes a samples record (type byte included) straight into `out`, as replay does to
/// skip a vector per record; on an error, `out` may hold some of its rows (the caller
/// truncates). A record of another type is an error.
pub(crate) fn decode_samples_into(rec: &[u8], out: &mut Vec<RefSample>) -> Result<()> {
    let mut d = Decbuf::new(rec);
    match d.u8() {
        Some(RECORD_SAMPLES) => samples_into(&mut d, out),
        _ => Err(bad(&d, "not a samples record")),
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
                    Labels::from_sorted_unchecked(pairs.iter().copied())
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
