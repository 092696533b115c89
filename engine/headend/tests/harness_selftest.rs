//! Self-tests of the peer-test harness (tests/common): perfdhcp report parsing, bounds,
//! and the tshark / dhclient output readers, on output captured from Kea 2.2's perfdhcp,
//! tshark 4.0 and dhclient 4.4 (shared/docs/peers.md §3.3, §4, §11).

use crate::common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{
    decode_problems, hex_of, hook_blocks, mac_from_u64, split_frames, udp_counter, PerfReport,
    Perfdhcp,
};

const KEA_REPORT: &str =
    "Running: perfdhcp -4 -l 127.0.0.2 -r 10 -R 5 -n 6 -W 500000 -x l 127.0.0.1
Scenario: basic.
Multi-thread mode enabled.
***Rate statistics***
Rate: 5.45007 4-way exchanges/second, expected rate: 10

***Malformed Packets***
Malformed packets: 0
***Statistics for: DISCOVER-OFFER***
sent packets: 6
received packets: 6
drops: 0
drops ratio: 0 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.373 ms
avg delay: 0.464 ms
max delay: 0.622 ms
std deviation: 0.095 ms
collected packets: 0

***Statistics for: REQUEST-ACK***
sent packets: 6
received packets: 5
drops: 1
drops ratio: 16.667 %
orphans: 0
rejected leases: 0
non unique addresses: 0

min delay: 0.277 ms
avg delay: 0.368 ms
max delay: 0.518 ms
std deviation: 0.080 ms
collected packets: 0

***Leases for DISCOVER-OFFER***
client_id,adrress,prefix
01000c01020304,10.10.0.10,
01000c01020305,10.10.0.11,

***Leases for REQUEST-ACK***
client_id,adrress,prefix
01000c01020304,10.10.0.10,
01000c01020305,10.10.0.11,
01000c01020304,10.10.0.10,

";

#[test]
fn parses_perfdhcp_report() {
    let r = PerfReport::parse(KEA_REPORT).unwrap();
    assert!((r.rate - 5.45007).abs() < 1e-9);
    assert_eq!(r.discover_offer.sent, 6);
    assert_eq!(r.discover_offer.received, 6);
    assert_eq!(r.request_ack.received, 5);
    assert_eq!(r.request_ack.drops, 1);
    assert!((r.request_ack.drops_ratio_pct - 16.667).abs() < 1e-9);
    assert!((r.discover_offer.avg_delay_ms - 0.464).abs() < 1e-9);
    assert!(r.discover_offer.completed(999));
    assert!(!r.request_ack.completed(999));
    assert_eq!(r.leases.len(), 3);
    let map = r.lease_map().unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(map["01000c01020305"], Ipv4Addr::new(10, 10, 0, 11));
}

#[test]
fn report_without_statistics_is_an_error() {
    assert!(PerfReport::parse(
        "ERROR: running perfdhcp: Failed to bind socket 3 to 127.0.0.2/port=67"
    )
    .is_err());
}

#[test]
fn lease_map_rejects_an_address_given_twice() {
    let r = PerfReport {
        leases: vec![
            ("01aa".into(), Ipv4Addr::new(10, 10, 0, 10)),
            ("01bb".into(), Ipv4Addr::new(10, 10, 0, 10)),
        ],
        ..PerfReport::default()
    };
    assert!(r.lease_map().is_err());
}

#[test]
fn lease_map_names_a_missing_client_identifier() {
    let r = PerfReport {
        leases: vec![(String::new(), Ipv4Addr::new(10, 10, 0, 10))],
        ..PerfReport::default()
    };
    let e = format!("{:#}", r.lease_map().unwrap_err());
    assert!(e.contains("RFC 6842"), "{e}");
}

#[test]
fn perfdhcp_must_be_bounded() {
    assert!(Perfdhcp::new(500, 10).time_bound().is_err());
    assert!(Perfdhcp::new(0, 10).period(5).time_bound().is_err());
    let b = Perfdhcp::new(500, 10).period(5).time_bound().unwrap();
    assert_eq!(b, Duration::from_secs(11));
    let b = Perfdhcp::new(500, 10).exchanges(1000).time_bound().unwrap();
    assert_eq!(b, Duration::from_secs(8));
}

#[test]
fn perfdhcp_puts_options_after_the_family_flag() {
    let a = Perfdhcp::new(10, 1)
        .exchanges(3)
        .option(60, "646f6373")
        .args("127.0.0.2", "127.0.0.1");
    assert_eq!(a.first().map(String::as_str), Some("-4"));
    let o = a.iter().position(|x| x == "-o").unwrap();
    assert_eq!(a[o + 1], "60,646f6373");
    assert_eq!(a.last().map(String::as_str), Some("127.0.0.1"));
}

#[test]
fn reads_udp_counters() {
    let snmp = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\nUdp: 10 0 7 10 5 0 0 0 0\n";
    assert_eq!(udp_counter(snmp, "RcvbufErrors").unwrap(), 5);
    assert_eq!(udp_counter(snmp, "InErrors").unwrap(), 7);
    assert!(udp_counter(snmp, "Nope").is_err());
}

#[test]
fn formats_macs_and_hex() {
    assert_eq!(mac_from_u64(0x000c_0100_1000), "00:0c:01:00:10:00");
    assert_eq!(mac_from_u64(0x000c_0100_1000 - 512), "00:0c:01:00:0e:00");
    assert_eq!(
        hex_of("docsis3.0:0501010601"),
        "646f63736973332e303a30353031303130363031"
    );
}

#[test]
fn finds_decode_problems() {
    let v = "    Option: (122) CableLabs Client Configuration\n        Suboption: TSP's Primary DHCP Server (1): 10.0.0.1 (5 bytes [Invalid])\n        [Expert Info (Error/Protocol): Suboption 2: no room left in option for suboption length]\n        [Expert Info (Note/Sequence): fine]\n";
    let p = decode_problems(v);
    assert_eq!(p.len(), 2);
    assert!(decode_problems("    Option: (125) V-I Vendor-specific Information\n").is_empty());
}

#[test]
fn splits_hook_log_into_complete_blocks() {
    let log = "=== reason=PREINIT\nreason=PREINIT\ninterface=vc0\n=== end\n=== reason=BOUND\nreason=BOUND\nnew_ip_address=192.0.2.100\n=== end\n=== reason=RENEW\nreason=RENEW\n";
    let b = hook_blocks(log);
    assert_eq!(b.len(), 2);
    assert_eq!(b[1]["new_ip_address"], "192.0.2.100");
}

#[test]
fn splits_tshark_frames() {
    let v = "Frame 1: 339 bytes\n  a\nFrame 2: 358 bytes\n  b\n";
    let f = split_frames(v);
    assert_eq!(f.len(), 2);
    assert!(f[1].contains("  b"));
}
