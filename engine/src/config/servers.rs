//! The server-pool sections of the configuration file: `[[dispatcher]]`,
//! the dispatcher CSV (`dispatcher_file`) and `[registrar]`, documented
//! with the others in the parent module.
//!
//! The CSV has one destination per line, `set,uri,weight,priority,attrs`
//! (a header line starting `set,` and `#` comments are skipped; weight,
//! priority and attrs may be empty). A line's set is the `[[dispatcher]]`
//! of that id when there is one (its destinations come first, then the
//! file's), else a new set with the defaults (`round-robin`, probed every
//! 10 s). `attrs` is the operator's free text, not interpreted.

use std::path::Path;

use toml::Spanned;

use super::{Config, ConfigError, ErrAt, FileConfig};
use crate::dispatch::{Algorithm, DispatcherConfig, Dispatchers};

/// `[[dispatcher]]` and `dispatcher_file`: the sets, checked.
pub(super) fn parse_dispatchers(
    file: &FileConfig,
    path: &Path,
    cfg: &mut Config,
    err: ErrAt<'_>,
) -> Result<(), ConfigError> {
    let mut sets: Vec<DispatcherConfig> = file
        .dispatcher
        .iter()
        .map(|d| d.get_ref().clone())
        .collect();
    if let Some(f) = &file.dispatcher_file {
        let csv = path.parent().unwrap_or(Path::new("")).join(f.get_ref());
        read_csv(&csv, &mut sets).map_err(|e| err(Some(f.span()), Some("dispatcher_file"), e))?;
        cfg.dispatcher_file = Some(csv);
    }
    // Each set checked, naming the table it came from.
    for (i, set) in sets.iter().enumerate() {
        if let Err(e) = Dispatchers::check(std::slice::from_ref(set)) {
            let span = file.dispatcher.get(i).map(Spanned::span);
            return Err(err(span, Some(&format!("dispatcher[{i}]")), e.to_string()));
        }
        if let Some(j) = sets[..i].iter().position(|o| o.id == set.id) {
            let span = file.dispatcher.get(i).map(Spanned::span);
            return Err(err(
                span,
                Some(&format!("dispatcher[{i}].id")),
                format!("`{}` is the id of dispatcher[{j}] too", set.id),
            ));
        }
    }
    for (i, r) in cfg.policy.iter().enumerate() {
        if let crate::policy::ActionSpec::Dispatch(id) = &r.action {
            if !sets.iter().any(|s| s.id == *id) {
                return Err(err(
                    file.policy.get(i).map(Spanned::span),
                    Some(&format!("policy[{i}].dispatch")),
                    format!("no [[dispatcher]] has id `{id}`"),
                ));
            }
        }
    }
    cfg.dispatchers = sets;
    Ok(())
}

/// `[registrar]`: checked, its snapshot directory made relative to the
/// configuration file; it needs stateful mode (forking is per
/// transaction).
pub(super) fn parse_registrar(
    file: &FileConfig,
    path: &Path,
    cfg: &mut Config,
    err: ErrAt<'_>,
) -> Result<(), ConfigError> {
    let Some(r) = &file.registrar else {
        return Ok(());
    };
    let mut reg = r.get_ref().clone();
    if let Err(e) = reg.validate() {
        let key = e.split(':').next().unwrap_or("registrar").to_owned();
        return Err(err(Some(r.span()), Some(&key), e));
    }
    if cfg.proxy.mode != crate::proxy::Mode::Stateful {
        return Err(err(
            Some(r.span()),
            Some("registrar"),
            "the registrar needs mode = \"stateful\" (forking is per transaction)".into(),
        ));
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    reg.snapshot = reg.snapshot.map(|p| dir.join(p));
    cfg.registrar = Some(reg);
    Ok(())
}

/// Adds the destinations of the CSV at `csv` to `sets`; errors name the
/// file and line.
pub fn read_csv(csv: &Path, sets: &mut Vec<DispatcherConfig>) -> Result<(), String> {
    let text =
        std::fs::read_to_string(csv).map_err(|e| format!("{}: cannot read: {e}", csv.display()))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (n == 0 && line.starts_with("set,")) {
            continue;
        }
        let at = |m: String| format!("{}:{}: {m}", csv.display(), n + 1);
        let mut fields = line.splitn(5, ',').map(str::trim);
        let (Some(set), Some(uri)) = (fields.next(), fields.next()) else {
            return Err(at("expected set,uri,weight,priority,attrs".into()));
        };
        if set.is_empty() || uri.is_empty() {
            return Err(at("the set and the uri are required".into()));
        }
        let mut dest = uri.to_owned();
        for name in ["weight", "priority"] {
            match fields.next() {
                Some("") | None => {}
                Some(v) if v.parse::<u32>().is_ok() => dest.push_str(&format!(";{name}={v}")),
                Some(v) => return Err(at(format!("{name} `{v}` is not a number"))),
            }
        }
        crate::dispatch::Destination::parse(&dest).map_err(|e| at(format!("`{uri}`: {e}")))?;
        match sets.iter_mut().find(|s| s.id == set) {
            Some(s) => s.destinations.push(dest),
            None => sets.push(DispatcherConfig {
                id: set.to_owned(),
                algorithm: Algorithm::RoundRobin,
                destinations: vec![dest],
                ..DispatcherConfig::default()
            }),
        }
    }
    Ok(())
}
