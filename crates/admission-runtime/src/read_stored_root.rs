//! Marathon's root node read from ZooKeeper, when allowed (`[zookeeper] read`).
//!
//! Why: `GET /v2/groups` lists subgroups and apps sorted by id; Marathon stores them in the order
//! of its Scala sets, and the gzip of the root and of a plan depends on it. With the stored order
//! laid over the model ([`znode_size::stored_order`]) the model's root encodes to ZooKeeper's
//! bytes and a plan's estimate starts from the original Marathon stored; `estimate_error_bytes`
//! says how far the model's size of the current root is from ZooKeeper's `dataLength`. A
//! near-wall decision's error bound is still measured over every unknown order: the narrower one
//! that keeps the stored original missed too many orders of the target
//! ([`znode_size::error_bound::OriginalOrder`], docs/BENCHMARKS.md).
//!
//! Read-only, with a data watch on the root node (an exists watch while it is absent): nothing is
//! polled, nothing is written. Without access, or while ZooKeeper is away, everything works as
//! without this table; `/readyz` is not made to fail by it (it improves decisions, it does not
//! gate them), but says it in its detail and in `zookeeper_read_up`.

use std::sync::Arc;
use std::time::Duration;

use marathon_model::{Group, Timestamp};
use marathon_zk::{RootLayout, RootNode, RootNodeReader, TlsFiles, ZkLogin, ZkSpec};
use serde::Deserialize;
use znode_size::stored_order::StoredOrder;
use znode_size::{Estimator, Layout, StoreConfig};

use super::live_model::LiveModel;

/// `[zookeeper]` in `proxy.toml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZkReadConfig {
    /// `HOST:PORT[,HOST:PORT...]/PATH`, Marathon's `--zk` (default path `/marathon`); absent: no read.
    pub read: Option<ZkSpec>,
    /// The session's login, when Marathon's nodes carry ACLs or the ensemble wants one.
    pub login: ZkLogin,
    pub session_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZkRead {
    read: Option<String>,
    digest: Option<String>,
    sasl_digest_md5: Option<String>,
    sasl_gssapi: Option<String>,
    tls_ca: Option<std::path::PathBuf>,
    tls_cert: Option<std::path::PathBuf>,
    tls_key: Option<std::path::PathBuf>,
    #[serde(default = "default_session_timeout_ms")]
    session_timeout_ms: u64,
}

fn default_session_timeout_ms() -> u64 {
    10_000
}

impl ZkReadConfig {
    /// Reads `[zookeeper]` (absent: no read).
    pub fn from_table(table: Option<&toml::Table>) -> anyhow::Result<ZkReadConfig> {
        let Some(table) = table else {
            return Ok(ZkReadConfig { session_timeout: Duration::from_millis(default_session_timeout_ms()), ..ZkReadConfig::default() });
        };
        let raw: RawZkRead = toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("[zookeeper]: {}", proxy::config::toml_errors::with_suggestion(e.message())))?;
        let read = raw.read.as_deref().map(|s| ZkSpec::parse(s).map_err(|e| anyhow::anyhow!("[zookeeper] read: {e}"))).transpose()?;
        if raw.session_timeout_ms == 0 {
            anyhow::bail!("[zookeeper] session_timeout_ms must be more than 0");
        }
        let tls = TlsFiles { ca: raw.tls_ca, cert: raw.tls_cert, key: raw.tls_key };
        let login = ZkLogin::new("zookeeper", raw.digest, raw.sasl_digest_md5)?.with_kerberos("zookeeper", raw.sasl_gssapi)?.with_tls("zookeeper", tls)?;
        Ok(ZkReadConfig { read, login, session_timeout: Duration::from_millis(raw.session_timeout_ms) })
    }
}

/// The root node as last read, decoded.
#[derive(Debug)]
pub(crate) struct StoredRoot {
    pub layout: Layout,
    /// `Stat.dataLength`.
    pub data_length: u64,
    /// The stored root's version.
    pub version: Option<Timestamp>,
    /// The order of subgroups and apps (legacy layout: the 1.4+ root is not compressed, so its
    /// order changes no size).
    pub order: Option<StoredOrder>,
}

impl StoredRoot {
    fn decode(node: &RootNode) -> anyhow::Result<StoredRoot> {
        let (layout, order) = match node.layout {
            RootLayout::Legacy => (Layout::Legacy, StoredOrder::from_legacy_root_node(&node.data)?),
            RootLayout::V14 => (Layout::V14, StoredOrder::from_group_definition(&node.data)?),
        };
        let version = Timestamp::parse(&order.version).ok();
        let order = (layout == Layout::Legacy).then_some(order);
        Ok(StoredRoot { layout, data_length: node.data_length, version, order })
    }

    /// The model's size of `root`'s node minus ZooKeeper's, when both are the same root (the
    /// same version and layout); `None` while one of them lags the other.
    pub fn estimate_error(&self, root: &Group, store: &StoreConfig) -> Option<i64> {
        let model_version = root.version.as_deref().and_then(|v| Timestamp::parse(v).ok());
        if store.layout != self.layout || model_version.is_none() || model_version != self.version {
            return None;
        }
        let model_bytes = Estimator::new(store.clone()).state(root).root_bytes;
        Some(model_bytes as i64 - self.data_length as i64)
    }
}

/// What `/readyz` and the metrics say about the read.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ZkReadStatus {
    /// `off`, `connecting`, `reading`, `absent` (no root node yet), `unavailable`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Model minus ZooKeeper for the current root (absent while one lags the other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_error_bytes: Option<i64>,
    /// Whether the model's order of subgroups and apps is the stored one.
    pub order_from_zookeeper: bool,
}

/// Follows the root node for as long as the process runs (reconnecting with a backoff).
pub(crate) fn spawn(model: Arc<LiveModel>, config: ZkReadConfig) {
    let Some(spec) = config.read.clone() else { return };
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            model.zk_read_status("connecting", None);
            match RootNodeReader::connect(&spec, &config.login, config.session_timeout).await {
                Ok(reader) => {
                    backoff = Duration::from_millis(250);
                    let err = follow(&model, &reader).await;
                    model.zk_read_status("unavailable", Some(err.to_string()));
                }
                Err(e) => model.zk_read_status("unavailable", Some(e.to_string())),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(15));
        }
    });
}

/// Reads the root node after every change until the session is lost.
async fn follow(model: &Arc<LiveModel>, reader: &RootNodeReader) -> anyhow::Error {
    loop {
        let layout = match model.layout().await {
            Layout::Legacy => RootLayout::Legacy,
            Layout::V14 => RootLayout::V14,
        };
        match reader.read(layout).await {
            Ok((node, change)) => {
                let decoded = match node {
                    None => Ok(None),
                    Some(node) => super::upkeep_lane::run(move || StoredRoot::decode(&node).map(Some))
                        .await
                        .unwrap_or_else(|e| Err(anyhow::anyhow!("decoding the root node: {e}"))),
                };
                match decoded {
                    Ok(stored) => model.stored_root_read(stored.map(Arc::new)).await,
                    Err(e) => model.zk_read_status("unavailable", Some(format!("the root node cannot be read: {e}"))),
                }
                change.wait().await;
            }
            Err(e) if reader.is_usable() => {
                model.zk_read_status("unavailable", Some(e.to_string()));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests;
