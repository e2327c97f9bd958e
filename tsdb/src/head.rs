//! The head: the in-memory, appendable part of the database. A series registry (labels →
//! series via the stable hash, collisions resolved by comparing labels), an inverted index of
//! roaring bitmaps, per-series XOR chunks cut as Prometheus' head cuts them, batched appends
//! with commit and rollback, and a write-ahead log replayed on open.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use lookout_model::{Labels, Matcher};
use parking_lot::{Condvar, Mutex, RwLock};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::head_chunks::{ChunkData, ChunkDiskMapper};
use crate::record::{self, Record, RefSample};
use crate::wal::{self, Corruption, Wal, WalOptions};
use crate::xor::{ChunkFlavor, XorChunk};

/// A series' reference in the head (and in its WAL records). Stable for the head's lifetime;
/// pass it to [`Appender::append_ref`] to skip hashing labels again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

/// How the head cuts chunks and logs writes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HeadOptions {
    /// The head chunk range in ms: chunks never span a multiple of it (default 2 h).
    pub chunk_range: i64,
    /// Target samples per chunk (default 120, as Prometheus).
    pub samples_per_chunk: usize,
    /// The byte flavour of new chunks.
    pub flavor: ChunkFlavor,
    /// How the WAL is written when the head has a directory.
    pub wal: WalOptions,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            chunk_range: 7_200_000,
            samples_per_chunk: 120,
            flavor: ChunkFlavor::Current,
            wal: WalOptions::default(),
        }
    }
}

impl HeadOptions {
    /// Sets the chunk range (ms, at least 1).
    pub fn chunk_range(mut self, ms: i64) -> Self {
        self.chunk_range = ms.max(1);
        self
    }
    /// Sets the target samples per chunk (at least 4).
    pub fn samples_per_chunk(mut self, n: usize) -> Self {
        self.samples_per_chunk = n.clamp(4, crate::xor::MAX_SAMPLES / 2);
        self
    }
    /// Sets the chunk byte flavour.
    pub fn flavor(mut self, f: ChunkFlavor) -> Self {
        self.flavor = f;
        self
    }
    /// Sets the WAL options.
    pub fn wal(mut self, w: WalOptions) -> Self {
        self.wal = w;
        self
    }
}

/// One XOR chunk of a head series (see [`Head::chunks`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HeadChunk {
    /// The first sample's timestamp.
    pub mint: i64,
    /// The last sample's timestamp.
    pub maxt: i64,
    /// The XOR chunk bytes (memory-mapped for completed chunks of a head with a directory).
    pub data: ChunkData,
}

/// A completed, immutable chunk.
#[derive(Debug, Clone)]
pub(crate) struct ClosedChunk {
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
    pub(crate) data: ChunkData,
}

#[derive(Debug)]
pub(crate) struct OpenChunk {
    pub(crate) chunk: XorChunk,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

#[derive(Debug)]
pub(crate) struct SeriesData {
    pub(crate) closed: Vec<ClosedChunk>,
    pub(crate) open: Option<OpenChunk>,
    next_at: i64,
    // The newest appended sample (t, value bits).
    last: Option<(i64, u64)>,
}

#[derive(Debug)]
// In this order: the time an append checks, the id the WAL record takes and the lock word
// mostly share a cache line with the `Arc`'s counts, which commit reads ahead (see
// `Appender::commit`).
#[repr(C)]
pub(crate) struct MemSeries {
    // The newest sample's time as `data` has it (`i64::MIN` before the first), for the check
    // at append without the lock (see `Appender::push`).
    last_t: AtomicI64,
    pub(crate) id: u64,
    pub(crate) data: Mutex<SeriesData>,
    pub(crate) labels: Labels,
    // Whether a series record for it has been written to the WAL.
    logged: AtomicBool,
}

impl MemSeries {
    /// Publishes the newest sample's time after appends under the lock.
    #[inline]
    fn publish_last(&self, d: &SeriesData) {
        if let Some((t, _)) = d.last {
            self.last_t.store(t, Ordering::Relaxed);
        }
    }
}

/// A series that nothing but the head's two registries holds (no appender, no reader) may
/// be collected.
const REGISTRY_REFS: usize = 2;

/// The head's hash of a label set, keying its series registry (any good hash will do: it is
/// never stored or compared with Prometheus').
#[inline]
fn series_hash(labels: &Labels) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(labels)
}

/// Prometheus' `rangeForTimestamp`: the end of the chunk-range window holding `t`.
fn range_end(t: i64, width: i64) -> i64 {
    (t / width).wrapping_mul(width).wrapping_add(width)
}

/// Prometheus' `computeChunkEndTime`: spread the remaining window evenly over chunks.
fn chunk_end(start: i64, cur: i64, max: i64) -> i64 {
    let denom = (cur.wrapping_sub(start).wrapping_add(1)).wrapping_mul(4);
    if denom <= 0 {
        return max;
    }
    let n = max.wrapping_sub(start) / denom;
    if n <= 1 {
        return max;
    }
    start + (max - start) / n
}

impl SeriesData {
    fn new() -> SeriesData {
        SeriesData {
            closed: Vec::new(),
            open: None,
            next_at: i64::MIN,
            last: None,
        }
    }

    /// Checks a sample as Prometheus 2.42's `memSeries.appendable` does.
    fn appendable(&self, t: i64, v: f64) -> Result<()> {
        match self.last {
            None => Ok(()),
            Some((lt, _)) if t > lt => Ok(()),
            Some((lt, _)) if t < lt => Err(Error::OutOfOrderSample),
            Some((_, bits)) if bits == v.to_bits() => Ok(()),
            Some(_) => Err(Error::DuplicateSample),
        }
    }

    /// Appends in order, cutting chunks as Prometheus' head does; false (dropped) when `t` is
    /// not after the newest sample.
    #[inline]
    fn append(&mut self, t: i64, v: f64, opts: &HeadOptions) -> bool {
        self.append_with(t, v, opts, Cut::Close)
    }

    /// [`append`](Self::append), with what becomes of a completed chunk chosen by `cut`.
    /// Inlined: the per-sample path of commit and replay.
    #[inline(always)]
    fn append_with(&mut self, t: i64, v: f64, opts: &HeadOptions, cut: Cut<'_>) -> bool {
        if let Some((lt, _)) = self.last {
            if t <= lt {
                return false;
            }
        }
        let spc = opts.samples_per_chunk;
        let c = match &mut self.open {
            Some(c)
                if t < self.next_at && {
                    let n = c.chunk.num_samples();
                    n != spc / 4 && n < spc * 2
                } =>
            {
                c
            }
            _ => self.prepare_chunk(t, opts, cut),
        };
        if c.chunk.append(t, v).is_err() {
            return false;
        }
        c.maxt = t;
        self.last = Some((t, v.to_bits()));
        true
    }

    /// Appends the leading samples of `run` that [`append_with`](Self::append_with) would
    /// put into the open chunk without cutting it, with the checks per sample reduced to
    /// compares; returns how many it took (the caller goes on with `append_with`).
    #[inline(always)]
    fn append_run(&mut self, run: &[Pending], opts: &HeadOptions) -> usize {
        let (Some(c), Some((mut lt, mut lv))) = (&mut self.open, self.last) else {
            return 0;
        };
        let spc = opts.samples_per_chunk;
        let next_at = self.next_at;
        let n0 = c.chunk.num_samples();
        let mut taken = 0;
        for (i, &Pending { t, v, .. }) in run.iter().enumerate() {
            let n = n0 + i;
            if t <= lt || t >= next_at || n == spc / 4 || n >= spc * 2 {
                break;
            }
            if c.chunk.append(t, v).is_err() {
                break;
            }
            lt = t;
            lv = v.to_bits();
            taken = i + 1;
        }
        if taken > 0 {
            c.maxt = lt;
            self.last = Some((lt, lv));
        }
        taken
    }

    /// The slow part of [`SeriesData::append`]: a quarter-full chunk sets its end time, and a
    /// chunk that is due is cut; returns the chunk to append `t` to.
    #[cold]
    #[inline(never)]
    fn prepare_chunk(&mut self, t: i64, opts: &HeadOptions, cut_to: Cut<'_>) -> &mut OpenChunk {
        let spc = opts.samples_per_chunk;
        let cut = match &self.open {
            None => true,
            Some(c) => {
                let n = c.chunk.num_samples();
                if n == spc / 4 {
                    self.next_at = chunk_end(c.mint, c.maxt, self.next_at);
                }
                t >= self.next_at || n >= spc * 2
            }
        };
        // The next chunk starts with room for as many bytes as the last one took.
        let room = self.open.as_ref().map_or(0, |c| c.chunk.bytes().len());
        if cut {
            match cut_to {
                // On the heap for now: a head with a directory writes completed chunks to
                // `chunks_head/` in batches (see `map_cuts`).
                Cut::Close => {
                    if let Some(c) = self.open.take() {
                        self.closed.push(ClosedChunk {
                            mint: c.mint,
                            maxt: c.maxt,
                            data: ChunkData::heap(c.chunk.into_bytes()),
                        });
                    }
                }
                Cut::Park(slot) => *slot = self.open.take(),
            }
            self.next_at = range_end(t, opts.chunk_range);
        }
        self.open.get_or_insert_with(|| OpenChunk {
            chunk: XorChunk::with_flavor_and_room(opts.flavor, room),
            mint: t,
            maxt: t,
        })
    }
}

/// Writes chunks completed on the heap to `chunks_head/` with one write and puts the
/// mapped views in their place (a chunk that truncation released meanwhile is skipped).
///
/// Commits run concurrently, and two of them may each complete a chunk of the same series,
/// then get here in the other order. Prometheus reads a series' chunks from `chunks_head/` in
/// file order and throws the files away if they go back in time, so one caller at a time
/// writes every chunk at the end of each series' list still on the heap, oldest first; a
/// later caller finds its chunks written already.
#[cold]
#[inline(never)]
fn map_cuts(m: &ChunkDiskMapper, mut series: Vec<Arc<MemSeries>>) {
    let _order = m.order.lock();
    series.sort_unstable_by_key(Arc::as_ptr);
    series.dedup_by(|a, b| Arc::ptr_eq(a, b));
    let mut todo: Vec<(Arc<MemSeries>, i64, i64, ChunkData)> = Vec::new();
    for s in series {
        let d = s.data.lock();
        let heap = d
            .closed
            .iter()
            .rev()
            .take_while(|c| !c.data.is_mapped())
            .count();
        let first = d.closed.len() - heap;
        for c in d.closed.iter().skip(first) {
            todo.push((s.clone(), c.mint, c.maxt, c.data.clone()));
        }
    }
    let chunks: Vec<(u64, i64, i64, &[u8])> = todo
        .iter()
        .map(|(s, lo, hi, data)| (s.id, *lo, *hi, &data[..]))
        .collect();
    let mut views = Vec::new();
    m.write_many(&chunks, &mut views);
    drop(chunks);
    for ((s, lo, _, _), view) in todo.into_iter().zip(views) {
        let Some(view) = view else {
            continue;
        };
        // Chunk start times are unique within a series.
        let mut d = s.data.lock();
        if let Some(c) = d.closed.iter_mut().rev().find(|c| c.mint == lo) {
            c.data = view;
        }
    }
}

/// What [`SeriesData::append_with`] does with a chunk it completes.
enum Cut<'a> {
    /// Adds it to the series' closed chunks, on the heap.
    Close,
    /// Moves it into the slot for the caller to close later (grouped replay, which m-maps
    /// chunks in WAL order).
    Park(&'a mut Option<OpenChunk>),
}

// As Prometheus' stripeSeries: many stripes, so appenders on different series rarely share a
// lock (or its cache line).
const STRIPES: usize = 4096;

/// Series by stable label hash; a list per hash resolves collisions.
type HashStripe = FxHashMap<u64, Vec<Arc<MemSeries>>>;
/// Series by reference: stripe `id % STRIPES` holds series `id` at index `id / STRIPES`, in a
/// vector while the references are dense (as heads hand them out: a plain vector lookup), in a
/// map once they are not (a replayed WAL may use references far apart).
#[derive(Debug)]
enum IdStripe {
    Dense {
        slots: Vec<Option<Arc<MemSeries>>>,
        live: usize,
    },
    Sparse(FxHashMap<usize, Arc<MemSeries>>),
}

impl Default for IdStripe {
    fn default() -> Self {
        IdStripe::Dense {
            slots: Vec::new(),
            live: 0,
        }
    }
}

impl IdStripe {
    #[inline]
    fn get(&self, i: usize) -> Option<&Arc<MemSeries>> {
        match self {
            IdStripe::Dense { slots, .. } => slots.get(i).and_then(Option::as_ref),
            IdStripe::Sparse(m) => m.get(&i),
        }
    }

    fn insert(&mut self, i: usize, s: Arc<MemSeries>) {
        match self {
            IdStripe::Dense { slots, live } => {
                if i >= slots.len() {
                    // Geometric growth while at least a quarter of the slots would be used.
                    let n = (i + 1).max(slots.len() * 2);
                    if n > 64 && n > 4 * (*live + 1) {
                        let m: FxHashMap<usize, Arc<MemSeries>> = std::mem::take(slots)
                            .into_iter()
                            .enumerate()
                            .filter_map(|(k, s)| Some((k, s?)))
                            .chain([(i, s)])
                            .collect();
                        *self = IdStripe::Sparse(m);
                        return;
                    }
                    slots.resize(n, None);
                }
                if let Some(slot) = slots.get_mut(i) {
                    if slot.replace(s).is_none() {
                        *live += 1;
                    }
                }
            }
            IdStripe::Sparse(m) => {
                m.insert(i, s);
            }
        }
    }

    fn remove(&mut self, i: usize) {
        match self {
            IdStripe::Dense { slots, live } => {
                if slots.get_mut(i).and_then(Option::take).is_some() {
                    *live -= 1;
                }
            }
            IdStripe::Sparse(m) => {
                m.remove(&i);
            }
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Postings {
    pub(crate) by_name: FxHashMap<String, BTreeMap<String, RoaringBitmap>>,
    pub(crate) all: RoaringBitmap,
}

/// Counters of what the head has taken in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeadStats {
    /// Series in the head.
    pub series: u64,
    /// Samples appended (committed and kept).
    pub samples: u64,
    /// Samples dropped at commit because a concurrent commit had already written a newer or
    /// equal timestamp (Prometheus counts these as out of order too), or on replay.
    pub dropped: u64,
}

/// What [`Head::truncate`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TruncateStats {
    /// Chunks released.
    pub chunks_removed: u64,
    /// Series removed.
    pub series_removed: u64,
    /// Head chunk files (`chunks_head/`) deleted.
    pub chunk_files_removed: u64,
    /// The checkpoint written, if the WAL had enough segments for one.
    pub checkpoint: Option<wal::CheckpointStats>,
}

/// What opening a head from its WAL found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayStats {
    /// Records read.
    pub records: u64,
    /// Series created.
    pub series: u64,
    /// Samples appended.
    pub samples: u64,
    /// Samples for series the WAL never declared, or out of order, dropped.
    pub dropped: u64,
    /// Tombstone records seen (the head does not support deletion; they are skipped).
    pub tombstones: u64,
    /// Records that passed their checksum but did not decode (skipped).
    pub bad_records: u64,
    /// Where a torn or corrupt tail was cut off. Everything before it was replayed; callers
    /// should log this as a warning.
    pub truncated: Option<Corruption>,
}

/// The in-memory, appendable part of the database. Cheap to share between threads (`&Head` is
/// `Sync`); each writer takes its own [`Appender`].
///
/// ```
/// use lookout_model::{parse_selector, Querier, SelectHints};
/// use lookout_tsdb::{Head, HeadOptions};
///
/// let head = Head::new(HeadOptions::default());
/// let mut app = head.appender();
/// let r = app.append(&r#"up{job="api"}"#.parse()?, 1_000, 1.0)?;
/// app.append_ref(r, 2_000, 1.0)?;
/// app.commit()?;
/// let set = head.select(0, 5_000, &parse_selector("up")?, &SelectHints::default())?;
/// assert_eq!(set.count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Head {
    pub(crate) opts: HeadOptions,
    by_hash: Box<[RwLock<HashStripe>]>,
    by_id: Box<[RwLock<IdStripe>]>,
    pub(crate) postings: RwLock<Postings>,
    next_id: AtomicU64,
    min_time: AtomicI64,
    max_time: AtomicI64,
    min_valid_time: AtomicI64,
    num_series: AtomicU64,
    samples: AtomicU64,
    dropped: AtomicU64,
    wal: Option<Mutex<WalState>>,
    /// WAL writes that failed after marking series logged (see `Appender::log`).
    log_failures: AtomicU64,
    mapper: Option<ChunkDiskMapper>,
    /// Open appenders that hold samples, with the oldest time each may append.
    appenders: Mutex<OpenAppenders>,
    /// Signalled when an open appender finishes.
    appender_done: Condvar,
}

/// The appenders of a head that hold samples: `(id, lower bound)`, where the bound is the
/// oldest timestamp the appender accepts (Prometheus' isolation keeps the same per appender).
#[derive(Debug, Default)]
struct OpenAppenders {
    next_id: u64,
    open: Vec<(u64, i64)>,
}

#[derive(Debug)]
struct WalState {
    wal: Wal,
}

/// A thread's reusable record buffers for [`Appender::commit`].
#[derive(Debug)]
struct CommitScratch {
    samples: wal::Scratch,
    series: wal::Scratch,
}

impl CommitScratch {
    fn new() -> CommitScratch {
        CommitScratch {
            samples: wal::Scratch::new(),
            series: wal::Scratch::new(),
        }
    }
}

/// An appender's batch: the series (kept alive), timestamp and value of every sample.
type Batch = Vec<(Arc<MemSeries>, i64, f64)>;

/// Batches above this many samples are released after use rather than kept for reuse.
const BATCH_KEEP: usize = 1 << 14;

thread_local! {
    static SCRATCH: Cell<Option<Box<CommitScratch>>> = const { Cell::new(None) };
    // An empty batch vector with capacity, reused by the thread's next appender.
    static BATCH: Cell<Batch> = const { Cell::new(Vec::new()) };
}

impl Head {
    /// An in-memory head without a WAL.
    pub fn new(opts: HeadOptions) -> Head {
        Head {
            opts,
            by_hash: (0..STRIPES).map(|_| RwLock::default()).collect(),
            by_id: (0..STRIPES).map(|_| RwLock::default()).collect(),
            postings: RwLock::default(),
            next_id: AtomicU64::new(1),
            min_time: AtomicI64::new(i64::MAX),
            max_time: AtomicI64::new(i64::MIN),
            min_valid_time: AtomicI64::new(i64::MIN),
            num_series: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            wal: None,
            log_failures: AtomicU64::new(0),
            mapper: None,
            appenders: Mutex::default(),
            appender_done: Condvar::new(),
        }
    }

    /// Opens a head over data directory `dir` (created if missing): replays `dir/wal`
    /// (checkpoint first, then segments), cuts off a torn or corrupt tail, and logs new commits
    /// to a fresh segment.
    pub fn open(dir: &Path, opts: HeadOptions) -> Result<(Head, ReplayStats)> {
        let wal_dir = dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(|e| Error::io(&wal_dir, e))?;
        let mut head = Head::new(opts);
        head.mapper = Some(ChunkDiskMapper::open(&dir.join("chunks_head"))?);
        let mut stats = ReplayStats::default();
        let rs = head.replay(&wal_dir, &mut stats)?;
        stats.records = rs.records;
        head.samples.store(stats.samples, Ordering::Relaxed);
        if let Some(c) = rs.corruption {
            wal::repair(&wal_dir, &c)?;
            stats.truncated = Some(c);
        }
        let w = Wal::open(&wal_dir, head.opts.wal.clone())?;
        head.wal = Some(Mutex::new(WalState { wal: w }));
        Ok((head, stats))
    }

    /// Loads the head of data directory `dir` without changing anything on disk (for dump and
    /// inspection tools, like Prometheus' read-only DB): replays `dir/wal` up to any torn or
    /// corrupt tail (reported in the stats, not repaired); chunks stay on the heap and the head
    /// has no WAL, so its commits are not durable.
    pub fn open_read_only(dir: &Path, opts: HeadOptions) -> Result<(Head, ReplayStats)> {
        let wal_dir = dir.join("wal");
        let head = Head::new(opts);
        let mut stats = ReplayStats::default();
        if !wal_dir.is_dir() {
            return Ok((head, stats));
        }
        let rs = head.replay(&wal_dir, &mut stats)?;
        stats.records = rs.records;
        stats.truncated = rs.corruption;
        head.samples.store(stats.samples, Ordering::Relaxed);
        Ok((head, stats))
    }

    /// Starts a batch of appends.
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            head: self,
            min_valid: None,
            open_id: None,
            created: Vec::new(),
            samples: BATCH.try_with(Cell::take).unwrap_or_default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &HeadOptions {
        &self.opts
    }

    /// Counters of series and samples.
    pub fn stats(&self) -> HeadStats {
        HeadStats {
            series: self.num_series.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// The heap bytes the open chunks of all series hold: the chunk bytes still on the heap
    /// in a head with a directory, whose completed chunks are memory-mapped (their buffers'
    /// capacity, so the room reserved for the coming samples counts too). Walks every series.
    pub fn open_chunk_heap_bytes(&self) -> u64 {
        let mut n = 0u64;
        for stripe in self.by_hash.iter() {
            for list in stripe.read().values() {
                for s in list {
                    if let Some(c) = &s.data.lock().open {
                        n += c.chunk.heap_bytes() as u64;
                    }
                }
            }
        }
        n
    }

    /// The oldest sample timestamp, or `None` when empty.
    pub fn min_time(&self) -> Option<i64> {
        let t = self.min_time.load(Ordering::Relaxed);
        (t != i64::MAX).then_some(t)
    }

    /// The newest sample timestamp, or `None` when empty.
    pub fn max_time(&self) -> Option<i64> {
        let t = self.max_time.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    /// Samples older than this are rejected with [`Error::OutOfBounds`] (set by truncation).
    pub fn set_min_valid_time(&self, t: i64) {
        self.min_valid_time.fetch_max(t, Ordering::Relaxed);
    }

    /// Closes the time range below `t` to appends and waits until no open appender can still
    /// add a sample below `t` (Prometheus' `WaitForAppendersOverlapping`): appenders opened
    /// from now on reject such samples, and those that accepted some are committed or rolled
    /// back first. Called before the range is cut into a block, so a late commit lands in the
    /// block rather than behind it. Must not be called by a thread that holds an open
    /// appender with samples below `t` (it would wait for itself).
    pub fn close_range_below(&self, t: i64) {
        let mut open = self.appenders.lock();
        self.set_min_valid_time(t);
        while open.open.iter().any(|&(_, bound)| bound < t) {
            self.appender_done.wait(&mut open);
        }
    }

    /// The series reference of `labels`, if the head has the series.
    pub fn series_ref(&self, labels: &Labels) -> Option<SeriesRef> {
        let h = series_hash(labels);
        let stripe = self.by_hash[h as usize % STRIPES].read();
        stripe
            .get(&h)?
            .iter()
            .find(|s| s.labels == *labels)
            .map(|s| SeriesRef(s.id))
    }

    /// The chunks of a series, oldest first, the open (still growing) one last as a copy:
    /// what compaction and inspection tools read.
    pub fn chunks(&self, series: SeriesRef) -> Option<Vec<HeadChunk>> {
        let s = self.series_by_id(series.0)?;
        let d = s.data.lock();
        let mut out: Vec<HeadChunk> = d
            .closed
            .iter()
            .map(|c| HeadChunk {
                mint: c.mint,
                maxt: c.maxt,
                data: c.data.clone(),
            })
            .collect();
        if let Some(c) = &d.open {
            out.push(HeadChunk {
                mint: c.mint,
                maxt: c.maxt,
                data: ChunkData::heap(c.chunk.bytes()),
            });
        }
        Some(out)
    }

    /// The labels of a series.
    pub fn labels(&self, series: SeriesRef) -> Option<Labels> {
        self.series_by_id(series.0).map(|s| s.labels.clone())
    }

    #[inline]
    pub(crate) fn series_by_id(&self, id: u64) -> Option<Arc<MemSeries>> {
        self.by_id[id as usize % STRIPES]
            .read()
            .get(id as usize / STRIPES)
            .cloned()
    }

    /// Finds or creates the series; `with_id` forces the id (WAL replay). Returns the series
    /// and whether it was created.
    fn get_or_create(
        &self,
        labels: &Labels,
        with_id: Option<u64>,
    ) -> Result<(Arc<MemSeries>, bool)> {
        self.get_or_create_hashed(labels, series_hash(labels), with_id, true)
    }

    /// [`get_or_create`](Self::get_or_create) with the labels' [`series_hash`] at hand; a
    /// created series is added to the postings only if `index` (WAL replay indexes the series
    /// it creates in bulk, see [`index_bulk`](Self::index_bulk)).
    fn get_or_create_hashed(
        &self,
        labels: &Labels,
        h: u64,
        with_id: Option<u64>,
        index: bool,
    ) -> Result<(Arc<MemSeries>, bool)> {
        {
            let stripe = self.by_hash[h as usize % STRIPES].read();
            if let Some(s) = stripe
                .get(&h)
                .and_then(|v| v.iter().find(|s| s.labels == *labels))
            {
                return Ok((s.clone(), false));
            }
        }
        if labels.is_empty() {
            return Err(Error::InvalidLabels("{} (empty label set)".into()));
        }
        let mut stripe = self.by_hash[h as usize % STRIPES].write();
        let list = stripe.entry(h).or_default();
        if let Some(s) = list.iter().find(|s| s.labels == *labels) {
            return Ok((s.clone(), false));
        }
        // A WAL reference already taken by other labels (a corrupt or hand-made WAL) gets a
        // fresh id; replay maps the WAL reference to it, and it is logged anew.
        let with_id = with_id.filter(|id| self.series_by_id(*id).is_none());
        let id = match with_id {
            Some(id) => {
                self.next_id
                    .fetch_max(id.wrapping_add(1), Ordering::Relaxed);
                id
            }
            None => self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        let Ok(id32) = u32::try_from(id) else {
            return Err(Error::Config("series reference space (2^32) exhausted"));
        };
        let s = Arc::new(MemSeries {
            id,
            labels: labels.clone(),
            logged: AtomicBool::new(with_id.is_some()),
            last_t: AtomicI64::new(i64::MIN),
            data: Mutex::new(SeriesData::new()),
        });
        list.push(s.clone());
        {
            self.by_id[id as usize % STRIPES]
                .write()
                .insert(id as usize / STRIPES, s.clone());
        }
        if index {
            let mut p = self.postings.write();
            p.all.insert(id32);
            for l in labels.iter() {
                let values = match p.by_name.get_mut(l.name) {
                    Some(v) => v,
                    None => p.by_name.entry(l.name.to_string()).or_default(),
                };
                match values.get_mut(l.value) {
                    Some(bm) => {
                        bm.insert(id32);
                    }
                    None => {
                        values.insert(l.value.to_string(), RoaringBitmap::from_iter([id32]));
                    }
                }
            }
        }
        drop(stripe);
        self.num_series.fetch_add(1, Ordering::Relaxed);
        Ok((s, true))
    }

    /// Adds series created without postings to the index at once: the ids go to one bitmap
    /// per label pair in ascending order (appends, no searches), and each name's values are
    /// sorted once into a map built from sorted entries. Consecutive series mostly share label
    /// names and many values, so a label that equals the previous series' label at the same
    /// position takes no lookup at all.
    fn index_bulk(&self, mut series: Vec<Arc<MemSeries>>) {
        if series.is_empty() {
            return;
        }
        series.sort_unstable_by_key(|s| s.id);
        // Label names, each with its values and their bitmaps (indexes into `lists`).
        let mut names: Vec<(&str, FxHashMap<&str, usize>)> = Vec::new();
        let mut name_at: FxHashMap<&str, usize> = FxHashMap::default();
        let mut lists: Vec<RoaringBitmap> = Vec::new();
        // By label position: the previous series' (name, value, list).
        let mut prev: Vec<(usize, &str, usize)> = Vec::new();
        let mut ids = Vec::with_capacity(series.len());
        for s in &series {
            let Ok(id) = u32::try_from(s.id) else {
                continue;
            };
            ids.push(id);
            for (j, l) in s.labels.iter().enumerate() {
                let cached = prev.get(j).copied();
                let list = match cached {
                    Some((n, v, list))
                        if v == l.value && names.get(n).is_some_and(|e| e.0 == l.name) =>
                    {
                        list
                    }
                    _ => {
                        let n = match cached {
                            Some((n, _, _)) if names.get(n).is_some_and(|e| e.0 == l.name) => n,
                            _ => *name_at.entry(l.name).or_insert_with(|| {
                                names.push((l.name, FxHashMap::default()));
                                names.len() - 1
                            }),
                        };
                        let Some((_, values)) = names.get_mut(n) else {
                            continue;
                        };
                        let list = *values.entry(l.value).or_insert_with(|| {
                            lists.push(RoaringBitmap::new());
                            lists.len() - 1
                        });
                        let e = (n, l.value, list);
                        match prev.get_mut(j) {
                            Some(p) => *p = e,
                            None => prev.push(e),
                        }
                        list
                    }
                };
                if let Some(bm) = lists.get_mut(list) {
                    // Ascending ids: an append. (A repeated id, impossible here, would
                    // already be in the bitmap.)
                    bm.push(id);
                }
            }
        }
        let mut p = self.postings.write();
        let added = RoaringBitmap::from_sorted_iter(ids).unwrap_or_default();
        if p.all.is_empty() {
            p.all = added;
        } else {
            p.all |= added;
        }
        for (name, values) in names {
            // Sorted by the first 8 bytes as an integer, then by the rest: most comparisons
            // are one integer compare.
            let prefix = |v: &str| {
                let mut b = [0u8; 8];
                for (d, s) in b.iter_mut().zip(v.bytes()) {
                    *d = s;
                }
                u64::from_be_bytes(b)
            };
            let mut vals: Vec<(u64, &str, usize)> =
                values.into_iter().map(|(v, i)| (prefix(v), v, i)).collect();
            vals.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            let take = |lists: &mut Vec<RoaringBitmap>, i: usize| {
                lists.get_mut(i).map(std::mem::take).unwrap_or_default()
            };
            let map = match p.by_name.get_mut(name) {
                Some(m) => m,
                None => p.by_name.entry(name.to_string()).or_default(),
            };
            if map.is_empty() {
                *map = vals
                    .into_iter()
                    .map(|(_, v, i)| (v.to_string(), take(&mut lists, i)))
                    .collect();
            } else {
                for (_, v, i) in vals {
                    let bm = take(&mut lists, i);
                    match map.get_mut(v) {
                        Some(have) => *have |= bm,
                        None => {
                            map.insert(v.to_string(), bm);
                        }
                    }
                }
            }
        }
    }

    fn note_times(&self, mint: i64, maxt: i64) {
        if mint <= maxt {
            self.min_time.fetch_min(mint, Ordering::Relaxed);
            self.max_time.fetch_max(maxt, Ordering::Relaxed);
        }
    }

    /// Replays `wal_dir` into the head: one thread reads, decompresses and decodes records,
    /// maps references to dense replay slots and buckets samples by slot (see `Grouper`),
    /// this one applies them, with a second applier thread for half the buckets of large
    /// sample batches when there is a second core. The series replay creates are indexed in
    /// bulk at the end.
    fn replay(&self, wal_dir: &Path, stats: &mut ReplayStats) -> Result<wal::ReadStats> {
        // Written by this thread for series records only while the second applier is idle.
        let ctx = RwLock::new(ReplayCtx::default());
        // Series created by replay, indexed in bulk at the end.
        let mut created = Vec::new();
        let res = std::thread::scope(|sc| {
            // Grouped batches are large: a short queue bounds what is in flight.
            let (tx, rx) = std::sync::mpsc::sync_channel::<ReplayMsg>(REPLAY_QUEUE);
            // Applied batches go back to the reader for reuse (at most the queue's worth
            // plus two exist), so their buffers are allocated once.
            let (spare_tx, spare_rx) = std::sync::mpsc::channel::<GroupedSamples>();
            let reader = sc.spawn(move || {
                // Samples records are gathered and grouped by series here (see `Grouper`);
                // any other record first sends what was gathered, so that the applier sees
                // every record in WAL order, as a record-by-record replay would.
                let mut grouper = Grouper::default();
                let flush = |grouper: &mut Grouper| {
                    if let Some(g) = grouper.take(spare_rx.try_recv().ok()) {
                        let _ = tx.send(ReplayMsg::Samples(g));
                    }
                };
                // A failed send means the applier stopped; reading on is pointless.
                let res = wal::read_dir(wal_dir, |rec| {
                    if rec.first() == Some(&record::RECORD_SAMPLES) {
                        if !grouper.add(rec) {
                            let _ = tx.send(ReplayMsg::Bad);
                        } else if grouper.full() {
                            flush(&mut grouper);
                        }
                        return Ok(());
                    }
                    flush(&mut grouper);
                    let _ = tx.send(match record::decode(rec) {
                        Ok(Record::Series(series)) => {
                            // Hashed here, off the applier's path.
                            let slots = series
                                .iter()
                                .map(|s| {
                                    (grouper.slots.assign(s.series_ref), series_hash(&s.labels))
                                })
                                .collect();
                            ReplayMsg::Series(series, slots)
                        }
                        Ok(r) => ReplayMsg::Record(r),
                        Err(_) => ReplayMsg::Bad,
                    });
                    Ok(())
                });
                flush(&mut grouper);
                res
            });
            // With a second core, a second applier takes the odd buckets of large batches
            // (see `replay_grouped`).
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let mut shard_thread = None;
            let shard = (cores > 1).then(|| {
                let (work_tx, work_rx) = std::sync::mpsc::channel::<Arc<GroupedSamples>>();
                let (done_tx, done_rx) = std::sync::mpsc::channel::<Applied>();
                let ctx = &ctx;
                shard_thread = Some(sc.spawn(move || {
                    let mut sort = BucketSort::default();
                    for g in work_rx {
                        let mut out = Applied::new();
                        let ctx = ctx.read();
                        for (b, bucket) in g.buckets.iter().enumerate() {
                            if b & 1 == 1 {
                                self.apply_bucket(
                                    bucket, b, g.shift, &ctx, true, &mut sort, &mut out,
                                );
                            }
                        }
                        drop(ctx);
                        // The batch goes back to the reader once both appliers let go of it.
                        drop(g);
                        if done_tx.send(out).is_err() {
                            break;
                        }
                    }
                }));
                Shard {
                    work: work_tx,
                    done: done_rx,
                }
            });
            let mut res = Ok(());
            let mut sort = BucketSort::default();
            for msg in rx {
                match msg {
                    ReplayMsg::Samples(g) => {
                        let g = Arc::new(g);
                        let res_g =
                            self.replay_grouped(&g, &ctx.read(), stats, shard.as_ref(), &mut sort);
                        if let Err(e) = res_g {
                            res = Err(e);
                            break;
                        }
                        if let Ok(g) = Arc::try_unwrap(g) {
                            let _ = spare_tx.send(g);
                        }
                    }
                    ReplayMsg::Series(series, slots) => {
                        self.replay_series(series, &slots, &mut ctx.write(), &mut created, stats)
                    }
                    ReplayMsg::Record(Record::Tombstones(_)) => stats.tombstones += 1,
                    // Samples records are always grouped; other types are not head data.
                    ReplayMsg::Record(_) => {}
                    ReplayMsg::Bad => stats.bad_records += 1,
                }
            }
            // Ends the second applier; joined here so that a panic there is an error.
            drop(shard);
            if shard_thread.is_some_and(|t| t.join().is_err()) && res.is_ok() {
                res = Err(Error::Config("WAL replay thread panicked"));
            }
            let read = reader
                .join()
                .unwrap_or(Err(Error::Config("WAL reader thread panicked")));
            res.and(read)
        });
        self.index_bulk(created);
        res
    }

    /// Appends one series' samples of a batch (in WAL order) under one lock, parking the
    /// chunks they complete in `out` when the head m-maps chunks.
    #[inline]
    fn apply_group(&self, ms: &Arc<MemSeries>, group: &[Pending], out: &mut Applied) {
        let mapped = self.mapper.is_some();
        let opts = &self.opts;
        let mut kept = 0u64;
        // Appended samples have increasing times: the first and last bound the group.
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        let mut d = ms.data.lock();
        let mut k = 0;
        while let Some(&Pending { t, v, seq, .. }) = group.get(k) {
            // Runs that need no cut take the short path.
            let took = d.append_run(group.get(k..).unwrap_or_default(), opts);
            if took > 0 {
                if kept == 0 {
                    lo = t;
                }
                if let Some(last) = group.get(k + took - 1) {
                    hi = last.t;
                }
                kept += took as u64;
                k += took;
                continue;
            }
            let mut parked = None;
            let cut = if mapped {
                Cut::Park(&mut parked)
            } else {
                Cut::Close
            };
            if d.append_with(t, v, opts, cut) {
                if kept == 0 {
                    lo = t;
                }
                hi = t;
                kept += 1;
            }
            if let Some(c) = parked {
                out.cuts.push((seq, ms.clone(), c));
            }
            k += 1;
        }
        ms.publish_last(&d);
        drop(d);
        out.kept += kept;
        out.dropped += group.len() as u64 - kept;
        out.mint = out.mint.min(lo);
        out.maxt = out.maxt.max(hi);
    }

    /// Sorts a bucket of a batch by slot (a counting sort within the bucket's few slots, in
    /// cache; stable, so each series' samples stay in WAL order) and applies each series'
    /// samples with [`apply_group`](Self::apply_group). When `sharded`, a series reached
    /// through another reference than its own id is left in `out.deferred`.
    #[allow(clippy::too_many_arguments)]
    fn apply_bucket(
        &self,
        bucket: &[Pending],
        b: usize,
        shift: u32,
        ctx: &ReplayCtx,
        sharded: bool,
        sort: &mut BucketSort,
        out: &mut Applied,
    ) {
        // Most buckets of a batch over many declared series are empty: no sort for them.
        if bucket.is_empty() {
            return;
        }
        if shift == 0 {
            // One slot per bucket: already a group.
            if let Some(first) = bucket.first() {
                self.apply_slot(first.slot, bucket, ctx, sharded, out);
            }
            return;
        }
        sort.sort(bucket, b, shift);
        let base = b << shift;
        let mut start = 0usize;
        // After the sort, each slot's count is the end of its samples.
        for (i, &end) in sort.counts.iter().enumerate().take(1 << shift) {
            let end = end as usize;
            if end > start {
                if let Some(group) = sort.sorted.get(start..end) {
                    self.apply_slot((base + i) as u32, group, ctx, sharded, out);
                }
            }
            start = end;
        }
    }

    /// Applies one series' samples of a batch (see [`apply_bucket`](Self::apply_bucket)).
    #[inline]
    fn apply_slot(
        &self,
        slot: u32,
        group: &[Pending],
        ctx: &ReplayCtx,
        sharded: bool,
        out: &mut Applied,
    ) {
        match ctx.get(slot) {
            None => out.dropped += group.len() as u64,
            Some((r, ms)) if sharded && ms.id != *r => {
                out.deferred.push((slot, group.to_vec()));
            }
            Some((_, ms)) => self.apply_group(ms, group, out),
        }
    }

    /// Applies a batch, bucket by bucket, each series' samples in WAL order: one lock and
    /// one pass over the series' open chunk per series and batch instead of per sample, which
    /// is what bounds replay (every sample otherwise takes a locked instruction on a
    /// different series, cold in cache). Samples of different series commute, so the head
    /// ends as a sample-by-sample replay leaves it. With a `shard`, a large batch's odd
    /// buckets are applied there meanwhile (a series' samples are all in one bucket, so
    /// always go to the same applier, and the next batch starts when both are done); a
    /// series reached through two references is applied here once the shard is done, so no
    /// series is ever appended to by both. The chunks cut meanwhile are m-mapped afterwards
    /// in the order of the samples that cut them, so `chunks_head/` is written in WAL order
    /// too.
    fn replay_grouped(
        &self,
        g: &Arc<GroupedSamples>,
        ctx: &ReplayCtx,
        stats: &mut ReplayStats,
        shard: Option<&Shard>,
        sort: &mut BucketSort,
    ) -> Result<()> {
        let mut out = Applied::new();
        let shard = shard.filter(|_| g.n >= SHARD_MIN);
        if let Some(sh) = shard {
            if sh.work.send(g.clone()).is_err() {
                return Err(Error::Config("WAL replay thread stopped"));
            }
        }
        let sharded = shard.is_some();
        out.dropped += g.unknown;
        for (b, bucket) in g.buckets.iter().enumerate() {
            if !(sharded && b & 1 == 1) {
                self.apply_bucket(bucket, b, g.shift, ctx, sharded, sort, &mut out);
            }
        }
        if let Some(sh) = shard {
            let Ok(mut theirs) = sh.done.recv() else {
                return Err(Error::Config("WAL replay thread stopped"));
            };
            out.kept += theirs.kept;
            out.dropped += theirs.dropped;
            out.mint = out.mint.min(theirs.mint);
            out.maxt = out.maxt.max(theirs.maxt);
            out.cuts.append(&mut theirs.cuts);
            let mut deferred = std::mem::take(&mut out.deferred);
            deferred.append(&mut theirs.deferred);
            deferred.sort_by_key(|d| d.0);
            for (slot, group) in deferred {
                if let Some((_, ms)) = ctx.get(slot) {
                    self.apply_group(ms, &group, &mut out);
                }
            }
        }
        stats.samples += out.kept;
        stats.dropped += out.dropped;
        self.note_times(out.mint, out.maxt);
        if let Some(m) = &self.mapper {
            // Completed chunks go to the memory-mapped file in the order a sample-by-sample
            // replay would have cut them; if writing fails they stay on the heap.
            // A series' own chunks are closed in the order they were cut, so its closed list
            // stays in time order.
            out.cuts.sort_unstable_by_key(|c| c.0);
            let chunks: Vec<(u64, i64, i64, &[u8])> = out
                .cuts
                .iter()
                .map(|(_, ms, c)| (ms.id, c.mint, c.maxt, c.chunk.bytes()))
                .collect();
            let mut views = Vec::new();
            m.write_many(&chunks, &mut views);
            drop(chunks);
            for ((_, ms, c), view) in out.cuts.into_iter().zip(views) {
                let data = match view {
                    Some(view) => view,
                    None => ChunkData::heap(c.chunk.into_bytes()),
                };
                ms.data.lock().closed.push(ClosedChunk {
                    mint: c.mint,
                    maxt: c.maxt,
                    data,
                });
            }
        }
        Ok(())
    }

    /// Creates (or finds) the series of a series record; `slots` are the replay slots the
    /// reader gave their references, with their hashes. Created series are added to
    /// `created`, to be indexed in bulk.
    fn replay_series(
        &self,
        series: Vec<record::RefSeries>,
        slots: &[(u32, u64)],
        ctx: &mut ReplayCtx,
        created: &mut Vec<Arc<MemSeries>>,
        stats: &mut ReplayStats,
    ) {
        for (s, &(slot, h)) in series.iter().zip(slots) {
            match self.get_or_create_hashed(&s.labels, h, Some(s.series_ref), false) {
                Ok((ms, new)) => {
                    if new {
                        stats.series += 1;
                        created.push(ms.clone());
                    }
                    ctx.insert(slot, s.series_ref, ms);
                }
                Err(_) => stats.bad_records += 1,
            }
        }
    }

    /// Drops everything older than `mint`, as Prometheus does after persisting a block: chunks
    /// ending before `mint` are released, series left without chunks (and without
    /// uncommitted samples) are removed from the registry and the index, later appends older
    /// than `mint` are rejected, and the WAL is checkpointed: the older two thirds of its
    /// segments are replaced by a checkpoint holding the live series and samples `>= mint`.
    pub fn truncate(&self, mint: i64) -> Result<TruncateStats> {
        self.set_min_valid_time(mint);
        let mut stats = TruncateStats::default();
        let mut removed: Vec<Arc<MemSeries>> = Vec::new();
        for stripe in self.by_hash.iter() {
            let mut stripe = stripe.write();
            stripe.retain(|_, list| {
                list.retain(|s| {
                    let mut d = s.data.lock();
                    let before = d.closed.len();
                    d.closed.retain(|c| c.maxt >= mint);
                    stats.chunks_removed += (before - d.closed.len()) as u64;
                    if d.open.as_ref().is_some_and(|c| c.maxt < mint) {
                        d.open = None;
                        stats.chunks_removed += 1;
                    }
                    // An uncommitted appender (or a reader) holds the series: kept. Checked
                    // under the stripe's write lock, so no appender finds it by labels
                    // meanwhile.
                    let collect = d.closed.is_empty()
                        && d.open.is_none()
                        && Arc::strong_count(s) <= REGISTRY_REFS;
                    drop(d);
                    if collect {
                        removed.push(s.clone());
                        false
                    } else {
                        true
                    }
                });
                !list.is_empty()
            });
        }
        if !removed.is_empty() {
            let mut p = self.postings.write();
            for s in &removed {
                self.by_id[s.id as usize % STRIPES]
                    .write()
                    .remove(s.id as usize / STRIPES);
                let Ok(id32) = u32::try_from(s.id) else {
                    continue;
                };
                p.all.remove(id32);
                for l in s.labels.iter() {
                    let Some(values) = p.by_name.get_mut(l.name) else {
                        continue;
                    };
                    if let Some(bm) = values.get_mut(l.value) {
                        bm.remove(id32);
                        if bm.is_empty() {
                            values.remove(l.value);
                        }
                    }
                    if values.is_empty() {
                        p.by_name.remove(l.name);
                    }
                }
            }
            self.num_series
                .fetch_sub(removed.len() as u64, Ordering::Relaxed);
        }
        stats.series_removed = removed.len() as u64;
        if let Some(m) = &self.mapper {
            stats.chunk_files_removed = m.truncate(mint)?;
        }
        if self.min_time.load(Ordering::Relaxed) < mint
            && self.max_time.load(Ordering::Relaxed) != i64::MIN
        {
            self.min_time.store(mint, Ordering::Relaxed);
        }
        if let Some(w) = &self.wal {
            let (dir, last) = {
                let mut w = w.lock();
                let current = w.wal.segment();
                w.wal.next_segment()?;
                (w.wal.dir().to_path_buf(), current)
            };
            let first = crate::block::numbered_files(&dir)?
                .first()
                .map_or(0, |(n, _)| *n);
            // Never the segment being written; the older two thirds, as Prometheus.
            if let Some(last) = last.checked_sub(1) {
                let last = first + last.saturating_sub(first) * 2 / 3;
                if last > first {
                    stats.checkpoint = Some(wal::checkpoint(
                        &dir,
                        first,
                        last,
                        |id| self.series_by_id(id).is_some(),
                        mint,
                        &self.opts.wal,
                    )?);
                }
            }
        }
        Ok(stats)
    }

    /// Logs deleted intervals of head series to the WAL as one tombstones record, as
    /// Prometheus' `Head.Delete` does (the database keeps them and hides the samples; replay
    /// counts them in [`ReplayStats::tombstones`]). Does nothing without a WAL.
    pub fn log_tombstones(&self, stones: &[record::Stone]) -> Result<()> {
        let Some(w) = &self.wal else {
            return Ok(());
        };
        if stones.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(stones.len() * 20 + 1);
        record::encode_tombstones(stones, &mut buf);
        w.lock().wal.log(&[&buf])
    }

    /// Flushes and syncs the WAL and pads its last page (as Prometheus does on shutdown).
    pub fn close(self) -> Result<()> {
        match self.wal {
            Some(w) => w.into_inner().wal.close(),
            None => Ok(()),
        }
    }

    /// The ids matching every matcher, using postings (exact and set lookups, literal prefix
    /// range scans, value scans otherwise).
    pub(crate) fn postings_for(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let p = self.postings.read();
        let mut result: Option<RoaringBitmap> = None;
        let mut subtract: Vec<RoaringBitmap> = Vec::new();
        for m in matchers {
            let values = p.by_name.get(m.name());
            if m.matches_empty() {
                let mut bad = RoaringBitmap::new();
                if let Some(vals) = values {
                    for (v, bm) in vals {
                        if !m.matches(v) {
                            bad |= bm;
                        }
                    }
                }
                subtract.push(bad);
                continue;
            }
            let mut set = RoaringBitmap::new();
            if let Some(vals) = values {
                if let Some(list) = m.set_matches() {
                    for v in list {
                        if let Some(bm) = vals.get(v) {
                            set |= bm;
                        }
                    }
                } else if let Some(prefix) = m
                    .regex()
                    .and_then(|r| r.literal_prefix())
                    .filter(|_| m.match_type() == lookout_model::MatchType::Regex)
                {
                    for (v, bm) in vals.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                    {
                        if !v.starts_with(prefix) {
                            break;
                        }
                        if m.matches(v) {
                            set |= bm;
                        }
                    }
                } else {
                    for (v, bm) in vals {
                        if m.matches(v) {
                            set |= bm;
                        }
                    }
                }
            }
            result = Some(match result {
                None => set,
                Some(r) => r & set,
            });
            if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                return RoaringBitmap::new();
            }
        }
        let mut r = result.unwrap_or_else(|| p.all.clone());
        for s in subtract {
            r -= s;
        }
        r
    }
}

/// What the WAL reader thread hands the applier during replay, in WAL order.
#[derive(Debug)]
enum ReplayMsg {
    /// A series record, with the replay slot (see [`Slots`]) and [`series_hash`] of each
    /// series.
    Series(Vec<record::RefSeries>, Vec<(u32, u64)>),
    /// A record other than series and samples.
    Record(Record),
    /// The samples of consecutive samples records, grouped by series.
    Samples(GroupedSamples),
    /// A record that did not decode.
    Bad,
}

/// Samples of consecutive samples records in buckets of neighbouring replay slots (see
/// [`Grouper`]), each bucket in WAL order. Reused from batch to batch.
#[derive(Debug, Default)]
struct GroupedSamples {
    /// Bucket `b` holds the samples of slots `b << shift .. (b + 1) << shift`.
    buckets: Vec<Vec<Pending>>,
    shift: u32,
    /// Samples in the buckets.
    n: usize,
    /// Samples of references no series record had declared (dropped).
    unknown: u64,
}

/// An applier's scratch space for sorting a bucket.
#[derive(Debug, Default)]
struct BucketSort {
    counts: Vec<u32>,
    sorted: Vec<Pending>,
}

impl BucketSort {
    /// Sorts bucket `b`'s samples into `sorted` by slot, each slot's in WAL order (a
    /// counting sort over the bucket's `1 << shift` slots); then `counts[i]` is the end of
    /// slot `(b << shift) + i`'s samples.
    fn sort(&mut self, bucket: &[Pending], b: usize, shift: u32) {
        let base = b << shift;
        let span = 1usize << shift;
        let counts = &mut self.counts;
        counts.clear();
        counts.resize(span + 1, 0);
        for p in bucket {
            if let Some(c) = counts.get_mut((p.slot as usize).wrapping_sub(base) + 1) {
                *c += 1;
            }
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            sum += *c;
            *c = sum;
        }
        self.sorted.clear();
        self.sorted.resize(bucket.len(), Pending::ZERO);
        for p in bucket {
            if let Some(c) = counts.get_mut((p.slot as usize).wrapping_sub(base)) {
                if let Some(dst) = self.sorted.get_mut(*c as usize) {
                    *dst = *p;
                }
                *c += 1;
            }
        }
    }
}

/// What applying samples did: counts, time range and the chunks completed (with the
/// position of the sample that completed each), for `chunks_head/`.
#[derive(Debug)]
struct Applied {
    kept: u64,
    dropped: u64,
    mint: i64,
    maxt: i64,
    cuts: Vec<(u32, Arc<MemSeries>, OpenChunk)>,
    /// Series' samples (by slot) left for the main applier.
    deferred: Vec<(u32, Vec<Pending>)>,
}

impl Applied {
    fn new() -> Applied {
        Applied {
            kept: 0,
            dropped: 0,
            mint: i64::MAX,
            maxt: i64::MIN,
            cuts: Vec::new(),
            deferred: Vec::new(),
        }
    }
}

/// The second replay applier's channels.
#[derive(Debug)]
struct Shard {
    work: std::sync::mpsc::Sender<Arc<GroupedSamples>>,
    done: std::sync::mpsc::Receiver<Applied>,
}

/// Batches smaller than this are applied by one thread (handing over costs more).
const SHARD_MIN: usize = 1 << 13;

/// Gathers decoded samples into buckets of neighbouring replay slots as they are decoded:
/// a few hundred append points, all in cache, where one group per series would scatter
/// writes over the whole batch. The appliers then sort each bucket by slot within the
/// bucket's few slots (see [`Head::apply_bucket`]).
#[derive(Debug, Default)]
struct Grouper {
    /// The gathered samples by bucket (`slot >> shift`), each in WAL order.
    buckets: Vec<Vec<Pending>>,
    /// Buckets span `1 << shift` slots; set when a batch starts (slots are only declared
    /// between batches).
    shift: u32,
    /// Samples gathered.
    n: usize,
    /// Samples of undeclared references in this batch.
    unknown: u64,
    /// The replay slots of the references series records declared so far.
    slots: Slots,
    /// Samples per bucket in the previous batch: new buckets start with this capacity.
    per_bucket: usize,
}

/// A gathered sample: its slot, position in the batch (WAL order), time and value.
#[derive(Debug, Clone, Copy)]
struct Pending {
    slot: u32,
    seq: u32,
    t: i64,
    v: f64,
}

impl Pending {
    const ZERO: Pending = Pending {
        slot: 0,
        seq: 0,
        t: 0,
        v: 0.0,
    };
}

/// The most buckets a [`Grouper`] uses when buckets hold several slots: few enough that
/// the append points of all stay in the first-level cache.
const BUCKET_BITS: u32 = 8;

/// The most buckets of one slot each a [`Grouper`] uses: sorting buckets costs more than the
/// cache misses of this many append points.
const SLOT_BUCKETS: u32 = 10;

/// Samples gathered before a batch is grouped and applied (a few scrapes of a large head).
const REPLAY_BATCH: usize = 1 << 16;

/// A batch grows past [`REPLAY_BATCH`] until the series declared average this many samples
/// each, up to [`REPLAY_BATCH_MAX`]: one lock and one pass over a series' state (cold in
/// cache with many series) per series and batch pay off only with many samples.
const REPLAY_GROUP_MIN: usize = 32;

/// The most samples a batch gathers (24 MiB).
const REPLAY_BATCH_MAX: usize = 1 << 20;

/// Batches and records queued between the WAL reader and the applier.
const REPLAY_QUEUE: usize = 8;

/// WAL references → replay slots: every reference a series record declares gets the next
/// slot (a reference declared again keeps its slot), so slots are dense whatever the
/// references, and grouping and lookups index plain vectors. References below
/// [`DENSE_REFS`] (all a head hands out in practice) are looked up in a vector.
#[derive(Debug, Default)]
struct Slots {
    /// Slot + 1 by reference (0: none).
    dense: Vec<u32>,
    sparse: FxHashMap<u64, u32>,
    next: u32,
    /// The reference of each slot: samples mostly follow the order series were declared
    /// in, so the slot after the previous sample's is checked here first (a sequential
    /// read instead of a lookup at a random place).
    refs: Vec<u64>,
}

/// References below this are mapped by a vector (at most 16 MiB).
const DENSE_REFS: u64 = 1 << 22;

impl Slots {
    /// The slot of `r`, given the next free one if it has none.
    fn assign(&mut self, r: u64) -> u32 {
        if let Some(s) = self.get(r) {
            return s;
        }
        let s = self.next;
        // More than 2^32 series do not fit in memory; the last slot is shared, not wrapped.
        self.next = self.next.saturating_add(1);
        if self.refs.len() <= s as usize {
            self.refs.push(r);
        }
        if r < DENSE_REFS {
            let i = r as usize;
            if self.dense.len() <= i {
                let n = (i + 1).max(self.dense.len() * 2).min(DENSE_REFS as usize);
                self.dense.resize(n, 0);
            }
            if let Some(d) = self.dense.get_mut(i) {
                *d = s.saturating_add(1);
            }
        } else {
            self.sparse.insert(r, s);
        }
        s
    }

    /// The slot of `r`, if a series record declared it, trying the slot after `prev` first.
    #[inline(always)]
    fn get_after(&self, prev: u32, r: u64) -> Option<u32> {
        let next = prev.wrapping_add(1);
        if self.refs.get(next as usize) == Some(&r) {
            return Some(next);
        }
        self.get(r)
    }

    /// The slot of `r`, if a series record declared it.
    #[inline]
    fn get(&self, r: u64) -> Option<u32> {
        if r < DENSE_REFS {
            match self.dense.get(r as usize) {
                Some(&d) if d != 0 => Some(d - 1),
                _ => None,
            }
        } else {
            self.sparse.get(&r).copied()
        }
    }
}

impl Grouper {
    /// Whether the batch is due: big enough, and either the series declared have several
    /// samples each on average or it has reached its limit.
    fn full(&self) -> bool {
        let n = self.n;
        n >= REPLAY_BATCH
            && (n >= REPLAY_GROUP_MIN * self.slots.next as usize || n >= REPLAY_BATCH_MAX)
    }

    /// Decodes samples record `rec` into the batch; false (and the batch as before) when it
    /// does not decode.
    fn add(&mut self, rec: &[u8]) -> bool {
        if self.n == 0 {
            // One slot per bucket (nothing to sort) while there are at most 2^SLOT_BUCKETS
            // slots, else at most 2^BUCKET_BITS buckets over the slots declared so far.
            let bits = u32::BITS - self.slots.next.leading_zeros();
            self.shift = if bits <= SLOT_BUCKETS {
                0
            } else {
                bits.saturating_sub(BUCKET_BITS)
            };
            let want = (self.slots.next as usize >> self.shift) + 1;
            if self.buckets.len() < want {
                self.buckets.resize_with(want, Vec::new);
            }
            // Fresh buckets (no used batch came back yet) start at the previous batch's size.
            let per = self.per_bucket;
            for b in self.buckets.iter_mut().filter(|b| b.capacity() == 0) {
                b.reserve(per);
            }
        }
        let before = self.n;
        let unknown_before = self.unknown;
        let Grouper {
            buckets,
            shift,
            n,
            unknown,
            slots,
            ..
        } = self;
        let shift = *shift;
        let mut prev = u32::MAX;
        // Slots are only declared between batches, so every slot found has its bucket
        // (sized above); anything else would be dropped as unknown.
        let res = record::for_each_sample(
            rec,
            #[inline(always)]
            |s| {
                let found = slots
                    .get_after(prev, s.series_ref)
                    .and_then(|slot| Some((slot, buckets.get_mut(slot as usize >> shift)?)));
                let Some((slot, bucket)) = found else {
                    *unknown += 1;
                    return;
                };
                prev = slot;
                bucket.push(Pending {
                    slot,
                    seq: *n as u32,
                    t: s.t,
                    v: s.v,
                });
                *n += 1;
            },
        );
        if res.is_ok() {
            return true;
        }
        // The record's samples are at the end of their buckets.
        for bucket in buckets.iter_mut() {
            while bucket.last().is_some_and(|p| p.seq as usize >= before) {
                bucket.pop();
            }
        }
        *n = before;
        *unknown = unknown_before;
        false
    }

    /// The gathered samples, handed over in `spare` (a used batch) if given; `None` when
    /// there are none.
    fn take(&mut self, spare: Option<GroupedSamples>) -> Option<GroupedSamples> {
        if self.n == 0 && self.unknown == 0 {
            return None;
        }
        let mut g = spare.unwrap_or_default();
        for b in &mut g.buckets {
            b.clear();
        }
        std::mem::swap(&mut g.buckets, &mut self.buckets);
        self.per_bucket = self.n / g.buckets.len().max(1) + 1;
        g.shift = self.shift;
        g.n = std::mem::take(&mut self.n);
        g.unknown = std::mem::take(&mut self.unknown);
        Some(g)
    }
}

/// Replay slot → the WAL reference and its series.
#[derive(Debug, Default)]
struct ReplayCtx {
    by_slot: Vec<Option<(u64, Arc<MemSeries>)>>,
}

impl ReplayCtx {
    fn insert(&mut self, slot: u32, r: u64, s: Arc<MemSeries>) {
        let i = slot as usize;
        if self.by_slot.len() <= i {
            self.by_slot.resize(i + 1, None);
        }
        if let Some(e) = self.by_slot.get_mut(i) {
            *e = Some((r, s));
        }
    }

    #[inline]
    fn get(&self, slot: u32) -> Option<&(u64, Arc<MemSeries>)> {
        self.by_slot.get(slot as usize).and_then(Option::as_ref)
    }
}

/// A batch of appends: samples are checked as they are added and become visible (and
/// durable in the WAL) together on [`commit`](Appender::commit). Dropping it without commit is
/// a rollback.
#[derive(Debug)]
pub struct Appender<'h> {
    head: &'h Head,
    min_valid: Option<i64>,
    /// The id under which this appender is registered as open with samples.
    open_id: Option<u64>,
    created: Vec<Arc<MemSeries>>,
    samples: Batch,
}

impl Appender<'_> {
    /// Appends a sample to the series with `labels` (created if new), returning its reference
    /// for [`append_ref`](Appender::append_ref).
    pub fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<SeriesRef> {
        let (s, created) = self.head.get_or_create(labels, None)?;
        if created {
            // Held until commit or rollback, so truncation keeps it.
            self.created.push(s.clone());
        }
        let r = SeriesRef(s.id);
        self.push(s, t, v)?;
        Ok(r)
    }

    /// Appends a sample to a series known by reference: the fast path, no label hashing.
    #[inline]
    pub fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<()> {
        // Not `ok_or`: that builds (and drops) an error for every sample.
        let Some(s) = self.head.series_by_id(series.0) else {
            return Err(Error::UnknownSeries(series.0));
        };
        self.push(s, t, v)
    }

    #[inline]
    fn min_valid(&mut self) -> i64 {
        match self.min_valid {
            Some(m) => m,
            None => self.register(),
        }
    }

    /// Registers the appender as open (once) and reads its lower time bound, which is fixed
    /// once the head has a time range.
    #[cold]
    #[inline(never)]
    fn register(&mut self) -> i64 {
        let head = self.head;
        // The bound is read and registered under the lock `Head::close_range_below` takes,
        // so a head cut either sees this appender or has already raised the floor read here.
        let mut open = head.appenders.lock();
        let max = head.max_time.load(Ordering::Relaxed);
        let floor = head.min_valid_time.load(Ordering::Relaxed);
        let bound = if max == i64::MIN {
            // Prometheus' initAppender: no bound until the head has a time range.
            floor
        } else {
            floor.max(max.saturating_sub(head.opts.chunk_range / 2))
        };
        if self.open_id.is_none() {
            let id = open.next_id;
            open.next_id += 1;
            open.open.push((id, bound));
            self.open_id = Some(id);
        }
        if max != i64::MIN {
            self.min_valid = Some(bound);
        }
        bound
    }

    #[inline]
    fn push(&mut self, s: Arc<MemSeries>, t: i64, v: f64) -> Result<()> {
        if t < self.min_valid() {
            return Err(Error::OutOfBounds);
        }
        // A sample after the newest needs no lock (the common case); a series' times only
        // grow, so a stale read only sends a sample to the locked check. Whatever a
        // concurrent commit adds meanwhile, commit drops what is no longer in order.
        let lt = s.last_t.load(Ordering::Relaxed);
        if lt == i64::MIN || t <= lt {
            s.data.lock().appendable(t, v)?;
        }
        self.samples.push((s, t, v));
        Ok(())
    }

    /// The number of samples in the batch.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the batch holds no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Writes the batch to the WAL (series records for new series, then one samples record)
    /// and makes it visible. When this returns `Ok`, a crash of the process loses none of it.
    /// On a WAL error nothing of the batch is applied.
    pub fn commit(mut self) -> Result<()> {
        let head = self.head;
        if let Some(w) = &head.wal {
            // Buffers and the snappy encoder are reused from commit to commit of a thread.
            let mut sc = SCRATCH
                .try_with(Cell::take)
                .ok()
                .flatten()
                .unwrap_or_else(|| Box::new(CommitScratch::new()));
            let res = self.log(w, &mut sc);
            sc.samples.trim();
            sc.series.trim();
            let _ = SCRATCH.try_with(|c| c.set(Some(sc)));
            res?;
        }
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        let mut kept = 0u64;
        // Taken out so that `Drop` finds an empty batch.
        let mut samples = std::mem::take(&mut self.samples);
        let n = samples.len() as u64;
        // Chunks completed meanwhile go to the heap first (so they stay visible) and to
        // `chunks_head/` afterwards, all with one write.
        let mapped = head.mapper.is_some();
        // The series that completed a chunk (written to `chunks_head/` after the loop).
        let mut cuts: Vec<Arc<MemSeries>> = Vec::new();
        // Draining releases each series' reference right after its append, while its cache
        // line is still at hand, rather than in a second pass over the batch. The series a
        // few samples ahead is read early, so its lock word is in cache when its turn comes.
        const AHEAD: usize = 6;
        let mut batch = samples.drain(..);
        while let Some((s, t, v)) = batch.next() {
            if let Some((next, _, _)) = batch.as_slice().get(AHEAD) {
                std::hint::black_box(next.last_t.load(Ordering::Relaxed));
            }
            let mut d = s.data.lock();
            let closed = d.closed.len();
            if d.append(t, v, &head.opts) {
                s.last_t.store(t, Ordering::Relaxed);
                kept += 1;
                mint = mint.min(t);
                maxt = maxt.max(t);
            }
            if mapped && d.closed.len() > closed {
                drop(d);
                cuts.push(s);
            }
        }
        drop(batch);
        if let (Some(m), false) = (&head.mapper, cuts.is_empty()) {
            map_cuts(m, cuts);
        }
        head.note_times(mint, maxt);
        head.samples.fetch_add(kept, Ordering::Relaxed);
        head.dropped.fetch_add(n - kept, Ordering::Relaxed);
        // Empty, handed back for reuse by `Drop`.
        self.samples = samples;
        Ok(())
    }

    /// Logs the batch: series records for new series, then one samples record.
    fn log(&self, w: &Mutex<WalState>, sc: &mut CommitScratch) -> Result<()> {
        let compress = self.head.opts.wal.compress;
        let CommitScratch {
            samples: ss,
            series: sr,
        } = sc;
        // Encode and compress the samples outside the WAL lock; only series records (rare)
        // are decided under it, so a series record always precedes its first samples.
        let samples = if self.samples.is_empty() {
            None
        } else {
            ss.rec.clear();
            record::encode_samples(
                self.samples.iter().map(|(s, t, v)| RefSample {
                    series_ref: s.id,
                    t: *t,
                    v: *v,
                }),
                &mut ss.rec,
            );
            Some(ss.prepare(compress))
        };
        // The series that may still need a series record, found outside the lock: a series
        // marked logged stays so unless a WAL write fails, and a failed write counts itself
        // in `log_failures` under the lock, so a changed count means looking again.
        let failures = self.head.log_failures.load(Ordering::Acquire);
        let unlogged = || -> Vec<&MemSeries> {
            self.created
                .iter()
                .map(|s| &**s)
                .chain(
                    self.samples
                        .iter()
                        .map(|(s, _, _)| &**s)
                        .filter(|s| !s.logged.load(Ordering::Relaxed)),
                )
                .collect()
        };
        let mut maybe = unlogged();
        let mut w = w.lock();
        if self.head.log_failures.load(Ordering::Relaxed) != failures {
            maybe = unlogged();
        }
        let mut new_series: Vec<&MemSeries> = Vec::new();
        for s in maybe {
            if !s.logged.swap(true, Ordering::Relaxed) {
                new_series.push(s);
            }
        }
        let series = if new_series.is_empty() {
            None
        } else {
            sr.rec.clear();
            record::encode_series(new_series.iter().map(|s| (s.id, &s.labels)), &mut sr.rec);
            Some(sr.prepare(compress))
        };
        let res = match (series, samples) {
            (Some(a), Some(b)) => w.wal.log_raw(&[a, b]),
            (Some(a), None) | (None, Some(a)) => w.wal.log_raw(&[a]),
            (None, None) => w.wal.log_raw(&[]),
        };
        if res.is_err() {
            for s in new_series {
                s.logged.store(false, Ordering::Relaxed);
            }
            // Release: whoever reads the new count (with Acquire) also sees the flags reset.
            self.head.log_failures.fetch_add(1, Ordering::Release);
        }
        drop(w);
        res
    }

    /// Discards the batch. Series it created stay in the head (empty), as in Prometheus.
    pub fn rollback(self) {}
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.open_id.take() {
            let mut open = self.head.appenders.lock();
            open.open.retain(|&(i, _)| i != id);
            drop(open);
            self.head.appender_done.notify_all();
        }
        let mut batch = std::mem::take(&mut self.samples);
        if batch.capacity() <= BATCH_KEEP {
            batch.clear();
            let _ = BATCH.try_with(|b| {
                let old = b.take();
                b.set(if old.capacity() >= batch.capacity() {
                    old
                } else {
                    batch
                });
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_model::{parse_selector, Querier, SampleIterator, SelectHints, ValueKind};

    #[test]
    fn closed_chunk_entries_stay_small() {
        // An active series keeps its last hours of completed chunks in the head (six or
        // more at a 15 s scrape interval): each entry counts against the per-series budget.
        assert_eq!(size_of::<ChunkData>(), 16);
        assert_eq!(size_of::<ClosedChunk>(), 32);
    }

    fn ls(s: &str) -> Labels {
        s.parse().unwrap()
    }

    #[test]
    fn chunks_of_a_series_reach_chunks_head_in_time_order() {
        // Two commits each complete a chunk of one series; the later chunk's commit maps
        // first. Both chunks must reach the file, older first, and the second call must
        // not write them again.
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let (head, _) = Head::open(tmp.path(), HeadOptions::default()).unwrap();
        let (s, _) = head.get_or_create(&ls("m"), None).unwrap();
        let chunk = |from: i64| {
            let mut c = XorChunk::new();
            for t in from..from + 5 {
                c.append(t, t as f64).unwrap();
            }
            ChunkData::heap(c.into_bytes())
        };
        for from in [0, 10] {
            s.data.lock().closed.push(ClosedChunk {
                mint: from,
                maxt: from + 4,
                data: chunk(from),
            });
        }
        let m = head.mapper.as_ref().unwrap();
        // The commit that completed the later chunk first, then the other.
        map_cuts(m, vec![s.clone()]);
        map_cuts(m, vec![s.clone()]);
        let recs = crate::head_chunks::read_head_chunks(&tmp.path().join("chunks_head")).unwrap();
        let order: Vec<(u64, i64)> = recs.iter().map(|r| (r.series_ref, r.mint)).collect();
        assert_eq!(order, vec![(s.id, 0), (s.id, 10)]);
        assert!(s.data.lock().closed.iter().all(|c| c.data.is_mapped()));
        assert_eq!(
            head.chunks(SeriesRef(s.id)).unwrap().len(),
            2,
            "both chunks still there"
        );
    }

    #[test]
    fn open_chunk_heap_bytes_counts_every_open_buffer() {
        let head = Head::new(HeadOptions::default());
        assert_eq!(head.open_chunk_heap_bytes(), 0);
        let mut a = head.appender();
        for i in 0..3 {
            for t in 0..50 {
                a.append(&ls(&format!("m{{i=\"{i}\"}}")), t * 15_000, t as f64 * 0.37)
                    .unwrap();
            }
        }
        a.commit().unwrap();
        let mut len = 0;
        for i in 0..3 {
            let r = head.series_ref(&ls(&format!("m{{i=\"{i}\"}}"))).unwrap();
            let cs = head.chunks(r).unwrap();
            assert_eq!(cs.len(), 1);
            len += cs[0].data.len() as u64;
        }
        // At least the bytes written, and no more than the bytes plus the room reserved
        // ahead of them (one buffer per series).
        let n = head.open_chunk_heap_bytes();
        assert!(n >= len && n <= len + 3 * 256, "{n} for {len} chunk bytes");
    }

    #[test]
    fn out_of_order_and_duplicates_as_prometheus() {
        let head = Head::new(HeadOptions::default());
        let mut a = head.appender();
        let r = a.append(&ls("a"), 1000, 1.0).unwrap();
        a.commit().unwrap();
        let mut a = head.appender();
        assert!(matches!(
            a.append_ref(r, 999, 1.0),
            Err(Error::OutOfOrderSample)
        ));
        assert!(matches!(
            a.append_ref(r, 1000, 2.0),
            Err(Error::DuplicateSample)
        ));
        a.append_ref(r, 1000, 1.0).unwrap(); // exact duplicate: accepted, then dropped
        assert!(matches!(
            a.append_ref(SeriesRef(99), 1, 1.0),
            Err(Error::UnknownSeries(99))
        ));
        // Older than max - chunkRange/2.
        assert!(matches!(
            a.append(&ls("b"), 1000 - 3_600_001, 1.0),
            Err(Error::OutOfBounds)
        ));
        a.commit().unwrap();
        assert_eq!(head.stats().samples, 1);
        assert_eq!(head.stats().dropped, 1);
        // NaN duplicates compare by bits.
        let mut a = head.appender();
        a.append_ref(r, 2000, f64::NAN).unwrap();
        a.commit().unwrap();
        let mut a = head.appender();
        a.append_ref(r, 2000, f64::NAN).unwrap();
        assert!(matches!(
            a.append_ref(r, 2000, lookout_model::stale_nan()),
            Err(Error::DuplicateSample)
        ));
        assert!(head.appender().append(&Labels::empty(), 1, 1.0).is_err());
    }

    fn chunk_sizes(head: &Head, r: SeriesRef) -> Vec<usize> {
        head.chunks(r)
            .unwrap()
            .iter()
            .map(|c| crate::xor::xor_num_samples(&c.data).unwrap())
            .collect()
    }

    #[test]
    fn chunk_cutting_matches_format_doc() {
        // 400 samples at 15 s from 1700000000000: 143/142/115 (format doc §3.3).
        let head = Head::new(HeadOptions::default());
        let start = 1_700_000_000_000i64;
        let mut r = None;
        let mut t = start;
        while t < start + 400 * 15_000 {
            let mut a = head.appender();
            r = Some(a.append(&ls("x"), t, 1.0).unwrap());
            a.commit().unwrap();
            t += 15_000;
        }
        assert_eq!(chunk_sizes(&head, r.unwrap()), [143, 142, 115]);
        // 100 ms scrapes from 0: at 30 samples maxt = 2900, n = 7200000 / (2901 * 4) = 620,
        // nextAt = 7200000 / 620 = 11612, so samples 0..=11600: 117 per chunk.
        let head = Head::new(HeadOptions::default());
        let mut a = head.appender();
        let r = a.append(&ls("y"), 0, 0.0).unwrap();
        for i in 1..1000 {
            a.append_ref(r, i * 100, 0.0).unwrap();
        }
        a.commit().unwrap();
        assert_eq!(chunk_sizes(&head, r)[0], 117);
        // Never more than 240 per chunk when the rate jumps.
        let head = Head::new(HeadOptions::default());
        let mut a = head.appender();
        let r = a.append(&ls("z"), 0, 0.0).unwrap();
        for i in 1..31 {
            a.append_ref(r, i * 60_000, 0.0).unwrap();
        }
        for i in 0..1000 {
            a.append_ref(r, 31 * 60_000 + i, 0.0).unwrap();
        }
        a.commit().unwrap();
        assert!(chunk_sizes(&head, r).iter().all(|&n| n <= 240));
        assert_eq!(chunk_sizes(&head, r).iter().sum::<usize>(), 1031);
    }

    #[test]
    fn select_with_matchers_and_ranges() {
        let head = Head::new(HeadOptions::default());
        let mut a = head.appender();
        for (s, n) in [
            (r#"up{job="api",instance="a"}"#, 10),
            (r#"up{job="api",instance="b"}"#, 20),
            (r#"up{job="db"}"#, 30),
            (r#"http_requests_total{job="api",code="200"}"#, 40),
            (r#"http_requests_total{job="api",code="500"}"#, 50),
        ] {
            let r = a.append(&ls(s), 0, n as f64).unwrap();
            for i in 1..500 {
                a.append_ref(r, i * 15_000, (n + i) as f64).unwrap();
            }
        }
        a.commit().unwrap();
        let q = |sel: &str, mint: i64, maxt: i64| -> Vec<(String, usize, Option<i64>)> {
            let ms = parse_selector(sel).unwrap();
            head.select(mint, maxt, &ms, &SelectHints::default())
                .unwrap()
                .map(|s| {
                    let s = s.unwrap();
                    let mut it = s.iter();
                    let mut n = 0;
                    let mut first = None;
                    while it.next() == ValueKind::Float {
                        first.get_or_insert(it.at().t);
                        n += 1;
                    }
                    assert!(it.err().is_none());
                    (s.labels().to_string(), n, first)
                })
                .collect()
        };
        let all = q(r#"{job=~".+"}"#, i64::MIN, i64::MAX);
        assert_eq!(all.len(), 5);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
        assert!(all.iter().all(|x| x.1 == 500));
        assert_eq!(q(r#"up{instance=""}"#, 0, 10).len(), 1);
        assert_eq!(q(r#"up{instance!="a"}"#, 0, 10).len(), 2);
        assert_eq!(q(r#"{code=~"5.."}"#, 0, 10).len(), 1);
        assert_eq!(q(r#"{code=~"2.*"}"#, 0, 10).len(), 1);
        assert_eq!(q(r#"{__name__=~"up|nope",job!~"d.*"}"#, 0, 10).len(), 2);
        assert_eq!(q(r#"{job="nope"}"#, 0, 10).len(), 0);
        // Range clipping across chunk boundaries.
        let r = q(r#"up{instance="a"}"#, 1_000_000, 3_000_000);
        assert_eq!(r[0].2, Some(1_005_000));
        assert_eq!(r[0].1, (3_000_000 - 1_005_000) / 15_000 + 1);
        assert_eq!(head.label_values(0, 10, "job", &[]).unwrap(), ["api", "db"]);
        assert_eq!(
            head.label_names(0, 10, &parse_selector("up").unwrap())
                .unwrap(),
            ["__name__", "instance", "job"]
        );
        // Seek across chunks.
        let ms = parse_selector(r#"up{instance="b"}"#).unwrap();
        let set: Vec<_> = head
            .select(0, i64::MAX, &ms, &SelectHints::default())
            .unwrap()
            .collect();
        let s = set[0].as_ref().unwrap();
        let mut it = s.iter();
        assert_eq!(it.seek(4_000_001), ValueKind::Float);
        assert_eq!(it.at().t, 4_005_000);
        assert_eq!(it.seek(10), ValueKind::Float);
        assert_eq!(it.at().t, 4_005_000);
        assert_eq!(it.next(), ValueKind::Float);
        assert_eq!(it.at().t, 4_020_000);
        assert_eq!(it.seek(i64::MAX), ValueKind::None);
    }

    #[test]
    fn hash_collisions_keep_series_apart() {
        // Two label sets forced into the same hash bucket list behave independently.
        let head = Head::new(HeadOptions::default());
        let a = ls(r#"m{x="1"}"#);
        let b = ls(r#"m{x="2"}"#);
        let (sa, _) = head.get_or_create(&a, None).unwrap();
        // Simulate a collision: file b's series under a's hash.
        let h = series_hash(&a);
        let (sb, created) = head.get_or_create(&b, None).unwrap();
        assert!(created);
        {
            let mut stripe = head.by_hash[h as usize % STRIPES].write();
            stripe.get_mut(&h).unwrap().push(sb.clone());
        }
        let found = head.by_hash[h as usize % STRIPES].read()[&h]
            .iter()
            .find(|s| s.labels == b)
            .map(|s| s.id);
        assert_eq!(found, Some(sb.id));
        assert_ne!(sa.id, sb.id);
        assert_eq!(head.series_ref(&a), Some(SeriesRef(sa.id)));
    }

    #[test]
    fn truncate_while_appending() {
        let head = Head::new(HeadOptions::default().chunk_range(60_000));
        let done = AtomicBool::new(false);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                for step in 0..400i64 {
                    let mut a = head.appender();
                    for s in 0..10 {
                        let l = ls(&format!("m{{s=\"{s}\"}}"));
                        a.append(&l, step * 1000, step as f64).unwrap();
                    }
                    a.commit().unwrap();
                }
                done.store(true, Ordering::Release);
            });
            sc.spawn(|| {
                while !done.load(Ordering::Acquire) {
                    if let Some(max) = head.max_time() {
                        head.truncate(max - 30_000).unwrap();
                    }
                    std::thread::yield_now();
                }
            });
        });
        // Every series survived (they never stopped receiving samples) and holds the tail.
        assert_eq!(head.stats().series, 10);
        for s in 0..10 {
            let r = head.series_ref(&ls(&format!("m{{s=\"{s}\"}}"))).unwrap();
            let chunks = head.chunks(r).unwrap();
            let last = chunks.last().unwrap();
            assert_eq!(last.maxt, 399_000);
        }
        // Series that stop receiving samples are collected.
        head.truncate(400_000).unwrap();
        assert_eq!(head.stats().series, 0);
        assert!(head.label_names(0, i64::MAX, &[]).unwrap().is_empty());
        assert!(head.postings.read().all.is_empty());
        assert!(head.appender().append(&ls("m"), 399_999, 1.0).is_err());
    }

    #[test]
    fn grouped_replay_keeps_record_order_semantics() {
        // Samples before their series record are dropped, samples of references beyond the
        // grouped range and of series defined later in the WAL are judged in WAL order.
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let wal_dir = tmp.path().join("wal");
        let big = 1u64 << 23;
        let smp = |refs: &[(u64, i64)]| {
            let mut out = Vec::new();
            record::encode_samples(
                refs.iter().map(|&(r, t)| RefSample {
                    series_ref: r,
                    t,
                    v: t as f64,
                }),
                &mut out,
            );
            out
        };
        let (la, lb, lc) = (ls("a"), ls("b"), ls("c"));
        let mut ser1 = Vec::new();
        record::encode_series([(7, &la), (big, &lb)], &mut ser1);
        let mut ser2 = Vec::new();
        record::encode_series([(9, &lc)], &mut ser2);
        let mut w = Wal::open(&wal_dir, WalOptions::default()).unwrap();
        for rec in [
            smp(&[(7, 1)]),
            ser1,
            smp(&[(7, 10), (big, 10), (9, 10)]),
            smp(&[(7, 20), (big, 5)]),
            ser2,
            smp(&[(9, 30), (7, 30)]),
        ] {
            w.log(&[&rec]).unwrap();
        }
        w.close().unwrap();
        let (head, stats) = Head::open(tmp.path(), HeadOptions::default()).unwrap();
        assert_eq!((stats.samples, stats.dropped), (5, 3));
        let ts = |l: &Labels| -> Vec<i64> {
            let r = head.series_ref(l).unwrap();
            let mut out = Vec::new();
            for c in head.chunks(r).unwrap() {
                let mut it = crate::xor::XorIterator::new(&c.data);
                while it.next() == ValueKind::Float {
                    out.push(it.at_t());
                }
            }
            out
        };
        assert_eq!(ts(&la), vec![10, 20, 30]);
        assert_eq!(ts(&lb), vec![10]);
        assert_eq!(ts(&lc), vec![30]);
    }

    #[test]
    fn large_replay_batches_rebuild_the_same_chunks() {
        // Batches above `SHARD_MIN` go through both appliers (when there are two cores);
        // every chunk (bytes and ranges) must come back as it was written, including the
        // ones cut and m-mapped during replay.
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let opts = HeadOptions::default().wal(WalOptions::default().compress(false));
        let (head, _) = Head::open(tmp.path(), opts.clone()).unwrap();
        let n_series = 300usize;
        let mut refs = Vec::new();
        let mut a = head.appender();
        for i in 0..n_series {
            refs.push(a.append(&ls(&format!("m{{i=\"{i}\"}}")), 0, 0.0).unwrap());
        }
        a.commit().unwrap();
        for step in 1..400i64 {
            let mut a = head.appender();
            for (i, r) in refs.iter().enumerate() {
                a.append_ref(*r, step * 15_000 + i as i64, (step * i as i64) as f64)
                    .unwrap();
            }
            a.commit().unwrap();
        }
        let before: Vec<_> = refs.iter().map(|r| head.chunks(*r).unwrap()).collect();
        head.close().unwrap();
        let (head, st) = Head::open(tmp.path(), opts).unwrap();
        assert_eq!(st.samples, 400 * n_series as u64);
        assert_eq!((st.dropped, st.bad_records), (0, 0));
        for (r, want) in refs.iter().zip(&before) {
            let got = head.chunks(*r).unwrap();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert_eq!((g.mint, g.maxt, &g.data[..]), (w.mint, w.maxt, &w.data[..]));
            }
        }
    }

    #[test]
    fn replay_of_a_series_under_two_references_in_a_large_batch() {
        // Reference 1001 names the series of reference 2 again: its group is applied after
        // reference 2's (in group order), on one applier, as a one-thread replay does.
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let wal_dir = tmp.path().join("wal");
        let labels: Vec<Labels> = (0..=100).map(|i| ls(&format!("s{{i=\"{i}\"}}"))).collect();
        let mut ser = Vec::new();
        record::encode_series(
            (1..=100u64)
                .map(|r| (r, &labels[r as usize]))
                .chain([(1001, &labels[2])]),
            &mut ser,
        );
        let mut w = Wal::open(&wal_dir, WalOptions::default()).unwrap();
        w.log(&[&ser]).unwrap();
        for k in 0..100i64 {
            let mut rec = Vec::new();
            record::encode_samples(
                (1..=100u64)
                    .map(|r| RefSample {
                        series_ref: r,
                        t: k * 1000,
                        v: k as f64,
                    })
                    .chain([RefSample {
                        series_ref: 1001,
                        t: k * 1000 + 500,
                        v: -1.0,
                    }]),
                &mut rec,
            );
            w.log(&[&rec]).unwrap();
        }
        w.close().unwrap();
        let (head, st) = Head::open(tmp.path(), HeadOptions::default()).unwrap();
        assert_eq!(st.series, 100);
        assert_eq!((st.samples, st.dropped), (100 * 100 + 1, 99));
        let n: usize = head
            .chunks(SeriesRef(2))
            .unwrap()
            .iter()
            .map(|c| crate::xor::xor_num_samples(&c.data).unwrap())
            .sum();
        assert_eq!(n, 101);
    }

    #[test]
    fn replay_batches_grow_until_series_have_several_samples() {
        let with = |series: u32, n: usize| Grouper {
            n,
            slots: Slots {
                next: series,
                ..Slots::default()
            },
            ..Grouper::default()
        };
        // One sample for each of many series: not due until each could have several.
        let many = REPLAY_BATCH / 2;
        assert!(
            !with(many as u32, REPLAY_BATCH).full(),
            "two samples per series on average"
        );
        assert!(
            with(many as u32, REPLAY_GROUP_MIN * many).full(),
            "{REPLAY_GROUP_MIN} samples per series on average"
        );
        // Few series: due at the base size.
        assert!(with(1, REPLAY_BATCH).full());
        assert!(!with(1, REPLAY_BATCH - 1).full());
        // Very many series: due at the limit whatever the average.
        assert!(with(REPLAY_BATCH_MAX as u32, REPLAY_BATCH_MAX).full());
    }

    /// A batch's samples as the appliers see them: `(slot, t, v, seq)` sorted by slot, each
    /// slot's in WAL order.
    fn sorted_batch(g: &GroupedSamples) -> Vec<(u32, i64, f64, u32)> {
        let mut sort = BucketSort::default();
        let mut out = Vec::new();
        for (b, bucket) in g.buckets.iter().enumerate() {
            let sorted = if g.shift == 0 {
                bucket
            } else {
                sort.sort(bucket, b, g.shift);
                &sort.sorted
            };
            for p in sorted {
                out.push((p.slot, p.t, p.v, p.seq));
            }
        }
        out
    }

    #[test]
    fn grouper_buckets_keep_wal_order_per_series() {
        // Enough series for several slots per bucket; references far apart and records in
        // a scrambled series order.
        let n = 5000u64;
        let mut g = Grouper::default();
        for k in 0..n {
            g.slots.assign(k * 101);
        }
        let mut want: Vec<Vec<(i64, u32)>> = vec![Vec::new(); n as usize];
        let mut seq = 0u32;
        for round in 0..3i64 {
            let mut rec = Vec::new();
            let order: Vec<u64> = (0..n).map(|k| (k * 7919 + round as u64) % n).collect();
            record::encode_samples(
                order.iter().map(|&k| RefSample {
                    series_ref: k * 101,
                    t: round * 10 + (k % 3) as i64,
                    v: k as f64,
                }),
                &mut rec,
            );
            assert!(g.add(&rec));
            for &k in &order {
                want[k as usize].push((round * 10 + (k % 3) as i64, seq));
                seq += 1;
            }
        }
        assert!(g.shift > 0);
        let out = g.take(None).unwrap();
        let got = sorted_batch(&out);
        let mut at = 0;
        for (slot, want) in want.iter().enumerate() {
            for &(t, seq) in want {
                assert_eq!(got[at], (slot as u32, t, slot as f64, seq));
                at += 1;
            }
        }
        assert_eq!(at, got.len());
        assert!(g.take(None).is_none());
    }

    #[test]
    fn grouper_drops_a_bad_record_whole() {
        let rec = |rows: &[(u64, i64)]| {
            let mut out = Vec::new();
            record::encode_samples(
                rows.iter().map(|&(r, t)| RefSample {
                    series_ref: r,
                    t,
                    v: 1.0,
                }),
                &mut out,
            );
            out
        };
        let mut g = Grouper::default();
        for r in [1, 2, 3, 5] {
            g.slots.assign(r);
        }
        assert!(g.add(&rec(&[(1, 10), (2, 10), (4, 10)])));
        let mut bad = rec(&[(3, 10), (1, 20), (5, 20)]);
        bad.truncate(bad.len() - 3);
        assert!(!g.add(&bad));
        assert!(g.add(&rec(&[(2, 20), (1, 30)])));
        let out = g.take(None).unwrap();
        assert_eq!(out.unknown, 1, "reference 4 was never declared");
        assert_eq!(
            sorted_batch(&out),
            [
                (0, 10, 1.0, 0),
                (0, 30, 1.0, 3),
                (1, 10, 1.0, 1),
                (1, 20, 1.0, 2)
            ]
        );
        assert!(g.take(None).is_none());
    }

    #[test]
    fn replay_of_sparse_references_indexes_every_series() {
        // References far apart (as Prometheus' BenchmarkLoadWAL writes them) make the
        // registry's id stripes sparse maps, and replay builds the postings in bulk.
        let tmp = lookout_testkit::tempfile::tempdir().unwrap();
        let wal_dir = tmp.path().join("wal");
        let n = 3000u64;
        let labels: Vec<Labels> = (0..n)
            .map(|k| ls(&format!("m{{k=\"{k}\", even=\"{}\"}}", k % 2 == 0)))
            .collect();
        let mut w = Wal::open(&wal_dir, WalOptions::default()).unwrap();
        let mut rec = Vec::new();
        record::encode_series((0..n).map(|k| (k * 101 + 7, &labels[k as usize])), &mut rec);
        w.log(&[&rec]).unwrap();
        for i in 0..3i64 {
            rec.clear();
            record::encode_samples(
                (0..n).map(|k| RefSample {
                    series_ref: k * 101 + 7,
                    t: i * 1000,
                    v: k as f64,
                }),
                &mut rec,
            );
            w.log(&[&rec]).unwrap();
        }
        w.close().unwrap();
        let (head, st) = Head::open(tmp.path(), HeadOptions::default()).unwrap();
        assert_eq!((st.series, st.samples, st.dropped), (n, 3 * n, 0));
        for k in [0, 1, 1234, n - 1] {
            let r = head.series_ref(&labels[k as usize]).unwrap();
            assert_eq!(r, SeriesRef(k * 101 + 7));
            assert_eq!(head.labels(r).as_ref(), Some(&labels[k as usize]));
            assert_eq!(head.chunks(r).unwrap().len(), 1);
        }
        let even = head
            .select(
                0,
                10_000,
                &parse_selector(r#"m{even="true"}"#).unwrap(),
                &SelectHints::default(),
            )
            .unwrap();
        assert_eq!(even.count(), n as usize / 2);
        assert_eq!(
            head.label_values(0, i64::MAX, "k", &[]).unwrap().len(),
            n as usize
        );
        // Appends by reference after replay, then everything collected by truncation.
        let mut a = head.appender();
        a.append_ref(SeriesRef(1234 * 101 + 7), 5000, 1.0).unwrap();
        a.commit().unwrap();
        head.truncate(i64::MAX).unwrap();
        assert_eq!(head.stats().series, 0);
        assert!(head.series_by_id(1234 * 101 + 7).is_none());
    }

    #[test]
    fn replayed_reference_clash_gets_fresh_id() {
        let head = Head::new(HeadOptions::default());
        let (a, _) = head.get_or_create(&ls("a"), Some(5)).unwrap();
        let (b, created) = head.get_or_create(&ls("b"), Some(5)).unwrap();
        assert!(created);
        assert_eq!(a.id, 5);
        assert_ne!(b.id, 5);
        assert!(!b.logged.load(Ordering::Relaxed));
        assert_eq!(head.series_ref(&ls("a")), Some(SeriesRef(5)));
        assert_eq!(head.labels(SeriesRef(b.id)), Some(ls("b")));
    }

    #[test]
    fn concurrent_appenders() {
        let head = Head::new(HeadOptions::default());
        std::thread::scope(|sc| {
            for th in 0..4 {
                let head = &head;
                sc.spawn(move || {
                    for batch in 0..50 {
                        let mut a = head.appender();
                        for s in 0..20 {
                            // Series shared by all threads and series owned by one.
                            let shared = ls(&format!("shared{{s=\"{s}\"}}"));
                            let own = ls(&format!("own{{t=\"{th}\",s=\"{s}\"}}"));
                            let _ = a.append(&shared, batch * 1000 + th, 1.0);
                            a.append(&own, batch * 1000, 1.0).unwrap();
                        }
                        a.commit().unwrap();
                    }
                });
            }
        });
        assert_eq!(head.stats().series, 20 + 80);
        let ms = parse_selector(r#"{__name__="own"}"#).unwrap();
        let n: usize = head
            .select(0, i64::MAX, &ms, &SelectHints::default())
            .unwrap()
            .map(|s| {
                let s = s.unwrap();
                let mut it = s.iter();
                let mut n = 0;
                while it.next() == ValueKind::Float {
                    n += 1;
                }
                n
            })
            .sum();
        assert_eq!(n, 80 * 50);
    }
}
