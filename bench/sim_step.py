#!/usr/bin/env python3
"""One headend-sim run of a bench ramp (LOAD=sim in bench/dhcpv4-vs-kea.sh and
bench/dhcpv6-vs-kea.sh), read from its --json report: the result line, the
CPU log entry, and exit status 0 when < 0.1 % of each exchange was lost and
no reply broke a rule. The simulator sends each message once, so a device
failed with "no OFFER/ADVERTISE" or "no ACK/REPLY" is one lost exchange.

usage: sim_step.py v4|v6 REPORT RATE NAME PERIOD SERVER_TICKS HZ CPU_LOG \
                   SERVER_RCVBUF [SIM_CPU_S SIM_RCVBUF]
"""
import json
import sys

FAMILIES = {
    # first exchange, second, reply word, exchange, the step in the report,
    # its two failure reasons
    "v4": ("DO", "RA", "ACKed", "exchange", "DORA", "eCM DHCPv4 (CM1-CM4)", "no DHCPOFFER", "no DHCPACK"),
    "v6": ("SA", "RR", "REPLYs", "SARR", "SARR", "eCM DHCPv6 (Table 3)", "no valid ADVERTISE", "no REPLY"),
}


def main():
    fam, path, rate, name, period, ticks, hz, cpulog, rcv = sys.argv[1:10]
    extra = sys.argv[10:]
    first, second, replied, unit, lat_name, step, lost1_reason, lost2_reason = FAMILIES[fam]
    rate, period, ticks, hz = int(rate), int(period), int(ticks), int(hz)
    try:
        r = json.load(open(path))
    except (OSError, ValueError):
        print(f"{name} {rate}/s: no simulator report")
        return 1
    fail = {f["reason"]: f["count"] for f in r["failures"]}
    sent1 = rate * period
    lost1 = fail.get(lost1_reason, 0)
    sent2 = sent1 - lost1
    lost2 = fail.get(lost2_reason, 0)
    done = sent2 - lost2
    violations = sum(v["count"] for v in r["violations"])
    ok = lost1 * 1000 < sent1 and lost2 * 1000 < sent2 and violations == 0
    lat = {s["step"]: s["latency"] for s in r["steps"]}.get(step, {"p50_ms": 0, "p99_ms": 0})
    us = ticks / hz / done * 1e6 if done else 0
    sim = f", simulator CPU {extra[0]} s, simulator RcvbufErrors {extra[1]}" if len(extra) == 2 else ""
    print(
        f"{name:<9} {rate:6d}/s asked, {done / period:8.0f}/s {replied}: "
        f"{first} lost {100 * lost1 / sent1:.4f} %, {second} lost {100 * lost2 / max(sent2, 1):.4f} %, "
        f"{lat_name} p50/p99 {lat['p50_ms']}/{lat['p99_ms']} ms, server CPU {ticks / hz:.1f} s "
        f"({us:.0f} us per {unit}), server RcvbufErrors {rcv}{sim}, violations {violations}  "
        f"{'ok' if ok else 'LOSSY'}"
    )
    if done:
        with open(cpulog, "a") as log:
            log.write(f"{name} {rate} {us:.1f}\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
