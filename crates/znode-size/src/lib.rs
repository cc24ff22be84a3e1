//! znode-size
