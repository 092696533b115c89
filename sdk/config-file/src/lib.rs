//! DOCSIS CM and PacketCable MTA/eUE configuration files (skeleton; see
//! /work/notes/h-cfgfile.md).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
