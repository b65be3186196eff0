//! The invariants lookups rely on, checked once when a snapshot is opened.
//!
//! bytecheck (run by `rkyv::access`) proves the archive is well-formed:
//! every pointer, length, string and enum tag is valid. It cannot know that
//! an entry's parent index is in range, that keys are sorted or that a
//! bucket directory is monotone. A snapshot is semi-trusted, so these are
//! checked here too: after this, no index in the table can be out of range
//! and no parent chain can loop, so lookups cannot panic or spin on any
//! file that opens.

use crate::format::{ALWAYS_OPEN, ArchivedRoutingTable, CARRIER_BIT, NONE};
use crate::key::KEY_END;

/// An invariant broken at `item` (used to compute the byte offset).
pub(crate) struct Broken {
    pub(crate) at: *const u8,
    pub(crate) what: String,
}

fn broken<T>(at: &T, what: impl Into<String>) -> Broken {
    Broken {
        at: (at as *const T).cast(),
        what: what.into(),
    }
}

/// Checks every cross-reference of `t`.
pub(crate) fn check(t: &ArchivedRoutingTable) -> Result<(), Broken> {
    let n_groups = t.groups.len();
    if n_groups >= (NONE / 2) as usize {
        return Err(broken(t, "too many groups"));
    }
    for w in t.groups.windows(2) {
        if w[0].as_str() >= w[1].as_str() {
            return Err(broken(&w[1], "group names not sorted"));
        }
    }
    for w in t.gateways.windows(2) {
        if w[0].id.as_str() >= w[1].id.as_str() {
            return Err(broken(&w[1], "gateway ids not sorted"));
        }
    }
    for g in t.gateways.iter() {
        // The build writes 5060 when no port was given (readers of `port`
        // rely on it).
        if !g.port_given && g.port.to_native() != 5060 {
            return Err(broken(
                g,
                "gateway without a written port has a port other than 5060",
            ));
        }
    }
    let n_gw = t.gateways.len() as u64;
    for m in t.members.iter() {
        if u64::from(m.gateway.to_native()) >= n_gw {
            return Err(broken(m, "carrier member names no gateway"));
        }
    }
    for c in t.carriers.iter() {
        let (a, b) = (c.members_start.to_native(), c.members_end.to_native());
        if a > b || b as usize > t.members.len() {
            return Err(broken(c, "carrier member range out of bounds"));
        }
    }
    let offs = &t.target_offsets;
    if offs.first().map(|o| o.to_native()) != Some(0)
        || offs.last().map(|o| o.to_native() as usize) != Some(t.targets.len())
    {
        return Err(broken(t, "target list offsets do not span the targets"));
    }
    for w in offs.windows(2) {
        if w[0].to_native() > w[1].to_native() {
            return Err(broken(&w[1], "target list offsets not monotone"));
        }
    }
    for x in t.targets.iter() {
        let v = x.to_native();
        let ok = if v & CARRIER_BIT == 0 {
            (v as usize) < t.gateways.len()
        } else {
            ((v & !CARRIER_BIT) as usize) < t.carriers.len()
        };
        if !ok {
            return Err(broken(x, "target names no gateway or carrier"));
        }
    }
    let n_lists = offs.len() - 1;
    for r in t.rules.iter() {
        if r.targets.to_native() as usize >= n_lists {
            return Err(broken(r, "rule names no target list"));
        }
        if r.attrs.to_native() as usize >= t.attrs.len() {
            return Err(broken(r, "rule names no attribute string"));
        }
        if r.win_days > 0x7f || r.win_start.to_native() > 1440 || r.win_end.to_native() > 1440 {
            return Err(broken(r, "rule window out of range"));
        }
        let zone = usize::from(r.win_zone.to_native());
        if zone > t.zones.len() {
            return Err(broken(r, "rule time zone index out of range"));
        }
        if zone != 0 && r.win_days == 0 {
            return Err(broken(r, "rule without a window has a time zone"));
        }
    }
    check_zones(t)?;
    if t.entries.len() >= NONE as usize {
        return Err(broken(t, "too many entries"));
    }
    if t.namespaces.len() != 2 * n_groups {
        return Err(broken(t, "namespace count is not twice the group count"));
    }
    let mut prev_end = 0usize;
    for ns in t.namespaces.iter() {
        let (start, end) = (ns.start.to_native() as usize, ns.end.to_native() as usize);
        if start != prev_end || end < start || end > t.entries.len() {
            return Err(broken(ns, "namespace range out of order or bounds"));
        }
        prev_end = end;
        let bits = ns.bucket_bits;
        if bits > 24 {
            return Err(broken(ns, "bucket directory too large"));
        }
        let b0 = ns.bucket_start.to_native() as usize;
        let dir = t
            .buckets
            .get(b0..b0 + (1usize << bits) + 1)
            .ok_or_else(|| broken(ns, "bucket directory out of bounds"))?;
        let keys = &t.entries[start..end];
        let shift = 63 - u32::from(bits);
        for (b, slot) in dir.iter().enumerate() {
            let s = slot.to_native() as usize;
            // Exactly the keys below the bucket's first key: so each
            // bucket's slice is in range and holds only its own keys.
            let ok = s <= keys.len()
                && (s == 0 || keys[s - 1].key.to_native() < (b as u64) << shift)
                && (s == keys.len() || keys[s].key.to_native() >= (b as u64) << shift);
            if !ok {
                return Err(broken(slot, "bucket directory inconsistent with keys"));
            }
        }
        for (j, e) in keys.iter().enumerate() {
            let i = start + j;
            let k = e.key.to_native();
            if k >= KEY_END || e.len > 18 {
                return Err(broken(e, "prefix key out of range"));
            }
            if j > 0 && keys[j - 1].key.to_native() >= k {
                return Err(broken(e, "prefix keys not sorted"));
            }
            let p = e.parent.to_native();
            if p != NONE && !(start..i).contains(&(p as usize)) {
                return Err(broken(
                    e,
                    "entry parent not an earlier entry of its namespace",
                ));
            }
            let rs = e.rules_start.to_native() as usize;
            let rl = usize::from(e.rules_len.to_native());
            if rl == 0 || rs + rl > t.rules.len() {
                return Err(broken(e, "entry rule range empty or out of bounds"));
            }
            if e.first_targets != t.rules[rs].targets {
                return Err(broken(e, "entry first_targets is not its first rule's"));
            }
            if e.flags & ALWAYS_OPEN != 0 && t.rules[rs].win_days != 0 {
                return Err(broken(
                    e,
                    "entry flagged always-open but its first rule has a window",
                ));
            }
        }
    }
    if prev_end != t.entries.len() {
        return Err(broken(t, "namespaces do not cover the keys"));
    }
    let d = &t.dialplan_offsets;
    if d.len() != n_groups + 1
        || d.first().map(|o| o.to_native()) != Some(0)
        || d.last().map(|o| o.to_native() as usize) != Some(t.dialplan.len())
    {
        return Err(broken(t, "dialplan offsets do not span the dialplan"));
    }
    for w in d.windows(2) {
        if w[0].to_native() > w[1].to_native() {
            return Err(broken(&w[1], "dialplan offsets not monotone"));
        }
    }
    for (i, a) in t.acl.iter().enumerate() {
        let p = a.parent.to_native();
        if (p != NONE && p as usize >= i) || a.group.to_native() as usize >= n_groups {
            return Err(broken(a, "ACL entry parent or group out of range"));
        }
        if i > 0 && t.acl[i - 1].start.to_native() > a.start.to_native() {
            return Err(broken(a, "ACL entries not sorted"));
        }
    }
    Ok(())
}

/// Every zone has a non-empty transition range in bounds, sorted strictly
/// by time, with offsets jiff could have produced: so the binary search in
/// `zone_offset` finds an entry and the offset arithmetic cannot overflow.
fn check_zones(t: &ArchivedRoutingTable) -> Result<(), Broken> {
    if t.zones.len() > usize::from(u16::MAX) {
        return Err(broken(t, "too many time zones"));
    }
    for z in t.zones.iter() {
        let (a, b) = (
            z.transitions_start.to_native() as usize,
            z.transitions_end.to_native() as usize,
        );
        let Some(tr) = t.zone_transitions.get(a..b).filter(|tr| !tr.is_empty()) else {
            return Err(broken(
                z,
                "time zone transition range empty or out of bounds",
            ));
        };
        for (i, x) in tr.iter().enumerate() {
            if x.offset.to_native().unsigned_abs() > crate::zone::MAX_OFFSET as u32 {
                return Err(broken(x, "time zone offset out of range"));
            }
            if i > 0 && tr[i - 1].at.to_native() >= x.at.to_native() {
                return Err(broken(x, "time zone transitions not sorted"));
            }
        }
    }
    Ok(())
}
