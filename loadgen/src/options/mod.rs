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

use crate::scenario::{ElementKind, Pause, Scenario};

mod table;
mod values;

pub use table::{help_text, parse_args, unsupported_options};
pub use values::{parse_cpu_list, parse_time, split_host_port};

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
    /// call and no failed one (`EXIT_TEST_RES_INTERNAL`; failed calls make
    /// it [`CALLS_FAILED`]).
    pub const INTERNAL: i32 = 97;
    /// Exit without running calls: `-sd`, `-v`, `-h`, no arguments
    /// (`EXIT_OTHER`).
    pub const OTHER: i32 = 99;
    /// A fatal error once running (`EXIT_FATAL_ERROR`, -1).
    pub const FATAL: i32 = 255;
    /// The SIP socket could not be bound (`EXIT_BIND_ERROR`, -2).
    pub const BIND_ERROR: i32 = 254;
}

/// Which of SIPp's default behaviours are on (`-default_behaviors`;
/// every call follows them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviors {
    /// `bye`: aborted calls send BYE/CANCEL/ACK; unexpected BYE/CANCEL
    /// are answered 200.
    pub bye: bool,
    /// `abortunexp`: an unexpected message aborts the call.
    pub abort_unexp: bool,
    /// `pingreply`: an unexpected PING is answered 200.
    pub ping_reply: bool,
}

impl Default for Behaviors {
    fn default() -> Self {
        Behaviors {
            bye: true,
            abort_unexp: true,
            ping_reply: true,
        }
    }
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
    /// `-oocsn` / `-oocsf`: the out-of-call scenario of a client (none by
    /// default: requests with an unknown Call-ID are discarded).
    pub ooc_scenario: Option<ScenarioSource>,
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
            ooc_scenario: None,
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
