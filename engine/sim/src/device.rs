//! One simulated device and its provisioning flow, step by step: a DOCSIS
//! cable modem (CM1–CM4 DHCPv4, ToD, config file by TFTP with MIC check),
//! a PacketCable 2.0 E-UE (the same eCM steps, then the eUE over DHCPv4 or
//! DHCPv6 as Table 4 of PKT-SP-EUE-PROV says, then its Basic or Hybrid
//! flow), or a CPE behind a modem (DORA with option 82.2 = the modem's MAC).
//!
//! A device owns the protocol clients of its current step and moves on
//! when one finishes; every method takes the caller's clock, so the flows
//! run the same on a virtual clock in tests as on the wall clock.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use headend_wire::cablelabs::{Ccc, ClVendorOptions, IpPref, ProvisioningFlow, ProvisioningServer};
use headend_wire::dhcpv4::{code, Packet};

use crate::check::{Rule, Violations};
use crate::dhcp4::{Dhcp4Client, Event4, Link4};
use crate::dhcp6::{Bound6, Dhcp6Client, Event6, Link6, Profile6, Role6};
use crate::hybrid::{Hybrid, HybridEvent};
use crate::outbox::{Chan, Outbox, Service};
use crate::plan::Plan;
use crate::report::Stats;
use crate::rng::Rng;
use crate::tftp::{TftpClient, TftpEvent};
use crate::tod::{TodClient, TodEvent};

/// The kinds of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A DOCSIS cable modem.
    Cm = 0,
    /// A PacketCable 2.0 E-UE (eCM + eUE).
    Eue = 1,
    /// Customer equipment behind a modem.
    Cpe = 2,
}

impl Kind {
    /// Number of kinds.
    pub const COUNT: usize = 3;
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Cm, Kind::Eue, Kind::Cpe];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cm => "CM",
            Kind::Eue => "E-UE",
            Kind::Cpe => "CPE",
        }
    }
}

/// The steps of the flows, named after the specs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// eCM/CM DHCPv4, CM1–CM4 (Table 2).
    EcmDhcp4 = 0,
    /// eCM/CM DHCPv6 (Table 3).
    EcmDhcp6,
    /// eCM/CM time of day (RFC 868).
    EcmTod,
    /// eCM/CM configuration file by TFTP, MICs checked.
    EcmConfig,
    /// eUE DHCPv4 (PKT-PROV1.5 MTA1–MTA4).
    EueDhcp4,
    /// eUE DHCPv6, eUE-1 … eUE-4 (Table 6).
    EueDhcp6,
    /// Hybrid eUE-15: the enrollment INFORM acknowledged.
    EueInform,
    /// Hybrid eUE-19: the SET with the file URL and hash received.
    EueSet,
    /// eUE-22/23 (or Basic): the eUE configuration file, hash checked.
    EueConfig,
    /// eUE-24: the syslog notification sent.
    EueSyslog,
    /// eUE-25: the status INFORM acknowledged.
    EueStatus,
    /// CPE DHCPv4 behind the modem.
    CpeDhcp4,
    /// CPE DHCPv6 behind the modem.
    CpeDhcp6,
}

impl Step {
    /// Every step, in flow order.
    pub const ALL: [Step; 13] = [
        Step::EcmDhcp4,
        Step::EcmDhcp6,
        Step::EcmTod,
        Step::EcmConfig,
        Step::EueDhcp4,
        Step::EueDhcp6,
        Step::EueInform,
        Step::EueSet,
        Step::EueConfig,
        Step::EueSyslog,
        Step::EueStatus,
        Step::CpeDhcp4,
        Step::CpeDhcp6,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::EcmDhcp4 => "eCM DHCPv4 (CM1-CM4)",
            Step::EcmTod => "eCM ToD",
            Step::EcmConfig => "eCM config file",
            Step::EueDhcp4 => "eUE DHCPv4",
            Step::EueDhcp6 => "eUE DHCPv6 (eUE-1..4)",
            Step::EueInform => "eUE-15 enrollment INFORM",
            Step::EueSet => "eUE-19 SET",
            Step::EueConfig => "eUE config file (eUE-22/23)",
            Step::EueSyslog => "eUE-24 syslog",
            Step::EueStatus => "eUE-25 status INFORM",
            Step::CpeDhcp4 => "CPE DHCPv4",
            Step::CpeDhcp6 => "CPE DHCPv6",
            Step::EcmDhcp6 => "eCM DHCPv6 (Table 3)",
        }
    }
}

/// What happened to a device, for the event loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing the loop must act on.
    None,
    /// A modem came online: its CPE may start.
    Online,
    /// The device finished its flow (and holds its leases if renewing).
    Completed,
    /// The device gave up.
    Failed,
}

/// Shared state the devices work with.
pub struct Ctx<'a> {
    /// The storm's settings.
    pub plan: &'a Plan,
    /// Datagrams to send.
    pub out: &'a mut Outbox,
    /// Violations found.
    pub v: &'a mut Violations,
    /// Measurements.
    pub stats: &'a mut Stats,
    /// Leased address → device, for datagrams to the devices' own sockets.
    pub addrs: &'a mut HashMap<IpAddr, u32>,
    /// The first configuration file a device asked for (server, name): what
    /// the hostile tftp-other mode asks for from strangers' addresses.
    pub seen_file: &'a mut Option<(SocketAddr, Vec<u8>)>,
}

/// The client of the current step.
#[derive(Debug)]
enum Work {
    Idle,
    Tod(TodClient),
    Tftp(Box<TftpClient>),
    Hybrid(Box<Hybrid>),
}

/// What the eCM learned for its eUE (Table 4).
#[derive(Debug, Clone, Default)]
struct EcmGrant {
    /// Option 122 sub-options 1/2: the eUE's DHCPv4 servers.
    dhcp4_servers: Vec<Ipv4Addr>,
    /// CL_V4OPTION_CCCV6 sub-options 1/2: the eUE's DHCPv6 servers.
    dss_ids: Vec<Vec<u8>>,
    /// CL_V4OPTION_IP_PREF.
    ip_pref: Option<IpPref>,
}

/// Where the (e)CM gets its time and file, from its DHCPv4 ACK or DHCPv6
/// REPLY, and the address it sends from.
#[derive(Debug, Clone)]
struct Boot {
    src: IpAddr,
    tftp: Option<IpAddr>,
    file: Option<Vec<u8>>,
    tod: Option<IpAddr>,
}

/// Which DHCPv6 client a device runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who6 {
    Ecm,
    Eue,
    Cpe,
}

impl Who6 {
    /// The step its exchange is.
    fn step(self) -> Step {
        match self {
            Who6::Eue => Step::EueDhcp6,
            Who6::Cpe => Step::CpeDhcp6,
            Who6::Ecm => Step::EcmDhcp6,
        }
    }
}

/// One simulated device.
#[derive(Debug)]
pub struct Device {
    /// Index in the storm (also in every xid).
    pub index: u32,
    /// Kind.
    pub kind: Kind,
    /// Its (e)CM's MAC, or the CPE's own.
    pub mac: [u8; 6],
    /// The modem it sits behind (its own MAC for a modem).
    pub modem: [u8; 6],
    /// The virtual CMTS it is behind.
    pub relay: u16,
    rng: Rng,
    step: Option<Step>,
    step_started: Option<Instant>,
    started: Option<Instant>,
    done: bool,
    dhcp4: Dhcp4Client,
    eue4: Option<Box<Dhcp4Client>>,
    /// The device's own DHCPv6 client (eCM/CM or CPE over DHCPv6).
    own6: Option<Box<Dhcp6Client>>,
    /// The eUE's DHCPv6 client.
    eue6: Option<Box<Dhcp6Client>>,
    ack: Option<Box<[u8]>>,
    boot: Option<Box<Boot>>,
    eue_ack: Option<Box<[u8]>>,
    grant: Option<Box<EcmGrant>>,
    work: Work,
}

/// The eUE's MAC: the eCM's plus one (vendors number the embedded
/// interfaces consecutively).
pub fn eue_mac(mac: &[u8; 6]) -> [u8; 6] {
    let n = u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]) + 1;
    let b = n.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl Device {
    /// A device that has not started.
    pub fn new(
        index: u32,
        kind: Kind,
        mac: [u8; 6],
        modem: [u8; 6],
        relay: u16,
        seed: u64,
    ) -> Device {
        Device {
            index,
            kind,
            mac,
            modem,
            relay,
            rng: Rng::new(seed ^ u64::from(index).wrapping_mul(0x9E37_79B9)),
            step: None,
            step_started: None,
            started: None,
            done: false,
            dhcp4: Dhcp4Client::new(match kind {
                Kind::Cpe => Step::CpeDhcp4.name(),
                _ => Step::EcmDhcp4.name(),
            }),
            eue4: None,
            own6: None,
            eue6: None,
            ack: None,
            boot: None,
            eue_ack: None,
            grant: None,
            work: Work::Idle,
        }
    }

    /// Whether the device has started.
    pub fn started(&self) -> bool {
        self.started.is_some()
    }

    /// Whether the device has finished its flow (either way).
    pub fn finished(&self) -> bool {
        self.done
    }

    /// The step it is in.
    pub fn step(&self) -> Option<Step> {
        self.step
    }

    fn link4(&self, plan: &Plan, eue: bool) -> Link4 {
        let relay = plan.relay4(self.relay);
        Link4 {
            mac: if eue { eue_mac(&self.mac) } else { self.mac },
            chan: Chan::Relay4(self.relay),
            giaddr: relay,
            server: plan.server4,
            remote_id: self.modem,
            circuit: self.relay,
            relay_source_port: plan.relay_source_port,
            correlation_id: eue.then_some(self.index),
            index: self.index,
        }
    }

    /// Who the device's own DHCPv6 client is.
    fn own_who6(&self) -> Who6 {
        if self.kind == Kind::Cpe {
            Who6::Cpe
        } else {
            Who6::Ecm
        }
    }

    fn link6(&self, plan: &Plan, who: Who6) -> Link6 {
        Link6 {
            mac: if who == Who6::Eue {
                eue_mac(&self.mac)
            } else {
                self.mac
            },
            modem: self.modem,
            chan: Chan::Relay6(self.relay),
            link_address: plan.link6(self.relay),
            server: plan.server6,
            relay_source_port: plan.relay_source_port,
            correlation_id: (who == Who6::Eue).then_some(self.index),
            index: self.index,
        }
    }

    fn profile6<'p>(&self, plan: &'p Plan, who: Who6) -> &'p Profile6 {
        match who {
            Who6::Ecm => &plan.ecm6,
            Who6::Eue => &plan.eue6,
            Who6::Cpe => &plan.cpe6,
        }
    }

    /// Starts the flow.
    pub fn start(&mut self, now: Instant, cx: &mut Ctx<'_>) {
        self.started = Some(now);
        cx.stats.started(self.kind);
        let v6 = if self.kind == Kind::Cpe {
            cx.plan.cpe_v6
        } else {
            cx.plan.ecm_v6
        };
        if v6 {
            let (step, role) = if self.kind == Kind::Cpe {
                (Step::CpeDhcp6, Role6::Cpe)
            } else {
                (Step::EcmDhcp6, Role6::Ecm)
            };
            self.enter(now, step);
            let who = self.own_who6();
            let link = self.link6(cx.plan, who);
            let mut c = Box::new(Dhcp6Client::start(
                now,
                &link,
                self.profile6(cx.plan, who),
                role,
                &cx.plan.retry6,
                &mut self.rng,
                cx.out,
            ));
            c.set_renew(cx.plan.renew);
            self.own6 = Some(c);
            return;
        }
        self.enter(
            now,
            if self.kind == Kind::Cpe {
                Step::CpeDhcp4
            } else {
                Step::EcmDhcp4
            },
        );
        let link = self.link4(cx.plan, false);
        let profile = cx.plan.profile4(self.kind);
        self.dhcp4
            .start(now, &link, profile, &cx.plan.retry4, &mut self.rng, cx.out);
    }

    /// When [`Device::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let work = match &self.work {
            Work::Idle => None,
            Work::Tod(c) => c.poll_timeout(),
            Work::Tftp(c) => c.poll_timeout(),
            Work::Hybrid(c) => c.poll_timeout(),
        };
        [
            self.dhcp4.poll_timeout(),
            self.eue4.as_ref().and_then(|c| c.poll_timeout()),
            self.own6.as_ref().and_then(|c| c.poll_timeout()),
            self.eue6.as_ref().and_then(|c| c.poll_timeout()),
            work,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn enter(&mut self, now: Instant, step: Step) {
        self.step = Some(step);
        self.step_started = Some(now);
    }

    fn finish_step(&mut self, now: Instant, cx: &mut Ctx<'_>) {
        if let (Some(step), Some(t)) = (self.step, self.step_started) {
            cx.stats
                .step_done(now, step, now.saturating_duration_since(t));
        }
    }

    fn fail(&mut self, why: &'static str, cx: &mut Ctx<'_>) -> Progress {
        if let Some(step) = self.step {
            cx.stats.step_failed(step, why);
        }
        self.work = Work::Idle;
        if self.done {
            return Progress::None;
        }
        self.done = true;
        cx.stats.device_failed(self.kind);
        Progress::Failed
    }

    fn complete(&mut self, now: Instant, cx: &mut Ctx<'_>) -> Progress {
        self.work = Work::Idle;
        self.step = None;
        self.done = true;
        let took = self
            .started
            .map(|s| now.saturating_duration_since(s))
            .unwrap_or_default();
        cx.stats.device_done(now, self.kind, took);
        Progress::Completed
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, cx: &mut Ctx<'_>) -> Progress {
        let plan = cx.plan;
        if self.dhcp4.poll_timeout().is_some_and(|d| d <= now) {
            let link = self.link4(plan, false);
            let ev = self.dhcp4.handle_timeout(
                now,
                &link,
                plan.profile4(self.kind),
                &plan.retry4,
                &mut self.rng,
                cx.out,
            );
            if let Event4::Failed(why) = ev {
                return self.dhcp4_lost(why, false, cx);
            }
        }
        let link = self.link4(plan, true);
        if let Some(c) = self.eue4.as_mut() {
            if c.poll_timeout().is_some_and(|d| d <= now) {
                if let Event4::Failed(why) =
                    c.handle_timeout(now, &link, &plan.eue4, &plan.retry4, &mut self.rng, cx.out)
                {
                    return self.dhcp4_lost(why, true, cx);
                }
            }
        }
        for who in [Who6::Ecm, Who6::Eue] {
            let own = who == Who6::Ecm;
            let who = if own { self.own_who6() } else { who };
            let link = self.link6(plan, who);
            let profile = self.profile6(plan, who);
            let slot = if own { &mut self.own6 } else { &mut self.eue6 };
            let Some(c) = slot.as_mut() else { continue };
            if c.poll_timeout().is_some_and(|d| d <= now) {
                if let Event6::Failed(why) =
                    c.handle_timeout(now, &link, profile, &plan.retry6, &mut self.rng, cx.out)
                {
                    return self.dhcp_lost(why, who, cx);
                }
            }
        }
        match &mut self.work {
            Work::Idle => Progress::None,
            Work::Tod(c) => match c.handle_timeout(now, &plan.retry_udp, &mut self.rng, cx.out) {
                TodEvent::Failed(why) => {
                    // DOCSIS: a CM without the time still registers (it
                    // keeps asking in the background); counted, not fatal.
                    if let Some(step) = self.step {
                        cx.stats.step_failed(step, why);
                    }
                    self.start_config(now, cx)
                }
                _ => Progress::None,
            },
            Work::Tftp(c) => match c.handle_timeout(now, &plan.retry_udp, &mut self.rng, cx.out) {
                TftpEvent::Failed(why) => self.fail(why, cx),
                _ => Progress::None,
            },
            Work::Hybrid(h) => {
                let ev = h.handle_timeout(now, plan, &mut self.rng, cx.out);
                self.hybrid_event(now, ev, cx)
            }
        }
    }

    /// A DHCPv6 client gave up: the step fails, or, after provisioning, a
    /// binding was lost (renewals failing).
    fn dhcp_lost(&mut self, why: &'static str, who: Who6, cx: &mut Ctx<'_>) -> Progress {
        if self.done {
            cx.stats.step_failed(who.step(), why);
            return Progress::None;
        }
        self.fail(why, cx)
    }

    fn dhcp4_lost(&mut self, why: &'static str, eue: bool, cx: &mut Ctx<'_>) -> Progress {
        if self.done {
            // A lease lost after provisioning (renewals failing).
            let step = if eue {
                Step::EueDhcp4
            } else if self.kind == Kind::Cpe {
                Step::CpeDhcp4
            } else {
                Step::EcmDhcp4
            };
            cx.stats.step_failed(step, why);
            return Progress::None;
        }
        self.fail(why, cx)
    }

    /// A reply on a DHCPv4 relay socket, matched to this device by xid.
    pub fn handle_dhcp4(&mut self, now: Instant, datagram: &[u8], cx: &mut Ctx<'_>) -> Progress {
        let plan = cx.plan;
        // The eUE's replies carry its own MAC in chaddr.
        let eue = datagram
            .get(28..34)
            .is_some_and(|ch| ch == eue_mac(&self.mac))
            && self.eue4.is_some();
        if eue {
            let link = self.link4(plan, true);
            let Some(c) = self.eue4.as_mut() else {
                return Progress::None;
            };
            let ev = c.handle(
                now,
                datagram,
                &link,
                &plan.eue4,
                &plan.retry4,
                &mut self.rng,
                Some(check_eue4),
                plan.renew,
                cx.v,
                cx.out,
            );
            return match ev {
                Event4::Bound => {
                    self.eue_ack = Some(datagram.into());
                    self.eue_bound4(now, cx)
                }
                Event4::Renewed => {
                    cx.stats.renewed();
                    Progress::None
                }
                Event4::Failed(why) => self.dhcp4_lost(why, true, cx),
                Event4::None => Progress::None,
            };
        }
        let link = self.link4(plan, false);
        let checker = match self.kind {
            Kind::Eue => Some(check_ecm4 as crate::dhcp4::Checker),
            _ => None,
        };
        let ev = self.dhcp4.handle(
            now,
            datagram,
            &link,
            plan.profile4(self.kind),
            &plan.retry4,
            &mut self.rng,
            checker,
            plan.renew,
            cx.v,
            cx.out,
        );
        match ev {
            Event4::Bound => {
                self.finish_step(now, cx);
                if self.kind == Kind::Cpe || !plan.full && self.kind == Kind::Cm {
                    let p = self.complete(now, cx);
                    return if self.kind == Kind::Cm {
                        Progress::Online
                    } else {
                        p
                    };
                }
                self.ack = Some(datagram.into());
                if let Some(l) = self.dhcp4.lease() {
                    cx.addrs.insert(IpAddr::V4(l.addr), self.index);
                    self.boot = Some(Box::new(boot_of(datagram, IpAddr::V4(l.addr))));
                }
                if self.kind == Kind::Eue {
                    self.grant = Some(Box::new(grant_of(datagram)));
                }
                if !plan.full {
                    return self.start_eue(now, cx);
                }
                self.start_tod(now, cx)
            }
            Event4::Renewed => {
                cx.stats.renewed();
                Progress::None
            }
            Event4::Failed(why) => self.dhcp4_lost(why, false, cx),
            Event4::None => Progress::None,
        }
    }

    fn start_tod(&mut self, now: Instant, cx: &mut Ctx<'_>) -> Progress {
        let Some((src, server)) = self.boot.as_deref().and_then(|b| Some((b.src, b.tod?))) else {
            return self.start_config(now, cx);
        };
        self.enter(now, Step::EcmTod);
        let dst = SocketAddr::new(server, cx.plan.ports.tod);
        self.work = Work::Tod(TodClient::start(
            now,
            src,
            dst,
            &cx.plan.retry_udp,
            &mut self.rng,
            cx.out,
        ));
        Progress::None
    }

    fn start_config(&mut self, now: Instant, cx: &mut Ctx<'_>) -> Progress {
        let Some((src, server, file)) = self
            .boot
            .as_deref()
            .and_then(|b| Some((b.src, b.tftp?, b.file.clone()?)))
        else {
            self.enter(now, Step::EcmConfig);
            return self.fail("no TFTP server or file from DHCP", cx);
        };
        self.enter(now, Step::EcmConfig);
        let dst = SocketAddr::new(server, cx.plan.ports.tftp);
        if cx.seen_file.is_none() {
            *cx.seen_file = Some((dst, file.clone()));
        }
        self.fetch(now, src, dst, &file, cx)
    }

    /// Enters the step's TFTP transfer of `file` from `server`, sent from `src`.
    fn fetch(
        &mut self,
        now: Instant,
        src: IpAddr,
        server: SocketAddr,
        file: &[u8],
        cx: &mut Ctx<'_>,
    ) -> Progress {
        let step = self.step.map_or("TFTP", Step::name);
        self.work = Work::Tftp(Box::new(TftpClient::start(
            now,
            step,
            src,
            server,
            file,
            cx.plan.blksize,
            &cx.plan.retry_udp,
            &mut self.rng,
            cx.out,
        )));
        Progress::None
    }

    /// A datagram to one of this device's own sockets.
    pub fn handle_host(
        &mut self,
        now: Instant,
        service: Service,
        from: SocketAddr,
        datagram: &[u8],
        cx: &mut Ctx<'_>,
    ) -> Progress {
        let plan = cx.plan;
        let mac = self.mac;
        match (&mut self.work, service) {
            (Work::Tod(c), Service::Tod) => {
                match c.handle(from, datagram, &mac, Step::EcmTod.name(), cx.v) {
                    TodEvent::Time(_) => {
                        self.finish_step(now, cx);
                        self.start_config(now, cx)
                    }
                    _ => Progress::None,
                }
            }
            (Work::Tftp(c), Service::Tftp) => {
                match c.handle(
                    now,
                    from,
                    datagram,
                    &mac,
                    &plan.retry_udp,
                    &mut self.rng,
                    cx.v,
                    cx.out,
                ) {
                    TftpEvent::Done => {
                        let file = c.take_data();
                        self.file_received(now, file, cx)
                    }
                    TftpEvent::Failed(why) => self.fail(why, cx),
                    TftpEvent::None => Progress::None,
                }
            }
            (Work::Hybrid(h), _) => {
                let ev = h.handle(
                    now,
                    service,
                    from,
                    datagram,
                    plan,
                    &mut self.rng,
                    cx.v,
                    cx.out,
                );
                self.hybrid_event(now, ev, cx)
            }
            _ => Progress::None,
        }
    }

    fn file_received(&mut self, now: Instant, file: Vec<u8>, cx: &mut Ctx<'_>) -> Progress {
        match self.step {
            Some(Step::EcmConfig) => {
                if !check_cm_file(&file, cx.plan.cmts_secret.as_deref(), &self.mac, cx.v) {
                    return self.fail("CM MIC does not verify", cx);
                }
                self.finish_step(now, cx);
                if self.kind == Kind::Cm {
                    self.complete(now, cx);
                    return Progress::Online;
                }
                let p = self.start_eue(now, cx);
                if p == Progress::None {
                    Progress::Online
                } else {
                    p
                }
            }
            Some(Step::EueConfig) => {
                // Basic flow: the hash is inside the file (PKT-PROV1.5
                // Basic flow); a bad one fails the device.
                if !check_basic_file(&file, &self.mac, cx.v) {
                    return self.fail("eUE config file hash does not verify", cx);
                }
                self.finish_step(now, cx);
                self.complete(now, cx)
            }
            _ => Progress::None,
        }
    }

    /// Table 4: which family the eUE provisions over, from the eCM's ACK.
    fn start_eue(&mut self, now: Instant, cx: &mut Ctx<'_>) -> Progress {
        if self.kind != Kind::Eue {
            return self.complete(now, cx);
        }
        let g = self.grant.as_deref().cloned().unwrap_or_default();
        let v4_ok = g.dhcp4_servers.iter().any(|a| !a.is_unspecified());
        let v6_ok = g
            .dss_ids
            .iter()
            .any(|d| !d.is_empty() && d.as_slice() != [0u8; 1]);
        let v6 = match g.ip_pref {
            Some(IpPref::Ipv4Only | IpPref::DualStackIpv4) => false,
            Some(IpPref::Ipv6Only | IpPref::DualStackIpv6) => true,
            // No preference: IPv6 when it has DSS_IDs (Table 4).
            _ => v6_ok,
        };
        if !v4_ok && !v6_ok {
            // Neither server: the eUE stays dormant (Table 4, last row).
            return self.fail("eCM got no eUE DHCP servers (eUE dormant)", cx);
        }
        if v6 && v6_ok {
            self.enter(now, Step::EueDhcp6);
            let link = self.link6(cx.plan, Who6::Eue);
            let allowed = g.dss_ids.clone();
            let mut c = Box::new(Dhcp6Client::start(
                now,
                &link,
                &cx.plan.eue6,
                Role6::Eue(allowed),
                &cx.plan.retry6,
                &mut self.rng,
                cx.out,
            ));
            c.set_renew(cx.plan.renew);
            self.eue6 = Some(c);
            return Progress::None;
        }
        self.enter(now, Step::EueDhcp4);
        let link = self.link4(cx.plan, true);
        let mut c = Box::new(Dhcp4Client::new(Step::EueDhcp4.name()));
        c.start(
            now,
            &link,
            &cx.plan.eue4,
            &cx.plan.retry4,
            &mut self.rng,
            cx.out,
        );
        self.eue4 = Some(c);
        Progress::None
    }

    fn eue_bound4(&mut self, now: Instant, cx: &mut Ctx<'_>) -> Progress {
        self.finish_step(now, cx);
        let Some(ack) = self.eue_ack.as_deref() else {
            return self.fail("no DHCPACK kept", cx);
        };
        let Some(addr) = self
            .eue4
            .as_ref()
            .and_then(|c| c.lease())
            .map(|l| IpAddr::V4(l.addr))
        else {
            return self.fail("no lease", cx);
        };
        cx.addrs.insert(addr, self.index);
        if !cx.plan.full {
            return self.complete(now, cx);
        }
        let ccc = Packet::parse(ack)
            .ok()
            .and_then(|p| p.options.get(code::CCC).and_then(|v| Ccc::decode(&v).ok()));
        let flow = ccc.as_ref().and_then(|c| c.flow());
        match flow {
            Some(ProvisioningFlow::Basic(_)) => {
                let Some((server, file)) = boot_source(ack) else {
                    self.enter(now, Step::EueConfig);
                    return self.fail("no TFTP server or file in the DHCPACK", cx);
                };
                self.enter(now, Step::EueConfig);
                let dst = SocketAddr::new(IpAddr::V4(server), cx.plan.ports.tftp);
                self.fetch(now, addr, dst, &file, cx)
            }
            Some(ProvisioningFlow::Hybrid(_)) => {
                let Some(ProvisioningServer::Ipv4(ps)) =
                    ccc.as_ref().and_then(|c| c.provisioning_server.clone())
                else {
                    self.enter(now, Step::EueInform);
                    return self.fail("option 122.3 names no IPv4 provisioning server", cx);
                };
                let syslog = Packet::parse(ack).ok().and_then(|p| {
                    let v = p.options.get(code::LOG_SERVER)?;
                    let b: [u8; 4] = v.get(..4)?.try_into().ok()?;
                    Some(IpAddr::V4(Ipv4Addr::from(b)))
                });
                self.start_hybrid(now, addr, IpAddr::V4(ps), syslog, cx)
            }
            Some(ProvisioningFlow::Secure) => {
                self.enter(now, Step::EueInform);
                self.fail("Secure flow (Kerberos) is not simulated", cx)
            }
            None => {
                self.enter(now, Step::EueInform);
                self.fail("option 122 names no provisioning flow", cx)
            }
        }
    }

    fn start_hybrid(
        &mut self,
        now: Instant,
        addr: IpAddr,
        server: IpAddr,
        syslog: Option<IpAddr>,
        cx: &mut Ctx<'_>,
    ) -> Progress {
        self.enter(now, Step::EueInform);
        let h = Hybrid::start(
            now,
            eue_mac(&self.mac),
            self.index,
            addr,
            server,
            syslog,
            cx.plan,
            &mut self.rng,
            cx.out,
        );
        self.work = Work::Hybrid(Box::new(h));
        Progress::None
    }

    fn hybrid_event(&mut self, now: Instant, ev: HybridEvent, cx: &mut Ctx<'_>) -> Progress {
        match ev {
            HybridEvent::None => Progress::None,
            HybridEvent::StepDone(next) => {
                self.finish_step(now, cx);
                if next == Some(Step::EueStatus) {
                    if let Work::Hybrid(h) = &self.work {
                        if h.syslog_sent() {
                            // Fire and forget: counted when sent.
                            cx.stats
                                .step_done(now, Step::EueSyslog, std::time::Duration::ZERO);
                        }
                    }
                }
                match next {
                    Some(s) => {
                        self.enter(now, s);
                        Progress::None
                    }
                    None => self.complete(now, cx),
                }
            }
            HybridEvent::Failed(why) => self.fail(why, cx),
        }
    }

    /// A reply on a DHCPv6 relay socket, matched by transaction id; the
    /// client DUID tells the eUE's from the device's own.
    pub fn handle_dhcp6(
        &mut self,
        now: Instant,
        m: &headend_wire::dhcpv6::Message<'_>,
        inner: &[u8],
        cx: &mut Ctx<'_>,
    ) -> Progress {
        let plan = cx.plan;
        let e = eue_mac(&self.mac);
        let eue_duid = [0, 3, 0, 1, e[0], e[1], e[2], e[3], e[4], e[5]];
        let is_eue = self.eue6.is_some()
            && m.options.get(headend_wire::dhcpv6::code::CLIENTID) == Some(&eue_duid[..]);
        let who = if is_eue { Who6::Eue } else { self.own_who6() };
        let link = self.link6(plan, who);
        let profile = self.profile6(plan, who);
        let step = who.step();
        let slot = if is_eue {
            &mut self.eue6
        } else {
            &mut self.own6
        };
        let Some(c) = slot.as_mut() else {
            return Progress::None;
        };
        match c.handle_message(
            now,
            m,
            inner,
            &link,
            profile,
            &plan.retry6,
            &mut self.rng,
            cx.v,
            cx.out,
        ) {
            Event6::Renewed => {
                cx.stats.renewed();
                Progress::None
            }
            Event6::Bound => {
                let Some(b) = c.bound().cloned() else {
                    return self.fail("no binding", cx);
                };
                self.finish_step(now, cx);
                let addr = IpAddr::V6(b.addr);
                match step {
                    Step::CpeDhcp6 => return self.complete(now, cx),
                    Step::EcmDhcp6 => return self.ecm_bound6(now, addr, &b, cx),
                    _ => {}
                }
                cx.addrs.insert(addr, self.index);
                if !plan.full {
                    return self.complete(now, cx);
                }
                match b.flow {
                    Some(ProvisioningFlow::Hybrid(_)) => {
                        let (Some(ps), syslog) = (b.provisioning_server, b.syslog) else {
                            self.enter(now, Step::EueInform);
                            return self.fail("CCCv6 names no IPv6 provisioning server", cx);
                        };
                        self.start_hybrid(now, addr, IpAddr::V6(ps), syslog.map(IpAddr::V6), cx)
                    }
                    Some(ProvisioningFlow::Basic(_)) => {
                        let (Some(server), Some(file)) = (b.tftp, b.file.clone()) else {
                            self.enter(now, Step::EueConfig);
                            return self.fail("no TFTP server or file in the REPLY", cx);
                        };
                        self.enter(now, Step::EueConfig);
                        let dst = SocketAddr::new(IpAddr::V6(server), plan.ports.tftp);
                        self.fetch(now, addr, dst, &file, cx)
                    }
                    Some(ProvisioningFlow::Secure) => {
                        self.enter(now, Step::EueInform);
                        self.fail("Secure flow (Kerberos) is not simulated", cx)
                    }
                    None => {
                        self.enter(now, Step::EueInform);
                        self.fail("CCCv6 names no provisioning flow", cx)
                    }
                }
            }
            Event6::Failed(why) => self.dhcp_lost(why, who, cx),
            Event6::None => Progress::None,
        }
    }
}

impl Device {
    /// The eCM's DHCPv6 REPLY (Table 3): what it grants the eUE, where the
    /// time and file are; then as over DHCPv4.
    fn ecm_bound6(&mut self, now: Instant, addr: IpAddr, b: &Bound6, cx: &mut Ctx<'_>) -> Progress {
        self.work = Work::Idle;
        if self.kind == Kind::Cm && !cx.plan.full {
            self.complete(now, cx);
            return Progress::Online;
        }
        cx.addrs.insert(addr, self.index);
        self.boot = Some(Box::new(Boot {
            src: addr,
            tftp: b.tftp.map(IpAddr::V6),
            file: b.file.clone(),
            tod: b.time.map(IpAddr::V6),
        }));
        if self.kind == Kind::Eue {
            self.grant = Some(Box::new(EcmGrant {
                dhcp4_servers: b.dhcp4_servers.clone(),
                dss_ids: b.dss_ids.clone(),
                ip_pref: b.ip_pref,
            }));
        }
        if !cx.plan.full {
            return self.start_eue(now, cx);
        }
        self.start_tod(now, cx)
    }
}

/// What an eCM's DHCPACK says about its boot: siaddr/66 and 67/file for
/// the file, option 4 for the time.
fn boot_of(ack: &[u8], src: IpAddr) -> Boot {
    let source = boot_source(ack);
    let tod = Packet::parse(ack).ok().and_then(|p| {
        let v = p.options.get(code::TIME_SERVER)?;
        let b: [u8; 4] = v.get(..4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(b)))
    });
    Boot {
        src,
        tftp: source.as_ref().map(|(s, _)| IpAddr::V4(*s)),
        file: source.map(|(_, f)| f),
        tod,
    }
}

/// The TFTP server and file of a DHCPACK: siaddr (or option 66 as an
/// address) and option 67 (or the `file` field).
fn boot_source(ack: &[u8]) -> Option<(Ipv4Addr, Vec<u8>)> {
    let p = Packet::parse(ack).ok()?;
    let server = if !p.siaddr.is_unspecified() {
        p.siaddr
    } else {
        let v = p.options.get(code::TFTP_SERVER_NAME)?;
        std::str::from_utf8(&v)
            .ok()?
            .trim_end_matches('\0')
            .parse()
            .ok()?
    };
    let file = p
        .options
        .get(code::BOOTFILE_NAME)
        .map(|v| v.to_vec())
        .or_else(|| p.boot_file().map(|f| f.to_vec()))?;
    let file: Vec<u8> = file.into_iter().take_while(|b| *b != 0).collect();
    (!file.is_empty()).then_some((server, file))
}

/// What the eCM's ACK grants its eUE (option 122.1/2, 125.4491.123/124).
fn grant_of(ack: &[u8]) -> EcmGrant {
    let mut g = EcmGrant::default();
    let Ok(p) = Packet::parse(ack) else { return g };
    if let Some(c) = p.options.get(code::CCC).and_then(|v| Ccc::decode(&v).ok()) {
        g.dhcp4_servers.extend(c.primary_dhcp);
        g.dhcp4_servers.extend(c.secondary_dhcp);
    }
    if let Some(Ok(Some(cl))) = p
        .options
        .get(code::VENDOR_SPECIFIC_VI)
        .map(|v| ClVendorOptions::from_option125(&v))
    {
        g.ip_pref = cl.ip_pref;
        if let Some(c6) = cl.cccv6 {
            g.dss_ids.extend(c6.primary.map(|d| d.as_bytes().to_vec()));
            g.dss_ids
                .extend(c6.secondary.map(|d| d.as_bytes().to_vec()));
        }
    }
    g
}

/// Table 2 CM2/CM3 and Table 4 on the eCM's OFFER and ACK: 122 and 125
/// decode; a server sending either eUE option sends IP_PREF too; IP_PREF
/// is a server value naming a family with servers.
fn check_ecm4(p: &Packet<'_>, raw: &[u8], mac: &[u8; 6], v: &mut Violations) {
    let step = Step::EcmDhcp4.name();
    let ccc = match p.options.get(code::CCC) {
        None => None,
        Some(val) => match Ccc::decode(&val) {
            Ok(c) => Some(c),
            Err(e) => {
                v.add(
                    Rule::Table2Syntax,
                    mac,
                    step,
                    || format!("option 122: {e}"),
                    raw,
                );
                None
            }
        },
    };
    let cl = match p.options.get(code::VENDOR_SPECIFIC_VI) {
        None => None,
        Some(val) => match ClVendorOptions::from_option125(&val) {
            Ok(c) => c,
            Err(e) => {
                v.add(
                    Rule::Table2Syntax,
                    mac,
                    step,
                    || format!("option 125: {e}"),
                    raw,
                );
                None
            }
        },
    };
    let has_cccv6 = cl.as_ref().is_some_and(|c| c.cccv6.is_some());
    let ip_pref = cl.as_ref().and_then(|c| c.ip_pref);
    if (ccc.is_some() || has_cccv6) && ip_pref.is_none() {
        v.add(
            Rule::Table2IpPref,
            mac,
            step,
            || "122 or CL_V4OPTION_CCCV6 without CL_V4OPTION_IP_PREF".into(),
            raw,
        );
    }
    if let Some(pref) = ip_pref {
        let v4 = ccc.as_ref().is_some_and(|c| c.primary_dhcp.is_some());
        let v6 = cl
            .as_ref()
            .and_then(|c| c.cccv6.as_ref())
            .is_some_and(|c| c.primary.is_some());
        let bad = crate::check::ip_pref_problem(pref, v4, v6);
        if let Some(why) = bad {
            v.add(Rule::IpPref, mac, step, || why.into(), raw);
        }
    }
}

/// The eUE's DHCPv4 OFFER/ACK (PKT-PROV1.5 MTA2/MTA4): option 122 decodes
/// and names the provisioning server (sub-option 3) and realm (6).
fn check_eue4(p: &Packet<'_>, raw: &[u8], mac: &[u8; 6], v: &mut Violations) {
    let step = Step::EueDhcp4.name();
    match p.options.get(code::CCC).map(|val| Ccc::decode(&val)) {
        None => v.add(
            Rule::Table2Syntax,
            mac,
            step,
            || "no option 122 for the eUE".into(),
            raw,
        ),
        Some(Err(e)) => v.add(
            Rule::Table2Syntax,
            mac,
            step,
            || format!("option 122: {e}"),
            raw,
        ),
        Some(Ok(c)) => {
            if c.provisioning_server.is_none() || c.realm.is_none() {
                v.add(
                    Rule::Table2Syntax,
                    mac,
                    step,
                    || "option 122 without sub-option 3 or 6".into(),
                    raw,
                );
            }
        }
    }
}

/// The CM MIC (and the CMTS MIC when the secret is known) verify.
fn check_cm_file(file: &[u8], secret: Option<&[u8]>, mac: &[u8; 6], v: &mut Violations) -> bool {
    use headend_config_file::decode::{decode, Check};
    let step = Step::EcmConfig.name();
    match decode(file, secret) {
        Err(e) => {
            v.add(
                Rule::CmMic,
                mac,
                step,
                || format!("CM file does not decode: {e}"),
                &file[..file.len().min(64)],
            );
            false
        }
        Ok(f) => {
            let mut ok = true;
            if f.cm_mic != Check::Verified {
                v.add(
                    Rule::CmMic,
                    mac,
                    step,
                    || format!("CM MIC {:?}", f.cm_mic),
                    &file[..file.len().min(64)],
                );
                ok = false;
            }
            if let Check::Mismatch { .. } | Check::Missing = f.cmts_mic {
                if secret.is_some() {
                    v.add(
                        Rule::CmMic,
                        mac,
                        step,
                        || format!("CMTS MIC {:?}", f.cmts_mic),
                        &file[..file.len().min(64)],
                    );
                    ok = false;
                }
            }
            ok
        }
    }
}

/// Basic flow: the eUE file decodes and its in-file hash verifies.
fn check_basic_file(file: &[u8], mac: &[u8; 6], v: &mut Violations) -> bool {
    use headend_config_file::decode::{decode, Check};
    let step = Step::EueConfig.name();
    match decode(file, None) {
        Ok(f) if f.in_file_hash == Check::Verified => true,
        Ok(f) => {
            v.add(
                Rule::EueHash,
                mac,
                step,
                || format!("in-file hash {:?}", f.in_file_hash),
                &file[..file.len().min(64)],
            );
            false
        }
        Err(e) => {
            v.add(
                Rule::EueHash,
                mac,
                step,
                || format!("eUE file does not decode: {e}"),
                &file[..file.len().min(64)],
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eue_mac_is_the_next_one() {
        assert_eq!(
            eue_mac(&[0, 0x10, 0x95, 0, 0, 0xff]),
            [0, 0x10, 0x95, 0, 1, 0]
        );
        assert_eq!(eue_mac(&[0xff; 6]), [0; 6]);
    }
}
