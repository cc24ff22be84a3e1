//! A tiny stand-in for Marathon's read path, for `bench/proxy/run.sh`: `GET /ping` answers
//! `pong`, `GET /v2/apps` a 100-app state (about the size of real app definitions), anything else
//! 404 in Marathon's error shape. Replaced by the simulator once it can serve a seeded state.
//!
//! Usage: `bench_upstream [ADDR]` (default 127.0.0.1:18080); prints `listening on ADDR`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

fn apps(n: usize) -> Bytes {
    let apps: Vec<_> = (0..n)
        .map(|i| {
            let env: serde_json::Map<String, serde_json::Value> = (0..20)
                .map(|j| (format!("APP_SETTING_{j}"), format!("value-{i}-{j}-abcdefghij").into()))
                .collect();
            serde_json::json!({
                "id": format!("/prod/team-{}/service-{i}", i % 7),
                "cmd": null, "args": null, "user": null,
                "env": env,
                "instances": 2, "cpus": 0.25, "mem": 512.0, "disk": 0.0, "gpus": 0,
                "executor": "", "constraints": [["hostname", "UNIQUE"]],
                "uris": [], "fetch": [], "storeUrls": [], "backoffSeconds": 1,
                "backoffFactor": 1.15, "maxLaunchDelaySeconds": 3600,
                "container": {"type": "DOCKER", "volumes": [], "docker": {
                    "image": format!("registry.example.com/team/service-{i}:1.2.{i}"),
                    "network": "BRIDGE",
                    "portMappings": [{"containerPort": 8080, "hostPort": 0, "servicePort": 10000 + i, "protocol": "tcp", "labels": {}}],
                    "privileged": false, "parameters": [], "forcePullImage": false}},
                "healthChecks": [{"path": "/health", "protocol": "HTTP", "portIndex": 0,
                    "gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
                    "maxConsecutiveFailures": 3, "ignoreHttp1xx": false}],
                "readinessChecks": [], "dependencies": [],
                "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
                "labels": {"team": format!("team-{}", i % 7), "HAPROXY_GROUP": "external"},
                "ipAddress": null, "version": "2024-01-01T00:00:00.000Z",
                "residency": null, "secrets": {}, "taskKillGracePeriodSeconds": null,
                "versionInfo": {"lastScalingAt": "2024-01-01T00:00:00.000Z", "lastConfigChangeAt": "2024-01-01T00:00:00.000Z"},
                "tasksStaged": 0, "tasksRunning": 2, "tasksHealthy": 2, "tasksUnhealthy": 0,
                "deployments": []
            })
        })
        .collect();
    Bytes::from(serde_json::json!({ "apps": apps }).to_string())
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on {}", listener.local_addr().unwrap());
    let apps = apps(100);
    eprintln!("/v2/apps body: {} bytes", apps.len());
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(_) => continue,
        };
        let _ = tcp.set_nodelay(true);
        let apps = apps.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let apps = apps.clone();
                async move {
                    let (ctype, status, body) = match req.uri().path() {
                        "/ping" => ("text/plain;charset=utf-8", 200, Bytes::from_static(b"pong")),
                        "/v2/apps" => ("application/json", 200, apps),
                        "/v2/leader" => (
                            "application/json",
                            200,
                            Bytes::from(format!("{{\"leader\":\"{}\"}}", req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or(""))),
                        ),
                        _ => ("application/json", 404, Bytes::from_static(b"{\"message\":\"not found\"}")),
                    };
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(status)
                            .header("content-type", ctype)
                            .body(Full::new(body))
                            .unwrap(),
                    )
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
