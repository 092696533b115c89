//! `headend-sim-reflector`: a stateless DHCPv4 answerer for measuring the
//! simulator alone (bench/sim-rate.sh). No provisioning server keeps up
//! with one simulator core on this machine, so the generator's ceiling is
//! measured against this: every relayed DISCOVER gets an OFFER and every
//! REQUEST an ACK for an address derived from the client's MAC, built in
//! place and sent back in `sendmmsg` batches to the relay's source port.
//! It keeps no state and checks nothing; it is not a DHCP server.

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

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6767".into());
    let sock = UdpSocket::bind(&listen)?;
    let s2 = socket2::SockRef::from(&sock);
    let _ = s2.set_recv_buffer_size(16 << 20);
    let _ = s2.set_send_buffer_size(16 << 20);
    eprintln!("headend-sim-reflector: answering DHCPv4 on {listen}");
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
            if answer(req, out) {
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
