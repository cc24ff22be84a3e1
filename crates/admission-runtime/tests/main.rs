//! The admission runtime's integration tests, one module per concern, in one test binary: every
//! test binary links the whole dependency graph, which on CI's two cores costs more than running
//! the tests (`Cargo.toml`: `autotests = false`, this file its only `[[test]]`).
//!
//! Nothing here may assume a process of its own: no environment or working-directory changes, no
//! signals to the test process (SIGHUP goes to a `serve` child, in the root's
//! `tests/reload_on_sighup.rs`), no global subscriber, only ports the OS hands out or
//! `marathon_sim::testing::free_port` (one sequence for the whole process).

mod common;

mod admission;
mod admission_live;
mod notify;
mod quota;
mod shared_ledger;
mod side_doors;
mod stored_order;
mod upstream_auth;
mod way_out;
mod write_spellings;

/// With `autotests = false`, a file added to `tests/` and named neither here nor in `Cargo.toml`
/// would never be compiled, and its tests never run, silently.
#[test]
fn every_test_file_is_compiled() {
    proxy::test_util::assert_every_test_file_is_compiled(env!("CARGO_MANIFEST_DIR"));
}
