//! One provisioning core for DHCPv4 and DHCPv6: the same E-UE (same MAC,
//! same vendor class) gets the same type id, account, domains and
//! policy-driven options whichever family it boots over, and one
//! `[[policy]]` carrying options of both spaces serves both (seed 004
//! sections 5.7, 5.8, 5.10; seed 000 Tables 2 and 6).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;
use crate::eue6;

use std::net::{Ipv6Addr, SocketAddrV6};

use headend_model::trace::Trace;
use headend_server::dhcpv6::Outcome6;
use headend_wire::dhcpv6::code;
use headend_wire::dhcpv6::{parse, Builder, MessageType as V6Type, Packet};

use common::{bed, dora, Req};
use eue6::{eue1_options, relay_forward, CM_MAC};

const EUE_MAC: [u8; 6] = [0x00, 0x10, 0x18, 0xee, 0x00, 0x07];

/// Both families, one `[[vendor_class]]`, one voice domain, one policy with
/// DHCPv4 and DHCPv6 options (literals and expressions reading the type id),
/// and an optional policy whose options go only where requested.
const CONFIG: &str = r#"
[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:0"]

[dhcpv6]
listen = ["[::1]:0"]
dss_id = "core-test"

[provisioning]
auto_provision = { expr = '''
    if device.typeid == 777 { ["voice"] } else { [] }
''' }

[[vendor_class]]
name = "acme-eue"
typeid = 777
prefix = "pktc2"
match = 'device.family == "pktc"'

[[domain]]
name = "voice"

[[pool]]
name = "voice4"
domains = ["voice"]
relays = ["127.0.0.2"]
network = "10.2.0.0/24"
ranges = [["10.2.0.10", "10.2.0.200"]]

[[pool6]]
name = "voice6"
prefix = "2001:db8:2::/64"
links = ["2001:db8:100::1"]
domains = ["voice"]

[[policy]]
name = "voice"
enforced = true
domains = ["voice"]
[policy.options]
domain-name = "voice.example"
log-servers = ["10.0.0.5"]
host-name = { expr = '"t" + device.typeid + "-" + device.type_name' }
"v6.domain-search" = ["voice.example"]
"v6.dns-servers" = ["2001:db8::53"]
"v6.cl-syslog-servers" = ["2001:db8::514"]
"v6.cl-config-file" = { expr = '"t" + device.typeid + "-" + device.type_name + ".bin"' }

[[policy]]
name = "voice-optional"
enforced = false
domains = ["voice"]
[policy.options]
time-offset = 3600
"v6.sntp-servers" = ["2001:db8::123"]
"v6.cl-time-servers" = ["2001:db8::37"]
"#;

fn reply6(outcome: Outcome6) -> Vec<u8> {
    let Outcome6::Reply { packet, .. } = outcome else {
        panic!("no DHCPv6 reply: {outcome:?}");
    };
    let Packet::Relay(r) = parse(&packet).unwrap() else {
        panic!("reply not relayed");
    };
    r.relay_msg().to_vec()
}

#[test]
fn the_same_eue_gets_the_same_type_domains_and_options_over_both_families() {
    let b = bed(CONFIG);

    // DHCPv4: the eUE with option 60 "pktc2.0", asking for 7, 12, 15 (not 2).
    let req = Req::new(EUE_MAC)
        .vendor_class("pktc2.0")
        .prl(&[1, 3, 7, 12, 15]);
    let ack = dora(&b, &req);
    assert!(ack.yiaddr().to_string().starts_with("10.2.0."));
    assert_eq!(ack.opt(12).unwrap(), b"t777-acme-eue");
    assert_eq!(ack.opt(15).unwrap(), b"voice.example");
    assert_eq!(ack.opt(7).unwrap(), vec![10, 0, 0, 5]);
    assert_eq!(ack.opt(2), None, "optional policy: 2 was not requested");
    let account = b.server.dhcpv4().accounts.get("00:10:18:ee:00:07").unwrap();
    assert_eq!(account.domains, vec!["voice".to_string()]);

    // DHCPv6: the same MAC, vendor class item "pktc2.0", the eUE-1 SOLICIT
    // (ORO 39, 23, 17; CL ORO 32, 33, 34, 2171).
    let mut m = Builder::message(V6Type::Solicit, 0x00_0707);
    eue1_options(&mut m, &EUE_MAC, None).unwrap();
    let solicit = relay_forward(&m.finish(), 0, Some(&CM_MAC)).unwrap();
    let mut trace = Trace::enabled();
    let src = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 40547, 0, 0);
    let adv = reply6(b.server.dhcpv6().handle(&solicit, src, &mut trace));
    let notes = trace.notes().join("\n");
    let Packet::Message(adv) = parse(&adv).unwrap() else {
        panic!("nested relay");
    };
    assert_eq!(adv.msg_type, V6Type::Advertise);
    let ia = adv.options.ia_nas().next().unwrap().unwrap();
    let addr = ia.addresses().next().unwrap().unwrap().addr;
    assert!(
        "2001:db8:2::/64"
            .parse::<ipnet::Ipv6Net>()
            .unwrap()
            .contains(&addr),
        "{addr} from the voice pool6: the account's domain decided it\n{notes}"
    );
    // The same account (by MAC), not a second one.
    assert!(
        notes.contains("account 00:10:18:ee:00:07"),
        "account found, not re-provisioned:\n{notes}"
    );
    // Enforced v6 options from the policy, requested or not (24 is not in the ORO).
    assert_eq!(
        adv.options.get(code::DNS_SERVERS).unwrap(),
        "2001:db8::53".parse::<Ipv6Addr>().unwrap().octets()
    );
    let search = adv
        .options
        .get(code::DOMAIN_LIST)
        .expect("24 from the enforced policy");
    assert_eq!(search, b"\x05voice\x07example\x00");
    // Optional v6 option not in the ORO: absent.
    assert!(adv.options.get(code::SNTP_SERVERS).is_none());
    // CableLabs sub-options: only those in the CL ORO, values from the policy,
    // and the expression saw the same type id and name as over DHCPv4.
    let vo = adv.options.vendor_opts(4491).unwrap().unwrap();
    let subs: Vec<(u16, Vec<u8>)> = vo.options.iter().map(|(c, v)| (c, v.to_vec())).collect();
    let get = |c: u16| subs.iter().find(|(x, _)| *x == c).map(|(_, v)| v.clone());
    assert_eq!(get(33).unwrap(), b"t777-acme-eue.bin");
    assert_eq!(
        get(34).unwrap(),
        "2001:db8::514".parse::<Ipv6Addr>().unwrap().octets()
    );
    assert!(
        get(37).is_none(),
        "37 is not in the CL ORO (seed 000 Table 6)"
    );
    assert!(notes.contains("(policy \"voice\")"), "{notes}");
}

#[test]
fn a_no_response_policy_silences_both_families() {
    let cfg = CONFIG.replace(
        "[[policy]]\nname = \"voice-optional\"",
        "[[policy]]\nname = \"silence\"\nenforced = true\ndomains = [\"voice\"]\n[policy.options]\n\"server.no-response\" = true\n\n[[policy]]\nname = \"voice-optional\"",
    );
    let b = bed(&cfg);
    let req = Req::new(EUE_MAC).vendor_class("pktc2.0");
    assert!(matches!(
        b.send(&req.discover()),
        headend_server::dhcpv4::Outcome::Silent(_) | headend_server::dhcpv4::Outcome::Drop(_)
    ));
    let mut m = Builder::message(V6Type::Solicit, 0x00_0708);
    eue1_options(&mut m, &EUE_MAC, None).unwrap();
    let solicit = relay_forward(&m.finish(), 0, Some(&CM_MAC)).unwrap();
    let src = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 40547, 0, 0);
    let out = b
        .server
        .dhcpv6()
        .handle(&solicit, src, &mut Trace::disabled());
    assert!(
        matches!(out, Outcome6::Silent("no_response_policy")),
        "{out:?}"
    );
}

/// A `[[pool6]]` carries policies as a `[[pool]]` does: its own options (a
/// pool-specific policy, `pool6:<name>`) and the policies it names come
/// before the domain's, for devices bound from that pool only.
#[test]
fn a_pool6_carries_its_own_and_named_policies() {
    let cfg = CONFIG.replace(
        "domains = [\"voice\"]\n\n[[policy]]\nname = \"voice\"",
        "domains = [\"voice\"]\npolicies = [\"pool-extra\"]\n[pool6.options]\n\"v6.dns-servers\" = [\"2001:db8::99\"]\n\n[[policy]]\nname = \"pool-extra\"\nenforced = true\n[policy.options]\n\"v6.sntp-servers\" = [\"2001:db8::124\"]\n\n[[policy]]\nname = \"voice\"",
    );
    assert_ne!(cfg, CONFIG);
    let b = bed(&cfg);
    let mut m = Builder::message(V6Type::Solicit, 0x00_0709);
    eue1_options(&mut m, &EUE_MAC, None).unwrap();
    let solicit = relay_forward(&m.finish(), 0, Some(&CM_MAC)).unwrap();
    let src = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 40547, 0, 0);
    let mut trace = Trace::enabled();
    let adv = reply6(b.server.dhcpv6().handle(&solicit, src, &mut trace));
    let notes = trace.notes().join("\n");
    let Packet::Message(adv) = parse(&adv).unwrap() else {
        panic!("nested relay");
    };
    // The pool's own option wins over the domain policy's.
    assert_eq!(
        adv.options.get(code::DNS_SERVERS).unwrap(),
        "2001:db8::99".parse::<Ipv6Addr>().unwrap().octets(),
        "{notes}"
    );
    // The named policy (no domain of its own) applies through the pool.
    assert_eq!(
        adv.options.get(code::SNTP_SERVERS).unwrap(),
        "2001:db8::124".parse::<Ipv6Addr>().unwrap().octets(),
        "{notes}"
    );
    assert!(notes.contains("(policy \"pool6:voice6\")"), "{notes}");
    assert!(notes.contains("(policy \"pool-extra\")"), "{notes}");
    // The domain policy still gives what the pool does not override.
    assert_eq!(
        adv.options.get(code::DOMAIN_LIST).unwrap(),
        b"\x05voice\x07example\x00"
    );

    // DHCPv4 devices of the same domain do not get the pool6's policies.
    let ack = dora(
        &b,
        &Req::new(EUE_MAC).vendor_class("pktc2.0").prl(&[1, 3, 42]),
    );
    assert_eq!(ack.opt(42), None, "{:?}", ack.opt(42));
}

/// A pool6 naming a policy that does not exist is a configuration error at
/// its line, as for `[[pool]]`.
#[test]
fn a_pool6_naming_an_unknown_policy_is_rejected_at_its_line() {
    let cfg = CONFIG.replace(
        "domains = [\"voice\"]\n\n[[policy]]\nname = \"voice\"",
        "domains = [\"voice\"]\npolicies = [\"no-such\"]\n\n[[policy]]\nname = \"voice\"",
    );
    let src = headend_model::source::SourceFile::new("t.toml".into(), cfg.clone());
    let err = headend_model::snapshot::Snapshot::from_source(&src, 1)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    let line = cfg.lines().position(|l| l.contains("no-such")).unwrap() + 1;
    assert!(err.contains("unknown policy \"no-such\""), "{err}");
    assert!(err.contains(&format!("t.toml:{line}")), "{err}");
}
