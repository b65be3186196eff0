//! SIPp's UDP remote control (`-ci`/`-cp`), read by the main thread's
//! [`super::drive`] loop.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Control, quit};

/// SIPp's UDP remote control (`socket.cpp`, `handle_ctrl_socket`): a
/// datagram is one key (`q`, `Q`, `p`, `+`, `-`, `*`, `/`; the screen keys do
/// nothing here, there is no screen) or, after a `c`, a command (`set rate
/// N`, `set rate-scale N`, `set limit N`). Others are answered with SIPp's
/// warnings in the error log.
#[derive(Debug)]
pub struct RemoteControl {
    socket: std::net::UdpSocket,
    /// `-rate_scale` (f64 bits): what `+`/`-` add (`*`/`/` ten times).
    rate_scale: AtomicU64,
    /// `-rp`, ms: rates are per this period.
    rate_period_ms: u64,
    /// `-users`: a closed-loop run, whose rate cannot be changed.
    users_based: bool,
}

impl RemoteControl {
    /// Takes a bound socket (made non-blocking here).
    pub fn new(
        socket: std::net::UdpSocket,
        rate_scale: f64,
        rate_period_ms: u64,
        users_based: bool,
    ) -> std::io::Result<RemoteControl> {
        socket.set_nonblocking(true)?;
        Ok(RemoteControl {
            socket,
            rate_scale: AtomicU64::new(rate_scale.to_bits()),
            rate_period_ms: rate_period_ms.max(1),
            users_based,
        })
    }

    /// Handles the datagrams waiting; returns SIPp's warnings.
    pub(super) fn poll(&self, control: &Control) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.socket.recv(&mut buf) {
            if let Some(w) = self.handle(&buf[..n], control) {
                warnings.push(w);
            }
        }
        warnings
    }

    /// One datagram; a warning when SIPp would print one.
    pub fn handle(&self, d: &[u8], control: &Control) -> Option<String> {
        let per_second = 1000.0 / self.rate_period_ms as f64;
        let step = |n: f64| {
            if self.users_based {
                return Some("-users cannot be changed at run time by trunkload".to_string());
            }
            let scale = f64::from_bits(self.rate_scale.load(Ordering::Relaxed));
            let r = (control.rate() / per_second + n * scale).max(0.0);
            control.set_rate(r * per_second);
            None
        };
        match d.first()? {
            b'c' => {
                let text = String::from_utf8_lossy(&d[1..]);
                let text = text.trim();
                let Some((command, rest)) = text.split_once(' ') else {
                    return Some(format!("The {text} command requires at least one argument"));
                };
                if command != "set" {
                    return Some(match command {
                        "trace" | "dump" | "reset" => {
                            format!("The {command} command is not supported by trunkload")
                        }
                        _ => format!("Unrecognized command: \"{command}\""),
                    });
                }
                let Some((what, value)) = rest.trim().split_once(' ') else {
                    return Some(
                        "The set command requires two arguments (attribute and value)".into(),
                    );
                };
                let value = value.trim();
                match what {
                    "rate" => match value.parse::<f64>() {
                        _ if self.users_based => {
                            Some("Rates can not be set in a user-based benchmark.".into())
                        }
                        Ok(r) if r >= 0.0 => {
                            control.set_rate(r * per_second);
                            None
                        }
                        _ => Some(format!("Invalid rate value: \"{value}\"")),
                    },
                    "rate-scale" => match value.parse::<f64>() {
                        Ok(s) => {
                            self.rate_scale.store(s.to_bits(), Ordering::Relaxed);
                            None
                        }
                        Err(_) => Some(format!("Invalid rate-scale value: \"{value}\"")),
                    },
                    "limit" => match value.parse::<u64>() {
                        _ if self.users_based => {
                            Some("Can not set call limit for a user-based benchmark.".into())
                        }
                        Ok(l) if l > 0 => {
                            control.limit.store(l, Ordering::Relaxed);
                            None
                        }
                        _ => Some(format!("Invalid limit value: \"{value}\"")),
                    },
                    "users" | "display" | "hide" => {
                        Some(format!("set {what} is not supported by trunkload"))
                    }
                    _ => Some(format!("Unknown set attribute: {what}")),
                }
            }
            b'q' => {
                control.quit(quit::GRACEFUL);
                None
            }
            b'Q' => {
                control.quit(quit::ABORT);
                None
            }
            b'+' => step(1.0),
            b'-' => step(-1.0),
            b'*' => step(10.0),
            b'/' => step(-10.0),
            b'p' => {
                control.paused.fetch_xor(true, Ordering::Relaxed);
                None
            }
            // Screen keys: there is no screen to switch.
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn rc(users_based: bool) -> RemoteControl {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        RemoteControl::new(s, 1.0, 1000, users_based).unwrap()
    }

    #[test]
    fn keys_and_commands_steer_the_rate_and_the_stop() {
        let r = rc(false);
        let c = Control::default();
        c.set_rate(10.0);
        assert_eq!(r.handle(b"+", &c), None);
        assert_eq!(c.rate(), 11.0);
        assert_eq!(r.handle(b"*", &c), None);
        assert_eq!(c.rate(), 21.0);
        assert_eq!(r.handle(b"/", &c), None);
        assert_eq!(r.handle(b"-", &c), None);
        assert_eq!(c.rate(), 10.0);
        assert_eq!(r.handle(b"cset rate 250\n", &c), None);
        assert_eq!(c.rate(), 250.0);
        assert_eq!(r.handle(b"cset limit 7", &c), None);
        assert_eq!(c.limit.load(Ordering::Relaxed), 7);
        assert!(
            r.handle(b"cset limit many", &c)
                .unwrap()
                .contains("Invalid limit")
        );
        assert_eq!(r.handle(b"cset rate-scale 5", &c), None);
        assert_eq!(r.handle(b"+", &c), None);
        assert_eq!(c.rate(), 255.0);
        assert_eq!(
            r.handle(b"cset rate fast", &c).as_deref(),
            Some("Invalid rate value: \"fast\"")
        );
        assert!(
            r.handle(b"cbogus x", &c)
                .unwrap()
                .contains("Unrecognized command")
        );
        assert!(
            r.handle(b"cset", &c)
                .unwrap()
                .contains("at least one argument")
        );
        assert_eq!(r.handle(b"1", &c), None, "screen keys do nothing");
        assert_eq!(r.handle(b"p", &c), None);
        assert!(c.paused.load(Ordering::Relaxed));
        assert_eq!(r.handle(b"p", &c), None);
        assert!(!c.paused.load(Ordering::Relaxed));
        assert_eq!(c.quit.load(Ordering::Relaxed), quit::RUN);
        assert_eq!(r.handle(b"q", &c), None);
        assert_eq!(c.quit.load(Ordering::Relaxed), quit::GRACEFUL);
        assert_eq!(r.handle(b"Q", &c), None);
        assert_eq!(c.quit.load(Ordering::Relaxed), quit::ABORT);
        // A closed-loop run has no rate to change.
        let u = rc(true);
        assert!(u.handle(b"+", &c).is_some());
        assert!(u.handle(b"cset rate 5", &c).is_some());
    }

    #[test]
    fn datagrams_on_the_socket_are_handled() {
        let r = rc(false);
        let c = Control::default();
        let to = r.socket.local_addr().unwrap();
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"cset rate 42", to).unwrap();
        s.send_to(b"cnope 1", to).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut warnings = Vec::new();
        while c.rate() != 42.0 || warnings.is_empty() {
            assert!(Instant::now() < deadline, "rate {} {warnings:?}", c.rate());
            warnings.extend(r.poll(&c));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(warnings, ["Unrecognized command: \"nope\""]);
    }
}
