//! ZooKeeper access to Marathon's state.
//!
//! What it offers:
//! - [`ZkSpec`]: the `--zk` flag, `HOST:PORT[,HOST:PORT...][/PATH]`, and the state root
//!   `PATH/state` below it;
//! - [`legacy`] and [`v14`]: the node names and paths of both Marathon layouts (the legacy
//!   `legacy_zk` one of Marathon <= 1.3 and the bucketed one of 1.4+), with the helper that lists
//!   a key's stored versions for pruning ([`legacy::versions_of`]), and what a node holds
//!   ([`role`]: the root, an app, a version copy of either, a plan);
//! - [`ZkStore`]: a connected client rooted at the state path, logged in with a [`ZkLogin`],
//!   with create-or-update ([`ZkStore::put`]), delete, list and read, retried on connection loss
//!   the way Marathon retries (failures as [`StoreError`]);
//! - [`zk_report`]: the real size of every node under the state path, as ZooKeeper reports it;
//! - [`RootNodeReader`]: a read-only session that reads the root group node of either layout and
//!   watches it for the next change (what the admission model compares itself with);
//! - [`ZkLogin`]: how a session reaches the ensemble and logs in (TLS, digest, SASL
//!   DIGEST-MD5, SASL GSSAPI with the process's Kerberos credentials), for every session the
//!   proxy opens; a failed connection as [`ConnectError`], with Kerberos' reason when that
//!   login cannot succeed.
//!
//! It is a crate of its own so that production code does not import the simulator: the runtime,
//! the binary's `report --zk` and the simulator (`marathon-sim`, which persists through it) all
//! share it, and the shared in-flight ledger logs in through its [`ZkLogin`]. How and when Marathon
//! decides to write, and what a failed write means for a request, stays with the caller.

mod kerberos;
mod login;
mod paths;
mod report;
mod root_node;
mod spec;
mod store;

pub use login::{ConnectError, TlsFiles, ZkLogin};
pub use paths::{bucket, java_hash, legacy, role, v14, NodeRole};
pub use report::{zk_report, NodeSize, ZkReport};
pub use root_node::{RootLayout, RootNode, RootNodeChange, RootNodeReader};
pub use spec::ZkSpec;
pub use store::{StoreError, ZkStore};
