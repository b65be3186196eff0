//! The scenario loader: SIPp 3.6.1's `scenario::scenario` constructor
//! (`src/scenario.cpp`, compat §3.1-§3.5) over the tree of [`super::xml`].
//!
//! Elements are taken in document order; each message element gets the
//! next message index, its own attributes, then the common ones in SIPp's
//! order (`getCommonAttributes`: rtd, repeat_rtd, start_rtd, counter,
//! actions, lost, crlf, ignoresdp, hiderest, hide, display, condexec,
//! condexec_inverse, next/test/chance, ontimeout). After the last element
//! come SIPp's checks: labels resolved, started RTDs stopped, every
//! variable referenced at least twice, transactions complete, at least one
//! message; then the mode (client if the first `send`/`recv` is a send).
//!
//! Stricter than SIPp, each with an error naming the place:
//! - attributes an element does not take, and attributes SIPp reads but
//!   ignores there (`test`/`chance` without `next`, `lost`/`ontimeout` on
//!   `pause`/`nop`, a pause parameter the chosen duration does not use,
//!   `header` without `search_in="hdr"`, ...);
//! - child elements other than one `<action>`, CDATA where none is read,
//!   more than one CDATA, an unknown `int_cmd` (SIPp runs `stop_call`),
//!   `<recv>` with neither or both of `request`/`response`;
//! - everything of SIPp that trunkload does not run, as
//!   [`ErrorKind::Unsupported`]: `sendCmd`/`recvCmd` (3PCC), `exec`
//!   media (`play_pcap_*`, `play_dtmf`, `rtp_stream`), the actions
//!   `sample`, `index`, `pauserestore`, `insert`,
//!   `replace`, `closecon`, `trim`, `rtp_echo`, `check_it` on
//!   `test`/`strcmp`, `setdest` to TCP/TLS/SCTP, pause distributions other
//!   than fixed/uniform (whole, non-negative ms)/normal/exponential, and
//!   the keywords `[tdmmap]`, `[dynamic_id]`, and AKAv1-MD5 parameters of
//!   `[authentication]` (`aka_K`, `aka_OP`).
//!
//! Kept as SIPp does, though surprising: `crlf="false"` turns `crlf` on
//! (SIPp only checks presence), `regexp_match` is on only for `"true"`,
//! variable lists are split on `,` without trimming (`"a, b"` declares
//! `" b"`), and `<Reference>` only counts variables already seen.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::clean::{Spanned, clean_cdata};
use super::error::{ErrorKind, ScenarioError};
use super::keywords::{self, Ctx};
use super::model::*;
use super::xml::{self, Attr, Node};

mod actions;
mod finish;

/// What the command line contributes to loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-key NAME VALUE`, in command-line order (the first match wins, as
    /// in SIPp). `-set` assigns `<Global>` variables at run time and is not
    /// a keyword: see [`find_global`].
    pub keys: Vec<(String, String)>,
    /// Directory that relative `[file name=...]` paths are read from.
    /// `None`: the working directory, as SIPp does.
    pub base_dir: Option<PathBuf>,
}

/// Loads the scenario file `path` (`-sf`); the stem is the basename
/// without `.xml`.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Scenario, ScenarioError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ScenarioError {
        file: source.clone(),
        line: 0,
        col: 0,
        kind: ErrorKind::Io(e),
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".xml").unwrap_or(&name).to_string();
    load_bytes(&bytes, &source, &stem, opts)
}

/// Loads scenario XML given as text; `source` names it in errors.
pub fn load_str(
    xml: &str,
    source: &str,
    file_stem: &str,
    opts: &LoadOptions,
) -> Result<Scenario, ScenarioError> {
    load_bytes(xml.as_bytes(), source, file_stem, opts)
}

/// Loads scenario XML given as bytes (the file may be ISO-8859-1).
pub fn load_bytes(
    xml: &[u8],
    source: &str,
    file_stem: &str,
    opts: &LoadOptions,
) -> Result<Scenario, ScenarioError> {
    let doc = xml::strip_cr(xml);
    let root = xml::parse(&doc).map_err(|e| {
        let (line, col) = xml::line_col(&doc, e.at);
        ScenarioError {
            file: source.to_string(),
            line,
            col,
            kind: ErrorKind::Xml(e.msg),
        }
    })?;
    let mut b = Builder {
        doc: &doc,
        source,
        opts,
        vars: Vars::default(),
        sc: Scenario {
            file_stem: file_stem.to_string(),
            ..Scenario::default()
        },
        rtd_started: BTreeMap::new(),
        rtd_stopped: BTreeMap::new(),
        txns: Vec::new(),
        pending: Vec::new(),
        init_labels: HashMap::new(),
        init_pending: Vec::new(),
        defaults: Vec::new(),
        last_recv_optional: false,
        found_timewait: false,
        hide_default: false,
    };
    b.scenario(&root)?;
    // Any `lost` attribute, even `lost="0"`, turns loss accounting on (SIPp).
    b.sc.lose_packets = b.sc.elements.iter().any(|e| e.common.lost.is_some());
    Ok(b.sc)
}

/// The [`VarId`] of `<Global>` variable `name`, for `-set NAME VALUE`
/// (SIPp: "Can not set the global variable NAME, because it does not
/// exist." when `None`).
pub fn find_global(sc: &Scenario, name: &str) -> Option<VarId> {
    sc.global_vars
        .iter()
        .copied()
        .find(|&v| sc.variables.get(v).is_some_and(|n| n == name))
}

/// SIPp's load-time check of `[fieldN file=...]` against the `-inf` files
/// given (`names`: their basenames, the first being the default): "No
/// injection file was specified!" / "Invalid injection file". The error
/// points at the element holding the keyword.
pub fn check_injection_files(
    sc: &Scenario,
    source: &str,
    names: &[String],
) -> Result<(), ScenarioError> {
    fn walk(t: &Template, names: &[String]) -> Result<(), String> {
        for s in &t.segments {
            if let Segment::Keyword(Keyword {
                kind: KeywordKind::Field { file, line, .. },
                ..
            }) = s
            {
                match file {
                    None if names.is_empty() => {
                        return Err("No injection file was specified!".into());
                    }
                    Some(f) if !names.iter().any(|n| n == f) => {
                        return Err(format!("Invalid injection file: {f}"));
                    }
                    _ => {}
                }
                if let Some(l) = line {
                    walk(l, names)?;
                }
            }
        }
        Ok(())
    }
    let err = |line: u32, msg: String| ScenarioError {
        file: source.to_string(),
        line,
        col: 1,
        kind: ErrorKind::Invalid(msg),
    };
    for e in sc.init.iter().chain(&sc.elements) {
        let mut ts: Vec<&Template> = Vec::new();
        if let ElementKind::Send(s) = &e.kind {
            ts.push(&s.template);
        }
        for a in &e.common.actions {
            match a {
                Action::Log(t)
                | Action::Warning(t)
                | Action::Error(t)
                | Action::ExecCommand(t)
                | Action::AssignStr { value: t, .. } => ts.push(t),
                Action::SetDest { host, port } => {
                    ts.push(host);
                    ts.push(port);
                }
                _ => {}
            }
        }
        for t in ts {
            walk(t, names).map_err(|m| err(e.line, m))?;
        }
    }
    for t in sc.default_messages.values() {
        walk(t, names).map_err(|m| err(0, m))?;
    }
    Ok(())
}

/// Variables, as SIPp's three `AllocVariableTable`s (scenario → user →
/// global), flattened into one id space.
#[derive(Default)]
struct Vars {
    names: Vec<String>,
    refs: Vec<u32>,
    first_at: Vec<usize>,
    local: BTreeMap<String, VarId>,
    user: BTreeMap<String, VarId>,
    global: BTreeMap<String, VarId>,
}

impl Vars {
    fn alloc(&mut self, name: &str, at: usize) -> VarId {
        self.names.push(name.to_string());
        self.refs.push(1);
        self.first_at.push(at);
        self.names.len() - 1
    }

    fn bump(&mut self, id: VarId) -> VarId {
        self.refs[id] += 1;
        id
    }

    /// SIPp's `AllocVariableTable::find` on the scenario's table.
    fn find(&mut self, name: &str, allocate: bool, at: usize) -> Option<VarId> {
        if let Some(&id) = self.local.get(name) {
            return Some(self.bump(id));
        }
        if let Some(&id) = self.user.get(name).or_else(|| self.global.get(name)) {
            return Some(self.bump(id));
        }
        if !allocate {
            return None;
        }
        let id = self.alloc(name, at);
        self.local.insert(name.to_string(), id);
        Some(id)
    }
}

enum LabelUse {
    Next,
    OnTimeout,
}

struct Txn {
    name: String,
    started: u32,
    responses: u32,
    acks: u32,
    is_invite: bool,
}

struct Builder<'a> {
    doc: &'a [u8],
    source: &'a str,
    opts: &'a LoadOptions,
    vars: Vars,
    sc: Scenario,
    rtd_started: BTreeMap<String, usize>,
    rtd_stopped: BTreeMap<String, usize>,
    txns: Vec<Txn>,
    /// (element index, label, which attribute, offset) to resolve.
    pending: Vec<(usize, String, LabelUse, usize)>,
    init_labels: HashMap<String, usize>,
    init_pending: Vec<(usize, String, LabelUse, usize)>,
    /// `<DefaultMessage>`: id, cleaned text, offset; compiled at the end
    /// (SIPp compiles them after the scenario's checks).
    defaults: Vec<(String, Spanned, usize)>,
    last_recv_optional: bool,
    found_timewait: bool,
    hide_default: bool,
}

impl Ctx for Builder<'_> {
    fn var(&mut self, name: &[u8], at: usize) -> Result<VarId, ScenarioError> {
        self.get_var(&String::from_utf8_lossy(name), "Variable keyword", at)
    }

    fn key(&self, name: &[u8]) -> Option<String> {
        self.opts
            .keys
            .iter()
            .find(|(k, _)| k.as_bytes() == name)
            .map(|(_, v)| v.clone())
    }

    fn read_file(&self, path: &[u8], at: usize) -> Result<Vec<u8>, ScenarioError> {
        let p = PathBuf::from(String::from_utf8_lossy(path).into_owned());
        let full = match &self.opts.base_dir {
            Some(d) if p.is_relative() => d.join(&p),
            _ => p.clone(),
        };
        std::fs::read(&full).map_err(|e| {
            self.error(
                at,
                ErrorKind::Invalid(format!("Could not open '{}': {e}", full.display())),
            )
        })
    }

    fn error(&self, at: usize, kind: ErrorKind) -> ScenarioError {
        let (line, col) = xml::line_col(self.doc, at);
        ScenarioError {
            file: self.source.to_string(),
            line,
            col,
            kind,
        }
    }
}

/// Attributes every message element takes (compat §3.3).
const COMMON: &[&str] = &[
    "rtd",
    "repeat_rtd",
    "start_rtd",
    "counter",
    "lost",
    "crlf",
    "ignoresdp",
    "hiderest",
    "hide",
    "display",
    "condexec",
    "condexec_inverse",
    "next",
    "test",
    "chance",
    "ontimeout",
];

const SEND_ATTRS: &[&str] = &["retrans", "timeout", "start_txn", "ack_txn", "response_txn"];
const RECV_ATTRS: &[&str] = &[
    "response",
    "request",
    "response_txn",
    "optional",
    "advance_state",
    "regexp_match",
    "timeout",
    "rrs",
    "auth",
];
const PAUSE_ATTRS: &[&str] = &[
    "variable",
    "distribution",
    "sanity_check",
    "milliseconds",
    "normal",
    "exponential",
    "lognormal",
    "weibull",
    "pareto",
    "gamma",
    "min",
    "max",
    "value",
    "mean",
    "stdev",
    "lambda",
    "k",
    "x_m",
    "shape",
    "scale",
    "location",
    "theta",
    "n",
    "p",
];

/// C's `strtol(s, &end, 0)` over the whole string (SIPp's `get_long`):
/// `0x` hex, leading `0` octal; an empty string is 0.
fn c_strtol(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if t.is_empty() {
        // strtol parsed nothing: end = start, so "" passes and "-" fails.
        return if s.is_empty() { Some(0) } else { None };
    }
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// C's `strtod` over the whole string (SIPp's `get_double`); an empty
/// string is 0.
fn c_strtod(s: &str) -> Option<f64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if s.is_empty() {
        return Some(0.0);
    }
    t.parse::<f64>().ok()
}

/// SIPp's `createStringTable`: split on `,`, nothing trimmed.
fn split_names(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

/// SIPp's `isWellFormed` + `createIntegerTable` for repartitions, sorted.
fn int_table(s: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Some(out);
    }
    for part in s.split(',') {
        if !part
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b' ' || b == b'\t')
        {
            return None;
        }
        let digits: String = part
            .trim_start_matches([' ', '\t'])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if !part.bytes().any(|b| b.is_ascii_digit()) {
            return None;
        }
        out.push(digits.parse::<u64>().unwrap_or(u64::from(u32::MAX)));
    }
    out.sort_unstable();
    Some(out)
}

impl<'a> Builder<'a> {
    fn err(&self, at: usize, kind: ErrorKind) -> ScenarioError {
        self.error(at, kind)
    }

    fn attr<'n>(&self, n: &'n Node, name: &str) -> Option<&'n Attr> {
        n.attrs.iter().find(|a| a.name == name)
    }

    /// `xp_get_value`: the value as written (backslash-processed).
    fn raw(&self, n: &Node, name: &str) -> Option<String> {
        self.attr(n, name)
            .map(|a| String::from_utf8_lossy(&a.value).into_owned())
    }

    /// `xp_get_string`: the value with XML entities decoded; required.
    fn string(&self, n: &Node, name: &str, what: &str) -> Result<String, ScenarioError> {
        match self.attr(n, name) {
            Some(a) => Ok(String::from_utf8_lossy(&xml::unescape(&a.value)).into_owned()),
            None => Err(self.missing(n, name, what)),
        }
    }

    fn missing(&self, n: &Node, name: &str, what: &str) -> ScenarioError {
        self.err(
            n.at,
            ErrorKind::MissingAttribute {
                element: what.to_string(),
                attr: name.to_string(),
            },
        )
    }

    fn at_of(&self, n: &Node, name: &str) -> usize {
        self.attr(n, name).map_or(n.at, |a| a.at)
    }

    fn bad(
        &self,
        n: &Node,
        name: &str,
        what: &str,
        value: &str,
        expected: &'static str,
    ) -> ScenarioError {
        self.err(
            self.at_of(n, name),
            ErrorKind::BadValue {
                what: what.to_string(),
                value: value.to_string(),
                expected,
            },
        )
    }

    fn unsupported(&self, at: usize, what: impl Into<String>) -> ScenarioError {
        self.err(at, ErrorKind::Unsupported(what.into()))
    }

    fn invalid(&self, at: usize, msg: impl Into<String>) -> ScenarioError {
        self.err(at, ErrorKind::Invalid(msg.into()))
    }

    /// Every attribute of `n` must be in one of `lists`.
    fn only(&self, n: &Node, lists: &[&[&str]]) -> Result<(), ScenarioError> {
        for a in &n.attrs {
            if !lists.iter().any(|l| l.contains(&a.name.as_str())) {
                return Err(self.err(
                    a.at,
                    ErrorKind::UnknownAttribute {
                        element: n.name.clone(),
                        attr: a.name.clone(),
                    },
                ));
            }
        }
        Ok(())
    }

    fn no_children(&self, n: &Node) -> Result<(), ScenarioError> {
        if let Some(c) = n.children.first() {
            return Err(self.err(
                c.at,
                ErrorKind::Invalid(format!("<{}> takes no child element <{}>", n.name, c.name)),
            ));
        }
        self.no_cdata(n)
    }

    fn no_cdata(&self, n: &Node) -> Result<(), ScenarioError> {
        if let Some(c) = n.cdata.first() {
            return Err(self.err(
                c.at,
                ErrorKind::Invalid(format!("CDATA is not used in <{}>", n.name)),
            ));
        }
        Ok(())
    }

    fn long(&self, n: &Node, name: &str, what: &str) -> Result<Option<i64>, ScenarioError> {
        match self.raw(n, name) {
            None => Ok(None),
            Some(v) => match c_strtol(&v) {
                Some(x) => Ok(Some(x)),
                None => Err(self.bad(n, name, what, &v, "integer!")),
            },
        }
    }

    fn double(&self, n: &Node, name: &str, what: &str) -> Result<Option<f64>, ScenarioError> {
        match self.raw(n, name) {
            None => Ok(None),
            Some(v) => match c_strtod(&v) {
                Some(x) => Ok(Some(x)),
                None => Err(self.bad(n, name, what, &v, "floating point number!")),
            },
        }
    }

    fn req_double(&self, n: &Node, name: &str, what: &str) -> Result<f64, ScenarioError> {
        self.double(n, name, what)?
            .ok_or_else(|| self.missing(n, name, what))
    }

    /// SIPp's `get_bool`: `true`/`false` (any case) or an integer.
    fn boolean(&self, n: &Node, name: &str, what: &str) -> Result<Option<bool>, ScenarioError> {
        match self.raw(n, name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => match c_strtol(&v) {
                Some(x) => Ok(Some(x != 0)),
                None => Err(self.bad(n, name, what, &v, "boolean!")),
            },
        }
    }

    /// A non-negative integer attribute; 0 or absent is `None`.
    fn positive(&self, n: &Node, name: &str, what: &str) -> Result<Option<u64>, ScenarioError> {
        match self.long(n, name, what)? {
            None | Some(0) => Ok(None),
            Some(x) if x < 0 => {
                Err(self.unsupported(self.at_of(n, name), format!("a negative {what} ({x})")))
            }
            Some(x) => Ok(Some(x as u64)),
        }
    }

    /// SIPp's `get_var`: name checks, then find-or-allocate.
    fn get_var(&mut self, name: &str, what: &str, at: usize) -> Result<VarId, ScenarioError> {
        if name.is_empty() {
            return Err(self.invalid(at, format!("Variable names may not be empty for {what}")));
        }
        if name.contains(['$', ',']) {
            return Err(self.invalid(
                at,
                format!("Variable names may not contain '$' or ',' for {what}"),
            ));
        }
        Ok(self.vars.find(name, true, at).unwrap_or_default())
    }

    /// `xp_get_var`: the variable named by attribute `name`; required.
    fn attr_var(&mut self, n: &Node, name: &str, what: &str) -> Result<VarId, ScenarioError> {
        let Some(v) = self.raw(n, name) else {
            return Err(self.missing(n, name, what));
        };
        let at = self.at_of(n, name);
        self.get_var(&v, what, at)
    }

    fn opt_var(
        &mut self,
        n: &Node,
        name: &str,
        what: &str,
    ) -> Result<Option<VarId>, ScenarioError> {
        if self.attr(n, name).is_none() {
            return Ok(None);
        }
        self.attr_var(n, name, what).map(Some)
    }

    /// A template from an attribute (`xp_get_string` + `SendingMessage`
    /// without the sanity check).
    fn attr_template(
        &mut self,
        n: &Node,
        name: &str,
        what: &str,
    ) -> Result<Template, ScenarioError> {
        let s = self.string(n, name, what)?;
        let at = self.attr(n, name).map_or(n.at, |a| a.value_at);
        self.template(s.as_bytes(), at)
    }

    fn template(&mut self, text: &[u8], at: usize) -> Result<Template, ScenarioError> {
        let offs = vec![at; text.len()];
        keywords::compile(self, text, &offs)
    }

    fn regex(&self, src: &str, at: usize) -> Result<RegexSpec, ScenarioError> {
        compile_regex(src).map_err(|why| {
            self.err(
                at,
                ErrorKind::Regex {
                    regex: src.to_string(),
                    why,
                },
            )
        })
    }

    // ---- the document ----

    fn scenario(&mut self, root: &Node) -> Result<(), ScenarioError> {
        if root.name != "scenario" {
            return Err(self.invalid(root.at, "No 'scenario' section in xml scenario file"));
        }
        self.only(root, &[&["name"]])?;
        self.no_cdata(root)?;
        self.sc.name = self.raw(root, "name").unwrap_or_default();
        for n in &root.children {
            self.top(n)?;
        }
        self.finish(root)
    }

    fn top(&mut self, n: &Node) -> Result<(), ScenarioError> {
        match n.name.as_str() {
            "CallLengthRepartition" | "ResponseTimeRepartition" => {
                self.only(n, &[&["value"]])?;
                self.no_children(n)?;
                let v = self.string(n, "value", &n.name)?;
                let Some(t) = int_table(&v) else {
                    let which = if n.name == "CallLengthRepartition" {
                        "call length"
                    } else {
                        "response time"
                    };
                    return Err(self.invalid(
                        self.at_of(n, "value"),
                        format!("Could not create table for {which} repartition '{v}'"),
                    ));
                };
                if n.name == "CallLengthRepartition" {
                    self.sc.call_length_repartition = t;
                } else {
                    self.sc.response_time_repartition = t;
                }
            }
            "Global" | "User" | "Reference" => {
                self.only(n, &[&["variables"]])?;
                self.no_children(n)?;
                let v = self.string(n, "variables", &n.name)?;
                let at = self.at_of(n, "variables");
                for name in split_names(&v) {
                    match n.name.as_str() {
                        "Global" => {
                            if let Some(&id) = self.vars.global.get(&name) {
                                self.vars.bump(id);
                            } else {
                                let id = self.vars.alloc(&name, at);
                                self.vars.global.insert(name, id);
                                self.sc.global_vars.push(id);
                            }
                        }
                        "User" => {
                            if let Some(&id) =
                                self.vars.user.get(&name).or(self.vars.global.get(&name))
                            {
                                self.vars.bump(id);
                            } else {
                                let id = self.vars.alloc(&name, at);
                                self.vars.user.insert(name, id);
                                self.sc.user_vars.push(id);
                            }
                        }
                        _ => {
                            if self.vars.find(&name, false, at).is_none() {
                                return Err(self.invalid(
                                    at,
                                    format!("Could not reference non-existant variable '{name}'"),
                                ));
                            }
                        }
                    }
                }
            }
            "DefaultMessage" => {
                self.only(n, &[&["id"]])?;
                if let Some(c) = n.children.first() {
                    return Err(self.invalid(
                        c.at,
                        format!("<DefaultMessage> takes no child element <{}>", c.name),
                    ));
                }
                let id = self.string(n, "id", "DefaultMessage")?;
                if !["3pcc_abort", "ack", "ack2", "bye", "cancel", "200"].contains(&id.as_str()) {
                    return Err(self.invalid(
                        self.at_of(n, "id"),
                        format!("Unknown default message: {id}"),
                    ));
                }
                let text = self.cdata(n, "No CDATA in 'send' section of xml scenario file")?;
                let end = text.offs.last().map_or(n.at, |o| o + 1);
                let c = clean_cdata(&text, end)
                    .map_err(|_| self.invalid(n.at, "Empty cdata in xml scenario file"))?;
                self.defaults.push((id, c.text, n.at));
            }
            "label" => {
                self.only(n, &[&["id"]])?;
                self.no_children(n)?;
                let id = self.string(n, "id", "label")?;
                if self.sc.labels.contains_key(&id) {
                    return Err(self.invalid(
                        self.at_of(n, "id"),
                        format!("The label name '{id}' is used twice."),
                    ));
                }
                self.sc.labels.insert(id, self.sc.elements.len());
            }
            "init" => {
                self.only(n, &[])?;
                self.no_cdata(n)?;
                for c in &n.children {
                    match c.name.as_str() {
                        "nop" => {
                            self.only(c, &[COMMON])?;
                            self.no_cdata(c)?;
                            let mut e = Element {
                                kind: ElementKind::Nop,
                                common: Common::default(),
                                line: xml::line_col(self.doc, c.at).0,
                            };
                            let idx = self.sc.init.len();
                            self.common(c, &mut e, idx, true)?;
                            self.sc.init.push(e);
                        }
                        "label" => {
                            self.only(c, &[&["id"]])?;
                            self.no_children(c)?;
                            let Some(id) = self.raw(c, "id") else {
                                return Err(self.missing(c, "id", "label"));
                            };
                            if self.init_labels.contains_key(&id) {
                                return Err(self.invalid(
                                    self.at_of(c, "id"),
                                    format!("The label name '{id}' is used twice."),
                                ));
                            }
                            self.init_labels.insert(id, self.sc.init.len());
                        }
                        other => {
                            return Err(self.invalid(
                                c.at,
                                format!("Invalid element in an init stanza: '{other}'"),
                            ));
                        }
                    }
                }
            }
            _ => self.message(n)?,
        }
        Ok(())
    }

    /// The one CDATA section of `n`.
    fn cdata(&self, n: &Node, missing: &str) -> Result<Spanned, ScenarioError> {
        match n.cdata.as_slice() {
            [] => Err(self.invalid(n.at, missing)),
            [c] => Ok(Spanned::new(&c.text, c.at)),
            [_, c, ..] => Err(self.invalid(
                c.at,
                "more than one CDATA section (SIPp uses only the first)",
            )),
        }
    }

    fn check_optional_recv(&mut self, n: &Node) -> Result<(), ScenarioError> {
        if self.last_recv_optional {
            return Err(self.invalid(
                n.at,
                format!(
                    "<recv> before <{}> sequence without a mandatory message. Please remove one 'optional=true' (element {}).",
                    n.name,
                    self.sc.elements.len()
                ),
            ));
        }
        self.last_recv_optional = false;
        Ok(())
    }

    fn message(&mut self, n: &Node) -> Result<(), ScenarioError> {
        if self.found_timewait {
            return Err(self.invalid(
                n.at,
                "<timewait> can only be the last message in a scenario!",
            ));
        }
        let idx = self.sc.elements.len();
        let line = xml::line_col(self.doc, n.at).0;
        let kind = match n.name.as_str() {
            "send" => {
                self.only(n, &[COMMON, SEND_ATTRS])?;
                self.check_optional_recv(n)?;
                ElementKind::Send(self.send(n)?)
            }
            "recv" => {
                self.only(n, &[COMMON, RECV_ATTRS])?;
                self.no_cdata(n)?;
                ElementKind::Recv(self.recv(n)?)
            }
            "pause" | "timewait" => {
                self.only(n, &[COMMON, PAUSE_ATTRS])?;
                self.no_cdata(n)?;
                self.check_optional_recv(n)?;
                let timewait = n.name == "timewait";
                if timewait {
                    self.found_timewait = true;
                }
                let p = self.pause(n)?;
                if timewait {
                    ElementKind::Timewait(p)
                } else {
                    ElementKind::Pause(p)
                }
            }
            "nop" => {
                self.only(n, &[COMMON])?;
                self.no_cdata(n)?;
                self.check_optional_recv(n)?;
                ElementKind::Nop
            }
            "sendCmd" | "recvCmd" => {
                return Err(self.unsupported(n.at, format!("<{}> (3PCC)", n.name)));
            }
            other => {
                return Err(self.err(n.at, ErrorKind::UnknownElement(other.to_string())));
            }
        };
        let mut e = Element {
            kind,
            common: Common::default(),
            line,
        };
        self.common(n, &mut e, idx, false)?;
        self.sc.elements.push(e);
        Ok(())
    }

    fn send(&mut self, n: &Node) -> Result<Send, ScenarioError> {
        let text = self.cdata(n, "No CDATA in 'send' section of xml scenario file")?;
        let end = text.offs.last().map_or(n.at, |o| o + 1);
        let c = clean_cdata(&text, end)
            .map_err(|_| self.invalid(n.at, "Empty cdata in xml scenario file"))?;
        let mut t = c.text;
        if t.bytes.last() != Some(&b'\n') && c.removed_newlines > 0 {
            t.append(b"\n", end);
        }
        let template = keywords::compile(self, &t.bytes, &t.offs)?;
        let what = keywords::message_kind(&template)
            .map_err(|m| self.invalid(text.offs.first().copied().unwrap_or(n.at), m))?;
        let mut start_txn = None;
        let mut ack_txn = None;
        match &what {
            SendWhat::Request(m) => {
                let is_invite = m == "INVITE";
                let is_ack = m == "ACK";
                if let Some(name) = self.raw(n, "start_txn") {
                    if is_ack {
                        return Err(self.invalid(
                            self.at_of(n, "start_txn"),
                            "An ACK message can not start a transaction!",
                        ));
                    }
                    self.txn(n, "start_txn", &name, "start transaction", 0, is_invite)?;
                    start_txn = Some(name);
                } else if let Some(name) = self.raw(n, "ack_txn") {
                    if !is_ack {
                        return Err(self.invalid(
                            self.at_of(n, "ack_txn"),
                            "The ack_txn attribute is valid only for ACK messages!",
                        ));
                    }
                    self.txn(n, "ack_txn", &name, "ack transaction", 2, false)?;
                    ack_txn = Some(name);
                }
            }
            SendWhat::Response(_) => {
                if self.attr(n, "start_txn").is_some() {
                    return Err(self.invalid(
                        self.at_of(n, "start_txn"),
                        "Responses can not start a transaction",
                    ));
                }
                if self.attr(n, "ack_txn").is_some() {
                    return Err(self.invalid(
                        self.at_of(n, "ack_txn"),
                        "Responses can not ACK a transaction",
                    ));
                }
            }
        }
        if self.attr(n, "response_txn").is_some() {
            return Err(self.invalid(
                self.at_of(n, "response_txn"),
                "response_txn can only be used for received messages.",
            ));
        }
        let retrans = self.positive(n, "retrans", "retransmission timer")?;
        let retrans = match retrans {
            Some(r) => Some(u32::try_from(r).map_err(|_| {
                self.bad(
                    n,
                    "retrans",
                    "retransmission timer",
                    &r.to_string(),
                    "integer!",
                )
            })?),
            None => None,
        };
        let timeout = self.positive(n, "timeout", "message send timeout")?;
        Ok(Send {
            template,
            what,
            retrans,
            timeout,
            start_txn,
            ack_txn,
        })
    }

    /// SIPp's `get_txn`; `role`: 0 start, 1 response, 2 ack.
    fn txn(
        &mut self,
        n: &Node,
        attr: &str,
        name: &str,
        what: &str,
        role: u8,
        is_invite: bool,
    ) -> Result<(), ScenarioError> {
        let at = self.at_of(n, attr);
        if name.is_empty() {
            return Err(self.invalid(at, format!("Transaction names may not be empty for {what}")));
        }
        if name.contains(['$', ',']) {
            return Err(self.invalid(
                at,
                format!("Transaction names may not contain $ or , for {what}"),
            ));
        }
        let t = match self.txns.iter_mut().find(|t| t.name == name) {
            Some(t) => t,
            None => {
                self.txns.push(Txn {
                    name: name.to_string(),
                    started: 0,
                    responses: 0,
                    acks: 0,
                    is_invite: role == 0 && is_invite,
                });
                let last = self.txns.len() - 1;
                &mut self.txns[last]
            }
        };
        match role {
            0 => t.started += 1,
            1 => t.responses += 1,
            _ => t.acks += 1,
        }
        Ok(())
    }

    fn recv(&mut self, n: &Node) -> Result<Recv, ScenarioError> {
        let response = self.raw(n, "response");
        let request = self.raw(n, "request");
        let mut response_txn = None;
        let matcher = match (response, request) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    self.at_of(n, "request"),
                    "<recv> with both 'response' and 'request' (SIPp matches only the request)",
                ));
            }
            (None, None) => {
                return Err(
                    self.invalid(n.at, "<recv> without 'response' or 'request' never matches")
                );
            }
            (Some(r), None) => {
                let code = c_strtol(&r)
                    .ok_or_else(|| self.bad(n, "response", "response code", &r, "integer!"))?;
                let code = u16::try_from(code).ok().filter(|&c| c > 0).ok_or_else(|| {
                    self.invalid(
                        self.at_of(n, "response"),
                        format!("response code {code} can never match"),
                    )
                })?;
                if let Some(t) = self.raw(n, "response_txn") {
                    self.txn(n, "response_txn", &t, "transaction response", 1, false)?;
                    response_txn = Some(t);
                }
                RecvMatch::Response(code)
            }
            (None, Some(m)) => {
                if self.attr(n, "response_txn").is_some() {
                    return Err(self.invalid(
                        self.at_of(n, "response_txn"),
                        "response_txn can only be used for received responses.",
                    ));
                }
                if self.raw(n, "regexp_match").as_deref() == Some("true") {
                    let at = self.at_of(n, "request");
                    RecvMatch::RequestRegex(self.regex(&m, at)?)
                } else {
                    RecvMatch::Request(m)
                }
            }
        };
        let optional = match self.raw(n, "optional").as_deref() {
            None | Some("false") => Optional::No,
            Some("true") => Optional::Yes,
            Some("global") => Optional::Global,
            Some(v) => {
                return Err(self.invalid(
                    self.at_of(n, "optional"),
                    format!("Could not understand optional value for recv: {v}"),
                ));
            }
        };
        self.last_recv_optional = optional != Optional::No;
        let advance_state = self.boolean(n, "advance_state", "recv")?.unwrap_or(true);
        if !advance_state && optional == Optional::No {
            return Err(self.invalid(
                self.at_of(n, "advance_state"),
                format!(
                    "advance_state is allowed only for optional messages (index = {})",
                    self.sc.elements.len()
                ),
            ));
        }
        let timeout = self.positive(n, "timeout", "message timeout")?;
        let rrs = self.boolean(n, "rrs", "record route set")?.unwrap_or(false);
        let auth = self
            .boolean(n, "auth", "message authentication")?
            .unwrap_or(false);
        Ok(Recv {
            matcher,
            optional,
            rrs,
            auth,
            timeout,
            ignoresdp: false,
            response_txn,
            advance_state,
        })
    }

    /// `<pause>`/`<timewait>`: `variable`, else SIPp's `parse_distribution`
    /// (old style: `milliseconds`, or a distribution named by attribute).
    fn pause(&mut self, n: &Node) -> Result<Pause, ScenarioError> {
        // Which of the pause attributes this pause reads (SIPp silently
        // ignores the others, e.g. `mean` without a distribution).
        let params = |d: &str| -> &'static [&'static str] {
            match d {
                "fixed" => &["value"],
                "uniform" => &["min", "max"],
                "normal" | "lognormal" => &["mean", "stdev"],
                "exponential" => &["mean"],
                "weibull" => &["lambda", "k"],
                "pareto" => &["k", "x_m"],
                "gpareto" => &["shape", "scale", "location"],
                "gamma" => &["k", "theta"],
                "negbin" => &["n", "p"],
                _ => &[],
            }
        };
        let mut used: Vec<&str> = vec!["sanity_check"];
        if self.attr(n, "variable").is_some() {
            used = vec!["variable"];
        } else if let Some(d) = self.raw(n, "distribution") {
            used.push("distribution");
            used.extend_from_slice(params(&d));
        } else if let Some(sel) = [
            "normal",
            "exponential",
            "lognormal",
            "weibull",
            "pareto",
            "gamma",
        ]
        .into_iter()
        .find(|a| self.attr(n, a).is_some())
        {
            used.push(sel);
            used.extend_from_slice(params(sel));
        } else if self.attr(n, "min").is_some() || self.attr(n, "max").is_some() {
            used.extend_from_slice(params("uniform"));
        } else {
            used.push("milliseconds");
        }
        if let Some(a) = n
            .attrs
            .iter()
            .find(|a| PAUSE_ATTRS.contains(&a.name.as_str()) && !used.contains(&a.name.as_str()))
        {
            return Err(self.invalid(
                a.at,
                format!(
                    "attribute '{}' is not used by this <{}> (SIPp would ignore it)",
                    a.name, n.name
                ),
            ));
        }
        self.pause_kind(n)
    }

    fn pause_kind(&mut self, n: &Node) -> Result<Pause, ScenarioError> {
        if self.attr(n, "variable").is_some() {
            return Ok(Pause::Variable(self.attr_var(n, "variable", "pause")?));
        }
        let dist = match self.raw(n, "distribution") {
            Some(d) => d,
            None => {
                let pick = [
                    ("normal", "normal"),
                    ("exponential", "exponential"),
                    ("lognormal", "lognormal"),
                    ("weibull", "weibull"),
                    ("pareto", "pareto"),
                    ("gamma", "gamma"),
                    ("min", "uniform"),
                    ("max", "uniform"),
                ]
                .iter()
                .find(|(a, _)| self.attr(n, a).is_some())
                .map(|(_, d)| d.to_string());
                match pick {
                    Some(d) => d,
                    None => match self.double(n, "milliseconds", "Pause milliseconds")? {
                        Some(v) => return self.fixed(n, "milliseconds", v),
                        None => return Ok(Pause::Default),
                    },
                }
            }
        };
        let sanity = self.boolean(n, "sanity_check", "pause")?.unwrap_or(true);
        let at = self.at_of(n, "distribution");
        let (pause, p99) = match dist.as_str() {
            "fixed" => {
                let v = self.req_double(n, "value", "Fixed distribution")?;
                return self.fixed(n, "value", v);
            }
            "uniform" => {
                let min = self.req_double(n, "min", "Uniform distribution")?;
                let max = self.req_double(n, "max", "Uniform distribution")?;
                let whole = |v: f64| v.is_finite() && v >= 0.0 && v.fract() == 0.0;
                if !whole(min) || !whole(max) {
                    return Err(self.unsupported(
                        self.at_of(n, "min"),
                        "a uniform pause with negative or fractional bounds",
                    ));
                }
                (
                    Pause::Uniform {
                        min: min as u64,
                        max: max as u64,
                    },
                    min + 0.99 * (max - min),
                )
            }
            "normal" => {
                let mean = self.req_double(n, "mean", "Normal distribution")?;
                let stdev = self.req_double(n, "stdev", "Normal distribution")?;
                (
                    Pause::Normal { mean, stdev },
                    mean + 2.326_347_874_040_841 * stdev,
                )
            }
            "exponential" => {
                let mean = self.req_double(n, "mean", "Exponential distribution")?;
                (Pause::Exponential { mean }, mean * 4.605_170_185_988_091)
            }
            "lognormal" | "weibull" | "pareto" | "gpareto" | "gamma" | "negbin" => {
                return Err(self.unsupported(at, format!("the '{dist}' pause distribution")));
            }
            _ => {
                return Err(self.invalid(at, format!("Unknown distribution: {dist}")));
            }
        };
        if !p99.is_finite() {
            return Err(self.invalid(
                n.at,
                format!("The distribution {dist} has non-finite parameters"),
            ));
        }
        if sanity && p99 > i32::MAX as f64 {
            return Err(self.invalid(
                n.at,
                format!("The distribution {dist} has a 99th percentile of {p99}ms, which is larger than INT_MAX.  You should chose different parameters."),
            ));
        }
        Ok(pause)
    }

    /// A fixed pause as SIPp runs it: below 1 ms is 0, else truncated.
    fn fixed(&self, n: &Node, attr: &str, v: f64) -> Result<Pause, ScenarioError> {
        if !v.is_finite() {
            return Err(self.bad(n, attr, "Pause milliseconds", &v.to_string(), "time!"));
        }
        if v > i32::MAX as f64 && self.boolean(n, "sanity_check", "pause")?.unwrap_or(true) {
            return Err(self.invalid(
                self.at_of(n, attr),
                format!("The distribution fixed has a 99th percentile of {v}ms, which is larger than INT_MAX.  You should chose different parameters."),
            ));
        }
        Ok(Pause::Fixed(if v < 1.0 {
            0
        } else {
            v.min(i32::MAX as f64) as u64
        }))
    }

    fn rtd(&mut self, n: &Node, attr: &str, start: bool) -> Result<Option<usize>, ScenarioError> {
        let Some(v) = self.raw(n, attr) else {
            return Ok(None);
        };
        if v == "false" {
            return Ok(None);
        }
        let name = if v == "true" { "1".to_string() } else { v };
        let at = self.at_of(n, attr);
        let idx = match self.sc.rtds.iter().position(|r| *r == name) {
            Some(i) => i,
            None => {
                self.sc.rtds.push(name.clone());
                self.sc.rtds.len() - 1
            }
        };
        let map = if start {
            &mut self.rtd_started
        } else {
            &mut self.rtd_stopped
        };
        map.entry(name).or_insert(at);
        Ok(Some(idx))
    }

    /// Common attributes SIPp reads but never uses on this element: refused
    /// rather than silently ignored.
    fn no_effect(&self, n: &Node, kind: &ElementKind) -> Result<(), ScenarioError> {
        let has = |a: &str| self.attr(n, a).is_some();
        let refuse = |a: &str, why: &str| {
            Err(self.invalid(
                self.at_of(n, a),
                format!("'{a}' has no effect {why} (SIPp ignores it)"),
            ))
        };
        for a in ["test", "chance"] {
            if has(a) && !has("next") {
                return refuse(a, "without 'next'");
            }
        }
        if has("condexec_inverse") && !has("condexec") {
            return refuse("condexec_inverse", "without 'condexec'");
        }
        let is_recv = matches!(kind, ElementKind::Recv(_));
        let is_io = is_recv || matches!(kind, ElementKind::Send(_));
        if has("ignoresdp") && !is_recv {
            return refuse("ignoresdp", "outside <recv>");
        }
        for a in ["lost", "ontimeout"] {
            if has(a) && !is_io {
                return refuse(a, "outside <send> and <recv>");
            }
        }
        if matches!(kind, ElementKind::Recv(r) if matches!(r.matcher, RecvMatch::Response(_)))
            && has("regexp_match")
        {
            return refuse("regexp_match", "with 'response'");
        }
        if has("start_txn") && has("ack_txn") {
            return refuse("ack_txn", "next to 'start_txn'");
        }
        Ok(())
    }

    /// `getCommonAttributes` (with `getBookKeeping` and the actions).
    fn common(
        &mut self,
        n: &Node,
        e: &mut Element,
        idx: usize,
        init: bool,
    ) -> Result<(), ScenarioError> {
        self.no_effect(n, &e.kind)?;
        let c = &mut e.common;
        c.rtd = self.rtd(n, "rtd", false)?;
        if let Some(r) = self.boolean(n, "repeat_rtd", "repeat_rtd")? {
            if c.rtd.is_none() {
                return Err(self.invalid(
                    self.at_of(n, "repeat_rtd"),
                    "There is a repeat_rtd element without an rtd element",
                ));
            }
            c.repeat_rtd = r;
        }
        c.start_rtd = self.rtd(n, "start_rtd", true)?;
        if let Some(name) = self.raw(n, "counter") {
            let at = self.at_of(n, "counter");
            if name.is_empty() {
                return Err(self.invalid(at, "Counter names names may not be empty for counter"));
            }
            if name.contains(['$', ',']) {
                return Err(self.invalid(at, "Counter names may not contain $ or , for counter"));
            }
            c.counter = Some(match self.sc.counters.iter().position(|x| *x == name) {
                Some(i) => i,
                None => {
                    self.sc.counters.push(name);
                    self.sc.counters.len() - 1
                }
            });
        }
        // Children: at most one <action>.
        let mut actions = None;
        for ch in &n.children {
            if ch.name != "action" {
                return Err(self.invalid(
                    ch.at,
                    format!(
                        "<{}> takes no child element <{}> (only <action>)",
                        n.name, ch.name
                    ),
                ));
            }
            if actions.is_some() {
                return Err(self.invalid(
                    ch.at,
                    format!(
                        "Duplicate action for <{}> index {idx} (SIPp reads only the first)",
                        n.name
                    ),
                ));
            }
            actions = Some(self.actions(ch)?);
        }
        let c = &mut e.common;
        c.actions = actions.unwrap_or_default();
        c.lost = self.double(n, "lost", "lost percentage")?;
        c.crlf = self.attr(n, "crlf").is_some();
        if let Some(v) = self.boolean(n, "ignoresdp", "ignoresdp")?
            && let ElementKind::Recv(r) = &mut e.kind
        {
            r.ignoresdp = v;
        }
        if let Some(h) = self.boolean(n, "hiderest", "hiderest")? {
            self.hide_default = h;
        }
        let c = &mut e.common;
        c.hide = self
            .boolean(n, "hide", "hide")?
            .unwrap_or(self.hide_default);
        c.display = self.raw(n, "display");
        c.condexec = self.opt_var(n, "condexec", "condexec variable")?;
        let c = &mut e.common;
        c.condexec_inverse = self
            .boolean(n, "condexec_inverse", "condexec_inverse")?
            .unwrap_or(false);
        if let Some(label) = self.raw(n, "next") {
            let at = self.at_of(n, "next");
            if self.found_timewait {
                return Err(self.invalid(at, "next labels are not allowed in <timewait> elements."));
            }
            let p = (idx, label, LabelUse::Next, at);
            if init {
                self.init_pending.push(p);
            } else {
                self.pending.push(p);
            }
            e.common.test = self.opt_var(n, "test", "test variable")?;
            if let Some(ch) = self.double(n, "chance", "chance")? {
                if !(0.0..=1.0).contains(&ch) {
                    return Err(self.invalid(
                        self.at_of(n, "chance"),
                        format!("Chance {ch} not in range [0..1]"),
                    ));
                }
                e.common.chance = Some(ch);
            }
        }
        if let Some(label) = self.raw(n, "ontimeout") {
            let at = self.at_of(n, "ontimeout");
            if self.found_timewait {
                return Err(self.invalid(
                    at,
                    "ontimeout labels are not allowed in <timewait> elements.",
                ));
            }
            let p = (idx, label, LabelUse::OnTimeout, at);
            if init {
                self.init_pending.push(p);
            } else {
                self.pending.push(p);
            }
        }
        Ok(())
    }
}

/// A POSIX extended regular expression as SIPp compiles it (`regcomp`
/// with `REG_EXTENDED`): bytes, not Unicode, and `.` matches a newline
/// (no `REG_NEWLINE`). Rust's engine is leftmost-first where POSIX is
/// leftmost-longest; that differs only for alternations whose branches
/// match different lengths at the same place.
pub(crate) fn compile_regex(src: &str) -> Result<RegexSpec, String> {
    regex::bytes::RegexBuilder::new(src)
        .unicode(false)
        .dot_matches_new_line(true)
        .build()
        .map(|regex| RegexSpec {
            source: src.to_string(),
            regex,
        })
        .map_err(|e| e.to_string())
}
