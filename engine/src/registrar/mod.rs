//! The registrar and location service, sans-IO: REGISTER processing (RFC
//! 3261 §10.3), the bindings it keeps (the location service, §10.2), Path
//! (RFC 3327) and the instance and flow identities of SIP Outbound (RFC
//! 5626 `+sip.instance`, `reg-id`).
//!
//! # Pieces
//!
//! - [`RegistrarConfig`]: the `[registrar]` table: our domains, the
//!   expiry bounds, the table's limits, how lookups fork, persistence.
//! - [`Aor`]: an address-of-record as a table key, `user@domain`
//!   ([`aor_of`]), and its hash ([`aor_hash`]).
//! - [`Location`]: the bindings of every AOR, in partitions, shared by
//!   the shards through an `Arc`; lookups, expiry, NAT keep-alive
//!   sources, export and import of snapshots ([`BindingRecord`]).
//! - [`register()`]: one REGISTER applied to the table (§10.3 steps 5-8),
//!   atomically: every check first, then the change; a [`Refusal`] names
//!   the response otherwise. [`write_ok_headers`] writes the 200's
//!   Contact and Path lines.
//!
//! # Where bindings live: the second key
//!
//! A shard owns a call by the hash of its Call-ID; bindings are keyed by
//! the AOR instead, and a REGISTER and the INVITE that looks its AOR up
//! come with unrelated Call-IDs. The table is therefore split into
//! partitions by [`aor_hash`]: partition `i` belongs to shard `i`, which
//! runs its expiry timer ([`Location::expire`], [`Location::next_expiry`])
//! and its NAT keep-alives ([`Location::nated`]). Any shard may read or
//! write any partition, under that partition's `std::sync::Mutex`: the
//! critical section is one hash lookup and an update of at most
//! `max_contacts` bindings, so an INVITE on shard A reading partition B
//! takes the lock rather than an asynchronous hop to shard B: cheaper
//! than a hand-off, and nothing awaits while a lock is held. Parsing and
//! allocation of the new bindings happen before the lock is taken.
//!
//! # Bounds
//!
//! Every dimension a peer controls is capped: the AORs of the whole table
//! (`max_aors`, 503 with Retry-After past it), the bindings of one AOR
//! (`max_contacts`, 403), the contacts of one REGISTER (twice
//! `max_contacts`: enough to remove every binding and add as many), a
//! Contact URI ([`MAX_CONTACT`] bytes), the Path of a binding
//! ([`MAX_PATH`]), a Call-ID ([`MAX_CALL_ID`]) and an instance ID
//! ([`MAX_INSTANCE`]). Work per REGISTER is at most quadratic in its
//! number of contacts, which is bounded by the above.
//!
//! # Approximations
//!
//! - A binding is identified (§10.3 step 7, RFC 5626 §6) by its
//!   `+sip.instance` and `reg-id` when the Contact has both, else by its
//!   Contact URI, compared as §19.1.4 would in the common case: scheme
//!   and host without regard to case, everything else (user, password,
//!   port, parameters, headers) byte for byte. Two URIs §19.1.4 calls
//!   equal may thus make two bindings (`%61lice` and `alice`, parameters
//!   in another order); a UA refreshes with the URI it registered, so this
//!   costs nothing in practice and keeps the identity a plain comparison.
//! - The AOR keeps the user part as written (escapes are not decoded) and
//!   ignores the scheme: `sips:alice@example.com` and
//!   `sip:alice@example.com` are one AOR.
//! - Path (RFC 3327 §5.3) is stored whenever the REGISTER has one, and
//!   echoed in the 200 only when the UA said `Supported: path`
//!   ([`supports_path`]), as Kamailio's registrar does in its default
//!   "lazy" mode; a strict registrar would refuse such a REGISTER with 420.

mod location;
mod register;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use core::hash::BuildHasher as _;
use serde::Deserialize;
use trunkline_parser::{HostKind, Uri};

pub use location::{
    Binding, BindingRecord, ImportError, Location, LocationLimits, NextHop, is_unroutable,
};
pub use register::{Refusal, behind_nat, register, request_path, supports_path, write_ok_headers};

/// The longest Contact URI stored: 512 bytes. A longer one is refused
/// with 400 rather than kept: every lookup copies it.
pub const MAX_CONTACT: usize = 512;

/// The longest Path of one binding, its values together: 1,024 bytes.
pub const MAX_PATH: usize = 1024;

/// The longest Call-ID a binding keeps: 256 bytes.
pub const MAX_CALL_ID: usize = 256;

/// The longest `+sip.instance` value (without its quotes): 256 bytes (an
/// `<urn:uuid:...>` takes 47).
pub const MAX_INSTANCE: usize = 256;

/// The longest AOR key, `user@domain`: 512 bytes.
pub const MAX_AOR: usize = 512;

/// How a lookup that finds several bindings forks the request (RFC 3261
/// §16.6: by q-value, highest first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fork {
    /// Every binding at once (the default).
    #[default]
    Parallel,
    /// One binding after another in q order, the next on a failure or a
    /// timeout.
    Serial,
}

/// The `[registrar]` table of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarConfig {
    /// The domains we are registrar for (host names or IP literals,
    /// compared without regard to case). Required, at least one. A
    /// REGISTER whose To names another domain gets 404 (§10.3 step 5).
    pub domains: Vec<String>,
    /// The shortest registration accepted, in seconds (default 60): a
    /// shorter nonzero one gets 423 with `Min-Expires` (§10.3 step 7).
    #[serde(default = "defaults::min_expires")]
    pub min_expires: u32,
    /// The longest registration granted, in seconds (default 3600):
    /// longer ones are shortened to it (§10.3 step 7).
    #[serde(default = "defaults::max_expires")]
    pub max_expires: u32,
    /// The registration granted when neither the contact's `expires` nor
    /// an Expires header gives one, in seconds (default 3600).
    #[serde(default = "defaults::default_expires")]
    pub default_expires: u32,
    /// The most bindings one AOR may hold (default 10); a REGISTER that
    /// would add past it gets 403.
    #[serde(default = "defaults::max_contacts")]
    pub max_contacts: usize,
    /// The most AORs the whole table holds (default 1,000,000); a
    /// REGISTER for a new AOR past it gets 503 with Retry-After.
    #[serde(default = "defaults::max_aors")]
    pub max_aors: usize,
    /// The answer to a request for one of our AORs that has no binding:
    /// 480 (Temporarily Unavailable, the default: the user exists but is
    /// not registered now) or 404 (Not Found).
    #[serde(default = "defaults::no_binding_code")]
    pub no_binding_code: u16,
    /// How a request forks to several bindings (default `parallel`).
    #[serde(default)]
    pub fork: Fork,
    /// The interval of NAT keep-alives to NATed bindings, in
    /// milliseconds (default 0: off; else at least 1,000).
    #[serde(default)]
    pub nat_keepalive_ms: u64,
    /// A directory where the bindings are saved as snapshots
    /// ([`BindingRecord`]s as JSON lines) and read back on start (default:
    /// none, the table lives in memory only).
    #[serde(default)]
    pub snapshot: Option<PathBuf>,
    /// A Redis URL the bindings are shared through (default: none).
    #[serde(default)]
    pub redis: Option<String>,
}

mod defaults {
    pub(super) fn min_expires() -> u32 {
        60
    }
    pub(super) fn max_expires() -> u32 {
        3600
    }
    pub(super) fn default_expires() -> u32 {
        3600
    }
    pub(super) fn max_contacts() -> usize {
        10
    }
    pub(super) fn max_aors() -> usize {
        1_000_000
    }
    pub(super) fn no_binding_code() -> u16 {
        480
    }
}

impl RegistrarConfig {
    /// The registrar for `domains` with every other setting at its default.
    pub fn new<S: Into<String>>(domains: impl IntoIterator<Item = S>) -> RegistrarConfig {
        RegistrarConfig {
            domains: domains.into_iter().map(Into::into).collect(),
            min_expires: defaults::min_expires(),
            max_expires: defaults::max_expires(),
            default_expires: defaults::default_expires(),
            max_contacts: defaults::max_contacts(),
            max_aors: defaults::max_aors(),
            no_binding_code: defaults::no_binding_code(),
            fork: Fork::Parallel,
            nat_keepalive_ms: 0,
            snapshot: None,
            redis: None,
        }
    }

    /// Checks the values together; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.domains.is_empty() {
            return Err("registrar.domains: at least one domain is required".into());
        }
        if let Some(d) = self
            .domains
            .iter()
            .find(|d| d.is_empty() || d.len() > 255 || !d.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(format!(
                "registrar.domains: `{d}` is not a host name or an IP literal"
            ));
        }
        if self.default_expires == 0 {
            return Err("registrar.default_expires: must be at least 1".into());
        }
        if self.min_expires > self.default_expires || self.default_expires > self.max_expires {
            return Err(format!(
                "registrar: min_expires ({}) <= default_expires ({}) <= max_expires ({}) must hold",
                self.min_expires, self.default_expires, self.max_expires
            ));
        }
        if !matches!(self.no_binding_code, 404 | 480) {
            return Err(format!(
                "registrar.no_binding_code: 404 or 480, not {}",
                self.no_binding_code
            ));
        }
        if self.max_contacts == 0 {
            return Err("registrar.max_contacts: must be at least 1".into());
        }
        if self.max_aors == 0 {
            return Err("registrar.max_aors: must be at least 1".into());
        }
        if self.nat_keepalive_ms != 0 && self.nat_keepalive_ms < 1000 {
            return Err(format!(
                "registrar.nat_keepalive_ms: 0 (off) or at least 1000, not {}",
                self.nat_keepalive_ms
            ));
        }
        Ok(())
    }

    /// Whether `host` (as a URI writes it: a name, an IPv4 address or a
    /// bracketed IPv6 reference) is one of our domains, without regard to
    /// case or a trailing dot.
    pub fn is_local_domain(&self, host: &[u8]) -> bool {
        let host = strip_dot(host);
        self.domains
            .iter()
            .any(|d| strip_dot(d.as_bytes()).eq_ignore_ascii_case(host))
    }

    /// The response to a request for one of our AORs that has no binding
    /// (`no_binding_code`).
    pub fn no_binding(&self) -> Refusal {
        match self.no_binding_code {
            404 => Refusal::new(404, b"Not Found"),
            _ => Refusal::new(480, b"Temporarily Unavailable"),
        }
    }
}

fn strip_dot(s: &[u8]) -> &[u8] {
    s.strip_suffix(b".").unwrap_or(s)
}

/// An address-of-record as the table's key: `user@domain`, the user part
/// as written (escapes kept, case kept: §19.1.4 compares it exactly), the
/// domain lower-cased without a trailing dot; no scheme, port or
/// parameters. A URI without user part gives the domain alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor(Box<str>);

impl Aor {
    /// The key, `user@domain`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(_, d)| d)
    }

    /// The user part, if any.
    pub fn user(&self) -> Option<&str> {
        self.0.rsplit_once('@').map(|(u, _)| u)
    }

    /// Reads a key back (as [`BindingRecord::aor`] keeps it), normalized as
    /// [`aor_of`] would; `None` when it is not `[user@]host` of a SIP URI.
    pub fn from_key(key: &str) -> Option<Aor> {
        if key.len() > MAX_AOR {
            return None;
        }
        let uri = format!("sip:{key}");
        aor_of(&Uri::parse(uri.as_bytes()).ok()?)
    }
}

impl core::fmt::Display for Aor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The AOR a SIP or SIPS URI names (the To URI of a REGISTER, the
/// Request-URI of a request for one of our users); `None` for other
/// schemes, a user part that is not ASCII, or a key longer than
/// [`MAX_AOR`].
pub fn aor_of(uri: &Uri<'_>) -> Option<Aor> {
    let sip = uri.as_sip()?;
    let mut host = sip.host.text;
    if sip.host.kind == HostKind::Name {
        host = strip_dot(host);
    }
    let user = sip.user.unwrap_or_default();
    let len = user.len() + usize::from(sip.user.is_some()) + host.len();
    if len > MAX_AOR || host.is_empty() || !user.is_ascii() || !host.is_ascii() {
        return None;
    }
    let mut key = String::with_capacity(len);
    if let Some(user) = sip.user {
        key.push_str(core::str::from_utf8(user).ok()?);
        key.push('@');
    }
    for &b in host {
        key.push(char::from(b.to_ascii_lowercase()));
    }
    Some(Aor(key.into_boxed_str()))
}

/// The seed of [`aor_hash`]: fixed, so every shard (and every run)
/// places an AOR in the same partition.
const AOR_SEED: u64 = 0x7265_6769_7374_7261;

/// The AOR's hash, which picks its partition ([`Location::partition_of`]).
/// Fixed-seeded foldhash: fast, and a peer that crafts AORs to land in
/// one partition only unbalances the locks, never a map (each partition's
/// map has its own random seed).
pub fn aor_hash(aor: &Aor) -> u64 {
    foldhash::fast::FixedState::with_seed(AOR_SEED).hash_one(aor.as_str())
}
