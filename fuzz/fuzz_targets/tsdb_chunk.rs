//! XOR chunk decoding never panics or reads out of bounds; when the input is read as samples
//! instead, encoding them and decoding the bytes gives back the same bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_model::{SampleIterator, ValueKind};
use lookout_tsdb::{decode_xor, decode_xor_into, ChunkFlavor, XorChunk, XorIterator};

fuzz_target!(|data: &[u8]| {
    // 1. The bytes as a chunk; the batch decoder gives the same samples and error.
    let mut it = XorIterator::new(data);
    let mut want = Vec::new();
    while it.next() == ValueKind::Float {
        want.push((it.at().t, it.at().v.to_bits()));
    }
    assert!(want.len() <= it.num_samples());
    let mut out = Vec::new();
    let err = decode_xor_into(data, &mut out);
    let got: Vec<(i64, u64)> = out.iter().map(|s| (s.t, s.v.to_bits())).collect();
    assert_eq!(got, want);
    assert_eq!(err.is_some(), it.err().is_some());
    let mut it = XorIterator::new(data);
    let _ = it.seek(i64::from_le_bytes([0x55; 8]));
    // 2. The bytes as samples: 16 bytes each (t delta, value bits).
    let mut samples = Vec::new();
    let mut t = 0i64;
    for c in data.chunks_exact(16) {
        let mut a = [0u8; 8];
        a.copy_from_slice(&c[..8]);
        let d = (u64::from_le_bytes(a) >> 2) as i64 % (1 << 40);
        t = t.wrapping_add(d.abs().max(1));
        a.copy_from_slice(&c[8..]);
        samples.push((t, f64::from_bits(u64::from_le_bytes(a))));
    }
    for flavor in [ChunkFlavor::Current, ChunkFlavor::Prometheus2] {
        let mut c = XorChunk::with_flavor(flavor);
        for &(t, v) in &samples {
            c.append(t, v).unwrap();
        }
        let got = decode_xor(c.bytes()).unwrap();
        assert_eq!(got.len(), samples.len());
        for (g, w) in got.iter().zip(&samples) {
            assert_eq!(g.t, w.0);
            assert_eq!(g.v.to_bits(), w.1.to_bits());
        }
    }
});
