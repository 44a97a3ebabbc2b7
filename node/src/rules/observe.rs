//! What a rule reads, computed from merged stats: LPS's metrics
//! (`ErrorRate`, `TotalTime.P90`, ...) and the fields of its `Metrics`
//! snapshots that rule expressions read.

use std::borrow::Cow;

use hdrhistogram::Histogram;
use lps_config::rules::{Aggregation, Check, Metric, MetricField, Rule, StatusCodes, Timing};
use lps_config::{Mode, Plan};
use lps_engine::{Aggregate, Stats};

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

/// Iterations by round and name, for the references of expressions, and
/// the cooldown of those in a batch mode.
pub struct Names(Vec<(String, String, Option<f64>)>);

impl Names {
    pub fn of(plan: &Plan) -> Names {
        let triples = plan.rounds.iter().flat_map(|r| {
            r.iterations.iter().map(|it| {
                let cooldown = match it.mode {
                    Mode::CooldownBatch { cooldown, .. }
                    | Mode::CooldownRequestBatch { cooldown, .. }
                    | Mode::DurationCooldownBatch { cooldown, .. } => Some(cooldown.as_secs_f64()),
                    Mode::Requests { .. } | Mode::Duration { .. } => None,
                };
                (r.name.clone(), it.name.clone(), cooldown)
            })
        });
        Names(triples.collect())
    }

    /// The plan's iterations, rounds flattened.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn index(&self, round: &str, iteration: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|(r, i, _)| r == round && i == iteration)
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
                let at = names.index(&r.round, &r.iteration)?;
                let cooldown_s = names.0[at].2;
                field(r.field, (agg.iterations.get(at)?, cooldown_s), clock)
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
        Metric::Throughput => rate(successful(stats) as f64, stats, clock),
        Metric::Time(timing, agg) => time_ms(timing_histogram(stats, timing), agg),
    }
}

/// A field of LPS's `Metrics` snapshots on one iteration's stats (of a
/// batch mode with that cooldown, in seconds).
fn field(
    field: MetricField,
    (stats, cooldown_s): (&Stats, Option<f64>),
    clock: Clock,
) -> Option<f64> {
    let requests = stats.requests();
    let per_request = |bytes: u64| (requests > 0).then(|| bytes as f64 / requests as f64);
    let failed = || requests - successful(stats);
    use MetricField as F;
    match field {
        F::Time(timing, agg) => time_ms(timing_histogram(stats, timing), agg),
        F::Rps => rate(successful(stats) as f64, stats, clock),
        F::RpsPerCooldown => match cooldown_s {
            Some(c) => rate(successful(stats) as f64 * c, stats, clock),
            None => Some(0.0),
        },
        F::Requests => Some(requests as f64),
        F::Successful => Some(successful(stats) as f64),
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

/// Requests that were not errors by LPS's default classification (a status
/// >= 400, or no response).
fn successful(stats: &Stats) -> u64 {
    let failed = errors(stats, StatusCodes::DEFAULT) + stats.transport_errors();
    stats.requests().saturating_sub(failed)
}

/// `amount` per second of the iteration's span, once it has one.
fn rate(amount: f64, stats: &Stats, clock: Clock) -> Option<f64> {
    let span_s = clock.span_s(stats);
    (span_s > 0.0).then(|| amount / span_s)
}

/// A timing's histogram (TTFB is rebuilt from the latency and the split
/// responses, see `Stats::ttfb`).
fn timing_histogram(stats: &Stats, timing: Timing) -> Cow<'_, Histogram<u64>> {
    match timing {
        Timing::TotalTime => stats.latency.histogram(),
        Timing::Ttfb => Cow::Owned(stats.ttfb()),
        Timing::TcpHandshake => stats.connect.histogram(),
        Timing::TlsHandshake => stats.tls.histogram(),
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
fn time_ms(h: Cow<'_, Histogram<u64>>, agg: Aggregation) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 answers 200 and 2 answer 503 over a 2 s span, 100 bytes out and
    /// 1000 in each.
    fn stats() -> Stats {
        let mut s = Stats::new();
        for i in 0..10 {
            let status = if i < 8 { 200 } else { 503 };
            s.record_response(status, 1000 * (i + 1), 100, 1000);
        }
        s.span.begin(1_000_000);
        s.span.end(3_000_000);
        s
    }

    #[test]
    fn lps_metrics_fields_from_stats() {
        let s = stats();
        let at = |f, cooldown| field(f, (&s, cooldown), Clock::Final(9_000_000));
        use MetricField as F;
        // LPS's rates count the successful requests: 8 over 2 s.
        assert_eq!(at(F::Rps, None), Some(4.0));
        // ...per cooldown: 4/s times a 0.5 s cooldown; 0 outside batch modes.
        assert_eq!(at(F::RpsPerCooldown, Some(0.5)), Some(2.0));
        assert_eq!(at(F::RpsPerCooldown, None), Some(0.0));
        assert_eq!(at(F::Requests, None), Some(10.0));
        assert_eq!(at(F::Successful, None), Some(8.0));
        assert_eq!(at(F::Failed, None), Some(2.0));
        assert_eq!(at(F::ErrorRate, None), Some(0.2));
        assert_eq!(at(F::Elapsed, None), Some(2000.0));
        assert_eq!(at(F::BytesSent, None), Some(1000.0));
        assert_eq!(at(F::AverageReceived, None), Some(1000.0));
        assert_eq!(at(F::Bps, None), Some(5500.0));
        let p90 = at(F::Time(Timing::TotalTime, Aggregation::P90), None);
        assert!(p90.is_some_and(|ms| (9.0..=9.1).contains(&ms)), "{p90:?}");
        // Under way, an iteration runs until now.
        let live = field(F::Rps, (&s, None), Clock::Live(5_000_000));
        assert_eq!(live, Some(2.0));
        // No span yet: no rate.
        assert_eq!(field(F::Rps, (&Stats::new(), None), Clock::Final(1)), None);
    }
}
