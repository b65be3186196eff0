//! Least-cost routing: where an initial INVITE goes when a routing table
//! is configured, as an ordered list of gateways tried one after another.
//!
//! - here: the contract between the proxy core and whatever chooses the
//!   gateways: a [`TargetSource`] (shared by every shard) gives each shard
//!   a [`ShardTargets`] (owned by that shard's core: scratch buffers, the
//!   per-call seed), which turns an [`LcrRequest`] (the dialled number,
//!   the caller's address, the wall-clock time) into [`Target`]s, most
//!   preferred first; the [`FailoverCodes`] that move a call on; the
//!   Request-URI rewrite for a target.
//! - [`table`]: [`LcrTable`], the routing table in service: a
//!   memory-mapped snapshot of the `trunkline-routing-tables` crate,
//!   swapped under load.
//! - [`caps`]: a shard's share of the gateways' CPS and concurrent-call caps.
//!
//! The proxy core forwards to the first target; when that branch fails
//! with one of the [`FailoverCodes`] (default 408 and 5xx) or times out,
//! it tries the next, and so on (serial forking, RFC 3261 §16.6 with one
//! branch at a time; `crate::proxy::serial`). A 6xx, any other final
//! response, or a CANCEL from the caller ends the search; when every
//! target failed the caller gets the best final response (§16.7 step 6).
//!
//! The Request-URI of each copy is rewritten to `sip:USER@GATEWAY`: the
//! number as the target wants it (digits stripped or prefixed) at the
//! gateway's address, keeping the original URI parameters.

pub mod caps;
pub mod quality;
pub mod table;

pub use table::LcrTable;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use trunkline_parser::{Edits, Message, Span, Uri};
use trunkline_routing_tables::At;

/// The longest Request-URI user part a target can carry (E.164 numbers
/// have at most 15 digits; prefixes and technical prefixes fit easily).
pub const MAX_TARGET_USER: usize = 48;

/// The most targets one call tries (a branch index is 7 bits).
pub const MAX_TARGETS: usize = 32;

/// One next hop of a routed call: a gateway and the user part to send it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Where the copy goes.
    pub dest: SocketAddr,
    /// The gateway's index in the routing table (for counters).
    pub gateway: u32,
    /// What the gateway's caps are counted under: the same for all its
    /// addresses, and across table swaps (indexes change, calls in
    /// progress do not). By default a hash of `dest`.
    pub cap_key: u64,
    /// The gateway's calls-per-second cap across the router (0: none).
    pub cps_limit: u32,
    /// The gateway's cap on calls at once across the router (0: none).
    pub concurrent_limit: u32,
    /// The carrier the rule reached the gateway through, for its
    /// `carrier:ID` call limit (`None`: the rule names the gateway itself).
    pub carrier_key: Option<IdKey>,
    /// The gateway's id, for its `gateway:ID` call limit.
    pub gateway_key: Option<IdKey>,
    user: [u8; MAX_TARGET_USER],
    user_len: u8,
    /// Send the Request-URI as it is (an address of a next hop given by
    /// name), not rewritten to `user@dest`.
    keep_uri: bool,
    /// A registered contact's index + 1 in its context's contact list
    /// (0: none): the copy's Request-URI becomes the contact, its Route
    /// the binding's Path.
    contact: u8,
}

impl Target {
    /// A target sending `user` to `dest`; `None` if `user` is longer than
    /// [`MAX_TARGET_USER`].
    pub fn new(dest: SocketAddr, gateway: u32, user: &[u8]) -> Option<Target> {
        if user.len() > MAX_TARGET_USER {
            return None;
        }
        let mut t = Target {
            dest,
            gateway,
            cap_key: address_key(&dest),
            cps_limit: 0,
            concurrent_limit: 0,
            carrier_key: None,
            gateway_key: None,
            user: [0; MAX_TARGET_USER],
            user_len: user.len() as u8,
            keep_uri: false,
            contact: 0,
        };
        t.user[..user.len()].copy_from_slice(user);
        Some(t)
    }

    /// A target that sends the request to `dest` with its Request-URI
    /// unchanged: one of the addresses of a next hop given by host name
    /// (RFC 3263 §4.3: tried in turn).
    pub fn address(dest: SocketAddr) -> Target {
        let mut t = Target::new(dest, u32::MAX, b"").expect("empty user fits");
        t.keep_uri = true;
        t
    }

    /// Whether the Request-URI goes out unchanged ([`Target::address`]).
    pub fn keeps_request_uri(&self) -> bool {
        self.keep_uri
    }

    /// The same target (its Request-URI user, gateway, limits) sent to
    /// `dest` instead: a destination of the dispatcher set its gateway
    /// stands for; its caps are counted under `dest`.
    pub fn sent_to(mut self, dest: SocketAddr) -> Target {
        self.dest = dest;
        self.cap_key = address_key(&dest);
        self
    }

    /// A target that sends the request to `dest` for registered contact
    /// number `index` of its request's contact list (the registrar's
    /// bindings, RFC 3261 §16.5): the copy's Request-URI is the contact.
    /// `None` past 254 contacts.
    pub fn contact(dest: SocketAddr, index: usize) -> Option<Target> {
        let mut t = Target::address(dest);
        t.contact = u8::try_from(index + 1).ok().filter(|&c| c < u8::MAX)?;
        Some(t)
    }

    /// The index of the registered contact this target is for.
    pub fn contact_index(&self) -> Option<usize> {
        (self.contact > 0).then(|| usize::from(self.contact) - 1)
    }

    /// The Request-URI user part for this target.
    pub fn user(&self) -> &[u8] {
        &self.user[..self.user_len as usize]
    }

    /// The same target with its caps counted under `key` (shared by the
    /// targets of one gateway).
    pub fn with_cap_key(mut self, key: u64) -> Target {
        self.cap_key = key;
        self
    }

    /// The same target with a calls-per-second cap (0: none).
    pub fn with_cps_limit(mut self, cps: u32) -> Target {
        self.cps_limit = cps;
        self
    }

    /// The same target with a cap on calls at once (0: none).
    pub fn with_concurrent_limit(mut self, calls: u32) -> Target {
        self.concurrent_limit = calls;
        self
    }

    /// The same target known to the call limits as gateway `gateway` of
    /// carrier `carrier` (`None`: reached without one).
    pub fn with_ids(self, carrier: Option<&str>, gateway: &str) -> Target {
        self.with_id_keys(carrier.map(IdKey::of), Some(IdKey::of(gateway)))
    }

    /// [`Target::with_ids`] with the ids' keys already computed.
    pub fn with_id_keys(mut self, carrier: Option<IdKey>, gateway: Option<IdKey>) -> Target {
        self.carrier_key = carrier;
        self.gateway_key = gateway;
        self
    }
}

/// A carrier's or gateway's id as a [`Target`] carries it: a 64-bit hash
/// of the id, the same in every table (calls routed by one table are
/// admitted and released after a swap to another) and in every process.
/// A target holds two of them, inline, instead of the ids (of any length)
/// or indexes valid only in the table that routed it; the call limits
/// map a key back to their own copy of the id
/// (`crate::proxy::stages::limits::TargetLimits`), so two ids collide
/// only with a 64-bit hash collision.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdKey(core::num::NonZeroU64);

impl IdKey {
    /// The key of `id`.
    pub fn of(id: &str) -> IdKey {
        use core::hash::BuildHasher;
        let h = foldhash::fast::FixedState::with_seed(0x7472_756e_6b6c_696e).hash_one(id);
        IdKey(core::num::NonZeroU64::new(h).unwrap_or(core::num::NonZeroU64::MAX))
    }

    /// The key as a number.
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for IdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdKey({:016x})", self.0)
    }
}

/// The default [`Target::cap_key`]: caps per address.
fn address_key(dest: &SocketAddr) -> u64 {
    use core::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6164_6472_6573_7321).hash_one(dest)
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("dest", &self.dest)
            .field("gateway", &self.gateway)
            .field("cps_limit", &self.cps_limit)
            .field("concurrent_limit", &self.concurrent_limit)
            .field("carrier_key", &self.carrier_key)
            .field("gateway_key", &self.gateway_key)
            .field("user", &String::from_utf8_lossy(self.user()))
            .finish()
    }
}

/// A routing group's name, held inline (no allocation per call): what a
/// policy's `set_group` gives a call, and the ACL group of a source.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct GroupName {
    buf: [u8; GroupName::MAX],
    len: u8,
}

impl GroupName {
    /// The longest name, in bytes.
    pub const MAX: usize = 63;

    /// `name`, if it fits.
    pub fn new(name: &str) -> Option<GroupName> {
        let b = name.as_bytes();
        (b.len() <= GroupName::MAX).then(|| {
            let mut buf = [0; GroupName::MAX];
            buf[..b.len()].copy_from_slice(b);
            GroupName {
                buf,
                len: b.len() as u8,
            }
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built from a `&str` cut at its own length: valid UTF-8.
        core::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a routing decision is made on.
#[derive(Clone, Copy, Debug)]
pub struct LcrRequest<'a> {
    /// The dialled number: the Request-URI user part (SIP) or number (tel).
    pub number: &'a [u8],
    /// Where the INVITE came from (source ACL → routing group).
    pub source: IpAddr,
    /// The routing group a policy gave the call (`set_group`), instead of
    /// the source's ACL group.
    pub group: Option<&'a str>,
    /// The wall-clock time of the call (rules' time windows): given by
    /// the caller, never read from the system clock by a lookup.
    pub at: At,
}

/// Why a call has no target: the response the caller gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoute {
    /// Status code (404 when no rule matches, unless configured otherwise).
    pub code: u16,
    /// Reason phrase.
    pub reason: &'static [u8],
}

/// Chooses the ordered next hops of an initial INVITE: one value shared
/// by every shard (`Send + Sync`), lock-free to read.
pub trait TargetSource: fmt::Debug + Send + Sync + 'static {
    /// Fills `out` (cleared by the caller) with at most [`MAX_TARGETS`]
    /// targets, most preferred first. The shared path, for tools and
    /// tests: it may allocate. Shards route through [`TargetSource::for_shard`].
    fn targets(&self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute>;

    /// Appends the gateways to probe with OPTIONS (`crate::proxy::probe`);
    /// called once per probing round. None by default.
    fn probed(&self, out: &mut Vec<SocketAddr>) {
        let _ = out;
    }

    /// The part shard `shard` owns: its scratch buffers, caches and the
    /// seed of its per-call draws (`seed`). By default, the shared
    /// source itself (for sources that need no per-shard state).
    fn for_shard(self: Arc<Self>, shard: u16, seed: u64) -> Box<dyn ShardTargets> {
        let _ = (shard, seed);
        Box::new(Shared(self))
    }

    /// The routing group of a call from `source` (the source's ACL
    /// entry); `None`: the source is unknown (refused calls). Implement
    /// it unless every source is unknown.
    fn source_group(&self, source: IpAddr) -> Option<GroupName> {
        let _ = source;
        None
    }

    /// The dispatcher set gateway `gateway` stands for (its `attrs` name
    /// one: `dispatch=ID`): the route stage sends its targets to the
    /// set's destinations instead. None by default.
    fn dispatch_set(&self, gateway: u32) -> Option<GroupName> {
        let _ = gateway;
        None
    }
}

/// A shard's own router: what [`TargetSource::for_shard`] gives the
/// shard's core, called for every routed call on that shard only.
/// Implementations must not block, lock or allocate per call.
pub trait ShardTargets: fmt::Debug + Send {
    /// Fills `out` (cleared by the caller) with at most [`MAX_TARGETS`]
    /// targets, most preferred first.
    fn targets(&mut self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute>;

    /// Appends the gateways to probe with OPTIONS; once per round.
    fn probed(&self, out: &mut Vec<SocketAddr>);

    /// The routing group of a call from `source` (the table's ACL), for
    /// the policy's `group` condition; `None` without one.
    fn source_group(&self, source: IpAddr) -> Option<GroupName> {
        let _ = source;
        None
    }

    /// The operator's id of gateway `gateway` ([`Target::gateway`]) in
    /// the table in service, for CDRs (allocates: only asked when CDRs
    /// are written); `None` when unknown.
    fn gateway_id(&self, gateway: u32) -> Option<Box<str>> {
        let _ = gateway;
        None
    }

    /// [`TargetSource::dispatch_set`], from the table in service.
    fn dispatch_set(&self, gateway: u32) -> Option<GroupName> {
        let _ = gateway;
        None
    }
}

/// A [`TargetSource`] that needs no per-shard state, used as it is.
#[derive(Debug)]
struct Shared<T: ?Sized>(Arc<T>);

impl<T: TargetSource + ?Sized> ShardTargets for Shared<T> {
    fn targets(&mut self, req: &LcrRequest<'_>, out: &mut Vec<Target>) -> Result<(), NoRoute> {
        self.0.targets(req, out)
    }

    fn probed(&self, out: &mut Vec<SocketAddr>) {
        self.0.probed(out);
    }

    fn source_group(&self, source: IpAddr) -> Option<GroupName> {
        self.0.source_group(source)
    }

    fn dispatch_set(&self, gateway: u32) -> Option<GroupName> {
        self.0.dispatch_set(gateway)
    }
}

/// The dispatcher set a gateway's `attrs` name (`dispatch=ID`, among
/// `key=value` pairs separated by `;`, `,` or spaces).
pub fn dispatch_attr(attrs: &str) -> Option<GroupName> {
    attrs
        .split([';', ',', ' '])
        .find_map(|kv| kv.trim().strip_prefix("dispatch="))
        .and_then(GroupName::new)
}

/// The final responses that move a call to its next target.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FailoverCodes {
    /// Bit `c - 300` for each code `c` in 300..=599.
    bits: [u64; 5],
}

impl Default for FailoverCodes {
    /// 408 and every 5xx.
    fn default() -> Self {
        let mut f = FailoverCodes::none();
        f.insert(408);
        for c in 500..=599 {
            f.insert(c);
        }
        f
    }
}

impl fmt::Debug for FailoverCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((300..600).filter(|&c| self.contains(c)))
            .finish()
    }
}

/// An entry of a failover list that is not a 3xx-5xx code or class.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a failover code: give a status 300-599 (`503`) or a class (`5xx`); a 6xx always ends the search (RFC 3261 §16.7)"
)]
pub struct BadFailoverCode(pub String);

impl FailoverCodes {
    /// No code fails over (only timeouts... which are 408: also none).
    pub fn none() -> FailoverCodes {
        FailoverCodes { bits: [0; 5] }
    }

    /// Adds `code` (300..=599; others are ignored).
    pub fn insert(&mut self, code: u16) {
        if (300..600).contains(&code) {
            let i = (code - 300) as usize;
            self.bits[i / 64] |= 1 << (i % 64);
        }
    }

    /// Whether a final response `code` (or a timeout, 408) fails over.
    pub fn contains(&self, code: u16) -> bool {
        (300..600).contains(&code) && {
            let i = (code - 300) as usize;
            self.bits[i / 64] & (1 << (i % 64)) != 0
        }
    }

    /// Parses a list such as `["408", "5xx", "603"]`: codes 300-599 and
    /// classes `3xx`-`5xx`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self, BadFailoverCode> {
        let mut f = FailoverCodes::none();
        for item in items {
            let bad = || BadFailoverCode(item.to_string());
            let t = item.trim();
            match t.as_bytes() {
                [c @ b'3'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                    let base = (c - b'0') as u16 * 100;
                    for code in base..base + 100 {
                        f.insert(code);
                    }
                }
                _ => {
                    let code: u16 = t.parse().map_err(|_| bad())?;
                    if !(300..600).contains(&code) {
                        return Err(bad());
                    }
                    f.insert(code);
                }
            }
        }
        Ok(f)
    }
}

/// The number an INVITE dials: the Request-URI user part up to any `;`
/// (SIP, SIPS) or the tel number (RFC 3966); `None` without one.
pub fn dialled_number<'a>(msg: &Message<'a>) -> Option<&'a [u8]> {
    match msg.request_uri()?.ok()? {
        Uri::Sip(u) => {
            let user = u.user?;
            let end = user.iter().position(|&b| b == b';').unwrap_or(user.len());
            Some(&user[..end]).filter(|n| !n.is_empty())
        }
        Uri::Tel(t) => Some(t.number).filter(|n| !n.is_empty()),
        _ => None,
    }
}

/// Rewrites the Request-URI of the copy for `target`: `sip:USER@DEST`,
/// keeping the scheme and URI parameters of a SIP URI (a tel URI becomes
/// `sip:USER@DEST;user=phone`). `scratch` is a reusable buffer.
pub(crate) fn rewrite_request_uri(
    msg: &Message<'_>,
    target: &Target,
    e: &mut Edits,
    scratch: &mut Vec<u8>,
) {
    use std::io::Write;
    let (Some(span), Some(Ok(uri))) = (msg.request_uri_span(), msg.request_uri()) else {
        return;
    };
    scratch.clear();
    let replaced = match uri {
        Uri::Sip(u) => {
            let start = match u.user {
                Some(user) => msg.span_of(user).start,
                None => msg.span_of(u.host.text).start,
            };
            let end = msg.span_of(u.params).start;
            Span::new(start as usize, end as usize)
        }
        _ => {
            scratch.extend_from_slice(b"sip:");
            span
        }
    };
    scratch.extend_from_slice(target.user());
    let _ = write!(scratch, "@{}", target.dest);
    if !matches!(uri, Uri::Sip(_)) {
        scratch.extend_from_slice(b";user=phone");
    }
    let piece = e.scratch(scratch);
    e.replace(replaced, piece);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_codes_parse_codes_and_classes() {
        let f = FailoverCodes::parse(["408", "5xx", "486"]).unwrap();
        for c in [408, 486, 500, 503, 599] {
            assert!(f.contains(c), "{c}");
        }
        for c in [404, 600, 603, 200, 180, 499] {
            assert!(!f.contains(c), "{c}");
        }
        assert_eq!(
            FailoverCodes::parse(["408", "5xx"]).unwrap(),
            FailoverCodes::default()
        );
        for bad in ["603", "6xx", "200", "abc", "5x", ""] {
            assert!(FailoverCodes::parse([bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_target_refuses_an_overlong_user() {
        let d: SocketAddr = "192.0.2.1:5060".parse().unwrap();
        assert_eq!(Target::new(d, 1, b"+4930123").unwrap().user(), b"+4930123");
        assert!(Target::new(d, 1, &[b'1'; MAX_TARGET_USER + 1]).is_none());
    }

    #[test]
    fn the_dialled_number_comes_from_the_request_uri() {
        let mut p = trunkline_parser::Parser::default();
        let req = |ruri: &str| {
            format!(
                "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n\
To: <sip:b@x>\r\nFrom: <sip:a@x>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"
            )
        };
        let cases = [
            ("sip:+14155550123@gw;user=phone", Some(&b"+14155550123"[..])),
            ("sip:4930123;npdi@gw", Some(b"4930123")),
            ("tel:+4930123", Some(b"+4930123")),
            ("sip:gw.example.net", None),
        ];
        for (ruri, want) in cases {
            let raw = req(ruri);
            let m = p.parse(raw.as_bytes()).unwrap();
            assert_eq!(dialled_number(&m), want, "{ruri}");
        }
    }
}
