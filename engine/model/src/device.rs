//! The one device classifier of both families (seed 004 section 5.10,
//! "Vendor classes"; seed 000 section 6.4.1): from the vendor class a device
//! sent — DHCPv4 option 60, or the CableLabs item of DHCPv6 option 16 — to
//! its family, version, built-in type name and type id, then the operator's
//! `[[vendor_class]]` declarations in file order, the first match winning.
//!
//! DHCPv4 and DHCPv6 both call [`classify`] on the expression context they
//! built, so the same E-UE gets the same `device.type_name` and
//! `device.typeid` whichever family it boots over, and a policy or pool
//! condition written against them treats it the same.

use std::sync::Arc;

use headend_wire::cablelabs::{DeviceFamily, VendorClass};

use crate::expr::{DeviceInfo, EvalContext};
use crate::snapshot::Snapshot;

/// `major.minor` for single-digit versions without the formatting machinery.
fn version_string(major: u8, minor: u8) -> String {
    if major < 10 && minor < 10 {
        let mut s = String::with_capacity(3);
        s.push(char::from(b'0' + major));
        s.push('.');
        s.push(char::from(b'0' + minor));
        s
    } else {
        format!("{major}.{minor}")
    }
}

/// The family name and version string of a parsed vendor class.
pub fn family_version(family: Option<DeviceFamily>) -> (&'static str, String) {
    match family {
        Some(DeviceFamily::Docsis { major, minor }) => ("docsis", version_string(major, minor)),
        Some(DeviceFamily::PacketCable { major, minor }) => ("pktc", version_string(major, minor)),
        Some(DeviceFamily::ERouter { major, minor }) => ("erouter", version_string(major, minor)),
        Some(DeviceFamily::OpenCable) => ("opencable", String::new()),
        Some(DeviceFamily::CableHome) => ("cablehome", String::new()),
        _ => ("other", String::new()),
    }
}

/// Type name and id of the built-in vendor classes (the seed's `$DEVICE.TYPEID()`).
pub fn builtin_type(family: &str, version: &str) -> (String, i64) {
    let id = match (family, version) {
        ("docsis", "1.0") => 1,
        ("docsis", "1.1") => 2,
        ("docsis", "2.0") => 3,
        ("docsis", "3.0") => 4,
        ("docsis", "3.1") => 5,
        ("docsis", "4.0") => 6,
        ("docsis", _) => 9,
        ("pktc", "1.0") => 10,
        ("pktc", "1.5") => 11,
        ("pktc", "2.0") => 12,
        ("pktc", _) => 19,
        ("erouter", _) => 20,
        ("opencable", _) => 30,
        ("cablehome", _) => 31,
        _ => 0,
    };
    let name = match family {
        "other" => "unknown".to_string(),
        f if version.is_empty() => f.to_string(),
        f => [f, version].concat(),
    };
    (name, id)
}

/// The vendor class among the strings a DHCPv6 client sent in option 16
/// (RFC 8415 section 21.16): the first one of a known family, else the
/// first. DHCPv4 has one option 60 and parses it directly.
pub fn vendor_class_of(items: &[String]) -> Option<VendorClass> {
    let parsed: Vec<VendorClass> = items
        .iter()
        .map(|s| VendorClass::parse(s.as_bytes()))
        .collect();
    let known = parsed
        .iter()
        .position(|v| family_version(Some(v.family)).0 != "other");
    let i = known.unwrap_or(0);
    parsed.into_iter().nth(i)
}

/// Sets the vendor class, family, version and built-in type of `info`.
pub fn describe(vc: Option<&VendorClass>, info: &mut DeviceInfo) {
    info.vendor_class = vc.map(|v| v.raw.clone()).unwrap_or_default();
    let (family, version) = family_version(vc.map(|v| v.family));
    info.family = family.into();
    info.version = version;
    let (type_name, typeid) = builtin_type(family, &info.version);
    info.type_name = type_name;
    info.typeid = typeid;
}

/// Applies the operator's `[[vendor_class]]` declarations in file order to
/// the context's device: the first that matches (prefix of the vendor class
/// and the `match` expression) sets the type name and id. A failing match
/// expression counts as no match.
pub fn classify(snap: &Snapshot, ctx: &mut Arc<EvalContext>) {
    if snap.vendor_classes.is_empty() {
        return;
    }
    // The session shares the context; it is dropped before the context is
    // written, so `make_mut` does not copy it.
    let mut session = snap.exprs.session_shared(ctx.clone());
    let mut hit = None;
    for vc in &snap.vendor_classes {
        if let Some(p) = &vc.prefix {
            if !ctx.device.vendor_class.starts_with(p.as_str()) {
                continue;
            }
        }
        if let Some(m) = &vc.match_expr {
            match session.eval_bool(m) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(class = %vc.name, error = %e, "vendor class match failed");
                    continue;
                }
            }
        }
        hit = Some((vc.name.clone(), vc.typeid));
        break;
    }
    drop(session);
    if let Some((n, id)) = hit {
        let device = &mut Arc::make_mut(ctx).device;
        device.type_name = n;
        device.typeid = id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_types_and_versions() {
        assert_eq!(builtin_type("docsis", "3.1"), ("docsis3.1".into(), 5));
        assert_eq!(builtin_type("pktc", "2.0"), ("pktc2.0".into(), 12));
        assert_eq!(builtin_type("other", ""), ("unknown".into(), 0));
        assert_eq!(version_string(12, 3), "12.3");
    }

    #[test]
    fn the_first_known_dhcpv6_vendor_class_item_wins() {
        let items = vec!["acme-phone".to_string(), "pktc2.0".to_string()];
        let vc = vendor_class_of(&items).unwrap();
        assert_eq!(vc.raw, "pktc2.0");
        let mut info = DeviceInfo::default();
        describe(Some(&vc), &mut info);
        assert_eq!(
            (info.family.as_str(), info.type_name.as_str(), info.typeid),
            ("pktc", "pktc2.0", 12)
        );
        assert_eq!(vendor_class_of(&["x".into()]).unwrap().raw, "x");
        assert!(vendor_class_of(&[]).is_none());
    }

    #[test]
    fn a_dhcpv4_option_60_and_its_dhcpv6_item_describe_alike() {
        let mut v4 = DeviceInfo::default();
        describe(Some(&VendorClass::parse(b"pktc2.0:051f0101")), &mut v4);
        let mut v6 = DeviceInfo::default();
        describe(vendor_class_of(&["pktc2.0".into()]).as_ref(), &mut v6);
        assert_eq!(
            (v4.family, v4.version, v4.type_name, v4.typeid),
            (v6.family, v6.version, v6.type_name, v6.typeid)
        );
    }
}
