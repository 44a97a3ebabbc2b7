//! The LPS iteration modes, run by one client on one core.
//!
//! R and D send one request after another on one connection; the batch modes
//! (CB, CRB, DCB) send `batch` requests at once on as many connections, then
//! cool down. With a rate (the open model) each request has an intended start
//! on a fixed schedule and its latency is measured from there.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::client::{Core, H2Slot, Lane, Prepared};
use lps_config::Mode;

/// Runs iteration `index` for client `client` until its mode says it is done.
pub(crate) async fn run(core: Rc<Core>, index: usize, client: u32) {
    let shared = core.shared.clone();
    let it = &shared.iterations[index];
    let start = Instant::now();
    match it.mode {
        Mode::Requests { requests } => {
            sequential(&core, it, client, start, Some(requests), None).await;
        }
        Mode::Duration { duration } => {
            sequential(&core, it, client, start, None, Some(start + duration)).await;
        }
        Mode::CooldownBatch {
            batch,
            cooldown,
            duration,
        } => {
            let deadline = duration.map(|d| start + d);
            batches(&core, it, None, deadline, batch, cooldown).await;
        }
        Mode::CooldownRequestBatch {
            requests,
            batch,
            cooldown,
        } => batches(&core, it, Some(requests), None, batch, cooldown).await,
        Mode::DurationCooldownBatch {
            duration,
            batch,
            cooldown,
        } => batches(&core, it, None, Some(start + duration), batch, cooldown).await,
    }
}

/// Requests one after another on one lane, closed model or paced.
async fn sequential(
    core: &Core,
    it: &Prepared,
    client: u32,
    start: Instant,
    count: Option<u64>,
    deadline: Option<Instant>,
) {
    let shared = &core.shared;
    let pace = shared
        .rate
        .map(|rate| Pace::new(rate, shared.clients, client, start));
    let mut lane = Lane::new();
    let work = async {
        let mut i = 0u64;
        while count.is_none_or(|n| i < n) {
            let intended = match &pace {
                Some(p) => {
                    let at = p.at(i);
                    if deadline.is_some_and(|d| at >= d) {
                        break;
                    }
                    sleep_until(at).await;
                    at
                }
                None => Instant::now(),
            };
            lane.send(core, it, intended).await;
            i += 1;
        }
    };
    match deadline {
        // A request still in flight at the deadline is dropped, as wrk does:
        // it was not answered within the test.
        Some(d) => {
            tokio::select! {
                _ = work => {}
                _ = sleep_until(d) => {}
            }
        }
        None => work.await,
    }
}

/// The open model's schedule for one client: clients interleave so that the
/// whole test sends at `rate` evenly.
struct Pace {
    first: Instant,
    interval: Duration,
}

impl Pace {
    fn new(rate: f64, clients: u32, client: u32, start: Instant) -> Pace {
        let global = Duration::from_secs_f64(1.0 / rate);
        Pace {
            first: start + global * client,
            interval: global * clients,
        }
    }

    fn at(&self, i: u64) -> Instant {
        self.first + self.interval.mul_f64(i as f64)
    }
}

/// Batches of `batch` concurrent requests separated by `cooldown`.
async fn batches(
    core: &Rc<Core>,
    it: &Prepared,
    limit: Option<u64>,
    deadline: Option<Instant>,
    batch: u32,
    cooldown: Duration,
) {
    let pool: Rc<RefCell<Vec<Lane>>> = Rc::new(RefCell::new(Vec::new()));
    let h2: H2Slot = Rc::new(tokio::sync::Mutex::new(None));
    // Dropping the set (at the deadline or on stop) aborts requests in flight.
    let mut running: JoinSet<()> = JoinSet::new();
    let index = it.index;
    let work = async {
        let mut sent = 0u64;
        let mut next = Instant::now();
        loop {
            let n = match limit {
                Some(l) if sent >= l => break,
                Some(l) => (l - sent).min(batch as u64),
                None => batch as u64,
            };
            for _ in 0..n {
                let core = core.clone();
                let pool = pool.clone();
                let h2 = h2.clone();
                running.spawn_local(async move {
                    let popped = pool.borrow_mut().pop();
                    let mut lane = popped.unwrap_or_else(|| Lane::sharing(h2));
                    let it = &core.shared.iterations[index];
                    lane.send(&core, it, Instant::now()).await;
                    pool.borrow_mut().push(lane);
                });
            }
            sent += n;
            if it.maximize_throughput {
                // The next batch starts a cooldown after this one started.
                while running.try_join_next().is_some() {}
                next += cooldown;
            } else {
                while running.join_next().await.is_some() {}
                next = Instant::now() + cooldown;
            }
            if limit.is_some_and(|l| sent >= l) {
                break;
            }
            if deadline.is_some_and(|d| next >= d) {
                break;
            }
            sleep_until(next).await;
        }
        while running.join_next().await.is_some() {}
    };
    match deadline {
        // The iteration lasts its whole duration: the last cooldown runs out
        // even when no further batch fits before the deadline.
        Some(d) => {
            tokio::select! {
                _ = work => sleep_until(d).await,
                _ = sleep_until(d) => {}
            }
        }
        None => work.await,
    }
}
