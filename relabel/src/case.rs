//! Go's `strings.ToLower` and `strings.ToUpper`: one rune to one rune (Unicode simple case
//! mapping), with no context rules. Rust's `str::to_lowercase` applies the full mapping and the
//! final-sigma rule (`"ß"` → `"SS"`), so map char by char instead.

/// Go's `unicode.ToLower`.
fn lower(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        // Only U+0130 (İ) has a multi-rune full lowercase ("i̇"); its simple mapping is 'i'.
        (Some(l), Some(_)) => l,
        _ => c,
    }
}

/// Go's `unicode.ToUpper`.
fn upper(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => {
            // A multi-rune full mapping (ß → SS, ŉ → ʼN, ﬀ → FF, ᾳ → ΑΙ): the simple mapping is
            // the rune itself, except for the Greek letters with ypogegrammeni, which map to
            // their prosgegrammeni forms.
            let u = c as u32;
            let mapped = match u {
                0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => u + 8,
                0x1FB3 | 0x1FC3 | 0x1FF3 => u + 9,
                _ => u,
            };
            char::from_u32(mapped).unwrap_or(c)
        }
    }
}

/// Go's `strings.ToLower`.
pub(crate) fn to_lower(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.extend(s.chars().map(lower));
    }
}

/// Go's `strings.ToUpper`.
pub(crate) fn to_upper(s: &str, out: &mut String) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_uppercase())));
    } else {
        out.extend(s.chars().map(upper));
    }
}

/// Whether [`to_lower`] leaves `s` unchanged (so the value can be reused as is).
pub(crate) fn is_lower(s: &str) -> bool {
    if s.is_ascii() {
        !s.bytes().any(|b| b.is_ascii_uppercase())
    } else {
        s.chars().all(|c| lower(c) == c)
    }
}

/// Whether [`to_upper`] leaves `s` unchanged.
pub(crate) fn is_upper(s: &str) -> bool {
    if s.is_ascii() {
        !s.bytes().any(|b| b.is_ascii_lowercase())
    } else {
        s.chars().all(|c| upper(c) == c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lo(s: &str) -> String {
        let mut o = String::new();
        to_lower(s, &mut o);
        o
    }
    fn up(s: &str) -> String {
        let mut o = String::new();
        to_upper(s, &mut o);
        o
    }

    #[test]
    fn simple_mapping_like_go() {
        assert_eq!(lo("AbC"), "abc");
        assert_eq!(up("AbC"), "ABC");
        // Go keeps ß and ligatures; Rust's full mapping would give "SS" and "FF".
        assert_eq!(up("straße"), "STRAßE");
        assert_eq!(up("ﬀ"), "ﬀ");
        // İ lowercases to a plain i in Go.
        assert_eq!(lo("İ"), "i");
        // No final-sigma rule.
        assert_eq!(lo("ΟΔΟΣ"), "οδοσ");
        assert_eq!(up("ᾳ"), "ᾼ");
        assert_eq!(up("ᾈ"), "ᾈ");
        assert!(is_lower("abc-1") && !is_lower("aBc"));
        assert!(is_upper("STRAßE") && !is_upper("é"));
    }
}
