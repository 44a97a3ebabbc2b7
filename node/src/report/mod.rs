//! The end-of-run report: console summary, JSON export and histogram log.
//!
//! The JSON schema is versioned by `schema_version` and published in
//! `docs/report.schema.json`; the same [`Report`] feeds the console,
//! `--json`, the cluster master's report and the dashboard.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use lps_config::Plan;
use lps_engine::{Aggregate, ErrorKind, Stats};
use serde::Serialize;

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
            latency_us: Latency::from_histogram(&stats.latency),
            throughput_rps: if secs > 0.0 { total as f64 / secs } else { 0.0 },
            bytes: Bytes {
                sent: stats.bytes_sent,
                received: stats.bytes_received,
            },
            connections: Connections {
                opened: stats.connect.len(),
                connect_us: Latency::from_histogram(&stats.connect),
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
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("cannot encode the JSON report")?;
        if path == Path::new("-") {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}").context("cannot write the JSON report to stdout")?;
        } else {
            std::fs::write(path, text + "\n")
                .with_context(|| format!("cannot write the JSON report to {}", path.display()))?;
        }
        Ok(())
    }

    /// The console summary.
    pub fn render(&self, total_hist: &Histogram<u64>) -> String {
        let mut out = String::new();
        let model = match self.rate_rps {
            None => "closed model".to_string(),
            Some(r) => format!("open model at {r} req/s, latency from intended start"),
        };
        let _ = writeln!(
            out,
            "\n{} — {model}, {} clients on {} threads{}",
            self.test,
            self.clients,
            self.threads,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        render_figures(&mut out, &self.total, self.duration_s, "  ");
        let _ = writeln!(out, "\n  Latency distribution:");
        render_histogram(&mut out, total_hist, "    ");
        if let Some(nodes) = &self.nodes {
            let _ = writeln!(out, "\n  Nodes:");
            for n in nodes {
                let _ = writeln!(
                    out,
                    "    {:<24} {:<7} {:<9} {:>3} cores  {:>10} requests  {:>10.1} req/s  p99 {:>9}  {} failed",
                    n.id,
                    n.role,
                    n.state,
                    n.cores,
                    n.requests.total,
                    n.throughput_rps,
                    us(n.latency_us.p99),
                    n.requests.failed
                );
            }
        }
        if self.iterations.len() > 1 {
            for it in &self.iterations {
                let _ = writeln!(
                    out,
                    "\n  Iteration {} ({}, mode {}, {} {}, HTTP/{})",
                    it.name, it.round, it.mode, it.method, it.url, it.http_version
                );
                render_figures(&mut out, &it.figures, self.duration_s, "    ");
            }
        }
        out
    }
}

fn render_figures(out: &mut String, f: &Figures, duration_s: f64, pad: &str) {
    let r = &f.requests;
    let _ = writeln!(
        out,
        "{pad}Requests:    {} total, {} ok, {} failed",
        r.total, r.ok, r.failed
    );
    let _ = writeln!(out, "{pad}Duration:    {duration_s:.3} s");
    let _ = writeln!(out, "{pad}Throughput:  {:.1} req/s", f.throughput_rps);
    let l = &f.latency_us;
    let _ = writeln!(
        out,
        "{pad}Latency:     min {}  mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        us(l.min),
        us(l.mean as u64),
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.p999),
        us(l.max)
    );
    let c = &f.connections;
    if c.opened > 0 {
        let l = &c.connect_us;
        let _ = writeln!(
            out,
            "{pad}Connects:    {} opened, mean {}  p50 {}  p99 {}  max {}",
            c.opened,
            us(l.mean as u64),
            us(l.p50),
            us(l.p99),
            us(l.max)
        );
    }
    if !f.status_codes.is_empty() {
        let codes: Vec<String> = f
            .status_codes
            .iter()
            .map(|(c, n)| format!("[{c}] {n}"))
            .collect();
        let _ = writeln!(out, "{pad}Status:      {}", codes.join("  "));
    }
    let errors: Vec<String> = f
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "{pad}Errors:      {}", errors.join(", "));
    }
    let _ = writeln!(
        out,
        "{pad}Transfer:    {} sent, {} received",
        human_bytes(f.bytes.sent),
        human_bytes(f.bytes.received)
    );
}

/// A small latency histogram: ten bars over the recorded range.
fn render_histogram(out: &mut String, h: &Histogram<u64>, pad: &str) {
    if h.is_empty() {
        let _ = writeln!(out, "{pad}(no responses)");
        return;
    }
    const WIDTH: u64 = 40;
    let buckets = log_buckets(h, 10);
    let most = buckets.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    for (from, to, n) in buckets {
        // Bars scale to the fullest bucket; a non-empty bucket shows at least one mark.
        let bar =
            "■".repeat((u128::from(n) * u128::from(WIDTH)).div_ceil(u128::from(most)) as usize);
        let _ = writeln!(out, "{pad}{:>9} - {:<9} [{n:>9}] {bar}", us(from), us(to));
    }
}

/// Up to `bars` buckets with geometric bounds from min to max: latency
/// spans orders of magnitude, and equal-width buckets would put almost every
/// request in the first one. Each recorded value lands in exactly one bucket.
fn log_buckets(h: &Histogram<u64>, bars: usize) -> Vec<(u64, u64, u64)> {
    let (lo, hi) = (h.min().max(1), h.max().max(1));
    let ratio = (hi as f64 / lo as f64).powf(1.0 / bars as f64);
    let mut bounds: Vec<u64> = (1..bars)
        .map(|i| (lo as f64 * ratio.powi(i as i32)).round() as u64)
        .collect();
    bounds.push(hi);
    bounds.dedup();
    let mut buckets: Vec<(u64, u64, u64)> = Vec::with_capacity(bounds.len());
    let mut from = lo;
    for to in bounds {
        if to < from {
            continue;
        }
        buckets.push((from, to, 0));
        from = to + 1;
    }
    for v in h.iter_recorded() {
        let value = h.highest_equivalent(v.value_iterated_to()).min(hi);
        let i = buckets
            .partition_point(|b| b.1 < value)
            .min(buckets.len() - 1);
        buckets[i].2 = buckets[i].2.saturating_add(v.count_at_value());
    }
    buckets
}

/// Microseconds, shown with a unit that keeps them short.
pub fn us(v: u64) -> String {
    if v >= 1_000_000 {
        format!("{:.2}s", v as f64 / 1e6)
    } else if v >= 1_000 {
        format!("{:.2}ms", v as f64 / 1e3)
    } else {
        format!("{v}µs")
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// Writes the merged histograms (total, then each iteration) as an
/// HdrHistogram interval log with V2 deflate, base64-encoded entries.
pub fn write_histogram_log(
    path: &Path,
    started_at: SystemTime,
    duration: Duration,
    entries: &[(&str, &Histogram<u64>)],
) -> anyhow::Result<()> {
    let buf = histogram_log(started_at, duration, entries)?;
    std::fs::write(path, buf)
        .with_context(|| format!("cannot write the histogram log to {}", path.display()))
}

/// The interval log of [`write_histogram_log`], in memory.
pub fn histogram_log(
    started_at: SystemTime,
    duration: Duration,
    entries: &[(&str, &Histogram<u64>)],
) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("lps latency histograms, microseconds")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1.0)
            .begin_log_with(&mut buf, &mut serializer)
            .context("cannot start the histogram log")?;
        for (name, h) in entries {
            let tag = sanitize_tag(name);
            log.write_histogram(h, Duration::ZERO, duration, Tag::new(&tag))
                .map_err(|e| anyhow::anyhow!("cannot encode histogram {name}: {e:?}"))?;
        }
    }
    Ok(buf)
}

/// Tags may not contain commas, spaces or control characters.
fn sanitize_tag(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(us(999), "999µs");
        assert_eq!(us(1_500), "1.50ms");
        assert_eq!(us(2_345_678), "2.35s");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(sanitize_tag("a b,c"), "a_b_c");
    }

    #[test]
    fn log_buckets_cover_every_value_once() {
        let mut h = lps_engine::new_histogram();
        for v in [100u64, 150, 900, 1_000, 12_000, 100_000] {
            h.record(v).unwrap();
        }
        let b = log_buckets(&h, 10);
        assert_eq!(b.iter().map(|x| x.2).sum::<u64>(), 6);
        assert_eq!(b.first().unwrap().0, 100);
        assert_eq!(b.last().unwrap().1, h.max());
        // Bounds grow geometrically: ten buckets over three decades.
        assert_eq!(b.len(), 10);
        assert!(b.windows(2).all(|w| w[0].1 < w[1].0));
        let single = {
            let mut h = lps_engine::new_histogram();
            h.record_n(42, 5).unwrap();
            log_buckets(&h, 10)
        };
        assert_eq!(single, vec![(42, 42, 5)]);
    }

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
