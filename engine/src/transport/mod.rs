//! Transports. UDP only for now (RFC 3261 §18); TCP/TLS come later.

pub mod udp;
