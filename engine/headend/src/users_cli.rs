//! `headend user`: operators of the management API (issue 13). Users are
//! created with the server stopped (sled lets one process open the store);
//! while it runs, an admin creates them through `POST /api/v1/users`. There
//! is no default user and no default password: the first admin is made here,
//! with the password read from standard input.

use std::io::BufRead as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _, Result};
use headend_mgmt::users::{self, Role};
use headend_model::snapshot::{canonical_domain, Snapshot};
use headend_store::{SledStore, Store};

/// The configuration and its store: `[server] database` when set (users
/// live with the shared store, where every node reads them), else the
/// embedded one.
fn open(config: &Path) -> Result<(Snapshot, Box<dyn Store>)> {
    let snap = Snapshot::load(config, 1).map_err(|e| anyhow!("{e}"))?;
    if let Some(url) = snap.database.as_deref() {
        let store = headend_store_pg::PgStore::connect(url, 1).map_err(|e| anyhow!("{e}"))?;
        return Ok((snap, Box::new(store)));
    }
    std::fs::create_dir_all(&snap.store_path)
        .with_context(|| format!("creating {}", snap.store_path.display()))?;
    let store = SledStore::open(&snap.store_path).map_err(|e| {
        anyhow!("{e}\n  (while headend runs, an admin adds users with POST /api/v1/users)")
    })?;
    Ok((snap, Box::new(store)))
}

fn now() -> u64 {
    (headend_server::shared::system_clock())()
}

/// `user add`: a user with a role and an optional domain scope; the
/// password is the first line of standard input.
pub fn add(config: &Path, name: &str, role: &str, domains: &[String]) -> Result<ExitCode> {
    let role: Role = role.parse()?;
    let (snap, store) = open(config)?;
    let mut scope = Vec::new();
    for d in domains {
        let c = canonical_domain(d);
        if !snap.has_domain(&c) {
            bail!("domain {d:?} is not declared in {}", config.display());
        }
        scope.push(c);
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let user = users::new_user(name, role, scope, password, now())?;
    users::add(&*store, &user)?;
    let audit = headend_mgmt::audit::entry(
        &whoami(),
        "cli",
        "user.create",
        name,
        "ok",
        serde_json::Value::Null,
        serde_json::json!({ "name": user.name, "role": user.role, "domains": user.domains }),
    );
    store.apply(&[audit.mutation()])?;
    store.sync()?;
    eprintln!("user {name} added ({role:?})");
    Ok(ExitCode::SUCCESS)
}

/// `user token`: a new API token for a user, printed once.
pub fn token(config: &Path, name: &str, label: &str) -> Result<ExitCode> {
    let (_, store) = open(config)?;
    if users::get(&*store, name)?.is_none() {
        bail!("no user {name:?}");
    }
    let (secret, record, m) = users::new_token(name, label, now())?;
    let audit = headend_mgmt::audit::entry(
        &whoami(),
        "cli",
        "token.create",
        name,
        "ok",
        serde_json::Value::Null,
        serde_json::json!({ "label": record.label, "id": record.id }),
    );
    store.apply(&[m, audit.mutation()])?;
    store.sync()?;
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}

/// `user list`.
pub fn list(config: &Path) -> Result<ExitCode> {
    let (_, store) = open(config)?;
    for u in users::list(&*store)? {
        let scope = if u.domains.is_empty() {
            "all domains".to_string()
        } else {
            u.domains.join(", ")
        };
        println!("{}\t{:?}\t{scope}", u.name, u.role);
    }
    Ok(ExitCode::SUCCESS)
}

/// The local account running the command, for the audit log.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map(|u| format!("cli:{u}"))
        .unwrap_or_else(|_| "cli".into())
}
