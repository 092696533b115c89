//! Option tag paths (seed 004 section 5.9, the "tag" field of an option
//! type): `66`, `43/8`, `122/3`, `125/4491/2`, `82/1`, and the reserved
//! `server/N` form of the server control options (seed 004 section 5.7.1).
//!
//! Below a vendor container (DHCPv4 option 125, RFC 3925; relay agent
//! sub-option 82/9, RFC 4243) the element after the container is the IANA
//! enterprise number, so elements are 32 bits wide.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The deepest path we accept: `82/9/<enterprise>/<code>/<code>/<code>`.
pub const MAX_DEPTH: usize = 6;

/// The option space a path lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// DHCPv4 options (RFC 2132 and later): top-level codes 1 to 254.
    Dhcp4,
    /// Server control options: never transmitted, they steer the server.
    Server,
    /// DHCPv6 options (RFC 8415 section 21 and later): top-level codes 1 to
    /// 65535, written `v6/23`; under option 17 (RFC 8415 section 21.17) the
    /// element after 17 is the enterprise number, e.g. `v6/17/4491/32`.
    Dhcp6,
}

/// Errors of parsing a tag path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("empty option tag")]
    Empty,
    /// An element is not a decimal number.
    #[error("bad option tag {0:?}: expected numbers separated by '/', such as \"43/8\"")]
    NotNumeric(String),
    /// More elements than [`MAX_DEPTH`].
    #[error("option tag {0:?} is nested deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
}

/// A path of option tags, such as `122/3` or `125/4491/123/1`.
///
/// Allocation-free (an inline array), so cloning is a copy of 28 octets:
/// option sets are keyed by it and cloned on every reply. Ordered by space, then element by element, so a parent
/// sorts right before its descendants.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TagPath {
    space: Space,
    len: u8,
    tags: [u32; MAX_DEPTH],
}

impl TagPath {
    /// A top-level DHCPv4 option code.
    pub const fn dhcp4(code: u8) -> TagPath {
        let mut tags = [0; MAX_DEPTH];
        tags[0] = code as u32;
        TagPath {
            space: Space::Dhcp4,
            len: 1,
            tags,
        }
    }

    /// A server control option (`server/N`).
    pub const fn server(code: u32) -> TagPath {
        let mut tags = [0; MAX_DEPTH];
        tags[0] = code;
        TagPath {
            space: Space::Server,
            len: 1,
            tags,
        }
    }

    /// A top-level DHCPv6 option code.
    pub const fn dhcp6(code: u16) -> TagPath {
        let mut tags = [0; MAX_DEPTH];
        tags[0] = code as u32;
        TagPath {
            space: Space::Dhcp6,
            len: 1,
            tags,
        }
    }

    /// A path from its elements; `None` when empty or deeper than [`MAX_DEPTH`].
    pub fn new(space: Space, elements: &[u32]) -> Option<TagPath> {
        if elements.is_empty() || elements.len() > MAX_DEPTH {
            return None;
        }
        let mut tags = [0; MAX_DEPTH];
        tags[..elements.len()].copy_from_slice(elements);
        Some(TagPath {
            space,
            len: elements.len() as u8,
            tags,
        })
    }

    /// A DHCPv4 path from its elements, for paths written in code. Elements
    /// past [`MAX_DEPTH`] are dropped; prefer [`TagPath::new`] for input.
    pub fn from_slice(elements: &[u32]) -> TagPath {
        let n = elements.len().min(MAX_DEPTH);
        let mut tags = [0; MAX_DEPTH];
        for (slot, e) in tags.iter_mut().zip(elements) {
            *slot = *e;
        }
        TagPath {
            space: Space::Dhcp4,
            len: n as u8,
            tags,
        }
    }

    /// The space of this path.
    pub fn space(&self) -> Space {
        self.space
    }

    /// The elements, outermost first.
    pub fn as_slice(&self) -> &[u32] {
        &self.tags[..usize::from(self.len)]
    }

    /// Number of elements (1 for a top-level option).
    pub fn depth(&self) -> usize {
        usize::from(self.len)
    }

    /// The top-level option code.
    pub fn top(&self) -> u32 {
        self.tags[0]
    }

    /// The first element, if any.
    pub fn first(&self) -> Option<u32> {
        self.as_slice().first().copied()
    }

    /// The element at `i`, if any.
    pub fn get(&self, i: usize) -> Option<u32> {
        self.as_slice().get(i).copied()
    }

    /// The last element: the code of this option inside its container.
    pub fn last(&self) -> u32 {
        self.as_slice().last().copied().unwrap_or(0)
    }

    /// The top-level DHCPv4 option code, when this is a DHCPv4 path whose
    /// first element fits a code octet.
    pub fn dhcp4_code(&self) -> Option<u8> {
        match self.space {
            Space::Dhcp4 => u8::try_from(self.tags[0]).ok(),
            Space::Server | Space::Dhcp6 => None,
        }
    }

    /// The top-level DHCPv6 option code, when this is a DHCPv6 path whose
    /// first element fits a 16-bit code.
    pub fn dhcp6_code(&self) -> Option<u16> {
        match self.space {
            Space::Dhcp6 => u16::try_from(self.tags[0]).ok(),
            Space::Server | Space::Dhcp4 => None,
        }
    }

    /// The enclosing container's path; `None` at the top level.
    pub fn parent(&self) -> Option<TagPath> {
        if self.len <= 1 {
            return None;
        }
        let mut p = self.clone();
        p.len -= 1;
        p.tags[usize::from(p.len)] = 0;
        Some(p)
    }

    /// This path extended by one element; `None` past [`MAX_DEPTH`].
    pub fn child(&self, tag: u32) -> Option<TagPath> {
        let n = usize::from(self.len);
        if n >= MAX_DEPTH {
            return None;
        }
        let mut c = self.clone();
        c.tags[n] = tag;
        c.len += 1;
        Some(c)
    }

    /// Whether `self` is `ancestor` or lies inside it.
    pub fn starts_with(&self, ancestor: &TagPath) -> bool {
        self.space == ancestor.space && self.as_slice().starts_with(ancestor.as_slice())
    }

    /// The first `n` elements (at most the whole path).
    pub fn prefix(&self, n: usize) -> TagPath {
        let n = n.min(usize::from(self.len));
        let mut p = self.clone();
        for t in p.tags.iter_mut().skip(n) {
            *t = 0;
        }
        p.len = n as u8;
        p
    }
}

impl Ord for TagPath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.space
            .cmp(&other.space)
            .then_with(|| self.as_slice().cmp(other.as_slice()))
    }
}

impl PartialOrd for TagPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for TagPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.space {
            Space::Server => f.write_str("server/")?,
            Space::Dhcp6 => f.write_str("v6/")?,
            Space::Dhcp4 => {}
        }
        for (i, t) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TagPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TagPath({self})")
    }
}

impl FromStr for TagPath {
    type Err = PathError;

    fn from_str(s: &str) -> Result<TagPath, PathError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        let (space, rest) = if let Some(rest) = s.strip_prefix("server/") {
            (Space::Server, rest)
        } else if let Some(rest) = s.strip_prefix("v6/") {
            (Space::Dhcp6, rest)
        } else {
            (Space::Dhcp4, s)
        };
        let mut tags = [0u32; MAX_DEPTH];
        let mut len = 0usize;
        for part in rest.split('/') {
            // Only plain decimal digits: "+1" or " 1" would make two spellings of one path.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PathError::NotNumeric(s.to_string()));
            }
            let v: u32 = part
                .parse()
                .map_err(|_| PathError::NotNumeric(s.to_string()))?;
            let slot = tags
                .get_mut(len)
                .ok_or_else(|| PathError::TooDeep(s.to_string()))?;
            *slot = v;
            len += 1;
        }
        Ok(TagPath {
            space,
            len: len as u8,
            tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TagPath {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_displays_round_trip() {
        for s in [
            "66",
            "43/8",
            "122/3",
            "125/4491/2",
            "125/4491/123/1",
            "82/1",
            "server/4",
        ] {
            assert_eq!(p(s).to_string(), s);
        }
        assert_eq!(p("125/4491/123/1").as_slice(), &[125, 4491, 123, 1]);
        assert_eq!(p("server/4").space(), Space::Server);
        assert_eq!(p("server/4"), TagPath::server(4));
        assert_eq!(p("66"), TagPath::dhcp4(66));
    }

    #[test]
    fn rejects_malformed_paths() {
        assert_eq!("".parse::<TagPath>(), Err(PathError::Empty));
        for bad in [
            "a",
            "43/",
            "/43",
            "43//1",
            "43/+1",
            "43/-1",
            "4294967296",
            "routers",
        ] {
            assert!(
                matches!(bad.parse::<TagPath>(), Err(PathError::NotNumeric(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "1/2/3/4/5/6/7".parse::<TagPath>(),
            Err(PathError::TooDeep(_))
        ));
    }

    #[test]
    fn orders_parents_before_children_and_numerically() {
        let mut v = [
            p("125/4491/2"),
            p("server/1"),
            p("43/10"),
            p("122"),
            p("43/8"),
            p("3"),
            p("43"),
        ];
        v.sort();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["3", "43", "43/8", "43/10", "122", "125/4491/2", "server/1"]
        );
    }

    #[test]
    fn parent_child_prefix() {
        let x = p("125/4491/123/1");
        assert_eq!(x.parent(), Some(p("125/4491/123")));
        assert_eq!(x.prefix(2), p("125/4491"));
        assert_eq!(p("125").child(4491), Some(p("125/4491")));
        assert_eq!(p("66").parent(), None);
        assert!(x.starts_with(&p("125/4491")));
        assert!(!x.starts_with(&p("125/449")));
        assert!(!TagPath::server(125).starts_with(&p("125")));
        assert_eq!(x.last(), 1);
        assert_eq!(x.top(), 125);
        assert_eq!(x.dhcp4_code(), Some(125));
        assert_eq!(p("1/2/3/4/5/6").child(7), None);
    }
}
