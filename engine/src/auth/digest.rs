//! The digest computations (RFC 7616 §3.4.1-§3.4.3, RFC 2617 §3.2.2, as
//! SIP uses them: RFC 3261 §22.4, RFC 8760): the algorithms, HA1, HA2,
//! the request digest (`response`) with `qop=auth` and without `qop`
//! (RFC 2069 / RFC 2617 compatibility), the `-sess` variants, and the
//! constant-time comparison of a received response.
//!
//! Everything is written as lower-case hex (RFC 7616 §3.4: `LHEX`) into a
//! [`Hex`] on the stack: nothing here allocates.
//!
//! `auth-int` (hashing the body) is not offered by trunkline, so it has no
//! function here: a proxy forwards bodies it must not depend on.

use core::fmt;

use md5::Md5;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// A digest algorithm (RFC 7616 §3.3 `algorithm`, RFC 8760 §2 for SIP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617; kept for the UAs that know nothing else).
    Md5,
    /// `MD5-sess`: HA1 = H(H(user:realm:password):nonce:cnonce).
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Every algorithm this module computes.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Md5,
        Algorithm::Md5Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
    ];

    /// The name as RFC 7616 §3.3 writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// The algorithm named `name`, ignoring case (UAs write `md5`);
    /// `None` for anything else (`SHA-512-256`, `AKAv1-MD5`, ...).
    pub fn from_name(name: &[u8]) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The hash function under it.
    pub const fn hash(self) -> HashFn {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashFn::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashFn::Sha256,
        }
    }

    /// Whether it is a `-sess` variant (HA1 bound to nonce and cnonce).
    pub const fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// The hash function of an [`Algorithm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashFn {
    /// MD5: 16 bytes, 32 hex digits.
    Md5,
    /// SHA-256: 32 bytes, 64 hex digits.
    Sha256,
}

impl HashFn {
    /// How many hex digits its digests have.
    pub const fn hex_len(self) -> usize {
        match self {
            HashFn::Md5 => 32,
            HashFn::Sha256 => 64,
        }
    }

    /// H(concatenation of `parts`), in hex.
    pub fn hex(self, parts: &[&[u8]]) -> Hex {
        fn run<D: sha2::Digest>(mut d: D, parts: &[&[u8]]) -> Hex {
            for p in parts {
                d.update(p);
            }
            Hex::encode(&d.finalize())
        }
        match self {
            HashFn::Md5 => run(Md5::new(), parts),
            HashFn::Sha256 => run(Sha256::new(), parts),
        }
    }
}

/// A digest (or a stored HA1) in lower-case hex, on the stack: 32 digits
/// for MD5, 64 for SHA-256.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex {
    buf: [u8; 64],
    len: u8,
}

impl Hex {
    /// `bytes` (at most 32) in lower-case hex.
    fn encode(bytes: &[u8]) -> Hex {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0; 64];
        let n = bytes.len().min(32);
        for (i, b) in bytes[..n].iter().enumerate() {
            buf[2 * i] = DIGITS[usize::from(b >> 4)];
            buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        Hex {
            buf,
            len: (2 * n) as u8,
        }
    }

    /// A hex digest of `hash` given as text (a stored HA1), lower-cased;
    /// `None` when it is not exactly [`HashFn::hex_len`] hex digits.
    pub fn parse(hash: HashFn, text: &[u8]) -> Option<Hex> {
        if text.len() != hash.hex_len() || !text.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut buf = [0; 64];
        for (o, b) in buf.iter_mut().zip(text) {
            *o = b.to_ascii_lowercase();
        }
        Some(Hex {
            buf,
            len: text.len() as u8,
        })
    }

    /// The hex digits.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// The hex digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Whether the received `given` (hex digits, either case) is this
    /// digest, compared in constant time: how long the comparison takes
    /// tells nothing about how many leading digits were right. Lengths and
    /// the hex check are public (they depend only on what the peer sent).
    pub fn matches(&self, given: &[u8]) -> bool {
        let expected = self.as_bytes();
        if given.len() != expected.len() || !given.iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        let mut folded = [0u8; 64];
        for (o, b) in folded.iter_mut().zip(given) {
            *o = b.to_ascii_lowercase();
        }
        expected.ct_eq(&folded[..expected.len()]).into()
    }
}

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({})", self.as_str())
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2), what a
/// subscriber table stores instead of the password.
pub fn ha1(hash: HashFn, user: &[u8], realm: &[u8], password: &[u8]) -> Hex {
    hash.hex(&[user, b":", realm, b":", password])
}

/// The `-sess` HA1 = H(HA1 ":" nonce ":" cnonce) (RFC 7616 §3.4.2), from
/// the stored (plain) HA1 in hex.
pub fn session_ha1(hash: HashFn, ha1: &[u8], nonce: &[u8], cnonce: &[u8]) -> Hex {
    hash.hex(&[ha1, b":", nonce, b":", cnonce])
}

/// HA2 = H(method ":" digest-uri) for `qop=auth` or no `qop` (RFC 7616
/// §3.4.3).
pub fn ha2(hash: HashFn, method: &[u8], uri: &[u8]) -> Hex {
    hash.hex(&[method, b":", uri])
}

/// The `qop` part of a response: what the client sent with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qop<'a> {
    /// The `qop` value (`auth`).
    pub qop: &'a [u8],
    /// The nonce count as sent: 8 hex digits.
    pub nc: &'a [u8],
    /// The client nonce, unquoted.
    pub cnonce: &'a [u8],
}

/// The request digest (RFC 7616 §3.4.1): with a `qop`,
/// H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2); without,
/// H(HA1 ":" nonce ":" HA2) (RFC 2069, RFC 2617 §3.2.2.1). `ha1` is the
/// one to use (for `-sess`, [`session_ha1`]'s).
pub fn response(hash: HashFn, ha1: &[u8], nonce: &[u8], qop: Option<&Qop<'_>>, ha2: &[u8]) -> Hex {
    match qop {
        Some(q) => hash.hex(&[
            ha1, b":", nonce, b":", q.nc, b":", q.cnonce, b":", q.qop, b":", ha2,
        ]),
        None => hash.hex(&[ha1, b":", nonce, b":", ha2]),
    }
}

/// The whole request digest of `algorithm` from a stored (plain) HA1, as
/// both sides compute it: the `-sess` HA1 when the algorithm asks for it,
/// HA2 of `method` and `uri`, then [`response`]. `None` for a `-sess`
/// algorithm without `qop` (there is no cnonce to bind HA1 to).
pub fn request_digest(
    algorithm: Algorithm,
    ha1: &[u8],
    nonce: &[u8],
    qop: Option<&Qop<'_>>,
    method: &[u8],
    uri: &[u8],
) -> Option<Hex> {
    let hash = algorithm.hash();
    let sess;
    let ha1 = if algorithm.is_sess() {
        sess = session_ha1(hash, ha1, nonce, qop?.cnonce);
        sess.as_bytes()
    } else {
        ha1
    };
    let ha2 = ha2(hash, method, uri);
    Some(response(hash, ha1, nonce, qop, ha2.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1: "Mufasa", "Circle of Life", GET /dir/index.html,
    /// MD5 then SHA-256, same nonce and cnonce.
    #[test]
    fn rfc_7616_3_9_1() {
        let nonce = b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let q = Qop {
            qop: b"auth",
            nc: b"00000001",
            cnonce: b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        };
        let realm = b"http-auth@example.org";
        for (alg, expected) in [
            (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
            (
                Algorithm::Sha256,
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let h1 = ha1(alg.hash(), b"Mufasa", realm, b"Circle of Life");
            let r = request_digest(
                alg,
                h1.as_bytes(),
                nonce,
                Some(&q),
                b"GET",
                b"/dir/index.html",
            )
            .unwrap();
            assert_eq!(r.as_str(), expected, "{}", alg.name());
            assert!(r.matches(expected.as_bytes()));
            assert!(r.matches(expected.to_ascii_uppercase().as_bytes()));
        }
    }

    /// RFC 2617 §3.5 (qop=auth, MD5), and its HA1/HA2 on the way.
    #[test]
    fn rfc_2617_3_5() {
        let h1 = ha1(
            HashFn::Md5,
            b"Mufasa",
            b"testrealm@host.com",
            b"Circle Of Life",
        );
        assert_eq!(h1.as_str(), "939e7578ed9e3c518a452acee763bce9");
        let h2 = ha2(HashFn::Md5, b"GET", b"/dir/index.html");
        assert_eq!(h2.as_str(), "39aff3a2bab6126f332b942af96d3366");
        let q = Qop {
            qop: b"auth",
            nc: b"00000001",
            cnonce: b"0a4f113b",
        };
        let r = response(
            HashFn::Md5,
            h1.as_bytes(),
            b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(&q),
            h2.as_bytes(),
        );
        assert_eq!(r.as_str(), "6629fae49393a05397450978507c4ef1");
    }

    /// No qop (RFC 2069 form) and the -sess variants, against values
    /// computed independently (Python's hashlib, by the formulas of RFC
    /// 7616 §3.4.1-§3.4.2).
    #[test]
    fn no_qop_and_sess() {
        let h1 = ha1(
            HashFn::Md5,
            b"Mufasa",
            b"testrealm@host.com",
            b"Circle Of Life",
        );
        let nonce = b"dcd98b7102dd2f0e8b11d0f600bfb0c093";
        let r = request_digest(
            Algorithm::Md5,
            h1.as_bytes(),
            nonce,
            None,
            b"GET",
            b"/dir/index.html",
        )
        .unwrap();
        assert_eq!(r.as_str(), NO_QOP_MD5);
        let q = Qop {
            qop: b"auth",
            nc: b"00000001",
            cnonce: b"0a4f113b",
        };
        let r = request_digest(
            Algorithm::Md5Sess,
            h1.as_bytes(),
            nonce,
            Some(&q),
            b"GET",
            b"/dir/index.html",
        )
        .unwrap();
        assert_eq!(r.as_str(), MD5_SESS);
        let h1 = ha1(
            HashFn::Sha256,
            b"Mufasa",
            b"testrealm@host.com",
            b"Circle Of Life",
        );
        let r = request_digest(
            Algorithm::Sha256Sess,
            h1.as_bytes(),
            nonce,
            Some(&q),
            b"GET",
            b"/dir/index.html",
        )
        .unwrap();
        assert_eq!(r.as_str(), SHA256_SESS);
        // -sess needs a cnonce.
        assert!(
            request_digest(
                Algorithm::Sha256Sess,
                h1.as_bytes(),
                nonce,
                None,
                b"GET",
                b"/"
            )
            .is_none()
        );
    }

    const NO_QOP_MD5: &str = "670fd8c2df070c60b045671b8b24ff02";
    const MD5_SESS: &str = "8e3825c57e897f5a0dec6c2d4e5059d0";
    const SHA256_SESS: &str = "b8822e12417cb7750f4e2b8515f0dcf25b7dd26993e80bee1426201446a7f59b";

    #[test]
    fn names() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name().as_bytes()), Some(a));
        }
        assert_eq!(Algorithm::from_name(b"md5"), Some(Algorithm::Md5));
        assert_eq!(
            Algorithm::from_name(b"sha-256-SESS"),
            Some(Algorithm::Sha256Sess)
        );
        assert_eq!(Algorithm::from_name(b"SHA-512-256"), None);
        assert_eq!(Algorithm::from_name(b"AKAv1-MD5"), None);
        assert_eq!(Algorithm::from_name(b""), None);
    }

    #[test]
    fn matching_is_exact() {
        let h = ha2(HashFn::Md5, b"INVITE", b"sip:bob@example.com");
        let s = h.as_str().to_string();
        assert!(h.matches(s.as_bytes()));
        assert!(!h.matches(&s.as_bytes()[..31]));
        let mut longer = s.clone();
        longer.push('0');
        assert!(!h.matches(longer.as_bytes()));
        // A non-hex byte that would fold onto a digit is refused.
        let mut odd = s.into_bytes();
        odd[0] = 0x10 + (odd[0] & 0x0f);
        assert!(!h.matches(&odd));
        assert_eq!(
            Hex::parse(HashFn::Md5, b"939E7578ED9E3C518A452ACEE763BCE9")
                .unwrap()
                .as_str(),
            "939e7578ed9e3c518a452acee763bce9"
        );
        assert!(Hex::parse(HashFn::Sha256, b"939e7578ed9e3c518a452acee763bce9").is_none());
        assert!(Hex::parse(HashFn::Md5, b"939e7578ed9e3c518a452acee763bcez").is_none());
    }
}
