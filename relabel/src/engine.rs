//! The compiled rules and the label set they edit.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use lookout_model::{
    GoRegex, Label, LabelIndex, LabelIndexBuf, LabelView, Labels, NameValidation, RegexOptions,
};
use regex::CaptureLocations;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use crate::case;
use crate::config::{parse_yaml, Action, Origin, RelabelConfig};
use crate::error::Error;
use crate::expand::Template;
use crate::hashmod::md5_tail;

/// How configs are checked and regexes compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The label name rule for targets, `labelmap` replacements and source labels.
    pub name_validation: NameValidation,
    /// How regexes compile (always anchored; `.` matching `\n` or not).
    pub regex: RegexOptions,
}

impl Options {
    /// Prometheus 3: UTF-8 label names, regexes `^(?s:…)$`.
    pub const PROMETHEUS: Options = Options {
        name_validation: NameValidation::Utf8,
        regex: RegexOptions::PROMETHEUS,
    };
    /// Prometheus 2.x (2.42): classic label names, regexes `^(?:…)$` (`.` does not match `\n`).
    pub const PROMETHEUS2: Options = Options {
        name_validation: NameValidation::Legacy,
        regex: RegexOptions::PROMETHEUS2,
    };

    /// These options with another name validation scheme.
    pub fn with_name_validation(mut self, scheme: NameValidation) -> Options {
        self.name_validation = scheme;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::PROMETHEUS
    }
}

/// A list of relabel rules, checked and compiled once, applied to many label sets.
///
/// Cloning is cheap enough for configuration reloads; applying takes `&self`, so one
/// `Relabeler` can serve many threads.
#[derive(Debug, Clone)]
pub struct Relabeler {
    rules: Vec<Rule>,
    /// Every label name the rules look up by a fixed name, sorted; `Key::id` indexes it. Each
    /// call resolves them all against the input in one merge instead of a search per lookup.
    keys: Vec<String>,
    /// Finds the key id of an input label name without comparing it to every key.
    lookup: KeyLookup,
    /// How many leading rules are `keep`/`drop` on `__name__` alone (metric relabeling's
    /// drop-by-name): they only read the input, and the metric name sorts first in practice,
    /// so `process` runs them on the packed input and skips unpacking what they drop. (For
    /// other names a scan of the packed labels costs more than it saves.)
    filters: usize,
    /// Whether the rules only ever read and write labels by fixed names (no `labelmap`,
    /// `labelkeep`, regex `labeldrop` or templated target). Then `process` keeps only the
    /// input labels the rules name and builds the result by splicing the packed input.
    keyed: bool,
    /// Keyed mode: the keys a rule can set, as `(first word, key id)` in name order. While
    /// decoding the input, `process` notes where each would be inserted, so building the
    /// result needs no search.
    settable: Vec<(u64, u32)>,
    /// Keyed mode: whether `process` notes insertion positions while decoding the input.
    /// When every settable key is also read by some rule (metric relabeling's rename of
    /// `__name__`), they are usually present and their positions known from the walk, so the
    /// position of one that is absent is searched for when building instead, and the walk
    /// skips a comparison per label.
    track_ins: bool,
}

/// The first eight bytes of `b` as a big-endian word, zero-padded: when the words of two names
/// differ they order the names as bytes do (a zero pad sorts first, as the shorter name does);
/// when equal, the names must be compared in full.
#[inline]
fn head_word(b: &[u8]) -> u64 {
    match b.get(..8) {
        Some(h) => u64::from_be_bytes(h.try_into().unwrap_or([0; 8])),
        None => head_word_short(b),
    }
}

/// [`head_word`] of a name shorter than eight bytes, from at most three overlapping loads
/// and no loop (short names such as `job`, `pod`, `cpu` and `mode` are common in
/// metric labels). Byte `i` of the name goes to bits `56 - 8 * i`; overlapping loads put the
/// same byte in the same place, so or-ing them is exact.
#[inline(never)]
fn head_word_short(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        return head_word(b);
    }
    let be4 = |at: usize| -> u64 {
        b.get(at..at + 4).map_or(0, |w| {
            u64::from(u32::from_be_bytes(w.try_into().unwrap_or([0; 4])))
        })
    };
    let byte = |at: usize| -> u64 { b.get(at).map_or(0, |&x| u64::from(x)) };
    if n >= 4 {
        // Bytes 0..4 and n-4..n.
        be4(0) << 32 | be4(n - 4) << (64 - 8 * n)
    } else if n > 0 {
        // Bytes 0, n/2 and n-1.
        byte(0) << 56 | byte(n / 2) << (56 - 8 * (n / 2)) | byte(n - 1) << (56 - 8 * (n - 1))
    } else {
        0
    }
}

/// Which input label names are keys: a length filter, then the last eight bytes, then the whole
/// name. Label names share long prefixes (`__meta_kubernetes_`) and differ mostly at the end.
/// (The length is known right after the first byte of a label, so most labels are turned away
/// by a load that does not wait for anything else, and the branch on it resolves early.)
#[derive(Debug, Clone)]
struct KeyLookup {
    /// `(length, tail word, key id)` of every key, sorted by length.
    cands: Vec<(usize, u64, u32)>,
    /// `first[n]..first[n + 1]` are the candidates of length `n` (`n < SHORT_NAME`);
    /// `first[SHORT_NAME]..` those of `SHORT_NAME` bytes or more.
    first: [u32; SHORT_NAME + 1],
    /// The bytes of each key, by key id.
    names: Vec<Box<[u8]>>,
    /// A collision-free hash table of the keys, when one was found (nearly always): one
    /// probe per input label, and one data-dependent branch.
    perfect: Option<PerfectTable>,
}

/// A table in which each key has a slot of its own: the slot of a name is picked by its
/// length and last eight bytes, and holds those of the key there, so a name that is no key
/// is turned away by one comparison. 256 slots, so a slot number is one byte and needs no
/// bounds check; built for up to [`PERFECT_MAX_KEYS`] keys.
#[derive(Debug, Clone)]
struct PerfectTable {
    /// `(tail word, length, key id, offset of the key's bytes in `bytes`)`; an empty slot is
    /// [`EMPTY_PERFECT_SLOT`], which no name matches.
    slots: Box<[(u64, u16, u16, u32); 256]>,
    /// The keys' bytes one after another, so checking a candidate reads them without first
    /// loading where they are.
    bytes: Box<[u8]>,
    seed: u64,
}

/// An empty [`PerfectTable`] slot: length 0 with a tail word the empty name does not have
/// (its tail word is 0), so no name matches it.
const EMPTY_PERFECT_SLOT: (u64, u16, u16, u32) = (1, 0, 0, 0);
/// The most keys a [`PerfectTable`] is tried for (beyond, collisions become likely).
const PERFECT_MAX_KEYS: usize = 48;

impl PerfectTable {
    #[inline(always)]
    fn slot(seed: u64, len: usize, tail: u64) -> u8 {
        ((tail ^ len as u64).wrapping_mul(seed) >> 56) as u8
    }

    /// Tries odd multipliers (from a fixed sequence, so the layout is reproducible) until
    /// the keys land in distinct slots; `None` when none did.
    fn build(keys: &[String]) -> Option<PerfectTable> {
        if keys.len() > PERFECT_MAX_KEYS {
            return None;
        }
        let mut bytes = Vec::new();
        let mut entries = Vec::with_capacity(keys.len());
        for (id, k) in keys.iter().enumerate() {
            let len = u16::try_from(k.len()).ok()?;
            let off = u32::try_from(bytes.len()).ok()?;
            entries.push((tail_word(k.as_bytes()), len, u16::try_from(id).ok()?, off));
            bytes.extend_from_slice(k.as_bytes());
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1024 {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let seed = (z ^ (z >> 31)) | 1;
            let mut slots = Box::new([EMPTY_PERFECT_SLOT; 256]);
            let mut taken = [false; 256];
            let fits = entries.iter().all(|&(tail, len, id, off)| {
                let i = usize::from(Self::slot(seed, usize::from(len), tail));
                if std::mem::replace(&mut taken[i], true) {
                    return false;
                }
                slots[i] = (tail, len, id, off);
                true
            });
            if fits {
                return Some(PerfectTable {
                    slots,
                    bytes: bytes.into(),
                    seed,
                });
            }
        }
        None
    }
}

const SHORT_NAME: usize = 128;

/// The last eight bytes of `b` as a word (zero-padded when shorter).
#[inline]
fn tail_word(b: &[u8]) -> u64 {
    if let Some(t) = b.len().checked_sub(8).and_then(|at| b.get(at..)) {
        return u64::from_le_bytes(t.try_into().unwrap_or([0; 8]));
    }
    tail_word_short(b)
}

/// [`tail_word`] of a name shorter than eight bytes (the name little-endian, zero-padded),
/// from at most three overlapping loads and no loop: byte `i` goes to bits `8 * i`, and
/// overlapping loads put the same byte in the same place.
#[inline]
fn tail_word_short(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        return tail_word(b);
    }
    let le4 = |at: usize| -> u64 {
        b.get(at..at + 4).map_or(0, |w| {
            u64::from(u32::from_le_bytes(w.try_into().unwrap_or([0; 4])))
        })
    };
    let byte = |at: usize| -> u64 { b.get(at).map_or(0, |&x| u64::from(x)) };
    if n >= 4 {
        le4(0) | le4(n - 4) << (8 * (n - 4))
    } else if n > 0 {
        byte(0) | byte(n / 2) << (8 * (n / 2)) | byte(n - 1) << (8 * (n - 1))
    } else {
        0
    }
}

/// The word of `b` at `at` (`at + 8 <= b.len()`, else zero).
#[inline]
fn word_at(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8) {
        Some(w) => u64::from_le_bytes(w.try_into().unwrap_or([0; 8])),
        None => 0,
    }
}

/// Whether `a` and `b`, of equal length and with equal [`tail_word`]s, are equal: compares the
/// bytes before the last eight, a word at a time (the last of those words overlapping the
/// one before when the length is not a multiple of eight).
#[inline]
fn eq_known_tail(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n <= 8 {
        // The tail word held the whole name.
        return b.len() == n;
    }
    let m = n - 8;
    if m <= 8 {
        // The first word and the tail cover the name.
        return word_at(a, 0) == word_at(b, 0);
    }
    let (Some(ha), Some(hb)) = (a.get(..m), b.get(..m)) else {
        return false;
    };
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    let mut diff = word_at(a, m - 8) ^ word_at(b, m - 8);
    for (x, y) in ha.chunks_exact(8).zip(hb.chunks_exact(8)) {
        diff |= word(x) ^ word(y);
    }
    diff == 0
}

/// [`eq_known_tail`] without a loop for names up to 72 bytes: the bytes before the tail
/// compared sixteen at a time at four offsets clamped to the last sixteen (overlapping
/// chunks compare the same bytes twice), so how long the name is decides no branch there.
#[inline(always)]
fn eq_known_tail_fixed(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n <= 8 || b.len() != n {
        return b.len() == n;
    }
    if n > 72 {
        return eq_known_tail(a, b);
    }
    let m = n - 8;
    if m < 16 {
        // The first word and the one ending at `m` (or the tail) cover the rest.
        let last = m.saturating_sub(8);
        return word_at(a, 0) == word_at(b, 0) && word_at(a, last) == word_at(b, last);
    }
    let (Some(a), Some(b)) = (a.get(..m), b.get(..m)) else {
        return false;
    };
    let last = m - 16;
    let mut diff = 0u128;
    for i in 0..4 {
        let o = (i * 16).min(last);
        let chunk = |c: &[u8]| {
            c.get(o..o + 16)
                .map_or(0, |x| u128::from_le_bytes(x.try_into().unwrap_or([0; 16])))
        };
        diff |= chunk(a) ^ chunk(b);
    }
    diff == 0
}

impl KeyLookup {
    fn new(keys: &[String]) -> KeyLookup {
        let mut cands: Vec<(usize, u64, u32)> = keys
            .iter()
            .enumerate()
            .map(|(id, k)| (k.len(), tail_word(k.as_bytes()), id as u32))
            .collect();
        cands.sort_unstable();
        let mut first = [0u32; SHORT_NAME + 1];
        for (n, f) in first.iter_mut().enumerate() {
            *f = cands.partition_point(|c| c.0 < n) as u32;
        }
        let names = keys.iter().map(|k| k.as_bytes().into()).collect();
        KeyLookup {
            cands,
            first,
            names,
            perfect: PerfectTable::build(keys),
        }
    }

    /// The id of the key `name`, if it is one.
    #[cfg(test)]
    fn find(&self, name: &[u8]) -> Option<usize> {
        match &self.perfect {
            Some(p) => self.find_perfect(p, name),
            None => self.find_listed(name),
        }
    }

    /// [`KeyLookup::find`] through the perfect table `p` (this lookup's).
    #[inline(always)]
    fn find_perfect(&self, p: &PerfectTable, name: &[u8]) -> Option<usize> {
        let n = name.len();
        let t = tail_word(name);
        let (tail, len, id, off) = p.slots[usize::from(PerfectTable::slot(p.seed, n, t))];
        if tail != t || usize::from(len) != n {
            return None;
        }
        let key = p.bytes.get(off as usize..off as usize + n)?;
        eq_known_tail_fixed(key, name).then_some(usize::from(id))
    }

    /// [`KeyLookup::find`] through the candidate lists, for key sets without a perfect table.
    #[inline(always)]
    fn find_listed(&self, name: &[u8]) -> Option<usize> {
        let n = name.len();
        let range = if n < SHORT_NAME {
            let (lo, hi) = (self.first[n], self.first[n + 1]);
            if lo == hi {
                return None;
            }
            lo as usize..hi as usize
        } else {
            self.first[SHORT_NAME] as usize..self.cands.len()
        };
        let t = tail_word(name);
        self.cands
            .get(range)
            .unwrap_or_default()
            .iter()
            .find(|&&(len, tail, id)| {
                len == n
                    && tail == t
                    && self
                        .names
                        .get(id as usize)
                        .is_some_and(|k| eq_known_tail(k, name))
            })
            .map(|c| c.2 as usize)
    }
}

/// A label name fixed in a rule (a source label or a plain target).
#[derive(Debug, Clone)]
struct Key {
    name: String,
    id: usize,
    /// Whether a rule can set a label of this name (otherwise its value is always the input's,
    /// and lookups skip the labels set by rules).
    settable: bool,
}

impl Key {
    fn new(name: &str) -> Key {
        Key {
            name: name.to_string(),
            id: 0,
            settable: true,
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    sources: Vec<Key>,
    separator: String,
    op: Op,
    /// Keyed mode: a `replace` that copies one source to a fixed target when the wildcard
    /// accepts it (`source_labels: [x]`, `regex: (.*)`, `target_label: y`), by key ids.
    copy1: Option<Copy1>,
}

/// See [`Rule::copy1`].
#[derive(Debug, Clone, Copy)]
struct Copy1 {
    src: usize,
    dst: usize,
    min1: bool,
    newline: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Keep(Pat),
    Drop(Pat),
    KeepEqual(Key),
    DropEqual(Key),
    Replace(Box<Replace>),
    HashMod {
        target: Key,
        modulus: u64,
    },
    LabelMap(Box<Rewrite>),
    LabelDrop(Pat),
    /// `labeldrop` whose regex matches a finite set of names: those names, as keys.
    LabelDropSet(Pat, Vec<Key>),
    LabelKeep(Pat),
    Lowercase(Key),
    Uppercase(Key),
}

#[derive(Debug, Clone)]
struct Replace {
    re: Re,
    target: Target,
    replacement: Template,
    /// Set when the value is group 1 of a `(.*)`- or `literal(.*)`-shaped regex and the
    /// target is fixed (the usual `target_label: x` copies): the value is then the source
    /// past the prefix, found without capture spans.
    copy: Option<CopyRest>,
    /// Set when the replacement is a literal, the target fixed and the regex `(.*)` or
    /// `(.+)` (`min1`, `newline`): the rule sets the literal when the wildcard accepts the
    /// source, with no capture spans (`target_label: endpoint`, `replacement: http-metrics`).
    set_literal: Option<(bool, bool)>,
}

/// See [`Replace::copy`]: the source must start with `prefix`, and the rest must be what
/// the wildcard accepts.
#[derive(Debug, Clone)]
struct CopyRest {
    prefix: String,
    min1: bool,
    newline: bool,
}

#[derive(Debug, Clone)]
enum Target {
    /// A target without `$`: valid by validation.
    Static(Key),
    /// A template, expanded per match and checked at run time.
    Template(Template, NameValidation),
}

/// `labelmap`: a name regex and the template for the new name.
#[derive(Debug, Clone)]
struct Rewrite {
    re: Re,
    replacement: Template,
}

/// A regex for matching only, with a fast path for alternations of literals and
/// `literal.*` branches that the regex's own strategies leave to the engine (`a.*|b.*`).
#[derive(Debug, Clone)]
struct Pat {
    go: GoRegex,
    branches: Option<Vec<Branch>>,
    /// Whether the branches are all plain literals (the regex matches exactly those
    /// strings), so a joined value can be compared piece by piece without joining it.
    literals: bool,
}

/// One branch of an alternation: a literal, alone or followed by `.*`/`.+`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Branch {
    literal: String,
    /// `(min1, newline)` of a trailing wildcard, if any.
    wild: Option<(bool, bool)>,
}

impl Pat {
    fn new(go: GoRegex) -> Pat {
        let branches = match go.set_matches() {
            // A few literals compare faster in line than through the set's lookup.
            Some(set) if set.len() <= MAX_INLINE_SET => Some(
                set.iter()
                    .map(|l| Branch {
                        literal: l.clone(),
                        wild: None,
                    })
                    .collect(),
            ),
            _ if go.strategy_name() == "regex" => branches(&go),
            _ => None,
        };
        let literals = branches
            .as_ref()
            .is_some_and(|bs| bs.iter().all(|b| b.wild.is_none()));
        Pat {
            go,
            branches,
            literals,
        }
    }

    #[inline]
    fn is_match(&self, s: &str) -> bool {
        match &self.branches {
            Some(bs) => bs.iter().any(|b| match b.wild {
                None => eq_bytes(b.literal.as_bytes(), s.as_bytes()),
                Some((min1, newline)) => {
                    let lit = b.literal.as_bytes();
                    s.as_bytes()
                        .get(..lit.len())
                        .is_some_and(|head| eq_bytes(head, lit))
                        && s.get(lit.len()..)
                            .is_some_and(|rest| wild_accepts(rest, min1, newline))
                }
            }),
            None => self.go.is_match(s),
        }
    }
}

/// Literal sets up to this size are matched by comparing each literal in line.
const MAX_INLINE_SET: usize = 8;

/// Whether `a == b`, eight bytes at a time and in line: label values and names are short,
/// and a call to `memcmp` costs more than the comparison.
#[inline]
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if word(x) != word(y) {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x == y)
}

/// The branches of an anchored regex made only of literals, alternations and a trailing
/// wildcard, at most 64 of them.
fn branches(go: &GoRegex) -> Option<Vec<Branch>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(go.regex().as_str())
        .ok()?;
    let mut parts: Vec<&Hir> = Vec::new();
    flatten(&hir, &mut parts);
    strip_anchors(&mut parts);
    let mut acc = vec![(Vec::<u8>::new(), None)];
    for p in parts {
        acc = concat_branches(acc, branch_list(p)?)?;
    }
    acc.into_iter()
        .map(|(lit, wild)| {
            Some(Branch {
                literal: String::from_utf8(lit).ok()?,
                wild,
            })
        })
        .collect()
}

type RawBranch = (Vec<u8>, Option<(bool, bool)>);

fn branch_list(h: &Hir) -> Option<Vec<RawBranch>> {
    match h.kind() {
        HirKind::Empty => Some(vec![(Vec::new(), None)]),
        HirKind::Literal(l) => Some(vec![(l.0.to_vec(), None)]),
        HirKind::Capture(c) => branch_list(&c.sub),
        HirKind::Repetition(_) => Some(vec![(Vec::new(), Some(wild(h)?))]),
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(branch_list(a)?);
                if out.len() > 64 {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Concat(parts) => {
            let mut acc = vec![(Vec::new(), None)];
            for p in parts {
                acc = concat_branches(acc, branch_list(p)?)?;
            }
            Some(acc)
        }
        _ => None,
    }
}

fn concat_branches(left: Vec<RawBranch>, right: Vec<RawBranch>) -> Option<Vec<RawBranch>> {
    if left.len() * right.len() > 64 {
        return None;
    }
    let mut out = Vec::with_capacity(left.len() * right.len());
    for (l, lw) in &left {
        // Nothing may follow a wildcard.
        if lw.is_some() {
            return None;
        }
        for (r, rw) in &right {
            let mut lit = l.clone();
            lit.extend_from_slice(r);
            out.push((lit, *rw));
        }
    }
    Some(out)
}

/// A regex with the cheapest way to find the capture groups a rule needs.
#[derive(Debug, Clone)]
struct Re {
    pat: Pat,
    shape: Shape,
    /// Identifies this regex's capture buffers in the per-thread scratch space; unique per
    /// compiled regex (clones share it, and share the regex's group layout too).
    key: u64,
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// The templates read only group 0, so matching is enough.
    MatchOnly,
    /// `(.*)` or `(.+)`: group 1 is the whole input.
    Wild { min1: bool, newline: bool },
    /// `literal(.*)`: group 1 is the rest after the literal.
    PrefixWild {
        prefix: String,
        min1: bool,
        newline: bool,
    },
    /// `(x)` for any `x` without further groups: group 1 is the whole input.
    WholeGroup,
    /// Anything else: run the capture engine.
    General,
}

#[inline]
fn wild_accepts(s: &str, min1: bool, newline: bool) -> bool {
    (!min1 || !s.is_empty()) && (newline || !s.as_bytes().contains(&b'\n'))
}

impl Re {
    fn new(go: GoRegex, max_group: Option<usize>) -> Re {
        let shape = if max_group.unwrap_or(0) == 0 {
            Shape::MatchOnly
        } else if go.captures_len() == 2 {
            analyze(&go).unwrap_or(Shape::General)
        } else {
            Shape::General
        };
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        Re {
            pat: Pat::new(go),
            shape,
            key,
        }
    }

    /// Matches `s`; on a match, fills `spans` with the byte range of each group the shape knows
    /// (`None` for a group that did not take part).
    #[inline]
    fn captures(
        &self,
        s: &str,
        spans: &mut Vec<Option<(usize, usize)>>,
        locs: &mut Option<CaptureLocations>,
    ) -> bool {
        spans.clear();
        let all = Some((0, s.len()));
        match &self.shape {
            Shape::MatchOnly => {
                if !self.pat.is_match(s) {
                    return false;
                }
                spans.push(all);
            }
            Shape::Wild { min1, newline } => {
                if !wild_accepts(s, *min1, *newline) {
                    return false;
                }
                spans.extend([all, all]);
            }
            Shape::PrefixWild {
                prefix,
                min1,
                newline,
            } => match s.strip_prefix(prefix.as_str()) {
                Some(rest) if wild_accepts(rest, *min1, *newline) => {
                    spans.extend([all, Some((prefix.len(), s.len()))]);
                }
                _ => return false,
            },
            Shape::WholeGroup => {
                if !self.pat.is_match(s) {
                    return false;
                }
                spans.extend([all, all]);
            }
            Shape::General => {
                let re = self.pat.go.regex();
                let locs = locs.get_or_insert_with(|| re.capture_locations());
                if re.captures_read(locs, s).is_none() {
                    return false;
                }
                spans.extend((0..locs.len()).map(|i| locs.get(i)));
            }
        }
        true
    }
}

/// Recognises the shapes of a one-group regex whose group 1 can be found without the capture
/// engine. Works on the translated, anchored pattern.
fn analyze(go: &GoRegex) -> Option<Shape> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(go.regex().as_str())
        .ok()?;
    let mut parts: Vec<&Hir> = Vec::new();
    flatten(&hir, &mut parts);
    strip_anchors(&mut parts);
    match parts.as_slice() {
        [one] => match one.kind() {
            HirKind::Capture(c) if c.index == 1 => Some(match wild(&c.sub) {
                Some((min1, newline)) => Shape::Wild { min1, newline },
                None => Shape::WholeGroup,
            }),
            _ => None,
        },
        [lit, cap] => {
            let HirKind::Literal(l) = lit.kind() else {
                return None;
            };
            let HirKind::Capture(c) = cap.kind() else {
                return None;
            };
            let (min1, newline) = wild(&c.sub)?;
            Some(Shape::PrefixWild {
                prefix: String::from_utf8(l.0.to_vec()).ok()?,
                min1,
                newline,
            })
        }
        _ => None,
    }
}

/// Drops `^` from the front and `$` from the back of a flattened pattern: the wrapper anchors
/// anyway. (A `^` at the back or a `$` at the front is not redundant and stays.)
fn strip_anchors(parts: &mut Vec<&Hir>) {
    let is = |h: Option<&&Hir>, look: Look| {
        h.is_some_and(|h| matches!(h.kind(), HirKind::Look(l) if *l == look))
    };
    while is(parts.first(), Look::Start) {
        parts.remove(0);
    }
    while is(parts.last(), Look::End) {
        parts.pop();
    }
}

fn flatten<'h>(h: &'h Hir, out: &mut Vec<&'h Hir>) {
    match h.kind() {
        HirKind::Concat(parts) => parts.iter().for_each(|p| flatten(p, out)),
        _ => out.push(h),
    }
}

/// `.*` or `.+` (greedy or not): (min1, `.` matches newline).
fn wild(h: &Hir) -> Option<(bool, bool)> {
    let HirKind::Repetition(r) = h.kind() else {
        return None;
    };
    if r.max.is_some() || r.min > 1 {
        return None;
    }
    let HirKind::Class(Class::Unicode(cls)) = r.sub.kind() else {
        return None;
    };
    let newline = match cls.ranges() {
        [a] if a.start() == '\0' && a.end() == '\u{10FFFF}' => true,
        [a, b]
            if a.start() == '\0'
                && a.end() == '\t'
                && b.start() == '\x0B'
                && b.end() == '\u{10FFFF}' =>
        {
            false
        }
        _ => return None,
    };
    Some((r.min == 1, newline))
}

fn compile_rule(cfg: &RelabelConfig, opts: Options, origin: Origin) -> Result<Rule, Error> {
    let invalid = |reason: String| Error::Invalid {
        index: origin.index,
        line: origin.line,
        reason,
    };
    cfg.validate(opts.name_validation).map_err(invalid)?;
    let regex = || {
        cfg.compile_regex(opts.regex)
            .map_err(|source| Error::Regex {
                index: origin.index,
                line: origin.line,
                source,
            })
    };
    let Some(action) = cfg.action else {
        return Err(invalid("relabel action cannot be empty".to_string()));
    };
    let target = Key::new(&cfg.target_label);
    let op = match action {
        Action::Keep => Op::Keep(Pat::new(regex()?)),
        Action::Drop => Op::Drop(Pat::new(regex()?)),
        Action::KeepEqual => Op::KeepEqual(target),
        Action::DropEqual => Op::DropEqual(target),
        Action::HashMod => Op::HashMod {
            target,
            modulus: cfg.modulus,
        },
        Action::LabelDrop => {
            let go = regex()?;
            match go.set_matches() {
                Some(names) => {
                    let keys = names.iter().map(|n| Key::new(n)).collect();
                    Op::LabelDropSet(Pat::new(go), keys)
                }
                None => Op::LabelDrop(Pat::new(go)),
            }
        }
        Action::LabelKeep => Op::LabelKeep(Pat::new(regex()?)),
        Action::Lowercase => Op::Lowercase(target),
        Action::Uppercase => Op::Uppercase(target),
        Action::Replace => {
            let go = regex()?;
            let replacement = Template::compile(&cfg.replacement, Some(&go));
            let target = if target.name.contains('$') {
                Target::Template(
                    Template::compile(&target.name, Some(&go)),
                    opts.name_validation,
                )
            } else {
                Target::Static(target)
            };
            let max_group = match &target {
                Target::Template(t, _) => t.max_group().max(replacement.max_group()),
                Target::Static(_) => replacement.max_group(),
            };
            let set_literal = match (&target, replacement.as_literal()) {
                (Target::Static(_), Some(_)) if go.captures_len() == 2 => match analyze(&go) {
                    Some(Shape::Wild { min1, newline }) => Some((min1, newline)),
                    _ => None,
                },
                _ => None,
            };
            let re = Re::new(go, max_group);
            let copy = match (&target, replacement.as_single_group(), &re.shape) {
                (Target::Static(_), Some(1), Shape::Wild { min1, newline }) => Some(CopyRest {
                    prefix: String::new(),
                    min1: *min1,
                    newline: *newline,
                }),
                (
                    Target::Static(_),
                    Some(1),
                    Shape::PrefixWild {
                        prefix,
                        min1,
                        newline,
                    },
                ) => Some(CopyRest {
                    prefix: prefix.clone(),
                    min1: *min1,
                    newline: *newline,
                }),
                _ => None,
            };
            Op::Replace(Box::new(Replace {
                re,
                target,
                replacement,
                copy,
                set_literal,
            }))
        }
        Action::LabelMap => {
            let go = regex()?;
            let replacement = Template::compile(&cfg.replacement, Some(&go));
            let max_group = replacement.max_group();
            Op::LabelMap(Box::new(Rewrite {
                re: Re::new(go, max_group),
                replacement,
            }))
        }
    };
    Ok(Rule {
        sources: cfg.source_labels.iter().map(|n| Key::new(n)).collect(),
        separator: cfg.separator.clone(),
        op,
        copy1: None,
    })
}

impl Relabeler {
    /// Checks and compiles `configs` (in order) with `opts`.
    pub fn new(configs: &[RelabelConfig], opts: Options) -> Result<Relabeler, Error> {
        let rules = configs
            .iter()
            .enumerate()
            .map(|(index, c)| compile_rule(c, opts, Origin { index, line: 0 }))
            .collect::<Result<_, _>>()?;
        Ok(Relabeler::with_keys(rules))
    }

    /// Loads a YAML list of relabel configs (a `relabel_configs` or `metric_relabel_configs`
    /// list as Prometheus writes it), checks and compiles it. As in Prometheus, every source
    /// label must be a valid label name.
    pub fn from_yaml(text: &str, opts: Options) -> Result<Relabeler, Error> {
        let parsed = parse_yaml(text)?;
        let mut rules = Vec::with_capacity(parsed.len());
        for (cfg, origin) in &parsed {
            if let Some(bad) = cfg
                .source_labels
                .iter()
                .find(|n| !opts.name_validation.is_valid_label_name(n))
            {
                return Err(Error::Invalid {
                    index: origin.index,
                    line: origin.line,
                    reason: format!("{bad:?} is not a valid label name"),
                });
            }
            rules.push(compile_rule(cfg, opts, *origin)?);
        }
        Ok(Relabeler::with_keys(rules))
    }

    /// Numbers the fixed names of the rules.
    fn with_keys(mut rules: Vec<Rule>) -> Relabeler {
        fn each_key(rules: &mut [Rule], f: &mut dyn FnMut(&mut Key)) {
            for r in rules {
                r.sources.iter_mut().for_each(&mut *f);
                match &mut r.op {
                    Op::KeepEqual(k)
                    | Op::DropEqual(k)
                    | Op::Lowercase(k)
                    | Op::Uppercase(k)
                    | Op::HashMod { target: k, .. } => f(k),
                    Op::LabelDropSet(_, ks) => ks.iter_mut().for_each(&mut *f),
                    Op::Replace(rep) => {
                        if let Target::Static(k) = &mut rep.target {
                            f(k)
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut keys: Vec<String> = Vec::new();
        each_key(&mut rules, &mut |k| keys.push(k.name.clone()));
        keys.sort_unstable_by(|a, b| cmp_names(a, b));
        keys.dedup();
        each_key(&mut rules, &mut |k| {
            k.id = keys
                .binary_search_by(|n| cmp_names(n, &k.name))
                .unwrap_or(0)
        });
        for r in &mut rules {
            r.copy1 = match (&r.op, r.sources.as_slice()) {
                (Op::Replace(rep), [src]) => match (&rep.copy, &rep.target) {
                    (Some(c), Target::Static(dst)) if c.prefix.is_empty() => Some(Copy1 {
                        src: src.id,
                        dst: dst.id,
                        min1: c.min1,
                        newline: c.newline,
                    }),
                    _ => None,
                },
                _ => None,
            };
        }
        let filters = rules
            .iter()
            .take_while(|r| {
                matches!(r.op, Op::Keep(_) | Op::Drop(_))
                    && matches!(r.sources.as_slice(), [k] if k.name == lookout_model::METRIC_NAME)
            })
            .count();
        let keyed = rules.iter().all(|r| match &r.op {
            Op::LabelMap(_) | Op::LabelDrop(_) | Op::LabelKeep(_) => false,
            Op::Replace(rep) => matches!(rep.target, Target::Static(_)),
            _ => true,
        });
        let mut settable_keys = Vec::new();
        if keyed {
            // Then only fixed targets are ever set.
            let mut settable = vec![false; keys.len()];
            for r in &rules {
                let target = match &r.op {
                    Op::Lowercase(k) | Op::Uppercase(k) | Op::HashMod { target: k, .. } => k,
                    Op::Replace(rep) => match &rep.target {
                        Target::Static(k) => k,
                        Target::Template(..) => continue,
                    },
                    _ => continue,
                };
                if let Some(s) = settable.get_mut(target.id) {
                    *s = true;
                }
            }
            each_key(&mut rules, &mut |k| {
                k.settable = settable.get(k.id).copied().unwrap_or(true)
            });
            settable_keys = keys
                .iter()
                .zip(&settable)
                .enumerate()
                .filter(|(_, (_, &s))| s)
                .map(|(id, (k, _))| (head_word(k.as_bytes()), id as u32))
                .collect();
        }
        let mut read = vec![false; keys.len()];
        for r in &rules {
            for k in &r.sources {
                if let Some(x) = read.get_mut(k.id) {
                    *x = true;
                }
            }
        }
        let track_ins = settable_keys
            .iter()
            .any(|&(_, id)| !read.get(id as usize).copied().unwrap_or(false));
        let lookup = KeyLookup::new(&keys);
        Relabeler {
            track_ins,
            rules,
            keys,
            lookup,
            filters,
            keyed,
            settable: settable_keys,
        }
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules (every label set passes unchanged).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Applies the rules to `labels`: the new label set, or `None` when a rule dropped it.
    ///
    /// Builds the result with one allocation, and none when the rules changed nothing.
    pub fn process(&self, labels: &Labels) -> Option<Labels> {
        if !self.prefilter(|n| {
            if n == lookout_model::METRIC_NAME {
                metric_name(labels)
            } else {
                labels.get(n)
            }
        }) {
            return None;
        }
        // `Err` means the keyed fast path could not splice its result (model refuses edits
        // that would not form a valid label set); the general path then decides.
        let out = self.with_work(self.keyed, |w| {
            if self.keyed {
                let (keys, lookup, settable) = (&self.keys, &self.lookup, &self.settable);
                if self.track_ins {
                    w.resolve_spans::<true>(labels, keys, lookup, settable);
                } else {
                    w.resolve_spans::<false>(labels, keys, lookup, settable);
                }
                if !self.run(w, self.filters) {
                    return Ok(None);
                }
                if !w.dirty {
                    return Ok(Some(labels.clone()));
                }
                return w.build_spliced().map(Some).ok_or(());
            }
            w.base.extend(labels.iter().map(|l| BaseLabel {
                name: l.name,
                value: l.value,
                gone: false,
            }));
            w.resolve(&self.keys);
            if !self.run(w, self.filters) {
                return Ok(None);
            }
            Ok(Some(if w.dirty { w.build() } else { labels.clone() }))
        });
        match out {
            Ok(result) => result,
            Err(()) => self.process_view(labels),
        }
    }

    /// Applies the rules to borrowed labels (for example a series parsed from a scrape, before
    /// any `Labels` exists): the new label set, or `None` when a rule dropped it. Empty values
    /// count as absent; when names repeat, the last one wins.
    pub fn process_view<V: LabelView + ?Sized>(&self, labels: &V) -> Option<Labels> {
        // No prefilter here: a view may repeat names, and the last one wins only after
        // normalisation.
        self.with_work(false, |w| {
            labels.visit(&mut |l| {
                w.base.push(BaseLabel {
                    name: l.name,
                    value: l.value,
                    gone: false,
                })
            });
            w.normalize_input();
            w.resolve(&self.keys);
            if !self.run(w, 0) {
                return None;
            }
            Some(w.build())
        })
    }

    /// Runs the leading `__name__` filters on the input as given; false when one drops it.
    fn prefilter<'l>(&self, get: impl Fn(&str) -> Option<&'l str>) -> bool {
        for rule in self.rules.get(..self.filters).unwrap_or_default() {
            let val = rule
                .sources
                .first()
                .and_then(|k| get(&k.name))
                .unwrap_or("");
            let keep = match &rule.op {
                Op::Keep(p) => p.is_match(val),
                Op::Drop(p) => !p.is_match(val),
                _ => true,
            };
            if !keep {
                return false;
            }
        }
        true
    }

    /// Runs `f` on a working set whose buffers come from this thread's scratch space (a
    /// fresh one if that is in use further up the stack). `keyed` says which of the
    /// label-holding buffers the mode needs; the others stay where they are.
    #[inline(always)]
    fn with_work<'a, R>(&'a self, keyed: bool, f: impl FnOnce(&mut Work<'a, '_>) -> R) -> R {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                let scratch = &mut *scratch;
                let (mut w, held) = Work::from_scratch(scratch, &self.keys, keyed);
                let r = f(&mut w);
                w.into_scratch(held);
                r
            }
            Err(_) => {
                let mut scratch = Scratch::default();
                let (mut w, _) = Work::from_scratch(&mut scratch, &self.keys, keyed);
                f(&mut w)
            }
        })
    }

    /// Runs the rules from `first` on; false when one dropped the set.
    fn run<'a>(&'a self, w: &mut Work<'a, '_>, first: usize) -> bool {
        // (The mode is fixed before the rules run.)
        let keyed = w.keyed;
        for rule in self.rules.get(first..).unwrap_or_default() {
            if keyed {
                if let Some(c) = &rule.copy1 {
                    w.copy_key(*c);
                    continue;
                }
            }
            if rule.sources.len() >= 2 {
                // Rules over several sources that can be decided without joining them (the
                // `keep` of `service_label_x;labelpresent_x` and the `Pod;(.*)` target maps).
                match &rule.op {
                    Op::Keep(p) | Op::Drop(p) if p.literals => {
                        let sep = rule.separator.as_bytes();
                        let mut matched = false;
                        for b in p.branches.iter().flatten() {
                            if w.join_equals(&rule.sources, sep, b.literal.as_bytes()) {
                                matched = true;
                                break;
                            }
                        }
                        if matched != matches!(rule.op, Op::Keep(_)) {
                            return false;
                        }
                        continue;
                    }
                    Op::Replace(r) => {
                        if let (Some(c), Target::Static(key), [first, second]) =
                            (&r.copy, &r.target, rule.sources.as_slice())
                        {
                            let head = w.get_key_str(first).len() + rule.separator.len();
                            if head == c.prefix.len() {
                                // The prefix is exactly the first value and the separator:
                                // the rest is the second value.
                                let want = c.prefix.as_bytes();
                                let sep = rule.separator.as_bytes();
                                let v1 = w.get_key_str(first).as_bytes();
                                let prefix_ok = want
                                    .split_at_checked(v1.len())
                                    .is_some_and(|(a, b)| eq_bytes(a, v1) && eq_bytes(b, sep));
                                let rest = w.get_key(second).unwrap_or(Str::B(""));
                                if prefix_ok && wild_accepts(w.res(rest), c.min1, c.newline) {
                                    w.set_key(key, rest);
                                }
                                continue;
                            }
                            if !w.join_starts_with(&rule.sources, &rule.separator, &c.prefix) {
                                // No match (`Node;(.*)` on a pod): nothing to do.
                                continue;
                            }
                        }
                    }
                    _ => {}
                }
            }
            let val = w.join(&rule.sources, &rule.separator);
            match &rule.op {
                Op::Keep(re) => {
                    if !re.is_match(w.res(val)) {
                        return false;
                    }
                }
                Op::Drop(re) => {
                    if re.is_match(w.res(val)) {
                        return false;
                    }
                }
                Op::KeepEqual(t) => {
                    if w.get_key_str(t) != w.res(val) {
                        return false;
                    }
                }
                Op::DropEqual(t) => {
                    if w.get_key_str(t) == w.res(val) {
                        return false;
                    }
                }
                Op::Replace(r) => w.replace(r, val),
                Op::HashMod { target, modulus } => {
                    let n = md5_tail(w.res(val).as_bytes()) % modulus;
                    let start = w.b.arena.len();
                    push_decimal(&mut w.b.arena, n);
                    let v = Str::arena(start, w.b.arena.len());
                    w.set_key(target, v);
                }
                Op::LabelMap(m) => w.labelmap(m),
                Op::LabelDrop(re) => w.retain_names(|n| !re.is_match(n)),
                Op::LabelDropSet(re, keys) => w.drop_keys(re, keys),
                Op::LabelKeep(re) => w.retain_names(|n| re.is_match(n)),
                Op::Lowercase(t) => {
                    let v = w.res(val);
                    if case::is_lower(v) {
                        w.set_key(t, val);
                    } else {
                        let v = w.push_mapped(val, case::to_lower);
                        w.set_key(t, v);
                    }
                }
                Op::Uppercase(t) => {
                    let v = w.res(val);
                    if case::is_upper(v) {
                        w.set_key(t, val);
                    } else {
                        let v = w.push_mapped(val, case::to_upper);
                        w.set_key(t, v);
                    }
                }
            }
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// The working label set.
//
// Like Prometheus' `labels.Builder`: the input labels stay where they are (sorted, each with a
// flag once deleted or overwritten), and labels set by rules go to a short list in the order
// they were set. Lookups check the short list, then binary-search the input; `Range` order
// (input labels by name, then set labels in order) falls out, and no rule moves the input.

/// The value of `__name__` in `labels`. It sorts before every lower-case name, so it is
/// nearly always the first label: that one is checked with one word compare before falling
/// back to a walk.
#[inline]
fn metric_name(labels: &Labels) -> Option<&str> {
    let first = labels.iter().next()?;
    if first.name.as_bytes() == lookout_model::METRIC_NAME.as_bytes() {
        return Some(first.value);
    }
    if first.name > lookout_model::METRIC_NAME {
        // Sorted: every later name is greater still.
        return None;
    }
    labels.get(lookout_model::METRIC_NAME)
}

/// A string borrowed from the input or the rules (`B`), or a byte range of the arena (`A`).
/// Two words (the range fits in the niche of the reference), so it travels in registers: a
/// three-word value is passed through memory, and reading it back right after the caller
/// wrote it stalls store forwarding on every label set.
#[derive(Debug, Clone, Copy)]
enum Str<'a> {
    B(&'a str),
    A(u32, u32),
}

impl<'a> Str<'a> {
    /// The arena range `start..end`. Ranges beyond 4 GiB (no label set comes near: scrape
    /// and SD limits bound them far below) resolve to the empty string instead of wrapping.
    #[inline]
    fn arena(start: usize, end: usize) -> Str<'a> {
        match (u32::try_from(start), u32::try_from(end)) {
            (Ok(a), Ok(b)) => Str::A(a, b),
            _ => Str::B(""),
        }
    }

    /// The sub-range `a..b` of this string.
    #[inline]
    fn sub(self, a: usize, b: usize) -> Str<'a> {
        match self {
            Str::B(s) => Str::B(s.get(a..b).unwrap_or("")),
            Str::A(s, _) => Str::arena(s as usize + a, s as usize + b),
        }
    }
}

/// Appends `n` in decimal (what `write!(s, "{n}")` does, without the formatting machinery).
fn push_decimal(s: &mut String, mut n: u64) {
    if n < 10 {
        // The usual small modulus.
        s.push(char::from(b'0' + n as u8));
        return;
    }
    let mut digits = [0u8; 20];
    let mut len = 0;
    for d in digits.iter_mut() {
        *d = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.extend(digits.iter().take(len).rev().map(|&d| char::from(d)));
}

/// Byte order of two names, eight bytes at a time: label names share long prefixes
/// (`__meta_kubernetes_`), and an inlined word compare beats a call to `memcmp` at these sizes.
#[inline]
fn cmp_names(a: &str, b: &str) -> std::cmp::Ordering {
    cmp_bytes(a.as_bytes(), b.as_bytes())
}

/// [`cmp_names`] on bytes.
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    let (ha, hb) = (&a[..n], &b[..n]);
    let mut ca = ha.chunks_exact(8);
    let mut cb = hb.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_be_bytes(x.try_into().unwrap_or([0; 8]));
        let y = u64::from_be_bytes(y.try_into().unwrap_or([0; 8]));
        if x != y {
            return x.cmp(&y);
        }
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

#[inline]
fn eq_names(a: &str, b: &str) -> bool {
    a.len() == b.len() && cmp_names(a, b).is_eq()
}

#[inline]
fn res<'s>(arena: &'s str, s: Str<'s>) -> &'s str {
    match s {
        Str::B(s) => s,
        Str::A(a, b) => arena.get(a as usize..b as usize).unwrap_or(""),
    }
}

/// An input label; `gone` once deleted or overwritten (the new value is in `added`).
#[derive(Debug, Clone, Copy)]
struct BaseLabel<'a> {
    name: &'a str,
    value: &'a str,
    gone: bool,
}

/// A label set by a rule.
#[derive(Debug, Clone, Copy)]
struct Added<'a> {
    name: Str<'a>,
    value: Str<'a>,
    /// The id of the key with this name, or `NO_LOC` when no rule names it.
    key: u32,
}

/// Buffers kept between calls so relabeling allocates only the result.
#[derive(Default)]
struct Scratch {
    /// The buffers that hold no borrowed labels: the working set uses them in place.
    bufs: Bufs,
    /// The buffers of borrowed labels, lent to a working set (with the lifetime of its
    /// input) by moving them out and back: only those of the mode in use move.
    base: Vec<BaseLabel<'static>>,
    added: Vec<Added<'static>>,
    snap: Vec<Added<'static>>,
    slots: Vec<KeySlot<'static>>,
}

/// [`Scratch`] buffers that hold no borrowed data.
#[derive(Default)]
struct Bufs {
    arena: String,
    tmp: String,
    enc: String,
    spans: Vec<Option<(usize, usize)>>,
    /// Capture locations of general regexes, keyed by [`Re::key`].
    locs: Vec<(u64, CaptureLocations)>,
    /// For each of the relabeler's keys, its index in `base`, or `NO_LOC`.
    key_loc: Vec<u32>,
    /// Keyed mode: bit `id % 64` of word `id / 64` is set for the keys a rule set or
    /// deleted, so building visits them without testing every key.
    touched_bits: Vec<u64>,
    /// The storage of the keyed mode's index while there is no index.
    index: LabelIndexBuf,
}

/// Where the label-holding buffers of a working set go back to when it is done.
struct Held<'s> {
    base: &'s mut Vec<BaseLabel<'static>>,
    added: &'s mut Vec<Added<'static>>,
    snap: &'s mut Vec<Added<'static>>,
    slots: &'s mut Vec<KeySlot<'static>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

// These move a vector's allocation to another lifetime of its elements: the vector is emptied
// first, and an in-place `collect` (same element layout) keeps the buffer.
fn recycle_base<'b>(mut v: Vec<BaseLabel<'_>>) -> Vec<BaseLabel<'b>> {
    v.clear();
    v.into_iter()
        .map(|l| BaseLabel {
            name: "",
            value: "",
            gone: l.gone,
        })
        .collect()
}

fn recycle_slots<'b>(mut v: Vec<KeySlot<'_>>) -> Vec<KeySlot<'b>> {
    v.clear();
    v.into_iter().map(|_| EMPTY_SLOT).collect()
}

fn recycle_added<'b>(mut v: Vec<Added<'_>>) -> Vec<Added<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| Added {
            name: Str::B(""),
            value: Str::B(""),
            key: NO_LOC,
        })
        .collect()
}

struct Work<'a, 's> {
    /// The relabeler's keys (sorted names).
    keys: &'a [String],
    /// The buffers that hold no borrowed data (the arena of values made by rules, capture
    /// spans, the result's encoding), used in place.
    b: &'s mut Bufs,
    /// Input labels, sorted by name, unique. (Not in keyed mode.)
    base: Vec<BaseLabel<'a>>,
    /// Labels set by rules, in the order first set. (Not in keyed mode.)
    added: Vec<Added<'a>>,
    snap: Vec<Added<'a>>,
    /// Keyed mode: the state of each key, by key id. `base`, `added` and `key_loc` stay
    /// unused. (One vector of small structs: moving and resetting a vector per field cost
    /// more than the work on a short metric label set.)
    slots: Vec<KeySlot<'a>>,
    /// Whether this is the keyed mode.
    keyed: bool,
    /// Keyed mode: the decoded input.
    index: Option<LabelIndex<'a>>,
    /// Keyed mode: the insertion positions of absent keys were not noted (see
    /// `Relabeler::track_ins`).
    lazy_ins: bool,
    dirty: bool,
}

const NO_LOC: u32 = u32::MAX;

/// Keyed mode: one key's state.
#[derive(Debug, Clone, Copy)]
struct KeySlot<'a> {
    /// The current value (empty when absent), unless `IN_ARENA` is set. (Not a `Str`:
    /// copying a `Str` the compiler had just spilled as two halves into it, as one 16-byte
    /// value, stalled on store forwarding at every set.)
    cur: &'a str,
    /// The arena range of the current value, with `IN_ARENA`.
    arena: (u32, u32),
    /// The key's position in the input, or `NO_LOC`.
    at: u32,
    /// For a settable key, the position in the input where it would be inserted (the number
    /// of input labels that sort before it).
    ins: u32,
    /// `TOUCHED`, `IN_ARENA`.
    flags: u8,
}

const EMPTY_SLOT: KeySlot<'static> = KeySlot {
    cur: "",
    arena: (0, 0),
    at: NO_LOC,
    ins: 0,
    flags: 0,
};
/// `KeySlot::flags`: a rule set or deleted the key.
const TOUCHED: u8 = 1;
/// `KeySlot::flags`: the key's value is in `KeySlot::arena`.
const IN_ARENA: u8 = 2;

impl<'a, 's> Work<'a, 's> {
    #[inline(always)]
    fn from_scratch(s: &'s mut Scratch, keys: &'a [String], keyed: bool) -> (Self, Held<'s>) {
        let Scratch {
            bufs,
            base,
            added,
            snap,
            slots,
        } = s;
        bufs.arena.clear();
        let mut w = Work {
            keys,
            b: bufs,
            base: Vec::new(),
            added: Vec::new(),
            snap: Vec::new(),
            slots: Vec::new(),
            keyed: false,
            index: None,
            lazy_ins: false,
            dirty: false,
        };
        if keyed {
            w.slots = recycle_slots(std::mem::take(slots));
        } else {
            w.base = recycle_base(std::mem::take(base));
            w.added = recycle_added(std::mem::take(added));
            w.snap = recycle_added(std::mem::take(snap));
        }
        (
            w,
            Held {
                base,
                added,
                snap,
                slots,
            },
        )
    }

    #[inline(always)]
    fn into_scratch(self, held: Held<'_>) {
        // Keep buffers bounded: one huge label set should not pin memory forever.
        const KEEP: usize = 1 << 16;
        const KEEP_LABELS: usize = 4096;
        // Only what was lent has a capacity; the others are empty and stay unreturned.
        if self.base.capacity() != 0 && self.base.capacity() <= KEEP_LABELS {
            *held.base = recycle_base(self.base);
        }
        if self.added.capacity() != 0 && self.added.capacity() <= KEEP_LABELS {
            *held.added = recycle_added(self.added);
        }
        if self.snap.capacity() != 0 && self.snap.capacity() <= KEEP_LABELS {
            *held.snap = recycle_added(self.snap);
        }
        if self.slots.capacity() != 0 && self.slots.capacity() <= KEEP_LABELS {
            *held.slots = recycle_slots(self.slots);
        }
        let b = self.b;
        if let Some(index) = self.index {
            let index = index.into_buf();
            if index.capacity() <= KEEP_LABELS {
                b.index = index;
            }
        }
        for s in [&mut b.arena, &mut b.tmp, &mut b.enc] {
            if s.capacity() > KEEP {
                *s = String::new();
            }
        }
    }

    /// Sorts input that did not come in name order, removes repeated names (last wins), then
    /// labels with empty values.
    fn normalize_input(&mut self) {
        let sorted = self.base.windows(2).all(|w| w[0].name < w[1].name);
        if !sorted {
            // A stable sort keeps equal names in input order; keep the last of each run.
            self.base.sort_by(|a, b| a.name.cmp(b.name));
            let mut out: Vec<BaseLabel<'a>> = Vec::with_capacity(self.base.len());
            for l in self.base.drain(..) {
                match out.last_mut() {
                    Some(last) if last.name == l.name => *last = l,
                    _ => out.push(l),
                }
            }
            self.base = out;
        }
        self.base.retain(|l| !l.value.is_empty());
    }

    #[inline]
    fn res(&self, s: Str<'a>) -> &str {
        res(&self.b.arena, s)
    }

    /// Index in `added` of `name`.
    #[inline]
    fn find_added(&self, name: &str) -> Option<usize> {
        let arena = self.b.arena.as_str();
        self.added
            .iter()
            .position(|a| eq_names(res(arena, a.name), name))
    }

    /// Index in `added` of the key `id`.
    #[inline]
    fn find_added_key(&self, id: u32) -> Option<usize> {
        self.added.iter().position(|a| a.key == id)
    }

    /// Index in `base` of a live label `name`.
    #[inline]
    fn find_base(&self, name: &str) -> Option<usize> {
        match self.base.binary_search_by(|l| cmp_names(l.name, name)) {
            Ok(i) if !self.base[i].gone => Some(i),
            _ => None,
        }
    }

    /// Finds every key in the input with one merge of two sorted lists.
    fn resolve(&mut self, keys: &[String]) {
        self.b.key_loc.clear();
        self.b.key_loc.resize(keys.len(), NO_LOC);
        let (mut i, mut j) = (0, 0);
        while i < self.base.len() && j < keys.len() {
            match cmp_names(self.base[i].name, &keys[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    self.b.key_loc[j] = i as u32;
                    i += 1;
                    j += 1;
                }
            }
        }
    }

    /// Keyed mode: decodes the input once, notes the value and position of every key it
    /// holds, and where each settable key would be inserted (`settable` is in name order, as
    /// the input is, so one cursor walks it alongside). Without `TRACK`, insertion positions
    /// are left for [`Work::build_spliced`] to search.
    fn resolve_spans<const TRACK: bool>(
        &mut self,
        labels: &'a Labels,
        keys: &[String],
        lookup: &KeyLookup,
        settable: &[(u64, u32)],
    ) {
        // One instance of the walk per way of finding keys, so the choice is not made per
        // label.
        match &lookup.perfect {
            Some(p) => self
                .resolve_with::<TRACK>(labels, keys, settable, |name| lookup.find_perfect(p, name)),
            None => {
                self.resolve_with::<TRACK>(labels, keys, settable, |name| lookup.find_listed(name))
            }
        }
    }

    /// [`Work::resolve_spans`] with `find` giving the key id of a name.
    #[inline(always)]
    fn resolve_with<const TRACK: bool>(
        &mut self,
        labels: &'a Labels,
        keys: &[String],
        settable: &[(u64, u32)],
        find: impl Fn(&[u8]) -> Option<usize>,
    ) {
        self.keyed = true;
        self.lazy_ins = !TRACK;
        let n = keys.len();
        self.slots.clear();
        // (`extend` from an exact-size iterator writes in line; `resize` is a call.)
        self.slots.extend((0..n).map(|_| EMPTY_SLOT));
        self.b.touched_bits.clear();
        self.b.touched_bits.extend((0..n.div_ceil(64)).map(|_| 0));
        let slots = &mut self.slots;
        let mut next = 0;
        // The head word of the next settable key; past the last one, no name reaches it
        // (a name of eight 0xff bytes is not UTF-8).
        let mut next_kw = settable.first().map_or(u64::MAX, |k| k.0);
        let index = labels.index_scan(std::mem::take(&mut self.b.index), |i, l| {
            let name = l.name_bytes();
            let nw = if TRACK { head_word(name) } else { 0 };
            if TRACK && next_kw <= nw {
                // Every settable key before this label goes at position `i`.
                while let Some(&(kw, id)) = settable.get(next) {
                    let before = kw < nw
                        || (kw == nw
                            && keys
                                .get(id as usize)
                                .is_some_and(|k| cmp_bytes(k.as_bytes(), name).is_lt()));
                    if !before {
                        break;
                    }
                    if let Some(p) = slots.get_mut(id as usize) {
                        p.ins = i as u32;
                    }
                    next += 1;
                }
                next_kw = settable.get(next).map_or(u64::MAX, |k| k.0);
            }
            if let Some(j) = find(name) {
                if let Some(slot) = slots.get_mut(j) {
                    slot.cur = l.value();
                    slot.at = i as u32;
                }
            }
        });
        let len = u32::try_from(index.len()).unwrap_or(u32::MAX);
        let rest = if TRACK { next } else { settable.len() };
        for &(_, id) in settable.get(rest..).unwrap_or_default() {
            if let Some(p) = slots.get_mut(id as usize) {
                p.ins = len;
            }
        }
        self.index = Some(index);
    }

    /// `labeldrop` of a finite set of names.
    fn drop_keys(&mut self, re: &Pat, keys: &'a [Key]) {
        if self.keyed {
            for k in keys {
                self.set_key(k, Str::B(""));
            }
            return;
        }
        for k in keys {
            if let Some(i) = self.find_base_key(k) {
                self.base[i].gone = true;
                self.dirty = true;
            }
        }
        if !self.added.is_empty() {
            let before = self.added.len();
            let arena = self.b.arena.as_str();
            self.added.retain(|a| !re.is_match(res(arena, a.name)));
            if self.added.len() != before {
                self.dirty = true;
            }
        }
    }

    /// Index in `base` of the live input label `key`.
    #[inline]
    fn find_base_key(&self, key: &Key) -> Option<usize> {
        let i = *self.b.key_loc.get(key.id)? as usize;
        match self.base.get(i) {
            Some(l) if !l.gone => Some(i),
            _ => None,
        }
    }

    /// The current value of `key`. Inlined: an `Option<Str>` returned from a call goes
    /// through memory, and the caller's 16-byte copy of it stalls.
    #[inline(always)]
    fn get_key(&self, key: &Key) -> Option<Str<'a>> {
        if self.keyed {
            return self.cur_get(key.id).filter(|v| !self.res(*v).is_empty());
        }
        self.get_key_general(key)
    }

    /// `get_key` outside the keyed mode.
    #[inline]
    fn get_key_general(&self, key: &Key) -> Option<Str<'a>> {
        if key.settable && !self.added.is_empty() {
            if let Some(i) = self.find_added_key(key.id as u32) {
                return Some(self.added[i].value);
            }
        }
        self.find_base_key(key).map(|i| Str::B(self.base[i].value))
    }

    #[inline(always)]
    fn get_key_str(&self, key: &Key) -> &str {
        match self.get_key(key) {
            Some(v) => self.res(v),
            None => "",
        }
    }

    /// Keyed mode: runs a [`Rule::copy1`] rule.
    #[inline(always)]
    fn copy_key(&mut self, c: Copy1) {
        let v = self
            .cur_get(c.src)
            .filter(|v| !self.res(*v).is_empty())
            .unwrap_or(Str::B(""));
        if wild_accepts(self.res(v), c.min1, c.newline) {
            self.set_cur(c.dst, v);
        }
    }

    /// Whether the source values joined with `sep` start with `prefix`, compared piece by
    /// piece.
    #[inline]
    fn join_starts_with(&self, sources: &[Key], sep: &str, prefix: &str) -> bool {
        let mut rest = prefix.as_bytes();
        for (i, k) in sources.iter().enumerate() {
            let pieces = [
                if i > 0 { sep.as_bytes() } else { &[] },
                self.get_key_str(k).as_bytes(),
            ];
            for piece in pieces {
                let n = piece.len().min(rest.len());
                match (piece.get(..n), rest.split_at_checked(n)) {
                    (Some(a), Some((b, r))) if eq_bytes(a, b) => rest = r,
                    _ => return false,
                }
                if rest.is_empty() {
                    return true;
                }
            }
        }
        rest.is_empty()
    }

    /// Whether the source values joined with `sep` are `want`, compared piece by piece.
    #[inline(always)]
    fn join_equals(&self, sources: &[Key], sep: &[u8], want: &[u8]) -> bool {
        let mut rest = want;
        for (i, k) in sources.iter().enumerate() {
            if i > 0 {
                match rest.split_at_checked(sep.len()) {
                    Some((a, b)) if eq_bytes(a, sep) => rest = b,
                    _ => return false,
                }
            }
            let v = self.get_key_str(k).as_bytes();
            match rest.split_at_checked(v.len()) {
                Some((a, b)) if eq_bytes(a, v) => rest = b,
                _ => return false,
            }
        }
        rest.is_empty()
    }

    /// The source values joined with the separator.
    #[inline]
    fn join(&mut self, sources: &'a [Key], sep: &'a str) -> Str<'a> {
        match sources {
            [] => Str::B(""),
            [one] => self.get_key(one).unwrap_or(Str::B("")),
            many => {
                // Straight into the arena when every value is borrowed (the usual case).
                let start = self.b.arena.len();
                let mut borrowed = true;
                for (i, n) in many.iter().enumerate() {
                    if i > 0 {
                        self.b.arena.push_str(sep);
                    }
                    match self.get_key(n) {
                        Some(Str::B(v)) => self.b.arena.push_str(v),
                        Some(Str::A(..)) => {
                            borrowed = false;
                            break;
                        }
                        None => {}
                    }
                }
                if borrowed {
                    return Str::arena(start, self.b.arena.len());
                }
                self.b.arena.truncate(start);
                self.b.tmp.clear();
                for (i, n) in many.iter().enumerate() {
                    if i > 0 {
                        self.b.tmp.push_str(sep);
                    }
                    if let Some(v) = self.get_key(n) {
                        let v = res(&self.b.arena, v);
                        self.b.tmp.push_str(v);
                    }
                }
                self.push_tmp()
            }
        }
    }

    /// Moves `tmp` into the arena.
    #[inline]
    fn push_tmp(&mut self) -> Str<'a> {
        let start = self.b.arena.len();
        self.b.arena.push_str(&self.b.tmp);
        Str::arena(start, self.b.arena.len())
    }

    fn push_mapped(&mut self, val: Str<'a>, f: fn(&str, &mut String)) -> Str<'a> {
        self.b.tmp.clear();
        f(res(&self.b.arena, val), &mut self.b.tmp);
        self.push_tmp()
    }

    /// Prometheus' `Builder.Set`: an empty value deletes; a label set for the first time goes
    /// to the end of the set labels, even when it replaces an input label.
    fn set(&mut self, name: Str<'a>, value: Str<'a>) {
        let n = self.res(name);
        let base = self.find_base(n);
        let key = self
            .keys
            .binary_search_by(|k| cmp_names(k, n))
            .map_or(NO_LOC, |id| id as u32);
        self.set_at(name, key, base, value);
    }

    /// `set` for a fixed name.
    #[inline(always)]
    fn set_key(&mut self, key: &'a Key, value: Str<'a>) {
        if self.keyed {
            // Inlined, so `value` stays in registers: passed through memory, the 16-byte
            // copy below would wait for the caller's two 8-byte stores (a store-forwarding
            // stall that cost more than the rest of the call).
            self.set_cur(key.id, value);
            return;
        }
        self.set_key_general(key, value);
    }

    /// Keyed mode: the current value of key `id`.
    #[inline(always)]
    fn cur_get(&self, id: usize) -> Option<Str<'a>> {
        let slot = self.slots.get(id)?;
        if slot.flags & IN_ARENA != 0 {
            return Some(Str::A(slot.arena.0, slot.arena.1));
        }
        Some(Str::B(slot.cur))
    }

    /// Keyed mode: sets the current value of key `id`; an empty value deletes it.
    #[inline(always)]
    fn set_cur(&mut self, id: usize, value: Str<'a>) {
        let Some(old) = self.cur_get(id) else {
            return;
        };
        let dirty = self.dirty;
        let arena = self.b.arena.as_str();
        let o = res(arena, old);
        let (empty, changed) = match value {
            Str::B(v) => (v.is_empty(), !dirty && o != v),
            Str::A(a, b) => {
                let v = arena.get(a as usize..b as usize).unwrap_or("");
                (v.is_empty(), !dirty && o != v)
            }
        };
        if o.is_empty() && empty {
            return;
        }
        self.dirty |= changed;
        // An empty value (deleted) may stay an empty arena range: every reader resolves it.
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        match value {
            Str::B(v) => {
                slot.cur = v;
                slot.flags = TOUCHED;
            }
            Str::A(a, b) => {
                slot.arena = (a, b);
                slot.flags = TOUCHED | IN_ARENA;
            }
        }
        if let Some(w) = self.b.touched_bits.get_mut(id / 64) {
            *w |= 1 << (id % 64);
        }
    }

    /// `set_key` outside the keyed mode.
    #[inline]
    fn set_key_general(&mut self, key: &'a Key, value: Str<'a>) {
        let base = self.find_base_key(key);
        self.set_at(Str::B(&key.name), key.id as u32, base, value);
    }

    /// `set` with the key id of `name` (`NO_LOC` if none) and its live input index known.
    #[inline]
    fn set_at(&mut self, name: Str<'a>, key: u32, base: Option<usize>, value: Str<'a>) {
        let in_added = if key == NO_LOC {
            self.find_added(self.res(name))
        } else {
            self.find_added_key(key)
        };
        if self.res(value).is_empty() {
            if let Some(i) = in_added {
                self.added.remove(i);
                self.dirty = true;
            }
            if let Some(i) = base {
                self.base[i].gone = true;
                self.dirty = true;
            }
            return;
        }
        if let Some(i) = in_added {
            if !self.dirty && self.res(self.added[i].value) != self.res(value) {
                self.dirty = true;
            }
            self.added[i].value = value;
            return;
        }
        match base {
            Some(i) => {
                if !self.dirty && self.base[i].value != self.res(value) {
                    self.dirty = true;
                }
                self.base[i].gone = true;
            }
            None => self.dirty = true,
        }
        self.added.push(Added { name, value, key });
    }

    fn retain_names(&mut self, mut keep: impl FnMut(&str) -> bool) {
        for l in self.base.iter_mut().filter(|l| !l.gone) {
            if !keep(l.name) {
                l.gone = true;
                self.dirty = true;
            }
        }
        let before = self.added.len();
        let arena = self.b.arena.as_str();
        self.added.retain(|a| keep(res(arena, a.name)));
        if self.added.len() != before {
            self.dirty = true;
        }
    }

    #[inline]
    fn locs_for(&mut self, re: &Re) -> Option<CaptureLocations> {
        if re.shape != Shape::General {
            return None;
        }
        let pos = self.b.locs.iter().position(|(k, _)| *k == re.key)?;
        Some(self.b.locs.swap_remove(pos).1)
    }

    #[inline]
    fn put_locs(&mut self, re: &Re, locs: Option<CaptureLocations>) {
        if let Some(l) = locs {
            // Bounded: a thread that cycles through many relabelers keeps only recent buffers.
            if self.b.locs.len() >= 64 {
                self.b.locs.clear();
            }
            self.b.locs.push((re.key, l));
        }
    }

    /// Expands `t` for the match in `src` (whose spans are in `self.b.spans`).
    ///
    /// Inlined for the usual literal and `$1` templates: a `Str` returned from a call goes
    /// through memory, and the caller's 16-byte reload of the two 8-byte stores stalls.
    #[inline(always)]
    fn expand(&mut self, t: &'a Template, src: Str<'a>) -> Str<'a> {
        if let Some(lit) = t.as_literal() {
            return Str::B(lit);
        }
        if let Some(g) = t.as_single_group() {
            return match self.b.spans.get(g).copied().flatten() {
                Some((a, b)) => src.sub(a, b),
                None => Str::B(""),
            };
        }
        self.expand_general(t, src)
    }

    /// [`Work::expand`] for templates with more than one piece.
    fn expand_general(&mut self, t: &'a Template, src: Str<'a>) -> Str<'a> {
        self.b.tmp.clear();
        let text = res(&self.b.arena, src);
        let spans = &self.b.spans;
        t.expand(&mut self.b.tmp, |g| match spans.get(g).copied().flatten() {
            Some((a, b)) => text.get(a..b).unwrap_or(""),
            None => "",
        });
        self.push_tmp()
    }

    fn replace(&mut self, r: &'a Replace, val: Str<'a>) {
        if let (Some((min1, newline)), Target::Static(key), Some(lit)) =
            (r.set_literal, &r.target, r.replacement.as_literal())
        {
            if wild_accepts(res(&self.b.arena, val), min1, newline) {
                self.set_key(key, Str::B(lit));
            }
            return;
        }
        if let (Some(c), Target::Static(key)) = (&r.copy, &r.target) {
            let s = res(&self.b.arena, val);
            let p = c.prefix.len();
            if p == 0 {
                // `(.*)`: the value is the source (no re-slicing, which checks boundaries).
                if wild_accepts(s, c.min1, c.newline) {
                    self.set_key(key, val);
                }
                return;
            }
            let head_ok = s
                .as_bytes()
                .get(..p)
                .is_some_and(|h| eq_bytes(h, c.prefix.as_bytes()));
            if head_ok
                && s.get(p..)
                    .is_some_and(|rest| wild_accepts(rest, c.min1, c.newline))
            {
                let value = val.sub(p, s.len());
                self.set_key(key, value);
            }
            return;
        }
        let matched = if r.re.shape == Shape::General {
            let mut locs = self.locs_for(&r.re);
            let text = res(&self.b.arena, val);
            let matched = r.re.captures(text, &mut self.b.spans, &mut locs);
            self.put_locs(&r.re, locs);
            matched
        } else {
            // The shapes with a fast path need no capture buffers.
            r.re.captures(res(&self.b.arena, val), &mut self.b.spans, &mut None)
        };
        if !matched {
            return;
        }
        match &r.target {
            Target::Static(key) => {
                let value = self.expand(&r.replacement, val);
                self.set_key(key, value);
            }
            Target::Template(t, scheme) => {
                let name = self.expand(t, val);
                if !scheme.is_valid_label_name(self.res(name)) {
                    return;
                }
                let value = self.expand(&r.replacement, val);
                self.set(name, value);
            }
        }
    }

    fn labelmap(&mut self, m: &'a Rewrite) {
        // Builder.Range order over a snapshot: input labels by name, then set labels in order.
        self.snap.clear();
        self.snap
            .extend(self.base.iter().filter(|l| !l.gone).map(|l| Added {
                name: Str::B(l.name),
                value: Str::B(l.value),
                key: NO_LOC,
            }));
        self.snap.extend_from_slice(&self.added);
        let mut locs = self.locs_for(&m.re);
        for i in 0..self.snap.len() {
            let Added { name, value, .. } = self.snap[i];
            let text = res(&self.b.arena, name);
            if !m.re.captures(text, &mut self.b.spans, &mut locs) {
                continue;
            }
            // An empty new name is written as is, as Prometheus does.
            let new_name = self.expand(&m.replacement, name);
            self.set(new_name, value);
        }
        self.put_locs(&m.re, locs);
    }

    /// The current labels as a `Labels`, with one allocation.
    fn build(&mut self) -> Labels {
        let arena = self.b.arena.as_str();
        self.added
            .sort_unstable_by(|a, b| cmp_names(res(arena, a.name), res(arena, b.name)));
        let mut added = self
            .added
            .iter()
            .map(|a| (res(arena, a.name), res(arena, a.value)))
            .peekable();
        let mut base = self
            .base
            .iter()
            .filter(|l| !l.gone)
            .map(|l| (l.name, l.value))
            .peekable();
        let merged = std::iter::from_fn(move || match (base.peek(), added.peek()) {
            (Some(b), Some(a)) => {
                if cmp_names(b.0, a.0).is_lt() {
                    base.next()
                } else {
                    added.next()
                }
            }
            (Some(_), None) => base.next(),
            (None, _) => added.next(),
        });
        Labels::from_sorted_unchecked_in(merged, &mut self.b.enc)
    }

    /// Keyed mode: the result as the input with the deleted, overwritten and new labels spliced
    /// in, with one allocation. Key ids number the names in order, so visiting the touched keys
    /// by id visits the edits in order.
    fn build_spliced(&mut self) -> Option<Labels> {
        let arena = self.b.arena.as_str();
        let index = self.index.as_ref()?;
        let (slots, bits, keys) = (&self.slots, &self.b.touched_bits, self.keys);
        let lazy = self.lazy_ins;
        let (mut word_at, mut word) = (0, bits.first().copied().unwrap_or(0));
        let edits = std::iter::from_fn(move || {
            while word == 0 {
                word_at += 1;
                word = *bits.get(word_at)?;
            }
            let i = word_at * 64 + word.trailing_zeros() as usize;
            word &= word - 1;
            let slot = slots.get(i).copied().unwrap_or(EMPTY_SLOT);
            let value = if slot.flags & IN_ARENA != 0 {
                arena.get(slot.arena.0 as usize..slot.arena.1 as usize)
            } else {
                Some(slot.cur)
            };
            let label = match (keys.get(i), value) {
                (Some(name), Some(value)) => Some(Label { name, value }),
                _ => None,
            };
            Some(if slot.at == NO_LOC {
                // A new label (or the deletion of an absent one, which changes nothing).
                let ins = match keys.get(i) {
                    Some(name) if lazy => {
                        index.partition_point(|l| cmp_names(l.name, name).is_lt())
                    }
                    _ => slot.ins as usize,
                };
                (ins..ins, label)
            } else {
                // A deleted or overwritten label: a new value goes where it was.
                let pos = slot.at as usize;
                (pos..pos + 1, label)
            })
        });
        index.splice(edits, &mut self.b.enc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(p: &str, t: &str) -> Shape {
        let go = GoRegex::new(p).unwrap();
        let tpl = Template::compile(t, Some(&go));
        Re::new(go, tpl.max_group()).shape
    }

    #[test]
    fn shapes() {
        assert_eq!(
            shape("(.*)", "$1"),
            Shape::Wild {
                min1: false,
                newline: true
            }
        );
        assert_eq!(
            shape("^(.+)$", "$1"),
            Shape::Wild {
                min1: true,
                newline: true
            }
        );
        assert!(matches!(
            shape("Node;(.*)", "${1}"),
            Shape::PrefixWild { .. }
        ));
        assert_eq!(shape("(Failed|Succeeded)", "$1"), Shape::WholeGroup);
        assert_eq!(shape("(https?)", "$1"), Shape::WholeGroup);
        assert_eq!(shape("foo", "x"), Shape::MatchOnly);
        assert_eq!(shape("(a)(b)", "$2"), Shape::General);
        assert_eq!(shape("(a)b", "$1"), Shape::General);
        assert_eq!(shape(".*(b).*", "$1"), Shape::General);
        assert_eq!(shape("(a)^", "$1"), Shape::General);
        assert_eq!(shape("$(.*)", "$1"), Shape::General);
    }

    #[test]
    fn key_lookup_finds_exactly_the_keys() {
        let long = "k".repeat(200);
        let mut keys: Vec<String> = [
            "job",
            "a",
            "",
            "__meta_kubernetes_pod_name",
            "__meta_kubernetes_pod_node_name",
            "instancex",
            long.as_str(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Keys of every length from 9 to 62, and names that differ from one in a byte before
        // its last eight.
        let base = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut near = Vec::new();
        for n in 9..=base.len() {
            keys.push(base[..n].to_string());
            for i in 0..n.saturating_sub(8) {
                let mut v = base.as_bytes()[..n].to_vec();
                v[i] = b'_';
                near.push(String::from_utf8(v).unwrap());
            }
        }
        keys.sort();
        let long2 = format!("x{}", &long[1..]);
        let mut others: Vec<String> = [
            "jo",
            "jobs",
            "b",
            "__meta_kubernetes_pod_nbme",
            "__xeta_kubernetes_pod_name",
            "instance",
            long2.as_str(),
            &long[1..],
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        others.extend(near);
        // Long keys in a perfect table, with names that differ from one in any byte.
        let longs: Vec<String> = [73usize, 80, 200]
            .iter()
            .map(|&n| base.chars().cycle().take(n).collect())
            .collect();
        let table = KeyLookup::new(&longs);
        assert!(table.perfect.is_some());
        // Empty slots match no name, the empty one included.
        assert_eq!(table.find(b""), None);
        for (id, k) in longs.iter().enumerate() {
            assert_eq!(table.find(k.as_bytes()), Some(id));
            for i in 0..k.len() {
                let mut v = k.as_bytes().to_vec();
                v[i] = b'_';
                let v = String::from_utf8(v).unwrap();
                assert_eq!(table.find(v.as_bytes()), None, "{v:?}");
            }
        }
        // Few keys (a perfect table), its fallback, and too many keys for a table.
        let few: Vec<String> = keys.iter().take(PERFECT_MAX_KEYS).cloned().collect();
        let mut listed = KeyLookup::new(&few);
        assert!(listed.perfect.is_some());
        listed.perfect = None;
        assert!(keys.len() > PERFECT_MAX_KEYS);
        let many = KeyLookup::new(&keys);
        assert!(many.perfect.is_none());
        for (keys, lookup) in [(&few, KeyLookup::new(&few)), (&few, listed), (&keys, many)] {
            for (id, k) in keys.iter().enumerate() {
                assert_eq!(lookup.find(k.as_bytes()), Some(id), "{k:?}");
            }
            for other in others
                .iter()
                .chain(&keys[keys.len().min(PERFECT_MAX_KEYS)..])
            {
                if !keys.contains(other) {
                    assert_eq!(lookup.find(other.as_bytes()), None, "{other:?}");
                }
            }
        }
    }

    #[test]
    fn short_words_are_the_padded_names() {
        let names = [
            "", "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "é", "éé",
        ];
        for n in names {
            let mut be = [0u8; 8];
            be[..n.len()].copy_from_slice(n.as_bytes());
            assert_eq!(
                head_word_short(n.as_bytes()),
                u64::from_be_bytes(be),
                "{n:?}"
            );
            assert_eq!(
                tail_word_short(n.as_bytes()),
                u64::from_le_bytes(be),
                "{n:?}"
            );
        }
    }

    #[test]
    fn decimal_like_format() {
        for n in [0, 1, 9, 10, 99, 100, 976, 12345678901234567890, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn long_name_order_is_byte_order() {
        // Names differing at every byte position, and all prefixes.
        let base = "__meta_kubernetes_pod_annotation_cluster_autoscaler_kubernetes_io";
        let mut names: Vec<String> = (0..base.len())
            .flat_map(|i| {
                let mut lo = base.as_bytes().to_vec();
                lo[i] = b'A';
                let mut hi = base.as_bytes().to_vec();
                hi[i] = b'z';
                [lo, hi].into_iter().map(|v| String::from_utf8(v).unwrap())
            })
            .collect();
        names.extend((0..=base.len()).map(|n| base[..n].to_string()));
        for a in &names {
            for b in &names {
                assert_eq!(cmp_names(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn name_order_is_byte_order() {
        let names = [
            "",
            "a",
            "b",
            "ab",
            "__meta_kubernetes_pod_name",
            "__meta_kubernetes_pod_name_x",
            "__meta_kubernetes_pod_label_a",
            "é",
            "e",
            "__meta_kubernetes_",
            "zzzzzzzzzzzzzzzzz",
        ];
        for a in names {
            for b in names {
                assert_eq!(cmp_names(a, b), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(eq_names(a, b), a == b);
            }
        }
    }

    /// The keyed path notes insertion positions by comparing the first eight bytes of names
    /// and falls back to whole names when those agree; new labels must land where a full sort
    /// puts them, next to names that share long prefixes with them.
    #[test]
    fn keyed_insertion_next_to_long_shared_prefixes() {
        let names = [
            "__meta_a",
            "__meta_ab",
            "__meta_abc",
            "__meta_b",
            "__meta_kubernetes_pod_name",
            "__meta_kubernetes_pod_namf",
            "a",
            "instance",
            "instancf",
            "job",
            "zz",
        ];
        let targets = [
            "__meta_aa",
            "__meta_abb",
            "__meta_abd",
            "__meta_kubernetes_pod_nam",
            "__meta_kubernetes_pod_namea",
            "__meta_kubernetes_pod_namez",
            "_",
            "inst",
            "instance0",
            "instancez",
            "zzz",
            "\u{0}",
        ];
        for (skip, _) in names.iter().enumerate() {
            // Every input but one name, so each target is tried next to present and absent
            // neighbours.
            let input = Labels::from_pairs(
                names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, n)| (*n, "v")),
            );
            let configs: Vec<RelabelConfig> = targets
                .iter()
                .map(|t| {
                    RelabelConfig::new(Action::Replace)
                        .source_labels(["job"])
                        .target_label(*t)
                })
                .collect();
            let r = Relabeler::new(&configs, Options::PROMETHEUS).unwrap();
            assert!(r.keyed);
            let view: Vec<(&str, &str)> = input.iter().map(|l| (l.name, l.value)).collect();
            let got = r.process(&input);
            assert_eq!(
                got,
                r.process_view(view.as_slice()),
                "without {}",
                names[skip]
            );
            let got = got.unwrap();
            let got_names: Vec<&str> = got.iter().map(|l| l.name).collect();
            assert!(got_names.windows(2).all(|w| w[0] < w[1]), "{got_names:?}");
        }
    }

    /// When every settable key is also a source, insertion positions are searched for when
    /// building (`track_ins` off): new labels must still land where a full sort puts them.
    #[test]
    fn lazy_insertion_positions_agree_with_general_path() {
        let names = [
            "__meta_a",
            "__meta_ab",
            "__meta_kubernetes_pod_name",
            "__name__",
            "a",
            "instance",
            "job",
            "zz",
        ];
        let targets = [
            "__meta_aa",
            "__meta_kubernetes_pod_nam",
            "__meta_kubernetes_pod_namez",
            "__name__",
            "_",
            "inst",
            "instancez",
            "job",
            "zzz",
            "\u{0}",
        ];
        for (skip, _) in names.iter().enumerate() {
            let input = Labels::from_pairs(
                names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, n)| (*n, "v")),
            );
            for (j, t) in targets.iter().enumerate() {
                // Each target reads itself (absent: the empty string matches `(.*)`), and one
                // other target is set from it, so some are present and some are new.
                let other = targets[(j + 1) % targets.len()];
                let configs = [
                    RelabelConfig::new(Action::Replace)
                        .source_labels([*t])
                        .target_label(*t)
                        .replacement("x"),
                    RelabelConfig::new(Action::Replace)
                        .source_labels([*t, other])
                        .target_label(other)
                        .replacement("$1"),
                ];
                let r = Relabeler::new(&configs, Options::PROMETHEUS).unwrap();
                assert!(r.keyed && !r.track_ins);
                let view: Vec<(&str, &str)> = input.iter().map(|l| (l.name, l.value)).collect();
                let got = r.process(&input);
                assert_eq!(got, r.process_view(view.as_slice()), "{t} without {skip}");
                let got = got.unwrap();
                let got_names: Vec<&str> = got.iter().map(|l| l.name).collect();
                assert!(got_names.windows(2).all(|w| w[0] < w[1]), "{got_names:?}");
                assert_eq!(got.get(t), Some("x"));
            }
        }
    }

    /// Multi-source `keep`/`drop` on literals and `prefix(.*)` copies are decided without
    /// joining the sources: they must agree with the same rules on the joined value.
    #[test]
    fn joinless_rules_agree_with_joined_values() {
        let values = [
            "",
            "a",
            "Pod",
            "Pod;",
            "x;y",
            "kube",
            "kube;true",
            "true",
            ";",
        ];
        for sep in [";", "", ";;"] {
            // (rule on the sources, the same rule on the joined value `j`), for two sources
            // and for three (the third the first again).
            let mut pairs: Vec<(RelabelConfig, RelabelConfig, usize)> = Vec::new();
            let keeps = [
                (2, vec!["kube;true", "Pod;x;y|a;a|;", "a", ";"]),
                (3, vec!["a;;a", "kube;true;kube", "Pod;x;y;Pod"]),
            ];
            for (n, pats) in keeps {
                let src: &[&str] = if n == 2 {
                    &["a", "b"]
                } else {
                    &["a", "b", "a"]
                };
                for pat in pats {
                    for action in [Action::Keep, Action::Drop] {
                        let multi = RelabelConfig::new(action)
                            .source_labels(src.to_vec())
                            .separator(sep)
                            .regex(pat);
                        let one = RelabelConfig::new(action).source_labels(["j"]).regex(pat);
                        pairs.push((multi, one, n));
                    }
                }
            }
            let prefixes = [
                (2, vec!["Pod;", "Pod", "", "a;", "x;y;"]),
                (3, vec!["Pod;x", "a;;", "kube;true;"]),
            ];
            for (n, ps) in prefixes {
                let src: &[&str] = if n == 2 {
                    &["a", "b"]
                } else {
                    &["a", "b", "a"]
                };
                for prefix in ps {
                    for wild in ["(.*)", "(.+)"] {
                        let re = format!("{}{wild}", regex_syntax::escape(prefix));
                        let rule = |src: &[&str]| {
                            RelabelConfig::new(Action::Replace)
                                .source_labels(src.to_vec())
                                .separator(sep)
                                .regex(re.as_str())
                                .target_label("t")
                                .replacement("${1}")
                        };
                        pairs.push((rule(src), rule(&["j"]), n));
                    }
                }
            }
            let compiled: Vec<(Relabeler, Relabeler, usize, String)> = pairs
                .iter()
                .map(|(multi, one, n)| {
                    (
                        Relabeler::new(std::slice::from_ref(multi), Options::PROMETHEUS).unwrap(),
                        Relabeler::new(std::slice::from_ref(one), Options::PROMETHEUS).unwrap(),
                        *n,
                        format!("{multi:?}"),
                    )
                })
                .collect();
            for v1 in values {
                for v2 in values {
                    for (multi, one, n, what) in &compiled {
                        let joined = if *n == 2 {
                            format!("{v1}{sep}{v2}")
                        } else {
                            format!("{v1}{sep}{v2}{sep}{v1}")
                        };
                        let input =
                            Labels::from_pairs([("a", v1), ("b", v2), ("j", joined.as_str())]);
                        assert_eq!(
                            multi
                                .process(&input)
                                .map(|l| l.get("t").map(str::to_string)),
                            one.process(&input).map(|l| l.get("t").map(str::to_string)),
                            "{what} on {joined:?}"
                        );
                    }
                }
            }
        }
    }

    /// `replace` of a literal on a `(.*)`-shaped regex sets it without capture spans.
    #[test]
    fn literal_replacement_on_wildcards() {
        let cases: [(&str, &str, &str, Options, Option<&str>); 7] = [
            ("", "(.*)", "v", Options::PROMETHEUS, Some("v")),
            ("", "(.+)", "v", Options::PROMETHEUS, Some("old")),
            ("x", "(.+)", "v", Options::PROMETHEUS, Some("v")),
            ("a\nb", "(.*)", "v", Options::PROMETHEUS, Some("v")),
            ("a\nb", "(.*)", "v", Options::PROMETHEUS2, Some("old")),
            ("x", "^(.*)$", "", Options::PROMETHEUS, None),
            ("x", "(x)", "v", Options::PROMETHEUS, Some("v")),
        ];
        for (src, re, lit, opts, want) in cases {
            let r = Relabeler::new(
                &[RelabelConfig::new(Action::Replace)
                    .source_labels(["s"])
                    .regex(re)
                    .target_label("t")
                    .replacement(lit)],
                opts,
            )
            .unwrap();
            let out = r
                .process(&Labels::from_pairs([("s", src), ("t", "old")]))
                .unwrap();
            assert_eq!(out.get("t"), want, "{src:?} {re:?} {lit:?}");
        }
    }

    #[test]
    fn branch_fast_path_agrees_with_engine() {
        let pats = [
            "go_gc_.*|go_memstats_.*|promhttp_.*",
            "a.+|b",
            "(x|y)z.*|w",
            "abc|abd.*",
            "a.*b",
            "a^",
            "$a",
            "^a$|^b.*$",
        ];
        let vals = [
            "go_gc_x",
            "go_memstats_",
            "go_",
            "promhttp",
            "a",
            "ax",
            "b",
            "xz",
            "yzq",
            "w",
            "abc",
            "abd\n",
            "abdx",
            "a\nb",
            "ab",
        ];
        for opts in [RegexOptions::PROMETHEUS, RegexOptions::PROMETHEUS2] {
            for p in pats {
                let go = GoRegex::with_options(p, opts).unwrap();
                let pat = Pat::new(go.clone());
                for v in vals {
                    assert_eq!(pat.is_match(v), go.regex().is_match(v), "{p} on {v:?}");
                }
            }
        }
        assert!(
            Pat::new(GoRegex::new("go_gc_.*|go_memstats_.*|promhttp_.*").unwrap())
                .branches
                .is_some()
        );
        assert!(Pat::new(GoRegex::new("a.*b").unwrap()).branches.is_none());
    }

    #[test]
    fn go_regex_syntax_differences() {
        // `\d` is ASCII in Go; Rust's would match other decimal digits.
        let r = Relabeler::new(
            &[RelabelConfig::new(Action::Keep)
                .source_labels(["a"])
                .regex("\\d+")],
            Options::default(),
        )
        .unwrap();
        assert!(r.process(&Labels::from_pairs([("a", "123")])).is_some());
        assert!(r.process(&Labels::from_pairs([("a", "\u{663}")])).is_none());
        // Go rejects what RE2 lacks, with the reason.
        for bad in ["(?x)a", "a{1001}", "\\1", "(?=a)"] {
            let e = Relabeler::new(
                &[RelabelConfig::new(Action::Drop)
                    .source_labels(["a"])
                    .regex(bad)],
                Options::default(),
            )
            .unwrap_err();
            assert!(matches!(e, Error::Regex { index: 0, .. }), "{bad}: {e}");
        }
        // `$1x` names a group "1x"; `${1}x` is group 1 and "x".
        let r = Relabeler::new(
            &[
                RelabelConfig::new(Action::Replace)
                    .source_labels(["a"])
                    .regex("(.)(?P<1x>.)")
                    .target_label("b")
                    .replacement("$1x"),
                RelabelConfig::new(Action::Replace)
                    .source_labels(["a"])
                    .regex("(.)(.)")
                    .target_label("c")
                    .replacement("${1}x"),
            ],
            Options::default(),
        )
        .unwrap();
        let out = r.process(&Labels::from_pairs([("a", "pq")])).unwrap();
        assert_eq!(out.get("b"), Some("q"));
        assert_eq!(out.get("c"), Some("px"));
    }

    #[test]
    fn hashmod_vectors() {
        // Upstream-asserted: md5("baz") mod 1000 = 976, md5("foo\nbar") mod 1000 = 734.
        for (v, want) in [("baz", "976"), ("foo\nbar", "734")] {
            let r = Relabeler::new(
                &[RelabelConfig::new(Action::HashMod)
                    .source_labels(["a"])
                    .target_label("h")
                    .modulus(1000)],
                Options::default(),
            )
            .unwrap();
            let out = r.process(&Labels::from_pairs([("a", v)])).unwrap();
            assert_eq!(out.get("h"), Some(want));
        }
    }
}
