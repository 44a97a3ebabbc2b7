//! Iterations ended before their time by a termination rule (LPS's
//! `terminationRules`): the node that judges the rules terminates one here,
//! and on every core no client starts it any more, none sends another of
//! its requests, and what is in flight gets the grace to finish.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// One flag per iteration of the plan, shared by the node and every core.
#[derive(Debug)]
pub struct Terminations {
    /// Read on the request path: one relaxed load.
    flags: Box<[AtomicBool]>,
    /// When each was terminated.
    at: Box<[OnceLock<Instant>]>,
    /// Wakes the clients of each, on whichever core they wait.
    tokens: Box<[CancellationToken]>,
}

impl Terminations {
    /// None terminated, for a plan of `iterations` iterations (rounds
    /// flattened, in plan order).
    pub fn new(iterations: usize) -> Terminations {
        Terminations {
            flags: (0..iterations).map(|_| AtomicBool::new(false)).collect(),
            at: (0..iterations).map(|_| OnceLock::new()).collect(),
            tokens: (0..iterations).map(|_| CancellationToken::new()).collect(),
        }
    }

    /// Terminates iteration `index`; true the first time. An index the
    /// plan does not have (a peer's) is ignored.
    pub fn terminate(&self, index: usize) -> bool {
        let (Some(flag), Some(at), Some(token)) = (
            self.flags.get(index),
            self.at.get(index),
            self.tokens.get(index),
        ) else {
            return false;
        };
        let first = at.set(Instant::now()).is_ok();
        flag.store(true, Ordering::Relaxed);
        token.cancel();
        first
    }

    /// The plan's iterations.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    #[inline]
    pub fn is_terminated(&self, index: usize) -> bool {
        self.flags
            .get(index)
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// When iteration `index` was terminated, if it was.
    pub fn terminated_at(&self, index: usize) -> Option<Instant> {
        self.at.get(index).and_then(|a| a.get().copied())
    }

    /// Completes once iteration `index` is terminated (never for an index
    /// the plan does not have: the engine asks only for its own).
    pub(crate) fn terminated(&self, index: usize) -> Option<WaitForCancellationFuture<'_>> {
        self.tokens.get(index).map(CancellationToken::cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_iteration_is_terminated_once_and_others_are_not() {
        let t = Terminations::new(2);
        assert!(!t.is_terminated(1) && t.terminated_at(1).is_none());
        assert!(t.terminate(1));
        assert!(!t.terminate(1), "the second time changes nothing");
        assert!(t.is_terminated(1) && t.terminated_at(1).is_some());
        assert!(!t.is_terminated(0));
        assert!(!t.terminate(7) && !t.is_terminated(7), "out of range");
    }
}
