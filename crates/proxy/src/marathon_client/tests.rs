//! Against small local Marathons that name a leader and say who they are.

use std::convert::Infallible;
use std::sync::Mutex;

use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;

struct FakeMarathon {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMarathon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Marathon at a fixed address that names `leader` (a `host:port` filled in after binding) on
/// `/v2/leader`, answers `/v2/info` with `{"name": name}` and everything else with `status`.
async fn fake_marathon(name: &'static str, leader: Arc<Mutex<String>>, status: u16) -> FakeMarathon {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let leader = leader.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let leader = leader.lock().unwrap().clone();
                    async move {
                        let (code, text) = match req.uri().path() {
                            "/v2/leader" => (200, format!(r#"{{"leader":"{leader}"}}"#)),
                            "/v2/info" => (200, format!(r#"{{"name":"{name}"}}"#)),
                            _ => (status, "{}".to_owned()),
                        };
                        let mut resp = Response::new(Full::new(Bytes::from(text)));
                        *resp.status_mut() = http::StatusCode::from_u16(code).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
    FakeMarathon { url, task }
}

fn client(urls: &[&str]) -> MarathonClient {
    MarathonClient::for_marathons(urls.iter().map(|u| u.parse().unwrap()).collect(), &UpstreamConfig::default()).unwrap()
}

/// A loopback port with nothing listening.
/// A loopback address where nothing listens, reserved for as long as the socket lives: bound but
/// never listening, so connections are refused and no other test can take the port meanwhile.
fn dead_port() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    (url, socket)
}

#[tokio::test]
async fn reads_go_to_the_leader_the_poll_found() {
    let leader = Arc::new(Mutex::new(String::new()));
    let a = fake_marathon("a", leader.clone(), 200).await;
    let b = fake_marathon("b", leader.clone(), 200).await;
    *leader.lock().unwrap() = b.url.trim_start_matches("http://").to_owned();
    let c = client(&[&a.url, &b.url]);
    assert_eq!(&c.get("/v2/info").await.unwrap()[..], br#"{"name":"a"}"#, "before a poll: the configured order");
    c.poll_leader_once().await;
    assert_eq!(c.upstreams().leader().map(|l| display_base(&l)), Some(b.url.clone()));
    assert_eq!(&c.get("/v2/info").await.unwrap()[..], br#"{"name":"b"}"#, "after the poll: the leader first");
}

#[tokio::test]
async fn an_unreachable_marathon_is_passed_over_and_tried_last() {
    let leader = Arc::new(Mutex::new("nowhere:1".to_owned()));
    let (dead, _reserved) = dead_port();
    let b = fake_marathon("b", leader, 200).await;
    let c = client(&[&dead, &b.url]);
    assert_eq!(&c.get("/v2/info").await.unwrap()[..], br#"{"name":"b"}"#);
    let order: Vec<String> = c.upstreams().candidates().iter().map(display_base).collect();
    assert_eq!(order, vec![b.url.clone(), dead.clone()]);
}

#[tokio::test]
async fn a_read_nobody_answers_names_each_marathon_and_its_error() {
    let leader = Arc::new(Mutex::new(String::new()));
    let (dead, _reserved) = dead_port();
    let refusing = fake_marathon("r", leader, 401).await;
    let c = client(&[&dead, &refusing.url]);
    let e = c.get("/v2/groups").await.unwrap_err().to_string();
    assert!(e.contains(&format!("{dead}: ")) && e.to_lowercase().contains("connect"), "{e}");
    assert!(e.contains(&format!("{}: /v2/groups answered 401", refusing.url)), "{e}");
    assert!(client(&[]).get("/v2/info").await.unwrap_err().to_string().contains("no Marathon configured"));
}

#[tokio::test]
async fn a_subscription_that_is_refused_is_an_error_not_a_stream() {
    let leader = Arc::new(Mutex::new(String::new()));
    let refusing = fake_marathon("r", leader.clone(), 503).await;
    let open = fake_marathon("o", leader, 200).await;
    let c = client(&[&refusing.url, &open.url]);
    let (base, resp) = c.subscribe("/v2/events").await.unwrap();
    assert_eq!(display_base(&base), open.url);
    assert!(resp.status().is_success());
    let only_refusing = client(&[&refusing.url]);
    let e = only_refusing.subscribe("/v2/events").await.unwrap_err().to_string();
    assert!(e.contains("/v2/events answered 503"), "{e}");
}
