//! The one reload path: everything the router can reload without a
//! restart (the routing table, the request policy, the digest
//! subscribers, the dispatcher sets) is re-read and checked first, all of it, then
//! put in service together; if any part fails its check, nothing changes
//! and the answer says which part and why. SIGHUP and the control
//! socket's `reload` both call [`Reloader::reload`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::auth::{SubscriberTable, Subscribers};
use crate::config::Config;
use crate::lcr::LcrTable;
use crate::lcr::table::StagedTable;
use crate::policy::{Policy, PolicyTable};
use crate::security::RateLimitSpec;

/// A part of the router that can be reloaded: re-read and checked
/// ([`Reloadable::stage`]), then put in service ([`Staged::commit`]).
pub trait Reloadable: Send + Sync {
    /// What it is, for messages (`table`, `policy`, ...).
    fn name(&self) -> &'static str;

    /// Re-reads its source and checks it, changing nothing in service;
    /// `Err` says what is wrong (file, line, key where it can).
    fn stage(&self) -> Result<Box<dyn Staged + '_>, String>;

    /// A one-line description of what is in service.
    fn status(&self) -> String;
}

/// A checked new version of a [`Reloadable`], not in service yet.
/// Dropping it keeps what is in service.
pub trait Staged {
    /// Puts it in service, atomically; returns a one-line summary.
    fn commit(self: Box<Self>) -> String;
}

/// Reloads the router's reloadable parts, together.
pub struct Reloader {
    parts: Vec<Box<dyn Reloadable>>,
    /// The routing table in service, for `push PATH`.
    table: Option<Arc<LcrTable>>,
    /// The call limits, for `limits`.
    limits: Option<Arc<crate::security::call_limits::CallLimits>>,
    /// The shards' published scores, for `quality`.
    board: Option<Arc<super::board::Board>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field(
                "parts",
                &self.parts.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Reloader {
    /// A reloader of the routing table in service, if there is one, of
    /// the request policy in service with the configuration file it is
    /// read from, if there is one, and of the digest subscribers in
    /// service with that file (whose `[auth] subscribers` names theirs).
    pub fn new(
        table: Option<Arc<LcrTable>>,
        policy: Option<(Arc<PolicyTable>, PathBuf, Vec<RateLimitSpec>, bool)>,
        subscribers: Option<(Arc<SubscriberTable>, PathBuf)>,
    ) -> Reloader {
        let mut parts: Vec<Box<dyn Reloadable>> = Vec::new();
        if let Some(t) = &table {
            parts.push(Box::new(TableFile(Arc::clone(t))));
        }
        if let Some((policy, file, rate_limits, hides)) = policy {
            parts.push(Box::new(PolicyFile {
                policy,
                file,
                rate_limits,
                hides,
            }));
        }
        if let Some((table, config)) = subscribers {
            parts.push(Box::new(SubscriberFile { table, config }));
        }
        Reloader {
            parts,
            table,
            limits: None,
            board: None,
        }
    }

    /// Answers `limits` from `limits` and `quality` from `board` too.
    pub fn with_calls(
        mut self,
        limits: Option<Arc<crate::security::call_limits::CallLimits>>,
        board: Option<Arc<super::board::Board>>,
    ) -> Reloader {
        self.limits = limits;
        self.board = board;
        self
    }

    /// Reloads the dispatcher sets in service from the configuration
    /// file `file` (its `[[dispatcher]]` tables and `dispatcher_file`).
    pub fn with_dispatchers(
        mut self,
        sets: Option<Arc<crate::dispatch::Dispatchers>>,
        file: Option<PathBuf>,
    ) -> Reloader {
        if let (Some(sets), Some(file)) = (sets, file) {
            self.parts.push(Box::new(DispatcherFile { sets, file }));
        }
        self
    }

    /// The `limits` command: each call limit's calls now, its bounds,
    /// admitted and refused so far.
    fn limits_report(&self) -> Result<String, String> {
        let Some(limits) = &self.limits else {
            return Err("no call limits ([[limit]])".into());
        };
        Ok(limits
            .counts()
            .iter()
            .map(|l| {
                let bound = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                format!(
                    "{} concurrent={}/{} cps_limit={} admitted={} refused={}",
                    l.key,
                    l.concurrent,
                    bound(l.concurrent_limit.map(|c| c.to_string())),
                    bound(l.cps_limit.map(|c| c.to_string())),
                    l.admitted,
                    l.refused
                )
            })
            .collect::<Vec<_>>()
            .join(" | "))
    }

    /// Re-reads every reloadable part from its source and checks each;
    /// when all pass, puts them all in service and says what is now in
    /// service; when one fails, keeps everything in service and says why.
    pub fn reload(&self) -> Result<String, String> {
        if self.parts.is_empty() {
            return Err(
                "nothing to reload: no routing table ([routing] table) and no configuration file"
                    .into(),
            );
        }
        let mut staged = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            match p.stage() {
                Ok(s) => staged.push(s),
                Err(e) => return Err(format!("{} refused, nothing changed: {e}", p.name())),
            }
        }
        let summaries: Vec<String> = staged.into_iter().map(|s| s.commit()).collect();
        Ok(summaries.join("; "))
    }

    /// Puts the table at `path` in service (checked first; on any damage
    /// the table in service stays).
    pub fn push_table(&self, path: &Path) -> Result<String, String> {
        match &self.table {
            Some(t) => t.load(path),
            None => Err("no routing table is configured ([routing] table)".into()),
        }
    }

    /// What is in service, one line per part.
    pub fn status(&self) -> String {
        match self.parts.as_slice() {
            [] => "nothing reloadable: no routing table and no configuration file".into(),
            parts => parts
                .iter()
                .map(|p| p.status())
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// Answers a control-socket command (see [`super::control`]): `push
    /// PATH`, `reload`, `status`.
    pub fn command(&self, line: &str) -> Result<String, String> {
        match line.split_once(' ').unwrap_or((line, "")) {
            ("push", path) if !path.trim().is_empty() => {
                let path = Path::new(path.trim());
                if !path.is_absolute() {
                    return Err(format!(
                        "`{}`: give an absolute path (the router's working directory is not yours)",
                        path.display()
                    ));
                }
                self.push_table(path)
            }
            ("reload", "") => self.reload(),
            ("status", "") => Ok(self.status()),
            ("limits", "") => self.limits_report(),
            ("quality", "") => match &self.board {
                Some(b) => Ok(b.quality_report()),
                None => Err("no quality routing ([routing.quality])".into()),
            },
            ("dispatcher", "") => match (
                &self.board,
                self.parts.iter().any(|p| p.name() == "dispatcher"),
            ) {
                (Some(b), true) => Ok(b.pools_report()),
                _ => Err("no dispatcher sets ([[dispatcher]])".into()),
            },
            _ => Err(format!(
                "unknown command `{line}`: use `push PATH`, `reload`, `status`, `limits`, \
                 `quality` or `dispatcher`"
            )),
        }
    }
}

/// The routing table, reloaded from the file in service.
struct TableFile(Arc<LcrTable>);

impl Reloadable for TableFile {
    fn name(&self) -> &'static str {
        "routing table"
    }

    fn stage(&self) -> Result<Box<dyn Staged + '_>, String> {
        Ok(Box::new(self.0.stage(&self.0.path())?))
    }

    fn status(&self) -> String {
        self.0.status()
    }
}

/// The request policy, reloaded from the configuration file: the whole
/// file is read and checked again (a bad one is refused naming
/// file:line:key), and only its `[[policy]]` rules are put in service.
struct PolicyFile {
    policy: Arc<PolicyTable>,
    file: PathBuf,
    /// The `[[rate_limit]]`s in service (they take a restart to change:
    /// the rules are checked against them).
    rate_limits: Vec<RateLimitSpec>,
    /// The router reads topology-hiding tokens (it started with
    /// `[topology_hiding]` or a rule hiding): rules that hide need it.
    hides: bool,
}

impl Reloadable for PolicyFile {
    fn name(&self) -> &'static str {
        "policy"
    }

    fn stage(&self) -> Result<Box<dyn Staged + '_>, String> {
        let cfg = Config::load(&self.file).map_err(|e| e.to_string())?;
        if cfg.rate_limits != self.rate_limits {
            return Err(format!(
                "{}: the [[rate_limit]] tables changed: that takes a restart",
                self.file.display()
            ));
        }
        if cfg.proxy.topology_hiding_rules && !self.hides {
            return Err(format!(
                "{}: a [[policy]] rule now hides topology, which this router was started \
                 without: that takes a restart",
                self.file.display()
            ));
        }
        let policy = Policy::compile(&cfg.policy)?;
        Ok(Box::new(StagedPolicy {
            table: &self.policy,
            policy,
            file: &self.file,
        }))
    }

    fn status(&self) -> String {
        policy_summary(&self.file, &self.policy.load())
    }
}

/// A checked policy, ready to go into service.
struct StagedPolicy<'t> {
    table: &'t PolicyTable,
    policy: Policy,
    file: &'t Path,
}

impl Staged for StagedPolicy<'_> {
    fn commit(self: Box<Self>) -> String {
        let summary = policy_summary(self.file, &self.policy);
        self.table.replace(self.policy);
        tracing::info!("policy in service: {summary}");
        summary
    }
}

/// The digest subscribers, reloaded from the file the configuration's
/// `[auth] subscribers` names (read and checked whole first; a bad line
/// is refused naming file:line, and the subscribers in service stay).
struct SubscriberFile {
    table: Arc<SubscriberTable>,
    /// The configuration file.
    config: PathBuf,
}

impl Reloadable for SubscriberFile {
    fn name(&self) -> &'static str {
        "subscribers"
    }

    fn stage(&self) -> Result<Box<dyn Staged + '_>, String> {
        let cfg = Config::load(&self.config).map_err(|e| e.to_string())?;
        let Some(auth) = cfg.auth else {
            return Err(format!(
                "{}: [auth] was removed: that takes a restart",
                self.config.display()
            ));
        };
        let subscribers = Subscribers::from_path(&auth.subscribers).map_err(|e| e.to_string())?;
        Ok(Box::new(StagedSubscribers {
            table: &self.table,
            subscribers,
        }))
    }

    fn status(&self) -> String {
        format!("subscribers: {}", self.table.status())
    }
}

/// Subscribers read and checked, ready to go into service.
struct StagedSubscribers<'t> {
    table: &'t SubscriberTable,
    subscribers: Subscribers,
}

impl Staged for StagedSubscribers<'_> {
    fn commit(self: Box<Self>) -> String {
        let summary = self.table.install(self.subscribers);
        tracing::info!("subscribers in service: {summary}");
        format!("subscribers: {summary}")
    }
}

/// The dispatcher sets, reloaded from the configuration file (and the
/// CSV it names): every set checked first; in service, each shard keeps
/// the health of the destinations whose address remains.
struct DispatcherFile {
    sets: Arc<crate::dispatch::Dispatchers>,
    file: PathBuf,
}

impl Reloadable for DispatcherFile {
    fn name(&self) -> &'static str {
        "dispatcher"
    }

    fn stage(&self) -> Result<Box<dyn Staged + '_>, String> {
        let cfg = Config::load(&self.file).map_err(|e| e.to_string())?;
        if cfg.dispatchers.is_empty() {
            return Err(format!(
                "{}: every [[dispatcher]] was removed: that takes a restart",
                self.file.display()
            ));
        }
        crate::dispatch::Dispatchers::check(&cfg.dispatchers).map_err(|e| e.to_string())?;
        Ok(Box::new(StagedSets {
            sets: &self.sets,
            new: cfg.dispatchers,
        }))
    }

    fn status(&self) -> String {
        sets_summary(&self.sets.current())
    }
}

/// Dispatcher sets read and checked, ready to go into service.
struct StagedSets<'t> {
    sets: &'t crate::dispatch::Dispatchers,
    new: Vec<crate::dispatch::DispatcherConfig>,
}

impl Staged for StagedSets<'_> {
    fn commit(self: Box<Self>) -> String {
        let summary = sets_summary(&self.new);
        if let Err(e) = self.sets.swap(self.new) {
            // Checked when staged: not reached.
            return format!("dispatcher: refused: {e}");
        }
        tracing::info!("{summary}");
        summary
    }
}

/// `dispatcher: N sets, M destinations`.
fn sets_summary(sets: &[crate::dispatch::DispatcherConfig]) -> String {
    let dests: usize = sets.iter().map(|s| s.destinations.len()).sum();
    format!("dispatcher: {} sets, {dests} destinations", sets.len())
}

/// `FILE: N policy rules`.
fn policy_summary(file: &Path, p: &Policy) -> String {
    format!(
        "{}: {} policy rules",
        file.display(),
        p.rule_names().count()
    )
}

impl Staged for StagedTable<'_> {
    fn commit(self: Box<Self>) -> String {
        StagedTable::commit(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trunkline_routing_tables::{BuildInputs, Source, build};

    /// A table routing `+1` to one gateway, written at `path`.
    fn write_table(path: &Path, gateway: &str) {
        let built = build(BuildInputs {
            gateways: Source::bytes("gateways.csv", format!("id,address\ngw,{gateway}\n")),
            rules: Source::bytes("rules.csv", "group,prefix,targets\ndefault,+1,gw\n"),
            carriers: None,
            dialplan: None,
            acl: None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        built.write(path, 1_700_000_000).unwrap();
    }

    /// The flood defence asks the table whether a source over the rate is
    /// one of its gateways: the answer follows the table in service,
    /// literal addresses and looked-up names alike.
    #[test]
    fn is_gateway_follows_the_table_in_service() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.snap");
        write_table(&path, "192.0.2.1:5060");
        let dns: crate::dns::Resolver = Arc::new(|_, port| {
            Ok(crate::dns::Resolved::addresses(
                ["198.51.100.7".parse().unwrap()],
                port.unwrap_or(5060),
            ))
        });
        let table = Arc::new(LcrTable::open(&path, 404, dns).unwrap());
        let ip = |s: &str| s.parse().unwrap();
        assert!(table.is_gateway(ip("192.0.2.1")));
        assert!(table.is_gateway(ip("::ffff:192.0.2.1")));
        assert!(!table.is_gateway(ip("192.0.2.2")));
        let next = dir.path().join("next.snap");
        write_table(&next, "gw.example.test:5080");
        table.load(&next).unwrap();
        assert!(table.is_gateway(ip("198.51.100.7")));
        assert!(!table.is_gateway(ip("192.0.2.1")), "the old table's");
    }

    #[test]
    fn a_reload_checks_first_and_keeps_what_is_in_service_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.snap");
        write_table(&path, "192.0.2.1:5060");
        let no_dns: crate::dns::Resolver = Arc::new(|h, _| Err(format!("{h}: no DNS here")));
        let table = Arc::new(LcrTable::open(&path, 404, no_dns).unwrap());
        let r = Reloader::new(Some(Arc::clone(&table)), None, None);

        // A new file renamed over the old one: checked, then in service.
        let next = dir.path().join("next.snap");
        write_table(&next, "192.0.2.2:5060");
        std::fs::rename(&next, &path).unwrap();
        let done = r.reload().unwrap();
        assert!(done.contains("table.snap: "), "{done}");
        let in_service = r.status();
        assert_eq!(done, in_service);

        // A damaged file (renamed over the path, as files in service are
        // only ever replaced): refused, saying which part and why; the
        // table in service stays and still answers.
        let bad = dir.path().join("bad.snap");
        std::fs::write(&bad, b"not a snapshot").unwrap();
        std::fs::rename(&bad, &path).unwrap();
        let e = r.reload().unwrap_err();
        assert!(
            e.starts_with("routing table refused, nothing changed: "),
            "{e}"
        );
        assert!(e.contains("table.snap"), "{e}");
        assert_eq!(r.status(), in_service);

        // The control socket's commands go through the same path.
        assert!(r.command("reload").unwrap_err().contains("nothing changed"));
        assert_eq!(r.command("status").unwrap(), in_service);
        let e = r.command("push relative.snap").unwrap_err();
        assert!(e.contains("absolute path"), "{e}");
        assert!(
            r.command("frobnicate")
                .unwrap_err()
                .contains("unknown command")
        );
    }

    #[test]
    fn without_a_table_there_is_nothing_to_reload() {
        let r = Reloader::new(None, None, None);
        assert!(r.reload().unwrap_err().contains("nothing to reload"));
        assert!(r.push_table(Path::new("/x.snap")).is_err());
        assert!(r.status().starts_with("nothing reloadable"));
    }
}
