//! Routing tables as memory-mapped snapshots.
//!
//! Wholesale routing picks gateways by the longest matching prefix of the
//! dialled number, and rate decks of millions of prefixes are replaced
//! several times a day. This crate builds a deck (CSV files) offline into a
//! snapshot file, verifies and maps it read-only, answers lookups directly
//! on the mapped bytes (no deserialisation, no allocation per lookup), and
//! publishes a new snapshot to every shard in one atomic pointer swap.
//!
//! ```text
//!  gateways.csv ─┐
//!  carriers.csv ─┤  build()      ┌────────── table.snap ──────────┐
//!  rules.csv ────┼────────────▶  │ 64-byte header │ rkyv archive  │
//!  dialplan.csv ─┤  write_atomic └────────────────────────────────┘
//!  acl.csv ──────┘                        │ Snapshot::open: header, checksum,
//!                                         ▼ bytecheck, invariants, regexes
//!   shard: handle.load() ──▶ Snapshot ──▶ group_for_source → apply_dialplan
//!                                         → lookup → gateways_for
//! ```
//!
//! # CSV formats
//!
//! Every file has a header row naming its columns (any order, case-
//! insensitive; unknown columns are errors). Fields are trimmed; lines
//! starting with `#` are comments. Optional columns may be left out.
//!
//! - **gateways.csv**: `id,address[,transport,weight,probing,cps_cap,concurrent_cap,strip,prefix,attrs]`.
//!   `address` is `host[:port]` or `[v6][:port]`. Without a port, the
//!   router looks a host name up with SRV first (`_sip._udp.HOST`, RFC 3263
//!   §4.2: the records give the hosts, ports, priorities and weights) and
//!   falls back to its A/AAAA records with port 5060 when it has none; with
//!   a port, only A/AAAA. The snapshot keeps whether the port was written
//!   ([`format::Gateway::port_given`]; `port` reads 5060 when it was not);
//!   `transport` `udp` (default), `tcp` or `tls`; `weight` (default 1);
//!   `probing` yes/no; `cps_cap`, `concurrent_cap` (0 or empty: none);
//!   `strip` leading characters to remove and `prefix` to prepend on the
//!   way out; `attrs` free text.
//! - **carriers.csv**: `id,gateways[,order,use]`. `gateways` is
//!   `gw1;gw2=30;…` (`=W` overrides the gateway's weight); `order` is
//!   `ordered` (default) or `weighted` (shuffled per call by weight); `use`
//!   `all` (default) or `first`. Carrier and gateway ids share one namespace.
//! - **rules.csv**: `group,prefix,targets[,window,priority,attrs]`. `prefix`
//!   is up to 18 digits, optionally after a `+` (`+44` and `0044` are
//!   different prefixes: normalise with the dialplan); empty is the
//!   default route. `targets` is `gw1;carrierA;…`, tried in order.
//!   `window` is `DAYS HH:MM-HH:MM [ZONE]` ([`window`]): in UTC, or with
//!   an IANA zone (`mon-fri 09:00-17:00 Europe/London`) on that zone's
//!   wall clock, DST included; an unknown zone is an error. `priority`
//!   lower first (default 0). Two rules with the same group, prefix and
//!   priority whose windows can be open at the same instant are a
//!   duplicate.
//! - **dialplan.csv**: `group,match,pattern,replace[,priority]`. `match` is
//!   `prefix` or `regex` ([`dialplan`]).
//! - **acl.csv**: `cidr,group`. IPv4 or IPv6, `addr/len` or a host
//!   address; the longest match wins.
//!
//! # Lookup semantics
//!
//! The longest prefix that has a rule whose window is open wins; among its
//! rules the lowest priority (then the earliest line). If none of the
//! longest prefix's rules is open, shorter prefixes are tried, as
//! OpenSIPS' drouting does. A lookup is made at an instant ([`At`]): a UTC
//! window is tested on the instant's UTC minute of the week, a zoned one on
//! its zone's local minute, from the offsets the snapshot stores for the
//! zone ([`zone`]; jiff is used when building, never when looking up).

//! # Using a snapshot (what the router will do)
//!
//! ```
//! use trunkline_routing_tables::*;
//!
//! let built = build(BuildInputs {
//!     gateways: Source::bytes("gw.csv", "id,address,strip,prefix\ngw1,10.0.0.1:5060,1,00\n"),
//!     rules: Source::bytes("rules.csv", "group,prefix,targets\nretail,+44,gw1\n"),
//!     carriers: None,
//!     dialplan: Some(Source::bytes("dp.csv", "group,match,pattern,replace\nretail,prefix,00,+\n")),
//!     acl: Some(Source::bytes("acl.csv", "cidr,group\n192.0.2.0/24,retail\n")),
//! })
//! .map_err(|e| e.to_string())?;
//! // In service: `Snapshot::open(path)` maps a file written by `built.write`.
//! let handle = SnapshotHandle::new(Snapshot::from_bytes("mem", &built.to_bytes(0))?);
//!
//! // Per call, on a shard (no locks; `handle.publish(next)` swaps tables):
//! let snap = handle.load();
//! let group = snap.group_for_source("192.0.2.7".parse()?).ok_or("no ACL match")?;
//! let mut scratch = DialplanScratch::default(); // one per shard
//! let dialled = snap.apply_dialplan(group, "00442071234567", &mut scratch);
//! let rule = snap.lookup(group, dialled.number, At::now()).ok_or("404")?;
//! let mut gateways = Vec::new(); // one per shard, reused
//! snap.table().gateways_for(&rule, /* per-call seed */ 42, &mut gateways);
//! let gw = snap.table().gateway(gateways[0]).ok_or("gone")?;
//! let mut ruri_user = String::new();
//! gw.rewrite(dialled.number, &mut ruri_user);
//! assert_eq!((gw.address().as_str(), ruri_user.as_str()), ("10.0.0.1:5060", "00442071234567"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
// `unsafe` is confined to `mapped.rs` (the mapping and `access_unchecked`).
#![deny(unsafe_code)]

mod build;
pub mod dialplan;
mod error;
pub mod format;
pub mod generate;
mod key;
mod lookup;
mod mapped;
pub mod report;
mod source;
mod swap;
mod validate;
pub mod window;
pub mod zone;

pub use build::{BuildInputs, Built, build, build_at, write_atomic};
pub use dialplan::{Dialled, DialplanScratch};
pub use error::{BuildError, BuildErrorKind, BuildErrors, SnapError};
pub use format::{ArchivedRoutingTable, Header, RoutingTable};
pub use key::MAX_DIGITS;
pub use lookup::{CarrierId, GatewayId, GroupId, RuleRef};
pub use mapped::{Snapshot, verify};
pub use source::Source;
pub use swap::SnapshotHandle;
pub use window::{At, WeekMinute, Window};
