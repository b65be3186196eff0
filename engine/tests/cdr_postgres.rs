//! The PostgreSQL CDR sink against a real server (ignored: needs the
//! `postgresql` package; `.ci/run` installs it). Each test runs its own
//! server: `initdb` into a temp directory as the `postgres` OS user, on
//! a free port of 127.0.0.1, stopped by a drop guard. Missing binaries
//! are a failure, not a skip.

#![cfg(feature = "runtime")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use trunkline_engine::cdr::{Attempt, Cdr, CdrConfig, CdrWriter, Hangup};

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb`.
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server under /usr/lib/postgresql/*/bin: \
             apt-get install -y postgresql (the CI script does)"
        ),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A PostgreSQL server of its own, stopped when dropped.
struct Server {
    bin: PathBuf,
    /// Holds the data directory, the socket directory and the log.
    dir: tempfile::TempDir,
    port: u16,
    root: bool,
}

impl Server {
    fn start() -> Server {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sock")).unwrap();
        let root = is_root();
        if root {
            // root cannot run postgres: the postgres user owns it all.
            check(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path())
                    .output(),
                "chown",
            );
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let server = Server {
            bin,
            dir,
            port,
            root,
        };
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        server.pg_ctl_start();
        server.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "cdrtest",
            ],
        );
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs `bin/<tool> args`, as the postgres user when we are root.
    fn run(&self, tool: &str, args: &[&str]) -> String {
        let exe = self.bin.join(tool);
        let out = if self.root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir("/")
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
        check(out, tool)
    }

    fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().join("sock").display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &opts,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/cdrtest", self.port)
    }

    /// One value from `sql`.
    fn query(&self, sql: &str) -> String {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "cdrtest",
                "-Atc",
                sql,
            ],
        )
        .trim()
        .to_owned()
    }

    fn rows(&self) -> u64 {
        self.query("SELECT count(*) FROM cdr").parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already stopped is fine.
        let exe = self.bin.join("pg_ctl");
        let args = ["-D", &self.data(), "-m", "immediate", "-w", "stop"];
        let _ = if self.root {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .current_dir("/")
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

fn check(out: std::io::Result<Output>, what: &str) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cdr(i: usize) -> Cdr {
    Cdr {
        call_id: format!("{i:08}@edge.example.net"),
        leg: (i % 4 == 3) as u32,
        caller: "493012345".into(),
        callee: "442071234567".into(),
        caller_sent: "493012345".into(),
        callee_sent: "00442071234567".into(),
        source: "192.0.2.10:5060".into(),
        group: (i % 2 == 0).then(|| "wholesale-a".to_owned()),
        attempts: vec![Attempt {
            gateway: "gw-lon-1".into(),
            dest: "198.51.100.7:5060".into(),
            start_ms: 1_700_000_000_010,
            code: 200,
            pdd_ms: Some(850),
        }],
        setup_ms: 1_700_000_000_000,
        answer_ms: (i % 5 != 0).then_some(1_700_000_002_345),
        end_ms: 1_700_000_062_345,
        duration_ms: 60_000,
        hangup: Hangup::Caller,
        cause: "normal".into(),
        sip_code: 200,
    }
}

fn config(server: &Server, spool: &Path) -> CdrConfig {
    CdrConfig {
        postgres: Some(server.url()),
        spool: Some(spool.to_owned()),
        batch: 100,
        flush_ms: 20,
        ..CdrConfig::default()
    }
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spool_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
#[ignore = "needs postgresql"]
fn thousand_records_thousand_rows() {
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    let writer = CdrWriter::start(&config(&server, spool.path())).unwrap();
    let sender = writer.sender();
    for i in 0..1000 {
        assert!(sender.send(cdr(i)));
    }
    writer.shutdown();
    let counts = sender.counts();
    assert_eq!(counts.written_db, 1000, "{counts:?}");
    assert_eq!((counts.spooled, counts.dropped, counts.failed), (0, 0, 0));
    assert_eq!(server.rows(), 1000);

    // The columns hold what was sent.
    let row = server.query(
        "SELECT leg, customer_group, attempts->0->>'gateway', (attempts->0->>'pdd_ms')::int, \
         to_char(setup_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'), \
         to_char(answer_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'), duration_ms, hangup, sip_code \
         FROM cdr WHERE call_id = '00000003@edge.example.net'",
    );
    assert_eq!(
        row,
        "1||gw-lon-1|850|2023-11-14 22:13:20.000|22:13:22.345|60000|caller|200"
    );
    assert_eq!(
        server.query("SELECT count(*) FROM cdr WHERE answer_at IS NULL"),
        "200"
    );
    assert!(spool_files(spool.path()).is_empty());
}

#[test]
#[ignore = "needs postgresql"]
fn database_down_mid_run_loses_and_duplicates_nothing() {
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    let writer = CdrWriter::start(&config(&server, spool.path())).unwrap();
    let sender = writer.sender();
    let send = |range: std::ops::Range<usize>| {
        for i in range {
            assert!(sender.send(cdr(i)));
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };
    send(0..400);
    wait_for(
        "the first records committed",
        Duration::from_secs(30),
        || sender.counts().written_db >= 400,
    );
    assert!(sender.counts().db_up);

    server.stop();
    send(400..800);
    // The same record twice, and one already committed.
    assert!(sender.send(cdr(500)));
    assert!(sender.send(cdr(10)));
    wait_for("records spooled", Duration::from_secs(30), || {
        sender.counts().spooled >= 402
    });
    assert!(!sender.counts().db_up);
    assert!(!spool_files(spool.path()).is_empty());

    server.pg_ctl_start();
    send(800..1000);
    assert!(sender.send(cdr(999)));
    wait_for("the spool replayed", Duration::from_secs(60), || {
        let c = sender.counts();
        c.replayed == c.spooled && c.written_db >= 1000 + 3
    });
    writer.shutdown();

    let counts = sender.counts();
    assert_eq!((counts.dropped, counts.failed), (0, 0), "{counts:?}");
    assert!(counts.db_up);
    assert_eq!(server.rows(), 1000, "{counts:?}");
    assert_eq!(
        server.query("SELECT count(DISTINCT (call_id, leg)) FROM cdr"),
        "1000"
    );
    assert!(
        spool_files(spool.path()).is_empty(),
        "{:?}",
        spool_files(spool.path())
    );
}

#[test]
#[ignore = "needs postgresql"]
fn spool_of_a_previous_run_is_replayed_at_start() {
    let server = Server::start();
    let spool = tempfile::tempdir().unwrap();
    server.stop();

    // A run while the database is down: everything spools, shutdown too.
    let writer = CdrWriter::start(&config(&server, spool.path())).unwrap();
    let sender = writer.sender();
    for i in 0..250 {
        assert!(sender.send(cdr(i)));
    }
    writer.shutdown();
    let counts = sender.counts();
    assert_eq!((counts.spooled, counts.written_db), (250, 0), "{counts:?}");
    assert!(!spool_files(spool.path()).is_empty());

    // The next run, with the database back, replays it without being sent
    // anything.
    server.pg_ctl_start();
    let writer = CdrWriter::start(&config(&server, spool.path())).unwrap();
    wait_for("the spool replayed", Duration::from_secs(30), || {
        writer.counts().replayed == 250
    });
    writer.shutdown();
    assert_eq!(server.rows(), 250);
    assert!(spool_files(spool.path()).is_empty());
}
