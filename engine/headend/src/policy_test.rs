//! `headend test`: a site's policy tests. A test file (TOML) describes
//! devices — MAC, relay, request options, as `explain` takes them — and what
//! each must get over DHCPv4: an answer or none, the pool, the account's
//! domains, the address range, option values (as `explain` prints them,
//! decoded per the option type registry) and options that must be absent.
//! Each device runs through the server's own pipeline, plugins included,
//! as `explain` does (DISCOVER, then REQUEST), against a scratch in-memory
//! store. The tests of one file share one server (loaded once, plugins
//! compiled once) and run in order, so a later test sees the accounts and
//! leases an earlier one made; each file starts afresh. A failed expectation is
//! printed as `expected … / got …`, and any failure makes the exit status 1,
//! so a site keeps its policies under CI like code.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};
use headend_model::options::{decode_option, decode_option6};
use headend_server::dhcpv4::Outcome;
use headend_server::runtime::Server;
use headend_store::Mutation;
use headend_wire::dhcpv4::Packet;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;

use crate::explain::{exchange4, exchange6, no_reply, open_server, request_options};

/// A test file: `[[test]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default, rename = "test")]
    tests: Vec<Case>,
}

/// One device and what it must get.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// Shown in the report.
    name: String,
    /// The device's MAC (chaddr).
    mac: String,
    /// The relay (giaddr); absent: a local-segment client.
    relay: Option<Ipv4Addr>,
    /// Request options as `explain --option` takes them.
    #[serde(default)]
    options: Vec<String>,
    /// The CMTS link address: the same device then boots over DHCPv6
    /// through a Relay-Forward from it (after DHCPv4, as `explain --link`).
    link: Option<Ipv6Addr>,
    /// What the device must get over DHCPv4.
    #[serde(default)]
    expect: Expect,
    /// What the device must get over DHCPv6 (with `link`).
    expect6: Option<Expect6>,
}

/// DHCPv6 expectations of a [`Case`] (option paths as `v6/23`,
/// `v6/17/4491/33`; `v6/39` is the FQDN's name).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect6 {
    /// `false`: the server must not answer (no ADVERTISE).
    #[serde(default = "yes")]
    answer: bool,
    /// The pool6 of the REPLY's binding.
    pool: Option<String>,
    /// A prefix the bound address must be in.
    address_in: Option<Ipv6Net>,
    /// Option path → value as `explain` prints it.
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Option paths the REPLY must not carry.
    #[serde(default)]
    absent: Vec<String>,
}

/// DHCPv4 expectations of a [`Case`]; each one given is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// `false`: the server must not answer (no OFFER).
    #[serde(default = "yes")]
    answer: bool,
    /// The pool of the ACKed lease.
    pool: Option<String>,
    /// The device's account domains after the exchange.
    domains: Option<Vec<String>>,
    /// A network the ACKed address must be in.
    address_in: Option<Ipv4Net>,
    /// Option path (`67`, `122/6`, `125/4491/2`) → value as `explain` prints it.
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Option paths the ACK must not carry.
    #[serde(default)]
    absent: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            answer: true,
            pool: None,
            domains: None,
            address_in: None,
            options: BTreeMap::new(),
            absent: Vec::new(),
        }
    }
}

/// Compares an exchange's options (`got`: path → decoded value, `None` for
/// a container or an undecodable value) with the expected values and
/// absences.
fn compare_options(
    got: &BTreeMap<String, Option<String>>,
    want: &BTreeMap<String, String>,
    absent: &[String],
    problems: &mut Vec<String>,
) {
    for (path, want) in want {
        match got.get(path) {
            Some(Some(v)) if v == want => {}
            Some(Some(v)) => problems.push(format!("option {path}: expected {want:?} / got {v:?}")),
            Some(None) => problems.push(format!(
                "option {path}: expected {want:?} / got a container or an undecodable value"
            )),
            None => problems.push(format!(
                "option {path}: expected {want:?} / got no such option"
            )),
        }
    }
    for path in absent {
        if let Some(v) = got.get(path) {
            problems.push(format!(
                "option {path}: expected absent / got {}",
                v.as_deref().unwrap_or("(present)")
            ));
        }
    }
}

/// Runs the tests of `files` (each a test file, or a directory whose
/// `*.toml` files are) against `config`; prints a line per test and the
/// differences of each failure.
pub fn run(config: &Path, files: &[PathBuf]) -> Result<ExitCode> {
    let mut paths = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(f)
                .with_context(|| format!("{}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            v.sort();
            paths.extend(v);
        } else {
            paths.push(f.clone());
        }
    }
    if paths.is_empty() {
        anyhow::bail!("no test files given (a file, or a directory of *.toml)");
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        let file: TestFile =
            toml::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let (server, server_ip) = open_server(config)?;
        for case in &file.tests {
            match run_case(&server, server_ip, case) {
                Ok(problems) if problems.is_empty() => {
                    passed += 1;
                    println!("ok     {}: {}", path.display(), case.name);
                }
                Ok(problems) => {
                    failed += 1;
                    println!("FAILED {}: {}", path.display(), case.name);
                    for p in problems {
                        println!("         {p}");
                    }
                }
                Err(e) => {
                    failed += 1;
                    println!("FAILED {}: {}\n         {e:#}", path.display(), case.name);
                }
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One test: the differences between what it expects and what the
/// pipeline gave (empty: passed).
fn run_case(server: &Server, server_ip: Ipv4Addr, case: &Case) -> Result<Vec<String>> {
    let Some(mac) = headend_model::snapshot::normalize_mac(&case.mac)
        .and_then(|m| headend_model::snapshot::parse_hex(&m))
    else {
        anyhow::bail!("mac {:?} is not a MAC address", case.mac);
    };
    let opts = request_options(&case.options)?;
    let mut problems = Vec::new();
    run_case4(server, server_ip, case, &mac, &opts, &mut problems)?;
    if let (Some(link), Some(e6)) = (case.link, &case.expect6) {
        run_case6(server, &mac, link, &opts, e6, &mut problems)?;
    }
    Ok(problems)
}

/// The DHCPv4 half of a test (DISCOVER, then REQUEST), checked against
/// `case.expect`; differences are added to `problems`.
fn run_case4(
    server: &Server,
    server_ip: Ipv4Addr,
    case: &Case,
    mac: &[u8],
    opts: &[(u8, Vec<u8>)],
    problems: &mut Vec<String>,
) -> Result<()> {
    let snap = server.snapshot();
    let svc = server.dhcpv4();
    let x = exchange4(server, server_ip, mac, case.relay, opts)?;
    match (&x.offer, case.expect.answer) {
        (Outcome::Reply { .. }, true) => {}
        (Outcome::Reply { .. }, false) => {
            problems.push("expected no answer / got an OFFER".into());
            return Ok(());
        }
        (_, false) => return Ok(()),
        (o, true) => {
            problems.push(match no_reply(o) {
                "" => "expected an OFFER / got none".to_string(),
                r => format!("expected an OFFER / got none ({r})"),
            });
            return Ok(());
        }
    }
    let (ack, commit) = match x.ack {
        Some(Outcome::Reply { packet, commit, .. }) => (packet, commit),
        _ => {
            problems.push("expected an ACK / got none".into());
            return Ok(());
        }
    };
    let ack = Packet::parse(&ack).map_err(|e| anyhow!("{e}"))?;
    let lease = commit.iter().find_map(|m| match m {
        Mutation::PutLease4(l) => Some(l),
        _ => None,
    });
    let e = &case.expect;
    if let Some(want) = &e.pool {
        let got = lease.map_or("(no lease)", |l| l.pool.as_str());
        if got != want {
            problems.push(format!("pool: expected {want:?} / got {got:?}"));
        }
    }
    if let Some(net) = &e.address_in {
        if !net.contains(&ack.yiaddr) {
            problems.push(format!("address: expected in {net} / got {}", ack.yiaddr));
        }
    }
    if let Some(want) = &e.domains {
        let id = headend_store::hex_colon(mac);
        let got = svc.accounts.get(&id).map(|a| a.domains).unwrap_or_default();
        if &got != want {
            problems.push(format!("domains: expected {want:?} / got {got:?}"));
        }
    }
    // Every option and sub-option of the ACK, by path, as explain shows it.
    let mut got: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (c, data) in ack.options.iter() {
        for d in decode_option(&snap.registry, c, &data) {
            let value = match d.value {
                Some(Ok(v)) => Some(v.to_string()),
                Some(Err(_)) | None => None,
            };
            got.insert(d.path.to_string(), value);
        }
    }
    if let Some(file) = ack.boot_file() {
        got.insert(
            "file".into(),
            Some(String::from_utf8_lossy(file).into_owned()),
        );
    }
    got.insert("siaddr".into(), Some(ack.siaddr.to_string()));
    compare_options(&got, &e.options, &e.absent, problems);
    Ok(())
}

/// The DHCPv6 half of a test: the same device through a Relay-Forward
/// from `link`, checked against `e`; differences are added to `problems`.
fn run_case6(
    server: &Server,
    mac: &[u8],
    link: Ipv6Addr,
    opts: &[(u8, Vec<u8>)],
    e: &Expect6,
    problems: &mut Vec<String>,
) -> Result<()> {
    use headend_wire::dhcpv6::{code as c6, parse, ClientFqdn, Packet as P6};
    if server.snapshot().dhcpv6.is_none() {
        anyhow::bail!("link given but the configuration has no [dhcpv6] service");
    }
    let x = exchange6(server, mac, link, opts)?;
    match (&x.advertise, e.answer) {
        (Ok(_), true) => {}
        (Err(_), false) => return Ok(()),
        (Ok(_), false) => {
            problems.push("DHCPv6: expected no answer / got an ADVERTISE".into());
            return Ok(());
        }
        (Err(r), true) => {
            problems.push(format!("DHCPv6: expected an ADVERTISE / got none ({r})"));
            return Ok(());
        }
    }
    let (reply, commit) = match &x.reply {
        Some(Ok(r)) => r,
        Some(Err(r)) => {
            problems.push(format!("DHCPv6: expected a REPLY / got none ({r})"));
            return Ok(());
        }
        None => {
            problems.push("DHCPv6: expected a REPLY / got none".into());
            return Ok(());
        }
    };
    let binding = commit.iter().find_map(|m| match m {
        Mutation::PutLease6(l) => Some(l),
        _ => None,
    });
    if let Some(want) = &e.pool {
        let got = binding.map_or("(no binding)", |l| l.pool.as_str());
        if got != want {
            problems.push(format!("pool6: expected {want:?} / got {got:?}"));
        }
    }
    if let Some(net) = &e.address_in {
        match binding {
            Some(l) if net.contains(&l.address) => {}
            Some(l) => problems.push(format!("address: expected in {net} / got {}", l.address)),
            None => problems.push(format!("address: expected in {net} / got no binding")),
        }
    }
    let m = match parse(reply).map_err(|e| anyhow!("{e}"))? {
        P6::Message(m) => m,
        P6::Relay(_) => anyhow::bail!("nested relay in the REPLY"),
    };
    let snap = server.snapshot();
    let mut got: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (code, value) in m.options.iter() {
        if code == c6::CLIENT_FQDN {
            // Flags, then the name (RFC 4704): the name is compared.
            let name = ClientFqdn::parse(value)
                .ok()
                .and_then(|f| f.domain_name().ok())
                .map(|(n, _)| n);
            got.insert("v6/39".into(), name);
            continue;
        }
        for d in decode_option6(&snap.registry, code, value) {
            let value = match d.value {
                Some(Ok(v)) => Some(v.to_string()),
                Some(Err(_)) | None => None,
            };
            got.insert(d.path.to_string(), value);
        }
    }
    compare_options(&got, &e.options, &e.absent, problems);
    Ok(())
}
