//! MD5 (RFC 1321) for `hashmod`, specialised for what relabeling hashes: short values, hashed
//! once each, of which only the second half of the digest is used. The `md-5` crate's streaming
//! interface (a buffer, a block counter and generic finalisation) costs about as much again as
//! the compression itself on a label value that fits in one block.

/// `floor(abs(sin(i + 1)) * 2^32)`.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// One 64-byte block into `state`.
#[inline(always)]
fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let mut m = [0u32; 16];
    for (w, c) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    // One step: `$f` mixes b, c and d into `t` (a, the constant and the message word); `$i`
    // numbers the step, `$g` the message word, `$s` the rotation. Written out so every index
    // is a constant. The steps form one long dependency chain through `b`, so `t` is summed
    // first (it does not depend on `b`) and each mix takes `b` as late as it can: two
    // operations from `b` to the sum instead of four.
    macro_rules! step {
        ($f:expr, $i:expr, $g:expr, $s:expr) => {{
            let t = a.wrapping_add(K[$i]).wrapping_add(m[$g]);
            let f = $f(b, c, d, t);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left($s));
        }};
    }
    // F = (b & c) | (!b & d) = d ^ (b & (c ^ d)).
    let f = |b: u32, c: u32, d: u32, t: u32| t.wrapping_add(d ^ (b & (c ^ d)));
    // G = (d & b) | (!d & c); the two halves have no bit in common, so `|` is `+`.
    let g = |b: u32, c: u32, d: u32, t: u32| t.wrapping_add(!d & c).wrapping_add(d & b);
    let h = |b: u32, c: u32, d: u32, t: u32| t.wrapping_add(b ^ (c ^ d));
    let i = |b: u32, c: u32, d: u32, t: u32| t.wrapping_add(c ^ (b | !d));
    step!(f, 0, 0, 7);
    step!(f, 1, 1, 12);
    step!(f, 2, 2, 17);
    step!(f, 3, 3, 22);
    step!(f, 4, 4, 7);
    step!(f, 5, 5, 12);
    step!(f, 6, 6, 17);
    step!(f, 7, 7, 22);
    step!(f, 8, 8, 7);
    step!(f, 9, 9, 12);
    step!(f, 10, 10, 17);
    step!(f, 11, 11, 22);
    step!(f, 12, 12, 7);
    step!(f, 13, 13, 12);
    step!(f, 14, 14, 17);
    step!(f, 15, 15, 22);
    step!(g, 16, 1, 5);
    step!(g, 17, 6, 9);
    step!(g, 18, 11, 14);
    step!(g, 19, 0, 20);
    step!(g, 20, 5, 5);
    step!(g, 21, 10, 9);
    step!(g, 22, 15, 14);
    step!(g, 23, 4, 20);
    step!(g, 24, 9, 5);
    step!(g, 25, 14, 9);
    step!(g, 26, 3, 14);
    step!(g, 27, 8, 20);
    step!(g, 28, 13, 5);
    step!(g, 29, 2, 9);
    step!(g, 30, 7, 14);
    step!(g, 31, 12, 20);
    step!(h, 32, 5, 4);
    step!(h, 33, 8, 11);
    step!(h, 34, 11, 16);
    step!(h, 35, 14, 23);
    step!(h, 36, 1, 4);
    step!(h, 37, 4, 11);
    step!(h, 38, 7, 16);
    step!(h, 39, 10, 23);
    step!(h, 40, 13, 4);
    step!(h, 41, 0, 11);
    step!(h, 42, 3, 16);
    step!(h, 43, 6, 23);
    step!(h, 44, 9, 4);
    step!(h, 45, 12, 11);
    step!(h, 46, 15, 16);
    step!(h, 47, 2, 23);
    step!(i, 48, 0, 6);
    step!(i, 49, 7, 10);
    step!(i, 50, 14, 15);
    step!(i, 51, 5, 21);
    step!(i, 52, 12, 6);
    step!(i, 53, 3, 10);
    step!(i, 54, 10, 15);
    step!(i, 55, 1, 21);
    step!(i, 56, 8, 6);
    step!(i, 57, 15, 10);
    step!(i, 58, 6, 15);
    step!(i, 59, 13, 21);
    step!(i, 60, 4, 6);
    step!(i, 61, 11, 10);
    step!(i, 62, 2, 15);
    step!(i, 63, 9, 21);
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

/// Bytes 8..16 of the MD5 digest of `data`, read big-endian: what Prometheus' `hashmod` takes
/// the modulus of.
pub(crate) fn md5_tail(data: &[u8]) -> u64 {
    let mut state = [0x67452301u32, 0xefcdab89, 0x98badcfe, 0x10325476];
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&mut state, &b);
    }
    let rest = blocks.remainder();
    let bits = (data.len() as u64).wrapping_mul(8);
    if rest.len() < 56 {
        // The usual short value: the last bytes, 0x80, zeros and the length in bits
        // (little-endian) fill one block, built in place.
        let mut b = [0u8; 64];
        if let Some(head) = b.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        if let Some(end) = b.get_mut(rest.len()) {
            *end = 0x80;
        }
        b[56..].copy_from_slice(&bits.to_le_bytes());
        compress(&mut state, &b);
        return tail_of(&state);
    }
    // 56 to 63 bytes left: the last bytes and 0x80 fill one block, zeros and the length in
    // bits (little-endian) a second.
    let mut last = [0u8; 128];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x80;
    last[120..].copy_from_slice(&bits.to_le_bytes());
    for block in last.chunks_exact(64) {
        let mut b = [0u8; 64];
        b.copy_from_slice(block);
        compress(&mut state, &b);
    }
    tail_of(&state)
}

/// Digest bytes 8..16 (words c and d, each little-endian), read big-endian.
#[inline]
fn tail_of(state: &[u32; 4]) -> u64 {
    let mut tail = [0u8; 8];
    tail[..4].copy_from_slice(&state[2].to_le_bytes());
    tail[4..].copy_from_slice(&state[3].to_le_bytes());
    u64::from_be_bytes(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn hex_tail(digest: &str) -> u64 {
        u64::from_str_radix(&digest[16..32], 16).unwrap()
    }

    #[test]
    fn rfc1321_vectors() {
        for (input, digest) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5_tail(input.as_bytes()), hex_tail(digest), "{input:?}");
        }
    }

    #[test]
    fn agrees_with_md5_crate_at_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..data.len() {
            let d = Md5::digest(&data[..n]);
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&d[8..16]);
            assert_eq!(md5_tail(&data[..n]), u64::from_be_bytes(tail), "length {n}");
        }
    }
}
