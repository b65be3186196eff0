//! UDP sockets for a shard: every shard binds the same address with
//! SO_REUSEPORT, so replies leave from the advertised address whichever
//! shard sends them.
//!
//! Datagrams are read in batches with non-blocking `recvmmsg(2)`; the
//! shard's loop ([`crate::serve`]) waits for readability with
//! `epoll_wait` only once a read came back short. Under load one wakeup
//! drains many datagrams with a few syscalls. What a batch produces is
//! sent with one `sendmmsg(2)`; a datagram the socket buffer has no room
//! for waits for room (`poll` for `POLLOUT`): backpressure, not a drop.
//!
//! What the kernel drops before we read it (the receive buffer was full)
//! is invisible to a reader, so every socket asks for `SO_RXQ_OVFL`: a
//! datagram queued after drops carries the socket's cumulative drop
//! counter in a control message, and [`RecvBatch::kernel_drops`] reports
//! how much it moved since the socket's last read (a drop is seen when
//! the next datagram is read, not before).

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// How long a send waits for room in the socket buffer before the
/// datagram counts as failed.
const SEND_WAIT_MS: i32 = 1000;

/// Control-message room per receive slot, in 8-byte words: one
/// `SO_RXQ_OVFL` message takes `CMSG_SPACE(4)` = 24 bytes; a message that
/// does not fit is cut by the kernel (`MSG_CTRUNC`) and ignored.
const CTRL_WORDS: usize = 4;

/// The length of an `SO_RXQ_OVFL` control message (its data is a u32).
// SAFETY: arithmetic on a constant; no pointer is involved.
const RXQ_OVFL_LEN: usize = unsafe { libc::CMSG_LEN(4) } as usize;

/// One shard's socket on one listen address.
#[derive(Debug)]
pub struct UdpTransport {
    std: StdUdpSocket,
    /// The kernel's cumulative drop counter (`SO_RXQ_OVFL`) as last read
    /// on this socket (it wraps at 2^32, as the kernel's does).
    drops_seen: AtomicU32,
}

impl UdpTransport {
    /// Binds `addr` with SO_REUSEPORT (other shards bind it too).
    pub fn bind(addr: SocketAddr) -> io::Result<UdpTransport> {
        Self::bind_with(addr, true)
    }

    /// Binds `addr`, shared with other sockets (SO_REUSEPORT) or not. A
    /// socket of its own fails on a port someone holds, and receives
    /// everything sent to it.
    pub fn bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpTransport> {
        let sock = udp_socket(addr, reuse_port)?;
        Ok(UdpTransport::new(sock))
    }

    /// Wraps a socket bound beforehand (e.g. by the main thread, so bind
    /// errors come before the shards start).
    pub fn from_socket(sock: Socket) -> io::Result<UdpTransport> {
        sock.set_nonblocking(true)?;
        // Sockets from `udp_socket` have it already; others may not.
        enable_rxq_ovfl(&sock);
        Ok(UdpTransport::new(sock))
    }

    fn new(sock: Socket) -> UdpTransport {
        UdpTransport {
            std: sock.into(),
            drops_seen: AtomicU32::new(0),
        }
    }

    /// The socket's descriptor (for the shard's `epoll`).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.std.as_raw_fd()
    }

    /// Waits up to `timeout_ms` (-1: forever) until a datagram is queued
    /// (`poll(2)`); whether one is. The shard loop waits with `epoll`
    /// instead; this is for simple users and tests.
    pub fn wait_readable(&self, timeout_ms: i32) -> io::Result<bool> {
        wait_for(self.std.as_raw_fd(), libc::POLLIN, timeout_ms)
    }

    /// Reads the datagrams queued, up to `batch`'s capacity, with one
    /// `recvmmsg(2)`, without waiting: 0 when the socket is empty. A
    /// datagram longer than a slot is cut to the slot's length (make slots
    /// one byte longer than the largest message accepted, to tell).
    /// [`RecvBatch::kernel_drops`] tells how many datagrams the kernel
    /// dropped on this socket since its last read.
    pub fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.got.clear();
        batch.kernel_drops = 0;
        let slots = batch.hdrs.len();
        // Only the headers the last read filled need resetting (the kernel
        // writes the lengths and flags of those it fills): an idle shard
        // that wakes for one datagram touches two headers, not all of them.
        for h in &mut batch.hdrs[..batch.dirty] {
            h.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = (CTRL_WORDS * 8) as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        batch.dirty = 0;
        let fd = self.std.as_raw_fd();
        // Every header points at this batch's own address, iovec and
        // buffer slots (set by `RecvBatch::new`; those vectors are never
        // resized, so their heap buffers stay put).
        // SAFETY: those slots live until the call returns and nothing else borrows them meanwhile.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                batch.hdrs.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        // The kernel may also have written the header after the last one
        // filled (the read that found the socket empty).
        batch.dirty = (r as usize + 1).min(slots);
        // The drop counter the newest datagram carries (it only grows, so
        // the last one read has the latest).
        let mut drops = None;
        for (i, h) in batch.hdrs[..r as usize].iter().enumerate() {
            if h.msg_hdr.msg_controllen > 0 {
                drops = rxq_ovfl(&h.msg_hdr).or(drops);
            }
            // SAFETY: the kernel wrote a socket address of `msg_namelen`
            // bytes (at most the storage's size) into `addrs[i]`.
            let addr = unsafe { SockAddr::new(batch.addrs[i], h.msg_hdr.msg_namelen) };
            let len = (h.msg_len as usize).min(batch.slot_len);
            // Only AF_INET/AF_INET6 arrive on an IP socket.
            let src = addr
                .as_socket()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            batch.got.push((len, src));
        }
        if let Some(total) = drops {
            let before = self.drops_seen.swap(total, Ordering::Relaxed);
            batch.kernel_drops = u64::from(total.wrapping_sub(before));
        }
        Ok(batch.got.len())
    }

    /// Sends every datagram of `out` in order, with as few `sendmmsg(2)`
    /// calls as the socket buffer allows; when the buffer is full, waits
    /// for room (up to a second, then the datagram counts as failed).
    /// `failed` hears of each datagram that could not be sent.
    pub fn send_batch<D: Datagram>(
        &self,
        out: &[D],
        scratch: &mut SendScratch,
        mut failed: impl FnMut(SocketAddr, io::Error),
    ) {
        let fd = self.std.as_raw_fd();
        let mut i = 0;
        while i < out.len() {
            let n = (out.len() - i).min(SEND_BATCH_MAX);
            scratch.fill(&out[i..i + n]);
            // SAFETY: the headers point at `scratch`'s addresses and iovecs,
            // which point at the bytes of `out[i..i + n]`; all of them live
            // until the call returns, and the kernel only reads them.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    scratch.hdrs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if r > 0 {
                i += r as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            let dest = out[i].dest();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => match wait_for(fd, libc::POLLOUT, SEND_WAIT_MS) {
                    // Room now: try the same datagram again.
                    Ok(true) => continue,
                    Ok(false) => failed(dest, e),
                    Err(e) => failed(dest, e),
                },
                _ => failed(dest, e),
            }
            i += 1;
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.std.local_addr()
    }
}

/// Datagrams read by one [`UdpTransport::try_recv_batch`]: buffers for
/// `capacity` datagrams of up to `slot_len` bytes, reused for every batch.
pub struct RecvBatch {
    data: Vec<u8>,
    slot_len: usize,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Headers the last read may have written (reset before the next).
    dirty: usize,
    /// Control-message room, [`CTRL_WORDS`] per slot (words, for the
    /// alignment `cmsghdr` needs).
    ctrl: Vec<u64>,
    /// Length and source of each datagram read.
    got: Vec<(usize, SocketAddr)>,
    /// Datagrams the kernel dropped on the socket before the last read.
    kernel_drops: u64,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("capacity", &self.hdrs.len())
            .field("slot_len", &self.slot_len)
            .field("len", &self.got.len())
            .finish()
    }
}

impl RecvBatch {
    /// Room for `capacity` (1..=1024) datagrams of `slot_len` bytes.
    pub fn new(capacity: usize, slot_len: usize) -> RecvBatch {
        let capacity = capacity.clamp(1, 1024);
        // SAFETY: these are plain C structs for which all-zero bytes are a
        // valid value (null pointers, zero lengths); the pointers are set
        // before every use.
        let (addr, iov, hdr) = unsafe {
            (
                std::mem::zeroed::<libc::sockaddr_storage>(),
                std::mem::zeroed::<libc::iovec>(),
                std::mem::zeroed::<libc::mmsghdr>(),
            )
        };
        let mut b = RecvBatch {
            data: vec![0; capacity * slot_len],
            slot_len,
            addrs: vec![addr; capacity],
            iovs: vec![iov; capacity],
            hdrs: vec![hdr; capacity],
            dirty: 0,
            ctrl: vec![0; capacity * CTRL_WORDS],
            got: Vec::with_capacity(capacity),
            kernel_drops: 0,
        };
        // Each header points at its address, iovec and control room, each
        // iovec at its slot, once: none of these vectors is resized
        // afterwards, so the pointers stay valid when the batch moves.
        let base = b.data.as_mut_ptr();
        for i in 0..capacity {
            b.iovs[i] = libc::iovec {
                // In bounds: `data` holds `capacity * slot_len` bytes.
                iov_base: base.wrapping_add(i * slot_len).cast(),
                iov_len: slot_len,
            };
        }
        for i in 0..capacity {
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_name = std::ptr::from_mut(&mut b.addrs[i]).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
            // In bounds: `ctrl` holds `capacity * CTRL_WORDS` words.
            h.msg_control = b.ctrl.as_mut_ptr().wrapping_add(i * CTRL_WORDS).cast();
            h.msg_controllen = (CTRL_WORDS * 8) as _;
        }
        b
    }

    /// How many datagrams one read can return.
    pub fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// How many datagrams the last read returned.
    pub fn len(&self) -> usize {
        self.got.len()
    }

    /// Whether the last read returned nothing.
    pub fn is_empty(&self) -> bool {
        self.got.is_empty()
    }

    /// Datagrams the kernel dropped on the socket of the last read (its
    /// receive buffer was full) since that socket's read before, as far
    /// as the datagrams read tell: a drop shows on the first datagram
    /// queued after it (`SO_RXQ_OVFL`).
    pub fn kernel_drops(&self) -> u64 {
        self.kernel_drops
    }

    /// Datagram `i` of the last read and its source.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let &(len, src) = self.got.get(i)?;
        let at = i * self.slot_len;
        Some((&self.data[at..at + len], src))
    }
}

/// An outgoing datagram, for [`UdpTransport::send_batch`].
pub trait Datagram {
    /// The bytes to send.
    fn bytes(&self) -> &[u8];
    /// Where to.
    fn dest(&self) -> SocketAddr;
}

impl<B: AsRef<[u8]>> Datagram for (B, SocketAddr) {
    fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn dest(&self) -> SocketAddr {
        self.1
    }
}

/// Most datagrams one `sendmmsg(2)` takes from [`UdpTransport::send_batch`]
/// (the kernel's UIO_MAXIOV is 1024).
const SEND_BATCH_MAX: usize = 256;

/// Reused headers for [`UdpTransport::send_batch`].
#[derive(Default)]
pub struct SendScratch {
    addrs: Vec<SockAddr>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl std::fmt::Debug for SendScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendScratch")
            .field("capacity", &self.hdrs.len())
            .finish()
    }
}

impl SendScratch {
    /// Points one header per datagram of `out` at its bytes and address.
    fn fill<D: Datagram>(&mut self, out: &[D]) {
        self.addrs.clear();
        self.iovs.clear();
        for d in out {
            let b = d.bytes();
            self.addrs.push(SockAddr::from(d.dest()));
            self.iovs.push(libc::iovec {
                // The kernel only reads through it (sendmmsg).
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            });
        }
        // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths).
        let zero = unsafe { std::mem::zeroed::<libc::mmsghdr>() };
        self.hdrs.clear();
        self.hdrs.resize(out.len(), zero);
        for (i, h) in self.hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = self.addrs[i].as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = self.addrs[i].len();
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
        }
    }
}

/// Waits up to `timeout_ms` for `events` on `fd`; whether they came.
fn wait_for(fd: std::os::fd::RawFd, events: libc::c_short, timeout_ms: i32) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one live pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        if r >= 0 {
            return Ok(r > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The kernel's drop counter in `hdr`'s control messages (`SO_RXQ_OVFL`),
/// if the datagram carries one (only those queued after a drop do).
fn rxq_ovfl(hdr: &libc::msghdr) -> Option<u32> {
    // SAFETY: `hdr` points at its slot's control room, and the kernel set
    // `msg_controllen` to the bytes it wrote there (at most the room).
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(hdr) };
    let mut found = None;
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR return null or a header that
        // lies whole inside the control room.
        let c = unsafe { &*cmsg };
        if c.cmsg_level == libc::SOL_SOCKET
            && c.cmsg_type == libc::SO_RXQ_OVFL
            && c.cmsg_len as usize >= RXQ_OVFL_LEN
        {
            // SAFETY: the message holds `cmsg_len` >= CMSG_LEN(4) bytes,
            // so its data has 4 bytes; they may be unaligned for a u32.
            found = Some(unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<u32>()) });
        }
        // SAFETY: `cmsg` is a header inside `hdr`'s control room.
        cmsg = unsafe { libc::CMSG_NXTHDR(hdr, cmsg) };
    }
    found
}

/// Asks the kernel to tell, with each datagram queued after a drop, how
/// many it dropped on this socket (`SO_RXQ_OVFL`). Best effort: without
/// it the drops are just not counted.
fn enable_rxq_ovfl(sock: &Socket) {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int for the duration of the call, and the
    // length passed is its size.
    let _ = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
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
    enable_rxq_ovfl(&sock);
    sock.bind(&addr.into())?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `send_batch` and `try_recv_batch` over loopback from `from` to
    /// `to`: more datagrams than one receive batch holds, in order, with
    /// their lengths and source; a datagram longer than a slot is cut to
    /// the slot; an empty socket reads as 0.
    fn round_trip(from: SocketAddr, to: SocketAddr) {
        let a = UdpTransport::bind_with(from, false).unwrap();
        let b = UdpTransport::bind_with(to, false).unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let out: Vec<(Vec<u8>, SocketAddr)> = (0..40u8)
            .map(|i| (vec![i; 10 + usize::from(i)], b_addr))
            .collect();
        let mut scratch = SendScratch::default();
        let mut errors = 0;
        a.send_batch(&out, &mut scratch, |_, _| errors += 1);
        assert_eq!(errors, 0);

        // Moved after it was made (the headers' pointers are set once, to
        // heap buffers that do not move with it).
        let mut moved = Box::new(RecvBatch::new(16, 64));
        let batch = &mut *moved;
        let mut got = Vec::new();
        while got.len() < out.len() {
            let n = b.try_recv_batch(batch).unwrap();
            assert!(n <= batch.capacity());
            assert_eq!(n, batch.len());
            if n == 0 {
                assert!(b.wait_readable(5000).unwrap());
            }
            for i in 0..n {
                let (bytes, src) = batch.get(i).unwrap();
                assert_eq!(src, a_addr);
                got.push(bytes.to_vec());
            }
            assert!(batch.get(n).is_none());
        }
        let sent: Vec<Vec<u8>> = out.into_iter().map(|(bytes, _)| bytes).collect();
        assert_eq!(got, sent);

        a.send_batch(&[(vec![7u8; 100], b_addr)], &mut scratch, |_, _| {
            errors += 1
        });
        assert_eq!(errors, 0);
        assert!(b.wait_readable(5000).unwrap());
        assert_eq!(b.try_recv_batch(batch).unwrap(), 1);
        assert_eq!(batch.get(0).unwrap().0, &[7u8; 64][..]);

        assert_eq!(b.try_recv_batch(batch).unwrap(), 0);
        assert!(batch.is_empty());
    }

    #[test]
    fn batches_round_trip_over_loopback() {
        round_trip(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        );
        round_trip("[::1]:0".parse().unwrap(), "[::1]:0".parse().unwrap());
    }

    /// A sender with a send buffer smaller than what it sends at once
    /// reports no error and the receiver gets every datagram (over
    /// loopback the kernel moves datagrams to the receiver at once, so
    /// this rarely reaches the wait for room; it checks the loop around it).
    #[test]
    fn a_small_send_buffer_loses_nothing() {
        let a = UdpTransport::bind_with("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let b = UdpTransport::bind_with("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let b_addr = b.local_addr().unwrap();
        socket2::SockRef::from(&a.std)
            .set_send_buffer_size(4096)
            .unwrap();
        let out: Vec<(Vec<u8>, SocketAddr)> =
            (0..64u32).map(|i| (vec![i as u8; 1400], b_addr)).collect();
        let reader = std::thread::spawn(move || {
            let mut batch = RecvBatch::new(16, 1500);
            let mut n = 0;
            while n < 64 {
                if !b.wait_readable(5000).unwrap() {
                    break;
                }
                n += b.try_recv_batch(&mut batch).unwrap();
            }
            n
        });
        let mut errors = 0;
        a.send_batch(&out, &mut SendScratch::default(), |_, _| errors += 1);
        assert_eq!(errors, 0);
        assert_eq!(reader.join().unwrap(), 64);
    }

    /// Datagrams sent faster than a tiny receive buffer is read are
    /// dropped by the kernel; the next datagram read tells how many
    /// (`SO_RXQ_OVFL`), once: sent = read + dropped.
    #[test]
    fn kernel_drops_are_counted() {
        let a = UdpTransport::bind_with("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let b = UdpTransport::bind_with("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let b_addr = b.local_addr().unwrap();
        // The kernel doubles it and rounds it up to its minimum: a few
        // datagrams of 1000 bytes fit, not 200.
        socket2::SockRef::from(&b.std)
            .set_recv_buffer_size(1024)
            .unwrap();
        let out: Vec<(Vec<u8>, SocketAddr)> =
            (0..200u32).map(|_| (vec![1; 1000], b_addr)).collect();
        let mut errors = 0;
        a.send_batch(&out, &mut SendScratch::default(), |_, _| errors += 1);
        assert_eq!(errors, 0);
        let mut batch = RecvBatch::new(16, 1500);
        let (mut read, mut drops) = (0u64, 0u64);
        let mut drain = |read: &mut u64, drops: &mut u64| {
            while b.wait_readable(100).unwrap() {
                let n = b.try_recv_batch(&mut batch).unwrap();
                *read += n as u64;
                *drops += batch.kernel_drops();
            }
        };
        drain(&mut read, &mut drops);
        assert!(read > 0 && read < 200, "read {read}");
        // The datagrams queued before the buffer filled carry no count.
        assert_eq!(drops, 0);
        // One more, queued after the drops: it carries the counter.
        a.send_batch(
            &[(vec![2u8; 10], b_addr)],
            &mut SendScratch::default(),
            |_, _| errors += 1,
        );
        drain(&mut read, &mut drops);
        assert_eq!(read + drops, 201, "read {read}, dropped {drops}");
        // Reported once: a later datagram adds nothing.
        a.send_batch(
            &[(vec![3u8; 10], b_addr)],
            &mut SendScratch::default(),
            |_, _| errors += 1,
        );
        drain(&mut read, &mut drops);
        assert_eq!(read + drops, 202);
        assert_eq!(errors, 0);
    }
}
