//! Each source's share of the transaction table: a flood of requests from
//! one source (that nobody answers, so its transactions live for Timer B
//! or H) must not fill the table and leave every other caller with 503.
//!
//! Below half the cap every new server transaction is admitted. From half
//! the cap on (under pressure), a source already holding its fair share
//! of the table, `max_live / 2` divided among the sources holding live
//! server transactions (at least [`MIN_SHARE`]), is refused; at the cap
//! everyone is. So a flooder that filled the first half gets nothing more
//! while the sources it crowds out still find room in the second half,
//! and its share shrinks as its transactions end.
//!
//! Sources are counted by IP address (an IPv6 one by its /64: one host
//! owns the whole /64), only while they hold live server transactions:
//! the map never holds more entries than there are transactions.

use std::net::IpAddr;

use core::hash::BuildHasher;
use hashbrown::HashTable;

/// The fewest server transactions a source may always hold under
/// pressure, however many sources share the table.
pub const MIN_SHARE: usize = 16;

/// Live server transactions per source.
#[derive(Debug)]
pub(super) struct Shares {
    counts: HashTable<(u128, u32)>,
    hasher: foldhash::fast::FixedState,
}

/// A source's key: its IPv4 address, or its IPv6 /64.
#[inline]
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) | (1 << 127),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)) | (1 << 127),
            None => u128::from(v6) & !((1u128 << 64) - 1) & !(1 << 127),
        },
    }
}

impl Shares {
    pub fn new(seed: u64) -> Shares {
        Shares {
            counts: HashTable::new(),
            hasher: foldhash::fast::FixedState::with_seed(seed ^ 0x5348_4152_4553),
        }
    }

    /// Sources holding live server transactions.
    pub fn sources(&self) -> usize {
        self.counts.len()
    }

    /// Server transactions `ip` holds.
    pub fn of(&self, ip: IpAddr) -> usize {
        let k = key(ip);
        self.counts
            .find(self.hasher.hash_one(k), |e| e.0 == k)
            .map_or(0, |e| e.1 as usize)
    }

    /// Whether `ip` may open one more server transaction with `live` of
    /// `max_live` in the table.
    pub fn admits(&self, ip: IpAddr, live: usize, max_live: usize) -> bool {
        if live >= max_live {
            return false;
        }
        if live < max_live / 2 {
            return true;
        }
        let fair = (max_live / 2 / self.sources().max(1)).max(MIN_SHARE);
        self.of(ip) < fair
    }

    pub fn add(&mut self, ip: IpAddr) {
        let k = key(ip);
        let h = self.hasher.hash_one(k);
        let hasher = &self.hasher;
        match self.counts.entry(h, |e| e.0 == k, |e| hasher.hash_one(e.0)) {
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().1 += 1,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((k, 1));
            }
        }
    }

    pub fn remove(&mut self, ip: IpAddr) {
        let k = key(ip);
        let h = self.hasher.hash_one(k);
        if let Ok(mut o) = self.counts.find_entry(h, |e| e.0 == k) {
            if o.get().1 > 1 {
                o.get_mut().1 -= 1;
            } else {
                o.remove();
            }
        }
    }

    /// Gives back the map's memory beyond what its entries need.
    pub fn shrink(&mut self) {
        let hasher = &self.hasher;
        self.counts
            .shrink_to(self.counts.len(), |e| hasher.hash_one(e.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_source_over_its_share_is_refused_under_pressure_only() {
        let mut s = Shares::new(1);
        let flooder = ip("192.0.2.66");
        for _ in 0..600 {
            s.add(flooder);
        }
        // Below half of 1000: admitted whatever it holds.
        assert!(s.admits(flooder, 499, 1000));
        // Under pressure: the flooder holds more than 500 / 1.
        assert!(!s.admits(flooder, 600, 1000));
        // A newcomer is admitted, up to its share.
        let caller = ip("198.51.100.7");
        assert!(s.admits(caller, 600, 1000));
        for _ in 0..249 {
            s.add(caller);
        }
        // Two sources: 250 each.
        assert!(s.admits(caller, 849, 1000));
        s.add(caller);
        assert!(!s.admits(caller, 850, 1000));
        // At the cap nobody is.
        assert!(!s.admits(ip("203.0.113.1"), 1000, 1000));
        // The flooder's transactions end: its entry goes.
        for _ in 0..600 {
            s.remove(flooder);
        }
        assert_eq!(s.of(flooder), 0);
        assert_eq!(s.sources(), 1);
    }

    #[test]
    fn a_host_is_its_ipv6_slash_64_and_mapped_ipv4_is_ipv4() {
        let mut s = Shares::new(2);
        s.add(ip("2001:db8:1:2::1"));
        s.add(ip("2001:db8:1:2:ffff::9"));
        assert_eq!(s.of(ip("2001:db8:1:2::77")), 2);
        assert_eq!(s.of(ip("2001:db8:1:3::1")), 0);
        s.add(ip("::ffff:192.0.2.1"));
        assert_eq!(s.of(ip("192.0.2.1")), 1);
        assert_eq!(s.sources(), 2);
        // The minimum share holds however many sources there are.
        for i in 0..100u8 {
            s.add(IpAddr::from([10, 0, 0, i]));
        }
        assert!(s.admits(ip("10.0.0.1"), 900, 1000));
    }
}
