//! Admission: the phase that decides state-changing writes before Marathon sees them.
//!
//! - [`classify_request`]: which requests are writes (the model's endpoint table), asked by the
//!   proxy for every request.
//! - [`ServeConfig`]: the whole `proxy.toml` read once (transport tables, `[admission]`,
//!   quotas); [`config`]: the `[admission]` table.
//! - [`live_model`]: the root group kept in memory, re-synced from Marathon periodically.
//! - [`binding_history`]: the binding node's size over time (`/admission/v1/history`, the budget
//!   page's chart), kept in `[admission] history_file` by [`binding_history_file`].
//! - [`decide_write`]: the [`proxy::RequestPhases`] implementation: decisions under one lock.
//! - [`ledger`]: the in-flight ledger (a trait): this process's own, or [`shared_ledger`], one
//!   budget for several replicas through ZooKeeper (`[ledger]`).
//! - [`require_marathon_identity`]: `/admission/*` callers and exemption identities are believed
//!   only when Marathon accepts their credentials.
//! - [`offline_check`]: `marathon-admission check`, through the same pipeline and JSON as the
//!   proxy's dry run; [`definition_files`]: the writes deploy tools send for definition files.
//! - [`rejection`]: the 422 body people can act on; [`way_out`]: the steps that make room
//!   again (`/admission/v1/way-out`, the end of a rejection).
//! - [`follow_events`]: the model kept fresh from `/v2/events`; [`read_stored_root`]: Marathon's
//!   root node read from ZooKeeper when allowed (`[zookeeper] read`), for its stored order.
//! - [`decision_sizes`]: fast (warm) and exact estimates for a decision.
//! - [`release_memory`]: freed heap back to the system after each model change;
//!   [`upkeep_lane`]: model upkeep on a thread that runs behind the decisions.
//! - [`audit`], [`admit_metrics`]: one JSON line per decision; Prometheus metrics.
//! - [`notify`]: rejections, warnings and quotas over their limit told to `[[notify]]` webhooks.
//! - [`quota_runtime`], [`reload`], [`usage_api`], [`ui`]: per-group quotas and exemptions, hot
//!   reload of `proxy.toml`, `/admission/v1/groups`, `/admission/v1/decisions`, `/admission/ui`.

mod admit_metrics;
mod audit;
pub mod binding_history;
mod binding_history_file;
mod classify_request;
mod config;
mod decide_write;
mod decision_sizes;
pub mod definition_files;
mod fetch_missing;
mod follow_events;
mod gate_dry_runs;
mod ledger;
mod ledger_base;
pub mod live_model;
pub mod notify;
pub mod offline_check;
mod phase_clock;
mod quota_runtime;
mod rejection;
pub mod release_memory;
mod read_stored_root;
mod reload;
mod require_marathon_identity;
mod serve_config;
mod shared_ledger;
mod ui;
mod upkeep_lane;
mod usage_api;
pub mod way_out;
mod work_in_place;

use std::sync::Arc;

pub use config::{AdmitConfig, FailurePolicy, GroupMode, LayoutChoice};
pub use ledger::{Answered, Ledger, LocalLedger, Reservation};
pub use decide_write::Admission;
pub use decision_sizes::exact_decision;
pub use live_model::LiveModel;
pub use serve_config::ServeConfig;
pub use read_stored_root::{ZkReadConfig, ZkReadStatus};
pub use shared_ledger::LedgerConfig;

use proxy::{MarathonClient, NoPhases, RequestPhases};

/// Builds the phases for `config`: admission ([`start_admission`]) unless
/// `[admission] enabled = false`.
pub fn phases_for(config: &ServeConfig, marathon: &MarathonClient) -> anyhow::Result<Arc<dyn RequestPhases>> {
    if !config.admission.enabled {
        tracing::info!("[admission] enabled = false: transparent proxy only");
        return Ok(Arc::new(NoPhases));
    }
    Ok(start_admission(config, marathon))
}

/// Admission as `serve` runs it, reading Marathon through `marathon` (the proxy's own client):
/// the model's resync and event tasks, the quota gauges and the hot reload of the file are
/// spawned on the current tokio runtime; callers of `/admission/*` and identities claimed for
/// exemptions are checked with Marathon.
pub fn start_admission(config: &ServeConfig, marathon: &MarathonClient) -> Arc<Admission> {
    let admit = config.admission.clone();
    let quotas = Arc::new(quota_runtime::QuotaRuntime::new(config.quotas.clone()));
    let model = LiveModel::new(marathon.clone(), admit.clone());
    if let Some(path) = &admit.history_file {
        binding_history_file::spawn(&model, path.clone());
    }
    model.clone().spawn_resync();
    read_stored_root::spawn(model.clone(), config.zookeeper.clone());
    usage_api::spawn_gauges(model.clone(), &quotas);
    let notifier = notify::Notifier::start(config.notify.clone(), admit.policy.warn_at);
    if let Some(path) = &config.proxy.source {
        reload::spawn(&quotas, &notifier, path.clone(), &config.proxy);
    }
    let callers = require_marathon_identity::RequireMarathonIdentity::new(marathon.clone(), admit.trusted_identity_sources.clone());
    let open = admit.failure_policy == FailurePolicy::Open;
    let admission = Admission::new(admit, model, quotas).requiring_marathon_identity(callers).with_notifier(notifier);
    let admission = Arc::new(match config.ledger.zookeeper {
        Some(_) => {
            let shared = shared_ledger::ZkLedger::new(config.ledger.clone(), open);
            shared.spawn_keepalive();
            admission.with_ledger(Box::new(shared))
        }
        None => admission,
    });
    admission.build_bases_before_install();
    admission.warm_up_prepared_states();
    admission
}
