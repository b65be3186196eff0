//! Digest authentication of subscribers (RFC 3261 §22, RFC 7616, RFC
//! 8760), sans-IO: what the pipeline's auth stage
//! ([`crate::proxy::stages::auth`]) calls, with time passed in.
//!
//! # What and why
//!
//! A request routed onward is challenged with `407 Proxy Authentication
//! Required` and `Proxy-Authenticate` (RFC 3261 §22.3), a REGISTER with
//! `401 Unauthorized` and `WWW-Authenticate` (§22.2): [`ChallengeHeader`].
//! The realm is the Request-URI's host, lower-cased. Both SHA-256 and MD5
//! are offered, SHA-256 first (RFC 8760 §2.4: the preferred one first;
//! MD5 stays for the UAs that know nothing else), with `qop="auth"` and
//! one fresh nonce ([`Challenge`]).
//!
//! Nonces are stateless ([`nonce`]): an HMAC of the issue time, a salt,
//! the realm and a binding under a per-process secret, so any shard
//! verifies a nonce any shard issued, and a challenge costs no memory.
//! The binding ties a nonce to the request it answers: pass the Call-ID,
//! and a nonce is good only within its call (or a UA's registrations,
//! which keep their Call-ID, RFC 3261 §10.2.4), so every use of it runs
//! on the shard that owns the Call-ID and that shard's nonce-count window
//! ([`replay`]) sees all of them; this is Kamailio's
//! `auth_checks_*` Call-ID check. A UA reusing a nonce for a new call is
//! asked again with `stale=true`, one round trip.
//!
//! [`Verifier::verify`] checks the credentials (RFC 7616 §3.4, RFC 3261
//! §22.4): `username` and `realm` (the subscriber, [`subscribers`]),
//! `nonce` (ours, fresh), `uri` (the Request-URI, see [`UriMatch`]),
//! `algorithm`, `qop`, `nc` and `cnonce`, then the `response`, compared
//! in constant time ([`digest`]). Its [`Outcome`]:
//!
//! - [`Outcome::Ok`], authenticated.
//! - [`Outcome::Stale`], the response is right but the nonce is not
//!   usable (too old, issued by a previous process, for another binding,
//!   or forgotten by the window): challenge again with `stale=true`, the
//!   UA retries without asking its user (RFC 7616 §3.3: stale when "the
//!   nonce value is invalid but with a valid digest for that nonce").
//! - [`Outcome::Failed`], anything else about the credentials: unknown
//!   user, wrong password, another realm, a `uri` that is not the
//!   Request-URI, a replayed `nc`, an algorithm or `qop` not offered. The
//!   peer gets the same answer for all (a fresh challenge, or nothing once
//!   banned): a scanner cannot tell a user that exists from one that does
//!   not, and an unknown user costs the same hashing as a known one. The
//!   [`Failure`] says which, for counters and logs only.
//! - [`Outcome::Malformed`], not digest credentials one can check
//!   (missing or repeated parameters, a bad `nc`): 400.
//!
//! Failed attempts are counted per source by all shards together
//! ([`FailureCounts`]; a shard's bans in [`FailureBans`]): `auth_failures`
//! in `auth_window_s`, then dropped for `ban_s`.
//!
//! # Limits (defaults)
//!
//! - nonce lifetime: [`nonce::DEFAULT_MAX_AGE_S`] (300 s); nonces are 43
//!   characters ([`nonce::NONCE_LEN`]), anything else is not ours.
//! - nonce counts remembered per shard: [`replay::DEFAULT_CAPACITY`]
//!   (16,384 nonces), reordering within [`replay::REORDER_WINDOW`] (64).
//! - user names: [`subscribers::MAX_USER`] (256 bytes), realms
//!   [`subscribers::MAX_DOMAIN`] (255), cnonces [`MAX_CNONCE`] (256).
//! - failure bans: [`BanConfig`] (10 failures in 60 s ban for 300 s;
//!   16,384 sources counted by all shards, as many banned per shard).
//!
//! # Time
//!
//! `now_unix` is a count of seconds that all shards of the process share.
//! The wall clock will do, but since the secret lives and dies with the
//! process any shared monotonic count serves as well (seconds since a
//! start `Instant` plus a constant), and is immune to clock steps.
//!
//! # Calling it from the stage (sketch)
//!
//! ```text
//! if bans.is_banned(now, src.ip()) { return Drop }
//! let header = ChallengeHeader::for_method(method);
//! let realm = request-URI host;  let subs = table.current();
//! let dreq = DigestRequest { method: method_bytes, request_uri, realm, binding: call_id };
//! match find_credentials(msg.credentials(header.credentials_header()), realm) {
//!     None => reply(header, challenge.write(.., stale: false)),
//!     Some(c) => match verifier.verify(now_unix, &dreq, &c, &subs) {
//!         Outcome::Ok { user, .. } => Continue,
//!         Outcome::Stale => reply(header, challenge.write(.., stale: true)),
//!         Outcome::Failed(why) => { count(why);
//!             if bans.record_failure(now, src.ip()) { Drop }
//!             else { reply(header, challenge.write(.., stale: false)) } }
//!         Outcome::Malformed => reply 400,
//!     },
//! }
//! ```

pub mod bans;
pub mod digest;
mod lru;
pub mod nonce;
pub mod replay;
pub mod subscribers;

pub use bans::{BanConfig, FailureBans, FailureCounts};
pub use digest::{Algorithm, HashFn, Hex};
pub use nonce::{NonceCheck, NonceKey};
pub use replay::ReplayWindow;
pub use subscribers::{LoadSummary, Subscriber, SubscriberTable, Subscribers, SubscribersError};

use std::sync::Arc;

use trunkline_parser::{Credentials, HeaderName, Method, ParseError, Uri, unquote};

use digest::Qop;
use replay::Use;
use subscribers::MAX_USER;

/// The longest `cnonce` accepted: 256 bytes (UAs send 8 to 64).
pub const MAX_CNONCE: usize = 256;

/// How the credentials' `uri` must name the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UriMatch {
    /// The Request-URI, byte for byte or an equivalent SIP URI (RFC 3261
    /// §19.1.4: host case, escapes, parameter order). RFC 2617 §3.2.2.5
    /// and RFC 7616 §3.4.6 ask that it name the same resource as the
    /// Request-URI; equivalence is what a proxy on the way may have
    /// changed without changing the resource.
    #[default]
    RequestUri,
    /// Also a SIP URI without user part naming the Request-URI's host and
    /// port (`sip:127.0.0.1:5060` for `sip:bob@127.0.0.1:5060`): what
    /// SIPp sends by default (`sip:` remote address, unless `-auth_uri`).
    /// Weaker: such credentials are good for any user at that host, so
    /// only the nonce binding and the replay window stop them being used
    /// for another destination.
    HostPort,
}

/// The settings of [`Challenge`] and [`Verifier`], one set for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// How long a nonce is good for, in seconds: 300.
    pub nonce_max_age_s: u64,
    /// Offer MD5 besides SHA-256, and accept MD5 and MD5-sess: true.
    /// When false, only SHA-256 (and SHA-256-sess) are offered and
    /// accepted (no downgrade to an algorithm not offered).
    pub md5: bool,
    /// Offer MD5 first: false (SHA-256 first, RFC 8760 §2.4's order of
    /// preference). For UAs that answer the first challenge whatever its
    /// algorithm instead of the best they support (SIPp 3.6 and older
    /// phones, which then fail on SHA-256).
    pub md5_first: bool,
    /// Offer and accept SHA-256 (and SHA-256-sess): true. False with
    /// `md5` only: for UAs that give up on a challenge they cannot
    /// answer instead of taking the next (libre 1.x, so Debian 12's
    /// baresip: one SHA-256 challenge fails its REGISTER).
    pub sha256: bool,
    /// Accept responses without `qop` (RFC 2069 UAs): false. Such a
    /// response has no nonce count, so each nonce serves once (a second
    /// use is answered with `stale=true`).
    pub no_qop: bool,
    /// How the `uri` must name the Request-URI: [`UriMatch::RequestUri`].
    pub uri_match: UriMatch,
    /// How many nonces a shard's replay window remembers: 16,384.
    pub replay_capacity: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            nonce_max_age_s: nonce::DEFAULT_MAX_AGE_S,
            md5: true,
            md5_first: false,
            sha256: true,
            no_qop: false,
            uri_match: UriMatch::RequestUri,
            replay_capacity: replay::DEFAULT_CAPACITY,
        }
    }
}

/// Which challenge a request gets (RFC 3261 §22.2, §22.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeHeader {
    /// 407 with `Proxy-Authenticate`, answered in `Proxy-Authorization`:
    /// requests routed onward.
    Proxy,
    /// 401 with `WWW-Authenticate`, answered in `Authorization`: REGISTER
    /// (the registrar is the UAS).
    Www,
}

impl ChallengeHeader {
    /// The challenge for a request of `method`.
    pub fn for_method(method: Method) -> ChallengeHeader {
        if method == Method::Register {
            ChallengeHeader::Www
        } else {
            ChallengeHeader::Proxy
        }
    }

    /// The status code.
    pub const fn status(self) -> u16 {
        match self {
            ChallengeHeader::Proxy => 407,
            ChallengeHeader::Www => 401,
        }
    }

    /// The reason phrase.
    pub const fn reason(self) -> &'static [u8] {
        match self {
            ChallengeHeader::Proxy => b"Proxy Authentication Required",
            ChallengeHeader::Www => b"Unauthorized",
        }
    }

    /// The challenge's header name.
    pub const fn name(self) -> &'static str {
        match self {
            ChallengeHeader::Proxy => "Proxy-Authenticate",
            ChallengeHeader::Www => "WWW-Authenticate",
        }
    }

    /// The header the answer comes in.
    pub const fn credentials_header(self) -> HeaderName {
        match self {
            ChallengeHeader::Proxy => HeaderName::ProxyAuthorization,
            ChallengeHeader::Www => HeaderName::Authorization,
        }
    }
}

/// Writes challenges, one per shard: the nonce key and the shard's salt
/// generator.
#[derive(Debug)]
pub struct Challenge {
    key: Arc<NonceKey>,
    salts: fastrand::Rng,
    offered: &'static [Algorithm],
}

impl Challenge {
    /// A writer with `key` (shared by the shards) and a salt generator
    /// seeded with `seed`, distinct per shard (e.g.
    /// [`NonceKey::salt_seed`] of the shard's index).
    pub fn new(key: Arc<NonceKey>, config: &AuthConfig, seed: u64) -> Challenge {
        Challenge {
            key,
            salts: fastrand::Rng::with_seed(seed),
            offered: match (config.md5, config.md5_first, config.sha256) {
                (true, _, false) => &[Algorithm::Md5],
                (false, _, _) => &[Algorithm::Sha256],
                (true, false, true) => &[Algorithm::Sha256, Algorithm::Md5],
                (true, true, true) => &[Algorithm::Md5, Algorithm::Sha256],
            },
        }
    }

    /// Appends to `out` the challenge lines for `realm` (a host, written
    /// lower-cased; quotes, backslashes and control characters, which no
    /// host has, are left out) with a nonce issued at `now_unix` for
    /// `binding`, `stale=true` when `stale`: one `Name: Digest ...` line
    /// per algorithm offered, in [`AuthConfig`]'s order, joined by CRLF without a final one
    /// (the form of a [`Verdict::Reply`](crate::proxy::stages::Verdict)
    /// header, whose writer ends it). Allocates only to grow `out`.
    pub fn write(
        &mut self,
        out: &mut Vec<u8>,
        header: ChallengeHeader,
        now_unix: u64,
        realm: &[u8],
        binding: &[u8],
        stale: bool,
    ) {
        let nonce = self.key.issue(now_unix, self.salts.u64(..), realm, binding);
        for (i, alg) in self.offered.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(header.name().as_bytes());
            out.extend_from_slice(b": Digest realm=\"");
            out.extend(
                realm
                    .iter()
                    .filter(|b| !matches!(b, b'"' | b'\\') && !b.is_ascii_control())
                    .map(u8::to_ascii_lowercase),
            );
            out.extend_from_slice(b"\", nonce=\"");
            out.extend_from_slice(nonce.as_bytes());
            out.extend_from_slice(b"\", algorithm=");
            out.extend_from_slice(alg.name().as_bytes());
            out.extend_from_slice(b", qop=\"auth\"");
            if stale {
                out.extend_from_slice(b", stale=true");
            }
        }
    }
}

/// The request the credentials must be for.
#[derive(Clone, Copy, Debug)]
pub struct DigestRequest<'a> {
    /// The method as written in the request line (A2's method).
    pub method: &'a [u8],
    /// The Request-URI as written.
    pub request_uri: &'a [u8],
    /// The realm challenged with (the Request-URI's host; any case).
    pub realm: &'a [u8],
    /// What nonces are bound to, the same as given to
    /// [`Challenge::write`] (the Call-ID; empty for none).
    pub binding: &'a [u8],
}

/// Why credentials failed: for counters and logs, never for the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Unknown user, no HA1 for the algorithm, or a wrong response: one
    /// case, so that nothing downstream can tell users apart.
    Credentials,
    /// Credentials for another realm.
    Realm,
    /// A `uri` that does not name the Request-URI.
    Uri,
    /// A nonce count already used (or too far below the highest).
    Replay,
    /// An algorithm, `qop` or `userhash` that was not offered.
    Unsupported,
}

/// What [`Verifier::verify`] found (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'s> {
    /// Authenticated.
    Ok {
        /// The subscriber's user name.
        user: &'s str,
        /// The subscriber's domain (the realm, lower-cased).
        domain: &'s str,
        /// The algorithm used.
        algorithm: Algorithm,
    },
    /// Right response, unusable nonce: challenge with `stale=true`.
    Stale,
    /// Anything else wrong: challenge again (the same answer whatever
    /// the reason), count a failure.
    Failed(Failure),
    /// Not checkable digest credentials: 400.
    Malformed,
}

/// Checks credentials, one per shard: the nonce key, the shard's
/// replay window, the settings.
#[derive(Debug)]
pub struct Verifier {
    key: Arc<NonceKey>,
    replay: ReplayWindow,
    config: AuthConfig,
    /// Hashed in place of an unknown user's HA1, so that an unknown user
    /// costs what a known one does (the result is never accepted).
    dummy_md5: Hex,
    dummy_sha256: Hex,
}

/// The parameters read, in this order.
const NAMES: [&[u8]; 10] = [
    b"username",
    b"realm",
    b"nonce",
    b"uri",
    b"response",
    b"algorithm",
    b"qop",
    b"nc",
    b"cnonce",
    b"userhash",
];

/// Unescapes the quoted-pairs of `v` (a quoted-string's inside, RFC 3261
/// §25.1) into `buf` if it has any (else returns `v`); `None` when the
/// result would not fit.
fn unescape<'b>(v: &'b [u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    if !v.contains(&b'\\') {
        return (v.len() <= buf.len()).then_some(v);
    }
    let mut n = 0;
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' {
            i += 1;
        }
        *buf.get_mut(n)? = *v.get(i)?;
        n += 1;
        i += 1;
    }
    Some(&buf[..n])
}

/// Parses `nc`: exactly 8 hex digits, not 0.
fn parse_nc(nc: &[u8]) -> Option<u32> {
    if nc.len() != 8 {
        return None;
    }
    let s = core::str::from_utf8(nc).ok()?;
    u32::from_str_radix(s, 16).ok().filter(|&n| n != 0)
}

/// Whether the credentials' `uri` names the Request-URI (see
/// [`UriMatch`]).
fn uri_matches(mode: UriMatch, digest_uri: &[u8], request_uri: &[u8]) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    let (Ok(Uri::Sip(d)), Ok(Uri::Sip(r))) = (Uri::parse(digest_uri), Uri::parse(request_uri))
    else {
        return false;
    };
    d.equivalent(&r)
        || (mode == UriMatch::HostPort
            && d.user.is_none()
            && d.password.is_none()
            && d.secure == r.secure
            && d.host.equivalent(&r.host)
            && d.port == r.port
            && d.params.is_empty()
            && d.headers.is_empty())
}

/// The digest credentials for `realm` among the values of a request's
/// `Proxy-Authorization` (or `Authorization`) headers: a request carries
/// one per realm when proxies on its way each asked (RFC 3261 §22.3). The
/// first whose realm is `realm` (any case); values that do not parse are
/// skipped (they may be for another realm and scheme).
pub fn find_credentials<'a, I>(values: I, realm: &[u8]) -> Option<Credentials<'a>>
where
    I: IntoIterator<Item = Result<Credentials<'a>, ParseError>>,
{
    values.into_iter().filter_map(Result::ok).find(|c| {
        c.scheme.eq_ignore_ascii_case(b"Digest")
            && c.get(b"realm")
                .is_some_and(|r| r.eq_ignore_ascii_case(realm))
    })
}

impl Verifier {
    /// A verifier with `key` (shared by the shards) and `config`.
    pub fn new(key: Arc<NonceKey>, config: &AuthConfig) -> Verifier {
        Verifier {
            key,
            replay: ReplayWindow::new(config.replay_capacity),
            config: *config,
            dummy_md5: digest::ha1(HashFn::Md5, b"", b"", b""),
            dummy_sha256: digest::ha1(HashFn::Sha256, b"", b"", b""),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The shard's replay window (for its size in statistics).
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Checks `credentials` (a `Digest` value for `req`'s realm, see
    /// [`find_credentials`]) against `subscribers` at `now_unix`. A
    /// response found right records its nonce count (a second use is a
    /// replay). Allocates nothing; its cost is linear in the credentials'
    /// length plus a fixed number of hashes, the same for an unknown user
    /// as for a known one.
    pub fn verify<'s>(
        &mut self,
        now_unix: u64,
        req: &DigestRequest<'_>,
        credentials: &Credentials<'_>,
        subscribers: &'s Subscribers,
    ) -> Outcome<'s> {
        if !credentials.scheme.eq_ignore_ascii_case(b"Digest") {
            return Outcome::Malformed;
        }
        let mut v: [Option<&[u8]>; NAMES.len()] = [None; NAMES.len()];
        for p in credentials.params() {
            let Ok((name, value)) = p else {
                return Outcome::Malformed;
            };
            if let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) {
                if v[i].replace(unquote(value)).is_some() {
                    return Outcome::Malformed; // which one would count?
                }
            }
        }
        let [
            Some(username),
            Some(realm),
            Some(nonce),
            Some(uri),
            Some(response),
            algorithm,
            qop,
            nc,
            cnonce,
            userhash,
        ] = v
        else {
            return Outcome::Malformed;
        };
        // What the peer sent wrong, before any secret is involved.
        let mut ubuf = [0u8; MAX_USER];
        let user = unescape(username, &mut ubuf); // None: too long, unknown
        let mut cbuf = [0u8; MAX_CNONCE];
        let qop = match (qop, nc, cnonce) {
            (Some(q), Some(nc), Some(cn)) if q.eq_ignore_ascii_case(b"auth") => {
                let (Some(count), Some(cnonce)) = (parse_nc(nc), unescape(cn, &mut cbuf)) else {
                    return Outcome::Malformed;
                };
                if cnonce.is_empty() {
                    return Outcome::Malformed;
                }
                Some((Qop { qop: q, nc, cnonce }, count))
            }
            (Some(q), _, _) if q.eq_ignore_ascii_case(b"auth") => return Outcome::Malformed,
            (Some(_), _, _) => return Outcome::Failed(Failure::Unsupported),
            (None, None, None) if self.config.no_qop => None,
            (None, None, None) => return Outcome::Failed(Failure::Unsupported),
            (None, _, _) => return Outcome::Malformed,
        };
        let algorithm = match algorithm {
            None => Algorithm::Md5, // RFC 7616 §3.4: "If this is not present, it is assumed to be MD5"
            Some(a) => match Algorithm::from_name(a) {
                Some(a) => a,
                None => return Outcome::Failed(Failure::Unsupported),
            },
        };
        if (algorithm.hash() == HashFn::Md5 && !self.config.md5)
            || (algorithm.hash() != HashFn::Md5 && !self.config.sha256)
            || (algorithm.is_sess() && qop.is_none())
            || userhash.is_some_and(|u| u.eq_ignore_ascii_case(b"true"))
        {
            return Outcome::Failed(Failure::Unsupported);
        }
        if !realm.eq_ignore_ascii_case(req.realm) {
            return Outcome::Failed(Failure::Realm);
        }
        if !uri_matches(self.config.uri_match, uri, req.request_uri) {
            return Outcome::Failed(Failure::Uri);
        }
        // The response, with the user's HA1 or, for an unknown user, a
        // dummy one at the same cost.
        let hash = algorithm.hash();
        let subscriber = user.and_then(|u| subscribers.get(u, req.realm));
        let ha1 = subscriber.and_then(|s| s.ha1(hash));
        let dummy = match hash {
            HashFn::Md5 => &self.dummy_md5,
            HashFn::Sha256 => &self.dummy_sha256,
        };
        let q = qop.as_ref().map(|(q, _)| q);
        let Some(expected) = digest::request_digest(
            algorithm,
            ha1.unwrap_or(dummy).as_bytes(),
            nonce,
            q,
            req.method,
            uri,
        ) else {
            return Outcome::Failed(Failure::Unsupported);
        };
        let right = expected.matches(response) & ha1.is_some();
        let (Some(subscriber), true) = (subscriber, right) else {
            return Outcome::Failed(Failure::Credentials);
        };
        // Right response: now whether the nonce may be used.
        let check = self.key.check(
            nonce,
            now_unix,
            self.config.nonce_max_age_s,
            req.realm,
            req.binding,
        );
        let NonceCheck::Valid { issued, id } = check else {
            return Outcome::Stale;
        };
        // Without qop a nonce serves once: count its use as 1.
        let count = qop.as_ref().map_or(1, |(_, c)| *c);
        match self.replay.check(&id, issued, count) {
            Use::Fresh => Outcome::Ok {
                user: &subscriber.user,
                domain: &subscriber.domain,
                algorithm,
            },
            Use::Replayed if qop.is_some() => Outcome::Failed(Failure::Replay),
            Use::Replayed | Use::Forgotten => Outcome::Stale,
        }
    }
}

#[cfg(test)]
mod tests;
