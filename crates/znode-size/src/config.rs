//! The storage settings of the Marathon behind the proxy.
//!
//! What Marathon stores, and how, depends on its version (the layout and the app encoding) and on
//! its command line (`--zk_max_node_size`, compression), which the proxy cannot read: it learns the
//! version from `/v2/info` and takes the rest from its configuration ([`StoreOverrides`]).
//! [`StoreConfig::for_marathon`] puts the two together, here with the settings they produce.

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
    /// `--zk_max_versions`: how many versions of the root group and of each app Marathon keeps
    /// ([`crate::footprint`]). 25 up to 1.3 (`ZookeeperConf.scala`, v1.3.14), 50 from 1.4
    /// (`StorageConf.scala`, v1.4.13, for the legacy store too); facts §1.7.
    pub zk_max_versions: u32,
}

/// Marathon 1.3's `--zk_max_versions` default.
pub const MAX_VERSIONS_1_3: u32 = 25;
/// Marathon 1.4's and later `--zk_max_versions` default.
pub const MAX_VERSIONS_1_4: u32 = 50;

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
            zk_max_versions: MAX_VERSIONS_1_3,
        }
    }

    /// Marathon 1.4+ on its default (new) store.
    pub fn marathon_1_4() -> Self {
        StoreConfig { layout: Layout::V14, flavor: AppFlavor::V14, zk_max_versions: MAX_VERSIONS_1_4, ..StoreConfig::marathon_1_3() }
    }

    /// The settings of a Marathon reporting `version` (e.g. `1.3.14`, `1.4.13`): the layout and
    /// app encoding the version implies, then `overrides`. An explicit layout wins over the
    /// version's; a 1.4+ Marathon keeps the 1.4 app encoding on the legacy layout (its
    /// `--internal_store_backend legacy_zk`, and its `--zk_max_versions` default).
    pub fn for_marathon(version: &str, overrides: &StoreOverrides) -> StoreConfig {
        let v14 = version_at_least_1_4(version);
        let layout = overrides.layout.unwrap_or(if v14 { Layout::V14 } else { Layout::Legacy });
        let flavor = if v14 || layout == Layout::V14 { AppFlavor::V14 } else { AppFlavor::V13 };
        let d = StoreConfig { layout, flavor, zk_max_versions: default_max_versions(flavor), ..StoreConfig::marathon_1_3() };
        StoreConfig {
            zk_max_node_size: overrides.zk_max_node_size.unwrap_or(d.zk_max_node_size),
            compression: overrides.zk_compression.unwrap_or(d.compression),
            compression_threshold: overrides.zk_compression_threshold.unwrap_or(d.compression_threshold),
            zk_max_packet: overrides.zk_max_packet.unwrap_or(d.zk_max_packet),
            zk_max_versions: overrides.zk_max_versions.unwrap_or(d.zk_max_versions),
            ..d
        }
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

/// Store settings given explicitly (the proxy's `[admission]` table); `None`: Marathon's default,
/// or for the layout, what the version implies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOverrides {
    pub layout: Option<Layout>,
    pub zk_max_node_size: Option<u64>,
    pub zk_compression: Option<bool>,
    pub zk_compression_threshold: Option<u64>,
    pub zk_max_packet: Option<u64>,
    pub zk_max_versions: Option<u32>,
}

/// `--zk_max_versions` by default for the Marathon that encodes apps as `flavor` does.
pub fn default_max_versions(flavor: AppFlavor) -> u32 {
    match flavor {
        AppFlavor::V13 => MAX_VERSIONS_1_3,
        AppFlavor::V14 => MAX_VERSIONS_1_4,
    }
}

/// `1.4.x` and later (and anything unparsable, Marathon's newest behaviour) → true.
fn version_at_least_1_4(version: &str) -> bool {
    let mut parts = version.trim().split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let major: u64 = match parts.next().and_then(|p| p.parse().ok()) {
        Some(m) => m,
        None => return true,
    };
    let minor: u64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    major > 1 || (major == 1 && minor >= 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(version: &str) -> StoreConfig {
        StoreConfig::for_marathon(version, &StoreOverrides::default())
    }

    #[test]
    fn versions() {
        assert!(!version_at_least_1_4("1.3.14"));
        assert!(!version_at_least_1_4("0.15.3"));
        assert!(!version_at_least_1_4(" 1 "));
        assert!(version_at_least_1_4("1.4.13"));
        assert!(version_at_least_1_4("1.10.0"));
        assert!(version_at_least_1_4("2.0"));
        assert!(!version_at_least_1_4("v1.3"), "a prefix is skipped");
        assert!(version_at_least_1_4("unknown"));
        assert!(version_at_least_1_4(""));
    }

    #[test]
    fn the_layout_and_encoding_follow_the_version() {
        assert_eq!(auto("1.3.14"), StoreConfig::marathon_1_3());
        assert_eq!(auto("1.4.13"), StoreConfig::marathon_1_4());
        assert_eq!((auto("1.3.14").zk_max_versions, auto("1.4.13").zk_max_versions), (25, 50));
        assert_eq!(auto("1.10.0"), StoreConfig::marathon_1_4());
        assert_eq!(auto("garbage"), StoreConfig::marathon_1_4());
    }

    #[test]
    fn an_explicit_layout_wins() {
        let v14 = StoreOverrides { layout: Some(Layout::V14), ..StoreOverrides::default() };
        assert_eq!(StoreConfig::for_marathon("1.3.14", &v14), StoreConfig::marathon_1_4());
        let legacy = StoreOverrides { layout: Some(Layout::Legacy), ..StoreOverrides::default() };
        let c = StoreConfig::for_marathon("1.4.13", &legacy);
        assert_eq!((c.layout, c.flavor), (Layout::Legacy, AppFlavor::V14), "1.4 on legacy_zk");
        assert_eq!(c.zk_max_versions, 50, "1.4's default, whatever the store");
        assert_eq!(StoreConfig::for_marathon("1.3.14", &legacy), StoreConfig::marathon_1_3());
    }

    #[test]
    fn sizes_and_compression_override_the_defaults() {
        let o = StoreOverrides {
            layout: None,
            zk_max_node_size: Some(20_000),
            zk_compression: Some(false),
            zk_compression_threshold: Some(100),
            zk_max_packet: Some(4096),
            zk_max_versions: Some(3),
        };
        let c = StoreConfig::for_marathon("1.3.14", &o);
        assert_eq!((c.zk_max_node_size, c.compression, c.compression_threshold, c.zk_max_packet), (20_000, false, 100, 4096));
        assert_eq!(c.zk_max_versions, 3);
        assert_eq!((c.layout, c.zk_path.as_str()), (Layout::Legacy, "/marathon"));
    }
}
