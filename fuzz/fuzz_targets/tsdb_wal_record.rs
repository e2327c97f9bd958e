//! WAL record decoding never panics; decoded series and samples records re-encode to records
//! that decode to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_tsdb::record::{self, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(rec) = record::decode(data) else {
        return;
    };
    let mut buf = Vec::new();
    match &rec {
        Record::Series(s) => {
            record::encode_series(s.iter().map(|x| (x.series_ref, &x.labels)), &mut buf)
        }
        Record::Samples(s) => record::encode_samples(s.iter().copied(), &mut buf),
        Record::Tombstones(s) => record::encode_tombstones(s, &mut buf),
        _ => return,
    }
    let back = record::decode(&buf).expect("re-encoded record decodes");
    match (&rec, &back) {
        (Record::Samples(a), Record::Samples(b)) => {
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert_eq!(
                    (x.series_ref, x.t, x.v.to_bits()),
                    (y.series_ref, y.t, y.v.to_bits())
                );
            }
        }
        _ => assert_eq!(rec, back),
    }
});
