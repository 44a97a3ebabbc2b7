//! Writing the end-of-run report everywhere it was asked for: the console,
//! the files, the dashboard; then the verdict.

use std::io::Write;
use std::path::Path;

use hdrhistogram::Histogram;
use lps_config::Plan;
use lps_engine::LazyHistogram;

use super::{Model, NodeReport, Report, ReportError, RunInfo, Verdict, histogram_log};
use crate::dashboard::live::Live;
use crate::local::Outcome;

/// Where the report goes.
#[derive(Debug, Clone, Copy)]
pub struct Destinations<'a> {
    /// `--json`: a file, or `-` for stdout (the summary then goes to stderr).
    pub json: Option<&'a Path>,
    /// `--histogram`: the histogram log's file.
    pub histogram: Option<&'a Path>,
    /// `--quiet`: no console summary.
    pub quiet: bool,
}

/// An output of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The console summary (stdout, or stderr with `--json -`).
    Summary,
    /// `--json`.
    Json,
    /// `--histogram`.
    Histogram,
    /// The final report handed to the dashboard.
    Dashboard,
}

/// What writing the report came to: the run's verdict (announced), and
/// each output that could not be written, for the caller to say.
#[derive(Debug)]
pub struct Written {
    pub verdict: Verdict,
    pub failed: Vec<(Output, ReportError)>,
}

/// Prints the summary, then writes the JSON report and histogram log and
/// hands the final report to the dashboard, then announces the verdict. An
/// output that fails does not stop the others: the run is over, and what
/// can be kept of it is.
pub fn write(
    plan: &Plan,
    outcome: &Outcome,
    model: Model,
    to: Destinations,
    nodes: Option<Vec<NodeReport>>,
    live: Option<&Live>,
) -> Written {
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
    let mut entries: Vec<(&str, &LazyHistogram)> = vec![("total", &total.latency)];
    for (it, stats) in report.iterations.iter().zip(&outcome.aggregate.iterations) {
        entries.push((it.name.as_str(), &stats.latency));
    }
    let mut failed = Vec::new();
    // The summary first: it is what a user looks at, and a file that cannot
    // be written must not take it along.
    if !to.quiet
        && let Err(e) = print_summary(&report, &total.latency.histogram(), to)
    {
        failed.push((Output::Summary, e));
    }
    if let Some(path) = to.json
        && let Err(e) = report.write_json(path)
    {
        failed.push((Output::Json, e));
    }
    if let Some(path) = to.histogram
        && let Err(e) =
            super::write_histogram_log(path, outcome.started_at, outcome.duration, &entries)
    {
        failed.push((Output::Histogram, e));
    }
    if let Some(live) = live
        && let Err(e) = finish_live(live, &report, outcome, &entries)
    {
        failed.push((Output::Dashboard, e));
    }
    let verdict = Verdict::of(plan, &total, outcome.interrupted);
    verdict.announce();
    Written { verdict, failed }
}

/// Hands the final report and histogram log to the dashboard.
fn finish_live(
    live: &Live,
    report: &Report,
    outcome: &Outcome,
    entries: &[(&str, &LazyHistogram)],
) -> Result<(), ReportError> {
    let log = histogram_log(outcome.started_at, outcome.duration, entries)?;
    let state = if outcome.interrupted {
        "Cancelled"
    } else {
        "Completed"
    };
    live.finish(report.to_json()?, log, state);
    Ok(())
}

/// Prints the console summary: to stdout, unless the JSON report goes there.
/// A console that is gone (a closed pipe) is an error, not a panic.
fn print_summary(
    report: &Report,
    total: &Histogram<u64>,
    to: Destinations,
) -> Result<(), ReportError> {
    let text = report.render(total);
    let printed = if to.json == Some(Path::new("-")) {
        std::io::stderr().lock().write_all(text.as_bytes())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
    printed.map_err(ReportError::Summary)
}
