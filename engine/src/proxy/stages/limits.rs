//! The limits slot (empty): where per-customer, per-source and per-carrier
//! concurrent-call and CPS limits plug in (503 with Retry-After past a
//! limit), following the calls it admits through their responses and
//! dialogs. The gateways' own caps are least-cost routing's
//! ([`crate::lcr::caps`]): a gateway at its cap is skipped, not refused.

use std::time::Instant;

use super::{Request, RequestStage, StageCx, Verdict};

/// The limits stage: admits every call for now.
#[derive(Debug, Default)]
pub struct Limits;

impl RequestStage for Limits {
    #[inline]
    fn on_request<'s>(
        &'s mut self,
        _now: Instant,
        _req: &Request<'_, '_>,
        _cx: &mut StageCx<'_>,
    ) -> Verdict<'s> {
        Verdict::Continue
    }
}
