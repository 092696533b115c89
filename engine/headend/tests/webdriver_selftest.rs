//! Self-test of the WebDriver client (tests/common/webdriver.rs): in a fresh network
//! namespace, Python's `http.server` serves a small page (a form whose button
//! `fetch()`es a JSON file and writes a greeting), and `Browser` drives headless
//! Chromium through it: typing, clicking, waiting for text, scripts (sync and async),
//! an alert, the console log, a window resize, a screenshot, and the errors of a
//! missing element and of a wait that times out. Afterwards no browser process is left.
//!
//! Needs root (namespaces), `chromium`, `chromedriver`, `curl` and `python3`
//! (scripts/setup --peers); fails, not skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use common::webdriver::{base64_decode, Browser};
use common::{scratch, Netns, Proc};

const PORT: u16 = 8080;

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>webdriver selftest</title></head>
<body>
<h1>selftest</h1>
<form id="f" onsubmit="return false">
  <input id="name" autocomplete="off">
  <button id="go" type="button">Greet</button>
  <button id="off" type="button" disabled>Disabled</button>
  <button id="warn" type="button" onclick="alert('careful')">Warn</button>
</form>
<form id="f2">
  <input id="enter" autocomplete="off">
</form>
<div id="spinner" style="display:none">loading…</div>
<div id="out">nobody yet</div>
<ul id="items"></ul>
<div id="submitted"></div>
<script>
console.error('selftest-console-error');
document.getElementById('go').addEventListener('click', async () => {
  const name = document.getElementById('name').value;
  const spinner = document.getElementById('spinner');
  spinner.style.display = 'block';
  await new Promise(r => setTimeout(r, 300));     // the test must wait for this
  const data = await (await fetch('/data.json')).json();
  document.getElementById('items').innerHTML = data.items.map(i => `<li>${i}</li>`).join('');
  document.getElementById('out').textContent = 'Hello ' + name + ' (' + data.items.length + ')';
  spinner.remove();
});
document.getElementById('f2').addEventListener('submit', e => {
  e.preventDefault();
  document.getElementById('submitted').textContent =
    'Submitted ' + document.getElementById('enter').value;
});
</script>
</body></html>
"#;

fn require_tools() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    assert!(root, "webdriver_selftest needs root (network namespaces)");
    for tool in ["chromium", "chromedriver", "curl", "python3", "ip"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "webdriver_selftest needs `{tool}` (scripts/setup --peers)"
        );
    }
}

/// PIDs inside the namespace (zombies are not listed).
fn ns_pids(ns: &Netns) -> Vec<u32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns.name()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn browser_drives_a_page() {
    require_tools();
    let dir = scratch("webdriver").unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("index.html"), PAGE).unwrap();
    std::fs::write(site.join("data.json"), r#"{"items": ["a", "b"]}"#).unwrap();

    let ns = Netns::new().unwrap();
    let mut cmd = ns.command("python3");
    cmd.args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
        .arg(PORT.to_string())
        .arg("--directory")
        .arg(&site);
    let mut http = Proc::spawn("http.server", cmd).unwrap();
    http.wait_for("Serving HTTP", Duration::from_secs(10))
        .unwrap();
    let base = format!("http://127.0.0.1:{PORT}");

    let t0 = Instant::now();
    let b = Browser::start(&ns, dir.path()).unwrap();
    eprintln!("chromedriver + session up in {:?}", t0.elapsed());
    let driver_pid = b.driver_pid();

    let t1 = Instant::now();
    b.goto(&format!("{base}/index.html")).unwrap();
    assert_eq!(b.title().unwrap(), "webdriver selftest");
    assert_eq!(b.url().unwrap(), format!("{base}/index.html"));
    b.wait_for("#name", Duration::from_secs(5)).unwrap();

    // Tab from nowhere focuses the first input.
    b.exec("document.activeElement.blur();", vec![]).unwrap();
    b.press_key("\u{E004}").unwrap();
    let focused = b.exec("return document.activeElement.id;", vec![]).unwrap();
    assert_eq!(focused, json!("name"));

    // Type, click, and wait for the fetch() behind the click.
    b.type_into("#name", "first").unwrap();
    b.type_into("#name", "Ada").unwrap(); // clears first
    assert_eq!(b.prop("#name", "value").unwrap().as_deref(), Some("Ada"));
    assert_eq!(b.attr("#name", "value").unwrap(), None); // typed, not in the markup
    assert_eq!(
        b.attr("#name", "autocomplete").unwrap().as_deref(),
        Some("off")
    );
    assert_eq!(b.prop("#off", "disabled").unwrap().as_deref(), Some("true"));
    assert!(b.is_enabled("#go").unwrap());
    assert!(!b.is_enabled("#off").unwrap());
    assert!(!b.is_displayed("#spinner").unwrap());
    b.click("#go").unwrap();
    let text = b
        .wait_text("#out", "Hello", Duration::from_secs(10))
        .unwrap();
    assert_eq!(text, "Hello Ada (2)");
    b.wait_gone("#spinner", Duration::from_secs(5)).unwrap();
    let items = b.find_all("#items li").unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(b.text_el(&items[1]).unwrap(), "b");
    assert!(b.find_all(".nothing-here").unwrap().is_empty());

    // Enter submits a form.
    b.type_into("#enter", "via enter").unwrap();
    b.press_enter("#enter").unwrap();
    b.wait_text("#submitted", "Submitted via enter", Duration::from_secs(5))
        .unwrap();

    // Scripts, with plain and element arguments.
    let sum = b
        .exec(
            "return arguments[0] + arguments[1];",
            vec![json!(2), json!(3)],
        )
        .unwrap();
    assert_eq!(sum, json!(5));
    let out = b.find("#out").unwrap();
    let id = b
        .exec("return arguments[0].id;", vec![Browser::el_arg(&out)])
        .unwrap();
    assert_eq!(id, json!("out"));
    let n = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             fetch('/data.json').then(r => r.json()).then(d => done(d.items.length));",
            vec![],
        )
        .unwrap();
    assert_eq!(n, json!(2));

    // An alert stays open until handled.
    b.click("#warn").unwrap();
    assert_eq!(b.alert_text().unwrap(), "careful");
    let blocked = b.text("#out").unwrap_err();
    assert!(
        format!("{blocked:#}").contains("unexpected alert open"),
        "{blocked:#}"
    );
    b.accept_alert().unwrap();
    assert_eq!(b.text("#out").unwrap(), "Hello Ada (2)");

    // The console.error of the page (and the favicon 404).
    let errors = b.console_errors().unwrap();
    assert!(
        errors.iter().any(|e| e.contains("selftest-console-error")),
        "{errors:?}"
    );

    // Window size and screenshot.
    b.set_window(900, 700).unwrap();
    let width = b.exec("return window.innerWidth;", vec![]).unwrap();
    assert_eq!(width, json!(900));
    let png = dir.path().join("shot.png");
    b.screenshot(&png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {:?}",
        &bytes[..bytes.len().min(16)]
    );
    assert!(bytes.len() > 1000, "screenshot of {} bytes", bytes.len());

    // Errors carry the selector, WebDriver's message and, for waits, the page.
    let err = format!("{:#}", b.find("#missing").unwrap_err());
    assert!(
        err.contains("\"#missing\"") && err.contains("no such element"),
        "{err}"
    );
    let t = Instant::now();
    let err = format!(
        "{:#}",
        b.wait_for("#missing", Duration::from_millis(300))
            .unwrap_err()
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        err.contains("#missing") && err.contains("nothing matched"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        b.wait_text("#out", "Goodbye", Duration::from_millis(300))
            .unwrap_err()
    );
    assert!(
        err.contains("\"Hello Ada (2)\"") && err.contains(&format!("{base}/index.html")),
        "{err}"
    );
    let err = format!(
        "{:#}",
        b.exec("throw new Error('js-boom');", vec![]).unwrap_err()
    );
    assert!(err.contains("js-boom"), "{err}");
    eprintln!("page driven in {:?}", t1.elapsed());

    // Quitting closes the browser and chromedriver: only http.server is left.
    let t2 = Instant::now();
    b.quit().unwrap();
    eprintln!("quit in {:?}", t2.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = ns_pids(&ns);
        if left == vec![http.pid()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left in the namespace after quit: {left:?} (chromedriver was {driver_pid}, http.server {})",
            http.pid()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_dir(dir.path().join("chromium-profile"))
            .unwrap()
            .next()
            .is_some(),
        "the profile went elsewhere than --user-data-dir"
    );
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("").unwrap(), b"");
    assert_eq!(base64_decode("Zg==").unwrap(), b"f");
    assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
    assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
    assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
    assert_eq!(base64_decode("Zm9v\nYmFy").unwrap(), b"foobar");
    assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
    assert_eq!(base64_decode("+/8=").unwrap(), [0xfb, 0xff]);
    assert!(base64_decode("Zm9v!").is_err());
}
