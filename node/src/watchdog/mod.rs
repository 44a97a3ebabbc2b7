//! LPS's watchdog: a thread samples this node every `CoolDownRetryTimeInMs`
//! and closes the engine's pause gate while its memory, CPU or requests in
//! flight are over their limits, and records the pauses for the report.
//!
//! It runs only when the settings file has a `Watchdog` section (LPS applies
//! its defaults without one, which would pause ordinary runs at 1000 MB or
//! 50 % CPU).

mod machine;
mod probe;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lps_config::WatchdogSettings;
use lps_engine::PauseGate;

use machine::{Machine, Measures, State};
use probe::Probe;

/// What the watchdog did over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pauses {
    /// How many times it paused the load.
    pub count: u64,
    /// How long the load was paused, all pauses together.
    pub total: Duration,
    /// The first pause: when (from the run's start) and why.
    pub first: Option<(Duration, String)>,
    /// How many times it gave up after `MaxCoolingPeriod` and let the load
    /// flow for `ResumeCoolingAfter`.
    pub gave_up: u64,
}

/// The running watchdog: its gate goes into the engine's options.
pub struct Watchdog {
    gate: Arc<PauseGate>,
    shared: Arc<Shared>,
    /// Dropped to stop the sampler.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the sampler and the run share.
struct Shared {
    /// This node's requests in flight, as its snapshots last said.
    in_flight: AtomicU64,
    log: Mutex<Log>,
}

/// The pauses so far, and the one going on.
#[derive(Default)]
struct Log {
    pauses: Pauses,
    /// Since when the load is paused, with what now holds it.
    current: Option<(Instant, String)>,
    first_at: Option<Instant>,
}

impl Watchdog {
    /// Takes a first sample (so that a run starts paused when the node is
    /// already over its limits) and starts sampling every
    /// `CoolDownRetryTimeInMs`.
    pub fn start(limits: &WatchdogSettings) -> std::io::Result<Watchdog> {
        let interval = limits.cool_down_retry_time;
        let gate = Arc::new(PauseGate::new(interval));
        let shared = Arc::new(Shared {
            in_flight: AtomicU64::new(0),
            log: Mutex::default(),
        });
        let mut sampler = Sampler {
            machine: Machine::new(limits.clone()),
            probe: Some(Probe::new()),
            gate: gate.clone(),
            shared: shared.clone(),
            announce: !std::io::stderr().is_terminal(),
        };
        sampler.sample(Instant::now());
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lps-watchdog".into())
            .spawn(move || sampler.run(interval, stopped))?;
        Ok(Watchdog {
            gate,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn gate(&self) -> Arc<PauseGate> {
        self.gate.clone()
    }

    /// This node's requests in flight, from its latest snapshots.
    pub fn note_in_flight(&self, n: u64) {
        self.shared.in_flight.store(n, Ordering::Relaxed);
    }

    /// Why the load is paused now, if it is.
    pub fn paused(&self) -> Option<String> {
        self.shared
            .log()
            .current
            .as_ref()
            .map(|(_, why)| why.clone())
    }

    /// Stops sampling; the pauses, timed from `started` (the run's start).
    pub fn finish(mut self, started: Instant) -> Pauses {
        self.stop_sampler();
        let mut log = self.shared.log();
        let now = Instant::now();
        if let Some((since, _)) = log.current.take() {
            log.pauses.total += now.saturating_duration_since(since);
        }
        let mut pauses = log.pauses.clone();
        if let (Some(at), Some(first)) = (log.first_at, pauses.first.as_mut()) {
            first.0 = at.saturating_duration_since(started);
        }
        pauses
    }

    fn stop_sampler(&mut self) {
        // The sampler wakes at once when its channel closes.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A sampler that panicked has nothing more to report.
            let _ = thread.join();
        }
        self.gate.set_closed(false);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop_sampler();
    }
}

impl Shared {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        // The log stays consistent whatever panicked while holding it.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sampler thread's state.
struct Sampler {
    machine: Machine,
    /// `None` once it could not read this process: memory and CPU then
    /// count as 0, and requests in flight still count.
    probe: Option<Probe>,
    gate: Arc<PauseGate>,
    shared: Arc<Shared>,
    /// Say each pause and resume on a line (stderr is not a terminal, so
    /// there is no progress line to show it).
    announce: bool,
}

impl Sampler {
    /// Samples every `interval` until `stopped` closes.
    fn run(mut self, interval: Duration, stopped: mpsc::Receiver<()>) {
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
            self.sample(Instant::now());
        }
    }

    /// One sample: the machine's step, the gate set, the pauses recorded.
    fn sample(&mut self, now: Instant) {
        let (memory_mb, cpu_percent) = self.measure(now);
        let m = Measures {
            memory_mb,
            cpu_percent,
            in_flight: self.shared.in_flight.load(Ordering::Relaxed),
        };
        let step = self.machine.step(m, now);
        let held = step.state != State::Cool;
        self.gate.set_closed(held);
        let why = self.machine.reason(m, step.state);
        let mut log = self.shared.log();
        if step.gave_up {
            log.pauses.gave_up += 1;
            if self.announce {
                let l = self.machine.limits();
                eprintln!(
                    "lps: watchdog: the load was paused longer than MaxCoolingPeriod ({} s): it \
                     flows for ResumeCoolingAfter ({} s) whatever the pressure",
                    l.max_cooling_period.as_secs(),
                    l.resume_cooling_after.as_secs()
                );
            }
        }
        match (log.current.take(), held) {
            (None, true) => {
                if self.announce {
                    eprintln!("lps: watchdog: load paused: {why}");
                }
                log.pauses.count += 1;
                if log.pauses.first.is_none() {
                    log.pauses.first = Some((Duration::ZERO, why.clone()));
                    log.first_at = Some(now);
                }
                log.current = Some((now, why));
            }
            (Some((since, _)), true) => log.current = Some((since, why)),
            (Some((since, _)), false) => {
                let paused = now.saturating_duration_since(since);
                log.pauses.total += paused;
                if self.announce {
                    eprintln!(
                        "lps: watchdog: load resumed after {:.1} s",
                        paused.as_secs_f64()
                    );
                }
            }
            (None, false) => {}
        }
    }

    /// Memory and CPU, or 0 and 0 from the first failure on (said once).
    fn measure(&mut self, now: Instant) -> (f64, f64) {
        let Some(probe) = self.probe.as_mut() else {
            return (0.0, 0.0);
        };
        match probe.sample(now) {
            Ok(v) => v,
            Err(e) => {
                eprintln!(
                    "lps: watchdog: {e}: this node's memory and CPU limits are not applied, \
                     its requests in flight still are"
                );
                self.probe = None;
                (0.0, 0.0)
            }
        }
    }
}
