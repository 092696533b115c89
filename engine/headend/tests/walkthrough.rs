//! The README's walkthrough (a new policy, its `headend test`, a refused
//! and an accepted SIGHUP), run exactly as written: the block after the
//! `<!-- walkthrough` marker, by bash in a scratch directory with the
//! built `headend` first on `PATH`. A README edit that breaks it fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn walkthrough_block() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let marker = text
        .find("<!-- walkthrough")
        .expect("README has a walkthrough marker");
    let rest = &text[marker..];
    let start = rest.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let end = rest[start..].find("\n```").expect("the block ends") + start;
    rest[start..end].to_string()
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let script = walkthrough_block();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("walk.sh"), &script).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_headend"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Bounded: the script's waits are bounded, and so is the whole run.
    let out = Command::new("timeout")
        .args(["120", "bash", "-eu", "walk.sh"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\nserver.log:\n{log}"
    );
    for line in [
        "headend.toml: OK",
        "2 passed, 0 failed",
        "has no property `verison`",
        "check refused the typo",
        "the server kept its configuration",
        "reloaded",
    ] {
        assert!(
            stdout.contains(line) || stderr.contains(line),
            "{line}\n{stdout}\n{stderr}\nserver.log:\n{log}"
        );
    }
    // The second test run (after the fix) passed too.
    assert_eq!(stdout.matches("2 passed, 0 failed").count(), 2, "{stdout}");
}
