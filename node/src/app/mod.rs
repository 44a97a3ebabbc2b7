//! The command line and the entry point of each role: a single node, a
//! master, a worker, `demo` and `target`; it words errors for the user and
//! turns them into exit codes.
//!
//! # Layout
//! - `cli`: the options (LPS spellings on top of clap).
//! - `quick`: the LPS 3.x quick test's plan, and the iteration that
//!   `lps iteration` writes from the same options.
//! - `plans`: plans from files.
//! - `plan_cmd`: `lps create`, `round`, `iteration`, `capture`, `variable`.
//! - `settings_cmd`: `lps cluster`, `httpclient`, `dashboard`, `logger`,
//!   `watchdog`, `influxdb`.
//! - `options`: settings, engine options, report destinations, checked
//!   before a run.
//! - `single`, `master`, `worker`: a run on this node alone, or in one of
//!   the two roles of a cluster, each ending with the report.
//! - `demo`: the built-in target and a test of it.
//! - `board`: the dashboard around a run.
//! - `compare`: `lps compare`, two reports side by side, and its limits.
//! - `error`: [`Error`], each failure with what it is about, and its exit code.

mod board;
mod cli;
mod compare;
mod demo;
mod error;
mod master;
mod options;
mod plan_cmd;
mod plans;
mod quick;
mod settings_cmd;
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
    crate::logger::init();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            log::error!("lps: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(args: impl IntoIterator<Item = String>) -> Result<u8, Error> {
    use clap::{CommandFactory, FromArgMatches};
    let args = cli::normalize(args)?;
    let parsed = with_help(Cli::command())
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => dispatch(cli),
        Err(e) => clap_exit(e),
    }
}

/// The help of the options that clap does not define itself: those
/// `lps iteration` spells as `-rn`, `-g`, `-sd`, and the settings commands'.
fn with_help(cli: clap::Command) -> clap::Command {
    let iteration = "lps iteration's own options:\n  \
        -n, --name NAME        the iteration's name (required)\n  \
        -rn, --roundName NAME  the round to add it to [default: the plan's iterations]\n  \
        -g, --global [BOOL]    add it to the plan's iterations; with -rn, the round references it\n  \
        -sd, --startupDelay MS per client, before the iteration";
    let mut cli = cli.mut_subcommand("iteration", |c| c.after_help(iteration));
    for word in [
        "cluster",
        "httpclient",
        "dashboard",
        "logger",
        "watchdog",
        "influxdb",
    ] {
        cli = cli.mut_subcommand(word, |c| c.after_help(settings_cmd::help(word)));
    }
    cli
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
    let command = match cli.command {
        None => {
            if cli.quick.iteration.url.is_none() {
                return Err(Error::NoUrl);
            }
            let plan = quick::quick_plan(&cli.quick)?;
            let plan = quick::lowered(plan)?;
            shutdown::cancel_on_ctrl_c(&stop);
            return run_plan(&plan, &cli.engine, &cli.output, &cli.cluster, &stop);
        }
        Some(command) => command,
    };
    let done = match command {
        Command::Run {
            plan,
            select,
            engine,
            output,
            cluster,
        } => {
            shutdown::cancel_on_ctrl_c(&stop);
            let plan = plans::load(&plan, &select)?;
            return run_plan(&plan, &engine, &output, &cluster, &stop);
        }
        Command::Target(args) => {
            shutdown::cancel_on_ctrl_c(&stop);
            return target(&args, &stop);
        }
        Command::Demo {
            engine,
            output,
            request_count,
            clients,
        } => {
            shutdown::cancel_on_ctrl_c(&stop);
            return demo::run(&engine, &output, request_count, clients, &stop);
        }
        Command::Compare(args) => return compare::run(&args),
        Command::Create { plan, name } => plan_cmd::create(&plan, &name)?,
        Command::Round { plan, round } => plan_cmd::round(&plan, &round)?,
        Command::Iteration { plan, iteration } => plan_cmd::iteration(&plan, &iteration)?,
        Command::IterationRef { plan, round, name } => plan_cmd::reference(&plan, &round, &name)?,
        Command::Capture { plan, capture } => plan_cmd::capture(&plan, &capture)?,
        Command::Variable { plan, variable } => plan_cmd::variable(&plan, &variable)?,
        Command::Cluster(s) => settings(&s, "Cluster")?,
        Command::Httpclient(s) => settings(&s, "HttpClient")?,
        Command::Dashboard(s) => settings(&s, "Dashboard")?,
        Command::Logger(s) => settings(&s, "FileLogger")?,
        Command::Watchdog(s) => settings(&s, "Watchdog")?,
        Command::Influxdb(s) => settings(&s, "InfluxDB")?,
    };
    log::info!("lps: saved {done}");
    Ok(EXIT_OK)
}

/// A settings command: `section` of `--settings` (or the default file).
fn settings(args: &cli::SettingsArgs, section: &str) -> Result<String, Error> {
    let path = args
        .settings
        .clone()
        .unwrap_or_else(|| options::DEFAULT_SETTINGS.into());
    settings_cmd::apply(&path, section, &args.set)?;
    Ok(format!("{section} in {}", path.display()))
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
