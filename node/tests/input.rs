//! Bad input gets one clear line and exit code 2; plans round-trip through
//! `lps create`, `lps add` and `lps run`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{ClusterSettings, Finished, Scratch, Target, args, lps};

const LIMIT: Duration = Duration::from_secs(30);

/// Runs lps and expects it to succeed.
fn ok(args: &[&str]) -> Finished {
    let out = lps(args, LIMIT);
    assert_eq!(out.code, Some(0), "lps {args:?}\nstderr: {}", out.stderr);
    out
}

/// Runs lps, expects exit 2 and a single-line error containing `needle`.
fn bad(args: &[&str], needle: &str) {
    let out = lps(args, LIMIT);
    let stderr = out.stderr;
    assert_eq!(out.code, Some(2), "lps {args:?}\nstderr: {stderr}");
    // A plan in the older format is announced on a line of its own.
    let older = "LPS 3.x plans put numberOfClients on rounds";
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.ends_with(older)).collect();
    assert_eq!(
        lines.len(),
        1,
        "one line expected for {args:?}, got:\n{stderr}"
    );
    assert!(lines[0].starts_with("lps: error: "), "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_command_lines() {
    let url = "http://127.0.0.1:9/";
    bad(&["--bogus"], "unexpected argument '--bogus'");
    // clap's lists (missing arguments, conflicts) stay on the one line.
    bad(
        &["run"],
        "the following required arguments were not provided: <PLAN>",
    );
    bad(
        &["--url", "ftp://x/", "-rc", "1"],
        "scheme \"ftp\" is not http or https",
    );
    bad(&["--url", "http:///nohost", "-rc", "1"], "httpRequest.url");
    bad(&["--url", url, "-rc", "1", "-nc", "0"], "numberOfClients");
    bad(
        &["--url", url, "-rc", "1", "-nc", "4294967295"],
        "numberOfClients: must be at most 1000000",
    );
    bad(&["--url", url], "iterationMode R requires requestCount");
    bad(
        &["--url", url, "-d", "5", "-im", "CB"],
        "iterationMode CB requires batchSize",
    );
    // An option the mode ignores: 100 requests, not 10 seconds of them.
    bad(
        &["--url", url, "-rc", "100", "-d", "10"],
        "--duration does not apply to iterationMode R, which uses --requestCount",
    );
    bad(&["--url", url, "-rc", "5", "-im", "XYZ"], "--iterationMode");
    bad(&["--url", url, "-rc", "abc"], "invalid value 'abc'");
    bad(&["--url", url, "-rc", "5", "-hv", "3"], "--httpVersion");
    bad(&["--url", url, "-rc", "5", "-h", "NoColon"], "--header");
    // lps frames the body itself: a user's framing header would replace its
    // Content-Length while the body went out unchanged.
    bad(
        &[
            "--url",
            url,
            "-hm",
            "POST",
            "-p",
            "hello",
            "-h",
            "Content-Length: 0",
            "-rc",
            "5",
        ],
        "--header \"Content-Length: 0\": lps frames the payload itself",
    );
    bad(
        &["--url", url, "-rc", "5", "-h", "transfer-encoding: chunked"],
        "--header \"transfer-encoding: chunked\": lps frames the payload itself",
    );
    bad(&["--url", url, "-rc", "5", "--rate", "0"], "--rate");
    bad(
        &[
            "--url", url, "-rc", "5", "-im", "CRB", "-bs", "2", "-cdt", "10", "--rate", "10",
        ],
        "--rate applies to modes R and D",
    );
    bad(&["--url", url, "-rc", "5", "--timeout", "0"], "--timeout");
    // Values past what a clock can add are refused, not overflowed.
    for huge in ["1e19", "1e20"] {
        bad(&["--url", url, "-rc", "5", "--timeout", huge], "--timeout");
    }
    bad(
        &["--url", url, "-im", "D", "-d", "10000000000000000000"],
        "duration must be at most 31536000 seconds",
    );
    bad(
        &["--url", url, "-rc", "1", "-rp", "18446744073709551615"],
        "rampupPeriod: must be at most 31536000000 milliseconds",
    );
    bad(
        &[
            "--url",
            url,
            "-rc",
            "1",
            "-im",
            "CRB",
            "-bs",
            "1",
            "-cdt",
            "18446744073709551615",
        ],
        "coolDownTime must be at most",
    );
    bad(&["--url", url, "-rc", "5", "--rate", "1e-20"], "--rate");
    bad(
        &["--url", url, "-rc", "5", "--threads", "4294967296"],
        "--threads must be at most 4096",
    );
    bad(&["-rc", "5"], "no --url given");
    // Found before the run, not after it.
    bad(
        &[
            "--url",
            url,
            "-rc",
            "5",
            "--json",
            "/nonexistent/dir/r.json",
        ],
        "--json: cannot write /nonexistent/dir/r.json",
    );
    bad(
        &[
            "--url",
            url,
            "-rc",
            "5",
            "--histogram",
            "/nonexistent/dir/h.log",
        ],
        "--histogram: cannot write /nonexistent/dir/h.log",
    );
    bad(&["run", "/nonexistent/plan.yaml"], "/nonexistent/plan.yaml");
}

#[test]
fn bad_cluster_certificates_name_the_file() {
    let dir = Scratch::new("pem");
    let cert = dir.write("c.pem", "not a certificate");
    let key = dir.write("k.pem", "not a key");
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let settings = dir.write("s.json", ClusterSettings::at(9).tls(cert_s, key_s).json());
    let line = format!(
        "--settings {} --role master -u http://127.0.0.1:9/ -rc 1",
        settings.display()
    );
    bad(
        &args(&line),
        &format!("{} (Cluster TLS settings) is not PEM", cert.display()),
    );
}

#[test]
fn bad_plans_name_file_line_and_key() {
    let dir = Scratch::new("plans");
    // Plans in lps's older format (a plan-level numberOfClients or an
    // iterationMode marks it); LPS 3.x plans have their own tests (lps3.rs).
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown.yaml",
            "name: P\nnumberOfClients: 1\nrounds:\n  - name: R1\n    iterations:\n      - name: a\n        requestCont: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n",
            "unknown.yaml:7",
        ),
        (
            "missing.yaml",
            "name: P\nrounds:\n  - name: R1\n    iterations:\n      - name: a\n        iterationMode: D\n        httpRequest:\n          url: http://127.0.0.1:9/\n",
            "requires duration",
        ),
        (
            "type.json",
            "{\n  \"name\": \"P\",\n  \"numberOfClients\": \"four\",\n  \"rounds\": []\n}\n",
            "type.json:3",
        ),
        (
            "two.yaml",
            "name: P\nrounds:\n  - name: R1\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n---\nname: Q\n",
            "two.yaml:10:1: a plan is one YAML document",
        ),
        (
            "syntax.json",
            "{\n  \"name\": \"P\",\n  \"rounds\": [\n",
            "syntax.json",
        ),
        (
            "framing.yaml",
            "name: P\nnumberOfClients: 1\nrounds:\n  - name: R1\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n          payload: hello\n          headers:\n            Content-Length: 0\n",
            "framing.yaml:12: rounds[0].iterations[0] \"a\": httpRequest.headers \"Content-Length\" is not allowed",
        ),
    ];
    for (file, text, needle) in cases {
        let path = dir.write(file, text);
        bad(&["run", path.to_str().unwrap()], needle);
    }
}

#[test]
fn create_add_run_round_trip() {
    let target = Target::start(&[]);
    let dir = Scratch::new("roundtrip");
    let plan = dir.path("plan.yaml");
    let plan_s = plan.to_str().unwrap();
    let url = target.url("/");
    let echo = target.url("/echo");
    ok(&args(&format!(
        "create {plan_s} -tn RoundTrip -nc 2 -rn home -u {url} -rc 30"
    )));
    let add =
        format!("add {plan_s} -rn post -u {echo} -hm POST -p ping -im CRB -rc 10 -bs 5 -cdt 10");
    ok(&[&args(&add)[..], &["-h", "X-Test: 1"]].concat());
    // Creating over an existing plan is refused rather than overwriting it.
    bad(
        &["create", plan_s, "-u", &url, "-rc", "1"],
        "already exists",
    );
    // add appends an iteration; the plan's own options are not silently dropped.
    bad(
        &[
            "add", plan_s, "-rn", "x", "-u", &url, "-rc", "1", "-nc", "9",
        ],
        "--numberOfClients is the plan's",
    );
    let out = ok(&["run", plan_s, "--json", "-", "-q"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["test"], "RoundTrip");
    assert_eq!(report["clients"], 2);
    assert_eq!(report["requests"]["total"], 80);
    let its = report["iterations"].as_array().unwrap();
    assert_eq!(its.len(), 2);
    assert_eq!(its[0]["name"], "home");
    assert_eq!(its[0]["requests"]["total"], 60);
    assert_eq!(its[1]["name"], "post");
    assert_eq!(its[1]["method"], "POST");
    assert_eq!(its[1]["mode"], "CRB");
    assert_eq!(its[1]["requests"]["total"], 20);
    // The echo of "ping" came back in each response body.
    let echoed = its[1]["bytes"]["received"].as_u64().unwrap();
    assert!(echoed >= 20 * 4, "{echoed}");
    assert_eq!(target.stats()["requests"], 80);
}

#[test]
fn example_plans_load_and_run() {
    let target = Target::start(&[]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        // The examples target 127.0.0.1:8080; point them at this test's target.
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("127.0.0.1:8080", &target.addr.to_string());
        let dir = Scratch::new(&format!("example-{seen}"));
        let copy = dir.write(path.file_name().unwrap().to_str().unwrap(), text);
        let out = ok(&["run", copy.to_str().unwrap(), "--json", "-", "-q"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["requests"]["total"].as_u64().unwrap() > 0);
        seen += 1;
    }
    assert!(
        seen >= 2,
        "two example plans expected in {}",
        root.display()
    );
}

#[test]
fn help_lists_every_lps_option_with_defaults() {
    let out = lps(&["--help"], LIMIT);
    assert_eq!(out.code, Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--url",
        "--testName",
        "--runName",
        "--numberOfClients",
        "--rampupPeriod",
        "--delayClientCreation",
        "--runInParallel",
        "--httpMethod",
        "--header",
        "--payload",
        "--httpVersion",
        "--iterationMode",
        "--requestCount",
        "--duration",
        "--batchSize",
        "--coolDownTime",
        "--maximizeThroughput",
        "--timeout",
        "--rate",
        "--threads",
        "--json",
        "--histogram",
        "[default: Quick-Test-Plan]",
        "[default: 1.1]",
    ] {
        assert!(
            help.contains(needle),
            "{needle} missing from --help:\n{help}"
        );
    }
}

#[test]
fn run_in_parallel_decides_whether_iterations_of_a_round_overlap() {
    let target = Target::start(&[]);
    let slow = target.url("/delay/300");
    for (parallel, min_s, max_s) in [("true", 0.28, 0.55), ("false", 0.58, 1.2)] {
        let dir = Scratch::new(&format!("rip-{parallel}"));
        let plan = dir.path("plan.json");
        let plan_s = plan.to_str().unwrap();
        ok(&[
            "create", plan_s, "-rip", parallel, "-rn", "a", "-u", &slow, "-rc", "1",
        ]);
        ok(&["add", plan_s, "-rn", "b", "-u", &slow, "-rc", "1"]);
        let out = ok(&["run", plan_s, "--json", "-", "-q"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["requests"]["total"], 2);
        // Two 300 ms requests: together in parallel, one after the other if not.
        let d = report["duration_s"].as_f64().unwrap();
        assert!(
            (min_s..max_s).contains(&d),
            "runInParallel {parallel}: {d} s"
        );
    }
}
