//! Hostile traffic mixed into a storm, to show that the legitimate devices
//! still provision (issue 15 "Bad input"): DISCOVER floods from random MACs
//! that never come back, forged DECLINEs for addresses the sender never
//! held (RFC 2131 §4.3.3 says a server acts on a DECLINE only for its own
//! lease), DHCPINFORMs from addresses nobody leased, TFTP requests for other
//! devices' configuration files from unleased addresses, and malformed or
//! truncated DHCPv4/DHCPv6 datagrams. Every hostile packet is counted, and
//! so is every answer it gets: an answer to a malformed packet or a file
//! served to a stranger is the finding.
//!
//! Sans-IO: [`Hostile::poll_timeout`] and [`Hostile::handle_timeout`] put
//! packets in the outbox at the configured rate; the event loop hands back
//! answers it recognises by xid or by destination address.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Serialize;

use headend_wire::dhcpv4::MessageType;

use crate::dhcp4::{encode_request, Link4, Profile4, Request};
use crate::outbox::{Chan, Outbox, Service};
use crate::plan::Plan;
use crate::rng::Rng;

/// The kinds of hostile traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// DISCOVERs from random MACs that never REQUEST.
    MacFlood,
    /// DECLINEs of random addresses from random MACs.
    Decline,
    /// DHCPINFORMs from unleased addresses.
    Inform,
    /// TFTP requests for a provisioned device's file from unleased addresses.
    TftpOther,
    /// Garbage, truncated and inconsistent DHCPv4/DHCPv6 datagrams.
    Malformed,
}

impl Mode {
    fn index(self) -> usize {
        self as usize
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::MacFlood => "mac-flood",
            Mode::Decline => "decline",
            Mode::Inform => "inform",
            Mode::TftpOther => "tftp-other",
            Mode::Malformed => "malformed",
        }
    }
}

const MODES: [Mode; 5] = [
    Mode::MacFlood,
    Mode::Decline,
    Mode::Inform,
    Mode::TftpOther,
    Mode::Malformed,
];

/// xids of hostile DHCPv4 messages: top byte 0xFF, then the mode.
pub const XID_TAG: u32 = 0xFF00_0000;

/// Sent and answered, per mode.
#[derive(Debug, Clone, Serialize)]
pub struct HostileCount {
    /// The mode.
    pub mode: Mode,
    /// Packets sent.
    pub sent: u64,
    /// Answers received (for tftp-other: data served to a stranger).
    pub answered: u64,
    /// TFTP refusals received (tftp-other).
    pub refused: u64,
}

/// The hostile generator.
#[derive(Debug)]
pub struct Hostile {
    modes: Vec<Mode>,
    spacing: Duration,
    next: Option<Instant>,
    net: (u32, u32),
    rng: Rng,
    sent: [u64; 5],
    answered: [u64; 5],
    refused: [u64; 5],
    turn: usize,
    /// A provisioned device's TFTP server and file, once one is known.
    target: Option<(SocketAddr, Vec<u8>)>,
    /// Addresses tftp-other used (bounded), to recognise answers.
    sources: HashSet<IpAddr>,
}

impl Hostile {
    /// A generator of `modes` at `rate` packets a second from `t0`, using
    /// addresses of `net` (base, size) as its unleased addresses.
    pub fn new(
        modes: Vec<Mode>,
        rate: f64,
        net: (Ipv4Addr, u32),
        seed: u64,
        t0: Instant,
    ) -> Hostile {
        Hostile {
            modes,
            spacing: Duration::from_secs_f64(1.0 / rate.max(0.001)),
            next: Some(t0),
            net: (u32::from(net.0), net.1.max(1)),
            rng: Rng::new(seed ^ 0x05EE_DBAD),
            sent: [0; 5],
            answered: [0; 5],
            refused: [0; 5],
            turn: 0,
            target: None,
            sources: HashSet::new(),
        }
    }

    /// Learns a file worth stealing.
    pub fn offer_target(&mut self, server: SocketAddr, file: &[u8]) {
        if self.target.is_none() {
            self.target = Some((server, file.to_vec()));
        }
    }

    /// When the next packet is due (None once stopped).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// Stops sending (the storm is over).
    pub fn stop(&mut self) {
        self.next = None;
    }

    /// Sends what is due at `now` (at most 1,000 packets a call).
    pub fn handle_timeout(&mut self, now: Instant, plan: &Plan, out: &mut Outbox) {
        let mut budget = 1000;
        while let Some(t) = self.next {
            if t > now || budget == 0 || self.modes.is_empty() {
                break;
            }
            budget -= 1;
            let mode = self.modes[self.turn % self.modes.len()];
            self.turn += 1;
            if self.emit(mode, plan, out) {
                self.sent[mode.index()] += 1;
            }
            self.next = Some(t + self.spacing);
        }
        if budget == 0 {
            // Behind by more than a burst: skip ahead rather than flood.
            self.next = self.next.map(|t| t.max(now));
        }
    }

    fn addr(&mut self) -> Ipv4Addr {
        Ipv4Addr::from(
            self.net
                .0
                .wrapping_add(self.rng.below(u64::from(self.net.1)) as u32),
        )
    }

    fn mac(&mut self) -> [u8; 6] {
        let b = self.rng.next_u64().to_be_bytes();
        // Locally administered, unicast.
        [(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]]
    }

    fn emit(&mut self, mode: Mode, plan: &Plan, out: &mut Outbox) -> bool {
        let xid = XID_TAG | ((mode as u32) << 20) | (self.rng.next_u64() as u32 & 0xF_FFFF);
        let mac = self.mac();
        // Relayed like a device's own messages, through the same encoder.
        let link = Link4 {
            mac,
            chan: Chan::Relay4(0),
            giaddr: plan.relay4(0),
            server: plan.server4,
            remote_id: mac,
            circuit: 0,
            relay_source_port: plan.relay_source_port,
            correlation_id: None,
            index: 0,
        };
        let bare = Profile4::default();
        let req = |mtype, ciaddr, requested, server_id| Request {
            mtype,
            xid,
            secs: 0,
            ciaddr,
            requested,
            server_id,
        };
        let server_id = match plan.server4.ip() {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        };
        match mode {
            Mode::MacFlood => {
                let r = req(MessageType::Discover, None, None, None);
                out.push(Chan::Relay4(0), None, plan.server4, |b| {
                    encode_request(b, &r, &link, &bare)
                });
                true
            }
            Mode::Decline => {
                let r = req(MessageType::Decline, None, Some(self.addr()), server_id);
                out.push(Chan::Relay4(0), None, plan.server4, |b| {
                    encode_request(b, &r, &link, &bare)
                });
                true
            }
            Mode::Inform => {
                let r = req(MessageType::Inform, Some(self.addr()), None, None);
                out.push(Chan::Relay4(0), None, plan.server4, |b| {
                    encode_request(b, &r, &link, &bare)
                });
                true
            }
            Mode::TftpOther => {
                let Some((server, file)) = self.target.clone() else {
                    return false;
                };
                let src = IpAddr::V4(self.addr());
                if self.sources.len() < 4096 {
                    self.sources.insert(src);
                }
                out.push(Chan::Host(Service::Tftp), Some(src), server, |b| {
                    b.extend_from_slice(&1u16.to_be_bytes());
                    b.extend_from_slice(&file);
                    b.extend_from_slice(b"\0octet\0");
                });
                true
            }
            Mode::Malformed => {
                let kind = self.rng.below(5);
                let len = self.rng.below(600) as usize;
                let noise: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
                let cut = self.rng.next_u64() as usize;
                let discover = req(MessageType::Discover, None, None, None);
                match kind {
                    0 => out.push(Chan::Relay4(0), None, plan.server4, |b| {
                        b.extend_from_slice(&noise)
                    }),
                    1 => out.push(Chan::Relay4(0), None, plan.server4, |b| {
                        // The arena holds earlier datagrams: cut this one only,
                        // inside its options (at least the end option and the
                        // last octet of option 82 go).
                        let start = b.len();
                        encode_request(b, &discover, &link, &bare);
                        let n = b.len() - start;
                        b.truncate(start + cut % n.saturating_sub(1).max(1));
                    }),
                    2 => out.push(Chan::Relay4(0), None, plan.server4, |b| {
                        // Option 53 (first, at offset 240) claiming 200
                        // octets: it runs past the end of the message.
                        let start = b.len();
                        encode_request(b, &discover, &link, &bare);
                        if let Some(len) = b.get_mut(start + 241) {
                            *len = 200;
                        }
                    }),
                    3 => out.push(Chan::Relay6(0), None, plan.server6, |b| {
                        b.extend_from_slice(&noise)
                    }),
                    _ => out.push(Chan::Relay6(0), None, plan.server6, |b| {
                        // A Relay-Forward claiming hop-count 255 and a
                        // relay-message longer than the datagram.
                        b.extend_from_slice(&[12, 255]);
                        b.extend_from_slice(&[0; 32]);
                        b.extend_from_slice(&[0, 9, 0x40, 0]);
                        b.extend_from_slice(&[1, 0, 0, 1]);
                    }),
                }
                true
            }
        }
    }

    /// A DHCPv4 reply whose xid carries [`XID_TAG`].
    pub fn dhcp4_answer(&mut self, xid: u32) {
        let mode = ((xid >> 20) & 0xF) as usize;
        if let Some(a) = self.answered.get_mut(mode) {
            *a += 1;
        }
    }

    /// Whether `to` is one of the addresses tftp-other used; counts the answer.
    pub fn host_answer(&mut self, to: IpAddr, datagram: &[u8]) -> bool {
        if !self.sources.contains(&to) {
            return false;
        }
        let i = Mode::TftpOther.index();
        match datagram.get(..2) {
            // ERROR: refused, as it should be.
            Some([0, 5]) => self.refused[i] += 1,
            _ => self.answered[i] += 1,
        }
        true
    }

    /// Counts per enabled mode.
    pub fn counts(&self) -> Vec<HostileCount> {
        MODES
            .iter()
            .filter(|m| self.modes.contains(m))
            .map(|m| HostileCount {
                mode: *m,
                sent: self.sent[m.index()],
                answered: self.answered[m.index()],
                refused: self.refused[m.index()],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use headend_wire::dhcpv4::Packet;

    #[test]
    fn paced_mix_of_modes_with_answers_counted() {
        let t0 = Instant::now();
        let plan = Plan::default();
        let mut h = Hostile::new(
            vec![Mode::MacFlood, Mode::Decline, Mode::Inform, Mode::TftpOther],
            1000.0,
            (Ipv4Addr::new(10, 200, 0, 0), 65536),
            1,
            t0,
        );
        let mut out = Outbox::new();
        h.handle_timeout(t0 + Duration::from_millis(9), &plan, &mut out);
        // 10 due (t0 … t0+9 ms); tftp-other has no target yet.
        assert_eq!(out.len(), 8);
        let kinds: Vec<MessageType> = out
            .items()
            .iter()
            .map(|t| {
                Packet::parse(out.payload(t))
                    .unwrap()
                    .message_type()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            &kinds[..3],
            &[
                MessageType::Discover,
                MessageType::Decline,
                MessageType::Inform
            ]
        );
        let p = Packet::parse(out.payload(&out.items()[0])).unwrap();
        assert_eq!(p.xid >> 24, 0xFF);
        h.dhcp4_answer(p.xid);
        h.offer_target("127.0.0.1:69".parse().unwrap(), b"cm.cfg");
        out.clear();
        h.handle_timeout(t0 + Duration::from_millis(13), &plan, &mut out);
        let tftp = out
            .items()
            .iter()
            .find(|t| t.chan == Chan::Host(Service::Tftp))
            .unwrap();
        let src = tftp.src.unwrap();
        assert!(h.host_answer(src, &[0, 5, 0, 2]));
        assert!(h.host_answer(src, &[0, 3, 0, 1, 9]));
        assert!(!h.host_answer("10.9.9.9".parse().unwrap(), &[0, 3]));
        let c = h.counts();
        assert_eq!(c[0].answered, 1);
        assert_eq!(c[3].refused, 1);
        assert_eq!(c[3].answered, 1);
        h.stop();
        assert!(h.poll_timeout().is_none());
    }

    #[test]
    fn malformed_datagrams_are_what_they_claim() {
        let t0 = Instant::now();
        let plan = Plan::default();
        let mut h = Hostile::new(
            vec![Mode::Malformed],
            1000.0,
            (Ipv4Addr::new(10, 200, 0, 0), 256),
            7,
            t0,
        );
        let mut out = Outbox::new();
        h.handle_timeout(t0 + Duration::from_millis(199), &plan, &mut out);
        assert_eq!(out.len(), 200);
        assert!(out.items().iter().any(|t| t.chan == Chan::Relay6(0)));
        // None of the DHCPv4 ones is a well-formed DISCOVER with its options intact.
        let intact = out
            .items()
            .iter()
            .filter(|t| t.chan == Chan::Relay4(0))
            .filter(|t| {
                Packet::parse(out.payload(t)).is_ok_and(|p| {
                    p.message_type() == Some(MessageType::Discover) && p.options.get(82).is_some()
                })
            })
            .count();
        assert_eq!(intact, 0);
    }
}
