//! Address blocks (`192.0.2.0/24`, `2001:db8::/32`, or one address) and
//! sets of them, as the policy's `source` condition and the trusted
//! sources name them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One address block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network, its host bits cleared.
    net: u128,
    /// The prefix length, 0..=32 (IPv4) or 0..=128 (IPv6).
    len: u8,
    v4: bool,
}

/// Why a block does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an address block: write `192.0.2.0/24`, `2001:db8::/32` or one address")]
pub struct BadCidr(pub String);

impl Cidr {
    /// Whether `ip` lies in the block (an IPv4 block holds IPv4
    /// addresses, and IPv4-mapped IPv6 ones).
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v, v4) = bits(ip);
        if v4 != self.v4 {
            return false;
        }
        let width = if self.v4 { 32 } else { 128 };
        mask(self.len, width) & v == self.net
    }
}

/// An address as 128 bits (IPv4 in the low 32) and whether it is IPv4.
#[inline]
fn bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), true),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(m) => (u128::from(u32::from(m)), true),
            None => (u128::from(a), false),
        },
    }
}

/// The mask of a `len`-bit prefix in a `width`-bit address.
#[inline]
fn mask(len: u8, width: u8) -> u128 {
    if len == 0 {
        0
    } else {
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !(all >> len)
    }
}

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Cidr, BadCidr> {
        let bad = || BadCidr(s.to_string());
        let (addr, len) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
            None => (s.trim(), None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let (v, v4) = bits(ip);
        let width = if v4 { 32 } else { 128 };
        let len = len.unwrap_or(width);
        if len > width {
            return Err(bad());
        }
        Ok(Cidr {
            net: v & mask(len, width),
            len,
            v4,
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v4 {
            write!(
                f,
                "{}/{}",
                std::net::Ipv4Addr::from(self.net as u32),
                self.len
            )
        } else {
            write!(f, "{}/{}", std::net::Ipv6Addr::from(self.net), self.len)
        }
    }
}

/// A set of blocks: whether an address is in any of them. A few dozen
/// blocks per set (a policy rule's sources, the trusted trunks): the
/// blocks are kept longest prefix first and tested in turn, with no
/// allocation per lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrSet {
    blocks: Vec<Cidr>,
}

impl CidrSet {
    /// The set of `blocks`.
    pub fn new(blocks: impl IntoIterator<Item = Cidr>) -> CidrSet {
        let mut blocks: Vec<Cidr> = blocks.into_iter().collect();
        blocks.sort_by(|a, b| b.len.cmp(&a.len).then(a.net.cmp(&b.net)));
        blocks.dedup();
        CidrSet { blocks }
    }

    /// Whether `ip` is in a block of the set.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// Whether the set has no block.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_parse_and_match() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains(ip("192.0.2.77")));
        assert!(c.contains(ip("::ffff:192.0.2.1")));
        assert!(!c.contains(ip("192.0.3.1")));
        assert!(!c.contains(ip("2001:db8::1")));
        let one: Cidr = "127.0.0.2".parse().unwrap();
        assert!(one.contains(ip("127.0.0.2")) && !one.contains(ip("127.0.0.3")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("::1")));
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "host/8",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let set = CidrSet::new(["10.0.0.0/8".parse().unwrap(), one]);
        assert!(set.contains(ip("10.9.9.9")) && set.contains(ip("127.0.0.2")));
        assert!(!set.contains(ip("127.0.0.1")));
    }
}
