//! What a shard's proxy core counts: the pipeline and its stages count in
//! one [`Counters`]; the prober keeps its own, which
//! [`super::ProxyCore::counters`] adds in.

/// Per-shard counters (the SIGUSR1 report's fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Datagrams handed to this core.
    pub received: u64,
    /// Datagrams produced.
    pub sent: u64,
    /// Datagrams that could not be framed (answered when a request's
    /// response could be addressed, else dropped).
    pub parse_errors: u64,
    /// Messages that failed validation (answered 4xx/5xx, or dropped if
    /// a response or an ACK).
    pub invalid: u64,
    /// CRLF keep-alives (ignored).
    pub keepalives: u64,
    /// Requests forwarded.
    pub requests_forwarded: u64,
    /// Responses forwarded.
    pub responses_forwarded: u64,
    /// Responses generated here (100 Trying, errors, 200 to CANCEL, ...).
    pub local_replies: u64,
    /// Messages dropped for other reasons (foreign or broadcast Via, ...).
    pub dropped: u64,
    /// ACKs of our own replies on a branch no transaction knows (SIPp
    /// sends them), recognised by our To tag and absorbed.
    pub local_acks: u64,
    /// New requests refused with 503 at the transaction cap (or their
    /// source's share of it).
    pub overloaded: u64,
    /// Responses matching no transaction whose top Via branch is not one
    /// we made for the Via under it (forged, or for a request we never
    /// forwarded): dropped, never relayed.
    pub forged_responses: u64,
    /// Initial requests refused (403) or dropped because their source is
    /// unknown (`[security] unknown_source`), or is not allowed to choose
    /// its next hop (`open_relay = false`, the routing table's ACL).
    pub refused_sources: u64,
    /// Digest challenges sent (401/407, stale ones included).
    pub auth_challenges: u64,
    /// Requests whose digest credentials were right.
    pub auth_successes: u64,
    /// Digest credentials that were wrong (unknown user, wrong password,
    /// replayed, ...).
    pub auth_failures: u64,
    /// Sources banned after too many failed authentications.
    pub auth_bans: u64,
    /// Requests dropped because their source is banned.
    pub banned_drops: u64,
    /// Requests refused (503) by a rate limit.
    pub rate_limited: u64,
    /// Initial INVITEs refused by a call limit (`[[limit]]`: 503 with
    /// Retry-After by default).
    pub call_limited: u64,
    /// Initial INVITEs routed by the routing table.
    pub lcr_routed: u64,
    /// Initial INVITEs the table had no route for (answered 404 or the
    /// configured code).
    pub lcr_no_route: u64,
    /// Copies sent to a next gateway after a failure.
    pub lcr_failovers: u64,
    /// Gateways skipped because they were at their CPS or call cap.
    pub lcr_capped: u64,
    /// Gateways moved to the end of a call's list by quality routing.
    pub lcr_demoted: u64,
    /// Gateways skipped because their carrier's or their own call limit
    /// (`[[limit]] key = "carrier:ID"` / `"gateway:ID"`) refused them.
    pub lcr_limited: u64,
    /// Gateways skipped because probing found them down.
    pub lcr_down_skipped: u64,
    /// Gateway addresses skipped because no listener has their address
    /// family (an IPv6 hop of a dual-stack name when we listen on IPv4
    /// only, or the reverse).
    pub lcr_family_skipped: u64,
    /// Requests parked while their next hop's host name was looked up.
    pub names_parked: u64,
    /// Requests answered 503 because their next hop's name did not
    /// resolve in time, or a bound on lookups was reached.
    pub names_failed: u64,
    /// INVITE copies sent to a name's next address after 503 or a timeout.
    pub names_failovers: u64,
    /// Requests sent to a dispatcher set's destination (`dispatch = ID`).
    pub dispatched: u64,
    /// Requests for a dispatcher set refused: no such set (500), or none
    /// of its destinations alive and reachable (503).
    pub dispatch_unavailable: u64,
    /// INVITE copies sent to a set's next destination after a failover
    /// code or a timeout.
    pub dispatch_failovers: u64,
    /// Requests replacing a call (RFC 3891) sent to the destination that
    /// holds it.
    pub dispatch_sticky: u64,
    /// Messages carrying a topology-hiding token that does not decode or
    /// fails its MAC (forged or altered): requests refused with 403, ACKs
    /// and responses dropped.
    pub th_bad_tokens: u64,
    /// Messages with more to hide than a token holds (Vias, Record-Route
    /// values, Contacts), or a value to hide that does not parse:
    /// requests refused with 403, ACKs and responses dropped.
    pub th_refused: u64,
    /// OPTIONS probes sent.
    pub probes_sent: u64,
    /// Probes unanswered within their round, or answered 408 / 5xx.
    pub probe_failures: u64,
}
