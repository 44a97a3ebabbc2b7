//! Everything the run handed to the master so far, merged: what a master
//! this worker had not met before (a restarted one, which holds nothing of
//! it) is sent to catch up.
//!
//! The catch-up carries the seq of the run's latest snapshot: the master
//! merges it once (a snapshot is merged when its seq is above the node's
//! applied seq), and the snapshots that follow go on as usual. Merging is
//! exact (counts and histograms added), so the master ends with the same
//! figures as the worker's own report.

use lps_engine::Snapshot;
use lps_proto as proto;

use super::merge::add_stats;
use crate::cluster;

/// The merge of every snapshot the run made.
#[derive(Debug, Default)]
pub(super) struct SoFar {
    /// The seq of the latest snapshot, and every snapshot up to it merged:
    /// counts and histograms added; the latest elapsed time, in-flight
    /// gauge and `last` flag. `None` until the run sent one.
    merged: Option<(u64, Snapshot)>,
}

impl SoFar {
    /// Adds the run's snapshot `seq`.
    pub(super) fn add(&mut self, seq: u64, snap: &Snapshot) {
        let Some((latest, merged)) = &mut self.merged else {
            self.merged = Some((seq, snap.clone()));
            return;
        };
        add_stats(merged, snap);
        merged.in_flight = snap.in_flight;
        merged.last = snap.last;
        *latest = seq;
    }

    /// The catch-up, if the run sent anything.
    pub(super) fn catch_up(&self) -> Option<proto::Snapshot> {
        let (seq, merged) = self.merged.as_ref()?;
        Some(proto::Snapshot {
            catch_up: true,
            ..cluster::encode_snapshot(*seq, merged)
        })
    }

    /// Requests so far.
    pub(super) fn requests(&self) -> u64 {
        self.merged
            .as_ref()
            .map_or(0, |(_, merged)| merged.total().requests())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;
    use lps_engine::Stats;

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

    /// The decoded catch-up: (seq, elapsed ms, requests, max latency).
    fn decoded(so_far: &SoFar) -> Option<(u64, u64, u64, u64)> {
        let s = so_far.catch_up()?;
        assert!(s.catch_up);
        let d = cluster::decode_snapshot(&s, 1, 4).expect("decodes");
        let total = d.total();
        Some((
            s.seq,
            s.elapsed_ms,
            total.requests(),
            total.latency.histogram().max(),
        ))
    }

    #[test]
    fn nothing_sent_nothing_to_catch_up() {
        let so_far = SoFar::default();
        assert!(so_far.catch_up().is_none());
        assert_eq!(so_far.requests(), 0);
    }

    #[test]
    fn the_run_is_merged_exactly_under_the_seq_of_its_latest_snapshot() {
        let mut so_far = SoFar::default();
        so_far.add(1, &snap(0, 1, 10));
        so_far.add(2, &snap(0, 2, 3));
        so_far.add(3, &snap(0, 3, 20));
        // 10 + 3 + 20 requests, up to seq 3, 3 s into the run.
        assert_eq!(decoded(&so_far), Some((3, 3000, 33, 119)));
        assert_eq!(so_far.requests(), 33);
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
        let catch_up = so_far.catch_up().expect("a catch-up");
        let back = cluster::decode_snapshot(&catch_up, 1, 1).expect("decodes");
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
        let catch_up = so_far.catch_up().expect("a catch-up");
        assert_eq!(
            (catch_up.in_flight, catch_up.last, catch_up.seq),
            (2, true, 2)
        );
    }
}
