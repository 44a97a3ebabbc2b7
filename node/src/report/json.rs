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
    /// What makes the figures less than they seem: lps fell behind its
    /// schedule; empty when nothing did.
    pub warnings: Vec<String>,
    #[serde(flatten)]
    pub total: Figures,
    pub iterations: Vec<IterationReport>,
    /// Cluster runs only: every node's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeReport>>,
    /// What this node's watchdog did, when the settings have a `Watchdog`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<WatchdogReport>,
    /// LPS's failure rules and their verdicts, when the plan has any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<super::RuleReport>,
}

/// The watchdog's pauses of this node's load.
#[derive(Debug, Serialize, PartialEq)]
pub struct WatchdogReport {
    /// How many times the load was paused.
    pub pauses: u64,
    /// How long it was paused, all pauses together.
    pub paused_s: f64,
    /// The first pause: when, from the run's start, and why.
    pub first_pause_at_s: Option<f64>,
    pub first_pause_reason: Option<String>,
    /// How many times the watchdog gave up after `MaxCoolingPeriod` and let
    /// the load flow for `ResumeCoolingAfter`.
    pub gave_up: u64,
}

impl WatchdogReport {
    pub fn new(p: &crate::watchdog::Pauses) -> WatchdogReport {
        WatchdogReport {
            pauses: p.count,
            paused_s: seconds(p.total),
            first_pause_at_s: p.first.as_ref().map(|(at, _)| seconds(*at)),
            first_pause_reason: p.first.as_ref().map(|(_, why)| why.clone()),
            gave_up: p.gave_up,
        }
    }
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
    /// It joined a restarted master mid-run with its result from before
    /// that master started (left out when false).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub caught_up: bool,
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
        // Only what a node's line shows: a dashboard builds one per node
        // each second, and the time to first byte alone would copy the
        // latency histogram once more.
        NodeReport {
            id: id.to_string(),
            host: host.to_string(),
            role,
            state,
            cores,
            requests: Requests::of(stats),
            errors: stats.transport_errors(),
            latency_us: Latency::from_histogram(&stats.latency.histogram()),
            throughput_rps: throughput(stats.requests(), elapsed),
            bytes: Bytes::of(stats),
            caught_up: false,
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
    /// The iteration's own span: from its first start to its last end, over
    /// every client, core and node; its throughput is over this span.
    pub duration_s: f64,
    /// When a termination rule ended it on this node (seconds from the
    /// start); on a worker, the master's rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated_at_s: Option<f64>,
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
    /// Time to the first byte of each response, from the same start as
    /// `latency_us` (see `lps_engine::Stats::ttfb`).
    pub ttfb_us: Latency,
    pub throughput_rps: f64,
    pub bytes: Bytes,
    pub connections: Connections,
    /// Open model only: how late lps itself sent the requests (see
    /// `lps_engine::Stats::send_lag`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<Latency>,
}

/// Connections opened (the first of each client, then any reconnect), the
/// time each TCP connect took and, over https, each TLS handshake apart.
#[derive(Debug, Serialize)]
pub struct Connections {
    pub opened: u64,
    /// Of those, the ones that spoke HTTP/2 (ALPN `h2` or h2c): an HTTP/2
    /// request may be answered over HTTP/1.1 (LPS's negotiation).
    pub http2: u64,
    /// The TCP connect alone.
    pub connect_us: Latency,
    /// Of the connections opened, those that made a TLS handshake.
    pub tls_handshakes: u64,
    /// The TLS handshake alone, from the TCP connect to its end.
    pub tls_us: Latency,
}

#[derive(Debug, Serialize)]
pub struct Requests {
    /// Requests answered or failed: `ok + failed`.
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    /// Sent and still unanswered when the run ended (after the grace); not
    /// in `total`: `total + unfinished` is what the target received.
    pub unfinished: u64,
    /// LPS 3.x: requests and client iterations a `skipIf` skipped (not sent).
    pub skipped: u64,
    /// LPS 3.x: placeholders that read nothing (an unknown variable, a path
    /// the captured response does not have).
    pub unresolved: u64,
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
        Figures {
            requests: Requests::of(stats),
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
            ttfb_us: Latency::from_histogram(&stats.ttfb()),
            throughput_rps: throughput(stats.requests(), duration),
            bytes: Bytes::of(stats),
            connections: Connections {
                opened: stats.connect.len(),
                http2: stats.h2_connections,
                connect_us: Latency::from_histogram(&stats.connect.histogram()),
                tls_handshakes: stats.tls.len(),
                tls_us: Latency::from_histogram(&stats.tls.histogram()),
            },
            send_lag_us: None,
        }
    }

    /// The figures of the open model: with the send lags.
    fn with_send_lag(mut self, stats: &Stats, model: Model) -> Figures {
        if let Model::Open { .. } = model {
            self.send_lag_us = Some(Latency::from_histogram(&stats.send_lag.histogram()));
        }
        self
    }
}

impl Requests {
    fn of(stats: &Stats) -> Requests {
        Requests {
            total: stats.requests(),
            ok: stats.ok,
            failed: stats.failed,
            unfinished: stats.unfinished,
            skipped: stats.skipped,
            unresolved: stats.unresolved,
        }
    }
}

impl Bytes {
    fn of(stats: &Stats) -> Bytes {
        Bytes {
            sent: stats.bytes_sent,
            received: stats.bytes_received,
        }
    }
}

/// Requests a second over `duration`; 0 over no time.
fn throughput(requests: u64, duration: Duration) -> f64 {
    let secs = duration.as_secs_f64();
    if secs > 0.0 {
        requests as f64 / secs
    } else {
        0.0
    }
}

/// Send lags above this mean lps, not the target, made requests late.
const BEHIND_US: u64 = 1_000;

/// The warning when lps fell behind its schedule: more than 1 % of the
/// requests left over [`BEHIND_US`] late by its own doing.
fn behind(send_lag: &Histogram<u64>) -> Option<String> {
    let sent = send_lag.len();
    if sent == 0 {
        return None;
    }
    let late = send_lag.count_between(BEHIND_US + 1, u64::MAX);
    if late * 100 <= sent {
        return None;
    }
    Some(format!(
        "lps could not keep the schedule: {late} of {sent} requests ({:.1} %) were sent more \
         than 1 ms late by lps itself (send lag p99 {} µs, max {} µs); the latencies include its \
         own lateness: give it more cores (--threads) or a lower --rate",
        late as f64 * 100.0 / sent as f64,
        send_lag.value_at_quantile(0.99),
        send_lag.max()
    ))
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

/// Seconds, to the millisecond.
fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl Report {
    pub fn new(info: &RunInfo, agg: &Aggregate) -> Report {
        let total = agg.total();
        let run_us = info.duration.as_micros() as u64;
        let mut iterations = Vec::new();
        let mut index = 0;
        for round in &info.plan.rounds {
            for it in &round.iterations {
                let empty = Stats::new();
                let stats = agg.iterations.get(index).unwrap_or(&empty);
                index += 1;
                let span = Duration::from_micros(stats.span.duration_us(run_us));
                iterations.push(IterationReport {
                    name: it.name.clone(),
                    round: round.name.clone(),
                    mode: it.mode.code(),
                    method: it.request.method.clone(),
                    url: it.request.target.url(),
                    http_version: it.request.version.as_str(),
                    duration_s: seconds(span),
                    terminated_at_s: None,
                    figures: Figures::from_stats(stats, span).with_send_lag(stats, info.model),
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
            duration_s: seconds(info.duration),
            clients: info.plan.clients(),
            threads: info.threads,
            interrupted: info.interrupted,
            warnings: behind(&total.send_lag.histogram()).into_iter().collect(),
            total: Figures::from_stats(&total, info.duration).with_send_lag(&total, info.model),
            iterations,
            nodes: None,
            watchdog: None,
            rules: Vec::new(),
        }
    }

    /// Writes the JSON report to `path`, or stdout for `-`.
    pub fn write_json(&self, path: &Path) -> Result<(), ReportError> {
        let text = self.to_json()?;
        if path == Path::new("-") {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}").map_err(ReportError::Stdout)
        } else {
            super::write_atomic(path, (text + "\n").as_bytes()).map_err(|source| {
                ReportError::Json {
                    path: path.to_path_buf(),
                    source,
                }
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

    #[test]
    fn lps_is_behind_when_over_one_percent_of_sends_are_a_millisecond_late() {
        let mut lags = lps_engine::new_histogram();
        assert_eq!(behind(&lags), None, "nothing sent");
        lags.record_n(40, 990).unwrap();
        lags.record_n(1_000, 5).unwrap();
        lags.record_n(1_500, 5).unwrap();
        // 5 of 1,000 over 1 ms: 0.5 %, within what a busy machine does.
        assert_eq!(behind(&lags), None);
        lags.record_n(20_000, 10).unwrap();
        let warning = behind(&lags).expect("15 of 1,010 over 1 ms");
        assert!(
            warning.starts_with(
                "lps could not keep the schedule: 15 of 1010 requests (1.5 %) were sent more than 1 ms late"
            ),
            "{warning}"
        );
        assert!(
            warning.contains("the latencies include its own lateness"),
            "{warning}"
        );
    }
}
