//! The pause gate: while something outside the engine (the node's watchdog)
//! holds it closed, no core sends a new request; requests are delayed, never
//! dropped.
//!
//! Cores cannot wake each other's runtimes (each has its own file table,
//! `fd_table`), so a core held at the gate looks again every
//! [`PauseGate::poll`] rather than waiting for a signal: LPS's callers too
//! look again at each of its watchdog's samples.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

/// Open (the load flows) or closed (nothing new is sent), shared by every core.
#[derive(Debug)]
pub struct PauseGate {
    /// True while the load is paused.
    closed: AtomicBool,
    /// How often a core held at the gate looks again.
    poll: Duration,
}

impl PauseGate {
    /// An open gate whose waiters look again every `poll` (at least 1 ms).
    pub fn new(poll: Duration) -> PauseGate {
        PauseGate {
            closed: AtomicBool::new(false),
            poll: poll.max(Duration::from_millis(1)),
        }
    }

    /// Closes (`true`) or opens (`false`) the gate.
    pub fn set_closed(&self, closed: bool) {
        // Nothing else is published with it: a core that sees the change a
        // moment late sends one request more or less, as between two samples.
        self.closed.store(closed, Ordering::Relaxed);
    }

    /// True while the gate is closed: the hot path's one relaxed load.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// How often a core held at the gate looks again.
    pub fn poll(&self) -> Duration {
        self.poll
    }

    /// Waits while the gate is closed. Returns true once it is open; false
    /// when `deadline` comes first or `stopped` says the run is stopping
    /// (looked at every poll), and the caller then sends nothing more.
    pub(crate) async fn wait(&self, deadline: Option<Instant>, stopped: impl Fn() -> bool) -> bool {
        while self.is_closed() {
            if stopped() {
                return false;
            }
            let next = Instant::now() + self.poll;
            match deadline {
                Some(d) if d <= next => {
                    sleep_until(d).await;
                    return !self.is_closed() && !stopped();
                }
                _ => sleep_until(next).await,
            }
        }
        true
    }
}

/// Waits at `gate`, if the run has one and it is closed; see [`PauseGate::wait`].
#[inline]
pub(crate) async fn pass(
    gate: Option<&PauseGate>,
    deadline: Option<Instant>,
    stopped: impl Fn() -> bool,
) -> bool {
    match gate {
        Some(g) if g.is_closed() => g.wait(deadline, stopped).await,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_open_gate_passes_at_once() {
        let gate = PauseGate::new(Duration::from_millis(100));
        let t = Instant::now();
        assert!(pass(Some(&gate), None, || false).await);
        assert!(pass(None, None, || false).await);
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_gate_holds_until_the_deadline_exactly() {
        let gate = PauseGate::new(Duration::from_millis(100));
        gate.set_closed(true);
        let t = Instant::now();
        let deadline = t + Duration::from_millis(250);
        assert!(!pass(Some(&gate), Some(deadline), || false).await);
        assert_eq!(t.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_gate_lets_go_at_the_first_poll_after_it_opens() {
        let gate = std::sync::Arc::new(PauseGate::new(Duration::from_millis(100)));
        gate.set_closed(true);
        let t = Instant::now();
        let opener = gate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(230)).await;
            opener.set_closed(false);
        });
        assert!(pass(Some(&gate), None, || false).await);
        // Looked at 0, 100, 200 and 300 ms: open at the fourth.
        assert_eq!(t.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_wait() {
        let gate = PauseGate::new(Duration::from_millis(100));
        gate.set_closed(true);
        let t = Instant::now();
        let stopped = || t.elapsed() >= Duration::from_millis(150);
        assert!(!pass(Some(&gate), None, stopped).await);
        assert_eq!(t.elapsed(), Duration::from_millis(200));
    }
}
