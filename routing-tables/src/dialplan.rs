//! Dialplan: per-group number normalisation before the lookup (`00` → `+`,
//! national → E.164).
//!
//! Rules of a group are tried in priority order (lower first, then file
//! order); the first that matches rewrites the number and the search stops,
//! as OpenSIPS' `dp_translate` does. A `prefix` rule matches numbers that
//! start with its pattern and replaces that prefix with `replace`. A `regex`
//! rule replaces the regex's first match with `replace`, in which `$0`..`$9`
//! name capture groups and `$$` is a `$`.
//!
//! Why both: most normalisation is a prefix swap, which needs no regex and
//! costs a byte compare. Regexes cannot live in the archive (a compiled
//! `Regex` is not plain data), so their patterns are stored as text and
//! compiled once per [`Snapshot::open`](crate::Snapshot::open), off the
//! call path; the builder compiles them too, so a bad regex fails the
//! build with its file and line. Application writes into a caller-owned
//! [`DialplanScratch`] and allocates nothing once the scratch has grown.

use regex::{CaptureLocations, Regex, RegexBuilder};

use crate::format::ArchivedDialplanRule;

/// Regexes larger than this (compiled) are refused: a snapshot is only
/// semi-trusted.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A replacement, split into literal text and group references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Group(usize),
}

impl Template {
    /// Parses `replace`; for a prefix rule (`groups == None`) it is literal.
    pub(crate) fn parse(replace: &str, groups: Option<usize>) -> Result<Template, String> {
        let Some(groups) = groups else {
            return Ok(Template {
                parts: vec![Part::Literal(replace.to_string())],
            });
        };
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = replace.chars();
        while let Some(c) = chars.next() {
            if c != '$' {
                lit.push(c);
                continue;
            }
            match chars.next() {
                Some('$') => lit.push('$'),
                Some(d @ '0'..='9') => {
                    let n = d as usize - '0' as usize;
                    if n >= groups {
                        return Err(format!(
                            "replacement refers to ${n}, the regex has {} group(s)",
                            groups - 1
                        ));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Group(n));
                }
                _ => return Err("`$` must be followed by a digit or `$`".to_string()),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Ok(Template { parts })
    }
}

/// Compiles a dialplan regex with the size limit.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// One rule ready to apply.
#[derive(Debug)]
pub(crate) struct Compiled {
    regex: Option<Regex>,
    template: Template,
}

impl Compiled {
    pub(crate) fn new(rule: &ArchivedDialplanRule) -> Result<Compiled, String> {
        if rule.regex {
            let regex = compile(rule.pattern.as_str())?;
            let template = Template::parse(rule.replace.as_str(), Some(regex.captures_len()))?;
            Ok(Compiled {
                regex: Some(regex),
                template,
            })
        } else {
            Ok(Compiled {
                regex: None,
                template: Template::parse(rule.replace.as_str(), None)?,
            })
        }
    }
}

/// The compiled dialplan of one snapshot, parallel to its rules.
#[derive(Debug, Default)]
pub(crate) struct Dialplan {
    pub(crate) rules: Vec<Compiled>,
    /// Distinguishes snapshots, so a scratch's capture buffers are rebuilt
    /// when a shard moves to a new one.
    pub(crate) stamp: u64,
}

/// Caller-owned buffers for [`Snapshot::apply_dialplan`](crate::Snapshot::apply_dialplan):
/// one per shard, reused for every call.
#[derive(Debug, Default)]
pub struct DialplanScratch {
    out: String,
    locs: Vec<Option<CaptureLocations>>,
    stamp: u64,
}

/// The result of the dialplan: the number to look up and the rule that
/// produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialled<'a> {
    /// The normalised number (the input when no rule matched).
    pub number: &'a str,
    /// Index into the table's `dialplan` of the rule applied.
    pub rule: Option<u32>,
}

impl Dialplan {
    /// Applies the rules `range` of the table's dialplan to `number`.
    pub(crate) fn apply<'a>(
        &self,
        rules: &[ArchivedDialplanRule],
        range: std::ops::Range<usize>,
        number: &'a str,
        scratch: &'a mut DialplanScratch,
    ) -> Dialled<'a> {
        if scratch.stamp != self.stamp {
            scratch.locs.clear();
            scratch.stamp = self.stamp;
        }
        if scratch.locs.len() < self.rules.len() {
            scratch.locs.resize_with(self.rules.len(), || None);
        }
        for i in range {
            let (Some(rule), Some(compiled)) = (rules.get(i), self.rules.get(i)) else {
                break;
            };
            let out = &mut scratch.out;
            match &compiled.regex {
                None => {
                    let Some(rest) = number.strip_prefix(rule.pattern.as_str()) else {
                        continue;
                    };
                    out.clear();
                    out.push_str(rule.replace.as_str());
                    out.push_str(rest);
                }
                Some(regex) => {
                    let locs = scratch.locs[i].get_or_insert_with(|| regex.capture_locations());
                    let Some(m) = regex.captures_read(locs, number) else {
                        continue;
                    };
                    out.clear();
                    out.push_str(&number[..m.start()]);
                    for part in &compiled.template.parts {
                        match part {
                            Part::Literal(s) => out.push_str(s),
                            Part::Group(g) => {
                                if let Some((a, b)) = locs.get(*g) {
                                    out.push_str(&number[a..b]);
                                }
                            }
                        }
                    }
                    out.push_str(&number[m.end()..]);
                }
            }
            return Dialled {
                number: &scratch.out,
                rule: Some(i as u32),
            };
        }
        Dialled { number, rule: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(Template::parse("+44$1", Some(2)).is_ok());
        assert!(Template::parse("+44$2", Some(2)).is_err());
        assert!(Template::parse("$x", Some(2)).is_err());
        assert_eq!(
            Template::parse("a$$b", Some(1)).unwrap().parts,
            vec![Part::Literal("a$b".into())]
        );
        assert_eq!(
            Template::parse("$1", None).unwrap().parts,
            vec![Part::Literal("$1".into())]
        );
    }
}
