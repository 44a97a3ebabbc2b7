//! LPS's rules judged on the test's merged data (a master's: the whole
//! cluster's, never one node's share): failure rules when the run ends
//! ([`judge`]), termination rules live ([`Watch`]). A rule states a
//! failure: `ErrorRate > 0.05` fails the test when it holds.
//!
//! - `observe`: metrics and `${Metrics...}` fields computed from stats.
//! - `watch`: termination rules, their grace, and the iterations they end.

mod observe;
mod watch;

use std::sync::Arc;

use lps_config::Plan;
use lps_config::rules::Rule;
use lps_engine::{Aggregate, RunOptions, Terminations};
use serde::Serialize;

pub use observe::Names;
pub use watch::{RuleState, Watch};

use observe::{Clock, Seen};

/// The watch over `plan`'s termination rules, and `opts` with the
/// iterations it terminates; no watch (and `opts` as they are) when the
/// plan has no termination rule.
pub fn watch(plan: &Plan, opts: &RunOptions) -> (Option<Watch>, RunOptions) {
    let terminations = Arc::new(Terminations::new(Names::of(plan).len()));
    match Watch::new(plan, terminations.clone()) {
        Some(w) => {
            let opts = RunOptions {
                terminations: Some(terminations),
                ..opts.clone()
            };
            (Some(w), opts)
        }
        None => (None, opts.clone()),
    }
}

/// One rule's verdict.
#[derive(Debug, Serialize, PartialEq)]
pub struct RuleReport {
    pub round: String,
    pub iteration: String,
    /// `failure` (judged at the end) or `termination` (judged live).
    pub kind: &'static str,
    /// The metric condition or the expression as written.
    pub rule: String,
    /// What the metric was (ms for times, 0-1 for rates); `null` for an
    /// expression or without data to judge it on (then it does not fail).
    pub observed: Option<f64>,
    /// An expression as evaluated, its `${Metrics...}` replaced by values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated: Option<String>,
    /// A termination rule's grace period, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_s: Option<f64>,
    /// When a termination rule terminated its iteration (seconds from the
    /// start); what it observed is then the value at that moment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated_at_s: Option<f64>,
    /// While the run goes (the dashboard): how long a termination rule's
    /// check has held so far without terminating yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaching_s: Option<f64>,
    /// True when the rule held (a termination rule: it terminated its
    /// iteration): the test failed on it.
    pub failed: bool,
}

impl RuleReport {
    /// What the rule saw, as the lines say it: `observed 0.5`, `evaluated
    /// 251.5 > 250`, `observed no data`.
    pub fn seen(&self) -> String {
        match (self.observed, &self.evaluated) {
            (Some(v), _) if v.fract() == 0.0 => format!("observed {v:.0}"),
            (Some(v), _) => format!("observed {v:.4}"),
            (None, Some(e)) => format!("evaluated {e}"),
            (None, None) => "observed no data".into(),
        }
    }

    /// The rule in a line: `failure rule R/I: ErrorRate > 0.05`, or for a
    /// termination rule that fired, when it terminated its iteration.
    pub fn describe(&self) -> String {
        let fired = match self.terminated_at_s {
            Some(at) => format!(", terminated the iteration at {at:.1} s"),
            None => String::new(),
        };
        format!(
            "{} rule {}/{}: {} ({}{fired})",
            self.kind,
            self.round,
            self.iteration,
            self.rule,
            self.seen()
        )
    }
}

/// Judges every rule of `plan` on `agg` (the run lasted `run_us`, or has
/// lasted so far): failure rules on that data, termination rules by what
/// `fired` (the run's [`Watch`] states) or, for those that did not, on that
/// data.
pub fn judge(plan: &Plan, agg: &Aggregate, run_us: u64, fired: &[RuleState]) -> Vec<RuleReport> {
    let names = Names::of(plan);
    let mut out = Vec::new();
    let mut index = 0;
    for round in &plan.rounds {
        for it in &round.iterations {
            let report = |rule: &Rule, kind, seen: Seen| RuleReport {
                round: round.name.clone(),
                iteration: it.name.clone(),
                kind,
                rule: rule.text.clone(),
                observed: seen.value,
                evaluated: seen.evaluated,
                grace_s: None,
                terminated_at_s: None,
                breaching_s: None,
                failed: seen.holds,
            };
            for rule in &it.failure_rules {
                let seen = observe::judge(rule, (agg, &names), index, Clock::Final(run_us));
                out.push(report(rule, "failure", seen));
            }
            for rule in &it.termination_rules {
                let state = fired.iter().find(|s| {
                    s.round == round.name && s.iteration == it.name && s.rule == rule.text
                });
                let fire = state.and_then(|s| s.fired.clone());
                let breaching_s = state.filter(|s| s.fired.is_none() && s.breach_s > 0.0);
                let seen = match &fire {
                    Some(f) => f.seen.clone(),
                    None => Seen {
                        holds: false,
                        ..observe::judge(rule, (agg, &names), index, Clock::Final(run_us))
                    },
                };
                out.push(RuleReport {
                    grace_s: Some(rule.grace.as_secs_f64()),
                    terminated_at_s: fire.map(|f| f.at_s),
                    breaching_s: breaching_s.map(|s| s.breach_s),
                    ..report(rule, "termination", seen)
                });
            }
            index += 1;
        }
    }
    out
}
