//! The call executor: one SIPp call running its scenario (compat §4),
//! sans-IO.
//!
//! A [`Call`] never touches a socket or a clock. The shard hands it the
//! time and the messages received ([`Call::on_message`]), wakes it when
//! its deadline passes ([`Call::on_wake`]) and collects what it wants sent
//! from [`Env::out`]. It follows SIPp 3.6.1's `call::run`,
//! `call::executeMessage`, `call::process_incoming` and `call::abortCall`
//! step for step, so a scenario behaves as it does under SIPp: the same
//! matching of received messages (forward over optional `<recv>`s, then
//! back over contiguous optional ones), the same UDP retransmission and
//! retransmission detection, the same default behaviours, and the same
//! success rule (the call runs off the end of its scenario).

pub(crate) mod sipmsg;

mod actions;
mod auth;
mod defaults;
mod incoming;
mod render;

use defaults::default_message;
pub(crate) use defaults::http_date;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::inject::InjectionFile;
use crate::options::Behaviors;
use crate::scenario::{
    Action, ArithOp, Compare, Element, ElementKind, IntCmd, Operand, Optional, Pause, RecvMatch,
    Scenario, SearchIn, SendWhat, StrOperand, Template, VarId,
};
use crate::stats::{FailReason, Stats};
use render::Index;

/// What every call of a run shares: the scenario and the values behind
/// the keywords and timers (from the command line).
#[derive(Debug)]
pub struct CallConfig {
    /// The scenario.
    pub scenario: Arc<Scenario>,
    /// `[service]` (`-s`).
    pub service: String,
    /// `[remote_ip]`, IPv6 in brackets.
    pub remote_ip: String,
    /// `[remote_host]`.
    pub remote_host: String,
    /// `[remote_port]`.
    pub remote_port: u16,
    /// Where client calls send (`-rsa`, else the remote host).
    pub remote_addr: Option<SocketAddr>,
    /// `[local_ip]`, IPv6 in brackets.
    pub local_ip: String,
    /// Whether `-i` is IPv6 (`[local_ip_type]`).
    pub local_ipv6: bool,
    /// `[server_ip]`: the address our sockets are bound to.
    pub server_ip: String,
    /// `[media_ip]`.
    pub media_ip: String,
    /// Whether the media IP is IPv6.
    pub media_ipv6: bool,
    /// `[media_port]`.
    pub media_port: u16,
    /// `[pid]`.
    pub pid: u32,
    /// `-cid_str`: `%u` call number, `%p` pid, `%s` local IP.
    pub cid_str: String,
    /// `-base_cseq`.
    pub base_cseq: u32,
    /// `-d`: a `<pause/>` without duration.
    pub default_pause: Duration,
    /// `-recv_timeout`.
    pub recv_timeout: Option<Duration>,
    /// `-send_timeout` (sends never block here; kept for completeness).
    pub send_timeout: Option<Duration>,
    /// UDP retransmissions on (`-nr` turns them off).
    pub retrans_enabled: bool,
    /// `-lost`: the loss emulation, percent, of a `<send>` or `<recv>`
    /// without its own `lost` attribute.
    pub default_lost: f64,
    /// `-rtcheck loose`: retransmissions recognised by To, From, Call-ID,
    /// CSeq (and a response's status line and body) instead of the whole
    /// message.
    pub rtcheck_loose: bool,
    /// `-au`: the `[authentication]` user when the keyword names none
    /// (`None`: `-s`).
    pub auth_username: Option<String>,
    /// `-ap`: the `[authentication]` password when the keyword names none.
    pub auth_password: String,
    /// `-auth_uri`: the digest URI after `sip:` (`None`:
    /// `remote_ip:remote_port`).
    pub auth_uri: Option<String>,
    /// `min(-max_invite_retrans, -max_retrans)`.
    pub max_invite_retrans: u32,
    /// `min(-max_non_invite_retrans, -max_retrans)`.
    pub max_non_invite_retrans: u32,
    /// `-T2`.
    pub t2: Duration,
    /// `-default_behaviors`.
    pub behaviors: Behaviors,
    /// `-aa`.
    pub auto_answer: bool,
    /// `-pause_msg_ign`.
    pub pause_msg_ign: bool,
    /// `-users` (for `[users]`).
    pub users: u64,
    /// `-inf` files by name (the first is the default).
    pub injection: Vec<(String, Arc<InjectionFile>)>,
    /// `[sipp_version]`.
    pub version: String,
    /// When the run started (`[clock_tick]`).
    pub start: Instant,
    /// Largest message we build (`[fill]` is capped by it).
    pub max_message: usize,
    /// Per element: the methods of the requests sent before it, as SIPp's
    /// `recv_response_for_cseq_method_list` (a response is matched only if
    /// its CSeq method is a substring of this).
    pub sent_methods: Vec<Vec<u8>>,
    /// Per element: the explicit transactions (`start_txn`, `ack_txn`,
    /// `response_txn`) it names, as indexes into a call's transactions.
    pub txn_refs: Vec<TxnRefs>,
    /// How many distinct transaction names the scenario uses.
    pub txn_count: usize,
    /// Per variable: shared by all calls of the shard (`<Global>`).
    pub global: Vec<bool>,
}

impl CallConfig {
    /// SIPp's defaults for `scenario` on 127.0.0.1 (`-s service`, media
    /// port 6000, T2 4 s, 5 INVITE and 9 other retransmissions), with the
    /// derived tables filled. `main` overrides from the command line.
    pub fn new(scenario: Arc<Scenario>) -> CallConfig {
        let mut c = CallConfig {
            scenario,
            service: "service".into(),
            remote_ip: "127.0.0.1".into(),
            remote_host: "127.0.0.1".into(),
            remote_port: 5060,
            remote_addr: None,
            local_ip: "127.0.0.1".into(),
            local_ipv6: false,
            server_ip: "127.0.0.1".into(),
            media_ip: "127.0.0.1".into(),
            media_ipv6: false,
            media_port: 6000,
            pid: std::process::id(),
            cid_str: "%u-%p@%s".into(),
            base_cseq: 1,
            default_pause: Duration::ZERO,
            recv_timeout: None,
            send_timeout: None,
            retrans_enabled: true,
            default_lost: 0.0,
            rtcheck_loose: false,
            auth_username: None,
            auth_password: "password".into(),
            auth_uri: None,
            max_invite_retrans: 5,
            max_non_invite_retrans: 9,
            t2: Duration::from_millis(4000),
            behaviors: Behaviors::default(),
            auto_answer: false,
            pause_msg_ign: false,
            users: 0,
            injection: Vec::new(),
            version: concat!("trunkload-", env!("CARGO_PKG_VERSION")).into(),
            start: Instant::now(),
            max_message: 65_536,
            sent_methods: Vec::new(),
            txn_refs: Vec::new(),
            txn_count: 0,
            global: Vec::new(),
        };
        c.derive_tables();
        c
    }

    /// Fills the derived tables from the scenario; call once after setting
    /// `scenario`.
    pub fn derive_tables(&mut self) {
        let sc = &self.scenario;
        let mut methods = Vec::new();
        let mut per = Vec::with_capacity(sc.elements.len());
        for e in &sc.elements {
            per.push(methods.clone());
            if let ElementKind::Send(s) = &e.kind
                && let SendWhat::Request(m) = &s.what
                && s.start_txn.is_none()
                && s.ack_txn.is_none()
            {
                methods.extend_from_slice(m.as_bytes());
            }
        }
        self.sent_methods = per;
        let mut names: Vec<String> = Vec::new();
        let mut index_of = |name: &Option<String>| -> Option<usize> {
            let name = name.as_deref()?;
            Some(match names.iter().position(|n| n == name) {
                Some(i) => i,
                None => {
                    names.push(name.to_string());
                    names.len() - 1
                }
            })
        };
        self.txn_refs = sc
            .elements
            .iter()
            .map(|e| match &e.kind {
                ElementKind::Send(s) => TxnRefs {
                    start: index_of(&s.start_txn),
                    ack: index_of(&s.ack_txn),
                    response: None,
                },
                ElementKind::Recv(r) => TxnRefs {
                    response: index_of(&r.response_txn),
                    ..TxnRefs::default()
                },
                _ => TxnRefs::default(),
            })
            .collect();
        self.txn_count = names.len();
        let mut global = vec![false; sc.variables.len()];
        for &v in &sc.global_vars {
            if let Some(g) = global.get_mut(v) {
                *g = true;
            }
        }
        self.global = global;
    }

    /// `[fieldN]`: field `n` of the call's line (or of `line`) in `file`
    /// (default: the first `-inf`).
    fn field(
        &self,
        file: Option<&str>,
        call_line: usize,
        line: Option<i64>,
        n: usize,
    ) -> Option<&str> {
        let f = match file {
            Some(name) => &self.injection.iter().find(|(k, _)| k == name)?.1,
            None => &self.injection.first()?.1,
        };
        let lines = f.lines();
        if lines == 0 {
            return None;
        }
        let l = match line {
            Some(l) if l < 0 || l as usize >= lines => return None,
            Some(l) => l as usize,
            None => call_line % lines,
        };
        f.field(l, n)
    }

    /// The Call-ID of client call `number` (`-cid_str`).
    pub fn make_call_id(&self, number: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.cid_str.len() + 24);
        let mut it = self.cid_str.bytes().peekable();
        while let Some(b) = it.next() {
            if b != b'%' {
                out.push(b);
                continue;
            }
            match it.next() {
                Some(b'u') => out.extend_from_slice(number.to_string().as_bytes()),
                Some(b'p') => out.extend_from_slice(self.pid.to_string().as_bytes()),
                Some(b's') => out.extend_from_slice(self.local_ip.as_bytes()),
                _ => out.push(b'%'),
            }
        }
        out
    }
}

/// A datagram a call wants sent.
#[derive(Debug)]
pub struct Outgoing {
    /// The message.
    pub bytes: Vec<u8>,
    /// Where to.
    pub dest: SocketAddr,
    /// Which of the shard's sockets (its index).
    pub socket: u32,
}

/// Something the shard must act on besides sending.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A warning for the error log (`-trace_err`); counted in `Warnings`.
    Warning(String),
    /// `<log>` output (`-trace_logs`).
    Log(Vec<u8>),
    /// `exec command=...`: run it through `sh -c`.
    Exec(String),
    /// `exec int_cmd="stop_gracefully"`: like `q`.
    StopGracefully,
    /// `exec int_cmd="stop_now"`: exit now (97).
    StopNow,
    /// `<error>` action: fatal (exit 255).
    Fatal(String),
}

/// What a call gets from its shard for one step: the explicit clock, the
/// statistics and the queues it writes to.
#[derive(Debug)]
pub struct Env<'a> {
    /// Monotonic now.
    pub now: Instant,
    /// Wall-clock now (`[timestamp]`, `[date]`, `gettimeofday`).
    pub wall: SystemTime,
    /// The shard's statistics.
    pub stats: &'a mut Stats,
    /// Datagrams to send.
    pub out: &'a mut Vec<Outgoing>,
    /// Spare buffers for `out` (returned by the shard after sending).
    pub pool: &'a mut Vec<Vec<u8>>,
    /// Events for the shard.
    pub events: &'a mut Vec<Event>,
    /// The shard's random draws (`chance`, the `sample` distributions).
    pub rng: &'a mut fastrand::Rng,
    /// `<Global>` variables of the shard.
    pub globals: &'a mut Vec<Value>,
}

impl Env<'_> {
    /// A uniform double in [0, 1).
    fn unit(&mut self) -> f64 {
        self.rng.f64()
    }
}

/// A call variable (compat §3.5).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// Never assigned.
    #[default]
    Unset,
    /// A string or a regular-expression match.
    Str(Vec<u8>),
    /// A double (`assign`, `add`, ...): "set" when non-zero, as SIPp.
    Double(f64),
    /// A boolean (`test`).
    Bool(bool),
}

impl Value {
    /// SIPp's `isSet` (used by `test=` and `condexec`).
    pub fn is_set(&self) -> bool {
        match self {
            Value::Unset => false,
            Value::Str(_) => true,
            Value::Double(d) => *d != 0.0,
            Value::Bool(b) => *b,
        }
    }

    fn as_double(&self) -> f64 {
        match self {
            Value::Double(d) => *d,
            Value::Bool(b) => *b as u8 as f64,
            Value::Str(s) => std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0),
            Value::Unset => 0.0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Value::Str(s) => s,
            _ => b"",
        }
    }
}

/// Whether the call goes on after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Still running; wake it at [`Call::wake_at`].
    Alive,
    /// Ended (counted as a success or a failure already).
    Ended,
}

/// The result of one step of the state machine.
enum Step {
    /// Run the next step now.
    Again,
    /// Wait for a message or the deadline.
    Blocked,
    /// The call ended.
    Ended,
}

/// Most steps one drive takes before yielding (a `jump` loop without any
/// wait would otherwise spin forever); SIPp's `-max_sched_loops` plays the
/// same role.
const MAX_STEPS: u32 = 1000;

/// The explicit transactions an element names (SIPp's `start_txn`,
/// `ack_txn` on a `<send>`, `response_txn` on a `<recv>`), by index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxnRefs {
    /// This send starts the transaction (its branch identifies it).
    pub start: Option<usize>,
    /// This send is the ACK of the (INVITE) transaction.
    pub ack: Option<usize>,
    /// This receive takes only responses of the transaction.
    pub response: Option<usize>,
}

/// One explicit transaction of a call (SIPp's `txnInstanceInfo`).
#[derive(Debug, Clone, Default)]
struct TxnState {
    /// The top-Via branch of the request that started it.
    id: Vec<u8>,
    /// The ACK `<send>` of the transaction, once sent.
    ack_index: Option<usize>,
    /// Hash of the final response taken by its `<recv>`.
    final_hash: Option<u64>,
}

/// One call.
#[derive(Debug)]
pub struct Call {
    cfg: Arc<CallConfig>,
    /// Explicit transactions (`start_txn`), by index.
    txns: Vec<TxnState>,
    /// `[call_number]`.
    pub number: u64,
    /// `[call_id]`: generated (client) or received (server).
    pub call_id: Vec<u8>,
    /// Whether the call was created by a received message (server mode).
    pub incoming: bool,
    /// The socket it sends on (shard socket index).
    pub socket: u32,
    local_port: u16,
    user_id: u64,
    peer: Option<SocketAddr>,
    created: Instant,
    msg_index: usize,
    last_send_index: usize,
    last_send: Vec<u8>,
    last_recv_hash: u64,
    last_recv_index: Option<usize>,
    last_recv: Vec<u8>,
    /// (hash of the message that triggered a send, its recv index, the
    /// send index): a retransmission of it gets that send again.
    recv_retrans: Option<(u64, usize, usize)>,
    route_set: Option<Vec<u8>>,
    next_url: Option<Vec<u8>>,
    cseq: u64,
    next_retrans: Option<Instant>,
    nb_retrans: u32,
    last_delay: Duration,
    paused_until: Option<Instant>,
    timewait: bool,
    recv_deadline: Option<Instant>,
    established: bool,
    ack_pending: bool,
    peer_tag: Option<Vec<u8>>,
    /// The last `auth="true"` challenge (`Proxy-Authenticate`, else
    /// `WWW-Authenticate` content), its status code and the next nonce
    /// count (SIPp's `dialog_authentication`, `dialog_challenge_type`,
    /// `next_nonce_count`).
    challenge: Option<(Vec<u8>, u32)>,
    next_nonce_count: std::cell::Cell<u32>,
    /// An error of SIPp's that ends the run, met while rendering (which
    /// cannot report it itself): taken and reported by the sender.
    render_error: std::cell::RefCell<Option<String>>,
    rtd_start: Vec<Instant>,
    rtd_done: Vec<bool>,
    vars: Vec<Value>,
    action_failure: Option<FailReason>,
    queued: Option<Vec<u8>>,
    inj_line: usize,
    in_unexp_jump: bool,
    /// A `jump` action's target, taken by the next step.
    jump: Option<usize>,
}

impl Call {
    fn new(
        cfg: Arc<CallConfig>,
        number: u64,
        call_id: Vec<u8>,
        incoming: bool,
        socket: u32,
        local_port: u16,
        created: Instant,
    ) -> Call {
        let nrtd = cfg.scenario.rtds.len();
        let nvars = cfg.scenario.variables.len();
        let cseq = cfg.base_cseq.saturating_sub(1) as u64;
        Call {
            number,
            call_id,
            incoming,
            socket,
            local_port,
            user_id: 0,
            peer: if incoming { None } else { cfg.remote_addr },
            created,
            msg_index: 0,
            last_send_index: 0,
            txns: Vec::new(),
            last_send: Vec::new(),
            last_recv_hash: 0,
            last_recv_index: None,
            last_recv: Vec::new(),
            recv_retrans: None,
            route_set: None,
            next_url: None,
            cseq,
            next_retrans: None,
            nb_retrans: 0,
            last_delay: Duration::ZERO,
            paused_until: None,
            timewait: false,
            recv_deadline: None,
            established: false,
            ack_pending: false,
            peer_tag: None,
            challenge: None,
            next_nonce_count: std::cell::Cell::new(1),
            render_error: std::cell::RefCell::new(None),
            rtd_start: vec![created; nrtd],
            rtd_done: vec![false; nrtd],
            vars: vec![Value::Unset; nvars],
            action_failure: None,
            queued: None,
            inj_line: (number.saturating_sub(1)) as usize,
            in_unexp_jump: false,
            jump: None,
            cfg,
        }
    }

    /// A client call, created at `intended` (the pacer's schedule: response
    /// times count from there, so a late sender does not hide its
    /// lateness). Counted as created; run it with [`Call::on_wake`].
    pub fn outgoing(
        cfg: Arc<CallConfig>,
        number: u64,
        socket: u32,
        local_port: u16,
        intended: Instant,
        stats: &mut Stats,
    ) -> Call {
        let id = cfg.make_call_id(number);
        stats.call_created(false);
        Call::new(cfg, number, id, false, socket, local_port, intended)
    }

    /// A server call for a message with an unknown Call-ID; feed that
    /// message with [`Call::on_message`].
    pub fn incoming(
        cfg: Arc<CallConfig>,
        number: u64,
        call_id: Vec<u8>,
        socket: u32,
        local_port: u16,
        now: Instant,
        stats: &mut Stats,
    ) -> Call {
        stats.call_created(true);
        Call::new(cfg, number, call_id, true, socket, local_port, now)
    }

    /// With `-users`: which user this call belongs to (`[userid]`).
    pub fn set_user(&mut self, user: u64) {
        self.user_id = user;
    }

    /// The line of the injection files this call uses (default: call
    /// number - 1, SEQUENTIAL).
    pub fn set_injection_line(&mut self, line: usize) {
        self.inj_line = line;
    }

    /// When the call next needs [`Call::on_wake`] (None: only a message
    /// can move it).
    pub fn wake_at(&self) -> Option<Instant> {
        [self.next_retrans, self.paused_until, self.recv_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    /// The call's message index (for tests and debugging).
    pub fn index(&self) -> usize {
        self.msg_index
    }

    /// Runs the call until it waits.
    pub fn on_wake(&mut self, env: &mut Env<'_>) -> Status {
        self.drive(env)
    }

    /// A message for this call (matched by Call-ID) from `src`.
    pub fn on_message(&mut self, msg: &[u8], src: SocketAddr, env: &mut Env<'_>) -> Status {
        match self.process_incoming(msg, Some(src), env) {
            Step::Again => self.drive(env),
            Step::Blocked => Status::Alive,
            Step::Ended => Status::Ended,
        }
    }

    /// Aborts the call as SIPp's second `q` does: BYE/CANCEL as needed, not
    /// counted as a failure.
    pub fn abort(&mut self, env: &mut Env<'_>) {
        self.abort_call(env);
    }

    fn drive(&mut self, env: &mut Env<'_>) -> Status {
        for _ in 0..MAX_STEPS {
            match self.step(env) {
                Step::Again => continue,
                Step::Blocked => return Status::Alive,
                Step::Ended => return Status::Ended,
            }
        }
        Status::Alive
    }

    fn element(&self, i: usize) -> Option<&Element> {
        self.cfg.scenario.elements.get(i)
    }

    fn var<'s>(&'s self, id: VarId, env: &'s Env<'_>) -> &'s Value {
        if self.cfg.global.get(id).copied().unwrap_or(false) {
            return env.globals.get(id).unwrap_or(&Value::Unset);
        }
        self.vars.get(id).unwrap_or(&Value::Unset)
    }

    fn set_var(&mut self, id: VarId, v: Value, env: &mut Env<'_>) {
        if self.cfg.global.get(id).copied().unwrap_or(false) {
            if env.globals.len() <= id {
                env.globals.resize(id + 1, Value::Unset);
            }
            env.globals[id] = v;
        } else if let Some(slot) = self.vars.get_mut(id) {
            *slot = v;
        }
    }

    /// SIPp's `call::run`: retransmission, pause, then the element.
    fn step(&mut self, env: &mut Env<'_>) -> Step {
        let cfg = self.cfg.clone();
        let Some(cur) = cfg.scenario.elements.get(self.msg_index) else {
            return self.terminate_ok(env);
        };
        if let Some(v) = cur.common.condexec {
            let mut exec = self.var(v, env).is_set();
            if cur.common.condexec_inverse {
                exec = !exec;
            }
            if !exec {
                return self.next(env);
            }
        }
        if let Some(at) = self.next_retrans
            && at <= env.now
            && let Some(s) = self.retransmit(env)
        {
            return s;
        }
        if let Some(until) = self.paused_until {
            if until > env.now {
                return Step::Blocked;
            }
            self.paused_until = None;
            return self.next(env);
        }
        self.execute(cur, env)
    }

    /// A due retransmission; `Some` when the call ended or jumped.
    fn retransmit(&mut self, env: &mut Env<'_>) -> Option<Step> {
        self.nb_retrans += 1;
        let invite = self.last_send.starts_with(b"INVITE");
        let allowed = if invite {
            self.cfg.max_invite_retrans
        } else {
            self.cfg.max_non_invite_retrans
        };
        if self.nb_retrans > allowed {
            env.stats.msg_timeout(self.last_send_index);
            let ontimeout = self
                .element(self.last_send_index)
                .and_then(|e| e.common.ontimeout);
            if let Some(label) = ontimeout {
                self.msg_index = label;
                self.next_retrans = None;
                self.recv_deadline = None;
                if label < self.cfg.scenario.elements.len() {
                    return Some(Step::Again);
                }
            } else {
                self.warn(
                    env,
                    format!(
                        "Aborting call on UDP retransmission timeout for Call-ID '{}'",
                        String::from_utf8_lossy(&self.call_id)
                    ),
                );
            }
            return Some(self.fail_and_abort(FailReason::MaxUdpRetrans, env));
        }
        self.last_delay *= 2;
        if !invite && self.last_delay > self.cfg.t2 {
            self.last_delay = self.cfg.t2;
        }
        if !self.lose(self.last_send_index, env) {
            let mut bytes = env.pool.pop().unwrap_or_default();
            bytes.clear();
            bytes.extend_from_slice(&self.last_send);
            self.send_bytes(bytes, env);
        }
        env.stats.msg_retrans(self.last_send_index);
        self.next_retrans = Some(env.now + self.last_delay);
        None
    }

    /// SIPp's `call::next`: the following element, or a `next` jump.
    fn next(&mut self, env: &mut Env<'_>) -> Step {
        let cfg = self.cfg.clone();
        let mut new_index = self.msg_index + 1;
        if let Some(target) = self.jump.take() {
            new_index = target;
        } else if let Some(e) = cfg.scenario.elements.get(self.msg_index)
            && let Some(target) = e.common.next
        {
            let test_ok = e.common.test.is_none_or(|v| self.var(v, env).is_set());
            if test_ok {
                let take = match e.common.chance {
                    None => true,
                    Some(p) if p >= 1.0 => true,
                    Some(p) => env.unit() < p,
                };
                if take {
                    new_index = target;
                }
            }
        }
        self.msg_index = new_index;
        self.recv_deadline = None;
        if self.msg_index >= cfg.scenario.elements.len() {
            return self.terminate_ok(env);
        }
        Step::Again
    }

    /// Counters and response times of an element (`do_bookkeeping`).
    fn bookkeeping(&mut self, e: &Element, env: &mut Env<'_>) {
        if let Some(c) = e.common.counter {
            env.stats.counter(c);
        }
        if let Some(r) = e.common.start_rtd
            && let Some(s) = self.rtd_start.get_mut(r)
        {
            *s = env.now;
        }
        if let Some(r) = e.common.rtd
            && !self.rtd_done.get(r).copied().unwrap_or(true)
        {
            let start = self.rtd_start[r];
            env.stats.rtd(r, env.now.saturating_duration_since(start));
            if !e.common.repeat_rtd {
                self.rtd_done[r] = true;
            }
        }
    }

    /// SIPp's `call::executeMessage`.
    fn execute(&mut self, cur: &Element, env: &mut Env<'_>) -> Step {
        let idx = self.msg_index;
        match &cur.kind {
            ElementKind::Pause(p) | ElementKind::Timewait(p) => {
                let ms = self.pause_ms(p, env);
                self.paused_until = Some(env.now + Duration::from_millis(ms));
                self.timewait = matches!(cur.kind, ElementKind::Timewait(_));
                env.stats.pause_started(idx);
                self.bookkeeping(cur, env);
                if let Some(s) = self.run_actions(&cur.common.actions, None, env) {
                    return s;
                }
                Step::Again
            }
            ElementKind::Nop => {
                self.bookkeeping(cur, env);
                if let Some(s) = self.run_actions(&cur.common.actions, None, env) {
                    return s;
                }
                self.next(env)
            }
            ElementKind::Send(send) => {
                if self.next_retrans.is_some() {
                    // A previous message with retransmissions is not
                    // acknowledged yet: wait (SIPp does not send over it).
                    return Step::Blocked;
                }
                self.bookkeeping(cur, env);
                let (is_ack, is_cancel, is_response) = match &send.what {
                    SendWhat::Request(m) => (m == "ACK", m == "CANCEL", false),
                    SendWhat::Response(_) => (false, false, true),
                };
                if !is_ack && !is_cancel && !is_response {
                    self.cseq += 1;
                }
                let mut buf = env.pool.pop().unwrap_or_default();
                self.render(&send.template, Index::At(idx), env, &mut buf);
                self.report_render_error(env);
                let refs = self.cfg.txn_refs.get(idx).copied().unwrap_or_default();
                if let Some(t) = refs.start {
                    // The transaction is known by the branch it was sent with.
                    self.txn_mut(t).id = sipmsg::top_branch(&buf);
                }
                if let Some(t) = refs.ack {
                    self.txn_mut(t).ack_index = Some(idx);
                }
                self.last_send_index = idx;
                self.last_send.clear();
                self.last_send.extend_from_slice(&buf);
                if let Some(ri) = self.last_recv_index {
                    self.recv_retrans = Some((self.last_recv_hash, ri, idx));
                    self.last_recv_hash = 0;
                }
                match send.retrans {
                    Some(t1) if t1 > 0 && self.cfg.retrans_enabled => {
                        let d = Duration::from_millis(t1 as u64);
                        self.next_retrans = Some(env.now + d);
                        self.nb_retrans = 0;
                        self.last_delay = d;
                    }
                    _ => self.next_retrans = None,
                }
                if self.lose(idx, env) {
                    env.pool.push(buf);
                } else {
                    self.send_bytes(buf, env);
                }
                env.stats.msg_sent(idx);
                // Actions see the message sent; copied only when there are
                // some (they borrow the call mutably).
                if !cur.common.actions.is_empty() {
                    let sent = self.last_send.clone();
                    if let Some(s) = self.run_actions(&cur.common.actions, Some(&sent), env) {
                        return s;
                    }
                }
                self.next(env)
            }
            ElementKind::Recv(r) => {
                if let Some(q) = self.queued.take() {
                    return self.process_incoming(&q, None, env);
                }
                if let Some(deadline) = self.recv_deadline {
                    if deadline > env.now {
                        return Step::Blocked;
                    }
                    self.recv_deadline = None;
                    env.stats.msg_timeout(idx);
                    match cur.common.ontimeout {
                        Some(label) => {
                            self.msg_index = label;
                            if label < self.cfg.scenario.elements.len() {
                                return Step::Again;
                            }
                            self.fail_and_abort(FailReason::TimeoutOnRecv, env)
                        }
                        None => {
                            self.warn(
                                env,
                                format!(
                                    "Call-Id: {}, receive timeout on message {}:{} without label to jump to (ontimeout attribute): aborting call",
                                    String::from_utf8_lossy(&self.call_id),
                                    self.cfg.scenario.name,
                                    idx
                                ),
                            );
                            self.fail_and_abort(FailReason::TimeoutOnRecv, env)
                        }
                    }
                } else {
                    let t = r
                        .timeout
                        .filter(|&t| t > 0)
                        .map(Duration::from_millis)
                        .or(self.cfg.recv_timeout);
                    if let Some(t) = t {
                        self.recv_deadline = Some(env.now + t);
                    }
                    Step::Blocked
                }
            }
        }
    }

    fn pause_ms(&self, p: &Pause, env: &mut Env<'_>) -> u64 {
        let ms = match p {
            Pause::Default => return self.cfg.default_pause.as_millis() as u64,
            Pause::Fixed(ms) => return *ms,
            Pause::Variable(v) => self.var(*v, env).as_double(),
            Pause::Uniform { min, max } => {
                let (a, b) = (*min as f64, *max as f64);
                a + (b - a) * env.unit()
            }
            Pause::Normal { mean, stdev } => {
                // Box-Muller.
                let u1 = env.unit().max(f64::MIN_POSITIVE);
                let u2 = env.unit();
                mean + stdev * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            }
            Pause::Exponential { mean } => {
                let u = env.unit().max(f64::MIN_POSITIVE);
                -mean * u.ln()
            }
        };
        if ms < 1.0 {
            0
        } else {
            ms.min(i32::MAX as f64) as u64
        }
    }

    /// SIPp's `call::lost`: whether this `<send>`/`<recv>` loses its
    /// message, by the element's `lost` percentage, else `-lost`'s (an
    /// explicit `lost="0"` keeps the element lossless).
    fn lost(&self, e: &Element, env: &mut Env<'_>) -> bool {
        let pct = e.common.lost.unwrap_or(self.cfg.default_lost);
        pct > 0.0 && env.unit() * 100.0 < pct
    }

    /// Reports an error SIPp stops on (`ERROR`) met while rendering: the
    /// run ends, as SIPp's does.
    fn report_render_error(&self, env: &mut Env<'_>) {
        if let Some(e) = self.render_error.borrow_mut().take() {
            env.stats.fatal_error();
            env.events.push(Event::Fatal(e));
        }
    }

    /// SIPp's `call::hash` of a received message under `-rtcheck`.
    fn msg_hash(&self, msg: &[u8]) -> u64 {
        if self.cfg.rtcheck_loose {
            sipmsg::msg_hash_loose(msg)
        } else {
            sipmsg::msg_hash(msg)
        }
    }

    /// Whether the message of element `idx` is lost on purpose now; a
    /// loss is counted (`nb_lost`). Every send and receive of a scenario
    /// element passes here, retransmissions included, as every SIPp
    /// `send_raw` with an index does; default messages never do.
    fn lose(&self, idx: usize, env: &mut Env<'_>) -> bool {
        let lost = self.element(idx).is_some_and(|e| self.lost(e, env));
        if lost {
            env.stats.msg_lost(idx);
        }
        lost
    }

    fn send_bytes(&mut self, bytes: Vec<u8>, env: &mut Env<'_>) {
        match self.peer {
            Some(dest) => env.out.push(Outgoing {
                bytes,
                dest,
                socket: self.socket,
            }),
            None => {
                // A server call that has not heard from anyone has nowhere
                // to send: SIPp would fail the send.
                env.pool.push(bytes);
                env.stats.udp_send_error();
            }
        }
    }

    /// Renders a default message (`-1`/`-2` index) and sends it.
    fn send_default(&mut self, which: &str, index: Index, env: &mut Env<'_>) {
        let cfg = self.cfg.clone();
        let owned;
        let t: &Template = match cfg.scenario.default_messages.get(which) {
            Some(t) => t,
            None => {
                owned = default_message(which);
                &owned
            }
        };
        let mut buf = env.pool.pop().unwrap_or_default();
        self.render(t, index, env, &mut buf);
        self.report_render_error(env);
        self.send_bytes(buf, env);
    }

    /// Explicit transaction `t` of this call (created on first use).
    fn txn_mut(&mut self, t: usize) -> &mut TxnState {
        if self.txns.len() <= t {
            self.txns
                .resize(self.cfg.txn_count.max(t + 1), TxnState::default());
        }
        &mut self.txns[t]
    }

    /// Whether `branch` is the one explicit transaction `t` was started
    /// with.
    fn txn_is(&self, t: usize, branch: &[u8]) -> bool {
        self.txns
            .get(t)
            .is_some_and(|x| !x.id.is_empty() && x.id == branch)
    }

    /// Re-sends the scenario's `<send>` at `idx`, rendered again (SIPp's
    /// `send_scene`).
    fn resend_scene(&mut self, idx: usize, env: &mut Env<'_>) {
        let cfg = self.cfg.clone();
        if let Some(ElementKind::Send(s)) = cfg.scenario.elements.get(idx).map(|e| &e.kind) {
            let mut buf = env.pool.pop().unwrap_or_default();
            self.render(&s.template, Index::At(idx), env, &mut buf);
            self.report_render_error(env);
            if self.lose(idx, env) {
                env.pool.push(buf);
            } else {
                self.send_bytes(buf, env);
            }
        }
    }

    fn warn(&self, env: &mut Env<'_>, text: String) {
        env.stats.warning();
        env.events.push(Event::Warning(text));
    }

    /// Counts a failure, then aborts the call (BYE/CANCEL/ACK per the
    /// `bye` behaviour) or just deletes it.
    fn fail_and_abort(&mut self, reason: FailReason, env: &mut Env<'_>) -> Step {
        self.fail(reason, env);
        if self.cfg.behaviors.bye {
            self.abort_call(env);
        }
        Step::Ended
    }

    /// SIPp's `abortCall`: what a client call sends on its way out.
    fn abort_call(&mut self, env: &mut Env<'_>) {
        let is_inv = self.last_send.starts_with(b"INVITE");
        if self.incoming || self.msg_index == 0 {
            return;
        }
        if !self.established && is_inv {
            if self.last_recv.is_empty() {
                return;
            }
            if sipmsg::reply_code(&self.last_recv) >= 400 {
                self.send_default("ack", Index::Previous, env);
            } else if self.ack_pending {
                self.ack_pending = false;
                self.send_default("ack", Index::Default, env);
                self.send_default("bye", Index::Default, env);
            } else {
                self.send_default("cancel", Index::Default, env);
            }
        } else if !self.last_recv.is_empty() {
            self.send_default("bye", Index::Default, env);
        }
    }

    fn length(&self, env: &Env<'_>) -> Duration {
        env.now.saturating_duration_since(self.created)
    }

    fn fail(&mut self, reason: FailReason, env: &mut Env<'_>) {
        let len = self.length(env);
        env.stats.call_failed(reason, len);
    }

    /// Ends a call that neither succeeded nor failed (an answered PING).
    fn end_silently(&mut self, env: &mut Env<'_>) {
        let len = self.length(env);
        env.stats.call_ended_uncounted(len);
    }

    /// SIPp's `terminate(E_CALL_SUCCESSFULLY_ENDED)`: a success unless an
    /// action failed earlier (`check_it`, `test`), which is then the reason.
    fn terminate_ok(&mut self, env: &mut Env<'_>) -> Step {
        let len = self.length(env);
        match self.action_failure {
            Some(reason) => env.stats.call_failed(reason, len),
            None => env.stats.call_succeeded(len),
        }
        Step::Ended
    }

    /// Ends a call killed from outside (deadline of the run, second `q`):
    /// in `<timewait>` it has already succeeded.
    pub fn end_on_shutdown(&mut self, env: &mut Env<'_>) {
        if self.timewait {
            let _ = self.terminate_ok(env);
        } else {
            self.abort_call(env);
            let len = self.length(env);
            env.stats.call_ended_uncounted(len);
        }
    }
}
