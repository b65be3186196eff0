//! The end-to-end tests' helpers: the engine's shared test kit
//! (`trunkline_engine::testkit`: loopback routers built by the same
//! `RouterBuilder` as `trunkline run`, UDP peers, SIP message builders),
//! and the call shapes these tests use.

use std::net::SocketAddr;

pub use trunkline_engine::testkit::loopback::{config, short_timers, start_router};
pub use trunkline_engine::testkit::sip::{UacCall, first_line, header};
pub use trunkline_engine::testkit::{Peer, addr};

/// The call `call_id` from `uac` to bob at `target`: From tag
/// `a-<call_id>`, the UAS's To tag `b-<call_id>`.
pub fn call(uac: &Peer, target: SocketAddr, call_id: &str) -> UacCall {
    UacCall::new(uac.addr, &format!("sip:bob@{target}"), call_id)
}

/// The INVITE of [`call`] with top Via branch `branch`.
pub fn invite(uac: &Peer, target: SocketAddr, call_id: &str, branch: &str) -> String {
    call(uac, target, call_id).invite(branch)
}

/// A request in the dialog of [`call`], through `route` (our Record-Route
/// URI) when given.
pub fn in_dialog(
    uac: &Peer,
    target: SocketAddr,
    method: &str,
    cseq: u32,
    call_id: &str,
    branch: &str,
    route: Option<&str>,
) -> String {
    let to_tag = format!("b-{call_id}");
    call(uac, target, call_id).request(method, cseq, branch, Some(&to_tag), route)
}

/// The UAS's response to `req`: To tag `b-<Call-ID>` (not on a 100), the
/// Record-Route echoed, Contact `contact` on a 2xx.
pub fn respond(req: &str, code: u16, reason: &str, contact: SocketAddr) -> String {
    let call_id = header(req, "Call-ID").first().copied().unwrap_or_default();
    let to_tag = format!("b-{call_id}");
    let contact = (200..300).contains(&code).then_some(contact);
    trunkline_engine::testkit::sip::respond(req, code, reason, Some(&to_tag), contact)
}
