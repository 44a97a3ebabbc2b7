//! What a run needs besides the plan, from the command line and the
//! settings file, checked before anything starts.

use std::path::Path;

use lps_config::Settings;
use lps_engine::RunOptions;

use super::Error;
use super::cli::{EngineArgs, OutputArgs};
use crate::dashboard::live::Live;
use crate::report::series::SeriesFormat;
use crate::report::{self, Destinations, Model};

/// The settings file read when `--settings` is not given.
pub const DEFAULT_SETTINGS: &str = "config/lpsSettings.json";

/// The settings file given, else the default one if it exists, else the
/// defaults. What the file holds and lps does not act on is named once.
pub fn settings(given: Option<&Path>) -> Result<Settings, Error> {
    let settings = match given {
        Some(path) => Some(Settings::load(path)?),
        None => Settings::load_default_if_exists(Path::new(DEFAULT_SETTINGS))?,
    };
    let settings = settings.unwrap_or_default();
    crate::logger::open(settings.file_logger.as_ref())?;
    if let Some(line) = not_used_line(&settings) {
        log::info!("{line}");
    }
    Ok(settings)
}

/// The line naming the settings lps accepts and does not act on, if any.
fn not_used_line(settings: &Settings) -> Option<String> {
    (!settings.not_used.is_empty()).then(|| {
        format!(
            "lps: settings: not used by lps: {}",
            settings.not_used.join(", ")
        )
    })
}

/// Whether a single node serves the dashboard: `--dashboard`, or
/// `Dashboard.BuiltInDashboard: true` in the settings.
pub fn dashboard(output: &OutputArgs, settings: &Settings) -> bool {
    output.dashboard || settings.dashboard.built_in == Some(true)
}

/// The engine's options: the command line's, else the settings'.
pub fn engine(engine: &EngineArgs, settings: &Settings) -> Result<RunOptions, Error> {
    let timeout = match engine.timeout {
        None => settings.http_client.timeout,
        Some(seconds) => lps_config::positive_seconds(seconds).ok_or(Error::Timeout { seconds })?,
    };
    let opts = RunOptions {
        threads: engine.threads,
        timeout,
        rate: engine.rate,
        insecure: engine.insecure,
        max_connections_per_server: settings
            .http_client
            .max_connections_per_server
            .unwrap_or(lps_engine::DEFAULT_MAX_CONNECTIONS_PER_SERVER),
        h2_streams: engine.h2_streams,
        coalesce: std::time::Duration::from_micros(engine.coalesce_us),
        ..Default::default()
    };
    opts.check()?;
    Ok(opts)
}

/// How load is offered: `--rate` makes it an open model.
pub fn model(engine: &EngineArgs) -> Model {
    match engine.rate {
        Some(rate) => Model::Open { rate },
        None => Model::Closed,
    }
}

/// Whether the run needs the live model without a dashboard: `--series`
/// and `--html` are made of its seconds.
pub fn needs_live(output: &OutputArgs) -> bool {
    output.series.is_some() || output.html.is_some()
}

/// Has `live` keep what `--series` writes, if it is asked for (before the
/// run: the series starts with it).
pub fn prepare_live(live: &Live, output: &OutputArgs) {
    if output.series.is_some() {
        live.record_series();
    }
}

/// Fails before the run, not after it, when a report file cannot be written
/// or `--series` names no format.
pub fn check_outputs(output: &OutputArgs) -> Result<(), Error> {
    if let Some(path) = &output.series
        && SeriesFormat::of(path).is_none()
    {
        return Err(Error::SeriesFormat { path: path.clone() });
    }
    let files = [
        ("--json", &output.json),
        ("--histogram", &output.histogram),
        ("--junit", &output.junit),
        ("--series", &output.series),
        ("--html", &output.html),
    ];
    for (option, path) in files {
        let Some(path) = path.as_deref().filter(|p| *p != Path::new("-")) else {
            continue;
        };
        // Creates nothing: a run killed before its end must not leave an
        // empty report behind.
        report::check_writable(path).map_err(|source| Error::OutputNotWritable {
            option,
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// Where the report goes, as the options say.
pub fn destinations(output: &OutputArgs) -> Destinations<'_> {
    Destinations {
        json: output.json.as_deref(),
        histogram: output.histogram.as_deref(),
        junit: output.junit.as_deref(),
        series: output.series.as_deref(),
        html: output.html.as_deref(),
        quiet: output.quiet,
    }
}

/// Reads a PEM file named in the Cluster TLS settings.
pub fn read_pem(path: &Path) -> Result<Vec<u8>, Error> {
    let pem = std::fs::read(path).map_err(|source| Error::PemUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    // tonic only parses it when the server starts, and names no file.
    if !pem.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(Error::NotPem {
            path: path.to_path_buf(),
        });
    }
    Ok(pem)
}
