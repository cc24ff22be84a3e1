//! Marathon's own address never leaks through the proxy in the headers clients follow: the
//! simulator (which answers `Location` and `X-Marathon-Leader` as Marathon does) behind a
//! transparent proxy, on 127.0.0.1 only.

use proxy::test_util::*;

#[tokio::test]
async fn location_and_leader_name_the_proxy_and_the_leader_body_stays() {
    let sim = marathon_sim::start(marathon_sim::SimConfig::default()).await.unwrap();
    let p = start_proxy(test_config(&[sim.url()])).await;
    wait_ready(&p).await;
    let c = client();
    let (status, headers, _) = fetch(&c, req("POST", &p.url("/v2/apps"), r#"{"id":"/web/front","cmd":"sleep 1"}"#)).await;
    assert_eq!(status, 201);
    assert_eq!(headers["location"], p.url("/web/front"));
    assert_eq!(headers["x-marathon-leader"], p.url(""));
    // Following them leads back to the proxy, never to Marathon directly.
    assert!(!headers["location"].to_str().unwrap().contains(sim.url().trim_start_matches("http://")));

    let (_, headers, body) = fetch(&c, get(&p.url("/v2/leader"))).await;
    assert_eq!(headers["x-marathon-leader"], p.url(""));
    assert_eq!(json(&body)["leader"], sim.url().trim_start_matches("http://"), "the leader's own address, as asked");

    let mut cfg = test_config(&[sim.url()]);
    cfg.upstream.rewrite_marathon_addresses = false;
    let q = start_proxy(cfg).await;
    let (_, headers, _) = fetch(&c, get(&q.url("/v2/apps"))).await;
    assert_eq!(headers["x-marathon-leader"], sim.url());
    q.shutdown().await.unwrap();
    p.shutdown().await.unwrap();
    sim.shutdown().await;
}
