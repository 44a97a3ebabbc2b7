//! Termination rules judged live, on the test's merged data (a master's:
//! every node's): a rule whose check holds without a break for its grace
//! period terminates its iteration (`LPS:TerminationServices`).

use std::sync::Arc;
use std::time::Instant;

use lps_config::Plan;
use lps_config::rules::Rule;
use lps_engine::{Aggregate, Terminations};

use super::observe::{self, Clock, Names, Seen};

/// A termination rule that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// Seconds from the run's start.
    pub at_s: f64,
    /// What it saw then.
    pub seen: Seen,
}

/// One termination rule and its grace state.
struct Watched {
    index: usize,
    round: String,
    iteration: String,
    rule: Rule,
    /// Since when its check has held without a break.
    breach_since: Option<Instant>,
    /// What it saw at its last look.
    last: Option<Seen>,
    fired: Option<Fired>,
}

/// A termination rule's state, for the dashboard and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleState {
    pub round: String,
    pub iteration: String,
    pub rule: String,
    pub grace_s: f64,
    /// Its last look, if it had one.
    pub seen: Option<Seen>,
    /// Seconds its check has held so far (0 when it does not hold).
    pub breach_s: f64,
    pub fired: Option<Fired>,
}

/// Every termination rule of a plan, and the iterations they terminate.
pub struct Watch {
    rules: Vec<Watched>,
    names: Names,
    terminations: Arc<Terminations>,
}

impl Watch {
    /// The plan's termination rules, terminating iterations in
    /// `terminations`; `None` when the plan has none.
    pub fn new(plan: &Plan, terminations: Arc<Terminations>) -> Option<Watch> {
        let iterations = plan
            .rounds
            .iter()
            .flat_map(|r| r.iterations.iter().map(move |it| (r.name.as_str(), it)));
        let rules: Vec<Watched> = iterations
            .enumerate()
            .flat_map(|(index, (round, it))| {
                it.termination_rules.iter().map(move |rule| Watched {
                    index,
                    round: round.to_owned(),
                    iteration: it.name.clone(),
                    rule: rule.clone(),
                    breach_since: None,
                    last: None,
                    fired: None,
                })
            })
            .collect();
        (!rules.is_empty()).then(|| Watch {
            rules,
            names: Names::of(plan),
            terminations,
        })
    }

    /// Judges every rule of an iteration that started and is not
    /// terminated on `agg` (the whole test's data, `now_us` into the run);
    /// terminates the iterations whose rule held for its grace, and returns
    /// them.
    pub fn check(&mut self, agg: &Aggregate, now_us: u64, now: Instant) -> Vec<usize> {
        let mut terminated = Vec::new();
        for w in &mut self.rules {
            let started = agg
                .iterations
                .get(w.index)
                .is_some_and(|s| s.span.began_us.is_some());
            if !started || self.terminations.is_terminated(w.index) {
                continue;
            }
            let seen = observe::judge(&w.rule, (agg, &self.names), w.index, Clock::Live(now_us));
            w.breach_since = if seen.holds {
                w.breach_since.or(Some(now))
            } else {
                None
            };
            w.last = Some(seen.clone());
            let held_for = w
                .breach_since
                .map(|since| now.saturating_duration_since(since));
            if held_for.is_some_and(|d| d >= w.rule.grace) {
                let at_s = now_us as f64 / 1e6;
                announce(w, &seen);
                w.fired = Some(Fired { at_s, seen });
                if self.terminations.terminate(w.index) {
                    terminated.push(w.index);
                }
            }
        }
        terminated
    }

    /// Every rule's state at its last look.
    pub fn states(&self, now: Instant) -> Vec<RuleState> {
        self.rules
            .iter()
            .map(|w| RuleState {
                round: w.round.clone(),
                iteration: w.iteration.clone(),
                rule: w.rule.text.clone(),
                grace_s: w.rule.grace.as_secs_f64(),
                seen: w.last.clone(),
                breach_s: w
                    .breach_since
                    .map_or(0.0, |s| now.saturating_duration_since(s).as_secs_f64()),
                fired: w.fired.clone(),
            })
            .collect()
    }
}

/// LPS's warning when a rule terminates its iteration.
fn announce(w: &Watched, seen: &Seen) {
    let value = match (&seen.value, &seen.evaluated) {
        (Some(v), _) => format!("{v:.4}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "none".into(),
    };
    log::warn!(
        "lps: iteration {}/{} terminated: the rule {:?} held for its whole grace period of {}s (observed {value})",
        w.round,
        w.iteration,
        w.rule.text,
        w.rule.grace.as_secs_f64()
    );
}
