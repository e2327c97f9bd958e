//! The database: a data directory in Prometheus' layout (`wal/`, `chunks_head/`, block
//! directories named by ULID, a `lock` file) with the head cut into blocks, leveled compaction,
//! retention by time and size, deletion through tombstones and snapshots, as Prometheus 2.42's
//! `tsdb.DB` does.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use lookout_model::{
    Error as ModelError, Labels, Matcher, Querier, Sample, SampleIterator, SelectHints, Series,
    SeriesSet, SliceIterator, ValueKind,
};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::block::Block;
use crate::compact::{self, PlanBlock};
use crate::error::{Error, Result};
use crate::head::{Appender, Head, HeadOptions, SeriesRef};
use crate::meta::{self, BlockDesc, BlockMeta, Compaction};
use crate::record::{self, Record, Stone};
use crate::retention::{self, RetentionBlock, RetentionLimits};
use crate::tombstones::Tombstones;

/// Suffix of a block directory being written.
pub(crate) const TMP_FOR_CREATION: &str = ".tmp-for-creation";
/// Suffix of a block directory being deleted.
pub(crate) const TMP_FOR_DELETION: &str = ".tmp-for-deletion";

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How a [`Db`] is set up; the defaults are Prometheus 2.42's.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DbOptions {
    /// The block range in ms (`--storage.tsdb.min-block-duration`, default 2 h); the head is cut
    /// into blocks of this range and compaction ranges are `block_range × 3^k`.
    pub block_range: i64,
    /// The largest compacted block in ms (`--storage.tsdb.max-block-duration`); 0 means
    /// Prometheus' default: 10 % of the time retention, at most 31 days.
    pub max_block_duration: i64,
    /// Time retention in ms (`--storage.tsdb.retention.time`, default 15 d); 0 disables it.
    pub retention: i64,
    /// Size retention in bytes (`--storage.tsdb.retention.size`); 0 disables it.
    pub retention_size: u64,
    /// Skip the `lock` file (`--storage.tsdb.no-lockfile`).
    pub no_lockfile: bool,
    /// How often the background thread compacts and applies retention (Prometheus: every
    /// minute); `None` runs no background thread (call [`Db::compact`] yourself).
    pub compaction_interval: Option<Duration>,
    /// Options of the head (its chunk range follows `block_range`).
    pub head: HeadOptions,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            block_range: 2 * HOUR_MS,
            max_block_duration: 0,
            retention: 15 * DAY_MS,
            retention_size: 0,
            no_lockfile: false,
            compaction_interval: Some(Duration::from_secs(60)),
            head: HeadOptions::default(),
        }
    }
}

impl DbOptions {
    /// Sets the block range (ms, at least 1).
    pub fn block_range(mut self, ms: i64) -> Self {
        self.block_range = ms.max(1);
        self
    }
    /// Sets the largest compacted block (ms; 0 for the default).
    pub fn max_block_duration(mut self, ms: i64) -> Self {
        self.max_block_duration = ms.max(0);
        self
    }
    /// Sets the time retention (ms; 0 disables).
    pub fn retention(mut self, ms: i64) -> Self {
        self.retention = ms.max(0);
        self
    }
    /// Sets the size retention (bytes; 0 disables).
    pub fn retention_size(mut self, bytes: u64) -> Self {
        self.retention_size = bytes;
        self
    }
    /// Skips the lock file.
    pub fn no_lockfile(mut self, yes: bool) -> Self {
        self.no_lockfile = yes;
        self
    }
    /// Sets the background compaction interval (`None`: no background thread).
    pub fn compaction_interval(mut self, every: Option<Duration>) -> Self {
        self.compaction_interval = every;
        self
    }
    /// Sets the head options.
    pub fn head(mut self, head: HeadOptions) -> Self {
        self.head = head;
        self
    }

    /// The compaction ranges these options give (ms).
    pub fn compaction_ranges(&self) -> Vec<i64> {
        let max = if self.max_block_duration > 0 {
            self.max_block_duration
        } else {
            compact::default_max_block_duration(self.retention, self.block_range)
        };
        compact::compaction_ranges(self.block_range, max)
    }
}

/// What one [`Db::compact`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactStats {
    /// Blocks written from the head.
    pub head_blocks: u64,
    /// Compactions of blocks into one.
    pub compactions: u64,
    /// Blocks deleted (compacted away, empty, or by retention).
    pub blocks_deleted: u64,
}

/// A loaded block with what retention needs.
#[derive(Debug)]
pub(crate) struct LoadedBlock {
    pub(crate) block: Block,
    pub(crate) size: u64,
}

impl LoadedBlock {
    fn meta(&self) -> &BlockMeta {
        self.block.meta()
    }
}

/// State shared with the background thread.
#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    opts: DbOptions,
    ranges: Vec<i64>,
    head: Head,
    /// Loaded blocks sorted by min time.
    blocks: RwLock<Vec<Arc<LoadedBlock>>>,
    /// Deleted intervals of head series, keyed by head series reference.
    head_tombstones: RwLock<Arc<Tombstones>>,
    /// Held by compaction, retention, deletion and snapshots (never by appenders or queries).
    compact_mu: Mutex<()>,
    read_only: bool,
    /// The lock file, unlocked when dropped.
    _lock: Option<File>,
    /// The last background compaction error, if any.
    last_error: Mutex<Option<String>>,
}

#[derive(Debug)]
struct Background {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: JoinHandle<()>,
}

/// A time-series database over a data directory that Prometheus 2.42 can also open.
///
/// ```
/// use lookout_model::{parse_selector, Querier, SelectHints};
/// use lookout_tsdb::{Db, DbOptions};
///
/// let dir = std::env::temp_dir().join(format!("lookout-db-doc-{}", std::process::id()));
/// let db = Db::open(&dir, DbOptions::default().compaction_interval(None))?;
/// let mut app = db.appender();
/// for i in 0..1000 {
///     app.append(&r#"up{job="api"}"#.parse()?, i * 15_000, 1.0)?;
/// }
/// app.commit()?;
/// db.compact()?; // 4 h of data: the first 2 h become a block
/// assert_eq!(db.blocks().len(), 1);
/// let set = db.select(0, 15_000_000, &parse_selector("up")?, &SelectHints::default())?;
/// assert_eq!(set.count(), 1);
/// db.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Db {
    inner: Arc<Inner>,
    bg: Option<Background>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

/// Takes an exclusive, non-blocking `flock(2)` on the lock file, as Prometheus does.
#[cfg(unix)]
fn lock_file(f: &File, path: &Path) -> Result<()> {
    use rustix::fs::{flock, FlockOperation};
    match flock(f, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(Error::Config(
            "lock DB directory: resource temporarily unavailable (another process holds the lock file)",
        )),
        Err(e) => Err(Error::io(path, e.into())),
    }
}

/// Lock files are only taken on Unix.
#[cfg(not(unix))]
fn lock_file(_f: &File, _path: &Path) -> Result<()> {
    Ok(())
}

/// Whether `name` is a block or checkpoint directory left behind by an interrupted creation or
/// deletion (Prometheus' `isTmpDir`).
fn is_tmp_dir_name(name: &str) -> bool {
    for ext in [TMP_FOR_CREATION, TMP_FOR_DELETION, ".tmp"] {
        if let Some(stem) = name.strip_suffix(ext) {
            if name.starts_with("checkpoint.") || meta::parse_ulid(stem).is_some() {
                return true;
            }
        }
    }
    false
}

/// Total size of the files under `path` (0 if missing).
pub(crate) fn dir_size(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut total = 0;
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            total += dir_size(&e.path());
        } else if let Ok(m) = e.metadata() {
            total += m.len();
        }
    }
    total
}

/// fsyncs a directory.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Deletes a block directory crash-safely: renamed to `<ulid>.tmp-for-deletion` first (which
/// open removes if we die halfway), then removed.
fn delete_block_dir(dir: &Path, ulid: &str) -> Result<()> {
    let from = dir.join(ulid);
    if !from.exists() {
        return Ok(());
    }
    let to = dir.join(format!("{ulid}{TMP_FOR_DELETION}"));
    std::fs::rename(&from, &to).map_err(io(&from))?;
    sync_dir(dir)?;
    std::fs::remove_dir_all(&to).map_err(io(&to))
}

impl Db {
    /// Opens (creating if needed) the database in `dir`: takes the lock file, removes
    /// directories left by interrupted block creation or deletion, loads the blocks (deleting
    /// those a later compaction replaced, those marked deletable and those beyond retention),
    /// replays the WAL into the head, and starts the background compaction thread.
    pub fn open(dir: &Path, opts: DbOptions) -> Result<Db> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = if opts.no_lockfile {
            None
        } else {
            let path = dir.join("lock");
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            lock_file(&f, &path)?;
            Some(f)
        };
        remove_tmp_dirs(dir)?;
        let mut head_opts = opts.head.clone();
        head_opts.chunk_range = opts.block_range;
        let (head, replay) = Head::open(dir, head_opts)?;
        // Deletions of head data are in the WAL (and its checkpoints) as tombstone records.
        let mut head_tombstones = Tombstones::new();
        if replay.tombstones > 0 {
            let wal_dir = dir.join("wal");
            crate::wal::read_dir(&wal_dir, |rec| {
                if let Ok(Record::Tombstones(stones)) = record::decode(rec) {
                    for s in stones {
                        head_tombstones.add(s.series_ref, s.mint, s.maxt);
                    }
                }
                Ok(())
            })?;
        }
        let inner = Inner {
            dir: dir.to_path_buf(),
            ranges: opts.compaction_ranges(),
            opts,
            head,
            blocks: RwLock::new(Vec::new()),
            head_tombstones: RwLock::new(Arc::new(head_tombstones)),
            compact_mu: Mutex::new(()),
            read_only: false,
            _lock: lock,
            last_error: Mutex::new(None),
        };
        inner.reload_blocks()?;
        // Samples the blocks already hold are not taken again (Prometheus' minValidTime).
        if let Some(maxt) = inner.blocks.read().iter().map(|b| b.meta().max_time).max() {
            inner.head.set_min_valid_time(maxt);
            if inner.head.min_time().is_some_and(|t| t < maxt) {
                inner.head.truncate(maxt)?;
            }
        }
        let inner = Arc::new(inner);
        let bg = inner.opts.compaction_interval.map(|every| {
            let stop = Arc::new((Mutex::new(false), Condvar::new()));
            let (inner2, stop2) = (inner.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name("lookout-tsdb-compact".into())
                .spawn(move || background(inner2, stop2, every));
            (stop, handle)
        });
        let bg = match bg {
            Some((stop, Ok(handle))) => Some(Background { stop, handle }),
            Some((_, Err(e))) => return Err(Error::io(dir, e)),
            None => None,
        };
        Ok(Db { inner, bg })
    }

    /// Opens the data directory `dir` for reading only, changing nothing on disk (no lock file,
    /// no clean-up, the WAL replayed up to any torn tail): what `lookout query --data` and
    /// `lookout tsdb dump` use. Appends are not durable and compaction is refused.
    pub fn open_read_only(dir: &Path) -> Result<Db> {
        if !dir.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such directory"),
            ));
        }
        let (head, _replay) = Head::open_read_only(dir, HeadOptions::default())?;
        let mut blocks = Vec::new();
        for (_, path) in list_block_dirs(dir)? {
            let block = Block::open(&path)?;
            let size = dir_size(&path);
            blocks.push(Arc::new(LoadedBlock { block, size }));
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        let opts = DbOptions::default().compaction_interval(None);
        let inner = Inner {
            dir: dir.to_path_buf(),
            ranges: opts.compaction_ranges(),
            opts,
            head,
            blocks: RwLock::new(blocks),
            head_tombstones: RwLock::new(Arc::new(Tombstones::new())),
            compact_mu: Mutex::new(()),
            read_only: true,
            _lock: None,
            last_error: Mutex::new(None),
        };
        Ok(Db {
            inner: Arc::new(inner),
            bg: None,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The options.
    pub fn options(&self) -> &DbOptions {
        &self.inner.opts
    }

    /// The head.
    pub fn head(&self) -> &Head {
        &self.inner.head
    }

    /// The metas of the loaded blocks, oldest (by min time) first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.inner
            .blocks
            .read()
            .iter()
            .map(|b| b.meta().clone())
            .collect()
    }

    /// Starts a batch of appends to the head.
    pub fn appender(&self) -> Appender<'_> {
        self.inner.head.appender()
    }

    /// The last error of the background compaction, if any.
    pub fn last_compaction_error(&self) -> Option<String> {
        self.inner.last_error.lock().clone()
    }

    /// Cuts the head into blocks while it spans more than 1.5 block ranges, compacts blocks as
    /// Prometheus' leveled compactor plans, and applies retention (Prometheus' `DB.Compact`).
    /// Appenders are not blocked meanwhile; a head cut first waits for open appenders that
    /// hold samples in the range being cut (see [`Head::close_range_below`]), so do not call
    /// this while holding such an appender on the same thread.
    pub fn compact(&self) -> Result<CompactStats> {
        self.inner.compact()
    }

    /// Applies retention alone (also part of [`Db::compact`]). Returns the blocks deleted.
    pub fn apply_retention(&self) -> Result<u64> {
        let _g = self.inner.compact_mu.lock();
        self.inner.check_writable()?;
        self.inner.apply_retention()
    }

    /// Deletes the samples in `[mint, maxt]` of the series matching `matchers`: tombstones are
    /// written to every block holding such samples and recorded for the head; compaction
    /// removes the data for good.
    pub fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        let _g = self.inner.compact_mu.lock();
        self.inner.check_writable()?;
        self.inner.delete(matchers, mint, maxt)
    }

    /// Rewrites every block with tombstones without the deleted data (Prometheus'
    /// `CleanTombstones`). Returns the number of blocks rewritten. As in Prometheus, a
    /// rewritten block has compaction level 1, itself as its only source, and the old block
    /// as its parent.
    pub fn clean_tombstones(&self) -> Result<u64> {
        let _g = self.inner.compact_mu.lock();
        self.inner.check_writable()?;
        self.inner.clean_tombstones()
    }

    /// Writes a snapshot of the database into `dir` (created if missing): every block
    /// hard-linked, and with `with_head` the head written as one more block. `dir` can be
    /// opened as a data directory (by Prometheus too).
    pub fn snapshot(&self, dir: &Path, with_head: bool) -> Result<Vec<BlockMeta>> {
        let _g = self.inner.compact_mu.lock();
        self.inner.snapshot(dir, with_head)
    }

    /// A querier over the head and the blocks overlapping `[mint, maxt]` as they are now;
    /// cheaper than querying the [`Db`] itself, whose [`Querier`] implementation copies block
    /// samples out so its results can outlive block deletion.
    pub fn querier(&self, mint: i64, maxt: i64) -> DbQuerier<'_> {
        let blocks = self
            .inner
            .blocks
            .read()
            .iter()
            .filter(|b| b.block.overlaps(mint, maxt))
            .cloned()
            .collect();
        DbQuerier {
            head: &self.inner.head,
            head_tombstones: self.inner.head_tombstones.read().clone(),
            blocks,
        }
    }

    /// Stops the background thread, then flushes and closes the WAL and releases the lock.
    pub fn close(mut self) -> Result<()> {
        self.stop_background();
        let inner = self.inner.clone();
        drop(self);
        match Arc::try_unwrap(inner) {
            Ok(inner) => inner.head.close(),
            Err(_) => Ok(()),
        }
    }

    fn stop_background(&mut self) {
        if let Some(bg) = self.bg.take() {
            {
                let (m, cv) = &*bg.stop;
                *m.lock() = true;
                cv.notify_all();
            }
            let _ = bg.handle.join();
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop_background();
    }
}

fn background(inner: Arc<Inner>, stop: Arc<(Mutex<bool>, Condvar)>, every: Duration) {
    let (m, cv) = &*stop;
    loop {
        {
            let mut stopped = m.lock();
            if *stopped {
                return;
            }
            cv.wait_for(&mut stopped, every);
            if *stopped {
                return;
            }
        }
        let r = inner.compact();
        *inner.last_error.lock() = r.err().map(|e| e.to_string());
    }
}

/// Removes leftover `*.tmp-for-creation`, `*.tmp-for-deletion` and `*.tmp` block and
/// checkpoint directories in `dir` (and in `dir/wal` for checkpoints).
fn remove_tmp_dirs(dir: &Path) -> Result<()> {
    for d in [dir.to_path_buf(), dir.join("wal")] {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if e.file_type().is_ok_and(|t| t.is_dir()) && is_tmp_dir_name(name) {
                let p = e.path();
                std::fs::remove_dir_all(&p).map_err(io(&p))?;
            }
        }
    }
    Ok(())
}

/// The `(ulid, path)` of every block directory in `dir`: ULID-named directories with a
/// `meta.json`.
fn list_block_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(io(dir))?;
    for e in rd {
        let e = e.map_err(io(dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if meta::parse_ulid(name).is_none() || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if p.join(meta::META_FILENAME).is_file() {
            out.push((name.to_string(), p));
        }
    }
    out.sort();
    Ok(out)
}

impl Inner {
    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::Config("the database is open read-only"));
        }
        Ok(())
    }

    /// Loads block directories not loaded yet, drops those gone, then deletes blocks that are
    /// parents of loaded blocks, marked deletable, or beyond retention (Prometheus'
    /// `reloadBlocks`).
    fn reload_blocks(&self) -> Result<u64> {
        let on_disk = list_block_dirs(&self.dir)?;
        let mut blocks: Vec<Arc<LoadedBlock>> = Vec::with_capacity(on_disk.len());
        {
            let cur = self.blocks.read();
            for (ulid, path) in &on_disk {
                if let Some(b) = cur.iter().find(|b| &b.meta().ulid == ulid) {
                    blocks.push(b.clone());
                    continue;
                }
                let block = Block::open(path)?;
                let size = dir_size(path);
                blocks.push(Arc::new(LoadedBlock { block, size }));
            }
        }
        blocks.sort_by_key(|b| b.meta().min_time);
        // Parents of loaded blocks were compacted into them; a crash kept them around.
        let mut delete: std::collections::BTreeSet<String> = blocks
            .iter()
            .flat_map(|b| b.meta().compaction.parents.iter().map(|p| p.ulid.clone()))
            .filter(|u| blocks.iter().any(|b| &b.meta().ulid == u))
            .collect();
        *self.blocks.write() = blocks;
        delete.extend(self.retention_candidates());
        self.delete_blocks(&delete)
    }

    fn retention_candidates(&self) -> std::collections::BTreeSet<String> {
        let blocks = self.blocks.read();
        let rb: Vec<RetentionBlock> = blocks
            .iter()
            .map(|b| RetentionBlock {
                ulid: b.meta().ulid.clone(),
                max_time: b.meta().max_time,
                size: b.size,
                deletable: b.meta().compaction.deletable,
            })
            .collect();
        let head_size = if self.opts.retention_size > 0 {
            dir_size(&self.dir.join("wal")) + dir_size(&self.dir.join("chunks_head"))
        } else {
            0
        };
        retention::deletable_blocks(
            &rb,
            RetentionLimits {
                time_ms: self.opts.retention,
                size_bytes: self.opts.retention_size,
            },
            head_size,
        )
    }

    fn apply_retention(&self) -> Result<u64> {
        let del = self.retention_candidates();
        self.delete_blocks(&del)
    }

    /// Takes the blocks out of the loaded list, then deletes their directories.
    fn delete_blocks(&self, ulids: &std::collections::BTreeSet<String>) -> Result<u64> {
        if ulids.is_empty() {
            return Ok(0);
        }
        self.blocks
            .write()
            .retain(|b| !ulids.contains(&b.meta().ulid));
        for u in ulids {
            delete_block_dir(&self.dir, u)?;
        }
        Ok(ulids.len() as u64)
    }

    fn add_block(&self, ulid: &str) -> Result<()> {
        let path = self.dir.join(ulid);
        let block = Block::open(&path)?;
        let size = dir_size(&path);
        let mut blocks = self.blocks.write();
        blocks.push(Arc::new(LoadedBlock { block, size }));
        blocks.sort_by_key(|b| b.meta().min_time);
        Ok(())
    }

    fn head_compactable(&self) -> bool {
        match (self.head.min_time(), self.head.max_time()) {
            (Some(min), Some(max)) => max.saturating_sub(min) > self.opts.block_range / 2 * 3,
            _ => false,
        }
    }

    fn compact(&self) -> Result<CompactStats> {
        let _g = self.compact_mu.lock();
        self.check_writable()?;
        let mut stats = CompactStats::default();
        let range = self.opts.block_range;
        while self.head_compactable() {
            let Some(mint) = self.head.min_time() else {
                break;
            };
            let maxt = compact::range_for_timestamp(mint, range);
            // No sample below maxt may arrive once the range is written: close it, and let
            // appenders that accepted samples in it finish first.
            self.head.close_range_below(maxt);
            let tombs = self.head_tombstones.read().clone();
            let meta = compact::write_from_head(&self.dir, &self.head, &tombs, mint, maxt, None)?;
            let cut = match meta {
                Some(meta) => {
                    self.add_block(&meta.ulid)?;
                    stats.head_blocks += 1;
                    maxt
                }
                // A gap in the data: jump to the window of the next sample rather than
                // truncating (and cutting a WAL segment) once per empty window.
                None => compact::head_min_time_from(&self.head, maxt)
                    .map_or(maxt, |t| compact::range_for_timestamp(t, range) - range)
                    .max(maxt),
            };
            self.head.truncate(cut)?;
        }
        loop {
            if self.head_compactable() {
                break;
            }
            let plan_blocks: Vec<PlanBlock> = self
                .blocks
                .read()
                .iter()
                .map(|b| plan_block(b.meta()))
                .collect();
            let plan = compact::plan(&plan_blocks, &self.ranges);
            if plan.is_empty() {
                break;
            }
            let deleted = self.compact_blocks(&plan)?;
            stats.compactions += 1;
            stats.blocks_deleted += deleted;
        }
        stats.blocks_deleted += self.apply_retention()?;
        Ok(stats)
    }

    /// Compacts the blocks `plan` into one: the new block is written and loaded, then the old
    /// ones are deleted (a crash in between leaves parents that the next open deletes).
    fn compact_blocks(&self, plan: &[String]) -> Result<u64> {
        let parts: Vec<Arc<LoadedBlock>> = {
            let blocks = self.blocks.read();
            plan.iter()
                .filter_map(|u| blocks.iter().find(|b| &b.meta().ulid == u).cloned())
                .collect()
        };
        if parts.is_empty() {
            return Ok(0);
        }
        let mint = parts.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
        let maxt = parts.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
        let mut sources: Vec<String> = parts
            .iter()
            .flat_map(|b| b.meta().compaction.sources.iter().cloned())
            .collect();
        sources.sort();
        sources.dedup();
        let compaction = Compaction {
            level: parts
                .iter()
                .map(|b| b.meta().compaction.level)
                .max()
                .unwrap_or(0)
                + 1,
            sources,
            parents: parts
                .iter()
                .map(|b| BlockDesc {
                    ulid: b.meta().ulid.clone(),
                    min_time: b.meta().min_time,
                    max_time: b.meta().max_time,
                })
                .collect(),
            ..Compaction::default()
        };
        let blocks: Vec<&Block> = parts.iter().map(|b| &b.block).collect();
        let written = compact::write_from_blocks(&self.dir, &blocks, mint, maxt, compaction);
        let ulids: std::collections::BTreeSet<String> =
            parts.iter().map(|b| b.meta().ulid.clone()).collect();
        match written {
            Ok(Some(meta)) => {
                self.add_block(&meta.ulid)?;
            }
            Ok(None) => {
                // Everything was deleted: mark the sources deletable, as Prometheus.
                for b in &parts {
                    let mut m = b.meta().clone();
                    m.compaction.deletable = true;
                    m.write(b.block.dir())?;
                }
            }
            Err(e) => {
                for b in &parts {
                    let mut m = b.meta().clone();
                    m.compaction.failed = true;
                    let _ = m.write(b.block.dir());
                }
                drop(parts);
                // Reload so the failed flag is seen by the planner.
                let _ = self.reload_metas(&ulids);
                return Err(e);
            }
        }
        drop(parts);
        self.delete_blocks(&ulids)
    }

    /// Re-opens the given blocks (after their meta or tombstones changed on disk).
    fn reload_metas(&self, ulids: &std::collections::BTreeSet<String>) -> Result<()> {
        let mut fresh = Vec::new();
        for u in ulids {
            let path = self.dir.join(u);
            let block = Block::open(&path)?;
            let size = dir_size(&path);
            fresh.push(Arc::new(LoadedBlock { block, size }));
        }
        let mut blocks = self.blocks.write();
        for f in fresh {
            if let Some(slot) = blocks.iter_mut().find(|b| b.meta().ulid == f.meta().ulid) {
                *slot = f;
            }
        }
        Ok(())
    }

    fn delete(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<()> {
        let blocks: Vec<Arc<LoadedBlock>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| b.block.overlaps(mint, maxt))
            .cloned()
            .collect();
        let mut changed = std::collections::BTreeSet::new();
        for b in &blocks {
            let ids = b.block.index().postings_for_matchers(matchers)?;
            let mut stones = b.block.tombstones().clone();
            let mut any = false;
            for id in ids.iter() {
                let (_, chunks) = b.block.index().series(id)?;
                if chunks.iter().any(|c| c.mint <= maxt && mint <= c.maxt) {
                    // Only up to the data there is, as Prometheus clamps the interval.
                    let lo = chunks.first().map_or(mint, |c| c.mint);
                    let hi = chunks.last().map_or(maxt, |c| c.maxt);
                    stones.add(u64::from(id), mint.max(lo), maxt.min(hi));
                    any = true;
                }
            }
            if any {
                stones.write(b.block.dir())?;
                let mut m = b.meta().clone();
                m.stats.num_tombstones = stones.num_intervals();
                m.write(b.block.dir())?;
                changed.insert(m.ulid);
            }
        }
        drop(blocks);
        self.reload_metas(&changed)?;
        // The head: tombstones by series reference, applied on read and when cut into blocks.
        let ids = self.head.postings_for(matchers);
        // Clamped to each series' current samples, as Prometheus' `Head.Delete`: samples
        // appended later are not deleted.
        let stones: Vec<Stone> = ids
            .iter()
            .map(u64::from)
            .filter_map(|id| {
                let cs = self.head.chunks(SeriesRef(id))?;
                let (lo, hi) = (cs.first()?.mint, cs.last()?.maxt);
                (lo <= maxt && mint <= hi).then(|| Stone {
                    series_ref: id,
                    mint: mint.max(lo),
                    maxt: maxt.min(hi),
                })
            })
            .collect();
        if !stones.is_empty() {
            // Logged first: once delete returns, a restart keeps the deletion.
            self.head.log_tombstones(&stones)?;
            let mut t = (**self.head_tombstones.read()).clone();
            for s in &stones {
                t.add(s.series_ref, s.mint, s.maxt);
            }
            *self.head_tombstones.write() = Arc::new(t);
        }
        Ok(())
    }

    fn clean_tombstones(&self) -> Result<u64> {
        let with_stones: Vec<Arc<LoadedBlock>> = self
            .blocks
            .read()
            .iter()
            .filter(|b| !b.block.tombstones().is_empty())
            .cloned()
            .collect();
        let mut n = 0;
        for b in with_stones {
            let m = b.meta();
            // As Prometheus' `LeveledCompactor.Write`: the rewritten block starts again at
            // level 1 with itself as its only source, names the old block as its parent, and
            // keeps the out-of-order hint.
            let compaction = Compaction {
                level: 1,
                sources: Vec::new(),
                hints: m
                    .compaction
                    .hints
                    .iter()
                    .filter(|h| h.as_str() == "from-out-of-order")
                    .cloned()
                    .collect(),
                parents: vec![BlockDesc {
                    ulid: m.ulid.clone(),
                    min_time: m.min_time,
                    max_time: m.max_time,
                }],
                ..Compaction::default()
            };
            let written = compact::write_from_blocks(
                &self.dir,
                &[&b.block],
                m.min_time,
                m.max_time,
                compaction,
            )?;
            if let Some(meta) = written {
                self.add_block(&meta.ulid)?;
            }
            let one: std::collections::BTreeSet<String> = [m.ulid.clone()].into_iter().collect();
            drop(b);
            self.delete_blocks(&one)?;
            n += 1;
        }
        Ok(n)
    }

    fn snapshot(&self, dir: &Path, with_head: bool) -> Result<Vec<BlockMeta>> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let blocks: Vec<Arc<LoadedBlock>> = self.blocks.read().clone();
        let mut out = Vec::new();
        for b in &blocks {
            let to = dir.join(&b.meta().ulid);
            let tmp = dir.join(format!("{}{TMP_FOR_CREATION}", b.meta().ulid));
            hard_link_dir(b.block.dir(), &tmp)?;
            std::fs::rename(&tmp, &to).map_err(io(&tmp))?;
            out.push(b.meta().clone());
        }
        if with_head {
            if let (Some(mint), Some(maxt)) = (self.head.min_time(), self.head.max_time()) {
                let tombs = self.head_tombstones.read().clone();
                if let Some(m) =
                    compact::write_from_head(dir, &self.head, &tombs, mint, maxt + 1, None)?
                {
                    out.push(m);
                }
            }
        }
        sync_dir(dir)?;
        Ok(out)
    }
}

fn hard_link_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    let rd = std::fs::read_dir(from).map_err(io(from))?;
    for e in rd {
        let e = e.map_err(io(from))?;
        let p = e.path();
        let target = to.join(e.file_name());
        if e.file_type().map_err(io(&p))?.is_dir() {
            hard_link_dir(&p, &target)?;
        } else {
            std::fs::hard_link(&p, &target).map_err(io(&p))?;
        }
    }
    sync_dir(to)
}

fn plan_block(m: &BlockMeta) -> PlanBlock {
    PlanBlock {
        ulid: m.ulid.clone(),
        min_time: m.min_time,
        max_time: m.max_time,
        num_series: m.stats.num_series,
        num_tombstones: m.stats.num_tombstones,
        failed: m.compaction.failed,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading: head + blocks merged.

/// A querier over the head and a fixed set of blocks (see [`Db::querier`]). Series present in
/// several are merged, blocks in time order and then the head, exactly as Prometheus' DB
/// querier merges them (see [`merge_series_sets`](crate::merge::merge_series_sets)): at equal
/// timestamps usually the head or the later block wins, but Prometheus' heap order decides.
#[derive(Debug)]
pub struct DbQuerier<'a> {
    head: &'a Head,
    head_tombstones: Arc<Tombstones>,
    blocks: Vec<Arc<LoadedBlock>>,
}

impl DbQuerier<'_> {
    fn head_select<'b>(
        &'b self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'b>, ModelError> {
        head_select(
            self.head,
            &self.head_tombstones,
            mint,
            maxt,
            matchers,
            hints,
        )
    }
}

fn head_select<'b>(
    head: &'b Head,
    tombs: &Arc<Tombstones>,
    mint: i64,
    maxt: i64,
    matchers: &[Matcher],
    hints: &SelectHints,
) -> Result<SeriesSet<'b>, ModelError> {
    let set = head.select(mint, maxt, matchers, hints)?;
    if tombs.is_empty() {
        return Ok(set);
    }
    let tombs = tombs.clone();
    Ok(Box::new(set.map(move |s| {
        let s = s?;
        let ivs = head
            .series_ref(s.labels())
            .map(|SeriesRef(r)| tombs.get(r).to_vec())
            .unwrap_or_default();
        if ivs.is_empty() {
            Ok(s)
        } else {
            Ok(Box::new(DeletedSeries { inner: s, ivs }) as Box<dyn Series + 'b>)
        }
    })))
}

impl Querier for DbQuerier<'_> {
    fn select<'b>(
        &'b self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'b>, ModelError> {
        let mut sets = Vec::with_capacity(self.blocks.len() + 1);
        for b in &self.blocks {
            if b.block.overlaps(mint, maxt) {
                sets.push(b.block.select(mint, maxt, matchers, hints)?);
            }
        }
        sets.push(self.head_select(mint, maxt, matchers, hints)?);
        Ok(crate::merge::merge_series_sets(sets))
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        let blocks = self.blocks.iter();
        crate::merge::sorted_union(
            std::iter::once(self.head.label_names(mint, maxt, matchers))
                .chain(blocks.map(|b| b.block.label_names(mint, maxt, matchers))),
        )
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        let blocks = self.blocks.iter();
        crate::merge::sorted_union(
            std::iter::once(self.head.label_values(mint, maxt, name, matchers))
                .chain(blocks.map(|b| b.block.label_values(mint, maxt, name, matchers))),
        )
    }
}

/// A series with its samples copied out.
#[derive(Debug)]
struct OwnedSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

impl Series for OwnedSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(SliceIterator::new(&self.samples))
    }
}

impl Querier for Db {
    fn select<'a>(
        &'a self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        hints: &SelectHints,
    ) -> Result<SeriesSet<'a>, ModelError> {
        let q = self.querier(mint, maxt);
        let mut sets: Vec<SeriesSet<'a>> = Vec::with_capacity(q.blocks.len() + 1);
        for b in &q.blocks {
            // Copied out: the block may be compacted away while the caller iterates.
            let mut owned: Vec<Result<Box<dyn Series + 'a>, ModelError>> = Vec::new();
            for s in b.block.select(mint, maxt, matchers, hints)? {
                let s = s?;
                let mut it = s.iter();
                let mut samples = Vec::new();
                while it.next() == ValueKind::Float {
                    samples.push(it.at());
                }
                if let Some(e) = it.err() {
                    return Err(ModelError::storage(std::io::Error::other(e.to_string())));
                }
                owned.push(Ok(Box::new(OwnedSeries {
                    labels: s.labels().clone(),
                    samples,
                })));
            }
            sets.push(Box::new(owned.into_iter()));
        }
        sets.push(head_select(
            &self.inner.head,
            &q.head_tombstones,
            mint,
            maxt,
            matchers,
            hints,
        )?);
        Ok(crate::merge::merge_series_sets(sets))
    }

    fn label_names(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        self.querier(mint, maxt).label_names(mint, maxt, matchers)
    }

    fn label_values(
        &self,
        mint: i64,
        maxt: i64,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, ModelError> {
        self.querier(mint, maxt)
            .label_values(mint, maxt, name, matchers)
    }
}

/// A head series with deleted intervals hidden.
struct DeletedSeries<'a> {
    inner: Box<dyn Series + 'a>,
    ivs: Vec<(i64, i64)>,
}

impl Series for DeletedSeries<'_> {
    fn labels(&self) -> &Labels {
        self.inner.labels()
    }
    fn iter(&self) -> Box<dyn SampleIterator + '_> {
        Box::new(DeletedIter {
            it: self.inner.iter(),
            ivs: &self.ivs,
        })
    }
}

struct DeletedIter<'a> {
    it: Box<dyn SampleIterator + 'a>,
    ivs: &'a [(i64, i64)],
}

impl DeletedIter<'_> {
    fn skip_deleted(&mut self, mut kind: ValueKind) -> ValueKind {
        while kind == ValueKind::Float {
            let t = self.it.at_t();
            let i = self.ivs.partition_point(|&(_, b)| b < t);
            match self.ivs.get(i) {
                Some(&(a, b)) if a <= t => kind = self.it.seek(b.saturating_add(1)),
                _ => return kind,
            }
        }
        kind
    }
}

impl SampleIterator for DeletedIter<'_> {
    fn next(&mut self) -> ValueKind {
        let k = self.it.next();
        self.skip_deleted(k)
    }
    fn seek(&mut self, t: i64) -> ValueKind {
        let k = self.it.seek(t);
        self.skip_deleted(k)
    }
    fn at(&self) -> Sample {
        self.it.at()
    }
    fn at_t(&self) -> i64 {
        self.it.at_t()
    }
    fn err(&self) -> Option<&ModelError> {
        self.it.err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_dir_names() {
        assert!(is_tmp_dir_name(
            "01BKGV7JBM69T2G1BGBGM6KB12.tmp-for-creation"
        ));
        assert!(is_tmp_dir_name(
            "01BKGV7JBM69T2G1BGBGM6KB12.tmp-for-deletion"
        ));
        assert!(is_tmp_dir_name("01BKGV7JBM69T2G1BGBGM6KB12.tmp"));
        assert!(is_tmp_dir_name("checkpoint.00000012.tmp"));
        assert!(!is_tmp_dir_name("01BKGV7JBM69T2G1BGBGM6KB12"));
        assert!(!is_tmp_dir_name("foo.tmp"));
    }
}
