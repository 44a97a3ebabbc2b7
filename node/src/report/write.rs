//! Writing the end-of-run report everywhere it was asked for: the console,
//! the files, the dashboard; then the verdict. Files are written whole or
//! not at all ([`write_atomic`]).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use lps_config::Plan;
use lps_engine::LazyHistogram;

use super::series::SeriesFormat;
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
    /// `--junit`: the verdict and the rules as JUnit XML.
    pub junit: Option<&'a Path>,
    /// `--series`: the per-second series (CSV or JSON Lines by extension).
    pub series: Option<&'a Path>,
    /// `--html`: the report as one HTML file.
    pub html: Option<&'a Path>,
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
    /// `--junit`.
    Junit,
    /// `--series`.
    Series,
    /// `--html`.
    Html,
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

/// Prints the summary, then writes the JSON report and histogram log,
/// hands the final report to the dashboard, writes the JUnit report, the
/// series and the HTML report, then announces the verdict. An
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
    let report = report_of(plan, outcome, model, nodes);
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
    let verdict = Verdict::of(plan, &total, outcome.interrupted).with_rules(&report.rules);
    if let Some(path) = to.junit {
        let xml = super::junit::xml(&report, &verdict);
        if let Err(source) = write_atomic(path, xml.as_bytes()) {
            let path = path.to_path_buf();
            failed.push((Output::Junit, ReportError::Junit { path, source }));
        }
    }
    // After the dashboard's: its end closed the run's last second.
    if let Some(path) = to.series
        && let Err(e) = write_series(path, live)
    {
        failed.push((Output::Series, e));
    }
    if let Some(path) = to.html
        && let Err(e) = write_html(path, &report, live)
    {
        failed.push((Output::Html, e));
    }
    verdict.announce();
    Written { verdict, failed }
}

/// The run's report: its figures, the nodes', the watchdog's pauses, the
/// iterations a rule terminated and the rules' verdicts.
fn report_of(
    plan: &Plan,
    outcome: &Outcome,
    model: Model,
    nodes: Option<Vec<NodeReport>>,
) -> Report {
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
    report.watchdog = outcome
        .watchdog
        .as_ref()
        .map(super::json::WatchdogReport::new);
    for &(index, at_s) in &outcome.terminated {
        if let Some(it) = report.iterations.get_mut(index) {
            it.terminated_at_s = Some(at_s);
        }
    }
    let run_us = outcome.duration.as_micros() as u64;
    report.rules = crate::rules::judge(plan, &outcome.aggregate, run_us, &outcome.rules);
    report
}

/// Writes `--series`: the rows `live` recorded, in the format the path's
/// extension names (checked before the run; CSV if it was not).
fn write_series(path: &Path, live: Option<&Live>) -> Result<(), ReportError> {
    let live = live.ok_or(ReportError::NotRecorded)?;
    let format = SeriesFormat::of(path).unwrap_or(SeriesFormat::Csv);
    let text = super::series::render(&live.series_rows(), format);
    write_atomic(path, text.as_bytes()).map_err(|source| ReportError::Series {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `--html`: the dashboard's page with the final data inside.
fn write_html(path: &Path, report: &Report, live: Option<&Live>) -> Result<(), ReportError> {
    let live = live.ok_or(ReportError::NotRecorded)?;
    let html = super::html::document(report, live)?;
    write_atomic(path, html.as_bytes()).map_err(|source| ReportError::Html {
        path: path.to_path_buf(),
        source,
    })
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

/// Writes `bytes` to `path` whole or not at all: to a temporary file beside
/// it, flushed to disk, then renamed over it. A process killed meanwhile
/// leaves the file as it was (or none), never an empty or partial one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if is_special(path) {
        // /dev/null, /dev/stdout, a FIFO: nothing to replace (and a device
        // must never be renamed over), written in place.
        return std::fs::write(path, bytes);
    }
    // A symbolic link is followed: its target is replaced, the link stays.
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let temp = temp_path(path);
    let written = write_synced(&temp, bytes).and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        // A failed write leaves nothing worth keeping; the file may not exist.
        let _ = std::fs::remove_file(&temp);
        return written;
    }
    // The rename reaches the disk with the directory; a failure here loses
    // nothing this process could still save.
    let _ = File::open(parent(path)).and_then(|dir| dir.sync_all());
    Ok(())
}

/// Fails now, not after the run, when [`write_atomic`] could not write
/// `path`: a directory is in the way, or its directory takes no new file.
pub fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    if is_special(path) {
        return OpenOptions::new().append(true).open(path).map(drop);
    }
    let path = &std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let temp = temp_path(path);
    create(&temp)?;
    std::fs::remove_file(&temp)
}

/// Something other than a file or directory is there (a device, a FIFO).
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// `path`'s temporary file: hidden, in the same directory (a rename does
/// not cross file systems), and this process's own.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or(path.as_os_str()));
    name.push(format!(".{}.tmp", std::process::id()));
    parent(path).join(name)
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the target's temp dir.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lps-write-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        let path = dir.join("r.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        assert_eq!(entries(&dir), ["r.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = scratch("fail");
        // A directory in the way: the rename fails after the temporary file was written.
        let blocked = dir.join("r.json");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"report").is_err());
        assert_eq!(entries(&dir), ["r.json"]);
        let missing = dir.join("no/such/dir/r.json");
        assert_eq!(
            write_atomic(&missing, b"report").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_check_creates_nothing() {
        let dir = scratch("check");
        check_writable(&dir.join("r.json")).unwrap();
        assert_eq!(entries(&dir), Vec::<String>::new());
        assert_eq!(
            check_writable(&dir).unwrap_err().kind(),
            io::ErrorKind::IsADirectory
        );
        assert!(check_writable(&dir.join("no/r.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn devices_are_written_in_place_and_links_followed() {
        write_atomic(Path::new("/dev/null"), b"report").unwrap();
        check_writable(Path::new("/dev/null")).unwrap();
        assert!(Path::new("/dev/null").exists());
        let dir = scratch("link");
        let target = dir.join("target.json");
        std::fs::write(&target, b"old").unwrap();
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_files_are_hidden_beside_the_file() {
        let pid = std::process::id();
        assert_eq!(
            temp_path(Path::new("r.json")),
            PathBuf::from(format!("./.r.json.{pid}.tmp"))
        );
        assert_eq!(
            temp_path(Path::new("out/r.json")),
            PathBuf::from(format!("out/.r.json.{pid}.tmp"))
        );
    }
}
