//! The eUE side of the PacketCable Hybrid flow after DHCP (PKT-SP-EUE-PROV
//! Table 6 eUE-15 … eUE-25, the PKT-PROV1.5 Hybrid steps; protocol notes
//! §12): the enrollment INFORM (SNMPv2c, RFC 3416 §4.2.7) retried until
//! acknowledged, the provisioning server's SET of the configuration file
//! URL and hash answered by the eUE's agent, the file fetched by TFTP from
//! the eUE's address and its SHA-1 compared with the hash SET, the syslog
//! notification, and the status INFORM "pass". Sans-IO, one state machine.
//!
//! The MIB family follows the eUE's address family as PacketCable devices
//! do: RFC 4682 (PKTC-IETF-MTA-MIB) over IPv6, the CableLabs PKTC-MTA-MIB
//! over IPv4 (protocol notes §12.2).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use headend_snmp::message::{CommunityMessage, Message, Version};
use headend_snmp::pdu::{Oid, Pdu, PduType, Value, VarBind};
use sha1::{Digest, Sha1};

use crate::check::{Rule, Violations};
use crate::device::Step;
use crate::outbox::{Chan, Outbox, Service};
use crate::plan::Plan;
use crate::rng::Rng;
use crate::tftp::{TftpClient, TftpEvent};

/// The OIDs of one MIB family.
struct Mib {
    enroll: &'static [u32],
    status: &'static [u32],
    mac: &'static [u32],
    correlation: &'static [u32],
    state: &'static [u32],
    sw_version: &'static [u32],
    type_id: &'static [u32],
    config_file: &'static [u32],
    config_hash: &'static [u32],
}

const IETF: Mib = Mib {
    enroll: &[1, 3, 6, 1, 2, 1, 140, 0, 1],
    status: &[1, 3, 6, 1, 2, 1, 140, 0, 2],
    mac: &[1, 3, 6, 1, 2, 1, 2, 2, 1, 6, 1],
    correlation: &[1, 3, 6, 1, 2, 1, 140, 1, 3, 3, 0],
    state: &[1, 3, 6, 1, 2, 1, 140, 1, 1, 8, 0],
    sw_version: &[1, 3, 6, 1, 2, 1, 140, 1, 1, 3, 0],
    type_id: &[1, 3, 6, 1, 2, 1, 140, 1, 1, 7, 0],
    config_file: &[1, 3, 6, 1, 2, 1, 140, 1, 2, 9, 0],
    config_hash: &[1, 3, 6, 1, 2, 1, 140, 1, 2, 11, 0],
};

const CABLELABS: Mib = Mib {
    enroll: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 1],
    status: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 2, 0, 2],
    mac: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 1, 4, 0],
    correlation: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 3, 4, 0],
    state: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 1, 9, 0],
    sw_version: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 1, 2, 0],
    type_id: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 1, 3, 0],
    config_file: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 5, 0],
    config_hash: &[1, 3, 6, 1, 4, 1, 4491, 2, 2, 1, 1, 2, 7, 0],
};

const SYS_UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
const SNMP_TRAP_OID: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];
const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];

/// What a datagram or timeout did.
#[derive(Debug, PartialEq, Eq)]
pub enum HybridEvent {
    /// Nothing for the caller.
    None,
    /// The current step finished; the next one (None: the flow is done).
    StepDone(Option<Step>),
    /// The flow failed.
    Failed(&'static str),
}

#[derive(Debug)]
enum Phase {
    /// eUE-15: the enrollment INFORM is out.
    Enroll,
    /// Waiting for eUE-19.
    AwaitSet,
    /// eUE-22/23.
    Fetch(Box<TftpClient>),
    /// eUE-25: the status INFORM is out.
    Status,
    Done,
}

/// The Hybrid flow of one eUE.
#[derive(Debug)]
pub struct Hybrid {
    mac: [u8; 6],
    correlation: u32,
    addr: IpAddr,
    server: SocketAddr,
    syslog: Option<SocketAddr>,
    ietf: bool,
    phase: Phase,
    request_id: i32,
    sent: u32,
    deadline: Option<Instant>,
    hash: Option<Vec<u8>>,
    inform: Vec<u8>,
}

impl Hybrid {
    /// Sends the enrollment INFORM (eUE-15).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        now: Instant,
        mac: [u8; 6],
        index: u32,
        addr: IpAddr,
        server: IpAddr,
        syslog: Option<IpAddr>,
        plan: &Plan,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> Hybrid {
        let ietf = addr.is_ipv6();
        let mut h = Hybrid {
            mac,
            correlation: index,
            addr,
            server: SocketAddr::new(server, plan.ports.snmp),
            syslog: syslog.map(|s| SocketAddr::new(s, plan.ports.syslog)),
            ietf,
            phase: Phase::Enroll,
            request_id: (rng.next_u64() & 0x3fff_ffff) as i32,
            sent: 0,
            deadline: None,
            hash: None,
            inform: Vec::new(),
        };
        let mib = h.mib();
        let vbs = vec![
            VarBind::new(Oid(SYS_UPTIME.to_vec()), Value::TimeTicks(100)),
            VarBind::new(
                Oid(SNMP_TRAP_OID.to_vec()),
                Value::Oid(Oid(mib.enroll.to_vec())),
            ),
            VarBind::new(
                Oid(SYS_DESCR.to_vec()),
                Value::OctetString(b"headend-sim eUE".to_vec()),
            ),
            VarBind::new(
                Oid(mib.sw_version.to_vec()),
                Value::OctetString(b"2.0.1".to_vec()),
            ),
            VarBind::new(
                Oid(mib.type_id.to_vec()),
                Value::OctetString(b"pktc2.0:".to_vec()),
            ),
            VarBind::new(Oid(mib.mac.to_vec()), Value::OctetString(mac.to_vec())),
            h.correlation_vb(),
        ];
        h.inform = h.encode_inform(vbs, &plan.inform_community);
        h.transmit(now, plan, rng, out);
        h
    }

    fn mib(&self) -> &'static Mib {
        if self.ietf {
            &IETF
        } else {
            &CABLELABS
        }
    }

    fn correlation_vb(&self) -> VarBind {
        let mib = self.mib();
        let v = if self.ietf {
            Value::Gauge32(self.correlation)
        } else {
            Value::Integer(i32::try_from(self.correlation & 0x7fff_ffff).unwrap_or(0))
        };
        VarBind::new(Oid(mib.correlation.to_vec()), v)
    }

    fn encode_inform(&self, varbinds: Vec<VarBind>, community: &str) -> Vec<u8> {
        CommunityMessage {
            version: Version::V2c,
            community: community.as_bytes().to_vec(),
            pdu: Pdu::new(PduType::Inform, self.request_id, varbinds),
        }
        .encode()
    }

    /// When [`Hybrid::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Fetch(t) => t.poll_timeout(),
            _ => self.deadline,
        }
    }

    fn transmit(&mut self, now: Instant, plan: &Plan, rng: &mut Rng, out: &mut Outbox) {
        let inform = &self.inform;
        out.push(
            Chan::Host(Service::Snmp),
            Some(self.addr),
            self.server,
            |b| b.extend_from_slice(inform),
        );
        self.deadline = Some(now + plan.retry_udp.timeout(self.sent, rng));
        self.sent += 1;
    }

    /// Retries the INFORM, times out the wait for the SET, or drives TFTP.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        plan: &Plan,
        rng: &mut Rng,
        out: &mut Outbox,
    ) -> HybridEvent {
        if let Phase::Fetch(t) = &mut self.phase {
            return match t.handle_timeout(now, &plan.retry_udp, rng, out) {
                TftpEvent::Failed(why) => HybridEvent::Failed(why),
                _ => HybridEvent::None,
            };
        }
        if self.deadline.is_none_or(|d| d > now) {
            return HybridEvent::None;
        }
        match self.phase {
            Phase::Enroll | Phase::Status => {
                if self.sent >= plan.retry_udp.attempts {
                    self.deadline = None;
                    return HybridEvent::Failed(if matches!(self.phase, Phase::Enroll) {
                        "enrollment INFORM not acknowledged"
                    } else {
                        "status INFORM not acknowledged"
                    });
                }
                self.transmit(now, plan, rng, out);
                HybridEvent::None
            }
            Phase::AwaitSet => {
                self.deadline = None;
                HybridEvent::Failed("no SET after the enrollment")
            }
            _ => HybridEvent::None,
        }
    }

    /// A datagram to one of the eUE's sockets.
    #[allow(clippy::too_many_arguments)]
    pub fn handle(
        &mut self,
        now: Instant,
        service: Service,
        from: SocketAddr,
        datagram: &[u8],
        plan: &Plan,
        rng: &mut Rng,
        v: &mut Violations,
        out: &mut Outbox,
    ) -> HybridEvent {
        let mac = self.mac;
        match (&mut self.phase, service) {
            (Phase::Fetch(t), Service::Tftp) => {
                match t.handle(now, from, datagram, &mac, &plan.retry_udp, rng, v, out) {
                    TftpEvent::Done => {
                        let file = t.take_data();
                        self.file_done(now, &file, plan, rng, v, out)
                    }
                    TftpEvent::Failed(why) => HybridEvent::Failed(why),
                    TftpEvent::None => HybridEvent::None,
                }
            }
            (Phase::Enroll | Phase::Status | Phase::AwaitSet, Service::Snmp) => {
                let Ok(Message::Community(m)) = Message::decode(datagram) else {
                    return HybridEvent::None;
                };
                match m.pdu.kind {
                    PduType::Response
                        if from == self.server && m.pdu.request_id == self.request_id =>
                    {
                        match self.phase {
                            Phase::Enroll => {
                                self.phase = Phase::AwaitSet;
                                self.deadline = Some(now + plan.set_wait);
                                HybridEvent::StepDone(Some(Step::EueSet))
                            }
                            Phase::Status => {
                                self.phase = Phase::Done;
                                self.deadline = None;
                                HybridEvent::StepDone(None)
                            }
                            _ => HybridEvent::None,
                        }
                    }
                    PduType::Set => self.on_set(now, from, &m, plan, rng, v, datagram, out),
                    _ => HybridEvent::None,
                }
            }
            _ => HybridEvent::None,
        }
    }

    /// eUE-19: the provisioning server's SET. Answered (also when it comes
    /// again because our Response was lost); the first valid one starts
    /// the download.
    #[allow(clippy::too_many_arguments)]
    fn on_set(
        &mut self,
        now: Instant,
        from: SocketAddr,
        m: &CommunityMessage,
        plan: &Plan,
        rng: &mut Rng,
        v: &mut Violations,
        raw: &[u8],
        out: &mut Outbox,
    ) -> HybridEvent {
        let step = Step::EueSet.name();
        if let Some(c) = &plan.agent_community {
            if m.community != c.as_bytes() {
                // RFC 3584: a wrong community is dropped silently.
                v.add(
                    Rule::SnmpSet,
                    &self.mac,
                    step,
                    || "SET with another community".into(),
                    raw,
                );
                return HybridEvent::None;
            }
        }
        let mib = self.mib();
        let url = m
            .pdu
            .get(&Oid(mib.config_file.to_vec()))
            .and_then(|x| x.as_bytes())
            .map(<[u8]>::to_vec);
        let hash = m
            .pdu
            .get(&Oid(mib.config_hash.to_vec()))
            .and_then(|x| x.as_bytes())
            .map(<[u8]>::to_vec);
        let ok = url.is_some()
            && hash
                .as_ref()
                .is_some_and(|h| h.len() == 20 || (!self.ietf && h.len() == 16));
        let mut resp = Pdu::new(PduType::Response, m.pdu.request_id, m.pdu.varbinds.clone());
        if !ok {
            resp.error_status = 12; // inconsistentValue (RFC 3416)
            resp.error_index = 1;
        }
        let bytes = CommunityMessage {
            version: Version::V2c,
            community: m.community.clone(),
            pdu: resp,
        }
        .encode();
        out.push(Chan::Host(Service::Snmp), Some(self.addr), from, |b| {
            b.extend_from_slice(&bytes)
        });
        if !matches!(self.phase, Phase::AwaitSet) {
            return HybridEvent::None;
        }
        if !ok {
            v.add(
                Rule::SnmpSet,
                &self.mac,
                step,
                || {
                    format!(
                        "SET without {} or a 20-octet hash",
                        if self.ietf {
                            "pktcMtaDevConfigFile (RFC 4682)"
                        } else {
                            "pktcMtaDevConfigFile"
                        }
                    )
                },
                raw,
            );
            return HybridEvent::Failed("SET without file URL and hash");
        }
        self.hash = hash;
        let url = url.unwrap_or_default();
        let Some((server, file)) = parse_tftp_url(&url, plan.ports.tftp) else {
            v.add(
                Rule::SnmpSet,
                &self.mac,
                step,
                || format!("config file URL {:?}", String::from_utf8_lossy(&url)),
                raw,
            );
            return HybridEvent::Failed("config file URL is not tftp://");
        };
        let t = TftpClient::start(
            now,
            Step::EueConfig.name(),
            self.addr,
            server,
            file.as_bytes(),
            plan.blksize,
            &plan.retry_udp,
            rng,
            out,
        );
        self.phase = Phase::Fetch(Box::new(t));
        self.deadline = None;
        HybridEvent::StepDone(Some(Step::EueConfig))
    }

    /// eUE-23: the hash; eUE-24 syslog; eUE-25 status INFORM.
    fn file_done(
        &mut self,
        now: Instant,
        file: &[u8],
        plan: &Plan,
        rng: &mut Rng,
        v: &mut Violations,
        out: &mut Outbox,
    ) -> HybridEvent {
        let digest = Sha1::digest(file);
        let want = self.hash.clone().unwrap_or_default();
        let state = if want.as_slice() == digest.as_slice() {
            1 // pass
        } else {
            v.add(
                Rule::EueHash,
                &self.mac,
                Step::EueConfig.name(),
                || {
                    format!(
                        "SHA-1 {} differs from the hash SET {}",
                        crate::check::hex(&digest, 20),
                        crate::check::hex(&want, 20)
                    )
                },
                &file[..file.len().min(64)],
            );
            3 // failConfigFileError
        };
        // eUE-24: the syslog notification (RFC 5424 over UDP; no answer).
        if let Some(s) = self.syslog {
            let msg = format!(
                "<134>1 - - MTA[PACKETCABLE] - - - <4000950100> provisioning {} MAC={}",
                if state == 1 { "complete" } else { "failed" },
                crate::check::mac_string(&self.mac)
            );
            out.push(Chan::Host(Service::Syslog), Some(self.addr), s, |b| {
                b.extend_from_slice(msg.as_bytes())
            });
        }
        // eUE-25: the status INFORM.
        let mib = self.mib();
        self.request_id = self.request_id.wrapping_add(1) & 0x3fff_ffff;
        let vbs = vec![
            VarBind::new(Oid(SYS_UPTIME.to_vec()), Value::TimeTicks(200)),
            VarBind::new(
                Oid(SNMP_TRAP_OID.to_vec()),
                Value::Oid(Oid(mib.status.to_vec())),
            ),
            VarBind::new(Oid(mib.mac.to_vec()), Value::OctetString(self.mac.to_vec())),
            self.correlation_vb(),
            VarBind::new(Oid(mib.state.to_vec()), Value::Integer(state)),
        ];
        self.inform = self.encode_inform(vbs, &plan.inform_community);
        self.phase = Phase::Status;
        self.sent = 0;
        self.transmit(now, plan, rng, out);
        if state != 1 {
            return HybridEvent::Failed("config file hash differs from the SET");
        }
        HybridEvent::StepDone(Some(Step::EueStatus))
    }

    /// Whether the eUE-24 syslog notification went out.
    pub fn syslog_sent(&self) -> bool {
        self.syslog.is_some() && matches!(self.phase, Phase::Status | Phase::Done)
    }
}

/// `tftp://host[:port]/path` (host an address, IPv6 in brackets).
fn parse_tftp_url(url: &[u8], default_port: u16) -> Option<(SocketAddr, String)> {
    let s = std::str::from_utf8(url).ok()?;
    let rest = s.strip_prefix("tftp://")?;
    let (hostport, path) = rest.split_once('/')?;
    let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
        let (h, p) = h.split_once(']')?;
        (h, p.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let ip: IpAddr = host.parse().ok()?;
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    (!path.is_empty()).then(|| (SocketAddr::new(ip, port), path.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tftp_urls() {
        assert_eq!(
            parse_tftp_url(b"tftp://[::1]:6969/mta-1.bin", 69),
            Some(("[::1]:6969".parse().unwrap(), "mta-1.bin".into()))
        );
        assert_eq!(
            parse_tftp_url(b"tftp://127.0.0.1/a/b.bin", 69),
            Some(("127.0.0.1:69".parse().unwrap(), "a/b.bin".into()))
        );
        assert_eq!(parse_tftp_url(b"http://x/y", 69), None);
        assert_eq!(parse_tftp_url(b"tftp://host/", 69), None);
    }
}
