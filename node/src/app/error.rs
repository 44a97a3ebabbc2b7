//! The errors of the `lps` command, worded for the command line, and the
//! exit code each calls for: the user's input (2) or the run (1); and the
//! outputs of a finished run that could not be written (3). A limit
//! exceeded (4) is not an error: `compare` returns its code.

use std::net::SocketAddr;
use std::path::PathBuf;

use lps_config::ConfigError;
use lps_engine::EngineError;

use super::cli::Refused;
use super::plans::PlanError;
use super::quick::QuickError;
use super::settings_cmd::SettingsEditError;
use crate::cluster;
use crate::report::{Output, ReportError, Written};
use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_OUTPUT};

/// Why `lps` stopped before the end of its job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// clap refused the command line; `message` is its first paragraph on
    /// one line.
    #[error("{message} (see 'lps --help')")]
    Usage { message: String },

    /// An LPS 2.x spelling, or an option lps does not support yet.
    #[error(transparent)]
    Refused(#[from] Refused),

    /// The quick-test options (or `lps iteration`'s) make no acceptable plan.
    #[error(transparent)]
    Quick(#[from] QuickError),

    /// A plan-editing command cannot make its edit.
    #[error(transparent)]
    Edit(#[from] lps_config::lps3::EditError),

    /// A settings command wrote nothing.
    #[error(transparent)]
    SettingsEdit(#[from] SettingsEditError),

    /// Neither a command nor `--url`.
    #[error("no --url given and no command; try 'lps demo' or 'lps --help'")]
    NoUrl,

    /// The plan file is not acceptable.
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// The settings file cannot be read or is not acceptable.
    #[error(transparent)]
    Settings(#[from] ConfigError),

    /// LPS's log file (`FileLogger.LogFilePath`) cannot be written.
    #[error(transparent)]
    LogFile(#[from] crate::logger::LogFileError),

    /// `--timeout` is not a positive number of seconds up to a year.
    #[error("--timeout must be a positive number of seconds up to a year, got {seconds}")]
    Timeout { seconds: f64 },

    /// A report file (`--json`, `--histogram`) cannot be written; found
    /// before the run, not after it.
    #[error("{option}: cannot write {}: {source}", .path.display())]
    OutputNotWritable {
        option: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// `--series` names a file whose extension names no format.
    #[error(
        "--series: {}: the extension must be .csv (CSV), or .jsonl or .ndjson (JSON Lines)",
        .path.display()
    )]
    SeriesFormat { path: PathBuf },

    /// `--series` or `--html` on a worker: the cluster's series is the
    /// master's.
    #[error(
        "{option}: a worker writes no {option} file; give {option} to the master, which has the whole cluster's"
    )]
    WorkerOutput { option: &'static str },

    /// A master listening beyond loopback without a shared secret.
    #[error(
        "Cluster.Secret (or {}) is required when the master listens on {listen}, beyond loopback",
        cluster::SECRET_ENV
    )]
    SecretRequired { listen: SocketAddr },

    /// A PEM file of the Cluster TLS settings cannot be read.
    #[error("cannot read {} (Cluster TLS settings): {source}", .path.display())]
    PemUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A file of the Cluster TLS settings is not PEM (tonic would only find
    /// out when the server starts, and would name no file).
    #[error("{} (Cluster TLS settings) is not PEM: it has no -----BEGIN line", .path.display())]
    NotPem { path: PathBuf },

    /// The engine refused the plan or options, or failed.
    #[error("{}", engine_wording(.0))]
    Engine(EngineError),

    /// The report could not be written.
    #[error("{}", chain(.0))]
    Report(#[from] ReportError),

    /// `lps compare` cannot compare: a report, histogram log or limit is
    /// not acceptable.
    #[error(transparent)]
    Compare(#[from] crate::report::compare::CompareError),

    /// The run itself failed (the cluster, the built-in target, ...).
    #[error("{0:#}")]
    Run(anyhow::Error),
}

impl Error {
    /// The exit code: 2 when the user's input is at fault, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Engine(e) if !e.is_bad_input() => EXIT_FAILED,
            Error::Report(_) | Error::Run(_) => EXIT_FAILED,
            _ => EXIT_BAD_INPUT,
        }
    }
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Error {
        Error::Engine(e)
    }
}

/// A run's failure; the engine's own errors, which may lie underneath (the
/// plan or options refused when it starts), keep their type and wording.
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        match e.downcast::<EngineError>() {
            Ok(e) => Error::Engine(e),
            Err(e) => Error::Run(e),
        }
    }
}

/// An engine error in this command line's words (the engine does not know
/// the options' names).
fn engine_wording(e: &EngineError) -> String {
    use EngineError as E;
    match e {
        E::Rate(rate) => format!(
            "--rate must be a positive number of requests per second, at least one a year, got {rate}"
        ),
        E::RateMode { iteration, mode } => {
            format!("--rate applies to modes R and D; iteration \"{iteration}\" uses {mode}")
        }
        E::Threads { given, max } => format!("--threads must be at most {max}, got {given}"),
        E::Timeout => "--timeout must be greater than zero and at most a year".into(),
        E::H2Streams => "--h2-streams must be at least 1".into(),
        E::Coalesce(us) => format!(
            "--coalesce-us must be at most {}, got {us}",
            lps_engine::MAX_COALESCE.as_micros()
        ),
        other if other.is_bad_input() => other.to_string(),
        // The machine's fault: the whole chain, as for any failed run.
        other => chain(other),
    }
}

/// Says each output of a finished run that could not be written, one line
/// each, and returns the exit code: the verdict's, or [`EXIT_OUTPUT`] when
/// the test did not fail but an output is missing.
pub fn conclude(written: Written) -> u8 {
    for (output, e) in &written.failed {
        log::error!("lps: error: {}", output_wording(*output, e));
    }
    match written.verdict.exit_code() {
        EXIT_OK if !written.failed.is_empty() => EXIT_OUTPUT,
        code => code,
    }
}

/// An output's failure, with the option that asked for it and its path:
/// `--json: cannot write the JSON report to /dev/full: No space left on device`.
fn output_wording(output: Output, e: &ReportError) -> String {
    let option = match output {
        Output::Summary => return chain(e),
        Output::Json => "--json",
        Output::Histogram => "--histogram",
        Output::Junit => "--junit",
        Output::Series => "--series",
        Output::Html => "--html",
        Output::Dashboard => "--dashboard",
    };
    format!("{option}: {}", chain(e))
}

/// An error and its causes on one line, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_type() {
        let io = || std::io::Error::other("disk full");
        let cases = [
            (Error::NoUrl, EXIT_BAD_INPUT),
            (Error::Timeout { seconds: 0.0 }, EXIT_BAD_INPUT),
            (Error::Engine(EngineError::Timeout), EXIT_BAD_INPUT),
            (Error::Engine(EngineError::CorePanicked(1)), EXIT_FAILED),
            (Error::Engine(EngineError::Thread(io())), EXIT_FAILED),
            (Error::Report(ReportError::Stdout(io())), EXIT_FAILED),
            (Error::Run(anyhow::anyhow!("lost")), EXIT_FAILED),
            (
                Error::Compare(crate::report::compare::CompareError::Noise(-1.0)),
                EXIT_BAD_INPUT,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error}");
        }
    }

    #[test]
    fn a_missing_output_exits_3_unless_the_test_failed() {
        use crate::report::Verdict;
        let full = || std::io::Error::other("No space left on device");
        let json = || ReportError::Json {
            path: "/dev/full".into(),
            source: full(),
        };
        let written = |verdict, failed| Written { verdict, failed };
        assert_eq!(conclude(written(Verdict::Ok, vec![])), EXIT_OK);
        assert_eq!(
            conclude(written(Verdict::Ok, vec![(Output::Json, json())])),
            EXIT_OUTPUT
        );
        assert_eq!(
            conclude(written(
                Verdict::NoneCompleted,
                vec![(Output::Json, json())]
            )),
            EXIT_FAILED
        );
        let cases = [
            (
                Output::Json,
                json(),
                "--json: cannot write the JSON report to /dev/full: No space left on device",
            ),
            (
                Output::Histogram,
                ReportError::Histogram {
                    path: "h.hlog".into(),
                    source: full(),
                },
                "--histogram: cannot write the histogram log to h.hlog: No space left on device",
            ),
            (
                Output::Summary,
                ReportError::Summary(std::io::Error::other("Broken pipe")),
                "cannot print the summary: Broken pipe",
            ),
        ];
        for (output, error, expected) in cases {
            assert_eq!(output_wording(output, &error), expected);
        }
    }

    #[test]
    fn messages() {
        let io = || std::io::Error::other("disk full");
        let cases = [
            (
                Error::Engine(EngineError::Threads {
                    given: 5000,
                    max: 4096,
                }),
                "--threads must be at most 4096, got 5000",
            ),
            // As anyhow's `{:#}` prints it: the engine's text, then its cause.
            (
                Error::Engine(EngineError::Thread(io())),
                "cannot start an engine thread: disk full: disk full",
            ),
            (
                Error::Report(ReportError::Json {
                    path: "r.json".into(),
                    source: io(),
                }),
                "cannot write the JSON report to r.json: disk full",
            ),
            (
                Error::Run(anyhow::Error::new(io()).context("cannot connect")),
                "cannot connect: disk full",
            ),
            (
                Error::from(anyhow::Error::new(EngineError::Timeout)),
                "--timeout must be greater than zero and at most a year",
            ),
            (
                Error::Engine(EngineError::H2Streams),
                "--h2-streams must be at least 1",
            ),
            (
                Error::Engine(EngineError::Coalesce(5000)),
                "--coalesce-us must be at most 1000, got 5000",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }
}
