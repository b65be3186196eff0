//! The limits stage: the named rate limits (`[[rate_limit]]`, token
//! buckets per source, per group or global, [`crate::security::rate_limit`])
//! that policy rules made a request count against. Over a limit the
//! request gets 503 with the Retry-After the bucket gives (RFC 3261
//! §21.5.4: when it can be tried again).
//!
//! Later: per-customer, per-source and per-carrier concurrent-call limits,
//! following the calls they admit through their responses and dialogs.
//! The gateways' own caps are least-cost routing's
//! ([`crate::lcr::caps`]): a gateway at its cap is skipped, not refused.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use core::hash::BuildHasher;

use super::{Request, RequestStage, StageCx, Verdict};
use crate::security::{Admission, RateLimiter, RateLimits, RateSubject};

/// The limits stage of one shard.
#[derive(Debug, Default)]
pub struct Limits {
    limiter: Option<RateLimiter>,
    /// The Retry-After line of the last refusal.
    header: Vec<u8>,
    /// Requests refused by a rate limit.
    pub(crate) rejected: u64,
}

impl Limits {
    /// The stage over the rate limits `limits` (none: nothing is limited).
    pub fn new(limits: Option<Arc<RateLimits>>) -> Limits {
        Limits {
            limiter: limits.filter(|l| !l.is_empty()).map(|l| l.limiter()),
            header: Vec::with_capacity(32),
            rejected: 0,
        }
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
