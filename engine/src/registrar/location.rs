//! The location service (RFC 3261 §10.2): the bindings of every AOR, in
//! partitions behind their own locks, with a lazy expiry timer list per
//! partition.

use core::cmp::Reverse;
use core::net::{IpAddr, SocketAddr};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::BinaryHeap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use trunkline_parser::{HostKind, NameAddr, SipUri, Uri};

use super::{Aor, MAX_CALL_ID, MAX_CONTACT, MAX_INSTANCE, MAX_PATH, RegistrarConfig, aor_hash};

/// One binding of an AOR to a contact address (§10.2.1), as registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI, without angle brackets or header parameters.
    pub contact: Box<str>,
    /// The q-value times 1,000 (0..=1000; 1000 when the Contact gave
    /// none): lookups order bindings by it (§16.6).
    pub q: u16,
    /// When the binding expires.
    pub expires_at: Instant,
    /// The Call-ID of the REGISTER that made or last refreshed it.
    pub call_id: Box<[u8]>,
    /// That REGISTER's CSeq number: a later REGISTER with the same
    /// Call-ID must have a higher one (§10.3 step 7).
    pub cseq: u32,
    /// The `+sip.instance` value without its quotes (RFC 5626 §4.1), e.g.
    /// `<urn:uuid:...>`.
    pub instance: Option<Box<str>>,
    /// The `reg-id` (RFC 5626 §4.2).
    pub reg_id: Option<u32>,
    /// The REGISTER's Path values in order (RFC 3327 §5.3), each written
    /// `<uri>;params`: requests to the binding go through them.
    pub path: Box<[Box<str>]>,
    /// Where the REGISTER came from.
    pub source: SocketAddr,
    /// The listener it came in on (the index the proxy core numbers them
    /// by): requests and keep-alives to a NATed binding leave by it, so
    /// they reach the pinhole the REGISTER opened.
    pub local: u16,
    /// Whether the UA is behind a NAT (its Contact or top Via does not
    /// match where the REGISTER came from): requests go to `source`.
    pub nat: bool,
    /// When it was registered or last refreshed, in Unix seconds.
    pub registered_unix: i64,
}

/// Where a request for a binding goes first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// The first Path URI (without angle brackets): the proxy in front of
    /// the UA (RFC 3327 §5.3: the Path becomes the request's Route set).
    Path(Box<str>),
    /// An address: the REGISTER's source for a NATed binding (as
    /// nathelper's `fix_nated_register` sends to `received`), else the
    /// Contact's IP literal and port (5060, or 5061 for `sips:`, when it
    /// gave none).
    Addr(SocketAddr),
    /// A host name to look up (RFC 3263), with the Contact's port when it
    /// gave one (without, SRV first).
    Name {
        /// The host name, lower-cased.
        host: Box<str>,
        /// The port, if the Contact gave one.
        port: Option<u16>,
    },
}

impl Binding {
    /// Where a request for this binding goes first: the Path when there
    /// is one (RFC 3327 §5.3), else the REGISTER's source when NATed,
    /// else the Contact's host and port.
    pub fn next_hop(&self) -> NextHop {
        if let Some(first) = self.path.first() {
            if let Ok(na) = NameAddr::parse(first.as_bytes()) {
                if let Ok(uri) = core::str::from_utf8(na.uri) {
                    return NextHop::Path(uri.into());
                }
            }
        }
        if self.nat {
            return NextHop::Addr(self.source);
        }
        match SipUri::parse(self.contact.as_bytes()) {
            Ok(uri) => {
                let port = uri.port.unwrap_or(if uri.secure { 5061 } else { 5060 });
                match uri.host.ip() {
                    Some(ip) => NextHop::Addr(SocketAddr::new(ip, port)),
                    None => NextHop::Name {
                        host: String::from_utf8_lossy(uri.host.text)
                            .to_ascii_lowercase()
                            .into(),
                        port: uri.port,
                    },
                }
            }
            // Never for a stored binding (its Contact was checked when
            // registered or imported); where the REGISTER came from is
            // the best remaining guess.
            Err(_) => NextHop::Addr(self.source),
        }
    }

    /// The seconds left, rounded to the nearest (0 once expired).
    pub fn remaining_secs(&self, now: Instant) -> u64 {
        let left = self.expires_at.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_millis() >= 500)
    }
}

/// Whether an address is private or unroutable for NAT detection:
/// RFC 1918 (10/8, 172.16/12, 192.168/16), shared address space (100.64/10,
/// RFC 6598), link-local (169.254/16, fe80::/10), unique local (fc00::/7),
/// and loopback. A Contact at such an address that is not where the
/// REGISTER came from cannot be reached directly.
pub fn is_unroutable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_loopback()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            v6.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

/// The caps a [`Location`] enforces, from [`RegistrarConfig`]'s
/// `max_aors` and `max_contacts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocationLimits {
    /// The most AORs in the whole table.
    pub max_aors: usize,
    /// The most bindings of one AOR.
    pub max_contacts: usize,
}

impl From<&RegistrarConfig> for LocationLimits {
    fn from(cfg: &RegistrarConfig) -> LocationLimits {
        LocationLimits {
            max_aors: cfg.max_aors,
            max_contacts: cfg.max_contacts,
        }
    }
}

/// A binding as a snapshot keeps it: plain data with the expiry as an
/// absolute Unix time, so that bindings saved (as JSON lines) and read
/// back after a restart keep the lifetime they had left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    /// The AOR key ([`Aor::as_str`]).
    pub aor: String,
    /// [`Binding::contact`].
    pub contact: String,
    /// [`Binding::q`].
    pub q: u16,
    /// When the binding expires, in Unix seconds.
    pub expires_unix: i64,
    /// [`Binding::call_id`].
    pub call_id: String,
    /// [`Binding::cseq`].
    pub cseq: u32,
    /// [`Binding::instance`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// [`Binding::reg_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_id: Option<u32>,
    /// [`Binding::path`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    /// [`Binding::source`].
    pub source: SocketAddr,
    /// [`Binding::local`].
    pub local: u16,
    /// [`Binding::nat`].
    pub nat: bool,
    /// [`Binding::registered_unix`].
    pub registered_unix: i64,
}

/// Why [`Location::import`] did not take a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Its expiry has passed.
    #[error("the binding has expired")]
    Expired,
    /// A field is not what a REGISTER could have stored.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Its AOR already has `max_contacts` bindings.
    #[error("the AOR already has the most bindings allowed")]
    TooManyContacts,
    /// The table already holds `max_aors` AORs.
    #[error("the table already holds the most AORs allowed")]
    TableFull,
}

/// One AOR's bindings and its expiry timer.
#[derive(Debug)]
pub(super) struct Entry {
    /// The bindings, least recently registered first; never empty in
    /// the map (an AOR without bindings is removed).
    pub(super) bindings: Vec<Binding>,
    /// The instant of this AOR's live entry in the timer list, at or
    /// before its earliest expiry; `None` while it has none.
    timer: Option<Instant>,
}

impl Entry {
    /// An entry for `bindings`, not yet scheduled.
    pub(super) fn new(bindings: Vec<Binding>) -> Entry {
        Entry {
            bindings,
            timer: None,
        }
    }
}

/// The bindings of one partition and their expiry timers.
#[derive(Debug, Default)]
pub(super) struct Partition {
    /// Each AOR's bindings.
    pub(super) aors: HashMap<Aor, Entry>,
    /// Expiry timers, earliest first, lazily: an entry says "look at this
    /// AOR then", and the AOR's bindings say what has really expired.
    /// Each AOR has one live entry (the one [`Entry::timer`] names); a
    /// refresh to a later expiry leaves it in place (it fires early, finds
    /// nothing, and schedules the real expiry), an earlier expiry or a
    /// removal leaves a stale one behind. The list is rebuilt from the map
    /// when stale entries outnumber the AORs ([`Partition::schedule`]),
    /// so it stays within about twice the AORs.
    timers: BinaryHeap<Reverse<(Instant, Aor)>>,
}

impl Partition {
    /// Makes sure `aor` has a live timer at or before its earliest
    /// expiry.
    pub(super) fn schedule(&mut self, aor: &Aor) {
        let Some(e) = self.aors.get_mut(aor) else {
            return;
        };
        let Some(at) = e.bindings.iter().map(|b| b.expires_at).min() else {
            return;
        };
        if e.timer.is_some_and(|t| t <= at) {
            return; // it fires in time
        }
        e.timer = Some(at);
        if self.timers.len() > 2 * self.aors.len() + 1024 {
            // Amortized: at least as many pushes as there are AORs since
            // the last rebuild, which costs one pass over them.
            self.timers = self
                .aors
                .iter()
                .filter_map(|(a, e)| Some(Reverse((e.timer?, a.clone()))))
                .collect();
        } else {
            self.timers.push(Reverse((at, aor.clone())));
        }
    }

    /// The live timers' count, for the tests' bound.
    #[cfg(test)]
    pub(super) fn timer_entries(&self) -> usize {
        self.timers.len()
    }
}

/// The location service: every AOR's bindings, in partitions by
/// [`aor_hash`], each behind its own lock; shared by the shards through an
/// `Arc` (partition `i` is shard `i`'s to expire). See the module
/// documentation for why a lock and not a hop between shards.
#[derive(Debug)]
pub struct Location {
    partitions: Box<[Mutex<Partition>]>,
    /// AORs in the table, across partitions (reserved before an insert,
    /// so that `max_aors` holds under concurrent REGISTERs).
    aors: AtomicUsize,
    /// Bindings in the table, expired ones not yet removed included.
    bindings: AtomicUsize,
    max_aors: AtomicUsize,
    max_contacts: AtomicUsize,
}

impl Location {
    /// An empty table of `partitions` partitions (one per shard; at least
    /// one).
    pub fn new(partitions: usize, limits: LocationLimits) -> Location {
        Location {
            partitions: (0..partitions.max(1))
                .map(|_| Mutex::new(Partition::default()))
                .collect(),
            aors: AtomicUsize::new(0),
            bindings: AtomicUsize::new(0),
            max_aors: AtomicUsize::new(limits.max_aors.max(1)),
            max_contacts: AtomicUsize::new(limits.max_contacts.max(1)),
        }
    }

    /// Changes the caps (on a configuration reload). Lowering them removes
    /// nothing: an AOR over the new `max_contacts` may refresh and remove
    /// bindings, not add.
    pub fn set_limits(&self, limits: LocationLimits) {
        self.max_aors
            .store(limits.max_aors.max(1), Ordering::Relaxed);
        self.max_contacts
            .store(limits.max_contacts.max(1), Ordering::Relaxed);
    }

    /// The caps in force.
    pub fn limits(&self) -> LocationLimits {
        LocationLimits {
            max_aors: self.max_aors.load(Ordering::Relaxed),
            max_contacts: self.max_contacts.load(Ordering::Relaxed),
        }
    }

    /// The number of partitions.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// The partition (and the shard) that holds `aor`'s bindings:
    /// [`aor_hash`] modulo the partitions.
    pub fn partition_of(&self, aor: &Aor) -> usize {
        (aor_hash(aor) % self.partitions.len() as u64) as usize
    }

    /// Partition `i`, locked. A poisoned lock is taken over: no code
    /// holding it panics midway through an update.
    pub(super) fn lock(&self, i: usize) -> Option<MutexGuard<'_, Partition>> {
        let m = self.partitions.get(i)?;
        Some(m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The AORs in the table.
    pub fn len(&self) -> usize {
        self.aors.load(Ordering::Relaxed)
    }

    /// Whether the table holds no AOR.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bindings in the table (expired ones not yet removed included).
    pub fn bindings(&self) -> usize {
        self.bindings.load(Ordering::Relaxed)
    }

    /// Whether `aor` is in the table (its bindings may have expired and
    /// not yet been removed: [`Location::lookup`] tells).
    pub fn contains_aor(&self, aor: &Aor) -> bool {
        self.lock(self.partition_of(aor))
            .is_some_and(|p| p.aors.contains_key(aor))
    }

    /// `aor`'s unexpired bindings into `out` (cleared first), highest q
    /// first, and among equal q the most recently registered first: the
    /// order a request forks in (§16.6).
    pub fn lookup(&self, now: Instant, aor: &Aor, out: &mut Vec<Binding>) {
        out.clear();
        self.lookup_with(now, aor, &mut Vec::new(), |b| out.push(b.clone()));
    }

    /// [`Location::lookup`] without copying the bindings: `f` sees each
    /// unexpired binding of `aor` in fork order, under the partition's
    /// lock (keep it short); `order` is scratch, reused by the caller.
    pub fn lookup_with(
        &self,
        now: Instant,
        aor: &Aor,
        order: &mut Vec<usize>,
        mut f: impl FnMut(&Binding),
    ) {
        order.clear();
        let Some(p) = self.lock(self.partition_of(aor)) else {
            return;
        };
        let Some(e) = p.aors.get(aor) else { return };
        let bs = &e.bindings;
        // As collect_sorted: the most recent first, then by q (stable).
        order.extend((0..bs.len()).rev().filter(|&i| bs[i].expires_at > now));
        order.sort_by_key(|&i| Reverse(bs[i].q));
        for &i in order.iter() {
            f(&bs[i]);
        }
    }

    /// Removes partition `partition`'s bindings that have expired by
    /// `now`, and the AORs left without any; returns how many bindings it
    /// removed. Runs the timers due, so its cost follows the expiries.
    pub fn expire(&self, partition: usize, now: Instant) -> usize {
        let Some(mut guard) = self.lock(partition) else {
            return 0;
        };
        let p = &mut *guard;
        let mut removed = 0;
        let mut removed_aors = 0;
        while let Some(Reverse((at, _))) = p.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, aor))) = p.timers.pop() else {
                break;
            };
            let Some(e) = p.aors.get_mut(&aor).filter(|e| e.timer == Some(at)) else {
                continue; // a stale entry
            };
            e.timer = None;
            let before = e.bindings.len();
            e.bindings.retain(|b| b.expires_at > now);
            removed += before - e.bindings.len();
            if e.bindings.is_empty() {
                p.aors.remove(&aor);
                removed_aors += 1;
            } else {
                p.schedule(&aor);
            }
        }
        drop(guard);
        self.bindings.fetch_sub(removed, Ordering::Relaxed);
        self.aors.fetch_sub(removed_aors, Ordering::Relaxed);
        removed
    }

    /// When [`Location::expire`] should next run for `partition`: a lower
    /// bound (a refreshed binding's old timer may fire early and find
    /// nothing to do); `None` when the partition is empty.
    pub fn next_expiry(&self, partition: usize) -> Option<Instant> {
        let p = self.lock(partition)?;
        p.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// The sources of `partition`'s NATed bindings into `out` (cleared
    /// first), each with the listener it came in on, once each: where NAT
    /// keep-alives go (a CRLF or an OPTIONS keeps the pinhole open).
    /// Expired bindings not yet removed are included: one keep-alive too
    /// many is harmless.
    pub fn nated(&self, partition: usize, out: &mut Vec<(SocketAddr, u16)>) {
        out.clear();
        if let Some(p) = self.lock(partition) {
            for b in p.aors.values().flat_map(|e| &e.bindings).filter(|b| b.nat) {
                out.push((b.source, b.local));
            }
        }
        // Sorted outside the lock.
        out.sort_unstable();
        out.dedup();
    }

    /// `partition`'s unexpired bindings as records with absolute expiry
    /// times (`now` is `unix_now`), for a snapshot. Each AOR's bindings
    /// come least recently registered first, the order
    /// [`Location::import`] restores.
    pub fn export(&self, partition: usize, now: Instant, unix_now: i64) -> Vec<BindingRecord> {
        let mut out = Vec::new();
        let Some(p) = self.lock(partition) else {
            return out;
        };
        for (aor, e) in &p.aors {
            out.extend(
                e.bindings
                    .iter()
                    .filter(|b| b.expires_at > now)
                    .map(|b| record(aor, b, now, unix_now)),
            );
        }
        out
    }

    /// The unexpired bindings of `aor` as records (what a shared table
    /// publishes after a REGISTER changed them).
    pub fn export_aor(&self, aor: &Aor, now: Instant, unix_now: i64) -> Vec<BindingRecord> {
        let Some(p) = self.lock(self.partition_of(aor)) else {
            return Vec::new();
        };
        p.aors.get(aor).map_or_else(Vec::new, |e| {
            e.bindings
                .iter()
                .filter(|b| b.expires_at > now)
                .map(|b| record(aor, b, now, unix_now))
                .collect()
        })
    }

    /// Puts `records` in place of `aor`'s bindings (another router's
    /// view of them, through a shared table); returns how many were
    /// taken. Records of another AOR are refused.
    pub fn replace_aor(
        &self,
        now: Instant,
        unix_now: i64,
        aor: &Aor,
        records: Vec<BindingRecord>,
    ) -> usize {
        if let Some(mut p) = self.lock(self.partition_of(aor)) {
            if let Some(e) = p.aors.remove(aor) {
                self.count_bindings(e.bindings.len(), 0);
                self.release_aor();
            }
        }
        records
            .into_iter()
            .filter(|r| r.aor == aor.as_str())
            .filter(|r| self.import(now, unix_now, r.clone()).is_ok())
            .count()
    }

    /// Takes a record back (from a snapshot written by
    /// [`Location::export`], at `unix_now` which is `now`), with the
    /// lifetime it has left. Checked as a REGISTER would be: a record
    /// that could not have been stored is refused, and so is one past
    /// the caps. A record with the identity of a binding already there
    /// replaces it.
    pub fn import(
        &self,
        now: Instant,
        unix_now: i64,
        rec: BindingRecord,
    ) -> Result<(), ImportError> {
        let left = rec.expires_unix.saturating_sub(unix_now);
        if left <= 0 {
            return Err(ImportError::Expired);
        }
        let left = Duration::from_secs(left.min(i64::from(u32::MAX)) as u64);
        let expires_at = now
            .checked_add(left)
            .ok_or(ImportError::Invalid("expires_unix"))?;
        let aor = Aor::from_key(&rec.aor).ok_or(ImportError::Invalid("aor"))?;
        let contact_ok = rec.contact.len() <= MAX_CONTACT
            && matches!(Uri::parse(rec.contact.as_bytes()), Ok(Uri::Sip(_)));
        if !contact_ok {
            return Err(ImportError::Invalid("contact"));
        }
        if rec.q > 1000 {
            return Err(ImportError::Invalid("q"));
        }
        if rec.call_id.len() > MAX_CALL_ID
            || trunkline_parser::values::check_call_id(rec.call_id.as_bytes()).is_err()
        {
            return Err(ImportError::Invalid("call_id"));
        }
        if rec
            .instance
            .as_ref()
            .is_some_and(|i| i.is_empty() || i.len() > MAX_INSTANCE || !printable(i))
        {
            return Err(ImportError::Invalid("instance"));
        }
        let path_len: usize = rec.path.iter().map(String::len).sum();
        let path_ok = path_len <= MAX_PATH
            && rec.path.iter().all(|v| {
                printable(v)
                    && NameAddr::parse(v.as_bytes())
                        .is_ok_and(|na| matches!(na.uri(), Ok(Uri::Sip(_))))
            });
        if !path_ok {
            return Err(ImportError::Invalid("path"));
        }
        let binding = Binding {
            contact: rec.contact.into(),
            q: rec.q,
            expires_at,
            call_id: rec.call_id.into_bytes().into(),
            cseq: rec.cseq,
            instance: rec.instance.map(Into::into),
            reg_id: rec.reg_id,
            path: rec.path.into_iter().map(Into::into).collect(),
            source: rec.source,
            local: rec.local,
            nat: rec.nat,
            registered_unix: rec.registered_unix,
        };
        let limits = self.limits();
        let Some(mut guard) = self.lock(self.partition_of(&aor)) else {
            return Err(ImportError::Invalid("aor"));
        };
        let p = &mut *guard;
        let mut added_binding = true;
        match p.aors.get_mut(&aor) {
            Some(e) => {
                let bs = &mut e.bindings;
                if let Some(i) = bs.iter().position(|b| same_binding(b, &binding)) {
                    bs.remove(i);
                    added_binding = false;
                } else if bs.len() >= limits.max_contacts {
                    return Err(ImportError::TooManyContacts);
                }
                bs.push(binding);
            }
            None => {
                self.reserve_aor(limits.max_aors)
                    .then_some(())
                    .ok_or(ImportError::TableFull)?;
                p.aors.insert(aor.clone(), Entry::new(vec![binding]));
            }
        }
        p.schedule(&aor);
        drop(guard);
        if added_binding {
            self.bindings.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Counts one more AOR if the table has room for it.
    pub(super) fn reserve_aor(&self, max_aors: usize) -> bool {
        self.aors
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max_aors).then_some(n + 1)
            })
            .is_ok()
    }

    /// Counts one AOR fewer.
    pub(super) fn release_aor(&self) {
        self.aors.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adjusts the binding count by `delta`.
    pub(super) fn count_bindings(&self, before: usize, after: usize) {
        if after >= before {
            self.bindings.fetch_add(after - before, Ordering::Relaxed);
        } else {
            self.bindings.fetch_sub(before - after, Ordering::Relaxed);
        }
    }
}

/// `bs`'s unexpired bindings into `out` in lookup order: q descending,
/// then the most recently registered first (`bs` keeps them least recent
/// first; the sort is stable).
pub(super) fn collect_sorted(bs: &[Binding], now: Instant, out: &mut Vec<Binding>) {
    out.extend(bs.iter().rev().filter(|b| b.expires_at > now).cloned());
    out.sort_by_key(|b| Reverse(b.q));
}

/// Whether two bindings of one AOR are the same binding: by
/// (`+sip.instance`, `reg-id`) when both have both (RFC 5626 §6), else by
/// Contact URI ([`same_contact`]) when neither has both.
pub(super) fn same_binding(a: &Binding, b: &Binding) -> bool {
    match (flow_key(a), flow_key(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => match (
            SipUri::parse(a.contact.as_bytes()),
            SipUri::parse(b.contact.as_bytes()),
        ) {
            (Ok(x), Ok(y)) => same_contact(&x, &y),
            _ => a.contact == b.contact,
        },
        _ => false,
    }
}

/// The RFC 5626 identity of a binding, when it has one.
pub(super) fn flow_key(b: &Binding) -> Option<(&str, u32)> {
    Some((b.instance.as_deref()?, b.reg_id?))
}

/// Contact URI identity, the module's approximation of §19.1.4: scheme
/// and host without regard to case, user, password, port, parameters and
/// headers byte for byte.
pub(super) fn same_contact(a: &SipUri<'_>, b: &SipUri<'_>) -> bool {
    a.raw == b.raw
        || (a.secure == b.secure
            && a.user == b.user
            && a.password == b.password
            && host_eq(a, b)
            && a.port == b.port
            && a.params == b.params
            && a.headers == b.headers)
}

fn host_eq(a: &SipUri<'_>, b: &SipUri<'_>) -> bool {
    a.host.kind == b.host.kind
        && match a.host.kind {
            HostKind::Name | HostKind::V4 => a.host.text.eq_ignore_ascii_case(b.host.text),
            HostKind::V6 => a.host.ip() == b.host.ip(),
        }
}

/// Printable ASCII (and space, tab): what a header value may hold
/// without breaking its line.
pub(super) fn printable(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Binding `b` of `aor` as a record with an absolute expiry (`now` is
/// `unix_now`), rounded up: a binding read back never expires sooner than
/// it would have.
fn record(aor: &Aor, b: &Binding, now: Instant, unix_now: i64) -> BindingRecord {
    let left = b.expires_at.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    BindingRecord {
        aor: aor.as_str().into(),
        contact: b.contact.as_ref().into(),
        q: b.q,
        expires_unix: unix_now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX)),
        call_id: String::from_utf8_lossy(&b.call_id).into_owned(),
        cseq: b.cseq,
        instance: b.instance.as_deref().map(Into::into),
        reg_id: b.reg_id,
        path: b.path.iter().map(|p| p.as_ref().into()).collect(),
        source: b.source,
        local: b.local,
        nat: b.nat,
        registered_unix: b.registered_unix,
    }
}
