//! `sim` subcommand (not built yet).
use std::process::ExitCode;

#[derive(clap::Args, Default)]
pub struct SimArgs {}

pub fn run(_args: SimArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sim` is not built yet")
}
