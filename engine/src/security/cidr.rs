//! CIDR prefixes and a prefix set (IPv4 and IPv6) for "is this source
//! one of ours": pike's trusted sources, and any stage that matches on a
//! source (the request policy's `source` condition).
//!
//! The set is a trie of 4-bit strides: a lookup reads at most 8 nodes for
//! IPv4 and 32 for IPv6 (O(prefix length)), stops at the first prefix
//! that covers the address (any-match: a set answers "covered or not",
//! not which prefix) and allocates nothing. An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`) is looked up as its IPv4 address. Memory: at most
//! 8 (IPv4) or 32 (IPv6) nodes of 68 bytes per prefix inserted, bounded
//! by the configuration that lists them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a prefix could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Neither `address` nor `address/length`.
    #[error("{0:?} is not an IP address or prefix (a.b.c.d/n, x:y::/n)")]
    Syntax(String),
    /// Longer than the address (32 for IPv4, 128 for IPv6).
    #[error("prefix length {len} is longer than the address ({max} bits)")]
    Length {
        /// The length given.
        len: u8,
        /// The address's bits.
        max: u8,
    },
    /// Bits set past the prefix length: most likely a typo (`10.1.2.3/8`
    /// for `10.1.2.3/32`?); the network address is asked for instead.
    #[error("{given} has bits set past its length: did you mean {network}?")]
    HostBits {
        /// The prefix as given.
        given: String,
        /// Its network address with the same length.
        network: String,
    },
}

/// An IP prefix: an address and how many leading bits of it count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The prefix of `addr`'s first `len` bits. The bits past `len` must
    /// be zero ([`CidrError::HostBits`]).
    pub fn new(addr: IpAddr, len: u8) -> Result<Cidr, CidrError> {
        let max = width(addr);
        if len > max {
            return Err(CidrError::Length { len, max });
        }
        let c = Cidr { addr, len };
        let bits = left_aligned(addr);
        if bits & !mask(len) != 0 {
            let network = Cidr {
                addr: from_left_aligned(bits & mask(len), addr.is_ipv4()),
                len,
            };
            return Err(CidrError::HostBits {
                given: c.to_string(),
                network: network.to_string(),
            });
        }
        Ok(c)
    }

    /// The one address `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            len: width(addr),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether `ip` is inside the prefix (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let me = self.canonical();
        ip.is_ipv4() == me.addr.is_ipv4()
            && (left_aligned(ip) ^ left_aligned(me.addr)) & mask(me.len) == 0
    }

    /// An IPv4-mapped IPv6 prefix of at least 96 bits as the IPv4 prefix
    /// it is; any other prefix as it is.
    fn canonical(self) -> Cidr {
        match self.addr {
            IpAddr::V6(v6) if self.len >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    addr: IpAddr::V4(v4),
                    len: self.len - 96,
                },
                None => self,
            },
            _ => self,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `a.b.c.d/n`, `x:y::/n`, or a bare address (one host).
    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(s.to_owned());
        let s = s.trim();
        match s.split_once('/') {
            None => s.parse::<IpAddr>().map(Cidr::host).map_err(|_| syntax()),
            Some((a, l)) => {
                let addr = a.parse::<IpAddr>().map_err(|_| syntax())?;
                // Digits only: no sign, no spaces, at most 3 of them.
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(syntax());
                }
                let len = l.parse::<u8>().map_err(|_| syntax())?;
                Cidr::new(addr, len)
            }
        }
    }
}

/// A set of IPv4 and IPv6 prefixes: whether an address is covered by
/// any of them, in O(prefix length) without allocating.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrSet {
    v4: Trie,
    v6: Trie,
    len: usize,
}

impl CidrSet {
    /// The empty set (covers nothing).
    pub fn new() -> CidrSet {
        CidrSet::default()
    }

    /// Reads each item as a [`Cidr`]; the first that is not one is the
    /// error.
    pub fn parse<I, S>(items: I) -> Result<CidrSet, CidrError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = CidrSet::new();
        for s in items {
            set.insert(s.as_ref().parse()?);
        }
        Ok(set)
    }

    /// Adds a prefix (one already covered changes nothing but [`len`]).
    ///
    /// [`len`]: CidrSet::len
    pub fn insert(&mut self, c: Cidr) {
        let c = c.canonical();
        let trie = if c.addr.is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        };
        trie.insert(left_aligned(c.addr), c.len);
        self.len += 1;
    }

    /// Whether any prefix of the set covers `ip`.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match canonical(ip) {
            IpAddr::V4(v4) => self.v4.contains(u128::from(u32::from(v4)) << 96, 8),
            IpAddr::V6(v6) => self.v6.contains(u128::from(v6), 32),
        }
    }

    /// Prefixes inserted.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FromIterator<Cidr> for CidrSet {
    fn from_iter<I: IntoIterator<Item = Cidr>>(iter: I) -> CidrSet {
        let mut set = CidrSet::new();
        for c in iter {
            set.insert(c);
        }
        set
    }
}

/// One trie node: a child per next nibble (0: none; the root is never a
/// child), and which next nibbles end a prefix here (covered below).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    child: [u32; 16],
    term: u16,
}

const EMPTY: Node = Node {
    child: [0; 16],
    term: 0,
};

/// A 4-bit-stride trie over left-aligned addresses. A prefix of length
/// `4d + r` (r in 1..=4) marks, on its node at depth `d`, the `2^(4-r)`
/// nibbles that start with its `r` remaining bits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Trie {
    nodes: Vec<Node>,
    /// A /0 was inserted: everything matches.
    all: bool,
}

impl Trie {
    fn insert(&mut self, bits: u128, len: u8) {
        if len == 0 {
            self.all = true;
            return;
        }
        if self.nodes.is_empty() {
            self.nodes.push(EMPTY);
        }
        let d = usize::from((len - 1) / 4);
        let r = u32::from(len) - 4 * d as u32;
        let mut n = 0usize;
        for depth in 0..d {
            let nib = nibble(bits, depth);
            let c = self.nodes[n].child[nib] as usize;
            n = if c != 0 {
                c
            } else {
                let c = self.nodes.len();
                self.nodes.push(EMPTY);
                self.nodes[n].child[nib] = c as u32;
                c
            };
        }
        let first = nibble(bits, d) & !((1usize << (4 - r)) - 1);
        for nib in first..first + (1 << (4 - r)) {
            self.nodes[n].term |= 1 << nib;
        }
    }

    /// Whether a prefix covers `bits` (left-aligned, `steps` nibbles
    /// long).
    #[inline]
    fn contains(&self, bits: u128, steps: usize) -> bool {
        if self.all {
            return true;
        }
        let mut n = 0usize;
        for depth in 0..steps {
            let Some(node) = self.nodes.get(n) else {
                return false;
            };
            let nib = nibble(bits, depth);
            if node.term & (1 << nib) != 0 {
                return true;
            }
            n = node.child[nib] as usize;
            if n == 0 {
                return false;
            }
        }
        false
    }
}

/// Nibble `depth` (0 = the most significant) of left-aligned bits.
#[inline]
fn nibble(bits: u128, depth: usize) -> usize {
    ((bits >> (124 - 4 * depth)) & 0xf) as usize
}

/// The address's bits, IPv4 in the top 32.
fn left_aligned(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_left_aligned(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from((bits >> 96) as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

/// The first `len` bits set, left-aligned.
fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l => u128::MAX << (128 - u32::from(l.min(128))),
    }
}

fn width(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
#[inline]
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_prefixes_and_rejects_nonsense() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert_eq!((c.addr(), c.prefix_len()), (ip("10.0.0.0"), 8));
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert_eq!("192.0.2.7".parse::<Cidr>().unwrap().prefix_len(), 32);
        assert_eq!("2001:db8::/32".parse::<Cidr>().unwrap().prefix_len(), 32);
        assert_eq!("::1".parse::<Cidr>().unwrap().prefix_len(), 128);
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix_len(), 0);
        for bad in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/0008",
            "10.0.0.0/8/8",
        ] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::Length { len: 33, max: 32 })
        );
        assert_eq!(
            "::/129".parse::<Cidr>(),
            Err(CidrError::Length { len: 129, max: 128 })
        );
        assert_eq!(
            "10.1.2.3/8".parse::<Cidr>(),
            Err(CidrError::HostBits {
                given: "10.1.2.3/8".into(),
                network: "10.0.0.0/8".into()
            })
        );
    }

    /// Every prefix length of both families, checked against the plain
    /// definition on addresses just inside and just outside.
    #[test]
    fn lookup_matches_the_definition_at_every_length() {
        let v4 = ip("203.0.113.77");
        let v6 = ip("2001:db8:85a3:8d3:1319:8a2e:370:7348");
        for (base, max) in [(v4, 32u8), (v6, 128u8)] {
            let bits = left_aligned(base);
            for len in 0..=max {
                let c =
                    Cidr::new(from_left_aligned(bits & mask(len), base.is_ipv4()), len).unwrap();
                let set: CidrSet = [c].into_iter().collect();
                assert!(set.contains(base), "{c}");
                assert!(c.contains(base), "{c}");
                // Flip each bit: inside iff the bit is past the prefix.
                for bit in 0..max {
                    let flipped = from_left_aligned(bits ^ (1u128 << (127 - bit)), base.is_ipv4());
                    assert_eq!(set.contains(flipped), bit >= len, "{c} {flipped}");
                    assert_eq!(c.contains(flipped), bit >= len, "{c} {flipped}");
                }
            }
        }
    }

    #[test]
    fn families_are_apart_and_mapped_addresses_are_ipv4() {
        let set = CidrSet::parse(["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]).unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.contains(ip("10.200.3.4")));
        assert!(set.contains(ip("::ffff:10.200.3.4")));
        assert!(!set.contains(ip("11.0.0.1")));
        assert!(set.contains(ip("192.0.2.1")));
        assert!(!set.contains(ip("192.0.2.2")));
        assert!(set.contains(ip("2001:db8:1::5")));
        assert!(!set.contains(ip("2001:db9::5")));
        // An IPv6 prefix covering ::a00:0 does not cover 10.0.0.0.
        let v6 = CidrSet::parse(["::/8"]).unwrap();
        assert!(!v6.contains(ip("10.0.0.1")));
        // A mapped prefix is its IPv4 prefix.
        let mapped = CidrSet::parse(["::ffff:10.0.0.0/104"]).unwrap();
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(!mapped.contains(ip("11.9.9.9")));
        assert!(
            "::ffff:10.0.0.0/104"
                .parse::<Cidr>()
                .unwrap()
                .contains(ip("10.1.1.1"))
        );
        // Empty and /0.
        assert!(!CidrSet::new().contains(ip("10.0.0.1")));
        assert!(CidrSet::new().is_empty());
        let all = CidrSet::parse(["0.0.0.0/0"]).unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        assert!(!all.contains(ip("::2")));
    }

    /// Overlapping and nested prefixes, in any order.
    #[test]
    fn nested_prefixes_in_any_order() {
        let a = CidrSet::parse(["10.1.2.0/24", "10.0.0.0/8", "10.1.0.0/16"]).unwrap();
        let b = CidrSet::parse(["10.0.0.0/8", "10.1.2.0/24"]).unwrap();
        for s in [a, b] {
            assert!(s.contains(ip("10.1.2.3")));
            assert!(s.contains(ip("10.255.0.1")));
            assert!(!s.contains(ip("9.255.255.255")));
        }
        let odd = CidrSet::parse(["172.16.0.0/12", "100.64.0.0/10", "198.18.0.0/15"]).unwrap();
        assert!(odd.contains(ip("172.31.255.255")));
        assert!(!odd.contains(ip("172.32.0.0")));
        assert!(odd.contains(ip("100.127.0.1")));
        assert!(!odd.contains(ip("100.128.0.1")));
        assert!(odd.contains(ip("198.19.1.1")));
        assert!(!odd.contains(ip("198.20.1.1")));
    }
}
