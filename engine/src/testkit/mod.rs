//! The shared test kit (feature `testkit`; always in this crate's tests):
//! what every test of the router needs, written once.
//!
//! - [`VirtualNet`]: the proxy core on a virtual network and clock, in
//!   the manner of quinn-proto's `Pair`: datagrams in, datagrams out,
//!   [`VirtualNet::step`] / [`VirtualNet::drive`] /
//!   [`VirtualNet::drive_bounded`] to run it, no sockets and no sleeping.
//!   Everything the core sends is checked as it leaves: it parses, it
//!   validates (but a 400 echoing what it refuses), and it leaves by a
//!   listener of its destination's address family.
//! - [`sip`]: UAC requests and UAS responses (on the parser's writer,
//!   [`trunkline_parser::write_response`]), and header lookups.
//! - [`Peer`]: a SIP peer on a real UDP socket, for the loopback tests;
//!   [`Peer::expect`] fails on a datagram it does not expect.
//! - `loopback` (with the runtime): a router on loopback built by the
//!   same [`RouterBuilder`](crate::runtime::RouterBuilder) as `trunkline
//!   run`, with short timers when a test wants them; `process`: `trunkline
//!   run` itself as a child process, read by its log; `sipp`: SIPp as a
//!   child process, for the tests against it.
//!
//! Users: this crate's unit tests, the fuzz driver (`engine/fuzz`), the
//! benches' proxy driver (`benches/src/proxy_call.rs`) and the end-to-end
//! tests (`tests/`).

#[cfg(feature = "runtime")]
pub mod loopback;
mod net;
mod peer;
#[cfg(feature = "runtime")]
pub mod process;
pub mod sip;
#[cfg(feature = "runtime")]
pub mod sipp;

pub use net::{Check, Sent, SocketAddrText, VirtualNet};
pub use peer::Peer;

/// `s` as a socket address (tests write addresses as text).
pub fn addr(s: &str) -> std::net::SocketAddr {
    s.parse()
        .unwrap_or_else(|_| panic!("`{s}` is not an IP:PORT address"))
}
