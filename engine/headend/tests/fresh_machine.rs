//! The README's commands, checked the way a new user meets them.
//!
//! `readme_run_command_serves_the_lab_in_a_clean_clone` takes the run command
//! from README.md (the first fenced block after the heading "### Run the
//! lab"), runs it with `bash -c` in a `git clone` of this checkout's HEAD
//! (uncommitted changes are not in it), waits until the lab answers a relayed
//! DHCP DISCOVER on 127.0.0.1:6767, and stops the process group it started,
//! by its PID. It runs under CI (`CI` set, as `.ci/run` is run) or with
//! `HEADEND_FRESH_MACHINE=1`; otherwise it says it skipped (a release build
//! of a clone takes minutes).
//!
//! The clone builds into a target directory shared with this test's own
//! under CI, so only the workspace's crates are compiled again (their
//! artifact names do not depend on the checkout's path). Outside CI it uses
//! `<target>/fresh-machine`, so that a build of the clone's sources cannot
//! stand in for the working tree's uncommitted ones in the main target.
//!
//! `ci_runs_the_readme_test_command` checks that `.ci/run` ends with the
//! README's test command, character for character.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use headend_wire::dhcpv4::{code, Builder, MessageType, Packet, BOOTREQUEST};

/// The heading whose first fenced block is the run command.
const RUN_HEADING: &str = "### Run the lab";
/// The heading whose first fenced block is the test command.
const TEST_HEADING: &str = "### Run the tests";
/// Where the lab serves DHCPv4 (examples/lab/headend.toml).
const LAB_DHCP: &str = "127.0.0.1:6767";
/// The lab's CMTS relay address.
const LAB_RELAY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Set-up, plugin build and a release build of the clone, on a loaded 2-core machine.
const READY_BUDGET: Duration = Duration::from_secs(40 * 60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first fenced code block after `heading`, as one shell command
/// (continuation lines joined, comments dropped).
fn command_after(readme: &str, heading: &str) -> String {
    let mut lines = readme.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == heading)
        .unwrap_or_else(|| panic!("README.md has no heading {heading:?}"));
    lines
        .by_ref()
        .find(|l| l.starts_with("```"))
        .unwrap_or_else(|| panic!("no fenced block after {heading:?}"));
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("```")).collect();
    let cmd = body
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", "");
    assert!(!cmd.is_empty(), "empty block after {heading:?}");
    cmd
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let test_cmd = command_after(&readme, TEST_HEADING);
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let last = ci
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(
        last, test_cmd,
        ".ci/run must end with the README test command"
    );
    // And the run command is one a shell can take as it is.
    let run_cmd = command_after(&readme, RUN_HEADING);
    assert!(run_cmd.contains("examples/lab/headend.toml"), "{run_cmd}");
}

/// This test binary's target directory (`<target>/debug/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo().join("target"))
}

fn discover(mac: [u8; 6]) -> Vec<u8> {
    let mut b = Builder::new();
    b.op = BOOTREQUEST;
    b.htype = 1;
    b.hlen = 6;
    b.hops = 1;
    b.xid = 0x5eed_0001;
    b.giaddr = LAB_RELAY;
    b.chaddr[..6].copy_from_slice(&mac);
    b.push_option(code::MESSAGE_TYPE, &[u8::from(MessageType::Discover)]);
    b.push_option(code::VENDOR_CLASS, b"docsis3.0:");
    // Option 82: circuit-id, and RFC 8357 relay source port (reply to our port).
    let mut rai = vec![1, 6];
    rai.extend_from_slice(b"cmts/0");
    rai.extend_from_slice(&[19, 0]);
    b.push_option(code::RELAY_AGENT_INFO, &rai);
    b.encode(1500).unwrap()
}

/// Stops a whole process group by its leader's PID: TERM, then KILL.
struct Group(Child);

impl Group {
    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal("-KILL");
        let _ = self.0.wait();
    }
}

fn tail(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    let start = s.len().saturating_sub(6000);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    s[start..].to_string()
}

#[test]
fn readme_run_command_serves_the_lab_in_a_clean_clone() {
    let ci = std::env::var_os("CI").is_some();
    if !ci && std::env::var_os("HEADEND_FRESH_MACHINE").is_none() {
        eprintln!(
            "SKIPPED fresh-machine check: set HEADEND_FRESH_MACHINE=1 to run it (CI always does)"
        );
        return;
    }
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let cmd = command_after(&readme, RUN_HEADING);

    // Another lab on this machine would answer for ours: the port must be free.
    drop(
        UdpSocket::bind(LAB_DHCP)
            .unwrap_or_else(|e| panic!("{LAB_DHCP} is taken ({e}): stop the other lab first")),
    );

    let work = tempfile::Builder::new()
        .prefix("headend-fresh-")
        .tempdir()
        .unwrap();
    let clone = work.path().join("headend");
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(head.status.success(), "not a git checkout");
    let head = String::from_utf8(head.stdout).unwrap().trim().to_string();
    let ok = Command::new("git")
        .args(["clone", "--quiet", "--no-checkout"])
        .arg(repo())
        .arg(&clone)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git clone failed");
    let ok = Command::new("git")
        .args(["checkout", "--quiet", "--detach", &head])
        .current_dir(&clone)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git checkout {head} failed");

    let target = if ci {
        target_dir()
    } else {
        target_dir().join("fresh-machine")
    };
    let log_path = work.path().join("run.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut sh = Command::new("bash");
    sh.arg("-c").arg(&cmd).current_dir(&clone);
    // A user's shell, not cargo test's environment: drop what cargo set for
    // this test, keep the toolchain's home.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("CARGO") && k != "CARGO_HOME" {
            sh.env_remove(&k);
        }
    }
    sh.env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        // Its own process group, so the shell, cargo and headend stop together.
        .process_group(0);
    eprintln!(
        "fresh-machine: {cmd:?} in {} (target {})",
        clone.display(),
        target.display()
    );
    let started = Instant::now();
    let group = Group(sh.spawn().unwrap());

    let client = UdpSocket::bind(SocketAddr::from((LAB_RELAY, 0))).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let server: SocketAddr = LAB_DHCP.parse().unwrap();
    let msg = discover([0x00, 0x10, 0x95, 0xf0, 0x0d, 0x01]);
    let mut group = group;
    let mut buf = [0u8; 2048];
    let offer = loop {
        if let Some(st) = group.0.try_wait().unwrap() {
            panic!(
                "the run command exited ({st}) before serving:\n{}",
                tail(&log_path)
            );
        }
        assert!(
            started.elapsed() < READY_BUDGET,
            "no DHCP answer within {READY_BUDGET:?}:\n{}",
            tail(&log_path)
        );
        // Only our own server counts: it must have said it is ready.
        if tail(&log_path).contains("headend: ready") {
            let _ = client.send_to(&msg, server);
            if let Ok((n, _)) = client.recv_from(&mut buf) {
                if let Ok(p) = Packet::parse(&buf[..n]) {
                    break p.options.message_type();
                }
            }
        } else {
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    eprintln!(
        "fresh-machine: the lab answered {offer:?} {:.0} s after the command started",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(offer, Some(MessageType::Offer), "{}", tail(&log_path));
    group.signal("-TERM");
    drop(group);
}
