//! Writing the end-of-run report everywhere it was asked for: the files,
//! the dashboard, the console; then the verdict.

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

/// Writes the JSON report and histogram log, hands the final report to the
/// dashboard, prints the summary and the verdict, and returns the exit code
/// the results call for.
pub fn write(
    plan: &Plan,
    outcome: &Outcome,
    model: Model,
    to: Destinations,
    nodes: Option<Vec<NodeReport>>,
    live: Option<&Live>,
) -> Result<u8, ReportError> {
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
    // Files first: the console may be gone (a closed pipe) but the report must not be lost.
    if let Some(path) = to.json {
        report.write_json(path)?;
    }
    if let Some(path) = to.histogram {
        super::write_histogram_log(path, outcome.started_at, outcome.duration, &entries)?;
    }
    if let Some(live) = live {
        let log = histogram_log(outcome.started_at, outcome.duration, &entries)?;
        let state = if outcome.interrupted {
            "Cancelled"
        } else {
            "Completed"
        };
        live.finish(report.to_json()?, log, state);
    }
    if !to.quiet {
        print_summary(&report, &total.latency.histogram(), to);
    }
    let verdict = Verdict::of(plan, &total, outcome.interrupted);
    verdict.announce();
    Ok(verdict.exit_code())
}

/// The console summary goes to stdout, unless the JSON report does.
fn print_summary(report: &Report, total: &Histogram<u64>, to: Destinations) {
    let text = report.render(total);
    if to.json == Some(Path::new("-")) {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}
