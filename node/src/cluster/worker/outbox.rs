//! The snapshots sent to the master and not acknowledged yet, and the run's
//! finished marker: what a new session resends.

use std::collections::VecDeque;

use lps_proto as proto;
use proto::worker_message::Kind;

/// What the master may not have yet, in the order the run made it.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Snapshots the master has not acknowledged, oldest first.
    unacked: VecDeque<proto::Snapshot>,
    /// The highest sequence number the master said it merged.
    acked: u64,
    /// Set once the run ended: its last sequence number.
    finished: Option<proto::Finished>,
}

impl Outbox {
    /// Keeps `snapshot` until the master acknowledges it.
    pub(super) fn push(&mut self, snapshot: proto::Snapshot) {
        debug_assert!(
            self.unacked
                .back()
                .is_none_or(|last| last.seq < snapshot.seq),
            "snapshots come in sequence order"
        );
        self.unacked.push_back(snapshot);
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

    fn snapshot(seq: u64) -> proto::Snapshot {
        proto::Snapshot {
            seq,
            ..Default::default()
        }
    }

    /// The outbox after pushing snapshots `1..=n`.
    fn with(n: u64) -> Outbox {
        let mut outbox = Outbox::default();
        for seq in 1..=n {
            outbox.push(snapshot(seq));
        }
        outbox
    }

    /// The sequence numbers of the pending snapshots, and the finished
    /// marker's last_seq (as `F(last_seq)`), in sending order.
    fn pending(outbox: &Outbox) -> Vec<String> {
        outbox
            .pending()
            .map(|kind| match kind {
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
        outbox.push(snapshot(4));
        outbox.push(snapshot(5));
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
}
