//! A shard's share of the gateways' caps: calls per second (a token
//! bucket per gateway) and calls at once (slots held by attempts in
//! progress and by answered calls until their BYE).
//!
//! Calls spread over the shards by Call-ID, so each shard enforces
//! `cap / shards` (the remainder to the lowest shards for calls at once):
//! the shares add up to the cap and never exceed it, with no state shared
//! between shards. A gateway is known by its [`Target::cap_key`], the same
//! for all its addresses and across table swaps. Sans-IO: time comes in
//! as `now`.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use super::Target;

/// How long an answered call holds its gateway's slot when no BYE is seen
/// (lost, or sent on a path that avoids us): the default of Kamailio's
/// dialog module (`default_timeout`, 12 h).
pub const DIALOG_MAX: Duration = Duration::from_secs(12 * 3600);

/// How often answered calls past [`DIALOG_MAX`] are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

type Map<V> = HashMap<u64, V, foldhash::fast::FixedState>;

/// One shard's CPS budgets and call slots, by gateway cap key.
#[derive(Debug)]
pub struct GatewayCaps {
    shard: u16,
    shards: u16,
    /// CPS budgets.
    cps: Map<CpsBucket>,
    /// Slots taken.
    active: Map<u32>,
    /// Answered calls: Call-ID hash -> (gateway cap key, when to give up
    /// on a BYE).
    dialogs: Map<(u64, Instant)>,
    next_sweep: Option<Instant>,
    hasher: foldhash::fast::FixedState,
}

impl GatewayCaps {
    /// The caps of shard `shard` of `shards`; `seed` keys the Call-ID hash.
    pub fn new(shard: u16, shards: u16, seed: u64) -> GatewayCaps {
        GatewayCaps {
            shard,
            shards: shards.max(1),
            cps: Map::default(),
            active: Map::default(),
            dialogs: Map::default(),
            next_sweep: None,
            hasher: foldhash::fast::FixedState::with_seed(seed),
        }
    }

    /// Whether `target`'s gateway may take one more call now: under its
    /// CPS cap (taking a token) and with a call slot free on this shard.
    pub fn admits(&mut self, now: Instant, target: &Target) -> bool {
        self.cps_admits(now, target) && self.slot_free(target)
    }

    fn cps_admits(&mut self, now: Instant, target: &Target) -> bool {
        if target.cps_limit == 0 {
            return true;
        }
        let rate = f64::from(target.cps_limit) / f64::from(self.shards);
        self.cps
            .entry(target.cap_key)
            .or_insert_with(|| CpsBucket::new(now, rate))
            .admit(now, rate)
    }

    fn slot_free(&self, target: &Target) -> bool {
        let cap = target.concurrent_limit;
        if cap == 0 {
            return true;
        }
        let shards = u32::from(self.shards);
        let share = cap / shards + u32::from(u32::from(self.shard) < cap % shards);
        self.active.get(&target.cap_key).copied().unwrap_or(0) < share
    }

    /// The call slots `target`'s gateway holds on this shard (attempts in
    /// progress and answered calls): `least-calls`' count.
    pub fn active(&self, target: &Target) -> u32 {
        self.active.get(&target.cap_key).copied().unwrap_or(0)
    }

    /// An attempt to `target` started: it holds one of the gateway's call
    /// slots (when it has a cap) until [`GatewayCaps::put_back`] or, once
    /// answered, until its dialog ends. Returns the key of the slot held.
    pub fn take(&mut self, target: &Target) -> Option<u64> {
        (target.concurrent_limit != 0).then(|| {
            *self.active.entry(target.cap_key).or_default() += 1;
            target.cap_key
        })
    }

    /// Gives back a slot (its attempt failed, or its call ended).
    pub fn put_back(&mut self, key: u64) {
        if let Some(n) = self.active.get_mut(&key) {
            *n = n.saturating_sub(1);
        }
    }

    /// An attempt holding slot `key` was answered with a 2xx: the slot now
    /// belongs to the call `call_id` until its BYE or [`DIALOG_MAX`].
    pub fn to_dialog(&mut self, now: Instant, key: u64, call_id: &[u8]) {
        let id = self.hasher.hash_one(call_id);
        self.next_sweep.get_or_insert(now + SWEEP_EVERY);
        if let Some((old, _)) = self.dialogs.insert(id, (key, now + DIALOG_MAX)) {
            self.put_back(old);
        }
    }

    /// A BYE for `call_id`: its call's slot, if it holds one, is free.
    pub fn dialog_ended(&mut self, call_id: &[u8]) {
        if self.dialogs.is_empty() {
            return;
        }
        let id = self.hasher.hash_one(call_id);
        if let Some((key, _)) = self.dialogs.remove(&id) {
            self.put_back(key);
        }
    }

    /// When [`GatewayCaps::sweep`] is next due: only while answered calls
    /// hold slots.
    pub fn next_sweep(&self) -> Option<Instant> {
        self.next_sweep.filter(|_| !self.dialogs.is_empty())
    }

    /// Frees the slots of calls older than [`DIALOG_MAX`] (their BYE was
    /// never seen); does the work at most once a minute.
    pub fn sweep(&mut self, now: Instant) {
        match self.next_sweep {
            Some(t) if now >= t && !self.dialogs.is_empty() => {}
            _ => return,
        }
        self.next_sweep = Some(now + SWEEP_EVERY);
        let active = &mut self.active;
        self.dialogs.retain(|_, &mut (key, deadline)| {
            let keep = deadline > now;
            if !keep {
                if let Some(n) = active.get_mut(&key) {
                    *n = n.saturating_sub(1);
                }
            }
            keep
        });
    }
}

/// A gateway's CPS budget on one shard: a token bucket refilled at the
/// shard's share of the cap, holding at most one second's worth (and at
/// least one call).
#[derive(Clone, Copy, Debug)]
struct CpsBucket {
    tokens: f64,
    last: Instant,
}

impl CpsBucket {
    fn new(now: Instant, rate: f64) -> CpsBucket {
        CpsBucket {
            tokens: rate.max(1.0),
            last: now,
        }
    }

    /// Takes one call's token if there is one.
    fn admit(&mut self, now: Instant, rate: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_slots_split_over_shards_and_follow_the_dialog() {
        let gw: std::net::SocketAddr = "192.0.2.1:5060".parse().unwrap();
        let t = Target::new(gw, 1, b"1").unwrap().with_concurrent_limit(3);
        let now = Instant::now();
        // 3 slots over 2 shards: 2 on shard 0, 1 on shard 1.
        let (mut a, mut b) = (GatewayCaps::new(0, 2, 1), GatewayCaps::new(1, 2, 1));
        assert!(a.admits(now, &t) && a.take(&t).is_some());
        assert!(a.admits(now, &t) && a.take(&t).is_some());
        assert!(!a.admits(now, &t));
        assert!(b.admits(now, &t) && b.take(&t).is_some());
        assert!(!b.admits(now, &t));
        // Answered: held by the call until its BYE, then free.
        b.to_dialog(now, t.cap_key, b"call-1");
        assert!(!b.admits(now, &t));
        b.dialog_ended(b"call-1");
        assert!(b.admits(now, &t));
        // A lost BYE: freed by the sweep after DIALOG_MAX.
        a.to_dialog(now, t.cap_key, b"call-2");
        assert!(a.next_sweep().is_some());
        a.sweep(now + DIALOG_MAX + SWEEP_EVERY);
        assert!(a.admits(now, &t));
    }
}
