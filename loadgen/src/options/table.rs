//! SIPp 3.6.1's option table (plus trunkload's own options) and the
//! parser that walks it.

use super::values::*;
use super::*;

/// How an option's arguments are read and stored.
#[derive(Clone, Copy)]
enum Kind {
    /// No argument.
    Flag(fn(&mut Options)),
    /// One argument.
    One(fn(&mut Options, &str, &str) -> Result<(), OptionsError>),
    /// Two arguments.
    Two(fn(&mut Options, &str, &str, &str) -> Result<(), OptionsError>),
    /// Help (`-h`, `--help`).
    Help,
    /// `-v`.
    Version,
    /// `-sd NAME`.
    Dump,
    /// Rejected, with why.
    Unsupported(&'static str),
}

/// One row of the option table.
#[derive(Clone, Copy)]
struct Spec {
    name: &'static str,
    args: &'static str,
    help: &'static str,
    kind: Kind,
}

macro_rules! flag {
    ($name:literal, $help:literal, |$o:ident| $body:expr) => {
        Spec {
            name: $name,
            args: "",
            help: $help,
            kind: Kind::Flag(|$o: &mut Options| $body),
        }
    };
}

macro_rules! one {
    ($name:literal, $args:literal, $help:literal, |$o:ident, $f:ident, $v:ident| $body:expr) => {
        Spec {
            name: $name,
            args: $args,
            help: $help,
            kind: Kind::One(
                |$o: &mut Options, $f: &str, $v: &str| -> Result<(), OptionsError> {
                    $body;
                    Ok(())
                },
            ),
        }
    };
}

macro_rules! unsupported {
    ($name:literal, $args:literal, $why:literal) => {
        Spec {
            name: $name,
            args: $args,
            help: "",
            kind: Kind::Unsupported($why),
        }
    };
}

/// SIPp 3.6.1's option table (plus trunkload's), in SIPp's order.
static TABLE: &[Spec] = &[
    Spec {
        name: "h",
        args: "",
        help: "Display this help and exit (99).",
        kind: Kind::Help,
    },
    Spec {
        name: "help",
        args: "",
        help: "",
        kind: Kind::Help,
    },
    // Scenario file options
    Spec {
        name: "sd",
        args: "NAME",
        help: "Dump a built-in scenario and exit (99).",
        kind: Kind::Dump,
    },
    one!("sf", "FILE", "Load an XML scenario file.", |o, _f, v| o
        .scenario =
        ScenarioSource::File(PathBuf::from(v))),
    one!(
        "oocsf",
        "FILE",
        "Load an out-of-call scenario file: a client answers requests with unknown Call-IDs with it.",
        |o, _f, v| o.ooc_scenario = Some(ScenarioSource::File(PathBuf::from(v)))
    ),
    one!(
        "oocsn",
        "NAME",
        "Use a built-in out-of-call scenario (ooc_default): a client answers requests with unknown Call-IDs with it.",
        |o, _f, v| o.ooc_scenario = Some(ScenarioSource::Builtin(v.to_string()))
    ),
    one!(
        "sn",
        "NAME",
        "Use a built-in scenario: uac (default), uas, regexp, branchc, branchs, ...",
        |o, _f, v| o.scenario = ScenarioSource::Builtin(v.to_string())
    ),
    // IP, port and protocol options
    one!(
        "t",
        "MODE",
        "Transport mode: u1 (UDP, one socket, default), un (UDP, one socket per call), ui (UDP, one socket per IP of the injection file). TCP, TLS, SCTP are not supported.",
        |o, f, v| set_transport(o, f, v)?
    ),
    one!(
        "i",
        "IP",
        "Local IP address for Contact, Via and From ([local_ip]). Default: primary host IP.",
        |o, f, v| o.local_ip = Some(ip_arg(f, v)?)
    ),
    one!(
        "p",
        "PORT",
        "Local SIP port. Default: first free of 5060..5119, else ephemeral.",
        |o, f, v| o.local_port = Some(parse_port(f, v)?)
    ),
    flag!("bind_local", "Bind sockets to the -i address.", |o| o
        .bind_local =
        true),
    one!("ci", "IP", "Local control IP address.", |o, f, v| o
        .control_ip =
        Some(ip_arg(f, v)?)),
    one!(
        "cp",
        "PORT",
        "Local control port (default 8888).",
        |o, f, v| o.control_port = Some(parse_port(f, v)?)
    ),
    one!(
        "max_socket",
        "N",
        "Maximum number of sockets open at once with -t un (default 50000).",
        |o, f, v| o.max_socket = parse_unsigned(f, v)?
    ),
    unsupported!(
        "max_reconnect",
        "N",
        "TCP reconnection applies to TCP, which is not implemented"
    ),
    unsupported!(
        "reconnect_close",
        "BOOL",
        "TCP reconnection applies to TCP, which is not implemented"
    ),
    unsupported!(
        "reconnect_sleep",
        "T",
        "TCP reconnection applies to TCP, which is not implemented"
    ),
    one!(
        "rsa",
        "HOST:PORT",
        "Send all messages to this address (default port 5060).",
        |o, f, v| {
            let (h, p) = split_host_port(v).map_err(|_| bad(f, "host[:port]", v))?;
            if h.is_empty() {
                return Err(bad(f, "host[:port]", v));
            }
            o.rsa = Some((h, p.unwrap_or(5060)));
        }
    ),
    unsupported!("tls_cert", "FILE", "TLS is not implemented"),
    unsupported!("tls_key", "FILE", "TLS is not implemented"),
    unsupported!("tls_ca", "FILE", "TLS is not implemented"),
    unsupported!("tls_crl", "FILE", "TLS is not implemented"),
    unsupported!("tls_version", "V", "TLS is not implemented"),
    unsupported!("multihome", "IP", "SCTP is not implemented"),
    unsupported!("heartbeat", "MS", "SCTP is not implemented"),
    unsupported!("assocmaxret", "N", "SCTP is not implemented"),
    unsupported!("pathmaxret", "N", "SCTP is not implemented"),
    unsupported!("pmtu", "N", "SCTP is not implemented"),
    unsupported!("gracefulclose", "BOOL", "SCTP is not implemented"),
    // Overall behaviour
    Spec {
        name: "v",
        args: "",
        help: "Display the version and exit (99).",
        kind: Kind::Version,
    },
    flag!("bg", "Run in the background.", |o| o.background = true),
    flag!(
        "nostdin",
        "Do not read keyboard commands from stdin.",
        |o| o.nostdin = true
    ),
    unsupported!("plugin", "FILE", "plugins are not implemented"),
    one!(
        "sleep",
        "T",
        "Sleep this long at start-up (default unit s).",
        |o, f, v| o.sleep_ms = parse_time(f, v, 1000)?
    ),
    flag!("skip_rlimit", "Do not raise the open-file limit.", |o| o
        .skip_rlimit =
        true),
    one!(
        "buff_size",
        "N",
        "Socket send and receive buffer size (default 65535).",
        |o, f, v| o.buff_size = parse_unsigned(f, v)?
    ),
    unsupported!(
        "sendbuffer_warn",
        "BOOL",
        "send-buffer congestion handling applies to TCP, which is not implemented"
    ),
    one!(
        "lost",
        "PCT",
        "Default percentage of messages to lose (loss emulation).",
        |o, f, v| o.lost = parse_double(f, v)?
    ),
    Spec {
        name: "key",
        args: "K V",
        help: "Define the keyword [K] as V.",
        kind: Kind::Two(|o, _f, k, v| {
            o.keys.push((k.to_string(), v.to_string()));
            Ok(())
        }),
    },
    Spec {
        name: "set",
        args: "VAR V",
        help: "Set the global variable $VAR to V.",
        kind: Kind::Two(|o, _f, k, v| {
            o.set_vars.push((k.to_string(), v.to_string()));
            Ok(())
        }),
    },
    unsupported!("tdmmap", "MAP", "TDM circuit maps are not implemented"),
    unsupported!(
        "dynamicStart",
        "N",
        "the [dynamic_id] keyword is not implemented"
    ),
    unsupported!(
        "dynamicMax",
        "N",
        "the [dynamic_id] keyword is not implemented"
    ),
    unsupported!(
        "dynamicStep",
        "N",
        "the [dynamic_id] keyword is not implemented"
    ),
    // Call behaviour
    flag!(
        "aa",
        "Answer unexpected INFO, NOTIFY, OPTIONS and UPDATE with 200 OK.",
        |o| o.auto_answer = true
    ),
    one!(
        "base_cseq",
        "N",
        "First [cseq] of each call (default 1).",
        |o, f, v| o.base_cseq = parse_unsigned(f, v)?
    ),
    one!(
        "cid_str",
        "FMT",
        "Call-ID format (default %u-%p@%s): %u call number, %p pid, %s local IP.",
        |o, _f, v| o.cid_str = v.to_string()
    ),
    one!(
        "d",
        "T",
        "Duration of <pause/> without milliseconds (default 0, unit ms).",
        |o, f, v| o.duration_ms = parse_time(f, v, 1)?
    ),
    one!(
        "deadcall_wait",
        "T",
        "How long finished calls' Call-IDs are kept (default 33000 ms).",
        |o, f, v| o.deadcall_wait_ms = parse_time(f, v, 1)?
    ),
    one!(
        "auth_uri",
        "URI",
        "URI used in digest authentication (default remote_ip:remote_port).",
        |o, _f, v| o.auth_uri = Some(v.to_string())
    ),
    one!(
        "au",
        "USER",
        "Authentication user name (default: -s).",
        |o, _f, v| o.auth_username = Some(v.to_string())
    ),
    one!(
        "ap",
        "PASS",
        "Authentication password (default 'password').",
        |o, _f, v| o.auth_password = v.to_string()
    ),
    one!(
        "s",
        "USER",
        "User part of the Request-URI, [service] (default 'service').",
        |o, _f, v| o.service = v.to_string()
    ),
    one!(
        "default_behaviors",
        "LIST",
        "Default behaviours: all, none, bye, abortunexp, pingreply; -x turns one off (all,-bye).",
        |o, f, v| set_behaviors(o, f, v)?
    ),
    flag!(
        "nd",
        "No default behaviours (same as -default_behaviors none).",
        |o| o.default_behaviors = Behaviors {
            bye: false,
            abort_unexp: false,
            ping_reply: false
        }
    ),
    flag!(
        "pause_msg_ign",
        "Ignore messages received during a <pause>.",
        |o| o.pause_msg_ign = true
    ),
    flag!(
        "callid_slash_ign",
        "Do not treat /// in Call-IDs as a prefix separator.",
        |o| o.callid_slash_ign = true
    ),
    // Injection files
    one!(
        "inf",
        "FILE",
        "Injection file for [fieldN] (repeatable).",
        |o, _f, v| o.inf.push(PathBuf::from(v))
    ),
    Spec {
        name: "infindex",
        args: "FILE FIELD",
        help: "Index FILE (an -inf file) on FIELD.",
        kind: Kind::Two(|o, f, file, field| {
            let n = parse_unsigned::<usize>(f, field)?;
            o.infindex.push((file.to_string(), n));
            Ok(())
        }),
    },
    one!(
        "ip_field",
        "N",
        "Injection field holding the local IP for -t ui (default 0).",
        |o, f, v| o.ip_field = parse_unsigned(f, v)?
    ),
    // RTP
    one!(
        "mi",
        "IP",
        "Local media IP, [media_ip] (default: local IP).",
        |o, f, v| o.media_ip = Some(ip_arg(f, v)?)
    ),
    unsupported!("rtp_echo", "", "RTP echo is not implemented"),
    unsupported!("mb", "N", "RTP echo is not implemented"),
    one!(
        "mp",
        "PORT",
        "Local media port, [media_port] (default: first free even port from 6000).",
        |o, f, v| o.media_port = Some(parse_port(f, v)?)
    ),
    unsupported!("rtp_payload", "N", "RTP streaming is not implemented"),
    unsupported!("rtp_threadtasks", "N", "RTP streaming is not implemented"),
    unsupported!("rtp_buffsize", "N", "RTP streaming is not implemented"),
    // Call rate
    one!(
        "r",
        "RATE",
        "Call rate, calls per rate period (default 10).",
        |o, f, v| {
            let r = parse_double(f, v)?;
            if r < 0.0 {
                return Err(bad(f, "a non-negative number", v));
            }
            o.rate = r;
        }
    ),
    one!(
        "rp",
        "T",
        "Rate period (default 1000, unit ms): -r 7 -rp 2000 = 7 calls every 2 s.",
        |o, f, v| {
            let p = parse_time(f, v, 1)?;
            if p == 0 {
                return Err(bad(f, "a non-zero time", v));
            }
            o.rate_period_ms = p;
        }
    ),
    one!(
        "rate_scale",
        "X",
        "Step of the + - * / keys (default 1).",
        |o, f, v| o.rate_scale = parse_double(f, v)?
    ),
    one!(
        "rate_increase",
        "N",
        "Add N to the rate every -rate_interval.",
        |o, f, v| o.rate_increase = parse_long(f, v)?
    ),
    one!(
        "rate_max",
        "N",
        "With -rate_increase: quit once the rate reaches N.",
        |o, f, v| o.rate_max = parse_long(f, v)?
    ),
    one!(
        "rate_interval",
        "T",
        "Rate increase interval (default: -fd, unit s).",
        |o, f, v| o.rate_interval_ms = Some(parse_time(f, v, 1000)?)
    ),
    flag!(
        "no_rate_quit",
        "Do not quit when -rate_max is reached.",
        |o| o.rate_quit = false
    ),
    one!(
        "l",
        "N",
        "Maximum simultaneous calls (default 3 * call duration * rate).",
        |o, f, v| {
            if o.users.is_some() {
                return Err(OptionsError::Conflict(
                    "Can not set open call limit (-l) when -users is specified.".to_string(),
                ));
            }
            o.limit = Some(parse_unsigned(f, v)?);
        }
    ),
    one!("m", "N", "Stop after N calls.", |o, f, v| o.max_calls =
        Some(parse_unsigned(f, v)?)),
    one!(
        "users",
        "N",
        "Closed loop: keep N calls running instead of using a rate.",
        |o, f, v| {
            let n = parse_unsigned(f, v)?;
            o.users = Some(n);
            o.limit = Some(n);
        }
    ),
    // Retransmission and timeouts
    one!(
        "recv_timeout",
        "T",
        "Default <recv> timeout (unit ms; 0 = none).",
        |o, f, v| o.recv_timeout_ms = parse_time(f, v, 1)?
    ),
    one!(
        "send_timeout",
        "T",
        "Default send timeout (unit ms; 0 = none).",
        |o, f, v| o.send_timeout_ms = parse_time(f, v, 1)?
    ),
    one!(
        "timeout",
        "T",
        "Global timeout (unit s): stop like 'q' after T.",
        |o, f, v| o.global_timeout_ms = parse_time(f, v, 1000)?
    ),
    flag!(
        "timeout_error",
        "Reaching -timeout is a fatal error (exit 255).",
        |o| o.timeout_error = true
    ),
    one!(
        "max_retrans",
        "N",
        "Maximum UDP retransmissions (default 9).",
        |o, f, v| o.max_retrans = parse_unsigned(f, v)?
    ),
    one!(
        "max_invite_retrans",
        "N",
        "Maximum UDP retransmissions of INVITE transactions (default 5).",
        |o, f, v| o.max_invite_retrans = parse_unsigned(f, v)?
    ),
    one!(
        "max_non_invite_retrans",
        "N",
        "Maximum UDP retransmissions of non-INVITE transactions (default 9).",
        |o, f, v| o.max_non_invite_retrans = parse_unsigned(f, v)?
    ),
    flag!("nr", "Disable UDP retransmissions.", |o| o
        .retrans_enabled =
        false),
    one!(
        "rtcheck",
        "full|loose",
        "Retransmission detection method (default full).",
        |o, f, v| {
            o.rtcheck = match v {
                "full" => RtCheck::Full,
                "loose" => RtCheck::Loose,
                _ => return Err(bad(f, "full or loose", v)),
            }
        }
    ),
    one!(
        "T2",
        "T",
        "T2 timer, non-INVITE retransmission cap (default 4000 ms).",
        |o, f, v| o.t2_ms = parse_time(f, v, 1)?
    ),
    // 3PCC
    unsupported!(
        "3pcc",
        "HOST:PORT",
        "3PCC (twin SIPp) mode is not implemented"
    ),
    unsupported!("master", "NAME", "3PCC (twin SIPp) mode is not implemented"),
    unsupported!("slave", "NAME", "3PCC (twin SIPp) mode is not implemented"),
    unsupported!(
        "slave_cfg",
        "FILE",
        "3PCC (twin SIPp) mode is not implemented"
    ),
    // Performance and watchdog
    one!(
        "timer_resol",
        "T",
        "Timer resolution (default 1 ms).",
        |o, f, v| o.timer_resol_ms = parse_time(f, v, 1)?
    ),
    one!(
        "max_recv_loops",
        "N",
        "Messages read per event-loop cycle (default 1000).",
        |o, f, v| o.max_recv_loops = parse_unsigned(f, v)?
    ),
    one!(
        "max_sched_loops",
        "N",
        "Calls run per event-loop cycle (default 1000).",
        |o, f, v| o.max_sched_loops = parse_unsigned(f, v)?
    ),
    one!(
        "watchdog_interval",
        "T",
        "Watchdog period (default 400 ms; 0 disables).",
        |o, f, v| o.watchdog_interval_ms = parse_time(f, v, 1)?
    ),
    one!(
        "watchdog_reset",
        "T",
        "Reset the watchdog trip counts after this quiet time (default 600000 ms).",
        |o, f, v| o.watchdog_reset_ms = parse_time(f, v, 1)?
    ),
    one!(
        "watchdog_minor_threshold",
        "T",
        "A gap longer than this is a minor trip (default 500 ms).",
        |o, f, v| o.watchdog_minor_threshold_ms = parse_time(f, v, 1)?
    ),
    one!(
        "watchdog_major_threshold",
        "T",
        "A gap longer than this is a major trip (default 3000 ms).",
        |o, f, v| o.watchdog_major_threshold_ms = parse_time(f, v, 1)?
    ),
    one!(
        "watchdog_major_maxtriggers",
        "N",
        "Major trips before the run is stopped (default 10).",
        |o, f, v| o.watchdog_major_maxtriggers = parse_unsigned(f, v)?
    ),
    one!(
        "watchdog_minor_maxtriggers",
        "N",
        "Minor trips before the run is stopped (default 120).",
        |o, f, v| o.watchdog_minor_maxtriggers = parse_unsigned(f, v)?
    ),
    // Tracing, logging and statistics
    one!(
        "f",
        "T",
        "Screen refresh period (default 1, unit s).",
        |o, f, v| o.report_freq_ms = parse_time(f, v, 1000)?
    ),
    flag!(
        "trace_stat",
        "Dump statistics to <scenario>_<pid>_.csv every -fd.",
        |o| o.trace_stat = true
    ),
    one!(
        "stat_delimiter",
        "S",
        "Statistics file delimiter (default ;).",
        |o, _f, v| o.stat_delimiter = v.to_string()
    ),
    one!("stf", "FILE", "Statistics file name.", |o, _f, v| o
        .stat_file =
        Some(v.to_string())),
    one!(
        "fd",
        "T",
        "Statistics dump period (default 60, unit s).",
        |o, f, v| {
            let t = parse_time(f, v, 1000)?;
            if t == 0 {
                return Err(bad(f, "a non-zero time", v));
            }
            o.dump_freq_ms = t;
        }
    ),
    flag!(
        "periodic_rtd",
        "Reset the repartition counters every -fd.",
        |o| o.periodic_rtd = true
    ),
    flag!(
        "trace_msg",
        "Log every message in <scenario>_<pid>_messages.log.",
        |o| o.trace_msg = true
    ),
    one!(
        "message_file",
        "FILE",
        "Message log file name.",
        |o, _f, v| o.message_file.name = Some(v.to_string())
    ),
    one!(
        "message_overwrite",
        "BOOL",
        "Overwrite the message log (default true).",
        |o, f, v| o.message_file.overwrite = parse_bool(f, v)?
    ),
    flag!(
        "trace_shortmsg",
        "Log one line per message in <scenario>_<pid>_shortmessages.log.",
        |o| o.trace_shortmsg = true
    ),
    one!(
        "shortmessage_file",
        "FILE",
        "Short message log file name.",
        |o, _f, v| o.shortmessage_file.name = Some(v.to_string())
    ),
    one!(
        "shortmessage_overwrite",
        "BOOL",
        "Overwrite the short message log (default true).",
        |o, f, v| o.shortmessage_file.overwrite = parse_bool(f, v)?
    ),
    flag!(
        "trace_counts",
        "Dump per-message counts to <scenario>_<pid>_counts.csv.",
        |o| o.trace_counts = true
    ),
    flag!(
        "trace_err",
        "Log unexpected messages and errors in <scenario>_<pid>_errors.log.",
        |o| o.trace_err = true
    ),
    one!("error_file", "FILE", "Error log file name.", |o, _f, v| o
        .error_file
        .name =
        Some(v.to_string())),
    one!(
        "error_overwrite",
        "BOOL",
        "Overwrite the error log (default true).",
        |o, f, v| o.error_file.overwrite = parse_bool(f, v)?
    ),
    unsupported!(
        "trace_error_codes",
        "",
        "the error-codes file is not implemented (use -trace_err)"
    ),
    unsupported!(
        "trace_calldebug",
        "",
        "the call-debug file is not implemented (use -trace_msg)"
    ),
    unsupported!(
        "calldebug_file",
        "FILE",
        "the call-debug file is not implemented (use -trace_msg)"
    ),
    unsupported!(
        "calldebug_overwrite",
        "BOOL",
        "the call-debug file is not implemented (use -trace_msg)"
    ),
    flag!(
        "trace_screen",
        "Dump the screens to <scenario>_<pid>_screen.log at exit.",
        |o| o.trace_screen = true
    ),
    one!(
        "screen_file",
        "FILE",
        "Screen log file name.",
        |o, _f, v| o.screen_file.name = Some(v.to_string())
    ),
    one!(
        "screen_overwrite",
        "BOOL",
        "Overwrite the screen log (default true).",
        |o, f, v| o.screen_file.overwrite = parse_bool(f, v)?
    ),
    flag!(
        "trace_rtt",
        "Log every response time in <scenario>_<pid>_rtt.csv.",
        |o| o.trace_rtt = true
    ),
    one!(
        "rtt_freq",
        "N",
        "Write response times every N samples (default 200).",
        |o, f, v| {
            let n = parse_unsigned::<u64>(f, v)?;
            if n == 0 {
                return Err(bad(f, "a positive integer", v));
            }
            o.rtt_freq = n;
        }
    ),
    flag!(
        "trace_logs",
        "Write <log> actions to <scenario>_<pid>_logs.log.",
        |o| o.trace_logs = true
    ),
    one!("log_file", "FILE", "<log> action file name.", |o, _f, v| {
        o.log_file.name = Some(v.to_string())
    }),
    one!(
        "log_overwrite",
        "BOOL",
        "Overwrite the <log> action file (default true).",
        |o, f, v| o.log_file.overwrite = parse_bool(f, v)?
    ),
    unsupported!("ringbuffer_files", "N", "log rotation is not implemented"),
    unsupported!("ringbuffer_size", "N", "log rotation is not implemented"),
    unsupported!("max_log_size", "N", "log size limits are not implemented"),
    // trunkload
    one!(
        "shards",
        "N",
        "trunkload: number of shards (default: one per CPU).",
        |o, f, v| {
            let n = parse_unsigned::<usize>(f, v)?;
            if n == 0 {
                return Err(bad(f, "a positive integer", v));
            }
            o.shards = Some(n);
        }
    ),
    one!(
        "cpus",
        "LIST",
        "trunkload: CPUs to pin shards to (0,1 or 2-5).",
        |o, f, v| o.cpus = Some(parse_cpu_list(f, v)?)
    ),
    flag!(
        "json",
        "trunkload: print a JSON final report on stdout.",
        |o| o.json = true
    ),
];

fn find(arg: &str) -> Option<&'static Spec> {
    let name = arg.strip_prefix('-')?;
    let name = name.strip_prefix('-').unwrap_or(name);
    TABLE.iter().find(|s| s.name == name)
}

/// Parses SIPp's command line (the arguments without `argv[0]`).
///
/// No argument at all is [`Command::Help`] (SIPp prints help, exits 99).
/// `-h`/`-v`/`-sd` return as soon as they are reached, like SIPp.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, OptionsError> {
    let args: Vec<String> = args.into_iter().collect();
    if args.is_empty() {
        return Ok(Command::Help);
    }
    let mut o = Options::default();
    let mut i = 0;
    let mut scenario_set: Option<String> = None;
    while i < args.len() {
        let arg = &args[i];
        let Some(spec) = find(arg) else {
            if !arg.starts_with('-') || arg == "-" {
                let (h, p) =
                    split_host_port(arg).map_err(|e| bad("remote host", "host[:port]", &e))?;
                o.remote_host = Some(h);
                if let Some(p) = p {
                    o.remote_port = p;
                }
                i += 1;
                continue;
            }
            return Err(OptionsError::Unknown(arg.clone()));
        };
        let need = |k: usize| -> Result<(), OptionsError> {
            if i + k >= args.len() {
                Err(OptionsError::MissingArgument(arg.clone()))
            } else {
                Ok(())
            }
        };
        match spec.kind {
            Kind::Help => return Ok(Command::Help),
            Kind::Version => return Ok(Command::Version),
            Kind::Dump => {
                need(1)?;
                return Ok(Command::DumpScenario(args[i + 1].clone()));
            }
            Kind::Flag(f) => {
                f(&mut o);
                i += 1;
            }
            Kind::One(f) => {
                need(1)?;
                if matches!(spec.name, "sf" | "sn") {
                    if let Some(prev) = &scenario_set {
                        return Err(OptionsError::Conflict(format!(
                            "{arg}: a scenario is already selected by {prev}"
                        )));
                    }
                    scenario_set = Some(arg.clone());
                }
                f(&mut o, arg, &args[i + 1])?;
                i += 2;
            }
            Kind::Two(f) => {
                need(2)?;
                f(&mut o, arg, &args[i + 1], &args[i + 2])?;
                i += 3;
            }
            Kind::Unsupported(why) => {
                return Err(OptionsError::Unsupported {
                    flag: arg.clone(),
                    why,
                });
            }
        }
    }
    validate(&o)?;
    Ok(Command::Run(Box::new(o)))
}

fn validate(o: &Options) -> Result<(), OptionsError> {
    if o.transport == Transport::UdpPerIp && o.inf.is_empty() {
        return Err(OptionsError::Conflict(
            "You must use the -inf option when using -t ui.".to_string(),
        ));
    }
    for (file, _) in &o.infindex {
        let known = o.inf.iter().any(|p| {
            let s = p.to_string_lossy();
            s.rsplit('/').next() == Some(file.as_str()) || s == file.as_str()
        });
        if !known {
            return Err(OptionsError::Conflict(format!(
                "-infindex: could not find file {file} among the -inf files"
            )));
        }
    }
    if let (Some(shards), Some(cpus)) = (o.shards, &o.cpus) {
        if shards > cpus.len() {
            return Err(OptionsError::Conflict(format!(
                "--shards {shards}: more shards than CPUs in --cpus ({})",
                cpus.len()
            )));
        }
    }
    if o.timeout_error && o.global_timeout_ms == 0 {
        return Err(OptionsError::Conflict(
            "-timeout_error requires -timeout".to_string(),
        ));
    }
    Ok(())
}

/// The `-h` text: usage, then every option of the table with its help,
/// then the options trunkload rejects.
pub fn help_text() -> String {
    let mut s = String::new();
    s.push_str("Usage:\n\n  trunkload remote_host[:remote_port] [options]\n\n");
    s.push_str("SIPp-compatible command line (SIPp 3.6.1). Options start with - or --.\n");
    s.push_str("Time arguments take a unit suffix: ms, s, m, h.\n\n  Available options:\n\n");
    for spec in TABLE {
        if spec.help.is_empty() || matches!(spec.kind, Kind::Unsupported(_)) {
            continue;
        }
        let head = if spec.args.is_empty() {
            format!("-{}", spec.name)
        } else {
            format!("-{} {}", spec.name, spec.args)
        };
        let head = if matches!(spec.name, "shards" | "cpus" | "json") {
            format!("-{head}")
        } else {
            head
        };
        s.push_str(&format!("   {head:<28}: {}\n", spec.help));
    }
    s.push_str("\n  SIPp options not supported by trunkload (rejected with an error):\n\n");
    for spec in TABLE {
        if let Kind::Unsupported(why) = spec.kind {
            s.push_str(&format!("   -{:<27}: {why}\n", spec.name));
        }
    }
    s.push_str(
        "\n  Exit codes: 0 all calls succeeded, 1 some call failed (or a command-line\n  \
         error), 97 stopped (stop_now, -timeout without success), 99 nothing run\n  \
         (-h, -v, -sd), 255 fatal error, 254 bind error.\n",
    );
    s
}

/// The names of the SIPp options trunkload rejects (for documentation
/// and tests).
pub fn unsupported_options() -> Vec<&'static str> {
    TABLE
        .iter()
        .filter(|s| matches!(s.kind, Kind::Unsupported(_)))
        .map(|s| s.name)
        .collect()
}
