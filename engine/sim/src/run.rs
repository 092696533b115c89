//! The storm as one sans-IO state machine: every device, their timers, the
//! start schedule (all at once, N per second, or a ramp), CPE started when
//! their modem comes online, and the demultiplexing of replies to devices
//! (DHCPv4 by xid, DHCPv6 by transaction id, everything else by the
//! device's leased address). [`crate::net`] is its socket shell; tests
//! drive it on a virtual clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use headend_wire::dhcpv6::{Message, RelayMessage};

use crate::check::Violations;
use crate::device::{Ctx, Device, Kind, Progress};
use crate::hostile::Hostile;
use crate::outbox::{Outbox, Service};
use crate::plan::Plan;
use crate::report::{Report, Stats, Stuck};

/// How many devices of each kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// DOCSIS cable modems.
    pub cm: u32,
    /// E-UEs.
    pub eue: u32,
    /// CPE, spread over the modems (or standalone when there are none).
    pub cpe: u32,
}

/// When devices start.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// All at once (a CMTS reboot).
    All,
    /// N devices per second.
    Rate(f64),
    /// Evenly over a duration.
    Ramp(Duration),
}

/// The whole storm.
pub struct Sim {
    plan: Plan,
    devices: Vec<Device>,
    /// Devices started on the schedule (modems, or standalone CPE), in order.
    order: Vec<u32>,
    next: usize,
    spacing: Duration,
    t0: Instant,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    armed: Vec<Option<Instant>>,
    /// CPE indices behind each modem: `cpe_first[m]..cpe_first[m+1]` of `cpe_of`.
    cpe_of: Vec<u32>,
    cpe_first: Vec<u32>,
    out: Outbox,
    violations: Violations,
    stats: Stats,
    addrs: HashMap<IpAddr, u32>,
    seen_file: Option<(SocketAddr, Vec<u8>)>,
    hostile: Option<Hostile>,
}

/// The first MAC of the simulated modems (CableLabs OUI 00:10:95, clear
/// of the lab's configured accounts at 00:10:95:00:…); modems take even numbers so that the eUE's (MAC + 1) never collides.
const MODEM_BASE: u64 = 0x0010_9510_0000;
/// CPE MACs: locally administered.
const CPE_BASE: u64 = 0x0200_0000_0000;

fn mac(n: u64) -> [u8; 6] {
    let b = n.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl Sim {
    /// A storm starting at `t0`.
    pub fn new(plan: Plan, counts: Counts, schedule: Schedule, seed: u64, t0: Instant) -> Sim {
        let relays = plan.relays4.len().max(1) as u32;
        let mut devices = Vec::new();
        let mut stats = Stats::new(t0);
        let modems = counts.cm + counts.eue;
        let off = plan.mac_offset;
        for i in 0..modems {
            let kind = if i < counts.cm { Kind::Cm } else { Kind::Eue };
            let m = mac(MODEM_BASE + 2 * (u64::from(i) + off));
            devices.push(Device::new(i, kind, m, m, (i % relays) as u16, seed));
            stats.planned(kind);
        }
        let mut cpe_lists: Vec<Vec<u32>> = vec![Vec::new(); modems as usize];
        for j in 0..counts.cpe {
            let index = modems + j;
            let (modem_mac, relay) = if modems > 0 {
                let m = j % modems;
                cpe_lists[m as usize].push(index);
                (
                    mac(MODEM_BASE + 2 * (u64::from(m) + off)),
                    (m % relays) as u16,
                )
            } else {
                (
                    mac(CPE_BASE + 0x1_0000_0000 + u64::from(j) + off),
                    (j % relays) as u16,
                )
            };
            devices.push(Device::new(
                index,
                Kind::Cpe,
                mac(CPE_BASE + u64::from(j) + off),
                modem_mac,
                relay,
                seed,
            ));
            stats.planned(Kind::Cpe);
        }
        let mut cpe_of = Vec::with_capacity(counts.cpe as usize);
        let mut cpe_first = Vec::with_capacity(modems as usize + 1);
        for l in &cpe_lists {
            cpe_first.push(cpe_of.len() as u32);
            cpe_of.extend_from_slice(l);
        }
        cpe_first.push(cpe_of.len() as u32);
        let order: Vec<u32> = if modems > 0 {
            (0..modems).collect()
        } else {
            (0..counts.cpe).collect()
        };
        let n = order.len().max(1) as f64;
        let spacing = match schedule {
            Schedule::All => Duration::ZERO,
            Schedule::Rate(r) if r > 0.0 => Duration::from_secs_f64(1.0 / r),
            Schedule::Rate(_) => Duration::ZERO,
            Schedule::Ramp(d) => Duration::from_secs_f64(d.as_secs_f64() / n),
        };
        let count = devices.len();
        Sim {
            plan,
            devices,
            order,
            next: 0,
            spacing,
            t0,
            timers: BinaryHeap::new(),
            armed: vec![None; count],
            cpe_of,
            cpe_first,
            out: Outbox::new(),
            violations: Violations::new(32),
            stats,
            addrs: HashMap::new(),
            seen_file: None,
            hostile: None,
        }
    }

    /// Mixes hostile traffic into the storm until every device finished.
    pub fn with_hostile(mut self, hostile: Hostile) -> Sim {
        self.hostile = Some(hostile);
        self
    }

    /// The settings.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Datagrams to send; the shell clears it after sending.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// Measurements so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Measurements, for the shell's counters.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// Violations so far.
    pub fn violations(&self) -> &Violations {
        &self.violations
    }

    /// Every device has finished its flow.
    pub fn done(&self) -> bool {
        self.stats.finished() == self.stats.total()
    }

    /// The final report.
    pub fn report(&self, now: Instant) -> Report {
        let mut stuck: std::collections::BTreeMap<&'static str, Stuck> = Default::default();
        for d in self.devices.iter().filter(|d| !d.finished()) {
            let step = match d.step() {
                Some(s) => s.name(),
                None => "not started",
            };
            let e = stuck.entry(step).or_insert_with(|| Stuck {
                step,
                count: 0,
                examples: Vec::new(),
            });
            e.count += 1;
            if e.examples.len() < 3 {
                e.examples.push(crate::check::mac_string(&d.mac));
            }
        }
        let mut r = self
            .stats
            .report(now, &self.violations, stuck.into_values().collect());
        r.hostile = self
            .hostile
            .as_ref()
            .map(|h| h.counts())
            .unwrap_or_default();
        r
    }

    fn start_time(&self, k: usize) -> Instant {
        self.t0
            + self
                .spacing
                .saturating_mul(u32::try_from(k).unwrap_or(u32::MAX))
    }

    /// The next time [`Sim::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let start = (self.next < self.order.len()).then(|| self.start_time(self.next));
        let timer = self.timers.peek().map(|Reverse((t, _))| *t);
        let hostile = self.hostile.as_ref().and_then(|h| h.poll_timeout());
        [start, timer, hostile].into_iter().flatten().min()
    }

    fn with_device(
        &mut self,
        i: u32,
        f: impl FnOnce(&mut Device, &mut Ctx<'_>) -> Progress,
    ) -> Progress {
        let Some(d) = self.devices.get_mut(i as usize) else {
            return Progress::None;
        };
        let mut cx = Ctx {
            plan: &self.plan,
            out: &mut self.out,
            v: &mut self.violations,
            stats: &mut self.stats,
            addrs: &mut self.addrs,
            seen_file: &mut self.seen_file,
        };
        let p = f(d, &mut cx);
        let deadline = d.poll_timeout();
        if let Some(slot) = self.armed.get_mut(i as usize) {
            if deadline.is_some() && deadline != *slot {
                if let Some(t) = deadline {
                    self.timers.push(Reverse((t, i)));
                }
            }
            *slot = deadline;
        }
        p
    }

    fn after(&mut self, now: Instant, i: u32, p: Progress) {
        if p == Progress::Online {
            let lo = self.cpe_first.get(i as usize).copied().unwrap_or(0) as usize;
            let hi = self.cpe_first.get(i as usize + 1).copied().unwrap_or(0) as usize;
            for k in lo..hi {
                if let Some(&c) = self.cpe_of.get(k) {
                    let p = self.with_device(c, |d, cx| {
                        d.start(now, cx);
                        Progress::None
                    });
                    self.after(now, c, p);
                }
            }
        }
    }

    /// Starts devices due and runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(h) = self.hostile.as_mut() {
            if self.stats.finished() == self.stats.total() {
                h.stop();
            } else {
                if let Some((server, file)) = &self.seen_file {
                    h.offer_target(*server, file);
                }
                h.handle_timeout(now, &self.plan, &mut self.out);
            }
        }
        while self.next < self.order.len() && self.start_time(self.next) <= now {
            let i = self.order[self.next];
            self.next += 1;
            let p = self.with_device(i, |d, cx| {
                d.start(now, cx);
                Progress::None
            });
            self.after(now, i, p);
        }
        while let Some(Reverse((t, i))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            // A stale entry: the device re-armed since.
            if self.armed.get(i as usize).copied().flatten() != Some(t) {
                continue;
            }
            if let Some(slot) = self.armed.get_mut(i as usize) {
                *slot = None;
            }
            let p = self.with_device(i, |d, cx| d.handle_timeout(now, cx));
            self.after(now, i, p);
        }
    }

    /// A datagram on a DHCPv4 relay socket.
    pub fn handle_relay4(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.received += 1;
        let xid = match datagram.get(4..8) {
            Some(x) => u32::from_be_bytes([x[0], x[1], x[2], x[3]]),
            None => {
                self.stats.unmatched += 1;
                return;
            }
        };
        if xid & 0xFF00_0000 == crate::hostile::XID_TAG {
            if let Some(h) = self.hostile.as_mut() {
                h.dhcp4_answer(xid);
                return;
            }
        }
        let i = xid >> 8;
        if i as usize >= self.devices.len() {
            self.stats.unmatched += 1;
            return;
        }
        let p = self.with_device(i, |d, cx| d.handle_dhcp4(now, datagram, cx));
        self.after(now, i, p);
    }

    /// A datagram on the DHCPv6 relay socket (a Relay-Reply).
    pub fn handle_relay6(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.received += 1;
        let Some(inner) = RelayMessage::parse(datagram).ok().map(|r| r.relay_msg()) else {
            self.stats.unmatched += 1;
            return;
        };
        let Ok(m) = Message::parse(inner) else {
            self.stats.unmatched += 1;
            return;
        };
        let i = m.transaction_id;
        if i as usize >= self.devices.len() {
            self.stats.unmatched += 1;
            return;
        }
        let p = self.with_device(i, |d, cx| d.handle_dhcp6(now, &m, inner, cx));
        self.after(now, i, p);
    }

    /// A datagram to a device's own socket (`to` its leased address).
    pub fn handle_host(
        &mut self,
        now: Instant,
        service: Service,
        from: SocketAddr,
        to: IpAddr,
        datagram: &[u8],
    ) {
        self.stats.received += 1;
        let Some(&i) = self.addrs.get(&to) else {
            if !self
                .hostile
                .as_mut()
                .is_some_and(|h| h.host_answer(to, datagram))
            {
                self.stats.unmatched += 1;
            }
            return;
        };
        let p = self.with_device(i, |d, cx| d.handle_host(now, service, from, datagram, cx));
        self.after(now, i, p);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::outbox::Chan;
    use headend_wire::dhcpv4::{code, Builder, MessageType, Packet};
    use std::collections::VecDeque;
    use std::net::Ipv4Addr;

    /// A DHCPv4 server of the test's own: lease 60 s (T1 30 s), an address
    /// per MAC; it ignores the first datagram it sees, to exercise the
    /// retransmission timer.
    fn answer(req: &[u8], seen: &mut u32) -> Option<Vec<u8>> {
        *seen += 1;
        if *seen == 1 {
            return None;
        }
        let p = Packet::parse(req).ok()?;
        let t = match p.message_type()? {
            MessageType::Discover => MessageType::Offer,
            MessageType::Request => MessageType::Ack,
            _ => return None,
        };
        let mut b = Builder::reply_to(&p);
        b.yiaddr = Ipv4Addr::new(10, 9, p.chaddr[4], p.chaddr[5]);
        b.push_option(code::MESSAGE_TYPE, &[u8::from(t)]);
        b.push_option(code::SERVER_ID, &[127, 0, 0, 1]);
        b.push_option(code::LEASE_TIME, &60u32.to_be_bytes());
        b.push_option(code::RENEWAL_TIME, &30u32.to_be_bytes());
        b.encode(1500).ok()
    }

    /// 50 CPE at 100 a second for 100 virtual seconds against `answer`.
    fn storm(seed: u64) -> Report {
        let t0 = Instant::now();
        let plan = Plan {
            full: false,
            renew: true,
            ..Plan::default()
        };
        let counts = Counts {
            cm: 0,
            eue: 0,
            cpe: 50,
        };
        let mut sim = Sim::new(plan, counts, Schedule::Rate(100.0), seed, t0);
        let mut wire: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        let mut seen = 0;
        let mut now = t0;
        let end = t0 + Duration::from_secs(100);
        while now < end {
            sim.handle_timeout(now);
            loop {
                for tx in sim.outbox().items().to_vec() {
                    assert_eq!(tx.chan, Chan::Relay4(0));
                    let req = sim.outbox().payload(&tx).to_vec();
                    if let Some(reply) = answer(&req, &mut seen) {
                        // One millisecond of network and server.
                        wire.push_back((now + Duration::from_millis(1), reply));
                    }
                }
                sim.outbox().clear();
                let mut delivered = false;
                while wire.front().is_some_and(|(t, _)| *t <= now) {
                    let (_, d) = wire.pop_front().unwrap();
                    sim.handle_relay4(now, &d);
                    delivered = true;
                }
                if !delivered {
                    break;
                }
            }
            let next = [sim.poll_timeout(), wire.front().map(|(t, _)| *t)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end);
            now = next.clamp(now, end);
        }
        sim.report(now)
    }

    #[test]
    fn a_storm_on_a_virtual_clock_with_a_lost_packet_and_renewals() {
        let r = storm(9);
        let table = r.table();
        assert_eq!(r.devices[0].count.completed, 50, "{table}");
        assert_eq!(r.violation_total(), 0);
        // Two round trips of 1 ms each.
        assert_eq!(r.devices[0].time_to_provision.p50_ms, 2.0, "{table}");
        // The first DISCOVER was lost: its device retransmitted after 4 s ± 1 s.
        let max = r.devices[0].time_to_provision.max_ms;
        assert!((3000.0..=5100.0).contains(&max), "{table}");
        // Renewed at 30, 60 and 90 s each.
        assert_eq!(r.renewals, 150, "{table}");
        // The same seed gives the same storm.
        assert_eq!(
            serde_json::to_string(&storm(9)).unwrap(),
            serde_json::to_string(&r).unwrap()
        );
    }
}
