//! `proxy.toml`: the configuration of the proxy, its defaults, environment overrides and
//! validation.
//!
//! Why it looks like this:
//! - Every key has a default, so a file holding only what a later issue needs (`[[quota]]`
//!   entries, an `[admission]` table) is a valid configuration.
//! - Tables the proxy does not own (`[admission]`, `[[quota]]`, `[[exemption]]`, `[ledger]`, `[zookeeper]`,
//!   `[[notify]]`) are kept as opaque TOML values here and interpreted by their owners, which
//!   read them from the text too, with unknown keys refused there.
//! - Unknown keys are errors everywhere, top-level tables included, at start, in
//!   `serve --check-config` and on reload (which then keeps the running configuration): a typo
//!   that is ignored changes behaviour without a word (`[[qouta]]` would disable every quota). The
//!   price: a file written for a newer binary, with a table this one does not know, is refused by
//!   it instead of half-applied.
//! - Errors name the file and line: TOML syntax and type errors come from `toml` with line and
//!   column, an unknown key with the nearest known one ([`toml_errors`]); semantic errors (a bad
//!   URL) are located by looking the key up in the text.
//!
//! Precedence: built-in defaults < file < environment (`MARATHON_ADMISSION_*`) < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;

pub mod toml_errors;

/// The value of `marathon` that asks for the in-process simulator.
pub const EMBEDDED: &str = "embedded";

/// Environment variables read by [`ProxyConfig::apply_env`].
pub const ENV_LISTEN: &str = "MARATHON_ADMISSION_LISTEN";
pub const ENV_ADMIN_LISTEN: &str = "MARATHON_ADMISSION_ADMIN_LISTEN";
pub const ENV_MARATHON: &str = "MARATHON_ADMISSION_MARATHON";
pub const ENV_MAX_WRITE_BODY_BYTES: &str = "MARATHON_ADMISSION_MAX_WRITE_BODY_BYTES";

/// The whole configuration. See the shipped `proxy.toml` for every key documented.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Address of the proxy listener (HTTP, or HTTPS when `[listener.tls]` is set).
    pub listen: SocketAddr,
    /// Address of the admin listener (`/healthz`, `/readyz`, `/metrics`).
    pub admin_listen: SocketAddr,
    /// Marathon base URLs (`http://host:8080`, `https://host:8443/prefix`), or `["embedded"]`.
    pub marathon: Vec<String>,
    pub listener: ListenerConfig,
    pub upstream: UpstreamConfig,
    pub limits: LimitsConfig,
    pub runtime: RuntimeConfig,
    /// Owned by admission (a later issue); kept opaque here.
    pub admission: Option<toml::Table>,
    /// Owned by admission (a later issue); kept opaque here.
    pub quota: Vec<toml::Table>,
    /// `[[exemption]]` entries for quotas; interpreted by admission.
    pub exemption: Vec<toml::Table>,
    /// `[ledger]`: the in-flight ledger shared by replicas; interpreted by admission.
    pub ledger: Option<toml::Table>,
    /// `[zookeeper]`: reading Marathon's root node; interpreted by admission.
    pub zookeeper: Option<toml::Table>,
    /// `[[notify]]` webhooks told about rejections and warnings; interpreted by admission.
    pub notify: Vec<toml::Table>,
    /// Where this configuration was read from, if from a file (for messages).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: "127.0.0.1:8081".parse().unwrap(),
            admin_listen: "127.0.0.1:9102".parse().unwrap(),
            marathon: vec!["http://127.0.0.1:8080".to_owned()],
            listener: ListenerConfig::default(),
            upstream: UpstreamConfig::default(),
            limits: LimitsConfig::default(),
            runtime: RuntimeConfig::default(),
            admission: None,
            quota: Vec::new(),
            exemption: Vec::new(),
            ledger: None,
            zookeeper: None,
            notify: Vec::new(),
            source: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// HTTPS on the proxy listener; absent = plain HTTP.
    pub tls: Option<ListenerTls>,
    /// On SIGTERM/SIGINT: how long in-flight requests get to finish before connections are cut.
    pub shutdown_grace_secs: u64,
    /// The address clients use for the proxy (`https://marathon.example.com[/prefix]`), put in
    /// place of Marathon's own in `Location` and `X-Marathon-Leader`; absent = the scheme of this
    /// listener and the `Host` the client sent.
    pub public_url: Option<String>,
    /// Time a client gets to send a request head, from the moment its connection is accepted (TLS
    /// handshake included) and again for each next request on a kept-alive connection; on expiry
    /// the connection is closed, also when the client never sent a byte.
    pub header_read_timeout_ms: u64,
    /// Client connections open at once on the proxy listener; one more is answered 503 in
    /// Marathon's error shape and closed. Lowered at start when the process's file-descriptor
    /// limit would not leave room for it (see `connection_limit`).
    pub max_connections: usize,
    /// Query parameters whose values are replaced by `<redacted>` wherever a request's target is
    /// shown (logs, the audit log, the decisions list), besides the built-in credential names
    /// (`redact_query`).
    pub redact_query_params: Vec<String>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            tls: None,
            shutdown_grace_secs: 30,
            public_url: None,
            header_read_timeout_ms: 30_000,
            max_connections: 4096,
            redact_query_params: Vec::new(),
        }
    }
}

impl ListenerConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// PEM certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// How often the two files are checked for changes; a change is loaded without a restart.
    #[serde(default = "default_reload_secs")]
    pub reload_interval_secs: u64,
}

fn default_reload_secs() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// TCP (+TLS) connect timeout per Marathon; on expiry the next Marathon is tried.
    pub connect_timeout_ms: u64,
    /// Time allowed for Marathon's response head (not for bodies, never for `/v2/events`);
    /// on expiry the client gets a 504 in Marathon's error shape.
    pub response_timeout_ms: u64,
    /// How often `/v2/leader` is asked (leader discovery and upstream health).
    pub leader_poll_interval_ms: u64,
    /// Follow a redirect from a non-leader to another known Marathon (instead of passing it).
    pub follow_leader_redirects: bool,
    /// Keep the client's `Host` header instead of rewriting it to the Marathon's authority.
    pub preserve_host: bool,
    /// Put the proxy's address in place of Marathon's in `Location` and `X-Marathon-Leader`, so
    /// that a client following them stays behind the proxy.
    pub rewrite_marathon_addresses: bool,
    /// Idle pooled connections are closed after this long.
    pub pool_idle_timeout_secs: u64,
    /// At most this many idle pooled connections per Marathon.
    pub pool_max_idle_per_host: usize,
    pub tls: UpstreamTls,
    /// The proxy's own credentials, for its own reads only (see `own_credentials`).
    pub auth: UpstreamAuth,
}

/// Where the proxy's own credentials come from: paths only, the secrets stay in their files (or
/// in the environment: `MARATHON_ADMISSION_CREDENTIALS`, `DCOS_SERVICE_ACCOUNT_CREDENTIAL`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamAuth {
    /// A file holding `user:password`, for a Marathon started with `--http_credentials`.
    pub credentials_file: Option<PathBuf>,
    /// A file holding a token, sent as `Authorization: token=<token>` (DC/OS).
    pub token_file: Option<PathBuf>,
    /// A DC/OS service-account credential: the JSON with `uid`, `private_key`, `login_endpoint`.
    pub dcos_service_account_file: Option<PathBuf>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 2_000,
            response_timeout_ms: 60_000,
            leader_poll_interval_ms: 2_000,
            follow_leader_redirects: true,
            preserve_host: false,
            rewrite_marathon_addresses: true,
            pool_idle_timeout_secs: 90,
            pool_max_idle_per_host: 64,
            tls: UpstreamTls::default(),
            auth: UpstreamAuth::default(),
        }
    }
}

/// TLS towards `https://` Marathons.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamTls {
    /// PEM bundle of CA certificates to trust; absent = the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM chain) for mutual TLS; needs `client_key_file`.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// SNI name and name checked in Marathon's certificate; absent = the host of each URL.
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest body of a state-changing write the proxy reads (and so can check); beyond it the
    /// client gets 413 in Marathon's error shape and nothing reaches Marathon.
    pub max_write_body_bytes: u64,
    /// Time allowed for a client to send a write's whole body (408 after it).
    pub client_body_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_write_body_bytes: 4 * 1024 * 1024,
            client_body_timeout_ms: 60_000,
        }
    }
}

/// The async runtime `serve` builds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads; 0 = one per core (tokio's default, or `TOKIO_WORKER_THREADS`); 1 runs
    /// everything on one thread (tokio's current-thread scheduler). On a small machine shared
    /// with Marathon, 1 avoids cross-thread wake-ups and is faster (see docs/BENCHMARKS.md,
    /// "Proxy read path").
    pub worker_threads: usize,
}

impl UpstreamConfig {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }
    pub fn leader_poll_interval(&self) -> Duration {
        Duration::from_millis(self.leader_poll_interval_ms.max(50))
    }
}

impl ProxyConfig {
    /// Parses TOML text. Errors carry the line and column (and `origin` when given).
    pub fn from_toml_str(text: &str, origin: Option<&Path>) -> anyhow::Result<Self> {
        let name = origin
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<config>".to_owned());
        let mut cfg: ProxyConfig =
            toml::from_str(text).map_err(|e| toml_errors::describe(&e, text, &name))?;
        cfg.source = origin.map(Path::to_path_buf);
        cfg.validate_with_text(Some(text))?;
        Ok(cfg)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration {}", path.display()))?;
        Self::from_toml_str(&text, Some(path))
    }

    /// Applies `MARATHON_ADMISSION_*` overrides from the process environment.
    pub fn apply_process_env(&mut self) -> anyhow::Result<()> {
        self.apply_env(|k| std::env::var(k).ok())
    }

    /// Applies overrides from `get` (testable form of [`Self::apply_process_env`]).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = get(ENV_LISTEN) {
            self.listen = v
                .trim()
                .parse()
                .with_context(|| format!("{ENV_LISTEN}={v:?} is not an address like 127.0.0.1:8081"))?;
        }
        if let Some(v) = get(ENV_ADMIN_LISTEN) {
            self.admin_listen = v.trim().parse().with_context(|| {
                format!("{ENV_ADMIN_LISTEN}={v:?} is not an address like 127.0.0.1:9102")
            })?;
        }
        if let Some(v) = get(ENV_MARATHON) {
            self.marathon = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = get(ENV_MAX_WRITE_BODY_BYTES) {
            self.limits.max_write_body_bytes = v
                .trim()
                .parse()
                .with_context(|| format!("{ENV_MAX_WRITE_BODY_BYTES}={v:?} is not a byte count"))?;
        }
        self.validate()
    }

    /// True when `marathon = ["embedded"]`: the caller must start the simulator and replace the
    /// value with its URL ([`Self::set_marathon`]) before [`crate::Proxy::bind`].
    pub fn wants_embedded(&self) -> bool {
        self.marathon.iter().any(|m| m == EMBEDDED)
    }

    /// Replaces the upstream list (e.g. with the embedded simulator's URL).
    pub fn set_marathon(&mut self, urls: Vec<String>) {
        self.marathon = urls;
    }

    /// The upstream base URLs, parsed. Fails for `embedded`.
    pub fn marathon_uris(&self) -> anyhow::Result<Vec<http::Uri>> {
        if self.wants_embedded() {
            bail!(
                "marathon = [\"embedded\"] must be resolved to the simulator's URL before serving"
            );
        }
        self.marathon.iter().map(|m| parse_marathon_url(m)).collect()
    }

    /// Semantic checks that TOML types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_with_text(None)
    }

    fn validate_with_text(&self, text: Option<&str>) -> anyhow::Result<()> {
        let at = |key: &str| -> String {
            let name = self
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "<config>".to_owned());
            match text.and_then(|t| line_of_key(t, key)) {
                Some(line) => format!("{name}, line {line}, key `{key}`"),
                None => format!("{name}, key `{key}`"),
            }
        };
        if self.marathon.is_empty() {
            bail!("{}: at least one Marathon URL is needed", at("marathon"));
        }
        if self.wants_embedded() {
            if self.marathon.len() != 1 {
                bail!("{}: \"embedded\" cannot be mixed with URLs", at("marathon"));
            }
        } else {
            for m in &self.marathon {
                parse_marathon_url(m).map_err(|e| anyhow::anyhow!("{}: {e}", at("marathon")))?;
            }
        }
        let t = &self.upstream.tls;
        if t.client_cert_file.is_some() != t.client_key_file.is_some() {
            bail!(
                "{}: client_cert_file and client_key_file go together",
                at("client_cert_file")
            );
        }
        if let Some(name) = &t.server_name {
            rustls::pki_types::ServerName::try_from(name.clone())
                .map_err(|e| anyhow::anyhow!("{}: {name:?}: {e}", at("server_name")))?;
        }
        if let Some(url) = &self.listener.public_url {
            let uri: http::Uri = url.parse().map_err(|e| anyhow::anyhow!("{}: {url:?} is not a URL: {e}", at("public_url")))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() || uri.query().is_some() {
                bail!("{}: {url:?}: expected http(s)://host[:port][/prefix]", at("public_url"));
            }
        }
        if self.limits.max_write_body_bytes == 0 {
            bail!("{}: must be more than 0", at("max_write_body_bytes"));
        }
        if self.upstream.connect_timeout_ms == 0 || self.upstream.response_timeout_ms == 0 {
            bail!("{}: timeouts must be more than 0", at("connect_timeout_ms"));
        }
        if self.listener.header_read_timeout_ms == 0 {
            bail!("{}: must be more than 0", at("header_read_timeout_ms"));
        }
        if self.listener.max_connections == 0 {
            bail!("{}: must be more than 0", at("max_connections"));
        }
        if let Some(bad) = self.listener.redact_query_params.iter().find(|p| p.trim().is_empty()) {
            bail!("{}: {bad:?} is not a parameter name", at("redact_query_params"));
        }
        Ok(())
    }

    /// Deeper checks for `serve --check-config`: certificate and key files exist and parse.
    pub fn check_files(&self) -> anyhow::Result<()> {
        if let Some(tls) = &self.listener.tls {
            crate::tls::load_certified_key(&tls.cert_file, &tls.key_file)
                .context("[listener.tls]")?;
        }
        crate::tls::client_config(&self.upstream.tls).context("[upstream.tls]")?;
        self.own_credentials()?.check().context("[upstream.auth]")?;
        Ok(())
    }

    /// The proxy's own credentials: `[upstream.auth]` with the process environment laid over it.
    pub fn own_credentials(&self) -> anyhow::Result<crate::own_credentials::OwnCredentials> {
        let first = self.marathon_uris().ok().and_then(|u| u.into_iter().next());
        crate::own_credentials::OwnCredentials::from_config(&self.upstream.auth, &|k| std::env::var(k).ok(), first.as_ref())
    }
}

/// Parses one Marathon base URL: `http` or `https`, a host, an optional path prefix, no query.
pub fn parse_marathon_url(s: &str) -> anyhow::Result<http::Uri> {
    // Checked first, so that no message below echoes a password.
    let authority = s.split_once("://").map_or(s, |(_, rest)| rest);
    if authority.split('/').next().unwrap_or("").contains('@') {
        bail!(
            "a Marathon URL must not carry credentials (user:password@); clients' own \
             Authorization headers are passed to Marathon untouched"
        );
    }
    let uri: http::Uri = s
        .parse()
        .map_err(|e| anyhow::anyhow!("{s:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => bail!("{s:?}: a Marathon URL starts with http:// or https://"),
    }
    if uri.authority().is_none() {
        bail!("{s:?}: no host");
    }
    if uri.query().is_some() {
        bail!("{s:?}: a Marathon base URL has no query string");
    }
    Ok(uri)
}

/// The 1-based line where `key = ...` first appears.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|l| {
        let l = l.trim_start();
        l.strip_prefix(key)
            .map(|rest| rest.trim_start().starts_with('='))
            .unwrap_or(false)
    })
    .map(|i| i + 1)
}

#[cfg(test)]
mod tests;
