//! One module per subcommand. Each exposes its clap `Args` and a `run` returning the exit code.

pub mod check;
mod live;
pub mod report;
mod report_footprint;
mod report_history;
pub mod serve;
pub mod sim;
mod store_args;

/// `--version`: the crate version and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("GIT_COMMIT"), ")");
