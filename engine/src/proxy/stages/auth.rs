//! The authentication slot (empty): where trunks are recognised by source
//! address and subscribers challenged with digest authentication (RFC
//! 3261 §22, RFC 8760: 407 with a nonce of this shard, credentials
//! checked against the subscriber table), when the policy asks for it.

use std::time::Instant;

use super::{Request, RequestStage, StageCx, Verdict};

/// The authentication stage: asks nobody for credentials for now.
#[derive(Debug, Default)]
pub struct Auth;

impl RequestStage for Auth {
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
