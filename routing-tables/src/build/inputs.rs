//! Reading and validating each CSV file into the builder's working form.
//! Every record is checked; errors are collected, not returned at the first.

use crate::error::{BuildErrorKind, BuildErrors};
use crate::format::{CARRIER_BIT, Carrier, DialplanRule, Gateway, Member, Order, Transport};
use crate::key::MAX_DIGITS;
use crate::source::{Source, Table, bad, check_id, parse_bool, parse_num};
use crate::window::Window;
use crate::zone::Zones;
use std::collections::HashMap;

use super::fields::{parse_address, parse_cidr, parse_prefix};

/// Column lists; the first `n` of each are required.
pub(crate) const GATEWAY_COLUMNS: &[&str] = &[
    "id",
    "address",
    "transport",
    "weight",
    "probing",
    "cps_cap",
    "concurrent_cap",
    "strip",
    "prefix",
    "attrs",
];
pub(crate) const CARRIER_COLUMNS: &[&str] = &["id", "gateways", "order", "use"];
pub(crate) const RULE_COLUMNS: &[&str] =
    &["group", "prefix", "targets", "window", "priority", "attrs"];
pub(crate) const DIALPLAN_COLUMNS: &[&str] = &["group", "match", "pattern", "replace", "priority"];
pub(crate) const ACL_COLUMNS: &[&str] = &["cidr", "group"];

/// A rule before indexing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRule {
    pub key: u64,
    /// Provisional group * 2 + (1 if `+`), remapped to final groups later.
    pub ns: u32,
    pub priority: i32,
    pub targets: u32,
    pub attrs: u32,
    pub line: u32,
    pub window: Window,
    /// 0 = UTC, else an index of `Inputs::zones`.
    pub zone: u16,
    pub len: u8,
}

/// An ACL entry before indexing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawAcl {
    pub start: u128,
    pub len: u8,
    pub group: u32,
    pub line: u32,
}

/// Everything read, with provisional group numbers.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub gateways: Vec<Gateway>,
    pub carriers: Vec<Carrier>,
    pub members: Vec<Member>,
    pub target_offsets: Vec<u32>,
    pub targets: Vec<u32>,
    pub attrs: Vec<String>,
    /// Provisional group names, in order of first appearance.
    pub groups: Vec<String>,
    pub rules: Vec<RawRule>,
    /// (provisional group, rule).
    pub dialplan: Vec<(u32, DialplanRule)>,
    pub acl: Vec<RawAcl>,
    /// Source names and digests.
    pub digests: Vec<(String, u64)>,
    /// Time zones named by windows (set up with the build time first).
    pub zones: Zones,
}

/// Ids of gateways and carriers: index, or carrier index with CARRIER_BIT.
type Ids = HashMap<String, u32>;

impl Inputs {
    fn group(&mut self, ids: &mut HashMap<String, u32>, name: &str) -> u32 {
        if let Some(&g) = ids.get(name) {
            return g;
        }
        let g = self.groups.len() as u32;
        self.groups.push(name.to_string());
        ids.insert(name.to_string(), g);
        g
    }

    fn finish(&mut self, role: &str, table: Table) {
        let name = table.name.display().to_string();
        self.digests
            .push((format!("{role}={name}"), table.digest()));
    }

    /// Reads gateways; sorts them by id. Returns the id map.
    pub(crate) fn read_gateways(&mut self, src: Source, errs: &mut BuildErrors) -> Ids {
        let mut ids = Ids::new();
        let Some(mut t) = open(src, GATEWAY_COLUMNS, 2, errs) else {
            return ids;
        };
        let mut rec = csv::StringRecord::new();
        let mut lines = HashMap::new();
        while let Some(line) = t.next_or_report(&mut rec, errs) {
            match gateway(&t, &rec) {
                Ok(gw) => {
                    if let Some(first) = lines.insert(gw.id.clone(), line) {
                        errs.push(&t.name, line, dup(&gw.id, &t.name, first));
                    } else {
                        self.gateways.push(gw);
                    }
                }
                Err(kind) => errs.push(&t.name, line, kind),
            }
        }
        self.gateways.sort_by(|a, b| a.id.cmp(&b.id));
        for (i, g) in self.gateways.iter().enumerate() {
            ids.insert(g.id.clone(), i as u32);
        }
        self.finish("gateways", t);
        ids
    }

    /// Reads carriers (ids share the gateways' namespace); adds them to `ids`.
    pub(crate) fn read_carriers(&mut self, src: Source, ids: &mut Ids, errs: &mut BuildErrors) {
        let Some(mut t) = open(src, CARRIER_COLUMNS, 2, errs) else {
            return;
        };
        let mut rec = csv::StringRecord::new();
        let mut rows: Vec<(Carrier, Vec<Member>)> = Vec::new();
        let mut lines: HashMap<String, u64> = HashMap::new();
        while let Some(line) = t.next_or_report(&mut rec, errs) {
            match carrier(&t, &rec, ids) {
                Ok(row) => {
                    let id = &row.0.id;
                    if ids.contains_key(id) {
                        errs.push(&t.name, line, dup(id, "the gateways file", 0));
                    } else if let Some(first) = lines.insert(id.clone(), line) {
                        errs.push(&t.name, line, dup(id, &t.name, first));
                    } else {
                        rows.push(row);
                    }
                }
                Err(kind) => errs.push(&t.name, line, kind),
            }
        }
        rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        for (i, (mut c, members)) in rows.into_iter().enumerate() {
            c.members_start = self.members.len() as u32;
            // No `=weight` in the list: the gateway's own weight.
            self.members.extend(members.into_iter().map(|mut m| {
                if m.weight == u32::MAX {
                    m.weight = self.gateways[m.gateway as usize].weight;
                }
                m
            }));
            c.members_end = self.members.len() as u32;
            ids.insert(c.id.clone(), i as u32 | CARRIER_BIT);
            self.carriers.push(c);
        }
        self.finish("carriers", t);
    }

    /// Reads rules.
    pub(crate) fn read_rules(
        &mut self,
        src: Source,
        ids: &Ids,
        groups: &mut HashMap<String, u32>,
        errs: &mut BuildErrors,
    ) {
        let Some(mut t) = open(src, RULE_COLUMNS, 3, errs) else {
            return;
        };
        let mut rec = csv::StringRecord::new();
        // Caches keyed by the field as written: decks repeat a few target
        // lists, windows and attribute sets over millions of rules.
        let mut target_cache: HashMap<String, Result<u32, BuildErrorKind>> = HashMap::new();
        let mut list_ids: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut window_cache: HashMap<String, Result<(Window, u16), BuildErrorKind>> =
            HashMap::new();
        let mut attr_ids: HashMap<String, u32> = HashMap::new();
        self.attrs.push(String::new());
        attr_ids.insert(String::new(), 0);
        self.target_offsets.push(0);
        while let Some(line) = t.next_or_report(&mut rec, errs) {
            if line > u64::from(u32::MAX) {
                errs.push(&t.name, line, BuildErrorKind::TooMany("lines"));
                break;
            }
            let group = t.get(&rec, 0);
            let prefix = t.get(&rec, 1);
            let targets = t.get(&rec, 2);
            let window = t.get(&rec, 3);
            let priority = t.get(&rec, 4);
            let attrs = t.get(&rec, 5);
            let mut ok = true;
            let mut fail = |kind| {
                errs.push(&t.name, line, kind);
                ok = false;
            };
            if group.is_empty() {
                fail(bad("group", group, "empty"));
            }
            let parsed = parse_prefix(prefix);
            if let Err(k) = &parsed {
                fail(k.clone());
            }
            let priority = parse_num("priority", priority, 0i32).unwrap_or_else(|k| {
                fail(k);
                0
            });
            let zones = &mut self.zones;
            let (window, zone) = window_cache
                .entry(window.to_string())
                .or_insert_with(|| {
                    let (w, zone) =
                        Window::parse_zoned(window).map_err(|r| bad("window", window, r))?;
                    Ok((w, zone.map(|z| zones.resolve(z)).transpose()?.unwrap_or(0)))
                })
                .clone()
                .unwrap_or_else(|k| {
                    fail(k);
                    (Window::ALWAYS, 0)
                });
            let list = match target_cache.get(targets) {
                Some(r) => r.clone(),
                None => {
                    let r = resolve_targets(targets, ids).map(|list| {
                        let next = list_ids.len() as u32;
                        *list_ids.entry(list.clone()).or_insert_with(|| {
                            self.targets.extend(&list);
                            self.target_offsets.push(self.targets.len() as u32);
                            next
                        })
                    });
                    target_cache.insert(targets.to_string(), r.clone());
                    r
                }
            }
            .unwrap_or_else(|k| {
                fail(k);
                0
            });
            let attrs = match attr_ids.get(attrs) {
                Some(&a) => a,
                None => {
                    let a = self.attrs.len() as u32;
                    self.attrs.push(attrs.to_string());
                    attr_ids.insert(attrs.to_string(), a);
                    a
                }
            };
            if !ok {
                continue;
            }
            let Ok((plus, key, len)) = parsed else {
                continue;
            };
            let g = self.group(groups, group);
            self.rules.push(RawRule {
                key,
                ns: g * 2 + u32::from(plus),
                priority,
                targets: list,
                attrs,
                line: line as u32,
                window,
                zone,
                len,
            });
        }
        self.finish("rules", t);
    }

    /// Reads dialplan rules; regexes are compiled to check them.
    pub(crate) fn read_dialplan(
        &mut self,
        src: Source,
        groups: &mut HashMap<String, u32>,
        errs: &mut BuildErrors,
    ) {
        let Some(mut t) = open(src, DIALPLAN_COLUMNS, 4, errs) else {
            return;
        };
        let mut rec = csv::StringRecord::new();
        while let Some(line) = t.next_or_report(&mut rec, errs) {
            let group = t.get(&rec, 0);
            let kind = t.get(&rec, 1);
            let pattern = t.get(&rec, 2);
            let replace = t.get(&rec, 3);
            let checked = (|| {
                if group.is_empty() {
                    return Err(bad("group", group, "empty"));
                }
                let priority = parse_num("priority", t.get(&rec, 4), 0i32)?;
                let regex = match kind.to_ascii_lowercase().as_str() {
                    "prefix" => false,
                    "regex" => true,
                    _ => return Err(bad("match", kind, "expected prefix or regex")),
                };
                if pattern.is_empty() {
                    return Err(bad("pattern", pattern, "empty"));
                }
                if regex {
                    let re = crate::dialplan::compile(pattern)
                        .map_err(|e| BuildErrorKind::BadRegex(format!("`{pattern}`: {e}")))?;
                    crate::dialplan::Template::parse(replace, Some(re.captures_len()))
                        .map_err(|e| BuildErrorKind::BadRegex(format!("`{replace}`: {e}")))?;
                }
                Ok(DialplanRule {
                    priority,
                    regex,
                    pattern: pattern.to_string(),
                    replace: replace.to_string(),
                    line: line as u32,
                })
            })();
            match checked {
                Ok(rule) => {
                    let g = self.group(groups, group);
                    self.dialplan.push((g, rule));
                }
                Err(k) => errs.push(&t.name, line, k),
            }
        }
        self.finish("dialplan", t);
    }

    /// Reads source ACLs.
    pub(crate) fn read_acl(
        &mut self,
        src: Source,
        groups: &mut HashMap<String, u32>,
        errs: &mut BuildErrors,
    ) {
        let Some(mut t) = open(src, ACL_COLUMNS, 2, errs) else {
            return;
        };
        let mut rec = csv::StringRecord::new();
        while let Some(line) = t.next_or_report(&mut rec, errs) {
            let group = t.get(&rec, 1);
            let cidr = t.get(&rec, 0);
            if group.is_empty() {
                errs.push(&t.name, line, bad("group", group, "empty"));
                continue;
            }
            match parse_cidr(cidr) {
                Ok((start, len)) => {
                    let g = self.group(groups, group);
                    self.acl.push(RawAcl {
                        start,
                        len,
                        group: g,
                        line: line as u32,
                    });
                }
                Err(k) => errs.push(&t.name, line, k),
            }
        }
        self.finish("acl", t);
    }
}

fn open(
    src: Source,
    columns: &'static [&'static str],
    required: usize,
    errs: &mut BuildErrors,
) -> Option<Table> {
    let expected = match columns[0] {
        "id" if columns.len() > 4 => {
            "id,address,transport,weight,probing,cps_cap,concurrent_cap,strip,prefix,attrs"
        }
        "id" => "id,gateways,order,use",
        "group" if columns[1] == "prefix" => "group,prefix,targets,window,priority,attrs",
        "group" => "group,match,pattern,replace,priority",
        _ => "cidr,group",
    };
    match Table::open(src, columns, required, expected) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(&e.file, e.line, e.kind);
            None
        }
    }
}

fn dup(id: &str, file: impl AsRef<std::path::Path>, line: u64) -> BuildErrorKind {
    BuildErrorKind::DuplicateId {
        id: id.to_string(),
        first: if line == 0 {
            file.as_ref().display().to_string()
        } else {
            format!("{}:{line}", file.as_ref().display())
        },
    }
}

fn gateway(t: &Table, rec: &csv::StringRecord) -> Result<Gateway, BuildErrorKind> {
    let id = t.get(rec, 0);
    check_id("id", id)?;
    let (host, port, port_given) = parse_address(t.get(rec, 1))?;
    let transport = match t.get(rec, 2).to_ascii_lowercase().as_str() {
        "" | "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        other => return Err(bad("transport", other, "expected udp, tcp or tls")),
    };
    let strip: u8 = parse_num("strip", t.get(rec, 7), 0)?;
    if usize::from(strip) > MAX_DIGITS {
        return Err(bad("strip", t.get(rec, 7), "at most 18"));
    }
    let prefix = t.get(rec, 8);
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+*#".contains(&b))
    {
        return Err(bad("prefix", prefix, "digits, + * # only"));
    }
    Ok(Gateway {
        id: id.to_string(),
        host,
        port,
        port_given,
        transport,
        weight: parse_num("weight", t.get(rec, 3), 1)?,
        probing: parse_bool("probing", t.get(rec, 4))?,
        cps_cap: parse_num("cps_cap", t.get(rec, 5), 0)?,
        concurrent_cap: parse_num("concurrent_cap", t.get(rec, 6), 0)?,
        strip,
        prefix: prefix.to_string(),
        attrs: t.get(rec, 9).to_string(),
    })
}

fn carrier(
    t: &Table,
    rec: &csv::StringRecord,
    ids: &Ids,
) -> Result<(Carrier, Vec<Member>), BuildErrorKind> {
    let id = t.get(rec, 0);
    check_id("id", id)?;
    let order = match t.get(rec, 2).to_ascii_lowercase().as_str() {
        "" | "ordered" => Order::Ordered,
        "weighted" => Order::Weighted,
        o => return Err(bad("order", o, "expected ordered or weighted")),
    };
    let first_only = match t.get(rec, 3).to_ascii_lowercase().as_str() {
        "" | "all" => false,
        "first" => true,
        u => return Err(bad("use", u, "expected first or all")),
    };
    let list = t.get(rec, 1);
    let mut members = Vec::new();
    for item in list.split(';').map(str::trim) {
        if item.is_empty() {
            return Err(bad("gateways", list, "empty gateway id in the list"));
        }
        let (gw, weight) = match item.split_once('=') {
            Some((g, w)) => (g.trim(), Some(parse_num("gateways", w.trim(), 0u32)?)),
            None => (item, None),
        };
        match ids.get(gw) {
            Some(&g) if g & CARRIER_BIT == 0 => members.push(Member {
                gateway: g,
                weight: weight.unwrap_or(u32::MAX),
            }),
            _ => return Err(BuildErrorKind::UnknownGateway(gw.to_string())),
        }
    }
    Ok((
        Carrier {
            id: id.to_string(),
            order,
            first_only,
            members_start: 0,
            members_end: 0,
        },
        members,
    ))
}

/// Resolves `a;b;c` to gateway/carrier indexes.
fn resolve_targets(s: &str, ids: &Ids) -> Result<Vec<u32>, BuildErrorKind> {
    if s.is_empty() {
        return Err(bad("targets", s, "empty"));
    }
    s.split(';')
        .map(str::trim)
        .map(|id| {
            ids.get(id)
                .copied()
                .ok_or_else(|| BuildErrorKind::UnknownTarget(id.to_string()))
        })
        .collect()
}
