//! The live model: Marathon's root group in memory, fetched with
//! `GET /v2/groups?embed=group.groups&embed=group.apps&embed=group.pods` at start and re-fetched
//! every `resync_interval_ms` (default 1 s), so a change made directly on Marathon is seen within
//! about one interval. The store layout and write semantics come from `GET /v2/info`'s `version`
//! (overridable in `[admission]`).
//!
//! Freshness is by polling only; driving the model from `/v2/events` is future work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use marathon_model::ops::{canonical_root, Flavour};
use marathon_model::{Group, PathId};
use tokio::sync::{watch, RwLock};
use znode_size::{AppFlavor, StoreConfig};

use super::config::AdmitConfig;
use crate::body::UpstreamBody;
use crate::upstream::{display_base, target_uri, HttpClient};

/// One synced view of Marathon.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub root: Arc<Group>,
    /// `/v2/info` `version`.
    pub version: String,
    pub flavour: Flavour,
    pub store: StoreConfig,
    /// When the `/v2/groups` request was sent: every write Marathon answered before this is in
    /// `root`.
    pub fetch_started: Instant,
    pub generation: u64,
}

pub struct LiveModel {
    uris: Vec<Uri>,
    client: HttpClient,
    config: AdmitConfig,
    current: RwLock<Option<Snapshot>>,
    last_ok: std::sync::Mutex<Option<Instant>>,
    last_error: std::sync::Mutex<Option<String>>,
    generation: AtomicU64,
    synced_tx: watch::Sender<u64>,
}

impl LiveModel {
    pub fn new(uris: Vec<Uri>, client: HttpClient, config: AdmitConfig) -> Arc<LiveModel> {
        Arc::new(LiveModel {
            uris,
            client,
            config,
            current: RwLock::new(None),
            last_ok: std::sync::Mutex::new(None),
            last_error: std::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            synced_tx: watch::channel(0).0,
        })
    }

    /// Starts the periodic resync on the current tokio runtime.
    pub fn spawn_resync(self: Arc<Self>) {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.sync_once().await {
                    tracing::warn!(error = %e, "admission: model sync failed");
                    *self.last_error.lock().unwrap() = Some(e.to_string());
                }
                tokio::time::sleep(self.config.resync_interval).await;
            }
        });
    }

    /// Model older than this is not trusted (Marathon unreachable).
    pub fn stale_after(&self) -> Duration {
        (self.config.resync_interval * 10).max(Duration::from_secs(5))
    }

    /// The snapshot, when synced and fresh.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        if !self.is_fresh() {
            return None;
        }
        self.current.read().await.clone()
    }

    pub fn is_fresh(&self) -> bool {
        matches!(*self.last_ok.lock().unwrap(), Some(t) if t.elapsed() < self.stale_after())
    }

    /// Why the model cannot be used, if it cannot.
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.is_fresh() {
            return None;
        }
        let err = self.last_error.lock().unwrap().clone();
        let base = if self.last_ok.lock().unwrap().is_none() {
            "admission model not synced with Marathon yet".to_string()
        } else {
            format!("admission model not refreshed for more than {:?}", self.stale_after())
        };
        Some(match err {
            Some(e) => format!("{base} (last error: {e})"),
            None => base,
        })
    }

    /// Completes once a sync newer than `after` (a generation) has been installed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.synced_tx.subscribe()
    }

    /// Fetches `/v2/info` and `/v2/groups` (first configured Marathon that answers) and installs
    /// the result.
    pub async fn sync_once(&self) -> anyhow::Result<u64> {
        let mut last = None;
        for base in &self.uris {
            match self.sync_from(base).await {
                Ok(g) => return Ok(g),
                Err(e) => last = Some(anyhow::anyhow!("{}: {e:#}", display_base(base))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no Marathon configured")))
    }

    async fn sync_from(&self, base: &Uri) -> anyhow::Result<u64> {
        let info = self.get(base, "/v2/info").await?;
        let info: serde_json::Value = serde_json::from_slice(&info)
            .map_err(|e| anyhow::anyhow!("/v2/info is not JSON: {e}"))?;
        let version = info.get("version").and_then(|v| v.as_str()).unwrap_or("1.4.0").to_string();
        let store = self.config.store_config(&version);
        let flavour = match store.flavor {
            AppFlavor::V13 => Flavour::V13,
            AppFlavor::V14 => Flavour::V14,
        };
        let fetch_started = Instant::now();
        let body = self
            .get(base, "/v2/groups?embed=group.groups&embed=group.apps&embed=group.pods")
            .await?;
        let root = parse_root(&body, flavour)?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let snap = Snapshot { root: Arc::new(root), version, flavour, store, fetch_started, generation };
        *self.current.write().await = Some(snap);
        *self.last_ok.lock().unwrap() = Some(Instant::now());
        *self.last_error.lock().unwrap() = None;
        self.synced_tx.send_replace(generation);
        Ok(generation)
    }

    async fn get(&self, base: &Uri, path_and_query: &str) -> anyhow::Result<Bytes> {
        let pq: http::uri::PathAndQuery = path_and_query.parse()?;
        let uri = target_uri(base, Some(&pq))?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(UpstreamBody::Full(None))?;
        let timeout = Duration::from_secs(30);
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| anyhow::anyhow!("{}", crate::upstream::error_chain(&e)))?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            if !status.is_success() {
                anyhow::bail!("{path_and_query} answered {status}");
            }
            Ok(body)
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| anyhow::anyhow!("{path_and_query}: no answer within {timeout:?}"))?
    }
}

/// What `/v2/groups` returns, as the canonical root the estimator expects.
pub fn parse_root(bytes: &[u8], flavour: Flavour) -> anyhow::Result<Group> {
    let group = Group::parse(bytes).map_err(|e| anyhow::anyhow!("/v2/groups: {e}"))?;
    let group = group.normalized(&PathId::root()).map_err(|e| anyhow::anyhow!("/v2/groups: {e}"))?;
    Ok(canonical_root(group, flavour))
}
