//! Recording and merging: what every response costs a core, and what the
//! aggregator pays per snapshot.
//!
//! - `record_response/1M`: one million responses into one [`Stats`].
//! - `merge/full`: [`Stats::merge`] of two stats of a million responses each.
//! - `aggregate_add/64-cores`: [`Aggregate::add`] of 64 per-core snapshots,
//!   as the node does each interval on a 64-core machine.
//! - `snapshot/{encode,decode}`: a core snapshot to and from its wire form
//!   (HdrHistogram V2 + deflate), as a worker sends it and the master reads it.
//! - `stats_new`: the fresh [`Stats`] a core allocates per iteration and
//!   interval when it hands its snapshot over.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lps_benches::{filled_stats, latencies};
use lps_engine::{Aggregate, Snapshot, Stats};

// The `lps` binary's allocator: `Stats::new` and snapshot swaps allocate.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Snapshots per aggregate (cores of a large machine).
const CORES: usize = 64;
/// Responses per core snapshot: one second of a core at 20k requests/s.
const PER_CORE: usize = 20_000;

fn record(c: &mut Criterion) {
    let values = latencies(1_000_000, 1);
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(values.len() as u64));
    group.bench_function("record_response/1M", |b| {
        let mut stats = Stats::new();
        b.iter(|| {
            for &v in &values {
                stats.record_response(200, black_box(v), 40, 120);
            }
        });
        black_box(&stats);
    });
    group.finish();
}

fn merge(c: &mut Criterion) {
    let a = filled_stats(&latencies(1_000_000, 2));
    let b_stats = filled_stats(&latencies(1_000_000, 3));
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(1));
    group.bench_function("merge/full", |b| {
        // The cost of a merge depends on the histograms' shape (bucket
        // count), not on how many values they hold, so merging again and
        // again into one accumulator measures the same work each time.
        let mut acc = a.clone();
        b.iter(|| acc.merge(black_box(&b_stats)));
        black_box(&acc);
    });
    group.finish();
}

fn aggregate(c: &mut Criterion) {
    let snapshots: Vec<Snapshot> = (0..CORES)
        .map(|core| Snapshot {
            core,
            seq: 7,
            elapsed: Duration::from_secs(8),
            in_flight: 64,
            iterations: vec![filled_stats(&latencies(PER_CORE, 100 + core as u64))],
            last: false,
        })
        .collect();
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(CORES as u64));
    group.bench_function("aggregate_add/64-cores", |b| {
        let mut agg = Aggregate::new(1);
        b.iter(|| {
            for s in &snapshots {
                agg.add(black_box(s));
            }
        });
        assert!(agg.total().requests() >= (CORES * PER_CORE) as u64);
    });
    group.finish();
}

/// The wire form of a core snapshot (HdrHistogram V2 + deflate per
/// iteration): what a worker pays per snapshot and the master per snapshot
/// received.
fn wire(c: &mut Criterion) {
    let snapshot = Snapshot {
        core: 0,
        seq: 7,
        elapsed: Duration::from_secs(8),
        in_flight: 64,
        iterations: vec![filled_stats(&latencies(PER_CORE, 42))],
        last: false,
    };
    let encoded = lps::cluster::encode_snapshot(8, &snapshot);
    let mut group = c.benchmark_group("snapshot");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode/20k-responses", |b| {
        b.iter(|| lps::cluster::encode_snapshot(8, black_box(&snapshot)))
    });
    group.bench_function("decode/20k-responses", |b| {
        b.iter(|| lps::cluster::decode_snapshot(black_box(&encoded), 1, 1).expect("decodes"))
    });
    group.finish();
}

fn fresh(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Elements(1));
    group.bench_function("stats_new", |b| b.iter(Stats::new));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
        targets = record, merge, aggregate, wire, fresh
}
criterion_main!(benches);
