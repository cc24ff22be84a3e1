//! marathon-model
