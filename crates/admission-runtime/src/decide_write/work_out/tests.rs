use std::sync::Arc;
use std::time::Duration;

use admission::quota::ClientIdentity;
use admission::Policy;
use marathon_model::ops::{apply, parse_write, Flavour, NoHistory};
use marathon_model::{Group, PathId, Timestamp};
use znode_size::synthetic::heroku_root;
use znode_size::StoreConfig;

use super::super::tests::{admission_on, over_limit_admission};
use super::super::{Admission, Asked, Evaluation};
use crate::decision_sizes::{exact_decision, warm, Prepared, SizeEngine, Thresholds, Warm};
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

/// A new app whose env compresses badly, so that each one changes the plan by its own bytes.
fn drifting_app(i: usize) -> Vec<u8> {
    let tag = format!("{:040x}", (i as u128 + 7) * 0x9e37_79b9_7f4a_7c15);
    serde_json::json!({"id": format!("/drift/app-{i}"), "cmd": "sleep 1", "env": {"RELEASE": tag}}).to_string().into_bytes()
}

fn posted(root: &Group, body: &[u8]) -> Group {
    let w = parse_write("POST", "/v2/apps", None, body, Flavour::V13).unwrap().unwrap();
    apply(root, &w, Timestamp::now(), Flavour::V13, &NoHistory).unwrap().root
}

/// `heroku_root(300, 10)`, twelve new apps that each change the plan by their own bytes, and
/// the root with them.
fn drifted_base() -> (Group, Vec<Vec<u8>>, Arc<Group>) {
    let root = heroku_root(300, 10);
    let in_ledger: Vec<Vec<u8>> = (0..12).map(drifting_app).collect();
    let base = Arc::new(in_ledger.iter().fold(root.clone(), |r, body| posted(&r, body)));
    (root, in_ledger, base)
}

/// `bodies` posted to `/v2/apps` and reserved in `a`'s ledger, as admitted writes in flight.
async fn reserve_all(a: &Admission, bodies: &[Vec<u8>]) {
    let snap = a.model.snapshot().await.unwrap();
    let mut ledger = a.ledger.begin(a.pending_query(&snap)).await.unwrap();
    for body in bodies {
        let w = parse_write("POST", "/v2/apps", None, body, Flavour::V13).unwrap().unwrap();
        ledger.reserve(Reservation::new("POST", "/v2/apps", None, body), w).await.unwrap();
    }
}

/// The middle one of the node size limits above `binding` (in steps of 512 bytes) where `fits`.
fn middle_limit(binding: u64, fits: impl Fn(&u64) -> bool, none: &str) -> u64 {
    let limits: Vec<u64> = (1..800).map(|k| binding + k * 512).filter(|l| fits(l)).collect();
    assert!(!limits.is_empty(), "{none}");
    limits[limits.len() / 2]
}

fn decides(w: Warm) -> bool {
    matches!(w, Warm::Sized(_) | Warm::Drifting(_))
}

/// A node size limit at which the write `target` makes of `base` cannot be decided on the
/// warm state of `root` (`base` changed too much since), but can on one prepared for `base`, as
/// can the write `next` makes of `after` (`base` and one more write) composed on that state.
fn limit_too_far_from(root: &Group, base: &Arc<Group>, target: &Group, after: &Arc<Group>, next: &Group) -> u64 {
    let store = StoreConfig::marathon_1_3();
    let s = Prepared::prepare(Arc::new(root.clone()), 1, store.clone());
    let near = Prepared::prepare(base.clone(), 2, store.clone());
    let binding = SizeEngine::default().exact_sizes(&store, base, target).predicted.binding_bytes;
    let th = |limit| Thresholds::of(&Policy::default(), limit);
    let fits = |limit: &u64| {
        matches!(warm(&store, Some(&s), base, target, th(*limit)), Warm::Drifted)
            && decides(warm(&store, Some(&near), base, target, th(*limit)))
            && decides(warm(&store, Some(&near), after, next, th(*limit)))
    };
    middle_limit(binding, fits, "no limit where the drift alone keeps the warm state from deciding")
}

#[test]
fn a_base_too_far_from_the_warm_state_is_given_a_state_of_its_own_ahead_of_the_order() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (root, in_ledger, base) = drifted_base();
    let after = Arc::new(posted(&base, &drifting_app(99)));
    let limit = limit_too_far_from(&root, &base, &after, &after, &posted(&after, &drifting_app(100)));
    let a = admission_on(&rt, root, limit);
    rt.block_on(async {
        prepared(&a).await;
        reserve_all(&a, &in_ledger).await;

        let ev = decide(&a, &drifting_app(99)).await;
        let names = phase_names(&ev);
        let after_order = &names[names.iter().position(|n| *n == "order").unwrap()..];
        assert!(!after_order.contains(&"sizes"), "sized in the order: {names:?}");
        assert_eq!(a.metrics.base_states_prepared.get(), 1);
        assert_eq!(worked_ahead(&a, "stood"), 1);
        let Evaluation::Decided(d) = ev else { unreachable!() };
        assert_eq!(d.sizes.path, "warm");
        let exact = exact_decision(&Policy::default(), &d.store, &d.base, &d.target);
        assert_eq!(d.decision.decision, exact.decision, "the exact path decides otherwise");

        // The next write composes against the state prepared for the last base.
        let Evaluation::Decided(next) = decide(&a, &drifting_app(100)).await else { panic!("not decided") };
        assert_eq!((next.sizes.path, a.metrics.base_states_prepared.get()), ("warm", 1));
    });
}

/// A node size limit at which each write (`base`, `target`) of `writes` is decided on the warm
/// state of `root`, with `base` half-way out of that state's reach.
fn limit_half_way_from(root: &Group, writes: &[(&Arc<Group>, &Group)]) -> u64 {
    let store = StoreConfig::marathon_1_3();
    let s = Prepared::prepare(Arc::new(root.clone()), 1, store.clone());
    let (base, target) = writes[0];
    let binding = SizeEngine::default().exact_sizes(&store, base, target).predicted.binding_bytes;
    let th = |limit| Thresholds::of(&Policy::default(), limit);
    let drifting = |limit: &u64| writes.iter().all(|(base, target)| matches!(warm(&store, Some(&s), base, target, th(*limit)), Warm::Drifting(_)));
    middle_limit(binding, drifting, "no limit where the bases are half-way out of the warm state's reach")
}

#[test]
fn a_base_half_way_out_of_the_warm_states_reach_gets_a_state_prepared_behind_the_decisions_once_one_was_out_of_reach() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (root, in_ledger, base) = drifted_base();
    let after = Arc::new(posted(&base, &drifting_app(99)));
    let limit = limit_half_way_from(&root, &[(&base, &after), (&after, &posted(&after, &drifting_app(100)))]);
    let a = admission_on(&rt, root, limit);
    rt.block_on(async {
        prepared(&a).await;
        reserve_all(&a, &in_ledger).await;

        // The upkeep thread, where the state is prepared, is held busy: a decision that waited
        // for the preparation would not end.
        let (release, held) = std::sync::mpsc::channel::<()>();
        crate::upkeep_lane::spawn(move || {
            let _ = held.recv_timeout(Duration::from_secs(60));
        });
        let decided = |ev: Result<Evaluation, _>| match ev.expect("the decision waited for a preparation") {
            Evaluation::Decided(d) => d,
            _ => panic!("not decided"),
        };
        // No base was out of reach yet: the model's states are left to keep up.
        let first = decided(tokio::time::timeout(Duration::from_secs(20), decide(&a, &drifting_app(99))).await);
        assert_eq!(first.sizes.path, "warm");
        let exact = exact_decision(&Policy::default(), &first.store, &first.base, &first.target);
        assert_eq!(first.decision.decision, exact.decision, "the exact path decides otherwise");
        // Once one was (as a decision finds when no state it tries decides), the next half-way
        // decision starts a preparation for its target and does not wait for it.
        a.near.note_out_of_reach();
        let second = decided(tokio::time::timeout(Duration::from_secs(20), decide(&a, &drifting_app(100))).await);
        assert_eq!(second.sizes.path, "warm");
        assert_eq!((a.metrics.base_states_prepared.get(), a.metrics.base_states_prepared_early.get()), (0, 0));

        release.send(()).unwrap();
        for _ in 0..3000 {
            if a.metrics.base_states_prepared_early.get() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(a.metrics.base_states_prepared_early.get(), 1, "no state was prepared in the background");
        let states = a.sizing_states(&second.store);
        assert!(Arc::ptr_eq(&states[0].root, &second.target), "the newest state is not the second write's target");

        // The next write composes on it, without waiting for a preparation of its own.
        let Evaluation::Decided(next) = decide(&a, &drifting_app(101)).await else { panic!("not decided") };
        assert_eq!((next.sizes.path, a.metrics.base_states_prepared.get()), ("warm", 0));
    });
}
