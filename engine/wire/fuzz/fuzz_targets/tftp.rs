//! Fuzzes the TFTP codec (RFC 1350/2347/2348/2349/7440): `Packet::parse`
//! never panics on any datagram; a parsed packet re-encodes and parses back
//! to the same value; option negotiation of a parsed request, for a read of
//! any size and for a write, never panics and stays within the limits.
#![no_main]

use headend_wire::tftp::{negotiate, Packet, ServerLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::parse(data) else {
        return;
    };
    let _ = (p.opcode(), p.to_string());
    let mut wire = Vec::new();
    p.encode(&mut wire);
    let again = Packet::parse(&wire).expect("an encoded packet parses");
    assert_eq!(again, p, "round trip");
    let limits = ServerLimits::default();
    if let Packet::Rrq(r) | Packet::Wrq(r) = &p {
        let size = data.len() as u64 * 1_000_003;
        for file_size in [Some(size), None] {
            if let Ok(n) = negotiate(r, file_size, &limits) {
                assert!((8..=limits.max_blksize).contains(&n.blksize), "{n:?}");
                assert!((1..=limits.max_windowsize).contains(&n.windowsize), "{n:?}");
            }
        }
    }
});
