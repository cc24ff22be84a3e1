//! `check`: evaluates writes against a state without sending them, through the running proxy's
//! own pipeline (group modes, quotas, the health-check wall) and with the JSON of its
//! `POST /admission/v1/check`: one write (`--method`, `--path`, `--body`), or the definition files
//! a deploy tool sends, in order, each on the state the admitted ones before it leave
//! (`check FILE|DIR...`: one line per file, as CI logs show it).
//!
//! Exit codes: 0 admitted (allow or warn), 1 rejected (or, with `--warnings-as-errors`, warned),
//! 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use admission_runtime::ServeConfig;
use anyhow::Context;
use marathon_model::ops::Flavour;
use marathon_model::Group;

use super::store_args::{load_state, parse_state, read_optional, StoreArgs};

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Definition files (apps, groups, pods) or directories of them (their `*.json` files, by
    /// name), judged in order as a deploy tool sends them: an update (`PUT ...?force=true`) of
    /// what exists, a creation (`POST`) of the rest.
    #[arg(conflicts_with_all = ["method", "path", "body"])]
    pub files: Vec<PathBuf>,
    /// The state: what `GET /v2/groups?embed=group.groups&embed=group.apps` returns.
    #[arg(long, conflicts_with = "marathon", required_unless_present = "marathon")]
    pub state: Option<PathBuf>,
    /// Read the live state from this Marathon instead of a file.
    #[arg(long)]
    pub marathon: Option<String>,
    /// The write's HTTP method.
    #[arg(long, required_unless_present = "files")]
    pub method: Option<String>,
    /// The write's path, with its query string if any (e.g. `/v2/apps/web?force=true`).
    #[arg(long, required_unless_present = "files")]
    pub path: Option<String>,
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
    /// Exit 1 when a write is admitted with a warning, as when one is rejected.
    #[arg(long)]
    pub warnings_as_errors: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(&args)?;
    let version = args.store.marathon_version();
    let root = load_root(&args, &config)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if !args.files.is_empty() {
        let definitions = admission_runtime::definition_files::collect(&args.files)?;
        let decisions = runtime.block_on(admission_runtime::offline_check::check_files(&config, root, version, &definitions))?;
        let verdicts: Vec<&str> = decisions.iter().map(|d| d["decision"].as_str().unwrap_or("unknown")).collect();
        if args.json {
            let out = serde_json::json!({"files": decisions, "summary": summary(&verdicts)});
            println!("{}", serde_json::to_string_pretty(&out).context("printing JSON")?);
        } else {
            print_lines(&decisions);
        }
        return Ok(exit_code(&verdicts, args.warnings_as_errors));
    }
    let (Some(method), Some(path)) = (&args.method, &args.path) else { anyhow::bail!("give --method and --path, or definition files") };
    let body = read_optional(args.body.as_ref())?;
    let out = runtime.block_on(admission_runtime::offline_check::check(&config, root, version, method, path, &body))?;
    let verdict = out["decision"].as_str().unwrap_or("unknown").to_string();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out).context("printing JSON")?);
    } else {
        print_text(&verdict, &out);
    }
    Ok(exit_code(&[verdict.as_str()], args.warnings_as_errors))
}

/// 1 when a write is rejected (or warned about, with `warnings_as_errors`), else 0.
fn exit_code(verdicts: &[&str], warnings_as_errors: bool) -> ExitCode {
    let fails = |v: &&str| *v == "reject" || (warnings_as_errors && *v == "warn");
    ExitCode::from(u8::from(verdicts.iter().any(fails)))
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

/// The state from `--state` or `--marathon`.
fn load_root(args: &CheckArgs, config: &ServeConfig) -> anyhow::Result<Group> {
    let store = config.admission.store_config(args.store.marathon_version());
    let flavour = if store.flavor == znode_size::AppFlavor::V14 { Flavour::V14 } else { Flavour::V13 };
    match (&args.state, &args.marathon) {
        (Some(path), _) => load_state(path, flavour),
        (None, Some(url)) => parse_state(&super::live::fetch_root(url, &config.proxy.upstream)?, flavour),
        (None, None) => anyhow::bail!("give --state ROOT.json or --marathon URL"),
    }
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

/// One line per file (`FILE: DECISION: WRITE (group G, owner O): reasons`, the form compilers
/// use, which CI logs and their problem matchers show as is), then one line of totals.
fn print_lines(decisions: &[serde_json::Value]) {
    for d in decisions {
        println!("{}", line(d));
    }
    let verdicts: Vec<&str> = decisions.iter().map(|d| d["decision"].as_str().unwrap_or("unknown")).collect();
    let s = summary(&verdicts);
    // The state the run leaves: after the last admitted file.
    let admitted = decisions.iter().rev().find(|d| matches!(d["decision"].as_str(), Some("allow" | "warn")));
    let bytes = |d: Option<&serde_json::Value>, k: &str| d.and_then(|d| d[k].as_u64()).map_or("?".to_string(), |b| b.to_string());
    let (first, last) = (decisions.first(), decisions.last());
    println!(
        "check: {} files: {} admitted ({} with a warning), {} rejected, {} undecided; root group {} -> {} bytes (limit {} bytes, {})",
        verdicts.len(),
        s["admitted"],
        s["warned"],
        s["rejected"],
        s["undecided"],
        bytes(first, "current_root_bytes"),
        bytes(admitted.or(first), if admitted.is_some() { "estimated_root_bytes" } else { "current_root_bytes" }),
        bytes(last, "limit_bytes"),
        last.and_then(|d| d["layout"].as_str()).unwrap_or("?"),
    );
}

fn line(d: &serde_json::Value) -> String {
    let owner = d["owner"].as_str().map(|o| format!(", owner {o}")).unwrap_or_default();
    let reasons: Vec<&str> = d["reasons"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
    let text = format!(
        "{}: {}: {} (group {}{owner}): {}",
        d["file"].as_str().unwrap_or("?"),
        d["decision"].as_str().unwrap_or("unknown"),
        d["write"].as_str().unwrap_or("?"),
        d["group"].as_str().unwrap_or("/"),
        reasons.join("; ")
    );
    text.replace(['\n', '\r'], " ")
}

fn summary(verdicts: &[&str]) -> serde_json::Value {
    let count = |v: &str| verdicts.iter().filter(|x| **x == v).count();
    serde_json::json!({
        "admitted": count("allow") + count("warn"),
        "warned": count("warn"),
        "rejected": count("reject"),
        // What needs Marathon to be judged (a rollback offline): neither passed nor failed.
        "undecided": verdicts.len() - count("allow") - count("warn") - count("reject"),
    })
}
