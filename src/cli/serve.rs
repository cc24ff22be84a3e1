//! `serve`: run the admission proxy in front of Marathon.
//!
//! `marathon-admission` with no subcommand runs this with `ServeArgs::default()`, which means
//! `--config proxy.toml`. Precedence: built-in defaults < file < `MARATHON_ADMISSION_*`
//! environment < flags, so a script can start it on chosen loopback ports without a config file.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use admission_runtime::ServeConfig;
use anyhow::Context;

const DEFAULT_CONFIG: &str = "proxy.toml";

#[derive(clap::Args, Default, Debug)]
pub struct ServeArgs {
    /// Configuration file [default: proxy.toml; built-in defaults if that file is absent].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Proxy listener address (overrides `listen`).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Marathon base URL; repeat for several Marathons (overrides `marathon`).
    #[arg(long = "marathon", value_name = "URL")]
    pub marathon: Vec<String>,
    /// Admin listener address for /healthz, /readyz, /metrics (overrides `admin_listen`).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Validate the configuration (file, environment, flags, certificate files) and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// Reads the file (if any), then applies the environment and the flags.
fn load(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
    let mut config = match &args.config {
        Some(path) => ServeConfig::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => ServeConfig::load(Path::new(DEFAULT_CONFIG))?,
        None => ServeConfig::default(),
    };
    config.apply_process_env()?;
    let transport = &mut config.proxy;
    if let Some(l) = args.listen {
        transport.listen = l;
    }
    if let Some(a) = args.admin_listen {
        transport.admin_listen = a;
    }
    if !args.marathon.is_empty() {
        transport.set_marathon(args.marathon.clone());
    }
    transport.validate()?;
    Ok(config)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MARATHON_ADMISSION_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let mut config = load(&args)?;
    let transport = &config.proxy;
    let origin = transport
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".to_owned());

    if args.check_config {
        transport.check_files()?;
        let credentials = transport.own_credentials()?;
        let ledger = match &config.ledger.zookeeper {
            Some(zk) => format!("shared through ZooKeeper at {}{}", zk.hosts, zk.path),
            None => "this process's own".to_owned(),
        };
        println!(
            "{origin}: OK (listen {}, admin {}, marathon {}{}, the proxy's own credentials: {}, ledger: {ledger})",
            transport.listen,
            transport.admin_listen,
            transport.marathon.join(", "),
            if transport.listener.tls.is_some() { ", TLS listener" } else { "" },
            credentials.describe()
        );
        return Ok(ExitCode::SUCCESS);
    }
    admission_runtime::release_memory::configure_allocator();
    let runtime = build_runtime(transport.runtime.worker_threads)?;
    runtime.block_on(async {
        // `marathon = ["embedded"]`: the demo Marathon, in-process; kept alive while serving.
        let _simulator = if config.proxy.wants_embedded() {
            let sim = start_embedded_simulator(&config.proxy).await?;
            config.proxy.set_marathon(vec![sim.url()]);
            Some(sim)
        } else {
            None
        };
        // The proxy's own reads of Marathon: its leader poll, and what admission reads.
        let marathon = proxy::MarathonClient::new(&config.proxy)?;
        // Admission, unless `[admission] enabled = false`.
        let phases: Arc<dyn proxy::RequestPhases> = admission_runtime::phases_for(&config, &marathon)?;
        proxy::serve(config.proxy, phases, marathon, proxy::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The async runtime for `[runtime] worker_threads`: one thread runs tokio's current-thread
/// scheduler, whose wake-ups and task switches cost less than a one-worker multi-thread one
/// (measured: docs/BENCHMARKS.md, "Proxy read path"); 0 is one worker per core.
fn build_runtime(worker_threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    if worker_threads > 1 {
        builder.worker_threads(worker_threads);
    }
    builder.enable_all().build().context("cannot start the async runtime")
}

/// Apps in the embedded simulator's seed: heroku-like apps (10 env vars each) whose deployment
/// plan is about 83% of the 1 MB limit, so that a newcomer sees warnings and a rejection at once.
const EMBEDDED_SEED_APPS: usize = 1_800;

/// Starts the bundled Marathon simulator (Marathon 1.3.14 semantics, legacy layout) on a free
/// loopback port, seeded with a realistic state close to the wall, and says loudly what it is.
async fn start_embedded_simulator(config: &proxy::ProxyConfig) -> anyhow::Result<marathon_sim::SimHandle> {
    let seed = znode_size::synthetic::heroku_root(EMBEDDED_SEED_APPS, 10);
    let sim = marathon_sim::start(marathon_sim::SimConfig { state: Some(seed), ..marathon_sim::SimConfig::default() })
        .await
        .context("cannot start the embedded Marathon simulator")?;
    let proxy = format!("http://{}", config.listen);
    tracing::warn!(
        simulator = %sim.url(),
        "marathon = [\"embedded\"]: behind this proxy runs the bundled Marathon SIMULATOR (1.3.14, {EMBEDDED_SEED_APPS} apps, \
         a deployment plan near 83% of ZooKeeper's limit), not a real Marathon"
    );
    eprintln!(
        "\n  This is a demo: the Marathon behind {proxy} is the bundled simulator at {}.\n  \
         Try: curl -s {proxy}/v2/apps | head -c 300\n  \
         A small write is admitted with a warning (the state is near the wall):\n    \
         curl -si -X POST {proxy}/v2/apps -H 'Content-Type: application/json' -d '{{\"id\":\"/demo/hello\",\"cmd\":\"sleep 3600\"}}'\n  \
         A big one is rejected, and the message says why: see README.md, \"Your first ten minutes\".\n  \
         Point the proxy at a real Marathon with --marathon URL or `marathon` in proxy.toml.\n",
        sim.url()
    );
    Ok(sim)
}
