//! Bad input gets one clear line and exit code 2; plans round-trip through
//! `lps create`, `round`, `iteration` and `lps run`.

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
    bad(
        &["--url", "http:///nohost", "-rc", "1"],
        "-u/--url: url \"http:///nohost\": missing host",
    );
    bad(&["--url", url, "-rc", "1", "-nc", "0"], "numberOfClients");
    bad(
        &["--url", url, "-rc", "1", "-nc", "1000001"],
        "-nc/--numberOfClients: numberOfClients 1000001 is not between 1 and 1000000",
    );
    bad(
        &["--url", url, "-im", "CB", "-bs", "5"],
        "mode CB requires coolDownTime",
    );
    // An option the mode ignores: 100 requests, not 10 seconds of them.
    bad(
        &["--url", url, "-rc", "100", "-d", "10"],
        "-d/--duration: mode R does not take duration",
    );
    // LPS would run an unknown mode as R; lps refuses it.
    bad(&["--url", url, "-rc", "5", "-im", "XYZ"], "--iterationMode");
    bad(
        &["--url", url, "-rc", "abc"],
        "-rc/--requestCount: \"abc\" is not a whole number",
    );
    // The LPS 2.x spellings point to their LPS 3.x replacements.
    bad(
        &["--url", url, "-tn", "T"],
        "LPS 3.x names the plan with -n/--name",
    );
    bad(&["--url", url, "-rp", "5"], "-ad/--arrivalDelay");
    bad(
        &["--url", url, "-fr", "x"],
        "-fr/--failureRule: \"x\": expected metric, operator and value",
    );
    bad(
        &["--url", url, "-tr", "TotalTime.P90 > 5;5s"],
        "-tr/--terminationRule: gracePeriod: \"5s\" is not a time span",
    );
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
        "-d/--duration: \"10000000000000000000\" is not a whole number",
    );
    bad(
        &["--url", url, "-rc", "1", "-ad", "18446744073709551615"],
        "-ad/--arrivalDelay: \"18446744073709551615\" is not a whole number",
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
        "-cdt/--coolDownTime: \"18446744073709551615\" is not a whole number",
    );
    bad(&["--url", url, "-rc", "5", "--rate", "1e-20"], "--rate");
    bad(
        &["--url", url, "-rc", "5", "--threads", "4294967296"],
        "--threads must be at most 4096",
    );
    bad(
        &["--url", url, "-rc", "5", "--coalesce-us", "1001"],
        "--coalesce-us must be at most 1000, got 1001",
    );
    bad(
        &["--url", url, "-rc", "5", "--coalesce-us", "-1"],
        "--coalesce-us",
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

/// Writes the two-iteration plan of the round-trip tests with LPS's
/// plan-editing commands.
fn edit_plan(plan_s: &str, url: &str, echo: &str) {
    ok(&["create", plan_s, "--name", "RoundTrip"]);
    ok(&args(&format!("round {plan_s} -n Main -nc 2")));
    ok(&args(&format!(
        "iteration {plan_s} -rn Main -n home -im R -rc 30 -hm GET -u {url}"
    )));
    let post = format!(
        "iteration {plan_s} -rn main -n post -u {echo} -hm POST -p ping -im CRB -rc 10 -bs 5 -cdt 10"
    );
    ok(&[&args(&post)[..], &["-h", "X-Test: 1"]].concat());
}

#[test]
fn create_round_iteration_write_a_plan_lps_reads_back() {
    let dir = Scratch::new("roundtrip");
    for name in ["plan.yaml", "plan.json"] {
        let plan = dir.path(name);
        let plan_s = plan.to_str().unwrap();
        edit_plan(plan_s, "http://127.0.0.1:9/", "http://127.0.0.1:9/echo");
        let loaded = lps_config::lps3::load(&plan).unwrap();
        assert_eq!(loaded.warnings, []);
        let p = loaded.plan;
        assert_eq!(p.name, "RoundTrip");
        let [round] = p.rounds.as_slice() else {
            panic!("one round in {name}")
        };
        assert_eq!((round.name.as_str(), round.clients), ("Main", 2));
        let names: Vec<&str> = round.iterations.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["home", "post"]);
        let post = &round.iterations[1];
        assert_eq!(post.request.method, "POST");
        assert_eq!(post.mode.code(), "CRB");
        assert_eq!(
            post.request.headers,
            [("X-Test".to_owned(), "1".to_owned())]
        );
        assert_eq!(
            post.request.payload,
            lps_config::lps3::Payload::Raw("ping".into())
        );
    }
    // The same edit again replaces the iteration instead of adding one.
    let plan = dir.path("plan.yaml");
    let plan_s = plan.to_str().unwrap();
    ok(&args(&format!(
        "iteration {plan_s} -rn Main -n HOME -im R -rc 5 -hm GET -u http://127.0.0.1:9/"
    )));
    let p = lps_config::lps3::load(&plan).unwrap().plan;
    assert_eq!(p.rounds[0].iterations.len(), 2);
    assert_eq!(p.rounds[0].iterations[0].name, "HOME");
    // A plan the check refuses is not written.
    let before = std::fs::read_to_string(&plan).unwrap();
    bad(
        &args(&format!("round {plan_s} -n Other -nc 0")),
        "plan.yaml: not written: ",
    );
    bad(
        &args(&format!(
            "iteration {plan_s} -rn Nowhere -n x -im R -hm GET -u http://127.0.0.1:9/"
        )),
        "no round named \"Nowhere\"",
    );
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), before);
}

#[test]
fn created_plans_run() {
    let target = Target::start(&[]);
    let dir = Scratch::new("roundtrip-run");
    let plan = dir.path("plan.yaml");
    let plan_s = plan.to_str().unwrap();
    edit_plan(plan_s, &target.url("/"), &target.url("/echo"));
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
        // They are LPS 3.x plans, read without a word.
        assert_eq!(out.stderr, "", "{}", path.display());
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
        "--name",
        "--roundName",
        "--iterationName",
        "--startupDelay",
        "--numberOfClients",
        "--arrivalDelay",
        "--delayClientCreation",
        "--runInParallel",
        "--httpMethod",
        "--header",
        "--payload",
        "--httpVersion",
        "--supportH2C",
        "--saveResponse",
        "--downloadHtmlEmbeddedResources",
        "--clientCertificatePath",
        "--clientCertificatePassword",
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
        "[default: Quick-Test-Round]",
        "[default: Quick-Http-Iteration]",
        "[default: 2.0]",
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
        ok(&["create", plan_s, "--name", "P"]);
        ok(&["round", plan_s, "-n", "R", "-rip", parallel]);
        for name in ["a", "b"] {
            ok(&[
                "iteration",
                plan_s,
                "-rn",
                "R",
                "-n",
                name,
                "-u",
                &slow,
                "-im",
                "R",
                "-rc",
                "1",
                "-hm",
                "GET",
            ]);
        }
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

#[test]
fn quick_test_names_and_payload_prefixes_reach_the_run() {
    let target = Target::start(&[]);
    let echo = target.url("/echo");
    let dir = Scratch::new("quick-payload");
    let body = dir.write("body.txt", "from a file!");
    // Path: reads the file, URL: GETs the body once at start (the target's
    // 100 x's); both in any case, as LPS matches them.
    let cases = [
        (format!("Path:{}", body.display()), 12),
        (format!("path:{}", body.display()), 12),
        (format!("URL:{}", target.url("/bytes/100")), 100),
        (format!("url:{}", target.url("/bytes/100")), 100),
    ];
    for (payload, size) in cases {
        let out = ok(&[
            "-u",
            &echo,
            "-hm",
            "POST",
            "-p",
            &payload,
            "-rc",
            "3",
            "-n",
            "Named",
            "-rn",
            "TheRound",
            "-in",
            "TheIteration",
            "-h",
            "A: 1",
            "B: 2",
            "--json",
            "-",
            "-q",
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["test"], "Named", "{payload}");
        assert_eq!(report["iterations"][0]["name"], "TheIteration");
        assert_eq!(report["requests"]["ok"], 3, "{payload}");
        // The echo sends each body back.
        let received = report["bytes"]["received"].as_u64().unwrap();
        assert!(received >= 3 * size, "{payload}: {received}");
        assert!(received < 3 * (size + 200), "{payload}: {received}");
    }
    // 1 GET of /bytes/100 per URL: case, 12 POSTs of /echo.
    let stats = target.stats();
    assert_eq!(stats["requests"], 2 + 12, "{stats}");
    bad(
        &["-u", &echo, "-p", "Path:/nonexistent/body"],
        "-p/--payload \"Path:/nonexistent/body\": cannot read",
    );
}

#[test]
fn plan_commands_write_captures_variables_and_references() {
    let dir = Scratch::new("plan-commands");
    let plan = dir.path("plan.json");
    let plan_s = plan.to_str().unwrap();
    ok(&["create", plan_s, "--name", "P"]);
    ok(&args(&format!(
        "round {plan_s} -n R -burl http://127.0.0.1:9 -t smoke fast"
    )));
    ok(&args(&format!(
        "iteration {plan_s} -n shared -im D -d 2 -hm GET -u /s -rn R -g"
    )));
    ok(&args(&format!(
        "iteration {plan_s} -n own -im R -rc 2 -hm GET -u /o -rn R -sd 40"
    )));
    // Referencing again does not run it twice.
    ok(&args(&format!("iteration {plan_s} ref -rn r -n SHARED")));
    ok(&args(&format!("capture {plan_s} -rn R -in own -to token")));
    ok(&args(&format!("variable {plan_s} -n host -v 127.0.0.1")));
    ok(&args(&format!(
        "variable {plan_s} -n n -v 5 -as Int -e dev -e prod"
    )));
    let p = lps_config::lps3::load(&plan).unwrap().plan;
    let round = &p.rounds[0];
    assert_eq!(round.tags, ["smoke", "fast"]);
    let names: Vec<&str> = round.iterations.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["own", "shared"]);
    assert_eq!(round.iterations[1].request.url, "http://127.0.0.1:9/s");
    assert_eq!(round.iterations[0].startup_delay, Duration::from_millis(40));
    let capture = round.iterations[0].request.capture.clone().unwrap();
    assert_eq!(
        (
            capture.to.as_str(),
            capture.as_type.as_str(),
            capture.make_global
        ),
        ("token", "String", false)
    );
    assert_eq!(p.variables.len(), 1);
    assert_eq!(
        (p.variables[0].name.as_str(), p.variables[0].value.as_str()),
        ("host", "127.0.0.1")
    );
    let envs: Vec<(&str, &str)> = p
        .environments
        .iter()
        .map(|e| (e.name.as_str(), e.variables[0].as_type.as_str()))
        .collect();
    assert_eq!(envs, [("dev", "Int"), ("prod", "Int")]);
    // JSON plans keep every value a string, as LPS's JSON reader needs.
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("\"numberOfClients\": \"1\""), "{text}");
    bad(
        &args(&format!("capture {plan_s} -in nobody -to x")),
        "no iteration named \"nobody\" among the plan's iterations",
    );
    bad(
        &args(&format!("iteration {plan_s} -n x -hm GET -u /x")),
        "-im/--iterationMode is required",
    );
}
