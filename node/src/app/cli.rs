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
    after_help = "Examples:\n  lps demo                                   start the built-in target and test it\n  lps --url http://127.0.0.1:8080/ -rc 1000 -nc 4\n  lps -u http://127.0.0.1:8080/ -im D -d 10 -nc 64 --rate 20000\n  lps run config/examples/quick.yaml --json report.json\n  lps target --listen 127.0.0.1:8080\n\nExit codes: 0 ok, 1 the test failed (every request failed), 2 bad input."
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
        select: super::plans::RoundSelect,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Create a plan file with one iteration from the quick-test options.
    Create {
        /// The plan file to write (.yaml, .yml or .json).
        plan: PathBuf,
        #[command(flatten)]
        quick: QuickArgs,
    },
    /// Add an iteration (HTTP run) to an existing plan file.
    Add {
        /// The plan file to extend.
        plan: PathBuf,
        /// Round to add to (created if missing; default: the last round).
        #[arg(long = "round")]
        round: Option<String>,
        #[command(flatten)]
        quick: QuickArgs,
    },
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

/// The LPS quick-test options: one plan with one iteration.
#[derive(Debug, Args, Default, Clone)]
pub struct QuickArgs {
    /// Target URL (http:// or https://).
    #[arg(short = 'u', long = "url", help_heading = "Request")]
    pub url: Option<String>,
    /// [-hm] HTTP method.
    #[arg(
        long = "httpMethod",
        value_name = "METHOD",
        help_heading = "Request",
        default_value = "GET"
    )]
    pub method: String,
    /// Request header "Name: value" (repeatable).
    #[arg(
        short = 'h',
        long = "header",
        value_name = "HEADER",
        help_heading = "Request"
    )]
    pub headers: Vec<String>,
    /// Request body: text, or path:FILE to read it from a file.
    #[arg(
        short = 'p',
        long = "payload",
        value_name = "TEXT|path:FILE",
        help_heading = "Request"
    )]
    pub payload: Option<String>,
    /// [-hv] HTTP version: 1.1 or 2 (2.0 accepted; h2c on http://). lps defaults to 1.1, LPS to 2.0.
    #[arg(
        long = "httpVersion",
        value_name = "1.1|2",
        help_heading = "Request",
        default_value = "1.1"
    )]
    pub http_version: String,

    /// [-tn] Name of the test (plan).
    #[arg(
        long = "testName",
        value_name = "NAME",
        help_heading = "Plan",
        default_value = "Quick-Test-Plan"
    )]
    pub test_name: String,
    /// [-rn] Name of the HTTP run (iteration).
    #[arg(
        long = "runName",
        value_name = "NAME",
        help_heading = "Plan",
        default_value = "Quick-Http-Run"
    )]
    pub run_name: String,
    /// [-nc] Concurrent clients; each runs the whole iteration.
    #[arg(
        long = "numberOfClients",
        value_name = "N",
        help_heading = "Plan",
        default_value_t = 1
    )]
    pub clients: u32,
    /// [-rp] Delay in ms before each next client starts.
    #[arg(
        long = "rampupPeriod",
        value_name = "MS",
        help_heading = "Plan",
        default_value_t = 0
    )]
    pub rampup_ms: u64,
    /// [-dcc] Create each client only when it starts.
    #[arg(long = "delayClientCreation", value_name = "BOOL", help_heading = "Plan", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub delay_client_creation: bool,
    /// [-rip] Run the iterations of a round concurrently.
    #[arg(long = "runInParallel", value_name = "BOOL", help_heading = "Plan", num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub run_in_parallel: bool,

    /// [-im] Iteration mode: R, D, CB, CRB or DCB [default: R, or D when only --duration is given].
    #[arg(
        long = "iterationMode",
        value_name = "MODE",
        help_heading = "Iteration mode"
    )]
    pub mode: Option<String>,
    /// [-rc] Requests per client (R, CRB).
    #[arg(
        long = "requestCount",
        value_name = "N",
        help_heading = "Iteration mode"
    )]
    pub request_count: Option<u64>,
    /// Seconds to run (D, DCB; optional bound for CB).
    #[arg(
        short = 'd',
        long = "duration",
        value_name = "S",
        help_heading = "Iteration mode"
    )]
    pub duration_s: Option<u64>,
    /// [-bs] Requests per batch (CB, CRB, DCB).
    #[arg(long = "batchSize", value_name = "N", help_heading = "Iteration mode")]
    pub batch_size: Option<u32>,
    /// [-cdt] Pause between batches, in ms (CB, CRB, DCB).
    #[arg(
        long = "coolDownTime",
        value_name = "MS",
        help_heading = "Iteration mode"
    )]
    pub cool_down_ms: Option<u64>,
    /// [-mt] Batch modes: start each batch a cooldown after the previous one started, without waiting for it.
    #[arg(long = "maximizeThroughput", value_name = "BOOL", help_heading = "Iteration mode", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub maximize_throughput: bool,
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

/// LPS spellings of options: (short form, canonical long name, takes a value).
/// Bool options take an optional `true`/`false`.
const OPTIONS: &[(&str, &str, Arity)] = &[
    ("-u", "url", Arity::One),
    ("-tn", "testName", Arity::One),
    ("-rn", "runName", Arity::One),
    ("-nc", "numberOfClients", Arity::One),
    ("-rp", "rampupPeriod", Arity::One),
    ("-dcc", "delayClientCreation", Arity::Bool),
    ("-rip", "runInParallel", Arity::Bool),
    ("-hm", "httpMethod", Arity::One),
    ("-h", "header", Arity::One),
    ("-p", "payload", Arity::One),
    ("-hv", "httpVersion", Arity::One),
    ("-im", "iterationMode", Arity::One),
    ("-rc", "requestCount", Arity::One),
    ("-d", "duration", Arity::One),
    ("-bs", "batchSize", Arity::One),
    ("-cdt", "coolDownTime", Arity::One),
    ("-mt", "maximizeThroughput", Arity::Bool),
    ("", "threads", Arity::One),
    ("", "timeout", Arity::One),
    ("", "rate", Arity::One),
    ("", "insecure", Arity::Zero),
    ("", "json", Arity::One),
    ("", "histogram", Arity::One),
    ("", "quiet", Arity::Zero),
    ("", "dashboard", Arity::Zero),
    ("", "dashboardListen", Arity::One),
    ("", "dashboardLinger", Arity::One),
    ("", "listen", Arity::One),
    ("", "round", Arity::One),
    ("", "recordArrivals", Arity::Zero),
    ("", "settings", Arity::One),
    ("", "role", Arity::One),
    ("", "nodeIp", Arity::One),
    ("", "nodeId", Arity::One),
    ("", "grpcListen", Arity::One),
    ("", "help", Arity::Zero),
    ("", "version", Arity::Zero),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arity {
    Zero,
    One,
    Bool,
}

/// Folds a long option name for matching: case and `-`/`_` do not matter.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Rewrites LPS option spellings to the canonical `--longName` that clap
/// knows; values and anything after `--` are left alone. Unknown options
/// pass through for clap to report.
pub fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    if let Some(bin) = args.next() {
        out.push(bin);
    }
    while let Some(arg) = args.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(args);
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with('-') => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let Some((_, canon, arity)) = lookup(&name) else {
            out.push(arg);
            continue;
        };
        let canon = clap_name(canon);
        match (arity, inline) {
            (_, Some(v)) => out.push(format!("--{canon}={v}")),
            (Arity::Zero, None) => out.push(format!("--{canon}")),
            (Arity::One, None) => {
                // The next token is the value even if it starts with '-'
                // (a payload such as "-1"): pass it through untouched.
                match args.next() {
                    Some(v) => out.push(format!("--{canon}={v}")),
                    None => out.push(format!("--{canon}")),
                }
            }
            (Arity::Bool, None) => {
                let next_is_bool = args.peek().is_some_and(|v| {
                    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
                });
                if next_is_bool {
                    let v = args.next().unwrap_or_default().to_ascii_lowercase();
                    out.push(format!("--{canon}={v}"));
                } else {
                    out.push(format!("--{canon}"));
                }
            }
        }
    }
    out
}

/// The LPS option spelt `name` (`--NumberOfClients`, `-nc`), if any.
fn lookup(name: &str) -> Option<&'static (&'static str, &'static str, Arity)> {
    if let Some(long) = name.strip_prefix("--") {
        let f = fold(long);
        // `--record-arrivals` and friends: clap's own kebab names.
        OPTIONS.iter().find(|(_, canon, _)| fold(canon) == f)
    } else if name.starts_with('-') && name.len() > 1 {
        OPTIONS
            .iter()
            .find(|(short, _, _)| !short.is_empty() && short.eq_ignore_ascii_case(name))
    } else {
        None
    }
}

/// The clap long name of a canonical option (clap's own options are kebab-case).
fn clap_name(canon: &str) -> &str {
    match canon {
        "recordArrivals" => "record-arrivals",
        "nodeIp" => "node-ip",
        "dashboardListen" => "dashboard-listen",
        "dashboardLinger" => "dashboard-linger",
        "nodeId" => "node-id",
        "grpcListen" => "grpc-listen",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Vec<String> {
        normalize(
            std::iter::once("lps")
                .chain(args.iter().copied())
                .map(String::from),
        )[1..]
            .to_vec()
    }

    #[test]
    fn lps_spellings_become_canonical() {
        assert_eq!(
            n(&["-rc", "100", "-nc", "4"]),
            ["--requestCount=100", "--numberOfClients=4"]
        );
        assert_eq!(n(&["--NUMBEROFCLIENTS", "2"]), ["--numberOfClients=2"]);
        assert_eq!(n(&["--maximize-throughput"]), ["--maximizeThroughput"]);
        assert_eq!(
            n(&["-rip", "false", "-dcc"]),
            ["--runInParallel=false", "--delayClientCreation"]
        );
        assert_eq!(n(&["-p", "-1"]), ["--payload=-1"]);
        assert_eq!(
            n(&["-h", "A: b", "--url=http://x/"]),
            ["--header=A: b", "--url=http://x/"]
        );
        assert_eq!(n(&["--record-arrivals"]), ["--record-arrivals"]);
        assert_eq!(n(&["--bogus", "-zz"]), ["--bogus", "-zz"]);
        assert_eq!(n(&["--", "-rc"]), ["--", "-rc"]);
        assert_eq!(n(&["run", "plan.yaml", "-q"]), ["run", "plan.yaml", "-q"]);
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
        );
        let cli = Cli::try_parse_from(args).unwrap();
        assert_eq!(cli.quick.request_count, Some(10));
        assert_eq!(cli.quick.clients, 3);
        assert_eq!(cli.quick.headers, ["A: 1", "B: 2"]);
        assert_eq!(cli.quick.mode.as_deref(), Some("r"));
        assert!(cli.quick.run_in_parallel);
    }
}
