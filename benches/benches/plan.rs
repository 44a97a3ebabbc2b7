//! Reading plans: `parse_plan` (text to `PlanFile`) plus `into_plan` (checks,
//! URL parsing, defaults) for each example in `config/examples`.
//!
//! Plans are read once per run, so this guards against a regression that
//! would make large generated plans slow to load, not against per-request cost.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lps_config::{Format, Origin, parse_plan};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/examples")
}

fn parse(c: &mut Criterion) {
    let dir = examples();
    let mut group = c.benchmark_group("plan");
    for (file, format) in [("quick.yaml", Format::Yaml), ("mixed.json", Format::Json)] {
        let path = dir.join(file);
        // The examples are part of the repository.
        let text = std::fs::read_to_string(&path).expect("example plan is readable");
        // Fail before measuring if an example stopped being valid.
        let check = parse_plan(&text, file, format).and_then(|p| p.into_plan(Origin::new(file)));
        assert!(check.is_ok(), "{file}: {check:?}");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("parse+check", file), |b| {
            b.iter(|| {
                let origin = Origin::new(file)
                    .with_base_dir(&dir)
                    .with_source(&text, format);
                let plan = parse_plan(black_box(&text), file, format)
                    .and_then(|p| p.into_plan(origin))
                    .expect("checked above");
                black_box(plan)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = parse
}
criterion_main!(benches);
