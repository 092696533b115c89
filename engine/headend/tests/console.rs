//! Issue 18, the web console in a real browser: inside a network namespace,
//! `headend run` with a `[management]` listener serves `/console/`; Debian's
//! headless Chromium, driven over WebDriver by chromedriver, is the operator.
//! `examples/lab/dora.py` is the CMTS relay and cable modem, curl fetches the
//! modem's config file by TFTP from its leased address.
//!
//! - Log in (a wrong password is refused on the page); the dashboard shows
//!   live traffic, the modem among the recently provisioned devices, pool
//!   utilisation and a management event its eUE sent by syslog (`logger`).
//! - Find the modem by its leased address; its page shows the account, the
//!   lease, the timeline (CM1…CM4, the config file step) and the config
//!   file decoded with both MICs verified.
//! - Move it to another domain with a confirmation: its next DHCP exchange
//!   gets an address from the other domain's pool, which the page shows.
//! - Reload a broken configuration file: the refusal and its line are shown
//!   (on the text, too), and the old configuration keeps answering DHCP.
//! - A viewer cannot press what it may not (the controls are disabled, and
//!   the API refuses the same call made from the page's own session); an
//!   admin sees users and the operator's move in the audit log.
//! - Keyboard: Tab reaches the skip link and the navigation; the page fits a
//!   narrow screen; times follow the browser's time zone.
//!
//! Screenshots of the main pages are written under
//! `target/tmp/console-screenshots/` (not committed).
//!
//! Needs root (namespaces), `chromium`, `chromedriver`, `curl` and `python3`
//! (scripts/setup --peers); fails, not skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::webdriver::Browser;
use common::{Netns, Proc};
use serde_json::json;

const CONSOLE: &str = "http://127.0.0.1:6080/";
const CM: &str = "00:10:95:18:00:01";
const EUE: &str = "00:10:95:18:00:02";
const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(15);

const CONFIG: &str = r#"
[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[provisioning]
auto_provision = { expr = 'if device.family == "docsis" { ["cablemodems"] } else if device.family == "pktc" { ["emta"] } else { [] }' }

[[domain]]
name = "cablemodems"
description = "DOCSIS cable modems"
[[domain]]
name = "business"
description = "Business modems, their own pool"

[[domain]]
name = "emta"
description = "Embedded MTAs (eUE)"

[[pool]]
name = "mta"
domains = ["emta"]
relays = ["127.0.0.2"]
network = "127.0.3.0/24"
ranges = [["127.0.3.10", "127.0.3.50"]]

[[pool]]
name = "cm"
domains = ["cablemodems"]
relays = ["127.0.0.2"]
network = "127.0.1.0/24"
ranges = [["127.0.1.10", "127.0.1.50"]]
policies = ["docsis"]

[[pool]]
name = "biz"
domains = ["business"]
relays = ["127.0.0.2"]
network = "127.0.2.0/24"
ranges = [["127.0.2.10", "127.0.2.50"]]
policies = ["docsis"]

[[policy]]
name = "docsis"
enforced = true
[policy.options]
"server.next-server" = "127.0.0.1"
"server.boot-file" = { expr = '"cm-" + device.mac.replace(":", "") + ".cfg"' }
"125/4491/2" = ["127.0.0.1"]

[tftp]
listen = ["127.0.0.1:6969"]
root = "tftp"
cmts_shared_secret = "DOCSIS"
[[tftp.config_file]]
name = "cm-*.cfg"
generator = "builtin:docsis-cm"

[syslog]
listen = ["127.0.0.1:6514"]
accept_message_mac = true

[management]
listen = ["127.0.0.1:6080"]
"#;

fn require_peers() {
    assert!(common::is_root(), "console needs root (network namespaces)");
    for tool in [
        "chromium",
        "chromedriver",
        "curl",
        "python3",
        "ip",
        "logger",
    ] {
        assert!(
            common::find_on_path(tool).is_some(),
            "console needs `{tool}` (scripts/setup --peers)"
        );
    }
}

/// `dora.py` through the relay 127.0.0.2 as the modem: the address ACKed.
fn dora(ns: &Netns, server: &Proc) -> String {
    dora_as(ns, server, &["--mac", CM, "--vendor-class", "docsis3.0:"])
}

/// `dora.py` through the relay 127.0.0.2 with `args`: the address ACKed.
fn dora_as(ns: &Netns, server: &Proc, args: &[&str]) -> String {
    common::lab_dora(ns.command("python3"), "127.0.0.1:6767", args)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.output_tail(4000)))
}

fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn login(b: &Browser, user: &str, password: &str) {
    b.goto(&format!("{CONSOLE}console/#/login")).unwrap();
    b.wait_for("#login-user", WAIT).unwrap();
    b.type_into("#login-user", user).unwrap();
    b.type_into("#login-password", password).unwrap();
    b.click("#login-submit").unwrap();
}

fn logout(b: &Browser) {
    b.click("#logout").unwrap();
    b.wait_for("#login-user", WAIT).unwrap();
}

/// Selects `value` in the `<select>` at `css`.
fn select(b: &Browser, css: &str, value: &str) {
    let v = b
        .exec(
            "const s = document.querySelector(arguments[0]); s.value = arguments[1]; return s.value;",
            vec![json!(css), json!(value)],
        )
        .unwrap();
    assert_eq!(v, json!(value), "{css} has no option {value}");
}

#[test]
fn web_console_in_chromium_search_timeline_move_reload_roles() {
    require_peers();
    let dir = common::scratch("console").unwrap();
    let config = dir.path().join("headend.toml");
    std::fs::write(&config, CONFIG).unwrap();
    std::fs::create_dir_all(dir.path().join("tftp")).unwrap();
    let users: [(&str, &str, &[&str]); 4] = [
        ("root-admin", "admin", &[]),
        ("ops", "operator", &[]),
        ("noc", "viewer", &[]),
        ("voice-ops", "operator", &["emta"]),
    ];
    for (name, role, domains) in users {
        common::add_user(&config, name, role, domains, PASSWORD).unwrap();
    }
    let ns = Netns::loopback_relay().unwrap();
    let server = common::start_headend(&ns, &config).unwrap();
    let log = |s: &Proc| s.output_tail(6000);

    // A real modem: DORA through the relay, then its config file by TFTP
    // from the leased address (127.0.1.x is on the namespace's lo).
    let first = dora(&ns, &server);
    assert!(first.starts_with("127.0.1."), "{first}");
    let file = format!("cm-{}.cfg", CM.replace(':', ""));
    let out = ns
        .command("curl")
        .args(["-sS", "-o", "/dev/null", "--interface", &first])
        .arg(format!("tftp://127.0.0.1:6969/{file}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "TFTP: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log(&server)
    );

    // The eUE behind it (option 82.2 remote-id = the modem): linked timelines.
    let eue = dora_as(
        &ns,
        &server,
        &[
            "--mac",
            EUE,
            "--vendor-class",
            "pktc2.0:",
            "--remote-id",
            CM,
        ],
    );
    assert!(eue.starts_with("127.0.3."), "{eue}");
    // A PacketCable management event about it (pkt-eue-6 syslog), as logger sends it.
    let out = ns
        .command("logger")
        .args([
            "--server",
            "127.0.0.1",
            "--port",
            "6514",
            "--udp",
            "--rfc3164",
        ])
        .args(["-t", "MTA[PACKETCABLE]", "-p", "local0.err"])
        .arg(format!(
            "<4000950100> config file download failed MAC={EUE}"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let b = Browser::start(&ns, dir.path()).unwrap();
    let shots = shots_dir();

    // --- Login: the root redirects to the console; a bad password is refused.
    b.goto(CONSOLE).unwrap();
    b.wait_for("#login-user", WAIT).unwrap();
    assert!(
        b.url().unwrap().contains("/console/"),
        "{}",
        b.url().unwrap()
    );
    login(&b, "ops", "not the password");
    b.wait_text("#login-error", "bad user name or password", WAIT)
        .unwrap();
    login(&b, "ops", PASSWORD);
    b.wait_text("#who", "ops (operator)", WAIT).unwrap();

    // --- Dashboard: traffic, the modem provisioned, pools, times in the browser's zone.
    b.wait_for("#dash-traffic tr[data-protocol='dhcpv4']", WAIT)
        .unwrap();
    b.wait_text("#dash-recent", CM, WAIT).unwrap();
    b.wait_text("#dash-pools", "cablemodems", WAIT).unwrap();
    b.wait_text("#dash-config", "Generation 1", WAIT).unwrap();
    let events = b
        .wait_text("#dash-events", "config file download failed", WAIT)
        .unwrap();
    assert!(
        events.contains(EUE) && events.contains("4000950100"),
        "{events}"
    );
    let tz = b
        .exec(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone",
            vec![],
        )
        .unwrap();
    b.wait_text("main", &format!("Times in {}", tz.as_str().unwrap()), WAIT)
        .unwrap();
    // The rates are live: another exchange shows as DHCPv4 traffic per second.
    let _ = dora(&ns, &server);
    let dhcp_rate = || {
        b.text("#dash-traffic tr[data-protocol='dhcpv4'] td.rx")
            .unwrap_or_default()
            .parse::<f64>()
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + WAIT;
    while dhcp_rate() <= 0.0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(dhcp_rate() > 0.0, "no live DHCPv4 rate on the dashboard");
    b.screenshot(&shots.join("dashboard.png")).unwrap();

    // --- Search by the leased address, open the device.
    b.click("#nav a[data-page='devices']").unwrap();
    b.wait_for("#search-q", WAIT).unwrap();
    b.type_into("#search-q", &first).unwrap();
    b.click("#search-go").unwrap();
    b.wait_text("#search-results", CM, WAIT).unwrap();
    b.click(&format!("#search-results a[href='#/device/{CM}']"))
        .unwrap();
    // The dashboard's extra exchange came after the file: its last step.
    b.wait_text("#device-status", "last step CM4", WAIT)
        .unwrap();
    b.wait_text("#device-domains", "cablemodems", WAIT).unwrap();
    b.wait_text("#device-leases", &first, WAIT).unwrap();
    for step in ["CM1", "CM2", "CM3", "CM4", "CM5-CM10 config file"] {
        b.wait_for(&format!("#device-timeline li[data-step='{step}']"), WAIT)
            .unwrap_or_else(|e| panic!("timeline step {step}: {e:#}"));
    }
    // The eUE behind it, in its own lane.
    b.wait_for(
        &format!("#device-timeline .lane[data-device='{EUE}'] li[data-step='eUE-4']"),
        WAIT,
    )
    .unwrap();
    // The config file it fetched, decoded as `headend config-file show` prints it.
    b.click(&format!("#device-files button[data-name='{file}']"))
        .unwrap();
    let decoded = b
        .wait_text("#file-view", "CM MIC (TLV 6) verified", WAIT)
        .unwrap();
    assert!(
        decoded.contains("CMTS MIC (TLV 7) verified") && decoded.contains("NetworkAccess"),
        "{decoded}"
    );
    b.screenshot(&shots.join("device.png")).unwrap();
    b.exec(
        "document.querySelector('#device-timeline').scrollIntoView(); return true",
        vec![],
    )
    .unwrap();
    b.screenshot(&shots.join("device-timeline.png")).unwrap();

    // --- Move it to another domain, with a confirmation; cancel first.
    select(&b, "#move-domain", "business");
    b.click("#move-submit").unwrap();
    b.wait_for("#confirm-dialog", WAIT).unwrap();
    b.click("#confirm-no").unwrap();
    b.wait_gone("#confirm-dialog", WAIT).unwrap();
    assert!(!b.text("#device-domains").unwrap().contains("business"));
    select(&b, "#move-domain", "business");
    b.click("#move-submit").unwrap();
    b.wait_text("#confirm-text", "business", WAIT).unwrap();
    b.click("#confirm-yes").unwrap();
    b.wait_text("#device-domains", "business", WAIT).unwrap();
    // Its next exchange changes pool.
    let moved = dora(&ns, &server);
    assert!(moved.starts_with("127.0.2."), "business pool: {moved}");
    b.refresh().unwrap();
    b.wait_text("#device-leases", &moved, WAIT).unwrap();

    // --- A broken configuration file: the reload is refused with its line.
    let good = std::fs::read_to_string(&config).unwrap();
    let broken = good.replace(
        "network = \"127.0.2.0/24\"",
        "network = \"127.0.2.0/24\"\nnetmask = \"255.255.255.0\"",
    );
    let bad_line = broken
        .lines()
        .position(|l| l.starts_with("netmask"))
        .unwrap()
        + 1;
    std::fs::write(&config, &broken).unwrap();
    b.click("#nav a[data-page='config']").unwrap();
    b.wait_text("#config-loaded", "generation 1", WAIT).unwrap();
    b.click("#config-reload").unwrap();
    b.wait_for("#confirm-dialog", WAIT).unwrap();
    b.click("#confirm-yes").unwrap();
    let refused = b
        .wait_text("#config-result", "Reload refused", WAIT)
        .unwrap();
    assert!(
        refused.contains(&format!("headend.toml:{bad_line}")),
        "line {bad_line} not named: {refused}"
    );
    b.wait_for(&format!(".editor .gutter b[data-line='{bad_line}']"), WAIT)
        .unwrap();
    b.click("#config-validate").unwrap();
    b.wait_text("#config-result", "Not valid", WAIT).unwrap();
    b.screenshot(&shots.join("config-refused.png")).unwrap();
    // The old configuration keeps serving.
    let again = dora(&ns, &server);
    assert!(again.starts_with("127.0.2."), "{again}");
    std::fs::write(&config, &good).unwrap();
    // Manual provisioning (seed 004 3.6): an account made on the accounts page.
    b.click("#nav a[data-page='accounts']").unwrap();
    b.wait_for("#acc-new-domain option[value='business']", WAIT)
        .unwrap();
    b.type_into("#acc-new-id", "00:10:95:18:00:09").unwrap();
    select(&b, "#acc-new-domain", "business");
    b.click("#acc-create").unwrap();
    b.wait_text("#device-domains", "business", WAIT).unwrap();
    assert!(b.url().unwrap().ends_with("#/device/00:10:95:18:00:09"));
    logout(&b);

    // --- A viewer sees, and cannot press what it may not.
    login(&b, "noc", PASSWORD);
    b.wait_text("#who", "noc (viewer)", WAIT).unwrap();
    b.goto(&format!("{CONSOLE}console/#/device/{CM}")).unwrap();
    b.wait_text("#device-domains", "business", WAIT).unwrap();
    assert!(
        !b.is_enabled("#move-submit").unwrap(),
        "a viewer's move button"
    );
    assert_eq!(
        b.attr("#move-submit", "data-denied").unwrap().as_deref(),
        Some("true")
    );
    // The API refuses the same call made with the page's own session.
    let status = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/v1/accounts/' + arguments[0], { method: 'PUT',
               headers: { 'content-type': 'application/json',
                          authorization: 'Bearer ' + sessionStorage.getItem('headend.token') },
               body: JSON.stringify({ domains: ['cablemodems'] }) }).then(r => done(r.status));",
            vec![json!(CM)],
        )
        .unwrap();
    assert_eq!(status, json!(403), "a viewer's PUT");
    b.click("#nav a[data-page='config']").unwrap();
    b.wait_for("#config-reload", WAIT).unwrap();
    assert!(!b.is_enabled("#config-reload").unwrap());
    assert!(
        !b.is_displayed("#nav a[data-page='users']").unwrap(),
        "a viewer has no users page"
    );
    // Keyboard: a page change puts the focus on the content; Tab reaches
    // its links, Enter follows one, and a search is typed and sent with keys
    // alone. The skip link is the first stop of the page.
    b.goto(&format!("{CONSOLE}console/#/pools")).unwrap();
    b.wait_text("#pools-table", "biz", WAIT).unwrap();
    let first_stop = b
        .exec(
            "return document.querySelector('a[href], button, input, select, textarea').className",
            vec![],
        )
        .unwrap();
    assert_eq!(first_stop, json!("skip"), "the first Tab stop");
    assert_eq!(
        b.exec("return document.activeElement.id", vec![]).unwrap(),
        json!("main")
    );
    b.press_key("\u{E004}").unwrap();
    let link = b
        .exec(
            "const a = document.activeElement; return a.closest('main') ? a.getAttribute('href') : null",
            vec![],
        )
        .unwrap();
    assert_eq!(
        link,
        json!("#/devices?by=relay"),
        "Tab reaches the page's link"
    );
    b.press_key("\u{E007}").unwrap();
    b.wait_for("#search-q", WAIT).unwrap();
    assert_eq!(
        b.exec("return document.activeElement.id", vec![]).unwrap(),
        json!("search-q"),
        "the search box has the focus"
    );
    b.press_key("127.0.0.2\u{E007}").unwrap();
    b.wait_text("#search-results", "Leases behind relay 127.0.0.2", WAIT)
        .unwrap();
    b.wait_text("#search-results", CM, WAIT).unwrap();
    // A narrow screen: nothing wider than the window.
    b.set_window(420, 900).unwrap();
    b.goto(&format!("{CONSOLE}console/#/device/{CM}")).unwrap();
    b.wait_for("#device-timeline li[data-step='CM4']", WAIT)
        .unwrap();
    let fits = b
        .exec(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .unwrap();
    b.screenshot(&shots.join("device-narrow.png")).unwrap();
    assert_eq!(
        fits,
        json!(true),
        "the device page overflows a narrow screen"
    );
    b.set_window(1280, 800).unwrap();
    logout(&b);

    // --- An operator scoped to the emta domain sees its partition only.
    login(&b, "voice-ops", PASSWORD);
    b.wait_text("#who", "voice-ops (operator: emta)", WAIT)
        .unwrap();
    b.wait_text("#dash-pools", "emta", WAIT).unwrap();
    assert!(!b.text("#dash-pools").unwrap().contains("business"));
    b.goto(&format!("{CONSOLE}console/#/device/{CM}")).unwrap();
    b.wait_text("main", "nothing is known", WAIT).unwrap();
    b.goto(&format!("{CONSOLE}console/#/device/{EUE}")).unwrap();
    b.wait_text("#device-domains", "emta", WAIT).unwrap();
    assert!(b.is_enabled("#move-submit").unwrap(), "its own device");
    b.goto(&format!("{CONSOLE}console/#/config")).unwrap();
    b.wait_text("#config-result", "spans every domain", WAIT)
        .unwrap();
    assert!(!b.is_enabled("#config-reload").unwrap());
    logout(&b);

    // --- An admin: users, and the operator's move in the audit log.
    login(&b, "root-admin", PASSWORD);
    b.wait_text("#who", "root-admin (admin)", WAIT).unwrap();
    b.click("#nav a[data-page='users']").unwrap();
    b.wait_text("#users-table", "noc", WAIT).unwrap();
    // An API token for a script, shown once; it works as that user.
    select(&b, "#token-user", "noc");
    b.type_into("#token-label", "nagios check").unwrap();
    b.click("#token-create").unwrap();
    b.wait_text("#token-created", "nagios check", WAIT).unwrap();
    let who = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             const t = document.querySelector('#token-created code').textContent;
             fetch('/api/v1/whoami', { headers: { authorization: 'Bearer ' + t } })
               .then(r => r.json()).then(v => done(v.user + ' ' + v.role));",
            vec![],
        )
        .unwrap();
    assert_eq!(who, json!("noc viewer"));
    b.click("#nav a[data-page='audit']").unwrap();
    let audit = b.wait_text("#audit-table", "account.", WAIT).unwrap();
    assert!(audit.contains("ops"), "{audit}");
    b.click("#nav a[data-page='policies']").unwrap();
    b.wait_text("main", "device.mac.replace", WAIT).unwrap();
    b.screenshot(&shots.join("policies.png")).unwrap();

    let errors: Vec<String> = b
        .console_errors()
        .unwrap_or_default()
        .into_iter()
        // The refused calls above are expected; script errors are not.
        .filter(|e| !e.contains("status of 4"))
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:?}");
    b.quit().unwrap();
}
