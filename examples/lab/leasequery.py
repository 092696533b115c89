#!/usr/bin/python3
"""A lab CMTS asking who holds what: RFC 4388 DHCPLEASEQUERY with scapy.

Builds the query with scapy's BOOTP/DHCP layers from the RFC 4388 layout
(op 1, giaddr = this requester, option 53 = 10) and exactly one of:

    --ip ADDR          query by IP address: ciaddr = ADDR, htype/hlen/chaddr 0
    --mac MAC          query by MAC address: htype 1, hlen 6, chaddr = MAC
    --client-id HEX    query by client identifier: option 61 = HEX
    --remote-id MAC    query by Remote ID (RFC 6148): option 82 sub-option 2
    --empty            none of them (a malformed query)

sends it over UDP to the server and waits for the answer on giaddr: at
--port, 67 by default, where servers send it (ISC dhcpd and Kea use the
server port 67, headend its relay_port), which needs root to bind; with
--source-port, option 82 sub-option 19 (RFC 8357) asks for it on this
script's own port instead. Prints one JSON object: the message type,
ciaddr, htype and chaddr, and options 51, 54, 61, 82, 91 and 92 decoded
here from their RFC octets. With no answer within --timeout it prints
{"type": null} and exits 2.

    /usr/bin/python3 examples/lab/leasequery.py --ip 10.1.0.10
    /usr/bin/python3 examples/lab/leasequery.py --source-port --mac 00:10:95:12:34:56

With --bulk HOST:PORT it is an RFC 6926 bulk leasequery requester over
TCP instead: the DHCPBULKLEASEQUERY (op 1, option 53 = 14) is built with
scapy's layers and sent with the RFC's framing written out here — a
two-octet message size in network byte order, then the message — and the
stream is read, message by message, until the DHCPLEASEQUERYDONE (15)
with this query's xid. The primary query is one of --mac, --client-id,
--remote-id (82.2), --relay-id (82.12, RFC 6925) or --all (none: every
binding); --query-start-time / --query-end-time (options 154 / 155,
seconds since 1970) narrow it. Prints one JSON object per message (the
fields above plus base_time 152, start_time_of_state 153, dhcp_state 156,
data_source 157, status 151, and option 82 whole as relay_agent_info_hex);
exit 2 when the stream ends before the DONE. --pcap FILE also writes the
query and every answer, unframed, as UDP datagrams on port 67 to FILE:
tshark has no dissector for DHCPv4 over TCP, but decodes each message so.

    /usr/bin/python3 examples/lab/leasequery.py --bulk 127.0.0.1:6767 --relay-id cmts-a
    /usr/bin/python3 examples/lab/leasequery.py --bulk 127.0.0.1:6767 --all

Debian's python3-scapy installs for /usr/bin/python3 (scripts/setup --peers).
"""
import argparse
import json
import random
import socket
import struct
import sys

from scapy.layers.dhcp import BOOTP, DHCP

TYPES = {10: "DHCPLEASEQUERY", 11: "DHCPLEASEUNASSIGNED", 12: "DHCPLEASEUNKNOWN", 13: "DHCPLEASEACTIVE",
         14: "DHCPBULKLEASEQUERY", 15: "DHCPLEASEQUERYDONE"}
# RFC 6926: dhcp-state (156) values and status-code (151) codes.
STATES = {1: "AVAILABLE", 2: "ACTIVE", 3: "EXPIRED", 4: "RELEASED", 5: "ABANDONED", 6: "RESET",
          7: "REMOTE", 8: "TRANSITIONING"}
STATUS = {0: "Success", 1: "UnspecFail", 2: "QueryTerminated", 3: "MalformedQuery", 4: "NotAllowed"}


def mac_bytes(s):
    b = bytes.fromhex(s.replace(":", "").replace("-", ""))
    if len(b) != 6:
        sys.exit(f"not a MAC: {s}")
    return b


def build(args, xid):
    htype, hlen, chaddr, ciaddr = 0, 0, b"", "0.0.0.0"
    options = [("message-type", 14 if args.bulk else 10)]
    if args.ip:
        ciaddr = args.ip
    elif args.mac:
        htype, hlen, chaddr = 1, 6, mac_bytes(args.mac)
    elif args.client_id:
        options.append(("client_id", bytes.fromhex(args.client_id)))
    rai = b""
    if args.remote_id:
        rid = mac_bytes(args.remote_id)
        rai += bytes([2, len(rid)]) + rid
    if args.relay_id:
        rid = args.relay_id.encode()
        rai += bytes([12, len(rid)]) + rid  # RFC 6925 relay agent identifier
    if args.source_port and not args.bulk:
        rai += bytes([19, 0])  # RFC 8357: answer to my source port
    if rai:
        options.append(("relay_agent_information", rai))
    # Ask for what a CMTS rebuilding its table wants (RFC 4388: the PRL).
    if args.bulk:
        for code, t in ((154, args.query_start_time), (155, args.query_end_time)):
            if t is not None:
                options.append((code, struct.pack("!I", t)))
        options.append(("param_req_list", [51, 61, 82, 91, 152, 153, 156, 157]))
    else:
        options.append(("param_req_list", [51, 61, 82, 91, 92]))
    options.append("end")
    # RFC 6926 requesters need no giaddr: the answer comes back on the connection.
    giaddr = "0.0.0.0" if args.bulk else args.giaddr
    pkt = BOOTP(op=1, htype=htype, hlen=hlen, hops=0, xid=xid, ciaddr=ciaddr,
                giaddr=giaddr, chaddr=chaddr) / DHCP(options=options)
    return bytes(pkt)


def options_of(data):
    """Options of the options field, RFC 3396 instances concatenated."""
    out, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        c, n = data[i], data[i + 1]
        out[c] = out.get(c, b"") + data[i + 2:i + 2 + n]
        i += 2 + n
    return out


def decode(data):
    # The fixed header read by hand (RFC 2131 section 2): fast enough for
    # the hundred thousand messages of a bulk answer, where scapy's BOOTP
    # dissector would take minutes.
    op, htype, hlen, _hops, xid = struct.unpack("!BBBBI", data[:8])
    opts = options_of(data)
    mtype = opts.get(53, b"\0")[0]
    res = {
        "type": TYPES.get(mtype, str(mtype)),
        "op": op,
        "xid": xid,
        "ciaddr": socket.inet_ntoa(data[12:16]),
        "giaddr": socket.inet_ntoa(data[24:28]),
        "htype": htype,
        "chaddr": ":".join(f"{b:02x}" for b in data[28:28 + min(hlen, 16)]),
    }
    if 54 in opts:
        res["server_id"] = socket.inet_ntoa(opts[54])
    if 51 in opts:
        res["lease_time"] = struct.unpack("!I", opts[51])[0]
    if 91 in opts:
        res["client_last_transaction_time"] = struct.unpack("!I", opts[91])[0]
    if 92 in opts:
        d = opts[92]
        res["associated_ip"] = [socket.inet_ntoa(d[i:i + 4]) for i in range(0, len(d), 4)]
    if 61 in opts:
        res["client_id"] = opts[61].hex()
    for code, name in ((152, "base_time"), (153, "start_time_of_state")):
        if code in opts:
            res[name] = struct.unpack("!I", opts[code])[0]
    if 156 in opts:
        res["dhcp_state"] = STATES.get(opts[156][0], str(opts[156][0]))
    if 157 in opts:
        res["data_source"] = opts[157][0]
    if 151 in opts:
        res["status"] = STATUS.get(opts[151][0], str(opts[151][0]))
        res["status_message"] = opts[151][1:].decode("utf-8", "replace")
    if 82 in opts:
        res["relay_agent_info_hex"] = opts[82].hex()
        d, subs, i = opts[82], {}, 0
        while i + 2 <= len(d):
            subs[str(d[i])] = d[i + 2:i + 2 + d[i + 1]].hex()
            i += 2 + d[i + 1]
        res["relay_agent_info"] = subs
    return res


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def bulk(args, xid):
    """RFC 6926 over TCP: one framed query, then every framed answer until
    the DHCPLEASEQUERYDONE with our xid, one JSON line each."""
    host, port = args.bulk.rsplit(":", 1)
    src = (args.source, 0) if args.source else None
    s = socket.create_connection((host, int(port)), timeout=args.timeout, source_address=src)
    query = build(args, xid)
    seen = [query] if args.pcap else None
    out = sys.stdout
    try:
        s.sendall(struct.pack("!H", len(query)) + query)
        f = s.makefile("rb", buffering=1 << 20)
    except OSError:
        # A server that refuses the requester just closes the connection.
        print(json.dumps({"type": None, "closed": True}))
        sys.exit(2)
    while True:
        try:
            head = f.read(2)
        except OSError:
            head = b""
        if len(head) < 2:
            print(json.dumps({"type": None, "closed": True}))
            sys.exit(2)
        (size,) = struct.unpack("!H", head)
        data = f.read(size)
        if len(data) < size:
            print(json.dumps({"type": None, "closed": True}))
            sys.exit(2)
        res = decode(data)
        out.write(json.dumps(res) + "\n")
        if seen is not None:
            seen.append(data)
        if res["type"] == "DHCPLEASEQUERYDONE" and res["xid"] == xid:
            break
    out.flush()
    s.close()
    if seen is not None:
        from scapy.layers.inet import IP, UDP
        from scapy.packet import Raw
        from scapy.utils import wrpcap
        me, server = args.source or "127.0.0.1", host
        pkts = [IP(src=me, dst=server) / UDP(sport=67, dport=67) / Raw(seen[0])]
        pkts += [IP(src=server, dst=me) / UDP(sport=67, dport=67) / Raw(d) for d in seen[1:]]
        wrpcap(args.pcap, pkts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="127.0.0.1:6767")
    ap.add_argument("--giaddr", default="127.0.0.2", help="this requester's address (where the answer goes)")
    ap.add_argument("--source", help="address to send from (default: giaddr)")
    ap.add_argument("--port", type=int, default=67, help="port the answer comes back to")
    ap.add_argument("--source-port", action="store_true",
                    help="option 82.19 (RFC 8357): the answer comes to an ephemeral port, no root needed")
    ap.add_argument("--timeout", type=float, default=2.0)
    q = ap.add_mutually_exclusive_group(required=True)
    q.add_argument("--ip")
    q.add_argument("--mac")
    q.add_argument("--client-id")
    q.add_argument("--remote-id")
    q.add_argument("--relay-id", help="bulk only: option 82.12 (RFC 6925), as text")
    q.add_argument("--all", action="store_true", help="bulk only: no primary query, every binding")
    q.add_argument("--empty", action="store_true")
    ap.add_argument("--bulk", metavar="HOST:PORT", help="RFC 6926 bulk leasequery over TCP to HOST:PORT")
    ap.add_argument("--query-start-time", type=int, help="bulk: option 154, seconds since 1970")
    ap.add_argument("--query-end-time", type=int, help="bulk: option 155, seconds since 1970")
    ap.add_argument("--pcap", help="bulk: write the messages, unframed, as UDP/67 datagrams to this pcap")
    ap.add_argument("--xid", type=lambda v: int(v, 0), help="transaction id (default random)")
    args = ap.parse_args()
    xid = args.xid if args.xid is not None else random.getrandbits(32)
    if args.bulk:
        bulk(args, xid)
        return
    host, port = args.server.rsplit(":", 1)
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listen.bind((args.giaddr, 0 if args.source_port else args.port))
    listen.settimeout(args.timeout)
    source = args.source or args.giaddr
    if source == args.giaddr or args.source_port:
        send = listen  # option 82.19 names the port it was sent from
    else:
        send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        send.bind((source, 0))
    send.sendto(build(args, xid), (host, int(port)))
    try:
        while True:
            data, _ = listen.recvfrom(4096)
            if len(data) >= 240 and struct.unpack("!I", data[4:8])[0] == xid:
                break
    except socket.timeout:
        print(json.dumps({"type": None}))
        sys.exit(2)
    print(json.dumps(decode(data)))


if __name__ == "__main__":
    main()
