//! Fuzzes the DHCPv6 codec: relay-chain unwrapping, every option accessor
//! (recursing into IA_NA / IA_TA / IA_PD), and re-wrapping a reply through
//! the parsed relay chain.
#![no_main]

use headend_wire::dhcpv6::{self, Options, Packet, Relayed};
use libfuzzer_sys::fuzz_target;

fn exercise(o: &Options<'_>) {
    let _ = (o.client_id(), o.server_id(), o.oro(), o.preference());
    let _ = (
        o.elapsed_time(),
        o.status_code(),
        o.rapid_commit(),
        o.reconf_accept(),
    );
    let _ = (
        o.dns_servers(),
        o.domain_list(),
        o.sntp_servers(),
        o.remote_id(),
    );
    let _ = (o.client_linklayer_addr(), o.sol_max_rt(), o.inf_max_rt());
    let _ = (
        o.interface_id(),
        o.relay_msg(),
        o.ntp_server(),
        o.subscriber_id(),
    );
    if let Ok(Some(f)) = o.client_fqdn() {
        let _ = f.domain_name();
    }
    for vc in o.vendor_classes().flatten() {
        vc.items().for_each(drop);
    }
    for vo in o.vendor_opts_all().flatten() {
        vo.options.iter().for_each(drop);
    }
    if let Ok(Some(cl)) = o.vendor_opts(headend_wire::cablelabs::ENTERPRISE) {
        let _ = headend_wire::cablelabs::ClVendorOptionsV6::decode(cl.options.as_bytes());
    }
    for ia in o.ia_nas().chain(o.ia_tas()).chain(o.ia_pds()).flatten() {
        let _ = ia.status_code();
        for a in ia.addresses().flatten() {
            let _ = a.options.status_code();
        }
        for p in ia.prefixes().flatten() {
            let _ = p.options.status_code();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match dhcpv6::parse(data) {
        Ok(Packet::Message(m)) => exercise(&m.options),
        Ok(Packet::Relay(r)) => exercise(&r.options),
        Err(e) => {
            let _ = e.reason();
        }
    }
    if let Ok(r) = Relayed::parse(data) {
        exercise(&r.message.options);
        for relay in &r.relays {
            exercise(&relay.options);
        }
        let _ = r.link_address();
        if let Ok(wrapped) = r.wrap_reply(data) {
            // The wrapped reply must parse back as a Relay-Reply layer.
            if r.is_relayed() {
                assert!(matches!(dhcpv6::parse(&wrapped), Ok(Packet::Relay(_))));
            }
        }
    }
});
