//! The command line: LPS's options (short forms such as `-rc`, camelCase long
//! names matched case-insensitively) on top of clap.
//!
//! clap knows only one-letter short options, so [`normalize`] first rewrites
//! LPS spellings (`-nc 4`, `--NumberOfClients=4`, `--maximize-throughput`) to
//! the canonical long names that the clap definitions below use.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// lps — distributed load, performance and stress testing.
#[derive(Debug, Parser)]
#[command(
    name = "lps",
    version,
    disable_help_flag = true,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  lps demo                                   start the built-in target and test it\n  lps --url http://127.0.0.1:8080/ -rc 1000 -nc 4\n  lps -u http://127.0.0.1:8080/ -im D -d 10 -nc 64 --rate 20000\n  lps run config/examples/quick.yaml --json report.json\n  lps target --listen 127.0.0.1:8080\n  lps compare base.json new.json --max-regression p99=10%,rps=5%\n\nExit codes: 0 ok, 1 the test failed (every request failed), 2 bad input, 3 an output could not be written, 4 a limit was exceeded (lps compare)."
)]
pub struct Cli {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help, global = true)]
    help: Option<bool>,

    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub quick: QuickArgs,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// Cluster mode: which node this is. The `Cluster` section of the settings
/// file turns it on.
#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    /// Settings file [default: config/lpsSettings.json when it exists].
    #[arg(long, value_name = "PATH", help_heading = "Cluster")]
    pub settings: Option<PathBuf>,
    /// This node's role [default: master when its address is Cluster.MasterNodeIP].
    #[arg(long, value_enum, help_heading = "Cluster")]
    pub role: Option<RoleArg>,
    /// This node's address, compared with Cluster.MasterNodeIP and shown in reports.
    #[arg(long = "node-ip", value_name = "ADDR", help_heading = "Cluster")]
    pub node_ip: Option<std::net::IpAddr>,
    /// Master: the address to listen on for workers [default:
    /// Cluster.MasterNodeIP:GRPCPort]; e.g. 0.0.0.0:5001 behind a Kubernetes Service.
    #[arg(long = "grpc-listen", value_name = "ADDR", help_heading = "Cluster")]
    pub grpc_listen: Option<SocketAddr>,
    /// This node's id in the cluster [default: --node-ip, else the hostname, then -PID].
    #[arg(long = "node-id", value_name = "ID", help_heading = "Cluster")]
    pub node_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    Master,
    Worker,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a saved plan (YAML or JSON).
    Run {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        select: RunArgs,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Create a plan file, or set the name of an existing one.
    Create {
        /// The plan file (.yaml, .yml or .json).
        plan: PathBuf,
        /// The plan's name.
        #[arg(long = "name", value_name = "NAME", required = true)]
        name: String,
    },
    /// Add a round to a plan file, or replace the one of that name.
    Round {
        /// The plan file (created, named Default, when missing).
        plan: PathBuf,
        #[command(flatten)]
        round: RoundArgs,
    },
    /// Add an iteration to a round (or to the plan's iterations), or replace
    /// the one of that name; `lps iteration PLAN ref -rn ROUND -n NAME`
    /// makes a round reference one of the plan's iterations.
    Iteration {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        iteration: IterationArgs,
    },
    /// `lps iteration PLAN ref` (rewritten to this name by [`normalize`]).
    #[command(name = "iteration-ref", hide = true)]
    IterationRef {
        /// The plan file.
        plan: PathBuf,
        /// [-rn] The round.
        #[arg(long = "roundName", value_name = "NAME", required = true)]
        round: String,
        /// [-n] The plan-level iteration to reference.
        #[arg(long = "name", value_name = "NAME", required = true)]
        name: String,
    },
    /// Set the capture of an iteration's response.
    Capture {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        capture: CaptureArgs,
    },
    /// Add a variable to the plan (or to environments), or replace the one
    /// of that name.
    Variable {
        /// The plan file.
        plan: PathBuf,
        #[command(flatten)]
        variable: VariableArgs,
    },
    /// Set keys of the settings file's Cluster section.
    Cluster(SettingsArgs),
    /// Set keys of the settings file's HttpClient section.
    Httpclient(SettingsArgs),
    /// Set keys of the settings file's Dashboard section.
    Dashboard(SettingsArgs),
    /// Set keys of the settings file's FileLogger section.
    Logger(SettingsArgs),
    /// Set keys of the settings file's Watchdog section.
    Watchdog(SettingsArgs),
    /// Set keys of the settings file's InfluxDB section.
    Influxdb(SettingsArgs),
    /// Serve the built-in HTTP target (h1 and h2c on one port).
    Target(TargetArgs),
    /// Start the built-in target and run a short test against it.
    Demo {
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Requests per client.
        #[arg(long = "requestCount", short = 'n', default_value_t = 20_000)]
        request_count: u64,
        /// Concurrent clients.
        #[arg(long = "numberOfClients", short = 'c', default_value_t = 32)]
        clients: u32,
    },
    /// Compare two JSON reports (a baseline and a new run) iteration by
    /// iteration; with limits, exit 4 when the new run exceeds one.
    Compare(CompareArgs),
}

/// `lps compare`'s options.
#[derive(Debug, Args)]
#[command(
    after_help = "Limits: FIGURE=AMOUNT[,...]; figures requests, rps, error_rate, p50, p90, p99, \
                  p99.9, max; N% relative to the baseline, or absolute: latencies in µs or \
                  with us/ms/s, rps, requests, error_rate as a fraction (0.01) or in points (1pp).\n\
                  Exit codes: 0 no limit exceeded, 2 bad input, 4 a limit exceeded."
)]
pub struct CompareArgs {
    /// The baseline's JSON report (`--json` of an earlier run).
    pub base: PathBuf,
    /// The new run's JSON report.
    pub new: PathBuf,
    /// How much worse each figure may get, e.g. p99=10%,rps=5%,error_rate=0.01.
    #[arg(long = "max-regression", value_name = "LIMITS")]
    pub max_regression: Option<String>,
    /// The same limits from a file: a map of figure to amount (JSON, or YAML).
    #[arg(long, value_name = "FILE", conflicts_with = "max_regression")]
    pub limits: Option<PathBuf>,
    /// Both runs' histogram logs (`--histogram`), for the full distributions.
    #[arg(long, num_args = 2, value_names = ["BASE", "NEW"])]
    pub histograms: Option<Vec<PathBuf>>,
    /// A change within this many percent is `same` (the error rate: 0.1 points).
    #[arg(
        long,
        value_name = "PCT",
        default_value_t = 2.0,
        allow_hyphen_values = true
    )]
    pub noise: f64,
    /// Also write the comparison as JSON to PATH ('-': stdout, instead of the table).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// Which rounds of a plan run, and with which environments.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// [-rn] Run only these rounds (names, any case; several after one -rn).
    #[arg(long = "roundName", value_name = "NAME", help_heading = "Plan")]
    pub rounds: Vec<String>,
    /// [-t] Also run the rounds that have any of these tags.
    #[arg(long = "tag", value_name = "TAG", help_heading = "Plan")]
    pub tags: Vec<String>,
    /// [-e] Load these environments' variables, in this order.
    #[arg(long = "environment", value_name = "NAME", help_heading = "Plan")]
    pub environments: Vec<String>,
}

/// A settings command's options, as `--set=Option=value` pairs that
/// [`normalize`] makes from the command's LPS options (see
/// `settings_cmd::OPTIONS`).
#[derive(Debug, Args, Clone)]
pub struct SettingsArgs {
    /// Settings file [default: config/lpsSettings.json].
    #[arg(long, value_name = "PATH")]
    pub settings: Option<PathBuf>,
    #[arg(long = "set", hide = true)]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Server threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Record each request's arrival time (served at /stats; for tests).
    #[arg(long)]
    pub record_arrivals: bool,
}

/// The LPS 3.x quick-test options: one plan with one round of one iteration.
/// Values are kept as written: the plan they make is checked as a file is.
#[derive(Debug, Args, Default, Clone)]
pub struct QuickArgs {
    /// [-n] Plan name.
    #[arg(
        long = "name",
        value_name = "NAME",
        help_heading = "Plan",
        default_value = "Quick-Test-Plan"
    )]
    pub name: String,
    /// [-rn] Round name.
    #[arg(
        long = "roundName",
        value_name = "NAME",
        help_heading = "Plan",
        default_value = "Quick-Test-Round"
    )]
    pub round_name: String,
    /// [-sd] Round startup delay, ms [default: 0].
    #[arg(long = "startupDelay", value_name = "MS", help_heading = "Plan")]
    pub startup_delay: Option<String>,
    /// [-nc] Concurrent clients; each runs the iteration.
    #[arg(
        long = "numberOfClients",
        value_name = "N",
        help_heading = "Plan",
        default_value = "1"
    )]
    pub clients: String,
    /// [-ad] Delay in ms between consecutive clients' starts [default: 0].
    #[arg(long = "arrivalDelay", value_name = "MS", help_heading = "Plan")]
    pub arrival_delay: Option<String>,
    /// [-dcc] Create each client only when it starts [default: false].
    #[arg(long = "delayClientCreation", value_name = "BOOL", help_heading = "Plan", num_args = 0..=1, default_missing_value = "true")]
    pub delay_client_creation: Option<String>,
    /// [-rip] Run the round's iterations of a client concurrently [default: false].
    #[arg(long = "runInParallel", value_name = "BOOL", help_heading = "Plan", num_args = 0..=1, default_missing_value = "true")]
    pub run_in_parallel: Option<String>,

    /// [-s] Accepted and ignored, as LPS does.
    #[arg(long = "save", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub save: Option<String>,

    #[command(flatten)]
    pub iteration: IterationArgs,
}

/// An iteration's options: the quick test's and `lps iteration`'s.
#[derive(Debug, Args, Default, Clone)]
pub struct IterationArgs {
    /// [-in] Iteration name (`lps iteration`: -n, required) [default: Quick-Http-Iteration].
    #[arg(
        id = "iteration_name",
        long = "iterationName",
        value_name = "NAME",
        help_heading = "Plan"
    )]
    pub name: Option<String>,
    /// [-rn] `lps iteration`: the round to add to [default: the plan's iterations].
    #[arg(long = "iterationRound", value_name = "NAME", hide = true)]
    pub round: Option<String>,
    /// [-g] `lps iteration`: add to the plan's iterations, and reference it from -rn.
    #[arg(long = "global", value_name = "BOOL", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub global: Option<String>,
    /// [-sd] `lps iteration`: per-client delay before the iteration, ms.
    #[arg(
        id = "iteration_startup_delay",
        long = "iterationStartupDelay",
        value_name = "MS",
        hide = true
    )]
    pub startup_delay: Option<String>,
    /// [-u] Target URL (http:// or https://); required.
    #[arg(long = "url", value_name = "URL", help_heading = "Request")]
    pub url: Option<String>,
    /// [-hm, --method] HTTP method (`lps iteration`: required) [default: GET].
    #[arg(long = "httpMethod", value_name = "METHOD", help_heading = "Request")]
    pub method: Option<String>,
    /// [-h] Request header "Name: value" (repeat -h, or give several after one).
    #[arg(long = "header", value_name = "HEADER", help_heading = "Request")]
    pub headers: Vec<String>,
    /// [-p] Request body: text, Path:FILE (the file's text) or URL:URL (the body of a GET, fetched at start).
    #[arg(
        long = "payload",
        value_name = "TEXT|Path:FILE|URL:URL",
        help_heading = "Request"
    )]
    pub payload: Option<String>,
    /// [-hv] HTTP version: 1.0, 1.1 or 2.0 (h2 by ALPN on https://; on http:// with -h2c only).
    #[arg(
        long = "httpVersion",
        value_name = "VERSION",
        help_heading = "Request",
        default_value = "2.0"
    )]
    pub http_version: String,
    /// [-sh2c, -h2c] HTTP/2 with prior knowledge on http:// (needs -hv 2.0) [default: false].
    #[arg(long = "supportH2C", value_name = "BOOL", help_heading = "Request", num_args = 0..=1, default_missing_value = "true")]
    pub support_h2c: Option<String>,
    /// [-sr] Save each response body (LPS) [default: false].
    #[arg(long = "saveResponse", value_name = "BOOL", help_heading = "Request", num_args = 0..=1, default_missing_value = "true")]
    pub save_response: Option<String>,
    /// [-dhtmler] Download the HTML's embedded resources (LPS) [default: false].
    #[arg(long = "downloadHtmlEmbeddedResources", value_name = "BOOL", help_heading = "Request", num_args = 0..=1, default_missing_value = "true")]
    pub download_html: Option<String>,
    /// [-ccp] Client certificate for mutual TLS (.pfx, .p12, .pem, .cer, .crt).
    #[arg(
        long = "clientCertificatePath",
        value_name = "PATH",
        help_heading = "Request"
    )]
    pub client_certificate_path: Option<String>,
    /// [-ccpw] The client certificate's password.
    #[arg(
        long = "clientCertificatePassword",
        value_name = "PASSWORD",
        help_heading = "Request"
    )]
    pub client_certificate_password: Option<String>,

    /// [-im] Iteration mode: R, D, CB, CRB or DCB, any case [default: R, or D when only -d is given].
    #[arg(
        long = "iterationMode",
        value_name = "MODE",
        help_heading = "Iteration mode"
    )]
    pub mode: Option<String>,
    /// [-rc] Requests per client (R, CRB) [default: 1 in mode R].
    #[arg(
        long = "requestCount",
        value_name = "N",
        help_heading = "Iteration mode"
    )]
    pub request_count: Option<String>,
    /// [-d] Seconds to run (D, DCB).
    #[arg(long = "duration", value_name = "S", help_heading = "Iteration mode")]
    pub duration: Option<String>,
    /// [-bs] Requests per batch (CB, CRB, DCB).
    #[arg(long = "batchSize", value_name = "N", help_heading = "Iteration mode")]
    pub batch_size: Option<String>,
    /// [-cdt] Time from one batch's start to the next's, ms (CB, CRB, DCB).
    #[arg(
        long = "coolDownTime",
        value_name = "MS",
        help_heading = "Iteration mode"
    )]
    pub cool_down: Option<String>,
    /// [-mt] Batch modes: poll for the next batch's time instead of sleeping [default: false].
    #[arg(long = "maximizeThroughput", value_name = "BOOL", help_heading = "Iteration mode", num_args = 0..=1, default_missing_value = "true")]
    pub maximize_throughput: Option<String>,

    /// [-fr] Failure rule "metric[;errorStatusCodes]", e.g. "ErrorRate > 0.05;>= 500" (repeat -fr); judged when the run ends, exit 4 when one holds.
    #[arg(long = "failureRule", value_name = "RULE", help_heading = "Rules")]
    pub failure_rules: Vec<String>,
    /// [-tr] Termination rule "metric;gracePeriod[;errorStatusCodes]", e.g. "TotalTime.P90 > 500;00:00:05" (repeat -tr); ends the iteration once it held for its grace period.
    #[arg(long = "terminationRule", value_name = "RULE", help_heading = "Rules")]
    pub termination_rules: Vec<String>,
}

/// `lps round`'s options.
#[derive(Debug, Args, Clone)]
pub struct RoundArgs {
    /// [-n] Round name.
    #[arg(long = "name", value_name = "NAME", required = true)]
    pub name: String,
    /// [-burl] Base URL that relative iteration URLs are joined to.
    #[arg(long = "baseUrl", value_name = "URL")]
    pub base_url: Option<String>,
    /// [-sd] Delay before the round's first client, ms.
    #[arg(long = "startupDelay", value_name = "MS")]
    pub startup_delay: Option<String>,
    /// [-nc] Clients.
    #[arg(long = "numberOfClients", value_name = "N", default_value = "1")]
    pub clients: String,
    /// [-ad] Delay between consecutive clients' starts, ms.
    #[arg(long = "arrivalDelay", value_name = "MS")]
    pub arrival_delay: Option<String>,
    /// [-dcc] Create each client only when it starts.
    #[arg(long = "delayClientCreation", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub delay_client_creation: Option<String>,
    /// [-rip] Run a client's iterations concurrently.
    #[arg(long = "runInParallel", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub run_in_parallel: Option<String>,
    /// [-t] Tags (several after one -t, or repeated).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

/// `lps capture`'s options.
#[derive(Debug, Args, Clone)]
pub struct CaptureArgs {
    /// [-in] The iteration whose response is captured.
    #[arg(long = "iterationName", value_name = "NAME", required = true)]
    pub iteration: String,
    /// [-rn] Its round [default: the plan's iterations].
    #[arg(long = "roundName", value_name = "NAME")]
    pub round: Option<String>,
    /// [-to] The variable to capture into.
    #[arg(long = "to", value_name = "NAME", required = true)]
    pub to: String,
    /// [-as] Its type (LPS: no default, which fails its own check).
    #[arg(long = "as", value_name = "TYPE", default_value = "String")]
    pub as_type: String,
    /// [-r] A regex that picks the value.
    #[arg(long = "regex", value_name = "REGEX")]
    pub regex: Option<String>,
    /// [-mg] Make the variable global (LPS: no default, which fails its own check).
    #[arg(long = "makeGlobal", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    pub make_global: String,
}

/// `lps variable`'s options.
#[derive(Debug, Args, Clone)]
pub struct VariableArgs {
    /// [-n] Variable name.
    #[arg(long = "name", value_name = "NAME", required = true)]
    pub name: String,
    /// [-v] Its value.
    #[arg(
        long = "value",
        value_name = "VALUE",
        required = true,
        allow_hyphen_values = true
    )]
    pub value: String,
    /// [-as] Its type (LPS: no default, which fails its own check).
    #[arg(long = "as", value_name = "TYPE", default_value = "String")]
    pub as_type: String,
    /// [-r] A regex that picks the value.
    #[arg(long = "regex", value_name = "REGEX")]
    pub regex: Option<String>,
    /// [-e] Put it in these environments (created when missing) instead of the plan's variables.
    #[arg(long = "environment", value_name = "NAME")]
    pub environments: Vec<String>,
}

/// How the engine runs (not part of the plan).
#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// Engine threads, one pinned per core [default: all cores].
    #[arg(
        long,
        value_name = "N",
        help_heading = "Engine",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub threads: usize,
    /// Per-request timeout in seconds [default: the settings'
    /// HttpClient.TimeoutSeconds, else 30].
    #[arg(long, value_name = "S", help_heading = "Engine")]
    pub timeout: Option<f64>,
    /// Open model: send at this many requests per second across all clients,
    /// measuring latency from each request's intended start (modes R and D).
    #[arg(long, value_name = "RPS", help_heading = "Engine")]
    pub rate: Option<f64>,
    /// Skip TLS certificate verification.
    #[arg(long, help_heading = "Engine")]
    pub insecure: bool,
    /// Clients per HTTP/2 connection: each core's clients of an iteration
    /// share connections N to one, each still sending one request after
    /// another (-nc 640 --h2-streams 10 on one core: 64 connections of 10
    /// streams, as h2load -c 64 -m 10). No effect on HTTP/1.1.
    #[arg(
        long = "h2-streams",
        value_name = "N",
        help_heading = "Engine",
        default_value_t = 1
    )]
    pub h2_streams: u32,
    /// Microseconds an engine thread with requests in flight naps when it
    /// runs out of work, before it sleeps until a response: responses
    /// arriving meanwhile are read in one wake-up (and at most this late).
    /// 0: never nap. At most 1000.
    #[arg(
        long = "coalesce-us",
        value_name = "US",
        help_heading = "Engine",
        default_value_t = lps_engine::DEFAULT_COALESCE.as_micros() as u64
    )]
    pub coalesce_us: u64,
}

/// Where results go.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Write the JSON report to PATH ('-' for stdout).
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub json: Option<PathBuf>,
    /// Save the merged latency histogram (HdrHistogram log, V2 deflate).
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub histogram: Option<PathBuf>,
    /// Write the verdict and the failure rules as JUnit XML test cases.
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub junit: Option<PathBuf>,
    /// Write the per-second series, of the whole run and of each iteration:
    /// CSV for a .csv PATH, JSON Lines for .jsonl or .ndjson.
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub series: Option<PathBuf>,
    /// Write the report as one HTML file that opens from disk (the
    /// dashboard's charts and tables, with the final data inside).
    #[arg(long, value_name = "PATH", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    /// No progress line and no console summary.
    #[arg(long, short = 'q', help_heading = "Reports")]
    pub quiet: bool,
    /// Serve the live dashboard (always on for a cluster master, and with
    /// Dashboard.BuiltInDashboard: true in the settings).
    #[arg(long, help_heading = "Dashboard")]
    pub dashboard: bool,
    /// Dashboard address [default: 127.0.0.1:5050, or Dashboard.Port of the settings].
    #[arg(
        long = "dashboard-listen",
        value_name = "ADDR",
        help_heading = "Dashboard"
    )]
    pub dashboard_listen: Option<SocketAddr>,
    /// Keep serving the dashboard this many seconds after the run, so the
    /// final report stays visible (Ctrl-C ends it sooner).
    #[arg(
        long = "dashboard-linger",
        value_name = "S",
        help_heading = "Dashboard",
        default_value_t = 0
    )]
    pub dashboard_linger: u64,
}

/// One option of a command: its spellings (short ones such as `-nc`
/// matched in any case; long ones such as `--numberofclients` matched in
/// any case and with or without `-`/`_`, which covers LPS's lower, UPPER
/// and camelCase variants), the clap long name it becomes, and its values.
struct Opt(&'static [&'static str], &'static str, Arity);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arity {
    Zero,
    One,
    /// Bare means true; else takes a following `true`/`false`.
    Bool,
    /// One value or more after one option (`-h "A: 1" "B: 2"`), or repeated.
    Many,
}

use Arity::{Bool, Many, One, Zero};

const COMMON: &[Opt] = &[
    Opt(&["--help"], "help", Zero),
    Opt(&["--version"], "version", Zero),
];

const ENGINE: &[Opt] = &[
    Opt(&["--threads"], "threads", One),
    Opt(&["--timeout"], "timeout", One),
    Opt(&["--rate"], "rate", One),
    Opt(&["--insecure"], "insecure", Zero),
    Opt(&["--h2-streams"], "h2-streams", One),
    Opt(&["--coalesce-us"], "coalesce-us", One),
];

const OUTPUT: &[Opt] = &[
    Opt(&["--json"], "json", One),
    Opt(&["--histogram"], "histogram", One),
    Opt(&["--junit"], "junit", One),
    Opt(&["--series"], "series", One),
    Opt(&["--html"], "html", One),
    Opt(&["-q", "--quiet"], "quiet", Zero),
    Opt(&["--dashboard"], "dashboard", Zero),
    Opt(&["--dashboard-listen"], "dashboard-listen", One),
    Opt(&["--dashboard-linger"], "dashboard-linger", One),
];

const CLUSTER: &[Opt] = &[
    Opt(&["--settings"], "settings", One),
    Opt(&["--role"], "role", One),
    Opt(&["--node-ip"], "node-ip", One),
    Opt(&["--node-id"], "node-id", One),
    Opt(&["--grpc-listen"], "grpc-listen", One),
];

/// The round and plan options of the quick test (LPS 3.x `lps [options]`).
const QUICK_PLAN: &[Opt] = &[
    Opt(&["-n", "--name"], "name", One),
    Opt(&["-rn", "--roundname"], "roundName", One),
    Opt(&["-sd", "--startupdelay"], "startupDelay", One),
    Opt(&["-nc", "--numberofclients"], "numberOfClients", One),
    Opt(&["-ad", "--arrivaldelay"], "arrivalDelay", One),
    Opt(
        &["-dcc", "--delayclientcreation"],
        "delayClientCreation",
        Bool,
    ),
    Opt(&["-rip", "--runinparallel"], "runInParallel", Bool),
    Opt(&["-in", "--iterationname"], "iterationName", One),
    Opt(&["-s", "--save"], "save", Bool),
];

/// The iteration options shared by the quick test and `lps iteration`.
const ITERATION_COMMON: &[Opt] = &[
    Opt(&["-u", "--url"], "url", One),
    Opt(&["-hm", "--method", "--httpmethod"], "httpMethod", One),
    Opt(&["-h", "--header"], "header", Many),
    Opt(&["-p", "--payload"], "payload", One),
    Opt(&["-im", "--iterationmode"], "iterationMode", One),
    Opt(&["-rc", "--requestcount"], "requestCount", One),
    Opt(&["-d", "--duration"], "duration", One),
    Opt(&["-cdt", "--cooldowntime"], "coolDownTime", One),
    Opt(&["-bs", "--batchsize"], "batchSize", One),
    Opt(&["-mt", "--maximizethroughput"], "maximizeThroughput", Bool),
    Opt(&["-fr", "--failurerule"], "failureRule", Many),
    Opt(&["-tr", "--terminationrule"], "terminationRule", Many),
    Opt(&["-hv", "--httpversion"], "httpVersion", One),
    Opt(
        &["-dhtmler", "--downloadhtmlembeddedresources"],
        "downloadHtmlEmbeddedResources",
        Bool,
    ),
    Opt(&["-sr", "--saveresponse"], "saveResponse", Bool),
    Opt(&["-sh2c", "-h2c", "--supporth2c"], "supportH2C", Bool),
    Opt(
        &["-ccp", "--clientcertificatepath"],
        "clientCertificatePath",
        One,
    ),
    Opt(
        &["-ccpw", "--clientcertificatepassword"],
        "clientCertificatePassword",
        One,
    ),
];

/// `lps iteration`'s own spellings: there `-n` names the iteration, `-rn`
/// the round it goes in, `-sd` is the iteration's delay.
const ITERATION_ONLY: &[Opt] = &[
    Opt(&["-n", "--name"], "iterationName", One),
    Opt(&["-rn", "--roundname"], "iterationRound", One),
    Opt(&["-sd", "--startupdelay"], "iterationStartupDelay", One),
    Opt(&["-g", "--global"], "global", Bool),
];

const RUN: &[Opt] = &[
    Opt(&["-rn", "--roundname"], "roundName", Many),
    Opt(&["-t", "--tag"], "tag", Many),
    Opt(&["-e", "--environment"], "environment", Many),
];

const CREATE: &[Opt] = &[Opt(&["--name"], "name", One)];

const ROUND: &[Opt] = &[
    Opt(&["-n", "--name"], "name", One),
    Opt(&["-burl", "--baseurl"], "baseUrl", One),
    Opt(&["-sd", "--startupdelay"], "startupDelay", One),
    Opt(&["-nc", "--numberofclients"], "numberOfClients", One),
    Opt(&["-ad", "--arrivaldelay"], "arrivalDelay", One),
    Opt(
        &["-dcc", "--delayclientcreation"],
        "delayClientCreation",
        Bool,
    ),
    Opt(&["-rip", "--runinparallel"], "runInParallel", Bool),
    Opt(&["-t", "--tag"], "tag", Many),
];

const REF: &[Opt] = &[
    Opt(&["-rn", "--roundname"], "roundName", One),
    Opt(&["-n", "--name"], "name", One),
];

const CAPTURE: &[Opt] = &[
    Opt(&["-in", "--iterationname"], "iterationName", One),
    Opt(&["-rn", "--roundname"], "roundName", One),
    Opt(&["-to", "--to"], "to", One),
    Opt(&["-as", "--as"], "as", One),
    Opt(&["-r", "--regex"], "regex", One),
    Opt(&["-mg", "--makeglobal"], "makeGlobal", Bool),
];

const VARIABLE: &[Opt] = &[
    Opt(&["-n", "--name"], "name", One),
    Opt(&["-v", "--value"], "value", One),
    Opt(&["-as", "--as"], "as", One),
    Opt(&["-r", "--regex"], "regex", One),
    Opt(&["-e", "--environment"], "environment", Many),
];

const TARGET: &[Opt] = &[
    Opt(&["--listen"], "listen", One),
    Opt(&["--threads"], "threads", One),
    Opt(&["--record-arrivals"], "record-arrivals", Zero),
];

const DEMO: &[Opt] = &[
    Opt(&["-rc", "--requestcount"], "requestCount", One),
    Opt(&["-nc", "--numberofclients"], "numberOfClients", One),
];

/// Spellings lps refuses with a pointer to what replaced them.
const REFUSED: &[(&[&str], &str)] = &[
    (
        &["-tn", "--testname"],
        "LPS 2.x's test name; LPS 3.x names the plan with -n/--name",
    ),
    (
        &["-rp", "--rampupperiod"],
        "LPS 2.x's ramp-up; LPS 3.x spaces clients with -ad/--arrivalDelay (ms)",
    ),
    (
        &["--runname"],
        "LPS 2.x's iteration name; LPS 3.x names it with -in/--iterationName, and -rn/--roundName names the round",
    ),
];

/// A command line lps refuses before clap sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {why}")]
pub struct Refused {
    pub option: String,
    pub why: &'static str,
}

/// The options of the command named `word` (the root's for `None`).
fn table(command: Option<&str>) -> Vec<&'static [Opt]> {
    let settings = |word: &str| super::settings_cmd::command(word).is_some();
    match command {
        None => vec![
            QUICK_PLAN,
            ITERATION_COMMON,
            ENGINE,
            OUTPUT,
            CLUSTER,
            COMMON,
        ],
        Some("run") => vec![RUN, ENGINE, OUTPUT, CLUSTER, COMMON],
        Some("create") => vec![CREATE, COMMON],
        Some("round") => vec![ROUND, COMMON],
        Some("iteration") => vec![ITERATION_ONLY, ITERATION_COMMON, COMMON],
        Some("iteration-ref") => vec![REF, COMMON],
        Some("capture") => vec![CAPTURE, COMMON],
        Some("variable") => vec![VARIABLE, COMMON],
        Some("target") => vec![TARGET, COMMON],
        Some("demo") => vec![DEMO, ENGINE, OUTPUT, COMMON],
        // Its options are spelt only as clap knows them.
        Some("compare") => vec![COMMON],
        Some(word) if settings(word) => vec![COMMON],
        Some(_) => vec![COMMON],
    }
}

/// The subcommands, as the first word that is not an option's value.
const COMMANDS: &[&str] = &[
    "run",
    "create",
    "round",
    "iteration",
    "capture",
    "variable",
    "target",
    "demo",
    "compare",
    "cluster",
    "httpclient",
    "dashboard",
    "logger",
    "watchdog",
    "influxdb",
];

/// Rewrites LPS option spellings to the canonical `--longName` that clap
/// knows, per command (`-n` is the plan's name at the root, a round's in
/// `lps round`); `lps iteration PLAN ref` becomes `lps iteration-ref PLAN`,
/// and a settings command's options become `--set=Option=value`. Values
/// and anything after `--` are left alone; unknown options pass through for
/// clap to report.
pub fn normalize(args: impl IntoIterator<Item = String>) -> Result<Vec<String>, Refused> {
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    if let Some(bin) = args.next() {
        out.push(bin);
    }
    // The subcommand's index in `out`, and how many positionals followed it.
    let mut command: Option<(usize, String)> = None;
    let mut positionals = 0;
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args);
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            match &command {
                None if COMMANDS.contains(&arg.as_str()) => {
                    command = Some((out.len(), arg.clone()));
                }
                Some((at, word)) if word == "iteration" && positionals == 1 && arg == "ref" => {
                    out[*at] = "iteration-ref".into();
                    command = Some((*at, "iteration-ref".into()));
                    continue;
                }
                _ => positionals += 1,
            }
            out.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let word = command.as_ref().map(|(_, w)| w.as_str());
        if let Some(why) = refused(&name, word) {
            return Err(Refused { option: name, why });
        }
        if let Some(section) = word.and_then(super::settings_cmd::command) {
            out.push(settings_option(section, &name, &arg, inline, &mut args));
            continue;
        }
        let Some(Opt(_, canon, arity)) = lookup(&table(word), &name) else {
            out.push(arg);
            continue;
        };
        match arity {
            Many => many_values(canon, inline, &mut args, &mut out),
            _ => match value_of(*arity, inline, &mut args) {
                Some(v) => out.push(format!("--{canon}={v}")),
                None => out.push(format!("--{canon}")),
            },
        }
    }
    Ok(out)
}

/// An option of a settings command as `--set=Key=value`; `--settings` in
/// any case; else the argument as given, for clap to report.
fn settings_option(
    section: &str,
    name: &str,
    arg: &str,
    inline: Option<String>,
    args: &mut std::iter::Peekable<impl Iterator<Item = String>>,
) -> String {
    if let Some((key, bool)) = super::settings_cmd::lookup(section, name) {
        let arity = if bool { Bool } else { One };
        let value = value_of(arity, inline, args).unwrap_or_default();
        return format!("--set={key}={value}");
    }
    match name.strip_prefix("--") {
        Some(long) if fold(long) == "settings" => format!("--settings{}", &arg[name.len()..]),
        _ => arg.to_owned(),
    }
}

/// The value of an option of `arity`: inline (`--x=v`), the next token, or
/// none (a bare flag, or a value missing at the end for clap to report).
fn value_of(
    arity: Arity,
    inline: Option<String>,
    args: &mut std::iter::Peekable<impl Iterator<Item = String>>,
) -> Option<String> {
    if inline.is_some() {
        return inline;
    }
    match arity {
        Zero => None,
        // The next token is the value even if it starts with '-' (a
        // payload such as "-1").
        One | Many => args.next(),
        Bool => {
            let next_is_bool = args
                .peek()
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"));
            if next_is_bool {
                args.next().map(|v| v.to_ascii_lowercase())
            } else {
                Some("true".into())
            }
        }
    }
}

/// `-h "A: 1" "B: 2"`: every following token that is not an option.
fn many_values(
    canon: &str,
    inline: Option<String>,
    args: &mut std::iter::Peekable<impl Iterator<Item = String>>,
    out: &mut Vec<String>,
) {
    match value_of(Many, inline, args) {
        Some(v) => out.push(format!("--{canon}={v}")),
        None => out.push(format!("--{canon}")),
    }
    while let Some(v) = args.next_if(|v| !v.starts_with('-') && !COMMANDS.contains(&v.as_str())) {
        out.push(format!("--{canon}={v}"));
    }
}

/// Folds a long option name for matching: case and `-`/`_` do not matter.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `name` is a spelling of `spelling`.
fn spells(spelling: &str, name: &str) -> bool {
    match (spelling.strip_prefix("--"), name.strip_prefix("--")) {
        (Some(a), Some(b)) => fold(a) == fold(b),
        (None, None) => spelling.eq_ignore_ascii_case(name),
        _ => false,
    }
}

/// The option of `tables` spelt `name` (`--NumberOfClients`, `-nc`), if any.
fn lookup(tables: &[&'static [Opt]], name: &str) -> Option<&'static Opt> {
    tables
        .iter()
        .flat_map(|t| t.iter())
        .find(|Opt(spellings, ..)| spellings.iter().any(|s| spells(s, name)))
}

/// Why `name` is refused in `command`, if it is: the old spellings on the
/// quick test and `lps iteration`, the rules everywhere they exist in LPS.
fn refused(name: &str, command: Option<&str>) -> Option<&'static str> {
    if !matches!(command, None | Some("iteration")) {
        return None;
    }
    REFUSED
        .iter()
        .find(|(spellings, _)| spellings.iter().any(|s| spells(s, name)))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Vec<String> {
        normalize(
            std::iter::once("lps")
                .chain(args.iter().copied())
                .map(String::from),
        )
        .expect("not refused")[1..]
            .to_vec()
    }

    fn refused(args: &[&str]) -> String {
        let args = std::iter::once("lps").chain(args.iter().copied());
        normalize(args.map(String::from))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn lps_spellings_become_canonical() {
        assert_eq!(
            n(&["-rc", "100", "-nc", "4"]),
            ["--requestCount=100", "--numberOfClients=4"]
        );
        // LPS's lower, UPPER and camelCase variants, and lps's kebab-case.
        assert_eq!(n(&["--NUMBEROFCLIENTS", "2"]), ["--numberOfClients=2"]);
        assert_eq!(n(&["--numberofclients", "2"]), ["--numberOfClients=2"]);
        assert_eq!(n(&["--maximize-throughput"]), ["--maximizeThroughput=true"]);
        assert_eq!(
            n(&["-rip", "false", "-dcc"]),
            ["--runInParallel=false", "--delayClientCreation=true"]
        );
        assert_eq!(n(&["-p", "-1"]), ["--payload=-1"]);
        assert_eq!(
            n(&["-h", "A: b", "--url=http://x/"]),
            ["--header=A: b", "--url=http://x/"]
        );
        assert_eq!(n(&["--bogus", "-zz"]), ["--bogus", "-zz"]);
        assert_eq!(n(&["--", "-rc"]), ["--", "-rc"]);
        assert_eq!(
            n(&["run", "plan.yaml", "-q"]),
            ["run", "plan.yaml", "--quiet"]
        );
    }

    #[test]
    fn each_lps_3_quick_option_has_its_spellings() {
        let cases: &[(&[&str], &str)] = &[
            (&["-n", "P"], "--name=P"),
            (&["-rn", "R"], "--roundName=R"),
            (&["--roundname", "R"], "--roundName=R"),
            (&["-in", "I"], "--iterationName=I"),
            (&["-sd", "5"], "--startupDelay=5"),
            (&["-ad", "5"], "--arrivalDelay=5"),
            (&["--method", "post"], "--httpMethod=post"),
            (&["--HTTPMETHOD", "post"], "--httpMethod=post"),
            (&["-hm", "post"], "--httpMethod=post"),
            (&["-h2c"], "--supportH2C=true"),
            (&["-sh2c", "false"], "--supportH2C=false"),
            (&["--supporth2c"], "--supportH2C=true"),
            (&["-sr"], "--saveResponse=true"),
            (&["-dhtmler"], "--downloadHtmlEmbeddedResources=true"),
            (&["-ccp", "c.pem"], "--clientCertificatePath=c.pem"),
            (&["-ccpw", "pw"], "--clientCertificatePassword=pw"),
            (&["-hv", "1.1"], "--httpVersion=1.1"),
            (&["-s"], "--save=true"),
        ];
        for (args, expected) in cases {
            assert_eq!(n(args), [*expected], "{args:?}");
        }
    }

    #[test]
    fn several_headers_after_one_h() {
        assert_eq!(
            n(&["-h", "A: 1", "B: 2", "-h", "C: 3", "-rc", "1"]),
            [
                "--header=A: 1",
                "--header=B: 2",
                "--header=C: 3",
                "--requestCount=1"
            ]
        );
    }

    #[test]
    fn options_are_read_per_command() {
        assert_eq!(
            n(&[
                "round", "p.yaml", "-n", "R", "-t", "a", "b", "-burl", "http://h"
            ]),
            [
                "round",
                "p.yaml",
                "--name=R",
                "--tag=a",
                "--tag=b",
                "--baseUrl=http://h"
            ]
        );
        assert_eq!(
            n(&[
                "iteration",
                "p.yaml",
                "-n",
                "I",
                "-rn",
                "R",
                "-sd",
                "9",
                "-g"
            ]),
            [
                "iteration",
                "p.yaml",
                "--iterationName=I",
                "--iterationRound=R",
                "--iterationStartupDelay=9",
                "--global=true"
            ]
        );
        assert_eq!(
            n(&["iteration", "p.yaml", "ref", "-rn", "R", "-n", "I"]),
            ["iteration-ref", "p.yaml", "--roundName=R", "--name=I"]
        );
        assert_eq!(
            n(&["run", "p.yaml", "-rn", "A", "B", "-t", "x", "-e", "dev"]),
            [
                "run",
                "p.yaml",
                "--roundName=A",
                "--roundName=B",
                "--tag=x",
                "--environment=dev"
            ]
        );
        assert_eq!(
            n(&["capture", "p.yaml", "-in", "I", "-to", "v", "-mg"]),
            [
                "capture",
                "p.yaml",
                "--iterationName=I",
                "--to=v",
                "--makeGlobal=true"
            ]
        );
        assert_eq!(
            n(&["dashboard", "-p", "8009", "-bid", "--settings", "s.json"]),
            [
                "dashboard",
                "--set=Port=8009",
                "--set=BuiltInDashboard=true",
                "--settings",
                "s.json"
            ]
        );
    }

    #[test]
    fn lps_2_spellings_and_rules_are_refused() {
        assert_eq!(
            refused(&["-u", "http://h/", "-tn", "x"]),
            "-tn: LPS 2.x's test name; LPS 3.x names the plan with -n/--name"
        );
        assert!(refused(&["--testName", "x"]).contains("-n/--name"));
        assert!(refused(&["-rp", "10"]).contains("-ad/--arrivalDelay"));
        assert!(refused(&["--rampupPeriod", "10"]).contains("-ad/--arrivalDelay"));
        assert!(refused(&["--runName", "x"]).contains("-in/--iterationName"));
    }

    #[test]
    fn clap_accepts_normalized_lps_options() {
        let args = normalize(
            [
                "lps",
                "-u",
                "http://127.0.0.1:1/",
                "-rc",
                "10",
                "-nc",
                "3",
                "-h",
                "A: 1",
                "-h",
                "B: 2",
                "-im",
                "r",
            ]
            .map(String::from),
        )
        .unwrap();
        let cli = Cli::try_parse_from(args).unwrap();
        let it = &cli.quick.iteration;
        assert_eq!(it.request_count.as_deref(), Some("10"));
        assert_eq!(cli.quick.clients, "3");
        assert_eq!(it.headers, ["A: 1", "B: 2"]);
        assert_eq!(it.mode.as_deref(), Some("r"));
        assert_eq!(cli.quick.run_in_parallel, None);
        assert_eq!(cli.quick.name, "Quick-Test-Plan");
        assert_eq!(cli.quick.round_name, "Quick-Test-Round");
        assert_eq!(it.http_version, "2.0");
    }

    #[test]
    fn run_takes_rounds_tags_and_environments() {
        let args = [
            "lps",
            "run",
            "p.yaml",
            "-rn",
            "A",
            "b c",
            "-t",
            "x",
            "--ENVIRONMENT",
            "dev",
            "-e",
            "prod",
        ];
        let cli = Cli::try_parse_from(normalize(args.map(String::from)).unwrap()).unwrap();
        let Some(Command::Run { plan, select, .. }) = cli.command else {
            panic!("run")
        };
        assert_eq!(plan, PathBuf::from("p.yaml"));
        assert_eq!(select.rounds, ["A", "b c"]);
        assert_eq!(select.tags, ["x"]);
        assert_eq!(select.environments, ["dev", "prod"]);
    }
}
