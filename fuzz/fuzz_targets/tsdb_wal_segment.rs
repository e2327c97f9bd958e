//! Reading a WAL segment (pages, fragments, CRCs, snappy) never panics, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut records = 0usize;
    let _ = lookout_tsdb::wal::read_segment(data, |_, rec| {
        records += 1;
        let _ = lookout_tsdb::record::decode(rec);
        Ok(())
    });
});
