//! A plugin made and built outside the repository (issue 20): `headend plugin
//! new` scaffolds a flow-select crate in a temporary directory, its native
//! tests pass with `cargo test --locked`, `headend plugin build` builds it
//! with Debian's rustc 1.63 (and with rustup's wasm32 target where that is
//! installed), and `headend check` accepts the `.wasm` in a `[[plugin]]` —
//! and refuses it, with the `[[plugin]]` line, when its config table makes
//! every call decline.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Result};

fn headend() -> Command {
    Command::new(env!("CARGO_BIN_EXE_headend"))
}

/// Whether rustup has the wasm32 target (a developer machine).
fn rustup_has_wasm32() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-unknown-unknown")
        })
        .unwrap_or(false)
}

fn debian_wasm32() -> bool {
    let sysroot = Command::new("/usr/bin/rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    Path::new("/usr/bin/cargo").is_file()
        && sysroot.is_some_and(|s| {
            Path::new(&s)
                .join("lib/rustlib/wasm32-unknown-unknown")
                .is_dir()
        })
}

fn check(dir: &Path, wasm: &Path, config: &str) -> Result<(bool, String)> {
    let path = dir.join("site.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nstore = \"state\"\n\n[dhcpv4]\nlisten = [\"127.0.0.1:6767\"]\n\n\
             [[plugin]]\nname = \"premium-voice\"\npath = \"{}\"\nhooks = [\"flow-select\"]\n\
             [plugin.config]\n{config}",
            wasm.display()
        ),
    )?;
    let out = headend().args(["check", "--config"]).arg(&path).output()?;
    Ok((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

#[test]
fn a_plugin_scaffolded_outside_the_repository_tests_builds_and_loads() -> Result<()> {
    let debian = debian_wasm32();
    let rustup = rustup_has_wasm32();
    if !debian && !rustup {
        let why = "plugin_authoring: needs a wasm toolchain (Debian's rustc + libstd-rust-dev-wasm32, or rustup's wasm32 target)";
        ensure!(
            std::env::var_os("CI").is_none(),
            "{why} (scripts/setup installs it)"
        );
        eprintln!("SKIPPED {why}");
        return Ok(());
    }
    let dir = common::scratch("plugin-new")?;
    let mut new = headend();
    new.args([
        "plugin",
        "new",
        "premium-voice",
        "--hook",
        "flow-select",
        "--dir",
    ])
    .arg(dir.path());
    let out = common::run_ok("headend plugin new", new, Duration::from_secs(30))?;
    let krate = dir.path().join("premium-voice");
    ensure!(out.contains("created"), "{out}");
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "src/lib.rs",
        "README.md",
    ] {
        ensure!(krate.join(f).is_file(), "no {f} in the scaffold");
    }
    let lock = std::fs::read_to_string(krate.join("Cargo.lock"))?;
    ensure!(lock.lines().any(|l| l == "version = 3"), "{lock}");
    // A second `new` onto the same name refuses rather than overwrite.
    let mut again = headend();
    again
        .args([
            "plugin",
            "new",
            "premium-voice",
            "--hook",
            "mem-event",
            "--dir",
        ])
        .arg(dir.path());
    let (status, text) =
        common::run_bounded("headend plugin new (again)", again, Duration::from_secs(30))?;
    ensure!(
        !status.success() && text.contains("exists"),
        "{status}: {text}"
    );

    // Native tests, as the author runs them (the lock is used as it is).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut test = Command::new(cargo);
    test.args(["test", "--locked"])
        .current_dir(&krate)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS");
    let out = common::run_ok("cargo test (scaffold)", test, Duration::from_secs(300))?;
    ensure!(out.contains("test result: ok. 2 passed"), "{out}");

    let wasm = krate.join("dist/premium-voice.wasm");
    let mut toolchains = Vec::new();
    if debian {
        toolchains.push("debian");
    }
    if rustup {
        toolchains.push("rustup");
    } else {
        eprintln!("plugin_authoring: rustup has no wasm32-unknown-unknown target here; Debian's toolchain only");
    }
    for toolchain in toolchains {
        let _ = std::fs::remove_file(&wasm);
        let mut build = headend();
        build
            .args(["plugin", "build"])
            .arg(&krate)
            .env("HEADEND_WASM_TOOLCHAIN", toolchain)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS");
        let out = common::run_ok(
            &format!("headend plugin build ({toolchain})"),
            build,
            Duration::from_secs(600),
        )?;
        ensure!(
            out.contains("loads (ABI version 1, hooks: flow_select)"),
            "{toolchain}: {out}"
        );
        ensure!(wasm.is_file(), "{toolchain}: no {}", wasm.display());

        let (ok, text) = check(dir.path(), &wasm, "voice_domain = \"premium\"\n")?;
        ensure!(ok, "{toolchain}: check refused the built plugin:\n{text}");
        let (ok, text) = check(dir.path(), &wasm, "voice_domain = 7\n")?;
        ensure!(
            !ok && text.contains("site.toml:7:") && text.contains("voice_domain"),
            "{toolchain}: a config that declines every call passed check:\n{text}"
        );
    }

    // A lock file that a newer cargo rewrote to version 4 is refused with the fix.
    if debian {
        std::fs::write(
            krate.join("Cargo.lock"),
            lock.replace("version = 3", "version = 4"),
        )?;
        let mut build = headend();
        build
            .args(["plugin", "build"])
            .arg(&krate)
            .env("HEADEND_WASM_TOOLCHAIN", "debian");
        let (status, text) = common::run_bounded(
            "headend plugin build (v4 lock)",
            build,
            Duration::from_secs(60),
        )?;
        ensure!(
            !status.success() && text.contains("version = 3"),
            "{status}: {text}"
        );
    }
    Ok(())
}
