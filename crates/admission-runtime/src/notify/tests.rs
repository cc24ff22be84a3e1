//! The notifier against a real receiver on 127.0.0.1: retries, final answers, a full queue, the
//! rate limit, and a reload.

#[path = "../../tests/common/webhook_receiver.rs"]
mod webhook_receiver;

use proxy::test_util::eventually;
use webhook_receiver::WebhookReceiver;

use super::*;

fn webhook(url: &str, extra: &str) -> NotifyTarget {
    let text = format!("[[notify]]\nurl = \"{url}\"\nproxy_name = \"test-proxy\"\nretry_backoff_ms = 5\n{extra}");
    parse_text(&text, "test").unwrap().remove(0)
}

fn rejection(app: &str) -> AuditRecord {
    AuditRecord {
        time: "2024-05-01T10:00:00.000Z".into(),
        client: "127.0.0.1:1".into(),
        user: None,
        method: "POST".into(),
        path: "/v2/apps".into(),
        decision: "reject",
        reason: "over_limit",
        reasons: vec![format!("{app} would not fit")],
        predicted_bytes: Some(1_020_000),
        current_bytes: Some(900_000),
        limit_bytes: Some(1_024_000),
        estimator: Some("exact"),
        error_bound_bytes: None,
        decision_ms: 1.0,
        phases_ms: None,
        dry_run: false,
    }
}

fn decide(n: &Notifier, app: &str) {
    n.decided(&rejection(app), &[PathId::parse(app)], None, &QuotaSet::default());
}

fn count(f: &Family<WebhookLabels, Counter>, hook: &NotifyTarget) -> u64 {
    f.get_or_create(&WebhookLabels { webhook: hook.label() }).get()
}

fn dropped(n: &Notifier, hook: &NotifyTarget, reason: &'static str) -> u64 {
    n.metrics.dropped.get_or_create(&DroppedLabels { webhook: hook.label(), reason }).get()
}

#[tokio::test]
async fn errors_worth_retrying_are_retried_and_final_answers_are_not() {
    let receiver = WebhookReceiver::start().await;
    let hook = webhook(&receiver.url, "retries = 2");
    let n = Notifier::start(vec![hook.clone()], 0.8);
    receiver.answer_with(&[503, 429]);
    decide(&n, "/dev/a");
    eventually("delivered on the third attempt", || async { count(&n.metrics.sent, &hook) == 1 }).await;
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(count(&n.metrics.failed, &hook), 0);

    // Every attempt failing: given up after the retries.
    receiver.answer_with(&[500, 500, 500]);
    decide(&n, "/prod/b");
    eventually("given up after 3 attempts", || async { count(&n.metrics.failed, &hook) == 1 }).await;
    assert_eq!(receiver.received().len(), 6);

    // A final answer: one attempt.
    receiver.answer_with(&[404]);
    decide(&n, "/qa/c");
    eventually("given up at once", || async { count(&n.metrics.failed, &hook) == 2 }).await;
    assert_eq!(receiver.received().len(), 7);
    let last = &receiver.received_json()[6];
    assert_eq!((last["group"].as_str(), last["proxy"].as_str()), (Some("/qa"), Some("test-proxy")));
}

#[tokio::test]
async fn a_webhook_that_never_answers_fills_its_queue_and_no_more() {
    let receiver = WebhookReceiver::start().await;
    receiver.hold();
    let hook = webhook(&receiver.url, "queue = 1\ntimeout_ms = 600000\nretries = 0");
    let n = Notifier::start(vec![hook.clone()], 0.8);
    decide(&n, "/a/x");
    eventually("the first notification is in flight", || async { receiver.received().len() == 1 }).await;
    // One more waits in the queue; the rest are dropped, and the decisions never waited.
    for g in ["/b/x", "/c/x", "/d/x"] {
        decide(&n, g);
    }
    assert_eq!(dropped(&n, &hook, "queue_full"), 2);
    assert_eq!(count(&n.metrics.sent, &hook) + count(&n.metrics.failed, &hook), 0);
}

#[tokio::test]
async fn a_group_is_told_a_few_times_a_minute_and_others_still_are() {
    let receiver = WebhookReceiver::start().await;
    let hook = webhook(&receiver.url, "per_group_per_minute = 2");
    let n = Notifier::start(vec![hook.clone()], 0.8);
    for _ in 0..5 {
        decide(&n, "/dev/loop");
    }
    decide(&n, "/prod/other");
    assert_eq!(dropped(&n, &hook, "rate_limited"), 3);
    eventually("3 delivered", || async { count(&n.metrics.sent, &hook) == 3 }).await;
    let groups: Vec<String> = receiver.received_json().iter().map(|v| v["group"].as_str().unwrap().to_string()).collect();
    assert_eq!(groups, ["/dev", "/dev", "/prod"]);
}

#[tokio::test]
async fn a_reload_moves_notifications_to_the_new_webhooks() {
    let (old, new) = (WebhookReceiver::start().await, WebhookReceiver::start().await);
    let n = Notifier::start(vec![webhook(&old.url, "")], 0.8);
    decide(&n, "/dev/a");
    eventually("the old webhook told", || async { old.received().len() == 1 }).await;
    n.install(vec![webhook(&new.url, "events = [\"reject\"]")]);
    decide(&n, "/dev/b");
    eventually("the new webhook told", || async { new.received().len() == 1 }).await;
    assert_eq!(old.received().len(), 1);
    // The same configuration again keeps the webhook (and its rate limit) as it is.
    let before = Arc::as_ptr(&n.webhooks.read().unwrap()[0]);
    n.install(vec![webhook(&new.url, "events = [\"reject\"]")]);
    assert_eq!(before, Arc::as_ptr(&n.webhooks.read().unwrap()[0]));
    n.install(Vec::new());
    decide(&n, "/dev/c");
    assert!(n.webhooks.read().unwrap().is_empty());
}
