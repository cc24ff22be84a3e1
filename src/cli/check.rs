//! `check`: evaluates one write against a state without sending it.
//!
//! Exit codes: 0 admitted (allow or warn), 1 rejected, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use marathon_model::ops::{apply, parse_write, NoHistory};
use marathon_model::Timestamp;
use serde_json::json;
use znode_size::Estimator;

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
    /// A `proxy.toml` whose `[admission]` table sets `margin`, `warn_at` and `mode`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let policy = super::policy::load(args.config.as_deref())?;
    let flavour = args.store.flavour();
    let root = match (&args.state, &args.marathon) {
        (Some(path), _) => load_state(path, flavour)?,
        (None, Some(url)) => parse_state(&super::live::fetch_root(url)?, flavour)?,
        (None, None) => anyhow::bail!("give --state ROOT.json or --marathon URL"),
    };
    let body = read_optional(args.body.as_ref())?;
    let method = args.method.to_ascii_uppercase();
    let (path, query) = match args.path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (args.path.clone(), None),
    };

    let estimator = Estimator::new(args.store.store_config());
    let current = estimator.state(&root);
    let write = parse_write(&method, &path, query.as_deref(), &body, flavour);
    let outcome = match write {
        Ok(Some(write)) => Some(apply(&root, &write, Timestamp::now(), flavour, &NoHistory)),
        Ok(None) => None,
        Err(err) => Some(Err(err)),
    };

    let mut out = json!({
        "write": format!("{method} {}", args.path),
        "layout": estimator.cfg.layout.as_str(),
        "limit_bytes": current.limit_bytes,
        "reject_at_bytes": policy.reject_at(current.limit_bytes),
        "current_root_bytes": current.root_bytes,
    });
    let (verdict, reasons, exit) = match outcome {
        None => {
            out["estimated_root_bytes"] = json!(current.root_bytes);
            out["estimated_plan_bytes"] = json!(null);
            ("allow", vec!["not a write that changes persisted state".to_string()], 0)
        }
        Some(Err(err)) => {
            out["estimated_root_bytes"] = json!(current.root_bytes);
            out["estimated_plan_bytes"] = json!(null);
            out["marathon_answer"] = json!({"status": err.status(), "body": err.body()});
            let reason = format!("Marathon answers this write itself with {}: {}", err.status(), err.body());
            ("allow", vec![reason], 0)
        }
        Some(Ok(outcome)) if !outcome.deployment => {
            out["estimated_root_bytes"] = json!(current.root_bytes);
            out["estimated_plan_bytes"] = json!(null);
            ("allow", vec!["the write creates no deployment and persists nothing large".to_string()], 0)
        }
        Some(Ok(outcome)) => {
            let predicted = estimator.deployment(&root, &outcome.root);
            let after = estimator.state(&outcome.root);
            let decision = admission::decide(&policy, &current, &predicted);
            out["estimated_root_bytes"] = json!(after.root_bytes);
            out["estimated_plan_bytes"] = json!(predicted.plan_bytes);
            out["binding_node"] = json!(predicted.binding_node);
            out["binding_bytes"] = json!(predicted.binding_bytes);
            out["marathon_accepts"] = json!(predicted.accepted);
            out["affected"] = json!(outcome.affected.iter().map(|p| p.to_string()).collect::<Vec<_>>());
            let verdict = match decision.decision {
                admission::Verdict::Allow => "allow",
                admission::Verdict::Warn => "warn",
                admission::Verdict::Reject => "reject",
            };
            let exit = if decision.admitted() { 0 } else { 1 };
            (verdict, decision.reasons, exit)
        }
    };
    out["decision"] = json!(verdict);
    out["reasons"] = json!(reasons);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out).context("printing JSON")?);
    } else {
        println!("{}: {}", verdict.to_uppercase(), out["write"].as_str().unwrap_or_default());
        for reason in &reasons {
            println!("  - {reason}");
        }
        println!(
            "  root group: {} -> {} bytes; plan: {}; limit {} bytes ({})",
            current.root_bytes,
            out["estimated_root_bytes"],
            out["estimated_plan_bytes"],
            current.limit_bytes,
            estimator.cfg.layout.as_str()
        );
    }
    Ok(ExitCode::from(exit))
}
