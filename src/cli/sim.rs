//! `sim` subcommand: run the Marathon simulator (`crates/marathon-sim`).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Default)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: Option<SocketAddr>,
    /// Seed state: what `GET /v2/groups?embed=group.groups&embed=group.apps` returns.
    #[arg(long, value_name = "ROOT.json")]
    pub state: Option<PathBuf>,
    /// Persist into ZooKeeper at HOST:PORT[/PATH] (default path /marathon).
    #[arg(long, value_name = "CONNECT[/PATH]")]
    pub zk: Option<String>,
    /// Log in to that ZooKeeper with Kerberos (SASL GSSAPI) and the process's credentials
    /// (`KRB5_CLIENT_KTNAME` or `KRB5CCNAME`), as Marathon does through a JAAS `Client` section;
    /// the servers' principal without its realm.
    #[arg(long, value_name = "SERVICE[/HOST]", requires = "zk")]
    pub zk_sasl_gssapi: Option<String>,
    /// 1.3.14 (legacy layout, plan-size check; the default) or 1.4+ (new layout).
    #[arg(long, value_name = "V", default_value = "1.3.14")]
    pub marathon_version: Option<String>,
    /// How long deployments stay listed in /v2/deployments, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub deploy_delay: u64,
    /// Marathon's --zk_timeout: how long a write is awaited before the client gets 503
    /// "Futures timed out" (the write goes on), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub zk_timeout: u64,
    /// How much longer than usual each write takes to persist (a slow ZooKeeper), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub write_delay: u64,
    /// Marathon's --zk_max_node_size.
    #[arg(long, default_value_t = 1_024_000)]
    pub zk_max_node_size: u64,
    /// Marathon's --disable_zk_compression.
    #[arg(long)]
    pub disable_zk_compression: bool,
    /// Marathon's --zk_compression_threshold.
    #[arg(long, default_value_t = 65_536)]
    pub zk_compression_threshold: u64,
    /// Marathon's --zk_max_versions (default 25 on 1.3, 50 on 1.4+).
    #[arg(long)]
    pub zk_max_versions: Option<usize>,
    /// Marathon's --http_credentials: HTTP Basic on every path, /ping included.
    #[arg(long, value_name = "USER:PASS", env = "MESOSPHERE_HTTP_CREDENTIALS", hide_env_values = true)]
    pub http_credentials: Option<String>,
    /// Marathon's --http_realm, named in the Basic challenge.
    #[arg(long, value_name = "REALM", default_value = "Mesosphere")]
    pub http_realm: Option<String>,
    /// A DC/OS service account (repeatable): the simulator then serves POST /acs/api/v1/auth/login
    /// and wants `Authorization: token=...` on everything but /ping.
    #[arg(long, value_name = "UID=PUBLIC_KEY.pem")]
    pub dcos_service_account: Vec<String>,
    /// Lifetime of the auth tokens the DC/OS login issues, in seconds [default: 432000, DC/OS's 5 days].
    #[arg(long, value_name = "SECS")]
    pub dcos_token_ttl: Option<u64>,
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let version = marathon_sim::MarathonVersion::parse(args.marathon_version.as_deref().unwrap_or("1.3.14"))?;
    let default_versions = match version {
        marathon_sim::MarathonVersion::V1_3_14 => 25,
        marathon_sim::MarathonVersion::V1_4(_) => 50,
    };
    anyhow::ensure!(args.zk_timeout > 0, "--zk-timeout: a write must be awaited for at least a millisecond");
    let zk_login = marathon_zk::ZkLogin::default().with_kerberos("sim --zk-sasl-gssapi", args.zk_sasl_gssapi.clone())?;
    let mut config = marathon_sim::SimConfig {
        listen: args.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        zk: args.zk,
        zk_login,
        marathon: version,
        deploy_delay: Duration::from_millis(args.deploy_delay),
        zk_timeout: Duration::from_millis(args.zk_timeout),
        write_delay: Duration::from_millis(args.write_delay),
        zk_max_node_size: args.zk_max_node_size,
        zk_compression: !args.disable_zk_compression,
        zk_compression_threshold: args.zk_compression_threshold,
        zk_max_versions: args.zk_max_versions.unwrap_or(default_versions),
        ..marathon_sim::SimConfig::default()
    };
    if let Some(raw) = &args.http_credentials {
        // Marathon would log the malformed value and run open; a test tool should say so instead.
        let creds = marathon_sim::authenticate::parse_http_credentials(raw)
            .ok_or_else(|| anyhow::anyhow!("--http-credentials: expected USER:PASS"))?;
        config.http_credentials = Some(creds);
    }
    if let Some(realm) = &args.http_realm {
        config.http_realm = realm.clone();
    }
    for spec in &args.dcos_service_account {
        let (uid, path) = spec
            .split_once('=')
            .filter(|(uid, path)| !uid.is_empty() && !path.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--dcos-service-account: expected UID=PUBLIC_KEY.pem, got `{spec}`"))?;
        let pem = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--dcos-service-account {uid}: reading {path}: {e}"))?;
        config.dcos_service_accounts.push((uid.to_string(), pem));
    }
    if let Some(secs) = args.dcos_token_ttl {
        config.dcos_token_ttl = Duration::from_secs(secs);
    }
    if let Some(path) = &args.state {
        config = config.with_state_file(path)?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let handle = marathon_sim::start(config).await?;
        eprintln!(
            "marathon-sim {} listening on {}",
            handle.sim().cfg.marathon.version_string(),
            handle.url()
        );
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { loop { tokio::time::sleep(Duration::from_secs(3600)).await } } => {}
        }
        handle.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
