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

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use core::hash::BuildHasher;

use trunkline_parser::Method;

use super::{Request, RequestStage, StageCx, Verdict};
use crate::security::call_limits::CallLimits;
use crate::security::{Admission, RateLimiter, RateLimits, RateSubject};

/// The limits stage of one shard.
#[derive(Debug, Default)]
pub struct Limits {
    limiter: Option<RateLimiter>,
    /// The call limits, when some are on callers.
    calls: Option<Arc<CallLimits>>,
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
