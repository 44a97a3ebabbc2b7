//! LPS's rules on one node: failure rules judged on the run's data when it
//! ends, termination rules judged live (an iteration ends once one held for
//! its grace period); exit code 4 when one holds, each with its observed
//! value in the report.

mod common;

use std::time::Duration;

use common::{Scratch, Target, lps, u};

const LIMIT: Duration = Duration::from_secs(60);

/// Half the requests answer 503: one iteration of `/status/503`, one of `/`.
fn plan(url: &str, rules: &str) -> String {
    format!(
        "name: Rules\nrounds:\n  - name: r\n    iterations:\n      - name: bad\n        requestCount: 4\n        httpRequest:\n          url: {url}/status/503\n          method: GET\n{rules}      - name: good\n        requestCount: 4\n        httpRequest:\n          url: {url}/\n          method: GET\n"
    )
}

fn run(dir: &Scratch, text: &str) -> (Option<i32>, serde_json::Value, String) {
    let path = dir.write("plan.yaml", text);
    let out = lps(
        &["run", path.to_str().expect("utf-8"), "--json", "-", "-q"],
        LIMIT,
    );
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.code, report, out.stderr)
}

#[test]
fn a_failure_rule_that_holds_fails_the_test_with_exit_code_4() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-fail");
    let rules = "        failureRules:\n          - metric: ErrorRate > 0.5\n            errorStatusCodes: \">= 500\"\n          - metric: TotalTime.P90 > 60000\n          - metric: rps < 0.001\n";
    let (code, report, stderr) = run(&dir, &plan(&target.url(""), rules));
    assert_eq!(code, Some(4), "{stderr}");
    let r = &report["rules"];
    assert_eq!(r[0]["rule"], "ErrorRate > 0.5");
    assert_eq!(r[0]["observed"], 1.0);
    assert_eq!(r[0]["failed"], true);
    assert_eq!(r[1]["failed"], false, "{r}");
    assert!(r[1]["observed"].as_f64().is_some_and(|ms| ms > 0.0), "{r}");
    // LPS's RPS counts successful requests only: none of these 503s.
    assert_eq!(
        (&r[2]["observed"], &r[2]["failed"]),
        (&0.0.into(), &true.into()),
        "{r}"
    );
    assert!(
        stderr.contains("lps: failure rule r/bad: ErrorRate > 0.5 (observed 1)"),
        "{stderr}"
    );
    assert_eq!(u(&report["requests"]["total"]), 8);
}

#[test]
fn rules_that_do_not_hold_pass_and_codes_choose_the_errors() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-pass");
    // 503s are not 4xx: this error rate is 0.
    let rules = "        failureRules:\n          - metric: ErrorRate > 0\n            errorStatusCodes: between 400 and 499\n          - metric: ErrorRate between 0.9 and 1\n            errorStatusCodes: = 404\n";
    let (code, report, stderr) = run(&dir, &plan(&target.url(""), rules));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["rules"][0]["observed"], 0.0);
    assert_eq!(report["rules"][1]["failed"], false);
}

#[test]
fn a_rule_lps_cannot_read_is_an_error_at_its_line() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-bad");
    let rules = "        failureRules:\n          - metric: TotalTime.P10 > 250\n";
    let (code, _, stderr) = run(&dir, &plan(&target.url(""), rules));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "plan.yaml:11: rounds[0].iterations[0].failureRules[0]: .p10 is not an aggregation"
        ),
        "{stderr}"
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}

#[test]
fn junit_lists_the_run_and_each_rule_as_test_cases() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-junit");
    let rules = "        failureRules:\n          - metric: ErrorRate > 0.5\n          - metric: TotalTime.Max > 60000\n";
    let path = dir.write("plan.yaml", plan(&target.url(""), rules));
    let junit = dir.path("rules.xml");
    let out = lps(
        &[
            "run",
            path.to_str().expect("utf-8"),
            "-q",
            "--junit",
            junit.to_str().expect("utf-8"),
        ],
        LIMIT,
    );
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let xml = std::fs::read_to_string(&junit).expect("the JUnit file");
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"Rules\" tests=\"3\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"lps\" name=\"run\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"r.bad\" name=\"ErrorRate &gt; 0.5\"")
            && xml.contains("<failure message=\"ErrorRate &gt; 0.5 held\">observed 1</failure>"),
        "{xml}"
    );
    assert!(
        xml.contains("name=\"TotalTime.Max &gt; 60000\" time=\"0.000\"/>"),
        "{xml}"
    );
    // Opened and closed in pairs: well formed enough for any CI reader.
    assert_eq!(xml.matches("<testcase").count(), 3);
    assert_eq!(xml.matches("</testcase>").count(), 1);
}

/// `bad` (503s) for up to a minute, then `good` (200s) 4 times.
fn long_plan(url: &str, rules: &str) -> String {
    format!(
        "name: Rules\nrounds:\n  - name: r\n    iterations:\n      - name: bad\n        mode: D\n        duration: 60\n        httpRequest:\n          url: {url}/status/503\n          method: GET\n{rules}      - name: good\n        requestCount: 4\n        httpRequest:\n          url: {url}/\n          method: GET\n"
    )
}

#[test]
fn a_termination_rule_ends_its_iteration_after_its_grace_and_the_test_fails() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-terminate");
    let rules = "        terminationRules:\n          - metric: ErrorRate > 0.5\n            gracePeriod: 00:00:01\n";
    let started = std::time::Instant::now();
    let (code, report, stderr) = run(&dir, &long_plan(&target.url(""), rules));
    let took = started.elapsed();
    assert_eq!(code, Some(4), "{stderr}");
    // Not the minute the iteration asks for.
    assert!(took < Duration::from_secs(20), "{took:?}");
    let r = &report["rules"][0];
    assert_eq!(r["kind"], "termination", "{r}");
    assert_eq!(r["failed"], true, "{r}");
    assert_eq!(r["observed"], 1.0, "{r}");
    assert_eq!(r["grace_s"], 1.0, "{r}");
    // The breach is seen once the first second's data is in, and must
    // then last the grace.
    let at = r["terminated_at_s"].as_f64().expect("terminated_at_s");
    assert!((1.0..15.0).contains(&at), "{r}");
    let bad = &report["iterations"][0];
    assert!(
        bad["duration_s"].as_f64().is_some_and(|d| d < at + 3.0),
        "{bad}"
    );
    // The clients went on to the next iteration.
    assert_eq!(u(&report["iterations"][1]["requests"]["total"]), 4);
    assert!(
        stderr.contains("lps: iteration r/bad terminated: the rule \"ErrorRate > 0.5\" held for its whole grace period of 1s"),
        "{stderr}"
    );
}

#[test]
fn an_expression_over_the_metrics_terminates_as_a_metric_does() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-expression");
    let rules = "        terminationRules:\n          - expression: ${Metrics.r.bad.Throughput.ErrorRate} > 0.5 && ${Metrics.r.bad.Throughput.RequestsCount} >= 10\n";
    let (code, report, stderr) = run(&dir, &long_plan(&target.url(""), rules));
    assert_eq!(code, Some(4), "{stderr}");
    let r = &report["rules"][0];
    assert_eq!(r["failed"], true, "{r}");
    assert_eq!(r["observed"], serde_json::Value::Null, "{r}");
    let evaluated = r["evaluated"].as_str().expect("evaluated");
    assert!(evaluated.starts_with("1 > 0.5 && "), "{r}");
    assert_eq!(u(&report["iterations"][1]["requests"]["total"]), 4);
}

#[test]
fn a_breach_shorter_than_the_grace_terminates_nothing() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-grace");
    // Holds from the first response on, but the iteration lasts 2 s and
    // the grace is a minute.
    let rules = "        terminationRules:\n          - metric: TotalTime.Max > 0\n            gracePeriod: 00:01:00\n";
    let text = long_plan(&target.url(""), rules)
        .replace("duration: 60", "duration: 2")
        .replace("/status/503", "/");
    let (code, report, stderr) = run(&dir, &text);
    assert_eq!(code, Some(0), "{stderr}");
    let r = &report["rules"][0];
    assert_eq!(r["failed"], false, "{r}");
    assert_eq!(r["terminated_at_s"], serde_json::Value::Null, "{r}");
    let bad = &report["iterations"][0];
    assert!(
        bad["duration_s"].as_f64().is_some_and(|d| d >= 2.0),
        "{bad}"
    );
}

/// The README's CI example against this target: `broken` turns browsing
/// into 503s.
fn ci_example(target: &Target, broken: bool) -> String {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/ci.yaml");
    let text = std::fs::read_to_string(example).expect("the example");
    let text = text.replace("127.0.0.1:8080", &target.addr.to_string());
    if broken {
        text.replace("/delay/2", "/status/503")
    } else {
        text
    }
}

#[test]
fn the_readme_ci_example_passes_a_healthy_build_and_fails_a_broken_one() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-ci");
    let plan = dir.write("ci.yaml", ci_example(&target, false));
    let gate = |json: &str, junit: &str| {
        let out = lps(
            &[
                "run",
                plan.to_str().expect("utf-8"),
                "--json",
                dir.path(json).to_str().expect("utf-8"),
                "--junit",
                dir.path(junit).to_str().expect("utf-8"),
                "--html",
                dir.path("report.html").to_str().expect("utf-8"),
                "-q",
            ],
            LIMIT,
        );
        (out.code, out.stderr)
    };
    let (code, stderr) = gate("baseline.json", "baseline.xml");
    assert_eq!(code, Some(0), "{stderr}");
    let compare = |new: &str| {
        let out = lps(
            &[
                "compare",
                dir.path("baseline.json").to_str().expect("utf-8"),
                dir.path(new).to_str().expect("utf-8"),
                "--max-regression",
                "error_rate=0.01",
            ],
            LIMIT,
        );
        (out.code, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    // The same build again passes its rules and the comparison.
    let (code, stderr) = gate("new.json", "new.xml");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(compare("new.json").0, Some(0));
    let html = std::fs::read_to_string(dir.path("report.html")).expect("the HTML report");
    assert!(
        html.contains("id=\"lps-report\"") && html.contains("CiGate"),
        "the data is in the page"
    );
    let junit = std::fs::read_to_string(dir.path("new.xml")).expect("JUnit");
    assert!(junit.contains("tests=\"5\" failures=\"0\""), "{junit}");
    // A build that answers 503: its rules fail, and the comparison too.
    std::fs::write(&plan, ci_example(&target, true)).expect("plan");
    let (code, stderr) = gate("broken.json", "broken.xml");
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("failure rule smoke/browse: ErrorRate > 0.01"),
        "{stderr}"
    );
    let (code, table) = compare("broken.json");
    assert_eq!(code, Some(4), "{table}");
    let junit = std::fs::read_to_string(dir.path("broken.xml")).expect("JUnit");
    assert!(
        junit.contains("failures=\"1\"") || junit.contains("failures=\"2\""),
        "{junit}"
    );
}

#[test]
fn a_ttfb_rule_is_judged_on_the_time_to_first_byte() {
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-ttfb");
    let url = target.url("");
    // The target answers `/delay/300` 300 ms after the request: TTFB.P50 is
    // over 250 ms. No TLS on http://: a TLS rule has nothing to judge.
    let rules = "        failureRules:\n          - metric: TTFB.P50 > 250\n          - metric: TimeToFirstByte.Max > 60000\n          - metric: TCPHandshake.Max > 60000\n          - metric: TLS.P50 > 0\n";
    let text = format!(
        "name: Ttfb\nrounds:\n  - name: r\n    iterations:\n      - name: slow\n        requestCount: 3\n        httpRequest:\n          url: {url}/delay/300\n          method: GET\n{rules}"
    );
    let (code, report, stderr) = run(&dir, &text);
    assert_eq!(code, Some(4), "{stderr}");
    let r = &report["rules"];
    assert_eq!(r[0]["rule"], "TTFB.P50 > 250");
    assert_eq!(r[0]["failed"], true, "{r}");
    let observed = r[0]["observed"].as_f64().expect("a TTFB was observed");
    // Milliseconds, read from the same histogram as the report's ttfb_us.
    assert!(observed >= 300.0, "{r}");
    assert_eq!(
        observed,
        u(&report["iterations"][0]["ttfb_us"]["p50"]) as f64 / 1000.0
    );
    assert_eq!(r[1]["failed"], false, "{r}");
    assert_eq!(r[2]["failed"], false, "{r}");
    assert!(r[2]["observed"].as_f64().is_some(), "{r}");
    assert_eq!(r[3]["observed"], serde_json::Value::Null, "{r}");
    assert_eq!(r[3]["failed"], false, "{r}");
    assert!(
        stderr.contains("lps: failure rule r/slow: TTFB.P50 > 250 (observed 3"),
        "{stderr}"
    );
}
