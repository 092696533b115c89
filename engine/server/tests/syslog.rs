//! The syslog management-event receiver (seed 000 pkt-eue-6, step eUE-24)
//! on real loopback sockets with ephemeral ports, in a running server:
//!
//! - events over IPv4 and IPv6, RFC 3164 and RFC 5424, are tied to the
//!   device that holds a DHCPv4 lease — by the MAC in the message, or by
//!   the sender's address (the lease is in 127.0.5.0/24, so the test can
//!   send from the leased address) — reach the mem-event hook with the
//!   device, and its actions apply (the account attribute lands in the store);
//! - lines without an event id are recorded, not handed to the hook; events
//!   from no device still reach the hook; malformed and oversize datagrams
//!   are counted and nothing panics;
//! - a flood from one sender is rate-limited (counted) while another
//!   sender's events and DHCP exchanges on the DHCPv4 socket are all
//!   answered; a slow plugin fills the bounded queue, and what does not fit
//!   is dropped and counted.
//!
//! The hook is native here (it records what it gets); the real
//! `mem-events.wasm` with util-linux `logger` as the sender is exercised in
//! `engine/headend/tests/peer_syslog.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use headend_abi::{
    ConfigFile, ConfigRequest, Device, EventAction, EventActions, EventLevel, EventTransport,
    FlowDecision, MemEvent,
};
use headend_model::plugins::{HookError, Hooks};
use headend_server::counters::{Counters, Event, Family};
use headend_server::shared::timeline::Timeline;
use headend_store::Store;
use headend_wire::dhcpv4::{MessageType, Packet};

const MTA: [u8; 6] = [0x00, 0x10, 0x95, 0x0e, 0x00, 0x07];
const MTA_MAC: &str = "00:10:95:0e:00:07";
const VC: &str = "pktc2.0:050412020007";

fn config(relay_port: u16, limits: &str) -> String {
    format!(
        r#"
[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:0"]
relay_port = {relay_port}

[provisioning]
auto_provision = {{ expr = 'if device.family == "pktc" {{ ["emta"] }} else {{ [] }}' }}

[[domain]]
name = "emta"

# On loopback, so that a test socket can send from a leased address.
[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.2"]
network = "127.0.5.0/24"
ranges = [["127.0.5.10", "127.0.5.250"]]

[syslog]
listen = ["127.0.0.1:0", "[::1]:0"]
{limits}
"#
    )
}

/// A mem-event hook that records every event and answers with one
/// attribute action (after `delay`, to play a slow plugin).
#[derive(Debug, Default)]
struct Recorder {
    seen: Mutex<Vec<MemEvent>>,
    delay: Duration,
}

impl Hooks for Recorder {
    fn select_flow(&self, _d: &Device) -> Option<Result<FlowDecision, HookError>> {
        None
    }
    fn config_file(
        &self,
        _g: &str,
        _r: &ConfigRequest,
    ) -> Option<Result<Option<ConfigFile>, HookError>> {
        None
    }
    fn generator_version(&self, _g: &str) -> Option<u64> {
        None
    }
    fn mem_event(&self, e: &MemEvent) -> Option<Result<EventActions, HookError>> {
        std::thread::sleep(self.delay);
        self.seen.lock().unwrap().push(e.clone());
        Some(Ok(EventActions {
            actions: vec![EventAction::SetAttribute {
                key: "last_event".into(),
                value: e.event_id.to_string(),
            }],
        }))
    }
}

/// A running server with its syslog receiver.
struct Running {
    dhcp: SocketAddr,
    syslog4: SocketAddr,
    syslog6: SocketAddr,
    timeline: Arc<Timeline>,
    counters: Arc<Counters>,
    hooks: Arc<Recorder>,
    store: Arc<headend_store::MemoryStore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), headend_server::runtime::ServerError>>>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// Starts a server after `setup` ran against the bed (in-process DORAs).
fn start(config: &str, delay: Duration, setup: impl FnOnce(&Bed)) -> Running {
    let mut bed = bed(config);
    let hooks = Arc::new(Recorder {
        seen: Mutex::default(),
        delay,
    });
    let h = hooks.clone();
    bed.server
        .set_hook_factory(Arc::new(move |_| Ok(h.clone() as Arc<dyn Hooks>)))
        .unwrap();
    setup(&bed);
    let timeline = bed.server.timeline().clone();
    let counters = bed.server.counters().clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = rt.spawn(
        bed.server
            .run(move |b| tx.send(b.to_vec()).unwrap(), async move {
                let _ = stopped.await;
            }),
    );
    let bound = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Component order: DHCPv4, then the syslog listeners (v4, v6).
    assert_eq!(bound.len(), 3, "{bound:?}");
    Running {
        dhcp: bound[0],
        syslog4: bound[1],
        syslog6: bound[2],
        timeline,
        counters,
        hooks,
        store: bed.store.clone(),
        stop: Some(stop),
        done: Some(done),
        rt,
        _dir: bed.dir,
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(stop), Some(done)) = (self.stop.take(), self.done.take()) {
            let _ = stop.send(());
            let _ = self.rt.block_on(done);
        }
    }
}

impl Running {
    fn syslog(&self, name: &str) -> u64 {
        let mut m = headend_server::metrics::Metrics::new();
        self.counters.collect(&mut m);
        m.value("syslog_events_total", &[("event", name)])
    }

    fn drops(&self, reason: &str) -> u64 {
        self.counters
            .drops_in(Family::Syslog)
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// Waits (at most 10 s) until `done` holds.
    fn wait(&self, what: &str, done: impl Fn(&Running) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: not reached in 10 s; counters {:?}",
                {
                    let mut m = headend_server::metrics::Metrics::new();
                    self.counters.collect(&mut m);
                    m.log_line()
                }
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn seen(&self) -> Vec<MemEvent> {
        self.hooks.seen.lock().unwrap().clone()
    }
}

fn send_from(local: &str, to: SocketAddr, line: &[u8]) {
    let s = UdpSocket::bind(local).unwrap();
    s.send_to(line, to).unwrap();
}

/// The eMTA's lease, made in-process before the sockets open.
fn lease_mta(bed: &Bed) -> Ipv4Addr {
    let req = Req::new(MTA).vendor_class(VC).prl(&[1, 3, 122]);
    dora(bed, &req).yiaddr()
}

#[test]
fn events_are_tied_to_the_leased_device_by_mac_or_address_and_reach_the_hook() {
    let mut leased = None;
    let srv = start(&config(67, ""), Duration::ZERO, |bed| {
        leased = Some(lease_mta(bed));
    });
    let ip = leased.unwrap();
    assert_eq!(ip.octets()[..3], [127, 0, 5], "{ip}");
    let from_lease = format!("{ip}:0");

    // 1. RFC 3164, no MAC, sent from the leased address: tied by the lease.
    send_from(
        &from_lease,
        srv.syslog4,
        b"<131>Dec  5 16:20:00 mta MTA[PACKETCABLE]: <4000950901> provisioning complete: pass",
    );
    // 2. RFC 5424 over IPv4 from elsewhere, MAC in the structured data: tied by MAC.
    send_from(
        "127.0.0.1:0",
        srv.syslog4,
        br#"<134>1 2026-12-05T16:20:01Z mta MTA - - [pktcEvent@4491 id="4000950902" mac="00-10-95-0e-00-07" endpointName="aaln/1"] off hook"#,
    );
    // 3. RFC 3164 over IPv6, the Cisco CMTS form with a dotted MAC.
    send_from(
        "[::1]:0",
        srv.syslog6,
        b"<133>CMTS[DOCSIS]:<73011700> Invalid Modem Capabilities configuration setting . CM Mac Addr <0010.950e.0007>",
    );
    // 4. From the leased address with the same MAC: both agree.
    send_from(
        &from_lease,
        srv.syslog4,
        b"<132>CABLEMODEM[DOCSIS]: <82000200> T3 time-out;CM-MAC=00:10:95:0e:00:07;CMTS-MAC=00:01:5c:aa:bb:cc;",
    );
    // 5. No MAC, no lease: no device, still an event.
    send_from(
        "[::1]:0",
        srv.syslog6,
        b"<12>1 - - MTA - 4000950903 - who am i",
    );
    // 6. No event id: recorded for the device, not handed to the hook.
    send_from(&from_lease, srv.syslog4, b"<14>MTA: rebooting now");
    // Malformed and oversize: counted, dropped.
    for bad in [
        &b""[..],
        &b"\xff\xfe\x00binary"[..],
        &b"<999>no such PRI"[..],
        &b"no PRI at all"[..],
        &vec![b'<'; 9000][..],
    ] {
        send_from("127.0.0.1:0", srv.syslog4, bad);
    }

    srv.wait("5 events and one plain line handled", |s| {
        s.syslog("mem_event") + s.syslog("no_event_id") == 6
    });
    srv.wait("malformed counted", |s| s.drops("malformed") == 4);
    assert_eq!(srv.syslog("received"), 11);
    assert_eq!(srv.drops("oversize"), 1);
    assert_eq!(srv.syslog("mem_event"), 5);
    assert_eq!(srv.syslog("no_event_id"), 1);
    assert_eq!(srv.syslog("unresolved"), 1);
    assert_eq!(srv.drops("rate_limited") + srv.drops("queue_full"), 0);

    let seen = srv.seen();
    let by_id = |id: u32| {
        seen.iter()
            .find(|e| e.event_id == id)
            .unwrap_or_else(|| panic!("event {id} not seen: {seen:?}"))
    };
    for id in [4_000_950_901, 4_000_950_902, 73_011_700, 82_000_200] {
        let e = by_id(id);
        let dev = e.device.as_ref().unwrap_or_else(|| panic!("{e:?}"));
        assert_eq!(dev.mac, MTA_MAC, "{e:?}");
        assert_eq!(e.transport, EventTransport::Syslog);
        assert_eq!(e.enterprise, 4491, "{e:?}");
        // Tied through the lease or the remembered classification: the
        // device is known as the eMTA it was at DHCP time, in its domain.
        assert_eq!(dev.family, "pktc", "{e:?}");
        assert!(dev.in_domain("emta"), "{e:?}");
    }
    let e = by_id(4_000_950_901);
    assert_eq!(e.source, Some(ip.into()));
    assert_eq!(e.level, EventLevel::Major, "severity err(3)");
    assert_eq!(e.text, "provisioning complete: pass");
    let e = by_id(4_000_950_902);
    assert_eq!(e.endpoint.as_deref(), Some("aaln/1"));
    assert_eq!(e.level, EventLevel::Information);
    assert_eq!(e.source, Some("127.0.0.1".parse().unwrap()));
    assert!(by_id(73_011_700).source.unwrap().is_ipv6());
    let e = by_id(4_000_950_903);
    assert!(e.device.is_none(), "{e:?}");
    assert_eq!(e.enterprise, 0, "unknown enterprise");

    // Recorded in the eMTA's timeline as step eUE-24 (a PacketCable
    // device), after its DHCP steps, each with how it was tied; critical
    // and major events as failed; the line without an event id not at all.
    let tl = srv.timeline.get(MTA_MAC).unwrap();
    let steps: Vec<&str> = tl.events.iter().map(|e| e.step.as_str()).collect();
    assert_eq!(
        steps[..4],
        ["eUE-1", "eUE-2", "eUE-3", "eUE-4"],
        "{:#?}",
        tl.events
    );
    let eue24: Vec<_> = tl.events.iter().filter(|e| e.step == "eUE-24").collect();
    assert_eq!(eue24.len(), 4, "{:#?}", tl.events);
    let entry = |id: &str| {
        eue24
            .iter()
            .find(|e| e.detail.contains(id))
            .unwrap_or_else(|| panic!("no eUE-24 for {id}: {eue24:#?}"))
    };
    let e = entry("4491/4000950901");
    assert_eq!(e.outcome, "failed", "severity err = major: {e:?}");
    assert!(e.detail.contains("tied by the sender's lease"), "{e:?}");
    assert!(e.detail.contains("mem-event: 1 action(s) applied"), "{e:?}");
    let e = entry("4491/4000950902");
    assert_eq!(e.outcome, "ok", "{e:?}");
    assert!(e.detail.contains("tied by the MAC in the message"), "{e:?}");
    // Issue 21: a MAC in a line from another address is believed for the
    // record, but it may not change the device's account (syslog is
    // unauthenticated); only the sender's own lease or a trusted source may.
    assert!(e.detail.contains("mem-event: 0 action(s) applied"), "{e:?}");
    assert!(entry("4491/82000200")
        .detail
        .contains("mem-event: 1 action(s) applied"));
    assert!(entry("4491/73011700")
        .detail
        .contains("tied by the MAC in the message"));
    assert!(entry("4491/82000200")
        .detail
        .contains("tied by its MAC and lease"));
    assert!(tl.events.iter().all(|e| !e.detail.contains("rebooting")));
    // The hook's action is durable: the eMTA's account has the attribute.
    srv.wait("the account attribute is stored", |s| {
        s.store
            .account(MTA_MAC)
            .unwrap()
            .is_some_and(|a| a.attributes.contains_key("last_event"))
    });
}

/// A relayed DISCOVER for client `n` as the lab CMTS (127.0.0.2) sends it.
fn discover(n: u16) -> Vec<u8> {
    let mut mac = MTA;
    mac[4..].copy_from_slice(&n.to_be_bytes());
    Req::new(mac).vendor_class(VC).prl(&[1, 3]).discover()
}

#[test]
fn a_flood_is_rate_limited_while_other_senders_and_dhcp_are_served() {
    let relay = UdpSocket::bind("127.0.0.2:0").unwrap();
    relay
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let limits = "rate_per_source = 50\nburst_per_source = 20\nqueue = 256";
    let srv = start(
        &config(relay.local_addr().unwrap().port(), limits),
        Duration::ZERO,
        |_| {},
    );
    let started = Instant::now();
    // One sender floods 20,000 events as fast as it can (bounded count).
    let flood_to = srv.syslog4;
    let flood = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.3:0").unwrap();
        let line = b"<131>MTA[PACKETCABLE]: <4000950100> flood MAC=00:10:95:0e:ff:ff";
        let mut sent = 0u64;
        for _ in 0..20_000 {
            if s.send_to(line, flood_to).is_ok() {
                sent += 1;
            }
        }
        sent
    });
    // Meanwhile another sender's 10 events at 20/s, and 30 DHCP DISCOVERs,
    // each answered within its 2 s read timeout.
    let quiet = UdpSocket::bind("127.0.0.4:0").unwrap();
    let mut offers = 0;
    for n in 0..30u16 {
        if n % 3 == 0 {
            let line =
                format!("<131>MTA[PACKETCABLE]: <4000950200> quiet {n} MAC=00:10:95:0e:ee:ee");
            quiet.send_to(line.as_bytes(), srv.syslog4).unwrap();
        }
        relay.send_to(&discover(n), srv.dhcp).unwrap();
        let mut buf = [0u8; 1500];
        let (len, _) = relay
            .recv_from(&mut buf)
            .expect("DHCP answered during the flood");
        let pkt = Packet::parse(&buf[..len]).unwrap();
        assert_eq!(pkt.options.message_type(), Some(MessageType::Offer));
        offers += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = flood.join().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(offers, 30);
    assert_eq!(
        srv.counters.get(Event::Offer),
        30,
        "every DISCOVER got its OFFER"
    );
    srv.wait("the quiet sender's 10 events handled", |s| {
        s.seen()
            .iter()
            .filter(|e| e.event_id == 4_000_950_200)
            .count()
            == 10
    });
    let received = srv.syslog("received");
    let limited = srv.drops("rate_limited");
    let flood_handled = srv
        .seen()
        .iter()
        .filter(|e| e.event_id == 4_000_950_100)
        .count() as u64;
    // What the flood got through: its burst plus the rate over the run.
    let allowed = 20 + (50.0 * elapsed.as_secs_f64()).ceil() as u64 + 1;
    eprintln!(
        "flood: sent {sent}, received {received}, rate-limited {limited}, handled {flood_handled} \
         (at most {allowed} allowed in {elapsed:?})"
    );
    assert!(sent >= 10_000, "{sent}");
    assert!(flood_handled <= allowed, "{flood_handled} > {allowed}");
    assert!(flood_handled >= 20, "at least the burst: {flood_handled}");
    // Everything the socket saw is accounted for: handled or dropped by reason.
    srv.wait("every received datagram accounted for", |s| {
        s.syslog("mem_event") + s.drops("rate_limited") + s.drops("queue_full")
            == s.syslog("received")
    });
    assert!(
        limited >= received / 2,
        "the flood is mostly dropped: {limited} of {received}"
    );
    assert_eq!(srv.drops("malformed"), 0);
}

#[test]
fn a_slow_plugin_fills_the_bounded_queue_and_the_rest_is_dropped_and_counted() {
    // 40 ms per event, a queue of 4: 60 senders within their own rate
    // overrun the handler, and the queue does not grow.
    let limits = "rate_per_source = 100\nburst_per_source = 10\nqueue = 4";
    let srv = start(&config(67, limits), Duration::from_millis(40), |_| {});
    let senders: Vec<UdpSocket> = (1..=60u8)
        .map(|i| UdpSocket::bind((Ipv4Addr::new(127, 0, 6, i), 0)).unwrap())
        .collect();
    for round in 0..2 {
        for (i, s) in senders.iter().enumerate() {
            let line = format!("<131>MTA: <{}> slow plugin round {round}", 1000 + i);
            s.send_to(line.as_bytes(), srv.syslog4).unwrap();
        }
    }
    srv.wait("all 120 received and accounted for", |s| {
        s.syslog("received") == 120
            && s.syslog("mem_event") + s.drops("queue_full") == 120
            && s.seen().len() as u64 == s.syslog("mem_event")
    });
    let full = srv.drops("queue_full");
    let handled = srv.syslog("mem_event");
    eprintln!("queue 4, 40 ms per event: {handled} handled, {full} dropped queue-full");
    assert!(full >= 60, "{full}");
    assert!(handled >= 4, "{handled}");
    assert_eq!(
        srv.drops("rate_limited"),
        0,
        "each sender stayed within its rate"
    );
}

#[test]
fn with_message_macs_not_accepted_only_the_senders_lease_ties() {
    let mut leased = None;
    let srv = start(
        &config(67, "accept_message_mac = false"),
        Duration::ZERO,
        |bed| leased = Some(lease_mta(bed)),
    );
    let from_lease = format!("{}:0", leased.unwrap());
    // From elsewhere, naming the eMTA: not believed, no device.
    send_from(
        "127.0.0.1:0",
        srv.syslog4,
        b"<131>MTA: <4000950100> spoofed MAC=00:10:95:0e:00:07",
    );
    // From the eMTA's lease, naming another device: the sender is the device.
    send_from(
        &from_lease,
        srv.syslog4,
        b"<131>MTA: <4000950101> about someone else MAC=00:10:95:0e:99:99",
    );
    srv.wait("both handled", |s| s.syslog("mem_event") == 2);
    assert_eq!(srv.syslog("unresolved"), 1);
    let seen = srv.seen();
    let spoofed = seen.iter().find(|e| e.event_id == 4_000_950_100).unwrap();
    assert!(spoofed.device.is_none(), "{spoofed:?}");
    let own = seen.iter().find(|e| e.event_id == 4_000_950_101).unwrap();
    assert_eq!(own.device.as_ref().map(|d| d.mac.as_str()), Some(MTA_MAC));
    let tl = srv.timeline.get(MTA_MAC).unwrap();
    let e = tl.events.iter().find(|e| e.step == "eUE-24").unwrap();
    assert!(e.detail.contains("tied by the sender's lease"), "{e:?}");
    assert!(srv.timeline.get("00:10:95:0e:99:99").is_none());
}
