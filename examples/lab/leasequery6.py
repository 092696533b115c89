#!/usr/bin/env python3
"""A lab CMTS asking a DHCPv6 server who holds what: RFC 5007 Leasequery
over UDP and RFC 5460 Bulk Leasequery over TCP, written with the standard
library only from the RFC layouts, independent of headend's codec.

Queries (exactly one):

    --address ADDR        QUERY_BY_ADDRESS (1): OPTION_IAADDR = ADDR
    --client-id HEX       QUERY_BY_CLIENTID (2): OPTION_CLIENTID = HEX
    --relay-id HEX        QUERY_BY_RELAY_ID (3): OPTION_RELAY_ID (53) = HEX
    --link-address        QUERY_BY_LINK_ADDRESS (4): the --link field
    --remote-id ENT:HEX   QUERY_BY_REMOTE_ID (5): OPTION_REMOTE_ID (37)
    --query-type N        any other query-type, no query-options
    --link ADDR           the link-address field (default ::)
    --no-client-id        leave out the requestor's Client Identifier

Every query's OPTION_LQ_QUERY carries an ORO asking for
OPTION_LQ_RELAY_DATA (47). Over UDP (default) one LEASEQUERY goes to
--server from --source and the LEASEQUERY-REPLY is read; with --bulk the
query goes over a TCP connection with RFC 5460's 2-octet length framing
and every message is read until LEASEQUERY-DONE (or a REPLY that ends the
answer: one with a status, or without client data). Prints one JSON
object: the messages, each with its type, transaction id, status and
decoded client data (addresses and prefixes with lifetimes, CLT_TIME,
relay data layers with their options), or client links. No answer within
--timeout: {"messages": []} and exit 2.

--bind-client DUIDHEX instead plays a relay for one client: SOLICIT,
ADVERTISE, REQUEST, REPLY inside Relay-forward messages with link-address
--link, Remote-ID --relay-remote-id and Relay-ID --relay-relay-id, an
IA_NA and (with --pd) an IA_PD; prints the bound addresses and prefixes.

    python3 examples/lab/leasequery6.py --server [::1]:6547 --address 2001:db8:1::10
    python3 examples/lab/leasequery6.py --bulk --server [::1]:5547 --relay-id 000300010200000000ee01
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys

TYPES = {2: "ADVERTISE", 7: "REPLY", 13: "RELAY-REPL", 15: "LEASEQUERY-REPLY",
         16: "LEASEQUERY-DONE", 17: "LEASEQUERY-DATA"}
STATUS = {0: "Success", 1: "UnspecFail", 7: "UnknownQueryType", 8: "MalformedQuery",
          9: "NotConfigured", 10: "NotAllowed", 11: "QueryTerminated"}
REQUESTOR_DUID = bytes.fromhex("00030001020000000c0c")


def opt(code, value):
    return struct.pack("!HH", code, len(value)) + value


def options(buf):
    out, i = [], 0
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


def addr(b):
    return str(ipaddress.IPv6Address(b))


def query(a, xid):
    """RFC 5007 section 4.1.2.1: query-type(1) link-address(16) options."""
    link = ipaddress.IPv6Address(a.link).packed
    oro = opt(6, struct.pack("!H", 47))
    if a.address:
        qtype, qopts = 1, opt(5, ipaddress.IPv6Address(a.address).packed + bytes(8))
    elif a.client_id:
        qtype, qopts = 2, opt(1, bytes.fromhex(a.client_id))
    elif a.relay_id:
        qtype, qopts = 3, opt(53, bytes.fromhex(a.relay_id))
    elif a.link_address:
        qtype, qopts = 4, b""
    elif a.remote_id:
        ent, rid = a.remote_id.split(":", 1)
        qtype, qopts = 5, opt(37, struct.pack("!I", int(ent)) + bytes.fromhex(rid))
    else:
        qtype, qopts = a.query_type, b""
    body = b"" if a.no_client_id else opt(1, REQUESTOR_DUID)
    body += opt(44, bytes([qtype]) + link + qopts + oro)
    return bytes([14]) + xid.to_bytes(3, "big") + body


def relay_layers(buf):
    layers = []
    while buf:
        if len(buf) < 34 or buf[0] != 12:
            raise ValueError("relay data is not a Relay-forward chain")
        opts = options(buf[34:])
        layers.append({
            "hop_count": buf[1],
            "link_address": addr(buf[2:18]),
            "peer_address": addr(buf[18:34]),
            "options": {str(c): v.hex() for c, v in opts if c != 9},
            "relay_msg": first(opts, 9) is not None,
        })
        buf = first(opts, 9) or b""
    return layers


def client_data(v):
    out = {"addresses": [], "prefixes": []}
    for c, d in options(v):
        if c == 1:
            out["client_id"] = d.hex()
        elif c == 5:
            p, vl = struct.unpack("!II", d[16:24])
            out["addresses"].append({"address": addr(d[:16]), "preferred": p, "valid": vl})
        elif c == 26:
            p, vl = struct.unpack("!II", d[:8])
            out["prefixes"].append({"prefix": "%s/%d" % (addr(d[9:25]), d[8]),
                                    "preferred": p, "valid": vl})
        elif c == 46:
            out["clt_time"] = struct.unpack("!I", d)[0]
        elif c == 47:
            out["relay_data"] = {"peer_address": addr(d[:16]), "layers": relay_layers(d[16:])}
    return out


def decode(msg):
    opts = options(msg[4:])
    out = {"type": TYPES.get(msg[0], msg[0]), "xid": int.from_bytes(msg[1:4], "big")}
    st = first(opts, 13)
    if st is not None:
        code = struct.unpack("!H", st[:2])[0]
        out["status"] = STATUS.get(code, code)
        out["status_message"] = st[2:].decode("utf-8", "replace")
    for c, v in opts:
        if c == 1:
            out["client_id"] = v.hex()
        elif c == 2:
            out["server_id"] = v.hex()
        elif c == 45:
            out.setdefault("clients", []).append(client_data(v))
        elif c == 48:
            out["client_links"] = [addr(v[i:i + 16]) for i in range(0, len(v), 16)]
    return out


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def udp(a, packet):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((a.source, 0))
    s.settimeout(a.timeout)
    s.sendto(packet, hostport(a.server))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        return []
    return [decode(data)]


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def tcp(a, packet):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.bind((a.source, 0))
    s.connect(hostport(a.server))
    s.sendall(struct.pack("!H", len(packet)) + packet)
    msgs = []
    try:
        while True:
            (n,) = struct.unpack("!H", read_exact(s, 2))
            m = decode(read_exact(s, n))
            msgs.append(m)
            if m["type"] == "LEASEQUERY-DONE":
                break
            if m["type"] == "LEASEQUERY-REPLY" and ("status" in m or "clients" not in m):
                break
    except (EOFError, socket.timeout, ConnectionResetError):
        pass
    s.close()
    return msgs


def relayed(a, inner):
    link = ipaddress.IPv6Address(a.link).packed
    peer = ipaddress.IPv6Address("fe80::1").packed
    ent, rid = a.relay_remote_id.split(":", 1)
    return (bytes([12, 0]) + link + peer + opt(18, b"cable-1/0")
            + opt(37, struct.pack("!I", int(ent)) + bytes.fromhex(rid))
            + opt(53, bytes.fromhex(a.relay_relay_id)) + opt(9, inner))


def bind_client(a):
    duid = bytes.fromhex(a.bind_client)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind((a.source, 0))
    s.settimeout(a.timeout)
    server = hostport(a.server)

    def ask(mtype, xid, extra):
        body = opt(1, duid) + opt(8, b"\0\0") + extra
        s.sendto(relayed(a, bytes([mtype]) + xid.to_bytes(3, "big") + body), server)
        while True:
            data, _ = s.recvfrom(65535)
            if data[0] != 13:
                continue
            msg = first(options(data[34:]), 9)
            if msg and int.from_bytes(msg[1:4], "big") == xid:
                return msg

    xid = int.from_bytes(os.urandom(3), "big")
    ias = opt(3, struct.pack("!III", 1, 0, 0))
    if a.pd:
        ias += opt(25, struct.pack("!III", 2, 0, 0))
    adv = ask(1, xid, ias)
    adv_opts = options(adv[4:])
    sid = first(adv_opts, 2)
    req_ias = b"".join(opt(c, v) for c, v in adv_opts if c in (3, 25))
    rep = ask(3, (xid + 1) & 0xFFFFFF, opt(2, sid) + req_ias)
    out = {"addresses": [], "prefixes": []}
    for c, v in options(rep[4:]):
        if c == 3:
            for ic, iv in options(v[12:]):
                if ic == 5:
                    out["addresses"].append(addr(iv[:16]))
        elif c == 25:
            for ic, iv in options(v[12:]):
                if ic == 26:
                    out["prefixes"].append("%s/%d" % (addr(iv[9:25]), iv[8]))
    print(json.dumps(out))
    return 0 if out["addresses"] else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="[::1]:547")
    ap.add_argument("--source", default="::1")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--bulk", action="store_true")
    ap.add_argument("--link", default="::")
    ap.add_argument("--xid", type=lambda s: int(s, 0), default=None)
    ap.add_argument("--no-client-id", action="store_true")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--address")
    g.add_argument("--client-id")
    g.add_argument("--relay-id")
    g.add_argument("--link-address", action="store_true")
    g.add_argument("--remote-id")
    g.add_argument("--query-type", type=int)
    g.add_argument("--bind-client")
    ap.add_argument("--relay-remote-id", default="4491:001018aa0001")
    ap.add_argument("--relay-relay-id", default="000300010200000000ee01")
    ap.add_argument("--pd", action="store_true")
    a = ap.parse_args()
    if a.bind_client:
        return bind_client(a)
    xid = a.xid if a.xid is not None else int.from_bytes(os.urandom(3), "big")
    packet = query(a, xid)
    msgs = tcp(a, packet) if a.bulk else udp(a, packet)
    print(json.dumps({"transport": "tcp" if a.bulk else "udp", "xid": xid, "messages": msgs}))
    return 0 if msgs else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ValueError, OSError) as e:
        print("leasequery6: %s" % e, file=sys.stderr)
        sys.exit(1)
