#!/usr/bin/env python3
"""A lab CMTS relay in a few lines of standard-library Python.

Sends a relayed DHCPv4 DISCOVER (giaddr 127.0.0.2, option 82 with the
device's circuit-id / remote-id and sub-option 19 "relay source port",
RFC 8357, so the server answers to this script's own port and no root is
needed), then the REQUEST for the offered address, and prints both replies.

    python3 examples/lab/dora.py --mac 00:10:95:12:34:56 --vendor-class docsis3.0:
    python3 examples/lab/dora.py --mac 00:10:95:ab:cd:ef --vendor-class pktc2.0:
    python3 examples/lab/dora.py --mac 3c:00:00:00:00:01 --remote-id 00:10:95:12:34:56
    python3 examples/lab/dora.py --mac 00:10:95:ab:cd:f0 --vendor-class pktc2.0: \
        --remote-id 00:10:95:12:34:56 --correlation-id 305419896
    python3 examples/lab/dora.py --mac 00:10:95:12:34:56 --init-reboot 10.1.0.10
    python3 examples/lab/dora.py --mac 3c:00:00:00:00:01 --client-id ff00000001 \
        --remote-id 00:10:95:12:34:56

--init-reboot ADDR sends only the REQUEST of a rebooting client that still
remembers ADDR (RFC 2131 4.3.2 INIT-REBOOT: option 50, no server id) and
prints the ACK or NAK; the exit status is 0 for an ACK, 3 for a NAK.

It is independent of headend's own codec on purpose: it is a second,
independently written implementation of the wire format.
"""
import argparse
import random
import socket
import struct
import sys

NAMES = {1: "subnet-mask", 2: "time-offset", 3: "routers", 4: "time-servers", 6: "dns",
         7: "log-servers", 12: "host-name", 15: "domain-name", 51: "lease-time", 53: "message-type",
         54: "server-id", 58: "renewal-time", 59: "rebinding-time", 66: "tftp-server-name",
         67: "boot-file-name", 82: "relay-agent-info", 122: "cablelabs-ccc", 125: "vivso"}
TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}


def mac_bytes(s):
    b = bytes.fromhex(s.replace(":", "").replace("-", ""))
    if len(b) != 6:
        sys.exit(f"not a MAC: {s}")
    return b


def opt(code, data):
    return bytes([code, len(data)]) + data


def build(mtype, mac, xid, giaddr, extra, args, ciaddr="0.0.0.0"):
    hdr = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 1, xid, 0, 0,
                      socket.inet_aton(ciaddr), bytes(4), bytes(4), socket.inet_aton(giaddr),
                      mac + bytes(10), bytes(64), bytes(128))
    o = bytes([99, 130, 83, 99]) + opt(53, bytes([mtype]))
    if args.client_id:
        o += opt(61, bytes.fromhex(args.client_id))
    for c, d in extra:
        o += opt(c, d)
    if args.hostname:
        o += opt(12, args.hostname.encode())
    if args.fqdn:
        # RFC 4702 option 81: flags (default S: the server updates A and
        # PTR); the name in wire format when E (0x04) is set, else ASCII.
        if args.fqdn_flags & 0x04:
            name = b"".join(bytes([len(x)]) + x.encode() for x in args.fqdn.split(".") if x)
            name += b"\0" if args.fqdn.endswith(".") else b""
        else:
            name = args.fqdn.encode()
        o += opt(81, bytes([args.fqdn_flags, 0, 0]) + name)
    if args.vendor_class:
        o += opt(60, args.vendor_class.encode())
    if args.correlation_id is not None:
        # PacketCable eUE option 43 sub-option 32: the correlation id its
        # enrollment INFORM repeats (seed 000 6.4.1, pkt-eue-7).
        o += opt(43, opt(32, struct.pack("!I", args.correlation_id)))
    o += opt(55, bytes([1, 3, 6, 7, 12, 15, 66, 67, 122, 125]))
    if args.vendor_class.startswith(("docsis", "pktc")):
        # CableLabs ORO (sub-option 1) asking for CCCv6 (123) and IP_PREF (124), and IP_PREF b'111.
        cl = opt(1, bytes([2, 123, 124])) + opt(124, bytes([7]))
        o += opt(125, struct.pack("!IB", 4491, len(cl)) + cl)
    rai = opt(1, b"cmts0/" + mac.hex().encode())
    if args.remote_id:
        rai += opt(2, mac_bytes(args.remote_id))
    if args.relay_id:
        rai += opt(12, args.relay_id.encode())  # RFC 6925: this relay agent's identifier
    rai += opt(19, b"")  # RFC 8357: relay source port (empty): reply to my source port
    o += opt(82, rai) + b"\xff"
    return hdr + o


def parse(data):
    if len(data) < 240:
        return None
    yiaddr = socket.inet_ntoa(data[16:20])
    opts, i = [], 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        c, n = data[i], data[i + 1]
        opts.append((c, data[i + 2:i + 2 + n]))
        i += 2 + n
    return yiaddr, opts


def show(data):
    yiaddr, opts = parse(data)
    mtype = next((d[0] for c, d in opts if c == 53), 0)
    print(f"{TYPES.get(mtype, mtype)}: yiaddr {yiaddr}")
    # BOOTP siaddr (next server) and file (the DOCSIS config file name).
    siaddr = socket.inet_ntoa(data[20:24])
    file = data[108:236].split(b"\0", 1)[0].decode("ascii", "replace")
    if siaddr != "0.0.0.0" or file:
        print(f"  siaddr {siaddr} file {file}")
    for c, d in opts:
        # The decoded value, then the octets in hex (always the last word).
        print(f"  {c:3} {NAMES.get(c, ''):18} {decode(c, d):40} {d.hex()}")
    return mtype, yiaddr, opts


ADDRESS_LISTS = {1, 3, 4, 5, 6, 7, 28, 50, 54}
SECONDS = {2, 51, 58, 59}
TEXT = {12, 14, 15, 60, 66, 67}


def subopts(d):
    """One-octet code and length sub-options (122, 125 data, 43, 82)."""
    out, i = [], 0
    while i + 2 <= len(d):
        c, n = d[i], d[i + 1]
        out.append((c, d[i + 2:i + 2 + n]))
        i += 2 + n
    return out


def labels(b):
    parts, i = [], 0
    while i < len(b) and b[i] != 0:
        parts.append(b[i + 1:i + 1 + b[i]].decode("ascii", "replace"))
        i += 1 + b[i]
    return ".".join(parts)


def quads(d):
    return ", ".join(socket.inet_ntoa(d[i:i + 4]) for i in range(0, len(d) - len(d) % 4, 4))


def decode_ccc(d):
    parts = []
    for c, v in subopts(d):
        if c in (1, 2) and len(v) == 4:
            parts.append(f"{c}={socket.inet_ntoa(v)}")
        elif c == 3 and v[:1] == b"\x01" and len(v) == 5:
            parts.append(f"3={socket.inet_ntoa(v[1:])}")
        elif c == 3 and v[:1] == b"\x00":
            parts.append(f"3={labels(v[1:])}")
        elif c == 6:
            parts.append(f"6={labels(v)}")
        else:
            parts.append(f"{c}={v.hex()}")
    return " ".join(parts)


def decode_vivso(d):
    parts, i = [], 0
    while i + 5 <= len(d):
        ent, n = struct.unpack("!IB", d[i:i + 5])
        data = d[i + 5:i + 5 + n]
        i += 5 + n
        if ent != 4491:
            parts.append(f"{ent}:{data.hex()}")
            continue
        for c, v in subopts(data):
            if c == 1:
                parts.append("4491.1=ORO" + ",".join(str(x) for x in v))
            elif c == 2:
                parts.append(f"4491.2={quads(v)}")
            elif c == 123:
                dss = ",".join(f"{k}:{x.decode('ascii', 'replace')}" for k, x in subopts(v))
                parts.append(f"4491.123=CCCv6[{dss}]")
            elif c == 124 and len(v) == 1:
                parts.append(f"4491.124=IP_PREF b'{v[0]:03b}")
            else:
                parts.append(f"4491.{c}={v.hex()}")
    return " ".join(parts)


def fqdn81(d):
    """Option 81 (RFC 4702 section 2) as 'S=1 O=0 E=0 N=0 rcode1=255 rcode2=255 name=...'."""
    f = d[0]
    name = labels(d[3:]) + ("." if d.endswith(b"\0") else "") if f & 0x04 else d[3:].decode("ascii", "replace")
    return (f"S={f & 1} O={f >> 1 & 1} E={f >> 2 & 1} N={f >> 3 & 1} "
            f"rcode1={d[1]} rcode2={d[2]} name={name}")


def decode(code, d):
    """A readable value for the options the lab sends (hex for the rest)."""
    try:
        if code == 81 and len(d) >= 3:
            return fqdn81(d)
        if code == 53 and d:
            return TYPES.get(d[0], str(d[0]))
        if code in ADDRESS_LISTS and len(d) >= 4:
            return quads(d)
        if code in SECONDS and len(d) == 4:
            return f"{struct.unpack('!i' if code == 2 else '!I', d)[0]} s"
        if code in TEXT:
            return repr(d.decode("ascii"))
        if code == 122:
            return decode_ccc(d)
        if code == 125:
            return decode_vivso(d)
        if code in (43, 82):
            return " ".join(f"{c}={v.hex()}" for c, v in subopts(d))
    except (ValueError, UnicodeDecodeError, struct.error, OSError):
        pass
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="127.0.0.1:6767")
    ap.add_argument("--relay", default="127.0.0.2")
    ap.add_argument("--mac", required=True)
    ap.add_argument("--vendor-class", default="")
    ap.add_argument("--remote-id", help="CM MAC the CMTS puts in option 82.2 (for a CPE behind a modem)")
    ap.add_argument("--relay-id", help="relay agent identifier the CMTS puts in option 82.12 (RFC 6925)")
    ap.add_argument("--client-id", help="option 61 in hex (e.g. ff00000001000102); default none")
    ap.add_argument("--correlation-id", type=int, help="eUE correlation id (option 43 sub-option 32)")
    ap.add_argument("--hostname", help="option 12 host name")
    ap.add_argument("--fqdn", help="option 81 client FQDN (S flag set: the server updates DNS)")
    ap.add_argument("--fqdn-flags", type=lambda x: int(x, 0), default=0x01,
                    help="option 81 flags octet (default 0x01 = S; 0x00: the client updates its A; "
                         "0x08: N; | 0x04: E, the name in wire format)")
    ap.add_argument("--release", action="store_true", help="after the ACK, RELEASE the address")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--init-reboot", metavar="ADDR", help="only an INIT-REBOOT REQUEST for ADDR")
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    mac = mac_bytes(args.mac)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.relay, 0))
    s.settimeout(args.timeout)
    xid = random.getrandbits(32)
    if args.init_reboot:
        s.sendto(build(3, mac, xid, args.relay, [(50, socket.inet_aton(args.init_reboot))], args),
                 (host, int(port)))
        try:
            data, _ = s.recvfrom(4096)
        except socket.timeout:
            sys.exit("no answer to the INIT-REBOOT REQUEST")
        mtype, _, _ = show(data)
        sys.exit(0 if mtype == 5 else 3 if mtype == 6 else 1)
    s.sendto(build(1, mac, xid, args.relay, [], args), (host, int(port)))
    try:
        data, _ = s.recvfrom(4096)
    except socket.timeout:
        sys.exit("no OFFER (is headend running, and does a pool serve this device?)")
    mtype, yiaddr, opts = show(data)
    if mtype != 2:
        sys.exit(1)
    sid = next(d for c, d in opts if c == 54)
    s.sendto(build(3, mac, xid, args.relay, [(54, sid), (50, socket.inet_aton(yiaddr))], args), (host, int(port)))
    try:
        data, _ = s.recvfrom(4096)
    except socket.timeout:
        sys.exit("no ACK")
    mtype, yiaddr, opts = show(data)
    ack81 = next((d for c, d in opts if c == 81 and len(d) >= 3), None)
    if mtype == 5 and ack81 is not None:
        # One line for scripts and tests: the server's answer to option 81.
        print(f"ACK fqdn: {fqdn81(ack81)}")
    if args.release and mtype == 5:
        # RFC 2131 4.4.6: ciaddr the leased address, server id; no answer.
        s.sendto(build(7, mac, random.getrandbits(32), args.relay, [(54, sid)], args, ciaddr=yiaddr),
                 (host, int(port)))
        print(f"RELEASE: ciaddr {yiaddr}")
    sys.exit(0 if mtype == 5 else 1)


if __name__ == "__main__":
    main()
