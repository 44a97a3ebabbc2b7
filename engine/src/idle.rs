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
//! and leave the core waiting on it, so it does not nap; and while the open model's pacing or a batch's cooldown waits on
//! its timer the core does not nap, so those send on time.

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

/// Bounds of [`Naps::credit`].
const CREDIT: std::ops::RangeInclusive<i32> = -4..=4;

/// How often a core whose naps stopped paying tries one more.
const PROBE_EVERY: u32 = 64;

/// Whether naps pay on this core: they do when the responses come in
/// during them, not when the core blocks after the nap all the same (it
/// then paid for a wake-up and a nap). Learned from each nap's park.
#[derive(Clone, Copy)]
struct Naps {
    /// Up on a nap that paid, down twice as much on one that did not;
    /// naps stop below zero. It starts full, so that the naps of a target
    /// slow to give its first answers (three in a row that find nothing)
    /// are needed to stop them, not one.
    credit: i32,
    /// Parks without a nap since credit ran out.
    skipped: u32,
    /// The thread's voluntary context switches when the last nap ended,
    /// until its park is judged: one more means the park blocked.
    switches: Option<libc::c_long>,
}

thread_local! {
    static NAPS: Cell<Naps> = const {
        Cell::new(Naps {
            credit: *CREDIT.end(),
            skipped: 0,
            switches: None,
        })
    };
}

impl Naps {
    /// Whether to nap now: while naps pay, and now and then to see whether
    /// they pay again.
    fn now(&mut self) -> bool {
        if self.credit >= 0 {
            return true;
        }
        self.skipped += 1;
        if self.skipped < PROBE_EVERY {
            return false;
        }
        self.skipped = 0;
        true
    }

    /// Judges the nap after which the thread had made `switches` voluntary
    /// context switches by its park, which ended now: it paid if the park
    /// found work waiting rather than blocked.
    fn judge(&mut self, switches: libc::c_long) {
        let paid = voluntary_switches() == Some(switches);
        // A nap that paid after naps stopped brings them back at once.
        let credit = if paid {
            self.credit.max(0) + 1
        } else {
            self.credit - 2
        };
        self.credit = credit.clamp(*CREDIT.start(), *CREDIT.end());
    }
}

/// The runtime's park hook for naps of `nap` (zero: none). It runs on the
/// core's own thread, whose counts it reads.
pub(crate) fn before_park(nap: Duration) -> impl Fn() + Send + Sync + 'static {
    move || {
        if nap.is_zero() || !may_nap() {
            return;
        }
        let mut naps = NAPS.get();
        if naps.now() {
            std::thread::sleep(nap);
            naps.switches = voluntary_switches();
        }
        NAPS.set(naps);
    }
}

/// The runtime's unpark hook: judges the nap before the park, if any.
pub(crate) fn after_unpark() {
    let mut naps = NAPS.get();
    if let Some(switches) = naps.switches.take() {
        naps.judge(switches);
        NAPS.set(naps);
    }
}

/// The calling thread's voluntary context switches so far (Linux; `None`
/// elsewhere, where naps are not judged).
fn voluntary_switches() -> Option<libc::c_long> {
    #[cfg(target_os = "linux")]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage fills `usage` when it returns 0.
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) } == 0 {
            // SAFETY: filled, as the call succeeded.
            return Some(unsafe { usage.assume_init() }.ru_nvcsw);
        }
    }
    None
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

    /// One park of a core: the hook, then a block of `blocks` (a nap's
    /// responses came after it) or none (they came during it). True if it napped.
    fn park(hook: &impl Fn(), nap: Duration, blocks: Option<Duration>) -> bool {
        let t = Instant::now();
        hook();
        let napped = t.elapsed() >= nap;
        if let Some(block) = blocks {
            std::thread::sleep(block);
        }
        after_unpark();
        napped
    }

    #[test]
    fn naps_stop_when_the_core_blocks_after_three_and_come_back_when_they_pay() {
        let nap = Duration::from_micros(300);
        let hook = before_park(nap);
        let block = Some(Duration::from_millis(1));
        send(MIN_IN_FLIGHT);
        assert!(park(&hook, nap, None), "naps while they pay");
        assert!(
            (0..3).all(|_| park(&hook, nap, block)),
            "three that do not pay in a row"
        );
        let probes = (0..PROBE_EVERY).filter(|_| park(&hook, nap, block)).count();
        assert_eq!(
            probes, 1,
            "a nap that did not pay: one probe in {PROBE_EVERY} parks"
        );
        let probes = (0..PROBE_EVERY).filter(|_| park(&hook, nap, None)).count();
        assert_eq!(probes, 1, "the next probe pays");
        assert!(
            (0..8).all(|_| park(&hook, nap, None)),
            "then every park naps"
        );
        answer(MIN_IN_FLIGHT);
    }
}
