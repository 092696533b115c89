//! The virtual files behind TFTP and HTTP (seed 004 sections 3.2 and 3.7):
//! per-device virtual root, access mode and overwrite mode; static files
//! confined to the root; generated files from the `[[tftp.config_file]]`
//! generators with a bounded content-keyed cache; atomic uploads; and the
//! per-device transfer log that the provisioning timeline reads.
//!
//! Confinement does not trust the name nor the expression: both are split
//! into components, `..` is refused outright, and the final path is
//! canonicalised (which resolves symlinks) and must still lie inside the
//! canonical virtual root. Uploads go to a temporary file in the target's
//! directory and are renamed over the target, so a reader never sees half
//! a file and a crash leaves only a `.headend-upload-*` temporary behind;
//! such temporaries are never served.
//!
//! Static files are read once per file version (device, inode, size and
//! change times, taken from the descriptor that was opened) into a cache
//! bounded in bytes (`[tftp] static_cache_mb`), with their SHA-1 and
//! SHA-256 computed then, on the blocking thread that read them: in a
//! firmware-upgrade storm every transfer of the same image shares one copy
//! and one pair of digests, instead of a whole-file read and two hashes per
//! transfer. A cache miss is filled by one reader while the others wait for
//! it. A file larger than the cache is read per transfer, but such reads in
//! flight share the same byte budget (one at a time always proceeds), so
//! memory stays bounded whatever the number of transfers.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use headend_abi::{ConfigFile, ConfigRequest, Transfer};
use headend_model::configsrv::{AccessMode, FileSettings, Setting, BUILTIN_DOCSIS_CM};
use headend_model::expr::{EvalContext, Expr, Session};
use headend_model::snapshot::Snapshot;
use headend_wire::tftp::ErrorCode;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::{DeviceContext, DeviceResolver, GenerateError, Generators};
use crate::counters::Counters;
use crate::shared::timeline::{Outcome as StepOutcome, Role, Step, Timeline};

/// Why a request cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// No such file (static), no generator output for this device, or no such directory.
    #[error("file not found")]
    NotFound,
    /// The name tries to leave the root (`..`, or a symlink pointing outside).
    #[error("access violation: path leaves the root")]
    Traversal,
    /// The access mode does not allow this operation.
    #[error("access violation: not allowed for this device")]
    Denied,
    /// The requesting address has no current lease.
    #[error("access violation: unknown device")]
    UnknownDevice,
    /// An upload would replace a file and overwrite mode is off.
    #[error("file already exists")]
    Exists,
    /// An upload exceeds the size limit.
    #[error("upload exceeds the size limit")]
    TooLarge,
    /// The generator failed or is unavailable.
    #[error("{0}")]
    Generator(#[from] GenerateError),
    /// The mapped generator is not registered.
    #[error("generator {0:?} is not available")]
    NoGenerator(String),
    /// A file-system error.
    #[error("I/O error: {0}")]
    Io(String),
    /// Static files larger than the cache are already being read up to the
    /// byte budget, or `max_uploads` uploads run: the device should retry later.
    #[error("server busy: try again later")]
    Busy,
    /// The upload would leave less than `upload_min_free_mb` free on its file system.
    #[error("disk full or allocation exceeded")]
    NoSpace,
}

impl FileError {
    /// The TFTP error code (RFC 1350 appendix).
    pub fn tftp_code(&self) -> ErrorCode {
        match self {
            FileError::NotFound => ErrorCode::FileNotFound,
            FileError::Traversal | FileError::Denied | FileError::UnknownDevice => {
                ErrorCode::AccessViolation
            }
            FileError::Exists => ErrorCode::FileExists,
            FileError::TooLarge | FileError::NoSpace => ErrorCode::DiskFull,
            FileError::Generator(_)
            | FileError::NoGenerator(_)
            | FileError::Io(_)
            | FileError::Busy => ErrorCode::NotDefined,
        }
    }

    /// The HTTP status code.
    pub fn http_status(&self) -> u16 {
        match self {
            FileError::NotFound => 404,
            FileError::Traversal | FileError::Denied | FileError::UnknownDevice => 403,
            FileError::Exists => 409,
            FileError::TooLarge => 413,
            FileError::NoSpace => 507,
            FileError::Generator(GenerateError::Unavailable(_))
            | FileError::NoGenerator(_)
            | FileError::Busy => 503,
            FileError::Generator(_) | FileError::Io(_) => 500,
        }
    }

    /// A short stable label for counters.
    pub fn label(&self) -> &'static str {
        match self {
            FileError::NotFound => "file_not_found",
            FileError::Traversal => "path_traversal",
            FileError::Denied => "access_denied",
            FileError::UnknownDevice => "unknown_device",
            FileError::Exists => "file_exists",
            FileError::TooLarge => "upload_too_large",
            FileError::Generator(_) => "generator_failed",
            FileError::NoGenerator(_) => "no_generator",
            FileError::Io(_) => "io_error",
            FileError::Busy => "server_busy",
            FileError::NoSpace => "upload_no_space",
        }
    }
}

/// Where served bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file under the root.
    Static(PathBuf),
    /// A generator's output.
    Generated {
        /// The generator's name.
        generator: String,
        /// Whether it came from the cache.
        cached: bool,
    },
}

/// The size and digests of a file's content, computed once per content
/// and shared by every transfer of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Octets.
    pub size: u64,
    /// SHA-1 (the PacketCable config-hash algorithm).
    pub sha1: [u8; 20],
    /// SHA-256.
    pub sha256: [u8; 32],
}

impl Digests {
    /// The digests of `bytes`.
    pub fn of(bytes: &[u8]) -> Digests {
        Digests {
            size: bytes.len() as u64,
            sha1: headend_config_file::config_hash(bytes),
            sha256: Sha256::digest(bytes).into(),
        }
    }
}

/// A file ready to send.
#[derive(Debug, Clone)]
pub struct Served {
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
    /// Their size and digests.
    pub digests: Arc<Digests>,
    /// The share of the static-read budget these bytes hold, returned when
    /// the last clone is dropped (files larger than the static cache).
    pub budget: Option<Arc<BudgetShare>>,
    /// Where they came from.
    pub origin: Origin,
    /// The requesting device, when known.
    pub device: Option<DeviceContext>,
    /// The generator's config hash (pktcMtaDevProvConfigHash), if any.
    pub config_hash: Option<Vec<u8>>,
}

/// An authorised upload, to be committed with [`FileService::commit_upload`].
#[derive(Debug, Clone)]
pub struct Upload {
    /// Final path (inside the virtual root).
    pub path: PathBuf,
    /// Whether an existing file may be replaced.
    pub overwrite: bool,
    /// The uploading device, when known.
    pub device: Option<DeviceContext>,
    /// Size limit.
    pub max_size: u64,
    /// Octets to leave free on the file system.
    pub min_free: u64,
    /// The upload's place among `max_uploads`, given back when the last clone is dropped.
    pub slot: Arc<UploadSlot>,
}

/// One of the `max_uploads` concurrent uploads.
#[derive(Debug)]
pub struct UploadSlot(Arc<AtomicUsize>);

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Direction of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to device.
    Download,
    /// Device to server.
    Upload,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferResult {
    /// Every byte was delivered (download: last block acknowledged; upload: file committed).
    Complete,
    /// Refused or abandoned, with the TFTP error code (or HTTP status) and why.
    Failed {
        /// TFTP error code or HTTP status.
        code: u16,
        /// Why.
        reason: String,
    },
}

/// One transfer, recorded against the device (for the provisioning timeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    /// Unix time, seconds.
    pub at: u64,
    /// The device (account key; the peer address when the device is unknown).
    pub device: String,
    /// The requesting address.
    pub peer: IpAddr,
    /// `"tftp"` or `"http"`.
    pub protocol: &'static str,
    /// Download or upload.
    pub direction: Direction,
    /// The requested name.
    pub file: String,
    /// Octets of the file (0 when it was never opened).
    pub size: u64,
    /// SHA-1 of the file (the PacketCable config-hash algorithm).
    pub sha1: Option<[u8; 20]>,
    /// SHA-256 of the file.
    pub sha256: Option<[u8; 32]>,
    /// The generator's config hash, if it gave one.
    pub config_hash: Option<Vec<u8>>,
    /// Outcome.
    pub result: TransferResult,
}

impl TransferRecord {
    /// A record of a transfer of `content` (its size and digests; `None` when the file was never opened).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: String,
        peer: IpAddr,
        protocol: &'static str,
        direction: Direction,
        file: &str,
        content: Option<&Digests>,
        config_hash: Option<Vec<u8>>,
        result: TransferResult,
    ) -> TransferRecord {
        TransferRecord {
            at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            device,
            peer,
            protocol,
            direction,
            file: file.chars().take(256).collect(),
            size: content.map_or(0, |d| d.size),
            sha1: content.map(|d| d.sha1),
            sha256: content.map(|d| d.sha256),
            config_hash,
            result,
        }
    }
}

/// A transfer as the device's provisioning steps.
fn record_steps(tl: &Timeline, memo: &crate::shared::DeviceMemo, rec: &TransferRecord) {
    let known = memo.get(&rec.device);
    let family = known.as_ref().map(|i| i.family.clone()).unwrap_or_default();
    let what = match rec.direction {
        Direction::Download => "read",
        Direction::Upload => "write",
    };
    let asked = format!("{} {what} {:?} from {}", rec.protocol, rec.file, rec.peer);
    let (outcome, done) = match &rec.result {
        TransferResult::Complete => {
            let sha1 = rec.sha1.map(|h| hex_lower(&h)).unwrap_or_default();
            (StepOutcome::Ok, format!("{} bytes, SHA-1 {sha1}", rec.size))
        }
        TransferResult::Failed { code, reason } => {
            (StepOutcome::Failed, format!("failed ({code}): {reason}"))
        }
    };
    match Role::of_family(&family) {
        Role::Eue => {
            tl.record(&rec.device, Step::Eue(22), StepOutcome::Ok, asked);
            tl.record(&rec.device, Step::Eue(23), outcome, done);
        }
        Role::Ecm => tl.record(
            &rec.device,
            Step::CmConfigFile,
            outcome,
            format!("{asked}: {done}"),
        ),
        Role::Other => tl.record(
            &rec.device,
            Step::Other("config file"),
            outcome,
            format!("{asked}: {done}"),
        ),
    }
    if known.is_some() {
        // A device acknowledged in this run: it holds a binding.
        tl.establish(&rec.device);
    }
}

/// A static file's bytes, digests and, when read past the cache, the
/// budget share its transfer holds.
type StaticRead = (Arc<Vec<u8>>, Arc<Digests>, Option<Arc<BudgetShare>>);

/// Lower-case hex of `b`.
fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

type LogInner = (HashMap<String, VecDeque<TransferRecord>>, VecDeque<String>);

/// Transfers per device, bounded per device and in devices (oldest device forgotten first).
#[derive(Debug)]
pub struct TransferLog {
    per_device: usize,
    max_devices: usize,
    inner: Mutex<LogInner>,
}

impl TransferLog {
    /// A log keeping `per_device` records for at most `max_devices` devices.
    pub fn new(per_device: usize, max_devices: usize) -> TransferLog {
        TransferLog {
            per_device: per_device.max(1),
            max_devices: max_devices.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// Appends a record.
    pub fn record(&self, rec: TransferRecord) {
        let mut g = self.inner.lock();
        let (map, order) = &mut *g;
        let key = rec.device.clone();
        let list = match map.get_mut(&key) {
            Some(l) => l,
            None => {
                order.push_back(key.clone());
                while order.len() > self.max_devices {
                    if let Some(old) = order.pop_front() {
                        map.remove(&old);
                    }
                }
                map.entry(key).or_default()
            }
        };
        list.push_back(rec);
        while list.len() > self.per_device {
            list.pop_front();
        }
    }

    /// A device's transfers, oldest first.
    pub fn history(&self, device: &str) -> Vec<TransferRecord> {
        self.inner
            .lock()
            .0
            .get(device)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Devices with records.
    pub fn devices(&self) -> usize {
        self.inner.lock().0.len()
    }
}

type CacheKey = [u8; 32];

struct CacheEntry {
    file: Option<Arc<ConfigFile>>,
    generator: String,
    version: u64,
    device: String,
}

/// Bytes of generated files the cache keeps at most (besides the entry
/// count): a plugin generating large files cannot make the cache grow
/// without bound.
pub const CACHE_BYTES: usize = 64 << 20;

/// Generated files by content key, FIFO-bounded in entries and bytes.
struct Cache {
    max: usize,
    map: HashMap<CacheKey, CacheEntry>,
    order: VecDeque<CacheKey>,
    bytes: usize,
}

fn entry_bytes(e: &CacheEntry) -> usize {
    e.file.as_ref().map_or(0, |f| f.bytes.len())
}

impl Cache {
    fn insert(&mut self, k: CacheKey, e: CacheEntry) {
        if self.max == 0 || entry_bytes(&e) > CACHE_BYTES {
            return;
        }
        self.bytes += entry_bytes(&e);
        match self.map.insert(k, e) {
            None => self.order.push_back(k),
            Some(old) => self.bytes = self.bytes.saturating_sub(entry_bytes(&old)),
        }
        while self.map.len() > self.max || self.bytes > CACHE_BYTES {
            match self.order.pop_front() {
                Some(old) => {
                    if let Some(e) = self.map.remove(&old) {
                        self.bytes = self.bytes.saturating_sub(entry_bytes(&e));
                    }
                }
                None => break,
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(&CacheEntry) -> bool) {
        self.map.retain(|_, e| keep(e));
        let map = &self.map;
        self.order.retain(|k| map.contains_key(k));
        self.bytes = self.map.values().map(entry_bytes).sum();
    }
}

/// One version of a file on disk, from the opened descriptor: a file
/// rewritten in place or replaced by a rename has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileVersion {
    fn of(file: &std::fs::File) -> Result<FileVersion, FileError> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata().map_err(|e| io_error(&e))?;
        if !m.is_file() {
            return Err(FileError::NotFound);
        }
        Ok(FileVersion {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// A static file in memory.
struct StaticEntry {
    version: FileVersion,
    bytes: Arc<Vec<u8>>,
    digests: Arc<Digests>,
}

/// Static files by canonical path, FIFO-bounded in bytes.
#[derive(Default)]
struct StaticCache {
    map: HashMap<PathBuf, StaticEntry>,
    order: VecDeque<PathBuf>,
    bytes: usize,
}

impl StaticCache {
    fn get(&self, path: &Path, v: &FileVersion) -> Option<(Arc<Vec<u8>>, Arc<Digests>)> {
        self.map
            .get(path)
            .filter(|e| e.version == *v)
            .map(|e| (e.bytes.clone(), e.digests.clone()))
    }

    fn insert(&mut self, path: PathBuf, e: StaticEntry, budget: usize) {
        self.bytes += e.bytes.len();
        match self.map.insert(path.clone(), e) {
            Some(old) => self.bytes = self.bytes.saturating_sub(old.bytes.len()),
            None => self.order.push_back(path),
        }
        while self.bytes > budget {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.map.remove(&old) {
                self.bytes = self.bytes.saturating_sub(e.bytes.len());
            }
        }
    }

    fn clear(&mut self) {
        *self = StaticCache::default();
    }
}

/// Octets of static files larger than the cache that transfers hold.
#[derive(Debug, Default)]
pub struct StaticBudget(AtomicUsize);

/// A transfer's share of the [`StaticBudget`], returned on drop.
#[derive(Debug)]
pub struct BudgetShare {
    budget: Arc<StaticBudget>,
    bytes: usize,
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        self.budget.0.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl StaticBudget {
    /// Takes `bytes` if they fit in `limit`, or if nothing is held (one
    /// read always proceeds, so a file larger than the limit is still served).
    fn take(self: &Arc<Self>, bytes: usize, limit: usize) -> Option<BudgetShare> {
        let mut held = self.0.load(Ordering::Acquire);
        loop {
            if held > 0 && held.saturating_add(bytes) > limit {
                return None;
            }
            match self.0.compare_exchange_weak(
                held,
                held.saturating_add(bytes),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(BudgetShare {
                        budget: self.clone(),
                        bytes,
                    })
                }
                Err(now) => held = now,
            }
        }
    }

    /// Octets held now.
    pub fn held(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Cache and generator counters.
#[derive(Debug, Default)]
pub struct FileStats {
    /// Generated files served from the cache.
    pub cache_hits: AtomicU64,
    /// Generator calls.
    pub generated: AtomicU64,
    /// Static files served from memory.
    pub static_hits: AtomicU64,
    /// Static files read from disk (a cache fill, or a file larger than the cache).
    pub static_reads: AtomicU64,
}

/// The per-request decisions of the settings.
#[derive(Debug, Clone)]
struct Decision {
    root: PathBuf,
    access: AccessMode,
    overwrite: bool,
}

/// Resolves, generates, caches and records the virtual files.
pub struct FileService {
    config: Arc<ArcSwap<Snapshot>>,
    resolver: Arc<dyn DeviceResolver>,
    generators: Generators,
    cache: Mutex<Cache>,
    statics: Mutex<StaticCache>,
    /// Held by the one reader filling a static-cache miss.
    static_fill: Mutex<()>,
    static_budget: Arc<StaticBudget>,
    uploads: Arc<AtomicUsize>,
    inflight: Mutex<HashMap<CacheKey, Flight>>,
    pinned: Mutex<Pinned>,
    log: TransferLog,
    counters: Arc<Counters>,
    stats: FileStats,
    tmp_seq: AtomicU64,
    /// Where transfers are recorded as provisioning steps, with the memo
    /// that tells an eCM from an eUE.
    timeline: std::sync::OnceLock<(Arc<Timeline>, Arc<crate::shared::DeviceMemo>)>,
}

impl FileService {
    /// Records every transfer in `timeline` as well: `CM5-CM10 config file`
    /// for an eCM, `eUE-22`/`eUE-23` (request, response with its SHA-1)
    /// for an eUE, by the classification `memo` remembers.
    pub fn set_timeline(&self, timeline: Arc<Timeline>, memo: Arc<crate::shared::DeviceMemo>) {
        let _ = self.timeline.set((timeline, memo));
    }

    /// A service reading the running configuration through `config`.
    pub fn new(
        config: Arc<ArcSwap<Snapshot>>,
        resolver: Arc<dyn DeviceResolver>,
        generators: Generators,
        counters: Arc<Counters>,
    ) -> FileService {
        let f = config.load().config_server.files.clone();
        FileService {
            config,
            resolver,
            generators,
            inflight: Mutex::new(HashMap::new()),
            statics: Mutex::new(StaticCache::default()),
            static_fill: Mutex::new(()),
            static_budget: Arc::new(StaticBudget::default()),
            uploads: Arc::new(AtomicUsize::new(0)),
            pinned: Mutex::new(Pinned::default()),
            cache: Mutex::new(Cache {
                max: f.cache_entries,
                map: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
            log: TransferLog::new(f.log_per_device, 1 << 20),
            counters,
            stats: FileStats::default(),
            tmp_seq: AtomicU64::new(0),
            timeline: std::sync::OnceLock::new(),
        }
    }

    /// The running configuration.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.config.load_full()
    }

    /// The generators.
    pub fn generators(&self) -> &Generators {
        &self.generators
    }

    /// The transfer log.
    pub fn log(&self) -> &TransferLog {
        &self.log
    }

    /// Cache and generator counters.
    pub fn stats(&self) -> &FileStats {
        &self.stats
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The device at `peer`, if it has a lease.
    pub fn device(&self, peer: IpAddr) -> Option<DeviceContext> {
        self.resolver.resolve(peer)
    }

    /// Generated files currently cached.
    pub fn cached(&self) -> usize {
        self.cache.lock().map.len()
    }

    /// Static files in memory: (files, octets).
    pub fn static_cached(&self) -> (usize, usize) {
        let c = self.statics.lock();
        (c.map.len(), c.bytes)
    }

    /// Octets of static files larger than the cache held by transfers now.
    pub fn static_budget_held(&self) -> usize {
        self.static_budget.held()
    }

    /// After a reload: applies the new cache bound and drops entries whose
    /// generator's version changed or that no generator serves any more;
    /// static files are read again (the root may have moved).
    pub fn reloaded(&self) {
        self.statics.lock().clear();
        let snap = self.config.load();
        let mut c = self.cache.lock();
        c.max = snap.config_server.files.cache_entries;
        let mapped: Vec<&str> = snap
            .config_server
            .files
            .mappings
            .iter()
            .map(|m| m.generator.as_str())
            .collect();
        c.retain(|e| {
            mapped.contains(&e.generator.as_str())
                && self.version_of(&snap, &e.generator) == Some(e.version)
        });
        let max = c.max;
        while c.map.len() > max {
            match c.order.pop_front() {
                Some(k) => {
                    c.map.remove(&k);
                }
                None => break,
            }
        }
    }

    /// After an account change: drops that device's generated files.
    pub fn invalidate_device(&self, id: &str) {
        self.cache.lock().retain(|e| e.device != id);
    }

    /// Records a transfer against its device. A failure of an unknown
    /// device (its key is the peer address, which a UDP sender can spoof)
    /// is only counted (`unknown_device_failed`), so a flood from forged
    /// sources cannot push the real devices' history out of the log.
    pub fn record(&self, rec: TransferRecord) {
        let unknown = rec.device == rec.peer.to_string();
        if unknown && !matches!(rec.result, TransferResult::Complete) {
            self.counters.drop_packet("unknown_device_failed");
            return;
        }
        if let Some((tl, memo)) = self.timeline.get() {
            record_steps(tl, memo, &rec);
        }
        self.log.record(rec);
    }

    fn decide(
        &self,
        settings: &FileSettings,
        snap: &Snapshot,
        dc: Option<&DeviceContext>,
        protocol: &str,
        op: &str,
    ) -> Decision {
        let exprs = [
            matches!(settings.virtual_root, Setting::Expr(_)),
            matches!(settings.access, Setting::Expr(_)),
            matches!(settings.overwrite, Setting::Expr(_)),
        ];
        let mut session: Option<Session<'_>> = None;
        if exprs.iter().any(|x| *x) {
            let mut ctx: EvalContext = dc.map(|d| (*d.ctx).clone()).unwrap_or_default();
            ctx.packet.protocol = protocol.to_string().into();
            ctx.packet.message_type = op.to_string().into();
            session = Some(snap.exprs.session_shared(Arc::new(ctx)));
        }
        let counters = &self.counters;
        let mut eval = |e: &Expr| -> Option<headend_model::literal::Literal> {
            let s = session.as_mut()?;
            match s.eval_literal(e) {
                Ok(v) => v,
                Err(err) => {
                    counters.expression_failed(err.kind.as_str());
                    tracing::warn!(target: "headend::configsrv", "{err}");
                    None
                }
            }
        };
        use headend_model::literal::Literal;
        // A failed expression denies: the safe reading of "no answer".
        let vroot = match &settings.virtual_root {
            Setting::Fixed(s) => Some(s.clone()),
            Setting::Expr(e) => match eval(e) {
                Some(Literal::Str(s)) => Some(s),
                None => Some(String::new()),
                Some(_) => None,
            },
        };
        let access = match &settings.access {
            Setting::Fixed(a) => *a,
            Setting::Expr(e) => match eval(e) {
                Some(Literal::Str(s)) => AccessMode::parse(&s).unwrap_or(AccessMode::None),
                _ => AccessMode::None,
            },
        };
        let overwrite = match &settings.overwrite {
            Setting::Fixed(b) => *b,
            Setting::Expr(e) => matches!(eval(e), Some(Literal::Bool(true))),
        };
        let (root, access) = match vroot.as_deref().map(clean_relative) {
            Some(Ok(v)) => (settings.root.join(v), access),
            _ => (settings.root.clone(), AccessMode::None),
        };
        Decision {
            root,
            access,
            overwrite,
        }
    }

    /// Resolves a download for the device at `peer`.
    pub fn open_read(
        &self,
        peer: IpAddr,
        name: &str,
        transfer: Transfer,
    ) -> Result<Served, FileError> {
        let snap = self.config.load_full();
        let settings = &snap.config_server.files;
        let dc = self.resolver.resolve(peer);
        if dc.is_none() && !settings.allow_unknown_devices {
            return Err(FileError::UnknownDevice);
        }
        let (protocol, op) = match transfer {
            Transfer::Http => ("http", "GET"),
            _ => ("tftp", "RRQ"),
        };
        self.read_for(&snap, dc, name, transfer, protocol, op)
    }

    fn read_for(
        &self,
        snap: &Snapshot,
        dc: Option<DeviceContext>,
        name: &str,
        transfer: Transfer,
        protocol: &str,
        op: &str,
    ) -> Result<Served, FileError> {
        let settings = &snap.config_server.files;
        let d = self.decide(settings, snap, dc.as_ref(), protocol, op);
        if !d.access.can_read() {
            return Err(FileError::Denied);
        }
        let rel = clean_relative(name)?;
        if let Some(gen) = settings.generator_for(&rel.to_string_lossy()) {
            let Some(dc) = dc else {
                // Generated files are per device: nothing to generate for an unknown address.
                return Err(FileError::UnknownDevice);
            };
            // Generators see the name relative to the virtual root, as TFTP and HTTP clients differ on a leading "/".
            let rel_name = rel.to_string_lossy();
            // A file the provisioning server generated, hashed and SET for
            // this device (eUE-18/19): exactly those bytes.
            if let Some(file) = self.pinned.lock().get(&dc.id, &rel_name) {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Served {
                    digests: Arc::new(Digests::of(&file.bytes)),
                    budget: None,
                    bytes: Arc::new(file.bytes.clone()),
                    origin: Origin::Generated {
                        generator: gen.to_string(),
                        cached: true,
                    },
                    device: Some(dc),
                    config_hash: file.config_hash.clone(),
                });
            }
            let (file, cached) = self.generate(snap, gen, &dc, &rel_name, transfer)?;
            let file = file.ok_or(FileError::NotFound)?;
            return Ok(Served {
                digests: Arc::new(Digests::of(&file.bytes)),
                budget: None,
                bytes: Arc::new(file.bytes.clone()),
                origin: Origin::Generated {
                    generator: gen.to_string(),
                    cached,
                },
                device: Some(dc),
                config_hash: file.config_hash.clone(),
            });
        }
        if is_upload_temporary(&rel) {
            // A half-written upload is never served.
            return Err(FileError::NotFound);
        }
        let path = confine(&d.root, &rel, false)?;
        let file = open_beneath(&d.root, &path)?;
        let (bytes, digests, budget) = self.read_static(settings, &path, file)?;
        Ok(Served {
            bytes,
            digests,
            budget,
            origin: Origin::Static(path),
            device: dc,
            config_hash: None,
        })
    }

    /// The content of the static file at `path` (opened as `file`) — bytes,
    /// digests, and the budget share it holds when uncached: from
    /// the cache when this version is there, else read once (other readers
    /// of a miss wait for the fill) with its digests; a file larger than
    /// the cache is read for this transfer within the byte budget.
    fn read_static(
        &self,
        settings: &FileSettings,
        path: &Path,
        mut file: std::fs::File,
    ) -> Result<StaticRead, FileError> {
        let limit = settings.static_cache_bytes;
        let v = FileVersion::of(&file)?;
        if let Some((b, d)) = self.statics.lock().get(path, &v) {
            self.stats.static_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((b, d, None));
        }
        let size = usize::try_from(v.size).unwrap_or(usize::MAX);
        if size <= limit {
            let _fill = self.static_fill.lock();
            if let Some((b, d)) = self.statics.lock().get(path, &v) {
                self.stats.static_hits.fetch_add(1, Ordering::Relaxed);
                return Ok((b, d, None));
            }
            let bytes = read_all(&mut file, size)?;
            let digests = Arc::new(Digests::of(&bytes));
            let bytes = Arc::new(bytes);
            self.stats.static_reads.fetch_add(1, Ordering::Relaxed);
            // Cached only if the file did not change while it was read.
            if FileVersion::of(&file).ok() == Some(v) && bytes.len() == size {
                self.statics.lock().insert(
                    path.to_path_buf(),
                    StaticEntry {
                        version: v,
                        bytes: bytes.clone(),
                        digests: digests.clone(),
                    },
                    limit,
                );
            }
            return Ok((bytes, digests, None));
        }
        let share = self
            .static_budget
            .take(size, limit)
            .ok_or(FileError::Busy)?;
        let bytes = read_all(&mut file, size)?;
        self.stats.static_reads.fetch_add(1, Ordering::Relaxed);
        let digests = Arc::new(Digests::of(&bytes));
        Ok((Arc::new(bytes), digests, Some(Arc::new(share))))
    }

    /// The version of generator `name`: a registered native generator first,
    /// then the snapshot's plugin hooks (a `[[plugin]]` serving `config-file`).
    fn version_of(&self, snap: &Snapshot, name: &str) -> Option<u64> {
        match self.native(snap, name) {
            Some(g) => Some(g.version()),
            None => snap.hooks.generator_version(name),
        }
    }

    /// A registered native generator, or the built-in one configured by the snapshot.
    fn native(&self, snap: &Snapshot, name: &str) -> Option<Arc<dyn super::ConfigGenerator>> {
        if let Some(g) = self.generators.get(name) {
            return Some(g);
        }
        if name != BUILTIN_DOCSIS_CM {
            return None;
        }
        let secret = snap.config_server.files.cmts_secret.as_deref()?;
        // The version follows the secret, so a changed secret never serves a stale MIC.
        let v: [u8; 8] = Sha256::digest(secret)
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default();
        Some(Arc::new(
            super::native::BasicCmGenerator::new(secret).with_version(u64::from_be_bytes(v)),
        ))
    }

    fn generate(
        &self,
        snap: &Snapshot,
        name: &str,
        dc: &DeviceContext,
        file_name: &str,
        transfer: Transfer,
    ) -> Result<(Option<Arc<ConfigFile>>, bool), FileError> {
        let native = self.native(snap, name);
        let version = self
            .version_of(snap, name)
            .ok_or_else(|| FileError::NoGenerator(name.to_string()))?;
        let req = ConfigRequest {
            device: dc.device.clone(),
            file_name: file_name.to_string(),
            transfer,
        };
        let Some(k) = cache_key(name, version, &req) else {
            self.stats.generated.fetch_add(1, Ordering::Relaxed);
            return Ok((self.produce(snap, native.as_deref(), name, &req)?, false));
        };
        if let Some(e) = self.cache.lock().map.get(&k) {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((e.file.clone(), true));
        }
        // Single flight: in a boot storm many identical requests (same
        // generator, version and device inputs) arrive together; one
        // generates, the others wait for its result instead of running the
        // plugin again. Callers run on blocking threads, so waiting is fine;
        // the wait is bounded, after which a follower generates itself.
        let (flight, leader) = {
            let mut m = self.inflight.lock();
            match m.get(&k) {
                Some(f) => (f.clone(), false),
                None => {
                    let f: Flight = Arc::new((Mutex::new(None), parking_lot::Condvar::new()));
                    m.insert(k, f.clone());
                    (f, true)
                }
            }
        };
        if !leader {
            let mut g = flight.0.lock();
            let deadline = std::time::Instant::now() + FLIGHT_WAIT;
            while g.is_none() {
                if flight.1.wait_until(&mut g, deadline).timed_out() {
                    break;
                }
            }
            if let Some(r) = g.as_ref() {
                self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                return r.clone().map(|f| (f, true));
            }
            drop(g);
            self.stats.generated.fetch_add(1, Ordering::Relaxed);
            return Ok((self.produce(snap, native.as_deref(), name, &req)?, false));
        }
        let mut landing = Landing {
            files: self,
            key: k,
            flight,
            result: None,
        };
        self.stats.generated.fetch_add(1, Ordering::Relaxed);
        let r = self.produce(snap, native.as_deref(), name, &req);
        if let Ok(file) = &r {
            self.cache.lock().insert(
                k,
                CacheEntry {
                    file: file.clone(),
                    generator: name.to_string(),
                    version,
                    device: dc.id.clone(),
                },
            );
        }
        landing.result = Some(r.clone());
        drop(landing);
        r.map(|f| (f, false))
    }

    /// Runs the generator: native, else the snapshot's plugin hook.
    fn produce(
        &self,
        snap: &Snapshot,
        native: Option<&dyn super::ConfigGenerator>,
        name: &str,
        req: &ConfigRequest,
    ) -> Result<Option<Arc<ConfigFile>>, FileError> {
        let file = match native {
            Some(g) => g.generate(req)?,
            None => match snap.hooks.config_file(name, req) {
                Some(Ok(f)) => f,
                Some(Err(e)) if e.kind == "breaker_open" => {
                    return Err(GenerateError::Unavailable(e.to_string()).into())
                }
                Some(Err(e)) => return Err(GenerateError::Failed(e.to_string()).into()),
                None => return Err(FileError::NoGenerator(name.to_string())),
            },
        };
        Ok(file.map(Arc::new))
    }

    /// Authorises an upload from the device at `peer`.
    pub fn open_write(
        &self,
        peer: IpAddr,
        name: &str,
        protocol: &str,
    ) -> Result<Upload, FileError> {
        let snap = self.config.load_full();
        let settings = &snap.config_server.files;
        let dc = self.resolver.resolve(peer);
        if dc.is_none() && !settings.allow_unknown_devices {
            return Err(FileError::UnknownDevice);
        }
        let d = self.decide(settings, &snap, dc.as_ref(), protocol, "WRQ");
        if !d.access.can_write() {
            return Err(FileError::Denied);
        }
        let rel = clean_relative(name)?;
        if settings.generator_for(&rel.to_string_lossy()).is_some() || is_upload_temporary(&rel) {
            // A generated name is not a place to store anything, nor another upload's temporary.
            return Err(FileError::Denied);
        }
        let path = confine(&d.root, &rel, true)?;
        match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_file() => return Err(FileError::Traversal),
            Ok(_) if !d.overwrite => return Err(FileError::Exists),
            _ => {}
        }
        // Each upload is held in memory until committed: their number is bounded.
        let running = self.uploads.fetch_add(1, Ordering::AcqRel);
        let slot = Arc::new(UploadSlot(self.uploads.clone()));
        if running >= settings.max_uploads {
            return Err(FileError::Busy);
        }
        Ok(Upload {
            path,
            overwrite: d.overwrite,
            device: dc,
            max_size: settings.max_upload,
            min_free: settings.upload_min_free,
            slot,
        })
    }

    /// Writes an authorised upload atomically (temporary file, then rename).
    pub fn commit_upload(&self, up: &Upload, bytes: &[u8]) -> Result<(), FileError> {
        if bytes.len() as u64 > up.max_size {
            return Err(FileError::TooLarge);
        }
        let dir = up.path.parent().ok_or(FileError::Traversal)?;
        // Uploads must not fill the disk (the store may share it).
        if let Ok(fs) = rustix::fs::statvfs(dir) {
            let free = fs.f_bavail.saturating_mul(fs.f_frsize);
            if free < (bytes.len() as u64).saturating_add(up.min_free) {
                return Err(FileError::NoSpace);
            }
        }
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{UPLOAD_TEMPORARY}{}-{seq}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            Ok(())
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&e));
        }
        // Checked again at commit: another upload may have created it meanwhile.
        let result = if up.overwrite {
            std::fs::rename(&tmp, &up.path)
        } else {
            std::fs::hard_link(&tmp, &up.path).and_then(|()| std::fs::remove_file(&tmp))
        };
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                FileError::Exists
            } else {
                io_error(&e)
            }
        })
    }
}

/// One generation in progress: its result once known, and the waiters' condvar.
/// Files pinned by the provisioning server, per (device, name); bounded,
/// the oldest pin forgotten first (the device then gets a fresh generation).
#[derive(Default)]
struct Pinned {
    map: HashMap<(String, String), Arc<ConfigFile>>,
    order: VecDeque<(String, String)>,
}

/// Pins kept at most (one per enrolling device; a boot storm of this many
/// eUEs between SET and download is far beyond a headend's size).
const MAX_PINNED: usize = 1 << 18;

impl Pinned {
    fn get(&self, device: &str, name: &str) -> Option<Arc<ConfigFile>> {
        self.map
            .get(&(device.to_string(), name.to_string()))
            .cloned()
    }

    fn insert(&mut self, device: &str, name: &str, file: Arc<ConfigFile>) {
        let k = (device.to_string(), name.to_string());
        if self.map.insert(k.clone(), file).is_none() {
            self.order.push_back(k);
            while self.order.len() > MAX_PINNED {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

impl crate::shared::FileProvider for FileService {
    fn provision(
        &self,
        dc: &DeviceContext,
        name: &str,
        inputs: &[(String, String)],
    ) -> Result<crate::shared::ProvisionedFile, String> {
        let snap = self.config.load_full();
        let rel = clean_relative(name).map_err(|e| e.to_string())?;
        let rel_name = rel.to_string_lossy().into_owned();
        let Some(gen) = snap.config_server.files.generator_for(&rel_name) else {
            return Err(format!(
                "no [[tftp.config_file]] generator serves {rel_name:?}"
            ));
        };
        // Capability GET results reach the generator as account attributes
        // "snmp.<oid>" of this request only (the plugin ABI's device view has
        // no other place for them); nothing is stored.
        let mut dc = dc.clone();
        if !inputs.is_empty() {
            let acc = dc
                .device
                .account
                .get_or_insert_with(|| headend_abi::Account {
                    id: dc.id.clone(),
                    domains: dc.device.domains.clone(),
                    attributes: Vec::new(),
                });
            for (k, v) in inputs {
                acc.attributes.push((format!("snmp.{k}"), v.clone()));
            }
            acc.attributes.sort();
        }
        let (file, _) = self
            .generate(&snap, gen, &dc, &rel_name, Transfer::Tftp)
            .map_err(|e| e.to_string())?;
        let file = file
            .ok_or_else(|| format!("generator {gen:?} has no file {rel_name:?} for this device"))?;
        let sha1 = headend_config_file::config_hash(&file.bytes);
        let out = crate::shared::ProvisionedFile {
            name: rel_name.clone(),
            size: file.bytes.len(),
            sha1,
            config_hash: file.config_hash.clone(),
        };
        self.pinned.lock().insert(&dc.id, &rel_name, file);
        Ok(out)
    }
}

type Flight = Arc<(
    Mutex<Option<Result<Option<Arc<ConfigFile>>, FileError>>>,
    parking_lot::Condvar,
)>;

/// Longest a request waits for an identical generation already running.
const FLIGHT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Publishes the leader's result (or, if it never set one, a failure) to
/// the waiters and retires the flight, whatever way the leader leaves.
struct Landing<'a> {
    files: &'a FileService,
    key: CacheKey,
    flight: Flight,
    result: Option<Result<Option<Arc<ConfigFile>>, FileError>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let r = self.result.take().unwrap_or_else(|| {
            Err(GenerateError::Failed("the generation was abandoned".into()).into())
        });
        *self.flight.0.lock() = Some(r);
        self.flight.1.notify_all();
        self.files.inflight.lock().remove(&self.key);
    }
}

fn cache_key(generator: &str, version: u64, req: &ConfigRequest) -> Option<CacheKey> {
    let enc = headend_abi::encode(req).ok()?;
    let mut h = Sha256::new();
    h.update((generator.len() as u64).to_be_bytes());
    h.update(generator.as_bytes());
    h.update(version.to_be_bytes());
    h.update(&enc);
    Some(h.finalize().into())
}

fn io_error(e: &std::io::Error) -> FileError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound,
        std::io::ErrorKind::PermissionDenied => FileError::Denied,
        _ => FileError::Io(e.to_string()),
    }
}

/// A requested name or virtual root as a relative path of plain components:
/// leading `/` and `\` are dropped (clients send "/file"), `\` separates like
/// `/`, `.` and empty components vanish, and `..` is refused.
pub fn clean_relative(name: &str) -> Result<PathBuf, FileError> {
    let mut out = PathBuf::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err(FileError::Traversal),
            p => {
                // A component must be a single normal component on this platform.
                let mut comps = Path::new(p).components();
                match (comps.next(), comps.next()) {
                    (Some(Component::Normal(_)), None) => out.push(p),
                    _ => return Err(FileError::Traversal),
                }
            }
        }
    }
    Ok(out)
}

/// Reads `path` (a [`confine`]d path: canonical, so free of symlinks) by
/// opening it beneath `root` with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS)`: a path component swapped for a symlink between
/// `confine`'s check and the open (a time-of-check / time-of-use race) is
/// refused by the kernel instead of followed out of the root. Symlinks the
/// operator placed in the root still work: `confine` resolved them. Kernels
/// without `openat2` (before 5.6) fall back to a plain read of the checked
/// path.
pub fn read_beneath(root: &Path, path: &Path) -> Result<Vec<u8>, FileError> {
    let mut file = open_beneath(root, path)?;
    read_all(&mut file, 0)
}

/// Reads a whole opened file; `hint` is its expected size.
fn read_all(file: &mut std::fs::File, hint: usize) -> Result<Vec<u8>, FileError> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(hint);
    file.read_to_end(&mut bytes).map_err(|e| io_error(&e))?;
    Ok(bytes)
}

/// Whether a name is one of the temporaries an upload writes before its
/// rename (never served: it may be half written).
fn is_upload_temporary(rel: &Path) -> bool {
    rel.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|s| s.starts_with(UPLOAD_TEMPORARY))
    })
}

/// The name prefix of an upload's temporary file.
const UPLOAD_TEMPORARY: &str = ".headend-upload-";

/// Opens `path` (already confined to `root`) for reading with
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`; see [`read_beneath`].
fn open_beneath(root: &Path, path: &Path) -> Result<std::fs::File, FileError> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let root = root.canonicalize().map_err(|e| io_error(&e))?;
    let rel = path.strip_prefix(&root).map_err(|_| FileError::Traversal)?;
    let dir = std::fs::File::open(&root).map_err(|e| io_error(&e))?;
    let fd = match openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::XDEV | rustix::io::Errno::LOOP) => return Err(FileError::Traversal),
        Err(rustix::io::Errno::NOSYS) => {
            return std::fs::File::open(path).map_err(|e| io_error(&e));
        }
        Err(e) => return Err(io_error(&std::io::Error::from(e))),
    };
    Ok(std::fs::File::from(fd))
}

/// The path of `rel` inside `root`, after resolving symlinks; for a write,
/// only the directory must exist (and be inside), the file need not.
pub fn confine(root: &Path, rel: &Path, for_write: bool) -> Result<PathBuf, FileError> {
    let root = root.canonicalize().map_err(|e| io_error(&e))?;
    if rel.as_os_str().is_empty() {
        return Err(FileError::NotFound);
    }
    let joined = root.join(rel);
    if for_write {
        let file = joined.file_name().ok_or(FileError::Traversal)?.to_owned();
        let dir = joined.parent().ok_or(FileError::Traversal)?;
        let dir = dir.canonicalize().map_err(|e| io_error(&e))?;
        if !dir.starts_with(&root) {
            return Err(FileError::Traversal);
        }
        return Ok(dir.join(file));
    }
    let real = joined.canonicalize().map_err(|e| io_error(&e))?;
    if !real.starts_with(&root) {
        return Err(FileError::Traversal);
    }
    if !real.is_file() {
        return Err(FileError::NotFound);
    }
    Ok(real)
}

/// The bytes `device` would receive for `name` — the same resolution as a
/// transfer (virtual root, access mode, generator mapping) without a
/// network exchange or a cache entry. `headend config-file show` prints this.
pub fn resolve_file(
    snapshot: &Arc<Snapshot>,
    generators: &Generators,
    device: &DeviceContext,
    name: &str,
) -> Result<Served, FileError> {
    struct Fixed(DeviceContext);
    impl DeviceResolver for Fixed {
        fn resolve(&self, _: IpAddr) -> Option<DeviceContext> {
            Some(self.0.clone())
        }
    }
    let svc = FileService::new(
        Arc::new(ArcSwap::from(snapshot.clone())),
        Arc::new(Fixed(device.clone())),
        generators.clone(),
        Arc::new(Counters::default()),
    );
    svc.read_for(
        snapshot,
        Some(device.clone()),
        name,
        Transfer::Preview,
        "tftp",
        "RRQ",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_relative_refuses_parent_components() {
        assert_eq!(
            clean_relative("/a/b.cfg").unwrap(),
            PathBuf::from("a/b.cfg")
        );
        assert_eq!(clean_relative("\\a\\.\\b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(clean_relative("//x").unwrap(), PathBuf::from("x"));
        for bad in ["..", "../etc/passwd", "a/../../b", "a\\..\\b"] {
            assert_eq!(clean_relative(bad), Err(FileError::Traversal), "{bad}");
        }
    }

    #[test]
    fn a_read_cannot_leave_the_root_even_past_the_check() {
        // The race `read_beneath` closes: the path was checked, then a
        // component became a symlink to outside the root.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(root.join("sub/fw.bin"), b"inside").unwrap();
        std::fs::write(dir.path().join("outside/fw.bin"), b"secret").unwrap();
        let checked = confine(&root, Path::new("sub/fw.bin"), false).unwrap();
        assert_eq!(read_beneath(&root, &checked).unwrap(), b"inside");
        std::fs::rename(root.join("sub"), root.join("old")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("sub")).unwrap();
        assert!(matches!(
            read_beneath(&root, &checked),
            Err(FileError::Traversal)
        ));
        // A symlink the operator keeps in the root (absolute, even) is
        // resolved by `confine` and read.
        std::fs::remove_file(root.join("sub")).unwrap();
        std::os::unix::fs::symlink(root.join("old"), root.join("sub")).unwrap();
        let checked = confine(&root, Path::new("sub/fw.bin"), false).unwrap();
        assert_eq!(read_beneath(&root, &checked).unwrap(), b"inside");
    }

    #[test]
    fn confine_follows_symlinks_and_checks_the_result() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ok.cfg"), b"ok").unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("dirlink")).unwrap();
        std::os::unix::fs::symlink(root.path().join("ok.cfg"), root.path().join("inside")).unwrap();
        let r = root.path();
        assert!(confine(r, Path::new("ok.cfg"), false).is_ok());
        assert!(confine(r, Path::new("inside"), false).is_ok());
        assert_eq!(
            confine(r, Path::new("link"), false),
            Err(FileError::Traversal)
        );
        assert_eq!(
            confine(r, Path::new("dirlink/secret"), false),
            Err(FileError::Traversal)
        );
        assert_eq!(
            confine(r, Path::new("dirlink/new"), true),
            Err(FileError::Traversal)
        );
        assert_eq!(
            confine(r, Path::new("nope"), false),
            Err(FileError::NotFound)
        );
        assert_eq!(
            confine(r, Path::new("sub"), false),
            Err(FileError::NotFound)
        );
        assert_eq!(
            confine(r, Path::new("nodir/new"), true),
            Err(FileError::NotFound)
        );
        assert!(confine(r, Path::new("sub/new"), true).is_ok());
    }

    #[test]
    fn transfer_log_is_bounded_per_device_and_in_devices() {
        let log = TransferLog::new(2, 2);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        for (dev, file) in [("a", "1"), ("a", "2"), ("a", "3"), ("b", "1"), ("c", "1")] {
            log.record(TransferRecord::new(
                dev.into(),
                peer,
                "tftp",
                Direction::Download,
                file,
                Some(&Digests::of(b"abc")),
                None,
                TransferResult::Complete,
            ));
        }
        assert!(log.history("a").is_empty(), "oldest device forgotten");
        assert_eq!(log.devices(), 2);
        let b = log.history("b");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].size, 3);
        // SHA-1("abc"), FIPS 180-1 appendix A.
        assert_eq!(
            b[0].sha1.map(|h| h[..4].to_vec()),
            Some(vec![0xa9, 0x99, 0x3e, 0x36])
        );
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            b[0].sha256.map(|h| h[..4].to_vec()),
            Some(vec![0xba, 0x78, 0x16, 0xbf])
        );
        let log = TransferLog::new(2, 10);
        for f in ["1", "2", "3"] {
            log.record(TransferRecord::new(
                "a".into(),
                peer,
                "tftp",
                Direction::Download,
                f,
                None,
                None,
                TransferResult::Complete,
            ));
        }
        let files: Vec<String> = log.history("a").into_iter().map(|r| r.file).collect();
        assert_eq!(files, vec!["2", "3"]);
    }
}
