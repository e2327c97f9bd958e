//! Prometheus' XOR chunk encoding (chunk encoding 1): Gorilla-style compression of float
//! samples with millisecond timestamps.
//!
//! Layout (format doc §3): `be16 num_samples`, then an MSB-first bit stream. Sample 0 is a
//! varint timestamp and 64 raw value bits, sample 1 a uvarint time delta and an XOR value field,
//! every later sample a delta-of-delta in Prometheus' 14/17/20/64-bit buckets and an XOR value
//! field that reuses the previous leading/trailing-zero window when it fits.

use lookout_model::{Sample, SampleIterator, ValueKind};

use crate::error::{Error, Result};

/// The most samples one chunk can hold (the count is a `be16`).
pub const MAX_SAMPLES: usize = u16::MAX as usize;

/// Which Prometheus generation's byte stream to produce. The two differ only in one trailing
/// zero byte that 2.x leaves after some chunks (format doc §3.4); every reader ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ChunkFlavor {
    /// Prometheus 3.x and later: no trailing byte. The default.
    #[default]
    Current,
    /// Prometheus 2.x (≤ 2.55): when the last write of the last sample was a whole-byte write
    /// that ended on a byte boundary, the chunk ends with one extra `0x00`.
    Prometheus2,
}

/// A growing XOR chunk: append samples in time order, read the bytes at any point.
///
/// ```
/// use lookout_tsdb::XorChunk;
/// let mut c = XorChunk::new();
/// c.append(1000, 1.0)?;
/// c.append(2000, 1.0)?;
/// c.append(3500, 2.5)?;
/// assert_eq!(c.bytes().len(), 20);
/// # Ok::<(), lookout_tsdb::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct XorChunk {
    // Whole 64-bit words of the bit stream are in `b[..len]`; the bits after them accumulate
    // in `acc` (`nacc` of them, most significant first) and are mirrored into `b[len..len+8]`
    // after every append, so `b[..visible]` is always the chunk. `b` keeps 8 bytes of slack.
    b: Vec<u8>,
    len: usize,
    acc: u64,
    nacc: u32,
    visible: usize,
    num: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    // 0xFF = no window yet (Go's sentinel).
    leading: u8,
    trailing: u8,
    // The bits outside the window (all of them while there is none): an XOR fits the window
    // exactly when it has none of these set.
    outside: u64,
    flavor: ChunkFlavor,
}

impl Default for XorChunk {
    fn default() -> Self {
        XorChunk::new()
    }
}

#[inline]
fn bit_range(x: i64, nbits: u32) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

impl XorChunk {
    /// An empty chunk producing current (3.x) bytes.
    pub fn new() -> XorChunk {
        XorChunk::with_flavor(ChunkFlavor::Current)
    }

    /// An empty chunk producing the bytes of the given Prometheus generation.
    pub fn with_flavor(flavor: ChunkFlavor) -> XorChunk {
        XorChunk {
            b: vec![0; 128],
            len: 2,
            acc: 0,
            nacc: 0,
            visible: 2,
            num: 0,
            t: 0,
            v: 0,
            t_delta: 0,
            leading: 0xFF,
            trailing: 0,
            outside: u64::MAX,
            flavor,
        }
    }

    /// The chunk's bytes (the `data` of a chunk record, without encoding byte or CRC).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.b.get(..self.visible).unwrap_or(&[])
    }

    /// Consumes the chunk, returning its bytes.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.b.truncate(self.visible);
        self.b
    }

    /// The number of samples appended.
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(self.bytes())
    }

    /// Makes room for two more words after `len`: the one being stored and, after it, the
    /// mirror of the pending bits. So `b.len() >= len + 8` holds at all times.
    #[inline(always)]
    fn reserve_words(&mut self) {
        if self.b.len() < self.len + 16 {
            self.b.resize(self.len * 2 + 16, 0);
        }
    }

    /// Writes `v`, which must fit in `n` bits (1 ≤ n ≤ 64), most significant bit first.
    #[inline(always)]
    fn write_bits(&mut self, v: u64, n: u32) {
        debug_assert!(n >= 64 || v >> n == 0, "{v:#x} does not fit in {n} bits");
        let space = 64 - self.nacc;
        if n < space {
            self.acc |= v << (space - n);
            self.nacc += n;
            return;
        }
        // Fill the word, store it, keep the rest (`rest` < 64 because `space` ≥ 1).
        let rest = n - space;
        self.acc |= v >> rest;
        self.reserve_words();
        if let Some(dst) = self.b.get_mut(self.len..self.len + 8) {
            dst.copy_from_slice(&self.acc.to_be_bytes());
        }
        self.len += 8;
        self.acc = if rest == 0 { 0 } else { v << (64 - rest) };
        self.nacc = rest;
    }

    /// Mirrors the pending bits into `b` and updates the visible length.
    #[inline(always)]
    fn sync(&mut self) {
        // `reserve_words` keeps the 8 bytes after `len` allocated.
        if let Some(dst) = self.b.get_mut(self.len..self.len + 8) {
            dst.copy_from_slice(&self.acc.to_be_bytes());
        }
        self.visible = self.len + self.nacc.div_ceil(8) as usize;
    }

    /// Writes the timestamp field bits `prefix` (`plen` ≤ 24 bits, possibly none) followed by
    /// the value field for `vbits`, merging writes where they fit in one word; returns the
    /// length of the last write Prometheus' encoder makes for the value (0 for a single bit).
    #[inline(always)]
    fn write_value(&mut self, prefix: u64, plen: u32, vbits: u64) -> u32 {
        let x = vbits ^ self.v;
        self.v = vbits;
        if x == 0 {
            self.write_bits(prefix << 1, plen + 1);
            return 0;
        }
        // Same as Go's `leading != 0xff && lz >= leading && tz >= trailing` (the window's
        // leading count is at most 31, like the clamped `lz`), without counting zeros.
        if x & self.outside == 0 {
            let n = 64 - self.leading as u32 - self.trailing as u32;
            let payload = x >> self.trailing;
            let control = (prefix << 2) | 0b10;
            if n + plen + 2 <= 64 {
                self.write_bits((control << n) | payload, n + plen + 2);
            } else {
                self.write_bits(control, plen + 2);
                self.write_bits(payload, n);
            }
            return n;
        }
        let lz = x.leading_zeros().min(31);
        let tz = x.trailing_zeros();
        self.leading = lz as u8;
        self.trailing = tz as u8;
        // `lz` ≤ 31 and `tz` ≤ 63 keep both shifts in range.
        self.outside = !((u64::MAX >> lz) & (u64::MAX << tz));
        let sig = 64 - lz - tz;
        // '11', 5 bits leading, 6 bits significant-bit count (64 written as 0).
        let head = (prefix << 13) | (0b11 << 11) | ((lz as u64) << 6) | (sig as u64 & 0x3F);
        self.write_bits(head, plen + 13);
        self.write_bits(x >> tz, sig);
        sig
    }

    /// Appends a sample. Timestamps should increase strictly (the head enforces it; the chunk,
    /// like Prometheus', does not check). Fails only when the chunk already holds
    /// [`MAX_SAMPLES`].
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        if self.num as usize >= MAX_SAMPLES {
            return Err(Error::ChunkFull("a chunk holds at most 65535 samples"));
        }
        let vbits = v.to_bits();
        let last_write = match self.num {
            0 => {
                let mut buf = [0u8; 10];
                let n = put_varint(&mut buf, t);
                for &byte in &buf[..n] {
                    self.write_bits(byte as u64, 8);
                }
                self.write_bits(vbits, 64);
                self.v = vbits;
                64
            }
            1 => {
                let delta = t.wrapping_sub(self.t) as u64;
                let mut buf = [0u8; 10];
                let n = put_uvarint(&mut buf, delta);
                for &byte in &buf[..n] {
                    self.write_bits(byte as u64, 8);
                }
                self.t_delta = delta;
                self.write_value(0, 0, vbits)
            }
            _ => {
                let delta = t.wrapping_sub(self.t) as u64;
                let dod = delta.wrapping_sub(self.t_delta) as i64;
                let (prefix, plen) = if dod == 0 {
                    (0, 1)
                } else if bit_range(dod, 14) {
                    ((0b10 << 14) | (dod as u64 & 0x3FFF), 16)
                } else if bit_range(dod, 17) {
                    ((0b110 << 17) | (dod as u64 & 0x1_FFFF), 20)
                } else if bit_range(dod, 20) {
                    ((0b1110 << 20) | (dod as u64 & 0xF_FFFF), 24)
                } else {
                    self.write_bits(0b1111, 4);
                    self.write_bits(dod as u64, 64);
                    (0, 0)
                };
                self.t_delta = delta;
                self.write_value(prefix, plen, vbits)
            }
        };
        self.t = t;
        self.num += 1;
        if let Some(h) = self.b.get_mut(..2) {
            h.copy_from_slice(&self.num.to_be_bytes());
        }
        self.sync();
        if self.flavor == ChunkFlavor::Prometheus2
            && self.nacc % 8 == 0
            && last_write > 0
            && last_write % 8 == 0
        {
            // The byte after the data is zero (the mirrored word is zero-padded): the phantom.
            self.visible += 1;
        }
        Ok(())
    }
}

/// Writes Go's `binary.PutVarint` encoding of `x` into `buf`, returning the length.
pub(crate) fn put_varint(buf: &mut [u8; 10], x: i64) -> usize {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64)
}

/// Writes Go's `binary.PutUvarint` encoding of `x` into `buf`, returning the length.
pub(crate) fn put_uvarint(buf: &mut [u8; 10], mut x: u64) -> usize {
    let mut i = 0;
    while x >= 0x80 && i < 9 {
        buf[i] = (x as u8) | 0x80;
        x >>= 7;
        i += 1;
    }
    buf[i] = x as u8;
    i + 1
}

/// The number of samples an XOR chunk's bytes claim to hold (its `be16` header), or an error
/// when there is no header.
pub fn xor_num_samples(bytes: &[u8]) -> Result<usize> {
    match bytes {
        [a, b, ..] => Ok(u16::from_be_bytes([*a, *b]) as usize),
        _ => Err(Error::CorruptChunk {
            reason: "chunk shorter than its 2-byte header",
            sample: 0,
        }),
    }
}

/// Decodes an XOR chunk in place, borrowing its bytes; implements
/// [`SampleIterator`] with `seek`. Corrupt or truncated bytes end the iteration with an error
/// (see [`SampleIterator::err`] and [`XorIterator::error`]); nothing reads out of bounds.
#[derive(Debug)]
pub struct XorIterator<'a> {
    data: &'a [u8],
    // Next byte of `data` to load into `acc`.
    pos: usize,
    // Bit buffer, valid bits left-aligned; bits below `n` are either later stream bits or 0.
    acc: u64,
    n: u32,
    total: u16,
    read: u16,
    t: i64,
    v: u64,
    t_delta: u64,
    // The value window: trailing zero bits and width (significant bits).
    trailing: u32,
    width: u32,
    state: IterState,
    err: Option<lookout_model::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IterState {
    Fresh,
    On,
    Done,
}

impl<'a> XorIterator<'a> {
    /// Iterates the samples of the XOR chunk `bytes` (header included).
    pub fn new(bytes: &'a [u8]) -> XorIterator<'a> {
        let (total, data, err) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest, None),
            _ => (
                0,
                &[][..],
                Some(Error::CorruptChunk {
                    reason: "chunk shorter than its 2-byte header",
                    sample: 0,
                }),
            ),
        };
        XorIterator {
            data,
            pos: 0,
            acc: 0,
            n: 0,
            total,
            read: 0,
            t: i64::MIN,
            v: 0,
            t_delta: 0,
            trailing: 0,
            width: 64,
            state: if err.is_some() {
                IterState::Done
            } else {
                IterState::Fresh
            },
            err: err.map(lookout_model::Error::storage),
        }
    }

    /// The decoding error that ended iteration, if any, as this crate's error.
    pub fn error(&self) -> Option<&Error> {
        match &self.err {
            Some(lookout_model::Error::Storage(e)) => e.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// Moves the error that ended iteration out of the iterator.
    pub(crate) fn take_err(&mut self) -> Option<lookout_model::Error> {
        self.err.take()
    }

    /// The number of samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        self.total as usize
    }

    #[inline(always)]
    fn refill(&mut self) {
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.acc |= u64::from_be_bytes(a) >> self.n;
            let take = (63 - self.n) >> 3;
            self.pos += take as usize;
            self.n += take * 8;
        } else {
            while self.n <= 56 {
                match self.data.get(self.pos) {
                    Some(&b) => {
                        self.acc |= (b as u64) << (56 - self.n);
                        self.pos += 1;
                        self.n += 8;
                    }
                    None => break,
                }
            }
        }
    }

    /// Reads `k` bits, 1 ≤ k ≤ 56.
    #[inline(always)]
    fn read_bits(&mut self, k: u32) -> Option<u64> {
        if self.n < k {
            self.refill();
            if self.n < k {
                return None;
            }
        }
        let v = self.acc >> (64 - k);
        self.acc <<= k;
        self.n -= k;
        Some(v)
    }

    /// Reads `k` bits, 1 ≤ k ≤ 64.
    #[inline(always)]
    fn read_bits_wide(&mut self, k: u32) -> Option<u64> {
        if k <= 56 {
            self.read_bits(k)
        } else {
            let hi = self.read_bits(k - 32)?;
            let lo = self.read_bits(32)?;
            Some((hi << 32) | lo)
        }
    }

    /// Counts leading one bits, up to `max`, consuming them and the terminating zero (if
    /// fewer than `max` ones).
    #[inline(always)]
    fn read_prefix(&mut self, max: u32) -> Option<u32> {
        if self.n < max {
            self.refill();
        }
        let ones = (!self.acc).leading_zeros().min(max);
        let used = if ones < max { ones + 1 } else { max };
        if self.n < used {
            return None;
        }
        self.acc <<= used;
        self.n -= used;
        Some(ones)
    }

    // Inlined like the rest of the decoder: a call taking `&mut self` would pin the
    // iterator's state to memory in the caller's loop.
    #[inline(always)]
    fn read_uvarint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        let mut s = 0u32;
        for i in 0..10 {
            let b = self.read_bits(8)?;
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None;
                }
                return Some(x | (b << s));
            }
            x |= (b & 0x7F) << s;
            s += 7;
        }
        None
    }

    #[inline(always)]
    fn fail(&mut self, reason: &'static str) -> ValueKind {
        self.state = IterState::Done;
        self.err = Some(corrupt(reason, self.read));
        ValueKind::None
    }

    #[inline(always)]
    fn read_value(&mut self) -> Option<()> {
        match self.read_prefix(2)? {
            0 => return Some(()),
            1 => {}
            _ => {
                let h = self.read_bits(11)? as u32;
                let leading = h >> 6;
                let mut sig = h & 0x3F;
                if sig == 0 {
                    sig = 64;
                }
                if leading + sig > 64 {
                    return None;
                }
                self.trailing = 64 - leading - sig;
                self.width = sig;
            }
        }
        let sig = self.width;
        let bits = self.read_bits_wide(sig)?;
        self.v ^= bits << self.trailing;
        Some(())
    }

    #[inline(always)]
    fn decode_next(&mut self) -> Result<(), &'static str> {
        match self.read {
            0 => {
                let u = self.read_uvarint().ok_or("truncated first timestamp")?;
                self.t = ((u >> 1) as i64) ^ -((u & 1) as i64);
                self.v = self.read_bits_wide(64).ok_or("truncated first value")?;
            }
            1 => {
                let d = self.read_uvarint().ok_or("truncated time delta")?;
                self.t_delta = d;
                self.t = self.t.wrapping_add(d as i64);
                self.read_value().ok_or("truncated or invalid value")?;
            }
            _ => {
                // Unconditionally: a refill costs a few instructions without a branch, where
                // testing the fill level first mispredicts about every other sample.
                self.refill();
                if self.n >= 2 && self.acc >> 62 == 0 {
                    // Same delta, same value: the commonest sample of all.
                    self.acc <<= 2;
                    self.n -= 2;
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    self.read += 1;
                    return Ok(());
                }
                let np = self.width;
                // `np <= 60` keeps the shifts below 64 (the bit buffer can hold 64 bits).
                if self.acc >> 61 == 0b010 && np <= 60 && self.n >= 3 + np {
                    // Same delta, value in the previous window (`0`, `10`, payload).
                    let payload = (self.acc << 3) >> (64 - np);
                    self.acc <<= 3 + np;
                    self.n -= 3 + np;
                    self.v ^= payload << self.trailing;
                    self.t = self.t.wrapping_add(self.t_delta as i64);
                    self.read += 1;
                    return Ok(());
                }
                let dod: i64 = match self.read_prefix(4).ok_or("truncated timestamp")? {
                    0 => 0,
                    p => {
                        let nbits = match p {
                            1 => 14,
                            2 => 17,
                            3 => 20,
                            _ => 64,
                        };
                        let x = self
                            .read_bits_wide(nbits)
                            .ok_or("truncated timestamp delta")?;
                        if nbits == 64 {
                            x as i64
                        } else if x > 1 << (nbits - 1) {
                            (x as i64) - (1i64 << nbits)
                        } else {
                            x as i64
                        }
                    }
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value().ok_or("truncated or invalid value")?;
            }
        }
        self.read += 1;
        Ok(())
    }
}

impl SampleIterator for XorIterator<'_> {
    #[inline]
    fn next(&mut self) -> ValueKind {
        if self.state == IterState::Done || self.read >= self.total {
            self.state = IterState::Done;
            return ValueKind::None;
        }
        match self.decode_next() {
            Ok(()) => {
                self.state = IterState::On;
                ValueKind::Float
            }
            Err(reason) => self.fail(reason),
        }
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.state == IterState::On && self.t >= t {
            return ValueKind::Float;
        }
        loop {
            if self.next() == ValueKind::None {
                return ValueKind::None;
            }
            if self.t >= t {
                return ValueKind::Float;
            }
        }
    }

    #[inline]
    fn at(&self) -> Sample {
        Sample {
            t: self.t,
            v: f64::from_bits(self.v),
        }
    }

    #[inline]
    fn at_t(&self) -> i64 {
        self.t
    }

    fn err(&self) -> Option<&lookout_model::Error> {
        self.err.as_ref()
    }
}

/// The error of a corrupt chunk, built out of line (the iterator's hot loop only stores it).
#[cold]
#[inline(never)]
fn corrupt(reason: &'static str, read: u16) -> lookout_model::Error {
    lookout_model::Error::storage(Error::CorruptChunk {
        reason,
        sample: read as usize,
    })
}

/// Decodes every sample of an XOR chunk, checking that the header's count is honoured.
pub fn decode_xor(bytes: &[u8]) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    if let Some(lookout_model::Error::Storage(e)) = decode_xor_into(bytes, &mut out) {
        if let Ok(e) = e.downcast::<Error>() {
            return Err(*e);
        }
    }
    Ok(out)
}

/// The big-endian word at bit `bit` of `b`, shifted so that bit comes first: its top 57 bits
/// are stream bits (zeros past the end of `b`).
#[inline(always)]
fn word_at(b: &[u8], bit: usize) -> u64 {
    let i = bit >> 3;
    let w = match b.get(i..i + 8) {
        Some(s) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        }
        None => word_at_tail(b, i),
    };
    w << (bit & 7)
}

/// [`word_at`] for the last bytes of the stream, zero-padded.
#[cold]
#[inline(never)]
fn word_at_tail(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(i..) {
        let n = s.len().min(8);
        a[..n].copy_from_slice(&s[..n]);
    }
    u64::from_be_bytes(a)
}

/// The `k` bits (1 ≤ k ≤ 64) at bit `bit` of `b`.
#[inline(always)]
fn bits_at(b: &[u8], bit: usize, k: u32) -> u64 {
    if k <= 57 {
        word_at(b, bit) >> (64 - k)
    } else {
        let hi = word_at(b, bit) >> (96 - k);
        let lo = word_at(b, bit + (k as usize - 32)) >> 32;
        (hi << 32) | lo
    }
}

/// Decodes the value field at `bit`, whose word (top 56 bits valid) is `w`: `0` (unchanged),
/// `10` + payload in the window, `11` + new window + payload. False on an impossible window.
#[inline(always)]
fn value_at(
    b: &[u8],
    bit: &mut usize,
    w: u64,
    v: &mut u64,
    trailing: &mut u32,
    width: &mut u32,
) -> bool {
    if w >> 63 == 0 {
        *bit += 1;
    } else if w >> 62 == 0b10 {
        // `width` ≥ 1, so the shifts stay below 64.
        let payload = if *width <= 54 {
            (w << 2) >> (64 - *width)
        } else {
            bits_at(b, *bit + 2, *width)
        };
        *v ^= payload << *trailing;
        *bit += 2 + *width as usize;
    } else {
        let h = ((w << 2) >> 53) as u32;
        let leading = h >> 6;
        let sig = match h & 0x3F {
            0 => 64,
            s => s,
        };
        if leading + sig > 64 {
            return false;
        }
        *trailing = 64 - leading - sig;
        *width = sig;
        let payload = if sig <= 43 {
            (w << 13) >> (64 - sig)
        } else {
            bits_at(b, *bit + 13, sig)
        };
        *v ^= payload << *trailing;
        *bit += 13 + sig as usize;
    }
    true
}

/// Go's `binary.Uvarint` at byte `*p` of `b`, advancing `*p`; `None` when truncated or
/// overflowing.
#[inline(always)]
fn uvarint_at(b: &[u8], p: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    let mut s = 0u32;
    for i in 0..10 {
        let byte = *b.get(*p)? as u64;
        *p += 1;
        if byte < 0x80 {
            if i == 9 && byte > 1 {
                return None;
            }
            return Some(x | (byte << s));
        }
        x |= (byte & 0x7F) << s;
        s += 7;
    }
    None
}

/// Decodes every sample of the XOR chunk `bytes` into `out` (cleared first) in one tight
/// loop, the decoder state in registers. Returns the error that cut decoding short, if any;
/// `out` then holds the samples before it. Same samples and error as [`XorIterator`], which
/// it falls back to for any chunk that is truncated or malformed.
pub(crate) fn decode_xor_into(bytes: &[u8], out: &mut Vec<Sample>) -> Option<lookout_model::Error> {
    out.clear();
    let (total, b) = match bytes {
        [x, y, rest @ ..] => (u16::from_be_bytes([*x, *y]) as usize, rest),
        _ => return decode_xor_slow(bytes, out),
    };
    if total == 0 {
        return None;
    }
    // Sample 0: a varint time and 64 raw value bits; sample 1: a uvarint time delta (all
    // whole bytes so far) and a value field.
    let mut p = 0;
    let Some(u) = uvarint_at(b, &mut p) else {
        return decode_xor_slow(bytes, out);
    };
    let mut t = ((u >> 1) as i64) ^ -((u & 1) as i64);
    let Some(raw) = b.get(p..p + 8) else {
        return decode_xor_slow(bytes, out);
    };
    let mut a = [0u8; 8];
    a.copy_from_slice(raw);
    let mut v = u64::from_be_bytes(a);
    p += 8;
    out.reserve(total);
    out.push(Sample {
        t,
        v: f64::from_bits(v),
    });
    if total == 1 {
        return None;
    }
    let Some(mut delta) = uvarint_at(b, &mut p) else {
        return decode_xor_slow(bytes, out);
    };
    t = t.wrapping_add(delta as i64);
    let mut bit = p * 8;
    let (mut trailing, mut width) = (0u32, 64u32);
    let w = word_at(b, bit);
    if !value_at(b, &mut bit, w, &mut v, &mut trailing, &mut width) || bit > b.len() * 8 {
        return decode_xor_slow(bytes, out);
    }
    out.push(Sample {
        t,
        v: f64::from_bits(v),
    });
    // Written through a slice: no capacity check per sample.
    out.resize(total, Sample { t: 0, v: 0.0 });
    let mut ok = true;
    for slot in out.get_mut(2..).unwrap_or_default().iter_mut() {
        // One load serves the common sample; `w`'s top 56 bits are stream bits after the
        // timestamp field is consumed.
        let mut w = word_at(b, bit);
        // Timestamp: delta of delta, `0` or a 1–4 bit prefix and 14/17/20/64 bits.
        if w >> 63 == 0 {
            bit += 1;
            w <<= 1;
        } else {
            let ones = (!w).leading_zeros().min(4);
            let dod = if ones < 4 {
                let nbits = match ones {
                    1 => 14,
                    2 => 17,
                    _ => 20,
                };
                let x = (w << (ones + 1)) >> (64 - nbits);
                bit += (ones + 1 + nbits) as usize;
                if x > 1 << (nbits - 1) {
                    (x as i64) - (1i64 << nbits)
                } else {
                    x as i64
                }
            } else {
                let x = bits_at(b, bit + 4, 64);
                bit += 68;
                x as i64
            };
            delta = (delta as i64).wrapping_add(dod) as u64;
            w = word_at(b, bit);
        }
        t = t.wrapping_add(delta as i64);
        if !value_at(b, &mut bit, w, &mut v, &mut trailing, &mut width) {
            ok = false;
            break;
        }
        if bit > b.len() * 8 {
            ok = false;
            break;
        }
        *slot = Sample {
            t,
            v: f64::from_bits(v),
        };
    }
    if ok {
        return None;
    }
    decode_xor_slow(bytes, out)
}

/// [`decode_xor_into`] for truncated or malformed chunks: the iterator says where and why.
#[cold]
#[inline(never)]
fn decode_xor_slow(bytes: &[u8], out: &mut Vec<Sample>) -> Option<lookout_model::Error> {
    out.clear();
    let mut it = XorIterator::new(bytes);
    while it.next() == ValueKind::Float {
        out.push(it.at());
    }
    it.take_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_model::stale_nan;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn encode(samples: &[(i64, f64)], flavor: ChunkFlavor) -> Vec<u8> {
        let mut c = XorChunk::with_flavor(flavor);
        for &(t, v) in samples {
            c.append(t, v).unwrap();
        }
        c.into_bytes()
    }

    #[test]
    fn golden_one_sample() {
        // Format doc §3.5.
        let s = [(7_200_000, 12000.0)];
        assert_eq!(
            hex(&encode(&s, ChunkFlavor::Prometheus2)),
            "0001".to_string() + "80f4ee06" + "40c7700000000000" + "00"
        );
        assert_eq!(
            hex(&encode(&s, ChunkFlavor::Current)),
            "0001".to_string() + "80f4ee06" + "40c7700000000000"
        );
    }

    #[test]
    fn golden_three_samples() {
        let s = [(1000, 1.0), (2000, 1.0), (3500, 2.5)];
        let want = "0003d00f3ff0000000000000e80740fa6137ffa0";
        assert_eq!(hex(&encode(&s, ChunkFlavor::Prometheus2)), want);
        assert_eq!(hex(&encode(&s, ChunkFlavor::Current)), want);
    }

    #[test]
    fn golden_remote_read_chunk() {
        let s: Vec<(i64, f64)> = (0..120).map(|i| (i * 60_000, i as f64 * 100.0)).collect();
        let b = encode(&s, ChunkFlavor::Prometheus2);
        assert_eq!(b.len(), 228);
        let mut crc_in = vec![1u8];
        crc_in.extend_from_slice(&b);
        assert_eq!(crc32c::crc32c(&crc_in), 0x19811ced);
        let got: Vec<(i64, f64)> = decode_xor(&b).unwrap().iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(got, s);
    }

    #[test]
    fn special_values_round_trip_bits() {
        let vals = [
            f64::NAN,
            stale_nan(),
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::from_bits(0x7FF8_0000_0000_0001),
        ];
        let s: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (i as i64 * 15_000 - 3, *v))
            .collect();
        let b = encode(&s, ChunkFlavor::Current);
        let got = decode_xor(&b).unwrap();
        for (g, w) in got.iter().zip(&s) {
            assert_eq!(g.t, w.0);
            assert_eq!(g.v.to_bits(), w.1.to_bits());
        }
        assert_eq!(got.len(), s.len());
    }

    #[test]
    fn seek_semantics() {
        let s: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, i as f64)).collect();
        let b = encode(&s, ChunkFlavor::Current);
        let mut it = XorIterator::new(&b);
        assert_eq!(it.seek(25), ValueKind::Float);
        assert_eq!(it.at_t(), 30);
        assert_eq!(it.seek(5), ValueKind::Float);
        assert_eq!(it.at_t(), 30);
        assert_eq!(it.next(), ValueKind::Float);
        assert_eq!(it.at(), Sample::new(40, 4.0));
        assert_eq!(it.seek(1000), ValueKind::None);
        assert_eq!(it.next(), ValueKind::None);
        assert!(it.err().is_none());
    }

    #[test]
    fn truncation_is_an_error() {
        let s: Vec<(i64, f64)> = (0..50)
            .map(|i| (i * 1000 + i * i, (i as f64).sqrt()))
            .collect();
        let b = encode(&s, ChunkFlavor::Current);
        for cut in 0..b.len() - 1 {
            let r = decode_xor(&b[..cut]);
            assert!(r.is_err(), "cut at {cut} decoded");
        }
    }

    /// Fuzz find (tsdb_chunk): a window of 61 bits with a full 64-bit buffer made the
    /// same-delta fast path shift by 64.
    #[test]
    fn regression_fast_path_shift_overflow() {
        let b64 = "ANAPP/AAAQBLABgYGBgYGBgYGBgYGBgYGBgYGBgYGBgYGHd3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3cYGBgYGBgYGBgYGBgYGBgYGPDw8PDwa/DwGBgYGBgYDwAAAAAAAAAYGBgYGBgYGBgYGBgYGBgYGBgYvRgYGBgYGBgYGBgwGBgYGBgYGBgYGBgYGBgYGBgYGBgYAOgHQPphN///oA==";
        let input = base64_decode(b64);
        // As the fuzz target: the bytes read as samples (ms delta, value bits), encoded, then
        // decoded; the last sample reuses a 61-bit window right at the end of the chunk.
        let mut samples = Vec::new();
        let mut t = 0i64;
        for c in input.chunks_exact(16) {
            let d = (u64::from_le_bytes(c[..8].try_into().unwrap()) >> 2) as i64 % (1 << 40);
            t = t.wrapping_add(d.abs().max(1));
            samples.push((
                t,
                f64::from_bits(u64::from_le_bytes(c[8..].try_into().unwrap())),
            ));
        }
        let b = encode(&samples, ChunkFlavor::Current);
        let got = decode_xor(&b).unwrap();
        assert_eq!(got.len(), samples.len());
        for (g, w) in got.iter().zip(&samples) {
            assert_eq!((g.t, g.v.to_bits()), (w.0, w.1.to_bits()));
        }
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|&c| c != b'=') {
            acc = (acc << 6) | A.iter().position(|&x| x == c).unwrap() as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        out
    }

    /// The batch decoder gives the iterator's samples and error on every truncation and on
    /// bit flips of chunks of every field shape.
    #[test]
    fn batch_decode_matches_iterator() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut chunks = Vec::new();
        for shape in 0..6u64 {
            let mut s = Vec::new();
            let (mut t, mut v) = (1_700_000_000_000i64, 0.0f64);
            for i in 0..130 {
                t += match shape {
                    0 | 1 => 15_000,
                    2 => 15_000 + (rnd() % 3000) as i64 - 1500,
                    3 => (rnd() % (1 << 19)) as i64 + 1,
                    _ => (rnd() % (1 << 40)) as i64 + 1,
                };
                v = match shape {
                    0 => v + (rnd() % 100) as f64,
                    1 => (i % 7) as f64,
                    4 => f64::from_bits(rnd()),
                    _ => v + (rnd() % 1000) as f64 / 7.0,
                };
                s.push((t, v));
            }
            chunks.push(encode(&s, ChunkFlavor::Current));
        }
        chunks.push(encode(&[(-5, 1.5)], ChunkFlavor::Current));
        chunks.push(encode(&[(7, 1.5), (9, 1.5)], ChunkFlavor::Prometheus2));
        chunks.push(encode(&[(7, 1.5), (1 << 40, -2.0)], ChunkFlavor::Current));
        let reference = |b: &[u8]| {
            let mut it = XorIterator::new(b);
            let mut out = Vec::new();
            while it.next() == ValueKind::Float {
                out.push((it.at().t, it.at().v.to_bits()));
            }
            (out, it.error().map(|e| e.to_string()))
        };
        let mut out = Vec::new();
        let mut check = |b: &[u8]| {
            let err = decode_xor_into(b, &mut out);
            let got: Vec<(i64, u64)> = out.iter().map(|s| (s.t, s.v.to_bits())).collect();
            let err = err.map(|e| match e {
                lookout_model::Error::Storage(e) => e.to_string(),
                e => format!("{e:?}"),
            });
            assert_eq!((got, err), reference(b), "chunk {}", hex(b));
        };
        for c in &chunks {
            check(c);
            for cut in 0..c.len() {
                check(&c[..cut]);
            }
            for _ in 0..300 {
                let mut m = c.clone();
                let i = 2 + (rnd() as usize) % (m.len() - 2);
                m[i] ^= 1 << (rnd() % 8);
                check(&m);
                let k = 2 + (rnd() as usize) % (m.len() - 2);
                m[k] = rnd() as u8;
                check(&m);
            }
        }
    }

    #[test]
    fn empty_chunk() {
        let c = XorChunk::new();
        assert_eq!(c.bytes(), &[0, 0]);
        assert!(decode_xor(c.bytes()).unwrap().is_empty());
    }
}
