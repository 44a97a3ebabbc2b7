//! The round barrier across nodes: a [`RoundGate`] lets something outside
//! the engine (a cluster's master) decide when each round after the first
//! starts, once every node finished the one before.
//!
//! Only atomics: the engine's cores poll it (they cannot be woken from
//! another thread, see `fd_table`), and the node reads and sets it from any
//! thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A start instant not given: the round starts as soon as it is released.
const AT_ONCE: u64 = 0;

/// When each round of a run may start; given in
/// [`RunOptions::rounds`](crate::RunOptions::rounds).
///
/// The engine marks a round done once every core of this node finished it
/// ([`RoundGate::local_done`]) and starts round `r` (from 1) only once the
/// gate released it ([`RoundGate::release`]), at the instant given then.
#[derive(Debug)]
pub struct RoundGate {
    /// The instant the start instants are kept from.
    base: Instant,
    /// Rounds every core of this node finished (0 to the plan's rounds).
    local_done: AtomicUsize,
    /// The highest round index that may start.
    released: AtomicUsize,
    /// Rounds before it are skipped (a node that joined a running test).
    first: AtomicUsize,
    /// Per round, its start in µs after `base`, plus 1; [`AT_ONCE`] if not given.
    starts: Box<[AtomicU64]>,
}

impl RoundGate {
    /// A gate for a plan of `rounds` rounds: only the first is released.
    pub fn new(rounds: usize) -> RoundGate {
        RoundGate {
            base: Instant::now(),
            local_done: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
            first: AtomicUsize::new(0),
            starts: (0..rounds).map(|_| AtomicU64::new(AT_ONCE)).collect(),
        }
    }

    /// Rounds this node's cores have all finished: round `local_done() - 1`
    /// is the last one done everywhere on this node.
    pub fn local_done(&self) -> usize {
        self.local_done.load(Ordering::Acquire)
    }

    /// The engine: rounds `0..rounds` are done on every core.
    pub(crate) fn mark_done(&self, rounds: usize) {
        self.local_done.fetch_max(rounds, Ordering::AcqRel);
    }

    /// The highest round index that may start.
    pub fn released(&self) -> usize {
        self.released.load(Ordering::Acquire)
    }

    /// Round `round` (and any before it) may start, `round` itself at `at`
    /// (rounds before it that did not start yet start at once). A round
    /// beyond the plan's is ignored; releasing an earlier round than before
    /// changes nothing.
    pub fn release(&self, round: usize, at: Instant) {
        let Some(slot) = self.starts.get(round) else {
            return;
        };
        let after = at.saturating_duration_since(self.base);
        let us = u64::try_from(after.as_micros()).unwrap_or(u64::MAX - 1);
        // Stored before the release, which publishes it (Release / Acquire).
        slot.store(us + 1, Ordering::Release);
        self.released.fetch_max(round, Ordering::AcqRel);
    }

    /// A node that joins a test already at round `round`: the rounds before
    /// are skipped, and `round` starts at `at`. Only before the run starts.
    pub fn join_at(&self, round: usize, at: Instant) {
        if round < self.starts.len() {
            self.first.fetch_max(round, Ordering::AcqRel);
            self.release(round, at);
        }
    }

    /// Every round may start at once: no one will release them any more
    /// (the master is gone).
    pub fn open(&self) {
        self.released.store(usize::MAX, Ordering::Release);
    }

    /// Whether every round may start at once ([`RoundGate::open`]).
    pub fn is_open(&self) -> bool {
        self.released() == usize::MAX
    }

    /// Whether round `round` is skipped (before the round the node joined at).
    pub fn skips(&self, round: usize) -> bool {
        round < self.first.load(Ordering::Acquire)
    }

    /// When round `round` starts, if the release said; `None`: at once.
    pub fn start_of(&self, round: usize) -> Option<Instant> {
        let us = self.starts.get(round)?.load(Ordering::Acquire);
        (us != AT_ONCE).then(|| self.base + Duration::from_micros(us - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_round_is_released_until_the_gate_says() {
        let gate = RoundGate::new(3);
        assert_eq!((gate.released(), gate.local_done()), (0, 0));
        gate.mark_done(1);
        gate.mark_done(1);
        assert_eq!(gate.local_done(), 1);
        let at = gate.base + Duration::from_millis(250);
        gate.release(1, at);
        assert_eq!(gate.released(), 1);
        assert_eq!(gate.start_of(1), Some(at));
        assert_eq!(gate.start_of(2), None);
        // An older release and one beyond the plan change nothing.
        gate.release(0, at);
        gate.release(3, at);
        assert_eq!(gate.released(), 1);
        assert!(!gate.skips(0));
    }

    #[test]
    fn a_late_node_skips_the_rounds_before_the_one_it_joins_at() {
        let gate = RoundGate::new(3);
        let at = gate.base + Duration::from_millis(40);
        gate.join_at(2, at);
        assert_eq!(gate.released(), 2);
        assert!(gate.skips(0) && gate.skips(1) && !gate.skips(2));
        assert_eq!(gate.start_of(2), Some(at));
        // An instant before the gate existed is kept as "at once, now".
        gate.release(1, gate.base - Duration::from_secs(1));
        assert_eq!(gate.start_of(1), Some(gate.base));
        gate.join_at(7, at);
        assert!(!gate.skips(2));
    }

    #[test]
    fn an_open_gate_releases_every_round() {
        let gate = RoundGate::new(2);
        assert!(!gate.is_open());
        gate.open();
        assert!(gate.is_open());
        assert_eq!(gate.released(), usize::MAX);
        assert_eq!(gate.start_of(1), None);
    }
}
