//! The LPS iteration modes, run by one client on one core.
//!
//! R and D send one request after another on one connection; the batch modes
//! (CB, CRB, DCB) send `batch` requests at once on as many connections, then
//! cool down. With a rate (the open model) each request has an intended start
//! on a fixed schedule and its latency is measured from there.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::alarm::Alarm;
use crate::client::{Core, H2Slot, Lane, Prepared, TimerGate};
use crate::stats::ErrorKind;
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
    // Made only for the open model: a closed loop never waits for a time.
    let mut alarm = pace.as_ref().map(|_| Alarm::new());
    let mut lane = Lane::new();
    // The request being sent or waited for; read when the deadline cuts the loop.
    let next = Cell::new(0u64);
    let work = async {
        let mut i = 0u64;
        while count.is_none_or(|n| i < n) {
            next.set(i);
            let intended = match (&pace, &mut alarm) {
                (Some(p), Some(alarm)) => {
                    let at = p.at(i);
                    if deadline.is_some_and(|d| at >= d) {
                        break;
                    }
                    alarm.sleep_until(at).await;
                    Some(at)
                }
                _ => None,
            };
            lane.send(core, it, intended).await;
            i += 1;
        }
        next.set(i);
    };
    match deadline {
        Some(d) => {
            tokio::pin!(work);
            let end = sleep_until(d);
            tokio::pin!(end);
            let mut gate = TimerGate::default();
            let cut = std::future::poll_fn(|cx| {
                if work.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                gate.poll(end.as_mut(), cx).map(|()| true)
            })
            .await;
            // Closed model: a request in flight at the deadline is dropped,
            // as wrk does. Open model: see `record_late`.
            if cut && let Some(p) = &pace {
                record_late(core, it, p, next.get(), count, d);
            }
        }
        None => work.await,
    }
}

/// Open model, cut at `deadline` while request `next` was in flight: every
/// request that was due before the deadline and is not answered (the one in
/// flight and those queued behind it) failed, or a stall at the end of a test
/// would vanish from the report.
fn record_late(
    core: &Core,
    it: &Prepared,
    pace: &Pace,
    next: u64,
    count: Option<u64>,
    deadline: Instant,
) {
    let late = pace.due(next, count, deadline);
    if late > 0 {
        core.stats.borrow_mut()[it.index].record_errors(ErrorKind::Timeout, late);
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

    /// Requests `from..count` whose intended start lies before `deadline`.
    fn due(&self, from: u64, count: Option<u64>, deadline: Instant) -> u64 {
        let Some(span) = deadline.checked_duration_since(self.first) else {
            return 0;
        };
        // Requests 0..end start before the deadline.
        let end = (span.as_secs_f64() / self.interval.as_secs_f64()).ceil() as u64;
        let end = count.map_or(end, |n| end.min(n));
        end.saturating_sub(from)
    }
}

/// Requests a batch loop hands to its lanes, and their completions. Lanes
/// are tasks that live as long as the iteration, so a request spawns nothing.
#[derive(Default)]
struct Tickets {
    /// Issued and not yet taken by a lane.
    pending: Cell<u64>,
    /// Lanes not sending: waiting for a ticket, or spawned and not yet run.
    /// The batch loop adds lanes until there are as many as tickets pending.
    available: Cell<u64>,
    /// Requests finished.
    done: Cell<u64>,
    /// Wakes the lanes waiting for a ticket.
    issued: tokio::sync::Notify,
    /// Wakes the batch loop when a request finishes.
    finished: tokio::sync::Notify,
}

impl Tickets {
    /// Waits until `sent` requests have finished.
    async fn all_done(&self, sent: u64) {
        while self.done.get() < sent {
            self.finished.notified().await;
        }
    }
}

/// One lane of a batch loop: takes a ticket, sends its request, and again.
/// It counts as available from its spawn (by the batch loop) on, but while
/// it sends.
async fn run_lane(core: Rc<Core>, index: usize, tickets: Rc<Tickets>, mut lane: Lane) {
    loop {
        while tickets.pending.get() == 0 {
            tickets.issued.notified().await;
        }
        tickets.pending.set(tickets.pending.get() - 1);
        tickets.available.set(tickets.available.get() - 1);
        lane.send(&core, &core.shared.iterations[index], None).await;
        tickets.available.set(tickets.available.get() + 1);
        tickets.done.set(tickets.done.get() + 1);
        tickets.finished.notify_one();
    }
}

/// Issues `n` tickets. Available lanes take what they can; a lane is added
/// for each ticket they cannot, so the batch's requests all go out at once
/// (and, with maximize_throughput, overlap the batch before).
fn issue(
    core: &Rc<Core>,
    index: usize,
    tickets: &Rc<Tickets>,
    h2: &H2Slot,
    lanes: &mut JoinSet<()>,
    n: u64,
) {
    tickets.pending.set(tickets.pending.get() + n);
    while tickets.available.get() < tickets.pending.get() {
        tickets.available.set(tickets.available.get() + 1);
        let lane = Lane::sharing(h2.clone());
        lanes.spawn_local(run_lane(core.clone(), index, tickets.clone(), lane));
    }
    tickets.issued.notify_waiters();
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
    let tickets = Rc::new(Tickets::default());
    let h2: H2Slot = Rc::new(tokio::sync::Mutex::new(None));
    // Dropping the set (at the deadline or on stop) aborts requests in flight.
    let mut lanes: JoinSet<()> = JoinSet::new();
    let work = async {
        let mut sent = 0u64;
        let mut next = Instant::now();
        loop {
            let n = match limit {
                Some(l) if sent >= l => break,
                Some(l) => (l - sent).min(batch as u64),
                None => batch as u64,
            };
            issue(core, it.index, &tickets, &h2, &mut lanes, n);
            sent += n;
            if it.maximize_throughput {
                // The next batch starts a cooldown after this one started.
                next += cooldown;
            } else {
                tickets.all_done(sent).await;
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
        tickets.all_done(sent).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_counts_requests_scheduled_before_the_deadline() {
        let start = Instant::now();
        // 100 per second over 4 clients: client 1 starts at 10 ms, every 40 ms.
        let p = Pace::new(100.0, 4, 1, start);
        assert_eq!(p.at(0), start + Duration::from_millis(10));
        assert_eq!(p.at(2), start + Duration::from_millis(90));
        let d = start + Duration::from_millis(1000);
        // Starts at 10, 50, ..., 970 ms: 25 before the deadline.
        assert_eq!(p.due(0, None, d), 25);
        assert_eq!(p.due(20, None, d), 5);
        assert_eq!(p.due(30, None, d), 0);
        assert_eq!(p.due(0, Some(7), d), 7);
        assert_eq!(p.due(0, None, start), 0);
    }
}
