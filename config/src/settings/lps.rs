//! LPS's sections that lps reads, checks and (so far) does not act on:
//! `FileLogger`, `Watchdog`, `InfluxDB`, and the enums of `HttpClient`.
//!
//! They are typed and checked as LPS checks them, so that a file LPS
//! accepts loads here and a value LPS would refuse is named, not ignored.

use std::time::Duration;

use serde_json::Value;

use super::Source;
use super::file::{FileLoggerFile, InfluxDbFile, WatchdogFile};
use crate::error::ConfigError;
use crate::locate::KeyPath;

/// A level of LPS's logger (`LoggingLevel`, `ConsoleLogingLevel`): a name or
/// its number 0-4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Verbose,
    Information,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    const ALL: &[(&str, LogLevel)] = &[
        ("Verbose", LogLevel::Verbose),
        ("Information", LogLevel::Information),
        ("Warning", LogLevel::Warning),
        ("Error", LogLevel::Error),
        ("Critical", LogLevel::Critical),
    ];
}

/// The `FileLogger` section: LPS's log file, which lps writes too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileLoggerSettings {
    pub log_file_path: Option<String>,
    pub logging_level: Option<LogLevel>,
    /// `ConsoleLogingLevel` (sic).
    pub console_logging_level: Option<LogLevel>,
    pub enable_console_logging: Option<bool>,
    pub disable_console_error_logging: Option<bool>,
    pub disable_file_logging: Option<bool>,
}

/// How the watchdog's limits combine (`SuspensionMode`): `Any` (0) limit
/// passed pauses the load, or `All` (1) of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspensionMode {
    Any,
    All,
}

impl SuspensionMode {
    const ALL: &[(&str, SuspensionMode)] =
        &[("Any", SuspensionMode::Any), ("All", SuspensionMode::All)];
}

/// The `Watchdog` section: when LPS pauses its load to spare the machine
/// that generates it. Absent keys take LPS's built-in defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogSettings {
    /// `MaxMemoryMB`: above it the load pauses.
    pub max_memory_mb: u64,
    /// `CoolDownMemoryMB`: below it the load resumes.
    pub cool_down_memory_mb: u64,
    /// `MaxCPUPercentage`.
    pub max_cpu_percentage: u64,
    /// `CoolDownCPUPercentage`.
    pub cool_down_cpu_percentage: u64,
    /// `CoolDownRetryTimeInMs`: how often the limits are sampled.
    pub cool_down_retry_time: Duration,
    /// `MaxConcurrentConnectionsCountPerHostName`.
    pub max_connections_per_host: u64,
    /// `CoolDownConcurrentConnectionsCountPerHostName`.
    pub cool_down_connections_per_host: u64,
    /// `MaxCoolingPeriod` (seconds): the longest pause before the watchdog
    /// gives up for `ResumeCoolingAfter`.
    pub max_cooling_period: Duration,
    /// `ResumeCoolingAfter` (seconds).
    pub resume_cooling_after: Duration,
    pub suspension_mode: SuspensionMode,
}

impl Default for WatchdogSettings {
    /// LPS's `Watchdog.GetDefaultInstance(1000, 50, 500, 30, 1000, 100, 100, 60, 300, Any)`.
    fn default() -> Self {
        WatchdogSettings {
            max_memory_mb: 1000,
            cool_down_memory_mb: 500,
            max_cpu_percentage: 50,
            cool_down_cpu_percentage: 30,
            cool_down_retry_time: Duration::from_millis(100),
            max_connections_per_host: 1000,
            cool_down_connections_per_host: 100,
            max_cooling_period: Duration::from_secs(60),
            resume_cooling_after: Duration::from_secs(300),
            suspension_mode: SuspensionMode::Any,
        }
    }
}

/// The `InfluxDB` section (LPS's metrics export; lps exports none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfluxDbSettings {
    pub enabled: bool,
    pub url: Option<String>,
    pub token: Option<String>,
    pub organization: Option<String>,
    pub bucket: Option<String>,
}

/// `HttpClient.HeaderValidationMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderValidationMode {
    Strict,
    Lenient,
    RawPassthrough,
}

impl HeaderValidationMode {
    pub(super) const ALL: &[(&str, HeaderValidationMode)] = &[
        ("Strict", HeaderValidationMode::Strict),
        ("Lenient", HeaderValidationMode::Lenient),
        ("RawPassthrough", HeaderValidationMode::RawPassthrough),
    ];
}

/// `HttpClient.ServerTimeFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTimeFormat {
    Auto,
    Milliseconds,
    Seconds,
    ServerTiming,
}

impl ServerTimeFormat {
    pub(super) const ALL: &[(&str, ServerTimeFormat)] = &[
        ("Auto", ServerTimeFormat::Auto),
        ("Milliseconds", ServerTimeFormat::Milliseconds),
        ("Seconds", ServerTimeFormat::Seconds),
        ("ServerTiming", ServerTimeFormat::ServerTiming),
    ];
}

impl Source<'_> {
    /// The value named `text` among `names`, case-insensitively as .NET
    /// binds an enum.
    pub(super) fn name<T: Copy>(
        &self,
        path: KeyPath,
        text: &str,
        names: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        names
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
            .map(|(_, value)| *value)
            .ok_or_else(|| self.invalid(path, format!("{text:?} is not one of {}", list(names))))
    }

    /// As [`Source::name`], or the value's index in `names` given as a number.
    fn name_or_number<T: Copy>(
        &self,
        path: KeyPath,
        value: &Value,
        names: &[(&str, T)],
    ) -> Result<T, ConfigError> {
        let numbered = value
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| names.get(n));
        match (value, numbered) {
            (_, Some((_, found))) => Ok(*found),
            (Value::String(text), _) => self.name(path, text, names),
            _ => Err(self.invalid(
                path,
                format!(
                    "{value} is not one of {} (or 0-{})",
                    list(names),
                    names.len() - 1
                ),
            )),
        }
    }

    /// `value`, which must be above 0.
    fn positive(&self, path: KeyPath, value: u64) -> Result<u64, ConfigError> {
        if value == 0 {
            return Err(self.invalid(path, "0 is not above 0".into()));
        }
        Ok(value)
    }
}

fn list<T>(names: &[(&str, T)]) -> String {
    let names: Vec<&str> = names.iter().map(|(name, _)| *name).collect();
    names.join(", ")
}

impl FileLoggerFile {
    pub(super) fn check(self, source: &Source<'_>) -> Result<FileLoggerSettings, ConfigError> {
        let at = |key: &str| source.at("FileLogger", key);
        if self.log_file_path.as_deref().is_some_and(str::is_empty) {
            return Err(source.invalid(at("LogFilePath"), "the path is empty".into()));
        }
        let level = |key: &str, value: Option<Value>| {
            value
                .map(|v| source.name_or_number(at(key), &v, LogLevel::ALL))
                .transpose()
        };
        Ok(FileLoggerSettings {
            log_file_path: self.log_file_path,
            logging_level: level("LoggingLevel", self.logging_level)?,
            console_logging_level: level("ConsoleLogingLevel", self.console_logging_level)?,
            enable_console_logging: self.enable_console_logging,
            disable_console_error_logging: self.disable_console_error_logging,
            disable_file_logging: self.disable_file_logging,
        })
    }
}

impl WatchdogFile {
    /// The checked section: every number above 0, each `Max…` above its
    /// `CoolDown…` (absent keys count with LPS's defaults).
    pub(super) fn check(self, source: &Source<'_>) -> Result<WatchdogSettings, ConfigError> {
        let at = |key: &str| source.at("Watchdog", key);
        let d = WatchdogSettings::default();
        let number = |key: &str, value: Option<u64>, default: u64| {
            value.map_or(Ok(default), |v| source.positive(at(key), v))
        };
        let settings = WatchdogSettings {
            max_memory_mb: number("MaxMemoryMB", self.max_memory_mb, d.max_memory_mb)?,
            cool_down_memory_mb: number(
                "CoolDownMemoryMB",
                self.cool_down_memory_mb,
                d.cool_down_memory_mb,
            )?,
            max_cpu_percentage: number(
                "MaxCPUPercentage",
                self.max_cpu_percentage,
                d.max_cpu_percentage,
            )?,
            cool_down_cpu_percentage: number(
                "CoolDownCPUPercentage",
                self.cool_down_cpu_percentage,
                d.cool_down_cpu_percentage,
            )?,
            cool_down_retry_time: Duration::from_millis(number(
                "CoolDownRetryTimeInMs",
                self.cool_down_retry_time_in_ms,
                100,
            )?),
            max_connections_per_host: number(
                "MaxConcurrentConnectionsCountPerHostName",
                self.max_concurrent_connections_count_per_host_name,
                d.max_connections_per_host,
            )?,
            cool_down_connections_per_host: number(
                "CoolDownConcurrentConnectionsCountPerHostName",
                self.cool_down_concurrent_connections_count_per_host_name,
                d.cool_down_connections_per_host,
            )?,
            max_cooling_period: seconds(number("MaxCoolingPeriod", self.max_cooling_period, 60)?),
            resume_cooling_after: seconds(number(
                "ResumeCoolingAfter",
                self.resume_cooling_after,
                300,
            )?),
            suspension_mode: match self.suspension_mode {
                None => d.suspension_mode,
                Some(v) => source.name_or_number(at("SuspensionMode"), &v, SuspensionMode::ALL)?,
            },
        };
        settings.check_pairs(source)?;
        Ok(settings)
    }
}

/// Whole seconds, capped at a year (a longer pause is no pause).
fn seconds(n: u64) -> Duration {
    Duration::from_secs(n).min(crate::LONGEST)
}

impl WatchdogSettings {
    fn check_pairs(&self, source: &Source<'_>) -> Result<(), ConfigError> {
        let pairs = [
            (
                ("MaxMemoryMB", self.max_memory_mb),
                ("CoolDownMemoryMB", self.cool_down_memory_mb),
            ),
            (
                ("MaxCPUPercentage", self.max_cpu_percentage),
                ("CoolDownCPUPercentage", self.cool_down_cpu_percentage),
            ),
            (
                (
                    "MaxConcurrentConnectionsCountPerHostName",
                    self.max_connections_per_host,
                ),
                (
                    "CoolDownConcurrentConnectionsCountPerHostName",
                    self.cool_down_connections_per_host,
                ),
            ),
        ];
        for ((max_key, max), (cool_key, cool)) in pairs {
            if max <= cool {
                return Err(source.invalid(
                    source.at("Watchdog", max_key),
                    format!("{max} is not above {cool_key} ({cool}): the load would never resume"),
                ));
            }
        }
        Ok(())
    }
}

impl InfluxDbFile {
    /// The checked section: when `Enabled`, `Url` (http:// or https://),
    /// `Token` and `Organization` are required, as LPS requires them.
    pub(super) fn check(self, source: &Source<'_>) -> Result<InfluxDbSettings, ConfigError> {
        let at = |key: &str| source.at("InfluxDB", key);
        let enabled = self.enabled.unwrap_or(false);
        if enabled {
            let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
            for (key, value) in [
                ("Url", &self.url),
                ("Token", &self.token),
                ("Organization", &self.organization),
            ] {
                if !given(value) {
                    return Err(source.invalid(at(key), "required when Enabled is true".into()));
                }
            }
            let url = self.url.as_deref().unwrap_or_default();
            let lower = url.trim().to_ascii_lowercase();
            if !lower.starts_with("http://") && !lower.starts_with("https://") {
                return Err(source.invalid(
                    at("Url"),
                    format!("{url:?} does not start with http:// or https://"),
                ));
            }
        }
        Ok(InfluxDbSettings {
            enabled,
            url: self.url,
            token: self.token,
            organization: self.organization,
            bucket: self.bucket,
        })
    }
}
