//! The admission fixture: the simulator behind a proxy with admission installed.

use std::sync::Arc;

use marathon_model::Group;
use admission_runtime::{Admission, AdmitConfig};

use super::{start_proxy_sharing, test_config, wait_ready, RunningProxy};


/// An app body with `env_vars` environment variables (what makes apps large).
pub fn app_body(id: &str, env_vars: usize) -> String {
    let env: serde_json::Map<String, serde_json::Value> = (0..env_vars)
        .map(|i| (format!("VAR_{i:03}"), serde_json::json!("some-configuration-value-0123456789")))
        .collect();
    serde_json::json!({
        "id": id, "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32.0, "env": env
    })
    .to_string()
}

pub struct Setup {
    pub sim: marathon_sim::SimHandle,
    pub proxy: RunningProxy,
    pub admission: Arc<Admission>,
    pub admit: AdmitConfig,
}

/// The simulator with `sim_config`, and a ready proxy whose `[admission]` table is `admission_toml`.
pub async fn setup_with(sim_config: marathon_sim::SimConfig, admission_toml: &str) -> Setup {
    let s = setup_unready(sim_config, admission_toml, |_, _| {}).await;
    wait_ready(&s.proxy).await;
    s
}

/// As [`setup_with`], with `adjust` applied to the proxy's configuration, not waiting for the
/// proxy to be ready.
pub async fn setup_unready(
    sim_config: marathon_sim::SimConfig,
    admission_toml: &str,
    adjust: impl FnOnce(&mut proxy::ProxyConfig, &marathon_sim::SimHandle),
) -> Setup {
    let sim = marathon_sim::start(sim_config).await.unwrap();
    let mut config = test_config(&[sim.url()]);
    let table: toml::Table = admission_toml.parse().unwrap();
    config.admission = Some(table);
    adjust(&mut config, &sim);
    let serve = admission_runtime::ServeConfig::from_proxy_config(config).unwrap();
    let admit = serve.admission.clone();
    let marathon = proxy::MarathonClient::new(&serve.proxy).unwrap();
    let admission = admission_runtime::start_admission(&serve, &marathon);
    let proxy = start_proxy_sharing(serve.proxy, admission.clone(), marathon).await;
    Setup { sim, proxy, admission, admit }
}

/// A 1.3.14 simulator (legacy layout) with a `zk_max_node_size` of `limit`.
pub fn sim_legacy(limit: u64, state: Option<Group>) -> marathon_sim::SimConfig {
    marathon_sim::SimConfig { state, zk_max_node_size: limit, ..marathon_sim::SimConfig::default() }
}

/// The proxy's 422 (not Marathon's own).
pub fn is_our_rejection(status: http::StatusCode, body: &[u8]) -> bool {
    status == 422
        && serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(|m| m.starts_with("marathon-admission rejected")))
            .unwrap_or(false)
}
