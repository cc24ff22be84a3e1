//! Faults against real local sockets: nothing hangs, nothing panics, errors are Marathon-shaped.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn all_marathons_down_gives_a_fast_marathon_shaped_502() {
    let (url, _reserved) = dead_port();
    let p = start_proxy(test_config(std::slice::from_ref(&url))).await;
    let c = client();
    let t = Instant::now();
    let (status, headers, body) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert!(t.elapsed() < Duration::from_secs(3), "must fail fast, took {:?}", t.elapsed());
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["content-type"], "application/json");
    let msg = json(&body)["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("No Marathon reachable") && msg.contains(&url), "{msg}");
    // Writes too, and the phases' 502 does not leak the body.
    let (status, _, _) = fetch(&c, req("POST", &p.url("/v2/apps"), "{\"id\":\"/a\"}")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let text = String::from_utf8(fetch(&c, get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap();
    assert!(text.contains("marathon_admission_proxy_upstream_errors_total{kind=\"connect\"}"), "{text}");
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
    let resp = tokio::time::timeout(Duration::from_secs(5), c.request(get(&p.url("/reset"))))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect()).await;
    assert!(body.expect("no hang").is_err(), "the client must see an incomplete body");
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
    let (status, headers, body) =
        tokio::time::timeout(Duration::from_secs(5), fetch(&c, get(&p.url("/slow")))).await.expect("no hang");
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(headers["content-type"], "application/json");
    let msg = json(&body)["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("did not answer within 300 ms"), "{msg}");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_leaving_mid_upload_forwards_nothing() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    for (path, framing) in [("/v2/apps", "length"), ("/v2/groups/prod", "chunked")] {
        let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
        let head = match framing {
            "length" => format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"),
            _ => format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"),
        };
        s.write_all(head.as_bytes()).await.unwrap();
        let part = match framing {
            "length" => "{\"id\":\"/prod/web\",\"cmd\":\"sle".to_owned(),
            _ => "1c\r\n{\"id\":\"/prod/web\",\"cmd\":\"sle\r\n".to_owned(),
        };
        s.write_all(part.as_bytes()).await.unwrap();
        s.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(m.requests_to("/v2/apps").is_empty(), "{:?}", m.requests());
    assert!(m.requests_to("/v2/groups").is_empty(), "{:?}", m.requests());
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
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await.unwrap().unwrap();
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
    wait_ready(&p).await;
    let c = client();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, h, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
    assert_eq!(h["x-served-by"], "a");
    a.set_leader(Some(b.addr.to_string()));
    b.set_leader(Some(b.addr.to_string()));
    let mut served = String::new();
    for _ in 0..100 {
        let (_, h, _) = fetch(&c, get(&p.url("/v2/apps"))).await;
        served = h["x-served-by"].to_str().unwrap().to_owned();
        if served == "b" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served, "b", "requests must go to the new leader");
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

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    let addr = p.addr;
    let c = client();
    let url = p.url("/delay?ms=600");
    let in_flight = tokio::spawn(async move { fetch(&c, get(&url)).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t = Instant::now();
    p.shutdown().await.unwrap();
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status.as_u16(), &body[..]), (200, &b"done"[..]));
    assert!(t.elapsed() < Duration::from_secs(4), "shutdown took {:?}", t.elapsed());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}
