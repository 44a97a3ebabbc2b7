//! The console summary: the report's figures, a latency histogram drawn in
//! text and, for a cluster, one line per node.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::json::{Figures, NodeReport, Report, WatchdogReport};

/// `writeln!` into the summary, a `String`.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        // Writing to a String cannot fail.
        let _ = writeln!($out, $($arg)*);
    }};
}

impl Report {
    /// The console summary.
    pub fn render(&self, total_hist: &Histogram<u64>) -> String {
        let mut out = String::new();
        let model = match self.rate_rps {
            None => "closed model".to_string(),
            Some(r) => format!("open model at {r} req/s, latency from intended start"),
        };
        put!(
            out,
            "\n{} — {model}, {}{}",
            self.test,
            self.load(),
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        for w in &self.warnings {
            put!(out, "  Warning:     {w}");
        }
        if let Some(w) = &self.watchdog {
            put!(out, "  Watchdog:    {}", watchdog_line(w));
        }
        render_figures(&mut out, &self.total, self.duration_s, "  ");
        put!(out, "\n  Latency distribution:");
        render_histogram(&mut out, total_hist, "    ");
        if let Some(nodes) = &self.nodes {
            render_nodes(&mut out, nodes);
        }
        if self.iterations.len() > 1 {
            for it in &self.iterations {
                put!(
                    out,
                    "\n  Iteration {} ({}, mode {}, {} {}, HTTP/{})",
                    it.name,
                    it.round,
                    it.mode,
                    it.method,
                    it.url,
                    it.http_version
                );
                render_figures(&mut out, &it.figures, it.duration_s, "    ");
            }
        }
        if !self.rules.is_empty() {
            put!(out, "\n  Rules:");
            for r in &self.rules {
                let verdict = if r.failed { "FAIL" } else { "pass" };
                put!(out, "    {verdict}  {}", r.describe());
            }
        }
        out
    }
}

impl Report {
    /// Who sent the load: `8 clients on 2 threads`, or for a cluster, where
    /// every node runs the plan's clients, `24 clients on 3 nodes (8 each),
    /// 6 threads`.
    fn load(&self) -> String {
        let Some(nodes) = self.nodes.as_ref().filter(|n| !n.is_empty()) else {
            return format!("{} clients on {} threads", self.clients, self.threads);
        };
        let count = nodes.len() as u64;
        let threads: u64 = nodes.iter().map(|n| u64::from(n.cores)).sum();
        format!(
            "{} clients on {count} node{} ({} each), {threads} threads",
            u64::from(self.clients) * count,
            if count == 1 { "" } else { "s" },
            self.clients,
        )
    }
}

/// What the watchdog did, on one line: `not paused`, or `paused 2 times,
/// 3.1 s in all; first at 0.0 s: memory 5 MB > 1 MB`.
fn watchdog_line(w: &WatchdogReport) -> String {
    if w.pauses == 0 {
        return "not paused".to_string();
    }
    let mut line = format!(
        "paused {} time{}, {:.1} s in all",
        w.pauses,
        if w.pauses == 1 { "" } else { "s" },
        w.paused_s
    );
    if let (Some(at), Some(why)) = (w.first_pause_at_s, &w.first_pause_reason) {
        line.push_str(&format!("; first at {at:.1} s: {why}"));
    }
    if w.gave_up > 0 {
        line.push_str(&format!(
            "; gave up after MaxCoolingPeriod {} time{}",
            w.gave_up,
            if w.gave_up == 1 { "" } else { "s" }
        ));
    }
    line
}

/// A cluster run's nodes, one line each.
fn render_nodes(out: &mut String, nodes: &[NodeReport]) {
    put!(out, "\n  Nodes:");
    for n in nodes {
        put!(
            out,
            "    {:<24} {:<7} {:<9} {:>3} cores  {:>10} requests  {:>10.1} req/s  p99 {:>9}  {} failed{}",
            n.id,
            n.role,
            n.state,
            n.cores,
            n.requests.total,
            n.throughput_rps,
            us(n.latency_us.p99),
            n.requests.failed,
            if n.caught_up { "  caught up" } else { "" }
        );
    }
    if nodes.iter().any(|n| n.caught_up) {
        put!(
            out,
            "    caught up: the master restarted during the test; these workers brought their whole result from before it started, while its own node (if any) ran afresh from its own start"
        );
    }
}

/// One set of figures (the total, or an iteration's), each line led by `pad`.
fn render_figures(out: &mut String, f: &Figures, duration_s: f64, pad: &str) {
    render_timing(out, f, duration_s, pad);
    render_results(out, f, pad);
}

/// Requests, duration, throughput, latency, time to first byte and
/// connection times (TCP and TLS apart).
fn render_timing(out: &mut String, f: &Figures, duration_s: f64, pad: &str) {
    let r = &f.requests;
    let mut extra = String::new();
    if r.unfinished > 0 {
        extra += &format!(", {} unfinished (unanswered at the end)", r.unfinished);
    }
    if r.skipped > 0 {
        extra += &format!(", {} skipped (skipIf)", r.skipped);
    }
    if r.unresolved > 0 {
        extra += &format!(", {} placeholders read nothing", r.unresolved);
    }
    put!(
        out,
        "{pad}Requests:    {} total, {} ok, {} failed{extra}",
        r.total,
        r.ok,
        r.failed
    );
    put!(out, "{pad}Duration:    {duration_s:.3} s");
    put!(out, "{pad}Throughput:  {:.1} req/s", f.throughput_rps);
    render_latency(out, f, pad);
    if let Some(l) = &f.send_lag_us {
        put!(
            out,
            "{pad}Send lag:    p50 {}  p90 {}  p99 {}  max {}  (how late lps itself sent them; in the latencies too)",
            us(l.p50),
            us(l.p90),
            us(l.p99),
            us(l.max)
        );
    }
    render_connects(out, f, pad);
}

/// Connections opened and their TCP and TLS times.
fn render_connects(out: &mut String, f: &Figures, pad: &str) {
    let c = &f.connections;
    if c.opened > 0 {
        let l = &c.connect_us;
        let spoke = match c.http2 {
            0 => "HTTP/1.1".to_string(),
            n if n == c.opened => "HTTP/2".to_string(),
            n => format!("{n} HTTP/2, {} HTTP/1.1", c.opened - n),
        };
        put!(
            out,
            "{pad}Connects:    {} opened ({spoke}), TCP mean {}  p50 {}  p99 {}  max {}",
            c.opened,
            us(l.mean as u64),
            us(l.p50),
            us(l.p99),
            us(l.max)
        );
    }
    if c.tls_handshakes > 0 {
        let l = &c.tls_us;
        put!(
            out,
            "{pad}TLS:         {} handshake{}, mean {}  p50 {}  p99 {}  max {}",
            c.tls_handshakes,
            if c.tls_handshakes == 1 { "" } else { "s" },
            us(l.mean as u64),
            us(l.p50),
            us(l.p99),
            us(l.max)
        );
    }
}

/// The latency and time-to-first-byte lines; without a response there is
/// neither (zeros would read as instant answers).
fn render_latency(out: &mut String, f: &Figures, pad: &str) {
    // Every response has a status code, and only responses have a latency.
    if f.status_codes.is_empty() {
        put!(out, "{pad}Latency:     none (no responses)");
        return;
    }
    let l = &f.latency_us;
    put!(
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
    let t = &f.ttfb_us;
    put!(
        out,
        "{pad}TTFB:        min {}  mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        us(t.min),
        us(t.mean as u64),
        us(t.p50),
        us(t.p90),
        us(t.p99),
        us(t.p999),
        us(t.max)
    );
}

/// Status codes, errors and bytes transferred.
fn render_results(out: &mut String, f: &Figures, pad: &str) {
    if f.status_codes.is_empty() {
        put!(out, "{pad}Status:      none (no responses)");
    } else {
        let codes: Vec<String> = f
            .status_codes
            .iter()
            .map(|(c, n)| format!("[{c}] {n}"))
            .collect();
        put!(out, "{pad}Status:      {}", codes.join("  "));
    }
    let errors: Vec<String> = f
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !errors.is_empty() {
        put!(out, "{pad}Errors:      {}", errors.join(", "));
    }
    put!(
        out,
        "{pad}Transfer:    {} sent, {} received",
        human_bytes(f.bytes.sent),
        human_bytes(f.bytes.received)
    );
}

/// A small latency histogram: ten bars over the recorded range.
fn render_histogram(out: &mut String, h: &Histogram<u64>, pad: &str) {
    if h.is_empty() {
        put!(out, "{pad}(no responses)");
        return;
    }
    const WIDTH: u64 = 40;
    let buckets = log_buckets(h, 10);
    let most = buckets.iter().map(|b| b.2).max().unwrap_or(1).max(1);
    for (from, to, n) in buckets {
        // Bars scale to the fullest bucket; a non-empty bucket shows at least one mark.
        let bar =
            "■".repeat((u128::from(n) * u128::from(WIDTH)).div_ceil(u128::from(most)) as usize);
        put!(out, "{pad}{:>9} - {:<9} [{n:>9}] {bar}", us(from), us(to));
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use lps_engine::{Aggregate, ErrorKind, Snapshot, Stats};

    use super::*;
    use crate::report::{Model, RunInfo};

    /// The report of a plan of 8 clients that got `stats` over 2 s.
    fn report(stats: Stats) -> Report {
        let text = "name: P\nnumberOfClients: 8\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n";
        let file = lps_config::parse_plan(text, "p.yaml", lps_config::Format::Yaml).unwrap();
        let plan = file.into_plan(lps_config::Origin::new("p.yaml")).unwrap();
        let mut agg = Aggregate::new(1);
        agg.add(&Snapshot {
            core: 0,
            seq: 0,
            elapsed: Duration::from_secs(2),
            in_flight: 0,
            iterations: vec![stats],
            last: true,
        });
        let info = RunInfo {
            plan: &plan,
            model: Model::Closed,
            started_at: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(2),
            threads: 2,
            interrupted: false,
        };
        Report::new(&info, &agg)
    }

    #[test]
    fn a_cluster_counts_every_nodes_clients() {
        let mut r = report(Stats::new());
        assert!(
            r.render(&lps_engine::new_histogram())
                .contains(" — closed model, 8 clients on 2 threads\n"),
        );
        let node = |id: &str, cores| {
            NodeReport::new(
                id,
                "h",
                "worker",
                "Finished",
                cores,
                &Stats::new(),
                Duration::ZERO,
            )
        };
        r.nodes = Some(vec![node("master", 1), node("w1", 2), node("w2", 2)]);
        let text = r.render(&lps_engine::new_histogram());
        assert!(
            text.contains(" — closed model, 24 clients on 3 nodes (8 each), 5 threads\n"),
            "{text}"
        );
    }

    #[test]
    fn a_run_without_responses_shows_no_latency() {
        let stats = Stats::from_parts(
            lps_engine::new_histogram(),
            &[],
            &[(ErrorKind::Connect, 5)],
            0,
            0,
        );
        let r = report(stats);
        let text = r.render(&lps_engine::new_histogram());
        assert!(
            text.contains("  Latency:     none (no responses)\n"),
            "{text}"
        );
        assert!(
            text.contains("  Status:      none (no responses)\n"),
            "{text}"
        );
        assert!(!text.contains("0µs"), "{text}");
        assert!(text.contains("(no responses)\n"), "{text}");
    }

    #[test]
    fn units() {
        assert_eq!(us(999), "999µs");
        assert_eq!(us(1_500), "1.50ms");
        assert_eq!(us(2_345_678), "2.35s");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
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
}
