//! The one metrics registry of the server: every counter and gauge of every
//! component, collected on demand as typed samples — a metric name, its
//! labels (`family`, `reason`, `hook`, `plugin`, …) and a value — and
//! rendered for the `SIGUSR1` log line or in the Prometheus text exposition
//! format (for a `/metrics` endpoint).
//!
//! The hot path never touches this module: components keep their atomics
//! and report them when asked ([`crate::component::Component::metrics`]).
//! Reasons are spelled one way everywhere: lower-case `snake_case`.

use std::fmt::Write as _;

/// Whether a sample only grows or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic since start.
    Counter,
    /// A current level (leases in use, cached files).
    Gauge,
}

/// One sample: a metric, its labels and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Metric name (`snake_case`, without the `headend_` prefix).
    pub name: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: u64,
    /// Counter or gauge.
    pub kind: Kind,
}

/// One histogram: cumulative bucket counts by upper bound, sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Metric name (`snake_case`, without the `headend_` prefix).
    pub name: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// (upper bound, observations at or below it), ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations (the `+Inf` bucket).
    pub count: u64,
}

/// The samples of one collection.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    samples: Vec<Sample>,
    histograms: Vec<Histogram>,
}

/// Whether `s` is a valid metric or label name, and a reason spelled the
/// one way: lower-case ASCII letters, digits and `_`, starting with a letter.
pub fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Metrics {
    /// An empty collection.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn push(
        &mut self,
        kind: Kind,
        name: &'static str,
        labels: &[(&'static str, &str)],
        value: u64,
    ) {
        debug_assert!(is_snake_case(name), "metric name {name:?}");
        self.samples.push(Sample {
            name,
            labels: labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
            value,
            kind,
        });
    }

    /// Adds a counter sample.
    pub fn counter(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: u64) {
        self.push(Kind::Counter, name, labels, value);
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, name: &'static str, labels: &[(&'static str, &str)], value: u64) {
        self.push(Kind::Gauge, name, labels, value);
    }

    /// Every sample, in collection order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The value of the sample `name` whose labels include all of `labels`
    /// (summed when several match); 0 when none does.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Adds a histogram (cumulative `buckets`, ascending bounds).
    pub fn histogram(
        &mut self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        buckets: Vec<(f64, u64)>,
        sum: f64,
        count: u64,
    ) {
        self.histograms.push(Histogram {
            name,
            labels: labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            buckets,
            sum,
            count,
        });
    }

    /// The histograms collected.
    pub fn histograms(&self) -> &[Histogram] {
        &self.histograms
    }

    /// The `SIGUSR1` log line: `name{label=value,…}=n` for every non-zero
    /// sample, space-separated.
    pub fn log_line(&self) -> String {
        let mut out = String::new();
        for s in self.samples.iter().filter(|s| s.value > 0) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(s.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}={v}");
                }
                out.push('}');
            }
            let _ = write!(out, "={}", s.value);
        }
        out
    }

    /// The Prometheus text exposition format (version 0.0.4): one `# TYPE`
    /// line per metric, then its samples, names prefixed `headend_`.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut names: Vec<&'static str> = Vec::new();
        for s in &self.samples {
            if !names.contains(&s.name) {
                names.push(s.name);
            }
        }
        for name in names {
            let mut typed = false;
            for s in self.samples.iter().filter(|s| s.name == name) {
                if !typed {
                    let t = match s.kind {
                        Kind::Counter => "counter",
                        Kind::Gauge => "gauge",
                    };
                    let _ = writeln!(out, "# TYPE headend_{name} {t}");
                    typed = true;
                }
                let _ = write!(out, "headend_{name}");
                if !s.labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in s.labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", s.value);
            }
        }
        let mut hnames: Vec<&'static str> = Vec::new();
        for h in &self.histograms {
            if !hnames.contains(&h.name) {
                hnames.push(h.name);
            }
        }
        for name in hnames {
            let _ = writeln!(out, "# TYPE headend_{name} histogram");
            for h in self.histograms.iter().filter(|h| h.name == name) {
                let labels = |extra: Option<String>| {
                    let mut parts: Vec<String> = h
                        .labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                        .collect();
                    parts.extend(extra);
                    if parts.is_empty() {
                        String::new()
                    } else {
                        format!("{{{}}}", parts.join(","))
                    }
                };
                for (le, n) in &h.buckets {
                    let _ = writeln!(
                        out,
                        "headend_{name}_bucket{} {n}",
                        labels(Some(format!("le=\"{le}\"")))
                    );
                }
                let _ = writeln!(
                    out,
                    "headend_{name}_bucket{} {}",
                    labels(Some("le=\"+Inf\"".into())),
                    h.count
                );
                let _ = writeln!(out, "headend_{name}_sum{} {}", labels(None), h.sum);
                let _ = writeln!(out, "headend_{name}_count{} {}", labels(None), h.count);
            }
        }
        out
    }
}

/// A label value escaped for the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_log_line_and_prometheus_text() {
        let mut m = Metrics::new();
        m.counter(
            "dhcp_dropped_total",
            &[("family", "dhcpv4"), ("reason", "bad_op")],
            2,
        );
        m.counter(
            "dhcp_dropped_total",
            &[("family", "dhcpv6"), ("reason", "oversize")],
            0,
        );
        m.gauge("leases_active", &[("family", "dhcpv4")], 7);
        m.counter("plugin_calls_total", &[("plugin", "a\"b")], 1);
        assert_eq!(
            m.log_line(),
            "dhcp_dropped_total{family=dhcpv4,reason=bad_op}=2 leases_active{family=dhcpv4}=7 \
             plugin_calls_total{plugin=a\"b}=1"
        );
        assert_eq!(
            m.prometheus(),
            "# TYPE headend_dhcp_dropped_total counter\n\
             headend_dhcp_dropped_total{family=\"dhcpv4\",reason=\"bad_op\"} 2\n\
             headend_dhcp_dropped_total{family=\"dhcpv6\",reason=\"oversize\"} 0\n\
             # TYPE headend_leases_active gauge\n\
             headend_leases_active{family=\"dhcpv4\"} 7\n\
             # TYPE headend_plugin_calls_total counter\n\
             headend_plugin_calls_total{plugin=\"a\\\"b\"} 1\n"
        );
        assert_eq!(m.value("dhcp_dropped_total", &[("reason", "bad_op")]), 2);
        assert_eq!(m.value("dhcp_dropped_total", &[]), 2);
    }

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let mut m = Metrics::new();
        m.histogram(
            "reply_latency_seconds",
            &[("family", "dhcpv4")],
            vec![(0.0001, 2), (0.001, 5)],
            0.004,
            6,
        );
        assert_eq!(
            m.prometheus(),
            "# TYPE headend_reply_latency_seconds histogram\n\
             headend_reply_latency_seconds_bucket{family=\"dhcpv4\",le=\"0.0001\"} 2\n\
             headend_reply_latency_seconds_bucket{family=\"dhcpv4\",le=\"0.001\"} 5\n\
             headend_reply_latency_seconds_bucket{family=\"dhcpv4\",le=\"+Inf\"} 6\n\
             headend_reply_latency_seconds_sum{family=\"dhcpv4\"} 0.004\n\
             headend_reply_latency_seconds_count{family=\"dhcpv4\"} 6\n"
        );
    }

    #[test]
    fn snake_case_is_the_one_spelling() {
        assert!(is_snake_case("pool_exhausted"));
        assert!(is_snake_case("no_pool_for_network"));
        assert!(!is_snake_case("pool-exhausted"));
        assert!(!is_snake_case("Pool"));
        assert!(!is_snake_case(""));
        assert!(!is_snake_case("_x"));
    }
}
