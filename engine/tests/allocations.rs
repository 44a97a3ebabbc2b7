//! The HTTP/1.1 hot path allocates nothing per request: the allocations of
//! a run do not grow with its number of requests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lps_config::Mode;
use lps_engine::{PauseGate, RunOptions};

mod common;

/// Counts every allocation in this test process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The count is process-wide: tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Allocations made while running `requests` requests, and the count sent.
fn allocations_for(port: u16, requests: u64) -> (u64, u64) {
    allocations_in(port, Mode::Requests { requests })
}

/// Allocations made while running one iteration in `mode`, and the count sent.
fn allocations_in(port: u16, mode: Mode) -> (u64, u64) {
    let opts = RunOptions {
        // An open pause gate (a watchdog that never pauses): passing it
        // must cost nothing per request either.
        pause: Some(std::sync::Arc::new(PauseGate::new(Duration::from_millis(
            100,
        )))),
        ..one_thread()
    };
    allocations_of(&common::get_plan(port, mode), &opts)
}

/// One engine thread, unpinned, and no snapshot tick inside a run.
fn one_thread() -> RunOptions {
    RunOptions {
        threads: 1,
        pin: false,
        snapshot_interval: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// Allocations made while running `plan`, and the requests answered ok.
fn allocations_of(plan: &lps_config::Plan, opts: &RunOptions) -> (u64, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let run = lps_engine::start(plan, opts, Default::default()).unwrap();
    let agg = common::finish(run);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    (after - before, agg.total().ok)
}

#[test]
fn allocations_do_not_grow_with_requests() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = common::serve();
    // Warm up the server threads and lazy statics.
    allocations_for(port, 100);
    let (small, sent_small) = allocations_for(port, 1_000);
    let (large, sent_large) = allocations_for(port, 20_000);
    assert_eq!(sent_small, 1_000);
    assert_eq!(sent_large, 20_000);
    // The server's connection thread and the runtime allocate a similar
    // fixed amount per run; 19,000 more requests must add (next to) nothing.
    let extra = large.saturating_sub(small);
    eprintln!("allocations: {small} for 1,000 requests, {large} for 20,000");
    assert!(
        extra < 200,
        "{small} allocations for 1,000 requests, {large} for 20,000: {extra} more"
    );
}

#[test]
fn batch_modes_allocate_nothing_per_request_either() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = common::serve();
    // Batches do not wait for the one before (LPS): the cooldown is long
    // enough for a loopback batch to be answered, so that its lanes are
    // free again and the next batch reuses them rather than adding lanes.
    let crb = |requests| Mode::CooldownRequestBatch {
        requests,
        batch: 8,
        cooldown: Duration::from_millis(20),
    };
    allocations_in(port, crb(80));
    let (small, sent_small) = allocations_in(port, crb(400));
    let (large, sent_large) = allocations_in(port, crb(1_200));
    assert_eq!((sent_small, sent_large), (400, 1_200));
    // 100 more batches of 8: the lanes are the same eight tasks throughout.
    let extra = large.saturating_sub(small);
    eprintln!("allocations: {small} for 400 requests in batches, {large} for 1,200");
    assert!(
        extra < 200,
        "{small} allocations for 400 requests, {large} for 1,200: {extra} more"
    );
}

/// Allocations made while running `commands` request commands that each
/// retry once, and the count sent.
fn allocations_with_retry(port: u16, commands: u64) -> (u64, u64) {
    let mut plan = common::get_plan(port, Mode::Requests { requests: commands });
    plan.rounds[0].iterations[0].request.retry = Some(lps_config::Retry {
        max_retries: 1,
        delay: Duration::from_millis(1),
        backoff: lps_config::Backoff::Fixed,
    });
    allocations_of(&plan, &one_thread())
}

#[test]
fn retries_allocate_nothing_per_request_either() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = common::serve();
    allocations_with_retry(port, 50);
    let (small, sent_small) = allocations_with_retry(port, 100);
    let (large, sent_large) = allocations_with_retry(port, 600);
    // Each command sends twice: the request and its retry.
    assert_eq!((sent_small, sent_large), (200, 1_200));
    let extra = large.saturating_sub(small);
    eprintln!("allocations: {small} for 200 requests with retries, {large} for 1,200");
    assert!(
        extra < 200,
        "{small} allocations for 200 requests, {large} for 1,200: {extra} more"
    );
}

/// Allocations made while running `requests` requests whose header is
/// built per request from a variable (an LPS 3.x template), and the count sent.
fn allocations_templated(port: u16, requests: u64) -> (u64, u64) {
    let mut plan = common::get_plan(port, Mode::Requests { requests });
    plan.variables.push(lps_config::GlobalVariable {
        name: "token".into(),
        kind: lps_scenario::VarType::String,
        raw: "abc".into(),
        value: "abc".into(),
        regex: None,
    });
    let header = lps_scenario::Template::compile("Bearer ${token}").unwrap();
    let mut script = lps_config::Script::default();
    script
        .request
        .headers
        .push(("Authorization".into(), header));
    plan.rounds[0].iterations[0].script = Some(std::sync::Arc::new(script));
    allocations_of(&plan, &one_thread())
}

#[test]
fn templated_requests_allocate_nothing_per_request_either() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let port = common::serve();
    allocations_templated(port, 100);
    let (small, sent_small) = allocations_templated(port, 1_000);
    let (large, sent_large) = allocations_templated(port, 6_000);
    assert_eq!((sent_small, sent_large), (1_000, 6_000));
    let per = large.saturating_sub(small) as f64 / 5_000.0;
    eprintln!(
        "allocations: {small} for 1,000 templated requests, {large} for 6,000: {per:.2} per request"
    );
    // The request's bytes and the header's value go into buffers the lane
    // reuses: what allocates is what a template's lookups clone, if anything.
    assert!(per < 1.0, "{per} allocations per templated request");
}

/// A response to each request: ":status: 200" (indexed), "content-length:
/// 11" (a literal naming static entry 28), and "hello world".
fn h2_hello(id: u32, _: u64, out: &mut Vec<u8>) {
    let head = [0x88, 0x0f, 0x0d, 0x02, b'1', b'1'];
    common::h2_frame(out, head.len(), 0x1, 0x4, id);
    out.extend_from_slice(&head);
    common::h2_frame(out, 11, 0x0, 0x1, id);
    out.extend_from_slice(b"hello world");
}

/// Allocations made while running `requests` h2c requests, and the count sent.
fn allocations_h2c(port: u16, mode: Mode) -> (u64, u64) {
    let mut plan = common::get_plan(port, mode);
    plan.rounds[0].iterations[0].request.version = lps_config::HttpVersion::H2c;
    allocations_of(&plan, &one_thread())
}

#[test]
fn http2_allocates_nothing_per_request_either() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = common::RawH2::start(h2_hello);
    let r = |requests| Mode::Requests { requests };
    allocations_h2c(server.port, r(100));
    let (small, sent_small) = allocations_h2c(server.port, r(1_000));
    let (large, sent_large) = allocations_h2c(server.port, r(20_000));
    assert_eq!((sent_small, sent_large), (1_000, 20_000));
    let extra = large.saturating_sub(small);
    eprintln!("allocations: {small} for 1,000 h2c requests, {large} for 20,000");
    assert!(
        extra < 200,
        "{small} allocations for 1,000 requests, {large} for 20,000: {extra} more"
    );
    // Several streams at once on one connection (batches).
    let crb = |requests| Mode::CooldownRequestBatch {
        requests,
        batch: 8,
        cooldown: Duration::from_millis(20),
    };
    allocations_h2c(server.port, crb(80));
    let (small, sent_small) = allocations_h2c(server.port, crb(400));
    let (large, sent_large) = allocations_h2c(server.port, crb(1_200));
    assert_eq!((sent_small, sent_large), (400, 1_200));
    let extra = large.saturating_sub(small);
    eprintln!("allocations: {small} for 400 multiplexed h2c requests, {large} for 1,200");
    assert!(
        extra < 200,
        "{small} allocations for 400 requests, {large} for 1,200: {extra} more"
    );
}
