//! Who is asking (issue 13 "Access control"): login sessions (in memory,
//! bounded, expiring), API tokens (in the store, as hashes), the per-source
//! limit on failed logins, and the [`Principal`] every handler receives —
//! its role and domain scope decide what it may see and change.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use parking_lot::Mutex;

use crate::error::ApiError;
use crate::users::{self, Role};
use crate::App;

/// Most sessions kept at once; the oldest goes first.
pub const MAX_SESSIONS: usize = 10_000;
/// Most source addresses whose failed logins are tracked.
pub const MAX_TRACKED_SOURCES: usize = 65_536;

/// The client address of a request (set per connection by the listener).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// Domain scope; empty = every domain.
    pub domains: Vec<String>,
    /// Where the request came from.
    pub from: String,
}

impl Principal {
    /// Refuses (403) unless the role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{} has role {:?}; this needs {:?}",
                self.user, self.role, role
            )))
        }
    }

    /// Whether the principal sees every domain.
    pub fn unscoped(&self) -> bool {
        self.domains.is_empty()
    }

    /// Whether a record in `domains` is inside the principal's scope (it
    /// shares a domain with it).
    pub fn sees(&self, domains: &[String]) -> bool {
        self.unscoped() || domains.iter().any(|d| self.domains.contains(d))
    }

    /// Whether every one of `domains` is inside the scope (what a scoped
    /// operator may assign or take away).
    pub fn owns_all(&self, domains: &[String]) -> bool {
        self.unscoped() || domains.iter().all(|d| self.domains.contains(d))
    }
}

struct Session {
    user: String,
    expires: Instant,
}

/// Login sessions and the failed-login limiter.
pub struct Sessions {
    map: Mutex<(HashMap<String, Session>, VecDeque<String>)>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    ttl: Duration,
    failures_per_minute: u32,
}

impl Sessions {
    /// Sessions lasting `ttl`; `failures_per_minute` failed logins per source.
    pub fn new(ttl: Duration, failures_per_minute: u32) -> Sessions {
        Sessions {
            map: Mutex::new((HashMap::new(), VecDeque::new())),
            failures: Mutex::new(HashMap::new()),
            ttl,
            failures_per_minute,
        }
    }

    /// Opens a session for `user`: the secret and when it ends.
    pub fn open(&self, user: &str) -> Result<(String, Duration), ApiError> {
        let secret = users::new_secret("hs_").map_err(|e| ApiError::internal(e.to_string()))?;
        let key = users::token_key(&secret);
        let mut g = self.map.lock();
        let (map, order) = &mut *g;
        while map.len() >= MAX_SESSIONS {
            match order.pop_front() {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
        map.insert(
            key.clone(),
            Session {
                user: user.to_string(),
                expires: Instant::now() + self.ttl,
            },
        );
        order.push_back(key);
        Ok((secret, self.ttl))
    }

    /// The user of a live session.
    pub fn user_of(&self, secret: &str) -> Option<String> {
        let key = users::token_key(secret);
        let mut g = self.map.lock();
        let s = g.0.get(&key)?;
        if s.expires <= Instant::now() {
            g.0.remove(&key);
            return None;
        }
        Some(s.user.clone())
    }

    /// Ends a session; whether it existed.
    pub fn close(&self, secret: &str) -> bool {
        self.map
            .lock()
            .0
            .remove(&users::token_key(secret))
            .is_some()
    }

    /// Ends every session of `user` (deleted or changed).
    pub fn close_user(&self, user: &str) {
        self.map.lock().0.retain(|_, s| s.user != user);
    }

    /// Whether `ip` may try a login now (fewer failures than allowed in
    /// the last minute).
    pub fn login_allowed(&self, ip: IpAddr) -> bool {
        let mut f = self.failures.lock();
        let Some(q) = f.get_mut(&ip) else {
            return true;
        };
        let cutoff = Instant::now() - Duration::from_secs(60);
        while q.front().is_some_and(|t| *t < cutoff) {
            q.pop_front();
        }
        q.len() < self.failures_per_minute as usize
    }

    /// Counts a failed login from `ip`.
    pub fn login_failed(&self, ip: IpAddr) {
        let mut f = self.failures.lock();
        if f.len() >= MAX_TRACKED_SOURCES && !f.contains_key(&ip) {
            // Bounded: forget sources whose failures are all old first.
            let cutoff = Instant::now() - Duration::from_secs(60);
            f.retain(|_, q| q.back().is_some_and(|t| *t >= cutoff));
            if f.len() >= MAX_TRACKED_SOURCES {
                return;
            }
        }
        let q = f.entry(ip).or_default();
        q.push_back(Instant::now());
        while q.len() > 1000 {
            q.pop_front();
        }
    }
}

/// The bearer secret of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The client address of a request.
pub fn peer_of(parts: &Parts) -> String {
    parts
        .extensions
        .get::<Peer>()
        .map(|p| p.0.ip().to_string())
        .unwrap_or_else(|| "-".into())
}

impl FromRequestParts<Arc<App>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let from = peer_of(parts);
        let secret = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "log in (POST /api/v1/login) and send Authorization: Bearer <token>",
            )
        })?;
        let name = if secret.starts_with("hs_") {
            app.sessions.user_of(secret)
        } else {
            let store = app.server.store().clone();
            let secret = secret.to_string();
            tokio::task::spawn_blocking(move || users::token(&*store, &secret))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(ApiError::from)?
                .map(|t| t.user)
        };
        let name = name.ok_or_else(|| {
            ApiError::unauthorized("the token is unknown or has expired; log in again")
        })?;
        let user = users::get(&**app.server.store(), &name)
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::unauthorized(format!("user {name:?} no longer exists")))?;
        Ok(Principal {
            user: user.name,
            role: user.role,
            domains: user.domains,
            from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, domains: &[&str]) -> Principal {
        Principal {
            user: "u".into(),
            role,
            domains: domains.iter().map(|d| d.to_string()).collect(),
            from: "-".into(),
        }
    }

    #[test]
    fn roles_order_and_scopes() {
        assert!(p(Role::Admin, &[]).require(Role::Operator).is_ok());
        assert!(p(Role::Viewer, &[]).require(Role::Operator).is_err());
        let scoped = p(Role::Operator, &["voice"]);
        assert!(scoped.sees(&["data".into(), "voice".into()]));
        assert!(!scoped.sees(&["data".into()]));
        assert!(!scoped.sees(&[]));
        assert!(!scoped.owns_all(&["data".into(), "voice".into()]));
        assert!(scoped.owns_all(&["voice".into()]));
        assert!(p(Role::Viewer, &[]).sees(&[]));
    }

    #[test]
    fn sessions_expire_are_bounded_and_close() {
        let s = Sessions::new(Duration::from_secs(60), 2);
        let (a, _) = s.open("alice").unwrap();
        assert_eq!(s.user_of(&a).as_deref(), Some("alice"));
        assert!(s.close(&a));
        assert_eq!(s.user_of(&a), None);
        let short = Sessions::new(Duration::ZERO, 2);
        let (b, _) = short.open("bob").unwrap();
        assert_eq!(short.user_of(&b), None, "expired at once");
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(s.login_allowed(ip));
        s.login_failed(ip);
        s.login_failed(ip);
        assert!(!s.login_allowed(ip));
        assert!(s.login_allowed("192.0.2.2".parse().unwrap()));
    }
}
