//! Clients of the proxy and of the fake Marathon, and what tests read from their answers.

use std::path::Path;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type TestClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub fn client() -> TestClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn get(url: &str) -> Request<Full<Bytes>> {
    Request::get(url).body(Full::new(Bytes::new())).unwrap()
}

pub fn req(method: &str, url: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// Status, headers and body of a response (body collected).
pub async fn fetch(c: &TestClient, r: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = c.request(r).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, body)
}

pub fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

/// A loopback address where nothing listens, reserved for as long as the socket lives: bound but
/// never listening, so connections are refused and no other test can take the port meanwhile.
pub fn dead_port() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    (url, socket)
}

/// Number of open file descriptors of this process. Counted in `/proc`, which the tests' Linux
/// has: without it there is nothing to count, and a count of 0 would pass every leak check. The
/// count is of the whole process: only a test binary running nothing else at the same time can
/// compare it with a baseline (the proxy's `tests/leaks.rs` is one of its own for that).
pub fn open_fds() -> usize {
    let fds = Path::new("/proc/self/fd");
    std::fs::read_dir(fds).map(|d| d.count()).unwrap_or_else(|e| panic!("{}: {e}; the descriptor count needs Linux's /proc", fds.display()))
}
