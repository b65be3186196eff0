//! [`DnsResolver`]: host names looked up with hickory-resolver (RFC 3263
//! §4.2: SRV then A/AAAA), on a small current-thread tokio runtime that
//! only the threads calling it drive (table loading, the refresher, the
//! next-hop lookup threads), never a shard; and the system resolver,
//! made again when `/etc/resolv.conf` or `/etc/hosts` changes.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Hop, MAX_ADDRESSES, Resolved, Resolver};

/// A DNS client for host names (hickory-resolver): SRV and A/AAAA as
/// RFC 3263 §4.2 asks (see [`crate::lcr::table`] for the rules). It owns
/// a current-thread tokio runtime that only the threads calling
/// [`DnsResolver::resolve`] (the table loader, the refresher, the lookup
/// threads) drive, blocking; never call it on a shard. Responses are
/// cached for their TTL.
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

    /// This resolver as a [`Resolver`] (what the LCR table and the lookup threads take).
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
