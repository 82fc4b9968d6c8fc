//! Per-model counters for `/metrics`: requests, upstream errors by kind, latency and time to
//! first byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::ErrorKind;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelStats {
    pub requests: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub latency_seconds_sum: f64,
    pub latency_count: u64,
    pub ttfb_seconds_sum: f64,
    pub ttfb_count: u64,
}

/// Shared metrics; clones record into the same counters.
#[derive(Debug, Clone, Default)]
pub struct Metrics(Arc<Mutex<BTreeMap<String, ModelStats>>>);

impl Metrics {
    pub fn request(&self, model: &str) {
        self.0.lock().entry(model.to_owned()).or_default().requests += 1;
    }

    pub fn error(&self, model: &str, kind: ErrorKind) {
        *self
            .0
            .lock()
            .entry(model.to_owned())
            .or_default()
            .errors
            .entry(kind.as_str())
            .or_default() += 1;
    }

    pub fn latency(&self, model: &str, d: Duration) {
        let mut m = self.0.lock();
        let s = m.entry(model.to_owned()).or_default();
        s.latency_seconds_sum += d.as_secs_f64();
        s.latency_count += 1;
    }

    pub fn first_byte(&self, model: &str, d: Duration) {
        let mut m = self.0.lock();
        let s = m.entry(model.to_owned()).or_default();
        s.ttfb_seconds_sum += d.as_secs_f64();
        s.ttfb_count += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, ModelStats> {
        self.0.lock().clone()
    }

    /// Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let snap = self.snapshot();
        let mut out = String::new();
        let label = |m: &str| m.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "# HELP promptd_model_requests_total Model calls made.\n# TYPE promptd_model_requests_total counter"
        );
        for (m, s) in &snap {
            let _ = writeln!(
                out,
                "promptd_model_requests_total{{model=\"{}\"}} {}",
                label(m),
                s.requests
            );
        }
        let _ = writeln!(
            out,
            "# HELP promptd_model_errors_total Failed model calls by kind.\n# TYPE promptd_model_errors_total counter"
        );
        for (m, s) in &snap {
            for (k, n) in &s.errors {
                let _ = writeln!(
                    out,
                    "promptd_model_errors_total{{model=\"{}\",kind=\"{k}\"}} {n}",
                    label(m)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP promptd_model_latency_seconds Time to the complete answer.\n# TYPE promptd_model_latency_seconds summary"
        );
        for (m, s) in &snap {
            let _ = writeln!(
                out,
                "promptd_model_latency_seconds_sum{{model=\"{}\"}} {}",
                label(m),
                s.latency_seconds_sum
            );
            let _ = writeln!(
                out,
                "promptd_model_latency_seconds_count{{model=\"{}\"}} {}",
                label(m),
                s.latency_count
            );
        }
        let _ = writeln!(
            out,
            "# HELP promptd_model_ttfb_seconds Time to the first byte of the answer.\n# TYPE promptd_model_ttfb_seconds summary"
        );
        for (m, s) in &snap {
            let _ = writeln!(
                out,
                "promptd_model_ttfb_seconds_sum{{model=\"{}\"}} {}",
                label(m),
                s.ttfb_seconds_sum
            );
            let _ = writeln!(
                out,
                "promptd_model_ttfb_seconds_count{{model=\"{}\"}} {}",
                label(m),
                s.ttfb_count
            );
        }
        out
    }
}
