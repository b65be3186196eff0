//! The composition root: [`RouterBuilder`] takes the plain-data
//! [`Config`] and the services to inject (a DNS resolver, a routing
//! source of one's own), and owns everything the running router needs:
//! the routing table in service and the thread that follows its gateway
//! names in DNS, the reload path, the control socket, the signal
//! handlers and the shards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::time::Duration;

use super::control::ControlServer;
use super::reload::Reloader;
use super::shards::{self, RunningShards, ShardReport, Stopper};
use super::signals::SignalThread;
use crate::auth::{NonceKey, SubscriberTable};
use crate::config::Config;
use crate::dns::{Resolver, system_resolver};
use crate::lcr::{LcrTable, TargetSource};
use crate::policy::{Policy, PolicyTable};
use crate::proxy::{DigestService, Mode, Services};
use crate::security::{RateLimits, RateLimitsConfig, Shield};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The shards could not start.
    #[error(transparent)]
    Runtime(#[from] trunkline_shards::runtime::RuntimeError),
    /// The name lookup threads could not start.
    #[error("cannot start the name lookup threads: {0}")]
    Lookups(std::io::Error),
    /// The routing table could not be opened or verified.
    #[error("routing table refused: {0}")]
    Table(trunkline_routing_tables::SnapError),
    /// A routing table with stateless mode.
    #[error("a routing table needs stateful mode (failover is per transaction)")]
    StatelessRouting,
    /// The request policy does not compile.
    #[error("policy refused: {0}")]
    Policy(String),
    /// The subscriber file could not be read, or has a bad line.
    #[error("subscribers refused: {0}")]
    Subscribers(String),
    /// The flood defence's settings are out of range.
    #[error("[security] refused: {0}")]
    Security(crate::security::SecurityError),
    /// A call limit (`[[limit]]`) is wrong.
    #[error("[[limit]] refused: {0}")]
    CallLimits(crate::security::call_limits::LimitError),
    /// The registrar's Redis cannot be reached at start.
    #[error("[registrar] redis: {0}")]
    Redis(String),
    /// A dispatcher set (`[[dispatcher]]`) is wrong.
    #[error("[[dispatcher]] refused: {0}")]
    Dispatch(crate::dispatch::DispatchError),
    /// The CDR sinks could not start.
    #[error("[cdr] refused: {0}")]
    Cdr(crate::cdr::CdrError),
    /// The secret file could not be read or created.
    #[error("[security] secret_file: {0}")]
    Secret(String),
    /// The dialog journal (`[dialogs] journal`) could not be read or
    /// rewritten.
    #[error("[dialogs] journal {}: {source}", path.display())]
    Journal {
        /// Its directory.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The control socket could not be bound.
    #[error("control socket: {0}")]
    Control(std::io::Error),
    /// A management thread (signals, the name refresher) could not start.
    #[error("cannot start {what}: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Builds and starts the router. See the module docs.
pub struct RouterBuilder {
    config: Config,
    resolver: Option<Resolver>,
    targets: Option<Arc<dyn TargetSource>>,
    signals: bool,
}

impl std::fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("config", &self.config)
            .field("resolver", &self.resolver.is_some())
            .field("targets", &self.targets)
            .field("signals", &self.signals)
            .finish()
    }
}

impl RouterBuilder {
    /// A router for `config`, with the system's DNS resolver and the
    /// routing table `[routing]` names (if any).
    pub fn new(config: Config) -> RouterBuilder {
        RouterBuilder {
            config,
            resolver: None,
            targets: None,
            signals: false,
        }
    }

    /// Looks host names up with `resolver` (next hops given by name, and
    /// the routing table's gateway names) instead of the system's
    /// `/etc/resolv.conf` and `/etc/hosts`.
    pub fn resolver(mut self, resolver: Resolver) -> RouterBuilder {
        self.resolver = Some(resolver);
        self
    }

    /// Routes initial INVITEs by `targets` instead of a `[routing]` table
    /// (embedding, tests).
    pub fn target_source(mut self, targets: Arc<dyn TargetSource>) -> RouterBuilder {
        self.targets = Some(targets);
        self
    }

    /// Acts on signals as `trunkline run` does: SIGINT/SIGTERM stop
    /// gracefully, SIGUSR1 prints the counters, SIGHUP reloads.
    pub fn handle_signals(mut self) -> RouterBuilder {
        self.signals = true;
        self
    }

    /// Starts everything; returns once every shard listens (a datagram
    /// sent after this returns is never lost).
    pub fn start(self) -> Result<Router, StartError> {
        let RouterBuilder {
            mut config,
            resolver,
            targets,
            signals,
        } = self;
        // The process's secret keys our branches and nonces: from
        // `[security] secret_file` (kept across restarts) or random.
        let secret = match &config.secret_file {
            Some(f) => super::secret::Secret::from_file(f),
            None => super::secret::Secret::random(),
        }
        .map_err(StartError::Secret)?;
        config.proxy.branch_key = secret.branch_key();
        let resolver_for = |r: &Option<Resolver>| r.clone().unwrap_or_else(system_resolver);
        let table = match &config.routing {
            Some(r) => {
                if config.proxy.mode == Mode::Stateless {
                    return Err(StartError::StatelessRouting);
                }
                let t = LcrTable::open(&r.table, r.no_route, resolver_for(&resolver))
                    .map_err(StartError::Table)?;
                tracing::info!("routing table in service: {}", t.status());
                Some(Arc::new(t))
            }
            None => None,
        };
        // The policy: reloadable from the file it came from (even when it
        // has no rules yet, so a reload can add some).
        let policy = match (&config.file, config.policy.is_empty()) {
            (None, true) => None,
            (file, _) => {
                let compiled = Policy::compile(&config.policy).map_err(StartError::Policy)?;
                Some((Arc::new(PolicyTable::new(compiled)), file.clone()))
            }
        };
        // Digest authentication: the subscribers (reloadable with the
        // file) and a nonce secret of this process.
        let digest = match &config.auth {
            Some(auth) => {
                let subscribers = SubscriberTable::open(&auth.subscribers)
                    .map_err(|e| StartError::Subscribers(e.to_string()))?;
                tracing::info!("subscribers in service: {}", subscribers.status());
                let key = NonceKey::from_secret(&secret.nonce_secret());
                Some(Arc::new(DigestService::new(
                    Arc::new(key),
                    Arc::new(subscribers),
                    auth.config,
                    config.auth_bans,
                    std::time::Instant::now(),
                )))
            }
            None => None,
        };
        let dispatchers = match config.dispatchers.as_slice() {
            [] => None,
            sets => Some(Arc::new(
                crate::dispatch::Dispatchers::for_shards(sets.to_vec(), usize::from(config.shards))
                    .map_err(StartError::Dispatch)?,
            )),
        };
        // The flood defence: pike and the ban list, shared by the shards'
        // datagram gates and the auth stage.
        let mut shield = Shield::new(
            &config.shield,
            config.proxy.edge.trusted.clone(),
            shards::random_u64(),
            std::time::Instant::now(),
        )
        .map_err(StartError::Security)?
        .with_next_hops(config.proxy.default_route);
        if table.is_some() || dispatchers.is_some() {
            // The routing table's gateways and the dispatcher sets'
            // destinations are ours too: a source over the rate is asked
            // about (the table and sets in service at that moment).
            let (t, d) = (table.clone(), dispatchers.clone());
            shield = shield.with_exempt(Arc::new(move |ip| {
                t.as_ref().is_some_and(|t| t.is_gateway(ip))
                    || d.as_ref().is_some_and(|d| d.is_destination(ip))
            }));
        }
        let shield = Arc::new(shield);
        let rate_limits = match config.rate_limits.as_slice() {
            [] => None,
            specs => Some(Arc::new(
                RateLimits::new(
                    specs,
                    RateLimitsConfig::default(),
                    shards::random_u64(),
                    std::time::Instant::now(),
                )
                .map_err(StartError::Security)?,
            )),
        };
        let call_limits = match config.call_limits.as_slice() {
            [] => None,
            specs => Some(Arc::new(
                crate::security::call_limits::CallLimits::new(specs, std::time::Instant::now())
                    .map_err(StartError::CallLimits)?,
            )),
        };
        let subscribers = match (&digest, &config.file) {
            (Some(d), Some(file)) => Some((Arc::clone(&d.subscribers), file.clone())),
            _ => None,
        };
        let reloadable_policy = policy.as_ref().and_then(|(table, file)| {
            let hides = config.proxy.topology_hiding || config.proxy.topology_hiding_rules;
            Some((
                Arc::clone(table),
                file.clone()?,
                config.rate_limits.clone(),
                hides,
            ))
        });
        // Quality routing's scores and the dispatcher destinations'
        // health, published by the shards for `quality` and `dispatcher`.
        let board = (config.proxy.quality.is_some() || !config.dispatchers.is_empty())
            .then(|| Arc::new(super::board::Board::new(config.shards)));
        let reloader = Arc::new(
            Reloader::new(table.clone(), reloadable_policy, subscribers)
                .with_calls(call_limits.clone(), board.clone())
                .with_dispatchers(dispatchers.clone(), config.file.clone()),
        );
        let control = match &config.control {
            Some(path) => {
                let r = Arc::clone(&reloader);
                let handler: super::control::Handler = Box::new(move |line| r.command(line));
                Some(ControlServer::start(path, handler).map_err(StartError::Control)?)
            }
            None => None,
        };
        let mut changes = None;
        let registrar = config.registrar.clone().map(|r| {
            let shared = r.redis.is_some();
            let mut reg =
                crate::proxy::stages::registrar::Registrar::new(r, usize::from(config.shards));
            if shared {
                let (tx, rx) = std::sync::mpsc::sync_channel(65_536);
                reg = reg.with_changes(tx);
                changes = Some(rx);
            }
            Arc::new(reg)
        });
        // The location table shared with other routers through Redis.
        let redis = match (registrar.as_ref(), changes) {
            (Some(r), Some(rx)) => {
                let url = r.cfg.redis.as_deref().unwrap_or_default();
                Some(
                    super::redis_location::RedisLocation::start(url, Arc::clone(&r.location), rx)
                        .map_err(StartError::Redis)?,
                )
            }
            _ => None,
        };
        // Bindings saved by the last run, and the snapshots from now on.
        let location_saver = match registrar
            .as_ref()
            .and_then(|r| Some((r, r.cfg.snapshot.clone()?)))
        {
            Some((r, dir)) => {
                let io = |source| StartError::Thread {
                    what: "the location snapshots",
                    source,
                };
                let (taken, refused) = super::location::restore(&dir, &r.location).map_err(io)?;
                tracing::info!(
                    "bindings restored from {}: {taken} (refused or expired: {refused})",
                    dir.display()
                );
                Some(
                    super::location::LocationSaver::start(dir, Arc::clone(&r.location))
                        .map_err(io)?,
                )
            }
            None => None,
        };
        let services = Services {
            targets: targets.or_else(|| table.clone().map(|t| t as Arc<dyn TargetSource>)),
            policy: policy.map(|(p, _)| p),
            digest,
            shield: Some(shield),
            rate_limits,
            call_limits,
            dispatchers,
            registrar: registrar.clone(),
        };
        // The CDR writer runs before the shards, which hand it records.
        let cdr = match config.cdr.enabled() {
            true => Some(crate::cdr::CdrWriter::start(&config.cdr).map_err(StartError::Cdr)?),
            false => None,
        };
        let running = shards::start(
            &config,
            services,
            cdr.as_ref().map(crate::cdr::CdrWriter::sender),
            board,
            || resolver_for(&resolver),
        )?;
        // Gateway host names followed in DNS (stopped when this drops).
        let refresher = match (&table, &config.routing) {
            (Some(t), Some(r)) if !r.resolve_every.is_zero() => Some(
                Refresher::start(Arc::clone(t), r.resolve_every).map_err(|source| {
                    StartError::Thread {
                        what: "the gateway name refresher",
                        source,
                    }
                })?,
            ),
            _ => None,
        };
        let signals = match signals {
            true => Some(
                SignalThread::start(running.stopper(), Arc::clone(&reloader)).map_err(
                    |source| StartError::Thread {
                        what: "the signal handlers",
                        source,
                    },
                )?,
            ),
            false => None,
        };
        Ok(Router {
            cdr,
            shards: running,
            table,
            reloader,
            _refresher: refresher,
            _control: control,
            signals,
            _location: location_saver,
            _redis: redis,
        })
    }
}

/// A running router: its shards and what serves them. Dropping it without
/// [`Router::shutdown`] or [`Router::wait`] leaves the shards running.
#[derive(Debug)]
pub struct Router {
    shards: RunningShards,
    /// The CDR writer: stopped after the shards, so that the records of
    /// the calls they end on the way out are written.
    cdr: Option<crate::cdr::CdrWriter>,
    table: Option<Arc<LcrTable>>,
    reloader: Arc<Reloader>,
    _refresher: Option<Refresher>,
    _control: Option<ControlServer>,
    signals: Option<SignalThread>,
    /// The registrar's snapshots: the last written after the shards stop.
    _location: Option<super::location::LocationSaver>,
    /// The location table shared through Redis.
    _redis: Option<super::redis_location::RedisLocation>,
}

impl Router {
    /// The addresses listened on (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.shards.local_addrs()
    }

    /// The routing table in service, when `[routing]` configured one.
    pub fn table(&self) -> Option<&Arc<LcrTable>> {
        self.table.as_ref()
    }

    /// The reload path (what SIGHUP and the control socket use).
    pub fn reloader(&self) -> &Reloader {
        &self.reloader
    }

    /// Asks every shard to print its counters (what SIGUSR1 does).
    pub fn dump_counters(&self) {
        self.shards.dump_counters();
    }

    /// Starts a graceful shutdown: new requests get 503, live transactions
    /// finish within the grace period.
    pub fn stop(&self) {
        self.shards.stop();
    }

    /// A handle that can stop the router from another thread.
    pub fn stopper(&self) -> Stopper {
        self.shards.stopper()
    }

    /// Stops and waits for every shard; returns their final counters.
    pub fn shutdown(self) -> Vec<ShardReport> {
        self.stop();
        self.wait()
    }

    /// Waits for the shards to finish (after [`Router::stop`], or a
    /// signal); returns their final counters.
    pub fn wait(mut self) -> Vec<ShardReport> {
        let reports = self.shards.wait();
        if let Some(s) = &mut self.signals {
            s.close();
        }
        if let Some(cdr) = self.cdr.take() {
            cdr.shutdown();
        }
        reports
    }

    /// What the CDR writer did so far (`None` without `[cdr]`).
    pub fn cdr_counts(&self) -> Option<crate::cdr::CdrCounts> {
        self.cdr.as_ref().map(crate::cdr::CdrWriter::counts)
    }
}

/// The thread that looks the routing table's gateway names up again every
/// `[routing] resolve_every_ms`; stopped when dropped.
#[derive(Debug)]
struct Refresher {
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Refresher {
    fn start(table: Arc<LcrTable>, every: Duration) -> std::io::Result<Refresher> {
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tl-resolve".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if let Some(changes) = table.refresh_names() {
                        tracing::info!("gateway addresses changed: {changes}");
                    }
                }
            })?;
        Ok(Refresher {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
