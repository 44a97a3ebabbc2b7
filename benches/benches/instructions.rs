//! Instructions counted by callgrind (gungraun): figures a noisy machine
//! cannot move, compared with `benches/baselines/instructions.json` by
//! `perf/iai-check`.
//!
//! - `request/{h1,h2c,tls}_{2000,12000}`: a whole `lps_engine::start` run of
//!   one client sending 2,000 or 12,000 `GET /` on one keep-alive connection
//!   (HTTP/1.1 and h2c to `lps target`, HTTP/1.1 over TLS 1.3 to
//!   [`tls_peer`]). Only the engine thread is counted (callgrind toggles
//!   collection on `core_main`, per thread), never the peer in the same
//!   process; the check divides the difference of the two sizes by 10,000,
//!   so start-up, connect and handshake cancel out.
//! - `merge/{aggregate,wire}`: one core snapshot of 20,000 responses added
//!   to the node's aggregate, and the same snapshot decoded from its wire
//!   form and added, as the master does for each snapshot of each worker.
//! - `plan/lps3`: `lps3::parse` + `lps3::lower` of `benches/plans/shop.yaml`.
//!
//! Run with `cargo bench -p lps-benches --bench instructions` (valgrind and
//! `gungraun-runner` of the same version as the `gungraun` crate installed).

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use gungraun::{
    Callgrind, EntryPoint, LibraryBenchmarkConfig, library_benchmark, library_benchmark_group, main,
};
use lps_benches::{filled_stats, latencies, loopback_target, r_plan, tls_peer};
use lps_config::{Format, HttpVersion, Plan, Scheme, lps3};
use lps_engine::{Aggregate, RunOptions, Snapshot};

// The `lps` binary's allocator, so that counts match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The protocol of a request bench.
#[derive(Clone, Copy)]
enum Proto {
    H1,
    H2c,
    Tls,
}

/// A plan of `requests` requests from one client, and the peer it goes to
/// (kept alive for the run).
struct RequestRun {
    plan: Plan,
    opts: RunOptions,
    requests: u64,
    _target: Option<lps_testbed::TargetHandle>,
}

fn request_setup(path: Proto, requests: u64) -> RequestRun {
    let (addr, target): (SocketAddr, _) = match path {
        Proto::H1 | Proto::H2c => {
            let target = loopback_target();
            (target.local_addr(), Some(target))
        }
        Proto::Tls => (tls_peer(), None),
    };
    let mut plan = r_plan(addr, 1, requests);
    let request = &mut plan.rounds[0].iterations[0].request;
    match path {
        Proto::H1 => {}
        Proto::H2c => request.version = HttpVersion::H2c,
        Proto::Tls => request.target.scheme = Scheme::Https,
    }
    let opts = RunOptions {
        threads: 1,
        // The peer's certificate is self-signed.
        insecure: true,
        // One snapshot, the last: how many interval snapshots a run sends
        // depends on how fast valgrind runs it, which must not move a count.
        snapshot_interval: Duration::from_secs(3600),
        ..RunOptions::default()
    };
    RequestRun {
        plan,
        opts,
        requests,
        _target: target,
    }
}

/// Counts the engine thread only, wherever it runs: the peer and this
/// thread (which starts the run and drains its snapshots) are not counted.
fn engine_thread_only() -> LibraryBenchmarkConfig {
    let mut config = LibraryBenchmarkConfig::default();
    config.tool(
        Callgrind::default()
            .entry_point(EntryPoint::Custom("lps_engine::runner::core_main".into())),
    );
    config
}

#[library_benchmark(config = engine_thread_only())]
#[bench::h1_2000(args = (Proto::H1, 2_000), setup = request_setup)]
#[bench::h1_12000(args = (Proto::H1, 12_000), setup = request_setup)]
#[bench::h2c_2000(args = (Proto::H2c, 2_000), setup = request_setup)]
#[bench::h2c_12000(args = (Proto::H2c, 12_000), setup = request_setup)]
#[bench::tls_2000(args = (Proto::Tls, 2_000), setup = request_setup)]
#[bench::tls_12000(args = (Proto::Tls, 12_000), setup = request_setup)]
fn request(run: RequestRun) -> RequestRun {
    // The plan is valid and the peer local: start cannot fail.
    let engine =
        lps_engine::start(&run.plan, &run.opts, Default::default()).expect("engine starts");
    let mut agg = Aggregate::new(1);
    for snap in engine.snapshots().iter() {
        agg.add(&snap);
    }
    engine.join().expect("engine thread does not panic");
    // A failed connect would make a cheap run: the figure counts only when
    // every request was answered.
    assert_eq!(agg.total().ok, run.requests, "every request answered");
    run
}

/// Responses per core snapshot: one second of a core at 20k requests/s.
const PER_CORE: usize = 20_000;

fn core_snapshot(core: usize) -> Snapshot {
    Snapshot {
        core,
        seq: 7,
        elapsed: Duration::from_secs(8),
        in_flight: 64,
        iterations: vec![filled_stats(&latencies(PER_CORE, 100 + core as u64))],
        last: false,
    }
}

/// What one merge starts from: an aggregate that already holds one core's
/// snapshot, and the next snapshot, as the engine hands it over or in its
/// wire form.
enum MergeInput {
    Snapshot(Aggregate, Snapshot),
    Wire(Aggregate, lps_proto::Snapshot),
}

fn merge_setup(wire: bool) -> MergeInput {
    let mut agg = Aggregate::new(1);
    agg.add(&core_snapshot(0));
    let next = core_snapshot(1);
    if wire {
        MergeInput::Wire(agg, lps::cluster::encode_snapshot(8, &next))
    } else {
        MergeInput::Snapshot(agg, next)
    }
}

#[library_benchmark]
#[bench::aggregate(args = (false), setup = merge_setup)]
#[bench::wire(args = (true), setup = merge_setup)]
fn merge(input: MergeInput) -> (MergeInput, Option<Snapshot>) {
    match input {
        MergeInput::Snapshot(mut agg, snap) => {
            agg.add(black_box(&snap));
            (MergeInput::Snapshot(agg, snap), None)
        }
        MergeInput::Wire(mut agg, msg) => {
            // Encoded from a valid snapshot of a 1-iteration plan on core 1 of 2.
            let snap =
                lps::cluster::decode_snapshot(black_box(&msg), 1, 2).expect("valid snapshot");
            agg.add(&snap);
            (MergeInput::Wire(agg, msg), Some(snap))
        }
    }
}

fn plan_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/shop.yaml");
    // The plan is part of the repository.
    std::fs::read_to_string(path).expect("benches/plans/shop.yaml is readable")
}

#[library_benchmark]
#[bench::lps3(setup = plan_text)]
fn plan(text: String) -> (String, lps_config::Plan) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let loaded =
        lps3::parse(black_box(&text), "shop.yaml", Format::Yaml, &dir).expect("shop.yaml loads");
    let lowered = lps3::lower(loaded, "shop.yaml").expect("shop.yaml lowers");
    (text, lowered.plan)
}

library_benchmark_group!(name = requests, benchmarks = request);
library_benchmark_group!(name = merges, benchmarks = merge);
library_benchmark_group!(name = plans, benchmarks = plan);

main!(
    // Instructions are the figure; the cache simulation would only slow the runs.
    config = LibraryBenchmarkConfig::default().tool(Callgrind::with_args(["--cache-sim=no"]));
    library_benchmark_groups = requests, merges, plans
);
