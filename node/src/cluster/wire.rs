//! Engine snapshots on the wire: HdrHistogram V2 + deflate per iteration,
//! and the checks that refuse what no node could have sent.

use std::time::Duration;

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use lps_engine::{ErrorKind, LazyHistogram, Snapshot, Span, Stats};
use lps_proto as proto;

/// Why a peer's snapshot was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("iteration index {0} is not in the plan")]
    Iteration(u32),
    #[error("histogram of iteration {iteration} does not decode: {source}")]
    Histogram {
        iteration: u32,
        #[source]
        source: HistogramError,
    },
    #[error("unknown error kind {0:?}")]
    ErrorKind(String),
    #[error("status code {0} is out of range")]
    Status(u32),
    #[error("core {0} is not one of the node's {1} cores")]
    Core(u32, u32),
    #[error("iteration {0} is sent twice")]
    Duplicate(u32),
    #[error("the counts of iteration {0} overflow")]
    Counts(u32),
    #[error("{in_flight} requests in flight on a node of {cores} cores")]
    InFlight { in_flight: u64, cores: u32 },
    #[error("its run's elapsed time of {0} ms is longer than a test can last")]
    Elapsed(u64),
    #[error("iteration {0} has more HTTP/2 connections than connections")]
    H2Connections(u32),
    #[error("iteration {0} has split responses that are not among its responses")]
    Split(u32),
    #[error("iteration {0} has more TLS handshakes than connections")]
    TlsHandshakes(u32),
}

/// Most requests one core can complete in a second. The engine does a few
/// hundred thousand against a local target: a node whose counts exceed this
/// per core and per second of its run did not count them.
pub const MAX_REQUESTS_PER_CORE_SECOND: u64 = 10_000_000;
/// Most bytes one core can move each way in a second: 100 Gbit/s.
pub const MAX_BYTES_PER_CORE_SECOND: u64 = 12_500_000_000;
/// Most requests in flight on one core: each holds a task and a buffer, so
/// this many would take gigabytes of one core's memory.
pub const MAX_IN_FLIGHT_PER_CORE: u64 = 1 << 24;
/// The longest run a snapshot may say it is part of (a year): its elapsed
/// time scales the bounds above, so it is bounded too.
pub const MAX_ELAPSED: Duration = Duration::from_secs(366 * 24 * 3600);
/// Slack on a run's elapsed time for the bounds: a snapshot taken just after
/// the start, and a clock read at millisecond grain.
const ELAPSED_SLACK: Duration = Duration::from_secs(1);

/// What a node's snapshots add up to: the figures a real node's cores bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A node's counts that its cores could not have reached in its run so far.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "its {what} ({count} so far) are more than {cores} cores can do in {secs:.1} s \
     (at most {per_core_second} per core and second)",
    secs = .within.as_secs_f64()
)]
pub struct Impossible {
    pub what: &'static str,
    pub count: u64,
    pub cores: u32,
    /// The node's run so far, with the slack.
    pub within: Duration,
    pub per_core_second: u64,
}

impl Counts {
    /// A snapshot's counts over its iterations. The sums saturate: one that
    /// reaches `u64::MAX` is past every bound anyway.
    pub fn of(snap: &Snapshot) -> Counts {
        snap.iterations
            .iter()
            .fold(Counts::default(), |c, s| Counts {
                requests: c.requests.saturating_add(s.requests()),
                bytes_sent: c.bytes_sent.saturating_add(s.bytes_sent),
                bytes_received: c.bytes_received.saturating_add(s.bytes_received),
            })
    }

    /// `self` and `more` added, if a node of `cores` cores could have done
    /// that much in `elapsed` of its run (plus a second of slack): at most
    /// [`MAX_REQUESTS_PER_CORE_SECOND`] requests and
    /// [`MAX_BYTES_PER_CORE_SECOND`] bytes each way per core and second. The
    /// run's elapsed time, not a snapshot's interval, scales the bound, so a
    /// snapshot that covers a long stretch (a catch-up) passes as long as the
    /// node's totals stay possible.
    pub fn add_within(
        self,
        more: Counts,
        cores: u32,
        elapsed: Duration,
    ) -> Result<Counts, Impossible> {
        let secs = elapsed.min(MAX_ELAPSED) + ELAPSED_SLACK;
        let check = |what, a: u64, b: u64, per_core_second: u64| {
            let count = a.saturating_add(b);
            let limit = u128::from(per_core_second) * u128::from(cores) * secs.as_millis() / 1000;
            if u128::from(count) <= limit {
                Ok(count)
            } else {
                Err(Impossible {
                    what,
                    count,
                    cores,
                    within: secs,
                    per_core_second,
                })
            }
        };
        Ok(Counts {
            requests: check(
                "requests",
                self.requests,
                more.requests,
                MAX_REQUESTS_PER_CORE_SECOND,
            )?,
            bytes_sent: check(
                "bytes sent",
                self.bytes_sent,
                more.bytes_sent,
                MAX_BYTES_PER_CORE_SECOND,
            )?,
            bytes_received: check(
                "bytes received",
                self.bytes_received,
                more.bytes_received,
                MAX_BYTES_PER_CORE_SECOND,
            )?,
        })
    }
}

/// Why a peer's histogram was refused before or while it was decoded.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// Not the V2 deflate cookie the engine's serialiser writes.
    #[error("not a V2 deflate histogram")]
    NotDeflate,
    /// Shorter than its header or its claimed length.
    #[error("truncated")]
    Truncated,
    #[error("does not inflate: {0}")]
    Inflate(#[source] std::io::Error),
    /// Inflates to more than the engine's widest histogram needs.
    #[error("inflates past {max} bytes")]
    TooLarge { max: usize },
    /// The inflated bytes do not start with the plain V2 cookie.
    #[error("not a V2 histogram inside")]
    NotV2,
    /// The header's payload length is not the number of bytes that follow it.
    #[error("its payload length is not the bytes sent")]
    PayloadLength { claimed: u32, sent: usize },
    /// Precision or value range wider than the engine records.
    #[error("bounds {low}..{high} at {digits} digits are not the engine's")]
    Bounds { low: u64, high: u64, digits: u32 },
    /// A normalising offset or a count ratio, which the engine never writes.
    #[error("uses a feature the engine's histograms do not")]
    Unsupported,
    /// A count past the last bucket of the histogram's own range.
    #[error("has counts beyond its range")]
    Counts,
}

/// Encodes one core snapshot for the wire; empty iterations are left out.
pub fn encode_snapshot(seq: u64, snap: &Snapshot) -> proto::Snapshot {
    let mut serializer = V2DeflateSerializer::new();
    let iterations = snap
        .iterations
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(index, s)| {
            let mut histogram = Vec::new();
            // Serialising into a Vec cannot fail for a histogram this crate built.
            let _ = serializer.serialize(&s.latency.histogram(), &mut histogram);
            let mut optional = |h: &LazyHistogram| {
                let mut bytes = Vec::new();
                if !h.is_empty() {
                    let _ = serializer.serialize(&h.histogram(), &mut bytes);
                }
                bytes
            };
            proto::IterationStats {
                index: index as u32,
                histogram,
                connect_histogram: optional(&s.connect),
                send_lag_histogram: optional(&s.send_lag),
                split_latency_histogram: optional(&s.split.latency),
                split_ttfb_histogram: optional(&s.split.ttfb),
                tls_histogram: optional(&s.tls),
                unfinished: s.unfinished,
                h2_connections: s.h2_connections,
                skipped: s.skipped,
                unresolved: s.unresolved,
                began_us: s.span.began_us,
                ended_us: s.span.ended_us,
                status_codes: s
                    .status_codes()
                    .into_iter()
                    .map(|(code, count)| proto::StatusCount {
                        code: u32::from(code),
                        count,
                    })
                    .collect(),
                errors: ErrorKind::ALL
                    .iter()
                    .filter(|k| s.errors(**k) > 0)
                    .map(|k| proto::ErrorCount {
                        kind: k.as_str().to_string(),
                        count: s.errors(*k),
                    })
                    .collect(),
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
            }
        })
        .collect();
    proto::Snapshot {
        seq,
        core: snap.core as u32,
        elapsed_ms: snap.elapsed.as_millis() as u64,
        in_flight: snap.in_flight,
        iterations,
        last: snap.last,
        catch_up: false,
    }
}

/// Decodes a peer's snapshot into an engine snapshot of a plan with
/// `iterations` iterations, from a node with `cores` cores. Nothing a peer
/// sends can panic here, nor make the master allocate more than the engine's
/// own histograms need.
pub fn decode_snapshot(
    msg: &proto::Snapshot,
    iterations: usize,
    cores: u32,
) -> Result<Snapshot, WireError> {
    if msg.core >= cores {
        return Err(WireError::Core(msg.core, cores));
    }
    // The gauges of every core of every node are summed: each is bounded.
    if msg.in_flight > MAX_IN_FLIGHT_PER_CORE * u64::from(cores) {
        return Err(WireError::InFlight {
            in_flight: msg.in_flight,
            cores,
        });
    }
    if msg.elapsed_ms > MAX_ELAPSED.as_millis() as u64 {
        return Err(WireError::Elapsed(msg.elapsed_ms));
    }
    let mut stats: Vec<Stats> = (0..iterations).map(|_| Stats::new()).collect();
    let mut seen = vec![false; iterations];
    for it in &msg.iterations {
        let index = it.index as usize;
        let slot = stats.get_mut(index).ok_or(WireError::Iteration(it.index))?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(WireError::Duplicate(it.index));
        }
        *slot = decode_iteration(it)?;
    }
    Ok(Snapshot {
        core: msg.core as usize,
        seq: msg.seq,
        elapsed: Duration::from_millis(msg.elapsed_ms),
        in_flight: msg.in_flight,
        iterations: stats,
        last: msg.last,
    })
}

/// One iteration's stats: its histograms decoded, its counts checked to sum
/// without overflow.
fn decode_iteration(it: &proto::IterationStats) -> Result<Stats, WireError> {
    let histogram_error = |source| WireError::Histogram {
        iteration: it.index,
        source,
    };
    // Every count adds to the totals: their sum must fit.
    let mut total = 0u64;
    let mut codes = Vec::with_capacity(it.status_codes.len());
    for s in &it.status_codes {
        let code = u16::try_from(s.code).map_err(|_| WireError::Status(s.code))?;
        total = total
            .checked_add(s.count)
            .ok_or(WireError::Counts(it.index))?;
        codes.push((code, s.count));
    }
    let mut errors = Vec::with_capacity(it.errors.len());
    for e in &it.errors {
        let kind =
            ErrorKind::from_name(&e.kind).ok_or_else(|| WireError::ErrorKind(e.kind.clone()))?;
        total = total
            .checked_add(e.count)
            .ok_or(WireError::Counts(it.index))?;
        errors.push((kind, e.count));
    }
    let mut stats = Stats::from_counts(&codes, &errors, it.bytes_sent, it.bytes_received);
    // Each histogram is read at the precision of the one it replaces; an
    // optional one is left empty by a core that recorded nothing in it in
    // the interval (no connection opened, the closed model, no split
    // response or TLS handshake).
    let decode = |bytes: &[u8], like: &LazyHistogram| {
        if bytes.is_empty() {
            return Ok(LazyHistogram::new(like.sigfig()));
        }
        decode_histogram(bytes, like.sigfig()).map_err(histogram_error)
    };
    if it.histogram.is_empty() {
        return Err(histogram_error(HistogramError::NotDeflate));
    }
    stats.latency = decode(&it.histogram, &stats.latency)?;
    stats.connect = decode(&it.connect_histogram, &stats.connect)?;
    stats.send_lag = decode(&it.send_lag_histogram, &stats.send_lag)?;
    stats.split.latency = decode(&it.split_latency_histogram, &stats.split.latency)?;
    stats.split.ttfb = decode(&it.split_ttfb_histogram, &stats.split.ttfb)?;
    stats.tls = decode(&it.tls_histogram, &stats.tls)?;
    check_iteration(it, &stats)?;
    stats.h2_connections = it.h2_connections;
    stats.unfinished = it.unfinished;
    stats.span = Span {
        began_us: it.began_us,
        ended_us: it.ended_us,
    };
    stats.skipped = it.skipped;
    stats.unresolved = it.unresolved;
    Ok(stats)
}

/// Refuses an iteration whose histograms no engine could have recorded
/// together.
fn check_iteration(it: &proto::IterationStats, stats: &Stats) -> Result<(), WireError> {
    let connections = stats.connect.len();
    if it.h2_connections > connections {
        return Err(WireError::H2Connections(it.index));
    }
    // The engine records a handshake with the connect it followed, in the
    // same interval.
    if stats.tls.len() > connections {
        return Err(WireError::TlsHandshakes(it.index));
    }
    // And a split response with its latency and its first byte, in the
    // same interval.
    if it.split_latency_histogram.is_empty() != it.split_ttfb_histogram.is_empty()
        || !stats.split_is_within()
    {
        return Err(WireError::Split(it.index));
    }
    Ok(())
}

/// V2 cookies of hdrhistogram's serialisation, plain and deflated (the base
/// cookies with the word size, 0x10, or'd in).
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// V2's header: cookie, payload length, normalising offset, significant
/// digits, lowest and highest value, integer-to-double ratio.
const V2_HEADER: usize = 40;
/// The largest V2 form of the engine's widest histogram (1 µs to 1 h, 3
/// digits: 23,552 counts of at most 9 bytes each), with room to spare.
const MAX_V2_BYTES: usize = 256 * 1024;

/// What the inflater starts with: most histograms of a snapshot inflate to a
/// few kilobytes; a wider one grows it, up to the cap.
const INFLATE_START: usize = 16 * 1024;

thread_local! {
    /// The inflater and its output, kept from one histogram to the next: a
    /// master decodes thousands a second on its control thread.
    static INFLATE: RefCell<(Decompress, Vec<u8>)> =
        RefCell::new((Decompress::new(true), vec![0; INFLATE_START]));
}

/// Decodes a peer's V2 deflate histogram into the buckets it recorded, read
/// at `sigfig` digits. Its header's lengths and bounds are checked against
/// what the engine records before a count is read, and the inflated form is
/// capped, so a small compressed message cannot grow without bound; no
/// HdrHistogram is made: the buckets go straight into a total when merged.
fn decode_histogram(bytes: &[u8], sigfig: u8) -> Result<LazyHistogram, HistogramError> {
    if be32(bytes, 0) != Some(V2_DEFLATE_COOKIE) {
        return Err(HistogramError::NotDeflate);
    }
    let len = be32(bytes, 4).ok_or(HistogramError::Truncated)? as usize;
    let compressed = bytes
        .get(8..)
        .and_then(|b| b.get(..len))
        .ok_or(HistogramError::Truncated)?;
    INFLATE.with_borrow_mut(|(inflater, out)| {
        let plain = inflate(inflater, compressed, out)?;
        check_v2_header(plain)?;
        let buckets = v2_buckets(plain)?;
        Ok(LazyHistogram::from_buckets(sigfig, buckets))
    })
}

/// Inflates a whole zlib stream into `out` (grown as needed, never past
/// [`MAX_V2_BYTES`] and a byte); the inflated bytes.
fn inflate<'a>(
    inflater: &mut Decompress,
    compressed: &[u8],
    out: &'a mut Vec<u8>,
) -> Result<&'a [u8], HistogramError> {
    inflater.reset(true);
    loop {
        // Within `compressed` and `out`, whose lengths fit a usize.
        let (read, written) = (inflater.total_in() as usize, inflater.total_out() as usize);
        let status = inflater
            .decompress(
                &compressed[read..],
                &mut out[written..],
                FlushDecompress::None,
            )
            .map_err(|e| HistogramError::Inflate(std::io::Error::other(e)))?;
        let progress = (inflater.total_in() as usize, inflater.total_out() as usize);
        let written = progress.1;
        if written > MAX_V2_BYTES {
            return Err(HistogramError::TooLarge { max: MAX_V2_BYTES });
        }
        if status == Status::StreamEnd {
            return Ok(&out[..written]);
        }
        if written == out.len() {
            // Room is what it lacks: more, up to a byte past the cap.
            let grown = (out.len() * 2).min(MAX_V2_BYTES + 1);
            out.resize(grown, 0);
        } else if progress == (read, written) {
            // Neither input taken nor output made: the stream was cut short.
            return Err(HistogramError::Truncated);
        }
    }
}

/// The recorded buckets of a checked V2 histogram: the highest value of
/// each and its count, in ascending order, as hdrhistogram's own
/// deserialiser would fill its counts (a count beyond the range the header
/// gives is refused as it refuses it).
fn v2_buckets(plain: &[u8]) -> Result<Vec<(u64, u64)>, HistogramError> {
    let word = |at| be32(plain, at).ok_or(HistogramError::Truncated);
    let ratio = be64(plain, 32).ok_or(HistogramError::Truncated)?;
    if word(8)? != 0 || f64::from_bits(ratio) != 1.0 {
        return Err(HistogramError::Unsupported);
    }
    let (digits, low, high) = (
        word(12)?,
        be64(plain, 16).ok_or(HistogramError::Truncated)?,
        be64(plain, 24).ok_or(HistogramError::Truncated)?,
    );
    let layout =
        Layout::new(digits, low, high).ok_or(HistogramError::Bounds { low, high, digits })?;
    let mut payload = &plain[V2_HEADER..];
    // Each bucket takes a byte at least.
    let mut buckets = Vec::with_capacity(payload.len());
    let mut index = 0usize;
    while let Some((&first, rest)) = payload.split_first() {
        // Most counts and runs are below 64: one byte.
        let encoded = if first & 0x80 == 0 {
            payload = rest;
            u64::from(first)
        } else {
            let (encoded, used) = varint(payload).ok_or(HistogramError::Truncated)?;
            payload = &payload[used..];
            encoded
        };
        // ZigZag: a negative number is a run of empty buckets.
        let n = ((encoded >> 1) as i64) ^ -((encoded & 1) as i64);
        if n < 0 {
            index = index.saturating_add(n.unsigned_abs() as usize);
            continue;
        }
        if n > 0 {
            if index >= layout.len {
                return Err(HistogramError::Counts);
            }
            buckets.push((layout.highest_of(index), n as u64));
        }
        index = index.saturating_add(1);
    }
    Ok(buckets)
}

/// A LEB128 varint of at most 9 bytes (the ninth holds 8 bits), as V2
/// writes its counts, and the bytes it took.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0;
    for i in 0..8 {
        let b = *bytes.get(i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    Some((value | u64::from(*bytes.get(8)?) << 56, 9))
}

/// Where hdrhistogram puts each value of a histogram of given lowest and
/// highest values and precision: buckets of twice the width of the one
/// before, each split into as many sub-buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// log2 of the lowest value: the width of the narrowest sub-bucket.
    unit: u32,
    /// log2 of half the sub-buckets of a bucket.
    half_magnitude: u32,
    /// Counts the histogram holds.
    len: usize,
}

impl Layout {
    /// The layout hdrhistogram gives `Histogram::new_with_bounds(low, high,
    /// digits)`, or `None` where it refuses those (or the precision is
    /// beyond the engine's 3 digits).
    fn new(digits: u32, low: u64, high: u64) -> Option<Layout> {
        if digits > 3 || low == 0 || low > u64::MAX / 2 || high < 2 * low {
            return None;
        }
        // Single-unit resolution up to 2 x 10^digits, rounded up to a power of two.
        let largest = 2 * 10u64.pow(digits);
        let count_magnitude = 64 - (largest - 1).leading_zeros();
        let unit = 63 - low.leading_zeros();
        if unit + count_magnitude > 63 {
            return None;
        }
        let mut untrackable = 1u64 << (count_magnitude + unit);
        let mut buckets = 1usize;
        while untrackable <= high {
            if untrackable > u64::MAX / 2 {
                buckets += 1;
                break;
            }
            untrackable <<= 1;
            buckets += 1;
        }
        let half_magnitude = count_magnitude - 1;
        Some(Layout {
            unit,
            half_magnitude,
            len: (buckets + 1) << half_magnitude,
        })
    }

    /// The highest value of the bucket of count `index` (below `len`).
    #[inline]
    fn highest_of(&self, index: usize) -> u64 {
        let index = index as u64;
        let (bucket, sub) = match index >> self.half_magnitude {
            // The lower half of the first bucket: its own sub-bucket.
            0 => (0, index),
            // The top half of a bucket, each bucket twice as wide.
            b => {
                let half = 1u64 << self.half_magnitude;
                (b - 1, (index & (half - 1)) + half)
            }
        };
        // Below 64: the layout's range is within a u64.
        let shift = bucket as u32 + self.unit;
        ((sub + 1) << shift) - 1
    }
}

/// Refuses an inflated V2 histogram whose header claims a payload other than
/// the bytes sent, or a precision or range wider than the engine's.
fn check_v2_header(plain: &[u8]) -> Result<(), HistogramError> {
    let word = |at| be32(plain, at).ok_or(HistogramError::Truncated);
    if word(0)? != V2_COOKIE {
        return Err(HistogramError::NotV2);
    }
    let claimed = word(4)?;
    let sent = plain.len().saturating_sub(V2_HEADER);
    if claimed as usize != sent {
        return Err(HistogramError::PayloadLength { claimed, sent });
    }
    let digits = word(12)?;
    let (low, high) = (
        be64(plain, 16).ok_or(HistogramError::Truncated)?,
        be64(plain, 24).ok_or(HistogramError::Truncated)?,
    );
    if digits > u32::from(lps_engine::LATENCY_SIGFIG)
        || low < lps_engine::LATENCY_LOW_US
        || high > lps_engine::LATENCY_TOP_US
    {
        return Err(HistogramError::Bounds { low, high, digits });
    }
    Ok(())
}

/// The big-endian `u32` at `at`, if `bytes` holds it.
fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The big-endian `u64` at `at`, if `bytes` holds it.
fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_exactly() {
        let mut a = Stats::new();
        for v in 1..=2000u64 {
            a.record_response(if v % 7 == 0 { 500 } else { 200 }, v * 31, 40, 120);
            if v % 5 == 0 {
                a.record_split(v * 31, v * 17);
            }
        }
        a.record_error(ErrorKind::Reset, 40, 3);
        for us in [35, 90, 4000] {
            a.record_connect(us, us > 50);
        }
        for us in [900, 2500] {
            a.record_tls(us);
        }
        for us in [0, 12, 1500] {
            a.record_send_lag(us);
        }
        a.record_unfinished(40);
        a.skipped = 3;
        a.unresolved = 2;
        a.span.begin(20);
        a.span.end(1_400_000);
        let snap = Snapshot {
            core: 1,
            seq: 9,
            elapsed: Duration::from_millis(1500),
            in_flight: 4,
            iterations: vec![Stats::new(), a.clone()],
            last: true,
        };
        let wire = encode_snapshot(12, &snap);
        assert_eq!(wire.seq, 12);
        assert_eq!(wire.iterations.len(), 1, "empty iterations are not sent");
        let back = decode_snapshot(&wire, 2, 2).unwrap();
        let b = &back.iterations[1];
        assert_eq!(b.latency, a.latency);
        assert_eq!(b.connect, a.connect);
        assert_eq!(b.connect.len(), 3);
        assert_eq!(b.split.latency, a.split.latency);
        assert_eq!(b.split.ttfb, a.split.ttfb);
        assert_eq!(b.split.ttfb.len(), 400);
        assert_eq!(b.ttfb(), a.ttfb());
        assert_eq!(b.tls, a.tls);
        assert_eq!(b.tls.len(), 2);
        assert_eq!(b.h2_connections, 2);
        assert_eq!((b.ok, b.failed), (a.ok, a.failed));
        assert_eq!(b.status_codes(), a.status_codes());
        assert_eq!(b.errors(ErrorKind::Reset), 1);
        assert_eq!(b.send_lag, a.send_lag);
        assert_eq!(b.send_lag.len(), 3);
        assert_eq!(b.unfinished, 1);
        assert_eq!((b.skipped, b.unresolved), (3, 2));
        assert_eq!(b.span, a.span);
        // A span alone (an iteration begun, nothing answered yet) is sent.
        let mut begun = Stats::new();
        begun.span.begin(7);
        let only = Snapshot {
            iterations: vec![begun],
            ..snap.clone()
        };
        let back_only = decode_snapshot(&encode_snapshot(13, &only), 1, 2).unwrap();
        assert_eq!(back_only.iterations[0].span.began_us, Some(7));
        assert!(back_only.iterations[0].send_lag.is_empty());
        assert!(back_only.iterations[0].ttfb().is_empty());
        assert!(back_only.iterations[0].tls.is_empty());
        assert_eq!(
            (b.bytes_sent, b.bytes_received),
            (a.bytes_sent, a.bytes_received)
        );
        assert!(back.iterations[0].is_empty());
        assert_eq!((back.core, back.in_flight, back.last), (1, 4, true));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut wire = encode_snapshot(
            1,
            &Snapshot {
                core: 0,
                seq: 0,
                elapsed: Duration::ZERO,
                in_flight: 0,
                iterations: vec![{
                    let mut s = Stats::new();
                    s.record_response(200, 5, 1, 1);
                    s
                }],
                last: false,
            },
        );
        assert!(matches!(
            decode_snapshot(&wire, 0, 1),
            Err(WireError::Iteration(0))
        ));
        let fields: [fn(&mut proto::IterationStats) -> &mut Vec<u8>; 4] = [
            |i| &mut i.connect_histogram,
            |i| &mut i.split_latency_histogram,
            |i| &mut i.split_ttfb_histogram,
            |i| &mut i.tls_histogram,
        ];
        for field in fields {
            let kept = std::mem::replace(
                field(&mut wire.iterations[0]),
                b"not a histogram either".to_vec(),
            );
            assert!(matches!(
                decode_snapshot(&wire, 1, 1),
                Err(WireError::Histogram { iteration: 0, .. })
            ));
            *field(&mut wire.iterations[0]) = kept;
        }
        wire.iterations[0].histogram = b"not a histogram".to_vec();
        let err = decode_snapshot(&wire, 1, 1).unwrap_err();
        assert!(
            matches!(
                err,
                WireError::Histogram {
                    iteration: 0,
                    source: HistogramError::NotDeflate
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "histogram of iteration 0 does not decode: not a V2 deflate histogram"
        );
        wire.iterations[0].histogram.clear();
        assert!(decode_snapshot(&wire, 1, 1).is_err());
    }

    /// A V2 deflate histogram whose header claims what the caller says,
    /// followed by `payload` bytes.
    fn crafted(digits: u32, low: u64, high: u64, payload_len: u32, payload: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut plain = Vec::new();
        for word in [V2_COOKIE, payload_len, 0, digits] {
            plain.extend_from_slice(&word.to_be_bytes());
        }
        plain.extend_from_slice(&low.to_be_bytes());
        plain.extend_from_slice(&high.to_be_bytes());
        plain.extend_from_slice(&1.0f64.to_be_bytes());
        plain.extend_from_slice(payload);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&plain).unwrap();
        let compressed = z.finish().unwrap();
        let mut out = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
        out.extend_from_slice(&compressed);
        out
    }

    #[test]
    fn the_widest_histogram_the_engine_makes_decodes_under_the_cap() {
        let mut h = lps_engine::new_histogram();
        // Grown as far as the engine grows one: to the top of the range.
        h.record(lps_engine::LATENCY_HIGH_US).unwrap();
        let values: Vec<u64> = h.iter_all().map(|v| v.value_iterated_to()).collect();
        assert!(values.len() > 20_000, "{} slots", values.len());
        // Counts of 2^56 and up take the most bytes a V2 count can.
        for (i, v) in values.iter().enumerate() {
            h.record_n(*v, (1 << 56) + i as u64).unwrap();
        }
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&h, &mut bytes)
            .unwrap();
        let back = decode_histogram(&bytes, 3).unwrap();
        // Read as the engine reads a peer's: beyond an hour, saturated.
        assert_eq!(back, LazyHistogram::from_histogram(&h, 3));
        assert_eq!(back.len(), h.len());
    }

    /// `h` as a peer sends it.
    fn wire(h: &hdrhistogram::Histogram<u64>) -> Vec<u8> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut bytes).unwrap();
        bytes
    }

    /// What decoding was before it went straight to buckets: hdrhistogram's
    /// deserialiser, then the histogram re-read at `sigfig` digits.
    fn through_hdrhistogram(bytes: &[u8], sigfig: u8) -> LazyHistogram {
        let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut &bytes[..])
            .unwrap();
        LazyHistogram::from_histogram(&h, sigfig)
    }

    #[test]
    fn histograms_decode_to_the_buckets_hdrhistogram_reads() {
        // Bounds and precisions a peer may use, values across and beyond
        // the engine's range, counts of every varint length.
        let shapes = [
            (1, 3),
            (1, 2),
            (1, 1),
            (1, 0),
            (3, 3),
            (100, 2),
            (1 << 20, 3),
        ];
        for (low, digits) in shapes {
            for n in [1u64, 40, 600, 9_000] {
                let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(
                    low,
                    lps_engine::LATENCY_TOP_US,
                    digits,
                )
                .unwrap();
                for i in 0..n {
                    let value = (i * 104_729 + i * i * 31) % 4_000_000_000 + low;
                    // Counts of every varint length, up to 2^56.
                    let count = if i < 9 { 1 << (7 * i) } else { 1 + i % 5 };
                    h.saturating_record_n(value, count);
                }
                let bytes = wire(&h);
                for sigfig in [2, 3] {
                    let direct = decode_histogram(&bytes, sigfig).unwrap();
                    assert_eq!(direct.len(), h.len(), "low {low} digits {digits} n {n}");
                    let old = through_hdrhistogram(&bytes, sigfig);
                    assert_eq!(direct, old, "low {low} digits {digits} n {n} at {sigfig}");
                    // Merged into a total, as the master merges them.
                    let mut total = old.clone();
                    total.merge(&direct);
                    let mut twice = old.clone();
                    twice.merge(&old);
                    assert_eq!(total, twice);
                }
            }
        }
    }

    #[test]
    fn the_layout_is_hdrhistograms() {
        for (low, high, digits) in [
            (1, 2, 0),
            (1, 3_600_000_000, 3),
            (7, 1 << 31, 2),
            (1, 4_095, 3),
        ] {
            let h =
                hdrhistogram::Histogram::<u64>::new_with_bounds(low, high, digits as u8).unwrap();
            let layout = Layout::new(digits, low, high).unwrap();
            assert_eq!(layout.len, h.distinct_values(), "{low}..{high} at {digits}");
            let highest: Vec<u64> = h.iter_all().map(|v| v.value_iterated_to()).collect();
            let ours: Vec<u64> = (0..layout.len).map(|i| layout.highest_of(i)).collect();
            assert_eq!(ours, highest, "{low}..{high} at {digits}");
        }
        assert_eq!(Layout::new(4, 1, 1000), None);
        assert_eq!(Layout::new(3, 0, 1000), None);
        assert_eq!(Layout::new(3, 600, 1000), None);
    }

    #[test]
    fn counts_past_the_range_or_cut_short_are_refused() {
        let engine = (3, 1, 1 << 12);
        let last = Layout::new(engine.0, engine.1, engine.2).unwrap().len as u64;
        // A run of empty buckets to the last one, then one count there: fine;
        // one bucket further: refused, as hdrhistogram refuses it.
        let zigzag = |n: i64| ((n << 1) ^ (n >> 63)) as u64;
        let varints = |numbers: &[i64]| {
            let mut out = Vec::new();
            for &n in numbers {
                let mut v = zigzag(n);
                while v >= 0x80 {
                    out.push((v as u8) | 0x80);
                    v >>= 7;
                }
                out.push(v as u8);
            }
            out
        };
        let at = |skip: i64| {
            let payload = varints(&[-skip, 3]);
            crafted(engine.0, engine.1, engine.2, payload.len() as u32, &payload)
        };
        let h = decode_histogram(&at(last as i64 - 1), 3).unwrap();
        assert_eq!(h.len(), 3);
        assert_eq!(
            decode_histogram(&at(last as i64), 3)
                .unwrap_err()
                .to_string(),
            "has counts beyond its range"
        );
        // A varint whose last byte is missing.
        let cut = crafted(engine.0, engine.1, engine.2, 1, &[0x81]);
        assert!(matches!(
            decode_histogram(&cut, 3),
            Err(HistogramError::Truncated)
        ));
        // A deflate stream cut short, its length saying so.
        let mut short = at(1);
        short.truncate(short.len() - 4);
        let len = (short.len() - 8) as u32;
        short[4..8].copy_from_slice(&len.to_be_bytes());
        assert!(matches!(
            decode_histogram(&short, 3),
            Err(HistogramError::Truncated)
        ));
    }

    #[test]
    fn histograms_that_would_make_the_master_allocate_without_bound_are_refused() {
        let engine = (3, 1, lps_engine::LATENCY_HIGH_US);
        // A 4 GiB payload claimed in a few dozen bytes.
        let claim = crafted(engine.0, engine.1, engine.2, u32::MAX, &[2, 2]);
        assert!(claim.len() < 100);
        let err = decode_histogram(&claim, 3).unwrap_err();
        assert!(
            matches!(
                err,
                HistogramError::PayloadLength {
                    claimed: u32::MAX,
                    sent: 2
                }
            ),
            "{err}"
        );
        assert_eq!(err.to_string(), "its payload length is not the bytes sent");
        // Bounds far wider than the engine's: hdrhistogram would size its counts by them.
        let wide = crafted(5, 1, u64::MAX, 2, &[2, 2]);
        let err = decode_histogram(&wide, 3).unwrap_err();
        assert!(matches!(err, HistogramError::Bounds { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("bounds 1..{} at 5 digits are not the engine's", u64::MAX)
        );
        // A deflate bomb: 64 MiB of zeros inflate from ~64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let bomb = crafted(engine.0, engine.1, engine.2, zeros.len() as u32, &zeros);
        assert!(bomb.len() < 1 << 20);
        let err = decode_histogram(&bomb, 3).unwrap_err();
        assert!(
            matches!(err, HistogramError::TooLarge { max: MAX_V2_BYTES }),
            "{err}"
        );
        assert_eq!(err.to_string(), "inflates past 262144 bytes");
        // The same header with an honest payload decodes.
        let ok = crafted(engine.0, engine.1, engine.2, 1, &[2]);
        assert_eq!(decode_histogram(&ok, 3).unwrap().len(), 1);
    }

    #[test]
    fn counts_are_bounded_per_core_and_second_of_the_run() {
        let c = |requests, bytes_sent, bytes_received| Counts {
            requests,
            bytes_sent,
            bytes_received,
        };
        let two_s = Duration::from_secs(2);
        // 2 cores, 2 s of run and 1 s of slack: 60 M requests, 75 GB each way.
        let full = c(60_000_000, 75_000_000_000, 75_000_000_000);
        assert_eq!(
            c(0, 0, 0).add_within(full, 2, two_s),
            Ok(full),
            "the bound itself is possible"
        );
        let half = c(30_000_000, 1, 2);
        assert_eq!(half.add_within(half, 2, two_s), Ok(c(60_000_000, 2, 4)));
        let over = half.add_within(c(30_000_001, 0, 0), 2, two_s).unwrap_err();
        assert_eq!(
            over.to_string(),
            "its requests (60000001 so far) are more than 2 cores can do in 3.0 s \
             (at most 10000000 per core and second)"
        );
        let bytes = c(0, 0, 75_000_000_001).add_within(c(0, 0, 0), 2, two_s);
        assert_eq!(bytes.unwrap_err().what, "bytes received");
        // Sums that would wrap are refused, not wrapped.
        let wraps = c(u64::MAX, 0, 0).add_within(c(1, 0, 0), 4096, MAX_ELAPSED);
        assert_eq!(wraps.unwrap_err().count, u64::MAX);
        let huge = c(0, u64::MAX, 0).add_within(c(0, 0, 0), 1, Duration::MAX);
        assert_eq!(huge.unwrap_err().what, "bytes sent");
        // A catch-up snapshot covering a long stretch passes on the run's time.
        let hour = Duration::from_secs(3600);
        assert!(
            c(0, 0, 0)
                .add_within(c(7_000_000_000, 0, 0), 1, hour)
                .is_ok()
        );
    }

    #[test]
    fn a_snapshots_counts_are_summed_over_its_iterations() {
        let mut a = Stats::new();
        a.record_response(200, 5, 10, 100);
        a.record_error(ErrorKind::Reset, 1, 0);
        let mut b = Stats::new();
        b.record_response(503, 5, 20, 200);
        let snap = Snapshot {
            core: 0,
            seq: 1,
            elapsed: Duration::ZERO,
            in_flight: 0,
            iterations: vec![a, Stats::new(), b],
            last: false,
        };
        assert_eq!(
            Counts::of(&snap),
            Counts {
                requests: 3,
                bytes_sent: 31,
                bytes_received: 300
            }
        );
    }

    #[test]
    fn snapshots_a_node_could_not_have_sent_are_refused() {
        let mut s = Stats::new();
        s.record_response(200, 5, 1, 1);
        let snap = Snapshot {
            core: 3,
            seq: 0,
            elapsed: Duration::ZERO,
            in_flight: 0,
            iterations: vec![s],
            last: false,
        };
        let mut wire = encode_snapshot(1, &snap);
        assert!(decode_snapshot(&wire, 1, 4).is_ok());
        assert!(matches!(
            decode_snapshot(&wire, 1, 3),
            Err(WireError::Core(3, 3))
        ));
        wire.core = u32::MAX;
        assert!(matches!(
            decode_snapshot(&wire, 1, 4),
            Err(WireError::Core(..))
        ));
        wire.core = 0;
        wire.in_flight = MAX_IN_FLIGHT_PER_CORE * 4;
        assert!(decode_snapshot(&wire, 1, 4).is_ok());
        wire.in_flight += 1;
        let err = decode_snapshot(&wire, 1, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "67108865 requests in flight on a node of 4 cores"
        );
        wire.in_flight = u64::from(u32::MAX);
        assert!(matches!(
            decode_snapshot(&wire, 1, 4),
            Err(WireError::InFlight { .. })
        ));
        wire.in_flight = 0;
        wire.elapsed_ms = MAX_ELAPSED.as_millis() as u64 + 1;
        assert!(matches!(
            decode_snapshot(&wire, 1, 4),
            Err(WireError::Elapsed(_))
        ));
        wire.elapsed_ms = 0;
        let twice = wire.iterations[0].clone();
        wire.iterations.push(twice);
        assert!(matches!(
            decode_snapshot(&wire, 1, 4),
            Err(WireError::Duplicate(0))
        ));
        wire.iterations.pop();
        wire.iterations[0].status_codes = vec![
            proto::StatusCount {
                code: 200,
                count: u64::MAX,
            },
            proto::StatusCount {
                code: 201,
                count: 1,
            },
        ];
        assert!(matches!(
            decode_snapshot(&wire, 1, 4),
            Err(WireError::Counts(0))
        ));
    }

    #[test]
    fn more_http2_connections_than_connections_are_refused() {
        let mut a = Stats::new();
        a.record_response(200, 10, 1, 1);
        a.record_connect(30, true);
        let snap = Snapshot {
            core: 0,
            seq: 1,
            elapsed: Duration::from_millis(100),
            in_flight: 0,
            iterations: vec![a],
            last: false,
        };
        let mut wire = encode_snapshot(1, &snap);
        assert!(decode_snapshot(&wire, 1, 1).is_ok());
        wire.iterations[0].h2_connections = 2;
        assert!(matches!(
            decode_snapshot(&wire, 1, 1),
            Err(WireError::H2Connections(0))
        ));
    }

    #[test]
    fn split_responses_without_their_latency_or_handshakes_without_connects_are_refused() {
        let mut a = Stats::new();
        a.record_response(200, 10, 1, 1);
        a.record_split(10, 4);
        a.record_connect(30, false);
        a.record_tls(60);
        let mut two = a.clone();
        two.record_split(10, 5);
        two.record_tls(70);
        let snap = |s: Stats| Snapshot {
            core: 0,
            seq: 1,
            elapsed: Duration::from_millis(100),
            in_flight: 0,
            iterations: vec![s],
            last: false,
        };
        let mut wire = encode_snapshot(1, &snap(a));
        assert!(decode_snapshot(&wire, 1, 1).is_ok());
        let too_many = encode_snapshot(1, &snap(two)).iterations.remove(0);
        // Two split responses of one response; then one without its time
        // to first byte.
        let kept = std::mem::replace(
            &mut wire.iterations[0].split_latency_histogram,
            too_many.split_latency_histogram,
        );
        let err = decode_snapshot(&wire, 1, 1).unwrap_err();
        assert!(matches!(err, WireError::Split(0)), "{err}");
        wire.iterations[0].split_ttfb_histogram.clear();
        wire.iterations[0].split_latency_histogram = kept;
        let err = decode_snapshot(&wire, 1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "iteration 0 has split responses that are not among its responses"
        );
        wire.iterations[0].split_latency_histogram.clear();
        assert!(decode_snapshot(&wire, 1, 1).is_ok());
        wire.iterations[0].tls_histogram = too_many.tls_histogram;
        let err = decode_snapshot(&wire, 1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "iteration 0 has more TLS handshakes than connections"
        );
    }
}
