//! Property tests: every appended series decodes to the same bits, both flavours decode alike,
//! and arbitrary bytes never panic the decoder.

use lookout_model::{stale_nan, SampleIterator, ValueKind};
use lookout_tsdb::{decode_xor, ChunkFlavor, XorChunk, XorIterator};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(stale_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        (0u32..1000).prop_map(|x| x as f64),
        (-1e6f64..1e6).prop_map(|x| (x * 100.0).round() / 100.0),
    ]
}

fn gap() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(15_000i64),
        Just(1i64),
        1i64..100_000,
        Just(1i64 << 40),
        1i64..(1i64 << 50),
        (14_990i64..15_010),
    ]
}

/// Series with increasing timestamps (gaps 1 ms .. 2^50 ms) and mixed values; a run of equal
/// values and equal gaps is likely through `Just`.
fn series() -> impl Strategy<Value = Vec<(i64, f64)>> {
    (
        -(1i64 << 45)..(1i64 << 45),
        prop::collection::vec((gap(), value()), 0..300),
    )
        .prop_map(|(t0, steps)| {
            let mut t = t0;
            steps
                .into_iter()
                .map(|(g, v)| {
                    t += g;
                    (t, v)
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(s in series()) {
        for flavor in [ChunkFlavor::Current, ChunkFlavor::Prometheus2] {
            let mut c = XorChunk::with_flavor(flavor);
            for &(t, v) in &s {
                c.append(t, v).unwrap();
            }
            let got = decode_xor(c.bytes()).unwrap();
            prop_assert_eq!(got.len(), s.len());
            for (g, w) in got.iter().zip(&s) {
                prop_assert_eq!(g.t, w.0);
                prop_assert_eq!(g.v.to_bits(), w.1.to_bits());
            }
        }
    }

    #[test]
    fn flavours_differ_only_by_trailing_zero(s in series()) {
        let mut a = XorChunk::new();
        let mut b = XorChunk::with_flavor(ChunkFlavor::Prometheus2);
        for &(t, v) in &s {
            a.append(t, v).unwrap();
            b.append(t, v).unwrap();
            let (x, y) = (a.bytes(), b.bytes());
            prop_assert!(y == x || (y.len() == x.len() + 1 && y.starts_with(x) && y.last() == Some(&0)));
        }
    }

    #[test]
    fn seek_finds_first_at_or_after(s in series(), probe in any::<i64>()) {
        let mut c = XorChunk::new();
        for &(t, v) in &s {
            c.append(t, v).unwrap();
        }
        let mut it = XorIterator::new(c.bytes());
        let want = s.iter().find(|x| x.0 >= probe);
        match want {
            Some(w) => {
                prop_assert_eq!(it.seek(probe), ValueKind::Float);
                prop_assert_eq!(it.at_t(), w.0);
            }
            None => prop_assert_eq!(it.seek(probe), ValueKind::None),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut it = XorIterator::new(&b);
        let mut n = 0;
        while it.next() == ValueKind::Float {
            n += 1;
        }
        prop_assert!(n <= it.num_samples());
        if n < it.num_samples() {
            prop_assert!(it.err().is_some());
        }
    }

    #[test]
    fn flipped_bits_never_panic(s in series(), flip in any::<usize>()) {
        let mut c = XorChunk::new();
        for &(t, v) in &s {
            c.append(t, v).unwrap();
        }
        let mut b = c.into_bytes();
        let len = b.len();
        b[flip % len] ^= 1 << (flip % 8);
        let _ = decode_xor(&b);
        b.truncate(flip % len);
        let _ = decode_xor(&b);
    }
}
