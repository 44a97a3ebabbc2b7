//! Per-iteration records that allocate nothing until they record and stay
//! small while they hold little.
//!
//! One [`Stats`](crate::Stats) per iteration lives on every core, in each
//! snapshot, in the node's aggregate, in the dashboard's live model and on a
//! master for each node: a plan of 10,000 iterations holds tens of thousands
//! of them, most empty or holding a few requests. Dense forms sized for the
//! whole latency range up front (188 KB + 27 KB + 4 KB each) made such a plan
//! take gigabytes.
//!
//! - [`LazyHistogram`]: nothing while empty, the values themselves while few
//!   (up to [`FEW_VALUES`]), then an HdrHistogram that grows to the largest
//!   value it holds (16 KB up to 2 ms at 3 digits, 188 KB at an hour). A
//!   peer's histogram, decoded from the wire, is kept as the buckets it
//!   recorded until it is merged: a total takes them bucket by bucket, with
//!   no HdrHistogram made for the peer's.
//! - [`StatusCounts`]: a short list while few status codes occurred, then a
//!   table indexed by code.
//!
//! Both read exactly as the dense forms: a histogram built from the few
//! values is the one that would have recorded them.

use std::borrow::Cow;

use hdrhistogram::Histogram;

use crate::stats::{LATENCY_HIGH_US, LATENCY_LOW_US};

/// Values a [`LazyHistogram`] keeps as they are before it becomes an
/// HdrHistogram: 4 KB, a quarter of the smallest HdrHistogram at 3 digits.
pub const FEW_VALUES: usize = 512;

/// The top of the range of an engine histogram that holds
/// [`LATENCY_HIGH_US`]: the end of the bucket that holds it, the highest
/// bound a histogram of the engine's may carry (on the wire, for one).
pub const LATENCY_TOP_US: u64 = (1 << 32) - 1;

/// A latency histogram in microseconds, from [`LATENCY_LOW_US`] to
/// [`LATENCY_HIGH_US`] (values beyond saturate), at a fixed precision.
#[derive(Debug, Clone)]
pub struct LazyHistogram {
    /// Significant digits of the HdrHistogram it reads as.
    sigfig: u8,
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Each value recorded (already within the bounds), at most
    /// [`FEW_VALUES`]; empty, it has allocated nothing.
    Few(Vec<u64>),
    /// An auto-resizing HdrHistogram, lowest value 1, precision `sigfig`.
    Dense(Histogram<u64>),
    /// A peer's recorded buckets (see [`LazyHistogram::from_buckets`]): a
    /// value of each (within the bounds) and its count, values ascending;
    /// `len` is the sum of the counts.
    Buckets { buckets: Vec<(u64, u64)>, len: u64 },
}

impl LazyHistogram {
    /// An empty histogram of `sigfig` significant digits (1 to 5).
    pub const fn new(sigfig: u8) -> LazyHistogram {
        LazyHistogram {
            sigfig,
            repr: Repr::Few(Vec::new()),
        }
    }

    /// A histogram holding what `h` holds (a peer's, or one built by hand),
    /// re-recorded at this precision; values beyond the bounds saturate.
    pub fn from_histogram(h: &Histogram<u64>, sigfig: u8) -> LazyHistogram {
        let mut out = LazyHistogram::new(sigfig);
        out.add_histogram(h);
        out
    }

    /// A histogram of `sigfig` digits holding a peer's recorded buckets:
    /// for each, a value in it and its count, in ascending order of value
    /// (as a peer's serialised histogram lists them). Each value is read at
    /// this precision, so a value of a bucket of the same precision lands in
    /// that bucket; values beyond the bounds saturate; counts add up
    /// saturating. Nothing else is allocated until it is read or merged:
    /// merged into another, each bucket is added once.
    pub fn from_buckets(sigfig: u8, mut buckets: Vec<(u64, u64)>) -> LazyHistogram {
        let (mut len, mut empty) = (0u64, false);
        for (value, count) in &mut buckets {
            *value = (*value).clamp(LATENCY_LOW_US, LATENCY_HIGH_US);
            len = len.saturating_add(*count);
            empty |= *count == 0;
        }
        // An empty bucket recorded would still move the minimum or maximum.
        if empty {
            buckets.retain(|&(_, count)| count > 0);
        }
        debug_assert!(buckets.is_sorted_by_key(|&(value, _)| value));
        let repr = if len == 0 {
            Repr::Few(Vec::new())
        } else {
            Repr::Buckets { buckets, len }
        };
        LazyHistogram { sigfig, repr }
    }

    /// Records one value; values outside the bounds saturate.
    #[inline]
    pub fn record(&mut self, value: u64) {
        let value = value.clamp(LATENCY_LOW_US, LATENCY_HIGH_US);
        match &mut self.repr {
            Repr::Dense(h) => record_n(h, value, 1),
            Repr::Few(values) if values.len() < FEW_VALUES => values.push(value),
            _ => record_n(self.dense(), value, 1),
        }
    }

    /// Its precision in significant digits.
    pub fn sigfig(&self) -> u8 {
        self.sigfig
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Few(values) => values.len() as u64,
            Repr::Dense(h) => h.len(),
            Repr::Buckets { len, .. } => *len,
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The HdrHistogram this reads as: borrowed when it is one, else built
    /// (and dropped by the caller) from the values it holds.
    pub fn histogram(&self) -> Cow<'_, Histogram<u64>> {
        match &self.repr {
            Repr::Dense(h) => Cow::Borrowed(h),
            Repr::Few(values) => {
                let mut h = empty(self.sigfig);
                for &v in values {
                    record_n(&mut h, v, 1);
                }
                Cow::Owned(h)
            }
            Repr::Buckets { buckets, .. } => {
                let mut h = empty(self.sigfig);
                add_buckets(&mut h, buckets);
                Cow::Owned(h)
            }
        }
    }

    /// Adds `other` into `self`; exact, associative and commutative.
    pub fn merge(&mut self, other: &LazyHistogram) {
        match (&mut self.repr, &other.repr) {
            (_, Repr::Few(theirs)) if theirs.is_empty() => {}
            (Repr::Few(mine), Repr::Few(theirs)) if mine.len() + theirs.len() <= FEW_VALUES => {
                mine.extend_from_slice(theirs)
            }
            // Every dense form has the same lowest value and grows; at the
            // same precision a copy is what adding it to nothing would give.
            (Repr::Few(mine), Repr::Dense(theirs))
                if mine.is_empty() && self.sigfig == other.sigfig =>
            {
                self.repr = Repr::Dense(theirs.clone())
            }
            (_, Repr::Few(theirs)) => {
                let h = self.dense();
                for &v in theirs {
                    record_n(h, v, 1);
                }
            }
            (_, Repr::Dense(theirs)) => self.add_histogram(theirs),
            (Repr::Few(mine), Repr::Buckets { buckets, len })
                if mine.len() as u64 + len <= FEW_VALUES as u64 =>
            {
                for &(value, count) in buckets {
                    mine.extend(std::iter::repeat_n(value, count as usize));
                }
            }
            // Straight into the counts of the total, bucket by bucket: a
            // peer's histogram holds far fewer buckets than the range spans.
            (_, Repr::Buckets { buckets, .. }) => add_buckets(self.dense(), buckets),
        }
    }

    /// Adds an HdrHistogram of any bounds and precision.
    fn add_histogram(&mut self, other: &Histogram<u64>) {
        let fits = matches!(&self.repr,
            Repr::Few(values) if values.len() as u64 + other.len() <= FEW_VALUES as u64);
        let same = other.low() == LATENCY_LOW_US
            && other.sigfig() == self.sigfig
            && other.max() <= LATENCY_HIGH_US;
        if same && !fits {
            // An auto-resizing histogram takes any other of the same lowest
            // value and precision; adding fails only on a platform whose
            // usize cannot index its counts, which the bounds rule out.
            let _ = self.dense().add(other);
            return;
        }
        // Few values, other bounds or precision, or values beyond the
        // bounds: each bucket is re-recorded at its highest equivalent
        // value (the same bucket at the same precision), saturating.
        for v in other.iter_recorded() {
            let value = v.value_iterated_to().clamp(LATENCY_LOW_US, LATENCY_HIGH_US);
            let count = v.count_at_value();
            match &mut self.repr {
                Repr::Few(values) if fits => {
                    values.extend(std::iter::repeat_n(value, count as usize))
                }
                _ => record_n(self.dense(), value, count),
            }
        }
    }

    /// The dense form, made from the values or buckets held if it was not
    /// yet one.
    fn dense(&mut self) -> &mut Histogram<u64> {
        if !matches!(self.repr, Repr::Dense(_)) {
            self.make_dense();
        }
        match &mut self.repr {
            Repr::Dense(h) => h,
            _ => unreachable!("made dense just above"),
        }
    }

    #[cold]
    fn make_dense(&mut self) {
        let h = match &self.repr {
            Repr::Dense(_) => return,
            Repr::Few(_) | Repr::Buckets { .. } => self.histogram().into_owned(),
        };
        self.repr = Repr::Dense(h);
    }
}

/// Equal when they hold the same counts in the same buckets, whatever their
/// form.
impl PartialEq for LazyHistogram {
    fn eq(&self, other: &LazyHistogram) -> bool {
        let (a, b) = (self.histogram(), other.histogram());
        let buckets = |h: &Histogram<u64>| {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect::<Vec<_>>()
        };
        self.sigfig == other.sigfig
            && a.len() == b.len()
            && a.min() == b.min()
            && a.max() == b.max()
            && buckets(&a) == buckets(&b)
    }
}

/// An empty auto-resizing HdrHistogram from 1 at `sigfig` digits: 16 KB of
/// counts at 3 digits, 2 KB at 2, until a larger value needs more.
fn empty(sigfig: u8) -> Histogram<u64> {
    // The engine's precisions (2 and 3 digits) are within hdrhistogram's
    // 0..=5, the only way construction can fail.
    Histogram::new(sigfig).expect("the engine's precisions are valid")
}

/// Adds buckets (values ascending, within the bounds) to an auto-resizing
/// histogram: the highest first, so that it grows once, not once per power
/// of two on the way up.
fn add_buckets(h: &mut Histogram<u64>, buckets: &[(u64, u64)]) {
    if let Some((&(top, count), rest)) = buckets.split_last() {
        record_n(h, top, count);
        for &(value, count) in rest {
            record_n(h, value, count);
        }
    }
}

/// Records `count` of `value` (within the bounds) into an auto-resizing
/// histogram.
#[inline]
fn record_n(h: &mut Histogram<u64>, value: u64, count: u64) {
    // An auto-resizing histogram takes any value; it fails only on a
    // platform whose usize cannot index the counts up to LATENCY_HIGH_US.
    let _ = h.record_n(value, count);
}

/// Status code counts: a slot per code 100..=599 (`code - 100`).
#[derive(Debug, Clone)]
pub(crate) enum StatusCounts {
    /// (slot, count) of the codes that occurred, at most [`FEW_CODES`], in
    /// the order they first occurred; empty, it has allocated nothing.
    Few(Vec<(u16, u64)>),
    /// A count per slot.
    Table(Box<[u64; STATUS_SLOTS]>),
}

/// Slots of a [`StatusCounts`] table: codes 100..=599.
pub(crate) const STATUS_SLOTS: usize = 500;
/// Distinct codes kept as a list: a scan of so few is as quick as an index.
const FEW_CODES: usize = 8;

impl StatusCounts {
    pub(crate) const fn new() -> StatusCounts {
        StatusCounts::Few(Vec::new())
    }

    /// Adds `n` to `slot` (below [`STATUS_SLOTS`]), saturating.
    #[inline]
    pub(crate) fn add(&mut self, slot: u16, n: u64) {
        match self {
            StatusCounts::Table(table) => {
                let c = &mut table[usize::from(slot)];
                *c = c.saturating_add(n);
            }
            StatusCounts::Few(codes) => {
                if let Some((_, c)) = codes.iter_mut().find(|(s, _)| *s == slot) {
                    *c = c.saturating_add(n);
                } else if codes.len() < FEW_CODES {
                    codes.push((slot, n));
                } else {
                    self.make_table().add(slot, n);
                }
            }
        }
    }

    /// (slot, count) of each slot counted, in ascending slot order.
    pub(crate) fn slots(&self) -> Vec<(u16, u64)> {
        match self {
            StatusCounts::Few(codes) => {
                let mut codes = codes.clone();
                codes.sort_unstable();
                codes
            }
            StatusCounts::Table(table) => table
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(slot, n)| (slot as u16, *n))
                .collect(),
        }
    }

    /// Turns the list into a table.
    #[cold]
    fn make_table(&mut self) -> &mut StatusCounts {
        let mut table = Box::new([0u64; STATUS_SLOTS]);
        for (slot, n) in self.slots() {
            table[usize::from(slot)] = n;
        }
        *self = StatusCounts::Table(table);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old dense form: the whole range allocated up front.
    fn dense(sigfig: u8) -> Histogram<u64> {
        Histogram::new_with_bounds(LATENCY_LOW_US, LATENCY_HIGH_US, sigfig).unwrap()
    }

    #[test]
    fn reads_as_the_dense_histogram_in_every_form() {
        for n in [0usize, 1, 7, FEW_VALUES, FEW_VALUES + 1, 5_000] {
            let values: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % 250_000 + 1).collect();
            let mut lazy = LazyHistogram::new(3);
            let mut old = dense(3);
            for &v in &values {
                lazy.record(v);
                old.saturating_record(v);
            }
            let h = lazy.histogram();
            assert_eq!(lazy.len(), n as u64);
            assert_eq!(h.len(), old.len());
            for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(
                    h.value_at_quantile(q),
                    old.value_at_quantile(q),
                    "n {n} q {q}"
                );
            }
            assert_eq!(
                (h.min(), h.max(), h.mean()),
                (old.min(), old.max(), old.mean())
            );
            assert_eq!(lazy, LazyHistogram::from_histogram(&old, 3), "n {n}");
        }
    }

    #[test]
    fn merge_is_exact_whatever_the_forms() {
        let values: Vec<u64> = (0..3_000u64)
            .map(|i| (i * 104_729) % 9_000_000 + 1)
            .collect();
        let mut whole = LazyHistogram::new(3);
        for &v in &values {
            whole.record(v);
        }
        // Parts of 1, 10, 600 and the rest: few and dense, merged both ways.
        let mut parts = Vec::new();
        let mut rest = &values[..];
        for size in [1usize, 10, 600] {
            let (part, tail) = rest.split_at(size);
            let mut h = LazyHistogram::new(3);
            part.iter().for_each(|&v| h.record(v));
            parts.push(h);
            rest = tail;
        }
        let mut last = LazyHistogram::new(3);
        rest.iter().for_each(|&v| last.record(v));
        parts.push(last);
        let mut forward = LazyHistogram::new(3);
        parts.iter().for_each(|p| forward.merge(p));
        let mut backward = LazyHistogram::new(3);
        parts.iter().rev().for_each(|p| backward.merge(p));
        assert_eq!(forward, whole);
        assert_eq!(backward, whole);
        assert_eq!(*forward.histogram(), *whole.histogram());
    }

    /// A histogram's recorded buckets as a peer sends them: the highest
    /// value of each, and its count.
    fn buckets_of(h: &Histogram<u64>) -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }

    #[test]
    fn a_peers_buckets_read_and_merge_as_its_histogram() {
        for (n, sigfig) in [
            (1usize, 3),
            (300, 3),
            (FEW_VALUES + 1, 3),
            (5_000, 3),
            (700, 2),
        ] {
            let mut peer = dense(sigfig);
            for i in 0..n as u64 {
                peer.saturating_record((i * 7_919) % 3_000_000 + 1);
            }
            let buckets = LazyHistogram::from_buckets(sigfig, buckets_of(&peer));
            let whole = LazyHistogram::from_histogram(&peer, sigfig);
            assert_eq!(buckets.len(), n as u64);
            assert_eq!(buckets, whole, "n {n}");
            assert_eq!(*buckets.histogram(), *whole.histogram(), "n {n}");
            // Into nothing, a few values, a dense total and another peer's
            // buckets: the same as merging the peer's histogram.
            let few = {
                let mut h = LazyHistogram::new(sigfig);
                [40, 900, 12_000].iter().for_each(|&v| h.record(v));
                h
            };
            let mut big = LazyHistogram::new(sigfig);
            (1..=2_000u64).for_each(|v| big.record(v * 37));
            let other = LazyHistogram::from_buckets(sigfig, buckets_of(&peer));
            for start in [LazyHistogram::new(sigfig), few, big, other] {
                let mut by_buckets = start.clone();
                by_buckets.merge(&buckets);
                let mut by_histogram = start.clone();
                by_histogram.merge(&whole);
                assert_eq!(by_buckets, by_histogram, "n {n}");
                assert_eq!(by_buckets.len(), start.len() + n as u64);
                // And the other way round.
                let mut into = buckets.clone();
                into.merge(&start);
                assert_eq!(into, by_histogram, "n {n}");
            }
        }
    }

    #[test]
    fn buckets_beyond_the_bounds_saturate_and_empty_ones_are_nothing() {
        let h = LazyHistogram::from_buckets(3, vec![(0, 2), (7, 0), (LATENCY_HIGH_US * 4, 1)]);
        assert_eq!(h.len(), 3);
        let r = h.histogram();
        assert_eq!((r.min(), r.count_at(1)), (1, 2));
        assert_eq!(r.max(), r.highest_equivalent(LATENCY_HIGH_US));
        let none = LazyHistogram::from_buckets(3, vec![(5, 0)]);
        assert!(none.is_empty());
        assert!(matches!(&none.repr, Repr::Few(v) if v.capacity() == 0));
    }

    #[test]
    fn small_until_it_holds_much() {
        let mut h = LazyHistogram::new(3);
        assert!(matches!(&h.repr, Repr::Few(v) if v.capacity() == 0));
        h.record(1_000);
        assert!(matches!(&h.repr, Repr::Few(v) if v.len() == 1));
        for _ in 0..FEW_VALUES {
            h.record(1_000);
        }
        // 2,048 counts of 8 bytes cover up to 2 ms at 3 digits.
        assert!(matches!(&h.repr, Repr::Dense(d) if d.distinct_values() == 2_048));
        assert_eq!(h.len(), FEW_VALUES as u64 + 1);
    }

    #[test]
    fn values_beyond_the_bounds_saturate() {
        let mut h = LazyHistogram::new(3);
        h.record(0);
        h.record(LATENCY_HIGH_US * 10);
        let r = h.histogram();
        assert_eq!(r.min(), 1);
        assert_eq!(r.max(), r.highest_equivalent(LATENCY_HIGH_US));
        // A peer's wider histogram saturates the same way.
        let mut wide = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 3).unwrap();
        wide.record(LATENCY_HIGH_US * 10).unwrap();
        wide.record(0).unwrap();
        assert_eq!(LazyHistogram::from_histogram(&wide, 3), h);
    }

    #[test]
    fn the_top_of_the_range_is_the_end_of_the_bucket_of_the_highest_value() {
        for sigfig in [2, 3] {
            let mut h = LazyHistogram::new(sigfig);
            for _ in 0..=FEW_VALUES {
                h.record(LATENCY_HIGH_US);
            }
            assert_eq!(h.histogram().high(), LATENCY_TOP_US, "{sigfig} digits");
        }
    }

    #[test]
    fn status_counts_list_then_table() {
        let mut s = StatusCounts::new();
        s.add(100, 2);
        s.add(0, 1);
        s.add(100, 3);
        assert_eq!(s.slots(), vec![(0, 1), (100, 5)]);
        for slot in 10..20 {
            s.add(slot, 1);
        }
        assert!(matches!(s, StatusCounts::Table(_)));
        s.add(499, u64::MAX);
        s.add(499, 1);
        let slots = s.slots();
        assert_eq!(slots.len(), 13);
        assert_eq!(slots.first(), Some(&(0, 1)));
        assert_eq!(slots.last(), Some(&(499, u64::MAX)));
        let mut copied = StatusCounts::new();
        for (slot, n) in s.slots() {
            copied.add(slot, n);
        }
        assert_eq!(copied.slots(), slots);
    }
}
