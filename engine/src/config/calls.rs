//! The call-control sections of the configuration file: `[dialogs]`,
//! `[cdr]`, `[[limit]]` and `[routing.quality]` (documented with the
//! others in the parent module).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Config, ConfigError, ErrAt, FileConfig};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DialogsSection {
    pub(super) enabled: Option<bool>,
    pub(super) max_duration_s: Option<Spanned<u64>>,
    pub(super) check: Option<bool>,
    pub(super) max_calls: Option<Spanned<usize>>,
    pub(super) journal: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QualitySection {
    pub(super) min_asr: Option<Spanned<f64>>,
    pub(super) min_ner: Option<Spanned<f64>>,
    pub(super) max_pdd_ms: Option<Spanned<u64>>,
    pub(super) min_attempts: Option<Spanned<u32>>,
    pub(super) window_s: Option<Spanned<u64>>,
    pub(super) demote_s: Option<Spanned<u64>>,
}

/// `[routing.quality]`: the thresholds under which a gateway is demoted.
pub(super) fn parse_quality(
    q: &Spanned<QualitySection>,
    err: ErrAt<'_>,
) -> Result<crate::lcr::quality::QualityConfig, ConfigError> {
    let s = q.get_ref();
    let mut c = crate::lcr::quality::QualityConfig::default();
    for (v, k, slot) in [
        (&s.min_asr, "routing.quality.min_asr", &mut c.min_asr),
        (&s.min_ner, "routing.quality.min_ner", &mut c.min_ner),
    ] {
        if let Some(v) = v {
            if !(0.0..=1.0).contains(v.get_ref()) {
                return Err(err(
                    Some(v.span()),
                    Some(k),
                    "must be within 0.0..=1.0".into(),
                ));
            }
            *slot = Some(*v.get_ref());
        }
    }
    if let Some(v) = &s.max_pdd_ms {
        c.max_pdd = Some(Duration::from_millis(*v.get_ref()));
    }
    if let Some(v) = &s.min_attempts {
        if *v.get_ref() == 0 {
            return Err(err(
                Some(v.span()),
                Some("routing.quality.min_attempts"),
                "must be at least 1".into(),
            ));
        }
        c.min_attempts = *v.get_ref();
    }
    for (v, k, slot) in [
        (&s.window_s, "routing.quality.window_s", &mut c.window),
        (&s.demote_s, "routing.quality.demote_s", &mut c.demote_for),
    ] {
        if let Some(v) = v {
            if !(10..=86_400).contains(v.get_ref()) {
                return Err(err(
                    Some(v.span()),
                    Some(k),
                    "must be within 10..=86400 s".into(),
                ));
            }
            *slot = Duration::from_secs(*v.get_ref());
        }
    }
    if c.min_asr.is_none() && c.min_ner.is_none() && c.max_pdd.is_none() {
        return Err(err(
            Some(q.span()),
            Some("routing.quality"),
            "needs a threshold: min_asr, min_ner or max_pdd_ms".into(),
        ));
    }
    Ok(c)
}

/// Call control: `[dialogs]`, `[cdr]` (paths relative to `path`'s
/// folder) and `[[limit]]`; calls are tracked when any of them asks.
pub(super) fn parse_calls(
    file: &FileConfig,
    path: &Path,
    cfg: &mut Config,
    err: ErrAt<'_>,
) -> Result<(), ConfigError> {
    use crate::proxy::calls::DialogSettings;
    use trunkline_shards::dialog::DialogConfig;
    let dir = path.parent().unwrap_or(Path::new(""));
    if let Some(c) = &file.cdr {
        let mut cdr = c.get_ref().clone();
        cdr.path = cdr.path.map(|p| dir.join(p));
        cdr.spool = cdr.spool.map(|p| dir.join(p));
        if let Err(e) = cdr.validate() {
            return Err(err(Some(c.span()), Some("cdr"), e.to_string()));
        }
        cfg.cdr = cdr;
    }
    for (i, l) in file.limit.iter().enumerate() {
        cfg.call_limits.push(l.get_ref().clone());
        if let Err(e) = crate::security::call_limits::CallLimits::new(
            &cfg.call_limits,
            std::time::Instant::now(),
        ) {
            return Err(err(
                Some(l.span()),
                Some(&format!("limit[{i}]")),
                e.to_string(),
            ));
        }
    }
    let d = file.dialogs.as_ref().map(Spanned::get_ref);
    let mut table = DialogConfig::default();
    if let Some(s) = d.and_then(|d| d.max_duration_s.as_ref()) {
        if *s.get_ref() == 0 {
            return Err(err(
                Some(s.span()),
                Some("dialogs.max_duration_s"),
                "must be at least 1 (leave it out for no maximum)".into(),
            ));
        }
        table.max_duration = Some(Duration::from_secs(*s.get_ref()));
    }
    if let Some(m) = d.and_then(|d| d.max_calls.as_ref()) {
        if *m.get_ref() == 0 {
            return Err(err(
                Some(m.span()),
                Some("dialogs.max_calls"),
                "must be at least 1".into(),
            ));
        }
        cfg.max_calls = *m.get_ref();
    }
    let needed = cfg.cdr.enabled() || !cfg.call_limits.is_empty() || cfg.proxy.quality.is_some();
    let enabled = d.and_then(|d| d.enabled).unwrap_or(d.is_some() || needed);
    if !enabled && needed {
        return Err(err(
            file.dialogs.as_ref().map(Spanned::span),
            Some("dialogs.enabled"),
            "CDRs, call limits and quality routing need the calls tracked: leave `enabled` \
             out or true"
                .into(),
        ));
    }
    if let Some(j) = d.and_then(|d| d.journal.as_ref()) {
        if !enabled {
            return Err(err(
                Some(j.span()),
                Some("dialogs.journal"),
                "the journal needs the calls tracked: leave `enabled` out or true".into(),
            ));
        }
        if j.get_ref().is_empty() {
            return Err(err(
                Some(j.span()),
                Some("dialogs.journal"),
                "an empty path (leave it out for no journal)".into(),
            ));
        }
        cfg.journal = Some(dir.join(j.get_ref()));
    }
    cfg.proxy.dialogs = enabled.then_some(DialogSettings {
        table,
        check: d.and_then(|d| d.check).unwrap_or(false),
        cdr: cfg.cdr.enabled(),
    });
    Ok(())
}
