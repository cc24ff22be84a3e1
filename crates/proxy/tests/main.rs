//! The proxy's integration tests, one module per concern, in one test binary: every test binary
//! links the whole dependency graph, which on CI's two cores costs more than running the tests.
//! `Cargo.toml` lists the binaries (`autotests = false`): this one, and `leaks.rs` on its own,
//! because it compares the process's descriptor count with a baseline, which other tests running
//! in the same process would move. The fixtures are `proxy::test_util` (feature `test-util`).
//!
//! Nothing here may assume a process of its own: no environment or working-directory changes, no
//! signals to the test process, no global subscriber, only ports the OS hands out.

mod addresses;
mod connections;
mod events;
mod faults;
mod tls;
mod transparency;

/// With `autotests = false`, a file added to `tests/` and named neither here nor in `Cargo.toml`
/// would never be compiled, and its tests never run, silently.
#[test]
fn every_test_file_is_compiled() {
    proxy::test_util::assert_every_test_file_is_compiled(env!("CARGO_MANIFEST_DIR"));
}
