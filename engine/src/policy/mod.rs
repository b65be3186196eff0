//! The request policy: the `[[policy]]` rules of the configuration,
//! evaluated in order for every initial request (the first stage after
//! validation; see `crate::proxy::stages::policy`).
//!
//! A rule's conditions must all hold for its action to apply. Terminal
//! actions (`reply`, `drop`, `accept`) end the evaluation; the others
//! (`authenticate`, `set_group`, `rate_limit`) mark the request for the
//! stages after (authentication, limits, routing) and evaluation goes on.
//!
//! The rules are compiled once per load into a read-only [`Policy`]
//! shared by every shard: the regexes of one field (User-Agent, From
//! user, ...) of all the rules in one multi-pattern regex, so a field is
//! matched once per request whatever the number of rules, and only when a
//! rule reached needs it. Each shard evaluates with its own [`PolicyShard`]
//! (regex caches, pattern sets, per-rule counters): no lock, no
//! allocation per request. A reload compiles the new rules first and
//! publishes them in one atomic swap ([`PolicyTable`]); a shard picks them
//! up at its next request.

pub(crate) mod spec;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternID, PatternSet, meta};
use trunkline_parser::{HeaderName, Message, Summary, Uri};

pub use spec::{ActionSpec, Conditions, EditSpec, PROTECTED_HEADERS, RuleSpec};

use crate::lcr::GroupName;
use crate::security::CidrSet;

/// The fields a rule matches with a regex, each matched once per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
enum Field {
    UserAgent,
    FromUser,
    FromHost,
    ToUser,
    RuriUser,
    RuriHost,
}

const FIELDS: usize = 6;

/// Compiles `patterns` into one regex that reports every pattern
/// matching a haystack of arbitrary bytes.
pub(crate) fn compile_patterns(patterns: &[&str]) -> Result<meta::Regex, Box<meta::BuildError>> {
    meta::Builder::new()
        .configure(meta::Config::new().match_kind(MatchKind::All))
        .syntax(syntax::Config::new().utf8(false))
        .build_many(patterns)
        .map_err(Box::new)
}

/// What a rule does, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer with `code` and `reason`; stop.
    Reply {
        /// The status, 300-699.
        code: u16,
        /// Its reason phrase.
        reason: Box<[u8]>,
        /// A header line to add, or empty: a 405 from a rule with
        /// `not_methods` carries `Allow:` those methods (RFC 3261
        /// §21.4.6: a 405 MUST list the methods allowed).
        header: Box<[u8]>,
    },
    /// Drop without an answer; stop.
    Drop,
    /// Stop evaluating; the request goes on.
    Accept,
    /// Require digest authentication.
    Authenticate,
    /// Route the call in this routing group.
    SetGroup(GroupName),
    /// Count the request against the rate limit of this name.
    RateLimit(Box<str>),
    /// Send the request to a destination of this dispatcher set.
    Dispatch(GroupName),
    /// Edit the forwarded copy's headers.
    Edit(Box<EditRule>),
    /// The call's maximum duration.
    MaxDuration(std::time::Duration),
    /// Hide the call's topology.
    HideTopology,
}

/// A rule's header edits, compiled ([`EditSpec`]): the lines to add
/// written out once, the name regex compiled.
#[derive(Clone, Debug)]
pub struct EditRule {
    /// `Name: value\r\n` lines to add.
    pub add: Box<[u8]>,
    /// The names to remove (whole name, case-insensitive).
    pub remove: Option<meta::Regex>,
    /// The header to replace and its new line.
    pub replace: Option<Replacement>,
    /// The From URI's new user part.
    pub from_user: Option<Box<[u8]>>,
    /// The From's new display name (written quoted).
    pub from_display: Option<Box<[u8]>>,
    /// The To URI's new user part.
    pub to_user: Option<Box<[u8]>>,
    /// The P-Asserted-Identity line replacing any.
    pub pai: Option<Box<[u8]>>,
}

/// A header to replace: its name (lower case) and the line that takes
/// its place.
pub type Replacement = (Box<[u8]>, Box<[u8]>);

impl PartialEq for EditRule {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.add,
            &self.replace,
            &self.from_user,
            &self.from_display,
        ) == (
            &other.add,
            &other.replace,
            &other.from_user,
            &other.from_display,
        ) && (&self.to_user, &self.pai) == (&other.to_user, &other.pai)
            && self.remove.is_some() == other.remove.is_some()
    }
}

impl Eq for EditRule {}

impl EditRule {
    fn compile(e: &EditSpec) -> Result<EditRule, String> {
        let mut add = Vec::new();
        for (n, v) in &e.add {
            add.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        Ok(EditRule {
            add: add.into(),
            remove: match &e.remove {
                Some(re) => Some(compile_patterns(&[re]).map_err(|e| e.to_string())?),
                None => None,
            },
            replace: e.replace.as_ref().map(|(n, v)| {
                (
                    n.to_ascii_lowercase().into_bytes().into(),
                    format!("{n}: {v}\r\n").into_bytes().into(),
                )
            }),
            from_user: e.from_user.as_ref().map(|u| u.as_bytes().into()),
            from_display: e.from_display.as_ref().map(|d| d.as_bytes().into()),
            to_user: e.to_user.as_ref().map(|u| u.as_bytes().into()),
            pai: e
                .pai
                .as_ref()
                .map(|p| format!("P-Asserted-Identity: {p}\r\n").into_bytes().into()),
        })
    }
}

/// A compiled rule.
#[derive(Debug)]
struct Rule {
    name: Box<str>,
    methods: Vec<Box<[u8]>>,
    not_methods: Vec<Box<[u8]>>,
    source: CidrSet,
    groups: Vec<Box<str>>,
    /// The rule's pattern in each field's regex.
    fields: [Option<PatternID>; FIELDS],
    /// The header condition: its name as classified, the name (lower
    /// case) for extension headers, and its own regex.
    header: Option<(HeaderName, Box<[u8]>, meta::Regex)>,
    has_route: Option<bool>,
    trusted: Option<bool>,
    action: Action,
}

/// The compiled rules: read-only, shared by every shard.
#[derive(Debug, Default)]
pub struct Policy {
    rules: Vec<Rule>,
    fields: [Option<meta::Regex>; FIELDS],
}

impl Policy {
    /// Compiles checked rules; `Err` says which rule and why (a rule that
    /// passed [`spec`]'s checks compiles).
    pub fn compile(specs: &[RuleSpec]) -> Result<Policy, String> {
        let mut patterns: [Vec<&str>; FIELDS] = Default::default();
        let mut rules = Vec::with_capacity(specs.len());
        for s in specs {
            let w = &s.when;
            let mut fields = [None; FIELDS];
            for (f, p) in [
                (Field::UserAgent, &w.user_agent),
                (Field::FromUser, &w.from_user),
                (Field::FromHost, &w.from_host),
                (Field::ToUser, &w.to_user),
                (Field::RuriUser, &w.ruri_user),
                (Field::RuriHost, &w.ruri_host),
            ] {
                if let Some(p) = p {
                    let v = &mut patterns[f as usize];
                    fields[f as usize] = Some(PatternID::new(v.len()).map_err(|e| e.to_string())?);
                    v.push(p);
                }
            }
            let header = match &w.header {
                Some((name, re)) => Some((
                    HeaderName::from_bytes(name.as_bytes()),
                    name.to_ascii_lowercase().into_bytes().into_boxed_slice(),
                    compile_patterns(&[re]).map_err(|e| format!("{}: header: {e}", s.name))?,
                )),
                None => None,
            };
            let action = match &s.action {
                ActionSpec::Reply { code, reason } => Action::Reply {
                    code: *code,
                    reason: reason.as_bytes().into(),
                    header: if *code == 405 && !w.not_methods.is_empty() {
                        format!("Allow: {}", w.not_methods.join(", "))
                            .into_bytes()
                            .into()
                    } else {
                        Box::default()
                    },
                },
                ActionSpec::Drop => Action::Drop,
                ActionSpec::Accept => Action::Accept,
                ActionSpec::Authenticate => Action::Authenticate,
                ActionSpec::SetGroup(g) => Action::SetGroup(
                    GroupName::new(g)
                        .ok_or_else(|| format!("{}: set_group: name too long", s.name))?,
                ),
                ActionSpec::RateLimit(n) => Action::RateLimit(n.as_str().into()),
                ActionSpec::Dispatch(d) => Action::Dispatch(
                    GroupName::new(d)
                        .ok_or_else(|| format!("{}: dispatch: set id too long", s.name))?,
                ),
                ActionSpec::HideTopology => Action::HideTopology,
                ActionSpec::MaxDuration(s) => {
                    Action::MaxDuration(std::time::Duration::from_secs(*s))
                }
                ActionSpec::Edit(e) => Action::Edit(Box::new(
                    EditRule::compile(e).map_err(|m| format!("{}: header edits: {m}", s.name))?,
                )),
            };
            let names = |v: &[String]| v.iter().map(|m| m.as_bytes().into()).collect();
            rules.push(Rule {
                name: s.name.as_str().into(),
                methods: names(&w.methods),
                not_methods: names(&w.not_methods),
                source: w.source.iter().copied().collect(),
                groups: w.group.iter().map(|g| g.as_str().into()).collect(),
                fields,
                header,
                has_route: w.has_route,
                trusted: w.trusted,
                action,
            });
        }
        let mut compiled: [Option<meta::Regex>; FIELDS] = Default::default();
        for (i, p) in patterns.iter().enumerate() {
            if !p.is_empty() {
                compiled[i] = Some(compile_patterns(p).map_err(|e| e.to_string())?);
            }
        }
        Ok(Policy {
            rules,
            fields: compiled,
        })
    }

    /// Whether there are no rules (the stage then costs nothing).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules' names, in order.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.name)
    }

    /// The names of the rate limits the rules invoke.
    pub fn rate_limit_names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|r| match &r.action {
            Action::RateLimit(n) => Some(&**n),
            _ => None,
        })
    }

    /// The actions of the rules, in order.
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.rules.iter().map(|r| &r.action)
    }

    /// The header edits of rule `rule`, if that is its action.
    pub fn edit_rule(&self, rule: usize) -> Option<&EditRule> {
        match &self.rules.get(rule)?.action {
            Action::Edit(e) => Some(e),
            _ => None,
        }
    }
}

/// The policy in service: swapped whole by a reload.
#[derive(Debug)]
pub struct PolicyTable {
    current: ArcSwap<Policy>,
    /// Moves on with every swap: what a shard checks per request (one
    /// atomic load) before loading the policy itself.
    generation: AtomicU64,
}

impl PolicyTable {
    /// A table with `policy` in service.
    pub fn new(policy: Policy) -> PolicyTable {
        PolicyTable {
            current: ArcSwap::from_pointee(policy),
            generation: AtomicU64::new(0),
        }
    }

    /// Puts `policy` in service, atomically.
    pub fn replace(&self, policy: Policy) {
        self.current.store(Arc::new(policy));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The policy in service.
    pub fn load(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// What a rule's evaluation needs to know of a request, beyond the
/// message: each asked only when a rule reached needs it.
pub struct Facts<'f> {
    /// Where it came from.
    pub source: IpAddr,
    /// The group a `set_group` gave it so far.
    pub group: Option<&'f GroupName>,
    /// The routing table's ACL group of the source, when there is a table.
    pub source_group: &'f dyn Fn(IpAddr) -> Option<GroupName>,
    /// Whether the request carries a Route past us.
    pub has_route: &'f dyn Fn() -> bool,
    /// Whether the source is trusted (`[security] trusted`).
    pub trusted: bool,
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("source", &self.source)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// One shard's evaluator of the policy in service.
#[derive(Debug)]
pub struct PolicyShard {
    table: Arc<PolicyTable>,
    policy: Arc<Policy>,
    generation: u64,
    caches: [Option<meta::Cache>; FIELDS],
    sets: [PatternSet; FIELDS],
    /// Which fields' sets hold this request's matches.
    matched: u8,
    /// Hits per rule of the policy in service.
    hits: Vec<u64>,
    /// Where the next evaluation resumes (after a non-terminal action).
    next: usize,
}

impl PolicyShard {
    /// A shard's evaluator of the policy `table` holds.
    pub fn new(table: Arc<PolicyTable>) -> PolicyShard {
        let mut s = PolicyShard {
            generation: table.generation(),
            policy: table.load(),
            table,
            caches: Default::default(),
            sets: std::array::from_fn(|_| PatternSet::new(0)),
            matched: 0,
            hits: Vec::new(),
            next: 0,
        };
        s.prepare();
        s
    }

    /// The caches and sets for the policy just loaded.
    fn prepare(&mut self) {
        for i in 0..FIELDS {
            let re = self.policy.fields[i].as_ref();
            self.caches[i] = re.map(meta::Regex::create_cache);
            self.sets[i] = PatternSet::new(re.map_or(0, meta::Regex::pattern_len));
        }
        self.hits = vec![0; self.policy.rules.len()];
    }

    /// Whether there is a policy to evaluate (after picking up a reload).
    pub fn is_active(&mut self) -> bool {
        let g = self.table.generation();
        if g != self.generation {
            self.generation = g;
            self.policy = self.table.load();
            self.prepare();
        }
        !self.policy.is_empty()
    }

    /// The policy being evaluated, and its generation (what a rule index
    /// refers to).
    pub fn current(&self) -> (&Arc<Policy>, u64) {
        (&self.policy, self.generation)
    }

    /// Starts the evaluation of a new request.
    pub fn begin(&mut self) {
        self.matched = 0;
        self.next = 0;
    }

    /// The next rule, from where the last one left off, whose conditions
    /// all hold for the request (`msg`, as validation summed it up in
    /// `sum`): its index, counted as a hit; `None` when no rule is left.
    pub fn next_applied(
        &mut self,
        msg: &Message<'_>,
        sum: &Summary<'_>,
        facts: &Facts<'_>,
    ) -> Option<usize> {
        let PolicyShard {
            policy,
            caches,
            sets,
            matched,
            hits,
            next,
            ..
        } = self;
        let mut fields = FieldMatches {
            policy,
            caches,
            sets,
            matched,
        };
        while *next < policy.rules.len() {
            let i = *next;
            *next += 1;
            let r = &policy.rules[i];
            if holds(r, &mut fields, msg, sum, facts) {
                hits[i] += 1;
                return Some(i);
            }
        }
        None
    }

    /// The action of rule `rule` of the policy in service.
    pub fn action(&self, rule: usize) -> &Action {
        &self.policy.rules[rule].action
    }

    /// Hits per rule so far, with the rules' names and actions.
    pub fn hits(&self) -> impl Iterator<Item = (&str, &'static str, u64)> {
        self.policy.rules.iter().zip(&self.hits).map(|(r, &h)| {
            let kind = match r.action {
                Action::Reply { .. } => "reply",
                Action::Drop => "drop",
                Action::Accept => "accept",
                Action::Authenticate => "authenticate",
                Action::SetGroup(_) => "set_group",
                Action::RateLimit(_) => "rate_limit",
                Action::Dispatch(_) => "dispatch",
                Action::Edit(_) => "edit",
                Action::MaxDuration(_) => "max_duration_s",
                Action::HideTopology => "topology_hiding",
            };
            (&*r.name, kind, h)
        })
    }
}

/// A shard's per-request field matches, borrowed apart from the rules.
struct FieldMatches<'s> {
    policy: &'s Policy,
    caches: &'s mut [Option<meta::Cache>; FIELDS],
    sets: &'s mut [PatternSet; FIELDS],
    matched: &'s mut u8,
}

impl FieldMatches<'_> {
    /// Whether pattern `p` of field `f` matches the request (the field is
    /// matched against all its patterns once, on first need). A field the
    /// request lacks matches no pattern.
    fn matches(&mut self, f: usize, p: PatternID, msg: &Message<'_>, sum: &Summary<'_>) -> bool {
        if *self.matched & (1 << f) == 0 {
            *self.matched |= 1 << f;
            let set = &mut self.sets[f];
            set.clear();
            if let (Some(re), Some(cache)) =
                (self.policy.fields[f].as_ref(), self.caches[f].as_mut())
            {
                if let Some(hay) = field_value(f, msg, sum) {
                    re.which_overlapping_matches_with(cache, &Input::new(hay), set);
                }
            }
        }
        self.sets[f].contains(p)
    }
}

/// Whether every condition of rule `r` holds.
fn holds(
    r: &Rule,
    fields: &mut FieldMatches<'_>,
    msg: &Message<'_>,
    sum: &Summary<'_>,
    facts: &Facts<'_>,
) -> bool {
    if !r.methods.is_empty() || !r.not_methods.is_empty() {
        let m = msg.method_bytes().unwrap_or_default();
        if !r.methods.is_empty() && !r.methods.iter().any(|x| **x == *m) {
            return false;
        }
        if r.not_methods.iter().any(|x| **x == *m) {
            return false;
        }
    }
    if !r.source.is_empty() && !r.source.contains(facts.source) {
        return false;
    }
    if !r.groups.is_empty() {
        let in_group = |g: &GroupName| r.groups.iter().any(|n| **n == *g.as_str());
        let ok = match facts.group {
            Some(g) => in_group(g),
            None => (facts.source_group)(facts.source)
                .as_ref()
                .is_some_and(in_group),
        };
        if !ok {
            return false;
        }
    }
    for f in 0..FIELDS {
        if let Some(p) = r.fields[f] {
            if !fields.matches(f, p, msg, sum) {
                return false;
            }
        }
    }
    if let Some((kind, name, re)) = &r.header {
        let found = msg.headers().iter().any(|h| {
            let same = match kind {
                HeaderName::Other => {
                    h.kind == HeaderName::Other && msg.slice(h.name).eq_ignore_ascii_case(name)
                }
                k => h.kind == *k,
            };
            same && re.is_match(Input::new(msg.slice(h.value)))
        });
        if !found {
            return false;
        }
    }
    if let Some(want) = r.has_route {
        if (facts.has_route)() != want {
            return false;
        }
    }
    if r.trusted.is_some_and(|want| want != facts.trusted) {
        return false;
    }
    true
}

/// The bytes field `f` is matched against: the User-Agent value; the
/// user or host of the From, To or Request-URI (a tel URI's number as its
/// user, no host).
fn field_value<'a>(f: usize, msg: &Message<'a>, sum: &Summary<'a>) -> Option<&'a [u8]> {
    let uri_part = |uri: Option<&'a [u8]>, user: bool| -> Option<&'a [u8]> {
        match Uri::parse(uri?).ok()? {
            Uri::Sip(u) if user => u.user,
            Uri::Sip(u) => Some(u.host.text),
            Uri::Tel(t) if user => Some(t.number),
            _ => None,
        }
    };
    const UA: usize = Field::UserAgent as usize;
    const FU: usize = Field::FromUser as usize;
    const FH: usize = Field::FromHost as usize;
    const TU: usize = Field::ToUser as usize;
    const RU: usize = Field::RuriUser as usize;
    const RH: usize = Field::RuriHost as usize;
    match f {
        UA => msg.first(HeaderName::UserAgent).map(|h| msg.slice(h.value)),
        FU | FH => uri_part(Some(sum.from.uri), f == FU),
        TU => uri_part(Some(sum.to.uri), true),
        RU | RH => uri_part(msg.request_uri_bytes(), f == RU),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
