//! What a storm measured: devices started, completed and failed per kind,
//! per-step latency (p50/p90/p99/max), failures by step and reason, the
//! conformance violations, completions over time; printed as a table, as
//! JSON (`--json`) or drawn as an SVG (`--plot`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::check::{Violation, Violations};
use crate::device::{Kind, Step};
use crate::hist::Histogram;

/// Width of one bin of the completions-over-time series.
pub const BIN: Duration = Duration::from_millis(100);

/// Counters for one kind of device.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct KindCount {
    /// Devices of the kind in the storm.
    pub total: u64,
    /// Started.
    pub started: u64,
    /// Provisioned (every step done).
    pub completed: u64,
    /// Gave up on a step.
    pub failed: u64,
}

/// Everything measured while running.
#[derive(Debug)]
pub struct Stats {
    t0: Instant,
    kinds: [KindCount; Kind::COUNT],
    flow: [Histogram; Kind::COUNT],
    steps: Vec<Histogram>,
    failures: BTreeMap<(Step, &'static str), u64>,
    completions: Vec<u32>,
    step_completions: Vec<Vec<u32>>,
    renewals: u64,
    /// Datagrams received that matched no device (late, foreign, malformed).
    pub unmatched: u64,
    /// Datagrams sent and received.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// Send errors (other than a full socket buffer, which is retried).
    pub send_errors: u64,
    /// Datagrams the kernel dropped at the simulator's own sockets.
    pub local_drops: u64,
}

impl Stats {
    /// Empty stats for a storm starting at `t0`.
    pub fn new(t0: Instant) -> Stats {
        Stats {
            t0,
            kinds: [KindCount::default(); Kind::COUNT],
            flow: std::array::from_fn(|_| Histogram::default()),
            steps: Step::ALL.iter().map(|_| Histogram::default()).collect(),
            failures: BTreeMap::new(),
            completions: Vec::new(),
            step_completions: Step::ALL.iter().map(|_| Vec::new()).collect(),
            renewals: 0,
            unmatched: 0,
            sent: 0,
            received: 0,
            send_errors: 0,
            local_drops: 0,
        }
    }

    /// When the storm started.
    pub fn t0(&self) -> Instant {
        self.t0
    }

    /// Counts a device of `kind` in the storm.
    pub fn planned(&mut self, kind: Kind) {
        self.kinds[kind as usize].total += 1;
    }

    /// A device started.
    pub fn started(&mut self, kind: Kind) {
        self.kinds[kind as usize].started += 1;
    }

    /// One step finished after `took`.
    pub fn step_done(&mut self, now: Instant, step: Step, took: Duration) {
        if let Some(h) = self.steps.get_mut(step as usize) {
            h.record(took);
        }
        let bin = self.bin(now);
        if let Some(s) = self.step_completions.get_mut(step as usize) {
            bump(s, bin);
        }
    }

    /// A step failed with `why`.
    pub fn step_failed(&mut self, step: Step, why: &'static str) {
        *self.failures.entry((step, why)).or_insert(0) += 1;
    }

    /// A device completed its flow after `took`.
    pub fn device_done(&mut self, now: Instant, kind: Kind, took: Duration) {
        self.kinds[kind as usize].completed += 1;
        self.flow[kind as usize].record(took);
        let bin = self.bin(now);
        bump(&mut self.completions, bin);
    }

    /// A device gave up.
    pub fn device_failed(&mut self, kind: Kind) {
        self.kinds[kind as usize].failed += 1;
    }

    /// A lease was renewed or rebound.
    pub fn renewed(&mut self) {
        self.renewals += 1;
    }

    /// Counts for a kind.
    pub fn kind(&self, kind: Kind) -> KindCount {
        self.kinds[kind as usize]
    }

    /// Devices completed, all kinds.
    pub fn completed(&self) -> u64 {
        self.kinds.iter().map(|k| k.completed).sum()
    }

    /// Devices that have finished one way or the other.
    pub fn finished(&self) -> u64 {
        self.kinds.iter().map(|k| k.completed + k.failed).sum()
    }

    /// Devices in the storm.
    pub fn total(&self) -> u64 {
        self.kinds.iter().map(|k| k.total).sum()
    }

    /// Devices failed, all kinds.
    pub fn failed(&self) -> u64 {
        self.kinds.iter().map(|k| k.failed).sum()
    }

    /// The latency histogram of a step.
    pub fn step(&self, step: Step) -> Option<&Histogram> {
        self.steps.get(step as usize)
    }

    fn bin(&self, now: Instant) -> usize {
        (now.saturating_duration_since(self.t0).as_millis() / BIN.as_millis()) as usize
    }

    /// The final report; `stuck` counts the unfinished devices by the
    /// step they are in.
    pub fn report(&self, now: Instant, violations: &Violations, stuck: Vec<Stuck>) -> Report {
        let q = |h: &Histogram| Latency {
            count: h.count(),
            p50_ms: ms(h.quantile(0.5)),
            p90_ms: ms(h.quantile(0.9)),
            p99_ms: ms(h.quantile(0.99)),
            max_ms: ms(h.max()),
        };
        let elapsed = now.saturating_duration_since(self.t0);
        let last = self
            .completions
            .iter()
            .rposition(|c| *c > 0)
            .map_or(0, |b| b + 1);
        let span = (BIN.as_secs_f64() * last as f64).max(BIN.as_secs_f64());
        Report {
            elapsed_s: elapsed.as_secs_f64(),
            completed_per_s: (self.completed() as f64 / span).round(),
            devices: Kind::ALL
                .iter()
                .filter(|k| self.kinds[**k as usize].total > 0)
                .map(|k| KindReport {
                    kind: k.name(),
                    count: self.kinds[*k as usize],
                    time_to_provision: q(&self.flow[*k as usize]),
                })
                .collect(),
            steps: Step::ALL
                .iter()
                .filter(|s| self.steps[**s as usize].count() > 0)
                .map(|s| StepReport {
                    step: s.name(),
                    latency: q(&self.steps[*s as usize]),
                })
                .collect(),
            failures: self
                .failures
                .iter()
                .map(|((s, why), n)| Failure {
                    step: s.name(),
                    reason: why,
                    count: *n,
                })
                .collect(),
            violations: violations
                .counts()
                .iter()
                .map(|((rule, step), n)| ViolationCount {
                    rule: rule.name(),
                    step,
                    count: *n,
                })
                .collect(),
            violation_samples: violations.samples().to_vec(),
            stuck,
            hostile: Vec::new(),
            renewals: self.renewals,
            datagrams_sent: self.sent,
            datagrams_received: self.received,
            unmatched: self.unmatched,
            send_errors: self.send_errors,
            simulator_drops: self.local_drops,
            completions_per_bin: self.completions.clone(),
            bin_ms: BIN.as_millis() as u64,
        }
    }
}

fn bump(series: &mut Vec<u32>, bin: usize) {
    // Bounded: one u32 per 100 ms of storm.
    if series.len() <= bin {
        series.resize(bin + 1, 0);
    }
    if let Some(x) = series.get_mut(bin) {
        *x += 1;
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Latency summary, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// One kind's line.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    /// Kind name.
    pub kind: &'static str,
    /// Counters.
    #[serde(flatten)]
    pub count: KindCount,
    /// Start to last step done.
    pub time_to_provision: Latency,
}

/// One step's line.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Step name.
    pub step: &'static str,
    /// Its latency.
    pub latency: Latency,
}

/// Failures of one step for one reason.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Step name.
    pub step: &'static str,
    /// Why.
    pub reason: &'static str,
    /// How many devices.
    pub count: u64,
}

/// Violations of one rule in one step.
#[derive(Debug, Clone, Serialize)]
pub struct ViolationCount {
    /// Rule name.
    pub rule: &'static str,
    /// Step that saw them.
    pub step: &'static str,
    /// How many.
    pub count: u64,
}

/// Devices that had not finished when the run ended, by step.
#[derive(Debug, Clone, Serialize)]
pub struct Stuck {
    /// The step they are in ("not started" before the first).
    pub step: &'static str,
    /// How many.
    pub count: u64,
    /// The first few, by MAC.
    pub examples: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Seconds from the first start to the end.
    pub elapsed_s: f64,
    /// Devices completed per second, from the first start to the last
    /// completion (100 ms resolution).
    pub completed_per_s: f64,
    /// Per kind of device.
    pub devices: Vec<KindReport>,
    /// Per step.
    pub steps: Vec<StepReport>,
    /// Failures by step and reason.
    pub failures: Vec<Failure>,
    /// Violations by rule and step.
    pub violations: Vec<ViolationCount>,
    /// The first violations, whole.
    pub violation_samples: Vec<Violation>,
    /// Unfinished devices by step.
    pub stuck: Vec<Stuck>,
    /// Hostile traffic sent and answered, per mode.
    pub hostile: Vec<crate::hostile::HostileCount>,
    /// Renewals and rebindings acknowledged.
    pub renewals: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Received datagrams that matched no device.
    pub unmatched: u64,
    /// Send errors.
    pub send_errors: u64,
    /// Datagrams dropped at the simulator's own sockets: when not 0 the
    /// simulator did not keep up and the figures undercount the server.
    pub simulator_drops: u64,
    /// Devices completed in each bin.
    pub completions_per_bin: Vec<u32>,
    /// Bin width in ms.
    pub bin_ms: u64,
}

impl Report {
    /// Total violations.
    pub fn violation_total(&self) -> u64 {
        self.violations.iter().map(|v| v.count).sum()
    }

    /// Total failed devices.
    pub fn failed(&self) -> u64 {
        self.devices.iter().map(|d| d.count.failed).sum()
    }

    /// The human-readable tables.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "storm: {:.2} s, {:.0} devices provisioned a second",
            self.elapsed_s, self.completed_per_s
        );
        let _ = writeln!(
            s,
            "\n{:<8} {:>8} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10}",
            "devices", "total", "completed", "failed", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for d in &self.devices {
            let l = &d.time_to_provision;
            let _ = writeln!(
                s,
                "{:<8} {:>8} {:>9} {:>7} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
                d.kind,
                d.count.total,
                d.count.completed,
                d.count.failed,
                l.p50_ms,
                l.p90_ms,
                l.p99_ms,
                l.max_ms
            );
        }
        let _ = writeln!(
            s,
            "\n{:<30} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "step", "done", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for st in &self.steps {
            let l = &st.latency;
            let _ = writeln!(
                s,
                "{:<30} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                st.step, l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "\nfailures");
            for f in &self.failures {
                let _ = writeln!(s, "  {:<30} {:<32} {:>8}", f.step, f.reason, f.count);
            }
        }
        if !self.stuck.is_empty() {
            let _ = writeln!(s, "\nunfinished when the run ended");
            for st in &self.stuck {
                let _ = writeln!(
                    s,
                    "  {:<30} {:>8}  e.g. {}",
                    st.step,
                    st.count,
                    st.examples.join(" ")
                );
            }
        }
        if !self.hostile.is_empty() {
            let _ = writeln!(
                s,
                "\nhostile traffic {:>18} {:>9} {:>8}",
                "sent", "answered", "refused"
            );
            for h in &self.hostile {
                let _ = writeln!(
                    s,
                    "  {:<24} {:>9} {:>9} {:>8}",
                    h.mode.name(),
                    h.sent,
                    h.answered,
                    h.refused
                );
            }
        }
        let _ = writeln!(s, "\nspec violations: {}", self.violation_total());
        for v in &self.violations {
            let _ = writeln!(s, "  {:<26} {:<30} {:>8}", v.rule, v.step, v.count);
        }
        for v in self.violation_samples.iter().take(5) {
            let _ = writeln!(
                s,
                "  e.g. {} {} {}: {}\n       {}",
                v.rule.name(),
                v.device,
                v.step,
                v.detail,
                v.packet.get(..v.packet.len().min(160)).unwrap_or("")
            );
        }
        let _ = writeln!(
            s,
            "\ndatagrams: {} sent, {} received, {} unmatched, {} send errors; {} renewals",
            self.datagrams_sent,
            self.datagrams_received,
            self.unmatched,
            self.send_errors,
            self.renewals
        );
        if self.simulator_drops > 0 {
            let _ = writeln!(
                s,
                "WARNING: {} datagrams were dropped at the simulator's own sockets: it did not keep \
                 up, and some failures above are its own",
                self.simulator_drops
            );
        }
        s
    }

    /// An SVG drawing: devices completed over time (cumulative) and the
    /// per-step p50/p99 latencies as bars.
    pub fn svg(&self) -> String {
        let (w, h) = (900.0f64, 560.0f64);
        let (left, top, pw, ph) = (70.0, 40.0, 800.0, 240.0);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let total: u64 = self.completions_per_bin.iter().map(|x| u64::from(*x)).sum();
        let bins = self.completions_per_bin.len().max(1) as f64;
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="24" font-size="14">Devices provisioned over time ({total} in {:.1} s)</text>"#,
            self.elapsed_s
        );
        let _ = writeln!(
            s,
            r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>"#,
            top + ph,
            left + pw,
            top + ph,
            top + ph
        );
        let mut pts = String::new();
        let mut acc = 0u64;
        for (i, c) in self.completions_per_bin.iter().enumerate() {
            acc += u64::from(*c);
            let x = left + pw * (i as f64 + 1.0) / bins;
            let y = top + ph - ph * acc as f64 / (total.max(1) as f64);
            let _ = write!(pts, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            s,
            r##"<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{left},{} {pts}"/>"##,
            top + ph
        );
        let secs = bins * self.bin_ms as f64 / 1000.0;
        for k in 0..=4 {
            let f = f64::from(k) / 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.1} s</text><text x="{}" y="{:.1}" text-anchor="end">{:.0}</text>"#,
                left + pw * f,
                top + ph + 16.0,
                secs * f,
                left - 6.0,
                top + ph - ph * f + 4.0,
                total as f64 * f
            );
        }
        // Per-step latency bars (log scale would hide the spread; linear
        // against the largest p99).
        let top2 = 340.0;
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{}" font-size="14">Per-step latency (p50 dark, p99 light), ms</text>"#,
            top2 - 14.0
        );
        let maxp = self
            .steps
            .iter()
            .map(|st| st.latency.p99_ms)
            .fold(0.0f64, f64::max)
            .max(0.001);
        let n = self.steps.len().max(1) as f64;
        let bh = (200.0 / n).min(24.0);
        for (i, st) in self.steps.iter().enumerate() {
            let y = top2 + i as f64 * bh;
            let x0 = left + 160.0;
            let wmax = pw - 240.0;
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{x0}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#aec7e8"/><rect x="{x0}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#1f77b4"/><text x="{:.1}" y="{:.1}">{:.2} / {:.2}</text>"##,
                x0 - 6.0,
                y + bh * 0.7,
                xml(st.step),
                y + 2.0,
                wmax * st.latency.p99_ms / maxp,
                bh - 4.0,
                y + 2.0,
                wmax * st.latency.p50_ms / maxp,
                bh - 4.0,
                x0 + wmax * st.latency.p99_ms / maxp + 6.0,
                y + bh * 0.7,
                st.latency.p50_ms,
                st.latency.p99_ms
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
