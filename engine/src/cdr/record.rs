//! The record itself: one [`Cdr`] per dialog of a call (a forked call
//! that got two dialogs has legs 0 and 1), built by the proxy core when
//! the call ends. Plain data with serde, so it builds without the
//! runtime; its JSON form (the sinks' `serde_json`) is the field names
//! below, `group` and `answer_ms` as `null` when absent, `hangup` in
//! kebab-case.

use serde::{Deserialize, Serialize};

/// A call detail record: what billing needs of one call (one dialog of
/// it). Users are as they appeared on the wire (no unescaping); times are
/// Unix milliseconds, UTC, from the shard's clock.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cdr {
    /// The Call-ID, as received.
    pub call_id: String,
    /// Which dialog of the call (forks), 0 for the usual one; with
    /// `call_id`, the record's identity (the database's primary key).
    pub leg: u32,
    /// From user as received.
    pub caller: String,
    /// Request-URI user as received.
    pub callee: String,
    /// From user as sent.
    pub caller_sent: String,
    /// Request-URI user as sent (least-cost routing may rewrite it).
    pub callee_sent: String,
    /// `ip:port` the INVITE came from.
    pub source: String,
    /// The customer's routing/ACL group.
    pub group: Option<String>,
    /// Every route attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Unix ms the INVITE came.
    pub setup_ms: i64,
    /// Unix ms of the 2xx.
    pub answer_ms: Option<i64>,
    /// Unix ms the call ended.
    pub end_ms: i64,
    /// Answer to end, 0 if unanswered.
    pub duration_ms: u64,
    /// Who ended it.
    pub hangup: Hangup,
    /// Why it ended: `normal`, `max-duration`, `rejected`, `cancelled`,
    /// `setup-timeout`, `no-answer`, ...
    pub cause: String,
    /// The INVITE's final code (200 if answered).
    pub sip_code: u16,
}

/// One route attempt of a call: a gateway tried, and how it answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The gateway's name in the routing table (or the next hop's
    /// address when the call was not least-cost routed).
    pub gateway: String,
    /// `ip:port` the INVITE was sent to.
    pub dest: String,
    /// Unix ms the INVITE was sent.
    pub start_ms: i64,
    /// Its final code; 408 for no answer, 0 if it had none (cancelled).
    pub code: u16,
    /// Post-dial delay: ms from sending to the first 18x (or the final
    /// answer when there was none); `None` when nothing came.
    pub pdd_ms: Option<u64>,
}

/// Who ended a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hangup {
    /// The caller: a BYE from upstream, or a CANCEL.
    Caller,
    /// The callee: a BYE from downstream, or a final rejection.
    Callee,
    /// We did: a timer (max duration, setup timeout) or shutdown.
    Router,
    /// Nobody yet (a default; an ended call names one of the others).
    #[default]
    None,
}

impl Hangup {
    /// The name used in JSON and the database (`caller`, `callee`,
    /// `router`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            Hangup::Caller => "caller",
            Hangup::Callee => "callee",
            Hangup::Router => "router",
            Hangup::None => "none",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangup_names_match_serde() {
        for h in [Hangup::Caller, Hangup::Callee, Hangup::Router, Hangup::None] {
            // Through the TOML serializer (no serde_json without the runtime).
            #[derive(Serialize)]
            struct W {
                h: Hangup,
            }
            let s = toml::to_string(&W { h }).unwrap();
            assert_eq!(s.trim(), format!("h = \"{}\"", h.as_str()));
        }
    }
}
