//! The DHCPv6 client of a simulated device behind its CMTS relay agent
//! (RFC 8415 §18 SOLICIT/ADVERTISE/REQUEST/REPLY, §9 Relay-Forward; RFC
//! 8357 relay source port), sans-IO: an eUE (PKT-SP-EUE-PROV Table 6
//! eUE-1 … eUE-4), an eCM (Table 3) or a plain CPE.
//!
//! The SOLICIT carries what Table 6 eUE-1 lists: DUID-LL, IA_NA, ORO,
//! vendor class `pktc2.0`, the CableLabs options (CL ORO asking for
//! CCCv6, TFTP/syslog/time servers, config file name; device id;
//! correlation id) and client FQDN; the relay adds its interface-id and
//! 17.1026 (the eCM's MAC). The device checks each ADVERTISE as eUE-3 says
//! and each REPLY as eUE-4 says (REPLY ⊇ ADVERTISE).

use std::net::{Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use std::net::Ipv4Addr;

use headend_wire::cablelabs::{
    ClVendorOptionsV6, DssId, IpPref, ProvisioningFlow, ProvisioningServerV6,
};
use headend_wire::dhcpv6::code;
use headend_wire::dhcpv6::{Message, MessageType};

use crate::check::{Rule, Violations};
use crate::outbox::{Chan, Outbox};
use crate::retry::Retry;
use crate::rng::Rng;

const CL: u32 = 4491;

/// Which device the client is, and so what it checks.
#[derive(Debug, Clone)]
pub enum Role6 {
    /// An eUE: Table 6 eUE-3/eUE-4; the DSS_IDs its eCM was given.
    Eue(Vec<Vec<u8>>),
    /// An eCM: Table 3 (IP_PREF with the eUE options, Table 4 values).
    Ecm,
    /// A CPE: RFC 8415 only.
    Cpe,
}

impl Role6 {
    fn step(&self) -> &'static str {
        match self {
            Role6::Eue(_) => "eUE DHCPv6 (eUE-1..4)",
            Role6::Ecm => "eCM DHCPv6 (Table 3)",
            Role6::Cpe => "CPE DHCPv6",
        }
    }
}

/// What an eUE puts in every DHCPv6 message, shared by all eUEs.
#[derive(Debug, Clone)]
pub struct Profile6 {
    /// The vendor class item (option 16, enterprise 4491).
    pub vendor_class: Vec<u8>,
    /// CableLabs options (inside 17/4491) every eUE sends, encoded.
    pub cl_options: Vec<u8>,
}

impl Profile6 {
    /// An eCM (Table 3 CM1): vendor class `docsis3.0`; CL ORO asking for the
    /// TFTP, syslog and time servers, the file name, CCC, CCCV6 and IP_PREF.
    pub fn ecm() -> Profile6 {
        let mut cl = Vec::new();
        let oro: Vec<u8> = [32u16, 33, 34, 37, 38, 39, 2170, 2171]
            .iter()
            .flat_map(|c| c.to_be_bytes())
            .collect();
        put(&mut cl, 1, &oro);
        put(&mut cl, 2, b"ECM");
        put(&mut cl, 3, b"ECM:EMTA");
        put(&mut cl, 8, b"001095");
        put(&mut cl, 10, b"headend-sim");
        // TLV 5.38: the eUE is dual-stack capable.
        put(&mut cl, 35, &[38, 1, 1]);
        // CL_OPTION_IP_PREF b'111 (Table 3 CM1).
        put(&mut cl, 39, &[7]);
        Profile6 {
            vendor_class: b"docsis3.0".to_vec(),
            cl_options: cl,
        }
    }

    /// A plain CPE: no vendor options.
    pub fn cpe() -> Profile6 {
        Profile6 {
            vendor_class: Vec::new(),
            cl_options: Vec::new(),
        }
    }
}

impl Default for Profile6 {
    fn default() -> Self {
        let mut cl = Vec::new();
        let put = |b: &mut Vec<u8>, code: u16, v: &[u8]| {
            b.extend_from_slice(&code.to_be_bytes());
            b.extend_from_slice(&(v.len() as u16).to_be_bytes());
            b.extend_from_slice(v);
        };
        let oro: Vec<u8> = [32u16, 33, 34, 37, 38, 39, 2171]
            .iter()
            .flat_map(|c| c.to_be_bytes())
            .collect();
        put(&mut cl, 1, &oro);
        put(&mut cl, 2, b"EDVA");
        put(&mut cl, 3, b"ECM:EMTA");
        put(&mut cl, 4, b"SIM0001");
        put(&mut cl, 5, b"1.0");
        put(&mut cl, 6, b"2.0.1");
        put(&mut cl, 7, b"boot-1");
        put(&mut cl, 8, b"001095");
        put(&mut cl, 9, b"SIM-EUE");
        put(&mut cl, 10, b"headend-sim");
        // TLV 5 capabilities: 5.18 supported flows (secure|hybrid|basic).
        put(&mut cl, 35, &[18, 2, 0, 7]);
        Profile6 {
            vendor_class: b"pktc2.0".to_vec(),
            cl_options: cl,
        }
    }
}

/// Where one eUE's messages go.
#[derive(Debug, Clone, Copy)]
pub struct Link6 {
    /// The eUE's MAC (DUID-LL, device id).
    pub mac: [u8; 6],
    /// The eCM's MAC (17.1026, relay-inserted).
    pub modem: [u8; 6],
    /// The relay socket.
    pub chan: Chan,
    /// The Relay-Forward link-address.
    pub link_address: Ipv6Addr,
    /// The server.
    pub server: SocketAddr,
    /// Add OPTION_RELAY_SOURCE_PORT (RFC 8357).
    pub relay_source_port: bool,
    /// CL_OPTION_CORRELATION_ID (eUEs).
    pub correlation_id: Option<u32>,
    /// The device index: the transaction id.
    pub index: u32,
}

/// The binding and what the REPLY said.
#[derive(Debug, Clone)]
pub struct Bound6 {
    /// The address.
    pub addr: Ipv6Addr,
    /// The flow CCCv6.6 selects.
    pub flow: Option<ProvisioningFlow>,
    /// CCCv6.3 when it is an address.
    pub provisioning_server: Option<Ipv6Addr>,
    /// 17.34, first.
    pub syslog: Option<Ipv6Addr>,
    /// 17.32, first.
    pub tftp: Option<Ipv6Addr>,
    /// 17.33.
    pub file: Option<Vec<u8>>,
    /// 17.37, first.
    pub time: Option<Ipv6Addr>,
    /// CL_OPTION_CCC (2170) sub-options 1/2: an eUE's DHCPv4 servers.
    pub dhcp4_servers: Vec<Ipv4Addr>,
    /// CL_OPTION_CCCV6 sub-options 1/2 (to an eCM): its eUE's DSS_IDs.
    pub dss_ids: Vec<Vec<u8>>,
    /// CL_OPTION_IP_PREF.
    pub ip_pref: Option<IpPref>,
    /// The server's DUID (RENEW goes to it).
    pub server_id: Vec<u8>,
    /// When the binding was made or last renewed.
    pub bound_at: Instant,
    /// IA_NA T1 (0.5 × preferred lifetime when the server said 0).
    pub t1: Duration,
    /// IA_NA T2 (0.8 × preferred lifetime when the server said 0).
    pub t2: Duration,
    /// The address's valid lifetime.
    pub valid: Duration,
}

/// What a reply or timeout did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event6 {
    /// Nothing for the caller.
    None,
    /// REPLY to the REQUEST: bound.
    Bound,
    /// REPLY to a RENEW or REBIND.
    Renewed,
    /// Failed (retries, disabled, refused).
    Failed(&'static str),
}

#[derive(Debug, Clone)]
enum State {
    Soliciting,
    Requesting {
        server_id: Vec<u8>,
        addr: Ipv6Addr,
        advertised: Vec<u32>,
    },
    Bound(Bound6),
    Renewing(Bound6),
    Rebinding(Bound6),
}

/// The DHCPv6 client of one eUE.
#[derive(Debug)]
pub struct Dhcp6Client {
    state: State,
    role: Role6,
    sent: u32,
    started: Instant,
    deadline: Option<Instant>,
    saw_disabled: bool,
    renew: bool,
}

impl Dhcp6Client {
    /// Sends the SOLICIT.
    pub fn start(
        now: Instant,
        link: &Link6,
        profile: &Profile6,
        role: Role6,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Dhcp6Client {
        let mut c = Dhcp6Client {
            state: State::Soliciting,
            role,
            sent: 0,
            started: now,
            deadline: None,
            saw_disabled: false,
            renew: false,
        };
        c.transmit(now, link, profile, retry, rng, out);
        c
    }

    /// The binding, once bound.
    pub fn bound(&self) -> Option<&Bound6> {
        match &self.state {
            State::Bound(b) | State::Renewing(b) | State::Rebinding(b) => Some(b),
            _ => None,
        }
    }

    /// Keep the binding: RENEW at T1, REBIND at T2 (RFC 8415 §18.2.4/5).
    pub fn set_renew(&mut self, on: bool) {
        self.renew = on;
    }

    /// When [`Dhcp6Client::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Retransmits or gives up.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        link: &Link6,
        profile: &Profile6,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Event6 {
        if self.deadline.is_none_or(|d| d > now) {
            return Event6::None;
        }
        self.deadline = None;
        match &self.state {
            State::Bound(b) => {
                let b = b.clone();
                self.state = State::Renewing(b);
                self.sent = 0;
                self.started = now;
                self.transmit(now, link, profile, retry, rng, out);
                return Event6::None;
            }
            State::Renewing(b) | State::Rebinding(b) => {
                let b = b.clone();
                if now >= b.bound_at + b.valid {
                    self.state = State::Soliciting;
                    return Event6::Failed("binding expired");
                }
                if matches!(self.state, State::Renewing(_)) && now >= b.bound_at + b.t2 {
                    self.state = State::Rebinding(b);
                    self.sent = 0;
                }
                self.transmit(now, link, profile, retry, rng, out);
                return Event6::None;
            }
            _ => {}
        }
        // eUE-3: ADVERTISEs collected over the first wait all said
        // "0.0.0.0": the eUE disables itself until reinitialised.
        if self.saw_disabled && matches!(self.state, State::Soliciting) {
            return Event6::Failed("eUE disabled by CCCv6 (0.0.0.0)");
        }
        if self.sent >= retry.attempts {
            return Event6::Failed(match (&self.state, self.saw_disabled) {
                (State::Soliciting, true) => "eUE disabled by CCCv6 (0.0.0.0)",
                (State::Soliciting, false) => "no valid ADVERTISE",
                _ => "no REPLY",
            });
        }
        self.transmit(now, link, profile, retry, rng, out);
        Event6::None
    }

    /// One message from a Relay-Reply (`inner`), matched by transaction id.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        now: Instant,
        inner: &[u8],
        link: &Link6,
        profile: &Profile6,
        retry: &Retry,
        rng: &mut Rng,
        v: &mut Violations,
        out: &mut Outbox,
    ) -> Event6 {
        match Message::parse(inner) {
            Ok(m) => self.handle_message(now, &m, inner, link, profile, retry, rng, v, out),
            Err(_) => {
                let step = self.role.step();
                v.add(
                    Rule::Dhcp6Malformed,
                    &link.mac,
                    step,
                    || "message does not parse".into(),
                    inner,
                );
                Event6::None
            }
        }
    }

    /// [`Dhcp6Client::handle`] for a message the caller has parsed already
    /// (the event loop parses each reply once, to find its device).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_message(
        &mut self,
        now: Instant,
        m: &Message<'_>,
        inner: &[u8],
        link: &Link6,
        profile: &Profile6,
        retry: &Retry,
        rng: &mut Rng,
        v: &mut Violations,
        out: &mut Outbox,
    ) -> Event6 {
        let step = self.role.step();
        let eue = matches!(self.role, Role6::Eue(_));
        if m.transaction_id != link.index & 0xff_ffff {
            return Event6::None;
        }
        // RFC 8415 §16.3/16.10: the client's own DUID must come back.
        let duid = duid_ll(&link.mac);
        if m.options.get(code::CLIENTID) != Some(&duid[..]) {
            v.add(
                Rule::Dhcp6Malformed,
                &link.mac,
                step,
                || "reply without our client DUID".into(),
                inner,
            );
            return Event6::None;
        }
        match (&self.state, m.msg_type) {
            (State::Soliciting, MessageType::Advertise) => {
                let Some(server_id) = m.options.get(code::SERVERID) else {
                    v.add(
                        Rule::Dhcp6Malformed,
                        &link.mac,
                        step,
                        || "ADVERTISE without server DUID".into(),
                        inner,
                    );
                    return Event6::None;
                };
                let Some(addr) = first_address(m) else {
                    // NoAddrsAvail or no IA: keep soliciting (RFC 8415 §18.2.9).
                    return Event6::None;
                };
                match self.eue_valid(m) {
                    Ok(()) => {}
                    Err(Invalid::Disabled) => {
                        self.saw_disabled = true;
                        return Event6::None;
                    }
                    Err(Invalid::Rule(why)) => {
                        v.add(Rule::Eue3Advertise, &link.mac, step, || why.into(), inner);
                        return Event6::None;
                    }
                }
                if matches!(self.role, Role6::Ecm) {
                    check_ecm6(m, inner, &link.mac, step, v);
                }
                self.state = State::Requesting {
                    server_id: server_id.to_vec(),
                    addr,
                    advertised: keys(m),
                };
                self.sent = 0;
                self.started = now;
                self.transmit(now, link, profile, retry, rng, out);
                Event6::None
            }
            (State::Requesting { advertised, .. }, MessageType::Reply) => {
                if let Ok(Some(st)) = m.options.status_code() {
                    if st.status != headend_wire::dhcpv6::code::Status::Success {
                        self.deadline = None;
                        return Event6::Failed("REPLY with an error status");
                    }
                }
                let Some(addr) = first_address(m) else {
                    self.deadline = None;
                    return Event6::Failed("REPLY without an address");
                };
                let have = keys(m);
                let missing: Vec<String> = advertised
                    .iter()
                    .filter(|k| !have.contains(k))
                    .map(|k| key_name(*k))
                    .collect();
                if eue && !missing.is_empty() {
                    v.add(
                        Rule::ReplySupersetAdvertise,
                        &link.mac,
                        step,
                        || format!("REPLY lacks {} of the ADVERTISE", missing.join(", ")),
                        inner,
                    );
                }
                if let Err(Invalid::Rule(why)) = self.eue_valid(m) {
                    v.add(
                        Rule::Eue3Advertise,
                        &link.mac,
                        step,
                        || format!("REPLY: {why}"),
                        inner,
                    );
                    self.deadline = None;
                    return Event6::Failed("REPLY not valid for an eUE");
                }
                if matches!(self.role, Role6::Ecm) {
                    check_ecm6(m, inner, &link.mac, step, v);
                }
                let cl = cl_options(m);
                let ccc = cl.as_ref().and_then(|c| c.cccv6.clone());
                let dss_ids = ccc
                    .iter()
                    .flat_map(|c| [c.primary, c.secondary])
                    .flatten()
                    .map(|d| d.as_bytes().to_vec())
                    .collect();
                let dhcp4_servers = cl
                    .as_ref()
                    .and_then(|c| c.ccc.as_ref())
                    .map(|c| c.primary_dhcp.into_iter().chain(c.secondary_dhcp).collect())
                    .unwrap_or_default();
                let (t1, t2, valid) = ia_times(m);
                let server_id = match &self.state {
                    State::Requesting { server_id, .. } => server_id.clone(),
                    _ => Vec::new(),
                };
                self.state = State::Bound(Bound6 {
                    server_id,
                    bound_at: now,
                    t1,
                    t2,
                    valid,
                    time: cl.as_ref().and_then(|c| c.time_servers.first().copied()),
                    dhcp4_servers,
                    dss_ids,
                    ip_pref: cl.as_ref().and_then(|c| c.ip_pref),
                    addr,
                    flow: ccc.as_ref().and_then(|c| c.flow()),
                    provisioning_server: match ccc.and_then(|c| c.provisioning_server) {
                        Some(ProvisioningServerV6::Ipv6(a)) => a.first().copied(),
                        _ => None,
                    },
                    syslog: cl.as_ref().and_then(|c| c.syslog_servers.first().copied()),
                    tftp: cl.as_ref().and_then(|c| c.tftp_servers.first().copied()),
                    file: cl.and_then(|c| c.config_file_name.map(String::into_bytes)),
                });
                self.deadline = self.renew.then(|| now + t1);
                Event6::Bound
            }
            (State::Renewing(b) | State::Rebinding(b), MessageType::Reply) => {
                let mut b = b.clone();
                if let Ok(Some(st)) = m.options.status_code() {
                    if st.status != code::Status::Success {
                        // RFC 8415 §18.2.10.1: keep trying until T2/expiry.
                        return Event6::None;
                    }
                }
                if first_address(m) != Some(b.addr) {
                    v.add(
                        Rule::Dhcp6Malformed,
                        &link.mac,
                        step,
                        || format!("REPLY to a renewal without the address {}", b.addr),
                        inner,
                    );
                    return Event6::None;
                }
                let (t1, t2, valid) = ia_times(m);
                b.bound_at = now;
                b.t1 = t1;
                b.t2 = t2;
                b.valid = valid;
                if let Some(sid) = m.options.get(code::SERVERID) {
                    b.server_id = sid.to_vec();
                }
                self.state = State::Bound(b);
                self.deadline = self.renew.then(|| now + t1);
                Event6::Renewed
            }
            _ => Event6::None,
        }
    }

    /// Table 6 eUE-3 validity (always valid for the other roles).
    fn eue_valid(&self, m: &Message<'_>) -> Result<(), Invalid> {
        let Role6::Eue(allowed) = &self.role else {
            return Ok(());
        };
        let cl = match m.options.get(code::VENDOR_OPTS) {
            None => return Err(Invalid::Rule("no CableLabs vendor options (17/4491)")),
            Some(v) => match ClVendorOptionsV6::from_option17(v) {
                Ok(Some(c)) => c,
                Ok(None) => return Err(Invalid::Rule("no CableLabs vendor options (17/4491)")),
                Err(_) => return Err(Invalid::Rule("17/4491 does not decode")),
            },
        };
        let Some(c) = cl.cccv6 else {
            return Err(Invalid::Rule("no CL_OPTION_CCCV6"));
        };
        if c.provisioning_disabled() {
            return Err(Invalid::Disabled);
        }
        if !c.valid_for_eue() {
            return Err(Invalid::Rule(
                "CL_OPTION_CCCV6 without sub-options 1, 3 and 6",
            ));
        }
        if c.secondary.is_some() {
            return Err(Invalid::Rule("CL_OPTION_CCCV6 sub-option 2 sent to an eUE"));
        }
        let any = allowed.is_empty() || allowed.iter().any(|d| DssId::new(d).is_any_server());
        if !any
            && !c
                .primary
                .is_some_and(|p| allowed.iter().any(|a| a.as_slice() == p.as_bytes()))
        {
            return Err(Invalid::Rule(
                "CCCV6 sub-option 1 is not a DSS_ID the eCM was given",
            ));
        }
        Ok(())
    }

    fn transmit(
        &mut self,
        now: Instant,
        link: &Link6,
        profile: &Profile6,
        retry: &Retry,
        rng: &mut Rng,
        out: &mut Outbox,
    ) {
        let elapsed = now.saturating_duration_since(self.started).as_millis() / 10;
        let elapsed = u16::try_from(elapsed).unwrap_or(u16::MAX);
        let (mtype, server_id, addr) = match &self.state {
            State::Soliciting => (MessageType::Solicit, None, None),
            State::Requesting {
                server_id, addr, ..
            } => (
                MessageType::Request,
                Some(server_id.as_slice()),
                Some(*addr),
            ),
            State::Renewing(b) => (
                MessageType::Renew,
                Some(b.server_id.as_slice()),
                Some(b.addr),
            ),
            State::Rebinding(b) => (MessageType::Rebind, None, Some(b.addr)),
            State::Bound(_) => return,
        };
        out.push(link.chan, None, link.server, |b| {
            encode_relayed(b, link, profile, mtype, server_id, addr, elapsed)
        });
        let mut wait = retry.timeout(self.sent, rng);
        if let State::Renewing(b) | State::Rebinding(b) = &self.state {
            // Not past T2 while renewing, nor past expiry while rebinding.
            let end = if matches!(self.state, State::Renewing(_)) {
                b.bound_at + b.t2
            } else {
                b.bound_at + b.valid
            };
            wait = wait.min(
                end.saturating_duration_since(now)
                    .max(Duration::from_millis(10)),
            );
        }
        self.deadline = Some(now + wait);
        self.sent += 1;
    }
}

/// Table 3 (CM2/CM3 for DHCPv6) and Table 4 on the eCM's ADVERTISE and
/// REPLY: a server sending CL_OPTION_CCC or CL_OPTION_CCCV6 sends
/// CL_OPTION_IP_PREF too, and its value names a family with servers.
fn check_ecm6(m: &Message<'_>, raw: &[u8], mac: &[u8; 6], step: &'static str, v: &mut Violations) {
    let cl = match m
        .options
        .get(code::VENDOR_OPTS)
        .map(ClVendorOptionsV6::from_option17)
    {
        None | Some(Ok(None)) => return,
        Some(Ok(Some(c))) => c,
        Some(Err(e)) => {
            v.add(
                Rule::Table2Syntax,
                mac,
                step,
                || format!("17/4491: {e}"),
                raw,
            );
            return;
        }
    };
    if (cl.ccc.is_some() || cl.cccv6.is_some()) && cl.ip_pref.is_none() {
        v.add(
            Rule::Table2IpPref,
            mac,
            step,
            || "CL_OPTION_CCC or CL_OPTION_CCCV6 without CL_OPTION_IP_PREF".into(),
            raw,
        );
    }
    if let Some(p) = cl.ip_pref {
        let v4 = cl.ccc.as_ref().is_some_and(|c| c.primary_dhcp.is_some());
        let v6 = cl.cccv6.as_ref().is_some_and(|c| c.primary.is_some());
        if let Some(why) = crate::check::ip_pref_problem(p, v4, v6) {
            v.add(Rule::IpPref, mac, step, || why.into(), raw);
        }
    }
}

enum Invalid {
    Disabled,
    Rule(&'static str),
}

fn duid_ll(mac: &[u8; 6]) -> [u8; 10] {
    [0, 3, 0, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]
}

/// T1, T2 and the valid lifetime of the first IA_NA's address.
fn ia_times(m: &Message<'_>) -> (Duration, Duration, Duration) {
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    for ia in m.options.ia_nas().flatten() {
        if let Some(a) = ia.addresses().flatten().find(|a| a.valid_lifetime > 0) {
            let pref = secs(a.preferred_lifetime);
            let t1 = if ia.t1 == 0 { pref / 2 } else { secs(ia.t1) };
            let t2 = if ia.t2 == 0 {
                pref * 4 / 5
            } else {
                secs(ia.t2)
            };
            return (t1, t2.max(t1), secs(a.valid_lifetime));
        }
    }
    (
        Duration::from_secs(1800),
        Duration::from_secs(2880),
        Duration::from_secs(3600),
    )
}

fn first_address(m: &Message<'_>) -> Option<Ipv6Addr> {
    for ia in m.options.ia_nas().flatten() {
        if ia
            .status_code()
            .ok()
            .flatten()
            .is_some_and(|s| s.status != code::Status::Success)
        {
            continue;
        }
        if let Some(a) = ia.addresses().flatten().find(|a| a.valid_lifetime > 0) {
            return Some(a.addr);
        }
    }
    None
}

fn cl_options(m: &Message<'_>) -> Option<ClVendorOptionsV6> {
    ClVendorOptionsV6::from_option17(m.options.get(code::VENDOR_OPTS)?)
        .ok()
        .flatten()
}

/// Option keys for REPLY ⊇ ADVERTISE: top-level codes, CableLabs
/// sub-option codes (tagged 1 << 16), CCCv6 sub-option codes (2 << 16).
fn keys(m: &Message<'_>) -> Vec<u32> {
    let mut k: Vec<u32> = m
        .options
        .iter()
        .map(|(c, _)| u32::from(c))
        // The IA's contents and status are per exchange; compare options.
        .filter(|c| *c != u32::from(code::STATUS_CODE))
        .collect();
    if let Some(v) = m.options.get(code::VENDOR_OPTS) {
        if let Ok(vo) = headend_wire::dhcpv6::VendorOpts::parse(v) {
            if vo.enterprise == CL {
                for (c, val) in vo.options.iter() {
                    k.push((1 << 16) | u32::from(c));
                    if c == 2171 {
                        if let Ok(subs) = headend_wire::dhcpv6::Options::parse(val, 2171) {
                            k.extend(subs.iter().map(|(s, _)| (2 << 16) | u32::from(s)));
                        }
                    }
                }
            }
        }
    }
    k.sort_unstable();
    k.dedup();
    k
}

fn key_name(k: u32) -> String {
    match k >> 16 {
        0 => format!("option {k}"),
        1 => format!("17.{}", k & 0xffff),
        _ => format!("CCCv6.{}", k & 0xffff),
    }
}

fn put(b: &mut Vec<u8>, code: u16, v: &[u8]) {
    b.extend_from_slice(&code.to_be_bytes());
    b.extend_from_slice(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
    b.extend_from_slice(v);
}

/// Patches the length of the option whose header starts at `at`.
fn close(b: &mut [u8], at: usize) {
    let len = u16::try_from(b.len() - at - 4)
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    if let Some(dst) = b.get_mut(at + 2..at + 4) {
        dst.copy_from_slice(&len);
    }
}

fn open(b: &mut Vec<u8>, code: u16) -> usize {
    let at = b.len();
    b.extend_from_slice(&code.to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    at
}

/// The Relay-Forward carrying the eUE's message.
fn encode_relayed(
    b: &mut Vec<u8>,
    link: &Link6,
    profile: &Profile6,
    mtype: MessageType,
    server_id: Option<&[u8]>,
    addr: Option<Ipv6Addr>,
    elapsed: u16,
) {
    b.push(12); // RELAY-FORW
    b.push(0);
    b.extend_from_slice(&link.link_address.octets());
    // peer-address: the eUE's link-local address (EUI-64 of its MAC).
    let m = link.mac;
    let peer = Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 2, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    );
    b.extend_from_slice(&peer.octets());
    let mut iface = *b"cmts/\0\0";
    let n = match link.chan {
        Chan::Relay6(n) => n,
        _ => 0,
    };
    iface[5..].copy_from_slice(&n.to_be_bytes());
    put(b, code::INTERFACE_ID, &iface);
    let msg = open(b, code::RELAY_MSG);
    b.push(u8::from(mtype));
    b.extend_from_slice(&(link.index & 0xff_ffff).to_be_bytes()[1..]);
    put(b, code::CLIENTID, &duid_ll(&link.mac));
    if let Some(s) = server_id {
        put(b, code::SERVERID, s);
    }
    let ia = open(b, code::IA_NA);
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    if let Some(a) = addr {
        let at = open(b, code::IAADDR);
        b.extend_from_slice(&a.octets());
        b.extend_from_slice(&[0; 8]);
        close(b, at);
    }
    close(b, ia);
    put(b, code::ORO, &[0, 23, 0, 24, 0, 17, 0, 39]);
    put(b, code::ELAPSED_TIME, &elapsed.to_be_bytes());
    if !profile.vendor_class.is_empty() {
        let vc = open(b, code::VENDOR_CLASS);
        b.extend_from_slice(&CL.to_be_bytes());
        let n = u16::try_from(profile.vendor_class.len()).unwrap_or(0);
        b.extend_from_slice(&n.to_be_bytes());
        b.extend_from_slice(&profile.vendor_class);
        close(b, vc);
    }
    if !profile.cl_options.is_empty() {
        let vo = open(b, code::VENDOR_OPTS);
        b.extend_from_slice(&CL.to_be_bytes());
        b.extend_from_slice(&profile.cl_options);
        put(b, 36, &link.mac);
        if let Some(c) = link.correlation_id {
            put(b, 2172, &c.to_be_bytes());
        }
        close(b, vo);
    }
    // Client FQDN (RFC 4704): S=1, the server updates DNS.
    put(b, code::CLIENT_FQDN, &[1]);
    close(b, msg);
    let cm = open(b, code::VENDOR_OPTS);
    b.extend_from_slice(&CL.to_be_bytes());
    put(b, 1026, &link.modem);
    close(b, cm);
    if link.relay_source_port {
        put(b, code::RELAY_SOURCE_PORT, &[0, 0]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use headend_wire::cablelabs::{CccV6, ProvisioningServerV6};
    use headend_wire::dhcpv6::{Builder, RelayMessage};

    fn link() -> Link6 {
        Link6 {
            mac: [0, 0x10, 0x95, 0xe, 0, 1],
            modem: [0, 0x10, 0x95, 0xe, 0, 0],
            chan: Chan::Relay6(0),
            link_address: "2001:db8:100::1".parse().unwrap(),
            server: "[::1]:547".parse().unwrap(),
            relay_source_port: true,
            correlation_id: Some(7),
            index: 5,
        }
    }

    fn cccv6(realm: &str, dss: &[u8]) -> CccV6 {
        CccV6::for_eue(
            DssId::new(dss),
            ProvisioningServerV6::Ipv6(vec!["::1".parse().unwrap()]),
            realm,
        )
    }

    fn reply(req: &[u8], t: MessageType, ccc: Option<CccV6>, extra_cl: bool) -> Vec<u8> {
        let relay = RelayMessage::parse(req).unwrap();
        let m = Message::parse(relay.relay_msg()).unwrap();
        let mut b = Builder::message(t, m.transaction_id);
        b.client_id(m.options.get(code::CLIENTID).unwrap()).unwrap();
        b.server_id(&[0, 3, 0, 1, 1, 2, 3, 4, 5, 6]).unwrap();
        b.ia_na(1, 100, 200, |ia| {
            ia.ia_addr("2001:db8:2::9".parse().unwrap(), 300, 400)?;
            Ok(())
        })
        .unwrap();
        let mut cl = ClVendorOptionsV6 {
            cccv6: ccc,
            ..Default::default()
        };
        if extra_cl {
            cl.tftp_servers = vec!["::1".parse().unwrap()];
            cl.config_file_name = Some("x.bin".into());
        }
        b.option(code::VENDOR_OPTS, &cl.encode_option17().unwrap())
            .unwrap();
        b.finish()
    }

    #[test]
    fn sarr_with_eue3_and_eue4_checks() {
        let mut now = Instant::now();
        let l = link();
        let retry = Retry::default();
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let mut v = Violations::new(8);
        let mut c = Dhcp6Client::start(
            now,
            &l,
            &Profile6::default(),
            Role6::Eue(vec![b"lab".to_vec()]),
            &retry,
            &mut rng,
            &mut out,
        );
        let sol = out.payload(&out.items()[0]).to_vec();
        let relay = RelayMessage::parse(&sol).unwrap();
        assert_eq!(relay.link_address, l.link_address);
        assert_eq!(relay.interface_id().map(|i| &i[..5]), Some(&b"cmts/"[..]));
        assert!(relay.options.contains(code::RELAY_SOURCE_PORT));
        let inner = Message::parse(relay.relay_msg()).unwrap();
        assert_eq!(inner.msg_type, MessageType::Solicit);
        assert_eq!(inner.transaction_id, 5);
        let cl = ClVendorOptionsV6::from_option17(inner.options.get(code::VENDOR_OPTS).unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(cl.correlation_id, Some(7));
        assert_eq!(cl.device_id, Some(l.mac));
        assert!(cl.oro.contains(&2171));

        // An ADVERTISE from a DSS_ID the eCM was not given is invalid (eUE-3).
        let bad = reply(
            &sol,
            MessageType::Advertise,
            Some(cccv6("HYBRID.2", b"other")),
            false,
        );
        assert_eq!(
            c.handle(
                now,
                &bad,
                &l,
                &Profile6::default(),
                &retry,
                &mut rng,
                &mut v,
                &mut out
            ),
            Event6::None
        );
        assert_eq!(v.samples()[0].rule, Rule::Eue3Advertise);
        assert_eq!(out.len(), 1);
        let adv = reply(
            &sol,
            MessageType::Advertise,
            Some(cccv6("HYBRID.2", b"lab")),
            true,
        );
        assert_eq!(
            c.handle(
                now,
                &adv,
                &l,
                &Profile6::default(),
                &retry,
                &mut rng,
                &mut v,
                &mut out
            ),
            Event6::None
        );
        let req = out.payload(&out.items()[1]).to_vec();
        let r = RelayMessage::parse(&req).unwrap();
        let inner = Message::parse(r.relay_msg()).unwrap();
        assert_eq!(inner.msg_type, MessageType::Request);
        assert!(inner.options.get(code::SERVERID).is_some());
        // A REPLY without 17.32/17.33 of the ADVERTISE breaks eUE-4.
        now += std::time::Duration::from_millis(5);
        let rep = reply(
            &req,
            MessageType::Reply,
            Some(cccv6("HYBRID.2", b"lab")),
            false,
        );
        assert_eq!(
            c.handle(
                now,
                &rep,
                &l,
                &Profile6::default(),
                &retry,
                &mut rng,
                &mut v,
                &mut out
            ),
            Event6::Bound
        );
        assert_eq!(v.samples()[1].rule, Rule::ReplySupersetAdvertise);
        assert!(
            v.samples()[1].detail.contains("17.32"),
            "{}",
            v.samples()[1].detail
        );
        let b = c.bound().unwrap();
        assert_eq!(b.addr, "2001:db8:2::9".parse::<Ipv6Addr>().unwrap());
        assert_eq!(b.flow, Some(ProvisioningFlow::Hybrid(2)));
        assert_eq!(b.provisioning_server, Some(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn disabled_server_and_silence_fail() {
        let mut now = Instant::now();
        let l = link();
        let retry = Retry {
            initial: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(1),
            attempts: 2,
            jitter: std::time::Duration::ZERO,
        };
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let mut v = Violations::new(8);
        let mut c = Dhcp6Client::start(
            now,
            &l,
            &Profile6::default(),
            Role6::Eue(vec![]),
            &retry,
            &mut rng,
            &mut out,
        );
        let sol = out.payload(&out.items()[0]).to_vec();
        let disabled = CccV6::disabled(DssId::new(b"lab"), "BASIC.1");
        let adv = reply(&sol, MessageType::Advertise, Some(disabled), false);
        assert_eq!(
            c.handle(
                now,
                &adv,
                &l,
                &Profile6::default(),
                &retry,
                &mut rng,
                &mut v,
                &mut out
            ),
            Event6::None
        );
        // eUE-3: only "0.0.0.0" after the first wait: disabled at once.
        now += std::time::Duration::from_secs(1);
        assert_eq!(
            c.handle_timeout(now, &l, &Profile6::default(), &retry, &mut rng, &mut out),
            Event6::Failed("eUE disabled by CCCv6 (0.0.0.0)")
        );
        assert_eq!(v.total(), 0);
        // Silence: the retries run out.
        let p = Profile6::default();
        let mut c = Dhcp6Client::start(now, &l, &p, Role6::Eue(vec![]), &retry, &mut rng, &mut out);
        now += std::time::Duration::from_secs(1);
        assert_eq!(
            c.handle_timeout(now, &l, &p, &retry, &mut rng, &mut out),
            Event6::None
        );
        now += std::time::Duration::from_secs(1);
        assert_eq!(
            c.handle_timeout(now, &l, &p, &retry, &mut rng, &mut out),
            Event6::Failed("no valid ADVERTISE")
        );
    }

    #[test]
    fn an_ecm_checks_table3_and_learns_its_eues_servers() {
        let now = Instant::now();
        let mut l = link();
        l.correlation_id = None;
        let retry = Retry::default();
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let mut v = Violations::new(8);
        let p = Profile6::ecm();
        let mut c = Dhcp6Client::start(now, &l, &p, Role6::Ecm, &retry, &mut rng, &mut out);
        let sol = out.payload(&out.items()[0]).to_vec();
        let relay = RelayMessage::parse(&sol).unwrap();
        let inner = Message::parse(relay.relay_msg()).unwrap();
        let cl = ClVendorOptionsV6::from_option17(inner.options.get(code::VENDOR_OPTS).unwrap())
            .unwrap()
            .unwrap();
        assert!(cl.oro.contains(&2170) && cl.oro.contains(&2171) && cl.oro.contains(&39));
        assert_eq!(cl.ip_pref, Some(IpPref::DualStackCapable));
        assert_eq!(cl.correlation_id, None);
        // CCCV6 naming the eUE's DSS_ID, without IP_PREF: Table 3 broken.
        let ccc = CccV6 {
            primary: Some(DssId::new(b"lab")),
            ..CccV6::default()
        };
        let adv = reply(&sol, MessageType::Advertise, Some(ccc.clone()), true);
        assert_eq!(
            c.handle(now, &adv, &l, &p, &retry, &mut rng, &mut v, &mut out),
            Event6::None
        );
        assert_eq!(v.samples()[0].rule, Rule::Table2IpPref);
        assert_eq!(v.samples()[0].step, "eCM DHCPv6 (Table 3)");
        let req = out.payload(&out.items()[1]).to_vec();
        let rep = reply(&req, MessageType::Reply, Some(ccc), true);
        assert_eq!(
            c.handle(now, &rep, &l, &p, &retry, &mut rng, &mut v, &mut out),
            Event6::Bound
        );
        let b = c.bound().unwrap();
        assert_eq!(b.dss_ids, vec![b"lab".to_vec()]);
        assert_eq!(b.tftp, Some(Ipv6Addr::LOCALHOST));
        assert_eq!(b.file.as_deref(), Some(&b"x.bin"[..]));
    }

    #[test]
    fn renew_at_t1_rebind_at_t2_and_expiry() {
        let mut now = Instant::now();
        let l = link();
        let p = Profile6::default();
        let retry = Retry {
            initial: std::time::Duration::from_secs(10),
            max: std::time::Duration::from_secs(40),
            attempts: 100,
            jitter: std::time::Duration::ZERO,
        };
        let mut rng = Rng::new(1);
        let mut out = Outbox::new();
        let mut v = Violations::new(8);
        let mut c = Dhcp6Client::start(now, &l, &p, Role6::Eue(vec![]), &retry, &mut rng, &mut out);
        c.set_renew(true);
        let last = |o: &Outbox| o.payload(o.items().last().unwrap()).to_vec();
        let inner_of = |d: &[u8]| RelayMessage::parse(d).unwrap().relay_msg().to_vec();
        let adv = reply(
            &last(&out),
            MessageType::Advertise,
            Some(cccv6("BASIC.1", b"lab")),
            true,
        );
        c.handle(now, &adv, &l, &p, &retry, &mut rng, &mut v, &mut out);
        let rep = reply(
            &last(&out),
            MessageType::Reply,
            Some(cccv6("BASIC.1", b"lab")),
            true,
        );
        assert_eq!(
            c.handle(now, &rep, &l, &p, &retry, &mut rng, &mut v, &mut out),
            Event6::Bound
        );
        // The reply's IA_NA: T1 100 s, T2 200 s, valid 400 s.
        assert_eq!(
            c.poll_timeout(),
            Some(now + std::time::Duration::from_secs(100))
        );
        now += std::time::Duration::from_secs(100);
        c.handle_timeout(now, &l, &p, &retry, &mut rng, &mut out);
        let renew = last(&out);
        let m = inner_of(&renew);
        let m = Message::parse(&m).unwrap();
        assert_eq!(m.msg_type, MessageType::Renew);
        assert!(m.options.get(code::SERVERID).is_some());
        let rep = reply(
            &renew,
            MessageType::Reply,
            Some(cccv6("BASIC.1", b"lab")),
            true,
        );
        assert_eq!(
            c.handle(now, &rep, &l, &p, &retry, &mut rng, &mut v, &mut out),
            Event6::Renewed
        );
        assert_eq!(
            c.poll_timeout(),
            Some(now + std::time::Duration::from_secs(100))
        );
        // Silence from here: RENEW until T2, then REBIND without a server DUID, then expiry.
        let t0 = now;
        let mut kinds = vec![];
        loop {
            now = c.poll_timeout().unwrap();
            match c.handle_timeout(now, &l, &p, &retry, &mut rng, &mut out) {
                Event6::None => {
                    let m = inner_of(&last(&out));
                    let m = Message::parse(&m).unwrap();
                    kinds.push((m.msg_type, m.options.get(code::SERVERID).is_some()));
                }
                ev => {
                    assert_eq!(ev, Event6::Failed("binding expired"));
                    break;
                }
            }
        }
        assert_eq!(now - t0, std::time::Duration::from_secs(400));
        assert_eq!(kinds.first(), Some(&(MessageType::Renew, true)));
        assert!(kinds.contains(&(MessageType::Rebind, false)));
        assert!(kinds
            .iter()
            .skip_while(|k| k.0 == MessageType::Renew)
            .all(|k| *k == (MessageType::Rebind, false)));
        assert_eq!(v.total(), 0);
    }
}
