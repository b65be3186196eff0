//! The routing table in service: least-cost routing over a memory-mapped
//! snapshot, swapped under load.
//!
//! [`LcrTable`] is the [`TargetSource`] the proxy core asks for an
//! initial INVITE's gateways; each shard routes through its own
//! [`LcrTableShard`] (scratch buffers, hop cache, per-call seed). Per
//! call, on the shard's thread and without locks: load the snapshot in service (one atomic pointer read), the
//! source ACL gives the routing group, the group's dialplan normalises the
//! number, the longest-prefix lookup finds the rule open now, and the
//! rule's targets expand to the ordered gateway list (weighted carriers
//! shuffled per call), each with the number rewritten for it.
//!
//! [`LcrTable::load`] (or [`LcrTable::stage`], then commit) verifies a snapshot file and publishes it in one
//! atomic swap: calls already routed keep the gateways they were given
//! (the proxy core holds them), new calls use the new table, and the old
//! mapping goes when the last lookup holding it ends. A bad file is
//! refused and the table in service stays.
//!
//! Each target carries its gateway's id, and the carrier's when the rule
//! reached the gateway through a carrier (not when the rule names the
//! gateway itself), as [`super::IdKey`]s hashed once per table: what the
//! serial search admits it under (`[[limit]] key = "gateway:ID"`,
//! `"carrier:ID"`) before trying it.
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
//! `[routing] resolve_every_ms` by [`LcrTable::refresh_names`] (on the
//! runtime's refresher thread), so a gateway that moves is followed without a table push. The
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

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use trunkline_routing_tables::{
    CarrierId, DialplanScratch, GatewayId, SnapError, Snapshot, SnapshotHandle, format::Transport,
};

use super::{
    GroupName, IdKey, LcrRequest, MAX_TARGETS, NoRoute, ShardTargets, Target, TargetSource,
};
use crate::dns::{Hop, MAX_ADDRESSES, ResolveFn, Resolved, Resolver, srv_order};

/// Least-cost routing over the snapshot in service.
pub struct LcrTable {
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
    /// Host name (and port when written) → hops (the runtime gives the
    /// system's DNS resolver; tests give their own).
    resolver: Resolver,
    /// The file in service (what `reload` and SIGHUP re-read).
    path: Mutex<PathBuf>,
    no_route: u16,
    /// The seed of the shared path's next call ([`TargetSource::targets`]).
    shared_seed: AtomicU64,
    /// Every address the gateways of the table in service have (literal
    /// or looked up): what the flood defence asks about a source over its
    /// rate ([`LcrTable::is_gateway`]).
    gateway_ips: ArcSwap<HashSet<IpAddr>>,
}

impl std::fmt::Debug for LcrTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LcrTable")
            .field("handle", &self.handle)
            .field("names", &self.names)
            .field("path", &self.path)
            .field("no_route", &self.no_route)
            .finish_non_exhaustive()
    }
}

/// Looked-up gateway host names, keyed by the address as written (`name`
/// or `name:port`), with a generation that changes whenever they do (it
/// keys the shards' hop caches).
#[derive(Debug, Default)]
struct Names {
    generation: u64,
    map: HashMap<String, Resolved>,
}

/// A shard's own router over the [`LcrTable`]: the scratch a call needs,
/// the shard's cache of each gateway's hops, and its per-call seed. Made
/// by [`TargetSource::for_shard`]; owned by the shard's proxy core.
#[derive(Debug)]
pub struct LcrTableShard {
    table: Arc<LcrTable>,
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    dialplan: DialplanScratch,
    gateways: Vec<GatewayId>,
    /// The carrier each of `gateways` came through.
    via: Vec<Option<CarrierId>>,
    user: String,
    /// The seed of the per-call draws (weighted carriers, SRV order):
    /// moved on by a splitmix increment per call.
    seed: u64,
    /// Each gateway's hops in the snapshot and names of `dests_stamp`, as
    /// a range of `hops` (empty: not reachable here) and whether they are
    /// SRV hops, built on the first call that sees them.
    dests: Vec<(u32, u32, bool)>,
    hops: Vec<Hop>,
    /// Each gateway's key (a hash of its id: stable across tables, shared
    /// by its hops): what its caps are counted under, and its id for the
    /// call limits.
    gateway_keys: Vec<IdKey>,
    /// Each carrier's key, for the call limits.
    carrier_keys: Vec<IdKey>,
    dests_stamp: Option<(u64, u64)>,
}

/// The splitmix increment that moves a call's seed on.
const SEED_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

const NOT_ALLOWED: NoRoute = NoRoute {
    code: 403,
    reason: b"Source Not Allowed",
};
const NO_GATEWAY: NoRoute = NoRoute {
    code: 503,
    reason: b"No Gateway Available",
};

impl LcrTable {
    /// Opens and verifies the snapshot at `path`, looking its gateway host
    /// names up with `resolver`; `no_route` is the status for numbers no
    /// rule matches.
    pub fn open(path: &Path, no_route: u16, resolver: Resolver) -> Result<LcrTable, SnapError> {
        let snap = Snapshot::open(path)?;
        let map = resolve_names(&snap, &HashMap::new(), &*resolver);
        warn_unsupported(&snap, &map);
        let ips = gateway_ips(&snap, &map);
        Ok(LcrTable {
            gateway_ips: ArcSwap::from_pointee(ips),
            handle: SnapshotHandle::new(snap),
            names: ArcSwap::from_pointee(Names { generation: 0, map }),
            names_generation: AtomicU64::new(0),
            updating: Mutex::new(()),
            resolver,
            path: Mutex::new(path.to_path_buf()),
            no_route,
            shared_seed: AtomicU64::new(0),
        })
    }

    /// Looks the gateway host names of the table in service up again and
    /// publishes them if any hop changed (a name whose lookup fails now
    /// keeps its hops). Blocking: the runtime's refresher thread calls it
    /// every `[routing] resolve_every_ms` (the resolver caches answers for
    /// their TTL beneath). Returns the hops that changed, `None` if none did.
    pub fn refresh_names(&self) -> Option<String> {
        let _updating = lock(&self.updating);
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
        self.gateway_ips.store(Arc::new(gateway_ips(&snap, &map)));
        self.publish_names(old.generation + 1, map);
        // Only names of a replaced table pruned: nothing to report.
        (!changes.is_empty()).then(|| changes.join(", "))
    }

    /// Verifies the snapshot at `path` and looks its gateway names up,
    /// without putting it in service: the first half of a reload. Nothing
    /// changes until [`StagedTable::commit`]; dropping the stage keeps the
    /// table in service. Other loads and refreshes wait meanwhile.
    pub fn stage(&self, path: &Path) -> Result<StagedTable<'_>, String> {
        let snap = Snapshot::open(path).map_err(|e| e.to_string())?;
        let updating = lock(&self.updating);
        let old = self.names.load();
        let mut names = resolve_names(&snap, &old.map, &*self.resolver);
        warn_unsupported(&snap, &names);
        // The old table's names stay until the next refresh prunes them: a
        // shard may still read the old table with the new names.
        for (h, r) in old.map.iter() {
            names.entry(h.clone()).or_insert_with(|| r.clone());
        }
        Ok(StagedTable {
            table: self,
            snap,
            names,
            generation: old.generation + 1,
            path: path.to_path_buf(),
            _updating: updating,
        })
    }

    /// Verifies the snapshot at `path` and puts it in service; on any
    /// damage the table in service stays. Returns a one-line summary.
    pub fn load(&self, path: &Path) -> Result<String, String> {
        Ok(self.stage(path)?.commit())
    }

    fn publish_names(&self, generation: u64, map: HashMap<String, Resolved>) {
        self.names.store(Arc::new(Names { generation, map }));
        self.names_generation.store(generation, Ordering::Release);
    }

    /// Whether `ip` is an address of a gateway of the table in service
    /// (literal, or as last looked up): the flood defence lets such a
    /// source over `flood_pps` (a busy carrier answers at the rate of all
    /// the calls sent to it) instead of banning it.
    pub fn is_gateway(&self, ip: IpAddr) -> bool {
        self.gateway_ips.load().contains(&ip.to_canonical())
    }

    /// The file in service (what a reload re-reads).
    pub fn path(&self) -> PathBuf {
        lock(&self.path).clone()
    }

    /// A one-line description of the table in service.
    pub fn status(&self) -> String {
        summary(&self.handle.load())
    }
}

/// A verified table with its names looked up, ready to go into service
/// ([`LcrTable::stage`]).
#[derive(Debug)]
pub struct StagedTable<'t> {
    table: &'t LcrTable,
    snap: Snapshot,
    names: HashMap<String, Resolved>,
    generation: u64,
    path: PathBuf,
    _updating: MutexGuard<'t, ()>,
}

impl StagedTable<'_> {
    /// What goes into service: `path: N rules, ...`.
    pub fn summary(&self) -> String {
        summary(&self.snap)
    }

    /// Puts the table in service in one atomic swap (its names first: a
    /// shard that sees the new table finds them looked up). Calls already
    /// routed keep their gateways; the old mapping goes when the last
    /// lookup holding it ends. Returns the summary.
    pub fn commit(self) -> String {
        let summary = summary(&self.snap);
        let ips = gateway_ips(&self.snap, &self.names);
        self.table.gateway_ips.store(Arc::new(ips));
        self.table.publish_names(self.generation, self.names);
        self.table.handle.publish(self.snap);
        *lock(&self.table.path) = self.path;
        tracing::info!("routing table in service: {summary}");
        summary
    }
}

/// A lock that a panic elsewhere does not poison for good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
/// The addresses of `s`'s gateways: literal ones, and those `names`
/// resolved to.
fn gateway_ips(s: &Snapshot, names: &HashMap<String, Resolved>) -> HashSet<IpAddr> {
    let mut ips: HashSet<IpAddr> = s
        .table()
        .gateways
        .iter()
        .filter_map(|g| g.host.as_str().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    ips.extend(
        names
            .values()
            .flat_map(|r| r.hops.iter().map(|h| h.addr.ip().to_canonical())),
    );
    ips
}

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

impl LcrTable {
    /// The no-route answer this table gives.
    fn no_route(&self) -> NoRoute {
        NoRoute {
            code: self.no_route,
            reason: if self.no_route == 404 {
                b"No Route"
            } else {
                b"No Route To Destination"
            },
        }
    }

    /// Routes one call with `s` as scratch (see the module docs).
    fn route(
        &self,
        s: &mut Scratch,
        req: &LcrRequest<'_>,
        out: &mut Vec<Target>,
    ) -> Result<(), NoRoute> {
        let no_route = self.no_route();
        let Ok(number) = std::str::from_utf8(req.number) else {
            return Err(no_route);
        };
        let snap = self.handle.load();
        let table = snap.table();
        let group = match req.group {
            // A policy's `set_group`: a group the table lacks routes nothing.
            Some(name) => table.group_id(name).ok_or(NOT_ALLOWED)?,
            None => match table.group_for_source(req.source) {
                Some(g) => g,
                None => table.group_id("default").ok_or(NOT_ALLOWED)?,
            },
        };
        let Scratch {
            dialplan,
            gateways,
            via,
            user,
            seed,
            dests,
            hops,
            gateway_keys,
            carrier_keys,
            dests_stamp,
        } = s;
        let stamp = Some((snap.stamp(), self.names_generation.load(Ordering::Acquire)));
        if *dests_stamp != stamp {
            // The names are at least as new as the generation read.
            let names = self.names.load();
            dests.clear();
            hops.clear();
            gateway_keys.clear();
            for g in table.gateways.iter() {
                let start = hops.len() as u32;
                let srv = gateway_dests(g, &names.map, hops);
                dests.push((start, hops.len() as u32, srv));
                // The caps follow the gateway's id: not its index, which a
                // new table may change, nor one of its addresses.
                gateway_keys.push(IdKey::of(g.id.as_str()));
            }
            carrier_keys.clear();
            carrier_keys.extend(table.carriers.iter().map(|c| IdKey::of(c.id.as_str())));
            *dests_stamp = stamp;
        }
        let dialled = snap.apply_dialplan(group, number, dialplan);
        let Some(rule) = table.lookup(group, dialled.number, req.at) else {
            return Err(no_route);
        };
        // A different weighted order per call (splitmix increment).
        *seed = seed.wrapping_add(SEED_STEP);
        table.gateways_via(&rule, *seed, gateways, via);
        'gateways: for (&id, &carrier) in gateways.iter().zip(via.iter()) {
            let Some(g) = table.gateway(id) else { continue };
            let Some(&(start, end, srv)) = dests.get(id.0 as usize) else {
                continue;
            };
            let here = &hops[start as usize..end as usize];
            if here.is_empty() {
                continue;
            }
            let gateway_key = gateway_keys[id.0 as usize];
            let carrier_key = carrier.and_then(|c| carrier_keys.get(c.0 as usize).copied());
            g.rewrite(dialled.number, user);
            // Every hop in turn: SRV ones in an RFC 2782 order drawn
            // for this call (a stream of its own per gateway), others
            // from a different first one per call.
            let mut order = [0u8; MAX_ADDRESSES];
            let n = if srv {
                // Not the carriers' stream (gateways_for draws from the seed).
                let stream = (u64::from(id.0) + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
                srv_order(
                    here,
                    &mut fastrand::Rng::with_seed(*seed ^ stream),
                    &mut order,
                )
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
                        t.with_cap_key(gateway_key.get())
                            .with_cps_limit(g.cps_cap.to_native())
                            .with_concurrent_limit(g.concurrent_cap.to_native())
                            .with_id_keys(carrier_key, Some(gateway_key)),
                    );
                }
            }
        }
        if out.is_empty() {
            Err(NO_GATEWAY)
        } else {
            Ok(())
        }
    }
}

impl ShardTargets for LcrTableShard {
    fn targets(&mut self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        self.table.route(&mut self.scratch, req, out)
    }

    fn probed(&self, out: &mut Vec<SocketAddr>) {
        self.table.probed(out);
    }

    /// The ACL's group of `source`, else `default` when the table has one.
    fn source_group(&self, source: IpAddr) -> Option<GroupName> {
        let snap = self.table.handle.load();
        let table = snap.table();
        let g = table
            .group_for_source(source)
            .or_else(|| table.group_id("default"))?;
        GroupName::new(table.group_name(g)?)
    }

    fn gateway_id(&self, gateway: u32) -> Option<Box<str>> {
        let snap = self.table.handle.load();
        let g = snap.table().gateway(GatewayId(gateway))?;
        Some(g.id.as_str().into())
    }

    fn dispatch_set(&self, gateway: u32) -> Option<GroupName> {
        let snap = self.table.handle.load();
        let g = snap.table().gateway(GatewayId(gateway))?;
        super::dispatch_attr(g.attrs.as_str())
    }
}

impl TargetSource for LcrTable {
    /// Routes with fresh scratch (allocating), each call with the next
    /// seed of a table-wide sequence: shards use [`LcrTableShard`], which
    /// keeps its scratch, hop cache and seed.
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        let mut scratch = Scratch {
            seed: self.shared_seed.fetch_add(SEED_STEP, Ordering::Relaxed),
            ..Scratch::default()
        };
        self.route(&mut scratch, req, out)
    }

    fn for_shard(self: Arc<Self>, _shard: u16, seed: u64) -> Box<dyn ShardTargets> {
        Box::new(LcrTableShard {
            table: self,
            scratch: Scratch {
                seed,
                ..Scratch::default()
            },
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
