//! `headend explain`: runs the server's own DHCPv4 pipeline on a synthetic
//! DISCOVER and REQUEST from the given device, against an in-memory store,
//! and prints every decision and the options of the OFFER and ACK.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_server::dhcpv4::process::system_clock;
use headend_server::dhcpv4::{context, Inbound, Outcome};
use headend_server::runtime::Server;
use headend_store::{MemoryStore, Store};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

pub(crate) fn request(
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
    mtype: MessageType,
    extra: &[(u8, Vec<u8>)],
) -> Result<Vec<u8>> {
    let mut b = Builder::new();
    b.op = BOOTREQUEST;
    b.htype = 1;
    b.hlen = mac.len().min(16) as u8;
    b.xid = 0x4845_4144;
    for (i, x) in mac.iter().take(16).enumerate() {
        if let Some(slot) = b.chaddr.get_mut(i) {
            *slot = *x;
        }
    }
    if let Some(r) = relay {
        b.giaddr = r;
        b.hops = 1;
    }
    b.push_option(code::MESSAGE_TYPE, &[u8::from(mtype)]);
    for (c, v) in extra {
        b.push_option(*c, v);
    }
    // Option 82 is the relay's and goes last (RFC 3046).
    for (c, v) in opts.iter().filter(|(c, _)| *c != code::RELAY_AGENT_INFO) {
        b.push_option(*c, v);
    }
    for (c, v) in opts.iter().filter(|(c, _)| *c == code::RELAY_AGENT_INFO) {
        b.push_option(*c, v);
    }
    b.encode(1500)
        .map_err(|e| anyhow!("cannot build the request: {e}"))
}

fn print_reply(snap: &Snapshot, what: &str, bytes: &[u8]) {
    match Packet::parse(bytes) {
        Ok(p) => {
            println!(
                "\n{what}: yiaddr {} siaddr {} ({} octets)",
                p.yiaddr,
                p.siaddr,
                bytes.len()
            );
            if let Some(f) = p.boot_file() {
                println!("  file: {}", String::from_utf8_lossy(f));
            }
            for (c, data) in p.options.iter() {
                for line in headend_model::options::describe(&snap.registry, c, &data).lines() {
                    println!("  {line}");
                }
            }
        }
        Err(e) => println!("\n{what}: unparsable reply: {e}"),
    }
}

/// Runs the explanation and prints it.
pub fn explain(
    config: &Path,
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
) -> Result<()> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let server_ip = snap
        .dhcpv4
        .as_ref()
        .and_then(|d| {
            d.server_id.or_else(|| {
                d.listen.first().and_then(|a| match a.ip() {
                    std::net::IpAddr::V4(v) => Some(v),
                    _ => None,
                })
            })
        })
        .ok_or_else(|| anyhow!("the configuration has no [dhcpv4] service"))?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut server =
        Server::with_store(config, snap, store, system_clock()).map_err(|e| anyhow!("{e}"))?;
    // The same plugins the server would run (flow selection shows in the
    // trace); their key/value state is a scratch one, like the store.
    server
        .set_hook_factory(crate::plugins::factory(|| {
            headend_plugin::PluginHost::new(
                headend_plugin::HostConfig::default(),
                Arc::new(headend_plugin::MemoryKv::new()),
            )
        }))
        .map_err(|e| anyhow!("plugins:\n{e}"))?;
    let snap = server.snapshot();
    let svc = server.dhcpv4();
    let local = SocketAddrV4::new(server_ip, 67);
    let source = match relay {
        Some(r) => SocketAddrV4::new(r, 67),
        None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    };

    let discover = request(mac, relay, opts, MessageType::Discover, &[])?;
    let pkt = Packet::parse(&discover).map_err(|e| anyhow!("{e}"))?;
    let dev =
        context::device(&snap, &pkt).map_err(|r| anyhow!("the request would be dropped: {r}"))?;
    println!("device {} (account id {})", dev.mac, dev.account_id);
    println!(
        "  vendor class {:?}: type {} (typeid {}), family {} {}",
        dev.ctx.device.vendor_class,
        dev.ctx.device.type_name,
        dev.ctx.device.typeid,
        dev.ctx.device.family,
        dev.ctx.device.version
    );
    if !dev.ctx.device.supported_flows.is_empty() {
        println!(
            "  supported provisioning flows: {}",
            dev.ctx.device.supported_flows.join(", ")
        );
    }
    println!(
        "  dual-stack capable (IP_PREF b'111 or TLV 5.38): {}",
        dev.dual.capable()
    );
    println!(
        "  requested (55): {:?}; CableLabs ORO: {:?}",
        dev.requested.prl, dev.requested.vendor_oro
    );
    if let Some(m) = &dev.remote_id_mac {
        println!("  behind cable modem {m} (option 82 remote-id)");
    }

    let mut trace = Trace::enabled();
    let outcome = svc.handle(
        &Inbound {
            data: &discover,
            source,
            local,
        },
        &mut trace,
    );
    println!("\nDISCOVER:");
    for n in trace.notes() {
        println!("  - {n}");
    }
    let offer = match outcome {
        Outcome::Reply { packet, .. } => packet,
        Outcome::Drop(r) | Outcome::Silent(r) => {
            println!("\nno OFFER: {r}");
            return Ok(());
        }
        Outcome::Commit(_) => {
            println!("\nno OFFER");
            return Ok(());
        }
    };
    print_reply(&snap, "OFFER", &offer);
    let yiaddr = Packet::parse(&offer)
        .map(|p| p.yiaddr)
        .map_err(|e| anyhow!("{e}"))?;

    let req = request(
        mac,
        relay,
        opts,
        MessageType::Request,
        &[
            (code::SERVER_ID, server_ip.octets().to_vec()),
            (code::REQUESTED_IP, yiaddr.octets().to_vec()),
        ],
    )?;
    let mut trace = Trace::enabled();
    let outcome = svc.handle(
        &Inbound {
            data: &req,
            source,
            local,
        },
        &mut trace,
    );
    println!("\nREQUEST:");
    for n in trace.notes() {
        println!("  - {n}");
    }
    match outcome {
        Outcome::Reply { packet, .. } => print_reply(&snap, "ACK", &packet),
        Outcome::Drop(r) | Outcome::Silent(r) => println!("\nno ACK: {r}"),
        Outcome::Commit(_) => println!("\nno ACK"),
    }
    Ok(())
}
