//! What each state-changing write does to the root group (Marathon's semantics). Not built yet.
