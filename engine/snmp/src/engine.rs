//! The authoritative side of SNMPv3 (RFC 3412 section 7.2, RFC 3414
//! section 3.2): an entity that receives InformRequests is their
//! authoritative engine, so it answers engine-id discovery with a
//! usmStatsUnknownEngineIDs Report carrying its engine id, boots and time,
//! checks user, security level, digest and the time window (150 s) in the
//! RFC's order, decrypts, and encodes Responses and Reports with the same
//! user and level. Sans-IO: the caller passes the engine time (seconds
//! since the engine started, from its clock) and the salt source is a
//! counter seeded by the caller.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::message::{flags, ScopedData, ScopedPdu, UsmParams, V3Message, USM_SECURITY_MODEL};
use crate::pdu::{Oid, Pdu, PduType, Value, VarBind};
use crate::usm::{self, AuthProtocol, CryptoError, PrivProtocol};

/// The time window of RFC 3414 section 2.2.3.
pub const TIME_WINDOW: u32 = 150;

/// A user's configuration: name and passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    /// usmUserName.
    pub name: String,
    /// Authentication protocol and password.
    pub auth: Option<(AuthProtocol, String)>,
    /// Privacy protocol and password (needs `auth`).
    pub privacy: Option<(PrivProtocol, String)>,
}

/// A user with keys localised to this engine.
#[derive(Debug, Clone)]
pub struct User {
    /// usmUserName.
    pub name: Vec<u8>,
    auth: Option<(AuthProtocol, Vec<u8>)>,
    privacy: Option<(PrivProtocol, Vec<u8>)>,
}

/// Security levels (RFC 3411).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// noAuthNoPriv.
    NoAuthNoPriv,
    /// authNoPriv.
    AuthNoPriv,
    /// authPriv.
    AuthPriv,
}

impl Level {
    fn of_flags(f: u8) -> Option<Level> {
        match f & (flags::AUTH | flags::PRIV) {
            0 => Some(Level::NoAuthNoPriv),
            flags::AUTH => Some(Level::AuthNoPriv),
            3 => Some(Level::AuthPriv),
            _ => None,
        }
    }

    fn flags(self) -> u8 {
        match self {
            Level::NoAuthNoPriv => 0,
            Level::AuthNoPriv => flags::AUTH,
            Level::AuthPriv => flags::AUTH | flags::PRIV,
        }
    }
}

impl User {
    /// Derives and localises the keys (about a millisecond or two per key:
    /// done once at configuration time, never per message).
    pub fn localize(cfg: &UserConfig, engine_id: &[u8]) -> Result<User, CryptoError> {
        let auth = match &cfg.auth {
            Some((p, pw)) => Some((
                *p,
                usm::localize(*p, &usm::password_to_key(*p, pw.as_bytes())?, engine_id),
            )),
            None => None,
        };
        let privacy = match (&cfg.privacy, &cfg.auth) {
            (Some((pp, pw)), Some((ap, _))) => Some((
                *pp,
                usm::localize(*ap, &usm::password_to_key(*ap, pw.as_bytes())?, engine_id),
            )),
            _ => None,
        };
        Ok(User {
            name: cfg.name.as_bytes().to_vec(),
            auth,
            privacy,
        })
    }

    /// The highest level this user supports (also the lowest it accepts).
    pub fn level(&self) -> Level {
        match (&self.auth, &self.privacy) {
            (Some(_), Some(_)) => Level::AuthPriv,
            (Some(_), None) => Level::AuthNoPriv,
            _ => Level::NoAuthNoPriv,
        }
    }
}

/// The usmStats counters (RFC 3414 section 5), which the Reports carry.
#[derive(Debug, Default)]
pub struct UsmStats {
    /// usmStatsUnsupportedSecLevels.
    pub unsupported_sec_levels: AtomicU32,
    /// usmStatsNotInTimeWindows.
    pub not_in_time_windows: AtomicU32,
    /// usmStatsUnknownUserNames.
    pub unknown_user_names: AtomicU32,
    /// usmStatsUnknownEngineIDs.
    pub unknown_engine_ids: AtomicU32,
    /// usmStatsWrongDigests.
    pub wrong_digests: AtomicU32,
    /// usmStatsDecryptionErrors.
    pub decryption_errors: AtomicU32,
}

/// Why an SNMPv3 message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsmError {
    /// Not the USM security model.
    #[error("unknown security model")]
    UnknownSecurityModel,
    /// privFlag without authFlag.
    #[error("invalid msgFlags")]
    BadFlags,
    /// usmStatsUnknownEngineIDs (also engine-id discovery).
    #[error("unknown engine id")]
    UnknownEngineId,
    /// usmStatsUnknownUserNames.
    #[error("unknown user name")]
    UnknownUser,
    /// usmStatsUnsupportedSecLevels.
    #[error("unsupported security level")]
    UnsupportedSecLevel,
    /// usmStatsWrongDigests.
    #[error("wrong digest")]
    WrongDigest,
    /// usmStatsNotInTimeWindows.
    #[error("not in time window")]
    NotInTimeWindow,
    /// usmStatsDecryptionErrors.
    #[error("decryption error")]
    DecryptionError,
}

impl UsmError {
    /// A stable counter label.
    pub fn label(self) -> &'static str {
        match self {
            UsmError::UnknownSecurityModel => "unknown_security_model",
            UsmError::BadFlags => "bad_flags",
            UsmError::UnknownEngineId => "unknown_engine_id",
            UsmError::UnknownUser => "unknown_user",
            UsmError::UnsupportedSecLevel => "unsupported_sec_level",
            UsmError::WrongDigest => "usm_digest",
            UsmError::NotInTimeWindow => "not_in_time_window",
            UsmError::DecryptionError => "decryption_error",
        }
    }

    /// The usmStats object of the Report (1.3.6.1.6.3.15.1.1.N.0).
    fn stat(self) -> Option<u32> {
        Some(match self {
            UsmError::UnsupportedSecLevel => 1,
            UsmError::NotInTimeWindow => 2,
            UsmError::UnknownUser => 3,
            UsmError::UnknownEngineId => 4,
            UsmError::WrongDigest => 5,
            UsmError::DecryptionError => 6,
            UsmError::UnknownSecurityModel | UsmError::BadFlags => return None,
        })
    }
}

/// A message that was not accepted: why, and the Report to send (when the
/// sender asked for reports and the error has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub error: UsmError,
    /// The encoded Report, if one is due.
    pub report: Option<Vec<u8>>,
}

/// Who sent an accepted message and how it was protected; a reply is
/// encoded with the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityContext {
    /// msgID of the request.
    pub msg_id: i32,
    /// msgMaxSize of the request.
    pub max_size: i32,
    /// The user.
    pub user: Vec<u8>,
    /// The level used.
    pub level: Level,
}

/// An accepted SNMPv3 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// How to answer.
    pub security: SecurityContext,
    /// The scoped PDU.
    pub scoped: ScopedPdu,
}

/// The local authoritative engine.
#[derive(Debug)]
pub struct LocalEngine {
    engine_id: Vec<u8>,
    boots: u32,
    users: HashMap<Vec<u8>, User>,
    salt: AtomicU64,
    /// The usmStats counters.
    pub stats: UsmStats,
}

/// usmStats (1.3.6.1.6.3.15.1.1).
pub const USM_STATS: [u32; 10] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 0];

impl LocalEngine {
    /// An engine with localised users; `salt_seed` should be random.
    pub fn new(
        engine_id: Vec<u8>,
        boots: u32,
        users: &[UserConfig],
        salt_seed: u64,
    ) -> Result<LocalEngine, CryptoError> {
        let mut map = HashMap::new();
        for u in users {
            let lu = User::localize(u, &engine_id)?;
            map.insert(lu.name.clone(), lu);
        }
        Ok(LocalEngine {
            engine_id,
            boots,
            users: map,
            salt: AtomicU64::new(salt_seed),
            stats: UsmStats::default(),
        })
    }

    /// snmpEngineID.
    pub fn engine_id(&self) -> &[u8] {
        &self.engine_id
    }

    /// snmpEngineBoots.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// Processes an incoming message addressed to this engine
    /// (RFC 3414 section 3.2); `datagram` is the bytes `m` was decoded from.
    pub fn receive(&self, m: &V3Message, datagram: &[u8], time: u32) -> Result<Accepted, Rejected> {
        let reportable = m.flags & flags::REPORTABLE != 0;
        let reject = |error: UsmError, level: Level, user: Option<&User>| {
            let report = if reportable {
                self.bump(error)
                    .map(|(oid, n)| self.report(m, error, oid, n, level, user, time))
            } else {
                self.bump(error);
                None
            };
            Rejected { error, report }
        };
        if m.security_model != USM_SECURITY_MODEL {
            return Err(Rejected {
                error: UsmError::UnknownSecurityModel,
                report: None,
            });
        }
        let Some(level) = Level::of_flags(m.flags) else {
            return Err(Rejected {
                error: UsmError::BadFlags,
                report: None,
            });
        };
        let u = &m.usm;
        if u.engine_id != self.engine_id {
            return Err(reject(UsmError::UnknownEngineId, Level::NoAuthNoPriv, None));
        }
        let Some(user) = self.users.get(&u.user) else {
            return Err(reject(UsmError::UnknownUser, Level::NoAuthNoPriv, None));
        };
        // A level the user does not support, or one below what it is
        // configured for (access control: a priv user is never accepted
        // in the clear).
        if level != user.level() {
            return Err(reject(
                UsmError::UnsupportedSecLevel,
                Level::NoAuthNoPriv,
                None,
            ));
        }
        if let Some((p, key)) = &user.auth {
            let Some((a, b)) = m.auth_range.filter(|(a, b)| b - a == p.mac_len()) else {
                return Err(reject(UsmError::WrongDigest, Level::NoAuthNoPriv, None));
            };
            let mut zeroed = datagram.to_vec();
            match zeroed.get_mut(a..b) {
                Some(f) => f.fill(0),
                None => return Err(reject(UsmError::WrongDigest, Level::NoAuthNoPriv, None)),
            }
            let want = usm::hmac(*p, key, &zeroed);
            if !usm::ct_eq(&want, &u.auth) {
                return Err(reject(UsmError::WrongDigest, Level::NoAuthNoPriv, None));
            }
            // RFC 3414 3.2 step 7a: the authoritative receiver's window.
            if self.boots == 0x7fff_ffff
                || u.boots != self.boots
                || u.time.abs_diff(time) > TIME_WINDOW
            {
                return Err(reject(
                    UsmError::NotInTimeWindow,
                    Level::AuthNoPriv,
                    Some(user),
                ));
            }
        }
        let scoped = match (&m.data, &user.privacy) {
            (ScopedData::Encrypted(c), Some((p, key))) => {
                let plain = usm::decrypt(*p, key, u.boots, u.time, &u.privacy, c)
                    .map_err(|_| reject(UsmError::DecryptionError, Level::NoAuthNoPriv, None))?;
                ScopedPdu::decode(&plain)
                    .map_err(|_| reject(UsmError::DecryptionError, Level::NoAuthNoPriv, None))?
            }
            (ScopedData::Plain(s), None) => s.clone(),
            _ => return Err(reject(UsmError::DecryptionError, Level::NoAuthNoPriv, None)),
        };
        Ok(Accepted {
            security: SecurityContext {
                msg_id: m.msg_id,
                max_size: m.max_size,
                user: u.user.clone(),
                level,
            },
            scoped,
        })
    }

    fn bump(&self, e: UsmError) -> Option<(Oid, u32)> {
        let s = &self.stats;
        let c = match e {
            UsmError::UnsupportedSecLevel => &s.unsupported_sec_levels,
            UsmError::NotInTimeWindow => &s.not_in_time_windows,
            UsmError::UnknownUser => &s.unknown_user_names,
            UsmError::UnknownEngineId => &s.unknown_engine_ids,
            UsmError::WrongDigest => &s.wrong_digests,
            UsmError::DecryptionError => &s.decryption_errors,
            UsmError::UnknownSecurityModel | UsmError::BadFlags => return None,
        };
        let n = c.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let mut oid = USM_STATS.to_vec();
        oid[9] = e.stat()?;
        oid.push(0);
        Some((Oid(oid), n))
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        m: &V3Message,
        _e: UsmError,
        oid: Oid,
        n: u32,
        level: Level,
        user: Option<&User>,
        time: u32,
    ) -> Vec<u8> {
        // The request-id when the PDU could be read (discovery is plaintext).
        let request_id = match &m.data {
            ScopedData::Plain(s) => s.pdu.request_id,
            ScopedData::Encrypted(_) => 0,
        };
        let scoped = ScopedPdu {
            context_engine_id: self.engine_id.clone(),
            context_name: Vec::new(),
            pdu: Pdu::new(
                PduType::Report,
                request_id,
                vec![VarBind::new(oid, Value::Counter32(n))],
            ),
        };
        let (user_name, level, u) = match user {
            Some(u) if level > Level::NoAuthNoPriv => (u.name.clone(), level, Some(u)),
            _ => (m.usm.user.clone(), Level::NoAuthNoPriv, None),
        };
        self.encode_with(
            m.msg_id, m.max_size, &user_name, level, u, &scoped, time, false,
        )
    }

    /// Encodes a reply (Response) to an accepted message with the same user and level.
    pub fn reply(&self, ctx: &SecurityContext, scoped: &ScopedPdu, time: u32) -> Option<Vec<u8>> {
        let user = self.users.get(&ctx.user)?;
        Some(self.encode_with(
            ctx.msg_id,
            ctx.max_size,
            &ctx.user,
            ctx.level,
            Some(user),
            scoped,
            time,
            false,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn encode_with(
        &self,
        msg_id: i32,
        _max_size: i32,
        user_name: &[u8],
        level: Level,
        user: Option<&User>,
        scoped: &ScopedPdu,
        time: u32,
        reportable: bool,
    ) -> Vec<u8> {
        let mut params = UsmParams {
            engine_id: self.engine_id.clone(),
            boots: self.boots,
            time,
            user: user_name.to_vec(),
            auth: Vec::new(),
            privacy: Vec::new(),
        };
        let auth = user
            .and_then(|u| u.auth.as_ref())
            .filter(|_| level >= Level::AuthNoPriv);
        let privacy = user
            .and_then(|u| u.privacy.as_ref())
            .filter(|_| level == Level::AuthPriv);
        let data = match privacy {
            Some((p, key)) => {
                let salt = self.salt.fetch_add(1, Ordering::Relaxed);
                let (c, s) = usm::encrypt(*p, key, self.boots, time, salt, &scoped.to_bytes());
                params.privacy = s;
                ScopedData::Encrypted(c)
            }
            None => ScopedData::Plain(scoped.clone()),
        };
        if let Some((p, _)) = auth {
            params.auth = vec![0; p.mac_len()];
        }
        let msg = V3Message {
            msg_id,
            max_size: 65_507,
            flags: level.flags() | if reportable { flags::REPORTABLE } else { 0 },
            security_model: USM_SECURITY_MODEL,
            usm: params,
            data,
            auth_range: None,
        };
        let (mut bytes, (a, b)) = msg.encode();
        if let Some((p, key)) = auth {
            let mac = usm::hmac(*p, key, &bytes);
            if let Some(dst) = bytes.get_mut(a..b) {
                dst.copy_from_slice(&mac);
            }
        }
        bytes
    }
}
