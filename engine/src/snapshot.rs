//! Snapshots: what a core sends to the aggregator once per interval, and the
//! exact merge of them.

use std::time::Duration;

use crate::stats::Stats;

/// What one core recorded during one interval.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The core (engine thread) that recorded it.
    pub core: usize,
    /// Increases by one per snapshot of a core, from 0.
    pub seq: u64,
    /// Time since the test started, at the end of the interval.
    pub elapsed: Duration,
    /// Requests in flight on this core when the snapshot was taken.
    pub in_flight: u64,
    /// Stats per iteration, indexed as in the plan (rounds flattened).
    pub iterations: Vec<Stats>,
    /// The core's last snapshot: it has finished.
    pub last: bool,
}

impl Snapshot {
    /// All iterations of this snapshot merged.
    pub fn total(&self) -> Stats {
        let mut total = Stats::new();
        for s in &self.iterations {
            total.merge(s);
        }
        total
    }
}

/// The exact sum of every snapshot received so far.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Stats per iteration, merged over all cores.
    pub iterations: Vec<Stats>,
    /// In-flight requests per core, from each core's latest snapshot.
    in_flight: Vec<u64>,
    /// Latest elapsed time seen.
    pub elapsed: Duration,
}

impl Aggregate {
    pub fn new(iterations: usize) -> Aggregate {
        Aggregate {
            iterations: (0..iterations).map(|_| Stats::new()).collect(),
            in_flight: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// Adds one snapshot. Snapshots of unknown iterations are ignored rather
    /// than trusted: their count cannot be attributed.
    pub fn add(&mut self, snap: &Snapshot) {
        for (mine, theirs) in self.iterations.iter_mut().zip(&snap.iterations) {
            mine.merge(theirs);
        }
        if self.in_flight.len() <= snap.core {
            self.in_flight.resize(snap.core + 1, 0);
        }
        self.in_flight[snap.core] = if snap.last { 0 } else { snap.in_flight };
        self.elapsed = self.elapsed.max(snap.elapsed);
    }

    /// Adds another node's aggregate, iteration by iteration (exact). The
    /// in-flight gauges are per core of one node and are not carried over.
    pub fn merge(&mut self, other: &Aggregate) {
        for (mine, theirs) in self.iterations.iter_mut().zip(&other.iterations) {
            mine.merge(theirs);
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Requests in flight across cores, as of their latest snapshots.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.iter().sum()
    }

    /// All iterations merged.
    pub fn total(&self) -> Stats {
        let mut total = Stats::new();
        for s in &self.iterations {
            total.merge(s);
        }
        total
    }
}
