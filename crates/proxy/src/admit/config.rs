//! The `[admission]` table of `proxy.toml` (kept opaque by [`crate::config`], interpreted here).
//!
//! ```toml
//! [admission]
//! enabled = true                # false: transparent proxy
//! margin = 0.01                 # reject at limit minus 1%
//! warn_at = 0.8                 # warn above 80% of the limit
//! mode = "enforce"              # "enforce" | "warn" | "off"
//! layout = "auto"               # "auto" (from /v2/info) | "legacy" | "v1.4"
//! zk_max_node_size = 1024000    # Marathon's --zk_max_node_size
//! zk_compression = true
//! zk_compression_threshold = 65536
//! failure_policy = "closed"     # model not synced: "closed" (503) | "open" (forward)
//! resync_interval_ms = 1000
//! ledger_timeout_ms = 30000     # an admitted write counts against the budget at most this long
//! ```

use std::time::Duration;

use admission::{Mode, Policy};
use anyhow::Context;
use serde::Deserialize;
use znode_size::{AppFlavor, Layout, StoreConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Not synced: growing writes get a 503 with `Retry-After`.
    #[default]
    Closed,
    /// Not synced: forward.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum LayoutChoice {
    /// From `/v2/info`'s `version`: < 1.4 legacy, otherwise v1.4.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "legacy")]
    Legacy,
    #[serde(rename = "v1.4")]
    V14,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Raw {
    enabled: bool,
    margin: f64,
    warn_at: f64,
    mode: Mode,
    layout: LayoutChoice,
    zk_max_node_size: Option<u64>,
    zk_compression: Option<bool>,
    zk_compression_threshold: Option<u64>,
    zk_max_packet: Option<u64>,
    failure_policy: FailurePolicy,
    resync_interval_ms: u64,
    ledger_timeout_ms: u64,
}

impl Default for Raw {
    fn default() -> Self {
        let p = Policy::default();
        Raw {
            enabled: true,
            margin: p.margin,
            warn_at: p.warn_at,
            mode: p.mode,
            layout: LayoutChoice::Auto,
            zk_max_node_size: None,
            zk_compression: None,
            zk_compression_threshold: None,
            zk_max_packet: None,
            failure_policy: FailurePolicy::Closed,
            resync_interval_ms: 1000,
            ledger_timeout_ms: 30_000,
        }
    }
}

/// The interpreted `[admission]` table.
#[derive(Debug, Clone)]
pub struct AdmitConfig {
    pub enabled: bool,
    pub policy: Policy,
    pub layout: LayoutChoice,
    pub zk_max_node_size: Option<u64>,
    pub zk_compression: Option<bool>,
    pub zk_compression_threshold: Option<u64>,
    pub zk_max_packet: Option<u64>,
    pub failure_policy: FailurePolicy,
    pub resync_interval: Duration,
    pub ledger_timeout: Duration,
}

impl Default for AdmitConfig {
    fn default() -> Self {
        AdmitConfig::from_raw(Raw::default())
    }
}

impl AdmitConfig {
    /// Reads the table (absent = defaults). Unknown keys are errors.
    pub fn from_table(table: Option<&toml::Table>) -> anyhow::Result<AdmitConfig> {
        let raw: Raw = match table {
            None => Raw::default(),
            Some(t) => toml::Value::Table(t.clone()).try_into().context("[admission]")?,
        };
        if !(0.0..1.0).contains(&raw.margin) {
            anyhow::bail!("[admission] margin must be in [0, 1), got {}", raw.margin);
        }
        if !(0.0..=1.0).contains(&raw.warn_at) {
            anyhow::bail!("[admission] warn_at must be in [0, 1], got {}", raw.warn_at);
        }
        Ok(AdmitConfig::from_raw(raw))
    }

    fn from_raw(raw: Raw) -> AdmitConfig {
        AdmitConfig {
            enabled: raw.enabled,
            policy: Policy { margin: raw.margin, warn_at: raw.warn_at, mode: raw.mode },
            layout: raw.layout,
            zk_max_node_size: raw.zk_max_node_size,
            zk_compression: raw.zk_compression,
            zk_compression_threshold: raw.zk_compression_threshold,
            zk_max_packet: raw.zk_max_packet,
            failure_policy: raw.failure_policy,
            resync_interval: Duration::from_millis(raw.resync_interval_ms.max(50)),
            ledger_timeout: Duration::from_millis(raw.ledger_timeout_ms.max(100)),
        }
    }

    /// The store settings for a Marathon reporting `version` (e.g. `1.3.14`, `1.4.13`).
    pub fn store_config(&self, version: &str) -> StoreConfig {
        let v14 = version_at_least_1_4(version);
        let layout = match self.layout {
            LayoutChoice::Auto if v14 => Layout::V14,
            LayoutChoice::Auto => Layout::Legacy,
            LayoutChoice::Legacy => Layout::Legacy,
            LayoutChoice::V14 => Layout::V14,
        };
        let mut cfg = StoreConfig::marathon_1_3();
        cfg.layout = layout;
        cfg.flavor = if v14 || layout == Layout::V14 { AppFlavor::V14 } else { AppFlavor::V13 };
        if let Some(v) = self.zk_max_node_size {
            cfg.zk_max_node_size = v;
        }
        if let Some(v) = self.zk_compression {
            cfg.compression = v;
        }
        if let Some(v) = self.zk_compression_threshold {
            cfg.compression_threshold = v;
        }
        if let Some(v) = self.zk_max_packet {
            cfg.zk_max_packet = v;
        }
        cfg
    }
}

/// `1.4.x` and later (and anything unparsable, Marathon's newest behaviour) → true.
pub fn version_at_least_1_4(version: &str) -> bool {
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

    #[test]
    fn defaults_and_overrides() {
        let c = AdmitConfig::from_table(None).unwrap();
        assert!(c.enabled);
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.failure_policy, FailurePolicy::Closed);
        let t: toml::Table = r#"
            mode = "warn"
            layout = "v1.4"
            zk_max_node_size = 20000
            failure_policy = "open"
            resync_interval_ms = 200
        "#
        .parse()
        .unwrap();
        let c = AdmitConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.policy.mode, Mode::Warn);
        assert_eq!(c.failure_policy, FailurePolicy::Open);
        assert_eq!(c.store_config("1.3.14").layout, Layout::V14);
        assert_eq!(c.store_config("1.3.14").zk_max_node_size, 20000);
        let bad: toml::Table = "marginn = 0.1".parse().unwrap();
        assert!(AdmitConfig::from_table(Some(&bad)).is_err());
    }

    #[test]
    fn auto_layout_from_version() {
        let c = AdmitConfig::default();
        assert_eq!(c.store_config("1.3.14").layout, Layout::Legacy);
        assert_eq!(c.store_config("1.3.14").flavor, AppFlavor::V13);
        assert_eq!(c.store_config("1.4.13").layout, Layout::V14);
        assert_eq!(c.store_config("1.10.0").layout, Layout::V14);
        assert!(!version_at_least_1_4("0.15.3"));
    }
}
