//! Fuzzes the CableLabs DHCPv6 decoders (option 17 enterprise 4491,
//! CL_OPTION_CCC, CL_OPTION_CCCV6, CMTS capabilities). Whatever decodes and
//! encodes must be a fixed point: decoding the encoding and encoding again
//! gives the same bytes (the first encode may reorder unknown sub-options
//! into code order, so the decoded values themselves need not be equal).
#![no_main]

use headend_wire::cablelabs::{Ccc, CccV6, ClVendorOptionsV6, CmtsCapabilities};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = ClVendorOptionsV6::decode(data) {
        let _ = o.requests(2171);
        if let Ok(enc) = o.encode() {
            let again = ClVendorOptionsV6::decode(&enc).map(|o| o.encode());
            assert_eq!(again, Ok(Ok(enc)));
        }
    }
    if let Ok(Some(o)) = ClVendorOptionsV6::from_option17(data) {
        let _ = o.encode_option17();
    }
    if let Ok(c) = CccV6::decode(data) {
        let _ = (
            c.flow(),
            c.provisioning_disabled(),
            c.accepts_any_server(),
            c.valid_for_eue(),
        );
        if let Ok(enc) = c.encode() {
            assert_eq!(CccV6::decode(&enc).map(|c| c.encode()), Ok(Ok(enc)));
        }
    }
    if let Ok(c) = Ccc::decode_v6(data) {
        let _ = c.encode_v6();
    }
    if let Ok(c) = CmtsCapabilities::decode(data) {
        let _ = (c.encode(), c.docsis_version());
    }
});
