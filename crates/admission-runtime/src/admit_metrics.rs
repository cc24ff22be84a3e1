//! Admission's Prometheus metrics, registered into the proxy's registry (under the
//! `marathon_admission_proxy_admission_` prefix) through [`proxy::RequestPhases::register_metrics`].
//!
//! Labels are bounded: outcome (`allow`, `warn`, `reject`, `unchecked`), reason class (a fixed
//! set, see [`admission::ReasonClass`]), estimator path (`warm`, `exact`), and top-level group ids (at most
//! [`MAX_GROUP_LABELS`], as found in Marathon). Never a value of env, labels or secrets.

use std::sync::atomic::AtomicU64;

use admission::ReasonClass;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// At most this many top-level groups get their own series.
pub const MAX_GROUP_LABELS: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub outcome: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PathLabels {
    pub path: &'static str,
}

/// What became of a real write's work ahead of the decision order: `stood` (used as it was),
/// `redone` (its base moved meanwhile: applied and sized again in the order), `none` (nothing
/// was worked ahead: no warm state, or only the exact path could size it).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AheadLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub group: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Cheap to clone: every metric is an `Arc` inside.
#[derive(Clone, Debug)]
pub struct AdmitMetrics {
    pub decisions: Family<DecisionLabels, Counter>,
    pub decision_seconds: Family<PathLabels, Histogram, fn() -> Histogram>,
    pub worked_ahead: Family<AheadLabels, Counter>,
    pub base_states_prepared: Counter,
    pub base_states_prepared_early: Counter,
    pub predicted_bytes: Gauge,
    pub current_bytes: Gauge,
    pub limit_bytes: Gauge,
    pub headroom_bytes: Gauge,
    pub group_bytes: Family<GroupLabels, Gauge>,
    pub model_age_seconds: FloatGauge,
    pub model_syncs: Counter,
    pub model_sync_failures: Counter,
    pub events: Counter,
    pub event_stream_up: Gauge,
    pub ledger_entries: Gauge,
    pub marathon_health_checks: Gauge,
    pub estimate_error_bytes: Gauge,
    pub zookeeper_read_up: Gauge,
}

fn decision_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Default for AdmitMetrics {
    fn default() -> Self {
        AdmitMetrics {
            decisions: Family::default(),
            decision_seconds: Family::new_with_constructor(decision_histogram),
            worked_ahead: Family::default(),
            base_states_prepared: Counter::default(),
            base_states_prepared_early: Counter::default(),
            predicted_bytes: Gauge::default(),
            current_bytes: Gauge::default(),
            limit_bytes: Gauge::default(),
            headroom_bytes: Gauge::default(),
            estimate_error_bytes: Gauge::default(),
            zookeeper_read_up: Gauge::default(),
            group_bytes: Family::default(),
            model_age_seconds: FloatGauge::default(),
            model_syncs: Counter::default(),
            model_sync_failures: Counter::default(),
            events: Counter::default(),
            event_stream_up: Gauge::default(),
            ledger_entries: Gauge::default(),
            marathon_health_checks: Gauge::default(),
        }
    }
}

impl AdmitMetrics {
    /// Registers every metric under `admission_` in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("admission");
        r.register("decisions", "Admission decisions by outcome and reason class", self.decisions.clone());
        r.register(
            "decision_seconds",
            "Time to decide a write (model lookup, apply, estimate), by estimator path",
            self.decision_seconds.clone(),
        );
        r.register(
            "worked_ahead",
            "Real writes by what became of their work ahead of the decision order: stood, redone (the base moved meanwhile), none",
            self.worked_ahead.clone(),
        );
        r.register(
            "base_states_prepared",
            "Warm states prepared for a decision's base, ahead of the decision order, because the model's was too far from it to decide",
            self.base_states_prepared.clone(),
        );
        r.register(
            "base_states_prepared_early",
            "Warm states prepared in the background for a decision's target, once its base was half-way out of the newest state's reach and a base was out of reach lately; no decision waits for them",
            self.base_states_prepared_early.clone(),
        );
        r.register(
            "predicted_bytes",
            "Binding node size predicted by the last decision (legacy: deployment plan entry)",
            self.predicted_bytes.clone(),
        );
        r.register(
            "current_bytes",
            "Binding size of the state now (legacy: deployment plan of a no-op change of the model root)",
            self.current_bytes.clone(),
        );
        r.register("limit_bytes", "The limit the binding node is compared with", self.limit_bytes.clone());
        r.register(
            "headroom_bytes",
            "Admission threshold minus the current binding size (negative: past the threshold)",
            self.headroom_bytes.clone(),
        );
        r.register(
            "group_bytes",
            "Uncompressed encoded bytes of each top-level group in the root group (its share of the budget)",
            self.group_bytes.clone(),
        );
        r.register("model_age_seconds", "Time since the model was last confirmed by a full sync", self.model_age_seconds.clone());
        r.register("model_syncs", "Full syncs from GET /v2/groups", self.model_syncs.clone());
        r.register("model_sync_failures", "Failed full syncs", self.model_sync_failures.clone());
        r.register("events", "Events received from Marathon's /v2/events", self.events.clone());
        r.register("event_stream_up", "1 while the /v2/events subscription is open", self.event_stream_up.clone());
        r.register("ledger_entries", "Admitted writes not yet seen in the model", self.ledger_entries.clone());
        r.register(
            "estimate_error_bytes",
            "The model's size of the current root node minus ZooKeeper's dataLength ([zookeeper] read; measured when both hold the same root version)",
            self.estimate_error_bytes.clone(),
        );
        r.register("zookeeper_read_up", "1 while the root node is read from ZooKeeper ([zookeeper] read)", self.zookeeper_read_up.clone());
        r.register(
            "marathon_health_checks",
            "Marathon-side health checks (HTTP, HTTPS, TCP) x instances in the model root",
            self.marathon_health_checks.clone(),
        );
    }

    pub fn worked_ahead(&self, outcome: &'static str) {
        self.worked_ahead.get_or_create(&AheadLabels { outcome }).inc();
    }

    pub fn decision(&self, outcome: &'static str, reason: ReasonClass) {
        self.decisions.get_or_create(&DecisionLabels { outcome, reason: reason.as_str() }).inc();
    }
}
