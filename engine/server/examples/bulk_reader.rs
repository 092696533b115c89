//! A bulk leasequery requester for benchmarks (RFC 6926 over TCP): sends one
//! DHCPBULKLEASEQUERY and reads the framed answers until the
//! DHCPLEASEQUERYDONE, counting bindings; prints the leases per second.
//! The Python requester (examples/lab/leasequery.py --bulk) decodes and
//! prints every binding and is the bottleneck at about 40,000 a second, so
//! bench/bulk_leasequery.sh measures the server with this one.
//!
//!     cargo run --release -p headend-server --example bulk_reader -- \
//!         127.0.0.1:16767 [--relay-id ID] [--source 127.0.0.2]

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use headend_wire::dhcpv4::bulk::{frame, FRAME_HEADER};
use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server: SocketAddr = args
        .first()
        .ok_or("usage: bulk_reader HOST:PORT [--relay-id ID] [--source IP]")?
        .parse()?;
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sock = match opt("--source") {
        Some(src) => {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            s.bind(&SocketAddr::new(src.parse()?, 0).into())?;
            s.connect(&server.into())?;
            TcpStream::from(s)
        }
        None => TcpStream::connect(server)?,
    };
    let xid = 0xb01c_0001;
    let mut b = Builder::new();
    b.op = BOOTREQUEST;
    b.htype = 0;
    b.hlen = 0;
    b.xid = xid;
    b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::BulkLeaseQuery)]);
    if let Some(id) = opt("--relay-id") {
        let mut rai = vec![12, u8::try_from(id.len())?];
        rai.extend_from_slice(id.as_bytes());
        b.push_option(code::RELAY_AGENT_INFO, &rai);
    }
    let mut q = Vec::new();
    frame(&b.encode(1500)?, &mut q)?;
    let started = Instant::now();
    (&sock).write_all(&q)?;
    let mut rd = BufReader::with_capacity(1 << 20, &sock);
    let (mut bindings, mut octets) = (0u64, 0u64);
    let mut msg = vec![0u8; 65_535];
    loop {
        let mut head = [0u8; FRAME_HEADER];
        rd.read_exact(&mut head)?;
        let len = usize::from(u16::from_be_bytes(head));
        let body = msg.get_mut(..len).ok_or("frame too long")?;
        rd.read_exact(body)?;
        octets += (FRAME_HEADER + len) as u64;
        // Only the message type is read per binding: the server's rate,
        // not this reader's parsing, is what is measured.
        let mtype = Packet::parse(body)?.message_type();
        match mtype {
            Some(MessageType::LeaseActive | MessageType::LeaseUnassigned) => bindings += 1,
            Some(MessageType::LeaseQueryDone) => break,
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{bindings} bindings, {:.1} MB in {secs:.3} s: {:.0} leases/s",
        octets as f64 / 1e6,
        bindings as f64 / secs
    );
    Ok(())
}
