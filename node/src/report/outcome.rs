//! The run's verdict, which decides the exit code: a run in which every
//! request failed, or none completed, has failed.

use lps_config::Plan;
use lps_engine::{ErrorKind, Stats};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_RULES};

/// How the run went, as far as the exit code is concerned.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Ok,
    /// Requests were sent and none succeeded; what failed and against what.
    AllFailed(String),
    /// The run ended on its own without a single completed request.
    NoneCompleted,
    /// The run went well but these rules held (failure rules at the end,
    /// termination rules that terminated their iteration).
    RulesFailed(Vec<String>),
}

impl Verdict {
    /// Judges the merged `total` of a run of `plan`; a run stopped early
    /// (Ctrl-C) with nothing completed is not a failure.
    /// A run that went well fails on the failure rules that held (`rules`).
    pub fn with_rules(self, rules: &[super::RuleReport]) -> Verdict {
        let held: Vec<String> = rules
            .iter()
            .filter(|r| r.failed)
            .map(super::RuleReport::describe)
            .collect();
        match self {
            Verdict::Ok if !held.is_empty() => Verdict::RulesFailed(held),
            other => other,
        }
    }

    pub fn of(plan: &Plan, total: &Stats, interrupted: bool) -> Verdict {
        if total.requests() > 0 && total.ok == 0 {
            Verdict::AllFailed(why_all_failed(plan, total))
        } else if total.requests() == 0 && !interrupted {
            Verdict::NoneCompleted
        } else {
            Verdict::Ok
        }
    }

    /// Says on stderr why the run failed, if it did.
    pub fn announce(&self) {
        match self {
            Verdict::Ok => {}
            Verdict::AllFailed(why) => log::error!("lps: every request failed: {why}"),
            Verdict::NoneCompleted => log::error!("lps: no request completed"),
            Verdict::RulesFailed(rules) => {
                for rule in rules {
                    log::error!("lps: {rule}");
                }
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Verdict::Ok => EXIT_OK,
            Verdict::AllFailed(_) | Verdict::NoneCompleted => EXIT_FAILED,
            Verdict::RulesFailed(_) => EXIT_RULES,
        }
    }
}

/// What the failures were and where they went: `3 connect against
/// http://127.0.0.1:1/`, so the one line says what to look at.
pub fn why_all_failed(plan: &Plan, total: &Stats) -> String {
    let mut causes: Vec<String> = ErrorKind::ALL
        .iter()
        .filter(|k| total.errors(**k) > 0)
        .map(|k| format!("{} {}", total.errors(*k), k.as_str()))
        .collect();
    causes.extend(
        total
            .status_codes()
            .into_iter()
            .filter(|(code, _)| !lps_engine::is_success(*code))
            .map(|(code, n)| format!("{n} HTTP {code}")),
    );
    let mut urls: Vec<String> = Vec::new();
    for it in plan.rounds.iter().flat_map(|r| &r.iterations) {
        let url = it.request.target.url();
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    format!("{} against {}", causes.join(", "), urls.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lps_config::{Format, Origin, parse_plan};

    /// Two iterations against one URL and one against another.
    fn plan() -> Plan {
        let text = "\
name: P
rounds:
  - name: R1
    iterations:
      - name: a
        requestCount: 1
        httpRequest:
          url: http://127.0.0.1:1/
      - name: b
        requestCount: 1
        httpRequest:
          url: http://127.0.0.1:1/
      - name: c
        requestCount: 1
        httpRequest:
          url: http://127.0.0.1:2/x
";
        parse_plan(text, "p.yaml", Format::Yaml)
            .and_then(|f| f.into_plan(Origin::new("p.yaml")))
            .expect("the test plan is valid")
    }

    #[test]
    fn verdicts() {
        let plan = plan();
        let mut failed = Stats::new();
        failed.record_error(ErrorKind::Connect, 0, 0);
        failed.record_error(ErrorKind::Connect, 0, 0);
        failed.record_response(503, 10, 0, 0);
        failed.record_response(404, 10, 0, 0);
        let mut some_ok = failed.clone();
        some_ok.record_response(200, 10, 0, 0);
        let none = Stats::new();
        let cases = [
            (&failed, false, Verdict::AllFailed(
                "2 connect, 1 HTTP 404, 1 HTTP 503 against http://127.0.0.1:1/, http://127.0.0.1:2/x".into(),
            ), EXIT_FAILED),
            (&some_ok, false, Verdict::Ok, EXIT_OK),
            (&none, false, Verdict::NoneCompleted, EXIT_FAILED),
            (&none, true, Verdict::Ok, EXIT_OK),
        ];
        for (total, interrupted, verdict, code) in cases {
            let got = Verdict::of(&plan, total, interrupted);
            assert_eq!(got, verdict);
            assert_eq!(got.exit_code(), code);
        }
    }
}
