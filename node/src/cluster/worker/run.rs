//! The worker's run: starts the control thread, waits for the master's
//! start instant, runs the plan locally, then waits for the master to have
//! every snapshot.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use lps_config::{Plan, WatchdogSettings};
use lps_engine::{Aggregate, RoundGate, RunOptions, Snapshot, Terminations};
use lps_proto as proto;
use tokio::sync::mpsc;

use super::control::{self, Control};
use super::merge::Merge;
use super::{DELIVERY_GRACE, Event, Outgoing, WorkerConfig, WorkerError};
use crate::cluster;
use crate::local::{self, Outcome};
use crate::shutdown::CancellationToken;

/// How the worker's part ended.
pub struct WorkerOutcome {
    pub outcome: Outcome,
    /// The master has every snapshot of this worker.
    pub delivered: bool,
    /// How many restarted masters were caught up with this worker's whole
    /// result (the one that has it is the last).
    pub restarts: u32,
    /// Why the master may not have every snapshot: the local result is
    /// then the full one.
    pub master_gone: Option<WorkerError>,
}

/// Registers, waits for the start, runs the plan locally and streams it.
pub fn run(
    plan: &Plan,
    cfg: WorkerConfig,
    opts: &RunOptions,
    stop: &CancellationToken,
) -> anyhow::Result<WorkerOutcome> {
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Outgoing>();
    let (event_tx, events) = std::sync::mpsc::channel::<Event>();
    // The master's Cancel stops this run (a child: it does not cancel the process).
    let cancel = stop.child_token();
    let register = register(plan, &cfg, opts);
    // Each round after the first waits for every node's end of the one before.
    let rounds = Arc::new(RoundGate::new(plan.rounds.len()));
    let iterations = plan.rounds.iter().map(|r| r.iterations.len()).sum();
    let terminations = Arc::new(Terminations::new(iterations));
    let control = Control::new(
        cfg.clone(),
        register,
        out_rx,
        event_tx,
        cancel.clone(),
        (rounds.clone(), terminations.clone()),
    );
    let control = control::spawn(control, stop.clone())?;
    let (start_ms, feed_share) = match wait_for_start(&events) {
        Ok(start) => start,
        Err(e) => {
            // After a fatal answer the control thread ends: let it. After a
            // Ctrl-C it may still be connecting, and is not waited for.
            if !matches!(e, WorkerError::Interrupted) {
                let _ = control.join();
            }
            return Err(e.into());
        }
    };
    let opts = RunOptions {
        rounds: Some(rounds),
        feed_share: Some(feed_share),
        terminations: Some(terminations),
        ..opts.clone()
    };
    let engine = (&opts, cfg.watchdog.as_ref());
    let outcome = run_locally(plan, engine, start_ms, &out_tx, &cancel)?;
    let delivery = wait_for_delivery(&events, &cfg);
    // The control thread ends once its channel closes; it is not waited for
    // when the master is unreachable (its connect attempt is bounded anyway).
    drop(out_tx);
    if delivery.is_ok() {
        // It told the run it is done: it is ending.
        let _ = control.join();
    }
    let (restarts, master_gone) = match delivery {
        Ok(restarts) => (restarts, None),
        Err(why) => (0, Some(why)),
    };
    Ok(WorkerOutcome {
        outcome,
        delivered: master_gone.is_none(),
        restarts,
        master_gone,
    })
}

/// What this worker tells the master first on every session.
fn register(plan: &Plan, cfg: &WorkerConfig, opts: &RunOptions) -> proto::Register {
    proto::Register {
        node_id: cfg.node_id.clone(),
        host: cfg.host.clone(),
        cores: u32::try_from(lps_engine::thread_count(opts.threads)).unwrap_or(u32::MAX),
        lps_version: env!("CARGO_PKG_VERSION").to_string(),
        protocol_version: proto::PROTOCOL_VERSION,
        plan_fingerprint: cluster::fingerprint(plan),
        secret: cfg.secret.clone().unwrap_or_default(),
        iterations: cluster::iteration_names(plan),
        instance: cluster::process_instance(),
    }
}

/// Blocks until the master's start instant (Unix ms) and this worker's
/// share of the feeders' rows, a reason the worker cannot take part, or
/// Ctrl-C.
fn wait_for_start(events: &Receiver<Event>) -> Result<(u64, (u32, u32)), WorkerError> {
    loop {
        match events.recv() {
            Ok(Event::Start { at_ms, feed_share }) => return Ok((at_ms, feed_share)),
            Ok(Event::Fatal(why)) => return Err(why),
            Ok(Event::Stopped) => return Err(WorkerError::Interrupted),
            // Only sent after the start.
            Ok(Event::Delivered { .. } | Event::MasterGone(_)) => {}
            Err(_) => return Err(WorkerError::ControlEnded),
        }
    }
}

/// Runs the plan from the master's start instant, handing one snapshot per
/// interval (the merge of every core's), then the finished marker, to the
/// control thread.
fn run_locally(
    plan: &Plan,
    (opts, watchdog): (&RunOptions, Option<&WatchdogSettings>),
    start_ms: u64,
    out_tx: &mpsc::UnboundedSender<Outgoing>,
    cancel: &CancellationToken,
) -> anyhow::Result<Outcome> {
    let opts = RunOptions {
        start_at: Some(cluster::instant_of_unix_ms(start_ms)),
        ..opts.clone()
    };
    let cores = lps_engine::thread_count(opts.threads);
    // Both callbacks below reach it; they run on this thread, one at a time.
    let relay = RefCell::new(Relay {
        merge: Merge::new(cores, opts.snapshot_interval),
        seq: 0,
        out_tx,
    });
    let on_snapshot = |snap: &Snapshot| relay.borrow_mut().add(snap);
    // Called at least every 100 ms: a late core holds the others' data up
    // an interval at most.
    let on_tick = |_: &Aggregate, _: u64| relay.borrow_mut().tick();
    let engine = (&opts, watchdog);
    let outcome = local::run(plan, engine, on_snapshot, cancel, None, on_tick)?;
    let mut relay = relay.into_inner();
    relay.flush();
    // As in `Relay::send`: a control thread that gave up needs no marker.
    let _ = out_tx.send(Outgoing::Finished {
        last_seq: relay.seq,
        interrupted: outcome.interrupted,
    });
    Ok(outcome)
}

/// The cores' snapshots on their way to the control thread: merged per
/// interval, numbered, encoded.
struct Relay<'a> {
    merge: Merge,
    /// The seq of the last snapshot handed over (per worker, from 1).
    seq: u64,
    out_tx: &'a mpsc::UnboundedSender<Outgoing>,
}

impl Relay<'_> {
    fn add(&mut self, snap: &Snapshot) {
        let (merge, mut send) = self.parts();
        merge.add(snap, Instant::now(), &mut send);
    }

    fn tick(&mut self) {
        let (merge, mut send) = self.parts();
        merge.due(Instant::now(), &mut send);
    }

    fn flush(&mut self) {
        let (merge, mut send) = self.parts();
        merge.flush(&mut send);
    }

    /// The merge, and what hands its snapshots over.
    fn parts(&mut self) -> (&mut Merge, impl FnMut(Snapshot) + '_) {
        let (seq, out_tx) = (&mut self.seq, self.out_tx);
        let send = move |snap: Snapshot| {
            *seq += 1;
            let wire = cluster::encode_snapshot(*seq, &snap);
            // The control thread lives until it reports; a send fails only
            // after it gave up on the master, and the local result keeps the data.
            let _ = out_tx.send(Outgoing::Snapshot(wire, Box::new(snap)));
        };
        (&mut self.merge, send)
    }
}

/// Waits until the master has every snapshot (returns how many restarted
/// masters were caught up on the way), or says why it may not.
/// Ctrl-C does not cut this short: an interrupted run's snapshots are
/// delivered too, within the same bounded time.
fn wait_for_delivery(events: &Receiver<Event>, cfg: &WorkerConfig) -> Result<u32, WorkerError> {
    let deadline =
        Instant::now() + DELIVERY_GRACE + cfg.connect_timeout.min(Duration::from_secs(5));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event::Delivered { restarts }) => return Ok(restarts),
            Ok(Event::MasterGone(why) | Event::Fatal(why)) => return Err(why),
            // Start came before; Stopped: see above.
            Ok(Event::Start { .. } | Event::Stopped) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                return Err(WorkerError::Unacknowledged { master: cfg.master });
            }
        }
    }
}
