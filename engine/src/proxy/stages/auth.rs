//! The authentication stage: trunks recognised by their source address,
//! subscribers by digest (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! - By source (`[security] unknown_source`): a request from a source
//!   that is not trusted, not in the routing table's ACL, and was given
//!   neither a group nor digest authentication by the policy, is let
//!   through (`allow`, the default), refused with 403 (`reject`) or
//!   dropped (`drop`). In-dialog requests (with a To tag) are not asked
//!   again, through our Record-Route or not: their dialog was let in.
//! - By digest, when a policy rule asked for it (`authenticate =
//!   "digest"`), for initial requests (no To tag): 407 with `Proxy-Authenticate` for a request routed
//!   onward, 401 with `WWW-Authenticate` for REGISTER, SHA-256 and MD5
//!   offered, the realm the Request-URI's host; the credentials checked
//!   against the subscriber table ([`crate::auth`]). A wrong user and a
//!   wrong password get the same fresh challenge; `auth_failures` failed
//!   attempts within `auth_window_s`, counted by all shards together,
//!   ban the source for `ban_s` (its requests dropped unanswered: by
//!   this stage, and by every shard's datagram gate through the shared
//!   ban list). ACK and CANCEL are never challenged
//!   (§22.1: they cannot resubmit).

use std::sync::Arc;
use std::time::Instant;

use trunkline_parser::{Method, Uri};

use super::{Request, RequestStage, StageCx, Verdict};
use crate::auth::{
    AuthConfig, BanConfig, Challenge, ChallengeHeader, DigestRequest, FailureBans, FailureCounts,
    NonceKey, Outcome, SubscriberTable, Verifier, find_credentials,
};
use crate::proxy::config::UnknownSource;
use crate::security::Shield;

/// What digest authentication shares across the shards: the nonce key,
/// the subscribers in service, the settings.
#[derive(Debug)]
pub struct DigestService {
    /// The per-process nonce secret.
    pub key: Arc<NonceKey>,
    /// The subscribers in service (reloaded with the configuration).
    pub subscribers: Arc<SubscriberTable>,
    /// Nonce lifetime, algorithms, the `uri` rule.
    pub config: AuthConfig,
    /// When failed attempts ban a source.
    pub bans: BanConfig,
    /// Nonces count their age in seconds from here (the shards share it;
    /// no wall clock needed: the key dies with the process).
    pub epoch: Instant,
    /// Failed attempts per source, counted by every shard together.
    pub failures: Arc<FailureCounts>,
}

impl DigestService {
    /// The service over `key` and `subscribers`; failures counted per
    /// `bans` (keyed by a seed drawn from `key`), time from `epoch`.
    pub fn new(
        key: Arc<NonceKey>,
        subscribers: Arc<SubscriberTable>,
        config: AuthConfig,
        bans: BanConfig,
        epoch: Instant,
    ) -> DigestService {
        let seed = key.salt_seed(u64::MAX);
        DigestService {
            key,
            subscribers,
            config,
            bans,
            epoch,
            failures: Arc::new(FailureCounts::new(bans, seed, epoch)),
        }
    }
}

/// The counts of the authentication stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthCounters {
    pub refused_sources: u64,
    pub challenges: u64,
    pub successes: u64,
    pub failures: u64,
    pub bans: u64,
    pub banned_drops: u64,
}

/// The authentication stage of one shard.
#[derive(Debug)]
pub struct Auth {
    unknown_source: UnknownSource,
    digest: Option<Digest>,
    /// Where a source's ban goes to stop it at every shard's gate.
    shield: Option<Arc<Shield>>,
    pub(crate) counters: AuthCounters,
}

/// A shard's digest state: its replay window, salts, failure counts, and
/// the buffer its challenges are written in.
#[derive(Debug)]
struct Digest {
    service: Arc<DigestService>,
    verifier: Verifier,
    challenge: Challenge,
    failures: FailureBans,
    header: Vec<u8>,
}

impl Auth {
    /// The stage of shard `shard`: sources judged by `unknown_source`,
    /// digest through `digest` (none: a rule asking for it gets 403).
    pub fn new(
        unknown_source: UnknownSource,
        digest: Option<Arc<DigestService>>,
        shield: Option<Arc<Shield>>,
        shard: u16,
    ) -> Auth {
        Auth {
            unknown_source,
            shield,
            digest: digest.map(|service| Digest {
                verifier: Verifier::new(service.key.clone(), &service.config),
                challenge: Challenge::new(
                    service.key.clone(),
                    &service.config,
                    service.key.salt_seed(u64::from(shard)),
                ),
                failures: FailureBans::shared(service.failures.clone()),
                header: Vec::with_capacity(512),
                service,
            }),
            counters: AuthCounters::default(),
        }
    }
}

impl RequestStage for Auth {
    fn on_request<'s>(
        &'s mut self,
        now: Instant,
        req: &Request<'_, '_>,
        cx: &mut StageCx<'_>,
    ) -> Verdict<'s> {
        let method = req.method();
        if matches!(method, Method::Ack | Method::Cancel) || cx.attrs.trusted {
            return Verdict::Continue;
        }
        // In-dialog requests (a To tag) are not judged again: their
        // dialog's initial request was, and a UA's BYE may come without
        // our Route when the far end did not echo our Record-Route (SIPp's
        // uas). As in the OpenSIPS/Kamailio scripts, source checks and
        // digest are for initial requests; checking that an in-dialog
        // request names a live dialog (481) is the dialog stage's part.
        if req.sum.to.tag().is_some() {
            return Verdict::Continue;
        }
        if self.unknown_source != UnknownSource::Allow
            && !cx.attrs.authenticate
            && cx.attrs.group.is_none()
            && (cx.source_group)(req.src.ip()).is_none()
        {
            self.counters.refused_sources += 1;
            return match self.unknown_source {
                UnknownSource::Drop => Verdict::Drop,
                _ => Verdict::reply(403, b"Forbidden"),
            };
        }
        if !cx.attrs.authenticate {
            return Verdict::Continue;
        }
        let Some(d) = self.digest.as_mut() else {
            // The configuration check refuses a rule asking for digest
            // without subscribers; a core built by hand gets 403.
            return Verdict::reply(403, b"Forbidden");
        };
        let ip = req.src.ip();
        if d.failures.is_banned(now, ip)
            || self.shield.as_ref().is_some_and(|s| s.is_banned(now, ip))
        {
            self.counters.banned_drops += 1;
            return Verdict::Drop;
        }
        let msg = req.msg;
        let uri = msg.request_uri().and_then(Result::ok);
        let realm = match uri.as_ref().and_then(Uri::as_sip) {
            Some(u) => u.host.text,
            None => cx.locals.addrs[usize::from(req.local)].host.as_bytes(),
        };
        let kind = ChallengeHeader::for_method(method);
        let now_unix = 1_000_000_000 + now.saturating_duration_since(d.service.epoch).as_secs();
        let stale = match find_credentials(msg.credentials(kind.credentials_header()), realm) {
            None => false,
            Some(creds) => {
                let subscribers = d.service.subscribers.current();
                let dreq = DigestRequest {
                    method: msg.method_bytes().unwrap_or_default(),
                    request_uri: msg.request_uri_bytes().unwrap_or_default(),
                    realm,
                    binding: req.sum.call_id,
                };
                match d.verifier.verify(now_unix, &dreq, &creds, &subscribers) {
                    // RFC 3261 §10.3 step 3: a subscriber registers its
                    // own AOR only (no hijacking another's calls).
                    Outcome::Ok { user, .. }
                        if method == Method::Register && !registers_self(req, user) =>
                    {
                        self.counters.failures += 1;
                        return Verdict::reply(403, b"Not Your AOR");
                    }
                    Outcome::Ok { .. } => {
                        self.counters.successes += 1;
                        return Verdict::Continue;
                    }
                    Outcome::Stale => true,
                    Outcome::Failed(_) => {
                        self.counters.failures += 1;
                        if d.failures.record_failure(now, ip) {
                            self.counters.bans += 1;
                            if let Some(s) = &self.shield {
                                s.ban(now, ip, d.service.bans.ban);
                            }
                            return Verdict::Drop;
                        }
                        false
                    }
                    Outcome::Malformed => return Verdict::reply(400, b"Bad Credentials"),
                }
            }
        };
        self.counters.challenges += 1;
        d.header.clear();
        d.challenge
            .write(&mut d.header, kind, now_unix, realm, req.sum.call_id, stale);
        Verdict::Reply {
            code: kind.status(),
            reason: kind.reason(),
            header: &d.header,
        }
    }
}

/// Whether a REGISTER's To (its AOR) names the authenticated `user`.
fn registers_self(req: &Request<'_, '_>, user: &str) -> bool {
    match req.sum.to.uri() {
        Ok(Uri::Sip(u)) => u.user == Some(user.as_bytes()),
        _ => false,
    }
}
