use std::sync::Arc;

use marathon_model::Group;
use znode_size::synthetic::heroku_root;
use znode_size::StoreConfig;

use super::{Nearer, StateNearBases};
use crate::decision_sizes::Prepared;

fn state(root: &Arc<Group>, generation: u64, store: StoreConfig) -> Arc<Prepared> {
    Arc::new(Prepared::prepare(root.clone(), generation, store))
}

#[test]
fn the_state_prepared_for_a_base_is_taken_until_the_model_prepares_a_newer_one() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let store = StoreConfig::marathon_1_3();
    let root = Arc::new(heroku_root(30, 2));
    let model = state(&root, 4, store.clone());
    let near = StateNearBases::default();
    assert!(Arc::ptr_eq(&near.newest(Some(model.clone())).unwrap(), &model), "nothing prepared here yet");

    let base = Arc::new(heroku_root(31, 2));
    let Some(Nearer::Prepared(mine)) = rt.block_on(near.nearer(&model, &base, 4, &store, Some(model.clone()))) else {
        panic!("no state prepared for the base")
    };
    assert!(Arc::ptr_eq(&mine.root, &base));
    // Same model generation: the state with the ledger's writes is nearer.
    assert!(Arc::ptr_eq(&near.newest(Some(model.clone())).unwrap(), &mine));
    // A decision that tried the model's state meanwhile finds it instead of preparing another.
    let Some(Nearer::Found(found)) = rt.block_on(near.nearer(&model, &base, 4, &store, Some(model.clone()))) else {
        panic!("prepared again")
    };
    assert!(Arc::ptr_eq(&found, &mine));

    // The model prepared a newer root: its state is taken, and the one here is dropped.
    let newer = state(&root, 5, store.clone());
    assert!(Arc::ptr_eq(&near.newest(Some(newer.clone())).unwrap(), &newer));
    assert!(near.newest(None).is_none(), "the state prepared here was kept");
}

#[test]
fn a_state_for_another_store_gives_way_to_the_models() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let root = Arc::new(heroku_root(30, 2));
    let legacy = state(&root, 4, StoreConfig::marathon_1_3());
    let near = StateNearBases::default();
    rt.block_on(near.nearer(&legacy, &root, 4, &StoreConfig::marathon_1_3(), Some(legacy.clone()))).unwrap();
    let v14 = state(&root, 4, StoreConfig::marathon_1_4());
    assert!(Arc::ptr_eq(&near.newest(Some(v14.clone())).unwrap(), &v14));
}
