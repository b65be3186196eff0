//! The request policy stage: the `[[policy]]` rules ([`crate::policy`])
//! evaluated in order for every initial request, on the parsed message,
//! without allocating. A terminal action answers (`reply`), drops
//! (`drop`) or ends the evaluation (`accept`); the others mark the
//! request for the stages after it (`authenticate`, `set_group`,
//! `rate_limit`, header edits) and the evaluation goes on.
//!
//! In-dialog requests that follow our Record-Route (a To tag, and our
//! address as the top Route) skip it: the dialog was let in by its
//! initial request. Any other request is evaluated, a forged To tag
//! included.

use std::sync::Arc;
use std::time::Instant;

use super::{Request, RequestStage, StageCx, Verdict};
use crate::policy::{Action, Facts, PolicyShard, PolicyTable};
use crate::proxy::next_hop;
use crate::security::RateLimits;

/// The policy stage of one shard.
#[derive(Debug, Default)]
pub struct Policy {
    rules: Option<PolicyShard>,
    /// The rate limits rules name (`rate_limit = NAME`).
    limits: Option<Arc<RateLimits>>,
}

impl Policy {
    /// The stage evaluating the policy `table` holds (none: every request
    /// goes on), whose `rate_limit` rules name limits of `limits`.
    pub fn new(table: Option<Arc<PolicyTable>>, limits: Option<Arc<RateLimits>>) -> Policy {
        Policy {
            rules: table.map(PolicyShard::new),
            limits,
        }
    }

    /// The policy being evaluated and its generation (what the header
    /// rules' indexes refer to).
    pub fn current(&self) -> Option<(&Arc<crate::policy::Policy>, u64)> {
        self.rules.as_ref().map(PolicyShard::current)
    }

    /// Hits per rule so far: (rule, action, hits).
    pub fn hits(&self) -> Vec<(String, &'static str, u64)> {
        self.rules
            .iter()
            .flat_map(|r| r.hits().map(|(n, a, h)| (n.to_string(), a, h)))
            .collect()
    }
}

impl RequestStage for Policy {
    fn on_request<'s>(
        &'s mut self,
        _now: Instant,
        req: &Request<'_, '_>,
        cx: &mut StageCx<'_>,
    ) -> Verdict<'s> {
        let Some(rules) = self.rules.as_mut() else {
            return Verdict::Continue;
        };
        if !rules.is_active() {
            return Verdict::Continue;
        }
        let locals = cx.locals;
        let routes = std::cell::OnceCell::new();
        let route_set = || *routes.get_or_init(|| next_hop::route_set(req.msg, locals));
        if !req.initial() && route_set().starts_with_us {
            return Verdict::Continue; // follows our Record-Route
        }
        rules.begin();
        let reply = loop {
            let group = cx.attrs.group;
            let facts = Facts {
                source: req.src.ip(),
                group: group.as_ref(),
                source_group: cx.source_group,
                has_route: &|| route_set().past_us,
                trusted: cx.attrs.trusted,
            };
            let Some(rule) = rules.next_applied(req.msg, req.sum, &facts) else {
                return Verdict::Continue;
            };
            match rules.action(rule) {
                Action::Reply { .. } => break rule,
                Action::Drop => return Verdict::Drop,
                Action::Accept => return Verdict::Continue,
                Action::Authenticate => cx.attrs.authenticate = true,
                Action::SetGroup(g) => cx.attrs.group = Some(*g),
                Action::Dispatch(d) => cx.attrs.dispatch = Some(*d),
                Action::MaxDuration(d) => cx.attrs.max_duration = Some(*d),
                Action::HideTopology => cx.attrs.hide_topology = true,
                Action::Edit(_) => {
                    let generation = rules.current().1;
                    cx.attrs.edits.push(rule, generation);
                }
                Action::RateLimit(name) => {
                    // Checked against the limits at load: a name always
                    // resolves (a few limits: a short scan).
                    if let Some(id) = self.limits.as_ref().and_then(|l| l.id(name)) {
                        cx.attrs.add_rate_limit(id);
                    }
                }
            }
        };
        match rules.action(reply) {
            Action::Reply {
                code,
                reason,
                header,
            } => Verdict::Reply {
                code: *code,
                reason,
                header,
            },
            _ => Verdict::Continue,
        }
    }
}
