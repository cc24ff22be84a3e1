use std::sync::mpsc;
use std::time::Duration;

use super::work_in_place;

/// On a multi-thread runtime the work runs on the decision's own thread, and the worker's other
/// tasks run meanwhile: one worker only, and the work waits for a task spawned on it.
#[test]
fn on_a_multi_thread_runtime_the_work_stays_on_its_thread_and_others_go_on() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        tokio::spawn(async {
            let here = std::thread::current().id();
            let (tx, rx) = mpsc::channel();
            // Spawned on the only worker, which the work below holds.
            tokio::spawn(async move { tx.send(()).unwrap() });
            let got = work_in_place(move || (std::thread::current().id(), rx.recv_timeout(Duration::from_secs(10)))).await.unwrap();
            assert_eq!(got.0, here, "the work ran on another thread");
            assert!(got.1.is_ok(), "the worker's other task did not run while the work did");
        })
        .await
        .unwrap();
    });
}

#[test]
fn on_a_current_thread_runtime_the_work_goes_to_the_pool() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let here = std::thread::current().id();
        let there = work_in_place(|| std::thread::current().id()).await.unwrap();
        assert_ne!(there, here);
    });
}

#[test]
fn a_panic_is_an_error_with_its_message() {
    for rt in [
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap(),
        tokio::runtime::Builder::new_current_thread().build().unwrap(),
    ] {
        let got = rt.block_on(async { tokio::spawn(work_in_place(|| -> u32 { panic!("estimate broke") })).await.unwrap() });
        let e = got.unwrap_err();
        assert!(e.contains("estimate broke") || e.contains("panic"), "{e}");
    }
}
