//! A webhook receiver on 127.0.0.1 for the notification tests (the notifier's own and the
//! end-to-end ones include this very file): it records every request body as it arrives, answers
//! the statuses it was told to (then 200), or holds requests unanswered.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

#[derive(Default)]
struct State {
    bodies: Vec<Bytes>,
    answers: VecDeque<u16>,
    hold: bool,
}

pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/hook/SECRET-PART` (a path like a chat webhook's).
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/T0/B0/not-a-real-credential", listener.local_addr().unwrap());
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let (hold, status) = {
                                let mut s = state.lock().unwrap();
                                s.bodies.push(body);
                                (s.hold, s.answers.pop_front().unwrap_or(200))
                            };
                            if hold {
                                std::future::pending::<()>().await;
                            }
                            let mut resp = hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        WebhookReceiver { url, state, task }
    }

    /// The next requests are answered with `statuses`, in order; then 200 again.
    pub fn answer_with(&self, statuses: &[u16]) {
        self.state.lock().unwrap().answers.extend(statuses);
    }

    /// Requests from now on are received but never answered.
    pub fn hold(&self) {
        self.state.lock().unwrap().hold = true;
    }

    /// Every body received so far, in order.
    pub fn received(&self) -> Vec<Bytes> {
        self.state.lock().unwrap().bodies.clone()
    }

    /// The bodies received so far, as JSON.
    pub fn received_json(&self) -> Vec<serde_json::Value> {
        self.received().iter().map(|b| serde_json::from_slice(b).expect("a notification is JSON")).collect()
    }
}
