//! Two proxies in front of one simulator, sharing the in-flight ledger through a real ZooKeeper
//! (Debian's `zookeeper`, started here on 127.0.0.1), against the same two with a ledger each.
//!
//! The models never resync during the test (no events, a resync interval of minutes), so what a
//! decision knows of the other proxy's writes comes only from the ledger: with a shared one the
//! two admit together what one would; with their own, each admits that much and Marathon (the
//! simulator) refuses the excess itself.

use std::sync::Arc;

use admission_runtime::ServeConfig;
use crate::common::admission_setup::*;
use crate::common::*;
use marathon_sim::testing::ZooKeeper;

const LIMIT: u64 = 20_000;

struct Replica {
    proxy: RunningProxy,
    admission: Arc<admission_runtime::Admission>,
}

async fn replica(sim: &marathon_sim::SimHandle, ledger: Option<&str>) -> Replica {
    let r = replica_unready(sim, ledger, "").await;
    wait_ready(&r.proxy).await;
    r
}

/// Whether a replica's model follows Marathon.
#[derive(Clone, Copy)]
enum Model {
    /// Synced once at the start, never again (no events, a resync interval of minutes): what it
    /// knows of later writes comes from the ledger only.
    Frozen,
    /// Resyncs every 200 ms (no events: syncs come at that pace whatever happens).
    Following,
}

/// A replica with `[ledger] zookeeper = ledger` and the keys `more`, not waited for.
async fn replica_unready(sim: &marathon_sim::SimHandle, ledger: Option<&str>, more: &str) -> Replica {
    replica_with_model(sim, ledger, more, Model::Frozen).await
}

async fn replica_with_model(sim: &marathon_sim::SimHandle, ledger: Option<&str>, more: &str, model: Model) -> Replica {
    let mut config = test_config(&[sim.url()]);
    let follow = match model {
        Model::Frozen => "resync_interval_ms = 600000\nevents = false",
        Model::Following => "resync_interval_ms = 200\nevents = false",
    };
    let admission = format!("zk_max_node_size = {LIMIT}\n{follow}\naudit_log = \"off\"\n");
    config.admission = Some(admission.parse().unwrap());
    config.ledger = ledger.map(|spec| format!("zookeeper = \"{spec}\"\ntimeout_ms = 5000\n{more}").parse().unwrap());
    let serve = ServeConfig::from_proxy_config(config).unwrap();
    let marathon = proxy::MarathonClient::new(&serve.proxy).unwrap();
    let admission = admission_runtime::start_admission(&serve, &marathon);
    let proxy = start_proxy_sharing(serve.proxy, admission.clone(), marathon).await;
    Replica { proxy, admission }
}

/// Writes alternately through `replicas` until each has refused one; (admitted, the proxies'
/// refusals, the simulator's own refusals).
async fn alternate_writes(replicas: &[Replica], tag: &str) -> (usize, usize, usize) {
    let c = client();
    let (mut admitted, mut ours, mut marathons) = (0, 0, 0);
    for i in 0..60 {
        let r = &replicas[i % replicas.len()];
        let (status, _, body) = fetch(&c, req("POST", &r.proxy.url("/v2/apps"), &app_body(&format!("/{tag}/app-{i:02}"), 12))).await;
        match status.as_u16() {
            201 => admitted += 1,
            422 if is_our_rejection(status, &body) => ours += 1,
            422 => marathons += 1,
            s => panic!("write {i}: {s} {}", String::from_utf8_lossy(&body)),
        }
        if ours >= replicas.len() {
            break;
        }
    }
    (admitted, ours, marathons)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_ledger_admit_together_what_one_would() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let spec = format!("{}/marathon-admission/ledger", zk.connect_string());

    let alone_sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let alone = [replica(&alone_sim, Some(&spec)).await];
    let (one_admits, _, marathon_refused) = alternate_writes(&alone, "one").await;
    assert_eq!(marathon_refused, 0);
    assert!(one_admits >= 4, "the wall is too close for the test to mean something: {one_admits}");

    let shared_sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let shared = [replica(&shared_sim, Some(&format!("{spec}-2"))).await, replica(&shared_sim, Some(&format!("{spec}-2"))).await];
    let (admitted, ours, marathons) = alternate_writes(&shared, "two").await;
    assert_eq!(marathons, 0, "a write the simulator refused itself reached it");
    assert!(ours >= 2);
    assert!(admitted.abs_diff(one_admits) <= 1, "two replicas sharing a ledger admitted {admitted}, one alone {one_admits}");
    assert!(shared.iter().all(|r| r.admission.ledger_len() > 0), "each replica sees the shared reservations");

    let own_sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let own = [replica(&own_sim, None).await, replica(&own_sim, None).await];
    let (_, _, marathons) = alternate_writes(&own, "own").await;
    assert!(marathons > 0, "with a ledger each, the two over-admit and the simulator refuses the excess");
    drop(zk);
}

/// Marathon answered a write 503 "Futures timed out" (its REST layer stopped waiting for the
/// write) and applies it afterwards: the write stays charged on the replica that forwarded it and
/// on the other, through the syncs of their models that start after the answer (they do not show
/// it yet), so that the next write, which fits only without it, is the proxy's refusal rather
/// than a write Marathon refuses (or times out on) itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_marathon_timed_out_on_stays_charged() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let spec = format!("{}/marathon-admission/ledger", zk.connect_string());
    let c = client();
    let write = |r: &Replica, i: usize| req("POST", &r.proxy.url("/v2/apps"), &app_body(&format!("/late/app-{i:02}"), 12));

    // How many of these writes fit, one after another.
    let sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let alone = replica(&sim, Some(&format!("{spec}-capacity"))).await;
    let mut fit = 0;
    loop {
        let (status, _, body) = fetch(&c, write(&alone, fit)).await;
        match status.as_u16() {
            201 => fit += 1,
            _ if is_our_rejection(status, &body) => break,
            s => panic!("write {fit}: {s} {}", String::from_utf8_lossy(&body)),
        }
    }
    assert!(fit >= 3, "the wall is too close for the test to mean something: {fit}");

    // All but one of them through two replicas; the last one Marathon takes late.
    let sim = marathon_sim::start(marathon_sim::SimConfig { zk_timeout: std::time::Duration::from_millis(300), ..sim_legacy(LIMIT, None) }).await.unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let r = replica_with_model(&sim, Some(&spec), "", Model::Following).await;
        wait_ready(&r.proxy).await;
        replicas.push(r);
    }
    for i in 0..fit - 1 {
        let (status, _, body) = fetch(&c, write(&replicas[i % 2], i)).await;
        assert_eq!(status, 201, "write {i}: {}", String::from_utf8_lossy(&body));
    }
    sim.sim().set_write_delay(std::time::Duration::from_secs(4));
    let late = fit - 1;
    let (status, _, body) = fetch(&c, write(&replicas[0], late)).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("Futures timed out"), "{text}");
    // The models sync every 200 ms: several syncs start after the answer, and none shows the
    // write, which Marathon is still applying.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    // The room is taken by the write Marathon is still applying: one more is refused, through
    // either replica.
    for (n, r) in replicas.iter().enumerate() {
        let (status, _, body) = fetch(&c, write(r, late + 1 + n)).await;
        assert!(is_our_rejection(status, &body), "through replica {n}: {status} {}", String::from_utf8_lossy(&body));
    }
    let applied = marathon_model::PathId::parse(&format!("/late/app-{late:02}"));
    eventually("Marathon applies the write it timed out on", || async { sim.root().find_app(&applied).is_some() }).await;
    drop(zk);
}

/// ZooKeeper gone: `failure_policy = "closed"` answers growing writes 503 and passes deletions;
/// the replica's readiness says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_zookeeper_a_closed_policy_refuses_growing_writes_and_passes_deletions() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let spec = format!("{}/marathon-admission/ledger", zk.connect_string());
    let sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let r = replica(&sim, Some(&spec)).await;
    let c = client();
    let (status, _, _) = fetch(&c, req("POST", &r.proxy.url("/v2/apps"), &app_body("/a/one", 1))).await;
    assert_eq!(status, 201);
    drop(zk);
    let (status, headers, body) = fetch(&c, req("POST", &r.proxy.url("/v2/apps"), &app_body("/a/two", 1))).await;
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("shared ledger"), "{text}");
    assert!(headers.contains_key("retry-after"));
    let (status, _, body) = fetch(&c, req("DELETE", &r.proxy.url("/v2/apps/a/one"), "")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = fetch(&c, get(&r.proxy.admin_url("/readyz"))).await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("shared ledger"), "{}", String::from_utf8_lossy(&body));
}

/// An ensemble that takes SASL logins only: a replica that logs in with the right DIGEST-MD5
/// credentials decides through the shared ledger, and the nodes it creates are that user's; one
/// with a wrong password cannot use the ledger, says why on `/readyz`, and (failure policy
/// closed) refuses growing writes rather than deciding without the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_requiring_sasl_takes_the_replica_that_logs_in() {
    let zk = ZooKeeper::start_requiring_sasl("ledger", "s3cret").expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let spec = format!("{}/marathon-admission/ledger", zk.connect_string());
    let sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let c = client();

    let good = replica_unready(&sim, Some(&spec), "sasl_digest_md5 = \"ledger:s3cret\"").await;
    wait_ready(&good.proxy).await;
    let (status, headers, body) = fetch(&c, req("POST", &good.proxy.url("/v2/apps"), &app_body("/sasl/one", 1))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(!headers.contains_key("warning"), "decided without the shared ledger: {headers:?}");
    assert_eq!(good.admission.ledger_len(), 1, "the write is reserved in the shared ledger");

    // What the replica created is readable by the SASL user only.
    let admin = zookeeper_client::Client::connector()
        .with_sasl(zookeeper_client::SaslOptions::digest_md5("ledger", "s3cret"))
        .connect(&zk.connect_string())
        .await
        .expect("a SASL session");
    let (acls, _) = admin.get_acl("/marathon-admission/ledger/version").await.unwrap();
    let ids: Vec<(String, String)> = acls.iter().map(|a| (a.scheme().to_owned(), a.id().to_owned())).collect();
    assert_eq!(ids, vec![("sasl".to_owned(), "ledger".to_owned())], "{acls:?}");

    let bad = replica_unready(&sim, Some(&spec), "sasl_digest_md5 = \"ledger:not-the-pass-7Q\"").await;
    let why = eventually("the replica with a wrong password says the shared ledger is unavailable", || async {
        let (status, _, body) = fetch(&c, get(&bad.proxy.admin_url("/readyz"))).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        (status == 503 && text.contains("shared ledger")).then_some(text)
    })
    .await;
    assert!(!why.contains("not-the-pass-7Q"), "the password reached /readyz: {why}");
    let (status, headers, body) = fetch(&c, req("POST", &bad.proxy.url("/v2/apps"), &app_body("/sasl/two", 1))).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("retry-after"));
    drop(zk);
}

/// One replica's model shows the writes of another: it stops counting them, but the replica
/// whose model lags (here: never syncs again) still counts them from the shared ledger, so it
/// refuses what no longer fits instead of letting Marathon refuse it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_model_lags_still_counts_what_another_replicas_model_shows() {
    let zk = ZooKeeper::start().expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let spec = format!("{}/marathon-admission/ledger", zk.connect_string());
    let sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let following = replica_with_model(&sim, Some(&spec), "", Model::Following).await;
    let lagging = replica_with_model(&sim, Some(&spec), "", Model::Frozen).await;
    wait_ready(&following.proxy).await;
    wait_ready(&lagging.proxy).await;
    let c = client();

    // The following replica fills the room.
    let mut admitted = 0;
    for i in 0..60 {
        let (status, _, body) = fetch(&c, req("POST", &following.proxy.url("/v2/apps"), &app_body(&format!("/lag/app-{i:02}"), 12))).await;
        match status.as_u16() {
            201 => admitted += 1,
            422 if is_our_rejection(status, &body) => break,
            s => panic!("write {i} through the following replica: {s} {}", String::from_utf8_lossy(&body)),
        }
    }
    assert!(admitted >= 4, "the wall is too close for the test to mean something: {admitted}");

    assert_eq!(sim.root().transitive_apps().len(), admitted);
    // Its model shows them within a resync (200 ms). Once it has synced longer after their answers
    // than the clock skew the ledger allows between replicas (2 s), it decides once more, and
    // the view's refresh (every second) reads the ledger against that decision's model, which
    // is when a model that shows the writes would prune them. All well within the ledger's
    // timeout (30 s), after which an answered write counts nowhere by design. Waits on purpose:
    // when nothing is pruned there is nothing to observe.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (status, _, body) = fetch(&c, req("POST", &following.proxy.url("/v2/apps"), &app_body("/lag/after", 12))).await;
    assert!(is_our_rejection(status, &body), "the room is full: {status} {}", String::from_utf8_lossy(&body));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    // The lagging replica's model is the empty root it synced at the start.
    let (status, _, body) = fetch(&c, req("POST", &lagging.proxy.url("/v2/apps"), &app_body("/lag/one-more", 12))).await;
    assert!(
        is_our_rejection(status, &body),
        "one more write through the replica whose model lags: {status} {} (Marathon's own 422 means the other replica's writes were counted nowhere)",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(sim.root().transitive_apps().len(), admitted);
    drop(zk);
}

/// An ensemble reached over TLS only (its secure port, client certificates required, as
/// ZooKeeper's `ssl.clientAuth` has it by default): a replica with the CA and its certificate
/// decides through the shared ledger; one with the CA alone cannot use the ledger, says so on
/// `/readyz`, and (failure policy closed) refuses growing writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ensemble_over_tls_takes_the_replica_with_its_certificate() {
    let (ca, cert, key) = make_ca_and_leaf(&["localhost"]);
    let zk = ZooKeeper::start_with_tls(&ca, &cert, &key).expect("ZooKeeper from Debian's zookeeper package (.ci/run installs it)");
    let secure = zk.secure_connect_string().expect("a TLS port");
    let spec = format!("{secure}/marathon-admission/ledger");
    let file = |name: &str, text: &str| {
        let path = zk.scratch(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (ca_file, cert_file, key_file) = (file("client-ca.pem", &ca), file("client.pem", &cert), file("client-key.pem", &key));
    let sim = marathon_sim::start(sim_legacy(LIMIT, None)).await.unwrap();
    let c = client();

    let tls = format!("tls_ca = \"{ca_file}\"\ntls_cert = \"{cert_file}\"\ntls_key = \"{key_file}\"");
    let good = replica_unready(&sim, Some(&spec), &tls).await;
    wait_ready(&good.proxy).await;
    let (status, headers, body) = fetch(&c, req("POST", &good.proxy.url("/v2/apps"), &app_body("/tls/one", 1))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(!headers.contains_key("warning"), "decided without the shared ledger: {headers:?}");
    assert_eq!(good.admission.ledger_len(), 1, "the write is reserved in the shared ledger");

    let bad = replica_unready(&sim, Some(&spec), &format!("tls_ca = \"{ca_file}\"")).await;
    eventually("the replica without its certificate says the shared ledger is unavailable", || async {
        let (status, _, body) = fetch(&c, get(&bad.proxy.admin_url("/readyz"))).await;
        status == 503 && String::from_utf8_lossy(&body).contains("shared ledger")
    })
    .await;
    let (status, headers, body) = fetch(&c, req("POST", &bad.proxy.url("/v2/apps"), &app_body("/tls/two", 1))).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(headers.contains_key("retry-after"));
    drop(zk);
}
