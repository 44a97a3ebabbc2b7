//! The LPS iteration modes, run by one client on one core.
//!
//! R and D send one request after another on one connection; the batch modes
//! (CB, CRB, DCB) send `batch` requests at once on as many connections, then
//! cool down. With a rate (the open model) each request has an intended start
//! on a fixed schedule and its latency is measured from there.
//!
//! With a pause gate (the node's watchdog), each request and each batch
//! first passes it, as LPS calls its watchdog before every request and batch.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::alarm::Alarm;
use crate::client::{Core, H2Slot, Lane, Prepared, Req, Schedule, TimerGate, Wire};
use crate::pause::{PauseGate, pass};
use crate::script::{self, Client};
use crate::stats::ErrorKind;
use lps_config::Mode;

/// What a client brings to each iteration it runs: the watchdog's gate,
/// and its LPS session when the plan has scripts.
#[derive(Clone, Default)]
pub(crate) struct ClientCx {
    pub pause: Option<Arc<PauseGate>>,
    pub client: Option<Rc<Client>>,
}

/// Runs iteration `index` for client `client` (of the round's `clients`)
/// until its mode says it is done, its duration is over or the run is
/// stopped, and records when it ran; nothing is sent while the pause gate
/// is closed. A scripted iteration runs its `before` and `skipIf` first
/// (a skip ends it) and its `after` last.
pub(crate) async fn run(core: Rc<Core>, index: usize, who: (u32, u32), cx: ClientCx) {
    let shared = core.shared.clone();
    // A terminated iteration starts for no client.
    if shared.terminated(index) {
        return;
    }
    let it = &shared.iterations[index];
    let scripted = it.script.as_deref().zip(cx.client.as_deref());
    if let Some((sc, client)) = scripted
        && !script::start_iteration(&core, it, sc, client)
    {
        return;
    }
    let work = run_mode(&core, it, who, &cx);
    match shared.terminations.as_deref() {
        Some(t) => until_terminated(&core, work, t, index).await,
        None => work.await,
    }
    if let Some((sc, client)) = scripted {
        script::end_iteration(&core, it, sc, client);
    }
}

/// The iteration's mode, for one client.
async fn run_mode(core: &Rc<Core>, it: &Prepared, (client, clients): (u32, u32), cx: &ClientCx) {
    let index = it.index;
    let start = Instant::now();
    core.stats.borrow_mut()[index]
        .span
        .begin(core.offset_us(start));
    // Dropped last, however the iteration ends (a cut included).
    let _end = SpanEnd { core, index };
    let one = (it, cx.pause.as_deref(), cx.client.as_deref());
    let who = (client, clients);
    match it.mode {
        Mode::Requests { requests } => {
            sequential(core, one, who, start, Some(requests), None).await;
        }
        Mode::Duration { duration } => {
            sequential(core, one, who, start, None, Some(start + duration)).await;
        }
        Mode::CooldownBatch {
            batch,
            cooldown,
            duration,
        } => {
            let deadline = duration.map(|d| start + d);
            batches(core, (it, cx, client), None, deadline, batch, cooldown).await;
        }
        Mode::CooldownRequestBatch {
            requests,
            batch,
            cooldown,
        } => {
            let limit = Some(requests);
            batches(core, (it, cx, client), limit, None, batch, cooldown).await
        }
        Mode::DurationCooldownBatch {
            duration,
            batch,
            cooldown,
        } => {
            let deadline = Some(start + duration);
            batches(core, (it, cx, client), None, deadline, batch, cooldown).await
        }
    }
}

/// Runs `work` (a client's run of iteration `index`) to its end or, once a
/// termination rule ended the iteration, until nothing is in flight on this
/// core or the grace is over: the loops start nothing new once they see it
/// (`Core::ended`), and dropping `work` cuts what is left (a cooldown, a
/// request past the grace: unfinished), as a stop does.
async fn until_terminated(
    core: &Core,
    work: impl Future<Output = ()>,
    terminations: &crate::Terminations,
    index: usize,
) {
    tokio::pin!(work);
    let Some(terminated) = terminations.terminated(index) else {
        return work.await;
    };
    tokio::select! {
        biased;
        () = &mut work => return,
        () = terminated => {}
    }
    let until = Instant::now() + core.shared.grace;
    // Watched, as `runner::drain` watches it after a stop.
    while crate::idle::in_flight() > 0 && Instant::now() < until {
        tokio::select! {
            () = &mut work => return,
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
}

/// Records the end of a client's run of an iteration when dropped.
struct SpanEnd<'a> {
    core: &'a Core,
    index: usize,
}

impl Drop for SpanEnd<'_> {
    fn drop(&mut self) {
        let end = self.core.offset_us(Instant::now());
        // Stats are borrowed only for a moment by code that never awaits.
        if let Ok(mut stats) = self.core.stats.try_borrow_mut() {
            stats[self.index].span.end(end);
        }
    }
}

/// Requests one after another on one lane, closed model or paced. At the
/// deadline nothing new starts, and the request in flight gets the grace to
/// finish (then it is unfinished).
async fn sequential(
    core: &Core,
    (it, gate, session): (&Prepared, Option<&PauseGate>, Option<&Client>),
    (client, clients): (u32, u32),
    start: Instant,
    count: Option<u64>,
    deadline: Option<Instant>,
) {
    let shared = &core.shared;
    let lane = match core.h2_group(it, client) {
        Some(slot) => Lane::sharing(slot),
        None => Lane::new(),
    };
    let mut lane = lane.until(deadline);
    // Set at the deadline: the closed loop starts nothing new (the open
    // loop goes by the schedule, see `paced`).
    let draining = Cell::new(false);
    match shared.rate {
        None => {
            let work = closed(
                core,
                (it, gate, session),
                &mut lane,
                (count, deadline),
                &draining,
            );
            match deadline {
                Some(d) => until_deadline(work, d, shared.grace, &draining).await,
                None => work.await,
            }
        }
        Some(rate) => {
            let pace = Pace::new(rate, clients, client, start);
            // Requests sent; the loop may be cut, so it lives out here.
            let sent = Cell::new(0u64);
            // Dropped before `sent`, however the loop ends (a cut included).
            let _late = Late {
                core,
                it,
                pace: &pace,
                sent: &sent,
                count,
                deadline,
            };
            let one = (it, gate, session);
            let work = paced(core, one, &mut lane, &pace, (count, deadline), &sent);
            match deadline {
                Some(d) => until_deadline(work, d, shared.grace, &draining).await,
                None => work.await,
            }
        }
    }
}

/// The closed model: the next request as soon as the last is answered
/// (and the gate, if any, is open).
async fn closed(
    core: &Core,
    (it, gate, client): (&Prepared, Option<&PauseGate>, Option<&Client>),
    lane: &mut Lane,
    (count, deadline): (Option<u64>, Option<Instant>),
    draining: &Cell<bool>,
) {
    let mut i = 0u64;
    // `expired` as well as `draining`: a retry waits out to the deadline,
    // and no command may start at it before the deadline timer is seen.
    let ended = || core.ended(it.index);
    while count.is_none_or(|n| i < n) && !draining.get() && !lane.expired() && !ended() {
        // Checked here first: awaiting `pass` on every request costs its
        // future's poll even when the gate is open.
        let held = gate.is_some_and(PauseGate::is_closed);
        if held && !pass(gate, deadline, || ended() || draining.get()).await {
            break;
        }
        if it.plain {
            lane.send_once(core, it, None, Req::of(it)).await;
        } else {
            lane.send(core, it, None, client).await;
        }
        i += 1;
    }
}

/// The open model: each request at its intended start. A request is sent
/// even when lps wakes for it after the deadline (it was due before, and
/// the lane was free); requests the target kept waiting past the deadline
/// are not sent (see [`Late`]).
async fn paced(
    core: &Core,
    (it, gate, client): (&Prepared, Option<&PauseGate>, Option<&Client>),
    lane: &mut Lane,
    pace: &Pace,
    (count, deadline): (Option<u64>, Option<Instant>),
    sent: &Cell<u64>,
) {
    let mut alarm = Alarm::new();
    // When the lane was last free to send: its previous response.
    let mut free = Instant::now();
    let mut i = 0u64;
    let ended = || core.ended(it.index);
    while count.is_none_or(|n| i < n) && !ended() {
        let at = pace.at(i);
        if deadline.is_some_and(|d| at >= d || free >= d) {
            break;
        }
        alarm.sleep_until(at).await;
        // Held by the gate, the request is late: its latency still runs
        // from its intended start, its send lag from the gate's opening
        // (the pause is not lps falling behind).
        let held = gate.is_some_and(PauseGate::is_closed);
        if ended() || !pass(gate, deadline, ended).await {
            break;
        }
        if held {
            free = free.max(Instant::now());
        }
        sent.set(i + 1);
        let schedule = Schedule {
            intended: at,
            ready: at.max(free),
        };
        if it.plain {
            lane.send_once(core, it, Some(schedule), Req::of(it)).await;
        } else {
            lane.send(core, it, Some(schedule), client).await;
        }
        free = Instant::now();
        i += 1;
    }
}

/// Runs `work` to its end, or until `grace` after `deadline`: from the
/// deadline on, `draining` tells it to start nothing new; once the grace is
/// over it is dropped, and its request in flight counts as unfinished.
async fn until_deadline(
    work: impl Future<Output = ()>,
    deadline: Instant,
    grace: Duration,
    draining: &Cell<bool>,
) {
    tokio::pin!(work);
    let timer = sleep_until(deadline);
    tokio::pin!(timer);
    let mut gate = TimerGate::default();
    std::future::poll_fn(|cx| {
        if work.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        while gate.poll(timer.as_mut(), cx).is_ready() {
            if draining.get() {
                return Poll::Ready(());
            }
            draining.set(true);
            gate.reset(timer.as_mut(), deadline + grace);
        }
        Poll::Pending
    })
    .await
}

/// Open model, when the loop has ended: every request that was due before
/// the end (the deadline, the stop or the termination) and was never sent, because the
/// target kept its lane waiting, failed as a timeout, or a stall at the end
/// of a test would vanish from the report. A request sent and not answered
/// is unfinished, not late (see `client::InFlight`).
struct Late<'a> {
    core: &'a Core,
    it: &'a Prepared,
    pace: &'a Pace,
    sent: &'a Cell<u64>,
    count: Option<u64>,
    deadline: Option<Instant>,
}

impl Drop for Late<'_> {
    fn drop(&mut self) {
        let terminated = (self.core.shared.terminations.as_deref())
            .and_then(|t| t.terminated_at(self.it.index))
            .map(Instant::from_std);
        let ends = [self.deadline, self.core.stopping.get(), terminated];
        // Not cut: every request was sent.
        let Some(end) = ends.into_iter().flatten().min() else {
            return;
        };
        let late = self.pace.due(self.sent.get(), self.count, end);
        // Stats are borrowed only for a moment by code that never awaits.
        if late > 0
            && let Ok(mut stats) = self.core.stats.try_borrow_mut()
        {
            stats[self.it.index].record_errors(ErrorKind::Timeout, late);
        }
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
    /// Requests taken by a lane.
    taken: Cell<u64>,
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

    /// Withdraws the tickets no lane has taken, and waits until the
    /// requests of those taken have finished.
    async fn drain(&self) {
        self.pending.set(0);
        while self.done.get() < self.taken.get() {
            self.finished.notified().await;
        }
    }
}

/// One lane of a batch loop: takes a ticket, sends its request, and again.
/// It counts as available from its spawn (by the batch loop) on, but while
/// it sends. While the gate is closed it takes no ticket: the batch loop's
/// deadline withdraws what is not taken.
async fn run_lane(
    core: Rc<Core>,
    (index, gate, client): (usize, Option<Arc<PauseGate>>, Option<Rc<Client>>),
    tickets: Rc<Tickets>,
    mut lane: Lane,
) {
    loop {
        while tickets.pending.get() == 0 || core.ended(index) {
            tickets.issued.notified().await;
        }
        if gate.as_ref().is_some_and(|g| g.is_closed()) {
            pass(gate.as_deref(), None, || core.ended(index)).await;
            // The tickets may have been withdrawn meanwhile: look again.
            continue;
        }
        tickets.pending.set(tickets.pending.get() - 1);
        tickets.taken.set(tickets.taken.get() + 1);
        tickets.available.set(tickets.available.get() - 1);
        let it = &core.shared.iterations[index];
        if it.plain {
            lane.send_once(&core, it, None, Req::of(it)).await;
        } else {
            lane.send(&core, it, None, client.as_deref()).await;
        }
        tickets.available.set(tickets.available.get() + 1);
        tickets.done.set(tickets.done.get() + 1);
        tickets.finished.notify_one();
    }
}

/// Issues `n` tickets. Available lanes take what they can; a lane is added
/// for each ticket they cannot, so the batch's requests all go out at once
/// (and overlap those of the batch before that are still in flight), up to
/// the HTTP/1.1 connections a client may open: past that, tickets wait for
/// a lane to be free, as LPS's requests wait for a pooled connection.
/// Lanes start no retry at or after `deadline`.
fn issue(
    core: &Rc<Core>,
    (index, cx): (usize, &ClientCx),
    tickets: &Rc<Tickets>,
    (h2, deadline): (&H2Slot, Option<Instant>),
    lanes: &mut JoinSet<()>,
    n: u64,
) {
    let max_lanes = match core.shared.iterations[index].wire {
        Wire::Http1 => core.shared.max_lanes as usize,
        // HTTP/2 lanes are streams of one shared connection.
        Wire::Alpn | Wire::H2c => usize::MAX,
    };
    tickets.pending.set(tickets.pending.get() + n);
    while tickets.available.get() < tickets.pending.get() && lanes.len() < max_lanes {
        tickets.available.set(tickets.available.get() + 1);
        let lane = Lane::sharing(h2.clone()).until(deadline);
        let who = (index, cx.pause.clone(), cx.client.clone());
        let lane = run_lane(core.clone(), who, tickets.clone(), lane);
        lanes.spawn_local(lane);
    }
    tickets.issued.notify_waiters();
}

/// Batches of `batch` concurrent requests, each `cooldown` after the one
/// before was dispatched (LPS 3.x, spec 2.5); a batch held by the gate goes
/// when it opens, and the cooldown runs from then. Over HTTP/2 the client's
/// lanes share one connection, its own or its group's.
async fn batches(
    core: &Rc<Core>,
    (it, cx, client): (&Prepared, &ClientCx, u32),
    limit: Option<u64>,
    deadline: Option<Instant>,
    batch: u32,
    cooldown: Duration,
) {
    let tickets = Rc::new(Tickets::default());
    let h2: H2Slot = core
        .h2_group(it, client)
        .unwrap_or_else(|| Rc::new(tokio::sync::Mutex::new(None)));
    let mut lanes: JoinSet<()> = JoinSet::new();
    let work = dispatch(
        core,
        (it, cx),
        (&tickets, &h2, &mut lanes),
        (limit, deadline),
        (batch, cooldown),
    );
    match deadline {
        // The iteration lasts its whole duration: the last cooldown runs out
        // even when no further batch fits before the deadline.
        Some(d) => {
            tokio::select! {
                _ = work => sleep_until(d).await,
                _ = sleep_until(d) => {
                    // Nothing new starts; what is in flight gets the grace.
                    let grace = core.shared.grace;
                    // Running out of grace leaves the rest to the abort below.
                    let _ = tokio::time::timeout(grace, tickets.drain()).await;
                }
            }
        }
        None => work.await,
    }
    // Requests still in flight are dropped here, and counted as unfinished,
    // before the iteration ends: awaited, so that none is recorded later.
    lanes.abort_all();
    while lanes.join_next().await.is_some() {}
}

/// The batch loop: issues each batch when the gate lets it, `cooldown`
/// after the one before was dispatched, until `limit` requests, the
/// deadline or the end; then waits for what it sent.
async fn dispatch(
    core: &Rc<Core>,
    (it, cx): (&Prepared, &ClientCx),
    (tickets, h2, lanes): (&Rc<Tickets>, &H2Slot, &mut JoinSet<()>),
    (limit, deadline): (Option<u64>, Option<Instant>),
    (batch, cooldown): (u32, Duration),
) {
    // maximizeThroughput: LPS busy-polls for a precise cooldown; lps
    // uses the precise timer instead.
    let mut alarm = it.maximize_throughput.then(Alarm::new);
    let mut sent = 0u64;
    let ended = || core.ended(it.index);
    while !ended() {
        let n = match limit {
            Some(l) if sent >= l => break,
            Some(l) => (l - sent).min(batch as u64),
            None => batch as u64,
        };
        if !pass(cx.pause.as_deref(), deadline, ended).await {
            break;
        }
        let dispatched = Instant::now();
        issue(core, (it.index, cx), tickets, (h2, deadline), lanes, n);
        sent += n;
        if limit.is_some_and(|l| sent >= l) {
            break;
        }
        // As LPS: the cooldown runs from the batch's dispatch, and the
        // next batch does not wait for this one's responses.
        let next = dispatched + cooldown;
        if deadline.is_some_and(|d| next >= d) {
            break;
        }
        match alarm.as_mut() {
            Some(alarm) => alarm.sleep_until(next).await,
            None => sleep_until(next).await,
        }
    }
    tickets.all_done(sent).await;
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
