//! Shared by the examples (not an example itself: Cargo builds only the
//! top-level files of `examples/`).

pub mod lab;
