//! LPS's watchdog acted on: a settings file's `Watchdog` section pauses a
//! real run while this node is over its limits, says so, and reports the
//! pauses; without the section nothing pauses.

mod common;

use std::time::{Duration, Instant};

use common::{Scratch, Target, lps_json, u};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `lps ARGS` with a settings file holding `watchdog` as its
/// `LPSAppSettings.Watchdog` section; (exit code, report, stderr, wall time).
fn run_with(watchdog: &str, args: &[&str]) -> (i32, serde_json::Value, String, Duration) {
    let dir = Scratch::new("watchdog");
    let settings = dir.write(
        "lpsSettings.json",
        format!(r#"{{"LPSAppSettings": {{"Watchdog": {watchdog}}}}}"#),
    );
    let mut all = args.to_vec();
    all.extend(["--settings", settings.to_str().expect("utf-8 path")]);
    let began = Instant::now();
    let (code, report, stderr) = lps_json(&all, LIMIT);
    (code, report, stderr, began.elapsed())
}

/// A memory limit every process is over: 2 MB, resuming below 1 MB.
const OVER_MEMORY: &str =
    r#"{"MaxMemoryMB": 2, "CoolDownMemoryMB": 1, "CoolDownRetryTimeInMs": 50"#;

#[test]
fn a_node_over_its_memory_limit_sends_nothing_and_still_ends_on_time() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let (code, report, stderr, took) = run_with(
        &format!("{OVER_MEMORY}}}"),
        &["--url", &url, "-im", "D", "-d", "2"],
    );
    // Nothing was sent: the run failed, with its results all the same.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(u(&report["requests"]["total"]), 0, "{report}");
    assert_eq!(u(&target.stats()["requests"]), 0);
    let w = &report["watchdog"];
    assert_eq!(u(&w["pauses"]), 1, "{report}");
    assert_eq!(u(&w["gave_up"]), 0);
    let reason = w["first_pause_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("memory ") && reason.ends_with(" MB > 2 MB"),
        "{reason}"
    );
    assert!(
        w["first_pause_at_s"].as_f64().is_some_and(|t| t < 0.5),
        "{w}"
    );
    // Paused from the start to the end of the 2 s iteration.
    let paused = w["paused_s"].as_f64().unwrap_or_default();
    assert!((1.8..2.8).contains(&paused), "paused {paused} s: {w}");
    // The deadline ended it, not the watchdog (the process starts, runs 2 s
    // and writes its report).
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(
        stderr.contains("lps: watchdog: load paused: memory "),
        "{stderr}"
    );
    assert!(!stderr.contains("not used by lps"), "{stderr}");
}

#[test]
fn held_longer_than_max_cooling_period_the_load_resumes() {
    let target = Target::start(&["--record-arrivals"]);
    let url = target.url("/");
    // Over its memory limit throughout: held 1 s, then the watchdog gives up
    // for ResumeCoolingAfter (300 s, past the run's end).
    let watchdog = format!(r#"{OVER_MEMORY}, "MaxCoolingPeriod": 1, "ResumeCoolingAfter": 300}}"#);
    let (code, report, stderr, _) = run_with(&watchdog, &["--url", &url, "-im", "D", "-d", "3"]);
    assert_eq!(code, 0, "{stderr}");
    let w = &report["watchdog"];
    assert_eq!((u(&w["pauses"]), u(&w["gave_up"])), (1, 1), "{report}");
    let paused = w["paused_s"].as_f64().unwrap_or_default();
    assert!((1.0..1.6).contains(&paused), "paused {paused} s: {w}");
    assert!(u(&report["requests"]["ok"]) > 0, "{report}");
    // The load ran only in the last ~2 s of the 3: the target's first and
    // last arrivals are that far apart (without the pause, 3 s).
    let arrivals: Vec<u64> = target.stats()["arrivals_us"]
        .as_array()
        .expect("arrivals recorded")
        .iter()
        .map(u)
        .collect();
    let span = (arrivals[arrivals.len() - 1] - arrivals[0]) as f64 / 1e6;
    assert!((1.3..2.1).contains(&span), "the load ran for {span} s");
    assert!(
        stderr.contains("longer than MaxCoolingPeriod (1 s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("lps: watchdog: load resumed after 1."),
        "{stderr}"
    );
}

#[test]
fn requests_in_flight_over_their_limit_pause_the_load_until_they_are_answered() {
    let target = Target::start(&[]);
    let url = target.url("/delay/1500");
    // 10 clients of 2 requests, each answered after 1.5 s: the first
    // snapshot (1 s) shows 10 in flight, over 2; the next (2 s), none.
    let watchdog = r#"{"MaxConcurrentConnectionsCountPerHostName": 2,
        "CoolDownConcurrentConnectionsCountPerHostName": 1, "CoolDownRetryTimeInMs": 50}"#;
    let (code, report, stderr, _) = run_with(watchdog, &["--url", &url, "-rc", "2", "-nc", "10"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 20, "{report}");
    let w = &report["watchdog"];
    assert!(u(&w["pauses"]) >= 1, "{report}");
    assert_eq!(w["first_pause_reason"], "requests in flight 10 > 2", "{w}");
}

#[test]
fn without_a_watchdog_section_or_under_its_limits_nothing_pauses() {
    let target = Target::start(&[]);
    let url = target.url("/");
    // No settings file: no watchdog, and no `watchdog` in the report.
    let (code, report, stderr) = lps_json(&["--url", &url, "-rc", "200", "-nc", "2"], LIMIT);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 400);
    assert!(report.get("watchdog").is_none(), "{report}");
    // Limits far above what a run on loopback reaches: never paused.
    let roomy = r#"{"MaxMemoryMB": 1000000, "CoolDownMemoryMB": 999999,
        "MaxCPUPercentage": 101, "CoolDownCPUPercentage": 100}"#;
    let (code, report, stderr, _) = run_with(roomy, &["--url", &url, "-rc", "200", "-nc", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 400);
    assert_eq!(
        report["watchdog"],
        serde_json::json!({"pauses": 0, "paused_s": 0.0, "first_pause_at_s": null,
            "first_pause_reason": null, "gave_up": 0})
    );
    assert!(!stderr.contains("watchdog"), "{stderr}");
}
