//! LPS's failure rules judged when the run ends, on its merged data (a
//! master's report: the whole cluster's, never one node's share). A rule
//! states a failure: `ErrorRate > 0.05` fails the test when it holds.

use hdrhistogram::Histogram;
use lps_config::Plan;
use lps_config::rules::{Aggregation, FailureRule, Metric, StatusCodes, Timing};
use lps_engine::{Aggregate, Stats};
use serde::Serialize;

/// One rule's verdict.
#[derive(Debug, Serialize, PartialEq)]
pub struct RuleReport {
    pub round: String,
    pub iteration: String,
    /// `failure` (judged at the end; `termination` rules are issue 17's).
    pub kind: &'static str,
    /// The metric condition as written.
    pub rule: String,
    /// What the metric was (ms for times, 0-1 for rates); `null` without
    /// data to judge it on (then it does not fail).
    pub observed: Option<f64>,
    /// True when the rule's condition held: the test failed on it.
    pub failed: bool,
}

/// Judges every failure rule of `plan` on `agg` (the run lasted `run_us`).
pub fn judge(plan: &Plan, agg: &Aggregate, run_us: u64) -> Vec<RuleReport> {
    let mut out = Vec::new();
    let mut index = 0;
    for round in &plan.rounds {
        for it in &round.iterations {
            let empty = Stats::new();
            let stats = agg.iterations.get(index).unwrap_or(&empty);
            index += 1;
            let span_s = stats.span.duration_us(run_us) as f64 / 1e6;
            for rule in &it.failure_rules {
                let observed = observed(rule, stats, span_s);
                out.push(RuleReport {
                    round: round.name.clone(),
                    iteration: it.name.clone(),
                    kind: "failure",
                    rule: rule.text.clone(),
                    observed,
                    failed: observed.is_some_and(|v| rule.condition.holds(v)),
                });
            }
        }
    }
    out
}

/// The rule's metric on one iteration's stats, if there is data for it.
fn observed(rule: &FailureRule, stats: &Stats, span_s: f64) -> Option<f64> {
    let requests = stats.requests();
    match rule.condition.metric {
        Metric::ErrorRate => {
            let codes = rule.error_codes.unwrap_or(StatusCodes::DEFAULT);
            (requests > 0).then(|| errors(stats, codes) as f64 / requests as f64)
        }
        Metric::SkipRatio => {
            let all = requests + stats.skipped;
            (all > 0).then(|| stats.skipped as f64 / all as f64)
        }
        Metric::SkippedCount => Some(stats.skipped as f64),
        Metric::Throughput => (span_s > 0.0).then(|| requests as f64 / span_s),
        Metric::Time(Timing::TotalTime, agg) => time_ms(&stats.latency.histogram(), agg),
        Metric::Time(Timing::Ttfb, agg) => time_ms(&stats.ttfb(), agg),
        Metric::Time(Timing::TcpHandshake, agg) => time_ms(&stats.connect.histogram(), agg),
        Metric::Time(Timing::TlsHandshake, agg) => time_ms(&stats.tls.histogram(), agg),
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
fn time_ms(h: &Histogram<u64>, agg: Aggregation) -> Option<f64> {
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
