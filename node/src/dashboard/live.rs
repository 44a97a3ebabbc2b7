//! The live view of a run, for the dashboard: exact totals per node and
//! iteration, a per-second series, the nodes table and, at the end, the
//! final report. Runs feed it (`add`, `tick_if_due`, `set_*`); readers take
//! JSON from it. Nothing here blocks a run for long: one short lock per
//! snapshot and per second.

use std::collections::HashMap;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use lps_config::Plan;
use lps_engine::{Aggregate, Snapshot, Stats};
use serde::Serialize;
use tokio::sync::broadcast;

use super::metrics::RequestCounts;
use crate::report::series::{Recorder, Row};
use crate::report::{Model, NodeReport, Report, RunInfo};
use crate::rules::{RuleReport, RuleState};

/// Points kept for `/api/series` (an hour at one per second).
const SERIES_CAPACITY: usize = 3600;
/// The engine's cores send a snapshot at every whole second of the run; a
/// second is closed this long after it ends, so that each point holds that
/// second's snapshots (half a period either way) instead of racing them.
const CLOSE_LAG: Duration = Duration::from_millis(500);
/// Points a slow feed subscriber may fall behind before it skips ahead.
const FEED_CAPACITY: usize = 64;

/// Every state a cluster's node can be in (the master's node phases), for
/// `lps_nodes{state}`: each is exported, 0 when no node is in it, so that a
/// series does not vanish when its last node moves on.
pub const CLUSTER_NODE_STATES: [&str; 4] = ["Observer", "Running", "Finished", "Lost"];
/// Every state the one node of a single-node run can be in (the run's).
pub const LOCAL_NODE_STATES: [&str; 4] = ["Idle", "Running", "Completed", "Cancelled"];

/// One second of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Seconds since the start, at the end of this second.
    pub t: f64,
    pub requests: u64,
    pub rps: f64,
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub in_flight: u64,
    pub bytes_in_per_s: f64,
    pub bytes_out_per_s: f64,
    /// Responses by status class: 1xx..5xx, then codes outside them.
    pub status_1xx: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
}

impl Point {
    /// The point of the seconds up to `upto` (`span` long), from what
    /// arrived in them.
    pub(crate) fn new(interval: &Stats, upto: Duration, span: Duration, in_flight: u64) -> Point {
        let secs = span.as_secs_f64().max(0.001);
        let class = |lo: u16| -> u64 {
            interval
                .status_codes()
                .iter()
                .filter(|(c, _)| (lo..lo + 100).contains(c))
                .map(|(_, n)| n)
                .sum()
        };
        let latency = interval.latency.histogram();
        Point {
            t: (upto.as_secs_f64() * 1000.0).round() / 1000.0,
            requests: interval.requests(),
            rps: interval.requests() as f64 / secs,
            errors: interval.failed,
            p50_us: quantile_or_zero(&latency, 0.5),
            p90_us: quantile_or_zero(&latency, 0.9),
            p99_us: quantile_or_zero(&latency, 0.99),
            in_flight,
            bytes_in_per_s: interval.bytes_received as f64 / secs,
            bytes_out_per_s: interval.bytes_sent as f64 / secs,
            status_1xx: class(100),
            status_2xx: class(200),
            status_3xx: class(300),
            status_4xx: class(400),
            status_5xx: class(500),
        }
    }
}

/// The value at quantile `q`, 0 when nothing was recorded.
fn quantile_or_zero(h: &Histogram<u64>, q: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(q)
    }
}

/// A node as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub id: String,
    pub host: String,
    pub role: &'static str,
    pub state: &'static str,
    pub cores: u32,
    pub requests: u64,
    pub rps: f64,
    pub p99_us: u64,
    pub errors: u64,
    /// Seconds since the node was last heard from.
    pub last_heartbeat_s: f64,
}

/// Where a cluster's per-node stats are kept (the master's state), so that
/// the live view holds no second copy of them: a master of 1,000 workers
/// would merge every snapshot twice and keep every node's histograms twice.
pub trait NodeSource: Send + Sync {
    /// Calls `f` with each node's id and its merged stats.
    fn each_node(&self, f: &mut dyn FnMut(&str, &Aggregate));
}

/// What the run has reported so far, under [`Live`]'s one lock.
struct LiveData {
    state: &'static str,
    started_at: Option<SystemTime>,
    start: Option<Instant>,
    /// When the final report arrived: the elapsed time stops there.
    ended: Option<Instant>,
    threads: usize,
    /// Exact stats per node, merged from every snapshot; empty when a
    /// [`NodeSource`] keeps them.
    per_node: BTreeMap<String, Aggregate>,
    /// In flight per (node, core), from the latest snapshot of each.
    in_flight: BTreeMap<(String, usize), u64>,
    /// What arrived since the last tick, per iteration.
    interval: Aggregate,
    /// Every second closed so far, merged: with `interval`, the sum of
    /// `per_node`, kept as it grows so that a reader merges two aggregates,
    /// not one per node.
    closed_total: Aggregate,
    /// The run's time up to which the series is closed: whole seconds
    /// while it runs, the end at the end.
    closed: Duration,
    series: VecDeque<Point>,
    /// Nodes of a cluster run (set by the master); a single node otherwise.
    nodes: Option<Vec<NodeView>>,
    final_report: Option<String>,
    final_histogram: Option<Vec<u8>>,
    /// The termination rules at their last look (the run's watch).
    rules: Vec<RuleState>,
    /// `--series`: every second's rows, the total's and each iteration's.
    record: Option<Recorder>,
}

impl LiveData {
    /// The run's time up to which to close the series now, if any second
    /// (or, at the `end`, anything) is left to close.
    fn due(&self, end: bool) -> Option<Duration> {
        let elapsed = Instant::now().checked_duration_since(self.start?)?;
        let upto = if end {
            if self.interval.iterations.iter().all(Stats::is_empty) {
                return None;
            }
            elapsed
        } else {
            let ready = elapsed.saturating_sub(CLOSE_LAG);
            Duration::from_secs(ready.as_secs())
        };
        (upto > self.closed).then_some(upto)
    }

    /// Adds a point to the series, dropping the oldest beyond
    /// [`SERIES_CAPACITY`].
    fn push_point(&mut self, point: Point) {
        if self.series.len() == SERIES_CAPACITY {
            self.series.pop_front();
        }
        self.series.push_back(point);
    }
}

/// The live view, shared between a run and the dashboard.
pub struct Live {
    plan: Plan,
    model: Model,
    iterations: usize,
    data: Mutex<LiveData>,
    feed: broadcast::Sender<Arc<str>>,
    /// The master's nodes, once it said it keeps them.
    source: OnceLock<Weak<dyn NodeSource>>,
}

impl Live {
    pub fn new(plan: &Plan, model: Model) -> Arc<Live> {
        let iterations = plan.rounds.iter().map(|r| r.iterations.len()).sum();
        Arc::new(Live {
            plan: plan.clone(),
            model,
            iterations,
            data: Mutex::new(LiveData {
                state: "Idle",
                started_at: None,
                start: None,
                ended: None,
                threads: 0,
                per_node: BTreeMap::new(),
                in_flight: BTreeMap::new(),
                interval: Aggregate::new(iterations),
                closed_total: Aggregate::new(iterations),
                closed: Duration::ZERO,
                series: VecDeque::new(),
                nodes: None,
                final_report: None,
                final_histogram: None,
                rules: Vec::new(),
                record: None,
            }),
            feed: broadcast::channel(FEED_CAPACITY).0,
            source: OnceLock::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LiveData> {
        // Counters left by a panicking holder are still the best data there is.
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The run's state (`Idle`, `Ready`, `Running`, `Completed`, ...).
    pub fn set_state(&self, state: &'static str) {
        self.lock().state = state;
        let _ = self.feed.send(Arc::from(format!(
            r#"{{"type":"state","state":"{state}"}}"#
        )));
    }

    /// When load started (or will start).
    pub fn set_started(&self, at: SystemTime, start: Instant, threads: usize) {
        let mut data = self.lock();
        data.started_at = Some(at);
        data.start = Some(start);
        data.threads = threads;
        // A single-node run goes from Idle to Running here; a cluster's
        // master has already said Ready (or Running) by now.
        let idle = data.state == "Idle";
        drop(data);
        if idle {
            self.set_state("Running");
        }
    }

    /// From now on each node's stats are read from `source`, not kept here.
    /// Set before the first snapshot; the first source set stays.
    pub fn set_node_source(&self, source: Weak<dyn NodeSource>) {
        let _ = self.source.set(source);
    }

    /// Calls `f` with each node's id and stats: the source's, else the ones
    /// kept here. Called without the lock held: the source takes its own
    /// (the master's, which it holds while it adds to this view).
    fn each_node(&self, f: &mut dyn FnMut(&str, &Aggregate)) {
        match self.source.get() {
            Some(source) => {
                if let Some(source) = source.upgrade() {
                    source.each_node(f);
                }
            }
            None => {
                let data = self.lock();
                for (id, agg) in &data.per_node {
                    f(id, agg);
                }
            }
        }
    }

    /// Merges one snapshot of `node`.
    pub fn add(&self, node: &str, snap: &Snapshot) {
        let mut data = self.lock();
        if self.source.get().is_none() {
            let iterations = self.iterations;
            match data.per_node.get_mut(node) {
                Some(agg) => agg.add(snap),
                None => {
                    let mut agg = Aggregate::new(iterations);
                    agg.add(snap);
                    data.per_node.insert(node.to_string(), agg);
                }
            }
        }
        let in_flight = if snap.last { 0 } else { snap.in_flight };
        data.in_flight
            .insert((node.to_string(), snap.core), in_flight);
        data.interval.add(snap);
        if let Some(record) = &mut data.record {
            record.add(&snap.iterations);
        }
    }

    /// The nodes table of a cluster run. A lost node's requests in flight
    /// are no longer known: they count no more (its next snapshot, if it
    /// comes back, tells them again).
    pub fn set_nodes(&self, nodes: Vec<NodeView>) {
        let mut data = self.lock();
        for lost in nodes.iter().filter(|n| n.state == "Lost") {
            data.in_flight.retain(|(node, _), _| *node != lost.id);
        }
        data.nodes = Some(nodes);
    }

    /// The termination rules as the run's watch last judged them.
    pub fn set_rules(&self, rules: Vec<RuleState>) {
        self.lock().rules = rules;
    }

    /// Closes the current second if it is over: one series point, fed to
    /// subscribers.
    pub fn tick_if_due(&self) {
        self.close_interval(false);
    }

    /// Closes the seconds of the run whose snapshots are in (those that
    /// ended [`CLOSE_LAG`] ago) into a series point or, at the end of the run
    /// (`end`), whatever is left: the series then adds up to the run's
    /// totals.
    fn close_interval(&self, end: bool) {
        let mut data = self.lock();
        let Some(upto) = data.due(end) else { return };
        let span = upto - data.closed;
        data.closed = upto;
        let fresh = Aggregate::new(self.iterations);
        let per_iteration = std::mem::replace(&mut data.interval, fresh);
        data.closed_total.merge(&per_iteration);
        let interval = per_iteration.total();
        let in_flight = data.in_flight.values().sum();
        let point = Point::new(&interval, upto, span, in_flight);
        data.push_point(point.clone());
        if let Some(record) = &mut data.record {
            record.close(&interval, (upto, span), in_flight);
        }
        drop(data);
        if let Ok(json) =
            serde_json::to_string(&serde_json::json!({"type": "point", "point": point}))
        {
            // No subscriber is fine: nobody is watching.
            let _ = self.feed.send(Arc::from(json));
        }
    }

    /// Keeps every second's rows from now on, the total's and each
    /// iteration's, for `--series` (called before the run starts).
    pub fn record_series(&self) {
        let mut data = self.lock();
        data.record.get_or_insert_with(|| Recorder::new(&self.plan));
    }

    /// The rows recorded since [`Live::record_series`]; none without it.
    pub fn series_rows(&self) -> Vec<Row> {
        let data = self.lock();
        data.record
            .as_ref()
            .map_or_else(Vec::new, |r| r.rows().to_vec())
    }

    /// Stores the final report and histogram log for download.
    pub fn finish(&self, report_json: String, histogram_log: Vec<u8>, state: &'static str) {
        // Nothing is in flight once the run is over, whatever a node that
        // never said it finished (a lost one) last reported.
        self.lock().in_flight.clear();
        self.close_interval(true);
        {
            let mut data = self.lock();
            data.final_report = Some(report_json);
            data.final_histogram = Some(histogram_log);
            data.ended.get_or_insert_with(Instant::now);
        }
        self.set_state(state);
    }

    /// Live updates: series points and state changes, as JSON text. A slow
    /// reader misses old items (`Lagged`) instead of growing a buffer.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.feed.subscribe()
    }

    /// Every node's exact stats merged: the seconds closed and the one open.
    fn total(data: &LiveData) -> Aggregate {
        let mut total = data.closed_total.clone();
        total.merge(&data.interval);
        total
    }

    /// `GET /api/state`.
    pub fn state_json(&self) -> serde_json::Value {
        let data = self.lock();
        let total = Self::total(&data).total();
        let now = data.ended.unwrap_or_else(Instant::now);
        let elapsed = data
            .start
            .map_or(0.0, |s| now.saturating_duration_since(s).as_secs_f64());
        let (model, rate) = match self.model {
            Model::Closed => ("closed", None),
            Model::Open { rate } => ("open", Some(rate)),
        };
        serde_json::json!({
            "test": self.plan.name,
            "state": data.state,
            "model": model,
            "rate_rps": rate,
            "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
            "requests": {"total": total.requests(), "ok": total.ok, "failed": total.failed},
            "error_rate": if total.requests() > 0 { total.failed as f64 / total.requests() as f64 } else { 0.0 },
            "rps": data.series.back().map_or(0.0, |p| p.rps),
            "in_flight": data.in_flight.values().sum::<u64>(),
            "finished": data.final_report.is_some(),
        })
    }

    /// `GET /api/summary`: the JSON report schema, for the run so far (the
    /// final report once the run is over).
    pub fn summary(&self) -> Report {
        let data = self.lock();
        let total = Self::total(&data);
        let duration = data.start.map_or(Duration::ZERO, |s| {
            Instant::now().saturating_duration_since(s)
        });
        let info = RunInfo {
            plan: &self.plan,
            model: self.model,
            started_at: data.started_at.unwrap_or_else(SystemTime::now),
            duration,
            threads: data.threads.max(1),
            interrupted: false,
        };
        let mut report = Report::new(&info, &total);
        report.rules = self.judge(&data, &total, duration);
        let views = data.nodes.clone();
        drop(data);
        report.nodes = views.map(|nodes| self.node_reports(&nodes, duration));
        report
    }

    /// The nodes of the report so far, in the order of `nodes`.
    fn node_reports(&self, nodes: &[NodeView], duration: Duration) -> Vec<NodeReport> {
        let place: HashMap<&str, usize> = (nodes.iter().enumerate())
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let report = |n: &NodeView, stats: &Stats| {
            NodeReport::new(&n.id, &n.host, n.role, n.state, n.cores, stats, duration)
        };
        let mut reports: Vec<Option<NodeReport>> = nodes.iter().map(|_| None).collect();
        self.each_node(&mut |id, agg| {
            if let Some(&i) = place.get(id) {
                reports[i] = Some(report(&nodes[i], &agg.total()));
            }
        });
        (reports.into_iter().zip(nodes))
            .map(|(r, n)| r.unwrap_or_else(|| report(n, &Stats::new())))
            .collect()
    }

    /// Each rule of the plan as it stands, for `/metrics`.
    pub fn rules(&self) -> Vec<RuleReport> {
        let data = self.lock();
        let total = Self::total(&data);
        let duration = data.start.map_or(Duration::ZERO, |s| {
            Instant::now().saturating_duration_since(s)
        });
        self.judge(&data, &total, duration)
    }

    /// Each rule as it stands after `duration`: a failure rule on the data
    /// so far, a termination rule with its breach and whether it fired.
    fn judge(&self, data: &LiveData, total: &Aggregate, duration: Duration) -> Vec<RuleReport> {
        let run_us = duration.as_micros() as u64;
        crate::rules::judge(&self.plan, total, run_us, &data.rules)
    }

    /// The final JSON report, once the run is over.
    pub fn final_report(&self) -> Option<String> {
        self.lock().final_report.clone()
    }

    /// The final merged histogram log, once the run is over.
    pub fn final_histogram(&self) -> Option<Vec<u8>> {
        self.lock().final_histogram.clone()
    }

    /// `GET /api/nodes`: the cluster's nodes, or this node alone.
    pub fn nodes(&self) -> Vec<NodeView> {
        let data = self.lock();
        if let Some(nodes) = &data.nodes {
            return nodes.clone();
        }
        let total = Self::total(&data).total();
        // The average since the start, as a cluster's nodes show it.
        let elapsed = data.start.map_or(0.0, |s| {
            let now = data.ended.unwrap_or_else(Instant::now);
            now.saturating_duration_since(s).as_secs_f64()
        });
        vec![NodeView {
            id: "local".into(),
            host: "127.0.0.1".into(),
            role: "master",
            state: data.state,
            cores: data.threads as u32,
            requests: total.requests(),
            rps: if elapsed > 0.0 {
                total.requests() as f64 / elapsed
            } else {
                0.0
            },
            p99_us: quantile_or_zero(&total.latency.histogram(), 0.99),
            errors: total.failed,
            last_heartbeat_s: 0.0,
        }]
    }

    /// `GET /api/series?since=T`: points after `since` seconds.
    pub fn series_since(&self, since: f64) -> Vec<Point> {
        self.lock()
            .series
            .iter()
            .filter(|p| p.t > since)
            .cloned()
            .collect()
    }

    /// Exact stats per node and iteration, for `/metrics`:
    /// `(node, iteration name, stats)`.
    pub fn per_node_iterations(&self) -> Vec<(String, String, RequestCounts)> {
        let names: Vec<&str> = self
            .plan
            .rounds
            .iter()
            .flat_map(|r| r.iterations.iter().map(|i| i.name.as_str()))
            .collect();
        let mut out = Vec::new();
        self.each_node(&mut |node, agg| {
            for (name, stats) in names.iter().zip(&agg.iterations) {
                out.push((node.to_string(), name.to_string(), RequestCounts::of(stats)));
            }
        });
        out
    }

    /// Every node's and iteration's exact stats merged, for `/metrics`.
    pub fn total_stats(&self) -> Stats {
        let data = self.lock();
        Self::total(&data).total()
    }

    /// Requests in flight now, over every node and core.
    pub fn in_flight(&self) -> u64 {
        self.lock().in_flight.values().sum()
    }

    /// Node states, for `lps_nodes{state}`.
    pub fn node_states(&self) -> Vec<&'static str> {
        self.nodes().iter().map(|n| n.state).collect()
    }

    /// Every state a node of this run can be in, for `lps_nodes{state}`.
    pub fn possible_node_states(&self) -> &'static [&'static str] {
        if self.lock().nodes.is_some() {
            &CLUSTER_NODE_STATES
        } else {
            &LOCAL_NODE_STATES
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use lps_engine::new_histogram;

    use super::*;

    /// An empty live view of a plan of one iteration, for the tests of its
    /// readers too.
    pub(crate) fn live() -> Arc<Live> {
        let text = "name: t\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n";
        let file = lps_config::parse_plan(text, "p.yaml", lps_config::Format::Yaml).unwrap();
        let plan = file.into_plan(lps_config::Origin::new("p.yaml")).unwrap();
        Live::new(&plan, Model::Closed)
    }

    fn snapshot(responses: u64) -> Snapshot {
        Snapshot {
            core: 0,
            seq: 0,
            elapsed: Duration::ZERO,
            in_flight: 3,
            iterations: vec![Stats::from_parts(
                new_histogram(),
                &[(200, responses)],
                &[],
                10 * responses,
                20 * responses,
            )],
            last: false,
        }
    }

    #[test]
    fn due_is_the_last_whole_second_past_the_lag_or_at_the_end_the_rest() {
        let live = live();
        assert_eq!(live.lock().due(false), None, "not started");
        live.set_started(
            SystemTime::now(),
            Instant::now() - Duration::from_millis(2700),
            1,
        );
        let mut data = live.lock();
        assert_eq!(data.due(false), Some(Duration::from_secs(2)));
        data.closed = Duration::from_secs(2);
        assert_eq!(data.due(false), None, "already closed");
        assert_eq!(data.due(true), None, "nothing arrived since");
        data.interval.add(&snapshot(1));
        let rest = data.due(true);
        assert!(
            rest.is_some_and(|t| t >= Duration::from_millis(2700)),
            "{rest:?}"
        );
    }

    #[test]
    fn a_point_counts_status_classes_and_rates_over_its_span() {
        let mut h = new_histogram();
        h.record(100).unwrap();
        let interval = Stats::from_parts(
            h,
            &[(101, 1), (204, 2), (302, 3), (404, 4), (503, 5), (600, 6)],
            &[],
            50,
            100,
        );
        let p = Point::new(
            &interval,
            Duration::from_millis(4500),
            Duration::from_millis(500),
            9,
        );
        assert_eq!(
            (p.t, p.requests, p.rps, p.in_flight, p.p99_us),
            (4.5, 21, 42.0, 9, 100)
        );
        assert_eq!(
            [
                p.status_1xx,
                p.status_2xx,
                p.status_3xx,
                p.status_4xx,
                p.status_5xx
            ],
            [1, 2, 3, 4, 5]
        );
        assert_eq!((p.bytes_out_per_s, p.bytes_in_per_s), (100.0, 200.0));
    }

    #[test]
    fn seconds_close_after_their_snapshots_and_the_end_closes_the_rest() {
        let live = live();
        // Started 2.7 s ago: seconds up to 2 are closed (2.7 - CLOSE_LAG).
        live.set_started(
            SystemTime::now(),
            Instant::now() - Duration::from_millis(2700),
            1,
        );
        assert_eq!(live.state_json()["state"], "Running");
        live.add("local", &snapshot(400));
        live.tick_if_due();
        live.tick_if_due();
        let series = live.series_since(-1.0);
        assert_eq!(series.len(), 1, "{series:?}");
        let p = &series[0];
        assert_eq!(
            (p.t, p.requests, p.rps, p.status_2xx, p.in_flight),
            (2.0, 400, 200.0, 400, 3)
        );
        assert_eq!((p.bytes_out_per_s, p.bytes_in_per_s), (2000.0, 4000.0));
        // The end closes the part-second left, with what arrived since.
        live.add("local", &snapshot(30));
        live.finish("{}".into(), Vec::new(), "Completed");
        let last = live.series_since(2.0);
        assert_eq!(last.len(), 1, "{last:?}");
        assert_eq!(last[0].requests, 30);
        assert!(last[0].t >= 2.7, "{last:?}");
        let state = live.state_json();
        assert_eq!(state["state"], "Completed");
        assert_eq!(state["finished"], true);
        // Nothing is left to close.
        live.tick_if_due();
        assert_eq!(live.series_since(-1.0).len(), 2);
    }

    fn node(id: &str, state: &'static str) -> NodeView {
        NodeView {
            id: id.into(),
            host: "h".into(),
            role: "worker",
            state,
            cores: 1,
            requests: 0,
            rps: 0.0,
            p99_us: 0,
            errors: 0,
            last_heartbeat_s: 0.0,
        }
    }

    #[test]
    fn a_lost_nodes_in_flight_counts_no_more_and_none_is_left_at_the_end() {
        let live = live();
        let at = |core, n| Snapshot {
            core,
            in_flight: n,
            ..snapshot(1)
        };
        live.add("w1", &at(0, 4));
        live.add("w1", &at(1, 1));
        live.add("w2", &at(0, 2));
        assert_eq!(live.in_flight(), 7);
        live.set_nodes(vec![node("w1", "Lost"), node("w2", "Running")]);
        assert_eq!(live.in_flight(), 2);
        // Back: its next snapshot counts.
        live.add("w1", &at(0, 3));
        live.set_nodes(vec![node("w1", "Running"), node("w2", "Running")]);
        assert_eq!(live.in_flight(), 5);
        // w2 never sent its last snapshot: the end clears it all the same.
        live.finish("{}".into(), Vec::new(), "Completed");
        assert_eq!(live.in_flight(), 0);
        assert_eq!(live.state_json()["in_flight"], 0);
    }

    #[test]
    fn the_local_node_shows_its_average_rate_not_the_last_seconds() {
        let text = "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n";
        let file = lps_config::parse_plan(text, "p.yaml", lps_config::Format::Yaml).unwrap();
        let plan = file.into_plan(lps_config::Origin::new("p.yaml")).unwrap();
        let live = Live::new(&plan, Model::Closed);
        live.set_started(
            SystemTime::now(),
            Instant::now() - Duration::from_millis(2700),
            1,
        );
        live.add("local", &snapshot(1000));
        // Seconds 0-2 closed: a point of 500 req/s.
        live.tick_if_due();
        // The last 0.7 s: 10 more, a point of about 14 req/s.
        live.add("local", &snapshot(10));
        live.finish("{}".into(), Vec::new(), "Completed");
        let rps = live.nodes()[0].rps;
        // 1010 requests over the run's 2.7 s (and the moments of this test).
        assert!((360.0..=374.1).contains(&rps), "{rps}");
    }

    #[test]
    fn every_possible_node_state_is_known() {
        let live = live();
        assert_eq!(live.possible_node_states(), &LOCAL_NODE_STATES);
        for state in live.node_states() {
            assert!(LOCAL_NODE_STATES.contains(&state), "{state}");
        }
        live.set_nodes(vec![node("w1", "Running")]);
        assert_eq!(live.possible_node_states(), &CLUSTER_NODE_STATES);
    }
}
