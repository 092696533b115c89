//! Typed access to a plugin's `config` table (the [`PluginConfig`] of every
//! request, `sdk/ABI.md` "Requests"): absent keys take a default, present
//! keys of the wrong type are an error, so an operator's typo is reported
//! instead of silently ignored.

use std::fmt;

use headend_abi::{ConfigValue, PluginConfig};

/// A configuration key holds a value of the wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key.
    pub key: String,
    /// What was expected there.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: expected {}", self.key, self.expected)
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.to_string()
    }
}

fn wrong(key: &str, expected: &'static str) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        expected,
    }
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
            Some(_) => Err(wrong(key, "a string")),
        }
    }

    /// A string, `default` when absent.
    fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str, ConfigError> {
        Ok(self.opt_str(key)?.unwrap_or(default))
    }

    /// A string that must be present.
    fn require_str(&self, key: &str) -> Result<&str, ConfigError> {
        self.opt_str(key)?.ok_or_else(|| wrong(key, "a string"))
    }

    /// An integer, `None` when absent.
    fn opt_int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(ConfigValue::Int(i)) => Ok(Some(*i)),
            Some(_) => Err(wrong(key, "an integer")),
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
            Some(_) => Err(wrong(key, "true or false")),
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
                .map(|v| v.as_str().ok_or_else(|| wrong(key, "a list of strings")))
                .collect(),
            Some(_) => Err(wrong(key, "a list of strings")),
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
                    Err(wrong(key, "a list of strings"))
                }
            }
            Some(_) => Err(wrong(key, "a list of strings")),
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
                .map(|v| v.as_int().ok_or_else(|| wrong(key, "a list of integers")))
                .collect(),
            Some(_) => Err(wrong(key, "a list of integers")),
        }
    }

    /// A nested table, `None` when absent.
    fn table(&self, key: &str) -> Result<Option<&ConfigValue>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(t @ ConfigValue::Table(_)) => Ok(Some(t)),
            Some(_) => Err(wrong(key, "a table")),
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
                    _ => Err(wrong(key, "an array of tables")),
                })
                .collect(),
            Some(_) => Err(wrong(key, "an array of tables")),
        }
    }
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
}
