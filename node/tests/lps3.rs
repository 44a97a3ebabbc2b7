//! LPS 3.x plans run with LPS's semantics (docs/dev/lps3-spec.md section 2):
//! rounds in sequence with fresh clients, client arrivals and stages, startup
//! delays, iterations one after another, batch timing and HTTP versions.
//! Times are those the built-in target recorded (`--record-arrivals`).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Scratch, Target, lps, lps_json, u};

const LIMIT: Duration = Duration::from_secs(60);

/// Arrival times (ms, from the first) at the target.
fn arrivals_ms(target: &Target) -> Vec<f64> {
    let stats = target.stats();
    let us: Vec<u64> = stats["arrivals_us"]
        .as_array()
        .expect("arrivals recorded")
        .iter()
        .map(u)
        .collect();
    us.iter().map(|t| (t - us[0]) as f64 / 1000.0).collect()
}

/// Runs the plan `text` (YAML, `{url}` replaced by the target's base URL)
/// and returns the report; the run must succeed.
fn run_plan(name: &str, text: &str, url: &str, extra: &[&str]) -> serde_json::Value {
    let dir = Scratch::new(name);
    let path = dir.write("plan.yaml", text.replace("{url}", url));
    let mut args = vec!["run", path.to_str().expect("utf-8 path")];
    args.extend(extra);
    let (code, report, stderr) = lps_json(&args, LIMIT);
    assert_eq!(code, 0, "{stderr}");
    report
}

/// `gap` is `expected` ms, give or take what a loaded machine adds.
fn near(gap: f64, expected: f64) -> bool {
    gap >= expected - 5.0 && gap <= expected + 120.0
}

#[test]
fn rounds_run_in_sequence_with_a_barrier_across_cores_and_fresh_clients() {
    let target = Target::start(&["--record-arrivals"]);
    // Round A's second client starts 500 ms after the first, so on two
    // cores one core is done with round A 500 ms before the other: round B
    // must wait for it.
    let plan = "\
name: Seq
rounds:
  - name: A
    numberOfClients: 2
    arrivalDelay: 500
    iterations:
      - name: slow
        requestCount: 3
        httpRequest:
          method: GET
          url: {url}/delay/300
  - name: B
    numberOfClients: 3
    iterations:
      - name: fast
        httpRequest:
          method: GET
          url: {url}/
";
    let report = run_plan("seq", plan, &target.url(""), &["--threads", "2"]);
    assert_eq!(u(&report["requests"]["ok"]), 9, "{report}");
    let t = arrivals_ms(&target);
    assert_eq!(t.len(), 9);
    // Round A: 0, 300, 600 and 500, 800, 1100; its last answer at 1400.
    assert!(near(t[5], 1100.0), "{t:?}");
    for b in &t[6..] {
        assert!(*b >= t[5] + 295.0, "round B before round A ended: {t:?}");
    }
    // Every round has its own clients: 2 connections, then 3 (the target
    // also counts the test's two /stats connections).
    assert_eq!(u(&target.stats()["connections"]), 5 + 2);
    assert_eq!(u(&report["connections"]["opened"]), 5);
}

#[test]
fn stages_and_the_round_startup_delay_follow_lps_timing() {
    let target = Target::start(&["--record-arrivals"]);
    // spec 2.2: offset += startupDelay; client i at offset + i * arrival;
    // offset += (n - 1) * arrival. Stage 1: 100, 300; stage 2: 300 + 300 =
    // 600, 700. Round Later starts 400 ms after Ramp's last answer.
    let plan = "\
name: Stages
rounds:
  - name: Ramp
    stages:
      - numberOfClients: 2
        arrivalDelay: 200
        startupDelay: 100
      - numberOfClients: 2
        arrivalDelay: 100
        startupDelay: 300
    iterations:
      - name: one
        httpRequest:
          method: GET
          url: {url}/
  - name: Later
    startupDelay: 400
    iterations:
      - name: two
        httpRequest:
          method: GET
          url: {url}/
";
    run_plan("stages", plan, &target.url(""), &[]);
    let t = arrivals_ms(&target);
    assert_eq!(t.len(), 5, "{t:?}");
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip([200.0, 300.0, 100.0, 400.0]) {
        assert!(near(*gap, expected), "gaps {gaps:?}");
    }
}

#[test]
fn iterations_run_one_after_another_after_their_startup_delay() {
    let target = Target::start(&["--record-arrivals"]);
    // runInParallel defaults to false: `then` starts once `first` is done
    // (200 ms after its second request), then waits its own 300 ms.
    let plan = "\
name: Think
rounds:
  - name: R
    iterations:
      - name: first
        requestCount: 2
        httpRequest:
          method: GET
          url: {url}/delay/200
      - name: then
        startupDelay: 300
        httpRequest:
          method: GET
          url: {url}/
";
    run_plan("think", plan, &target.url(""), &[]);
    let t = arrivals_ms(&target);
    assert_eq!(t.len(), 3, "{t:?}");
    assert!(near(t[1], 200.0), "{t:?}");
    assert!(near(t[2] - t[1], 500.0), "{t:?}");
}

#[test]
fn batches_do_not_wait_for_the_batch_before() {
    let target = Target::start(&[]);
    // The example: each request takes a second; a batch of 5 goes
    // out every 200 ms for 3 s: 15 batches (lps's old default, waiting for
    // each batch, sent 3). maximizeThroughput times them the same way.
    let plan = "\
name: Batches
rounds:
  - name: Sleep
    iterations:
      - name: dcb
        mode: DCB
        duration: 3
        batchSize: 5
        coolDownTime: 200
        httpRequest:
          method: GET
          url: {url}/delay/1000
  - name: Poll
    iterations:
      - name: precise
        mode: DCB
        duration: 1
        batchSize: 5
        coolDownTime: 200
        maximizeThroughput: true
        httpRequest:
          method: GET
          url: {url}/delay/1000
";
    let report = run_plan("batches", plan, &target.url(""), &[]);
    let its = report["iterations"].as_array().expect("iterations");
    let ok = |i: usize| u(&its[i]["requests"]["ok"]);
    assert!((70..=75).contains(&ok(0)), "{}", its[0]);
    assert_eq!(u(&its[0]["requests"]["total"]), ok(0), "{}", its[0]);
    assert_eq!(ok(1), 25, "{}", its[1]);
}

/// A server that speaks only HTTP/1.1: it answers each request with 200 and
/// closes; a connection that opens with the HTTP/2 preface is counted and
/// closed. Serves `connections` connections.
fn http1_only(connections: usize) -> (String, Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let prefaces = Arc::new(AtomicU64::new(0));
    let seen = prefaces.clone();
    let server = std::thread::spawn(move || {
        for conn in listener.incoming().take(connections) {
            let mut conn = conn.expect("accept");
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            if buf[..n].starts_with(b"PRI * HTTP/2.0") {
                seen.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            // The peer may be gone; the test counts what lps recorded.
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, prefaces, server)
}

#[test]
fn http2_over_http_is_http11_unless_h2c_is_asked_for() {
    let plan = |url: &str, h2c: bool| {
        format!(
            "name: V\nrounds:\n  - name: R\n    iterations:\n      - name: v\n        requestCount: 3\n        httpRequest:\n          method: GET\n          url: {url}\n          version: '2.0'\n          supportH2C: {h2c}\n"
        )
    };
    let dir = Scratch::new("versions");
    // 2.0 (LPS's default) over http:// without supportH2C: HTTP/1.1.
    let (url, prefaces, server) = http1_only(3);
    let path = dir.write("h1.yaml", plan(&url, false));
    let (code, report, stderr) = lps_json(&["run", path.to_str().expect("utf-8")], LIMIT);
    server.join().expect("server thread");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 3, "{report}");
    assert_eq!(prefaces.load(Ordering::SeqCst), 0);
    // The report tells what was asked from what was spoken.
    assert_eq!(report["iterations"][0]["http_version"], "2");
    assert_eq!(u(&report["connections"]["opened"]), 3, "{report}");
    assert_eq!(u(&report["connections"]["http2"]), 0, "{report}");
    // supportH2C: HTTP/2 with prior knowledge; the HTTP/1.1 server sees the preface.
    let (url, prefaces, server) = http1_only(1);
    let path = dir.write("h2c-refused.yaml", plan(&url, true));
    lps(&["run", path.to_str().expect("utf-8"), "--quiet"], LIMIT);
    server.join().expect("server thread");
    assert_eq!(prefaces.load(Ordering::SeqCst), 1);
    // ... and lps target, which speaks h2c, answers it.
    let target = Target::start(&[]);
    let path = dir.write("h2c.yaml", plan(&target.url("/"), true));
    let (code, report, stderr) = lps_json(&["run", path.to_str().expect("utf-8")], LIMIT);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 3, "{report}");
    assert_eq!(report["iterations"][0]["http_version"], "2");
    assert_eq!(u(&report["connections"]["opened"]), 1, "{report}");
    assert_eq!(u(&report["connections"]["http2"]), 1, "{report}");
}

#[test]
fn rounds_are_selected_by_name_and_tag_and_warnings_are_shown_once() {
    let target = Target::start(&[]);
    let plan = "\
name: Select
rounds:
  - name: A
    tags: [smoke]
    iterations:
      - name: a
        requestCount: 1
        httpRequest: {method: GET, url: '{url}/'}
  - name: B
    iterations:
      - name: b
        requestCount: 2
        unknownKey: 1
        httpRequest: {method: GET, url: '{url}/'}
  - name: C
    tags: [Slow]
    iterations:
      - name: c
        requestCount: 4
        httpRequest: {method: GET, url: '{url}/'}
";
    let dir = Scratch::new("select");
    let path = dir.write("plan.yaml", plan.replace("{url}", &target.url("")));
    let file = path.to_str().expect("utf-8");
    let (code, report, stderr) =
        lps_json(&["run", file, "-rn", "b", "-t", "SLOW", "-e", "dev"], LIMIT);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 6, "B and C: {report}");
    let warning = format!(
        "warning: {file}:13: key rounds[1].iterations[0].unknownKey is not an LPS key; ignored"
    );
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    assert!(
        stderr.contains("environment \"dev\" is not in the plan"),
        "{stderr}"
    );
    let none = lps(&["run", file, "-t", "nope"], LIMIT);
    assert_eq!(none.code, Some(2), "{}", none.stderr);
    assert!(
        none.stderr.contains("no round matches -t \"nope\""),
        "{}",
        none.stderr
    );
}

#[test]
fn an_older_plan_is_run_with_a_line_saying_so() {
    let target = Target::start(&[]);
    let dir = Scratch::new("older");
    let path = dir.write(
        "old.yaml",
        format!(
            "name: Old\nnumberOfClients: 2\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        iterationMode: R\n        requestCount: 3\n        httpRequest:\n          url: {}\n",
            target.url("/")
        ),
    );
    let file = path.to_str().expect("utf-8");
    let (code, report, stderr) = lps_json(&["run", file], LIMIT);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 6);
    let line = format!(
        "lps: {file} is in the older lps plan format; LPS 3.x plans put numberOfClients on rounds"
    );
    assert_eq!(stderr.matches(&line).count(), 1, "{stderr}");
}

#[test]
fn a_retry_resends_each_request_with_lps_backoff_and_counts_each_send() {
    let target = Target::start(&["--record-arrivals"]);
    // No `if`: LPS resends every request, 1 + maxRetries sends per request
    // command, 100 ms then min(200, 150) ms apart; requestCount counts
    // commands, so 2 commands send 6 requests.
    let plan = "\
name: Retry
rounds:
  - name: R
    iterations:
      - name: again
        requestCount: 2
        httpRequest:
          method: GET
          url: {url}/
          retry:
            maxRetries: '2'
            strategy: Exponential
            delayInMs: 100
            maxDelayInMs: 150
";
    let report = run_plan("retry", plan, &target.url(""), &[]);
    assert_eq!(u(&report["requests"]["ok"]), 6, "{report}");
    assert_eq!(u(&report["requests"]["total"]), 6, "{report}");
    let t = arrivals_ms(&target);
    assert_eq!(t.len(), 6, "{t:?}");
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, expected) in gaps.iter().zip([100.0, 150.0, 0.0, 100.0, 150.0]) {
        assert!(near(*gap, expected), "gaps {gaps:?}");
    }
}

#[test]
fn no_retry_starts_after_a_duration_ends() {
    let target = Target::start(&["--record-arrivals"]);
    // Sends at 0, 400 and 800 ms; the next retry would go at 1200 ms, past
    // the 1 s duration (inside the grace, where it used to go out).
    let plan = "\
name: Deadline
rounds:
  - name: R
    iterations:
      - name: timed
        mode: D
        duration: 1
        httpRequest:
          method: GET
          url: {url}/
          retry:
            maxRetries: 10
            delayInMs: 400
";
    let report = run_plan("retry-deadline", plan, &target.url(""), &[]);
    let t = arrivals_ms(&target);
    assert_eq!(t.len(), 3, "{t:?}");
    assert!(near(t[2], 800.0), "{t:?}");
    assert_eq!(u(&report["requests"]["total"]), 3, "{report}");
}
