#!/usr/bin/env python3
"""The browser half of bench/console.sh (run by it, not by hand).

usage: console_pages.py API_URL CHROMEDRIVER_URL WORK USER PASSWORD

Against a running `headend run` with leases already seeded: logs in over the
API, creates ACCOUNTS operator accounts (so the accounts page pages real
data and the audit log has entries), picks a seeded lease (its address, MAC
and relay) from /api/v1/leases, then drives headless Chromium through
chromedriver (W3C WebDriver over plain HTTP, standard library only): logs in
on the console's form, visits every page ROUNDS times by setting
location.hash, and reads the time the page itself reports
(window.headendTiming.ms: route change to data on screen, API calls
included). Also times ROUNDS full page loads (about:blank, then
/console/#/ with the session kept in sessionStorage) with the Navigation
Timing API, and each API call the pages make, from here. Prints the tables;
exits 1 if something broke (a page never became ready, an API call failed).

Environment: ROUNDS [5], ACCOUNTS [300], LIMIT_MS [200], WAIT_S [30].
"""
import ipaddress
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

API, WD, WORK, USER, PASSWORD = sys.argv[1:6]
ROUNDS = int(os.environ.get("ROUNDS", "5"))
ACCOUNTS = int(os.environ.get("ACCOUNTS", "300"))
LIMIT_MS = float(os.environ.get("LIMIT_MS", "200"))
WAIT_S = float(os.environ.get("WAIT_S", "30"))
SEED = int(os.environ.get("SEED", "0"))
ELEM = "element-6066-11e4-a52e-4f735466cecf"  # W3C element-reference key
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--window-size=1280,800", f"--user-data-dir={WORK}/chromium-profile"]


def http(method, url, body=None, headers=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")[:500]


# ------------------------------------------------------------------ the API

TOKEN = None


def api(method, path, body=None):
    status, v = http(method, API + path, body, {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {})
    if status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {status}: {v}")
    return v


def api_ms(path):
    """Milliseconds of one GET from here (new connection each time, like curl)."""
    t = time.perf_counter()
    api("GET", path)
    return (time.perf_counter() - t) * 1000


# ------------------------------------------------------------------ WebDriver

SESSION = None


def wd(method, path, body=None):
    status, v = http(method, WD + (f"/session/{SESSION}" if SESSION else "") + path, body, timeout=WAIT_S + 30)
    if status >= 300:
        raise RuntimeError(f"WebDriver {method} {path}: HTTP {status}: {v}")
    return v["value"]


def js(script, *args):
    return wd("POST", "/execute/sync", {"script": script, "args": list(args)})


def js_async(script, *args):
    return wd("POST", "/execute/async", {"script": script, "args": list(args)})


def find(css):
    return wd("POST", "/element", {"using": "css selector", "value": css})[ELEM]


# Sets location.hash (or nothing, for hash None) and resolves, polling in the
# page, when body[data-ready] names the page and headendTiming is the new one.
WAIT_READY = """
const [hash, page, limitMs] = arguments, done = arguments[arguments.length - 1];
const t0 = performance.now();
if (hash !== null) { window.headendTiming = null; location.hash = hash; }
(function poll() {
  const r = document.body.dataset.ready, h = window.headendTiming;
  if (r === page && h && h.page === page) {
    const err = document.querySelector("#main .error");
    return done({ ok: true, ms: h.ms, wall: performance.now() - t0, rows: document.querySelectorAll("#main tbody tr").length,
                  error: err ? err.textContent : null });
  }
  if (performance.now() - t0 > limitMs) return done({ ok: false, ready: r || null, timing: h || null, title: document.title, hash: location.hash });
  setTimeout(poll, 2);
})();
"""


def wait_ready(hash_, page):
    global CURRENT
    if hash_ is not None and hash_ == CURRENT:
        raise RuntimeError(f"already on {hash_}: setting it again changes nothing")
    r = js_async(WAIT_READY, hash_, page, WAIT_S * 1000)
    CURRENT = js("return location.hash")
    if r["error"]:
        raise RuntimeError(f"page {page} ({hash_}) shows an error: {r['error'][:300]}")
    if not r["ok"]:
        shot = f"{WORK}/failed-{page}.png"
        try:
            import base64
            open(shot, "wb").write(base64.b64decode(wd("GET", "/screenshot")))
        except Exception:  # noqa: BLE001 - the screenshot is a courtesy
            shot = "(no screenshot)"
        shot += " (KEEP=1 keeps the work directory)"
        raise RuntimeError(f"page {page} ({hash_}) not ready within {WAIT_S:.0f} s: {r}; {shot}")
    return r


CURRENT = None  # the hash the browser is on


def elsewhere(name):
    """(hash, page) of a page other than `name` and the current one, to come from."""
    return next((f"#/{p}", p) for p in ("pools", "domains", "policies") if p != name and f"#/{p}" != CURRENT)


def main():
    global TOKEN, SESSION
    failures = []

    # ---- data through the API
    TOKEN = api("POST", "/api/v1/login", {"user": USER, "password": PASSWORD})["token"]
    # A seeded lease from the middle of the seeded range (`after` = its predecessor).
    first = api("GET", "/api/v1/leases?limit=1")["leases"]
    if not first:
        raise RuntimeError("no leases in the store")
    after = ipaddress.IPv4Address(first[0]["ip"]) + max(0, SEED // 2 - 1)
    mid = api("GET", f"/api/v1/leases?limit=1&after={after}")["leases"] or first
    lease = mid[0]
    ip, mac, relay = lease["ip"], lease["mac"], lease["relay"]
    domains = [d["name"] for d in api("GET", "/api/v1/domains")]
    doms = [d for d in domains if d in ("residential", "business")] or domains[:1]
    have = {a["id"] for a in api("GET", f"/api/v1/accounts?prefix={mac}&limit=10")["accounts"]}
    macs = [mac] if mac not in have else []
    macs += [l["mac"] for l in api("GET", f"/api/v1/leases?limit={min(1000, max(1, ACCOUNTS))}")["leases"]]
    t = time.perf_counter()
    made = 0
    for i, m in enumerate(macs[:ACCOUNTS]):
        status, v = http("POST", API + "/api/v1/accounts", {"id": m, "domains": [doms[i % len(doms)]]},
                         {"Authorization": f"Bearer {TOKEN}"})
        if status == 201:
            made += 1
        elif status != 409:
            raise RuntimeError(f"POST /api/v1/accounts {m}: HTTP {status}: {v}")
    print(f"created {made} accounts through the API in {time.perf_counter() - t:.1f} s; "
          f"lease used: {ip} {mac} behind relay {relay}")

    q = urllib.parse.quote
    # (row label, hash, page name set in data-ready, API calls the page waits for)
    pages = [
        ("dashboard", "#/", "dashboard", ["/api/v1/dashboard", "/api/v1/pools"]),
        ("devices: by IP", f"#/devices?q={q(ip)}&by=ip", "devices", [f"/api/v1/leases?ip={ip}"]),
        ("devices: by relay", f"#/devices?q={q(relay)}&by=relay", "devices", [f"/api/v1/leases?relay={relay}&limit=100"]),
        ("device page", f"#/device/{mac}", "device", [f"/api/v1/devices/{mac}", "/api/v1/domains"]),
        ("accounts", "#/accounts", "accounts", ["/api/v1/accounts?limit=50"]),
        ("bindings", "#/bindings", "bindings", ["/api/v1/fixed4", "/api/v1/reservations6"]),
        ("pools", "#/pools", "pools", ["/api/v1/pools"]),
        ("domains", "#/domains", "domains", ["/api/v1/domains"]),
        ("policies", "#/policies", "policies", ["/api/v1/policies"]),
        ("config", "#/config", "config", ["/api/v1/config"]),
        ("users", "#/users", "users", ["/api/v1/users"]),
        ("audit", "#/audit", "audit", ["/api/v1/audit?limit=50"]),
    ]

    # ---- the browser
    caps = {"capabilities": {"alwaysMatch": {
        "browserName": "chrome", "unhandledPromptBehavior": "ignore",
        "goog:chromeOptions": {"args": CHROME_ARGS}}}}
    t = time.perf_counter()
    s = wd("POST", "/session", caps)
    SESSION = s["sessionId"]
    print(f"Chromium {s['capabilities'].get('browserVersion')} up in {time.perf_counter() - t:.2f} s")
    try:
        wd("POST", "/timeouts", {"script": int((WAIT_S + 5) * 1000), "pageLoad": int(WAIT_S * 1000), "implicit": 0})
        console = API + "/console/"
        wd("POST", "/url", {"url": console + "#/login"})
        deadline = time.monotonic() + WAIT_S
        while not js("return !!document.getElementById('login-user')"):
            if time.monotonic() > deadline:
                raise RuntimeError("no login form")
            time.sleep(0.05)
        wd("POST", f"/element/{find('#login-user')}/value", {"text": USER})
        wd("POST", f"/element/{find('#login-password')}/value", {"text": PASSWORD})
        wd("POST", f"/element/{find('#login-submit')}/click", {})
        wait_ready(None, "dashboard")
        who = js("return document.getElementById('who').textContent")
        if f"{USER} (admin" not in who:
            raise RuntimeError(f"#who says {who!r} after logging in")
        print(f"logged in on the console form: #who = {who!r}")

        # Warm-up: one uncounted visit of each page (first JIT, first DNS-free fetch).
        for _, h, name, _ in pages:
            wait_ready(*elsewhere(name))
            wait_ready(h, name)

        rows_seen = {}
        times = {label: [] for label, *_ in pages}
        walls = {label: [] for label, *_ in pages}
        for _ in range(ROUNDS):
            prev = None
            for label, h, name, _ in pages:
                if prev == name:  # always arrive from a different page
                    wait_ready(*elsewhere(name))
                r = wait_ready(h, name)
                times[label].append(r["ms"])
                rows_seen[label] = r["rows"]
                walls[label].append(r["wall"])
                prev = name

        # Full page loads: about:blank, then the console (token in sessionStorage).
        loads = []
        for _ in range(ROUNDS):
            wd("POST", "/url", {"url": "about:blank"})
            wd("POST", "/url", {"url": console + "#/"})
            r = wait_ready(None, "dashboard")
            nav = js("""const n = performance.getEntriesByType('navigation')[0];
                        return {ttfb: n.responseStart, dcl: n.domContentLoadedEventStart, load: n.loadEventEnd,
                                token: !!sessionStorage.getItem('headend.token'), hash: location.hash};""")
            if not nav["token"] or nav["hash"] != "#/":
                raise RuntimeError(f"full load did not keep the session: {nav}")
            # route() runs in the DOMContentLoaded handler; its ms ends with data on screen.
            nav["ready"] = nav["dcl"] + r["ms"]
            loads.append(nav)
    finally:
        try:
            wd("DELETE", "")
        finally:
            SESSION = None

    # ---- API calls from here (what each page waits for)
    api_times = {}
    for _, _, _, calls in pages:
        for c in calls:
            if c not in api_times:
                api_ms(c)  # warm
                api_times[c] = [api_ms(c) for _ in range(max(3, ROUNDS))]

    # ---- report
    print()
    print(f"Console pages, {ROUNDS} visits each by location.hash (time the page reports: route change to data on screen)")
    print(f"{'page':<26}{'table rows':>10}{'median ms':>10}{'max ms':>9}  result (limit {LIMIT_MS:.0f} ms)")
    rows = []
    for label, *_ in pages:
        v = times[label]
        rows.append((label, rows_seen[label], statistics.median(v), max(v)))
    lr = [x["ready"] for x in loads]
    rows.append(("full load (dashboard)", rows_seen["dashboard"], statistics.median(lr), max(lr)))
    worst = None
    for label, nrows, med, mx in rows:
        ok = mx <= LIMIT_MS
        if not ok:
            failures.append(label)
        if worst is None or mx > worst[1]:
            worst = (label, mx)
        print(f"{label:<26}{nrows:>10}{med:>10.1f}{mx:>9.1f}  {'PASS' if ok else 'FAIL'}")
    n = len(rows)
    print(f"full load detail (median over {len(loads)}): first byte {statistics.median(x['ttfb'] for x in loads):.1f} ms, "
          f"DOMContentLoaded {statistics.median(x['dcl'] for x in loads):.1f} ms, load event "
          f"{statistics.median(x['load'] for x in loads):.1f} ms, dashboard data on screen "
          f"{statistics.median(lr):.1f} ms (from navigation start)")
    print()
    print("API calls the pages wait for, timed from Python (new connection each; median / max ms):")
    for c, v in api_times.items():
        print(f"  {c:<52}{statistics.median(v):>8.1f}{max(v):>8.1f}")
    print()
    if failures:
        print(f"SUMMARY: FAIL: {len(failures)} of {n} pages over {LIMIT_MS:.0f} ms ({', '.join(failures)}); "
              f"slowest {worst[0]} at {worst[1]:.1f} ms")
    else:
        print(f"SUMMARY: PASS: all {n} pages within {LIMIT_MS:.0f} ms; slowest {worst[0]} at {worst[1]:.1f} ms (max)")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one line, then a non-zero exit
        print(f"console_pages.py: {e}", file=sys.stderr)
        sys.exit(1)
