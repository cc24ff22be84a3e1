//! `serve`: run the admission proxy in front of Marathon.
//!
//! `marathon-admission` with no subcommand runs this with `ServeArgs::default()`, which means
//! `--config proxy.toml`. Precedence: built-in defaults < file < `MARATHON_ADMISSION_*`
//! environment < flags, so a script can start it on chosen loopback ports without a config file.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
fn load(args: &ServeArgs) -> anyhow::Result<proxy::ProxyConfig> {
    let mut config = match &args.config {
        Some(path) => proxy::ProxyConfig::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => {
            proxy::ProxyConfig::load(Path::new(DEFAULT_CONFIG))?
        }
        None => proxy::ProxyConfig::default(),
    };
    config.apply_process_env()?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(a) = args.admin_listen {
        config.admin_listen = a;
    }
    if !args.marathon.is_empty() {
        config.set_marathon(args.marathon.clone());
    }
    config.validate()?;
    proxy::admit::AdmitConfig::from_table(config.admission.as_ref())?;
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

    let config = load(&args)?;
    let origin = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".to_owned());

    if args.check_config {
        config.check_files()?;
        for k in &config.unknown_keys {
            eprintln!("warning: {origin}: unknown top-level key `{k}` (ignored)");
        }
        println!(
            "{origin}: OK (listen {}, admin {}, marathon {}{})",
            config.listen,
            config.admin_listen,
            config.marathon.join(", "),
            if config.listener.tls.is_some() { ", TLS listener" } else { "" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    for k in &config.unknown_keys {
        tracing::warn!("{origin}: unknown top-level key `{k}` (ignored)");
    }

    if config.wants_embedded() {
        // The in-process simulator (crates/marathon-sim) is wired here once it exists: start it on
        // a loopback port, then `config.set_marathon(vec![its_url])`, and log loudly that this is
        // a simulator, not a real Marathon.
        anyhow::bail!(
            "{origin}: marathon = [\"embedded\"] asks for the in-process Marathon simulator, which \
             `serve` cannot start yet. Start one with `marathon-admission sim --listen 127.0.0.1:8080` \
             and run `marathon-admission serve --marathon http://127.0.0.1:8080`, or set \
             `marathon` in {origin} (or MARATHON_ADMISSION_MARATHON) to your Marathon URLs."
        );
    }

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.runtime.worker_threads > 0 {
        builder.worker_threads(config.runtime.worker_threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Admission (issue 5), unless `[admission] enabled = false`.
        let phases: Arc<dyn proxy::RequestPhases> = proxy::admit::phases_for(&config)?;
        proxy::serve(config, phases, proxy::shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
