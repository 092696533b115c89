//! Shared helpers for the DHCPv4 server tests: a configuration in a temp
//! directory, a server over the memory store with a settable clock, and a
//! request builder.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_server::dhcpv4::{Inbound, Outcome};
use headend_server::runtime::Server;
use headend_store::{MemoryStore, Store};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

pub const RELAY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// A configuration for the tests: cable modems, eMTAs and CPE behind one relay.
pub const BASE: &str = r#"
[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:0"]
offer_hold = 30
decline_hold = 600

[provisioning]
auto_provision = { expr = '''
    if device.family == "docsis" { ["cablemodems"] }
    else if device.family == "pktc" { ["emta"] }
    else if relay.remote_id_mac != "" { ["cpe"] }
    else { [] }
''' }

[[domain]]
name = "cablemodems"
[[domain]]
name = "emta"
[[domain]]
name = "cpe"
[[domain]]
name = "gold"

[[pool]]
name = "cm"
domains = ["cablemodems"]
relays = ["127.0.0.2"]
network = "10.1.0.0/24"
ranges = [["10.1.0.10", "10.1.0.20"]]
exclude = ["10.1.0.11"]
lifetime = 3600
policies = ["docsis"]
[pool.options]
routers = "10.1.0.1"

[[pool]]
name = "cm-gold"
domains = ["gold"]
relays = ["127.0.0.2"]
network = "10.9.0.0/24"
ranges = [["10.9.0.10", "10.9.0.20"]]
weight = 5

[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.2"]
network = "10.2.0.0/24"
ranges = [["10.2.0.10", "10.2.0.200"]]
policies = ["packetcable"]

[[pool]]
name = "cpe"
domains = ["cpe"]
relays = ["127.0.0.2"]
network = "100.64.0.0/24"
ranges = [["100.64.0.10", "100.64.0.200"]]
allow = 'relay.remote_id_mac != ""'

[[policy]]
name = "docsis"
enforced = true
[policy.options]
time-servers = ["10.0.0.5"]
tftp-server-name = { expr = 'to_string(relay.address + 1)' }
"125/4491/2" = { expr = '[relay.address + 1]' }

[[policy]]
name = "voice"
enforced = false
domains = ["cablemodems"]
[policy.options]
"122/1" = "10.0.0.1"
"122/2" = "10.0.0.2"
"125/4491/123/1" = "lab-dhcp6"
"125/4491/124" = 5

[[policy]]
name = "packetcable"
enforced = true
[policy.options]
"122/3" = "prov.example.com"
"122/6" = { expr = 'if device.supported_flows.contains("hybrid") { "HYBRID.2" } else { "BASIC.1" }' }
host-name = { expr = '"mta-" + device.vendor_class.len()' }

[[policy]]
name = "everyone"
enforced = false
domains = ["all"]
[policy.options]
domain-name-servers = ["192.0.2.53"]
"#;

/// A test bed: configuration file, server over a memory store, fake clock.
pub struct Bed {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub server: Server,
    pub clock: Arc<AtomicU64>,
    pub store: Arc<MemoryStore>,
}

pub fn bed(config: &str) -> Bed {
    bed_with_store(config, Arc::new(MemoryStore::default()))
}

pub fn bed_with_store(config: &str, store: Arc<MemoryStore>) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headend.toml");
    std::fs::write(&path, config).unwrap();
    let snap = Snapshot::load(&path, 1).unwrap_or_else(|e| panic!("config: {e}"));
    let clock = Arc::new(AtomicU64::new(1_700_000_000));
    let c = clock.clone();
    let server = Server::with_store(
        &path,
        snap,
        store.clone() as Arc<dyn Store>,
        Arc::new(move || c.load(Ordering::Relaxed)),
    )
    .unwrap();
    Bed {
        dir,
        path,
        server,
        clock,
        store,
    }
}

impl Bed {
    pub fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::Relaxed);
        self.server.dhcpv4().sweep();
    }

    pub fn send(&self, data: &[u8]) -> Outcome {
        self.send_traced(data, &mut Trace::disabled())
    }

    pub fn send_traced(&self, data: &[u8], trace: &mut Trace) -> Outcome {
        let inb = Inbound {
            data,
            source: SocketAddrV4::new(RELAY, 67),
            local: SocketAddrV4::new(SERVER, 67),
        };
        self.server.dhcpv4().handle(&inb, trace)
    }

    /// Sends and expects a reply; returns (message type, yiaddr, options, raw).
    pub fn reply(&self, data: &[u8]) -> Reply {
        match self.send(data) {
            Outcome::Reply {
                packet,
                to,
                commit,
                durable,
            } => Reply::new(packet, to, commit.len(), durable),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    pub fn rewrite(&self, config: &str) {
        std::fs::write(&self.path, config).unwrap();
    }
}

pub struct Reply {
    pub raw: Vec<u8>,
    pub to: SocketAddrV4,
    pub commits: usize,
    pub durable: bool,
}

impl Reply {
    fn new(raw: Vec<u8>, to: SocketAddrV4, commits: usize, durable: bool) -> Self {
        Reply {
            raw,
            to,
            commits,
            durable,
        }
    }
    pub fn packet(&self) -> Packet<'_> {
        Packet::parse(&self.raw).unwrap()
    }
    pub fn mtype(&self) -> MessageType {
        self.packet().options.message_type().unwrap()
    }
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.packet().yiaddr
    }
    pub fn opt(&self, code: u8) -> Option<Vec<u8>> {
        self.packet().options.get(code).map(|c| c.into_owned())
    }
    pub fn codes(&self) -> Vec<u8> {
        self.packet().options.iter().map(|(c, _)| c).collect()
    }
}

/// Builder for client requests as a relay would forward them.
#[derive(Clone)]
pub struct Req {
    pub mac: [u8; 6],
    pub xid: u32,
    pub giaddr: Ipv4Addr,
    pub ciaddr: Ipv4Addr,
    pub options: Vec<(u8, Vec<u8>)>,
}

impl Req {
    pub fn new(mac: [u8; 6]) -> Self {
        Req {
            mac,
            xid: u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]),
            giaddr: RELAY,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            options: Vec::new(),
        }
    }
    pub fn opt(mut self, code: u8, data: &[u8]) -> Self {
        self.options.push((code, data.to_vec()));
        self
    }
    pub fn vendor_class(self, vc: &str) -> Self {
        self.opt(code::VENDOR_CLASS, vc.as_bytes())
    }
    pub fn prl(self, codes: &[u8]) -> Self {
        self.opt(code::PARAMETER_REQUEST_LIST, codes)
    }
    /// Option 125 with CableLabs sub-options (code, value) pairs.
    pub fn cl125(self, subs: &[(u8, &[u8])]) -> Self {
        let mut inner = Vec::new();
        for (c, v) in subs {
            inner.push(*c);
            inner.push(v.len() as u8);
            inner.extend_from_slice(v);
        }
        let mut data = 4491u32.to_be_bytes().to_vec();
        data.push(inner.len() as u8);
        data.extend(inner);
        self.opt(code::VENDOR_SPECIFIC_VI, &data)
    }
    pub fn remote_id(self, cm: [u8; 6]) -> Self {
        let mut d = vec![1, 4, b'c', b'm', b'-', b'1', 2, 6];
        d.extend_from_slice(&cm);
        self.opt(code::RELAY_AGENT_INFO, &d)
    }
    pub fn build(&self, mtype: MessageType, extra: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut b = Builder::new();
        b.op = BOOTREQUEST;
        b.htype = 1;
        b.hlen = 6;
        b.hops = u8::from(!self.giaddr.is_unspecified());
        b.xid = self.xid;
        b.giaddr = self.giaddr;
        b.ciaddr = self.ciaddr;
        b.chaddr[..6].copy_from_slice(&self.mac);
        b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
        for (c, d) in extra {
            b.push_option(*c, d);
        }
        for (c, d) in self
            .options
            .iter()
            .filter(|(c, _)| *c != code::RELAY_AGENT_INFO)
        {
            b.push_option(*c, d);
        }
        for (c, d) in self
            .options
            .iter()
            .filter(|(c, _)| *c == code::RELAY_AGENT_INFO)
        {
            b.push_option(*c, d);
        }
        b.encode(1500).unwrap()
    }
    pub fn discover(&self) -> Vec<u8> {
        self.build(MessageType::Discover, &[])
    }
    pub fn request_selecting(&self, ip: Ipv4Addr) -> Vec<u8> {
        self.build(
            MessageType::Request,
            &[
                (code::SERVER_ID, SERVER.octets().to_vec()),
                (code::REQUESTED_IP, ip.octets().to_vec()),
            ],
        )
    }
    pub fn request_init_reboot(&self, ip: Ipv4Addr) -> Vec<u8> {
        self.build(
            MessageType::Request,
            &[(code::REQUESTED_IP, ip.octets().to_vec())],
        )
    }
    pub fn renew(&self, ip: Ipv4Addr) -> Vec<u8> {
        let mut r = self.clone();
        r.ciaddr = ip;
        r.build(MessageType::Request, &[])
    }
    pub fn release(&self, ip: Ipv4Addr) -> Vec<u8> {
        let mut r = self.clone();
        r.ciaddr = ip;
        r.build(
            MessageType::Release,
            &[(code::SERVER_ID, SERVER.octets().to_vec())],
        )
    }
    pub fn decline(&self, ip: Ipv4Addr) -> Vec<u8> {
        self.build(
            MessageType::Decline,
            &[
                (code::SERVER_ID, SERVER.octets().to_vec()),
                (code::REQUESTED_IP, ip.octets().to_vec()),
            ],
        )
    }
}

/// DORA; returns the ACK.
pub fn dora(bed: &Bed, req: &Req) -> Reply {
    let offer = bed.reply(&req.discover());
    assert_eq!(offer.mtype(), MessageType::Offer);
    let ack = bed.reply(&req.request_selecting(offer.yiaddr()));
    assert_eq!(ack.mtype(), MessageType::Ack, "options: {:?}", ack.codes());
    ack
}
