//! A fake Marathon on 127.0.0.1:0: records every request, answers the few routes the tests need
//! (leader, apps, writes, events, and faults on purpose: slow, broken, chunked, redirecting).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinSet;

use super::{BoxError, TestBody};

/// What the fake Marathon received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    /// None when the body broke off before its end.
    pub body: Option<Bytes>,
}

pub struct FakeState {
    pub name: String,
    pub leader: Mutex<Option<String>>,
    pub requests: Mutex<Vec<Recorded>>,
    pub events: broadcast::Sender<String>,
    /// Number of event streams currently open on the fake.
    pub open_streams: Mutex<usize>,
    /// When set, /v2/apps (GET) answers 302 to this absolute URL.
    pub redirect_apps_to: Mutex<Option<String>>,
}

pub struct FakeMarathon {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeMarathon {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.uri.starts_with(path))
            .collect()
    }
    pub fn set_leader(&self, l: Option<String>) {
        *self.state.leader.lock().unwrap() = l;
    }
    pub fn emit(&self, frame: &str) -> usize {
        self.state.events.send(frame.to_owned()).unwrap_or(0)
    }
    pub fn open_streams(&self) -> usize {
        *self.state.open_streams.lock().unwrap()
    }
    /// Stops accepting and closes every connection.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }
    async fn stop_inner(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for FakeMarathon {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn resp(status: u16, ctype: &str, body: impl Into<Bytes>) -> Response<TestBody> {
    Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(body.into()).map_err(|e| match e {}).boxed())
        .unwrap()
}

async fn handle(state: Arc<FakeState>, req: Request<Incoming>) -> Result<Response<TestBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let uri = parts.uri.to_string();
    let path = parts.uri.path().to_owned();
    if path == "/v2/leader" {
        return Ok(match state.leader.lock().unwrap().clone() {
            Some(l) => resp(200, "application/json", serde_json::json!({"leader": l}).to_string()),
            None => resp(404, "application/json", r#"{"message":"There is no leader"}"#),
        });
    }
    if path == "/v2/events" {
        state.requests.lock().unwrap().push(Recorded {
            method: parts.method.clone(),
            uri: uri.clone(),
            headers: parts.headers.clone(),
            body: Some(Bytes::new()),
        });
        let mut rx = state.events.subscribe();
        let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
        *state.open_streams.lock().unwrap() += 1;
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tx.closed() => break,
                    m = rx.recv() => match m {
                        Ok(m) => if tx.send(Ok(Frame::data(Bytes::from(m)))).await.is_err() { break },
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    }
                }
            }
            *st.open_streams.lock().unwrap() -= 1;
        });
        let stream = tokio_stream_from(body_rx);
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "text/event-stream;charset=utf-8")
            .header("connection", "close")
            .body(StreamBody::new(stream).boxed())
            .unwrap());
    }
    // Collect the body (recording a broken one as None).
    let body = body.collect().await.ok().map(|c| c.to_bytes());
    let broken = body.is_none();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.clone(),
        uri: uri.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if broken {
        return Ok(resp(400, "application/json", r#"{"message":"broken body"}"#));
    }
    let body = body.unwrap();
    let r = match (parts.method.clone(), path.as_str()) {
        (_, "/ping") => resp(200, "text/plain", "pong"),
        (Method::GET, "/v2/apps") | (Method::HEAD, "/v2/apps") => {
            if let Some(to) = state.redirect_apps_to.lock().unwrap().clone() {
                return Ok(Response::builder()
                    .status(302)
                    .header("location", to)
                    .body(Full::new(Bytes::new()).map_err(|e| match e {}).boxed())
                    .unwrap());
            }
            let mut r = resp(200, "application/json", apps_json(3, &state.name));
            r.headers_mut().insert("x-marathon-leader", format!("http://{}", state.leader.lock().unwrap().clone().unwrap_or_default()).parse().unwrap());
            r.headers_mut().insert("set-cookie", "mesosphere_server_id=abc; Path=/".parse().unwrap());
            r.headers_mut().insert("x-served-by", state.name.parse().unwrap());
            r
        }
        (Method::POST, "/v2/apps") => {
            let mut r = resp(201, "application/json", body.clone());
            r.headers_mut().insert("location", "/v2/apps/web".parse().unwrap());
            r.headers_mut().insert("marathon-deployment-id", "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43".parse().unwrap());
            r
        }
        (Method::PUT, p) | (Method::PATCH, p) | (Method::DELETE, p) if p.starts_with("/v2/") => {
            let mut r = resp(200, "application/json", r#"{"version":"2024-01-01T00:00:00.000Z","deploymentId":"5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}"#);
            r.headers_mut().insert("marathon-deployment-id", "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43".parse().unwrap());
            r
        }
        (_, "/echo") => {
            let mut h = serde_json::Map::new();
            for (k, v) in parts.headers.iter() {
                h.insert(k.as_str().to_owned(), v.to_str().unwrap_or("").into());
            }
            resp(200, "application/json", serde_json::json!({"method": parts.method.as_str(), "uri": uri, "headers": h, "body_len": body.len()}).to_string())
        }
        (_, "/big") => resp(200, "application/octet-stream", vec![b'x'; 1 << 20]),
        (_, "/chunked") => {
            let frames: Vec<Result<Frame<Bytes>, BoxError>> = (0..5)
                .map(|i| Ok(Frame::data(Bytes::from(format!("chunk-{i};")))))
                .collect();
            Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .body(StreamBody::new(futures_util::stream::iter(frames)).boxed())
                .unwrap()
        }
        (_, "/delay") => {
            let ms: u64 = parts
                .uri
                .query()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            // A Marathon this slow, on purpose (requests in flight for a while).
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp(200, "text/plain", "done")
        }
        (_, "/slow") => {
            // Longer than any response timeout the tests configure.
            tokio::time::sleep(Duration::from_secs(30)).await;
            resp(200, "text/plain", "late")
        }
        (_, "/reset") => {
            // Announces 100000 bytes, sends 10, then breaks the connection.
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(Bytes::from_static(b"0123456789")))).await;
                // The break comes mid-body, after a first part, as a real one does.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tx.send(Err("simulated reset".into())).await;
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .header("content-length", "100000")
                .body(StreamBody::new(tokio_stream_from(rx)).boxed())
                .unwrap()
        }
        _ => resp(404, "application/json", format!("{{\"message\":\"App '{path}' does not exist\"}}")),
    };
    Ok(r)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Frame<Bytes>, BoxError>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub fn apps_json(n: usize, who: &str) -> String {
    let apps: Vec<_> = (0..n)
        .map(|i| serde_json::json!({"id": format!("/prod/app-{i}"), "cmd": "sleep 1000", "cpus": 0.1, "mem": 64, "instances": 1, "env": {"SERVED_BY": who}, "labels": {}}))
        .collect();
    serde_json::json!({ "apps": apps }).to_string()
}

/// Starts a fake Marathon on 127.0.0.1:0 (plain HTTP, or HTTPS with `tls`).
pub async fn fake_marathon(name: &str, tls: Option<Arc<rustls::ServerConfig>>) -> FakeMarathon {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (events, _) = broadcast::channel(64);
    let state = Arc::new(FakeState {
        name: name.to_owned(),
        leader: Mutex::new(Some(addr.to_string())),
        requests: Mutex::new(Vec::new()),
        events,
        open_streams: Mutex::new(0),
        redirect_apps_to: Mutex::new(None),
    });
    let (stop, mut stop_rx) = oneshot::channel::<()>();
    let st = state.clone();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                a = listener.accept() => {
                    let Ok((tcp, _)) = a else { continue };
                    let st = st.clone();
                    let acceptor = acceptor.clone();
                    conns.spawn(async move {
                        let svc = service_fn(move |req| handle(st.clone(), req));
                        let builder = hyper::server::conn::http1::Builder::new();
                        match acceptor {
                            None => { let _ = builder.serve_connection(TokioIo::new(tcp), svc).await; }
                            Some(a) => {
                                if let Ok(s) = a.accept(tcp).await {
                                    let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                                }
                            }
                        }
                    });
                }
            }
        }
        conns.shutdown().await;
    });
    FakeMarathon {
        addr,
        state,
        stop: Some(stop),
        task: Some(task),
    }
}

