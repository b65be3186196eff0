//! Command-line interface: `trunkline <subcommand>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod parse;
pub mod run;
pub mod snap;

/// trunkline: a thread-per-core SIP router.
#[derive(Debug, Parser)]
#[command(name = "trunkline", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router. With no options: 127.0.0.1:5060, stateful,
    /// record-routing, one shard per core, requests routed by their
    /// Request-URI (or to `--to`).
    Run(run::RunArgs),
    /// Check a configuration file without starting; exit 1 on an error,
    /// which names the file, line and key.
    CheckConfig(run::CheckArgs),
    /// Parse raw SIP messages (one per file, `-` for stdin) and print one
    /// JSON line each: the fields a proxy acts on, or the error and the
    /// response a proxy would send. Exit 0 if all are valid, 1 otherwise.
    Parse(parse::ParseArgs),
    /// Routing-table snapshots: build, inspect, lookup, diff, verify, gen.
    Snap(snap::SnapArgs),
    /// Ask a running router through its control socket: `status`,
    /// `reload`, `limits` (each call limit's calls now, admitted and
    /// refused), `quality` (each gateway's ASR, NER, ACD, PDD and
    /// demotion), `dispatcher` (each set's destinations, up on how many
    /// shards); prints the answer, exits 1 on a refusal.
    Ctl(CtlArgs),
}

/// Arguments of `ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The router's control socket (its `control` setting).
    #[arg(long, value_name = "PATH")]
    pub control: std::path::PathBuf,
    /// The command and its arguments.
    #[arg(required = true, num_args = 1..)]
    pub command: Vec<String>,
}

/// `trunkline ctl`: one request, its answer printed.
fn ctl(args: &CtlArgs) -> ExitCode {
    match crate::runtime::control::request(&args.control, &args.command.join(" ")) {
        Ok(answer) => {
            // `limits`, `quality` and `dispatcher` answer a line per
            // limit, gateway or destination,
            // joined with ` | ` (the socket answers one line).
            for part in answer.split(" | ") {
                println!("{part}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trunkline ctl: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::CheckConfig(args) => run::check(&args),
        Command::Parse(args) => parse::run(&args),
        Command::Snap(args) => snap::run(&args),
        Command::Ctl(args) => ctl(&args),
    }
}
