//! The command line and the entry point of each role: a single node, a
//! master, a worker, `demo` and `target`; it turns errors into exit codes.

mod cli;
mod plans;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::cluster::{self, Role, master, worker};
use crate::dashboard::{self, Dashboard, live::Live};
use crate::local;
use crate::report::{self, Model, Report, RunInfo};
use crate::shutdown::{self, CancellationToken};
use cli::{Cli, ClusterArgs, Command, EngineArgs, OutputArgs, RoleArg};
use lps_config::Plan;
use lps_config::Settings;
use std::sync::Arc;

use crate::{BadInput, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK};

/// Runs the `lps` command line and returns its exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command()
        .try_get_matches_from(cli::normalize(args))
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return clap_exit(e),
    };
    if let Some(option) = plan_option_given_to_add(&matches) {
        eprintln!(
            "lps: error: lps add adds an iteration; --{option} is the plan's: edit it in the file"
        );
        return ExitCode::from(EXIT_BAD_INPUT);
    }
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

/// The plan-level option given to `lps add`, which would otherwise be
/// ignored: `add` only appends an iteration to the plan in the file.
fn plan_option_given_to_add(matches: &clap::ArgMatches) -> Option<&'static str> {
    let ("add", sub) = matches.subcommand()? else {
        return None;
    };
    [
        ("test_name", "testName"),
        ("clients", "numberOfClients"),
        ("rampup_ms", "rampupPeriod"),
        ("delay_client_creation", "delayClientCreation"),
        ("run_in_parallel", "runInParallel"),
    ]
    .into_iter()
    .find(|(id, _)| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine))
    .map(|(_, option)| option)
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
            // The message is its first paragraph; a list it announces with
            // a colon (missing arguments, conflicts) follows on its own lines.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("lps: error: {message} (see 'lps --help')");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    // The one stop signal of this process: Ctrl-C cancels it, and every
    // part of a run is handed it (or a child of it).
    let stop = CancellationToken::new();
    if !matches!(
        cli.command,
        Some(Command::Create { .. } | Command::Add { .. })
    ) {
        shutdown::cancel_on_ctrl_c(&stop);
    }
    match cli.command {
        None => {
            if cli.quick.url.is_none() {
                return Err(BadInput(
                    "no --url given and no command; try 'lps demo' or 'lps --help'".into(),
                )
                .into());
            }
            let plan = plans::quick(&cli.quick)?;
            run_and_report(&plan, &cli.engine, &cli.output, &cli.cluster, &stop)
        }
        Some(Command::Run {
            plan,
            engine,
            output,
            cluster,
        }) => {
            let plan = plans::load(&plan)?;
            run_and_report(&plan, &engine, &output, &cluster, &stop)
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
            // The first Ctrl-C stops the target cleanly.
            lps_testbed::run_until(
                lps_testbed::TargetOptions {
                    listen: args.listen,
                    threads: args.threads,
                    record_arrivals: args.record_arrivals,
                },
                &stop,
            )?;
            Ok(EXIT_OK)
        }
        Some(Command::Demo {
            engine,
            output,
            request_count,
            clients,
        }) => demo(&engine, &output, request_count, clients, &stop),
    }
}

/// `lps demo`: the built-in target on a free loopback port, and a test of it.
fn demo(
    engine: &EngineArgs,
    output: &OutputArgs,
    requests: u64,
    clients: u32,
    stop: &CancellationToken,
) -> anyhow::Result<u8> {
    // The demo is always single-node, whatever the settings say.
    let opts = engine_options(engine, &Settings::default())?;
    check_outputs(output)?;
    let threads = lps_engine::thread_count(engine.threads);
    let handle = lps_testbed::spawn(lps_testbed::TargetOptions {
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
    let model = match engine.rate {
        Some(rate) => Model::Open { rate },
        None => Model::Closed,
    };
    let code = local::run(&plan, &opts, |_| {}, stop, None, || {})
        .map_err(engine_error)
        .and_then(|outcome| write_report(&plan, &outcome, model, output, None, None));
    handle.stop();
    code
}

/// Runs a plan on this node alone, or as a master or worker when the
/// settings file has a `Cluster` section.
fn run_and_report(
    plan: &Plan,
    engine: &EngineArgs,
    output: &OutputArgs,
    cluster_args: &ClusterArgs,
    stop: &CancellationToken,
) -> anyhow::Result<u8> {
    let settings = match &cluster_args.settings {
        Some(path) => Some(Settings::load(path).map_err(|e| BadInput(e.to_string()))?),
        None => Settings::load_default_if_exists(Path::new(DEFAULT_SETTINGS))
            .map_err(|e| BadInput(e.to_string()))?,
    }
    .unwrap_or_default();
    let opts = engine_options(engine, &settings)?;
    check_outputs(output)?;
    let model = match engine.rate {
        Some(rate) => Model::Open { rate },
        None => Model::Closed,
    };
    let Some(cluster_settings) = settings.cluster.clone() else {
        let live = output.dashboard.then(|| Live::new(plan, model));
        let board = live
            .as_ref()
            .and_then(|l| start_dashboard(l, output, &settings));
        let outcome = local::run(
            plan,
            &opts,
            |snap| {
                if let Some(live) = &live {
                    live.add("local", snap);
                }
            },
            stop,
            live.as_deref(),
            || {},
        )
        .map_err(engine_error)?;
        let code = write_report(plan, &outcome, model, output, None, live.as_deref())?;
        linger(board, output, stop);
        return Ok(code);
    };
    let role = cluster::resolve_role(
        &cluster_settings,
        cluster_args.role.map(|r| match r {
            RoleArg::Master => Role::Master,
            RoleArg::Worker => Role::Worker,
        }),
        cluster_args.node_ip,
    );
    let secret = cluster::secret(&cluster_settings);
    let grpc = SocketAddr::new(cluster_settings.master_node_ip, cluster_settings.grpc_port);
    match role {
        Role::Master => {
            let listen = cluster_args.grpc_listen.unwrap_or(grpc);
            if secret.is_none() && !listen.ip().is_loopback() {
                return Err(BadInput(format!(
                                        "Cluster.Secret (or {}) is required when the master listens on {listen}, beyond loopback",
                    cluster::SECRET_ENV
                ))
                .into());
            }
            let cfg = master::MasterConfig {
                listen,
                secret,
                expected_workers: cluster_settings.expected_number_of_workers,
                master_is_worker: cluster_settings.master_node_is_worker,
                heartbeat_timeout: cluster_settings.heartbeat_timeout,
                tls: match &cluster_settings.tls {
                    Some(tls) => Some((read_pem(&tls.certificate)?, read_pem(&tls.key)?)),
                    None => None,
                },
            };
            // The master always hosts the dashboard.
            let live = Live::new(plan, model);
            let board = start_dashboard(&live, output, &settings);
            let done =
                master::run(plan, cfg, &opts, Some(live.clone()), stop).map_err(engine_error)?;
            let code = write_report(
                plan,
                &done.outcome,
                model,
                output,
                Some(done.nodes),
                Some(&live),
            )?;
            linger(board, output, stop);
            Ok(code)
        }
        Role::Worker => {
            let host = cluster_args
                .node_ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(hostname);
            let node_id = cluster_args
                .node_id
                .clone()
                .unwrap_or_else(|| format!("{host}-{}", std::process::id()));
            let cfg = worker::WorkerConfig {
                master: grpc,
                secret,
                connect_timeout: cluster_settings.connect_timeout,
                node_id: node_id.clone(),
                host,
                tls_ca: match &cluster_settings.tls {
                    Some(tls) => Some(read_pem(
                        tls.ca_certificate.as_ref().unwrap_or(&tls.certificate),
                    )?),
                    None => None,
                },
            };
            let done = worker::run(plan, cfg, &opts, stop).map_err(engine_error)?;
            let mut output = output.clone();
            if let Some(why) = &done.master_gone {
                // The master has not got everything: the full local result
                // must land on disk, whatever else was asked for.
                let path = output
                    .json
                    .clone()
                    .filter(|p| p.as_path() != Path::new("-"))
                    .unwrap_or_else(|| PathBuf::from(format!("lps-worker-{node_id}.json")));
                eprintln!(
                    "lps worker: {why}; the full local result is written to {}",
                    path.display()
                );
                output.json = Some(path);
            } else if done.delivered {
                eprintln!("lps worker: every snapshot reached the master");
            }
            write_report(plan, &done.outcome, model, &output, None, None)
        }
    }
}

/// Starts the dashboard; a dashboard that cannot start is reported, and
/// the test runs without it.
fn start_dashboard(
    live: &Arc<Live>,
    output: &OutputArgs,
    settings: &Settings,
) -> Option<Dashboard> {
    let listen = output
        .dashboard_listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], settings.dashboard.port)));
    match dashboard::serve(live.clone(), listen, settings.dashboard.token.clone()) {
        Ok(board) => {
            eprintln!("lps: dashboard at http://{}/", board.local_addr());
            Some(board)
        }
        Err(e) => {
            eprintln!("lps: dashboard not started: {e:#}");
            None
        }
    }
}

/// Keeps the dashboard up for `--dashboard-linger` seconds after the run,
/// so the final report can be read and downloaded; Ctrl-C ends it.
fn linger(board: Option<Dashboard>, output: &OutputArgs, stop: &CancellationToken) {
    let Some(board) = board else { return };
    if output.dashboard_linger > 0 && !stop.is_cancelled() {
        eprintln!(
            "lps: the dashboard stays at http://{}/ for {} s (Ctrl-C to exit)",
            board.local_addr(),
            output.dashboard_linger
        );
        let until = std::time::Instant::now()
            + Duration::from_secs(output.dashboard_linger).min(lps_config::LONGEST);
        while std::time::Instant::now() < until && !stop.is_cancelled() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    board.stop();
}

/// This machine's name: workers in containers all start as PID 1, so the
/// default node id needs more than the pid to tell them apart.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_string())
}

/// Reads a PEM file named in the settings.
fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| {
        BadInput(format!(
            "cannot read {} (Cluster TLS settings): {e}",
            path.display()
        ))
    })?;
    // tonic only parses it when the server starts, and names no file.
    if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(BadInput(format!(
            "{} (Cluster TLS settings) is not PEM: it has no -----BEGIN line",
            path.display()
        ))
        .into());
    }
    Ok(pem)
}

/// The settings file read when `--settings` is not given.
const DEFAULT_SETTINGS: &str = "config/lpsSettings.json";

/// What the failures were and where they went: `3 connect against
/// http://127.0.0.1:1/`, so the one line says what to look at.
fn why_all_failed(plan: &Plan, total: &lps_engine::Stats) -> String {
    let mut causes: Vec<String> = lps_engine::ErrorKind::ALL
        .iter()
        .filter(|k| total.errors(**k) > 0)
        .map(|k| format!("{} {}", total.errors(*k), k.as_str()))
        .collect();
    causes.extend(
        total
            .status_codes()
            .into_iter()
            .filter(|(code, _)| !lps_engine::is_success(*code))
            .map(|(code, n)| format!("{n} HTTP {code}")),
    );
    let mut urls: Vec<String> = Vec::new();
    for it in plan.rounds.iter().flat_map(|r| &r.iterations) {
        let url = it.request.target.url();
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    format!("{} against {}", causes.join(", "), urls.join(", "))
}

/// Fails before the run, not after it, when a report file cannot be written.
fn check_outputs(output: &OutputArgs) -> anyhow::Result<()> {
    let files = [("--json", &output.json), ("--histogram", &output.histogram)];
    for (option, path) in files {
        let Some(path) = path.as_deref().filter(|p| *p != Path::new("-")) else {
            continue;
        };
        // Appending changes nothing in a file that exists; the report replaces it.
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| BadInput(format!("{option}: cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// The engine's options: the command line's, else the settings'.
fn engine_options(
    engine: &EngineArgs,
    settings: &Settings,
) -> anyhow::Result<lps_engine::RunOptions> {
    let timeout = match engine.timeout {
        None => settings.http_client.timeout,
        Some(seconds) => lps_config::positive_seconds(seconds).ok_or_else(|| {
            BadInput(format!(
                "--timeout must be a positive number of seconds up to a year, got {seconds}"
            ))
        })?,
    };
    let opts = lps_engine::RunOptions {
        threads: engine.threads,
        timeout,
        rate: engine.rate,
        insecure: engine.insecure,
        ..Default::default()
    };
    opts.check().map_err(|e| engine_error(e.into()))?;
    Ok(opts)
}

/// Engine errors about the plan or options are bad input (exit 2).
fn engine_error(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<lps_engine::EngineError>() {
        Ok(e) if e.is_bad_input() => BadInput(engine_wording(&e)).into(),
        Ok(e) => e.into(),
        Err(e) => e,
    }
}

/// An engine error about the options in this command line's words.
fn engine_wording(e: &lps_engine::EngineError) -> String {
    use lps_engine::EngineError as E;
    match e {
        E::Rate(rate) => format!(
            "--rate must be a positive number of requests per second, at least one a year, got {rate}"
        ),
        E::RateMode { iteration, mode } => {
            format!("--rate applies to modes R and D; iteration \"{iteration}\" uses {mode}")
        }
        E::Threads { given, max } => format!("--threads must be at most {max}, got {given}"),
        E::Timeout => "--timeout must be greater than zero and at most a year".into(),
        other => other.to_string(),
    }
}

/// Writes the JSON report and histogram log, prints the summary, and
/// returns the exit code the results call for.
fn write_report(
    plan: &Plan,
    outcome: &local::Outcome,
    model: Model,
    output: &OutputArgs,
    nodes: Option<Vec<report::NodeReport>>,
    live: Option<&Live>,
) -> anyhow::Result<u8> {
    let info = RunInfo {
        plan,
        model,
        started_at: outcome.started_at,
        duration: outcome.duration,
        threads: outcome.threads,
        interrupted: outcome.interrupted,
    };
    let mut report = Report::new(&info, &outcome.aggregate);
    report.nodes = nodes;
    let total = outcome.aggregate.total();
    // Files first: the console may be gone (a closed pipe) but the report must not be lost.
    if let Some(path) = &output.json {
        report.write_json(path)?;
    }
    let mut entries: Vec<(&str, &hdrhistogram::Histogram<u64>)> = vec![("total", &total.latency)];
    for (it, stats) in report.iterations.iter().zip(&outcome.aggregate.iterations) {
        entries.push((it.name.as_str(), &stats.latency));
    }
    if let Some(path) = &output.histogram {
        report::write_histogram_log(path, outcome.started_at, outcome.duration, &entries)?;
    }
    if let Some(live) = live {
        let json =
            serde_json::to_string_pretty(&report).context("cannot encode the JSON report")?;
        let log = report::histogram_log(outcome.started_at, outcome.duration, &entries)?;
        live.finish(
            json,
            log,
            if outcome.interrupted {
                "Cancelled"
            } else {
                "Completed"
            },
        );
    }
    if !output.quiet {
        let to_stdout = output.json.as_deref() != Some(Path::new("-"));
        let text = report.render(&total.latency);
        if to_stdout {
            print!("{text}");
        } else {
            eprint!("{text}");
        }
    }
    if total.requests() > 0 && total.ok == 0 {
        eprintln!(
            "lps: every request failed: {}",
            why_all_failed(plan, &total)
        );
        return Ok(EXIT_FAILED);
    }
    if total.requests() == 0 && !outcome.interrupted {
        eprintln!("lps: no request completed");
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}
