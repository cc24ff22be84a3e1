//! Notifications: every rejection, every warning from a webhook's threshold and every write let
//! through while a quota on its path is over its limit, POSTed as JSON to the `[[notify]]`
//! webhooks of `proxy.toml`, with the group and its owner ([`event`] says what is sent).
//!
//! Why this shape:
//! - **Off the request path.** A decision only classifies, rate-limits and queues (no IO, no
//!   await): one task per webhook delivers its queue in order. A slow or dead webhook fills its
//!   own bounded queue and nothing else; once full, new notifications are dropped and counted
//!   (`notifications_dropped_total{reason="queue_full"}`), never waited for.
//! - **Retried, with backoff.** Connection errors, timeouts, 429 and 5xx are tried again
//!   `retries` times, the pause doubling from `retry_backoff_ms` (at most a minute); other
//!   answers (a 404 from a deleted webhook) are final. `notifications_sent_total` and
//!   `notifications_failed_total` count the outcomes.
//! - **Rate-limited per group** ([`rate_limit`]): a pipeline retrying a refused deployment in a
//!   loop tells a channel a few times a minute, not at every attempt.
//! - **Reloaded with the file** (SIGHUP, a change of the file; [`super::reload`]): new webhooks
//!   take over at once, what the old ones had queued is still delivered.
//! - The URL is a secret (chat webhooks carry their credential in the path): logs and metric
//!   labels name a webhook by its host.

mod config;
mod event;
mod rate_limit;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use admission::quota::{QuotaOutcome, QuotaSet};
use bytes::Bytes;
use marathon_model::PathId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use proxy::body::UpstreamBody;
use proxy::upstream::HttpClient;
use tokio::sync::mpsc;

pub(crate) use config::{parse_tables, parse_text};
pub use config::{EventKind, NotifyTarget};

use crate::audit::AuditRecord;
use event::Decided;
use rate_limit::PerGroupRate;

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// What is read of a webhook's answer (to reuse the connection); the rest is not waited for.
const ANSWER_READ: usize = 64 * 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// The webhook's host (and port).
    pub webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DroppedLabels {
    pub webhook: String,
    /// `queue_full` or `rate_limited`.
    pub reason: &'static str,
}

/// Delivery metrics (prefix `marathon_admission_proxy_`).
#[derive(Clone, Debug, Default)]
pub struct NotifyMetrics {
    pub sent: Family<WebhookLabels, Counter>,
    pub failed: Family<WebhookLabels, Counter>,
    pub dropped: Family<DroppedLabels, Counter>,
}

impl NotifyMetrics {
    fn register(&self, r: &mut Registry) {
        r.register("notifications_sent", "Notifications a [[notify]] webhook accepted (2xx)", self.sent.clone());
        r.register("notifications_failed", "Notifications given up on: a final answer (4xx but 429), or every retry failed", self.failed.clone());
        r.register(
            "notifications_dropped",
            "Notifications not queued: the webhook's queue was full, or its group had used its minute (rate_limited)",
            self.dropped.clone(),
        );
    }
}

/// One webhook in force: its settings, its queue and its rate limit.
struct Webhook {
    config: NotifyTarget,
    label: String,
    queue: mpsc::Sender<Bytes>,
    rate: Mutex<PerGroupRate>,
}

/// The webhooks in force and their metrics.
pub struct Notifier {
    webhooks: RwLock<Vec<Arc<Webhook>>>,
    /// `[admission] warn_at`: warnings are told from here unless a webhook says otherwise.
    warn_at: f64,
    metrics: NotifyMetrics,
    runtime: Option<tokio::runtime::Handle>,
}

impl Notifier {
    /// No webhook (the offline `check`, a proxy without `[[notify]]`).
    pub fn off() -> Notifier {
        Notifier { webhooks: RwLock::new(Vec::new()), warn_at: 1.0, metrics: NotifyMetrics::default(), runtime: None }
    }

    /// Starts a delivery task per webhook on the current tokio runtime.
    pub fn start(webhooks: Vec<NotifyTarget>, warn_at: f64) -> Arc<Notifier> {
        let notifier = Notifier { runtime: tokio::runtime::Handle::try_current().ok(), warn_at, ..Notifier::off() };
        notifier.install(webhooks);
        Arc::new(notifier)
    }

    /// Puts `webhooks` in force (a reload): unchanged ones keep their queue and rate limit, the
    /// others start afresh; the replaced ones deliver what they hold and end.
    pub fn install(&self, webhooks: Vec<NotifyTarget>) {
        let mut current = self.webhooks.write().unwrap();
        if current.iter().map(|w| &w.config).eq(webhooks.iter()) {
            return;
        }
        let Some(runtime) = self.runtime.clone().or_else(|| tokio::runtime::Handle::try_current().ok()) else {
            tracing::error!("[[notify]]: no runtime to deliver on; notifications are off");
            return;
        };
        *current = webhooks.into_iter().filter_map(|config| self.start_one(&runtime, config)).collect();
    }

    fn start_one(&self, runtime: &tokio::runtime::Handle, config: NotifyTarget) -> Option<Arc<Webhook>> {
        let label = config.label();
        let client = match client_for(&config) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(webhook = %label, error = %format!("{e:#}"), "[[notify]] webhook unusable; it gets no notifications");
                return None;
            }
        };
        let (queue, rx) = mpsc::channel(config.queue);
        let rate = Mutex::new(PerGroupRate::new(config.per_group_per_minute));
        runtime.spawn(deliver(client, config.clone(), label.clone(), rx, self.metrics.clone()));
        Some(Arc::new(Webhook { config, label, queue, rate }))
    }

    /// Hands one decision to every webhook that wants it (never waits: see the module
    /// documentation). `ids`: what the write touches; `quotas`: the quotas in force (for the
    /// group and its owner).
    pub fn decided(&self, record: &AuditRecord, ids: &[PathId], quota: Option<&QuotaOutcome>, quotas: &QuotaSet) {
        let webhooks = self.webhooks.read().unwrap().clone();
        if webhooks.is_empty() || record.dry_run {
            return;
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let responsible = quotas.responsible(ids.iter().map(String::as_str));
        let d = Decided { record, ids, quota, responsible };
        let now = Instant::now();
        for w in webhooks {
            let Some(kind) = event::event_of(&d, w.config.warn_at.unwrap_or(self.warn_at)).filter(|k| w.config.wants(*k)) else { continue };
            let dropped = |reason| self.metrics.dropped.get_or_create(&DroppedLabels { webhook: w.label.clone(), reason }).inc();
            if !w.rate.lock().unwrap().allow(&d.responsible.group, now) {
                dropped("rate_limited");
                continue;
            }
            let body = Bytes::from(event::payload(kind, &d, &w.config.proxy_name).to_string());
            if let Err(mpsc::error::TrySendError::Full(_)) = w.queue.try_send(body) {
                dropped("queue_full");
            }
        }
    }

    /// The webhooks in force, by host (for messages and tests).
    pub fn webhooks(&self) -> Vec<String> {
        self.webhooks.read().unwrap().iter().map(|w| w.label.clone()).collect()
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }
}

/// The HTTP client for one webhook: the proxy's own client stack (connect timeout, rustls with
/// the system's trust store or `ca_file`), nothing of `[upstream]`'s Marathon settings.
fn client_for(config: &NotifyTarget) -> anyhow::Result<HttpClient> {
    let upstream = proxy::config::UpstreamConfig {
        connect_timeout_ms: config.timeout.as_millis().max(1) as u64,
        pool_max_idle_per_host: 2,
        tls: proxy::config::UpstreamTls { ca_file: config.ca_file.clone(), ..Default::default() },
        ..Default::default()
    };
    proxy::upstream::build_client(&upstream)
}

/// Delivers `rx` in order until every sender is gone (the webhook was replaced or the proxy
/// stops).
async fn deliver(client: HttpClient, config: NotifyTarget, label: String, mut rx: mpsc::Receiver<Bytes>, metrics: NotifyMetrics) {
    let labels = WebhookLabels { webhook: label.clone() };
    while let Some(body) = rx.recv().await {
        match send_with_retries(&client, &config, body).await {
            Ok(()) => {
                metrics.sent.get_or_create(&labels).inc();
            }
            Err(why) => {
                metrics.failed.get_or_create(&labels).inc();
                tracing::warn!(webhook = %label, error = %why, "notification not delivered");
            }
        }
    }
}

/// How one attempt ended, when not delivered.
enum Failed {
    /// Worth another attempt (connection, timeout, 429, 5xx).
    Again(String),
    Final(String),
}

async fn send_with_retries(client: &HttpClient, config: &NotifyTarget, body: Bytes) -> Result<(), String> {
    let mut pause = config.retry_backoff;
    for attempt in 0.. {
        match post_once(client, config, body.clone()).await {
            Ok(()) => return Ok(()),
            Err(Failed::Final(why)) => return Err(why),
            Err(Failed::Again(why)) if attempt >= config.retries => return Err(format!("{why} (after {} attempts)", attempt + 1)),
            Err(Failed::Again(_)) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
    }
    unreachable!("the loop returns")
}

async fn post_once(client: &HttpClient, config: &NotifyTarget, body: Bytes) -> Result<(), Failed> {
    let request = http::Request::post(config.url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, concat!("marathon-admission/", env!("CARGO_PKG_VERSION")))
        .body(UpstreamBody::full(body))
        .map_err(|e| Failed::Final(format!("cannot build the request: {e}")))?;
    let answer = async {
        let response = client.request(request).await.map_err(|e| Failed::Again(proxy::upstream::error_chain(&e)))?;
        let status = response.status();
        let _ = http_body_util::BodyExt::collect(http_body_util::Limited::new(response.into_body(), ANSWER_READ)).await;
        Ok(status)
    };
    let status =
        tokio::time::timeout(config.timeout, answer).await.map_err(|_| Failed::Again(format!("no answer within {} ms", config.timeout.as_millis())))??;
    match status {
        s if s.is_success() => Ok(()),
        s if s == http::StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => Err(Failed::Again(format!("answered {s}"))),
        s => Err(Failed::Final(format!("answered {s}"))),
    }
}

#[cfg(test)]
mod tests;
