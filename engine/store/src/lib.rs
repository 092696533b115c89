//! Persistent state of headend: DHCPv4 leases (dynamic address bindings),
//! DHCPv6 leases (IA_NA addresses and IA_PD prefixes, RFC 8415 §6.2–6.3),
//! fixed address bindings, accounts with their domain memberships, and small
//! server metadata such as the DHCPv6 server DUID (seed 004 sections 2.2,
//! 5.2, 5.3).
//!
//! The protocol code never talks to a database directly: it keeps its hot
//! state in memory and hands every change to a [`Store`] as a batch of
//! [`Mutation`]s through the [`group::GroupCommitter`], which makes a whole
//! batch durable with one flush before any reply that depends on it is sent.
//! The embedded backend is sled ([`sled_store::SledStore`]); a shared backend
//! for several nodes implements the same trait.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

pub mod cluster;
mod codec;
pub use codec::validate;
pub mod group;
pub mod memory;
pub mod sled_store;
/// The contract every backend passes (feature `suite`, for other backends' tests).
#[cfg(any(test, feature = "suite"))]
#[doc(hidden)]
pub mod suite;

pub use group::{Done, GroupCommitter, GroupOptions, GroupStats};
pub use memory::MemoryStore;
pub use sled_store::{BadRecord, SledOptions, SledStore};

/// Longest [`ClientKey`] a store accepts: index keys carry its length in one
/// byte, and no DHCP client identifier can be longer (option 61 has a one-byte
/// length, RFC 2132 §9.14).
pub const MAX_CLIENT_KEY_LEN: usize = 255;

/// Longest DUID a store accepts: 2 bytes of type plus at most 128 bytes
/// (RFC 8415 §11.1).
pub const MAX_DUID_LEN: usize = 130;

/// Metadata key under which the DHCPv6 server keeps its DUID (RFC 8415
/// §11: generated once, stable across restarts).
pub const META_SERVER_DUID: &str = "dhcpv6.server_duid";

/// Seconds since the Unix epoch, the time unit of every stored record.
pub type UnixTime = u64;

/// The key that identifies a DHCP client: option 61 when the client sent
/// one, otherwise the hardware type followed by `chaddr` (RFC 2131 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientKey(pub Vec<u8>);

impl ClientKey {
    /// Key of a client that sent no option 61: `htype` then the hardware address.
    pub fn from_hardware(htype: u8, chaddr: &[u8]) -> Self {
        let mut v = Vec::with_capacity(chaddr.len() + 1);
        v.push(htype);
        v.extend_from_slice(chaddr);
        ClientKey(v)
    }

    /// Colon-separated hex, the form used in logs and by `headend explain`.
    pub fn to_hex(&self) -> String {
        hex_colon(&self.0)
    }
}

/// Lowercase hex without separators (`001122`): OUIs, hashes, SNMP octets.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Colon-separated lowercase hex (`00:11:22:33:44:55`): MACs and client
/// identifiers as accounts, logs and expressions show them. Table-driven:
/// it runs several times per packet.
pub fn hex_colon(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// Where a lease is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseState {
    /// Bound to the client until `commit_time + lifetime`.
    Active,
    /// Given back by DHCPRELEASE; the address may be reused, the client keeps affinity.
    Released,
    /// Refused by the client with DHCPDECLINE; quarantined until `commit_time + lifetime`.
    Declined,
}

/// The protocol a lease was obtained with (seed 004 section 5.2 "protocol").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseProtocol {
    /// DHCPv4 (RFC 2131).
    Dhcp,
    /// BOOTP (RFC 951): the lease never expires by itself.
    Bootp,
}

/// Which relay-agent field the trusted id came from (seed 004 section 5.2 "trusted ID type").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrustedIdType {
    /// Option 82 sub-option 1.
    CircuitId,
    /// Option 82 sub-option 2 (the CM MAC for a CPE behind a cable modem).
    RemoteId,
    /// Option 82 sub-option 6 (RFC 3993).
    SubscriberId,
    /// Option 82 sub-option 12 (RFC 6925).
    RelayId,
}

/// A dynamic address binding: one DHCPv4 lease (seed 004 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease4 {
    /// The leased address.
    pub ip: Ipv4Addr,
    /// The client the address is bound to.
    pub client: ClientKey,
    /// The client's hardware address (`chaddr`, `hlen` bytes).
    pub hwaddr: Vec<u8>,
    /// Active, released or declined.
    pub state: LeaseState,
    /// When the lease was last obtained or extended.
    pub commit_time: UnixTime,
    /// Lease length in seconds (`u32::MAX` = infinite, as for BOOTP).
    pub lifetime: u32,
    /// The relay agent address the client booted through (0.0.0.0 = local segment).
    pub relay: Ipv4Addr,
    /// DHCP or BOOTP.
    pub protocol: LeaseProtocol,
    /// Name of the address pool the lease came from.
    pub pool: String,
    /// Identifier of the device or circuit given by the relay agent.
    pub trusted_id: Option<Vec<u8>>,
    /// Which relay-agent field `trusted_id` came from.
    pub trusted_id_type: Option<TrustedIdType>,
    /// Host name given to (or sent by) the client, if any.
    pub hostname: Option<String>,
    /// The relay agent information option (82) as the relay sent it: every
    /// sub-option, without the option's code and length. Leasequery answers
    /// carry it back to the CMTS (RFC 4388 §6.4.2, RFC 6926 §7.4).
    #[serde(default)]
    pub relay_info: Option<Vec<u8>>,
}

impl Lease4 {
    /// When the lease (or the quarantine of a declined address) ends; `None` = never.
    pub fn expires_at(&self) -> Option<UnixTime> {
        if self.lifetime == u32::MAX {
            None
        } else {
            Some(self.commit_time.saturating_add(u64::from(self.lifetime)))
        }
    }

    /// Whether the lease still holds its address at `now`.
    pub fn is_current(&self, now: UnixTime) -> bool {
        self.expires_at().is_none_or(|e| e > now)
    }

    /// How the lease stands at `now`, as operators read it ([`LeaseState::status`]).
    pub fn status(&self, now: UnixTime) -> &'static str {
        self.state.status(self.is_current(now))
    }
}

impl LeaseState {
    /// `active`, `expired`, `released` or `declined` (still quarantined): a
    /// lease in this state whose time is (`current`) or is not over.
    pub fn status(self, current: bool) -> &'static str {
        match (self, current) {
            (LeaseState::Released, _) => "released",
            (LeaseState::Declined, true) => "declined",
            (LeaseState::Active, true) => "active",
            (_, false) => "expired",
        }
    }
}

/// What a DHCPv6 lease binds: a non-temporary address or a delegated prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lease6Kind {
    /// An IA_NA address (RFC 8415 §21.4).
    Na,
    /// An IA_PD prefix (RFC 8415 §21.21): the seed's "network binding".
    Pd,
}

/// A DHCPv6 binding of one address or prefix to one (DUID, IAID) pair
/// (RFC 8415 §4.2 "binding"; the v6 form of seed 004 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease6 {
    /// Address or prefix.
    pub kind: Lease6Kind,
    /// The leased address, or the first address of the delegated prefix.
    pub address: Ipv6Addr,
    /// 128 for an address; the delegated length for a prefix.
    pub prefix_len: u8,
    /// The client's DUID (option 1).
    pub duid: Vec<u8>,
    /// The IA's identifier.
    pub iaid: u32,
    /// Active, released or declined (quarantined).
    pub state: LeaseState,
    /// When the binding was last made or extended.
    pub commit_time: UnixTime,
    /// Preferred lifetime in seconds.
    pub preferred: u32,
    /// Valid lifetime in seconds (`u32::MAX` = infinite); the binding ends at `commit_time + valid`.
    pub valid: u32,
    /// Link-address of the innermost relay (`::` when the client is on-link).
    pub link: Ipv6Addr,
    /// Name of the `[[pool6]]` the binding came from.
    pub pool: String,
    /// The device MAC (from the DUID or relay option 79), when known.
    pub mac: Option<Vec<u8>>,
    /// The cable modem MAC the CMTS put in CableLabs relay option 17.1026.
    pub modem_mac: Option<Vec<u8>>,
    /// The FQDN assigned with the lease (option 39, RFC 4704).
    pub fqdn: Option<String>,
    /// The relay data of the client's last message (RFC 5007 §4.1.2.4):
    /// what leasequery answers carry in OPTION_LQ_RELAY_DATA.
    #[serde(default)]
    pub relay: Option<Relay6>,
}

/// The relay information kept with a DHCPv6 binding, in the form of RFC
/// 5007 §4.1.2.4 OPTION_LQ_RELAY_DATA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay6 {
    /// The relay agent the server received the relayed message from.
    pub peer_address: Ipv6Addr,
    /// The last complete Relay-forward message as received, with the
    /// client's message (the innermost OPTION_RELAY_MSG) removed.
    pub message: Vec<u8>,
}

impl Lease6 {
    /// When the binding (or the quarantine of a declined address) ends; `None` = never.
    pub fn expires_at(&self) -> Option<UnixTime> {
        if self.valid == u32::MAX {
            None
        } else {
            Some(self.commit_time.saturating_add(u64::from(self.valid)))
        }
    }

    /// Whether the binding still holds its address at `now`.
    pub fn is_current(&self, now: UnixTime) -> bool {
        self.expires_at().is_none_or(|e| e > now)
    }

    /// How the binding stands at `now` ([`LeaseState::status`]).
    pub fn status(&self, now: UnixTime) -> &'static str {
        self.state.status(self.is_current(now))
    }

    /// The key identifying the leased resource: address and prefix length.
    pub fn key(&self) -> Lease6Key {
        Lease6Key {
            address: self.address,
            prefix_len: self.prefix_len,
        }
    }
}

/// The leased resource of a [`Lease6`]: an address (length 128) or a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Lease6Key {
    /// Address or first address of the prefix.
    pub address: Ipv6Addr,
    /// 128 for an address.
    pub prefix_len: u8,
}

/// A fixed address binding: an address reserved for one client on one relay
/// (seed 004 section 5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedBinding4 {
    /// The client the address is reserved for.
    pub client: ClientKey,
    /// The relay agent address the binding applies to (0.0.0.0 = local segment).
    pub relay: Ipv4Addr,
    /// The reserved address.
    pub ip: Ipv4Addr,
    /// Host name to hand out with the binding.
    pub hostname: Option<String>,
    /// Extra policies applied to the client when it uses this binding.
    pub policies: Vec<String>,
}

/// How an account came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountSource {
    /// Declared in the configuration file.
    Config,
    /// Created by the auto-provisioning expression on first contact.
    AutoProvisioned,
    /// Created or changed by an operator through the management interface.
    Operator,
}

/// A device account: an identifier and the domains it is a member of (seed 004 section 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account key (normally the device MAC as `aa:bb:cc:dd:ee:ff`, or a client-id in hex).
    pub id: String,
    /// Domain memberships, in priority order.
    pub domains: Vec<String>,
    /// Free-form attributes that expressions and plugins can read.
    pub attributes: BTreeMap<String, String>,
    /// When the account was created.
    pub created: UnixTime,
    /// How it was created.
    pub source: AccountSource,
}

/// One step of a device's provisioning timeline (seed 000 flows CM1…CM10,
/// eUE-1…eUE-25), as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The seed step label (`CM1`, `eUE-19`, …).
    pub step: String,
    /// `ok`, `failed` or `pending`.
    pub outcome: String,
    /// What happened, for an operator.
    pub detail: String,
}

/// The bounded provisioning timeline of one device: its newest steps and
/// the devices it is linked to (an eCM and the eUE behind it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTimeline {
    /// The device MAC (`aa:bb:cc:dd:ee:ff`).
    pub device: String,
    /// MACs of linked devices (the eUE of an eCM, the eCM of an eUE).
    pub linked: Vec<String>,
    /// Steps, oldest first.
    pub events: Vec<TimelineEvent>,
}

/// The tables of the management plane's records (issue 13): opaque values
/// under string keys, which the management crate encodes; every backend
/// stores them the same way (one ordered table, keys compared as bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RecordTable {
    /// Operator accounts (users of the management API), by name.
    Users,
    /// API tokens for OSS systems, by the token's hash.
    Tokens,
    /// The audit log, by a time-ordered sequence key.
    Audit,
    /// DHCPv6 reservations ([`Reservation6`]), by `address/length`.
    Reservations6,
    /// Dynamic DNS updates not yet done, by a sequence key: they survive a
    /// restart (issue 17).
    DdnsQueue,
    /// Plugin key/value state kept in a shared store (issue 16), by
    /// `plugin/hex(key)`.
    PluginKv,
}

impl RecordTable {
    /// The one-byte tag that prefixes the table's keys in a backend.
    pub fn tag(self) -> u8 {
        match self {
            RecordTable::Users => b'u',
            RecordTable::Tokens => b't',
            RecordTable::Audit => b'a',
            RecordTable::Reservations6 => b'r',
            RecordTable::DdnsQueue => b'd',
            RecordTable::PluginKv => b'k',
        }
    }

    /// The table of a tag.
    pub fn of_tag(tag: u8) -> Option<RecordTable> {
        [
            RecordTable::Users,
            RecordTable::Tokens,
            RecordTable::Audit,
            RecordTable::Reservations6,
            RecordTable::DdnsQueue,
            RecordTable::PluginKv,
        ]
        .into_iter()
        .find(|t| t.tag() == tag)
    }
}

/// A DHCPv6 reservation: one address (length 128, IA_NA) or one delegated
/// prefix (IA_PD) kept for one client, named by its DUID or its MAC (the
/// v6 form of a fixed binding, seed 004 section 5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation6 {
    /// The client's DUID, when it is named by DUID.
    pub duid: Option<Vec<u8>>,
    /// The device MAC (`aa:bb:…`), when it is named by MAC.
    pub mac: Option<String>,
    /// The reserved address or prefix.
    pub address: Ipv6Addr,
    /// 128 for an address; the delegated length for a prefix.
    pub prefix_len: u8,
}

impl Reservation6 {
    /// The reserved resource.
    pub fn key(&self) -> Lease6Key {
        Lease6Key {
            address: self.address,
            prefix_len: self.prefix_len,
        }
    }

    /// Whether the reservation names this client.
    pub fn is_for(&self, duid: &[u8], mac: Option<&str>) -> bool {
        self.duid.as_deref() == Some(duid) || (self.mac.is_some() && self.mac.as_deref() == mac)
    }
}

/// Longest management record key a store accepts: a plugin's key/value
/// record (`plugin/` and 256 key bytes in hex) fits.
pub const MAX_RECORD_KEY_LEN: usize = 1024;

/// One change to the store. Batches of mutations are applied atomically.
/// Serializable: `headend store export` writes a store as one mutation per
/// line and `store import` applies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mutation {
    /// Insert or replace the lease for `lease.ip`.
    PutLease4(Lease4),
    /// Forget the lease of an address.
    DeleteLease4(Ipv4Addr),
    /// Insert or replace an account.
    PutAccount(Account),
    /// Delete an account.
    DeleteAccount(String),
    /// Insert or replace a fixed binding (keyed by client and relay).
    PutFixed4(FixedBinding4),
    /// Delete the fixed binding of a client on a relay.
    DeleteFixed4 {
        /// The client.
        client: ClientKey,
        /// The relay the binding applies to.
        relay: Ipv4Addr,
    },
    /// Insert or replace the DHCPv6 lease of `lease.key()`.
    PutLease6(Lease6),
    /// Forget the DHCPv6 lease of an address or prefix.
    DeleteLease6(Lease6Key),
    /// Insert or replace a device's provisioning timeline.
    PutTimeline(DeviceTimeline),
    /// Insert or replace a management record.
    PutRecord {
        /// Which table.
        table: RecordTable,
        /// Its key.
        key: String,
        /// The encoded record.
        value: Vec<u8>,
    },
    /// Delete a management record.
    DeleteRecord {
        /// Which table.
        table: RecordTable,
        /// Its key.
        key: String,
    },
    /// Set a metadata value (e.g. the server DUID).
    PutMeta {
        /// Metadata key.
        key: String,
        /// Value bytes.
        value: Vec<u8>,
    },
}

/// Store failures. `Clone` so that one failed group commit can be reported
/// to every waiting submitter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend reported an I/O or database error.
    #[error("store backend error: {0}")]
    Backend(String),
    /// A stored record could not be decoded (corruption or version skew).
    #[error("corrupt record in {tree}: {detail}")]
    Corrupt {
        /// Which table the record is in.
        tree: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The store is already open by another process.
    #[error("store at {0} is locked by another process")]
    Locked(String),
    /// The group committer has shut down.
    #[error("store committer has stopped")]
    Closed,
    /// The group committer's queue is full; the batch was not accepted.
    #[error("store committer queue is full")]
    Overloaded,
    /// A mutation cannot be stored as given (e.g. a client key longer than
    /// [`MAX_CLIENT_KEY_LEN`]); the whole batch was rejected.
    #[error("invalid mutation: {0}")]
    Invalid(String),
    /// A lease claim lost to another client's record of the same address,
    /// written by another node of the cluster; the batch had no effect.
    #[error("lease conflict: {0}")]
    Conflict(String),
}

/// Persistent storage used by the servers. Implementations must make
/// [`Store::apply`] atomic per batch and [`Store::sync`] a durability barrier:
/// once `sync` returns `Ok`, every batch applied before it survives a crash
/// of the process (and, for the sled backend, a power loss, as far as the
/// disk honours `fsync`).
pub trait Store: Send + Sync + 'static {
    /// Every DHCPv4 lease record, for the in-memory lease table at start-up (in address order).
    fn load_leases4(&self) -> Result<Vec<Lease4>, StoreError>;
    /// Leases of one client, in address order (uses the by-client index).
    fn leases4_by_client(&self, client: &ClientKey) -> Result<Vec<Lease4>, StoreError>;
    /// Leases granted through one relay, in address order (uses the by-relay index).
    fn leases4_by_relay(&self, relay: Ipv4Addr) -> Result<Vec<Lease4>, StoreError>;
    /// Leases granted through one relay with addresses above `after`, in
    /// address order, at most `limit` (a page of the by-relay index).
    fn leases4_by_relay_page(
        &self,
        relay: Ipv4Addr,
        after: Option<Ipv4Addr>,
        limit: usize,
    ) -> Result<Vec<Lease4>, StoreError> {
        let mut v = self.leases4_by_relay(relay)?;
        v.retain(|l| after.is_none_or(|a| l.ip > a));
        v.truncate(limit);
        Ok(v)
    }
    /// The lease of one address.
    fn lease4(&self, ip: Ipv4Addr) -> Result<Option<Lease4>, StoreError>;
    /// One account.
    fn account(&self, id: &str) -> Result<Option<Account>, StoreError>;
    /// Every account, for the in-memory account table at start-up (in id byte order).
    fn load_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Every DHCPv6 lease record (addresses and prefixes), in (address, length) order.
    fn load_leases6(&self) -> Result<Vec<Lease6>, StoreError>;
    /// DHCPv6 leases of one DUID, ordered by IAID then address (uses the by-DUID index).
    fn leases6_by_duid(&self, duid: &[u8]) -> Result<Vec<Lease6>, StoreError>;
    /// The DHCPv6 lease of one address or prefix.
    fn lease6(&self, key: Lease6Key) -> Result<Option<Lease6>, StoreError>;
    /// Every stored fixed binding.
    fn load_fixed4(&self) -> Result<Vec<FixedBinding4>, StoreError>;
    /// The stored provisioning timeline of one device.
    fn timeline(&self, device: &str) -> Result<Option<DeviceTimeline>, StoreError>;
    /// A metadata value.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Accounts in id byte order after `after`, at most `limit` (paged listing).
    fn scan_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StoreError>;
    /// DHCPv4 leases in address order, starting after `after` (from the
    /// first when `None`), at most `limit`: a paged scan for searches.
    fn scan_leases4(
        &self,
        after: Option<Ipv4Addr>,
        limit: usize,
    ) -> Result<Vec<Lease4>, StoreError>;
    /// DHCPv6 leases in (address, length) order after `after`, at most `limit`.
    fn scan_leases6(
        &self,
        after: Option<Lease6Key>,
        limit: usize,
    ) -> Result<Vec<Lease6>, StoreError>;
    /// One management record.
    fn record(&self, table: RecordTable, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Management records of `table` with keys below `before` (all when
    /// `None`), highest key first, at most `limit` (newest audit entries first).
    fn records(
        &self,
        table: RecordTable,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Apply a batch atomically (visible at once, durable after the next `sync`).
    fn apply(&self, batch: &[Mutation]) -> Result<(), StoreError>;
    /// Make everything applied so far durable.
    fn sync(&self) -> Result<(), StoreError>;
    /// Records the `load_*` scans could not decode and skipped (a damaged
    /// store starts degraded rather than not at all); 0 for a sound store.
    fn skipped_records(&self) -> u64 {
        0
    }
}
