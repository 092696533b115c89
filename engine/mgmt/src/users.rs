//! Operators of the management API (issue 13 "Access control"; seed 004
//! section 1.2 "role-based operator login", domains that "partition the
//! server for MSO environments"): users with a role and an optional domain
//! scope, passwords hashed with argon2 (PHC strings, never the password),
//! API tokens for OSS systems stored only as their SHA-256.
//!
//! Users live in the store's `Users` record table, tokens in `Tokens`; the
//! CLI (`headend user add`) writes them with the server stopped, the API
//! (admin role) while it runs.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use headend_store::{Mutation, RecordTable, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is empty, too long or has characters other than `[A-Za-z0-9._@-]`.
    #[error("user name {0:?} must be 1 to 64 characters of letters, digits, '.', '_', '@', '-'")]
    BadName(String),
    /// The password is too short or too long.
    #[error("the password must be 12 to 1024 bytes")]
    BadPassword,
    /// Unknown role.
    #[error("unknown role {0:?}: use admin, operator or viewer")]
    BadRole(String),
    /// A user of that name exists.
    #[error("user {0:?} exists")]
    Exists(String),
    /// No such user.
    #[error("no user {0:?}")]
    Unknown(String),
    /// Hashing failed (never for valid input).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is not a user (version skew or damage).
    #[error("stored user record {0:?} is unreadable")]
    Corrupt(String),
}

/// What a user may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only.
    Viewer,
    /// Accounts, bindings, reloads.
    Operator,
    /// Everything, users included.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = UserError;
    fn from_str(s: &str) -> Result<Role, UserError> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            _ => Err(UserError::BadRole(s.to_string())),
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Domains the user is limited to; empty = every domain.
    pub domains: Vec<String>,
    /// argon2id PHC string.
    pub password: String,
    /// Creation time (Unix seconds).
    pub created: u64,
}

/// A stored API token (the token itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Token {
    /// The user it acts as.
    pub user: String,
    /// The operator's label for it (which OSS system).
    pub label: String,
    /// Creation time (Unix seconds).
    pub created: u64,
    /// First characters of the SHA-256 (to name it for deletion).
    pub id: String,
}

/// Checks a user name.
pub fn check_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.to_string()))
    }
}

/// The argon2id hash of `password` (random salt), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    if !(12..=1024).contains(&password.len()) {
        return Err(UserError::BadPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| UserError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc` (constant time).
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fresh secret token with a prefix saying what it is (`hs_` session,
/// `ht_` API token): 32 random bytes in hex.
pub fn new_secret(prefix: &str) -> Result<String, UserError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| UserError::Hash(e.to_string()))?;
    Ok(format!("{prefix}{}", headend_store::hex(&raw)))
}

/// The key a token is stored and looked up under: its SHA-256 in hex.
pub fn token_key(token: &str) -> String {
    headend_store::hex(&Sha256::digest(token.as_bytes()))
}

/// The stored user `name`.
pub fn get(store: &dyn Store, name: &str) -> Result<Option<User>, UserError> {
    match store.record(RecordTable::Users, name)? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|_| UserError::Corrupt(name.to_string())),
    }
}

/// Every stored user, by name.
pub fn list(store: &dyn Store) -> Result<Vec<User>, UserError> {
    let mut v: Vec<User> = store
        .records(RecordTable::Users, None, usize::MAX)?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// The mutation that stores `user`.
pub fn put_mutation(user: &User) -> Mutation {
    Mutation::PutRecord {
        table: RecordTable::Users,
        key: user.name.clone(),
        value: serde_json::to_vec(user).unwrap_or_default(),
    }
}

/// A new user record (checked, password hashed); not yet stored.
pub fn new_user(
    name: &str,
    role: Role,
    domains: Vec<String>,
    password: &str,
    now: u64,
) -> Result<User, UserError> {
    check_name(name)?;
    Ok(User {
        name: name.to_string(),
        role,
        domains,
        password: hash_password(password)?,
        created: now,
    })
}

/// Adds a user to a store the caller holds (the CLI, with the server
/// stopped): refused when the name exists; durable when it returns.
pub fn add(store: &dyn Store, user: &User) -> Result<(), UserError> {
    if get(store, &user.name)?.is_some() {
        return Err(UserError::Exists(user.name.clone()));
    }
    store.apply(&[put_mutation(user)])?;
    store.sync()?;
    Ok(())
}

/// A new API token for `user`: the secret (shown once) and the mutation
/// that stores its hash.
pub fn new_token(
    user: &str,
    label: &str,
    now: u64,
) -> Result<(String, Token, Mutation), UserError> {
    let secret = new_secret("ht_")?;
    let key = token_key(&secret);
    let token = Token {
        user: user.to_string(),
        label: label.to_string(),
        created: now,
        id: key.get(..16).unwrap_or(&key).to_string(),
    };
    let m = Mutation::PutRecord {
        table: RecordTable::Tokens,
        key,
        value: serde_json::to_vec(&token).unwrap_or_default(),
    };
    Ok((secret, token, m))
}

/// The stored token record of a presented secret.
pub fn token(store: &dyn Store, secret: &str) -> Result<Option<Token>, UserError> {
    Ok(store
        .record(RecordTable::Tokens, &token_key(secret))?
        .and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Every stored token (hash key, record).
pub fn tokens(store: &dyn Store) -> Result<Vec<(String, Token)>, UserError> {
    Ok(store
        .records(RecordTable::Tokens, None, usize::MAX)?
        .into_iter()
        .filter_map(|(k, v)| Some((k, serde_json::from_slice(&v).ok()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_store::MemoryStore;

    #[test]
    fn passwords_are_hashed_and_verified() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterx"));
        assert!(!verify_password("not a phc string", "x"));
        assert!(matches!(
            hash_password("short"),
            Err(UserError::BadPassword)
        ));
    }

    #[test]
    fn users_and_tokens_round_trip_through_the_store() {
        let s = MemoryStore::new();
        let u = new_user(
            "ops-1",
            Role::Operator,
            vec!["voice".into()],
            "a long password!",
            5,
        )
        .unwrap();
        add(&s, &u).unwrap();
        assert!(matches!(add(&s, &u), Err(UserError::Exists(_))));
        assert_eq!(get(&s, "ops-1").unwrap(), Some(u.clone()));
        assert_eq!(list(&s).unwrap(), vec![u]);
        let (secret, t, m) = new_token("ops-1", "oss", 6).unwrap();
        assert!(secret.starts_with("ht_") && secret.len() == 67);
        s.apply(&[m]).unwrap();
        assert_eq!(token(&s, &secret).unwrap(), Some(t));
        assert_eq!(token(&s, "ht_guess").unwrap(), None);
        assert!(matches!(check_name("a b"), Err(UserError::BadName(_))));
        assert!(matches!("root".parse::<Role>(), Err(UserError::BadRole(_))));
    }
}
