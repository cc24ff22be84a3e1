//! `marathon-admission check`: one write judged offline by the running proxy's own pipeline.
//!
//! Why it goes through [`Admission`] rather than calling the policy directly: a `check --config
//! proxy.toml` that skipped group modes, quotas or the health-check wall could say "admitted" for a
//! write the proxy refuses. Here the state is installed in a model that never syncs, and the
//! write is judged exactly as `POST /admission/v1/check` judges it, with the same JSON; nothing is
//! forwarded, nothing is kept, no audit line is written.

use marathon_model::Group;
use proxy::ProxyConfig;

use crate::audit::AuditLog;
use crate::{quota_check, Admission, AdmitConfig, LiveModel};

/// The decision JSON for `method full_path` with `body` on `root`, as a Marathon reporting
/// `marathon_version` behind a proxy configured by `config` would decide it.
pub async fn check(
    config: &ProxyConfig,
    root: Group,
    marathon_version: &str,
    method: &str,
    full_path: &str,
    body: &[u8],
) -> anyhow::Result<serde_json::Value> {
    let mut admit = AdmitConfig::from_table(config.admission.as_ref())?;
    admit.events = false;
    admit.quotas = quota_check::QuotaRuntime::from_config(config)?;
    let never_asked = proxy::MarathonClient::for_marathons(Vec::new(), &config.upstream)?;
    let model = LiveModel::new(never_asked, admit.clone());
    model.install(root, marathon_version).await;
    let admission = Admission::with_audit(admit, model, AuditLog::off());
    Ok(admission.check(method, full_path, body, &http::HeaderMap::new()).await)
}
