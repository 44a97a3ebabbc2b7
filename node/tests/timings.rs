//! The time to first byte, recorded beside the latency: from the same start
//! to the first byte of the response, in the report and the console summary.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{Scratch, Target, lps, raw_peer, read_json, u};

const LIMIT: Duration = Duration::from_secs(60);

/// How long the peers below hold their answer.
const HOLD_MS: u64 = 300;

#[test]
fn the_first_byte_of_a_delayed_response_comes_after_the_delay() {
    let target = Target::start(&[]);
    let dir = Scratch::new("ttfb-delay");
    let json = dir.path("report.json");
    let url = target.url(&format!("/delay/{HOLD_MS}"));
    // HTTP/1.1 on lps's own path, and HTTP/2 (h2c) on the h2 crate.
    for version in [&["-hv", "1.1"][..], &["-hv", "2.0", "-h2c"]] {
        let mut args = vec!["--url", &url, "-rc", "3", "-nc", "1"];
        args.extend(version);
        args.extend(["--json", json.to_str().expect("utf-8")]);
        let out = lps(&args, LIMIT);
        assert_eq!(out.code, Some(0), "{version:?}: {}", out.stderr);
        let report = read_json(&json);
        for figures in [&report, &report["iterations"][0]] {
            let (ttfb, latency) = (&figures["ttfb_us"], &figures["latency_us"]);
            assert!(u(&ttfb["min"]) >= HOLD_MS * 1000, "{version:?}: {ttfb}");
            for q in ["min", "p50", "max"] {
                assert!(
                    u(&ttfb[q]) <= u(&latency[q]),
                    "{version:?} {q}: {ttfb} {latency}"
                );
            }
        }
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\n  TTFB:        min "), "{text}");
        // Plain http: no TLS line.
        assert!(!text.contains("TLS:"), "{text}");
    }
}

/// Answers with the head at once and the body [`HOLD_MS`] later, then closes.
fn head_then_body(stream: &mut TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n");
    std::thread::sleep(Duration::from_millis(HOLD_MS));
    let _ = stream.write_all(b"body");
}

#[test]
fn a_head_sent_before_its_body_is_the_first_byte() {
    let addr = raw_peer(head_then_body);
    let dir = Scratch::new("ttfb-head");
    let json = dir.path("report.json");
    let url = format!("http://{addr}/");
    let out = lps(
        &[
            "--url",
            &url,
            "-rc",
            "2",
            "-nc",
            "1",
            "-q",
            "--json",
            json.to_str().expect("utf-8"),
        ],
        LIMIT,
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let report = read_json(&json);
    assert_eq!(u(&report["requests"]["ok"]), 2);
    let (ttfb, latency) = (&report["ttfb_us"], &report["latency_us"]);
    // Each request opens a connection (the peer closes), and its latency
    // starts once the connection is open: the head comes at once, the body
    // HOLD_MS later.
    assert!(u(&latency["min"]) >= HOLD_MS * 1000, "{latency}");
    assert!(
        u(&ttfb["max"]) + HOLD_MS * 1000 / 2 <= u(&latency["min"]),
        "ttfb {ttfb}, latency {latency}"
    );
}
