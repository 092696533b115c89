//! Stamps the git commit into the binary for `headend --version`.
//!
//! `HEADEND_GIT_COMMIT` is `git rev-parse --short HEAD` of the checkout being
//! built (or the variable itself when set), or "unknown" outside git (a source tarball, a vendored crate). The
//! build reruns when HEAD moves: on a commit, a checkout or a fetch that
//! rewrites packed refs.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn main() {
    // A packager building outside git can name the commit itself.
    let commit = std::env::var("HEADEND_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=10", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HEADEND_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=HEADEND_GIT_COMMIT");
    // `--git-path` resolves worktrees and the common directory, so these are
    // the files a commit or checkout really touches.
    let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
    }
    for name in watch {
        if let Some(p) = git(&["rev-parse", "--git-path", &name]) {
            let p = PathBuf::from(p);
            // A relative answer is relative to the crate directory (cargo's
            // working directory for build scripts); a file that does not
            // exist yet (no packed refs) would make cargo rerun every time.
            if p.exists() {
                if let Ok(abs) = p.canonicalize() {
                    println!("cargo:rerun-if-changed={}", abs.display());
                }
            }
        }
    }
}
