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
//! skipped, with a warning). A gateway given by host name is resolved
//! (A/AAAA, IPv4 addresses first, up to [`MAX_ADDRESSES`]; no SRV/NAPTR)
//! when its table is loaded, on the loading thread, never on the
//! forwarding path, and again
//! every `[routing] resolve_every_ms` by [`TableRouter::spawn_refresher`]'s
//! thread, so a gateway that moves is followed without a table push. A
//! name that does not resolve keeps the address it had (a DNS outage does
//! not take gateways away); one that never resolved is left out until a
//! lookup succeeds. A name with several addresses is one gateway served by
//! several hosts (RFC 3263 §4.4: each may be tried): a call tries them in
//! turn, starting at a different one per call so the hosts share the load,
//! before the next gateway; they share the gateway's CPS and
//! concurrent-call caps, and each is probed on its own. Each shard turns a
//! snapshot's gateways into addresses
//! once per table and per change of names (its cache is keyed by the
//! snapshot's stamp and the names' generation), not per call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use trunkline_routing_tables::{
    At, DialplanScratch, GatewayId, SnapError, Snapshot, SnapshotHandle, format::Transport,
};

use crate::proxy::{LcrRequest, MAX_TARGETS, NoRoute, Target, TargetSource};

/// The most addresses of one gateway host name kept (in resolver order,
/// IPv4 first): each is a try of the call's, and a call tries at most
/// [`MAX_TARGETS`] in all.
pub const MAX_ADDRESSES: usize = 8;

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
    /// Host name and port → an address (the system resolver unless a test
    /// gives another).
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

/// Resolves a gateway's host name and port to its addresses, in the order
/// to try them (empty: the lookup failed).
pub type Resolver = Arc<dyn Fn(&str, u16) -> Vec<IpAddr> + Send + Sync>;

/// Resolved gateway host names, with a generation that changes whenever
/// they do (it keys the shards' address caches).
#[derive(Debug, Default)]
struct Names {
    generation: u64,
    map: HashMap<String, Vec<IpAddr>>,
}

/// The system resolver (`getaddrinfo`: A and AAAA, `/etc/hosts`): every
/// address once, IPv4 ones first (in the resolver's order within each
/// family), at most [`MAX_ADDRESSES`].
fn system_resolver(host: &str, port: u16) -> Vec<IpAddr> {
    let Ok(found) = (host, port).to_socket_addrs() else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for a in found {
        if !ips.contains(&a.ip()) {
            ips.push(a.ip());
        }
    }
    ips.sort_by_key(|ip| ip.is_ipv6()); // stable: order kept within a family
    ips.truncate(MAX_ADDRESSES);
    ips
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
    /// Each gateway's addresses in the snapshot and names of `dests_stamp`,
    /// as a range of `addrs` (empty: not reachable here), built on the
    /// first call that sees them.
    dests: Vec<(u32, u32)>,
    addrs: Vec<SocketAddr>,
    /// Each gateway's key for its caps (a hash of its id: stable across
    /// tables, shared by its addresses).
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
        TableRouter::open_with_resolver(path, no_route, Arc::new(system_resolver))
    }

    /// [`TableRouter::open`] with host names resolved by `resolver`.
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

    /// Resolves the gateway host names of the table in service again and
    /// publishes them if any address changed (a name that fails now keeps
    /// its address). Blocking. Returns the addresses that changed, `None`
    /// if none did.
    pub fn refresh_names(&self) -> Option<String> {
        let _updating = self.updating.lock().unwrap_or_else(|e| e.into_inner());
        let snap = self.handle.load();
        let old = self.names.load();
        let map = resolve_names(&snap, &old.map, &*self.resolver);
        if map == old.map {
            return None;
        }
        let list = |ips: &[IpAddr]| {
            ips.iter()
                .map(|ip| ip.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut changes: Vec<String> = map
            .iter()
            .filter(|(h, ips)| old.map.get(*h) != Some(ips))
            .map(|(h, ips)| match old.map.get(h) {
                Some(was) => format!("{h} {} -> {}", list(was), list(ips)),
                None => format!("{h} -> {}", list(ips)),
            })
            .collect();
        changes.sort();
        self.publish_names(old.generation + 1, map);
        // Only names of a replaced table pruned: nothing to report.
        (!changes.is_empty()).then(|| changes.join(", "))
    }

    /// Starts a thread that calls [`TableRouter::refresh_names`] every
    /// `every` (the system resolver's own cache and TTLs apply beneath);
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
        for (h, ips) in old.map.iter() {
            map.entry(h.clone()).or_insert_with(|| ips.clone());
        }
        self.publish_names(old.generation + 1, map);
        let summary = summary(&snap);
        self.handle.publish(snap);
        *self.path.lock().unwrap_or_else(|e| e.into_inner()) = path.to_path_buf();
        tracing::info!("routing table in service: {summary}");
        Ok(summary)
    }

    fn publish_names(&self, generation: u64, map: HashMap<String, Vec<IpAddr>>) {
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
fn warn_unsupported(s: &Snapshot, names: &HashMap<String, Vec<IpAddr>>) {
    let t = s.table();
    let mut addrs = Vec::new();
    let unusable = t
        .gateways
        .iter()
        .filter(|g| {
            addrs.clear();
            gateway_dests(g, names, &mut addrs);
            addrs.is_empty()
        })
        .count();
    if unusable > 0 {
        tracing::warn!(
            "{}: {unusable} gateways are not UDP or have a host name that does not resolve: they are skipped",
            s.path().display()
        );
    }
}

/// The addresses of the gateway host names in `s`, by `resolve`; names
/// `known` already had are kept when a lookup fails now. Blocking: called
/// where a table is loaded and by the refresher, never on a shard.
fn resolve_names(
    s: &Snapshot,
    known: &HashMap<String, Vec<IpAddr>>,
    resolve: &(dyn Fn(&str, u16) -> Vec<IpAddr> + Send + Sync),
) -> HashMap<String, Vec<IpAddr>> {
    let mut out = HashMap::new();
    for g in s.table().gateways.iter() {
        let host = g.host.as_str();
        if g.transport() != Transport::Udp
            || host.parse::<IpAddr>().is_ok()
            || out.contains_key(host)
        {
            continue;
        }
        let mut found = resolve(host, g.port.to_native());
        found.truncate(MAX_ADDRESSES);
        if found.is_empty() {
            found = known.get(host).cloned().unwrap_or_default();
        }
        match found.is_empty() {
            false => {
                out.insert(host.to_string(), found);
            }
            true => tracing::warn!(
                "{}: gateway {}: host name {host} does not resolve",
                s.path().display(),
                g.id
            ),
        }
    }
    out
}

/// Where a gateway is reached, appended to `out`: its IP literal, or the
/// addresses its host name resolved to; UDP only (nothing otherwise).
fn gateway_dests(
    g: &trunkline_routing_tables::format::ArchivedGateway,
    names: &HashMap<String, Vec<IpAddr>>,
    out: &mut Vec<SocketAddr>,
) {
    if g.transport() != Transport::Udp {
        return;
    }
    let host = g.host.as_str();
    let port = g.port.to_native();
    match host.parse::<IpAddr>() {
        Ok(ip) => out.push(SocketAddr::new(ip, port)),
        Err(_) => {
            let ips = names.get(host).map_or(&[][..], Vec::as_slice);
            out.extend(ips.iter().map(|&ip| SocketAddr::new(ip, port)));
        }
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
                addrs,
                cap_keys,
                dests_stamp,
            } = s;
            let stamp = Some((snap.stamp(), self.names_generation.load(Ordering::Acquire)));
            if *dests_stamp != stamp {
                // The names are at least as new as the generation read.
                let names = self.names.load();
                dests.clear();
                addrs.clear();
                cap_keys.clear();
                for g in table.gateways.iter() {
                    let start = addrs.len() as u32;
                    gateway_dests(g, &names.map, addrs);
                    dests.push((start, addrs.len() as u32));
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
                let Some(&(start, end)) = dests.get(id.0 as usize) else {
                    continue;
                };
                let here = &addrs[start as usize..end as usize];
                if here.is_empty() {
                    continue;
                }
                g.rewrite(dialled.number, user);
                // Every address in turn, from a different first one per call.
                let first = (*seed >> 32) as usize % here.len();
                for k in 0..here.len() {
                    if out.len() == MAX_TARGETS {
                        break 'gateways;
                    }
                    let dest = here[(first + k) % here.len()];
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
        for g in snap.table().gateways.iter().filter(|g| g.probing) {
            gateway_dests(g, &names.map, out);
        }
    }
}
