//! LPS's failure rules: judged on the run's data when it ends, exit code 4
//! when one holds, each with its observed value in the report.

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
    assert_eq!(r[2]["failed"], false, "{r}");
    assert!(
        stderr.contains("lps: failure rule held: r/bad: ErrorRate > 0.5 (observed 1)"),
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
        stderr.contains("lps: failure rule held: r/slow: TTFB.P50 > 250 (observed 3"),
        "{stderr}"
    );
}
