//! The control thread (`lps-worker-control`): keeps one session with the
//! master open, reconnecting with backoff; relays the run's snapshots
//! through the outbox; answers the master's messages; says it is alive.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lps_engine::{RoundGate, Terminations};
use lps_proto as proto;
use proto::{WorkerMessage, master_message, worker_message};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_stream::StreamExt as _;

use super::outbox::{Met, Outbox};
use super::session::{Attempt, Session, open_session};
use super::{DELIVERY_GRACE, Event, Outgoing, WorkerConfig, WorkerError};
use crate::cluster;
use crate::shutdown::CancellationToken;

/// How often a worker says it is alive.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// How often the run is checked for a round it finished: often, as every
/// node waits for the next round meanwhile.
const ROUND_POLL: Duration = Duration::from_millis(5);
/// How long a worker whose run started keeps trying to reach the master
/// while the run goes on (after the run, DELIVERY_GRACE bounds it).
const RUNNING_BUDGET: Duration = Duration::from_secs(3600);

/// Starts the control thread. Besides `control`, it watches `stop` (Ctrl-C)
/// and tells the run, so the run's waits need not poll the token.
pub(super) fn spawn(
    control: Control,
    stop: CancellationToken,
) -> Result<JoinHandle<()>, WorkerError> {
    std::thread::Builder::new()
        .name("lps-worker-control".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    // The run waits on this channel; it is still listening.
                    let _ = control.events.send(Event::Fatal(WorkerError::Runtime(e)));
                    return;
                }
            };
            let events = control.events.clone();
            // A task beside the loop, not a branch of it: Ctrl-C stops the
            // run, and the loop must still deliver the interrupted run.
            runtime.spawn(async move {
                stop.cancelled().await;
                // The run may have stopped listening: then no one needs it.
                let _ = events.send(Event::Stopped);
            });
            runtime.block_on(control.run());
        })
        .map_err(WorkerError::Thread)
}

/// How a session ended.
enum End {
    /// The stream broke: reconnect.
    Lost,
    /// The run was told the outcome (delivered, refused, too late): stop.
    Done,
}

/// What the handling of one message or one outgoing item leads to.
type Step = Result<(), End>;

/// The control thread's state.
pub(super) struct Control {
    cfg: WorkerConfig,
    /// Sent first on every session.
    register: proto::Register,
    /// From the run: snapshots, then the finished marker.
    out_rx: mpsc::UnboundedReceiver<Outgoing>,
    /// The run has not closed `out_rx` yet.
    out_open: bool,
    /// To the run.
    events: Sender<Event>,
    /// The master's Cancel stops the run through this (a child of `stop`).
    cancel: CancellationToken,
    outbox: Outbox,
    /// The master said start (Ready or Running).
    started: bool,
    /// When the run sent its finished marker.
    finished_at: Option<Instant>,
    /// The run's round gate: the master's RoundStart releases it, and its
    /// rounds done are told to the master.
    rounds: Arc<RoundGate>,
    /// Rounds done that this session told the master.
    rounds_told: usize,
    /// The run's iterations the master terminated (a termination rule held
    /// on the cluster's data).
    terminations: Arc<Terminations>,
}

impl Control {
    pub(super) fn new(
        cfg: WorkerConfig,
        register: proto::Register,
        out_rx: mpsc::UnboundedReceiver<Outgoing>,
        events: Sender<Event>,
        cancel: CancellationToken,
        (rounds, terminations): (Arc<RoundGate>, Arc<Terminations>),
    ) -> Control {
        Control {
            cfg,
            register,
            out_rx,
            out_open: true,
            events,
            cancel,
            outbox: Outbox::default(),
            started: false,
            finished_at: None,
            rounds,
            rounds_told: 0,
            terminations,
        }
    }

    /// Session after session, until the run has been told how it ends;
    /// then the run's rounds no longer wait for a master.
    async fn run(mut self) {
        self.sessions().await;
        // No master will release them now: the run goes on by itself.
        self.rounds.open();
    }

    async fn sessions(&mut self) {
        loop {
            let session = match self.reconnect().await {
                Ok(session) => session,
                Err(why) => {
                    // Before the start the worker cannot take part; after it,
                    // the run goes on and keeps its result locally.
                    let event = if self.started {
                        Event::MasterGone(why)
                    } else {
                        Event::Fatal(why)
                    };
                    self.tell(event);
                    return;
                }
            };
            match self.serve(session).await {
                End::Lost => log::warn!(
                    "lps worker: lost the stream to the master at {}; reconnecting",
                    self.cfg.master
                ),
                End::Done => return,
            }
        }
    }

    /// Opens a session, retrying with backoff while the budget lasts, and
    /// buffering what the run sends meanwhile.
    async fn reconnect(&mut self) -> Result<Session, WorkerError> {
        let master = self.cfg.master;
        let (budget, within) = if self.started {
            (RUNNING_BUDGET, DELIVERY_GRACE)
        } else {
            (self.cfg.connect_timeout, self.cfg.connect_timeout)
        };
        let mut retry = Retry::new(budget);
        let since = Instant::now();
        loop {
            let why = match open_session(&self.cfg, &self.register).await {
                Ok(session) => return Ok(session),
                Err(Attempt::Refused(reason)) => {
                    return Err(WorkerError::Refused { master, reason });
                }
                Err(Attempt::Retry(why)) => why,
            };
            self.rounds_without_master(since);
            let delivery_over = self
                .finished_at
                .is_some_and(|t| t.elapsed() > DELIVERY_GRACE);
            match retry.next_wait() {
                Some(wait) if !delivery_over => self.buffer_for(wait).await,
                _ => {
                    return Err(WorkerError::Unreachable {
                        master,
                        within,
                        why,
                    });
                }
            }
        }
    }

    /// Once the master has been out of reach (`since`) for the connect
    /// timeout while the run goes on, the run's next rounds start without
    /// it: a master that may never come back must not hold them for the
    /// hour the worker keeps trying to deliver.
    fn rounds_without_master(&self, since: Instant) {
        if self.started && !self.rounds.is_open() && since.elapsed() >= self.cfg.connect_timeout {
            eprintln!(
                "lps worker: the master at {} is out of reach for {:.0?}: this worker's next rounds start without it",
                self.cfg.master, self.cfg.connect_timeout
            );
            self.rounds.open();
        }
    }

    /// Waits `wait`, keeping what the run sends meanwhile in the outbox.
    async fn buffer_for(&mut self, wait: Duration) {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return,
                out = self.out_rx.recv(), if self.out_open => {
                    // Sent by the next session's resend.
                    let _ = self.accept(out);
                }
            }
        }
    }

    /// Relays in both directions until the stream breaks or the run has
    /// been told how it ends.
    async fn serve(&mut self, session: Session) -> End {
        let Session {
            tx,
            welcome,
            mut inbound,
        } = session;
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        // Polled: the engine's cores cannot wake this runtime (engine fd_table).
        let mut round_poll = tokio::time::interval(ROUND_POLL);
        round_poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        if let Err(end) = self.on_message(welcome, &tx).await {
            return end;
        }
        loop {
            let step = tokio::select! {
                incoming = inbound.next() => match incoming {
                    Some(Ok(m)) => self.on_message(m, &tx).await,
                    None | Some(Err(_)) => Err(End::Lost),
                },
                out = self.out_rx.recv(), if self.out_open => match self.accept(out) {
                    Some(kind) => send(&tx, kind).await,
                    None => Ok(()),
                },
                _ = heartbeat.tick() => send(&tx, self.heartbeat()).await,
                _ = round_poll.tick() => match self.round_done() {
                    Some(kind) => send(&tx, kind).await,
                    None => Ok(()),
                },
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// The last round the run finished, if this session did not tell it yet.
    fn round_done(&mut self) -> Option<worker_message::Kind> {
        let done = self.rounds.local_done();
        if done <= self.rounds_told {
            return None;
        }
        self.rounds_told = done;
        let round = u32::try_from(done - 1).unwrap_or(u32::MAX);
        Some(worker_message::Kind::RoundDone(proto::RoundDone { round }))
    }

    /// Keeps what the run sent in the outbox; returns what to send now.
    fn accept(&mut self, out: Option<Outgoing>) -> Option<worker_message::Kind> {
        match out {
            Some(Outgoing::Snapshot(wire, snap)) => {
                self.outbox.push(wire.clone(), &snap);
                Some(worker_message::Kind::Snapshot(wire))
            }
            Some(Outgoing::Finished {
                last_seq,
                interrupted,
            }) => {
                self.finished_at = Some(Instant::now());
                let marker = self.outbox.finish(last_seq, interrupted);
                Some(worker_message::Kind::Finished(marker))
            }
            None => {
                self.out_open = false;
                None
            }
        }
    }

    /// Handles one message from the master.
    async fn on_message(
        &mut self,
        m: proto::MasterMessage,
        tx: &mpsc::Sender<WorkerMessage>,
    ) -> Step {
        let master = self.cfg.master;
        match m.kind {
            Some(master_message::Kind::Welcome(w)) => self.on_welcome(&w, tx).await,
            Some(master_message::Kind::State(change)) => self.on_state(&change),
            Some(master_message::Kind::RoundStart(start)) => {
                let at = cluster::instant_of_unix_ms(start.start_at_unix_ms);
                // A round the plan lacks is ignored by the gate.
                self.rounds.release(start.round as usize, at);
                Ok(())
            }
            Some(master_message::Kind::Terminate(t)) => {
                for i in t.iterations {
                    // An index the plan lacks is ignored.
                    if self.terminations.terminate(i as usize) {
                        log::warn!(
                            "lps worker: the master terminated iteration {i} (a termination rule held on the cluster's data)"
                        );
                    }
                }
                Ok(())
            }
            Some(master_message::Kind::Ack(ack)) => {
                self.outbox.ack(ack.applied_seq);
                if self.outbox.all_delivered() {
                    let restarts = self.outbox.restarts();
                    return self.done(Event::Delivered { restarts });
                }
                Ok(())
            }
            Some(master_message::Kind::Refused(r)) => {
                self.done(Event::Fatal(WorkerError::Refused {
                    master,
                    reason: r.reason,
                }))
            }
            None => Ok(()),
        }
    }

    /// A new session: forgets what the master already merged and resends
    /// the rest, in order; a restarted master is sent everything so far.
    async fn on_welcome(&mut self, w: &proto::Welcome, tx: &mpsc::Sender<WorkerMessage>) -> Step {
        if let Met::Restarted { requests } = self.outbox.welcome(w.master_instance, w.applied_seq) {
            log::info!(
                "lps worker: the master at {} is a new master (it restarted and holds nothing of this worker); catching it up with this worker's whole result so far ({requests} requests)",
                self.cfg.master
            );
        }
        // A new session knows nothing this worker said: the last round done is told again.
        self.rounds_told = 0;
        if w.round > 0 && !self.started {
            eprintln!(
                "lps worker: the test is at round {} of the plan: this worker starts there",
                w.round + 1
            );
            let at = cluster::instant_of_unix_ms(w.round_start_unix_ms);
            self.rounds.join_at(w.round as usize, at);
        }
        if w.observer && !self.started {
            log::info!(
                "lps worker: registered with the master at {} as an observer; waiting for it to be ready",
                self.cfg.master
            );
        }
        for kind in self.outbox.pending() {
            send(tx, kind).await?;
        }
        Ok(())
    }

    /// The master's test changed state: start, cancel, or too late to join.
    fn on_state(&mut self, change: &proto::StateChange) -> Step {
        let state = proto::State::try_from(change.state).unwrap_or(proto::State::Unspecified);
        match state {
            proto::State::Ready | proto::State::Running if !self.started => {
                self.started = true;
                if change.feed_nodes == 0 {
                    eprintln!(
                        "lps worker: joined after the start: the feeders' rows are shared out already, so a queue or circular $feed gives this worker none"
                    );
                }
                self.tell(Event::Start {
                    at_ms: change.start_at_unix_ms,
                    feed_share: (change.feed_index, change.feed_nodes),
                });
            }
            proto::State::Cancelled | proto::State::Failed => {
                log::warn!("lps worker: the master cancelled the test");
                self.cancel.cancel();
            }
            proto::State::Completed if !self.started => {
                let master = self.cfg.master;
                return self.done(Event::Fatal(WorkerError::AlreadyOver { master }));
            }
            _ => {}
        }
        Ok(())
    }

    /// This session's heartbeat, naming the worker's phase.
    fn heartbeat(&self) -> worker_message::Kind {
        let phase = if self.outbox.is_finished() {
            "finished"
        } else if self.started {
            "running"
        } else {
            "observer"
        };
        worker_message::Kind::Heartbeat(proto::Heartbeat {
            phase: phase.into(),
        })
    }

    /// Tells the run how the worker's part ends; the session ends with it.
    fn done(&self, event: Event) -> Step {
        self.tell(event);
        Err(End::Done)
    }

    fn tell(&self, event: Event) {
        // The run may have stopped listening (Ctrl-C before the start, or
        // its delivery wait ran out): then no one needs the news.
        let _ = self.events.send(event);
    }
}

/// Sends one message; a closed stream ends the session.
async fn send(tx: &mpsc::Sender<WorkerMessage>, kind: worker_message::Kind) -> Step {
    let message = WorkerMessage { kind: Some(kind) };
    tx.send(message).await.map_err(|_| End::Lost)
}

/// The reconnect policy: attempts until a deadline, waiting 100 ms after
/// the first failure and twice as long after each next one, at most 2 s.
struct Retry {
    deadline: Instant,
    backoff: Duration,
}

impl Retry {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(2);

    fn new(budget: Duration) -> Retry {
        Retry {
            deadline: Instant::now() + budget,
            backoff: Retry::FIRST,
        }
    }

    /// How long to wait before the next attempt; `None` once the budget is
    /// spent.
    fn next_wait(&mut self) -> Option<Duration> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(Retry::MAX);
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_100_ms_doubling_up_to_2_s() {
        let mut retry = Retry::new(Duration::from_secs(3600));
        let waits: Vec<u64> = (0..8)
            .map(|_| retry.next_wait().unwrap().as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[test]
    fn retries_stop_once_the_budget_is_spent() {
        let mut retry = Retry::new(Duration::ZERO);
        assert_eq!(retry.next_wait(), None);
        assert_eq!(retry.next_wait(), None);
    }
}
