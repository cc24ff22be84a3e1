//! `serve` subcommand (not built yet).
use std::process::ExitCode;

#[derive(clap::Args, Default)]
pub struct ServeArgs {}

pub fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`serve` is not built yet")
}
