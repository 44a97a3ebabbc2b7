//! The LPS 3.x corpus (`node/tests/lps3-corpus/`): plans written from the
//! LPS documentation's feature list, one or more per feature, each run as
//! it is (only host and port changed) against the built-in target, with its
//! request count and its duration checked. Every plan in the folder must
//! have its line in [`CORPUS`]. (CB is not here: in LPS it runs until its
//! termination rules or Ctrl-C end it.)

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Lps, Scratch, Target, u};

const LIMIT: Duration = Duration::from_secs(60);
/// The host and port the corpus plans are written for.
const WRITTEN_FOR: &str = "127.0.0.1:8080";

/// What one plan must do.
struct Expect {
    file: &'static str,
    /// Extra `lps run` options.
    args: &'static [&'static str],
    /// Requests the target received, at least and at most.
    requests: (u64, u64),
    /// The run's duration in seconds, at least and at most (the upper bound
    /// leaves room for a loaded machine).
    seconds: (f64, f64),
    /// Connections that spoke HTTP/2, when the plan decides it.
    http2: Option<u64>,
}

const fn plan(file: &'static str, requests: u64, seconds: (f64, f64)) -> Expect {
    Expect {
        file,
        args: &[],
        requests: (requests, requests),
        seconds,
        http2: None,
    }
}

const CORPUS: &[Expect] = &[
    // 2 clients x 2, then 3 clients x 2.
    plan("rounds.yaml", 10, (0.0, 3.0)),
    // The third client starts 2 x 300 ms after the first.
    plan("arrival-delay.yaml", 3, (0.6, 2.5)),
    plan("startup-delay.yaml", 4, (0.5, 2.5)),
    // Two 600 ms requests at once (0.6 s), not one after the other (1.2 s).
    plan("run-in-parallel.yaml", 2, (0.6, 1.15)),
    plan("sequential.yaml", 2, (1.2, 2.5)),
    plan("delay-client-creation.yaml", 8, (0.6, 2.5)),
    plan("base-url.yaml", 6, (0.0, 2.0)),
    Expect {
        args: &["-t", "smoke"],
        ..plan("tags.yaml", 2, (0.0, 2.0))
    },
    // Clients at 0, 100, then 100 + 300 = 400, 500, 600 ms.
    plan("stages.yaml", 10, (0.6, 2.5)),
    // 2 clients x 3, then 3 + 1.
    plan("reference.yaml", 10, (0.0, 2.0)),
    // 2 clients back to back on 50 ms answers for 1 s: about 40.
    Expect {
        requests: (20, 44),
        ..plan("mode-d.yaml", 0, (1.0, 2.5))
    },
    plan("mode-crb.yaml", 9, (0.4, 2.0)),
    // Batches of 2 at 0, 400 and 800 ms.
    plan("mode-dcb.yaml", 6, (1.0, 2.5)),
    // Batches of four 900 ms requests 300 ms apart end at 1.2 s, not at
    // 1.8 s as they would if a batch waited for the one before.
    plan("maximize-throughput.yaml", 8, (1.2, 1.75)),
    plan("iteration-delay.yaml", 4, (0.6, 2.0)),
    plan("payloads.yaml", 5, (0.0, 2.0)),
    // Only the h2c iteration speaks HTTP/2: one connection.
    Expect {
        http2: Some(1),
        ..plan("http-versions.yaml", 6, (0.0, 2.0))
    },
    plan("headers.yaml", 3, (0.0, 2.0)),
    plan("keys-any-case.yaml", 6, (0.1, 2.0)),
    plan("plan.json", 8, (0.0, 2.0)),
];

/// The corpus folder, copied with its plans aimed at `addr`.
fn corpus_for(addr: &str) -> Scratch {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lps3-corpus");
    let dir = Scratch::new("lps3-corpus");
    for entry in std::fs::read_dir(&from).expect("the corpus folder") {
        let path = entry.expect("a corpus entry").path();
        let name = path.file_name().expect("a file name").to_string_lossy();
        let bytes = std::fs::read(&path).expect("a corpus file");
        match String::from_utf8(bytes) {
            Ok(text) if is_plan(&name) => dir.write(&name, text.replace(WRITTEN_FOR, addr)),
            Ok(text) => dir.write(&name, text),
            Err(e) => dir.write(&name, e.into_bytes()),
        };
    }
    dir
}

fn is_plan(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".json")
}

#[test]
fn every_corpus_plan_has_its_expectations() {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lps3-corpus");
    let mut plans: Vec<String> = std::fs::read_dir(from)
        .expect("the corpus folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| is_plan(n))
        .collect();
    plans.sort();
    let mut listed: Vec<String> = CORPUS.iter().map(|e| e.file.to_string()).collect();
    listed.sort();
    assert_eq!(plans, listed);
}

#[test]
fn the_corpus_runs_as_lps_documents_it() {
    let target = Target::start(&[]);
    let dir = corpus_for(&target.addr.to_string());
    let mut before = u(&target.stats()["requests"]);
    let mut wrong = Vec::new();
    for e in CORPUS {
        let mut args = vec!["run", e.file];
        args.extend(e.args);
        args.extend(["--json", "-", "--quiet"]);
        let out = Lps::spawn_in(dir.dir(), &args).wait(LIMIT);
        let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(r) if out.code == Some(0) => r,
            _ => {
                wrong.push(format!("{}: exit {:?}: {}", e.file, out.code, out.stderr));
                continue;
            }
        };
        let now = u(&target.stats()["requests"]);
        let received = now - before;
        before = now;
        let seconds = report["duration_s"].as_f64().unwrap_or(-1.0);
        let answered = u(&report["requests"]["ok"]);
        if received < e.requests.0 || received > e.requests.1 || answered != received {
            wrong.push(format!(
                "{}: the target received {received}, lps counted {answered} ok, expected {:?}",
                e.file, e.requests
            ));
        }
        if seconds < e.seconds.0 || seconds > e.seconds.1 {
            wrong.push(format!(
                "{}: ran {seconds} s, expected {:?}",
                e.file, e.seconds
            ));
        }
        if let Some(h2) = e.http2 {
            let spoke = u(&report["connections"]["http2"]);
            if spoke != h2 {
                wrong.push(format!(
                    "{}: {spoke} HTTP/2 connections, expected {h2}",
                    e.file
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
