//! The end-to-end tests, one module per concern, in one test binary: every test binary links the
//! whole dependency graph, which on CI's two cores costs more than running the tests.
//! `Cargo.toml` lists the binaries (`autotests = false`): this one, and `shared_ledger.rs` on its
//! own, whose tests run one at a time with nothing beside them because they time out against
//! ZooKeeper sessions when the two cores are busier.
//!
//! Nothing here may assume a process of its own: no environment or working-directory changes
//! (children get theirs), signals only to children (`kill` with a child's pid), no global
//! subscriber, only ports the OS hands out or `free_port` (one sequence for the whole process).

mod clients {
    pub mod harness;
}
use clients::harness;

mod budget_page;
mod check_cli;
mod deploy_files;
mod real_clients;
mod reload_on_sighup;
mod report_way_out;
mod report_zk;
mod secrets_stay_secret;
mod size_history;
mod transparency_sim;

/// With `autotests = false`, a file added to `tests/` and named neither here nor in `Cargo.toml`
/// would never be compiled, and its tests never run, silently.
#[test]
fn every_test_file_is_compiled() {
    proxy::test_util::assert_every_test_file_is_compiled(env!("CARGO_MANIFEST_DIR"));
}
