//! The histogram log: the merged latency histograms (total, then each
//! iteration) as an HdrHistogram interval log, V2 deflate, base64 entries.

use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use lps_engine::LazyHistogram;

use super::ReportError;

/// Writes the log of [`histogram_log`] to `path`.
pub fn write_histogram_log(
    path: &Path,
    started_at: SystemTime,
    duration: Duration,
    entries: &[(&str, &LazyHistogram)],
) -> Result<(), ReportError> {
    let buf = histogram_log(started_at, duration, entries)?;
    super::write_atomic(path, &buf).map_err(|source| ReportError::Histogram {
        path: path.to_path_buf(),
        source,
    })
}

/// The interval log of `entries` (name, histogram), in memory; each covers
/// the whole run. Each is made an HdrHistogram in turn, so that a plan of
/// many small iterations never holds them all at once.
pub fn histogram_log(
    started_at: SystemTime,
    duration: Duration,
    entries: &[(&str, &LazyHistogram)],
) -> Result<Vec<u8>, ReportError> {
    let mut buf = Vec::new();
    {
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("lps latency histograms, microseconds")
            .with_start_time(started_at)
            .with_base_time(started_at)
            .with_max_value_divisor(1.0)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(ReportError::HistogramStart)?;
        for (name, h) in entries {
            let tag = sanitize_tag(name);
            log.write_histogram(&h.histogram(), Duration::ZERO, duration, Tag::new(&tag))
                .map_err(|e| ReportError::HistogramEncode {
                    name: name.to_string(),
                    // The serializer's error implements Debug only.
                    message: format!("{e:?}"),
                })?;
        }
    }
    Ok(buf)
}

/// Tags may not contain commas, spaces or control characters.
fn sanitize_tag(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == ',' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_lose_commas_spaces_and_controls() {
        assert_eq!(sanitize_tag("a b,c"), "a_b_c");
        assert_eq!(sanitize_tag("tab\there\n"), "tab_here_");
        assert_eq!(sanitize_tag("Quick-Http-Run"), "Quick-Http-Run");
    }
}
