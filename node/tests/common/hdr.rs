//! HdrHistogram interval logs (`--histogram`, `/api/histogram`), decoded.

/// Decodes standard base64 (padding and line breaks ignored).
pub fn base64(s: &str) -> Vec<u8> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::with_capacity(s.len() * 3 / 4), 0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = ALPHA
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("not a base64 character: {c:?}"));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Every histogram of an HdrHistogram interval log, with its tag.
pub fn histograms(log: &[u8]) -> Vec<(Option<String>, hdrhistogram::Histogram<u64>)> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut deserializer = hdrhistogram::serialization::Deserializer::new();
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(log) {
        if let Ok(LogEntry::Interval(h)) = entry {
            let bytes = base64(h.encoded_histogram());
            let mut hist: hdrhistogram::Histogram<u64> = deserializer
                .deserialize(&mut bytes.as_slice())
                .expect("a V2 histogram");
            // lps writes each histogram as far as its largest value (they
            // grow as values come): merging two needs room for the larger.
            hist.auto(true);
            out.push((h.tag().map(|t| t.as_str().to_string()), hist));
        }
    }
    out
}

/// The `total` histogram of an HdrHistogram interval log.
pub fn total_histogram(log: &[u8]) -> hdrhistogram::Histogram<u64> {
    histograms(log)
        .into_iter()
        .find(|(tag, _)| tag.as_deref() == Some("total"))
        .map(|(_, h)| h)
        .unwrap_or_else(|| panic!("no total histogram in {}", String::from_utf8_lossy(log)))
}
