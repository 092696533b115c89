//! The per-plugin circuit breaker of issue 3 ("opens a circuit breaker after
//! repeated failures"): closed while the plugin works; open after
//! `failure_threshold` consecutive malfunctions, rejecting calls for
//! `cool_down`; then half-open, letting exactly one trial call through, which
//! closes it on success or re-opens it on failure.
//!
//! Lock-free (atomics) because every DHCP worker consults it on every call;
//! time is passed in so the state machine is tested without sleeping.
//!
//! [`HookBreaker`] puts that breaker per (plugin, hook) behind a breaker per
//! device (issue 21: "a peer can open a plugin's global breaker"): one
//! device whose requests make the plugin fail opens only its own breaker;
//! the hook's breaker counts failures of distinct devices, so five crafted
//! requests from one device no longer deny every device its config file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Devices whose failures are tracked apart, at most (a flood of distinct
/// failing devices beyond it is the hook breaker's business).
pub const MAX_TRACKED_DEVICES: usize = 65_536;

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive malfunctions that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long an open breaker rejects calls before a trial call.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            cool_down: Duration::from_secs(10),
        }
    }
}

/// The breaker's state, for counters and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are rejected until the cool-down ends.
    Open,
    /// The cool-down ended: the next call is a trial.
    HalfOpen,
}

/// What the breaker says about a call about to be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Make the call normally.
    Closed,
    /// Make the call as the half-open trial; report its outcome with `trial = true`.
    Trial,
    /// Do not call the plugin.
    Rejected,
}

/// What a finished call did to the breaker (for logging transitions once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// No state change.
    None,
    /// The breaker opened (or re-opened after a failed trial).
    Opened,
    /// A trial succeeded and the breaker closed.
    Closed,
}

/// A circuit breaker shared by all callers of one plugin.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    /// Time origin for the atomic timestamps.
    epoch: Instant,
    consecutive: AtomicU32,
    /// Nanoseconds since `epoch` (plus one) until which the breaker is open; 0 = closed.
    open_until: AtomicU64,
    trial_in_flight: AtomicBool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config: BreakerConfig {
                failure_threshold: config.failure_threshold.max(1),
                cool_down: config.cool_down,
            },
            epoch: Instant::now(),
            consecutive: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            trial_in_flight: AtomicBool::new(false),
        }
    }

    /// The settings.
    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    fn stamp(&self, now: Instant) -> u64 {
        // +1 keeps 0 free as "closed" even for a call at the very origin.
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// Decides whether a call at `now` may go ahead.
    pub fn admit(&self, now: Instant) -> Admission {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Admission::Closed;
        }
        if self.stamp(now) < until {
            return Admission::Rejected;
        }
        if self
            .trial_in_flight
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            Admission::Trial
        } else {
            Admission::Rejected
        }
    }

    /// Records a call that worked (including a decline).
    pub fn on_success(&self, trial: bool) -> Transition {
        self.consecutive.store(0, Ordering::Release);
        if trial {
            self.open_until.store(0, Ordering::Release);
            self.trial_in_flight.store(false, Ordering::Release);
            Transition::Closed
        } else {
            Transition::None
        }
    }

    /// Records a plugin malfunction at `now`.
    pub fn on_failure(&self, now: Instant, trial: bool) -> Transition {
        let n = self
            .consecutive
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let reopen = self.stamp(now).saturating_add(
            u64::try_from(self.config.cool_down.as_nanos()).unwrap_or(u64::MAX / 2),
        );
        if trial {
            self.open_until.store(reopen, Ordering::Release);
            self.trial_in_flight.store(false, Ordering::Release);
            return Transition::Opened;
        }
        if n >= self.config.failure_threshold
            && self
                .open_until
                .compare_exchange(0, reopen, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return Transition::Opened;
        }
        Transition::None
    }

    /// Records a call that says nothing about the plugin (e.g. pool exhausted).
    pub fn on_neutral(&self, trial: bool) {
        if trial {
            self.trial_in_flight.store(false, Ordering::Release);
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            BreakerState::Closed
        } else if self.stamp(now) < until {
            BreakerState::Open
        } else {
            BreakerState::HalfOpen
        }
    }

    /// Consecutive malfunctions so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Ordering::Acquire)
    }
}

/// One device's record of failures.
#[derive(Debug, Clone, Copy)]
struct DeviceRecord {
    consecutive: u32,
    open_until: Option<Instant>,
}

/// The breakers of one hook of one plugin: a breaker per device, and the
/// hook's own [`CircuitBreaker`], which sees a failure only from a device
/// not yet counted in the current run of failures.
#[derive(Debug)]
pub struct HookBreaker {
    hook: CircuitBreaker,
    /// Devices that failed since the hook's last success (at most the
    /// threshold: enough to open the hook breaker).
    streak: Mutex<Vec<String>>,
    devices: Mutex<HashMap<String, DeviceRecord>>,
    /// Entries in `devices`, so a call with none skips the lock.
    tracked: AtomicUsize,
}

impl HookBreaker {
    /// Closed breakers.
    pub fn new(config: BreakerConfig) -> HookBreaker {
        HookBreaker {
            hook: CircuitBreaker::new(config),
            streak: Mutex::new(Vec::new()),
            devices: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    /// The hook's breaker (its state is the plugin's for operators).
    pub fn hook(&self) -> &CircuitBreaker {
        &self.hook
    }

    /// Decides whether a call for `device` at `now` may go ahead: the hook
    /// breaker first, then the device's own.
    pub fn admit(&self, now: Instant, device: &str) -> Admission {
        match self.hook.admit(now) {
            Admission::Closed => {}
            other => return other,
        }
        if self.tracked.load(Ordering::Acquire) == 0 {
            return Admission::Closed;
        }
        match self.devices.lock().get(device) {
            Some(DeviceRecord {
                open_until: Some(until),
                ..
            }) if now < *until => Admission::Rejected,
            _ => Admission::Closed,
        }
    }

    /// Records a call for `device` that worked (a decline included).
    pub fn on_success(&self, trial: bool, device: &str) -> Transition {
        self.streak.lock().clear();
        if self.tracked.load(Ordering::Acquire) > 0 {
            let mut d = self.devices.lock();
            if d.remove(device).is_some() {
                self.tracked.store(d.len(), Ordering::Release);
            }
        }
        self.hook.on_success(trial)
    }

    /// Records a plugin malfunction on a call for `device` at `now`.
    pub fn on_failure(&self, now: Instant, trial: bool, device: &str) -> Transition {
        let config = self.hook.config();
        {
            let mut d = self.devices.lock();
            if d.len() >= MAX_TRACKED_DEVICES && !d.contains_key(device) {
                // Forget devices whose breaker is closed or has cooled down.
                d.retain(|_, r| r.open_until.is_some_and(|u| now < u));
            }
            if d.len() < MAX_TRACKED_DEVICES || d.contains_key(device) {
                let r = d.entry(device.to_string()).or_insert(DeviceRecord {
                    consecutive: 0,
                    open_until: None,
                });
                r.consecutive = r.consecutive.saturating_add(1);
                if r.consecutive >= config.failure_threshold {
                    r.open_until = Some(now + config.cool_down);
                }
            }
            self.tracked.store(d.len(), Ordering::Release);
        }
        let distinct = {
            let mut s = self.streak.lock();
            if s.iter().any(|m| m == device) {
                false
            } else {
                if s.len() < config.failure_threshold as usize {
                    s.push(device.to_string());
                }
                true
            }
        };
        if distinct || trial {
            self.hook.on_failure(now, trial)
        } else {
            Transition::None
        }
    }

    /// Records a call that says nothing about the plugin.
    pub fn on_neutral(&self, trial: bool) {
        self.hook.on_neutral(trial);
    }

    /// Devices tracked apart now.
    #[cfg(test)]
    pub fn tracked_devices(&self) -> usize {
        self.tracked.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_device_opens_only_its_own_breaker() {
        let b = HookBreaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        for _ in 0..10 {
            if b.admit(t0, "bad") == Admission::Closed {
                b.on_failure(t0, false, "bad");
            }
        }
        assert_eq!(b.admit(t0, "bad"), Admission::Rejected);
        assert_eq!(b.admit(t0, "good"), Admission::Closed);
        assert_eq!(b.hook().state(t0), BreakerState::Closed);
        // Its cool-down over, the device is called again.
        assert_eq!(
            b.admit(t0 + Duration::from_secs(11), "bad"),
            Admission::Closed
        );
        // Failures of distinct devices open the hook for everybody.
        for m in ["a", "b", "c"] {
            b.on_failure(t0, false, m);
        }
        assert_eq!(b.hook().state(t0), BreakerState::Open);
        assert_eq!(b.admit(t0, "good"), Admission::Rejected);
    }

    #[test]
    fn tracked_devices_stay_bounded() {
        let b = HookBreaker::new(BreakerConfig {
            failure_threshold: 1_000_000,
            cool_down: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_DEVICES + 100) {
            b.on_failure(t0, false, &format!("dev-{i}"));
        }
        assert!(b.tracked_devices() <= MAX_TRACKED_DEVICES);
    }

    fn breaker() -> (CircuitBreaker, Instant) {
        let b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 3,
            cool_down: Duration::from_secs(10),
        });
        let t0 = b.epoch;
        (b, t0)
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let (b, t0) = breaker();
        assert_eq!(b.on_failure(t0, false), Transition::None);
        assert_eq!(b.on_failure(t0, false), Transition::None);
        // A success in between resets the run.
        assert_eq!(b.on_success(false), Transition::None);
        assert_eq!(b.on_failure(t0, false), Transition::None);
        assert_eq!(b.on_failure(t0, false), Transition::None);
        assert_eq!(b.admit(t0), Admission::Closed);
        assert_eq!(b.on_failure(t0, false), Transition::Opened);
        assert_eq!(b.state(t0), BreakerState::Open);
        assert_eq!(b.admit(t0 + Duration::from_secs(9)), Admission::Rejected);
        // Failures reported by calls admitted before the opening do not extend it.
        assert_eq!(b.on_failure(t0, false), Transition::None);
        assert_eq!(
            b.state(t0 + Duration::from_secs(10)),
            BreakerState::HalfOpen
        );
    }

    #[test]
    fn half_open_admits_one_trial_and_closes_on_success() {
        let (b, t0) = breaker();
        for _ in 0..3 {
            b.on_failure(t0, false);
        }
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(later), Admission::Trial);
        assert_eq!(b.admit(later), Admission::Rejected, "one trial at a time");
        assert_eq!(b.on_success(true), Transition::Closed);
        assert_eq!(b.state(later), BreakerState::Closed);
        assert_eq!(b.admit(later), Admission::Closed);
        assert_eq!(b.consecutive_failures(), 0);
    }

    #[test]
    fn failed_trial_reopens_for_a_full_cool_down() {
        let (b, t0) = breaker();
        for _ in 0..3 {
            b.on_failure(t0, false);
        }
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(t1), Admission::Trial);
        assert_eq!(b.on_failure(t1, true), Transition::Opened);
        assert_eq!(b.admit(t1 + Duration::from_secs(9)), Admission::Rejected);
        assert_eq!(b.admit(t1 + Duration::from_secs(10)), Admission::Trial);
    }

    #[test]
    fn neutral_trial_outcome_frees_the_trial_slot() {
        let (b, t0) = breaker();
        for _ in 0..3 {
            b.on_failure(t0, false);
        }
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(t1), Admission::Trial);
        b.on_neutral(true);
        assert_eq!(b.admit(t1), Admission::Trial);
    }

    #[test]
    fn zero_threshold_is_treated_as_one() {
        let b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 0,
            cool_down: Duration::from_millis(1),
        });
        assert_eq!(b.on_failure(b.epoch, false), Transition::Opened);
    }
}
