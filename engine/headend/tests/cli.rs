//! The `headend` command line: the lab configuration stays valid, `check`
//! reports errors with file, line and fix, and `explain` shows the decisions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common;

fn headend(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headend"))
        .args(["--log", "error"])
        .args(args)
        .output()
        .expect("run headend")
}

fn lab() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/headend.toml")
}

/// `headend check` of `text` written as `name` in a scratch directory:
/// whether it passed, and what it printed.
fn check_file(name: &str, text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let out = headend(&["check", "--config", path.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn lab_configuration_is_valid() {
    let out = headend(&["check", "--config", lab().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn check_names_file_line_and_fix_for_every_error() {
    let (ok, text) = check_file(
        "bad.toml",
        r#"[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[[pool]]
name = "p"
domains = ["nowhere"]
relays = ["127.0.0.300"]
network = "10.0.0.0/24"
ranges = [["10.0.0.10", "10.0.0.20"]]

[[policy]]
name = "x"
enforced = true
[policy.options]
routers = "not-an-ip"
tftp-server-name = { expr = 'relay.address +' }
"#,
    );
    assert!(!ok);
    for line in [9, 10, 18, 19] {
        assert!(
            text.contains(&format!("bad.toml:{line}:")),
            "line {line} missing in:\n{text}"
        );
    }
    assert!(text.contains("unknown domain"), "{text}");
    assert!(text.contains("fix:"), "{text}");
    assert!(text.contains("4 error(s)"), "{text}");
}

#[test]
fn check_refuses_property_and_method_typos_with_file_line_and_names() {
    let (ok, text) = check_file(
        "typo.toml",
        r#"[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[[policy]]
name = "docsis31"
enforced = true
[policy.options]
tftp-server-name = { expr = 'if device.vendor_klass.starts_with("docsis3.1") { "10.0.0.1" }' }
domain-name = { expr = 'if device.vendor_class.startswith("docsis") { "cm.example" }' }
"#,
    );
    assert!(!ok, "a typo passed check");
    assert!(text.contains("typo.toml:11:11:"), "{text}");
    assert!(text.contains("has no property `vendor_klass`"), "{text}");
    assert!(
        text.contains("`vendor_class`"),
        "the valid names are listed: {text}"
    );
    assert!(text.contains("typo.toml:12:"), "{text}");
    assert!(
        text.contains("no value has a method `startswith`"),
        "{text}"
    );
    assert!(text.contains("2 error(s)"), "{text}");
}

#[test]
fn check_refuses_a_plugin_its_own_config_makes_decline() {
    let Some(wasm) = common::dist_plugin("flow-select") else {
        return;
    };
    let (ok, text) = check_file(
        "plugin.toml",
        &format!(
            r#"[server]
store = "state"

[dhcpv4]
listen = ["127.0.0.1:6767"]

[[plugin]]
name = "flow"
path = "{}"
hooks = ["flow-select"]
[plugin.config]
voice_flow = 5
"#,
            wasm.display()
        ),
    );
    assert!(!ok, "a plugin that declines every call passed check");
    assert!(
        text.contains("plugin.toml:7:"),
        "the [[plugin]] line: {text}"
    );
    assert!(text.contains("config key `voice_flow`"), "{text}");
}

#[test]
fn explain_into_a_closed_pipe_ends_quietly() {
    // `true` has exited before explain writes (it loads the lab first).
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} explain --config {} --mac 00:10:95:00:00:01 --relay 127.0.0.2 | true; echo \"status=${{PIPESTATUS[0]}}\"",
            env!("CARGO_BIN_EXE_headend"),
            lab().display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.contains("status=0"), "{stdout}");
}

#[test]
fn explain_shows_classification_pool_and_options() {
    let out = headend(&[
        "explain",
        "--config",
        lab().to_str().unwrap(),
        "--mac",
        "00:10:95:12:34:56",
        "--relay",
        "127.0.0.2",
        "--option",
        "60=docsis3.0:",
        "--option",
        "55=0103067a7d",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("type docsis3.0 (typeid 4)"), "{text}");
    assert!(
        text.contains("auto-provisioned into [\"cablemodems\"]"),
        "{text}"
    );
    assert!(text.contains("selected pool \"cm-lab\""), "{text}");
    assert!(text.contains("OFFER: yiaddr 10.1.0.10"), "{text}");
    assert!(text.contains("ACK: yiaddr 10.1.0.10"), "{text}");
    assert!(text.contains("122/1"), "{text}");
    // The eCM's time (4) and log (7) servers are headend's own RFC 868 and
    // syslog listeners in the lab (lab_listens_where_its_policies_point).
    assert!(
        text.contains("4 time-servers = 127.0.0.1 (policy \"docsis\")"),
        "{text}"
    );
    assert!(
        text.contains("7 log-servers = 127.0.0.1 (policy \"docsis\")"),
        "{text}"
    );
}

#[test]
fn lab_listens_where_its_policies_point() {
    // Options 4 / 7 say 127.0.0.1 and 17.37 / 17.34 say ::1 (explain checks
    // the options): the lab's [tod] (UDP and TCP) and [syslog] are there.
    let lab_text = std::fs::read_to_string(lab()).unwrap();
    assert!(
        lab_text.contains("[tod]\nlisten = [\"127.0.0.1:6037\", \"[::1]:6037\"]"),
        "{lab_text}"
    );
    assert!(
        lab_text.contains("[syslog]\nlisten = [\"127.0.0.1:6514\", \"[::1]:6514\"]"),
        "{lab_text}"
    );
}

#[test]
fn explain_shows_both_families_of_a_dual_stack_eue() {
    // pktc2.0 with TLV 5.18 = secure|hybrid|basic, asking for 122; then the
    // same MAC over DHCPv6 through the lab CMTS link.
    let out = headend(&[
        "explain",
        "--config",
        lab().to_str().unwrap(),
        "--mac",
        "00:10:95:0e:12:34",
        "--relay",
        "127.0.0.2",
        "--option",
        "60=706b7463322e303a303530343132303230303037",
        "--option",
        "55=01030c7a",
        "--link",
        "2001:db8:100::1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("OFFER: yiaddr 10.2.0."), "{text}");
    assert!(
        text.contains("DHCPv6 SOLICIT (Relay-Forward, link 2001:db8:100::1)"),
        "{text}"
    );
    assert!(text.contains("from pool6 eue6"), "{text}");
    // One classifier: the same type over both families.
    assert!(
        text.contains("vendor class \"pktc2.0:050412020007\": type lab-emta (typeid 1000)"),
        "{text}"
    );
    assert!(
        text.contains("vendor class \"pktc2.0\": type lab-emta (typeid 1000), family pktc 2.0"),
        "{text}"
    );
    // The DHCPv6 options come from policies, each named with its policy;
    // an optional one the device did not ask for is left out.
    for line in [
        "v6/23 v6.dns-servers = 2001:db8:100::53 (policy \"lab-v6\")",
        "v6/17/4491/33 v6.cl-config-file = mta-0010950e1234.bin (policy \"lab-v6\")",
        "v6/39 v6.client-fqdn = eue-0010950e1234.lab.example.net (policy \"lab-v6\")",
        "v6/17/4491/34 v6.cl-syslog-servers = ::1 (policy \"lab-v6\")",
        "v6/17/4491/37 v6.cl-time-servers = ::1 (policy \"lab-v6\")",
        "v6/24 from optional policy \"lab-v6\": not requested",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(
        text.contains("REPLY carries the options of the ADVERTISE"),
        "{text}"
    );
    assert!(text.contains("6 Kerberos realm = HYBRID.2"), "{text}");
    assert!(text.contains("DHCPv6 binding: IA_NA 2001:db8:2:"), "{text}");
    assert!(
        text.contains("domains [\"emta\"], shared by its DHCPv4 lease and DHCPv6 bindings"),
        "{text}"
    );
}

#[test]
fn store_seed_fills_a_pool6_and_stats_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("h.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[server]
name = "seed6"
store = "{}"
[dhcpv6]
listen = ["[::1]:0"]
[[pool6]]
name = "small"
prefix = "2001:db8:1::/120"
links = ["2001:db8:100::1"]
[[pool6]]
name = "pd"
kind = "pd"
prefix = "2001:db8:8000::/40"
delegated_length = 56
links = ["2001:db8:100::1"]
"#,
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    // A /120 has 256 slots, the first of which (Subnet-Router anycast) is never bound.
    let over = headend(&[
        "store", "seed", "--config", c, "--pool", "small", "--count", "256",
    ]);
    assert!(!over.status.success());
    assert!(String::from_utf8_lossy(&over.stderr).contains("fewer than 256"));
    for (pool, n) in [("small", "255"), ("pd", "1000")] {
        let out = headend(&["store", "seed", "--config", c, "--pool", pool, "--count", n]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = headend(&["store", "stats", "--config", c]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("leases6: 1255 (1255 active)"), "{stdout}");
    let unknown = headend(&[
        "store", "seed", "--config", c, "--pool", "nope", "--count", "1",
    ]);
    assert!(!unknown.status.success());
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The production example laid out as the Debian package installs it
/// (`/etc/headend/headend.toml` with `policies/` beside it), with the
/// package's absolute paths pointed at this checkout and a scratch store.
#[test]
fn production_configuration_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/production/headend.toml")).unwrap();
    let plugins = repo().join("plugins/dist");
    let text = text
        .replace(
            "/usr/share/headend/plugins",
            plugins.canonicalize().unwrap().to_str().unwrap(),
        )
        .replace("/var/lib/headend", dir.path().to_str().unwrap());
    assert!(
        !text.contains("/usr/share/headend"),
        "every packaged path is known here"
    );
    let cfg = dir.path().join("headend.toml");
    std::fs::write(&cfg, text).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    for entry in std::fs::read_dir(repo().join("policies")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "rhai") {
            std::fs::copy(&p, dir.path().join("policies").join(p.file_name().unwrap())).unwrap();
        }
    }
    let out = headend(&["check", "--config", cfg.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 plugins"), "{stdout}");
}

#[test]
fn check_reports_a_bad_log_section_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.toml");
    std::fs::write(
        &path,
        "[server]\nstore = \"state\"\n[log]\nlevel = \"loud\"\nfilter = \"headend_server=debug\"\nformat = \"xml\"\n",
    )
    .unwrap();
    let out = headend(&["check", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("log.toml:4: [log] level \"loud\""), "{text}");
    assert!(text.contains("log.toml:6: [log] format \"xml\""), "{text}");
    assert!(text.contains("2 error(s)"), "{text}");
    // `run` refuses it the same way before opening anything.
    let out = headend(&["run", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[log] level"));
}

#[test]
fn version_names_the_git_commit() {
    let out = headend(&["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.starts_with(concat!("headend ", env!("CARGO_PKG_VERSION"), " (git ")),
        "{text}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .current_dir(repo())
        .output();
    if let Ok(h) = head {
        if h.status.success() {
            let commit = String::from_utf8_lossy(&h.stdout).trim().to_string();
            assert!(
                text.contains(&format!("(git {commit})")),
                "{text} vs HEAD {commit}"
            );
        }
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let out = headend(&["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        assert!(
            text.contains("config-file") && text.contains("log-format"),
            "{shell}: {text}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = headend(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in ["headend.1", "headend-run.1", "headend-config-file-decode.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let run = std::fs::read_to_string(dir.path().join("headend-run.1")).unwrap();
    assert!(run.contains("SIGTERM"), "{run}");
}

#[test]
fn headend_test_passes_the_lab_tests_and_fails_a_changed_expectation_with_a_diff() {
    let tests = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lab/tests");
    let out = headend(&[
        "test",
        "--config",
        lab().to_str().unwrap(),
        tests.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("5 passed, 0 failed"), "{text}");

    // The same E-UE expected on another flow, pool and an option it lacks,
    // and a silent device expected to answer: each difference is named.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("changed.toml");
    std::fs::write(
        &file,
        r#"
[[test]]
name = "eue expects BASIC"
mac = "00:10:95:0e:12:34"
relay = "127.0.0.2"
options = ["60=pktc2.0:050412020007", "55=01030c7a"]
[test.expect]
pool = "cm-lab"
absent = ["15"]
[test.expect.options]
"122/6" = "BASIC.1"
"66" = "127.0.0.1"

[[test]]
name = "eue over v6 expects another pool6"
mac = "00:10:95:0e:12:36"
relay = "127.0.0.2"
link = "2001:db8:100::1"
options = ["60=pktc2.0:050412020007", "55=01030c7a"]
[test.expect6]
pool = "cm6"
[test.expect6.options]
"v6/23" = "2001:db8:100::54"

[[test]]
name = "cpe expects an answer"
mac = "00:50:56:00:00:01"
relay = "127.0.0.2"
[test.expect]
"#,
    )
    .unwrap();
    let out = headend(&[
        "test",
        "--config",
        lab().to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for line in [
        "FAILED",
        "eue expects BASIC",
        "pool: expected \"cm-lab\" / got \"mta-lab\"",
        "option 122/6: expected \"BASIC.1\" / got \"HYBRID.2\"",
        "option 66: expected \"127.0.0.1\" / got no such option",
        "option 15: expected absent / got voice.lab.example",
        "cpe expects an answer",
        "expected an OFFER / got none (no_pool_for_network)",
        "eue over v6 expects another pool6",
        "pool6: expected \"cm6\" / got \"eue6\"",
        "option v6/23: expected \"2001:db8:100::54\" / got \"2001:db8:100::53\"",
        "0 passed, 3 failed",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }

    // A test file that is not one is an error naming it, not a pass.
    std::fs::write(&file, "[[test]]\nname = 1\n").unwrap();
    let out = headend(&[
        "test",
        "--config",
        lab().to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn explain_json_is_one_object_with_decoded_options_over_both_families() {
    let out = headend(&[
        "explain",
        "--json",
        "--config",
        lab().to_str().unwrap(),
        "--mac",
        "00:10:95:0e:12:37",
        "--relay",
        "127.0.0.2",
        "--option",
        "60=pktc2.0:050412020007",
        "--option",
        "55=01030c7a",
        "--link",
        "2001:db8:100::1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["device"]["type_name"], "lab-emta");
    assert_eq!(v["account"]["domains"][0], "emta");
    let ack = &v["dhcpv4"]["request"]["ack"];
    assert!(
        ack["yiaddr"].as_str().unwrap().starts_with("10.2.0."),
        "{ack}"
    );
    let opt = |msg: &serde_json::Value, path: &str| -> serde_json::Value {
        msg["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["path"] == path)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let realm = opt(ack, "122/6");
    assert_eq!(realm["value"], "HYBRID.2", "{ack}");
    assert_eq!(
        realm["hex"], "06485942524944013200",
        "the octets behind the value (a DNS name, RFC 3495)"
    );
    assert!(!v["dhcpv4"]["discover"]["trace"]
        .as_array()
        .unwrap()
        .is_empty());
    let reply = &v["dhcpv6"]["request"]["reply"];
    assert!(reply["ias"][0]["address"]
        .as_str()
        .unwrap()
        .starts_with("2001:db8:2:"));
    assert_eq!(opt(reply, "v6/23")["value"], "2001:db8:100::53", "{reply}");
    assert_eq!(
        opt(reply, "v6/17/4491/33")["value"],
        "mta-0010950e1237.bin",
        "{reply}"
    );
}

#[test]
fn check_runs_every_expression_for_synthetic_devices_and_names_the_failing_ones() {
    // Type-checks fine; fails at run time for every device whose account
    // has no service_class attribute (all auto-provisioned ones).
    let (ok, out) = check_file(
        "bad.toml",
        &config_with_67(r#"account.attributes["service_class"].to_upper() + ".cm""#),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("67 from policy \"files\": FAILED"), "{out}");
    assert!(out.contains("bad.toml:21:"), "the expression's line: {out}");
    assert!(out.contains("synthetic devices"), "{out}");
    assert!(
        out.contains("1 error(s)"),
        "one failure, reported once: {out}"
    );

    let (ok, out) = check_file(
        "good.toml",
        &config_with_67(
            r#"if "service_class" in account.attributes { account.attributes["service_class"].to_upper() + ".cm" } else { "default.cm" }"#,
        ),
    );
    assert!(ok, "{out}");
}

/// A configuration whose policy option 67 is `expr` (for the synthetic-device tests).
fn config_with_67(expr: &str) -> String {
    format!(
        r#"[server]
store = "state"
[dhcpv4]
listen = ["127.0.0.1:0"]
server_id = "127.0.0.1"
[provisioning]
auto_provision = {{ expr = '["modems"]' }}
[[domain]]
name = "modems"
[[pool]]
name = "modems"
domains = ["modems"]
relays = ["127.0.0.2"]
network = "10.9.0.0/16"
ranges = [["10.9.0.10", "10.9.0.200"]]
[[policy]]
name = "files"
enforced = true
domains = ["modems"]
[policy.options]
"67" = {{ expr = '{expr}' }}
"#
    )
}

#[test]
fn a_reload_whose_expressions_fail_for_synthetic_devices_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headend.toml");
    let good = r#"if "service_class" in account.attributes { account.attributes["service_class"].to_upper() + ".cm" } else { "default.cm" }"#;
    std::fs::write(&path, config_with_67(good)).unwrap();
    let log = dir.path().join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_headend"))
        .args(["run", "--config", path.to_str().unwrap()])
        .current_dir(dir.path())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let wait_for = |what: &str| {
        for _ in 0..100 {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(what)
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap()
    };
    let ready = wait_for("headend: ready");
    // Type-checks, but fails at run time for the synthetic devices.
    std::fs::write(
        &path,
        config_with_67(r#"account.attributes["service_class"].to_upper() + ".cm""#),
    )
    .unwrap();
    hup();
    let refused = wait_for("configuration rejected, the running one stays");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(&path, config_with_67(good)).unwrap();
    hup();
    let reloaded = wait_for("configuration reloaded");
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready && refused, "{text}");
    assert!(text.contains("synthetic devices"), "{text}");
    assert!(
        reloaded,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
