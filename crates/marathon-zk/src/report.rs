//! The real node sizes under Marathon's state path (what `report --zk` prints).

use zookeeper_client as zkc;

use crate::login::ZkLogin;
use crate::root_node::{RootLayout, RootNode, RootNodeReader};
use crate::spec::ZkSpec;
use crate::store::connect_client;

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
    /// The root group node itself, read as the admission model reads it ([`RootNodeReader`]).
    #[serde(skip)]
    pub root: Option<RootNode>,
}

/// Walks every node under `PATH/state` and reads its size (like the well-known
/// znode-size-printer), largest first; the session logs in with `login`.
pub async fn zk_report(spec: &str, login: &ZkLogin) -> anyhow::Result<ZkReport> {
    let spec = ZkSpec::parse(spec)?;
    let client = connect_client(&spec, login).await?;
    let reader = RootNodeReader::with_client(client.clone(), &spec);
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
    let (layout, root_bytes, root_layout) = match (find(&RootLayout::Legacy.relative_path()), find(&RootLayout::V14.relative_path())) {
        (Some(b), _) => (Some("legacy".to_string()), Some(b), Some(RootLayout::Legacy)),
        (None, Some(b)) => (Some("v1.4".to_string()), Some(b), Some(RootLayout::V14)),
        _ => (None, None, None),
    };
    let root = match root_layout {
        Some(l) => reader.read(l).await?.0,
        None => None,
    };
    Ok(ZkReport { zk: spec.url(), layout, root_bytes, nodes, root })
}
