// headend console: a single-page front end on the management API only
// (/api/v1, the same calls curl or a script would make). No build step, no
// third-party code, no CDN: this file, app.css and index.html are embedded in
// the headend binary. Pages are hash routes (#/devices, #/device/<mac>, ...);
// every datum is inserted as text (never as HTML). Times are shown in the
// browser's time zone.
"use strict";

const S = {
  token: sessionStorage.getItem("headend.token"),
  me: JSON.parse(sessionStorage.getItem("headend.me") || "null"),
  timers: [],
  routes: 0,
};
const ROLES = { viewer: 0, operator: 1, admin: 2 };
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone;

// ------------------------------------------------------------------ helpers

/** An element: el("td", {class: "num"}, "text", child, ...). */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
function svgEl(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const main = () => document.getElementById("main");
function page(title, ...kids) {
  const m = main();
  m.replaceChildren(el("h1", {}, title), ...kids);
  document.title = `${title} — headend`;
  m.focus({ preventScroll: true });
}
function toast(msg) {
  const t = el("div", {}, msg);
  document.getElementById("toast").append(t);
  setTimeout(() => t.remove(), 5000);
}
const time = (ms) => (ms ? new Date(ms).toLocaleString() : "—");
const secs = (s) => (s ? new Date(s * 1000).toLocaleString() : "—");
const can = (role) => S.me && ROLES[S.me.role] >= ROLES[role];
const scoped = () => S.me && S.me.domains && S.me.domains.length > 0;
const isMac = (s) => /^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$/i.test(s) || /^[0-9a-f]{12}$/i.test(s);
const isV4 = (s) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
const isV6 = (s) => s.includes(":") && /^[0-9a-f:.]+$/i.test(s) && !isMac(s);
function normMac(s) {
  const h = s.replace(/[^0-9a-f]/gi, "").toLowerCase();
  return h.match(/../g).join(":");
}
/** A control that needs `role`: disabled, with the reason, for lesser roles. */
function gated(role, node) {
  if (!can(role)) {
    node.disabled = true;
    node.title = `needs the ${role} role (you are ${S.me ? S.me.role : "logged out"})`;
    node.dataset.denied = "true";
  }
  return node;
}
function table(headers, rows, attrs) {
  return el("div", { class: "scroll" },
    el("table", attrs || {},
      el("thead", {}, el("tr", {}, headers.map((h) =>
        el("th", { scope: "col", class: h.endsWith("#") ? "num" : null }, h.replace(/#$/, ""))))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "none")))));
}
function errorBox(e) {
  const box = el("div", { class: "error", role: "alert" }, e.message || String(e));
  if (e.errors && e.errors.length) {
    box.append(el("ul", {}, e.errors.map((p) =>
      el("li", { class: "config-error", "data-line": p.line },
        `${p.file}${p.line ? ":" + p.line : ""}: ${p.message}`, p.fix ? el("div", { class: "muted" }, p.fix) : null))));
  }
  return box;
}

/** One API call; 401 sends the operator to the login page. */
async function api(method, path, body) {
  const headers = {};
  if (S.token) headers.authorization = `Bearer ${S.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  const text = await r.text();
  let v;
  try { v = text ? JSON.parse(text) : null; } catch (_) { v = text; }
  if (!r.ok) {
    const d = (v && v.error) || {};
    const err = new Error(d.message || `${method} ${path}: HTTP ${r.status}`);
    err.status = r.status;
    err.errors = d.errors || [];
    if (r.status === 401 && path !== "/api/v1/login") {
      logout(false);
      throw err;
    }
    throw err;
  }
  return v;
}
const qs = (o) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : "";
};

// ------------------------------------------------------------------ session

function showChrome() {
  const top = document.getElementById("top");
  top.hidden = !S.me;
  if (!S.me) return;
  document.getElementById("who").textContent =
    `${S.me.user} (${S.me.role}${scoped() ? ": " + S.me.domains.join(", ") : ""})`;
  for (const a of document.querySelectorAll("#nav a[data-role]")) a.hidden = !can(a.dataset.role);
}
function logout(tell) {
  if (tell && S.token) api("POST", "/api/v1/logout").catch(() => {});
  S.token = null; S.me = null;
  sessionStorage.removeItem("headend.token"); sessionStorage.removeItem("headend.me");
  showChrome();
  if (location.hash !== "#/login") location.hash = "#/login";
}
function loginPage() {
  const err = el("div", { id: "login-error" });
  const user = el("input", { id: "login-user", name: "user", autocomplete: "username", required: true });
  const pw = el("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = el("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    err.replaceChildren();
    try {
      const r = await api("POST", "/api/v1/login", { user: user.value, password: pw.value });
      S.token = r.token;
      S.me = { user: r.user, role: r.role, domains: r.domains };
      sessionStorage.setItem("headend.token", r.token);
      sessionStorage.setItem("headend.me", JSON.stringify(S.me));
      showChrome();
      location.hash = "#/";
    } catch (e) { err.replaceChildren(errorBox(e)); }
  } },
  el("label", {}, "User", user), el("label", {}, "Password", pw),
  el("button", { id: "login-submit", type: "submit" }, "Log in"), err);
  const m = main();
  m.replaceChildren(el("div", { class: "login" }, el("h1", {}, "headend — log in"), form));
  document.title = "Log in — headend";
  user.focus();
}

// ------------------------------------------------------------------ dashboard

const PROTOCOLS = ["dhcpv4", "dhcpv6", "tftp", "http", "tod", "snmp", "syslog"];
function sparkline(values, w, h) {
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i * w) / Math.max(1, values.length - 1)},${h - (v / max) * (h - 2) - 1}`).join(" ");
  return svgEl("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": `peak ${max.toFixed(1)}/s` },
    svgEl("polyline", { points: pts, fill: "none", stroke: "#0b5cad", "stroke-width": "1.5" }));
}
function activityChart(minutes) {
  const w = 600, h = 120, n = minutes.length, bw = w / n;
  const max = Math.max(1, ...minutes.map((m) => Math.max(m.provisioned + m.bound, m.failed)));
  const g = svgEl("svg", { id: "dash-activity-chart", viewBox: `0 0 ${w} ${h + 16}`, width: "100%", role: "img",
    "aria-label": "devices bound, provisioned and steps failed per minute, last hour" });
  minutes.forEach((m, i) => {
    const x = i * bw;
    const hp = (m.provisioned / max) * h, hb = (m.bound / max) * h, hf = (m.failed / max) * h;
    const title = `${new Date(m.start_ms).toLocaleTimeString()}: ${m.bound} bound, ${m.provisioned} provisioned, ${m.failed} failed`;
    const grp = svgEl("g", {}, svgEl("title", {}, title));
    grp.append(svgEl("rect", { x: x + 1, y: h - hb - hp, width: Math.max(1, bw / 2 - 1), height: hb + hp, fill: "#8cc0ff" }));
    grp.append(svgEl("rect", { x: x + 1, y: h - hp, width: Math.max(1, bw / 2 - 1), height: hp, fill: "#1a7f37" }));
    grp.append(svgEl("rect", { x: x + bw / 2, y: h - hf, width: Math.max(1, bw / 2 - 1), height: hf, fill: "#cf222e" }));
    g.append(grp);
  });
  g.append(svgEl("text", { x: 0, y: h + 13 }, new Date(minutes[0].start_ms).toLocaleTimeString()));
  g.append(svgEl("text", { x: w - 60, y: h + 13 }, "now"));
  return g;
}
async function dashboardPage() {
  const parts = {
    config: el("div", { id: "dash-config" }, "…"),
    traffic: el("div", { id: "dash-traffic" }, "…"),
    pools: el("div", { id: "dash-pools" }, "…"),
    activity: el("div", { id: "dash-activity" }, "…"),
    failures: el("div", { id: "dash-failures" }, "…"),
    recent: el("div", { id: "dash-recent" }, "…"),
    events: el("div", { id: "dash-events" }, "…"),
    plugins: el("div", { id: "dash-plugins" }, "…"),
  };
  const card = (t, n) => el("section", { class: "card" }, el("h2", {}, t), n);
  page("Dashboard",
    el("div", { class: "grid" },
      card("Traffic (per second, live)", parts.traffic), card("Pool utilisation by domain", parts.pools)),
    el("div", { class: "grid" },
      card("Provisioning, last hour", parts.activity), card("Failures by step, last hour", parts.failures)),
    el("div", { class: "grid" },
      card("Recently provisioned", parts.recent), card("Management events", parts.events)),
    el("div", { class: "grid" }, card("Plugins", parts.plugins), card("Configuration", parts.config)),
    el("p", { class: "muted" }, `Times in ${TZ}. Refreshed every 2 s.`));
  let prev = null;
  const history = Object.fromEntries(PROTOCOLS.map((p) => [p, []]));
  let poolTick = 0;
  const tick = async () => {
    let d;
    try { d = await api("GET", "/api/v1/dashboard"); } catch (e) { parts.traffic.replaceChildren(errorBox(e)); return; }
    const rows = PROTOCOLS.map((p) => {
      const t = d.traffic[p] || { received: 0, answered: 0, dropped: 0 };
      let rx = 0, tx = 0, dr = 0;
      if (prev) {
        const o = prev.traffic[p] || t, dt = Math.max(0.001, (d.now_ms - prev.now_ms) / 1000);
        rx = Math.max(0, t.received - o.received) / dt;
        tx = Math.max(0, t.answered - o.answered) / dt;
        dr = Math.max(0, t.dropped - o.dropped) / dt;
      }
      const hist = history[p];
      hist.push(rx); if (hist.length > 60) hist.shift();
      return el("tr", { "data-protocol": p }, el("th", { scope: "row" }, p),
        el("td", { class: "num rx" }, rx.toFixed(1)), el("td", { class: "num" }, tx.toFixed(1)),
        el("td", { class: "num" + (dr > 0 ? " bad" : "") }, dr.toFixed(1)),
        el("td", { class: "num muted" }, t.received.toLocaleString()),
        el("td", {}, sparkline(hist, 100, 20)));
    });
    prev = d;
    parts.traffic.replaceChildren(table(["protocol", "in/s#", "answered/s#", "dropped/s#", "total in#", "last 2 min"], rows));
    const a = d.activity;
    parts.activity.replaceChildren(activityChart(a.minutes),
      el("p", { class: "muted" }, el("span", { style: "color:#8cc0ff" }, "■"), " first binding ",
        el("span", { class: "ok" }, "■"), " provisioned ", el("span", { class: "bad" }, "■"), " failed steps"));
    const f = Object.entries(a.failures_by_step).sort((x, y) => y[1] - x[1]);
    parts.failures.replaceChildren(table(["step", "failures#"],
      f.map(([s, n]) => el("tr", {}, el("td", {}, s), el("td", { class: "num bad" }, n)))));
    parts.recent.replaceChildren(table(["device", "step", "when"], a.provisioned.slice(0, 12).map((r) =>
      el("tr", {}, el("td", {}, el("a", { href: `#/device/${r.mac}` }, r.mac)), el("td", {}, r.step), el("td", {}, time(r.at_ms))))));
    parts.events.replaceChildren(table(["when", "device", "event", "level", "text", "outcome"], d.events.map((e) =>
      el("tr", {}, el("td", {}, time(e.at_ms)),
        el("td", {}, e.mac ? el("a", { href: `#/device/${e.mac}` }, e.mac) : (e.source || "—")),
        el("td", {}, `${e.transport} ${e.id}`), el("td", { class: /critical|major/.test(e.level) ? "bad" : "" }, e.level),
        el("td", {}, e.text), el("td", { class: "muted" }, e.outcome)))));
    const plugins = Object.entries(d.plugins);
    parts.plugins.replaceChildren(plugins.length
      ? table(["plugin", "counters"], plugins.map(([name, c]) => el("tr", {}, el("th", { scope: "row" }, name),
        el("td", {}, Object.entries(c).map(([k, v]) =>
          el("span", { class: "pill" + (v > 0 && /trap|fail|deadline|breaker|fuel|memory|error/.test(k) ? " bad" : "") }, `${k} ${v}`))))))
      : el("p", { class: "muted" }, "no plugin has been called yet"));
    parts.config.replaceChildren(el("p", {}, "File ", el("code", {}, d.config.path)),
      el("p", {}, `Generation ${d.config.generation}, loaded ${secs(d.config.loaded_at)}`),
      el("p", {}, el("a", { href: "#/config" }, "View, validate, reload")));
    if (poolTick++ % 5 === 0) {
      try {
        const p = await api("GET", "/api/v1/pools");
        parts.pools.replaceChildren(utilisation(p.domains.map((x) => ({ name: x.domain, used: x.used, size: x.size }))));
      } catch (e) { parts.pools.replaceChildren(errorBox(e)); }
    }
  };
  await tick();
  S.timers.push(setInterval(tick, 2000));
}
function utilisation(items) {
  return table(["name", "used#", "size#", "utilisation"], items.map((x) => {
    const pct = x.size ? (100 * x.used) / x.size : 0;
    const cls = pct >= 95 ? "crit" : pct >= 80 ? "warn" : "";
    return el("tr", { class: cls ? "pool-" + cls : null }, el("td", {}, x.name), el("td", { class: "num" }, x.used),
      el("td", { class: "num" }, x.size ?? "—"),
      el("td", {}, el("div", { class: "bar " + cls, role: "meter", "aria-valuenow": pct.toFixed(0), "aria-valuemin": 0, "aria-valuemax": 100,
        title: `${pct.toFixed(1)} %` }, el("span", { style: `width:${Math.min(100, pct)}%` })),
        x.size ? el("span", { class: cls ? "warn" : "muted" }, `${pct.toFixed(1)} %${cls ? " — near exhaustion" : ""}`) : null));
  }));
}

// ------------------------------------------------------------------ devices

function leaseRows(leases) {
  return leases.map((l) => el("tr", {}, el("td", {}, l.ip),
    el("td", {}, el("a", { href: `#/device/${l.mac}` }, l.mac)), el("td", { class: l.state === "active" ? "ok" : "" }, l.state),
    el("td", {}, l.pool), el("td", {}, l.relay), el("td", {}, secs(l.expires))));
}
function lease6Rows(leases) {
  return leases.map((l) => el("tr", {}, el("td", {}, l.kind), el("td", {}, l.address),
    el("td", {}, l.mac ? el("a", { href: `#/device/${l.mac}` }, l.mac) : "—"),
    el("td", {}, l.modem_mac ? el("a", { href: `#/device/${l.modem_mac}` }, l.modem_mac) : "—"),
    el("td", { class: l.state === "active" ? "ok" : "" }, l.state), el("td", {}, l.pool), el("td", {}, l.link), el("td", {}, secs(l.expires))));
}
const LEASE_HEAD = ["address", "device", "state", "pool", "relay", "expires"];
const LEASE6_HEAD = ["kind", "address", "device", "modem", "state", "pool", "link", "expires"];

async function devicesPage(params) {
  const q = el("input", { id: "search-q", type: "search", placeholder: "MAC, IP, IPv6, account id or relay", value: params.get("q") || "", size: 34, "aria-label": "search" });
  const by = el("select", { id: "search-by", "aria-label": "search by" },
    ["auto", "mac", "ip", "account", "relay"].map((v) => el("option", { value: v, selected: params.get("by") === v }, v)));
  const out = el("div", { id: "search-results" });
  page("Devices",
    el("form", { class: "inline", role: "search", onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = `#/devices${qs({ q: q.value.trim(), by: by.value })}`;
    } }, el("label", {}, "Find", q), el("label", {}, "by", by), el("button", { id: "search-go", type: "submit" }, "Search")),
    out);
  q.focus();
  const term = (params.get("q") || "").trim();
  const mode = params.get("by") || "auto";
  if (!term) {
    out.replaceChildren(el("p", { class: "muted" }, "A MAC opens the device; an address finds its lease; a relay lists the leases behind it; anything else is an account id prefix."));
    return;
  }
  try {
    if ((mode === "auto" || mode === "mac") && isMac(term)) { location.hash = `#/device/${normMac(term)}`; return; }
    if (mode === "relay") {
      const r = await api("GET", `/api/v1/leases${qs({ relay: term, limit: 100 })}`);
      out.replaceChildren(el("h2", {}, `Leases behind relay ${term}`), table(LEASE_HEAD, leaseRows(r.leases)));
    } else if ((mode === "auto" || mode === "ip") && isV4(term)) {
      const r = await api("GET", `/api/v1/leases${qs({ ip: term })}`);
      out.replaceChildren(el("h2", {}, `DHCPv4 ${term}`), table(LEASE_HEAD, leaseRows(r.leases)));
    } else if ((mode === "auto" || mode === "ip") && isV6(term)) {
      const [addr, len] = term.split("/");
      const r = await api("GET", `/api/v1/leases6${qs({ address: addr, prefix_len: len })}`);
      out.replaceChildren(el("h2", {}, `DHCPv6 ${term}`), table(LEASE6_HEAD, lease6Rows(r.leases)));
    } else {
      const r = await api("GET", `/api/v1/accounts${qs({ prefix: term.toLowerCase(), limit: 100 })}`);
      out.replaceChildren(el("h2", {}, `Accounts starting with ${term}`), accountTable(r.accounts));
    }
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

/** The file names a device fetched, from its timeline's transfer steps. */
function filesOf(timeline) {
  const names = new Set();
  for (const e of (timeline && timeline.events) || []) {
    const m = /\b(TFTP|HTTP|tftp|http)\w* (?:read|write) "([^"]+)"/.exec(e.detail);
    if (m) names.add(m[2]);
  }
  return [...names];
}
function timelineLane(t, title, status) {
  const events = (t && t.events) || [];
  // The step it is stuck at: the last non-ok step with no later success of the same name.
  let stuck = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i].outcome !== "ok" && !events.slice(i + 1).some((x) => x.step === events[i].step && x.outcome === "ok")) { stuck = i; break; }
  }
  return el("section", { class: "card lane", "data-device": t ? t.device : "" },
    el("h2", {}, title), status ? el("p", { class: "status " + (/^stuck/.test(status) ? "bad" : /^provisioned/.test(status) ? "ok" : "") }, status) : null,
    events.length ? el("ol", { class: "timeline" }, events.map((e, i) =>
      el("li", { class: `${e.outcome}${i === stuck ? " stuck" : ""}`, "data-step": e.step },
        el("span", { class: "step" }, e.step), " ", el("span", { class: e.outcome }, e.outcome), " ",
        el("time", { class: "muted", datetime: new Date(e.at_ms).toISOString() }, time(e.at_ms)),
        e.detail ? el("div", { class: "detail" }, e.detail) : null)))
      : el("p", { class: "muted" }, "no steps recorded"));
}
function confirmDialog(text) {
  return new Promise((resolve) => {
    const yes = el("button", { id: "confirm-yes", type: "button" }, "Confirm");
    const no = el("button", { id: "confirm-no", type: "button", class: "secondary" }, "Cancel");
    const d = el("dialog", { id: "confirm-dialog", "aria-labelledby": "confirm-text" },
      el("p", { id: "confirm-text" }, text), el("div", { class: "row" }, yes, no));
    const done = (v) => { d.close(); d.remove(); resolve(v); };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    d.addEventListener("cancel", () => done(false));
    document.body.append(d);
    d.showModal();
    no.focus();
  });
}
async function devicePage(mac) {
  page(`Device ${mac}`, el("p", { class: "muted" }, "loading…"));
  let d, domains = [];
  try {
    [d, domains] = await Promise.all([api("GET", `/api/v1/devices/${encodeURIComponent(mac)}`),
      api("GET", "/api/v1/domains").catch(() => [])]);
  } catch (e) { page(`Device ${mac}`, errorBox(e)); return; }
  const acct = el("section", { class: "card", id: "device-account" }, el("h2", {}, "Account"));
  if (d.account) {
    acct.append(el("p", {}, "Domains: ", el("span", { id: "device-domains" }, d.account.domains.map((x) => el("span", { class: "pill" }, x))),
      " ", el("span", { class: "pill" + (d.account.read_only ? " ro" : "") }, d.account.read_only ? "declared in the configuration file" : d.account.source)));
    const attrs = Object.entries(d.account.attributes || {});
    if (attrs.length) acct.append(table(["attribute", "value"], attrs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
  } else acct.append(el("p", { class: "muted", id: "device-domains" }, "no account: the device is classified by the configuration's rules"));
  // "all" holds every device already: not a place to move one to.
  const target = el("select", { id: "move-domain", "aria-label": "domain" },
    domains.filter((x) => x.name !== "all").map((x) => el("option", { value: x.name }, x.name)));
  const move = gated("operator", el("button", { id: "move-submit", type: "submit" }, d.account ? "Move to domain" : "Create account in domain"));
  if (d.account && d.account.read_only) { move.disabled = true; move.title = "declared in the configuration file: change it there"; }
  const moveMsg = el("div", { id: "move-result" });
  acct.append(el("form", { class: "inline", onsubmit: async (ev) => {
    ev.preventDefault();
    const to = target.value;
    const from = d.account ? d.account.domains.join(", ") : "no account";
    if (!(await confirmDialog(`Move ${d.mac} from ${from} to ${to}? Its next DHCP exchange gets ${to}'s pools and policies; a renewal of an address from a pool it leaves is NAKed.`))) return;
    try {
      if (d.account) await api("PUT", `/api/v1/accounts/${d.mac}`, { domains: [to], attributes: d.account.attributes || {} });
      else await api("POST", "/api/v1/accounts", { id: d.mac, domains: [to] });
      toast(`${d.mac} is now in ${to}`);
      devicePage(mac);
    } catch (e) { moveMsg.replaceChildren(errorBox(e)); }
  } }, el("label", {}, "Domain", target), move), moveMsg);

  const fileView = el("pre", { class: "file", id: "file-view", hidden: true });
  const decode = async (n) => {
    fileView.hidden = false;
    fileView.textContent = "decoding…";
    try {
      const f = await api("GET", `/api/v1/devices/${d.mac}/files/${encodeURIComponent(n)}`);
      fileView.textContent = `${f.name}: ${f.size} bytes (${f.origin})${f.config_hash ? ", config hash " + f.config_hash : ""}\n\n` +
        (f.text || `not a DOCSIS/PacketCable file: ${f.not_decoded}`);
    } catch (e) { fileView.textContent = e.message; }
  };
  const files = filesOf(d.timeline);
  const other = el("input", { id: "file-name", placeholder: "file name", "aria-label": "file name" });
  const filesBox = el("section", { class: "card", id: "device-files" }, el("h2", {}, "Config files sent"),
    files.length ? el("ul", {}, files.map((n) => el("li", {}, el("code", {}, n), " ",
      el("button", { type: "button", class: "secondary show-file", "data-name": n, onclick: () => decode(n) }, "Decode"))))
      : el("p", { class: "muted" }, "none fetched (per the timeline)"),
    el("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); if (other.value.trim()) decode(other.value.trim()); } },
      el("label", {}, "What it would get now", other), el("button", { type: "submit", class: "secondary" }, "Decode")),
    fileView);

  const lanes = el("div", { class: "lanes", id: "device-timeline" },
    timelineLane(d.timeline, `Timeline of ${d.mac}`, d.status),
    (d.linked || []).map((t) => timelineLane(t, `Linked ${t.device} (${/eUE/.test(JSON.stringify(t.events)) ? "eUE" : "eCM"})`, null)));
  page(`Device ${d.mac}`,
    el("p", { id: "device-status", class: /^stuck/.test(d.status || "") ? "bad" : "" }, d.status || "no provisioning steps recorded"),
    el("div", { class: "grid" }, acct, filesBox),
    el("h2", {}, "DHCPv4 leases"), table(LEASE_HEAD, leaseRows(d.leases), { id: "device-leases" }),
    el("h2", {}, "DHCPv6 bindings"), table(LEASE6_HEAD, lease6Rows(d.leases6), { id: "device-leases6" }),
    el("h2", {}, "Provisioning"), lanes);
}

// ------------------------------------------------------------------ accounts, bindings, pools, domains, policies

function accountTable(list) {
  return table(["id", "domains", "source", "created"], list.map((a) => el("tr", {},
    el("td", {}, el("a", { href: `#/device/${a.id}` }, a.id)),
    el("td", {}, a.domains.map((x) => el("span", { class: "pill" }, x))),
    el("td", {}, el("span", { class: "pill" + (a.read_only ? " ro" : "") }, a.source)), el("td", {}, secs(a.created)))), { id: "accounts-table" });
}
async function accountsPage(params) {
  const domain = el("select", { id: "acc-domain", "aria-label": "domain" }, el("option", { value: "" }, "any domain"));
  const source = el("select", { id: "acc-source", "aria-label": "source" }, ["", "config", "auto", "operator"].map((v) =>
    el("option", { value: v, selected: params.get("source") === v }, v || "any source")));
  const prefix = el("input", { id: "acc-prefix", value: params.get("prefix") || "", placeholder: "id prefix", "aria-label": "id prefix" });
  const out = el("div", {}, "…"), msg = el("div", {});
  const newId = el("input", { id: "acc-new-id", placeholder: "MAC or client id (hex)", "aria-label": "new account id" });
  const newDomain = el("select", { id: "acc-new-domain", "aria-label": "new account domain" });
  const create = el("form", { class: "inline", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const a = await api("POST", "/api/v1/accounts", { id: newId.value.trim(), domains: [newDomain.value] });
      toast(`account ${a.id} created in ${a.domains.join(", ")}`);
      location.hash = `#/device/${a.id}`;
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, el("label", {}, "New account", newId), el("label", {}, "in domain", newDomain),
  gated("operator", el("button", { type: "submit", id: "acc-create" }, "Create")));
  page("Accounts", create, msg, el("form", { class: "inline", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = `#/accounts${qs({ domain: domain.value, source: source.value, prefix: prefix.value.trim().toLowerCase() })}`;
  } }, el("label", {}, "Domain", domain), el("label", {}, "Source", source), el("label", {}, "Prefix", prefix),
  el("button", { type: "submit" }, "Filter")), out);
  api("GET", "/api/v1/domains").then((ds) => ds.forEach((x) => {
    domain.append(el("option", { value: x.name, selected: params.get("domain") === x.name }, x.name));
    if (x.name !== "all") newDomain.append(el("option", { value: x.name }, x.name));
  })).catch(() => {});
  try {
    const r = await api("GET", `/api/v1/accounts${qs({ domain: params.get("domain"), source: params.get("source"), prefix: params.get("prefix"), after: params.get("after"), limit: 50 })}`);
    const next = r.next ? el("a", { id: "accounts-next", href: `#/accounts${qs({ domain: params.get("domain"), source: params.get("source"), prefix: params.get("prefix"), after: r.next })}` }, "Next page →") : null;
    out.replaceChildren(accountTable(r.accounts), el("p", {}, params.get("after") ? el("a", { href: "#/accounts" }, "← First page") : null, " ", next));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

async function bindingsPage() {
  const out4 = el("div", {}, "…"), out6 = el("div", {}, "…"), msg = el("div", {});
  const mac = el("input", { id: "fixed-mac", placeholder: "00:10:95:..", "aria-label": "MAC" });
  const relay = el("input", { id: "fixed-relay", value: "0.0.0.0", "aria-label": "relay" });
  const ip = el("input", { id: "fixed-ip", placeholder: "10.1.0.50", "aria-label": "address" });
  const r6who = el("input", { id: "res6-client", placeholder: "MAC or DUID hex", "aria-label": "MAC or DUID" });
  const r6addr = el("input", { id: "res6-address", placeholder: "2001:db8::10", "aria-label": "address" });
  const r6len = el("input", { id: "res6-len", placeholder: "128", size: 4, "aria-label": "prefix length" });
  const reload = () => bindingsPage();
  page("Bindings",
    el("h2", {}, "Fixed DHCPv4 bindings"), out4,
    el("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api("POST", "/api/v1/fixed4", { mac: mac.value.trim(), relay: relay.value.trim(), ip: ip.value.trim() });
        toast("binding created"); reload();
      } catch (e) { msg.replaceChildren(errorBox(e)); }
    } }, el("label", {}, "MAC", mac), el("label", {}, "Relay", relay), el("label", {}, "Address", ip),
    gated("operator", el("button", { type: "submit", id: "fixed-add" }, "Add binding"))), msg,
    el("h2", {}, "DHCPv6 reservations"), out6,
    el("form", { class: "inline", onsubmit: async (ev) => {
      ev.preventDefault();
      const who = r6who.value.trim();
      const body = { address: r6addr.value.trim() };
      if (r6len.value.trim()) body.prefix_len = Number(r6len.value.trim());
      if (isMac(who)) body.mac = normMac(who); else body.duid = who;
      try { await api("POST", "/api/v1/reservations6", body); toast("reservation created"); reload(); }
      catch (e) { msg.replaceChildren(errorBox(e)); }
    } }, el("label", {}, "MAC or DUID", r6who), el("label", {}, "Address or prefix start", r6addr),
    el("label", {}, "Length (128: address)", r6len),
    gated("operator", el("button", { type: "submit", id: "res6-add" }, "Add reservation"))));
  const del = (path, what) => gated("operator", el("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmDialog(`Delete ${what}?`))) return;
    try { await api("DELETE", path); toast(`${what} deleted`); reload(); } catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, "Delete"));
  try {
    const [f4, r6] = await Promise.all([api("GET", "/api/v1/fixed4"), api("GET", "/api/v1/reservations6")]);
    out4.replaceChildren(table(["address", "client", "relay", "hostname", "policies", ""], f4.map((f) => el("tr", {},
      el("td", {}, f.ip), el("td", {}, f.mac ? el("a", { href: `#/device/${f.mac}` }, f.mac) : f.client), el("td", {}, f.relay),
      el("td", {}, f.hostname || "—"), el("td", {}, f.policies.join(", ")),
      el("td", {}, f.read_only ? el("span", { class: "pill ro" }, "configuration file") : del(`/api/v1/fixed4/${f.client}/${f.relay}`, `the binding of ${f.ip}`)))), { id: "fixed-table" }));
    out6.replaceChildren(table(["resource", "client", "pool", ""], r6.map((r) => el("tr", {}, el("td", {}, r.resource),
      el("td", {}, r.mac ? el("a", { href: `#/device/${r.mac}` }, r.mac) : r.duid), el("td", {}, r.pool || "—"),
      el("td", {}, del(`/api/v1/reservations6/${r.resource}`, `the reservation of ${r.resource}`)))), { id: "res6-table" }));
  } catch (e) { out4.replaceChildren(errorBox(e)); }
}

async function poolsPage() {
  const out = el("div", {}, "…");
  page("Pools", out);
  try {
    const p = await api("GET", "/api/v1/pools");
    out.replaceChildren(el("h2", {}, "By domain (DHCPv4)"), utilisation(p.domains.map((x) => ({ name: x.domain, used: x.used, size: x.size }))),
      el("h2", {}, "Pools"), table(["pool", "family", "domains", "used#", "free#", "declined#", "offered#", "utilisation"], p.pools.map((x) => {
        const pct = x.size ? (100 * x.used) / x.size : null;
        return el("tr", {}, el("td", {}, x.name), el("td", {}, x.family), el("td", {}, x.domains.length ? x.domains.map((d) => el("span", { class: "pill" }, d)) : "all devices"),
          el("td", { class: "num" }, x.used), el("td", { class: "num" }, x.free ?? "—"), el("td", { class: "num" }, x.declined),
          el("td", { class: "num" }, x.offered), el("td", { class: pct >= 80 ? "warn" : "" }, pct === null ? "—" : `${pct.toFixed(1)} %`));
      }), { id: "pools-table" }),
      el("p", {}, el("a", { href: "#/devices?by=relay" }, "Find the leases behind a relay")));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

async function domainsPage() {
  const out = el("div", {}, "…");
  page("Domains", out);
  try {
    const ds = await api("GET", "/api/v1/domains");
    out.replaceChildren(table(["domain", "description", "pools", "policies", "declared accounts#", ""], ds.map((d) => el("tr", {},
      el("th", { scope: "row" }, d.name), el("td", {}, d.description || "—"), el("td", {}, d.pools.map((p) => el("span", { class: "pill" }, p))),
      el("td", {}, d.policies.map((p) => el("a", { class: "pill", href: "#/policies" }, p))), el("td", { class: "num" }, d.declared_accounts),
      el("td", {}, el("a", { href: `#/accounts?domain=${encodeURIComponent(d.name)}` }, "accounts")))), { id: "domains-table" }));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

async function policiesPage() {
  const out = el("div", {}, "…");
  page("Policies", out);
  try {
    const ps = await api("GET", "/api/v1/policies");
    out.replaceChildren(...ps.map((p) => el("section", { class: "card policy", id: `policy-${p.name}` },
      el("h2", {}, p.name, " ", el("span", { class: "pill" }, p.enforced ? "enforced" : "optional")),
      el("p", { class: "muted" }, p.domains ? `domains: ${p.domains.join(", ")}` : "only where a pool or binding names it"),
      table(["option", "value or expression", "written at"], p.options.map((o) => el("tr", {}, el("td", {}, el("code", {}, o.option)),
        el("td", {}, o.expression !== null ? el("code", { class: "expr" }, o.expression) : o.value),
        el("td", { class: "muted" }, o.origin || "literal")))))));
    if (!ps.length) out.replaceChildren(el("p", { class: "muted" }, "no policies"));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

// ------------------------------------------------------------------ configuration

async function configPage() {
  const out = el("div", { id: "config-result", "aria-live": "polite" });
  const gutter = el("pre", { class: "gutter", "aria-hidden": "true" });
  const text = el("textarea", { id: "config-text", spellcheck: "false", "aria-label": "configuration text" });
  const marks = (errors) => {
    const bad = new Set((errors || []).map((e) => e.line));
    const n = text.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: n }, (_, i) =>
      bad.has(i + 1) ? el("b", { "data-line": i + 1 }, `${i + 1}\n`) : document.createTextNode(`${i + 1}\n`)));
    text.rows = n + 1;
  };
  text.addEventListener("input", () => marks([]));
  const validate = gated("viewer", el("button", { id: "config-validate", type: "button", class: "secondary", onclick: async () => {
    try {
      const r = await api("POST", "/api/v1/config/validate", { text: text.value });
      marks(r.errors);
      out.replaceChildren(r.valid ? el("div", { class: "notice" }, "Valid: this text would load.") : errorBox({ message: "Not valid:", errors: r.errors }));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  } }, "Validate this text"));
  const reload = gated("operator", el("button", { id: "config-reload", type: "button", onclick: async () => {
    if (!(await confirmDialog("Reload the configuration file from disk? Traffic keeps flowing; a file with errors is refused and the running configuration keeps serving."))) return;
    try {
      const r = await api("POST", "/api/v1/config/reload");
      out.replaceChildren(el("div", { class: "notice" }, `Reloaded: generation ${r.generation} now serves.`));
      load();
    } catch (e) { marks(e.errors); out.replaceChildren(errorBox({ message: `Reload refused, the running configuration keeps serving: ${e.message}`, errors: e.errors })); }
  } }, "Reload file from disk"));
  if (scoped()) {
    // The file spans every domain: the API refuses a scoped user both.
    for (const b of [validate, reload]) { b.disabled = true; b.title = "the configuration spans every domain; your scope is " + S.me.domains.join(", "); b.dataset.denied = "true"; }
  }
  const head = el("p", { id: "config-loaded" }, "…");
  const load = async () => {
    try {
      const c = await api("GET", "/api/v1/config");
      head.replaceChildren("File ", el("code", {}, c.path), `, generation ${c.generation}, loaded ${secs(c.loaded_at)}.`);
      text.value = c.text;
      marks([]);
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  page("Configuration", head,
    el("p", { class: "muted" }, "Edit below and validate a change; reload applies the file on disk (the API does not write files)."),
    el("div", { class: "row" }, validate, reload), out, el("div", { class: "editor" }, gutter, text));
  await load();
}

// ------------------------------------------------------------------ users and audit

async function usersPage() {
  const out = el("div", {}, "…"), msg = el("div", {});
  const name = el("input", { id: "user-name", "aria-label": "name", autocomplete: "off" });
  const role = el("select", { id: "user-role", "aria-label": "role" }, ["viewer", "operator", "admin"].map((r) => el("option", { value: r }, r)));
  const pw = el("input", { id: "user-password", type: "password", "aria-label": "password", autocomplete: "new-password" });
  const doms = el("input", { id: "user-domains", placeholder: "all", "aria-label": "domains (comma separated)" });
  const tokUser = el("select", { id: "token-user", "aria-label": "user" });
  const tokLabel = el("input", { id: "token-label", placeholder: "what uses it", "aria-label": "token label" });
  const tokForm = el("form", { class: "inline", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const t = await api("POST", `/api/v1/users/${encodeURIComponent(tokUser.value)}/tokens`, { label: tokLabel.value.trim() });
      msg.replaceChildren(el("div", { class: "notice", id: "token-created" },
        `Token for ${tokUser.value} (${tokLabel.value.trim()}), shown once — copy it now: `, el("code", {}, t.token)));
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, el("label", {}, "API token for", tokUser), el("label", {}, "Label", tokLabel),
  gated("admin", el("button", { type: "submit", id: "token-create" }, "Create token")));
  page("Users", out, el("h2", {}, "API tokens"), tokForm, el("h2", {}, "Add a user"), el("form", { class: "inline", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const domains = doms.value.split(",").map((s) => s.trim()).filter(Boolean);
      await api("POST", "/api/v1/users", { name: name.value.trim(), role: role.value, domains, password: pw.value });
      toast(`user ${name.value} added`); usersPage();
    } catch (e) { msg.replaceChildren(errorBox(e)); }
  } }, el("label", {}, "Name", name), el("label", {}, "Role", role), el("label", {}, "Password", pw), el("label", {}, "Domains", doms),
  gated("admin", el("button", { type: "submit", id: "user-add" }, "Add"))), msg);
  try {
    const us = await api("GET", "/api/v1/users");
    tokUser.replaceChildren(...us.map((u) => el("option", { value: u.name }, u.name)));
    out.replaceChildren(table(["user", "role", "domains", "created", ""], us.map((u) => el("tr", {},
      el("td", {}, u.name), el("td", {}, u.role), el("td", {}, u.domains.length ? u.domains.join(", ") : "all"), el("td", {}, secs(u.created)),
      el("td", {}, u.name === S.me.user ? "you" : gated("admin", el("button", { type: "button", class: "danger", onclick: async () => {
        if (!(await confirmDialog(`Delete user ${u.name}? Its sessions and tokens end now.`))) return;
        try { await api("DELETE", `/api/v1/users/${encodeURIComponent(u.name)}`); usersPage(); } catch (e) { msg.replaceChildren(errorBox(e)); }
      } }, "Delete"))))), { id: "users-table" }));
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

async function auditPage(params) {
  const user = el("input", { id: "audit-user", value: params.get("user") || "", "aria-label": "user" });
  const action = el("input", { id: "audit-action", value: params.get("action") || "", placeholder: "account.", "aria-label": "action" });
  const out = el("div", {}, "…");
  page("Audit log", el("form", { class: "inline", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = `#/audit${qs({ user: user.value.trim(), action: action.value.trim() })}`;
  } }, el("label", {}, "User", user), el("label", {}, "Action", action), el("button", { type: "submit" }, "Filter")), out);
  try {
    const es = await api("GET", `/api/v1/audit${qs({ user: params.get("user"), action: params.get("action"), before: params.get("before"), limit: 50 })}`);
    const last = es[es.length - 1];
    out.replaceChildren(table(["when", "user", "from", "action", "target", "outcome", "detail"], es.map((e) => el("tr", {},
      el("td", {}, time(e.at_ms)), el("td", {}, e.user), el("td", {}, e.from), el("td", {}, e.action), el("td", {}, e.target),
      el("td", { class: e.outcome === "ok" ? "ok" : "bad" }, e.outcome), el("td", { class: "muted" }, e.detail || ""))), { id: "audit-table" }),
    es.length === 50 && last ? el("a", { href: `#/audit${qs({ user: params.get("user"), action: params.get("action"), before: last.id })}` }, "Older →") : null);
  } catch (e) { out.replaceChildren(errorBox(e)); }
}

// ------------------------------------------------------------------ router

const ROUTES = {
  "": dashboardPage, devices: devicesPage, accounts: accountsPage, bindings: bindingsPage, pools: poolsPage,
  domains: domainsPage, policies: policiesPage, config: configPage, users: usersPage, audit: auditPage,
};
function route() {
  S.timers.forEach(clearInterval);
  S.timers = [];
  const h = location.hash.replace(/^#\/?/, "");
  const [pathPart, query] = h.split("?");
  const [name, ...rest] = pathPart.split("/");
  const params = new URLSearchParams(query || "");
  if (!S.token || name === "login") { if (S.token) { location.hash = "#/"; return; } showChrome(); loginPage(); return; }
  showChrome();
  for (const a of document.querySelectorAll("#nav a")) {
    const cur = a.dataset.page === (name || "dashboard") || (name === "device" && a.dataset.page === "devices");
    if (cur) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const run = name === "device" ? () => devicePage(decodeURIComponent(rest.join("/"))) : ROUTES[name] && (() => ROUTES[name](params));
  if (!run) { page("Not found", el("p", {}, "No such page. ", el("a", { href: "#/" }, "Dashboard"))); return; }
  // When the page has its data on screen: `data-ready` and the time taken,
  // for the browser tests and bench/console.sh.
  const t0 = performance.now();
  delete document.body.dataset.ready;
  const seq = ++S.routes;
  Promise.resolve(run()).catch((e) => main().append(errorBox(e))).finally(() => {
    if (seq !== S.routes) return;
    window.headendTiming = { page: name || "dashboard", ms: performance.now() - t0 };
    document.body.dataset.ready = name || "dashboard";
  });
}
window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("logout").addEventListener("click", () => logout(true));
  route();
});
