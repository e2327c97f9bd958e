//! A block's `meta.json` (format doc §1.1) and block IDs (ULIDs).
//!
//! [`BlockMeta`] reads and writes `meta.json` exactly as Prometheus 2.42 does: the same keys,
//! tab indentation, no trailing newline, `omitempty` fields left out. Keys Prometheus does not
//! know (Thanos' `"thanos"` section, for example) are kept in [`BlockMeta::extra`] and written
//! back after `version`, so rewriting a Thanos block's meta does not lose them.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file name of a block's meta data.
pub const META_FILENAME: &str = "meta.json";
/// The only `meta.json` format version Prometheus 2.42 accepts.
pub const META_VERSION: u32 = 1;

/// The contents of a block's `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// The block's ID, a 26-character ULID; also the name of its directory.
    pub ulid: String,
    /// The first timestamp the block may hold (inclusive), in ms.
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// The end of the block's time range (exclusive), in ms.
    #[serde(rename = "maxTime")]
    pub max_time: i64,
    /// Counts of what the block holds.
    #[serde(default)]
    pub stats: BlockStats,
    /// How the block came to be.
    #[serde(default)]
    pub compaction: Compaction,
    /// The meta format version; always [`META_VERSION`].
    pub version: u32,
    /// Keys Prometheus does not know (such as Thanos' `"thanos"`), kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `meta.json`'s `stats`: counts of what a block holds. Zero counts are not written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Samples in the block.
    #[serde(rename = "numSamples", default, skip_serializing_if = "is_zero")]
    pub num_samples: u64,
    /// Float samples (written by Prometheus 3.x only).
    #[serde(rename = "numFloatSamples", default, skip_serializing_if = "is_zero")]
    pub num_float_samples: u64,
    /// Histogram samples (written by Prometheus 3.x only).
    #[serde(
        rename = "numHistogramSamples",
        default,
        skip_serializing_if = "is_zero"
    )]
    pub num_histogram_samples: u64,
    /// Series in the block.
    #[serde(rename = "numSeries", default, skip_serializing_if = "is_zero")]
    pub num_series: u64,
    /// Chunks in the block.
    #[serde(rename = "numChunks", default, skip_serializing_if = "is_zero")]
    pub num_chunks: u64,
    /// Deletion intervals in the block's tombstones.
    #[serde(rename = "numTombstones", default, skip_serializing_if = "is_zero")]
    pub num_tombstones: u64,
}

/// `meta.json`'s `compaction`: the block's compaction level and ancestry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head (or created by promtool), max(parents)+1 when compacted.
    pub level: u32,
    /// ULIDs of the level-1 blocks this one was made from (itself for a level-1 block).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Set when compaction left the block empty and it should be deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deletable: bool,
    /// The blocks compacted into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockDesc>,
    /// Set when compacting this block failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Free-form hints such as `"from-out-of-order"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

impl Default for Compaction {
    fn default() -> Compaction {
        Compaction {
            level: 1,
            sources: Vec::new(),
            deletable: false,
            parents: Vec::new(),
            failed: false,
            hints: Vec::new(),
        }
    }
}

/// A parent block in [`Compaction::parents`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDesc {
    /// The parent's ULID.
    pub ulid: String,
    /// The parent's first timestamp (inclusive).
    #[serde(rename = "minTime")]
    pub min_time: i64,
    /// The parent's end timestamp (exclusive).
    #[serde(rename = "maxTime")]
    pub max_time: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl BlockMeta {
    /// A level-1 meta for a new block: `sources` is the block itself, stats are zero.
    pub fn new(ulid: String, min_time: i64, max_time: i64) -> BlockMeta {
        BlockMeta {
            compaction: Compaction {
                level: 1,
                sources: vec![ulid.clone()],
                ..Compaction::default()
            },
            ulid,
            min_time,
            max_time,
            stats: BlockStats::default(),
            version: META_VERSION,
            extra: BTreeMap::new(),
        }
    }

    /// Reads `block_dir/meta.json`. Fails on malformed JSON, a version other than 1 or an ID
    /// that is not a ULID.
    pub fn read(block_dir: &Path) -> Result<BlockMeta> {
        let path = block_dir.join(META_FILENAME);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        BlockMeta::from_json(&bytes, &path)
    }

    /// Parses `meta.json` bytes; `path` is only used in errors.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<BlockMeta> {
        let meta: BlockMeta = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            offset: json_error_offset(bytes, &e),
            reason: format!("meta.json: {e}"),
        })?;
        if meta.version != META_VERSION {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!("unexpected meta file version {}", meta.version),
            });
        }
        if parse_ulid(&meta.ulid).is_none() {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                offset: 0,
                reason: format!("invalid ULID {:?}", meta.ulid),
            });
        }
        Ok(meta)
    }

    /// The JSON Prometheus writes: `json.MarshalIndent(meta, "", "\t")`, no trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        // Serializing plain structs, strings, integers and JSON values into a Vec cannot fail.
        if self.serialize(&mut ser).is_err() {
            out.clear();
        }
        out
    }

    /// Writes `block_dir/meta.json` through `meta.json.tmp`, fsynced, renamed into place, and
    /// the directory fsynced. Returns the number of bytes written.
    pub fn write(&self, block_dir: &Path) -> Result<u64> {
        let json = self.to_json();
        write_file_atomic(block_dir, META_FILENAME, &json)?;
        Ok(json.len() as u64)
    }
}

fn json_error_offset(bytes: &[u8], e: &serde_json::Error) -> u64 {
    // serde_json reports 1-based line and column; turn them into a byte offset.
    let (line, col) = (e.line(), e.column());
    if line == 0 {
        return 0;
    }
    let mut off = 0usize;
    for (i, l) in bytes.split(|&b| b == b'\n').enumerate() {
        if i + 1 == line {
            return (off + col.saturating_sub(1).min(l.len())) as u64;
        }
        off += l.len() + 1;
    }
    bytes.len() as u64
}

/// Writes `dir/name` via `dir/name.tmp`: write, fsync, rename, fsync the directory.
pub(crate) fn write_file_atomic(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let dst = dir.join(name);
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(data).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
    sync_dir(dir)
}

/// fsyncs a directory so renames and new entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let f = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
        f.sync_all().map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new ULID for time `ms` (milliseconds since the epoch; clamped to the 48 bits a ULID holds)
/// with 80 random bits, in upper-case Crockford base32 as Prometheus writes block IDs.
///
/// The random bits come from std's randomly keyed hasher mixed with the clock, process ID and a
/// process-wide counter, so IDs made in the same millisecond differ.
pub fn new_ulid(ms: i64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = ms.clamp(0, (1i64 << 48) - 1) as u128;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let state = RandomState::new();
    let mut rand = [0u64; 2];
    for (i, r) in rand.iter_mut().enumerate() {
        let mut h = state.build_hasher();
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(n);
        h.write_usize(i);
        *r = h.finish();
    }
    let random = ((rand[0] as u128) << 16 | (rand[1] as u128 & 0xFFFF)) & ((1u128 << 80) - 1);
    encode_ulid(ms << 80 | random)
}

/// The 26-character Crockford base32 text of a 128-bit ULID value.
pub fn encode_ulid(v: u128) -> String {
    let mut s = String::with_capacity(26);
    for i in 0..26u32 {
        let shift = 125 - 5 * i as i32;
        let d = if shift >= 0 { (v >> shift) & 31 } else { 0 };
        s.push(CROCKFORD[d as usize] as char);
    }
    s
}

/// Parses a ULID strictly as Prometheus' `ulid.ParseStrict` does: exactly 26 characters of the
/// Crockford alphabet (either case; no `I`, `L`, `O`, `U`), first character at most `7`.
pub fn parse_ulid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 26 || b[0] > b'7' {
        return None;
    }
    let mut v = 0u128;
    for &c in b {
        let c = c.to_ascii_uppercase();
        let d = CROCKFORD.iter().position(|&x| x == c)?;
        v = v << 5 | d as u128;
    }
    Some(v)
}

/// The millisecond timestamp of a ULID, if `s` is one.
pub fn ulid_time(s: &str) -> Option<i64> {
    parse_ulid(s).map(|v| (v >> 80) as i64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn golden_dir() -> Option<std::path::PathBuf> {
        lookout_testkit::shared_path(
            "datasets/metrics/prometheus-2.42-generated/block/01M80EW3P5VYV0B203ZE6FRZ3F",
        )
    }

    /// Found by the `tsdb_meta` fuzz target: a float in an unknown key must survive a round
    /// trip exactly (serde_json parses floats correctly rounded only with `float_roundtrip`).
    #[test]
    fn unknown_float_fields_round_trip() {
        let json = br#"{"ulid":"01BKGV7JBM69T2G1BGBGM6KB12","minTime":0,"maxTime":7200000,
            "stats":{"numSamples":10,"numSeries":1,"numChunks":1},
            "compaction":{"level":1},"version":1,"x":{"maxTime":3.92e+62}}"#;
        let path = Path::new("meta.json");
        let m = BlockMeta::from_json(json, path).unwrap();
        let again = BlockMeta::from_json(&m.to_json(), path).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn golden_meta_round_trips_byte_for_byte() {
        let Some(dir) = golden_dir() else { return };
        let raw = std::fs::read(dir.join("meta.json")).unwrap();
        let meta = BlockMeta::read(&dir).unwrap();
        assert_eq!(meta.ulid, "01M80EW3P5VYV0B203ZE6FRZ3F");
        assert_eq!(meta.min_time, 1_700_000_000_000);
        assert_eq!(meta.max_time, 1_700_005_985_016);
        assert_eq!(meta.stats.num_samples, 2000);
        assert_eq!(meta.stats.num_series, 5);
        assert_eq!(meta.stats.num_chunks, 15);
        assert_eq!(meta.compaction.level, 1);
        assert_eq!(meta.compaction.sources, vec![meta.ulid.clone()]);
        assert_eq!(
            String::from_utf8(meta.to_json()).unwrap(),
            String::from_utf8(raw).unwrap()
        );
    }

    #[test]
    fn compacted_and_thanos_meta_round_trip() {
        let src = r#"{
	"ulid": "01BKGV7JBM69T2G1BGBGM6KB12",
	"minTime": 0,
	"maxTime": 7200000,
	"stats": {
		"numSamples": 10,
		"numSeries": 1,
		"numChunks": 1,
		"numTombstones": 2
	},
	"compaction": {
		"level": 2,
		"sources": [
			"01BKGTZQ1SYQJTR4PB43C8PD98",
			"01BKGTZQ1HHWHV8FBJXW1Y3W0K"
		],
		"parents": [
			{
				"ulid": "01BKGTZQ1SYQJTR4PB43C8PD98",
				"minTime": 0,
				"maxTime": 3600000
			}
		],
		"hints": [
			"from-out-of-order"
		]
	},
	"version": 1,
	"thanos": {
		"downsample": {
			"resolution": 0
		},
		"labels": {
			"cluster": "a"
		},
		"source": "sidecar"
	}
}"#;
        let meta = BlockMeta::from_json(src.as_bytes(), Path::new("m")).unwrap();
        assert_eq!(meta.compaction.level, 2);
        assert_eq!(meta.compaction.parents[0].max_time, 3_600_000);
        assert!(meta.extra.contains_key("thanos"));
        assert_eq!(String::from_utf8(meta.to_json()).unwrap(), src);
    }

    #[test]
    fn bad_meta_is_corrupt() {
        for bad in [
            &b"{"[..],
            br#"{"ulid":"01BKGV7JBM69T2G1BGBGM6KB12","minTime":0,"maxTime":1,"version":2}"#,
            br#"{"ulid":"nope","minTime":0,"maxTime":1,"version":1}"#,
            br#"{"ulid":"01BKGV7JBM69T2G1BGBGM6KB12","minTime":"x","maxTime":1,"version":1}"#,
        ] {
            assert!(matches!(
                BlockMeta::from_json(bad, Path::new("m")),
                Err(Error::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn truncated_meta_never_panics() {
        let full = BlockMeta::new(new_ulid(0), 0, 1).to_json();
        for i in 0..full.len() {
            assert!(BlockMeta::from_json(&full[..i], Path::new("m")).is_err());
        }
    }

    #[test]
    fn write_and_read_back() {
        let dir = std::env::temp_dir().join(format!("lookout-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut meta = BlockMeta::new(new_ulid(1_700_000_000_000), 0, 10);
        meta.stats.num_samples = 3;
        meta.write(&dir).unwrap();
        assert_eq!(BlockMeta::read(&dir).unwrap(), meta);
        assert!(!dir.join("meta.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ulids() {
        let a = new_ulid(1_700_000_000_000);
        let b = new_ulid(1_700_000_000_000);
        assert_ne!(a, b);
        assert_eq!(a.len(), 26);
        assert_eq!(ulid_time(&a), Some(1_700_000_000_000));
        assert_eq!(&a[..10], &b[..10]);
        // Known value from the ULID spec's examples: time part of 01ARZ3NDEK…
        assert_eq!(
            ulid_time("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            Some(1_469_922_850_259)
        );
        let v = parse_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        assert_eq!(encode_ulid(v), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(parse_ulid("81ARZ3NDEKTSV4RRFFQ69G5FAV"), None);
        assert_eq!(parse_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAU"), None);
        assert_eq!(parse_ulid("01ARZ3NDEK"), None);
        // The golden block's ID decodes to a time near its data.
        assert!(ulid_time("01M80EW3P5VYV0B203ZE6FRZ3F").unwrap() > 1_600_000_000_000);
    }
}
