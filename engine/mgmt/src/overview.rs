//! Read-only views for the web console and for operators' scripts (issue 18
//! "Web console"), part of `/api/v1` like the rest: the dashboard (traffic
//! counters per protocol, provisioning activity from the timeline, recent
//! PacketCable management events — seed 000 section 6.5 — plugin health,
//! the configuration loaded), the domains and policies of the running
//! configuration with the expressions they use (seed 004 sections 5.7,
//! 5.8), and a device's configuration file decoded as
//! `headend config-file show` prints it.
//!
//! A scoped principal sees the aggregate counters (they name no device)
//! and only its partition's devices, events, domains and policies.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use headend_model::provisioning::OptionValue;
use headend_model::snapshot::{normalize_mac, Snapshot};
use headend_server::shared::timeline::{now_ms, RecentActivity};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::App;

/// Events listed on the dashboard (the newest).
pub const DASHBOARD_EVENTS: usize = 20;

/// Cumulative traffic counters of one protocol; the console turns two
/// readings into rates.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Traffic {
    /// Requests received.
    pub received: u64,
    /// Answers sent.
    pub answered: u64,
    /// Requests dropped (malformed, rate-limited, overload).
    pub dropped: u64,
}

/// The configuration the server runs.
#[derive(Serialize, ToSchema)]
pub struct Loaded {
    /// Its file.
    pub path: String,
    /// The snapshot generation (1 at start, one more per reload).
    pub generation: u64,
    /// When it was loaded (Unix seconds).
    pub loaded_at: u64,
}

/// Everything the dashboard shows, in one answer.
#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    /// When this was read (milliseconds since the Unix epoch).
    pub now_ms: u64,
    /// The running configuration.
    pub config: Loaded,
    /// Per protocol: `dhcpv4`, `dhcpv6`, `tftp`, `http`, `tod`, `snmp`, `syslog`.
    pub traffic: BTreeMap<String, Traffic>,
    /// Devices bound and provisioned and steps failed, minute by minute.
    #[schema(value_type = Object)]
    pub activity: RecentActivity,
    /// The newest management events received (newest first).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<headend_server::events::Received>,
    /// Per plugin: its counters (`calls`, `traps`, `deadline`, `breaker_open`, …).
    pub plugins: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Whether `p` may see device `mac` (its account is in the partition).
pub(crate) fn device_visible(app: &App, snap: &Snapshot, p: &Principal, mac: &str) -> bool {
    if p.unscoped() {
        return true;
    }
    let acc = snap
        .accounts
        .get(mac)
        .cloned()
        .or_else(|| app.server.accounts().get(mac));
    acc.is_some_and(|a| p.sees(&a.domains))
}

/// Rates, provisioning activity, failures by step, management events,
/// plugin health and the configuration loaded.
#[utoipa::path(get, path = "/api/v1/dashboard", tag = "overview",
    responses((status = 200, body = Dashboard)))]
pub async fn dashboard(
    p: Principal,
    State(app): State<Arc<App>>,
) -> Result<Json<Dashboard>, ApiError> {
    let a = app.clone();
    // The metrics walk every component's counters: off the runtime workers.
    let m = tokio::task::spawn_blocking(move || a.server.metrics())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut traffic: BTreeMap<String, Traffic> = BTreeMap::new();
    for family in ["dhcpv4", "dhcpv6"] {
        let ev = |e: &str| m.value("dhcp_events_total", &[("family", family), ("event", e)]);
        let answered = if family == "dhcpv4" {
            ev("offer") + ev("ack") + ev("nak") + ev("inform_ack") + ev("bootp_reply")
        } else {
            ev("advertise") + ev("reply")
        };
        traffic.insert(
            family.into(),
            Traffic {
                received: ev("received"),
                answered,
                dropped: m.value("dhcp_dropped_total", &[("family", family)]),
            },
        );
    }
    traffic.insert(
        "tftp".into(),
        Traffic {
            received: m.value("tftp_events_total", &[("event", "request")]),
            answered: m.value("tftp_events_total", &[("event", "download")]),
            dropped: m.value("tftp_events_total", &[("event", "failed")]),
        },
    );
    let http_ok = m.value("http_responses_total", &[("result", "ok")]);
    let http_err = m.value("http_responses_total", &[("result", "error")]);
    traffic.insert(
        "http".into(),
        Traffic {
            received: http_ok + http_err,
            answered: http_ok,
            dropped: http_err,
        },
    );
    let tod = m.value("tod_requests_total", &[]);
    let tod_dropped = m.value("tod_dropped_total", &[]);
    traffic.insert(
        "tod".into(),
        Traffic {
            received: tod,
            answered: tod.saturating_sub(tod_dropped),
            dropped: tod_dropped,
        },
    );
    traffic.insert(
        "snmp".into(),
        Traffic {
            received: m.value("snmp_events_total", &[("event", "received")]),
            answered: m.value("snmp_events_total", &[("event", "informs_answered")]),
            dropped: m.value("snmp_dropped_total", &[]),
        },
    );
    traffic.insert(
        "syslog".into(),
        Traffic {
            received: m.value("syslog_events_total", &[("event", "received")]),
            answered: m.value("syslog_events_total", &[("event", "mem_event")]),
            dropped: m.value("syslog_dropped_total", &[]),
        },
    );
    let mut plugins: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for s in m.samples().iter().filter(|s| s.name == "plugin_total") {
        let label = |k: &str| s.labels.iter().find(|(n, _)| *n == k).map(|(_, v)| v);
        if let (Some(plugin), Some(counter)) = (label("plugin"), label("counter")) {
            plugins
                .entry(plugin.clone())
                .or_default()
                .insert(counter.clone(), s.value);
        }
    }
    let snap = app.server.snapshot();
    let now = now_ms();
    let mut activity = app.server.timeline().recent(now);
    activity
        .provisioned
        .retain(|d| device_visible(&app, &snap, &p, &d.mac));
    let mut events = app.server.events().received();
    events.reverse();
    events.retain(|e| {
        p.unscoped()
            || e.mac
                .as_deref()
                .is_some_and(|m| device_visible(&app, &snap, &p, m))
    });
    events.truncate(DASHBOARD_EVENTS);
    let loaded_at = app
        .server
        .loaded_at()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(Json(Dashboard {
        now_ms: now,
        config: Loaded {
            path: app.server.config_path().display().to_string(),
            generation: snap.generation,
            loaded_at,
        },
        traffic,
        activity,
        events,
        plugins,
    }))
}

/// One option a policy sets.
#[derive(Serialize, ToSchema)]
pub struct OptionView {
    /// The option's path (`dhcpv4/43/2`, `server/ddns-server`, …).
    pub option: String,
    /// The literal value, when it is one.
    pub value: Option<String>,
    /// The Rhai expression evaluated per packet, when it is one.
    pub expression: Option<String>,
    /// Where the expression is written (file and line).
    pub origin: Option<String>,
}

/// A policy of the running configuration (seed 004 section 5.8).
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    /// Name (`pool:<pool>` for a pool's own policy).
    pub name: String,
    /// Enforced (always sent) or optional (only when requested).
    pub enforced: bool,
    /// Domains it applies to (absent: only where a pool or binding names it).
    pub domains: Option<Vec<String>>,
    /// Its options in file order.
    pub options: Vec<OptionView>,
}

fn policy_view(p: &headend_model::provisioning::Policy) -> PolicyView {
    PolicyView {
        name: p.name.clone(),
        enforced: p.enforced,
        domains: p.domains.clone(),
        options: p
            .options
            .iter()
            .map(|o| match &o.value {
                OptionValue::Static(v) => OptionView {
                    option: o.path.to_string(),
                    value: Some(v.to_string()),
                    expression: None,
                    origin: None,
                },
                OptionValue::Expr(e) => OptionView {
                    option: o.path.to_string(),
                    value: None,
                    expression: Some(e.source().to_string()),
                    origin: Some(format!("{}:{}", e.origin().file.display(), e.origin().line)),
                },
            })
            .collect(),
    }
}

/// Whether a policy belongs to the caller's partition: it names one of its
/// domains, or a pool of them names it.
fn policy_visible(snap: &Snapshot, p: &Principal, i: usize, pol: &PolicyView) -> bool {
    p.unscoped()
        || pol.domains.as_ref().is_some_and(|d| p.sees(d))
        || snap
            .pools
            .iter()
            .any(|pool| pool.policies.contains(&i) && p.sees(&pool.domains))
}

/// The policies of the running configuration with their option values and
/// expressions.
#[utoipa::path(get, path = "/api/v1/policies", tag = "overview",
    responses((status = 200, body = Vec<PolicyView>)))]
pub async fn policies(p: Principal, State(app): State<Arc<App>>) -> Json<Vec<PolicyView>> {
    let snap = app.server.snapshot();
    Json(
        snap.policies
            .iter()
            .enumerate()
            .map(|(i, pol)| (i, policy_view(pol)))
            .filter(|(i, v)| policy_visible(&snap, &p, *i, v))
            .map(|(_, v)| v)
            .collect(),
    )
}

/// A domain of the running configuration and what it reaches.
#[derive(Serialize, ToSchema)]
pub struct DomainView {
    /// Name.
    pub name: String,
    /// Free text from the file.
    pub description: String,
    /// DHCPv4 and DHCPv6 pools open to it.
    pub pools: Vec<String>,
    /// Policies that apply to its members.
    pub policies: Vec<String>,
    /// Accounts the configuration file puts in it.
    pub declared_accounts: usize,
}

/// The domains of the running configuration (seed 004 section 3).
#[utoipa::path(get, path = "/api/v1/domains", tag = "overview",
    responses((status = 200, body = Vec<DomainView>)))]
pub async fn domains(p: Principal, State(app): State<Arc<App>>) -> Json<Vec<DomainView>> {
    let snap = app.server.snapshot();
    let v6 = snap
        .dhcpv6
        .as_ref()
        .map(|d| d.pools.as_slice())
        .unwrap_or(&[]);
    Json(
        snap.domains
            .iter()
            .filter(|d| p.sees(std::slice::from_ref(&d.name)))
            .map(|d| {
                let open = |doms: &[String]| doms.is_empty() || doms.contains(&d.name);
                let pools = snap
                    .pools
                    .iter()
                    .filter(|x| open(&x.domains))
                    .map(|x| x.name.clone())
                    .chain(
                        v6.iter()
                            .filter(|x| open(&x.domains))
                            .map(|x| x.name.clone()),
                    )
                    .collect();
                let policies = snap
                    .policies_by_domain
                    .get(&d.name)
                    .map(|ix| {
                        ix.iter()
                            .filter_map(|i| snap.policies.get(*i).map(|p| p.name.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                DomainView {
                    name: d.name.clone(),
                    description: d.description.clone(),
                    pools,
                    policies,
                    declared_accounts: snap
                        .accounts
                        .values()
                        .filter(|a| a.domains.contains(&d.name))
                        .count(),
                }
            })
            .collect(),
    )
}

/// A configuration file as a device would receive it, decoded.
#[derive(Serialize, ToSchema)]
pub struct FileView {
    /// The device.
    pub mac: String,
    /// The file name asked for.
    pub name: String,
    /// Its size in bytes.
    pub size: usize,
    /// Where it comes from (`static file PATH`, `generated by GENERATOR`).
    pub origin: String,
    /// The generator's config hash (pktcMtaDevProvConfigHash), hex.
    pub config_hash: Option<String>,
    /// One TLV per line, MICs and hash checked (`headend config-file show`).
    pub text: Option<String>,
    /// Why it could not be decoded, when it is not a DOCSIS/PacketCable file.
    pub not_decoded: Option<String>,
}

/// The configuration file `name` as device `mac` would receive it now
/// (same virtual root, mappings, generators and plugins as TFTP/HTTP),
/// decoded one TLV per line.
#[utoipa::path(get, path = "/api/v1/devices/{mac}/files/{name}", tag = "devices",
    params(("mac" = String, Path, description = "device MAC"),
           ("name" = String, Path, description = "file name as requested by TFTP/HTTP")),
    responses((status = 200, body = FileView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn device_file(
    p: Principal,
    State(app): State<Arc<App>>,
    Path((mac, name)): Path<(String, String)>,
) -> Result<Json<FileView>, ApiError> {
    let mac = normalize_mac(&mac)
        .ok_or_else(|| ApiError::bad_request(format!("{mac:?} is not a MAC address")))?;
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::bad_request(
            "the file name must be 1 to 255 bytes",
        ));
    }
    let snap = app.server.snapshot();
    if !device_visible(&app, &snap, &p, &mac) {
        return Err(ApiError::not_found(format!("nothing is known of {mac}")));
    }
    let account = snap
        .accounts
        .get(&mac)
        .cloned()
        .or_else(|| app.server.accounts().get(&mac));
    let server = app.server.clone();
    let (m, n) = (mac.clone(), name.clone());
    // Generators and plugins run here: on a blocking thread.
    let served = tokio::task::spawn_blocking(move || {
        let dc = headend_server::configsrv::DeviceContext::from_parts(
            headend_abi::Protocol::Lease,
            &m,
            account.as_ref(),
            None,
            None,
        );
        headend_server::configsrv::resolve_file(
            &server.snapshot(),
            server.config_server().generators(),
            &dc,
            &n,
        )
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::not_found(format!("{name} for {mac}: {e}")))?;
    let secret = snap.config_server.files.cmts_secret.clone();
    let (text, not_decoded) = match headend_config_file::decode(&served.bytes, secret.as_deref()) {
        Ok(f) => (Some(headend_config_file::to_text(&f)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(Json(FileView {
        mac,
        name,
        size: served.bytes.len(),
        origin: match &served.origin {
            headend_server::configsrv::files::Origin::Static(p) => {
                format!("static file {}", p.display())
            }
            headend_server::configsrv::files::Origin::Generated { generator, .. } => {
                format!("generated by {generator}")
            }
        },
        config_hash: served.config_hash.as_deref().map(headend_store::hex_colon),
        text,
        not_decoded,
    }))
}
