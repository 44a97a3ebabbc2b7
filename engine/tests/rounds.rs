//! The round gate: with one, a round after the first starts only once the
//! gate released it, at the instant the release gives; a stop ends the wait.

use std::sync::Arc;
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
    let (port, arrivals) = common::recording_server();
    let gate = Arc::new(RoundGate::new(2));
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&two_rounds(port), &options(&gate), stop).unwrap();
    wait_done(&gate, 1);
    // Round 1 is done here; round 2 starts only 300 ms after the release.
    let at = Instant::now() + Duration::from_millis(300);
    gate.release(1, at);
    let total = common::finish_iterations(run, 2).total();
    assert_eq!(total.requests(), 2);
    let arrivals: Vec<Instant> = arrivals.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals[1] >= at, "round 2 began before its instant");
    assert!(arrivals[1] < at + Duration::from_secs(5));
}

#[test]
fn a_stop_ends_the_wait_for_the_gate() {
    let (port, arrivals) = common::recording_server();
    let gate = Arc::new(RoundGate::new(2));
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&two_rounds(port), &options(&gate), stop.clone()).unwrap();
    wait_done(&gate, 1);
    let stopped = Instant::now();
    stop.cancel();
    // Never released: the run ends all the same, without round 2.
    let total = common::finish_iterations(run, 2).total();
    assert!(stopped.elapsed() < Duration::from_secs(5));
    assert_eq!(total.requests(), 1);
    assert_eq!(arrivals.lock().unwrap().len(), 1);
}

#[test]
fn a_node_that_joins_late_skips_the_rounds_before() {
    let (port, arrivals) = common::recording_server();
    let gate = Arc::new(RoundGate::new(2));
    gate.join_at(1, Instant::now());
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&two_rounds(port), &options(&gate), stop).unwrap();
    let agg = common::finish_iterations(run, 2);
    assert_eq!(agg.total().requests(), 1);
    assert_eq!(arrivals.lock().unwrap().len(), 1);
    assert_eq!(gate.local_done(), 1);
}
