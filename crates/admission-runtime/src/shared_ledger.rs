//! The in-flight ledger shared by several replicas through ZooKeeper (`[ledger] zookeeper`).
//!
//! Why this shape (see also docs/ARCHITECTURE.md, "Several replicas, one budget"):
//! - **One decision order, by compare-and-set**: a node `{path}/version` counts the admitted
//!   reservations. A decision reads its version and every reservation, decides, and records its
//!   own in one ZooKeeper transaction: set `version` *if it is still the version read* and create
//!   the reservation. A replica that decided on a stale view (another admitted in between) fails
//!   the transaction and decides again on the new view (a conflict; a few retries). As Kubernetes'
//!   ResourceQuota does on etcd: no lock to hold, to lose, or to leave behind; a dry run only reads;
//!   one write per admitted decision.
//! - **Reservations** are persistent sequential nodes `{path}/reservations/r-<seq>` holding the
//!   write as received (method, path, query, body), the replica and the wall-clock time; any
//!   replica re-applies them to its own model. When Marathon answers, the owner adds a marker
//!   `a-<seq>-<answered ms>` (so that one listing says what is answered and when; it rides in the
//!   transaction of the owner's next reservation, see `answer_markers`), or `u-<seq>-<answered
//!   ms>` when the outcome is unknown (a 5xx, no answer: Marathon may apply it later, so no
//!   model's sync lets it go, only time); when Marathon refuses, the owner deletes the
//!   reservation. The owner stops counting its own answered
//!   entries once its model shows them (answered before its last sync started, on its own clock),
//!   as a lone replica does; the others stop counting an entry once their own model shows it
//!   (answered before their last sync started, less [`CLOCK_SKEW`]). Only time deletes an entry:
//!   a decision deletes those answered longer than `ledger_timeout_ms` ago (or still unanswered
//!   long after; see [`super::ledger::expired`]), never one its model shows, since a replica whose
//!   model lags (its upkeep behind, its Marathon slow) would then count the write nowhere. A
//!   reservation's content never changes, so each replica reads it once.
//! - **A decision reads ZooKeeper only when it must**: this replica keeps its view of the
//!   ledger (the newest listing, with its own reservations since) and a watch on the version
//!   node; while the watch has not fired, a decision takes the view without a round trip, and
//!   the compare-and-set still catches a view gone stale (see `watched_view`). A view read more
//!   than a second ago is read again in the background, which prunes.
//! - **A dead replica** blocks no one (nothing is held); its reservations stay charged until a
//!   model shows them or they time out, as Marathon may have applied them.
//! - **ZooKeeper unreachable or slower than `timeout_ms`**: the decision cannot use the shared
//!   ledger; `failure_policy = "closed"` answers growing writes 503 (deletions pass), `"open"`
//!   decides on this replica's ledger alone, says so in a `Warning` and counts it. Once a decision
//!   found it so, later ones do not wait for it again: they fail at once until the background
//!   probe (every 500 ms) reaches ZooKeeper again.

mod answer_markers;
mod watched_view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use marathon_model::ops::{parse_write, Write};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use marathon_zk::{TlsFiles, ZkLogin};
use zookeeper_client as zkc;

use super::ledger::{expired, now_ms, Answered, Ledger, LedgerDecision, LedgerUnavailable, LocalLedger, PendingQuery, Reservation, ReserveError};
use answer_markers::AnswerMarkers;
use watched_view::WatchedView;

/// Answered entries are kept until a model sync started this long after the answer: replicas'
/// clocks differ a little, and counting a write twice for a moment only makes a decision stricter.
pub const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// Tickets of decisions taken on the local ledger (ZooKeeper unreachable, policy open) carry this
/// bit, so that they are never confused with a ZooKeeper sequence number.
const LOCAL_TICKET: u64 = 1 << 62;

/// `[ledger]` in `proxy.toml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LedgerConfig {
    /// `HOST:PORT[,HOST:PORT...]/PATH`; absent: each replica keeps its own ledger.
    pub zookeeper: Option<ZkLocation>,
    /// Bound on reading or writing the ledger for one decision.
    pub timeout: Duration,
    /// The ZooKeeper session timeout.
    pub session_timeout: Duration,
    /// How the session reaches ZooKeeper and logs in (TLS, digest, SASL DIGEST-MD5 or GSSAPI):
    /// with a login, the nodes the ledger creates are readable and writable by that user only.
    pub login: ZkLogin,
}

/// Where the ledger lives.
#[derive(Debug, Clone, PartialEq)]
pub struct ZkLocation {
    pub hosts: String,
    pub path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLedger {
    zookeeper: Option<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_session_timeout_ms")]
    session_timeout_ms: u64,
    digest: Option<String>,
    sasl_digest_md5: Option<String>,
    sasl_gssapi: Option<String>,
    tls_ca: Option<std::path::PathBuf>,
    tls_cert: Option<std::path::PathBuf>,
    tls_key: Option<std::path::PathBuf>,
}

fn default_timeout_ms() -> u64 {
    2_000
}

fn default_session_timeout_ms() -> u64 {
    10_000
}

impl LedgerConfig {
    /// Reads `[ledger]` (absent: defaults, no shared ledger).
    pub fn from_table(table: Option<&toml::Table>) -> anyhow::Result<LedgerConfig> {
        let raw: RawLedger = match table {
            None => RawLedger {
                zookeeper: None,
                timeout_ms: default_timeout_ms(),
                session_timeout_ms: default_session_timeout_ms(),
                digest: None,
                sasl_digest_md5: None,
                sasl_gssapi: None,
                tls_ca: None,
                tls_cert: None,
                tls_key: None,
            },
            Some(t) => toml::Value::Table(t.clone())
                .try_into()
                .map_err(|e: toml::de::Error| anyhow::anyhow!("[ledger]: {}", proxy::config::toml_errors::with_suggestion(e.message())))?,
        };
        let zookeeper = raw.zookeeper.as_deref().map(parse_location).transpose()?;
        if raw.timeout_ms == 0 || raw.session_timeout_ms == 0 {
            anyhow::bail!("[ledger] timeout_ms and session_timeout_ms must be more than 0");
        }
        let tls = TlsFiles { ca: raw.tls_ca, cert: raw.tls_cert, key: raw.tls_key };
        let login = ZkLogin::new("ledger", raw.digest, raw.sasl_digest_md5)?.with_kerberos("ledger", raw.sasl_gssapi)?.with_tls("ledger", tls)?;
        Ok(LedgerConfig {
            zookeeper,
            timeout: Duration::from_millis(raw.timeout_ms),
            session_timeout: Duration::from_millis(raw.session_timeout_ms),
            login,
        })
    }
}

/// Overrides `[ledger] zookeeper` (e.g. from the environment in a container).
pub const ENV_LEDGER_ZOOKEEPER: &str = "MARATHON_ADMISSION_LEDGER_ZOOKEEPER";

impl LedgerConfig {
    /// Shares the ledger at `spec` (`HOST:PORT[,HOST:PORT...]/PATH`).
    pub fn set_zookeeper(&mut self, spec: &str) -> anyhow::Result<()> {
        self.zookeeper = Some(parse_location(spec)?);
        Ok(())
    }
}

fn parse_location(s: &str) -> anyhow::Result<ZkLocation> {
    let (hosts, path) = s.split_once('/').ok_or_else(|| anyhow::anyhow!("[ledger] zookeeper {s:?}: expected HOST:PORT[,HOST:PORT...]/PATH"))?;
    let path = format!("/{}", path.trim_matches('/'));
    if hosts.is_empty() || path == "/" || hosts.split(',').any(|h| !h.contains(':')) {
        anyhow::bail!("[ledger] zookeeper {s:?}: expected HOST:PORT[,HOST:PORT...]/PATH (a path other than /)");
    }
    Ok(ZkLocation { hosts: hosts.to_owned(), path })
}

/// What is stored in a reservation node.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    reservation: Reservation,
    replica: String,
}

/// A reservation as this replica read it.
#[derive(Debug, Clone)]
struct Known {
    /// None when this replica cannot read it as a write (it is then not counted).
    write: Option<Write>,
    admitted_at_ms: u64,
    /// When Marathon answered, for this replica's own reservations (its own clock, known before
    /// the marker is listed): this replica's model shows them once a sync started after it.
    answered_here_at_ms: Option<u64>,
}

/// What becomes of a listed reservation in a decision's count.
enum Fate {
    /// Expired: it leaves the ledger.
    Left,
    /// Not counted, and left in place: an answered write this replica's model shows (the node
    /// stays for the replicas whose models may still lag: a replica whose upkeep fell behind
    /// would otherwise count neither the node nor the write), or one it cannot read as a write.
    NotCounted,
    /// Counted (when readable as a write).
    Pending(Write),
}

/// The fate of a reservation `known` here (`None`: not read yet, or unreadable, so not counted),
/// answered at a time and how by its marker, at `now`, for a decision reading against `q`'s
/// model: this replica's model shows a write Marathon took before its sync less the clock skew,
/// and its own writes' answers from before its sync on its own clock. Only time takes a node out
/// of the ledger: what one replica's model shows, another's may not show yet.
fn fate(known: Option<&Known>, answered: Option<(u64, Answered)>, now: u64, q: PendingQuery) -> Fate {
    let shown_before = q.model_synced_at_ms.map(|t| t.saturating_sub(CLOCK_SKEW.as_millis() as u64));
    if known.is_some_and(|k| expired(now, k.admitted_at_ms, answered.map(|(at, _)| at), q.timeout)) {
        return Fate::Left;
    }
    let shown = matches!((answered, shown_before), (Some((at, Answered::Applied)), Some(before)) if at < before);
    let shown_here = matches!((known.and_then(|k| k.answered_here_at_ms), q.model_synced_at_ms), (Some(at), Some(sync)) if at < sync);
    match known.and_then(|k| k.write.as_ref()) {
        Some(w) if !shown && !shown_here => Fate::Pending(w.clone()),
        _ => Fate::NotCounted,
    }
}

/// What one listing of `{path}/reservations` says.
#[derive(Debug, Default, Clone)]
struct Listing {
    /// Reservation sequence numbers, in order.
    reservations: Vec<u64>,
    /// Sequence -> answered at (ms) and how, and the marker's name.
    answered: HashMap<u64, (u64, Answered, String)>,
}

/// How an answer marker's name starts.
fn marker_prefix(answered: Answered) -> &'static str {
    match answered {
        Answered::Applied => "a-",
        Answered::Unknown => "u-",
    }
}

/// The answer a marker's name says, and the rest of the name (`<seq>-<answered ms>`).
fn marker_kind(name: &str) -> Option<(Answered, &str)> {
    [Answered::Applied, Answered::Unknown].into_iter().find_map(|a| Some((a, name.strip_prefix(marker_prefix(a))?)))
}

fn list(children: &[String]) -> Listing {
    let mut l = Listing::default();
    for name in children {
        if let Some(seq) = name.strip_prefix("r-").and_then(|s| s.parse().ok()) {
            l.reservations.push(seq);
        } else if let Some((answered, rest)) = marker_kind(name) {
            if let Some((Ok(seq), Ok(at))) = rest.split_once('-').map(|(seq, at)| (seq.parse(), at.parse())) {
                l.answered.insert(seq, (at, answered, name.clone()));
            }
        }
    }
    l.reservations.sort_unstable();
    l
}

/// The ledger's metrics.
#[derive(Debug, Clone)]
struct SharedLedgerMetrics {
    zookeeper_up: Gauge,
    sessions: Counter,
    read_seconds: Histogram,
    reserve_seconds: Histogram,
    conflicts: Counter,
    degraded: Counter,
    views_taken: Counter,
}

impl Default for SharedLedgerMetrics {
    fn default() -> Self {
        SharedLedgerMetrics {
            zookeeper_up: Gauge::default(),
            sessions: Counter::default(),
            read_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 14)),
            reserve_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 14)),
            conflicts: Counter::default(),
            degraded: Counter::default(),
            views_taken: Counter::default(),
        }
    }
}

/// The ledger in ZooKeeper.
pub struct ZkLedger {
    /// Itself, for the tasks a decision leaves behind.
    me: std::sync::Weak<ZkLedger>,
    config: LedgerConfig,
    location: ZkLocation,
    replica: String,
    /// Open policy: decide on `local` when ZooKeeper cannot be used.
    open: bool,
    local: LocalLedger,
    session: tokio::sync::Mutex<Option<zkc::Client>>,
    /// Reservations read so far (their content never changes), parsed.
    known: Mutex<HashMap<u64, Known>>,
    /// The newest listing read, with this replica's own reservations since: what a decision
    /// takes while it is current, and what [`Ledger::pending_known`] answers from.
    view: Mutex<WatchedView<Listing>>,
    /// What the last decision asked: the background refresh of the view asks the same.
    last_query: Mutex<Option<PendingQuery>>,
    /// Answer markers still to write: with the next reservation, or on their own soon after.
    markers: Mutex<AnswerMarkers>,
    last_len: Mutex<usize>,
    last_error: Mutex<Option<String>>,
    metrics: SharedLedgerMetrics,
}

impl ZkLedger {
    /// A ledger at `location` (sessions are opened when needed and kept healthy by
    /// [`Self::spawn_keepalive`]); `open`: the failure policy is open.
    pub fn new(config: LedgerConfig, open: bool) -> Arc<ZkLedger> {
        let location = config.zookeeper.clone().expect("a shared ledger needs [ledger] zookeeper");
        let replica = format!("{}:{}", hostname(), std::process::id());
        Arc::new_cyclic(|me| ZkLedger {
            me: me.clone(),
            config,
            location,
            replica,
            open,
            local: LocalLedger::default(),
            session: tokio::sync::Mutex::new(None),
            known: Mutex::new(HashMap::new()),
            view: Mutex::new(WatchedView::default()),
            last_query: Mutex::new(None),
            markers: Mutex::new(AnswerMarkers::default()),
            last_len: Mutex::new(0),
            last_error: Mutex::new(None),
            metrics: SharedLedgerMetrics::default(),
        })
    }

    fn register(&self, r: &mut Registry) {
        let m = &self.metrics;
        r.register("ledger_zookeeper_up", "1 while the shared ledger's ZooKeeper session is connected", m.zookeeper_up.clone());
        r.register(
            "ledger_zookeeper_sessions",
            "ZooKeeper sessions the shared ledger opened (more than one: a session expired or ended, and another was opened)",
            m.sessions.clone(),
        );
        r.register("ledger_read_seconds", "Time to read the shared ledger (for a decision whose view was not current, or to refresh the view)", m.read_seconds.clone());
        r.register(
            "ledger_reserve_seconds",
            "Time of the transaction that records an admitted write in the shared ledger before it is forwarded (conflicts and failures included)",
            m.reserve_seconds.clone(),
        );
        r.register("ledger_views_taken", "Decisions that took this replica's watched view of the shared ledger instead of reading it", m.views_taken.clone());
        r.register("ledger_conflicts", "Decisions taken again because another replica admitted a write in between", m.conflicts.clone());
        r.register("ledger_degraded_decisions", "Decisions taken on this replica's ledger alone (shared ledger unavailable, policy open)", m.degraded.clone());
    }

    /// Keeps a session open (connecting again after it expired), so that the first decision
    /// after a start or an outage does not pay for the connection, and `/readyz` and
    /// `ledger_zookeeper_up` say how it is; reads the ledger again when the view is due for it
    /// (which prunes), and keeps the watch that says whether the view is current.
    pub fn spawn_keepalive(self: &Arc<Self>) {
        self.spawn_version_watch();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { return };
                match tokio::time::timeout(me.config.timeout, me.probe()).await {
                    Ok(Ok(())) => {
                        me.up();
                        me.refresh_view_if_due().await;
                    }
                    Ok(Err(e)) => me.down(e.0),
                    Err(_) => me.down(format!("no answer from ZooKeeper at {} within {:?}", me.location.hosts, me.config.timeout)),
                }
                drop(me);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Keeps a watch on the version node: while it has not fired, no other replica admitted a
    /// write since the version it saw, and a decision may take the view (see `watched_view`).
    fn spawn_version_watch(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { return };
                let watcher = me.watch_version().await;
                drop(me);
                match watcher {
                    Some(watcher) => {
                        let fired = watcher.changed();
                        tokio::pin!(fired);
                        loop {
                            tokio::select! {
                                _ = &mut fired => break,
                                _ = tokio::time::sleep(Duration::from_secs(5)) => if weak.strong_count() == 0 { return },
                            }
                        }
                    }
                    None => tokio::time::sleep(Duration::from_millis(500)).await,
                }
                let Some(me) = weak.upgrade() else { return };
                me.view.lock().unwrap().watched(None);
            }
        });
    }

    /// Sets the watch, and tells the view the version it saw.
    async fn watch_version(&self) -> Option<zkc::OneshotWatcher> {
        let client = self.client().await.ok()?;
        let set = tokio::time::timeout(self.config.timeout, client.get_and_watch_data(&self.version_node())).await;
        let (_, stat, watcher) = set.ok()?.ok()?;
        self.view.lock().unwrap().watched(Some(stat.version));
        Some(watcher)
    }

    /// Reads the ledger into the view, as the last decision would, when the view was read more
    /// than [`watched_view::REFRESH_AFTER`] ago.
    async fn refresh_view_if_due(&self) {
        let Some(q) = *self.last_query.lock().unwrap() else { return };
        if self.view.lock().unwrap().due_for_refresh(Instant::now()) {
            // A failure marks ZooKeeper down, as a decision's read would.
            let _ = self.read_within_timeout(q).await;
        }
    }

    /// One round trip to ZooKeeper (the version node), creating the ledger's nodes when missing.
    async fn probe(&self) -> Result<(), LedgerUnavailable> {
        let client = self.client().await?;
        match client.check_stat(&self.version_node()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.create_nodes(&client).await,
            Err(e) => Err(zk_error(e)),
        }
    }

    async fn create_nodes(&self, client: &zkc::Client) -> Result<(), LedgerUnavailable> {
        let options = zkc::CreateMode::Persistent.with_acls(self.acls());
        mkdirs(client, &self.reservations_dir(), &options).await?;
        match client.create(&self.version_node(), b"", &options).await {
            Ok(_) | Err(zkc::Error::NodeExists) => Ok(()),
            Err(e) => Err(zk_error(e)),
        }
    }

    fn version_node(&self) -> String {
        format!("{}/version", self.location.path)
    }

    fn up(&self) {
        self.metrics.zookeeper_up.set(1);
        *self.last_error.lock().unwrap() = None;
    }

    fn down(&self, why: String) {
        self.metrics.zookeeper_up.set(0);
        *self.last_error.lock().unwrap() = Some(why);
    }

    /// A connected session, opening one when there is none or the last one ended.
    async fn client(&self) -> Result<zkc::Client, LedgerUnavailable> {
        let mut session = self.session.lock().await;
        if let Some(c) = session.as_ref() {
            if !matches!(c.state(), zkc::SessionState::Expired | zkc::SessionState::Closed | zkc::SessionState::AuthFailed) {
                return Ok(c.clone());
            }
        }
        let connector = zkc::Client::connector().with_session_timeout(self.config.session_timeout).with_connection_timeout(self.config.timeout);
        let client = self
            .config
            .login
            .connect(connector, &self.location.hosts)
            .await
            .map_err(|e| LedgerUnavailable(format!("ZooKeeper at {}: {e}", self.location.hosts)))?;
        *session = Some(client.clone());
        self.metrics.sessions.inc();
        Ok(client)
    }

    fn acls(&self) -> zkc::Acls<'static> {
        if self.config.login.logs_in() {
            zkc::Acls::creator_all()
        } else {
            zkc::Acls::anyone_all()
        }
    }

    fn reservations_dir(&self) -> String {
        format!("{}/reservations", self.location.path)
    }

    /// What is pending for a decision: from the view while it is current, else read within the
    /// timeout; fails at once while the probe has not reached ZooKeeper since the last failure.
    async fn begin_shared(&self, q: PendingQuery) -> Result<SharedDecision<'_>, LedgerUnavailable> {
        if let Some(e) = self.last_error.lock().unwrap().clone() {
            return Err(LedgerUnavailable(e));
        }
        *self.last_query.lock().unwrap() = Some(q);
        if let Some(decision) = self.from_view(q) {
            return Ok(decision);
        }
        let (client, version, pending) = self.read_within_timeout(q).await?;
        Ok(SharedDecision { ledger: self, client, version, pending })
    }

    /// A decision on the view, when it is current and the session connected.
    fn from_view(&self, q: PendingQuery) -> Option<SharedDecision<'_>> {
        // A session being opened (the lock held) is no time to trust a view.
        let client = self.session.try_lock().ok()?.clone().filter(|c| c.state() == zkc::SessionState::SyncConnected)?;
        let (version, pending) = {
            let view = self.view.lock().unwrap();
            let version = view.current()?;
            (version, self.count(&view.listing, q))
        };
        self.metrics.views_taken.inc();
        *self.last_len.lock().unwrap() = pending.len();
        Some(SharedDecision { ledger: self, client, version, pending })
    }

    /// Reads the version and the reservations (taking the read into the view), within the
    /// timeout; a failure marks ZooKeeper down.
    async fn read_within_timeout(&self, q: PendingQuery) -> Result<(zkc::Client, i32, Vec<(u64, Write)>), LedgerUnavailable> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.config.timeout, self.read_ledger(q)).await {
            Ok(r) => r,
            Err(_) => Err(LedgerUnavailable(format!("no answer from ZooKeeper at {} within {:?}", self.location.hosts, self.config.timeout))),
        };
        self.metrics.read_seconds.observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            self.down(e.0.clone());
        }
        result
    }

    async fn read_ledger(&self, q: PendingQuery) -> Result<(zkc::Client, i32, Vec<(u64, Write)>), LedgerUnavailable> {
        let client = self.client().await?;
        let read = || futures_util::future::join(client.get_data(&self.version_node()), client.get_children(&self.reservations_dir()));
        let (version, children) = match read().await {
            (Err(zkc::Error::NoNode), _) | (_, Err(zkc::Error::NoNode)) => {
                self.create_nodes(&client).await?;
                read().await
            }
            other => other,
        };
        let (_, stat) = version.map_err(zk_error)?;
        let (children, _) = children.map_err(zk_error)?;
        let listing = list(&children);
        let pending = self.read_pending(&client, &listing, q).await?;
        self.view.lock().unwrap().read(stat.version, listing, Instant::now());
        Ok((client, stat.version, pending))
    }

    /// Prunes what left the budget and returns what is pending, parsed with the model's flavour.
    async fn read_pending(
        &self,
        client: &zkc::Client,
        listing: &Listing,
        q: PendingQuery,
    ) -> Result<Vec<(u64, Write)>, LedgerUnavailable> {
        let dir = self.reservations_dir();
        let unknown: Vec<u64> = {
            let known = self.known.lock().unwrap();
            listing.reservations.iter().copied().filter(|s| !known.contains_key(s)).collect()
        };
        let reads = futures_util::future::join_all(unknown.iter().map(|s| client.get_data(&node(&dir, *s)))).await;
        let mut stored: HashMap<u64, Stored> = HashMap::new();
        for (seq, read) in unknown.iter().zip(reads) {
            match read {
                Ok((data, _)) => match serde_json::from_slice::<Stored>(&data) {
                    Ok(s) => {
                        stored.insert(*seq, s);
                    }
                    Err(e) => tracing::warn!(seq, error = %e, "shared ledger: an unreadable reservation is ignored"),
                },
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(zk_error(e)),
            }
        }
        let (pending, mut gone) = self.sort_out(stored, listing, q);
        // Markers whose reservation is gone (refused after the answer was marked, or pruned).
        for (seq, (_, _, name)) in &listing.answered {
            if !listing.reservations.contains(seq) {
                gone.push(format!("{dir}/{name}"));
            }
        }
        // Pruning is idempotent (any replica may do it) and no decision waits for it.
        if !gone.is_empty() {
            let client = client.clone();
            tokio::spawn(async move {
                if let Err(e) = write_all(&client, &gone, None).await {
                    tracing::debug!(error = %e, "shared ledger: pruning failed (tried again next time)");
                }
            });
        }
        *self.last_len.lock().unwrap() = pending.len();
        Ok(pending)
    }

    /// Takes in what was read, and splits the listed reservations into what is pending and the
    /// nodes to delete (timed out).
    fn sort_out(&self, stored: HashMap<u64, Stored>, listing: &Listing, q: PendingQuery) -> (Vec<(u64, Write)>, Vec<String>) {
        let dir = self.reservations_dir();
        let now = now_ms();
        let mut known = self.known.lock().unwrap();
        for (seq, s) in stored {
            let r = &s.reservation;
            let write = parse_write(&r.method, &r.path, r.query.as_deref(), &r.body, q.flavour).ok().flatten();
            known.insert(seq, Known { write, admitted_at_ms: r.admitted_at_ms, answered_here_at_ms: None });
        }
        let (mut pending, mut gone) = (Vec::new(), Vec::new());
        for seq in &listing.reservations {
            let answered = listing.answered.get(seq);
            match fate(known.get(seq), answered.map(|(at, how, _)| (*at, *how)), now, q) {
                Fate::Left => {
                    gone.push(node(&dir, *seq));
                    gone.extend(answered.map(|(_, _, name)| format!("{dir}/{name}")));
                    known.remove(seq);
                }
                Fate::NotCounted => {}
                Fate::Pending(w) => pending.push((*seq, w)),
            }
        }
        // Reservations deleted by others leave this replica's memory too; those made after the
        // listing was read (this replica's own, recorded meanwhile) stay.
        let newest_listed = listing.reservations.last().copied().unwrap_or(0);
        known.retain(|seq, _| *seq > newest_listed || listing.reservations.binary_search(seq).is_ok());
        (pending, gone)
    }

    /// What [`Self::sort_out`] would count of `listing`, for `q`; nothing pruned.
    fn count(&self, listing: &Listing, q: PendingQuery) -> Vec<(u64, Write)> {
        // Taken after the view's lock, if any, and never held while taking the view's.
        let known = self.known.lock().unwrap();
        let now = now_ms();
        let counted = |seq: &u64| match fate(known.get(seq), listing.answered.get(seq).map(|(at, how, _)| (*at, *how)), now, q) {
            Fate::Pending(w) => Some((*seq, w)),
            Fate::Left | Fate::NotCounted => None,
        };
        listing.reservations.iter().filter_map(counted).collect()
    }

    /// Markers that rode with a reservation whose transaction has no clear outcome: the flush
    /// writes them, taking one already there for written.
    fn markers_uncertain(&self, names: Vec<String>) {
        if self.markers.lock().unwrap().uncertain(names) {
            self.schedule_marker_flush();
        }
    }

    /// Writes the answer markers no reservation took within [`answer_markers::FLUSH_AFTER`], in
    /// one transaction; those it could not write wait for the next flush.
    fn schedule_marker_flush(&self) {
        let Some(me) = self.me.upgrade() else { return };
        tokio::spawn(async move {
            tokio::time::sleep(answer_markers::FLUSH_AFTER).await;
            let names = me.markers.lock().unwrap().take_for_flush();
            if names.is_empty() {
                return;
            }
            let dir = me.reservations_dir();
            let paths: Vec<String> = names.iter().map(|n| format!("{dir}/{n}")).collect();
            let options = zkc::CreateMode::Persistent.with_acls(me.acls());
            let written = async { write_all(&me.client().await.map_err(|e| e.0)?, &paths, Some(&options)).await.map_err(|e| e.to_string()) };
            let failed = match tokio::time::timeout(me.config.timeout.max(Duration::from_secs(5)), written).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => e,
                Err(_) => "timed out".into(),
            };
            tracing::warn!(error = %failed, markers = names.len(), "shared ledger: marking answered writes failed (tried again; the others count them meanwhile)");
            me.markers_uncertain(names);
        });
    }

    fn spawn_zk(self: &Arc<Self>, what: &'static str, op: impl FnOnce(zkc::Client, String) -> futures_util::future::BoxFuture<'static, Result<(), zkc::Error>> + Send + 'static) {
        let me = self.clone();
        tokio::spawn(async move {
            let dir = me.reservations_dir();
            let done = async {
                let client = me.client().await.map_err(|e| e.0)?;
                op(client, dir).await.map_err(|e| e.to_string())
            };
            match tokio::time::timeout(me.config.timeout.max(Duration::from_secs(5)), done).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "shared ledger: {what} failed (the entry stays charged until it times out)"),
                Err(_) => tracing::warn!("shared ledger: {what} timed out (the entry stays charged until it times out)"),
            }
        });
    }
}

/// Most nodes one background transaction creates or deletes.
const BATCH: usize = 200;

/// Creates (with `create`'s options) or deletes (`None`) the empty nodes at `paths`, a
/// transaction (one log sync) for each [`BATCH`]; a transaction that fails is done again node by
/// node, where a node already there (to create) or already gone (to delete) counts as done.
async fn write_all(client: &zkc::Client, paths: &[String], create: Option<&zkc::CreateOptions<'_>>) -> Result<(), zkc::Error> {
    for chunk in paths.chunks(BATCH) {
        let mut txn = client.new_multi_writer();
        for path in chunk {
            match create {
                Some(options) => txn.add_create(path, b"", options)?,
                None => txn.add_delete(path, None)?,
            }
        }
        if txn.commit().await.is_ok() {
            continue;
        }
        for path in chunk {
            let done = match create {
                Some(options) => client.create(path, b"", options).await.map(drop),
                None => client.delete(path, None).await,
            };
            match done {
                Ok(()) | Err(zkc::Error::NodeExists | zkc::Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn node(dir: &str, seq: u64) -> String {
    format!("{dir}/r-{seq:010}")
}

fn zk_error(e: zkc::Error) -> LedgerUnavailable {
    LedgerUnavailable(format!("ZooKeeper: {e}"))
}

async fn mkdirs(client: &zkc::Client, path: &str, options: &zkc::CreateOptions<'_>) -> Result<(), LedgerUnavailable> {
    let mut at = String::new();
    for part in path.trim_start_matches('/').split('/') {
        at.push('/');
        at.push_str(part);
        match client.create(&at, b"", options).await {
            Ok(_) | Err(zkc::Error::NodeExists) => {}
            Err(e) => return Err(zk_error(e)),
        }
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "replica".into())
}

struct SharedDecision<'a> {
    ledger: &'a ZkLedger,
    client: zkc::Client,
    /// The version of `{path}/version` the decision read.
    version: i32,
    pending: Vec<(u64, Write)>,
}

#[async_trait]
impl LedgerDecision for SharedDecision<'_> {
    fn pending(&self) -> &[(u64, Write)] {
        &self.pending
    }

    /// Sets the version node if it is still the version read, and creates the reservation, in
    /// one transaction.
    async fn reserve(&mut self, reservation: Reservation, write: Write) -> Result<u64, ReserveError> {
        let l = self.ledger;
        let stored = Stored { reservation, replica: l.replica.clone() };
        let data = serde_json::to_vec(&stored).map_err(|e| ReserveError::Unavailable(LedgerUnavailable(e.to_string())))?;
        let prefix = format!("{}/r-", l.reservations_dir());
        let options = zkc::CreateMode::PersistentSequential.with_acls(l.acls());
        let mut txn = self.client.new_multi_writer();
        let built = txn.add_set_data(&l.version_node(), b"", Some(self.version)).and_then(|_| txn.add_create(&prefix, &data, &options));
        built.map_err(|e| ReserveError::Unavailable(zk_error(e)))?;
        let riding = l.markers.lock().unwrap().take_to_ride();
        let dir = l.reservations_dir();
        let marker_options = zkc::CreateMode::Persistent.with_acls(l.acls());
        for name in &riding {
            if let Err(e) = txn.add_create(&format!("{dir}/{name}"), b"", &marker_options) {
                l.markers_uncertain(riding);
                return Err(ReserveError::Unavailable(zk_error(e)));
            }
        }
        let started = Instant::now();
        let committed = tokio::time::timeout(l.config.timeout, txn.commit()).await;
        l.metrics.reserve_seconds.observe(started.elapsed().as_secs_f64());
        let Ok(committed) = committed else {
            l.markers_uncertain(riding);
            return Err(ReserveError::Unavailable(LedgerUnavailable(format!("no answer from ZooKeeper within {:?}", l.config.timeout))));
        };
        let results = match committed {
            Ok(r) => r,
            Err(zkc::MultiWriteError::OperationFailed { source: zkc::Error::BadVersion, .. }) => {
                if l.markers.lock().unwrap().failed(riding) {
                    l.schedule_marker_flush();
                }
                l.metrics.conflicts.inc();
                l.view.lock().unwrap().conflicted(self.version);
                return Err(ReserveError::Conflict);
            }
            Err(e) => {
                l.markers_uncertain(riding);
                let e = zk_error(e.into());
                l.down(e.0.clone());
                return Err(ReserveError::Unavailable(e));
            }
        };
        let created = results.into_iter().nth(1).and_then(|r| match r {
            zkc::MultiWriteResult::Create { path, .. } => path.rsplit_once("r-").and_then(|(_, seq)| seq.parse::<u64>().ok()),
            _ => None,
        });
        let seq = created.ok_or_else(|| ReserveError::Unavailable(LedgerUnavailable("ZooKeeper created no reservation".into())))?;
        let own = Known { write: Some(write), admitted_at_ms: stored.reservation.admitted_at_ms, answered_here_at_ms: None };
        // Known before the view lists it: a reservation listed but not known is not counted.
        l.known.lock().unwrap().insert(seq, own);
        let mut view = l.view.lock().unwrap();
        if view.reserved(self.version) {
            if let Err(at) = view.listing.reservations.binary_search(&seq) {
                view.listing.reservations.insert(at, seq);
            }
        }
        drop(view);
        *l.last_len.lock().unwrap() += 1;
        Ok(seq)
    }
}

#[async_trait]
impl Ledger for Arc<ZkLedger> {
    async fn begin(&self, q: PendingQuery) -> Result<Box<dyn LedgerDecision + '_>, LedgerUnavailable> {
        match self.begin_shared(q).await {
            Ok(d) => Ok(Box::new(d)),
            Err(e) if self.open => {
                self.metrics.degraded.inc();
                tracing::warn!(error = %e, "shared ledger unavailable: deciding on this replica's ledger alone (failure_policy = \"open\")");
                Ok(Box::new(LocalTickets(self.local.decision(q, Some(e.0)))))
            }
            Err(e) => Err(e),
        }
    }

    fn mark_answered(&self, ticket: u64, answered: Answered) {
        if ticket & LOCAL_TICKET != 0 {
            return self.local.mark_answered(ticket & !LOCAL_TICKET, answered);
        }
        let at = now_ms();
        if answered == Answered::Applied {
            if let Some(k) = self.known.lock().unwrap().get_mut(&ticket) {
                k.answered_here_at_ms.get_or_insert(at);
            }
        }
        if self.markers.lock().unwrap().push(format!("{}{ticket:010}-{at}", marker_prefix(answered))) {
            self.schedule_marker_flush();
        }
    }

    fn release(&self, ticket: u64) {
        if ticket & LOCAL_TICKET != 0 {
            return self.local.release(ticket & !LOCAL_TICKET);
        }
        // One guard: a second `lock()` in the same statement would wait for the first forever.
        let mut len = self.last_len.lock().unwrap();
        *len = len.saturating_sub(1);
        drop(len);
        // Out of this replica's count at once; the node leaves ZooKeeper in the background.
        self.view.lock().unwrap().listing.reservations.retain(|seq| *seq != ticket);
        self.known.lock().unwrap().remove(&ticket);
        // The version moves on with the deletion, so that the other replicas' watches fire and
        // their views stop counting it too.
        let version_node = self.version_node();
        self.spawn_zk("releasing a refused write", move |client, dir| {
            Box::pin(async move {
                let mut txn = client.new_multi_writer();
                txn.add_delete(&node(&dir, ticket), None)?;
                txn.add_set_data(&version_node, b"", None)?;
                match txn.commit().await {
                    Ok(_) | Err(zkc::MultiWriteError::OperationFailed { source: zkc::Error::NoNode, .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            })
        });
    }

    /// From the newest listing a decision read: a base built from it serves a later decision
    /// only where that decision's own read extends it (the bases compare tickets), so a stale
    /// listing costs a rebuild, never a wrong count.
    fn pending_known(&self, q: PendingQuery) -> Option<Vec<(u64, Write)>> {
        let view = self.view.lock().unwrap();
        Some(self.count(&view.listing, q))
    }

    fn len(&self) -> usize {
        *self.last_len.lock().unwrap() + self.local.len()
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.register(registry);
    }

    fn health(&self) -> Result<(), String> {
        match (self.last_error.lock().unwrap().as_ref(), self.open) {
            (Some(e), false) => Err(format!("shared ledger unavailable: {e}")),
            _ => Ok(()),
        }
    }
}

/// A local decision whose tickets are marked local.
struct LocalTickets<'a>(Box<dyn LedgerDecision + 'a>);

#[async_trait]
impl LedgerDecision for LocalTickets<'_> {
    fn pending(&self) -> &[(u64, Write)] {
        self.0.pending()
    }

    async fn reserve(&mut self, reservation: Reservation, write: Write) -> Result<u64, ReserveError> {
        Ok(self.0.reserve(reservation, write).await? | LOCAL_TICKET)
    }

    fn degraded(&self) -> Option<&str> {
        self.0.degraded()
    }
}

#[cfg(test)]
mod tests {
    use marathon_model::ops::Flavour;

    use super::*;

    #[test]
    fn the_table_is_read_and_checked() {
        let t: toml::Table = "zookeeper = \"zk1:2181,zk2:2181/marathon-admission/ledger/\"\ntimeout_ms = 500".parse().unwrap();
        let c = LedgerConfig::from_table(Some(&t)).unwrap();
        assert_eq!(c.zookeeper, Some(ZkLocation { hosts: "zk1:2181,zk2:2181".into(), path: "/marathon-admission/ledger".into() }));
        assert_eq!(c.timeout, Duration::from_millis(500));
        let with_digest: toml::Table = "zookeeper = \"zk1:2181/l\"\ndigest = \"admission:s3cr3t\"".parse().unwrap();
        let shown = format!("{:?}", LedgerConfig::from_table(Some(&with_digest)).unwrap());
        assert!(shown.contains("admission:<redacted>") && !shown.contains("s3cr3t"), "{shown}");
        let with_sasl: toml::Table = "zookeeper = \"zk1:2181/l\"\nsasl_digest_md5 = \"ledger:pa:ss\"".parse().unwrap();
        let c = LedgerConfig::from_table(Some(&with_sasl)).unwrap();
        assert_eq!(c.login, ZkLogin::new("ledger", None, Some("ledger:pa:ss".into())).unwrap());
        let shown = format!("{c:?}");
        assert!(shown.contains("ledger:<redacted>") && !shown.contains("pa:ss"), "{shown}");
        let with_kerberos: toml::Table = "zookeeper = \"zk1:2181/l\"\nsasl_gssapi = \"zookeeper/zk.example.com\"".parse().unwrap();
        let c = LedgerConfig::from_table(Some(&with_kerberos)).unwrap();
        assert_eq!(c.login, ZkLogin::default().with_kerberos("ledger", Some("zookeeper/zk.example.com".into())).unwrap());
        assert_eq!(LedgerConfig::from_table(None).unwrap().zookeeper, None);
        for bad in [
            "zookeeper = \"zk1:2181\"",
            "zookeeper = \"zk1/\"",
            "timeout_ms = 0",
            "digest = \"nocolon\"",
            "sasl_digest_md5 = \"nocolon\"",
            "zookeper = \"typo:1/x\"",
            "sasl_gssapi = \"zookeeper@EXAMPLE.COM\"",
            "sasl_gssapi = \"zookeeper\"\nsasl_digest_md5 = \"ledger:pw\"",
        ] {
            let t: toml::Table = bad.parse().unwrap();
            assert!(LedgerConfig::from_table(Some(&t)).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_listing_says_what_is_reserved_and_answered() {
        let names: Vec<String> = ["r-0000000003", "a-0000000003-1700000000123", "r-0000000001", "lock", "a-0000000009-17"].iter().map(|s| s.to_string()).collect();
        let l = list(&names);
        assert_eq!(l.reservations, vec![1, 3]);
        assert_eq!(l.answered.get(&3).map(|(at, how, _)| (*at, *how)), Some((1_700_000_000_123, Answered::Applied)));
        assert!(l.answered.contains_key(&9), "a marker without its reservation is listed, to be removed");
    }

    fn unreachable_ledger() -> Arc<ZkLedger> {
        let config = LedgerConfig {
            zookeeper: Some(ZkLocation { hosts: "127.0.0.1:1".into(), path: "/ledger".into() }),
            timeout: Duration::from_millis(100),
            session_timeout: Duration::from_secs(4),
            login: ZkLogin::default(),
        };
        ZkLedger::new(config, false)
    }

    /// A replica stops counting its own answered write as soon as its model synced after the
    /// answer (one clock, as a lone replica does), and another replica's once the skew has
    /// passed too; the nodes stay until they time out, for the replicas whose models lag.
    #[test]
    fn answers_leave_this_replicas_count_with_its_model_and_the_ledger_with_time() {
        let ledger = unreachable_ledger();
        let write = |app: &str| parse_write("PUT", &format!("/v2/apps/{app}"), None, br#"{"instances":2}"#, Flavour::V13).unwrap().unwrap();
        let now = now_ms();
        let skew = CLOCK_SKEW.as_millis() as u64;
        let answered_at = now - 100;
        for (seq, app, own) in [(1, "mine", true), (2, "theirs", false)] {
            let known = Known { write: Some(write(app)), admitted_at_ms: now - 200, answered_here_at_ms: own.then_some(answered_at) };
            ledger.known.lock().unwrap().insert(seq, known);
        }
        let names = [format!("r-{:010}", 1), format!("a-{:010}-{answered_at}", 1), format!("r-{:010}", 2), format!("a-{:010}-{answered_at}", 2)];
        let listing = list(&names);
        let query = |synced: u64| PendingQuery { model_synced_at_ms: Some(synced), timeout: Duration::from_secs(30), flavour: Flavour::V13 };

        let (pending, gone) = ledger.sort_out(HashMap::new(), &listing, query(answered_at - 1));
        assert_eq!(pending.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![1, 2], "a sync before the answer shows neither");
        assert!(gone.is_empty());

        let (pending, gone) = ledger.sort_out(HashMap::new(), &listing, query(answered_at + 1));
        assert_eq!(pending.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![2], "the own write is shown here; the other replica's is still counted");
        assert!(gone.is_empty(), "nothing leaves the shared ledger before the skew: {gone:?}");

        let (pending, gone) = ledger.sort_out(HashMap::new(), &listing, query(answered_at + skew + 1));
        assert!(pending.is_empty(), "this replica's model shows both");
        assert!(gone.is_empty(), "a replica whose model lags still counts them from the nodes: {gone:?}");

        let timed_out = PendingQuery { model_synced_at_ms: Some(answered_at - 1), timeout: Duration::from_millis(50), flavour: Flavour::V13 };
        let (pending, gone) = ledger.sort_out(HashMap::new(), &listing, timed_out);
        assert!(pending.is_empty(), "answered longer ago than the timeout");
        assert_eq!(gone.len(), 4, "both reservations and their markers leave: {gone:?}");
    }

    /// A write whose outcome is unknown (`u-` marker) is counted through any sync, on the replica
    /// that forwarded it and on the others, until it times out.
    #[test]
    fn a_write_whose_outcome_is_unknown_leaves_the_count_only_with_time() {
        let ledger = unreachable_ledger();
        let write = parse_write("PUT", "/v2/apps/late", None, br#"{"instances":2}"#, Flavour::V13).unwrap().unwrap();
        let now = now_ms();
        let answered_at = now - 100;
        ledger.known.lock().unwrap().insert(1, Known { write: Some(write), admitted_at_ms: now - 200, answered_here_at_ms: None });
        let listing = list(&[format!("r-{:010}", 1), format!("u-{:010}-{answered_at}", 1)]);
        assert_eq!(listing.answered.get(&1).map(|(at, how, _)| (*at, *how)), Some((answered_at, Answered::Unknown)));
        let synced_later = PendingQuery { model_synced_at_ms: Some(now + 10_000), timeout: Duration::from_secs(30), flavour: Flavour::V13 };
        let (pending, gone) = ledger.sort_out(HashMap::new(), &listing, synced_later);
        assert_eq!(pending.len(), 1, "a sync after the answer proves nothing");
        assert!(gone.is_empty());
        let timed_out = PendingQuery { timeout: Duration::from_millis(50), ..synced_later };
        let (pending, gone) = ledger.sort_out(HashMap::new(), &listing, timed_out);
        assert!(pending.is_empty(), "answered longer ago than the timeout");
        assert_eq!(gone.len(), 2, "the reservation and its marker leave: {gone:?}");
    }

    /// What a sync's look-ahead counts from the newest listing read is what a decision on that
    /// root would count from the same listing, and it prunes nothing.
    #[test]
    fn the_look_ahead_counts_as_a_decision_would_and_prunes_nothing() {
        let ledger = unreachable_ledger();
        let write = |app: &str| parse_write("PUT", &format!("/v2/apps/{app}"), None, br#"{"instances":2}"#, Flavour::V13).unwrap().unwrap();
        let now = now_ms();
        let skew = CLOCK_SKEW.as_millis() as u64;
        let answered_at = now - 100;
        for (seq, app, own) in [(1, "mine", true), (2, "theirs", false), (3, "in-flight", false)] {
            let known = Known { write: Some(write(app)), admitted_at_ms: now - 200, answered_here_at_ms: own.then_some(answered_at) };
            ledger.known.lock().unwrap().insert(seq, known);
        }
        let names: Vec<String> =
            vec![format!("r-{:010}", 1), format!("a-{:010}-{answered_at}", 1), format!("r-{:010}", 2), format!("a-{:010}-{answered_at}", 2), format!("r-{:010}", 3)];
        ledger.view.lock().unwrap().read(0, list(&names), Instant::now());
        let query = |synced: u64| PendingQuery { model_synced_at_ms: Some(synced), timeout: Duration::from_secs(30), flavour: Flavour::V13 };
        let seqs = |p: Option<Vec<(u64, Write)>>| p.unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>();
        assert_eq!(seqs(ledger.pending_known(query(answered_at - 1))), vec![1, 2, 3]);
        assert_eq!(seqs(ledger.pending_known(query(answered_at + 1))), vec![2, 3], "the own answered write is shown here");
        assert_eq!(seqs(ledger.pending_known(query(answered_at + skew + 1))), vec![3]);
        assert_eq!(ledger.known.lock().unwrap().len(), 3, "nothing pruned by a look-ahead");
        let (pending, _) = ledger.sort_out(HashMap::new(), &list(&names), query(answered_at + skew + 1));
        assert_eq!(pending.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![3], "the decision's count from the same listing");
    }

    /// A ledger whose bounds on ZooKeeper are far above what these tests wait for: they test
    /// views and markers, not timeouts, and a server on a machine busy with the whole suite once
    /// took over 5 s to answer a read.
    fn shared_ledger(zk: &marathon_sim::testing::ZooKeeper) -> Arc<ZkLedger> {
        let location = ZkLocation { hosts: zk.connect_string(), path: "/views".into() };
        let config = LedgerConfig { zookeeper: Some(location), timeout: Duration::from_secs(20), session_timeout: Duration::from_secs(40), login: ZkLogin::default() };
        let ledger = ZkLedger::new(config, false);
        ledger.spawn_keepalive();
        ledger
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn reserve(ledger: &Arc<ZkLedger>, app: &str) -> Result<u64, ReserveError> {
        let body = br#"{"instances":2}"#;
        let path = format!("/v2/apps/{app}");
        let write = parse_write("PUT", &path, None, body, Flavour::V13).unwrap().unwrap();
        let mut decision = ledger.begin(QUERY).await.unwrap();
        decision.reserve(Reservation::new("PUT", &path, None, body), write).await
    }

    async fn pending(ledger: &Arc<ZkLedger>) -> Vec<u64> {
        ledger.begin(QUERY).await.unwrap().pending().iter().map(|(s, _)| *s).collect()
    }

    const QUERY: PendingQuery = PendingQuery { model_synced_at_ms: None, timeout: Duration::from_secs(30), flavour: Flavour::V13 };

    /// A replica decides on its view without reading ZooKeeper while no other replica admitted
    /// anything, counts what another admitted once its watch fired, and a view that went stale
    /// before the watch told it costs a conflict, never a write recorded on a wrong count.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_view_is_taken_until_another_replica_admits_and_a_stale_one_cannot_record() {
        let zk = marathon_sim::testing::ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
        let (a, b) = (shared_ledger(&zk), shared_ledger(&zk));
        let taken = |l: &Arc<ZkLedger>| l.metrics.views_taken.get();
        assert!(pending(&b).await.is_empty());
        until("b's watch is set", || b.view.lock().unwrap().current().is_some()).await;
        let before = taken(&b);
        assert!(pending(&b).await.is_empty());
        assert_eq!(taken(&b), before + 1, "nothing changed: the view is taken");

        let x = reserve(&a, "x").await.unwrap();
        until("b's watch fires", || b.view.lock().unwrap().current().is_none()).await;
        assert_eq!(pending(&b).await, vec![x], "read again, with a's write");
        let y = reserve(&b, "y").await.unwrap();
        until("b's view is current again", || b.view.lock().unwrap().current().is_some()).await;
        let before = taken(&b);
        assert_eq!(pending(&b).await, vec![x, y], "b's own write is in its view");
        assert_eq!(taken(&b), before + 1);

        // a's view is behind b's write; pretend its watch has not told it yet.
        let now_at = b.view.lock().unwrap().version();
        until("a's watch is set again after b's write", || a.view.lock().unwrap().watched_at() == now_at).await;
        let (stale, at) = {
            let view = a.view.lock().unwrap();
            (view.listing.reservations.clone(), view.version())
        };
        assert_eq!(stale, vec![x]);
        a.view.lock().unwrap().watched(at);
        assert_eq!(pending(&a).await, vec![x], "the stale view is taken");
        assert!(matches!(reserve(&a, "z").await, Err(ReserveError::Conflict)), "but nothing is recorded from it");
        assert_eq!(pending(&a).await, vec![x, y], "after the conflict, a reads the ledger");
        let z = reserve(&a, "z").await.unwrap();
        until("b's watch fires again", || b.view.lock().unwrap().current().is_none()).await;
        assert_eq!(pending(&b).await, vec![x, y, z]);

        // A refused write leaves the count at once, and the ledger, whose version moves on.
        until("b's view is current again", || b.view.lock().unwrap().current().is_some()).await;
        a.release(z);
        assert_eq!(pending(&a).await, vec![x, y]);
        until("b's watch fires on the release", || b.view.lock().unwrap().current().is_none()).await;
        assert_eq!(pending(&b).await, vec![x, y]);
    }

    /// An answer's marker is written in the transaction of the replica's next reservation (one
    /// log sync for both); with no reservation to ride with, it is written alone soon after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_marker_rides_with_the_next_reservation_or_goes_alone_soon_after() {
        let zk = marathon_sim::testing::ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
        let ledger = shared_ledger(&zk);
        let client = zkc::Client::connect(&zk.connect_string()).await.unwrap();
        let dir = ledger.reservations_dir();
        let created_in = |path: String| {
            let client = client.clone();
            async move { client.check_stat(&path).await.unwrap().map(|stat| stat.czxid) }
        };
        let marker_of = |seq: u64| {
            let (client, dir) = (client.clone(), dir.clone());
            async move {
                let children = client.get_children(&dir).await.unwrap().0;
                children.into_iter().find(|name| name.starts_with(&format!("a-{seq:010}-"))).map(|name| format!("{dir}/{name}"))
            }
        };

        let x = reserve(&ledger, "x").await.unwrap();
        ledger.mark_answered(x, Answered::Applied);
        let y = reserve(&ledger, "y").await.unwrap();
        let marker = marker_of(x).await.expect("x's marker is written by the time y's reservation is");
        assert_eq!(created_in(marker).await, created_in(node(&dir, y)).await, "in the same transaction");

        ledger.mark_answered(y, Answered::Applied);
        let deadline = Instant::now() + Duration::from_secs(10);
        let marker = loop {
            if let Some(m) = marker_of(y).await {
                break m;
            }
            assert!(Instant::now() < deadline, "y's marker was never written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_ne!(created_in(marker).await, created_in(node(&dir, y)).await);
        assert!(ledger.markers.lock().unwrap().take_for_flush().is_empty(), "nothing left to write");
    }

    /// A write Marathon refused leaves the count it was charged to, and the call returns: the
    /// count used to be locked twice in one statement, which blocked the worker thread (and with
    /// it every decision of the replica) for good.
    #[test]
    fn releasing_a_refused_write_returns_and_uncounts_it() {
        let ledger = unreachable_ledger();
        *ledger.last_len.lock().unwrap() = 2;
        let (tx, rx) = std::sync::mpsc::channel();
        let l = ledger.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let _in_runtime = rt.enter();
            l.release(7);
            tx.send(l.len()).unwrap();
        });
        let len = rx.recv_timeout(Duration::from_secs(60)).expect("release() never returned");
        assert_eq!(len, 1);
    }
}
