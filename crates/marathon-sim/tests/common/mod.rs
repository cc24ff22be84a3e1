//! Test helpers: a tiny HTTP client and SSE reader against the in-process simulator, and the
//! suite's one way to wait ([`eventually`], from the `eventually` crate the proxy's tests wait with
//! too; not through `proxy::test_util`, which would relink these binaries at every proxy change).
#![allow(dead_code)]

pub use eventually::*;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn call(base: &str, method: &str, path: &str, body: impl Into<Bytes>) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .unwrap();
    let res = client().request(req).await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Resp { status, headers, body }
}

pub async fn get(base: &str, path: &str) -> Resp {
    call(base, "GET", path, Bytes::new()).await
}

/// Opens `/v2/events` (with `query`) and returns the streaming body.
pub async fn events(base: &str, query: &str) -> Incoming {
    let req = Request::builder()
        .method("GET")
        .uri(format!("{base}/v2/events{query}"))
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = client().request(req).await.expect("request");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    res.into_body()
}

/// Reads SSE frames until `n` events arrived (or the stream ended), returning `(event, data)`.
pub async fn read_events(body: &mut Incoming, n: usize) -> Vec<(String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let frame = no_hang(format!("event {} of {n}", out.len() + 1), body.frame()).await;
        let Some(Ok(frame)) = frame else { break };
        if let Some(data) = frame.data_ref() {
            buf.push_str(std::str::from_utf8(data).unwrap());
        }
        while let Some(end) = buf.find("\r\n\r\n") {
            let block: String = buf[..end].to_string();
            buf.drain(..end + 4);
            let block = block.trim_start_matches("\r\n");
            let mut event = String::new();
            let mut data = String::new();
            for line in block.split("\r\n") {
                if let Some(e) = line.strip_prefix("event: ") {
                    event = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_string();
                }
            }
            if !event.is_empty() {
                out.push((event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

/// Waits until `/v2/deployments` is empty.
pub async fn settle(base: &str) {
    eventually("the deployments finish", || async { get(base, "/v2/deployments").await.json().as_array().unwrap().is_empty() }).await;
}
