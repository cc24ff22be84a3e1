//! `marathon-admission check`: one write judged offline by the running proxy's own pipeline.
//!
//! Why it goes through [`Admission`] rather than calling the policy directly: a `check --config
//! proxy.toml` that skipped group modes, quotas or the health-check wall could say "admitted" for a
//! write the proxy refuses. Here the state is installed in a model that never syncs, and the
//! write is judged exactly as `POST /admission/v1/check` judges it, with the same JSON; nothing is
//! forwarded, nothing is kept, no audit line is written.

use std::sync::Arc;

use marathon_model::Group;

use crate::audit::AuditLog;
use crate::{quota_runtime, Admission, LiveModel, ServeConfig};

/// The decision JSON for `method full_path` with `body` on `root`, as a Marathon reporting
/// `marathon_version` behind a proxy configured by `config` would decide it.
pub async fn check(
    config: &ServeConfig,
    root: Group,
    marathon_version: &str,
    method: &str,
    full_path: &str,
    body: &[u8],
) -> anyhow::Result<serde_json::Value> {
    let mut admit = config.admission.clone();
    admit.events = false;
    let quotas = Arc::new(quota_runtime::QuotaRuntime::new(config.quotas.clone()));
    let never_asked = proxy::MarathonClient::for_marathons(Vec::new(), &config.proxy.upstream)?;
    let model = LiveModel::new(never_asked, admit.clone());
    model.install(root, marathon_version).await;
    let admission = Admission::with_audit(admit, model, quotas, AuditLog::off());
    Ok(admission.check(method, full_path, body).await)
}
