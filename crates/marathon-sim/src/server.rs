//! The HTTP side: hyper 1 server, routing of Marathon's v2 surface, reads, and `/v2/events`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use marathon_model::ops::endpoints::WriteKind;
use marathon_model::ops::{self, ChangeError, Flavour, Query};
use marathon_model::{App, PathId};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::authenticate::Authenticator;
use crate::events::Filter;
use crate::render;
use crate::state::{Answer, Sim};

type ResBody = BoxBody<Bytes, Infallible>;

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    sim: Arc<Sim>,
    auth: Arc<Authenticator>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let sim = sim.clone();
                let auth = auth.clone();
                let mut stop = shutdown.clone();
                tokio::spawn(async move {
                    let svc_stop = stop.clone();
                    let svc = hyper::service::service_fn(move |req| {
                        handle(sim.clone(), auth.clone(), peer, req, svc_stop.clone())
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
                        }
                    }
                });
            }
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into()).boxed()
}

fn json_response(status: u16, body: &Value) -> Response<ResBody> {
    json_text_response(status, serde_json::to_vec(body).unwrap_or_default())
}

fn json_text_response(status: u16, json: Vec<u8>) -> Response<ResBody> {
    let mut r = Response::new(full(json));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; qs=2"));
    r
}

fn answer(a: Answer) -> Response<ResBody> {
    let mut r = match &a.body {
        Some(body) => json_response(a.status, body),
        None => {
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
            r
        }
    };
    for (k, v) in a.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn not_found(path: &str) -> Response<ResBody> {
    json_response(404, &json!({"message": format!("URI not found: {path}")}))
}

fn error(err: &ChangeError) -> Response<ResBody> {
    json_response(err.status(), &err.body())
}

async fn handle(
    sim: Arc<Sim>,
    auth: Arc<Authenticator>,
    peer: SocketAddr,
    req: Request<Incoming>,
    shutdown: watch::Receiver<bool>,
) -> Result<Response<ResBody>, Infallible> {
    sim.counters.requests.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    // Reads are routed on the wide reading of the path (writes, below, exactly as Marathon).
    let path = format!("/{}", ops::request_path::normalized_segments(req.uri().path()).join("/"));
    let raw_query = req.uri().query().map(str::to_string);
    let uri = req.uri().path().to_string();
    let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    // One gate in front of all routing (reads, writes, `/v2/events`), answered before anything
    // Marathon-side runs, as Jetty's security handler or Admin Router would.
    if auth.is_login(&path) {
        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Ok(auth.login(&method, &body));
    }
    match auth.authenticate(&path, &uri, req.headers()) {
        Ok(identity) => tracing::trace!(?identity, "authenticated"),
        Err(refusal) => return Ok(*refusal),
    }
    let mut response = if path == "/v2/events" && method == Method::GET {
        events(&sim, &accept, Query::parse(raw_query.as_deref()), shutdown)
    } else {
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return Ok(json_response(400, &json!({"message": "could not read the request body"}))),
        };
        route(&sim, &method, &path, raw_query.as_deref(), &body, &accept, &peer.ip().to_string(), &uri).await
    };
    if let Ok(v) = HeaderValue::from_str(&format!("http://{}", sim.http_addr.lock().unwrap())) {
        response.headers_mut().insert("X-Marathon-Leader", v);
    }
    Ok(response)
}

#[allow(clippy::too_many_arguments)]
async fn route(
    sim: &Arc<Sim>,
    method: &Method,
    path: &str,
    raw_query: Option<&str>,
    body: &[u8],
    accept: &str,
    client_ip: &str,
    uri: &str,
) -> Response<ResBody> {
    let q = Query::parse(raw_query);
    let flavour = sim.flavour;
    let trimmed = path;

    // Writes first, routed exactly as Marathon routes them: whatever it would persist goes
    // through the pipeline.
    if let Some(m) = ops::endpoints::match_as_marathon(method.as_str(), uri) {
        if let (WriteKind::DeleteDeployment, Some(id), true) = (m.kind, &m.param, q.flag("force", false)) {
            return answer(sim.cancel_deployment(id).await);
        }
        match ops::parse_matched(&m, raw_query, body, flavour) {
            Err(err) => return error(&err),
            Ok(Some(w)) => return answer(sim.write(w, client_ip, uri).await),
            Ok(None) => {}
        }
    }

    match (method.as_str(), trimmed) {
        ("GET", "/ping") => {
            if flavour == Flavour::V14 && accept.contains("application/json") {
                return json_response(200, &json!("pong"));
            }
            let mut r = Response::new(full("pong\n"));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            r
        }
        ("GET", "/metrics") => json_response(200, &metrics(sim)),
        ("GET", "/v2/info") => json_response(200, &render::info(sim)),
        ("GET", "/v2/leader") => json_response(200, &json!({"leader": sim.http_addr.lock().unwrap().clone()})),
        ("DELETE", "/v2/leader") => json_response(200, &json!({"message": "Leadership abdicated"})),
        ("GET", "/v2/deployments") => {
            json_response(200, &Value::Array(sim.deployments().iter().map(render::deployment).collect()))
        }
        ("GET", "/v2/queue") => json_response(200, &json!({"queue": []})),
        ("GET", "/v2/eventSubscriptions") => json_response(200, &json!({"callbackUrls": []})),
        ("GET", "/v2/tasks") => {
            let root = sim.root();
            let tasks: Vec<Value> = root.transitive_apps().iter().flat_map(|a| tasks_of(&a.app())).collect();
            json_response(200, &json!({ "tasks": tasks }))
        }
        ("POST", "/v2/tasks/delete") => {
            // Without scale: tasks are "killed" and come back; nothing is persisted. The body is
            // still read as Marathon reads it.
            match ops::kills_of_tasks(body) {
                Ok(_) => json_response(200, &json!({"tasks": []})),
                Err(err) => error(&err),
            }
        }
        ("GET", "/v2/apps") => get_apps(sim, &q),
        ("GET", "/v2/groups") => get_group(sim, &PathId::root(), &q),
        ("GET", "/v2/groups/versions") => json_response(200, &json!(sim.root_versions())),
        ("GET", "/v2/pods") if flavour == Flavour::V14 => {
            let root = sim.root();
            let pods: Vec<Value> = root
                .transitive_groups()
                .iter()
                .flat_map(|g| g.pods().iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)))
                .collect();
            json_response(200, &Value::Array(pods))
        }
        ("DELETE", p) if p.starts_with("/v2/deployments/") => {
            // Reached only when the revert is not a write (unknown id handled in the pipeline).
            error(&ChangeError::UnknownDeployment(p["/v2/deployments/".len()..].to_string()))
        }
        (m, p) if p.starts_with("/v2/apps/") => app_subresource(sim, m, &p["/v2/apps/".len()..]),
        ("GET", p) if p.starts_with("/v2/groups/") => {
            let rest = &p["/v2/groups/".len()..];
            // `versions/{v}`: the root as stored at that version (Marathon's GetRootVersionRE).
            if let Some(ver) = rest.strip_prefix("versions/") {
                return match sim.root_at(ver) {
                    Some(root) => json_text_response(200, sim.group_json(&root, true, true)),
                    None => error(&ChangeError::UnknownGroup(PathId::root())),
                };
            }
            if let Some(gid) = rest.strip_suffix("/versions") {
                let id = PathId::resolve(gid, &PathId::root());
                if sim.root().find_group(&id).is_none() {
                    return error(&ChangeError::UnknownGroup(id));
                }
                return json_response(200, &json!(sim.root_versions()));
            }
            if let Some((gid, ver)) = rest.split_once("/versions/") {
                let id = PathId::resolve(gid, &PathId::root());
                return match sim.root_at(ver).and_then(|r| r.find_group(&id).cloned()) {
                    Some(g) => json_text_response(200, sim.group_json(&g, true, true)),
                    None => error(&ChangeError::UnknownGroup(id)),
                };
            }
            get_group(sim, &PathId::resolve(rest, &PathId::root()), &q)
        }
        ("GET", p) if p.starts_with("/v2/pods/") && flavour == Flavour::V14 => {
            let rest = &p["/v2/pods/".len()..];
            let id = PathId::resolve(rest.split("::").next().unwrap_or(rest), &PathId::root());
            match sim.root().find_pod(&id) {
                Some(pod) => json_response(200, &serde_json::to_value(pod).unwrap_or(Value::Null)),
                None => error(&ChangeError::UnknownPod(id)),
            }
        }
        _ => not_found(path),
    }
}

/// Tasks the simulator pretends are running: `instances` of them, on 127.0.0.1.
fn tasks_of(app: &App) -> Vec<Value> {
    let id = app.id.clone().unwrap_or_default();
    let safe = PathId::parse(&id).safe_path();
    let version = app.version.clone().unwrap_or_default();
    (0..app.instances())
        .map(|i| {
            json!({
                "id": format!("{safe}.{i:08x}-0000-4000-8000-000000000000"),
                "appId": id,
                "host": "127.0.0.1",
                "ports": app.ports.clone().unwrap_or_default(),
                "startedAt": version,
                "stagedAt": version,
                "version": version,
                "slaveId": "marathon-sim-agent",
            })
        })
        .collect()
}

fn app_with_counts(sim: &Sim, app: &App, deployments: &[crate::state::Deployment]) -> Value {
    let mut v = render::app(app, sim.flavour);
    let id = PathId::parse(app.id.as_deref().unwrap_or("/"));
    let ds: Vec<Value> = deployments.iter().filter(|d| d.affected.contains(&id)).map(|d| json!({"id": d.id})).collect();
    let running = if ds.is_empty() { app.instances() } else { 0 };
    let healthy = if app.health_checks.as_ref().is_some_and(|h| !h.is_empty()) { running } else { 0 };
    if let Value::Object(m) = &mut v {
        m.insert("tasksStaged".into(), json!(0));
        m.insert("tasksRunning".into(), json!(running));
        m.insert("tasksHealthy".into(), json!(healthy));
        m.insert("tasksUnhealthy".into(), json!(0));
        m.insert("deployments".into(), Value::Array(ds));
    }
    v
}

fn get_apps(sim: &Arc<Sim>, q: &Query) -> Response<ResBody> {
    let root = sim.root();
    let deployments = sim.deployments();
    let id_filter = q.get("id").map(str::to_lowercase);
    let cmd_filter = q.get("cmd").map(str::to_lowercase);
    let apps: Vec<Value> = sim
        .app_list(root.transitive_apps())
        .into_iter()
        .filter(|a| id_filter.as_ref().is_none_or(|f| a.id().unwrap_or("").to_lowercase().contains(f)))
        .filter(|a| cmd_filter.as_ref().is_none_or(|f| a.app().cmd.as_deref().unwrap_or("").to_lowercase().contains(f)))
        .map(|a| app_with_counts(sim, &a.app(), &deployments))
        .collect();
    json_response(200, &json!({ "apps": apps }))
}

fn get_group(sim: &Arc<Sim>, id: &PathId, q: &Query) -> Response<ResBody> {
    let root = sim.root();
    let Some(g) = root.find_group(id) else { return error(&ChangeError::UnknownGroup(id.clone())) };
    let embeds = q.all("embed");
    let (apps, groups) = if embeds.is_empty() {
        (true, true)
    } else {
        (embeds.iter().any(|e| e.starts_with("group.apps")), embeds.contains(&"group.groups"))
    };
    json_text_response(200, sim.group_json(g, apps, groups))
}

fn app_subresource(sim: &Arc<Sim>, method: &str, rest: &str) -> Response<ResBody> {
    let root = sim.root();
    if let Some(app_part) = rest.strip_suffix("/tasks") {
        let id = PathId::resolve(app_part, &PathId::root());
        let Some(app) = root.find_app(&id) else { return error(&ChangeError::UnknownApp(id)) };
        return match method {
            "GET" | "DELETE" => json_response(200, &json!({"tasks": tasks_of(&app.app())})),
            _ => not_found(rest),
        };
    }
    if let Some((app_part, task)) = rest.rsplit_once("/tasks/") {
        let id = PathId::resolve(app_part, &PathId::root());
        let Some(app) = root.find_app(&id) else { return error(&ChangeError::UnknownApp(id)) };
        let found = tasks_of(&app.app()).into_iter().find(|t| t["id"] == task);
        return match (method, found) {
            ("GET", Some(t)) | ("DELETE", Some(t)) => json_response(200, &json!({"task": t})),
            _ => json_response(404, &json!({"message": format!("Task '{task}' does not exist")})),
        };
    }
    if method != "GET" {
        return not_found(rest);
    }
    if let Some(app_part) = rest.strip_suffix("/versions") {
        let id = PathId::resolve(app_part, &PathId::root());
        if root.find_app(&id).is_none() {
            return error(&ChangeError::UnknownApp(id));
        }
        return json_response(200, &json!({"versions": sim.app_versions(&id)}));
    }
    if let Some((app_part, ver)) = rest.rsplit_once("/versions/") {
        let id = PathId::resolve(app_part, &PathId::root());
        return match sim.app_at(&id, ver) {
            Some(app) => json_response(200, &render::app(&app, sim.flavour)),
            None => error(&ChangeError::NotFound(format!("App '{id}' does not exist in version {ver}"))),
        };
    }
    let id = PathId::resolve(rest, &PathId::root());
    match root.find_app(&id) {
        Some(app) => {
            let deployments = sim.deployments();
            let app = app.app();
            let mut v = app_with_counts(sim, &app, &deployments);
            v["tasks"] = json!(tasks_of(&app));
            json_response(200, &json!({ "app": v }))
        }
        None => {
            // `GET /v2/apps/{group}/*` lists a group's apps.
            if let Some(prefix) = rest.strip_suffix("/*") {
                let gid = PathId::resolve(prefix, &PathId::root());
                let deployments = sim.deployments();
                let in_group: Vec<_> = root
                    .transitive_apps()
                    .into_iter()
                    .filter(|a| gid.includes(&PathId::parse(a.id().unwrap_or("/"))))
                    .collect();
                let apps: Vec<Value> =
                    sim.app_list(in_group).into_iter().map(|a| app_with_counts(sim, &a.app(), &deployments)).collect();
                return json_response(200, &json!({ "*": apps }));
            }
            error(&ChangeError::UnknownApp(id))
        }
    }
}

fn metrics(sim: &Sim) -> Value {
    let c = &sim.counters;
    let store = match sim.store.layout {
        crate::persisted::Layout::Legacy if sim.flavour == Flavour::V13 => "service.mesosphere.marathon.state.MarathonStore",
        crate::persisted::Layout::Legacy => "service.mesosphere.marathon.storage.repository.legacy.store.MarathonStore",
        crate::persisted::Layout::V14 => "service.mesosphere.marathon.core.storage.store.impl.zk.ZkPersistenceStore",
    };
    json!({
        "version": "3.0.0",
        "gauges": {
            "service.mesosphere.marathon.app.count": {"value": sim.root().transitive_apps().len()},
            "service.mesosphere.marathon.deployments.active": {"value": sim.deployments().len()},
            "marathon-sim.events.subscribers": {"value": sim.events.subscribers()},
        },
        "counters": {
            "marathon-sim.requests": {"count": c.requests.load(Ordering::Relaxed)},
            "marathon-sim.writes": {"count": c.writes.load(Ordering::Relaxed)},
            "marathon-sim.rejected.zk-node-size": {"count": c.rejected_size.load(Ordering::Relaxed)},
            "marathon-sim.zk.failures": {"count": c.zk_failures.load(Ordering::Relaxed)},
        },
        "histograms": {
            format!("{store}.DeploymentPlan.write-data-size"): {"count": c.writes.load(Ordering::Relaxed), "max": c.last_plan_bytes.load(Ordering::Relaxed)},
            format!("{store}.Group.write-data-size"): {"count": c.writes.load(Ordering::Relaxed), "max": c.last_root_bytes.load(Ordering::Relaxed)},
        },
        "meters": {},
        "timers": {},
    })
}

/// A body fed from a channel (the SSE stream).
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn events(sim: &Arc<Sim>, accept: &str, q: Query, mut shutdown: watch::Receiver<bool>) -> Response<ResBody> {
    if !accept.contains("text/event-stream") {
        return json_response(405, &json!({"message": "HTTP method GET is not supported by this URL"}));
    }
    let filter = Filter(q.all("event_type").into_iter().map(str::to_string).collect());
    let mut sub = sim.events.subscribe(filter);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let remote = sim.http_addr.lock().unwrap().clone();
    let attached = crate::events::Event::new(
        "event_stream_attached",
        {
            let mut m = serde_json::Map::new();
            m.insert("remoteAddress".into(), json!(remote));
            m
        },
        &marathon_model::Timestamp::now().to_joda(),
    );
    tokio::spawn(async move {
        if sub.filter.accepts("event_stream_attached") && tx.send(attached.frame()).await.is_err() {
            return;
        }
        let mut heartbeat = tokio::time::interval(Duration::from_secs(10));
        heartbeat.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = heartbeat.tick() => {
                    if tx.send(Bytes::from_static(b"\r\n")).await.is_err() { break; }
                }
                ev = sub.rx.recv() => match ev {
                    Ok(ev) => {
                        if sub.filter.accepts(&ev.event_type) && tx.send(ev.frame()).await.is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(n, "event stream lagged; events dropped");
                    }
                    Err(_) => break,
                },
            }
        }
    });
    let mut r = Response::new(ChannelBody { rx }.boxed());
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream;charset=utf-8"));
    r.headers_mut().insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

