//! Lookups on the archived table, directly on the mapped bytes.
//!
//! **Layout (why).** Each (group, `+` or not) namespace holds its distinct
//! prefixes as entries sorted by key (`key.rs`: a prefix is a key range,
//! and ranges are nested or disjoint), each entry a 24-byte record with its
//! key, and a directory of about four buckets per entry indexed by the
//! key's top bits (at most 2^24 per namespace). A lookup encodes the number
//! (no allocation), reads one directory slot pair, searches the bucket
//! (usually zero or one entry: the answer is then that entry or the one
//! before) for the last key at or below the number's, and, if that prefix
//! does not cover the number (about one lookup in nine on generated decks)
//! or none of its rules' windows is open, walks the entry's parent chain
//! (its enclosing prefixes, at most 18). Entries whose first rule has no
//! window are flagged and carry that rule's target list, so the common
//! case reads no rule (no third cache miss, also when the call's gateways
//! are expanded) and does no time arithmetic. A rule with a window compares its days and minutes with the
//! call's minute of the week on the window's clock: UTC, or its zone's
//! local time, whose offset at the call's instant is a binary search in the
//! zone's transitions (`zone.rs`).
//!
//! So a lookup is two dependent cache misses in a large table (directory,
//! entry), against one per digit (~13) for a 10-ary trie and one probe per
//! candidate length for per-length hash tables. The directory density was
//! chosen by measurement on a 10M-prefix deck (`benches/RESULTS.md`): one
//! bucket per four entries p50 ~870 ns, one per entry ~550 ns, two per
//! entry ~470 ns, four per entry ~400 ns (+26 % file size against one per
//! four; 1.22x the rules CSV).

use std::net::IpAddr;

use crate::format::{
    ALWAYS_OPEN, ArchivedCarrier, ArchivedEntry, ArchivedGateway, ArchivedOrder,
    ArchivedRoutingTable, ArchivedRule, ArchivedTransport, CARRIER_BIT, NONE, Transport,
};
use crate::key;
use crate::window::{At, WeekMinute, Window};

/// A routing group (customer/trunk class): an index into the table's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u32);

/// A gateway: an index into the table's gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayId(pub u32);

/// A carrier: an index into the table's carriers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CarrierId(pub u32);

/// A matched rule, borrowed from the table.
#[derive(Debug, Clone, Copy)]
pub struct RuleRef<'a> {
    pub(crate) table: &'a ArchivedRoutingTable,
    /// Namespace (group * 2 + plus).
    pub(crate) ns: u32,
    /// Entry index.
    pub(crate) entry: u32,
    /// Rule index.
    pub(crate) rule: u32,
    /// The rule's target list (from the entry when it is the always-open
    /// first rule: the rule itself is not read to route a call).
    pub(crate) targets: u32,
}

impl ArchivedRoutingTable {
    /// The group named `name`.
    pub fn group_id(&self, name: &str) -> Option<GroupId> {
        self.groups
            .binary_search_by(|g| g.as_str().cmp(name))
            .ok()
            .map(|i| GroupId(i as u32))
    }

    /// The name of `group`.
    pub fn group_name(&self, group: GroupId) -> Option<&str> {
        self.groups.get(group.0 as usize).map(|g| g.as_str())
    }

    /// The routing group of a call from `addr`: the longest matching ACL
    /// CIDR. IPv4 and IPv4-mapped IPv6 addresses match IPv4 entries.
    pub fn group_for_source(&self, addr: IpAddr) -> Option<GroupId> {
        let ip = match addr {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) => u128::from(a),
        };
        let n = self.acl.partition_point(|e| e.start.to_native() <= ip);
        let mut i = n.checked_sub(1)? as u32;
        while i != NONE {
            let e = self.acl.get(i as usize)?;
            if ip <= e.end.to_native() {
                return Some(GroupId(e.group.to_native()));
            }
            i = e.parent.to_native();
        }
        None
    }

    /// Longest-prefix match of `number` (`+` then digits, or digits) in
    /// `group`: the first rule, by priority, whose window is open at `at`
    /// (on the window's own clock: UTC or its zone's local time), on the
    /// longest prefix that has one. `None` for no match or a number with
    /// other characters. Allocation-free.
    #[inline]
    pub fn lookup(&self, group: GroupId, number: &str, at: At) -> Option<RuleRef<'_>> {
        let (plus, digits) = match number.as_bytes() {
            [b'+', rest @ ..] => (1, rest),
            d => (0, d),
        };
        let ns_id = group.0.checked_mul(2)? + plus;
        let ns = self.namespaces.get(ns_id as usize)?;
        let key = key::encode(digits)?;
        let (start, end) = (ns.start.to_native() as usize, ns.end.to_native() as usize);
        if start == end {
            return None;
        }
        let bits = u32::from(ns.bucket_bits);
        let b = ns.bucket_start.to_native() as usize + (key >> (63 - bits)) as usize;
        let lo = start + self.buckets.get(b)?.to_native() as usize;
        let hi = start + self.buckets.get(b + 1)?.to_native() as usize;
        let bucket = self.entries.get(lo..hi)?;
        let below = bucket.partition_point(|e| e.key.to_native() <= key);
        let mut i = (lo + below).checked_sub(1)?;
        if i < start {
            return None;
        }
        loop {
            let entry = self.entries.get(i)?;
            let k = entry.key.to_native();
            if key < k + key::span(usize::from(entry.len)) {
                if let Some((rule, targets)) = self.open_rule(entry, at) {
                    return Some(RuleRef {
                        table: self,
                        ns: ns_id,
                        entry: i as u32,
                        rule,
                        targets,
                    });
                }
            }
            let p = entry.parent.to_native();
            if p == NONE {
                return None;
            }
            i = p as usize;
        }
    }

    /// The first rule of `entry` open at `at`, and its target list.
    #[inline]
    fn open_rule(&self, entry: &ArchivedEntry, at: At) -> Option<(u32, u32)> {
        let start = entry.rules_start.to_native();
        if entry.flags & ALWAYS_OPEN != 0 {
            return Some((start, entry.first_targets.to_native()));
        }
        let len = u32::from(entry.rules_len.to_native());
        (start..start + len).find_map(|r| {
            let rule = self.rules.get(r as usize)?;
            self.rule_open(rule, at)
                .then(|| (r, rule.targets.to_native()))
        })
    }

    /// Whether `rule`'s window is open at `at`.
    #[inline]
    fn rule_open(&self, rule: &ArchivedRule, at: At) -> bool {
        rule.win_days == 0 || window(rule).contains(self.rule_minute(rule, at))
    }

    /// The minute of the week `at` on `rule`'s clock: UTC, or its zone's.
    #[inline]
    fn rule_minute(&self, rule: &ArchivedRule, at: At) -> WeekMinute {
        at.week_minute(self.zone_offset(rule.win_zone.to_native(), at))
    }

    /// Gateway `id`.
    pub fn gateway(&self, id: GatewayId) -> Option<&ArchivedGateway> {
        self.gateways.get(id.0 as usize)
    }

    /// The gateway with operator id `id`.
    pub fn gateway_by_id(&self, id: &str) -> Option<GatewayId> {
        self.gateways
            .binary_search_by(|g| g.id.as_str().cmp(id))
            .ok()
            .map(|i| GatewayId(i as u32))
    }

    /// Carrier `id`.
    pub fn carrier(&self, id: CarrierId) -> Option<&ArchivedCarrier> {
        self.carriers.get(id.0 as usize)
    }

    /// Expands `rule`'s targets into the ordered gateway list in `out`
    /// (cleared first): gateways as listed; a carrier's members in order,
    /// or shuffled by weight (from `seed`: the same seed, the same order);
    /// only the first member of a `use = first` carrier; a gateway already
    /// in the list is not added again. Allocation-free once `out` has grown
    /// to the longest list.
    pub fn gateways_for(&self, rule: &RuleRef<'_>, seed: u64, out: &mut Vec<GatewayId>) {
        self.expand(rule, seed, out, None);
    }

    /// [`ArchivedRoutingTable::gateways_for`], and in `via` (cleared
    /// first, as long as `out`) the carrier each gateway came through:
    /// `None` for a gateway the rule names itself. A gateway reached
    /// twice keeps its first place and the carrier of that place.
    pub fn gateways_via(
        &self,
        rule: &RuleRef<'_>,
        seed: u64,
        out: &mut Vec<GatewayId>,
        via: &mut Vec<Option<CarrierId>>,
    ) {
        via.clear();
        self.expand(rule, seed, out, Some(via));
    }

    fn expand(
        &self,
        rule: &RuleRef<'_>,
        seed: u64,
        out: &mut Vec<GatewayId>,
        mut via: Option<&mut Vec<Option<CarrierId>>>,
    ) {
        out.clear();
        let mut rng = fastrand::Rng::with_seed(seed);
        let list = rule.targets as usize;
        let (Some(a), Some(b)) = (
            self.target_offsets.get(list),
            self.target_offsets.get(list + 1),
        ) else {
            return;
        };
        for t in self
            .targets
            .get(a.to_native() as usize..b.to_native() as usize)
            .unwrap_or(&[])
        {
            let t = t.to_native();
            if t & CARRIER_BIT == 0 {
                push_unique(out, GatewayId(t));
                if let Some(v) = via.as_deref_mut() {
                    v.resize(out.len(), None);
                }
                continue;
            }
            let carrier = CarrierId(t & !CARRIER_BIT);
            let Some(c) = self.carrier(carrier) else {
                continue;
            };
            let members = self
                .members
                .get(c.members_start.to_native() as usize..c.members_end.to_native() as usize)
                .unwrap_or(&[]);
            let base = out.len();
            for m in members {
                let g = GatewayId(m.gateway.to_native());
                if !out[..base].contains(&g) && !out[base..].contains(&g) {
                    out.push(g);
                }
            }
            if matches!(c.order, ArchivedOrder::Weighted) {
                self.weighted_shuffle(&mut out[base..], members, &mut rng);
            }
            if c.first_only {
                out.truncate((base + 1).min(out.len()));
            }
            if let Some(v) = via.as_deref_mut() {
                v.resize(out.len(), Some(carrier));
            }
        }
    }

    /// Orders `slice` by repeated weighted draws without replacement.
    fn weighted_shuffle(
        &self,
        slice: &mut [GatewayId],
        members: &[crate::format::ArchivedMember],
        rng: &mut fastrand::Rng,
    ) {
        let weight = |g: GatewayId| {
            members
                .iter()
                .find(|m| m.gateway.to_native() == g.0)
                .map_or(0, |m| u64::from(m.weight.to_native()))
        };
        for i in 0..slice.len() {
            let total: u64 = slice[i..].iter().map(|&g| weight(g)).sum();
            if total == 0 {
                break; // the rest have weight 0: keep them in listed order
            }
            let mut pick = rng.u64(0..total);
            for j in i..slice.len() {
                let w = weight(slice[j]);
                if pick < w {
                    slice.swap(i, j);
                    break;
                }
                pick -= w;
            }
        }
    }
}

fn push_unique(out: &mut Vec<GatewayId>, g: GatewayId) {
    if !out.contains(&g) {
        out.push(g);
    }
}

/// The window of an archived rule.
#[inline]
fn window(rule: &ArchivedRule) -> Window {
    Window {
        days: rule.win_days,
        start: rule.win_start.to_native(),
        end: rule.win_end.to_native(),
    }
}

impl<'a> RuleRef<'a> {
    fn rule_record(&self) -> &'a ArchivedRule {
        &self.table.rules[self.rule as usize]
    }

    /// The rule's index in the table.
    pub fn index(&self) -> u32 {
        self.rule
    }

    /// The routing group.
    pub fn group(&self) -> GroupId {
        GroupId(self.ns / 2)
    }

    /// The matched prefix as written (with its `+`).
    pub fn prefix(&self) -> String {
        let mut s = String::new();
        if self.ns % 2 == 1 {
            s.push('+');
        }
        let e = &self.table.entries[self.entry as usize];
        key::decode_into(e.key.to_native(), usize::from(e.len), &mut s);
        s
    }

    /// Prefix length in digits.
    pub fn prefix_len(&self) -> usize {
        usize::from(self.table.entries[self.entry as usize].len)
    }

    /// Priority (lower first).
    pub fn priority(&self) -> i32 {
        self.rule_record().priority.to_native()
    }

    /// Time window (days and minutes on the clock of [`RuleRef::zone`]).
    pub fn window(&self) -> Window {
        window(self.rule_record())
    }

    /// The window's time zone; `None` for UTC (and for no window).
    pub fn zone(&self) -> Option<&'a str> {
        self.table
            .zone_name(self.rule_record().win_zone.to_native())
    }

    /// The window as written in `rules.csv`, zone included
    /// (`mon,tue 09:00-17:00 Europe/London`); empty for no window.
    pub fn window_text(&self) -> String {
        match self.zone() {
            Some(z) => format!("{} {z}", self.window()),
            None => self.window().to_string(),
        }
    }

    /// The window's clock at `at`: its UTC offset in seconds (0 for UTC)
    /// and the minute of the week the window is compared with.
    pub fn clock(&self, at: At) -> (i32, WeekMinute) {
        let rule = self.rule_record();
        let zone = rule.win_zone.to_native();
        let offset = self.table.zone_offset(zone, at);
        (offset, at.week_minute(offset))
    }

    /// Attributes.
    pub fn attrs(&self) -> &'a str {
        let i = self.rule_record().attrs.to_native() as usize;
        self.table.attrs.get(i).map_or("", |a| a.as_str())
    }

    /// Line in the rules file.
    pub fn line(&self) -> u32 {
        self.rule_record().line.to_native()
    }

    /// The target ids as written (gateway and carrier ids).
    pub fn target_ids(&self) -> impl Iterator<Item = &'a str> + 'a {
        let t = self.table;
        let list = self.rule_record().targets.to_native() as usize;
        let a = t.target_offsets[list].to_native() as usize;
        let b = t.target_offsets[list + 1].to_native() as usize;
        t.targets[a..b].iter().map(move |x| {
            let x = x.to_native();
            if x & CARRIER_BIT == 0 {
                t.gateways[x as usize].id.as_str()
            } else {
                t.carriers[(x & !CARRIER_BIT) as usize].id.as_str()
            }
        })
    }
}

impl ArchivedGateway {
    /// The transport.
    pub fn transport(&self) -> Transport {
        match self.transport {
            ArchivedTransport::Udp => Transport::Udp,
            ArchivedTransport::Tcp => Transport::Tcp,
            ArchivedTransport::Tls => Transport::Tls,
        }
    }

    /// `host:port` (`[v6]:port` for IPv6 literals), the port 5060 when
    /// none was written.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The address as written: [`ArchivedGateway::address`] without the
    /// port when none was given (`host`, `[v6]`), since a host name without
    /// a port is looked up with SRV (RFC 3263 §4.2).
    pub fn address_as_written(&self) -> String {
        match (self.port_given, self.host.contains(':')) {
            (true, _) => self.address(),
            (false, true) => format!("[{}]", self.host),
            (false, false) => self.host.to_string(),
        }
    }

    /// The number as sent to this gateway: `strip` leading characters
    /// removed (a leading `+` counts as one), then `prefix` prepended,
    /// written into `out`.
    pub fn rewrite(&self, number: &str, out: &mut String) {
        out.clear();
        out.push_str(self.prefix.as_str());
        let strip = usize::from(self.strip).min(number.len());
        out.push_str(number.get(strip..).unwrap_or(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BuildInputs, Snapshot, Source, build};

    #[test]
    fn gateways_via_names_the_carrier_each_gateway_came_through() {
        let built = build(BuildInputs {
            gateways: Source::bytes(
                "gateways.csv",
                "id,address\na,192.0.2.1\nb,192.0.2.2\nc,192.0.2.3\nd,192.0.2.4\n",
            ),
            carriers: Some(Source::bytes(
                "carriers.csv",
                "id,gateways,order,use\nx,a;b,ordered,all\ny,c;d;a,ordered,first\nz,b;d,ordered,all\n",
            )),
            // b first by itself; x adds a (b already there); y only c;
            // z adds d.
            rules: Source::bytes("rules.csv", "group,prefix,targets\ndefault,1,b;x;y;z\n"),
            dialplan: None,
            acl: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let snap = Snapshot::from_bytes("t", &built.to_bytes(0)).unwrap();
        let t = snap.table();
        let rule = t
            .lookup(t.group_id("default").unwrap(), "1555", At::from_unix(0))
            .unwrap();
        let (mut out, mut via) = (Vec::new(), Vec::new());
        t.gateways_via(&rule, 7, &mut out, &mut via);
        let named = |g: &GatewayId, c: &Option<CarrierId>| {
            let carrier = c.map(|c| t.carrier(c).unwrap().id.as_str());
            (t.gateway(*g).unwrap().id.as_str(), carrier)
        };
        let got: Vec<_> = out.iter().zip(&via).map(|(g, c)| named(g, c)).collect();
        assert_eq!(
            got,
            [
                ("b", None),
                ("a", Some("x")),
                ("c", Some("y")),
                ("d", Some("z"))
            ]
        );
        let mut plain = Vec::new();
        t.gateways_for(&rule, 7, &mut plain);
        assert_eq!(plain, out);
    }
}
