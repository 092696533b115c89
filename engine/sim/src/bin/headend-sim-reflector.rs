//! `headend-sim-reflector`: a stateless DHCPv4/DHCPv6 answerer. It
//! measures the simulator alone (bench/sim-rate.sh: no provisioning server
//! keeps up with one simulator core on this machine) and sets the floor of
//! the side-by-side benchmarks (`bench/dhcpv4-vs-kea.sh floor`,
//! `bench/dhcpv6-vs-kea.sh floor`): what the kernel and the socket calls
//! cost per exchange on this machine, with no lease, no store and no
//! policy. Every relayed DISCOVER gets an OFFER and every REQUEST an ACK
//! for an address derived from the client's MAC; bound to an IPv6 address,
//! every Relay-Forward of a SOLICIT gets a Relay-Reply with an ADVERTISE
//! and of a REQUEST one with a REPLY (RFC 8415 sections 9 and 21: client
//! id, a fixed server id, IA_NA with an address from the client id). Built
//! in place and sent back in `sendmmsg` batches to the source address. It
//! keeps no state and checks nothing; it is not a DHCP server.

use std::io::{IoSlice, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};

const BATCH: usize = 128;

fn answer(req: &[u8], out: &mut Vec<u8>) -> bool {
    // op 1, magic cookie, option 53 first (as the simulator sends it).
    if req.len() < 243 || req[0] != 1 || req[236..240] != [99, 130, 83, 99] || req[240] != 53 {
        return false;
    }
    let kind = match req[242] {
        1 => 2, // DISCOVER -> OFFER
        3 => 5, // REQUEST -> ACK
        _ => return false,
    };
    out.clear();
    out.extend_from_slice(&req[..236]);
    out[0] = 2;
    // yiaddr 10.x.y.z from the MAC's last three octets.
    out[16..20].copy_from_slice(&[10, req[33], req[34], req[35]]);
    out.extend_from_slice(&[99, 130, 83, 99, 53, 1, kind, 54, 4, 127, 0, 0, 1]);
    out.extend_from_slice(&[51, 4, 0, 0, 0x0e, 0x10, 1, 4, 255, 0, 0, 0, 255]);
    true
}

/// The DHCPv6 options of `buf` as (code, value), stopping at a truncated one.
fn options6(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let code = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]));
        let value = buf.get(4..4 + len)?;
        buf = &buf[4 + len..];
        Some((code, value))
    })
}

fn put_option6(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// DUID-LL (type 3, Ethernet) of the reflector.
const SERVER_DUID: [u8; 10] = [0, 3, 0, 1, 0x02, 0, 0, 0, 0, 1];

fn answer6(req: &[u8], out: &mut Vec<u8>) -> bool {
    // Relay-Forward (12): hop count, link-address, peer-address, options.
    if req.len() < 34 || req[0] != 12 {
        return false;
    }
    let (mut inner, mut interface_id) = (None, None);
    for (code, value) in options6(&req[34..]) {
        match code {
            9 => inner = Some(value),
            18 => interface_id = Some(value),
            _ => {}
        }
    }
    let Some(msg) = inner.filter(|m| m.len() >= 4) else {
        return false;
    };
    let kind = match msg[0] {
        1 => 2, // SOLICIT -> ADVERTISE
        3 => 7, // REQUEST -> REPLY
        _ => return false,
    };
    let (mut client_id, mut iaid) = (None, None);
    for (code, value) in options6(&msg[4..]) {
        match code {
            1 => client_id = Some(value),
            3 if value.len() >= 4 => iaid = Some(&value[..4]),
            _ => {}
        }
    }
    let (Some(client_id), Some(iaid)) = (client_id, iaid) else {
        return false;
    };
    out.clear();
    out.push(13); // Relay-Reply, same hop count and addresses
    out.extend_from_slice(&req[1..34]);
    if let Some(id) = interface_id {
        put_option6(out, 18, id);
    }
    let relay_msg = out.len();
    out.extend_from_slice(&[0, 9, 0, 0]);
    out.push(kind);
    out.extend_from_slice(&msg[1..4]);
    put_option6(out, 1, client_id);
    put_option6(out, 2, &SERVER_DUID);
    // IA_NA: IAID, T1, T2, one IAADDR (2001:db8:2::/64 + the client id's last 6 bytes).
    let mut ia = [0u8; 40];
    ia[..4].copy_from_slice(iaid);
    ia[4..8].copy_from_slice(&1800u32.to_be_bytes());
    ia[8..12].copy_from_slice(&2880u32.to_be_bytes());
    ia[12..16].copy_from_slice(&[0, 5, 0, 24]);
    ia[16..22].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 2]);
    let tail = &client_id[client_id.len().saturating_sub(6)..];
    ia[32 - tail.len()..32].copy_from_slice(tail);
    ia[32..36].copy_from_slice(&3600u32.to_be_bytes());
    ia[36..40].copy_from_slice(&3600u32.to_be_bytes());
    put_option6(out, 3, &ia);
    let len = (out.len() - relay_msg - 4) as u16;
    out[relay_msg + 2..relay_msg + 4].copy_from_slice(&len.to_be_bytes());
    true
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6767".into());
    let sock = UdpSocket::bind(&listen)?;
    let s2 = socket2::SockRef::from(&sock);
    let _ = s2.set_recv_buffer_size(16 << 20);
    let _ = s2.set_send_buffer_size(16 << 20);
    let v6 = sock.local_addr()?.is_ipv6();
    let reply: fn(&[u8], &mut Vec<u8>) -> bool = if v6 { answer6 } else { answer };
    eprintln!(
        "headend-sim-reflector: answering {} on {listen}",
        if v6 { "DHCPv6" } else { "DHCPv4" }
    );
    let fd = sock.as_raw_fd();
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; 2048]).collect();
    let mut outs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(300)).collect();
    let mut meta: Vec<(usize, Option<SockaddrStorage>)> = Vec::with_capacity(BATCH);
    let mut rh = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    loop {
        meta.clear();
        {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            // Blocking: wait for at least one datagram, take what is queued.
            let res = match recvmmsg(fd, &mut rh, iovs.iter_mut(), MsgFlags::MSG_WAITFORONE, None) {
                Ok(r) => r,
                Err(_) => continue,
            };
            for r in res {
                meta.push((r.bytes, r.address));
            }
        }
        let mut n = 0;
        let mut addrs: Vec<Option<SockaddrStorage>> = Vec::with_capacity(meta.len());
        for (i, (len, from)) in meta.iter().enumerate() {
            let (Some(req), Some(out)) = (bufs.get(i).and_then(|b| b.get(..*len)), outs.get_mut(n))
            else {
                continue;
            };
            if reply(req, out) {
                addrs.push(*from);
                n += 1;
            }
        }
        let slices: Vec<[IoSlice<'_>; 1]> = outs[..n].iter().map(|o| [IoSlice::new(o)]).collect();
        let cmsgs: [ControlMessage<'_>; 0] = [];
        let mut done = 0;
        while done < n {
            let mut sh = MultiHeaders::<SockaddrStorage>::preallocate(n - done, None);
            match sendmmsg(
                fd,
                &mut sh,
                &slices[done..],
                &addrs[done..],
                cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(r) => done += r.count().max(1),
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_solicit_gets_a_relay_reply_with_an_advertise() {
        let mut solicit = vec![1, 0xab, 0xcd, 0xef];
        put_option6(&mut solicit, 1, &[0, 3, 0, 1, 2, 0, 0, 0, 0x12, 0x34]);
        put_option6(&mut solicit, 3, &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut fwd = vec![12, 0];
        fwd.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        fwd.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        put_option6(&mut fwd, 18, b"eth0");
        put_option6(&mut fwd, 9, &solicit);
        let mut out = Vec::new();
        assert!(answer6(&fwd, &mut out));
        assert_eq!(out[0], 13);
        assert_eq!(out[1..34], fwd[1..34]);
        let opts: Vec<(u16, &[u8])> = options6(&out[34..]).collect();
        assert_eq!(opts[0], (18, &b"eth0"[..]));
        let msg = opts[1].1;
        assert_eq!(msg[..4], [2, 0xab, 0xcd, 0xef]);
        let inner: Vec<(u16, &[u8])> = options6(&msg[4..]).collect();
        assert_eq!(inner[0].0, 1);
        assert_eq!(inner[1], (2, &SERVER_DUID[..]));
        let ia = inner[2].1;
        assert_eq!(ia[..4], [0, 0, 0, 7]);
        assert_eq!(
            ia[16..32],
            [0x20, 1, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0x12, 0x34]
        );
        // Not a Relay-Forward, or no client id: no answer.
        assert!(!answer6(&solicit, &mut out));
    }
}
