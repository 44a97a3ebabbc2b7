//! The JSON report: its types, built from the merged stats, and `--json`.
//!
//! The schema is versioned by [`SCHEMA_VERSION`] and published in
//! `docs/report.schema.json`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use lps_config::Plan;
use lps_engine::{Aggregate, ErrorKind, Stats};
use serde::Serialize;

use super::ReportError;

/// Version of the JSON report; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How load was offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// Each client sends its next request when the previous one is answered.
    Closed,
    /// Requests are sent on a fixed schedule of this many per second;
    /// latency counts from each request's intended start.
    Open { rate: f64 },
}

/// Facts about the run that are not in the stats.
pub struct RunInfo<'a> {
    pub plan: &'a Plan,
    pub model: Model,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub threads: usize,
    /// The run was stopped early (Ctrl-C).
    pub interrupted: bool,
}

/// The whole report, as exported to JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub test: String,
    /// `closed` or `open`.
    pub model: &'static str,
    /// Open model only: the target request rate.
    pub rate_rps: Option<f64>,
    pub started_at: String,
    pub duration_s: f64,
    pub clients: u32,
    pub threads: usize,
    pub interrupted: bool,
    #[serde(flatten)]
    pub total: Figures,
    pub iterations: Vec<IterationReport>,
    /// Cluster runs only: every node's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeReport>>,
}

/// One node of a cluster run, as the master saw it.
#[derive(Debug, Serialize)]
pub struct NodeReport {
    pub id: String,
    pub host: String,
    /// `master` or `worker`.
    pub role: &'static str,
    /// `Finished`, `Lost`, `Running` or `Observer`.
    pub state: &'static str,
    pub cores: u32,
    pub requests: Requests,
    pub errors: u64,
    pub latency_us: Latency,
    pub throughput_rps: f64,
    pub bytes: Bytes,
}

impl NodeReport {
    pub fn new(
        id: &str,
        host: &str,
        role: &'static str,
        state: &'static str,
        cores: u32,
        stats: &Stats,
        elapsed: Duration,
    ) -> NodeReport {
        let f = Figures::from_stats(stats, elapsed);
        NodeReport {
            id: id.to_string(),
            host: host.to_string(),
            role,
            state,
            cores,
            requests: f.requests,
            errors: stats.transport_errors(),
            latency_us: f.latency_us,
            throughput_rps: f.throughput_rps,
            bytes: f.bytes,
        }
    }
}

/// One iteration's figures with what identifies it.
#[derive(Debug, Serialize)]
pub struct IterationReport {
    pub name: String,
    pub round: String,
    pub mode: &'static str,
    pub method: String,
    pub url: String,
    pub http_version: &'static str,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The figures computed from one [`Stats`].
#[derive(Debug, Serialize)]
pub struct Figures {
    pub requests: Requests,
    pub status_codes: std::collections::BTreeMap<String, u64>,
    pub errors: std::collections::BTreeMap<&'static str, u64>,
    pub latency_us: Latency,
    pub throughput_rps: f64,
    pub bytes: Bytes,
    pub connections: Connections,
}

/// Connections opened (the first of each client, then any reconnect) and
/// the time each took, TLS handshake included.
#[derive(Debug, Serialize)]
pub struct Connections {
    pub opened: u64,
    pub connect_us: Latency,
}

#[derive(Debug, Serialize)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

#[derive(Debug, Serialize)]
pub struct Bytes {
    pub sent: u64,
    pub received: u64,
}

impl Figures {
    pub fn from_stats(stats: &Stats, duration: Duration) -> Figures {
        let secs = duration.as_secs_f64();
        let total = stats.requests();
        Figures {
            requests: Requests {
                total,
                ok: stats.ok,
                failed: stats.failed,
            },
            status_codes: stats
                .status_codes()
                .into_iter()
                .map(|(c, n)| (c.to_string(), n))
                .collect(),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.as_str(), stats.errors(*k)))
                .collect(),
            latency_us: Latency::from_histogram(&stats.latency.histogram()),
            throughput_rps: if secs > 0.0 { total as f64 / secs } else { 0.0 },
            bytes: Bytes {
                sent: stats.bytes_sent,
                received: stats.bytes_received,
            },
            connections: Connections {
                opened: stats.connect.len(),
                connect_us: Latency::from_histogram(&stats.connect.histogram()),
            },
        }
    }
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency {
                min: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Latency {
            min: h.min(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

impl Report {
    pub fn new(info: &RunInfo, agg: &Aggregate) -> Report {
        let total = agg.total();
        let mut iterations = Vec::new();
        let mut index = 0;
        for round in &info.plan.rounds {
            for it in &round.iterations {
                let empty = Stats::new();
                let stats = agg.iterations.get(index).unwrap_or(&empty);
                index += 1;
                iterations.push(IterationReport {
                    name: it.name.clone(),
                    round: round.name.clone(),
                    mode: it.mode.code(),
                    method: it.request.method.clone(),
                    url: it.request.target.url(),
                    http_version: it.request.version.as_str(),
                    figures: Figures::from_stats(stats, info.duration),
                });
            }
        }
        let (model, rate_rps) = match info.model {
            Model::Closed => ("closed", None),
            Model::Open { rate } => ("open", Some(rate)),
        };
        Report {
            schema_version: SCHEMA_VERSION,
            test: info.plan.name.clone(),
            model,
            rate_rps,
            started_at: humantime::format_rfc3339_millis(info.started_at).to_string(),
            duration_s: (info.duration.as_secs_f64() * 1000.0).round() / 1000.0,
            clients: info.plan.clients,
            threads: info.threads,
            interrupted: info.interrupted,
            total: Figures::from_stats(&total, info.duration),
            iterations,
            nodes: None,
        }
    }

    /// Writes the JSON report to `path`, or stdout for `-`.
    pub fn write_json(&self, path: &Path) -> Result<(), ReportError> {
        let text = self.to_json()?;
        if path == Path::new("-") {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}").map_err(ReportError::Stdout)
        } else {
            std::fs::write(path, text + "\n").map_err(|source| ReportError::Json {
                path: path.to_path_buf(),
                source,
            })
        }
    }

    /// The JSON text, as written by [`Report::write_json`] and served by
    /// the dashboard.
    pub fn to_json(&self) -> Result<String, ReportError> {
        serde_json::to_string_pretty(self).map_err(ReportError::Encode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_figures_come_from_the_histogram() {
        let mut h = lps_engine::new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(
            l,
            Latency {
                min: 1,
                mean: 500.5,
                p50: 500,
                p90: 900,
                p99: 990,
                p999: 999,
                max: 1000
            }
        );
        let empty = Latency::from_histogram(&lps_engine::new_histogram());
        assert_eq!(empty.max, 0);
    }
}
