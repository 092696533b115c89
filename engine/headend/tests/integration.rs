//! The integration tests of the `headend` binary, one test binary: each
//! file of this directory is a module of it, so the engine is linked once
//! (not once per file) and the tests of every file share one harness,
//! which runs them in parallel. Run one file with
//! `cargo test -p headend --test integration <file>::`.

mod common;

mod cli;
mod cluster;
mod config_file_cli;
mod console;
mod durability;
mod explain_store;
mod fresh_machine;
mod harness_selftest;
mod management;
mod peer_dhclient;
mod peer_dhcpv6;
mod peer_eue6_tftp;
mod peer_flood;
mod peer_kea_control;
mod peer_leasequery;
mod peer_perfdhcp;
mod peer_snmp_e2e;
mod peer_syslog;
mod peer_tftp;
mod plugin_authoring;
mod plugin_flow;
mod shutdown;
mod sim_peers;
mod sim_storm;
mod store_damage;
mod store_full_disk;
mod store_postgres;
mod walkthrough;
mod webdriver_selftest;
