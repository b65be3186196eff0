//! Stateless nonces (RFC 7616 §3.3 `nonce`, §5.5; RFC 3261 §22.4): a nonce
//! carries its issue time and a random salt, authenticated with
//! HMAC-SHA-256 under a per-process secret, so that any shard holding the
//! same [`NonceKey`] verifies a nonce any other shard issued, with no
//! shared table and nothing to remember per challenge.
//!
//! ```text
//! nonce = base64url-nopad( issued (8, big-endian unix seconds)
//!                        | salt   (8)
//!                        | HMAC-SHA-256(secret, issued | salt | len(realm) | realm | binding)[..16] )
//!       = 43 characters
//! ```
//!
//! The realm is hashed lower-cased (it is a host name). `binding` is
//! whatever else the caller ties a nonce to (the Call-ID, say, so that a
//! nonce is only good for the dialog it was issued in and every use of
//! it lands on the shard owning that Call-ID; see [`super`]). A check
//! says [`NonceCheck::Valid`], [`NonceCheck::Stale`] (authentic but too
//! old, or from the future after a clock step) or [`NonceCheck::Invalid`]
//! (not one of ours: wrong length, bad encoding, wrong MAC, or another
//! realm or binding); it decodes into a stack buffer and allocates
//! nothing. A restart draws a new secret, so the nonces of the previous
//! process are then [`NonceCheck::Invalid`] (the verifier answers those
//! with `stale=true` when the digest is right: see [`super::Verifier`]).

use core::fmt;

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// How long a nonce is good for by default: 300 s (Kamailio's
/// `nonce_expire` default). Past it the verifier asks for a new one with
/// `stale=true`.
pub const DEFAULT_MAX_AGE_S: u64 = 300;

/// How far in the future an issue time may be (seconds) before the nonce
/// counts as stale: the wall clock may step back a little between issue
/// and use (NTP), and a nonce is never trusted to live longer than its
/// age allows.
pub const FUTURE_SKEW_S: u64 = 5;

/// The length of a nonce as sent (base64url without padding of 32 bytes).
pub const NONCE_LEN: usize = 43;

/// Issue time, salt, truncated MAC.
const RAW_LEN: usize = 32;
/// The MAC is truncated to 128 bits (forging one is a 2^128 guess).
const TAG_LEN: usize = 16;

/// A nonce's identity for the replay window: its MAC tag (unique per
/// issue time, salt, realm and binding; unforgeable).
pub type NonceId = [u8; TAG_LEN];

const B64: &data_encoding::Encoding = &data_encoding::BASE64URL_NOPAD;

/// The per-process secret nonces are authenticated with, shared by the
/// shards (behind an `Arc`). Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct NonceKey {
    /// HMAC-SHA-256 keyed with the secret: the key schedule (two block
    /// compressions) is done once, each nonce clones the state.
    mac: Hmac<Sha256>,
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey { .. }")
    }
}

/// A nonce as sent: 43 base64url characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Nonce([u8; NONCE_LEN]);

impl Nonce {
    /// The characters.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The characters as text.
    pub fn as_str(&self) -> &str {
        // base64url digits only.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", self.as_str())
    }
}

/// What a nonce is worth now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours, for this realm and binding, and young enough.
    Valid {
        /// When it was issued (unix seconds).
        issued: u64,
        /// Its identity, for the replay window.
        id: NonceId,
    },
    /// Ours, but older than the maximum age (or issued in the future).
    Stale {
        /// When it was issued (unix seconds).
        issued: u64,
    },
    /// Not ours (or not for this realm or binding).
    Invalid,
}

impl NonceKey {
    /// A key with a fresh 256-bit secret from the operating system.
    pub fn generate() -> Result<NonceKey, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(NonceKey::from_secret(&secret))
    }

    /// A key with the given secret (tests; or several processes that must
    /// verify each other's nonces).
    pub fn from_secret(secret: &[u8; 32]) -> NonceKey {
        NonceKey {
            // HMAC takes keys of any length: this cannot fail.
            mac: Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!()),
        }
    }

    /// A seed for a shard's salt generator ([`super::Challenge`]), derived
    /// from the secret and the shard's index: distinct per shard, unknown
    /// to peers, and no clock read.
    pub fn salt_seed(&self, shard: u64) -> u64 {
        let mut m = self.mac.clone();
        m.update(b"trunkline salt seed");
        m.update(&shard.to_be_bytes());
        let out = m.finalize().into_bytes();
        let mut b = [0; 8];
        b.copy_from_slice(&out[..8]);
        u64::from_be_bytes(b)
    }

    fn tag(&self, issued: &[u8], salt: &[u8], realm: &[u8], binding: &[u8]) -> Hmac<Sha256> {
        let mut m = self.mac.clone();
        m.update(issued);
        m.update(salt);
        m.update(&(realm.len() as u64).to_be_bytes());
        let mut buf = [0u8; 64];
        for chunk in realm.chunks(buf.len()) {
            let lower = &mut buf[..chunk.len()];
            for (o, b) in lower.iter_mut().zip(chunk) {
                *o = b.to_ascii_lowercase();
            }
            m.update(lower);
        }
        m.update(binding);
        m
    }

    /// A nonce issued at `now_unix` for `realm` and `binding`, made
    /// unique by `salt` (a shard's random draw).
    pub fn issue(&self, now_unix: u64, salt: u64, realm: &[u8], binding: &[u8]) -> Nonce {
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&now_unix.to_be_bytes());
        raw[8..16].copy_from_slice(&salt.to_be_bytes());
        let tag = self
            .tag(&raw[..8], &raw[8..16], realm, binding)
            .finalize()
            .into_bytes();
        raw[16..].copy_from_slice(&tag[..TAG_LEN]);
        let mut out = [0u8; NONCE_LEN];
        B64.encode_mut(&raw, &mut out);
        Nonce(out)
    }

    /// Checks `nonce` (as received, unquoted) at `now_unix` for `realm`
    /// and `binding`: stale when older than `max_age_s` seconds. The MAC
    /// is compared in constant time. Allocates nothing.
    pub fn check(
        &self,
        nonce: &[u8],
        now_unix: u64,
        max_age_s: u64,
        realm: &[u8],
        binding: &[u8],
    ) -> NonceCheck {
        if nonce.len() != NONCE_LEN || B64.decode_len(NONCE_LEN).ok() != Some(RAW_LEN) {
            return NonceCheck::Invalid;
        }
        let mut raw = [0u8; RAW_LEN];
        if B64.decode_mut(nonce, &mut raw).is_err() {
            return NonceCheck::Invalid;
        }
        let m = self.tag(&raw[..8], &raw[8..16], realm, binding);
        if m.verify_truncated_left(&raw[16..]).is_err() {
            return NonceCheck::Invalid;
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&raw[..8]);
        let issued = u64::from_be_bytes(t);
        if issued > now_unix.saturating_add(FUTURE_SKEW_S)
            || now_unix.saturating_sub(issued) > max_age_s
        {
            return NonceCheck::Stale { issued };
        }
        let mut id = [0u8; TAG_LEN];
        id.copy_from_slice(&raw[16..]);
        NonceCheck::Valid { issued, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> NonceKey {
        NonceKey::from_secret(&[b; 32])
    }

    #[test]
    fn valid_stale_invalid() {
        let k = key(7);
        let t = 1_700_000_000;
        let n = k.issue(t, 42, b"Example.COM", b"call-1");
        assert_eq!(n.as_bytes().len(), NONCE_LEN);
        assert!(
            n.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        );
        let check =
            |now, realm: &[u8], binding: &[u8]| k.check(n.as_bytes(), now, 300, realm, binding);
        let NonceCheck::Valid { issued, id } = check(t, b"example.com", b"call-1") else {
            panic!("not valid");
        };
        assert_eq!(issued, t);
        // Up to the maximum age included, in either case of the realm.
        assert!(
            matches!(check(t + 300, b"EXAMPLE.com", b"call-1"), NonceCheck::Valid { id: i, .. } if i == id)
        );
        assert_eq!(
            check(t + 301, b"example.com", b"call-1"),
            NonceCheck::Stale { issued: t }
        );
        // From the future: a little is tolerated, more is stale.
        assert!(matches!(
            check(t - FUTURE_SKEW_S, b"example.com", b"call-1"),
            NonceCheck::Valid { .. }
        ));
        assert_eq!(
            check(t - FUTURE_SKEW_S - 1, b"example.com", b"call-1"),
            NonceCheck::Stale { issued: t }
        );
        // Another realm, binding or key: not ours.
        assert_eq!(check(t, b"example.org", b"call-1"), NonceCheck::Invalid);
        assert_eq!(check(t, b"example.com", b"call-2"), NonceCheck::Invalid);
        assert_eq!(
            key(8).check(n.as_bytes(), t, 300, b"example.com", b"call-1"),
            NonceCheck::Invalid
        );
        // A stale nonce of another key is invalid, not stale.
        assert_eq!(
            key(8).check(n.as_bytes(), t + 1000, 300, b"example.com", b"call-1"),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn tampering_is_invalid() {
        let k = key(1);
        let t = 1_700_000_000;
        let n = k.issue(t, 1, b"r", b"");
        // Every single-character change, including of the issue time.
        for i in 0..NONCE_LEN {
            for c in [b'A', b'z', b'0', b'-', b'_'] {
                let mut m = n.as_bytes().to_vec();
                if m[i] == c {
                    continue;
                }
                m[i] = c;
                assert_eq!(
                    k.check(&m, t, 300, b"r", b""),
                    NonceCheck::Invalid,
                    "{i} {c}"
                );
            }
        }
        for bad in [
            &b""[..],
            b"x",
            &n.as_bytes()[..42],
            b"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            b"\"abc\"",
        ] {
            assert_eq!(k.check(bad, t, 300, b"r", b""), NonceCheck::Invalid);
        }
        let mut long = n.as_bytes().to_vec();
        long.push(b'A');
        assert_eq!(k.check(&long, t, 300, b"r", b""), NonceCheck::Invalid);
    }

    #[test]
    fn unique_and_shared() {
        let k = key(3);
        let a = k.issue(10, 1, b"r", b"");
        let b = k.issue(10, 2, b"r", b"");
        assert_ne!(a, b);
        // Another holder of the same secret (another shard) verifies it.
        let k2 = key(3);
        assert!(matches!(
            k2.check(a.as_bytes(), 10, 300, b"r", b""),
            NonceCheck::Valid { .. }
        ));
        assert_ne!(k.salt_seed(0), k.salt_seed(1));
        assert_eq!(format!("{k:?}"), "NonceKey { .. }");
        assert!(NonceKey::generate().is_ok());
    }
}
