//! A small W3C WebDriver client for web-console tests: `chromedriver` and headless
//! Chromium inside a test's network namespace, driven over HTTP with `curl` run in the
//! same namespace (chromedriver only accepts local connections). Recipe and pitfalls:
//! shared/docs/peers.md §17.
//!
//! Every call is bounded (curl `--max-time` under `timeout`, and the session's page-load
//! and script timeouts); every `wait_*` polls against a deadline. WebDriver errors
//! (`{"value":{"error":…,"message":…}}`) come back as `anyhow` errors carrying the message.
//!
//! Unhandled user prompts are left open (`unhandledPromptBehavior: ignore`): while an
//! `alert()` is up, other commands fail with "unexpected alert open" until the test calls
//! [`Browser::accept_alert`] or [`Browser::dismiss_alert`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::{Netns, Proc};

/// The W3C key under which an element reference travels in JSON.
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long chromedriver gets to listen and report ready.
const DRIVER_READY: Duration = Duration::from_secs(15);

/// The upper bound of one WebDriver command (navigation and scripts are bounded by the
/// session's own 30 s timeouts, below this).
const CALL_MAX: Duration = Duration::from_secs(60);

/// What chromedriver prints, with the port it bound, once it listens.
const STARTED: &str = "started successfully on port ";

/// How often the `wait_*` helpers poll.
const POLL: Duration = Duration::from_millis(50);

/// The arguments every browser gets (peers.md §17.2, §17.5): as root Chromium refuses to
/// start without `--no-sandbox`, and chromedriver bypasses `/etc/chromium.d/`.
const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,800",
];

/// A chromedriver with one headless Chromium session, in a network namespace.
/// Dropping it deletes the session (closing the browser) and stops chromedriver.
pub struct Browser {
    netns: String,
    base: String,
    session: String,
    driver: Proc,
    log: PathBuf,
    closed: bool,
}

impl Browser {
    /// Starts `chromedriver` in `ns` on a port of its choosing (`--port=0`), with
    /// `TMPDIR`, `HOME`, its log (`chromedriver.log`) and the browser profile under `dir`, waits
    /// (at most 15 s) for it to be ready, and opens a session.
    pub fn start(ns: &Netns, dir: &Path) -> Result<Browser> {
        let tmp = dir.join("chromium-tmp");
        let profile = dir.join("chromium-profile");
        let home = dir.join("chromium-home");
        for d in [&tmp, &profile, &home] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let log = dir.join("chromedriver.log");
        let mut cmd = ns.command("chromedriver");
        // Chromium leaves its Singleton and scoped directories in TMPDIR (peers.md §17.5),
        // and its crash database in ~/.config/chromium whatever the --user-data-dir.
        cmd.env("TMPDIR", &tmp)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()));
        let started = Instant::now();
        let mut driver = Proc::spawn("chromedriver", cmd)?;
        driver.wait_for(STARTED, DRIVER_READY)?;
        let out = driver.output();
        let port: u16 = out
            .lines()
            .find_map(|l| l.split_once(STARTED))
            .and_then(|(_, rest)| rest.trim().trim_end_matches('.').parse().ok())
            .with_context(|| format!("no port in chromedriver's output:\n{out}"))?;
        let mut browser = Browser {
            netns: ns.name().to_string(),
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            driver,
            log,
            // Nothing to delete until the session exists.
            closed: true,
        };
        browser.wait_ready(started + DRIVER_READY)?;
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "args": CHROME_ARGS
                    .iter()
                    .map(|a| (*a).to_string())
                    .chain([format!("--user-data-dir={}", profile.display())])
                    .collect::<Vec<_>>(),
            },
        }}});
        let value = browser
            .call("POST", "/session", Some(&caps))
            .with_context(|| {
                format!(
                    "creating a Chromium session; chromedriver log tail:\n{}",
                    browser.driver_log(4000)
                )
            })?;
        browser.session = value
            .get("sessionId")
            .and_then(Value::as_str)
            .with_context(|| format!("no sessionId in the new-session answer: {value}"))?
            .to_string();
        browser.closed = false;
        Ok(browser)
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<()> {
        loop {
            let last = match self.call("GET", "/status", None) {
                Ok(v) if v.get("ready") == Some(&Value::Bool(true)) => return Ok(()),
                Ok(v) => v.to_string(),
                Err(e) => format!("{e:#}"),
            };
            if let Some(status) = self.driver.try_status()? {
                bail!(
                    "chromedriver exited ({status}); its output:\n{}",
                    self.driver.output_tail(4000)
                );
            }
            if Instant::now() >= deadline {
                bail!("chromedriver not ready within {DRIVER_READY:?}; last /status: {last}");
            }
            thread::sleep(POLL);
        }
    }

    /// The chromedriver's PID.
    pub fn driver_pid(&self) -> u32 {
        self.driver.pid()
    }

    /// The last `max` bytes of chromedriver's log file, for failure messages.
    pub fn driver_log(&self, max: usize) -> String {
        let text = std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text.get(start..).unwrap_or_default().to_string()
    }

    // -----------------------------------------------------------------------
    // Transport
    // -----------------------------------------------------------------------

    /// One WebDriver command: `method` on `path` (relative to the server), with an
    /// optional JSON body; returns the answer's `value`.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let max = CALL_MAX.as_secs();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, "timeout", "-k", "2"])
            .arg((max + 5).to_string())
            .args(["curl", "-sS", "--noproxy", "*", "--max-time"])
            .arg(max.to_string())
            .args(["-o", "-", "-w", "\n%{http_code}", "-X", method]);
        if body.is_some() {
            cmd.args([
                "-H",
                "Content-Type: application/json; charset=utf-8",
                "--data-binary",
                "@-",
            ]);
        }
        cmd.arg(format!("{}{path}", self.base))
            .stdin(if body.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = format!("{method} {}", self.short(path));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("{what}: starting curl"))?;
        let writer = match (body, child.stdin.take()) {
            (Some(b), Some(mut stdin)) => {
                let bytes = b.to_string().into_bytes();
                Some(thread::spawn(move || stdin.write_all(&bytes)))
            }
            _ => None,
        };
        let out = child
            .wait_with_output()
            .with_context(|| format!("{what}: running curl"))?;
        if let Some(w) = writer {
            // A write error shows up as curl's failure below; only a panic is lost here.
            let _ = w.join();
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let (payload, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code: u16 = code.trim().parse().unwrap_or(0);
        if !out.status.success() || code == 0 {
            bail!(
                "{what}: curl failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let answer: Value = serde_json::from_str(payload)
            .with_context(|| format!("{what}: HTTP {code}, not JSON: {:?}", clip(payload, 500)))?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if let Some(err) = value.get("error").and_then(Value::as_str) {
            if code >= 400 {
                let message = value.get("message").and_then(Value::as_str).unwrap_or("");
                // Drop chromedriver's "\n  (Session info: chrome=…)" trailer.
                let message = message
                    .split_once("\n  (Session info")
                    .map_or(message, |(m, _)| m)
                    .trim();
                bail!("{what}: {err}: {message}");
            }
        }
        ensure!(
            (200..300).contains(&code),
            "{what}: HTTP {code}: {}",
            clip(payload, 500)
        );
        Ok(value)
    }

    /// A path without the session prefix, for messages.
    fn short<'a>(&self, path: &'a str) -> &'a str {
        if self.session.is_empty() {
            return path;
        }
        path.strip_prefix("/session/")
            .and_then(|p| p.strip_prefix(self.session.as_str()))
            .filter(|p| !p.is_empty())
            .unwrap_or(path)
    }

    /// A command on the session: `path` is relative to `/session/{id}`.
    fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn el_cmd(&self, method: &str, id: &str, rest: &str, body: Option<&Value>) -> Result<Value> {
        self.cmd(method, &format!("/element/{id}{rest}"), body)
    }

    // -----------------------------------------------------------------------
    // Navigation and window
    // -----------------------------------------------------------------------

    /// Navigates to `url` and waits for the page load (at most the 30 s page-load timeout).
    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(&json!({ "url": url })))
            .with_context(|| format!("navigating to {url}"))
            .map(drop)
    }

    /// The current page's URL.
    pub fn url(&self) -> Result<String> {
        string_of(self.cmd("GET", "/url", None)?, "URL")
    }

    /// The current page's title.
    pub fn title(&self) -> Result<String> {
        string_of(self.cmd("GET", "/title", None)?, "title")
    }

    /// Reloads the current page.
    pub fn refresh(&self) -> Result<()> {
        self.cmd("POST", "/refresh", Some(&json!({}))).map(drop)
    }

    /// Goes back one page in history.
    pub fn back(&self) -> Result<()> {
        self.cmd("POST", "/back", Some(&json!({}))).map(drop)
    }

    /// Resizes the window (outer size; the viewport is smaller, peers.md §17.5).
    pub fn set_window(&self, width: u32, height: u32) -> Result<()> {
        let rect = json!({ "width": width, "height": height });
        self.cmd("POST", "/window/rect", Some(&rect)).map(drop)
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let b64 = string_of(self.cmd("GET", "/screenshot", None)?, "screenshot")?;
        let png = base64_decode(&b64).context("decoding the screenshot")?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    // -----------------------------------------------------------------------
    // Elements by CSS selector
    // -----------------------------------------------------------------------

    /// The first element matching `css`, now (no implicit wait).
    pub fn find(&self, css: &str) -> Result<String> {
        let v = self
            .cmd("POST", "/element", Some(&by_css(css)))
            .with_context(|| format!("finding {css:?}"))?;
        element_id(&v)
    }

    /// Every element matching `css`, now; empty when none does.
    pub fn find_all(&self, css: &str) -> Result<Vec<String>> {
        let v = self
            .cmd("POST", "/elements", Some(&by_css(css)))
            .with_context(|| format!("finding all {css:?}"))?;
        v.as_array()
            .with_context(|| format!("find all {css:?}: not a list: {v}"))?
            .iter()
            .map(element_id)
            .collect()
    }

    /// Waits until an element matching `css` is present and displayed; returns it.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.first_displayed(css) {
                Ok((_, Some(id))) => return Ok(id),
                Ok((0, None)) => "nothing matched".to_string(),
                Ok((n, None)) => format!("{n} matched, none displayed"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "no displayed element matches {css:?} after {timeout:?} ({last}); page: {}",
                    self.url_for_message()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Waits until no element matching `css` is displayed (absent or hidden).
    pub fn wait_gone(&self, css: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.first_displayed(css) {
                Ok((_, None)) => return Ok(()),
                Ok((_, Some(_))) => "still displayed".to_string(),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{css:?} did not go away within {timeout:?} ({last}); page: {}",
                    self.url_for_message()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Waits until the text of the first element matching `css` contains `needle`;
    /// returns that text. On timeout the error has the last text seen and the page URL.
    pub fn wait_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.text(css) {
                Ok(t) if t.contains(needle) => return Ok(t),
                Ok(t) => format!("{t:?}"),
                Err(e) => format!("(error: {e:#})"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "the text of {css:?} did not contain {needle:?} within {timeout:?}; \
                     last seen: {last}; page: {}",
                    self.url_for_message()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Clicks the first element matching `css`.
    pub fn click(&self, css: &str) -> Result<()> {
        self.click_el(&self.find(css)?)
            .with_context(|| format!("clicking {css:?}"))
    }

    /// Clears the first element matching `css`, then types `text` into it.
    pub fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css)?;
        self.clear_el(&id)
            .and_then(|()| self.send_keys_el(&id, text))
            .with_context(|| format!("typing into {css:?}"))
    }

    /// Sends the Enter key to the first element matching `css`.
    pub fn press_enter(&self, css: &str) -> Result<()> {
        self.send_keys_el(&self.find(css)?, "\u{E007}")
            .with_context(|| format!("pressing Enter in {css:?}"))
    }

    /// Presses and releases each key of `keys` in turn, on whatever has the focus
    /// (W3C actions): `"\u{E004}"` is Tab, `"\u{E007}"` Enter, `"\u{E00C}"` Escape.
    pub fn press_key(&self, keys: &str) -> Result<()> {
        let steps: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                let k = k.to_string();
                [
                    json!({ "type": "keyDown", "value": k }),
                    json!({ "type": "keyUp", "value": k }),
                ]
            })
            .collect();
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": steps }] });
        self.cmd("POST", "/actions", Some(&body))
            .with_context(|| format!("pressing {keys:?}"))
            .map(drop)
    }

    /// The rendered text of the first element matching `css`.
    pub fn text(&self, css: &str) -> Result<String> {
        self.text_el(&self.find(css)?)
    }

    /// An HTML attribute of the first element matching `css` as written in the markup
    /// (`None` when absent); what was typed into an input is [`Browser::prop`] `value`.
    pub fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        self.attr_el(&self.find(css)?, name)
    }

    /// A DOM property of the first element matching `css` (`value`, `checked`, …);
    /// `None` when undefined or null, strings as they are, other values as JSON.
    pub fn prop(&self, css: &str, name: &str) -> Result<Option<String>> {
        self.prop_el(&self.find(css)?, name)
    }

    /// Whether the first element matching `css` is enabled.
    pub fn is_enabled(&self, css: &str) -> Result<bool> {
        let v = self.el_cmd("GET", &self.find(css)?, "/enabled", None)?;
        v.as_bool()
            .with_context(|| format!("enabled of {css:?}: not a boolean: {v}"))
    }

    /// Whether the first element matching `css` is displayed.
    pub fn is_displayed(&self, css: &str) -> Result<bool> {
        self.displayed_el(&self.find(css)?)
    }

    // -----------------------------------------------------------------------
    // Elements by id (from `find`, `find_all`, `wait_for`)
    // -----------------------------------------------------------------------

    /// Clicks an element.
    pub fn click_el(&self, id: &str) -> Result<()> {
        self.el_cmd("POST", id, "/click", Some(&json!({})))
            .map(drop)
    }

    /// Clears an input or textarea.
    pub fn clear_el(&self, id: &str) -> Result<()> {
        self.el_cmd("POST", id, "/clear", Some(&json!({})))
            .map(drop)
    }

    /// Types `text` into an element (WebDriver key codes such as `\u{E007}` allowed).
    pub fn send_keys_el(&self, id: &str, text: &str) -> Result<()> {
        self.el_cmd("POST", id, "/value", Some(&json!({ "text": text })))
            .map(drop)
    }

    /// The rendered text of an element.
    pub fn text_el(&self, id: &str) -> Result<String> {
        string_of(self.el_cmd("GET", id, "/text", None)?, "text")
    }

    /// An attribute of an element, `None` when unset.
    pub fn attr_el(&self, id: &str, name: &str) -> Result<Option<String>> {
        match self.el_cmd("GET", id, &format!("/attribute/{name}"), None)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Ok(Some(other.to_string())),
        }
    }

    /// A DOM property of an element, `None` when undefined or null.
    pub fn prop_el(&self, id: &str, name: &str) -> Result<Option<String>> {
        match self.el_cmd("GET", id, &format!("/property/{name}"), None)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Ok(Some(other.to_string())),
        }
    }

    /// Whether an element is displayed.
    pub fn displayed_el(&self, id: &str) -> Result<bool> {
        let v = self.el_cmd("GET", id, "/displayed", None)?;
        v.as_bool()
            .with_context(|| format!("displayed: not a boolean: {v}"))
    }

    /// An element as a script argument for [`Browser::exec`].
    pub fn el_arg(id: &str) -> Value {
        json!({ ELEMENT_KEY: id })
    }

    /// How many elements match `css`, and the first of them that is displayed.
    fn first_displayed(&self, css: &str) -> Result<(usize, Option<String>)> {
        let all = self.find_all(css)?;
        let n = all.len();
        for id in all {
            // An element replaced between the two calls is "stale": not displayed.
            if self.displayed_el(&id).unwrap_or(false) {
                return Ok((n, Some(id)));
            }
        }
        Ok((n, None))
    }

    fn url_for_message(&self) -> String {
        self.url()
            .unwrap_or_else(|e| format!("(URL unknown: {e:#})"))
    }

    // -----------------------------------------------------------------------
    // Scripts, prompts, console
    // -----------------------------------------------------------------------

    /// Runs `js` as a function body with `arguments` = `args`; returns what it returns.
    pub fn exec(&self, js: &str, args: Vec<Value>) -> Result<Value> {
        let body = json!({ "script": js, "args": args });
        self.cmd("POST", "/execute/sync", Some(&body))
            .context("running a script")
    }

    /// Runs `js` with a callback as its last argument and returns the value passed to
    /// it (at most the 30 s script timeout).
    pub fn exec_async(&self, js: &str, args: Vec<Value>) -> Result<Value> {
        let body = json!({ "script": js, "args": args });
        self.cmd("POST", "/execute/async", Some(&body))
            .context("running an async script")
    }

    /// The text of the open `alert`/`confirm`/`prompt`.
    pub fn alert_text(&self) -> Result<String> {
        string_of(self.cmd("GET", "/alert/text", None)?, "alert text")
    }

    /// Accepts (OK) the open prompt.
    pub fn accept_alert(&self) -> Result<()> {
        self.cmd("POST", "/alert/accept", Some(&json!({})))
            .map(drop)
    }

    /// Dismisses (Cancel) the open prompt.
    pub fn dismiss_alert(&self) -> Result<()> {
        self.cmd("POST", "/alert/dismiss", Some(&json!({})))
            .map(drop)
    }

    /// The browser console entries since the last call, as (level, message); reading
    /// them empties chromedriver's buffer.
    pub fn console_log(&self) -> Result<Vec<(String, String)>> {
        let v = self.cmd("POST", "/se/log", Some(&json!({ "type": "browser" })))?;
        let entries = v
            .as_array()
            .with_context(|| format!("browser log: not a list: {v}"))?;
        Ok(entries
            .iter()
            .map(|e| {
                let field = |k: &str| {
                    e.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                (field("level"), field("message"))
            })
            .collect())
    }

    /// The `SEVERE` console entries (console.error, uncaught exceptions, failed loads)
    /// since the last read of the console (which this is).
    pub fn console_errors(&self) -> Result<Vec<String>> {
        Ok(self
            .console_log()?
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .map(|(_, m)| m)
            .collect())
    }

    // -----------------------------------------------------------------------
    // Shutdown
    // -----------------------------------------------------------------------

    /// Deletes the session and stops chromedriver, reporting what went wrong.
    pub fn quit(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return self.driver.stop(Duration::from_secs(5)).map(drop);
        }
        self.closed = true;
        // The browser tree, noted before chromedriver closes it, to mop up after.
        let started = descendants(self.driver.pid());
        let deleted = self.cmd("DELETE", "", None).map(drop);
        let stopped = self.driver.stop(Duration::from_secs(5)).map(drop);
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let alive: Vec<u32> = started
                .iter()
                .filter(|(pid, start)| still_running(*pid, *start))
                .map(|(pid, _)| *pid)
                .collect();
            if alive.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for pid in &alive {
                    let _ = Command::new("kill")
                        .args(["-s", "KILL", &pid.to_string()])
                        .stderr(Stdio::null())
                        .status();
                }
                break;
            }
            thread::sleep(POLL);
        }
        deleted.context("deleting the WebDriver session")?;
        stopped
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn by_css(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn element_id(v: &Value) -> Result<String> {
    v.get(ELEMENT_KEY)
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("not an element reference: {v}"))
}

fn string_of(v: Value, what: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        other => bail!("{what}: not a string: {other}"),
    }
}

fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Processes of the browser tree (/proc)
// ---------------------------------------------------------------------------

/// (ppid, start time in clock ticks) of a live, non-zombie process.
fn stat_of(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

/// Every live descendant of `root`, with its start time (so a reused PID is not killed).
fn descendants(root: u32) -> BTreeSet<(u32, u64)> {
    let mut children: BTreeMap<u32, Vec<(u32, u64)>> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some((ppid, start)) = stat_of(pid) {
                children.entry(ppid).or_default().push((pid, start));
            }
        }
    }
    let mut found = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &(c, start) in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if found.insert((c, start)) {
                todo.push(c);
            }
        }
    }
    found
}

fn still_running(pid: u32, start: u64) -> bool {
    stat_of(pid).is_some_and(|(_, s)| s == start)
}

// ---------------------------------------------------------------------------
// Base64 (RFC 4648, standard alphabet), for screenshots
// ---------------------------------------------------------------------------

/// Decodes standard base64; whitespace is skipped, `=` padding optional.
pub fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, c) in text.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => bail!("invalid base64 byte {c:#04x} at offset {i}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}
