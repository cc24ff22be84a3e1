//! Test support, behind the `test-util` feature: a fake Marathon (hyper on 127.0.0.1:0, plain or
//! HTTPS), a running proxy and its configuration for tests, HTTP clients, certificates, a count of
//! the process's file descriptors, and the suite's one way to wait ([`eventually`] and friends,
//! from the `eventually` crate).
//!
//! A library module rather than a `tests/common` file that every test crate includes with
//! `#[path]`: compiled once instead of once per test binary, and used from other crates' tests as
//! an ordinary dependency (`proxy = { workspace = true, features = ["test-util"] }` in their
//! dev-dependencies; this crate's own tests get it the same way, through a dev-dependency on
//! itself). The product never enables the feature, so none of this, nor `rcgen`, is in it.

mod certs;
mod client;
mod fake_marathon;
mod running_proxy;
mod test_files;

pub use certs::*;
pub use client::*;
pub use eventually::*;
pub use fake_marathon::*;
pub use running_proxy::*;
pub use test_files::*;

use bytes::Bytes;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;
