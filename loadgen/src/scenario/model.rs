//! The loaded form of a SIPp scenario (`docs/sipp/compat.md` §3): what
//! the call executor runs and what the outputs name.
//!
//! Loading (XML, CDATA clean-up, keyword compilation, label resolution,
//! load-time checks) lives in the sibling modules; this module only holds
//! the data. Indices are resolved at load time so the executor never looks
//! a name up: labels become element indices, variables [`VarId`]s, RTD and
//! counter names indices into [`Scenario::rtds`] and [`Scenario::counters`].

use std::collections::HashMap;

/// A variable, as an index into [`Scenario::variables`].
pub type VarId = usize;

/// A loaded scenario.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// `<scenario name="...">`, shown on the screen.
    pub name: String,
    /// SIPp's `lose_packets`: some element has a `lost` attribute, or
    /// `-lost` is set (the caller sets it then); the screen and the counts
    /// file then show a Lost column.
    pub lose_packets: bool,
    /// The name output files carry (`<stem>_<pid>_.csv`): the `-sf` file's
    /// basename without `.xml`, or the `-sn` name.
    pub file_stem: String,
    /// The message-indexed elements in document order (`send`, `recv`,
    /// `pause`, `nop`, `timewait`): index `i` here is SIPp's message index,
    /// used by `[branch]`, `next`, the screen and the counts file.
    pub elements: Vec<Element>,
    /// Label id → index of the element that follows the label (may equal
    /// `elements.len()`: jumping there ends the call successfully).
    pub labels: HashMap<String, usize>,
    /// `<init>`: elements run once at start-up (only `nop` and `label`).
    pub init: Vec<Element>,
    /// Variable names; [`VarId`] indexes this. Numeric names (`"1"`) are
    /// kept as written.
    pub variables: Vec<String>,
    /// Variables declared `<Global>` (shared by every call of a shard).
    pub global_vars: Vec<VarId>,
    /// Variables declared `<User>` (per user with `-users`).
    pub user_vars: Vec<VarId>,
    /// Response-time names in definition order (`rtd="true"` is `"1"`).
    /// Every call starts all of them at creation (SIPp does).
    pub rtds: Vec<String>,
    /// Generic counter names (`counter="x"`) in definition order.
    pub counters: Vec<String>,
    /// `<ResponseTimeRepartition value="...">` bin borders, ms. SIPp's
    /// default when absent: none (empty).
    pub response_time_repartition: Vec<u64>,
    /// `<CallLengthRepartition value="...">` bin borders, ms.
    pub call_length_repartition: Vec<u64>,
    /// `<DefaultMessage id="...">` overrides (`ack`, `ack2`, `bye`,
    /// `cancel`, `200`, `3pcc_abort`).
    pub default_messages: HashMap<String, Template>,
    /// Client (first message element is a `send`: creates calls at `-r`)
    /// or server (first is a `recv`: a call per unknown Call-ID).
    pub mode: Mode,
}

/// Client or server scenario (compat §2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Places calls.
    #[default]
    Client,
    /// Answers calls.
    Server,
}

/// One message-indexed element with the attributes every kind shares.
#[derive(Clone, Debug)]
pub struct Element {
    /// What it does.
    pub kind: ElementKind,
    /// The shared attributes (compat §3.3).
    pub common: Common,
    /// Where it starts in the scenario file (1-based), for errors.
    pub line: u32,
}

/// The element kinds (compat §3.2).
#[derive(Clone, Debug)]
pub enum ElementKind {
    /// `<send>`.
    Send(Send),
    /// `<recv>`.
    Recv(Recv),
    /// `<pause>`.
    Pause(Pause),
    /// `<nop>`: actions, counters and RTDs only.
    Nop,
    /// `<timewait>`: a pause that must be last; a call dying in it has
    /// already succeeded.
    Timewait(Pause),
}

/// Attributes common to send/recv/pause/nop (compat §3.3).
#[derive(Clone, Debug, Default)]
pub struct Common {
    /// `start_rtd`: index into [`Scenario::rtds`].
    pub start_rtd: Option<usize>,
    /// `rtd`: index into [`Scenario::rtds`].
    pub rtd: Option<usize>,
    /// `repeat_rtd="true"`.
    pub repeat_rtd: bool,
    /// `crlf="true"` (screen cosmetic).
    pub crlf: bool,
    /// `next`: resolved element index to jump to after this element.
    pub next: Option<usize>,
    /// `test`: only take `next` when this variable is set.
    pub test: Option<VarId>,
    /// `chance`: probability (0..=1) of taking `next`.
    pub chance: Option<f64>,
    /// `condexec`: execute only when this variable is set...
    pub condexec: Option<VarId>,
    /// ...or, with `condexec_inverse="true"`, only when it is not.
    pub condexec_inverse: bool,
    /// `counter`: index into [`Scenario::counters`].
    pub counter: Option<usize>,
    /// `lost`: loss emulation, percent.
    pub lost: Option<f64>,
    /// `hide="true"`.
    pub hide: bool,
    /// `display="..."` (screen text).
    pub display: Option<String>,
    /// `ontimeout`: resolved element index to jump to on timeout.
    pub ontimeout: Option<usize>,
    /// `<action>` children, in order.
    pub actions: Vec<Action>,
}

/// `<send>` (compat §3.2, §4.3).
#[derive(Clone, Debug)]
pub struct Send {
    /// The message, compiled.
    pub template: Template,
    /// Request (with its method) or response (with its code), from the
    /// first word of the text.
    pub what: SendWhat,
    /// `retrans`: UDP T1 in ms; `None` (absent or 0): no retransmission.
    pub retrans: Option<u32>,
    /// `timeout`: send timeout, ms.
    pub timeout: Option<u64>,
    /// `start_txn="name"`.
    pub start_txn: Option<String>,
    /// `ack_txn="name"`.
    pub ack_txn: Option<String>,
}

/// What a `<send>` sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendWhat {
    /// A request; the method as written (`INVITE`, `ACK`, ...).
    Request(String),
    /// A response with this status code (100..=699).
    Response(u16),
}

/// `<recv>` (compat §3.2, §4.2).
#[derive(Clone, Debug)]
pub struct Recv {
    /// What it matches.
    pub matcher: RecvMatch,
    /// `optional`.
    pub optional: Optional,
    /// `rrs="true"`: record the route set from this message.
    pub rrs: bool,
    /// `auth="true"`: keep the challenge for `[authentication]`.
    pub auth: bool,
    /// `timeout`, ms (else `-recv_timeout`, else forever).
    pub timeout: Option<u64>,
    /// `ignoresdp="true"`.
    pub ignoresdp: bool,
    /// `response_txn="name"`.
    pub response_txn: Option<String>,
    /// `advance_state` (default true; only meaningful when optional).
    pub advance_state: bool,
}

/// What a `<recv>` matches.
#[derive(Clone, Debug)]
pub enum RecvMatch {
    /// `response="200"`.
    Response(u16),
    /// `request="INVITE"` (exact method).
    Request(String),
    /// `request="..." regexp_match="true"`: the method matches this
    /// regular expression (searched, as SIPp's `regexec`).
    RequestRegex(RegexSpec),
}

/// `optional` on a `<recv>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Optional {
    /// Mandatory.
    #[default]
    No,
    /// `optional="true"`.
    Yes,
    /// `optional="global"`: matched from anywhere in the scenario.
    Global,
}

/// `<pause>` and `<timewait>` durations.
#[derive(Clone, Debug, PartialEq)]
pub enum Pause {
    /// No `milliseconds`: the `-d` value.
    Default,
    /// `milliseconds="N"`.
    Fixed(u64),
    /// `variable="v"`: the value of a double variable, ms.
    Variable(VarId),
    /// `distribution="uniform" min=".." max=".."` (ms).
    Uniform {
        /// Lower bound, ms.
        min: u64,
        /// Upper bound, ms.
        max: u64,
    },
    /// `distribution="normal" mean=".." stdev=".."` (ms).
    Normal {
        /// Mean, ms.
        mean: f64,
        /// Standard deviation, ms.
        stdev: f64,
    },
    /// `distribution="exponential" mean=".."` (ms).
    Exponential {
        /// Mean, ms.
        mean: f64,
    },
}

/// A compiled `<send>` (or log message) text: literal bytes (already
/// cleaned, LF → CRLF, `\xHH` decoded) and keywords to substitute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Template {
    /// The pieces in order.
    pub segments: Vec<Segment>,
}

/// A piece of a [`Template`].
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    /// Bytes sent as they are.
    Literal(Vec<u8>),
    /// A keyword to substitute (compat §3.6).
    Keyword(Keyword),
}

/// A `[keyword]` with its numeric offset (`[cseq+1]`, `[local_port-2]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Keyword {
    /// Which keyword.
    pub kind: KeywordKind,
    /// `+N` / `-N`; 0 when absent.
    pub offset: i64,
}

/// The keywords of compat §3.6 that trunkload supports. Anything else is a
/// load error naming file, line and column.
#[derive(Clone, Debug, PartialEq)]
pub enum KeywordKind {
    /// `[service]`.
    Service,
    /// `[remote_ip]` (IPv6 in brackets).
    RemoteIp,
    /// `[remote_host]`.
    RemoteHost,
    /// `[remote_port]`.
    RemotePort,
    /// `[transport]`: `UDP`, `TCP`.
    Transport,
    /// `[local_ip]` (IPv6 in brackets).
    LocalIp,
    /// `[local_ip_type]`: `4` or `6`.
    LocalIpType,
    /// `[local_port]`.
    LocalPort,
    /// `[server_ip]`.
    ServerIp,
    /// `[media_ip]`.
    MediaIp,
    /// `[media_ip_type]`.
    MediaIpType,
    /// `[media_port]`.
    MediaPort,
    /// `[auto_media_port]`.
    AutoMediaPort,
    /// `[call_number]`.
    CallNumber,
    /// `[call_id]`.
    CallId,
    /// `[cseq]`.
    Cseq,
    /// `[last_cseq_number]`.
    LastCseqNumber,
    /// `[branch]` (`[branch-N]`: the branch of message index - N).
    Branch,
    /// `[msg_index]`.
    MsgIndex,
    /// `[pid]`.
    Pid,
    /// `[len]`: the body length, `%5u`, computed last.
    Len,
    /// `[peer_tag_param]`.
    PeerTagParam,
    /// `[last_Name]` or `[last_Name:]`: the header line(s) of the last
    /// received message. `name` as written (without `last_` and the colon).
    LastHeader {
        /// The header name as written in the keyword.
        name: String,
        /// Whether the keyword ended in `:` (SIPp treats both the same).
        colon: bool,
    },
    /// `[last_Request_URI]`.
    LastRequestUri,
    /// `[last_message]`.
    LastMessage,
    /// `[routes]`.
    Routes,
    /// `[next_url]`.
    NextUrl,
    /// `[fieldN file="x" line=K]`.
    Field {
        /// Field number.
        n: usize,
        /// `file="..."`: which `-inf` file (None: the first).
        file: Option<String>,
        /// `line=...`: a fixed line (0-based) instead of the call's own.
        line: Option<Template>,
    },
    /// `[file name="path"]`: the file's bytes (read at load time).
    File(Vec<u8>),
    /// `[$var]`.
    Var(VarId),
    /// `[fill variable=v text=X]`.
    Fill {
        /// How many bytes (a double variable).
        var: VarId,
        /// The filler text (default `X`).
        text: String,
    },
    /// `[clock_tick]`: ms since start.
    ClockTick,
    /// `[timestamp]`.
    Timestamp,
    /// `[date]`: RFC 1123 date, GMT.
    Date,
    /// `[sipp_version]`.
    SippVersion,
    /// `[users]`.
    Users,
    /// `[userid]`.
    Userid,
    /// `[authentication username=.. password=..]`: MD5 digest credentials
    /// for the last `auth="true"` challenge.
    Authentication {
        /// `username=` (else `-au`, else `-s`), keywords allowed.
        username: Option<Template>,
        /// `password=` (else `-ap`), keywords allowed.
        password: Option<Template>,
    },
    /// A `-key K V` keyword: the value, fixed at load time.
    Custom(String),
}

/// A regular expression with the text it came from (for messages).
#[derive(Clone, Debug)]
pub struct RegexSpec {
    /// As written in the scenario.
    pub source: String,
    /// Compiled.
    pub regex: regex::bytes::Regex,
}

impl PartialEq for RegexSpec {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// Where `ereg` looks (`search_in`).
#[derive(Clone, Debug, PartialEq)]
pub enum SearchIn {
    /// `msg` (default): the whole message.
    Msg,
    /// `hdr` with `header="Name:"`: the value(s) of that header.
    Hdr {
        /// The header name as written (`"From:"`, `"From: "`).
        header: String,
        /// `case_indep="true"`.
        case_indep: bool,
        /// `occurrence`/`occurence`: which instance (1-based); 0 = all.
        occurrence: usize,
        /// `start_line="true"`: only at the start of a line.
        start_line: bool,
    },
    /// `body`.
    Body,
    /// `var` with `variable="v"`.
    Var(VarId),
}

/// Comparison for `<test>` (compat §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// `equal`.
    Equal,
    /// `not_equal`.
    NotEqual,
    /// `greater_than`.
    GreaterThan,
    /// `less_than`.
    LessThan,
    /// `greater_than_equal`.
    GreaterThanEqual,
    /// `less_than_equal`.
    LessThanEqual,
}

/// The right-hand side of an arithmetic or test action.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// `value="..."`.
    Value(f64),
    /// `variable="..."`.
    Variable(VarId),
}

/// `exec int_cmd="..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntCmd {
    /// `stop_call`: end this call (counted as failed: `FailedCallRejected`
    /// is not used; SIPp counts it as a failed call).
    StopCall,
    /// `stop_gracefully`: like `q`.
    StopGracefully,
    /// `stop_now`: exit at once (exit code 97).
    StopNow,
}

/// `<action>` children (compat §3.4) that trunkload supports.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `ereg`.
    Ereg {
        /// `regexp`.
        regex: RegexSpec,
        /// `search_in` and its parameters.
        search_in: SearchIn,
        /// `check_it="true"`: fail the call when it does not match.
        check_it: bool,
        /// `check_it_inverse="true"`: fail the call when it matches.
        check_it_inverse: bool,
        /// `assign_to="whole,sub1,..."`: the whole match, then groups.
        assign_to: Vec<VarId>,
    },
    /// `log message="..."` (to `_logs.log` with `-trace_logs`).
    Log(Template),
    /// `warning message="..."`.
    Warning(Template),
    /// `error message="..."`: fatal.
    Error(Template),
    /// `exec command="..."`: run through `sh -c`.
    ExecCommand(Template),
    /// `exec int_cmd="..."`.
    ExecInt(IntCmd),
    /// `assign assign_to="v" value="1.5"`.
    Assign {
        /// Target.
        var: VarId,
        /// Value.
        value: f64,
    },
    /// `add` / `subtract` / `multiply` / `divide`.
    Arith {
        /// Target (`assign_to`).
        var: VarId,
        /// Which operation.
        op: ArithOp,
        /// `value` or `variable`.
        operand: Operand,
    },
    /// `assignstr assign_to="v" value="[keywords]"`.
    AssignStr {
        /// Target.
        var: VarId,
        /// Value, keyword-expanded per call.
        value: Template,
    },
    /// `todouble assign_to="d" variable="s"`.
    ToDouble {
        /// Target.
        var: VarId,
        /// Source.
        source: VarId,
    },
    /// `lookup assign_to="line" file="users.csv" key=".."`: the line of an
    /// `-infindex`ed injection file whose indexed field is `key`, or -1.
    Lookup {
        /// Target (double).
        var: VarId,
        /// The file, as named on the command line; keywords allowed.
        file: Template,
        /// The key; keywords allowed.
        key: Template,
    },
    /// `verifyauth assign_to="ok" username=".." password=".."`: whether
    /// the received request's Authorization digest is right for them.
    VerifyAuth {
        /// Target (bool).
        var: VarId,
        /// The user name, keywords allowed.
        username: Template,
        /// The password, keywords allowed.
        password: Template,
    },
    /// `strcmp assign_to="d" variable="a" value="x"|variable2="b"`.
    Strcmp {
        /// Target (double).
        var: VarId,
        /// Left side.
        left: VarId,
        /// Right side: a literal or another variable.
        right: StrOperand,
    },
    /// `test assign_to="b" variable="a" compare="..." value|variable2`.
    Test {
        /// Target (bool).
        var: VarId,
        /// Left side.
        left: VarId,
        /// Comparison.
        compare: Compare,
        /// Right side.
        right: Operand,
    },
    /// `jump value="N"` or `jump variable="v"`: go to message index.
    Jump(Operand),
    /// `gettimeofday assign_to="sec,usec"`.
    GetTimeOfDay {
        /// Seconds.
        sec: VarId,
        /// Microseconds.
        usec: VarId,
    },
    /// `setdest host=".." port=".." protocol="udp"`.
    SetDest {
        /// Host (keywords allowed).
        host: Template,
        /// Port (keywords allowed).
        port: Template,
    },
}

/// An arithmetic action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `add`.
    Add,
    /// `subtract`.
    Subtract,
    /// `multiply`.
    Multiply,
    /// `divide`.
    Divide,
}

/// The right side of `strcmp`.
#[derive(Clone, Debug, PartialEq)]
pub enum StrOperand {
    /// `value="..."`.
    Value(String),
    /// `variable2="..."`.
    Variable(VarId),
}

impl Scenario {
    /// The element at message index `i`.
    pub fn element(&self, i: usize) -> Option<&Element> {
        self.elements.get(i)
    }

    /// Whether the element at `i` is a `<recv>`.
    pub fn is_recv(&self, i: usize) -> bool {
        matches!(
            self.elements.get(i).map(|e| &e.kind),
            Some(ElementKind::Recv(_))
        )
    }
}
