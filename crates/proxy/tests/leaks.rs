//! After a run of normal and faulty traffic and a shutdown, file descriptors and tasks return to
//! their baseline. One test in its own binary, so that no other test's sockets are counted.

use bytes::Bytes;
use proxy::test_util::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use tokio::io::AsyncWriteExt;

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_and_tasks_return_to_baseline() {
    // Warm up process-wide things that legitimately stay (e.g. the system trust store read).
    let _ = proxy::tls::client_config(&Default::default());
    let fd_base = open_fds();
    let task_base = alive_tasks();

    // A leaked socket can also stall a connection the client reuses: a hang, named, not a wait
    // for CI's own timeout.
    no_hang("normal and faulty traffic, then the shutdown", async {
        let m = fake_marathon("m", None).await;
        let dead = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let mut cfg = test_config(&[m.url()]);
        cfg.upstream.response_timeout_ms = 200;
        let p = start_proxy(cfg).await;
        let p_down = start_proxy(test_config(&[dead])).await;
        let c = client();
        for i in 0..50 {
            assert_eq!(fetch(&c, get(&p.url("/v2/apps"))).await.0, 200);
            assert_eq!(fetch(&c, req("PUT", &p.url(&format!("/v2/apps/a{i}")), "{}")).await.0, 200);
        }
        for _ in 0..10 {
            assert_eq!(fetch(&c, get(&p_down.url("/ping"))).await.0, 502);
            assert_eq!(fetch(&c, get(&p.url("/slow"))).await.0, 504);
            let resp = c.request(get(&p.url("/reset"))).await.unwrap();
            assert!(resp.into_body().collect().await.is_err());
        }
        // Event streams opened and abandoned.
        for _ in 0..5 {
            let r = Request::get(p.url("/v2/events"))
                .header("accept", "text/event-stream")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = c.request(r).await.unwrap();
            m.emit("data: x\r\n\r\n");
            drop(resp);
        }
        // Partial uploads.
        for _ in 0..5 {
            let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
            s.write_all(b"POST /v2/apps HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\":")
                .await
                .unwrap();
            drop(s);
        }
        // One stream still open at shutdown.
        let r = Request::get(p.url("/v2/events"))
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let open = c.request(r).await.unwrap();
        // Marathon notices an abandoned stream at its next write: heartbeats, until only the
        // stream still held is open there.
        eventually("only the held stream is open on Marathon", || async {
            m.emit("\r\n");
            m.open_streams() == 1
        })
        .await;
        p.shutdown().await.unwrap();
        p_down.shutdown().await.unwrap();
        drop(open);
        drop(c);
        m.stop().await;
    })
    .await;

    eventually("descriptors and tasks back to their baseline", || async {
        let (fds, tasks) = (open_fds(), alive_tasks());
        match fds <= fd_base && tasks <= task_base {
            true => Ok(()),
            false => Err(format!("file descriptors: {fds} now, {fd_base} before; tasks: {tasks} now, {task_base} before")),
        }
    })
    .await;
}
