//! Building DHCPv4 replies (RFC 2131 §4.3, Table 3) and choosing where they
//! go (RFC 2131 §4.1, RFC 8357).
//!
//! Option order: 53, 54, the client identifier echoed (RFC 6842), then lease
//! times (51, 58, 59), then the options the
//! client listed in option 55 in its order, then the rest by code, and the
//! relay agent's option 82 echoed last (RFC 3046 §2.2). When the reply does
//! not fit the client's size limit even with overload, options the client
//! did not ask for are dropped, largest first.
//!
//! A reply is built from [`Prepared`] options: the composed set's server
//! control options and its encoded DHCPv4 options, flat. An OFFER's prepared
//! options are what the offer memo keeps until the REQUEST, so that the ACK
//! carries exactly the OFFER's options (seed 000 Table 2 CM4) for a few
//! hundred bytes rather than the composed set's ~2 KiB.

use std::net::{Ipv4Addr, SocketAddrV4};

use headend_model::options::{ControlOptions, OptionSet, Registry, RequestedOptions};
use headend_model::snapshot::Dhcpv4Settings;
use headend_model::trace::Trace;
use headend_wire::dhcpv4::{
    code, reply_size_limit, Builder, EncodeError, MessageType, Packet, FLAG_BROADCAST,
};
use ipnet::Ipv4Net;

use super::context::Device;

/// No server control options: what most sets have.
const NO_CONTROL: ControlOptions = ControlOptions {
    lease_time: None,
    renew_time: None,
    rebind_time: None,
    no_response: false,
    ddns_server: None,
    next_server: None,
    boot_file: None,
    server_hostname: None,
    offer_hold: None,
};

/// Composed options ready for a reply: the server control options and the
/// encoded DHCPv4 options, `(code, length u16 big-endian, payload)` in
/// ascending code. Built once per composition; what an offer remembers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Prepared {
    /// `None` when the set has none (most sets), to keep offers small.
    control: Option<Box<ControlOptions>>,
    encoded: Box<[u8]>,
}

impl Prepared {
    /// Encodes `set`; options that cannot be encoded are omitted, with a
    /// warning and a trace note, and so are codes the server writes itself.
    pub fn new(set: &OptionSet, registry: &Registry, trace: &mut Trace) -> Prepared {
        let encoded = match set.encode(registry) {
            Ok(e) => e,
            Err((partial, errors)) => {
                for (path, e) in &errors {
                    tracing::warn!(option = %path, error = %e, "option could not be encoded; omitted");
                    trace.note(|| format!("{path}: not encodable ({e}); omitted"));
                }
                partial
            }
        };
        let mut flat = Vec::with_capacity(encoded.iter().map(|(_, d)| d.len() + 3).sum());
        for (c, data) in encoded.iter().filter(|(c, _)| !server_owned(*c)) {
            // Payloads over 255 octets are split by the packet builder (RFC
            // 3396); none reaches 64 KiB (a packet could not carry it).
            let Ok(len) = u16::try_from(data.len()) else {
                trace.note(|| format!("option {c}: longer than 65,535 octets; omitted"));
                continue;
            };
            flat.push(*c);
            flat.extend_from_slice(&len.to_be_bytes());
            flat.extend_from_slice(data);
        }
        let control = set.control();
        Prepared {
            control: (control != NO_CONTROL).then(|| Box::new(control)),
            encoded: flat.into_boxed_slice(),
        }
    }

    /// The server control options (seed 004 section 5.7.1).
    pub fn control(&self) -> &ControlOptions {
        self.control.as_deref().unwrap_or(&NO_CONTROL)
    }

    /// The encoded options, `(code, payload)` in ascending code.
    pub fn options(&self) -> impl Iterator<Item = (u8, &[u8])> + '_ {
        let mut rest: &[u8] = &self.encoded;
        std::iter::from_fn(move || {
            let (&c, tail) = rest.split_first()?;
            let len = usize::from(u16::from_be_bytes([*tail.first()?, *tail.get(1)?]));
            let data = tail.get(2..2 + len)?;
            rest = tail.get(2 + len..)?;
            Some((c, data))
        })
    }

    /// Heap bytes held (for the offer memo's accounting).
    pub fn heap_bytes(&self) -> usize {
        self.encoded.len()
            + self
                .control
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<ControlOptions>())
    }
}

/// What goes into one reply.
pub struct ReplySpec<'a> {
    /// DHCP message type; `None` = a BOOTP reply.
    pub mtype: Option<MessageType>,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// Option 54.
    pub server_id: Ipv4Addr,
    /// Lease time, T1, T2.
    pub times: Option<(u32, u32, u32)>,
    /// The address's network (gives option 1 unless a policy set it).
    pub subnet: Option<Ipv4Net>,
    /// The composed options, prepared.
    pub options: &'a Prepared,
    /// What the client asked for.
    pub requested: &'a RequestedOptions,
    /// Size limit (IP datagram size).
    pub max_len: usize,
    /// Option 81 answering the client's (RFC 4702 section 4), if any.
    pub fqdn: Option<&'a [u8]>,
}

/// The size limit of a reply to `pkt`.
pub fn max_len(pkt: &Packet<'_>, d4: &Dhcpv4Settings, bootp: bool) -> usize {
    if bootp {
        // BOOTP clients know nothing of option 57; they accept what they sent.
        return (pkt.options.max_message_size().map(usize::from).unwrap_or(0))
            .max(300 + headend_wire::dhcpv4::IP_UDP_OVERHEAD);
    }
    reply_size_limit(
        pkt.options.max_message_size(),
        usize::from(d4.max_message_size),
    )
}

/// Codes the server writes itself; policies cannot set them.
fn server_owned(c: u8) -> bool {
    matches!(
        c,
        code::MESSAGE_TYPE
            | code::SERVER_ID
            | code::LEASE_TIME
            | code::RENEWAL_TIME
            | code::REBINDING_TIME
            | code::RELAY_AGENT_INFO
            | code::OVERLOAD
            | code::PARAMETER_REQUEST_LIST
            | code::REQUESTED_IP
            | code::CLIENT_ID
    )
}

/// Builds the reply; returns the bytes and how many options were dropped to fit.
pub fn build(
    req: &Packet<'_>,
    spec: &ReplySpec<'_>,
    trace: &mut Trace,
) -> Result<(Vec<u8>, usize), &'static str> {
    let mut b = Builder::reply_to(req);
    b.yiaddr = spec.yiaddr;
    let nak = spec.mtype == Some(MessageType::Nak);
    if nak && !req.giaddr.is_unspecified() {
        // RFC 2131 §4.3.2: a NAK through a relay is broadcast by the relay.
        b.flags |= FLAG_BROADCAST;
    }
    if let Some(m) = spec.mtype {
        b.push_option(code::MESSAGE_TYPE, &[u8::from(m)]);
        b.push_option(code::SERVER_ID, &spec.server_id.octets());
    }
    // RFC 6842 §3: a client identifier the client sent is echoed in every reply.
    if spec.mtype.is_some() {
        if let Some(cid) = req.options.client_id() {
            b.push_option(code::CLIENT_ID, &cid);
        }
    }
    let mut optional: Vec<(u8, usize)> = Vec::new();
    if !nak {
        let control = spec.options.control();
        if let Some(ns) = control.next_server {
            b.siaddr = ns;
        }
        if let Some(f) = &control.boot_file {
            if b.set_file(f.as_bytes()).is_err() {
                trace.note(|| {
                    "boot file name longer than 128 octets: sent as option 67 only".into()
                });
            }
        }
        if let Some(s) = &control.server_hostname {
            if b.set_sname(s.as_bytes()).is_err() {
                trace.note(|| "server host name longer than 64 octets: not sent".into());
            }
        }
        if let Some((lease, t1, t2)) = spec.times {
            b.push_option(code::LEASE_TIME, &lease.to_be_bytes());
            b.push_option(code::RENEWAL_TIME, &t1.to_be_bytes());
            b.push_option(code::REBINDING_TIME, &t2.to_be_bytes());
        }
        // The server's answer to option 81 replaces any composed one.
        if let Some(f) = spec.fqdn {
            b.push_option(code::CLIENT_FQDN, f);
        }
        let mut encoded: Vec<(u8, &[u8])> = spec
            .options
            .options()
            .filter(|(c, _)| spec.fqdn.is_none() || *c != code::CLIENT_FQDN)
            .collect();
        let mask;
        if let Some(net) = spec.subnet {
            if !encoded.iter().any(|(c, _)| *c == code::SUBNET_MASK) {
                mask = net.netmask().octets();
                encoded.push((code::SUBNET_MASK, &mask));
            }
        }
        // Requested options in the client's order, then the rest by code.
        let prl = &spec.requested.prl;
        encoded.sort_by_key(|(c, _)| match prl.iter().position(|p| p == c) {
            Some(i) => (0usize, i, *c),
            None => (1, 0, *c),
        });
        for &(c, data) in &encoded {
            b.push_option(c, data);
            if !prl.contains(&c) && c != code::SUBNET_MASK {
                optional.push((c, data.len()));
            }
        }
    }
    if let Some(rai) = req.options.get(code::RELAY_AGENT_INFO) {
        b.push_option(code::RELAY_AGENT_INFO, &rai);
    }
    // Largest unrequested options go first when the reply must shrink.
    optional.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
    let mut dropped = 0;
    loop {
        match b.encode(spec.max_len) {
            Ok(bytes) => return Ok((bytes, dropped)),
            Err(EncodeError::TooLarge { limit }) => {
                let Some((c, _)) = (!optional.is_empty()).then(|| optional.remove(0)) else {
                    return Err("reply_too_large");
                };
                trace.note(|| format!("option {c} dropped: the reply must fit {limit} octets"));
                b.remove_option(c);
                dropped += 1;
            }
            Err(_) => return Err("reply_encode_error"),
        }
    }
}

/// Where a reply goes (RFC 2131 §4.1; RFC 8357 for the relay's source port).
pub fn destination(
    req: &Packet<'_>,
    d4: &Dhcpv4Settings,
    source: SocketAddrV4,
    dev: &Device,
    mtype: Option<MessageType>,
) -> SocketAddrV4 {
    if !req.giaddr.is_unspecified() {
        let port = if dev.relay_source_port {
            source.port()
        } else {
            d4.relay_port
        };
        return SocketAddrV4::new(req.giaddr, port);
    }
    let nak = mtype == Some(MessageType::Nak);
    if !nak && !req.ciaddr.is_unspecified() {
        return SocketAddrV4::new(req.ciaddr, d4.client_port);
    }
    if !source.ip().is_unspecified() && !req.broadcast() && !nak {
        // A client that already has a source address (a test tool, a
        // client re-requesting from a configured address) is reached there.
        return source;
    }
    SocketAddrV4::new(Ipv4Addr::BROADCAST, d4.client_port)
}
