//! Fuzzes every CableLabs and option 82 decoder on arbitrary bytes; a
//! decoded value must also encode without panicking.
#![no_main]

use headend_wire::cablelabs::{
    Capabilities, Ccc, CccV6Dhcpv4, ClVendorOptions, IpPref, Option43, VendorClass,
};
use headend_wire::relay::RelayAgentInfo;
use headend_wire::suboptions::{Tlv16, Tlv8, VendorIdentifying};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Ccc::decode(data) {
        let _ = (c.encode(), c.flow(), c.provisioning_disabled());
    }
    if let Ok(v) = ClVendorOptions::decode(data) {
        let _ = (v.encode(), v.encode_option125());
    }
    if let Ok(Some(v)) = ClVendorOptions::from_option125(data) {
        let _ = v.encode();
    }
    if let Ok(c) = CccV6Dhcpv4::decode(data) {
        let _ = c.encode();
    }
    if let Ok(o) = Option43::decode(data) {
        let _ = o.encode();
    }
    if let Ok(c) = Capabilities::decode(data) {
        let _ = (
            c.encode(),
            c.to_vendor_class_tail(),
            c.supported_flows(),
            c.pktc_version(),
        );
    }
    let vc = VendorClass::parse(data);
    if let Some(c) = vc.capabilities {
        let _ = c.to_vendor_class_tail();
    }
    let _ = IpPref::decode(data).map(IpPref::requires_dual_stack_capability);
    let rai = RelayAgentInfo::new(data);
    let _ = (
        rai.validate(),
        rai.circuit_id(),
        rai.remote_id(),
        rai.docsis_device_class(),
    );
    let _ = (
        rai.link_selection(),
        rai.flags(),
        rai.server_id_override(),
        rai.relay_source_port(),
    );
    if let Some(vs) = rai.vendor_specific() {
        vs.for_each(drop);
    }
    Tlv8::new(data).for_each(drop);
    Tlv8::with_pad_end(data).for_each(drop);
    Tlv16::new(data).for_each(drop);
    VendorIdentifying::new(data).for_each(drop);
});
