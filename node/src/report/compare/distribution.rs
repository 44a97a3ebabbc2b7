//! Histogram logs (`--histogram`) of the two runs compared: the percentiles
//! of each histogram, deeper than the report's (to p99.99), and the largest
//! gap between the two distributions (the Kolmogorov-Smirnov distance: the
//! largest difference between the shares of requests at or under a latency).

use std::path::Path;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry, LogIteratorError};

use super::{CompareError, Presence};

/// A histogram's figures, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distribution {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl Distribution {
    pub fn of(h: &Histogram<u64>) -> Distribution {
        let q = |q| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        Distribution {
            count: h.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: h.max(),
        }
    }
}

/// One histogram of the logs (`total`, or an iteration's), compared.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramRow {
    pub tag: String,
    pub presence: Presence,
    pub base: Option<Distribution>,
    pub new: Option<Distribution>,
    /// The largest gap between the two distributions (0 to 1), and the
    /// latency in µs where it is; `None` unless both have values.
    pub gap: Option<(f64, u64)>,
}

/// The histograms of the log at `path`, with their tags, in its order.
pub fn read_log(path: &Path) -> Result<Vec<(String, Histogram<u64>)>, CompareError> {
    let bad = |message: String| CompareError::Histogram {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut deserializer = Deserializer::new();
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let interval = match entry {
            Ok(LogEntry::Interval(i)) => i,
            Ok(_) => continue,
            Err(LogIteratorError::ParseError { offset }) => {
                let line = 1 + bytes[..offset.min(bytes.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                return Err(bad(format!("not an HdrHistogram log: line {line}")));
            }
        };
        let tag = interval.tag().map_or("", |t| t.as_str()).to_string();
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| bad(format!("histogram {tag:?} is not base64: {e}")))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut encoded.as_slice())
            .map_err(|e| bad(format!("histogram {tag:?} cannot be decoded: {e:?}")))?;
        out.push((tag, h));
    }
    if out.is_empty() {
        return Err(bad("not an HdrHistogram log: no histogram in it".into()));
    }
    Ok(out)
}

/// The histograms of the two logs side by side: matched by tag (the n-th of
/// a tag with the n-th), the baseline's order first, then the new log's own.
pub fn compare_logs(
    base: &[(String, Histogram<u64>)],
    new: &[(String, Histogram<u64>)],
) -> Vec<HistogramRow> {
    let base_keys = keys(base);
    let new_keys = keys(new);
    let mut rows = Vec::new();
    for (key, (tag, b)) in base_keys.iter().zip(base) {
        let matched = new_keys.iter().position(|k| k == key).map(|at| &new[at].1);
        rows.push(HistogramRow {
            tag: tag.clone(),
            presence: match matched {
                Some(_) => Presence::Both,
                None => Presence::MissingInNew,
            },
            base: Some(Distribution::of(b)),
            new: matched.map(Distribution::of),
            gap: matched.and_then(|n| largest_gap(b, n)),
        });
    }
    for (key, (tag, n)) in new_keys.iter().zip(new) {
        if !base_keys.contains(key) {
            rows.push(HistogramRow {
                tag: tag.clone(),
                presence: Presence::OnlyInNew,
                base: None,
                new: Some(Distribution::of(n)),
                gap: None,
            });
        }
    }
    rows
}

/// Each histogram's tag and which of that tag it is.
fn keys(log: &[(String, Histogram<u64>)]) -> Vec<(&str, usize)> {
    let mut keys: Vec<(&str, usize)> = Vec::with_capacity(log.len());
    for (tag, _) in log {
        let nth = keys.iter().filter(|(t, _)| t == tag).count();
        keys.push((tag, nth));
    }
    keys
}

/// The largest difference between the shares of `a`'s and `b`'s values at
/// or under a value, and that value (the highest of its bucket); `None`
/// when either is empty. Both are walked bucket by bucket in step.
pub fn largest_gap(a: &Histogram<u64>, b: &Histogram<u64>) -> Option<(f64, u64)> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let steps = |h: &Histogram<u64>| -> Vec<(u64, u64)> {
        h.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    };
    let (sa, sb) = (steps(a), steps(b));
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut ca, mut cb) = (0, 0, 0u64, 0u64);
    let mut best = (0.0, 0);
    while i < sa.len() || j < sb.len() {
        let va = sa.get(i).map_or(u64::MAX, |s| s.0);
        let vb = sb.get(j).map_or(u64::MAX, |s| s.0);
        let v = va.min(vb);
        if va == v {
            ca += sa[i].1;
            i += 1;
        }
        if vb == v {
            cb += sb[j].1;
            j += 1;
        }
        let gap = (ca as f64 / na - cb as f64 / nb).abs();
        if gap > best.0 {
            best = (gap, v);
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[(u64, u64)]) -> Histogram<u64> {
        let mut h = lps_engine::new_histogram();
        for (v, n) in values {
            h.record_n(*v, *n).unwrap();
        }
        h
    }

    #[test]
    fn the_largest_gap_between_two_distributions() {
        let a = histogram(&[(100, 50), (200, 50)]);
        assert_eq!(largest_gap(&a, &a), Some((0.0, 0)));
        // Half of a is at 100 µs, none of b: the gap is there.
        let b = histogram(&[(200, 50), (300, 50)]);
        assert_eq!(largest_gap(&a, &b), Some((0.5, 100)));
        // All of a is at or under 200 µs, none of c.
        let c = histogram(&[(5000, 10)]);
        assert_eq!(largest_gap(&a, &c), Some((1.0, 200)));
        assert_eq!(largest_gap(&a, &histogram(&[])), None);
    }

    #[test]
    fn a_distribution_goes_to_p99_99() {
        let mut h = lps_engine::new_histogram();
        for v in 1..=10_000u64 {
            h.record(v).unwrap();
        }
        assert_eq!(
            Distribution::of(&h),
            Distribution {
                count: 10_000,
                // Each the highest value of its bucket, as the report's.
                p50: 5003,
                p90: 9007,
                p99: 9903,
                p999: 9991,
                p9999: 9999,
                max: 10_007,
            }
        );
    }

    #[test]
    fn logs_match_by_tag() {
        let log = |tags: &[&str]| -> Vec<(String, Histogram<u64>)> {
            tags.iter()
                .map(|t| (t.to_string(), histogram(&[(100, 1)])))
                .collect()
        };
        let rows = compare_logs(&log(&["total", "a", "b"]), &log(&["total", "c", "a"]));
        let summary: Vec<(&str, Presence)> =
            rows.iter().map(|r| (r.tag.as_str(), r.presence)).collect();
        use Presence::*;
        assert_eq!(
            summary,
            [
                ("total", Both),
                ("a", Both),
                ("b", MissingInNew),
                ("c", OnlyInNew)
            ]
        );
        assert_eq!(rows[0].gap, Some((0.0, 0)));
        assert_eq!(rows[2].gap, None);
    }
}
