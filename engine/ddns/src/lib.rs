//! Sans-IO dynamic DNS for headend's DHCP servers (issue 17): the protocol
//! core that puts leases into DNS.
//!
//! - [`dhcid`]: the DHCID RR of RFC 4701 (which client owns a name),
//!   computed from chaddr, client identifier or DUID.
//! - [`update`]: RFC 2136 UPDATE messages with the RFC 4703 section 5
//!   conflict rules: add, DHCID-guarded replace, removal, PTR.
//! - [`tsig`]: RFC 8945 TSIG signing and response verification
//!   (hmac-sha256/384/512), keys from config or BIND key text.
//! - [`response`]: what an answer means (RCODEs, TSIG errors).
//! - [`fqdn`]: the RFC 4702 / RFC 4704 client FQDN flags and the server's
//!   decision (who updates what, the flags of the reply).
//! - [`updater`]: the queue and state machine (retransmission, backoff,
//!   bounded queue and in-flight window, per-name ordering, events),
//!   driven by the caller's socket and clock.
//!
//! DNS messages are hickory-proto's (`Message`, `Name`, its TSIG MAC code
//! with ring); hickory 0.26 has no DHCID type, so DHCID travels as an
//! RFC 3597 unknown type 49.
//!
//! The DHCP servers drive it through `headend-server`'s `ddns` component
//! (one UDP socket, the queue persisted in the store); `[ddns]` in the
//! configuration chooses zones, servers and keys (`headend-model::ddns`).

pub mod dhcid;
pub mod fqdn;
pub mod response;
pub mod tsig;
pub mod update;
pub mod updater;

/// hickory's domain name, the type DHCIDs and updates are computed over
/// (re-exported so that callers need not depend on hickory-proto).
pub use hickory_proto::rr::Name;

pub use dhcid::{Dhcid, DhcidError, IdentifierType};
pub use fqdn::{decide, FqdnDecision, FqdnFlags, FqdnPolicy};
pub use response::{classify, Answer, FailReason};
pub use tsig::{Algorithm, KeyError, TsigKey, VerifyError};
pub use update::{reverse_name, UpdateError};
pub use updater::{
    Action, Event, GiveUpReason, Job, JobError, JobId, Outcome, Stats, Step, Target, Updater,
    UpdaterConfig,
};
