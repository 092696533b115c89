//! DHCPv6 server behaviour end to end, in process (RFC 8415 exchanges
//! through a CMTS Relay-Forward; seed 000 Table 6 eUE-1..eUE-4 and the
//! CableLabs server rules; bad input dropped and counted).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::eue6;

use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use headend_abi::{ConfigFile, ConfigRequest, EventActions, MemEvent};
use headend_model::config::SourceFile;
use headend_model::plugins::{HookError, Hooks};
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_model::v6::{FlowDecision, FlowDevice, ProvisioningFlow, ProvisioningServer};
use headend_server::counters::{Event, Family};
use headend_server::dhcpv6::{Dhcpv6, Outcome6};
use headend_server::runtime::Server;
use headend_store::{LeaseState, MemoryStore, Mutation, Store};
use headend_wire::cablelabs::{ClVendorOptionsV6, DssId};
use headend_wire::dhcpv6::code::{self, Status};
use headend_wire::dhcpv6::{parse, Builder, Message, MessageType, Options, Packet};

use eue6::{duid_ll, eue1_options, tlv, CM_MAC, LINK};

const EUE_MAC: [u8; 6] = [0x00, 0x10, 0x18, 0xaa, 0x00, 0x02];

const CONFIG: &str = r#"
[server]
store = "state"
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
[dhcpv6]
listen = ["[::1]:0"]
dss_id = "headend-test"
secondary_dss_id = "0xffffffff"
ecm_dhcpv4_servers = ["10.0.0.1", "10.0.0.2"]
ip_pref = 6
provisioning_server = ["prov.example.net"]
realm = "BASIC.1"
rapid_commit = true
fqdn = 'if device.family == "pktc" { "eue-" + account.id.replace(":", "") + ".example.net" } else { () }'
config_file = '"file.bin"'
dns_servers = ["2001:db8::53"]
syslog_servers = ["2001:db8::514", "2001:db8::515"]
tftp_servers = ["2001:db8::69"]
[[pool6]]
name = "cm6"
prefix = "2001:db8:1::/64"
links = ["2001:db8:100::1"]
domains = ["cablemodems"]
[[pool6]]
name = "eue6"
prefix = "2001:db8:2::/64"
links = ["2001:db8:100::1"]
domains = ["emta"]
[[pool6]]
name = "cpe6"
prefix = "2001:db8:3::/64"
links = ["2001:db8:100::1", "::"]
domains = ["cpe", "all"]
[[pool6]]
name = "cpe-pd"
kind = "pd"
prefix = "2001:db8:8000::/40"
delegated_length = 56
links = ["2001:db8:100::1", "::"]
"#;

struct Env {
    server: Server,
    store: Arc<MemoryStore>,
    now: Arc<AtomicU64>,
}

fn env_with(store: Arc<MemoryStore>) -> Env {
    let src = SourceFile::new("t.toml".into(), CONFIG.into());
    let snap = Snapshot::from_source(&src, 1).unwrap();
    let now = Arc::new(AtomicU64::new(1_700_000_000));
    let n2 = now.clone();
    let server = Server::with_store(
        std::path::Path::new("t.toml"),
        snap,
        store.clone(),
        Arc::new(move || n2.load(Ordering::SeqCst)),
    )
    .unwrap();
    Env { server, store, now }
}

fn env() -> Env {
    env_with(Arc::new(MemoryStore::new()))
}

fn v6(e: &Env) -> &Arc<Dhcpv6> {
    e.server.dhcpv6()
}

fn relay_src() -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::LOCALHOST, 40547, 0, 0)
}

/// The eUE-1 SOLICIT options of seed 000 Table 6 (no address in IA_NA).
fn eue_options(b: &mut Builder, mac: &[u8]) {
    eue1_options(b, mac, None).unwrap();
}

fn relay_forward(inner: &[u8], hops: u8, cm_mac: Option<&[u8]>) -> Vec<u8> {
    eue6::relay_forward(inner, hops, cm_mac).unwrap()
}

fn handle(e: &Env, data: &[u8]) -> Outcome6 {
    let mut t = Trace::enabled();
    let o = v6(e).handle(data, relay_src(), &mut t);
    eprintln!("{}", t.notes().join("\n"));
    o
}

/// Sends, applies the commit, and returns the client message out of the Relay-Reply.
fn exchange(e: &Env, data: &[u8]) -> (Vec<u8>, bool) {
    match handle(e, data) {
        Outcome6::Reply {
            packet,
            to,
            commit,
            durable,
        } => {
            assert_eq!(to, relay_src());
            e.store.apply(&commit).unwrap();
            (packet, durable)
        }
        other => panic!("no reply: {other:?}"),
    }
}

fn unwrap_relay(p: &[u8]) -> Vec<u8> {
    match parse(p).unwrap() {
        Packet::Relay(r) => {
            assert_eq!(r.msg_type, MessageType::RelayRepl);
            assert_eq!(r.link_address, LINK);
            assert_eq!(r.interface_id(), Some(&b"cable-1/0"[..]));
            r.relay_msg().to_vec()
        }
        Packet::Message(_) => panic!("reply not relayed"),
    }
}

fn msg(buf: &[u8]) -> Message<'_> {
    match parse(buf).unwrap() {
        Packet::Message(m) => m,
        Packet::Relay(_) => panic!("nested relay"),
    }
}

fn cl_sub(m: &Message<'_>) -> Vec<(u16, Vec<u8>)> {
    let Some(vo) = m.options.vendor_opts(4491).unwrap() else {
        return Vec::new();
    };
    vo.options.iter().map(|(c, v)| (c, v.to_vec())).collect()
}

fn sub(v: &[u8]) -> Vec<(u16, Vec<u8>)> {
    Options::parse(v, 0)
        .unwrap()
        .iter()
        .map(|(c, v)| (c, v.to_vec()))
        .collect()
}

fn ia_addr(m: &Message<'_>) -> Option<Ipv6Addr> {
    let ia = m.options.ia_nas().next()?.ok()?;
    let a = ia.addresses().next()?.ok()?;
    Some(a.addr)
}

fn solicit_eue(mac: &[u8], rapid: bool) -> Vec<u8> {
    let mut b = Builder::message(MessageType::Solicit, 0x00_1234);
    eue_options(&mut b, mac);
    if rapid {
        b.rapid_commit().unwrap();
    }
    relay_forward(&b.finish(), 0, Some(&CM_MAC))
}

/// eUE-3 validity: CCCv6 with sub-options 1 (our DSS_ID), 3 and 6, and no 2.
fn assert_eue_valid(m: &Message<'_>) -> Vec<(u16, Vec<u8>)> {
    let cl = cl_sub(m);
    let codes: Vec<u16> = cl.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, vec![32, 33, 34, 2171], "only the CL ORO codes");
    let cccv6 = &cl.iter().find(|(c, _)| *c == 2171).unwrap().1;
    let subs = sub(cccv6);
    let sc: Vec<u16> = subs.iter().map(|(c, _)| *c).collect();
    assert_eq!(sc, vec![1, 3, 6]);
    assert_eq!(subs[0].1, b"headend-test");
    // The wire crate's typed decoder (an independent reading) agrees.
    let (_, o17) = m
        .options
        .iter()
        .find(|(c, _)| *c == code::VENDOR_OPTS)
        .unwrap();
    let typed = ClVendorOptionsV6::from_option17(o17).unwrap().unwrap();
    let c6 = typed.cccv6.unwrap();
    assert!(c6.valid_for_eue(), "{c6:?}");
    assert_eq!(c6.secondary, None);
    assert_eq!(c6.primary, Some(DssId::new(b"headend-test")));
    subs
}

#[test]
fn eue_solicit_advertise_request_reply_renew() {
    let e = env();
    let (adv, durable) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    assert!(!durable);
    let adv = unwrap_relay(&adv);
    let m = msg(&adv);
    assert_eq!(m.msg_type, MessageType::Advertise);
    assert_eq!(m.transaction_id, 0x1234);
    let addr = ia_addr(&m).unwrap();
    assert!("2001:db8:2::/64"
        .parse::<ipnet::Ipv6Net>()
        .unwrap()
        .contains(&addr));
    let subs = assert_eue_valid(&m);
    // Sub-option 3: type 0 FQDN prov.example.net; sub-option 6: BASIC.1.
    assert_eq!(subs[1].1[0], 0);
    assert_eq!(subs[2].1, vec![5, b'B', b'A', b'S', b'I', b'C', 1, b'1', 0]);
    // Syslog: the configured order, first entry first (seed 000 §6.1.6).
    let cl = cl_sub(&m);
    let syslog = &cl.iter().find(|(c, _)| *c == 34).unwrap().1;
    assert_eq!(
        &syslog[..16],
        &"2001:db8::514".parse::<Ipv6Addr>().unwrap().octets()
    );
    // FQDN: server-assigned, S=1 O=0 N=0.
    let f = m.options.client_fqdn().unwrap().unwrap();
    assert_eq!(f.flags, 0x01);
    assert_eq!(f.domain_name().unwrap().0, "eue-001018aa0002.example.net");
    // No Rapid Commit, DNS as requested.
    assert!(!m.options.rapid_commit().unwrap());
    assert!(m.options.dns_servers().unwrap().is_some());

    // eUE-3 REQUEST with the server id and the advertised address.
    let sid = m.options.get(code::SERVERID).unwrap().to_vec();
    let mut b = Builder::message(MessageType::Request, 0x00_1235);
    eue_options(&mut b, &EUE_MAC);
    b.server_id(&sid).unwrap();
    let req = relay_forward(&b.finish(), 0, Some(&CM_MAC));
    let (rep, durable) = exchange(&e, &req);
    assert!(durable, "REPLY waits for the binding to be durable");
    let rep = unwrap_relay(&rep);
    let r = msg(&rep);
    assert_eq!(r.msg_type, MessageType::Reply);
    assert_eq!(ia_addr(&r), Some(addr));
    // eUE-4: every option and sub-option of the ADVERTISE.
    assert_eq!(cl_sub(&r), cl_sub(&m));
    assert_eq!(
        r.options.get(code::CLIENT_FQDN),
        m.options.get(code::CLIENT_FQDN)
    );
    // The binding is stored with FQDN, MAC and the modem's MAC (17.1026).
    let stored = e.store.leases6_by_duid(&duid_ll(&EUE_MAC)).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].address, addr);
    assert_eq!(
        stored[0].fqdn.as_deref(),
        Some("eue-001018aa0002.example.net")
    );
    assert_eq!(stored[0].modem_mac.as_deref(), Some(&CM_MAC[..]));
    assert_eq!(v6(&e).bindings_of_mac("00:10:18:aa:00:01").len(), 1);
    // Dual stack: the account is the one DHCPv4 uses (by MAC).
    assert!(e
        .server
        .dhcpv4()
        .accounts
        .get("00:10:18:aa:00:02")
        .is_some());

    // RENEW later: same address (section 6.3.6).
    e.now.fetch_add(1800, Ordering::SeqCst);
    let mut b = Builder::message(MessageType::Renew, 0x00_1236);
    b.client_id(&duid_ll(&EUE_MAC)).unwrap();
    b.server_id(&sid).unwrap();
    b.ia_na(1, 0, 0, |ib| {
        ib.ia_addr(addr, 0, 0)?;
        Ok(())
    })
    .unwrap();
    b.client_fqdn(0x01, "eue-001018aa0002.example.net", true)
        .unwrap();
    let (rep, durable) = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    assert!(durable);
    let rep = unwrap_relay(&rep);
    assert_eq!(ia_addr(&msg(&rep)), Some(addr));
    let stored = e.store.leases6_by_duid(&duid_ll(&EUE_MAC)).unwrap();
    assert_eq!(stored[0].commit_time, 1_700_001_800);
}

#[test]
fn a_solicit_flood_stores_no_account_until_a_binding() {
    // Issue 21: every SOLICIT of a new DUID used to create and persist an
    // account; now only the REPLY that binds an address stores one.
    let e = env();
    for i in 0..500u32 {
        let mut mac = EUE_MAC;
        mac[2..].copy_from_slice(&i.to_be_bytes());
        let (adv, _) = exchange(&e, &solicit_eue(&mac, false));
        assert_eq!(msg(&unwrap_relay(&adv)).msg_type, MessageType::Advertise);
    }
    assert_eq!(e.server.dhcpv4().accounts.len(), 0);
    assert!(e.store.load_accounts().unwrap().is_empty());
    // Rapid Commit is refused to an eUE, so a REQUEST binds: its commit
    // carries the account.
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let adv = unwrap_relay(&adv);
    let m = msg(&adv);
    let sid = m.options.get(code::SERVERID).unwrap().to_vec();
    let mut b = Builder::message(MessageType::Request, 0x00_4321);
    eue_options(&mut b, &EUE_MAC);
    b.option(code::SERVERID, &sid).unwrap();
    let (reply, durable) = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    assert!(durable);
    assert_eq!(msg(&unwrap_relay(&reply)).msg_type, MessageType::Reply);
    let stored = e.store.load_accounts().unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].domains, vec!["emta".to_string()]);
}

#[test]
fn eue_never_gets_rapid_commit_but_cpe_does_with_prefix() {
    let e = env();
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, true));
    let adv = unwrap_relay(&adv);
    assert_eq!(msg(&adv).msg_type, MessageType::Advertise);
    assert!(!msg(&adv).options.rapid_commit().unwrap());

    // A CPE router behind the modem: IA_NA + IA_PD with Rapid Commit.
    let cpe_mac = [0x02, 0, 0, 0, 0, 9];
    let mut b = Builder::message(MessageType::Solicit, 7);
    b.client_id(&duid_ll(&cpe_mac)).unwrap();
    b.ia_na(1, 0, 0, |_| Ok(())).unwrap();
    b.ia_pd(2, 0, 0, |_| Ok(())).unwrap();
    b.rapid_commit().unwrap();
    let (rep, durable) = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    assert!(durable);
    let rep = unwrap_relay(&rep);
    let m = msg(&rep);
    assert_eq!(m.msg_type, MessageType::Reply);
    assert!(m.options.rapid_commit().unwrap());
    let pd = m.options.ia_pds().next().unwrap().unwrap();
    let p = pd.prefixes().next().unwrap().unwrap();
    assert_eq!(p.prefix_len, 56);
    assert!("2001:db8:8000::/40"
        .parse::<ipnet::Ipv6Net>()
        .unwrap()
        .contains(&p.prefix));
    assert!(
        m.options.vendor_opts(4491).unwrap().is_none(),
        "no CL ORO, no CL options"
    );
    assert_eq!(e.store.load_leases6().unwrap().len(), 2);
}

#[test]
fn ecm_gets_ccc_cccv6_with_both_dss_ids_and_dual_stack_ip_pref_only_with_b111() {
    let e = env();
    for (pref, expect_pref) in [(Some(7u8), true), (None, false)] {
        let mac = [0, 0x10, 0x18, 0xcc, 0, pref.unwrap_or(0)];
        let mut b = Builder::message(MessageType::Solicit, 9);
        b.client_id(&duid_ll(&mac)).unwrap();
        b.ia_na(1, 0, 0, |_| Ok(())).unwrap();
        b.oro(&[code::VENDOR_OPTS]).unwrap();
        b.vendor_class(4491, &[b"docsis3.0"]).unwrap();
        let mut vo = Vec::new();
        tlv(&mut vo, 1, &[0x08, 0x7a, 0x08, 0x7b, 0, 39]);
        tlv(&mut vo, 2, b"ECM");
        if let Some(p) = pref {
            tlv(&mut vo, 39, &[p]);
        }
        b.vendor_opts(4491, &vo).unwrap();
        let (adv, _) = exchange(&e, &relay_forward(&b.finish(), 0, None));
        let adv = unwrap_relay(&adv);
        let m = msg(&adv);
        assert!("2001:db8:1::/64"
            .parse::<ipnet::Ipv6Net>()
            .unwrap()
            .contains(&ia_addr(&m).unwrap()));
        let cl = cl_sub(&m);
        let codes: Vec<u16> = cl.iter().map(|(c, _)| *c).collect();
        if expect_pref {
            assert_eq!(codes, vec![39, 2170, 2171]);
            assert_eq!(cl[0].1, vec![6]);
        } else {
            // Dual stack withheld without b'111; Table 3 still wants an
            // IP_PREF with CCC/CCCV6: the single-stack value of its family.
            assert_eq!(
                codes,
                vec![39, 2170, 2171],
                "IP_PREF 6 withheld without b'111"
            );
            assert_eq!(cl[0].1, vec![2]);
        }
        let ccc = &cl.iter().find(|(c, _)| *c == 2170).unwrap().1;
        assert_eq!(ccc, &vec![0, 1, 0, 4, 10, 0, 0, 1, 0, 2, 0, 4, 10, 0, 0, 2]);
        let v6 = sub(&cl.iter().find(|(c, _)| *c == 2171).unwrap().1);
        assert_eq!(v6, vec![(1, b"headend-test".to_vec()), (2, vec![0xff; 4])]);
    }
}

/// A native flow-select hook: answers `decide(device)`, or fails like a
/// trapped plugin when that is `None`; remembers the devices it saw.
#[derive(Debug)]
struct TestHooks {
    decide: fn(&FlowDevice) -> Option<FlowDecision>,
    seen: parking_lot::Mutex<Vec<FlowDevice>>,
}

impl Hooks for TestHooks {
    fn select_flow(&self, device: &FlowDevice) -> Option<Result<FlowDecision, HookError>> {
        self.seen.lock().push(device.clone());
        Some((self.decide)(device).ok_or(HookError {
            plugin: "test".into(),
            kind: "trap".into(),
            detail: "unreachable executed".into(),
        }))
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
    fn mem_event(&self, _e: &MemEvent) -> Option<Result<EventActions, HookError>> {
        None
    }
}

fn install_hooks(e: &mut Env, decide: fn(&FlowDevice) -> Option<FlowDecision>) -> Arc<TestHooks> {
    let h = Arc::new(TestHooks {
        decide,
        seen: parking_lot::Mutex::new(Vec::new()),
    });
    let h2 = h.clone();
    e.server
        .set_hook_factory(Arc::new(move |_| Ok(h2.clone() as Arc<dyn Hooks>)))
        .unwrap();
    h
}

#[test]
fn flow_hook_decides_and_disabled_eue_is_told_not_to_provision() {
    let mut e = env();
    let hooks = install_hooks(&mut e, |d| {
        Some(FlowDecision {
            flow: if d.mac.ends_with("02") {
                ProvisioningFlow::Hybrid(headend_model::v6::FlowVariant::Two)
            } else {
                ProvisioningFlow::Disabled
            },
            provisioning_server: Some(ProvisioningServer::Ipv6(vec!["2001:db8::10"
                .parse()
                .unwrap()])),
            config_file: Some("hybrid.bin".into()),
            tftp_servers: vec![],
            syslog_server: Some("2001:db8::999".parse().unwrap()),
            dss_id: None,
        })
    });
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let adv = unwrap_relay(&adv);
    let m = msg(&adv);
    let subs = assert_eue_valid(&m);
    assert_eq!(subs[1].1[0], 1, "IPv6 provisioning server type");
    assert_eq!(subs[2].1[..7], [6, b'H', b'Y', b'B', b'R', b'I', b'D']);
    let cl = cl_sub(&m);
    assert_eq!(cl.iter().find(|(c, _)| *c == 33).unwrap().1, b"hybrid.bin");
    let sys = &cl.iter().find(|(c, _)| *c == 34).unwrap().1;
    assert_eq!(
        &sys[..16],
        &"2001:db8::999".parse::<Ipv6Addr>().unwrap().octets()
    );
    // The hook saw the device the DHCPv4 path would give it.
    let dev = hooks.seen.lock()[0].clone();
    assert_eq!(dev.mac, "00:10:18:aa:00:02");
    assert_eq!(dev.family, "pktc");
    assert_eq!(dev.vendor_oro, vec![32, 33, 34, 2171]);
    assert_eq!(dev.supported_flows, vec!["secure", "hybrid", "basic"]);
    assert_eq!(dev.device_type, "EDVA");
    assert!(dev.in_domain("emta"), "{:?}", dev.domains);
    assert_eq!(dev.modem.as_ref().map(|m| m.id.as_str()), None);
    assert_eq!(dev.remote_id, CM_MAC.to_vec());
    assert_eq!(dev.relay, Some(std::net::IpAddr::V6(LINK)));
    assert!(dev.requested_options.contains(&code::VENDOR_OPTS));

    let (adv, _) = exchange(&e, &solicit_eue(&[0, 0x10, 0x18, 0xaa, 0, 3], false));
    let adv = unwrap_relay(&adv);
    let subs = assert_eue_valid(&msg(&adv));
    assert_eq!(subs[1].1, b"0.0.0.0");
    let m = msg(&adv);
    let (_, o17) = m
        .options
        .iter()
        .find(|(c, _)| *c == code::VENDOR_OPTS)
        .unwrap();
    let typed = ClVendorOptionsV6::from_option17(o17).unwrap().unwrap();
    assert!(typed.cccv6.unwrap().provisioning_disabled());
    assert!(e.server.counters().hook_fallbacks().is_empty());
}

#[test]
fn failing_flow_hook_falls_back_to_the_configured_flow_and_is_counted() {
    let mut e = env();
    let hooks = install_hooks(&mut e, |_| None);
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let subs = assert_eue_valid(&msg(&unwrap_relay(&adv)));
    // [dhcpv6] provisioning_server = prov.example.net (type 0), realm BASIC.1.
    assert_eq!(subs[1].1[..2], [0, 4]);
    assert_eq!(subs[2].1, b"\x05BASIC\x011\x00");
    assert_eq!(hooks.seen.lock().len(), 1);
    assert_eq!(
        e.server
            .counters()
            .hook_fallbacks()
            .get(&("flow-select", "trap".to_string())),
        Some(&1)
    );
    // A cable modem is not an eUE: the hook is not asked.
    let mut b = Builder::message(MessageType::Solicit, 7);
    b.client_id(&duid_ll(&CM_MAC)).unwrap();
    b.ia_na(1, 0, 0, |_| Ok(())).unwrap();
    b.vendor_class(4491, &[b"docsis3.0"]).unwrap();
    let mut vo = Vec::new();
    tlv(&mut vo, 1, &[0x08, 0x7b]);
    b.vendor_opts(4491, &vo).unwrap();
    let _ = exchange(&e, &relay_forward(&b.finish(), 0, None));
    assert_eq!(hooks.seen.lock().len(), 1);
}

#[test]
fn decline_quarantines_release_frees_confirm_checks_link() {
    let e = env();
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let adv = unwrap_relay(&adv);
    let m = msg(&adv);
    let addr = ia_addr(&m).unwrap();
    let sid = m.options.get(code::SERVERID).unwrap().to_vec();
    let mut b = Builder::message(MessageType::Request, 2);
    eue_options(&mut b, &EUE_MAC);
    b.server_id(&sid).unwrap();
    exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));

    let with_ia = |t: MessageType, a: Ipv6Addr, sid: Option<&[u8]>| {
        let mut b = Builder::message(t, 3);
        b.client_id(&duid_ll(&EUE_MAC)).unwrap();
        if let Some(s) = sid {
            b.server_id(s).unwrap();
        }
        b.ia_na(1, 0, 0, |ib| {
            ib.ia_addr(a, 0, 0)?;
            Ok(())
        })
        .unwrap();
        relay_forward(&b.finish(), 0, Some(&CM_MAC))
    };
    // CONFIRM on link and off link.
    let (c, _) = exchange(&e, &with_ia(MessageType::Confirm, addr, None));
    let c = unwrap_relay(&c);
    assert_eq!(
        msg(&c).options.status_code().unwrap().unwrap().status,
        Status::Success
    );
    let (c, _) = exchange(
        &e,
        &with_ia(MessageType::Confirm, "2001:db8:9::1".parse().unwrap(), None),
    );
    let c = unwrap_relay(&c);
    assert_eq!(
        msg(&c).options.status_code().unwrap().unwrap().status,
        Status::NotOnLink
    );
    // DECLINE: quarantined and on record against the device.
    exchange(&e, &with_ia(MessageType::Decline, addr, Some(&sid)));
    let l = e.store.leases6_by_duid(&duid_ll(&EUE_MAC)).unwrap();
    assert_eq!(l[0].state, LeaseState::Declined);
    assert_eq!(l[0].mac.as_deref(), Some(&EUE_MAC[..]));
    assert_eq!(v6(&e).counters.get_in(Family::Dhcpv6, Event::Decline), 1);
    // One counter set: the DHCPv6 DECLINE is not a DHCPv4 one.
    assert_eq!(e.server.counters().get(Event::Decline), 0);
    let mut m = headend_server::metrics::Metrics::new();
    e.server.counters().collect(&mut m);
    assert_eq!(
        m.value(
            "dhcp_events_total",
            &[("family", "dhcpv6"), ("event", "decline")]
        ),
        1
    );
    // A new SOLICIT from the same eUE does not get the declined address.
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let adv = unwrap_relay(&adv);
    let new = ia_addr(&msg(&adv)).unwrap();
    assert_ne!(new, addr);
    // RENEW of an unknown IA: NoBinding.
    let (r, _) = exchange(
        &e,
        &with_ia(
            MessageType::Renew,
            "2001:db8:2::77".parse().unwrap(),
            Some(&sid),
        ),
    );
    let r = unwrap_relay(&r);
    let m = msg(&r);
    let ia = m.options.ia_nas().next().unwrap().unwrap();
    assert_eq!(ia.status_code().unwrap().unwrap().status, Status::NoBinding);
    // A REQUEST for another server is ignored.
    let mut b = Builder::message(MessageType::Request, 4);
    eue_options(&mut b, &EUE_MAC);
    b.server_id(&[0, 3, 0, 1, 1, 2, 3, 4, 5, 6]).unwrap();
    assert!(matches!(
        handle(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC))),
        Outcome6::Silent("other_server")
    ));
}

#[test]
fn server_duid_is_generated_once_and_kept() {
    let store = Arc::new(MemoryStore::new());
    let d1 = v6(&env_with(store.clone())).server_duid().to_vec();
    assert_eq!(d1.len(), 14);
    assert_eq!(&d1[..4], &[0, 1, 0, 1]);
    assert_eq!(
        store.meta(headend_store::META_SERVER_DUID).unwrap(),
        Some(d1.clone())
    );
    let d2 = v6(&env_with(store.clone())).server_duid().to_vec();
    assert_eq!(d1, d2);
}

#[test]
fn bindings_survive_a_restart_and_renew_keeps_the_address() {
    let store = Arc::new(MemoryStore::new());
    let e = env_with(store.clone());
    let cpe = [0x02, 0, 0, 0, 0, 1];
    let mut b = Builder::message(MessageType::Solicit, 1);
    b.client_id(&duid_ll(&cpe)).unwrap();
    b.ia_na(5, 0, 0, |_| Ok(())).unwrap();
    b.rapid_commit().unwrap();
    let (p, _) = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    let addr = ia_addr(&msg(&unwrap_relay(&p))).unwrap();
    let sid = v6(&e).server_duid().to_vec();
    drop(e);
    let e = env_with(store);
    let mut b = Builder::message(MessageType::Renew, 2);
    b.client_id(&duid_ll(&cpe)).unwrap();
    b.server_id(&sid).unwrap();
    b.ia_na(5, 0, 0, |ib| {
        ib.ia_addr(addr, 0, 0)?;
        Ok(())
    })
    .unwrap();
    let (p, _) = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    assert_eq!(ia_addr(&msg(&unwrap_relay(&p))), Some(addr));
}

#[test]
fn bad_input_is_dropped_and_counted_never_a_panic() {
    let e = env();
    let inner = {
        let mut b = Builder::message(MessageType::Solicit, 1);
        eue_options(&mut b, &EUE_MAC);
        b.finish()
    };
    // Nine relay layers: deeper than the configured 8 (RFC 8415 HOP_COUNT_LIMIT).
    let mut pkt = inner.clone();
    for h in 0..9u8 {
        pkt = relay_forward(&pkt, h, None);
    }
    assert!(matches!(handle(&e, &pkt), Outcome6::Drop(_)));
    // Oversize.
    assert!(matches!(
        handle(&e, &vec![1u8; 9000]),
        Outcome6::Drop("oversize")
    ));
    // Truncated, bad option framing, server message type, missing client id.
    assert!(matches!(handle(&e, &[1, 0]), Outcome6::Drop(_)));
    assert!(matches!(
        handle(&e, &[1, 0, 0, 1, 0, 1, 0, 9, 1]),
        Outcome6::Drop(_)
    ));
    assert!(matches!(
        handle(&e, &[2, 0, 0, 1]),
        Outcome6::Drop("not_client_message")
    ));
    assert!(matches!(
        handle(&e, &[1, 0, 0, 1]),
        Outcome6::Drop("missing_client_id")
    ));
    // Malformed CableLabs sub-options inside a well-framed option 17.
    let mut b = Builder::message(MessageType::Solicit, 1);
    b.client_id(&duid_ll(&EUE_MAC)).unwrap();
    let mut vo = Vec::new();
    tlv(&mut vo, 35, &[1, 9, 9]);
    b.vendor_opts(4491, &vo).unwrap();
    assert!(matches!(
        handle(&e, &b.finish()),
        Outcome6::Drop("bad_cl_capabilities")
    ));
    // Random bytes: never a panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..2000usize {
        let mut buf = Vec::with_capacity(len % 300);
        for _ in 0..len % 300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(x as u8);
        }
        if let Some(f) = buf.first_mut() {
            *f = [1u8, 3, 5, 6, 8, 9, 11, 12][len % 8];
        }
        let _ = handle(&e, &buf);
    }
    let _ = Mutation::DeleteLease6;
}

#[test]
fn ended_bindings_leave_memory_and_the_store() {
    // Issue 21: expired bindings were dropped from memory by a scan of the
    // whole table every second and never deleted from the store.
    let e = env();
    let committer = Arc::new(headend_store::GroupCommitter::start(
        e.store.clone(),
        headend_store::group::GroupOptions::default(),
    ));
    v6(&e).set_committer(committer.clone());
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let adv = unwrap_relay(&adv);
    let sid = msg(&adv).options.server_id().unwrap().unwrap().to_bytes();
    let mut b = Builder::message(MessageType::Request, 0x00_1235);
    b.server_id(&sid).unwrap();
    eue_options(&mut b, &EUE_MAC);
    let _ = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    assert_eq!(e.store.load_leases6().unwrap().len(), 1);
    assert_eq!(v6(&e).sweep(), 0, "nothing ended yet");
    let valid = e.store.load_leases6().unwrap()[0].valid;
    e.now.fetch_add(u64::from(valid) + 1, Ordering::SeqCst);
    assert_eq!(v6(&e).sweep(), 1);
    committer.flush_blocking().unwrap();
    assert_eq!(v6(&e).leases.lock().len(), 0);
    assert!(e.store.load_leases6().unwrap().is_empty());
}

#[test]
fn bindings_gauge_counts_the_table() {
    let e = env();
    let gauge = |e: &Env| {
        let mut m = headend_server::metrics::Metrics::new();
        headend_server::component::Component::metrics(v6(e).as_ref(), &mut m);
        m.samples()
            .iter()
            .find(|s| s.name == "leases_active")
            .map(|s| s.value)
    };
    assert_eq!(gauge(&e), Some(0));
    let (adv, _) = exchange(&e, &solicit_eue(&EUE_MAC, false));
    let adv = unwrap_relay(&adv);
    let sid = msg(&adv).options.server_id().unwrap().unwrap().to_bytes();
    let mut b = Builder::message(MessageType::Request, 0x00_1235);
    b.server_id(&sid).unwrap();
    eue_options(&mut b, &EUE_MAC);
    let _ = exchange(&e, &relay_forward(&b.finish(), 0, Some(&CM_MAC)));
    assert_eq!(gauge(&e), Some(1));
}
