//! Issue 13, the management API over real sockets with independent peers:
//! inside a network namespace, `headend run` with a `[management]`
//! listener; curl is the HTTP client, `examples/lab/dora.py` the CMTS relay
//! and DHCP client, a Python `http.server` the webhook receiver, and the
//! Debian `python3-prometheus-client` parser reads `/metrics`.
//!
//! - Users made with `headend user add` (no default user): admin,
//!   operator, viewer, and an operator scoped to the `emta` domain. Each
//!   role is allowed and refused what it should; the scoped operator sees
//!   and changes only its partition.
//! - An account created and then moved between domains through the API:
//!   the device's next DHCP exchange changes pool, and the INIT-REBOOT
//!   REQUEST for the old pool's address is NAKed (seed 004 section 3.1).
//! - A bad reload is refused with file and line, the old configuration
//!   keeps answering; validate answers the same errors without a reload.
//! - The audit log has every change and every failed login; brute-forced
//!   logins are refused (429). Malformed JSON, oversized bodies, unknown
//!   fields and injection attempts get clear 4xx errors and change nothing.
//! - Events reach a Server-Sent-Events reader and the webhook.
//!
//! Needs root (namespaces), `curl`, `python3` and `/usr/bin/python3` with
//! `prometheus_client` (scripts/setup --peers); fails, not skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Netns, Proc, HEADEND};
use serde_json::{json, Value};

const API: &str = "http://127.0.0.1:6080";
const CM: &str = "00:10:95:77:00:01";

const CONFIG: &str = r#"
[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[[domain]]
name = "cablemodems"
[[domain]]
name = "emta"

[[pool]]
name = "cm"
domains = ["cablemodems"]
relays = ["127.0.0.2"]
network = "10.1.0.0/16"
ranges = [["10.1.0.10", "10.1.0.250"]]

[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.2"]
network = "10.2.0.0/16"
ranges = [["10.2.0.10", "10.2.0.250"]]

[dhcpv6]
listen = ["[::1]:6547"]
dss_id = "headend-test"
provisioning_server = ["prov.test.example"]
realm = "BASIC.1"

[[pool6]]
name = "eue6"
prefix = "2001:db8:2::/64"
links = ["2001:db8:100::1"]
domains = ["emta"]

[management]
listen = ["127.0.0.1:6080"]
max_body_bytes = 4096
login_failures_per_minute = 5
[[management.webhook]]
url = "http://127.0.0.1:9099/hook"
events = ["account."]
attempts = 3
timeout_ms = 2000
"#;

/// Users: name, role, scope.
const USERS: &[(&str, &str, &[&str])] = &[
    ("root-admin", "admin", &[]),
    ("ops", "operator", &[]),
    ("noc", "viewer", &[]),
    ("voice-ops", "operator", &["emta"]),
];
const PASSWORD: &str = "correct horse battery staple";

fn require_peers() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    assert!(root, "management needs root (network namespaces)");
    for tool in ["curl", "python3", "ip", "openssl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "management needs `{tool}` (scripts/setup --peers)");
    }
    let prom = Command::new("/usr/bin/python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        prom,
        "management needs Debian's python3-prometheus-client (scripts/setup --peers)"
    );
}

/// One HTTP exchange by curl: (status, body as JSON or a string).
fn http(
    ns: &Netns,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut cmd = ns.command("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "20",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    cmd.arg(format!("{API}{path}"));
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = code.trim().parse().unwrap_or(0);
    let v = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    (status, v)
}

fn login(ns: &Netns, user: &str) -> String {
    let (s, v) = http(
        ns,
        "POST",
        "/api/v1/login",
        None,
        Some(&json!({ "user": user, "password": PASSWORD }).to_string()),
    );
    assert_eq!(s, 200, "login {user}: {v}");
    v["token"].as_str().unwrap().to_string()
}

/// `dora.py` through the relay 127.0.0.2: (exit code, printed text).
fn dora(ns: &Netns, args: &[&str]) -> (i32, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    let out = ns
        .command("python3")
        .arg(&script)
        .args([
            "--server",
            "127.0.0.1:6767",
            "--mac",
            CM,
            "--vendor-class",
            "docsis3.0:",
        ])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn acked(text: &str) -> String {
    let ack = text
        .split("ACK: yiaddr ")
        .nth(1)
        .unwrap_or_else(|| panic!("no ACK in:\n{text}"));
    ack.split_whitespace().next().unwrap().to_string()
}

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("headend.toml");
    std::fs::write(&path, format!("{CONFIG}{extra}")).unwrap();
    path
}

#[test]
fn management_api_roles_partitions_moves_reloads_audit_events() {
    require_peers();
    let dir = common::scratch("mgmt").unwrap();
    let config = write_config(dir.path(), "");
    for (name, role, domains) in USERS {
        let mut cmd = Command::new(HEADEND);
        cmd.args(["user", "add", "--config"])
            .arg(&config)
            .arg(name)
            .args(["--role", role]);
        for d in *domains {
            cmd.args(["--domain", d]);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "user add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ns = Netns::loopback_relay().unwrap();
    // The webhook receiver: every POST body, one per line.
    let hook_log = dir.path().join("hook.log");
    let receiver = format!(
        r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        with open({log:?}, "ab") as f:
            f.write(self.rfile.read(n) + b"\n")
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", 9099), H).serve_forever()
"#,
        log = hook_log.display().to_string()
    );
    let mut cmd = ns.command("python3");
    cmd.args(["-c", &receiver]);
    let mut hook = Proc::spawn("webhook receiver", cmd).unwrap();
    let mut server = common::start_headend(&ns, &config).unwrap();
    let log = |s: &Proc| s.output_tail(6000);

    // --- Sessions and roles.
    let (s, v) = http(&ns, "GET", "/api/v1/accounts", None, None);
    assert_eq!(s, 401, "no token: {v}");
    let admin = login(&ns, "root-admin");
    let ops = login(&ns, "ops");
    let noc = login(&ns, "noc");
    let voice = login(&ns, "voice-ops");
    let (s, v) = http(&ns, "GET", "/api/v1/whoami", Some(&voice), None);
    assert_eq!(
        (s, v["role"].as_str(), v["domains"].clone()),
        (200, Some("operator"), json!(["emta"]))
    );

    let acc = |id: &str, domains: &[&str]| json!({ "id": id, "domains": domains }).to_string();
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&noc),
        Some(&acc(CM, &["cablemodems"])),
    );
    assert_eq!(s, 403, "a viewer may not create: {v}");
    let (s, _) = http(&ns, "POST", "/api/v1/config/reload", Some(&noc), None);
    assert_eq!(s, 403, "a viewer may not reload");
    let (s, _) = http(&ns, "GET", "/api/v1/users", Some(&ops), None);
    assert_eq!(s, 403, "an operator may not manage users");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&ops),
        Some(&acc(CM, &["cablemodems"])),
    );
    assert_eq!(s, 201, "operator creates: {v}\n{}", log(&server));
    assert_eq!(v["source"], "operator");
    let (s, _) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&ops),
        Some(&acc(CM, &["cablemodems"])),
    );
    assert_eq!(s, 409, "a second create conflicts");
    let (s, v) = http(
        &ns,
        "GET",
        &format!("/api/v1/accounts/{CM}"),
        Some(&noc),
        None,
    );
    assert_eq!(
        (s, v["domains"].clone()),
        (200, json!(["cablemodems"])),
        "a viewer reads"
    );

    // --- Partitions: voice-ops sees and changes only emta.
    let (s, _) = http(
        &ns,
        "GET",
        &format!("/api/v1/accounts/{CM}"),
        Some(&voice),
        None,
    );
    assert_eq!(
        s, 404,
        "another partition's account does not exist for a scoped operator"
    );
    let (s, _) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&voice),
        Some(&acc("00:10:95:77:00:02", &["cablemodems"])),
    );
    assert_eq!(
        s, 403,
        "a scoped operator may not assign another partition's domain"
    );
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&voice),
        Some(&acc("00:10:95:77:00:03", &["emta"])),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = http(&ns, "GET", "/api/v1/accounts", Some(&voice), None);
    assert_eq!(s, 200);
    let ids: Vec<&str> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["00:10:95:77:00:03"], "only its partition");
    let (s, v) = http(&ns, "GET", "/api/v1/pools", Some(&voice), None);
    assert_eq!(s, 200);
    let pools: Vec<&str> = v["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pools, ["mta", "eue6"], "only its partition's pools");

    // --- A real DHCP client: the account's domain decides the pool.
    let (code, text) = dora(&ns, &[]);
    assert_eq!(code, 0, "{text}\n{}", log(&server));
    let first = acked(&text);
    assert!(first.starts_with("10.1.0."), "cablemodems pool: {first}");
    let (s, v) = http(
        &ns,
        "GET",
        &format!("/api/v1/leases?mac={CM}"),
        Some(&noc),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(v["leases"][0]["ip"], first.as_str(), "{v}");
    assert_eq!(v["leases"][0]["state"], "active");
    let (s, v) = http(
        &ns,
        "GET",
        &format!("/api/v1/leases?ip={first}"),
        Some(&voice),
        None,
    );
    assert_eq!(
        (s, v["leases"].as_array().unwrap().len()),
        (200, 0),
        "not its partition: {v}"
    );
    let (s, v) = http(
        &ns,
        "GET",
        &format!("/api/v1/devices/{CM}"),
        Some(&ops),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["account"]["domains"], json!(["cablemodems"]));
    assert_eq!(v["leases"][0]["ip"], first.as_str());

    // Move it: the next exchange changes.
    let (s, v) = http(
        &ns,
        "PUT",
        &format!("/api/v1/accounts/{CM}"),
        Some(&ops),
        Some(&json!({ "domains": ["emta"] }).to_string()),
    );
    assert_eq!(s, 200, "{v}");
    let (code, text) = dora(&ns, &["--init-reboot", &first]);
    assert_eq!(
        code,
        3,
        "the address of a pool of a domain it left is NAKed:\n{text}\n{}",
        log(&server)
    );
    let (code, text) = dora(&ns, &[]);
    assert_eq!(code, 0, "{text}");
    let second = acked(&text);
    assert!(
        second.starts_with("10.2.0."),
        "emta pool after the move: {second}"
    );

    // The CLI shows the same picture as the API, from the running server.
    let out = Command::new(HEADEND)
        .args(["device", "show", "--config"])
        .arg(&config)
        .args(["--mac", CM])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains(&format!("account {CM} (store): domains emta")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("lease {second} (active) pool mta")),
        "{shown}"
    );
    let (s, v) = http(
        &ns,
        "GET",
        &format!("/api/v1/devices/{CM}"),
        Some(&ops),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(v["account"]["domains"], json!(["emta"]));
    assert!(
        v["leases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["ip"] == second.as_str()),
        "{v}"
    );
    assert!(
        v["timeline"]["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{v}"
    );

    // --- Fixed bindings: validated, applied at the next exchange, removable.
    const FIXED: &str = "00:10:95:77:00:05";
    let fixed =
        |mac: &str, ip: &str| json!({ "mac": mac, "relay": "127.0.0.2", "ip": ip }).to_string();
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/fixed4",
        Some(&ops),
        Some(&fixed(FIXED, &first)),
    );
    assert_eq!(s, 409, "an address leased to another device: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is leased to"),
        "{v}"
    );
    let (s, _) = http(
        &ns,
        "POST",
        "/api/v1/fixed4",
        Some(&voice),
        Some(&fixed(FIXED, "10.1.0.200")),
    );
    assert_eq!(s, 403, "not a pool of the scoped operator's domains");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/fixed4",
        Some(&ops),
        Some(&fixed(FIXED, "10.1.0.200")),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/fixed4",
        Some(&ops),
        Some(&fixed("00:10:95:77:00:06", "10.1.0.200")),
    );
    assert_eq!(s, 409, "the address is bound: {v}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    let out = ns
        .command("python3")
        .arg(&script)
        .args(["--server", "127.0.0.1:6767", "--mac", FIXED])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        acked(&text),
        "10.1.0.200",
        "the fixed address at the next exchange"
    );
    let (s, v) = http(&ns, "GET", "/api/v1/fixed4", Some(&noc), None);
    assert_eq!(
        (s, v[0]["ip"].as_str(), v[0]["read_only"].as_bool()),
        (200, Some("10.1.0.200"), Some(false)),
        "{v}"
    );
    let (s, _) = http(
        &ns,
        "DELETE",
        &format!("/api/v1/fixed4/{FIXED}/127.0.0.2"),
        Some(&ops),
        None,
    );
    assert_eq!(s, 204);
    let (s, v) = http(&ns, "GET", "/api/v1/fixed4", Some(&noc), None);
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(0)));

    // --- DHCPv6 reservations: the eUE gets its reserved address.
    const EUE: &str = "00:10:95:77:66:01";
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&voice),
        Some(&acc(EUE, &["emta"])),
    );
    assert_eq!(s, 201, "{v}");
    let res = |mac: &str, a: &str| json!({ "mac": mac, "address": a }).to_string();
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/reservations6",
        Some(&voice),
        Some(&res(EUE, "2001:db8:9::1")),
    );
    assert_eq!(s, 409, "outside every pool6: {v}");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/reservations6",
        Some(&voice),
        Some(&res(EUE, "2001:db8:2::77")),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["pool"], "eue6");
    let (s, _) = http(
        &ns,
        "POST",
        "/api/v1/reservations6",
        Some(&ops),
        Some(&res("00:10:95:77:66:02", "2001:db8:2::77")),
    );
    assert_eq!(s, 409, "reserved already");
    let eue6 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/eue6.py");
    let out = ns
        .command("python3")
        .arg(&eue6)
        .args(["--server", "[::1]:6547", "--mac", EUE])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "eue6.py: {text}\n{}", log(&server));
    assert!(
        text.contains("\"address\": \"2001:db8:2::77\""),
        "the reserved address: {text}"
    );
    let (s, v) = http(
        &ns,
        "GET",
        &format!("/api/v1/leases6?mac={EUE}"),
        Some(&voice),
        None,
    );
    assert_eq!(s, 200);
    assert_eq!(v["leases"][0]["address"], "2001:db8:2::77/128", "{v}");
    let (s, v) = http(&ns, "GET", "/api/v1/reservations6", Some(&noc), None);
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)), "{v}");
    let (s, _) = http(
        &ns,
        "DELETE",
        "/api/v1/reservations6/2001:db8:2::77/128",
        Some(&voice),
        None,
    );
    assert_eq!(s, 204);

    // --- Configuration: a bad reload is refused, the old one keeps serving.
    let good = std::fs::read_to_string(&config).unwrap();
    let broken = format!(
        "{good}\n[[pool]]\nname = \"bad\"\nrelays = [\"127.0.0.2\"]\nnetwork = \"not a network\"\nranges = []\n"
    );
    let bad_line = broken
        .lines()
        .position(|l| l.contains("not a network"))
        .unwrap() as u64
        + 1;
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/config/validate",
        Some(&ops),
        Some(&json!({ "text": broken }).to_string()),
    );
    assert_eq!(s, 200);
    assert_eq!(v["valid"], false, "{v}");
    let line = v["errors"][0]["line"].as_u64().unwrap();
    assert_eq!(line, bad_line, "the error names its line: {v}");
    assert!(v["errors"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("headend.toml"));
    std::fs::write(&config, &broken).unwrap();
    let (s, v) = http(&ns, "POST", "/api/v1/config/reload", Some(&ops), None);
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["errors"][0]["line"].as_u64(), Some(line), "{v}");
    let (code, text) = dora(&ns, &[]);
    assert_eq!(code, 0, "the old configuration still answers: {text}");
    // A plugin whose config table makes every call decline (issue 20): the
    // API's reload runs the same load-time self-test as check and SIGHUP.
    if let Some(flow) = common::dist_plugin("flow-select") {
        let declining = format!(
            "{good}\n[[plugin]]\nname = \"flow\"\npath = \"{}\"\nhooks = [\"flow-select\"]\n[plugin.config]\nvoice_flow = 5\n",
            flow.display()
        );
        let plugin_line = declining.lines().position(|l| l == "[[plugin]]").unwrap() as u64 + 1;
        std::fs::write(&config, &declining).unwrap();
        let (s, v) = http(&ns, "POST", "/api/v1/config/reload", Some(&ops), None);
        assert_eq!(s, 422, "{v}");
        assert_eq!(
            v["error"]["errors"][0]["line"].as_u64(),
            Some(plugin_line),
            "{v}"
        );
        assert!(v.to_string().contains("voice_flow"), "{v}");
        let (code, text) = dora(&ns, &[]);
        assert_eq!(code, 0, "the old configuration still answers: {text}");
    }
    std::fs::write(&config, &good).unwrap();
    let (s, v) = http(&ns, "POST", "/api/v1/config/reload", Some(&ops), None);
    assert_eq!((s, v["generation"].as_u64()), (200, Some(2)), "{v}");
    let (s, v) = http(&ns, "GET", "/api/v1/config", Some(&noc), None);
    assert_eq!((s, v["generation"].as_u64()), (200, Some(2)));
    assert!(v["text"].as_str().unwrap().contains("[management]"));

    // --- Users and API tokens through the API.
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/users",
        Some(&admin),
        Some(&json!({ "name": "oss", "role": "viewer", "password": PASSWORD }).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/users/oss/tokens",
        Some(&admin),
        Some(&json!({ "label": "billing" }).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    let oss = v["token"].as_str().unwrap().to_string();
    let (s, v) = http(&ns, "GET", "/api/v1/whoami", Some(&oss), None);
    assert_eq!((s, v["user"].as_str()), (200, Some("oss")));
    let (s, v) = http(&ns, "GET", "/api/v1/users", Some(&admin), None);
    assert_eq!(s, 200);
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|u| u.get("password").is_none()),
        "no hash shown: {v}"
    );
    let (s, _) = http(&ns, "DELETE", "/api/v1/users/oss", Some(&admin), None);
    assert_eq!(s, 204);
    let (s, _) = http(&ns, "GET", "/api/v1/whoami", Some(&oss), None);
    assert_eq!(s, 401, "a deleted user's token is dead");

    // --- Bad input: clear 4xx, nothing changed.
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&ops),
        Some("{\"id\": "),
    );
    assert_eq!(s, 400, "malformed JSON: {v}");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&ops),
        Some(&json!({ "id": "00:10:95:77:00:09", "domains": [], "role": "admin" }).to_string()),
    );
    assert_eq!(s, 400, "unknown field: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{v}"
    );
    let huge = json!({ "id": "00:10:95:77:00:09", "domains": [], "attributes": { "k": "x".repeat(8000) } }).to_string();
    let (s, _) = http(&ns, "POST", "/api/v1/accounts", Some(&ops), Some(&huge));
    assert_eq!(s, 413, "oversized body");
    let (s, v) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&ops),
        Some(&acc("x'; DROP TABLE accounts; --", &[])),
    );
    assert_eq!(s, 400, "an injection is just a bad id: {v}");
    let (s, _) = http(
        &ns,
        "GET",
        "/api/v1/accounts/..%2F..%2Fetc%2Fpasswd",
        Some(&ops),
        None,
    );
    assert_eq!(s, 400, "path traversal is just a bad id");
    let (s, _) = http(
        &ns,
        "POST",
        "/api/v1/accounts",
        Some(&ops),
        Some(&acc("00:10:95:77:00:09", &["nosuchdomain"])),
    );
    assert_eq!(s, 400, "undeclared domain");
    let (s, v) = http(&ns, "GET", "/api/v1/accounts", Some(&admin), None);
    assert_eq!(
        v["accounts"].as_array().map(Vec::len),
        Some(3),
        "nothing was created: {v} {s}"
    );

    // --- Events: an SSE reader sees a lease granted, the webhook the account changes.
    let mut sse = ns.command("curl");
    sse.args([
        "-sN",
        "--max-time",
        "4",
        "-H",
        &format!("Authorization: Bearer {noc}"),
    ])
    .arg(format!("{API}/api/v1/events?kind=lease."));
    let reader = sse.stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let (code, text) = dora(&ns, &[]);
    assert_eq!(code, 0, "{text}");
    let out = reader.wait_with_output().unwrap();
    let stream = String::from_utf8_lossy(&out.stdout);
    assert!(
        stream.contains("event: lease.granted"),
        "SSE stream:\n{stream}"
    );
    assert!(stream.contains(CM), "{stream}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let hooked = loop {
        let t = std::fs::read_to_string(&hook_log).unwrap_or_default();
        if t.contains("account.changed") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for kind in ["account.created", "account.changed"] {
        assert!(hooked.contains(kind), "webhook got {kind}:\n{hooked}");
    }
    assert!(
        !hooked.contains("lease."),
        "the webhook takes only account events:\n{hooked}"
    );

    // --- /metrics, parsed by the Prometheus client library.
    let mut cmd = ns.command("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "10",
        "-H",
        &format!("Authorization: Bearer {noc}"),
    ])
    .arg(format!("{API}/metrics"));
    let metrics = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    let metrics_file = dir.path().join("metrics.txt");
    std::fs::write(&metrics_file, &metrics).unwrap();
    let parse = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\nfams = list(p(open(sys.argv[1]).read()))\nprint(len(fams)); print(' '.join(f.name for f in fams))",
        ])
        .arg(&metrics_file)
        .output()
        .unwrap();
    let parsed = String::from_utf8_lossy(&parse.stdout);
    assert!(
        parse.status.success(),
        "prometheus_client rejected /metrics: {}\n{metrics}",
        String::from_utf8_lossy(&parse.stderr)
    );
    for name in [
        "headend_management_responses",
        "headend_events_published",
        "headend_webhook_events",
        "headend_pool_addresses",
    ] {
        assert!(parsed.contains(name), "{name} in {parsed}");
    }
    let (s, _) = http(&ns, "GET", "/metrics", None, None);
    assert_eq!(s, 401, "/metrics needs a login unless open_metrics");

    // --- Brute force: refused after five failures a minute, audited.
    let bad = json!({ "user": "root-admin", "password": "not the password" }).to_string();
    let codes: Vec<u16> = (0..7)
        .map(|_| http(&ns, "POST", "/api/v1/login", None, Some(&bad)).0)
        .collect();
    assert_eq!(&codes[..5], [401; 5], "{codes:?}");
    assert_eq!(&codes[5..], [429; 2], "{codes:?}");
    let (s, _) = http(
        &ns,
        "POST",
        "/api/v1/login",
        None,
        Some(&json!({ "user": "root-admin", "password": PASSWORD }).to_string()),
    );
    assert_eq!(s, 429, "even the right password waits out the minute");

    // --- The audit log has every change, with who, from where, before and after.
    let (s, v) = http(&ns, "GET", "/api/v1/audit?limit=1000", Some(&admin), None);
    assert_eq!(s, 200);
    let entries = v.as_array().unwrap();
    let has = |action: &str, outcome: &str, target: &str| {
        entries
            .iter()
            .any(|e| e["action"] == action && e["outcome"] == outcome && e["target"] == target)
    };
    assert!(has("account.create", "ok", CM));
    assert!(has("account.update", "ok", CM));
    let moved = entries
        .iter()
        .find(|e| e["action"] == "account.update")
        .unwrap();
    assert_eq!(
        (moved["user"].as_str(), moved["from"].as_str()),
        (Some("ops"), Some("127.0.0.1"))
    );
    assert_eq!(
        (
            moved["before"]["domains"].clone(),
            moved["after"]["domains"].clone()
        ),
        (json!(["cablemodems"]), json!(["emta"]))
    );
    assert!(has("account.create", "ok", "00:10:95:77:00:03"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "config.reload" && e["outcome"] == "failed"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "config.reload" && e["outcome"] == "ok"));
    assert!(
        has("user.create", "ok", "oss")
            && has("token.create", "ok", "oss")
            && has("user.delete", "ok", "oss")
    );
    let failed = entries
        .iter()
        .filter(|e| e["action"] == "login.failed")
        .count();
    assert!(failed >= 7, "{failed} failed logins audited");
    assert!(entries.iter().any(|e| e["action"] == "login.failed"
        && e["outcome"] == "refused"
        && e["detail"].as_str().unwrap_or("").contains("too many")));
    // Refused attempts to change something are audited with who and why.
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "request.refused")
        .collect();
    assert!(
        refused.iter().any(|e| e["user"] == "ops"
            && e["target"] == "/api/v1/accounts"
            && e["detail"].as_str().unwrap_or("").contains("413")),
        "the oversized body: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|e| e["user"] == "noc" && e["detail"].as_str().unwrap_or("").contains("403")),
        "the viewer's refused create: {refused:?}"
    );
    // An operator reads only its own entries.
    let (_, v) = http(&ns, "GET", "/api/v1/audit", Some(&ops), None);
    assert!(
        v.as_array().unwrap().iter().all(|e| e["user"] == "ops"),
        "{v}"
    );

    let status = server.stop(Duration::from_secs(15)).unwrap();
    assert!(status.success(), "{}", log(&server));
    let _ = hook.stop(Duration::from_secs(5));
}

/// TLS on the management listener (rustls), checked by curl against the
/// certificate openssl made; plain HTTP off loopback is refused by `check`.
#[test]
fn management_tls_is_served_and_plaintext_off_loopback_is_refused() {
    require_peers();
    let dir = common::scratch("mgmt-tls").unwrap();
    let base = "[server]\nstore = \"state\"\n[dhcpv4]\nlisten = [\"127.0.0.1:6767\"]\n";
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        format!("{base}[management]\nlisten = [\"0.0.0.0:6443\"]\n"),
    )
    .unwrap();
    let out = Command::new(HEADEND)
        .args(["check", "--config"])
        .arg(&plain)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("plain.toml:6") && text.contains("has no TLS"),
        "{text}"
    );

    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=headend-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.path().join("tls.toml");
    std::fs::write(
        &config,
        format!("{base}[management]\nlisten = [\"127.0.0.1:6443\"]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"),
    )
    .unwrap();
    let mut add = Command::new(HEADEND)
        .args(["user", "add", "--config"])
        .arg(&config)
        .args(["tls-admin", "--role", "admin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(add.wait().unwrap().success());
    let ns = Netns::loopback_relay().unwrap();
    let mut server = common::start_headend(&ns, &config).unwrap();
    let curl = |args: &[&str]| {
        let out = ns
            .command("curl")
            .args(["-sS", "--max-time", "10"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ca = cert.display().to_string();
    let (ok, body, err) = curl(&[
        "--cacert",
        &ca,
        "https://127.0.0.1:6443/api/v1/openapi.json",
    ]);
    assert!(
        ok && body.contains("\"openapi\""),
        "{err}\n{}",
        server.output_tail(3000)
    );
    let login = json!({ "user": "tls-admin", "password": PASSWORD }).to_string();
    let (ok, body, err) = curl(&[
        "--cacert",
        &ca,
        "-H",
        "content-type: application/json",
        "-d",
        &login,
        "https://127.0.0.1:6443/api/v1/login",
    ]);
    assert!(ok && body.contains("\"token\":\"hs_"), "{body}{err}");
    // Without the certificate's authority curl refuses; plain HTTP gets no answer.
    let (ok, _, _) = curl(&["https://127.0.0.1:6443/api/v1/openapi.json"]);
    assert!(!ok, "an unknown authority must not verify");
    let (ok, body, _) = curl(&["-f", "http://127.0.0.1:6443/api/v1/openapi.json"]);
    assert!(
        !ok && !body.contains("openapi"),
        "plain HTTP on the TLS listener: {body}"
    );
    let status = server.stop(Duration::from_secs(15)).unwrap();
    assert!(status.success(), "{}", server.output_tail(3000));
}
