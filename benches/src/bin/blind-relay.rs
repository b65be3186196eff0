//! A blind UDP relay: the floor any socket-based proxy pays on loopback.
//! Datagrams from the UAS go to the last client seen; all others go to the
//! UAS. No parsing: one `recv_from` and one `send_to` per datagram. The
//! receive buffer is 4 MiB, as trunkline's sockets (`shards::udp`), so the
//! floor is not lost to drops the router would not have.
//!
//! `blind-relay LISTEN UAS`, e.g. `blind-relay 127.0.0.1:5060 127.0.0.1:5070`.

use std::net::{SocketAddr, UdpSocket};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: blind-relay LISTEN_ADDR UAS_ADDR");
        std::process::exit(2);
    }
    let listen: SocketAddr = args[1].parse().expect("LISTEN_ADDR is IP:PORT");
    let uas: SocketAddr = args[2].parse().expect("UAS_ADDR is IP:PORT");
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(listen),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .expect("socket");
    let _ = sock.set_recv_buffer_size(4 << 20);
    sock.bind(&listen.into()).expect("bind");
    let sock: UdpSocket = sock.into();
    let mut client: Option<SocketAddr> = None;
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let dest = if src == uas {
            match client {
                Some(c) => c,
                None => continue,
            }
        } else {
            client = Some(src);
            uas
        };
        let _ = sock.send_to(&buf[..n], dest);
    }
}
