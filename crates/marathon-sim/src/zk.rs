//! Writing Marathon's state into a real ZooKeeper: node paths of both layouts, create-or-update,
//! version pruning, and the failure Marathon sees when ZooKeeper drops the connection on an
//! oversized packet.

use std::time::Duration;

use zookeeper_client as zkc;

/// Where Marathon keeps its state, parsed from `HOST:PORT[,HOST:PORT...][/PATH]` (the `--zk` flag;
/// a leading `zk://` is accepted). The default path is `/marathon`; nodes live under `PATH/state`.
#[derive(Debug, Clone, PartialEq)]
pub struct ZkSpec {
    pub hosts: String,
    pub path: String,
}

impl ZkSpec {
    pub fn parse(spec: &str) -> anyhow::Result<ZkSpec> {
        let spec = spec.strip_prefix("zk://").unwrap_or(spec);
        let (hosts, path) = match spec.find('/') {
            Some(i) => (&spec[..i], &spec[i..]),
            None => (spec, "/marathon"),
        };
        anyhow::ensure!(!hosts.is_empty(), "--zk needs HOST:PORT[/PATH], got `{spec}`");
        let path = path.trim_end_matches('/');
        let path = if path.is_empty() { "/marathon" } else { path };
        Ok(ZkSpec { hosts: hosts.to_string(), path: path.to_string() })
    }

    /// `zk://hosts/path`, as `/v2/info` reports it.
    pub fn url(&self) -> String {
        format!("zk://{}{}", self.hosts, self.path)
    }

    /// The state root, `PATH/state`.
    pub fn state_path(&self) -> String {
        format!("{}/state", self.path)
    }
}

/// Why a store operation failed, in the terms Marathon's REST layer maps to a status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The connection kept dropping (e.g. ZooKeeper refused an oversized packet) until the retries
    /// ran out; Marathon turns this into a `TimeoutException`, i.e. HTTP 503.
    #[error("{0}")]
    Timeout(String),
    /// Any other ZooKeeper error (Marathon: `StoreCommandFailedException`, HTTP 500).
    #[error("{0}")]
    Failed(String),
}

/// A connected ZooKeeper client rooted at Marathon's state path.
pub struct ZkStore {
    client: zkc::Client,
    spec: ZkSpec,
    state: String,
    /// Attempts per operation on connection loss (Marathon's `Retry` default: 5).
    pub max_attempts: u32,
}

/// A ZooKeeper session for `spec` (the store and `report --zk` use the same settings).
async fn connect_client(spec: &ZkSpec) -> anyhow::Result<zkc::Client> {
    zkc::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .with_connection_timeout(Duration::from_secs(5))
        .connect(&spec.hosts)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to ZooKeeper at {}: {e}", spec.hosts))
}

const ACLS: zkc::CreateOptions<'static> = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());

impl ZkStore {
    pub async fn connect(spec: &ZkSpec) -> anyhow::Result<ZkStore> {
        let client = connect_client(spec).await?;
        let state = spec.state_path();
        let store = ZkStore { client, spec: spec.clone(), state, max_attempts: 5 };
        store.mkdirs(&store.state).await.map_err(|e| anyhow::anyhow!("creating {}: {e}", store.state))?;
        Ok(store)
    }

    pub fn spec(&self) -> &ZkSpec {
        &self.spec
    }

    /// The absolute path of a node below the state root (`rel` without a leading `/`).
    pub fn abs(&self, rel: &str) -> String {
        format!("{}/{}", self.state, rel)
    }

    pub fn client(&self) -> &zkc::Client {
        &self.client
    }

    async fn mkdirs(&self, path: &str) -> Result<(), zkc::Error> {
        match self.client.mkdir(path, &ACLS).await {
            Ok(()) | Err(zkc::Error::NodeExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, zkc::Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(zkc::Error::ConnectionLoss) if attempt < self.max_attempts => {
                    tracing::warn!(what, attempt, "ZooKeeper connection lost; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(zkc::Error::ConnectionLoss) | Err(zkc::Error::Timeout) => {
                    return Err(StoreError::Timeout(format!(
                        "{what}: ZooKeeper connection lost {attempt} times"
                    )))
                }
                Err(e) => return Err(StoreError::Failed(format!("{what}: {e}"))),
            }
        }
    }

    /// Creates the node (and missing parents) or replaces its data. Returns the stored data length.
    pub async fn put(&self, rel: &str, data: &[u8]) -> Result<(), StoreError> {
        let path = self.abs(rel);
        let what = format!("Can not store entity {rel}");
        self.retry(&what, || async {
            match self.client.set_data(&path, data, None).await {
                Ok(_) => Ok(()),
                Err(zkc::Error::NoNode) => {
                    if let Some(i) = path.rfind('/') {
                        if i > 0 {
                            self.mkdirs(&path[..i]).await?;
                        }
                    }
                    match self.client.create(&path, data, &ACLS).await {
                        Ok(_) => Ok(()),
                        Err(zkc::Error::NodeExists) => self.client.set_data(&path, data, None).await.map(|_| ()),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Deletes the node; a missing node is fine. With `recursive`, children go first.
    pub async fn delete(&self, rel: &str) -> Result<(), StoreError> {
        let path = self.abs(rel);
        let what = format!("Can not delete entity {rel}");
        self.retry(&what, || async {
            match self.client.delete(&path, None).await {
                Ok(()) | Err(zkc::Error::NoNode) => Ok(()),
                Err(zkc::Error::NotEmpty) => {
                    let children = self.client.list_children(&path).await?;
                    for c in children {
                        match self.client.delete(&format!("{path}/{c}"), None).await {
                            Ok(()) | Err(zkc::Error::NoNode) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    match self.client.delete(&path, None).await {
                        Ok(()) | Err(zkc::Error::NoNode) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The children of a node below the state root (`""` = the state root itself).
    pub async fn children(&self, rel: &str) -> Result<Vec<String>, StoreError> {
        let path = if rel.is_empty() { self.state.clone() } else { self.abs(rel) };
        self.retry("Can not list all identifiers", || async {
            match self.client.list_children(&path).await {
                Ok(c) => Ok(c),
                Err(zkc::Error::NoNode) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The data and `Stat` of a node, `None` if absent.
    pub async fn get(&self, rel: &str) -> Result<Option<(Vec<u8>, zkc::Stat)>, StoreError> {
        let path = self.abs(rel);
        self.retry("Can not load", || async {
            match self.client.get_data(&path).await {
                Ok(v) => Ok(Some(v)),
                Err(zkc::Error::NoNode) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

/// Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The new layout's bucket for an id: `abs(id.hashCode % 16)` in lowercase hex.
pub fn bucket(id: &str) -> String {
    format!("{:x}", (java_hash(id) % 16).abs())
}

/// Node names in the legacy (<= 1.4 `legacy_zk`) layout: flat children of `PATH/state`.
pub mod legacy {
    /// `a_b` for `/a/b`.
    pub fn safe_path(id: &str) -> String {
        id.trim_matches('/').replace('/', "_")
    }
    pub const ROOT: &str = "group:root";
    pub fn root_version(ver: &str) -> String {
        format!("group:root:{ver}")
    }
    pub fn app(id: &str) -> String {
        format!("app:{}", safe_path(id))
    }
    pub fn app_version(id: &str, ver: &str) -> String {
        format!("app:{}:{ver}", safe_path(id))
    }
    pub fn pod(id: &str) -> String {
        format!("pod:{}", safe_path(id))
    }
    pub fn pod_version(id: &str, ver: &str) -> String {
        format!("pod:{}:{ver}", safe_path(id))
    }
    pub fn deployment(plan_id: &str) -> String {
        format!("deployment:{plan_id}")
    }
    /// The version suffixes stored for `key` (`key:<ver>`), newest first (24-char Joda timestamps
    /// sort lexicographically).
    pub fn versions_of<'a>(children: &'a [String], key: &str) -> Vec<&'a str> {
        let prefix = format!("{key}:");
        let mut v: Vec<&str> = children
            .iter()
            .filter_map(|c| c.strip_prefix(&prefix))
            .filter(|rest| rest.len() == 24 && !rest.contains('_'))
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }
}

/// Node paths in the new (1.4+ `zk`) layout, relative to `PATH/state`.
pub mod v14 {
    use super::bucket;
    pub fn safe_path(id: &str) -> String {
        super::legacy::safe_path(id)
    }
    pub fn root() -> String {
        format!("group/{}/root", bucket("root"))
    }
    pub fn root_version(ts: &str) -> String {
        format!("{}/{ts}", root())
    }
    pub fn app(id: &str) -> String {
        let s = safe_path(id);
        format!("apps/{}/{s}", bucket(&s))
    }
    pub fn app_version(id: &str, ts: &str) -> String {
        format!("{}/{ts}", app(id))
    }
    pub fn pod(id: &str) -> String {
        let s = safe_path(id);
        format!("pods/{}/{s}", bucket(&s))
    }
    pub fn pod_version(id: &str, ts: &str) -> String {
        format!("{}/{ts}", pod(id))
    }
    pub fn deployment(plan_id: &str) -> String {
        format!("deployment/{}/{plan_id}", bucket(plan_id))
    }
    /// Marathon 1.4's `ISO_OFFSET_DATE_TIME` rendering of a 24-char Joda timestamp: trailing zeros of
    /// the fraction are dropped, and the fraction with them when it is zero.
    pub fn iso(joda: &str) -> String {
        if let Some(dot) = joda.find('.') {
            if joda.ends_with('Z') {
                let frac = joda[dot + 1..joda.len() - 1].trim_end_matches('0');
                return if frac.is_empty() {
                    format!("{}Z", &joda[..dot])
                } else {
                    format!("{}.{frac}Z", &joda[..dot])
                };
            }
        }
        joda.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        assert_eq!(
            ZkSpec::parse("127.0.0.1:2181").unwrap(),
            ZkSpec { hosts: "127.0.0.1:2181".into(), path: "/marathon".into() }
        );
        let s = ZkSpec::parse("zk://a:1,b:2/x/y/").unwrap();
        assert_eq!((s.hosts.as_str(), s.path.as_str()), ("a:1,b:2", "/x/y"));
        assert_eq!(s.state_path(), "/x/y/state");
        assert!(ZkSpec::parse("/x").is_err());
    }

    #[test]
    fn buckets_match_java() {
        // "root".hashCode() = 3506402; 3506402 % 16 = 2 (facts §2.1).
        assert_eq!(java_hash("root"), 3506402);
        assert_eq!(v14::root(), "group/2/root");
        // Negative hash codes: Java's % keeps the sign, Marathon takes abs.
        let h = java_hash("prod_web_frontend_service");
        assert_eq!(bucket("prod_web_frontend_service"), format!("{:x}", (h % 16).abs()));
    }

    #[test]
    fn iso_timestamps() {
        assert_eq!(v14::iso("2017-01-02T03:04:05.678Z"), "2017-01-02T03:04:05.678Z");
        assert_eq!(v14::iso("2017-01-02T03:04:05.670Z"), "2017-01-02T03:04:05.67Z");
        assert_eq!(v14::iso("2017-01-02T03:04:05.600Z"), "2017-01-02T03:04:05.6Z");
        assert_eq!(v14::iso("2017-01-02T03:04:05.000Z"), "2017-01-02T03:04:05Z");
    }

    #[test]
    fn legacy_names() {
        assert_eq!(legacy::app("/prod/web"), "app:prod_web");
        assert_eq!(legacy::app_version("/a", "2017-01-02T03:04:05.678Z"), "app:a:2017-01-02T03:04:05.678Z");
        let children: Vec<String> = vec![
            "group:root".into(),
            "group:root:2017-01-02T03:04:05.678Z".into(),
            "group:root:2018-01-02T03:04:05.678Z".into(),
            "app:a".into(),
        ];
        assert_eq!(
            legacy::versions_of(&children, "group:root"),
            vec!["2018-01-02T03:04:05.678Z", "2017-01-02T03:04:05.678Z"]
        );
    }
}

/// One znode's real size, as ZooKeeper reports it (`Stat.dataLength`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeSize {
    /// Path relative to `PATH/state` (e.g. `group:root`, `group/2/root`).
    pub path: String,
    pub bytes: u64,
}

/// The real sizes under Marathon's state path (what `report --zk` prints), largest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZkReport {
    /// `zk://hosts/path`.
    pub zk: String,
    /// `legacy` when `group:root` exists, `v1.4` when `group/2/root` does.
    pub layout: Option<String>,
    /// The root group node's data length.
    pub root_bytes: Option<u64>,
    pub nodes: Vec<NodeSize>,
}

/// Walks every node under `PATH/state` and reads its size (like the well-known
/// znode-size-printer), largest first.
pub async fn zk_report(spec: &str) -> anyhow::Result<ZkReport> {
    let spec = ZkSpec::parse(spec)?;
    let client = connect_client(&spec).await?;
    let state = spec.state_path();
    let mut nodes = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let abs = if rel.is_empty() { state.clone() } else { format!("{state}/{rel}") };
        let children = match client.get_children(&abs).await {
            Ok((children, stat)) => {
                if !rel.is_empty() {
                    nodes.push(NodeSize { path: rel.clone(), bytes: stat.data_length.max(0) as u64 });
                }
                children
            }
            Err(zkc::Error::NoNode) if rel.is_empty() => anyhow::bail!("{state} does not exist"),
            Err(zkc::Error::NoNode) => continue,
            Err(e) => anyhow::bail!("reading {abs}: {e}"),
        };
        for c in children {
            stack.push(if rel.is_empty() { c } else { format!("{rel}/{c}") });
        }
    }
    nodes.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    let find = |p: &str| nodes.iter().find(|n| n.path == p).map(|n| n.bytes);
    let (layout, root_bytes) = match (find(legacy::ROOT), find(&v14::root())) {
        (Some(b), _) => (Some("legacy".to_string()), Some(b)),
        (None, Some(b)) => (Some("v1.4".to_string()), Some(b)),
        _ => (None, None),
    };
    Ok(ZkReport { zk: spec.url(), layout, root_bytes, nodes })
}
