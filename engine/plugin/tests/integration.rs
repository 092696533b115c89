//! The plugin host's integration tests as one test binary (one link of
//! wasmtime instead of three in every CI build). Each file is a module; run
//! one with `cargo test -p headend-plugin --test integration cache::`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod cache;
mod real_plugins;
mod wat_plugins;
