//! Test support: the proxy's own helpers (a fake Marathon, clients, certificates), shared from
//! `crates/proxy/tests/common` rather than copied, and the admission fixture.
#![allow(dead_code, unused_imports)]

#[path = "../../../proxy/tests/common/mod.rs"]
mod transport;

pub mod admission_setup;

pub use transport::*;
