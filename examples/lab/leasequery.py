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

Debian's python3-scapy installs for /usr/bin/python3 (scripts/setup --peers).
"""
import argparse
import json
import random
import socket
import struct
import sys

from scapy.layers.dhcp import BOOTP, DHCP

TYPES = {10: "DHCPLEASEQUERY", 11: "DHCPLEASEUNASSIGNED", 12: "DHCPLEASEUNKNOWN", 13: "DHCPLEASEACTIVE"}


def mac_bytes(s):
    b = bytes.fromhex(s.replace(":", "").replace("-", ""))
    if len(b) != 6:
        sys.exit(f"not a MAC: {s}")
    return b


def build(args, xid):
    htype, hlen, chaddr, ciaddr = 0, 0, b"", "0.0.0.0"
    options = [("message-type", 10)]
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
    if args.source_port:
        rai += bytes([19, 0])  # RFC 8357: answer to my source port
    if rai:
        options.append(("relay_agent_information", rai))
    # Ask for what a CMTS rebuilding its table wants (RFC 4388: the PRL).
    options.append(("param_req_list", [51, 61, 82, 91, 92]))
    options.append("end")
    pkt = BOOTP(op=1, htype=htype, hlen=hlen, hops=0, xid=xid, ciaddr=ciaddr,
                giaddr=args.giaddr, chaddr=chaddr) / DHCP(options=options)
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
    hdr = BOOTP(data)
    opts = options_of(data)
    mtype = opts.get(53, b"\0")[0]
    res = {
        "type": TYPES.get(mtype, str(mtype)),
        "op": hdr.op,
        "xid": hdr.xid,
        "ciaddr": hdr.ciaddr,
        "giaddr": hdr.giaddr,
        "htype": hdr.htype,
        "chaddr": ":".join(f"{b:02x}" for b in bytes(hdr.chaddr)[:hdr.hlen]),
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
    if 82 in opts:
        d, subs, i = opts[82], {}, 0
        while i + 2 <= len(d):
            subs[str(d[i])] = d[i + 2:i + 2 + d[i + 1]].hex()
            i += 2 + d[i + 1]
        res["relay_agent_info"] = subs
    return res


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
    q.add_argument("--empty", action="store_true")
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    xid = random.getrandbits(32)
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
