//! The `headend` binary.
fn main() {}
