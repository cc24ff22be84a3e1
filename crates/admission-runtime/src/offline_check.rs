//! `marathon-admission check`: writes judged offline by the running proxy's own pipeline.
//!
//! Why it goes through [`Admission`] rather than calling the policy directly: a `check --config
//! proxy.toml` that skipped group modes, quotas or the health-check wall could say "admitted" for a
//! write the proxy refuses. Here the state is installed in a model that never syncs, and the
//! write is judged exactly as `POST /admission/v1/check` judges it, with the same JSON; nothing is
//! forwarded, nothing is kept, no audit line is written.
//!
//! Several definition files ([`check_files`]) are judged in order, each on the state the admitted
//! ones before it leave (their target root installed as the model's), as a deploy tool sending
//! them one after the other through the proxy would meet them. A refused one leaves the state as
//! it was.

use std::sync::Arc;

use marathon_model::Group;

use crate::audit::AuditLog;
use crate::definition_files::Definition;
use crate::{quota_runtime, Admission, AdmitConfig, LiveModel, ServeConfig};

/// The decision JSON for `method full_path` with `body` on `root`, as a Marathon reporting
/// `marathon_version` behind a proxy configured by `config` would decide it.
pub async fn check(config: &ServeConfig, root: Group, marathon_version: &str, method: &str, full_path: &str, body: &[u8]) -> anyhow::Result<serde_json::Value> {
    let admission = offline(config, config.admission.clone(), root, marathon_version).await?;
    Ok(admission.check(method, full_path, body).await)
}

/// The decision JSON for each of `definitions`, in order, each judged on `root` with the admitted
/// ones before it applied; each with `file`, and the `group` and `owner` ([`QuotaSet::responsible`]
/// from the configuration's quotas) the write belongs to.
///
/// [`QuotaSet::responsible`]: admission::quota::QuotaSet::responsible
pub async fn check_files(config: &ServeConfig, root: Group, marathon_version: &str, definitions: &[Definition]) -> anyhow::Result<Vec<serde_json::Value>> {
    // Each admitted file moves the model: a warm state prepared for one root would serve no
    // other decision.
    let admit = AdmitConfig { warm: false, ..config.admission.clone() };
    let admission = offline(config, admit, root, marathon_version).await?;
    let mut out = Vec::with_capacity(definitions.len());
    for d in definitions {
        let Some(snap) = admission.model().snapshot().await else { anyhow::bail!("the state was not installed") };
        let (method, path) = d.write_on(&snap.root);
        let (mut json, left) = admission.check_leaving(method, &path, &d.body).await;
        if let Some(root) = left {
            admission.model().install(Arc::unwrap_or_clone(root), marathon_version).await;
        }
        let affected = json["affected"].as_array().cloned().unwrap_or_default();
        let id = d.id.to_string();
        let ids = affected.iter().filter_map(|v| v.as_str()).chain([id.as_str()]);
        let who = config.quotas.responsible(ids);
        json["file"] = serde_json::json!(d.file.display().to_string());
        json["group"] = serde_json::json!(who.group);
        json["owner"] = serde_json::json!(who.owner);
        out.push(json);
    }
    Ok(out)
}

/// Admission over a model holding `root` that never asks Marathon anything (also what the
/// in-process decision benchmark drives).
pub async fn offline(config: &ServeConfig, mut admit: AdmitConfig, root: Group, marathon_version: &str) -> anyhow::Result<Admission> {
    admit.events = false;
    let quotas = Arc::new(quota_runtime::QuotaRuntime::new(config.quotas.clone()));
    let never_asked = proxy::MarathonClient::for_marathons(Vec::new(), &config.proxy.upstream)?;
    let model = LiveModel::new(never_asked, admit.clone());
    model.install(root, marathon_version).await;
    Ok(Admission::with_audit(admit, model, quotas, AuditLog::off()))
}

#[cfg(test)]
mod tests;
