#!/usr/bin/env python3
"""A PacketCable 2.0 eUE booting over DHCPv6 behind the lab CMTS (seed 000
Table 6, eUE-1 .. eUE-4), written with the standard library only so that it
is independent of headend's own codec.

It plays the CMTS relay: the eUE's SOLICIT (ORO, vendor class "pktc2.0",
the 4491 device options, client FQDN with S=1 N=0 O=0, correlation id) goes
out inside a Relay-Forward (RFC 8415 section 9) with link-address
2001:db8:100::1 and the eCM's MAC in 17.1026; the ADVERTISE is checked as
eUE-3 requires (CL_OPTION_CCCV6 with sub-options 1, 3 and 6), then REQUEST
and REPLY. It prints one JSON object: the address, the CableLabs TFTP
servers (17.32), config file name (17.33), syslog servers (17.34) and the
CCCv6 sub-options.

    python3 examples/lab/eue6.py --server [::1]:6547 --mac 00:10:95:0e:00:01
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys

CL = 4491


def opt(code, value):
    return struct.pack("!HH", code, len(value)) + value


def options(buf):
    out = []
    i = 0
    while i + 4 <= len(buf):
        code, length = struct.unpack("!HH", buf[i:i + 4])
        if i + 4 + length > len(buf):
            raise ValueError("option %d overruns its container" % code)
        out.append((code, buf[i + 4:i + 4 + length]))
        i += 4 + length
    if i != len(buf):
        raise ValueError("trailing bytes in an option list")
    return out


def first(opts, code):
    for c, v in opts:
        if c == code:
            return v
    return None


def eue_options(mac, msg_type, xid, server_id=None, address=None, fqdn_flags=0x01):
    duid = struct.pack("!HH", 3, 1) + mac  # DUID-LL, Ethernet
    iana_opts = b""
    if address is not None:
        iana_opts = opt(5, address.packed + struct.pack("!II", 0, 0))
    vendor_class = struct.pack("!I", CL) + struct.pack("!H", 7) + b"pktc2.0"
    cl = b"".join([
        opt(1, struct.pack("!7H", 32, 33, 34, 37, 38, 39, 2171)),  # CL ORO
        opt(2, b"EDVA"),
        opt(3, b"ECM:EMTA"),
        opt(4, b"LAB0001"),
        opt(5, b"1.0"),
        opt(6, b"2.0.1"),
        opt(7, b"boot-1"),
        opt(8, b"001095"),
        opt(9, b"LAB-EUE"),
        opt(10, b"headend lab"),
        # TLV 5: 5.18 supported flows (secure|hybrid|basic), 5.38 dual stack.
        opt(35, bytes([18, 2, 0, 7, 38, 1, 1])),
        opt(36, mac),
        opt(2172, struct.pack("!I", 0x12345678)),
    ])
    body = b"".join([
        opt(1, duid),
        opt(2, server_id) if server_id is not None else b"",
        opt(3, struct.pack("!III", 1, 0, 0) + iana_opts),
        opt(6, struct.pack("!4H", 23, 24, 17, 39)),
        opt(8, struct.pack("!H", 0)),
        opt(16, vendor_class),
        opt(17, struct.pack("!I", CL) + cl),
        # Client FQDN (RFC 4704): by default S=1, N=0, O=0, empty name.
        opt(39, bytes([fqdn_flags])),
    ])
    return bytes([msg_type]) + xid.to_bytes(3, "big") + body


def relay_forward(inner, cm_mac):
    link = ipaddress.IPv6Address("2001:db8:100::1").packed
    peer = ipaddress.IPv6Address("fe80::210:95ff:fe0e:1").packed
    cl = struct.pack("!I", CL) + opt(1026, cm_mac)
    return bytes([12, 0]) + link + peer + opt(9, inner) + opt(17, cl)


def unwrap(datagram):
    if not datagram or datagram[0] != 13:
        raise ValueError("expected a Relay-Reply, got message type %d" % datagram[0])
    msg = first(options(datagram[34:]), 9)
    if msg is None:
        raise ValueError("Relay-Reply without a Relay Message option")
    return msg


def ask(sock, server, packet, want, xid, tries=3):
    for _ in range(tries):
        sock.sendto(packet, server)
        sock.settimeout(2.0)
        try:
            while True:
                data, _ = sock.recvfrom(4096)
                msg = unwrap(data)
                if msg[0] == want and int.from_bytes(msg[1:4], "big") == xid:
                    return msg
        except socket.timeout:
            continue
    raise TimeoutError("no answer of type %d" % want)


def cablelabs(opts):
    v = first(opts, 17)
    if v is None or struct.unpack("!I", v[:4])[0] != CL:
        raise ValueError("no CableLabs vendor options (17/4491)")
    return options(v[4:])


def addresses(value):
    return [str(ipaddress.IPv6Address(value[i:i + 16])) for i in range(0, len(value), 16)]


def dns_name(b):
    labels, i = [], 0
    while i < len(b) and b[i] != 0:
        labels.append(b[i + 1:i + 1 + b[i]].decode("ascii", "replace"))
        i += 1 + b[i]
    return ".".join(labels)


def cccv6(cl):
    v = first(cl, 2171)
    if v is None:
        raise ValueError("no CL_OPTION_CCCV6 (eUE-3)")
    subs = options(v)
    codes = [c for c, _ in subs]
    for needed in (1, 3, 6):
        if needed not in codes:
            raise ValueError("CCCv6 without sub-option %d (eUE-3)" % needed)
    if 2 in codes:
        raise ValueError("an eUE ADVERTISE must not carry CCCv6 sub-option 2")
    prov = first(subs, 3)
    if prov == b"0.0.0.0":
        server = "0.0.0.0"
    elif prov[0] == 0:
        server = dns_name(prov[1:])
    else:
        server = addresses(prov[1:])
    return {
        "dss_id": first(subs, 1).decode("ascii", "replace"),
        "provisioning_server": server,
        "realm": dns_name(first(subs, 6)),
    }


def fqdn39(v):
    """Option 39 as {"s", "o", "n", "name"} (None when absent)."""
    if not v:
        return None
    f = v[0]
    return {"s": f & 1, "o": f >> 1 & 1, "n": f >> 2 & 1, "name": dns_name(v[1:])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="[::1]:6547")
    ap.add_argument("--mac", default="00:10:95:0e:00:01")
    ap.add_argument("--cm-mac", default="00:10:95:00:00:01")
    ap.add_argument("--fqdn-flags", type=lambda x: int(x, 0), default=0x01,
                    help="option 39 flags octet (0x01 = S, the default; 0x00: the eUE updates its AAAA; 0x04: N)")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    server = (host.strip("[]"), int(port))
    mac = bytes.fromhex(a.mac.replace(":", ""))
    cm_mac = bytes.fromhex(a.cm_mac.replace(":", ""))
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    xid = int.from_bytes(os.urandom(3), "big")

    adv = ask(sock, server, relay_forward(eue_options(mac, 1, xid, fqdn_flags=a.fqdn_flags), cm_mac), 2, xid)
    adv_opts = options(adv[4:])
    adv_ccc = cccv6(cablelabs(adv_opts))
    iana = first(adv_opts, 3)
    if iana is None:
        raise ValueError("ADVERTISE without IA_NA")
    iaaddr = first(options(iana[12:]), 5)
    address = ipaddress.IPv6Address(iaaddr[:16])
    server_id = first(adv_opts, 2)

    xid2 = (xid + 1) & 0xFFFFFF
    req = eue_options(mac, 3, xid2, server_id=server_id, address=address, fqdn_flags=a.fqdn_flags)
    rep = ask(sock, server, relay_forward(req, cm_mac), 7, xid2)
    rep_opts = options(rep[4:])
    cl = cablelabs(rep_opts)
    rep_ccc = cccv6(cl)
    if rep_ccc != adv_ccc:
        raise ValueError("REPLY CCCv6 differs from the ADVERTISE's (eUE-4)")
    name = first(cl, 33)
    print(json.dumps({
        "address": str(address),
        "tftp_servers": addresses(first(cl, 32) or b""),
        "config_file": name.decode("ascii", "replace") if name else None,
        "syslog_servers": addresses(first(cl, 34) or b""),
        "cccv6": rep_ccc,
        # The REPLY's option 39 (RFC 4704 section 5): the server's decision.
        "fqdn": fqdn39(first(rep_opts, 39)),
    }))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, TimeoutError, OSError) as e:
        print("eue6: %s" % e, file=sys.stderr)
        sys.exit(1)
