//! Runs a plan on this node: starts the engine, merges its snapshots, shows
//! progress, and stops cleanly on Ctrl-C.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::RecvTimeoutError;
use lps_config::Plan;
use lps_engine::{Aggregate, CancellationToken, RunOptions, Snapshot, Stats};

use crate::dashboard::live::Live;
use crate::report::us;

/// What a finished (or stopped) run collected.
pub struct Outcome {
    pub aggregate: Aggregate,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub threads: usize,
    pub interrupted: bool,
}

/// Runs `plan` to the end, or until `stop` is cancelled (Ctrl-C, the
/// master's cancel). `on_tick` runs at least every 100 ms (the master
/// refreshes its dashboard). `on_snapshot` sees every snapshot as it arrives (a
/// worker forwards them; a master merges its own).
pub fn run(
    plan: &Plan,
    opts: &RunOptions,
    mut on_snapshot: impl FnMut(&Snapshot),
    stop: &CancellationToken,
    live: Option<&Live>,
    mut on_tick: impl FnMut(),
) -> anyhow::Result<Outcome> {
    let run = lps_engine::start(plan, opts, stop.clone())?;
    let started_at = wall_clock(run.started());
    let threads = run.cores();
    if let Some(live) = live {
        live.set_started(started_at, run.started(), threads);
    }
    let mut aggregate = Aggregate::new(plan.rounds.iter().map(|r| r.iterations.len()).sum());
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let mut interrupted = false;
    loop {
        match run.snapshots().recv_timeout(Duration::from_millis(100)) {
            Ok(snap) => {
                on_snapshot(&snap);
                aggregate.add(&snap);
                progress.add(&snap, &aggregate);
            }
            Err(RecvTimeoutError::Timeout) => {}
            // Every core sent its last snapshot and hung up.
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(live) = live {
            live.tick_if_due();
        }
        on_tick();
        // The engine holds the same token and stops by itself; this only
        // records that the run did not end on its own.
        interrupted |= stop.is_cancelled();
    }
    progress.finish();
    let duration = run.started().elapsed();
    run.join()?;
    Ok(Outcome {
        aggregate,
        started_at,
        duration,
        threads,
        interrupted,
    })
}

/// The wall-clock time of `at`, which may lie ahead (a cluster starts
/// every node's engine at one agreed time).
fn wall_clock(at: Instant) -> SystemTime {
    let now = (Instant::now(), SystemTime::now());
    match at.checked_duration_since(now.0) {
        Some(ahead) => now.1 + ahead,
        None => now.1 - now.0.duration_since(at),
    }
}

/// The live progress line on stderr (only when it is a terminal).
struct Progress {
    enabled: bool,
    /// Stats of the interval being assembled, from every core.
    interval: Stats,
    last_print: Instant,
    printed_at: Duration,
    printed_requests: u64,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            interval: Stats::new(),
            last_print: Instant::now(),
            printed_at: Duration::ZERO,
            printed_requests: 0,
        }
    }

    fn add(&mut self, snap: &Snapshot, total: &Aggregate) {
        if !self.enabled {
            return;
        }
        for s in &snap.iterations {
            self.interval.merge(s);
        }
        if self.last_print.elapsed() >= Duration::from_millis(900) || snap.last {
            self.print(total);
        }
    }

    /// Prints the line: totals so far, and the rate and p99 since the last line.
    fn print(&mut self, total: &Aggregate) {
        let all = total.total();
        let requests = all.requests();
        let span = total.elapsed.saturating_sub(self.printed_at).as_secs_f64();
        let rps = if span > 0.0 {
            (requests - self.printed_requests) as f64 / span
        } else {
            0.0
        };
        let p99 = if self.interval.latency.is_empty() {
            0
        } else {
            self.interval.latency.histogram().value_at_quantile(0.99)
        };
        eprint!(
            "\r\x1b[2K[{:>6.1}s] {requests} requests  {rps:.0} req/s  p99 {}  {} errors  {} in flight",
            total.elapsed.as_secs_f64(),
            us(p99),
            all.failed,
            total.in_flight()
        );
        self.interval = Stats::new();
        self.last_print = Instant::now();
        self.printed_at = total.elapsed;
        self.printed_requests = requests;
    }

    fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}
