//! `check`: evaluates one write against a state without sending it, through the running proxy's
//! own pipeline (group modes, quotas, the health-check wall) and with the JSON of its
//! `POST /admission/v1/check`.
//!
//! Exit codes: 0 admitted (allow or warn), 1 rejected, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use admission_runtime::ServeConfig;
use anyhow::Context;
use marathon_model::ops::Flavour;

use super::store_args::{load_state, parse_state, read_optional, StoreArgs};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The state: what `GET /v2/groups?embed=group.groups&embed=group.apps` returns.
    #[arg(long, conflicts_with = "marathon", required_unless_present = "marathon")]
    pub state: Option<PathBuf>,
    /// Read the live state from this Marathon instead of a file.
    #[arg(long)]
    pub marathon: Option<String>,
    /// The write's HTTP method.
    #[arg(long)]
    pub method: String,
    /// The write's path, with its query string if any (e.g. `/v2/apps/web?force=true`).
    #[arg(long)]
    pub path: String,
    /// The request body.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// A `proxy.toml`: its `[admission]` table (margin, warn_at, modes, store settings),
    /// `[[quota]]` and `[[exemption]]` apply as in the proxy; the store flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args)?;
    let version = args.store.marathon_version();
    let store = config.admission.store_config(version);
    let flavour = if store.flavor == znode_size::AppFlavor::V14 { Flavour::V14 } else { Flavour::V13 };
    let root = match (&args.state, &args.marathon) {
        (Some(path), _) => load_state(path, flavour)?,
        (None, Some(url)) => parse_state(&super::live::fetch_root(url, &config.proxy.upstream)?, flavour)?,
        (None, None) => anyhow::bail!("give --state ROOT.json or --marathon URL"),
    };
    let body = read_optional(args.body.as_ref())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let out = runtime.block_on(admission_runtime::offline_check::check(
        &config,
        root,
        version,
        &args.method,
        &args.path,
        &body,
    ))?;
    let verdict = out["decision"].as_str().unwrap_or("unknown").to_string();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out).context("printing JSON")?);
    } else {
        print_text(&verdict, &out);
    }
    Ok(ExitCode::from(if verdict == "reject" { 1 } else { 0 }))
}

/// The configuration file (if any) with the store flags laid over its `[admission]` table.
fn load_config(args: &CheckArgs) -> anyhow::Result<ServeConfig> {
    let mut config = match &args.config {
        Some(path) => ServeConfig::load(path)?,
        None => ServeConfig::default(),
    };
    config.override_admission(args.store.admission_overrides())?;
    Ok(config)
}

fn print_text(verdict: &str, out: &serde_json::Value) {
    println!("{}: {}", verdict.to_uppercase(), out["write"].as_str().unwrap_or_default());
    for reason in out["reasons"].as_array().into_iter().flatten() {
        println!("  - {}", reason.as_str().unwrap_or_default());
    }
    println!(
        "  root group: {} -> {} bytes; plan: {}; limit {} bytes ({})",
        out["current_root_bytes"], out["estimated_root_bytes"], out["estimated_plan_bytes"], out["limit_bytes"], out["layout"]
    );
}
