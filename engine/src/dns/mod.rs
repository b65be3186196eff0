//! Host names (RFC 3263 §4): everything about DNS in one module.
//!
//! - here: what a lookup found ([`Resolved`]: SRV records' targets or
//!   A/AAAA addresses, as [`Hop`]s), the order one call or request tries
//!   them in ([`srv_order`], RFC 2782), and the question asked
//!   ([`NameQuery`]); a [`Resolver`] answers it.
//! - [`cache`]: a shard's cache of looked-up next-hop names and the
//!   requests parked while a name is looked up (sans-IO, driven with `now`).
//! - `resolver` (feature `runtime`): [`DnsResolver`], hickory-resolver
//!   on a small tokio runtime of its own, and the system resolver that is
//!   made again when `/etc/resolv.conf` or `/etc/hosts` changes.
//! - `lookups` (feature `runtime`): the threads that look next-hop names
//!   up off the shards.
//!
//! Users: least-cost routing's gateway names ([`crate::lcr::table`]) and
//! the proxy core's next hops given by name ([`crate::proxy`]).

pub mod cache;
#[cfg(feature = "runtime")]
pub(crate) mod lookups;
#[cfg(feature = "runtime")]
mod resolver;

#[cfg(feature = "runtime")]
pub use resolver::{DnsResolver, reloading_resolver, system_resolver};

use std::sync::Arc;

use std::net::{IpAddr, SocketAddr};

/// The most hops of one host name kept (A/AAAA: in resolver
/// order, IPv4 first; SRV: the lowest priorities): each is a try of the
/// call's, and a call tries at most
/// [`MAX_TARGETS`](crate::lcr::MAX_TARGETS) in all.
pub const MAX_ADDRESSES: usize = 8;

/// One place a host name (a gateway, or a next hop) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    /// Address and port.
    pub addr: SocketAddr,
    /// SRV priority (lower first); 0 for A/AAAA addresses.
    pub priority: u16,
    /// SRV weight; 0 for A/AAAA addresses.
    pub weight: u16,
    /// Which SRV record the hop came from (a record's target may have
    /// several addresses: they are tried one after the other); 0 for
    /// A/AAAA addresses.
    pub record: u16,
}

/// What a lookup of a host name found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The hops come from SRV records: ordered per call by priority and
    /// weight (RFC 2782). Otherwise they are A/AAAA addresses, tried in
    /// turn from a first one that rotates per call.
    pub srv: bool,
    /// The hops. Empty with `srv`: every SRV record's target was `.`
    /// (the service is not available at this name).
    pub hops: Vec<Hop>,
}

impl Resolved {
    /// A/AAAA addresses, at `port`, in the order given.
    pub fn addresses(ips: impl IntoIterator<Item = IpAddr>, port: u16) -> Resolved {
        Resolved {
            srv: false,
            hops: ips
                .into_iter()
                .map(|ip| Hop {
                    addr: SocketAddr::new(ip, port),
                    priority: 0,
                    weight: 0,
                    record: 0,
                })
                .collect(),
        }
    }

    /// A/AAAA addresses with their ports, in the order given.
    pub fn of(addrs: impl IntoIterator<Item = SocketAddr>) -> Resolved {
        Resolved {
            srv: false,
            hops: addrs
                .into_iter()
                .map(|addr| Hop {
                    addr,
                    priority: 0,
                    weight: 0,
                    record: 0,
                })
                .collect(),
        }
    }

    /// Puts SRV hops in the order the per-call draw expects (by priority,
    /// weight-0 records first within a priority, records kept together)
    /// and keeps at most [`MAX_ADDRESSES`] hops.
    pub(crate) fn normalise(&mut self) {
        if self.srv {
            self.hops
                .sort_by_key(|h| (h.priority, h.weight != 0, h.record));
        }
        self.hops.truncate(MAX_ADDRESSES);
    }

    /// `ADDR...`, or `ADDR/PRIORITY/WEIGHT...` for SRV hops, for logs.
    pub(crate) fn describe(&self) -> String {
        if self.hops.is_empty() {
            return "(none)".to_string();
        }
        self.hops
            .iter()
            .map(|h| match self.srv {
                true => format!("{}/{}/{}", h.addr, h.priority, h.weight),
                false => h.addr.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The order a call (or request) tries a name's SRV hops in, as indexes of `hops`
/// written to `order` (RFC 2782): priorities lowest first; within one,
/// records drawn one after another, each with a chance proportional to
/// its weight among those left, a weight-0 record (placed first by
/// [`Resolved::normalise`]) being drawn only when the number drawn is 0
/// (then evenly among the weight-0 records left); a record's hops one
/// after the other. `hops` are as normalised, at most
/// [`MAX_ADDRESSES`]. Returns how many indexes were written. No allocation.
pub(crate) fn srv_order(
    hops: &[Hop],
    rng: &mut fastrand::Rng,
    order: &mut [u8; MAX_ADDRESSES],
) -> usize {
    let hops = &hops[..hops.len().min(MAX_ADDRESSES)];
    // Records: (first hop, number of hops).
    let mut records = [(0u8, 0u8); MAX_ADDRESSES];
    let mut n = 0;
    for (i, h) in hops.iter().enumerate() {
        if i > 0 && h.record == hops[i - 1].record {
            records[n - 1].1 += 1;
        } else {
            records[n] = (i as u8, 1);
            n += 1;
        }
    }
    let weight = |r: (u8, u8)| u64::from(hops[usize::from(r.0)].weight);
    let priority = |r: (u8, u8)| hops[usize::from(r.0)].priority;
    let mut written = 0;
    let mut from = 0;
    while from < n {
        let mut to = from + 1;
        while to < n && priority(records[to]) == priority(records[from]) {
            to += 1;
        }
        for i in from..to {
            let total: u64 = records[i..to].iter().map(|&r| weight(r)).sum();
            // Weight-0 records lead the group (normalised); RFC 2782 lets
            // them come in any order, so the one a draw of 0 lands on is
            // chosen evenly among them: records that all weigh 0 then share
            // the calls instead of the first taking every one.
            let zeros = records[i..to]
                .iter()
                .take_while(|&&r| weight(r) == 0)
                .count();
            let pick = rng.u64(0..=total);
            let mut j = to - 1;
            if pick == 0 && zeros > 0 {
                j = i + rng.usize(0..zeros);
            } else {
                let mut running = 0;
                for (k, &r) in records.iter().enumerate().take(to).skip(i) {
                    running += weight(r);
                    if running >= pick {
                        j = k;
                        break;
                    }
                }
            }
            // The drawn record goes to `i`; the others keep their order.
            records[i..=j].rotate_right(1);
            let (first, len) = records[i];
            for h in first..first + len {
                order[written] = h;
                written += 1;
            }
        }
        from = to;
    }
    written
}

/// Looks a host name up: `Some(port)` when it was written with a port
/// (A/AAAA only), `None` when not (SRV first, RFC 3263 §4.2). `Err` is a
/// failed lookup, saying what failed. Blocking: called off the shards
/// only (table loading and refresh threads, the lookup threads).
pub type Resolver = Arc<ResolveFn>;

/// What a [`Resolver`] calls.
pub type ResolveFn = dyn Fn(&str, Option<u16>) -> Result<Resolved, String> + Send + Sync;

/// The longest host name (RFC 1035 §2.3.4: 255 octets).
pub const MAX_NAME: usize = 255;

/// A name to look up: a host name as the URI gave it, and the port when
/// the URI had one (then A/AAAA only; without, SRV first).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NameQuery {
    /// The host name, lower-cased.
    pub name: String,
    /// The URI's port, if it had one.
    pub port: Option<u16>,
}

impl NameQuery {
    /// The query for `name` (ASCII, any case) and `port`; `None` when the
    /// name is empty, longer than [`MAX_NAME`] or not printable ASCII.
    pub fn new(name: &[u8], port: Option<u16>) -> Option<NameQuery> {
        let mut buf = [0; MAX_NAME];
        let key = NameRef::new(name, port, &mut buf)?;
        Some(key.to_query())
    }
}

/// A [`NameQuery`] borrowed from a lower-casing buffer on the stack, to
/// look names up without allocating. Hashes as the owned query does
/// (`str`, then the port).
#[derive(Debug, Hash)]
pub struct NameRef<'b> {
    name: &'b str,
    port: Option<u16>,
}

impl<'b> NameRef<'b> {
    /// `name` lower-cased into `buf`; `None` when it is empty, longer than
    /// [`MAX_NAME`] or not printable ASCII.
    pub fn new(name: &[u8], port: Option<u16>, buf: &'b mut [u8; MAX_NAME]) -> Option<Self> {
        if name.is_empty() || name.len() > MAX_NAME || !name.iter().all(u8::is_ascii_graphic) {
            return None;
        }
        let out = &mut buf[..name.len()];
        for (o, b) in out.iter_mut().zip(name) {
            *o = b.to_ascii_lowercase();
        }
        let name = core::str::from_utf8(out).ok()?;
        Some(NameRef { name, port })
    }

    /// The owned query.
    pub fn to_query(&self) -> NameQuery {
        NameQuery {
            name: self.name.to_string(),
            port: self.port,
        }
    }
}

impl hashbrown::Equivalent<NameQuery> for NameRef<'_> {
    fn equivalent(&self, q: &NameQuery) -> bool {
        self.name == q.name && self.port == q.port
    }
}
