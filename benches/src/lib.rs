//! Bench support (the end-to-end harness comes with the load generator, issue 4).
//!
//! [`messages`] holds the wire messages of the parser micro-benches
//! (`benches/parse.rs`) and the values they must yield.

pub mod messages;
