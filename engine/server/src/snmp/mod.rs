//! The SNMP provisioning server (PacketCable interface pkt-eue-4; seed 000
//! Table 6 eUE-15 … eUE-19 and eUE-25): UDP listeners (IPv4 and IPv6) that
//! run the sans-IO [`exchange::Endpoint`] — INFORM → Response → identify →
//! GET → file → SET → status — over the shared state: devices resolved
//! through the device registry (the DHCP leases), files generated and
//! pinned by the config server, steps recorded in the provisioning
//! timeline, status INFORMs handed to the `mem-event` hook.
//!
//! One task per socket owns its endpoint, so the exchange needs no lock;
//! the SETs leave from the socket the INFORM came to, and the agents'
//! Responses come back to it. snmpEngineBoots is kept in the store (one
//! more per start) and snmpEngineTime counts from the start.

pub mod exchange;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use headend_abi::{EventLevel, EventTransport, MemEvent};
use headend_model::literal::Literal;
use headend_model::snapshot::Snapshot;
use headend_model::snmp::{SnmpSettings, UrlScheme as ModelScheme};
use headend_snmp::LocalEngine;
use headend_store::Mutation;
use parking_lot::RwLock;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::component::{Component, ServerError, StartContext, Started};
use crate::counters::{Event, Family};
use crate::shared::timeline::Step;
use crate::shared::Shared;
use exchange::{Endpoint, EueIdentity, Outcome, Prepared, Provisioner, Settings, UrlScheme};

/// Store metadata key of snmpEngineBoots.
pub const BOOTS_KEY: &str = "snmp.engine_boots";

/// Socket buffers (a boot storm of INFORMs must not overflow the kernel's).
const SOCKET_BUFFER: usize = 4 << 20;

/// The SNMP provisioning server.
pub struct Snmp {
    shared: Shared,
    started: Instant,
    boots: u32,
    engine: RwLock<(Vec<u8>, Option<Arc<LocalEngine>>)>,
}

impl Snmp {
    /// The server over the shared state; counts one more engine boot in the store.
    pub fn open(shared: &Shared) -> Arc<Snmp> {
        let boots = match shared.store.meta(BOOTS_KEY) {
            Ok(Some(v)) => v
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0),
            _ => 0,
        }
        .saturating_add(1)
        .min(0x7fff_fffe);
        let started = Instant::now();
        let me = Snmp {
            shared: shared.clone(),
            started,
            boots,
            engine: RwLock::new((Vec::new(), None)),
        };
        if shared.config.load().snmp.is_some() {
            if let Err(e) = shared.store.apply(&[Mutation::PutMeta {
                key: BOOTS_KEY.to_string(),
                value: boots.to_be_bytes().to_vec(),
            }]) {
                warn!(error = %e, "snmp: engine boots not stored");
            }
        }
        let me = Arc::new(me);
        me.rebuild_engine(&shared.config.load());
        me
    }

    /// snmpEngineBoots of this run.
    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// The SNMPv3 engine (keys localised) of the current configuration.
    pub fn engine(&self) -> Option<Arc<LocalEngine>> {
        self.engine.read().1.clone()
    }

    fn rebuild_engine(&self, snap: &Snapshot) {
        let Some(s) = &snap.snmp else {
            *self.engine.write() = (Vec::new(), None);
            return;
        };
        // Keys are derived only when the users or the engine id change
        // (a millisecond or two per password).
        let fingerprint = format!("{:?}{:?}", s.engine_id, s.users).into_bytes();
        if self.engine.read().0 == fingerprint {
            return;
        }
        let engine = if s.users.is_empty() {
            None
        } else {
            let seed = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            match LocalEngine::new(s.engine_id.clone(), self.boots, &s.users, seed) {
                Ok(e) => Some(Arc::new(e)),
                Err(e) => {
                    warn!(error = %e, "snmp: SNMPv3 users not usable");
                    None
                }
            }
        };
        *self.engine.write() = (fingerprint, engine);
    }

    async fn serve(self: Arc<Self>, sock: UdpSocket, mut stop: watch::Receiver<bool>) {
        let snap = self.shared.config.load_full();
        let mut generation = snap.generation;
        let Some(s) = &snap.snmp else { return };
        let seed = (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(7)) as i32;
        let mut ep = Endpoint::new(
            settings(s),
            self.engine(),
            self.started,
            self.shared.counters.clone(),
            seed,
        );
        let mut buf = vec![0u8; 65_536];
        loop {
            let due = ep.poll_timeout();
            let timer = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let out = tokio::select! {
                r = sock.recv_from(&mut buf) => match r {
                    Ok((n, peer)) => {
                        let snap = self.shared.config.load_full();
                        if snap.generation != generation {
                            generation = snap.generation;
                            if let Some(s) = &snap.snmp {
                                ep.set_settings(settings(s));
                                ep.set_engine(self.engine());
                            }
                        }
                        let host = Host { shared: &self.shared, snap: &snap };
                        let data = buf.get(..n).unwrap_or_default();
                        ep.handle(Instant::now(), peer, data, &host)
                    }
                    Err(e) => {
                        debug!(error = %e, "snmp: receive failed");
                        self.shared.counters.drop_in(Family::Snmp, "receive_failed");
                        continue;
                    }
                },
                _ = timer => {
                    let snap = self.shared.config.load_full();
                    let host = Host { shared: &self.shared, snap: &snap };
                    ep.handle_timeout(Instant::now(), &host)
                }
                _ = stop.changed() => break,
            };
            for t in out {
                if let Err(e) = sock.send_to(&t.bytes, t.dst).await {
                    debug!(dst = %t.dst, error = %e, "snmp: send failed");
                    self.shared
                        .counters
                        .count_in(Family::Snmp, Event::SendFailed);
                }
            }
        }
    }
}

/// The exchange settings of `[snmp]`.
pub fn settings(s: &SnmpSettings) -> Settings {
    Settings {
        communities: s.communities.clone(),
        agent_community: s.agent_community.clone(),
        agent_port: s.agent_port,
        retries: s.retries,
        timeout: s.timeout,
        max_enrollments: s.max_enrollments,
        capability_oids: s.capability_oids.clone(),
        scheme: match s.scheme {
            ModelScheme::Tftp => UrlScheme::Tftp,
            ModelScheme::Http => UrlScheme::Http,
            ModelScheme::Auto => UrlScheme::Auto,
        },
        linger: std::time::Duration::from_secs(60),
        domains: s
            .domains
            .iter()
            .map(|d| exchange::DomainCommunities {
                domain: d.domain.clone(),
                communities: d.communities.clone(),
                agent_community: d.agent_community.clone(),
            })
            .collect(),
    }
}

/// The exchange's view of the server: registry, config server, timeline, events.
pub struct Host<'a> {
    /// The shared state.
    pub shared: &'a Shared,
    /// The snapshot the datagram is handled under.
    pub snap: &'a Snapshot,
}

impl Host<'_> {
    /// The URL of `name` on our TFTP (RFC 3617) or HTTP server, in the eUE's address family.
    pub fn url(&self, eue: IpAddr, http: bool, name: &str) -> Result<String, String> {
        let cs = &self.snap.config_server;
        // The bound addresses (ephemeral ports resolved), else the configured ones.
        let (mut tftp_l, mut http_l) = self.shared.services.listeners();
        if tftp_l.is_empty() {
            tftp_l = cs.tftp_listen.clone();
        }
        if http_l.is_empty() {
            http_l = cs.http_listen.clone();
        }
        let pick = |list: &[SocketAddr]| {
            list.iter()
                .find(|a| a.is_ipv4() == eue.is_ipv4() && !a.ip().is_unspecified())
                .copied()
        };
        let (scheme, addr, default_port) = match (http, pick(&http_l)) {
            (true, Some(a)) => ("http", a, 80),
            _ => match pick(&tftp_l) {
                Some(a) => ("tftp", a, 69),
                None => {
                    return Err(format!(
                        "no [tftp] listen address of the eUE's family ({eue}) to name in the URL"
                    ))
                }
            },
        };
        let host = match addr.ip() {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let port = if addr.port() == default_port {
            String::new()
        } else {
            format!(":{}", addr.port())
        };
        Ok(format!("{scheme}://{host}{port}/{name}"))
    }
}

impl Provisioner for Host<'_> {
    fn identify(&self, addr: IpAddr) -> Option<EueIdentity> {
        use crate::shared::DeviceResolver;
        self.shared
            .devices
            .resolve(addr)
            .map(|dc| EueIdentity::from_device(addr, dc))
    }

    fn prepare(
        &self,
        id: &EueIdentity,
        inputs: &[(String, String)],
        http: bool,
    ) -> Result<Prepared, String> {
        let expr = self
            .snap
            .snmp
            .as_ref()
            .and_then(|s| s.config_file.as_ref())
            .ok_or("[snmp] config_file is not usable")?;
        let mut session = self.snap.exprs.session_shared(id.device.ctx.clone());
        let name = match session.eval_literal(expr) {
            Ok(Some(Literal::Str(s))) if !s.is_empty() => s,
            Ok(_) => return Err("[snmp] config_file gave no file name for this device".into()),
            Err(e) => {
                self.shared.counters.expression_failed(e.kind.as_str());
                return Err(format!("[snmp] config_file failed: {e}"));
            }
        };
        let files = self
            .shared
            .services
            .files()
            .ok_or("no config server is registered")?;
        let pf = files.provision(&id.device, &name, inputs)?;
        let url = self.url(id.ip, http, &pf.name)?;
        Ok(Prepared {
            url,
            hash: pf.sha1.to_vec(),
            key: None,
        })
    }

    fn record(&self, mac: &str, step: u8, outcome: Outcome, detail: String) {
        debug!(mac, step = %Step::Eue(step), ?outcome, "{detail}");
        self.shared
            .timeline
            .record(mac, Step::Eue(step), outcome, detail);
    }

    fn event(&self, id: Option<&EueIdentity>, peer: IpAddr, event_id: u32, text: String) {
        let ev = MemEvent {
            device: id.map(|i| i.device.device.clone()),
            source: Some(peer),
            transport: EventTransport::Snmp,
            level: EventLevel::Information,
            enterprise: 4491,
            event_id,
            text,
            endpoint: None,
            received_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        };
        let snap = self.shared.config.load();
        if let Err(e) = self
            .shared
            .events
            .handle(&snap, &ev, (self.shared.clock)(), true)
        {
            debug!(%peer, error = %e, "snmp: event not handled");
        }
    }
}

impl Component for Snmp {
    fn name(&self) -> &'static str {
        "snmp"
    }

    fn start(self: Arc<Self>, snap: &Snapshot, ctx: &StartContext) -> Result<Started, ServerError> {
        let mut started = Started::default();
        let Some(s) = &snap.snmp else {
            return Ok(started);
        };
        for addr in &s.listen {
            let sock = UdpSocket::from_std(crate::udp::bind_family(*addr, SOCKET_BUFFER)?)?;
            started.bound.push(sock.local_addr()?);
            let serve = self.clone().serve(sock, ctx.stop.clone());
            started.tasks.push(tokio::spawn(async move {
                serve.await;
                Ok(())
            }));
        }
        info!(
            boots = self.boots,
            v3 = self.engine().is_some(),
            "snmp: provisioning server listening"
        );
        Ok(started)
    }

    fn restart_needed(&self, old: &Snapshot, new: &Snapshot) -> Vec<String> {
        headend_model::snmp::restart_change(old.snmp.as_ref(), new.snmp.as_ref())
            .into_iter()
            .collect()
    }

    fn apply(&self, now: &Arc<Snapshot>) {
        self.rebuild_engine(now);
    }
}
