//! Per-model counters for `/metrics`: calls, upstream errors by kind, streams the client
//! abandoned, and histograms of latency (to the complete answer) and time to first byte.
//!
//! The set of models is fixed when the config loads, so each model gets its counters up front and
//! recording is a few relaxed atomic adds: no lock on the request path.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::error::ErrorKind;

/// Histogram bucket bounds in seconds: from a fast local model's first byte to a long answer.
pub const BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let buckets = self
            .buckets
            .iter()
            .map(|b| {
                cumulative += b.load(Relaxed);
                cumulative
            })
            .collect();
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_micros.load(Relaxed) as f64 / 1e6,
            // An observation racing this read may leave `count` one off the `+Inf` bucket for
            // one scrape; Prometheus tolerates that, and a lock would cost every request.
            count: self.count.load(Relaxed),
        }
    }
}

/// One model's counters.
#[derive(Debug, Default)]
pub(crate) struct ModelCounters {
    requests: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    cancelled: AtomicU64,
    latency: Histogram,
    ttfb: Histogram,
}

impl ModelCounters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Relaxed);
    }

    /// A stream the client dropped before its end.
    pub(crate) fn cancelled(&self) {
        self.cancelled.fetch_add(1, Relaxed);
    }

    pub(crate) fn latency(&self, d: Duration) {
        self.latency.observe(d);
    }

    pub(crate) fn first_byte(&self, d: Duration) {
        self.ttfb.observe(d);
    }
}

/// Cumulative histogram counts, as Prometheus exposes them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative count per bound of [`BUCKETS`], then `+Inf` (equal to `count`).
    pub buckets: Vec<u64>,
    pub sum_seconds: f64,
    pub count: u64,
}

/// One model's numbers at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelStats {
    pub model: String,
    pub requests: u64,
    /// Errors per kind label (`connect`, `timeout`, `status`, `protocol`), zeros included.
    pub errors: Vec<(&'static str, u64)>,
    /// Streams the client dropped before the end (each cancelled its upstream request).
    pub cancelled: u64,
    /// Time to the complete answer (a stream's end) of successful calls.
    pub latency: HistogramSnapshot,
    /// Time to the upstream's first byte (response headers, or the first chunk of a stream) of
    /// calls the upstream accepted (2xx).
    pub ttfb: HistogramSnapshot,
}

/// The metrics of every configured model. Clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<[(String, Arc<ModelCounters>)]>);

impl Metrics {
    pub(crate) fn new(models: Vec<(String, Arc<ModelCounters>)>) -> Metrics {
        Metrics(models.into())
    }

    /// Every model's numbers, in `model_list` order.
    pub fn snapshot(&self) -> Vec<ModelStats> {
        self.0
            .iter()
            .map(|(model, c)| ModelStats {
                model: model.clone(),
                requests: c.requests.load(Relaxed),
                errors: ErrorKind::ALL
                    .iter()
                    .map(|k| (k.as_str(), c.errors[k.index()].load(Relaxed)))
                    .collect(),
                cancelled: c.cancelled.load(Relaxed),
                latency: c.latency.snapshot(),
                ttfb: c.ttfb.snapshot(),
            })
            .collect()
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let snap = self.snapshot();
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, body: &dyn Fn(&mut String)| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            body(&mut out);
        };
        family(
            "promptd_model_requests_total",
            "counter",
            "Model calls made.",
            &|out| {
                for s in &snap {
                    let _ = writeln!(
                        out,
                        "promptd_model_requests_total{{model=\"{}\"}} {}",
                        label(&s.model),
                        s.requests
                    );
                }
            },
        );
        family(
            "promptd_model_errors_total",
            "counter",
            "Failed model calls (and streams cut short) by kind.",
            &|out| {
                for s in &snap {
                    for (kind, n) in &s.errors {
                        let _ = writeln!(
                            out,
                            "promptd_model_errors_total{{model=\"{}\",kind=\"{kind}\"}} {n}",
                            label(&s.model)
                        );
                    }
                }
            },
        );
        family(
            "promptd_model_cancelled_streams_total",
            "counter",
            "Streams the client dropped before the end; each cancelled its upstream request.",
            &|out| {
                for s in &snap {
                    let _ = writeln!(
                        out,
                        "promptd_model_cancelled_streams_total{{model=\"{}\"}} {}",
                        label(&s.model),
                        s.cancelled
                    );
                }
            },
        );
        for (name, help, pick) in [
            (
                "promptd_model_latency_seconds",
                "Time to the complete answer of successful calls.",
                (|s: &ModelStats| &s.latency) as fn(&ModelStats) -> &HistogramSnapshot,
            ),
            (
                "promptd_model_ttfb_seconds",
                "Time to the upstream's first byte, for calls it accepted.",
                |s: &ModelStats| &s.ttfb,
            ),
        ] {
            family(name, "histogram", help, &|out| {
                for s in &snap {
                    histogram(out, name, &s.model, pick(s));
                }
            });
        }
        out
    }
}

fn histogram(out: &mut String, name: &str, model: &str, h: &HistogramSnapshot) {
    let model = label(model);
    for (i, n) in h.buckets.iter().enumerate() {
        let le = BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), f64::to_string);
        let _ = writeln!(out, "{name}_bucket{{model=\"{model}\",le=\"{le}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "{name}_sum{{model=\"{model}\"}} {}\n{name}_count{{model=\"{model}\"}} {}",
        h.sum_seconds, h.count
    );
}

/// Escapes a label value as the exposition format requires.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_in_prometheus_text_format() {
        let a = Arc::new(ModelCounters::default());
        let m = Metrics::new(vec![("a\"b".into(), a.clone())]);
        a.request();
        a.request();
        a.error(ErrorKind::Status);
        a.latency(Duration::from_millis(300));
        a.first_byte(Duration::from_millis(40));
        a.first_byte(Duration::from_secs(1000));
        let text = m.render_prometheus();
        for line in [
            "# TYPE promptd_model_requests_total counter",
            "promptd_model_requests_total{model=\"a\\\"b\"} 2",
            "promptd_model_errors_total{model=\"a\\\"b\",kind=\"status\"} 1",
            "promptd_model_errors_total{model=\"a\\\"b\",kind=\"connect\"} 0",
            "promptd_model_cancelled_streams_total{model=\"a\\\"b\"} 0",
            "# TYPE promptd_model_latency_seconds histogram",
            "promptd_model_latency_seconds_bucket{model=\"a\\\"b\",le=\"0.25\"} 0",
            "promptd_model_latency_seconds_bucket{model=\"a\\\"b\",le=\"0.5\"} 1",
            "promptd_model_latency_seconds_bucket{model=\"a\\\"b\",le=\"+Inf\"} 1",
            "promptd_model_latency_seconds_sum{model=\"a\\\"b\"} 0.3",
            "promptd_model_latency_seconds_count{model=\"a\\\"b\"} 1",
            "promptd_model_ttfb_seconds_bucket{model=\"a\\\"b\",le=\"0.05\"} 1",
            "promptd_model_ttfb_seconds_bucket{model=\"a\\\"b\",le=\"300\"} 1",
            "promptd_model_ttfb_seconds_bucket{model=\"a\\\"b\",le=\"+Inf\"} 2",
            "promptd_model_ttfb_seconds_count{model=\"a\\\"b\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn a_snapshot_lists_models_in_order_with_every_error_kind() {
        let m = Metrics::new(vec![
            ("z".into(), Arc::default()),
            ("a".into(), Arc::default()),
        ]);
        let s = m.snapshot();
        assert_eq!(s[0].model, "z");
        assert_eq!(s[1].errors.len(), 4);
        assert_eq!(s[1].latency.buckets.len(), BUCKETS.len() + 1);
        assert_eq!(Metrics::default().render_prometheus().lines().count(), 10);
    }
}
