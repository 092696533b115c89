//! A native DOCSIS CM config-file generator (MULPI appendix C TLVs through
//! `headend-config-file`, CM MIC and CMTS MIC per protocol-notes 6.2), for
//! labs without a config-file plugin, tests and the benchmark. Plugins are
//! the production path; this one reads a few account attributes:
//! `max_down` / `max_up` (bit/s, service flows 25.8 / 24.8), `max_cpe`
//! (TLV 18) and `network_access` (`"0"` disables TLV 3).

use headend_abi::{ConfigFile, ConfigRequest};
use headend_config_file::{CmConfig, Direction, ServiceFlow, Tlv};

use super::{ConfigGenerator, GenerateError};

/// Builds a DOCSIS CM file from the device's account.
#[derive(Debug, Clone)]
pub struct BasicCmGenerator {
    secret: Vec<u8>,
    filler: usize,
    version: u64,
}

impl BasicCmGenerator {
    /// A generator signing with the CMTS shared `secret`.
    pub fn new(secret: &[u8]) -> BasicCmGenerator {
        BasicCmGenerator {
            secret: secret.to_vec(),
            filler: 0,
            version: 1,
        }
    }

    /// Adds about `octets` of vendor-specific TLV 43 data (OUI 00:00:00) naming the device, to reach a realistic file size.
    pub fn with_filler(mut self, octets: usize) -> BasicCmGenerator {
        self.filler = octets;
        self
    }

    /// Sets the version reported for the cache key.
    pub fn with_version(mut self, v: u64) -> BasicCmGenerator {
        self.version = v;
        self
    }
}

impl ConfigGenerator for BasicCmGenerator {
    fn generate(&self, req: &ConfigRequest) -> Result<Option<ConfigFile>, GenerateError> {
        let d = &req.device;
        let attr = |k: &str| d.account.as_ref().and_then(|a| a.attribute(k));
        let num = |k: &str, dflt: u32| attr(k).and_then(|v| v.parse().ok()).unwrap_or(dflt);
        let mut c = CmConfig::new();
        c.network_access(attr("network_access") != Some("0"));
        c.max_cpe(u8::try_from(num("max_cpe", 4)).unwrap_or(u8::MAX));
        let mut us = ServiceFlow::new(Direction::Upstream, 1);
        us.max_sustained_rate = Some(num("max_up", 1_000_000));
        let mut ds = ServiceFlow::new(Direction::Downstream, 2);
        ds.max_sustained_rate = Some(num("max_down", 10_000_000));
        c.service_flow(&us).service_flow(&ds);
        let mut left = self.filler;
        let line = format!("headend {} {} ", d.mac, req.file_name);
        while left > 0 {
            let n = left.min(200);
            let text: String = line.chars().cycle().take(n.saturating_sub(5)).collect();
            c.push(Tlv::aggregate(
                43,
                vec![Tlv::new(8, vec![0, 0, 0]), Tlv::string(1, &text)],
            ));
            left = left.saturating_sub(n);
        }
        c.build(&self.secret)
            .map(|bytes| {
                Some(ConfigFile {
                    bytes,
                    config_hash: None,
                })
            })
            .map_err(|e| GenerateError::Failed(e.to_string()))
    }

    fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use headend_abi::{Device, Protocol, Transfer};
    use headend_config_file::{decode, Check};

    #[test]
    fn generated_file_verifies_and_follows_attributes() {
        let mut dev = Device::with_mac(Protocol::Lease, "00:11:22:33:44:55");
        dev.account = Some(headend_abi::Account {
            id: "00:11:22:33:44:55".into(),
            domains: vec![],
            attributes: vec![("max_cpe".into(), "7".into())],
        });
        let req = ConfigRequest {
            device: dev,
            file_name: "cm.cfg".into(),
            transfer: Transfer::Tftp,
        };
        let g = BasicCmGenerator::new(b"DOCSIS").with_filler(2000);
        let f = g.generate(&req).unwrap().unwrap();
        assert!(
            f.bytes.len() >= 2000 && f.bytes.len() < 2400,
            "{}",
            f.bytes.len()
        );
        let file = decode(&f.bytes, Some(b"DOCSIS")).unwrap();
        assert_eq!(file.cm_mic, Check::Verified);
        assert_eq!(file.cmts_mic, Check::Verified);
        assert_eq!(file.find(18).map(|n| n.value.clone()), Some(vec![7]));
        assert_eq!(g.generate(&req).unwrap().unwrap(), f, "deterministic");
    }
}
