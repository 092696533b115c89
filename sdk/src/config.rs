//! Typed access to a plugin's `config` table (the [`PluginConfig`] of every
//! request, `sdk/ABI.md` "Requests"): absent keys take a default, present
//! keys of the wrong type are an error, so an operator's typo is reported
//! instead of silently ignored.
//!
//! Also the config-file tables that the DOCSIS and PacketCable generators
//! share: SNMP objects as TLV 11 VarBinds (MULPI annex C,
//! PKT-SP-EUE-PROV section 6.4.2) and TLV 38 SNMPv3 Notification Receivers
//! (MULPI C.1.2.12, 38.8 from PKT-SP-EUE-PROV section 6.5).

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use headend_abi::{ConfigValue, PluginConfig};
use headend_config_file::{NotificationReceiver, NotificationType, Value, VarBind};

/// A configuration key holds a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (of the nested table, where the value is one).
    pub key: String,
    /// What is wrong with its value.
    pub problem: Problem,
}

/// What is wrong with a configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The value has another type (or is absent where required); what was expected.
    WrongType(&'static str),
    /// The value has the right type but cannot be used: an address that is
    /// not one, a number out of range, an unknown name.
    Invalid(String),
}

impl ConfigError {
    /// `key` holds a value of another type than `expected`.
    pub fn wrong_type(key: &str, expected: &'static str) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            problem: Problem::WrongType(expected),
        }
    }

    /// `key` holds a value of the right type that cannot be used, for `reason`.
    pub fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_string(),
            problem: Problem::Invalid(reason.into()),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::WrongType(expected) => write!(
                f,
                "{}{}`: expected {}",
                headend_abi::CONFIG_ERROR_PREFIX,
                self.key,
                expected
            ),
            Problem::Invalid(reason) => write!(
                f,
                "{}{}`: {}",
                headend_abi::CONFIG_ERROR_PREFIX,
                self.key,
                reason
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.to_string()
    }
}

/// `v` (read from `key`) as a `T`: a port, a rate, a count; out of `T`'s
/// range is an error naming `key`.
pub fn in_range<T: TryFrom<i64>>(key: &str, v: i64) -> Result<T, ConfigError> {
    T::try_from(v).map_err(|_| ConfigError::invalid(key, format!("{v} is out of range")))
}

/// Typed lookups over a [`PluginConfig`] or a nested table [`ConfigValue`].
pub trait ConfigExt {
    /// The raw value of `key` (`None` when absent, or when `self` is not a table).
    fn value(&self, key: &str) -> Option<&ConfigValue>;

    /// A string, `None` when absent.
    fn opt_str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(ConfigValue::Str(s)) => Ok(Some(s)),
            Some(_) => Err(ConfigError::wrong_type(key, "a string")),
        }
    }

    /// A string, `default` when absent.
    fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str, ConfigError> {
        Ok(self.opt_str(key)?.unwrap_or(default))
    }

    /// A string that must be present.
    fn require_str(&self, key: &str) -> Result<&str, ConfigError> {
        self.opt_str(key)?
            .ok_or_else(|| ConfigError::wrong_type(key, "a string"))
    }

    /// An integer, `None` when absent.
    fn opt_int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(ConfigValue::Int(i)) => Ok(Some(*i)),
            Some(_) => Err(ConfigError::wrong_type(key, "an integer")),
        }
    }

    /// An integer, `default` when absent.
    fn int_or(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        Ok(self.opt_int(key)?.unwrap_or(default))
    }

    /// A boolean, `default` when absent.
    fn bool_or(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.value(key) {
            None => Ok(default),
            Some(ConfigValue::Bool(b)) => Ok(*b),
            Some(_) => Err(ConfigError::wrong_type(key, "true or false")),
        }
    }

    /// A list of strings; a single string counts as a one-element list,
    /// absent as empty.
    fn str_list(&self, key: &str) -> Result<Vec<&str>, ConfigError> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(ConfigValue::Str(s)) => Ok(vec![s.as_str()]),
            Some(ConfigValue::List(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| ConfigError::wrong_type(key, "a list of strings"))
                })
                .collect(),
            Some(_) => Err(ConfigError::wrong_type(key, "a list of strings")),
        }
    }

    /// [`str_list`](ConfigExt::str_list) without allocating: the items are
    /// type-checked up front, then iterated in place (hooks run per packet,
    /// in a fresh instance each time, so per-call allocations add up).
    fn str_items(&self, key: &str) -> Result<StrItems<'_>, ConfigError> {
        match self.value(key) {
            None => Ok(StrItems::Slice([].iter())),
            Some(ConfigValue::Str(s)) => Ok(StrItems::One(Some(s.as_str()))),
            Some(ConfigValue::List(items)) => {
                if items.iter().all(|v| v.as_str().is_some()) {
                    Ok(StrItems::Slice(items.iter()))
                } else {
                    Err(ConfigError::wrong_type(key, "a list of strings"))
                }
            }
            Some(_) => Err(ConfigError::wrong_type(key, "a list of strings")),
        }
    }

    /// A list of integers; a single integer counts as a one-element list,
    /// absent as empty.
    fn int_list(&self, key: &str) -> Result<Vec<i64>, ConfigError> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(ConfigValue::Int(i)) => Ok(vec![*i]),
            Some(ConfigValue::List(items)) => items
                .iter()
                .map(|v| {
                    v.as_int()
                        .ok_or_else(|| ConfigError::wrong_type(key, "a list of integers"))
                })
                .collect(),
            Some(_) => Err(ConfigError::wrong_type(key, "a list of integers")),
        }
    }

    /// A nested table, `None` when absent.
    fn table(&self, key: &str) -> Result<Option<&ConfigValue>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(t @ ConfigValue::Table(_)) => Ok(Some(t)),
            Some(_) => Err(ConfigError::wrong_type(key, "a table")),
        }
    }

    /// An array of tables (TOML `[[key]]`), empty when absent.
    fn tables(&self, key: &str) -> Result<Vec<&ConfigValue>, ConfigError> {
        match self.value(key) {
            None => Ok(Vec::new()),
            Some(ConfigValue::List(items)) => items
                .iter()
                .map(|v| match v {
                    ConfigValue::Table(_) => Ok(v),
                    _ => Err(ConfigError::wrong_type(key, "an array of tables")),
                })
                .collect(),
            Some(_) => Err(ConfigError::wrong_type(key, "an array of tables")),
        }
    }

    /// SNMP objects of a `key = [{ oid, type, value }]` list, for TLV 11:
    /// `type` is a [`Value::parse`] type name (default `string`), `value` a
    /// string, integer or boolean. Errors name `key` and, where it is the
    /// culprit, the entry's OID or value.
    fn snmp_objects(&self, key: &str) -> Result<Vec<VarBind>, ConfigError> {
        self.tables(key)?
            .into_iter()
            .map(|t| snmp_object(key, t))
            .collect()
    }

    /// TLV 38 receivers of a `key = [{ address, port, type, security_name }]`
    /// list: `address` IPv4 or IPv6 (38.1 / 38.8), `port` default 162,
    /// `type` 1..5 (38.3) default `default_type`, `security_name` optional.
    fn notification_receivers(
        &self,
        key: &str,
        default_type: NotificationType,
    ) -> Result<Vec<NotificationReceiver>, ConfigError> {
        self.tables(key)?
            .into_iter()
            .map(|t| notification_receiver(key, t, default_type))
            .collect()
    }
}

/// One entry of [`ConfigExt::snmp_objects`].
fn snmp_object(key: &str, t: &ConfigValue) -> Result<VarBind, ConfigError> {
    let oid = t.require_str("oid")?;
    let kind = t.str_or("type", "string")?;
    // Borrowed where possible: generators run per file request.
    let text: Cow<'_, str> = match t.value("value") {
        Some(ConfigValue::Str(s)) => Cow::Borrowed(s),
        Some(ConfigValue::Int(i)) => Cow::Owned(i.to_string()),
        Some(ConfigValue::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
        _ => {
            return Err(ConfigError::invalid(
                key,
                format!("object {oid} needs a `value`"),
            ))
        }
    };
    let oid = oid
        .parse()
        .map_err(|e| ConfigError::invalid(key, format!("{e}")))?;
    let value = Value::parse(kind, &text).map_err(|e| ConfigError::invalid(key, format!("{e}")))?;
    Ok(VarBind::new(oid, value))
}

/// One entry of [`ConfigExt::notification_receivers`].
fn notification_receiver(
    key: &str,
    t: &ConfigValue,
    default_type: NotificationType,
) -> Result<NotificationReceiver, ConfigError> {
    let address = t.require_str("address")?;
    let addr: IpAddr = address
        .parse()
        .map_err(|_| ConfigError::invalid(key, format!("`{address}` is not an IP address")))?;
    let ty = match t.opt_int("type")? {
        None => default_type,
        Some(1) => NotificationType::V1Trap,
        Some(2) => NotificationType::V2cTrap,
        Some(3) => NotificationType::V2cInform,
        Some(4) => NotificationType::V3Trap,
        Some(5) => NotificationType::V3Inform,
        Some(n) => {
            return Err(ConfigError::invalid(
                key,
                format!("notification type {n} is not 1..5"),
            ))
        }
    };
    let port = t.int_or("port", 162)?;
    let mut r = NotificationReceiver::new(addr, ty);
    r.port = Some(in_range(key, port)?);
    r.security_name = t.opt_str("security_name")?.map(str::to_string);
    Ok(r)
}

/// The strings of a configuration list, from [`ConfigExt::str_items`].
#[derive(Debug, Clone)]
pub enum StrItems<'a> {
    /// A single string standing for a one-element list.
    One(Option<&'a str>),
    /// The elements of a list, all checked to be strings.
    Slice(std::slice::Iter<'a, ConfigValue>),
}

impl<'a> Iterator for StrItems<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            StrItems::One(s) => s.take(),
            // Every element was checked by `str_items`; filter_map only
            // keeps this total without a panic path.
            StrItems::Slice(it) => it.by_ref().find_map(ConfigValue::as_str),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            StrItems::One(s) => (usize::from(s.is_some()), Some(usize::from(s.is_some()))),
            StrItems::Slice(it) => (it.len(), Some(it.len())),
        }
    }
}

impl ExactSizeIterator for StrItems<'_> {}

impl ConfigExt for PluginConfig {
    fn value(&self, key: &str) -> Option<&ConfigValue> {
        self.get(key)
    }
}

impl ConfigExt for ConfigValue {
    fn value(&self, key: &str) -> Option<&ConfigValue> {
        self.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{config, string, strings, table};

    #[test]
    fn defaults_apply_only_when_absent() {
        let cfg = config(vec![
            ("name", string("voice")),
            ("count", ConfigValue::Int(3)),
            ("on", ConfigValue::Bool(true)),
        ]);
        assert_eq!(cfg.str_or("name", "x").unwrap(), "voice");
        assert_eq!(cfg.str_or("other", "x").unwrap(), "x");
        assert_eq!(cfg.int_or("count", 9).unwrap(), 3);
        assert_eq!(cfg.int_or("other", 9).unwrap(), 9);
        assert!(cfg.bool_or("on", false).unwrap());
        assert_eq!(cfg.require_str("other").unwrap_err().key, "other");
    }

    #[test]
    fn wrong_types_are_errors() {
        let cfg = config(vec![
            ("name", ConfigValue::Int(1)),
            ("list", strings(&["a"])),
        ]);
        let e = cfg.str_or("name", "x").unwrap_err();
        assert_eq!(e.to_string(), "config key `name`: expected a string");
        assert!(cfg.int_or("list", 0).is_err());
        assert!(cfg.bool_or("name", false).is_err());
        assert!(cfg.int_list("list").is_err());
        assert!(cfg.tables("list").is_err());
        assert!(cfg.table("name").is_err());
        let mixed = config(vec![(
            "list",
            ConfigValue::List(vec![string("a"), ConfigValue::Int(1)]),
        )]);
        assert!(mixed.str_items("list").is_err());
        assert!(mixed.str_list("list").is_err());
    }

    #[test]
    fn lists_accept_scalars_and_nested_tables_work() {
        let rule = table(vec![("event_id", ConfigValue::Int(7))]);
        let cfg = config(vec![
            ("one", string("basic")),
            ("many", strings(&["a", "b"])),
            ("ids", ConfigValue::Int(5)),
            ("rules", ConfigValue::List(vec![rule.clone()])),
        ]);
        assert_eq!(cfg.str_list("one").unwrap(), vec!["basic"]);
        assert_eq!(cfg.str_list("many").unwrap(), vec!["a", "b"]);
        assert!(cfg.str_list("none").unwrap().is_empty());
        assert_eq!(cfg.str_items("one").unwrap().collect::<Vec<_>>(), ["basic"]);
        assert_eq!(
            cfg.str_items("many").unwrap().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(cfg.str_items("many").unwrap().size_hint(), (2, Some(2)));
        assert_eq!(cfg.str_items("none").unwrap().next(), None);
        assert!(cfg.str_items("ids").is_err());
        assert_eq!(cfg.int_list("ids").unwrap(), vec![5]);
        let rules = cfg.tables("rules").unwrap();
        assert_eq!(rules, vec![&rule]);
        assert_eq!(rules[0].opt_int("event_id").unwrap(), Some(7));
        // A non-table value has no keys.
        assert_eq!(string("x").value("k"), None);
    }

    #[test]
    fn snmp_objects_become_varbinds() {
        let cfg = config(vec![(
            "snmp",
            ConfigValue::List(vec![
                // Type defaults to string.
                table(vec![
                    ("oid", string("1.3.6.1.2.1.1.6.0")),
                    ("value", string("lab")),
                ]),
                table(vec![
                    ("oid", string(".1.3.6.1.2.1.2.2.1.7.1")),
                    ("type", string("integer")),
                    ("value", ConfigValue::Int(-2)),
                ]),
                table(vec![
                    ("oid", string("1.3.6.1.4.1.4491.2.2.1.1.1.1.0")),
                    ("type", string("truth")),
                    ("value", ConfigValue::Bool(false)),
                ]),
            ]),
        )]);
        let vbs = cfg.snmp_objects("snmp").unwrap();
        assert_eq!(vbs.len(), 3);
        // sysLocation.0 = "lab": SEQUENCE { OID 1.3.6.1.2.1.1.6.0, OCTET STRING }
        // (RFC 3416 VarBind, BER of X.690).
        assert_eq!(
            vbs[0].encode().unwrap(),
            [
                0x30, 0x0f, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x06, 0x00, 0x04, 0x03,
                b'l', b'a', b'b'
            ]
        );
        assert_eq!(vbs[1].oid, "1.3.6.1.2.1.2.2.1.7.1".parse().unwrap());
        assert_eq!(vbs[1].value, Value::Integer(-2));
        // TruthValue false is 2 (RFC 2579).
        assert_eq!(vbs[2].value, Value::Integer(2));
        assert!(cfg.snmp_objects("absent").unwrap().is_empty());
    }

    #[test]
    fn snmp_object_errors_name_the_key_and_the_entry() {
        let one = |entry| config(vec![("snmp", ConfigValue::List(vec![entry]))]);
        let err = one(table(vec![("oid", string("1.3.6.1.2.1.1.6.0"))]))
            .snmp_objects("snmp")
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::invalid("snmp", "object 1.3.6.1.2.1.1.6.0 needs a `value`")
        );
        assert_eq!(
            err.to_string(),
            "config key `snmp`: object 1.3.6.1.2.1.1.6.0 needs a `value`"
        );
        let err = one(table(vec![("oid", string("1.x")), ("value", string("a"))]))
            .snmp_objects("snmp")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config key `snmp`: ") && err.contains("1.x"),
            "{err}"
        );
        let err = one(table(vec![
            ("oid", string("1.3.6.1.2.1.1.6.0")),
            ("type", string("integer")),
            ("value", string("ten")),
        ]))
        .snmp_objects("snmp")
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("config key `snmp`: ") && err.contains("ten"),
            "{err}"
        );
        // A nested key's own error names that key, with its type.
        let err = one(table(vec![("value", string("a"))]))
            .snmp_objects("snmp")
            .unwrap_err();
        assert_eq!(err, ConfigError::wrong_type("oid", "a string"));
        assert!(config(vec![("snmp", string("x"))])
            .snmp_objects("snmp")
            .is_err());
    }

    #[test]
    fn notification_receivers_take_defaults_and_both_families() {
        let cfg = config(vec![(
            "notification_receivers",
            ConfigValue::List(vec![
                table(vec![("address", string("10.0.0.9"))]),
                table(vec![
                    ("address", string("2001:db8::9")),
                    ("port", ConfigValue::Int(1162)),
                    ("type", ConfigValue::Int(5)),
                    ("security_name", string("ops")),
                ]),
            ]),
        )]);
        let rs = cfg
            .notification_receivers("notification_receivers", NotificationType::V2cInform)
            .unwrap();
        let mut first =
            NotificationReceiver::new("10.0.0.9".parse().unwrap(), NotificationType::V2cInform);
        first.port = Some(162);
        let mut second =
            NotificationReceiver::new("2001:db8::9".parse().unwrap(), NotificationType::V3Inform);
        second.port = Some(1162);
        second.security_name = Some("ops".into());
        assert_eq!(rs, vec![first, second]);
        let rs = cfg
            .notification_receivers("notification_receivers", NotificationType::V2cTrap)
            .unwrap();
        assert_eq!(rs[0].notification_type, NotificationType::V2cTrap);
        assert!(cfg
            .notification_receivers("absent", NotificationType::V2cTrap)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn notification_receiver_errors_name_the_key_and_the_entry() {
        let err = |entry| {
            config(vec![("rx", ConfigValue::List(vec![entry]))])
                .notification_receivers("rx", NotificationType::V2cTrap)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(table(vec![("address", string("cms.example.net"))])),
            "config key `rx`: `cms.example.net` is not an IP address"
        );
        assert_eq!(
            err(table(vec![
                ("address", string("10.0.0.9")),
                ("type", ConfigValue::Int(6)),
            ])),
            "config key `rx`: notification type 6 is not 1..5"
        );
        assert_eq!(
            err(table(vec![
                ("address", string("10.0.0.9")),
                ("port", ConfigValue::Int(65_536)),
            ])),
            "config key `rx`: 65536 is out of range"
        );
        assert!(err(table(vec![("port", ConfigValue::Int(162))])).contains("`address`"));
    }
}
