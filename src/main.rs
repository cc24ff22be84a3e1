//! `marathon-admission`: a thin binary. Every subcommand lives in `src/cli/<name>.rs` and calls
//! into the workspace crates; nothing here but argument dispatch.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "marathon-admission", version = cli::VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the admission proxy in front of Marathon (the default).
    Serve(cli::serve::ServeArgs),
    /// Evaluate a write, or definition files in order, against a state without sending them.
    Check(cli::check::CheckArgs),
    /// Show where the persisted bytes go, per group and app.
    Report(cli::report::ReportArgs),
    /// Run the Marathon simulator.
    Sim(cli::sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => cli::serve::run(cli::serve::ServeArgs::default()),
        Some(Command::Serve(args)) => cli::serve::run(args),
        Some(Command::Check(args)) => cli::check::run(args),
        Some(Command::Report(args)) => cli::report::run(args),
        Some(Command::Sim(args)) => cli::sim::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
