//! The `trunkline` command line.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = trunkline_engine::cli::Cli::parse();
    trunkline_engine::cli::run(cli)
}
