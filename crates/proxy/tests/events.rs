//! `/v2/events`: frames arrive as Marathon writes them, a client leaving closes Marathon's stream,
//! shutdown ends streams.

use bytes::Bytes;
use proxy::test_util::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

async fn open_stream(c: &TestClient, url: &str) -> http::Response<Incoming> {
    let r = Request::get(url)
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = c.request(r).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream;charset=utf-8");
    resp
}

/// Reads frames until `want` is contained in what was read.
async fn read_until(body: &mut Incoming, want: &str) -> String {
    let mut got = String::new();
    let r = tokio::time::timeout(PATIENCE, async {
        while !got.contains(want) {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Some(d) = f.data_ref() {
                        got.push_str(&String::from_utf8_lossy(d));
                    }
                }
                other => panic!("stream ended early: {other:?} after {got:?}"),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "did not get {want:?} after {PATIENCE:?}; got {got:?}");
    got
}

#[tokio::test]
async fn frames_arrive_one_by_one() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    let c = client();
    let mut direct = open_stream(&c, &format!("{}/v2/events?event_type=deployment_info", m.url())).await.into_body();
    let proxied = open_stream(&c, &p.url("/v2/events?event_type=deployment_info")).await;
    // Marathon's `Connection: close` is about its own connection: not passed on.
    assert!(proxied.headers().get("connection").is_none());
    let mut proxied = proxied.into_body();
    eventually("two streams on Marathon", || async { m.open_streams() == 2 }).await;
    // The query string reached Marathon as sent.
    assert!(m.requests_to("/v2/events").iter().all(|r| r.uri == "/v2/events?event_type=deployment_info"));
    assert!(m.requests_to("/v2/events").iter().all(|r| r.headers["accept"] == "text/event-stream"));
    for i in 0..5 {
        let frame = format!("event: deployment_info\r\ndata: {{\"n\":{i}}}\r\n\r\n");
        m.emit(&frame);
        let a = read_until(&mut direct, &format!("\"n\":{i}")).await;
        // Each frame is delivered on its own, before the next is written: a proxy that buffered
        // frames would hold this one back for good.
        let b = read_until(&mut proxied, &format!("\"n\":{i}")).await;
        assert_eq!(a, b);
    }
    // Heartbeats (bare CRLF) pass too.
    m.emit("\r\n");
    assert_eq!(read_until(&mut proxied, "\r\n").await, "\r\n");
    drop(direct);
    drop(proxied);
    p.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_leaving_closes_marathons_stream() {
    let m = fake_marathon("m1", None).await;
    let p = start_proxy(test_config(&[m.url()])).await;
    let c = client();
    let resp = open_stream(&c, &p.url("/v2/events")).await;
    eventually("the stream is open on Marathon", || async { m.open_streams() == 1 }).await;
    let text = String::from_utf8(fetch(&c, get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap();
    assert!(text.contains("marathon_admission_proxy_open_streams 1"), "{text}");
    drop(resp);
    drop(c); // closes the pooled client connection too
    // Marathon notices at its next write (as with a real socket); keep writing heartbeats.
    let c2 = client();
    eventually("Marathon's stream closes when the client leaves", || async {
        m.emit("\r\n");
        m.open_streams() == 0
    })
    .await;
    let text = String::from_utf8(fetch(&c2, get(&p.admin_url("/metrics"))).await.2.to_vec()).unwrap();
    assert!(text.contains("marathon_admission_proxy_open_streams 0"), "{text}");
    p.shutdown().await.unwrap();
}

/// Shutdown ends open streams rather than waiting for them: with a grace period longer than the
/// test's patience, a shutdown that waited for the stream would hang the test.
#[tokio::test]
async fn shutdown_ends_streams_and_returns() {
    let m = fake_marathon("m1", None).await;
    let mut cfg = test_config(&[m.url()]);
    cfg.listener.shutdown_grace_secs = 2 * PATIENCE.as_secs();
    let p = start_proxy(cfg).await;
    let c = client();
    let mut body = open_stream(&c, &p.url("/v2/events")).await.into_body();
    m.emit("data: 1\r\n\r\n");
    read_until(&mut body, "data: 1").await;
    no_hang("graceful shutdown, a stream open", p.shutdown()).await.unwrap();
    // The client sees the end of the stream (clean end or closed connection), not a hang.
    no_hang("the end of the stream", async { while let Some(Ok(_)) = body.frame().await {} }).await;
}
