//! `--series` and `--html` with real runs: the per-second rows add up to the
//! report's totals (single node, quick test, cluster master), a series file
//! that names no format is refused before the run, and the HTML report is
//! one file that asks nothing of a network.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{Cluster, ClusterSettings, Scratch, Target, args, closed_port, lps, read_json, u};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);

/// The columns of a series, in order (docs/report.md).
const COLUMNS: &str = "time_s,scope,requests,rps,errors,errors_connect,errors_timeout,\
                       errors_reset,errors_closed,errors_protocol,errors_tls,errors_other,\
                       status_1xx,status_2xx,status_3xx,status_4xx,status_5xx,p50_us,p90_us,\
                       p99_us,in_flight,bytes_in,bytes_out";

/// A series file's rows, each as its columns' values: CSV by the header,
/// JSON Lines as they are. A CSV cell that is empty is null.
fn rows(path: &Path) -> Vec<BTreeMap<String, Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "csv") {
        let mut lines = text.lines();
        let header = lines.next().expect("a header");
        assert_eq!(header, COLUMNS);
        lines
            .map(|line| {
                // The scopes of these tests hold no comma or quote.
                assert!(!line.contains('"'), "{line}");
                let cells = line.split(',').map(|c| {
                    if c.is_empty() {
                        Value::Null
                    } else if let Ok(n) = c.parse::<u64>() {
                        Value::from(n)
                    } else if let Ok(x) = c.parse::<f64>() {
                        Value::from(x)
                    } else {
                        Value::from(c)
                    }
                });
                header.split(',').map(String::from).zip(cells).collect()
            })
            .collect()
    } else {
        text.lines()
            .map(|line| {
                assert!(line.starts_with("{\"time_s\":"), "keys in order: {line}");
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))
            })
            .collect()
    }
}

/// The rows of one scope.
fn of<'a>(rows: &'a [BTreeMap<String, Value>], scope: &str) -> Vec<&'a BTreeMap<String, Value>> {
    rows.iter().filter(|r| r["scope"] == scope).collect()
}

/// The sum of a column over `rows`.
fn sum(rows: &[&BTreeMap<String, Value>], column: &str) -> u64 {
    rows.iter()
        .map(|r| {
            r[column]
                .as_f64()
                .unwrap_or_else(|| panic!("{column}: {r:?}")) as u64
        })
        .sum()
}

/// A count of the report's, 0 when it has no such key (an error kind or
/// status code that never happened).
fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The `total` rows add up to `report`'s totals, each iteration's to its
/// own, and their seconds follow one another to the run's end.
fn assert_rows_add_up(rows: &[BTreeMap<String, Value>], report: &Value) {
    let total = of(rows, "total");
    assert!(!total.is_empty(), "{rows:?}");
    assert_eq!(sum(&total, "requests"), u(&report["requests"]["total"]));
    assert_eq!(sum(&total, "errors"), u(&report["requests"]["failed"]));
    for kind in [
        "connect", "timeout", "reset", "closed", "protocol", "tls", "other",
    ] {
        let column = format!("errors_{kind}");
        assert_eq!(
            sum(&total, &column),
            count(&report["errors"][kind]),
            "{column}"
        );
    }
    let codes = report["status_codes"].as_object().unwrap();
    for class in 1..=5u64 {
        let in_report: u64 = codes
            .iter()
            .filter(|(code, _)| code.starts_with(&class.to_string()) && code.len() == 3)
            .map(|(_, n)| u(n))
            .sum();
        assert_eq!(sum(&total, &format!("status_{class}xx")), in_report);
    }
    assert_eq!(sum(&total, "bytes_in"), u(&report["bytes"]["received"]));
    assert_eq!(sum(&total, "bytes_out"), u(&report["bytes"]["sent"]));
    let times: Vec<f64> = total
        .iter()
        .map(|r| r["time_s"].as_f64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let end = report["duration_s"].as_f64().unwrap();
    assert!(*times.last().unwrap() >= end - 0.001, "{times:?} to {end}");
    assert!(total.iter().all(|r| r["in_flight"].is_u64()), "{total:?}");
    for it in report["iterations"].as_array().unwrap() {
        let scope = format!(
            "{}/{}",
            it["round"].as_str().unwrap(),
            it["name"].as_str().unwrap()
        );
        let own = of(rows, &scope);
        assert_eq!(
            sum(&own, "requests"),
            u(&it["requests"]["total"]),
            "{scope}"
        );
        assert_eq!(sum(&own, "errors"), u(&it["requests"]["failed"]), "{scope}");
        assert!(own.iter().all(|r| r["in_flight"].is_null()), "{scope}");
    }
}

/// Three iterations one after another: 2 s of 200s (paced), 503s, and
/// connections refused.
fn plan(url: &str) -> String {
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    format!(
        "name: Series\nrounds:\n  - name: r\n    numberOfClients: 2\n    iterations:\n      \
         - name: ok\n        mode: D\n        duration: 2\n        httpRequest:\n          method: GET\n          url: {url}/delay/5\n      \
         - name: bad\n        mode: R\n        requestCount: 30\n        httpRequest:\n          method: GET\n          url: {url}/status/503\n      \
         - name: refused\n        mode: R\n        requestCount: 5\n        httpRequest:\n          method: GET\n          url: {refused}\n"
    )
}

#[test]
fn the_series_rows_add_up_to_the_reports_totals() {
    let target = Target::start(&[]);
    let dir = Scratch::new("series-csv");
    let path = dir.write("plan.yaml", plan(&target.url("")));
    let line = format!(
        "run {} --series s.csv --json r.json -q --threads 2",
        path.display()
    );
    let out = common::Lps::spawn_in(dir.dir(), &args(&line)).wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report = read_json(&dir.path("r.json"));
    let rows = rows(&dir.path("s.csv"));
    assert_rows_add_up(&rows, &report);
    // Each kind of the run is there: 503s and refused connections.
    let total = of(&rows, "total");
    assert_eq!(sum(&total, "status_5xx"), 60);
    assert_eq!(sum(&total, "errors_connect"), 10);
    assert!(total.len() >= 2, "2 s of D: {total:?}");
    assert!(
        total
            .iter()
            .any(|r| r["p99_us"].as_f64().unwrap() >= 5000.0),
        "/delay/5 takes 5 ms: {total:?}"
    );
}

#[test]
fn a_quick_test_writes_its_series_as_json_lines() {
    let target = Target::start(&[]);
    let dir = Scratch::new("series-jsonl");
    let line = format!(
        "-u {} -rc 300 -nc 2 --threads 1 --series s.jsonl --json r.json -q",
        target.url("/")
    );
    let out = common::Lps::spawn_in(dir.dir(), &args(&line)).wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report = read_json(&dir.path("r.json"));
    assert_eq!(u(&report["requests"]["total"]), 600);
    let rows = rows(&dir.path("s.jsonl"));
    assert_rows_add_up(&rows, &report);
    assert_eq!(sum(&of(&rows, "total"), "status_2xx"), 600);
}

#[test]
fn a_series_file_that_names_no_format_is_refused_before_the_run() {
    let target = Target::start(&[]);
    let dir = Scratch::new("series-bad");
    for name in ["s.json", "series"] {
        let line = format!("-u {} -rc 5 --series {name} -q", target.url("/"));
        let out = common::Lps::spawn_in(dir.dir(), &args(&line)).wait(LIMIT);
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert_eq!(
            out.stderr.trim(),
            format!(
                "lps: error: --series: {name}: the extension must be .csv (CSV), or .jsonl or \
                 .ndjson (JSON Lines)"
            )
        );
        assert!(!dir.path(name).exists());
    }
    assert_eq!(u(&target.stats()["requests"]), 0);
}

#[test]
fn a_master_writes_the_clusters_merged_series_and_a_worker_refuses_one() {
    let target = Target::start(&[]);
    let url = target.url("/");
    let c = Cluster::new("series", ClusterSettings::for_test(1, true));
    let run = format!("-u {url} -rc 200 -nc 2 --threads 1");
    let refused = c
        .spawn(
            "worker",
            "127.0.0.3",
            &args(&format!("{run} --series w.csv")),
        )
        .wait(LIMIT);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("--series: a worker writes no --series file; give --series to the master"),
        "{}",
        refused.stderr
    );
    let mut master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --series m.ndjson --json m.json")),
    );
    let mut worker = c.spawn("worker", "127.0.0.2", &args(&run));
    let (worker, master) = (worker.wait(LIMIT), master.wait(LIMIT));
    assert_eq!(worker.code, Some(0), "{}", worker.stderr);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    let report = read_json(&c.path("m.json"));
    assert_eq!(u(&report["requests"]["total"]), 800, "two nodes' share");
    let rows = rows(&c.path("m.ndjson"));
    assert_rows_add_up(&rows, &report);
}

#[test]
fn the_html_report_is_one_file_that_needs_no_network() {
    let target = Target::start(&[]);
    let dir = Scratch::new("html-file");
    let line = format!(
        "-u {} -rc 50 -nc 1 --threads 1 --html r.html -q",
        target.url("/")
    );
    let out = common::Lps::spawn_in(dir.dir(), &args(&line)).wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let html = std::fs::read_to_string(dir.path("r.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..100]);
    assert!(
        html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"),
        "a policy that lets nothing load"
    );
    // Nothing the page could load: no source, no stylesheet, no absolute URL
    // but the target's, inside the data.
    for outside in ["src=", "<link rel=\"stylesheet\"", "https://", "@import"] {
        assert!(!html.contains(outside), "{outside}");
    }
    let open = "<script type=\"application/json\" id=\"lps-report\">";
    let start = html.find(open).expect("the data block") + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(u(&data["summary"]["requests"]["total"]), 50);
    assert_eq!(data["state"]["finished"], true);
    assert!(!data["series"].as_array().unwrap().is_empty(), "{data}");
}

#[test]
fn an_html_report_that_cannot_be_written_is_refused_before_the_run() {
    let target = Target::start(&[]);
    let dir = Scratch::new("html-unwritable");
    let out = lps(
        &[
            "-u",
            &target.url("/"),
            "-rc",
            "5",
            "-q",
            "--html",
            dir.path("no/such/dir/r.html").to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--html: cannot write "),
        "{}",
        out.stderr
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}
