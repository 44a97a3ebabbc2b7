//! The snapshots sent to the master and not acknowledged yet, and the run's
//! finished marker: what a new session resends. Beside them, everything
//! the run sent, merged: what a restarted master is sent instead.

use std::collections::VecDeque;

use lps_engine::Snapshot;
use lps_proto as proto;
use proto::worker_message::Kind;

use super::catchup::SoFar;

/// What the master may not have yet, in the order the run made it.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Snapshots the master has not acknowledged, oldest first.
    unacked: VecDeque<proto::Snapshot>,
    /// The highest sequence number the master said it merged.
    acked: u64,
    /// Set once the run ended: its last sequence number.
    finished: Option<proto::Finished>,
    /// Every snapshot the run made, merged.
    so_far: SoFar,
    /// The master instance that `acked` is about: the one met last.
    master: Option<u64>,
    /// How many times another master instance than the one before was met.
    restarts: u32,
}

/// Whom a session's Welcome came from.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Met {
    /// The master met before (or the first one).
    Same,
    /// Another master instance: it restarted and holds nothing this worker
    /// sent before. Everything so far is pending again, as a catch-up of
    /// these many requests.
    Restarted { requests: u64 },
}

impl Outbox {
    /// Keeps the run's snapshot (`wire`, the wire form of `snap`) until the
    /// master acknowledges it.
    pub(super) fn push(&mut self, wire: proto::Snapshot, snap: &Snapshot) {
        debug_assert!(
            self.unacked.back().is_none_or(|last| last.seq < wire.seq),
            "snapshots come in sequence order"
        );
        self.so_far.add(wire.seq, snap);
        self.unacked.push_back(wire);
    }

    /// A session's Welcome from master instance `instance`, which merged
    /// this worker's snapshots up to `applied_seq`. A new instance (the
    /// master restarted) has none of them: the unacknowledged snapshots are
    /// replaced by one catch-up, which holds them and every snapshot
    /// acknowledged before.
    pub(super) fn welcome(&mut self, instance: u64, applied_seq: u64) -> Met {
        let met = match self.master.replace(instance) {
            Some(known) if known != instance => {
                self.restarts += 1;
                self.unacked = self.so_far.catch_up().into_iter().collect();
                // Its acknowledgements start afresh (a new instance knows
                // nothing of this worker: applied_seq is 0).
                self.acked = 0;
                Met::Restarted {
                    requests: self.so_far.requests(),
                }
            }
            _ => Met::Same,
        };
        self.ack(applied_seq);
        met
    }

    /// How many restarted masters this worker caught up.
    pub(super) fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Marks the run as ended after `last_seq`; returns the marker to send.
    pub(super) fn finish(&mut self, last_seq: u64, interrupted: bool) -> proto::Finished {
        let finished = proto::Finished {
            last_seq,
            interrupted,
        };
        self.finished = Some(finished);
        finished
    }

    /// The master merged every snapshot up to `applied_seq`: forgets them.
    /// An older or repeated acknowledgement changes nothing.
    pub(super) fn ack(&mut self, applied_seq: u64) {
        self.acked = self.acked.max(applied_seq);
        self.unacked.retain(|s| s.seq > applied_seq);
    }

    /// What a new session must send, in order: the unacknowledged
    /// snapshots, then the finished marker if the run ended.
    pub(super) fn pending(&self) -> impl Iterator<Item = Kind> + '_ {
        let snapshots = self.unacked.iter().cloned().map(Kind::Snapshot);
        snapshots.chain(self.finished.map(Kind::Finished))
    }

    /// The run ended.
    pub(super) fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    /// The run ended and the master acknowledged its last snapshot (asked
    /// after each acknowledgement, which also answers the finished marker).
    pub(super) fn all_delivered(&self) -> bool {
        self.finished.is_some_and(|f| self.acked >= f.last_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cluster;
    use crate::cluster::worker::catchup::tests::snap;

    /// Pushes the run's snapshot `seq`, with `seq` requests.
    fn push(outbox: &mut Outbox, seq: u64) {
        let s = snap(0, seq, seq);
        outbox.push(cluster::encode_snapshot(seq, &s), &s);
    }

    /// The outbox after pushing snapshots `1..=n`.
    fn with(n: u64) -> Outbox {
        let mut outbox = Outbox::default();
        for seq in 1..=n {
            push(&mut outbox, seq);
        }
        outbox
    }

    /// The sequence numbers of the pending snapshots, and the finished
    /// marker's last_seq (as `F(last_seq)`), in sending order.
    fn pending(outbox: &Outbox) -> Vec<String> {
        outbox
            .pending()
            .map(|kind| match kind {
                Kind::Snapshot(s) if s.catch_up => format!("C{}", s.seq),
                Kind::Snapshot(s) => s.seq.to_string(),
                Kind::Finished(f) => format!("F({})", f.last_seq),
                other => panic!("not an outbox message: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn accepted_snapshots_are_pending_in_order() {
        assert_eq!(pending(&Outbox::default()), Vec::<String>::new());
        assert_eq!(pending(&with(3)), ["1", "2", "3"]);
    }

    #[test]
    fn an_ack_forgets_up_to_its_sequence_number() {
        let mut outbox = with(4);
        outbox.ack(2);
        assert_eq!(pending(&outbox), ["3", "4"]);
        outbox.ack(3);
        assert_eq!(pending(&outbox), ["4"]);
        outbox.ack(4);
        assert_eq!(pending(&outbox), Vec::<String>::new());
    }

    #[test]
    fn duplicate_and_older_acks_change_nothing() {
        let mut outbox = with(4);
        outbox.ack(2);
        outbox.ack(2);
        assert_eq!(pending(&outbox), ["3", "4"]);
        outbox.ack(1);
        assert_eq!(pending(&outbox), ["3", "4"]);
        outbox.ack(0);
        assert_eq!(pending(&outbox), ["3", "4"]);
    }

    #[test]
    fn an_ack_beyond_what_was_sent_forgets_everything() {
        let mut outbox = with(3);
        outbox.ack(10);
        assert_eq!(pending(&outbox), Vec::<String>::new());
        assert!(!outbox.all_delivered(), "the run has not finished");
        outbox.finish(3, false);
        assert!(outbox.all_delivered());
    }

    #[test]
    fn a_reconnect_resends_everything_unacked_in_order_once() {
        let mut outbox = with(3);
        outbox.ack(1);
        // The stream broke; the run went on.
        push(&mut outbox, 4);
        push(&mut outbox, 5);
        assert_eq!(pending(&outbox), ["2", "3", "4", "5"]);
        // Asking again (another reconnect) gives the same list, not more.
        assert_eq!(pending(&outbox), ["2", "3", "4", "5"]);
        // The new session's Welcome says the master merged up to 3.
        outbox.ack(3);
        assert_eq!(pending(&outbox), ["4", "5"]);
    }

    #[test]
    fn the_finished_marker_is_sent_last_until_everything_is_acked() {
        let mut outbox = with(2);
        assert!(!outbox.is_finished());
        let marker = outbox.finish(2, true);
        assert_eq!(
            marker,
            proto::Finished {
                last_seq: 2,
                interrupted: true
            }
        );
        assert!(outbox.is_finished());
        assert_eq!(pending(&outbox), ["1", "2", "F(2)"]);
        assert!(!outbox.all_delivered());
        outbox.ack(1);
        assert!(!outbox.all_delivered());
        assert_eq!(pending(&outbox), ["2", "F(2)"]);
        outbox.ack(2);
        assert!(outbox.all_delivered());
        // The master may not have the marker yet: a reconnect still sends it.
        assert_eq!(pending(&outbox), ["F(2)"]);
    }

    #[test]
    fn a_run_without_snapshots_has_only_its_marker_to_deliver() {
        let mut outbox = Outbox::default();
        outbox.finish(0, false);
        assert_eq!(pending(&outbox), ["F(0)"]);
        assert!(outbox.all_delivered());
    }

    /// A master that merges what `outbox` has pending, as the real one does
    /// (a snapshot once, when its seq is above the applied one), stopping
    /// after `limit` messages (a broken stream); its requests so far.
    struct Master {
        applied: u64,
        requests: u64,
    }

    impl Master {
        fn new() -> Master {
            Master {
                applied: 0,
                requests: 0,
            }
        }

        fn take(&mut self, outbox: &mut Outbox, limit: usize) {
            let sent: Vec<Kind> = outbox.pending().take(limit).collect();
            for kind in sent {
                if let Kind::Snapshot(s) = kind
                    && s.seq > self.applied
                {
                    let d = cluster::decode_snapshot(&s, 1, 2).expect("decodes");
                    self.requests += d.total().requests();
                    self.applied = s.seq;
                }
                outbox.ack(self.applied);
            }
        }
    }

    #[test]
    fn the_first_master_met_again_is_no_restart() {
        let mut outbox = with(3);
        assert_eq!(outbox.welcome(7, 0), Met::Same);
        outbox.ack(2);
        assert_eq!(outbox.welcome(7, 2), Met::Same);
        assert_eq!(pending(&outbox), ["3"]);
        assert_eq!(outbox.restarts(), 0);
    }

    #[test]
    fn a_restarted_master_gets_one_catch_up_then_what_follows() {
        let mut outbox = with(5);
        outbox.welcome(7, 0);
        outbox.ack(3);
        // Instance 8: the master restarted; it has none of 1..=5.
        assert_eq!(outbox.welcome(8, 0), Met::Restarted { requests: 15 });
        assert_eq!(outbox.restarts(), 1);
        assert_eq!(pending(&outbox), ["C5"]);
        push(&mut outbox, 6);
        assert_eq!(pending(&outbox), ["C5", "6"]);
        // The stream broke after C5; the same new master welcomes it back.
        assert_eq!(outbox.welcome(8, 5), Met::Same);
        assert_eq!(pending(&outbox), ["6"]);
    }

    #[test]
    fn a_restarted_master_ends_with_the_whole_run_exactly_once() {
        let mut outbox = Outbox::default();
        let mut first = Master::new();
        outbox.welcome(1, 0);
        for seq in 1..=4 {
            push(&mut outbox, seq);
        }
        first.take(&mut outbox, usize::MAX);
        push(&mut outbox, 5);
        // The first master dies with 5 unacknowledged.
        let mut second = Master::new();
        outbox.welcome(2, second.applied);
        push(&mut outbox, 6);
        // The stream breaks after the catch-up; a reconnect resends the rest.
        second.take(&mut outbox, 1);
        outbox.welcome(2, second.applied);
        push(&mut outbox, 7);
        outbox.finish(7, false);
        second.take(&mut outbox, usize::MAX);
        assert_eq!(second.requests, (1..=7).sum::<u64>());
        assert!(outbox.all_delivered());
    }

    #[test]
    fn everything_delivered_to_a_master_that_restarted_is_not_delivered() {
        let mut outbox = with(3);
        outbox.welcome(1, 0);
        outbox.finish(3, false);
        outbox.ack(3);
        assert!(outbox.all_delivered());
        // The master restarted before the worker heard the last ack.
        outbox.welcome(2, 0);
        assert!(!outbox.all_delivered());
        assert_eq!(pending(&outbox), ["C3", "F(3)"]);
        outbox.ack(3);
        assert!(outbox.all_delivered());
    }
}
