use std::sync::Arc;

use marathon_model::Group;
use znode_size::synthetic::heroku_root;
use znode_size::StoreConfig;

use super::{Nearer, StateNearBases};
use crate::decision_sizes::Prepared;

fn state(root: &Arc<Group>, generation: u64, store: StoreConfig) -> Arc<Prepared> {
    Arc::new(Prepared::prepare(root.clone(), generation, store))
}

fn same(states: &[Arc<Prepared>], expected: &[&Arc<Prepared>]) -> bool {
    states.len() == expected.len() && states.iter().zip(expected).all(|(a, b)| Arc::ptr_eq(a, b))
}

#[test]
fn the_state_prepared_for_a_base_is_tried_beside_the_models_the_newer_first() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let store = StoreConfig::marathon_1_3();
    let root = Arc::new(heroku_root(30, 2));
    let model = state(&root, 4, store.clone());
    let near = StateNearBases::default();
    assert!(same(&near.states(Some(model.clone()), &store), &[&model]), "nothing prepared here yet");

    let base = Arc::new(heroku_root(31, 2));
    let Some(Nearer::Prepared(mine)) = rt.block_on(near.nearer(std::slice::from_ref(&model), &base, 4, &store)) else {
        panic!("no state prepared for the base")
    };
    assert!(Arc::ptr_eq(&mine.root, &base));
    // Same model generation: the state with the ledger's writes first.
    assert!(same(&near.states(Some(model.clone()), &store), &[&mine, &model]));
    // A decision that tried the model's state meanwhile finds it instead of preparing another.
    let Some(Nearer::Found(found)) = rt.block_on(near.nearer(std::slice::from_ref(&model), &base, 4, &store)) else {
        panic!("prepared again")
    };
    assert!(Arc::ptr_eq(&found, &mine));
    // One that tried it too prepares a new one, which replaces it.
    let Some(Nearer::Prepared(again)) = rt.block_on(near.nearer(&[model.clone(), mine.clone()], &base, 4, &store)) else {
        panic!("not prepared again")
    };
    assert!(same(&near.states(None, &store), &[&again]));

    // The model prepared a newer root: its state first, the one here still tried after it.
    let newer = state(&root, 5, store.clone());
    assert!(same(&near.states(Some(newer.clone()), &store), &[&newer, &again]));
}

#[test]
fn a_state_for_another_store_is_dropped() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let root = Arc::new(heroku_root(30, 2));
    let legacy = state(&root, 4, StoreConfig::marathon_1_3());
    let near = StateNearBases::default();
    rt.block_on(near.nearer(std::slice::from_ref(&legacy), &root, 4, &StoreConfig::marathon_1_3())).unwrap();
    let v14 = state(&root, 4, StoreConfig::marathon_1_4());
    assert!(same(&near.states(Some(v14.clone()), &StoreConfig::marathon_1_4()), &[&v14]));
    assert!(near.states(None, &StoreConfig::marathon_1_3()).is_empty(), "the legacy state was kept");
}

#[test]
fn a_state_is_prepared_early_after_a_base_was_out_of_reach_one_at_a_time_and_not_after_a_newer_one() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let store = StoreConfig::marathon_1_3();
    let model = state(&Arc::new(heroku_root(30, 2)), 4, store.clone());
    let near = StateNearBases::default();
    let target = Arc::new(heroku_root(31, 2));
    let early = |tried: &[Arc<Prepared>], done: std::sync::mpsc::Sender<()>| {
        let _in_runtime = rt.enter();
        near.prepare_early(tried, &target, 4, &store, move || done.send(()).unwrap())
    };
    let (done, prepared) = std::sync::mpsc::channel();
    assert!(!early(std::slice::from_ref(&model), done.clone()), "prepared early before any base was out of reach");
    near.note_out_of_reach();
    assert!(early(std::slice::from_ref(&model), done.clone()));
    assert!(!early(std::slice::from_ref(&model), done.clone()), "a second preparation beside the first");
    prepared.recv_timeout(std::time::Duration::from_secs(30)).expect("nothing prepared");
    let states = near.states(Some(model.clone()), &store);
    assert!(Arc::ptr_eq(&states[0].root, &target) && Arc::ptr_eq(&states[1], &model));

    // A decision that took its states before that one was kept: its drift is dealt with.
    assert!(!early(std::slice::from_ref(&model), done.clone()), "prepared again for a decision that never saw the new state");
    // One that found that state half-way out of reach too: a newer one.
    assert!(early(&states, done));
    prepared.recv_timeout(std::time::Duration::from_secs(30)).expect("nothing prepared");
    assert!(!Arc::ptr_eq(&near.states(None, &store)[0], &states[0]), "not replaced");
}
