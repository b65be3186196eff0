//! trunkload, a SIPp-compatible load generator (to come, issue 4).
//!
//! This crate will own SIPp scenario loading (XML, keywords, actions), the
//! sans-IO call executor, open-loop pacing, HdrHistogram statistics and
//! SIPp's output files, and the `trunkload` binary that runs scenarios on
//! every core.
