//! Per-iteration state is small and allocated when used: the memory a run
//! holds grows by a few hundred bytes per iteration of its plan, not by
//! histograms sized for the whole latency range on every core and in the
//! aggregate (issue 14: 660 KB per iteration, 6.8 GB for 10,000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lps_config::Mode;
use lps_engine::{Aggregate, RunOptions};

mod common;

/// Tracks the bytes allocated and not yet freed in this test process, and
/// their peak.
struct Tracking;

static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        grew(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// The peak of live bytes above those live at its start, while a plan of
/// `n` one-request iterations runs on one core and its snapshots are merged
/// into an aggregate (as the node does); and the requests that succeeded.
fn peak_for(port: u16, n: usize) -> (u64, u64) {
    let mut plan = common::get_plan(port, Mode::Requests { requests: 1 });
    let one = plan.rounds[0].iterations[0].clone();
    plan.rounds[0].iterations = (0..n)
        .map(|i| lps_config::Iteration {
            name: format!("i{i}"),
            ..one.clone()
        })
        .collect();
    // One after another: iterations run in parallel would each hold their
    // task and connection at once, which is what the plan asks for, not
    // per-iteration state.
    plan.rounds[0].run_in_parallel = false;
    let opts = RunOptions {
        threads: 1,
        pin: false,
        // A snapshot every 100 ms: the core's stats are swapped for fresh
        // ones during the run, as they are once a second in a long one.
        snapshot_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let run = lps_engine::start(&plan, &opts, Default::default()).unwrap();
    let mut agg = Aggregate::new(n);
    while let Ok(snap) = run.snapshots().recv_timeout(common::LIMIT) {
        agg.add(&snap);
    }
    run.join().unwrap();
    let ok = agg.total().ok;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    drop(agg);
    (peak, ok)
}

#[test]
fn memory_per_iteration_is_small() {
    let port = common::serve();
    // Warm up the server thread and lazy statics.
    peak_for(port, 10);
    let (small, ok_small) = peak_for(port, 50);
    let (large, ok_large) = peak_for(port, 250);
    assert_eq!((ok_small, ok_large), (50, 250));
    let per_iteration = large.saturating_sub(small) / 200;
    eprintln!("peak: {small} B for 50 iterations, {large} B for 250: {per_iteration} B each");
    // A quarter of the smallest HdrHistogram at 3 digits (16 KB): an
    // iteration holding one request holds its value, not a histogram. The
    // prepared request, the core's stats and their fresh replacement, a
    // snapshot and the aggregate take about 2 KB per iteration.
    assert!(
        per_iteration < 4 * 1024,
        "{per_iteration} bytes per iteration ({small} for 50, {large} for 250)"
    );
}
