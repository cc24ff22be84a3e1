//! `report`: where the persisted bytes go, per group (own and subtree) and per app, and how much
//! room is left before a deployment hits the limit. `--way-out`: the steps that bring the binding
//! node down to a target instead ([`admission::way_out`]). `--history FILE`: the growth of the
//! last days, from the proxy's size history ([`super::report_history`]). Every report ends with
//! the ZooKeeper footprint: what ZooKeeper holds for Marathon's apps besides the binding node
//! (version copies, pending plans; [`super::report_footprint`]).

use std::path::PathBuf;
use std::process::ExitCode;

use admission::way_out;
use marathon_model::{Group, PathId};
use serde_json::json;
use znode_size::encoded_tree::EncodedGroup;
use znode_size::{Estimator, Layout, StoreConfig};

use super::report_footprint::{self, RealFootprint};
use super::store_args::{load_state, parse_state, StoreArgs};

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The state: what `GET /v2/groups?embed=group.groups&embed=group.apps` returns.
    #[arg(long, group = "source")]
    pub state: Option<PathBuf>,
    /// Read the live state from this Marathon (with the `[upstream]` settings of `--config`,
    /// credentials included, and the credential environment variables).
    #[arg(long, group = "source")]
    pub marathon: Option<String>,
    /// A `proxy.toml` whose `[upstream]` table (TLS, `[upstream.auth]`) `--marathon` uses, or
    /// whose `[zookeeper]` login (digest, SASL, Kerberos, TLS) `--zk` uses.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read the real node sizes from ZooKeeper (`HOST:PORT[/PATH]`).
    #[arg(long, group = "source")]
    pub zk: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many groups and apps to list.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print the way out instead: the ordered steps (delete apps or groups, empty environments)
    /// that bring the binding node down to `--target`.
    #[arg(long)]
    pub way_out: bool,
    /// With `--way-out`: the target, as a fraction of the limit.
    #[arg(long, default_value_t = 0.8, requires = "way_out", value_parser = parse_fraction)]
    pub target: f64,
    /// With `--way-out`: a group or app id the plan must not touch (repeatable, or
    /// comma-separated), as `[admission] protect`.
    #[arg(long, requires = "way_out", value_delimiter = ',')]
    pub protect: Vec<String>,
    /// The size history the proxy keeps (`[admission] history_file`): print the growth of the
    /// last `--days` and the days left to the wall at that rate (alone, or after the report of
    /// `--state` / `--marathon`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["zk", "way_out"])]
    pub history: Option<PathBuf>,
    /// Deployments in progress: each keeps a plan (and, on 1.4+, root versions) in ZooKeeper;
    /// counted in the footprint [default: with --marathon, what `/v2/deployments` lists; with
    /// --state, not known; --zk counts the plan nodes it finds].
    #[arg(long)]
    pub pending_deployments: Option<u32>,
    /// With `--history`: the days the growth is measured over.
    #[arg(long, default_value_t = 7.0, requires = "history", value_parser = super::report_history::parse_days)]
    pub days: f64,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if args.config.is_some() && args.marathon.is_none() && args.zk.is_none() {
        anyhow::bail!("--config goes with --marathon (its [upstream]) or --zk (its [zookeeper] login)");
    }
    let history = args.history.as_deref().map(|p| super::report_history::section(p, args.days)).transpose()?;
    if let (Some(h), None, None) = (&history, &args.state, &args.marathon) {
        if args.json {
            println!("{}", serde_json::to_string_pretty(h)?);
        } else {
            super::report_history::print_text(h);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let flavour = args.store.flavour();
    let mut pending = args.pending_deployments;
    let root = match (&args.state, &args.marathon, &args.zk) {
        (Some(path), _, _) => load_state(path, flavour)?,
        (None, Some(url), _) => {
            let config = match &args.config {
                Some(path) => admission_runtime::ServeConfig::load(path)?,
                None => admission_runtime::ServeConfig::default(),
            };
            let root = parse_state(&super::live::fetch_root(url, &config.proxy.upstream)?, flavour)?;
            if pending.is_none() && !args.way_out {
                pending = Some(super::live::fetch_pending_deployments(url, &config.proxy.upstream)?);
            }
            root
        }
        (None, None, Some(_)) if args.way_out => anyhow::bail!("--way-out needs the state: give --state ROOT.json or --marathon URL"),
        (None, None, Some(spec)) => return zk_report(spec, &args),
        _ => anyhow::bail!("give one of --state ROOT.json, --marathon URL, --zk HOST:PORT/PATH or --history FILE"),
    };
    let cfg = args.store.store_config();
    if args.way_out {
        return way_out(&root, &cfg, &args);
    }
    let estimator = Estimator::new(cfg.clone());
    let state = estimator.state(&root);
    let self_plan = estimator.deployment(&root, &root);
    let encoded = estimator.encode(&root);

    let mut groups = Vec::new();
    encoded.visit(&mut |g: &EncodedGroup| {
        let mut apps = 0usize;
        g.visit(&mut |sub| apps += sub.apps.len());
        groups.push(json!({"id": g.id.to_string(), "own_bytes": g.own_len(), "subtree_bytes": g.len(), "apps": apps}));
    });
    groups.sort_by_key(|g| std::cmp::Reverse(g["subtree_bytes"].as_u64()));
    let mut apps = Vec::new();
    encoded.visit(&mut |g| apps.extend(g.apps.iter().map(|a| (a.id().to_string(), a.bytes.len()))));
    apps.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let headroom = headroom(&cfg.layout, &apps, &self_plan, &state);
    let footprint = report_footprint::estimated(&root, &encoded, &self_plan, &cfg, pending);

    let mut out = json!({
        "layout": cfg.layout.as_str(),
        "root_bytes": state.root_bytes,
        "root_raw_bytes": encoded.len(),
        "plan_bytes": self_plan.plan_bytes,
        "binding_bytes": self_plan.binding_bytes,
        "limit_bytes": state.limit_bytes,
        "app_count": apps.len(),
        "headroom": headroom,
        "groups": groups.iter().take(args.top).collect::<Vec<_>>(),
        "apps": apps.iter().take(args.top).map(|(id, b)| json!({"id": id, "bytes": b})).collect::<Vec<_>>(),
        "footprint": report_footprint::to_json(&footprint, None),
    });
    if let Some(h) = &history {
        out["history"] = h.clone();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&out);
        report_footprint::print_text(&footprint, None);
        if let Some(h) = &history {
            println!();
            super::report_history::print_text(h);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--way-out`: the plan, as JSON or one line per step with the request that applies it.
fn way_out(root: &Group, cfg: &StoreConfig, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let protect: Vec<PathId> = args.protect.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).map(PathId::parse).collect();
    if let Some(p) = args.protect.iter().map(|p| p.trim()).find(|p| !p.is_empty() && !p.starts_with('/')) {
        anyhow::bail!("--protect takes absolute ids (e.g. /prod), got {p:?}");
    }
    let target_bytes = (cfg.limit_bytes() as f64 * args.target) as u64;
    let req = way_out::Request { root, store: cfg, target_bytes, protect: &protect, max_steps: None, known_binding: None };
    let plan = way_out::plan(&req);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "binding node now {} bytes (limit {}); target {} bytes ({:.0}% of the limit)",
        plan.binding_bytes,
        plan.limit_bytes,
        plan.target_bytes,
        100.0 * args.target
    );
    for (i, step) in plan.steps.iter().enumerate() {
        let (method, path, body) = step.request();
        let request = format!("{method} {path}{}", body.map(|b| format!(" {b}")).unwrap_or_default());
        println!("{:>4}. {:<50} {}; then {} bytes", i + 1, request, step.describe(), step.binding_bytes_after);
    }
    let end = plan.steps.last().map_or(plan.binding_bytes, |s| s.binding_bytes_after);
    match (plan.reached, plan.steps.is_empty()) {
        (true, true) => println!("already at or under the target: nothing to do"),
        (true, false) => println!("{} steps: the binding node ends at {end} bytes, at or under the target", plan.steps.len()),
        (false, _) => println!("not reached: the binding node ends at {end} bytes; what is left is protected or cannot shrink further"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A fraction of the limit, in (0, 1].
fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!("a fraction of the limit in (0, 1], e.g. 0.8; got {raw:?}")),
    }
}

/// The real node sizes under Marathon's state path, largest first (like znode-size-printer), and
/// the footprint they add up to beside the one the rules allow for the current nodes read.
fn zk_report(spec: &str, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let login = match &args.config {
        Some(path) => admission_runtime::ServeConfig::load(path)?.zookeeper.login,
        None => marathon_zk::ZkLogin::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(marathon_zk::zk_report(spec, &login)).map_err(|e| match &args.config {
        Some(_) => e,
        None => anyhow::anyhow!(
            "{e:#}\n(read without a login: if the ensemble wants one (digest, SASL, Kerberos, TLS), put it in the [zookeeper] table of a proxy.toml and pass --config)"
        ),
    })?;
    let mut store = args.store.clone();
    store.layout = store.layout.or_else(|| report.layout.as_deref().and_then(|l| l.parse().ok()));
    let cfg = store.store_config();
    let limit = cfg.limit_bytes();
    let real = RealFootprint::of(&report.nodes);
    let footprint = real.estimate(&cfg);
    let stored_order = stored_order_of(&report);
    if args.json {
        let out = json!({
            "zk": report.zk,
            "layout": report.layout,
            "root_bytes": report.root_bytes,
            "limit_bytes": limit,
            "node_count": report.nodes.len(),
            "nodes": report.nodes.iter().take(args.top).collect::<Vec<_>>(),
            "footprint": report_footprint::to_json(&footprint, Some(&real)),
            "stored_order": stored_order,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{}: layout {}, root group node {} bytes, limit {limit} bytes, {} nodes",
            report.zk,
            report.layout.as_deref().unwrap_or("unknown"),
            report.root_bytes.map_or("absent".to_string(), |b| b.to_string()),
            report.nodes.len()
        );
        if let Some(o) = stored_order.as_object() {
            println!(
                "stored order: {} of {} groups keep their subgroups or small app sets out of id order (GET /v2/groups sorts them by id; the order changes the compressed size: [zookeeper] read lets the proxy take it from here)",
                o["out_of_id_order"], o["groups"]
            );
        }
        for node in report.nodes.iter().take(args.top) {
            println!("{:>12}  {}", node.bytes, node.path);
        }
        report_footprint::print_text(&footprint, Some(&real));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the legacy root node says of its order that `GET /v2/groups` cannot (null for the 1.4+
/// layout, whose root is not compressed, and when the node cannot be decoded: said on stderr).
fn stored_order_of(report: &marathon_zk::ZkReport) -> serde_json::Value {
    let Some(node) = report.root.as_ref().filter(|n| n.layout == marathon_zk::RootLayout::Legacy) else {
        return serde_json::Value::Null;
    };
    match znode_size::stored_order::StoredOrder::from_legacy_root_node(&node.data) {
        Ok(order) => {
            let (groups, out) = order.out_of_id_order();
            json!({"root_version": order.version, "groups": groups, "out_of_id_order": out})
        }
        Err(e) => {
            eprintln!("warning: the root node cannot be decoded ({e}); its order is not reported");
            serde_json::Value::Null
        }
    }
}

/// How many more apps like the median one fit before a deployment reaches the limit: each adds
/// its bytes twice to a legacy plan (original and target), scaled by the plan's compression ratio.
fn headroom(layout: &Layout, apps: &[(String, usize)], plan: &znode_size::Estimate, state: &znode_size::Estimate) -> serde_json::Value {
    let mut sizes: Vec<usize> = apps.iter().map(|a| a.1).collect();
    sizes.sort_unstable();
    let median = sizes.get(sizes.len() / 2).copied().unwrap_or(214) as f64;
    let limit = plan.limit_bytes as f64;
    let used = plan.binding_bytes as f64;
    let per_app = match layout {
        Layout::Legacy => {
            let ratio = match plan.plan_raw_bytes {
                Some(raw) if raw > 0 => (plan.binding_bytes as f64 / raw as f64).min(1.0),
                _ => 1.0,
            };
            2.0 * (median + 3.0) * ratio
        }
        // An app reference in the root group: safe path and version, about 40 bytes.
        Layout::V14 => 40.0,
    };
    let fit = ((limit - used) / per_app).floor().max(0.0);
    json!({
        "bytes_left": (limit - used).max(0.0) as u64,
        "used_fraction": used / limit,
        "median_app_bytes": median as u64,
        "more_median_apps_fit": fit as u64,
        "root_bytes": state.root_bytes,
    })
}

fn print_text(out: &serde_json::Value) {
    println!(
        "layout {}: root group {} bytes persisted ({} raw); a deployment plan {} bytes; limit {} bytes",
        out["layout"].as_str().unwrap_or_default(),
        out["root_bytes"],
        out["root_raw_bytes"],
        out["plan_bytes"],
        out["limit_bytes"]
    );
    let h = &out["headroom"];
    println!(
        "headroom: {} bytes left ({:.1}% used): about {} more apps like the median one ({} bytes)",
        h["bytes_left"],
        100.0 * h["used_fraction"].as_f64().unwrap_or(0.0),
        h["more_median_apps_fit"],
        h["median_app_bytes"]
    );
    println!("\n{:>12} {:>12} {:>6}  group", "subtree", "own", "apps");
    for g in out["groups"].as_array().into_iter().flatten() {
        let n = |k: &str| g[k].as_u64().unwrap_or(0);
        println!("{:>12} {:>12} {:>6}  {}", n("subtree_bytes"), n("own_bytes"), n("apps"), g["id"].as_str().unwrap_or_default());
    }
    println!("\n{:>12}  app", "bytes");
    for a in out["apps"].as_array().into_iter().flatten() {
        println!("{:>12}  {}", a["bytes"].as_u64().unwrap_or(0), a["id"].as_str().unwrap_or_default());
    }
}
