//! The limits stage: the named rate limits (`[[rate_limit]]`, token
//! buckets per source, per group or global, [`crate::security::rate_limit`])
//! that policy rules made a request count against. Over a limit the
//! request gets 503 with the Retry-After the bucket gives (RFC 3261
//! §21.5.4: when it can be tried again).
//!
//! Then the call limits (`[[limit]]`, [`crate::security::call_limits`]):
//! an initial INVITE takes a slot of each concurrent limit and a token of
//! each calls-per-second limit of its customer (`group:`) and source
//! (`source:`), exactly across shards, or is refused with the limit's
//! code (503 by default) and Retry-After. The slots go with the call
//! ([`crate::proxy::calls`]) and come back when it ends. The gateways'
//! own caps are least-cost routing's ([`crate::lcr::caps`]): a gateway at
//! its cap is skipped, not refused.
//!
//! The target limits (`carrier:ID`, `gateway:ID`) are not this stage's:
//! the serial search admits each least-cost routing target under them
//! before trying it, and skips a refused one ([`TargetLimits`],
//! `crate::proxy::serial`). A target's slots go with the call's current
//! attempt ([`crate::proxy::calls::Calls::on_attempt`]): each attempt
//! gives back the one before's, and the call's end gives back the last.
//! So they need `[dialogs]` (which any `[[limit]]` turns on): a call that
//! is not tracked gives its target's slots back as soon as its attempt
//! starts, and counts only against the calls-per-second bounds.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use core::hash::BuildHasher;

use trunkline_parser::Method;

use super::{Request, RequestStage, StageCx, Verdict};
use crate::lcr::{IdKey, Target};
use crate::security::call_limits::{CallLimits, Held, LimitKey, Refused};
use crate::security::{Admission, RateLimiter, RateLimits, RateSubject};

/// The limits stage of one shard.
#[derive(Debug, Default)]
pub struct Limits {
    limiter: Option<RateLimiter>,
    /// The call limits, when some are on callers.
    calls: Option<Arc<CallLimits>>,
    /// The call limits, when some are on targets.
    targets: Option<TargetLimits>,
    /// Calls refused by a call limit.
    pub(crate) calls_refused: u64,
    /// The Retry-After line of the last refusal.
    header: Vec<u8>,
    /// Requests refused by a rate limit.
    pub(crate) rejected: u64,
}

impl Limits {
    /// The stage over the rate limits `limits` (none: nothing is limited).
    pub fn new(limits: Option<Arc<RateLimits>>, calls: Option<Arc<CallLimits>>) -> Limits {
        Limits {
            limiter: limits.filter(|l| !l.is_empty()).map(|l| l.limiter()),
            targets: calls.clone().and_then(TargetLimits::new),
            calls: calls.filter(|c| c.has_callers()),
            calls_refused: 0,
            header: Vec::with_capacity(32),
            rejected: 0,
        }
    }

    /// The call limits the stage admits under.
    pub fn call_limits(&self) -> Option<&Arc<CallLimits>> {
        self.calls.as_ref()
    }

    /// The call limits least-cost routing's targets are admitted under
    /// (when some are on carriers or gateways).
    pub fn target_limits(&self) -> Option<&TargetLimits> {
        self.targets.as_ref()
    }

    /// Per limit: (name, admitted, rejected) on this shard.
    pub fn counts(&self) -> Vec<(String, u64, u64)> {
        self.limiter
            .iter()
            .flat_map(|l| l.counts().map(|(n, a, r)| (n.to_string(), a, r)))
            .collect()
    }
}

impl RequestStage for Limits {
    fn on_request<'s>(
        &'s mut self,
        now: Instant,
        req: &Request<'_, '_>,
        cx: &mut StageCx<'_>,
    ) -> Verdict<'s> {
        if let Some(calls) = self
            .calls
            .as_ref()
            .filter(|_| req.initial() && req.method() == Method::Invite && req.server.is_some())
        {
            let group = cx.attrs.group.or_else(|| (cx.source_group)(req.src.ip()));
            match calls.admit_caller(now, req.src.ip(), group.as_ref().map(|g| g.as_str())) {
                Ok(held) => cx.attrs.call_held = Some(held),
                Err(refused) => {
                    self.calls_refused += 1;
                    self.header.clear();
                    let _ = write!(self.header, "Retry-After: {}", refused.retry_after_s);
                    return Verdict::Reply {
                        code: refused.code,
                        reason: reason_of(refused.code),
                        header: &self.header,
                    };
                }
            }
        }
        let Some(limiter) = self.limiter.as_mut() else {
            return Verdict::Continue;
        };
        let who = RateSubject {
            source: req.src.ip(),
            group: cx.attrs.group.map(|g| {
                foldhash::fast::FixedState::with_seed(0x0067_726f_7570).hash_one(g.as_str())
            }),
        };
        for id in cx.attrs.rate_limits.iter().flatten() {
            if let Admission::Limited { retry_after_s } = limiter.admit(now, *id, &who) {
                self.rejected += 1;
                self.header.clear();
                let _ = write!(self.header, "Retry-After: {retry_after_s}");
                return Verdict::Reply {
                    code: 503,
                    reason: b"Rate Limit Exceeded",
                    header: &self.header,
                };
            }
        }
        Verdict::Continue
    }
}

/// The `carrier:` and `gateway:` call limits, by the keys targets carry
/// their ids as ([`IdKey`]): built once, from the limits' own ids, so a
/// target is admitted by two hash lookups of a `u64` and the limits' own
/// lookups of the ids they give back, with no allocation and no table.
#[derive(Debug)]
pub struct TargetLimits {
    limits: Arc<CallLimits>,
    carriers: KeyMap,
    gateways: KeyMap,
}

/// An id's key → the index of its limit.
type KeyMap = std::collections::HashMap<IdKey, u16, foldhash::fast::FixedState>;

impl TargetLimits {
    /// The target limits of `limits`; `None` when it has none.
    pub fn new(limits: Arc<CallLimits>) -> Option<TargetLimits> {
        if !limits.has_targets() {
            return None;
        }
        let (mut carriers, mut gateways) = (KeyMap::default(), KeyMap::default());
        for i in 0..limits.len() {
            let (map, id) = match limits.key(i) {
                Some(LimitKey::Carrier(id)) => (&mut carriers, id),
                Some(LimitKey::Gateway(id)) => (&mut gateways, id),
                _ => continue,
            };
            // Limits are at most MAX_CALL_LIMITS (4096): an index fits.
            map.insert(IdKey::of(id), i as u16);
        }
        Some(TargetLimits {
            limits,
            carriers,
            gateways,
        })
    }

    /// The limits (to give a hold back).
    pub fn limits(&self) -> &CallLimits {
        &self.limits
    }

    /// Admits an attempt to `target` at `now` under its carrier's and its
    /// gateway's limits ([`CallLimits::admit_target`]); a target without
    /// ids, or whose ids have no limit, is admitted holding nothing.
    pub fn admit(&self, now: Instant, target: &Target) -> Result<Held, Refused> {
        let id = |map: &KeyMap, key: Option<IdKey>| {
            let i = *map.get(&key?)?;
            match self.limits.key(usize::from(i))? {
                LimitKey::Carrier(id) | LimitKey::Gateway(id) => Some(id.as_str()),
                _ => None,
            }
        };
        let carrier = id(&self.carriers, target.carrier_key);
        let gateway = id(&self.gateways, target.gateway_key);
        self.limits.admit_target(now, carrier, gateway)
    }
}

/// The reason phrase for a call limit's status.
fn reason_of(code: u16) -> &'static [u8] {
    match code {
        503 => b"Call Limit Exceeded",
        486 => b"Busy Here",
        480 => b"Temporarily Unavailable",
        403 => b"Forbidden",
        _ => b"Limit Exceeded",
    }
}
