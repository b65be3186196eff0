//! Command-line interface: `trunkline <subcommand>`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod parse;

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
    /// Parse raw SIP messages (one per file, `-` for stdin) and print one
    /// JSON line each: the fields a proxy acts on, or the error and the
    /// response a proxy would send. Exit 0 if all are valid, 1 otherwise.
    Parse(parse::ParseArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Parse(args) => parse::run(&args),
    }
}
