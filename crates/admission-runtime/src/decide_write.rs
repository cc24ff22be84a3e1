//! The admission phase: decides every state-changing write against the live model plus the
//! in-flight ledger.
//!
//! - Decisions are serialized (the decision order, one async mutex) from reading the ledger to
//!   reserving: no two interleave. A write is worked out (applied and sized on the warm path)
//!   before it takes its place in the order, and that work stands when its base did not move
//!   meanwhile ([`work_out`]), so the order is held for the checks and the reservation, not for
//!   the sizes.
//! - A write that is admitted enters the ledger before it is forwarded; later decisions apply
//!   every ledger write on top of the model root (the "base"), so concurrent writes cannot
//!   together exceed the budget. An entry leaves when Marathon answers non-2xx, on the first
//!   resync started after Marathon answered 2xx (the write is then in the model), or
//!   `ledger_timeout_ms` after Marathon's answer (a write still in flight stays charged: Marathon
//!   may yet apply it; see [`super::ledger::expired`]). The base is cached between decisions (the
//!   last admitted target is the next base as long as the model root and the ledger did not
//!   change), so a decision copies the root once (`apply` of the write) rather than once per
//!   pending write.
//! - What a write needs that only Marathon holds (older versions, a deployment's plan) is fetched
//!   first ([`super::fetch_missing`]); refusals that depend on a state the model may not share
//!   are assumed away (`apply_assuming_accepted`): a write is forwarded undecided only when
//!   Marathon refuses it whatever the proxy does not know.
//! - Sizes come from [`super::decision_sizes`]: a prepared warm state, exact where it decides something.
//! - The decision: [`admission::decide`] with the mode of the write's groups
//!   (`[[admission.group]]`), then the further checks ([`Admission::further_checks`]: Marathon-side
//!   health checks; per-group quotas slot in there), each of which may only make it stricter.
//! - Bodies that do not parse, and writes Marathon refuses for certain, are forwarded untouched:
//!   Marathon answers them.
//! - Not synced: `failure_policy = "closed"` answers 503 + `Retry-After: 5` (deletions still
//!   pass: they never grow the state), `"open"` forwards.
//! - `POST /admission/v1/check?method=M&path=P` (body = the write's body) answers the decision
//!   JSON of `marathon-admission check --json`, without forwarding and without a ledger entry.
//! - Every decision: one audit line ([`super::audit`]) and the metrics ([`super::admit_metrics`]);
//!   the `[[notify]]` webhooks hear about refusals and warnings ([`super::notify`], queued).

use std::sync::Arc;
use std::time::Instant;

use admission::{fold_health_check_wall, Decision, HealthCheckCounts, Mode, ReasonClass, Verdict};
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use marathon_model::ops::{apply_assuming_accepted, parse_write, ChangeError, FetchedHistory, Flavour, Write};
use marathon_model::{Group, PathId, Timestamp};
use serde_json::json;

use super::admit_metrics::{AdmitMetrics, PathLabels};
use super::audit::{basic_auth_user, caller_identity, AuditLog, AuditRecord};
use super::config::{AdmitConfig, FailurePolicy};
use super::fetch_missing::FetchMissing;
use super::gate_dry_runs::GateDryRuns;
use super::ledger_base::{LedgerBases, ModelRoot};
use super::ledger::{ms_of, Answered, Ledger, LedgerDecision, LedgerUnavailable, LocalLedger, PendingQuery, Reservation, ReserveError};
use super::live_model::{LiveModel, NewRoot, Snapshot};
use super::phase_clock::PhaseClock;
use super::quota_runtime::QuotaRuntime;
use super::require_marathon_identity::RequireMarathonIdentity;
use admission::quota::ClientIdentity;
use super::rejection::{Breakdown, Rejection};
use super::decision_sizes::{Prepared, Sizes};
use super::work_in_place::work_in_place;
use proxy::phases::{Flow, RequestCtx, RequestPhases, RequestSummary, UpstreamFailure, WriteRequest};
use proxy::RouteClass;

mod state_near_bases;
mod work_out;

use state_near_bases::StateNearBases;
use work_out::{ToWorkOut, Worked};

/// Another replica admitted a write while this decision ran: decide again.
struct Conflict;

/// A write to evaluate, as received.
#[derive(Clone, Copy)]
struct Asked<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    body: &'a [u8],
    /// Judged without a ledger entry (`POST /admission/v1/check`, `check`).
    dry_run: bool,
    client: &'a ClientIdentity,
}

/// How many times a real write is worked out ahead of the decision order before it is worked
/// out in the order (when its base moved each time).
const AHEAD_PASSES: u32 = 2;

/// A write worked out, with its place in the decision order.
struct Placed<'a> {
    /// Held until the decision is reserved (none for a dry run).
    _order: Option<tokio::sync::MutexGuard<'a, ()>>,
    snap: Snapshot,
    ledger: Box<dyn LedgerDecision + 'a>,
    pending: Vec<(u64, Write)>,
    on: ModelRoot,
    worked: Box<Worked>,
}

/// A write body from this size on leaves enough freed memory behind to return it at once.
const LARGE_BODY: usize = 1 << 20;

/// What Marathon's answer `status` to a write means for the ledger: it took it (2xx); nobody
/// knows (5xx: its REST layer answers 503 "Futures timed out" once it stops waiting for the
/// write, which goes on and may still be applied); it refused it (3xx, 4xx: `None`, released).
fn answered_as(status: http::StatusCode) -> Option<Answered> {
    if status.is_success() {
        Some(Answered::Applied)
    } else if status.is_server_error() {
        Some(Answered::Unknown)
    } else {
        None
    }
}

/// Carried in [`RequestCtx::extensions`] from `request_filter` to the later phases.
#[derive(Debug, Clone, Copy)]
struct Ticket(u64);

/// The answer for a write that admission evaluated.
struct Decided {
    /// What the write was applied to: the model root with the ledger's writes.
    base: Arc<Group>,
    target: Arc<Group>,
    sizes: Sizes,
    decision: Decision,
    reason: ReasonClass,
    /// This decision's threshold (its measured bound taken off).
    reject_at: u64,
    /// How `reject_at` lies below the limit, in words.
    margin: String,
    affected: Vec<PathId>,
    store: znode_size::StoreConfig,
    hc_target: u64,
    quota: Option<super::quota_runtime::QuotaResult>,
    /// Why the decision ran on this replica's ledger alone (a shared ledger unreachable).
    degraded: Option<String>,
    phases: PhaseClock,
}

enum Evaluation {
    NotSynced { reason: String, is_delete: bool },
    /// More apps in one write than `max_batch_apps`: refused before any work.
    TooManyApps { apps: usize, limit: usize },
    /// Not a write admission knows (or a dry run): forward.
    NotAWrite,
    /// Marathon answers it itself (bad body, unknown app, ...): forward.
    MarathonAnswers(ChangeError),
    /// No deployment, nothing large persisted.
    NoDeployment,
    Decided(Box<Decided>),
}

pub struct Admission {
    config: AdmitConfig,
    model: Arc<LiveModel>,
    /// `[[quota]]` and `[[exemption]]` in force (reloadable), and the recent decisions.
    quotas: Arc<QuotaRuntime>,
    /// Asks Marathon about callers (absent offline).
    callers: Option<RequireMarathonIdentity>,
    /// The decision order: held from reading the ledger to reserving.
    order: tokio::sync::Mutex<()>,
    ledger: Box<dyn Ledger>,
    /// The model root with the ledger's writes applied, kept between decisions.
    bases: Arc<LedgerBases>,
    /// A warm state prepared for a decision's base, when the model's was too far from it.
    near: StateNearBases,
    /// Older versions and deployments' plans, asked of Marathon when a write needs them.
    missing: FetchMissing,
    /// The queue and the per-client rate of `POST /admission/v1/check`.
    dry_runs: GateDryRuns,
    audit: AuditLog,
    notifier: Arc<super::notify::Notifier>,
    metrics: AdmitMetrics,
}

fn verdict_str(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Warn => "warn",
        Verdict::Reject => "reject",
    }
}

/// The clock a write is stamped with, as the layout sizes it.
fn stamp_now(layout: znode_size::Layout) -> Timestamp {
    match layout {
        // 1.4+ writes the clock as ISO text of 20 to 24 characters: size at the widest.
        znode_size::Layout::V14 => Timestamp::now().at_widest_iso(),
        znode_size::Layout::Legacy => Timestamp::now(),
    }
}

/// What a decision reads of the ledger on a model whose sync fetched from `fetch_started`.
fn pending_query(fetch_started: Instant, flavour: Flavour, timeout: std::time::Duration) -> PendingQuery {
    let synced_at = std::time::SystemTime::now().checked_sub(fetch_started.elapsed());
    PendingQuery { model_synced_at_ms: synced_at.map(ms_of), timeout, flavour }
}

/// A random pause of up to `attempt + 1` milliseconds (a cheap jitter: the clock's nanoseconds).
fn step_aside(attempt: u32) -> std::time::Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::time::Duration::from_micros(u64::from(nanos % 1000) * u64::from(attempt + 1))
}

/// How many apps and pods a write carries in its body (a batch, a group and its subgroups).
fn apps_carried(write: &Write) -> usize {
    use marathon_model::ops::Change;
    let in_group = |g: &Group| g.transitive_apps().len() + g.transitive_groups().iter().map(|sub| sub.pods().len()).sum::<usize>();
    match &write.change {
        Change::PutApps { apps, .. } | Change::PatchApps { apps } => apps.len(),
        Change::CreateGroup { group, .. } => in_group(group),
        Change::UpdateGroup { update, .. } => in_group(update),
        _ => 0,
    }
}

fn too_many_apps(ev: &Evaluation) -> String {
    let Evaluation::TooManyApps { apps, limit } = ev else { return String::new() };
    format!(
        "marathon-admission: this write carries {apps} apps; the proxy decides writes of at most {limit} apps          ([admission] max_batch_apps). The write was not sent to Marathon: send it in smaller batches."
    )
}

/// The resource id a write's URL names (`/v2/apps/dev/x/restart` -> `/dev/x`), if any: from the
/// one endpoint table, as every other judgement of the path.
fn url_resource_id(method: &str, path: &str) -> Option<String> {
    marathon_model::ops::endpoints::match_endpoint(method, path).and_then(|m| m.id)
}

impl Admission {
    /// The audit log is opened from `config.audit`; when that fails (a file that cannot be
    /// opened) the error is logged and audit lines go nowhere.
    pub fn new(config: AdmitConfig, model: Arc<LiveModel>, quotas: Arc<QuotaRuntime>) -> Admission {
        let audit = AuditLog::open(&config.audit).unwrap_or_else(|e| {
            tracing::error!(error = %e, "admission: audit log unavailable");
            AuditLog::off()
        });
        Admission::with_audit(config, model, quotas, audit)
    }

    pub fn with_audit(config: AdmitConfig, model: Arc<LiveModel>, quotas: Arc<QuotaRuntime>, audit: AuditLog) -> Admission {
        let metrics = model.metrics.clone();
        let missing = FetchMissing::new(model.marathon().clone());
        Admission {
            config,
            model,
            quotas,
            callers: None,
            order: tokio::sync::Mutex::new(()),
            ledger: Box::new(LocalLedger::default()),
            bases: Arc::default(),
            near: StateNearBases::default(),
            missing,
            dry_runs: GateDryRuns::default(),
            audit,
            notifier: Arc::new(super::notify::Notifier::off()),
            metrics,
        }
    }

    /// Decisions are told to `notifier`'s webhooks.
    pub fn with_notifier(mut self, notifier: Arc<super::notify::Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// The callers of `/admission/*` and the identities claimed for exemptions must be accepted
    /// by Marathon (asked through `callers`); without this (the offline `check`) no client
    /// identity is believed.
    pub fn requiring_marathon_identity(mut self, callers: RequireMarathonIdentity) -> Self {
        self.callers = Some(callers);
        self
    }

    /// The identity exemptions may use: a Basic user when Marathon accepts the credentials, the
    /// identity headers when the peer is a trusted source; nothing without a way to ask Marathon.
    async fn client_identity(&self, peer: Option<std::net::IpAddr>, headers: &http::HeaderMap) -> ClientIdentity {
        let Some(callers) = self.callers.as_ref().filter(|_| self.quotas.exemptions_name_clients()) else {
            return ClientIdentity::default();
        };
        let user = match basic_auth_user(headers) {
            Some(user) if callers.credentials_accepted(headers).await => Some(user),
            _ => None,
        };
        let trusted = peer.is_some_and(|p| callers.trusts_headers_from(p));
        self.quotas.client_identity(user, trusted.then_some(headers))
    }

    /// Decisions share `ledger` (e.g. with other replicas) instead of this process's own.
    pub fn with_ledger(mut self, ledger: Box<dyn Ledger>) -> Self {
        self.ledger = ledger;
        self
    }

    /// Number of writes admitted but not yet seen in the model.
    pub fn ledger_len(&self) -> usize {
        self.ledger.len()
    }

    pub fn model(&self) -> &Arc<LiveModel> {
        &self.model
    }

    fn not_synced_response(reason: &str) -> Response<Bytes> {
        let mut resp = proxy::marathon_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "marathon-admission cannot check this write right now: {reason}. The write was not sent to \
                 Marathon; retry in a few seconds."
            ),
        );
        resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
        resp
    }

    /// Evaluates one write. With `dry_run` false and an admitted verdict, the write enters the
    /// ledger (its ticket is returned) before the next decision of this process. When another
    /// replica admitted a write in between (a shared ledger's conflict), decides again on the new
    /// view, a few times.
    async fn evaluate(&self, asked: Asked<'_>) -> (Evaluation, Option<u64>) {
        let evaluated = self.evaluate_attempts(asked).await;
        if asked.body.len() >= LARGE_BODY {
            // A large write leaves large buffers behind: back to the system, off the workers.
            tokio::task::spawn_blocking(super::release_memory::release_freed_memory);
        }
        evaluated
    }

    async fn evaluate_attempts(&self, asked: Asked<'_>) -> (Evaluation, Option<u64>) {
        // Replicas that keep colliding step aside for a random moment, longer each time, so that
        // one of them wins the next round; a busy burst from several replicas still ends in a
        // decision for each write rather than in a 503.
        const ATTEMPTS: u32 = 20;
        let mut clock = PhaseClock::start();
        let (write, history) = match self.understand(asked).await {
            Ok(understood) => understood,
            Err(ev) => return (ev, None),
        };
        clock.lap("understand");
        for attempt in 0..ATTEMPTS {
            if let Ok(done) = self.evaluate_once(asked, &write, &history, clock.clone()).await {
                return done;
            }
            tokio::time::sleep(step_aside(attempt)).await;
        }
        let e = LedgerUnavailable(format!("the other replicas admitted writes during {ATTEMPTS} attempts at this decision"));
        (Self::ledger_unavailable(asked.method, asked.path, e), None)
    }

    /// The write a request asks for, with what it needs from Marathon fetched (outside the
    /// decision lock: a slow answer holds back no other decision). `Err`: what to do instead of
    /// deciding.
    async fn understand(&self, asked: Asked<'_>) -> Result<(Write, FetchedHistory), Evaluation> {
        let Some(flavour) = self.model.snapshot().await.map(|s| s.flavour) else {
            return Err(self.not_synced(asked));
        };
        let mut write = match parse_write(asked.method, asked.path, asked.query, asked.body, flavour) {
            Ok(Some(w)) if !w.change.is_dry_run() => w,
            Ok(_) => return Err(Evaluation::NotAWrite),
            Err(e) => return Err(Evaluation::MarathonAnswers(e)),
        };
        let apps = apps_carried(&write);
        if apps > self.config.max_batch_apps {
            return Err(Evaluation::TooManyApps { apps, limit: self.config.max_batch_apps });
        }
        let unavailable = |e: String| Evaluation::NotSynced {
            reason: format!("Marathon could not be asked for what this write needs ({e})"),
            is_delete: false,
        };
        let reaches_back = !write.needs().is_empty();
        let history = self.missing.fill(&mut write, flavour).await.map_err(|e| unavailable(e.0))?;
        if reaches_back {
            // A rollback or a revert is decided against Marathon's present, which the versions it
            // names are compared with: the model may not show yet what another client or replica
            // has just written (a rollback to a large version would look like no change).
            self.model.sync_once().await.map_err(|e| unavailable(format!("{e:#}")))?;
        }
        Ok((write, history))
    }

    fn not_synced(&self, asked: Asked<'_>) -> Evaluation {
        // Deletions only shrink: the endpoint table knows them without a model.
        let is_delete = marathon_model::ops::endpoints::match_endpoint(asked.method, asked.path).is_some_and(|m| m.deletes);
        let reason = self.model.not_ready_reason().unwrap_or_else(|| "admission model not synced".into());
        Evaluation::NotSynced { reason, is_delete }
    }

    /// One attempt; `Err` when the shared ledger changed under it.
    async fn evaluate_once(&self, asked: Asked<'_>, write: &Write, history: &FetchedHistory, mut clock: PhaseClock) -> Result<(Evaluation, Option<u64>), Conflict> {
        let Asked { method, path, query, body, dry_run, client } = asked;
        let Some(snap) = self.model.snapshot().await else {
            return Ok((self.not_synced(asked), None));
        };
        let w = ToWorkOut { asked, write, history, now: stamp_now(snap.store.layout) };
        let placed = match self.take_place(w, snap, &mut clock).await {
            Ok(placed) => placed,
            Err(ev) => return Ok((ev, None)),
        };
        let Placed { _order, snap, mut ledger, pending, on, worked } = placed;
        let Worked { base, target, affected, ids, policy, sizes, store: _ } = *worked;
        let mode = policy.mode;
        let limit = snap.store.limit_bytes();

        let mut decision = admission::decide(&policy, &sizes.current, &sizes.predicted, sizes.bound.as_ref());
        let reject_at = policy.reject_at_with(limit, sizes.bound.as_ref());
        let margin = policy.margin.describe(sizes.bound.as_ref());
        let over = sizes.predicted.binding_bytes >= reject_at;
        let mut reason = ReasonClass::of_size_decision(&decision, mode, over);
        let hc_target = self.further_checks(mode, self.model.prepared().as_deref(), &base, &target, &mut decision, &mut reason);
        // Per-group quotas: may only make the decision stricter.
        let quota = self.quotas.check(mode, &snap.store, &base, &target, &ids, client, &mut decision);
        if let Some(q) = &quota {
            reason = reason.after_quota(q.rejects, q.outcome.verdict);
        }
        clock.lap("checks");

        let mut ticket = None;
        if !dry_run && decision.admitted() {
            let id = match ledger.reserve(Reservation::new(method, path, query, body), write.clone()).await {
                Ok(id) => id,
                Err(ReserveError::Conflict) => return Err(Conflict),
                Err(ReserveError::Unavailable(e)) => return Ok((Self::ledger_unavailable(method, path, e), None)),
            };
            self.metrics.ledger_entries.set(self.ledger.len() as i64);
            let ids = pending.iter().map(|(id, _)| *id).chain([id]).collect();
            self.bases.stamp(id, w.now);
            self.bases.keep(&on, ids, target.clone());
            ticket = Some(id);
            clock.lap("reserve");
        }
        let decided = Decided {
            base,
            target,
            sizes,
            decision,
            reason,
            reject_at,
            margin,
            affected,
            store: snap.store.clone(),
            hc_target,
            quota,
            degraded: ledger.degraded().map(str::to_owned),
            phases: clock,
        };
        Ok((Evaluation::Decided(Box::new(decided)), ticket))
    }

    /// The write worked out, and its place in the decision order (none for a dry run: it
    /// reserves nothing, so it runs beside the real decisions instead of holding them back); `Err`:
    /// what the decision answers instead.
    ///
    /// A real write is worked out first, outside the order (see `work_out`); when its base moved
    /// meanwhile, it is worked out once more outside (the base seldom moves twice in a row), and
    /// only then in the order.
    async fn take_place(&self, w: ToWorkOut<'_>, mut seen: Snapshot, clock: &mut PhaseClock) -> Result<Placed<'_>, Evaluation> {
        let Asked { method, path, dry_run, .. } = w.asked;
        let mut passes_ahead = if dry_run { 0 } else { AHEAD_PASSES };
        loop {
            let mark = clock.mark();
            let ahead = match passes_ahead {
                0 => None,
                _ => {
                    let ahead = self.work_out_ahead(w, &seen).await;
                    clock.lap("ahead");
                    ahead
                }
            };
            let order = match dry_run {
                true => None,
                false => Some(self.order.lock().await),
            };
            let snap = self.model.snapshot().await.ok_or_else(|| self.not_synced(w.asked))?;
            clock.lap("order");
            let ledger = self.ledger.begin(self.pending_query(&snap)).await.map_err(|e| Self::ledger_unavailable(method, path, e))?;
            let pending = ledger.pending().to_vec();
            self.metrics.ledger_entries.set(pending.len() as i64);
            clock.lap("ledger");
            let on = ModelRoot { root: snap.root.clone(), generation: snap.generation };
            let base = self.base_for(&on, &pending, &w.now, snap.flavour).await;
            clock.lap("ledger_writes");
            let worked = match ahead {
                Some(done) if done.holds_for(&base, &snap.store) => {
                    self.metrics.worked_ahead("stood");
                    done
                }
                Some(_) if passes_ahead > 1 => {
                    // Out of the order again, as if this pass had not been: one phase, `moved`.
                    drop(ledger);
                    drop(order);
                    passes_ahead -= 1;
                    clock.fold_since(mark, "moved");
                    seen = snap;
                    continue;
                }
                ahead => {
                    if !dry_run {
                        self.metrics.worked_ahead(if ahead.is_some() { "redone" } else { "none" });
                    }
                    self.work_out(w, base, &snap, clock).await?
                }
            };
            return Ok(Placed { _order: order, snap, ledger, pending, on, worked });
        }
    }

    /// What a decision reads of the ledger against `snap`.
    fn pending_query(&self, snap: &Snapshot) -> PendingQuery {
        pending_query(snap.fetch_started, snap.flavour, self.config.ledger_timeout)
    }

    /// `on` with the ledger's `pending` writes applied (see [`LedgerBases`]): as work of its own
    /// ([`work_in_place`]) when that is more than one write.
    async fn base_for(&self, on: &ModelRoot, pending: &[(u64, Write)], now: &Timestamp, flavour: Flavour) -> Arc<Group> {
        if pending.is_empty() {
            return on.root.clone();
        }
        let writes: Vec<Write> = pending.iter().map(|(_, w)| w.clone()).collect();
        let kept = self.missing.kept_for(&writes).await;
        let apply = move |from: &Group, w: &Write, stamp: Timestamp| apply_assuming_accepted(from, w, stamp, flavour, &kept).ok().map(|o| o.root);
        if self.bases.to_apply(on, pending) <= 1 {
            return self.bases.base_for(on, pending, now, apply).0;
        }
        let (bases, on, pending, now) = (self.bases.clone(), on.clone(), pending.to_vec(), now.clone());
        let fallback = on.root.clone();
        work_in_place(move || bases.base_for(&on, &pending, &now, apply).0).await.unwrap_or(fallback)
    }

    /// Each sync builds the base of its new root with the writes this process's ledger holds
    /// before it installs the root: during a burst, when nearly every decision meets a new root,
    /// a decision then applies its own write and what was admitted since, not the whole ledger.
    pub fn build_bases_before_install(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        self.model.before_install(Arc::new(move |new: &NewRoot| {
            if let Some(admission) = me.upgrade() {
                admission.build_base(new);
            }
        }));
    }

    /// Each new warm state measures the base kept for its root before decisions use it: a
    /// state is prepared from a model root, so the writes the ledger holds on that root are what
    /// every decision on it composes, and measured here they are not measured by the first
    /// decision. A root without a kept base has nothing pending to measure.
    pub fn warm_up_prepared_states(self: &Arc<Self>) {
        let bases = self.bases.clone();
        self.model.after_prepare(Arc::new(move |p: &Prepared| {
            if let Some(base) = bases.kept_on(&p.root) {
                p.warm_up(&base);
            }
        }));
    }

    /// The base of `new`, when the ledger's writes are known here and need nothing fetched.
    fn build_base(&self, new: &NewRoot) {
        let query = pending_query(new.fetch_started, new.flavour, self.config.ledger_timeout);
        let Some(pending) = self.ledger.pending_known(query) else { return };
        if pending.is_empty() || pending.iter().any(|(_, w)| !w.needs().is_empty()) {
            return;
        }
        let (now, flavour, nothing) = (stamp_now(new.layout), new.flavour, FetchedHistory::default());
        let apply = |from: &Group, w: &Write, stamp: Timestamp| apply_assuming_accepted(from, w, stamp, flavour, &nothing).ok().map(|o| o.root);
        self.bases.base_for(&ModelRoot { root: new.root.clone(), generation: new.generation }, &pending, &now, apply);
    }

    /// The ledger could not take part: decided as when the model is not synced (the failure
    /// policy; deletions pass).
    fn ledger_unavailable(method: &str, path: &str, e: LedgerUnavailable) -> Evaluation {
        let is_delete = marathon_model::ops::endpoints::match_endpoint(method, path).is_some_and(|m| m.deletes);
        Evaluation::NotSynced { reason: format!("the shared ledger is unavailable ({e})"), is_delete }
    }

    /// Checks after the size decision; each may only make the decision stricter. Today: the second
    /// wall (Marathon-side health checks); quotas come after it. Returns the
    /// target's health-check count.
    fn further_checks(
        &self,
        mode: Mode,
        prepared: Option<&Prepared>,
        base: &Group,
        target: &Group,
        decision: &mut Decision,
        reason: &mut ReasonClass,
    ) -> u64 {
        // Counted from the prepared state's count where there is one (what the roots do not share
        // with it), else over every app; the base only when the target is over the wall (the
        // base's count only matters then).
        let count = |root: &Group| match prepared {
            Some(p) => p.marathon_health_checks(root),
            None => root.marathon_health_checks(),
        };
        let target_count = count(target);
        let threshold = self.config.health_check_threshold;
        let base_count = if threshold > 0 && target_count > threshold { count(base) } else { 0 };
        let counts = HealthCheckCounts { base: base_count, target: target_count };
        fold_health_check_wall(decision, reason, mode, threshold, counts);
        counts.target
    }

    /// Audit line and metrics for one evaluation.
    #[allow(clippy::too_many_arguments)]
    fn record(&self, ctx_client: String, user: Option<String>, method: &str, path: &str, ev: &Evaluation, started: Instant, dry_run: bool) {
        let elapsed = started.elapsed();
        let (outcome, reason, reasons, predicted, current, limit, estimator) = match ev {
            Evaluation::NotSynced { reason, is_delete } => {
                let forwarded = self.config.failure_policy == FailurePolicy::Open || *is_delete;
                let outcome = if forwarded { "unchecked" } else { "reject" };
                (outcome, ReasonClass::NotSynced, vec![reason.clone()], None, None, None, None)
            }
            Evaluation::TooManyApps { .. } => ("reject", ReasonClass::BatchTooLarge, vec![too_many_apps(ev)], None, None, None, None),
            Evaluation::Decided(d) => {
                let p = &d.sizes.predicted;
                self.metrics.predicted_bytes.set(p.binding_bytes as i64);
                (
                    verdict_str(d.decision.decision),
                    d.reason,
                    d.decision.reasons.clone(),
                    Some(p.binding_bytes),
                    Some(d.sizes.current.binding_bytes),
                    Some(p.limit_bytes),
                    Some(d.sizes.path),
                )
            }
            // Not decided by admission: no audit line, no metric.
            _ => return,
        };
        if !dry_run {
            self.metrics.decision(outcome, reason);
            let path_label = estimator.unwrap_or("none");
            self.metrics.decision_seconds.get_or_create(&PathLabels { path: path_label }).observe(elapsed.as_secs_f64());
        }
        let rec = AuditRecord {
            time: Timestamp::now().to_joda(),
            client: ctx_client,
            user,
            method: method.to_string(),
            path: path.to_string(),
            decision: outcome,
            reason: reason.as_str(),
            reasons,
            predicted_bytes: predicted,
            current_bytes: current,
            limit_bytes: limit,
            estimator,
            error_bound_bytes: match ev {
                Evaluation::Decided(d) => d.sizes.bound.as_ref().map(|b| b.bytes),
                _ => None,
            },
            decision_ms: elapsed.as_secs_f64() * 1000.0,
            phases_ms: match ev {
                Evaluation::Decided(d) => Some(d.phases.clone()),
                _ => None,
            },
            dry_run,
        };
        self.quotas.decisions.push(&rec);
        self.audit.record(&rec);
        let (ids, quota) = match ev {
            Evaluation::Decided(d) => (&d.affected[..], d.quota.as_ref().map(|q| &q.outcome)),
            _ => (&[][..], None),
        };
        self.notifier.decided(&rec, ids, quota, &self.quotas.set());
    }

    async fn decide(&self, ctx: &mut RequestCtx, req: &WriteRequest<'_>) -> Flow {
        let started = Instant::now();
        let method = req.method.as_str().to_ascii_uppercase();
        let path = req.path();
        let shown_path = match req.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let client = self.client_identity(Some(ctx.client_addr.ip()), req.headers).await;
        let (ev, ticket) = self.evaluate(Asked { method: &method, path, query: req.query(), body: req.body, dry_run: false, client: &client }).await;
        if let Some(id) = ticket {
            ctx.extensions.insert(Ticket(id));
        }
        self.record(ctx.client_addr.to_string(), caller_identity(req.headers), &method, &shown_path, &ev, started, false);
        match ev {
            Evaluation::NotSynced { reason, is_delete } => {
                if self.config.failure_policy == FailurePolicy::Open || is_delete {
                    tracing::warn!(%reason, "admission: forwarding a write unchecked");
                    return Flow::Continue;
                }
                Flow::Respond(Self::not_synced_response(&reason))
            }
            Evaluation::NotAWrite | Evaluation::MarathonAnswers(_) | Evaluation::NoDeployment => Flow::Continue,
            too @ Evaluation::TooManyApps { .. } => Flow::Respond(proxy::marathon_error(StatusCode::PAYLOAD_TOO_LARGE, too_many_apps(&too))),
            Evaluation::Decided(d) => {
                if let Some(why) = &d.degraded {
                    ctx.add_warning(format!(
                        "marathon-admission: the shared ledger is unavailable ({why}); decided without the other replicas' pending writes"
                    ));
                }
                let predicted = &d.sizes.predicted;
                tracing::info!(
                    id = ctx.id,
                    method = %method,
                    path = %shown_path,
                    decision = ?d.decision.decision,
                    predicted = predicted.binding_bytes,
                    current = d.sizes.current.binding_bytes,
                    limit = predicted.limit_bytes,
                    estimator = d.sizes.path,
                    "admission decision"
                );
                match d.decision.decision {
                    Verdict::Reject => match d.quota.as_ref().filter(|q| q.rejects) {
                        Some(q) => Flow::Respond(q.response(&method, &shown_path)),
                        None => Flow::Respond(self.rejection(&method, &shown_path, &d).await),
                    },
                    Verdict::Warn => {
                        let pct = 100.0 * predicted.binding_bytes as f64 / predicted.limit_bytes.max(1) as f64;
                        ctx.add_warning(format!(
                            "marathon-admission: {} would be {} of {} bytes ({pct:.1}%); {}",
                            predicted.binding_node,
                            predicted.binding_bytes,
                            predicted.limit_bytes,
                            d.decision.reasons.join("; ")
                        ));
                        Flow::Continue
                    }
                    Verdict::Allow => Flow::Continue,
                }
            }
        }
    }

    async fn rejection(&self, method: &str, shown_path: &str, d: &Decided) -> Response<Bytes> {
        let over = d.sizes.predicted.binding_bytes >= d.reject_at;
        let way_out = match over {
            true => super::way_out::for_rejection(&self.model, d.base.clone(), &d.store, &d.sizes.predicted, d.reject_at).await,
            false => None,
        };
        // The way out measured the state's next deployment already, when it ran.
        let before = way_out.as_ref().map(|p| p.binding_bytes);
        let (base, target, store, predicted) = (d.base.clone(), d.target.clone(), d.store.clone(), d.sizes.predicted.clone());
        let breakdown = Breakdown::measure(base, target, store, predicted, before).await;
        let rejection = Rejection {
            method,
            path: shown_path,
            current: &d.sizes.current,
            predicted: &d.sizes.predicted,
            reject_at: d.reject_at,
            margin: &d.margin,
            breakdown: &breakdown,
        };
        rejection.response_with_way_out(way_out.as_ref())
    }

    /// `/admission/...` on the proxy port.
    async fn own_endpoint(&self, ctx: &RequestCtx, req: &WriteRequest<'_>) -> Response<Bytes> {
        // The usage API and the budget page.
        if let Some(resp) = super::usage_api::route(&self.model, &self.quotas, req).await {
            return resp;
        }
        let segs = marathon_model::ops::request_path::normalized_segments(req.path());
        let is_check = segs.iter().map(String::as_str).eq(["admission", "v1", "check"]);
        if !is_check {
            return proxy::marathon_error(
                StatusCode::NOT_FOUND,
                "marathon-admission: unknown endpoint; POST /admission/v1/check?method=M&path=P with the write's body \
                 evaluates a write without sending it"
                    .to_string(),
            );
        }
        if *req.method != http::Method::POST {
            return proxy::marathon_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "marathon-admission: POST /admission/v1/check?method=M&path=P with the write's body".to_string(),
            );
        }
        let q = marathon_model::ops::Query::parse(req.query());
        let (Some(method), Some(full_path)) = (q.get("method"), q.get("path")) else {
            return proxy::marathon_error(
                StatusCode::BAD_REQUEST,
                "marathon-admission: give ?method=M&path=P (P may carry its own query, percent-encoded)".to_string(),
            );
        };
        let _turn = match self.dry_runs.enter(ctx.client_addr.ip()).await {
            Ok(turn) => turn,
            Err(slow_down) => return slow_down,
        };
        let started = Instant::now();
        let client = self.client_identity(Some(ctx.client_addr.ip()), req.headers).await;
        let (ev, json) = self.dry_run(method, full_path, req.body, &client).await;
        self.record(ctx.client_addr.to_string(), caller_identity(req.headers), method, full_path, &ev, started, true);
        match (ev, json) {
            (Evaluation::NotSynced { reason, .. }, _) => Self::not_synced_response(&reason),
            (_, json) => {
                let mut resp = Response::new(Bytes::from(json.to_string()));
                resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }
        }
    }

    /// Judges `method full_path` (the path with its query, as a client would send it) with `body`
    /// without forwarding it and without a ledger entry: the evaluation and the decision JSON of
    /// `POST /admission/v1/check` and of `marathon-admission check --json` (one shape, made here).
    /// No client identity is established: exemptions keyed on a client do not apply.
    pub async fn check(&self, method: &str, full_path: &str, body: &[u8]) -> serde_json::Value {
        self.dry_run(method, full_path, body, &ClientIdentity::default()).await.1
    }

    /// [`Admission::check`], and the root group the write leaves when admitted: what the next
    /// write of a run is judged on (`check` over several definition files).
    pub async fn check_leaving(&self, method: &str, full_path: &str, body: &[u8]) -> (serde_json::Value, Option<Arc<Group>>) {
        let (ev, json) = self.dry_run(method, full_path, body, &ClientIdentity::default()).await;
        let target = match ev {
            Evaluation::Decided(d) if d.decision.admitted() => Some(d.target),
            _ => None,
        };
        (json, target)
    }

    async fn dry_run(&self, method: &str, full_path: &str, body: &[u8], client: &ClientIdentity) -> (Evaluation, serde_json::Value) {
        let method = method.to_ascii_uppercase();
        let (path, query) = match full_path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (full_path, None),
        };
        let (ev, _) = self.evaluate(Asked { method: &method, path, query, body, dry_run: true, client }).await;
        let json = self.decision_json(&method, full_path, &ev).await;
        (ev, json)
    }

    async fn decision_json(&self, method: &str, full_path: &str, ev: &Evaluation) -> serde_json::Value {
        let current = self.model.snapshot().await;
        let layout = current.as_ref().map(|s| s.store.layout.as_str()).unwrap_or("unknown");
        let limit = current.as_ref().map(|s| s.store.limit_bytes());
        let mut out = json!({
            "write": format!("{method} {full_path}"),
            "layout": layout,
            "limit_bytes": limit,
            "reject_at_bytes": limit.map(|l| self.config.policy.reject_at(l)),
        });
        let (verdict, reasons) = match ev {
            Evaluation::NotSynced { reason, .. } => ("unknown", vec![reason.clone()]),
            Evaluation::TooManyApps { .. } => ("reject", vec![too_many_apps(ev)]),
            Evaluation::NotAWrite | Evaluation::NoDeployment | Evaluation::MarathonAnswers(_) => {
                let sizes = current.as_ref().map(|s| self.current_sizes(s));
                out["current_root_bytes"] = json!(sizes.as_ref().map(|e| e.root_bytes));
                out["estimated_root_bytes"] = out["current_root_bytes"].clone();
                out["estimated_plan_bytes"] = json!(null);
                let reason = match ev {
                    Evaluation::MarathonAnswers(e) => {
                        out["marathon_answer"] = json!({"status": e.status(), "body": e.body()});
                        format!("Marathon answers this write itself with {}: {}", e.status(), e.body())
                    }
                    Evaluation::NoDeployment => "the write creates no deployment and persists nothing large".into(),
                    _ => "not a write that changes persisted state".into(),
                };
                ("allow", vec![reason])
            }
            Evaluation::Decided(d) => {
                let p = &d.sizes.predicted;
                out["current_root_bytes"] = json!(d.sizes.current.root_bytes);
                out["estimated_root_bytes"] = json!(p.root_bytes);
                out["estimated_plan_bytes"] = json!(p.plan_bytes);
                out["binding_node"] = json!(p.binding_node);
                out["binding_bytes"] = json!(p.binding_bytes);
                out["marathon_accepts"] = json!(p.accepted);
                out["affected"] = json!(d.affected.iter().map(|p| p.to_string()).collect::<Vec<_>>());
                out["estimator"] = json!(d.sizes.path);
                out["marathon_health_checks"] = json!(d.hc_target);
                out["quota"] = json!(d.quota.as_ref().map(|q| &q.outcome));
                out["limit_bytes"] = json!(p.limit_bytes);
                out["reject_at_bytes"] = json!(d.reject_at);
                out["error_bound_bytes"] = json!(d.sizes.bound.as_ref().map(|b| b.bytes));
                out["error_bound"] = json!(d.sizes.bound);
                (verdict_str(d.decision.decision), d.decision.reasons.clone())
            }
        };
        out["decision"] = json!(verdict);
        out["reasons"] = json!(reasons);
        out["pending_writes"] = json!(self.ledger_len());
        out
    }

    /// The state's sizes now (from the warm state when it fits, else exact).
    fn current_sizes(&self, snap: &Snapshot) -> znode_size::Estimate {
        if let Some(p) = self.model.prepared().filter(|p| Arc::ptr_eq(&p.root, &snap.root) && p.store == snap.store) {
            return p.state().clone();
        }
        znode_size::Estimator::new(snap.store.clone()).state(&snap.root)
    }

    /// Settles the write's reservation, once (the phase that settles it takes its ticket), as
    /// Marathon answered it (`None`: it refused it).
    fn settle(&self, ticket: Option<Ticket>, answered: Option<Answered>) {
        let Some(Ticket(id)) = ticket else { return };
        match answered {
            Some(answered) => self.ledger.mark_answered(id, answered),
            None => self.ledger.release(id),
        }
        self.metrics.ledger_entries.set(self.ledger.len() as i64);
    }
}

#[async_trait]
impl RequestPhases for Admission {
    fn route(&self, method: &http::Method, raw_path: &str) -> proxy::Route {
        crate::classify_request::classify(method, raw_path)
    }

    async fn request_filter(&self, ctx: &mut RequestCtx, req: &WriteRequest<'_>) -> Flow {
        if ctx.route.class == RouteClass::Admission {
            if let Some(callers) = &self.callers {
                if let Err(refusal) = callers.admit(req.headers).await {
                    return Flow::Respond(refusal);
                }
            }
            return Flow::Respond(self.own_endpoint(ctx, req).await);
        }
        self.decide(ctx, req).await
    }

    fn response_filter(&self, ctx: &mut RequestCtx, resp: &http::response::Parts) {
        self.settle(ctx.extensions.remove::<Ticket>(), answered_as(resp.status));
    }

    async fn upstream_failed(&self, ctx: &mut RequestCtx, _failure: &UpstreamFailure) {
        // Unknown whether Marathon applied it, or will.
        self.settle(ctx.extensions.remove::<Ticket>(), Some(Answered::Unknown));
    }

    fn logging(&self, ctx: &RequestCtx, _summary: &RequestSummary) {
        // Still unanswered (client gone mid-flight): Marathon may apply it, now or later.
        self.settle(ctx.extensions.get::<Ticket>().copied(), Some(Answered::Unknown));
    }

    fn readiness(&self) -> Result<(), String> {
        if let Some(r) = self.model.not_ready_reason() {
            return Err(r);
        }
        self.ledger.health()
    }

    fn readiness_detail(&self) -> serde_json::Value {
        let zk = self.model.zk_read();
        if zk.state == "off" {
            return serde_json::Value::Null;
        }
        serde_json::json!({ "zookeeper_read": zk })
    }

    fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
        self.quotas.register_metrics(registry);
        self.ledger.register_metrics(registry);
        self.notifier.register_metrics(registry);
    }
}

#[cfg(test)]
mod tests {
    use marathon_model::ops::Flavour;

    use super::*;

    /// Marathon's answer decides a reservation's fate: taken, unknown (its 503 "Futures timed
    /// out" and every other 5xx), or refused (3xx, 4xx).
    #[test]
    fn marathons_answer_keeps_a_write_taken_or_unknown_and_releases_a_refused_one() {
        for (status, expected) in [
            (200, Some(Answered::Applied)),
            (201, Some(Answered::Applied)),
            (202, Some(Answered::Applied)),
            (500, Some(Answered::Unknown)),
            (502, Some(Answered::Unknown)),
            (503, Some(Answered::Unknown)),
            (504, Some(Answered::Unknown)),
            (307, None),
            (400, None),
            (404, None),
            (409, None),
            (422, None),
        ] {
            assert_eq!(answered_as(http::StatusCode::from_u16(status).unwrap()), expected, "{status}");
        }
    }

    /// A model over the admission threshold (20,000-byte limit), installed directly.
    pub(super) fn over_limit_admission(rt: &tokio::runtime::Runtime) -> Admission {
        let apps: Vec<serde_json::Value> = (0..16)
            .map(|i| {
                let env: serde_json::Map<String, serde_json::Value> =
                    (0..12).map(|k| (format!("VAR_{k:03}"), serde_json::json!("some-configuration-value-0123456789"))).collect();
                serde_json::json!({"id": format!("/big/app-{i:02}"), "cmd": "sleep 1", "env": env})
            })
            .collect();
        let seed = serde_json::json!({"id": "/", "apps": [], "groups": [{"id": "/big", "apps": apps, "groups": []}]});
        let root = crate::live_model::parse_root(seed.to_string().as_bytes(), Flavour::V13).unwrap();
        admission_on(rt, root, 20_000)
    }

    /// `root` installed directly as Marathon 1.3.14's, with a `limit`-byte node size limit.
    pub(super) fn admission_on(rt: &tokio::runtime::Runtime, root: Group, limit: u64) -> Admission {
        rt.block_on(async {
            let table: toml::Table = format!("zk_max_node_size = {limit}\naudit_log = \"off\"\nevents = false").parse().unwrap();
            let config = AdmitConfig::from_table(Some(&table)).unwrap();
            let marathon = proxy::MarathonClient::for_marathons(
                vec!["http://127.0.0.1:9".parse().unwrap()],
                &proxy::config::UpstreamConfig::default(),
            )
            .unwrap();
            let model = LiveModel::new(marathon, config.clone());
            model.install(root, "1.3.14").await;
            Admission::new(config, model, Arc::default())
        })
    }

    async fn filter(a: &Admission, method: &str, path: &str, body: &[u8]) -> Flow {
        let method: http::Method = method.parse().unwrap();
        let uri: http::Uri = path.parse().unwrap();
        let route = crate::classify_request::classify(&method, uri.path());
        let mut ctx = RequestCtx::new(1, ([127, 0, 0, 1], 1).into(), false, method.clone(), route);
        let headers = http::HeaderMap::new();
        let body = Bytes::copy_from_slice(body);
        let req = WriteRequest { method: &method, uri: &uri, headers: &headers, body: &body };
        a.request_filter(&mut ctx, &req).await
    }

    #[test]
    fn over_limit_model_rejects_growth_and_forwards_malformed_bodies() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let a = over_limit_admission(&rt);
        rt.block_on(async {
            let ok = filter(&a, "POST", "/v2/apps", br#"{"id":"/small","cmd":"sleep 1"}"#).await;
            let Flow::Respond(r) = ok else { panic!("growth over the limit was not rejected") };
            assert_eq!(r.status(), 422);
            assert!(matches!(filter(&a, "POST", "/v2/apps", b"{not json").await, Flow::Continue));
            assert!(matches!(filter(&a, "DELETE", "/v2/apps/big/app-00", b"").await, Flow::Continue));
            // The dry run answers the same decision without a ledger entry.
            let Flow::Respond(r) = filter(&a, "POST", "/admission/v1/check?method=POST&path=/v2/apps", br#"{"id":"/small","cmd":"sleep 1"}"#).await
            else {
                panic!("dry run forwarded")
            };
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(v["decision"], "reject");
            for k in ["estimated_plan_bytes", "estimated_root_bytes", "current_root_bytes", "limit_bytes", "layout", "reasons"] {
                assert!(v.get(k).is_some(), "{k} missing in {v}");
            }
            // Only the admitted DELETE is in the ledger: not the rejection, not the dry run.
            assert_eq!(a.ledger_len(), 1);
        });
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn methods() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec!["POST", "PUT", "PATCH", "DELETE"])
        }

        fn paths() -> impl Strategy<Value = String> {
            let base = prop::sample::select(vec![
                "/v2/apps", "/v2/apps/big/app-01", "/v2/apps/big/app-01/restart", "/v2/apps/x/tasks/t1", "/v2/groups",
                "/v2/groups/big", "/v2/groups/new", "/v2/pods", "/v2/pods/p", "/v2/deployments/abc", "/v2/tasks/delete",
                "/v2/apps//big/./app-02", "/v2/%61pps/z", "/v2/groups/big/versions", "/admission/v1/check",
            ]);
            let query = prop::sample::select(vec![
                "", "?force=true", "?partialUpdate=false", "?dryRun=true", "?scale=true", "?method=PUT&path=/v2/apps/a",
                "?method=DELETE&path=/v2/groups/big", "?force=yes&force=no",
            ]);
            let seg = "[a-z0-9.:_-]{0,8}";
            (base, prop::option::of(seg), query).prop_map(|(b, s, q)| match s {
                Some(s) => format!("{b}/{s}{q}"),
                None => format!("{b}{q}"),
            })
        }

        fn bodies() -> impl Strategy<Value = Vec<u8>> {
            let valid = prop::sample::select(vec![
                r#"{"id":"/n","cmd":"sleep 1"}"#,
                r#"{"instances":3}"#,
                r#"{"id":"/big","apps":[{"id":"a","cmd":"x"}]}"#,
                r#"[{"id":"/a","instances":2}]"#,
                r#"{"id":"/g","groups":[{"id":"h"}],"dependencies":["/x"]}"#,
                r#"{"version":"2017-01-01T00:00:00.000Z"}"#,
                r#"{"scaleBy":2}"#,
                r#"{"ids":["big_app-01.1"]}"#,
                r#"{"id":"/p","containers":[{"name":"c","resources":{"cpus":1,"mem":32}}]}"#,
            ])
            .prop_map(|s| s.as_bytes().to_vec());
            let mutated = (valid.clone(), any::<usize>(), any::<u8>()).prop_map(|(mut b, i, x)| {
                if !b.is_empty() {
                    let n = b.len();
                    b[i % n] = x;
                }
                b
            });
            prop_oneof![valid, mutated, prop::collection::vec(any::<u8>(), 0..64), "\\PC{0,64}".prop_map(String::into_bytes)]
        }

        fn needs_body(method: &str, path: &str) -> bool {
            let p = path.split('?').next().unwrap_or("");
            matches!(method, "POST" | "PUT" | "PATCH")
                && (p == "/v2/apps" || p == "/v2/groups" || p == "/v2/pods" || p == "/v2/apps/big/app-01" || p == "/v2/groups/big")
        }

        /// Spellings of `POST /v2/apps` that Marathon routes to the same write.
        fn create_app_paths() -> impl Strategy<Value = String> {
            let path = prop::sample::select(vec!["/v2/apps", "/v2/apps/", "/v2;v=1/apps", "/v2/apps;jsessionid=0123", "//some-host/v2/apps"]);
            let query = prop::sample::select(vec!["", "?force=true", "?pretty=true&x=%2F", "?dryRun=false", "?force=false&embed=apps.tasks"]);
            (path, query).prop_map(|(p, q)| format!("{p}{q}"))
        }

        /// A new app of 1 to 40 env variables (every one grows the root), its keys in any order,
        /// pretty-printed or not.
        fn new_app_bodies() -> impl Strategy<Value = Vec<u8>> {
            let id = prop::sample::select(vec!["/small", "/big/app-new", "/new/deep/app", "relative-id"]);
            (id, 1..40usize, any::<bool>(), any::<bool>()).prop_map(|(id, vars, env_first, pretty)| {
                let env: serde_json::Map<String, serde_json::Value> = (0..vars).map(|k| (format!("NEW_{k}"), serde_json::json!("a-value"))).collect();
                let mut app = serde_json::Map::new();
                if env_first {
                    app.insert("env".into(), env.clone().into());
                }
                app.insert("id".into(), id.into());
                app.insert("cmd".into(), "sleep 1".into());
                app.insert("env".into(), env.into());
                let app = serde_json::Value::Object(app);
                match pretty {
                    true => serde_json::to_vec_pretty(&app).unwrap(),
                    false => serde_json::to_vec(&app).unwrap(),
                }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

            /// On a root over the limit, a new app is refused with the proxy's 422, in every
            /// spelling and formatting of the write; nothing of it enters the ledger.
            #[test]
            fn a_new_app_on_a_root_over_the_limit_is_refused_however_it_is_spelled(path in create_app_paths(), body in new_app_bodies()) {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let a = over_limit_admission(&rt);
                let flow = rt.block_on(filter(&a, "POST", &path, &body));
                let Flow::Respond(r) = &flow else {
                    return Err(TestCaseError::fail(format!("POST {path} forwarded {}", String::from_utf8_lossy(&body))));
                };
                prop_assert_eq!(r.status().as_u16(), 422, "POST {}: {}", path, String::from_utf8_lossy(r.body()));
                let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
                prop_assert!(v["message"].as_str().is_some_and(|m| m.contains("marathon-admission")), "{}", v);
                prop_assert_eq!(a.ledger_len(), 0);
            }

            /// Never a panic; a body that is not JSON is Marathon's to answer.
            #[test]
            fn decision_path_never_panics_and_forwards_malformed_bodies(method in methods(), path in paths(), body in bodies()) {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let a = over_limit_admission(&rt);
                let flow = rt.block_on(filter(&a, method, &path, &body));
                if needs_body(method, &path) && serde_json::from_slice::<serde_json::Value>(&body).is_err() {
                    prop_assert!(matches!(flow, Flow::Continue), "{method} {path} {:?}: {flow:?}", String::from_utf8_lossy(&body));
                }
                if let Flow::Respond(r) = &flow {
                    prop_assert!(matches!(r.status().as_u16(), 200 | 400 | 404 | 405 | 422 | 503), "{}", r.status());
                    // 503 only when Marathon (unreachable here) had to be asked: a rollback or a revert.
                    if r.status() == 503 {
                        let needs = String::from_utf8_lossy(&body).contains("version") || path.starts_with("/v2/deployments/");
                        prop_assert!(needs, "{method} {path}: 503 for a write that needs nothing from Marathon");
                    }
                }
            }
        }
    }

    #[test]
    fn resource_ids_from_urls() {
        assert_eq!(url_resource_id("POST", "/v2/apps/dev/x/restart").as_deref(), Some("/dev/x"));
        assert_eq!(url_resource_id("PUT", "/v2/%61pps/dev%2Fx/").as_deref(), Some("/dev/x"));
        assert_eq!(url_resource_id("POST", "/v2/apps"), None);
        // Marathon reads this as a pod sub-resource; the wide net still names the pod path.
        assert_eq!(url_resource_id("DELETE", "/v2/pods/p::instances").as_deref(), Some("/p::instances"));
        assert_eq!(url_resource_id("DELETE", "/v2/deployments/1"), None);
    }
}

