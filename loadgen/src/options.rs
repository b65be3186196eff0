//! SIPp's command line (compat §2), table-driven, with SIPp 3.6.1's
//! defaults and exit codes, plus trunkload's own `--shards`, `--cpus` and
//! `--json`.
//!
//! Every option of SIPp 3.6.1's `options_table` (`src/sipp.cpp`) is in
//! `TABLE` (see [`help_text`]). Options trunkload cannot honour (TCP/TLS/SCTP transports,
//! 3PCC, RTP echo, plugins, TDM maps, ...) are rejected with
//! [`OptionsError::Unsupported`] — never silently ignored.
//!
//! As in SIPp, options start with `-` or `--`, take at most two arguments,
//! and a word that is not an option is the remote `host[:port]`
//! (the last one wins). Time arguments take a unit suffix (`ms`, `s`, `m`,
//! `h`); without one the option's default unit applies.

use std::path::PathBuf;

use crate::call::Behaviors;
use crate::scenario::{ElementKind, Pause, Scenario};

/// Exit codes (compat §2.9, SIPp's `include/defines.h`).
pub mod exit {
    /// Normal end, no failed call.
    pub const OK: i32 = 0;
    /// Normal end with at least one failed call.
    pub const CALLS_FAILED: i32 = 1;
    /// A command-line error. SIPp exits with 1 here, not 255: its
    /// `sipp_exit()` forces `EXIT_TEST_FAILED` while no scenario is
    /// displayed yet [observed: `sipp -r x` → 1]. Same for scenario load
    /// errors.
    pub const BAD_ARGS: i32 = 1;
    /// `exec int_cmd="stop_now"`, or `-timeout` reached with no successful
    /// call (`EXIT_TEST_RES_INTERNAL`).
    pub const INTERNAL: i32 = 97;
    /// Exit without running calls: `-sd`, `-v`, `-h`, no arguments
    /// (`EXIT_OTHER`).
    pub const OTHER: i32 = 99;
    /// A fatal error once running (`EXIT_FATAL_ERROR`, -1).
    pub const FATAL: i32 = 255;
    /// The SIP socket could not be bound (`EXIT_BIND_ERROR`, -2).
    pub const BIND_ERROR: i32 = 254;
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a load test.
    Run(Box<Options>),
    /// `-sd NAME`: print a built-in scenario and exit 99.
    DumpScenario(String),
    /// `-v`: print the version and exit 99.
    Version,
    /// `-h`, `--help`, or no argument at all: print [`help_text`], exit 99.
    Help,
}

/// A command-line error. The message names the flag and what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// Not an option of SIPp nor of trunkload.
    #[error("Invalid argument: '{0}'. Use 'trunkload -h' for details")]
    Unknown(String),
    /// A SIPp option trunkload cannot honour.
    #[error("option {flag} is not supported by trunkload: {why}")]
    Unsupported {
        /// The flag as written.
        flag: String,
        /// Why (what trunkload does instead).
        why: &'static str,
    },
    /// The flag needs an argument (or two) and the command line ended.
    #[error("{0}: missing argument")]
    MissingArgument(String),
    /// The argument is malformed.
    #[error("{flag}: expected {expected}, got '{got}'")]
    Invalid {
        /// The flag as written.
        flag: String,
        /// What was expected ("a number", "a time", ...).
        expected: &'static str,
        /// The argument given.
        got: String,
    },
    /// Options that cannot be combined, or an option missing its partner.
    #[error("{0}")]
    Conflict(String),
}

impl OptionsError {
    /// The process exit code for this error (SIPp exits 1 on command-line
    /// errors, see [`exit::BAD_ARGS`]).
    pub fn exit_code(&self) -> i32 {
        exit::BAD_ARGS
    }
}

/// Where the scenario comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioSource {
    /// `-sn NAME` (default `uac`).
    Builtin(String),
    /// `-sf FILE`.
    File(PathBuf),
}

impl ScenarioSource {
    /// The stem of output file names (compat §5.1): the `-sn` name, or the
    /// `-sf` file's basename without its `.xml` extension.
    pub fn file_stem(&self) -> String {
        match self {
            ScenarioSource::Builtin(n) => n.clone(),
            ScenarioSource::File(p) => {
                let s = p.to_string_lossy();
                let base = s.rsplit('/').next().unwrap_or(&s).to_string();
                match base.strip_suffix(".xml") {
                    Some(b) => b.to_string(),
                    None => base,
                }
            }
        }
    }
}

/// `-t`: the transport mode. Only UDP modes are supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `u1`: one UDP socket (default).
    #[default]
    UdpMono,
    /// `un`: one UDP socket per call.
    UdpMulti,
    /// `ui`: one UDP socket per IP address of the injection file.
    UdpPerIp,
}

impl Transport {
    /// As SIPp's `TRANSPORT_TO_STRING` shows it.
    pub fn as_str(&self) -> &'static str {
        "UDP"
    }
}

/// `-rtcheck`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtCheck {
    /// `full` (default).
    #[default]
    Full,
    /// `loose`.
    Loose,
}

/// A log file's `-xxx_file NAME` / `-xxx_overwrite BOOL` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// `-xxx_file`: the name (else `<stem>_<pid>_<kind>.log`).
    pub name: Option<String>,
    /// `-xxx_overwrite` (default true; false appends).
    pub overwrite: bool,
}

impl Default for LogFile {
    fn default() -> Self {
        LogFile {
            name: None,
            overwrite: true,
        }
    }
}

/// Every option, typed, with SIPp 3.6.1's default.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    // --- scenario ---
    /// `-sn` / `-sf` (default `-sn uac`).
    pub scenario: ScenarioSource,
    // --- addressing ---
    /// Positional `remote_host[:port]`: the host (IPv6 without brackets).
    pub remote_host: Option<String>,
    /// The positional's port; 5060 when absent.
    pub remote_port: u16,
    /// `-t` (default `u1`).
    pub transport: Transport,
    /// `-i`: the local IP (`[local_ip]`); default the primary host IP.
    pub local_ip: Option<String>,
    /// `-p`: the local SIP port; `None`: SIPp's choice (5060..5119 first
    /// free, else ephemeral).
    pub local_port: Option<u16>,
    /// `-bind_local`.
    pub bind_local: bool,
    /// `-ci`: remote-control IP.
    pub control_ip: Option<String>,
    /// `-cp`: remote-control port (default 8888).
    pub control_port: Option<u16>,
    /// `-max_socket` (default 50000).
    pub max_socket: u32,
    /// `-rsa host:port`: send everything there.
    pub rsa: Option<(String, u16)>,
    /// `-buff_size` (default 65535).
    pub buff_size: usize,
    // --- overall behaviour ---
    /// `-bg`.
    pub background: bool,
    /// `-nostdin`.
    pub nostdin: bool,
    /// `-sleep` (default unit s), ms.
    pub sleep_ms: u64,
    /// `-skip_rlimit`.
    pub skip_rlimit: bool,
    /// `-lost`: default loss emulation, percent.
    pub lost: f64,
    /// `-key K V`, in order.
    pub keys: Vec<(String, String)>,
    /// `-set VAR V`, in order.
    pub set_vars: Vec<(String, String)>,
    // --- call behaviour ---
    /// `-aa`.
    pub auto_answer: bool,
    /// `-base_cseq` as given (default 1; SIPp stores it minus one and
    /// pre-increments).
    pub base_cseq: u32,
    /// `-cid_str` (default `%u-%p@%s`).
    pub cid_str: String,
    /// `-d` (default unit ms, default 0), ms.
    pub duration_ms: u64,
    /// `-deadcall_wait` (default 33000 ms), ms.
    pub deadcall_wait_ms: u64,
    /// `-auth_uri`.
    pub auth_uri: Option<String>,
    /// `-au` (default: `-s`).
    pub auth_username: Option<String>,
    /// `-ap` (default `password`).
    pub auth_password: String,
    /// `-s` (default `service`).
    pub service: String,
    /// `-default_behaviors` / `-nd` (default all).
    pub default_behaviors: Behaviors,
    /// `-pause_msg_ign`.
    pub pause_msg_ign: bool,
    /// `-callid_slash_ign`.
    pub callid_slash_ign: bool,
    // --- injection ---
    /// `-inf FILE`, in order (the first is the default file).
    pub inf: Vec<PathBuf>,
    /// `-infindex FILE FIELD`.
    pub infindex: Vec<(String, usize)>,
    /// `-ip_field` (default 0).
    pub ip_field: usize,
    // --- media ---
    /// `-mi`.
    pub media_ip: Option<String>,
    /// `-mp`: the media port (default: first free even port from 6000).
    pub media_port: Option<u16>,
    // --- rate ---
    /// `-r` (default 10).
    pub rate: f64,
    /// `-rp` (default unit ms, default 1000), ms.
    pub rate_period_ms: u64,
    /// `-rate_scale` (default 1).
    pub rate_scale: f64,
    /// `-rate_increase` (default 0).
    pub rate_increase: i64,
    /// `-rate_max` (default 0: none).
    pub rate_max: i64,
    /// `-rate_interval` (default unit s), ms; `None`: the `-fd` value.
    pub rate_interval_ms: Option<u64>,
    /// Quit when `-rate_max` is reached (`-no_rate_quit` clears it).
    pub rate_quit: bool,
    /// `-l`; `None`: SIPp's computed default.
    pub limit: Option<u32>,
    /// `-m`; `None`: unlimited.
    pub max_calls: Option<u64>,
    /// `-users`; `None`: open-loop rate mode.
    pub users: Option<u32>,
    // --- retransmissions and timeouts ---
    /// `-recv_timeout` (default unit ms; 0 = off), ms.
    pub recv_timeout_ms: u64,
    /// `-send_timeout` (default unit ms; 0 = off), ms.
    pub send_timeout_ms: u64,
    /// `-timeout` (default unit s; 0 = off), ms.
    pub global_timeout_ms: u64,
    /// `-timeout_error`.
    pub timeout_error: bool,
    /// `-max_retrans` (default 9).
    pub max_retrans: u32,
    /// `-max_invite_retrans` (default 5).
    pub max_invite_retrans: u32,
    /// `-max_non_invite_retrans` (default 9).
    pub max_non_invite_retrans: u32,
    /// Retransmissions on (`-nr` clears it).
    pub retrans_enabled: bool,
    /// `-rtcheck` (default full).
    pub rtcheck: RtCheck,
    /// `-T2` (default 4000 ms), ms.
    pub t2_ms: u64,
    // --- performance and watchdog ---
    /// `-timer_resol` (default 1 ms), ms.
    pub timer_resol_ms: u64,
    /// `-max_recv_loops` (default 1000).
    pub max_recv_loops: u32,
    /// `-max_sched_loops` (default 1000).
    pub max_sched_loops: u32,
    /// `-watchdog_interval` (default 400 ms; 0 disables), ms.
    pub watchdog_interval_ms: u64,
    /// `-watchdog_reset` (default 600000 ms), ms.
    pub watchdog_reset_ms: u64,
    /// `-watchdog_minor_threshold` (default 500 ms), ms.
    pub watchdog_minor_threshold_ms: u64,
    /// `-watchdog_major_threshold` (default 3000 ms), ms.
    pub watchdog_major_threshold_ms: u64,
    /// `-watchdog_major_maxtriggers` (default 10).
    pub watchdog_major_maxtriggers: u32,
    /// `-watchdog_minor_maxtriggers` (default 120).
    pub watchdog_minor_maxtriggers: u32,
    // --- tracing and statistics ---
    /// `-f` (default unit s, default 1 s), ms: screen refresh.
    pub report_freq_ms: u64,
    /// `-trace_stat`.
    pub trace_stat: bool,
    /// `-stat_delimiter` (default `;`).
    pub stat_delimiter: String,
    /// `-stf`: the stat file name.
    pub stat_file: Option<String>,
    /// `-fd` (default unit s, default 60 s), ms: stat dump period.
    pub dump_freq_ms: u64,
    /// `-periodic_rtd`.
    pub periodic_rtd: bool,
    /// `-trace_msg`.
    pub trace_msg: bool,
    /// `-message_file` / `-message_overwrite`.
    pub message_file: LogFile,
    /// `-trace_shortmsg`.
    pub trace_shortmsg: bool,
    /// `-shortmessage_file` / `-shortmessage_overwrite`.
    pub shortmessage_file: LogFile,
    /// `-trace_counts`.
    pub trace_counts: bool,
    /// `-trace_err`.
    pub trace_err: bool,
    /// `-error_file` / `-error_overwrite`.
    pub error_file: LogFile,
    /// `-trace_screen`.
    pub trace_screen: bool,
    /// `-screen_file` / `-screen_overwrite`.
    pub screen_file: LogFile,
    /// `-trace_rtt`.
    pub trace_rtt: bool,
    /// `-rtt_freq` (default 200).
    pub rtt_freq: u64,
    /// `-trace_logs`.
    pub trace_logs: bool,
    /// `-log_file` / `-log_overwrite`.
    pub log_file: LogFile,
    // --- trunkload ---
    /// `--shards N`: how many shards (default: one per CPU in `--cpus`,
    /// else per available CPU).
    pub shards: Option<usize>,
    /// `--cpus LIST` (`0,1`, `2-5`, `0,2-3`).
    pub cpus: Option<Vec<usize>>,
    /// `--json`: print a machine-readable final report on stdout.
    pub json: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scenario: ScenarioSource::Builtin("uac".to_string()),
            remote_host: None,
            remote_port: 5060,
            transport: Transport::UdpMono,
            local_ip: None,
            local_port: None,
            bind_local: false,
            control_ip: None,
            control_port: None,
            max_socket: 50000,
            rsa: None,
            buff_size: 65535,
            background: false,
            nostdin: false,
            sleep_ms: 0,
            skip_rlimit: false,
            lost: 0.0,
            keys: Vec::new(),
            set_vars: Vec::new(),
            auto_answer: false,
            base_cseq: 1,
            cid_str: "%u-%p@%s".to_string(),
            duration_ms: 0,
            deadcall_wait_ms: 33000,
            auth_uri: None,
            auth_username: None,
            auth_password: "password".to_string(),
            service: "service".to_string(),
            default_behaviors: Behaviors::default(),
            pause_msg_ign: false,
            callid_slash_ign: false,
            inf: Vec::new(),
            infindex: Vec::new(),
            ip_field: 0,
            media_ip: None,
            media_port: None,
            rate: 10.0,
            rate_period_ms: 1000,
            rate_scale: 1.0,
            rate_increase: 0,
            rate_max: 0,
            rate_interval_ms: None,
            rate_quit: true,
            limit: None,
            max_calls: None,
            users: None,
            recv_timeout_ms: 0,
            send_timeout_ms: 0,
            global_timeout_ms: 0,
            timeout_error: false,
            max_retrans: 9,
            max_invite_retrans: 5,
            max_non_invite_retrans: 9,
            retrans_enabled: true,
            rtcheck: RtCheck::Full,
            t2_ms: 4000,
            timer_resol_ms: 1,
            max_recv_loops: 1000,
            max_sched_loops: 1000,
            watchdog_interval_ms: 400,
            watchdog_reset_ms: 600_000,
            watchdog_minor_threshold_ms: 500,
            watchdog_major_threshold_ms: 3000,
            watchdog_major_maxtriggers: 10,
            watchdog_minor_maxtriggers: 120,
            report_freq_ms: 1000,
            trace_stat: false,
            stat_delimiter: ";".to_string(),
            stat_file: None,
            dump_freq_ms: 60_000,
            periodic_rtd: false,
            trace_msg: false,
            message_file: LogFile::default(),
            trace_shortmsg: false,
            shortmessage_file: LogFile::default(),
            trace_counts: false,
            trace_err: false,
            error_file: LogFile::default(),
            trace_screen: false,
            screen_file: LogFile::default(),
            trace_rtt: false,
            rtt_freq: 200,
            trace_logs: false,
            log_file: LogFile::default(),
            shards: None,
            cpus: None,
            json: false,
        }
    }
}

impl Options {
    /// `-rate_interval`, defaulting to `-fd` as SIPp does.
    pub fn rate_interval(&self) -> u64 {
        self.rate_interval_ms.unwrap_or(self.dump_freq_ms)
    }

    /// The authentication user name: `-au`, else `-s`.
    pub fn auth_user(&self) -> &str {
        self.auth_username.as_deref().unwrap_or(&self.service)
    }

    /// SIPp's effective caps: `min(-max_invite_retrans, -max_retrans)`
    /// and `min(-max_non_invite_retrans, -max_retrans)`.
    pub fn retrans_caps(&self) -> (u32, u32) {
        (
            self.max_invite_retrans.min(self.max_retrans),
            self.max_non_invite_retrans.min(self.max_retrans),
        )
    }

    /// SIPp's scenario "duration" (`scenario::duration`): the sum over its
    /// pauses (and timewaits) of the 99th percentile of their duration,
    /// ms; `<pause/>` counts as `-d`, variable pauses as 0.
    pub fn scenario_duration_ms(&self, scenario: &Scenario) -> f64 {
        scenario
            .elements
            .iter()
            .map(|e| match &e.kind {
                ElementKind::Pause(p) | ElementKind::Timewait(p) => match p {
                    Pause::Default => self.duration_ms as f64,
                    Pause::Fixed(ms) => *ms as f64,
                    Pause::Variable(_) => 0.0,
                    Pause::Uniform { min, max } => *min as f64 + 0.99 * (*max as f64 - *min as f64),
                    // The normal's 99th percentile: mean + 2.3263 stdev.
                    Pause::Normal { mean, stdev } => mean + 2.326_347_874 * stdev,
                    Pause::Exponential { mean } => -mean * 0.01f64.ln(),
                },
                _ => 0.0,
            })
            .map(|d| d.trunc())
            .sum()
    }

    /// The open-call limit: `-users`, else `-l`, else SIPp's default
    /// `3 * rate * max(scenario duration, -d, 1000 ms) / rate period`
    /// (at least 1; `CallGenerationTask::set_rate`).
    pub fn open_calls_allowed(&self, scenario: &Scenario) -> u64 {
        if let Some(u) = self.users {
            return u64::from(u);
        }
        if let Some(l) = self.limit {
            return u64::from(l);
        }
        let mut d = self.scenario_duration_ms(scenario) as i64;
        d = d.max(self.duration_ms as i64).max(1000);
        let n = (3.0 * self.rate * d as f64 / self.rate_period_ms as f64) as u64;
        n.max(1)
    }

    /// The `[remote_host]:[port]` text of the screen (`127.0.0.1:5060`,
    /// IPv6 without brackets as SIPp prints it).
    pub fn remote_display(&self) -> String {
        format!(
            "{}:{}",
            self.remote_host.as_deref().unwrap_or(""),
            self.remote_port
        )
    }
}

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

// ----- argument readers (SIPp's get_long / get_double / get_time / get_bool)

fn bad(flag: &str, expected: &'static str, got: &str) -> OptionsError {
    OptionsError::Invalid {
        flag: flag.to_string(),
        expected,
        got: got.to_string(),
    }
}

/// `strtol(.., 0)`: decimal, `0x` hex or leading-`0` octal, optional sign.
fn parse_long(flag: &str, s: &str) -> Result<i64, OptionsError> {
    let err = || bad(flag, "an integer", s);
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(err());
    }
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).map_err(|_| err())?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).map_err(|_| err())?
    } else {
        body.parse::<i64>().map_err(|_| err())?
    };
    Ok(if neg { -v } else { v })
}

fn parse_unsigned<T: TryFrom<i64>>(flag: &str, s: &str) -> Result<T, OptionsError> {
    let v = parse_long(flag, s)?;
    T::try_from(v).map_err(|_| bad(flag, "a non-negative integer in range", s))
}

fn parse_double(flag: &str, s: &str) -> Result<f64, OptionsError> {
    let t = s.trim_start();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && !t.is_empty() => Ok(v),
        _ => Err(bad(flag, "a number", s)),
    }
}

/// SIPp's `get_time`: a number with an optional unit (`ms`, `s`, `m`,
/// `h`); `mult` converts the default unit into ms. Returns ms.
pub fn parse_time(flag: &str, s: &str, mult: u64) -> Result<u64, OptionsError> {
    let err = || bad(flag, "a time (number with optional unit ms, s, m, h)", s);
    if !s.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) || s.contains(':') {
        return Err(err());
    }
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let v: f64 = num.parse().map_err(|_| err())?;
    let ms = match unit {
        "" => v * mult as f64,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        "h" => v * 3_600_000.0,
        _ => return Err(err()),
    };
    Ok(ms as u64)
}

fn parse_bool(flag: &str, s: &str) -> Result<bool, OptionsError> {
    match s {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(flag, "a boolean (true or false)", s)),
    }
}

fn parse_port(flag: &str, s: &str) -> Result<u16, OptionsError> {
    parse_unsigned::<u16>(flag, s)
}

/// Splits `host[:port]`, `[v6]:port`, `[v6]` or a bare IPv6 address
/// (SIPp's `get_host_and_port`). The port is `None` when absent.
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("'{s}': missing ']'"))?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Ok((host.to_string(), None));
        }
        let p = after
            .strip_prefix(':')
            .ok_or_else(|| format!("'{s}': expected ':' after ']'"))?;
        let port = p.parse::<u16>().map_err(|_| format!("'{s}': bad port"))?;
        return Ok((host.to_string(), Some(port)));
    }
    match s.matches(':').count() {
        0 => Ok((s.to_string(), None)),
        1 => {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            let port = p.parse::<u16>().map_err(|_| format!("'{s}': bad port"))?;
            Ok((h.to_string(), Some(port)))
        }
        _ => Ok((s.to_string(), None)),
    }
}

fn ip_arg(flag: &str, s: &str) -> Result<String, OptionsError> {
    match split_host_port(s) {
        Ok((h, _)) if !h.is_empty() => Ok(h),
        _ => Err(bad(flag, "an IP address", s)),
    }
}

/// Parses `--cpus`: `0,1`, `2-5`, `0,2-3`.
pub fn parse_cpu_list(flag: &str, s: &str) -> Result<Vec<usize>, OptionsError> {
    let err = || bad(flag, "a CPU list such as 0,1 or 2-5", s);
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let a: usize = a.trim().parse().map_err(|_| err())?;
            let b: usize = b.trim().parse().map_err(|_| err())?;
            if a > b {
                return Err(err());
            }
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| err())?);
        }
    }
    if out.is_empty() {
        return Err(err());
    }
    let mut seen = out.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != out.len() {
        return Err(err());
    }
    Ok(out)
}

fn set_transport(o: &mut Options, flag: &str, v: &str) -> Result<(), OptionsError> {
    if v.len() != 2 {
        return Err(bad(flag, "a transport mode (u1, un, ui)", v));
    }
    let unsupported = |what: &'static str| OptionsError::Unsupported {
        flag: format!("{flag} {v}"),
        why: what,
    };
    o.transport = match v {
        "u1" => Transport::UdpMono,
        "un" => Transport::UdpMulti,
        "ui" => Transport::UdpPerIp,
        "t1" | "tn" => {
            return Err(unsupported(
                "TCP transport is not implemented (UDP only: u1, un, ui)",
            ));
        }
        "l1" | "ln" => {
            return Err(unsupported(
                "TLS transport is not implemented (UDP only: u1, un, ui)",
            ));
        }
        "s1" | "sn" => {
            return Err(unsupported(
                "SCTP transport is not implemented (UDP only: u1, un, ui)",
            ));
        }
        "c1" | "cn" => {
            return Err(unsupported(
                "the compression plugin is not implemented (UDP only: u1, un, ui)",
            ));
        }
        _ => return Err(bad(flag, "a transport mode (u1, un, ui)", v)),
    };
    Ok(())
}

fn set_behaviors(o: &mut Options, flag: &str, v: &str) -> Result<(), OptionsError> {
    // SIPp starts from none and applies each token.
    let mut b = Behaviors {
        bye: false,
        abort_unexp: false,
        ping_reply: false,
    };
    for token in v.split(',').filter(|t| !t.is_empty()) {
        if token == "none" {
            b = Behaviors {
                bye: false,
                abort_unexp: false,
                ping_reply: false,
            };
            continue;
        }
        let (on, name) = match token.as_bytes()[0] {
            b'+' => (true, &token[1..]),
            b'-' => (false, &token[1..]),
            _ => (true, token),
        };
        match name {
            "all" => {
                b.bye = on;
                b.abort_unexp = on;
                b.ping_reply = on;
            }
            "bye" => b.bye = on,
            "abortunexp" => b.abort_unexp = on,
            "pingreply" => b.ping_reply = on,
            _ => {
                return Err(bad(
                    flag,
                    "a list of all, none, bye, abortunexp, pingreply (optionally prefixed by - or +)",
                    token,
                ));
            }
        }
    }
    o.default_behaviors = b;
    Ok(())
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
    unsupported!(
        "oocsf",
        "FILE",
        "out-of-call scenarios are not implemented (unknown Call-IDs are counted as out-of-call messages; -aa answers INFO/NOTIFY/OPTIONS/UPDATE)"
    ),
    unsupported!(
        "oocsn",
        "NAME",
        "out-of-call scenarios are not implemented (unknown Call-IDs are counted as out-of-call messages; -aa answers INFO/NOTIFY/OPTIONS/UPDATE)"
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
