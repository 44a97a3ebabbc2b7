//! What lps says on stderr, also written to the log file that LPS's
//! `FileLogger` settings ask for (`LogFilePath`, from `LoggingLevel` up).
//!
//! Messages go through the `log` facade: `info!` and above are printed as
//! written, as they always were; `debug!` reaches only the file. Lines said
//! before the settings are read (the plan's warnings) are kept and written
//! first, so the file has the whole run.

use std::fs::{File, OpenOptions};
use std::io::{LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};
use lps_config::{FileLoggerSettings, LogLevel};

/// LPS's log file when `FileLogger` gives none.
pub const DEFAULT_LOG_FILE: &str = "logs/lps-logs.log";

/// Most lines kept before the log file opens; a run says a handful.
const EARLY_LINES: usize = 1000;

/// The process's one logger.
static LOGGER: Logger = Logger {
    file: OnceLock::new(),
    early: Mutex::new(Some(Vec::new())),
};

struct Logger {
    /// The log file and the least level it takes, once opened.
    file: OnceLock<(Mutex<LineWriter<File>>, LevelFilter)>,
    /// Lines said before the file opened; `None` once it did, or once it
    /// is known there is none.
    early: Mutex<Option<Vec<(Level, String)>>>,
}

/// Why the log file cannot be written.
#[derive(Debug, thiserror::Error)]
#[error("FileLogger.LogFilePath: cannot write {}: {source}", .path.display())]
pub struct LogFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Makes the `log` macros print to stderr; called once, first thing.
pub fn init() {
    // A second call (tests driving `main` twice) keeps the first logger.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Trace);
}

/// Opens the log file the settings ask for and writes what was said so far
/// into it; with no `FileLogger` section, or `DisableFileLogging`, there is
/// none, and nothing more is kept for it.
pub fn open(settings: Option<&FileLoggerSettings>) -> Result<(), LogFileError> {
    let Some(s) = settings.filter(|s| s.disable_file_logging != Some(true)) else {
        LOGGER.forget_early();
        return Ok(());
    };
    let path = PathBuf::from(s.log_file_path.as_deref().unwrap_or(DEFAULT_LOG_FILE));
    let file = create(&path).map_err(|source| LogFileError {
        path: path.clone(),
        source,
    })?;
    let level = filter(s.logging_level.unwrap_or(LogLevel::Verbose));
    let mut writer = LineWriter::new(file);
    if let Some(early) = LOGGER.early.lock().ok().and_then(|mut e| e.take()) {
        for (at, line) in early {
            if at <= level {
                // A line the disk refuses is not worth failing the run for.
                let _ = writer.write_all(line.as_bytes());
            }
        }
    }
    let _ = LOGGER.file.set((Mutex::new(writer), level));
    Ok(())
}

/// Opens `path` for appending, with its folder, as LPS's file logger does.
fn create(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The `log` levels an LPS level takes (`Critical` is `Error` here).
fn filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Verbose => LevelFilter::Trace,
        LogLevel::Information => LevelFilter::Info,
        LogLevel::Warning => LevelFilter::Warn,
        LogLevel::Error | LogLevel::Critical => LevelFilter::Error,
    }
}

/// LPS's name of a level, as the file shows it.
fn lps_name(level: Level) -> &'static str {
    match level {
        Level::Trace | Level::Debug => "Verbose",
        Level::Info => "Information",
        Level::Warn => "Warning",
        Level::Error => "Error",
    }
}

impl Logger {
    fn forget_early(&self) {
        if let Ok(mut early) = self.early.lock() {
            *early = None;
        }
    }
}

impl Log for Logger {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        if record.level() <= Level::Info {
            eprintln!("{}", record.args());
        }
        let line = format!(
            "{} [{}] {}\n",
            humantime::format_rfc3339_millis(SystemTime::now()),
            lps_name(record.level()),
            record.args()
        );
        if let Some((file, level)) = self.file.get() {
            if record.level() <= *level
                && let Ok(mut file) = file.lock()
            {
                let _ = file.write_all(line.as_bytes());
            }
            return;
        }
        if let Ok(mut early) = self.early.lock()
            && let Some(early) = early.as_mut()
            && early.len() < EARLY_LINES
        {
            early.push((record.level(), line));
        }
    }

    fn flush(&self) {
        if let Some((file, _)) = self.file.get()
            && let Ok(mut file) = file.lock()
        {
            let _ = file.flush();
        }
    }
}
