//! LPS 3.x journeys against the built-in target's journey routes: variables
//! and environments, a captured token carried by every later request, data
//! picked from a captured body, skipIf, retry conditions, and the counts the
//! report gives. The target's own counters say what was sent.

mod common;

use std::time::Duration;

use common::{Scratch, Target, lps, lps_json, u};

const LIMIT: Duration = Duration::from_secs(60);

/// A login, two authorized reads capturing the catalogue, a cart line with
/// the second item's id, and a tag with the environment's value.
fn shop(base: &str) -> String {
    format!(
        r#"name: Shop
variables:
  - name: base
    value: {base}
  - name: clients
    value: 3
  - name: who
    value: default
environments:
  - name: qa
    variables:
      - name: who
        value: qa-user
rounds:
  - name: shop
    numberOfClients: ${{clients}}
    iterations:
      - name: login
        httpRequest:
          url: ${{base}}/login
          method: POST
          headers:
            Content-Type: application/json
          payload:
            raw: '{{"user": "${{who}}-$counter(start=1, isGlobal=true)", "password": "x"}}'
          capture:
            to: auth
            as: Json
      - name: items
        requestCount: 2
        httpRequest:
          url: ${{base}}/api/items
          method: GET
          headers:
            Authorization: Bearer ${{auth.Body.token}}
          capture:
            to: items
            as: Json
      - name: cart
        httpRequest:
          skipIf: ${{items.StatusCode}} != 200
          url: ${{base}}/api/cart
          method: POST
          headers:
            Authorization: Bearer ${{auth.Body.token}}
          payload:
            raw: '{{"itemId": ${{items.Body[1].id}}, "quantity": 2}}'
      - name: tag
        httpRequest:
          url: ${{base}}/tag/${{who}}
          method: GET
"#
    )
}

fn run(dir: &Scratch, plan: &str, extra: &[&str]) -> serde_json::Value {
    let path = dir.write("plan.yaml", plan);
    let mut args = vec!["run", path.to_str().expect("utf-8 path")];
    args.extend(extra);
    let (code, report, stderr) = lps_json(&args, LIMIT);
    assert_eq!(code, 0, "{stderr}");
    report
}

#[test]
fn every_request_carries_the_captured_token_and_the_environment_changes_what_is_sent() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey");
    let report = run(&dir, &shop(&target.url("")), &["-e", "qa"]);
    assert_eq!(u(&report["requests"]["ok"]), 3 * 5, "{report}");
    assert_eq!(u(&report["requests"]["unresolved"]), 0, "{report}");
    let j = &target.stats()["journey"];
    // Each client logged in as its own user, and each of its four API
    // calls carried the token it captured.
    for n in 1..=3 {
        let user = format!("qa-user-{n}");
        assert_eq!(u(&j["logins"][&user]), 1, "{j}");
        assert_eq!(u(&j["authorized"][&user]), 3, "{j}");
    }
    assert_eq!(u(&j["unauthorized"]), 0, "{j}");
    // The cart line took the second item's id from the captured list.
    assert_eq!(u(&j["cart"]["2"]), 3, "{j}");
    assert_eq!(u(&j["tags"]["qa-user"]), 3, "{j}");
    // Without -e, the plan's own value is sent.
    let report = run(&dir, &shop(&target.url("")), &[]);
    assert_eq!(u(&report["requests"]["ok"]), 15, "{report}");
    let j = &target.stats()["journey"];
    assert_eq!(u(&j["tags"]["default"]), 3, "{j}");
    assert_eq!(u(&j["logins"]["default-1"]), 1, "{j}");
}

#[test]
fn captures_work_the_same_over_h2c() {
    // Every request over HTTP/2 with prior knowledge: captured bodies and
    // status codes come from HTTP/2 responses.
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-h2c");
    let plan = shop(&target.url("")).replace(
        "          url: ",
        "          version: '2.0'\n          supportH2C: true\n          url: ",
    );
    let report = run(&dir, &plan, &["-e", "qa"]);
    assert_eq!(u(&report["requests"]["ok"]), 15, "{report}");
    assert_eq!(
        u(&report["connections"]["http2"]),
        u(&report["connections"]["opened"])
    );
    let j = &target.stats()["journey"];
    for n in 1..=3 {
        assert_eq!(u(&j["authorized"][&format!("qa-user-{n}")]), 3, "{j}");
    }
    assert_eq!(u(&j["unauthorized"]), 0, "{j}");
    assert_eq!(u(&j["cart"]["2"]), 3, "{j}");
}

#[test]
fn skipped_requests_are_not_sent_and_reads_of_nothing_are_counted() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-skip");
    let plan = format!(
        r#"name: Skip
variables:
  - name: doc
    value: '{{"a": 1}}'
    as: Json
rounds:
  - name: r
    numberOfClients: 2
    iterations:
      - name: never
        requestCount: 3
        httpRequest:
          skipIf: 1 = 1
          url: {url}/tag/skipped
          method: GET
      - name: skipped-iteration
        skipIf: '"a" == "a"'
        httpRequest:
          url: {url}/tag/skipped-too
          method: GET
      - name: unknown
        httpRequest:
          url: {url}/tag/x${{doc.nosuch}}
          method: GET
"#,
        url = target.url("")
    );
    let report = run(&dir, &plan, &[]);
    let its = &report["iterations"];
    assert_eq!(u(&its[0]["requests"]["skipped"]), 6, "{report}");
    assert_eq!(u(&its[0]["requests"]["total"]), 0, "{report}");
    assert_eq!(u(&its[1]["requests"]["skipped"]), 2, "{report}");
    // A path a variable does not have reads nothing, and is counted.
    assert_eq!(u(&its[2]["requests"]["unresolved"]), 2, "{report}");
    let tags = &target.stats()["journey"]["tags"];
    assert!(
        tags.get("skipped").is_none() && tags.get("skipped-too").is_none(),
        "{tags}"
    );
    assert_eq!(u(&tags["x"]), 2, "{tags}");
    assert_eq!(u(&report["requests"]["skipped"]), 8, "{report}");
}

#[test]
fn a_retry_condition_reads_the_response_it_captured() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-retry");
    let plan = |path: &str| {
        format!(
            r#"name: Retry
rounds:
  - name: r
    iterations:
      - name: r
        httpRequest:
          url: {url}{path}
          method: GET
          capture:
            to: last
          retry:
            if: ${{last.StatusCode}} >= 500
            maxRetries: 3
            delayInMs: 10
"#,
            url = target.url("")
        )
    };
    let report = run(&dir, &plan("/status/200"), &[]);
    assert_eq!(u(&report["requests"]["total"]), 1, "{report}");
    let path = dir.write("plan.yaml", plan("/status/503"));
    let out = lps(
        &[
            "run",
            path.to_str().expect("utf-8"),
            "--json",
            "-",
            "--quiet",
        ],
        LIMIT,
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a report");
    assert_eq!(u(&report["requests"]["failed"]), 4, "{report}");
}

#[test]
fn a_variable_the_plan_never_sets_is_an_error_at_its_line() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-unset");
    let plan = format!(
        "name: Typo\nrounds:\n  - name: r\n    iterations:\n      - name: login\n        httpRequest:\n          url: {url}/login\n          method: POST\n          capture:\n            to: auth\n      - name: me\n        httpRequest:\n          url: {url}/api/me\n          method: GET\n          headers:\n            Authorization: Bearer ${{auht.Body.token}}\n",
        url = target.url("")
    );
    let path = dir.write("plan.yaml", plan);
    let out = lps(&["run", path.to_str().expect("utf-8")], LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("plan.yaml:11: rounds[0].iterations[1].httpRequest.headers.Authorization: variable \"auht\" is not set by the plan"),
        "{}",
        out.stderr
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}

#[test]
fn a_malformed_expression_is_an_error_at_its_line() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-expr");
    // `||` is not Flee's: LPS would take the skipIf as false on every request.
    let plan = format!(
        "name: Expr\nvariables:\n  - name: n\n    value: 1\nrounds:\n  - name: r\n    iterations:\n      - name: i\n        skipIf: ${{n}} = 1 || ${{n}} = 2\n        httpRequest:\n          url: {}\n          method: GET\n",
        target.url("/")
    );
    let path = dir.write("plan.yaml", plan);
    let out = lps(&["run", path.to_str().expect("utf-8")], LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("plan.yaml:9: rounds[0].iterations[0].skipIf: \"${n} = 1 || ${n} = 2\" is not an expression lps can evaluate"),
        "{}",
        out.stderr
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}

#[test]
fn a_fault_in_a_script_names_its_line_before_any_load() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-fault");
    let plan = format!(
        "name: Bad\nrounds:\n  - name: r\n    iterations:\n      - name: i\n        httpRequest:\n          url: {}\n          method: GET\n          headers:\n            X-Id: $frobnicate(a=1)\n",
        target.url("/")
    );
    let path = dir.write("plan.yaml", plan);
    let out = lps(&["run", path.to_str().expect("utf-8")], LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("plan.yaml:5: rounds[0].iterations[0].httpRequest.headers.X-Id: unknown method $frobnicate()"),
        "{}",
        out.stderr
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}

#[test]
fn the_example_journey_runs_every_step_with_each_clients_token() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-example");
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/journey.yaml");
    let text = std::fs::read_to_string(example).expect("the example");
    let report = run(
        &dir,
        &text.replace("127.0.0.1:8080", &target.addr.to_string()),
        &[],
    );
    // 4 clients: login, 3 reads, a cart line, a checkout.
    assert_eq!(u(&report["requests"]["ok"]), 4 * 6, "{report}");
    assert_eq!(u(&report["requests"]["skipped"]), 0, "{report}");
    assert_eq!(u(&report["requests"]["unresolved"]), 0, "{report}");
    let j = &target.stats()["journey"];
    for n in 1..=4 {
        assert_eq!(u(&j["authorized"][&format!("shopper-{n}")]), 5, "{j}");
    }
    // The first item in stock is item 1.
    assert_eq!(u(&j["cart"]["1"]), 4, "{j}");
    assert_eq!(u(&j["checkouts"]), 4, "{j}");
}

/// A plan whose `clients` each take a row of `users.csv` (in the directory
/// lps runs in) with `strategy` and send `/tag/<name>`; an iteration with
/// no row is skipped.
fn feeder_plan(url: &str, clients: u32, strategy: &str) -> String {
    format!(
        r#"name: Feed
rounds:
  - name: r
    numberOfClients: {clients}
    iterations:
      - name: tag
        before:
          - $feed(source=users.csv, strategy={strategy}, variable=user)
        skipIf: '"${{user.name}}" == ""'
        httpRequest:
          url: {url}/tag/${{user.name}}
          method: GET
"#
    )
}

/// Runs `plan` with lps in `dir` (a feeder's file is relative to it).
fn run_in(dir: &Scratch, plan: &str) -> serde_json::Value {
    dir.write("plan.yaml", plan);
    let out =
        common::Lps::spawn_in(dir.dir(), &["run", "plan.yaml", "--json", "-", "-q"]).wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

#[test]
fn each_client_takes_its_own_row_from_a_queue_feeder() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-feed");
    dir.write("users.csv", "name,password\nann,a1\nbob,b2\ncyd,c3\n");
    let report = run_in(&dir, &feeder_plan(&target.url(""), 3, "queue"));
    assert_eq!(u(&report["requests"]["ok"]), 3, "{report}");
    assert_eq!(u(&report["requests"]["unresolved"]), 0, "{report}");
    let tags = &target.stats()["journey"]["tags"];
    for name in ["ann", "bob", "cyd"] {
        assert_eq!(u(&tags[name]), 1, "{tags}");
    }
    assert_eq!(tags.as_object().map(|t| t.len()), Some(3), "{tags}");
}

#[test]
fn a_used_up_queue_leaves_the_clients_without_a_row_skipped() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-feed-out");
    dir.write("users.csv", "name\nann\nbob\ncyd\n");
    let report = run_in(&dir, &feeder_plan(&target.url(""), 5, "queue"));
    assert_eq!(u(&report["requests"]["ok"]), 3, "{report}");
    assert_eq!(u(&report["requests"]["skipped"]), 2, "{report}");
    // Each of the two: its $feed call and its skipIf's read of user.name.
    assert_eq!(u(&report["requests"]["unresolved"]), 4, "{report}");
    let tags = &target.stats()["journey"]["tags"];
    for name in ["ann", "bob", "cyd"] {
        assert_eq!(u(&tags[name]), 1, "{tags}");
    }
    assert_eq!(tags.as_object().map(|t| t.len()), Some(3), "{tags}");
    // Circular goes round instead: 5 clients, 3 rows.
    let target = Target::start(&[]);
    let report = run_in(&dir, &feeder_plan(&target.url(""), 5, "circular"));
    assert_eq!(u(&report["requests"]["ok"]), 5, "{report}");
    let tags = &target.stats()["journey"]["tags"];
    let counts: Vec<u64> = ["ann", "bob", "cyd"].iter().map(|n| u(&tags[*n])).collect();
    assert_eq!(counts, [2, 2, 1], "{tags}");
}

#[test]
fn a_feeders_short_csv_row_stops_the_plan_before_any_load() {
    let target = Target::start(&[]);
    let dir = Scratch::new("journey-feed-bad");
    dir.write("users.csv", "name,password\nann,a1\nbob\n");
    dir.write("plan.yaml", feeder_plan(&target.url(""), 2, "queue"));
    let out = common::Lps::spawn_in(dir.dir(), &["run", "plan.yaml"]).wait(LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "plan.yaml:8: rounds[0].iterations[0].before[0]: $feed: \"users.csv\" line 3: 1 column(s), the header has 2"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}
