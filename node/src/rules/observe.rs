//! What a rule reads, computed from merged stats: LPS's metrics
//! (`ErrorRate`, `TotalTime.P90`, ...) and the fields of its `Metrics`
//! snapshots that rule expressions read.

use lps_config::Plan;
use lps_config::rules::{Aggregation, Check, Metric, MetricField, Rule, StatusCodes, Timing};
use lps_engine::{Aggregate, LazyHistogram, Stats};

/// How long an iteration has run, for its rates.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The run is over after `run_us`: each iteration's own span.
    Final(u64),
    /// The run is at `now_us`: an iteration under way runs until now.
    Live(u64),
}

impl Clock {
    fn span_s(self, stats: &Stats) -> f64 {
        let us = match self {
            Clock::Final(run_us) => stats.span.duration_us(run_us),
            // Clients that finished it set its end; others may still run it.
            Clock::Live(now_us) => stats.span.began_us.map_or(0, |b| now_us.saturating_sub(b)),
        };
        us as f64 / 1e6
    }
}

/// Iterations by round and name, for the references of expressions.
pub struct Names(Vec<(String, String)>);

impl Names {
    pub fn of(plan: &Plan) -> Names {
        let pairs = plan.rounds.iter().flat_map(|r| {
            r.iterations
                .iter()
                .map(|it| (r.name.clone(), it.name.clone()))
        });
        Names(pairs.collect())
    }

    /// The plan's iterations, rounds flattened.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn index(&self, round: &str, iteration: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|(r, i)| r == round && i == iteration)
    }
}

/// A rule's verdict on the data: what it observed and whether it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The metric's value (ms for times, 0-1 for rates); `None` for an
    /// expression or without data.
    pub value: Option<f64>,
    /// An expression as evaluated, its references replaced by their values.
    pub evaluated: Option<String>,
    pub holds: bool,
}

/// Judges `rule` of iteration `index` on `agg` at `clock`. Without data a
/// metric rule does not hold, and an expression is false (as in LPS, where
/// the metric does not exist yet).
pub fn judge(rule: &Rule, (agg, names): (&Aggregate, &Names), index: usize, clock: Clock) -> Seen {
    match &rule.check {
        Check::Metric(condition) => {
            let empty = Stats::new();
            let stats = agg.iterations.get(index).unwrap_or(&empty);
            let value = metric(condition.metric, rule.error_codes, stats, clock);
            Seen {
                value,
                evaluated: None,
                holds: value.is_some_and(|v| condition.holds(v)),
            }
        }
        Check::Expression(expr) => {
            let (evaluated, holds) = expr.eval(|r| {
                let stats = agg.iterations.get(names.index(&r.round, &r.iteration)?)?;
                field(r.field, stats, clock)
            });
            Seen {
                value: None,
                evaluated,
                holds,
            }
        }
    }
}

/// A rule's metric on one iteration's stats, if there is data for it.
fn metric(metric: Metric, codes: Option<StatusCodes>, stats: &Stats, clock: Clock) -> Option<f64> {
    let requests = stats.requests();
    match metric {
        Metric::ErrorRate => {
            let codes = codes.unwrap_or(StatusCodes::DEFAULT);
            (requests > 0).then(|| errors(stats, codes) as f64 / requests as f64)
        }
        Metric::SkipRatio => {
            let all = requests + stats.skipped;
            (all > 0).then(|| stats.skipped as f64 / all as f64)
        }
        Metric::SkippedCount => Some(stats.skipped as f64),
        Metric::Throughput => rate(requests as f64, stats, clock),
        Metric::Time(timing, agg) => time_ms(timing_histogram(stats, timing), agg),
    }
}

/// A field of LPS's `Metrics` snapshots on one iteration's stats.
fn field(field: MetricField, stats: &Stats, clock: Clock) -> Option<f64> {
    let requests = stats.requests();
    let per_request = |bytes: u64| (requests > 0).then(|| bytes as f64 / requests as f64);
    // LPS's default classification: a status >= 400, or no response.
    let failed = || errors(stats, StatusCodes::DEFAULT) + stats.transport_errors();
    use MetricField as F;
    match field {
        F::Time(timing, agg) => time_ms(timing_histogram(stats, timing), agg),
        F::Rps => rate(requests as f64, stats, clock),
        F::Requests => Some(requests as f64),
        F::Successful => Some(requests.saturating_sub(failed()) as f64),
        F::Failed => Some(failed() as f64),
        F::ErrorRate => (requests > 0).then(|| failed() as f64 / requests as f64),
        F::Skipped => Some(stats.skipped as f64),
        F::Elapsed => Some(clock.span_s(stats) * 1000.0),
        F::BytesSent => Some(stats.bytes_sent as f64),
        F::BytesReceived => Some(stats.bytes_received as f64),
        F::AverageSent => per_request(stats.bytes_sent),
        F::AverageReceived => per_request(stats.bytes_received),
        F::UpstreamBps => rate(stats.bytes_sent as f64, stats, clock),
        F::DownstreamBps => rate(stats.bytes_received as f64, stats, clock),
        F::Bps => rate(
            (stats.bytes_sent + stats.bytes_received) as f64,
            stats,
            clock,
        ),
    }
}

/// `amount` per second of the iteration's span, once it has one.
fn rate(amount: f64, stats: &Stats, clock: Clock) -> Option<f64> {
    let span_s = clock.span_s(stats);
    (span_s > 0.0).then(|| amount / span_s)
}

fn timing_histogram(stats: &Stats, timing: Timing) -> &LazyHistogram {
    match timing {
        Timing::TotalTime => &stats.latency,
        Timing::TcpHandshake => &stats.connect,
    }
}

/// Requests whose status the codes count as errors; failures without a
/// response have status 0.
fn errors(stats: &Stats, codes: StatusCodes) -> u64 {
    let by_status: u64 = stats
        .status_codes()
        .into_iter()
        .filter(|(code, _)| codes.matches(*code))
        .map(|(_, n)| n)
        .sum();
    let no_response = if codes.matches(0) {
        stats.transport_errors()
    } else {
        0
    };
    by_status + no_response
}

/// A histogram of microseconds aggregated, in milliseconds.
fn time_ms(h: &LazyHistogram, agg: Aggregation) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let h = h.histogram();
    let us = match agg {
        Aggregation::P50 => h.value_at_quantile(0.50) as f64,
        Aggregation::P90 => h.value_at_quantile(0.90) as f64,
        Aggregation::P95 => h.value_at_quantile(0.95) as f64,
        Aggregation::P99 => h.value_at_quantile(0.99) as f64,
        Aggregation::Average => h.mean(),
        Aggregation::Min => h.min() as f64,
        Aggregation::Max => h.max() as f64,
        Aggregation::Sum => h.mean() * h.len() as f64,
    };
    Some(us / 1000.0)
}
