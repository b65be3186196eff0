//! Byte classes and small cursor helpers shared by the grammar modules.
//!
//! The classes follow RFC 3261 §25.1 (basic rules): `token`, `word`, the URI
//! character sets of `user`, `password`, `paramchar` and `hnv-unreserved`, and
//! linear white space. One 256-entry table answers every class test with a
//! load and a mask.

/// `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
pub(crate) const TOKEN: u16 = 1 << 0;
/// `word` characters (Call-ID): token plus "(" ")" "<" ">" ":" "\" DQUOTE "/" "[" "]" "?" "{" "}".
pub(crate) const WORD: u16 = 1 << 1;
/// `unreserved` = alphanum / mark.
pub(crate) const UNRESERVED: u16 = 1 << 2;
/// `user-unreserved` = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/".
pub(crate) const USER_UNRESERVED: u16 = 1 << 3;
/// Password extras: "&" / "=" / "+" / "$" / ",".
pub(crate) const PASSWORD_EXTRA: u16 = 1 << 4;
/// `param-unreserved` = "[" / "]" / "/" / ":" / "&" / "+" / "$".
pub(crate) const PARAM_UNRESERVED: u16 = 1 << 5;
/// `hnv-unreserved` = "[" / "]" / "/" / "?" / ":" / "+" / "$".
pub(crate) const HNV_UNRESERVED: u16 = 1 << 6;
/// Hostname characters: alphanum / "-" / ".".
pub(crate) const HOSTNAME: u16 = 1 << 7;
/// Decimal digit.
pub(crate) const DIGIT: u16 = 1 << 8;
/// Hexadecimal digit.
pub(crate) const HEX: u16 = 1 << 9;
/// `reserved` = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ",".
pub(crate) const RESERVED: u16 = 1 << 10;
/// Characters of a URI scheme after the first: ALPHA / DIGIT / "+" / "-" / ".".
pub(crate) const SCHEME: u16 = 1 << 11;

const fn build_classes() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic();
        let digit = b.is_ascii_digit();
        let alnum = alpha || digit;
        let mut v = 0u16;
        if alnum
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            v |= TOKEN | WORD;
        }
        if matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        ) {
            v |= WORD;
        }
        if alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            v |= UNRESERVED;
        }
        if matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            v |= USER_UNRESERVED;
        }
        if matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
            v |= PASSWORD_EXTRA;
        }
        if matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            v |= PARAM_UNRESERVED;
        }
        if matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            v |= HNV_UNRESERVED;
        }
        if alnum || b == b'-' || b == b'.' {
            v |= HOSTNAME;
        }
        if digit {
            v |= DIGIT;
        }
        if b.is_ascii_hexdigit() {
            v |= HEX;
        }
        if matches!(
            b,
            b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b','
        ) {
            v |= RESERVED;
        }
        if alnum || matches!(b, b'+' | b'-' | b'.') {
            v |= SCHEME;
        }
        t[c] = v;
        c += 1;
    }
    t
}

pub(crate) const CLASSES: [u16; 256] = build_classes();

/// Whether `b` belongs to any of the classes in `mask`.
#[inline(always)]
pub(crate) fn is(b: u8, mask: u16) -> bool {
    CLASSES[b as usize] & mask != 0
}

/// SP or HTAB.
#[inline(always)]
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Linear white space inside a header value: SP, HTAB, or the CR/LF of a
/// folded line (the indexer only lets CR/LF into a value as part of a fold).
#[inline(always)]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Index of the first byte at or after `i` that is not LWS.
#[inline]
pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

/// `token` bytes as a byte table: one load per byte in the hot name scan.
static TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = CLASSES[c] & TOKEN != 0;
        c += 1;
    }
    t
};

/// Index of the first byte at or after `from` whose bit is set in
/// `mask(block)` (the 16 bytes of a block as bits, lowest first): SSE2,
/// sixteen bytes a step, and the last step overlapping the one before
/// rather than a byte loop (unless `overlap` is false). `Err(at)` when
/// the bytes from `at` on are left to the caller's byte loop: `s` is
/// shorter than sixteen bytes, or fewer remain and `overlap` is false.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn first_marked(
    s: &[u8],
    from: usize,
    mask: impl Fn(core::arch::x86_64::__m128i) -> u32,
    overlap: bool,
) -> Result<Option<usize>, usize> {
    use core::arch::x86_64::{__m128i, _mm_loadu_si128};
    let n = s.len();
    let mut i = from;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= s.len()`, so the 16 bytes read lie inside `s`;
        // `_mm_loadu_si128` has no alignment requirement; SSE2 is baseline.
        let m = mask(unsafe { _mm_loadu_si128(s.as_ptr().add(i) as *const __m128i) });
        if m != 0 {
            return Ok(Some(i + m.trailing_zeros() as usize));
        }
        i += 16;
    }
    if i >= n {
        return Ok(None);
    }
    if n < 16 || !overlap {
        return Err(i);
    }
    let off = n - 16; // off < i: the block ends at the end of `s`
    // SAFETY: `off + 16 == s.len()`, so the 16 bytes read lie inside `s`;
    // no alignment requirement; SSE2 is baseline. Bits of the bytes before
    // `i`, already checked, are shifted out.
    let m = mask(unsafe { _mm_loadu_si128(s.as_ptr().add(off) as *const __m128i) }) >> (i - off);
    Ok((m != 0).then(|| i + m.trailing_zeros() as usize))
}

/// Index of the first byte at or after `i` that is not alphanum, `-` or
/// `.`, sixteen bytes per step with SSE2 ([`first_marked`]); for an `s`
/// shorter than sixteen bytes it returns `i` itself, leaving those to the
/// caller's byte loop. Those bytes belong to every class the grammar scans
/// long runs of (`token`, hostname, URI user, password and `paramchar`),
/// so a class loop can start where this stops: branches, tags, Call-IDs
/// and host names are mostly such runs.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn skip_alnum_dot_dash(s: &[u8], i: usize) -> usize {
    skip_run::<false>(s, i)
}

/// [`skip_alnum_dot_dash`] that also skips `+`, for the URI classes that
/// hold it (all but the hostname): E.164 user parts start with it. (Not
/// used for `token`: two more instructions a block cost the header scans
/// more than they saved.)
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn skip_alnum_dot_dash_plus(s: &[u8], i: usize) -> usize {
    skip_run::<true>(s, i)
}

/// The SIMD skip of [`skip_alnum_dot_dash`], with `+` when `PLUS`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn skip_run<const PLUS: bool>(s: &[u8], i: usize) -> usize {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_sub_epi8,
    };
    let other = |v: __m128i| {
        // SAFETY: SSE2 is baseline; register operations only. A byte is a
        // letter when (byte | 0x20) - 'a' <= 25 and a digit when
        // byte - '0' <= 9 (unsigned: min(x, k) == x means x <= k).
        unsafe {
            let a = _mm_sub_epi8(
                _mm_or_si128(v, _mm_set1_epi8(0x20)),
                _mm_set1_epi8(b'a' as i8),
            );
            let alpha = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(25)), a);
            let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            let digit = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
            let dot = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8));
            let mut dash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
            if PLUS {
                dash = _mm_or_si128(dash, _mm_cmpeq_epi8(v, _mm_set1_epi8(b'+' as i8)));
            }
            let ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_or_si128(dot, dash));
            !(_mm_movemask_epi8(ok) as u32) & 0xffff
        }
    };
    match first_marked(s, i, other, false) {
        Ok(found) => found.unwrap_or(s.len()),
        Err(at) => at,
    }
}

/// [`skip_alnum_dot_dash`] (portable build): the byte loop does it all.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn skip_alnum_dot_dash(_s: &[u8], i: usize) -> usize {
    i
}

/// [`skip_alnum_dot_dash_plus`] (portable build): the byte loop does it all.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn skip_alnum_dot_dash_plus(_s: &[u8], i: usize) -> usize {
    i
}

/// Index of the first non-`token` byte at or after `i`.
#[inline(always)]
pub(crate) fn skip_token(s: &[u8], i: usize) -> usize {
    let mut i = skip_alnum_dot_dash(s, i);
    while let Some(&b) = s.get(i) {
        if !TOKEN_BYTES[b as usize] {
            break;
        }
        i += 1;
    }
    i
}

/// `token` bytes plus ':' '[' ']': a `gen-value` that may be an IPv6
/// address (Via `received`).
static HOST_VALUE_BYTES: [bool; 256] = {
    let mut t = TOKEN_BYTES;
    t[b':' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// Index of the first byte at or after `i` that is neither a `token`
/// byte nor ':' '[' ']'.
#[inline(always)]
pub(crate) fn skip_host_value(s: &[u8], i: usize) -> usize {
    let mut i = skip_alnum_dot_dash(s, i);
    while let Some(&b) = s.get(i) {
        if !HOST_VALUE_BYTES[b as usize] {
            break;
        }
        i += 1;
    }
    i
}

/// Index of the first byte at or after `i` outside `mask`.
#[inline]
pub(crate) fn skip_class(s: &[u8], mut i: usize, mask: u16) -> usize {
    while i < s.len() && is(s[i], mask) {
        i += 1;
    }
    i
}

/// Whether `s` equals `letters` (lowercase ASCII letters only, at most
/// eight) in any case: one word compare, where `eq_ignore_ascii_case`
/// lowers and compares byte by byte. Setting bit 0x20 maps no byte but a
/// letter's capital onto a lowercase letter, so the compare is exact.
#[inline(always)]
pub(crate) fn eq_letters<const N: usize>(s: &[u8], letters: &[u8; N]) -> bool {
    const { assert!(N >= 1 && N <= 8) };
    let Some(s) = s.first_chunk::<N>().filter(|_| s.len() == N) else {
        return false;
    };
    let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
    a[..N].copy_from_slice(s);
    b[..N].copy_from_slice(letters);
    let fold = u64::MAX >> (8 * (8 - N)) & 0x2020_2020_2020_2020;
    u64::from_le_bytes(a) | fold == u64::from_le_bytes(b)
}

/// Where the scheme of `uri` ends: the index of the first byte after
/// index 0 outside the scheme class (the `:` of a well-formed URI). `sip:`
/// in any case, nearly every URI a proxy reads, is one compare.
#[inline(always)]
pub(crate) fn scheme_end(uri: &[u8]) -> usize {
    if let Some(w) = uri.first_chunk::<4>() {
        // Bit 0x20 folds the three letters' case and maps no other byte
        // onto them; the ':' is compared as is.
        if u32::from_le_bytes(*w) | 0x0020_2020 == u32::from_le_bytes(*b"sip:") {
            return 3;
        }
    }
    skip_class(uri, 0, SCHEME)
}

/// `s` without leading and trailing LWS.
#[inline(always)]
pub(crate) fn trim_lws(s: &[u8]) -> &[u8] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && is_lws(s[a]) {
        a += 1;
    }
    while b > a && is_lws(s[b - 1]) {
        b -= 1;
    }
    &s[a..b]
}

/// Whether every byte of a non-empty `s` is in `mask`.
#[inline]
pub(crate) fn all(s: &[u8], mask: u16) -> bool {
    !s.is_empty() && s.iter().all(|&b| is(b, mask))
}

/// Whether `s` is a non-empty `token`.
#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    all(s, TOKEN)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The 8 bytes of `s` at `i` as a little-endian word, if there are 8.
#[inline(always)]
fn word(s: &[u8], i: usize) -> Option<u64> {
    s.get(i..)?
        .first_chunk::<8>()
        .map(|c| u64::from_le_bytes(*c))
}

/// Index of the first `needle` in `s` at or after `from`: eight bytes at a
/// time (SWAR). For the short lines of a SIP header this beats a SIMD
/// search, whose set-up costs more than the scan.
#[inline]
pub(crate) fn find_byte(s: &[u8], from: usize, needle: u8) -> Option<usize> {
    let pattern = LO.wrapping_mul(needle as u64);
    let mut i = from;
    while let Some(w) = word(s, i) {
        let x = w ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let tail = s.get(i..)?;
    tail.iter().position(|&b| b == needle).map(|p| i + p)
}

/// Index of the first LF at or after `from`: the line-end search of the
/// header indexer, sixteen bytes per step with SSE2 (part of every x86_64
/// CPU). Measured with callgrind on the bench INVITE: 8,546 instructions
/// per parse with the eight-byte SWAR search, 7,715 with this.
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
pub(crate) fn find_lf(s: &[u8], from: usize) -> Option<usize> {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is in the x86_64 baseline, so the intrinsic is available.
    let nl = unsafe { _mm_set1_epi8(b'\n' as i8) };
    let mut i = from;
    while i + 16 <= s.len() {
        // SAFETY: `i + 16 <= s.len()`, so the 16 bytes read lie inside `s`;
        // `_mm_loadu_si128` has no alignment requirement; SSE2 is baseline.
        let m = unsafe {
            let v = _mm_loadu_si128(s.as_ptr().add(i) as *const __m128i);
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) as u32
        };
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    find_byte(s, i.min(s.len()), b'\n')
}

/// A header name of at most fifteen bytes at `s[at..]`, read as one
/// sixteen-byte block (SSE2): its length `n` (the name ends at the first
/// `:`, control or SP in the block, so `n` may be 0) and the block's bytes
/// with the name's kept, every byte after it zeroed, and bit 0x20 set in
/// all sixteen (letter case folded; see [`crate::header`]) as two
/// little-endian words. `None` when fewer than sixteen bytes remain or the
/// block holds no such byte: the header indexer's general path does those.
/// One load serves both the name scan and its classification.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn short_name(s: &[u8], at: usize) -> Option<(usize, u64, u64)> {
    use core::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_min_epu8,
        _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_unpackhi_epi64,
    };
    /// Sixteen 0xFF then sixteen zeros: the sixteen bytes from `16 - n`
    /// keep the first `n` bytes of a block.
    static KEEP: [u8; 32] = {
        let mut k = [0u8; 32];
        let mut i = 0;
        while i < 16 {
            k[i] = 0xff;
            i += 1;
        }
        k
    };
    if s.len() < 16 || at > s.len() - 16 {
        return None;
    }
    // A byte is <= 0x20 exactly when min(byte, 0x20) equals it. `n` is the
    // index of a set bit of a 16-bit mask, so `16 - n` is in 1..=16.
    // SAFETY: `at + 16 <= s.len()` (checked above) and `16 - n + 16 <= 32`, so both unaligned SSE2 (baseline) loads stay inside `s` and `KEEP`.
    unsafe {
        let v = _mm_loadu_si128(s.as_ptr().add(at) as *const __m128i);
        let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v);
        let colon = _mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8));
        let stop = _mm_movemask_epi8(_mm_or_si128(ctl, colon)) as u32;
        if stop == 0 {
            return None;
        }
        let n = stop.trailing_zeros() as usize;
        let keep = _mm_loadu_si128(KEEP.as_ptr().add(16 - n) as *const __m128i);
        let name = _mm_or_si128(_mm_and_si128(v, keep), _mm_set1_epi8(0x20));
        let lo = _mm_cvtsi128_si64(name) as u64;
        let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(name, name)) as u64;
        Some((n, lo, hi))
    }
}

/// [`short_name`] (portable build): the general path does every name.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn short_name(_s: &[u8], _at: usize) -> Option<(usize, u64, u64)> {
    None
}

/// Index of the first byte at or after `from` that is `needle` or a
/// control or SP (< 0x21): one pass for "find the closing `>` of a URI
/// and refuse LWS inside it". SSE2 as [`first_marked`].
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
pub(crate) fn find_byte_or_ctl(s: &[u8], from: usize, needle: u8) -> Option<usize> {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let marked = |v: __m128i| {
        // SAFETY: SSE2 is baseline; register operations only. A byte is
        // <= 0x20 exactly when min(byte, 0x20) equals it.
        unsafe {
            let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v);
            let want = _mm_cmpeq_epi8(v, _mm_set1_epi8(needle as i8));
            _mm_movemask_epi8(_mm_or_si128(ctl, want)) as u32
        }
    };
    first_marked(s, from, marked, true).unwrap_or_else(|at| {
        s[at..]
            .iter()
            .position(|&b| b == needle || b <= b' ')
            .map(|p| at + p)
    })
}

/// Index of the first byte at or after `from` that is a control, SP
/// (< 0x21) or >= 0x7F: where a Request-URI ends, or what makes it
/// invalid. SSE2 as [`first_marked`].
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
pub(crate) fn find_ctl_space_or_high(s: &[u8], from: usize) -> Option<usize> {
    use core::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let marked = |v: __m128i| {
        // SAFETY: SSE2 is baseline; register operations only. Signed
        // compares: bytes >= 0x80 are negative, so 0x20 < b < 0x7F holds
        // exactly for the visible ASCII bytes.
        unsafe {
            let ok = _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(0x20)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x7f)),
            );
            !(_mm_movemask_epi8(ok) as u32) & 0xffff
        }
    };
    first_marked(s, from, marked, true).unwrap_or_else(|at| {
        s[at..]
            .iter()
            .position(|&b| b <= b' ' || b >= 0x7f)
            .map(|p| at + p)
    })
}

/// [`find_ctl_space_or_high`] (portable build).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn find_ctl_space_or_high(s: &[u8], from: usize) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&b| b <= b' ' || b >= 0x7f)
        .map(|p| from + p)
}

/// Bit masks over the bytes of `s` (bit `k` for `s[k]`) for hostname
/// checks: (alphanum / `-` / `.` / `_`, `.`, `-`). SSE2, sixteen bytes a
/// step, the last step overlapping the one before; `None` unless
/// `16 <= s.len() <= 64` (callers then check byte by byte).
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
pub(crate) fn hostname_masks(s: &[u8]) -> Option<(u64, u64, u64)> {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };
    let n = s.len();
    if !(16..=64).contains(&n) {
        return None;
    }
    let (mut valid, mut dot, mut dash) = (0u64, 0u64, 0u64);
    let mut at = 0;
    loop {
        let off = at.min(n - 16);
        // SAFETY: `off + 16 <= n = s.len()`, so the 16 bytes read lie
        // inside `s`; `_mm_loadu_si128` has no alignment requirement; SSE2
        // is baseline. Letters and digits as in `skip_alnum_dot_dash`.
        let (v, d, h) = unsafe {
            let v = _mm_loadu_si128(s.as_ptr().add(off) as *const __m128i);
            let a = _mm_sub_epi8(
                _mm_or_si128(v, _mm_set1_epi8(0x20)),
                _mm_set1_epi8(b'a' as i8),
            );
            let alpha = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(25)), a);
            let g = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            let digit = _mm_cmpeq_epi8(_mm_min_epu8(g, _mm_set1_epi8(9)), g);
            let d = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'.' as i8));
            let h = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'-' as i8));
            let u = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'_' as i8));
            let ok = _mm_or_si128(
                _mm_or_si128(alpha, digit),
                _mm_or_si128(_mm_or_si128(d, h), u),
            );
            (
                _mm_movemask_epi8(ok) as u32 as u64,
                _mm_movemask_epi8(d) as u32 as u64,
                _mm_movemask_epi8(h) as u32 as u64,
            )
        };
        valid |= v << off;
        dot |= d << off;
        dash |= h << off;
        if off + 16 == n {
            return Some((valid, dot, dash));
        }
        at += 16;
    }
}

/// [`hostname_masks`] (portable build): callers check byte by byte.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn hostname_masks(_s: &[u8]) -> Option<(u64, u64, u64)> {
    None
}

/// Index of the first DQUOTE or backslash at or after `from`: where a
/// quoted string ends, or where it needs the escape-aware loop. SSE2 as
/// [`first_marked`].
#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
pub(crate) fn find_quote_or_backslash(s: &[u8], from: usize) -> Option<usize> {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let marked = |v: __m128i| {
        // SAFETY: SSE2 is baseline; register operations only.
        unsafe {
            let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let b = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(q, b)) as u32
        }
    };
    first_marked(s, from, marked, true).unwrap_or_else(|at| {
        s[at..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
            .map(|p| at + p)
    })
}

/// [`find_quote_or_backslash`] (portable build).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn find_quote_or_backslash(s: &[u8], from: usize) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|p| from + p)
}

/// [`find_byte_or_ctl`] (portable build).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn find_byte_or_ctl(s: &[u8], from: usize, needle: u8) -> Option<usize> {
    s.get(from..)?
        .iter()
        .position(|&b| b == needle || b <= b' ')
        .map(|p| from + p)
}

/// Index of the first LF at or after `from` (portable build).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(crate) fn find_lf(s: &[u8], from: usize) -> Option<usize> {
    find_byte(s, from, b'\n')
}

/// Whether any byte of `s` is a control (< 0x21, so SP too) or >= 0x7F.
#[inline]
pub(crate) fn has_ctl_or_space_or_high(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(x) = word(s, i) {
        // Bytes < 0x21: x - 0x21.. borrows into the high bit; bytes >= 0x7F:
        // adding 1 sets the high bit (or it was set).
        let low = x.wrapping_sub(LO.wrapping_mul(0x21)) & !x & HI;
        let high = (x | x.wrapping_add(LO)) & HI;
        if low | high != 0 {
            return true;
        }
        i += 8;
    }
    s[i..].iter().any(|&b| b <= b' ' || b >= 0x7f)
}

/// A port of one to five digits at `s[i..]`, read in the same pass that
/// finds its end: (value, end). `None` for no digit, a sixth digit or a
/// value over 65,535; fast paths then leave the port to the full grammar
/// (which also takes leading zeros beyond five digits).
#[inline(always)]
pub(crate) fn port_digits(s: &[u8], i: usize) -> Option<(u16, usize)> {
    let mut v: u32 = 0;
    let mut j = i;
    while let Some(&b) = s.get(j) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if j - i == 5 {
            return None;
        }
        v = v * 10 + d as u32;
        j += 1;
    }
    if j == i || v > u16::MAX as u32 {
        return None;
    }
    Some((v as u16, j))
}

/// Parses 1*DIGIT into a u64, refusing empty input, other bytes and
/// anything above `max`. Leading zeros are allowed (RFC 4475 §3.1.1.1).
#[inline]
pub(crate) fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    // Nineteen digits stay below 2^64: no overflow checks per digit.
    if s.len() <= 19 {
        let mut v: u64 = 0;
        for &b in s {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + d as u64;
        }
        return (v <= max).then_some(v);
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(d as u64)?;
        if v > max {
            return None;
        }
    }
    Some(v)
}

/// Skips a `quoted-string` whose opening DQUOTE is at `s[i]`; returns the
/// index just past the closing DQUOTE, or `None` if it is unterminated.
/// `quoted-pair` = "\" (%x00-09 / %x0B-0C / %x0E-7F).
#[inline(always)]
pub(crate) fn skip_quoted(s: &[u8], i: usize) -> Option<usize> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    // Fast path: the next DQUOTE closes the string if no backslash comes
    // before it.
    if let Some(k) = find_quote_or_backslash(s, i + 1) {
        if s[k] == b'"' {
            return Some(k + 1);
        }
    }
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'"' => return Some(j + 1),
            b'\\' => {
                let next = *s.get(j + 1)?;
                if next == b'\r' || next == b'\n' || next > 0x7f {
                    return None;
                }
                j += 2;
            }
            _ => j += 1,
        }
    }
    None
}

/// Whether `s` is a valid `escaped`-aware sequence over `mask`: every byte in
/// the class, or a `%` followed by two hex digits.
pub(crate) fn all_escaped(s: &[u8], mask: u16) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            if i + 2 >= s.len() {
                return false;
            }
            if !(is(s[i + 1], HEX) && is(s[i + 2], HEX)) {
                return false;
            }
            i += 3;
        } else if is(b, mask) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Value of a hex digit (caller checked the class).
#[inline]
pub(crate) fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Iterates the bytes of `s` with `%HH` escapes decoded (RFC 3261 §19.1.4
/// compares URI components after unescaping). Malformed escapes pass through.
#[derive(Clone, Debug)]
pub(crate) struct Unescaped<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Unescaped<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Unescaped { s, i: 0 }
    }
}

impl Iterator for Unescaped<'_> {
    type Item = u8;
    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = *self.s.get(self.i)?;
        if b == b'%'
            && self.i + 2 < self.s.len()
            && is(self.s[self.i + 1], HEX)
            && is(self.s[self.i + 2], HEX)
        {
            let v = hex_val(self.s[self.i + 1]) << 4 | hex_val(self.s[self.i + 2]);
            self.i += 3;
            Some(v)
        } else {
            self.i += 1;
            Some(b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_class_matches_rfc3261() {
        for b in b"abcXYZ019-.!%*_+`'~" {
            assert!(is(*b, TOKEN), "{}", *b as char);
        }
        for b in b" \t:;,\"<>@()[]{}?/=\\" {
            assert!(!is(*b, TOKEN), "{}", *b as char);
        }
    }

    #[test]
    fn port_digits_agree_with_parse_decimal() {
        for text in [
            "", "0", "5060", "65535", "65536", "99999", "000001", "123456", "5060;x", "50a", ";",
            "00000", "12 3",
        ] {
            let s = text.as_bytes();
            let end = s
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(s.len());
            let full = parse_decimal(&s[..end], u16::MAX as u64).map(|v| (v as u16, end));
            match port_digits(s, 0) {
                Some(got) => assert_eq!(Some(got), full, "{text}"),
                None => assert!(full.is_none() || end > 5, "{text}"),
            }
        }
    }

    #[test]
    fn eq_letters_is_eq_ignore_ascii_case() {
        let words: [&[u8]; 9] = [
            b"branch",
            b"BRANCH",
            b"Branch",
            b"branc",
            b"branchx",
            b"bRaNcH",
            b"",
            b"br@nch",
            b"branch\x00",
        ];
        for w in words {
            assert_eq!(
                eq_letters(w, b"branch"),
                w.eq_ignore_ascii_case(b"branch"),
                "{w:?}"
            );
        }
        // Every byte in every position of a 3-letter word.
        for at in 0..3 {
            for b in 0..=255u8 {
                let mut w = *b"ttl";
                w[at] = b;
                assert_eq!(
                    eq_letters(&w, b"ttl"),
                    w.eq_ignore_ascii_case(b"ttl"),
                    "{w:?}"
                );
            }
        }
    }

    #[test]
    fn scheme_end_agrees_with_the_class_loop() {
        for uri in [
            &b"sip:a@b"[..],
            b"SIP:x",
            b"sIp:",
            b"sips:a",
            b"tel:+1",
            b"sip",
            b"si",
            b"",
            b"s1p:x",
            b"sip;x",
            b"Sip+:x",
            b"xip:a",
            b"sip\x00:",
        ] {
            assert_eq!(scheme_end(uri), skip_class(uri, 0, SCHEME), "{uri:?}");
        }
        for b in 0..=255u8 {
            let uri = [b's', b'i', b'p', b];
            assert_eq!(scheme_end(&uri), skip_class(&uri, 0, SCHEME), "{uri:?}");
            let uri = [b, b'i', b'p', b':'];
            assert_eq!(scheme_end(&uri), skip_class(&uri, 0, SCHEME), "{uri:?}");
        }
    }

    #[test]
    fn decimal_limits() {
        assert_eq!(parse_decimal(b"0068", 255), Some(68));
        assert_eq!(parse_decimal(b"256", 255), None);
        assert_eq!(parse_decimal(b"", 255), None);
        assert_eq!(parse_decimal(b"1a", 255), None);
        assert_eq!(parse_decimal(b"36893488147419103232", u64::MAX), None);
        assert_eq!(
            parse_decimal(b"18446744073709551615", u64::MAX),
            Some(u64::MAX)
        );
        // Either side of the unchecked path's nineteen digits.
        assert_eq!(
            parse_decimal(b"9999999999999999999", u64::MAX),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_decimal(b"9999999999999999999", u32::MAX as u64), None);
        assert_eq!(parse_decimal(b"00000000000000000000042", 255), Some(42));
        assert_eq!(parse_decimal(b"0000000000000000000x", 255), None);
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(skip_quoted(br#""a\"b" x"#, 0), Some(6));
        assert_eq!(skip_quoted(br#""unterminated"#, 0), None);
        assert_eq!(skip_quoted(b"\"bs\\", 0), None);
        assert_eq!(skip_quoted(b"\"J Rosenberg \\\\\\\"\"", 0), Some(18));
    }

    #[test]
    fn find_lf_agrees_with_a_plain_loop() {
        // Every start offset, every LF position, lengths across the
        // 16-byte steps and the tail.
        for len in 0..70 {
            for lf in (0..len).map(Some).chain([None]) {
                let mut hay = vec![b'x'; len];
                if let Some(p) = lf {
                    hay[p] = b'\n';
                }
                for from in 0..=len {
                    let plain = hay[from..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map(|p| p + from);
                    assert_eq!(
                        find_lf(&hay, from),
                        plain,
                        "len {len} lf {lf:?} from {from}"
                    );
                }
            }
        }
        assert_eq!(find_lf(b"", 0), None);
        assert_eq!(find_lf(b"abc", 7), None);
    }

    #[test]
    fn skip_alnum_dot_dash_agrees_with_a_plain_loop() {
        let plain = |s: &[u8], i: usize| {
            s[i..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
                .map_or(s.len(), |p| i + p)
        };
        // Every byte value at every position of runs across the 16-byte steps.
        for len in 0..50 {
            for stop in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[stop] = b;
                    for from in [0, 1, stop.saturating_sub(1), stop] {
                        if from > len {
                            continue;
                        }
                        let got = skip_alnum_dot_dash(&s, from);
                        let want = plain(&s, from);
                        // It stops at the answer, or earlier when fewer than
                        // sixteen bytes remain, on a byte the class loop takes.
                        assert!(got <= want, "len {len} stop {stop} byte {b} from {from}");
                        assert!(s[got..want].len() < 16 || got == want);
                        assert!(got == want || got + 16 > len);
                    }
                }
            }
        }
        // Random mixes of class and other bytes.
        let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
        let mut x = rng.u64(..);
        for _ in 0..20_000 {
            let mut s = Vec::new();
            for _ in 0..(x % 70) {
                x = rng.u64(..);
                s.push(if x % 8 == 0 {
                    (x >> 8) as u8
                } else {
                    b"aZ09.-+"[(x >> 16) as usize % 7]
                });
            }
            for from in 0..=s.len() {
                let got = skip_alnum_dot_dash(&s, from);
                let want = plain(&s, from);
                assert!(got == want || (got < want && got + 16 > s.len()));
            }
            assert_eq!(skip_token(&s, 0), plain_token(&s));
            let plus_plain = s
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'+')))
                .unwrap_or(s.len());
            let got = skip_alnum_dot_dash_plus(&s, 0);
            assert!(
                got == plus_plain || (got < plus_plain && got + 16 > s.len()),
                "{s:?} {got} {plus_plain}"
            );
        }
    }

    fn plain_token(s: &[u8]) -> usize {
        s.iter().position(|&b| !is(b, TOKEN)).unwrap_or(s.len())
    }

    #[test]
    fn find_ctl_space_or_high_agrees_with_a_plain_loop() {
        for len in 0..50 {
            for hit in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[hit] = b;
                    for from in [0, 1, hit, hit + 1] {
                        let plain = s
                            .get(from..)
                            .and_then(|t| t.iter().position(|&b| b <= b' ' || b >= 0x7f))
                            .map(|p| p + from);
                        assert_eq!(find_ctl_space_or_high(&s, from), plain, "{len} {hit} {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn hostname_masks_agree_with_a_plain_loop() {
        let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
        for round in 0..100_000 {
            let x = rng.u64(..);
            let n = (x % 72) as usize;
            let mut s = vec![0u8; n];
            for (k, b) in s.iter_mut().enumerate() {
                let r = x.rotate_left(k as u32 * 7) ^ (round as u64 * 31 + k as u64);
                *b = if r % 5 == 0 {
                    (r >> 9) as u8
                } else {
                    b"aZ09.-_"[(r >> 3) as usize % 7]
                };
            }
            let got = hostname_masks(&s);
            if !(16..=64).contains(&n) {
                assert_eq!(got, None);
                continue;
            }
            let mask = |f: &dyn Fn(u8) -> bool| {
                s.iter()
                    .enumerate()
                    .fold(0u64, |m, (k, &b)| m | (f(b) as u64) << k)
            };
            let want = (
                mask(&|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')),
                mask(&|b| b == b'.'),
                mask(&|b| b == b'-'),
            );
            #[cfg(target_arch = "x86_64")]
            assert_eq!(got, Some(want), "{s:?}");
            #[cfg(not(target_arch = "x86_64"))]
            let _ = want;
        }
    }

    #[test]
    fn find_quote_or_backslash_agrees_with_a_plain_loop() {
        for len in 0..50 {
            for hit in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[hit] = b;
                    for from in [0, 1, hit, hit + 1] {
                        let plain = s
                            .get(from..)
                            .and_then(|t| t.iter().position(|&b| b == b'"' || b == b'\\'))
                            .map(|p| p + from);
                        assert_eq!(find_quote_or_backslash(&s, from), plain, "{len} {hit} {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn find_byte_or_ctl_agrees_with_a_plain_loop() {
        for len in 0..50 {
            for (hit, byte) in [(None, b'x')].into_iter().chain((0..len).flat_map(|p| {
                [b'>', b' ', b'\t', 0u8, 0x20, 0x21, 0x7f, 0xff].map(|b| (Some(p), b))
            })) {
                let mut hay = vec![b'x'; len];
                if let Some(p) = hit {
                    hay[p] = byte;
                }
                for from in 0..=len {
                    let plain = hay[from..]
                        .iter()
                        .position(|&b| b == b'>' || b <= b' ')
                        .map(|p| p + from);
                    assert_eq!(
                        find_byte_or_ctl(&hay, from, b'>'),
                        plain,
                        "len {len} {hit:?} {byte} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn swar_helpers_agree_with_plain_loops() {
        let hay = b"0123456789abcdef\nxyz:\r\nend";
        for from in 0..hay.len() {
            for needle in [b'\n', b':', b'z', b'0', b'#'] {
                let plain = hay[from..]
                    .iter()
                    .position(|&b| b == needle)
                    .map(|p| p + from);
                assert_eq!(find_byte(hay, from, needle), plain, "{from} {needle}");
            }
        }
        for s in [
            &b"sip:a@b.com"[..],
            b"sip:verylongusername@example.com;transport=udp",
        ] {
            assert!(!has_ctl_or_space_or_high(s));
        }
        for bad in [
            &b"sip:a b"[..],
            b"sip:a\x7fb",
            b"sip:\xc3\xa9",
            b"0123456789\t",
            b"\x00",
        ] {
            assert!(has_ctl_or_space_or_high(bad), "{bad:?}");
        }
        // Every position of a bad byte is found.
        for pos in 0..20 {
            let mut v = vec![b'a'; 20];
            v[pos] = b' ';
            assert!(has_ctl_or_space_or_high(&v));
            v[pos] = 0xff;
            assert!(has_ctl_or_space_or_high(&v));
        }
    }

    #[test]
    fn escapes() {
        assert!(all_escaped(b"a%20b", UNRESERVED));
        assert!(!all_escaped(b"a%2", UNRESERVED));
        assert!(!all_escaped(b"a%zz", UNRESERVED));
        assert_eq!(Unescaped::new(b"%41b%").collect::<Vec<_>>(), b"Ab%");
    }
}
