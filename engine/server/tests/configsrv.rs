//! The config server against real peers (peers.md section 6): tftp-hpa,
//! atftp and curl fetch static and generated files over 127.0.0.1 and ::1
//! with the PacketCable block sizes, tsize and windowsize; uploads only
//! where the access expression allows; traversal and unknown devices get
//! the right ERROR codes; curl over HTTP; malformed datagrams and floods
//! are counted, never answered with a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use headend_abi::Protocol;
use headend_config_file::{decode, Check};
use headend_model::config::SourceFile;
use headend_model::snapshot::Snapshot;
use headend_server::configsrv::files::TransferResult;
use headend_server::configsrv::http::HttpServer;
use headend_server::configsrv::native::BasicCmGenerator;
use headend_server::configsrv::tftp::{self, TftpServer};
use headend_server::configsrv::{
    resolve_file, DeviceContext, FileService, Generators, StaticResolver,
};
use headend_server::counters::Counters;
use headend_store::{Account, AccountSource};
use headend_wire::tftp::{encode_ack, ErrorCode, Packet};

const MAC4: &str = "00:11:22:33:44:55";
const MAC6: &str = "00:11:22:33:44:66";

struct Lab {
    _rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    tftp4: SocketAddr,
    tftp6: SocketAddr,
    http: SocketAddr,
    files: Arc<FileService>,
    tftp: Arc<TftpServer>,
    snapshot: Arc<Snapshot>,
    generators: Generators,
    devices: Arc<StaticResolver>,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn account(mac: &str, domains: &[&str]) -> Account {
    Account {
        id: mac.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        attributes: [("max_cpe".to_string(), "3".to_string())].into(),
        created: 0,
        source: AccountSource::Config,
    }
}

impl Lab {
    fn start() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("up")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside/secret"), root.join("escape")).unwrap();
        // Deterministic, not a multiple of any tested block size.
        let fw: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(root.join("fw-100k.bin"), &fw).unwrap();
        std::fs::write(root.join("exact-1024.bin"), vec![0xa5; 1024]).unwrap();
        std::fs::write(root.join("up/existing.txt"), b"old").unwrap();
        let text = format!(
            r#"
[server]
name = "t"
store = "st"
[tftp]
listen = []
root = "{}"
access = {{ expr = 'if "uploaders" in domains {{ "write" }} else {{ "read" }}' }}
overwrite = {{ expr = '"overwriters" in domains' }}
retransmit_ms = 300
max_uploads = 2
[[tftp.config_file]]
name = "cm-*.cfg"
generator = "docsis"
[[tftp.config_file]]
name = "missing-*.cfg"
generator = "not-registered"
[http]
listen = []
timeout_s = 1
max_connections_per_address = 4
min_rate = 16777216
"#,
            root.display()
        );
        let src = SourceFile::new(dir.path().join("headend.toml"), text);
        let snapshot = Arc::new(Snapshot::from_source(&src, 1).unwrap());
        let devices = Arc::new(StaticResolver::default());
        devices.insert(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            DeviceContext::from_parts(
                Protocol::Lease,
                MAC4,
                Some(&account(MAC4, &["docsis"])),
                None,
                None,
            ),
        );
        devices.insert(
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            DeviceContext::from_parts(
                Protocol::Lease,
                MAC6,
                Some(&account(MAC6, &["docsis", "uploaders"])),
                None,
                None,
            ),
        );
        let generators = Generators::default();
        generators.insert(
            "docsis",
            Arc::new(BasicCmGenerator::new(b"DOCSIS").with_filler(2000)),
        );
        let files = Arc::new(FileService::new(
            Arc::new(ArcSwap::from(snapshot.clone())),
            devices.clone(),
            generators.clone(),
            Arc::new(Counters::default()),
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let tftp_srv = TftpServer::new(files.clone());
        let http_srv = HttpServer::new(files.clone());
        let (tftp4, tftp6, http) = rt.block_on(async {
            let s4 = tftp::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let s6 = tftp::bind("[::1]:0".parse().unwrap()).unwrap();
            let h = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = (
                s4.local_addr().unwrap(),
                s6.local_addr().unwrap(),
                h.local_addr().unwrap(),
            );
            tokio::spawn(tftp_srv.clone().serve(s4, stop_rx.clone()));
            tokio::spawn(tftp_srv.clone().serve(s6, stop_rx.clone()));
            tokio::spawn(http_srv.serve(h, stop_rx.clone()));
            a
        });
        Lab {
            _rt: rt,
            dir,
            tftp4,
            tftp6,
            http,
            files,
            tftp: tftp_srv,
            snapshot,
            generators,
            devices,
            _stop: stop_tx,
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What `config-file show` would print for the device at `addr`.
    fn expected(&self, addr: IpAddr, name: &str) -> Vec<u8> {
        let dc = self.devices.0.read().get(&addr).cloned().unwrap();
        resolve_file(&self.snapshot, &self.generators, &dc, name)
            .unwrap()
            .bytes
            .to_vec()
    }
}

fn run(cmd: &mut Command) -> (bool, String) {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

fn host(a: SocketAddr) -> String {
    a.ip().to_string()
}

#[test]
fn tftp_hpa_fetches_static_and_generated_files_over_v4_and_v6() {
    if !have("tftp") {
        eprintln!("tftp-hpa not installed; skipped");
        return;
    }
    let lab = Lab::start();
    let fw = read(&lab.root().join("fw-100k.bin"));
    for (srv, fam, ip) in [
        (lab.tftp4, "-4", IpAddr::V4(Ipv4Addr::LOCALHOST)),
        (lab.tftp6, "-6", IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ] {
        for (name, expect) in [
            ("fw-100k.bin", fw.clone()),
            ("cm-modem.cfg", lab.expected(ip, "cm-modem.cfg")),
            ("exact-1024.bin", vec![0xa5; 1024]),
        ] {
            let out = lab.out(&format!("hpa{fam}-{name}"));
            let (ok, text) = run(Command::new("tftp")
                .arg(fam)
                .arg(host(srv))
                .arg(srv.port().to_string())
                .args(["-m", "binary", "-c", "get", name])
                .arg(&out));
            assert!(ok, "{text}");
            assert!(read(&out) == expect, "tftp {fam} {name}: differs");
        }
        // Traversal: tftp-hpa prints the server's error code.
        let (_, text) = run(Command::new("tftp")
            .arg(fam)
            .arg(host(srv))
            .arg(srv.port().to_string())
            .args(["-m", "binary", "-c", "get", "../outside/secret"])
            .arg(lab.out("trav")));
        assert!(text.contains("code 2"), "{text}");
        let (_, text) = run(Command::new("tftp")
            .arg(fam)
            .arg(host(srv))
            .arg(srv.port().to_string())
            .args(["-m", "binary", "-c", "get", "nope.bin"])
            .arg(lab.out("nope")));
        assert!(text.contains("code 1"), "{text}");
    }
    // The generated files differ per device and verify (CM MIC, CMTS MIC).
    let g4 = read(&lab.out("hpa-4-cm-modem.cfg"));
    let g6 = read(&lab.out("hpa-6-cm-modem.cfg"));
    assert_ne!(g4, g6);
    let f = decode(&g4, Some(b"DOCSIS")).unwrap();
    assert_eq!((f.cm_mic, f.cmts_mic), (Check::Verified, Check::Verified));
    // Every transfer is recorded against its device.
    let log = lab.files.log().history(MAC4);
    let ok: Vec<_> = log
        .iter()
        .filter(|r| r.result == TransferResult::Complete)
        .collect();
    assert_eq!(ok.len(), 3);
    let gen = log.iter().find(|r| r.file == "cm-modem.cfg").unwrap();
    assert_eq!(gen.size, g4.len() as u64);
    assert_eq!(gen.sha1, Some(headend_config_file::config_hash(&g4)));
    assert!(log
        .iter()
        .any(|r| matches!(&r.result, TransferResult::Failed { code: 2, .. })));
}

#[test]
fn atftp_negotiates_blksize_tsize_and_windowsize() {
    if !have("atftp") {
        eprintln!("atftp not installed; skipped");
        return;
    }
    let lab = Lab::start();
    let fw = read(&lab.root().join("fw-100k.bin"));
    let mut n = 0;
    for (srv, ip) in [
        (lab.tftp4, IpAddr::V4(Ipv4Addr::LOCALHOST)),
        (lab.tftp6, IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ] {
        let gen = lab.expected(ip, "cm-a.cfg");
        for blk in ["512", "1428", "1448", "8192"] {
            for (name, expect) in [("fw-100k.bin", &fw), ("cm-a.cfg", &gen)] {
                n += 1;
                let out = lab.out(&format!("atftp-{n}"));
                let (ok, text) = run(Command::new("atftp")
                    .arg("--trace")
                    .args(["--option", &format!("blksize {blk}")])
                    .args(["--option", "tsize 0"])
                    .args(["-g", "-r", name, "-l"])
                    .arg(&out)
                    .arg(host(srv))
                    .arg(srv.port().to_string()));
                assert!(ok, "{text}");
                assert!(text.contains(&format!("blksize: {blk}")), "{text}");
                assert!(text.contains(&format!("tsize: {}", expect.len())), "{text}");
                assert!(&read(&out) == expect, "atftp {srv} {blk} {name}: differs");
            }
        }
        // RFC 7440 windowsize: atftp 0.8 sends it and acknowledges per window.
        let out = lab.out(&format!("atftp-win-{}", srv.port()));
        let (ok, text) = run(Command::new("atftp")
            .arg("--trace")
            .args(["--option", "blksize 1448", "--option", "windowsize 8"])
            .args(["-g", "-r", "fw-100k.bin", "-l"])
            .arg(&out)
            .arg(host(srv))
            .arg(srv.port().to_string()));
        assert!(ok, "{text}");
        assert!(text.contains("windowsize: 8"), "{text}");
        assert_eq!(read(&out), fw);
    }
}

#[test]
fn curl_fetches_with_blksize_over_tftp_and_over_http() {
    if !have("curl") {
        eprintln!("curl not installed; skipped");
        return;
    }
    let lab = Lab::start();
    let fw = read(&lab.root().join("fw-100k.bin"));
    let gen4 = lab.expected(IpAddr::V4(Ipv4Addr::LOCALHOST), "cm-c.cfg");
    let gen6 = lab.expected(IpAddr::V6(Ipv6Addr::LOCALHOST), "cm-c.cfg");
    for blk in ["512", "1428", "1448", "8192"] {
        for (url, expect) in [
            (
                format!("tftp://127.0.0.1:{}/fw-100k.bin", lab.tftp4.port()),
                &fw,
            ),
            (
                format!("tftp://127.0.0.1:{}/cm-c.cfg", lab.tftp4.port()),
                &gen4,
            ),
            (
                format!("tftp://[::1]:{}/fw-100k.bin", lab.tftp6.port()),
                &fw,
            ),
            (format!("tftp://[::1]:{}/cm-c.cfg", lab.tftp6.port()), &gen6),
        ] {
            let out = lab.out("curl.bin");
            let (ok, text) = run(Command::new("curl")
                .args(["-sS", "-v", "--tftp-blksize", blk])
                .arg(&url)
                .arg("-o")
                .arg(&out));
            assert!(ok, "{url}: {text}");
            assert!(
                text.contains(&format!("blksize parsed from OACK ({blk})")),
                "{text}"
            );
            assert!(&read(&out) == expect, "{url} {blk}: differs");
        }
    }
    // HTTP: the same virtual files, the same rules.
    let out = lab.out("http.cfg");
    let (ok, text) = run(Command::new("curl")
        .args(["-sS", "-f"])
        .arg(format!("http://127.0.0.1:{}/cm-c.cfg", lab.http.port()))
        .arg("-o")
        .arg(&out));
    assert!(ok, "{text}");
    assert!(read(&out) == gen4, "http differs");
    for (path, status) in [
        ("/nope", "404"),
        ("/%2e%2e/outside/secret", "403"),
        ("/escape", "403"),
        ("/missing-x.cfg", "503"),
    ] {
        let (_, code) = run(Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--path-as-is",
            ])
            .arg(format!("http://127.0.0.1:{}{path}", lab.http.port())));
        assert_eq!(code, status, "{path}");
    }
}

#[test]
fn http_connection_hogs_and_slow_readers_are_cut_off() {
    // Issue 21 ("HTTP slowloris / slow-read"): before, one host could hold
    // every connection slot, and a client that never read its response held
    // its connection (and the file in memory) for ever.
    use std::io::{Read, Write};
    let lab = Lab::start();
    // Four idle connections from one address fill its share...
    let idle: Vec<std::net::TcpStream> = (0..4)
        .map(|_| std::net::TcpStream::connect(lab.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // ...so a fifth is refused at once.
    let mut fifth = std::net::TcpStream::connect(lab.http).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut text = String::new();
    let _ = fifth.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 503"), "{text:?}");
    // The idle ones are closed when their head timeout (1 s) ends.
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 16];
        assert_eq!(c.read(&mut b).unwrap_or(0), 0, "closed by the server");
    }

    // A slow reader of a 48 MiB file: at 16 MiB/s it must be done in
    // 1 s + 3 s; it never reads, so the server gives up.
    std::fs::write(lab.root().join("big.bin"), vec![0x5a; 48 << 20]).unwrap();
    let mut slow = std::net::TcpStream::connect(lab.http).unwrap();
    slow.write_all(b"GET /big.bin HTTP/1.0\r\n\r\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let cut = || {
        lab.files
            .counters()
            .drops()
            .get("http_slow_reader")
            .copied()
            .unwrap_or(0)
    };
    while cut() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(cut(), 1, "{:?}", lab.files.counters().drops());
    drop(slow);
    // A normal client still gets its file.
    let mut ok = std::net::TcpStream::connect(lab.http).unwrap();
    ok.write_all(b"GET /exact-1024.bin HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut resp = Vec::new();
    ok.read_to_end(&mut resp).unwrap();
    // hyper answers an HTTP/1.0 request in HTTP/1.0.
    assert!(
        resp.starts_with(b"HTTP/1.0 200") || resp.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&resp[..40.min(resp.len())])
    );
    assert!(
        lab.files
            .counters()
            .drops()
            .get("http_busy_per_address")
            .copied()
            == Some(1)
    );
}

#[test]
fn failures_of_unknown_sources_are_counted_not_logged() {
    // Issue 21: a flood of requests from forged source addresses used to
    // add a transfer-log entry per address, pushing real devices out.
    let lab = Lab::start();
    let to = lab.tftp4;
    let rrq = |name: &str| format!("\x00\x01{name}\x00octet\x00").into_bytes();
    for i in 10..60u8 {
        let r = exchange(&format!("127.0.0.{i}:0"), to, &rrq("fw-100k.bin")).unwrap();
        assert!(error_code(&r).is_some(), "unknown devices are refused");
    }
    let counted = || {
        lab.files
            .counters()
            .drops()
            .get("unknown_device_failed")
            .copied()
    };
    // The error is sent before the failure is recorded: wait for the last.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while counted() != Some(50) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(counted(), Some(50));
    assert_eq!(
        lab.files.log().devices(),
        0,
        "no log entry per forged source"
    );
    // A known device's transfer is still logged.
    let _ = exchange("127.0.0.1:0", to, &rrq("exact-1024.bin")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lab.files.log().devices() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(lab.files.log().devices(), 1);
}

#[test]
fn uploads_only_where_allowed_and_atomically() {
    if !have("tftp") {
        eprintln!("tftp-hpa not installed; skipped");
        return;
    }
    let lab = Lab::start();
    let src = lab.out("upload.src");
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&src, &body).unwrap();
    // 127.0.0.1 is "read" only.
    let (_, text) = run(Command::new("tftp")
        .arg("127.0.0.1")
        .arg(lab.tftp4.port().to_string())
        .args(["-m", "binary", "-c", "put"])
        .arg(&src)
        .arg("up/new.bin"));
    assert!(text.contains("code 2"), "{text}");
    assert!(!lab.root().join("up/new.bin").exists());
    // ::1 may write, but not overwrite, and not outside the root.
    let (ok, text) = run(Command::new("tftp")
        .args(["-6", "::1"])
        .arg(lab.tftp6.port().to_string())
        .args(["-m", "binary", "-c", "put"])
        .arg(&src)
        .arg("up/new.bin"));
    assert!(ok && !text.contains("Error"), "{text}");
    assert_eq!(read(&lab.root().join("up/new.bin")), body);
    let (_, text) = run(Command::new("tftp")
        .args(["-6", "::1"])
        .arg(lab.tftp6.port().to_string())
        .args(["-m", "binary", "-c", "put"])
        .arg(&src)
        .arg("up/existing.txt"));
    assert!(text.contains("code 6"), "{text}");
    assert_eq!(read(&lab.root().join("up/existing.txt")), b"old");
    for bad in ["../outside/new", "escape", "cm-x.cfg"] {
        let (_, text) = run(Command::new("tftp")
            .args(["-6", "::1"])
            .arg(lab.tftp6.port().to_string())
            .args(["-m", "binary", "-c", "put"])
            .arg(&src)
            .arg(bad));
        assert!(text.contains("code 2"), "{bad}: {text}");
    }
    assert_eq!(read(&lab.dir.path().join("outside/secret")), b"secret");
    assert!(!lab.dir.path().join("outside/new").exists());
    let leftovers: Vec<_> = std::fs::read_dir(lab.root().join("up"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".headend-upload")
        })
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn uploads_are_bounded_in_number_and_temporaries_are_never_served() {
    let lab = Lab::start();
    let wrq = |name: &str| {
        let mut v = vec![0, 2];
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(b"\0octet\0");
        v
    };
    // Two uploads started and left hanging hold both slots (max_uploads = 2).
    let hanging: Vec<UdpSocket> = (0..2)
        .map(|i| {
            let s = UdpSocket::bind("[::1]:0").unwrap();
            s.set_read_timeout(Some(Duration::from_millis(1500)))
                .unwrap();
            s.send_to(&wrq(&format!("up/hang-{i}.bin")), lab.tftp6)
                .unwrap();
            let mut buf = [0u8; 64];
            let (n, _) = s.recv_from(&mut buf).unwrap();
            assert!(
                matches!(Packet::parse(&buf[..n]), Ok(Packet::Ack { block: 0 })),
                "upload {i} accepted"
            );
            s
        })
        .collect();
    // A third is told to come back later, not queued in memory.
    let r = exchange("[::1]:0", lab.tftp6, &wrq("up/third.bin")).unwrap();
    assert_eq!(error_code(&r), Some(ErrorCode::NotDefined.code()));
    match Packet::parse(&r) {
        Ok(Packet::Error { message, .. }) => assert!(message.contains("busy"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Once the hanging ones give up (retransmit_ms = 300, bounded retries),
    // their slots are free again.
    drop(hanging);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = exchange("[::1]:0", lab.tftp6, &wrq("up/later.bin")).unwrap();
        if matches!(Packet::parse(&r), Ok(Packet::Ack { block: 0 })) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slots never freed");
        std::thread::sleep(Duration::from_millis(200));
    }
    // An upload's temporary is neither served nor writable, even when present.
    std::fs::write(lab.root().join("up/.headend-upload-1-1"), b"half").unwrap();
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(b"up/.headend-upload-1-1\0octet\0");
    let r = exchange("[::1]:0", lab.tftp6, &rrq).unwrap();
    assert_eq!(error_code(&r), Some(ErrorCode::FileNotFound.code()));
    let r = exchange("[::1]:0", lab.tftp6, &wrq("up/.headend-upload-1-2")).unwrap();
    assert_eq!(error_code(&r), Some(ErrorCode::AccessViolation.code()));
}

/// Sends one datagram from `from` and returns the first reply, if any.
fn exchange(from: &str, to: SocketAddr, data: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind(from).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    s.send_to(data, to).unwrap();
    let mut buf = [0u8; 2048];
    let (n, peer) = s.recv_from(&mut buf).ok()?;
    // Answer a DATA so the transfer ends cleanly.
    if let Ok(Packet::Data { block, .. }) = Packet::parse(&buf[..n]) {
        let mut ack = Vec::new();
        encode_ack(block, &mut ack);
        let _ = s.send_to(&ack, peer);
    }
    Some(buf[..n].to_vec())
}

fn error_code(reply: &[u8]) -> Option<u16> {
    match Packet::parse(reply) {
        Ok(Packet::Error { code, .. }) => Some(code.code()),
        _ => None,
    }
}

#[test]
fn error_codes_and_bad_input_are_counted() {
    let lab = Lab::start();
    let to = lab.tftp4;
    let rrq = |name: &str, opts: &str| {
        let mut v = vec![0, 1];
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(b"\0octet\0");
        v.extend_from_slice(opts.as_bytes());
        v
    };
    // Unknown device (no lease for 127.0.0.2): access violation.
    let r = exchange("127.0.0.2:0", to, &rrq("fw-100k.bin", "")).unwrap();
    assert_eq!(error_code(&r), Some(ErrorCode::AccessViolation.code()));
    // Absolute and parent paths never leave the root.
    for name in ["/../outside/secret", "..\\outside\\secret", "escape"] {
        let r = exchange("127.0.0.1:0", to, &rrq(name, "")).unwrap();
        assert_eq!(error_code(&r), Some(2), "{name}");
    }
    // A leading slash is just the root.
    let r = exchange("127.0.0.1:0", to, &rrq("/exact-1024.bin", "")).unwrap();
    assert!(matches!(
        Packet::parse(&r),
        Ok(Packet::Data { block: 1, .. })
    ));
    // Option values out of range: error 8.
    for opt in [
        "blksize\x004\x00",
        "blksize\x0065465\x00",
        "windowsize\x000\x00",
    ] {
        let r = exchange("127.0.0.1:0", to, &rrq("fw-100k.bin", opt)).unwrap();
        assert_eq!(error_code(&r), Some(8), "{opt:?}");
    }
    // An unacceptable timeout is left out of the OACK (RFC 2347), not refused.
    let r = exchange(
        "127.0.0.1:0",
        to,
        &rrq("exact-1024.bin", "timeout\x000\x00tsize\x000\x00"),
    )
    .unwrap();
    assert_eq!(
        Packet::parse(&r).unwrap(),
        Packet::Oack(vec![("tsize", "1024")])
    );
    // Unknown opcode and malformed request: error 4; a mapped name without generator: error 0.
    let r = exchange("127.0.0.1:0", to, b"\x00\x09junk").unwrap();
    assert_eq!(error_code(&r), Some(4));
    let r = exchange("127.0.0.1:0", to, b"\x00\x01name-without-mode").unwrap();
    assert_eq!(error_code(&r), Some(4));
    let r = exchange("127.0.0.1:0", to, &rrq("missing-a.cfg", "")).unwrap();
    assert_eq!(error_code(&r), Some(0));
    // Mail mode is illegal.
    let r = exchange("127.0.0.1:0", to, b"\x00\x01fw-100k.bin\x00mail\x00").unwrap();
    assert_eq!(error_code(&r), Some(4));
    // Stray DATA/ACK/ERROR on the listener: never an error to an error, nothing to a stray error.
    assert!(exchange("127.0.0.1:0", to, b"\x00\x05\x00\x01x\x00").is_none());
    let drops = lab.files.counters().drops();
    for reason in [
        "tftp_unknown_device",
        "tftp_path_traversal",
        "tftp_option_refused",
        "tftp_unknown_opcode",
        "tftp_unterminated",
        "tftp_generator_failed",
        "tftp_mail_mode",
        "tftp_error_on_listener",
    ] {
        assert!(
            drops.get(reason).copied().unwrap_or(0) > 0,
            "{reason}: {drops:?}"
        );
    }
}

#[test]
fn a_flood_from_one_address_is_bounded_and_no_duplicate_transfers() {
    let lab = Lab::start();
    // 200 RRQs from 200 source ports of one address, none acknowledged:
    // at most max_transfers_per_client (8) transfers start.
    let socks: Vec<UdpSocket> = (0..200)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for s in &socks {
        s.send_to(b"\x00\x01fw-100k.bin\x00octet\x00", lab.tftp4)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.tftp.active() <= 8, "{}", lab.tftp.active());
    let limited = lab
        .files
        .counters()
        .drops()
        .get("tftp_client_limit")
        .copied()
        .unwrap_or(0);
    assert!(limited >= 190, "{limited}");
    // The same request again from a port whose transfer runs: ignored, no second transfer.
    let requests = lab
        .tftp
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    for s in socks.iter().take(3) {
        s.send_to(b"\x00\x01fw-100k.bin\x00octet\x00", lab.tftp4)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        lab.tftp
            .stats()
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        requests
    );
}

#[test]
fn a_lost_block_is_sent_again_by_the_timer_and_silence_is_abandoned() {
    // The socket task drives the transfer state machine on the tokio clock
    // (retransmit_ms = 300, retries 5) and counts what it reports. Reads wait
    // long so a loaded machine only slows the test down.
    use std::sync::atomic::Ordering::Relaxed;
    let lab = Lab::start();
    let rrq = b"\x00\x01exact-1024.bin\x00octet\x00";
    let mut buf = [0u8; 2048];
    // Client 1 ignores the first DATA 1, then acknowledges everything.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Client 2 never answers.
    let mute = UdpSocket::bind("127.0.0.1:0").unwrap();
    mute.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(rrq, lab.tftp4).unwrap();
    mute.send_to(rrq, lab.tftp4).unwrap();
    let (n, from) = s.recv_from(&mut buf).unwrap();
    assert!(matches!(
        Packet::parse(&buf[..n]),
        Ok(Packet::Data { block: 1, .. })
    ));
    let t = std::time::Instant::now();
    let mut got = Vec::new();
    let mut blocks = Vec::new();
    loop {
        let (n, _) = s.recv_from(&mut buf).unwrap();
        let Ok(Packet::Data { block, data }) = Packet::parse(&buf[..n]) else {
            panic!("not DATA");
        };
        if blocks.is_empty() {
            // Sent again by the timer, not at once.
            let waited = t.elapsed();
            assert!(waited >= Duration::from_millis(200), "{waited:?}");
        }
        if blocks.last() != Some(&block) {
            blocks.push(block);
            got.extend_from_slice(data);
        }
        let mut ack = Vec::new();
        encode_ack(block, &mut ack);
        s.send_to(&ack, from).unwrap();
        if data.len() < 512 {
            break;
        }
    }
    assert_eq!(blocks, vec![1, 2, 3]);
    assert_eq!(got, vec![0xa5; 1024]);
    // The mute client gets DATA 1 once and again per timeout (5 retries), then
    // the transfer is abandoned without an ERROR.
    for i in 0..6 {
        let (n, _) = mute.recv_from(&mut buf).unwrap();
        assert_eq!(
            Packet::parse(&buf[..n]).unwrap(),
            Packet::Data {
                block: 1,
                data: &[0xa5; 512][..]
            },
            "copy {i}"
        );
    }
    let stats = lab.tftp.stats();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while (stats.failed.load(Relaxed) == 0 || lab.tftp.active() != 0)
        && std::time::Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(stats.failed.load(Relaxed), 1);
    mute.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(mute.recv_from(&mut buf).is_err(), "nothing after giving up");
    // One for client 1, five for the mute client (more only if this machine stalls).
    assert!(stats.retransmits.load(Relaxed) >= 6);
    assert_eq!(stats.downloads.load(Relaxed), 1);
    assert_eq!(lab.tftp.active(), 0);
}

#[test]
fn duplicate_acks_do_not_trigger_retransmission() {
    // Sorcerer's Apprentice (RFC 1123 4.2.3.1): ACK every block twice; the
    // server must send each DATA block exactly once.
    let lab = Lab::start();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s.send_to(
        b"\x00\x01fw-100k.bin\x00octet\x00blksize\x001448\x00",
        lab.tftp4,
    )
    .unwrap();
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    let mut seen = std::collections::HashMap::<u16, usize>::new();
    let mut peer = None;
    while let Ok((n, from)) = s.recv_from(&mut buf) {
        peer = Some(from);
        let mut ack = Vec::new();
        match Packet::parse(&buf[..n]).unwrap() {
            Packet::Oack(_) => encode_ack(0, &mut ack),
            Packet::Data { block, data } => {
                let c = seen.entry(block).or_insert(0);
                *c += 1;
                if *c == 1 {
                    got.extend_from_slice(data);
                }
                encode_ack(block, &mut ack);
            }
            p => panic!("{p:?}"),
        }
        s.send_to(&ack, from).unwrap();
        s.send_to(&ack, from).unwrap();
    }
    assert!(
        peer.is_some_and(|p| p.port() != lab.tftp4.port()),
        "own TID"
    );
    assert_eq!(got, read(&lab.root().join("fw-100k.bin")));
    assert!(seen.values().all(|c| *c == 1), "{seen:?}");
    assert_eq!(
        lab.tftp
            .stats()
            .retransmits
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn cache_serves_repeats_and_reload_or_account_change_invalidates() {
    let lab = Lab::start();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let a = lab
        .files
        .open_read(ip, "cm-z.cfg", headend_abi::Transfer::Tftp)
        .unwrap();
    let b = lab
        .files
        .open_read(ip, "cm-z.cfg", headend_abi::Transfer::Tftp)
        .unwrap();
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(
        lab.files
            .stats()
            .generated
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        lab.files
            .stats()
            .cache_hits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // An account change produces a new key (and the old entry can be dropped).
    let mut acc = account(MAC4, &["docsis"]);
    acc.attributes.insert("max_cpe".into(), "9".into());
    lab.devices.insert(
        ip,
        DeviceContext::from_parts(Protocol::Lease, MAC4, Some(&acc), None, None),
    );
    let c = lab
        .files
        .open_read(ip, "cm-z.cfg", headend_abi::Transfer::Tftp)
        .unwrap();
    assert_ne!(a.bytes, c.bytes);
    lab.files.invalidate_device(MAC4);
    assert_eq!(lab.files.cached(), 0);
    // A new generator version (plugin reloaded) makes old entries stale.
    let _ = lab
        .files
        .open_read(ip, "cm-z.cfg", headend_abi::Transfer::Tftp)
        .unwrap();
    assert_eq!(lab.files.cached(), 1);
    lab.generators.insert(
        "docsis",
        Arc::new(
            BasicCmGenerator::new(b"DOCSIS")
                .with_filler(2000)
                .with_version(2),
        ),
    );
    lab.files.reloaded();
    assert_eq!(lab.files.cached(), 0);
}

/// A generator that takes a while and counts its runs.
struct Slow {
    runs: std::sync::atomic::AtomicU32,
}

impl headend_server::configsrv::ConfigGenerator for Slow {
    fn generate(
        &self,
        req: &headend_abi::ConfigRequest,
    ) -> Result<Option<headend_abi::ConfigFile>, headend_server::configsrv::GenerateError> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(150));
        Ok(Some(headend_abi::ConfigFile {
            bytes: format!("file for {}", req.device.mac).into_bytes(),
            config_hash: None,
        }))
    }
    fn version(&self) -> u64 {
        7
    }
}

#[test]
fn a_boot_storm_of_identical_requests_generates_once() {
    let lab = Lab::start();
    let slow = Arc::new(Slow {
        runs: std::sync::atomic::AtomicU32::new(0),
    });
    lab.generators.insert("docsis", slow.clone());
    lab.files.reloaded();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let bytes: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    lab.files
                        .open_read(ip, "cm-storm.cfg", headend_abi::Transfer::Tftp)
                        .unwrap()
                        .bytes
                        .to_vec()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        bytes.iter().all(|b| *b == bytes[0]),
        "all requesters get the same file"
    );
    assert_eq!(
        slow.runs.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "generated once"
    );
    // The next request is a plain cache hit.
    let _ = lab
        .files
        .open_read(ip, "cm-storm.cfg", headend_abi::Transfer::Tftp)
        .unwrap();
    assert_eq!(slow.runs.load(std::sync::atomic::Ordering::SeqCst), 1);
}
