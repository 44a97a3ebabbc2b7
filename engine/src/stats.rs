//! What one core records, and how records from many cores merge exactly.
//!
//! A [`Stats`] holds the counters and the latency, time-to-first-byte,
//! connect-time, TLS-handshake and send-lag histograms of one iteration, and the span of time it ran; empty, it has
//! allocated nothing (see `compact`).
//! Merging adds counts and histogram buckets, so the merge of any split of the
//! same requests is identical to recording them all in one place: percentiles
//! are read from merged histograms, never averaged.

use hdrhistogram::Histogram;

use crate::compact::{LazyHistogram, STATUS_SLOTS, StatusCounts};

/// Lowest latency the histograms track, in microseconds.
pub const LATENCY_LOW_US: u64 = 1;
/// Highest latency the histograms track (one hour); larger values saturate.
pub const LATENCY_HIGH_US: u64 = 3_600_000_000;
/// Significant digits of every latency histogram.
pub const LATENCY_SIGFIG: u8 = 3;

/// Whether a response with `status` counts as ok: 1xx to 3xx; 4xx, 5xx and
/// codes outside 100..=599 count as failed.
#[inline]
pub fn is_success(status: u16) -> bool {
    (100..400).contains(&status)
}

/// Why a request failed without an HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The TCP connection could not be established (refused, unreachable).
    Connect,
    /// No complete response within the request timeout (`RunOptions::timeout`).
    Timeout,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before the response was complete.
    Closed,
    /// The response was not valid HTTP.
    Protocol,
    /// The TLS handshake or session failed.
    Tls,
    /// Any other I/O error.
    Other,
}

impl ErrorKind {
    /// The kind named by [`ErrorKind::as_str`].
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::Protocol,
        ErrorKind::Tls,
        ErrorKind::Other,
    ];

    /// The key used in reports (`connect`, `timeout`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Tls => "tls",
            ErrorKind::Other => "other",
        }
    }

    /// Classifies an I/O error from a connection that was already open.
    pub fn from_io(err: &std::io::Error) -> ErrorKind {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
            K::UnexpectedEof => ErrorKind::Closed,
            K::TimedOut => ErrorKind::Timeout,
            K::InvalidData => ErrorKind::Protocol,
            _ => ErrorKind::Other,
        }
    }
}

/// Status codes 100..=599 are counted by slot (`code - 100`); codes outside
/// go to one overflow count.
const STATUS_MIN: u16 = 100;
/// Precision of the connect-time histogram: 1 %, enough for connect times
/// (at most 2 KB of counts up to 2 ms, 27 KB at an hour).
const CONNECT_SIGFIG: u8 = 2;

/// Counters and latency histogram of one iteration, on one core or merged.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every request that got a response, in microseconds: from
    /// the request's intended start in the open model, else from the moment
    /// it was written on an open connection (as wrk and k6 count it).
    pub latency: LazyHistogram,
    /// The responses of `latency` whose first byte came before their end,
    /// which are all that make the time to first byte differ from the
    /// latency: see [`Stats::ttfb`].
    pub split: Split,
    /// Time of each TCP connect, in microseconds (the TLS handshake is in
    /// `tls`); kept apart so the closed model's latency does not mix a
    /// connect burst into request times.
    pub connect: LazyHistogram,
    /// Time of each TLS handshake over https, in microseconds: from the TCP
    /// connect to the handshake's end. Recorded with the connect it follows,
    /// so it never holds more values than `connect`.
    pub tls: LazyHistogram,
    /// Connections of `connect` that spoke HTTP/2 (ALPN `h2` or h2c); the
    /// others spoke HTTP/1.1. What was asked is not always what is spoken.
    pub h2_connections: u64,
    /// Requests answered with a status in 100..=399.
    pub ok: u64,
    /// Requests answered with 400 or above, or that failed without a response.
    pub failed: u64,
    /// Count per status code 100..=599 (slot `code - 100`).
    status: StatusCounts,
    /// Responses whose status fell outside 100..=599.
    status_other: u64,
    /// Failures without a response, by [`ErrorKind`] (index in `ErrorKind::ALL`).
    errors: [u64; ErrorKind::ALL.len()],
    /// Bytes written to the target, request line and headers included.
    pub bytes_sent: u64,
    /// Bytes read from the target, status line and headers included.
    pub bytes_received: u64,
    /// Open model only: how late lps itself sent each request, in
    /// microseconds: from when it could have gone out (its intended start,
    /// or the previous response if that came later) to when it did. The
    /// lateness the target causes is in `latency`, not here.
    pub send_lag: LazyHistogram,
    /// Requests sent and still unanswered when the run ended (the grace at
    /// the end of a duration or on stop ran out): neither ok nor failed.
    pub unfinished: u64,
    /// LPS 3.x: requests and client iterations a `skipIf` skipped (not sent).
    pub skipped: u64,
    /// LPS 3.x: placeholders that read nothing (an unknown variable, a path
    /// a capture does not have), which LPS leaves as written or empty.
    pub unresolved: u64,
    /// When the iteration ran: microseconds from the run's start to its
    /// first start and to its last end, over every client (min and max).
    pub span: Span,
}

/// The responses whose first byte came before their end: a read before the
/// one that completed them (HTTP/1.1), or their head before their body
/// (HTTP/2). Every other response came whole in one read, its first byte at
/// its end: its time to first byte is its latency. Kept this way, a response
/// that comes whole (most, on keep-alive) costs nothing more than its
/// latency; both histograms are added on merge, so [`Stats::ttfb`] stays
/// exact across cores and nodes.
#[derive(Debug, Clone)]
pub struct Split {
    /// Their latencies, each also in [`Stats::latency`], at its precision.
    pub latency: LazyHistogram,
    /// Their times to first byte, in microseconds from the latency's start.
    pub ttfb: LazyHistogram,
}

impl Split {
    const fn new() -> Split {
        Split {
            latency: LazyHistogram::new(LATENCY_SIGFIG),
            ttfb: LazyHistogram::new(LATENCY_SIGFIG),
        }
    }

    fn merge(&mut self, other: &Split) {
        self.latency.merge(&other.latency);
        self.ttfb.merge(&other.ttfb);
    }

    fn is_empty(&self) -> bool {
        self.latency.is_empty() && self.ttfb.is_empty()
    }
}

/// When an iteration ran, in microseconds since the run's start: the earliest
/// start and the latest end of any client's run of it. Merged by min and max,
/// so it is exact across cores and nodes that share the run's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The earliest start, once a client has started the iteration.
    pub began_us: Option<u64>,
    /// The latest end, once a client has finished it.
    pub ended_us: Option<u64>,
}

impl Span {
    /// Adds a start at `us`.
    pub fn begin(&mut self, us: u64) {
        self.began_us = Some(self.began_us.map_or(us, |b| b.min(us)));
    }

    /// Adds an end at `us`.
    pub fn end(&mut self, us: u64) {
        self.ended_us = Some(self.ended_us.map_or(us, |e| e.max(us)));
    }

    /// Adds another span: the earliest start, the latest end.
    pub fn merge(&mut self, other: &Span) {
        if let Some(b) = other.began_us {
            self.begin(b);
        }
        if let Some(e) = other.ended_us {
            self.end(e);
        }
    }

    /// How long the iteration ran: from its first start to its last end or,
    /// before any client has finished it, to `now_us`; 0 if it never started.
    pub fn duration_us(&self, now_us: u64) -> u64 {
        match self.began_us {
            None => 0,
            Some(b) => self.ended_us.unwrap_or(now_us).saturating_sub(b),
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty stats; they allocate nothing until they record.
    pub const fn new() -> Stats {
        Stats {
            latency: LazyHistogram::new(LATENCY_SIGFIG),
            split: Split::new(),
            connect: LazyHistogram::new(CONNECT_SIGFIG),
            tls: LazyHistogram::new(CONNECT_SIGFIG),
            h2_connections: 0,
            ok: 0,
            failed: 0,
            status: StatusCounts::new(),
            status_other: 0,
            errors: [0; ErrorKind::ALL.len()],
            bytes_sent: 0,
            bytes_received: 0,
            send_lag: LazyHistogram::new(CONNECT_SIGFIG),
            unfinished: 0,
            skipped: 0,
            unresolved: 0,
            span: Span {
                began_us: None,
                ended_us: None,
            },
        }
    }

    /// Requests that completed or failed. The merge keeps `ok + failed`
    /// within a `u64`, so this sum never wraps.
    pub fn requests(&self) -> u64 {
        self.ok.saturating_add(self.failed)
    }

    /// Records a response.
    #[inline]
    pub fn record_response(&mut self, status: u16, latency_us: u64, sent: u64, received: u64) {
        self.latency.record(latency_us);
        match status.checked_sub(STATUS_MIN) {
            Some(i) if (i as usize) < STATUS_SLOTS => self.status.add(i, 1),
            _ => self.status_other += 1,
        }
        if is_success(status) {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        self.bytes_sent += sent;
        self.bytes_received += received;
    }

    /// Records that a response recorded with [`Stats::record_response`]
    /// (with `latency_us`) had its first byte `ttfb_us` after its start,
    /// before its end. A response not recorded here came whole: its time to
    /// first byte is its latency.
    #[inline]
    pub fn record_split(&mut self, latency_us: u64, ttfb_us: u64) {
        self.split.latency.record(latency_us);
        self.split.ttfb.record(ttfb_us);
    }

    /// The time to the first byte of every response, in microseconds: from
    /// the same start as `latency` (the intended start in the open model,
    /// else the moment the request went out on an open connection) to the
    /// moment its first byte was read (HTTP/1.1) or its head arrived
    /// (HTTP/2). As many values as `latency`, none above its own latency:
    /// the latencies, with those of the split responses replaced by their
    /// times to first byte (bucket by bucket, so exactly).
    pub fn ttfb(&self) -> Histogram<u64> {
        let mut h = self.latency.histogram().into_owned();
        if !self.split.is_empty() {
            // Each split latency was recorded into `latency` too, at its
            // precision (checked on a peer's by `split_is_within`): the
            // subtraction finds every count it takes.
            let _ = h.subtract(&*self.split.latency.histogram());
            let _ = h.add(&*self.split.ttfb.histogram());
        }
        h
    }

    /// True when the split responses are responses of `latency`: as many
    /// times to first byte as split latencies, and no more split latencies
    /// in any bucket than `latency` has there. Always so for the engine's
    /// own stats; a peer's are checked.
    pub fn split_is_within(&self) -> bool {
        if self.split.is_empty() {
            return true;
        }
        let latency = self.latency.histogram();
        let split = self.split.latency.histogram();
        self.split.latency.len() == self.split.ttfb.len()
            && split.iter_recorded().all(|v| {
                // `count_at` reads the last bucket for any value beyond it.
                let value = v.value_iterated_to();
                value <= latency.max() && v.count_at_value() <= latency.count_at(value)
            })
    }

    /// Records a connection that opened (its TCP connect), and whether it
    /// speaks HTTP/2.
    #[inline]
    pub fn record_connect(&mut self, us: u64, h2: bool) {
        self.connect.record(us);
        self.h2_connections += u64::from(h2);
    }

    /// Records a TLS handshake, in the same borrow as the TCP connect it
    /// followed (so no snapshot holds the handshake without its connect).
    #[inline]
    pub fn record_tls(&mut self, us: u64) {
        self.tls.record(us);
    }

    /// Records how late lps sent a request of the open model.
    #[inline]
    pub fn record_send_lag(&mut self, us: u64) {
        self.send_lag.record(us);
    }

    /// Records a request that was sent (`sent` bytes) and is given up
    /// unanswered at the end of the run.
    pub fn record_unfinished(&mut self, sent: u64) {
        self.unfinished += 1;
        self.bytes_sent += sent;
    }

    /// Records a request that failed without a response.
    #[inline]
    pub fn record_error(&mut self, kind: ErrorKind, sent: u64, received: u64) {
        self.errors[kind as usize] += 1;
        self.failed += 1;
        self.bytes_sent += sent;
        self.bytes_received += received;
    }

    /// Rebuilds stats from their parts (a peer's snapshot). `ok` and
    /// `failed` are derived from the status and error counts, so they cannot
    /// disagree with them.
    pub fn from_parts(
        latency: Histogram<u64>,
        status_codes: &[(u16, u64)],
        errors: &[(ErrorKind, u64)],
        bytes_sent: u64,
        bytes_received: u64,
    ) -> Stats {
        let mut stats = Stats::from_counts(status_codes, errors, bytes_sent, bytes_received);
        stats.latency = LazyHistogram::from_histogram(&latency, LATENCY_SIGFIG);
        stats
    }

    /// Stats of a peer's counts, their histograms empty (a peer's are set
    /// after, each at the precision of the one it replaces): `ok` and
    /// `failed` are derived from the status and error counts, so they cannot
    /// disagree with them.
    pub fn from_counts(
        status_codes: &[(u16, u64)],
        errors: &[(ErrorKind, u64)],
        bytes_sent: u64,
        bytes_received: u64,
    ) -> Stats {
        let mut stats = Stats::new();
        for &(code, n) in status_codes {
            match code.checked_sub(STATUS_MIN) {
                Some(i) if (i as usize) < STATUS_SLOTS => stats.status.add(i, n),
                _ => stats.status_other += n,
            }
            if is_success(code) {
                stats.ok += n;
            } else {
                stats.failed += n;
            }
        }
        for &(kind, n) in errors {
            stats.errors[kind as usize] += n;
            stats.failed += n;
        }
        stats.bytes_sent = bytes_sent;
        stats.bytes_received = bytes_received;
        stats
    }

    /// Adds a peer's connect-time histogram, and how many of those
    /// connections spoke HTTP/2, to stats rebuilt by [`Stats::from_parts`].
    pub fn with_connect(mut self, connect: &Histogram<u64>, h2_connections: u64) -> Stats {
        self.connect
            .merge(&LazyHistogram::from_histogram(connect, CONNECT_SIGFIG));
        self.h2_connections = h2_connections;
        self
    }

    /// Adds a peer's split responses (their latencies and times to first
    /// byte) and TLS-handshake histogram, when it sent them, to stats
    /// rebuilt by [`Stats::from_parts`]; see [`Stats::split_is_within`].
    pub fn with_timings(
        mut self,
        split: Option<(&Histogram<u64>, &Histogram<u64>)>,
        tls: Option<&Histogram<u64>>,
    ) -> Stats {
        if let Some((latency, ttfb)) = split {
            self.split.merge(&Split {
                latency: LazyHistogram::from_histogram(latency, LATENCY_SIGFIG),
                ttfb: LazyHistogram::from_histogram(ttfb, LATENCY_SIGFIG),
            });
        }
        if let Some(tls) = tls {
            self.tls
                .merge(&LazyHistogram::from_histogram(tls, CONNECT_SIGFIG));
        }
        self
    }

    /// Adds a peer's send lags, unfinished count and span to stats rebuilt
    /// by [`Stats::from_parts`].
    pub fn with_schedule(
        mut self,
        send_lag: Option<&Histogram<u64>>,
        unfinished: u64,
        span: Span,
    ) -> Stats {
        if let Some(send_lag) = send_lag {
            self.send_lag
                .merge(&LazyHistogram::from_histogram(send_lag, CONNECT_SIGFIG));
        }
        self.unfinished = unfinished;
        self.span = span;
        self
    }

    /// Records `n` requests that failed without a response.
    pub fn record_errors(&mut self, kind: ErrorKind, n: u64) {
        self.errors[kind as usize] += n;
        self.failed += n;
    }

    /// Adds `other` into `self`; exact, associative and commutative below
    /// `u64::MAX` requests. Counts saturate, as the histograms' do: the stats
    /// may come from a peer.
    pub fn merge(&mut self, other: &Stats) {
        self.latency.merge(&other.latency);
        self.split.merge(&other.split);
        self.connect.merge(&other.connect);
        self.tls.merge(&other.tls);
        self.h2_connections = self.h2_connections.saturating_add(other.h2_connections);
        self.merge_counts(other);
        self.bytes_sent = self.bytes_sent.saturating_add(other.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(other.bytes_received);
        self.send_lag.merge(&other.send_lag);
        self.unfinished = self.unfinished.saturating_add(other.unfinished);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.unresolved = self.unresolved.saturating_add(other.unresolved);
        self.span.merge(&other.span);
    }

    /// Adds `other`'s request counts. The requests saturate as a whole:
    /// counts past `u64::MAX` requests are left out, so that `ok + failed`
    /// still equals [`Stats::requests`] and no sum of counts (a status class,
    /// the errors) can wrap.
    fn merge_counts(&mut self, other: &Stats) {
        let mut room = u64::MAX - self.requests();
        let mut take = |n: u64| {
            let taken = n.min(room);
            room -= taken;
            taken
        };
        for (slot, b) in other.status.slots() {
            let n = take(b);
            if n == 0 {
                continue;
            }
            self.status.add(slot, n);
            if is_success(STATUS_MIN + slot) {
                self.ok += n;
            } else {
                self.failed += n;
            }
        }
        let n = take(other.status_other);
        self.status_other += n;
        self.failed += n;
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            let n = take(*b);
            *a += n;
            self.failed += n;
        }
    }

    /// Status codes that occurred, with their counts, in ascending order;
    /// codes outside 100..=599 are reported as 0.
    pub fn status_codes(&self) -> Vec<(u16, u64)> {
        let mut out: Vec<(u16, u64)> = Vec::new();
        if self.status_other > 0 {
            out.push((0, self.status_other));
        }
        out.extend(
            self.status
                .slots()
                .into_iter()
                .map(|(slot, n)| (STATUS_MIN + slot, n)),
        );
        out
    }

    /// Count of failures of one kind.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }

    /// Failures without a response, all kinds.
    pub fn transport_errors(&self) -> u64 {
        self.errors.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.requests() == 0
            && self.split.is_empty()
            && self.connect.is_empty()
            && self.tls.is_empty()
            && self.bytes_sent == 0
            && self.bytes_received == 0
            && self.send_lag.is_empty()
            && self.unfinished == 0
            && self.skipped == 0
            && self.unresolved == 0
            && self.span == Span::default()
    }
}

/// An empty latency histogram as the engine's read: lowest value 1 µs,
/// [`LATENCY_SIGFIG`] digits, growing to the largest value recorded.
pub fn new_histogram() -> Histogram<u64> {
    // The precision is a constant that hdrhistogram accepts (at most 5).
    Histogram::new(LATENCY_SIGFIG).expect("constant histogram precision is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_of_split_equals_single_recording() {
        let values: Vec<u64> = (0..10_000u64).map(|i| (i * 7919) % 250_000 + 1).collect();
        let mut whole = Stats::new();
        let mut parts = [Stats::new(), Stats::new(), Stats::new()];
        for (i, v) in values.iter().enumerate() {
            let status = if i % 10 == 0 { 503 } else { 200 };
            whole.record_response(status, *v, 10, 20);
            parts[i % 3].record_response(status, *v, 10, 20);
            if i % 4 == 0 {
                whole.record_split(*v, *v / 2);
                parts[i % 3].record_split(*v, *v / 2);
            }
            if i % 100 == 0 {
                whole.record_connect(*v / 3, (i / 100) % 2 == 0);
                parts[(i / 100) % 3].record_connect(*v / 3, (i / 100) % 2 == 0);
            }
            if i % 200 == 0 {
                whole.record_tls(*v / 5);
                parts[(i / 100) % 3].record_tls(*v / 5);
            }
        }
        let mut merged = Stats::new();
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged.requests(), 10_000);
        assert_eq!(merged.ok, 9_000);
        assert_eq!(merged.failed, 1_000);
        assert_eq!(merged.status_codes(), vec![(200, 9_000), (503, 1_000)]);
        assert_eq!(merged.bytes_sent, 100_000);
        assert_eq!(merged.bytes_received, 200_000);
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                merged.latency.histogram().value_at_quantile(q),
                whole.latency.histogram().value_at_quantile(q),
                "quantile {q}"
            );
        }
        assert_eq!(
            merged.latency.histogram().min(),
            whole.latency.histogram().min()
        );
        assert_eq!(
            merged.latency.histogram().max(),
            whole.latency.histogram().max()
        );
        assert_eq!(
            merged.latency.histogram().mean(),
            whole.latency.histogram().mean()
        );
        assert_eq!(merged.split.latency.len(), 2_500);
        assert_eq!(buckets(&merged.ttfb()), buckets(&whole.ttfb()));
        assert_eq!(merged.ttfb().len(), 10_000);
        assert_eq!(merged.connect.len(), 100);
        assert_eq!(merged.connect, whole.connect);
        assert_eq!(merged.tls.len(), 50);
        assert_eq!(merged.tls, whole.tls);
        assert_eq!(merged.h2_connections, whole.h2_connections);
        assert_eq!(merged.h2_connections, 50);
    }

    #[test]
    fn from_parts_rebuilds_equal_stats() {
        let mut original = Stats::new();
        for (i, v) in (1..=500u64).enumerate() {
            original.record_response([200, 302, 404, 503][i % 4], v * 13, 7, 11);
            if v % 3 == 0 {
                original.record_split(v * 13, v * 5);
            }
        }
        original.record_error(ErrorKind::Timeout, 7, 0);
        original.record_error(ErrorKind::Connect, 0, 0);
        original.record_connect(120, true);
        original.record_connect(0, false);
        original.record_tls(95);
        let errors: Vec<(ErrorKind, u64)> = ErrorKind::ALL
            .iter()
            .map(|k| (*k, original.errors(*k)))
            .collect();
        let rebuilt = Stats::from_parts(
            original.latency.histogram().into_owned(),
            &original.status_codes(),
            &errors,
            original.bytes_sent,
            original.bytes_received,
        )
        .with_connect(&original.connect.histogram(), original.h2_connections)
        .with_timings(
            Some((
                &original.split.latency.histogram(),
                &original.split.ttfb.histogram(),
            )),
            Some(&original.tls.histogram()),
        );
        assert_eq!(rebuilt.ok, 250);
        assert_eq!(rebuilt.failed, 252);
        assert_eq!((rebuilt.ok, rebuilt.failed), (original.ok, original.failed));
        assert_eq!(rebuilt.status_codes(), original.status_codes());
        assert_eq!(rebuilt.errors(ErrorKind::Timeout), 1);
        assert_eq!(rebuilt.latency, original.latency);
        assert_eq!(rebuilt.connect, original.connect);
        assert_eq!(rebuilt.split.latency, original.split.latency);
        assert_eq!(rebuilt.split.ttfb, original.split.ttfb);
        assert_eq!(buckets(&rebuilt.ttfb()), buckets(&original.ttfb()));
        assert_eq!(rebuilt.ttfb().len(), 500);
        assert!(rebuilt.split_is_within());
        assert_eq!(rebuilt.tls, original.tls);
        assert_eq!(rebuilt.tls.histogram().max(), 95);
        assert_eq!(rebuilt.h2_connections, 1);
        assert_eq!(rebuilt.connect.histogram().min(), 1);
        assert_eq!(rebuilt.bytes_sent, original.bytes_sent);
        assert_eq!(ErrorKind::from_name("reset"), Some(ErrorKind::Reset));
        assert_eq!(ErrorKind::from_name("nope"), None);
    }

    /// A histogram's count, min, max and (bucket, count) pairs: what it reads as.
    fn buckets(h: &Histogram<u64>) -> (u64, u64, u64, Vec<(u64, u64)>) {
        let pairs = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        (h.len(), h.min(), h.max(), pairs)
    }

    #[test]
    fn the_time_to_first_byte_is_the_histogram_of_every_responses_first_byte() {
        // Latencies up to 3 s; every third response split, its first byte
        // at a third of its latency; the others whole (first byte = latency).
        let mut stats = Stats::new();
        let mut direct = new_histogram();
        for i in 0..20_000u64 {
            let latency = (i * 7_919) % 3_000_000 + 1;
            stats.record_response(200, latency, 1, 1);
            let ttfb = if i % 3 == 0 {
                stats.record_split(latency, latency / 3);
                latency / 3
            } else {
                latency
            };
            direct.record(ttfb.max(1)).unwrap();
        }
        let ttfb = stats.ttfb();
        assert_eq!(buckets(&ttfb), buckets(&direct));
        assert_eq!(ttfb.mean(), direct.mean());
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(
                ttfb.value_at_quantile(q),
                direct.value_at_quantile(q),
                "{q}"
            );
        }
        // No split response: the time to first byte is the latency.
        let mut whole = Stats::new();
        whole.record_response(200, 40, 1, 1);
        whole.record_response(200, 900, 1, 1);
        assert_eq!(buckets(&whole.ttfb()), buckets(&whole.latency.histogram()));
        assert!(Stats::new().ttfb().is_empty());
    }

    #[test]
    fn split_responses_that_are_not_responses_are_told() {
        let mut s = Stats::new();
        s.record_response(200, 500, 1, 1);
        s.record_split(500, 100);
        assert!(s.split_is_within());
        // A split latency in a bucket the latencies do not have.
        let mut outside = s.clone();
        outside.split.latency.record(70_000);
        outside.split.ttfb.record(10);
        assert!(!outside.split_is_within());
        // More split latencies than latencies in the bucket.
        let mut more = s.clone();
        more.record_split(500, 200);
        assert!(!more.split_is_within());
        // A time to first byte without its latency.
        let mut unpaired = s;
        unpaired.split.ttfb.record(5);
        assert!(!unpaired.split_is_within());
    }

    #[test]
    fn errors_are_counted_by_kind_and_as_failures() {
        let mut s = Stats::new();
        s.record_error(ErrorKind::Connect, 0, 0);
        s.record_error(ErrorKind::Connect, 0, 0);
        s.record_error(ErrorKind::Timeout, 40, 0);
        assert_eq!(s.errors(ErrorKind::Connect), 2);
        assert_eq!(s.errors(ErrorKind::Timeout), 1);
        assert_eq!(s.errors(ErrorKind::Reset), 0);
        assert_eq!(s.failed, 3);
        assert_eq!(s.ok, 0);
        assert_eq!(s.transport_errors(), 3);
        assert_eq!(s.latency.len(), 0);
        assert_eq!(s.bytes_sent, 40);
    }

    #[test]
    fn odd_status_codes_and_saturation() {
        let mut s = Stats::new();
        s.record_response(99, 0, 0, 0);
        s.record_response(600, 5, 0, 0);
        s.record_response(599, LATENCY_HIGH_US * 10, 0, 0);
        assert_eq!(s.status_codes(), vec![(0, 2), (599, 1)]);
        assert_eq!(s.latency.len(), 3);
        // Zero latency is recorded as the lowest trackable value.
        assert_eq!(s.latency.histogram().min(), 1);
        assert!(s.latency.histogram().max() >= LATENCY_HIGH_US);
        // Only 1xx-3xx count as ok; codes outside the table are failures.
        assert_eq!(s.ok, 0);
        assert_eq!(s.failed, 3);
    }

    #[test]
    fn send_lags_unfinished_and_spans_merge_exactly() {
        let mut whole = Stats::new();
        let mut parts = [Stats::new(), Stats::new()];
        for (i, lag) in [0u64, 3, 40, 2_000, 15, 7].into_iter().enumerate() {
            whole.record_send_lag(lag);
            parts[i % 2].record_send_lag(lag);
        }
        parts[0].record_unfinished(40);
        parts[1].record_unfinished(40);
        parts[0].span.begin(1_000);
        parts[0].span.end(900_000);
        parts[1].span.begin(500);
        parts[1].span.end(400_000);
        parts[1].span.begin(2_000);
        let mut merged = Stats::new();
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged.send_lag, whole.send_lag);
        assert_eq!(merged.send_lag.histogram().len(), 6);
        // A lag of 0 µs is recorded as the lowest value.
        assert_eq!(merged.send_lag.histogram().min(), 1);
        assert_eq!(merged.unfinished, 2);
        // Unfinished requests are neither ok nor failed, but were sent.
        assert_eq!((merged.requests(), merged.bytes_sent), (0, 80));
        assert_eq!(
            merged.span,
            Span {
                began_us: Some(500),
                ended_us: Some(900_000)
            }
        );
        assert_eq!(merged.span.duration_us(5_000_000), 899_500);
        assert!(!merged.is_empty());
    }

    #[test]
    fn a_span_runs_to_now_until_it_ends_and_is_zero_if_it_never_began() {
        let mut span = Span::default();
        assert_eq!(span.duration_us(1_000), 0);
        span.begin(300);
        assert_eq!(span.duration_us(1_000), 700);
        span.end(800);
        assert_eq!(span.duration_us(1_000), 500);
        let mut only = Stats::new();
        only.span.begin(0);
        assert!(!only.is_empty(), "a span alone must reach the aggregate");
    }

    #[test]
    fn merged_counts_saturate_as_a_whole_and_never_wrap() {
        let near = |ok: u64, failed: u64| {
            Stats::from_parts(
                new_histogram(),
                &[(200, ok), (503, failed)],
                &[],
                u64::MAX - 1,
                0,
            )
        };
        let mut total = near(u64::MAX - 10, 4);
        assert_eq!(total.requests(), u64::MAX - 6);
        let mut errors = Stats::new();
        errors.record_errors(ErrorKind::Reset, 100);
        total.merge(&near(3, 2));
        total.merge(&errors);
        // 5 more fit, then 1 of the 100 errors: the rest is left out.
        assert_eq!(total.requests(), u64::MAX);
        assert_eq!(total.ok + total.failed, u64::MAX);
        assert_eq!((total.ok, total.failed), (u64::MAX - 7, 7));
        assert_eq!(total.errors(ErrorKind::Reset), 1);
        assert_eq!(total.transport_errors(), 1);
        assert_eq!(total.status_codes(), vec![(200, u64::MAX - 7), (503, 6)]);
        assert_eq!(total.bytes_sent, u64::MAX);
        // Once full, it stays full and consistent.
        total.merge(&near(1, 1));
        assert_eq!((total.ok, total.failed), (u64::MAX - 7, 7));
    }
}
