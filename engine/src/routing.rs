//! The routing table in service: least-cost routing over a memory-mapped
//! snapshot (issue 5), swapped under load.
//!
//! [`TableRouter`] is the [`TargetSource`] the proxy core asks for an
//! initial INVITE's gateways. Per call, on the shard's thread and without
//! locks: load the snapshot in service (one atomic pointer read), the
//! source ACL gives the routing group, the group's dialplan normalises the
//! number, the longest-prefix lookup finds the rule open now, and the
//! rule's targets expand to the ordered gateway list (weighted carriers
//! shuffled per call), each with the number rewritten for it.
//!
//! [`TableRouter::load`] verifies a snapshot file and publishes it in one
//! atomic swap: calls already routed keep the gateways they were given
//! (the proxy core holds them), new calls use the new table, and the old
//! mapping goes when the last lookup holding it ends. A bad file is
//! refused and the table in service stays.
//!
//! A call whose source matches no ACL entry is routed in the group named
//! `default` when the table has one, and refused with 403 otherwise.
//! Gateways are reached over UDP (other transports are not served yet:
//! skipped, with a warning).
//!
//! # Gateway host names (RFC 3263 §4.2)
//!
//! A gateway given by host name is looked up when its table is loaded, on
//! the loading thread, never on the forwarding path, and again every
//! `[routing] resolve_every_ms` by [`TableRouter::spawn_refresher`]'s
//! thread, so a gateway that moves is followed without a table push. The
//! lookups go through [`DnsResolver`] (hickory-resolver on a small tokio
//! runtime of its own, driven only by those threads; the system's
//! `/etc/resolv.conf` and hosts file), and give the gateway its *hops*
//! ([`Hop`]: an address, a priority and a weight), at most
//! [`MAX_ADDRESSES`]:
//!
//! - an IP literal is its own hop;
//! - a host name written with a port: its A/AAAA records (IPv4 first), at
//!   that port;
//! - a host name written without a port: the SRV records of
//!   `_sip._udp.NAME`; each record's target is looked up (A/AAAA) and
//!   gives one hop per address, at the record's port, priority and weight.
//!   Records whose target is `.` are left out; when every record says `.`
//!   the service is not available there and the gateway has no hops. A
//!   name without SRV records falls back to its A/AAAA records at port
//!   5060. NAPTR (§4.1) is not looked up: the gateway's `transport` column
//!   names the transport.
//!
//! A lookup that fails (timeout, server failure, a name that does not
//! resolve) keeps the hops the gateway had (a DNS outage does not take
//! gateways away), with a warning naming the gateway; one that never
//! succeeded leaves the gateway out until a lookup does.
//!
//! A gateway's hops are one gateway served by several hosts (RFC 3263
//! §4.4: each may be tried): a call tries them in turn before the next
//! gateway, and they share the gateway's CPS and concurrent-call caps
//! ([`Target::cap_key`]); each is probed on its own. The order is drawn
//! per call from the shard's per-call seed, without allocating: SRV hops
//! by RFC 2782 (lowest priority first; within a priority, records picked
//! one after another at random in proportion to their weights, a weight-0
//! record keeping a small chance; a record's addresses are tried one
//! after the other), A/AAAA addresses in turn from a first one that
//! rotates per call so the hosts share the load. Each shard turns a
//! snapshot's gateways into hops once per table and per change of names
//! (its cache is keyed by the snapshot's stamp and the names'
//! generation), not per call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use trunkline_routing_tables::{
    At, DialplanScratch, GatewayId, SnapError, Snapshot, SnapshotHandle, SplitMix,
    format::Transport,
};

use crate::proxy::{LcrRequest, MAX_TARGETS, NoRoute, Target, TargetSource};
use crate::srv::srv_order;
pub use crate::srv::{Hop, MAX_ADDRESSES, Resolved};

/// Least-cost routing over the snapshot in service.
pub struct TableRouter {
    handle: SnapshotHandle,
    /// Gateway host names of the table in service, resolved at load and
    /// by the refresher.
    names: ArcSwap<Names>,
    /// `names.generation`, published after `names`: what a shard checks per
    /// call (one relaxed-cost load) before loading the names themselves.
    names_generation: AtomicU64,
    /// Held by whoever resolves and publishes names or a table (a load, a
    /// refresh): a refresh must not publish the names of a table a
    /// concurrent load has just replaced.
    updating: Mutex<()>,
    /// Host name (and port when written) → hops ([`DnsResolver`] on the
    /// system configuration unless a test gives another).
    resolver: Resolver,
    /// The file in service (what `reload` and SIGHUP re-read).
    path: Mutex<PathBuf>,
    no_route: u16,
}

impl std::fmt::Debug for TableRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableRouter")
            .field("handle", &self.handle)
            .field("names", &self.names)
            .field("path", &self.path)
            .field("no_route", &self.no_route)
            .finish_non_exhaustive()
    }
}

/// Looks a gateway's host name up: `Some(port)` when its address was
/// written with a port (A/AAAA only), `None` when not (SRV first, RFC 3263
/// §4.2). `Err` is a failed lookup (the gateway keeps the hops it had),
/// with what failed.
pub type Resolver = Arc<ResolveFn>;

/// What a [`Resolver`] calls.
pub type ResolveFn = dyn Fn(&str, Option<u16>) -> Result<Resolved, String> + Send + Sync;

/// Looked-up gateway host names, keyed by the address as written (`name`
/// or `name:port`), with a generation that changes whenever they do (it
/// keys the shards' hop caches).
#[derive(Debug, Default)]
struct Names {
    generation: u64,
    map: HashMap<String, Resolved>,
}

/// A DNS client for gateway host names (hickory-resolver): SRV and A/AAAA
/// as RFC 3263 §4.2 asks (see the module doc). It owns a current-thread
/// tokio runtime that only the threads calling [`DnsResolver::resolve`]
/// (the table loader, the refresher) drive, blocking; never call it on a
/// shard. Responses are cached for their TTL.
pub struct DnsResolver {
    runtime: tokio::runtime::Runtime,
    inner: hickory_resolver::TokioResolver,
    /// The hosts file, read when made: a name it has gets its addresses
    /// from it alone, as with `getaddrinfo` (`localhost` stays 127.0.0.1
    /// when that is all the file says).
    hosts: Option<hickory_resolver::Hosts>,
}

impl std::fmt::Debug for DnsResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsResolver")
            .field("name_servers", &self.inner.config().name_servers())
            .finish_non_exhaustive()
    }
}

impl DnsResolver {
    /// On the system's configuration: `/etc/resolv.conf` (name servers,
    /// search list, timeouts) and the hosts file. Without a readable
    /// `/etc/resolv.conf` only the hosts file answers (with a warning).
    pub fn system() -> std::io::Result<DnsResolver> {
        let [resolv_conf, hosts] = SYSTEM_FILES.map(Path::new);
        let (config, opts) = read_resolv_conf(resolv_conf).unwrap_or_else(|e| {
            tracing::warn!("{e}: gateway host names are looked up in the hosts file only");
            // No name servers (`ResolverConfig::default()` would be Google's).
            (
                hickory_resolver::config::ResolverConfig::new(),
                hickory_resolver::config::ResolverOpts::default(),
            )
        });
        DnsResolver::on(config, opts, read_hosts(hosts).ok())
    }

    /// On the configuration in `resolv_conf` (the format of
    /// `/etc/resolv.conf`) and the hosts file `hosts`, both required:
    /// [`DnsResolver::system`] on other paths.
    pub fn from_files(resolv_conf: &Path, hosts: &Path) -> std::io::Result<DnsResolver> {
        let (config, opts) = read_resolv_conf(resolv_conf)?;
        DnsResolver::on(config, opts, Some(read_hosts(hosts)?))
    }

    /// With `config` and `opts`, the hosts file table `hosts` answering
    /// first (ours: hickory's own would read `/etc/hosts` when made).
    fn on(
        config: hickory_resolver::config::ResolverConfig,
        opts: hickory_resolver::config::ResolverOpts,
        hosts: Option<hickory_resolver::Hosts>,
    ) -> std::io::Result<DnsResolver> {
        let mut builder = hickory_resolver::TokioResolver::builder_with_config(
            config,
            hickory_resolver::name_server::TokioConnectionProvider::default(),
        );
        *builder.options_mut() = opts;
        builder.options_mut().use_hosts_file = hickory_resolver::config::ResolveHosts::Never;
        DnsResolver::build(builder, hosts)
    }

    /// Asking only the name servers at `servers` (UDP, TCP when a
    /// response is truncated), without the hosts file: for tests and
    /// private resolvers.
    pub fn with_name_servers(servers: &[SocketAddr]) -> std::io::Result<DnsResolver> {
        use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
        use hickory_resolver::proto::xfer::Protocol;
        let mut config = ResolverConfig::new();
        for &addr in servers {
            config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
        }
        let mut builder = hickory_resolver::TokioResolver::builder_with_config(
            config,
            hickory_resolver::name_server::TokioConnectionProvider::default(),
        );
        builder.options_mut().use_hosts_file = ResolveHosts::Never;
        DnsResolver::build(builder, None)
    }

    fn build(
        mut builder: hickory_resolver::ResolverBuilder<
            hickory_resolver::name_server::TokioConnectionProvider,
        >,
        hosts: Option<hickory_resolver::Hosts>,
    ) -> std::io::Result<DnsResolver> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Every address of a name, both families (IPv4 first is our order).
        builder.options_mut().ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
        let inner = {
            let _in_runtime = runtime.enter();
            builder.build()
        };
        Ok(DnsResolver {
            runtime,
            inner,
            hosts,
        })
    }

    /// Looks `host` up: with a port, its A/AAAA records at that port;
    /// without, the SRV records of `_sip._udp.HOST` (their targets' A/AAAA
    /// records), or its A/AAAA records at port 5060 when it has no SRV
    /// records. Blocking. `Err` says what failed.
    pub fn resolve(&self, host: &str, port: Option<u16>) -> Result<Resolved, String> {
        self.runtime.block_on(self.lookup(host, port))
    }

    /// This resolver as the [`Resolver`] a [`TableRouter`] takes.
    pub fn into_resolver(self) -> Resolver {
        Arc::new(move |host, port| self.resolve(host, port))
    }

    async fn lookup(&self, host: &str, port: Option<u16>) -> Result<Resolved, String> {
        if let Some(port) = port {
            return Ok(Resolved::addresses(self.addresses(host).await?, port));
        }
        let service = format!("_sip._udp.{host}");
        let found = match self.inner.srv_lookup(service.as_str()).await {
            Ok(found) => found,
            // No SRV records (NXDOMAIN or no data; not a server failure):
            // A/AAAA at 5060.
            Err(e) if no_such_records(&e) => {
                return Ok(Resolved::addresses(self.addresses(host).await?, 5060));
            }
            Err(e) => return Err(format!("SRV {service}: {e}")),
        };
        // A stable order (servers may rotate answers): the refresher
        // compares lookups to see a change.
        let mut records: Vec<_> = found.iter().filter(|r| !r.target().is_root()).collect();
        records.sort_by(|a, b| {
            (a.priority(), a.weight(), a.port(), a.target()).cmp(&(
                b.priority(),
                b.weight(),
                b.port(),
                b.target(),
            ))
        });
        let mut out = Resolved {
            srv: true,
            hops: Vec::new(),
        };
        let mut failed = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let target = r.target().to_ascii();
            match self.addresses(&target).await {
                Ok(ips) => out.hops.extend(ips.into_iter().map(|ip| Hop {
                    addr: SocketAddr::new(ip, r.port()),
                    priority: r.priority(),
                    weight: r.weight(),
                    record: u16::try_from(i).unwrap_or(u16::MAX),
                })),
                Err(e) => failed.push(e),
            }
        }
        match (records.is_empty(), out.hops.is_empty()) {
            // Every target is `.`: not available here (RFC 2782).
            (true, _) => Ok(out),
            (false, true) => Err(format!(
                "SRV {service}: no target resolves: {}",
                failed.join("; ")
            )),
            (false, false) => {
                if !failed.is_empty() {
                    tracing::warn!(
                        "SRV {service}: some targets do not resolve (left out): {}",
                        failed.join("; ")
                    );
                }
                Ok(out)
            }
        }
    }

    /// The addresses the hosts file gives `name` (none without one).
    fn in_hosts_file(&self, name: &str) -> Vec<IpAddr> {
        use hickory_resolver::proto::op::Query;
        use hickory_resolver::proto::rr::RecordType;
        let (Some(hosts), Ok(name)) = (&self.hosts, hickory_resolver::Name::from_ascii(name))
        else {
            return Vec::new();
        };
        [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|t| hosts.lookup_static_host(&Query::query(name.clone(), t)))
            .flat_map(|found| found.iter().filter_map(|r| r.ip_addr()).collect::<Vec<_>>())
            .collect()
    }

    /// Every address of `name` once, IPv4 ones first (in the response's
    /// order within each family), at most [`MAX_ADDRESSES`].
    async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let mut found: Vec<IpAddr> = self.in_hosts_file(name);
        if found.is_empty() {
            found = self
                .inner
                .lookup_ip(name)
                .await
                .map_err(|e| format!("{name}: {e}"))?
                .iter()
                .collect();
        }
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in found {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        ips.sort_by_key(|ip| ip.is_ipv6()); // stable: order kept within a family
        ips.truncate(MAX_ADDRESSES);
        match ips.is_empty() {
            true => Err(format!("{name}: no addresses")),
            false => Ok(ips),
        }
    }
}

/// The name or the record type does not exist (an NXDOMAIN or NOERROR
/// answer without records), as opposed to a lookup that failed.
fn no_such_records(e: &hickory_resolver::ResolveError) -> bool {
    use hickory_resolver::proto::{ProtoErrorKind, op::ResponseCode};
    matches!(
        e.proto().map(|p| p.kind()),
        Some(ProtoErrorKind::NoRecordsFound {
            response_code: ResponseCode::NXDomain | ResponseCode::NoError,
            ..
        })
    )
}

/// A resolv.conf's name servers and options; the error names the file.
fn read_resolv_conf(
    path: &Path,
) -> std::io::Result<(
    hickory_resolver::config::ResolverConfig,
    hickory_resolver::config::ResolverOpts,
)> {
    let data = std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    hickory_resolver::system_conf::parse_resolv_conf(&data)
        .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
}

/// A hosts file's table.
fn read_hosts(path: &Path) -> std::io::Result<hickory_resolver::Hosts> {
    let mut table = hickory_resolver::Hosts::default();
    table.read_hosts_conf(std::fs::File::open(path)?)?;
    Ok(table)
}

/// The files [`DnsResolver::system`] reads.
const SYSTEM_FILES: [&str; 2] = ["/etc/resolv.conf", "/etc/hosts"];

/// [`DnsResolver::system`] as a [`Resolver`], made again whenever
/// `/etc/resolv.conf` or `/etc/hosts` changes (see [`reloading_resolver`]).
pub fn system_resolver() -> Resolver {
    reloading_resolver(
        SYSTEM_FILES.iter().map(PathBuf::from).collect(),
        DnsResolver::system,
    )
}

/// A [`Resolver`] over the [`DnsResolver`] `make` returns, made again
/// before a lookup when one of `files` has changed (modification time or
/// length) since it was made: hickory reads its configuration and the
/// hosts file once, where `getaddrinfo` saw an edit to `/etc/hosts` at
/// once. A remake that fails keeps the resolver in service (and is tried
/// again at the next lookup); with none, every lookup fails.
pub fn reloading_resolver(
    files: Vec<PathBuf>,
    make: impl Fn() -> std::io::Result<DnsResolver> + Send + Sync + 'static,
) -> Resolver {
    type Stamp = Vec<Option<(Option<std::time::SystemTime>, u64)>>;
    let stamp = move || -> Stamp {
        files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .ok()
                    .map(|m| (m.modified().ok(), m.len()))
            })
            .collect()
    };
    let state: Mutex<Option<(Stamp, DnsResolver)>> = Mutex::new(None);
    Arc::new(move |host, port| {
        let now = stamp();
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        if st.as_ref().is_none_or(|(made, _)| *made != now) {
            match make() {
                Ok(r) => {
                    if st.is_some() {
                        tracing::info!("DNS configuration changed: resolver made again");
                    }
                    *st = Some((now, r));
                }
                Err(e) if st.is_some() => {
                    tracing::warn!(
                        "DNS configuration changed but unusable ({e}): kept the resolver in service"
                    );
                }
                Err(e) => return Err(format!("no DNS resolver: {e}")),
            }
        }
        match st.as_ref() {
            Some((_, r)) => r.resolve(host, port),
            None => Err("no DNS resolver".into()),
        }
    })
}

/// Stops the re-resolving thread when dropped.
#[derive(Debug)]
pub struct Refresher {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Refresher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

thread_local! {
    /// Per-shard scratch: dialplan buffers, the gateway list, the
    /// rewritten number, and the weighted-shuffle seed.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Debug, Default)]
struct Scratch {
    dialplan: DialplanScratch,
    gateways: Vec<GatewayId>,
    user: String,
    seed: u64,
    /// Each gateway's hops in the snapshot and names of `dests_stamp`, as
    /// a range of `hops` (empty: not reachable here) and whether they are
    /// SRV hops, built on the first call that sees them.
    dests: Vec<(u32, u32, bool)>,
    hops: Vec<Hop>,
    /// Each gateway's key for its caps (a hash of its id: stable across
    /// tables, shared by its hops).
    cap_keys: Vec<u64>,
    dests_stamp: Option<(u64, u64)>,
}

const NOT_ALLOWED: NoRoute = NoRoute {
    code: 403,
    reason: b"Source Not Allowed",
};
const NO_GATEWAY: NoRoute = NoRoute {
    code: 503,
    reason: b"No Gateway Available",
};

impl TableRouter {
    /// Opens and verifies the snapshot at `path`; `no_route` is the status
    /// for numbers no rule matches.
    pub fn open(path: &Path, no_route: u16) -> Result<TableRouter, SnapError> {
        TableRouter::open_with_resolver(path, no_route, system_resolver())
    }

    /// [`TableRouter::open`] with host names looked up by `resolver`.
    pub fn open_with_resolver(
        path: &Path,
        no_route: u16,
        resolver: Resolver,
    ) -> Result<TableRouter, SnapError> {
        let snap = Snapshot::open(path)?;
        let map = resolve_names(&snap, &HashMap::new(), &*resolver);
        warn_unsupported(&snap, &map);
        Ok(TableRouter {
            handle: SnapshotHandle::new(snap),
            names: ArcSwap::from_pointee(Names { generation: 0, map }),
            names_generation: AtomicU64::new(0),
            updating: Mutex::new(()),
            resolver,
            path: Mutex::new(path.to_path_buf()),
            no_route,
        })
    }

    /// Looks the gateway host names of the table in service up again and
    /// publishes them if any hop changed (a name whose lookup fails now
    /// keeps its hops). Blocking. Returns the hops that changed, `None` if
    /// none did.
    pub fn refresh_names(&self) -> Option<String> {
        let _updating = self.updating.lock().unwrap_or_else(|e| e.into_inner());
        let snap = self.handle.load();
        let old = self.names.load();
        let map = resolve_names(&snap, &old.map, &*self.resolver);
        if map == old.map {
            return None;
        }
        let mut changes: Vec<String> = map
            .iter()
            .filter(|(h, r)| old.map.get(*h) != Some(r))
            .map(|(h, r)| match old.map.get(h) {
                Some(was) => format!("{h} {} -> {}", was.describe(), r.describe()),
                None => format!("{h} -> {}", r.describe()),
            })
            .collect();
        changes.sort();
        self.publish_names(old.generation + 1, map);
        // Only names of a replaced table pruned: nothing to report.
        (!changes.is_empty()).then(|| changes.join(", "))
    }

    /// Starts a thread that calls [`TableRouter::refresh_names`] every
    /// `every` (the resolver caches answers for their TTL beneath);
    /// it stops when the returned handle is dropped.
    pub fn spawn_refresher(self: &Arc<Self>, every: Duration) -> std::io::Result<Refresher> {
        let (stop, stopped) = channel::<()>();
        let me = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("tl-resolve".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Some(changes) = me.refresh_names() {
                        tracing::info!("gateway addresses changed: {changes}");
                    }
                }
            })?;
        Ok(Refresher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Verifies the snapshot at `path` and puts it in service; on any
    /// damage the table in service stays. Returns a one-line summary.
    pub fn load(&self, path: &Path) -> Result<String, String> {
        let snap = Snapshot::open(path).map_err(|e| e.to_string())?;
        let _updating = self.updating.lock().unwrap_or_else(|e| e.into_inner());
        // Names first: a shard that sees the new table finds them resolved.
        let old = self.names.load();
        let mut map = resolve_names(&snap, &old.map, &*self.resolver);
        warn_unsupported(&snap, &map);
        // The old table's names stay until the next refresh prunes them: a
        // shard may still read the old table with the new names.
        for (h, r) in old.map.iter() {
            map.entry(h.clone()).or_insert_with(|| r.clone());
        }
        self.publish_names(old.generation + 1, map);
        let summary = summary(&snap);
        self.handle.publish(snap);
        *self.path.lock().unwrap_or_else(|e| e.into_inner()) = path.to_path_buf();
        tracing::info!("routing table in service: {summary}");
        Ok(summary)
    }

    fn publish_names(&self, generation: u64, map: HashMap<String, Resolved>) {
        self.names.store(Arc::new(Names { generation, map }));
        self.names_generation.store(generation, Ordering::Release);
    }

    /// Re-reads the file in service (SIGHUP, `reload`).
    pub fn reload(&self) -> Result<String, String> {
        let path = self.path();
        self.load(&path)
    }

    /// The file in service.
    pub fn path(&self) -> PathBuf {
        self.path.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A one-line description of the table in service.
    pub fn status(&self) -> String {
        summary(&self.handle.load())
    }

    /// Answers a control-socket command (see [`crate::control`]).
    pub fn command(&self, line: &str) -> Result<String, String> {
        match line.split_once(' ').unwrap_or((line, "")) {
            ("push", path) if !path.trim().is_empty() => {
                let path = Path::new(path.trim());
                if !path.is_absolute() {
                    return Err(format!(
                        "`{}`: give an absolute path (the router's working directory is not yours)",
                        path.display()
                    ));
                }
                self.load(path)
            }
            ("reload", "") => self.reload(),
            ("status", "") => Ok(self.status()),
            _ => Err(format!(
                "unknown command `{line}`: use `push PATH`, `reload` or `status`"
            )),
        }
    }
}

/// `path: N rules, N gateways, built ...`.
fn summary(s: &Snapshot) -> String {
    let t = s.table();
    format!(
        "{}: {} rules, {} gateways, {} groups, built {}",
        s.path().display(),
        t.rules.len(),
        t.gateways.len(),
        t.groups.len(),
        trunkline_routing_tables::report::utc(s.header().built_at),
    )
}

/// Logs what the table asks for that routing does not do yet.
fn warn_unsupported(s: &Snapshot, names: &HashMap<String, Resolved>) {
    let t = s.table();
    let mut hops = Vec::new();
    let unusable = t
        .gateways
        .iter()
        .filter(|g| {
            hops.clear();
            gateway_dests(g, names, &mut hops);
            hops.is_empty()
        })
        .count();
    if unusable > 0 {
        tracing::warn!(
            "{}: {unusable} gateways are not UDP or have a host name without addresses: they are skipped",
            s.path().display()
        );
    }
}

/// The hops of the gateway host names in `s`, by `resolve`, keyed by the
/// address as written; names `known` already had keep their hops when a
/// lookup fails now. Blocking: called where a table is loaded and by the
/// refresher, never on a shard.
fn resolve_names(
    s: &Snapshot,
    known: &HashMap<String, Resolved>,
    resolve: &ResolveFn,
) -> HashMap<String, Resolved> {
    let mut out = HashMap::new();
    for g in s.table().gateways.iter() {
        let host = g.host.as_str();
        if g.transport() != Transport::Udp || host.parse::<IpAddr>().is_ok() {
            continue;
        }
        let key = g.address_as_written();
        if out.contains_key(&key) {
            continue;
        }
        let path = s.path().display();
        match resolve(host, g.port_given.then(|| g.port.to_native())) {
            Ok(mut found) => {
                found.normalise();
                if found.hops.is_empty() {
                    tracing::warn!(
                        "{path}: gateway {}: {key}: no hops (SRV _sip._udp.{host}: not available here): left out",
                        g.id
                    );
                }
                out.insert(key, found);
            }
            Err(e) => match known.get(&key) {
                Some(was) => {
                    tracing::warn!(
                        "{path}: gateway {}: {key}: lookup failed ({e}): keeping {}",
                        g.id,
                        was.describe()
                    );
                    out.insert(key, was.clone());
                }
                None => tracing::warn!(
                    "{path}: gateway {}: {key}: lookup failed ({e}): left out until it resolves",
                    g.id
                ),
            },
        }
    }
    out
}

/// Where a gateway is reached, appended to `out`: its IP literal, or the
/// hops its host name has; UDP only (nothing otherwise). Returns whether
/// they are SRV hops.
fn gateway_dests(
    g: &trunkline_routing_tables::format::ArchivedGateway,
    names: &HashMap<String, Resolved>,
    out: &mut Vec<Hop>,
) -> bool {
    if g.transport() != Transport::Udp {
        return false;
    }
    let host = g.host.as_str();
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            out.extend(Resolved::addresses([ip], g.port.to_native()).hops);
            false
        }
        Err(_) => match names.get(&g.address_as_written()) {
            Some(r) => {
                out.extend_from_slice(&r.hops[..r.hops.len().min(MAX_ADDRESSES)]);
                r.srv
            }
            None => false,
        },
    }
}

/// A gateway's key for its caps: a hash of its id, so the caps follow the
/// gateway (not its index, which a new table may change, nor one of its
/// addresses).
fn cap_key(id: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x7472_756e_6b6c_696e).hash_one(id)
}

impl TargetSource for TableRouter {
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        let no_route = NoRoute {
            code: self.no_route,
            reason: if self.no_route == 404 {
                b"No Route"
            } else {
                b"No Route To Destination"
            },
        };
        let Ok(number) = std::str::from_utf8(req.number) else {
            return Err(no_route);
        };
        let snap = self.handle.load();
        let table = snap.table();
        let group = match table.group_for_source(req.source) {
            Some(g) => g,
            None => table.group_id("default").ok_or(NOT_ALLOWED)?,
        };
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let Scratch {
                dialplan,
                gateways,
                user,
                seed,
                dests,
                hops,
                cap_keys,
                dests_stamp,
            } = s;
            let stamp = Some((snap.stamp(), self.names_generation.load(Ordering::Acquire)));
            if *dests_stamp != stamp {
                // The names are at least as new as the generation read.
                let names = self.names.load();
                dests.clear();
                hops.clear();
                cap_keys.clear();
                for g in table.gateways.iter() {
                    let start = hops.len() as u32;
                    let srv = gateway_dests(g, &names.map, hops);
                    dests.push((start, hops.len() as u32, srv));
                    cap_keys.push(cap_key(g.id.as_str()));
                }
                *dests_stamp = stamp;
            }
            let dialled = snap.apply_dialplan(group, number, dialplan);
            let Some(rule) = table.lookup(group, dialled.number, At::now()) else {
                return Err(no_route);
            };
            // A different weighted order per call (splitmix increment).
            *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            table.gateways_for(&rule, *seed, gateways);
            'gateways: for &id in gateways.iter() {
                let Some(g) = table.gateway(id) else { continue };
                let Some(&(start, end, srv)) = dests.get(id.0 as usize) else {
                    continue;
                };
                let here = &hops[start as usize..end as usize];
                if here.is_empty() {
                    continue;
                }
                g.rewrite(dialled.number, user);
                // Every hop in turn: SRV ones in an RFC 2782 order drawn
                // for this call (a stream of its own per gateway), others
                // from a different first one per call.
                let mut order = [0u8; MAX_ADDRESSES];
                let n = if srv {
                    // Not the carriers' stream (gateways_for draws from the seed).
                    let stream = (u64::from(id.0) + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
                    srv_order(here, &mut SplitMix(*seed ^ stream), &mut order)
                } else {
                    let n = here.len().min(MAX_ADDRESSES);
                    let first = (*seed >> 32) as usize % n;
                    for (k, o) in order[..n].iter_mut().enumerate() {
                        *o = ((first + k) % n) as u8;
                    }
                    n
                };
                for &k in &order[..n] {
                    if out.len() == MAX_TARGETS {
                        break 'gateways;
                    }
                    let dest = here[usize::from(k)].addr;
                    if let Some(t) = Target::new(dest, id.0, user.as_bytes()) {
                        out.push(
                            t.with_cap_key(cap_keys[id.0 as usize])
                                .with_cps_limit(g.cps_cap.to_native())
                                .with_concurrent_limit(g.concurrent_cap.to_native()),
                        );
                    }
                }
            }
            if out.is_empty() {
                Err(NO_GATEWAY)
            } else {
                Ok(())
            }
        })
    }

    fn probed(&self, out: &mut Vec<SocketAddr>) {
        let snap = self.handle.load();
        let names = self.names.load();
        let mut hops = Vec::new();
        for g in snap.table().gateways.iter().filter(|g| g.probing) {
            hops.clear();
            gateway_dests(g, &names.map, &mut hops);
            out.extend(hops.iter().map(|h| h.addr));
        }
    }
}
