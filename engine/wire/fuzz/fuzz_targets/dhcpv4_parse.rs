//! Fuzzes `Packet::parse` (RFC 2131 / RFC 3396 framing) and checks that a
//! parsed message survives a trip through `Builder`: the merged options
//! come back in the same order with the same bytes.
#![no_main]

use headend_wire::dhcpv4::{Builder, Packet, MAX_PACKET_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pkt) = Packet::parse(data) else {
        return;
    };
    let _ = (
        pkt.hwaddr(),
        pkt.is_bootp(),
        pkt.message_type(),
        pkt.server_name(),
        pkt.boot_file(),
    );
    let o = &pkt.options;
    let _ = (
        o.relay_agent_info().map(|r| r.validate()),
        o.client_fqdn().map(|f| f.domain_name()),
    );

    let mut b = Builder::new();
    b.op = pkt.op;
    b.htype = pkt.htype;
    b.hlen = pkt.hlen;
    b.hops = pkt.hops;
    b.xid = pkt.xid;
    b.secs = pkt.secs;
    b.flags = pkt.flags;
    b.ciaddr = pkt.ciaddr;
    b.yiaddr = pkt.yiaddr;
    b.siaddr = pkt.siaddr;
    b.giaddr = pkt.giaddr;
    b.chaddr = *pkt.chaddr;
    let original: Vec<(u8, Vec<u8>)> = o.iter().map(|(c, v)| (c, v.into_owned())).collect();
    for (c, v) in &original {
        b.push_option(*c, v);
    }
    // Merging never adds instances, so an unlimited size always fits.
    let enc = b.encode(usize::MAX).expect("unlimited encode must succeed");
    if enc.len() > MAX_PACKET_LEN {
        return;
    }
    let again = Packet::parse(&enc).expect("re-encoded packet must parse");
    let back: Vec<(u8, Vec<u8>)> = again
        .options
        .iter()
        .map(|(c, v)| (c, v.into_owned()))
        .collect();
    assert_eq!(back, original);
    assert_eq!(
        (again.xid, again.flags, again.chaddr),
        (pkt.xid, pkt.flags, pkt.chaddr)
    );
});
