//! UDP sockets for a shard: the shared implementation in
//! [`trunkline_shards::udp`] (the load generator uses it too).

pub use trunkline_shards::udp::{Datagram, RecvBatch, SendScratch, UdpTransport, reuseport_socket};
