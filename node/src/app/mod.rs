//! The command line and the entry point of each role: a single node, a
//! master, a worker, `demo` and `target`; it words errors for the user and
//! turns them into exit codes.
//!
//! # Layout
//! - `cli`: the options (LPS spellings on top of clap).
//! - `plans`: plans from the quick-test options and from files.
//! - `options`: settings, engine options, report destinations, checked
//!   before a run.
//! - `single`, `master`, `worker`: a run on this node alone, or in one of
//!   the two roles of a cluster, each ending with the report.
//! - `demo`: the built-in target and a test of it.
//! - `board`: the dashboard around a run.
//! - `error`: [`Error`], each failure with what it is about, and its exit code.

mod board;
mod cli;
mod demo;
mod error;
mod master;
mod options;
mod plans;
mod single;
mod worker;

use std::process::ExitCode;

use lps_config::{Plan, Settings};
use lps_engine::RunOptions;

use crate::EXIT_OK;
use crate::cluster::{self, Role};
use crate::report::Model;
use crate::shutdown::{self, CancellationToken};
use cli::{Cli, ClusterArgs, Command, EngineArgs, OutputArgs, RoleArg, TargetArgs};
pub use error::Error;

/// Runs the `lps` command line and returns its exit code.
pub fn main(args: impl IntoIterator<Item = String>) -> ExitCode {
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lps: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(args: impl IntoIterator<Item = String>) -> Result<u8, Error> {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command()
        .try_get_matches_from(cli::normalize(args))
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return clap_exit(e),
    };
    if let Some(option) = plan_option_given_to_add(&matches) {
        return Err(Error::PlanOptionInAdd { option });
    }
    dispatch(cli)
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
fn clap_exit(e: clap::Error) -> Result<u8, Error> {
    use clap::error::ErrorKind as K;
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Nothing useful remains to do if stdout is gone.
            let _ = e.print();
            Ok(EXIT_OK)
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
            Err(Error::Usage {
                message: message.to_string(),
            })
        }
    }
}

fn dispatch(cli: Cli) -> Result<u8, Error> {
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
                return Err(Error::NoUrl);
            }
            let plan = plans::quick(&cli.quick)?;
            run_plan(&plan, &cli.engine, &cli.output, &cli.cluster, &stop)
        }
        Some(Command::Run {
            plan,
            select,
            engine,
            output,
            cluster,
        }) => {
            let plan = plans::load(&plan, &select)?;
            run_plan(&plan, &engine, &output, &cluster, &stop)
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
        Some(Command::Target(args)) => target(&args, &stop),
        Some(Command::Demo {
            engine,
            output,
            request_count,
            clients,
        }) => demo::run(&engine, &output, request_count, clients, &stop),
    }
}

/// `lps target`: serves the built-in target until the first Ctrl-C.
fn target(args: &TargetArgs, stop: &CancellationToken) -> Result<u8, Error> {
    let opts = lps_testbed::TargetOptions {
        listen: args.listen,
        threads: args.threads,
        record_arrivals: args.record_arrivals,
    };
    lps_testbed::run_until(opts, stop)?;
    Ok(EXIT_OK)
}

/// What a run of a plan needs, whatever the node's role, once the options
/// are checked.
struct Setup<'a> {
    plan: &'a Plan,
    opts: RunOptions,
    model: Model,
    output: &'a OutputArgs,
    settings: Settings,
    stop: &'a CancellationToken,
}

/// Runs a plan on this node alone, or as a master or worker when the
/// settings file has a `Cluster` section.
fn run_plan(
    plan: &Plan,
    engine: &EngineArgs,
    output: &OutputArgs,
    cluster_args: &ClusterArgs,
    stop: &CancellationToken,
) -> Result<u8, Error> {
    let settings = options::settings(cluster_args.settings.as_deref())?;
    let opts = options::engine(engine, &settings)?;
    options::check_outputs(output)?;
    let setup = Setup {
        plan,
        opts,
        model: options::model(engine),
        output,
        settings,
        stop,
    };
    let Some(cluster) = setup.settings.cluster.as_ref() else {
        return single::run(&setup);
    };
    let role = cluster::resolve_role(
        cluster,
        cluster_args.role.map(|r| match r {
            RoleArg::Master => Role::Master,
            RoleArg::Worker => Role::Worker,
        }),
        cluster_args.node_ip,
    );
    match role {
        Role::Master => master::run(&setup, cluster, cluster_args),
        Role::Worker => worker::run(&setup, cluster, cluster_args),
    }
}
