use std::time::Duration;

use admission::quota::ClientIdentity;
use marathon_model::ops::{parse_write, Flavour};
use marathon_model::PathId;

use super::super::tests::over_limit_admission;
use super::super::{Admission, Asked, Evaluation};
use crate::ledger::Reservation;

fn new_app(id: &str) -> Vec<u8> {
    serde_json::json!({"id": id, "cmd": "sleep 1", "env": {"A_SETTING": "some-value-0123456789"}}).to_string().into_bytes()
}

/// A real write of `body` to `POST /v2/apps`, decided with its place in the order.
async fn decide(a: &Admission, body: &[u8]) -> Evaluation {
    let client = ClientIdentity::default();
    let asked = Asked { method: "POST", path: "/v2/apps", query: None, body, dry_run: false, client: &client };
    a.evaluate(asked).await.0
}

/// How many real writes' work ahead of the order ended as `outcome`.
fn worked_ahead(a: &Admission, outcome: &'static str) -> u64 {
    a.metrics.worked_ahead.get_or_create(&crate::admit_metrics::AheadLabels { outcome }).get()
}

fn phase_names(ev: &Evaluation) -> Vec<&'static str> {
    let Evaluation::Decided(d) = ev else { panic!("not decided") };
    d.phases.laps().iter().map(|(name, _)| *name).collect()
}

/// Waits (at most 30 s) for the warm state of the installed root: only the warm path works ahead.
async fn prepared(a: &Admission) {
    let generation = a.model.snapshot().await.unwrap().generation;
    for _ in 0..3000 {
        if a.model.prepared().is_some_and(|p| p.generation == generation) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no warm state was prepared");
}

/// The over-limit model of the decision tests, with its warm state prepared.
fn warm_admission(rt: &tokio::runtime::Runtime) -> Admission {
    let a = over_limit_admission(rt);
    rt.block_on(prepared(&a));
    a
}

fn has_app(root: &marathon_model::Group, id: &str) -> bool {
    root.find_app(&PathId::parse(id)).is_some()
}

#[test]
fn work_done_before_the_order_stands_when_nothing_moved_meanwhile() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let a = warm_admission(&rt);
    rt.block_on(async {
        let ev = decide(&a, &new_app("/team/one")).await;
        let names = phase_names(&ev);
        assert_eq!(names[..2], ["understand", "ahead"], "{names:?}");
        let after_order = &names[names.iter().position(|n| *n == "order").unwrap()..];
        assert!(!after_order.contains(&"sizes") && !after_order.contains(&"apply"), "worked out again in the order: {names:?}");
        let Evaluation::Decided(d) = ev else { unreachable!() };
        assert!(has_app(&d.target, "/team/one") && !has_app(&d.base, "/team/one"));
        assert_eq!((worked_ahead(&a, "stood"), worked_ahead(&a, "redone")), (1, 0));
    });
}

#[test]
fn a_write_reserved_while_a_decision_waited_for_the_order_is_in_its_base_worked_out_again() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let a = warm_admission(&rt);
    rt.block_on(async {
        let order = a.order.lock().await;
        let late = new_app("/team/late");
        let waiting = decide(&a, &late);
        tokio::pin!(waiting);
        // It works its write out, then waits for the order, which stays taken.
        assert!(tokio::time::timeout(Duration::from_secs(1), &mut waiting).await.is_err());
        // Meanwhile another write enters the ledger (as another decision, or replica, would).
        let snap = a.model.snapshot().await.unwrap();
        let mut ledger = a.ledger.begin(a.pending_query(&snap)).await.unwrap();
        let body = new_app("/team/early");
        let early = parse_write("POST", "/v2/apps", None, &body, Flavour::V13).unwrap().unwrap();
        ledger.reserve(Reservation::new("POST", "/v2/apps", None, &body), early).await.unwrap();
        drop(ledger);
        drop(order);

        let ev = waiting.await;
        let names = phase_names(&ev);
        // The pass on the old base is one phase, `moved`; the write is then worked out again
        // ahead of the order, on the base with the other write, and that work stands.
        assert_eq!(names, ["understand", "moved", "ahead", "order", "ledger", "ledger_writes", "checks"], "{names:?}");
        assert_eq!((worked_ahead(&a, "stood"), worked_ahead(&a, "redone")), (1, 0));
        let Evaluation::Decided(d) = ev else { unreachable!() };
        assert!(has_app(&d.base, "/team/early"), "the base lacks the write reserved meanwhile");
        assert!(has_app(&d.target, "/team/early") && has_app(&d.target, "/team/late"));
        // Sized on that base: the same sizes as a decision that starts now on the same ledger.
        let again = decide(&a, &late).await;
        let Evaluation::Decided(fresh) = again else { panic!("not decided") };
        assert_eq!(d.sizes.current, fresh.sizes.current, "the current sizes are the base's, ledger included");
    });
}
