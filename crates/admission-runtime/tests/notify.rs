//! Notifications end to end, on 127.0.0.1 only: the simulator behind the proxy, a `[[notify]]`
//! webhook served by the test. A rejection and a warning each reach it as JSON with a
//! Slack-compatible `text`, the group and its owner; the env and label values of the writes
//! reach it nowhere.

use crate::common::admission_setup::*;
use crate::common::*;
use crate::common::webhook_receiver::WebhookReceiver;

const LIMIT: u64 = 20_000;
const ENV_SECRET: &str = "env-value-that-must-stay-put";
const LABEL_SECRET: &str = "label-value-that-must-stay-put";

/// An app with `vars` env values (each carrying [`ENV_SECRET`]) and a label ([`LABEL_SECRET`]).
fn app(id: &str, vars: usize) -> String {
    let env: serde_json::Map<String, serde_json::Value> = (0..vars).map(|i| (format!("VAR_{i:03}"), serde_json::json!(format!("{ENV_SECRET}-{i}")))).collect();
    serde_json::json!({"id": id, "cmd": "sleep 1000", "env": env, "labels": {"HAPROXY_0_VHOST": LABEL_SECRET}}).to_string()
}

#[tokio::test]
async fn a_rejection_and_a_warning_reach_the_webhook_without_env_or_label_values() {
    let receiver = WebhookReceiver::start().await;
    // Warnings from 5% of the limit: the small write below warns, the large one is refused.
    let admission = format!("zk_max_node_size = {LIMIT}\nwarn_at = 0.05\nresync_interval_ms = 200\naudit_log = \"off\"\n");
    let url = receiver.url.clone();
    let s = setup_unready(sim_legacy(LIMIT, None), &admission, move |config, _| {
        config.notify = vec![format!("url = \"{url}\"\nproxy_name = \"marathon-test\"").parse().unwrap()];
        config.quota = vec![
            "group = \"/dev\"\nmax_apps = 50\nowner = \"team-dev@example.com\"".parse().unwrap(),
            "group = \"/prod\"\nmax_apps = 50\nowner = \"team-prod@example.com\"".parse().unwrap(),
        ];
    })
    .await;
    wait_ready(&s.proxy).await;
    let c = client();

    let (status, headers, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app("/dev/small", 20))).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(headers.get("warning").is_some(), "the small write should warn");
    let (status, _, body) = fetch(&c, req("POST", &s.proxy.url("/v2/apps"), &app("/prod/huge", 400))).await;
    assert!(is_our_rejection(status, &body), "{status} {}", String::from_utf8_lossy(&body));

    let got = eventually("both notifications received", || async {
        let got = receiver.received_json();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let of = |event: &str| got.iter().find(|v| v["event"] == event).unwrap_or_else(|| panic!("no {event} in {got:?}")).clone();
    let (warn, reject) = (of("warn"), of("reject"));
    assert_eq!((warn["group"].as_str(), warn["owner"].as_str()), (Some("/dev"), Some("team-dev@example.com")));
    assert_eq!((reject["group"].as_str(), reject["owner"].as_str()), (Some("/prod"), Some("team-prod@example.com")));
    for v in [&warn, &reject] {
        assert_eq!(v["proxy"], "marathon-test");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["limit_bytes"], LIMIT);
        assert!(v["predicted_bytes"].as_u64().unwrap() > 0);
        let text = v["text"].as_str().unwrap();
        assert!(text.starts_with("[marathon-test] marathon-admission") && text.contains(v["owner"].as_str().unwrap()), "{text}");
    }
    assert_eq!(reject["decision"], "reject");
    assert_eq!(reject["ids"][0], "/prod/huge");
    for body in receiver.received() {
        let raw = String::from_utf8_lossy(&body);
        assert!(!raw.contains(ENV_SECRET) && !raw.contains(LABEL_SECRET), "a value reached the webhook: {raw}");
    }

    eventually("both deliveries counted", || async {
        let (_, _, m) = fetch(&c, get(&s.proxy.admin_url("/metrics"))).await;
        let m = String::from_utf8_lossy(&m).into_owned();
        m.lines().any(|l| l.starts_with("marathon_admission_proxy_notifications_sent_total{webhook=\"127.0.0.1:") && l.ends_with(" 2"))
    })
    .await;
}
