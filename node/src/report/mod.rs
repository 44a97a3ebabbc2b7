//! The end-of-run report: console summary, JSON export and histogram log,
//! and the verdict that decides the exit code.
//!
//! The JSON schema is versioned by `schema_version` and published in
//! `docs/report.schema.json`; the same [`Report`] feeds the console,
//! `--json`, the cluster master's report and the dashboard.
//!
//! # Layout
//! - `json`: the report's types ([`Report`], [`NodeReport`], [`Figures`]...),
//!   built from the merged stats, and `--json`.
//! - `console`: the console summary ([`Report::render`]) and [`us`].
//! - `histogram`: the HdrHistogram interval log ([`histogram_log`]).
//! - `outcome`: the [`Verdict`] of a run and its exit code.
//! - `series`: `--series`, the per-second rows of the run and of each
//!   iteration, as CSV or JSON Lines.
//! - `html`: `--html`, the dashboard's page with the final data inside.
//! - `write`: [`write`], which does all of the above at the end of a run.
//! - `compare`: `lps compare`, two reports side by side and the limits on
//!   regressions.

pub mod compare;
mod console;
mod histogram;
mod html;
mod json;
mod junit;
mod outcome;
pub mod series;
mod write;

use std::path::PathBuf;

pub use crate::rules::RuleReport;
pub use console::us;
pub use histogram::{histogram_log, write_histogram_log};
pub use json::{
    Bytes, Connections, Figures, IterationReport, Latency, Model, NodeReport, Report, Requests,
    RunInfo, SCHEMA_VERSION,
};
pub use outcome::{Verdict, why_all_failed};
pub use write::{Destinations, Output, Written, check_writable, write, write_atomic};

/// Why a report could not be written. Each names what it was writing; the
/// cause is its source.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot print the summary")]
    Summary(#[source] std::io::Error),
    #[error("cannot encode the JSON report")]
    Encode(#[source] serde_json::Error),
    #[error("cannot write the JSON report to {}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the JSON report to stdout")]
    Stdout(#[source] std::io::Error),
    #[error("cannot start the histogram log")]
    HistogramStart(#[source] std::io::Error),
    #[error("cannot encode histogram {name}: {message}")]
    HistogramEncode { name: String, message: String },
    #[error("cannot write the histogram log to {}", .path.display())]
    Histogram {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the JUnit report to {}", .path.display())]
    Junit {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the series to {}", .path.display())]
    Series {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the HTML report to {}", .path.display())]
    Html {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The run was not followed second by second (no live model): a caller
    /// that asks for a series or an HTML report must keep one.
    #[error("the run's seconds were not recorded")]
    NotRecorded,
}
