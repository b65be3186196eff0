//! The `[[policy]]` tables as written in the configuration, checked: each
//! rule's conditions and its one action, with every error naming the
//! key (`policy[N].KEY`) and its place in the file.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::security::Cidr;

/// A rule as the TOML file gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRule {
    name: Option<Spanned<String>>,
    methods: Option<Spanned<Vec<Spanned<String>>>>,
    not_methods: Option<Spanned<Vec<Spanned<String>>>>,
    source: Option<Spanned<Vec<Spanned<String>>>>,
    group: Option<Spanned<Vec<Spanned<String>>>>,
    user_agent: Option<Spanned<String>>,
    from_user: Option<Spanned<String>>,
    from_host: Option<Spanned<String>>,
    to_user: Option<Spanned<String>>,
    ruri_user: Option<Spanned<String>>,
    ruri_host: Option<Spanned<String>>,
    header: Option<Spanned<FileHeader>>,
    has_route: Option<bool>,
    trusted: Option<bool>,
    reply: Option<Spanned<u16>>,
    reason: Option<Spanned<String>>,
    drop: Option<Spanned<bool>>,
    accept: Option<Spanned<bool>>,
    authenticate: Option<Spanned<String>>,
    set_group: Option<Spanned<String>>,
    rate_limit: Option<Spanned<String>>,
    dispatch: Option<Spanned<String>>,
    max_duration_s: Option<Spanned<u64>>,
    topology_hiding: Option<Spanned<bool>>,
    add_header: Option<Spanned<Vec<Spanned<String>>>>,
    remove_header: Option<Spanned<String>>,
    replace_header: Option<Spanned<FileReplace>>,
    set_from_user: Option<Spanned<String>>,
    set_from_display: Option<Spanned<String>>,
    set_to_user: Option<Spanned<String>>,
    set_pai: Option<Spanned<String>>,
}

/// `replace_header = { name = "X-Billing", value = "acme" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileReplace {
    name: Spanned<String>,
    value: Spanned<String>,
}

/// `header = { name = "X-Customer", regex = "^gold$" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHeader {
    name: Spanned<String>,
    regex: Spanned<String>,
}

/// A rule, checked: when all its conditions hold, its action applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule's name (`name`, else `policy[N]`), in counters and logs.
    pub name: String,
    /// The conditions.
    pub when: Conditions,
    /// The action.
    pub action: ActionSpec,
}

/// A rule's conditions; an absent one holds for every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The method is one of these (upper case as written).
    pub methods: Vec<String>,
    /// The method is none of these.
    pub not_methods: Vec<String>,
    /// The source address is in one of these blocks.
    pub source: Vec<Cidr>,
    /// The source's group (set by an earlier `set_group`, else the
    /// routing table's ACL group) is one of these.
    pub group: Vec<String>,
    /// Regexes on the User-Agent, the From and To URIs' user and host
    /// parts, the Request-URI's user and host.
    pub user_agent: Option<String>,
    /// See [`Conditions::user_agent`].
    pub from_user: Option<String>,
    /// See [`Conditions::user_agent`].
    pub from_host: Option<String>,
    /// See [`Conditions::user_agent`].
    pub to_user: Option<String>,
    /// See [`Conditions::user_agent`].
    pub ruri_user: Option<String>,
    /// See [`Conditions::user_agent`].
    pub ruri_host: Option<String>,
    /// A header (its name, case-insensitive) whose value matches a regex.
    pub header: Option<(String, String)>,
    /// Whether the request carries a Route past us (preloaded).
    pub has_route: Option<bool>,
    /// Whether the source is trusted (`[security] trusted`).
    pub trusted: Option<bool>,
}

/// What a rule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionSpec {
    /// Answer with this status and reason; stop.
    Reply {
        /// 300-699.
        code: u16,
        /// The reason phrase (default: the RFC's).
        reason: String,
    },
    /// Drop without an answer; stop.
    Drop,
    /// Stop evaluating: the request goes on (a trusted trunk).
    Accept,
    /// Require digest authentication; go on.
    Authenticate,
    /// Route the call in this group of the routing table; go on.
    SetGroup(String),
    /// Count the request against this rate limit; go on.
    RateLimit(String),
    /// Send the request to a destination of this dispatcher set
    /// (`[[dispatcher]] id`); go on.
    Dispatch(String),
    /// Edit the headers of the forwarded copy; go on.
    Edit(EditSpec),
    /// End the call after this many seconds (`[dialogs] max_duration_s`
    /// for the calls the rule matches); go on.
    MaxDuration(u64),
    /// Hide the topology of the calls the rule matches (`[topology_hiding]`
    /// for them only); go on.
    HideTopology,
}

/// A rule's header edits (the header keys of one rule together make its
/// one action), applied to the forwarded copy of an initial request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EditSpec {
    /// Header lines to add: (name, value).
    pub add: Vec<(String, String)>,
    /// Remove every header whose name matches this regex (whole name,
    /// case-insensitive): `X-.*` strips all `X-` headers.
    pub remove: Option<String>,
    /// Replace every header of this name with one of this value.
    pub replace: Option<(String, String)>,
    /// The From URI's user part.
    pub from_user: Option<String>,
    /// The From display name.
    pub from_display: Option<String>,
    /// The To URI's user part.
    pub to_user: Option<String>,
    /// P-Asserted-Identity (RFC 3325): its value, replacing any.
    pub pai: Option<String>,
}

/// Headers no rule may add, remove or replace: the proxy and the dialog
/// own them (From/To through `set_from_*`/`set_to_user` only).
pub const PROTECTED_HEADERS: &[&str] = &[
    "via",
    "v",
    "from",
    "f",
    "to",
    "t",
    "call-id",
    "i",
    "cseq",
    "content-length",
    "l",
    "content-type",
    "c",
    "route",
    "record-route",
    "max-forwards",
    "contact",
    "m",
    "proxy-authorization",
];

impl ActionSpec {
    /// The action's name, for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionSpec::Reply { .. } => "reply",
            ActionSpec::Drop => "drop",
            ActionSpec::Accept => "accept",
            ActionSpec::Authenticate => "authenticate",
            ActionSpec::SetGroup(_) => "set_group",
            ActionSpec::RateLimit(_) => "rate_limit",
            ActionSpec::Dispatch(_) => "dispatch",
            ActionSpec::Edit(_) => "edit",
            ActionSpec::MaxDuration(_) => "max_duration_s",
            ActionSpec::HideTopology => "topology_hiding",
        }
    }
}

/// Builds a configuration error: where (a span of the file), which key,
/// what.
pub(crate) type ErrFn<'e, E> = &'e dyn Fn(Option<Range<usize>>, &str, String) -> E;

/// Checks the rules as written; `err` makes the error naming the key.
pub(crate) fn check<E>(rules: &[Spanned<FileRule>], err: ErrFn<'_, E>) -> Result<Vec<RuleSpec>, E> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| check_rule(i, r, err))
        .collect()
}

fn check_rule<E>(i: usize, rule: &Spanned<FileRule>, err: ErrFn<'_, E>) -> Result<RuleSpec, E> {
    let key = |k: &str| format!("policy[{i}].{k}");
    let r = rule.get_ref();
    let name = match &r.name {
        Some(n) if n.get_ref().trim().is_empty() => {
            return Err(err(
                Some(n.span()),
                &key("name"),
                "must not be empty".into(),
            ));
        }
        Some(n) => n.get_ref().clone(),
        None => format!("policy[{i}]"),
    };
    let methods = |v: &Option<Spanned<Vec<Spanned<String>>>>, k: &str| -> Result<Vec<String>, E> {
        let Some(v) = v else { return Ok(Vec::new()) };
        if v.get_ref().is_empty() {
            return Err(err(
                Some(v.span()),
                &key(k),
                "needs at least one method".into(),
            ));
        }
        v.get_ref()
            .iter()
            .map(|m| {
                let t = m.get_ref().trim();
                let token = !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
                if token {
                    Ok(t.to_ascii_uppercase())
                } else {
                    Err(err(
                        Some(m.span()),
                        &key(k),
                        format!("`{t}` is not a method name"),
                    ))
                }
            })
            .collect()
    };
    let regex = |v: &Option<Spanned<String>>, k: &str| -> Result<Option<String>, E> {
        let Some(v) = v else { return Ok(None) };
        check_regex(v.get_ref())
            .map(|()| Some(v.get_ref().clone()))
            .map_err(|m| err(Some(v.span()), &key(k), m))
    };
    let source = match &r.source {
        None => Vec::new(),
        Some(v) if v.get_ref().is_empty() => {
            return Err(err(
                Some(v.span()),
                &key("source"),
                "needs at least one address block".into(),
            ));
        }
        Some(v) => v
            .get_ref()
            .iter()
            .map(|c| {
                c.get_ref().parse::<Cidr>().map_err(|e| {
                    err(
                        Some(c.span()),
                        &key("source"),
                        format!("`{}`: {e}", c.get_ref()),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let group = match &r.group {
        None => Vec::new(),
        Some(v)
            if v.get_ref().iter().any(|g| g.get_ref().trim().is_empty())
                || v.get_ref().is_empty() =>
        {
            return Err(err(
                Some(v.span()),
                &key("group"),
                "needs group names".into(),
            ));
        }
        Some(v) => v
            .get_ref()
            .iter()
            .map(|g| g.get_ref().trim().to_string())
            .collect(),
    };
    let header = match &r.header {
        None => None,
        Some(h) => {
            let h = h.get_ref();
            let n = h.name.get_ref().trim();
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(err(
                    Some(h.name.span()),
                    &key("header.name"),
                    format!("`{n}` is not a header name"),
                ));
            }
            check_regex(h.regex.get_ref())
                .map_err(|m| err(Some(h.regex.span()), &key("header.regex"), m))?;
            Some((n.to_string(), h.regex.get_ref().clone()))
        }
    };
    let when = Conditions {
        methods: methods(&r.methods, "methods")?,
        not_methods: methods(&r.not_methods, "not_methods")?,
        source,
        group,
        user_agent: regex(&r.user_agent, "user_agent")?,
        from_user: regex(&r.from_user, "from_user")?,
        from_host: regex(&r.from_host, "from_host")?,
        to_user: regex(&r.to_user, "to_user")?,
        ruri_user: regex(&r.ruri_user, "ruri_user")?,
        ruri_host: regex(&r.ruri_host, "ruri_host")?,
        header,
        has_route: r.has_route,
        trusted: r.trusted,
    };
    let action = check_action(i, rule, err)?;
    Ok(RuleSpec { name, when, action })
}

/// The rule's one action.
fn check_action<E>(i: usize, rule: &Spanned<FileRule>, err: ErrFn<'_, E>) -> Result<ActionSpec, E> {
    let key = |k: &str| format!("policy[{i}].{k}");
    let r = rule.get_ref();
    let mut actions: Vec<(&str, Range<usize>, ActionSpec)> = Vec::new();
    if let Some(c) = &r.reply {
        let code = *c.get_ref();
        if !(300..=699).contains(&code) {
            return Err(err(
                Some(c.span()),
                &key("reply"),
                "must be a final status that refuses, 300-699".into(),
            ));
        }
        let reason = match &r.reason {
            Some(t) => {
                let t = t.get_ref();
                if t.is_empty() || t.bytes().any(|b| b < b' ' || b == 0x7f) {
                    return Err(err(
                        Some(r.reason.as_ref().map_or(c.span(), |r| r.span())),
                        &key("reason"),
                        "must be a non-empty line of text".into(),
                    ));
                }
                t.clone()
            }
            None => trunkline_parser::reason_phrase(code).to_string(),
        };
        actions.push(("reply", c.span(), ActionSpec::Reply { code, reason }));
    } else if let Some(t) = &r.reason {
        return Err(err(
            Some(t.span()),
            &key("reason"),
            "goes with `reply`".into(),
        ));
    }
    for (flag, k, a) in [
        (&r.drop, "drop", ActionSpec::Drop),
        (&r.accept, "accept", ActionSpec::Accept),
    ] {
        match flag {
            Some(v) if *v.get_ref() => actions.push((k, v.span(), a)),
            Some(v) => {
                return Err(err(
                    Some(v.span()),
                    &key(k),
                    format!("only `{k} = true` is an action (leave it out otherwise)"),
                ));
            }
            None => {}
        }
    }
    if let Some(a) = &r.authenticate {
        if a.get_ref() != "digest" {
            return Err(err(
                Some(a.span()),
                &key("authenticate"),
                format!("`{}`: the only scheme is \"digest\"", a.get_ref()),
            ));
        }
        actions.push(("authenticate", a.span(), ActionSpec::Authenticate));
    }
    for (v, k) in [
        (&r.set_group, "set_group"),
        (&r.rate_limit, "rate_limit"),
        (&r.dispatch, "dispatch"),
    ] {
        if let Some(v) = v {
            let name = v.get_ref().trim();
            if name.is_empty() {
                return Err(err(Some(v.span()), &key(k), "must name one".into()));
            }
            let a = match k {
                "set_group" => ActionSpec::SetGroup(name.to_string()),
                "dispatch" => ActionSpec::Dispatch(name.to_string()),
                _ => ActionSpec::RateLimit(name.to_string()),
            };
            actions.push((k, v.span(), a));
        }
    }
    match &r.topology_hiding {
        Some(v) if *v.get_ref() => {
            actions.push(("topology_hiding", v.span(), ActionSpec::HideTopology));
        }
        Some(v) => {
            return Err(err(
                Some(v.span()),
                &key("topology_hiding"),
                "only `topology_hiding = true` is an action (leave it out otherwise)".into(),
            ));
        }
        None => {}
    }
    if let Some(m) = &r.max_duration_s {
        if *m.get_ref() == 0 {
            return Err(err(
                Some(m.span()),
                &key("max_duration_s"),
                "must be at least 1".into(),
            ));
        }
        actions.push((
            "max_duration_s",
            m.span(),
            ActionSpec::MaxDuration(*m.get_ref()),
        ));
    }
    if let Some((span, e)) = check_edit(i, r, err)? {
        actions.push(("add_header", span, ActionSpec::Edit(e)));
    }
    match actions.len() {
        1 => Ok(actions.pop().expect("one").2),
        0 => Err(err(
            Some(rule.span()),
            &format!("policy[{i}]"),
            "needs one action: reply, drop, accept, authenticate, set_group, rate_limit, \
             dispatch, max_duration_s, topology_hiding, or header edits (add_header, remove_header, replace_header, set_from_user, \
             set_from_display, set_to_user, set_pai)"
                .into(),
        )),
        _ => Err(err(
            Some(actions[1].1.clone()),
            &key(actions[1].0),
            format!(
                "one action per rule: `{}` and `{}` (write two rules)",
                actions[0].0, actions[1].0
            ),
        )),
    }
}

/// The rule's header edits, if it has any (together they are one
/// action): each checked, names against [`PROTECTED_HEADERS`].
fn check_edit<E>(
    i: usize,
    r: &FileRule,
    err: ErrFn<'_, E>,
) -> Result<Option<(Range<usize>, EditSpec)>, E> {
    let key = |k: &str| format!("policy[{i}].{k}");
    let mut e = EditSpec::default();
    let mut span: Option<Range<usize>> = None;
    let mut at = |s: Range<usize>| {
        span.get_or_insert(s);
    };
    let header_name = |n: &Spanned<String>, k: &str| -> Result<String, E> {
        let t = n.get_ref().trim();
        if t.is_empty() || !t.bytes().all(is_token_char) {
            return Err(err(
                Some(n.span()),
                &key(k),
                format!("`{t}` is not a header name"),
            ));
        }
        if PROTECTED_HEADERS.contains(&t.to_ascii_lowercase().as_str()) {
            return Err(err(
                Some(n.span()),
                &key(k),
                format!("`{t}` is the proxy's to write (From and To: set_from_user, set_to_user)"),
            ));
        }
        Ok(t.to_string())
    };
    let line = |v: &Spanned<String>, k: &str| -> Result<String, E> {
        let t = v.get_ref().trim();
        if t.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(err(
                Some(v.span()),
                &key(k),
                "must be one line of text".into(),
            ));
        }
        Ok(t.to_string())
    };
    if let Some(list) = &r.add_header {
        at(list.span());
        if list.get_ref().is_empty() {
            return Err(err(
                Some(list.span()),
                &key("add_header"),
                "needs header lines".into(),
            ));
        }
        for l in list.get_ref() {
            let Some((name, value)) = l.get_ref().split_once(':') else {
                return Err(err(
                    Some(l.span()),
                    &key("add_header"),
                    format!("`{}`: write `Name: value`", l.get_ref()),
                ));
            };
            let name = Spanned::new(l.span(), name.to_string());
            let value = Spanned::new(l.span(), value.to_string());
            e.add.push((
                header_name(&name, "add_header")?,
                line(&value, "add_header")?,
            ));
        }
    }
    if let Some(re) = &r.remove_header {
        at(re.span());
        check_regex(re.get_ref()).map_err(|m| err(Some(re.span()), &key("remove_header"), m))?;
        let full = format!("(?i-u)^(?:{})$", re.get_ref());
        let compiled = super::compile_patterns(&[&full])
            .map_err(|m| err(Some(re.span()), &key("remove_header"), m.to_string()))?;
        if let Some(p) = PROTECTED_HEADERS
            .iter()
            .find(|p| compiled.is_match(p.as_bytes()))
        {
            return Err(err(
                Some(re.span()),
                &key("remove_header"),
                format!("matches `{p}`, the proxy's own header"),
            ));
        }
        e.remove = Some(full);
    }
    if let Some(rep) = &r.replace_header {
        at(rep.span());
        let rp = rep.get_ref();
        e.replace = Some((
            header_name(&rp.name, "replace_header.name")?,
            line(&rp.value, "replace_header.value")?,
        ));
    }
    for (v, k, slot) in [
        (&r.set_from_user, "set_from_user", &mut e.from_user),
        (&r.set_to_user, "set_to_user", &mut e.to_user),
    ] {
        if let Some(v) = v {
            at(v.span());
            let u = v.get_ref();
            let ok = !u.is_empty()
                && u.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/%#".contains(&b));
            if !ok {
                return Err(err(
                    Some(v.span()),
                    &key(k),
                    format!("`{u}` is not a SIP URI user"),
                ));
            }
            *slot = Some(u.clone());
        }
    }
    if let Some(v) = &r.set_from_display {
        at(v.span());
        let d = line(v, "set_from_display")?;
        if d.contains('"') || d.contains('\\') {
            return Err(err(
                Some(v.span()),
                &key("set_from_display"),
                "no quotes or backslashes (it is written quoted)".into(),
            ));
        }
        e.from_display = Some(d);
    }
    if let Some(v) = &r.set_pai {
        at(v.span());
        let p = line(v, "set_pai")?;
        if trunkline_parser::NameAddr::parse(p.as_bytes()).is_err() {
            return Err(err(
                Some(v.span()),
                &key("set_pai"),
                format!("`{p}` is not a name-addr (`<sip:+15551234567@example.com>`)"),
            ));
        }
        e.pai = Some(p);
    }
    Ok(span.map(|s| (s, e)))
}

/// RFC 3261 §25.1 token characters (header names).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether `pattern` compiles as the policy compiles it; the error says
/// why not.
fn check_regex(pattern: &str) -> Result<(), String> {
    super::compile_patterns(&[pattern])
        .map(|_| ())
        .map_err(|e| e.to_string())
}
