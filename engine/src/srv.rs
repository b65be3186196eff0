//! Where a host name leads (RFC 3263 §4.2): its hops (SRV records' targets
//! or A/AAAA addresses) and the order one call or request tries them in
//! (RFC 2782). Shared by least-cost routing's gateway names
//! ([`crate::routing`]) and the proxy core's next hops given by name
//! ([`crate::proxy::dns`]).

use std::net::{IpAddr, SocketAddr};

use trunkline_routing_tables::SplitMix;

/// The most hops of one host name kept (A/AAAA: in resolver
/// order, IPv4 first; SRV: the lowest priorities): each is a try of the
/// call's, and a call tries at most
/// [`MAX_TARGETS`](crate::proxy::MAX_TARGETS) in all.
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
    rng: &mut SplitMix,
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
            let pick = rng.draw() % (total + 1);
            let mut j = to - 1;
            if pick == 0 && zeros > 0 {
                j = i + (rng.draw() % zeros as u64) as usize;
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
