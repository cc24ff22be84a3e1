//! Marathon's root group node, read as stored and followed as it changes: what the admission
//! model compares itself with, and where it takes the stored order of groups and apps from.
//!
//! Read-only: the session may authenticate (digest) to read a state Marathon protects with ACLs,
//! and creates nothing. Changes are followed with a data watch on the node (an exists watch while
//! it is absent), so an idle Marathon costs no reads.

use std::time::Duration;

use zookeeper_client as zkc;

use crate::paths::{legacy, v14};
use crate::login::ZkLogin;
use crate::spec::ZkSpec;

/// Which of Marathon's layouts to read the root node of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootLayout {
    /// `group:root`, a `ZKStoreEntry` holding the whole root with apps inline.
    Legacy,
    /// `group/2/root`, the 1.4+ `StoredGroup` of references.
    V14,
}

impl RootLayout {
    /// The node's path below `PATH/state`.
    pub fn relative_path(self) -> String {
        match self {
            RootLayout::Legacy => legacy::ROOT.to_string(),
            RootLayout::V14 => v14::root(),
        }
    }
}

/// The root node as ZooKeeper holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootNode {
    pub layout: RootLayout,
    pub data: Vec<u8>,
    /// `Stat.dataLength`: what ZooKeeper's size limits apply to.
    pub data_length: u64,
    /// `Stat.version`: how many times it was written.
    pub version: i32,
}

/// A read-only session on Marathon's state.
pub struct RootNodeReader {
    client: zkc::Client,
    state: String,
}

/// Fires when the node read (or its absence) is no longer current, or the session changed.
pub struct RootNodeChange(zkc::OneshotWatcher);

impl RootNodeChange {
    pub async fn wait(self) {
        self.0.changed().await;
    }
}

impl RootNodeReader {
    /// Opens a session on `spec`'s hosts, logged in with `login`.
    pub async fn connect(spec: &ZkSpec, login: &ZkLogin, session_timeout: Duration) -> anyhow::Result<RootNodeReader> {
        let connector = zkc::Client::connector()
            .with_session_timeout(session_timeout)
            .with_connection_timeout(session_timeout.min(Duration::from_secs(5)))
            .with_readonly(true);
        let client = login
            .connect(connector, &spec.hosts)
            .await
            .map_err(|e| anyhow::anyhow!("connecting to ZooKeeper at {}: {e}", spec.hosts))?;
        Ok(RootNodeReader { client, state: spec.state_path() })
    }

    /// A reader on a session opened elsewhere (`report --zk` reads the sizes on the same one).
    pub fn with_client(client: zkc::Client, spec: &ZkSpec) -> RootNodeReader {
        RootNodeReader { client, state: spec.state_path() }
    }

    /// Whether the session can still be used (an expired or refused one never recovers).
    pub fn is_usable(&self) -> bool {
        !matches!(self.client.state(), zkc::SessionState::Expired | zkc::SessionState::Closed | zkc::SessionState::AuthFailed)
    }

    /// The root node (`None` while Marathon has not written it), and what fires when that changes.
    pub async fn read(&self, layout: RootLayout) -> anyhow::Result<(Option<RootNode>, RootNodeChange)> {
        let path = format!("{}/{}", self.state, layout.relative_path());
        match self.client.get_and_watch_data(&path).await {
            Ok((data, stat, watcher)) => {
                let node = RootNode { layout, data, data_length: stat.data_length.max(0) as u64, version: stat.version };
                Ok((Some(node), RootNodeChange(watcher)))
            }
            Err(zkc::Error::NoNode) => match self.client.check_and_watch_stat(&path).await {
                // Created between the two calls: the watch fires at once and the caller reads again.
                Ok((_, watcher)) => Ok((None, RootNodeChange(watcher))),
                Err(e) => Err(anyhow::anyhow!("watching {path}: {e}")),
            },
            Err(e) => Err(anyhow::anyhow!("reading {path}: {e}")),
        }
    }
}
