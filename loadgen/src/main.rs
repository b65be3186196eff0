//! `trunkload`: SIPp's command line, scenarios and outputs, on every core.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use trunkline_loadgen::call::CallConfig;
use trunkline_loadgen::call::Value;
use trunkline_loadgen::inject::InjectionFile;
use trunkline_loadgen::options::{self, Command, Options, ScenarioSource, exit};
use trunkline_loadgen::runtime::{
    self, DriveParams, OutOfCall, Outcome, RateIncrease, Report, RunParams, Sink,
};
use trunkline_loadgen::scenario::{self, LoadOptions, Mode, Scenario};
use trunkline_loadgen::stats::{Reporter, Stats, format_msg_log, format_short_msg_log};

fn main() -> ExitCode {
    let code = match options::parse_args(std::env::args().skip(1)) {
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
        Ok(Command::Help) => {
            print!("{}", options::help_text());
            exit::OTHER
        }
        Ok(Command::Version) => {
            println!(
                "\n trunkload v{} (SIPp 3.6.1 compatible).\n",
                env!("CARGO_PKG_VERSION")
            );
            exit::OTHER
        }
        Ok(Command::DumpScenario(name)) => match scenario::builtin(&name) {
            Some(xml) => {
                print!("{xml}");
                exit::OTHER
            }
            None => {
                eprintln!(
                    "Invalid default scenario name '{name}'. Built-in scenarios: {}",
                    scenario::BUILTIN_NAMES.join(", ")
                );
                exit::BAD_ARGS
            }
        },
        Ok(Command::Run(opts)) => run(*opts),
    };
    ExitCode::from(code as u8)
}

/// The main output sink: SIPp's files and screens.
struct Outputs {
    reporter: Reporter,
    json: bool,
    trace_msg: bool,
    trace_shortmsg: bool,
}

impl Outputs {
    /// The final files, and the final screen (or `--json` report) on
    /// stdout.
    fn finish(&mut self, stats: &Stats) {
        let now = SystemTime::now();
        match self.reporter.finish(stats, now) {
            Ok(screen) => {
                if self.json {
                    println!("{}", self.reporter.json(stats, now));
                } else {
                    print!("{screen}");
                }
            }
            Err(e) => eprintln!("trunkload: cannot write the output files: {e}"),
        }
    }
}

impl Sink for Outputs {
    fn tick(&mut self, merged: &Stats, now: SystemTime) {
        if let Ok(Some(_screen)) = self.reporter.tick(merged, now) {
            // The live screen is not redrawn (no terminal UI); the files
            // are written by `tick`.
        }
    }

    fn report(&mut self, report: Report) {
        let r = match report {
            Report::Message {
                sent,
                peer,
                local,
                wall,
                bytes,
            } => {
                let _ = (peer, local);
                let mut r = Ok(());
                if self.trace_msg {
                    let line = format_msg_log(sent, "UDP", wall, &bytes);
                    r = self.reporter.message_log(&line);
                }
                if self.trace_shortmsg {
                    let line = format_short_msg_log(sent, wall, &bytes);
                    r = r.and(self.reporter.short_message_log(&line));
                }
                r
            }
            Report::Error(e) => self.reporter.error_log(&e),
            Report::Log(l) => self.reporter.logs_log(&String::from_utf8_lossy(&l)),
            _ => Ok(()),
        };
        if let Err(e) = r {
            eprintln!("trunkload: cannot write a log file: {e}");
        }
    }
}

fn run(opts: Options) -> i32 {
    let load = LoadOptions {
        keys: opts.keys.clone(),
        ..LoadOptions::default()
    };
    let load_from = |source: &ScenarioSource| match source {
        ScenarioSource::File(p) => scenario::load_file(p, &load),
        ScenarioSource::Builtin(n) => scenario::load_builtin(n, &load),
    };
    // Load errors exit 1, as SIPp's (compat §2.9).
    let sc = match load_from(&opts.scenario) {
        Ok(mut s) => {
            s.lose_packets |= opts.lost != 0.0;
            Arc::new(s)
        }
        Err(e) => {
            eprintln!("{e}");
            return exit::BAD_ARGS;
        }
    };
    let ooc = match opts.ooc_scenario.as_ref().map(load_from).transpose() {
        Ok(ooc) => ooc.map(Arc::new),
        Err(e) => {
            eprintln!("{e}");
            return exit::BAD_ARGS;
        }
    };
    match setup(&opts, sc, ooc) {
        Ok(code) => code,
        Err((code, msg)) => {
            eprintln!("{msg}");
            code
        }
    }
}

type Fail = (i32, String);

/// The address of `host`, an IP literal or a name (resolved now, first
/// address), as SIPp's `-ci` and `-mi` take it.
fn lookup_ip(host: &str) -> Option<IpAddr> {
    host.parse().ok().or_else(|| {
        (host, 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .map(|a| a.ip())
    })
}

/// SIPp's remote-control socket: UDP `-cp` (default 8888, then the next
/// of 60 ports while one is taken), on `-ci`, else 127.0.0.1 (SIPp listens
/// on every address; a load generator's control should not be reachable
/// from the network unless asked). A port given with `-cp` that cannot be
/// bound is fatal; the default one only warns, as in SIPp.
fn remote_control(opts: &Options) -> Result<Option<runtime::RemoteControl>, Fail> {
    let ip: IpAddr = match &opts.control_ip {
        Some(h) => lookup_ip(h).ok_or_else(|| {
            (
                exit::FATAL,
                format!("Unknown control address '{h}'.\nUse 'trunkload -h' for details"),
            )
        })?,
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let (first, tries) = match opts.control_port {
        Some(p) => (p, 1),
        None => (8888u16, 60),
    };
    let mut bound = None;
    for port in (first..=u16::MAX).take(tries) {
        if let Ok(s) = UdpSocket::bind((ip, port)) {
            bound = Some(s);
            break;
        }
    }
    let Some(socket) = bound else {
        if opts.control_port.is_some() {
            return Err((
                exit::FATAL,
                format!("Unable to bind remote control socket to UDP port {first}"),
            ));
        }
        eprintln!(
            "trunkload: unable to bind the remote control socket (tried UDP ports {first}-{})",
            first.saturating_add(tries as u16 - 1)
        );
        return Ok(None);
    };
    runtime::RemoteControl::new(
        socket,
        opts.rate_scale,
        opts.rate_period_ms,
        opts.users.is_some(),
    )
    .map(Some)
    .map_err(|e| (exit::FATAL, format!("remote control socket: {e}")))
}

/// `-bg`, as SIPp: the run goes on in a background process with its
/// standard streams on /dev/null, and this one prints
/// `Background mode - PID=[N]` and exits 99. SIPp forks; here the same
/// binary is started again without `-bg` (a fork would copy no threads,
/// and this avoids relying on there being none yet).
fn background() -> Result<i32, Fail> {
    use std::process::{Command as Process, Stdio};
    let fail = |e: std::io::Error| (exit::FATAL, format!("Forking error: {e}"));
    let exe = std::env::current_exe().map_err(fail)?;
    let args = std::env::args_os()
        .skip(1)
        .filter(|a| a != "-bg" && a != "--bg");
    let child = Process::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(fail)?;
    println!("Background mode - PID=[{}]", child.id());
    Ok(exit::OTHER)
}

/// Options SIPp has and trunkload parses but cannot honour: an error, or
/// for the scheduler knobs that have no counterpart here, a warning, so
/// nothing is ignored silently.
fn check_supported(opts: &Options) -> Result<(), Fail> {
    let refuse = |flag: &str, why: &str| {
        Err((
            exit::BAD_ARGS,
            format!("option {flag} is not supported by trunkload: {why}"),
        ))
    };
    if opts.callid_slash_ign {
        return refuse(
            "-callid_slash_ign",
            "Call-IDs are always matched after '///'",
        );
    }
    let d = Options::default();
    if opts.buff_size > 4 << 20 {
        eprintln!(
            "trunkload: -buff_size {} is above the 4 MiB socket buffers trunkload uses; they stay at 4 MiB",
            opts.buff_size
        );
    }
    for (set, flag) in [
        (opts.timer_resol_ms != d.timer_resol_ms, "-timer_resol"),
        (opts.max_recv_loops != d.max_recv_loops, "-max_recv_loops"),
        (
            opts.max_sched_loops != d.max_sched_loops,
            "-max_sched_loops",
        ),
        (
            opts.watchdog_interval_ms != d.watchdog_interval_ms,
            "-watchdog_interval",
        ),
        (
            opts.watchdog_reset_ms != d.watchdog_reset_ms,
            "-watchdog_reset",
        ),
        (
            opts.watchdog_minor_threshold_ms != d.watchdog_minor_threshold_ms,
            "-watchdog_minor_threshold",
        ),
        (
            opts.watchdog_major_threshold_ms != d.watchdog_major_threshold_ms,
            "-watchdog_major_threshold",
        ),
        (
            opts.watchdog_major_maxtriggers != d.watchdog_major_maxtriggers,
            "-watchdog_major_maxtriggers",
        ),
        (
            opts.watchdog_minor_maxtriggers != d.watchdog_minor_maxtriggers,
            "-watchdog_minor_maxtriggers",
        ),
        (opts.rate_scale != d.rate_scale, "-rate_scale"),
    ] {
        if set {
            eprintln!(
                "trunkload: {flag} has no effect here (SIPp's single-threaded scheduler knob; trunkload's shards schedule with timers per call)"
            );
        }
    }
    Ok(())
}

/// A run, phase by phase: the checks, the addresses, the injection
/// files, the shards, the outputs, then the main thread's side until the
/// end; the exit code.
fn setup(opts: &Options, sc: Arc<Scenario>, ooc: Option<Arc<Scenario>>) -> Result<i32, Fail> {
    check_supported(opts)?;
    if opts.background {
        return background();
    }
    if opts.sleep_ms > 0 {
        std::thread::sleep(Duration::from_millis(opts.sleep_ms));
    }
    if matches!(opts.transport, options::Transport::UdpPerIp) {
        return Err((
            exit::FATAL,
            "-t ui (a socket per IP address of the injection file) is not supported by trunkload; use -t u1 or -t un".into(),
        ));
    }
    let mut addrs = Addresses::resolve(opts, sc.mode)?;
    // Held until the run ends, as SIPp holds its RTP echo sockets.
    let media = MediaSockets::bind(opts, &addrs.media_ip)?;
    addrs.media_port = media.port;
    let injection = injection_files(opts, &sc)?;
    let ooc = out_of_call(opts, &sc, ooc, &addrs, &injection)?;
    let params = run_params(opts, &sc, ooc, &addrs, &injection)?;
    let limit = params.limit;
    let running = runtime::start(params).map_err(|e| match e {
        runtime::RunError::Bind { .. } => (exit::BIND_ERROR, e.to_string()),
        other => (exit::FATAL, other.to_string()),
    })?;
    let mut out = match outputs(opts, &sc, &running, limit) {
        Ok(out) => out,
        Err(e) => {
            running.control.quit(runtime::quit::ABORT);
            let _ = running.join();
            return Err(e);
        }
    };
    let dp = drive_params(opts, &sc)?;
    let (stats, outcome) = runtime::drive(running, &sc, &dp, &mut out);
    out.finish(&stats);
    // SIPp's `sipp_exit`: an internal stop or a fatal error has its own
    // code; a normal end (the `-timeout` included) exits 1 with failed
    // calls, else 97 if the `-timeout` came with no successful call, else 0.
    Ok(match outcome {
        Outcome::StoppedNow => exit::INTERNAL,
        Outcome::Fatal(_) => exit::FATAL,
        Outcome::Timeout => stats.exit_code(true),
        Outcome::Normal => stats.exit_code(false),
    })
}

/// Where a run sends to and from (compat §2.2).
struct Addresses {
    /// The positional remote host (`[remote_ip]`, `[remote_port]`).
    remote: Option<SocketAddr>,
    /// Where client calls send: `-rsa`, else the remote host.
    send_to: Option<SocketAddr>,
    /// `[local_ip]`: `-i`, else the address routing to the remote, else
    /// the host name's (SIPp's `open_connections`).
    local_ip: IpAddr,
    /// What the sockets bind: `-i`, else the wildcard.
    bind_ip: IpAddr,
    /// `[media_ip]`: `-mi`, else the local IP (IPv6 in brackets).
    media_ip: String,
    /// `[media_port]`: where [`MediaSockets`] bound.
    media_port: u16,
}

impl Addresses {
    fn resolve(opts: &Options, mode: Mode) -> Result<Addresses, Fail> {
        let fatal = |m: String| (exit::FATAL, m);
        let remote: Option<SocketAddr> = match &opts.remote_host {
            Some(h) => {
                eprint!("Resolving remote host '{h}'... ");
                let a = (h.as_str(), opts.remote_port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut i| i.next())
                    .ok_or_else(|| {
                        fatal(format!(
                            "Unknown remote host '{h}'.\nUse 'trunkload -h' for details"
                        ))
                    })?;
                eprintln!("Done.");
                Some(a)
            }
            None if mode == Mode::Client => {
                return Err(fatal(
                    "Missing remote host parameter. This scenario requires it".into(),
                ));
            }
            None => None,
        };
        let send_to = match &opts.rsa {
            Some((h, p)) => (h.as_str(), *p)
                .to_socket_addrs()
                .ok()
                .and_then(|mut i| i.next())
                .ok_or_else(|| fatal(format!("Unknown remote host '{h}' (-rsa)")))?
                .into(),
            None => remote,
        };
        let (local_ip, bind_ip) = Addresses::local(opts, remote)?;
        let media_ip = match &opts.media_ip {
            Some(m) => m.clone(),
            None => bracket(local_ip),
        };
        Ok(Addresses {
            remote,
            send_to,
            local_ip,
            bind_ip,
            media_ip,
            media_port: 0,
        })
    }

    /// `[local_ip]` and the address to bind.
    fn local(opts: &Options, remote: Option<SocketAddr>) -> Result<(IpAddr, IpAddr), Fail> {
        if let Some(ip) = &opts.local_ip {
            let a: IpAddr = ip
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .or_else(|_| {
                    (ip.as_str(), 0)
                        .to_socket_addrs()
                        .ok()
                        .and_then(|mut i| i.next())
                        .map(|s| s.ip())
                        .ok_or(())
                })
                .map_err(|_| {
                    (
                        exit::FATAL,
                        format!("Can't get local IP address, local_ip='{ip}'"),
                    )
                })?;
            return Ok((a, a));
        }
        let ip = match remote {
            Some(r) => route_to(r).unwrap_or(if r.is_ipv6() {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }),
            None => host_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        };
        let any = if ip.is_ipv6() {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        Ok((ip, any))
    }
}

/// SIPp's RTP echo sockets (`setup_media_sockets`): audio on
/// `[media_port]`, video two ports above, on the media IP. trunkload echoes
/// no RTP, but binds them as SIPp does, always: so `[media_port]` is a
/// port that is ours (runs side by side get distinct ones) and nothing
/// answers with ICMP errors there.
#[derive(Debug)]
struct MediaSockets {
    /// `[media_port]`.
    port: u16,
    _audio: UdpSocket,
    _video: UdpSocket,
}

impl MediaSockets {
    /// Binds at `-mp`, else at the first even port from 6000 where both
    /// sockets bind (100 tries), as SIPp. Failing is fatal: 254 when the
    /// port is in use (SIPp's exit for `EADDRINUSE`), else 255.
    fn bind(opts: &Options, media_ip: &str) -> Result<MediaSockets, Fail> {
        let host = media_ip.trim_matches(|c| c == '[' || c == ']');
        let ip: IpAddr = lookup_ip(host).ok_or_else(|| {
            (
                exit::FATAL,
                format!(
                    "Unknown RTP address '{media_ip}'.
Use 'trunkload -h' for details"
                ),
            )
        })?;
        // `-mp 0` is no -mp, as in SIPp.
        let (first, tries) = match opts.media_port.filter(|&p| p != 0) {
            Some(p) => (p, 1),
            None => (6000, 100),
        };
        let mut last = None;
        for k in 0..tries {
            let Some(port) = first.checked_add(2 * k) else {
                break;
            };
            let audio = match UdpSocket::bind((ip, port)) {
                Ok(s) => s,
                Err(e) => {
                    last = Some((port, "audio", e));
                    continue;
                }
            };
            let Some(video_port) = port.checked_add(2) else {
                break;
            };
            match UdpSocket::bind((ip, video_port)) {
                Ok(video) => {
                    return Ok(MediaSockets {
                        port,
                        _audio: audio,
                        _video: video,
                    });
                }
                Err(e) => last = Some((video_port, "video", e)),
            }
        }
        // Past the last port counts as in use.
        let (port, which, e) =
            last.unwrap_or((first, "audio", std::io::ErrorKind::AddrInUse.into()));
        let code = if e.kind() == std::io::ErrorKind::AddrInUse {
            exit::BIND_ERROR
        } else {
            exit::FATAL
        };
        Err((
            code,
            format!("Unable to bind {which} RTP socket (IP={host}, port={port}): {e}"),
        ))
    }
}

/// An address as SIPp's keywords print it: IPv6 in brackets.
fn bracket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// Injection files by name (`-inf`, each indexed by its `-infindex`
/// fields), checked against the files the scenario names.
fn injection_files(opts: &Options, sc: &Scenario) -> Result<Injection, Fail> {
    let mut injection = Vec::new();
    for path in &opts.inf {
        let mut f = InjectionFile::load(path).map_err(|e| (exit::BAD_ARGS, e.to_string()))?;
        let name = path.file_name().map_or_else(
            || path.to_string_lossy().into_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        // `-infindex` names a file as given to -inf or by its basename.
        for (file, field) in &opts.infindex {
            if *file == name || *file == path.to_string_lossy() {
                f.index(*field);
            }
        }
        injection.push((name, Arc::new(f)));
    }
    let source = match &opts.scenario {
        ScenarioSource::File(p) => p.to_string_lossy().into_owned(),
        ScenarioSource::Builtin(n) => n.clone(),
    };
    let names: Vec<String> = injection.iter().map(|(n, _)| n.clone()).collect();
    scenario::check_injection_files(sc, &source, &names)
        .map_err(|e| (exit::BAD_ARGS, e.to_string()))?;
    Ok(injection)
}

/// `-inf` files by name.
type Injection = Vec<(String, Arc<InjectionFile>)>;

/// What every call of scenario `sc` shares, from the command line.
fn call_config(
    opts: &Options,
    sc: Arc<Scenario>,
    addrs: &Addresses,
    injection: &Injection,
) -> Arc<CallConfig> {
    let mut c = CallConfig::new(sc);
    c.service = opts.service.clone();
    if let Some(r) = addrs.remote {
        c.remote_ip = bracket(r.ip());
        c.remote_port = r.port();
    }
    c.remote_host = opts.remote_host.clone().unwrap_or_default();
    c.remote_addr = addrs.send_to;
    c.local_ip = bracket(addrs.local_ip);
    c.local_ipv6 = addrs.local_ip.is_ipv6();
    c.server_ip = bracket(addrs.bind_ip);
    c.media_ip = addrs
        .media_ip
        .trim_matches(|c| c == '[' || c == ']')
        .to_string();
    c.media_ipv6 = addrs.media_ip.contains(':');
    c.media_port = addrs.media_port;
    c.cid_str = opts.cid_str.clone();
    c.base_cseq = opts.base_cseq;
    c.default_pause = Duration::from_millis(opts.duration_ms);
    c.recv_timeout =
        (opts.recv_timeout_ms > 0).then(|| Duration::from_millis(opts.recv_timeout_ms));
    c.send_timeout =
        (opts.send_timeout_ms > 0).then(|| Duration::from_millis(opts.send_timeout_ms));
    c.retrans_enabled = opts.retrans_enabled;
    c.default_lost = opts.lost;
    c.rtcheck_loose = opts.rtcheck == options::RtCheck::Loose;
    c.auth_username = opts.auth_username.clone();
    c.auth_password = opts.auth_password.clone();
    c.auth_uri = opts.auth_uri.clone();
    (c.max_invite_retrans, c.max_non_invite_retrans) = opts.retrans_caps();
    c.behaviors = opts.default_behaviors;
    c.auto_answer = opts.auto_answer;
    c.pause_msg_ign = opts.pause_msg_ign;
    c.users = opts.users.map_or(0, u64::from);
    c.injection = injection.clone();
    // -buff_size sizes socket buffers in SIPp; ours are 4 MiB already,
    // and a message is at most a UDP datagram (SIPp: 64 KiB).
    c.max_message = 65_536;
    c.derive_tables();
    Arc::new(c)
}

/// How a client answers requests with unknown Call-IDs (SIPp's
/// `process_message`): with the `-oocsf`/`-oocsn` scenario `ooc` (which a
/// server scenario cannot have), else with `-aa` by calls of SIPp's
/// `ooc_dummy` whose automatic response answers INFO, NOTIFY, OPTIONS and
/// UPDATE, else not at all.
fn out_of_call(
    opts: &Options,
    sc: &Scenario,
    ooc: Option<Arc<Scenario>>,
    addrs: &Addresses,
    injection: &Injection,
) -> Result<Option<OutOfCall>, Fail> {
    if let Some(ooc) = ooc {
        if sc.mode == Mode::Server {
            return Err((
                exit::FATAL,
                "SIPp cannot use out-of-call scenarios when running in server mode".into(),
            ));
        }
        let cfg = call_config(opts, ooc, addrs, injection);
        return Ok(Some(OutOfCall::Scenario(cfg)));
    }
    if !opts.auto_answer || sc.mode == Mode::Server {
        return Ok(None);
    }
    let dummy = scenario::load_builtin("ooc_dummy", &LoadOptions::default())
        .map_err(|e| (exit::FATAL, format!("ooc_dummy: {e}")))?;
    let cfg = call_config(opts, Arc::new(dummy), addrs, injection);
    Ok(Some(OutOfCall::AutoAnswer(cfg)))
}

/// `-set NAME VALUE`: the initial values of the global variables.
fn global_values(opts: &Options, sc: &Scenario) -> Result<Vec<Value>, Fail> {
    let mut globals = vec![Value::Unset; sc.variables.len()];
    for (name, value) in &opts.set_vars {
        let Some(id) = scenario::find_global(sc, name) else {
            return Err((
                exit::BAD_ARGS,
                format!("Can not set the global variable {name}, because it does not exist."),
            ));
        };
        globals[id] = match value.parse::<f64>() {
            Ok(d) => Value::Double(d),
            Err(_) => Value::Str(value.as_bytes().to_vec()),
        };
    }
    Ok(globals)
}

/// The shards' parameters: the scenario's call configuration and that
/// of `<init>`, the out-of-call answers `ooc`, the rate, the limits and
/// the sockets.
fn run_params(
    opts: &Options,
    sc: &Arc<Scenario>,
    ooc: Option<OutOfCall>,
    addrs: &Addresses,
    injection: &Injection,
) -> Result<RunParams, Fail> {
    let cfg = call_config(opts, sc.clone(), addrs, injection);
    // <init>: run once per shard before the first call, as SIPp's
    // `runInit` (a call whose elements are the init stanza's).
    let init = (!sc.init.is_empty()).then(|| {
        let mut i = (**sc).clone();
        i.elements = std::mem::take(&mut i.init);
        call_config(opts, Arc::new(i), addrs, injection)
    });
    let shards = opts
        .shards
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    Ok(RunParams {
        cfg,
        ooc,
        shards: shards.clamp(1, u16::MAX as usize) as u16,
        cpus: opts.cpus.clone(),
        bind_ip: addrs.bind_ip,
        port: opts.local_port,
        rate_cps: opts.rate * 1000.0 / opts.rate_period_ms.max(1) as f64,
        // SIPp's default -l: 3 x the calls opened over the longer of the
        // scenario's length, -d and one second.
        limit: opts.users.is_none().then(|| opts.open_calls_allowed(sc)),
        max_calls: opts.max_calls,
        users: opts.users.map(u64::from),
        deadcall_wait: Duration::from_millis(opts.deadcall_wait_ms),
        max_message: 65_536,
        trace_messages: opts.trace_msg || opts.trace_shortmsg,
        trace_rtt: opts.trace_rtt,
        socket_per_call: opts.transport == options::Transport::UdpMulti,
        init,
        max_socket: opts.max_socket,
        globals: global_values(opts, sc)?,
    })
}

/// SIPp's output files and screens for a started run (the statistics
/// start with the shards, so the first period's rate is not diluted by
/// the start-up).
fn outputs(
    opts: &Options,
    sc: &Scenario,
    running: &runtime::Running,
    limit: Option<u64>,
) -> Result<Outputs, Fail> {
    let mut reporter = Reporter::new(opts, sc, std::process::id(), SystemTime::now())
        .map_err(|e| (exit::FATAL, format!("cannot open the output files: {e}")))?;
    let mut info = reporter.screen_info().clone();
    info.local_port = running.local_addrs.first().map_or(0, |a| a.port());
    info.call_limit = limit.unwrap_or(0);
    reporter.set_screen_info(info);
    Ok(Outputs {
        reporter,
        json: opts.json,
        trace_msg: opts.trace_msg,
        trace_shortmsg: opts.trace_shortmsg,
    })
}

/// The main thread's steering: `-timeout`, `-m` of a server,
/// `-rate_increase`, signals and the remote control.
fn drive_params(opts: &Options, sc: &Scenario) -> Result<DriveParams, Fail> {
    let per_second = |n: f64| n * 1000.0 / opts.rate_period_ms.max(1) as f64;
    Ok(DriveParams {
        timeout: (opts.global_timeout_ms > 0)
            .then(|| Duration::from_millis(opts.global_timeout_ms)),
        timeout_is_error: opts.timeout_error,
        server_max_calls: if sc.mode == Mode::Server {
            opts.max_calls
        } else {
            None
        },
        rate_increase: (opts.rate_increase != 0).then(|| RateIncrease {
            step: per_second(opts.rate_increase as f64),
            every: Duration::from_millis(opts.rate_interval()),
            max: (opts.rate_max > 0).then(|| per_second(opts.rate_max as f64)),
            quit_at_max: opts.rate_quit,
        }),
        signals: true,
        remote: remote_control(opts)?.map(Arc::new),
    })
}

/// The local address the kernel routes to `remote` from.
fn route_to(remote: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if remote.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let s = UdpSocket::bind(any).ok()?;
    s.connect(remote).ok()?;
    Some(s.local_addr().ok()?.ip())
}

/// The host name's address (SIPp's default without a remote host).
fn host_ip() -> Option<IpAddr> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes a
    // NUL-terminated name into it (truncated if longer).
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let n = buf.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buf[..n]).ok()?;
    (name, 0).to_socket_addrs().ok()?.next().map(|a| a.ip())
}
