//! A Marathon-compatible server for tests, benchmarks and the demo.
//!
//! It serves Marathon's v2 REST surface with Marathon's write semantics (from
//! [`marathon_model::ops`]), answers as Marathon answers (statuses, error shapes, `Location`,
//! `Marathon-Deployment-Id`), keeps deployments listed for a delay, streams `/v2/events`, runs
//! Marathon 1.3.14's own plan-size check, and, with `--zk`, persists into a real ZooKeeper in the
//! legacy (1.3) or new (1.4+) layout, so that ZooKeeper itself says when a node is too big. The
//! ZooKeeper side (node paths, create-or-update, node sizes) is [`marathon_zk`]; when and what to
//! write, and what a failed write answers, is here ([`state`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = marathon_sim::start(marathon_sim::SimConfig::default()).await?; // 127.0.0.1:0
//! println!("Marathon at {}", sim.url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod authenticate;
pub mod events;
mod marathon_order;
pub mod persisted;
mod plan_validator;
pub mod render;
mod server;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use marathon_model::ops::Flavour;
use marathon_model::Group;

pub use authenticate::{AuthStats, Identity};
pub use state::Sim;

/// Which Marathon the simulator is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarathonVersion {
    /// 1.3.14: legacy layout, plan-size check, PUT always partial, no pods.
    V1_3_14,
    /// 1.4 and later (reports `1.4.13` unless another version string is given): new layout, no
    /// size check, PATCH, `partialUpdate`, pods, `Marathon-Deployment-Id`.
    V1_4(String),
}

impl MarathonVersion {
    /// `1.3.14` (or any `1.3.x` and older) or `1.4+` (or any `1.x.y` with x >= 4).
    pub fn parse(raw: &str) -> anyhow::Result<MarathonVersion> {
        let raw = raw.trim();
        if raw == "1.4+" || raw == "1.4" {
            return Ok(MarathonVersion::V1_4("1.4.13".into()));
        }
        let parts: Vec<u32> = raw.trim_end_matches('+').split('.').map(|p| p.parse()).collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("--marathon-version: expected 1.3.14 or 1.4+, got `{raw}`"))?;
        match parts.as_slice() {
            [1, minor, ..] if *minor < 4 => Ok(MarathonVersion::V1_3_14),
            [1, _, ..] => Ok(MarathonVersion::V1_4(raw.trim_end_matches('+').to_string())),
            _ => anyhow::bail!("--marathon-version: expected 1.3.14 or 1.4+, got `{raw}`"),
        }
    }

    pub fn flavour(&self) -> Flavour {
        match self {
            MarathonVersion::V1_3_14 => Flavour::V13,
            MarathonVersion::V1_4(_) => Flavour::V14,
        }
    }

    pub fn layout(&self) -> persisted::Layout {
        match self {
            MarathonVersion::V1_3_14 => persisted::Layout::Legacy,
            MarathonVersion::V1_4(_) => persisted::Layout::V14,
        }
    }

    /// The `version` `/v2/info` reports.
    pub fn version_string(&self) -> String {
        match self {
            MarathonVersion::V1_3_14 => "1.3.14".into(),
            MarathonVersion::V1_4(v) => v.clone(),
        }
    }
}

/// In which order the simulator keeps, persists and lists a group's subgroups and apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoredOrder {
    /// The order the state lists them in, everywhere: `GET /v2/groups` shows the persisted order.
    /// Marathon does not do this; it lets a client see exactly what was persisted.
    #[default]
    AsListed,
    /// As Marathon: the state (and ZooKeeper, and the plan-size check) holds Marathon's own order
    /// (insertion order up to 4 members, a hash order from 5; see `marathon_order.rs`), and the
    /// API lists a group's subgroups, apps and pods sorted by id, as Marathon's
    /// `DefaultInfoService` does. `GET /v2/apps` lists apps in the order of Marathon's set of
    /// apps, and deployment events carry the groups in the persisted order, as Marathon's do.
    Marathon,
}

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The initial root group (what `GET /v2/groups` returns); empty when `None`.
    pub state: Option<Group>,
    /// `HOST:PORT[/PATH]` of a ZooKeeper to persist into (default path `/marathon`).
    pub zk: Option<String>,
    /// How the session with that ZooKeeper logs in (none by default), as Marathon does with
    /// credentials in its `--zk` URL or a JAAS `Client` section.
    pub zk_login: marathon_zk::ZkLogin,
    pub marathon: MarathonVersion,
    /// How long a deployment stays listed before it succeeds.
    pub deploy_delay: Duration,
    /// Marathon's `--zk_timeout` (default 10 s): how long its REST layer awaits a write. Past
    /// it the client gets 503 "Futures timed out after [...]" and the write goes on: Marathon may
    /// still apply it.
    pub zk_timeout: Duration,
    /// How much longer than usual each write takes to persist, as on a slow ZooKeeper (none by
    /// default; [`Sim::set_write_delay`] changes it while running).
    pub write_delay: Duration,
    /// `--zk_max_node_size` (default 1,024,000).
    pub zk_max_node_size: u64,
    /// `--zk_compression` (default on).
    pub zk_compression: bool,
    /// `--zk_compression_threshold` (default 65,536).
    pub zk_compression_threshold: u64,
    /// `--zk_max_versions` (default 25 on 1.3, 50 on 1.4+).
    pub zk_max_versions: usize,
    /// `--http_credentials user:password`: HTTP Basic on every path, `/ping` included (off when
    /// `None`). See [`authenticate::parse_http_credentials`] for Marathon's reading of the flag.
    pub http_credentials: Option<(String, String)>,
    /// `--http_realm` (default `Mesosphere`), named in the Basic challenge.
    pub http_realm: String,
    /// DC/OS service accounts as `(uid, RSA public key in PEM)`: when not empty, the simulator
    /// serves `POST /acs/api/v1/auth/login` and wants `Authorization: token=...` on everything but
    /// `/ping` and the login. Exclusive with `http_credentials`.
    pub dcos_service_accounts: Vec<(String, String)>,
    /// How long an issued auth token is good for (default 5 days, as DC/OS).
    pub dcos_token_ttl: Duration,
    /// Whose order of subgroups and apps to keep and list (default [`StoredOrder::AsListed`]).
    pub stored_order: StoredOrder,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state: None,
            zk: None,
            zk_login: marathon_zk::ZkLogin::default(),
            marathon: MarathonVersion::V1_3_14,
            deploy_delay: Duration::ZERO,
            zk_timeout: Duration::from_secs(10),
            write_delay: Duration::ZERO,
            zk_max_node_size: 1_024_000,
            zk_compression: true,
            zk_compression_threshold: 64 * 1024,
            zk_max_versions: 25,
            http_credentials: None,
            http_realm: authenticate::DEFAULT_HTTP_REALM.to_string(),
            dcos_service_accounts: Vec::new(),
            dcos_token_ttl: authenticate::DCOS_DEFAULT_TOKEN_TTL,
            stored_order: StoredOrder::AsListed,
        }
    }
}

impl SimConfig {
    /// The 1.4+ flavour with its defaults (`zk_max_versions` 50).
    pub fn v14() -> SimConfig {
        SimConfig { marathon: MarathonVersion::V1_4("1.4.13".into()), zk_max_versions: 50, ..SimConfig::default() }
    }

    /// Reads a `ROOT.json` seed (`GET /v2/groups` output).
    pub fn with_state_file(mut self, path: &std::path::Path) -> anyhow::Result<SimConfig> {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        self.state = Some(Group::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
        Ok(self)
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    sim: Arc<Sim>,
    auth: Arc<authenticate::Authenticator>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The simulator's state (root group, deployments, counters).
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// Logins and 401s counted by the authentication layer.
    pub fn auth_stats(&self) -> AuthStats {
        self.auth.stats()
    }

    /// A snapshot of the current root group.
    pub fn root(&self) -> Arc<Group> {
        self.sim.root()
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }

    /// Waits until the server stops (e.g. for the CLI).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Starts the simulator on `config.listen` and returns once it accepts connections.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let auth = Arc::new(authenticate::Authenticator::new(&config)?);
    let sim = Sim::new(config).await?;
    *sim.http_addr.lock().unwrap() = addr.to_string();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server::serve(listener, sim.clone(), auth.clone(), rx));
    Ok(SimHandle { addr, sim, auth, shutdown: tx, task })
}
