//! Argument readers (SIPp's `get_long`, `get_double`, `get_time`,
//! `get_bool`) and the setters of the options that need more than one.

use super::*;

// ----- argument readers (SIPp's get_long / get_double / get_time / get_bool)

pub(super) fn bad(flag: &str, expected: &'static str, got: &str) -> OptionsError {
    OptionsError::Invalid {
        flag: flag.to_string(),
        expected,
        got: got.to_string(),
    }
}

/// `strtol(.., 0)`: decimal, `0x` hex or leading-`0` octal, optional sign.
pub(super) fn parse_long(flag: &str, s: &str) -> Result<i64, OptionsError> {
    let err = || bad(flag, "an integer", s);
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(err());
    }
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).map_err(|_| err())?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).map_err(|_| err())?
    } else {
        body.parse::<i64>().map_err(|_| err())?
    };
    Ok(if neg { -v } else { v })
}

pub(super) fn parse_unsigned<T: TryFrom<i64>>(flag: &str, s: &str) -> Result<T, OptionsError> {
    let v = parse_long(flag, s)?;
    T::try_from(v).map_err(|_| bad(flag, "a non-negative integer in range", s))
}

pub(super) fn parse_double(flag: &str, s: &str) -> Result<f64, OptionsError> {
    let t = s.trim_start();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && !t.is_empty() => Ok(v),
        _ => Err(bad(flag, "a number", s)),
    }
}

/// SIPp's `get_time`: a number with an optional unit (`ms`, `s`, `m`,
/// `h`); `mult` converts the default unit into ms. Returns ms.
pub fn parse_time(flag: &str, s: &str, mult: u64) -> Result<u64, OptionsError> {
    let err = || bad(flag, "a time (number with optional unit ms, s, m, h)", s);
    if !s.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) || s.contains(':') {
        return Err(err());
    }
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let v: f64 = num.parse().map_err(|_| err())?;
    let ms = match unit {
        "" => v * mult as f64,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        "h" => v * 3_600_000.0,
        _ => return Err(err()),
    };
    Ok(ms as u64)
}

pub(super) fn parse_bool(flag: &str, s: &str) -> Result<bool, OptionsError> {
    match s {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(flag, "a boolean (true or false)", s)),
    }
}

pub(super) fn parse_port(flag: &str, s: &str) -> Result<u16, OptionsError> {
    parse_unsigned::<u16>(flag, s)
}

/// Splits `host[:port]`, `[v6]:port`, `[v6]` or a bare IPv6 address
/// (SIPp's `get_host_and_port`). The port is `None` when absent.
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("'{s}': missing ']'"))?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Ok((host.to_string(), None));
        }
        let p = after
            .strip_prefix(':')
            .ok_or_else(|| format!("'{s}': expected ':' after ']'"))?;
        let port = p.parse::<u16>().map_err(|_| format!("'{s}': bad port"))?;
        return Ok((host.to_string(), Some(port)));
    }
    match s.matches(':').count() {
        0 => Ok((s.to_string(), None)),
        1 => {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            let port = p.parse::<u16>().map_err(|_| format!("'{s}': bad port"))?;
            Ok((h.to_string(), Some(port)))
        }
        _ => Ok((s.to_string(), None)),
    }
}

pub(super) fn ip_arg(flag: &str, s: &str) -> Result<String, OptionsError> {
    match split_host_port(s) {
        Ok((h, _)) if !h.is_empty() => Ok(h),
        _ => Err(bad(flag, "an IP address", s)),
    }
}

/// Parses `--cpus`: `0,1`, `2-5`, `0,2-3`.
pub fn parse_cpu_list(flag: &str, s: &str) -> Result<Vec<usize>, OptionsError> {
    let err = || bad(flag, "a CPU list such as 0,1 or 2-5", s);
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let a: usize = a.trim().parse().map_err(|_| err())?;
            let b: usize = b.trim().parse().map_err(|_| err())?;
            if a > b {
                return Err(err());
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| err())?);
        }
    }
    if out.is_empty() {
        return Err(err());
    }
    let mut seen = out.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != out.len() {
        return Err(err());
    }
    Ok(out)
}

pub(super) fn set_transport(o: &mut Options, flag: &str, v: &str) -> Result<(), OptionsError> {
    if v.len() != 2 {
        return Err(bad(flag, "a transport mode (u1, un, ui)", v));
    }
    let unsupported = |what: &'static str| OptionsError::Unsupported {
        flag: format!("{flag} {v}"),
        why: what,
    };
    o.transport = match v {
        "u1" => Transport::UdpMono,
        "un" => Transport::UdpMulti,
        "ui" => Transport::UdpPerIp,
        "t1" | "tn" => {
            return Err(unsupported(
                "TCP transport is not implemented (UDP only: u1, un, ui)",
            ));
        }
        "l1" | "ln" => {
            return Err(unsupported(
                "TLS transport is not implemented (UDP only: u1, un, ui)",
            ));
        }
        "s1" | "sn" => {
            return Err(unsupported(
                "SCTP transport is not implemented (UDP only: u1, un, ui)",
            ));
        }
        "c1" | "cn" => {
            return Err(unsupported(
                "the compression plugin is not implemented (UDP only: u1, un, ui)",
            ));
        }
        _ => return Err(bad(flag, "a transport mode (u1, un, ui)", v)),
    };
    Ok(())
}

pub(super) fn set_behaviors(o: &mut Options, flag: &str, v: &str) -> Result<(), OptionsError> {
    // SIPp starts from none and applies each token.
    let mut b = Behaviors {
        bye: false,
        abort_unexp: false,
        ping_reply: false,
    };
    for token in v.split(',').filter(|t| !t.is_empty()) {
        if token == "none" {
            b = Behaviors {
                bye: false,
                abort_unexp: false,
                ping_reply: false,
            };
            continue;
        }
        let (on, name) = match token.as_bytes()[0] {
            b'+' => (true, &token[1..]),
            b'-' => (false, &token[1..]),
            _ => (true, token),
        };
        match name {
            "all" => {
                b.bye = on;
                b.abort_unexp = on;
                b.ping_reply = on;
            }
            "bye" => b.bye = on,
            "abortunexp" => b.abort_unexp = on,
            "pingreply" => b.ping_reply = on,
            _ => {
                return Err(bad(
                    flag,
                    "a list of all, none, bye, abortunexp, pingreply (optionally prefixed by - or +)",
                    token,
                ));
            }
        }
    }
    o.default_behaviors = b;
    Ok(())
}
