//! Runs a plan on this node: starts the engine (and the watchdog, when the
//! settings have one), merges its snapshots, shows progress, and stops
//! cleanly on Ctrl-C.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use crossbeam_channel::RecvTimeoutError;
use lps_config::{Plan, WatchdogSettings};
use lps_engine::{Aggregate, CancellationToken, RunOptions, Snapshot, Stats, Terminations};

use crate::dashboard::live::Live;
use crate::report::us;
use crate::rules::RuleState;
use crate::watchdog::{Pauses, Watchdog};

/// What a finished (or stopped) run collected.
pub struct Outcome {
    pub aggregate: Aggregate,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub threads: usize,
    pub interrupted: bool,
    /// What the watchdog did, when the settings have one.
    pub watchdog: Option<Pauses>,
    /// The termination rules as they ended (the caller's [`crate::rules::Watch`]).
    pub rules: Vec<RuleState>,
    /// The iterations a termination rule ended, and when (seconds from the
    /// start).
    pub terminated: Vec<(usize, f64)>,
}

/// Runs `plan` to the end, or until `stop` is cancelled (Ctrl-C, the
/// master's cancel). `on_tick` runs at least every 100 ms with the merged
/// data and the time into the run in µs (the termination rules are judged
/// there). `on_snapshot` sees every snapshot as it arrives (a
/// worker forwards them; a master merges its own). With `watchdog` limits,
/// the load pauses while this node is over them.
pub fn run(
    plan: &Plan,
    (opts, watchdog): (&RunOptions, Option<&WatchdogSettings>),
    mut on_snapshot: impl FnMut(&Snapshot),
    stop: &CancellationToken,
    live: Option<&Live>,
    mut on_tick: impl FnMut(&Aggregate, u64),
) -> anyhow::Result<Outcome> {
    let watchdog = watchdog
        .map(Watchdog::start)
        .transpose()
        .context("cannot start the watchdog's thread")?;
    let opts = gated(opts, watchdog.as_ref());
    let opts = opts.as_ref();
    let run = lps_engine::start(plan, opts, stop.clone())?;
    let started_at = wall_clock(run.started());
    let threads = run.cores();
    log::debug!(
        "lps: {} started: {} round(s), {} client(s) at the peak, {threads} engine thread(s)",
        plan.name,
        plan.rounds.len(),
        plan.clients()
    );
    if let Some(live) = live {
        live.set_started(started_at, run.started(), threads);
    }
    let mut aggregate = Aggregate::new(plan.rounds.iter().map(|r| r.iterations.len()).sum());
    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let interrupted = collect(
        &run,
        (&mut aggregate, &mut progress),
        (watchdog.as_ref(), live),
        stop,
        (&mut on_snapshot, &mut on_tick),
    );
    let duration = run.started().elapsed();
    let watchdog = watchdog.map(|w| w.finish(run.started()));
    progress.finish(&aggregate, duration);
    log::debug!("lps: {}", Progress::final_line(&aggregate, duration));
    let terminated = terminated(opts.terminations.as_deref(), run.started());
    run.join()?;
    Ok(Outcome {
        aggregate,
        started_at,
        duration,
        threads,
        interrupted,
        watchdog,
        rules: Vec::new(),
        terminated,
    })
}

/// The options, with the watchdog's pause gate when there is one.
fn gated<'a>(opts: &'a RunOptions, watchdog: Option<&Watchdog>) -> Cow<'a, RunOptions> {
    match watchdog {
        Some(w) => Cow::Owned(RunOptions {
            pause: Some(w.gate()),
            ..opts.clone()
        }),
        None => Cow::Borrowed(opts),
    }
}

/// Merges every snapshot of `run` until each core has sent its last,
/// ticking `live` and `on_tick` at least every 100 ms and telling the
/// watchdog what is in flight; true when `stop` was cancelled meanwhile.
fn collect(
    run: &lps_engine::Run,
    (aggregate, progress): (&mut Aggregate, &mut Progress),
    (watchdog, live): (Option<&Watchdog>, Option<&Live>),
    stop: &CancellationToken,
    (on_snapshot, on_tick): (&mut impl FnMut(&Snapshot), &mut impl FnMut(&Aggregate, u64)),
) -> bool {
    let mut interrupted = false;
    loop {
        match run.snapshots().recv_timeout(Duration::from_millis(100)) {
            Ok(snap) => {
                on_snapshot(&snap);
                aggregate.add(&snap);
                if let Some(w) = watchdog {
                    w.note_in_flight(aggregate.in_flight());
                }
                let paused = watchdog.and_then(Watchdog::paused);
                progress.add(&snap, aggregate, paused.as_deref());
            }
            Err(RecvTimeoutError::Timeout) => {}
            // Every core sent its last snapshot and hung up.
            Err(RecvTimeoutError::Disconnected) => return interrupted,
        }
        if let Some(live) = live {
            live.tick_if_due();
        }
        let now_us = Instant::now()
            .saturating_duration_since(run.started())
            .as_micros();
        on_tick(aggregate, now_us as u64);
        // The engine holds the same token and stops by itself; this only
        // records that the run did not end on its own.
        interrupted |= stop.is_cancelled();
    }
}

/// The iterations terminated in a run, and when, in seconds from `start`.
pub fn terminated(t: Option<&Terminations>, start: Instant) -> Vec<(usize, f64)> {
    let Some(t) = t else {
        return Vec::new();
    };
    (0..t.len())
        .filter_map(|i| {
            let at = t.terminated_at(i)?;
            Some((i, at.saturating_duration_since(start).as_secs_f64()))
        })
        .collect()
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
    /// The run's time and request count at the last line: the next line's
    /// rate is over the run's time since.
    printed_at: Duration,
    printed_requests: u64,
}

/// How often the line is redrawn, at most.
const PRINT_EVERY: Duration = Duration::from_millis(900);
/// The shortest span of the run's time a rate is given over: a shorter one
/// (the last snapshots come right after a line) would give absurd rates.
const SHORTEST_SPAN: Duration = Duration::from_millis(500);

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

    /// Adds a snapshot; redraws the line when due, with why the watchdog
    /// pauses the load (`paused`), if it does.
    fn add(&mut self, snap: &Snapshot, total: &Aggregate, paused: Option<&str>) {
        if !self.enabled {
            return;
        }
        self.note(snap);
        if self.last_print.elapsed() >= PRINT_EVERY
            && let Some(line) = self.line(total, paused)
        {
            eprint!("\r\x1b[2K{line}");
            self.last_print = Instant::now();
        }
    }

    /// Adds a snapshot's latencies to the interval's.
    fn note(&mut self, snap: &Snapshot) {
        for s in &snap.iterations {
            self.interval.merge(s);
        }
    }

    /// The line while the run goes: totals so far, and the rate and p99
    /// since the last line, and why the watchdog pauses the load if it does;
    /// `None` while less than [`SHORTEST_SPAN`] of the run has passed since
    /// (the interval keeps growing).
    fn line(&mut self, total: &Aggregate, paused: Option<&str>) -> Option<String> {
        let span = total.elapsed.checked_sub(self.printed_at)?;
        if span < SHORTEST_SPAN {
            return None;
        }
        let all = total.total();
        let requests = all.requests();
        let rps = requests.saturating_sub(self.printed_requests) as f64 / span.as_secs_f64();
        let mut line = format!(
            "[{:>6.1}s] {requests} requests  {rps:.0} req/s  p99 {}  {} errors  {} in flight",
            total.elapsed.as_secs_f64(),
            p99(&self.interval),
            all.failed,
            total.in_flight()
        );
        if let Some(why) = paused {
            line.push_str("  paused by the watchdog: ");
            line.push_str(why);
        }
        self.interval = Stats::new();
        self.printed_at = total.elapsed;
        self.printed_requests = requests;
        Some(line)
    }

    /// The last line, once every core has finished: the run's totals, its
    /// average rate over `duration` and its p99.
    fn final_line(total: &Aggregate, duration: Duration) -> String {
        let all = total.total();
        let secs = duration.as_secs_f64();
        let rps = if secs > 0.0 {
            all.requests() as f64 / secs
        } else {
            0.0
        };
        format!(
            "[{secs:>6.1}s] {} requests  {rps:.0} req/s average  p99 {}  {} errors",
            all.requests(),
            p99(&all),
            all.failed,
        )
    }

    fn finish(&self, total: &Aggregate, duration: Duration) {
        if self.enabled {
            eprintln!("\r\x1b[2K{}", Progress::final_line(total, duration));
        }
    }
}

/// The p99 of `stats`' responses, as the line shows it (`-` without any).
fn p99(stats: &Stats) -> String {
    if stats.latency.is_empty() {
        "-".to_string()
    } else {
        us(stats.latency.histogram().value_at_quantile(0.99))
    }
}

#[cfg(test)]
mod tests {
    use lps_engine::new_histogram;

    use super::*;

    /// A core's snapshot at `elapsed_ms` with `responses` more 200s of 100 µs.
    fn snap(elapsed_ms: u64, responses: u64, last: bool) -> Snapshot {
        let mut latency = new_histogram();
        latency.record_n(100, responses).unwrap();
        Snapshot {
            core: 0,
            seq: 0,
            elapsed: Duration::from_millis(elapsed_ms),
            in_flight: 2,
            iterations: vec![Stats::from_parts(latency, &[(200, responses)], &[], 0, 0)],
            last,
        }
    }

    #[test]
    fn rates_are_over_the_run_time_since_the_last_line_never_a_sliver() {
        let mut total = Aggregate::new(1);
        let mut progress = Progress::new(true);
        let mut lines = Vec::new();
        // Whole seconds, then the run's end 0.2 ms after the third
        // (the end of `-d 3`), as the engine sends them.
        for (ms, n, last) in [
            (1000, 1000, false),
            (2000, 2000, false),
            (3000, 3000, false),
            (3000 + 1, 5, true),
        ] {
            let s = snap(ms, n, last);
            total.add(&s);
            progress.note(&s);
            lines.push(progress.line(&total, None));
        }
        assert_eq!(
            lines,
            vec![
                Some(
                    "[   1.0s] 1000 requests  1000 req/s  p99 100µs  0 errors  2 in flight".into()
                ),
                Some(
                    "[   2.0s] 3000 requests  2000 req/s  p99 100µs  0 errors  2 in flight".into()
                ),
                Some(
                    "[   3.0s] 6000 requests  3000 req/s  p99 100µs  0 errors  2 in flight".into()
                ),
                // 1 ms after the last line: no rate over it.
                None,
            ]
        );
        assert_eq!(
            Progress::final_line(&total, Duration::from_millis(3001)),
            "[   3.0s] 6005 requests  2001 req/s average  p99 100µs  0 errors"
        );
    }

    #[test]
    fn the_line_says_why_the_watchdog_pauses_the_load() {
        let mut total = Aggregate::new(1);
        let mut progress = Progress::new(true);
        let s = snap(1000, 10, false);
        total.add(&s);
        progress.note(&s);
        assert_eq!(
            progress.line(&total, Some("memory 1210 MB > 1000 MB")),
            Some(
                "[   1.0s] 10 requests  10 req/s  p99 100µs  0 errors  2 in flight  \
                 paused by the watchdog: memory 1210 MB > 1000 MB"
                    .into()
            )
        );
    }

    #[test]
    fn the_final_line_of_a_run_without_responses_or_time() {
        let total = Aggregate::new(1);
        assert_eq!(
            Progress::final_line(&total, Duration::ZERO),
            "[   0.0s] 0 requests  0 req/s average  p99 -  0 errors"
        );
    }
}
