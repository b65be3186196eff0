//! The snapshot file: a fixed 64-byte header, then an rkyv archive of
//! [`RoutingTable`].
//!
//! Header (all little-endian):
//!
//! | bytes  | field                                              |
//! |--------|----------------------------------------------------|
//! | 0..8   | magic `TLROUTE\0`                                  |
//! | 8..12  | format version ([`FORMAT_VERSION`])                |
//! | 12..16 | header length (64)                                 |
//! | 16..24 | build time, Unix seconds                           |
//! | 24..32 | source digest: xxh3-64 over the input CSV files     |
//! | 32..40 | body length in bytes                               |
//! | 40..48 | body checksum: xxh3-64 of the body                 |
//! | 48..56 | header checksum: xxh3-64 of bytes 0..48            |
//! | 56..64 | reserved, zero                                     |
//!
//! The body starts at byte 64, so a page-aligned mapping leaves it aligned
//! for rkyv. Everything the lookup needs is in flat arrays of small
//! fixed-size records indexed by `u32`; strings that repeat across rules
//! (target lists, attributes) are interned once. Why this shape: see
//! `lookup.rs`. Time zones of windows are stored as each zone's UTC offset
//! changes over a coverage period, so lookups need no tz database (see
//! `zone.rs`).
//!
//! Version 3 added the zones (`Rule::win_zone`, `zones`,
//! `zone_transitions`); version 4 added `Gateway::port_given` (a host name
//! written without a port is looked up with SRV, RFC 3263 §4.2); version 5
//! added `Entry::first_targets` (the first rule's target list, so routing a
//! call does not read the rule). A file of
//! an older version is refused with a message to rebuild it from its CSV
//! files.

use rkyv::{Archive, Deserialize, Serialize};

/// The file magic.
pub const MAGIC: [u8; 8] = *b"TLROUTE\0";
/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 5;
/// The header length; the rkyv body starts here.
pub const HEADER_LEN: usize = 64;

/// "No entry" in `parent` fields.
pub const NONE: u32 = u32::MAX;
/// The bit that marks a target as a carrier (otherwise a gateway).
pub const CARRIER_BIT: u32 = 1 << 31;

/// The decoded snapshot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Build time, Unix seconds.
    pub built_at: u64,
    /// xxh3-64 over the input CSV files (names and bytes).
    pub source_digest: u64,
    /// Body length.
    pub body_len: u64,
    /// xxh3-64 of the body.
    pub body_checksum: u64,
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&self.version.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.built_at.to_le_bytes());
        h[24..32].copy_from_slice(&self.source_digest.to_le_bytes());
        h[32..40].copy_from_slice(&self.body_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.body_checksum.to_le_bytes());
        let crc = xxhash_rust::xxh3::xxh3_64(&h[0..48]);
        h[48..56].copy_from_slice(&crc.to_le_bytes());
        h
    }
}

/// Transport towards a gateway.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

/// How a carrier orders its gateways.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum Order {
    /// As listed.
    Ordered,
    /// Shuffled per call, each pick proportional to weight.
    Weighted,
}

/// A next-hop SIP gateway.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Gateway {
    /// Operator's id.
    pub id: String,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (5060 when the address has none).
    pub port: u16,
    /// The address was written with a port. Without one, a host name is
    /// looked up with SRV first (`_sip._udp.HOST`, RFC 3263 §4.2), and
    /// `port` (5060) applies only when there are no SRV records.
    pub port_given: bool,
    /// Transport.
    pub transport: Transport,
    /// Weight within weighted carriers (unless the carrier overrides it).
    pub weight: u32,
    /// Send OPTIONS probes.
    pub probing: bool,
    /// Calls per second cap; 0 = none.
    pub cps_cap: u32,
    /// Concurrent calls cap; 0 = none.
    pub concurrent_cap: u32,
    /// Leading digits to strip from the number on the way out.
    pub strip: u8,
    /// Digits to prepend after stripping.
    pub prefix: String,
    /// Free-form attributes.
    pub attrs: String,
}

/// A carrier: a list of gateways used together.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Carrier {
    /// Operator's id (shares the namespace of gateway ids).
    pub id: String,
    /// Ordering of the members.
    pub order: Order,
    /// Use only the first gateway (after ordering) instead of all.
    pub first_only: bool,
    /// Members are `members[start..end]`.
    pub members_start: u32,
    /// End of the member range.
    pub members_end: u32,
}

/// A carrier's member gateway.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Member {
    /// Gateway index.
    pub gateway: u32,
    /// Weight in this carrier.
    pub weight: u32,
}

/// Prefix entries of one (group, leading `+` or not) pair.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Namespace {
    /// Entries are `entries[start..end]`.
    pub start: u32,
    /// End of the entry range.
    pub end: u32,
    /// The bucket directory is `buckets[bucket_start ..= bucket_start + 2^bits]`.
    pub bucket_start: u32,
    /// log2 of the number of buckets (0..=24).
    pub bucket_bits: u8,
}

/// One distinct prefix: its rules, and its longest proper prefix that has
/// rules too (walked when the key is outside this range or no rule's
/// window is open).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Entry {
    /// The prefix's key (`key.rs`); entries of a namespace are sorted by it.
    /// Kept in the entry (not a separate key array) so the binary search
    /// brings the matched entry into cache with its key.
    pub key: u64,
    /// Index of the parent entry, or [`NONE`]; always below this entry's.
    pub parent: u32,
    /// Rules are `rules[rules_start .. rules_start + rules_len]`, by priority.
    pub rules_start: u32,
    /// Number of rules.
    pub rules_len: u16,
    /// Prefix length in digits (without the `+`).
    pub len: u8,
    /// [`ALWAYS_OPEN`]: the first rule has no time window, so a lookup
    /// can return it without reading the rule.
    pub flags: u8,
    /// The first rule's target list (its `Rule::targets`): with
    /// [`ALWAYS_OPEN`], a call is routed from the entry alone, without the
    /// dependent read of the rule (another cache miss in a large table).
    /// (Fits in the record's padding: still 24 bytes.)
    pub first_targets: u32,
}

const _: () = assert!(std::mem::size_of::<ArchivedEntry>() == 24);

/// [`Entry::flags`] bit: the entry's first rule is always open.
pub const ALWAYS_OPEN: u8 = 1;

/// One routing rule.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Rule {
    /// Lower is tried first.
    pub priority: i32,
    /// Index of the target list.
    pub targets: u32,
    /// Index into `attrs`.
    pub attrs: u32,
    /// Line in the rules file.
    pub line: u32,
    /// Window start minute.
    pub win_start: u16,
    /// Window end minute.
    pub win_end: u16,
    /// Window days; 0 = always.
    pub win_days: u8,
    /// The window's time zone: 0 = UTC, `k` = `zones[k - 1]`; always 0
    /// without a window. (Fits in the record's padding: still 24 bytes.)
    pub win_zone: u16,
}

// The zone index took padding: a rule is still 24 bytes in the archive.
const _: () = assert!(std::mem::size_of::<ArchivedRule>() == 24);

/// A time zone used by some rule's window.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Zone {
    /// IANA name (`Europe/London`).
    pub name: String,
    /// Its offsets are `zone_transitions[transitions_start..transitions_end]`
    /// (at least one).
    pub transitions_start: u32,
    /// End of the transition range.
    pub transitions_end: u32,
}

/// From `at` on (until the zone's next entry), local time is UTC plus
/// `offset`. A zone's first entry is at the start of the coverage period;
/// its offset also applies before it.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct ZoneTransition {
    /// Unix seconds.
    pub at: i64,
    /// Seconds east of UTC (within ±25:59:59).
    pub offset: i32,
}

/// One dialplan rule.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct DialplanRule {
    /// Lower is tried first.
    pub priority: i32,
    /// `true`: `pattern` is a regex; `false`: a literal prefix.
    pub regex: bool,
    /// The regex or prefix.
    pub pattern: String,
    /// Replacement (`$N` refers to regex groups).
    pub replace: String,
    /// Line in the dialplan file.
    pub line: u32,
}

/// One source ACL entry: an address range (IPv4 as IPv4-mapped IPv6).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct AclEntry {
    /// First address.
    pub start: u128,
    /// Last address (inclusive).
    pub end: u128,
    /// Enclosing entry or [`NONE`]; always below this entry's index.
    pub parent: u32,
    /// Routing group.
    pub group: u32,
    /// Prefix length, counted on the IPv6 form.
    pub len: u8,
    /// Line in the ACL file.
    pub line: u32,
}

/// The whole table, as archived in a snapshot.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct RoutingTable {
    /// Names of the input files (roles: gateways, carriers, rules, dialplan, acl).
    pub sources: Vec<String>,
    /// Routing group names, sorted; a `GroupId` is an index.
    pub groups: Vec<String>,
    /// Gateways, sorted by id.
    pub gateways: Vec<Gateway>,
    /// Carriers, sorted by id.
    pub carriers: Vec<Carrier>,
    /// Carrier members.
    pub members: Vec<Member>,
    /// Target list `i` is `targets[target_offsets[i]..target_offsets[i+1]]`.
    pub target_offsets: Vec<u32>,
    /// Gateway indexes, or carrier indexes with [`CARRIER_BIT`].
    pub targets: Vec<u32>,
    /// Interned attribute strings; index 0 is "".
    pub attrs: Vec<String>,
    /// `2 * groups.len()`: `[2g]` digits, `[2g + 1]` numbers with `+`.
    pub namespaces: Vec<Namespace>,
    /// Prefix entries, sorted by key within each namespace.
    pub entries: Vec<Entry>,
    /// Bucket directories (entry offsets relative to the namespace start).
    pub buckets: Vec<u32>,
    /// Rules, grouped by entry, each group sorted by priority then line.
    pub rules: Vec<Rule>,
    /// Dialplan rules, by group, then priority, then line.
    pub dialplan: Vec<DialplanRule>,
    /// Group `g`'s dialplan is `dialplan[dialplan_offsets[g]..dialplan_offsets[g+1]]`.
    pub dialplan_offsets: Vec<u32>,
    /// ACL entries sorted by start, then length.
    pub acl: Vec<AclEntry>,
    /// Time zones named by rule windows, in order of first use.
    pub zones: Vec<Zone>,
    /// Every zone's offset changes, zone by zone, each zone's sorted by time.
    pub zone_transitions: Vec<ZoneTransition>,
    /// Start of the period the transitions cover (Unix seconds; 0 without zones).
    pub zone_coverage_start: i64,
    /// End of that period.
    pub zone_coverage_end: i64,
    /// The tz database the zones were read from, as jiff describes it
    /// (`TimeZoneDatabase(ZoneInfo(/usr/share/zoneinfo))`, or
    /// `TimeZoneDatabase(Bundled(available))` for the copy compiled in).
    pub zone_source: String,
}
