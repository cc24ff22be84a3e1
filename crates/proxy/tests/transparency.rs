//! Same bytes directly and through the proxy; the request reaches Marathon as sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use proxy::test_util::*;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use proxy::{Flow, RequestCtx, RequestPhases, RequestSummary, WriteRequest};

/// Headers that legitimately differ between a direct and a proxied response.
/// The headers to compare; `server` (the base URL the client talked to) reads as `SERVER`: the
/// proxy names itself where Marathon named itself (`X-Marathon-Leader`, `Location`).
fn comparable(h: &HeaderMap, server: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = h
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "connection" | "keep-alive" | "transfer-encoding"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").replace(server, "SERVER")))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn same_status_headers_and_bodies_direct_and_through_proxy() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    wait_ready(&p).await;
    let c = client();
    let app = r#"{"id":"/prod/web","cmd":"sleep 1000","env":{"A":"b"}}"#;
    let cases: Vec<(&str, &str, &str)> = vec![
        ("GET", "/v2/apps?embed=apps.tasks&embed=apps.counts&label=a%3Db", ""),
        ("GET", "/ping", ""),
        ("HEAD", "/v2/apps", ""),
        ("POST", "/v2/apps", app),
        ("PUT", "/v2/apps/prod/web?force=true", app),
        ("PATCH", "/v2/apps/prod/web", app),
        ("DELETE", "/v2/groups/prod", ""),
        ("POST", "/v2/tasks/delete?scale=true", r#"{"ids":["t1"]}"#),
        ("POST", "/v2/eventSubscriptions?callbackUrl=http://x/y", ""),
        ("GET", "/v2/apps/missing", ""),
        ("GET", "/chunked", ""),
        ("GET", "/big", ""),
        ("OPTIONS", "/v2/info", ""),
    ];
    for (method, path, body) in cases {
        let direct = fetch(&c, req(method, &format!("{}{}", m.url(), path), body)).await;
        let proxied = fetch(&c, req(method, &p.url(path), body)).await;
        assert_eq!(direct.0, proxied.0, "{method} {path}: status");
        assert_eq!(comparable(&direct.1, &m.url()), comparable(&proxied.1, &p.url("")), "{method} {path}: headers");
        assert_eq!(direct.2, proxied.2, "{method} {path}: body");
    }
    p.shutdown().await.unwrap();
}

/// HTTP/2 without TLS (prior knowledge) on the plain listener: its frames go through the same
/// write path as HTTP/1.1 (small messages joined, large ones vectored), and arrive whole.
#[tokio::test]
async fn plain_http2_clients_get_the_same_bodies_as_direct_http1() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    wait_ready(&p).await;
    let tcp = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(tcp);
    let (mut h2, conn) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(conn);
    let c = client();
    let app = r#"{"id":"/h2c","cmd":"sleep 1000"}"#;
    for (method, path, body) in [("GET", "/ping", ""), ("GET", "/big", ""), ("GET", "/chunked", ""), ("POST", "/v2/apps", app)] {
        let direct = fetch(&c, req(method, &format!("{}{}", m.url(), path), body)).await;
        let resp = h2.send_request(req(method, &p.url(path), body)).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2, "{method} {path}");
        assert_eq!(resp.status(), direct.0, "{method} {path}: status");
        let proxied = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
        assert_eq!(proxied.len(), direct.2.len(), "{method} {path}: body length");
        assert_eq!(proxied, direct.2, "{method} {path}: body");
    }
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn marathon_sees_the_request_as_sent_plus_forwarding_headers() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    let c = client();
    let r = Request::post(p.url("/echo?a=1&b=%2F&a=2"))
        .header("authorization", "Bearer secret-token")
        .header("cookie", "session=s3cr3t")
        .header("connection", "x-hop")
        .header("x-hop", "must not pass")
        .header("x-forwarded-for", "192.0.2.7")
        .header("x-custom", "kept")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let (status, _, body) = fetch(&c, r).await;
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/echo?a=1&b=%2F&a=2");
    assert_eq!(v["body_len"], 5);
    let h = &v["headers"];
    assert_eq!(h["authorization"], "Bearer secret-token");
    assert_eq!(h["cookie"], "session=s3cr3t");
    assert_eq!(h["x-custom"], "kept");
    assert!(h.get("x-hop").is_none(), "header named in Connection must be dropped");
    assert!(h.get("connection").is_none() || h["connection"] == "keep-alive");
    assert_eq!(h["x-forwarded-for"], "192.0.2.7, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], p.addr.to_string());
    assert_eq!(h["host"], m.addr.to_string(), "Host is rewritten to the upstream by default");
    p.shutdown().await.unwrap();

    // preserve_host keeps the client's Host.
    let mut cfg = test_config(&[m.url()]);
    cfg.upstream.preserve_host = true;
    let p = start_proxy(cfg).await;
    let (_, _, body) = fetch(&c, get(&p.url("/echo"))).await;
    assert_eq!(json(&body)["headers"]["host"], p.addr.to_string());
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_write_gets_413_in_marathon_shape_and_nothing_is_forwarded() {
    let m = fake_marathon("m1", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.limits.max_write_body_bytes = 1000;
    let p = start_proxy(cfg).await;
    let c = client();
    let big = "x".repeat(5000);
    let (status, headers, body) = fetch(&c, req("POST", &p.url("/v2/apps"), &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["content-type"], "application/json");
    let msg = json(&body)["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("5000 bytes") && msg.contains("1000"), "{msg}");
    // At the limit it passes.
    let ok = "y".repeat(1000);
    let (status, _, _) = fetch(&c, req("PUT", &p.url("/v2/apps/a"), &ok)).await;
    assert_eq!(status, 200);
    // Reads are never limited.
    let (status, _, body) = fetch(&c, get(&p.url("/big"))).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 1 << 20));
    assert!(m.requests_to("/v2/apps").iter().all(|r| r.body.as_ref().unwrap().len() <= 1000));
    assert_eq!(m.requests_to("/v2/apps").len(), 1);
    p.shutdown().await.unwrap();
}

/// (method, path, query, body) as `request_filter` saw them.
type SeenWrite = (String, String, Option<String>, Bytes);

/// Test phases: rejects writes whose body contains "reject", warns on "warn", records the rest.
#[derive(Default)]
struct Recorder {
    seen_bodies: Mutex<Vec<SeenWrite>>,
    responses: Mutex<Vec<u16>>,
    logged: Mutex<Vec<(u16, bool, proxy::Outcome)>>,
    early: AtomicUsize,
}

struct RecPhases(Arc<Recorder>);

#[async_trait]
impl RequestPhases for RecPhases {
    fn early_request_filter(&self, _ctx: &mut RequestCtx, head: &http::request::Parts) -> Flow {
        self.0.early.fetch_add(1, Ordering::SeqCst);
        if head.uri.path() == "/admission/status" {
            return Flow::Respond(http::Response::new(Bytes::from_static(b"{\"ok\":true}")));
        }
        Flow::Continue
    }

    async fn request_filter(&self, ctx: &mut RequestCtx, req: &WriteRequest<'_>) -> Flow {
        self.0.seen_bodies.lock().unwrap().push((
            req.method.to_string(),
            req.path().to_owned(),
            req.query().map(str::to_owned),
            req.body.clone(),
        ));
        if req.body.windows(6).any(|w| w == b"reject") {
            return Flow::Respond(proxy::marathon_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Object is not valid: too big",
            ));
        }
        if req.body.windows(4).any(|w| w == b"warn") {
            ctx.add_warning("root group at 97% of the ZooKeeper limit");
        }
        Flow::Continue
    }

    fn response_filter(&self, ctx: &mut RequestCtx, resp: &http::response::Parts) {
        if ctx.route.admission_write {
            self.0.responses.lock().unwrap().push(resp.status.as_u16());
        }
    }

    fn logging(&self, _ctx: &RequestCtx, s: &RequestSummary) {
        self.0.logged
            .lock()
            .unwrap()
            .push((s.status.as_u16(), s.local_response, s.outcome));
    }

    fn readiness(&self) -> Result<(), String> {
        Ok(())
    }
}

#[tokio::test]
async fn phases_see_writes_whole_and_can_answer_or_warn() {
    let m = fake_marathon("m1", None).await;
    let rec = Arc::new(Recorder::default());
    let p = start_proxy_with(test_config(&[m.url()]), Arc::new(RecPhases(rec.clone()))).await;
    let c = client();

    // Rejected locally: Marathon never sees it.
    let (status, headers, body) =
        fetch(&c, req("POST", &p.url("/v2/apps?force=true"), r#"{"id":"/a","x":"reject"}"#)).await;
    assert_eq!(status, 422);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json(&body)["message"], "Object is not valid: too big");
    assert!(m.requests_to("/v2/apps").is_empty());

    // Warned: Marathon's answer unchanged, plus a Warning header.
    let direct = fetch(&c, req("POST", &format!("{}/v2/apps", m.url()), r#"{"id":"/a","x":"warn"}"#)).await;
    let (status, headers, body) = fetch(&c, req("POST", &p.url("/v2/apps"), r#"{"id":"/a","x":"warn"}"#)).await;
    assert_eq!(status, direct.0);
    assert_eq!(body, direct.2);
    assert_eq!(headers["warning"], "299 - \"root group at 97% of the ZooKeeper limit\"");
    assert_eq!(headers["marathon-deployment-id"], direct.1["marathon-deployment-id"]);

    // A read is not shown to request_filter.
    fetch(&c, get(&p.url("/v2/apps"))).await;
    // Local endpoint from the early phase.
    let (status, _, body) = fetch(&c, get(&p.url("/admission/status"))).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"{\"ok\":true}"[..]));

    let seen = rec.seen_bodies.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, "POST");
    assert_eq!(seen[0].1, "/v2/apps");
    assert_eq!(seen[0].2.as_deref(), Some("force=true"));
    assert_eq!(&seen[0].3[..], br#"{"id":"/a","x":"reject"}"#);
    assert_eq!(*rec.responses.lock().unwrap(), vec![201]);
    assert_eq!(rec.early.load(Ordering::SeqCst), 4);
    p.shutdown().await.unwrap();
    let logged = rec.logged.lock().unwrap().clone();
    assert_eq!(logged.len(), 4, "{logged:?}");
    assert!(logged.contains(&(422, true, proxy::Outcome::Completed)));
    assert!(logged.contains(&(201, false, proxy::Outcome::Completed)));
}

#[tokio::test]
async fn phases_never_hold_credentials_from_the_query_and_marathon_gets_them_as_sent() {
    let m = fake_marathon("m1", None).await;
    let rec = Arc::new(Recorder::default());
    let p = start_proxy_with(test_config(&[m.url()]), Arc::new(RecPhases(rec.clone()))).await;
    let target = "/v2/apps/a?force=true&access_token=SECRETVALUE";
    assert_eq!(fetch(&client(), req("PUT", &p.url(target), "{}")).await.0, 200);
    let seen = rec.seen_bodies.lock().unwrap().clone();
    assert_eq!(seen[0].2.as_deref(), Some("force=true&access_token=%3Credacted%3E"));
    assert_eq!(m.requests_to("/v2/apps/a")[0].uri, target);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_endpoints() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    wait_ready(&p).await;
    let c = client();
    let (s, _, b) = fetch(&c, get(&p.admin_url("/healthz"))).await;
    assert_eq!((s, &b[..]), (StatusCode::OK, &b"ok\n"[..]));
    // Credentials in the query and in the header: counted, never shown.
    let mut read = get(&p.url("/v2/apps?access_token=METRICS-SECRET-QUERY"));
    read.headers_mut().insert("authorization", "token=METRICS-SECRET-HEADER".parse().unwrap());
    fetch(&c, read).await;
    fetch(&c, req("POST", &p.url("/v2/apps"), "{}")).await;
    let (s, h, b) = fetch(&c, get(&p.admin_url("/metrics"))).await;
    assert_eq!(s, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = String::from_utf8(b.to_vec()).unwrap();
    for needle in [
        "marathon_admission_proxy_requests_total{method=\"GET\",route=\"apps\",status=\"200\"} 1",
        "marathon_admission_proxy_requests_total{method=\"POST\",route=\"apps\",status=\"201\"} 1",
        "marathon_admission_proxy_upstream_response_seconds_bucket",
        "marathon_admission_proxy_response_body_bytes_total",
        "marathon_admission_proxy_request_body_bytes_total 2",
        "marathon_admission_proxy_open_streams 0",
        "marathon_admission_proxy_upstream_up{upstream=",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(!text.contains("METRICS-SECRET"), "{text}");
    // Marathon's own /metrics passes through on the proxy port.
    let (s, _, _) = fetch(&c, get(&p.url("/metrics"))).await;
    assert_eq!(s, 404, "the fake has no /metrics; what matters is that Marathon answered");
    assert_eq!(m.requests_to("/metrics").len(), 1);
    // Not ready when Marathon is gone.
    m.stop().await;
    eventually("readyz turns 503 when no Marathon answers", || async { fetch(&c, get(&p.admin_url("/readyz"))).await.0 == 503 }).await;
    p.shutdown().await.unwrap();
}
