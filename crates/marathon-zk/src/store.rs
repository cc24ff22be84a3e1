//! A connected client rooted at Marathon's state path: create-or-update, delete, list, read, each
//! retried on connection loss as Marathon retries.

use std::time::Duration;

use zookeeper_client as zkc;

use crate::login::ZkLogin;
use crate::spec::ZkSpec;

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

/// A ZooKeeper session for `spec`, logged in with `login` (the store and `report --zk` use the
/// same settings).
pub(crate) async fn connect_client(spec: &ZkSpec, login: &ZkLogin) -> anyhow::Result<zkc::Client> {
    let connector = zkc::Client::connector().with_session_timeout(Duration::from_secs(30)).with_connection_timeout(Duration::from_secs(5));
    login.connect(connector, &spec.hosts).await.map_err(|e| anyhow::anyhow!("connecting to ZooKeeper at {}: {e}", spec.hosts))
}

const ACLS: zkc::CreateOptions<'static> = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());

impl ZkStore {
    /// A store on `spec`'s hosts, logged in with `login` (as Marathon with credentials in its
    /// `--zk` URL or a JAAS `Client` section).
    pub async fn connect(spec: &ZkSpec, login: &ZkLogin) -> anyhow::Result<ZkStore> {
        let client = connect_client(spec, login).await?;
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
                // A connection that stopped answering fails its requests with a custom error: the
                // outcome is as unknown as after a lost connection, and Marathon's ZooKeeper client
                // retries both alike before its future times out.
                Err(zkc::Error::ConnectionLoss | zkc::Error::Custom(_)) if attempt < self.max_attempts => {
                    tracing::warn!(what, attempt, "ZooKeeper connection lost; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                }
                Err(zkc::Error::ConnectionLoss | zkc::Error::Custom(_) | zkc::Error::Timeout) => {
                    return Err(StoreError::Timeout(format!(
                        "{what}: ZooKeeper connection lost {attempt} times"
                    )))
                }
                Err(e) => return Err(StoreError::Failed(format!("{what}: {e}"))),
            }
        }
    }

    /// Creates the node (and missing parents) or replaces its data.
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

    /// Deletes the node; a missing node is fine. A node with children loses them first (one level).
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
