//! What a core does when it runs out of work: with many requests in flight
//! and no precise timer armed, it naps a few microseconds on its own timer
//! before it blocks in epoll (`RunOptions::coalesce`), so that the responses
//! arriving meanwhile are read in one wake-up.
//!
//! Why: a core faster than its target otherwise blocks after nearly every
//! response, and each block costs a wake-up on both sides (the target's
//! write wakes the core; on a VM an interrupt to a halted vCPU, tens of
//! microseconds); with several streams per HTTP/2 connection each read then
//! brings one or two responses and each answer is a write of its own.
//! The price is bounded: a response that arrives during a nap is read at
//! most the nap's length (10 µs by default) after it arrived, and its
//! latency includes that. With few in flight a nap would gather them all
//! and leave the core waiting on it, so it does not nap; while the open
//! model's pacing or a batch's cooldown waits on its timer it does not nap,
//! so those send on time; and where its parks find work waiting anyway, a
//! nap only adds a sleep: the core tries both ways and keeps the one that
//! spends less CPU per request ([`Tuner`]).

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    /// Requests sent on this thread's core and not yet answered.
    static IN_FLIGHT: Cell<u64> = const { Cell::new(0) };
    /// Precise timers (`crate::alarm`) armed on this thread.
    static ARMED: Cell<u32> = const { Cell::new(0) };
}

/// The requests in flight on this thread's core.
#[inline]
pub(crate) fn in_flight() -> u64 {
    IN_FLIGHT.with(Cell::get)
}

/// Counts one more request in flight on this thread; [`answered`] counts it out.
#[inline]
pub(crate) fn sent() {
    IN_FLIGHT.with(|n| n.set(n.get() + 1));
}

/// Counts out a request [`sent`] counted.
#[inline]
pub(crate) fn answered() {
    IN_FLIGHT.with(|n| n.set(n.get().saturating_sub(1)));
    ANSWERED.with(|n| n.set(n.get() + 1));
}

/// Keeps this thread's core from napping while it lives: a precise timer
/// is armed, and a nap could make it fire late.
pub(crate) struct Armed(());

impl Armed {
    pub fn new() -> Armed {
        ARMED.with(|n| n.set(n.get() + 1));
        Armed(())
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// The requests a core must have in flight to nap. With fewer, a nap
/// gathers most of them, and the core then waits on the nap with nothing
/// left to read: against nginx over loopback, 4 in flight lost half their
/// throughput to naps, 16 a sixth, 32 a few per cent, while 64 and more
/// gained (perf/RESULTS.md, stop 24).
const MIN_IN_FLIGHT: u64 = 64;

/// Whether a core about to block may nap first.
fn may_nap() -> bool {
    in_flight() >= MIN_IN_FLIGHT && ARMED.with(Cell::get) == 0
}

/// Eligible parks (enough in flight, no timer armed) in one window of the
/// [`Tuner`]: some 10-20 ms of a busy core.
const WINDOW: u32 = 256;

/// Windows the cheaper way is kept before both are tried again: the other
/// way's trial costs at most one window in [`HOLD`] + 2.
const HOLD: u32 = 14;

/// Whether naps pay on this core, found by trying: a window of parks with
/// naps, one without, then the way that spent less of the thread's CPU per
/// answered request for [`HOLD`] windows, and again. A nap pays where the
/// core would otherwise block and be woken for each response or two
/// (nginx over HTTP/2 and TLS); it costs where the parks find work waiting
/// anyway and the nap adds a sleep (against a target as fast as lps's own,
/// naps took 15-25 % more CPU per request over h2c).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tuner {
    phase: Phase,
    /// Eligible parks so far in this window.
    parks: u32,
    /// The thread's CPU time (ns) and answered requests when the window began.
    start: Option<(u64, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// A window with naps.
    TryNaps,
    /// A window without, after one with naps that cost `naps` (ns a request).
    TryAwake { naps: u64 },
    /// The cheaper way, for `left` more windows.
    Hold { naps: bool, left: u32 },
}

impl Tuner {
    const NEW: Tuner = Tuner {
        phase: Phase::TryNaps,
        parks: 0,
        start: None,
    };

    /// Whether to nap in an eligible park; `now` gives the thread's CPU time
    /// (ns) and answered requests, read once a window.
    fn park(&mut self, now: impl Fn() -> (u64, u64)) -> bool {
        let nap = match self.phase {
            Phase::TryNaps => true,
            Phase::TryAwake { .. } => false,
            Phase::Hold { naps, .. } => naps,
        };
        let Some((cpu0, done0)) = self.start else {
            self.start = Some(now());
            return nap;
        };
        self.parks += 1;
        if self.parks >= WINDOW {
            let (cpu, done) = now();
            // A window that answered nothing costs the most.
            let cost = match done.saturating_sub(done0) {
                0 => u64::MAX,
                n => cpu.saturating_sub(cpu0) / n,
            };
            self.phase = self.phase.next(cost);
            self.parks = 0;
            self.start = Some((cpu, done));
        }
        nap
    }
}

impl Phase {
    /// The phase after a window that cost `cost` (ns of CPU a request).
    fn next(self, cost: u64) -> Phase {
        match self {
            Phase::TryNaps => Phase::TryAwake { naps: cost },
            Phase::TryAwake { naps } => Phase::Hold {
                naps: naps < cost,
                left: HOLD,
            },
            Phase::Hold { naps, left } if left > 1 => Phase::Hold {
                naps,
                left: left - 1,
            },
            Phase::Hold { .. } => Phase::TryNaps,
        }
    }
}

thread_local! {
    static TUNER: Cell<Tuner> = const { Cell::new(Tuner::NEW) };
    /// Requests answered on this thread's core, ever.
    static ANSWERED: Cell<u64> = const { Cell::new(0) };
}

/// The runtime's park hook for naps of `nap` (zero: none). It runs on the
/// core's own thread, whose counts it reads.
pub(crate) fn before_park(nap: Duration) -> impl Fn() + Send + Sync + 'static {
    move || {
        if nap.is_zero() || !may_nap() {
            return;
        }
        let mut tuner = TUNER.get();
        let napping = tuner.park(|| (thread_cpu_ns(), ANSWERED.get()));
        TUNER.set(tuner);
        if napping {
            std::thread::sleep(nap);
        }
    }
}

/// The CPU time the calling thread has used, in ns (0 where unknown: the
/// tuner then sees both ways as free, and a tie goes without naps).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills `ts`, a valid timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Lets this thread's sleeps end when asked: Linux lets a thread's timers
/// run up to its timer slack late (50 µs by default), five times the nap.
pub(crate) fn tighten_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain prctl on the calling thread; a refusal leaves the slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const NAP: Duration = Duration::from_millis(5);

    fn parks_for(hook: &impl Fn()) -> Duration {
        let t = Instant::now();
        hook();
        t.elapsed()
    }

    fn send(n: u64) {
        (0..n).for_each(|_| sent());
    }

    fn answer(n: u64) {
        (0..n).for_each(|_| answered());
    }

    #[test]
    fn a_core_naps_only_with_many_requests_in_flight_and_no_timer_armed() {
        let hook = before_park(NAP);
        assert!(parks_for(&hook) < NAP, "nothing in flight: no nap");
        send(MIN_IN_FLIGHT - 1);
        assert!(parks_for(&hook) < NAP, "too few in flight: no nap");
        send(1);
        assert!(parks_for(&hook) >= NAP, "enough in flight: a nap");
        let armed = Armed::new();
        assert!(parks_for(&hook) < NAP, "a precise timer armed: no nap");
        drop(armed);
        assert!(parks_for(&hook) >= NAP, "the timer gone: naps again");
        answered();
        assert!(parks_for(&hook) < NAP, "one answered: too few again");
        sent();
        assert!(
            parks_for(&before_park(Duration::ZERO)) < NAP,
            "naps of zero: none"
        );
        answer(MIN_IN_FLIGHT);
        assert_eq!(in_flight(), 0);
    }

    /// Windows of parks that cost `naps` with naps and `awake` without
    /// (ns a request); whether each park napped.
    fn windows(tuner: &mut Tuner, n: u32, naps: u64, awake: u64) -> Vec<bool> {
        let clock = Cell::new((0u64, 0u64));
        let mut napped = Vec::new();
        for _ in 0..n * WINDOW {
            let nap = tuner.park(|| clock.get());
            let (cpu, done) = clock.get();
            // Each park answers ten requests at this way's cost.
            clock.set((cpu + 10 * if nap { naps } else { awake }, done + 10));
            napped.push(nap);
        }
        napped
    }

    /// How many of `napped`'s windows napped throughout.
    fn napping_windows(napped: &[bool]) -> usize {
        (napped.chunks(WINDOW as usize))
            .filter(|w| w.iter().skip(1).all(|n| *n))
            .count()
    }

    #[test]
    fn a_core_keeps_naps_where_they_save_cpu_and_drops_them_where_they_cost() {
        let cycle = HOLD + 2;
        // Naps cheaper: one window in each cycle tries going without.
        let napped = windows(&mut { Tuner::NEW }, 3 * cycle, 6_000, 8_000);
        assert_eq!(napping_windows(&napped), 3 * (cycle as usize - 1));
        // Naps dearer: one window in each cycle tries them.
        let napped = windows(&mut { Tuner::NEW }, 3 * cycle, 8_000, 6_000);
        assert_eq!(napping_windows(&napped), 3);
    }

    #[test]
    fn a_window_that_answered_nothing_is_the_dearest() {
        let mut tuner = Tuner::NEW;
        let idle = || (1_000, 0);
        (0..=WINDOW).for_each(|_| {
            tuner.park(idle);
        });
        assert_eq!(tuner.phase, Phase::TryAwake { naps: u64::MAX });
    }
}
