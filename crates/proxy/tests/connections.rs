//! What a client connection may hold, from outside, on real sockets: silent connections are closed
//! after the head timeout (plain and TLS) and cannot starve `/readyz` or the next client; past the
//! connection cap a client hears 503 at once; a client that half-closes after its request still
//! gets the answer; `CONNECT` is refused at once.

use std::net::SocketAddr;

use proxy::test_util::*;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

async fn silent(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(TcpStream::connect(addr).await.unwrap());
    }
    out
}

/// Everything read until the connection closes (EOF, or a reset).
async fn read_until_closed(mut s: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

fn reading(streams: Vec<TcpStream>) -> Vec<JoinHandle<Vec<u8>>> {
    streams.into_iter().map(|s| tokio::spawn(read_until_closed(s))).collect()
}

/// What a connection read before it was closed; panics if it is still open after [`PATIENCE`].
async fn closed(h: JoinHandle<Vec<u8>>) -> Vec<u8> {
    no_hang("the connection is closed", h).await.unwrap()
}

async fn metrics(p: &RunningProxy) -> String {
    String::from_utf8(fetch(&client(), get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap()
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

const OPEN: &str = "marathon_admission_proxy_client_connections{listener=\"proxy\"} ";
const REFUSED: &str = "marathon_admission_proxy_client_connections_refused_total{listener=\"proxy\"} ";
const TIMED_OUT: &str = "marathon_admission_proxy_client_head_timeouts_total{listener=\"proxy\"} ";

/// Status line and JSON `message` of a raw HTTP/1.1 response.
fn status_and_message(raw: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let status = head.lines().next().unwrap().to_owned();
    let message = serde_json::from_str::<serde_json::Value>(body).map(|v| v["message"].as_str().unwrap_or("").to_owned());
    (status, message.unwrap_or_else(|e| panic!("body not JSON ({e}): {body:?}")))
}

#[tokio::test]
async fn a_thousand_silent_connections_leave_readyz_and_fresh_requests_answered() {
    let m = fake_marathon("m", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    wait_ready(&p).await;
    let held = silent(p.addr, 1_100).await;
    eventually("the proxy holds the 1,100 connections", || async { sample(&metrics(&p).await, OPEN) >= 1_100.0 }).await;

    let c = client();
    assert_eq!(fetch(&c, get(&p.admin_url("/readyz"))).await.0, 200);
    let (status, _, body) = fetch(&c, get(&p.url("/ping"))).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"pong"[..]));
    assert_eq!(sample(&metrics(&p).await, REFUSED), 0.0);
    drop(held);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn past_the_cap_a_connection_is_answered_503_and_closed() {
    let m = fake_marathon("m", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.listener.max_connections = 100;
    cfg.listener.header_read_timeout_ms = 600_000; // only the cap closes connections here
    let p = start_proxy(cfg).await;
    wait_ready(&p).await;

    let mut held = reading(silent(p.addr, 150).await);
    eventually("50 connections refused", || async { held.iter().filter(|h| h.is_finished()).count() >= 50 }).await;
    let (refused, kept): (Vec<_>, Vec<_>) = held.drain(..).partition(|h| h.is_finished());
    assert_eq!((refused.len(), kept.len()), (50, 100), "exactly the connections past the cap are closed");
    for h in refused {
        let (status, message) = status_and_message(&closed(h).await);
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert!(message.contains("too many open connections") && message.contains("100, its [listener] max_connections"), "{message}");
    }

    // The admin listener has places of its own; the proxy listener answers the next one at once.
    let c = client();
    assert_eq!(fetch(&c, get(&p.admin_url("/readyz"))).await.0, 200);
    let (status, headers, body) = fetch(&c, get(&p.url("/ping"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["content-type"], "application/json");
    assert!(json(&body)["message"].as_str().unwrap().contains("too many open connections"));
    let text = metrics(&p).await;
    assert_eq!((sample(&text, OPEN), sample(&text, REFUSED)), (100.0, 51.0), "{text}");

    // Places come back when connections close.
    for h in &kept[..10] {
        h.abort();
    }
    eventually("a fresh request is served again", || async { fetch(&client(), get(&p.url("/ping"))).await.0 == 200 }).await;
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn silent_and_half_sent_heads_are_closed_after_the_head_timeout() {
    let m = fake_marathon("m", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.listener.max_connections = 100;
    cfg.listener.header_read_timeout_ms = 300;
    let p = start_proxy(cfg).await;
    wait_ready(&p).await;

    // Half a head, and half of HTTP/2's preface (which must not be mistaken for a finished head).
    let mut partial = Vec::new();
    for opening in [&b"GET /ping HTTP/1.1\r\nHost: a\r\n"[..], b"PRI * HTTP/2.0\r\n\r\nSM"] {
        let mut s = TcpStream::connect(p.addr).await.unwrap();
        s.write_all(opening).await.unwrap();
        partial.push(s);
    }
    let partial = reading(partial);
    let held = reading(silent(p.addr, 150).await);
    assert_eq!(fetch(&client(), get(&p.admin_url("/readyz"))).await.0, 200);

    for h in partial {
        assert!(closed(h).await.is_empty(), "closed without an answer");
    }
    let mut closed_silently = 0;
    for h in held {
        let got = closed(h).await;
        if got.is_empty() {
            closed_silently += 1;
        } else {
            assert_eq!(status_and_message(&got).0, "HTTP/1.1 503 Service Unavailable");
        }
    }
    assert!(closed_silently >= 98, "the connections under the cap are closed by the head timeout: {closed_silently}");
    assert!(sample(&metrics(&p).await, TIMED_OUT) >= 100.0);
    eventually("a fresh request is served", || async { fetch(&client(), get(&p.url("/ping"))).await.0 == 200 }).await;
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_head_timeout_covers_the_tls_handshake_and_the_head_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let m = fake_marathon("m", None).await;
    let (ca, cert, key) = make_ca_and_leaf(&["marathon-admission.test"]);
    let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let mut cfg = test_config(&[m.url()]);
    cfg.listener.header_read_timeout_ms = 300;
    cfg.listener.tls = Some(proxy::config::ListenerTls { cert_file, key_file, reload_interval_secs: 60 });
    let p = start_proxy(cfg).await;
    wait_ready(&p).await;

    // No handshake at all.
    let no_handshake = tokio::spawn(read_until_closed(TcpStream::connect(p.addr).await.unwrap()));
    // A handshake, then nothing.
    let connector = tokio_rustls::TlsConnector::from(rustls_client_config(&ca, &[b"http/1.1"]));
    let name = rustls::pki_types::ServerName::try_from("marathon-admission.test").unwrap();
    let tls = connector.connect(name, TcpStream::connect(p.addr).await.unwrap()).await.unwrap();
    let after_handshake = tokio::spawn(read_until_closed(tls));

    assert!(closed(no_handshake).await.is_empty());
    assert!(closed(after_handshake).await.is_empty());
    assert!(sample(&metrics(&p).await, TIMED_OUT) >= 2.0);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_gets_the_answer() {
    let m = fake_marathon("m", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    wait_ready(&p).await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    // Marathon takes a moment, so that the end of the client's side arrives before the answer.
    s.write_all(b"GET /delay?ms=200 HTTP/1.1\r\nHost: marathon\r\n\r\n").await.unwrap();
    s.shutdown().await.unwrap();
    let got = String::from_utf8(closed(tokio::spawn(read_until_closed(s))).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got:?}");
    assert!(got.ends_with("done"), "{got:?}");
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn connect_is_refused_at_once_and_never_forwarded() {
    let m = fake_marathon("m", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    wait_ready(&p).await;
    let mut s = TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n").await.unwrap();
    // The answer, read up to the end of its body (the connection may stay open).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answer = loop {
        let n = no_hang("an answer to CONNECT", s.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed without an answer: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|v| v.parse::<usize>().ok());
            if len.is_some_and(|len| body.len() >= len) {
                break text;
            }
        }
    };
    let (status, message) = status_and_message(answer.as_bytes());
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(message.contains("CONNECT is not supported"), "{message}");
    assert!(m.requests().iter().all(|r| r.method != http::Method::CONNECT), "nothing forwarded");
    p.shutdown().await.unwrap();
}
