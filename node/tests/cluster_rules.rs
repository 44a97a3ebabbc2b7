//! LPS's rules across a cluster of real processes on loopback: the master
//! judges them on every node's merged data, never on one node's share, and
//! a termination rule ends its iteration on every node.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, ClusterSettings, Lps, Target, args, read_json as json, u};

const LIMIT: Duration = Duration::from_secs(90);

/// The master (running load) and two workers, each with `plan` and `--json NODE.json`.
fn three_nodes(c: &Cluster, plan: &str) -> [Lps; 3] {
    let plan = c.dir.write("plan.yaml", plan);
    let node = |role, ip, name: &str| {
        c.spawn_plan(
            role,
            ip,
            &plan,
            &args(&format!("--threads 1 --json {name}.json")),
        )
    };
    [
        node("master", "127.0.0.1", "master"),
        node("worker", "127.0.0.2", "w1"),
        node("worker", "127.0.0.3", "w2"),
    ]
}

#[test]
fn only_the_merged_data_crosses_the_rule_and_the_master_fails_the_test() {
    let target = Target::start(&[]);
    let c = Cluster::new("rules-merged", ClusterSettings::for_test(2, true));
    // Each node sends 10 requests: alone, none crosses 25; together, 30 do.
    let plan = format!(
        "name: Merged\nrounds:\n  - name: r\n    iterations:\n      - name: i\n        requestCount: 10\n        httpRequest:\n          url: {}\n          method: GET\n        failureRules:\n          - expression: ${{Metrics.r.i.Throughput.RequestsCount}} > 25\n",
        target.url("/")
    );
    let [master, w1, w2] = three_nodes(&c, &plan);
    let (mut master, mut w1, mut w2) = (master, w1, w2);
    let (w1, w2, master) = (w1.wait(LIMIT), w2.wait(LIMIT), master.wait(LIMIT));
    assert_eq!(master.code, Some(4), "{}", master.stderr);
    let report = json(&c.path("master.json"));
    let rule = &report["rules"][0];
    assert_eq!(rule["evaluated"], "30 > 25", "{rule}");
    assert_eq!(rule["failed"], true, "{rule}");
    assert_eq!(u(&report["requests"]["total"]), 30);
    // Each worker judges its own share, which passes.
    for (out, name) in [(&w1, "w1"), (&w2, "w2")] {
        assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
        let own = json(&c.path(&format!("{name}.json")));
        assert_eq!(own["rules"][0]["evaluated"], "10 > 25", "{name}");
        assert_eq!(own["rules"][0]["failed"], false, "{name}");
    }
}

#[test]
fn a_termination_rule_ends_the_iteration_on_every_node_within_its_grace() {
    let target = Target::start(&[]);
    let c = Cluster::new("rules-terminate", ClusterSettings::for_test(2, true));
    // `bad` would run a minute; every answer is a 503.
    let plan = format!(
        "name: Terminate\nrounds:\n  - name: r\n    iterations:\n      - name: bad\n        mode: D\n        duration: 60\n        httpRequest:\n          url: {url}/status/503\n          method: GET\n        terminationRules:\n          - metric: ErrorRate > 0.5\n            gracePeriod: 00:00:01\n      - name: good\n        requestCount: 2\n        httpRequest:\n          url: {url}/\n          method: GET\n",
        url = target.url("")
    );
    let started = Instant::now();
    let [master, w1, w2] = three_nodes(&c, &plan);
    let (mut master, mut w1, mut w2) = (master, w1, w2);
    let (w1, w2, master) = (w1.wait(LIMIT), w2.wait(LIMIT), master.wait(LIMIT));
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(master.code, Some(4), "{}", master.stderr);
    let report = json(&c.path("master.json"));
    let rule = &report["rules"][0];
    assert_eq!(rule["kind"], "termination", "{rule}");
    assert_eq!(rule["failed"], true, "{rule}");
    let at = rule["terminated_at_s"].as_f64().expect("terminated_at_s");
    // The first second's snapshots show the breach; it must then hold for
    // the grace (1 s); the master looks every 250 ms.
    assert!((1.0..8.0).contains(&at), "{rule}");
    // Every node's `bad` ended within a snapshot interval (1 s) of the
    // master's decision, and every node went on to `good`.
    for (out, name) in [(&w1, "w1"), (&w2, "w2")] {
        assert!(
            out.stderr.contains("the master terminated iteration 0"),
            "{name}: {}",
            out.stderr
        );
        let own = json(&c.path(&format!("{name}.json")));
        let bad = &own["iterations"][0];
        let ended = bad["duration_s"].as_f64().expect("duration_s");
        assert!(
            ended < at + 1.0,
            "{name}: ended {ended} s, terminated {at} s"
        );
        let told = bad["terminated_at_s"].as_f64().expect("terminated_at_s");
        assert!(told >= at && told < at + 1.0, "{name}: {told} vs {at}");
        assert_eq!(u(&own["iterations"][1]["requests"]["total"]), 2, "{name}");
    }
    let merged_bad = &report["iterations"][0];
    assert!(
        merged_bad["duration_s"]
            .as_f64()
            .is_some_and(|d| d < at + 1.0),
        "{merged_bad}"
    );
    assert_eq!(u(&report["iterations"][1]["requests"]["total"]), 6);
    // Every node's data up to the end is kept: the master's count is the
    // target's.
    assert_eq!(
        u(&report["requests"]["total"]),
        u(&target.stats()["requests"])
    );
}
