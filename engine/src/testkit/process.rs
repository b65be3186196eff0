//! `trunkline run` as a child process, as an operator starts it: the
//! tests of the command line and of the shipped example configurations.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `trunkline run`: killed when dropped.
#[derive(Debug)]
pub struct RunningRouter {
    /// The process.
    pub child: Child,
    /// Its first listen address, from its start line.
    pub addr: SocketAddr,
    /// Its stderr (the log), line by line.
    pub lines: mpsc::Receiver<String>,
}

impl RunningRouter {
    /// Starts `bin run ARGS` (logging at info, no colours) and waits up
    /// to 10 s for its "trunkline running" line, whose `listen=[...]`
    /// gives [`RunningRouter::addr`] (pass `--listen 127.0.0.1:0` for a
    /// free port).
    pub fn start(bin: &Path, args: &[&str]) -> RunningRouter {
        let mut child = Command::new(bin)
            .arg("run")
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut seen = Vec::new();
        let started = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) if l.contains("trunkline running") => break l,
                Ok(l) => seen.push(l),
                Err(_) => {
                    let _ = child.kill();
                    panic!("no start line; the log:\n{}", seen.join("\n"));
                }
            }
        };
        let addr = started
            .split("listen=[")
            .nth(1)
            .and_then(|s| s.split([']', ',', ' ']).next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no address in {started}"));
        RunningRouter {
            child,
            addr,
            lines: rx,
        }
    }

    /// `bin run --config CONFIG --listen 127.0.0.1:0 --to TO`, as an
    /// operator runs a shipped configuration on addresses of their own.
    pub fn configured(bin: &Path, config: &Path, to: SocketAddr) -> RunningRouter {
        let config = config.to_str().expect("a UTF-8 path");
        let to = to.to_string();
        let args = ["--config", config, "--listen", "127.0.0.1:0", "--to", &to];
        RunningRouter::start(bin, &args)
    }

    /// Sends `sig` (e.g. `-USR1`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(ok.success(), "kill {sig}");
    }

    /// The next log line containing `what`, within 10 s.
    pub fn wait_for(&self, what: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no `{what}` in the log"));
            if line.contains(what) {
                return line;
            }
        }
    }

    /// SIGUSR1, then the counter lines of `shards` shards (`shard N:
    /// name=value ...`), and the other lines logged meanwhile.
    pub fn report(&self, shards: usize) -> Report {
        self.signal("-USR1");
        let mut report = Report(Vec::new(), Vec::new());
        while report.0.len() < shards {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no report of {shards} shards: {report:?}"));
            match line.contains("shard ") {
                true => report.0.push(line),
                false => report.1.push(line),
            }
        }
        report
    }

    /// The log line containing `what`: among `seen` (lines read
    /// already), else the next one within 10 s.
    pub fn find_line(&self, seen: &[String], what: &str) -> String {
        match seen.iter().find(|l| l.contains(what)) {
            Some(l) => l.clone(),
            None => self.wait_for(what),
        }
    }

    /// Stops it gracefully (SIGTERM) and waits (up to 20 s) for it to
    /// exit, its CDRs and snapshots written: its exit status.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("the router's status") {
                return status;
            }
            assert!(Instant::now() < deadline, "the router did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The shards' counter lines of one SIGUSR1 report, and the other lines
/// logged while they were awaited.
#[derive(Debug)]
pub struct Report(pub Vec<String>, pub Vec<String>);

impl Report {
    /// Counter `name` summed over the shards (0 when absent).
    pub fn sum(&self, name: &str) -> u64 {
        let key = format!(" {name}=");
        self.0
            .iter()
            .filter_map(|l| l.split_once(&key))
            .filter_map(|(_, v)| v.split(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for RunningRouter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port free on `ip` now (bound, then let go): for a child process
/// to bind.
pub fn free_udp_port(ip: &str) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free UDP port on {ip}: {e}"))
}

/// SIPp's cumulative (successful, failed) calls in its final screen
/// (`-trace_screen`, or its standard output with `-nostdin`).
pub fn sipp_calls(screen: &str) -> (u64, u64) {
    let last = |what: &str| {
        screen
            .lines()
            .rfind(|l| l.contains(what))
            .and_then(|l| l.split('|').nth(2))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{what}` line in SIPp's output:\n{screen}"))
    };
    (last("Successful call"), last("Failed call"))
}

/// Every CDR in the JSON-lines files of `dir` (`[cdr] path`).
pub fn read_cdrs(dir: &Path) -> Vec<crate::cdr::Cdr> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.expect("a directory entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for line in text.lines() {
            out.push(
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display())),
            );
        }
    }
    out
}
