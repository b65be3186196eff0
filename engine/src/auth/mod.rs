//! Digest authentication (work in progress).

pub mod bans;
pub mod digest;
mod lru;
pub mod nonce;
pub mod replay;
pub mod subscribers;
