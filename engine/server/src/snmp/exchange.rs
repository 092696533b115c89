//! The PacketCable Hybrid-flow provisioning exchange (seed 000 Table 6,
//! eUE-15 … eUE-19 and eUE-25; protocol-notes 12.1/12.2) as a sans-IO state
//! machine: one [`Endpoint`] per SNMP listener socket takes datagrams with
//! [`Endpoint::handle`] and timer expiries with [`Endpoint::handle_timeout`]
//! (when [`Endpoint::poll_timeout`] has passed) and returns the datagrams
//! to send. Nothing here touches a socket or reads a clock.
//!
//! Per enrollment:
//! 1. eUE-15: the enrollment InformRequest (any of the three MIB families)
//!    is authenticated (community, or USM through `headend_snmp`), answered
//!    with a Response echoing its request-id and varbinds, and the eUE is
//!    identified: its source address through the device registry gives the
//!    [`EueIdentity`] DHCP handed over (MAC, IP, FQDN, correlation id), and
//!    the INFORM's MAC and correlation id must agree with it.
//! 2. eUE-16/17 (optional): one GET of the configured objects (and
//!    pktcMtaDevHttpAccess when the URL scheme is "auto").
//! 3. eUE-18: the file is generated and pinned ([`Provisioner::prepare`]).
//! 4. eUE-19: one SET (config-file URL, hash, key when encrypted) in the
//!    INFORM's MIB family, retransmitted with exponential backoff; the
//!    Response, an error-status or "no SET response after N tries" ends it.
//! 5. eUE-25: the status INFORM is answered, recorded and handed on.
//!
//! A retransmitted INFORM (same peer, same request-id) is answered again
//! and starts nothing; state is bounded (`max_enrollments`, finished
//! exchanges lingering only to absorb retransmissions).
//!
//! It lives in the server, not in `headend-snmp`, because every step is
//! about headend's devices (leases, config files, timeline); the codec
//! crate stays a plain SNMP library.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use headend_snmp::pdu::error_status;
use headend_snmp::{
    CommunityMessage, LocalEngine, Message, Oid, Pdu, PduType, ScopedPdu, SecurityContext, Value,
    VarBind, Version,
};

use crate::counters::{Counters, Event, Family};
use crate::shared::DeviceContext;

/// The 3-tuple the DHCP server hands the provisioning server (pkt-eue-7:
/// eUE MAC, IP, FQDN), with the correlation id of the DHCP exchange and the
/// device as DHCP classified it. Built from the lease and the device memo.
#[derive(Debug, Clone)]
pub struct EueIdentity {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The leased address the INFORM came from.
    pub ip: IpAddr,
    /// The FQDN DHCP assigned, when it did.
    pub fqdn: Option<String>,
    /// Option 43.32 / 17.2172 from the DHCP exchange, when the device sent one.
    pub correlation_id: Option<u32>,
    /// The device (plugin view, expression context, account).
    pub device: DeviceContext,
}

impl EueIdentity {
    /// The identity of the device DHCP leased `ip` to.
    pub fn from_device(ip: IpAddr, device: DeviceContext) -> EueIdentity {
        EueIdentity {
            mac: device.device.mac.clone(),
            ip,
            fqdn: device.fqdn.clone(),
            correlation_id: device.ctx.device.correlation_id,
            device,
        }
    }
}

/// The three MIB families of protocol-notes 12.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MibFamily {
    /// PKTC-MTA-MIB, 1.3.6.1.4.1.4491.2.2.1.
    CableLabs,
    /// PKTC-IETF-MTA-MIB (RFC 4682), 1.3.6.1.2.1.140.
    Ietf,
    /// EuroPacketCable, 1.3.6.1.4.1.7432.1.
    Euro,
}

/// What a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notification {
    /// pktcMtaDevProvisioningEnrollment.
    Enrollment(MibFamily),
    /// pktcMtaDevProvisioningStatus.
    Status(MibFamily),
    /// A management event (RFC 5428 pktcEventNotification, pktcDevEvInform/Trap).
    Event,
    /// Anything else.
    Other,
}

fn oid(arcs: &[u32]) -> Oid {
    Oid(arcs.to_vec())
}

const CL: [u32; 9] = [1, 3, 6, 1, 4, 1, 4491, 2, 2];
const IETF: [u32; 7] = [1, 3, 6, 1, 2, 1, 140];
const EURO: [u32; 8] = [1, 3, 6, 1, 4, 1, 7432, 1];

impl MibFamily {
    fn root(self) -> Oid {
        match self {
            MibFamily::CableLabs => oid(&CL).child(&[1]),
            MibFamily::Ietf => oid(&IETF),
            MibFamily::Euro => oid(&EURO),
        }
    }

    /// Classifies a snmpTrapOID.0 value.
    pub fn classify(trap: &Oid) -> Notification {
        for f in [MibFamily::CableLabs, MibFamily::Ietf, MibFamily::Euro] {
            if *trap == f.root().child(&[2, 0, 1]) && f != MibFamily::Ietf
                || f == MibFamily::Ietf && *trap == f.root().child(&[0, 1])
            {
                return Notification::Enrollment(f);
            }
            if *trap == f.root().child(&[2, 0, 2]) && f != MibFamily::Ietf
                || f == MibFamily::Ietf && *trap == f.root().child(&[0, 2])
            {
                return Notification::Status(f);
            }
        }
        let ev_ietf = oid(&[1, 3, 6, 1, 2, 1, 182, 0]);
        let ev_cl = oid(&CL).child(&[3, 6, 0]);
        if trap.starts_with(&ev_ietf) || trap.starts_with(&ev_cl) {
            return Notification::Event;
        }
        Notification::Other
    }

    /// pktcMtaDevConfigFile.0.
    pub fn config_file(self) -> Oid {
        match self {
            MibFamily::CableLabs => oid(&CL).child(&[1, 1, 2, 5, 0]),
            MibFamily::Ietf => oid(&IETF).child(&[1, 2, 9, 0]),
            MibFamily::Euro => oid(&EURO).child(&[1, 2, 7, 0]),
        }
    }

    /// pktcMtaDevProvConfigHash.0.
    pub fn config_hash(self) -> Oid {
        match self {
            MibFamily::CableLabs => oid(&CL).child(&[1, 1, 2, 7, 0]),
            MibFamily::Ietf => oid(&IETF).child(&[1, 2, 11, 0]),
            MibFamily::Euro => oid(&EURO).child(&[1, 2, 9, 0]),
        }
    }

    /// pktcMtaDevProvConfigKey.0 (the Euro MIB has none known: CableLabs').
    pub fn config_key(self) -> Oid {
        match self {
            MibFamily::Ietf => oid(&IETF).child(&[1, 2, 12, 0]),
            _ => oid(&CL).child(&[1, 1, 2, 8, 0]),
        }
    }

    /// pktcMtaDevHttpAccess.0.
    pub fn http_access(self) -> Oid {
        match self {
            MibFamily::Ietf => oid(&IETF).child(&[1, 1, 9, 0]),
            _ => oid(&CL).child(&[1, 1, 1, 10, 0]),
        }
    }

    fn mac_object(self) -> Oid {
        match self {
            // ifPhysAddress (of ifIndex 1).
            MibFamily::Ietf => oid(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 6]),
            _ => oid(&CL).child(&[1, 1, 1, 4]),
        }
    }

    fn correlation_object(self) -> Oid {
        match self {
            MibFamily::Ietf => oid(&IETF).child(&[1, 3, 3]),
            _ => oid(&CL).child(&[1, 1, 3, 4]),
        }
    }

    fn state_object(self) -> Oid {
        match self {
            MibFamily::Ietf => oid(&IETF).child(&[1, 1, 8]),
            _ => oid(&CL).child(&[1, 1, 1, 9]),
        }
    }
}

/// A v2c GET/SET to an eUE's agent under its write community.
fn agent_message(pdu: Pdu, community: &[u8]) -> Vec<u8> {
    CommunityMessage {
        version: Version::V2c,
        community: community.to_vec(),
        pdu,
    }
    .encode()
}

/// The name of a pktcMtaDevProvisioningState value.
pub fn state_name(v: i64) -> &'static str {
    match v {
        1 => "pass",
        2 => "inProgress",
        3 => "failConfigFileError",
        4 => "passWithWarnings",
        5 => "passWithIncompleteParsing",
        6 => "failureInternalError",
        7 => "failOtherReason",
        _ => "unknown",
    }
}

/// The notification objects after sysUpTime.0 and snmpTrapOID.0, by OID
/// prefix, else by position (TCL-PROV reads the Euro INFORM by position).
fn find<'a>(pdu: &'a Pdu, object: &Oid, position: usize) -> Option<&'a Value> {
    pdu.varbinds
        .iter()
        .find(|v| v.oid.starts_with(object))
        .or_else(|| pdu.varbinds.get(position))
        .map(|v| &v.value)
}

pub use crate::shared::timeline::Outcome;

/// Which URL the SET names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlScheme {
    /// tftp:// (RFC 3617).
    Tftp,
    /// http://.
    Http,
    /// http:// when the device says pktcMtaDevHttpAccess = true (GET first), else tftp://.
    Auto,
}

/// The file offer for the SET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// pktcMtaDevConfigFile.
    pub url: String,
    /// pktcMtaDevProvConfigHash (SHA-1).
    pub hash: Vec<u8>,
    /// pktcMtaDevProvConfigKey, only when the file is encrypted.
    pub key: Option<Vec<u8>>,
}

/// What the exchange asks of the server around it.
pub trait Provisioner {
    /// The device DHCP leased `addr` to.
    fn identify(&self, addr: IpAddr) -> Option<EueIdentity>;
    /// eUE-18: generates and pins the file; the URL under `http` or TFTP.
    fn prepare(
        &self,
        id: &EueIdentity,
        inputs: &[(String, String)],
        http: bool,
    ) -> Result<Prepared, String>;
    /// Records a step (`step` is N of "eUE-N") against the device.
    fn record(&self, mac: &str, step: u8, outcome: Outcome, detail: String);
    /// eUE-25 and management notifications: hands the event on.
    fn event(&self, id: Option<&EueIdentity>, peer: IpAddr, event_id: u32, text: String);
}

/// The exchange's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Communities accepted on v1/v2c notifications.
    pub communities: Vec<Vec<u8>>,
    /// The write community of the eUE agents (GET and SET).
    pub agent_community: Vec<u8>,
    /// The eUE agent's UDP port (161).
    pub agent_port: u16,
    /// Retransmissions after the first GET/SET.
    pub retries: u32,
    /// First retransmission timeout; doubled on each retry.
    pub timeout: Duration,
    /// Enrollments in progress at most (more INFORMs are not answered, so the device retries).
    pub max_enrollments: usize,
    /// Objects GET before the file is generated (eUE-16/17).
    pub capability_oids: Vec<Oid>,
    /// The URL scheme.
    pub scheme: UrlScheme,
    /// How long a finished exchange is kept to absorb retransmitted INFORMs.
    pub linger: Duration,
    /// Communities of the devices of some domains (`[[snmp.domain]]`, file order).
    pub domains: Vec<DomainCommunities>,
}

/// The communities of one domain's devices (`[[snmp.domain]]`): an operator
/// running several fleets (brands, resellers) keeps their secrets apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainCommunities {
    /// The domain.
    pub domain: String,
    /// Notification communities accepted only from this domain's devices.
    pub communities: Vec<Vec<u8>>,
    /// The write community of this domain's eUE agents, instead of the default.
    pub agent_community: Option<Vec<u8>>,
}

impl Settings {
    /// The write community of an eUE's agent: that of the first
    /// `[[snmp.domain]]` the device is in, else the default.
    pub fn agent_community_for(&self, domains: &[String]) -> &[u8] {
        self.domains
            .iter()
            .filter(|d| domains.contains(&d.domain))
            .find_map(|d| d.agent_community.as_deref())
            .unwrap_or(&self.agent_community)
    }

    /// Whether a community is some agent's write community (a Response may carry it).
    fn is_agent_community(&self, c: &[u8]) -> bool {
        c == self.agent_community.as_slice()
            || self
                .domains
                .iter()
                .any(|d| d.agent_community.as_deref() == Some(c))
    }

    /// Who may send notifications under a community: `Some(None)` any
    /// device (a `[snmp] communities` entry), `Some(Some(domains))` only
    /// devices of those domains, `None` nobody.
    fn notification_scope(&self, c: &[u8]) -> Option<Option<Vec<String>>> {
        if self.communities.iter().any(|x| x.as_slice() == c) {
            return Some(None);
        }
        let doms: Vec<String> = self
            .domains
            .iter()
            .filter(|d| d.communities.iter().any(|x| x.as_slice() == c))
            .map(|d| d.domain.clone())
            .collect();
        (!doms.is_empty()).then_some(Some(doms))
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            communities: Vec::new(),
            agent_community: b"private".to_vec(),
            agent_port: 161,
            retries: 2,
            timeout: Duration::from_secs(2),
            max_enrollments: 65_536,
            capability_oids: Vec::new(),
            scheme: UrlScheme::Tftp,
            linger: Duration::from_secs(60),
            domains: Vec::new(),
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub dst: SocketAddr,
    /// What.
    pub bytes: Vec<u8>,
}

/// How to answer a request: its community (with the domains it is
/// restricted to, if any), or its USM context.
#[derive(Debug, Clone)]
enum Reply {
    Community(Version, Vec<u8>, Option<Vec<String>>),
    V3(SecurityContext, Vec<u8>, Vec<u8>),
}

#[derive(Debug)]
enum Phase {
    Getting { request_id: i32, bytes: Vec<u8> },
    Setting { request_id: i32, bytes: Vec<u8> },
    Finished,
}

#[derive(Debug)]
struct Enrollment {
    inform_id: i32,
    id: Option<EueIdentity>,
    mib: MibFamily,
    phase: Phase,
    attempt: u32,
    gen: u64,
    http: bool,
    /// The agent's write community (per domain).
    community: Vec<u8>,
}

/// The provisioning exchanges of one SNMP listener.
pub struct Endpoint {
    settings: Settings,
    engine: Option<Arc<LocalEngine>>,
    started: Instant,
    counters: Arc<Counters>,
    enrollments: HashMap<IpAddr, Enrollment>,
    pending: HashMap<i32, IpAddr>,
    timers: BinaryHeap<Reverse<(Instant, u64, IpAddr)>>,
    next_gen: u64,
    next_request: i32,
    in_progress: usize,
}

impl Endpoint {
    /// An endpoint; `engine` is the SNMPv3 engine (None: v1/v2c only),
    /// `started` the engine's start (snmpEngineTime counts from it),
    /// `request_seed` the first request-id of outgoing GETs/SETs.
    pub fn new(
        settings: Settings,
        engine: Option<Arc<LocalEngine>>,
        started: Instant,
        counters: Arc<Counters>,
        request_seed: i32,
    ) -> Endpoint {
        Endpoint {
            settings,
            engine,
            started,
            counters,
            enrollments: HashMap::new(),
            pending: HashMap::new(),
            timers: BinaryHeap::new(),
            next_gen: 1,
            next_request: request_seed & 0x3fff_ffff,
            in_progress: 0,
        }
    }

    /// Replaces the settings (a reload); exchanges in flight keep going.
    pub fn set_settings(&mut self, s: Settings) {
        self.settings = s;
    }

    /// Replaces the SNMPv3 engine (a reload changed the users).
    pub fn set_engine(&mut self, e: Option<Arc<LocalEngine>>) {
        self.engine = e;
    }

    /// Exchanges tracked (in progress and lingering).
    pub fn tracked(&self) -> usize {
        self.enrollments.len()
    }

    /// Exchanges in progress.
    pub fn in_progress(&self) -> usize {
        self.in_progress
    }

    fn drop_packet(&self, reason: &'static str) {
        self.counters.drop_in(Family::Snmp, reason);
    }

    fn count(&self, e: Event) {
        self.counters.count_in(Family::Snmp, e);
    }

    fn engine_time(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.started).as_secs()).unwrap_or(u32::MAX)
    }

    /// A datagram from `from`.
    pub fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        p: &dyn Provisioner,
    ) -> Vec<Transmit> {
        self.count(Event::Received);
        let mut out = Vec::new();
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(headend_snmp::DecodeError::Version(_)) => {
                self.drop_packet("bad_version");
                return out;
            }
            Err(headend_snmp::DecodeError::PduType(_)) => {
                self.drop_packet("unsupported_pdu");
                return out;
            }
            Err(_) => {
                self.drop_packet("malformed");
                return out;
            }
        };
        let (pdu, reply) = match msg {
            Message::Community(m) => {
                let scope = match m.pdu.kind {
                    PduType::Response | PduType::Report => self
                        .settings
                        .is_agent_community(&m.community)
                        .then_some(None),
                    _ => self.settings.notification_scope(&m.community),
                };
                let Some(scope) = scope else {
                    self.drop_packet("bad_community");
                    return out;
                };
                (m.pdu, Reply::Community(m.version, m.community, scope))
            }
            Message::V3(m) => {
                let Some(engine) = self.engine.clone() else {
                    self.drop_packet("v3_not_configured");
                    return out;
                };
                match engine.receive(&m, datagram, self.engine_time(now)) {
                    Ok(a) => (
                        a.scoped.pdu,
                        Reply::V3(
                            a.security,
                            a.scoped.context_engine_id,
                            a.scoped.context_name,
                        ),
                    ),
                    Err(r) => {
                        self.drop_packet(r.error.label());
                        if let Some(report) = r.report {
                            self.count(Event::ReportSent);
                            out.push(Transmit {
                                dst: from,
                                bytes: report,
                            });
                        }
                        return out;
                    }
                }
            }
        };
        match pdu.kind {
            PduType::Inform | PduType::Trap => {
                self.notification(now, from, pdu, &reply, p, &mut out)
            }
            PduType::Response => {
                let community = match &reply {
                    Reply::Community(_, c, _) => Some(c.as_slice()),
                    Reply::V3(..) => None,
                };
                self.response(now, from, &pdu, community, p, &mut out)
            }
            PduType::Report => self.drop_packet("report_from_agent"),
            _ => self.drop_packet("not_an_agent"),
        }
        out
    }

    fn answer(
        &self,
        now: Instant,
        from: SocketAddr,
        pdu: &Pdu,
        reply: &Reply,
        out: &mut Vec<Transmit>,
    ) {
        if pdu.kind != PduType::Inform {
            return;
        }
        let resp = pdu.response_echo();
        let bytes = match reply {
            Reply::Community(v, c, _) => Some(
                CommunityMessage {
                    version: *v,
                    community: c.clone(),
                    pdu: resp,
                }
                .encode(),
            ),
            Reply::V3(ctx, ceid, cname) => self.engine.as_ref().and_then(|e| {
                e.reply(
                    ctx,
                    &ScopedPdu {
                        context_engine_id: ceid.clone(),
                        context_name: cname.clone(),
                        pdu: resp,
                    },
                    self.engine_time(now),
                )
            }),
        };
        if let Some(bytes) = bytes {
            self.count(Event::InformAnswered);
            out.push(Transmit { dst: from, bytes });
        }
    }

    fn notification(
        &mut self,
        now: Instant,
        from: SocketAddr,
        pdu: Pdu,
        reply: &Reply,
        p: &dyn Provisioner,
        out: &mut Vec<Transmit>,
    ) {
        let trap_oid = oid(&[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0]);
        let Some(Value::Oid(trap)) = pdu.get(&trap_oid).cloned() else {
            self.drop_packet("no_trap_oid");
            return;
        };
        let peer = from.ip();
        if let Reply::Community(_, _, Some(domains)) = reply {
            // A domain's community: only from a device of that domain.
            let id = p.identify(peer);
            let allowed = id
                .as_ref()
                .is_some_and(|i| i.device.device.domains.iter().any(|d| domains.contains(d)));
            if !allowed {
                self.drop_packet("community_not_for_domain");
                if let Some(i) = id {
                    p.record(
                        &i.mac,
                        15,
                        Outcome::Failed,
                        format!(
                            "notification from {peer} under the community of domain(s) {}, which the device is not in; not answered",
                            domains.join(", ")
                        ),
                    );
                }
                return;
            }
        }
        match MibFamily::classify(&trap) {
            Notification::Enrollment(mib) => {
                if let Some(e) = self.enrollments.get(&peer) {
                    if e.inform_id == pdu.request_id {
                        // A retransmission: its Response was lost; answer again, start nothing.
                        self.drop_packet("duplicate_inform");
                        self.answer(now, from, &pdu, reply, out);
                        return;
                    }
                }
                let replacing = self
                    .enrollments
                    .get(&peer)
                    .is_some_and(|e| !matches!(e.phase, Phase::Finished));
                if !replacing && self.in_progress >= self.settings.max_enrollments {
                    // Unanswered: the device retransmits and finds room later.
                    self.drop_packet("busy");
                    return;
                }
                self.answer(now, from, &pdu, reply, out);
                self.enroll(now, peer, mib, &pdu, p, out);
            }
            Notification::Status(mib) => {
                self.answer(now, from, &pdu, reply, out);
                self.count(Event::StatusInform);
                let state = find(&pdu, &mib.state_object(), 4)
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let id = p.identify(peer);
                let mac = id
                    .as_ref()
                    .map(|i| i.mac.clone())
                    .unwrap_or_else(|| peer.to_string());
                let name = state_name(state);
                let ok = matches!(state, 1 | 4 | 5);
                p.record(
                    &mac,
                    25,
                    if ok { Outcome::Ok } else { Outcome::Failed },
                    format!("status INFORM: {name} ({state})"),
                );
                p.event(
                    id.as_ref(),
                    peer,
                    u32::try_from(state).unwrap_or(0),
                    format!("pktcMtaDevProvisioningStatus {name}"),
                );
            }
            Notification::Event | Notification::Other => {
                self.answer(now, from, &pdu, reply, out);
                let id = p.identify(peer);
                let text = pdu
                    .varbinds
                    .iter()
                    .skip(2)
                    .filter_map(|v| v.value.as_bytes())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ");
                let event_id = pdu
                    .varbinds
                    .iter()
                    .skip(2)
                    .find_map(|v| match v.value {
                        Value::Gauge32(n) => Some(n),
                        _ => None,
                    })
                    .unwrap_or(0);
                p.event(
                    id.as_ref(),
                    peer,
                    event_id,
                    format!("SNMP notification {trap}: {text}"),
                );
            }
        }
    }

    fn enroll(
        &mut self,
        now: Instant,
        peer: IpAddr,
        mib: MibFamily,
        pdu: &Pdu,
        p: &dyn Provisioner,
        out: &mut Vec<Transmit>,
    ) {
        self.forget(peer);
        let gen = self.bump_gen();
        let mut e = Enrollment {
            inform_id: pdu.request_id,
            id: None,
            mib,
            phase: Phase::Finished,
            attempt: 0,
            gen,
            http: self.settings.scheme == UrlScheme::Http,
            community: self.settings.agent_community.clone(),
        };
        let inform_mac = find(pdu, &mib.mac_object(), 5)
            .and_then(Value::as_bytes)
            .filter(|b| b.len() == 6)
            .map(hex_colon);
        let inform_corr = find(pdu, &mib.correlation_object(), 6).and_then(Value::as_i64);
        let Some(id) = p.identify(peer) else {
            self.drop_packet("no_lease");
            self.count(Event::EnrollFailed);
            let who = inform_mac.clone().unwrap_or_else(|| peer.to_string());
            p.record(
                &who,
                15,
                Outcome::Failed,
                format!("enrollment INFORM from {peer}: no lease for that address; no SET"),
            );
            self.finish(now, peer, e);
            return;
        };
        if inform_mac.as_deref() != Some(id.mac.as_str()) {
            self.drop_packet("mac_mismatch");
            self.count(Event::EnrollFailed);
            p.record(
                &id.mac,
                15,
                Outcome::Failed,
                format!(
                    "enrollment INFORM from {peer}: MAC {} disagrees with the lease ({}); no SET",
                    inform_mac.as_deref().unwrap_or("absent"),
                    id.mac
                ),
            );
            e.id = Some(id);
            self.finish(now, peer, e);
            return;
        }
        if let (Some(want), Some(got)) = (id.correlation_id, inform_corr) {
            // Integer32 (CableLabs) or Unsigned32 (IETF): compare the 32 bits.
            if i64::from(want) != got && i64::from(want as i32) != got {
                self.drop_packet("correlation_mismatch");
                self.count(Event::EnrollFailed);
                p.record(
                    &id.mac,
                    15,
                    Outcome::Failed,
                    format!("enrollment INFORM: correlation id {got} is not the DHCP exchange's {want}; no SET"),
                );
                e.id = Some(id);
                self.finish(now, peer, e);
                return;
            }
        }
        p.record(
            &id.mac,
            15,
            Outcome::Ok,
            format!(
                "enrollment INFORM ({mib:?} MIB) from {peer}: {} fqdn {} correlation id {}",
                id.mac,
                id.fqdn.as_deref().unwrap_or("-"),
                inform_corr.map_or("-".to_string(), |c| c.to_string())
            ),
        );
        let mut oids = self.settings.capability_oids.clone();
        if self.settings.scheme == UrlScheme::Auto {
            oids.push(mib.http_access());
        }
        e.community = self
            .settings
            .agent_community_for(&id.device.device.domains)
            .to_vec();
        e.id = Some(id);
        self.in_progress += 1;
        if oids.is_empty() {
            self.set(now, peer, e, &[], p, out);
        } else {
            let request_id = self.request_id();
            let get = Pdu::new(
                PduType::Get,
                request_id,
                oids.into_iter()
                    .map(|o| VarBind::new(o, Value::Null))
                    .collect(),
            );
            let bytes = agent_message(get, &e.community);
            if let Some(id) = &e.id {
                p.record(
                    &id.mac,
                    16,
                    Outcome::Pending,
                    format!(
                        "GET of {} objects sent",
                        self.settings.capability_oids.len()
                            + usize::from(self.settings.scheme == UrlScheme::Auto)
                    ),
                );
            }
            self.pending.insert(request_id, peer);
            e.phase = Phase::Getting {
                request_id,
                bytes: bytes.clone(),
            };
            self.send_agent(now, peer, e, bytes, out);
        }
    }

    fn send_agent(
        &mut self,
        now: Instant,
        peer: IpAddr,
        mut e: Enrollment,
        bytes: Vec<u8>,
        out: &mut Vec<Transmit>,
    ) {
        self.count(Event::AgentRequest);
        out.push(Transmit {
            dst: SocketAddr::new(peer, self.settings.agent_port),
            bytes,
        });
        let wait = self
            .settings
            .timeout
            .saturating_mul(1u32.checked_shl(e.attempt.min(16)).unwrap_or(1));
        e.gen = self.bump_gen();
        self.timers.push(Reverse((later(now, wait), e.gen, peer)));
        self.enrollments.insert(peer, e);
    }

    fn set(
        &mut self,
        now: Instant,
        peer: IpAddr,
        mut e: Enrollment,
        inputs: &[(String, String)],
        p: &dyn Provisioner,
        out: &mut Vec<Transmit>,
    ) {
        let Some(id) = e.id.clone() else {
            self.in_progress = self.in_progress.saturating_sub(1);
            self.finish(now, peer, e);
            return;
        };
        let prepared = match p.prepare(&id, inputs, e.http) {
            Ok(x) => x,
            Err(why) => {
                self.count(Event::EnrollFailed);
                self.in_progress = self.in_progress.saturating_sub(1);
                p.record(
                    &id.mac,
                    18,
                    Outcome::Failed,
                    format!("config file not generated: {why}"),
                );
                self.finish(now, peer, e);
                return;
            }
        };
        p.record(
            &id.mac,
            18,
            Outcome::Ok,
            format!(
                "config file {} generated, SHA-1 {}",
                prepared.url,
                hex(&prepared.hash)
            ),
        );
        let mib = e.mib;
        let mut vbs = vec![
            VarBind::new(
                mib.config_file(),
                Value::OctetString(prepared.url.into_bytes()),
            ),
            VarBind::new(mib.config_hash(), Value::OctetString(prepared.hash)),
        ];
        if let Some(k) = prepared.key {
            vbs.push(VarBind::new(mib.config_key(), Value::OctetString(k)));
        }
        let request_id = self.request_id();
        let bytes = agent_message(Pdu::new(PduType::Set, request_id, vbs), &e.community);
        p.record(
            &id.mac,
            19,
            Outcome::Pending,
            format!(
                "SET sent to {}",
                SocketAddr::new(peer, self.settings.agent_port)
            ),
        );
        self.pending.insert(request_id, peer);
        e.attempt = 0;
        e.phase = Phase::Setting {
            request_id,
            bytes: bytes.clone(),
        };
        self.send_agent(now, peer, e, bytes, out);
    }

    fn response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        pdu: &Pdu,
        community: Option<&[u8]>,
        p: &dyn Provisioner,
        out: &mut Vec<Transmit>,
    ) {
        let Some(&peer) = self.pending.get(&pdu.request_id) else {
            self.drop_packet("unexpected_response");
            return;
        };
        if peer != from.ip() {
            self.drop_packet("response_from_other_address");
            return;
        }
        // Another domain's agent community is not this agent's.
        if let (Some(c), Some(e)) = (community, self.enrollments.get(&peer)) {
            if c != e.community.as_slice() {
                self.drop_packet("bad_community");
                return;
            }
        }
        self.pending.remove(&pdu.request_id);
        let Some(mut e) = self.enrollments.remove(&peer) else {
            return;
        };
        let mac = e.id.as_ref().map(|i| i.mac.clone()).unwrap_or_default();
        match std::mem::replace(&mut e.phase, Phase::Finished) {
            Phase::Getting { .. } => {
                let mut inputs = Vec::new();
                if pdu.error_status == 0 {
                    for vb in &pdu.varbinds {
                        if vb.oid == e.mib.http_access() {
                            e.http = vb.value == Value::Integer(1);
                            continue;
                        }
                        inputs.push((vb.oid.to_string(), value_text(&vb.value)));
                    }
                    p.record(
                        &mac,
                        17,
                        Outcome::Ok,
                        format!(
                            "GET response: {}",
                            inputs
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    );
                } else {
                    p.record(
                        &mac,
                        17,
                        Outcome::Failed,
                        format!(
                            "GET response: {}; going on without",
                            error_status::name(pdu.error_status)
                        ),
                    );
                }
                e.attempt = 0;
                self.set(now, peer, e, &inputs, p, out);
            }
            Phase::Setting { .. } => {
                if pdu.error_status == error_status::NO_ERROR {
                    self.count(Event::Enrolled);
                    p.record(
                        &mac,
                        19,
                        Outcome::Ok,
                        format!("SET acknowledged after {} tries", e.attempt + 1),
                    );
                } else {
                    self.count(Event::EnrollFailed);
                    p.record(
                        &mac,
                        19,
                        Outcome::Failed,
                        format!(
                            "SET refused: {} ({}) at varbind {}",
                            error_status::name(pdu.error_status),
                            pdu.error_status,
                            pdu.error_index
                        ),
                    );
                }
                self.in_progress = self.in_progress.saturating_sub(1);
                self.finish(now, peer, e);
            }
            Phase::Finished => {
                self.enrollments.insert(peer, e);
            }
        }
    }

    fn finish(&mut self, now: Instant, peer: IpAddr, mut e: Enrollment) {
        e.phase = Phase::Finished;
        e.gen = self.bump_gen();
        self.timers
            .push(Reverse((later(now, self.settings.linger), e.gen, peer)));
        self.enrollments.insert(peer, e);
    }

    fn forget(&mut self, peer: IpAddr) {
        if let Some(old) = self.enrollments.remove(&peer) {
            match old.phase {
                Phase::Getting { request_id, .. } | Phase::Setting { request_id, .. } => {
                    self.pending.remove(&request_id);
                    self.in_progress = self.in_progress.saturating_sub(1);
                }
                Phase::Finished => {}
            }
        }
    }

    fn bump_gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    fn request_id(&mut self) -> i32 {
        self.next_request = (self.next_request + 1) & 0x3fff_ffff;
        self.next_request
    }

    /// When [`Endpoint::handle_timeout`] is next due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Stale entries (superseded generations) are skipped lazily.
        while let Some(Reverse((at, gen, peer))) = self.timers.peek().copied() {
            if self.enrollments.get(&peer).is_some_and(|e| e.gen == gen) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Retransmits, gives up or forgets what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, p: &dyn Provisioner) -> Vec<Transmit> {
        let mut out = Vec::new();
        while let Some(Reverse((at, gen, peer))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(e) = self.enrollments.get(&peer) else {
                continue;
            };
            if e.gen != gen {
                continue;
            }
            let Some(mut e) = self.enrollments.remove(&peer) else {
                continue;
            };
            let mac = e.id.as_ref().map(|i| i.mac.clone()).unwrap_or_default();
            match std::mem::replace(&mut e.phase, Phase::Finished) {
                Phase::Finished => {} // lingered long enough: forgotten
                Phase::Getting { request_id, bytes } => {
                    if e.attempt < self.settings.retries {
                        e.attempt += 1;
                        e.phase = Phase::Getting {
                            request_id,
                            bytes: bytes.clone(),
                        };
                        self.send_agent(now, peer, e, bytes, &mut out);
                    } else {
                        self.pending.remove(&request_id);
                        p.record(
                            &mac,
                            17,
                            Outcome::Failed,
                            format!(
                                "no GET response after {} tries; going on without",
                                e.attempt + 1
                            ),
                        );
                        e.attempt = 0;
                        self.set(now, peer, e, &[], p, &mut out);
                    }
                }
                Phase::Setting { request_id, bytes } => {
                    if e.attempt < self.settings.retries {
                        e.attempt += 1;
                        e.phase = Phase::Setting {
                            request_id,
                            bytes: bytes.clone(),
                        };
                        self.send_agent(now, peer, e, bytes, &mut out);
                    } else {
                        self.pending.remove(&request_id);
                        self.count(Event::EnrollFailed);
                        self.in_progress = self.in_progress.saturating_sub(1);
                        p.record(
                            &mac,
                            19,
                            Outcome::Failed,
                            format!("no SET response after {} tries", e.attempt + 1),
                        );
                        self.finish(now, peer, e);
                    }
                }
            }
        }
        out
    }
}

fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d.min(Duration::from_secs(86_400)))
        .unwrap_or(t)
}

fn hex_colon(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    headend_store::hex(b)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::OctetString(b) if b.iter().all(|c| (0x20..0x7f).contains(c)) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Value::OctetString(b) | Value::Opaque(b) => hex(b),
        Value::Oid(o) => o.to_string(),
        Value::IpAddress(a) => std::net::Ipv4Addr::from(*a).to_string(),
        other => other
            .as_i64()
            .map_or_else(|| format!("{other:?}"), |n| n.to_string()),
    }
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
