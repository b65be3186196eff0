//! UDP sockets for a shard: every shard binds the same address with
//! SO_REUSEPORT, so replies leave from the advertised address whichever
//! shard sends them.
//!
//! Datagrams are read with plain non-blocking `recvfrom` until the socket
//! is empty, and only then does the shard wait for readability through
//! glommio (an io_uring `MSG_PEEK` of one byte). Under load one wakeup
//! drains many datagrams; idle, no large receive buffer is allocated per
//! wait (glommio's own `recv_from` allocates one of the full buffer size
//! for every io_uring receive). Sends are non-blocking `sendto`, falling
//! back to glommio when the socket buffer is full.

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// One shard's socket on one listen address.
#[derive(Debug)]
pub struct UdpTransport {
    std: StdUdpSocket,
    ring: glommio::net::UdpSocket,
}

impl UdpTransport {
    /// Binds `addr` with SO_REUSEPORT (other shards bind it too). Must be
    /// called on a glommio executor.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpTransport> {
        Self::bind_with(addr, true)
    }

    /// Binds `addr`, shared with other sockets (SO_REUSEPORT) or not. A
    /// socket of its own fails on a port someone holds, and receives
    /// everything sent to it.
    pub fn bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpTransport> {
        let sock = udp_socket(addr, reuse_port)?;
        let ring = glommio::net::UdpSocket::from(sock.try_clone()?);
        Ok(UdpTransport {
            std: sock.into(),
            ring,
        })
    }

    /// Wraps a socket bound beforehand (e.g. by the main thread, so bind
    /// errors come before the shards start). Must be called on a glommio
    /// executor.
    pub fn from_socket(sock: Socket) -> io::Result<UdpTransport> {
        sock.set_nonblocking(true)?;
        let ring = glommio::net::UdpSocket::from(sock.try_clone()?);
        Ok(UdpTransport {
            std: sock.into(),
            ring,
        })
    }

    /// The next datagram if one is queued, without waiting.
    #[inline]
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        match self.std.recv_from(buf) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until a datagram is queued.
    pub async fn readable(&self) -> io::Result<()> {
        let mut one = [0u8; 1];
        self.ring
            .peek_from(&mut one)
            .await
            .map(|_| ())
            .map_err(io::Error::from)
    }

    /// Sends a datagram: at once if the socket buffer has room, else
    /// through glommio once it has.
    #[inline]
    pub async fn send_to(&self, buf: &[u8], dest: SocketAddr) -> io::Result<()> {
        match self.std.send_to(buf, dest) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self
                .ring
                .send_to(buf, dest)
                .await
                .map(|_| ())
                .map_err(io::Error::from),
            Err(e) => Err(e),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.std.local_addr()
    }
}

/// A non-blocking UDP socket bound to `addr` with SO_REUSEPORT.
pub fn reuseport_socket(addr: SocketAddr) -> io::Result<Socket> {
    udp_socket(addr, true)
}

/// A non-blocking UDP socket bound to `addr`, with 4 MiB buffers where
/// the system allows.
pub fn udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.set_nonblocking(true)?;
    // Room for bursts: 4 MiB, or what the system allows.
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.bind(&addr.into())?;
    Ok(sock)
}
