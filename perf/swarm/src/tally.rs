//! What the fake workers did, summed over all of them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Counters and histograms every worker adds to (once per worker for the
/// histograms, so that the lock is not on the send path).
#[derive(Default)]
pub struct Tally {
    pub registered: AtomicU64,
    /// Sessions the master refused or that broke.
    pub failed: AtomicU64,
    pub snapshots_sent: AtomicU64,
    pub snapshots_acked: AtomicU64,
    /// Requests in the snapshots sent: the master's report must say as many.
    pub requests_sent: AtomicU64,
    /// Workers whose Finished the master acknowledged with every snapshot.
    pub delivered: AtomicU64,
    /// When the last worker was welcomed, in microseconds from the start.
    pub all_registered_us: AtomicU64,
    /// From a snapshot's send to the ack that covers it, in microseconds.
    lag_us: Mutex<Option<Histogram<u64>>>,
    /// From connecting to the master's Welcome, in microseconds.
    register_us: Mutex<Option<Histogram<u64>>>,
}

/// A histogram of microseconds up to an hour, at 3 digits.
pub fn histogram() -> Histogram<u64> {
    // Constant bounds hdrhistogram accepts.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

impl Tally {
    pub fn add(&self, n: &AtomicU64, by: u64) {
        n.fetch_add(by, Ordering::Relaxed);
    }

    pub fn add_lags(&self, lags: &Histogram<u64>) {
        merge(&self.lag_us, lags);
    }

    pub fn add_register(&self, us: u64) {
        let mut h = histogram();
        h.saturating_record(us);
        merge(&self.register_us, &h);
    }

    /// The summary line.
    pub fn json(&self, workers: u32, cores: u32) -> serde_json::Value {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        serde_json::json!({
            "workers": workers,
            "cores": cores,
            "registered": get(&self.registered),
            "failed": get(&self.failed),
            "delivered": get(&self.delivered),
            "snapshots_sent": get(&self.snapshots_sent),
            "snapshots_acked": get(&self.snapshots_acked),
            "requests_sent": get(&self.requests_sent),
            "lag_ms": quantiles(&self.lag_us),
            "register_ms": quantiles(&self.register_us),
            "all_registered_s": get(&self.all_registered_us) as f64 / 1e6,
        })
    }
}

fn merge(into: &Mutex<Option<Histogram<u64>>>, h: &Histogram<u64>) {
    let mut slot = into.lock().unwrap_or_else(|e| e.into_inner());
    // Same bounds on both sides: adding cannot fail.
    let _ = slot.get_or_insert_with(histogram).add(h);
}

fn quantiles(h: &Mutex<Option<Histogram<u64>>>) -> serde_json::Value {
    let slot = h.lock().unwrap_or_else(|e| e.into_inner());
    let Some(h) = slot.as_ref().filter(|h| !h.is_empty()) else {
        return serde_json::Value::Null;
    };
    let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
    serde_json::json!({
        "p50": ms(h.value_at_quantile(0.5)),
        "p90": ms(h.value_at_quantile(0.9)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
        "count": h.len(),
    })
}
