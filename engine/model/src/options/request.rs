//! Which options a client asked for, so that options of optional policies
//! are sent only when requested (seed 004 section 5.8): the parameter
//! request list (RFC 2132 section 9.8), vendor option request lists inside
//! option 125 (CL_V4OPTION_ORO, 125/4491/1) and the CableLabs option 43
//! sub-option request list (43/1).

use std::collections::BTreeMap;

use super::builtin::CABLELABS;
use super::codec::{split_suboptions, split_vendor_blocks};
use super::path::{Space, TagPath};
use super::registry::Registry;
use super::types::{DataType, Framing};

/// Option 55, the parameter request list.
pub const PARAMETER_REQUEST_LIST: u8 = 55;
/// Option 43, vendor-specific information.
pub const VENDOR_ENCAPSULATED: u8 = 43;
/// Option 125, V-I vendor-specific information (RFC 3925).
pub const VIVSO: u8 = 125;

/// What a client requested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedOptions {
    /// Option 55: top-level codes.
    pub prl: Vec<u8>,
    /// Per enterprise, the codes of that vendor's option request list
    /// (125/4491/1 for CableLabs). An enterprise absent here sent no list.
    pub vendor_oro: BTreeMap<u32, Vec<u16>>,
    /// Option 43 sub-option 1, when the client sent it.
    pub sub43: Option<Vec<u8>>,
    /// DHCPv6 option 6, ORO (RFC 8415 section 21.7): top-level codes.
    pub oro6: Vec<u16>,
}

impl RequestedOptions {
    /// The request lists of a DHCPv6 client: its ORO (option 6) and, per
    /// enterprise, the vendor's ORO inside option 17 (CL_OPTION_ORO, 17.1,
    /// for CableLabs).
    pub fn from_dhcpv6(oro: &[u16], vendor_oro: impl IntoIterator<Item = (u32, Vec<u16>)>) -> Self {
        RequestedOptions {
            oro6: oro.to_vec(),
            vendor_oro: vendor_oro.into_iter().collect(),
            ..RequestedOptions::default()
        }
    }

    /// Reads the request lists from a client's options (`code`, payload
    /// after RFC 3396 concatenation). Best effort: a malformed container
    /// contributes nothing, since requested-ness only ever adds options.
    pub fn from_client_options<'a>(
        reg: &Registry,
        options: impl IntoIterator<Item = (u8, &'a [u8])>,
    ) -> Self {
        let mut req = RequestedOptions::default();
        for (code, payload) in options {
            match code {
                PARAMETER_REQUEST_LIST => req.prl.extend_from_slice(payload),
                VENDOR_ENCAPSULATED => {
                    if let Ok(subs) = split_suboptions(payload, Framing::DHCP4, true) {
                        if let Some((_, list)) = subs.into_iter().find(|(c, _)| *c == 1) {
                            req.sub43 = Some(list.to_vec());
                        }
                    }
                }
                VIVSO => req.read_vendor_oros(reg, payload),
                _ => {}
            }
        }
        req
    }

    fn read_vendor_oros(&mut self, reg: &Registry, payload: &[u8]) {
        let Ok(blocks) = split_vendor_blocks(payload) else {
            return;
        };
        let top = TagPath::dhcp4(VIVSO);
        for (ent, data) in blocks {
            let Some(node) = top.child(ent) else { continue };
            let Some(oro) = reg.children(&node).find(|d| d.vendor_oro) else {
                continue;
            };
            let framing = reg.get(&node).map(|d| d.framing).unwrap_or_default();
            let Ok(subs) = split_suboptions(data, framing, false) else {
                continue;
            };
            let oro_code = oro.path.last();
            let wide = oro.data_type == DataType::U16;
            for (_, list) in subs.into_iter().filter(|(c, _)| *c == oro_code) {
                let codes = self.vendor_oro.entry(ent).or_default();
                if wide {
                    codes.extend(
                        list.chunks_exact(2)
                            .map(|p| u16::from_be_bytes([p[0], p[1]])),
                    );
                } else {
                    codes.extend(list.iter().map(|&c| u16::from(c)));
                }
            }
        }
    }

    /// Whether this client sent the CableLabs vendor option request list.
    pub fn has_cablelabs_oro(&self) -> bool {
        self.vendor_oro.contains_key(&CABLELABS)
    }
}

/// Whether the client asked for the option at `path`: a top-level option
/// when its code is in option 55; a sub-option of a vendor container (125)
/// when its code is in that enterprise's request list, or, if the client
/// sent no list for that enterprise, when 125 itself is requested; a
/// sub-option of 43 when its code is in 43/1, or, without 43/1, when 43 is
/// requested; any other sub-option when its top-level option is requested.
/// Server control options are never requested: clients cannot ask for them.
/// In the DHCPv6 space a top-level option is requested when its code is in
/// the ORO, and a sub-option of option 17 when its code is in that
/// enterprise's ORO (RFC 8415 section 21.17; CL_OPTION_ORO).
pub fn is_requested(path: &TagPath, req: &RequestedOptions) -> bool {
    if path.space() == Space::Dhcp6 {
        return match path.as_slice() {
            [17, ent, code, ..] => req
                .vendor_oro
                .get(ent)
                .is_some_and(|oro| u16::try_from(*code).is_ok_and(|c| oro.contains(&c))),
            _ => path.dhcp6_code().is_some_and(|c| req.oro6.contains(&c)),
        };
    }
    if path.space() != Space::Dhcp4 {
        return false;
    }
    let top_requested = path.dhcp4_code().is_some_and(|c| req.prl.contains(&c));
    let el = path.as_slice();
    match el {
        [c, ent, code, ..] if *c == u32::from(VIVSO) => match req.vendor_oro.get(ent) {
            Some(oro) => u16::try_from(*code).is_ok_and(|code| oro.contains(&code)),
            None => top_requested,
        },
        [c, code, ..] if *c == u32::from(VENDOR_ENCAPSULATED) => match &req.sub43 {
            Some(list) => u8::try_from(*code).is_ok_and(|code| list.contains(&code)),
            None => top_requested,
        },
        _ => top_requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> TagPath {
        s.parse().unwrap()
    }

    fn req(prl: &[u8], oro: Option<&[u16]>, sub43: Option<&[u8]>) -> RequestedOptions {
        RequestedOptions {
            prl: prl.to_vec(),
            vendor_oro: oro
                .map(|o| [(CABLELABS, o.to_vec())].into_iter().collect())
                .unwrap_or_default(),
            sub43: sub43.map(<[u8]>::to_vec),
            ..RequestedOptions::default()
        }
    }

    #[test]
    fn truth_table() {
        let full = req(&[1, 3, 43, 122, 125], Some(&[2, 123]), Some(&[2]));
        let no_lists = req(&[1, 3, 43, 122, 125], None, None);
        let oro_only = req(&[1, 3], Some(&[2]), None);
        let nothing = req(&[], None, None);
        #[rustfmt::skip]
        let table: [(&str, bool, bool, bool, bool); 14] = [
            // path,            full,  no_lists, oro_only, nothing
            ("3",               true,  true,  true,  false),
            ("6",               false, false, false, false),
            ("122",             true,  true,  false, false),
            ("122/6",           true,  true,  false, false),
            ("125",             true,  true,  false, false),
            ("125/4491",        true,  true,  false, false),
            ("125/4491/2",      true,  true,  true,  false),
            ("125/4491/124",    false, true,  false, false),
            ("125/4491/123/1",  true,  true,  false, false),
            ("125/9999/1",      true,  true,  false, false),
            ("43/2",            true,  true,  false, false),
            ("43/3",            false, true,  false, false),
            ("82/1",            false, false, false, false),
            ("server/1",        false, false, false, false),
        ];
        for (path, a, b, c, d) in table {
            assert_eq!(is_requested(&p(path), &full), a, "{path} full");
            assert_eq!(is_requested(&p(path), &no_lists), b, "{path} no lists");
            assert_eq!(is_requested(&p(path), &oro_only), c, "{path} ORO only");
            assert_eq!(is_requested(&p(path), &nothing), d, "{path} nothing");
        }
    }

    #[test]
    fn reads_request_lists_from_client_options() {
        let reg = Registry::builtin();
        // An eMTA: PRL, CableLabs 43 with a request list (padded, ended),
        // and 125 with CL_V4OPTION_ORO asking for 2 and 123 plus another vendor.
        let prl = [1u8, 3, 6, 122, 125];
        let o43 = [0u8, 1, 2, 2, 4, 2, 3, b'E', b'M', b'T', 255];
        let o125 = [0u8, 0, 0, 9, 3, 1, 1, 7, 0, 0, 0x11, 0x8b, 4, 1, 2, 2, 123];
        let r = RequestedOptions::from_client_options(
            &reg,
            [(55, &prl[..]), (43, &o43[..]), (125, &o125[..])],
        );
        assert_eq!(r.prl, prl);
        assert_eq!(r.sub43, Some(vec![2, 4]));
        assert_eq!(r.vendor_oro.get(&CABLELABS), Some(&vec![2, 123]));
        assert!(
            !r.vendor_oro.contains_key(&9),
            "no ORO is declared for enterprise 9"
        );
        assert!(r.has_cablelabs_oro());
        // Malformed containers contribute nothing and do not fail.
        let r = RequestedOptions::from_client_options(
            &reg,
            [(43, &[1u8, 9][..]), (125, &[0u8, 0, 0x11][..])],
        );
        assert_eq!(r, RequestedOptions::default());
    }

    #[test]
    fn dhcpv6_oro_and_cl_oro() {
        let r = RequestedOptions::from_dhcpv6(&[23, 17, 39], [(CABLELABS, vec![32, 34])]);
        let table = [
            ("v6/23", true),
            ("v6/24", false),
            ("v6/39", true),
            ("v6/17/4491/32", true),
            ("v6/17/4491/33", false),
            ("v6/17/4491/2170/1", false),
            ("v6/17/9999/32", false),
            ("23", false),
            ("server/4", false),
        ];
        for (path, want) in table {
            assert_eq!(is_requested(&p(path), &r), want, "{path}");
        }
        // Option 17 in the ORO does not request every vendor sub-option.
        let no_cl = RequestedOptions::from_dhcpv6(&[17], []);
        assert!(!is_requested(&p("v6/17/4491/32"), &no_cl));
        // A DHCPv4 request list never requests a DHCPv6 option.
        let v4 = req(&[23, 24], None, None);
        assert!(!is_requested(&p("v6/23"), &v4));
    }
}
