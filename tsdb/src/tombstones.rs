//! A block's `tombstones` file (format doc §5): deleted time intervals per series.
//!
//! ```text
//! be32 magic 0x0130BA30 | u8 version 1
//! { uvarint seriesID ; varint mint ; varint maxt } × n
//! be32 crc32c(the stones only)
//! ```
//! Intervals are closed (`[mint, maxt]`, both ends deleted), kept sorted and merged as
//! Prometheus' `Intervals.Add` does (overlapping or adjacent intervals become one).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::meta::write_file_atomic;

/// Magic number of a tombstones file.
pub const TOMBSTONES_MAGIC: u32 = 0x0130_BA30;
/// The tombstones format version.
pub const TOMBSTONES_VERSION: u8 = 1;
/// The file name of a block's tombstones.
pub const TOMBSTONES_FILENAME: &str = "tombstones";

/// Deleted intervals per series reference (the block's index series ID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    stones: BTreeMap<u64, Vec<(i64, i64)>>,
}

impl Tombstones {
    /// No tombstones.
    pub fn new() -> Tombstones {
        Tombstones::default()
    }

    /// Reads `block_dir/tombstones`; a missing file reads as no tombstones.
    pub fn read(block_dir: &Path) -> Result<Tombstones> {
        let path = block_dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(bytes) => Tombstones::decode(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::new()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Decodes a tombstones file's bytes; `path` is only used in errors.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Tombstones> {
        let corrupt = |offset: usize, reason: &str| Error::Corrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason: reason.to_string(),
        };
        if bytes.len() < 9 {
            return Err(corrupt(
                0,
                "tombstones file shorter than header and checksum",
            ));
        }
        let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if magic != TOMBSTONES_MAGIC {
            return Err(corrupt(0, "invalid magic number"));
        }
        if bytes[4] != TOMBSTONES_VERSION {
            return Err(corrupt(4, "invalid tombstones version"));
        }
        let end = bytes.len() - 4;
        let body = &bytes[5..end];
        let want = u32::from_be_bytes([bytes[end], bytes[end + 1], bytes[end + 2], bytes[end + 3]]);
        if crc32c::crc32c(body) != want {
            return Err(corrupt(end, "checksum mismatch"));
        }
        let mut pos = 0usize;
        let mut t = Tombstones::new();
        while pos < body.len() {
            let at = 5 + pos;
            let (Some(r), Some(mint), Some(maxt)) = (
                get_uvarint(body, &mut pos),
                get_varint(body, &mut pos),
                get_varint(body, &mut pos),
            ) else {
                return Err(corrupt(at, "truncated tombstone"));
            };
            t.add(r, mint, maxt);
        }
        Ok(t)
    }

    /// The file's bytes: header, stones sorted by series reference, checksum.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.stones.len() * 8);
        out.extend_from_slice(&TOMBSTONES_MAGIC.to_be_bytes());
        out.push(TOMBSTONES_VERSION);
        for (&r, ivs) in &self.stones {
            for &(mint, maxt) in ivs {
                put_uvarint(&mut out, r);
                put_varint(&mut out, mint);
                put_varint(&mut out, maxt);
            }
        }
        let crc = crc32c::crc32c(&out[5..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Writes `block_dir/tombstones` through `tombstones.tmp` (fsync, rename, fsync dir).
    /// Returns the number of bytes written.
    pub fn write(&self, block_dir: &Path) -> Result<u64> {
        let bytes = self.encode();
        write_file_atomic(block_dir, TOMBSTONES_FILENAME, &bytes)?;
        Ok(bytes.len() as u64)
    }

    /// Deletes `[mint, maxt]` (inclusive) of series `series_ref`, merging with overlapping or
    /// adjacent intervals. An interval with `mint > maxt` is ignored.
    pub fn add(&mut self, series_ref: u64, mint: i64, maxt: i64) {
        if mint > maxt {
            return;
        }
        let ivs = self.stones.entry(series_ref).or_default();
        // Intervals are closed over integer timestamps, so neighbours one step apart merge.
        let lo = ivs.partition_point(|&(_, b)| b < mint.saturating_sub(1));
        let hi = ivs.partition_point(|&(a, _)| a <= maxt.saturating_add(1));
        if lo >= hi {
            ivs.insert(lo, (mint, maxt));
            return;
        }
        let new = (mint.min(ivs[lo].0), maxt.max(ivs[hi - 1].1));
        ivs.splice(lo..hi, std::iter::once(new));
    }

    /// The sorted, disjoint deleted intervals of `series_ref` (empty if none).
    pub fn get(&self, series_ref: u64) -> &[(i64, i64)] {
        self.stones.get(&series_ref).map_or(&[], |v| v.as_slice())
    }

    /// Whether `t` of series `series_ref` is deleted.
    pub fn is_deleted(&self, series_ref: u64, t: i64) -> bool {
        let ivs = self.get(series_ref);
        let i = ivs.partition_point(|&(_, b)| b < t);
        ivs.get(i).is_some_and(|&(a, _)| a <= t)
    }

    /// Whether there are no tombstones.
    pub fn is_empty(&self) -> bool {
        self.stones.is_empty()
    }

    /// The number of series with tombstones.
    pub fn len(&self) -> usize {
        self.stones.len()
    }

    /// The total number of intervals (what `meta.json`'s `numTombstones` counts).
    pub fn num_intervals(&self) -> u64 {
        self.stones.values().map(|v| v.len() as u64).sum()
    }

    /// Series references with their intervals, in reference order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[(i64, i64)])> + '_ {
        self.stones.iter().map(|(&r, v)| (r, v.as_slice()))
    }
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads a Go `binary.Uvarint` at `*pos`, advancing it; `None` if truncated or overlong.
pub(crate) fn get_uvarint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    let mut s = 0u32;
    for i in 0..10 {
        let c = *b.get(*pos)?;
        *pos += 1;
        if c < 0x80 {
            if i == 9 && c > 1 {
                return None;
            }
            return Some(x | (c as u64) << s);
        }
        x |= ((c & 0x7F) as u64) << s;
        s += 7;
    }
    None
}

/// Reads a Go `binary.Varint` (zig-zag) at `*pos`, advancing it.
pub(crate) fn get_varint(b: &[u8], pos: &mut usize) -> Option<i64> {
    let u = get_uvarint(b, pos)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn golden_empty_file() {
        let Some(dir) = lookout_testkit::shared_path(
            "datasets/metrics/prometheus-2.42-generated/block/01M80EW3P5VYV0B203ZE6FRZ3F",
        ) else {
            return;
        };
        let raw = std::fs::read(dir.join("tombstones")).unwrap();
        let t = Tombstones::read(&dir).unwrap();
        assert!(t.is_empty());
        assert_eq!(t.encode(), raw);
        assert_eq!(raw, [0x01, 0x30, 0xBA, 0x30, 0x01, 0, 0, 0, 0]);
    }

    #[test]
    fn add_merges_like_prometheus() {
        let mut t = Tombstones::new();
        t.add(1, 10, 20);
        t.add(1, 30, 40);
        assert_eq!(t.get(1), &[(10, 20), (30, 40)]);
        t.add(1, 21, 29); // adjacent on both sides
        assert_eq!(t.get(1), &[(10, 40)]);
        t.add(1, 50, 60);
        t.add(1, 0, 5);
        t.add(1, 45, 45);
        assert_eq!(t.get(1), &[(0, 5), (10, 40), (45, 45), (50, 60)]);
        t.add(1, 3, 55);
        assert_eq!(t.get(1), &[(0, 60)]);
        t.add(2, i64::MIN, i64::MAX);
        t.add(2, 0, 1);
        assert_eq!(t.get(2), &[(i64::MIN, i64::MAX)]);
        assert!(t.is_deleted(1, 60) && !t.is_deleted(1, 61) && t.is_deleted(2, -7));
        assert_eq!(t.get(3), &[]);
        assert_eq!((t.len(), t.num_intervals()), (2, 2));
    }

    #[test]
    fn encode_decode_round_trip_and_file() {
        let mut t = Tombstones::new();
        t.add(5, -100, 100);
        t.add(5, 200, 300);
        t.add(1 << 40, i64::MIN, i64::MAX);
        let bytes = t.encode();
        assert_eq!(Tombstones::decode(&bytes, Path::new("x")).unwrap(), t);
        // Layout: stone = uvarint(5) varint(-100) varint(100) = 05 c7 01 c8 01
        assert_eq!(&bytes[5..10], &[0x05, 0xc7, 0x01, 0xc8, 0x01]);
        let dir = std::env::temp_dir().join(format!("lookout-tomb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Tombstones::read(&dir).unwrap().is_empty());
        t.write(&dir).unwrap();
        assert_eq!(Tombstones::read(&dir).unwrap(), t);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mutated_files_never_panic() {
        let mut t = Tombstones::new();
        t.add(5, -100, 100);
        t.add(1 << 40, 7, 9);
        let good = t.encode();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                // With the checksum recomputed, the stones themselves are parsed.
                let _ = Tombstones::decode(&b, Path::new("x"));
                let end = b.len() - 4;
                let crc = crc32c::crc32c(&b[5..end]);
                b[end..].copy_from_slice(&crc.to_be_bytes());
                let _ = Tombstones::decode(&b, Path::new("x"));
            }
            let _ = Tombstones::decode(&good[..i], Path::new("x"));
        }
    }

    #[test]
    fn corrupt_files_are_errors() {
        let mut t = Tombstones::new();
        t.add(5, 1, 2);
        let good = t.encode();
        let mut bad_crc = good.clone();
        bad_crc[6] ^= 1;
        let mut bad_magic = good.clone();
        bad_magic[0] = 0;
        let mut bad_version = good.clone();
        bad_version[4] = 2;
        // A truncated stone with a valid checksum.
        let mut trunc = vec![0x01, 0x30, 0xBA, 0x30, 0x01, 0x05, 0x80];
        let crc = crc32c::crc32c(&trunc[5..]);
        trunc.extend_from_slice(&crc.to_be_bytes());
        for b in [&good[..3], &bad_crc, &bad_magic, &bad_version, &trunc] {
            assert!(matches!(
                Tombstones::decode(b, Path::new("x")),
                Err(Error::Corrupt { .. })
            ));
        }
    }
}
