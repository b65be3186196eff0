//! `trunkline run` and `trunkline check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{self, Config};
use crate::proxy::Mode;
use crate::runtime::{RouterBuilder, ShardReport};

/// Arguments of `trunkline run`; they override the config file.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// TOML configuration file (see the `config` module docs); without it
    /// the built-in default runs.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Forward every request that carries no Route past us to HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: Option<String>,
    /// Listen address (repeat for several); default 127.0.0.1:5060.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Vec<String>,
    /// Number of shards (default: one per core).
    #[arg(long)]
    pub shards: Option<u16>,
    /// Pin shards to these CPUs, e.g. `0,1`.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Forward without transactions (RFC 3261 §16.11).
    #[arg(long)]
    pub stateless: bool,
    /// Do not add Record-Route.
    #[arg(long)]
    pub no_record_route: bool,
    /// Routing-table snapshot for least-cost routing of initial INVITEs
    /// (overrides `[routing] table`).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// Local control socket for `trunkline snap push` (overrides `control`).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// Datagrams per second a source may send before it is banned
    /// (overrides `[security] flood_pps`, default 500; 0 turns the flood
    /// defence off, e.g. for a load test from one address).
    #[arg(long, value_name = "N")]
    pub flood_pps: Option<u32>,
}

/// Arguments of `trunkline check-config`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The configuration file.
    pub file: PathBuf,
}

/// Builds the configuration from the file and the flags.
pub fn build_config(args: &RunArgs) -> Result<Config, String> {
    let mut cfg = match &args.config {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(to) = &args.to {
        cfg.proxy.default_route = Some(config::resolve(to).map_err(|e| format!("--to: {e}"))?);
    }
    if !args.listen.is_empty() {
        cfg.listen = args
            .listen
            .iter()
            .map(|a| config::parse_addr(a).map_err(|e| format!("--listen: {e}")))
            .collect::<Result<_, _>>()?;
    }
    if let Some(n) = args.shards {
        if n == 0 {
            return Err("--shards: must be at least 1".into());
        }
        cfg.shards = n;
    }
    if !args.cpus.is_empty() {
        cfg.cpus = Some(args.cpus.clone());
    }
    if args.stateless {
        cfg.proxy.mode = Mode::Stateless;
    }
    if args.no_record_route {
        cfg.proxy.record_route = false;
    }
    if let Some(t) = &args.table {
        match &mut cfg.routing {
            Some(r) => r.table = t.clone(),
            None => cfg.routing = Some(config::RoutingConfig::new(t.clone())),
        }
    }
    if let Some(c) = &args.control {
        cfg.control = Some(c.clone());
    }
    if let Some(n) = args.flood_pps {
        cfg.shield.flood_pps = n;
        cfg.shield
            .validate()
            .map_err(|e| format!("--flood-pps: {e}"))?;
    }
    if cfg.routing.is_some() && cfg.proxy.mode == Mode::Stateless {
        return Err("a routing table needs stateful mode (failover is per transaction)".into());
    }
    Ok(cfg)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// `trunkline run`: runs until SIGINT/SIGTERM, then drains and exits 0.
pub fn run(args: &RunArgs) -> ExitCode {
    init_logging();
    let cfg = match build_config(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("trunkline: {e}");
            return ExitCode::from(2);
        }
    };
    let router = match RouterBuilder::new(cfg).handle_signals().start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trunkline: {e}");
            return ExitCode::from(1);
        }
    };
    print_reports(&router.wait());
    ExitCode::SUCCESS
}

fn print_reports(reports: &[ShardReport]) {
    let mut total = ShardReport {
        shard: u16::MAX,
        ..ShardReport::default()
    };
    for r in reports {
        eprintln!("{r}");
        let (t, c) = (&mut total.counters, &r.counters);
        t.received += c.received;
        t.sent += c.sent;
        t.parse_errors += c.parse_errors;
        t.invalid += c.invalid;
        t.requests_forwarded += c.requests_forwarded;
        t.responses_forwarded += c.responses_forwarded;
        t.local_replies += c.local_replies;
        t.dropped += c.dropped;
        t.refused_sources += c.refused_sources;
        t.auth_challenges += c.auth_challenges;
        t.auth_failures += c.auth_failures;
        t.auth_bans += c.auth_bans;
        t.rate_limited += c.rate_limited;
        total.handoffs_out += r.handoffs_out;
        total.gate += r.gate;
    }
    let c = total.counters;
    eprintln!(
        "total: received={} sent={} parse_errors={} invalid={} requests_forwarded={} responses_forwarded={} local_replies={} dropped={} handoffs={} \
refused_sources={} auth_challenges={} auth_failures={} auth_bans={} rate_limited={} flood_dropped={} flood_bans={}",
        c.received,
        c.sent,
        c.parse_errors,
        c.invalid,
        c.requests_forwarded,
        c.responses_forwarded,
        c.local_replies,
        c.dropped,
        total.handoffs_out,
        c.refused_sources,
        c.auth_challenges,
        c.auth_failures,
        c.auth_bans,
        c.rate_limited,
        total.gate.dropped(),
        total.gate.bans_added,
    );
}

/// `trunkline check-config FILE`.
pub fn check(args: &CheckArgs) -> ExitCode {
    let fail = |what: String| {
        eprintln!("{}: {what}", args.file.display());
        ExitCode::from(1)
    };
    let cfg = match Config::load(&args.file) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    // What `run` would refuse at start: the routing table, the policy's
    // regexes, the subscriber file.
    if let Some(r) = &cfg.routing {
        if let Err(e) = trunkline_routing_tables::Snapshot::open(&r.table) {
            return fail(format!("routing table refused: {e}"));
        }
    }
    if let Err(e) = crate::policy::Policy::compile(&cfg.policy) {
        return fail(format!("policy refused: {e}"));
    }
    let subscribers = match &cfg.auth {
        Some(a) => match crate::auth::SubscriberTable::open(&a.subscribers) {
            Ok(t) => format!(", {}", t.status()),
            Err(e) => return fail(format!("subscribers refused: {e}")),
        },
        None => String::new(),
    };
    let mut pools = String::new();
    if !cfg.dispatchers.is_empty() {
        let dests: usize = cfg.dispatchers.iter().map(|d| d.destinations.len()).sum();
        pools += &format!(
            ", {} dispatcher sets ({dests} destinations)",
            cfg.dispatchers.len()
        );
    }
    if let Some(r) = &cfg.registrar {
        pools += &format!(", registrar for {}", r.domains.join(" "));
    }
    let listen: Vec<String> = cfg.listen.iter().map(ToString::to_string).collect();
    println!(
        "{}: ok (listen {}, {} shards, {}, default route {}, {} policy rules{subscribers}{pools})",
        args.file.display(),
        listen.join(" "),
        cfg.shards,
        match cfg.proxy.mode {
            Mode::Stateful => "stateful",
            Mode::Stateless => "stateless",
        },
        cfg.proxy
            .default_route
            .map_or_else(|| "none".to_string(), |a| a.to_string()),
        cfg.policy.len(),
    );
    ExitCode::SUCCESS
}
