//! Bench support: the proxy driver (whole calls through the sans-IO core), routing-table fixtures, the messages (the end-to-end harness is `scripts/e2e.py`).
//!
//! [`messages`] holds the wire messages of the parser micro-benches
//! (`benches/parse.rs`) and the values they must yield; [`proxy_call`]
//! drives whole calls through the sans-IO proxy core (`benches/proxy.rs`).

pub mod messages;
pub mod proxy_call;
pub mod routing;
