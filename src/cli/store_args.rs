//! Flags shared by `check` and `report`: where the state comes from and how Marathon stores it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use marathon_model::ops::{canonical_root, Flavour};
use marathon_model::{Group, PathId};
use znode_size::config::default_max_versions;
use znode_size::{AppFlavor, Layout, StoreConfig};

#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The ZooKeeper layout: `legacy` (Marathon <= 1.3, or 1.4 on legacy_zk) or `v1.4`
    /// [default: legacy].
    #[arg(long)]
    pub layout: Option<Layout>,
    /// Marathon's `--zk_max_node_size` [default: 1024000].
    #[arg(long)]
    pub zk_max_node_size: Option<u64>,
    /// Marathon's `--zk_compression_threshold` [default: 65536].
    #[arg(long)]
    pub zk_compression_threshold: Option<u64>,
    /// Marathon's `--disable_zk_compression`.
    #[arg(long)]
    pub disable_zk_compression: bool,
    /// ZooKeeper's `jute.maxbuffer` (the 1.4+ layout's binding limit) [default: 1048575].
    #[arg(long)]
    pub zk_max_packet: Option<u64>,
    /// Marathon's `--zk_max_versions` [default: 25; 50 with `--layout v1.4` or `--marathon-1-4`].
    #[arg(long)]
    pub zk_max_versions: Option<u32>,
    /// Encode apps as Marathon 1.4 does (implied by `--layout v1.4`).
    #[arg(long)]
    pub marathon_1_4: bool,
}

impl StoreArgs {
    pub fn store_config(&self) -> StoreConfig {
        let defaults = StoreConfig::marathon_1_3();
        let layout = self.layout.unwrap_or(Layout::Legacy);
        let v14 = self.marathon_1_4 || layout == Layout::V14;
        let flavor = if v14 { AppFlavor::V14 } else { AppFlavor::V13 };
        StoreConfig {
            layout,
            flavor,
            zk_max_node_size: self.zk_max_node_size.unwrap_or(defaults.zk_max_node_size),
            compression: !self.disable_zk_compression,
            compression_threshold: self.zk_compression_threshold.unwrap_or(defaults.compression_threshold),
            zk_max_packet: self.zk_max_packet.unwrap_or(defaults.zk_max_packet),
            zk_max_versions: self.zk_max_versions.unwrap_or(default_max_versions(flavor)),
            ..defaults
        }
    }

    /// The write semantics that go with the encoding.
    pub fn flavour(&self) -> Flavour {
        match self.store_config().flavor {
            AppFlavor::V13 => Flavour::V13,
            AppFlavor::V14 => Flavour::V14,
        }
    }

    /// The Marathon version these settings describe (what `/v2/info` would report).
    pub fn marathon_version(&self) -> &'static str {
        match self.flavour() {
            Flavour::V13 => "1.3.14",
            Flavour::V14 => "1.4.13",
        }
    }

    /// The `[admission]` keys the flags given set, to lay over a configuration file's.
    pub fn admission_overrides(&self) -> toml::Table {
        let mut t = toml::Table::new();
        if let Some(l) = self.layout {
            t.insert("layout".into(), toml::Value::String(l.as_str().into()));
        }
        let mut int = |k: &str, v: Option<u64>| {
            if let Some(v) = v {
                t.insert(k.into(), toml::Value::Integer(v as i64));
            }
        };
        int("zk_max_node_size", self.zk_max_node_size);
        int("zk_compression_threshold", self.zk_compression_threshold);
        int("zk_max_packet", self.zk_max_packet);
        int("zk_max_versions", self.zk_max_versions.map(u64::from));
        if self.disable_zk_compression {
            t.insert("zk_compression".into(), toml::Value::Boolean(false));
        }
        t
    }
}

/// Reads a `ROOT.json` (what `GET /v2/groups?embed=group.groups&embed=group.apps` returns).
pub fn load_state(path: &Path, flavour: Flavour) -> anyhow::Result<Group> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read state file {}", path.display()))?;
    parse_state(&bytes, flavour).with_context(|| format!("state file {}", path.display()))
}

pub fn parse_state(bytes: &[u8], flavour: Flavour) -> anyhow::Result<Group> {
    let group = Group::parse(bytes)?;
    let group = group.normalized(&PathId::root())?;
    Ok(canonical_root(wrap_in_root(group), flavour))
}

/// A group that is not the root (e.g. a group definition file) becomes the only subgroup of an
/// otherwise empty root, with its intermediate groups, as if it had been posted to an empty Marathon.
fn wrap_in_root(group: Group) -> Group {
    let mut node = group;
    while !node.path_id().is_root() {
        let parent_id = node.path_id().parent();
        let mut parent = Group::empty(&parent_id);
        parent.version = node.version.clone();
        parent.groups = Some(vec![node]);
        node = parent;
    }
    node
}

/// Reads an optional file argument.
pub fn read_optional(path: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    match path {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
        None => Ok(Vec::new()),
    }
}
