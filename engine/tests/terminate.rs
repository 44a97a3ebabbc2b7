//! Termination against a real server: once an iteration is terminated no
//! client sends another of its requests or starts it, a cooldown does not
//! hold it, and the clients go on to the round's next iteration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lps_config::{Mode, Plan};
use lps_engine::{RunOptions, Terminations};

mod common;

/// One round of `clients` clients running `/first` in `first`, then `/next`
/// three times.
fn two_iterations(port: u16, clients: u32, first: Mode) -> Plan {
    let mut plan = common::get_plan(port, first);
    let round = &mut plan.rounds[0];
    round.stages[0].clients = clients;
    let mut next = round.iterations[0].clone();
    round.iterations[0].request.target.path_and_query = "/first".into();
    next.name = "next".into();
    next.mode = Mode::Requests { requests: 3 };
    next.request.target.path_and_query = "/next".into();
    round.iterations.push(next);
    plan
}

fn options(terminations: &Arc<Terminations>) -> RunOptions {
    RunOptions {
        threads: 1,
        pin: false,
        terminations: Some(terminations.clone()),
        ..Default::default()
    }
}

fn count(arrivals: &common::Arrivals, path: &str) -> usize {
    arrivals
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, p)| p == path)
        .count()
}

/// Waits (bounded) until `/first` got `n` requests.
fn wait_for_first(arrivals: &common::Arrivals, n: usize) {
    let give_up = Instant::now() + common::LIMIT;
    while count(arrivals, "/first") < n {
        assert!(
            Instant::now() < give_up,
            "the load never reached {n} requests"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_terminated_iteration_sends_nothing_more_and_its_clients_go_on() {
    let (port, arrivals) = common::recording_server();
    let duration = Duration::from_secs(30);
    let plan = two_iterations(port, 2, Mode::Duration { duration });
    let terminations = Arc::new(Terminations::new(2));
    let run = lps_engine::start(&plan, &options(&terminations), Default::default()).unwrap();
    wait_for_first(&arrivals, 50);
    let at = Instant::now();
    assert!(terminations.terminate(0));
    let agg = common::finish_iterations(run, 2);
    let ended = at.elapsed();
    assert!(
        ended < Duration::from_secs(5),
        "the run lasted {ended:?} after the termination"
    );
    let seen = arrivals.lock().unwrap().clone();
    // A request that passed its check as the flag was set may still arrive.
    let late: Vec<_> = (seen.iter())
        .filter(|(t, p)| p == "/first" && *t > at + Duration::from_millis(200))
        .collect();
    assert!(
        late.is_empty(),
        "{} requests of /first after the termination",
        late.len()
    );
    assert_eq!(
        count(&arrivals, "/next"),
        6,
        "both clients ran the next iteration"
    );
    assert_eq!(agg.iterations[1].requests(), 6);
    assert_eq!(
        agg.iterations[0].requests() as usize,
        count(&arrivals, "/first")
    );
}

#[test]
fn a_cooldown_does_not_hold_a_terminated_iteration() {
    let (port, arrivals) = common::recording_server();
    let first = Mode::DurationCooldownBatch {
        duration: Duration::from_secs(30),
        batch: 4,
        cooldown: Duration::from_secs(20),
    };
    let plan = two_iterations(port, 1, first);
    let terminations = Arc::new(Terminations::new(2));
    let run = lps_engine::start(&plan, &options(&terminations), Default::default()).unwrap();
    wait_for_first(&arrivals, 4);
    let at = Instant::now();
    terminations.terminate(0);
    let agg = common::finish_iterations(run, 2);
    let ended = at.elapsed();
    // Without the cut the client would sleep out its 20 s cooldown.
    assert!(
        ended < Duration::from_secs(5),
        "the run lasted {ended:?} after the termination"
    );
    assert_eq!(count(&arrivals, "/first"), 4);
    assert_eq!(agg.iterations[1].requests(), 3);
}

#[test]
fn an_iteration_terminated_before_it_starts_is_not_run() {
    let (port, arrivals) = common::recording_server();
    let plan = two_iterations(port, 2, Mode::Requests { requests: 3 });
    let terminations = Arc::new(Terminations::new(2));
    terminations.terminate(1);
    let run = lps_engine::start(&plan, &options(&terminations), Default::default()).unwrap();
    let agg = common::finish_iterations(run, 2);
    assert_eq!(count(&arrivals, "/first"), 6);
    assert_eq!(count(&arrivals, "/next"), 0);
    assert_eq!(agg.iterations[1].requests(), 0);
}
