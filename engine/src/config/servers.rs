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
            if cfg.proxy.mode != crate::proxy::Mode::Stateful {
                // Stateless, a CANCEL or an ACK would not find the
                // destination its INVITE went to.
                return Err(err(
                    file.policy.get(i).map(Spanned::span),
                    Some(&format!("policy[{i}].dispatch")),
                    "dispatching needs mode = \"stateful\" (a CANCEL follows its INVITE's transaction)"
                        .into(),
                ));
            }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    /// A config file in `dir` naming the CSV `csv` (written there).
    fn with_csv(dir: &Path, toml: &str, csv: &str) -> Result<Config, crate::config::ConfigError> {
        std::fs::write(dir.join("sets.csv"), csv).unwrap();
        let path = dir.join("router.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(&path)
    }

    #[test]
    fn the_csv_adds_destinations_and_sets() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "dispatcher_file = \"sets.csv\"\n\
                    [[dispatcher]]\nid = \"pbx\"\nalgorithm = \"hash-callid\"\n\
                    destinations = [\"sip:10.0.0.1\"]\n";
        let csv = "set,uri,weight,priority,attrs\n\
                   # the farm\n\
                   pbx,sip:10.0.0.2:5080,3,,rack 2\n\
                   media,sip:10.0.1.1,,1,\n";
        let cfg = with_csv(dir.path(), toml, csv).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.dispatchers.len(), 2);
        let pbx = &cfg.dispatchers[0];
        assert_eq!(pbx.algorithm, crate::dispatch::Algorithm::HashCallid);
        assert_eq!(
            pbx.destinations,
            ["sip:10.0.0.1", "sip:10.0.0.2:5080;weight=3"]
        );
        let media = &cfg.dispatchers[1];
        assert_eq!(media.algorithm, crate::dispatch::Algorithm::RoundRobin);
        assert_eq!(media.destinations, ["sip:10.0.1.1;priority=1"]);
        assert_eq!(
            cfg.dispatcher_file.as_deref(),
            Some(dir.path().join("sets.csv").as_path())
        );
    }

    #[test]
    fn a_bad_csv_line_is_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "dispatcher_file = \"sets.csv\"\n";
        for (csv, line, what) in [
            ("pbx,sip:pbx.example.com\n", 1, "pbx.example.com"),
            ("set,uri\npbx,sip:10.0.0.1,heavy\n", 2, "weight `heavy`"),
            ("pbx\n", 1, "expected set,uri"),
        ] {
            let e = with_csv(dir.path(), toml, csv).unwrap_err();
            assert_eq!(e.key.as_deref(), Some("dispatcher_file"), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("sets.csv:{line}:")), "{msg}");
            assert!(msg.contains(what), "{msg}");
        }
    }

    #[test]
    fn registrar_errors_name_their_key() {
        let parse = |t: &str| Config::parse(t, Path::new("reg.toml")).unwrap_err();
        let e = parse("mode = \"stateful\"\n[registrar]\ndomains = []\n");
        assert_eq!(
            (e.line, e.key.as_deref()),
            (2, Some("registrar.domains")),
            "{e}"
        );
        let e = parse("[registrar]\ndomains = [\"a.example\"]\nmin_expires = 7200\n");
        assert_eq!(e.key.as_deref(), Some("registrar"), "{e}");
        let e = parse("mode = \"stateless\"\n[registrar]\ndomains = [\"a.example\"]\n");
        assert!(e.to_string().contains("stateful"), "{e}");
        let e = parse("[registrar]\ndomains = [\"a.example\"]\nfork = \"sideways\"\n");
        assert_eq!(e.line, 3, "{e}");
    }

    #[test]
    fn dispatching_needs_stateful_mode() {
        let toml = "mode = \"stateless\"\n[[dispatcher]]\nid = \"p\"\nalgorithm = \"random\"\n\
                    destinations = [\"sip:10.0.0.1\"]\n[[policy]]\ndispatch = \"p\"\n";
        let e = Config::parse(toml, Path::new("p.toml")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("policy[0].dispatch"), "{e}");
    }
}
