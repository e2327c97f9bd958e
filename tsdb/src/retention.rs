//! Which blocks retention deletes, as Prometheus' `deletableBlocks`, `BeyondTimeRetention` and
//! `BeyondSizeRetention` (2.42 `tsdb/db.go`) select them.

use std::collections::BTreeSet;

/// What retention needs to know of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionBlock {
    /// The block's ULID.
    pub ulid: String,
    /// End of the block (exclusive).
    pub max_time: i64,
    /// Bytes on disk (chunks, index, tombstones, meta.json), as Prometheus' `Block.Size`.
    pub size: u64,
    /// `compaction.deletable` in its meta.json.
    pub deletable: bool,
}

/// Retention limits; zero disables either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionLimits {
    /// Time retention in ms.
    pub time_ms: i64,
    /// Size retention in bytes.
    pub size_bytes: u64,
}

/// The ULIDs of the blocks to delete: blocks marked deletable; blocks whose end is more than
/// `time_ms` before the newest block's end (never the newest block); the oldest blocks that make
/// `head_size` (WAL + `chunks_head/`) plus the blocks' sizes, counted newest first, exceed
/// `size_bytes`.
pub fn deletable_blocks(
    blocks: &[RetentionBlock],
    limits: RetentionLimits,
    head_size: u64,
) -> BTreeSet<String> {
    let mut sorted: Vec<&RetentionBlock> = blocks.iter().collect();
    // Newest to oldest by max time.
    sorted.sort_by_key(|b| std::cmp::Reverse(b.max_time));
    let mut out: BTreeSet<String> = sorted
        .iter()
        .filter(|b| b.deletable)
        .map(|b| b.ulid.clone())
        .collect();
    if limits.time_ms > 0 {
        if let Some(newest) = sorted.first() {
            if let Some(i) = sorted
                .iter()
                .enumerate()
                .skip(1)
                .position(|(_, b)| newest.max_time - b.max_time > limits.time_ms)
            {
                out.extend(sorted[i + 1..].iter().map(|b| b.ulid.clone()));
            }
        }
    }
    if limits.size_bytes > 0 && !sorted.is_empty() {
        let mut total = head_size;
        for (i, b) in sorted.iter().enumerate() {
            total = total.saturating_add(b.size);
            if total > limits.size_bytes {
                out.extend(sorted[i..].iter().map(|b| b.ulid.clone()));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: &str, maxt: i64, size: u64) -> RetentionBlock {
        RetentionBlock {
            ulid: id.into(),
            max_time: maxt,
            size,
            deletable: false,
        }
    }

    #[test]
    fn by_time() {
        let blocks = [
            b("a", 100, 1),
            b("b", 200, 1),
            b("c", 300, 1),
            b("d", 400, 1),
        ];
        let lim = RetentionLimits {
            time_ms: 150,
            size_bytes: 0,
        };
        let got: Vec<_> = deletable_blocks(&blocks, lim, 0).into_iter().collect();
        assert_eq!(got, ["a", "b"]);
        // Exactly the retention apart is kept.
        let lim = RetentionLimits {
            time_ms: 200,
            size_bytes: 0,
        };
        let got: Vec<_> = deletable_blocks(&blocks, lim, 0).into_iter().collect();
        assert_eq!(got, ["a"]);
        // The newest block is never deleted by time.
        let got = deletable_blocks(&blocks[..1], lim, 0);
        assert!(got.is_empty());
    }

    #[test]
    fn by_size() {
        let blocks = [b("a", 100, 10), b("b", 200, 10), b("c", 300, 10)];
        let lim = RetentionLimits {
            time_ms: 0,
            size_bytes: 25,
        };
        let got: Vec<_> = deletable_blocks(&blocks, lim, 0).into_iter().collect();
        assert_eq!(got, ["a"]);
        // The head counts too.
        let got: Vec<_> = deletable_blocks(&blocks, lim, 6).into_iter().collect();
        assert_eq!(got, ["a", "b"]);
        let got: Vec<_> = deletable_blocks(&blocks, lim, 30).into_iter().collect();
        assert_eq!(got, ["a", "b", "c"]);
    }

    #[test]
    fn marked_deletable() {
        let mut blocks = [b("a", 100, 10), b("b", 200, 10)];
        blocks[1].deletable = true;
        let got: Vec<_> = deletable_blocks(&blocks, RetentionLimits::default(), 0)
            .into_iter()
            .collect();
        assert_eq!(got, ["b"]);
    }
}
