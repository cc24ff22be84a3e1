//! `check` subcommand (not built yet).
use std::process::ExitCode;

#[derive(clap::Args, Default)]
pub struct CheckArgs {}

pub fn run(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`check` is not built yet")
}
