//! `lps compare`: reports of real runs against the built-in target, and
//! hand-written reports with known differences, side by side; the verdicts
//! and the exit codes (0 within limits, 4 over one, 2 bad input).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Scratch, Target, lps};

const LIMIT: Duration = Duration::from_secs(60);

/// `lps compare ARGS`: exit code, stdout, stderr.
fn compare(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["compare"];
    all.extend(args);
    let out = lps(&all, LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.code.unwrap_or(-1), stdout, out.stderr)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 scratch path")
}

/// Runs 2 clients x 40 requests to `path` on the target, writing the JSON
/// report and the histogram log as `name`.json and `name`.hlog.
fn run(target: &Target, path: &str, dir: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let (json, hlog) = (
        dir.path(&format!("{name}.json")),
        dir.path(&format!("{name}.hlog")),
    );
    let url = target.url(path);
    let out = lps(
        &[
            "-u",
            &url,
            "-rc",
            "40",
            "-nc",
            "2",
            "-hv",
            "1.1",
            "-q",
            "--json",
            s(&json),
            "--histogram",
            s(&hlog),
        ],
        LIMIT,
    );
    // Every request of /status/503 fails: the run fails, its report stays.
    assert!(matches!(out.code, Some(0 | 1)), "{}", out.stderr);
    (json, hlog)
}

/// The line of the table for `figure` in the block of `row`.
fn line<'a>(table: &'a str, row: &str, figure: &str) -> &'a str {
    let block = table
        .split("\n\n")
        .find(|b| b.starts_with(&format!("{row}:")))
        .unwrap_or_else(|| panic!("no block {row} in\n{table}"));
    block
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{figure} ")))
        .unwrap_or_else(|| panic!("no {figure} in\n{block}"))
}

#[test]
fn a_slower_run_is_worse_and_fails_its_limits() {
    let target = Target::start(&[]);
    let dir = Scratch::new("compare-real");
    let (fast, fast_log) = run(&target, "/delay/1", &dir, "fast");
    let (slow, slow_log) = run(&target, "/delay/40", &dir, "slow");
    let iteration = "Quick-Test-Round / Quick-Http-Iteration";

    // No limits: the table, and exit 0 whatever it says.
    let (code, table, stderr) = compare(&[s(&fast), s(&slow)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("\ntotal: worse\n"), "{table}");
    assert!(
        table.contains(&format!("\n{iteration}: worse\n")),
        "{table}"
    );
    assert!(
        line(&table, "total", "requests").ends_with("+0.0 %  same"),
        "{table}"
    );
    assert!(line(&table, "total", "error_rate").ends_with("+0.00 points  same"));
    for figure in ["p50", "p90", "p99", "max"] {
        assert!(
            line(&table, iteration, figure).ends_with("worse"),
            "{table}"
        );
    }
    assert!(line(&table, "total", "rps").ends_with("worse"), "{table}");

    // Over a limit: exit 4, the breach in the table, one line on stderr.
    let (code, table, stderr) = compare(&[s(&fast), s(&slow), "--max-regression", "p99=10%"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        table.contains("Limits: p99 may rise 10 %: 2 exceeded"),
        "{table}"
    );
    assert!(table.contains(&format!("  {iteration}: p99 ")), "{table}");
    assert_eq!(stderr, "lps: 2 limits exceeded (exit 4)\n");

    // The other way round: better, and within the limits.
    let (code, table, stderr) = compare(&[
        s(&slow),
        s(&fast),
        "--max-regression",
        "p99=10%,rps=5%,error_rate=0.01",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("\ntotal: better\n"), "{table}");
    assert!(table.contains(": all kept\n"), "{table}");
    assert_eq!(stderr, "");

    // The histogram logs: the two distributions do not overlap.
    let doc = dir.path("cmp.json");
    let (code, _, stderr) = compare(&[
        s(&fast),
        s(&slow),
        "--histograms",
        s(&fast_log),
        s(&slow_log),
        "--json",
        s(&doc),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let doc = common::read_json(&doc);
    let total = &doc["histograms"][0];
    assert_eq!(total["tag"], "total");
    assert_eq!(total["base"]["count"], 80);
    assert_eq!(total["new"]["count"], 80);
    assert!(common::u(&total["new"]["p50"]) >= 40_000, "{total}");
    let gap = total["largest_gap"].as_f64().expect("a gap");
    assert!(gap > 0.9, "{total}");
    assert_eq!(doc["passed"], true);
}

#[test]
fn errors_break_an_error_rate_limit() {
    let target = Target::start(&[]);
    let dir = Scratch::new("compare-errors");
    let (ok, _) = run(&target, "/delay/1", &dir, "ok");
    let (failing, _) = run(&target, "/status/503", &dir, "failing");
    let (code, table, stderr) =
        compare(&[s(&ok), s(&failing), "--max-regression", "error_rate=0.01"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        line(&table, "total", "error_rate").ends_with("0.00 %     100.00 %  +100.00 points  worse"),
        "{table}"
    );
    assert!(
        table.contains(
            "  total: error_rate 0.00 % -> 100.00 % (+100.00 points); the limit: error_rate may rise 1.00 points\n"
        ),
        "{table}"
    );
    // The same limit in a YAML file.
    let limits = dir.write("limits.yaml", "error_rate: 0.01\n");
    let (code, _, _) = compare(&[s(&ok), s(&failing), "--limits", s(&limits)]);
    assert_eq!(code, 4);
}

/// A report with the fields `lps compare` reads, and a cluster's `nodes`.
fn report(total: &str, iterations: &[(&str, &str)], nodes: usize) -> String {
    let its: Vec<String> = iterations
        .iter()
        .map(|(name, figures)| format!(r#"{{"round": "R", "name": "{name}", {figures}}}"#))
        .collect();
    let nodes = match nodes {
        0 => String::new(),
        n => format!(r#", "nodes": [{}]"#, vec![r#"{"id": "n"}"#; n].join(", ")),
    };
    format!(
        r#"{{"schema_version": 1, "test": "shop", "started_at": "2025-06-01T10:00:00.000Z",
        {total}, "iterations": [{}]{nodes}}}"#,
        its.join(", ")
    )
}

/// Figures: requests, failed, rps, then p50, p90, p99, p99.9, max in µs.
fn figures(requests: u64, failed: u64, rps: f64, l: [u64; 5]) -> String {
    format!(
        r#""requests": {{"total": {requests}, "ok": {}, "failed": {failed}}}, "throughput_rps": {rps},
        "latency_us": {{"min": 1, "mean": 1.0, "p50": {}, "p90": {}, "p99": {}, "p999": {}, "max": {}}}"#,
        requests - failed,
        l[0],
        l[1],
        l[2],
        l[3],
        l[4]
    )
}

const TABLE: &str = r#"BASE  base.json: "shop", started 2025-06-01T10:00:00.000Z, one node
NEW   new.json: "shop", started 2025-06-01T10:00:00.000Z, a cluster of 3 nodes
Same: within ±2 % (the error rate: ±0.1 points)

total: worse
  figure              BASE          NEW          change  verdict
  requests            1000         1200         +20.0 %  better
  rps                500.0        600.0         +20.0 %  better
  error_rate        1.00 %       5.00 %    +4.00 points  worse
  p50               1.00ms       1.01ms          +1.0 %  same
  p90               2.00ms       2.50ms         +25.0 %  worse
  p99               4.00ms       3.00ms         -25.0 %  better
  p99.9             8.00ms       8.00ms          +0.0 %  same
  max              10.00ms      20.00ms        +100.0 %  worse

R / login: same
  figure              BASE          NEW          change  verdict
  requests             400          400          +0.0 %  same
  rps                200.0        200.0          +0.0 %  same
  error_rate        0.00 %       0.00 %    +0.00 points  same
  p50                500µs        500µs          +0.0 %  same
  p90                900µs        900µs          +0.0 %  same
  p99               1.00ms       1.00ms          +0.0 %  same
  p99.9             2.00ms       2.00ms          +0.0 %  same
  max               3.00ms       3.00ms          +0.0 %  same

R / browse: worse
  figure              BASE          NEW          change  verdict
  requests             600          800         +33.3 %  better
  rps                300.0        400.0         +33.3 %  better
  error_rate        1.67 %       7.50 %    +5.83 points  worse
  p50               1.20ms       1.50ms         +25.0 %  worse
  p90               2.40ms       2.40ms          +0.0 %  same
  p99               4.00ms       3.00ms         -25.0 %  better
  p99.9             8.00ms       8.00ms          +0.0 %  same
  max              10.00ms      20.00ms        +100.0 %  worse

R / checkout: missing in NEW

R / search: in NEW only (no baseline)
"#;

#[test]
fn hand_written_reports_with_known_differences() {
    let dir = Scratch::new("compare-known");
    let login = figures(400, 0, 200.0, [500, 900, 1000, 2000, 3000]);
    let base = report(
        &figures(1000, 10, 500.0, [1000, 2000, 4000, 8000, 10_000]),
        &[
            ("login", &login),
            (
                "browse",
                &figures(600, 10, 300.0, [1200, 2400, 4000, 8000, 10_000]),
            ),
            ("checkout", &figures(1, 0, 1.0, [1, 1, 1, 1, 1])),
        ],
        0,
    );
    let new = report(
        &figures(1200, 60, 600.0, [1010, 2500, 3000, 8000, 20_000]),
        &[
            ("login", &login),
            (
                "browse",
                &figures(800, 60, 400.0, [1500, 2400, 3000, 8000, 20_000]),
            ),
            ("search", &figures(1, 0, 1.0, [1, 1, 1, 1, 1])),
        ],
        3,
    );
    dir.write("base.json", base);
    dir.write("new.json", new);
    let in_dir = |args: &[&str]| {
        let mut all = vec!["compare", "base.json", "new.json"];
        all.extend(args);
        let out = common::Lps::spawn_in(dir.dir(), &all).wait(LIMIT);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.code.unwrap_or(-1), stdout, out.stderr)
    };

    let (code, table, stderr) = in_dir(&[]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(table, TABLE);

    // Within 5 points of error rate, the total keeps it and browse does
    // not; max rose 10 ms; checkout cannot be checked.
    let (code, table, stderr) = in_dir(&["--max-regression", "p99=10%,max=5ms,error_rate=0.05"]);
    assert_eq!(code, 4, "{stderr}");
    let limits = &table[TABLE.len()..];
    assert_eq!(
        limits,
        "\nLimits: p99 may rise 10 %, max may rise 5.00ms, error_rate may rise 5.00 points: 4 exceeded
  total: max 10.00ms -> 20.00ms (+100.0 %); the limit: max may rise 5.00ms
  R / browse: max 10.00ms -> 20.00ms (+100.0 %); the limit: max may rise 5.00ms
  R / browse: error_rate 1.67 % -> 7.50 % (+5.83 points); the limit: error_rate may rise 5.00 points
  R / checkout: missing in NEW, its limits cannot be checked
"
    );
    assert_eq!(stderr, "lps: 4 limits exceeded (exit 4)\n");

    // A wider noise band: the p50 of browse (+25 %) is the same.
    let (_, table, _) = in_dir(&["--noise", "30"]);
    assert!(
        line(&table, "R / browse", "p50").ends_with("+25.0 %  same"),
        "{table}"
    );

    // The JSON comparison.
    let (code, json, _) = in_dir(&["--json", "-", "--max-regression", "p90=0%"]);
    assert_eq!(code, 4);
    let doc: serde_json::Value = serde_json::from_str(&json).expect("JSON on stdout");
    assert_eq!(doc["new"]["nodes"], 3);
    assert_eq!(doc["base"]["nodes"], 1);
    let names: Vec<(&str, &str)> = doc["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("?"),
                r["presence"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("total", "both"),
            ("login", "both"),
            ("browse", "both"),
            ("checkout", "missing_in_new"),
            ("search", "only_in_new")
        ]
    );
    let p90 = &doc["rows"][0]["figures"][4];
    assert_eq!(p90["figure"], "p90");
    assert_eq!(
        (p90["base"].as_f64(), p90["new"].as_f64()),
        (Some(2000.0), Some(2500.0))
    );
    assert_eq!(p90["change_pct"], 25.0);
    assert_eq!(p90["verdict"], "worse");
    assert_eq!(doc["breaches"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["passed"], false);

    // Every figure within its limits, but checkout is missing: still 4.
    let (code, table, _) = in_dir(&[
        "--max-regression",
        "p90=25%,error_rate=6pp,max=10ms,p50=300us",
    ]);
    assert_eq!(code, 4, "{table}");
    assert!(
        table.ends_with(
            ": 1 exceeded\n  R / checkout: missing in NEW, its limits cannot be checked\n"
        ),
        "{table}"
    );
    // A report against itself keeps any limit: exit 0.
    let same = dir.path("new.json");
    let out = lps(
        &[
            "compare",
            s(&same),
            s(&same),
            "--max-regression",
            "p90=0%,rps=0%",
        ],
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = Scratch::new("compare-bad");
    let good = dir.write(
        "good.json",
        report(&figures(1, 0, 1.0, [1, 1, 1, 1, 1]), &[], 0),
    );
    let not_json = dir.write("not.json", "lps\n");
    let old = dir.write("old.json", r#"{"schema_version": 0}"#);
    let missing = dir.path("missing.json");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec![s(&good), s(&good), "--max-regression", "p99=10"],
            String::new(),
        ),
        (
            vec![s(&good), s(&good), "--max-regression", "p95=10%"],
            r#"lps: error: --max-regression: "p95=10%": unknown figure "p95"; the figures are requests, rps, error_rate, p50, p90, p99, p99.9, max"#.into(),
        ),
        (
            vec![s(&good), s(&good), "--max-regression", "rps=3ms"],
            r#"lps: error: --max-regression: "rps=3ms": unit "ms" does not apply to rps; it takes %, or requests per second without a unit or with rps"#.into(),
        ),
        (
            vec![s(&good), s(&not_json)],
            format!("lps: error: {}: not an lps JSON report: expected value at line 1 column 1", s(&not_json)),
        ),
        (
            vec![s(&old), s(&good)],
            format!("lps: error: {}: schema_version 0; lps compare reads version 1 reports", s(&old)),
        ),
        (
            vec![s(&good), s(&missing)],
            format!("lps: error: cannot read {}: No such file or directory (os error 2)", s(&missing)),
        ),
        (
            vec![s(&good), s(&good), "--histograms", s(&good), s(&good)],
            format!("lps: error: {}: not an HdrHistogram log: line 1", s(&good)),
        ),
        (
            vec![s(&good), s(&good), "--noise", "-1"],
            "lps: error: --noise must be a number of percent, 0 or more, got -1".into(),
        ),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = compare(&args);
        if expected.is_empty() {
            // p99=10 is an absolute limit of 10 µs: good input.
            assert_eq!(code, 0, "{args:?}: {stderr}");
            continue;
        }
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end(), expected, "{args:?}");
        assert_eq!(stdout, "", "{args:?}");
    }
}
