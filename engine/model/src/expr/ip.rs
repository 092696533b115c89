//! The `Ip` value of the expression language: an IPv4 or IPv6 address with
//! checked offset arithmetic, so that the seed 004 §5.7 example
//! (`$RELAY.ADDRESS() + 1`, ours `relay.address + 1`) can never wrap or panic.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use rhai::{Blob, Dynamic, Engine, EvalAltResult, ImmutableString, INT};

/// An IP address as Rhai scripts see it (`ip("10.0.0.1")`, `relay.address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ip(pub IpAddr);

impl Ip {
    /// The address `delta` positions after (or, negative, before) this one; `None` past either end of the family's range.
    pub fn offset(self, delta: i128) -> Option<Ip> {
        match self.0 {
            IpAddr::V4(a) => {
                let n = i128::from(u32::from(a)).checked_add(delta)?;
                u32::try_from(n)
                    .ok()
                    .map(|n| Ip(IpAddr::V4(Ipv4Addr::from(n))))
            }
            IpAddr::V6(a) => {
                let base = u128::from(a);
                let n = if delta >= 0 {
                    base.checked_add(delta.unsigned_abs())?
                } else {
                    base.checked_sub(delta.unsigned_abs())?
                };
                Some(Ip(IpAddr::V6(Ipv6Addr::from(n))))
            }
        }
    }

    /// Whether the address lies inside `net`; addresses of the other family never do.
    pub fn in_subnet(self, net: &IpNet) -> bool {
        net.contains(&self.0)
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<IpAddr> for Ip {
    fn from(a: IpAddr) -> Self {
        Ip(a)
    }
}

impl From<Ipv4Addr> for Ip {
    fn from(a: Ipv4Addr) -> Self {
        Ip(IpAddr::V4(a))
    }
}

impl From<Ipv6Addr> for Ip {
    fn from(a: Ipv6Addr) -> Self {
        Ip(IpAddr::V6(a))
    }
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn parse_ip(s: &str) -> Fallible<Ip> {
    s.trim()
        .parse::<IpAddr>()
        .map(Ip)
        .map_err(|_| format!("ip(\"{s}\"): not an IPv4 or IPv6 address").into())
}

fn ip_from_blob(b: &Blob) -> Fallible<Ip> {
    if let Ok(v4) = <[u8; 4]>::try_from(b.as_slice()) {
        return Ok(Ip::from(Ipv4Addr::from(v4)));
    }
    if let Ok(v6) = <[u8; 16]>::try_from(b.as_slice()) {
        return Ok(Ip::from(Ipv6Addr::from(v6)));
    }
    Err(format!(
        "ip(blob): an address is 4 or 16 bytes, this blob has {}",
        b.len()
    )
    .into())
}

fn add(a: Ip, n: INT, op: &str) -> Fallible<Ip> {
    let delta = if op == "-" {
        -i128::from(n)
    } else {
        i128::from(n)
    };
    a.offset(delta).ok_or_else(|| {
        let family = if a.0.is_ipv4() { "IPv4" } else { "IPv6" };
        format!("address overflow: {a} {op} {n} is outside the {family} address range").into()
    })
}

fn parse_subnet(s: &str) -> Fallible<IpNet> {
    s.trim().parse::<IpNet>().map_err(|_| {
        format!("in_subnet(\"{s}\"): not a subnet; write it as address/prefix, e.g. \"10.0.0.0/8\"")
            .into()
    })
}

/// Registers `Ip`, its constructors and operators with the engine.
pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Ip>("Ip");

    engine.register_fn("ip", |s: &str| parse_ip(s));
    engine.register_fn("ip", |b: Blob| ip_from_blob(&b));
    engine.register_fn("ip", |a: Ip| a);
    // Absent values propagate, so `ip(packet.option(50))` omits the option instead of failing.
    engine.register_fn("ip", |_: ()| Dynamic::UNIT);

    engine.register_fn("+", |a: Ip, n: INT| add(a, n, "+"));
    engine.register_fn("+", |n: INT, a: Ip| add(a, n, "+"));
    engine.register_fn("-", |a: Ip, n: INT| add(a, n, "-"));

    engine.register_fn("==", |a: Ip, b: Ip| a == b);
    engine.register_fn("!=", |a: Ip, b: Ip| a != b);
    // Without these, `relay.address == "10.0.0.1"` would silently be false
    // (Rhai compares values of different types as unequal).
    engine.register_fn("==", |a: Ip, b: &str| parse_ip(b).is_ok_and(|b| a == b));
    engine.register_fn("==", |b: &str, a: Ip| parse_ip(b).is_ok_and(|b| a == b));
    engine.register_fn("!=", |a: Ip, b: &str| !parse_ip(b).is_ok_and(|b| a == b));
    engine.register_fn("!=", |b: &str, a: Ip| !parse_ip(b).is_ok_and(|b| a == b));

    engine.register_fn("to_string", |a: &mut Ip| -> ImmutableString {
        a.to_string().into()
    });
    engine.register_fn("to_debug", |a: &mut Ip| -> ImmutableString {
        format!("ip(\"{a}\")").into()
    });
    engine.register_fn("in_subnet", |a: &mut Ip, s: &str| -> Fallible<bool> {
        Ok(a.in_subnet(&parse_subnet(s)?))
    });
    engine.register_get("is_v4", |a: &mut Ip| a.0.is_ipv4());
    engine.register_get("is_v6", |a: &mut Ip| a.0.is_ipv6());
    engine.register_fn("to_blob", |a: &mut Ip| -> Blob {
        match a.0 {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ip {
        Ip(s.parse().unwrap())
    }

    #[test]
    fn offset_within_and_past_the_v4_range() {
        assert_eq!(v4("10.0.0.1").offset(1), Some(v4("10.0.0.2")));
        assert_eq!(v4("10.0.0.255").offset(1), Some(v4("10.0.1.0")));
        assert_eq!(v4("10.0.1.0").offset(-1), Some(v4("10.0.0.255")));
        assert_eq!(v4("255.255.255.255").offset(1), None);
        assert_eq!(v4("0.0.0.0").offset(-1), None);
        assert_eq!(
            v4("0.0.0.0").offset(i128::from(u32::MAX)),
            Some(v4("255.255.255.255"))
        );
        assert_eq!(v4("1.2.3.4").offset(i128::from(i64::MIN)), None);
    }

    #[test]
    fn offset_within_and_past_the_v6_range() {
        assert_eq!(v4("2001:db8::ffff").offset(1), Some(v4("2001:db8::1:0")));
        assert_eq!(v4("2001:db8::1:0").offset(-1), Some(v4("2001:db8::ffff")));
        assert_eq!(
            v4("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").offset(1),
            None
        );
        assert_eq!(v4("::").offset(-1), None);
    }

    #[test]
    fn subnet_membership_is_per_family() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(v4("10.255.0.1").in_subnet(&net));
        assert!(!v4("11.0.0.1").in_subnet(&net));
        assert!(!v4("::ffff:10.0.0.1").in_subnet(&net));
    }

    #[test]
    fn blob_constructor_accepts_4_or_16_bytes_only() {
        assert_eq!(ip_from_blob(&vec![192, 0, 2, 1]).unwrap(), v4("192.0.2.1"));
        let mut v6 = vec![0x20, 0x01, 0x0d, 0xb8];
        v6.extend([0; 11]);
        v6.push(1);
        assert_eq!(ip_from_blob(&v6).unwrap(), v4("2001:db8::1"));
        assert!(ip_from_blob(&vec![1, 2, 3]).is_err());
    }
}
