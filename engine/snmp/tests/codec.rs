//! The codec against net-snmp captures (tests/captures/README.md), the
//! authoritative engine's discovery/report/time-window behaviour, and
//! round-trip properties.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use headend_snmp::engine::{Level, LocalEngine, UserConfig, UsmError};
use headend_snmp::message::{flags, ScopedData, UsmParams, USM_SECURITY_MODEL};
use headend_snmp::usm::{AuthProtocol, PrivProtocol};
use headend_snmp::*;
use proptest::prelude::*;

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

const CAP_V2C: &[u8] = include_bytes!("captures/v2c_inform.bin");

#[test]
fn net_snmp_v2c_inform_decodes_and_re_encodes_byte_for_byte() {
    let Message::Community(m) = Message::decode(CAP_V2C).unwrap() else {
        panic!("not v2c")
    };
    assert_eq!(m.version, Version::V2c);
    assert_eq!(m.community, b"public");
    assert_eq!(m.pdu.kind, PduType::Inform);
    let vb = &m.pdu.varbinds;
    assert_eq!(vb.len(), 7);
    assert_eq!(vb[0].oid, oid("1.3.6.1.2.1.1.3.0"));
    assert!(matches!(vb[0].value, Value::TimeTicks(_)));
    assert_eq!(vb[1].value, Value::Oid(oid("1.3.6.1.2.1.140.0.1")));
    assert_eq!(vb[2].value, Value::OctetString(b"eUE lab".to_vec()));
    assert_eq!(vb[4].value, Value::OctetString(b"pktc2.0:".to_vec()));
    assert_eq!(vb[5].oid, oid("1.3.6.1.2.1.2.2.1.6.1"));
    assert_eq!(
        vb[5].value,
        Value::OctetString(vec![0x00, 0x10, 0x95, 0x0e, 0x12, 0x34])
    );
    assert_eq!(vb[6].value, Value::Gauge32(305_419_896));
    assert_eq!(m.encode(), CAP_V2C);
}

fn trap_engine(auth: AuthProtocol, privacy: PrivProtocol, password: &str) -> LocalEngine {
    LocalEngine::new(
        vec![0x80, 0, 0, 0, 1, 2, 3, 4],
        1,
        &[UserConfig {
            name: "trapuser".into(),
            auth: Some((auth, password.into())),
            privacy: Some((privacy, "privpass123".into())),
        }],
        7,
    )
    .unwrap()
}

#[test]
fn net_snmp_v3_auth_priv_frames_verify_and_decrypt() {
    for (file, auth, privacy) in [
        (
            &include_bytes!("captures/v3_sha_aes.bin")[..],
            AuthProtocol::Sha1,
            PrivProtocol::Aes128,
        ),
        (
            &include_bytes!("captures/v3_sha256_aes.bin")[..],
            AuthProtocol::Sha256,
            PrivProtocol::Aes128,
        ),
        (
            &include_bytes!("captures/v3_sha512_aes.bin")[..],
            AuthProtocol::Sha512,
            PrivProtocol::Aes128,
        ),
        (
            &include_bytes!("captures/v3_md5_des.bin")[..],
            AuthProtocol::Md5,
            PrivProtocol::Des,
        ),
    ] {
        let Message::V3(m) = Message::decode(file).unwrap() else {
            panic!("not v3")
        };
        assert_eq!(m.usm.user, b"trapuser");
        assert_eq!(m.usm.auth.len(), auth.mac_len());
        assert!(matches!(m.data, ScopedData::Encrypted(_)));
        let e = trap_engine(auth, privacy, "authpass123");
        let t = m.usm.time;
        let ok = e
            .receive(&m, file, t)
            .unwrap_or_else(|r| panic!("{auth:?}: {r:?}"));
        assert_eq!(ok.security.level, Level::AuthPriv);
        let pdu = &ok.scoped.pdu;
        assert_eq!(pdu.kind, PduType::Trap);
        assert_eq!(
            pdu.get(&oid("1.3.6.1.2.1.140.1.1.8.0")),
            Some(&Value::Integer(1))
        );
        assert_eq!(
            pdu.get(&oid("1.3.6.1.6.3.1.1.4.1.0")),
            Some(&Value::Oid(oid("1.3.6.1.2.1.140.0.2")))
        );
        // Wrong password: wrong digest. Outside the window: refused.
        let bad = trap_engine(auth, privacy, "wrongpass123");
        assert_eq!(
            bad.receive(&m, file, t).unwrap_err().error,
            UsmError::WrongDigest
        );
        assert_eq!(
            e.receive(&m, file, t + 151).unwrap_err().error,
            UsmError::NotInTimeWindow
        );
        assert!(e.receive(&m, file, t + 150).is_ok());
        // One flipped bit anywhere in the message fails the digest (or the decode).
        for i in [0usize, 20, file.len() / 2, file.len() - 1] {
            let mut f = file.to_vec();
            f[i] ^= 1;
            if let Ok(Message::V3(m2)) = Message::decode(&f) {
                assert!(e.receive(&m2, &f, t).is_err(), "bit at {i} accepted");
            }
        }
    }
}

fn our_engine() -> LocalEngine {
    LocalEngine::new(
        vec![0x80, 0, 0x1f, 0x88, 4, b'h', b'e'],
        3,
        &[
            UserConfig {
                name: "informuser".into(),
                auth: Some((AuthProtocol::Sha1, "authpass123".into())),
                privacy: Some((PrivProtocol::Aes128, "privpass123".into())),
            },
            UserConfig {
                name: "authonly".into(),
                auth: Some((AuthProtocol::Md5, "authpass123".into())),
                privacy: None,
            },
        ],
        1,
    )
    .unwrap()
}

#[test]
fn discovery_gets_an_unknown_engine_id_report_with_our_engine_boots_and_time() {
    let e = our_engine();
    let discovery = V3Message {
        msg_id: 4242,
        max_size: 65507,
        flags: flags::REPORTABLE,
        security_model: USM_SECURITY_MODEL,
        usm: UsmParams::default(),
        data: ScopedData::Plain(ScopedPdu {
            context_engine_id: vec![],
            context_name: vec![],
            pdu: Pdu::new(PduType::Get, 77, vec![]),
        }),
        auth_range: None,
    };
    let (bytes, _) = discovery.encode();
    let Message::V3(m) = Message::decode(&bytes).unwrap() else {
        panic!()
    };
    let r = e.receive(&m, &bytes, 500).unwrap_err();
    assert_eq!(r.error, UsmError::UnknownEngineId);
    let report = r.report.unwrap();
    let Message::V3(rep) = Message::decode(&report).unwrap() else {
        panic!()
    };
    assert_eq!(rep.msg_id, 4242);
    assert_eq!(rep.flags & 3, 0, "the discovery report is noAuthNoPriv");
    assert_eq!(rep.usm.engine_id, e.engine_id());
    assert_eq!((rep.usm.boots, rep.usm.time), (3, 500));
    let ScopedData::Plain(s) = rep.data else {
        panic!()
    };
    assert_eq!(s.pdu.kind, PduType::Report);
    assert_eq!(s.pdu.request_id, 77);
    assert_eq!(
        s.pdu.varbinds,
        vec![VarBind::new(
            oid("1.3.6.1.6.3.15.1.1.4.0"),
            Value::Counter32(1)
        )]
    );
    // Not reportable: counted, no report.
    let mut quiet = m.clone();
    quiet.flags = 0;
    assert_eq!(e.receive(&quiet, &bytes, 500).unwrap_err().report, None);
    assert_eq!(
        e.stats
            .unknown_engine_ids
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

fn inform(request_id: i32) -> ScopedPdu {
    ScopedPdu {
        context_engine_id: vec![0x80, 0, 0, 0, 9],
        context_name: vec![],
        pdu: Pdu::new(
            PduType::Inform,
            request_id,
            vec![
                VarBind::new(oid("1.3.6.1.2.1.1.3.0"), Value::TimeTicks(5)),
                VarBind::new(
                    oid("1.3.6.1.6.3.1.1.4.1.0"),
                    Value::Oid(oid("1.3.6.1.2.1.140.0.1")),
                ),
            ],
        ),
    }
}

#[test]
fn usm_rejections_name_their_reason_and_report_it() {
    let e = our_engine();
    let ctx = SecurityContext {
        msg_id: 9,
        max_size: 1500,
        user: b"informuser".to_vec(),
        level: Level::AuthPriv,
    };
    let sent = e.reply(&ctx, &inform(11), 1000).unwrap();
    let Message::V3(mut m) = Message::decode(&sent).unwrap() else {
        panic!()
    };
    m.flags |= flags::REPORTABLE;
    // Accepted within the window, the scoped PDU decrypted.
    let ok = e.receive(&m, &sent, 1100).unwrap();
    assert_eq!(ok.scoped, inform(11));
    // Late: a notInTimeWindow report, authenticated (authNoPriv) so the sender can trust the time.
    let r = e.receive(&m, &sent, 1151).unwrap_err();
    assert_eq!(r.error, UsmError::NotInTimeWindow);
    let Message::V3(rep) = Message::decode(&r.report.unwrap()).unwrap() else {
        panic!()
    };
    assert_eq!(rep.flags & 3, flags::AUTH);
    assert_eq!(rep.usm.time, 1151);
    // Unknown user; priv user at a lower level.
    let mut u = m.clone();
    u.usm.user = b"nobody".to_vec();
    assert_eq!(
        e.receive(&u, &sent, 1000).unwrap_err().error,
        UsmError::UnknownUser
    );
    let mut low = m.clone();
    low.flags = flags::AUTH | flags::REPORTABLE;
    assert_eq!(
        e.receive(&low, &sent, 1000).unwrap_err().error,
        UsmError::UnsupportedSecLevel
    );
    // A tampered digest.
    let mut bad = sent.clone();
    let Message::V3(orig) = Message::decode(&sent).unwrap() else {
        panic!()
    };
    let (a, _) = orig.auth_range.unwrap();
    bad[a] ^= 0xff;
    let Message::V3(mb) = Message::decode(&bad).unwrap() else {
        panic!()
    };
    assert_eq!(
        e.receive(&mb, &bad, 1000).unwrap_err().error,
        UsmError::WrongDigest
    );
    // authNoPriv user (MD5).
    let c2 = SecurityContext {
        user: b"authonly".to_vec(),
        level: Level::AuthNoPriv,
        ..ctx
    };
    let s2 = e.reply(&c2, &inform(12), 40).unwrap();
    let Message::V3(m2) = Message::decode(&s2).unwrap() else {
        panic!()
    };
    assert!(matches!(m2.data, ScopedData::Plain(_)));
    assert_eq!(e.receive(&m2, &s2, 40).unwrap().scoped, inform(12));
}

#[test]
fn malformed_input_is_an_error_never_a_panic() {
    for bad in [
        &b""[..],
        &[0x30],
        &[0x30, 0x00],
        &[0x30, 0x03, 0x02, 0x01, 0x05],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x80, 0x00, 0x00],
    ] {
        assert!(Message::decode(bad).is_err(), "{bad:?}");
    }
    for cut in 0..CAP_V2C.len() {
        assert!(Message::decode(&CAP_V2C[..cut]).is_err());
    }
    // v1 Trap-PDU: unsupported, named as such.
    let mut v1 = CAP_V2C.to_vec();
    v1[5] = 0; // version 0
    v1[14] = 0xa4;
    assert!(matches!(
        Message::decode(&v1),
        Err(DecodeError::PduType(0xa4))
    ));
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::OctetString),
        Just(Value::Null),
        arb_oid().prop_map(Value::Oid),
        any::<[u8; 4]>().prop_map(Value::IpAddress),
        any::<u32>().prop_map(Value::Counter32),
        any::<u32>().prop_map(Value::Gauge32),
        any::<u32>().prop_map(Value::TimeTicks),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Value::Opaque),
        any::<u64>().prop_map(Value::Counter64),
        Just(Value::NoSuchObject),
        Just(Value::NoSuchInstance),
        Just(Value::EndOfMibView),
    ]
}

fn arb_oid() -> impl Strategy<Value = Oid> {
    (
        0u32..3,
        0u32..40,
        proptest::collection::vec(any::<u32>(), 0..20),
    )
        .prop_map(|(a, b, rest)| {
            let mut v = vec![a, b];
            v.extend(rest);
            Oid(v)
        })
}

fn arb_pdu() -> impl Strategy<Value = Pdu> {
    (
        prop_oneof![
            Just(PduType::Get),
            Just(PduType::GetNext),
            Just(PduType::GetBulk),
            Just(PduType::Set),
            Just(PduType::Response),
            Just(PduType::Inform),
            Just(PduType::Trap),
            Just(PduType::Report),
        ],
        any::<i32>(),
        0i32..20,
        any::<i32>(),
        proptest::collection::vec((arb_oid(), arb_value()), 0..12),
    )
        .prop_map(|(kind, request_id, error_status, error_index, vbs)| Pdu {
            kind,
            request_id,
            error_status,
            error_index,
            varbinds: vbs.into_iter().map(|(o, v)| VarBind::new(o, v)).collect(),
        })
}

proptest! {
    #[test]
    fn community_messages_round_trip(pdu in arb_pdu(), community in proptest::collection::vec(any::<u8>(), 0..40), v1 in any::<bool>()) {
        let m = CommunityMessage { version: if v1 { Version::V1 } else { Version::V2c }, community, pdu };
        let bytes = m.encode();
        prop_assert_eq!(Message::decode(&bytes).unwrap(), Message::Community(m));
    }

    #[test]
    fn v3_messages_round_trip_through_the_engine(pdu in arb_pdu(), user in 0usize..2, time in 0u32..1_000_000) {
        let e = our_engine();
        let (name, level) = [("informuser", Level::AuthPriv), ("authonly", Level::AuthNoPriv)][user];
        let ctx = SecurityContext { msg_id: 1, max_size: 1500, user: name.as_bytes().to_vec(), level };
        let scoped = ScopedPdu { context_engine_id: vec![1, 2, 3], context_name: b"c".to_vec(), pdu };
        let bytes = e.reply(&ctx, &scoped, time).unwrap();
        let Message::V3(m) = Message::decode(&bytes).unwrap() else { panic!() };
        let ok = e.receive(&m, &bytes, time).unwrap();
        prop_assert_eq!(ok.scoped, scoped);
        prop_assert_eq!(ok.security.level, level);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(Message::V3(m)) = Message::decode(&bytes) {
            let _ = our_engine().receive(&m, &bytes, 0);
        }
    }
}
