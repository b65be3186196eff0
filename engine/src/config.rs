//! Configuration: the built-in default (`trunkline run` needs no file) and
//! the TOML file of `trunkline run --config FILE`.
//!
//! ```toml
//! listen = ["127.0.0.1:5060"]   # one or more UDP addresses; an IPv4 and an IPv6 one
//!                                # bridge the families (double Record-Route, RFC 5658)
//! advertise = "sip.example.net"  # host put in Via / Record-Route (default: the bound address)
//! shards = 2                     # default: one per available core
//! cpus = [0, 1]                  # pin shard i to cpus[i % len]; default: unpinned
//! mode = "stateful"              # or "stateless"
//! record_route = true
//! shutdown_grace_ms = 5000       # let live transactions finish on SIGINT/SIGTERM
//! control = "/run/trunkline/control.sock"  # local control socket (`trunkline snap push`)
//!
//! [route]
//! default = "127.0.0.1:5070"     # where requests without a Route past us go
//!
//! [routing]                      # least-cost routing of initial INVITEs
//! table = "/var/lib/trunkline/table.snap"  # built by `trunkline snap build`
//! failover = ["408", "5xx"]      # final responses that try the next gateway
//! no_route = 404                 # answer when no rule matches the number
//! probe_interval_ms = 10000      # OPTIONS to gateways with probing on
//! probe_down_after = 3           # unanswered rounds that take a gateway down
//! probe_up_after = 2             # answered rounds that bring it back
//! resolve_every_ms = 60000       # re-resolve gateway host names (0: only at load)
//!
//! [routing.quality]              # demote gateways whose calls fail (per
//!                                # shard, over a sliding window; tried last
//!                                # for demote_s, then in place again)
//! min_asr = 0.25                 # answered / attempts (default: none)
//! min_ner = 0.8                  # answered or declined by the user / attempts
//! max_pdd_ms = 8000              # average post-dial delay above which (none)
//! min_attempts = 20              # attempts in the window before judging
//! window_s = 900
//! demote_s = 300
//!
//! [timers]                       # RFC 3261 §17.1.1.1
//! t1_ms = 500
//! t2_ms = 4000
//! t4_ms = 5000
//! timer_c_ms = 180000
//! timer_d_ms = 32000
//!
//! [limits]
//! max_message = 65535            # larger datagrams are refused (513)
//! max_headers = 256
//! max_transactions = 1000000     # per shard; beyond it new requests get 503
//!
//! [[policy]]                     # the request policy: rules in order, for
//!                                # every initial request (in-dialog ones
//!                                # through our Record-Route skip it)
//! name = "scanners"              # in counters and logs (default policy[N])
//! user_agent = "(?i)sipvicious"  # conditions, all must hold (regexes on bytes):
//!                                # methods / not_methods = ["INVITE", ...],
//!                                # source = ["192.0.2.0/24", "2001:db8::/32"],
//!                                # group = ["retail"] (set_group, else the
//!                                # routing table's ACL group of the source),
//!                                # user_agent, from_user, from_host, to_user,
//!                                # ruri_user, ruri_host,
//!                                # header = { name = "X-Foo", regex = "..." },
//!                                # has_route = true (a Route past us)
//! drop = true                    # one action: reply = 403 (+ reason = "..."),
//!                                # drop = true, accept = true (stop, go on),
//!                                # authenticate = "digest", set_group = "NAME",
//!                                # rate_limit = "NAME", max_duration_s = N
//!                                # (this call's, over [dialogs]'),
//!                                # topology_hiding = true (these calls'),
//!                                # or header edits of
//!                                # the forwarded copy (one action together):
//!                                # add_header = ["X-Carrier: acme"],
//!                                # remove_header = "X-.*" (names, regex),
//!                                # replace_header = { name = "Subject",
//!                                #   value = "..." }, set_from_user = "+1555",
//!                                # set_from_display = "ACME", set_to_user,
//!                                # set_pai = "<sip:+1555@carrier>" (Via, From,
//!                                # To, Call-ID, CSeq, Route, Record-Route,
//!                                # Contact, Max-Forwards, Content-* refused)
//!                                # more conditions: trusted = true|false
//!                                # (the source is in [security] trusted)
//!
//! [security]                     # the edge (defaults: today's open proxy)
//! trusted = ["127.0.0.2/32"]     # trunks, our pools: never flood-counted,
//!                                # banned, refused as unknown or as relays
//! unknown_source = "allow"       # a source neither trusted, nor in the
//!                                # routing table's ACL, nor given a group or
//!                                # digest by the policy: "allow" | "reject"
//!                                # (403) | "drop"
//! open_relay = true              # false: an untrusted source may not choose
//!                                # its next hop (a Route, or its Request-URI
//!                                # when there is no default route): 403
//! server_header = "..."          # a Server header on our responses; none by default
//! flood_pps = 500                # datagrams/s a source may send (counted
//!                                # across ports and shards, before parsing);
//!                                # above it: dropped for ban_s. 0: off.
//!                                # Never banned: trusted sources, [route]
//!                                # default, the routing table's gateways,
//!                                # the [[dispatcher]] destinations
//! ban_s = 300                    # how long a flooder, or a source failing
//!                                # digest too often, is dropped
//! auth_failures = 10             # failed digest attempts within
//! auth_window_s = 60             # this window ban the source (0: never)
//! pike_width = 65536             # pike's counters per row (2 rows x 8 bytes)
//! ban_capacity = 4096            # bans held at once (16 bytes each)
//! secret_file = "secret"         # 32 bytes keying our branches and nonces,
//!                                # created (0600) if missing, so that they
//!                                # survive a restart (a 200 retransmitted
//!                                # to the previous process's INVITE is
//!                                # relayed); default: random per process
//!
//! [auth]                         # digest authentication (RFC 7616, RFC 8760)
//! subscribers = "subscribers.csv"  # user,domain,password or
//!                                # user,domain,ha1_md5,ha1_sha256; the realm
//!                                # is the Request-URI's host
//! nonce_max_age_s = 300          # older nonces are stale (re-challenged)
//! algorithms = ["SHA-256", "MD5"]  # offered in this order, and the
//!                                # only ones accepted (with their -sess);
//!                                # MD5 first for UAs that answer the first
//!                                # challenge only (SIPp 3.6, old phones);
//!                                # ["MD5"] alone for UAs that fail on any
//!                                # SHA-256 challenge (libre 1.x: Debian
//!                                # 12's baresip)
//! uri_match = "request_uri"      # the credentials' uri must name the
//!                                # Request-URI; "host_port": also its bare
//!                                # host:port (what SIPp sends by default)
//!
//! [topology_hiding]              # SBC topology hiding (default: off)
//! enabled = true                 # each side of a call sees only us: no
//!                                # Via, Record-Route, Route or Contact of
//!                                # the other side (REGISTER untouched);
//!                                # no per-call state: tokens keyed from
//!                                # the branch key (set secret_file so that
//!                                # dialogs survive a restart); needs
//!                                # record_route (not false)
//!
//! [[rate_limit]]                 # a token bucket that rules invoke by name
//! name = "per-source"
//! rate = 10                      # requests per second
//! burst = 20                     # default: one second's worth
//! key = "source"                 # "source" | "group" | "global"
//!
//! [dialogs]                      # call control (on with this section, and
//!                                # whenever [cdr] or [[limit]] is set)
//! max_duration_s = 7200          # confirmed calls longer than this get a
//!                                # BYE on both legs from us (default: none)
//! check = false                  # true: an in-dialog request naming no live
//!                                # dialog gets 481, an old CSeq 500 (default:
//!                                # routed by its Route set, as after a restart)
//! max_calls = 1000000            # calls held at once per router (split evenly
//!                                # across shards); beyond, calls go untracked
//! journal = "/var/lib/trunkline/dialogs"  # confirmed calls journaled here (a
//!                                # file per shard, relative to this file) and
//!                                # taken back at start: after a restart their
//!                                # BYE still closes the CDR and gives the limit
//!                                # slots back. Written every 100 ms: a crash
//!                                # loses at most the last 100 ms of records
//!                                # (default: none, no journal)
//!
//! [cdr]                          # a record per call (one JSON object per line)
//! path = "/var/log/trunkline/cdr"  # JSON lines files cdr-<UTC>-<seq>.jsonl,
//!                                # written as .jsonl.part, renamed when closed
//! rotate_bytes = 67108864        # close a file past this size...
//! rotate_s = 3600                # ... or this age
//! postgres = "postgres://trunkline@127.0.0.1/billing"  # also (or only) to
//!                                # PostgreSQL: table `cdr` (created if missing),
//!                                # one row per (call_id, leg), COPY batches
//! table = "cdr"
//! batch = 500                    # records per COPY
//! flush_ms = 200                 # a partial batch is written after this long
//! spool = "/var/spool/trunkline/cdr"  # batches wait here while the database
//!                                # is down (default: path/spool, else this)
//! queue = 65536                  # records in flight from the shards; beyond,
//!                                # dropped and counted (never blocking a shard)
//!
//! [[limit]]                      # calls at once and calls per second, exact
//!                                # across shards
//! key = "group:retail"           # group:NAME (set_group, else the routing
//!                                # table's ACL group), source:CIDR (all its
//!                                # sources together), carrier:ID, gateway:ID
//! concurrent = 200               # calls at once (optional)
//! cps = 20                       # new calls per second (optional)
//! burst = 40                     # default: one second's worth
//! code = 503                     # a refused call's answer, with
//! retry_after_s = 5              # Retry-After (default: when a token is due,
//!                                # 5 s for calls at once)
//!
//! [[dispatcher]]                 # a pool of equivalent servers (Asterisk,
//!                                # FreeSWITCH): a [[policy]] rule with
//!                                # dispatch = "pbx" sends requests to it
//!                                # (stateful mode)
//! id = "pbx"
//! algorithm = "round-robin"      # weighted, smooth; or hash-callid,
//!                                # hash-from-user, hash-to-user, hash-ruri-user
//!                                # (consistent: removing one moves only its
//!                                # share), random, priority (first alive),
//!                                # least-calls (summed over the shards, at
//!                                # most 100 ms old), parallel (fork)
//! destinations = ["sip:10.0.0.1:5060;weight=2", "sip:10.0.0.2;priority=1"]
//! probe_interval_ms = 10000      # OPTIONS to each destination (0: none)
//! down_after = 3                 # unanswered/failed probes that take one down
//! up_after = 2                   # answered probes that bring it back
//! failover_codes = ["408", "5xx"]  # an INVITE's next destination on these
//!                                # (a timeout counts as 408)
//! # dispatcher_file = "sets.csv" # (top level) more destinations, one per
//!                                # line: set,uri,weight,priority,attrs
//!
//! [registrar]                    # we are the registrar of these domains
//! domains = ["example.com"]      # REGISTER answered here (RFC 3261 §10.3);
//!                                # requests for their AORs that no dispatch
//!                                # rule matched go to the bindings
//! min_expires = 60               # shorter: 423 with Min-Expires
//! max_expires = 3600             # longer: shortened to it
//! default_expires = 3600         # no expires given
//! max_contacts = 10              # bindings per AOR (more: 403)
//! max_aors = 1000000             # AORs in the table (more: 503)
//! no_binding_code = 480          # an AOR without binding: 480, or 404
//! fork = "parallel"              # several bindings: all at once (a 2xx
//!                                # cancels the rest), or "serial" by q
//! nat_keepalive_ms = 0           # OPTIONS to NATed bindings (0: off)
//! snapshot = "/var/lib/trunkline/location"  # bindings saved every 5 s and
//!                                # at shutdown, read back at start
//! redis = "redis://127.0.0.1:6379/"  # share the bindings with other routers
//!                                # (each keeps them all; changes published;
//!                                # default: none)
//! ```
//!
//! SIGHUP and the control socket's `reload` read the file again and put
//! its `[[policy]]` rules, the `[[dispatcher]]` sets (health kept by
//! address) and the `[auth]` subscriber file in service
//! (checked first: a bad file is refused and what is in service stays;
//! `[[rate_limit]]` changes are refused: they take a restart); the other
//! settings take a restart.
//!
//! Every error names the file, line, column and key.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use trunkline_parser::Limits;
use trunkline_shards::tx::Timers;

use crate::proxy::{LocalAddr, Locals, Mode, ProxyConfig, UnknownSource};

mod calls;
pub mod servers;

use calls::{DialogsSection, QualitySection, parse_calls, parse_quality};

/// The default listen address of `trunkline run`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5060";

/// A configuration error: where, and what.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), location(*line, *column, key.as_deref()))]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column, 0 when unknown.
    pub column: usize,
    /// The key concerned.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn location(line: usize, column: usize, key: Option<&str>) -> String {
    let mut s = String::new();
    if line > 0 {
        s.push_str(&format!(":{line}:{column}"));
    }
    if let Some(k) = key {
        s.push_str(&format!(": key `{k}`"));
    }
    s
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Spanned<Vec<Spanned<String>>>>,
    advertise: Option<Spanned<String>>,
    shards: Option<Spanned<u16>>,
    cpus: Option<Vec<usize>>,
    mode: Option<Spanned<String>>,
    record_route: Option<bool>,
    shutdown_grace_ms: Option<u64>,
    control: Option<Spanned<String>>,
    #[serde(default)]
    route: RouteSection,
    #[serde(default)]
    routing: RoutingSection,
    #[serde(default)]
    timers: TimersSection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    policy: Vec<Spanned<crate::policy::spec::FileRule>>,
    #[serde(default)]
    security: SecuritySection,
    #[serde(default)]
    rate_limit: Vec<Spanned<FileRateLimit>>,
    auth: Option<Spanned<AuthSection>>,
    dialogs: Option<Spanned<DialogsSection>>,
    cdr: Option<Spanned<crate::cdr::CdrConfig>>,
    #[serde(default)]
    limit: Vec<Spanned<crate::security::call_limits::LimitSpec>>,
    topology_hiding: Option<Spanned<TopologyHidingSection>>,
    #[serde(default)]
    dispatcher: Vec<Spanned<crate::dispatch::DispatcherConfig>>,
    dispatcher_file: Option<Spanned<String>>,
    registrar: Option<Spanned<crate::registrar::RegistrarConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyHidingSection {
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecuritySection {
    trusted: Option<Spanned<Vec<Spanned<String>>>>,
    unknown_source: Option<Spanned<String>>,
    open_relay: Option<bool>,
    server_header: Option<Spanned<String>>,
    flood_pps: Option<Spanned<u32>>,
    ban_s: Option<Spanned<u64>>,
    pike_width: Option<Spanned<usize>>,
    ban_capacity: Option<Spanned<usize>>,
    auth_failures: Option<Spanned<u32>>,
    auth_window_s: Option<Spanned<u64>>,
    secret_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimit {
    name: Spanned<String>,
    rate: Spanned<f64>,
    burst: Option<Spanned<u32>>,
    key: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSection {
    subscribers: Option<Spanned<String>>,
    nonce_max_age_s: Option<Spanned<u64>>,
    algorithms: Option<Spanned<Vec<Spanned<String>>>>,
    uri_match: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSection {
    default: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingSection {
    table: Option<Spanned<String>>,
    failover: Option<Spanned<Vec<String>>>,
    no_route: Option<Spanned<u16>>,
    probe_interval_ms: Option<Spanned<u64>>,
    probe_down_after: Option<Spanned<u8>>,
    probe_up_after: Option<Spanned<u8>>,
    resolve_every_ms: Option<Spanned<u64>>,
    quality: Option<Spanned<QualitySection>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimersSection {
    t1_ms: Option<Spanned<u64>>,
    t2_ms: Option<Spanned<u64>>,
    t4_ms: Option<Spanned<u64>>,
    timer_c_ms: Option<Spanned<u64>>,
    timer_d_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_message: Option<Spanned<usize>>,
    max_headers: Option<Spanned<usize>>,
    max_transactions: Option<Spanned<usize>>,
}

/// The router's configuration, resolved and checked: plain data. The
/// services the router uses (DNS resolver, a routing source of one's own)
/// are given to the runtime's `RouterBuilder`, not put here.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// UDP addresses to listen on (port 0: any free port, for tests).
    pub listen: Vec<SocketAddr>,
    /// Host to advertise in Via and Record-Route instead of the bound IP.
    pub advertise: Option<String>,
    /// Number of shards.
    pub shards: u16,
    /// CPUs to pin shards to.
    pub cpus: Option<Vec<usize>>,
    /// Grace period for live transactions on shutdown.
    pub shutdown_grace: Duration,
    /// The proxy's own settings (listen addresses are filled in at start).
    pub proxy: ProxyConfig,
    /// Least-cost routing, when a routing table is configured.
    pub routing: Option<RoutingConfig>,
    /// The local control socket, if any (relative to the config file).
    pub control: Option<PathBuf>,
    /// The request policy: `[[policy]]` rules, in order.
    pub policy: Vec<crate::policy::RuleSpec>,
    /// Digest authentication (`[auth]`), when configured.
    pub auth: Option<AuthSettings>,
    /// When failed digest authentications ban a source (`[security]
    /// auth_failures`, `auth_window_s`, `ban_s`).
    pub auth_bans: crate::auth::BanConfig,
    /// Named token-bucket rate limits (`[[rate_limit]]`) that policy
    /// rules invoke (`rate_limit = NAME`): over the limit, 503 with
    /// Retry-After.
    pub rate_limits: Vec<crate::security::RateLimitSpec>,
    /// Flood defence (`[security] flood_pps`, `ban_s`, `pike_width`,
    /// `ban_capacity`): pike and the ban list, checked on every datagram
    /// before it is parsed.
    pub shield: crate::security::ShieldConfig,
    /// The file this configuration was read from (what a reload reads
    /// again); `None` for the built-in default.
    pub file: Option<PathBuf>,
    /// `[security] secret_file` (relative to the config file): the
    /// process's secret (branch and nonce keys) kept across restarts;
    /// `None`: a random one per process.
    pub secret_file: Option<PathBuf>,
    /// CDR sinks (`[cdr]`): JSON lines files, PostgreSQL; paths relative
    /// to the config file.
    pub cdr: crate::cdr::CdrConfig,
    /// Call limits (`[[limit]]`): concurrent calls and calls per second
    /// per customer group, source prefix, carrier, gateway.
    pub call_limits: Vec<crate::security::call_limits::LimitSpec>,
    /// Calls held at once by the router (`[dialogs] max_calls`, default
    /// 1,000,000), shared evenly by the shards.
    pub max_calls: usize,
    /// `[dialogs] journal` (relative to the config file): the directory
    /// where the shards journal their confirmed calls, taken back at
    /// start (`runtime::journal`); `None`: no journal.
    pub journal: Option<PathBuf>,
    /// The dispatcher sets (`[[dispatcher]]`, and the CSV's), checked.
    pub dispatchers: Vec<crate::dispatch::DispatcherConfig>,
    /// `dispatcher_file` (relative to the config file): the dispatcher
    /// CSV, read again on reload.
    pub dispatcher_file: Option<PathBuf>,
    /// The registrar (`[registrar]`), checked; its snapshot directory
    /// relative to the config file.
    pub registrar: Option<crate::registrar::RegistrarConfig>,
}

/// The `[auth]` section: who digest authentication knows, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// The subscriber file (`user,domain,password` or
    /// `user,domain,ha1_md5,ha1_sha256`; relative to the config file),
    /// read again on reload.
    pub subscribers: PathBuf,
    /// Nonce lifetime, MD5 offered or not, the credentials' `uri` rule.
    pub config: crate::auth::AuthConfig,
}

/// The `[routing]` section: which snapshot routes initial INVITEs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// The snapshot file (relative paths are relative to the config file).
    pub table: PathBuf,
    /// The status sent when no rule matches the dialled number.
    pub no_route: u16,
    /// How often gateway host names are resolved again (zero: only when a
    /// table is loaded).
    pub resolve_every: Duration,
}

impl RoutingConfig {
    /// How often gateway host names are re-resolved by default: a DNS
    /// change reaches the routing within a minute, at one lookup per name
    /// per minute.
    pub const RESOLVE_EVERY: Duration = Duration::from_secs(60);

    /// `table` with the defaults: 404 for unknown numbers, names
    /// re-resolved every [`RoutingConfig::RESOLVE_EVERY`].
    pub fn new(table: PathBuf) -> RoutingConfig {
        RoutingConfig {
            table,
            no_route: 404,
            resolve_every: RoutingConfig::RESOLVE_EVERY,
        }
    }
}

impl Default for Config {
    /// The built-in loopback setup of `trunkline run`: 127.0.0.1:5060,
    /// stateful, record-routing, one shard per core, no default route
    /// (requests go to their Request-URI).
    fn default() -> Self {
        let listen: SocketAddr = DEFAULT_LISTEN.parse().expect("valid");
        Config {
            listen: vec![listen],
            advertise: None,
            shards: std::thread::available_parallelism().map_or(1, |n| n.get() as u16),
            cpus: None,
            shutdown_grace: Duration::from_secs(5),
            proxy: ProxyConfig::new(listen, None),
            routing: None,
            control: None,
            policy: Vec::new(),
            auth: None,
            auth_bans: crate::auth::BanConfig::default(),
            shield: crate::security::ShieldConfig::default(),
            rate_limits: Vec::new(),
            file: None,
            secret_file: None,
            cdr: crate::cdr::CdrConfig::default(),
            call_limits: Vec::new(),
            max_calls: 1_000_000,
            journal: None,
            dispatchers: Vec::new(),
            dispatcher_file: None,
            registrar: None,
        }
    }
}

impl Config {
    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.into(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        let mut cfg = Config::parse(&text, path)?;
        cfg.file = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parses and checks TOML text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let err = |span: Option<Range<usize>>, key: Option<&str>, message: String| {
            let (line, column) = span.map_or((0, 0), |s| line_col(text, s.start));
            ConfigError {
                file: path.into(),
                line,
                column,
                key: key.map(str::to_string),
                message,
            }
        };
        let file: FileConfig = toml::from_str(text)
            .map_err(|e| err(e.span(), None, e.message().trim().to_string()))?;
        let mut cfg = Config::default();
        if let Some(listen) = &file.listen {
            if listen.get_ref().is_empty() {
                return Err(err(
                    Some(listen.span()),
                    Some("listen"),
                    "needs at least one address".into(),
                ));
            }
            cfg.listen = listen
                .get_ref()
                .iter()
                .map(|a| {
                    parse_addr(a.get_ref()).map_err(|m| err(Some(a.span()), Some("listen"), m))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(a) = &file.advertise {
            if a.get_ref().is_empty() || a.get_ref().contains(char::is_whitespace) {
                return Err(err(
                    Some(a.span()),
                    Some("advertise"),
                    "must be a host name or IP".into(),
                ));
            }
            cfg.advertise = Some(a.get_ref().clone());
        }
        if let Some(n) = &file.shards {
            if *n.get_ref() == 0 {
                return Err(err(
                    Some(n.span()),
                    Some("shards"),
                    "must be at least 1".into(),
                ));
            }
            cfg.shards = *n.get_ref();
        }
        cfg.cpus = file.cpus.clone();
        if let Some(m) = &file.mode {
            cfg.proxy.mode = match m.get_ref().as_str() {
                "stateful" => Mode::Stateful,
                "stateless" => Mode::Stateless,
                other => {
                    return Err(err(
                        Some(m.span()),
                        Some("mode"),
                        format!("`{other}` is not a mode: use \"stateful\" or \"stateless\""),
                    ));
                }
            };
        }
        if let Some(rr) = file.record_route {
            cfg.proxy.record_route = rr;
        }
        if let Some(g) = file.shutdown_grace_ms {
            cfg.shutdown_grace = Duration::from_millis(g);
        }
        if let Some(d) = &file.route.default {
            cfg.proxy.default_route = Some(
                resolve(d.get_ref()).map_err(|m| err(Some(d.span()), Some("route.default"), m))?,
            );
        }
        if let Some(c) = &file.control {
            if c.get_ref().is_empty() {
                return Err(err(
                    Some(c.span()),
                    Some("control"),
                    "must name a socket path".into(),
                ));
            }
            cfg.control = Some(path.parent().unwrap_or(Path::new("")).join(c.get_ref()));
        }
        let r = &file.routing;
        if let Some(f) = &r.failover {
            cfg.proxy.failover =
                crate::lcr::FailoverCodes::parse(f.get_ref().iter().map(String::as_str))
                    .map_err(|e| err(Some(f.span()), Some("routing.failover"), e.to_string()))?;
        }
        if let Some(i) = &r.probe_interval_ms {
            if *i.get_ref() < 100 {
                return Err(err(
                    Some(i.span()),
                    Some("routing.probe_interval_ms"),
                    "must be at least 100 ms".into(),
                ));
            }
            cfg.proxy.probe.interval = Duration::from_millis(*i.get_ref());
        }
        for (v, key, slot) in [
            (
                &r.probe_down_after,
                "routing.probe_down_after",
                &mut cfg.proxy.probe.down_after,
            ),
            (
                &r.probe_up_after,
                "routing.probe_up_after",
                &mut cfg.proxy.probe.up_after,
            ),
        ] {
            if let Some(v) = v {
                if *v.get_ref() == 0 {
                    return Err(err(Some(v.span()), Some(key), "must be at least 1".into()));
                }
                *slot = *v.get_ref();
            }
        }
        let resolve_every = match &r.resolve_every_ms {
            Some(v) if *v.get_ref() != 0 && *v.get_ref() < 1000 => {
                return Err(err(
                    Some(v.span()),
                    Some("routing.resolve_every_ms"),
                    "must be 0 (only at load) or at least 1000 ms".into(),
                ));
            }
            Some(v) => Duration::from_millis(*v.get_ref()),
            None => RoutingConfig::RESOLVE_EVERY,
        };
        let no_route = match &r.no_route {
            Some(c) if !(400..700).contains(c.get_ref()) => {
                return Err(err(
                    Some(c.span()),
                    Some("routing.no_route"),
                    "must be a final error status, 400-699".into(),
                ));
            }
            Some(c) => *c.get_ref(),
            None => 404,
        };
        match &r.table {
            Some(t) if t.get_ref().is_empty() => {
                return Err(err(
                    Some(t.span()),
                    Some("routing.table"),
                    "must name a snapshot file".into(),
                ));
            }
            Some(t) if cfg.proxy.mode == Mode::Stateless => {
                return Err(err(
                    Some(t.span()),
                    Some("routing.table"),
                    "least-cost routing needs mode = \"stateful\" (failover is per transaction)"
                        .into(),
                ));
            }
            Some(t) => {
                let base = path.parent().unwrap_or(Path::new(""));
                cfg.routing = Some(RoutingConfig {
                    table: base.join(t.get_ref()),
                    no_route,
                    resolve_every,
                });
            }
            None if r.failover.is_some()
                || r.quality.is_some()
                || r.no_route.is_some()
                || r.probe_interval_ms.is_some()
                || r.probe_down_after.is_some()
                || r.probe_up_after.is_some()
                || r.resolve_every_ms.is_some() =>
            {
                return Err(err(
                    None,
                    Some("routing.table"),
                    "[routing] needs a `table` (failover and no_route apply to it)".into(),
                ));
            }
            None => {}
        }
        if let Some(q) = &r.quality {
            cfg.proxy.quality = Some(parse_quality(q, &err)?);
        }
        let t = &file.timers;
        let ms = |v: &Option<Spanned<u64>>,
                  key: &str,
                  default: Duration|
         -> Result<Duration, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) if *s.get_ref() == 0 => Err(err(
                    Some(s.span()),
                    Some(key),
                    "must be more than 0 ms".into(),
                )),
                Some(s) => Ok(Duration::from_millis(*s.get_ref())),
            }
        };
        let d = Timers::default();
        cfg.proxy.timers = Timers {
            t1: ms(&t.t1_ms, "timers.t1_ms", d.t1)?,
            t2: ms(&t.t2_ms, "timers.t2_ms", d.t2)?,
            t4: ms(&t.t4_ms, "timers.t4_ms", d.t4)?,
            c: ms(&t.timer_c_ms, "timers.timer_c_ms", d.c)?,
            d: ms(&t.timer_d_ms, "timers.timer_d_ms", d.d)?,
        };
        if cfg.proxy.timers.t2 < cfg.proxy.timers.t1 {
            let span = t.t2_ms.as_ref().or(t.t1_ms.as_ref()).map(Spanned::span);
            return Err(err(
                span,
                Some("timers.t2_ms"),
                "T2 must not be shorter than T1".into(),
            ));
        }
        if let Some(m) = &file.limits.max_message {
            if !(1024..=65_535).contains(m.get_ref()) {
                return Err(err(
                    Some(m.span()),
                    Some("limits.max_message"),
                    "must be within 1024..=65535".into(),
                ));
            }
            cfg.proxy.limits.max_message = *m.get_ref();
        }
        if let Some(m) = &file.limits.max_transactions {
            if *m.get_ref() == 0 {
                return Err(err(
                    Some(m.span()),
                    Some("limits.max_transactions"),
                    "must be at least 1".into(),
                ));
            }
            cfg.proxy.max_transactions = *m.get_ref();
        }
        if let Some(m) = &file.limits.max_headers {
            if !(16..=4096).contains(m.get_ref()) {
                return Err(err(
                    Some(m.span()),
                    Some("limits.max_headers"),
                    "must be within 16..=4096".into(),
                ));
            }
            cfg.proxy.limits.max_headers = *m.get_ref();
        }
        let policy_err =
            |span: Option<Range<usize>>, key: &str, message: String| err(span, Some(key), message);
        cfg.rate_limits = parse_rate_limits(&file.rate_limit, &err)?;
        cfg.policy = crate::policy::spec::check(&file.policy, &policy_err)?;
        for (i, r) in cfg.policy.iter().enumerate() {
            if let crate::policy::ActionSpec::RateLimit(name) = &r.action {
                if !cfg.rate_limits.iter().any(|l| l.name == *name) {
                    return Err(err(
                        file.policy.get(i).map(Spanned::span),
                        Some(&format!("policy[{i}].rate_limit")),
                        format!("no [[rate_limit]] is named `{name}`"),
                    ));
                }
            }
        }
        parse_security(&file.security, &mut cfg, &err)?;
        if let Some(th) = &file.topology_hiding {
            cfg.proxy.topology_hiding = th.get_ref().enabled.unwrap_or(false);
            if cfg.proxy.topology_hiding && !cfg.proxy.record_route {
                return Err(err(
                    Some(th.span()),
                    Some("topology_hiding.enabled"),
                    "topology hiding needs record_route (the dialog must come back through us)"
                        .into(),
                ));
            }
        }
        // Topology hiding for the calls `topology_hiding = true` rules match.
        cfg.proxy.topology_hiding_rules = cfg
            .policy
            .iter()
            .any(|r| r.action == crate::policy::ActionSpec::HideTopology);
        if cfg.proxy.topology_hiding_rules && !cfg.proxy.record_route {
            return Err(err(
                None,
                Some("record_route"),
                "a [[policy]] rule hides topology: that needs record_route = true".into(),
            ));
        }
        if let Some(f) = &file.security.secret_file {
            if f.get_ref().is_empty() {
                return Err(err(
                    Some(f.span()),
                    Some("security.secret_file"),
                    "must name a file".into(),
                ));
            }
            cfg.secret_file = Some(path.parent().unwrap_or(Path::new("")).join(f.get_ref()));
        }
        if let Some(a) = &file.auth {
            cfg.auth = Some(parse_auth(a, path, &err)?);
        }
        parse_calls(&file, path, &mut cfg, &err)?;
        servers::parse_dispatchers(&file, path, &mut cfg, &err)?;
        servers::parse_registrar(&file, path, &mut cfg, &err)?;
        if cfg.auth.is_none() {
            if let Some((i, _)) = cfg
                .policy
                .iter()
                .enumerate()
                .find(|(_, r)| matches!(r.action, crate::policy::ActionSpec::Authenticate))
            {
                let span = file.policy.get(i).map(Spanned::span);
                return Err(err(
                    span,
                    Some(&format!("policy[{i}].authenticate")),
                    "digest authentication needs an [auth] section with `subscribers`".into(),
                ));
            }
        }
        Ok(cfg)
    }

    /// The proxy settings for the addresses actually bound (port 0 resolved).
    pub fn proxy_for(&self, bound: &[SocketAddr]) -> Arc<ProxyConfig> {
        let mut p = self.proxy.clone();
        p.shards = self.shards;
        if let Some(d) = p.dialogs.as_mut() {
            // Each shard holds its share of the router's calls.
            d.table.max_calls = self.max_calls.div_ceil(usize::from(self.shards.max(1)));
        }
        p.locals = Locals {
            addrs: bound
                .iter()
                .map(|a| match &self.advertise {
                    Some(host) => LocalAddr::advertised(host, a.port(), a.ip()),
                    None => LocalAddr::from_socket(*a),
                })
                .collect(),
        };
        Arc::new(p)
    }

    /// Parser limits.
    pub fn limits(&self) -> Limits {
        self.proxy.limits
    }
}

type ErrAt<'e> = &'e dyn Fn(Option<Range<usize>>, Option<&str>, String) -> ConfigError;

/// The `[security]` section.
fn parse_security(
    s: &SecuritySection,
    cfg: &mut Config,
    err: ErrAt<'_>,
) -> Result<(), ConfigError> {
    let edge = &mut cfg.proxy.edge;
    if let Some(t) = &s.trusted {
        let mut set = crate::security::CidrSet::new();
        for b in t.get_ref() {
            set.insert(b.get_ref().parse::<crate::security::Cidr>().map_err(|e| {
                err(
                    Some(b.span()),
                    Some("security.trusted"),
                    format!("`{}`: {e}", b.get_ref()),
                )
            })?);
        }
        edge.trusted = set;
    }
    if let Some(u) = &s.unknown_source {
        edge.unknown_source = match u.get_ref().as_str() {
            "allow" => UnknownSource::Allow,
            "reject" => UnknownSource::Reject,
            "drop" => UnknownSource::Drop,
            other => {
                return Err(err(
                    Some(u.span()),
                    Some("security.unknown_source"),
                    format!("`{other}`: use \"allow\", \"reject\" or \"drop\""),
                ));
            }
        };
    }
    if let Some(o) = s.open_relay {
        edge.open_relay = o;
    }
    if let Some(h) = &s.server_header {
        let v = h.get_ref();
        if v.is_empty() || v.len() > 128 || v.bytes().any(|b| b.is_ascii_control()) {
            return Err(err(
                Some(h.span()),
                Some("security.server_header"),
                "must be 1 to 128 printable characters".into(),
            ));
        }
        edge.server_header = Some(format!("Server: {v}").into_bytes().into());
    }
    let bans = &mut cfg.auth_bans;
    if let Some(f) = &s.auth_failures {
        bans.failures = *f.get_ref();
    }
    if let Some(w) = &s.auth_window_s {
        if !(1..=86_400).contains(w.get_ref()) {
            return Err(err(
                Some(w.span()),
                Some("security.auth_window_s"),
                "must be within 1..=86400".into(),
            ));
        }
        bans.window = Duration::from_secs(*w.get_ref());
    }
    if let Some(b) = &s.ban_s {
        if !(1..=30 * 86_400).contains(b.get_ref()) {
            return Err(err(
                Some(b.span()),
                Some("security.ban_s"),
                "must be within 1..=2592000 (30 days)".into(),
            ));
        }
        bans.ban = Duration::from_secs(*b.get_ref());
        cfg.shield.ban = bans.ban;
    }
    let shield = &mut cfg.shield;
    if let Some(f) = &s.flood_pps {
        shield.flood_pps = *f.get_ref();
    }
    if let Some(w) = &s.pike_width {
        shield.pike_width = *w.get_ref();
    }
    if let Some(c) = &s.ban_capacity {
        shield.ban_capacity = *c.get_ref();
    }
    if let Err(e) = shield.validate() {
        let (span, key) = match e {
            crate::security::SecurityError::FloodPps(_) => (
                s.flood_pps.as_ref().map(Spanned::span),
                "security.flood_pps",
            ),
            crate::security::SecurityError::PikeWidth(_) => (
                s.pike_width.as_ref().map(Spanned::span),
                "security.pike_width",
            ),
            crate::security::SecurityError::BanCapacity(_) => (
                s.ban_capacity.as_ref().map(Spanned::span),
                "security.ban_capacity",
            ),
            _ => (s.ban_s.as_ref().map(Spanned::span), "security.ban_s"),
        };
        return Err(err(span, Some(key), e.to_string()));
    }
    Ok(())
}

/// The `[[rate_limit]]` tables, checked as the rate limiter will take
/// them (a limit's errors name its table).
fn parse_rate_limits(
    tables: &[Spanned<FileRateLimit>],
    err: ErrAt<'_>,
) -> Result<Vec<crate::security::RateLimitSpec>, ConfigError> {
    use crate::security::{RateKeyKind, RateLimitSpec, RateLimits, RateLimitsConfig};
    let mut specs = Vec::with_capacity(tables.len());
    for (i, t) in tables.iter().enumerate() {
        let l = t.get_ref();
        let key = match &l.key {
            None => RateKeyKind::Source,
            Some(k) => k.get_ref().parse().map_err(|_| {
                err(
                    Some(k.span()),
                    Some(&format!("rate_limit[{i}].key")),
                    format!("`{}`: use \"source\", \"group\" or \"global\"", k.get_ref()),
                )
            })?,
        };
        specs.push(RateLimitSpec {
            name: l.name.get_ref().clone(),
            rate: *l.rate.get_ref(),
            // Default: one second's worth.
            burst: l.burst.as_ref().map_or_else(
                || {
                    (l.rate.get_ref().ceil() as u32)
                        .clamp(1, crate::security::rate_limit::MAX_BURST)
                },
                |b| *b.get_ref(),
            ),
            key,
        });
        // Each limit checked as it comes: an error names its table.
        if let Err(e) = RateLimits::new(
            &specs,
            RateLimitsConfig {
                cells: 1 << 10,
                ..RateLimitsConfig::default()
            },
            0,
            std::time::Instant::now(),
        ) {
            let field = match e {
                crate::security::SecurityError::Rate { .. } => Some(&l.rate),
                _ => None,
            };
            let (span, k) = match (field, &e) {
                (Some(r), _) => (r.span(), "rate"),
                (None, crate::security::SecurityError::Burst { .. }) => {
                    (l.burst.as_ref().map_or(t.span(), Spanned::span), "burst")
                }
                _ => (l.name.span(), "name"),
            };
            return Err(err(
                Some(span),
                Some(&format!("rate_limit[{i}].{k}")),
                e.to_string(),
            ));
        }
    }
    Ok(specs)
}

/// The `[auth]` section; the subscriber file relative to `path`'s folder.
fn parse_auth(
    a: &Spanned<AuthSection>,
    path: &Path,
    err: ErrAt<'_>,
) -> Result<AuthSettings, ConfigError> {
    let s = a.get_ref();
    let Some(file) = s.subscribers.as_ref().filter(|f| !f.get_ref().is_empty()) else {
        return Err(err(
            Some(a.span()),
            Some("auth.subscribers"),
            "[auth] needs `subscribers`, the subscriber file".into(),
        ));
    };
    let mut config = crate::auth::AuthConfig::default();
    if let Some(n) = &s.nonce_max_age_s {
        if !(10..=86_400).contains(n.get_ref()) {
            return Err(err(
                Some(n.span()),
                Some("auth.nonce_max_age_s"),
                "must be within 10..=86400".into(),
            ));
        }
        config.nonce_max_age_s = *n.get_ref();
    }
    if let Some(a) = &s.algorithms {
        let names: Vec<&str> = a.get_ref().iter().map(|n| n.get_ref().as_str()).collect();
        (config.md5, config.md5_first, config.sha256) = match names.as_slice() {
            ["SHA-256", "MD5"] => (true, false, true),
            ["MD5", "SHA-256"] => (true, true, true),
            ["SHA-256"] => (false, false, true),
            ["MD5"] => (true, true, false),
            _ => {
                return Err(err(
                    Some(a.span()),
                    Some("auth.algorithms"),
                    format!(
                        "{names:?}: use [\"SHA-256\", \"MD5\"], [\"MD5\", \"SHA-256\"], [\"SHA-256\"] or [\"MD5\"]"
                    ),
                ));
            }
        };
    }
    if let Some(u) = &s.uri_match {
        config.uri_match = match u.get_ref().as_str() {
            "request_uri" => crate::auth::UriMatch::RequestUri,
            "host_port" => crate::auth::UriMatch::HostPort,
            other => {
                return Err(err(
                    Some(u.span()),
                    Some("auth.uri_match"),
                    format!("`{other}`: use \"request_uri\" or \"host_port\""),
                ));
            }
        };
    }
    Ok(AuthSettings {
        subscribers: path.parent().unwrap_or(Path::new("")).join(file.get_ref()),
        config,
    })
}

/// A listen address: `IP:PORT` (IPv6 as `[::1]:5060`).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an IP:PORT address (IPv6 as [::1]:5060)"))
}

/// A destination: `HOST:PORT` or `IP:PORT`, resolved once now; port 5060
/// when absent.
pub fn resolve(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 5060));
    }
    let with_port = if s
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        s.to_string()
    } else {
        format!("{s}:5060")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{s}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{s}` resolves to no address"))
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("test.toml"))
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::default();
        assert_eq!(c.listen, ["127.0.0.1:5060".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.proxy.mode, Mode::Stateful);
        assert!(c.proxy.record_route);
        assert!(c.shards >= 1);
        let c = parse("").unwrap();
        assert_eq!(c.listen.len(), 1);
    }

    #[test]
    fn a_full_file() {
        let c = parse(
            r#"
listen = ["127.0.0.1:5080", "[::1]:5080"]
advertise = "sip.example.net"
shards = 3
cpus = [1]
mode = "stateless"
record_route = false
shutdown_grace_ms = 100
[route]
default = "127.0.0.1:5070"
[timers]
t1_ms = 250
timer_c_ms = 60000
[limits]
max_message = 8192
"#,
        )
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.shards, 3);
        assert_eq!(c.cpus, Some(vec![1]));
        assert_eq!(c.proxy.mode, Mode::Stateless);
        assert!(!c.proxy.record_route);
        assert_eq!(
            c.proxy.default_route,
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(c.proxy.timers.t1, Duration::from_millis(250));
        assert_eq!(c.proxy.timers.c, Duration::from_secs(60));
        assert_eq!(c.proxy.limits.max_message, 8192);
        let p = c.proxy_for(&["127.0.0.1:5080".parse().unwrap()]);
        assert_eq!(p.locals.addrs[0].host_port, "sip.example.net:5080");
    }

    #[test]
    fn the_edge_sections_and_their_errors() {
        let c = parse(
            r#"
[security]
trusted = ["127.0.0.2/32", "2001:db8::/32"]
unknown_source = "drop"
open_relay = false
server_header = "edge"
flood_pps = 800
ban_s = 60
auth_failures = 5
auth_window_s = 30
secret_file = "secret"

[auth]
subscribers = "subs.csv"
algorithms = ["SHA-256"]
uri_match = "host_port"

[[rate_limit]]
name = "cps"
rate = 10
key = "global"

[[policy]]
rate_limit = "cps"
"#,
        )
        .unwrap();
        let e = &c.proxy.edge;
        assert!(e.trusted.contains("127.0.0.2".parse().unwrap()));
        assert!(!e.trusted.contains("127.0.0.3".parse().unwrap()));
        assert_eq!(e.unknown_source, UnknownSource::Drop);
        assert!(!e.open_relay);
        assert_eq!(e.server_header.as_deref(), Some(&b"Server: edge"[..]));
        assert_eq!(c.shield.flood_pps, 800);
        assert_eq!(c.shield.ban, Duration::from_secs(60));
        assert_eq!(c.auth_bans.ban, Duration::from_secs(60));
        assert_eq!(
            (c.auth_bans.failures, c.auth_bans.window),
            (5, Duration::from_secs(30))
        );
        assert_eq!(c.secret_file.as_deref(), Some(Path::new("secret")));
        let a = c.auth.unwrap();
        assert_eq!(a.subscribers, Path::new("subs.csv"));
        assert!(!a.config.md5);
        assert_eq!(a.config.uri_match, crate::auth::UriMatch::HostPort);
        assert_eq!(c.rate_limits[0].burst, 10, "one second's worth");
        // Defaults: open, no Server header, pike at 500/s.
        let d = Config::default();
        assert!(d.proxy.edge.open_relay && d.proxy.edge.server_header.is_none());
        assert_eq!(d.shield.flood_pps, 500);

        for (text, line, key) in [
            (
                "[security]\ntrusted = [\"10.0.0.0/33\"]\n",
                2,
                "security.trusted",
            ),
            (
                "[security]\nunknown_source = \"deny\"\n",
                2,
                "security.unknown_source",
            ),
            ("[security]\nflood_pps = 9999999\n", 2, "security.flood_pps"),
            ("[security]\nban_s = 0\n", 2, "security.ban_s"),
            (
                "[security]\nsecret_file = \"\"\n",
                2,
                "security.secret_file",
            ),
            ("[auth]\nuri_match = \"host_port\"\n", 1, "auth.subscribers"),
            (
                "[auth]\nsubscribers = \"s.csv\"\nalgorithms = [\"MD4\"]\n",
                3,
                "auth.algorithms",
            ),
            (
                "[[policy]]\nauthenticate = \"digest\"\n",
                1,
                "policy[0].authenticate",
            ),
            (
                "[[policy]]\nrate_limit = \"nope\"\n",
                1,
                "policy[0].rate_limit",
            ),
            (
                "[[rate_limit]]\nname = \"x\"\nrate = 0\n",
                3,
                "rate_limit[0].rate",
            ),
            (
                "[[rate_limit]]\nname = \"x\"\nrate = 1\nkey = \"user\"\n",
                4,
                "rate_limit[0].key",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{e}");
        }
    }

    #[test]
    fn errors_name_file_line_column_and_key() {
        let e = parse("shards = 2\nmode = \"fast\"\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.toml:2:8: key `mode`: `fast` is not a mode: use \"stateful\" or \"stateless\""
        );
        let e = parse("listen = [\"127.0.0.1\"]").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.key.as_deref()),
            (1, 11, Some("listen"))
        );
        let e = parse("[timers]\nt1_ms = 0\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (2, Some("timers.t1_ms")));
        let e = parse("shard = 2\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("unknown field `shard`"), "{e}");
        let e = parse("shards = \"two\"\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("[route]\ndefault = \"no such host.invalid:5060\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (2, Some("route.default")));
        let e = parse("[timers]\nt1_ms = 5000\nt2_ms = 4000\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("timers.t2_ms"));
    }

    #[test]
    fn the_routing_section() {
        let c = Config::parse(
            "[routing]\ntable = \"decks/table.snap\"\nfailover = [\"408\", \"5xx\", \"486\"]\nno_route = 480\n",
            Path::new("/etc/trunkline/t.toml"),
        )
        .unwrap();
        let r = c.routing.unwrap();
        assert_eq!(r.table, Path::new("/etc/trunkline/decks/table.snap"));
        assert_eq!(r.no_route, 480);
        assert_eq!(r.resolve_every, Duration::from_secs(60));
        assert!(c.proxy.failover.contains(486) && c.proxy.failover.contains(502));
        let r = parse("[routing]\ntable = \"t\"\nresolve_every_ms = 0\n").unwrap();
        assert_eq!(r.routing.unwrap().resolve_every, Duration::ZERO);
        let e = parse("[routing]\ntable = \"t\"\nresolve_every_ms = 500\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (3, Some("routing.resolve_every_ms"))
        );
        assert!(parse("").unwrap().routing.is_none());
        let e = parse("[routing]\ntable = \"t.snap\"\nfailover = [\"6xx\"]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (3, Some("routing.failover")));
        assert!(e.message.contains("6xx"), "{e}");
        let e = parse("[routing]\ntable = \"t.snap\"\nno_route = 200\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (3, Some("routing.no_route")));
        let c = parse("[routing]\ntable = \"t\"\nprobe_interval_ms = 2000\nprobe_down_after = 5\n")
            .unwrap();
        assert_eq!(c.proxy.probe.interval, Duration::from_secs(2));
        assert_eq!((c.proxy.probe.down_after, c.proxy.probe.up_after), (5, 2));
        let e = parse("[routing]\ntable = \"t\"\nprobe_up_after = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("routing.probe_up_after"));
        let e = parse("[routing]\nno_route = 404\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("routing.table"));
    }

    #[test]
    fn the_dialog_journal_is_a_directory_next_to_the_file() {
        let c = Config::parse("[dialogs]\njournal = \"j\"\n", Path::new("/etc/t/r.toml")).unwrap();
        assert_eq!(c.journal.as_deref(), Some(Path::new("/etc/t/j")));
        assert!(c.proxy.dialogs.is_some(), "calls tracked");
        assert_eq!(parse("[dialogs]\n").unwrap().journal, None);
        let e = parse("[dialogs]\nenabled = false\njournal = \"j\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("dialogs.journal"));
        let e = parse("[dialogs]\njournal = \"\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("dialogs.journal"));
    }
}
