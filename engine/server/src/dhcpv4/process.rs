//! The DHCPv4 server state machine (RFC 2131 §4.3, RFC 951 for BOOTP), on
//! top of the provisioning model: classification into domains, pool
//! selection, option composition with the CableLabs rules, and lease
//! bookkeeping. No sockets here: [`Dhcpv4::handle`] turns one datagram into
//! an [`Outcome`] that the socket loop carries out (send now, or commit the
//! lease and send after the commit).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use arc_swap::ArcSwap;
use headend_abi::Protocol;
use headend_model::compose::{self, ComposeInput, OptionFailure};
use headend_model::expr::{ExprError, Session};
use headend_model::options::{ControlOptions, OptionSet, Space};
use headend_model::plugins;
use headend_model::select::{self, SelectFailure};
use headend_model::snapshot::{Dhcpv4Settings, FixedBinding, Pool, Snapshot};
use headend_model::trace::Trace;
use headend_store::{Account, Lease4, LeaseProtocol, LeaseState, Mutation, UnixTime};
use headend_wire::dhcpv4::{code, MessageType, Packet};
use parking_lot::Mutex;
use tracing::{debug, warn};

use super::context::{self, Device};
use super::offers::Offers;
use super::reply::{self, Prepared, ReplySpec};
use crate::accounts::AccountTable;
use crate::counters::{Counters, Event, Family};
use crate::leases::{LeaseTable, PoolSpec};

/// What to do with a datagram: the shared UDP loop's outcome, addressed
/// to an IPv4 peer.
pub type Outcome = crate::udp::Outcome<SocketAddrV4>;

/// One received datagram.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The datagram.
    pub data: &'a [u8],
    /// Who sent it.
    pub source: SocketAddrV4,
    /// The listener it arrived on.
    pub local: SocketAddrV4,
}

use crate::shared::limit::RateLimiter;
use crate::shared::timeline::{Detail, Outcome as StepOutcome, Role, Step, Timeline};
pub use crate::shared::{system_clock, Clock};

/// The DHCPv4 service state shared by all socket tasks.
pub struct Dhcpv4 {
    /// The running configuration.
    pub config: Arc<ArcSwap<Snapshot>>,
    /// Every lease, in memory.
    pub leases: Mutex<LeaseTable>,
    /// Every account, in memory.
    pub accounts: Arc<AccountTable>,
    /// Counters.
    pub counters: Arc<Counters>,
    /// Outstanding offers, until their REQUEST (see [`super::offers`]).
    offers: Mutex<Offers>,
    /// DECLINEs per relay circuit (giaddr, option 82.1).
    declines: Mutex<RateLimiter<(Ipv4Addr, Vec<u8>)>>,
    /// The store's health: no offers while commits fail.
    store: std::sync::OnceLock<crate::shared::StoreHealth>,
    clock: Clock,
    /// Where acknowledged devices' classification is remembered for the
    /// config server (leases do not keep it).
    device_memo: std::sync::OnceLock<Arc<crate::shared::DeviceMemo>>,
    /// Where each exchange is recorded as a provisioning step.
    timeline: std::sync::OnceLock<Arc<Timeline>>,
    /// Where dynamic DNS jobs go (see [`super::ddns`]).
    pub(super) ddns: std::sync::OnceLock<Arc<crate::shared::ddns::DdnsLink>>,
    /// The buckets this node answers, when it is one of a cluster.
    cluster: std::sync::OnceLock<Arc<crate::cluster::Membership>>,
}

/// Leases and holds ended per lock hold of a sweep.
const SWEEP_SLICE: usize = 1024;

/// Leases and holds ended per sweep tick at most (the rest wait a second).
const MAX_SWEEP: usize = 100_000;

/// Relay circuits whose DECLINEs are counted apart (the rest share one budget).
const MAX_DECLINE_CIRCUITS: usize = 65_536;

/// Pool specs for the lease table from a snapshot.
pub fn pool_specs(snap: &Snapshot) -> Vec<PoolSpec> {
    let reserved = headend_model::snapshot::reserved_by_pool(snap);
    // A cluster's nodes share the pools: each prefers its own stripe.
    let stripe = snap.cluster.as_ref().map_or((0, 1), |c| {
        let me = c.nodes.iter().position(|n| *n == c.node).unwrap_or(0);
        (
            u32::try_from(me).unwrap_or(0),
            u32::try_from(c.nodes.len()).unwrap_or(1),
        )
    });
    snap.pools
        .iter()
        .zip(reserved)
        .map(|(p, reserved)| PoolSpec {
            name: p.name.clone(),
            ranges: p.ranges.clone(),
            exclude: p.exclude.clone(),
            reserved,
            stripe,
        })
        .collect()
}

/// The lease-time triple of a reply: (lease, T1, T2).
type Times = (u32, u32, u32);

impl Dhcpv4 {
    /// A service over loaded state.
    pub fn new(
        config: Arc<ArcSwap<Snapshot>>,
        leases: LeaseTable,
        accounts: Arc<AccountTable>,
        counters: Arc<Counters>,
        clock: Clock,
    ) -> Self {
        Dhcpv4 {
            config,
            leases: Mutex::new(leases),
            accounts,
            counters,
            offers: Mutex::new(Offers::new()),
            declines: Mutex::new(RateLimiter::keyed(
                10.0 / 60.0,
                10,
                MAX_DECLINE_CIRCUITS,
                std::time::Instant::now(),
            )),
            clock,
            store: std::sync::OnceLock::new(),
            device_memo: std::sync::OnceLock::new(),
            timeline: std::sync::OnceLock::new(),
            ddns: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// Answers only the clients of the buckets `membership` says (RFC 3074).
    pub fn set_cluster(&self, membership: Arc<crate::cluster::Membership>) {
        let _ = self.cluster.set(membership);
    }

    /// Records every exchange in `timeline` (`CM1`…`CM4` for an eCM,
    /// `eUE-1`…`eUE-4` for an eUE), linking an eUE to the modem of its
    /// option 82.2 remote-id.
    pub fn set_timeline(&self, timeline: Arc<Timeline>) {
        let _ = self.timeline.set(timeline);
    }

    /// The timeline exchanges are recorded in, once set.
    pub fn timeline(&self) -> Option<&Arc<Timeline>> {
        self.timeline.get()
    }

    /// Refuses new bindings while `store` reports commits failing, and
    /// rolls failed commits back to the store's durable records.
    pub fn set_store_health(&self, store: crate::shared::StoreHealth) {
        let _ = self.store.set(store);
    }

    /// Undoes in memory the leases of a commit that failed: each address
    /// gets back its durable record, or ends now if it has none.
    pub fn rollback(&self, commit: &[Mutation]) {
        let now = self.now();
        for m in commit {
            if let Mutation::PutLease4(l) = m {
                let durable = self.store.get().and_then(|s| s.lease4(l.ip));
                self.leases.lock().restore(l, durable, now);
            }
        }
    }

    /// Remember the classification (vendor class, device type, capabilities)
    /// of every acknowledged device in `memo`, for TFTP/HTTP requests.
    pub fn set_device_memo(&self, memo: Arc<crate::shared::DeviceMemo>) {
        let _ = self.device_memo.set(memo);
    }

    /// Now, by the service clock.
    pub fn now(&self) -> UnixTime {
        (self.clock)()
    }

    /// Installs a new snapshot: pools first, so no packet of the new
    /// configuration sees the old allocators.
    pub fn install(&self, snap: Arc<Snapshot>) {
        let specs = pool_specs(&snap);
        // Changed pools are rebuilt without the lease lock (a snapshot in,
        // the changes since replayed out): packets are served meanwhile.
        let rebuild = self.leases.lock().begin_set_pools(&specs);
        if let Some(mut r) = rebuild {
            r.build();
            self.leases.lock().finish_set_pools(r);
        }
        self.config.store(snap);
    }

    /// Periodic housekeeping: expire leases, holds and remembered offers,
    /// in slices of [`SWEEP_SLICE`] so the packet path never waits long
    /// for the lease lock (at most [`MAX_SWEEP`] a tick).
    pub fn sweep(&self) -> usize {
        let now = self.now();
        let mut n = 0;
        let bus = self
            .timeline()
            .map(|t| t.bus().clone())
            .filter(|b| b.wanted());
        let snap = self.config.load();
        let ddns = self.ddns_link(&snap).is_some();
        self.leases.lock().collect_ended(bus.is_some() || ddns);
        loop {
            let k = self.leases.lock().expire_due(now, SWEEP_SLICE);
            n += k;
            if k < SWEEP_SLICE || n >= MAX_SWEEP {
                break;
            }
        }
        self.offers.lock().sweep(now);
        if bus.is_some() || ddns {
            let mut ended = self.leases.lock().take_ended();
            // In a cluster, a lease of another node's bucket may have been
            // renewed there: its end is that node's to announce (and to
            // take out of the DNS).
            if let Some(m) = self.cluster.get() {
                ended.retain(|l| m.serves(headend_store::cluster::bucket_of_lease4(l)));
            }
            if let Some(bus) = &bus {
                for l in &ended {
                    bus.lease4("lease.expired", l);
                }
            }
            self.ddns_expired(&snap, &ended);
        }
        n
    }

    /// Processes one datagram.
    pub fn handle(&self, inb: &Inbound<'_>, trace: &mut Trace) -> Outcome {
        self.counters.count(Event::Received);
        let pkt = match Packet::parse(inb.data) {
            Ok(p) => p,
            Err(e) => {
                trace.note(|| format!("dropped: {e}"));
                return Outcome::Drop(e.reason());
            }
        };
        if pkt.op != 1 {
            return Outcome::Drop("not_bootrequest");
        }
        let snap = self.config.load_full();
        let Some(d4) = snap.dhcpv4.as_ref() else {
            return Outcome::Drop("dhcpv4_disabled");
        };
        let mtype = pkt.message_type();
        if mtype.is_none() && !(d4.bootp && pkt.is_bootp()) {
            return Outcome::Drop("no_message_type");
        }
        if mtype == Some(MessageType::LeaseQuery) {
            // A requester's question, not a client's exchange (RFC 4388).
            return super::leasequery::handle(self, &snap, d4, &pkt, inb, trace);
        }
        // RFC 3074: one node of a cluster answers each client (every
        // message of a client's exchange; leasequery is not a client's).
        // Checked before the device view is built: every node receives
        // every client's messages, and most are another node's.
        if let Some(m) = self.cluster.get() {
            let cid = pkt.options.client_id();
            let bucket = headend_store::cluster::bucket4_of(cid.as_deref(), pkt.hwaddr());
            if !m.serves(bucket) {
                m.left_to_owner();
                return Outcome::Silent("other_node_bucket");
            }
        }
        let now = self.now();
        let dev = match context::device(&snap, &pkt) {
            Ok(d) => d,
            Err(reason) => return Outcome::Drop(reason),
        };
        let span =
            tracing::debug_span!("dhcpv4", mac = %dev.mac, xid = format_args!("{:08x}", pkt.xid));
        let _g = span.enter();
        let server_id = dev
            .server_id_override
            .unwrap_or_else(|| d4.server_id.unwrap_or(*inb.local.ip()));
        let mut cx = Cx {
            svc: self,
            snap: &snap,
            d4,
            pkt: &pkt,
            dev,
            server_id,
            now,
            inb,
            new_account: None,
            domains: Vec::new(),
            sent: std::cell::Cell::new(None),
            fqdn81: None,
        };
        // A server whose store cannot commit must not pull clients away
        // from a healthy peer: it offers and binds nothing until commits
        // succeed again (RELEASE, DECLINE and INFORM still work).
        let store_down = self.store.get().is_some_and(|s| !s.healthy());
        if store_down
            && matches!(
                mtype,
                Some(MessageType::Discover | MessageType::Request) | None
            )
        {
            return Outcome::Silent("store_unhealthy");
        }
        let outcome = match mtype {
            Some(MessageType::Discover) => cx.discover(trace),
            Some(MessageType::Request) => cx.request(trace),
            Some(MessageType::Decline) => cx.decline(trace),
            Some(MessageType::Release) => cx.release(trace),
            Some(MessageType::Inform) => cx.inform(trace),
            None => cx.bootp(trace),
            Some(_) => Outcome::Drop("not_client_message"),
        };
        match &outcome {
            Outcome::Drop(r) | Outcome::Silent(r) => debug!(reason = r, "no reply"),
            _ => {}
        }
        if let Some(tl) = self.timeline.get() {
            cx.record_steps(tl, mtype, &outcome);
        }
        outcome
    }
}

/// Everything known while processing one packet.
struct Cx<'a> {
    svc: &'a Dhcpv4,
    snap: &'a Snapshot,
    d4: &'a Dhcpv4Settings,
    pkt: &'a Packet<'a>,
    dev: Device,
    server_id: Ipv4Addr,
    now: UnixTime,
    inb: &'a Inbound<'a>,
    new_account: Option<Account>,
    domains: Vec<String>,
    /// The reply built (message type, yiaddr), for the timeline.
    sent: std::cell::Cell<Option<(Option<MessageType>, Ipv4Addr)>>,
    /// Option 81 of the OFFER or ACK (RFC 4702 section 4), once decided.
    fqdn81: Option<Vec<u8>>,
}

impl Cx<'_> {
    /// Records the request and its answer as the device's provisioning
    /// steps (seed 000 Table 2 for an eCM, Table 6 eUE-1…eUE-4 for an eUE).
    fn record_steps(&self, tl: &Timeline, mtype: Option<MessageType>, outcome: &Outcome) {
        let role = Role::of_family(&self.dev.ctx.device.family);
        let (asked, answer) = match (role, mtype) {
            (Role::Ecm, Some(MessageType::Discover)) => (Step::Cm1, Step::Cm2),
            (Role::Ecm, Some(MessageType::Request)) => (Step::Cm3, Step::Cm4),
            (Role::Eue, Some(MessageType::Discover)) => (Step::Eue(1), Step::Eue(2)),
            (Role::Eue, Some(MessageType::Request)) => (Step::Eue(3), Step::Eue(4)),
            (_, Some(MessageType::Discover)) => {
                (Step::Other("DHCPDISCOVER"), Step::Other("DHCPOFFER"))
            }
            (_, Some(MessageType::Request)) => (Step::Other("DHCPREQUEST"), Step::Other("DHCPACK")),
            (_, Some(MessageType::Inform)) => (Step::Other("DHCPINFORM"), Step::Other("DHCPACK")),
            (_, Some(MessageType::Decline)) => {
                (Step::Other("DHCPDECLINE"), Step::Other("DHCPDECLINE"))
            }
            (_, Some(MessageType::Release)) => {
                (Step::Other("DHCPRELEASE"), Step::Other("DHCPRELEASE"))
            }
            (_, None) => (Step::Other("BOOTREQUEST"), Step::Other("BOOTREPLY")),
            (_, Some(_)) => return,
        };
        let mac = &self.dev.mac;
        let via = if self.pkt.giaddr.is_unspecified() {
            Detail::Socket("DHCPv4 from ", self.inb.source.into())
        } else {
            Detail::Addr("DHCPv4 via relay ", self.pkt.giaddr.into())
        };
        tl.record(mac, asked, StepOutcome::Ok, via);
        match (outcome, self.sent.get()) {
            (Outcome::Reply { .. }, Some((Some(MessageType::Nak), _))) => {
                tl.record(mac, answer, StepOutcome::Failed, "NAK")
            }
            (Outcome::Reply { .. }, Some((t, ip))) => {
                let name = t
                    .map(|t| t.name().trim_start_matches("DHCP"))
                    .unwrap_or("BOOTREPLY");
                tl.record(
                    mac,
                    answer,
                    StepOutcome::Ok,
                    Detail::Message(name, ip.into()),
                );
                if role == Role::Eue && t == Some(MessageType::Ack) {
                    if let Some(modem) = &self.dev.remote_id_mac {
                        tl.link(modem, mac);
                    }
                }
                if matches!(outcome, Outcome::Reply { durable: true, .. }) {
                    // A binding: the device's steps are written from now on.
                    tl.establish(mac);
                }
            }
            (Outcome::Reply { .. }, None) | (Outcome::Commit(_), _) => {}
            (Outcome::Silent(r), _) => tl.record(
                mac,
                answer,
                StepOutcome::Failed,
                Detail::Reason("not answered: ", r),
            ),
            (Outcome::Drop(r), _) => tl.record(
                mac,
                answer,
                StepOutcome::Failed,
                Detail::Reason("dropped: ", r),
            ),
        }
    }

    fn session(&self) -> Session<'_> {
        self.snap.exprs.session_shared(self.dev.ctx.clone())
    }

    /// Resolves the account and its domains (the one account step,
    /// [`AccountTable::resolve`]) and the modem's account from option 82.2.
    fn classify(&mut self, trace: &mut Trace) {
        let r = self.svc.accounts.resolve(
            self.snap,
            &self.dev.account_id,
            &self.dev.ctx,
            self.now,
            &self.svc.counters,
            trace,
        );
        self.new_account = r.new;
        let account = r.account;
        self.domains = account.domains.clone();
        context::set_account(&mut self.dev.ctx, &account);
        let modem = self
            .dev
            .remote_id_mac
            .as_ref()
            .and_then(|m| self.svc.accounts.lookup(self.snap, m));
        if let Some(m) = &modem {
            trace.note(|| {
                format!(
                    "modem account {} (from option 82 remote-id): domains {:?}",
                    m.id, m.domains
                )
            });
        }
        context::set_modem(&mut self.dev.ctx, modem.as_ref());
    }

    fn expr_failed(&self, what: &str, e: &ExprError) {
        self.svc.counters.expression_failed(e.kind.as_str());
        warn!(mac = %self.dev.mac, account = %self.dev.account_id, what, error = %e, "expression failed");
    }

    fn report(&self, sf: Vec<SelectFailure>, of: Vec<OptionFailure>, trace: &mut Trace) {
        for f in sf {
            trace.note(|| format!("pool {:?} allow/deny FAILED: {}", f.pool, f.error));
            self.expr_failed(&format!("pool {} allow/deny", f.pool), &f.error);
        }
        for f in of {
            match &f.expression {
                Some(e) => self.svc.counters.expression_failed(e.kind.as_str()),
                None => self.svc.counters.expression_failed("wrong_type"),
            }
            warn!(mac = %self.dev.mac, account = %self.dev.account_id, option = %f.path, policy = %f.policy, error = %f.error, "option omitted");
        }
    }

    fn fixed(&self) -> Option<&FixedBinding> {
        self.snap
            .fixed
            .get(&(self.dev.client.clone(), self.dev.selector.giaddr))
    }

    fn pool_of(&self, ip: Ipv4Addr) -> Option<&Pool> {
        self.snap.pools.iter().find(|p| p.contains(ip))
    }

    /// Composes the reply options with the pool and lease known.
    fn options(
        &mut self,
        pool: Option<&Pool>,
        fixed: Option<&FixedBinding>,
        ip: Option<Ipv4Addr>,
        lifetime: u32,
        trace: &mut Trace,
    ) -> Prepared {
        context::set_pool(&mut self.dev.ctx, pool);
        context::set_lease(
            &mut self.dev.ctx,
            ip,
            &self.dev.client,
            lifetime,
            self.now,
            pool,
        );
        let mut failures = Vec::new();
        let input = ComposeInput {
            snapshot: self.snap,
            domains: &self.domains,
            pool: pool.map_or(&[], |p| p.policies.as_slice()),
            fixed: fixed.map_or(&[], |f| f.policies.as_slice()),
            requested: &self.dev.requested,
            space: Space::Dhcp4,
        };
        let mut set = compose::compose(&input, || self.session(), &mut failures, trace);
        self.select_flow(&mut set, trace);
        compose::apply_cablelabs_rules(&mut set, &self.dev.requested, self.dev.dual, trace);
        self.report(Vec::new(), failures, trace);
        Prepared::new(&set, &self.snap.registry, trace)
    }

    /// Flow selection (issue 3, seed 000 section 6.4.1): for a PacketCable
    /// device that asked for option 122, the flow-select plugin's decision
    /// replaces 122.3 / 122.6 from policies. When no plugin serves the hook,
    /// or the call fails (trap, deadline, breaker open …), the policy values
    /// stay: that is the configured fallback.
    fn select_flow(&self, set: &mut OptionSet, trace: &mut Trace) {
        if self.dev.ctx.device.family != "pktc"
            || !self.dev.requested.prl.contains(&code::CCC)
            || !self.snap.hooks.serves_flow_select()
        {
            return;
        }
        let mut device = plugins::device_of(&self.dev.ctx, Protocol::Dhcpv4);
        device.domains.clone_from(&self.domains);
        if let Some(oro) = self.dev.requested.vendor_oro.get(&4491) {
            device.vendor_oro.clone_from(oro);
        }
        match self.snap.hooks.select_flow(&device) {
            None => {}
            Some(Ok(decision)) => {
                let problems = plugins::apply_flow_decision_v4(
                    set,
                    &self.snap.registry,
                    &decision,
                    "flow-select plugin",
                    trace,
                );
                for p in problems {
                    self.svc
                        .counters
                        .hook_fallback("flow-select", "unusable_value");
                    warn!(mac = %self.dev.mac, account = %self.dev.account_id, problem = %p, "flow-select decision value not usable");
                }
            }
            Some(Err(e)) => {
                self.svc.counters.hook_fallback("flow-select", &e.kind);
                warn!(mac = %self.dev.mac, account = %self.dev.account_id, error = %e, "flow selection failed; policy values used");
                trace.note(|| format!("flow selection failed ({e}); policy values used"));
            }
        }
    }

    fn lease_times(&self, pool: Option<&Pool>, control: &ControlOptions) -> Times {
        let base = control
            .lease_time
            .or_else(|| pool.and_then(|p| p.lifetime))
            .unwrap_or(self.d4.default_lease_time);
        // A client may ask for a lease time (option 51, RFC 2132 9.2); it is
        // honoured up to max_lease_time. A control option overrides both.
        let lease = match (self.pkt.options.lease_time(), control.lease_time) {
            (Some(req), None) => req.max(60).min(self.d4.max_lease_time),
            _ => base,
        };
        let t1 = control.renew_time.unwrap_or(lease / 2).min(lease);
        let t2 = control
            .rebind_time
            .unwrap_or((u64::from(lease) * 7 / 8) as u32)
            .clamp(t1, lease);
        (lease, t1, t2)
    }

    fn build(
        &self,
        mtype: Option<MessageType>,
        yiaddr: Ipv4Addr,
        options: &Prepared,
        times: Option<Times>,
        pool: Option<&Pool>,
        trace: &mut Trace,
    ) -> Result<Vec<u8>, &'static str> {
        self.sent.set(Some((mtype, yiaddr)));
        let spec = ReplySpec {
            mtype,
            yiaddr,
            server_id: self.server_id,
            times,
            subnet: pool.map(|p| p.network),
            options,
            requested: &self.dev.requested,
            max_len: reply::max_len(self.pkt, self.d4, mtype.is_none()),
            fqdn: self.fqdn81.as_deref().filter(|_| mtype.is_some()),
        };
        match reply::build(self.pkt, &spec, trace) {
            Ok((bytes, dropped)) => {
                for _ in 0..dropped {
                    self.svc.counters.count(Event::OptionTruncated);
                }
                Ok(bytes)
            }
            Err(r) => Err(r),
        }
    }

    fn destination(&self, mtype: Option<MessageType>) -> SocketAddrV4 {
        reply::destination(self.pkt, self.d4, self.inb.source, &self.dev, mtype)
    }

    /// A binding's commit, with the device's new auto-provisioned account
    /// in the same batch: an account is persisted together with the first
    /// binding that needs it, never for a mere DISCOVER (issue 21).
    fn with_account(&mut self, mut commit: Vec<Mutation>) -> Vec<Mutation> {
        if let Some(a) = self.new_account.take() {
            if let Some(m) = self
                .svc
                .accounts
                .adopt(a, &self.svc.counters, Family::Dhcpv4)
            {
                commit.insert(0, m);
            }
        }
        commit
    }

    /// Chooses the pool for a new or returning client: a pool where it
    /// already holds (or held) an address, if still eligible; else stages 1–4.
    fn choose_pool(&mut self, trace: &mut Trace) -> Option<Pool> {
        let previous: Vec<String> = {
            let leases = self.svc.leases.lock();
            let mut v: Vec<&Lease4> = leases.leases_of(&self.dev.client).collect();
            v.sort_by_key(|l| {
                (
                    l.state != LeaseState::Active,
                    std::cmp::Reverse(l.commit_time),
                )
            });
            v.into_iter()
                .filter(|l| l.state != LeaseState::Declined)
                .map(|l| l.pool.clone())
                .collect()
        };
        let mut session = self.session();
        let mut sf = Vec::new();
        for name in previous {
            if select::may_extend(
                self.snap,
                &name,
                &self.dev.selector,
                &self.domains,
                &mut session,
                &mut sf,
                trace,
            ) {
                if let Some(p) = self.snap.pool(&name) {
                    trace.note(|| format!("client already has an address in pool {name:?}"));
                    self.report(sf, Vec::new(), trace);
                    return Some(p.clone());
                }
            }
        }
        let leases = &self.svc.leases;
        let now = self.now;
        let chosen = select::select_pool(
            self.snap,
            &self.dev.selector,
            &self.domains,
            &mut session,
            &mut |p: &Pool| leases.lock().has_free(&p.name, now),
            &mut sf,
            trace,
        )
        .cloned();
        self.report(sf, Vec::new(), trace);
        chosen
    }

    /// Picks an address in `pool` and holds it for the client, under one
    /// lock: two workers must never offer the same address to two clients.
    fn pick_and_hold(&self, pool: &Pool, requested: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let mut leases = self.svc.leases.lock();
        let ip = leases.pick(&pool.name, &self.dev.client, requested, self.now)?;
        leases.hold_offer(
            ip,
            &self.dev.client,
            self.now + u64::from(self.d4.offer_hold),
        );
        Some(ip)
    }

    /// Remembers the OFFER of `ip` until `until` for the client's REQUEST,
    /// and ends the holds of the circuit's oldest offers past
    /// `max_offers_per_circuit` (see [`super::offers`]).
    fn remember_offer(&self, ip: Ipv4Addr, until: UnixTime, options: Prepared, trace: &mut Trace) {
        let recycled = {
            let mut offers = self.svc.offers.lock();
            let client = offers.client_id(&self.dev.client);
            let relay = &self.dev.ctx.relay;
            let circuit = offers.circuit_id(self.pkt.giaddr, &relay.circuit_id, &relay.remote_id);
            offers.insert(
                ip,
                client,
                circuit,
                until,
                options,
                self.d4.max_offers_per_circuit,
            )
        };
        if recycled.is_empty() {
            return;
        }
        let mut leases = self.svc.leases.lock();
        for r in &recycled {
            leases.end_hold(r.ip, r.until);
            self.svc.counters.count(Event::OfferRecycled);
        }
        drop(leases);
        trace.note(|| {
            format!(
                "{} outstanding offer(s) of this circuit recycled (max_offers_per_circuit = {})",
                recycled.len(),
                self.d4.max_offers_per_circuit
            )
        });
    }

    /// Forgets the client's offer of `ip` in the memo; when its hold would have ended.
    fn forget_offer_memo(&self, ip: Ipv4Addr) -> Option<UnixTime> {
        let mut offers = self.svc.offers.lock();
        let client = offers.client_id(&self.dev.client);
        offers.forget(ip, client)
    }

    /// Forgets the client's offer of `ip` and ends its hold; whether there was one.
    fn forget_offer(&self, ip: Ipv4Addr) -> bool {
        let until = self.forget_offer_memo(ip);
        if let Some(until) = until {
            self.svc.leases.lock().end_hold(ip, until);
        }
        until.is_some()
    }

    /// The lease record of a binding made now.
    fn lease_record(
        &self,
        ip: Ipv4Addr,
        lifetime: u32,
        protocol: LeaseProtocol,
        pool: Option<&Pool>,
        hostname: Option<String>,
    ) -> Lease4 {
        Lease4 {
            ip,
            client: self.dev.client.clone(),
            hwaddr: self.dev.hwaddr.clone(),
            state: LeaseState::Active,
            commit_time: self.now,
            lifetime,
            relay: self.dev.selector.giaddr,
            protocol,
            pool: pool
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "fixed".into()),
            trusted_id: self.dev.trusted.as_ref().map(|t| t.0.clone()),
            trusted_id_type: self.dev.trusted.as_ref().map(|t| t.1),
            hostname,
            relay_info: self.dev.relay_info.clone(),
        }
    }

    fn discover(&mut self, trace: &mut Trace) -> Outcome {
        self.classify(trace);
        let fixed = self.fixed().cloned();
        let (ip, pool) = if let Some(f) = &fixed {
            trace.note(|| {
                format!(
                    "fixed binding {} on relay {}",
                    f.binding.ip, f.binding.relay
                )
            });
            (f.binding.ip, self.pool_of(f.binding.ip).cloned())
        } else {
            let Some(pool) = self.choose_pool(trace) else {
                return Outcome::Silent("no_pool_for_network");
            };
            // The hold is adjusted below to a policy's offer-hold, or released
            // if policy says not to answer.
            let picked = self.pick_and_hold(&pool, self.pkt.options.requested_ip());
            let Some(ip) = picked else {
                warn!(pool = %pool.name, "pool exhausted");
                return Outcome::Silent("pool_exhausted");
            };
            (ip, Some(pool))
        };
        let lifetime = pool
            .as_ref()
            .and_then(|p| p.lifetime)
            .unwrap_or(self.d4.default_lease_time);
        let options = self.options(pool.as_ref(), fixed.as_ref(), Some(ip), lifetime, trace);
        let control = options.control();
        if control.no_response {
            trace.note(|| "server.no-response is set: not answering".into());
            if fixed.is_none() {
                // Release the hold taken with the pick.
                self.svc
                    .leases
                    .lock()
                    .hold_offer(ip, &self.dev.client, self.now);
            }
            return Outcome::Silent("no_response_policy");
        }
        let times = self.lease_times(pool.as_ref(), control);
        // The OFFER answers option 81 as the ACK will (RFC 4702 section 4).
        if self.pkt.options.client_fqdn().is_some() {
            let named = super::ddns::name(self.svc, self.snap, self.pkt, &self.dev, trace);
            self.fqdn81 = super::ddns::reply_option(self.snap, self.pkt, named.as_ref());
        }
        let hold = control.offer_hold.unwrap_or(self.d4.offer_hold);
        if fixed.is_none() && hold != self.d4.offer_hold {
            self.svc
                .leases
                .lock()
                .hold_offer(ip, &self.dev.client, self.now + u64::from(hold));
        }
        let packet = match self.build(
            Some(MessageType::Offer),
            ip,
            &options,
            Some(times),
            pool.as_ref(),
            trace,
        ) {
            Ok(p) => p,
            Err(r) => return Outcome::Drop(r),
        };
        self.remember_offer(ip, self.now + u64::from(hold), options, trace);
        self.svc.counters.count(Event::Offer);
        debug!(%ip, pool = pool.as_ref().map(|p| p.name.as_str()).unwrap_or("fixed"), "offer");
        Outcome::Reply {
            packet,
            to: self.destination(Some(MessageType::Offer)),
            commit: Vec::new(),
            durable: false,
        }
    }

    fn nak(&mut self, why: &str, trace: &mut Trace) -> Outcome {
        trace.note(|| format!("NAK: {why}"));
        debug!(reason = why, "nak");
        let empty = Prepared::default();
        self.sent
            .set(Some((Some(MessageType::Nak), Ipv4Addr::UNSPECIFIED)));
        let spec = ReplySpec {
            mtype: Some(MessageType::Nak),
            yiaddr: Ipv4Addr::UNSPECIFIED,
            server_id: self.server_id,
            times: None,
            subnet: None,
            options: &empty,
            requested: &self.dev.requested,
            max_len: 548,
            fqdn: None,
        };
        match reply::build(self.pkt, &spec, trace) {
            Ok((packet, _)) => {
                self.svc.counters.count(Event::Nak);
                Outcome::Reply {
                    packet,
                    to: self.destination(Some(MessageType::Nak)),
                    commit: Vec::new(),
                    durable: false,
                }
            }
            Err(r) => Outcome::Drop(r),
        }
    }

    /// Whether `ip` is on the client's network (one of its stage-1 pools, or its fixed binding).
    fn on_network(&self, ip: Ipv4Addr) -> bool {
        self.fixed().is_some_and(|f| f.binding.ip == ip)
            || select::network_pools(self.snap, &self.dev.selector)
                .iter()
                .any(|p| p.network.contains(&ip))
    }

    fn request(&mut self, trace: &mut Trace) -> Outcome {
        let client = self.dev.client.clone();
        let requested = self.pkt.options.requested_ip();
        let ciaddr = self.pkt.ciaddr;
        if let Some(sid) = self.pkt.options.server_id() {
            // SELECTING (RFC 2131 §4.3.2).
            if sid != self.server_id {
                // RFC 2131 §4.3.2: the client declined our offer; its
                // address is free again.
                let offered = self.svc.leases.lock().offer_of(&client, self.now);
                if let Some(ip) = offered {
                    if self.forget_offer(ip) {
                        trace.note(|| {
                            format!("client selected server {sid}; our offer of {ip} is withdrawn")
                        });
                    }
                }
                return Outcome::Silent("selected_other_server");
            }
            let Some(ip) = requested.or((!ciaddr.is_unspecified()).then_some(ciaddr)) else {
                return Outcome::Drop("request_without_address");
            };
            self.classify(trace);
            // Our offer of this address is consumed by this REQUEST: ACKed
            // with its options, or NAKed.
            let offered = {
                let mut offers = self.svc.offers.lock();
                let id = offers.client_id(&client);
                offers.take(ip, id, self.now)
            };
            let fixed = self.fixed().cloned().filter(|f| f.binding.ip == ip);
            let known = offered.is_some()
                || fixed.is_some()
                || self.svc.leases.lock().lease(ip).is_some_and(|l| {
                    l.client == client && l.state == LeaseState::Active && l.is_current(self.now)
                });
            if !known {
                return self.nak("requested address was not offered to this client", trace);
            }
            return self.ack(ip, fixed, offered, trace);
        }
        self.classify(trace);
        if ciaddr.is_unspecified() {
            // INIT-REBOOT.
            let Some(ip) = requested else {
                return Outcome::Drop("request_without_address");
            };
            if !self.on_network(ip) {
                return self.nak("requested address is not on the client's network", trace);
            }
            let fixed = self.fixed().cloned().filter(|f| f.binding.ip == ip);
            if fixed.is_some() {
                return self.ack(ip, fixed, None, trace);
            }
            let rec = self.svc.leases.lock().lease(ip).cloned();
            match rec {
                Some(l) if l.client == client && l.state != LeaseState::Declined => {
                    self.renew(l, trace)
                }
                Some(l) if l.client != client && l.is_current(self.now) => {
                    self.nak("requested address belongs to another client", trace)
                }
                _ if self.d4.authoritative && self.pool_of(ip).is_some() => {
                    // We are authoritative for this network and have no binding: the client
                    // must start over (RFC 2131 §4.3.2 leaves "silent" to non-authoritative servers).
                    self.nak("no binding for this client and address", trace)
                }
                _ => Outcome::Silent("init_reboot_unknown_client"),
            }
        } else {
            // RENEWING or REBINDING.
            let fixed = self.fixed().cloned().filter(|f| f.binding.ip == ciaddr);
            if fixed.is_some() {
                return self.ack(ciaddr, fixed, None, trace);
            }
            let rec = self.svc.leases.lock().lease(ciaddr).cloned();
            match rec {
                Some(l) if l.client == client && l.state == LeaseState::Active => {
                    self.renew(l, trace)
                }
                Some(_) => self.nak("address is not leased to this client", trace),
                None if self.d4.authoritative && self.pool_of(ciaddr).is_some() => {
                    self.nak("no lease for this address", trace)
                }
                None => Outcome::Silent("renew_unknown_lease"),
            }
        }
    }

    /// Extends an existing lease if its pool is still open to the device (seed 004 section 3.1).
    fn renew(&mut self, lease: Lease4, trace: &mut Trace) -> Outcome {
        let mut session = self.session();
        let mut sf = Vec::new();
        let ok = select::may_extend(
            self.snap,
            &lease.pool,
            &self.dev.selector,
            &self.domains,
            &mut session,
            &mut sf,
            trace,
        );
        self.report(sf, Vec::new(), trace);
        if !ok {
            return self.nak("the lease's pool is no longer open to this device (domains, relay or allow/deny changed)", trace);
        }
        if !self
            .svc
            .leases
            .lock()
            .is_available_for(lease.ip, &self.dev.client, self.now)
        {
            return self.nak("address is in use", trace);
        }
        self.ack(lease.ip, None, None, trace)
    }

    fn ack(
        &mut self,
        ip: Ipv4Addr,
        fixed: Option<FixedBinding>,
        offered: Option<Arc<Prepared>>,
        trace: &mut Trace,
    ) -> Outcome {
        let pool = self.pool_of(ip).cloned();
        if fixed.is_none() && pool.is_none() {
            return self.nak("address is in no pool", trace);
        }
        let lifetime = pool
            .as_ref()
            .and_then(|p| p.lifetime)
            .unwrap_or(self.d4.default_lease_time);
        // The ACK to a REQUEST for our OFFER carries exactly the OFFER's
        // options (seed 000 Table 2 CM4: every option and sub-option of the
        // OFFER), composed when the offer was made; other REQUESTs compose.
        let from_offer = offered.is_some();
        let options = match offered {
            Some(o) => {
                trace.note(|| "ACK carries the options of the OFFER (seed 000 Table 2 CM4)".into());
                o
            }
            None => {
                Arc::new(self.options(pool.as_ref(), fixed.as_ref(), Some(ip), lifetime, trace))
            }
        };
        let control = options.control();
        if control.no_response {
            return Outcome::Silent("no_response_policy");
        }
        let times = self.lease_times(pool.as_ref(), control);
        let hostname = self
            .pkt
            .options
            .hostname()
            .map(|h| String::from_utf8_lossy(&h).into_owned());
        // Dynamic DNS (issue 17): the name goes with the lease, the job
        // into its commit batch.
        let named = super::ddns::name(self.svc, self.snap, self.pkt, &self.dev, trace);
        self.fqdn81 = super::ddns::reply_option(self.snap, self.pkt, named.as_ref());
        let dns = super::ddns::on_ack(
            self.svc,
            self.snap,
            self.pkt,
            &self.dev,
            named.as_ref(),
            ip,
            times.0,
            control.ddns_server,
            trace,
        );
        let hostname = dns.as_ref().map(|d| d.fqdn.clone()).or(hostname);
        let lease = self.lease_record(ip, times.0, LeaseProtocol::Dhcp, pool.as_ref(), hostname);
        let packet = match self.build(
            Some(MessageType::Ack),
            ip,
            &options,
            Some(times),
            pool.as_ref(),
            trace,
        ) {
            Ok(p) => p,
            Err(r) => return Outcome::Drop(r),
        };
        {
            // Check and bind under one lock (see `discover`).
            let mut leases = self.svc.leases.lock();
            if fixed.is_none() && !leases.is_available_for(ip, &self.dev.client, self.now) {
                drop(leases);
                return self.nak("address is in use", trace);
            }
            leases.bind(lease.clone());
        }
        // `bind` ended the holds; the memo's entry goes too (a REQUEST for
        // our offer already took it).
        if !from_offer {
            self.forget_offer_memo(ip);
        }
        if let Some(memo) = self.svc.device_memo.get() {
            if !self.dev.ctx.device.family.is_empty() {
                memo.remember(&self.dev.mac, &self.dev.ctx.device);
            }
        }
        self.svc.counters.count(Event::Ack);
        debug!(%ip, pool = %lease.pool, lifetime = times.0, "ack");
        Outcome::Reply {
            packet,
            to: self.destination(Some(MessageType::Ack)),
            commit: self.with_account(
                std::iter::once(Mutation::PutLease4(lease))
                    .chain(dns.map(|d| d.record).unwrap_or_default())
                    .collect(),
            ),
            durable: true,
        }
    }

    fn decline(&mut self, trace: &mut Trace) -> Outcome {
        if self
            .pkt
            .options
            .server_id()
            .is_some_and(|s| s != self.server_id)
        {
            return Outcome::Silent("decline_for_other_server");
        }
        let Some(ip) = self.pkt.options.requested_ip() else {
            return Outcome::Drop("decline_without_address");
        };
        {
            // One circuit (one modem and what is behind it) cannot
            // quarantine more than its share of a pool.
            let per_min = self.d4.declines_per_minute;
            let mut limiter = self.svc.declines.lock();
            limiter.set_limits(f64::from(per_min) / 60.0, per_min, MAX_DECLINE_CIRCUITS);
            let circuit = (self.pkt.giaddr, self.dev.ctx.relay.circuit_id.clone());
            if !limiter.allow_key(circuit, std::time::Instant::now()) {
                return Outcome::Silent("decline_rate_limited");
            }
        }
        let rec =
            self.svc
                .leases
                .lock()
                .decline(ip, &self.dev.client, self.now, self.d4.decline_hold);
        match rec {
            Some(r) => {
                self.forget_offer(ip);
                self.svc.counters.count(Event::Decline);
                warn!(%ip, quarantine = self.d4.decline_hold, "client declined the address (in use on the network): quarantined");
                trace.note(|| format!("{ip} quarantined for {} s", self.d4.decline_hold));
                Outcome::Commit(vec![Mutation::PutLease4(r)])
            }
            None => Outcome::Silent("decline_unknown_binding"),
        }
    }

    fn release(&mut self, trace: &mut Trace) -> Outcome {
        if self
            .pkt
            .options
            .server_id()
            .is_some_and(|s| s != self.server_id)
        {
            return Outcome::Silent("release_for_other_server");
        }
        let ip = self.pkt.ciaddr;
        let rec = self
            .svc
            .leases
            .lock()
            .release(ip, &self.dev.client, self.now);
        match rec {
            Some(r) => {
                self.svc.counters.count(Event::Release);
                debug!(%ip, "released");
                trace.note(|| format!("{ip} released"));
                let dns = super::ddns::on_release(self.svc, self.snap, &r);
                Outcome::Commit(std::iter::once(Mutation::PutLease4(r)).chain(dns).collect())
            }
            None => Outcome::Silent("release_unknown_binding"),
        }
    }

    fn inform(&mut self, trace: &mut Trace) -> Outcome {
        self.classify(trace);
        let ciaddr = self.pkt.ciaddr;
        let pool = self.pool_of(ciaddr).cloned().or_else(|| {
            select::network_pools(self.snap, &self.dev.selector)
                .into_iter()
                .find(|p| p.network.contains(&ciaddr))
                .cloned()
        });
        let options = self.options(pool.as_ref(), None, None, 0, trace);
        if options.control().no_response {
            return Outcome::Silent("no_response_policy");
        }
        // RFC 2131 §4.3.5: no lease time, yiaddr zero.
        let packet = match self.build(
            Some(MessageType::Ack),
            Ipv4Addr::UNSPECIFIED,
            &options,
            None,
            pool.as_ref(),
            trace,
        ) {
            Ok(p) => p,
            Err(r) => return Outcome::Drop(r),
        };
        self.svc.counters.count(Event::InformAck);
        Outcome::Reply {
            packet,
            to: self.destination(Some(MessageType::Ack)),
            // An INFORM binds nothing, so it stores no account either.
            commit: Vec::new(),
            durable: false,
        }
    }

    /// BOOTP (RFC 951, RFC 1542): one request, one reply, an infinite lease.
    fn bootp(&mut self, trace: &mut Trace) -> Outcome {
        self.classify(trace);
        let fixed = self.fixed().cloned();
        let (ip, pool) = if let Some(f) = &fixed {
            (f.binding.ip, self.pool_of(f.binding.ip).cloned())
        } else {
            let Some(pool) = self.choose_pool(trace) else {
                return Outcome::Silent("no_pool_for_network");
            };
            let picked = self.pick_and_hold(&pool, None);
            let Some(ip) = picked else {
                return Outcome::Silent("pool_exhausted");
            };
            (ip, Some(pool))
        };
        let options = self.options(pool.as_ref(), fixed.as_ref(), Some(ip), u32::MAX, trace);
        if options.control().no_response {
            return Outcome::Silent("no_response_policy");
        }
        let packet = match self.build(None, ip, &options, None, pool.as_ref(), trace) {
            Ok(p) => p,
            Err(r) => return Outcome::Drop(r),
        };
        let lease = self.lease_record(ip, u32::MAX, LeaseProtocol::Bootp, pool.as_ref(), None);
        if fixed.is_none() {
            self.svc.leases.lock().bind(lease.clone());
        }
        self.svc.counters.count(Event::BootpReply);
        Outcome::Reply {
            packet,
            to: self.destination(None),
            commit: self.with_account(vec![Mutation::PutLease4(lease)]),
            durable: true,
        }
    }
}
