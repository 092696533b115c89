//! The DHCPv6 server state machine (RFC 8415 §16–§18.3: SOLICIT/ADVERTISE,
//! REQUEST, CONFIRM, RENEW, REBIND, RELEASE, DECLINE, INFORMATION-REQUEST,
//! Rapid Commit; §19–§20 relay chains) with IA_NA and IA_PD, on the shared
//! provisioning model: the same accounts (by MAC, shared with DHCPv4, seed
//! 000 section 6.3.5 dual stack), auto-provisioning, domains and Rhai
//! context; and the CableLabs server rules of seed 000 Tables 3 and 6
//! (answer only requested CL options, CCC/CCCv6/IP_PREF for eCMs, DSS_ID in
//! CCCv6 sub-option 1 and never sub-option 2 for eUEs, sub-options 3 and 6
//! from flow selection, never Rapid Commit for eUEs, the REPLY repeats the
//! ADVERTISE's options). No sockets: [`Dhcpv6::handle`] turns one datagram
//! into an [`Outcome6`].

use std::net::{IpAddr, Ipv6Addr, SocketAddrV6};
use std::sync::Arc;

use arc_swap::ArcSwap;
use headend_model::compose::{self, ComposeInput};
use headend_model::device;
use headend_model::expr::{AccountInfo, EvalContext, LeaseInfo, PoolInfo, RawOptions};
use headend_model::hash::FastMap;
use headend_model::options::{OptionSet, RequestedOptions, Space, TagPath, Value};
use headend_model::plugins;
use headend_model::select::{self, PoolVerdict};
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_model::v6::{
    Dhcpv6Settings, FlowDecision, FlowDevice, FlowProtocol, Pool6, Pool6Kind, ProvisioningFlow,
    ProvisioningServer,
};
use headend_store::{
    hex_colon, Account, ClientKey, Lease6, Lease6Key, Lease6Kind, LeaseState, Mutation, UnixTime,
};
use headend_wire::dhcpv6::code::{self, Status};
use headend_wire::dhcpv6::{Builder, Duid, Message, MessageType, Relayed};
use parking_lot::Mutex;
use tracing::{debug, warn};

use headend_wire::cablelabs::{
    v6::sub, Ccc, CccV6, ClVendorOptionsV6, DssId, IpPref, ProvisioningServerV6, VendorClass,
};

use super::cablelabs::{self, ClientCl};
use super::leases::{IaKey, LeaseTable6};
use crate::accounts::AccountTable;
use crate::counters::{Counters, Event, Family};
use crate::shared::timeline::{Detail, Outcome as StepOutcome, Role, Step, Timeline};
use crate::shared::Clock;

/// Largest datagram processed; anything longer is dropped as `oversize`
/// (a full eUE SOLICIT behind eight relays is under 2 KB).
pub const MAX_DATAGRAM: usize = 8192;

/// What the socket loop must do with a datagram.
pub type Outcome6 = crate::udp::Outcome<SocketAddrV6>;

/// Options of an ADVERTISE remembered for the REQUEST (seed 000 eUE-4, CM4v6).
#[derive(Debug, Clone)]
struct Advertised {
    extras: Vec<u8>,
    until: UnixTime,
}

/// The DHCPv6 service state shared by all socket tasks.
pub struct Dhcpv6 {
    /// The running configuration.
    pub config: Arc<ArcSwap<Snapshot>>,
    /// Every binding, in memory.
    pub leases: Mutex<LeaseTable6>,
    /// Accounts, shared with DHCPv4.
    pub accounts: Arc<AccountTable>,
    /// The server-wide counters; DHCPv6 events and drops in [`Family::Dhcpv6`].
    pub counters: Arc<Counters>,
    server_duid: Vec<u8>,
    advertised: Mutex<FastMap<Vec<u8>, Advertised>>,
    clock: Clock,
    /// Where bound devices' classification is remembered for the config
    /// server (bindings do not keep it).
    device_memo: std::sync::OnceLock<Arc<crate::shared::DeviceMemo>>,
    /// Where each exchange is recorded as a provisioning step.
    timeline: std::sync::OnceLock<Arc<Timeline>>,
    /// The store's health: no advertisements while commits fail.
    store: std::sync::OnceLock<crate::shared::StoreHealth>,
    /// Where the sweep deletes ended bindings from the store (set when the
    /// component starts).
    committer: std::sync::OnceLock<Arc<headend_store::GroupCommitter>>,
    /// Where dynamic DNS jobs go (see [`super::ddns`]).
    pub(super) ddns: std::sync::OnceLock<Arc<crate::shared::ddns::DdnsLink>>,
    /// The buckets this node answers, when it is one of a cluster.
    cluster: std::sync::OnceLock<Arc<crate::cluster::Membership>>,
}

/// Bindings the sweep drops per lock hold.
const SWEEP_SLICE: usize = 1_000;
/// Bindings one sweep drops at most (the next second's takes the rest).
const MAX_SWEEP: usize = 100_000;

/// ADVERTISEs whose options are remembered for the REQUEST at most; beyond
/// it the REQUEST composes them again (a SOLICIT flood costs bounded memory).
pub const MAX_ADVERTISED: usize = 65_536;

impl std::fmt::Debug for Dhcpv6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dhcpv6")
            .field("server_duid", &hex_colon(&self.server_duid))
            .finish_non_exhaustive()
    }
}

/// The server DUID: the configured one, else the stored one, else a new
/// DUID-LLT (hardware type 1, a random locally administered MAC) that the
/// caller must store with the returned mutation (RFC 8415 §11: stable
/// across restarts).
pub fn server_duid(
    configured: Option<&[u8]>,
    stored: Option<Vec<u8>>,
    now: UnixTime,
) -> (Vec<u8>, Option<Mutation>) {
    if let Some(c) = configured {
        return (c.to_vec(), None);
    }
    if let Some(s) = stored.filter(|s| s.len() >= 3) {
        return (s, None);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now);
    h.write_u32(std::process::id());
    let r = h.finish().to_be_bytes();
    // DUID time: seconds since 2000-01-01 UTC modulo 2^32.
    let t = (now.saturating_sub(946_684_800) & 0xffff_ffff) as u32;
    let mut d = vec![0, 1, 0, 1];
    d.extend_from_slice(&t.to_be_bytes());
    // Locally administered, unicast.
    d.extend_from_slice(&[(r[0] & 0xfc) | 0x02, r[1], r[2], r[3], r[4], r[5]]);
    let m = Mutation::PutMeta {
        key: headend_store::META_SERVER_DUID.into(),
        value: d.clone(),
    };
    (d, Some(m))
}

/// Builds the service at start-up: loads the stored bindings and the
/// server DUID (generating and durably storing one on first start).
pub fn open(
    config: Arc<ArcSwap<Snapshot>>,
    store: &dyn headend_store::Store,
    accounts: Arc<AccountTable>,
    counters: Arc<Counters>,
    clock: Clock,
) -> Result<Dhcpv6, headend_store::StoreError> {
    let now = clock();
    let snap = config.load_full();
    let configured = snap.dhcpv6.as_ref().and_then(|d| d.server_duid.clone());
    let stored = store.meta(headend_store::META_SERVER_DUID)?;
    let (mut duid, m) = server_duid(configured.as_deref(), stored, now);
    // A DHCPv4-only server keeps its store untouched.
    if let Some(m) = m.filter(|_| snap.dhcpv6.is_some()) {
        store.apply(&[m])?;
        store.sync()?;
        // Nodes of a cluster starting together on a new database each
        // write one: every node reads back the one that stayed.
        if let Some(d) = store.meta(headend_store::META_SERVER_DUID)? {
            duid = d;
        }
        tracing::info!(duid = %hex_colon(&duid), "generated the DHCPv6 server DUID");
    }
    let mut table = LeaseTable6::new();
    table.load(store.load_leases6()?, now);
    Ok(Dhcpv6::new(config, table, accounts, counters, duid, clock))
}

/// One IA the client sent: kind, IAID, the addresses or prefixes in it.
type ClientIa = (Lease6Kind, u32, Vec<Lease6Key>);

/// One IA of the reply.
#[derive(Debug, Clone)]
struct IaOut {
    kind: Lease6Kind,
    iaid: u32,
    t1: u32,
    t2: u32,
    /// (resource, preferred, valid).
    entries: Vec<(Lease6Key, u32, u32)>,
    status: Option<(Status, &'static str)>,
}

/// The device as seen in this message.
#[derive(Debug, Clone)]
struct Dev6 {
    duid: Vec<u8>,
    mac: Option<Vec<u8>>,
    account_id: String,
    link: Ipv6Addr,
    cm_mac: Option<Vec<u8>>,
    cl: ClientCl,
    oro: Vec<u16>,
    /// The vendor class item the shared classifier describes the device by.
    vc: Option<VendorClass>,
    /// What the client asked for (ORO, CL ORO; option 39 counts as asking
    /// for it), as policy composition reads it.
    requested: RequestedOptions,
    is_eue: bool,
    is_ecm: bool,
    fqdn: Option<(u8, Option<String>)>,
    rapid_commit: bool,
}

/// The CableLabs sub-options the server writes from typed values (the
/// others an operator declares are encoded generically).
const TYPED_CL: [u32; 8] = [
    sub::TFTP_SERVERS as u32,
    sub::CONFIG_FILE_NAME as u32,
    sub::SYSLOG_SERVERS as u32,
    sub::TIME_SERVERS as u32,
    sub::TIME_OFFSET as u32,
    sub::IP_PREF as u32,
    sub::CCC as u32,
    sub::CCCV6 as u32,
];

/// The path `v6/17/4491/<el…>` (CableLabs DHCPv6 vendor sub-options).
fn cl_path(el: &[u32]) -> Option<TagPath> {
    let mut v = [0u32; headend_model::options::path::MAX_DEPTH];
    let (head, rest) = v.split_at_mut(2);
    head.copy_from_slice(&[u32::from(code::VENDOR_OPTS), cablelabs::ENTERPRISE]);
    rest.get_mut(..el.len())?.copy_from_slice(el);
    TagPath::new(Space::Dhcp6, v.get(..2 + el.len())?)
}

/// CCCv6 sub-option 3 from a configured or decided server: type 0 FQDN or
/// type 1 IPv6 list; an IPv4 address or an empty list has no CCCv6 form.
fn prov_server_v6(s: &ProvisioningServer) -> Option<ProvisioningServerV6> {
    match s {
        ProvisioningServer::Fqdn(n) => Some(ProvisioningServerV6::Fqdn(n.clone())),
        ProvisioningServer::Ipv6(a) if !a.is_empty() => Some(ProvisioningServerV6::Ipv6(a.clone())),
        _ => None,
    }
}

/// The flows of capability TLV 5.18 in 17.35, named as DHCPv4 names them
/// for option 60's TLVs (`secure`, `hybrid`, `basic`).
fn supported_flows(caps: &[(u8, Vec<u8>)]) -> Vec<String> {
    let Some(f) = headend_wire::cablelabs::Capabilities(caps.to_vec()).supported_flows() else {
        return Vec::new();
    };
    [
        (f.secure(), "secure"),
        (f.hybrid(), "hybrid"),
        (f.basic(), "basic"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect()
}

impl Dhcpv6 {
    /// A service over loaded state.
    pub fn new(
        config: Arc<ArcSwap<Snapshot>>,
        leases: LeaseTable6,
        accounts: Arc<AccountTable>,
        counters: Arc<Counters>,
        server_duid: Vec<u8>,
        clock: Clock,
    ) -> Self {
        Dhcpv6 {
            config,
            leases: Mutex::new(leases),
            accounts,
            counters,
            server_duid,
            advertised: Mutex::new(FastMap::default()),
            clock,
            device_memo: std::sync::OnceLock::new(),
            timeline: std::sync::OnceLock::new(),
            committer: std::sync::OnceLock::new(),
            ddns: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            store: std::sync::OnceLock::new(),
        }
    }

    /// This server's DUID (option 2).
    pub fn server_duid(&self) -> &[u8] {
        &self.server_duid
    }

    /// Gauges of the binding table as `name value` pairs (`dhcpv6.bindings`:
    /// every IA_NA/IA_PD binding held in memory, any state); the counters
    /// are in the server-wide [`Counters::snapshot`].
    fn count(&self, e: Event) {
        self.counters.count_in(Family::Dhcpv6, e);
    }

    /// Now, by the service clock.
    pub fn now(&self) -> UnixTime {
        (self.clock)()
    }

    /// Remember the classification (vendor class, device type, capabilities)
    /// of every device that binds, in `memo`, for TFTP/HTTP requests.
    pub fn set_device_memo(&self, memo: Arc<crate::shared::DeviceMemo>) {
        let _ = self.device_memo.set(memo);
    }

    /// Records every exchange in `timeline` (`CM1v6`…`CM4v6` for an eCM,
    /// `eUE-1`…`eUE-4` for an eUE), linking an eUE to the modem of its
    /// 17.1026.
    pub fn set_timeline(&self, timeline: Arc<Timeline>) {
        let _ = self.timeline.set(timeline);
    }

    /// The timeline exchanges are recorded in, once set.
    pub fn timeline(&self) -> Option<&Arc<Timeline>> {
        self.timeline.get()
    }

    /// Every binding whose device MAC (or the modem MAC behind which it sits)
    /// is the account id `mac` (`aa:bb:…`), for `headend explain`.
    pub fn bindings_of_mac(&self, mac: &str) -> Vec<Lease6> {
        let want = |m: &Option<Vec<u8>>| m.as_deref().map(hex_colon).as_deref() == Some(mac);
        let mut v: Vec<Lease6> = self
            .leases
            .lock()
            .iter()
            .filter(|l| want(&l.mac) || want(&l.modem_mac))
            .cloned()
            .collect();
        v.sort_by_key(|l| (l.kind == Lease6Kind::Pd, l.address));
        v
    }

    /// Periodic housekeeping: expire bindings, holds and remembered advertises.
    pub fn sweep(&self) -> usize {
        let now = self.now();
        // In slices, so the packet path never waits long for the lock.
        let mut dead = Vec::new();
        let bus = self
            .timeline()
            .map(|t| t.bus().clone())
            .filter(|b| b.wanted());
        let mut ended = Vec::new();
        let ddns = self.ddns.get().is_some_and(|l| l.attached());
        loop {
            let slice = self.leases.lock().expire_due_with(
                now,
                SWEEP_SLICE,
                (bus.is_some() || ddns).then_some(&mut ended),
            );
            let more = slice.len() == SWEEP_SLICE;
            dead.extend(slice);
            if !more || dead.len() >= MAX_SWEEP {
                break;
            }
        }
        self.advertised.lock().retain(|_, a| a.until > now);
        // In a cluster, another node's binding may have been renewed
        // there: its end is that node's to announce.
        if let Some(m) = self.cluster.get() {
            ended.retain(|l| m.serves(headend_store::cluster::bucket_of_lease6(l)));
        }
        if let Some(bus) = &bus {
            for l in &ended {
                bus.lease6("lease.expired", l);
            }
        }
        if ddns {
            self.ddns_jobs(&ended, true);
        }
        let n = dead.len();
        if let (Some(c), false) = (self.committer.get(), dead.is_empty()) {
            // Ended bindings leave the store too (not acknowledged to
            // anybody: a crash before it is written only means they are
            // dropped again at the next start).
            c.submit_nowait(dead.into_iter().map(Mutation::DeleteLease6).collect());
        }
        n
    }

    /// Answers only the clients of the buckets `membership` says.
    pub fn set_cluster(&self, membership: Arc<crate::cluster::Membership>) {
        let _ = self.cluster.set(membership);
    }

    /// Refuses new bindings while `store` reports commits failing, and
    /// rolls failed commits back to the store's durable records.
    pub fn set_store_health(&self, store: crate::shared::StoreHealth) {
        let _ = self.store.set(store);
    }

    /// Undoes in memory the bindings of a commit that failed: each
    /// resource gets back its durable record, or is dropped if it has none.
    pub fn rollback(&self, commit: &[Mutation]) {
        for m in commit {
            if let Mutation::PutLease6(l) = m {
                let durable = self.store.get().and_then(|s| s.lease6(l.key()));
                self.leases.lock().restore(l, durable);
            }
        }
    }

    /// Deletes ended bindings from the store through `committer`.
    pub fn set_committer(&self, committer: Arc<headend_store::GroupCommitter>) {
        let _ = self.committer.set(committer);
    }

    /// Processes one datagram from `source` that came through a relay (or
    /// whose receiving link is unknown).
    pub fn handle(&self, data: &[u8], source: SocketAddrV6, trace: &mut Trace) -> Outcome6 {
        self.handle_on(data, source, &[], trace)
    }

    /// Processes one datagram from `source`; `local` are the global
    /// addresses of the interface it arrived on. A message without a relay
    /// link-address is a directly attached client's: its link is the first
    /// of `local` some pool serves, else `::` (pools listing `::` serve
    /// clients whose link is unknown), as a relay's link-address would
    /// select (RFC 8415 §13.1).
    pub fn handle_on(
        &self,
        data: &[u8],
        source: SocketAddrV6,
        local: &[Ipv6Addr],
        trace: &mut Trace,
    ) -> Outcome6 {
        self.count(Event::Received);
        if data.len() > MAX_DATAGRAM {
            return Outcome6::Drop("oversize");
        }
        let relayed = match Relayed::parse(data) {
            Ok(r) => r,
            Err(e) => {
                trace.note(|| format!("dropped: {e}"));
                return Outcome6::Drop(e.reason());
            }
        };
        let snap = self.config.load_full();
        let Some(d6) = snap.dhcpv6.as_ref() else {
            return Outcome6::Drop("dhcpv6_disabled");
        };
        if relayed.relays.len() > usize::from(d6.max_relay_hops) {
            return Outcome6::Drop("relay_too_deep");
        }
        let msg = relayed.message;
        let mtype = msg.msg_type;
        if mtype == MessageType::Leasequery {
            // RFC 5007: read-only, a path of its own.
            return super::leasequery::handle(self, d6, &relayed, source, trace);
        }
        if !matches!(
            mtype,
            MessageType::Solicit
                | MessageType::Request
                | MessageType::Confirm
                | MessageType::Renew
                | MessageType::Rebind
                | MessageType::Release
                | MessageType::Decline
                | MessageType::InformationRequest
        ) {
            return Outcome6::Drop("not_client_message");
        }
        // RFC 8415 §16: which messages must and must not carry a Server Identifier.
        let sid = match msg.options.server_id() {
            Ok(s) => s.map(|d| d.to_bytes()),
            Err(_) => return Outcome6::Drop("bad_server_id"),
        };
        match mtype {
            MessageType::Solicit | MessageType::Confirm | MessageType::Rebind if sid.is_some() => {
                return Outcome6::Drop("unexpected_server_id")
            }
            MessageType::Request
            | MessageType::Renew
            | MessageType::Release
            | MessageType::Decline => match &sid {
                None => return Outcome6::Drop("missing_server_id"),
                Some(s) if *s != self.server_duid => return Outcome6::Silent("other_server"),
                _ => {}
            },
            MessageType::InformationRequest
                if sid.as_ref().is_some_and(|s| *s != self.server_duid) =>
            {
                return Outcome6::Silent("other_server");
            }
            _ => {}
        }
        // One node of a cluster answers each client, by DUID (RFC 3074 as
        // draft-ietf-dhc-dhcpv6-loadb extends it), checked before the device
        // view is built (most messages a node receives are another node's);
        // Information-request binds nothing and any node answers it.
        if mtype != MessageType::InformationRequest {
            if let Some(m) = self.cluster.get() {
                // The option's bytes are the DUID's wire form, what a
                // binding keeps: hashed in place, no copy per message.
                let duid = msg.options.get(code::CLIENTID).unwrap_or_default();
                if !m.serves(headend_store::cluster::bucket6(duid)) {
                    m.left_to_owner();
                    return Outcome6::Silent("other_node_bucket");
                }
            }
        }
        let direct_link = local
            .iter()
            .copied()
            .find(|a| d6.pools.iter().any(|p| p.links.contains(a)));
        let dev = match self.device(&relayed, &msg, direct_link) {
            Ok(d) => d,
            Err(r) => return Outcome6::Drop(r),
        };
        let span = tracing::debug_span!("dhcpv6", duid = %hex_colon(&dev.duid), xid = format_args!("{:06x}", msg.transaction_id));
        let _g = span.enter();
        let SocketAddrV6 { .. } = source;
        let mut cx = Cx {
            svc: self,
            snap: &snap,
            d6,
            relayed: &relayed,
            msg,
            dev,
            now: self.now(),
            source,
            new_account: None,
            domains: Vec::new(),
            ctx: Arc::new(EvalContext::default()),
            pool_policies: &[],
            sent: std::cell::RefCell::new(None),
        };
        cx.classify(trace);
        if cx.no_response(trace) {
            let out = Outcome6::Silent("no_response_policy");
            if let Some(tl) = self.timeline.get() {
                cx.record_steps(tl, mtype, &out);
            }
            return out;
        }
        // No store, no new bindings: a client should find a healthy peer.
        let store_down = self.store.get().is_some_and(|s| !s.healthy());
        if store_down
            && matches!(
                mtype,
                MessageType::Solicit
                    | MessageType::Request
                    | MessageType::Renew
                    | MessageType::Rebind
            )
        {
            return Outcome6::Silent("store_unhealthy");
        }
        let out = match mtype {
            MessageType::Solicit => cx.solicit(trace),
            MessageType::Request => cx.request(trace),
            MessageType::Renew | MessageType::Rebind => cx.renew(mtype, trace),
            MessageType::Confirm => cx.confirm(trace),
            MessageType::Release => cx.release(trace),
            MessageType::Decline => cx.decline(trace),
            _ => cx.information(trace),
        };
        if let Outcome6::Drop(r) | Outcome6::Silent(r) = &out {
            debug!(reason = r, "no reply");
        }
        if let Some(tl) = self.timeline.get() {
            cx.record_steps(tl, mtype, &out);
        }
        out
    }

    fn device(
        &self,
        relayed: &Relayed<'_>,
        msg: &Message<'_>,
        direct_link: Option<Ipv6Addr>,
    ) -> Result<Dev6, &'static str> {
        let o = &msg.options;
        let duid = match o.client_id() {
            Ok(Some(d)) => d.to_bytes(),
            Ok(None) if msg.msg_type == MessageType::InformationRequest => Vec::new(),
            Ok(None) => return Err("missing_client_id"),
            Err(_) => return Err("bad_client_id"),
        };
        let cl = cablelabs::read_client(o)?;
        let oro: Vec<u16> = match o.oro() {
            Ok(Some(x)) => x.codes().collect(),
            Ok(None) => Vec::new(),
            Err(_) => return Err("bad_oro"),
        };
        let fqdn = match o.client_fqdn() {
            Ok(Some(f)) => Some((f.flags, f.domain_name().ok().map(|(n, _)| n))),
            Ok(None) => None,
            Err(_) => return Err("bad_client_fqdn"),
        };
        let rapid_commit = o.rapid_commit().map_err(|_| "bad_rapid_commit")?;
        let link = relayed
            .link_address()
            .or(direct_link.filter(|_| relayed.relays.is_empty()))
            .unwrap_or(Ipv6Addr::UNSPECIFIED);
        let mut cm_mac = None;
        let mut relay_lla = None;
        for r in relayed.relays.iter().rev() {
            if cm_mac.is_none() {
                cm_mac = cablelabs::relay_cm_mac(&r.options);
            }
            if relay_lla.is_none() {
                relay_lla = r
                    .options
                    .client_linklayer_addr()
                    .ok()
                    .flatten()
                    .map(|(_, a)| a.to_vec());
            }
        }
        let duid_mac = Duid::parse(code::CLIENTID, &duid)
            .ok()
            .and_then(|d| d.link_layer_address().map(|(_, a)| a.to_vec()));
        let mac = cl
            .device_id
            .clone()
            .filter(|m| m.len() == 6)
            .or(relay_lla)
            .or(duid_mac)
            .filter(|m| !m.is_empty());
        let account_id = match &mac {
            Some(m) => hex_colon(m),
            None => hex_colon(&duid),
        };
        let vc = device::vendor_class_of(&cl.vendor_class);
        let (family, _) = device::family_version(vc.as_ref().map(|v| v.family));
        let mut asked = oro.clone();
        if fqdn.is_some() && !asked.contains(&code::CLIENT_FQDN) {
            // RFC 4704 section 4: a client that sends option 39 wants it back.
            asked.push(code::CLIENT_FQDN);
        }
        let requested = RequestedOptions::from_dhcpv6(
            &asked,
            (!cl.oro.is_empty()).then(|| (cablelabs::ENTERPRISE, cl.oro.clone())),
        );
        let dt = |t: &str| cl.device_type.eq_ignore_ascii_case(t);
        let is_eue = family == "pktc" || dt("EDVA") || dt("EMTA") || dt("EUE");
        let is_ecm = !is_eue && (family == "docsis" || dt("ECM"));
        Ok(Dev6 {
            duid,
            mac,
            account_id,
            link,
            cm_mac,
            cl,
            oro,
            vc,
            requested,
            is_eue,
            is_ecm,
            fqdn,
            rapid_commit,
        })
    }
}

/// Everything known while processing one message.
struct Cx<'a> {
    svc: &'a Dhcpv6,
    snap: &'a Snapshot,
    d6: &'a Dhcpv6Settings,
    relayed: &'a Relayed<'a>,
    msg: Message<'a>,
    dev: Dev6,
    now: UnixTime,
    source: SocketAddrV6,
    new_account: Option<Account>,
    domains: Vec<String>,
    ctx: Arc<EvalContext>,
    /// The policies of the first binding's pool, once a binding is made.
    pool_policies: &'a [usize],
    /// The reply built, described for the timeline.
    sent: std::cell::RefCell<Option<(MessageType, Detail, bool)>>,
}

/// What a reply said, for the timeline: the message with its one address
/// as typed fields in the common case (formatted only when shown), the
/// whole list as text otherwise, and whether it refused the client.
fn sent_detail(
    mtype: MessageType,
    ias: &[IaOut],
    status: Option<(Status, &str)>,
) -> (MessageType, Detail, bool) {
    use std::fmt::Write as _;
    let failed = status.is_some_and(|(s, _)| refuses(s))
        || ias
            .iter()
            .any(|ia| ia.status.is_some_and(|(s, _)| refuses(s)));
    if let ([ia], None) = (ias, status) {
        if let ([(k, _, _)], Lease6Kind::Na, None) = (ia.entries.as_slice(), ia.kind, ia.status) {
            return (
                mtype,
                Detail::Message(mtype.name(), k.address.into()),
                failed,
            );
        }
    }
    let mut d = mtype.name().to_string();
    for ia in ias {
        for (k, _, _) in &ia.entries {
            match ia.kind {
                Lease6Kind::Na => {
                    let _ = write!(d, " {}", k.address);
                }
                Lease6Kind::Pd => {
                    let _ = write!(d, " {}/{}", k.address, k.prefix_len);
                }
            }
        }
        if let Some((s, _)) = ia.status {
            let _ = write!(d, " IA {} {s:?}", ia.iaid);
        }
    }
    if let Some((s, m)) = status {
        let _ = write!(d, " status {s:?} {m}");
    }
    (mtype, Detail::Text(d), failed)
}

/// A status that leaves the client without what it asked for (a failed step).
fn refuses(s: Status) -> bool {
    matches!(
        s,
        Status::NoAddrsAvail | Status::NoPrefixAvail | Status::NoBinding | Status::NotOnLink
    )
}

impl Cx<'_> {
    /// Records the request and its answer as the device's provisioning
    /// steps (seed 000 Table 3 for an eCM, Table 6 eUE-1…eUE-4 for an eUE).
    fn record_steps(&self, tl: &Timeline, mtype: MessageType, out: &Outcome6) {
        let Some(mac) = self.dev.mac.as_deref().map(hex_colon) else {
            return; // no MAC to file it under
        };
        let role = Role::of_family(&self.ctx.device.family);
        let (asked, answer) = match (role, mtype) {
            (Role::Ecm, MessageType::Solicit) => (Step::Cm1v6, Step::Cm2v6),
            (Role::Ecm, MessageType::Request) => (Step::Cm3v6, Step::Cm4v6),
            (Role::Eue, MessageType::Solicit) => (Step::Eue(1), Step::Eue(2)),
            (Role::Eue, MessageType::Request) => (Step::Eue(3), Step::Eue(4)),
            (_, t) => (Step::Other(t.name()), Step::Other("REPLY")),
        };
        let relay = self.relayed.relays.first().map(|r| r.link_address);
        let via = match relay {
            Some(l) => Detail::Addr("DHCPv6 via relay, link ", l.into()),
            None => Detail::Addr("DHCPv6 from ", (*self.source.ip()).into()),
        };
        tl.record(&mac, asked, StepOutcome::Ok, via);
        match out {
            Outcome6::Reply { .. } => {
                let Some((t, detail, failed)) = self.sent.borrow_mut().take() else {
                    return;
                };
                // Rapid commit answers a Solicit with the Reply of step 4.
                let answer = match (answer, t) {
                    (Step::Cm2v6, MessageType::Reply) => Step::Cm4v6,
                    (Step::Eue(2), MessageType::Reply) => Step::Eue(4),
                    (a, _) => a,
                };
                let outcome = if failed {
                    StepOutcome::Failed
                } else {
                    StepOutcome::Ok
                };
                tl.record(&mac, answer, outcome, detail);
                if role == Role::Eue && t == MessageType::Reply && !failed {
                    if let Some(cm) = self.dev.cm_mac.as_deref() {
                        tl.link(&hex_colon(cm), &mac);
                    }
                }
                if matches!(out, Outcome6::Reply { durable: true, .. }) && !failed {
                    // A binding: the device's steps are written from now on.
                    tl.establish(&mac);
                }
            }
            Outcome6::Commit(_) => {}
            Outcome6::Silent(r) => tl.record(
                &mac,
                answer,
                StepOutcome::Failed,
                Detail::Reason("not answered: ", r),
            ),
            Outcome6::Drop(r) => tl.record(
                &mac,
                answer,
                StepOutcome::Failed,
                Detail::Reason("dropped: ", r),
            ),
        }
    }

    /// The expression context of the message; the CableLabs texts move
    /// into it (nothing else reads them).
    fn base_context(&mut self) -> EvalContext {
        let mut c = EvalContext::default();
        c.packet.protocol = "dhcpv6".into();
        c.packet.message_type = self.msg.msg_type.name().into();
        c.packet.xid = self.msg.transaction_id;
        c.packet.hops = u8::try_from(self.relayed.relays.len()).unwrap_or(u8::MAX);
        c.packet.chaddr = self.dev.mac.clone().unwrap_or_default();
        c.packet.client_id = self.dev.duid.clone();
        c.packet.requested = self.dev.oro.clone();
        c.packet.options = RawOptions::with_capacity(16, self.msg.options.as_bytes().len());
        for (code, v) in self.msg.options.iter() {
            c.packet.options.insert(code, v);
        }
        c.relay.address = IpAddr::V6(self.dev.link);
        c.relay.remote_id = self.dev.cm_mac.clone().unwrap_or_default();
        let d = &mut c.device;
        device::describe(self.dev.vc.as_ref(), d);
        let cl = &mut self.dev.cl;
        d.supported_flows = supported_flows(&cl.capabilities);
        d.capabilities = std::mem::take(&mut cl.capabilities).into_iter().collect();
        d.ip_pref = cl.ip_pref;
        d.dual_stack = cl.ip_pref == Some(7);
        d.device_type = std::mem::take(&mut cl.device_type);
        d.serial = std::mem::take(&mut cl.serial);
        d.model = std::mem::take(&mut cl.model);
        d.vendor_name = std::mem::take(&mut cl.vendor_name);
        d.oui = std::mem::take(&mut cl.oui);
        d.correlation_id = cl.correlation_id;
        c
    }

    /// Resolves the account (shared with DHCPv4 by MAC: the one account
    /// step, [`AccountTable::resolve`]) and its domains, with the modem's
    /// account from 17.1026 in the context.
    fn classify(&mut self, trace: &mut Trace) {
        let mut ctx = Arc::new(self.base_context());
        device::classify(self.snap, &mut ctx);
        trace.note(|| {
            let d = &ctx.device;
            format!(
                "vendor class {:?}: type {} (typeid {}), family {} {}",
                d.vendor_class, d.type_name, d.typeid, d.family, d.version
            )
        });
        let modem = self
            .dev
            .cm_mac
            .as_deref()
            .and_then(|m| self.svc.accounts.lookup(self.snap, &hex_colon(m)));
        // The auto-provisioning expression sees the modem's account.
        Arc::make_mut(&mut ctx).modem = modem.as_ref().map(AccountInfo::from);
        let r = self.svc.accounts.resolve(
            self.snap,
            &self.dev.account_id,
            &ctx,
            self.now,
            &self.svc.counters,
            trace,
        );
        self.new_account = r.new;
        self.domains = r.account.domains.clone();
        let c = Arc::make_mut(&mut ctx);
        c.account = Some(AccountInfo::from(&r.account));
        c.domains = self.domains.clone();
        self.ctx = ctx;
    }

    /// Stages 2 and 3 of pool selection, by the judge DHCPv4 uses.
    fn eligible(&self, pool: &Pool6, trace: &mut Trace) -> bool {
        let mut failures = Vec::new();
        let verdict = if pool.allow.is_none() && pool.deny.is_none() {
            if pool.authorizes(&self.domains) {
                PoolVerdict::Eligible
            } else {
                PoolVerdict::NotAuthorized
            }
        } else {
            let mut s = self.snap.exprs.session_shared(self.ctx.clone());
            select::judge6(pool, &self.domains, &mut s, &mut failures)
        };
        for f in failures {
            trace.note(|| format!("pool6 {:?} allow/deny FAILED: {}", f.pool, f.error));
            self.svc.counters.expression_failed(f.error.kind.as_str());
            warn!(duid = %hex_colon(&self.dev.duid), account = %self.dev.account_id, pool = %f.pool, error = %f.error, "pool6 allow/deny failed");
        }
        if matches!(verdict, PoolVerdict::NotAllowed | PoolVerdict::Denied) {
            trace.note(|| format!("pool6 {} refused by allow/deny", pool.name));
        }
        verdict == PoolVerdict::Eligible
    }

    fn pools(&self, kind: Pool6Kind, trace: &mut Trace) -> Vec<&Pool6> {
        self.d6
            .pools_for(self.dev.link, kind)
            .filter(|p| self.eligible(p, trace))
            .collect()
    }

    fn pool_of<'p>(pools: &[&'p Pool6], k: &Lease6Key) -> Option<&'p Pool6> {
        pools
            .iter()
            .copied()
            .find(|p| p.delegated_length == k.prefix_len && p.prefix.contains(&k.address))
    }

    fn times(&self, preferred: u32) -> (u32, u32) {
        let t1 = if self.d6.t1 > 0 {
            self.d6.t1
        } else {
            preferred / 2
        };
        let t2 = if self.d6.t2 > 0 {
            self.d6.t2
        } else {
            (u64::from(preferred) * 4 / 5) as u32
        };
        (t1.min(t2), t2)
    }

    fn ia_key(&self, kind: Lease6Kind, iaid: u32) -> IaKey {
        IaKey {
            duid: self.dev.duid.clone(),
            iaid,
            kind,
        }
    }

    /// The IAs the client sent, with the first address or prefix in each.
    fn client_ias(&self) -> Result<Vec<ClientIa>, &'static str> {
        let mut out = Vec::new();
        for ia in self.msg.options.ia_nas() {
            let ia = ia.map_err(|_| "bad_ia_na")?;
            let mut keys = Vec::new();
            for a in ia.addresses() {
                let a = a.map_err(|_| "bad_iaaddr")?;
                keys.push(Lease6Key {
                    address: a.addr,
                    prefix_len: 128,
                });
            }
            out.push((Lease6Kind::Na, ia.iaid, keys));
        }
        for ia in self.msg.options.ia_pds() {
            let ia = ia.map_err(|_| "bad_ia_pd")?;
            let mut keys = Vec::new();
            for p in ia.prefixes() {
                let p = p.map_err(|_| "bad_iaprefix")?;
                keys.push(Lease6Key {
                    address: p.prefix,
                    prefix_len: p.prefix_len,
                });
            }
            out.push((Lease6Kind::Pd, ia.iaid, keys));
        }
        Ok(out)
    }

    fn lease_record(&self, kind: Lease6Kind, iaid: u32, k: Lease6Key, pool: &Pool6) -> Lease6 {
        Lease6 {
            kind,
            address: k.address,
            prefix_len: k.prefix_len,
            duid: self.dev.duid.clone(),
            iaid,
            state: LeaseState::Active,
            commit_time: self.now,
            preferred: pool.preferred_lifetime,
            valid: pool.valid_lifetime,
            link: self.dev.link,
            pool: pool.name.clone(),
            mac: self.dev.mac.clone(),
            modem_mac: self.dev.cm_mac.clone(),
            fqdn: None,
            relay: super::leasequery::relay_of(self.relayed, &self.source),
        }
    }

    /// Finds a resource for one IA: its current binding if its pool is
    /// still open to the device, else the wanted one, else a new pick;
    /// holds it (advertise) or binds it (`bind`).
    fn assign(
        &self,
        kind: Lease6Kind,
        iaid: u32,
        wanted: &[Lease6Key],
        bind: bool,
        trace: &mut Trace,
    ) -> (IaOut, Option<Lease6>) {
        let pkind = match kind {
            Lease6Kind::Na => Pool6Kind::Na,
            Lease6Kind::Pd => Pool6Kind::Pd,
        };
        let pools = self.pools(pkind, trace);
        let ia = self.ia_key(kind, iaid);
        let none = |status| IaOut {
            kind,
            iaid,
            t1: 0,
            t2: 0,
            entries: Vec::new(),
            status: Some(status),
        };
        let fail = match kind {
            Lease6Kind::Na => (Status::NoAddrsAvail, "no addresses available"),
            Lease6Kind::Pd => (Status::NoPrefixAvail, "no prefixes available"),
        };
        // An operator's reservation (in an eligible pool) comes first; the
        // dynamic picker leaves other clients' reserved resources alone.
        let res = &self.snap.reservations6;
        let mac = self.dev.mac.as_deref().map(hex_colon);
        let reserved = (!res.is_empty())
            .then(|| res.mine(&self.dev.duid, mac.as_deref(), kind == Lease6Kind::Na))
            .flatten()
            .filter(|k| Self::pool_of(&pools, k).is_some());
        let others = |k: &Lease6Key| {
            !res.is_empty() && res.taken_by_other(k, &self.dev.duid, mac.as_deref())
        };
        let mut table = self.svc.leases.lock();
        let current: Option<Lease6Key> = table
            .of_ia(&ia)
            .into_iter()
            .filter(|l| l.state != LeaseState::Declined)
            .max_by_key(|l| (l.state == LeaseState::Active, l.commit_time))
            .map(Lease6::key)
            .filter(|k| Self::pool_of(&pools, k).is_some())
            .filter(|k| reserved.is_none_or(|r| r == *k) && !others(k));
        let hold_until = self.now + u64::from(self.d6.advertise_hold);
        let mut chosen = None;
        if let Some(k) = current {
            if table.is_available_for(&k, &ia, self.now) {
                chosen = Some(k);
            }
        }
        if chosen.is_none() {
            let wanted_ok = reserved.or_else(|| {
                wanted
                    .iter()
                    .find(|w| Self::pool_of(&pools, w).is_some())
                    .copied()
            });
            if let Some(r) = reserved {
                trace.note(|| format!("IA {iaid}: reserved {}/{}", r.address, r.prefix_len));
            }
            for p in &pools {
                let w = wanted_ok.filter(|w| p.prefix.contains(&w.address));
                if let Some(k) = table.pick_and_hold(p, &ia, w, self.now, hold_until, &others) {
                    chosen = Some(k);
                    break;
                }
            }
        }
        let Some(k) = chosen else {
            trace.note(|| format!("IA {iaid}: nothing free in {} eligible pools", pools.len()));
            return (none(fail), None);
        };
        let Some(pool) = Self::pool_of(&pools, &k) else {
            return (none(fail), None);
        };
        let (t1, t2) = self.times(pool.preferred_lifetime);
        let out = IaOut {
            kind,
            iaid,
            t1,
            t2,
            entries: vec![(k, pool.preferred_lifetime, pool.valid_lifetime)],
            status: None,
        };
        let rec = if bind {
            let rec = self.lease_record(kind, iaid, k, pool);
            table.bind(rec.clone());
            Some(rec)
        } else {
            None
        };
        trace.note(|| {
            format!(
                "IA {iaid}: {}/{} from pool6 {}",
                k.address, k.prefix_len, pool.name
            )
        });
        (out, rec)
    }

    /// The non-IA options of a reply, with the first assigned binding and
    /// its pool in the expression context (FQDN, config file name …).
    fn extras_for(&mut self, outs: &[IaOut], trace: &mut Trace) -> Vec<u8> {
        let first = outs.iter().find_map(|o| o.entries.first().copied());
        let d6 = self.d6;
        let pool = first.and_then(|(k, _, _)| {
            d6.pools
                .iter()
                .find(|p| p.delegated_length == k.prefix_len && p.prefix.contains(&k.address))
        });
        self.with_ctx_lease(first.as_ref(), pool);
        self.pool_policies = pool.map(|p| p.policies.as_slice()).unwrap_or(&[]);
        self.extras(trace)
    }

    fn with_ctx_lease(&mut self, k: Option<&(Lease6Key, u32, u32)>, pool: Option<&Pool6>) {
        // The sessions that shared the context are gone by now: no copy.
        let c = Arc::make_mut(&mut self.ctx);
        if let Some((k, _, valid)) = k {
            c.lease = Some(LeaseInfo {
                ip: IpAddr::V6(k.address),
                client: ClientKey(self.dev.duid.clone()),
                lifetime: *valid,
                commit_time: self.now,
                pool: pool.map(|p| p.name.clone()).unwrap_or_default(),
            });
        }
        if let Some(p) = pool {
            c.pool = Some(PoolInfo {
                name: p.name.clone(),
                network: ipnet::IpNet::V6(p.prefix),
                relays: p.links.iter().map(|l| IpAddr::V6(*l)).collect(),
                first: IpAddr::V6(p.prefix.network()),
                last: IpAddr::V6(p.prefix.broadcast()),
            });
        }
    }

    /// Flow selection for an eUE (issue 3, seed 000 section 6.4.1), as
    /// DHCPv4 does it: the snapshot's flow-select hook decides; when no
    /// plugin serves it, or the call fails (counted as a hook fallback), the
    /// configured `[dhcpv6] realm` / `provisioning_server` apply.
    fn flow(&self, trace: &mut Trace) -> FlowDecision {
        let default = FlowDecision {
            provisioning_server: self.d6.provisioning_server.clone(),
            ..FlowDecision::flow(self.d6.flow.clone())
        };
        if !self.snap.hooks.serves_flow_select() {
            return default;
        }
        match self.snap.hooks.select_flow(&self.flow_device()) {
            None => default,
            Some(Ok(d)) => {
                trace.note(|| format!("flow selection (flow-select plugin): {:?}", d.flow));
                d
            }
            Some(Err(e)) => {
                self.svc.counters.hook_fallback("flow-select", &e.kind);
                warn!(account = %self.dev.account_id, error = %e, "flow selection failed; configured flow used");
                trace.note(|| format!("flow selection failed ({e}); configured flow used"));
                default
            }
        }
    }

    /// The device in plugin ABI form, from the same context expressions see
    /// (what DHCPv4 gives the hook), plus the CL ORO and the domains.
    fn flow_device(&self) -> FlowDevice {
        let mut d = plugins::device_of(&self.ctx, FlowProtocol::Dhcpv6);
        d.domains.clone_from(&self.domains);
        d.vendor_oro.clone_from(&self.dev.cl.oro);
        d
    }

    fn our_dss_id(&self) -> Vec<u8> {
        self.d6.dss_id.clone().unwrap_or_else(|| {
            let d = &self.svc.server_duid;
            d.get(..d.len().min(32)).unwrap_or(&[]).to_vec()
        })
    }

    /// The reply's options from policies (seed 004 sections 5.7 and 5.8):
    /// the one composition DHCPv4 uses, over the DHCPv6 space — enforced
    /// policies give every option, optional ones only what the ORO or the
    /// CL ORO asked for — with the first binding's pool and address in the
    /// expression context.
    fn compose(&self, space: Space, trace: &mut Trace) -> OptionSet {
        let mut failures = Vec::new();
        let input = ComposeInput {
            snapshot: self.snap,
            domains: &self.domains,
            pool: self.pool_policies,
            fixed: &[],
            requested: &self.dev.requested,
            space,
        };
        let session = || self.snap.exprs.session_shared(self.ctx.clone());
        let set = compose::compose(&input, session, &mut failures, trace);
        for f in failures {
            match &f.expression {
                Some(e) => self.svc.counters.expression_failed(e.kind.as_str()),
                None => self.svc.counters.expression_failed("wrong_type"),
            }
            warn!(duid = %hex_colon(&self.dev.duid), account = %self.dev.account_id, option = %f.path, policy = %f.policy, error = %f.error, "option omitted");
        }
        set
    }

    /// Whether a policy's `server.no-response` silences this device (seed
    /// 004 section 5.7.1), decided before anything is assigned.
    fn no_response(&self, trace: &mut Trace) -> bool {
        let quiet = self.compose(Space::Server, trace).control().no_response;
        if quiet {
            trace.note(|| "server.no-response: not answered".into());
        }
        quiet
    }

    /// The options of a reply other than IAs, server/client id, status and
    /// Rapid Commit: the composed DHCPv6 options, option 39 with the flags
    /// of RFC 4704, and the CableLabs options under the seed 000 Table 3/6
    /// rules.
    fn extras(&self, trace: &mut Trace) -> Vec<u8> {
        let set = self.compose(Space::Dhcp6, trace);
        let mut out = Vec::new();
        let fqdn_path = TagPath::dhcp6(code::CLIENT_FQDN);
        if let Some((flags, client_name)) = &self.dev.fqdn {
            let name = set
                .get(&fqdn_path)
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .or_else(|| client_name.clone().filter(|n| n.contains('.')));
            if let Some(name) = name {
                // RFC 4704 §5.2: S mirrors who updates the AAAA record. With
                // `[ddns]`, the server's decision (its S, O, N); without,
                // it takes on what the client asked (S=1 from an eUE)
                // without overriding it, so O stays 0.
                let octet = super::ddns::reply_flags(self.snap, *flags).unwrap_or_else(|| {
                    let s = flags & 0x01;
                    s | if s == 1 { 0 } else { flags & 0x04 }
                });
                let mut b = Builder::new();
                if b.client_fqdn(octet, &name, true).is_ok() {
                    trace.note(|| format!("FQDN {name}"));
                    out.extend_from_slice(b.as_bytes());
                }
            }
        }
        // Every other option of the space; the CableLabs ones go through the
        // typed CL_OPTION set below, where the Table 3/6 rules live.
        let cl_node = cl_path(&[]);
        let (encoded, errors) = set.encode_v6(&self.snap.registry, |p| {
            *p == fqdn_path || cl_node.as_ref().is_some_and(|n| p.starts_with(n))
        });
        self.encode_failures(errors);
        let mut b = Builder::new();
        for (code, payload) in &encoded {
            if b.option(*code, payload).is_err() {
                self.svc.count(Event::EncodeFailed);
            }
        }
        out.extend_from_slice(b.as_bytes());
        let cl = self.cablelabs(&set, trace);
        let extra = self.declared_cl_suboptions(&set);
        if cl != ClVendorOptionsV6::default() || !extra.is_empty() {
            match cl.encode() {
                Ok(mut v) => {
                    v.extend_from_slice(&extra);
                    let mut b = Builder::new();
                    if b.vendor_opts(cablelabs::ENTERPRISE, &v).is_ok() {
                        out.extend_from_slice(b.as_bytes());
                    }
                }
                Err(e) => {
                    self.svc.count(Event::EncodeFailed);
                    warn!(error = %e, "CableLabs options not encodable; left out");
                }
            }
        }
        out
    }

    fn encode_failures(&self, errors: Vec<(TagPath, headend_model::options::ValueError)>) {
        for (path, e) in errors {
            self.svc.count(Event::EncodeFailed);
            warn!(option = %path, error = %e, account = %self.dev.account_id, "option not encodable; left out");
        }
    }

    /// CableLabs sub-options the operator declared with `[[option_type]]`
    /// beyond those the server writes from typed values, encoded as
    /// sub-options of 17/4491; only requested ones (seed 000 Table 3/6).
    fn declared_cl_suboptions(&self, set: &OptionSet) -> Vec<u8> {
        let mut extra = OptionSet::new();
        for (path, entry) in set.iter() {
            let typed = matches!(path.get(2), Some(c) if TYPED_CL.contains(&c));
            if cl_path(&[]).is_some_and(|n| path.starts_with(&n))
                && path.depth() > 2
                && !typed
                && path
                    .get(2)
                    .and_then(|c| u16::try_from(c).ok())
                    .is_some_and(|c| self.dev.cl.oro.contains(&c))
            {
                extra.insert(path.clone(), entry.value.clone(), entry.origin.clone());
            }
        }
        if extra.is_empty() {
            return Vec::new();
        }
        let (encoded, errors) = extra.encode_v6(&self.snap.registry, |_| false);
        self.encode_failures(errors);
        // One option 17 for enterprise 4491: its payload after the
        // enterprise number is the sub-options.
        encoded
            .into_iter()
            .flat_map(|(_, payload)| payload.get(4..).unwrap_or_default().to_vec())
            .collect()
    }

    /// The CableLabs options the device asked for in its CL ORO (seed 000
    /// eUE-2 / CM2v6: only requested ones), as the wire crate's typed
    /// option 17 / 4491 value (it encodes them in code order): values from
    /// the composed policies, the flow decision's where it made one.
    fn cablelabs(&self, set: &OptionSet, trace: &mut Trace) -> ClVendorOptionsV6 {
        let mut out = ClVendorOptionsV6::default();
        if self.dev.cl.oro.is_empty() {
            return out;
        }
        let d6 = self.d6;
        let wants = |c: u16| self.dev.cl.oro.contains(&c);
        let get = |el: &[u32]| cl_path(el).and_then(|p| set.get(&p));
        let ip6s = |c: u16| -> Vec<Ipv6Addr> {
            match get(&[u32::from(c)]) {
                Some(Value::List(v)) => v
                    .iter()
                    .filter_map(|x| match x {
                        Value::Ip(IpAddr::V6(a)) => Some(*a),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let flow = if self.dev.is_eue {
            Some(self.flow(trace))
        } else {
            None
        };
        if wants(sub::TFTP_SERVERS) {
            let v: Vec<Ipv6Addr> = flow
                .iter()
                .flat_map(|f| f.tftp_servers.iter())
                .filter_map(|a| match a {
                    IpAddr::V6(a) => Some(*a),
                    IpAddr::V4(_) => None,
                })
                .collect();
            out.tftp_servers = if v.is_empty() {
                ip6s(sub::TFTP_SERVERS)
            } else {
                v
            };
        }
        if wants(sub::CONFIG_FILE_NAME) {
            out.config_file_name =
                flow.as_ref()
                    .and_then(|f| f.config_file.clone())
                    .or_else(|| {
                        get(&[u32::from(sub::CONFIG_FILE_NAME)])
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    });
        }
        if wants(sub::SYSLOG_SERVERS) {
            // The first entry is the one an eUE uses (seed 000 §6.1.6).
            if let Some(IpAddr::V6(a)) = flow.as_ref().and_then(|f| f.syslog_server) {
                out.syslog_servers.push(a);
            }
            for a in ip6s(sub::SYSLOG_SERVERS) {
                if !out.syslog_servers.contains(&a) {
                    out.syslog_servers.push(a);
                }
            }
        }
        if wants(sub::TIME_SERVERS) {
            out.time_servers = ip6s(sub::TIME_SERVERS);
        }
        if wants(sub::TIME_OFFSET) {
            out.time_offset = get(&[u32::from(sub::TIME_OFFSET)]).and_then(|v| match v {
                Value::Int(i) => i32::try_from(*i).ok(),
                Value::Uint(u) => i32::try_from(*u).ok(),
                _ => None,
            });
        }
        if wants(sub::IP_PREF) && self.dev.is_ecm {
            // Table 4: dual-stack preferences only to an eCM that
            // announced dual-stack support (b'111).
            if let Some(p) = get(&[u32::from(sub::IP_PREF)]).and_then(Value::as_u8) {
                if matches!(p, 1 | 2) || self.dev.cl.ip_pref == Some(7) {
                    out.ip_pref = Some(IpPref::from(p));
                } else {
                    // The single-stack value of the same provisioning family.
                    out.ip_pref = match p {
                        5 => Some(IpPref::Ipv4Only),
                        6 => Some(IpPref::Ipv6Only),
                        _ => None,
                    };
                    trace.note(|| format!("IP_PREF {p} withheld: the eCM did not send b'111"));
                }
            }
        }
        if wants(sub::CCC) && self.dev.is_ecm {
            let ccc = u32::from(sub::CCC);
            if let Some(primary) = get(&[ccc, 1]).and_then(Value::as_ipv4) {
                out.ccc = Some(Ccc::dhcpv4_servers(
                    primary,
                    get(&[ccc, 2]).and_then(Value::as_ipv4),
                ));
            }
        }
        if wants(sub::CCCV6) {
            out.cccv6 = if let Some(f) = &flow {
                Some(self.eue_cccv6(f, trace))
            } else if self.dev.is_ecm {
                Some(CccV6 {
                    primary: Some(DssId::new(&self.our_dss_id())),
                    secondary: d6.secondary_dss_id.as_deref().map(DssId::new),
                    ..CccV6::default()
                })
            } else {
                None
            };
        }
        if wants(sub::IP_PREF) && self.dev.is_ecm && out.ip_pref.is_none() {
            // Table 3 CM2: a server that sends CL_OPTION_CCC or
            // CL_OPTION_CCCV6 also sends CL_OPTION_IP_PREF. None configured:
            // the family the servers sent name (both: provisioning over IPv6
            // for an eCM that announced dual stack, Table 4), found by
            // headend-sim's Table 3 check.
            out.ip_pref = match (out.ccc.is_some(), out.cccv6.is_some()) {
                (true, true) if self.dev.cl.ip_pref == Some(7) => Some(IpPref::DualStackIpv6),
                (_, true) => Some(IpPref::Ipv6Only),
                (true, false) => Some(IpPref::Ipv4Only),
                (false, false) => None,
            };
            if let Some(p) = out.ip_pref {
                trace.note(|| format!("IP_PREF {} derived from the CCC/CCCV6 sent", u8::from(p)));
            }
        }
        out
    }

    /// CL_OPTION_CCCV6 for an eUE (seed 000 eUE-2/eUE-3): sub-option 1 is
    /// this server's DSS_ID (or the plugin's), never sub-option 2; 3 and 6
    /// from the flow decision. A disabling decision still carries a realm
    /// so the eUE finds sub-options 1, 3 and 6 and counts the ADVERTISE.
    fn eue_cccv6(&self, f: &FlowDecision, trace: &mut Trace) -> CccV6 {
        let d6 = self.d6;
        let dss = DssId::new(f.dss_id.as_deref().unwrap_or(&self.our_dss_id()));
        let realm = f
            .flow
            .realm()
            .or_else(|| d6.flow.realm())
            .unwrap_or_else(|| "BASIC.1".into());
        trace.note(|| format!("eUE flow {:?}", f.flow));
        if f.flow == ProvisioningFlow::Disabled {
            return CccV6::disabled(dss, &realm);
        }
        let server = match f.provisioning_server.as_ref().and_then(prov_server_v6) {
            Some(s) => Some(s),
            // An IPv4 server is the plugin's answer for DHCPv4 (one value for
            // both families): over DHCPv6 the configured server is the answer.
            None if matches!(f.provisioning_server, Some(ProvisioningServer::Ipv4(_))) => {
                trace.note(|| "IPv4 provisioning server of the flow decision: [dhcpv6] provisioning_server used".to_string());
                d6.provisioning_server.as_ref().and_then(prov_server_v6)
            }
            None => {
                if f.provisioning_server.is_some() {
                    // An IPv4 (or empty) server cannot go in sub-option 3.
                    self.svc
                        .counters
                        .hook_fallback("flow-select", "unusable_value");
                    warn!(duid = %hex_colon(&self.dev.duid), account = %self.dev.account_id, server = ?f.provisioning_server, "flow decision's provisioning server not usable in CCCv6; configured one used");
                }
                d6.provisioning_server.as_ref().and_then(prov_server_v6)
            }
        };
        CccV6 {
            primary: Some(dss),
            provisioning_server: server,
            realm: Some(realm),
            ..CccV6::default()
        }
    }

    /// A binding's commit, with the device's new auto-provisioned account
    /// in the same batch: an account is persisted together with the first
    /// binding that needs it, never for a mere SOLICIT (issue 21).
    fn with_account(&mut self, mut commit: Vec<Mutation>) -> Vec<Mutation> {
        if commit.is_empty() {
            return commit;
        }
        if let Some(a) = self.new_account.take() {
            if let Some(m) = self
                .svc
                .accounts
                .adopt(a, &self.svc.counters, Family::Dhcpv6)
            {
                commit.insert(0, m);
            }
        }
        commit
    }

    fn build(
        &self,
        mtype: MessageType,
        ias: &[IaOut],
        status: Option<(Status, &str)>,
        rapid: bool,
        extras: &[u8],
    ) -> Result<Vec<u8>, &'static str> {
        if self.svc.timeline.get().is_some() {
            self.sent.replace(Some(sent_detail(mtype, ias, status)));
        }
        let mut b = Builder::message(mtype, self.msg.transaction_id);
        let r: Result<(), headend_wire::dhcpv6::EncodeError> = (|| {
            b.server_id(&self.svc.server_duid)?;
            if !self.dev.duid.is_empty() {
                b.client_id(&self.dev.duid)?;
            }
            for ia in ias {
                let body = |ib: &mut Builder| {
                    for (k, p, v) in &ia.entries {
                        match ia.kind {
                            Lease6Kind::Na => {
                                ib.ia_addr(k.address, *p, *v)?;
                            }
                            Lease6Kind::Pd => {
                                ib.ia_prefix(k.address, k.prefix_len, *p, *v)?;
                            }
                        }
                    }
                    if let Some((s, m)) = ia.status {
                        ib.status_code(s, m)?;
                    }
                    Ok(())
                };
                match ia.kind {
                    Lease6Kind::Na => b.ia_na(ia.iaid, ia.t1, ia.t2, body)?,
                    Lease6Kind::Pd => b.ia_pd(ia.iaid, ia.t1, ia.t2, body)?,
                };
            }
            if let Some((s, m)) = status {
                b.status_code(s, m)?;
            }
            if rapid {
                b.rapid_commit()?;
            }
            b.raw(extras);
            Ok(())
        })();
        r.map_err(|_| "encode_failed")?;
        self.relayed
            .wrap_reply(&b.finish())
            .map_err(|_| "encode_failed")
    }

    fn reply(&self, packet: Vec<u8>, commit: Vec<Mutation>, durable: bool) -> Outcome6 {
        Outcome6::Reply {
            packet,
            to: self.source,
            commit,
            durable,
        }
    }

    fn solicit(&mut self, trace: &mut Trace) -> Outcome6 {
        let ias = match self.client_ias() {
            Ok(v) => v,
            Err(r) => return Outcome6::Drop(r),
        };
        // Rapid Commit only where policy allows and never for an eUE
        // (seed 000 eUE-1).
        let pkinds = |k: Lease6Kind| match k {
            Lease6Kind::Na => Pool6Kind::Na,
            Lease6Kind::Pd => Pool6Kind::Pd,
        };
        let rapid = self.dev.rapid_commit
            && !self.dev.is_eue
            && !ias.is_empty()
            && ias.iter().all(|(k, _, _)| {
                let pools = self
                    .d6
                    .pools_for(self.dev.link, pkinds(*k))
                    .collect::<Vec<_>>();
                !pools.is_empty() && pools.iter().all(|p| p.rapid_commit)
            });
        if self.dev.rapid_commit && !rapid {
            trace.note(|| "Rapid Commit not allowed here: answering with ADVERTISE".into());
        }
        let mut outs = Vec::new();
        let mut recs = Vec::new();
        for (kind, iaid, wanted) in &ias {
            let (o, r) = self.assign(*kind, *iaid, wanted, rapid, trace);
            outs.push(o);
            recs.extend(r);
        }
        let extras = self.extras_for(&outs, trace);
        let none_assigned = !outs.is_empty() && outs.iter().all(|o| o.entries.is_empty());
        let status = none_assigned.then_some((Status::NoAddrsAvail, "no addresses available"));
        if rapid && !recs.is_empty() {
            return self.bind_reply(outs, recs, extras, true);
        }
        let packet = match self.build(MessageType::Advertise, &outs, status, false, &extras) {
            Ok(p) => p,
            Err(r) => return Outcome6::Drop(r),
        };
        {
            let mut a = self.svc.advertised.lock();
            if a.len() < MAX_ADVERTISED || a.contains_key(&self.dev.duid) {
                a.insert(
                    self.dev.duid.clone(),
                    Advertised {
                        extras,
                        until: self.now + u64::from(self.d6.advertise_hold),
                    },
                );
            }
        }
        self.svc.count(Event::Advertise);
        self.reply(packet, Vec::new(), false)
    }

    /// The name option 39 of `extras` carries, to record with the lease,
    /// and its flags (the server's decision).
    fn fqdn_of(&self, extras: &[u8]) -> Option<(String, u8)> {
        let o = headend_wire::dhcpv6::Options::parse(extras, 0).ok()?;
        let f = o.client_fqdn().ok()??;
        f.domain_name().ok().map(|(n, _)| (n, f.flags))
    }

    /// The REPLY that binds `recs` (a REQUEST, RENEW or REBIND, or a
    /// SOLICIT answered with Rapid Commit), sent once they are durable.
    fn bind_reply(
        &mut self,
        outs: Vec<IaOut>,
        recs: Vec<Lease6>,
        extras: Vec<u8>,
        rapid: bool,
    ) -> Outcome6 {
        let (fqdn, flags) = self.fqdn_of(&extras).unzip();
        let recs: Vec<Lease6> = recs
            .into_iter()
            .map(|mut r| {
                r.fqdn = fqdn.clone();
                r
            })
            .collect();
        // Dynamic DNS (issue 17): the adds ride in the bindings' batch.
        let dns = match flags {
            Some(f) if self.svc.ddns.get().is_some_and(|l| l.attached()) => {
                let server = self
                    .compose(Space::Server, &mut Trace::disabled())
                    .control()
                    .ddns_server;
                self.svc.ddns_adds(self.snap, &recs, f, server)
            }
            _ => Vec::new(),
        };
        let commit: Vec<Mutation> = recs
            .into_iter()
            .map(Mutation::PutLease6)
            .chain(dns)
            .collect();
        let commit = self.with_account(commit);
        let durable = !commit.is_empty();
        match self.build(MessageType::Reply, &outs, None, rapid, &extras) {
            Ok(p) => {
                self.svc.count(Event::Reply);
                if rapid {
                    self.svc.count(Event::RapidCommit);
                }
                self.reply(p, commit, durable)
            }
            Err(r) => Outcome6::Drop(r),
        }
    }

    fn request(&mut self, trace: &mut Trace) -> Outcome6 {
        let ias = match self.client_ias() {
            Ok(v) => v,
            Err(r) => return Outcome6::Drop(r),
        };
        let mut outs = Vec::new();
        let mut recs = Vec::new();
        for (kind, iaid, wanted) in &ias {
            let (o, r) = self.assign(*kind, *iaid, wanted, true, trace);
            outs.push(o);
            recs.extend(r);
        }
        if let (Some(memo), Some(mac)) = (self.svc.device_memo.get(), self.dev.mac.as_ref()) {
            if !self.ctx.device.family.is_empty() && mac.len() == 6 {
                memo.remember(&hex_colon(mac), &self.ctx.device);
            }
        }
        let remembered = self.svc.advertised.lock().remove(&self.dev.duid);
        let extras = match remembered {
            Some(a) => {
                trace.note(|| {
                    "REPLY carries the options of the ADVERTISE (seed 000 eUE-4 / CM4v6)".into()
                });
                a.extras
            }
            None => self.extras_for(&outs, trace),
        };
        self.bind_reply(outs, recs, extras, false)
    }

    fn renew(&mut self, mtype: MessageType, trace: &mut Trace) -> Outcome6 {
        let ias = match self.client_ias() {
            Ok(v) => v,
            Err(r) => return Outcome6::Drop(r),
        };
        let mut outs = Vec::new();
        let mut recs = Vec::new();
        for (kind, iaid, sent) in &ias {
            let ia = self.ia_key(*kind, *iaid);
            let has = {
                let t = self.svc.leases.lock();
                t.of_ia(&ia)
                    .iter()
                    .any(|l| l.state == LeaseState::Active && l.is_current(self.now))
            };
            if !has && mtype == MessageType::Renew {
                // RFC 8415 §18.3.4.
                outs.push(IaOut {
                    kind: *kind,
                    iaid: *iaid,
                    t1: 0,
                    t2: 0,
                    entries: Vec::new(),
                    status: Some((Status::NoBinding, "no binding for this IA")),
                });
                continue;
            }
            // The binding is extended in place: same address on renewal
            // (seed 000 section 6.3.6); whatever else the client listed is
            // returned with zero lifetimes.
            let (mut o, r) = self.assign(*kind, *iaid, sent, true, trace);
            for k in sent {
                if !o.entries.iter().any(|(e, _, _)| e == k) {
                    o.entries.push((*k, 0, 0));
                }
            }
            outs.push(o);
            recs.extend(r);
        }
        let extras = self.extras_for(&outs, trace);
        self.bind_reply(outs, recs, extras, false)
    }

    fn confirm(&mut self, trace: &mut Trace) -> Outcome6 {
        let ias = match self.client_ias() {
            Ok(v) => v,
            Err(r) => return Outcome6::Drop(r),
        };
        let addrs: Vec<Lease6Key> = ias
            .iter()
            .filter(|(k, _, _)| *k == Lease6Kind::Na)
            .flat_map(|(_, _, a)| a.iter().copied())
            .collect();
        if addrs.is_empty() {
            return Outcome6::Silent("confirm_without_addresses");
        }
        let on_link = addrs.iter().all(|a| {
            self.d6
                .pools_for(self.dev.link, Pool6Kind::Na)
                .any(|p| p.prefix.contains(&a.address))
        });
        let status = if on_link {
            (Status::Success, "all addresses on link")
        } else {
            (Status::NotOnLink, "an address is not on this link")
        };
        trace.note(|| format!("CONFIRM: {}", status.1));
        match self.build(MessageType::Reply, &[], Some(status), false, &[]) {
            Ok(p) => {
                self.svc.count(Event::Reply);
                self.reply(p, Vec::new(), false)
            }
            Err(r) => Outcome6::Drop(r),
        }
    }

    fn release(&mut self, trace: &mut Trace) -> Outcome6 {
        self.give_back(false, trace)
    }

    fn decline(&mut self, trace: &mut Trace) -> Outcome6 {
        self.give_back(true, trace)
    }

    /// RELEASE and DECLINE (RFC 8415 §18.3.7, §18.3.8): per IA, the listed
    /// resources of this client are released or quarantined; others get NoBinding.
    fn give_back(&mut self, declined: bool, trace: &mut Trace) -> Outcome6 {
        let ias = match self.client_ias() {
            Ok(v) => v,
            Err(r) => return Outcome6::Drop(r),
        };
        let mut outs = Vec::new();
        let mut commit = Vec::new();
        {
            let mut t = self.svc.leases.lock();
            for (kind, iaid, keys) in &ias {
                let ia = self.ia_key(*kind, *iaid);
                let mut all = true;
                for k in keys {
                    let r = if declined {
                        t.decline(k, &ia, self.now, self.d6.decline_hold)
                    } else {
                        t.release(k, &ia, self.now)
                    };
                    match r {
                        Some(rec) => {
                            if declined {
                                warn!(address = %k.address, device = %self.dev.account_id, quarantine = self.d6.decline_hold, "client declined the address (duplicate on the link): quarantined");
                                self.svc.count(Event::Decline);
                            } else {
                                self.svc.count(Event::Release);
                            }
                            trace.note(|| {
                                format!(
                                    "{} {}",
                                    if declined { "declined" } else { "released" },
                                    k.address
                                )
                            });
                            commit.push(Mutation::PutLease6(rec));
                        }
                        None => all = false,
                    }
                }
                if !all || keys.is_empty() {
                    outs.push(IaOut {
                        kind: *kind,
                        iaid: *iaid,
                        t1: 0,
                        t2: 0,
                        entries: Vec::new(),
                        status: Some((Status::NoBinding, "no binding for this IA")),
                    });
                }
            }
        }
        let what = if declined {
            "decline received"
        } else {
            "release received"
        };
        match self.build(
            MessageType::Reply,
            &outs,
            Some((Status::Success, what)),
            false,
            &[],
        ) {
            Ok(p) => {
                self.svc.count(Event::Reply);
                let c = self.with_account(commit);
                self.reply(p, c, false)
            }
            Err(r) => Outcome6::Drop(r),
        }
    }

    fn information(&mut self, trace: &mut Trace) -> Outcome6 {
        if self.msg.options.ia_nas().next().is_some() || self.msg.options.ia_pds().next().is_some()
        {
            return Outcome6::Drop("ia_in_information_request");
        }
        let extras = self.extras(trace);
        match self.build(MessageType::Reply, &[], None, false, &extras) {
            Ok(p) => {
                self.svc.count(Event::Reply);
                self.reply(p, Vec::new(), false)
            }
            Err(r) => Outcome6::Drop(r),
        }
    }
}
