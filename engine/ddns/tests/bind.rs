//! The updater against a real BIND 9 (Debian `bind9`, `dig` from
//! `bind9-dnsutils`): named runs in the foreground from a temp directory on
//! a free loopback port with a hmac-sha256 key allowed to update the
//! forward zone and the reverse zones; the test drives the sans-IO
//! [`Updater`] over a real UDP socket and checks the zone with dig.
//!
//! Nothing is skipped: without named or dig the test fails and says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use headend_ddns::{
    Action, Algorithm, Dhcid, Event, FailReason, Job, Outcome, Step, Target, TsigKey, Updater,
    UpdaterConfig,
};
use hickory_proto::rr::Name;

const KEY_NAME: &str = "ddns-key";
const SECRET: &str = "4xc0d+wrz3zGagarlKrvR6scLtnb5cD+5Fl/aQ/4RN4=";
const WRONG_SECRET: &str = "bm90IHRoZSBzZWNyZXQgQklORCBrbm93cyBhdCBhbGw=";
const FORWARD: &str = "example.test";
const REVERSE4: &str = "2.0.192.in-addr.arpa";
/// 2001:db8::/32.
const REVERSE6: &str = "8.b.d.0.1.0.0.2.ip6.arpa";

fn require_tools() {
    for tool in ["named", "dig"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the BIND test needs `{tool}`: apt-get install bind9 bind9-dnsutils (see docs/peers.md)"
        );
    }
}

/// A running named; stopped by its PID when dropped (also on failure).
struct Named {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Named {
    fn start() -> Self {
        require_tools();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            r#"key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
}};
controls {{ }};
zone "{FORWARD}" {{ type primary; file "forward.db"; update-policy {{ grant {KEY_NAME} zonesub ANY; }}; }};
zone "{REVERSE4}" {{ type primary; file "reverse4.db"; update-policy {{ grant {KEY_NAME} zonesub ANY; }}; }};
zone "{REVERSE6}" {{ type primary; file "reverse6.db"; update-policy {{ grant {KEY_NAME} zonesub ANY; }}; }};
"#
        );
        std::fs::write(dir.path().join("named.conf"), conf).expect("write named.conf");
        let soa = "$TTL 300\n@ IN SOA ns1.example.test. hostmaster.example.test. ( 1 3600 600 86400 300 )\n  IN NS ns1.example.test.\n";
        std::fs::write(
            dir.path().join("forward.db"),
            format!("{soa}ns1 IN A 127.0.0.1\n"),
        )
        .expect("write zone");
        std::fs::write(dir.path().join("reverse4.db"), soa).expect("write zone");
        std::fs::write(dir.path().join("reverse6.db"), soa).expect("write zone");
        let log = std::fs::File::create(dir.path().join("named.log")).expect("log file");
        let child = Command::new("named")
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.path().join("named.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn named");
        let mut named = Self { child, dir, port };
        named.wait_ready();
        named
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    /// Waits (at most 20 s) until named answers for the forward zone.
    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("named exited ({status}):\n{}", self.log());
            }
            if dig(self.port, &[FORWARD, "SOA"]).contains("ns1.example.test.") {
                return;
            }
            assert!(
                Instant::now() < until,
                "named did not answer within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn server(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    fn dig(&self, args: &[&str]) -> String {
        dig(self.port, args)
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free for UDP and TCP (named listens on both).
fn free_port() -> u16 {
    for _ in 0..50 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free loopback port");
}

/// `dig +short` against the test server (bounded: 2 s, one try).
fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .expect("run dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn short(named: &Named, name: &str, rtype: &str) -> String {
    named
        .dig(&["+short", name, rtype])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn status(named: &Named, name: &str, rtype: &str) -> String {
    let out = named.dig(&["+noall", "+comments", name, rtype]);
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("?")
        .to_string()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn updater(secret: &str) -> Updater {
    let key = TsigKey::from_base64(KEY_NAME, Algorithm::HmacSha256, secret).expect("key");
    let config = UpdaterConfig {
        rto: Duration::from_millis(500),
        retry_initial: Duration::from_millis(500),
        keys: vec![key],
        id_seed: unix_now() | 1,
        ..UpdaterConfig::default()
    };
    Updater::new(config, Instant::now(), unix_now())
}

fn job(named: &Named, action: Action, host: &str, address: IpAddr, dhcid: Dhcid) -> Job {
    let target = |zone: &str| Target {
        server: named.server(),
        zone: zone.to_string(),
        key: Some(KEY_NAME.to_string()),
    };
    let reverse = match address {
        IpAddr::V4(_) => REVERSE4,
        IpAddr::V6(_) => REVERSE6,
    };
    Job {
        action,
        fqdn: fqdn(host),
        address,
        dhcid,
        ttl: 600,
        forward: Some(target(FORWARD)),
        reverse: Some(target(reverse)),
        enqueued_unix: None,
    }
}

fn fqdn(host: &str) -> String {
    format!("{host}.{FORWARD}.")
}

fn dhcid_of(mac: u8, host: &str) -> Dhcid {
    let name = Name::from_ascii(fqdn(host)).expect("name");
    Dhcid::from_hwaddr(1, &[0x00, 0x11, 0x22, 0x33, 0x44, mac], &name).expect("dhcid")
}

/// Runs the updater over a real socket until an event satisfies `until`
/// (at most 30 s); returns every event seen.
fn drive(up: &mut Updater, until: impl Fn(&Event) -> bool) -> Vec<Event> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some((to, bytes)) = up.poll_transmit() {
            sock.send_to(&bytes, to).expect("send");
        }
        while let Some(e) = up.poll_event() {
            let stop = until(&e);
            events.push(e);
            if stop {
                return events;
            }
        }
        let now = Instant::now();
        assert!(now < deadline, "no outcome within 30 s: {events:?}");
        let wait = up
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(100))
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        sock.set_read_timeout(Some(wait)).expect("timeout");
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            up.handle(Instant::now(), from, &buf[..n]);
        }
        if up.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            up.handle_timeout(Instant::now());
        }
    }
}

fn finished(e: &Event) -> bool {
    matches!(
        e.outcome,
        Outcome::Done | Outcome::Conflict | Outcome::GaveUp(_)
    )
}

fn last(events: &[Event]) -> Outcome {
    events.last().map(|e| e.outcome).expect("an event")
}

#[test]
fn ipv4_add_conflict_renew_remove_and_wrong_key() {
    let named = Named::start();
    let host1 = fqdn("host1");
    let a: IpAddr = "192.0.2.10".parse().unwrap();
    let mine = dhcid_of(0x01, "host1");

    // Add: A, DHCID and PTR appear.
    let mut up = updater(SECRET);
    up.enqueue(
        Instant::now(),
        job(&named, Action::Add, "host1", a, mine.clone()),
    )
    .unwrap();
    let events = drive(&mut up, finished);
    assert_eq!(last(&events), Outcome::Done, "{events:?}\n{}", named.log());
    assert_eq!(short(&named, &host1, "A"), "192.0.2.10");
    assert_eq!(
        short(&named, &host1, "DHCID").replace(' ', ""),
        mine.to_base64()
    );
    assert_eq!(short(&named, "10.2.0.192.in-addr.arpa", "PTR"), host1);

    // Another client wants the same name: conflict, nothing changes.
    let theirs = dhcid_of(0x02, "host1");
    let b: IpAddr = "192.0.2.11".parse().unwrap();
    let sent = up.stats().sent;
    up.enqueue(Instant::now(), job(&named, Action::Add, "host1", b, theirs))
        .unwrap();
    let events = drive(&mut up, finished);
    assert_eq!(last(&events), Outcome::Conflict, "{events:?}");
    // The add (YXDOMAIN) and the DHCID-guarded replace (NXRRSET); no PTR.
    assert_eq!(up.stats().sent - sent, 2);
    assert_eq!(short(&named, &host1, "A"), "192.0.2.10");
    assert_eq!(
        short(&named, &host1, "DHCID").replace(' ', ""),
        mine.to_base64()
    );
    assert_eq!(short(&named, "11.2.0.192.in-addr.arpa", "PTR"), "");

    // The owner renews: YXDOMAIN, then the DHCID-guarded replace succeeds.
    let sent = up.stats().sent;
    up.enqueue(
        Instant::now(),
        job(&named, Action::Add, "host1", a, mine.clone()),
    )
    .unwrap();
    let events = drive(&mut up, finished);
    assert_eq!(last(&events), Outcome::Done, "{events:?}");
    // Add (YXDOMAIN), replace, PTR.
    assert_eq!(up.stats().sent - sent, 3);
    assert_eq!(short(&named, &host1, "A"), "192.0.2.10");

    // Removal: A, DHCID and PTR are gone.
    up.enqueue(
        Instant::now(),
        job(&named, Action::Remove, "host1", a, mine),
    )
    .unwrap();
    let events = drive(&mut up, finished);
    assert_eq!(last(&events), Outcome::Done, "{events:?}");
    assert_eq!(short(&named, &host1, "A"), "");
    assert_eq!(short(&named, &host1, "DHCID"), "");
    assert_eq!(status(&named, &host1, "A"), "NXDOMAIN");
    assert_eq!(status(&named, "10.2.0.192.in-addr.arpa", "PTR"), "NXDOMAIN");

    // A wrong secret: BIND refuses (NOTAUTH/BADSIG), reported as failed,
    // never as done; the job stays queued for a retry.
    let mut wrong = updater(WRONG_SECRET);
    let host2 = fqdn("host2");
    wrong
        .enqueue(
            Instant::now(),
            job(
                &named,
                Action::Add,
                "host2",
                "192.0.2.20".parse().unwrap(),
                dhcid_of(3, "host2"),
            ),
        )
        .unwrap();
    // BIND 9.18 answers NOTAUTH with an unsigned TSIG error BADSIG; the
    // job is retried after the backoff and fails (and is counted) again.
    for _ in 0..2 {
        let events = drive(&mut wrong, |_| true);
        assert_eq!(
            last(&events),
            Outcome::Failed {
                step: Step::ForwardAdd,
                reason: FailReason::BadSig
            }
        );
    }
    assert_eq!(wrong.queue_len(), 1, "the job is kept for a retry");
    assert_eq!(short(&named, &host2, "A"), "");
}

#[test]
fn ipv6_aaaa_and_ip6_arpa() {
    let named = Named::start();
    let host = fqdn("host6");
    let addr: IpAddr = "2001:db8:1::100".parse().unwrap();
    let name = Name::from_ascii(&host).unwrap();
    let duid = [
        0x00, 0x01, 0x00, 0x06, 0x41, 0x2d, 0xf1, 0x66, 1, 2, 3, 4, 5, 6,
    ];
    let dhcid = Dhcid::from_duid(&duid, &name).unwrap();
    let ptr = "0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa";

    let mut up = updater(SECRET);
    up.enqueue(
        Instant::now(),
        job(&named, Action::Add, "host6", addr, dhcid.clone()),
    )
    .unwrap();
    let events = drive(&mut up, finished);
    assert_eq!(last(&events), Outcome::Done, "{events:?}\n{}", named.log());
    assert_eq!(short(&named, &host, "AAAA"), "2001:db8:1::100");
    assert_eq!(
        short(&named, &host, "DHCID").replace(' ', ""),
        dhcid.to_base64()
    );
    assert_eq!(short(&named, ptr, "PTR"), host);

    up.enqueue(
        Instant::now(),
        job(&named, Action::Remove, "host6", addr, dhcid),
    )
    .unwrap();
    let events = drive(&mut up, finished);
    assert_eq!(last(&events), Outcome::Done, "{events:?}");
    assert_eq!(status(&named, &host, "AAAA"), "NXDOMAIN");
    assert_eq!(status(&named, ptr, "PTR"), "NXDOMAIN");
}
