//! Field parsers shared by the CSV readers: addresses, prefixes, CIDRs.

use std::net::IpAddr;

use crate::error::BuildErrorKind;
use crate::key::{self, MAX_DIGITS};
use crate::source::bad;

/// `host`, `host:port`, `[v6]` or `[v6]:port` → (host, port, whether the
/// port was written); port defaults to 5060.
pub(crate) fn parse_address(s: &str) -> Result<(String, u16, bool), BuildErrorKind> {
    let err = |r: &str| bad("address", s, r);
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| err("unclosed ["))?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| err("bad IPv6 address"))?;
        match after {
            "" => (h, None),
            p => (
                h,
                Some(p.strip_prefix(':').ok_or_else(|| err("expected :port"))?),
            ),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty()
        || host
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || b"-._:".contains(&b)))
    {
        return Err(err("expected host:port"));
    }
    let port_given = port.is_some();
    let port = match port {
        None => 5060,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(err("bad port")),
        },
    };
    Ok((host.to_string(), port, port_given))
}

/// `[+]digits` → (plus, key, len).
pub(crate) fn parse_prefix(s: &str) -> Result<(bool, u64, u8), BuildErrorKind> {
    let (plus, digits) = match s.strip_prefix('+') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.len() > MAX_DIGITS {
        return Err(bad("prefix", s, "longer than 18 digits"));
    }
    let key = key::encode(digits.as_bytes())
        .ok_or_else(|| bad("prefix", s, "digits only, optionally after a leading +"))?;
    Ok((plus, key, digits.len() as u8))
}

/// `addr/len` or a host address → (start as IPv6 / IPv4-mapped, len on
/// the IPv6 form).
pub(crate) fn parse_cidr(s: &str) -> Result<(u128, u8), BuildErrorKind> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad("cidr", s, "bad address"))?;
    let (bits, max, offset) = match addr {
        IpAddr::V4(a) => (u128::from(a.to_ipv6_mapped()), 32u8, 96u8),
        IpAddr::V6(a) => (u128::from(a), 128, 0),
    };
    let len = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(l) if l <= max => l,
            _ => return Err(bad("cidr", s, "bad prefix length")),
        },
    } + offset;
    let host_mask = if len == 128 { 0 } else { u128::MAX >> len };
    if bits & host_mask != 0 {
        return Err(bad("cidr", s, "host bits set"));
    }
    Ok((bits, len))
}
