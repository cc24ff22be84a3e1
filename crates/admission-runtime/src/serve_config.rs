//! The whole `proxy.toml`, read once into plain data: the transport's tables
//! ([`proxy::ProxyConfig`]), `[admission]` interpreted ([`AdmitConfig`]), the quotas and
//! exemptions ([`QuotaSet`]) and the webhooks ([`NotifyTarget`]).
//!
//! Why one loader: `serve`, `serve --check-config`, the hot reload and `check --config` must agree
//! on what a file means and on which files are refused, with the same messages (file and line).
//! Nothing here runs: the quota runtime, the model and the listeners are built from it.

use std::path::Path;

use admission::quota::QuotaSet;
use anyhow::Context;
use proxy::ProxyConfig;

use crate::config::AdmitConfig;
use crate::notify::{self, NotifyTarget};
use crate::quota_runtime;
use crate::read_stored_root::ZkReadConfig;
use crate::shared_ledger::LedgerConfig;

/// A configuration, every table read and checked.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    /// Listeners, upstream, limits, runtime (and the raw admission tables, as read).
    pub proxy: ProxyConfig,
    /// `[admission]`.
    pub admission: AdmitConfig,
    /// `[[quota]]` and `[[exemption]]`.
    pub quotas: QuotaSet,
    /// `[ledger]`: shared by replicas through ZooKeeper, or this process's own.
    pub ledger: LedgerConfig,
    /// `[zookeeper]`: reading Marathon's root node, when allowed.
    pub zookeeper: ZkReadConfig,
    /// `[[notify]]`.
    pub notify: Vec<NotifyTarget>,
}

impl ServeConfig {
    /// Parses a whole file's text; errors name `source` and the line.
    pub fn from_toml_str(text: &str, source: Option<&Path>) -> anyhow::Result<Self> {
        let proxy = ProxyConfig::from_toml_str(text, source)?;
        let origin = source.map(|p| p.display().to_string()).unwrap_or_else(|| "<config>".to_owned());
        let quotas = quota_runtime::parse_text(text, &origin)?;
        let notify = notify::parse_text(text, &origin)?;
        locate_errors(text, &origin)?;
        Self::with_tables(proxy, quotas, notify)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read configuration {}", path.display()))?;
        Self::from_toml_str(&text, Some(path))
    }

    /// From a configuration assembled in code (its tables already split; errors name the entry,
    /// as no line is known).
    pub fn from_proxy_config(proxy: ProxyConfig) -> anyhow::Result<Self> {
        let quotas = quota_runtime::parse_tables(&proxy.quota, &proxy.exemption)?;
        let notify = notify::parse_tables(&proxy.notify)?;
        Self::with_tables(proxy, quotas, notify)
    }

    /// Applies the `MARATHON_ADMISSION_*` environment: the transport's variables, and
    /// `MARATHON_ADMISSION_LEDGER_ZOOKEEPER` over `[ledger] zookeeper`.
    pub fn apply_process_env(&mut self) -> anyhow::Result<()> {
        self.proxy.apply_process_env()?;
        if let Some(spec) = std::env::var(crate::shared_ledger::ENV_LEDGER_ZOOKEEPER).ok().filter(|v| !v.trim().is_empty()) {
            self.ledger.set_zookeeper(spec.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", crate::shared_ledger::ENV_LEDGER_ZOOKEEPER))?;
        }
        Ok(())
    }

    /// Lays `overrides` over the `[admission]` table and reads it again (the offline commands'
    /// store flags win over the file).
    pub fn override_admission(&mut self, overrides: toml::Table) -> anyhow::Result<()> {
        self.proxy.admission.get_or_insert_with(toml::Table::new).extend(overrides);
        self.admission = AdmitConfig::from_table(self.proxy.admission.as_ref())?;
        Ok(())
    }

    fn with_tables(proxy: ProxyConfig, quotas: QuotaSet, notify: Vec<NotifyTarget>) -> anyhow::Result<Self> {
        let admission = AdmitConfig::from_table(proxy.admission.as_ref())?;
        let ledger = LedgerConfig::from_table(proxy.ledger.as_ref())?;
        let zookeeper = ZkReadConfig::from_table(proxy.zookeeper.as_ref())?;
        Ok(ServeConfig { proxy, admission, quotas, ledger, zookeeper, notify })
    }
}

/// Reads `[admission]` (with `[[admission.group]]`), `[ledger]` and `[zookeeper]` once more, from the text: the
/// proxy keeps them as plain tables, which no longer know where each key was, so that an unknown or
/// mistyped key is reported here with its line (and the nearest known key). The values are
/// interpreted, and checked further, from those tables.
fn locate_errors(text: &str, origin: &str) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)] // read for their errors only
    struct Located {
        admission: Option<crate::config::Raw>,
        ledger: Option<crate::shared_ledger::RawLedger>,
        zookeeper: Option<crate::read_stored_root::RawZkRead>,
    }
    toml::from_str::<Located>(text).map(drop).map_err(|e| proxy::config::toml_errors::describe(&e, text, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "marathon = [\"http://127.0.0.1:8080\"]\n\n[admission]\nmargin = 0.02\n\n\
                        [[quota]]\ngroup = \"/dev\"\nmax_instances = 4\n";

    #[test]
    fn every_table_is_read_once_into_its_type() {
        let with_webhook = format!("{FILE}\n[[notify]]\nurl = \"https://hooks.example.com/x\"\nevents = [\"reject\"]\n");
        let c = ServeConfig::from_toml_str(&with_webhook, None).unwrap();
        assert_eq!(c.notify.len(), 1);
        assert_eq!(c.notify[0].events, [notify::EventKind::Reject]);
        assert_eq!(ServeConfig::from_proxy_config(c.proxy.clone()).unwrap().notify, c.notify);
        let c = ServeConfig::from_toml_str(FILE, None).unwrap();
        assert_eq!(c.proxy.marathon, ["http://127.0.0.1:8080"]);
        assert_eq!(c.quotas.quota.len(), 1);
        assert_eq!(c.quotas.quota[0].max_instances, Some(4));
        let from_code = ServeConfig::from_proxy_config(c.proxy.clone()).unwrap();
        assert_eq!(from_code.quotas, c.quotas);
        assert_eq!(format!("{:?}", from_code.admission), format!("{:?}", c.admission));
    }

    #[test]
    fn a_bad_table_is_refused_with_the_file_and_line() {
        let bad_quota = FILE.replace("max_instances = 4", "max_instances = \"four\"");
        let e = ServeConfig::from_toml_str(&bad_quota, Some(Path::new("p.toml"))).unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("line 8"), "{e}");
        let bad_admission = FILE.replace("margin = 0.02", "margin = 2.0");
        let e = format!("{:#}", ServeConfig::from_toml_str(&bad_admission, None).unwrap_err());
        assert!(e.contains("margin"), "{e}");
    }

    #[test]
    fn unknown_keys_in_every_table_name_the_line_and_the_nearest_key() {
        for (typo, line, message) in [
            ("[[qouta]]\ngroup = \"/dev\"\n", 3, "unknown table `qouta` at line 3; did you mean `quota`?"),
            ("[admission]\nmarginn = 0.1\n", 4, "unknown key `marginn` at line 4; did you mean `margin`?"),
            ("[[admission.group]]\nprefix = \"/dev\"\nmod = \"warn\"\n", 5, "unknown key `mod` at line 5; did you mean `mode`?"),
            ("[ledger]\nzookeper = \"zk:2181/l\"\n", 4, "unknown key `zookeper` at line 4; did you mean `zookeeper`?"),
            ("[[quota]]\ngroup = \"/dev\"\nmax_aps = 3\n", 5, "unknown key `max_aps` at line 5; did you mean `max_apps`?"),
            ("[[exemption]]\ngroup = \"/dev\"\nticket = \"T\"\nexpire = 2030-01-01T00:00:00Z\n", 6, "unknown key `expire` at line 6; did you mean `expires`?"),
            ("[[notfy]]\nurl = \"https://h/x\"\n", 3, "unknown table `notfy` at line 3; did you mean `notify`?"),
            ("[[notify]]\nurl = \"https://h/x\"\nevent = [\"reject\"]\n", 5, "unknown key `event` at line 5; did you mean `events`?"),
        ] {
            let text = format!("marathon = [\"http://127.0.0.1:8080\"]\n\n{typo}");
            let e = ServeConfig::from_toml_str(&text, Some(Path::new("p.toml"))).unwrap_err().to_string();
            assert_eq!(e, format!("p.toml: {message}"), "{typo}");
            assert!(e.contains(&format!("line {line}")));
        }
        // Tables assembled in code have no lines; the suggestion is still made.
        let mut proxy = ServeConfig::from_toml_str(FILE, None).unwrap().proxy;
        proxy.admission.as_mut().unwrap().insert("marginn".into(), 0.1.into());
        let e = format!("{:#}", ServeConfig::from_proxy_config(proxy).unwrap_err());
        assert!(e.contains("unknown key `marginn`; did you mean `margin`?"), "{e}");
    }

    #[test]
    fn overrides_win_over_the_file() {
        let mut c = ServeConfig::from_toml_str(FILE, None).unwrap();
        let before = c.admission.policy.margin;
        c.override_admission(toml::toml! { margin = 0.05 }).unwrap();
        assert_ne!(before, c.admission.policy.margin);
        assert_eq!(c.admission.policy.margin, admission::Margin::Fixed(0.05));
    }
}
