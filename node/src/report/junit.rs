//! `--junit PATH`: the run's verdict and each failure rule as JUnit XML test
//! cases, which CI systems show as tests (issue 17).

use super::json::Report;
use super::outcome::Verdict;

/// The JUnit document: one suite named after the test, a `run` case that
/// fails when the run did (every request failed, none completed), and a
/// case per failure rule that fails when the rule held.
pub fn xml(report: &Report, verdict: &Verdict) -> String {
    let mut cases = Vec::new();
    let run_failure = match verdict {
        Verdict::AllFailed(why) => Some(format!("every request failed: {why}")),
        Verdict::NoneCompleted => Some("no request completed".to_owned()),
        Verdict::Ok | Verdict::RulesFailed(_) => None,
    };
    let requests = format!(
        "{} requests, {} failed",
        report.total.requests.total, report.total.requests.failed
    );
    cases.push(case(
        "lps",
        "run",
        report.duration_s,
        run_failure.map(|why| (why, requests)),
    ));
    for r in &report.rules {
        let seen = r.seen();
        let failure = r.failed.then(|| (format!("{} held", r.rule), seen));
        cases.push(case(
            &format!("{}.{}", r.round, r.iteration),
            &r.rule,
            0.0,
            failure,
        ));
    }
    let failures = cases.iter().filter(|c| c.contains("<failure")).count();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n{}  </testsuite>\n</testsuites>\n",
        escape(&report.test),
        cases.len(),
        report.duration_s,
        cases.concat()
    )
}

/// One `<testcase>`, with its `<failure>` when `failure` is given.
fn case(class: &str, name: &str, time: f64, failure: Option<(String, String)>) -> String {
    let head = format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{time:.3}\"",
        escape(class),
        escape(name)
    );
    match failure {
        None => format!("{head}/>\n"),
        Some((message, text)) => format!(
            "{head}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
            escape(&message),
            escape(&text)
        ),
    }
}

/// XML's five escapes; control characters other than tab and newline,
/// which XML 1.0 does not allow, become spaces.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_xml_needs() {
        assert_eq!(
            escape("a < b & \"c\" 'd' > e\u{1}"),
            "a &lt; b &amp; &quot;c&quot; &apos;d&apos; &gt; e "
        );
        assert_eq!(
            case("r.i", "x > 1", 0.0, None),
            "    <testcase classname=\"r.i\" name=\"x &gt; 1\" time=\"0.000\"/>\n"
        );
        let failed = case("r.i", "n", 1.5, Some(("m".into(), "t".into())));
        assert!(
            failed.contains("<failure message=\"m\">t</failure>"),
            "{failed}"
        );
    }
}
