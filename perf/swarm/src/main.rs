//! `lps-swarm`: plays N workers of C cores from one process against a real
//! `lps --role master`, to measure what the master takes at scale.
//!
//! Each fake worker opens its own gRPC connection and stream, registers as a
//! real worker does (protocol version, the plan's fingerprint, the secret),
//! waits for the start, then sends one snapshot at every whole second of the
//! run, heartbeats every 500 ms, its RoundDone and Finished at the end, and
//! reads the master's acks. As a real worker, each snapshot carries all its
//! cores' second: the exact merge of C cores' real engine `Stats` (a latency
//! histogram of many distinct values, connect times, status codes, errors,
//! bytes), encoded by lps's own wire encoder, built once per variant and
//! reused, so that the harness spends little per snapshot.
//!
//! Prints one JSON line: registrations, snapshots sent and acknowledged, the
//! requests they carry (to check the master's report against) and the lag
//! from each snapshot's send to the master's ack.
//!
//! # Layout
//! - `payload`: the snapshots' wire forms, built from engine stats.
//! - `worker`: one fake worker's session.
//! - `tally`: what the workers sent and the lags they saw, summed.

mod payload;
mod tally;
mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lps_config::{Plan, lps3};
use lps_proto as proto;

/// Plays many lps workers from one process against a real master.
#[derive(Debug, Parser)]
struct Args {
    /// The master's gRPC address.
    #[arg(long)]
    master: SocketAddr,
    /// The plan file the master runs (the same path: it is in the fingerprint).
    #[arg(long)]
    plan: PathBuf,
    /// The cluster secret.
    #[arg(long, default_value = "")]
    secret: String,
    /// Fake workers.
    #[arg(long, default_value_t = 100)]
    workers: u32,
    /// Cores per worker: each snapshot merges as many cores' second.
    #[arg(long, default_value_t = 16)]
    cores: u32,
    /// Seconds of the run: snapshots per worker.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Distinct latency values per iteration in each snapshot.
    #[arg(long, default_value_t = 1500)]
    distinct: usize,
    /// Different snapshots built; each send uses one of them in turn.
    #[arg(long, default_value_t = 16)]
    variants: usize,
    /// Threads of the harness's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Workers registering at once (the master closes all but 64
    /// connections that have not registered).
    #[arg(long, default_value_t = 32)]
    register_at_once: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = load_plan(&args.plan)?;
    let iterations = plan.rounds.iter().map(|r| r.iterations.len()).sum();
    let started = Instant::now();
    let payload = payload::Payload::build(
        iterations,
        args.distinct,
        args.variants,
        args.cores as usize,
    );
    eprintln!(
        "lps-swarm: {} variants of {} iterations merged from {} cores, {} bytes and {} requests per snapshot, built in {:.1} s",
        args.variants,
        iterations,
        args.cores,
        payload.bytes_per_snapshot(),
        payload.requests_per_snapshot(),
        started.elapsed().as_secs_f64()
    );
    let register = proto::Register {
        node_id: String::new(),
        host: "swarm".into(),
        cores: args.cores,
        lps_version: "swarm".into(),
        protocol_version: proto::PROTOCOL_VERSION,
        plan_fingerprint: lps::cluster::fingerprint(&plan),
        secret: args.secret.clone(),
        iterations: lps::cluster::iteration_names(&plan),
        instance: 0,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .context("building the runtime")?;
    let setup = Arc::new(worker::Setup {
        master: args.master,
        register,
        payload,
        seconds: args.seconds,
        registering: tokio::sync::Semaphore::new(args.register_at_once),
        tally: tally::Tally::default(),
        began: tokio::time::Instant::now(),
    });
    runtime.block_on(swarm(setup.clone(), args.workers));
    println!("{}", setup.tally.json(args.workers, args.cores));
    Ok(())
}

/// Runs every fake worker to its end.
async fn swarm(setup: Arc<worker::Setup>, workers: u32) {
    let tasks: Vec<_> = (0..workers)
        .map(|i| tokio::spawn(worker::run(setup.clone(), i)))
        .collect();
    for task in tasks {
        // A panicking worker task is counted as failed by the tally's totals.
        let _ = task.await;
    }
}

/// Loads a plan file as `lps run` does (with no round selection), so that
/// its fingerprint is the master's.
fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {file}"))?;
    let format = lps_config::Format::detect(Some(path), &text);
    if lps3::is_older_format(&text, format) {
        return Ok(lps_config::load_plan(path)?);
    }
    let loaded = lps3::load_with(path, &[])?;
    Ok(lps3::lower(loaded, &file)?.plan)
}
