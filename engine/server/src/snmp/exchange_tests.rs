//! The exchange on a virtual clock: every timing rule without sockets.

use std::cell::RefCell;

use headend_abi::Protocol;

use super::*;

const EUE: &str = "00:10:95:0e:12:34";

type Prepares = RefCell<Vec<(Vec<(String, String)>, bool)>>;

#[derive(Default)]
struct Fake {
    devices: HashMap<IpAddr, (String, Option<u32>)>,
    records: RefCell<Vec<(String, u8, Outcome, String)>>,
    prepared: Prepares,
    events: RefCell<Vec<(Option<String>, u32, String)>>,
    fail_prepare: bool,
    domains: HashMap<IpAddr, Vec<String>>,
}

impl Provisioner for Fake {
    fn identify(&self, addr: IpAddr) -> Option<EueIdentity> {
        let (mac, corr) = self.devices.get(&addr)?;
        let mut dc = DeviceContext::from_parts(Protocol::Lease, mac, None, None, Some(addr));
        Arc::make_mut(&mut dc.ctx).device.correlation_id = *corr;
        dc.device.domains = self.domains.get(&addr).cloned().unwrap_or_default();
        Some(EueIdentity::from_device(addr, dc))
    }
    fn prepare(
        &self,
        id: &EueIdentity,
        inputs: &[(String, String)],
        http: bool,
    ) -> Result<Prepared, String> {
        self.prepared.borrow_mut().push((inputs.to_vec(), http));
        if self.fail_prepare {
            return Err("plugin trapped".into());
        }
        let scheme = if http { "http" } else { "tftp" };
        Ok(Prepared {
            url: format!(
                "{scheme}://127.0.0.1:6969/mta-{}.bin",
                id.mac.replace(':', "")
            ),
            hash: vec![0xab; 20],
            key: None,
        })
    }
    fn record(&self, mac: &str, step: u8, outcome: Outcome, detail: String) {
        self.records
            .borrow_mut()
            .push((mac.to_string(), step, outcome, detail));
    }
    fn event(&self, id: Option<&EueIdentity>, _peer: IpAddr, event_id: u32, text: String) {
        self.events
            .borrow_mut()
            .push((id.map(|i| i.mac.clone()), event_id, text));
    }
}

impl Fake {
    fn with(ip: &str, mac: &str, corr: Option<u32>) -> Fake {
        let mut f = Fake::default();
        f.devices
            .insert(ip.parse().unwrap(), (mac.to_string(), corr));
        f
    }
    fn steps(&self) -> Vec<(u8, Outcome)> {
        self.records.borrow().iter().map(|r| (r.1, r.2)).collect()
    }
    fn last(&self, step: u8) -> String {
        self.records
            .borrow()
            .iter()
            .rev()
            .find(|r| r.1 == step)
            .map(|r| r.3.clone())
            .unwrap_or_default()
    }
}

fn settings() -> Settings {
    Settings {
        communities: vec![b"public".to_vec()],
        agent_community: b"private".to_vec(),
        agent_port: 6161,
        retries: 2,
        timeout: Duration::from_secs(2),
        max_enrollments: 8,
        capability_oids: vec![],
        scheme: UrlScheme::Tftp,
        linger: Duration::from_secs(60),
        domains: vec![],
    }
}

fn endpoint(s: Settings, t0: Instant) -> (Endpoint, Arc<Counters>) {
    let c = Arc::new(Counters::default());
    (Endpoint::new(s, None, t0, c.clone(), 1000), c)
}

fn o(s: &str) -> Oid {
    s.parse().unwrap()
}

/// An RFC 4682 enrollment INFORM as an eUE sends it.
fn enrollment(request_id: i32, mac: [u8; 6], corr: u32, community: &[u8]) -> Vec<u8> {
    CommunityMessage {
        version: Version::V2c,
        community: community.to_vec(),
        pdu: Pdu::new(
            PduType::Inform,
            request_id,
            vec![
                VarBind::new(o("1.3.6.1.2.1.1.3.0"), Value::TimeTicks(100)),
                VarBind::new(
                    o("1.3.6.1.6.3.1.1.4.1.0"),
                    Value::Oid(o("1.3.6.1.2.1.140.0.1")),
                ),
                VarBind::new(o("1.3.6.1.2.1.1.1.0"), Value::OctetString(b"eUE".to_vec())),
                VarBind::new(
                    o("1.3.6.1.2.1.140.1.1.3.0"),
                    Value::OctetString(b"1.0".to_vec()),
                ),
                VarBind::new(
                    o("1.3.6.1.2.1.140.1.1.7.0"),
                    Value::OctetString(b"pktc2.0:".to_vec()),
                ),
                VarBind::new(o("1.3.6.1.2.1.2.2.1.6.1"), Value::OctetString(mac.to_vec())),
                VarBind::new(o("1.3.6.1.2.1.140.1.3.3.0"), Value::Gauge32(corr)),
            ],
        ),
    }
    .encode()
}

fn status(request_id: i32, state: i32) -> Vec<u8> {
    CommunityMessage {
        version: Version::V2c,
        community: b"public".to_vec(),
        pdu: Pdu::new(
            PduType::Inform,
            request_id,
            vec![
                VarBind::new(o("1.3.6.1.2.1.1.3.0"), Value::TimeTicks(200)),
                VarBind::new(
                    o("1.3.6.1.6.3.1.1.4.1.0"),
                    Value::Oid(o("1.3.6.1.2.1.140.0.2")),
                ),
                VarBind::new(o("1.3.6.1.2.1.2.2.1.6.1"), Value::OctetString(MAC.to_vec())),
                VarBind::new(o("1.3.6.1.2.1.140.1.3.3.0"), Value::Gauge32(77)),
                VarBind::new(o("1.3.6.1.2.1.140.1.1.8.0"), Value::Integer(state)),
            ],
        ),
    }
    .encode()
}

const MAC: [u8; 6] = [0x00, 0x10, 0x95, 0x0e, 0x12, 0x34];

fn decode(t: &Transmit) -> CommunityMessage {
    match Message::decode(&t.bytes).unwrap() {
        Message::Community(m) => m,
        Message::V3(_) => panic!("v3"),
    }
}

fn agent_reply(set: &Transmit, error: i32) -> Vec<u8> {
    let m = decode(set);
    let mut pdu = m.pdu.response_echo();
    pdu.error_status = error;
    pdu.error_index = i32::from(error != 0);
    CommunityMessage { pdu, ..m }.encode()
}

fn peer() -> SocketAddr {
    "10.1.2.3:50000".parse().unwrap()
}

fn agent() -> SocketAddr {
    "10.1.2.3:6161".parse().unwrap()
}

#[test]
fn happy_path_inform_response_set_response_status() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", EUE, Some(77));
    let (mut ep, c) = endpoint(settings(), t0);
    let inform = enrollment(42, MAC, 77, b"public");
    let out = ep.handle(t0, peer(), &inform, &p);
    assert_eq!(out.len(), 2, "Response and SET");
    let resp = decode(&out[0]);
    assert_eq!(out[0].dst, peer());
    assert_eq!(resp.pdu.kind, PduType::Response);
    assert_eq!(resp.pdu.request_id, 42);
    let Message::Community(sent) = Message::decode(&inform).unwrap() else {
        panic!()
    };
    assert_eq!(resp.pdu.varbinds, sent.pdu.varbinds, "varbinds echoed");
    assert_eq!(out[1].dst, agent());
    let set = decode(&out[1]);
    assert_eq!(set.community, b"private");
    assert_eq!(set.pdu.kind, PduType::Set);
    assert_eq!(
        set.pdu.varbinds,
        vec![
            VarBind::new(
                o("1.3.6.1.2.1.140.1.2.9.0"),
                Value::OctetString(b"tftp://127.0.0.1:6969/mta-0010950e1234.bin".to_vec())
            ),
            VarBind::new(
                o("1.3.6.1.2.1.140.1.2.11.0"),
                Value::OctetString(vec![0xab; 20])
            ),
        ]
    );
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    let t1 = t0 + Duration::from_millis(30);
    assert!(ep
        .handle(t1, agent(), &agent_reply(&out[1], 0), &p)
        .is_empty());
    assert_eq!(
        p.steps(),
        vec![
            (15, Outcome::Ok),
            (18, Outcome::Ok),
            (19, Outcome::Pending),
            (19, Outcome::Ok)
        ]
    );
    assert_eq!(c.get_in(Family::Snmp, Event::Enrolled), 1);
    // Only the linger timer is left; nothing is retransmitted.
    assert_eq!(ep.poll_timeout(), Some(t1 + Duration::from_secs(60)));
    assert!(ep
        .handle_timeout(t1 + Duration::from_secs(5), &p)
        .is_empty());
    // eUE-25.
    let out = ep.handle(t1 + Duration::from_secs(3), peer(), &status(43, 1), &p);
    assert_eq!(out.len(), 1);
    assert_eq!(decode(&out[0]).pdu.request_id, 43);
    assert_eq!(p.steps().last(), Some(&(25, Outcome::Ok)));
    assert!(p.last(25).contains("pass"));
    assert_eq!(p.events.borrow().len(), 1);
    assert_eq!(p.events.borrow()[0].0.as_deref(), Some(EUE));
    // Lingered exchanges are forgotten.
    ep.handle_timeout(t1 + Duration::from_secs(61), &p);
    assert_eq!(ep.tracked(), 0);
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn duplicate_inform_is_answered_again_and_starts_one_set() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", EUE, None);
    let (mut ep, c) = endpoint(settings(), t0);
    let inform = enrollment(42, MAC, 77, b"public");
    let first = ep.handle(t0, peer(), &inform, &p);
    assert_eq!(first.len(), 2);
    let again = ep.handle(t0 + Duration::from_secs(1), peer(), &inform, &p);
    assert_eq!(again.len(), 1, "only the Response");
    assert_eq!(decode(&again[0]).pdu.kind, PduType::Response);
    // Also after the SET completed.
    ep.handle(
        t0 + Duration::from_secs(1),
        agent(),
        &agent_reply(&first[1], 0),
        &p,
    );
    let late = ep.handle(t0 + Duration::from_secs(3), peer(), &inform, &p);
    assert_eq!(late.len(), 1);
    assert_eq!(p.prepared.borrow().len(), 1, "one file, one SET");
    assert_eq!(c.drops_in(Family::Snmp).get("duplicate_inform"), Some(&2));
    // A new request-id is a new enrollment (the device restarted).
    let fresh = ep.handle(
        t0 + Duration::from_secs(4),
        peer(),
        &enrollment(43, MAC, 77, b"public"),
        &p,
    );
    assert_eq!(fresh.len(), 2);
}

#[test]
fn set_timeout_retries_with_backoff_then_fails() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", EUE, None);
    let (mut ep, c) = endpoint(settings(), t0);
    let out = ep.handle(t0, peer(), &enrollment(1, MAC, 5, b"public"), &p);
    let set = out[1].bytes.clone();
    // 2 s, then 4 s, then 8 s.
    assert!(ep
        .handle_timeout(t0 + Duration::from_millis(1999), &p)
        .is_empty());
    let r1 = ep.handle_timeout(t0 + Duration::from_secs(2), &p);
    assert_eq!(
        r1,
        vec![Transmit {
            dst: agent(),
            bytes: set.clone()
        }]
    );
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(6)));
    let r2 = ep.handle_timeout(t0 + Duration::from_secs(6), &p);
    assert_eq!(r2.len(), 1);
    assert_eq!(ep.poll_timeout(), Some(t0 + Duration::from_secs(14)));
    assert!(ep
        .handle_timeout(t0 + Duration::from_secs(13), &p)
        .is_empty());
    assert!(ep
        .handle_timeout(t0 + Duration::from_secs(14), &p)
        .is_empty());
    assert_eq!(p.steps().last(), Some(&(19, Outcome::Failed)));
    assert_eq!(p.last(19), "no SET response after 3 tries");
    assert_eq!(c.get_in(Family::Snmp, Event::AgentRequest), 3);
    assert_eq!(c.get_in(Family::Snmp, Event::EnrollFailed), 1);
    assert_eq!(ep.in_progress(), 0);
    // A late Response changes nothing.
    let late = agent_reply(
        &Transmit {
            dst: agent(),
            bytes: set,
        },
        0,
    );
    assert!(ep
        .handle(t0 + Duration::from_secs(15), agent(), &late, &p)
        .is_empty());
    assert_eq!(
        c.drops_in(Family::Snmp).get("unexpected_response"),
        Some(&1)
    );
}

#[test]
fn error_response_is_a_recorded_failure() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", EUE, None);
    let (mut ep, c) = endpoint(settings(), t0);
    let out = ep.handle(t0, peer(), &enrollment(1, MAC, 5, b"public"), &p);
    ep.handle(
        t0,
        agent(),
        &agent_reply(&out[1], error_status::INCONSISTENT_VALUE),
        &p,
    );
    assert_eq!(p.steps().last(), Some(&(19, Outcome::Failed)));
    assert!(p.last(19).contains("inconsistentValue"), "{}", p.last(19));
    assert_eq!(c.get_in(Family::Snmp, Event::EnrollFailed), 1);
    assert!(ep
        .handle_timeout(t0 + Duration::from_secs(30), &p)
        .is_empty());
}

#[test]
fn mac_or_correlation_mismatch_and_unknown_source_start_no_set() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", "00:10:95:0e:99:99", Some(77));
    let (mut ep, c) = endpoint(settings(), t0);
    let out = ep.handle(t0, peer(), &enrollment(1, MAC, 77, b"public"), &p);
    assert_eq!(out.len(), 1, "answered, no SET");
    assert_eq!(p.steps(), vec![(15, Outcome::Failed)]);
    assert!(
        p.last(15).contains("disagrees with the lease"),
        "{}",
        p.last(15)
    );

    let p = Fake::with("10.1.2.3", EUE, Some(78));
    let out = ep.handle(t0, peer(), &enrollment(2, MAC, 77, b"public"), &p);
    assert_eq!(out.len(), 1);
    assert!(
        p.last(15)
            .contains("correlation id 77 is not the DHCP exchange's 78"),
        "{}",
        p.last(15)
    );

    let p = Fake::default();
    let out = ep.handle(t0, peer(), &enrollment(3, MAC, 77, b"public"), &p);
    assert_eq!(out.len(), 1);
    assert!(p.last(15).contains("no lease"), "{}", p.last(15));
    assert!(p.prepared.borrow().is_empty());
    let d = c.drops_in(Family::Snmp);
    assert_eq!(
        (
            d.get("mac_mismatch"),
            d.get("correlation_mismatch"),
            d.get("no_lease")
        ),
        (Some(&1), Some(&1), Some(&1))
    );
}

#[test]
fn bad_input_is_counted_per_reason() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", EUE, None);
    let (mut ep, c) = endpoint(settings(), t0);
    assert!(ep
        .handle(t0, peer(), &enrollment(1, MAC, 5, b"wrong"), &p)
        .is_empty());
    assert!(ep
        .handle(t0, peer(), &[0x30, 0x03, 0x02, 0x01], &p)
        .is_empty());
    let v3 = include_bytes!("../../../snmp/tests/captures/v3_sha_aes.bin");
    assert!(ep.handle(t0, peer(), v3, &p).is_empty());
    let d = c.drops_in(Family::Snmp);
    assert_eq!(d.get("bad_community"), Some(&1));
    assert_eq!(d.get("malformed"), Some(&1));
    assert_eq!(d.get("v3_not_configured"), Some(&1));
    assert!(p.records.borrow().is_empty());
}

#[test]
fn capability_get_then_http_when_the_device_supports_it() {
    let t0 = Instant::now();
    let p = Fake::with("10.1.2.3", EUE, None);
    let mut s = settings();
    s.scheme = UrlScheme::Auto;
    s.capability_oids = vec![o("1.3.6.1.2.1.140.1.1.4.0")];
    let (mut ep, _) = endpoint(s, t0);
    let out = ep.handle(t0, peer(), &enrollment(1, MAC, 5, b"public"), &p);
    assert_eq!(out.len(), 2);
    let get = decode(&out[1]);
    assert_eq!(get.pdu.kind, PduType::Get);
    assert_eq!(get.pdu.varbinds.len(), 2);
    let mut resp = get.pdu.response_echo();
    resp.varbinds[0].value = Value::OctetString(b"eue.lab.example".to_vec());
    resp.varbinds[1].value = Value::Integer(1);
    let reply = CommunityMessage { pdu: resp, ..get }.encode();
    let out = ep.handle(t0, agent(), &reply, &p);
    assert_eq!(out.len(), 1);
    let set = decode(&out[0]);
    assert!(set.pdu.varbinds[0]
        .value
        .as_bytes()
        .unwrap()
        .starts_with(b"http://"));
    assert_eq!(
        p.prepared.borrow()[0],
        (
            vec![(
                "1.3.6.1.2.1.140.1.1.4.0".to_string(),
                "eue.lab.example".to_string()
            )],
            true
        )
    );
    assert_eq!(
        &p.steps()[..4],
        &[
            (15, Outcome::Ok),
            (16, Outcome::Pending),
            (17, Outcome::Ok),
            (18, Outcome::Ok)
        ]
    );
}

#[test]
fn enrollments_are_bounded_and_a_failed_generation_frees_the_slot() {
    let t0 = Instant::now();
    let mut p = Fake::default();
    let mut s = settings();
    s.max_enrollments = 2;
    for i in 1..=3u8 {
        p.devices.insert(
            IpAddr::from([10, 0, 0, i]),
            (format!("00:10:95:0e:00:0{i}"), None),
        );
    }
    let (mut ep, c) = endpoint(s, t0);
    for i in 1..=3u8 {
        let from = SocketAddr::new(IpAddr::from([10, 0, 0, i]), 5000);
        let out = ep.handle(
            t0,
            from,
            &enrollment(1, [0, 0x10, 0x95, 0x0e, 0, i], 0, b"public"),
            &p,
        );
        assert_eq!(out.len(), if i < 3 { 2 } else { 0 }, "device {i}");
    }
    assert_eq!(c.drops_in(Family::Snmp).get("busy"), Some(&1));
    p.fail_prepare = true;
    let (mut ep, _) = endpoint(settings(), t0);
    let out = ep.handle(
        t0,
        SocketAddr::new(IpAddr::from([10, 0, 0, 1]), 5000),
        &enrollment(1, [0, 0x10, 0x95, 0x0e, 0, 1], 0, b"public"),
        &p,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(ep.in_progress(), 0);
    assert!(p.last(18).contains("plugin trapped"));
}

#[test]
fn v3_inform_is_answered_authenticated_and_encrypted() {
    use headend_snmp::usm::{AuthProtocol, PrivProtocol};
    use headend_snmp::{Level, UserConfig};
    let t0 = Instant::now();
    let engine = Arc::new(
        LocalEngine::new(
            b"\x80\x00\x1f\x88\x04lab".to_vec(),
            1,
            &[UserConfig {
                name: "informuser".into(),
                auth: Some((AuthProtocol::Sha1, "authpass123".into())),
                privacy: Some((PrivProtocol::Aes128, "privpass123".into())),
            }],
            9,
        )
        .unwrap(),
    );
    let c = Arc::new(Counters::default());
    let mut ep = Endpoint::new(settings(), Some(engine.clone()), t0, c.clone(), 1);
    let p = Fake::with("10.1.2.3", EUE, None);
    let Message::Community(m) = Message::decode(&enrollment(5, MAC, 1, b"public")).unwrap() else {
        panic!()
    };
    let ctx = SecurityContext {
        msg_id: 77,
        max_size: 1500,
        user: b"informuser".to_vec(),
        level: Level::AuthPriv,
    };
    let scoped = ScopedPdu {
        context_engine_id: b"sender".to_vec(),
        context_name: vec![],
        pdu: m.pdu,
    };
    let t = t0 + Duration::from_secs(10);
    let inform = engine.reply(&ctx, &scoped, 10).unwrap();
    let out = ep.handle(t, peer(), &inform, &p);
    assert_eq!(out.len(), 2);
    let Message::V3(r) = Message::decode(&out[0].bytes).unwrap() else {
        panic!()
    };
    assert_eq!(r.msg_id, 77);
    let ok = engine.receive(&r, &out[0].bytes, 10).unwrap();
    assert_eq!(ok.scoped.pdu.kind, PduType::Response);
    assert_eq!(ok.scoped.pdu.request_id, 5);
    assert_eq!(ok.scoped.context_engine_id, b"sender");
    // Outside the time window: not answered, counted (this message is not
    // reportable, so no Report either; net-snmp's are, see tests/snmp_peers.rs).
    let out = ep.handle(t0 + Duration::from_secs(500), peer(), &inform, &p);
    assert!(out.is_empty());
    assert_eq!(c.drops_in(Family::Snmp).get("not_in_time_window"), Some(&1));
}

/// `[[snmp.domain]]`: a domain's notification community is accepted only
/// from that domain's devices, and its agents are written with its own
/// write community (a Response under another community is not theirs).
#[test]
fn a_domain_keeps_its_communities_to_its_own_devices() {
    let t0 = Instant::now();
    let mut p = Fake::with("10.1.2.3", EUE, None);
    p.domains
        .insert("10.1.2.3".parse().unwrap(), vec!["brandx".into()]);
    p.devices.insert(
        "10.1.2.4".parse().unwrap(),
        ("00:10:95:0e:12:35".into(), None),
    );
    let mut s = settings();
    s.domains = vec![DomainCommunities {
        domain: "brandx".into(),
        communities: vec![b"bx-inform".to_vec()],
        agent_community: Some(b"bx-write".to_vec()),
    }];
    let (mut ep, c) = endpoint(s, t0);

    // The domain's device, under the domain's community: answered, SET
    // with the domain's write community.
    let out = ep.handle(t0, peer(), &enrollment(1, MAC, 5, b"bx-inform"), &p);
    assert_eq!(out.len(), 2, "Response and SET");
    assert_eq!(decode(&out[0]).community, b"bx-inform");
    let set = decode(&out[1]);
    assert_eq!(set.community, b"bx-write");
    // An answer under the default write community is not this agent's.
    let mut wrong = set.clone();
    wrong.community = b"private".to_vec();
    wrong.pdu = wrong.pdu.response_echo();
    assert!(ep.handle(t0, agent(), &wrong.encode(), &p).is_empty());
    assert_eq!(c.drops_in(Family::Snmp).get("bad_community"), Some(&1));
    assert_eq!(p.steps().last(), Some(&(19, Outcome::Pending)));
    ep.handle(t0, agent(), &agent_reply(&out[1], 0), &p);
    assert_eq!(p.steps().last(), Some(&(19, Outcome::Ok)));

    // Another device under that domain's community: not answered, no SET,
    // and its timeline says why.
    let other: SocketAddr = "10.1.2.4:50000".parse().unwrap();
    let mac2 = [0x00, 0x10, 0x95, 0x0e, 0x12, 0x35];
    assert!(ep
        .handle(t0, other, &enrollment(2, mac2, 5, b"bx-inform"), &p)
        .is_empty());
    assert_eq!(
        c.drops_in(Family::Snmp).get("community_not_for_domain"),
        Some(&1)
    );
    let r = p.records.borrow().last().cloned().unwrap();
    assert_eq!(
        (r.0.as_str(), r.1, r.2),
        ("00:10:95:0e:12:35", 15, Outcome::Failed)
    );
    assert!(r.3.contains("brandx"), "{}", r.3);
    // Under the shared community it enrolls, written with the default.
    let out = ep.handle(t0, other, &enrollment(3, mac2, 5, b"public"), &p);
    assert_eq!(out.len(), 2);
    assert_eq!(decode(&out[1]).community, b"private");
}
