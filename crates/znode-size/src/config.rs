//! The storage settings of the Marathon behind the proxy.

use serde::{Deserialize, Serialize};

use crate::service_definition::AppFlavor;

/// Which ZooKeeper layout Marathon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// <= 1.3, or 1.4 with `--internal_store_backend legacy_zk`: the whole root group in one node,
    /// every plan holding the original and the target root.
    Legacy,
    /// 1.4+ Curator store: the root group holds app references; apps are separate nodes.
    #[serde(rename = "v1.4")]
    V14,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Legacy => "legacy",
            Layout::V14 => "v1.4",
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "legacy" => Ok(Layout::Legacy),
            "v1.4" | "v14" | "new" => Ok(Layout::V14),
            other => Err(format!("unknown layout `{other}` (expected `legacy` or `v1.4`)")),
        }
    }
}

/// Marathon's and ZooKeeper's size settings; defaults are Marathon 1.3.14's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreConfig {
    pub layout: Layout,
    pub flavor: AppFlavor,
    /// `--zk_max_node_size`: a legacy plan entry is accepted iff strictly smaller.
    pub zk_max_node_size: u64,
    /// `--zk_compression` (legacy store only).
    pub compression: bool,
    /// `--zk_compression_threshold`: payloads strictly larger are gzipped.
    pub compression_threshold: u64,
    /// ZooKeeper's `jute.maxbuffer`: the largest request packet the server accepts.
    pub zk_max_packet: u64,
    /// Marathon's `--zk` path (`/marathon`); state lives under `<path>/state`.
    pub zk_path: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::marathon_1_3()
    }
}

impl StoreConfig {
    pub fn marathon_1_3() -> Self {
        StoreConfig {
            layout: Layout::Legacy,
            flavor: AppFlavor::V13,
            zk_max_node_size: 1_024_000,
            compression: true,
            compression_threshold: 64 * 1024,
            zk_max_packet: 0xfffff,
            zk_path: "/marathon".into(),
        }
    }

    /// Marathon 1.4+ on its default (new) store.
    pub fn marathon_1_4() -> Self {
        StoreConfig { layout: Layout::V14, flavor: AppFlavor::V14, ..StoreConfig::marathon_1_3() }
    }

    /// The limit the binding node is compared against.
    pub fn limit_bytes(&self) -> u64 {
        match self.layout {
            Layout::Legacy => self.zk_max_node_size,
            Layout::V14 => self.zk_max_packet,
        }
    }

    /// True when a legacy payload of `len` bytes is stored gzipped.
    pub fn compresses(&self, len: usize) -> bool {
        self.compression && len as u64 > self.compression_threshold
    }
}
