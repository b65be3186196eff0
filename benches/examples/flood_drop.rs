//! CPU per dropped flood datagram, end to end on loopback: one receiving
//! thread reads a socket with `recvmmsg` batches (as a shard does) and
//! checks each datagram's source with [`Gate::check`] before anything
//! else; a flooder sends from 127.0.0.3 over 16 ports with `sendmmsg`
//! as fast as one core can. The receiver's user and system CPU (from
//! `/proc/thread-self/stat`, 10 ms ticks) divided by the datagrams it
//! read is the cost of a flood datagram, drop included; a second run
//! without the gate gives the cost of reading alone.
//!
//! ```text
//! cargo run --release -p trunkline-benches --example flood_drop [-- SECONDS]
//! ```
//!
//! Loopback only; each run stops by itself after SECONDS (default 5).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use trunkline_engine::security::{CidrSet, Shield, ShieldConfig};
use trunkline_shards::udp::{RecvBatch, SendScratch, UdpTransport};

/// A flood datagram: an OPTIONS of a typical size.
const MSG: &[u8] = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.3:5060;branch=z9hG4bK-flood\r\n\
From: <sip:f@127.0.0.3>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\n\
Call-ID: flood-0123456789@127.0.0.3\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

/// The thread's user and system CPU so far, in seconds.
fn thread_cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis: state is field 3,
    // utime 14 and stime 15 (clock ticks, 100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

#[derive(Debug, Default)]
struct Run {
    read: u64,
    passed: u64,
    dropped: u64,
    kernel_drops: u64,
    user_s: f64,
    sys_s: f64,
    passed_after_1s: u64,
}

fn run(seconds: u64, with_gate: bool) -> Run {
    let rx = UdpTransport::bind_with("127.0.0.1:0".parse().unwrap(), false).unwrap();
    let to = rx.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let socks: Vec<UdpTransport> = (0..16)
                .map(|_| UdpTransport::bind_with("127.0.0.3:0".parse().unwrap(), false).unwrap())
                .collect();
            let out: Vec<(&[u8], SocketAddr)> = (0..64).map(|_| (MSG, to)).collect();
            let mut scratch = SendScratch::default();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for s in &socks {
                    s.send_batch(&out, &mut scratch, |_, _| {});
                    sent += out.len() as u64;
                }
            }
            sent
        })
    };
    let t0 = Instant::now();
    let shield = Arc::new(
        Shield::new(
            &ShieldConfig::default(),
            CidrSet::new(),
            fastrand::u64(..),
            t0,
        )
        .unwrap(),
    );
    let mut gate = shield.gate();
    let mut batch = RecvBatch::new(32, 2048);
    let mut r = Run::default();
    let (u0, s0) = thread_cpu();
    let end = t0 + Duration::from_secs(seconds);
    loop {
        let n = rx.try_recv_batch(&mut batch).unwrap_or(0);
        if n == 0 {
            if Instant::now() >= end {
                break;
            }
            let _ = rx.wait_readable(100);
            continue;
        }
        r.read += n as u64;
        r.kernel_drops += batch.kernel_drops();
        let now = Instant::now();
        for i in 0..n {
            let Some((bytes, src)) = batch.get(i) else {
                continue;
            };
            if with_gate && gate.check(now, src.ip()).is_drop() {
                r.dropped += 1;
                continue;
            }
            r.passed += 1;
            if now.duration_since(t0) > Duration::from_secs(1) {
                r.passed_after_1s += 1;
            }
            std::hint::black_box(bytes);
        }
        if now >= end {
            break;
        }
    }
    let (u1, s1) = thread_cpu();
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    r.user_s = u1 - u0;
    r.sys_s = s1 - s0;
    r
}

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5u64);
    for with_gate in [true, false] {
        let r = run(seconds, with_gate);
        let per = |s: f64| s * 1e6 / r.read.max(1) as f64;
        println!(
            "{}: read {} datagrams in {seconds} s ({:.0}/s), passed {} ({} after the first second), \
dropped {}, kernel drops {}; receiver CPU per datagram: user {:.3} us, sys {:.3} us",
            if with_gate { "gate" } else { "no gate" },
            r.read,
            r.read as f64 / seconds as f64,
            r.passed,
            r.passed_after_1s,
            r.dropped,
            r.kernel_drops,
            per(r.user_s),
            per(r.sys_s),
        );
    }
}
