//! The engine cores' snapshots of one interval, merged into the one
//! snapshot the worker sends for them: the master decodes, checks and
//! merges one snapshot per worker and interval, whatever the worker's cores
//! (16 cores: a sixteenth of the work and messages of one per core).
//!
//! Merging is exact (counts added, histograms added bucket by bucket, as the
//! master merges), so which core snapshots go together changes how many
//! snapshots are sent, never what the master ends with. A merged snapshot
//! goes out once every core still running added its part, or once its first
//! part waited an interval (a late core's part goes into the next one).

use std::time::{Duration, Instant};

use lps_engine::{Snapshot, Stats};

/// The cores' parts of the interval being assembled.
#[derive(Debug)]
pub(super) struct Merge {
    /// Per core: its latest in-flight gauge (0 once it finished).
    in_flight: Vec<u64>,
    /// Per core: it sent its last snapshot.
    finished: Vec<bool>,
    /// Per core: it has a part in `pending`.
    joined: Vec<bool>,
    /// The parts merged so far, and when the first came.
    pending: Option<(Snapshot, Instant)>,
    /// How long a part waits for the other cores' (the engine's interval).
    wait: Duration,
}

impl Merge {
    /// For an engine of `cores` cores that sends every `wait`.
    pub(super) fn new(cores: usize, wait: Duration) -> Merge {
        Merge {
            in_flight: vec![0; cores],
            finished: vec![false; cores],
            joined: vec![false; cores],
            pending: None,
            wait,
        }
    }

    /// Adds core `snap.core`'s snapshot, received at `now`; hands each
    /// merged snapshot that is complete to `send`. A core's second part
    /// before the others' first sends the merge without it (that core is
    /// ahead; the others' parts join the next one), unless it is the core's
    /// last, the tail of the same interval: a run's end comes with each
    /// core's last interval and its last part, and these go out together.
    pub(super) fn add(&mut self, snap: &Snapshot, now: Instant, mut send: impl FnMut(Snapshot)) {
        if !snap.last && self.joined.get(snap.core).copied().unwrap_or(false) {
            self.flush(&mut send);
        }
        self.note(snap);
        match &mut self.pending {
            Some((merged, _)) => add_stats(merged, snap),
            None => self.pending = Some((snap.clone(), now)),
        }
        let complete = (self.joined.iter().zip(&self.finished)).all(|(j, f)| *j || *f);
        if complete {
            self.flush(&mut send);
        }
    }

    /// Hands the merge to `send` if its first part has waited an interval
    /// at `now`: a core that is late does not hold up the others' data.
    pub(super) fn due(&mut self, now: Instant, send: impl FnMut(Snapshot)) {
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, since)| now.saturating_duration_since(*since) >= self.wait)
        {
            self.flush(send);
        }
    }

    /// Hands whatever has been added and not sent to `send` (at the end of
    /// the run: every core sent its last snapshot, which completed the
    /// merge, unless one ended without).
    pub(super) fn flush(&mut self, mut send: impl FnMut(Snapshot)) {
        let Some((mut merged, _)) = self.pending.take() else {
            return;
        };
        self.joined.fill(false);
        // The worker's snapshot stands for all its cores.
        merged.core = 0;
        merged.in_flight = self.in_flight.iter().sum();
        merged.last = self.finished.iter().all(|f| *f);
        send(merged);
    }

    /// Records what `snap` tells of its core.
    fn note(&mut self, snap: &Snapshot) {
        let core = snap.core;
        if core >= self.joined.len() {
            // More cores than the engine was said to have: count them too.
            self.in_flight.resize(core + 1, 0);
            self.finished.resize(core + 1, false);
            self.joined.resize(core + 1, false);
        }
        self.joined[core] = true;
        self.finished[core] |= snap.last;
        self.in_flight[core] = if snap.last { 0 } else { snap.in_flight };
    }
}

/// Adds `snap`'s stats to `into`'s, iteration by iteration (exact), and
/// keeps the later elapsed time.
pub(super) fn add_stats(into: &mut Snapshot, snap: &Snapshot) {
    if into.iterations.len() < snap.iterations.len() {
        into.iterations
            .resize_with(snap.iterations.len(), Stats::new);
    }
    for (mine, theirs) in into.iterations.iter_mut().zip(&snap.iterations) {
        mine.merge(theirs);
    }
    into.elapsed = into.elapsed.max(snap.elapsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cluster::worker::catchup::tests::snap;

    const SECOND: Duration = Duration::from_secs(1);

    /// What was sent: (requests, elapsed s, in flight, last) per snapshot.
    type Sent = Vec<(u64, u64, u64, bool)>;

    fn sent(into: &mut Sent) -> impl FnMut(Snapshot) + '_ {
        |s: Snapshot| {
            assert_eq!(s.core, 0, "a worker's snapshot stands for all its cores");
            into.push((
                s.total().requests(),
                s.elapsed.as_secs(),
                s.in_flight,
                s.last,
            ));
        }
    }

    /// Core `core`'s snapshot at `second`, of `requests` requests (and as
    /// many in flight), its last if `last`.
    fn part(core: usize, second: u64, requests: u64, last: bool) -> Snapshot {
        Snapshot {
            last,
            ..snap(core, second, requests)
        }
    }

    #[test]
    fn one_snapshot_per_interval_once_every_core_added_its_part() {
        let t0 = Instant::now();
        let mut m = Merge::new(3, SECOND);
        let mut out = Sent::new();
        m.add(&part(1, 1, 10, false), t0, sent(&mut out));
        m.add(&part(0, 1, 20, false), t0, sent(&mut out));
        assert_eq!(out, [], "core 2's part is missing");
        m.add(&part(2, 1, 30, false), t0, sent(&mut out));
        assert_eq!(out, [(60, 1, 60, false)]);
        m.add(&part(2, 2, 1, false), t0 + SECOND, sent(&mut out));
        m.add(&part(0, 2, 2, false), t0 + SECOND, sent(&mut out));
        m.add(&part(1, 2, 4, false), t0 + SECOND, sent(&mut out));
        assert_eq!(out, [(60, 1, 60, false), (7, 2, 7, false)]);
    }

    #[test]
    fn the_last_snapshot_is_last_once_every_core_finished_and_counts_none_in_flight() {
        let t0 = Instant::now();
        let mut m = Merge::new(2, SECOND);
        let mut out = Sent::new();
        // Core 0 finishes early: the next intervals wait for core 1 alone.
        m.add(&part(0, 1, 5, true), t0, sent(&mut out));
        m.add(&part(1, 1, 6, false), t0, sent(&mut out));
        m.add(&part(1, 2, 7, false), t0 + SECOND, sent(&mut out));
        m.add(&part(1, 3, 8, true), t0 + 2 * SECOND, sent(&mut out));
        assert_eq!(out, [(11, 1, 6, false), (7, 2, 7, false), (8, 3, 0, true)]);
        m.flush(sent(&mut out));
        assert_eq!(out.len(), 3, "nothing was left");
    }

    #[test]
    fn a_late_core_holds_the_others_up_one_interval_at_most() {
        let t0 = Instant::now();
        let mut m = Merge::new(2, SECOND);
        let mut out = Sent::new();
        m.add(&part(0, 1, 5, false), t0, sent(&mut out));
        m.due(t0 + SECOND / 2, sent(&mut out));
        assert_eq!(out, []);
        m.due(t0 + SECOND, sent(&mut out));
        assert_eq!(out, [(5, 1, 5, false)]);
        // Core 1's part comes late: it opens the next merge, which core 0 completes.
        m.add(&part(1, 1, 6, false), t0 + SECOND, sent(&mut out));
        m.add(&part(0, 2, 7, false), t0 + SECOND, sent(&mut out));
        assert_eq!(out, [(5, 1, 5, false), (13, 2, 13, false)]);
    }

    #[test]
    fn a_core_ahead_of_the_others_sends_the_merge_without_its_second_part() {
        let t0 = Instant::now();
        let mut m = Merge::new(2, SECOND);
        let mut out = Sent::new();
        m.add(&part(0, 1, 5, false), t0, sent(&mut out));
        m.add(&part(0, 2, 6, false), t0, sent(&mut out));
        assert_eq!(out, [(5, 1, 5, false)]);
        m.add(&part(1, 2, 7, false), t0, sent(&mut out));
        assert_eq!(out, [(5, 1, 5, false), (13, 2, 13, false)]);
    }

    #[test]
    fn the_cores_last_parts_go_out_with_their_last_interval() {
        let t0 = Instant::now();
        let mut m = Merge::new(3, SECOND);
        let mut out = Sent::new();
        // Each core's interval ends with the run: its part, then its last.
        // The last core's part completes the interval; its tail follows.
        for core in 0..3 {
            m.add(&part(core, 3, 10, false), t0, sent(&mut out));
            m.add(&part(core, 3, 1, true), t0, sent(&mut out));
        }
        assert_eq!(out, [(32, 3, 10, false), (1, 3, 0, true)]);
    }

    #[test]
    fn every_request_and_latency_is_sent_once_whatever_the_grouping() {
        let t0 = Instant::now();
        let mut m = Merge::new(4, SECOND);
        let mut whole = Stats::new();
        let mut merged = Stats::new();
        let mut send = |s: Snapshot| merged.merge(&s.total());
        // Cores out of step, one finishing early, one late, one more core
        // than announced.
        let parts = [
            (0, 1, 3, false),
            (1, 1, 4, false),
            (0, 2, 5, false),
            (2, 1, 6, true),
            (3, 1, 7, false),
            (4, 1, 8, false),
            (1, 2, 9, false),
        ];
        for (i, &(core, second, requests, last)) in parts.iter().enumerate() {
            let p = part(core, second, requests, last);
            whole.merge(&p.total());
            m.add(&p, t0 + SECOND * i as u32 / 3, &mut send);
            m.due(t0 + SECOND * i as u32 / 3, &mut send);
        }
        m.flush(&mut send);
        assert_eq!(merged.requests(), 42);
        assert_eq!(merged.latency, whole.latency);
        assert_eq!(merged.status_codes(), whole.status_codes());
    }
}
