//! The `[admission]` table of `proxy.toml` (kept opaque by [`proxy::config`], interpreted here).
//! Read and checked here; what the values mean is policy and lives in the pure crates: the
//! per-group modes in [`admission::GroupModes`], the store settings in
//! [`znode_size::StoreConfig::for_marathon`].
//!
//! ```toml
//! [admission]
//! enabled = true                # false: transparent proxy
//! margin = "auto"               # the limit less each decision's measured error bound and a floor;
//!                               # or a fixed fraction (0.01: the limit less 1%, whatever the bound)
//! margin_floor = 0.0005         # with "auto": refused in any case within 0.05% of the limit
//! warn_at = 0.8                 # warn above 80% of the limit
//! mode = "enforce"              # "enforce" | "warn" | "off"
//! layout = "auto"               # "auto" (from /v2/info) | "legacy" | "v1.4"
//! zk_max_node_size = 1024000    # Marathon's --zk_max_node_size
//! zk_compression = true
//! zk_compression_threshold = 65536
//! zk_max_versions = 25          # Marathon's --zk_max_versions (default 25 on 1.3, 50 on 1.4+)
//! failure_policy = "closed"     # model not synced: "closed" (503) | "open" (forward)
//! resync_interval_ms = 1000     # full /v2/groups resync while the event stream is down
//! ledger_timeout_ms = 30000     # an answered write counts against the budget at most this long
//! max_batch_apps = 10000        # a write carrying more apps (a batch, a group) is refused (413)
//! events = true                 # keep the model fresh from /v2/events
//! events_resync_interval_ms = 10000 # safety-net resync while the event stream is up
//! events_debounce_ms = 50       # events that ask for a resync are coalesced over this long
//! warm = true                   # fast estimates from a prepared state (false: exact path only)
//! audit_log = "stderr"          # "stderr" | "off" | a file path (appended)
//! health_check_threshold = 2000 # Marathon-side health checks x instances above this: warn
//! trusted_identity_sources = [] # peers (CIDRs) whose identity headers count for exemptions
//! protect = ["/prod"]           # groups and apps the way out never proposes to touch
//! history_file = "/var/lib/marathon-admission/history.json" # the size history across restarts
//!
//! [[admission.group]]           # per-group-prefix mode (longest prefix wins)
//! prefix = "/dev"
//! mode = "warn"
//! ```

use std::time::Duration;

use admission::{GroupModes, Margin, Mode, Policy};
use anyhow::Context;
use marathon_model::PathId;
use serde::Deserialize;
use znode_size::{Layout, StoreConfig, StoreOverrides};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Not synced: growing writes get a 503 with `Retry-After`.
    #[default]
    Closed,
    /// Not synced: forward.
    Open,
}

/// `margin`: `"auto"` or a fraction of the limit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum RawMargin {
    Fraction(f64),
    Word(String),
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

impl LayoutChoice {
    /// The layout given explicitly (`None`: from the version).
    fn layout(self) -> Option<Layout> {
        match self {
            LayoutChoice::Auto => None,
            LayoutChoice::Legacy => Some(Layout::Legacy),
            LayoutChoice::V14 => Some(Layout::V14),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Raw {
    enabled: bool,
    margin: RawMargin,
    margin_floor: f64,
    warn_at: f64,
    mode: Mode,
    layout: LayoutChoice,
    zk_max_node_size: Option<u64>,
    zk_compression: Option<bool>,
    zk_compression_threshold: Option<u64>,
    zk_max_packet: Option<u64>,
    zk_max_versions: Option<u32>,
    failure_policy: FailurePolicy,
    resync_interval_ms: u64,
    ledger_timeout_ms: u64,
    events: bool,
    events_resync_interval_ms: u64,
    events_debounce_ms: u64,
    warm: bool,
    audit_log: String,
    health_check_threshold: u64,
    max_batch_apps: usize,
    trusted_identity_sources: Vec<String>,
    protect: Vec<String>,
    history_file: Option<String>,
    group: Vec<GroupMode>,
}

/// `[[admission.group]]`: a mode for every write under `prefix` (path-segment match).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMode {
    pub prefix: String,
    pub mode: Mode,
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    Off,
    Stderr,
    File(std::path::PathBuf),
}

impl Default for Raw {
    fn default() -> Self {
        let p = Policy::default();
        Raw {
            enabled: true,
            margin: RawMargin::Word("auto".into()),
            margin_floor: p.margin.fixed_part(),
            warn_at: p.warn_at,
            mode: p.mode,
            layout: LayoutChoice::Auto,
            zk_max_node_size: None,
            zk_compression: None,
            zk_compression_threshold: None,
            zk_max_packet: None,
            zk_max_versions: None,
            failure_policy: FailurePolicy::Closed,
            resync_interval_ms: 1000,
            ledger_timeout_ms: 30_000,
            events: true,
            events_resync_interval_ms: 10_000,
            events_debounce_ms: 50,
            warm: true,
            audit_log: "stderr".into(),
            health_check_threshold: 2000,
            max_batch_apps: 10_000,
            trusted_identity_sources: Vec::new(),
            protect: Vec::new(),
            history_file: None,
            group: Vec::new(),
        }
    }
}

/// The interpreted `[admission]` table.
#[derive(Debug, Clone)]
pub struct AdmitConfig {
    pub enabled: bool,
    pub policy: Policy,
    /// `layout` and the `zk_*` keys: what `/v2/info`'s version does not say.
    pub store: StoreOverrides,
    pub failure_policy: FailurePolicy,
    pub resync_interval: Duration,
    pub ledger_timeout: Duration,
    /// Follow `/v2/events` (model updates and resync triggers).
    pub events: bool,
    /// Periodic resync while the event stream is connected.
    pub events_resync_interval: Duration,
    pub events_debounce: Duration,
    /// Use [`znode_size::WarmState`] for decisions (false: the exact path every time).
    pub warm: bool,
    pub audit: AuditTarget,
    pub health_check_threshold: u64,
    /// A write carrying more apps than this (a batch, a group update) is refused before any work.
    pub max_batch_apps: usize,
    /// Peers (e.g. an authenticating front proxy) whose identity headers (`[[exemption]] header`)
    /// are believed; from anyone else they are ignored.
    pub trusted_identity_sources: Vec<ipnet::IpNet>,
    /// Per-group modes (`[[admission.group]]`); `policy.mode` where none applies.
    pub groups: GroupModes,
    /// Group or app ids whose subtrees the way out never proposes to delete or change.
    pub protect: Vec<PathId>,
    /// Where `serve` keeps the binding node's size history across restarts (absent: in memory).
    pub history_file: Option<std::path::PathBuf>,
}

impl Default for AdmitConfig {
    fn default() -> Self {
        AdmitConfig::from_raw(Raw::default())
    }
}

/// The margin `margin` and `margin_floor` ask for.
fn margin_of(raw: &Raw) -> anyhow::Result<Margin> {
    let fraction = |what: &str, f: f64| match (0.0..1.0).contains(&f) {
        true => Ok(f),
        false => Err(anyhow::anyhow!("[admission] {what} must be in [0, 1), got {f}")),
    };
    match &raw.margin {
        RawMargin::Word(w) if w == "auto" => Ok(Margin::Auto { floor: fraction("margin_floor", raw.margin_floor)? }),
        RawMargin::Word(w) => anyhow::bail!("[admission] margin must be \"auto\" or a fraction of the limit in [0, 1), got {w:?}"),
        RawMargin::Fraction(f) => Ok(Margin::Fixed(fraction("margin", *f)?)),
    }
}

impl AdmitConfig {
    /// Reads the table (absent = defaults). Unknown keys are errors.
    pub fn from_table(table: Option<&toml::Table>) -> anyhow::Result<AdmitConfig> {
        let raw: Raw = match table {
            None => Raw::default(),
            Some(t) => toml::Value::Table(t.clone())
                .try_into()
                .map_err(|e: toml::de::Error| anyhow::anyhow!("[admission]: {}", proxy::config::toml_errors::with_suggestion(e.message())))?,
        };
        margin_of(&raw)?;
        if !(0.0..=1.0).contains(&raw.warn_at) {
            anyhow::bail!("[admission] warn_at must be in [0, 1], got {}", raw.warn_at);
        }
        for g in &raw.group {
            if !g.prefix.starts_with('/') {
                anyhow::bail!("[[admission.group]] prefix must be an absolute group id, got {:?}", g.prefix);
            }
        }
        if let Some(p) = raw.protect.iter().find(|p| !p.starts_with('/')) {
            anyhow::bail!("[admission] protect: an absolute group or app id, got {p:?}");
        }
        for s in &raw.trusted_identity_sources {
            parse_source(s).with_context(|| format!("[admission] trusted_identity_sources: {s:?}"))?;
        }
        Ok(AdmitConfig::from_raw(raw))
    }

    fn from_raw(raw: Raw) -> AdmitConfig {
        let margin = margin_of(&raw).unwrap_or_default();
        let trusted_identity_sources = raw.trusted_identity_sources.iter().filter_map(|s| parse_source(s).ok()).collect();
        let groups = GroupModes::new(raw.group.into_iter().map(|g| (g.prefix, g.mode)));
        let audit = match raw.audit_log.as_str() {
            "off" | "" => AuditTarget::Off,
            "stderr" | "-" => AuditTarget::Stderr,
            path => AuditTarget::File(path.into()),
        };
        AdmitConfig {
            enabled: raw.enabled,
            policy: Policy { margin, warn_at: raw.warn_at, mode: raw.mode },
            store: StoreOverrides {
                layout: raw.layout.layout(),
                zk_max_node_size: raw.zk_max_node_size,
                zk_compression: raw.zk_compression,
                zk_compression_threshold: raw.zk_compression_threshold,
                zk_max_packet: raw.zk_max_packet,
                zk_max_versions: raw.zk_max_versions,
            },
            failure_policy: raw.failure_policy,
            resync_interval: Duration::from_millis(raw.resync_interval_ms.max(50)),
            ledger_timeout: Duration::from_millis(raw.ledger_timeout_ms.max(100)),
            events: raw.events,
            events_resync_interval: Duration::from_millis(raw.events_resync_interval_ms.max(50)),
            events_debounce: Duration::from_millis(raw.events_debounce_ms),
            warm: raw.warm,
            audit,
            health_check_threshold: raw.health_check_threshold,
            max_batch_apps: raw.max_batch_apps,
            trusted_identity_sources,
            groups,
            protect: raw.protect.iter().map(|p| PathId::parse(p)).collect(),
            history_file: raw.history_file.filter(|p| !p.is_empty()).map(Into::into),
        }
    }

    /// The store settings for a Marathon reporting `version` (e.g. `1.3.14`, `1.4.13`).
    pub fn store_config(&self, version: &str) -> StoreConfig {
        StoreConfig::for_marathon(version, &self.store)
    }
}

/// An address (`10.0.0.7`, `::1`) or a network (`10.0.0.0/8`).
fn parse_source(s: &str) -> anyhow::Result<ipnet::IpNet> {
    if let Ok(net) = s.parse::<ipnet::IpNet>() {
        return Ok(net);
    }
    let addr: std::net::IpAddr = s.parse().map_err(|_| anyhow::anyhow!("not an IP address or a CIDR network"))?;
    Ok(ipnet::IpNet::from(addr))
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
            zk_max_versions = 3
            failure_policy = "open"
            resync_interval_ms = 200
        "#
        .parse()
        .unwrap();
        let c = AdmitConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.policy.mode, Mode::Warn);
        assert_eq!(c.failure_policy, FailurePolicy::Open);
        assert_eq!(c.store_config("1.3.14").layout, Layout::V14);
        assert_eq!(c.store_config("1.3.14").zk_max_versions, 3);
        assert_eq!(c.store_config("1.3.14").zk_max_node_size, 20000);
        let bad: toml::Table = "marginn = 0.1".parse().unwrap();
        assert!(AdmitConfig::from_table(Some(&bad)).is_err());
    }

    #[test]
    fn the_margin_is_auto_with_a_floor_or_a_fixed_fraction() {
        assert_eq!(AdmitConfig::default().policy.margin, Margin::Auto { floor: admission::DEFAULT_FLOOR });
        let read = |s: &str| AdmitConfig::from_table(Some(&s.parse::<toml::Table>().unwrap())).map(|c| c.policy.margin);
        assert_eq!(read("margin = \"auto\"\nmargin_floor = 0.001").unwrap(), Margin::Auto { floor: 0.001 });
        assert_eq!(read("margin = 0.01").unwrap(), Margin::Fixed(0.01));
        for (bad, says) in [("margin = 2.0", "margin must be in [0, 1)"), ("margin = \"tight\"", "\"auto\" or a fraction"), ("margin_floor = -1.0", "margin_floor")] {
            let e = format!("{:#}", read(bad).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn group_modes_are_read_and_checked() {
        let t: toml::Table = r#"
            mode = "enforce"
            audit_log = "off"
            [[group]]
            prefix = "/dev"
            mode = "warn"
            [[group]]
            prefix = "/dev/sandbox/"
            mode = "off"
        "#
        .parse()
        .unwrap();
        let c = AdmitConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.audit, AuditTarget::Off);
        let expected = GroupModes::new([("/dev/sandbox".to_string(), Mode::Off), ("/dev".to_string(), Mode::Warn)]);
        assert_eq!(c.groups, expected);
        let bad: toml::Table = "[[group]]\nprefix = \"dev\"\nmode = \"warn\"".parse().unwrap();
        assert!(AdmitConfig::from_table(Some(&bad)).is_err());
        assert_eq!(AdmitConfig::default().audit, AuditTarget::Stderr);
    }

    #[test]
    fn layout_auto_leaves_it_to_the_version() {
        assert_eq!(AdmitConfig::default().store, StoreOverrides::default());
        let t: toml::Table = "layout = \"legacy\"\nzk_compression = false".parse().unwrap();
        let c = AdmitConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.store.layout, Some(Layout::Legacy));
        assert_eq!(c.store_config("1.4.13").layout, Layout::Legacy);
        assert!(!c.store_config("1.3.14").compression);
    }

    #[test]
    fn protected_prefixes_are_absolute_ids() {
        let t: toml::Table = "protect = [\"/prod\", \"/team/db/\"]".parse().unwrap();
        let c = AdmitConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.protect, vec![PathId::parse("/prod"), PathId::parse("/team/db")]);
        assert!(AdmitConfig::default().protect.is_empty());
        let bad: toml::Table = "protect = [\"prod\"]".parse().unwrap();
        let e = format!("{:#}", AdmitConfig::from_table(Some(&bad)).unwrap_err());
        assert!(e.contains("protect") && e.contains("prod"), "{e}");
    }

    #[test]
    fn the_history_file_is_optional() {
        assert_eq!(AdmitConfig::default().history_file, None);
        let t: toml::Table = "history_file = \"/var/lib/m/history.json\"".parse().unwrap();
        assert_eq!(AdmitConfig::from_table(Some(&t)).unwrap().history_file, Some("/var/lib/m/history.json".into()));
        let off: toml::Table = "history_file = \"\"".parse().unwrap();
        assert_eq!(AdmitConfig::from_table(Some(&off)).unwrap().history_file, None);
    }

    #[test]
    fn trusted_identity_sources_are_addresses_or_networks() {
        let t: toml::Table = "trusted_identity_sources = [\"10.0.0.0/8\", \"::1\"]".parse().unwrap();
        let c = AdmitConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.trusted_identity_sources.len(), 2);
        assert!(c.trusted_identity_sources[1].contains(&"::1".parse::<std::net::IpAddr>().unwrap()));
        let bad: toml::Table = "trusted_identity_sources = [\"ten.0.0.0\"]".parse().unwrap();
        let e = format!("{:#}", AdmitConfig::from_table(Some(&bad)).unwrap_err());
        assert!(e.contains("trusted_identity_sources") && e.contains("ten.0.0.0"), "{e}");
        assert!(AdmitConfig::default().trusted_identity_sources.is_empty());
    }
}
