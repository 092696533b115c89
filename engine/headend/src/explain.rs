//! `headend explain`: runs the server's own DHCPv4 pipeline on a synthetic
//! DISCOVER and REQUEST from the given device, against an in-memory store,
//! and prints every decision and the options of the OFFER and ACK.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_server::dhcpv4::process::system_clock;
use headend_server::dhcpv4::{context, Inbound, Outcome};
use headend_server::dhcpv6::process::Outcome6;
use headend_server::runtime::Server;
use headend_store::{MemoryStore, Store};
use headend_wire::cablelabs::{ClVendorOptionsV6, VendorClass};
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
    link: Option<std::net::Ipv6Addr>,
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
    if let Some(link) = link {
        explain_v6(&server, mac, link, opts)?;
    }
    Ok(())
}

/// The DHCPv6 half of a dual-stack device (seed 000 section 6.3.5): the
/// same MAC boots through the CMTS's Relay-Forward on `link`, in the same
/// server, so it meets the account (and domains) the DHCPv4 exchange
/// created. The SOLICIT carries what the DHCPv4 options said: vendor class
/// 16 and 17.35 capabilities from option 60, the CableLabs ORO and device
/// type by family.
fn explain_v6(
    server: &Server,
    mac: &[u8],
    link: std::net::Ipv6Addr,
    opts: &[(u8, Vec<u8>)],
) -> Result<()> {
    use headend_wire::dhcpv6::{code as c6, parse, Builder, Duid, MessageType as M6, Packet as P6};
    use std::net::SocketAddrV6;

    if server.snapshot().dhcpv6.is_none() {
        println!("\n(no [dhcpv6] service: --link ignored)");
        return Ok(());
    }
    // What option 60 said, in DHCPv6 shapes: vendor class 16 and 17.35.
    let vc = opts
        .iter()
        .find(|(c, _)| *c == code::VENDOR_CLASS)
        .map(|(_, v)| VendorClass::parse(v));
    let class = vc
        .as_ref()
        .map(|v| v.raw.split(':').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let pktc = class.starts_with("pktc");
    let duid = Duid::Ll {
        hardware_type: 1,
        link_layer_address: mac,
    }
    .to_bytes();
    let cl = ClVendorOptionsV6 {
        oro: if pktc {
            vec![32, 33, 34, 37, 38, 39, 2171]
        } else {
            vec![32, 33, 34, 37, 38, 39, 2170, 2171]
        },
        device_type: Some(if pktc { "EDVA" } else { "ECM" }.to_string()),
        capabilities: vc.and_then(|v| v.capabilities),
        device_id: <[u8; 6]>::try_from(mac).ok(),
        ..ClVendorOptionsV6::default()
    };
    let vo = cl.encode().map_err(|e| anyhow!("{e}"))?;
    let message =
        |mtype: M6, xid: u32, extra: &dyn Fn(&mut Builder) -> Result<()>| -> Result<Vec<u8>> {
            let mut b = Builder::message(mtype, xid);
            b.client_id(&duid).map_err(|e| anyhow!("{e}"))?;
            b.oro(&[c6::DNS_SERVERS, c6::VENDOR_OPTS, c6::CLIENT_FQDN])
                .map_err(|e| anyhow!("{e}"))?;
            if !class.is_empty() {
                b.vendor_class(4491, &[class.as_bytes()])
                    .map_err(|e| anyhow!("{e}"))?;
            }
            b.vendor_opts(4491, &vo).map_err(|e| anyhow!("{e}"))?;
            if pktc {
                b.client_fqdn(0x01, "", false).map_err(|e| anyhow!("{e}"))?;
            }
            extra(&mut b)?;
            let inner = b.finish();
            let mut r = Builder::relay(M6::RelayForw, 0, link, "fe80::1".parse()?);
            r.relay_msg(&inner).map_err(|e| anyhow!("{e}"))?;
            Ok(r.finish())
        };
    let svc = server.dhcpv6();
    let source = SocketAddrV6::new("fe80::1".parse()?, 547, 0, 0);
    let inner_of = |packet: &[u8]| -> Result<Vec<u8>> {
        match parse(packet).map_err(|e| anyhow!("{e}"))? {
            P6::Relay(r) => Ok(r.relay_msg().to_vec()),
            P6::Message(_) => Ok(packet.to_vec()),
        }
    };
    let print6 = |what: &str, inner: &[u8]| -> Result<Vec<(u16, Vec<u8>)>> {
        let m = match parse(inner).map_err(|e| anyhow!("{e}"))? {
            P6::Message(m) => m,
            P6::Relay(_) => bail!("nested relay in the reply"),
        };
        println!("\n{what} ({} octets)", inner.len());
        let mut all = Vec::new();
        for (code, value) in m.options.iter() {
            match code {
                c6::IA_NA | c6::IA_PD => {
                    for ia in m.options.ia_nas().chain(m.options.ia_pds()).flatten() {
                        for a in ia.addresses().flatten() {
                            println!(
                                "  IA_NA {} address {} valid {} s",
                                ia.iaid, a.addr, a.valid_lifetime
                            );
                        }
                        for p in ia.prefixes().flatten() {
                            println!(
                                "  IA_PD {} prefix {}/{} valid {} s",
                                ia.iaid, p.prefix, p.prefix_len, p.valid_lifetime
                            );
                        }
                    }
                }
                c6::VENDOR_OPTS => match ClVendorOptionsV6::from_option17(value) {
                    Ok(Some(cl)) => println!("  17 vendor-opts 4491 = {cl:?}"),
                    _ => println!("  17 vendor-opts = {}", headend_store::hex_colon(value)),
                },
                _ => println!(
                    "  {code} {} = {}",
                    c6::name(code),
                    headend_store::hex_colon(value)
                ),
            }
            all.push((code, value.to_vec()));
        }
        Ok(all)
    };

    let mut trace = Trace::enabled();
    let sol = message(M6::Solicit, 0x00_4845, &|b| {
        b.ia_na(1, 0, 0, |_| Ok(()))
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })?;
    let out = svc.handle(&sol, source, &mut trace);
    println!("\nDHCPv6 SOLICIT (Relay-Forward, link {link}):");
    for n in trace.notes() {
        println!("  - {n}");
    }
    let adv = match out {
        Outcome6::Reply { packet, .. } => inner_of(&packet)?,
        Outcome6::Drop(r) | Outcome6::Silent(r) => {
            println!("\nno ADVERTISE: {r}");
            return Ok(());
        }
        Outcome6::Commit(_) => {
            println!("\nno ADVERTISE");
            return Ok(());
        }
    };
    print6("ADVERTISE", &adv)?;
    let adv_msg = match parse(&adv).map_err(|e| anyhow!("{e}"))? {
        P6::Message(m) => m,
        P6::Relay(_) => bail!("nested relay"),
    };
    let server_id = adv_msg
        .options
        .get(c6::SERVERID)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let addr = adv_msg
        .options
        .ia_nas()
        .flatten()
        .flat_map(|ia| ia.addresses().flatten().map(|a| a.addr).collect::<Vec<_>>())
        .next();
    let req = message(M6::Request, 0x00_4846, &|b| {
        b.server_id(&server_id).map_err(|e| anyhow!("{e}"))?;
        b.ia_na(1, 0, 0, |ib| {
            if let Some(a) = addr {
                ib.ia_addr(a, 0, 0)?;
            }
            Ok(())
        })
        .map(drop)
        .map_err(|e| anyhow!("{e}"))
    })?;
    let mut trace = Trace::enabled();
    let out = svc.handle(&req, source, &mut trace);
    println!("\nDHCPv6 REQUEST:");
    for n in trace.notes() {
        println!("  - {n}");
    }
    match out {
        Outcome6::Reply { packet, .. } => {
            print6("REPLY", &inner_of(&packet)?)?;
        }
        Outcome6::Drop(r) | Outcome6::Silent(r) => println!("\nno REPLY: {r}"),
        Outcome6::Commit(_) => println!("\nno REPLY"),
    }
    let id = headend_store::hex_colon(mac);
    if let Some(a) = server.dhcpv4().accounts.get(&id) {
        println!(
            "\naccount {} ({:?}): domains {:?}, shared by its DHCPv4 lease and DHCPv6 bindings",
            a.id, a.source, a.domains
        );
    }
    for l in svc.bindings_of_mac(&id) {
        println!("  DHCPv6 binding {:?}", l);
    }
    Ok(())
}
