//! headend against ISC dhclient 4.4 on a broadcast segment: a veth pair between two
//! namespaces, the server end 192.0.2.1/24 (shared/docs/peers.md §2, §4; RFC 2131 §4.1
//! for replies to a client that has no address yet).

use crate::common;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use common::scenarios::{self, SEGMENT_POOL, SEGMENT_SERVER};
use common::{peers_available, scratch, HeadendServer};

/// A headend config serving the directly attached segment on `vs0`.
fn segment_config(dir: &Path) -> Result<PathBuf> {
    let store = dir.join("store");
    let text = format!(
        r#"[server]
name = "peer-dhclient"
store = "{store}"

[dhcpv4]
listen = ["0.0.0.0:67"]
interface = "vs0"
server_id = "{SEGMENT_SERVER}"

[[pool]]
name = "segment"
relays = ["0.0.0.0"]
network = "192.0.2.0/24"
ranges = [["{first}", "{last}"]]
lifetime = 3600
[pool.options]
routers = "{SEGMENT_SERVER}"
"#,
        store = store.display(),
        first = SEGMENT_POOL.0,
        last = SEGMENT_POOL.1,
    );
    let path = dir.join("headend.toml");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[test]
fn dhclient_gets_an_address_on_a_veth_segment() -> Result<()> {
    if !peers_available("peer_dhclient", &["dhclient"])? {
        return Ok(());
    }
    let dir = scratch("dhclient")?;
    let (srv, cli) = scenarios::segment()?;
    let mut server = HeadendServer::new(segment_config(dir.path())?);
    scenarios::dhclient_bound(&mut server, &srv, &cli, dir.path())
}

/// Issue 17 (DDNS proof with a real client): ISC dhclient on the veth
/// segment sends its FQDN (option 81, S=1: the server updates the A); BIND 9
/// (started here, a TSIG key, in the server's namespace) then holds the A,
/// the PTR and the DHCID, the ACK's option 81 carries the decision, and
/// `dhclient -r` (DHCPRELEASE) removes all three.
#[test]
fn dhclient_fqdn_goes_into_bind_and_its_release_takes_it_out() -> Result<()> {
    use common::{Dhclient, Dhcp4Server, Named};
    use std::time::Duration;
    if !peers_available("peer_dhclient ddns dhclient", &["dhclient", "named", "dig"])? {
        return Ok(());
    }
    let dir = scratch("dhclient-ddns")?;
    let (srv, cli) = scenarios::segment()?;
    let bind_dir = dir.path().join("bind");
    std::fs::create_dir_all(&bind_dir)?;
    let mut named = Named::start(Some(&srv), &bind_dir, 5353)?;
    let config = segment_config(dir.path())?;
    let mut text = std::fs::read_to_string(&config)?;
    text.push('\n');
    text.push_str(&ddns_section(named.port, common::DDNS_SECRET));
    std::fs::write(&config, text)?;
    // dhclient.conf(5): the FQDN option with S set and the name in wire
    // format (E=1), and the option 81 answer asked for.
    let conf = dir.path().join("dhclient.conf");
    std::fs::write(
        &conf,
        "send fqdn.fqdn \"cm-dhc1.example.test.\";\n\
         send fqdn.server-update on;\n\
         send fqdn.encoded on;\n\
         request subnet-mask, routers, fqdn;\n",
    )?;
    let mut server = HeadendServer::new(config);
    server.start(&srv)?;
    let mut client = Dhclient::start_with(&cli, "vc0", dir.path(), 30, Some(&conf))?;
    let vars = match client.wait_bound(Duration::from_secs(25)) {
        Ok(v) => v,
        Err(e) => anyhow::bail!("{e:#}\nheadend log:\n{}", server.log()),
    };
    client.stop()?;
    let ip = vars
        .get("new_ip_address")
        .context("BOUND without new_ip_address")?
        .clone();
    // The ACK's option 81 as dhclient decoded it: S=1 (the server did the A),
    // E=1 as the client asked, RCODEs 255, the name it sent (dhclient shows
    // it without the root dot).
    let var = |k: &str| vars.get(k).map(String::as_str);
    anyhow::ensure!(
        var("new_fqdn_server_update") == Some("true")
            && var("new_fqdn_no_client_update") == Some("false")
            && var("new_fqdn_encoded") == Some("true")
            && var("new_fqdn_rcode1") == Some("255")
            && var("new_fqdn_rcode2") == Some("255")
            && var("new_fqdn_fqdn") == Some("cm-dhc1.example.test"),
        "option 81 of the ACK as dhclient saw it: {vars:?}"
    );
    let o: Vec<&str> = ip.split('.').collect();
    let ptr = format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]);
    let t = Duration::from_secs(20);
    let srv_ns = Some(&srv);
    named
        .wait(srv_ns, "cm-dhc1.example.test", "A", t, |a| a == ip)
        .with_context(|| server.log())?;
    named.wait(srv_ns, &ptr, "PTR", t, |p| p == "cm-dhc1.example.test.")?;
    named.wait(srv_ns, "cm-dhc1.example.test", "DHCID", t, |d| {
        !d.is_empty()
    })?;
    // What dhclient-script would do on BOUND: the address on the interface,
    // so that the RELEASE leaves from it to the server, unicast.
    cli.add_addr("vc0", &format!("{ip}/24"))?;
    let out = Dhclient::release(&cli, "vc0", dir.path(), Some(&conf))?;
    anyhow::ensure!(out.contains("DHCPRELEASE"), "dhclient -r:\n{out}");
    named
        .wait(srv_ns, "cm-dhc1.example.test", "A", t, str::is_empty)
        .with_context(|| format!("{out}\n{}", server.log()))?;
    named.wait(srv_ns, &ptr, "PTR", t, str::is_empty)?;
    named.wait(srv_ns, "cm-dhc1.example.test", "DHCID", t, str::is_empty)?;
    server.stop()?;
    named.stop()?;
    Ok(())
}

/// The `[ddns]` section for the test's named on `port`, signing with
/// `secret`, with short retry timers.
fn ddns_section(port: u16, secret: &str) -> String {
    format!(
        r#"[ddns]
server = "127.0.0.1:{port}"
forward_zones = ["example.test"]
reverse_zones = ["2.0.192.in-addr.arpa"]
keys = [{{ name = "{key}", secret = "{secret}" }}]
rto_ms = 200
max_retransmits = 1
retry_initial_ms = 300
retry_max_s = 1
"#,
        key = common::DDNS_KEY,
    )
}

/// headend with `[ddns]` pointing at the test's named, signing with `secret`.
fn ddns_config(dir: &Path, name: &str, port: u16, secret: &str) -> Result<PathBuf> {
    let text = format!(
        r#"[server]
store = "{store}"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[[pool]]
name = "lab"
relays = ["127.0.0.2"]
network = "192.0.2.0/24"
ranges = [["192.0.2.10", "192.0.2.99"]]
lifetime = 3600

{ddns}"#,
        store = dir.join("store").display(),
        ddns = ddns_section(port, secret),
    );
    let path = dir.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// dora.py's run with `args`: the ACK's address and its answer to option 81
/// (the "ACK fqdn:" line, RFC 4702 section 4 flags and name), if any.
fn dora_with_fqdn(mut python: std::process::Command, args: &[&str]) -> Result<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/dora.py");
    let out = python
        .arg(&script)
        .args(["--server", "127.0.0.1:6767"])
        .args(args)
        .output()
        .context("running dora.py")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "dora.py {args:?} failed:\n{text}");
    let ip = text
        .lines()
        .find_map(|l| l.strip_prefix("ACK: yiaddr "))
        .and_then(|r| r.split_whitespace().next())
        .with_context(|| format!("no ACK:\n{text}"))?;
    let fqdn = text
        .lines()
        .find_map(|l| l.strip_prefix("ACK fqdn: "))
        .unwrap_or_default();
    Ok((ip.to_string(), fqdn.to_string()))
}

/// Issue 17 (DDNS proof): BIND 9 started here with a TSIG key receives the
/// updates of real DHCPv4 exchanges (dora.py as the relay 127.0.0.2, the
/// name in option 81 or option 12): dig shows A, PTR and DHCID, a RELEASE
/// removes them, an update made while BIND is down catches up when it
/// returns (also across a headend restart: the job was in the store), and
/// a wrong key is refused by BIND, retried and logged, and the update lands
/// once the key is right.
#[test]
fn ddns_records_follow_real_dhcp_exchanges_in_bind() -> Result<()> {
    use common::{lab_dora, start_headend, Named, Netns, DDNS_SECRET, DDNS_WRONG_SECRET};
    use std::time::Duration;
    if !peers_available("peer_dhclient ddns", &["named", "dig", "python3"])? {
        return Ok(());
    }
    let dir = scratch("ddns4")?;
    let ns = Netns::loopback_relay()?;
    let bind_dir = dir.path().join("bind");
    std::fs::create_dir_all(&bind_dir)?;
    let mut named = Named::start(Some(&ns), &bind_dir, 5353)?;
    let good = ddns_config(dir.path(), "good.toml", named.port, DDNS_SECRET)?;
    let wrong = ddns_config(dir.path(), "wrong.toml", named.port, DDNS_WRONG_SECRET)?;
    let mut he = start_headend(&ns, &good)?;
    let dora = |args: &[&str]| lab_dora(ns.command("python3"), "127.0.0.1:6767", args);
    let t = Duration::from_secs(20);
    let ptr_of = |ip: &str| {
        let o: Vec<&str> = ip.split('.').collect();
        format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
    };

    // Option 81 (S set): A, PTR and DHCID; the ACK answers option 81 with
    // S=1 (the server updates the A), RCODEs 255, the name in ASCII (E=0).
    let (ip1, ack81) = dora_with_fqdn(
        ns.command("python3"),
        &["--mac", "00:10:95:dd:00:01", "--fqdn", "host1"],
    )?;
    anyhow::ensure!(
        ack81 == "S=1 O=0 E=0 N=0 rcode1=255 rcode2=255 name=host1.example.test.",
        "option 81 of the ACK: {ack81:?}"
    );
    let log = |he: &common::Proc| he.output_tail(6000);
    named
        .wait(Some(&ns), "host1.example.test", "A", t, |a| a == ip1)
        .with_context(|| log(&he))?;
    named.wait(Some(&ns), &ptr_of(&ip1), "PTR", t, |p| {
        p == "host1.example.test."
    })?;
    let dhcid = named.wait(Some(&ns), "host1.example.test", "DHCID", t, |d| {
        !d.is_empty()
    })?;
    // Option 12 only: the server qualifies the name.
    let ip2 = dora(&["--mac", "00:10:95:dd:00:02", "--hostname", "Host_2"])?;
    named.wait(Some(&ns), "host-2.example.test", "A", t, |a| a == ip2)?;

    // S=0 (the client updates its A itself), E=1: the ACK says S=0 O=0 with
    // the name in wire format, and the server adds the PTR only; its
    // RELEASE removes that PTR (and there is no A or DHCID to remove).
    let s0 = [
        "--mac",
        "00:10:95:dd:00:06",
        "--fqdn",
        "host6",
        "--fqdn-flags",
        "0x04",
    ];
    let (ip6, ack81) = dora_with_fqdn(ns.command("python3"), &s0)?;
    anyhow::ensure!(
        ack81 == "S=0 O=0 E=1 N=0 rcode1=255 rcode2=255 name=host6.example.test.",
        "option 81 of the ACK to S=0: {ack81:?}"
    );
    named
        .wait(Some(&ns), &ptr_of(&ip6), "PTR", t, |p| {
            p == "host6.example.test."
        })
        .with_context(|| log(&he))?;
    anyhow::ensure!(named.dig(Some(&ns), "host6.example.test", "A").is_empty());
    anyhow::ensure!(named
        .dig(Some(&ns), "host6.example.test", "DHCID")
        .is_empty());
    let released = [&s0[..], &["--release"]].concat();
    dora_with_fqdn(ns.command("python3"), &released)?;
    named.wait(Some(&ns), &ptr_of(&ip6), "PTR", t, str::is_empty)?;

    // RELEASE (after a renewal that changes nothing): everything goes.
    let again = dora(&["--mac", "00:10:95:dd:00:01", "--fqdn", "host1", "--release"])?;
    anyhow::ensure!(again == ip1, "the same client got {again}, not {ip1}");
    named.wait(Some(&ns), "host1.example.test", "A", t, str::is_empty)?;
    named.wait(Some(&ns), &ptr_of(&ip1), "PTR", t, str::is_empty)?;
    named.wait(Some(&ns), "host1.example.test", "DHCID", t, str::is_empty)?;
    anyhow::ensure!(!dhcid.is_empty());

    // BIND down: the ACK still comes; the update catches up when BIND is back.
    named.stop()?;
    let ip3 = dora(&["--mac", "00:10:95:dd:00:03", "--fqdn", "host3"])?;
    std::thread::sleep(Duration::from_millis(1500));
    named.restart(Some(&ns))?;
    named
        .wait(Some(&ns), "host3.example.test", "A", t, |a| a == ip3)
        .with_context(|| log(&he))?;

    // BIND down and headend restarted: the job was in the store.
    named.stop()?;
    let ip4 = dora(&["--mac", "00:10:95:dd:00:04", "--fqdn", "host4"])?;
    he.stop(Duration::from_secs(15))?;
    named.restart(Some(&ns))?;
    let mut he = start_headend(&ns, &good)?;
    named
        .wait(Some(&ns), "host4.example.test", "A", t, |a| a == ip4)
        .with_context(|| log(&he))?;
    anyhow::ensure!(
        he.output()
            .contains("queued again the jobs of the previous run"),
        "{}",
        log(&he)
    );
    he.stop(Duration::from_secs(15))?;

    // A wrong key: BIND refuses (NOTAUTH/BADSIG), headend retries and says so.
    let mut he = start_headend(&ns, &wrong)?;
    let ip5 = dora(&["--mac", "00:10:95:dd:00:05", "--fqdn", "host5"])?;
    let deadline = std::time::Instant::now() + t;
    while !he.output().contains("ddns: update failed") {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no failure logged:\n{}",
            log(&he)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let out = he.output();
    anyhow::ensure!(
        out.matches("ddns: update failed").count() >= 2 && out.contains("BadSig"),
        "expected repeated BADSIG failures:\n{}",
        log(&he)
    );
    anyhow::ensure!(named.dig(Some(&ns), "host5.example.test", "A").is_empty());
    he.stop(Duration::from_secs(15))?;
    // With the right key the same job (from the store) lands: never lost.
    let he = start_headend(&ns, &good)?;
    named
        .wait(Some(&ns), "host5.example.test", "A", t, |a| a == ip5)
        .with_context(|| log(&he))?;
    // DHCP was never affected: every exchange above got its ACK.
    named.stop()?;
    Ok(())
}
