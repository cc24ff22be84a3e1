//! The admission phase: decides every state-changing write against the live model plus the
//! in-flight ledger.
//!
//! - Decisions are serialized (one async mutex): no two interleave.
//! - A write that is admitted enters the ledger before it is forwarded; later decisions apply
//!   every ledger write on top of the model root, so concurrent writes cannot together exceed
//!   the budget. An entry leaves when Marathon answers non-2xx, on the first resync started after
//!   Marathon answered 2xx (the write is then in the model), or after `ledger_timeout_ms`.
//! - Bodies that do not parse, and writes Marathon itself refuses, are forwarded untouched:
//!   Marathon answers them.
//! - Not synced: `failure_policy = "closed"` answers 503 + `Retry-After: 5` (deletions still
//!   pass: they never grow the state), `"open"` forwards.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use admission::Verdict;
use async_trait::async_trait;
use http::{HeaderValue, StatusCode};
use marathon_model::ops::{apply, parse_write, Change, NoHistory, Write};
use marathon_model::{Group, Timestamp};
use znode_size::{Estimator, StoreConfig};

use super::config::{AdmitConfig, FailurePolicy};
use super::live_model::{LiveModel, Snapshot};
use super::rejection::{Breakdown, Rejection};
use crate::phases::{Flow, RequestCtx, RequestPhases, RequestSummary, UpstreamFailure, WriteRequest};

/// Carried in [`RequestCtx::extensions`] from `request_filter` to the later phases.
#[derive(Debug, Clone, Copy)]
struct Ticket(u64);

#[derive(Debug, Clone)]
struct Entry {
    write: Write,
    admitted_at: Instant,
    /// When Marathon answered 2xx (or the outcome became unknown).
    answered_at: Option<Instant>,
}

#[derive(Default)]
struct Ledger {
    entries: BTreeMap<u64, Entry>,
}

impl Ledger {
    /// Drops what the snapshot already contains and what timed out.
    fn prune(&mut self, snap: Option<&Snapshot>, config: &AdmitConfig) {
        self.entries.retain(|_, e| {
            if e.admitted_at.elapsed() > config.ledger_timeout {
                return false;
            }
            match (e.answered_at, snap) {
                (Some(t), Some(s)) => t >= s.fetch_started,
                _ => true,
            }
        });
    }
}

struct DecisionState {
    estimator: Option<(StoreConfig, Estimator)>,
}

pub struct Admission {
    config: AdmitConfig,
    model: Arc<LiveModel>,
    decisions: tokio::sync::Mutex<DecisionState>,
    ledger: Mutex<Ledger>,
    next_ticket: AtomicU64,
}

impl Admission {
    pub fn new(config: AdmitConfig, model: Arc<LiveModel>) -> Admission {
        Admission {
            config,
            model,
            decisions: tokio::sync::Mutex::new(DecisionState { estimator: None }),
            ledger: Mutex::new(Ledger::default()),
            next_ticket: AtomicU64::new(1),
        }
    }

    /// Number of writes admitted but not yet seen in the model.
    pub fn ledger_len(&self) -> usize {
        self.ledger.lock().unwrap().entries.len()
    }

    fn not_synced(&self, is_delete: bool) -> Flow {
        let reason = self.model.not_ready_reason().unwrap_or_else(|| "admission model not synced".into());
        if self.config.failure_policy == FailurePolicy::Open || is_delete {
            tracing::warn!(%reason, "admission: forwarding a write unchecked");
            return Flow::Continue;
        }
        let mut resp = crate::marathon_error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "marathon-admission cannot check this write right now: {reason}. The write was not sent to \
                 Marathon; retry in a few seconds."
            ),
        );
        resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
        Flow::Respond(resp)
    }

    async fn decide(&self, ctx: &mut RequestCtx, req: &WriteRequest<'_>) -> Flow {
        let method = req.method.as_str().to_ascii_uppercase();
        let path = req.path();
        let shown_path = match req.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let mut state = self.decisions.lock().await;
        let Some(snap) = self.model.snapshot().await else {
            // Without the flavour we parse with 1.4 semantics just to spot deletions.
            let is_delete = matches!(
                parse_write(&method, path, req.query(), req.body, marathon_model::ops::Flavour::V14),
                Ok(Some(Write { change: Change::DeleteApp { .. } | Change::DeleteGroup { .. } | Change::DeletePod { .. }, .. }))
            );
            return self.not_synced(is_delete);
        };
        let write = match parse_write(&method, path, req.query(), req.body, snap.flavour) {
            Ok(Some(w)) => w,
            // Not a state change, or a body Marathon answers itself: forward untouched.
            Ok(None) | Err(_) => return Flow::Continue,
        };
        let flavour = snap.flavour;
        let pending: Vec<Write> = {
            let mut ledger = self.ledger.lock().unwrap();
            ledger.prune(Some(&snap), &self.config);
            ledger.entries.values().map(|e| e.write.clone()).collect()
        };
        let now = Timestamp::now();
        let mut base: Group = (*snap.root).clone();
        for w in &pending {
            if let Ok(o) = apply(&base, w, now.clone(), flavour, &NoHistory) {
                base = o.root;
            }
        }
        let outcome = match apply(&base, &write, now, flavour, &NoHistory) {
            Ok(o) => o,
            Err(_) => return Flow::Continue, // Marathon refuses it itself.
        };
        if !outcome.deployment {
            return Flow::Continue;
        }
        let estimator = match &mut state.estimator {
            Some((cfg, est)) if *cfg == snap.store => est,
            slot => {
                *slot = Some((snap.store.clone(), Estimator::new(snap.store.clone())));
                &mut slot.as_mut().unwrap().1
            }
        };
        let current = estimator.state(&base);
        let predicted = estimator.deployment(&base, &outcome.root);
        let decision = admission::decide(&self.config.policy, &current, &predicted);
        let reject_at = self.config.policy.reject_at(predicted.limit_bytes);
        tracing::info!(
            id = ctx.id,
            method = %method,
            path = %shown_path,
            decision = ?decision.decision,
            predicted = predicted.binding_bytes,
            current = current.binding_bytes,
            limit = predicted.limit_bytes,
            pending = pending.len(),
            "admission decision"
        );
        match decision.decision {
            Verdict::Reject => {
                let encoded = estimator.encode(&outcome.root);
                let breakdown = Breakdown::of(&encoded, &outcome.root);
                let rejection = Rejection {
                    method: &method,
                    path: &shown_path,
                    current: &current,
                    predicted: &predicted,
                    reject_at,
                    breakdown: &breakdown,
                };
                Flow::Respond(rejection.response())
            }
            verdict => {
                if verdict == Verdict::Warn {
                    let pct = 100.0 * predicted.binding_bytes as f64 / predicted.limit_bytes.max(1) as f64;
                    ctx.add_warning(format!(
                        "marathon-admission: {} would be {} of {} bytes ({pct:.1}%); {}",
                        predicted.binding_node,
                        predicted.binding_bytes,
                        predicted.limit_bytes,
                        decision.reasons.first().map(String::as_str).unwrap_or("")
                    ));
                }
                let id = self.next_ticket.fetch_add(1, Ordering::Relaxed);
                self.ledger
                    .lock()
                    .unwrap()
                    .entries
                    .insert(id, Entry { write, admitted_at: Instant::now(), answered_at: None });
                ctx.extensions.insert(Ticket(id));
                Flow::Continue
            }
        }
    }

    fn settle(&self, ctx: &RequestCtx, keep: bool) {
        let Some(Ticket(id)) = ctx.extensions.get::<Ticket>().copied() else { return };
        let mut ledger = self.ledger.lock().unwrap();
        if keep {
            if let Some(e) = ledger.entries.get_mut(&id) {
                e.answered_at.get_or_insert_with(Instant::now);
            }
        } else {
            ledger.entries.remove(&id);
        }
    }
}

#[async_trait]
impl RequestPhases for Admission {
    async fn request_filter(&self, ctx: &mut RequestCtx, req: &WriteRequest<'_>) -> Flow {
        self.decide(ctx, req).await
    }

    async fn response_filter(&self, ctx: &mut RequestCtx, resp: &http::response::Parts) {
        // 2xx: stays until a resync shows it; anything else: Marathon did not take it.
        self.settle(ctx, resp.status.is_success());
    }

    async fn upstream_failed(&self, ctx: &mut RequestCtx, _failure: &UpstreamFailure) {
        // Unknown whether Marathon applied it: keep it until the next resync.
        self.settle(ctx, true);
    }

    fn logging(&self, ctx: &RequestCtx, _summary: &RequestSummary) {
        // Still unanswered (client gone mid-flight): treat as possibly applied.
        self.settle(ctx, true);
    }

    fn readiness(&self) -> Result<(), String> {
        match self.model.not_ready_reason() {
            None => Ok(()),
            Some(r) => Err(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use marathon_model::ops::{parse_write, Flavour};
    use marathon_model::Group;

    use super::*;

    fn entry(answered: Option<Instant>, admitted_at: Instant) -> Entry {
        let write = parse_write("DELETE", "/v2/apps/a", None, b"", Flavour::V13).unwrap().unwrap();
        Entry { write, admitted_at, answered_at: answered }
    }

    #[test]
    fn ledger_entries_leave_on_resync_after_answer_or_timeout() {
        let config = AdmitConfig { ledger_timeout: Duration::from_secs(30), ..AdmitConfig::default() };
        let t0 = Instant::now();
        let mut ledger = Ledger::default();
        ledger.entries.insert(1, entry(Some(t0), t0)); // answered before the sync started
        ledger.entries.insert(2, entry(None, t0)); // not answered yet
        let snap = Snapshot {
            root: Arc::new(Group::empty_root()),
            version: "1.3.14".into(),
            flavour: Flavour::V13,
            store: config.store_config("1.3.14"),
            fetch_started: t0 + Duration::from_millis(1),
            generation: 1,
        };
        ledger.entries.insert(3, entry(Some(snap.fetch_started + Duration::from_millis(1)), t0)); // answered after
        ledger.prune(Some(&snap), &config);
        assert_eq!(ledger.entries.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        let short = AdmitConfig { ledger_timeout: Duration::ZERO, ..config };
        std::thread::sleep(Duration::from_millis(2));
        ledger.prune(None, &short);
        assert!(ledger.entries.is_empty());
    }
}
