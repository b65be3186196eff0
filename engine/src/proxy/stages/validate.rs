//! Request validation a proxy owes beyond the parser's checks (RFC 3261
//! §16.3; the parser's `validate_with(PROXY)` did steps 1, 2 and 6 before
//! the pipeline): Max-Forwards (step 3: 483 at zero) and Proxy-Require
//! (step 5: we support no extension a proxy must understand, 420 with
//! Unsupported). Loop detection (step 4) is the route stage's: a next
//! hop that is one of our addresses gets 482.
//!
//! Also here: an OPTIONS addressed to us (no user part, no Route) is a
//! keep-alive or a capability query (§11): answered 200, not forwarded.

use std::time::Instant;

use trunkline_parser::{HeaderName, Method, Uri};

use super::{Request, RequestStage, StageCx, Verdict};
use crate::proxy::next_hop::Locals;

/// The validate stage.
#[derive(Debug)]
pub struct Validate {
    locals: Locals,
    /// Scratch: the Unsupported header line of a 420.
    line: Vec<u8>,
}

impl Validate {
    /// Validation for a proxy listening on `locals`.
    pub fn new(locals: Locals) -> Validate {
        Validate {
            locals,
            line: Vec::with_capacity(64),
        }
    }
}

impl RequestStage for Validate {
    fn on_request<'s>(
        &'s mut self,
        _now: Instant,
        req: &Request<'_, '_>,
        _cx: &mut StageCx<'_>,
    ) -> Verdict<'s> {
        let msg = req.msg;
        // §16.3 step 3: Max-Forwards.
        if req.sum.max_forwards == Some(0) {
            return Verdict::reply(483, b"Too Many Hops");
        }
        // §16.3 step 5: Proxy-Require names what we do not support.
        if let Some(e) = msg.first(HeaderName::ProxyRequire) {
            self.line.clear();
            self.line.extend_from_slice(b"Unsupported: ");
            self.line.extend_from_slice(msg.slice(e.value));
            return Verdict::Reply {
                code: 420,
                reason: b"Bad Extension",
                header: &self.line,
            };
        }
        // OPTIONS addressed to us: answer it.
        if req.method() == Method::Options && msg.first(HeaderName::Route).is_none() {
            if let Some(Ok(Uri::Sip(u))) = msg.request_uri() {
                if u.user.is_none() && self.locals.is_me(&u) {
                    return Verdict::reply(200, b"OK");
                }
            }
        }
        Verdict::Continue
    }
}
