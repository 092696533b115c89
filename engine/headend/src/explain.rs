//! `headend explain`: runs the server's own DHCPv4 pipeline on a synthetic
//! DISCOVER and REQUEST from the given device, against an in-memory store,
//! and prints every decision and the options of the OFFER and ACK.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use headend_model::snapshot::Snapshot;
use headend_model::trace::Trace;
use headend_server::control::DevicePicture;
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

/// The REQUEST that takes the address `yiaddr` offered by `server_ip`
/// (RFC 2131 section 3.1 step 3: options 54 and 50).
pub(crate) fn request_for(
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
    server_ip: Ipv4Addr,
    yiaddr: Ipv4Addr,
) -> Result<Vec<u8>> {
    request(
        mac,
        relay,
        opts,
        MessageType::Request,
        &[
            (code::SERVER_ID, server_ip.octets().to_vec()),
            (code::REQUESTED_IP, yiaddr.octets().to_vec()),
        ],
    )
}

/// The address DHCPv4 replies carry as the server's: `server_id`, else the
/// first IPv4 listen address.
pub(crate) fn v4_server_ip(snap: &Snapshot) -> Option<Ipv4Addr> {
    snap.dhcpv4.as_ref().and_then(|d| {
        d.server_id.or_else(|| {
            d.listen.first().and_then(|a| match a.ip() {
                std::net::IpAddr::V4(v) => Some(v),
                std::net::IpAddr::V6(_) => None,
            })
        })
    })
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

/// The server `explain` and `headend test` run: the configuration's own
/// pipeline and plugins over an in-memory store (a scratch one each time),
/// with the DHCPv4 server address replies carry.
pub(crate) fn open_server(config: &Path) -> Result<(Server, Ipv4Addr)> {
    open_server_with(config, None)
}

/// What the site's store holds of a device (`explain --from-store`): asked
/// of the running server over its control socket (it holds the store),
/// else read from the store through the same code as the API's device view.
pub fn stored_picture(config: &Path, mac: &[u8]) -> Result<DevicePicture> {
    let id = headend_store::hex_colon(mac);
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    if let Some(answer) = runtime
        .block_on(headend_server::control::ask_device_show(
            &snap.store_path,
            &id,
        ))
        .ok()
        .flatten()
    {
        if let Some(p) = answer.picture {
            return Ok(p);
        }
    }
    if !snap.store_path.exists() {
        bail!(
            "no store at {} (and no server answers)",
            snap.store_path.display()
        );
    }
    let store = headend_store::SledStore::open(&snap.store_path)
        .map_err(|e| anyhow!("opening the store {}: {e}", snap.store_path.display()))?;
    let server = Server::with_store(config, snap, Arc::new(store), system_clock())
        .map_err(|e| anyhow!("{e}"))?;
    server
        .device_picture_of(&id)
        .map_err(|e| anyhow!("reading {id} from the store: {e}"))
}

/// Prints what the store holds of the device.
fn print_picture(p: &DevicePicture) {
    for line in crate::device::picture_lines(p) {
        println!("  stored {line}");
    }
}

/// [`open_server`] over a store holding what `seed` says of one device:
/// its account (unless the file declares it) and its leases and bindings,
/// so that the exchanges see it as the running server would.
pub(crate) fn open_server_with(
    config: &Path,
    seed: Option<&DevicePicture>,
) -> Result<(Server, Ipv4Addr)> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    let server_ip =
        v4_server_ip(&snap).ok_or_else(|| anyhow!("the configuration has no [dhcpv4] service"))?;
    let memory = MemoryStore::default();
    if let Some(p) = seed {
        let mut batch = Vec::new();
        if let (Some(a), false) = (&p.account, p.account_from_config) {
            batch.push(headend_store::Mutation::PutAccount(a.clone()));
        }
        batch.extend(
            p.leases
                .iter()
                .cloned()
                .map(headend_store::Mutation::PutLease4),
        );
        batch.extend(
            p.leases6
                .iter()
                .cloned()
                .map(headend_store::Mutation::PutLease6),
        );
        memory.apply(&batch).map_err(|e| anyhow!("{e}"))?;
    }
    let store: Arc<dyn Store> = Arc::new(memory);
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
    Ok((server, server_ip))
}

/// The relay of the device's stored DHCPv4 lease (the CMTS it came from).
fn stored_relay(stored: Option<&DevicePicture>) -> Option<Ipv4Addr> {
    stored?
        .leases
        .iter()
        .map(|l| l.relay)
        .find(|r| !r.is_unspecified())
}

/// Runs the explanation and prints it.
pub fn explain(
    config: &Path,
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
    link: Option<std::net::Ipv6Addr>,
    stored: Option<&DevicePicture>,
) -> Result<()> {
    let (server, server_ip) = open_server_with(config, stored)?;
    let snap = server.snapshot();
    let relay = relay.or_else(|| stored_relay(stored));

    let dev = classify(&snap, mac, relay, opts)?;
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
    if let Some(p) = stored {
        print_picture(p);
    }

    let x = exchange4(&server, server_ip, mac, relay, opts)?;
    println!("\nDISCOVER:");
    for n in &x.discover_notes {
        println!("  - {n}");
    }
    match &x.offer {
        Outcome::Reply { packet, .. } => print_reply(&snap, "OFFER", packet),
        o => {
            println!("\nno OFFER{}", with_reason(o));
            return Ok(());
        }
    }
    println!("\nREQUEST:");
    for n in &x.request_notes {
        println!("  - {n}");
    }
    match &x.ack {
        Some(Outcome::Reply { packet, .. }) => print_reply(&snap, "ACK", packet),
        Some(o) => println!("\nno ACK{}", with_reason(o)),
        None => {}
    }
    // Dynamic DNS (issue 17): the name, records and targets of the ACK.
    if snap.ddns.as_ref().is_some_and(|d| d.enable) {
        println!("\ndynamic DNS:");
        let notes: Vec<&String> = x
            .request_notes
            .iter()
            .filter(|n| n.starts_with("dynamic DNS"))
            .collect();
        if notes.is_empty() {
            println!("  no update (no ACK)");
        }
        for n in notes {
            println!("  {}", n.trim_start_matches("dynamic DNS: "));
        }
    }
    if let Some(link) = link {
        explain_v6(&server, mac, link, opts)?;
    }
    Ok(())
}

/// The device the server sees in this DISCOVER (classification, account
/// id, requested options), or why it would drop it.
fn classify(
    snap: &Snapshot,
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
) -> Result<context::Device> {
    let discover = request(mac, relay, opts, MessageType::Discover, &[])?;
    let pkt = Packet::parse(&discover).map_err(|e| anyhow!("{e}"))?;
    context::device(snap, &pkt).map_err(|r| anyhow!("the request would be dropped: {r}"))
}

/// What a device got over DHCPv4: the trace notes of each step, the
/// outcome of the DISCOVER and, when it was an OFFER, of the REQUEST for the
/// offered address.
pub(crate) struct Exchange4 {
    /// Trace of the DISCOVER.
    pub discover_notes: Vec<String>,
    /// What the DISCOVER got.
    pub offer: Outcome,
    /// Trace of the REQUEST.
    pub request_notes: Vec<String>,
    /// What the REQUEST got, when an OFFER came.
    pub ack: Option<Outcome>,
}

/// DISCOVER, then REQUEST for the offered address (RFC 2131 section 3.1),
/// from `relay` (or a local client), through the server's own pipeline: the
/// one DHCPv4 exchange of `explain`, `headend test` and `check`.
pub(crate) fn exchange4(
    server: &Server,
    server_ip: Ipv4Addr,
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
) -> Result<Exchange4> {
    let svc = server.dhcpv4();
    let local = SocketAddrV4::new(server_ip, 67);
    let source = match relay {
        Some(r) => SocketAddrV4::new(r, 67),
        None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    };
    let ask = |data: &[u8]| {
        let mut trace = Trace::enabled();
        let out = svc.handle(
            &Inbound {
                data,
                source,
                local,
            },
            &mut trace,
        );
        (out, trace.notes().to_vec())
    };
    let (offer, discover_notes) = ask(&request(mac, relay, opts, MessageType::Discover, &[])?);
    let mut x = Exchange4 {
        discover_notes,
        offer,
        request_notes: Vec::new(),
        ack: None,
    };
    if let Outcome::Reply { packet, .. } = &x.offer {
        let yiaddr = Packet::parse(packet).map_err(|e| anyhow!("{e}"))?.yiaddr;
        let (ack, notes) = ask(&request_for(mac, relay, opts, server_ip, yiaddr)?);
        x.ack = Some(ack);
        x.request_notes = notes;
    }
    Ok(x)
}

/// Why an exchange got no reply (`""` for a background commit).
pub(crate) fn no_reply(o: &Outcome) -> &'static str {
    match o {
        Outcome::Drop(r) | Outcome::Silent(r) => r,
        _ => "",
    }
}

fn with_reason(o: &Outcome) -> String {
    match no_reply(o) {
        "" => String::new(),
        r => format!(": {r}"),
    }
}

/// What the DHCPv6 half of a dual-stack device got: the trace notes of
/// each step, the ADVERTISE (the inner message) or why none, and the REPLY
/// with the store changes behind it, when a REQUEST was sent.
pub(crate) struct Exchange6 {
    /// Trace of the SOLICIT.
    pub solicit_notes: Vec<String>,
    /// The ADVERTISE message, or why there was none.
    pub advertise: std::result::Result<Vec<u8>, String>,
    /// Trace of the REQUEST.
    pub request_notes: Vec<String>,
    /// The REPLY message and its commit, or why there was none.
    pub reply: Option<std::result::Result<Reply6, String>>,
}

/// A REPLY message and the store changes behind it.
pub(crate) type Reply6 = (Vec<u8>, Vec<headend_store::Mutation>);

/// The DHCPv6 half of a dual-stack device (seed 000 section 6.3.5): the
/// same MAC boots through the CMTS's Relay-Forward on `link`, in the same
/// server, so it meets the account (and domains) the DHCPv4 exchange
/// created. The SOLICIT carries what the DHCPv4 options said: vendor class
/// 16 and 17.35 capabilities from option 60, the CableLabs ORO and device
/// type by family.
pub(crate) fn exchange6(
    server: &Server,
    mac: &[u8],
    link: std::net::Ipv6Addr,
    opts: &[(u8, Vec<u8>)],
) -> Result<Exchange6> {
    use headend_wire::dhcpv6::{code as c6, parse, Builder, Duid, MessageType as M6, Packet as P6};
    use std::net::SocketAddrV6;

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
    let no = |r: &str| Err(r.to_string());

    let mut trace = Trace::enabled();
    let sol = message(M6::Solicit, 0x00_4845, &|b| {
        b.ia_na(1, 0, 0, |_| Ok(()))
            .map(drop)
            .map_err(|e| anyhow!("{e}"))
    })?;
    let out = svc.handle(&sol, source, &mut trace);
    let mut x = Exchange6 {
        solicit_notes: trace.notes().to_vec(),
        advertise: no(""),
        request_notes: Vec::new(),
        reply: None,
    };
    let adv = match out {
        Outcome6::Reply { packet, .. } => inner_of(&packet)?,
        Outcome6::Drop(r) | Outcome6::Silent(r) => {
            x.advertise = no(r);
            return Ok(x);
        }
        Outcome6::Commit(_) => return Ok(x),
    };
    x.advertise = Ok(adv.clone());
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
    x.request_notes = trace.notes().to_vec();
    x.reply = Some(match out {
        Outcome6::Reply { packet, commit, .. } => Ok((inner_of(&packet)?, commit)),
        Outcome6::Drop(r) | Outcome6::Silent(r) => Err(r.to_string()),
        Outcome6::Commit(_) => Err(String::new()),
    });
    Ok(x)
}

/// The lines `explain` prints for a DHCPv6 message's options: IAs, DUIDs,
/// option 39 and CCCv6 by field, every other option decoded per the option
/// type registry (hex where it has no type).
pub(crate) fn message6_lines(
    registry: &headend_model::options::Registry,
    inner: &[u8],
) -> Result<Vec<String>> {
    use headend_wire::dhcpv6::{code as c6, parse, Packet as P6};
    let m = match parse(inner).map_err(|e| anyhow!("{e}"))? {
        P6::Message(m) => m,
        P6::Relay(_) => bail!("nested relay in the reply"),
    };
    let mut out = Vec::new();
    for (code, value) in m.options.iter() {
        match code {
            c6::IA_NA | c6::IA_PD => {
                if let Ok(ia) = headend_wire::dhcpv6::Ia::parse(code, value) {
                    for a in ia.addresses().flatten() {
                        out.push(format!(
                            "IA_NA {} address {} valid {} s",
                            ia.iaid, a.addr, a.valid_lifetime
                        ));
                    }
                    for p in ia.prefixes().flatten() {
                        out.push(format!(
                            "IA_PD {} prefix {}/{} valid {} s",
                            ia.iaid, p.prefix, p.prefix_len, p.valid_lifetime
                        ));
                    }
                }
            }
            c6::CLIENTID | c6::SERVERID => {
                let name = if code == c6::CLIENTID {
                    "client-id"
                } else {
                    "server-id"
                };
                out.push(format!("v6/{code} {name} = {}", duid_text(code, value)));
            }
            c6::CLIENT_FQDN => match headend_wire::dhcpv6::ClientFqdn::parse(value) {
                Ok(f) => out.push(format!(
                    "v6/39 v6.client-fqdn = {} (flags S={} O={} N={})",
                    f.domain_name()
                        .map_or_else(|_| "(undecodable)".into(), |(n, _)| n),
                    f.flags & 1,
                    (f.flags >> 1) & 1,
                    (f.flags >> 2) & 1
                )),
                Err(e) => out.push(format!(
                    "v6/39 v6.client-fqdn = {} (undecodable: {e})",
                    headend_store::hex_colon(value)
                )),
            },
            _ => {
                // CCCv6, which the registry does not type, from the
                // CableLabs decoder.
                let text = headend_model::options::describe6(registry, code, value);
                out.extend(
                    text.lines()
                        .filter(|l| !l.contains("/4491/2171 "))
                        .map(str::to_string),
                );
                if code == c6::VENDOR_OPTS {
                    if let Ok(Some(cl)) = ClVendorOptionsV6::from_option17(value) {
                        if let Some(ccc) = &cl.cccv6 {
                            out.extend(cccv6_lines(ccc).into_iter().map(|l| format!("  {l}")));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Prints the DHCPv6 half of a dual-stack device ([`exchange6`]).
fn explain_v6(
    server: &Server,
    mac: &[u8],
    link: std::net::Ipv6Addr,
    opts: &[(u8, Vec<u8>)],
) -> Result<()> {
    if server.snapshot().dhcpv6.is_none() {
        println!("\n(no [dhcpv6] service: --link ignored)");
        return Ok(());
    }
    let snap = server.snapshot();
    let x = exchange6(server, mac, link, opts)?;
    let print6 = |what: &str, inner: &[u8]| -> Result<()> {
        println!("\n{what} ({} octets)", inner.len());
        for line in message6_lines(&snap.registry, inner)? {
            println!("  {line}");
        }
        Ok(())
    };
    println!("\nDHCPv6 SOLICIT (Relay-Forward, link {link}):");
    for n in &x.solicit_notes {
        println!("  - {n}");
    }
    match &x.advertise {
        Ok(adv) => print6("ADVERTISE", adv)?,
        Err(r) if r.is_empty() => {
            println!("\nno ADVERTISE");
            return Ok(());
        }
        Err(r) => {
            println!("\nno ADVERTISE: {r}");
            return Ok(());
        }
    }
    println!("\nDHCPv6 REQUEST:");
    for n in &x.request_notes {
        println!("  - {n}");
    }
    match &x.reply {
        Some(Ok((reply, _))) => print6("REPLY", reply)?,
        Some(Err(r)) if r.is_empty() => println!("\nno REPLY"),
        Some(Err(r)) => println!("\nno REPLY: {r}"),
        None => {}
    }
    let id = headend_store::hex_colon(mac);
    if let Some(a) = server.dhcpv4().accounts.get(&id) {
        println!(
            "\naccount {} ({:?}): domains {:?}, shared by its DHCPv4 lease and DHCPv6 bindings",
            a.id, a.source, a.domains
        );
    }
    for l in server.dhcpv6().bindings_of_mac(&id) {
        println!(
            "  DHCPv6 binding: {} {}/{} IAID {} in pool6 {}, {:?}, preferred {} s, valid {} s",
            match l.kind {
                headend_store::Lease6Kind::Na => "IA_NA",
                headend_store::Lease6Kind::Pd => "IA_PD",
            },
            l.address,
            l.prefix_len,
            l.iaid,
            l.pool,
            l.state,
            l.preferred,
            l.valid
        );
        if let Some(d) = snap.ddns.as_ref() {
            for j in headend_server::shared::ddns::v6_explained(d, &l) {
                println!("    {}", headend_server::shared::ddns::describe(&j));
            }
        }
    }
    Ok(())
}

/// A DUID (RFC 8415 section 11) for people: its type and link-layer
/// address where it has one, with the octets.
fn duid_text(code: u16, value: &[u8]) -> String {
    use headend_wire::dhcpv6::Duid;
    let hex = headend_store::hex_colon(value);
    match Duid::parse(code, value) {
        Ok(Duid::Llt {
            link_layer_address, ..
        }) => {
            format!(
                "DUID-LLT {} ({hex})",
                headend_store::hex_colon(link_layer_address)
            )
        }
        Ok(Duid::Ll {
            link_layer_address, ..
        }) => {
            format!(
                "DUID-LL {} ({hex})",
                headend_store::hex_colon(link_layer_address)
            )
        }
        Ok(Duid::En { enterprise, .. }) => format!("DUID-EN enterprise {enterprise} ({hex})"),
        Ok(Duid::Uuid(_)) => format!("DUID-UUID ({hex})"),
        _ => hex,
    }
}

/// CL_OPTION_CCCV6 (17.4491.2171, seed 000 section 6.4) for people.
fn cccv6_lines(c: &headend_wire::cablelabs::CccV6) -> Vec<String> {
    use headend_wire::cablelabs::ProvisioningServerV6 as P;
    let mut out = vec!["v6/17/4491/2171 CCCv6".to_string()];
    let dss = |d: &headend_wire::cablelabs::DssId| headend_store::hex_colon(d.as_bytes());
    if let Some(d) = &c.primary {
        out.push(format!("  1 primary DSS_ID = {}", dss(d)));
    }
    if let Some(d) = &c.secondary {
        out.push(format!("  2 secondary DSS_ID = {}", dss(d)));
    }
    match &c.provisioning_server {
        Some(P::Fqdn(n)) => out.push(format!("  3 provisioning server = FQDN {n}")),
        Some(P::Ipv6(a)) => {
            let a: Vec<String> = a.iter().map(ToString::to_string).collect();
            out.push(format!("  3 provisioning server = IPv6 {}", a.join(", ")));
        }
        Some(P::Disabled) => {
            out.push("  3 provisioning server = 0.0.0.0 (do not provision)".into())
        }
        None => {}
    }
    if let Some(r) = &c.realm {
        out.push(format!("  6 Kerberos realm = {r}"));
    }
    if let Some(t) = c.tgt {
        out.push(format!("  7 ticket-granting-ticket usage = {t}"));
    }
    if let Some(t) = c.provisioning_timer {
        out.push(format!("  8 provisioning timer = {t} min"));
    }
    if let Some(t) = c.ticket_control {
        out.push(format!("  9 ticket control mask = {t:#06x}"));
    }
    for (code, v) in &c.other {
        out.push(format!("  {code} = {}", headend_store::hex_colon(v)));
    }
    out
}

/// One `--option` of `explain`, parsed: a whole option, or a sub-option
/// of 43 (`43.N`) or of 125 for an enterprise (`125.ENTERPRISE.N`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum OptionArg {
    Whole(u8, Vec<u8>),
    Sub43(u8, Vec<u8>),
    Sub125(u32, u8, Vec<u8>),
}

/// The value of `--option X=VALUE`: `"TEXT"` (quoted) is text; hex digits
/// (`01:02`, `0102`, `0x0102`) are hex, and must come in pairs; anything
/// else is its text (vendor classes, serial numbers and model names).
fn option_value(v: &str) -> Option<Vec<u8>> {
    let v = v.trim();
    if let Some(t) = v
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
    {
        return Some(t.as_bytes().to_vec());
    }
    let digits = v.strip_prefix("0x").unwrap_or(v);
    if digits
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | ' '))
    {
        return headend_model::snapshot::parse_hex(v);
    }
    Some(v.as_bytes().to_vec())
}

fn option_arg(o: &str) -> Result<OptionArg> {
    let Some((path, value)) = o.split_once('=') else {
        bail!("--option {o:?}: write CODE=VALUE, 43.SUB=VALUE or 125.ENTERPRISE.SUB=VALUE");
    };
    let Some(value) = option_value(value) else {
        bail!("--option {o:?}: an odd number of hex digits (write 07, not 7; \"TEXT\" for text)");
    };
    let parts: Vec<&str> = path.trim().split('.').collect();
    let num = |s: &str| -> Result<u32> {
        s.parse()
            .map_err(|_| anyhow!("--option {o:?}: {s:?} is not a number"))
    };
    let byte = |s: &str| -> Result<u8> {
        u8::try_from(num(s)?)
            .map_err(|_| anyhow!("--option {o:?}: {s} is not an option code (0-255)"))
    };
    let sub = |v: Vec<u8>| -> Result<Vec<u8>> {
        if v.len() > 255 {
            bail!("--option {o:?}: a sub-option holds at most 255 octets");
        }
        Ok(v)
    };
    match parts.as_slice() {
        [c] => Ok(OptionArg::Whole(byte(c)?, value)),
        ["43", s] => Ok(OptionArg::Sub43(byte(s)?, sub(value)?)),
        ["125", e, s] => Ok(OptionArg::Sub125(num(e)?, byte(s)?, sub(value)?)),
        _ => bail!("--option {o:?}: sub-options are written 43.SUB or 125.ENTERPRISE.SUB"),
    }
}

/// The request options of `explain --option …` (repeatable): whole options
/// in the order given, then 43 and 125 assembled from their sub-options
/// (RFC 2132 §8.4 encapsulation for 43; RFC 3925 enterprise blocks for 125).
pub(crate) fn request_options(args: &[String]) -> Result<Vec<(u8, Vec<u8>)>> {
    let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut o43: Vec<u8> = Vec::new();
    let mut o125: Vec<(u32, Vec<u8>)> = Vec::new();
    for a in args {
        match option_arg(a)? {
            OptionArg::Whole(c, v) => out.push((c, v)),
            OptionArg::Sub43(c, v) => {
                o43.extend_from_slice(&[c, v.len() as u8]);
                o43.extend_from_slice(&v);
            }
            OptionArg::Sub125(e, c, v) => {
                let block = match o125.iter_mut().find(|(x, _)| *x == e) {
                    Some((_, b)) => b,
                    None => {
                        o125.push((e, Vec::new()));
                        &mut o125.last_mut().ok_or_else(|| anyhow!("125"))?.1
                    }
                };
                block.extend_from_slice(&[c, v.len() as u8]);
                block.extend_from_slice(&v);
            }
        }
    }
    if !o43.is_empty() {
        if out.iter().any(|(c, _)| *c == 43) {
            bail!("--option 43 given whole and as sub-options: use one form");
        }
        out.push((43, o43));
    }
    if !o125.is_empty() {
        if out.iter().any(|(c, _)| *c == 125) {
            bail!("--option 125 given whole and as sub-options: use one form");
        }
        let mut v = Vec::new();
        for (e, block) in o125 {
            let Ok(len) = u8::try_from(block.len()) else {
                bail!("--option 125.{e}: the sub-options exceed 255 octets");
            };
            v.extend_from_slice(&e.to_be_bytes());
            v.push(len);
            v.extend_from_slice(&block);
        }
        out.push((125, v));
    }
    Ok(out)
}

/// One decoded option or sub-option as JSON: path, name, value as
/// `explain` prints it (`null` for a container), the error of an
/// undecodable value, and the octets in hex.
fn decoded_json(d: headend_model::options::Decoded) -> serde_json::Value {
    let (value, error) = match d.value {
        Some(Ok(v)) => (serde_json::Value::String(v.to_string()), None),
        Some(Err(e)) => (serde_json::Value::Null, Some(e.to_string())),
        None => (serde_json::Value::Null, None),
    };
    serde_json::json!({
        "path": d.path.to_string(),
        "name": d.name,
        "value": value,
        "error": error,
        "hex": headend_store::hex(&d.raw),
    })
}

fn v4_message_json(snap: &Snapshot, bytes: &[u8]) -> serde_json::Value {
    match Packet::parse(bytes) {
        Ok(p) => {
            let mut options = Vec::new();
            for (c, data) in p.options.iter() {
                options.extend(
                    headend_model::options::decode_option(&snap.registry, c, &data)
                        .into_iter()
                        .map(decoded_json),
                );
            }
            serde_json::json!({
                "octets": bytes.len(),
                "yiaddr": p.yiaddr.to_string(),
                "siaddr": p.siaddr.to_string(),
                "file": p.boot_file().map(|f| String::from_utf8_lossy(f).into_owned()),
                "options": options,
            })
        }
        Err(e) => serde_json::json!({ "octets": bytes.len(), "error": e.to_string() }),
    }
}

fn v6_message_json(snap: &Snapshot, inner: &[u8]) -> serde_json::Value {
    use headend_wire::dhcpv6::{code as c6, parse, Ia, Packet as P6};
    let m = match parse(inner) {
        Ok(P6::Message(m)) => m,
        Ok(P6::Relay(_)) => return serde_json::json!({ "error": "nested relay" }),
        Err(e) => return serde_json::json!({ "error": e.to_string() }),
    };
    let mut options = Vec::new();
    let mut ias = Vec::new();
    for (code, value) in m.options.iter() {
        match code {
            c6::IA_NA | c6::IA_PD => {
                if let Ok(ia) = Ia::parse(code, value) {
                    for a in ia.addresses().flatten() {
                        ias.push(serde_json::json!({
                            "ia": "IA_NA", "iaid": ia.iaid, "address": a.addr.to_string(),
                            "preferred": a.preferred_lifetime, "valid": a.valid_lifetime,
                        }));
                    }
                    for p in ia.prefixes().flatten() {
                        ias.push(serde_json::json!({
                            "ia": "IA_PD", "iaid": ia.iaid,
                            "prefix": format!("{}/{}", p.prefix, p.prefix_len),
                            "preferred": p.preferred_lifetime, "valid": p.valid_lifetime,
                        }));
                    }
                }
            }
            c6::CLIENTID | c6::SERVERID | c6::CLIENT_FQDN => {
                let line = message6_lines(&snap.registry, inner).ok().and_then(|l| {
                    l.into_iter()
                        .find(|l| l.starts_with(&format!("v6/{code} ")))
                });
                options.push(serde_json::json!({
                    "path": format!("v6/{code}"),
                    "name": headend_wire::dhcpv6::code::name(code),
                    "value": line.and_then(|l| l.split_once(" = ").map(|(_, v)| v.to_string())),
                    "error": null,
                    "hex": headend_store::hex(value),
                }));
            }
            _ => options.extend(
                headend_model::options::decode_option6(&snap.registry, code, value)
                    .into_iter()
                    .map(decoded_json),
            ),
        }
    }
    serde_json::json!({ "octets": inner.len(), "ias": ias, "options": options })
}

/// `explain --json`: the same run as [`explain`], as one JSON object for
/// scripts: the device, each exchange's trace notes and reply (options
/// decoded, with their octets), or why there was none.
pub fn explain_json(
    config: &Path,
    mac: &[u8],
    relay: Option<Ipv4Addr>,
    opts: &[(u8, Vec<u8>)],
    link: Option<std::net::Ipv6Addr>,
    stored: Option<&DevicePicture>,
) -> Result<serde_json::Value> {
    use serde_json::json;
    let (server, server_ip) = open_server_with(config, stored)?;
    let relay = relay.or_else(|| stored_relay(stored));
    let snap = server.snapshot();
    let dev = classify(&snap, mac, relay, opts)?;
    let d = &dev.ctx.device;
    let device = json!({
        "mac": dev.mac,
        "account_id": dev.account_id,
        "vendor_class": d.vendor_class,
        "type_name": d.type_name,
        "typeid": d.typeid,
        "family": d.family,
        "version": d.version,
        "supported_flows": d.supported_flows,
        "dual_stack_capable": dev.dual.capable(),
        "requested": dev.requested.prl,
        "behind_modem": dev.remote_id_mac,
    });
    let x = exchange4(&server, server_ip, mac, relay, opts)?;
    let mut v4 = json!({ "discover": { "trace": x.discover_notes } });
    match &x.offer {
        Outcome::Reply { packet, .. } => v4["discover"]["offer"] = v4_message_json(&snap, packet),
        o => v4["discover"]["no_offer"] = json!(no_reply(o)),
    }
    if let Some(ack) = &x.ack {
        v4["request"] = json!({ "trace": x.request_notes });
        match ack {
            Outcome::Reply { packet, .. } => v4["request"]["ack"] = v4_message_json(&snap, packet),
            o => v4["request"]["no_ack"] = json!(no_reply(o)),
        }
    }
    let mut report = json!({ "device": device, "dhcpv4": v4 });
    if let (Some(link), true) = (link, snap.dhcpv6.is_some()) {
        let x = exchange6(&server, mac, link, opts)?;
        let mut v6 = json!({
            "link": link.to_string(),
            "solicit": { "trace": x.solicit_notes },
        });
        match &x.advertise {
            Ok(a) => v6["solicit"]["advertise"] = v6_message_json(&snap, a),
            Err(r) => v6["solicit"]["no_advertise"] = json!(r),
        }
        if let Some(reply) = &x.reply {
            v6["request"] = json!({ "trace": x.request_notes });
            match reply {
                Ok((r, _)) => v6["request"]["reply"] = v6_message_json(&snap, r),
                Err(r) => v6["request"]["no_reply"] = json!(r),
            }
        }
        report["dhcpv6"] = v6;
    }
    let id = headend_store::hex_colon(mac);
    if let Some(a) = server.dhcpv4().accounts.get(&id) {
        report["account"] = json!({
            "id": a.id,
            "source": format!("{:?}", a.source),
            "domains": a.domains,
        });
    }
    if let Some(p) = stored {
        report["stored"] = serde_json::to_value(p)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_are_hex_or_text() {
        let o = request_options(&args(&[
            "60=646f63736973332e303a",
            "60=docsis3.0:",
            "12=\"cafe\"",
            "55=01:03:7a",
        ]))
        .unwrap();
        assert_eq!(o[0], (60, b"docsis3.0:".to_vec()));
        assert_eq!(o[1], (60, b"docsis3.0:".to_vec()), "not hex: its text");
        assert_eq!(o[2], (12, b"cafe".to_vec()), "quoted: text even if hex");
        assert_eq!(o[3], (55, vec![1, 3, 0x7a]));
    }

    #[test]
    fn sub_options_of_43_and_125_are_assembled() {
        let o = request_options(&args(&[
            "43.4=SN123",
            "125.4491.1=0102",
            "43.8=\"ABC\"",
            "125.4491.2=07",
        ]))
        .unwrap();
        assert_eq!(
            o[0],
            (43, [&[4u8, 5][..], b"SN123", &[8, 3], b"ABC"].concat())
        );
        assert_eq!(o[1], (125, vec![0, 0, 0x11, 0x8b, 7, 1, 2, 1, 2, 2, 1, 7]));
    }

    #[test]
    fn bad_options_say_what_to_write() {
        for bad in [
            "60",
            "x=01",
            "300=01",
            "43.4.1=01",
            "125.4491=01",
            "43.999=01",
            "43.2=7",
        ] {
            let e = request_options(&args(&[bad])).unwrap_err().to_string();
            assert!(e.contains("--option"), "{bad}: {e}");
        }
        let e = request_options(&args(&["43=0101", "43.4=x"])).unwrap_err();
        assert!(e.to_string().contains("one form"), "{e}");
    }
}
