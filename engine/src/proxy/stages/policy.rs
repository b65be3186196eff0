//! The request policy's slot (empty): where the SBC edge's declarative
//! `[[policy]]` rules plug in (methods, sources, User-Agent and URI
//! patterns; actions reply, drop, authenticate, set a group, rate-limit),
//! compiled once per load into a per-shard read-only form and swapped on
//! reload. It sees initial requests after validation; in-dialog requests
//! that follow our Record-Route skip it.

use std::time::Instant;

use super::{Request, RequestStage, Verdict};

/// The policy stage: lets everything through for now.
#[derive(Debug, Default)]
pub struct Policy;

impl RequestStage for Policy {
    #[inline]
    fn on_request<'s>(&'s mut self, _now: Instant, _req: &Request<'_, '_>) -> Verdict<'s> {
        Verdict::Continue
    }
}
