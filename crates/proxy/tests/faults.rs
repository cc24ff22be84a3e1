//! Faults against real local sockets: nothing hangs, nothing panics, errors are Marathon-shaped.

use std::time::{Duration, Instant};

use proxy::test_util::*;
use http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The admin listener's `/metrics`.
async fn metrics(p: &RunningProxy) -> String {
    String::from_utf8(fetch(&client(), get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap()
}

/// The value of the first sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse().ok())
}

const CONNECT_ERRORS: &str = "marathon_admission_proxy_upstream_errors_total{kind=\"connect\"} ";

/// Fails at the first refused connection, one try per Marathon, rather than retrying (how soon
/// that is, is a benchmark's business).
#[tokio::test]
async fn all_marathons_down_gives_a_marathon_shaped_502_after_one_try_each() {
    let (url, _reserved) = dead_port();
    let p = start_proxy(test_config(std::slice::from_ref(&url))).await;
    let c = client();
    let (status, headers, body) = no_hang("the answer", fetch(&c, get(&p.url("/v2/apps")))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["content-type"], "application/json");
    let msg = json(&body)["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("No Marathon reachable") && msg.contains(&url), "{msg}");
    assert_eq!(sample(&metrics(&p).await, CONNECT_ERRORS), Some(1.0), "one try");
    // Writes too, and the phases' 502 does not leak the body.
    let (status, _, _) = no_hang("the answer", fetch(&c, req("POST", &p.url("/v2/apps"), "{\"id\":\"/a\"}"))).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(sample(&metrics(&p).await, CONNECT_ERRORS), Some(2.0), "one try more");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn fails_over_to_the_next_marathon() {
    let (dead, _reserved) = dead_port();
    let m = fake_marathon("m2", None).await;
    m.set_leader(None);
    let p = start_proxy(test_config(&[dead, m.url()])).await;
    let c = client();
    for _ in 0..3 {
        let (status, headers, _) = fetch(&c, req("PUT", &p.url("/v2/apps/a"), "{}")).await;
        assert_eq!(status, 200);
        assert!(headers.contains_key("marathon-deployment-id"));
    }
    assert_eq!(m.requests_to("/v2/apps/a").len(), 3);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn marathon_resetting_mid_body_ends_the_response_without_hanging() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    let c = client();
    let resp = no_hang("the response head", c.request(get(&p.url("/reset")))).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = no_hang("the end of the body", resp.into_body().collect()).await;
    assert!(body.is_err(), "the client must see an incomplete body");
    // The proxy keeps serving.
    let (status, _, _) = fetch(&client(), get(&p.url("/ping"))).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(fetch(&c, get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap();
    assert!(text.contains("upstream_errors_total{kind=\"body\"} 1"), "{text}");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn slow_marathon_gives_504_in_marathon_shape() {
    let m = fake_marathon("m1", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.upstream.response_timeout_ms = 300;
    let p = start_proxy(cfg).await;
    let c = client();
    let t = Instant::now();
    let (status, headers, body) = no_hang("the 504", fetch(&c, get(&p.url("/slow")))).await;
    // A lower bound: it waited for the timeout (Marathon answers only after 30 s).
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(headers["content-type"], "application/json");
    let msg = json(&body)["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("did not answer within 300 ms"), "{msg}");
    p.shutdown().await.unwrap();
}

/// Once the proxy has answered a client that left mid-upload (its own 400: "nothing was sent"),
/// the request's fate is sealed: the absence at Marathon that follows is a fact, not a guess.
#[tokio::test]
async fn client_leaving_mid_upload_forwards_nothing() {
    const BODY_BYTES: &str = "marathon_admission_proxy_request_body_bytes_total ";
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    for (path, framing) in [("/v2/apps", "length"), ("/v2/groups/prod", "chunked")] {
        let read_before = sample(&metrics(&p).await, BODY_BYTES).unwrap_or(0.0);
        let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
        let head = match framing {
            "length" => format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"),
            _ => format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"),
        };
        s.write_all(head.as_bytes()).await.unwrap();
        let data = "{\"id\":\"/prod/web\",\"cmd\":\"sle";
        let part = match framing {
            "length" => data.to_owned(),
            _ => format!("{:x}\r\n{data}\r\n", data.len()),
        };
        s.write_all(part.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        // Mid-upload: the proxy holds the head and this part of the body when the client leaves.
        eventually("the proxy has read the first part of the body", || async {
            sample(&metrics(&p).await, BODY_BYTES).unwrap_or(0.0) >= read_before + data.len() as f64
        })
        .await;
        drop(s);
    }
    let statuses = |text: &str, series: &str| -> Vec<String> {
        text.lines().filter_map(|l| l.strip_prefix(series)).map(|rest| rest.split('"').next().unwrap_or("").to_owned()).collect()
    };
    const POSTED: &str = "marathon_admission_proxy_requests_total{method=\"POST\",route=\"apps\",status=\"";
    const PUT: &str = "marathon_admission_proxy_requests_total{method=\"PUT\",route=\"groups\",status=\"";
    let answered = eventually("the proxy has answered both uploads", || async {
        let text = metrics(&p).await;
        let answered = (statuses(&text, POSTED), statuses(&text, PUT));
        (!answered.0.is_empty() && !answered.1.is_empty()).then_some(answered)
    })
    .await;
    assert!(m.requests_to("/v2/apps").is_empty(), "{:?}", m.requests());
    assert!(m.requests_to("/v2/groups").is_empty(), "{:?}", m.requests());
    assert_eq!(answered, (vec!["400".to_owned()], vec!["400".to_owned()]), "the proxy's own answers");
    // The proxy is fine afterwards.
    let (status, _, _) = fetch(&client(), get(&p.url("/ping"))).await;
    assert_eq!(status, 200);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn declared_oversize_is_refused_before_the_client_sends_the_body() {
    let m = fake_marathon("m1", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.limits.max_write_body_bytes = 100;
    let p = start_proxy(cfg).await;
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"POST /v2/apps HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = no_hang("the 413", s.read(&mut buf)).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"message\""), "{text}");
    assert!(m.requests_to("/v2/apps").is_empty());
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn leader_change_is_followed() {
    let a = fake_marathon("a", None).await;
    let b = fake_marathon("b", None).await;
    a.set_leader(Some(a.addr.to_string()));
    b.set_leader(Some(a.addr.to_string()));
    // b listed first: discovery, not list order, decides.
    let p = start_proxy(test_config(&[b.url(), a.url()])).await;
    // Ready once the first poll is recorded, the leader it found with it: nothing more to wait for.
    wait_ready(&p).await;
    let c = client();
    let (_, h, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert_eq!(h["x-served-by"], "a");
    a.set_leader(Some(b.addr.to_string()));
    b.set_leader(Some(b.addr.to_string()));
    eventually("requests go to the new leader", || async { fetch(&c, get(&p.url("/v2/apps"))).await.1["x-served-by"] == "b" }).await;
    let text = String::from_utf8(fetch(&c, get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap();
    assert!(text.contains("marathon_admission_proxy_leader_changes_total 1"), "{text}");
    // The old leader dies: still served, by b.
    a.stop().await;
    for _ in 0..5 {
        let (s, h, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
        assert_eq!((s.as_u16(), h["x-served-by"].to_str().unwrap()), (200, "b"));
    }
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn redirect_from_a_non_leader_is_followed_or_passed() {
    let standby = fake_marathon("standby", None).await;
    let leader = fake_marathon("leader", None).await;
    standby.set_leader(None);
    leader.set_leader(None);
    *standby.state.redirect_apps_to.lock().unwrap() = Some(format!("{}/v2/apps", leader.url()));
    let p = start_proxy(test_config(&[standby.url(), leader.url()])).await;
    let c = client();
    let (s, h, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert_eq!((s.as_u16(), h["x-served-by"].to_str().unwrap()), (200, "leader"));
    p.shutdown().await.unwrap();

    // Passed on, the redirect names the proxy (a client that follows it stays behind it), or,
    // with the rewrite off, the leader.
    for rewrite in [true, false] {
        let mut cfg = test_config(&[standby.url(), leader.url()]);
        cfg.upstream.follow_leader_redirects = false;
        cfg.upstream.rewrite_marathon_addresses = rewrite;
        let p = start_proxy(cfg).await;
        let (s, h, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
        assert_eq!(s, 302);
        let expected = if rewrite { p.url("/v2/apps") } else { format!("{}/v2/apps", leader.url()) };
        assert_eq!(h["location"], expected);
        p.shutdown().await.unwrap();
    }

    // A redirect to somewhere unknown is passed on, never followed.
    *standby.state.redirect_apps_to.lock().unwrap() = Some("http://127.0.0.1:9/v2/apps".into());
    let p = start_proxy(test_config(&[standby.url()])).await;
    let (s, _, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert_eq!(s, 302);
    p.shutdown().await.unwrap();
}

/// Shutdown waits for the request in flight, and no longer: with a grace period longer than the
/// test's patience, a shutdown that waited it out would hang the test.
#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let m = fake_marathon("m1", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.listener.shutdown_grace_secs = 2 * PATIENCE.as_secs();
    let p = start_proxy(cfg).await;
    let addr = p.addr;
    let c = client();
    let url = p.url("/delay?ms=600");
    let in_flight = tokio::spawn(async move { fetch(&c, get(&url)).await });
    eventually("the request is in flight at Marathon", || async { !m.requests_to("/delay").is_empty() }).await;
    no_hang("the shutdown", p.shutdown()).await.unwrap();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status.as_u16(), &body[..]), (200, &b"done"[..]));
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}
