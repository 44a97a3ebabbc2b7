//! The `lps` command: the LPS command line, local runs, reports and the
//! built-in target. `main.rs` only calls [`main`], so integration tests can
//! drive the same code.
//!
//! # Layout
//! - `cli`: options (LPS spellings normalised for clap).
//! - `plans`: turning options and plan files into a checked plan.
//! - `local`: running a plan on this node, with progress and Ctrl-C.
//! - `report`: console summary, JSON report, histogram log.
//! - `target`: the built-in HTTP target (`lps target`, `lps demo`).
//! - `interrupt`: Ctrl-C handling.
//!
//! Exit codes: [`EXIT_OK`] 0, [`EXIT_FAILED`] 1 (the test failed: every
//! request failed, or the run could not complete), [`EXIT_BAD_INPUT`] 2.

mod cli;
mod interrupt;
mod local;
mod plans;
pub mod report;
pub mod target;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, EngineArgs, OutputArgs};
use lps_config::Plan;
use report::{Model, Report, RunInfo};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;

/// An error in what the user gave (options, plan, settings): exit code 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Runs the `lps` command line and returns its exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    let cli = match Cli::try_parse_from(cli::normalize(args)) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(bad) = e.downcast_ref::<BadInput>() {
                eprintln!("lps: error: {bad}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
            eprintln!("lps: error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// clap's help and version go to stdout with 0; usage errors become one line
/// and exit 2.
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as K;
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Nothing useful remains to do if stdout is gone.
            let _ = e.print();
            ExitCode::from(EXIT_OK)
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("lps: error: {first} (see 'lps --help')");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        None => {
            if cli.quick.url.is_none() {
                return Err(BadInput(
                    "no --url given and no command; try 'lps demo' or 'lps --help'".into(),
                )
                .into());
            }
            let plan = plans::quick(&cli.quick)?;
            run_and_report(&plan, &cli.engine, &cli.output)
        }
        Some(Command::Run {
            plan,
            engine,
            output,
        }) => {
            let plan = plans::load(&plan)?;
            run_and_report(&plan, &engine, &output)
        }
        Some(Command::Create { plan, quick }) => {
            plans::create(&plan, &quick)?;
            eprintln!("lps: created {}", plan.display());
            Ok(EXIT_OK)
        }
        Some(Command::Add { plan, round, quick }) => {
            plans::add(&plan, round.as_deref(), &quick)?;
            eprintln!(
                "lps: added iteration {} to {}",
                quick.run_name,
                plan.display()
            );
            Ok(EXIT_OK)
        }
        Some(Command::Target(args)) => {
            interrupt::install();
            // The first Ctrl-C stops the target cleanly.
            target::run_until(
                target::TargetOptions {
                    listen: args.listen,
                    threads: args.threads,
                    record_arrivals: args.record_arrivals,
                },
                interrupt::requested,
            )?;
            Ok(EXIT_OK)
        }
        Some(Command::Demo {
            engine,
            output,
            request_count,
            clients,
        }) => demo(&engine, &output, request_count, clients),
    }
}

/// `lps demo`: the built-in target on a free loopback port, and a test of it.
fn demo(
    engine: &EngineArgs,
    output: &OutputArgs,
    requests: u64,
    clients: u32,
) -> anyhow::Result<u8> {
    let threads = lps_engine::thread_count(engine.threads);
    let handle = target::spawn(target::TargetOptions {
        listen: "127.0.0.1:0".parse().context("loopback address")?,
        threads,
        record_arrivals: false,
    })?;
    let addr = handle.local_addr();
    eprintln!(
        "lps demo: built-in target on http://{addr}/; sending {requests} requests from each of {clients} clients"
    );
    let quick = cli::QuickArgs {
        url: Some(format!("http://{addr}/")),
        method: "GET".into(),
        http_version: "1.1".into(),
        test_name: "Demo".into(),
        run_name: "hello".into(),
        clients,
        run_in_parallel: true,
        request_count: Some(requests),
        ..Default::default()
    };
    let plan = plans::quick(&quick)?;
    let code = run_and_report(&plan, engine, output);
    handle.stop();
    code
}

fn run_and_report(plan: &Plan, engine: &EngineArgs, output: &OutputArgs) -> anyhow::Result<u8> {
    interrupt::install();
    if !(engine.timeout.is_finite() && engine.timeout > 0.0) {
        return Err(BadInput(format!(
            "--timeout must be a positive number of seconds, got {}",
            engine.timeout
        ))
        .into());
    }
    let opts = lps_engine::RunOptions {
        threads: engine.threads,
        timeout: Duration::from_secs_f64(engine.timeout),
        rate: engine.rate,
        insecure: engine.insecure,
        ..Default::default()
    };
    let outcome = match local::run(plan, &opts, |_| {}) {
        Ok(o) => o,
        Err(e) => {
            return match e.downcast::<lps_engine::EngineError>() {
                Ok(lps_engine::EngineError::Invalid(msg)) => Err(BadInput(msg).into()),
                Ok(e @ lps_engine::EngineError::Resolve { .. }) => {
                    Err(BadInput(e.to_string()).into())
                }
                Ok(e) => Err(e.into()),
                Err(e) => Err(e),
            };
        }
    };
    let model = match engine.rate {
        Some(rate) => Model::Open { rate },
        None => Model::Closed,
    };
    let info = RunInfo {
        plan,
        model,
        started_at: outcome.started_at,
        duration: outcome.duration,
        threads: outcome.threads,
        interrupted: outcome.interrupted,
    };
    let report = Report::new(&info, &outcome.aggregate);
    let total = outcome.aggregate.total();
    // Files first: the console may be gone (a closed pipe) but the report must not be lost.
    if let Some(path) = &output.json {
        report.write_json(path)?;
    }
    if let Some(path) = &output.histogram {
        let mut entries: Vec<(&str, &hdrhistogram::Histogram<u64>)> =
            vec![("total", &total.latency)];
        for (it, stats) in report.iterations.iter().zip(&outcome.aggregate.iterations) {
            entries.push((it.name.as_str(), &stats.latency));
        }
        report::write_histogram_log(path, outcome.started_at, outcome.duration, &entries)?;
    }
    if !output.quiet {
        let to_stdout = output.json.as_deref() != Some(std::path::Path::new("-"));
        let text = report.render(&total.latency);
        if to_stdout {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
    }
    if total.requests() > 0 && total.ok == 0 {
        eprintln!("lps: every request failed");
        return Ok(EXIT_FAILED);
    }
    if total.requests() == 0 && !outcome.interrupted {
        eprintln!("lps: no request completed");
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}
