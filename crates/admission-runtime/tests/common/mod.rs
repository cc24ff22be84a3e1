//! Test support: the proxy's own fixtures (a fake Marathon, a running proxy, clients,
//! certificates, `eventually`), from `proxy::test_util` (feature `test-util`, enabled in this
//! crate's dev-dependencies) rather than copied; the admission fixture; a webhook receiver.
#![allow(dead_code, unused_imports)]

pub mod admission_setup;
pub mod webhook_receiver;

pub use proxy::test_util::*;
