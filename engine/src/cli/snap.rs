//! `trunkline snap …`: build, check and query routing-table snapshots.
//! The table itself lives in `trunkline-routing-tables`; this is
//! the operator's view of it. Every command exits 1 on any error, with the
//! file and line (CSV) or byte offset (snapshot) in the message.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use trunkline_routing_tables::generate::{self, GenConfig};
use trunkline_routing_tables::{
    At, BuildInputs, DialplanScratch, Snapshot, Source, WeekMinute, build, report,
};

/// Arguments of `trunkline snap`.
#[derive(Debug, clap::Args)]
pub struct SnapArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: SnapCommand,
}

/// The `snap` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapCommand {
    /// Validate CSV files and write a snapshot (atomically: temp file and
    /// rename). Every error is reported with its file and line.
    Build(BuildArgs),
    /// Print a snapshot's header, counts and sizes.
    Inspect {
        /// The snapshot.
        snapshot: PathBuf,
    },
    /// Look a number up: the dialplan applied, the rule matched and the
    /// gateway order; exit 1 when nothing routes.
    Lookup(LookupArgs),
    /// Rules added, removed or changed, and gateways/carriers changed,
    /// from OLD to NEW (exit 0 whether or not they differ).
    Diff {
        /// The old snapshot.
        old: PathBuf,
        /// The new snapshot.
        new: PathBuf,
        /// Print only the counts.
        #[arg(long)]
        summary: bool,
    },
    /// Check header, checksum, structure and invariants; exit 1 on any
    /// damage.
    Verify {
        /// The snapshots.
        #[arg(required = true)]
        snapshots: Vec<PathBuf>,
    },
    /// Write a synthetic deck (gateways, carriers, rules, dialplan, acl
    /// CSVs) with realistic E.164 prefixes.
    Gen(GenArgs),
    /// Put a snapshot in service in a running router, through its control
    /// socket: the router verifies it and swaps it in atomically; on any
    /// damage it keeps the table in service and this exits 1. The file is
    /// mapped where it is: replace it later only by renaming a new file
    /// over it, never by writing into it.
    Push {
        /// The snapshot.
        snapshot: PathBuf,
        /// The router's control socket (its `control` setting or `--control`).
        #[arg(long, value_name = "PATH")]
        control: PathBuf,
    },
}

/// Arguments of `snap build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Gateways CSV.
    #[arg(long)]
    pub gateways: PathBuf,
    /// Rules CSV.
    #[arg(long)]
    pub rules: PathBuf,
    /// Carriers CSV.
    #[arg(long)]
    pub carriers: Option<PathBuf>,
    /// Dialplan CSV.
    #[arg(long)]
    pub dialplan: Option<PathBuf>,
    /// Source ACL CSV.
    #[arg(long)]
    pub acl: Option<PathBuf>,
    /// The snapshot to write.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Arguments of `snap lookup`.
#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    /// The snapshot.
    pub snapshot: PathBuf,
    /// Routing group name.
    #[arg(long, required_unless_present = "source")]
    pub group: Option<String>,
    /// Source address: the group comes from the ACL.
    #[arg(long, conflicts_with = "group")]
    pub source: Option<IpAddr>,
    /// Time of the call (default: now). Either `DAY HH:MM` in UTC
    /// (`"mon 10:00"`), meaning the most recent such minute at or before
    /// now (so zoned windows see this week's or last week's offset), or an
    /// RFC 3339 timestamp with its offset (`2026-07-01T09:30:00Z`,
    /// `2026-07-01T10:30:00+01:00`).
    #[arg(long, value_name = "WHEN")]
    pub at: Option<String>,
    /// Seed for weighted carrier shuffles (per call in the router).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The dialled number.
    pub number: String,
}

/// Arguments of `snap gen`.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Rule lines.
    #[arg(long, default_value_t = 100_000)]
    pub rules: usize,
    /// Gateways (carriers: a quarter as many).
    #[arg(long, default_value_t = 200)]
    pub gateways: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory.
    #[arg(short, long)]
    pub output: PathBuf,
}

/// Runs `trunkline snap …`.
pub fn run(args: &SnapArgs) -> ExitCode {
    let result = match &args.command {
        SnapCommand::Build(a) => build_cmd(a),
        SnapCommand::Inspect { snapshot } => Snapshot::open(snapshot)
            .map_err(|e| e.to_string())
            .and_then(|s| print(&report::inspect(&s))),
        SnapCommand::Lookup(a) => lookup(a),
        SnapCommand::Diff { old, new, summary } => diff(old, new, *summary),
        SnapCommand::Verify { snapshots } => verify(snapshots),
        SnapCommand::Gen(a) => gen_cmd(a),
        SnapCommand::Push { snapshot, control } => push(snapshot, control),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn push(snapshot: &std::path::Path, control: &std::path::Path) -> Result<(), String> {
    // Checked here too, so a damaged file fails fast with its offset even
    // before the router is asked.
    Snapshot::open(snapshot).map_err(|e| e.to_string())?;
    let path =
        std::fs::canonicalize(snapshot).map_err(|e| format!("{}: {e}", snapshot.display()))?;
    let path = path
        .to_str()
        .ok_or_else(|| format!("{}: the path is not UTF-8", path.display()))?;
    let answer = crate::runtime::control::request(control, &format!("push {path}"))?;
    print(&format!("in service: {answer}"))
}

fn print(s: &str) -> Result<(), String> {
    io::stdout()
        .write_all(s.as_bytes())
        .map_err(|e| e.to_string())
}

fn source(p: &PathBuf) -> Result<Source, String> {
    Source::file(p).map_err(|e| e.to_string())
}

fn build_cmd(a: &BuildArgs) -> Result<(), String> {
    let started = Instant::now();
    let inputs = BuildInputs {
        gateways: source(&a.gateways)?,
        rules: source(&a.rules)?,
        carriers: a.carriers.as_ref().map(source).transpose()?,
        dialplan: a.dialplan.as_ref().map(source).transpose()?,
        acl: a.acl.as_ref().map(source).transpose()?,
    };
    let built = build(inputs).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let size = built
        .write(&a.output, now)
        .map_err(|e| format!("{}: {e}", a.output.display()))?;
    let zones = match built.table.zones.len() {
        0 => String::new(),
        n => format!(
            ", {n} time zones ({})",
            // Which tz database: the system's, or the copy compiled in.
            built.table.zone_source
        ),
    };
    print(&format!(
        "{}: {} rules, {} prefixes, {} gateways, {} carriers, {} groups{zones}, {size} bytes in {:.2} s\n",
        a.output.display(),
        built.table.rules.len(),
        built.table.entries.len(),
        built.table.gateways.len(),
        built.table.carriers.len(),
        built.table.groups.len(),
        started.elapsed().as_secs_f64()
    ))
}

fn lookup(a: &LookupArgs) -> Result<(), String> {
    let s = Snapshot::open(&a.snapshot).map_err(|e| e.to_string())?;
    let t = s.table();
    let group = match (&a.group, a.source) {
        (Some(name), _) => t
            .group_id(name)
            .ok_or_else(|| format!("no routing group `{name}` in {}", a.snapshot.display()))?,
        (None, Some(ip)) => t
            .group_for_source(ip)
            .ok_or_else(|| format!("no ACL entry matches {ip}"))?,
        (None, None) => return Err("give --group or --source".into()),
    };
    let at = match &a.at {
        Some(text) => parse_at(text, At::now())?,
        None => At::now(),
    };
    let mut o = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(o, "at: {at} ({} UTC)", at.week_minute(0));
    let _ = writeln!(o, "group: {}", t.group_name(group).unwrap_or("?"));
    let _ = writeln!(o, "dialled: {}", a.number);
    let mut scratch = DialplanScratch::default();
    let dialled = s.apply_dialplan(group, &a.number, &mut scratch);
    match dialled.rule {
        Some(i) => {
            let d = &t.dialplan[i as usize];
            let _ = writeln!(
                o,
                "dialplan: line {} {} {:?} -> {:?}: {}",
                d.line,
                if d.regex { "regex" } else { "prefix" },
                d.pattern.as_str(),
                d.replace.as_str(),
                dialled.number
            );
        }
        None => {
            let _ = writeln!(o, "dialplan: no rule matched");
        }
    }
    let number = dialled.number.to_string();
    let Some(rule) = s.lookup(group, &number, at) else {
        let _ = writeln!(o, "rule: none (no prefix of {number} routes in this group)");
        print(&o)?;
        return Err(format!("no route for {number}"));
    };
    let _ = writeln!(
        o,
        "rule: line {}: {}",
        rule.line(),
        report::rule_name(t, &rule)
    );
    if let Some(zone) = rule.zone() {
        let (offset, local) = rule.clock(at);
        let _ = writeln!(
            o,
            "window clock: {local} {zone} (UTC{})",
            utc_offset(offset)
        );
    }
    let _ = writeln!(
        o,
        "targets: {}",
        rule.target_ids().collect::<Vec<_>>().join(";")
    );
    if !rule.attrs().is_empty() {
        let _ = writeln!(o, "attrs: {}", rule.attrs());
    }
    let mut gws = Vec::new();
    t.gateways_for(&rule, a.seed, &mut gws);
    let mut out = String::new();
    let _ = writeln!(o, "gateways:");
    for (n, g) in gws.iter().enumerate() {
        if let Some(gw) = t.gateway(*g) {
            gw.rewrite(&number, &mut out);
            let _ = writeln!(o, "  {}. {} -> {}", n + 1, report::gateway_line(gw), out);
        }
    }
    print(&o)
}

/// `--at`: `DAY HH:MM` (UTC, the latest such minute at or before `now`)
/// or an RFC 3339 timestamp.
fn parse_at(text: &str, now: At) -> Result<At, String> {
    if let Some(minute) = WeekMinute::parse(text) {
        return Ok(At::latest(minute, now));
    }
    At::parse_rfc3339(text).map_err(|e| {
        format!(
            "--at `{text}`: expected `DAY HH:MM` (UTC) or an RFC 3339 timestamp such as 2026-07-01T09:30:00Z ({e})"
        )
    })
}

/// `+01:00`, `-05:00`, `+05:45` (seconds too, should a zone have them).
fn utc_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let s = secs.unsigned_abs();
    let mut out = format!("{sign}{:02}:{:02}", s / 3600, s % 3600 / 60);
    if s % 60 != 0 {
        out.push_str(&format!(":{:02}", s % 60));
    }
    out
}

fn diff(old: &PathBuf, new: &PathBuf, summary: bool) -> Result<(), String> {
    let a = Snapshot::open(old).map_err(|e| e.to_string())?;
    let b = Snapshot::open(new).map_err(|e| e.to_string())?;
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    let mut sink = io::sink();
    let out: &mut dyn Write = if summary { &mut sink } else { &mut lock };
    let c = report::diff(a.table(), b.table(), out).map_err(|e| e.to_string())?;
    writeln!(
        lock,
        "rules: {} added, {} removed, {} changed; gateways: {} changed; carriers: {} changed",
        c.rules_added, c.rules_removed, c.rules_changed, c.gateways_changed, c.carriers_changed
    )
    .map_err(|e| e.to_string())
}

fn verify(paths: &[PathBuf]) -> Result<(), String> {
    let mut failed = Vec::new();
    for p in paths {
        match Snapshot::open(p) {
            Ok(s) => print(&format!(
                "{}: ok ({} rules, checksum {:016x})\n",
                p.display(),
                s.table().rules.len(),
                s.header().body_checksum
            ))?,
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    }
}

fn gen_cmd(a: &GenArgs) -> Result<(), String> {
    let cfg = GenConfig {
        rules: a.rules,
        gateways: a.gateways,
        seed: a.seed,
    };
    generate::write_deck(&cfg, &a.output).map_err(|e| format!("{}: {e}", a.output.display()))?;
    print(&format!(
        "{}: gateways.csv carriers.csv rules.csv dialplan.csv acl.csv ({} rules)\n",
        a.output.display(),
        a.rules
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_a_week_minute_or_a_timestamp() {
        // Tuesday 2026-11-24 10:00:30Z.
        let now = At::from_unix(1_795_392_000 + 86_400 + 36_030);
        let at = |s: &str| parse_at(s, now).map(|a| a.to_string());
        assert_eq!(at("tue 10:00").as_deref(), Ok("2026-11-24T10:00:00Z"));
        assert_eq!(at("wed 09:00").as_deref(), Ok("2026-11-18T09:00:00Z"));
        assert_eq!(
            at("2026-07-01T09:30:00Z").as_deref(),
            Ok("2026-07-01T09:30:00Z")
        );
        assert_eq!(
            at("2026-07-01T10:30:00+01:00").as_deref(),
            Ok("2026-07-01T09:30:00Z")
        );
        let e = at("tomorrow").unwrap_err();
        assert!(
            e.starts_with("--at `tomorrow`: expected `DAY HH:MM`"),
            "{e}"
        );
        assert_eq!(utc_offset(3600), "+01:00");
        assert_eq!(utc_offset(-18_000), "-05:00");
        assert_eq!(utc_offset(20_700), "+05:45");
        assert_eq!(utc_offset(0), "+00:00");
    }
}
