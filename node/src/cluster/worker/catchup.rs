//! Everything the run handed to the master so far, merged per core: what a
//! master this worker had not met before (a restarted one, which holds
//! nothing of it) is sent to catch up.
//!
//! A core's catch-up carries the seq of the core's latest snapshot. Sent in
//! seq order, each is merged once by the master's seq bookkeeping (a
//! snapshot is merged when its seq is above the node's applied seq), and the
//! highest of them is the run's latest seq: the snapshots that follow go on
//! as usual. Merging is exact (counts and histograms added), so the master
//! ends with the same figures as the worker's own report.

use lps_engine::{Snapshot, Stats};
use lps_proto as proto;

use crate::cluster;

/// The merge of every snapshot the run made, per core.
#[derive(Debug, Default)]
pub(super) struct SoFar {
    /// Indexed by core; `None` for a core that sent nothing yet.
    cores: Vec<Option<CoreSoFar>>,
}

/// One core's snapshots, merged.
#[derive(Debug)]
struct CoreSoFar {
    /// The seq of the core's latest snapshot.
    seq: u64,
    /// Counts and histograms added; the latest elapsed time, in-flight
    /// gauge and `last` flag.
    merged: Snapshot,
}

impl SoFar {
    /// Adds the run's snapshot `seq`.
    pub(super) fn add(&mut self, seq: u64, snap: &Snapshot) {
        if self.cores.len() <= snap.core {
            self.cores.resize_with(snap.core + 1, || None);
        }
        let slot = &mut self.cores[snap.core];
        let Some(core) = slot else {
            *slot = Some(CoreSoFar {
                seq,
                merged: snap.clone(),
            });
            return;
        };
        let merged = &mut core.merged;
        if merged.iterations.len() < snap.iterations.len() {
            merged
                .iterations
                .resize_with(snap.iterations.len(), Stats::new);
        }
        for (mine, theirs) in merged.iterations.iter_mut().zip(&snap.iterations) {
            mine.merge(theirs);
        }
        merged.elapsed = merged.elapsed.max(snap.elapsed);
        merged.in_flight = snap.in_flight;
        merged.last = snap.last;
        core.seq = seq;
    }

    /// One catch-up snapshot per core that sent anything, in seq order.
    pub(super) fn catch_up(&self) -> Vec<proto::Snapshot> {
        let mut all: Vec<proto::Snapshot> = self
            .cores
            .iter()
            .flatten()
            .map(|core| proto::Snapshot {
                catch_up: true,
                ..cluster::encode_snapshot(core.seq, &core.merged)
            })
            .collect();
        all.sort_by_key(|s| s.seq);
        all
    }

    /// Requests of every core so far.
    pub(super) fn requests(&self) -> u64 {
        self.cores
            .iter()
            .flatten()
            .map(|core| core.merged.total().requests())
            .sum()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;

    /// Core `core`'s snapshot at `elapsed_s`, with `requests` answers of
    /// latency 100, 101, ... µs.
    pub(in crate::cluster::worker) fn snap(core: usize, elapsed_s: u64, requests: u64) -> Snapshot {
        let mut stats = Stats::new();
        for i in 0..requests {
            stats.record_response(200, 100 + i, 10, 20);
        }
        Snapshot {
            core,
            seq: 0,
            elapsed: Duration::from_secs(elapsed_s),
            in_flight: requests,
            iterations: vec![stats],
            last: false,
        }
    }

    /// The decoded catch-ups: (seq, core, elapsed ms, requests, max latency).
    fn decoded(so_far: &SoFar) -> Vec<(u64, u32, u64, u64, u64)> {
        so_far
            .catch_up()
            .iter()
            .map(|s| {
                assert!(s.catch_up);
                let d = cluster::decode_snapshot(s, 1, 4).expect("decodes");
                let total = d.total();
                (
                    s.seq,
                    s.core,
                    s.elapsed_ms,
                    total.requests(),
                    total.latency.histogram().max(),
                )
            })
            .collect()
    }

    #[test]
    fn nothing_sent_nothing_to_catch_up() {
        let so_far = SoFar::default();
        assert!(so_far.catch_up().is_empty());
        assert_eq!(so_far.requests(), 0);
    }

    #[test]
    fn each_core_is_merged_exactly_under_the_seq_of_its_latest_snapshot() {
        let mut so_far = SoFar::default();
        // The run's seqs interleave the cores: 1 core 0, 2 core 2, 3 core 0, 4 core 2, 5 core 0.
        so_far.add(1, &snap(0, 1, 10));
        so_far.add(2, &snap(2, 1, 3));
        so_far.add(3, &snap(0, 2, 20));
        so_far.add(4, &snap(2, 2, 4));
        so_far.add(5, &snap(0, 3, 5));
        assert_eq!(
            decoded(&so_far),
            [
                // Core 2: 3 + 4 requests, up to its seq 4, 2 s into the run.
                (4, 2, 2000, 7, 103),
                // Core 0: 10 + 20 + 5, up to seq 5, the run's latest.
                (5, 0, 3000, 35, 119),
            ]
        );
        assert_eq!(so_far.requests(), 42);
    }

    #[test]
    fn times_to_first_byte_and_tls_handshakes_are_caught_up_exactly() {
        let mut so_far = SoFar::default();
        let mut whole = Stats::new();
        for seq in 1..=3 {
            let mut s = snap(0, seq, 0);
            for i in 0..seq * 10 {
                s.iterations[0].record_response(200, 500 + i, 10, 20);
                s.iterations[0].record_split(500 + i, 200 + i * seq);
            }
            s.iterations[0].record_connect(40 * seq, false);
            s.iterations[0].record_tls(900 * seq);
            whole.merge(&s.iterations[0]);
            so_far.add(seq, &s);
        }
        let catch_up = so_far.catch_up();
        assert_eq!(catch_up.len(), 1);
        let back = cluster::decode_snapshot(&catch_up[0], 1, 1).expect("decodes");
        let total = back.total();
        assert_eq!(total.ttfb().len(), 60);
        assert_eq!(total.split.ttfb, whole.split.ttfb);
        assert_eq!(total.ttfb(), whole.ttfb());
        assert_eq!(total.tls.len(), 3);
        assert_eq!(total.tls, whole.tls);
        assert_eq!(total.connect, whole.connect);
    }

    #[test]
    fn the_latest_gauge_and_last_flag_are_kept() {
        let mut so_far = SoFar::default();
        so_far.add(1, &snap(1, 1, 10));
        let mut end = snap(1, 2, 2);
        end.last = true;
        so_far.add(2, &end);
        let catch_up = so_far.catch_up();
        assert_eq!(catch_up.len(), 1);
        assert_eq!(
            (catch_up[0].in_flight, catch_up[0].last, catch_up[0].seq),
            (2, true, 2)
        );
    }
}
