//! marathon-sim
