//! Safe wrappers over the host imports of ABI v1 (`sdk/ABI.md`, "Imports"):
//! logging, the clock, and the plugin's key/value store.
//!
//! Key/value storage is scoped to the plugin by the host and survives
//! between calls (each call runs in a fresh instance, so this is the only
//! state a plugin keeps). On native targets these talk to the fake of
//! [`crate::testing`].

use std::fmt;

use headend_abi::LogLevel;

use crate::guest::sys;

/// First buffer size for `kv_get`; most values are small counters.
const KV_FIRST_BUFFER: usize = 256;
/// Reads of a value that keeps growing between calls give up after this many tries.
const KV_MAX_TRIES: usize = 4;

/// A key/value call the host refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvError {
    /// The host returned this negative status (ABI.md lists the codes).
    Host(i32),
    /// The value kept changing size while it was being read.
    Unstable,
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::Host(code) => write!(f, "key/value store refused the call (status {code})"),
            KvError::Unstable => write!(f, "key/value value changed size while being read"),
        }
    }
}

impl std::error::Error for KvError {}

impl From<KvError> for String {
    fn from(e: KvError) -> String {
        e.to_string()
    }
}

/// Writes a log line, attributed by the host to the plugin and the call.
pub fn log(level: LogLevel, message: &str) {
    sys::log(level as i32, message.as_bytes());
}

/// Logs at [`LogLevel::Debug`].
pub fn debug(message: &str) {
    log(LogLevel::Debug, message);
}

/// Logs at [`LogLevel::Info`].
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

/// Logs at [`LogLevel::Warn`].
pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}

/// Logs at [`LogLevel::Error`].
pub fn error(message: &str) {
    log(LogLevel::Error, message);
}

/// The host's wall clock in Unix milliseconds.
pub fn now_unix_ms() -> i64 {
    sys::now_unix_ms()
}

/// The stored value of `key`, `None` when absent.
pub fn kv_get(key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
    let mut buf = vec![0u8; KV_FIRST_BUFFER];
    for _ in 0..KV_MAX_TRIES {
        let status = sys::kv_get(key, &mut buf);
        if status == -1 {
            return Ok(None);
        }
        let len = match usize::try_from(status) {
            Ok(len) => len,
            Err(_) => return Err(KvError::Host(status)),
        };
        if len <= buf.len() {
            buf.truncate(len);
            return Ok(Some(buf));
        }
        // The host reports the full length when the buffer is too small.
        buf.resize(len, 0);
    }
    Err(KvError::Unstable)
}

/// Stores `value` under `key`, replacing any previous value.
pub fn kv_put(key: &[u8], value: &[u8]) -> Result<(), KvError> {
    match sys::kv_put(key, value) {
        0 => Ok(()),
        status if status < 0 => Err(KvError::Host(status)),
        // Positive statuses are reserved; treat them as success.
        _ => Ok(()),
    }
}

/// Deletes `key`; deleting an absent key is not an error.
pub fn kv_delete(key: &[u8]) -> Result<(), KvError> {
    match sys::kv_delete(key) {
        status if status < 0 => Err(KvError::Host(status)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn kv_round_trip_and_absent() {
        testing::reset();
        assert_eq!(kv_get(b"k").unwrap(), None);
        kv_put(b"k", b"v1").unwrap();
        assert_eq!(kv_get(b"k").unwrap(), Some(b"v1".to_vec()));
        kv_delete(b"k").unwrap();
        kv_delete(b"k").unwrap();
        assert_eq!(kv_get(b"k").unwrap(), None);
    }

    #[test]
    fn kv_get_retries_with_a_bigger_buffer() {
        testing::reset();
        let big: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        kv_put(b"big", &big).unwrap();
        assert_eq!(kv_get(b"big").unwrap(), Some(big));
        // Exactly the first buffer size needs no second call.
        let edge = vec![7u8; KV_FIRST_BUFFER];
        kv_put(b"edge", &edge).unwrap();
        assert_eq!(kv_get(b"edge").unwrap(), Some(edge));
    }

    #[test]
    fn kv_host_errors_surface() {
        testing::reset();
        testing::kv_fail_with(Some(-3));
        assert_eq!(kv_get(b"k"), Err(KvError::Host(-3)));
        assert_eq!(kv_put(b"k", b"v"), Err(KvError::Host(-3)));
        assert_eq!(kv_delete(b"k"), Err(KvError::Host(-3)));
        testing::kv_fail_with(None);
        assert_eq!(kv_put(b"k", b"v"), Ok(()));
    }

    #[test]
    fn log_and_clock_reach_the_fake() {
        testing::reset();
        warn("careful");
        log(LogLevel::Trace, "fine detail");
        testing::set_now_unix_ms(42);
        assert_eq!(now_unix_ms(), 42);
        let logs = testing::take_logs();
        assert_eq!(
            logs,
            vec![
                testing::LogLine {
                    level: LogLevel::Warn,
                    message: "careful".into()
                },
                testing::LogLine {
                    level: LogLevel::Trace,
                    message: "fine detail".into()
                },
            ]
        );
        assert!(testing::take_logs().is_empty());
    }
}
