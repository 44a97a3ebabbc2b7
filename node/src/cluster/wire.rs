//! Engine snapshots on the wire: HdrHistogram V2 + deflate per iteration,
//! and the checks that refuse what no node could have sent.

use std::time::Duration;

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use lps_engine::{ErrorKind, Snapshot, Stats};
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
    #[error("{0} requests in flight on one core")]
    InFlight(u64),
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
    /// hdrhistogram refused the counts.
    #[error("{0:?}")]
    Decode(#[source] hdrhistogram::serialization::DeserializeError),
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
            let mut connect_histogram = Vec::new();
            // Serialising into a Vec cannot fail for a histogram this crate built.
            let _ = serializer.serialize(&s.latency.histogram(), &mut histogram);
            if !s.connect.is_empty() {
                let _ = serializer.serialize(&s.connect.histogram(), &mut connect_histogram);
            }
            proto::IterationStats {
                index: index as u32,
                histogram,
                connect_histogram,
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
    // Real gauges are far below this; the gauges of every core are summed.
    if msg.in_flight > u64::from(u32::MAX) {
        return Err(WireError::InFlight(msg.in_flight));
    }
    let mut stats: Vec<Stats> = (0..iterations).map(|_| Stats::new()).collect();
    let mut seen = vec![false; iterations];
    let mut deserializer = Deserializer::new();
    for it in &msg.iterations {
        let index = it.index as usize;
        let slot = stats.get_mut(index).ok_or(WireError::Iteration(it.index))?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(WireError::Duplicate(it.index));
        }
        *slot = decode_iteration(it, &mut deserializer)?;
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
fn decode_iteration(
    it: &proto::IterationStats,
    deserializer: &mut Deserializer,
) -> Result<Stats, WireError> {
    let histogram_error = |source| WireError::Histogram {
        iteration: it.index,
        source,
    };
    let latency = decode_histogram(&it.histogram, deserializer).map_err(histogram_error)?;
    // Left empty by a core that opened no connection in the interval.
    let connect = if it.connect_histogram.is_empty() {
        None
    } else {
        Some(decode_histogram(&it.connect_histogram, deserializer).map_err(histogram_error)?)
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
    let rebuilt = Stats::from_parts(latency, &codes, &errors, it.bytes_sent, it.bytes_received);
    Ok(match &connect {
        Some(connect) => rebuilt.with_connect(connect),
        None => rebuilt,
    })
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

/// Decodes a peer's V2 deflate histogram. hdrhistogram sizes its buffers from
/// the lengths and bounds the peer claims before it reads a byte of counts, so
/// those are checked against what the engine records first; the inflated form
/// is capped, so a small compressed message cannot grow without bound.
fn decode_histogram(
    bytes: &[u8],
    deserializer: &mut Deserializer,
) -> Result<hdrhistogram::Histogram<u64>, HistogramError> {
    use std::io::Read;

    if be32(bytes, 0) != Some(V2_DEFLATE_COOKIE) {
        return Err(HistogramError::NotDeflate);
    }
    let len = be32(bytes, 4).ok_or(HistogramError::Truncated)? as usize;
    let compressed = bytes
        .get(8..)
        .and_then(|b| b.get(..len))
        .ok_or(HistogramError::Truncated)?;
    let mut plain = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_V2_BYTES as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(HistogramError::Inflate)?;
    if plain.len() > MAX_V2_BYTES {
        return Err(HistogramError::TooLarge { max: MAX_V2_BYTES });
    }
    check_v2_header(&plain)?;
    deserializer
        .deserialize(&mut plain.as_slice())
        .map_err(HistogramError::Decode)
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
        }
        a.record_error(ErrorKind::Reset, 40, 3);
        for us in [35, 90, 4000] {
            a.record_connect(us);
        }
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
        assert_eq!((b.ok, b.failed), (a.ok, a.failed));
        assert_eq!(b.status_codes(), a.status_codes());
        assert_eq!(b.errors(ErrorKind::Reset), 1);
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
        wire.iterations[0].connect_histogram = b"not a histogram either".to_vec();
        assert!(matches!(
            decode_snapshot(&wire, 1, 1),
            Err(WireError::Histogram { iteration: 0, .. })
        ));
        wire.iterations[0].connect_histogram.clear();
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
        let back = decode_histogram(&bytes, &mut Deserializer::new()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn histograms_that_would_make_the_master_allocate_without_bound_are_refused() {
        let mut de = Deserializer::new();
        let engine = (3, 1, lps_engine::LATENCY_HIGH_US);
        // A 4 GiB payload claimed in a few dozen bytes.
        let claim = crafted(engine.0, engine.1, engine.2, u32::MAX, &[2, 2]);
        assert!(claim.len() < 100);
        let err = decode_histogram(&claim, &mut de).unwrap_err();
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
        let err = decode_histogram(&wide, &mut de).unwrap_err();
        assert!(matches!(err, HistogramError::Bounds { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("bounds 1..{} at 5 digits are not the engine's", u64::MAX)
        );
        // A deflate bomb: 64 MiB of zeros inflate from ~64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let bomb = crafted(engine.0, engine.1, engine.2, zeros.len() as u32, &zeros);
        assert!(bomb.len() < 1 << 20);
        let err = decode_histogram(&bomb, &mut de).unwrap_err();
        assert!(
            matches!(err, HistogramError::TooLarge { max: MAX_V2_BYTES }),
            "{err}"
        );
        assert_eq!(err.to_string(), "inflates past 262144 bytes");
        // The same header with an honest payload decodes.
        let ok = crafted(engine.0, engine.1, engine.2, 1, &[2]);
        assert_eq!(decode_histogram(&ok, &mut de).unwrap().len(), 1);
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
        wire.in_flight = u64::MAX;
        assert!(matches!(
            decode_snapshot(&wire, 1, 4),
            Err(WireError::InFlight(_))
        ));
        wire.in_flight = 0;
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
}
