//! The headend protocol servers.
