//! The master's run: serve the workers, wait for the start, run the
//! master's own load, wait for the end, and stop serving.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use lps_config::Plan;
use lps_engine::{RunOptions, Snapshot};

use super::shared::Master;
use super::state::{OWN_NODE, State};
use super::{MasterConfig, control, views};
use crate::cluster;
use crate::dashboard::live::{Live, NodeSource};
use crate::local::{self, Outcome};
use crate::report::NodeReport;
use crate::shutdown::CancellationToken;
use crate::watchdog::Pauses;

/// How long the workers have, after Ctrl-C, to stop and report.
const CANCEL_GRACE: Duration = Duration::from_secs(3);

/// What the master's run produced: the global outcome and the nodes.
pub struct ClusterOutcome {
    pub outcome: Outcome,
    pub nodes: Vec<NodeReport>,
}

/// Runs the master until the cluster's test is over (or cancelled by
/// `stop`, Ctrl-C: the workers are then given [`CANCEL_GRACE`] to report).
pub fn run(
    plan: &Plan,
    cfg: MasterConfig,
    opts: &RunOptions,
    live: Option<Arc<Live>>,
    stop: &CancellationToken,
) -> anyhow::Result<ClusterOutcome> {
    // This thread's waits (for the state, Ctrl-C, the grace) need a timer.
    let waits = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("cannot start the master's runtime")?;
    let master = new_master(plan, &cfg, opts, live.clone());
    // The end of the test ends serving; not a child of `stop`: after Ctrl-C
    // the workers still need the Cancelled state and time to report. The
    // guard ends it too if this run fails on the way.
    let serving = CancellationToken::new();
    let _stop_serving_on_error = serving.clone().drop_guard();
    let control = control::spawn(master.clone(), serving.clone())?;
    announce(&cfg);
    master.update(|state, now| state.check_ready(now));

    let start_ms = waits.block_on(wait_for_start(&master, stop));
    let started_at = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms.unwrap_or(0));
    let start = start_ms.map_or_else(Instant::now, cluster::instant_of_unix_ms);
    if let Some(live) = &live {
        live.set_started(started_at, start, lps_engine::thread_count(opts.threads));
    }
    let (mut threads, mut watchdog) = (0, None);
    if let Some(ms) = start_ms
        && cfg.master_is_worker
    {
        (threads, watchdog) = run_own_load(&master, plan, opts, ms, stop)?;
    }
    let ended = waits
        .block_on(wait_for_end(&master, stop))
        .unwrap_or_else(Instant::now);

    let state = master.end();
    let global = master.read(|s| s.global());
    let nodes = master.read(views::node_reports);
    // The final state and the last acks reach the workers still connected
    // while the server drains; then the control thread ends.
    serving.cancel();
    // A control thread that panicked has nothing left to hand over.
    let _ = control.join();
    Ok(ClusterOutcome {
        outcome: Outcome {
            aggregate: global,
            started_at,
            duration: ended.saturating_duration_since(start),
            threads: threads.max(1),
            interrupted: state == State::Cancelled,
            // The master's own pauses: a worker's are in its own report.
            watchdog,
            rules: master.rule_states(),
            terminated: local::terminated(Some(&master.terminations), start),
        },
        nodes,
    })
}

/// The master's state, with its own node when it runs load.
fn new_master(
    plan: &Plan,
    cfg: &MasterConfig,
    opts: &RunOptions,
    live: Option<Arc<Live>>,
) -> Arc<Master> {
    let master = Arc::new(Master::new(plan, cfg.clone(), live.clone()));
    if let Some(live) = &live {
        // The state keeps every node's stats: the dashboard reads them there.
        let source: Arc<dyn NodeSource> = master.clone();
        live.set_node_source(Arc::downgrade(&source));
    }
    if cfg.master_is_worker {
        let cores = u32::try_from(lps_engine::thread_count(opts.threads)).unwrap_or(u32::MAX);
        let host = cfg.listen.ip().to_string();
        master.update(|state, now| state.add_master_node(host, cores, now));
    }
    master
}

fn announce(cfg: &MasterConfig) {
    log::info!(
        "lps master: listening for workers on {}; expecting {} worker(s); the master {} load",
        cfg.listen,
        cfg.expected_workers,
        if cfg.master_is_worker {
            "runs"
        } else {
            "does not run"
        }
    );
}

/// Waits until the start instant is set (Ready, or already Running) and
/// returns it in Unix ms; `None` on Ctrl-C before.
async fn wait_for_start(master: &Master, stop: &CancellationToken) -> Option<u64> {
    let mut states = master.states();
    tokio::select! {
        biased;
        () = stop.cancelled() => None,
        state = states.wait_for(|(s, _)| matches!(s, State::Ready | State::Running)) => {
            state.ok().map(|s| s.1)
        }
    }
}

/// Runs the master's own share of the load from the start instant `start_ms`;
/// returns the engine's thread count and what the watchdog did.
fn run_own_load(
    master: &Master,
    plan: &Plan,
    opts: &RunOptions,
    start_ms: u64,
    stop: &CancellationToken,
) -> anyhow::Result<(usize, Option<Pauses>)> {
    let opts = RunOptions {
        start_at: Some(cluster::instant_of_unix_ms(start_ms)),
        // Each round after the first waits for every node's end of the one before.
        rounds: Some(master.own_rounds.clone()),
        feed_share: Some(master.read(|s| s.feed_share(OWN_NODE))),
        terminations: Some(master.terminations.clone()),
        ..opts.clone()
    };
    let mut seq = 0u64;
    let on_snapshot = |snap: &Snapshot| {
        seq += 1;
        master.apply_own(seq, snap);
    };
    // The control thread's timer refreshes the dashboard: nothing to do per tick.
    let engine = (&opts, master.cfg.watchdog.as_ref());
    let outcome = local::run(plan, engine, on_snapshot, stop, None, |_, _| {})?;
    master.update(|state, now| state.own_finished(seq, now));
    Ok((outcome.threads, outcome.watchdog))
}

/// Waits until every node is done (finished or lost) and returns when that
/// happened. On Ctrl-C the test is cancelled and the workers have
/// [`CANCEL_GRACE`] to report; `None` if they did not all make it.
async fn wait_for_end(master: &Master, stop: &CancellationToken) -> Option<Instant> {
    let mut ends = master.ends();
    tokio::select! {
        biased;
        ended = ends.wait_for(Option::is_some) => return ended.ok().and_then(|e| *e),
        () = stop.cancelled() => {}
    }
    // Workers stop and send what they recorded.
    master.update(|state, _| state.cancel());
    tokio::select! {
        biased;
        ended = ends.wait_for(Option::is_some) => ended.ok().and_then(|e| *e),
        () = tokio::time::sleep(CANCEL_GRACE) => None,
    }
}
