//! Digit strings as ordered integer keys.
//!
//! A prefix of up to [`MAX_DIGITS`] decimal digits is encoded in base 11,
//! each digit `d` as the symbol `d + 1` and missing positions as `0`, most
//! significant first. The encoding keeps lexicographic order, and the
//! numbers that start with a prefix `p` of length `k` are exactly the keys
//! in `[key(p), key(p) + 11^(18-k))`. Prefixes therefore become nested or
//! disjoint integer ranges, and longest-prefix match becomes "the last range
//! start at or below the key, then up its parent chain" over a sorted
//! `u64` array (see `lookup.rs`). 11^18 < 2^63, so a key fits in 63 bits.

/// The longest prefix (and the number of a dialled number's digits) that
/// take part in a match. Longer numbers are matched on their first 18
/// digits; E.164 numbers have at most 15.
pub const MAX_DIGITS: usize = 18;

/// `POW11[i] = 11^i`.
pub(crate) const POW11: [u64; MAX_DIGITS + 1] = {
    let mut t = [1u64; MAX_DIGITS + 1];
    let mut i = 1;
    while i <= MAX_DIGITS {
        t[i] = t[i - 1] * 11;
        i += 1;
    }
    t
};

/// One past the largest key.
pub(crate) const KEY_END: u64 = POW11[MAX_DIGITS];

/// Encodes up to [`MAX_DIGITS`] ASCII digits; `None` if any byte is not a
/// digit. Longer input is truncated to its first [`MAX_DIGITS`] digits
/// (the caller checks prefix lengths itself).
#[inline]
pub(crate) fn encode(digits: &[u8]) -> Option<u64> {
    let mut key = 0u64;
    let n = digits.len().min(MAX_DIGITS);
    for &b in &digits[..n] {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        key = key * 11 + u64::from(d) + 1;
    }
    Some(key * POW11[MAX_DIGITS - n])
}

/// The number of keys a prefix of `len` digits covers.
#[inline]
pub(crate) fn span(len: usize) -> u64 {
    POW11[MAX_DIGITS - len.min(MAX_DIGITS)]
}

/// Decodes the first `len` digits of `key` into `out`.
pub(crate) fn decode_into(key: u64, len: usize, out: &mut String) {
    let len = len.min(MAX_DIGITS);
    for i in 0..len {
        let sym = (key / POW11[MAX_DIGITS - 1 - i]) % 11;
        // Symbols of a valid prefix are 1..=10; anything else prints `?`.
        out.push(match sym {
            1..=10 => char::from(b'0' + (sym - 1) as u8),
            _ => '?',
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_ranges() {
        let k = |s: &str| encode(s.as_bytes()).unwrap();
        assert!(k("") < k("0"));
        assert!(k("0") < k("00"));
        assert!(k("09") < k("1"));
        assert!(k("44") < k("4420") && k("4420") < k("45"));
        let p = k("44");
        assert!(k("449") < p + span(2));
        assert!(k("45") >= p + span(2));
        assert_eq!(k("999999999999999999") + 1, KEY_END);
        assert_eq!(encode(b"12a"), None);
        let mut s = String::new();
        decode_into(k("0441"), 4, &mut s);
        assert_eq!(s, "0441");
    }
}
