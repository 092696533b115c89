//! headend-sim: a boot-storm simulator and conformance tester for cable
//! provisioning systems. It plays thousands of DOCSIS cable modems,
//! PacketCable 2.0 E-UEs (eCM + eUE, PKT-SP-EUE-PROV) and CPE behind
//! virtual CMTS relays, each device a sans-IO state machine driven by one
//! event loop, and checks every reply against the specs.
//!
//! Layers, bottom up: [`outbox`] (what to send), [`check`] (the rules),
//! the protocol clients ([`dhcp4`]), the device flows ([`device`]), the
//! event loop ([`run`]) and its socket shell ([`net`]), and the report
//! ([`report`]).

pub mod check;
pub mod cli;
pub mod device;
pub mod dhcp4;
pub mod dhcp6;
pub mod hist;
pub mod hostile;
pub mod hybrid;
pub mod net;
pub mod outbox;
pub mod plan;
pub mod report;
pub mod retry;
pub mod rng;
pub mod run;
pub mod tftp;
pub mod tod;
