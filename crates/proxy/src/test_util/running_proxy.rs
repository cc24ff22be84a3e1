//! The proxy running in the test's runtime, on 127.0.0.1:0, and the configuration tests start from.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::{client, eventually, get};
use crate::{MarathonClient, NoPhases, Proxy, ProxyConfig, RequestPhases};

/// A running proxy.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl RunningProxy {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }
    /// Triggers graceful shutdown and waits for `run` to return.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A configuration in front of `marathons`: both listeners on 127.0.0.1:0 (the OS picks the ports,
/// so tests in one process never collide), the leader polled every 100 ms so a test need not wait
/// long for readiness.
pub fn test_config(marathons: &[String]) -> ProxyConfig {
    let mut c = ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        marathon: marathons.to_vec(),
        ..Default::default()
    };
    c.upstream.leader_poll_interval_ms = 100;
    c.upstream.connect_timeout_ms = 1000;
    c.upstream.response_timeout_ms = 5000;
    c.listener.shutdown_grace_secs = 5;
    c
}

pub async fn start_proxy(config: ProxyConfig) -> RunningProxy {
    start_proxy_with(config, Arc::new(NoPhases)).await
}

/// A proxy with `phases`, and a client of its own reads built from `config`.
pub async fn start_proxy_with(
    config: ProxyConfig,
    phases: Arc<dyn RequestPhases>,
) -> RunningProxy {
    let marathon = MarathonClient::new(&config).unwrap();
    start_proxy_sharing(config, phases, marathon).await
}

/// A proxy whose own reads go through `marathon`, the client the phases were built with (as
/// `serve` does: the model then follows the leader the proxy's poll finds).
pub async fn start_proxy_sharing(
    config: ProxyConfig,
    phases: Arc<dyn RequestPhases>,
    marathon: MarathonClient,
) -> RunningProxy {
    let p = Proxy::bind(config, phases, marathon).await.unwrap();
    let (addr, admin) = (p.local_addr(), p.admin_addr());
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(p.run(async move {
        let _ = rx.await;
    }));
    RunningProxy {
        addr,
        admin,
        stop: Some(stop),
        task: Some(task),
    }
}

/// Waits until `/readyz` says ready (the first leader poll happened).
pub async fn wait_ready(p: &RunningProxy) {
    let c = client();
    eventually("the proxy is ready", || async {
        match c.request(get(&p.admin_url("/readyz"))).await {
            Ok(r) => r.status() == 200,
            Err(_) => false,
        }
    })
    .await;
}
