//! The pause gate against a real server: while it is closed nothing is
//! sent, once it opens the load goes on, and a deadline still ends an
//! iteration on time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lps_config::Mode;
use lps_engine::{Aggregate, PauseGate, RunOptions};

mod common;

/// A closed gate that waiters look at every `poll`, and options for one
/// core that pass it.
fn closed_gate(poll: Duration) -> (Arc<PauseGate>, RunOptions) {
    let gate = Arc::new(PauseGate::new(poll));
    gate.set_closed(true);
    let opts = RunOptions {
        threads: 1,
        pin: false,
        pause: Some(gate.clone()),
        ..Default::default()
    };
    (gate, opts)
}

/// Runs `mode` with the gate closed for its first `held`, then open; returns
/// the aggregate, the arrivals, when the gate opened and when the run began
/// and ended.
fn held_for(mode: Mode, held: Duration) -> (Aggregate, Vec<Instant>, Instant, Instant, Instant) {
    let (port, arrivals) = common::recording_server();
    let (gate, opts) = closed_gate(Duration::from_millis(10));
    let begun = Instant::now();
    let run = lps_engine::start(&common::get_plan(port, mode), &opts, Default::default()).unwrap();
    // The pause itself, not a wait for something: its length is the input.
    std::thread::sleep(held);
    let none_while_held = arrivals.lock().unwrap().len();
    let opened = Instant::now();
    gate.set_closed(false);
    let agg = common::finish(run);
    let ended = Instant::now();
    assert_eq!(
        none_while_held, 0,
        "requests arrived while the gate was closed"
    );
    let arrivals = arrivals.lock().unwrap().iter().map(|(t, _)| *t).collect();
    (agg, arrivals, opened, begun, ended)
}

#[test]
fn a_closed_gate_holds_requests_until_it_opens_and_drops_none() {
    let (agg, arrivals, opened, _, _) =
        held_for(Mode::Requests { requests: 20 }, Duration::from_millis(300));
    // Delayed, never dropped: every request went out, after the opening.
    assert_eq!(agg.total().ok, 20);
    assert_eq!(arrivals.len(), 20);
    assert!(arrivals.iter().all(|a| *a >= opened));
}

#[test]
fn a_duration_held_at_the_gate_still_ends_on_time() {
    let (port, arrivals) = common::recording_server();
    // Looked at every 5 s: only the deadline can end the wait in time.
    let (_gate, opts) = closed_gate(Duration::from_secs(5));
    let begun = Instant::now();
    let mode = Mode::Duration {
        duration: Duration::from_millis(500),
    };
    let run = lps_engine::start(&common::get_plan(port, mode), &opts, Default::default()).unwrap();
    let agg = common::finish(run);
    let took = begun.elapsed();
    assert_eq!(agg.total().requests(), 0);
    assert!(arrivals.lock().unwrap().is_empty());
    // The deadline ends it, not the 2 s grace.
    assert!(
        took < Duration::from_millis(1_000),
        "a 500 ms iteration held at the gate took {took:?}"
    );
}

#[test]
fn a_duration_resumes_when_the_gate_opens_and_ends_on_time() {
    let mode = Mode::Duration {
        duration: Duration::from_millis(800),
    };
    let (agg, arrivals, opened, begun, ended) = held_for(mode, Duration::from_millis(300));
    assert!(agg.total().ok > 0);
    assert!(arrivals.iter().all(|a| *a >= opened));
    let took = ended - begun;
    assert!(took < Duration::from_millis(1_500), "took {took:?}");
}

#[test]
fn batches_wait_at_the_gate_and_their_cooldown_runs_from_the_opening() {
    // 3 batches of 4, 200 ms apart, held for the first 300 ms.
    let mode = Mode::CooldownRequestBatch {
        requests: 12,
        batch: 4,
        cooldown: Duration::from_millis(200),
    };
    let (agg, mut arrivals, opened, _, _) = held_for(mode, Duration::from_millis(300));
    assert_eq!(agg.total().ok, 12);
    assert_eq!(arrivals.len(), 12);
    arrivals.sort();
    assert!(arrivals[0] >= opened);
    // The last batch went 2 cooldowns after the first, not at 400 ms of
    // the run (which the pause overlapped).
    let spread = arrivals[11] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(390),
        "batches {spread:?} apart in all"
    );
}
