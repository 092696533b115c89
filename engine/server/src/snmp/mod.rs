//! The SNMP provisioning server (interface pkt-eue-4).
pub mod exchange;
