//! The round gate: with one, a round after the first starts only once the
//! gate released it, at the instant the release gives; a stop ends the wait.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lps_config::{Mode, Plan};
use lps_engine::{RoundGate, RunOptions};

mod common;

/// A plan of two rounds, each one client sending one `GET /`.
fn two_rounds(port: u16) -> Plan {
    let mut plan = common::get_plan(port, Mode::Requests { requests: 1 });
    let second = plan.rounds[0].clone();
    plan.rounds.push(second);
    plan
}

/// A keep-alive server that notes when each request head arrives.
fn recording_server() -> (u16, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    head.extend_from_slice(&buf[..n]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.lock().unwrap().push(Instant::now());
                        head.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if stream.write_all(reply).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, arrivals)
}

/// Every snapshot of `run` (two iterations) until it ends, merged; then joins it.
fn finish(run: lps_engine::Run) -> lps_engine::Aggregate {
    let mut agg = lps_engine::Aggregate::new(2);
    while let Ok(snap) = run.snapshots().recv_timeout(common::LIMIT) {
        agg.add(&snap);
    }
    run.join().unwrap();
    agg
}

fn options(gate: &Arc<RoundGate>) -> RunOptions {
    RunOptions {
        threads: 1,
        pin: false,
        rounds: Some(gate.clone()),
        ..Default::default()
    }
}

/// Waits until the gate says this node finished `rounds` rounds.
fn wait_done(gate: &RoundGate, rounds: usize) {
    let give_up = Instant::now() + common::LIMIT;
    while gate.local_done() < rounds {
        assert!(Instant::now() < give_up, "round not done in time");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_next_round_waits_for_the_gate_and_starts_at_its_instant() {
    let (port, arrivals) = recording_server();
    let gate = Arc::new(RoundGate::new(2));
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&two_rounds(port), &options(&gate), stop).unwrap();
    wait_done(&gate, 1);
    // Round 1 is done here; round 2 starts only 300 ms after the release.
    let at = Instant::now() + Duration::from_millis(300);
    gate.release(1, at);
    let total = finish(run).total();
    assert_eq!(total.requests(), 2);
    let arrivals = arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] >= at, "round 2 began before its instant");
    assert!(arrivals[1] < at + Duration::from_secs(5));
}

#[test]
fn a_stop_ends_the_wait_for_the_gate() {
    let (port, arrivals) = recording_server();
    let gate = Arc::new(RoundGate::new(2));
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&two_rounds(port), &options(&gate), stop.clone()).unwrap();
    wait_done(&gate, 1);
    let stopped = Instant::now();
    stop.cancel();
    // Never released: the run ends all the same, without round 2.
    let total = finish(run).total();
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert_eq!(total.requests(), 1);
    assert_eq!(arrivals.lock().unwrap().len(), 1);
}

#[test]
fn a_node_that_joins_late_skips_the_rounds_before() {
    let (port, arrivals) = recording_server();
    let gate = Arc::new(RoundGate::new(2));
    gate.join_at(1, Instant::now());
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&two_rounds(port), &options(&gate), stop).unwrap();
    let agg = finish(run);
    assert_eq!(agg.total().requests(), 1);
    assert_eq!(arrivals.lock().unwrap().len(), 1);
    assert_eq!(gate.local_done(), 1);
}
