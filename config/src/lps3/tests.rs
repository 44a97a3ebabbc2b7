//! The test corpus (config/tests/lps3/): each file's exact model, warnings
//! or error line; and a census of LPS's own doc examples when present.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::plan::Mode;
use crate::{ConfigError, Format};

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/lps3")
        .join(file)
}

fn loaded(file: &str) -> Loaded {
    load(&corpus(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The error line of a corpus file, its path replaced by the file name.
fn error(file: &str) -> String {
    let message = load(&corpus(file)).expect_err(file).to_string();
    message.replace(&corpus(file).display().to_string(), file)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn request(method: &str, url: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        url: url.into(),
        version: HttpVersion::Http2,
        support_h2c: false,
        headers: Vec::new(),
        payload: Payload::Raw(String::new()),
        save_response: false,
        download_html_embedded_resources: false,
        retry: None,
        client_certificate: None,
        capture: None,
        skip_if: None,
        before: Vec::new(),
        after: Vec::new(),
    }
}

fn get(url: &str) -> HttpRequest {
    request("GET", url)
}

fn iteration(name: &str, line: usize, mode: Mode, request: HttpRequest) -> Iteration {
    Iteration {
        name: name.into(),
        line,
        mode,
        maximize_throughput: false,
        startup_delay: Duration::ZERO,
        request,
        skip_if: None,
        before: Vec::new(),
        after: Vec::new(),
        failure_rules: Vec::new(),
        termination_rules: Vec::new(),
    }
}

fn requests(requests: u64) -> Mode {
    Mode::Requests { requests }
}

fn round(name: &str, line: usize, iterations: Vec<Iteration>) -> Round {
    Round {
        name: name.into(),
        line,
        base_url: String::new(),
        startup_delay: Duration::ZERO,
        clients: 1,
        arrival_delay: Duration::ZERO,
        delay_client_creation: false,
        run_in_parallel: false,
        tags: Vec::new(),
        stages: Vec::new(),
        iterations,
    }
}

fn plan(name: &str, rounds: Vec<Round>) -> Plan {
    Plan {
        name: name.into(),
        variables: Vec::new(),
        environments: Vec::new(),
        iterations: Vec::new(),
        rounds,
        placeholders: Vec::new(),
    }
}

fn site(key: &str, line: usize) -> Site {
    Site {
        key: key.into(),
        line,
    }
}

fn warning(file: &str, line: usize, kind: WarningKind) -> Warning {
    Warning {
        file: corpus(file).display().to_string(),
        line,
        kind,
    }
}

fn unknown(key: &str) -> WarningKind {
    WarningKind::UnknownKey { key: key.into() }
}

#[test]
fn rounds_have_their_own_clients_delays_and_tags() {
    let loaded = loaded("rounds.yaml");
    let expected = plan(
        "Two rounds",
        vec![
            Round {
                clients: 3,
                arrival_delay: ms(250),
                startup_delay: ms(1000),
                tags: vec!["smoke".into(), "quick".into()],
                ..round(
                    "Warm-up",
                    3,
                    vec![iteration(
                        "home",
                        9,
                        requests(1),
                        get("http://127.0.0.1:8080/"),
                    )],
                )
            },
            Round {
                clients: 20,
                delay_client_creation: true,
                run_in_parallel: true,
                ..round(
                    "Main_1.0",
                    13,
                    vec![
                        iteration("home", 18, requests(50), get("http://127.0.0.1:8080/a")),
                        iteration(
                            "other",
                            24,
                            requests(5),
                            request("HEAD", "http://127.0.0.1:8080/b"),
                        ),
                    ],
                )
            },
        ],
    );
    assert_eq!(loaded.plan, expected);
    assert_eq!(loaded.warnings, []);
}

#[test]
fn stages_keep_their_clients_and_delays() {
    let expected = plan(
        "Ramp",
        vec![Round {
            stages: vec![
                Stage {
                    clients: 2,
                    arrival_delay: ms(500),
                    startup_delay: Duration::ZERO,
                },
                Stage {
                    clients: 4,
                    arrival_delay: ms(100),
                    startup_delay: ms(3000),
                },
                Stage {
                    clients: 1,
                    arrival_delay: Duration::ZERO,
                    startup_delay: Duration::ZERO,
                },
            ],
            ..round(
                "ramp",
                3,
                vec![iteration(
                    "load",
                    12,
                    Mode::Duration {
                        duration: Duration::from_secs(30),
                    },
                    get("http://127.0.0.1:8080/"),
                )],
            )
        }],
    );
    assert_eq!(loaded("stages.yaml").plan, expected);
}

#[test]
fn references_are_copies_joined_with_each_rounds_base_url() {
    let loaded = loaded("reference.yaml");
    let login = |url: &str| iteration("Login", 3, requests(2), request("POST", url));
    let expected = Plan {
        iterations: vec![login("/login")],
        ..plan(
            "Shared",
            vec![
                Round {
                    base_url: "http://127.0.0.1:8081".into(),
                    ..round(
                        "staging",
                        10,
                        vec![
                            iteration(
                                "local",
                                13,
                                requests(1),
                                get("http://127.0.0.1:8081/health"),
                            ),
                            login("http://127.0.0.1:8081/login"),
                        ],
                    )
                },
                // LPS would give this round the first round's base URL (it
                // joins into the shared iteration); lps gives each its own.
                Round {
                    base_url: "http://127.0.0.1:8082/api/".into(),
                    ..round("prod", 20, vec![login("http://127.0.0.1:8082/api/login")])
                },
            ],
        )
    };
    assert_eq!(loaded.plan, expected);
    let missing = WarningKind::MissingReference {
        round: "staging".into(),
        name: "Missing".into(),
    };
    assert_eq!(loaded.warnings, [warning("reference.yaml", 19, missing)]);
    assert_eq!(
        loaded.warnings[0].to_string(),
        format!(
            "{}:19: staging: referenced iteration \"Missing\" is not among the plan's iterations; skipped",
            corpus("reference.yaml").display()
        )
    );
}

#[test]
fn every_mode_with_its_numbers_and_delays() {
    let url = |path: &str| get(&format!("http://127.0.0.1:8080{path}"));
    let expected = vec![
        iteration("default", 6, requests(1), url("/r0")),
        Iteration {
            startup_delay: ms(250),
            ..iteration("r", 8, requests(7), url("/r"))
        },
        Iteration {
            startup_delay: ms(500),
            ..iteration(
                "d",
                13,
                Mode::Duration {
                    duration: Duration::from_secs(10),
                },
                url("/d"),
            )
        },
        Iteration {
            maximize_throughput: true,
            ..iteration(
                "cb",
                18,
                Mode::CooldownBatch {
                    batch: 4,
                    cooldown: ms(200),
                    duration: None,
                },
                url("/cb"),
            )
        },
        iteration(
            "crb",
            24,
            Mode::CooldownRequestBatch {
                requests: 100,
                batch: 10,
                cooldown: ms(1000),
            },
            url("/crb"),
        ),
        iteration(
            "dcb",
            30,
            Mode::DurationCooldownBatch {
                duration: Duration::from_secs(60),
                batch: 5,
                cooldown: ms(1500),
            },
            url("/dcb"),
        ),
    ];
    let loaded = loaded("modes.yaml");
    assert_eq!(loaded.plan.rounds[0].iterations, expected);
    assert_eq!(loaded.warnings, []);
}

#[test]
fn iteration_and_request_keys_are_case_insensitive_with_aliases() {
    let loaded = loaded("aliases.yaml");
    let upper = Iteration {
        startup_delay: ms(100),
        ..iteration(
            "upper",
            5,
            requests(3),
            HttpRequest {
                version: HttpVersion::Http11,
                headers: vec![
                    ("Accept".into(), "application/json".into()),
                    ("X-Empty".into(), String::new()),
                    ("X-Num".into(), "42".into()),
                ],
                ..request("PUT", "http://127.0.0.1:8080/u")
            },
        )
    };
    let lower = iteration(
        "lower",
        21,
        requests(1),
        HttpRequest {
            headers: vec![("Authorization".into(), "Bearer abc".into())],
            // `HTTP/1.1` is accepted but sent as 2.0, as LPS does.
            version: HttpVersion::Http2,
            ..request("DELETE", "http://127.0.0.1:8080/l")
        },
    );
    assert_eq!(loaded.plan.rounds[0].iterations, [upper, lower]);
    let repeated = |key: &str, first: &str| WarningKind::Repeated {
        key: key.into(),
        first: first.into(),
    };
    let file = "aliases.yaml";
    assert_eq!(
        loaded.warnings,
        [
            warning(
                file,
                9,
                repeated("rounds[0].iterations[0].startupDelay", "Delay")
            ),
            warning(file, 10, unknown("rounds[0].iterations[0].requestcnt")),
            warning(
                file,
                14,
                repeated("rounds[0].iterations[0].HttpRequest.Method", "httpMethod")
            ),
            warning(
                file,
                20,
                unknown("rounds[0].iterations[0].HttpRequest.Timeout")
            ),
        ]
    );
    let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let path = corpus(file).display().to_string();
    assert_eq!(
        shown[1],
        format!("{path}:10: key rounds[0].iterations[0].requestcnt is not an LPS key; ignored")
    );
    assert_eq!(
        shown[0],
        format!(
            "{path}:9: key rounds[0].iterations[0].startupDelay repeats Delay, which is used; ignored"
        )
    );
}

#[test]
fn payloads_raw_binary_and_multipart() {
    let body = b"binary\0body\n".to_vec();
    let post = |path: &str, payload: Payload| HttpRequest {
        payload,
        ..request("POST", &format!("http://127.0.0.1:8080{path}"))
    };
    let expected = vec![
        iteration(
            "raw",
            6,
            requests(1),
            post("/raw", Payload::Raw("{\"a\": 1}".into())),
        ),
        iteration(
            "raw-typed",
            12,
            requests(1),
            post("/raw", Payload::Raw("text".into())),
        ),
        iteration(
            "binary",
            19,
            requests(1),
            HttpRequest {
                method: "PUT".into(),
                ..post(
                    "/bin",
                    Payload::Binary {
                        path: corpus("body.bin"),
                        bytes: body.clone(),
                    },
                )
            },
        ),
        iteration(
            "multipart",
            25,
            requests(1),
            post(
                "/mp",
                Payload::Multipart {
                    fields: vec![
                        TextField {
                            name: "f1".into(),
                            value: "v1".into(),
                            content_type: "text/plain".into(),
                        },
                        TextField {
                            name: "f2".into(),
                            value: "{}".into(),
                            content_type: "application/json".into(),
                        },
                    ],
                    files: vec![
                        FileField {
                            name: "part.txt".into(),
                            path: corpus("part.txt"),
                            content_type: "text/plain".into(),
                            bytes: b"hello part\n".to_vec(),
                        },
                        FileField {
                            name: "upload".into(),
                            path: corpus("body.bin"),
                            content_type: "application/x-custom".into(),
                            bytes: body,
                        },
                    ],
                },
            ),
        ),
    ];
    assert_eq!(loaded("payloads.yaml").plan.rounds[0].iterations, expected);
}

#[test]
fn retry_fixed_and_exponential() {
    let retry = |max_retries, delay, strategy| Retry {
        retry_if: None,
        stop_if: None,
        max_retries,
        strategy,
        delay: ms(delay),
    };
    let with = |name: &str, line, path: &str, retry: Retry| {
        iteration(
            name,
            line,
            requests(1),
            HttpRequest {
                retry: Some(retry),
                ..get(&format!("http://127.0.0.1:8080{path}"))
            },
        )
    };
    let expected = vec![
        with("fixed", 6, "/f", retry(3, 250, Strategy::Fixed)),
        with("defaults", 13, "/d", retry(1, 100, Strategy::Fixed)),
        with(
            "exponential",
            18,
            "/e",
            retry(
                5,
                100,
                Strategy::Exponential {
                    max_delay: Some(ms(1600)),
                },
            ),
        ),
        with(
            "uncapped",
            27,
            "/u",
            retry(1, 100, Strategy::Exponential { max_delay: None }),
        ),
    ];
    assert_eq!(loaded("retry.yaml").plan.rounds[0].iterations, expected);
}

#[test]
fn h2c_versions_and_switches() {
    let expected = vec![
        iteration(
            "h2c",
            5,
            requests(1),
            HttpRequest {
                support_h2c: true,
                save_response: true,
                ..get("http://127.0.0.1:8080/h2")
            },
        ),
        iteration(
            "http10",
            12,
            requests(1),
            HttpRequest {
                version: HttpVersion::Http10,
                download_html_embedded_resources: true,
                ..get("http://127.0.0.1:8080/old")
            },
        ),
    ];
    assert_eq!(loaded("h2c.yaml").plan.rounds[0].iterations, expected);
}

#[test]
fn numbers_and_switches_written_as_strings() {
    let expected = plan(
        "Strings",
        vec![Round {
            clients: 10,
            arrival_delay: ms(100),
            startup_delay: ms(20),
            run_in_parallel: true,
            ..round(
                "as strings",
                3,
                vec![Iteration {
                    maximize_throughput: true,
                    ..iteration(
                        "s",
                        10,
                        Mode::CooldownRequestBatch {
                            requests: 12,
                            batch: 3,
                            cooldown: ms(50),
                        },
                        request("POST", "http://127.0.0.1:8080/s"),
                    )
                }],
            )
        }],
    );
    assert_eq!(loaded("strings.yaml").plan, expected);
}

#[test]
fn json_plan_is_read_leniently() {
    let loaded = loaded("plan.json");
    let shared = |url: &str| {
        iteration(
            "shared",
            4,
            Mode::Duration {
                duration: Duration::from_secs(5),
            },
            get(url),
        )
    };
    let post = HttpRequest {
        headers: vec![("Content-Type".into(), "application/json".into())],
        payload: Payload::Raw("{\"k\": true}".into()),
        ..request("POST", "http://127.0.0.1:8080/p")
    };
    let expected = Plan {
        iterations: vec![shared("/shared")],
        ..plan(
            "Json plan",
            vec![Round {
                base_url: "http://127.0.0.1:8080".into(),
                clients: 4,
                run_in_parallel: true,
                ..round(
                    "json",
                    8,
                    vec![
                        iteration("post", 16, requests(2), post),
                        shared("http://127.0.0.1:8080/shared"),
                    ],
                )
            }],
        )
    };
    assert_eq!(loaded.plan, expected);
    assert_eq!(
        loaded.warnings,
        [warning("plan.json", 13, unknown("rounds[0].comment"))]
    );
}

#[test]
fn scripted_keys_are_kept_and_the_first_is_named() {
    let loaded = loaded("unsupported.yaml");
    let plan = loaded.plan;
    assert_eq!(
        plan.variables[0],
        Variable {
            site: site("variables[0]", 3),
            name: "host".into(),
            value: "127.0.0.1".into(),
            as_type: "String".into(),
            regex: String::new(),
        }
    );
    let globals: Vec<(&str, &str)> = loaded
        .globals
        .iter()
        .map(|g| (g.name.as_str(), g.value.as_str()))
        .collect();
    assert_eq!(globals, [("host", "127.0.0.1"), ("clients", "3")]);
    // Build-time placeholders take the globals' values: the number and the host.
    assert_eq!(plan.rounds[0].clients, 3);
    assert_eq!(
        plan.rounds[0].iterations[0].request.url,
        "http://127.0.0.1:8080/"
    );
    let it = &plan.rounds[0].iterations[0];
    let script = |key: &str, line, text: &str| Script {
        site: site(key, line),
        text: text.into(),
    };
    assert_eq!(
        it.skip_if,
        Some(script("rounds[0].iterations[0].skipIf", 12, "${x} = 1"))
    );
    assert_eq!(
        it.before,
        [script(
            "rounds[0].iterations[0].before[0]",
            14,
            "$set(variable=x, value=1)"
        )]
    );
    assert_eq!(
        it.failure_rules,
        [Rule {
            site: site("rounds[0].iterations[0].failureRules[0]", 16),
            metric: Some("ErrorRate > 0.05".into()),
            error_status_codes: None,
            expression: None,
            grace_period: None,
        }]
    );
    let retry = it.request.retry.as_ref().expect("retry given");
    assert_eq!(
        retry.retry_if,
        Some(script(
            "rounds[0].iterations[0].httpRequest.retry.if",
            23,
            "${body.StatusCode} >= 500"
        ))
    );
    assert_eq!(
        it.request
            .capture
            .as_ref()
            .map(|c| (&c.site, c.to.as_str(), c.as_type.as_str())),
        Some((
            &site("rounds[0].iterations[0].httpRequest.capture", 20),
            "body",
            "String"
        ))
    );
}

/// Each scripted feature alone, and a termination rule, loads; a
/// build-time placeholder naming no variable is an error at its line.
#[test]
fn every_scripted_feature_and_rule_loads() {
    let wrap = |round_keys: &str, iteration_keys: &str, request_keys: &str| {
        format!(
            "name: P\nrounds:\n  - name: R\n{round_keys}    iterations:\n      - name: I\n{iteration_keys}        httpRequest:\n          url: http://127.0.0.1/\n          method: GET\n{request_keys}"
        )
    };
    let runs = [
        wrap("", "", ""),
        format!(
            "environments:\n  - name: dev\n    variables: []\n{}",
            wrap("", "", "")
        ),
        wrap("    tags: [$env]\n", "", ""),
        wrap("", "        after: [x]\n", ""),
        wrap("", "", "          skipIf: 'true'\n"),
        wrap("", "", "          retry:\n            stopIf: x = 1\n"),
        wrap("", "", "          payload:\n            raw: 'id=$$1'\n"),
        wrap(
            "",
            "        terminationRules:\n          - metric: ErrorRate > 0.5\n            gracePeriod: 00:00:05\n",
            "",
        ),
    ];
    for text in runs {
        parse(&text, "p.yaml", Format::Yaml, Path::new("."))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
    let unknown = [
        (
            wrap("    runInParallel: ${p}\n", "", ""),
            "p.yaml:4: runInParallel: \"${p}\" names a variable the plan does not have",
        ),
        (
            wrap("", "        requestCount: ${n}\n", ""),
            "p.yaml:6: requestCount: \"${n}\" names a variable the plan does not have",
        ),
    ];
    for (text, expected) in unknown {
        let got = parse(&text, "p.yaml", Format::Yaml, Path::new(".")).map(|_| ());
        assert_eq!(
            got.map_err(|e| e.to_string()),
            Err(expected.to_owned()),
            "{text}"
        );
    }
}

#[test]
fn a_placeholder_in_a_header_is_found_and_a_price_is_not() {
    let plan = loaded("placeholder.yaml").plan;
    let found: Vec<(&str, &str)> = plan
        .placeholders
        .iter()
        .map(|p| (p.site.key.as_str(), p.text.as_str()))
        .collect();
    assert_eq!(
        found,
        [(
            "rounds[0].iterations[0].httpRequest.headers.X-Id",
            "$uuid()"
        )]
    );
}

#[test]
fn corpus_errors_name_file_line_and_key() {
    let cases = [
        (
            "err-round-key.yaml",
            "err-round-key.yaml:4: rounds[0]: unknown key \"numberOfClient\"; a round has the keys name, baseUrl, startupDelay, numberOfClients, arrivalDelay, delayClientCreationUntilIsNeeded, runInParallel, tags, stages, iterations, reference, id",
        ),
        (
            "err-crb.yaml",
            "err-crb.yaml:8: rounds[0].iterations[0].batchSize: batchSize 10 must be less than requestCount 10",
        ),
        (
            "err-dcb.yaml",
            "err-dcb.yaml:9: rounds[0].iterations[0].coolDownTime: coolDownTime 2000 ms must be less than duration 2 s",
        ),
        (
            "err-h2c.yaml",
            "err-h2c.yaml:9: rounds[0].iterations[0].httpRequest.supportH2C: supportH2C needs an http:// url, not \"https://127.0.0.1/\"",
        ),
        (
            "err-retry.yaml",
            "err-retry.yaml:11: rounds[0].iterations[0].httpRequest.retry.maxDelayInMs: maxDelayInMs is only for strategy Exponential",
        ),
        (
            "part.txt",
            "part.txt:1: plan: expected a mapping, found a text",
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(error(file), expected);
    }
}

/// A one-iteration plan with `iteration` lines (indented 6) and `request`
/// lines (indented 8) added; iteration keys start on line 6.
fn one(iteration: &str, request: &str) -> String {
    format!(
        "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: I\n{iteration}        httpRequest:\n{request}"
    )
}

fn get_request() -> &'static str {
    "          url: http://127.0.0.1/\n          method: GET\n"
}

#[test]
fn value_errors_name_line_and_key() {
    let it = "rounds[0].iterations[0]";
    let cases = [
        (one("        mode: r\n", get_request()), format!("p.yaml:5: {it} \"I\": mode \"r\" is not one of R, D, CB, CRB, DCB (upper case)")),
        (one("        mode: D\n", get_request()), format!("p.yaml:5: {it} \"I\": mode D requires duration")),
        (one("        mode: CB\n        batchSize: 2\n", get_request()), format!("p.yaml:5: {it} \"I\": mode CB requires coolDownTime")),
        (one("        mode: D\n        duration: 5\n        requestCount: 3\n", get_request()), format!("p.yaml:8: {it}.requestCount: mode D does not take requestCount")),
        (one("        requestCount: 0\n", get_request()), format!("p.yaml:6: {it}.requestCount: requestCount must be at least 1, not 0")),
        (one("        requestCount: 2.5\n", get_request()), format!("p.yaml:6: {it}.requestCount: \"2.5\" is not a whole number (LPS reads a 32-bit int)")),
        (one("        mode: R\n        duration: 4\n", get_request()), format!("p.yaml:7: {it}.duration: mode R does not take duration")),
        (one("        delay: -5\n", get_request()), format!("p.yaml:6: {it}.delay: -5 is negative; a delay is at least 0 ms")),
        (one("", "          url: /x\n          method: GET\n"), "p.yaml:5: rounds[0] iteration \"I\": url \"/x\" is relative and the round has no baseUrl".to_owned()),
        (one("", "          url: ftp://h/\n          method: GET\n"), format!("p.yaml:7: {it}.httpRequest.url: url \"ftp://h/\": scheme \"ftp\" is not http or https; or start it with / and give the round a baseUrl")),
        (one("", "          url: http://h/\n"), format!("p.yaml:6: {it}.httpRequest: method (or httpMethod) is required")),
        (one("", "          url: http://h/\n          method: FETCH\n"), format!("p.yaml:8: {it}.httpRequest.method: method \"FETCH\" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE")),
        (one("", "          url: http://h/\n          method: GET\n          version: '2'\n"), format!("p.yaml:9: {it}.httpRequest.version: version \"2\" is not one of 1.0, 1.1, 2.0, HTTP/1.0, HTTP/1.1, HTTP/2.0, HTTP/2")),
        (one("", "          url: http://h/\n          method: GET\n          version: '1.1'\n          supportH2C: 'true'\n"), format!("p.yaml:10: {it}.httpRequest.supportH2C: supportH2C needs version 2.0, not \"1.1\"")),
        (one("", "          url: http://h/\n          method: GET\n          saveResponse: yes\n"), format!("p.yaml:9: {it}.httpRequest.saveResponse: \"yes\" is not true or false")),
        (one("", "          url: http://h/\n          method: POST\n          payload:\n            value: x\n"), format!("p.yaml:10: {it}.httpRequest.payload: unknown key \"value\"; payload has the keys type, raw, file, multipart")),
        (one("", "          url: http://h/\n          method: POST\n          payload:\n            type: Json\n"), format!("p.yaml:10: {it}.httpRequest.payload.type: payload type \"Json\" is not Raw, Multipart or Binary")),
        (one("", "          url: http://h/\n          method: POST\n          payload:\n            file: missing.bin\n"), format!("p.yaml:10: {it}.httpRequest.payload.file: cannot read ./missing.bin: No such file or directory (os error 2)")),
        (one("", "          url: http://h/\n          method: GET\n          retry:\n            maxRetries: ${n}\n"), format!("p.yaml:10: {it}.httpRequest.retry.maxRetries: LPS does not allow a placeholder here")),
        (one("", "          url: http://h/\n          method: GET\n          retry:\n            maxRetries: 0\n"), format!("p.yaml:10: {it}.httpRequest.retry.maxRetries: 0 is less than 1")),
        (one("", "          url: http://h/\n          method: GET\n          retry:\n            strategy: Exponential\n            delayInMs: 500\n            maxDelayInMs: 100\n"), format!("p.yaml:12: {it}.httpRequest.retry.maxDelayInMs: maxDelayInMs 100 is less than delayInMs 500")),
        (one("", "          url: http://h/\n          method: GET\n          retry:\n            if: x = 1\n            stopif: ' X = 1 '\n"), format!("p.yaml:11: {it}.httpRequest.retry.stopif: retry.if and retry.stopIf are the same expression")),
        (one("", "          url: http://h/\n          method: GET\n          clientCertificatePath: c.txt\n"), format!("p.yaml:9: {it}.httpRequest.clientCertificatePath: clientCertificatePath \"./c.txt\" is not a .pfx, .p12, .pem, .cer or .crt file")),
        (one("        failureRules:\n          - metric: ErrorRate > 1\n            maxP90: 3\n", get_request()), format!("p.yaml:8: {it}.failureRules[0]: unknown key \"maxP90\"; a failure rule has the keys metric, errorStatusCodes, expression")),
        (one("        failureRules:\n          - errorStatusCodes: '>= 500'\n", get_request()), format!("p.yaml:7: {it}.failureRules[0]: a rule needs metric or expression")),
        (one("", "          url: http://h/\n          method: GET\n          capture:\n            to: a-b\n"), format!("p.yaml:9: {it}.httpRequest.capture: capture.to: name \"a-b\" must be letters and digits")),
        ("rounds: []\n".to_owned(), "p.yaml:1: plan: a name is required".to_owned()),
        ("name: 'a/b'\n".to_owned(), "p.yaml:1: name: name \"a/b\" must be 1 to 60 letters, digits, spaces, \"_\", \".\" or \"-\"".to_owned()),
        ("name: P\nRounds: []\n".to_owned(), "p.yaml:2: plan: unknown key \"Rounds\"; a plan has the keys name, rounds, variables, environments, iterations, id".to_owned()),
        ("name: P\nrounds:\n  - name: A\n  - name: a\n".to_owned(), "p.yaml:4: rounds[1]: name \"a\" is used twice (LPS compares names case-insensitively)".to_owned()),
        ("name: P\nrounds:\n  - name: A\n    numberOfClients: 0\n".to_owned(), "p.yaml:4: rounds[0].numberOfClients: numberOfClients 0 is not between 1 and 1000000".to_owned()),
        ("name: P\nrounds:\n  - name: A\n    baseUrl: localhost:80\n".to_owned(), "p.yaml:4: rounds[0].baseUrl: baseUrl \"localhost:80\": expected http://HOST/... or https://HOST/...".to_owned()),
        ("name: P\nrounds:\n  - name: A\n    stages:\n      - arrivalDelay: 5\n".to_owned(), "p.yaml:5: rounds[0].stages[0]: numberOfClients is required in a stage".to_owned()),
        ("name: P\nrounds:\n  - name: A\n    stages:\n      - numberOfClients: 1\n        rampUp: 5\n".to_owned(), "p.yaml:6: rounds[0].stages[0]: unknown key \"rampUp\"; a stage has the keys numberOfClients, arrivalDelay, startupDelay".to_owned()),
        ("name: P\nrounds:\n  - name: A\n    failureRules: []\n".to_owned(), "p.yaml:4: rounds[0]: unknown key \"failureRules\"; a round has the keys name, baseUrl, startupDelay, numberOfClients, arrivalDelay, delayClientCreationUntilIsNeeded, runInParallel, tags, stages, iterations, reference, id".to_owned()),
        ("name: P\nvariables:\n  - name: metrics\n    value: x\n".to_owned(), "p.yaml:3: variables[0].name: the name \"metrics\" is reserved".to_owned()),
        ("name: P\nvariables:\n  - name: v\n".to_owned(), "p.yaml:3: variables[0]: variable \"v\" has no value".to_owned()),
        ("name: P\nrounds: 3\n".to_owned(), "p.yaml:2: rounds: expected a list, found a text".to_owned()),
    ];
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let error = parse(&text, "p.yaml", Format::Yaml, Path::new(".")).expect_err(&text);
        assert!(matches!(error, ConfigError::Invalid { .. }), "{error}");
        if error.to_string() != expected {
            wrong.push(format!("{text}\n  got:  {error}\n  want: {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A count, not a check: how many of the LPS documentation's example plans
/// lps loads and runs, refuses (and by which key) or cannot read. The
/// examples are not ours to commit; extract them from `mohaidr/lps-docs`
/// into a folder and run `LPS3_EXAMPLES=DIR cargo test -p lps-config
/// lps_doc_examples_census -- --ignored --nocapture`.
#[test]
#[ignore = "needs LPS3_EXAMPLES, a folder of LPS's documentation examples"]
fn lps_doc_examples_census() {
    let Some(dir) = std::env::var_os("LPS3_EXAMPLES").map(PathBuf::from) else {
        println!("LPS3_EXAMPLES is not set");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("LPS3_EXAMPLES is a folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let (mut runs, mut refused, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let outcome = load(file).and_then(|loaded| super::lower(loaded, &name));
        match outcome {
            Ok(_) => runs.push(name),
            Err(e) => {
                let line = e.to_string().replace(&format!("{}/", dir.display()), "");
                if line.contains("does not run yet") || line.contains("not supported") {
                    refused.push(line);
                } else {
                    failed.push(line);
                }
            }
        }
    }
    println!(
        "{} files: {} run, {} refused (features lps does not run yet), {} fail",
        files.len(),
        runs.len(),
        refused.len(),
        failed.len()
    );
    for (title, lines) in [("run", &runs), ("refused", &refused), ("fail", &failed)] {
        println!("{title}:");
        for line in lines {
            println!("  {line}");
        }
    }
}
