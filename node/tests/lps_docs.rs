//! The LPS documentation's journey examples (checkout, capture and skipIf,
//! string methods, find, before/after, retry, environments, `$read`), run
//! as written against the built-in target's fixtures.
//!
//! The examples are not in this repository (the documentation has no
//! licence): point `LPS3_EXAMPLES` at a folder of them, one plan per file
//! named as the census names them, and run
//! `LPS3_EXAMPLES=DIR cargo test -p lps --test lps_docs -- --ignored --nocapture`.
//!
//! Each example is copied to a scratch directory with only the scheme and
//! host of its URLs rewritten: fakestoreapi.com, jsonplaceholder.typicode.com
//! and httpbin.org become the target (its fixtures serve their paths); a host
//! the documentation invents (`api.example.com`, `dev.service.example.com`)
//! becomes `/hosts/{host}` on the target, so what an environment changed shows
//! in the path the target counted; the checkout's rules are judged as
//! written. The files the `$read` examples read are
//! written beside the plan. Each run must end as the example means it to
//! (requests sent, skipped, unresolved, failed, exit code), and the
//! target's counters must show what the journey sent.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{LPS, Lps, Scratch, Target, read_json, u};
use serde_json::Value;

/// One run's bound (the retry example backs off for 26 s).
const LIMIT: Duration = Duration::from_secs(120);
/// Runs at once: they mostly wait out their arrival delays.
const WORKERS: usize = 6;
/// `API_TOKEN` for `$read(source=env, name=API_TOKEN)`.
const ENV_TOKEN: &str = "token-from-the-environment";

/// How a run must end (the report's `requests`, and the exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expect {
    sent: u64,
    skipped: u64,
    unresolved: u64,
    failed: u64,
    exit: i32,
}

/// Sent, every request answered 2xx, nothing skipped or unresolved.
const fn sent(sent: u64) -> Expect {
    Expect {
        sent,
        skipped: 0,
        unresolved: 0,
        failed: 0,
        exit: 0,
    }
}

/// Sent `n`, and skipped `skipped` (not sent, not counted in `n`).
const fn skipped(n: u64, skipped: u64) -> Expect {
    Expect { skipped, ..sent(n) }
}

/// Refused at load (exit 2, no report, nothing sent).
const fn refused() -> Expect {
    Expect { exit: 2, ..sent(0) }
}

/// One example run: the file, its `-e`, how it ends, and counts the target
/// must hold afterwards (a path into `/stats`, and the count).
struct Case {
    file: &'static str,
    env: Option<&'static str>,
    expect: Expect,
    counts: &'static [(&'static [&'static str], u64)],
}

const fn case(
    file: &'static str,
    env: Option<&'static str>,
    expect: Expect,
    counts: &'static [(&'static [&'static str], u64)],
) -> Case {
    Case {
        file,
        env,
        expect,
        counts,
    }
}

const CHECKOUT: &str = "examples__21.CheckoutJourney.md__block01.yaml";
const USERS_THEN_SKIP: &[(&[&str], u64)] = &[
    (&["fixtures", "requests", "GET /users"], 1),
    (&["by_path", "/"], 0),
];

/// The journeys and what each must show. Values the examples test (the
/// first user is Bret of Romaguera-Crona in Gwenborough, user 10 is
/// Clementina, four products cost under 50) are the fixture's own.
const CASES: &[Case] = &[
    // Browse, pick the two cheapest (ids 2 and 4), cart, log in, PUT the
    // cart with the token: 10 clients by default, 1 in development.
    case(
        CHECKOUT,
        None,
        sent(40),
        &[
            (&["fixtures", "carts"], 10),
            (&["fixtures", "cart_products", "2"], 10),
            (&["fixtures", "cart_products", "4"], 10),
            (&["fixtures", "logins", "mor_2314"], 10),
            (&["fixtures", "cart_updates"], 10),
            (&["fixtures", "cart_updates_authorized"], 10),
        ],
    ),
    case(
        CHECKOUT,
        Some("development"),
        sent(4),
        &[
            (&["fixtures", "carts"], 1),
            (&["fixtures", "cart_updates_authorized"], 1),
        ],
    ),
    case(
        CHECKOUT,
        Some("staging"),
        sent(100),
        &[
            (&["fixtures", "carts"], 25),
            (&["fixtures", "cart_updates_authorized"], 25),
        ],
    ),
    // The last user's id is 10: every client skips the httpbin request.
    case(
        "examples__12.CaptureAndSkipIf.md__block01.yaml",
        None,
        skipped(10, 10),
        &[
            (&["fixtures", "requests", "GET /users"], 10),
            (&["by_path", "/"], 0),
        ],
    ),
    case(
        "articles__16.SkipIf.md__block02.yaml",
        None,
        skipped(10, 10),
        &[
            (&["fixtures", "requests", "GET /users"], 10),
            (&["by_path", "/"], 0),
        ],
    ),
    // The example never captures LoginResponse: LPS sends its skipIf's
    // placeholder as written (never skipping); lps refuses the plan at load,
    // naming the line, before any request.
    case("articles__16.SkipIf.md__block01.yaml", None, refused(), &[]),
    case(
        "articles__15.Capture.md__block03.yaml",
        None,
        sent(10),
        &[(&["fixtures", "requests", "GET /users"], 10)],
    ),
    // Each string check holds for the fixture's users: skipped.
    case(
        "examples__15.StringMethods.md__block01.yaml",
        None,
        skipped(1, 1),
        USERS_THEN_SKIP,
    ),
    case(
        "examples__15.StringMethods.md__block02.yaml",
        None,
        skipped(1, 1),
        USERS_THEN_SKIP,
    ),
    case(
        "examples__15.StringMethods.md__block03.yaml",
        None,
        skipped(1, 1),
        USERS_THEN_SKIP,
    ),
    case(
        "examples__15.StringMethods.md__block04.yaml",
        None,
        skipped(1, 1),
        USERS_THEN_SKIP,
    ),
    case(
        "examples__15.StringMethods.md__block05.yaml",
        None,
        skipped(1, 1),
        USERS_THEN_SKIP,
    ),
    case(
        "examples__16.FleeStringMethods.md__block01.yaml",
        None,
        skipped(1, 4),
        USERS_THEN_SKIP,
    ),
    case(
        "examples__16.FleeStringMethods.md__block02.yaml",
        None,
        skipped(1, 4),
        USERS_THEN_SKIP,
    ),
    // A 500 retried five times: six failed requests, and lps says so.
    case(
        "examples__18.Retry.md__block01.yaml",
        None,
        Expect {
            failed: 6,
            exit: 1,
            ..sent(6)
        },
        &[(&["by_path", "/status"], 6)],
    ),
    case(
        "examples__19.Find.md__block01.yaml",
        None,
        sent(2),
        &[(&["fixtures", "requests", "GET /users/1/albums"], 1)],
    ),
    case(
        "examples__19.Find.md__block02.yaml",
        None,
        sent(2),
        &[
            (&["fixtures", "requests", "GET /posts/1"], 1),
            (&["fixtures", "headers", "x-big-ids: [6,7,8,9,10]"], 1),
        ],
    ),
    case(
        "examples__19.Find.md__block03.yaml",
        None,
        sent(2),
        &[
            (&["fixtures", "requests", "GET /posts/2"], 1),
            (&["fixtures", "headers", "x-city-count: 1"], 1),
        ],
    ),
    case(
        "examples__19.Find.md__block04.yaml",
        None,
        sent(2),
        &[(&["fixtures", "requests", "GET /users/1/todos"], 1)],
    ),
    case(
        "examples__19.Find.md__block05.yaml",
        None,
        sent(2),
        &[
            (&["fixtures", "requests", "GET /users/1/albums"], 1),
            (&["fixtures", "headers", "x-big-ids: [6,7,8,9,10]"], 1),
        ],
    ),
    case(
        "examples__20.Before&AfterExpressions.md__block01.yaml",
        None,
        sent(6),
        &[(&["fixtures", "requests", "GET /users/1/todos"], 3)],
    ),
    case(
        "examples__20.Before&AfterExpressions.md__block02.yaml",
        None,
        sent(2),
        &[(&["fixtures", "requests", "GET /users/1/albums"], 1)],
    ),
    case(
        "examples__20.Before&AfterExpressions.md__block03.yaml",
        None,
        sent(2),
        &[
            (&["fixtures", "requests", "GET /users/1/albums"], 1),
            (&["fixtures", "headers", "x-company: Romaguera-Crona"], 1),
            (&["fixtures", "headers", "x-big-users: 5"], 1),
        ],
    ),
    case(
        "examples__20.Before&AfterExpressions.md__block04.yaml",
        None,
        sent(2),
        &[
            (&["fixtures", "requests", "GET /users/1"], 1),
            (&["fixtures", "headers", "x-user-city: Gwenborough"], 1),
            (&["fixtures", "headers", "x-user-zip: 10137"], 1),
        ],
    ),
    case(
        "examples__20.Before&AfterExpressions.md__block05.yaml",
        None,
        sent(1),
        &[(&["fixtures", "requests", "GET /users"], 1)],
    ),
    case(
        "examples__20.Before&AfterExpressions.md__block06.yaml",
        None,
        sent(2),
        &[(&["fixtures", "requests", "GET /users/1/todos"], 1)],
    ),
    // Environments: the host (and so the path the target counted) and the
    // header values change with -e.
    case(
        "examples__5.Environment.md__block01.yaml",
        None,
        sent(10),
        &[
            (
                &[
                    "fixtures",
                    "requests",
                    "GET /hosts/staging.api.example.com/users",
                ],
                10,
            ),
            (&["fixtures", "headers", "x-timeout: 30"], 10),
        ],
    ),
    case(
        "examples__5.Environment.md__block01.yaml",
        Some("production"),
        sent(10),
        &[
            (
                &["fixtures", "requests", "GET /hosts/api.example.com/users"],
                10,
            ),
            (&["fixtures", "headers", "x-timeout: 60"], 10),
        ],
    ),
    case(
        "examples__5.Environment.md__block01.yaml",
        Some("development"),
        sent(10),
        &[
            (
                &[
                    "fixtures",
                    "requests",
                    "GET /hosts/dev.api.example.com/users",
                ],
                10,
            ),
            (&["fixtures", "headers", "x-timeout: 15"], 10),
        ],
    ),
    case(
        "examples__5.Environment.md__block04.yaml",
        None,
        sent(3),
        &[
            (
                &["fixtures", "headers", "authorization: Bearer prod-token"],
                3,
            ),
            (&["fixtures", "headers", "username: admin"], 3),
        ],
    ),
    case(
        "examples__5.Environment.md__block04.yaml",
        Some("staging"),
        sent(3),
        &[
            (
                &["fixtures", "headers", "authorization: Bearer staging-token"],
                3,
            ),
            (&["fixtures", "headers", "username: staging-user"], 3),
        ],
    ),
    case(
        "examples__5.Environment.md__block04.yaml",
        Some("development"),
        sent(3),
        &[
            (
                &["fixtures", "headers", "authorization: Bearer dev-token"],
                3,
            ),
            (&["fixtures", "headers", "username: dev-user"], 3),
        ],
    ),
    // $counter(start=1, end=50) per client: 1..=10 by each of 3 clients.
    case(
        "examples__5.Environment.md__block07.yaml",
        None,
        sent(30),
        &[
            (
                &[
                    "fixtures",
                    "requests",
                    "GET /hosts/staging.service.example.com/api/resources/1",
                ],
                3,
            ),
            (
                &[
                    "fixtures",
                    "requests",
                    "GET /hosts/staging.service.example.com/api/resources/10",
                ],
                3,
            ),
        ],
    ),
    case(
        "examples__5.Environment.md__block07.yaml",
        Some("production"),
        sent(30),
        &[(
            &[
                "fixtures",
                "requests",
                "GET /hosts/service.example.com/api/resources/10",
            ],
            3,
        )],
    ),
    case(
        "examples__5.Environment.md__block07.yaml",
        Some("development"),
        sent(30),
        &[(
            &[
                "fixtures",
                "requests",
                "GET /hosts/dev.service.example.com/api/resources/10",
            ],
            3,
        )],
    ),
    // $read: the CSV's first data row, rows 0..=9 by counter, a JSON
    // property, an XPath, an environment variable, another variable.
    case(
        "examples__7.ReadMethod.md__block01.yaml",
        None,
        sent(5),
        &[(
            &[
                "fixtures",
                "requests",
                "GET /hosts/api.example.com/resource/sku-0",
            ],
            5,
        )],
    ),
    case(
        "examples__7.ReadMethod.md__block02.yaml",
        None,
        sent(50),
        &[
            (
                &[
                    "fixtures",
                    "requests",
                    "GET /hosts/api.example.com/resource/sku-0",
                ],
                5,
            ),
            (
                &[
                    "fixtures",
                    "requests",
                    "GET /hosts/api.example.com/resource/sku-9",
                ],
                5,
            ),
        ],
    ),
    case(
        "examples__7.ReadMethod.md__block03.yaml",
        None,
        sent(5),
        &[(
            &[
                "fixtures",
                "requests",
                "GET /hosts/api.example.com/resource/from-json",
            ],
            5,
        )],
    ),
    case(
        "examples__7.ReadMethod.md__block04.yaml",
        None,
        sent(5),
        &[(
            &[
                "fixtures",
                "requests",
                "GET /hosts/api.example.com/resource/first-subitem",
            ],
            5,
        )],
    ),
    case(
        "examples__7.ReadMethod.md__block05.yaml",
        None,
        sent(1),
        &[(
            &[
                "fixtures",
                "headers",
                "authorization: Bearer token-from-the-environment",
            ],
            1,
        )],
    ),
    case(
        "examples__7.ReadMethod.md__block06.yaml",
        None,
        sent(1),
        &[(
            &[
                "fixtures",
                "headers",
                "authorization: Bearer my-static-token",
            ],
            1,
        )],
    ),
];

/// Hosts whose paths the fixtures serve at the target's root.
const SERVED: [&str; 3] = [
    "fakestoreapi.com",
    "jsonplaceholder.typicode.com",
    "httpbin.org",
];

/// Rewrites the scheme and host of every `https://HOST` the fixtures stand
/// in for: a served host becomes `base`, an invented `*example.com` host
/// `base/hosts/HOST`; others stay.
fn rewrite_hosts(plan: &str, base: &str) -> String {
    let mut out = String::with_capacity(plan.len());
    let mut rest = plan;
    while let Some(at) = rest.find("https://") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "https://".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(after.len());
        let host = &after[..end];
        if SERVED.contains(&host) {
            out.push_str(base);
        } else if host.ends_with("example.com") {
            out.push_str(&format!("{base}/hosts/{host}"));
        } else {
            out.push_str(&rest[at..at + "https://".len() + end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The files the `$read` examples read (`../data/`, `../secrets/` from the
/// plan's folder, where lps runs).
fn write_read_files(dir: &Scratch) {
    for sub in ["plans", "data", "secrets"] {
        std::fs::create_dir_all(dir.path(sub)).expect("scratch subfolder");
    }
    let rows: String = (0..10).map(|i| format!("sku-{i},item {i}\n")).collect();
    dir.write("data/sample.csv", format!("id,name\n{rows}"));
    dir.write("data/sample.json", r#"{"property": "from-json"}"#);
    dir.write(
        "data/sample.xml",
        "<root><items><item><subitem>first-subitem</subitem></item>\
         <item><subitem>second-subitem</subitem></item></items></root>",
    );
    for (name, token) in [
        ("prod", "prod-token"),
        ("staging", "staging-token"),
        ("dev", "dev-token"),
    ] {
        dir.write(&format!("secrets/{name}-token.txt"), token);
    }
}

/// What one run gave.
struct Row {
    case: usize,
    got: Option<Expect>,
    /// Empty when the run ended as expected and every count held.
    faults: Vec<String>,
}

fn count_at<'a>(stats: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(stats, |v, key| &v[*key])
}

/// Runs one case against its own target and checks it.
fn run_case(examples: &Path, index: usize) -> Row {
    let case = &CASES[index];
    let mut faults = Vec::new();
    let original = std::fs::read_to_string(examples.join(case.file))
        .unwrap_or_else(|e| panic!("{}: {e}", case.file));
    let target = Target::start(&[]);
    let dir = Scratch::new("lps-docs");
    write_read_files(&dir);
    let plan = rewrite_hosts(&original, &target.url(""));
    dir.write(&format!("plans/{}", case.file), plan);
    let report = dir.path("report.json");
    let mut args = vec![
        "run",
        case.file,
        "--json",
        report.to_str().expect("utf-8 path"),
        "--quiet",
    ];
    if let Some(env) = case.env {
        args.extend(["-e", env]);
    }
    let mut command = Command::new(LPS);
    command
        .current_dir(dir.path("plans"))
        .env("API_TOKEN", ENV_TOKEN)
        .args(&args);
    let out = Lps::start(&mut command).wait(LIMIT);
    let code = out.code.unwrap_or(-1);
    if !report.exists() && code == 2 && case.expect == refused() {
        return Row {
            case: index,
            got: Some(refused()),
            faults,
        };
    }
    if !report.exists() {
        faults.push(format!("exit {code}, no report: {}", out.stderr.trim()));
        return Row {
            case: index,
            got: None,
            faults,
        };
    }
    let requests = read_json(&report)["requests"].clone();
    let got = Expect {
        sent: u(&requests["total"]),
        skipped: u(&requests["skipped"]),
        unresolved: u(&requests["unresolved"]),
        failed: u(&requests["failed"]),
        exit: code,
    };
    if got != case.expect {
        faults.push(format!(
            "expected {:?}, got {got:?}; stderr: {}",
            case.expect,
            out.stderr.trim()
        ));
    }
    let stats = target.stats();
    for (path, want) in case.counts {
        let seen = count_at(&stats, path).as_u64().unwrap_or(0);
        if seen != *want {
            faults.push(format!("{} = {seen}, expected {want}", path.join(".")));
        }
    }
    Row {
        case: index,
        got: Some(got),
        faults,
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<56} {:<12} {:>8} {:>6} {:>8} {:>10} {:>6}  verdict",
        "file", "-e", "requests", "ok", "skipped", "unresolved", "exit"
    );
    for row in rows {
        let case = &CASES[row.case];
        let (sent, ok, skipped, unresolved, exit) = match row.got {
            Some(g) => (
                g.sent.to_string(),
                (g.sent - g.failed).to_string(),
                g.skipped.to_string(),
                g.unresolved.to_string(),
                g.exit.to_string(),
            ),
            None => Default::default(),
        };
        let verdict = if row.faults.is_empty() {
            "as the example means".to_owned()
        } else {
            format!("FAIL: {}", row.faults.join("; "))
        };
        println!(
            "{:<56} {:<12} {sent:>8} {ok:>6} {skipped:>8} {unresolved:>10} {exit:>6}  {verdict}",
            case.file,
            case.env.unwrap_or("-"),
        );
    }
}

/// `LPS3_EXAMPLES=DIR cargo test -p lps --test lps_docs -- --ignored --nocapture`.
#[test]
#[ignore = "needs LPS3_EXAMPLES, the LPS documentation's example plans"]
fn the_documentations_journeys_run_against_the_fixtures() {
    let Some(examples) = std::env::var_os("LPS3_EXAMPLES").map(std::path::PathBuf::from) else {
        println!("LPS3_EXAMPLES is not set");
        return;
    };
    let next = AtomicUsize::new(0);
    let rows = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= CASES.len() {
                        return;
                    }
                    let row = run_case(&examples, index);
                    rows.lock().unwrap_or_else(|e| e.into_inner()).push(row);
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_else(|e| e.into_inner());
    rows.sort_by_key(|r| r.case);
    print_table(&rows);
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.faults.is_empty())
        .map(|r| CASES[r.case].file)
        .collect();
    println!(
        "{} runs of {} examples: {} as the examples mean, {} not",
        rows.len(),
        {
            let mut files: Vec<&str> = CASES.iter().map(|c| c.file).collect();
            files.dedup();
            files.len()
        },
        rows.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "not as the examples mean: {failed:?}");
}

#[test]
fn hosts_are_rewritten_and_only_hosts() {
    let base = "http://127.0.0.1:9";
    let plan = "url: https://fakestoreapi.com/carts/${cart.Body.id}\n\
                a: https://jsonplaceholder.typicode.com/users\n\
                b: ${x}https://httpbin.org\n\
                c: https://dev.api.example.com/users\n\
                d: https://other.org/x\n";
    assert_eq!(
        rewrite_hosts(plan, base),
        "url: http://127.0.0.1:9/carts/${cart.Body.id}\n\
         a: http://127.0.0.1:9/users\n\
         b: ${x}http://127.0.0.1:9\n\
         c: http://127.0.0.1:9/hosts/dev.api.example.com/users\n\
         d: https://other.org/x\n"
    );
}
