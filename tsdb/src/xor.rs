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
    // The chunk is `b[..bit.div_ceil(8) + phantom]`; the stream's next bit is bit `bit` of `b` (header
    // included); every bit at or after `bit` is zero, and `append` keeps
    // `b.len() >= bit / 8 + SLACK` before it writes.
    b: Vec<u8>,
    bit: usize,
    // The word at byte `bit / 8` of `b` (see `BitWriter`).
    acc: u64,
    // Prometheus 2.x's trailing zero byte is part of the chunk.
    phantom: bool,
    num: u16,
    t: i64,
    t_delta: u64,
    val: ValueState,
    flavor: ChunkFlavor,
}

/// The encoder's value state: the last value's bits and the XOR window.
#[derive(Debug, Clone, Copy)]
struct ValueState {
    v: u64,
    // The bits outside the window (all of them while there is none): an XOR fits the window
    // exactly when it has none of these set. Same as Go's `leading != 0xff && lz >= leading
    // && tz >= trailing` (the window's leading count is at most 31, like the clamped `lz`).
    outside: u64,
    // `outside` while the window is at most 53 bits wide, else all bits: the XORs `append`'s
    // fast path writes in one go (`0` and `10` + payload after the `0` of the time).
    fast_out: u64,
    // `0b010 << width`: the time's `0` and the value's `10` ahead of a payload.
    ctrl: u64,
    trailing: u32,
    // The window's width, `64 - leading - trailing`.
    width: u32,
}

/// Bytes `append` keeps allocated after the byte holding the next bit: one sample writes at
/// most 145 bits (4 + 64 for the time, 2 + 11 + 64 for the value), and a write touches the
/// 8 bytes from the byte it starts in.
const SLACK: usize = 32;

/// An MSB-first bit writer over a zeroed buffer, which the caller keeps long enough. Only
/// stores: the word at the byte holding the next bit is kept in `acc` (stream bits first,
/// zeros after them) and stored whole after every write, so no write waits for the last.
struct BitWriter<'a> {
    buf: &'a mut [u8],
    bit: usize,
    acc: u64,
}

impl BitWriter<'_> {
    /// Writes `v`, which must fit in `n` bits (1 ≤ n ≤ 56), most significant bit first.
    #[inline(always)]
    fn short(&mut self, v: u64, n: u32) {
        debug_assert!(
            n <= 56 && v >> n == 0,
            "{v:#x} does not fit in {n} ≤ 56 bits"
        );
        let s = (self.bit & 7) as u32;
        // `s + n` ≤ 63: the bits end inside this word.
        self.acc |= v << (64 - s - n);
        let i = self.bit >> 3;
        // Always in bounds: `append` reserved `SLACK` bytes after the sample's first byte.
        if let Some(dst) = self.buf.get_mut(i..i + 8) {
            dst.copy_from_slice(&self.acc.to_be_bytes());
        }
        // Drop the bytes now complete (at most 7).
        self.acc <<= (s + n) & !7;
        self.bit += n as usize;
    }

    /// Writes `v`, which must fit in `n` bits (1 ≤ n ≤ 64), most significant bit first.
    #[inline(always)]
    fn bits(&mut self, v: u64, n: u32) {
        if n <= 56 {
            self.short(v, n);
        } else {
            self.short(v >> 32, n - 32);
            self.short(v & 0xFFFF_FFFF, 32);
        }
    }
}

impl ValueState {
    /// Writes the timestamp field bits `prefix` (`plen` ≤ 24 bits, possibly none) followed by
    /// the value field for `vbits`, merging writes where they fit in one word; returns the
    /// length of the last write Prometheus' encoder makes for the value (0 for a single bit).
    #[inline(always)]
    fn write(&mut self, w: &mut BitWriter<'_>, prefix: u64, plen: u32, vbits: u64) -> u32 {
        let x = vbits ^ self.v;
        self.v = vbits;
        if x == 0 {
            w.short(prefix << 1, plen + 1);
            return 0;
        }
        if x & self.outside == 0 {
            let n = self.width;
            let payload = x >> self.trailing;
            let control = (prefix << 2) | 0b10;
            if n + plen + 2 <= 56 {
                w.short((control << n) | payload, n + plen + 2);
            } else {
                w.short(control, plen + 2);
                w.bits(payload, n);
            }
            return n;
        }
        self.new_window(w, prefix, plen, x)
    }

    /// The value field `11`, a new window and the payload for the XOR `x` (≠ 0).
    #[inline(always)]
    fn new_window(&mut self, w: &mut BitWriter<'_>, prefix: u64, plen: u32, x: u64) -> u32 {
        let lz = x.leading_zeros().min(31);
        let tz = x.trailing_zeros();
        self.trailing = tz;
        // `lz` ≤ 31 and `tz` ≤ 63 keep both shifts in range.
        self.outside = !((u64::MAX >> lz) & (u64::MAX << tz));
        let sig = 64 - lz - tz;
        self.width = sig;
        (self.fast_out, self.ctrl) = if sig <= 53 {
            (self.outside, 0b010 << sig)
        } else {
            (u64::MAX, 0)
        };
        // '11', 5 bits leading, 6 bits significant-bit count (64 written as 0).
        let head = (prefix << 13) | (0b11 << 11) | ((lz as u64) << 6) | (sig as u64 & 0x3F);
        if plen + 13 + sig <= 56 {
            w.short((head << sig) | (x >> tz), plen + 13 + sig);
        } else {
            w.short(head, plen + 13);
            w.bits(x >> tz, sig);
        }
        sig
    }
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
    // Inlined, like `with_flavor`: a chunk built out of line is written through a pointer,
    // which keeps a caller's loop from holding its fields in registers.
    #[inline]
    pub fn new() -> XorChunk {
        XorChunk::with_flavor(ChunkFlavor::Current)
    }

    /// An empty chunk producing the bytes of the given Prometheus generation.
    #[inline]
    pub fn with_flavor(flavor: ChunkFlavor) -> XorChunk {
        XorChunk {
            b: vec![0; 128],
            ..XorChunk::empty(flavor)
        }
    }

    /// [`with_flavor`](Self::with_flavor) with room for about `bytes` bytes before the buffer
    /// grows (at most 4 KiB): the head sizes a series' next chunk like its last one.
    #[inline]
    pub(crate) fn with_flavor_and_room(flavor: ChunkFlavor, bytes: usize) -> XorChunk {
        XorChunk {
            b: vec![0; (bytes + SLACK).clamp(128, 4096)],
            ..XorChunk::empty(flavor)
        }
    }

    /// The chunk's bytes (the `data` of a chunk record, without encoding byte or CRC).
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        self.b.get(..self.visible_len()).unwrap_or(&[])
    }

    /// Consumes the chunk, returning its bytes.
    pub fn into_bytes(mut self) -> Vec<u8> {
        let n = self.visible_len();
        self.b.truncate(n);
        self.b
    }

    /// The heap bytes the chunk's buffer holds (its capacity: the bytes so far and room for
    /// more).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.b.capacity()
    }

    /// The number of samples appended.
    pub fn num_samples(&self) -> usize {
        self.num as usize
    }

    /// An iterator over the samples appended so far.
    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(self.bytes())
    }

    /// Grows `b` (zero-filled) to at least `need` bytes.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, need: usize) {
        let len = need.max(self.b.len() * 2);
        self.b.resize(len, 0);
    }

    /// Appends a sample. Timestamps should increase strictly (the head enforces it; the chunk,
    /// like Prometheus', does not check). Fails only when the chunk already holds
    /// [`MAX_SAMPLES`].
    #[inline]
    pub fn append(&mut self, t: i64, v: f64) -> Result<()> {
        let vbits = v.to_bits();
        let delta = t.wrapping_sub(self.t) as u64;
        let dod = delta.wrapping_sub(self.t_delta) as i64;
        let x = vbits ^ self.val.v;
        // The common samples, one write of at most 56 bits: the same delta (`0`) with the
        // value unchanged (`0`) or in a window of at most 53 bits (`10` + payload), or a
        // delta of delta in the 14-bit bucket (`10` + 14 bits) with the value unchanged (`0`).
        let fast = if dod == 0 && x & self.val.fast_out == 0 {
            Some(if x == 0 {
                (0, 2)
            } else {
                (self.val.ctrl | (x >> self.val.trailing), self.val.width + 3)
            })
        } else if x == 0 && bit_range(dod, 14) {
            Some(((0b10 << 15) | ((dod as u64 & 0x3FFF) << 1), 17))
        } else {
            None
        };
        let i = self.bit >> 3;
        let room = (self.num as usize) < MAX_SAMPLES && self.num >= 2;
        let (Some((field, n)), true, Some(win)) = (fast, room, self.b.get_mut(i..i + SLACK)) else {
            // Any other shape, in line while the buffer has room (real data's jittered times
            // and new windows are common).
            if room && self.b.len() >= i + SLACK {
                self.append_general(t, vbits);
                return Ok(());
            }
            // The first two samples, a chunk that needs to grow or is full: out of line, on
            // the chunk moved out and back. No call sees the chunk's address, so a caller's
            // loop can keep its fields in registers.
            let chunk = std::mem::replace(self, XorChunk::empty(self.flavor));
            let (chunk, res) = chunk.append_slow(t, vbits);
            *self = chunk;
            return res;
        };
        // Bits relative to byte `i`: the window's length is known, so no bounds checks.
        let mut w = BitWriter {
            buf: win,
            bit: self.bit & 7,
            acc: self.acc,
        };
        w.short(field, n);
        let bit = i * 8 + w.bit;
        self.acc = w.acc;
        let num = self.num + 1;
        if let Some(h) = self.b.get_mut(..2) {
            h.copy_from_slice(&num.to_be_bytes());
        }
        self.bit = bit;
        self.val.v = vbits;
        self.t_delta = delta;
        self.t = t;
        self.num = num;
        if self.flavor == ChunkFlavor::Prometheus2 {
            // The value's last write: its payload, or nothing for an unchanged value.
            self.add_phantom(if x == 0 { 0 } else { self.val.width });
        }
        Ok(())
    }

    /// `append` for the first two samples and a chunk that needs to grow or is full, on the
    /// chunk by value.
    #[inline(never)]
    fn append_slow(mut self, t: i64, vbits: u64) -> (XorChunk, Result<()>) {
        if self.num as usize >= MAX_SAMPLES {
            let e = Error::ChunkFull("a chunk holds at most 65535 samples");
            return (self, Err(e));
        }
        let need = (self.bit >> 3) + SLACK;
        if self.b.len() < need {
            self.grow(need);
        }
        if self.num >= 2 {
            self.append_general(t, vbits);
        } else {
            self.append_head(t, vbits);
        }
        (self, Ok(()))
    }

    /// A chunk without a buffer: the state of an empty chunk, and the stand-in while
    /// `append_slow` has the real one.
    #[inline(always)]
    fn empty(flavor: ChunkFlavor) -> XorChunk {
        XorChunk {
            b: Vec::new(),
            bit: 16,
            acc: 0,
            phantom: false,
            num: 0,
            t: 0,
            t_delta: 0,
            val: ValueState {
                v: 0,
                outside: u64::MAX,
                fast_out: u64::MAX,
                ctrl: 0,
                trailing: 0,
                width: 0,
            },
            flavor,
        }
    }

    /// Sample 2 on, any shape.
    #[inline(always)]
    fn append_general(&mut self, t: i64, vbits: u64) {
        let mut w = BitWriter {
            buf: &mut self.b,
            bit: self.bit,
            acc: self.acc,
        };
        let mut val = self.val;
        let delta = t.wrapping_sub(self.t) as u64;
        let dod = delta.wrapping_sub(self.t_delta) as i64;
        let last_write = if dod == 0 {
            val.write(&mut w, 0, 1, vbits)
        } else {
            write_dod(&mut w, &mut val, dod, vbits)
        };
        let num = self.num + 1;
        if let Some(h) = w.buf.get_mut(..2) {
            h.copy_from_slice(&num.to_be_bytes());
        }
        let bit = w.bit;
        self.bit = bit;
        self.acc = w.acc;
        self.val = val;
        self.t_delta = delta;
        self.t = t;
        self.num = num;
        if self.flavor == ChunkFlavor::Prometheus2 {
            self.add_phantom(last_write);
        }
    }

    /// Prometheus 2.x: when the last write of the sample was a whole-byte write that ended on
    /// a byte boundary, the byte after the data (zero) is part of the chunk (until the next
    /// sample).
    #[inline(always)]
    fn add_phantom(&mut self, last_write: u32) {
        self.phantom = self.bit & 7 == 0 && last_write > 0 && last_write & 7 == 0;
    }

    /// The length of the chunk's bytes.
    #[inline(always)]
    fn visible_len(&self) -> usize {
        self.bit.div_ceil(8) + self.phantom as usize
    }

    /// Samples 0 and 1: whole-byte varint times.
    #[cold]
    #[inline(never)]
    fn append_head(&mut self, t: i64, vbits: u64) {
        let mut buf = [0u8; 10];
        let mut w = BitWriter {
            buf: &mut self.b,
            bit: self.bit,
            acc: self.acc,
        };
        let last_write = if self.num == 0 {
            let n = put_varint(&mut buf, t);
            for &byte in &buf[..n] {
                w.short(byte as u64, 8);
            }
            w.bits(vbits, 64);
            self.val.v = vbits;
            64
        } else {
            let delta = t.wrapping_sub(self.t) as u64;
            let n = put_uvarint(&mut buf, delta);
            for &byte in &buf[..n] {
                w.short(byte as u64, 8);
            }
            self.t_delta = delta;
            self.val.write(&mut w, 0, 0, vbits)
        };
        self.num += 1;
        if let Some(h) = w.buf.get_mut(..2) {
            h.copy_from_slice(&self.num.to_be_bytes());
        }
        self.bit = w.bit;
        self.acc = w.acc;
        self.t = t;
        if self.flavor == ChunkFlavor::Prometheus2 {
            self.add_phantom(last_write);
        }
    }
}

/// A delta of delta ≠ 0 in Prometheus' buckets, then the value field.
#[inline(always)]
fn write_dod(w: &mut BitWriter<'_>, val: &mut ValueState, dod: i64, vbits: u64) -> u32 {
    let (prefix, plen) = if bit_range(dod, 14) {
        ((0b10 << 14) | (dod as u64 & 0x3FFF), 16)
    } else if bit_range(dod, 17) {
        ((0b110 << 17) | (dod as u64 & 0x1_FFFF), 20)
    } else if bit_range(dod, 20) {
        ((0b1110 << 20) | (dod as u64 & 0xF_FFFF), 24)
    } else {
        w.short(0b1111, 4);
        w.bits(dod as u64, 64);
        (0, 0)
    };
    val.write(w, prefix, plen, vbits)
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
    // The decoder, at the current sample (`read` of them decoded).
    cur: Cursor,
    // Samples starting before this bit may take `next`'s fast path: 0 until two samples are
    // decoded and after an error, then the end of `data`.
    fast_lim: usize,
    total: u16,
    // `total` while iterating, 0 once an error ended it: samples are decoded while
    // `read < end`.
    end: u16,
    read: u16,
    state: IterState,
    // Why and at which sample decoding failed. Only this plain value is stored while
    // iterating (nothing to drop in place), so a caller's loop can keep the iterator in
    // registers; the error itself is built on first request.
    fail: Option<(&'static str, u16)>,
    err: std::cell::OnceCell<lookout_model::Error>,
}

/// The decoder state between two samples: where the next one starts and what it is relative
/// to.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    // The next stream bit, counted from the start of the data after the header.
    bit: usize,
    t: i64,
    v: u64,
    t_delta: u64,
    // The value window: trailing zero bits and width (significant bits).
    trailing: u32,
    width: u32,
}

impl Cursor {
    /// Moves past a sample `len` bits long with delta of delta `dod` and value XOR `x`.
    #[inline(always)]
    fn step(&mut self, len: usize, dod: i64, x: u64) {
        self.bit += len;
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.v ^= x;
    }
}

/// Bits of stream that must follow a sample's start for [`decode_words`] to decode a sample
/// of a shape it does not know from one word: such a sample is at most 101 bits (24 of time,
/// 77 of value) and its reads end within 21 bytes of its first byte.
const SAFE_BITS: usize = 192;

/// Decodes samples 2 on from `c` into `out` while they are whole and of the shapes the fast
/// path knows (everything but 64-bit deltas of delta, truncation and impossible windows),
/// advancing `c` past them and widening `deltas` by every time delta met; returns how many
/// (fewer than `out.len()` sends the caller to the careful decoder, which says why).
#[inline(always)]
fn decode_run(
    b: &[u8],
    end: usize,
    c: &mut Cursor,
    out: &mut [Sample],
    deltas: &mut DeltaRange,
) -> usize {
    let (mut k, mut stopped) = decode_words(b, c, out, deltas);
    // Samples of other shapes (or the end) stopped the fast loop.
    if let Some(rest @ [_, ..]) = out.get_mut(k..).filter(|_| !stopped) {
        let (n, s) = decode_general_run(b, c, rest, deltas);
        (k, stopped) = (k + n, s);
    }
    // Reading on past `end` decodes the bytes after the stream: what was decoded is whole only
    // if it ends by `end` (no sample's decoding looks past its own bits).
    if c.bit > end {
        return 0;
    }
    let Some(out) = out.get_mut(k..).filter(|o| !stopped && !o.is_empty()) else {
        return k;
    };
    let b = b.get(..end / 8).unwrap_or(b);
    // The last bytes (fewer than 8, or at most `SAFE_BITS` of them and a byte before a sample
    // of another shape), copied to a zero-padded buffer so that words can be read there too.
    let first = c.bit >> 3;
    let rest = b.get(first..).unwrap_or_default();
    let mut pad = [0u8; 48];
    let Some(head) = pad.get_mut(..rest.len()) else {
        return k + decode_checked(b, b.len() * 8, c, out, deltas);
    };
    head.copy_from_slice(rest);
    let end = rest.len() * 8;
    c.bit -= first * 8;
    // Here the unchecked loop reads the padding as stream bits: what it decodes is whole only
    // if it ends by `end` (no sample's decoding looks past its own bits); if not, `k` tells
    // the caller to start over carefully.
    let (n, stopped) = decode_words(&pad, c, out, deltas);
    let n = match out.get_mut(n..) {
        _ if stopped || c.bit > end => 0,
        Some(more @ [_, ..]) => n + decode_checked(&pad, end, c, more, deltas),
        _ => n,
    };
    c.bit += first * 8;
    k + n
}

/// Decodes samples from `c` into `out` checking every one against the end of the stream,
/// bit `end` of `b` (whose bits from `end` on are zeros): stops at the first sample not
/// whole or not decodable. Returns how many it decoded.
#[inline(never)]
fn decode_checked(
    b: &[u8],
    end: usize,
    c: &mut Cursor,
    out: &mut [Sample],
    deltas: &mut DeltaRange,
) -> usize {
    let mut k = 0;
    let Cursor {
        mut bit,
        mut t,
        mut v,
        t_delta: mut delta,
        mut trailing,
        mut width,
    } = *c;
    while let Some(slot) = out.get_mut(k) {
        let w = word_at(b, bit);
        // Bits past the end read as zeros and no decoder looks past its sample's bits:
        // a sample ending by the end is whole.
        if let Some((len, x, ntrailing, nwidth)) = same_delta_sample(w, trailing, width) {
            if bit + len > end {
                break;
            }
            bit += len;
            v ^= x;
            trailing = ntrailing;
            width = nwidth;
            t = t.wrapping_add(delta as i64);
            *slot = Sample {
                t,
                v: f64::from_bits(v),
            };
            k += 1;
            continue;
        }
        let (mut nbit, mut ndelta) = (bit, delta);
        let (mut nv, mut ntrailing, mut nwidth) = (v, trailing, width);
        if !decode_general(
            b,
            &mut nbit,
            w,
            &mut ndelta,
            &mut nv,
            &mut ntrailing,
            &mut nwidth,
        ) || nbit > end
        {
            break;
        }
        bit = nbit;
        delta = ndelta;
        deltas.add(delta);
        v = nv;
        trailing = ntrailing;
        width = nwidth;
        t = t.wrapping_add(delta as i64);
        *slot = Sample {
            t,
            v: f64::from_bits(v),
        };
        k += 1;
    }
    *c = Cursor {
        bit,
        t,
        v,
        t_delta: delta,
        trailing,
        width,
    };
    k
}

/// [`decode_run`]'s fast unchecked loop over the samples whose first 8 bytes lie in `b`: the
/// commonest shapes (the same time delta, the value unchanged or in a window of at most 53
/// bits, or in a new one of at most 43; a delta of delta of 14 bits with the value unchanged
/// or in the window) are decoded from that word alone, so are whole; a few others while
/// [`SAFE_BITS`] of stream follow them, then it stops and leaves the rest to
/// [`decode_general_run`]. Returns how many samples it wrote to `out` and whether a
/// malformed sample stopped it.
#[inline(never)]
fn decode_words(
    b: &[u8],
    c: &mut Cursor,
    out: &mut [Sample],
    deltas: &mut DeltaRange,
) -> (usize, bool) {
    let Cursor {
        mut bit,
        mut t,
        mut v,
        t_delta: mut delta,
        trailing,
        width,
    } = *c;
    let safe_end = (b.len() * 8).saturating_sub(SAFE_BITS);
    let mut stopped = false;
    // Samples of other shapes met: they come in runs (times off the scrape interval, values
    // in wide windows), so after a few the general loop takes over.
    let mut others = 0u32;
    // The value window as the loop uses it: the mask of its bits, how far to rotate a
    // same-delta sample's word right to line its payload up with the mask (its leading zeros
    // `64 - trailing - width`, at most 31, less the 3 bits before the payload), and the top
    // three bits a same-delta sample in it starts with (`010`), or 8 (none) when the window
    // is too wide for one word.
    let lead = 64 - trailing - width;
    let mut mask = window_mask(lead, trailing);
    let mut rot = (lead + 61) & 63;
    let mut tag = same_window_tag(width);
    // The length of a same-delta sample in the window: `0`, `10` and `width` bits.
    let mut step = 3 + width as usize;
    let mut k = 0;
    while let Some(slot) = out.get_mut(k) {
        let i = bit >> 3;
        let Some(bytes) = b.get(i..i + 8) else {
            break;
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        let w = u64::from_be_bytes(a) << (bit & 7);
        if w >> 61 == tag {
            // `0` (same delta), `10` and the payload in the window (at most 53 bits).
            v ^= w.rotate_right(rot) & mask;
            bit += step;
        } else if w >> 62 == 0 {
            // Same delta, same value.
            bit += 2;
        } else if let Some(m) = narrow_window(w) {
            // `0`, `11`, a new window of at most 43 bits and its payload.
            let h = (w >> 50) as u32;
            let lead = (h >> 6) & 0x1F;
            step = 3 + (h & 0x3F) as usize;
            mask = m;
            rot = (lead + 61) & 63;
            tag = 0b010;
            // The payload follows 14 bits (not 3): 11 more to rotate.
            v ^= w.rotate_right(lead + 50) & mask;
            bit += 11 + step;
        } else if let Some((len, dod, x)) = jitter_sample(w, rot, mask, step) {
            // A delta of delta of 14 bits, the value unchanged or in the window.
            bit += len;
            v ^= x;
            delta = (delta as i64).wrapping_add(dod) as u64;
            deltas.add(delta);
        } else {
            if bit > safe_end || others == 3 {
                break;
            }
            others += 1;
            let width = (step - 3) as u32;
            let Some(s) = other_sample(b, bit, w, delta, v, mask, width) else {
                stopped = true;
                break;
            };
            (bit, delta, v) = (s.0, s.1, s.2);
            deltas.add(delta);
            let lead = 64 - s.3 - s.4;
            mask = window_mask(lead, s.3);
            rot = (lead + 61) & 63;
            tag = same_window_tag(s.4);
            step = 3 + s.4 as usize;
        }
        t = t.wrapping_add(delta as i64);
        *slot = Sample {
            t,
            v: f64::from_bits(v),
        };
        k += 1;
    }
    *c = Cursor {
        bit,
        t,
        v,
        t_delta: delta,
        // The window is never empty.
        trailing: mask.trailing_zeros(),
        width: (step - 3) as u32,
    };
    (k, stopped)
}

/// A sample with a delta of delta in the 14-bit bucket (`10` …) and its value unchanged (`0`)
/// or in the window (`10` and a payload of at most 39 bits), decoded from its word `w` alone
/// given the window as [`decode_words`] keeps it (rotation for a same-delta sample, mask,
/// same-delta sample length): its length, delta of delta and value XOR; `None` for any other
/// shape.
#[inline(always)]
fn jitter_sample(w: u64, rot: u32, mask: u64, step: usize) -> Option<(usize, i64, u64)> {
    if w >> 62 != 0b10 {
        return None;
    }
    let x = ((w >> 48) & 0x3FFF) as i64;
    let dod = if x > 1 << 13 { x - (1 << 14) } else { x };
    let vw = w << 16;
    if vw >> 63 == 0 {
        Some((17, dod, 0))
    } else if vw >> 62 == 0b10 && step <= 42 {
        // The payload starts 15 bits later than a same-delta sample's.
        Some((15 + step, dod, w.rotate_right(rot.wrapping_add(49)) & mask))
    } else {
        None
    }
}

/// A sample of a shape [`decode_words`] does not decode inline (a delta of delta, a wide
/// window) at `bit`, whose word is `w`, with at least [`SAFE_BITS`] of stream from `bit`,
/// after a value window of `mask` (`width` bits): the bit after it, the time delta, value
/// bits and window (trailing zeros, width) after it, or `None` when [`decode_general`]
/// rejects it.
#[inline(never)]
fn other_sample(
    b: &[u8],
    bit: usize,
    w: u64,
    delta: u64,
    v: u64,
    mask: u64,
    width: u32,
) -> Option<(usize, u64, u64, u32, u32)> {
    let trailing = mask.trailing_zeros();
    if let Some((len, dod, x)) = fast_sample(w, trailing, width) {
        return Some((
            bit + len,
            (delta as i64).wrapping_add(dod) as u64,
            v ^ x,
            trailing,
            width,
        ));
    }
    let (mut bit, mut delta, mut v, mut trailing, mut width) = (bit, delta, v, trailing, width);
    decode_general(
        b,
        &mut bit,
        w,
        &mut delta,
        &mut v,
        &mut trailing,
        &mut width,
    )
    .then_some((bit, delta, v, trailing, width))
}

/// [`decode_run`]'s general unchecked loop: decodes samples from `c` into `out` while
/// [`SAFE_BITS`] of `b` follow them, of every shape but 64-bit deltas of delta and impossible
/// windows. Returns how many and whether a sample it cannot decode stopped it.
#[inline(never)]
fn decode_general_run(
    b: &[u8],
    c: &mut Cursor,
    out: &mut [Sample],
    deltas: &mut DeltaRange,
) -> (usize, bool) {
    let Cursor {
        mut bit,
        mut t,
        mut v,
        t_delta: mut delta,
        mut trailing,
        mut width,
    } = *c;
    let safe_end = (b.len() * 8).saturating_sub(SAFE_BITS);
    let mut k = 0;
    let mut stopped = false;
    while bit <= safe_end {
        let Some(slot) = out.get_mut(k) else { break };
        let w = word_at(b, bit);
        if let Some((len, x, ntrailing, nwidth)) = same_delta_sample(w, trailing, width) {
            bit += len;
            v ^= x;
            trailing = ntrailing;
            width = nwidth;
        } else {
            if let Some((len, dod, x)) = fast_sample(w, trailing, width) {
                bit += len;
                delta = (delta as i64).wrapping_add(dod) as u64;
                v ^= x;
            } else if !decode_general(
                b,
                &mut bit,
                w,
                &mut delta,
                &mut v,
                &mut trailing,
                &mut width,
            ) {
                stopped = true;
                break;
            }
            deltas.add(delta);
        }
        t = t.wrapping_add(delta as i64);
        *slot = Sample {
            t,
            v: f64::from_bits(v),
        };
        k += 1;
    }
    *c = Cursor {
        bit,
        t,
        v,
        t_delta: delta,
        trailing,
        width,
    };
    (k, stopped)
}

/// The mask of a value window's bits: `lead` zeros (at most 63), ones, `trailing` zeros.
#[inline(always)]
const fn window_mask(lead: u32, trailing: u32) -> u64 {
    (u64::MAX >> lead) & (u64::MAX << trailing)
}

/// The top three bits of a same-delta sample with its value in a window `width` bits wide,
/// when the sample fits in the word [`word_at`] returns (57 bits): `010`; otherwise 8, which
/// no three bits equal.
#[inline(always)]
fn same_window_tag(width: u32) -> u64 {
    if width <= 53 {
        0b010
    } else {
        8
    }
}

/// The mask of the new window of a same-delta sample with a new window of 1 to 43 bits
/// (`011` …) whose word is `w`; `None` for any other shape or an impossible window.
#[inline(always)]
fn narrow_window(w: u64) -> Option<u64> {
    if w >> 61 != 0b011 {
        return None;
    }
    let m = NARROW_WINDOWS[(w >> 50) as usize & 0x7FF];
    (m != 0).then_some(m)
}

/// [`narrow_window`]'s masks by the 11 bits of a window header (5 of leading zeros, 6 of
/// width): 0 for a width of 0 (64) or past 43 bits, and for windows past 64 bits.
static NARROW_WINDOWS: [u64; 2048] = narrow_windows();

const fn narrow_windows() -> [u64; 2048] {
    let mut t = [0u64; 2048];
    let mut h = 0;
    while h < 2048 {
        let (lead, sig) = ((h >> 6) as u32, (h & 0x3F) as u32);
        if sig >= 1 && sig <= 43 && lead + sig <= 64 {
            t[h] = window_mask(lead, 64 - lead - sig);
        }
        h += 1;
    }
    t
}

/// A sample with the same time delta (`0`) whose value field fits the word `w` (top 57 bits
/// valid): unchanged (`0`), in a window of at most 53 bits (`10`) or in a new window of 1 to
/// 43 bits (`11`). Returns the sample's length in bits, the value's XOR and the window after
/// it (trailing zeros, width), or `None` for any other shape.
#[inline(always)]
fn same_delta_sample(w: u64, trailing: u32, width: u32) -> Option<(usize, u64, u32, u32)> {
    // Tested commonest first.
    if w >> 61 == 0b010 && width <= 53 {
        // `width` ≥ 1, so the shifts stay below 64.
        Some((
            3 + width as usize,
            ((w << 3) >> (64 - width)) << trailing,
            trailing,
            width,
        ))
    } else if w >> 61 == 0b011 {
        let h = (w >> 50) as u32;
        let (lead, sig) = ((h >> 6) & 0x1F, h & 0x3F);
        // 0 encodes 64, too wide for the word like anything past 43 bits.
        if sig.wrapping_sub(1) >= 43 || lead + sig > 64 {
            return None;
        }
        let tr = 64 - lead - sig;
        Some((14 + sig as usize, ((w << 14) >> (64 - sig)) << tr, tr, sig))
    } else if w >> 62 == 0 {
        Some((2, 0, trailing, width))
    } else {
        None
    }
}

/// The commonest samples, decoded from their first word `w` (top 57 bits valid) alone: the
/// same delta with the value unchanged or in a window of at most 53 bits, and a delta of
/// delta in the 14-bit bucket with the value unchanged or in a window of at most 39 bits.
/// Returns the sample's length in bits,
/// the delta of delta and the value's XOR, or `None` for any other shape.
#[inline(always)]
fn fast_sample(w: u64, trailing: u32, width: u32) -> Option<(usize, i64, u64)> {
    // Tested commonest first: on real scrapes most samples carry scrape jitter.
    if w >> 62 == 0b10 {
        // A 14-bit delta of delta: bit patterns above 2^13 are negative (Prometheus' range
        // is -8191..=8192), i.e. the pattern minus one, sign-extended, plus one.
        let x = (w >> 48).wrapping_sub(1) << 50;
        let dod = ((x as i64) >> 50) + 1;
        if (w >> 47) & 1 == 0 {
            Some((17, dod, 0))
        } else if (w >> 46) & 1 == 0 && width <= 39 {
            // Then a value in the previous window.
            Some((
                18 + width as usize,
                dod,
                ((w << 18) >> (64 - width)) << trailing,
            ))
        } else {
            None
        }
    } else if w >> 62 == 0 {
        Some((2, 0, 0))
    } else if w >> 61 == 0b010 && width <= 53 {
        // `width` ≥ 1, so the shifts stay below 64.
        Some((
            3 + width as usize,
            0,
            ((w << 3) >> (64 - width)) << trailing,
        ))
    } else {
        None
    }
}

/// Samples with a new value window decoded from their first word `w` (top 57 bits valid)
/// alone: the same delta and a window of at most 43 bits, or a delta of delta in the 14-bit
/// bucket and a window of at most 28 bits. Returns the sample's length in bits, the delta of
/// delta, the value's XOR and the new window (trailing zeros, width), or `None` for any other
/// shape, a 64-bit window or an impossible one (left to the careful decoder).
#[inline(always)]
fn new_window_sample(w: u64) -> Option<(usize, i64, u64, u32, u32)> {
    let (start, dod) = if w >> 61 == 0b011 {
        (3, 0)
    } else if w >> 62 == 0b10 && (w >> 46) & 0b11 == 0b11 {
        let x = ((w >> 48) & 0x3FFF) as i64;
        (18, if x > 1 << 13 { x - (1 << 14) } else { x })
    } else {
        return None;
    };
    let leading = ((w << start) >> 59) as u32;
    let width = ((w << (start + 5)) >> 58) as u32;
    let limit = if start == 3 { 43 } else { 28 };
    if width == 0 || width > limit || leading + width > 64 {
        return None;
    }
    let trailing = 64 - leading - width;
    let at = start + 11;
    Some((
        at + width as usize,
        dod,
        ((w << at) >> (64 - width)) << trailing,
        trailing,
        width,
    ))
}

/// Decodes the time and value fields of a sample at `*bit`, whose word is `w`: advances
/// `*bit` and updates the delta and value state, or returns false without changing anything
/// for a 64-bit delta of delta or an impossible window. Does not check the end of `b`.
#[inline(always)]
fn decode_general(
    b: &[u8],
    bit: &mut usize,
    w: u64,
    delta: &mut u64,
    v: &mut u64,
    trailing: &mut u32,
    width: &mut u32,
) -> bool {
    let mut nbit = *bit;
    let mut w = w;
    let mut ndelta = *delta;
    if w >> 63 == 0 {
        nbit += 1;
        w <<= 1;
    } else {
        let ones = (!w).leading_zeros();
        if ones >= 4 {
            return false;
        }
        let nbits = match ones {
            1 => 14,
            2 => 17,
            _ => 20,
        };
        let x = (w << (ones + 1)) >> (64 - nbits);
        nbit += (ones + 1 + nbits) as usize;
        let dod = if x > 1 << (nbits - 1) {
            (x as i64) - (1i64 << nbits)
        } else {
            x as i64
        };
        ndelta = (ndelta as i64).wrapping_add(dod) as u64;
        w = word_at(b, nbit);
    }
    if !value_at(b, &mut nbit, w, v, trailing, width) {
        return false;
    }
    *bit = nbit;
    *delta = ndelta;
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IterState {
    Fresh,
    On,
    Done,
}

/// The careful bit reader of [`XorIterator`]'s slow path, which reports exactly where a
/// stream runs short.
struct BitReader<'a> {
    data: &'a [u8],
    // Next byte of `data` to load into `acc`.
    pos: usize,
    // Bit buffer, valid bits left-aligned; bits below `n` are either later stream bits or 0.
    acc: u64,
    n: u32,
}

impl<'a> BitReader<'a> {
    /// A reader at bit `bit` (≤ `8 * data.len()`) of `data`.
    fn at(data: &'a [u8], bit: usize) -> BitReader<'a> {
        let mut r = BitReader {
            data,
            pos: bit >> 3,
            acc: 0,
            n: 0,
        };
        let skip = (bit & 7) as u32;
        if skip > 0 {
            r.refill();
            let skip = skip.min(r.n);
            r.acc <<= skip;
            r.n -= skip;
        }
        r
    }

    /// The stream bit the reader is at.
    fn bit(&self) -> usize {
        self.pos * 8 - self.n as usize
    }

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
}

impl<'a> XorIterator<'a> {
    /// Iterates the samples of the XOR chunk `bytes` (header included).
    #[inline]
    pub fn new(bytes: &'a [u8]) -> XorIterator<'a> {
        let (total, data, fail) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest, None),
            _ => (0, &[][..], Some((SHORT_CHUNK, 0))),
        };
        XorIterator {
            data,
            cur: Cursor {
                bit: 0,
                t: i64::MIN,
                v: 0,
                t_delta: 0,
                trailing: 0,
                width: 64,
            },
            fast_lim: 0,
            total,
            end: total,
            read: 0,
            state: if fail.is_some() {
                IterState::Done
            } else {
                IterState::Fresh
            },
            fail,
            err: std::cell::OnceCell::new(),
        }
    }

    /// The decoding error that ended iteration, if any, as this crate's error.
    pub fn error(&self) -> Option<&Error> {
        match self.model_err() {
            Some(lookout_model::Error::Storage(e)) => e.downcast_ref::<Error>(),
            _ => None,
        }
    }

    /// The error that ended iteration, built on first request.
    fn model_err(&self) -> Option<&lookout_model::Error> {
        let (reason, read) = self.fail?;
        Some(self.err.get_or_init(|| corrupt(reason, read)))
    }

    /// Moves the error that ended iteration out of the iterator.
    pub(crate) fn take_err(&mut self) -> Option<lookout_model::Error> {
        let (reason, read) = self.fail.take()?;
        Some(self.err.take().unwrap_or_else(|| corrupt(reason, read)))
    }

    /// The number of samples the chunk header announces.
    pub fn num_samples(&self) -> usize {
        self.total as usize
    }

    /// `next` past the fast path. Only values go in and out of the decoding call, so a
    /// caller's loop can keep the iterator in registers.
    #[inline(always)]
    fn next_slow(&mut self) -> ValueKind {
        if self.read >= self.end {
            self.state = IterState::Done;
            return ValueKind::None;
        }
        // Only in the last 8 bytes: elsewhere `next` has tried these shapes already.
        if self.cur.bit < self.fast_lim
            && (self.cur.bit >> 3) + 8 > self.data.len()
            && self.tail_sample()
        {
            return ValueKind::Float;
        }
        let (cur, res) = decode_one(self.data, self.cur, self.read);
        self.cur = cur;
        match res {
            Ok(()) => {
                self.read += 1;
                if self.read == 2 {
                    self.fast_lim = self.data.len() * 8;
                }
                self.state = IterState::On;
                ValueKind::Float
            }
            Err(reason) => {
                self.state = IterState::Done;
                self.end = 0;
                self.fast_lim = 0;
                self.fail = Some((reason, self.read));
                ValueKind::None
            }
        }
    }

    /// The fast shapes of `next` in the stream's last 8 bytes, read zero-padded: taken only
    /// when the sample ends within the stream. Returns whether it decoded one.
    #[inline]
    fn tail_sample(&mut self) -> bool {
        let c = &mut self.cur;
        let w = word_at(self.data, c.bit);
        let (len, dod, x, window) = if let Some((len, dod, x)) = fast_sample(w, c.trailing, c.width)
        {
            (len, dod, x, None)
        } else if let Some((len, dod, x, trailing, width)) = new_window_sample(w) {
            (len, dod, x, Some((trailing, width)))
        } else {
            return false;
        };
        if c.bit + len > self.fast_lim {
            return false;
        }
        c.step(len, dod, x);
        if let Some((trailing, width)) = window {
            c.trailing = trailing;
            c.width = width;
        }
        self.read += 1;
        self.state = IterState::On;
        true
    }

    /// Iterates with the careful reader alone (the reference the fast path is tested
    /// against).
    #[cfg(test)]
    fn next_careful(&mut self) -> ValueKind {
        if self.read >= self.end {
            self.state = IterState::Done;
            return ValueKind::None;
        }
        let (cur, res) = decode_careful(self.data, self.cur, self.read);
        self.cur = cur;
        match res {
            Ok(()) => {
                self.read += 1;
                ValueKind::Float
            }
            Err(reason) => {
                self.end = 0;
                self.fail = Some((reason, self.read));
                ValueKind::None
            }
        }
    }
}

/// Why a chunk without its 2-byte header is corrupt.
const SHORT_CHUNK: &str = "chunk shorter than its 2-byte header";

/// Decodes sample `read` after the state `c`: the state after it, or why the chunk is
/// corrupt there (the state is then of no use).
#[inline(never)]
fn decode_one(b: &[u8], c: Cursor, read: u16) -> (Cursor, Result<(), &'static str>) {
    if read >= 2 {
        let mut n = c;
        let w = word_at(b, n.bit);
        if decode_general(
            b,
            &mut n.bit,
            w,
            &mut n.t_delta,
            &mut n.v,
            &mut n.trailing,
            &mut n.width,
        ) && n.bit <= b.len() * 8
        {
            n.t = n.t.wrapping_add(n.t_delta as i64);
            return (n, Ok(()));
        }
    } else if let Some(n) = decode_head(b, c, read) {
        return (n, Ok(()));
    }
    decode_careful(b, c, read)
}

/// The first two samples of a stream, whose fields start on byte boundaries, read a word at
/// a time: `None` (for the careful reader to decode and explain) when a field runs past the
/// end, a varint is malformed or the window is impossible.
#[inline]
fn decode_head(b: &[u8], c: Cursor, read: u16) -> Option<Cursor> {
    if c.bit & 7 != 0 {
        return None;
    }
    let mut i = c.bit >> 3;
    let u = uvarint_at(b, &mut i)?;
    let mut n = c;
    if read == 0 {
        n.t = ((u >> 1) as i64) ^ -((u & 1) as i64);
        let v = b.get(i..i + 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(v);
        n.v = u64::from_be_bytes(a);
        n.bit = (i + 8) * 8;
    } else {
        n.t_delta = u;
        n.t = n.t.wrapping_add(u as i64);
        let mut bit = i * 8;
        let w = word_at(b, bit);
        if !value_at(b, &mut bit, w, &mut n.v, &mut n.trailing, &mut n.width) || bit > b.len() * 8 {
            return None;
        }
        n.bit = bit;
    }
    Some(n)
}

/// [`decode_one`] with the careful reader, which says exactly where a stream runs short.
fn decode_careful(b: &[u8], c: Cursor, read: u16) -> (Cursor, Result<(), &'static str>) {
    let mut c = c;
    let mut r = BitReader::at(b, c.bit);
    let res = careful_sample(&mut r, &mut c, read);
    c.bit = r.bit();
    (c, res)
}

fn careful_value(r: &mut BitReader<'_>, c: &mut Cursor) -> Option<()> {
    match r.read_prefix(2)? {
        0 => return Some(()),
        1 => {}
        _ => {
            let h = r.read_bits(11)? as u32;
            let leading = h >> 6;
            let mut sig = h & 0x3F;
            if sig == 0 {
                sig = 64;
            }
            if leading + sig > 64 {
                return None;
            }
            c.trailing = 64 - leading - sig;
            c.width = sig;
        }
    }
    let bits = r.read_bits_wide(c.width)?;
    c.v ^= bits << c.trailing;
    Some(())
}

fn careful_sample(
    r: &mut BitReader<'_>,
    c: &mut Cursor,
    read: u16,
) -> std::result::Result<(), &'static str> {
    match read {
        0 => {
            let u = r.read_uvarint().ok_or("truncated first timestamp")?;
            c.t = ((u >> 1) as i64) ^ -((u & 1) as i64);
            c.v = r.read_bits_wide(64).ok_or("truncated first value")?;
        }
        1 => {
            let d = r.read_uvarint().ok_or("truncated time delta")?;
            c.t_delta = d;
            c.t = c.t.wrapping_add(d as i64);
            careful_value(r, c).ok_or("truncated or invalid value")?;
        }
        _ => {
            let dod: i64 = match r.read_prefix(4).ok_or("truncated timestamp")? {
                0 => 0,
                p => {
                    let nbits = match p {
                        1 => 14,
                        2 => 17,
                        3 => 20,
                        _ => 64,
                    };
                    let x = r.read_bits_wide(nbits).ok_or("truncated timestamp delta")?;
                    if nbits == 64 {
                        x as i64
                    } else if x > 1 << (nbits - 1) {
                        (x as i64) - (1i64 << nbits)
                    } else {
                        x as i64
                    }
                }
            };
            c.t_delta = (c.t_delta as i64).wrapping_add(dod) as u64;
            c.t = c.t.wrapping_add(c.t_delta as i64);
            careful_value(r, c).ok_or("truncated or invalid value")?;
        }
    }
    Ok(())
}

impl SampleIterator for XorIterator<'_> {
    // Always inlined: a caller's loop then keeps the decoder state in registers.
    #[inline(always)]
    fn next(&mut self) -> ValueKind {
        let c = &mut self.cur;
        let i = c.bit >> 3;
        if let (true, Some(word)) = (
            c.bit < self.fast_lim && self.read < self.end,
            self.data.get(i..i + 8),
        ) {
            // The commonest samples, which end within this word.
            let mut a = [0u8; 8];
            a.copy_from_slice(word);
            let w = u64::from_be_bytes(a) << (c.bit & 7);
            if let Some((len, dod, x)) = fast_sample(w, c.trailing, c.width) {
                c.step(len, dod, x);
                self.read += 1;
                return ValueKind::Float;
            }
            if let Some((len, dod, x, trailing, width)) = new_window_sample(w) {
                c.step(len, dod, x);
                c.trailing = trailing;
                c.width = width;
                self.read += 1;
                return ValueKind::Float;
            }
        }
        self.next_slow()
    }

    fn seek(&mut self, t: i64) -> ValueKind {
        if self.state == IterState::On && self.cur.t >= t {
            return ValueKind::Float;
        }
        loop {
            if self.next() == ValueKind::None {
                return ValueKind::None;
            }
            if self.cur.t >= t {
                return ValueKind::Float;
            }
        }
    }

    #[inline]
    fn at(&self) -> Sample {
        Sample {
            t: self.cur.t,
            v: f64::from_bits(self.cur.v),
        }
    }

    #[inline]
    fn at_t(&self) -> i64 {
        self.cur.t
    }

    fn err(&self) -> Option<&lookout_model::Error> {
        self.model_err()
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
pub fn decode_xor_into(bytes: &[u8], out: &mut Vec<Sample>) -> Option<lookout_model::Error> {
    out.clear();
    decode_xor_append(bytes, out).0
}

/// [`decode_xor_into`] appending to `out` instead of replacing it. Also says whether the
/// appended samples' timestamps are known to increase strictly (false when unsure, and after
/// an error).
pub(crate) fn decode_xor_append(
    bytes: &[u8],
    out: &mut Vec<Sample>,
) -> (Option<lookout_model::Error>, bool) {
    decode_xor_append_in(bytes, bytes.len(), out)
}

/// [`decode_xor_append`] for the chunk `buf[..len]`, the bytes after it (whatever they are;
/// at least 7 spare a copy at the end) being readable too.
pub(crate) fn decode_xor_append_in(
    buf: &[u8],
    len: usize,
    out: &mut Vec<Sample>,
) -> (Option<lookout_model::Error>, bool) {
    let bytes = buf.get(..len).unwrap_or(buf);
    let ext = buf.get(2..).unwrap_or_default();
    let start = out.len();
    let (total, b) = match bytes {
        [x, y, rest @ ..] => (u16::from_be_bytes([*x, *y]) as usize, rest),
        _ => return (decode_xor_slow(bytes, out, start), false),
    };
    if total == 0 {
        return (None, true);
    }
    // Sample 0: a varint time and 64 raw value bits; sample 1: a uvarint time delta (all
    // whole bytes so far) and a value field.
    let mut p = 0;
    let Some(u) = uvarint_at(b, &mut p) else {
        return (decode_xor_slow(bytes, out, start), false);
    };
    let t0 = ((u >> 1) as i64) ^ -((u & 1) as i64);
    let Some(raw) = b.get(p..p + 8) else {
        return (decode_xor_slow(bytes, out, start), false);
    };
    let mut a = [0u8; 8];
    a.copy_from_slice(raw);
    let mut v = u64::from_be_bytes(a);
    p += 8;
    out.reserve(total);
    out.push(Sample {
        t: t0,
        v: f64::from_bits(v),
    });
    if total == 1 {
        return (None, true);
    }
    let Some(delta) = uvarint_at(b, &mut p) else {
        return (decode_xor_slow(bytes, out, start), false);
    };
    let t = t0.wrapping_add(delta as i64);
    let mut bit = p * 8;
    let (mut trailing, mut width) = (0u32, 64u32);
    let w = word_at(b, bit);
    if !value_at(b, &mut bit, w, &mut v, &mut trailing, &mut width) || bit > b.len() * 8 {
        return (decode_xor_slow(bytes, out, start), false);
    }
    out.push(Sample {
        t,
        v: f64::from_bits(v),
    });
    // Written through a slice: no capacity check per sample.
    out.resize(start + total, Sample { t: 0, v: 0.0 });
    let mut cur = Cursor {
        bit,
        t,
        v,
        t_delta: delta,
        trailing,
        width,
    };
    let mut deltas = DeltaRange::new(delta);
    let n = decode_run(
        ext,
        b.len() * 8,
        &mut cur,
        out.get_mut(start + 2..).unwrap_or_default(),
        &mut deltas,
    );
    if n == total - 2 {
        return (None, deltas.increasing(t0, total));
    }
    (decode_xor_slow(bytes, out, start), false)
}

/// The smallest and largest time delta of a chunk (as signed), which tell cheaply whether
/// its timestamps increase strictly: every delta positive and no sum overflowing.
#[derive(Debug, Clone, Copy)]
struct DeltaRange {
    min: i64,
    max: i64,
}

impl DeltaRange {
    fn new(delta: u64) -> DeltaRange {
        DeltaRange {
            min: delta as i64,
            max: delta as i64,
        }
    }

    #[inline(always)]
    fn add(&mut self, delta: u64) {
        self.min = self.min.min(delta as i64);
        self.max = self.max.max(delta as i64);
    }

    /// Whether `total` samples from `t0` with these deltas increase strictly.
    fn increasing(&self, t0: i64, total: usize) -> bool {
        self.min > 0 && (t0 as i128) + (self.max as i128) * (total as i128) <= i64::MAX as i128
    }
}

/// [`decode_xor_into`] for truncated or malformed chunks: the iterator says where and why.
#[cold]
#[inline(never)]
fn decode_xor_slow(
    bytes: &[u8],
    out: &mut Vec<Sample>,
    start: usize,
) -> Option<lookout_model::Error> {
    out.truncate(start);
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

    /// The iterator keeps only why and where decoding failed, and builds the error when
    /// asked: the same error every time, and `take_err` moves it out.
    #[test]
    fn iterator_error_is_built_on_request() {
        let s: Vec<(i64, f64)> = (0..50).map(|i| (i * 1000, i as f64 * 0.7)).collect();
        let b = encode(&s, ChunkFlavor::Current);
        let cut = &b[..b.len() / 2];
        let mut it = XorIterator::new(cut);
        let mut n = 0;
        while it.next() == ValueKind::Float {
            n += 1;
        }
        assert!(n > 2 && n < 50, "{n}");
        assert_eq!(it.next(), ValueKind::None);
        let first = it.err().map(ToString::to_string);
        assert!(first.is_some());
        assert_eq!(it.err().map(ToString::to_string), first);
        match it.error() {
            Some(Error::CorruptChunk { sample, .. }) => assert_eq!(*sample, n),
            e => panic!("unexpected {e:?}"),
        }
        assert_eq!(it.take_err().map(|e| e.to_string()), first);
        assert!(it.err().is_none() && it.take_err().is_none());
        let it = XorIterator::new(&[1]);
        assert!(matches!(
            it.error(),
            Some(Error::CorruptChunk { sample: 0, .. })
        ));
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
        let mut rnd = crate::testing::xorshift(0x9E37_79B9_7F4A_7C15u64);
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
            let got = (out, it.error().map(|e| e.to_string()));
            // The iterator's fast path agrees with its careful reader.
            let mut it = XorIterator::new(b);
            let mut out = Vec::new();
            while it.next_careful() == ValueKind::Float {
                out.push((it.at().t, it.at().v.to_bits()));
            }
            assert_eq!(got, (out, it.error().map(|e| e.to_string())), "{}", hex(b));
            got
        };
        let mut out = Vec::new();
        let mut check = |b: &[u8]| {
            let err = decode_xor_into(b, &mut out);
            let got: Vec<(i64, u64)> = out.iter().map(|s| (s.t, s.v.to_bits())).collect();
            let err = err.map(|e| match e {
                lookout_model::Error::Storage(e) => e.to_string(),
                e => format!("{e:?}"),
            });
            assert_eq!((got.clone(), err.clone()), reference(b), "chunk {}", hex(b));
            // Appending keeps what was there and adds the same samples; "increasing" is only
            // said of strictly increasing times.
            let prefix = Sample::new(-1, 0.5);
            let mut app = vec![prefix];
            let (aerr, increasing) = decode_xor_append(b, &mut app);
            assert_eq!(aerr.is_some(), err.is_some());
            assert_eq!(app.first().map(|s| s.t), Some(-1));
            let rest: Vec<(i64, u64)> = app[1..].iter().map(|s| (s.t, s.v.to_bits())).collect();
            assert_eq!(rest, got);
            if increasing {
                assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "{}", hex(b));
            }
            // Bytes after the chunk, read ahead but never decoded as samples.
            for (fill, extra) in [(0xFF, 8), (0x00, 8), (0x5A, 3), (0xC3, 30)] {
                let mut ext = b.to_vec();
                ext.resize(b.len() + extra, fill);
                let mut app = Vec::new();
                let (eerr, eincreasing) = decode_xor_append_in(&ext, b.len(), &mut app);
                let got_ext: Vec<(i64, u64)> = app.iter().map(|s| (s.t, s.v.to_bits())).collect();
                assert_eq!(got_ext, got, "{} + {fill:#x}", hex(b));
                assert_eq!((eerr.is_some(), eincreasing), (err.is_some(), increasing));
            }
        };
        // Times going back, repeating, and wrapping past `i64::MAX`: never "increasing".
        for s in [
            &[(10, 1.0), (20, 2.0), (15, 3.0), (30, 4.0)][..],
            &[(10, 1.0), (20, 2.0), (20, 3.0), (30, 4.0)][..],
            &[
                (i64::MAX - 30, 1.0),
                (i64::MAX - 10, 2.0),
                (i64::MIN + 9, 3.0),
            ][..],
        ] {
            let b = encode(s, ChunkFlavor::Current);
            let mut app = Vec::new();
            assert!(!decode_xor_append(&b, &mut app).1, "{s:?}");
            assert_eq!(app.len(), s.len());
        }
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

    /// Go's `bstream` (Prometheus 2.42 tsdb/chunkenc/bstream.go), bit by bit.
    struct GoStream {
        b: Vec<u8>,
        // Bits free in the last byte.
        count: u8,
    }

    impl GoStream {
        fn bit(&mut self, one: bool) {
            if self.count == 0 {
                self.b.push(0);
                self.count = 8;
            }
            let i = self.b.len() - 1;
            if one {
                self.b[i] |= 1 << (self.count - 1);
            }
            self.count -= 1;
        }

        fn byte(&mut self, x: u8) {
            if self.count == 0 {
                self.b.push(0);
                self.count = 8;
            }
            let i = self.b.len() - 1;
            self.b[i] |= ((x as u16) >> (8 - self.count)) as u8;
            self.b.push(((x as u16) << self.count) as u8);
        }

        fn bits(&mut self, u: u64, n: u32) {
            let mut u = if n == 0 { 0 } else { u << (64 - n) };
            let mut n = n;
            while n >= 8 {
                self.byte((u >> 56) as u8);
                u <<= 8;
                n -= 8;
            }
            while n > 0 {
                self.bit(u >> 63 == 1);
                u <<= 1;
                n -= 1;
            }
        }
    }

    /// Go's `xorAppender.Append` of Prometheus 2.42, written from its source, for the bytes
    /// a 2.x chunk holds.
    fn go_encode(samples: &[(i64, f64)]) -> Vec<u8> {
        let mut s = GoStream {
            b: vec![0, 0],
            count: 0,
        };
        let (mut t, mut v, mut td) = (0i64, 0u64, 0u64);
        let (mut leading, mut trailing) = (0xFFu32, 0u32);
        for (num, &(nt, nv)) in samples.iter().enumerate() {
            let vb = nv.to_bits();
            let mut buf = [0u8; 10];
            let mut vdelta = |s: &mut GoStream| {
                let d = vb ^ v;
                if d == 0 {
                    s.bit(false);
                    return;
                }
                s.bit(true);
                let lz = d.leading_zeros().min(31);
                let tz = d.trailing_zeros();
                if leading != 0xFF && lz >= leading && tz >= trailing {
                    s.bit(false);
                    s.bits(d >> trailing, 64 - leading - trailing);
                } else {
                    (leading, trailing) = (lz, tz);
                    s.bit(true);
                    s.bits(lz as u64, 5);
                    s.bits((64 - lz - tz) as u64, 6);
                    s.bits(d >> tz, 64 - lz - tz);
                }
            };
            match num {
                0 => {
                    let n = put_varint(&mut buf, nt);
                    buf[..n].iter().for_each(|&x| s.byte(x));
                    s.bits(vb, 64);
                }
                1 => {
                    td = nt.wrapping_sub(t) as u64;
                    let n = put_uvarint(&mut buf, td);
                    buf[..n].iter().for_each(|&x| s.byte(x));
                    vdelta(&mut s);
                }
                _ => {
                    let d = nt.wrapping_sub(t) as u64;
                    let dod = d.wrapping_sub(td) as i64;
                    if dod == 0 {
                        s.bit(false);
                    } else if bit_range(dod, 14) {
                        s.bits(0b10, 2);
                        s.bits(dod as u64, 14);
                    } else if bit_range(dod, 17) {
                        s.bits(0b110, 3);
                        s.bits(dod as u64, 17);
                    } else if bit_range(dod, 20) {
                        s.bits(0b1110, 4);
                        s.bits(dod as u64, 20);
                    } else {
                        s.bits(0b1111, 4);
                        s.bits(dod as u64, 64);
                    }
                    td = d;
                    vdelta(&mut s);
                }
            }
            t = nt;
            v = vb;
            let n = (num as u16 + 1).to_be_bytes();
            s.b[..2].copy_from_slice(&n);
        }
        s.b
    }

    /// Both flavours match Go's encoder byte for byte on random chunks of every shape (the
    /// current one without 2.x's trailing zero byte), after every sample.
    #[test]
    fn encoder_matches_go_bstream() {
        let mut rnd = crate::testing::xorshift(0x2545_F491_4F6C_DD1Du64);
        for shape in 0..400u64 {
            let mut s = Vec::new();
            let (mut t, mut v) = ((rnd() % (1 << 42)) as i64 - (1 << 41), 0.0f64);
            for i in 0..(1 + rnd() % 200) {
                t += match shape % 5 {
                    0 => 15_000,
                    1 => 15_000 + (rnd() % 40) as i64 - 20,
                    2 => (rnd() % (1 << (1 + rnd() % 22))) as i64 + 1,
                    3 => (rnd() % (1 << 40)) as i64 + 1,
                    _ => [15_000, 15_001, 14_990, 30_000][(rnd() % 4) as usize],
                };
                v = match (shape / 5) % 6 {
                    0 => v + (rnd() % 100) as f64,
                    1 => (i % 3) as f64,
                    2 => f64::from_bits(rnd()),
                    3 => f64::from_bits(rnd() >> (rnd() % 64)),
                    4 if rnd().is_multiple_of(3) => {
                        f64::from_bits(v.to_bits() ^ (rnd() >> (rnd() % 64)))
                    }
                    4 => v,
                    _ => v + (rnd() % 1000) as f64 / 7.0,
                };
                s.push((t, v));
            }
            let mut c2 = XorChunk::with_flavor(ChunkFlavor::Prometheus2);
            let mut c3 = XorChunk::new();
            for (k, &(t, v)) in s.iter().enumerate() {
                c2.append(t, v).unwrap();
                c3.append(t, v).unwrap();
                let want = go_encode(&s[..=k]);
                assert_eq!(hex(c2.bytes()), hex(&want), "shape {shape}, sample {k}");
                assert!(want.starts_with(c3.bytes()), "shape {shape}, sample {k}");
                assert!(want.len() - c3.bytes().len() <= 1);
            }
        }
    }

    /// An unchanged value after a window wider than the fast path's still writes the delta
    /// of delta 0 as one bit (16 + 8 + 64 + 8 + 73 + 2 bits: 22 bytes).
    #[test]
    fn same_sample_after_wide_window() {
        let wide = f64::from_bits(0x0FFF_FFFF_FFFF_FFFF);
        let b = encode(&[(0, 0.0), (10, wide), (20, wide)], ChunkFlavor::Current);
        assert_eq!(b.len(), 22, "{}", hex(&b));
        let got = decode_xor(&b).unwrap();
        assert_eq!(got[2].t, 20);
        assert_eq!(got[2].v.to_bits(), wide.to_bits());
    }

    #[test]
    fn empty_chunk() {
        let c = XorChunk::new();
        assert_eq!(c.bytes(), &[0, 0]);
        assert!(decode_xor(c.bytes()).unwrap().is_empty());
    }
}
