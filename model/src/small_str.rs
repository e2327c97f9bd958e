//! [`SmallStr`]: an immutable string that stores short text inline.
//!
//! Label names and values in queries are short (`job`, `5..`, `http_requests_total`), and a
//! parsed selector holds several of them; allocating each as a `String` costs more than parsing
//! the query around them. A `SmallStr` keeps up to 22 bytes inline, borrows `'static` text (such
//! as `__name__`) and shares longer text behind an `Arc`, so creating one from a short string
//! and cloning any of them never allocate. It is written without `unsafe`: reading inline text
//! back checks it is UTF-8 (a short loop over at most 22 bytes), and comparisons work on bytes.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The most bytes stored inline; with the length and the variant tag this keeps a `SmallStr` as
/// small as a `String` (24 bytes on 64-bit targets).
const INLINE_CAP: usize = 22;

/// An immutable string: inline up to 22 bytes, borrowed when `'static`, shared otherwise.
///
/// It dereferences to `str` and compares, orders and hashes as the `str` it holds.
///
/// ```
/// use lookout_model::SmallStr;
/// let s = SmallStr::new("job");
/// assert_eq!(s, "job");
/// assert_eq!(s.len(), 3);
/// assert_eq!(SmallStr::from_static("__name__").as_str(), "__name__");
/// ```
#[derive(Clone)]
pub struct SmallStr(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    /// `buf[..len]` is a copy of a `&str`, so it is valid UTF-8.
    Inline {
        len: u8,
        buf: [u8; INLINE_CAP],
    },
    Heap(Arc<str>),
}

impl SmallStr {
    /// Copies `s`: inline when it is short, into a shared allocation otherwise.
    #[inline]
    pub fn new(s: &str) -> SmallStr {
        let b = s.as_bytes();
        if b.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..b.len()].copy_from_slice(b);
            SmallStr(Repr::Inline {
                len: b.len() as u8,
                buf,
            })
        } else {
            SmallStr(Repr::Heap(Arc::from(s)))
        }
    }

    /// Borrows a `'static` string without copying it.
    pub const fn from_static(s: &'static str) -> SmallStr {
        SmallStr(Repr::Static(s))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Inline { len, buf } => {
                // Inline bytes were copied from a `&str` whole, so this always succeeds.
                std::str::from_utf8(buf.get(..usize::from(*len)).unwrap_or(&[])).unwrap_or("")
            }
            Repr::Heap(s) => s,
        }
    }

    /// The text as bytes, without the UTF-8 check that [`SmallStr::as_str`] makes on inline
    /// text.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Static(s) => s.as_bytes(),
            Repr::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or(&[]),
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Static(s) => s.len(),
            Repr::Inline { len, .. } => usize::from(*len),
            Repr::Heap(s) => s.len(),
        }
    }

    /// Whether the string is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for SmallStr {
    fn default() -> Self {
        SmallStr::from_static("")
    }
}

impl Deref for SmallStr {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SmallStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SmallStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SmallStr {
    fn from(s: &str) -> Self {
        SmallStr::new(s)
    }
}

impl From<String> for SmallStr {
    fn from(s: String) -> Self {
        SmallStr::new(&s)
    }
}

impl From<&String> for SmallStr {
    fn from(s: &String) -> Self {
        SmallStr::new(s)
    }
}

impl From<SmallStr> for String {
    fn from(s: SmallStr) -> Self {
        s.as_str().to_string()
    }
}

impl PartialEq for SmallStr {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SmallStr {}

impl PartialEq<str> for SmallStr {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for SmallStr {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for SmallStr {
    #[inline]
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<SmallStr> for str {
    #[inline]
    fn eq(&self, other: &SmallStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<SmallStr> for &str {
    #[inline]
    fn eq(&self, other: &SmallStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<SmallStr> for String {
    #[inline]
    fn eq(&self, other: &SmallStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialOrd for SmallStr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte order, which for UTF-8 is the order of `str`.
impl Ord for SmallStr {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// Hashes as the `str` it holds, as `Borrow<str>` requires.
impl Hash for SmallStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn representations_agree() {
        let long = "a_rather_long_metric_name_total";
        for s in ["", "a", "__name__", "exactly_22_bytes_long_", "é😀x", long] {
            let inline_or_heap = SmallStr::new(s);
            let owned = SmallStr::from(s.to_string());
            assert_eq!(inline_or_heap.as_str(), s);
            assert_eq!(inline_or_heap.as_bytes(), s.as_bytes());
            assert_eq!(inline_or_heap.len(), s.len());
            assert_eq!(inline_or_heap, owned);
            assert_eq!(inline_or_heap.clone(), s);
            assert_eq!(format!("{inline_or_heap}"), s);
            assert_eq!(format!("{inline_or_heap:?}"), format!("{s:?}"));
        }
        assert_eq!(SmallStr::from_static("__name__"), SmallStr::new("__name__"));
        assert!(SmallStr::default().is_empty());
        assert!(SmallStr::new("a") < SmallStr::new(long));
        assert_eq!(size_of::<SmallStr>(), size_of::<String>());
    }

    #[test]
    fn hashes_as_str() {
        let mut set = std::collections::HashSet::new();
        set.insert(SmallStr::new("job"));
        assert!(set.contains("job"));
        assert!(!set.contains("jobs"));
    }
}
