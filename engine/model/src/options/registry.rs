//! The option type registry (seed 004 section 5.9): the built-in option
//! types plus the operator's `[[option_type]]` declarations, looked up by
//! tag path or by name.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;

use super::builtin;
use super::path::{PathError, Space, TagPath};
use super::types::{Bounds, DataType, Framing, OptionDef, Settable};

/// Errors of looking up an option by path or name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// No option type has this path or name.
    #[error("unknown option {0:?}: not a declared option tag or name")]
    Unknown(String),
    /// The option exists but operators may not set it.
    #[error("option {name} ({path}) is set by the server and cannot be configured")]
    NotSettable {
        /// Its name.
        name: String,
        /// Its path.
        path: TagPath,
    },
}

/// Errors of an `[[option_type]]` declaration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionTypeError {
    /// The tag is not a path.
    #[error("option type {tag:?}: {source}")]
    BadTag {
        /// The tag as written.
        tag: String,
        /// Why it does not parse.
        #[source]
        source: PathError,
    },
    /// The tag is in the reserved server space.
    #[error(
        "option type {0:?}: the server/ space is reserved for the built-in server control options"
    )]
    Reserved(String),
    /// A top-level DHCPv4 code outside 1..=254.
    #[error(
        "option type {0:?}: top-level DHCPv4 option codes are 1 to 254 (0 is pad, 255 is end)"
    )]
    BadCode(String),
    /// A top-level DHCPv6 code outside 1..=65535.
    #[error("option type {0:?}: top-level DHCPv6 option codes are 1 to 65535")]
    BadCode6(String),
    /// The enclosing container is not declared.
    #[error("option type {tag}: its container {parent} is not declared")]
    NoParent {
        /// The declared path.
        tag: TagPath,
        /// The missing container.
        parent: TagPath,
    },
    /// The enclosing option is not a container.
    #[error("option type {tag}: {parent} is a {parent_type} option, not suboptions or vendor")]
    ParentNotContainer {
        /// The declared path.
        tag: TagPath,
        /// The enclosing option.
        parent: TagPath,
        /// Its data type.
        parent_type: DataType,
    },
    /// The sub-option code does not fit the container's tag field.
    #[error(
        "option type {tag}: code {code} does not fit the {width}-octet tag field of its container"
    )]
    CodeTooWide {
        /// The declared path.
        tag: TagPath,
        /// The code.
        code: u32,
        /// Tag field width.
        width: u8,
    },
    /// The name is taken by another option.
    #[error("option type {tag}: the name {name:?} is already used by {other}")]
    DuplicateName {
        /// The declared path.
        tag: TagPath,
        /// The name.
        name: String,
        /// The option already using it.
        other: TagPath,
    },
    /// The name cannot be told apart from a path, or is empty.
    #[error("option type {tag}: bad name {name:?}: {reason}")]
    BadName {
        /// The declared path.
        tag: TagPath,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Turning a container into a plain option would orphan its sub-options.
    #[error(
        "option type {tag}: it has {children} declared sub-options, so it must stay a container"
    )]
    Orphans {
        /// The declared path.
        tag: TagPath,
        /// Number of sub-options.
        children: usize,
    },
    /// Fields that do not make sense together.
    #[error("option type {tag}: {reason}")]
    Invalid {
        /// The declared path.
        tag: TagPath,
        /// What is wrong.
        reason: String,
    },
}

/// One `[[option_type]]` table of the configuration file (seed 004 section
/// 5.9 field names).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionTypeDecl {
    /// Tag path, e.g. `"43/200"` or `"125/4491/200"`.
    pub tag: String,
    /// Data type name, e.g. `"u8"`, `"ip"`, `"dns_name"`.
    #[serde(rename = "type")]
    pub data_type: DataType,
    /// Unique name.
    pub name: String,
    /// Whether the option holds a list.
    #[serde(default)]
    pub multiple: bool,
    /// Smallest integer value.
    #[serde(default)]
    pub min: Option<i64>,
    /// Largest integer value.
    #[serde(default)]
    pub max: Option<i64>,
    /// The only accepted integer values.
    #[serde(default)]
    pub values: Vec<i64>,
    /// Integers are signed.
    #[serde(default)]
    pub signed: bool,
    /// Strings get a terminating NUL on the wire.
    #[serde(default)]
    pub null_terminated: bool,
    /// Octets of a length field before each element: 0, 1 or 2.
    #[serde(default)]
    pub length_prefix: u8,
    /// Smallest element length in octets (strings, bytes).
    #[serde(default)]
    pub min_length: Option<usize>,
    /// Largest element length in octets (strings, bytes).
    #[serde(default)]
    pub max_length: Option<usize>,
    /// IANA enterprise number: the tag is then relative to the vendor
    /// container, e.g. tag `"125/200"` with `vendor = 4491` is `125/4491/200`.
    #[serde(default)]
    pub vendor: Option<u32>,
    /// This sub-option is the vendor's option request list.
    #[serde(default)]
    pub vendor_oro: bool,
    /// Tag field width of a container's sub-options (default 1).
    #[serde(default)]
    pub tag_width: Option<u8>,
    /// Length field width of a container's sub-options (default 1).
    #[serde(default)]
    pub len_width: Option<u8>,
    /// Whether operators may set it.
    #[serde(default)]
    pub user: Settable,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
}

/// All option types known to a configuration, by path and by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: BTreeMap<TagPath, OptionDef>,
    names: HashMap<String, TagPath>,
}

impl Registry {
    /// The built-in option types.
    pub fn builtin() -> Registry {
        static BUILTIN: OnceLock<Registry> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // The table is fixed; `builtin_table_is_consistent` proves this cannot fail.
                Registry::from_defs(builtin::definitions()).unwrap_or_default()
            })
            .clone()
    }

    /// Builds a registry from definitions, checking each like a declaration.
    pub fn from_defs(defs: Vec<OptionDef>) -> Result<Registry, OptionTypeError> {
        let mut reg = Registry::default();
        for def in defs {
            reg.insert(def)?;
        }
        Ok(reg)
    }

    /// The built-in option types plus the operator's declarations, which add
    /// new types or replace built-in ones at the same path.
    pub fn with_declarations(decls: &[OptionTypeDecl]) -> Result<Registry, OptionTypeError> {
        let mut reg = Registry::builtin();
        for decl in decls {
            reg.declare(decl)?;
        }
        Ok(reg)
    }

    /// Adds or replaces one declared option type.
    pub fn declare(&mut self, decl: &OptionTypeDecl) -> Result<(), OptionTypeError> {
        let def = self.def_from_decl(decl)?;
        self.insert(def)
    }

    fn def_from_decl(&self, decl: &OptionTypeDecl) -> Result<OptionDef, OptionTypeError> {
        let parsed: TagPath = decl.tag.parse().map_err(|source| OptionTypeError::BadTag {
            tag: decl.tag.clone(),
            source,
        })?;
        if parsed.space() == Space::Server {
            return Err(OptionTypeError::Reserved(decl.tag.clone()));
        }
        let path = match decl.vendor {
            None => parsed,
            Some(ent) => {
                let top = parsed.prefix(1);
                let is_vendor = self
                    .get(&top)
                    .is_some_and(|d| d.data_type == DataType::Vendor);
                let mut el = vec![parsed.top(), ent];
                el.extend_from_slice(parsed.as_slice().get(1..).unwrap_or_default());
                match TagPath::new(parsed.space(), &el) {
                    Some(p) if is_vendor && parsed.depth() >= 2 => p,
                    _ => {
                        return Err(OptionTypeError::Invalid {
                            tag: parsed,
                            reason: format!(
                                "vendor = {ent} needs a tag inside a vendor container, such as \"125/1\" for 125/{ent}/1"
                            ),
                        })
                    }
                }
            }
        };
        let invalid = |reason: &str| OptionTypeError::Invalid {
            tag: path.clone(),
            reason: reason.to_string(),
        };
        let t = decl.data_type;
        if !t.is_numeric()
            && (decl.min.is_some() || decl.max.is_some() || decl.signed || !decl.values.is_empty())
        {
            return Err(invalid(
                "min, max, values and signed apply to integer and time types only",
            ));
        }
        if let (Some(lo), Some(hi)) = (decl.min, decl.max) {
            if lo > hi {
                return Err(invalid("min is greater than max"));
            }
        }
        if decl.null_terminated && t != DataType::String {
            return Err(invalid("null_terminated applies to string types only"));
        }
        if decl.length_prefix > 2 {
            return Err(invalid("length_prefix is 0, 1 or 2"));
        }
        let framing = Framing {
            tag_width: decl.tag_width.unwrap_or(1),
            len_width: decl.len_width.unwrap_or(1),
        };
        if !(1..=2).contains(&framing.tag_width) || !(1..=2).contains(&framing.len_width) {
            return Err(invalid("tag_width and len_width are 1 or 2"));
        }
        if !t.is_container() && (decl.tag_width.is_some() || decl.len_width.is_some()) {
            return Err(invalid(
                "tag_width and len_width apply to suboptions and vendor types only",
            ));
        }
        let octets = Bounds {
            min: decl.min_length.unwrap_or(0),
            max: decl.max_length.unwrap_or(usize::MAX),
            step: 1,
        };
        if octets.min > octets.max {
            return Err(invalid("min_length is greater than max_length"));
        }
        let mut def = OptionDef::new(path.clone(), decl.name.trim(), t, &decl.description);
        def.multiple = decl.multiple;
        def.signed = decl.signed;
        def.min = decl.min.map(i128::from);
        def.max = decl.max.map(i128::from);
        def.values = decl.values.iter().map(|&v| i128::from(v)).collect();
        def.octets = octets;
        def.length_prefix = decl.length_prefix;
        def.null_terminated = decl.null_terminated;
        def.vendor_oro = decl.vendor_oro;
        def.framing = framing;
        def.user = decl.user;
        Ok(def)
    }

    /// Inserts a definition after checking it fits: parent container,
    /// code width, unique name, field combinations.
    fn insert(&mut self, def: OptionDef) -> Result<(), OptionTypeError> {
        let path = def.path.clone();
        check_fields(&def)?;
        if path.space() == Space::Dhcp4 && !(1..=254).contains(&path.top()) {
            return Err(OptionTypeError::BadCode(path.to_string()));
        }
        if path.space() == Space::Dhcp6 && !(1..=65535).contains(&path.top()) {
            return Err(OptionTypeError::BadCode6(path.to_string()));
        }
        if let Some(parent) = path.parent() {
            self.check_parent(&def, &parent)?;
        }
        let name = def.name.to_ascii_lowercase();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(OptionTypeError::BadName {
                tag: path,
                name,
                reason: "names are non-empty, without spaces",
            });
        }
        if name.parse::<TagPath>().is_ok() || name.contains('/') {
            return Err(OptionTypeError::BadName {
                tag: path,
                name,
                reason: "a name cannot look like a tag path",
            });
        }
        if name.starts_with("server.") && path.space() != Space::Server {
            return Err(OptionTypeError::BadName {
                tag: path,
                name,
                reason: "the server. prefix is reserved",
            });
        }
        if let Some(other) = self.names.get(&name) {
            if *other != path {
                return Err(OptionTypeError::DuplicateName {
                    tag: path,
                    name,
                    other: other.clone(),
                });
            }
        }
        if !def.data_type.is_container() {
            let children = self.children(&path).count();
            if children > 0 {
                return Err(OptionTypeError::Orphans {
                    tag: path,
                    children,
                });
            }
        }
        if let Some(old) = self.defs.remove(&path) {
            self.names.remove(&old.name.to_ascii_lowercase());
        }
        self.names.insert(name, path.clone());
        self.defs.insert(path, def);
        Ok(())
    }

    fn check_parent(&mut self, def: &OptionDef, parent: &TagPath) -> Result<(), OptionTypeError> {
        let tag = def.path.clone();
        // Under a vendor container the element after it is an enterprise
        // number; its node is created on first use, as RFC 3925 gives every
        // enterprise the same sub-option framing.
        if let Some(grand) = parent.parent() {
            let grand_is_vendor = self
                .get(&grand)
                .is_some_and(|g| g.data_type == DataType::Vendor);
            if grand_is_vendor && !self.defs.contains_key(parent) {
                let framing = self.get(&grand).map(|g| g.framing).unwrap_or_default();
                self.insert(enterprise_node(&grand, parent.clone(), framing))?;
            }
        }
        let Some(p) = self.get(parent) else {
            return Err(OptionTypeError::NoParent {
                tag,
                parent: parent.clone(),
            });
        };
        match p.data_type {
            DataType::Suboptions => {
                if u64::from(tag.last()) > p.framing.max_tag() {
                    let code = tag.last();
                    return Err(OptionTypeError::CodeTooWide {
                        tag,
                        code,
                        width: p.framing.tag_width,
                    });
                }
            }
            // The element below a vendor container is an enterprise number: any u32.
            DataType::Vendor => {
                if def.data_type != DataType::Suboptions {
                    return Err(OptionTypeError::Invalid {
                        tag,
                        reason: "the enterprise element of a vendor container must be of type suboptions".into(),
                    });
                }
            }
            other => {
                return Err(OptionTypeError::ParentNotContainer {
                    tag,
                    parent: parent.clone(),
                    parent_type: other,
                });
            }
        }
        Ok(())
    }

    /// Looks an option up by tag path (`"122/6"`) or by name (`"cablelabs-realm"`).
    pub fn resolve(&self, key: &str) -> Result<&OptionDef, OptionError> {
        let key = key.trim();
        let found = match key.parse::<TagPath>() {
            Ok(path) => self.get(&path),
            Err(_) => self.by_name(key),
        };
        found.ok_or_else(|| OptionError::Unknown(key.to_string()))
    }

    /// Like [`Registry::resolve`], but also refuses options the server owns.
    pub fn resolve_settable(&self, key: &str) -> Result<&OptionDef, OptionError> {
        let def = self.resolve(key)?;
        if def.user == Settable::Disallowed {
            return Err(OptionError::NotSettable {
                name: def.name.clone(),
                path: def.path.clone(),
            });
        }
        Ok(def)
    }

    /// The definition at a path.
    pub fn get(&self, path: &TagPath) -> Option<&OptionDef> {
        self.defs.get(path)
    }

    /// The definition with this name (case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<&OptionDef> {
        self.names
            .get(&name.to_ascii_lowercase())
            .and_then(|p| self.defs.get(p))
    }

    /// The direct sub-options of a container, in code order.
    pub fn children<'a>(&'a self, path: &TagPath) -> impl Iterator<Item = &'a OptionDef> + 'a {
        let parent = path.clone();
        let depth = path.depth() + 1;
        self.defs
            .range(path.clone()..)
            .skip(1)
            .take_while(move |(p, _)| p.starts_with(&parent))
            .filter(move |(p, _)| p.depth() == depth)
            .map(|(_, d)| d)
    }

    /// Every definition, in path order.
    pub fn iter(&self) -> impl Iterator<Item = &OptionDef> {
        self.defs.values()
    }

    /// Number of definitions.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }
}

/// The implicit definition of an enterprise block inside a vendor container.
pub(crate) fn enterprise_node(container: &TagPath, path: TagPath, framing: Framing) -> OptionDef {
    let ent = path.last();
    let mut def = OptionDef::new(
        path,
        &format!("{}-{ent}", container_prefix(container)),
        DataType::Suboptions,
        &format!("Enterprise {ent} sub-options (RFC 3925 section 4)"),
    );
    def.framing = framing;
    def
}

fn container_prefix(container: &TagPath) -> String {
    match container.as_slice() {
        [125] => "vivso".into(),
        [82, 9] => "agent.vendor-specific".into(),
        other => format!(
            "vendor-{}",
            other
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("-")
        ),
    }
}

fn check_fields(def: &OptionDef) -> Result<(), OptionTypeError> {
    let invalid = |reason: &str| OptionTypeError::Invalid {
        tag: def.path.clone(),
        reason: reason.to_string(),
    };
    let t = def.data_type;
    if def.vendor_oro && !(def.multiple && matches!(t, DataType::U8 | DataType::U16)) {
        return Err(invalid(
            "a vendor_oro option must be a multiple u8 or u16 list of codes",
        ));
    }
    if t.is_container() && def.multiple {
        return Err(invalid(
            "a container cannot be multiple: its sub-options are the elements",
        ));
    }
    let self_delimiting = t.int_width().is_some()
        || matches!(
            t,
            DataType::Ip
                | DataType::Ip6
                | DataType::Endpoint
                | DataType::Bool
                | DataType::DnsName
                | DataType::DnsNameList
                | DataType::ProvServer
                | DataType::ClasslessRoutes
                | DataType::SipServers
        )
        || (t == DataType::String && def.null_terminated);
    if def.multiple && def.length_prefix == 0 && !self_delimiting {
        return Err(invalid(
            "a multiple option of variable-length elements needs length_prefix = 1 or 2",
        ));
    }
    if t == DataType::ClientFqdn && def.multiple {
        return Err(invalid("client_fqdn cannot be multiple"));
    }
    if matches!(
        t,
        DataType::DnsNameList | DataType::ClasslessRoutes | DataType::SipServers
    ) && !def.multiple
    {
        return Err(invalid(
            "dns_name_list, classless_routes and sip_servers are lists: set multiple = true",
        ));
    }
    if t == DataType::SipServers && def.length_prefix != 0 {
        return Err(invalid(
            "sip_servers elements are not length-prefixed (RFC 3361)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::literal::Literal;
    use crate::options::builtin::definitions;
    use crate::options::set::OptionSet;
    use crate::options::value::coerce;

    fn p(s: &str) -> TagPath {
        s.parse().unwrap()
    }

    #[derive(Deserialize)]
    struct File {
        option_type: Vec<OptionTypeDecl>,
    }

    fn decls(toml_text: &str) -> Result<Vec<OptionTypeDecl>, String> {
        toml::from_str::<File>(toml_text)
            .map(|f| f.option_type)
            .map_err(|e| e.to_string())
    }

    fn declare(toml_text: &str) -> Result<Registry, OptionTypeError> {
        Registry::with_declarations(&decls(toml_text).unwrap())
    }

    #[test]
    fn builtin_table_is_consistent() {
        let defs = definitions();
        let reg = Registry::from_defs(defs.clone()).unwrap();
        assert_eq!(
            reg.len(),
            defs.len(),
            "no built-in path or name is declared twice"
        );
        assert_eq!(Registry::builtin().len(), defs.len());
        assert!(defs
            .iter()
            .all(|d| d.path.depth() >= 1 && d.path.top() != 0));
        assert!(
            defs.iter().all(|d| d.description.contains("RFC")
                || d.description.contains("seed")
                || d.description.contains("CableLabs")
                || d.description.contains("CANN")
                || d.description.contains("PKT-SP")),
            "every description cites its source"
        );
        // All of RFC 2132 (1-76) is there.
        for code in 1..=76u8 {
            assert!(reg.get(&TagPath::dhcp4(code)).is_some(), "option {code}");
        }
    }

    #[test]
    fn resolves_by_path_and_by_name() {
        let reg = Registry::builtin();
        assert_eq!(reg.resolve("routers").unwrap().path, p("3"));
        assert_eq!(reg.resolve("ROUTERS").unwrap().path, p("3"));
        assert_eq!(reg.resolve("tftp-server-name").unwrap().path, p("66"));
        assert_eq!(reg.resolve("122/6").unwrap().name, "cablelabs-realm");
        assert_eq!(
            reg.resolve("cablelabs-realm").unwrap().data_type,
            DataType::DnsName
        );
        assert_eq!(
            reg.resolve("125/4491/2").unwrap().name,
            "cl-v4-tftp-servers"
        );
        assert_eq!(
            reg.resolve("125/4491/123/1").unwrap().data_type,
            DataType::DssId
        );
        assert_eq!(
            reg.resolve("server.lease-time").unwrap().path,
            TagPath::server(1)
        );
        assert_eq!(reg.resolve("server/4").unwrap().name, "server.no-response");
        assert_eq!(reg.resolve("agent.remote-id").unwrap().path, p("82/2"));
        assert_eq!(
            reg.resolve("nonsense"),
            Err(OptionError::Unknown("nonsense".into()))
        );
        assert_eq!(reg.resolve("200"), Err(OptionError::Unknown("200".into())));
        assert!(matches!(
            reg.resolve_settable("dhcp-message-type"),
            Err(OptionError::NotSettable { .. })
        ));
        assert!(reg.resolve_settable("routers").is_ok());
        assert!(reg.resolve("server.lease-time").unwrap().is_control());
    }

    #[test]
    fn children_in_code_order() {
        let reg = Registry::builtin();
        let codes = |path: &str| {
            reg.children(&p(path))
                .map(|d| d.path.last())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes("122"), (1..=10).collect::<Vec<_>>());
        assert_eq!(codes("125"), [4491]);
        assert_eq!(codes("125/4491"), [1, 2, 3, 4, 5, 123, 124]);
        assert_eq!(codes("125/4491/123"), [1, 2]);
        assert_eq!(codes("82"), [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(codes("66").is_empty());
    }

    #[test]
    fn declarations_extend_the_builtins() {
        let reg = declare(
            r#"
            [[option_type]]
            tag = "43/200"
            type = "string"
            name = "acme-config"
            description = "ACME config file"

            [[option_type]]
            tag = "125/1"
            vendor = 9999
            type = "u8"
            multiple = true
            vendor_oro = true
            name = "acme-oro"

            [[option_type]]
            tag = "125/9999/2"
            type = "ip"
            multiple = true
            name = "acme-servers"

            [[option_type]]
            tag = "224"
            type = "u16"
            name = "site-local"
            min = 10
            max = 20
            user = "required"
            "#,
        )
        .unwrap();
        assert_eq!(reg.resolve("acme-config").unwrap().path, p("43/200"));
        assert_eq!(reg.resolve("acme-oro").unwrap().path, p("125/9999/1"));
        assert!(reg.resolve("acme-oro").unwrap().vendor_oro);
        assert_eq!(
            reg.resolve("vivso-9999").unwrap().data_type,
            DataType::Suboptions
        );
        let site = reg.resolve("site-local").unwrap();
        assert_eq!(site.user, Settable::Required);
        assert_eq!(
            coerce(site, &Literal::Int(21)).unwrap_err().to_string(),
            "21 is out of range: expected 10 to 20"
        );
        // And the built-ins are still there.
        assert_eq!(reg.resolve("cablelabs-realm").unwrap().path, p("122/6"));
        let mut set = OptionSet::new();
        let d = reg.resolve("acme-servers").unwrap();
        set.insert(
            d.path.clone(),
            coerce(d, &Literal::Str("192.0.2.9".into())).unwrap(),
            "p",
        );
        assert_eq!(
            set.encode(&reg).unwrap(),
            vec![(125, vec![0, 0, 0x27, 0x0f, 6, 2, 4, 192, 0, 2, 9])]
        );
    }

    #[test]
    fn declarations_override_builtins() {
        let reg = declare(
            r#"
            [[option_type]]
            tag = "66"
            type = "ip"
            name = "tftp-server-address"

            [[option_type]]
            tag = "122/6"
            type = "string"
            name = "cablelabs-realm"
            "#,
        )
        .unwrap();
        assert_eq!(reg.resolve("66").unwrap().data_type, DataType::Ip);
        assert_eq!(
            reg.resolve("tftp-server-name"),
            Err(OptionError::Unknown("tftp-server-name".into()))
        );
        assert_eq!(reg.resolve("tftp-server-address").unwrap().path, p("66"));
        assert_eq!(
            reg.resolve("cablelabs-realm").unwrap().data_type,
            DataType::String
        );
        assert_eq!(reg.len(), Registry::builtin().len());
    }

    #[test]
    fn declaration_errors() {
        let one = |body: &str| declare(&format!("[[option_type]]\n{body}")).unwrap_err();
        assert!(matches!(
            one("tag = \"200/1\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::NoParent { .. }
        ));
        assert!(matches!(
            one("tag = \"66/1\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::ParentNotContainer { .. }
        ));
        assert!(matches!(
            one("tag = \"43/300\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::CodeTooWide { code: 300, .. }
        ));
        assert!(matches!(
            one("tag = \"server/20\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::Reserved(_)
        ));
        assert!(matches!(
            one("tag = \"0\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::BadCode(_)
        ));
        assert!(matches!(
            one("tag = \"255\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::BadCode(_)
        ));
        assert!(matches!(
            one("tag = \"4x\"\ntype = \"u8\"\nname = \"x\""),
            OptionTypeError::BadTag { .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"u8\"\nname = \"routers\""),
            OptionTypeError::DuplicateName { .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"u8\"\nname = \"12\""),
            OptionTypeError::BadName { .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"u8\"\nname = \"server.x\""),
            OptionTypeError::BadName { .. }
        ));
        assert!(matches!(
            one("tag = \"122\"\ntype = \"bytes\"\nname = \"x\""),
            OptionTypeError::Orphans { children: 10, .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"u8\"\nname = \"x\"\nmin = 5\nmax = 1"),
            OptionTypeError::Invalid { .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"ip\"\nname = \"x\"\nmin = 5"),
            OptionTypeError::Invalid { .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"bytes\"\nname = \"x\"\nmultiple = true"),
            OptionTypeError::Invalid { .. }
        ));
        assert!(matches!(
            one("tag = \"200\"\ntype = \"ip\"\nname = \"x\"\nvendor_oro = true"),
            OptionTypeError::Invalid { .. }
        ));
        assert!(matches!(
            one("tag = \"66\"\ntype = \"u8\"\nname = \"x\"\nvendor = 4491"),
            OptionTypeError::Invalid { .. }
        ));
        let e = one("tag = \"200\"\ntype = \"u8\"\nname = \"x\"\nlength_prefix = 3");
        assert_eq!(e.to_string(), "option type 200: length_prefix is 0, 1 or 2");
    }

    #[test]
    fn toml_rejects_unknown_fields_and_types() {
        let e =
            decls("[[option_type]]\ntag = \"200\"\ntype = \"uint8\"\nname = \"x\"").unwrap_err();
        assert!(
            e.contains("unknown option type \"uint8\"; valid types: u8, u16, u24"),
            "{e}"
        );
        assert!(e.contains("dss_id"), "{e}");
        let e = decls("[[option_type]]\ntag = \"200\"\ntype = \"u8\"\nname = \"x\"\ncolour = 1")
            .unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e =
            decls("[[option_type]]\ntag = \"200\"\ntype = \"u8\"\nname = \"x\"\nuser = \"maybe\"")
                .unwrap_err();
        assert!(e.contains("maybe"), "{e}");
    }
}
