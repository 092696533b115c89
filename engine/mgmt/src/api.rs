//! The REST API, `/api/v1` (issue 13 "API"): accounts and their domain
//! memberships (seed 004 sections 2, 3.6), lease and binding searches,
//! one device's whole picture, pool utilisation, the configuration
//! (validate, reload, show, explain), users and API tokens, the audit log,
//! the event stream, `/metrics`, and the OpenAPI document generated from
//! these handlers (utoipa).
//!
//! Every handler takes a [`Principal`]: the role says what it may do, the
//! domain scope what it may see. Every change is committed with its audit
//! entry in one durable batch before it is answered.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use headend_model::snapshot::{canonical_domain, normalize_mac, parse_hex, Snapshot};
use headend_store::{
    hex_colon, Account, AccountSource, ClientKey, Lease4, Lease6, LeaseState, Mutation,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::audit::{self, AuditEntry, AuditQuery};
use crate::auth::{peer_of, Principal};
use crate::error::{problems, ApiError, ConfigProblem};
use crate::users::{self, Role};
use crate::App;

/// Records a lease search examines per call before it returns a cursor.
pub const SCAN_MAX: usize = 200_000;

/// One page of a search over a key-ordered store table: from `after`, the
/// records `keep` accepts, up to `limit`, ending at the first one
/// `past_end`, examining at most [`SCAN_MAX`]. The cursor to continue from:
/// the last kept record's key when the page is full, the last examined
/// one's when the budget ran out, none at the end of the table.
fn scan<T, K>(
    mut after: Option<K>,
    limit: usize,
    mut fetch: impl FnMut(Option<&K>) -> Result<Vec<T>, headend_store::StoreError>,
    key: impl Fn(&T) -> K,
    past_end: impl Fn(&T) -> bool,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, Option<K>), headend_store::StoreError> {
    let mut out = Vec::new();
    let mut scanned = 0;
    while scanned < SCAN_MAX {
        let page = fetch(after.as_ref())?;
        if page.is_empty() {
            return Ok((out, None));
        }
        for t in page {
            scanned += 1;
            after = Some(key(&t));
            if past_end(&t) {
                return Ok((out, None));
            }
            if keep(&t) {
                out.push(t);
                if out.len() >= limit {
                    return Ok((out, after));
                }
            }
        }
    }
    Ok((out, after))
}

// ---------------------------------------------------------------- extractors

/// A JSON body whose rejection (malformed, wrong type, unknown field, too
/// large) is an [`ApiError`] like every other.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(e)) => Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                ..ApiError::bad_request(e.body_text())
            }),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// Query parameters, rejected like [`Body`].
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

// ---------------------------------------------------------------- router

/// The API's routes over `app`.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.settings.max_body_bytes;
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/accounts", get(list_accounts).post(create_account))
        .route(
            "/api/v1/accounts/{id}",
            get(get_account).put(update_account).delete(delete_account),
        )
        .route("/api/v1/fixed4", get(list_fixed).post(create_fixed))
        .route(
            "/api/v1/fixed4/{client}/{relay}",
            axum::routing::delete(delete_fixed),
        )
        .route("/api/v1/reservations6", get(list_res6).post(create_res6))
        .route(
            "/api/v1/reservations6/{address}/{len}",
            axum::routing::delete(delete_res6),
        )
        .route("/api/v1/leases", get(search_leases))
        .route("/api/v1/leases6", get(search_leases6))
        .route("/api/v1/devices/{mac}", get(device))
        .route("/api/v1/pools", get(pools))
        .route("/api/v1/config", get(config_show))
        .route("/api/v1/config/validate", post(config_validate))
        .route("/api/v1/config/reload", post(config_reload))
        .route("/api/v1/explain", post(explain))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{name}", axum::routing::delete(delete_user))
        .route("/api/v1/users/{name}/tokens", post(create_token))
        .route("/api/v1/audit", get(read_audit))
        .route("/api/v1/events", get(events))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/dashboard", get(crate::overview::dashboard))
        .route("/api/v1/domains", get(crate::overview::domains))
        .route("/api/v1/policies", get(crate::overview::policies))
        .route(
            "/api/v1/devices/{mac}/files/{name}",
            get(crate::overview::device_file),
        )
        .route("/", get(crate::console::root))
        .route("/console", get(crate::console::root))
        .route("/console/", get(crate::console::index))
        .route("/console/app.js", get(crate::console::script))
        .route("/console/app.css", get(crate::console::style))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint; see /api/v1/openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                ..ApiError::bad_request("method not allowed on this endpoint")
            }
        })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_responses,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Counts every response by class, and audits every refused attempt to
/// change something (a 4xx answer to POST, PUT or DELETE: malformed JSON,
/// unknown fields, oversized bodies, bad ids, forbidden actions) — failed
/// logins are audited by the login itself. A flood of refusals is audited
/// up to [`REFUSALS_AUDITED_PER_MINUTE`], then only counted.
async fn count_responses(
    State(app): State<Arc<App>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let from = req
        .extensions()
        .get::<crate::auth::Peer>()
        .map(|p| p.0.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    let resp = next.run(req).await;
    let status = resp.status();
    let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
    app.counters.responses[class].fetch_add(1, Ordering::Relaxed);
    let changing = matches!(
        method,
        axum::http::Method::POST | axum::http::Method::PUT | axum::http::Method::DELETE
    );
    if changing && status.is_client_error() && path != "/api/v1/login" {
        if app.refusal_audit_allowed() {
            let user = secret
                .and_then(|t| app.user_of_secret(&t))
                .unwrap_or_else(|| "-".into());
            let e = audit::entry(
                &user,
                &from,
                "request.refused",
                &path,
                "refused",
                Value::Null,
                Value::Null,
            )
            .because(format!("{method} answered {status}"));
            app.server.committer().submit_nowait(vec![e.mutation()]);
        } else {
            app.counters
                .refusals_unaudited
                .fetch_add(1, Ordering::Relaxed);
        }
    }
    resp
}

/// Refused requests audited per minute at most (the rest are counted).
pub const REFUSALS_AUDITED_PER_MINUTE: u32 = 600;

// ---------------------------------------------------------------- login

/// Credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// A session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Seconds the session lasts.
    pub expires_in: u64,
    /// The user.
    pub user: String,
    /// Its role.
    pub role: Role,
    /// Its domain scope (empty: all).
    pub domains: Vec<String>,
}

/// Logs in; failures are audited and limited per source address.
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
async fn login(
    State(app): State<Arc<App>>,
    parts: axum::http::request::Parts,
    Body(req): Body<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let from = peer_of(&parts);
    let ip = parts
        .extensions
        .get::<crate::auth::Peer>()
        .map(|p| p.0.ip())
        .unwrap_or(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let audit_fail = |outcome: &str, why: &str| {
        audit::entry(
            &req.user,
            &from,
            "login.failed",
            &req.user,
            outcome,
            Value::Null,
            Value::Null,
        )
        .because(why)
    };
    if !app.sessions.login_allowed(ip) {
        app.counters.login_limited.fetch_add(1, Ordering::Relaxed);
        let e = audit_fail("refused", "too many failed logins from this address");
        app.server.committer().submit_nowait(vec![e.mutation()]);
        return Err(ApiError::too_many(
            "too many failed logins from this address; wait a minute",
        ));
    }
    let user = users::get(&**app.server.store(), &req.user)?;
    let password = req.password.clone();
    // argon2 takes tens of milliseconds of CPU: off the runtime workers.
    let phc = user.as_ref().map(|u| u.password.clone());
    let ok = tokio::task::spawn_blocking(move || match phc {
        Some(p) => users::verify_password(&p, &password),
        None => {
            // The same work for an unknown name: no timing oracle.
            let _ = users::verify_password(DUMMY_PHC, &password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let Some(user) = user.filter(|_| ok) else {
        app.sessions.login_failed(ip);
        app.counters.login_failures.fetch_add(1, Ordering::Relaxed);
        app.server.committer().submit_nowait(vec![audit_fail(
            "refused",
            "bad user name or password",
        )
        .mutation()]);
        return Err(ApiError::unauthorized("bad user name or password"));
    };
    let (token, ttl) = app.sessions.open(&user.name)?;
    let e = audit::entry(
        &user.name,
        &from,
        "login",
        &user.name,
        "ok",
        Value::Null,
        Value::Null,
    );
    app.server.committer().submit_nowait(vec![e.mutation()]);
    Ok(Json(LoginResponse {
        token,
        expires_in: ttl.as_secs(),
        user: user.name,
        role: user.role,
        domains: user.domains,
    }))
}

/// A valid argon2id hash of a random password, verified against for
/// unknown user names.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$M1Dk4bRX9Q6mBTPZ8KeP3x7oNwJqvA6H8o9S3Rk2qZk";

/// Ends the session of the token sent.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session", responses((status = 204)))]
async fn logout(
    _p: Principal,
    State(app): State<Arc<App>>,
    parts: axum::http::request::Parts,
) -> StatusCode {
    if let Some(t) = crate::auth::bearer(&parts) {
        app.sessions.close(t);
    }
    StatusCode::NO_CONTENT
}

/// Who the token belongs to.
#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    /// User.
    pub user: String,
    /// Role.
    pub role: Role,
    /// Domain scope (empty: all).
    pub domains: Vec<String>,
}

/// The caller's user, role and scope.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "session", responses((status = 200, body = WhoAmI)))]
async fn whoami(p: Principal) -> Json<WhoAmI> {
    Json(WhoAmI {
        user: p.user,
        role: p.role,
        domains: p.domains,
    })
}

// ---------------------------------------------------------------- accounts

/// An account as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountView {
    /// The account key (normally the device MAC).
    pub id: String,
    /// Domain memberships, in priority order.
    pub domains: Vec<String>,
    /// Attributes expressions and plugins read.
    pub attributes: BTreeMap<String, String>,
    /// Creation time (Unix seconds).
    pub created: u64,
    /// `config`, `auto` or `operator`.
    pub source: String,
    /// Declared in the configuration file: change it there.
    pub read_only: bool,
}

fn view(a: &Account, from_config: bool) -> AccountView {
    AccountView {
        id: a.id.clone(),
        domains: a.domains.clone(),
        attributes: a.attributes.clone(),
        created: a.created,
        source: match a.source {
            AccountSource::Config => "config",
            AccountSource::AutoProvisioned => "auto",
            AccountSource::Operator => "operator",
        }
        .into(),
        read_only: from_config,
    }
}

/// Account listing filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccountQuery {
    /// Only members of this domain.
    pub domain: Option<String>,
    /// Only accounts from this source (`config`, `auto`, `operator`).
    pub source: Option<String>,
    /// Only ids starting with this.
    pub prefix: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A page of accounts.
#[derive(Serialize, ToSchema)]
pub struct AccountPage {
    /// Accounts in id order.
    pub accounts: Vec<AccountView>,
    /// Pass as `after` for the next page; absent at the end.
    pub next: Option<String>,
}

/// Lists accounts (configuration-declared first, then stored), filtered.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(AccountQuery),
    responses((status = 200, body = AccountPage)))]
async fn list_accounts(
    p: Principal,
    State(app): State<Arc<App>>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<AccountPage>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let snap = app.server.snapshot();
    let domain = q.domain.as_deref().map(canonical_domain);
    let keep = |a: &Account, src: &str| {
        p.sees(&a.domains)
            && domain.as_ref().is_none_or(|d| a.domains.contains(d))
            && q.source.as_deref().is_none_or(|s| s == src)
            && q.prefix.as_deref().is_none_or(|x| a.id.starts_with(x))
    };
    let mut out: Vec<AccountView> = Vec::new();
    // Declared accounts first (few), on the first page only.
    if q.after.is_none() {
        let mut declared: Vec<&Account> = snap
            .accounts
            .values()
            .filter(|a| keep(a, "config"))
            .collect();
        declared.sort_by(|a, b| a.id.cmp(&b.id));
        out.extend(declared.into_iter().map(|a| view(a, true)));
    }
    let store = app.server.store().clone();
    // A prefix starts the scan just below its first possible id.
    let after = q.after.clone().or_else(|| {
        q.prefix.as_ref().and_then(|p| {
            let mut s = p.clone();
            s.pop();
            (!s.is_empty()).then_some(s)
        })
    });
    let prefix = q.prefix.as_deref();
    let (stored, next) = scan(
        after,
        limit.saturating_sub(out.len()),
        |after| store.scan_accounts(after.map(String::as_str), 1000),
        |a| a.id.clone(),
        |a| prefix.is_some_and(|x| a.id.as_str() > x && !a.id.starts_with(x)),
        // A declaration wins and is listed above.
        |a| !snap.accounts.contains_key(&a.id) && keep(a, &view(a, false).source),
    )?;
    out.extend(stored.iter().map(|a| view(a, false)));
    Ok(Json(AccountPage {
        accounts: out,
        next,
    }))
}

/// A new or changed account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    /// The account key (POST only; a MAC or a client id in hex).
    pub id: Option<String>,
    /// Domain memberships, in priority order (declared domains only).
    pub domains: Vec<String>,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

fn check_domains(
    snap: &Snapshot,
    p: &Principal,
    domains: &[String],
) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for d in domains {
        let c = canonical_domain(d);
        if !snap.has_domain(&c) {
            return Err(ApiError::bad_request(format!(
                "domain {d:?} is not declared in the configuration"
            )));
        }
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if !p.owns_all(&out) {
        return Err(ApiError::forbidden(format!(
            "{} may assign only the domains {:?}",
            p.user, p.domains
        )));
    }
    Ok(out)
}

fn check_attributes(a: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if a.len() > 64
        || a.iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 1024)
    {
        return Err(ApiError::bad_request(
            "at most 64 attributes, keys 1 to 64 bytes, values up to 1024 bytes",
        ));
    }
    Ok(())
}

fn account_id(raw: &str) -> Result<String, ApiError> {
    headend_model::snapshot::account_id(raw).ok_or_else(|| {
        ApiError::bad_request(format!(
            "account id {raw:?} is neither a MAC address nor a client id in hex"
        ))
    })
}

async fn change_account(
    app: &App,
    p: &Principal,
    action: &str,
    before: Option<&Account>,
    after: Option<&Account>,
) -> Result<(), ApiError> {
    let id = after.or(before).map(|a| a.id.clone()).unwrap_or_default();
    let entry = audit::entry(
        &p.user,
        &p.from,
        action,
        &id,
        "ok",
        serde_json::to_value(before).unwrap_or(Value::Null),
        serde_json::to_value(after).unwrap_or(Value::Null),
    );
    let mut batch = vec![entry.mutation()];
    batch.push(match after {
        Some(a) => Mutation::PutAccount(a.clone()),
        None => Mutation::DeleteAccount(id.clone()),
    });
    app.commit(batch).await?;
    // Durable: the next exchange of the device sees it.
    match after {
        Some(a) => app.server.accounts().put(a.clone()),
        None => {
            app.server.accounts().remove(&id);
        }
    }
    let kind = match action {
        "account.create" => "account.created",
        "account.delete" => "account.deleted",
        _ => "account.changed",
    };
    app.server.bus().publish(
        kind,
        Some(&id),
        json!({ "account": id, "domains": after.map(|a| a.domains.clone()),
                "before": before.map(|a| a.domains.clone()), "by": p.user }),
    );
    Ok(())
}

/// Creates an account (manual provisioning, seed 004 section 3.6).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = AccountBody,
    responses((status = 201, body = AccountView), (status = 409, body = crate::error::ErrorBody)))]
async fn create_account(
    p: Principal,
    State(app): State<Arc<App>>,
    Body(b): Body<AccountBody>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    p.require(Role::Operator)?;
    let snap = app.server.snapshot();
    let id = account_id(
        b.id.as_deref()
            .ok_or_else(|| ApiError::bad_request("id is required"))?,
    )?;
    let domains = check_domains(&snap, &p, &b.domains)?;
    check_attributes(&b.attributes)?;
    if snap.accounts.contains_key(&id) || app.server.accounts().get(&id).is_some() {
        return Err(ApiError::conflict(format!("account {id} exists")));
    }
    let acc = Account {
        id,
        domains,
        attributes: b.attributes,
        created: app.server.now(),
        source: AccountSource::Operator,
    };
    change_account(&app, &p, "account.create", None, Some(&acc)).await?;
    Ok((StatusCode::CREATED, Json(view(&acc, false))))
}

fn find_account(app: &App, p: &Principal, raw: &str) -> Result<(Account, bool), ApiError> {
    let id = account_id(raw)?;
    let snap = app.server.snapshot();
    let (a, cfg) = match snap.accounts.get(&id) {
        Some(a) => (a.clone(), true),
        None => (
            app.server
                .accounts()
                .get(&id)
                .ok_or_else(|| ApiError::not_found(format!("no account {id}")))?,
            false,
        ),
    };
    if !p.sees(&a.domains) {
        // Outside the caller's partition: as if it did not exist.
        return Err(ApiError::not_found(format!("no account {id}")));
    }
    Ok((a, cfg))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "MAC or client id")),
    responses((status = 200, body = AccountView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_account(
    p: Principal,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let (a, cfg) = find_account(&app, &p, &id)?;
    Ok(Json(view(&a, cfg)))
}

/// Replaces an account's domains and attributes: a move between domains
/// takes effect at the device's next exchange (a renewal from a pool of a
/// domain it left is NAKed, seed 004 section 3.1).
#[utoipa::path(put, path = "/api/v1/accounts/{id}", tag = "accounts", request_body = AccountBody,
    params(("id" = String, Path, description = "MAC or client id")),
    responses((status = 200, body = AccountView), (status = 403, body = crate::error::ErrorBody)))]
async fn update_account(
    p: Principal,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Body(b): Body<AccountBody>,
) -> Result<Json<AccountView>, ApiError> {
    p.require(Role::Operator)?;
    let (before, cfg) = find_account(&app, &p, &id)?;
    if cfg {
        return Err(ApiError::conflict(format!(
            "account {} is declared in {}: change it there and reload",
            before.id,
            app.server.config_path().display()
        )));
    }
    if b.id
        .as_deref()
        .is_some_and(|i| account_id(i).ok().as_deref() != Some(&before.id))
    {
        return Err(ApiError::bad_request(
            "the body's id differs from the path's",
        ));
    }
    let snap = app.server.snapshot();
    let domains = check_domains(&snap, &p, &b.domains)?;
    check_attributes(&b.attributes)?;
    // A scoped operator may not take away domains outside its partition.
    let removed: Vec<String> = before
        .domains
        .iter()
        .filter(|d| !domains.contains(d))
        .cloned()
        .collect();
    if !p.owns_all(&removed) {
        return Err(ApiError::forbidden(format!(
            "{} may not remove the domains {removed:?}",
            p.user
        )));
    }
    let after = Account {
        domains,
        attributes: b.attributes,
        source: AccountSource::Operator,
        ..before.clone()
    };
    change_account(&app, &p, "account.update", Some(&before), Some(&after)).await?;
    Ok(Json(view(&after, false)))
}

/// Deletes a stored account (the device is auto-provisioned anew at its
/// next exchange, when the configuration says so).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}", tag = "accounts",
    params(("id" = String, Path, description = "MAC or client id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_account(
    p: Principal,
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Operator)?;
    let (before, cfg) = find_account(&app, &p, &id)?;
    if cfg {
        return Err(ApiError::conflict(format!(
            "account {} is declared in the configuration file: remove it there",
            before.id
        )));
    }
    if !p.owns_all(&before.domains) {
        return Err(ApiError::forbidden(
            "the account is also in domains outside your scope",
        ));
    }
    change_account(&app, &p, "account.delete", Some(&before), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- fixed bindings

/// A fixed address binding (seed 004 section 5.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct FixedView {
    /// The client key in hex (`01:` + MAC for a MAC binding).
    pub client: String,
    /// The MAC, for a MAC binding.
    pub mac: Option<String>,
    /// The relay it applies to (0.0.0.0: local segment).
    pub relay: String,
    /// The reserved address.
    pub ip: String,
    /// Host name sent with it.
    pub hostname: Option<String>,
    /// Extra policies.
    pub policies: Vec<String>,
    /// Declared in the configuration file: change it there.
    pub read_only: bool,
}

fn fixed_view(f: &headend_store::FixedBinding4, from_config: bool) -> FixedView {
    let mac = (f.client.0.len() == 7 && f.client.0.first() == Some(&1))
        .then(|| hex_colon(f.client.0.get(1..).unwrap_or_default()));
    FixedView {
        client: f.client.to_hex(),
        mac,
        relay: f.relay.to_string(),
        ip: f.ip.to_string(),
        hostname: f.hostname.clone(),
        policies: f.policies.clone(),
        read_only: from_config,
    }
}

/// A new fixed binding.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedBody {
    /// The device MAC (or give `client_id`).
    pub mac: Option<String>,
    /// The option 61 client identifier in hex (or give `mac`).
    pub client_id: Option<String>,
    /// The relay it applies to (`0.0.0.0`: local segment).
    #[schema(value_type = String)]
    pub relay: Ipv4Addr,
    /// The address to reserve.
    #[schema(value_type = String)]
    pub ip: Ipv4Addr,
    /// Host name to send.
    pub hostname: Option<String>,
    /// Extra policies (declared in the file).
    #[serde(default)]
    pub policies: Vec<String>,
}

/// Whether `p` may see or change a binding of `ip` (its pool is in the scope).
fn fixed_visible(snap: &Snapshot, p: &Principal, ip: Ipv4Addr) -> bool {
    p.unscoped()
        || snap
            .pools
            .iter()
            .find(|pool| pool.contains(ip))
            .is_some_and(|pool| p.sees(&pool.domains))
}

/// Every fixed binding: the file's (read-only) and the operators'.
#[utoipa::path(get, path = "/api/v1/fixed4", tag = "bindings", responses((status = 200, body = Vec<FixedView>)))]
async fn list_fixed(p: Principal, State(app): State<Arc<App>>) -> Json<Vec<FixedView>> {
    let snap = app.server.snapshot();
    let mut v: Vec<FixedView> = snap
        .fixed
        .iter()
        .filter(|(_, f)| fixed_visible(&snap, &p, f.binding.ip))
        .map(|(k, f)| fixed_view(&f.binding, !snap.stored_fixed.contains(k)))
        .collect();
    v.sort_by(|a, b| (&a.ip, &a.client).cmp(&(&b.ip, &b.client)));
    Json(v)
}

/// Reserves an address for a client on a relay: validated against the
/// other bindings, the policies and the address's current lease; the
/// client's next exchange gets it.
#[utoipa::path(post, path = "/api/v1/fixed4", tag = "bindings", request_body = FixedBody,
    responses((status = 201, body = FixedView), (status = 409, body = crate::error::ErrorBody)))]
async fn create_fixed(
    p: Principal,
    State(app): State<Arc<App>>,
    Body(b): Body<FixedBody>,
) -> Result<(StatusCode, Json<FixedView>), ApiError> {
    p.require(Role::Operator)?;
    let client = match (&b.mac, &b.client_id) {
        (Some(m), None) => ClientKey::from_hardware(1, &mac_bytes(m)?),
        (None, Some(c)) => ClientKey(
            parse_hex(c)
                .filter(|v| !v.is_empty() && v.len() <= headend_store::MAX_CLIENT_KEY_LEN)
                .ok_or_else(|| ApiError::bad_request(format!("client_id {c:?} is not hex")))?,
        ),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of mac and client_id",
            ))
        }
    };
    if b.hostname
        .as_ref()
        .is_some_and(|h| h.is_empty() || h.len() > 255)
    {
        return Err(ApiError::bad_request("hostname must be 1 to 255 bytes"));
    }
    let f = headend_store::FixedBinding4 {
        client,
        relay: b.relay,
        ip: b.ip,
        hostname: b.hostname,
        policies: b.policies,
    };
    let snap = app.server.snapshot();
    if !fixed_visible(&snap, &p, f.ip) {
        return Err(ApiError::forbidden(format!(
            "{} is not in a pool of your domains",
            f.ip
        )));
    }
    snap.check_new_fixed(&f).map_err(ApiError::conflict)?;
    if let Some(l) = app.server.store().lease4(f.ip)? {
        if l.client != f.client && l.state != LeaseState::Released && l.is_current(app.server.now())
        {
            return Err(ApiError::conflict(format!(
                "{} is leased to {} until {:?}; wait for it to end or pick another address",
                f.ip,
                hex_colon(&l.hwaddr),
                l.expires_at()
            )));
        }
    }
    let entry = audit::entry(
        &p.user,
        &p.from,
        "fixed4.create",
        &f.ip.to_string(),
        "ok",
        Value::Null,
        serde_json::to_value(fixed_view(&f, false)).unwrap_or(Value::Null),
    );
    app.commit(vec![entry.mutation(), Mutation::PutFixed4(f.clone())])
        .await?;
    let mut list = app.server.stored_fixed();
    list.retain(|o| (&o.client, o.relay) != (&f.client, f.relay));
    list.push(f.clone());
    app.server.set_stored_fixed(list);
    Ok((StatusCode::CREATED, Json(fixed_view(&f, false))))
}

/// Removes an operator's fixed binding (`client` in hex, or a MAC).
#[utoipa::path(delete, path = "/api/v1/fixed4/{client}/{relay}", tag = "bindings",
    params(("client" = String, Path, description = "MAC or client id in hex"),
           ("relay" = String, Path, description = "relay address")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_fixed(
    p: Principal,
    State(app): State<Arc<App>>,
    Path((client, relay)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Operator)?;
    let relay: Ipv4Addr = relay
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{relay:?} is not an IPv4 address")))?;
    let client = match normalize_mac(&client).and_then(|m| parse_hex(&m)) {
        Some(mac) if mac.len() == 6 => ClientKey::from_hardware(1, &mac),
        _ => ClientKey(parse_hex(&client).ok_or_else(|| {
            ApiError::bad_request(format!("{client:?} is neither a MAC nor hex"))
        })?),
    };
    let snap = app.server.snapshot();
    let key = (client.clone(), relay);
    let Some(f) = snap.fixed.get(&key) else {
        return Err(ApiError::not_found(
            "no fixed binding for this client on this relay",
        ));
    };
    if !fixed_visible(&snap, &p, f.binding.ip) {
        return Err(ApiError::not_found(
            "no fixed binding for this client on this relay",
        ));
    }
    if !snap.stored_fixed.contains(&key) {
        return Err(ApiError::conflict(
            "this binding is declared in the configuration file: remove it there",
        ));
    }
    let entry = audit::entry(
        &p.user,
        &p.from,
        "fixed4.delete",
        &f.binding.ip.to_string(),
        "ok",
        serde_json::to_value(fixed_view(&f.binding, false)).unwrap_or(Value::Null),
        Value::Null,
    );
    app.commit(vec![
        entry.mutation(),
        Mutation::DeleteFixed4 {
            client: client.clone(),
            relay,
        },
    ])
    .await?;
    let mut list = app.server.stored_fixed();
    list.retain(|o| (&o.client, o.relay) != (&client, relay));
    app.server.set_stored_fixed(list);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- DHCPv6 reservations

/// A DHCPv6 reservation (an address or a delegated prefix kept for one client).
#[derive(Debug, Serialize, ToSchema)]
pub struct Reservation6View {
    /// The client's DUID in hex, when named by DUID.
    pub duid: Option<String>,
    /// The device MAC, when named by MAC.
    pub mac: Option<String>,
    /// `address/length` (128: an IA_NA address; less: an IA_PD prefix).
    pub resource: String,
    /// The `[[pool6]]` it lies in.
    pub pool: Option<String>,
}

/// A new DHCPv6 reservation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reservation6Body {
    /// The client's DUID in hex (or give `mac`).
    pub duid: Option<String>,
    /// The device MAC (or give `duid`).
    pub mac: Option<String>,
    /// The address, or the first address of the prefix.
    #[schema(value_type = String)]
    pub address: Ipv6Addr,
    /// 128 for an address (default); the pool's delegated length for a prefix.
    pub prefix_len: Option<u8>,
}

fn pool6_of<'a>(
    snap: &'a Snapshot,
    k: &headend_store::Lease6Key,
) -> Option<&'a headend_model::v6::Pool6> {
    snap.dhcpv6.as_ref()?.pools.iter().find(|p| {
        p.prefix.contains(&k.address)
            && (k.prefix_len == 128) == (p.kind == headend_model::v6::Pool6Kind::Na)
    })
}

fn res6_view(snap: &Snapshot, r: &headend_store::Reservation6) -> Reservation6View {
    Reservation6View {
        duid: r.duid.as_deref().map(hex_colon),
        mac: r.mac.clone(),
        resource: format!("{}/{}", r.address, r.prefix_len),
        pool: pool6_of(snap, &r.key()).map(|p| p.name.clone()),
    }
}

fn res6_visible(snap: &Snapshot, p: &Principal, k: &headend_store::Lease6Key) -> bool {
    p.unscoped() || pool6_of(snap, k).is_some_and(|pool| p.sees(&pool.domains))
}

/// Every DHCPv6 reservation.
#[utoipa::path(get, path = "/api/v1/reservations6", tag = "bindings",
    responses((status = 200, body = Vec<Reservation6View>)))]
async fn list_res6(p: Principal, State(app): State<Arc<App>>) -> Json<Vec<Reservation6View>> {
    let snap = app.server.snapshot();
    Json(
        snap.reservations6
            .all()
            .into_iter()
            .filter(|r| res6_visible(&snap, &p, &r.key()))
            .map(|r| res6_view(&snap, r))
            .collect(),
    )
}

/// Reserves an address or a prefix for a client (by DUID or MAC):
/// validated against the pools, the other reservations and the current
/// binding; the client's next exchange gets it, and no other client does.
#[utoipa::path(post, path = "/api/v1/reservations6", tag = "bindings", request_body = Reservation6Body,
    responses((status = 201, body = Reservation6View), (status = 409, body = crate::error::ErrorBody)))]
async fn create_res6(
    p: Principal,
    State(app): State<Arc<App>>,
    Body(b): Body<Reservation6Body>,
) -> Result<(StatusCode, Json<Reservation6View>), ApiError> {
    p.require(Role::Operator)?;
    let duid = b
        .duid
        .as_deref()
        .map(|d| {
            parse_hex(d)
                .filter(|v| (3..=headend_store::MAX_DUID_LEN).contains(&v.len()))
                .ok_or_else(|| ApiError::bad_request(format!("duid {d:?} is not a DUID in hex")))
        })
        .transpose()?;
    let mac = b
        .mac
        .as_deref()
        .map(|m| {
            normalize_mac(m)
                .ok_or_else(|| ApiError::bad_request(format!("{m:?} is not a MAC address")))
        })
        .transpose()?;
    let r = headend_store::Reservation6 {
        duid,
        mac,
        address: b.address,
        prefix_len: b.prefix_len.unwrap_or(128),
    };
    let snap = app.server.snapshot();
    snap.check_new_reservation6(&r)
        .map_err(ApiError::conflict)?;
    if !res6_visible(&snap, &p, &r.key()) {
        return Err(ApiError::forbidden(
            "the reserved resource is not in a pool of your domains",
        ));
    }
    if let Some(l) = app.server.store().lease6(r.key())? {
        let mine = r.is_for(&l.duid, l.mac.as_deref().map(hex_colon).as_deref());
        if !mine && l.state == LeaseState::Active && l.is_current(app.server.now()) {
            return Err(ApiError::conflict(format!(
                "{}/{} is bound to DUID {} until {:?}",
                r.address,
                r.prefix_len,
                hex_colon(&l.duid),
                l.expires_at()
            )));
        }
    }
    let shown = res6_view(&snap, &r);
    let key = format!("{}/{}", r.address, r.prefix_len);
    let entry = audit::entry(
        &p.user,
        &p.from,
        "reservation6.create",
        &key,
        "ok",
        Value::Null,
        serde_json::to_value(&shown).unwrap_or(Value::Null),
    );
    app.commit(vec![
        entry.mutation(),
        Mutation::PutRecord {
            table: headend_store::RecordTable::Reservations6,
            key,
            value: serde_json::to_vec(&r).map_err(|e| ApiError::internal(e.to_string()))?,
        },
    ])
    .await?;
    let mut list = app.server.reservations6();
    list.push(r);
    app.server.set_reservations6(list);
    Ok((StatusCode::CREATED, Json(shown)))
}

/// Removes a DHCPv6 reservation.
#[utoipa::path(delete, path = "/api/v1/reservations6/{address}/{len}", tag = "bindings",
    params(("address" = String, Path, description = "address or prefix"),
           ("len" = u8, Path, description = "128, or the prefix length")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_res6(
    p: Principal,
    State(app): State<Arc<App>>,
    Path((address, len)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Operator)?;
    let k = parse_key6(&format!("{address}/{len}"))?;
    let snap = app.server.snapshot();
    let Some(r) = snap.reservations6.get(&k).cloned() else {
        return Err(ApiError::not_found("no reservation of this resource"));
    };
    if !res6_visible(&snap, &p, &k) {
        return Err(ApiError::not_found("no reservation of this resource"));
    }
    let key = format!("{}/{}", k.address, k.prefix_len);
    let entry = audit::entry(
        &p.user,
        &p.from,
        "reservation6.delete",
        &key,
        "ok",
        serde_json::to_value(res6_view(&snap, &r)).unwrap_or(Value::Null),
        Value::Null,
    );
    app.commit(vec![
        entry.mutation(),
        Mutation::DeleteRecord {
            table: headend_store::RecordTable::Reservations6,
            key,
        },
    ])
    .await?;
    let mut list = app.server.reservations6();
    list.retain(|x| x.key() != k);
    app.server.set_reservations6(list);
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- leases

/// DHCPv4 lease search. With `ip`, `mac`, `client` or `relay` the store's
/// indexes answer; otherwise the leases are scanned in address order.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LeaseQuery {
    /// The leased address.
    #[param(value_type = Option<String>)]
    pub ip: Option<Ipv4Addr>,
    /// The device MAC (its hardware client key).
    pub mac: Option<String>,
    /// The client identifier (option 61) in hex.
    pub client: Option<String>,
    /// The relay agent address.
    #[param(value_type = Option<String>)]
    pub relay: Option<Ipv4Addr>,
    /// Only from this pool.
    pub pool: Option<String>,
    /// Only from pools open to this domain.
    pub domain: Option<String>,
    /// `active`, `expired`, `released` or `declined`.
    pub state: Option<String>,
    /// The previous page's `next` (an address).
    #[param(value_type = Option<String>)]
    pub after: Option<Ipv4Addr>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A DHCPv4 lease.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeaseView {
    /// Address.
    pub ip: String,
    /// Hardware address.
    pub mac: String,
    /// Client key.
    pub client: String,
    /// `active`, `expired`, `released` or `declined`.
    pub state: String,
    /// Pool.
    pub pool: String,
    /// Relay agent (0.0.0.0: local).
    pub relay: String,
    /// Last obtained or extended (Unix seconds).
    pub commit_time: u64,
    /// End (Unix seconds; absent: never).
    pub expires: Option<u64>,
    /// Host name.
    pub hostname: Option<String>,
}

fn lease_view(l: &Lease4, now: u64) -> LeaseView {
    LeaseView {
        ip: l.ip.to_string(),
        mac: hex_colon(&l.hwaddr),
        client: l.client.to_hex(),
        state: l.status(now).into(),
        pool: l.pool.clone(),
        relay: l.relay.to_string(),
        commit_time: l.commit_time,
        expires: l.expires_at(),
        hostname: l.hostname.clone(),
    }
}

/// A page of leases.
#[derive(Serialize, ToSchema)]
pub struct LeasePage<T> {
    /// Matches, in key order.
    pub leases: Vec<T>,
    /// Pass as `after` for more; absent at the end.
    pub next: Option<String>,
}

/// The domains of pool `name` (v4 or v6); `None` for an unknown pool (a
/// fixed binding's pseudo-pool, a removed pool).
fn pool_domains(snap: &Snapshot, name: &str) -> Option<Vec<String>> {
    snap.pools
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.domains.clone())
        .or_else(|| {
            snap.dhcpv6
                .as_ref()
                .and_then(|d| d.pools.iter().find(|p| p.name == name))
                .map(|p| p.domains.clone())
        })
}

/// Whether a lease from `pool` is visible to `p` and in `domain`.
fn pool_visible(snap: &Snapshot, p: &Principal, pool: &str, domain: Option<&str>) -> bool {
    let doms = pool_domains(snap, pool).unwrap_or_default();
    p.sees(&doms)
        && domain.is_none_or(|d| {
            doms.is_empty()
                || doms
                    .iter()
                    .any(|x| x == d || x == headend_model::snapshot::ALL_DEVICES)
        })
}

fn mac_bytes(s: &str) -> Result<Vec<u8>, ApiError> {
    normalize_mac(s)
        .and_then(|m| parse_hex(&m))
        .ok_or_else(|| ApiError::bad_request(format!("{s:?} is not a MAC address")))
}

/// Searches DHCPv4 leases.
#[utoipa::path(get, path = "/api/v1/leases", tag = "leases", params(LeaseQuery),
    responses((status = 200, body = LeasePage<LeaseView>)))]
async fn search_leases(
    p: Principal,
    State(app): State<Arc<App>>,
    Params(q): Params<LeaseQuery>,
) -> Result<Json<LeasePage<LeaseView>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let snap = app.server.snapshot();
    let now = app.server.now();
    let domain = q.domain.as_deref().map(canonical_domain);
    if let Some(s) = &q.state {
        if !["active", "expired", "released", "declined"].contains(&s.as_str()) {
            return Err(ApiError::bad_request(
                "state is active, expired, released or declined",
            ));
        }
    }
    let keep = |l: &Lease4| {
        pool_visible(&snap, &p, &l.pool, domain.as_deref())
            && q.pool.as_ref().is_none_or(|x| *x == l.pool)
            && q.state.as_deref().is_none_or(|s| s == l.status(now))
            && q.ip.is_none_or(|ip| ip == l.ip)
            && q.relay.is_none_or(|r| r == l.relay)
    };
    let store = app.server.store().clone();
    let key = match (&q.mac, &q.client) {
        (Some(m), _) => Some(ClientKey::from_hardware(1, &mac_bytes(m)?)),
        (None, Some(c)) => {
            Some(ClientKey(parse_hex(c).ok_or_else(|| {
                ApiError::bad_request(format!("client {c:?} is not hex"))
            })?))
        }
        _ => None,
    };
    let indexed = if let Some(ip) = q.ip {
        Some(store.lease4(ip)?.into_iter().collect::<Vec<_>>())
    } else if let Some(k) = &key {
        Some(store.leases4_by_client(k)?)
    } else if let Some(r) = q.relay {
        // One page of the by-relay index (one more, to tell whether it goes on).
        Some(store.leases4_by_relay_page(r, q.after, limit + 1)?)
    } else {
        None
    };
    let mut out = Vec::new();
    let mut next = None;
    match indexed {
        Some(v) => {
            for l in v
                .iter()
                .filter(|l| keep(l) && q.after.is_none_or(|a| l.ip > a))
            {
                if out.len() == limit {
                    next = out.last().map(|v: &LeaseView| v.ip.clone());
                    break;
                }
                out.push(lease_view(l, now));
            }
        }
        None => {
            let (found, cursor) = scan(
                q.after,
                limit,
                |after| store.scan_leases4(after.copied(), 1000),
                |l| l.ip,
                |_| false,
                keep,
            )?;
            out.extend(found.iter().map(|l| lease_view(l, now)));
            next = cursor.map(|a| a.to_string());
        }
    }
    Ok(Json(LeasePage { leases: out, next }))
}

/// DHCPv6 binding search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Lease6Query {
    /// The address (or a prefix's first address).
    #[param(value_type = Option<String>)]
    pub address: Option<Ipv6Addr>,
    /// With `address`: the prefix length (128 = an address).
    pub prefix_len: Option<u8>,
    /// The client DUID in hex.
    pub duid: Option<String>,
    /// The device MAC (or the modem MAC it is behind).
    pub mac: Option<String>,
    /// Only from this pool.
    pub pool: Option<String>,
    /// Only from pools open to this domain.
    pub domain: Option<String>,
    /// Only bindings on this link (relay link-address).
    #[param(value_type = Option<String>)]
    pub link: Option<Ipv6Addr>,
    /// `active`, `expired`, `released` or `declined`.
    pub state: Option<String>,
    /// The previous page's `next` (`address/len`).
    pub after: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A DHCPv6 binding.
#[derive(Debug, Serialize, ToSchema)]
pub struct Lease6View {
    /// `na` or `pd`.
    pub kind: String,
    /// Address or prefix (`addr/len`).
    pub address: String,
    /// DUID.
    pub duid: String,
    /// IAID.
    pub iaid: u32,
    /// Device MAC, when known.
    pub mac: Option<String>,
    /// The modem it is behind, when known.
    pub modem_mac: Option<String>,
    /// State.
    pub state: String,
    /// Pool.
    pub pool: String,
    /// Relay link-address.
    pub link: String,
    /// End (Unix seconds; absent: never).
    pub expires: Option<u64>,
}

fn lease6_view(l: &Lease6, now: u64) -> Lease6View {
    Lease6View {
        kind: match l.kind {
            headend_store::Lease6Kind::Na => "na",
            headend_store::Lease6Kind::Pd => "pd",
        }
        .into(),
        address: format!("{}/{}", l.address, l.prefix_len),
        duid: hex_colon(&l.duid),
        iaid: l.iaid,
        mac: l.mac.as_deref().map(hex_colon),
        modem_mac: l.modem_mac.as_deref().map(hex_colon),
        state: l.status(now).into(),
        pool: l.pool.clone(),
        link: l.link.to_string(),
        expires: l.expires_at(),
    }
}

fn parse_key6(s: &str) -> Result<headend_store::Lease6Key, ApiError> {
    let (a, n) = s.split_once('/').unwrap_or((s, "128"));
    match (a.parse::<Ipv6Addr>(), n.parse::<u8>()) {
        (Ok(address), Ok(prefix_len)) if prefix_len <= 128 => Ok(headend_store::Lease6Key {
            address,
            prefix_len,
        }),
        _ => Err(ApiError::bad_request(format!(
            "{s:?} is not address/length"
        ))),
    }
}

/// Searches DHCPv6 bindings.
#[utoipa::path(get, path = "/api/v1/leases6", tag = "leases", params(Lease6Query),
    responses((status = 200, body = LeasePage<Lease6View>)))]
async fn search_leases6(
    p: Principal,
    State(app): State<Arc<App>>,
    Params(q): Params<Lease6Query>,
) -> Result<Json<LeasePage<Lease6View>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let snap = app.server.snapshot();
    let now = app.server.now();
    let domain = q.domain.as_deref().map(canonical_domain);
    let mac = q.mac.as_deref().map(mac_bytes).transpose()?;
    let after = q.after.as_deref().map(parse_key6).transpose()?;
    let keep = |l: &Lease6| {
        pool_visible(&snap, &p, &l.pool, domain.as_deref())
            && q.pool.as_ref().is_none_or(|x| *x == l.pool)
            && q.state.as_deref().is_none_or(|s| s == l.status(now))
            && q.link.is_none_or(|k| k == l.link)
            && after.is_none_or(|a| l.key() > a)
    };
    let store = app.server.store().clone();
    let indexed = if let Some(address) = q.address {
        let key = headend_store::Lease6Key {
            address,
            prefix_len: q.prefix_len.unwrap_or(128),
        };
        Some(store.lease6(key)?.into_iter().collect::<Vec<_>>())
    } else if let Some(d) = &q.duid {
        let duid =
            parse_hex(d).ok_or_else(|| ApiError::bad_request(format!("duid {d:?} is not hex")))?;
        Some(store.leases6_by_duid(&duid)?)
    } else {
        mac.as_ref()
            .map(|m| app.server.dhcpv6().bindings_of_mac(&hex_colon(m)))
    };
    let mut out = Vec::new();
    let mut next = None;
    match indexed {
        Some(mut v) => {
            v.sort_by_key(|l| l.key());
            for l in v.iter().filter(|l| keep(l)) {
                if out.len() == limit {
                    next = out.last().map(|v: &Lease6View| v.address.clone());
                    break;
                }
                out.push(lease6_view(l, now));
            }
        }
        None => {
            let (found, cursor) = scan(
                after,
                limit,
                |after| store.scan_leases6(after.copied(), 1000),
                Lease6::key,
                |_| false,
                keep,
            )?;
            out.extend(found.iter().map(|l| lease6_view(l, now)));
            next = cursor.map(|k| format!("{}/{}", k.address, k.prefix_len));
        }
    }
    Ok(Json(LeasePage { leases: out, next }))
}

// ---------------------------------------------------------------- devices

/// One device's whole picture.
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    /// The MAC.
    pub mac: String,
    /// Its account, when it has one.
    pub account: Option<AccountView>,
    /// Its DHCPv4 leases.
    pub leases: Vec<LeaseView>,
    /// Its DHCPv6 bindings (its own, and those behind it when a modem).
    pub leases6: Vec<Lease6View>,
    /// Its provisioning timeline (DHCP, ToD, config files, SNMP, events).
    #[schema(value_type = Object)]
    pub timeline: Value,
    /// The timelines of linked devices (the eCM of an eUE, the eUE of an eCM).
    #[schema(value_type = Object)]
    pub linked: Value,
    /// Where it stands, in one line (the last step, or where it is stuck).
    pub status: Option<String>,
}

/// A device's account, leases, bindings and provisioning timeline (the same
/// answer `headend device show` prints).
#[utoipa::path(get, path = "/api/v1/devices/{mac}", tag = "devices",
    params(("mac" = String, Path, description = "device MAC")),
    responses((status = 200, body = DeviceView), (status = 404, body = crate::error::ErrorBody)))]
async fn device(
    p: Principal,
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let mac = normalize_mac(&raw)
        .ok_or_else(|| ApiError::bad_request(format!("{raw:?} is not a MAC address")))?;
    let snap = app.server.snapshot();
    let now = app.server.now();
    // The same picture `headend device show` prints (control channel).
    let server = app.server.clone();
    let m = mac.clone();
    let (picture, show) = tokio::task::spawn_blocking(move || {
        let shown = headend_server::control::device_show(server.timeline(), &**server.store(), &m);
        (server.device_picture_of(&m), shown)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let picture = picture?;
    let account = picture
        .account
        .as_ref()
        .map(|a| view(a, picture.account_from_config));
    let leases: Vec<LeaseView> = picture
        .leases
        .iter()
        .filter(|l| pool_visible(&snap, &p, &l.pool, None))
        .map(|l| lease_view(l, now))
        .collect();
    let leases6: Vec<Lease6View> = picture
        .leases6
        .iter()
        .filter(|l| pool_visible(&snap, &p, &l.pool, None))
        .map(|l| lease6_view(l, now))
        .collect();
    let visible = account.as_ref().is_none_or(|a| p.sees(&a.domains));
    let known = account.is_some() || !leases.is_empty() || !leases6.is_empty();
    // A scoped caller must see the device through its partition.
    if !visible || (!known && (show.device.is_none() || !p.unscoped())) {
        return Err(ApiError::not_found(format!("nothing is known of {mac}")));
    }
    let status = show.device.as_ref().map(|d| {
        headend_server::shared::timeline::status(d, headend_server::shared::timeline::now_ms())
    });
    Ok(Json(DeviceView {
        mac,
        account,
        leases,
        leases6,
        timeline: serde_json::to_value(&show.device).unwrap_or(Value::Null),
        linked: serde_json::to_value(&show.linked).unwrap_or(Value::Null),
        status,
    }))
}

// ---------------------------------------------------------------- pools

/// Utilisation of one pool.
#[derive(Serialize, ToSchema)]
pub struct PoolUsage {
    /// Pool name.
    pub name: String,
    /// `dhcpv4` or `dhcpv6`.
    pub family: String,
    /// Domains it is open to (empty: all devices).
    pub domains: Vec<String>,
    /// Addresses (v4) in its ranges; v6: absent (not countable usefully).
    pub size: Option<u64>,
    /// Excluded or fixed-bound (v4).
    pub blocked: Option<u64>,
    /// Bound, offered or quarantined now.
    pub used: u64,
    /// Allocatable now (v4).
    pub free: Option<u64>,
    /// Declined and still quarantined.
    pub declined: u64,
    /// Offered, not yet requested (v4).
    pub offered: u64,
}

/// Utilisation summed per domain.
#[derive(Serialize, ToSchema)]
pub struct DomainUsage {
    /// Domain.
    pub domain: String,
    /// Sum of the sizes of its v4 pools.
    pub size: u64,
    /// Used addresses in them.
    pub used: u64,
    /// Free addresses in them.
    pub free: u64,
}

/// Pools and domains.
#[derive(Serialize, ToSchema)]
pub struct PoolsView {
    /// Every visible pool.
    pub pools: Vec<PoolUsage>,
    /// Per domain (v4 pools).
    pub domains: Vec<DomainUsage>,
}

/// Utilisation per pool (used / free / declined / offered) and per domain.
#[utoipa::path(get, path = "/api/v1/pools", tag = "pools", responses((status = 200, body = PoolsView)))]
async fn pools(p: Principal, State(app): State<Arc<App>>) -> Result<Json<PoolsView>, ApiError> {
    let snap = app.server.snapshot();
    let now = app.server.now();
    let server = app.server.clone();
    // The lease tables' own counts: on a blocking thread (they take the
    // tables' locks for a scan).
    let (st, v6) = tokio::task::spawn_blocking(move || {
        let st = server.dhcpv4().leases.lock().pool_usage(now);
        let mut v6: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for l in server.dhcpv6().leases.lock().iter() {
            let e = v6.entry(l.pool.clone()).or_default();
            match l.status(now) {
                "active" => e.0 += 1,
                "declined" => e.1 += 1,
                _ => {}
            }
        }
        (st, v6)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out = Vec::new();
    for u in st {
        let doms = pool_domains(&snap, &u.name).unwrap_or_default();
        if !p.sees(&doms) {
            continue;
        }
        out.push(PoolUsage {
            name: u.name,
            family: "dhcpv4".into(),
            domains: doms,
            size: Some(u.size),
            blocked: Some(u.blocked),
            used: u.used,
            free: Some(u.free),
            declined: u.declined,
            offered: u.offered,
        });
    }
    for p6 in snap.dhcpv6.iter().flat_map(|d| d.pools.iter()) {
        if !p.sees(&p6.domains) {
            continue;
        }
        let (used, declined) = v6.get(&p6.name).copied().unwrap_or_default();
        out.push(PoolUsage {
            name: p6.name.clone(),
            family: "dhcpv6".into(),
            domains: p6.domains.clone(),
            size: None,
            blocked: None,
            used,
            free: None,
            declined,
            offered: 0,
        });
    }
    let mut per: BTreeMap<String, DomainUsage> = BTreeMap::new();
    for u in out.iter().filter(|u| u.family == "dhcpv4") {
        let names = if u.domains.is_empty() {
            vec![headend_model::snapshot::ALL_DEVICES.to_string()]
        } else {
            u.domains.clone()
        };
        for d in names {
            let e = per.entry(d.clone()).or_insert(DomainUsage {
                domain: d,
                size: 0,
                used: 0,
                free: 0,
            });
            e.size += u.size.unwrap_or(0);
            e.used += u.used;
            e.free += u.free.unwrap_or(0);
        }
    }
    Ok(Json(PoolsView {
        pools: out,
        domains: per.into_values().collect(),
    }))
}

// ---------------------------------------------------------------- config

/// The running configuration.
#[derive(Serialize, ToSchema)]
pub struct ConfigView {
    /// Its file.
    pub path: String,
    /// Generation (1 at start, +1 per reload).
    pub generation: u64,
    /// When it was installed (Unix seconds).
    pub loaded_at: u64,
    /// The file's text as it is on disk now.
    pub text: String,
}

/// The running configuration's source and when it was loaded (admin and
/// unscoped operators: the file shows every partition).
#[utoipa::path(get, path = "/api/v1/config", tag = "config", responses((status = 200, body = ConfigView)))]
async fn config_show(
    p: Principal,
    State(app): State<Arc<App>>,
) -> Result<Json<ConfigView>, ApiError> {
    if !p.unscoped() {
        return Err(ApiError::forbidden(
            "the configuration file spans every domain",
        ));
    }
    let snap = app.server.snapshot();
    let path = app.server.config_path().to_path_buf();
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    let loaded_at = app
        .server
        .loaded_at()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(Json(ConfigView {
        path: path.display().to_string(),
        generation: snap.generation,
        loaded_at,
        text,
    }))
}

/// A candidate configuration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigText {
    /// The whole file's text (relative paths resolve as for the running file).
    pub text: String,
}

/// Whether a candidate is valid.
#[derive(Serialize, ToSchema)]
pub struct Validation {
    /// No error.
    pub valid: bool,
    /// The errors `headend check` prints, with file, line and fix.
    pub errors: Vec<ConfigProblem>,
}

/// Validates a candidate configuration as a reload would, without
/// installing it.
#[utoipa::path(post, path = "/api/v1/config/validate", tag = "config", request_body = ConfigText,
    responses((status = 200, body = Validation)))]
async fn config_validate(
    p: Principal,
    State(app): State<Arc<App>>,
    Body(c): Body<ConfigText>,
) -> Result<Json<Validation>, ApiError> {
    p.require(Role::Operator)?;
    if !p.unscoped() {
        return Err(ApiError::forbidden(
            "the configuration file spans every domain",
        ));
    }
    let server = app.server.clone();
    let r = tokio::task::spawn_blocking(move || server.validate_text(&c.text))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(match r {
        Ok(()) => Validation {
            valid: true,
            errors: Vec::new(),
        },
        Err(e) => Validation {
            valid: false,
            errors: problems(&e),
        },
    }))
}

/// A reload's result.
#[derive(Serialize, ToSchema)]
pub struct Reloaded {
    /// The new generation.
    pub generation: u64,
}

/// Reloads the configuration file (as SIGHUP does); on error the running
/// configuration stays and the errors come back with file and line.
#[utoipa::path(post, path = "/api/v1/config/reload", tag = "config",
    responses((status = 200, body = Reloaded), (status = 422, body = crate::error::ErrorBody)))]
async fn config_reload(
    p: Principal,
    State(app): State<Arc<App>>,
) -> Result<Json<Reloaded>, ApiError> {
    p.require(Role::Operator)?;
    if !p.unscoped() {
        return Err(ApiError::forbidden("a reload applies to every domain"));
    }
    let before = app.server.snapshot().generation;
    let server = app.server.clone();
    let r = tokio::task::spawn_blocking(move || server.reload())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let path = app.server.config_path().display().to_string();
    match r {
        Ok(g) => {
            let e = audit::entry(
                &p.user,
                &p.from,
                "config.reload",
                &path,
                "ok",
                json!({ "generation": before }),
                json!({ "generation": g }),
            );
            app.commit(vec![e.mutation()]).await?;
            app.server.bus().publish(
                "config.reloaded",
                None,
                json!({ "generation": g, "by": p.user }),
            );
            tracing::info!(generation = g, user = %p.user, "configuration reloaded through the management API");
            Ok(Json(Reloaded { generation: g }))
        }
        Err(errs) => {
            let e = audit::entry(
                &p.user,
                &p.from,
                "config.reload",
                &path,
                "failed",
                json!({ "generation": before }),
                Value::Null,
            )
            .because(errs.to_string());
            app.commit(vec![e.mutation()]).await?;
            Err(ApiError::config(&errs))
        }
    }
}

/// A device to explain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainRequest {
    /// Its MAC.
    pub mac: String,
    /// The relay it boots through (giaddr).
    #[schema(value_type = Option<String>)]
    pub relay: Option<Ipv4Addr>,
    /// Its DHCPv6 link (the relay link-address), to explain a DHCPv6 exchange too.
    #[schema(value_type = Option<String>)]
    pub link: Option<Ipv6Addr>,
    /// Request options as `explain --option` takes them (`60=docsis3.0`, `43.2=EMTA`, `125.4491.1=…`).
    #[serde(default)]
    pub options: Vec<String>,
}

/// What `headend explain --json` says of a described device, under the
/// running configuration file (run on a scratch copy: nothing changes).
#[utoipa::path(post, path = "/api/v1/explain", tag = "config", request_body = ExplainRequest,
    responses((status = 200, body = Object)))]
async fn explain(
    p: Principal,
    State(app): State<Arc<App>>,
    Body(req): Body<ExplainRequest>,
) -> Result<Json<Value>, ApiError> {
    if !p.unscoped() {
        return Err(ApiError::forbidden("explain runs the whole configuration"));
    }
    let f = app
        .explainer
        .clone()
        .ok_or_else(|| ApiError::unavailable("explain is not available in this process"))?;
    let path = app.server.config_path().to_path_buf();
    tokio::task::spawn_blocking(move || f(&path, &req))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(Json)
        .map_err(ApiError::bad_request)
}

// ---------------------------------------------------------------- users

/// A user as shown (never the password hash).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Domain scope (empty: all).
    pub domains: Vec<String>,
    /// Created (Unix seconds).
    pub created: u64,
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Domain scope (empty: all).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Password (12 bytes or more).
    pub password: String,
}

/// Every user (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, body = Vec<UserView>)))]
async fn list_users(
    p: Principal,
    State(app): State<Arc<App>>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    p.require(Role::Admin)?;
    Ok(Json(
        users::list(&**app.server.store())?
            .into_iter()
            .map(|u| UserView {
                name: u.name,
                role: u.role,
                domains: u.domains,
                created: u.created,
            })
            .collect(),
    ))
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = UserBody,
    responses((status = 201, body = UserView), (status = 409, body = crate::error::ErrorBody)))]
async fn create_user(
    p: Principal,
    State(app): State<Arc<App>>,
    Body(b): Body<UserBody>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    p.require(Role::Admin)?;
    if !p.unscoped() {
        return Err(ApiError::forbidden("only an unscoped admin manages users"));
    }
    let snap = app.server.snapshot();
    let mut domains = Vec::new();
    for d in &b.domains {
        let c = canonical_domain(d);
        if !snap.has_domain(&c) {
            return Err(ApiError::bad_request(format!(
                "domain {d:?} is not declared"
            )));
        }
        domains.push(c);
    }
    if users::get(&**app.server.store(), &b.name)?.is_some() {
        return Err(ApiError::conflict(format!("user {:?} exists", b.name)));
    }
    let now = app.server.now();
    let (name, role, password) = (b.name.clone(), b.role, b.password);
    let doms = domains.clone();
    let user =
        tokio::task::spawn_blocking(move || users::new_user(&name, role, doms, &password, now))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
    let shown = json!({ "name": user.name, "role": user.role, "domains": user.domains });
    let e = audit::entry(
        &p.user,
        &p.from,
        "user.create",
        &user.name,
        "ok",
        Value::Null,
        shown,
    );
    app.commit(vec![e.mutation(), users::put_mutation(&user)])
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            name: user.name,
            role: user.role,
            domains: user.domains,
            created: user.created,
        }),
    ))
}

/// Deletes a user, its sessions and its API tokens (admin).
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "user name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_user(
    p: Principal,
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Admin)?;
    if !p.unscoped() {
        return Err(ApiError::forbidden("only an unscoped admin manages users"));
    }
    let store = app.server.store().clone();
    let u = users::get(&*store, &name)?
        .ok_or_else(|| ApiError::not_found(format!("no user {name:?}")))?;
    let mut batch = vec![
        audit::entry(
            &p.user,
            &p.from,
            "user.delete",
            &name,
            "ok",
            json!({ "name": u.name, "role": u.role, "domains": u.domains }),
            Value::Null,
        )
        .mutation(),
        Mutation::DeleteRecord {
            table: headend_store::RecordTable::Users,
            key: name.clone(),
        },
    ];
    for (k, t) in users::tokens(&*store)? {
        if t.user == name {
            batch.push(Mutation::DeleteRecord {
                table: headend_store::RecordTable::Tokens,
                key: k,
            });
        }
    }
    app.commit(batch).await?;
    app.sessions.close_user(&name);
    Ok(StatusCode::NO_CONTENT)
}

/// A token request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Which system will use it.
    pub label: String,
}

/// A new API token: shown once, stored only as its hash.
#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Its record.
    pub record: users::Token,
}

/// Creates an API token acting as user `name` (admin).
#[utoipa::path(post, path = "/api/v1/users/{name}/tokens", tag = "users", request_body = TokenRequest,
    params(("name" = String, Path, description = "user name")),
    responses((status = 201, body = TokenCreated)))]
async fn create_token(
    p: Principal,
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Body(b): Body<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    p.require(Role::Admin)?;
    if !p.unscoped() {
        return Err(ApiError::forbidden("only an unscoped admin manages users"));
    }
    if b.label.is_empty() || b.label.len() > 128 {
        return Err(ApiError::bad_request("label must be 1 to 128 bytes"));
    }
    users::get(&**app.server.store(), &name)?
        .ok_or_else(|| ApiError::not_found(format!("no user {name:?}")))?;
    let (secret, record, m) = users::new_token(&name, &b.label, app.server.now())?;
    let e = audit::entry(
        &p.user,
        &p.from,
        "token.create",
        &name,
        "ok",
        Value::Null,
        json!({ "label": record.label, "id": record.id }),
    );
    app.commit(vec![e.mutation(), m]).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            token: secret,
            record,
        }),
    ))
}

// ---------------------------------------------------------------- audit, events, metrics

/// Reads the audit log, newest first (admin; operators see their own).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>)))]
async fn read_audit(
    p: Principal,
    State(app): State<Arc<App>>,
    Params(mut q): Params<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    p.require(Role::Operator)?;
    if p.role < Role::Admin || !p.unscoped() {
        q.user = Some(p.user.clone());
    }
    let store = app.server.store().clone();
    tokio::task::spawn_blocking(move || audit::read(&*store, &q))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map(Json)
        .map_err(ApiError::from)
}

/// Event stream filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only kinds starting with this (`lease.`, `account.`).
    pub kind: Option<String>,
    /// Only about this device.
    pub mac: Option<String>,
}

/// The event stream as Server-Sent Events (`event:` the kind, `id:` the
/// sequence number, `data:` the JSON event); a reader that falls behind is
/// sent a `lagged` event with how many it lost.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, description = "text/event-stream")))]
async fn events(
    p: Principal,
    State(app): State<Arc<App>>,
    Params(q): Params<EventQuery>,
) -> Result<Response, ApiError> {
    let mac = q
        .mac
        .as_deref()
        .map(|m| normalize_mac(m).ok_or_else(|| ApiError::bad_request("mac is not a MAC address")))
        .transpose()?;
    let rx = app.server.bus().subscribe();
    let scoped = !p.unscoped();
    let stream = futures_util::stream::unfold(
        (rx, app, q.kind, mac, p),
        move |(mut rx, app, kind, mac, p)| async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if kind.as_deref().is_some_and(|k| !ev.kind.starts_with(k))
                            || mac.as_deref().is_some_and(|m| ev.mac.as_deref() != Some(m))
                        {
                            continue;
                        }
                        if scoped {
                            // A partition's operator sees only its devices' events.
                            let visible = ev.mac.as_deref().is_some_and(|m| {
                                crate::overview::device_visible(&app, &app.server.snapshot(), &p, m)
                            });
                            if !visible {
                                continue;
                            }
                        }
                        let e = Event::default()
                            .event(ev.kind.clone())
                            .id(ev.seq.to_string())
                            .data(serde_json::to_string(&*ev).unwrap_or_default());
                        return Some((
                            Ok::<_, std::convert::Infallible>(e),
                            (rx, app, kind, mac, p),
                        ));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        app.counters.stream_lagged.fetch_add(n, Ordering::Relaxed);
                        let e = Event::default()
                            .event("lagged")
                            .data(json!({ "lost": n }).to_string());
                        return Some((Ok(e), (rx, app, kind, mac, p)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Every counter and gauge of the server in the Prometheus text format
/// (login needed unless `open_metrics`).
#[utoipa::path(get, path = "/metrics", tag = "metrics", responses((status = 200, description = "text/plain; version=0.0.4")))]
async fn metrics(
    State(app): State<Arc<App>>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    if !app.settings.open_metrics {
        let mut parts = parts;
        Principal::from_request_parts(&mut parts, &app).await?;
    }
    let a = app.clone();
    let text = tokio::task::spawn_blocking(move || a.metrics_text())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

// ---------------------------------------------------------------- OpenAPI

/// The OpenAPI document of this API, generated from the handlers above.
#[derive(OpenApi)]
#[openapi(
    info(title = "headend management API", description = "Accounts, leases, devices, pools, configuration, users, audit and events of a running headend."),
    paths(login, logout, whoami, list_accounts, create_account, get_account, update_account,
        delete_account, list_fixed, create_fixed, delete_fixed, list_res6, create_res6, delete_res6, search_leases, search_leases6, device, pools, config_show,
        config_validate, config_reload, explain, list_users, create_user, delete_user,
        create_token, read_audit, events, metrics, crate::overview::dashboard,
        crate::overview::domains, crate::overview::policies, crate::overview::device_file),
    components(schemas(crate::error::ErrorBody, ConfigProblem, LeasePage<LeaseView>, LeasePage<Lease6View>)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The OpenAPI document (no login needed).
async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use headend_server::runtime::Server;
    use tower::ServiceExt as _;

    /// A router over a real server on a memory store.
    fn app() -> (Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("h.toml");
        std::fs::write(
            &config,
            "[server]\nstore = \"st\"\n[[domain]]\nname = \"emta\"\n[management]\nlisten = [\"127.0.0.1:0\"]\n",
        )
        .unwrap();
        let snap = Snapshot::load(&config, 1).unwrap();
        let settings = snap.management.clone().unwrap();
        let store = Arc::new(headend_store::MemoryStore::new());
        let admin =
            users::new_user("admin", Role::Admin, vec![], "a long test password", 1).unwrap();
        users::add(&*store, &admin).unwrap();
        let server =
            Server::with_store(&config, snap, store, headend_server::shared::system_clock())
                .unwrap();
        let app = Arc::new(App::new(Arc::new(server), settings, None));
        (router(app), dir)
    }

    async fn status(r: &Router, method: &str, path: &str) -> StatusCode {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from("{}"))
            .unwrap();
        r.clone().oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        let (r, _dir) = app();
        let doc = ApiDoc::openapi();
        let mut n = 0;
        for (path, item) in doc.paths.paths.iter() {
            let concrete = path
                .replace("{id}", "00:10:95:00:00:01")
                .replace("{mac}", "00:10:95:00:00:01")
                .replace("{name}", "someone")
                .replace("{client}", "00:10:95:00:00:01")
                .replace("{relay}", "10.0.0.1")
                .replace("{address}", "2001:db8::1")
                .replace("{len}", "128");
            let ops = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (m, documented) in ops {
                if !documented {
                    continue;
                }
                n += 1;
                let s = status(&r, m, &concrete).await;
                assert!(
                    s != StatusCode::NOT_FOUND && s != StatusCode::METHOD_NOT_ALLOWED,
                    "{m} {path}: {s}"
                );
            }
        }
        assert!(n >= 25, "{n} operations documented");
        // Undocumented paths are not served.
        assert_eq!(
            status(&r, "GET", "/api/v1/nothing").await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(&r, "PATCH", "/api/v1/accounts").await,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    async fn call(
        r: &Router,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        let resp = r.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn the_console_is_served_with_its_policy_and_its_views_answer() {
        let (r, _dir) = app();
        let get = |path: &'static str| {
            let r = r.clone();
            async move {
                let req = axum::http::Request::builder()
                    .uri(path)
                    .body(axum::body::Body::empty())
                    .unwrap();
                r.oneshot(req).await.unwrap()
            }
        };
        let resp = get("/").await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()[header::LOCATION], "/console/");
        for (path, kind) in [
            ("/console/", "text/html"),
            ("/console/app.js", "text/javascript"),
            ("/console/app.css", "text/css"),
        ] {
            let resp = get(path).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let ct = resp.headers()[header::CONTENT_TYPE].to_str().unwrap();
            assert!(ct.starts_with(kind), "{path}: {ct}");
            let csp = resp.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap();
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"));
        }
        // The views need a login like the rest of the API.
        assert_eq!(
            get("/api/v1/dashboard").await.status(),
            StatusCode::UNAUTHORIZED
        );
        let (_, v) = call(
            &r,
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "admin", "password": "a long test password" }),
        )
        .await;
        let t = v["token"].as_str().unwrap().to_string();
        let (s, v) = call(&r, "GET", "/api/v1/dashboard", &t, Value::Null).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for p in ["dhcpv4", "dhcpv6", "tftp", "http", "tod", "snmp", "syslog"] {
            assert!(v["traffic"][p]["received"].is_u64(), "{p}: {v}");
        }
        assert_eq!(
            v["activity"]["minutes"].as_array().unwrap().len(),
            headend_server::shared::timeline::RECENT_MINUTES
        );
        assert_eq!(v["config"]["generation"], 1);
        let (s, v) = call(&r, "GET", "/api/v1/domains", &t, Value::Null).await;
        assert_eq!(s, StatusCode::OK);
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"emta"), "{v}");
        let (s, v) = call(&r, "GET", "/api/v1/policies", &t, Value::Null).await;
        assert_eq!((s, v.is_array()), (StatusCode::OK, true), "{v}");
        let (s, v) = call(
            &r,
            "GET",
            "/api/v1/devices/00:10:95:00:00:09/files/cm.cfg",
            &t,
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "no such file: {v}");
        let (s, _) = call(
            &r,
            "GET",
            "/api/v1/devices/not-a-mac/files/cm.cfg",
            &t,
            Value::Null,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn accounts_page_by_prefix_and_cursor() {
        let (r, _dir) = app();
        let (s, v) = call(
            &r,
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "admin", "password": "a long test password" }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let t = v["token"].as_str().unwrap().to_string();
        for i in [3, 1, 2] {
            let body = json!({ "id": format!("00:10:95:00:00:0{i}"), "domains": ["emta"] });
            let (s, v) = call(&r, "POST", "/api/v1/accounts", &t, body).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
        }
        let (s, _) = call(
            &r,
            "POST",
            "/api/v1/accounts",
            &t,
            json!({ "id": "00:10:96:00:00:01", "domains": [] }),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        let (_, v) = call(
            &r,
            "GET",
            "/api/v1/accounts?prefix=00:10:95&limit=2",
            &t,
            Value::Null,
        )
        .await;
        let ids = |v: &Value| {
            v["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&v), ["00:10:95:00:00:01", "00:10:95:00:00:02"]);
        let next = v["next"].as_str().unwrap().to_string();
        let (_, v) = call(
            &r,
            "GET",
            &format!("/api/v1/accounts?prefix=00:10:95&limit=2&after={next}"),
            &t,
            Value::Null,
        )
        .await;
        assert_eq!(ids(&v), ["00:10:95:00:00:03"]);
        assert!(v["next"].is_null(), "{v}");
        let (_, v) = call(&r, "GET", "/api/v1/accounts?domain=emta", &t, Value::Null).await;
        assert_eq!(ids(&v).len(), 3);
        let (s, v) = call(&r, "GET", "/api/v1/accounts?bogus=1", &t, Value::Null).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "unknown query parameter: {v}");
    }

    #[test]
    fn the_unknown_user_hash_is_a_real_argon2_hash() {
        // A login for an unknown name verifies against it: as slow as a real one.
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_PHC).is_ok());
        assert!(!users::verify_password(DUMMY_PHC, "anything"));
    }

    #[tokio::test]
    async fn the_document_is_served_without_login() {
        let (r, _dir) = app();
        let req = axum::http::Request::builder()
            .uri("/api/v1/openapi.json")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = r.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
        assert!(v["paths"]["/api/v1/accounts/{id}"]["put"].is_object());
        assert!(v["components"]["securitySchemes"]["bearer"].is_object());
    }
}
