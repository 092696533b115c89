//! Byte vectors from RFC 5424 section 6.5, RFC 3164 section 5.4, the
//! management-event forms of protocol notes 8 and 12.4, and lines captured
//! from util-linux `logger` 2.38; a round-trip property over [`MemLine`] and a
//! never-reject property over every line with a valid PRI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::prelude::*;

const MAC: Mac = [0x00, 0x10, 0x95, 0x12, 0x34, 0x56];

fn dec(s: &str) -> MemMessage {
    decode(s.as_bytes(), 2026).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn rfc5424_section_6_5_examples() {
    // Example 1, with the BOM before the MSG.
    let mut ex1 = b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ".to_vec();
    ex1.extend_from_slice(&[0xef, 0xbb, 0xbf]);
    ex1.extend_from_slice(b"'su root' failed for lonvick on /dev/pts/8");
    let m = decode(&ex1, 2026).unwrap();
    assert_eq!(m.header.format, Format::Rfc5424);
    assert_eq!((m.header.facility, m.header.severity), (4, 2));
    assert_eq!(m.level, Level::Critical);
    assert_eq!(m.header.hostname.as_deref(), Some("mymachine.example.com"));
    assert_eq!(m.header.app.as_deref(), Some("su"));
    assert_eq!(m.header.procid, None);
    assert_eq!(m.header.msgid.as_deref(), Some("ID47"));
    assert_eq!(
        m.header.timestamp.map(|t| t.timestamp_millis()),
        Some(1_065_910_455_003)
    );
    assert_eq!(m.text, "'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(m.event_id, None, "no event id in a plain line");

    // Example 2: a PROCID, no MSGID, a negative offset.
    let m = dec("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
    assert_eq!((m.header.facility, m.header.severity), (20, 5));
    assert_eq!(m.level, Level::Warning);
    assert_eq!(m.header.procid.as_deref(), Some("8710"));
    assert_eq!(
        m.vendor, None,
        "an RFC 5424 PROCID is a process, not a vendor"
    );
    assert_eq!(
        m.header.timestamp.map(|t| t.timestamp()),
        Some(1_061_727_255)
    );
    assert_eq!(m.text, "%% It's time to make the do-nuts.");

    // Example 3: structured data with an enterprise number and an event id.
    let m = dec(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#,
    );
    assert_eq!(m.header.structured.len(), 1);
    assert_eq!(m.header.structured[0].id, "exampleSDID@32473");
    assert_eq!(m.enterprise, Some(32473));
    assert_eq!(m.event_id, Some(1011));
    assert_eq!(m.text, "An application event log entry...");

    // Example 4: two SD elements and no MSG.
    let m = dec(
        r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#,
    );
    assert_eq!(m.header.structured.len(), 2);
    assert_eq!(
        m.header.structured[1].params,
        [("class".into(), "high".into())]
    );
    assert_eq!(m.text, "");
}

#[test]
fn rfc3164_section_5_4_examples() {
    let m = dec("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    assert_eq!(m.header.format, Format::Rfc3164);
    assert_eq!((m.header.facility, m.header.severity), (4, 2));
    assert_eq!(m.header.hostname.as_deref(), Some("mymachine"));
    assert_eq!(m.header.app.as_deref(), Some("su"));
    // No year on the wire: the caller's year, read as UTC.
    assert_eq!(
        m.header.timestamp.map(|t| t.to_rfc3339()),
        Some("2026-10-11T22:14:15+00:00".into())
    );
    assert_eq!(m.text, "'su root' failed for lonvick on /dev/pts/8");

    // "Use the BFG!" has no PRI: a relay would add <13>, a collector has
    // no syslog message to decode.
    assert_eq!(decode(b"Use the BFG!", 2026), Err(DecodeError::NoPri));

    // The odd ones decode (never rejected) with their PRI.
    for line in [
        "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  Ingredients: Mix=OK, Jelly=OK # Devices: Mixer=OK, Jelly_Injector=OK, Frier=OK # Transport: Conveyer1=OK, Conveyer2=OK # %%",
        "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
        "<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!",
    ] {
        let m = dec(line);
        assert_eq!(m.raw, line);
        assert!(m.text.contains("do-nuts") || m.text.contains("Folks"), "{m:?}");
        assert_eq!(m.mac, None, "{m:?}");
    }
    let m = dec("<0>Oct 22 10:52:12 scapegoat 1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!");
    assert_eq!((m.header.facility, m.header.severity), (0, 0));
}

#[test]
fn cisco_cmts_docsis_event_form() {
    // protocol notes 12.4 (rlaager/docsis issue 24), with a real MAC.
    let m = dec("<133>CMTS[DOCSIS]:<73011700> Invalid Modem Capabilities configuration setting . CM Mac Addr <0010.9512.3456>");
    assert_eq!(m.header.format, Format::Rfc3164);
    assert_eq!((m.header.facility, m.header.severity), (16, 5));
    assert_eq!(m.header.app.as_deref(), Some("CMTS"));
    assert_eq!(m.vendor.as_deref(), Some("DOCSIS"));
    assert_eq!(m.enterprise, Some(CABLELABS_ENTERPRISE));
    assert_eq!(m.event_id, Some(73_011_700));
    assert_eq!(m.mac, Some(MAC));
    assert_eq!(
        m.text,
        "Invalid Modem Capabilities configuration setting . CM Mac Addr <0010.9512.3456>"
    );
}

#[test]
fn rdk_b_cable_modem_form() {
    let m = dec("<3>CABLEMODEM[Technicolor]:<72000000><Jan 01 00:00:12 2019><00:10:95:12:34:56><TG3482G> T3 time-out");
    assert_eq!(m.header.app.as_deref(), Some("CABLEMODEM"));
    assert_eq!(m.vendor.as_deref(), Some("Technicolor"));
    assert_eq!(
        m.enterprise, None,
        "a vendor name is not an enterprise number"
    );
    assert_eq!(m.event_id, Some(72_000_000));
    assert_eq!(m.mac, Some(MAC));
    assert_eq!(m.level, Level::Major);
    assert_eq!(m.text, "T3 time-out");
}

#[test]
fn docsis_event_log_trailer() {
    let m = dec("<132>Dec  5 16:20:01 cm01 CABLEMODEM[DOCSIS]: <82000200> No Ranging Response received - T3 time-out;CM-MAC=00:10:95:12:34:56;CMTS-MAC=00:01:5c:aa:bb:cc;CM-QOS=1.1;CM-VER=3.1;");
    assert_eq!(m.header.hostname.as_deref(), Some("cm01"));
    assert_eq!(m.event_id, Some(82_000_200));
    assert_eq!(m.mac, Some(MAC));
    assert_eq!(m.cmts_mac, Some([0x00, 0x01, 0x5c, 0xaa, 0xbb, 0xcc]));
    assert_eq!(m.text, "No Ranging Response received - T3 time-out");
    assert_eq!(m.fields.len(), 4);
    assert_eq!(m.fields[2], ("CM-QOS".into(), "1.1".into()));
    // The CMTS MAC alone is never the device's.
    let m = dec("<132>CMTS[DOCSIS]:<82000200> T3 time-out;CMTS-MAC=00:01:5c:aa:bb:cc;");
    assert_eq!(m.mac, None);
    assert!(m.cmts_mac.is_some());
}

#[test]
fn lines_captured_from_util_linux_logger() {
    // logger --udp --rfc3164 -t MTA -p local0.err '<4000950900> CM-MAC=… hello'
    let m = dec("<131>Dec  5 16:15:30 vm MTA: <4000950900> CM-MAC=00:10:95:0e:00:07 hello");
    assert_eq!(m.header.app.as_deref(), Some("MTA"));
    assert_eq!(m.event_id, Some(4_000_950_900));
    assert_eq!(m.mac, Some([0x00, 0x10, 0x95, 0x0e, 0x00, 0x07]));
    assert_eq!(m.level, Level::Major);
    // logger --udp --rfc5424 -t MTA --id=77 --msgid EV --sd-id pktcEvent@4491 --sd-param 'id="1"'
    let m = dec(
        r#"<131>1 2026-12-05T16:15:30.098661+00:00 vm MTA 77 EV [timeQuality tzKnown="1" isSynced="0"][pktcEvent@4491 id="1"] msg <42>"#,
    );
    assert_eq!(m.header.format, Format::Rfc5424);
    assert_eq!(m.header.procid.as_deref(), Some("77"));
    assert_eq!(
        m.enterprise,
        Some(4491),
        "timeQuality carries no enterprise"
    );
    assert_eq!(m.event_id, Some(1));
    assert_eq!(m.text, "msg <42>");
    // logger --rfc5424=notq,notime,nohost with an event id as MSGID.
    let m = dec("<131>1 - - MTA - 4000950901 - provisioning complete pass MAC 00109512abcd");
    assert_eq!(m.event_id, Some(4_000_950_901));
    assert_eq!(m.mac, Some([0x00, 0x10, 0x95, 0x12, 0xab, 0xcd]));
}

#[test]
fn mac_spellings() {
    for s in [
        "00:10:95:12:34:56",
        "00-10-95-12-34-56",
        "0010.9512.3456",
        "00:10:95:12:34:56.",
    ] {
        let m = dec(&format!("<14>MTA: <1> device {s} rebooted"));
        assert_eq!(m.mac, Some(MAC), "{s}");
    }
    for s in [
        "MAC 001095123456",
        "MAC=001095123456",
        "CM-MAC: 001095123456",
        "mac address 001095123456",
    ] {
        let m = dec(&format!("<14>MTA: <1> {s} rebooted"));
        assert_eq!(m.mac, Some(MAC), "{s}");
    }
    // 12 hex digits that no MAC keyword introduces are not a MAC.
    assert_eq!(dec("<14>MTA: <1> serial 001095123456 rebooted").mac, None);
    assert_eq!(mac_any("00:10:95:12:34"), None);
    assert_eq!(mac_any("00:10:95:12:34:5g"), None);
    assert_eq!(mac_string(&MAC), "00:10:95:12:34:56");
}

#[test]
fn event_id_forms_endpoint_and_levels() {
    assert_eq!(
        dec("<14>MTA: 4000950900 provisioning complete").event_id,
        Some(4_000_950_900)
    );
    assert_eq!(
        dec("<14>MTA: 4000950 short number").event_id,
        None,
        "7 digits is not an id"
    );
    assert_eq!(dec("<14>MTA: EventId=17 x").event_id, Some(17));
    assert_eq!(dec("<14>MTA: event id 18 x").event_id, Some(18));
    assert_eq!(dec("<14>MTA: <99999999999> too big").event_id, None);
    let m = dec("<11>MTA[PACKETCABLE]: <4000950900> off hook on aaln/1@mta.example.net");
    assert_eq!(m.endpoint.as_deref(), Some("aaln/1@mta.example.net"));
    assert_eq!(m.enterprise, Some(4491));
    let m = dec("<11>MTA[PACKETCABLE]: <1> x endpoint=aaln/2");
    assert_eq!(m.endpoint.as_deref(), Some("aaln/2"));
    // RFC 5424 SD: explicit level wins over the severity; endpoint; MAC.
    let m = dec(
        r#"<134>1 - - MTA - - [pktcEvent@4491 id="4000950901" level="major" mac="00-10-95-12-34-56" endpointName="aaln/1"] pass"#,
    );
    assert_eq!(m.level, Level::Major);
    assert_eq!(m.event_id, Some(4_000_950_901));
    assert_eq!(m.mac, Some(MAC));
    assert_eq!(m.endpoint.as_deref(), Some("aaln/1"));
    for (sev, level) in [
        (0, Level::Critical),
        (1, Level::Critical),
        (2, Level::Critical),
        (3, Level::Major),
        (4, Level::Minor),
        (5, Level::Warning),
        (6, Level::Information),
        (7, Level::Information),
    ] {
        assert_eq!(Level::from_severity(sev), level);
        assert_eq!(dec(&format!("<{}>x", 128 + sev)).level, level);
    }
    for l in [
        Level::Critical,
        Level::Major,
        Level::Minor,
        Level::Warning,
        Level::Information,
    ] {
        assert_eq!(Level::from_severity(l.severity()), l);
        assert_eq!(Level::parse(l.name()), Some(l));
    }
}

#[test]
fn rejects_only_what_has_no_syslog_framing() {
    assert_eq!(decode(b"", 2026), Err(DecodeError::Empty));
    assert_eq!(decode(b"\n\0", 2026), Err(DecodeError::Empty));
    assert_eq!(decode(b"<192>x", 2026), Err(DecodeError::NoPri));
    assert_eq!(decode(b"<>x", 2026), Err(DecodeError::NoPri));
    assert_eq!(decode(b"<1234>x", 2026), Err(DecodeError::NoPri));
    assert_eq!(decode(b"\x00\x01\x02binary", 2026), Err(DecodeError::NoPri));
    let big = vec![b'a'; MAX_DATAGRAM + 1];
    assert_eq!(
        decode(&big, 2026),
        Err(DecodeError::TooLong(MAX_DATAGRAM + 1))
    );
    // Leading zeros in the PRI (found by the fuzzer): accepted.
    assert_eq!(dec("<033>x").header.facility, 4);
    // A PRI alone, invalid UTF-8, a trailing newline: all decode.
    assert_eq!(dec("<191>").header.severity, 7);
    let m = decode(b"<14>MTA: <5> caf\xff\n", 2026).unwrap();
    assert_eq!(m.event_id, Some(5));
    assert_eq!(m.text, "caf\u{fffd}");
    assert_eq!(m.raw, "<14>MTA: <5> caf\u{fffd}");
}

fn mem_line() -> impl Strategy<Value = MemLine> {
    let word = "[g-z]{1,8}";
    (
        0u8..24,
        prop_oneof![
            Just(Level::Critical),
            Just(Level::Major),
            Just(Level::Minor),
            Just(Level::Warning),
            Just(Level::Information),
        ],
        "[A-Z]{1,12}",
        proptest::option::of("[A-Z]{1,12}"),
        any::<u32>(),
        proptest::option::of(any::<[u8; 6]>()),
        proptest::collection::vec(word, 0..6),
    )
        .prop_map(
            |(facility, level, tag, vendor, event_id, mac, words)| MemLine {
                facility,
                level,
                tag,
                vendor,
                event_id,
                mac,
                text: words.join(" "),
            },
        )
}

proptest! {
    #[test]
    fn encoded_events_decode_to_their_fields(line in mem_line()) {
        for format in [Format::Rfc3164, Format::Rfc5424] {
            let wire = line.encode(format);
            let m = decode(wire.as_bytes(), 2026).unwrap();
            prop_assert_eq!(m.header.format, format, "{}", wire);
            prop_assert_eq!(m.header.facility, line.facility);
            prop_assert_eq!(m.header.app.as_deref(), Some(line.tag.as_str()));
            prop_assert_eq!(m.event_id, Some(line.event_id), "{}", wire);
            prop_assert_eq!(m.level, line.level);
            prop_assert_eq!(m.mac, line.mac, "{}", wire);
            prop_assert_eq!(&m.text, &line.text, "{}", wire);
            prop_assert_eq!(&m.raw, &wire);
            if format == Format::Rfc3164 {
                prop_assert_eq!(&m.vendor, &line.vendor);
            }
        }
    }

    #[test]
    fn any_line_with_a_pri_decodes(pri in 0u8..192, rest in "\\PC{0,200}") {
        let line = format!("<{pri}>{rest}");
        let m = decode(line.as_bytes(), 2026);
        prop_assert!(m.is_ok() || line.trim_matches(|c: char| c == '\0' || c.is_whitespace()).is_empty(), "{:?}", m);
        if let Ok(m) = m {
            prop_assert_eq!(m.header.facility * 8 + m.header.severity, pri);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&data, 2026);
    }
}
