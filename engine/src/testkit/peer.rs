//! A SIP peer on a real UDP socket, for the tests over loopback.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A SIP peer on a UDP socket of its own.
#[derive(Debug)]
pub struct Peer {
    /// Its socket.
    pub sock: UdpSocket,
    /// Its address.
    pub addr: SocketAddr,
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

impl Peer {
    /// A peer on 127.0.0.1, any free port.
    pub fn new() -> Peer {
        Peer::bind("127.0.0.1:0")
    }

    /// A peer on the IPv6 loopback, any free port.
    pub fn new_v6() -> Peer {
        Peer::bind("[::1]:0")
    }

    /// A peer bound to `at` (`127.0.0.3:0`: another loopback source).
    pub fn bind(at: &str) -> Peer {
        let sock = UdpSocket::bind(at).unwrap_or_else(|e| panic!("bind {at}: {e}"));
        let addr = sock.local_addr().expect("bound");
        Peer { sock, addr }
    }

    /// Sends `msg` to `to`.
    pub fn send(&self, to: SocketAddr, msg: &str) {
        self.sock.send_to(msg.as_bytes(), to).expect("send");
    }

    /// The next datagram within `timeout`, and where it came from.
    pub fn recv(&self, timeout: Duration) -> Option<(String, SocketAddr)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("read timeout");
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    return Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    /// The next message, within 2 s, whose first line starts with
    /// `start`; panics on anything else arriving first, or on silence.
    pub fn expect(&self, start: &str) -> String {
        self.expect_within(start, Duration::from_secs(2))
    }

    /// [`Peer::expect`] with a chosen timeout.
    pub fn expect_within(&self, start: &str, timeout: Duration) -> String {
        self.expect_skipping(start, &[], timeout)
    }

    /// The next message whose first line starts with `start`, within
    /// `timeout`, skipping those that start with one of `skip` (e.g. the
    /// retransmissions a test lets happen); panics on anything else.
    pub fn expect_skipping(&self, start: &str, skip: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_default();
            match self.recv(left) {
                Some((m, _)) if m.starts_with(start) => return m,
                Some((m, _)) if skip.iter().any(|s| m.starts_with(s)) => {}
                Some((m, from)) => panic!(
                    "peer {} expected `{start}`, got from {from}:\n{m}",
                    self.addr
                ),
                None => panic!(
                    "peer {} expected `{start}`, got nothing within {timeout:?}",
                    self.addr
                ),
            }
        }
    }

    /// Asserts that nothing but messages starting with one of `allowed`
    /// arrives within `d`.
    pub fn expect_nothing(&self, d: Duration, allowed: &[&str]) {
        let deadline = Instant::now() + d;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if let Some((m, _)) = self.recv(left) {
                assert!(
                    allowed.iter().any(|a| m.starts_with(a)),
                    "peer {} expected silence, got:\n{m}",
                    self.addr
                );
            }
        }
    }
}
