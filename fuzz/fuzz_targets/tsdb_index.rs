//! The block index reader over arbitrary bytes never panics or reads out of bounds: open
//! (versions 1 and 2), label names and values, postings lists, matchers, every series, and a
//! select through a block built on it (chunk lookups then fail cleanly). For inputs of odd
//! length the CRCs of the TOC, the symbol table and the postings offset table are recomputed
//! first, so mutations reach the decoders behind those checksums.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use lookout_model::{parse_selector, Querier, SelectHints, ValueKind};
use lookout_tsdb::block::{ChunkReader, IndexReader};
use lookout_tsdb::meta::BlockMeta;
use lookout_tsdb::tombstones::Tombstones;
use lookout_tsdb::Block;

fn be32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

fn be64(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    usize::try_from(u64::from_be_bytes(a)).ok()
}

/// Rewrites the CRC of the `len | body | crc` section at `off`, if it fits.
fn fix_section(b: &mut [u8], off: usize) {
    let Some(len) = be32(b, off) else { return };
    let Some(end) = off.checked_add(4 + len) else {
        return;
    };
    if end.checked_add(4).is_some_and(|e| e <= b.len()) {
        let crc = crc32c::crc32c(&b[off + 4..end]);
        b[end..end + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

fn fix_crcs(b: &mut [u8]) {
    let n = b.len();
    if n < 57 {
        return;
    }
    let toc = n - 52;
    let offs: Vec<usize> = (0..6).filter_map(|i| be64(b, toc + 8 * i)).collect();
    for &i in &[0usize, 5] {
        if let Some(&off) = offs.get(i) {
            fix_section(b, off);
        }
    }
    let crc = crc32c::crc32c(&b[toc..toc + 48]);
    b[toc + 48..].copy_from_slice(&crc.to_be_bytes());
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.to_vec();
    if data.len() % 2 == 1 {
        fix_crcs(&mut bytes);
    }
    let Ok(ix) = IndexReader::from_vec(Path::new("fuzz-index"), bytes) else {
        return;
    };
    for name in ix.label_names().iter().take(64) {
        for v in ix.label_values(name).iter().take(64) {
            let _ = ix.postings(name, v);
        }
    }
    if let Ok(ids) = ix.postings("", "") {
        for id in ids.into_iter().take(1024) {
            let _ = ix.series(id);
        }
    }
    for sel in [
        r#"{__name__=~".+"}"#,
        r#"{a="b", c!="d"}"#,
        r#"{a=~"x|y", b!~"z.*"}"#,
        r#"{a=""}"#,
    ] {
        if let Ok(ms) = parse_selector(sel) {
            let _ = ix.postings_for_matchers(&ms);
        }
    }
    // A block over the index with a chunk segment made of the input's tail.
    let mut seg = vec![0x85, 0xBD, 0x40, 0xDD, 1, 0, 0, 0];
    seg.extend_from_slice(&data[data.len() / 2..]);
    let Ok(chunks) = ChunkReader::from_vecs(vec![(PathBuf::from("fuzz-chunks"), seg)]) else {
        return;
    };
    let meta = BlockMeta::new("01M80EW3P5VYV0B203ZE6FRZ3F".into(), 0, i64::MAX);
    let block = Block::from_parts(PathBuf::from("fuzz"), meta, ix, chunks, Tombstones::new());
    let Ok(ms) = parse_selector("{__name__=~'(?s:.*)'}") else {
        return;
    };
    let Ok(set) = block.select(i64::MIN, i64::MAX, &ms, &SelectHints::default()) else {
        return;
    };
    for s in set.take(256) {
        let Ok(s) = s else { continue };
        let mut it = s.iter();
        let mut n = 0;
        while it.next() == ValueKind::Float && n < 100_000 {
            n += 1;
        }
        let _ = it.err();
        let mut it = s.iter();
        let _ = it.seek(1_700_000_000_000);
    }
});
