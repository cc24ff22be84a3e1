//! Against a real local HTTP server that counts the connections it accepts.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;
use crate::config::UpstreamConfig;

// The suite's one way to wait (the tests' dev-dependency on this crate enables `test-util`).
use crate::test_util::eventually;

struct Server {
    url: String,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers every request with its path; `close_after_each`: `Connection: close` on each answer.
async fn server(close_after_each: bool) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| async move {
                    if req.uri().path() == "/slow" {
                        // A slow answer, on purpose: requests sent together are in flight together.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    let text = match req.uri().path() {
                        // More than the connection buffers ahead of a reader.
                        "/big" => "x".repeat(4 << 20),
                        _ => req.uri().to_string(),
                    };
                    let mut resp = Response::new(Full::new(Bytes::from(text)));
                    if close_after_each {
                        resp.headers_mut().insert("connection", "close".parse().unwrap());
                    }
                    Ok::<_, Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Server { url, accepted, task }
}

fn pool_with(max_idle: usize) -> Arc<UpstreamPool> {
    let cfg = UpstreamConfig {
        pool_max_idle_per_host: max_idle,
        ..UpstreamConfig::default()
    };
    UpstreamPool::new(&cfg).unwrap()
}

fn get(url: &str, path: &str) -> Request<UpstreamBody> {
    let host = url.trim_start_matches("http://").to_owned();
    Request::get(format!("{url}{path}"))
        .header("host", host)
        .body(UpstreamBody::Full(None))
        .unwrap()
}

async fn body(resp: Response<Incoming>) -> String {
    String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

/// GET `path` through `affinity` and read the whole answer.
async fn send_and_read(pool: &UpstreamPool, affinity: &Affinity, url: &str, path: &str, keep: bool) -> String {
    body(pool.send(affinity, get(url, path), keep).await.unwrap()).await
}

#[tokio::test]
async fn one_client_connection_reuses_one_marathon_connection_and_sends_origin_form() {
    let s = server(false).await;
    let pool = pool_with(8);
    let affinity = Affinity::new(pool.clone());
    for i in 0..5 {
        let path = format!("/v2/apps?i={i}");
        // The server saw the request line's target as sent: origin form, query as given.
        assert_eq!(send_and_read(&pool, &affinity, &s.url, &path, true).await, path);
    }
    assert_eq!(s.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.idle_count(), 0, "kept by the client connection, not pooled");
}

#[tokio::test]
async fn a_closed_client_connection_hands_its_marathon_connection_to_the_next() {
    let s = server(false).await;
    let pool = pool_with(8);
    {
        let first = Affinity::new(pool.clone());
        send_and_read(&pool, &first, &s.url, "/ping", true).await;
    }
    assert_eq!(pool.idle_count(), 1);
    let second = Affinity::new(pool.clone());
    send_and_read(&pool, &second, &s.url, "/ping", true).await;
    assert_eq!(s.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_requests_of_one_client_connection_use_separate_connections() {
    let s = server(false).await;
    let pool = pool_with(8);
    let affinity = Affinity::new(pool.clone());
    let (a, b) = tokio::join!(
        pool.send(&affinity, get(&s.url, "/slow"), true),
        pool.send(&affinity, get(&s.url, "/slow"), true),
    );
    assert_eq!(body(a.unwrap()).await, "/slow");
    assert_eq!(body(b.unwrap()).await, "/slow");
    assert_eq!(s.accepted.load(Ordering::SeqCst), 2);
    // One is kept by the client connection, the other went to the pool; both serve again.
    assert_eq!(pool.idle_count(), 1);
    let (a, b) = tokio::join!(
        pool.send(&affinity, get(&s.url, "/slow"), true),
        pool.send(&affinity, get(&s.url, "/slow"), true),
    );
    body(a.unwrap()).await;
    body(b.unwrap()).await;
    assert_eq!(s.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_still_streaming_its_body_is_not_handed_out() {
    let s = server(false).await;
    let pool = pool_with(8);
    let affinity = Affinity::new(pool.clone());
    let unread = pool.send(&affinity, get(&s.url, "/big"), true).await.unwrap();
    // The first response's body is not read yet: its connection is busy.
    let second = pool.send(&affinity, get(&s.url, "/second"), true).await.unwrap();
    assert_eq!(body(second).await, "/second");
    assert_eq!(body(unread).await.len(), 4 << 20);
    assert_eq!(s.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_marathon_closed_is_replaced() {
    let s = server(true).await;
    let pool = pool_with(8);
    let affinity = Affinity::new(pool.clone());
    let kept_is_closed = || affinity.kept.lock().unwrap().as_ref().is_some_and(|(_, sender)| sender.is_closed());
    for _ in 0..3 {
        assert_eq!(send_and_read(&pool, &affinity, &s.url, "/ping", true).await, "/ping");
        eventually("the kept connection is seen closed", || async { kept_is_closed() }).await;
    }
    assert_eq!(s.accepted.load(Ordering::SeqCst), 3);
    assert_eq!(pool.idle_count(), 0, "closed connections are not pooled");
}

#[tokio::test]
async fn event_streams_keep_their_connection() {
    let s = server(false).await;
    let pool = pool_with(8);
    let affinity = Affinity::new(pool.clone());
    send_and_read(&pool, &affinity, &s.url, "/v2/events", false).await;
    send_and_read(&pool, &affinity, &s.url, "/ping", true).await;
    assert_eq!(s.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_pool_keeps_at_most_its_limit_and_forgets_other_marathons_in_the_slot() {
    let a = server(false).await;
    let b = server(false).await;
    let pool = pool_with(1);
    let affinity = Affinity::new(pool.clone());
    send_and_read(&pool, &affinity, &a.url, "/x", true).await;
    // Another Marathon (a leader change): the kept connection to `a` goes to the pool.
    send_and_read(&pool, &affinity, &b.url, "/x", true).await;
    assert_eq!(pool.idle_count(), 1);
    let others: Vec<Affinity> = (0..3).map(|_| Affinity::new(pool.clone())).collect();
    for o in &others {
        send_and_read(&pool, o, &b.url, "/x", true).await;
    }
    drop(others);
    drop(affinity);
    // One per Marathon at most.
    assert_eq!(pool.idle_count(), 2);
}

#[tokio::test]
async fn connect_failures_say_so() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let pool = pool_with(8);
    let affinity = Affinity::new(pool.clone());
    match pool.send(&affinity, get(&dead, "/ping"), true).await {
        Err(SendError::Connect(e)) => {
            let text = crate::upstream::error_chain(&*e);
            assert!(text.contains("onnection refused"), "{text}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn idle_connections_leave_after_the_idle_timeout() {
    let s = server(false).await;
    let cfg = UpstreamConfig {
        pool_idle_timeout_secs: 1,
        ..UpstreamConfig::default()
    };
    let pool = UpstreamPool::new(&cfg).unwrap();
    let idle_from = Instant::now();
    drop({
        let affinity = Affinity::new(pool.clone());
        send_and_read(&pool, &affinity, &s.url, "/x", true).await;
        affinity
    });
    assert_eq!(pool.idle_count(), 1);
    let cancel = CancellationToken::new();
    let sweeper = tokio::spawn(UpstreamPool::sweep_loop(Arc::downgrade(&pool), cancel.clone()));
    eventually("the idle connection leaves", || async { pool.idle_count() == 0 }).await;
    // A lower bound: not before its time.
    assert!(idle_from.elapsed() >= Duration::from_secs(1), "left after {:?}", idle_from.elapsed());
    cancel.cancel();
    sweeper.await.unwrap();
}

