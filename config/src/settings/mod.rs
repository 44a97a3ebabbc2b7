//! The settings file (`config/lpsSettings.json`): cluster, dashboard and
//! HTTP client settings, and LPS's other sections, PascalCase keys as in LPS.
//!
//! Two layouts: LPS's, with the sections under `LPSAppSettings`, and lps's
//! own, with them at the top level; a file uses one. Section and key names
//! are case-insensitive, as LPS reads them. Every section is optional;
//! without a `Cluster` section lps runs on one node. Unknown keys are errors
//! that name the key and line. What lps reads and does not act on is listed
//! in [`Settings::not_used`].
//!
//! # Layout
//! - `keys`: the known names, and respelling them before deserialising.
//! - `file`: the file's shape, as deserialised.
//! - `lps`: LPS's sections lps checks and does not act on.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::de::IgnoredAny;

use crate::error::ConfigError;
use crate::format::{self, Format};
use crate::locate::{self, KeyPath};
use crate::plan::positive_seconds;

use file::{ClusterFile, DashboardFile, HttpClientFile, LpsFile, SectionsFile};
pub use lps::{
    FileLoggerSettings, HeaderValidationMode, InfluxDbSettings, LogLevel, ServerTimeFormat,
    SuspensionMode, WatchdogSettings,
};

mod file;
mod keys;
mod lps;
#[cfg(test)]
mod tests;

/// Checked settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Which layout the file used.
    pub layout: Layout,
    /// Present when this node is part of a cluster.
    pub cluster: Option<ClusterSettings>,
    pub dashboard: DashboardSettings,
    pub http_client: HttpClientSettings,
    /// LPS's `FileLogger` section, when present.
    pub file_logger: Option<FileLoggerSettings>,
    /// LPS's `Watchdog` section, when present.
    pub watchdog: Option<WatchdogSettings>,
    /// LPS's `InfluxDB` section, when present.
    pub influx_db: Option<InfluxDbSettings>,
    /// The sections and keys present in the file that lps reads, checks and
    /// does not act on (`InfluxDB`, `FileLogger.ConsoleLogingLevel`, ...), in the order of LPS's own file.
    pub not_used: Vec<&'static str>,
}

/// Where a settings file keeps its sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// At the top level (lps's layout; also the one of no file).
    #[default]
    Flat,
    /// Under `LPSAppSettings` (LPS's layout).
    Lps,
}

/// The `Cluster` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// `MasterNodeIP`: address of the master node (required).
    pub master_node_ip: IpAddr,
    /// `MasterNodeIsWorker`: the master also generates load; default true.
    pub master_node_is_worker: bool,
    /// `GRPCPort`: port the master listens on for workers; default 5001.
    pub grpc_port: u16,
    /// `ExpectedNumberOfWorkers`: workers the master waits for before a
    /// test starts; default 0 (do not wait).
    pub expected_number_of_workers: u32,
    /// Shared secret a worker must present to register (`Secret`; the
    /// `LPS_CLUSTER_SECRET` environment variable overrides it).
    pub secret: Option<String>,
    /// How long a worker keeps retrying to reach the master (`ConnectTimeoutSeconds`).
    pub connect_timeout: Duration,
    /// Silence after which the master marks a worker `Lost` (`HeartbeatTimeoutSeconds`).
    pub heartbeat_timeout: Duration,
    /// `MaxNodes`: the most workers the master registers; more are refused,
    /// so that registrations cannot grow its memory without bound. Default
    /// [`DEFAULT_MAX_NODES`]; at least `ExpectedNumberOfWorkers`.
    pub max_nodes: u32,
    /// TLS for the gRPC port (`TlsCertificate`, `TlsKey`, `TlsCaCertificate`).
    pub tls: Option<ClusterTls>,
}

/// Certificate paths for gRPC over TLS: the master serves `certificate` and
/// `key`; workers trust `ca_certificate` (or `certificate` when it is absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTls {
    pub certificate: std::path::PathBuf,
    pub key: std::path::PathBuf,
    pub ca_certificate: Option<std::path::PathBuf>,
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_MAX_NODES: u32 = 1000;

/// The `Dashboard` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSettings {
    /// `Port`: default 5050 (0: any free port).
    pub port: u16,
    /// `Token`: when set, the dashboard requires it.
    pub token: Option<String>,
    /// `BuiltInDashboard`: true serves the dashboard without `--dashboard`;
    /// false or absent leaves it to the command line (a master always serves it).
    pub built_in: Option<bool>,
    /// `RefreshRate` (LPS's poll interval; lps's dashboard streams, so it is not used).
    pub refresh_rate: Option<Duration>,
}

/// The `HttpClient` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpClientSettings {
    /// `ClientTimeoutInSeconds` (LPS) or `TimeoutSeconds` (lps): how long one
    /// request may take; default 30 s.
    pub timeout: Duration,
    /// `MaxConnectionsPerServer`: most HTTP/1.1 connections a client opens to
    /// its server (a batch's requests past it wait for one); LPS's 1000 when absent.
    pub max_connections_per_server: Option<u32>,
    /// `PooledConnectionLifeTimeInSeconds` (not used).
    pub pooled_connection_lifetime: Option<Duration>,
    /// `PooledConnectionIdleTimeoutInSeconds` (not used).
    pub pooled_connection_idle_timeout: Option<Duration>,
    /// `HeaderValidationMode` (not used: lps sends headers as written).
    pub header_validation_mode: Option<HeaderValidationMode>,
    /// `AllowHostOverride` (not used).
    pub allow_host_override: Option<bool>,
    /// `ServerTimeHeader` (not used).
    pub server_time_header: Option<String>,
    /// `ServerTimeFormat` (not used).
    pub server_time_format: Option<ServerTimeFormat>,
}

pub const DEFAULT_GRPC_PORT: u16 = 5001;
pub const DEFAULT_DASHBOARD_PORT: u16 = 5050;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            port: DEFAULT_DASHBOARD_PORT,
            token: None,
            built_in: None,
            refresh_rate: None,
        }
    }
}

impl Default for HttpClientSettings {
    fn default() -> Self {
        HttpClientSettings {
            timeout: DEFAULT_TIMEOUT,
            max_connections_per_server: None,
            pooled_connection_lifetime: None,
            pooled_connection_idle_timeout: None,
            header_validation_mode: None,
            allow_host_override: None,
            server_time_header: None,
            server_time_format: None,
        }
    }
}

impl Default for Settings {
    /// Single node, dashboard on 5050, 30 s request timeout.
    fn default() -> Self {
        Settings {
            layout: Layout::Flat,
            cluster: None,
            dashboard: DashboardSettings::default(),
            http_client: HttpClientSettings::default(),
            file_logger: None,
            watchdog: None,
            influx_db: None,
            not_used: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads and checks the settings file at `path`.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = format::read(path)?;
        Settings::parse(&text, &path.display().to_string())
    }

    /// As [`Settings::load`], but `Ok(None)` when there is no file at `path`.
    pub fn load_default_if_exists(path: &Path) -> Result<Option<Settings>, ConfigError> {
        match Settings::load(path) {
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Parses and checks settings JSON in either layout; `origin` is the
    /// file name used in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Settings, ConfigError> {
        // Syntax faults are named where they are, before any respelling.
        format::deserialize::<IgnoredAny>(text, origin, Format::Json)?;
        let text = &keys::canonical(text);
        let top: BTreeMap<String, IgnoredAny> = format::deserialize(text, origin, Format::Json)?;
        let flat = Source {
            text,
            origin,
            root: KeyPath::default(),
        };
        if !top.contains_key(keys::LPS_ROOT) {
            let file: SectionsFile = format::deserialize(text, origin, Format::Json)?;
            return file.check(&flat, Layout::Flat);
        }
        let section = |key: &&String| keys::SECTIONS.iter().any(|(name, _)| name == *key);
        if let Some(outside) = top.keys().find(section) {
            return Err(flat.invalid(
                KeyPath::default().key(outside.as_str()),
                format!(
                    "a section beside {root}: the sections go either all under {root} \
                     (LPS's layout) or all at the top level (lps's), not both",
                    root = keys::LPS_ROOT
                ),
            ));
        }
        let file: LpsFile = format::deserialize(text, origin, Format::Json)?;
        let nested = Source {
            root: KeyPath::default().key(keys::LPS_ROOT),
            ..flat
        };
        file.sections.check(&nested, Layout::Lps)
    }
}

impl SectionsFile {
    fn check(self, source: &Source<'_>, layout: Layout) -> Result<Settings, ConfigError> {
        let not_used = self.not_used();
        Ok(Settings {
            layout,
            http_client: self.http_client.unwrap_or_default().check(source)?,
            dashboard: self.dashboard.unwrap_or_default().check(source)?,
            cluster: self.cluster.map(|c| c.check(source)).transpose()?,
            file_logger: self.file_logger.map(|f| f.check(source)).transpose()?,
            watchdog: self.watchdog.map(|w| w.check(source)).transpose()?,
            influx_db: self.influx_db.map(|i| i.check(source)).transpose()?,
            not_used,
        })
    }

    /// The sections and keys present that lps does not act on.
    fn not_used(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if let Some(f) = &self.file_logger {
            // The log file is written; the console prints as it always does.
            let keys = [
                (
                    f.console_logging_level.is_some(),
                    "FileLogger.ConsoleLogingLevel",
                ),
                (
                    f.enable_console_logging.is_some(),
                    "FileLogger.EnableConsoleLogging",
                ),
                (
                    f.disable_console_error_logging.is_some(),
                    "FileLogger.DisableConsoleErrorLogging",
                ),
            ];
            names.extend(keys.iter().filter(|(present, _)| *present).map(|(_, n)| *n));
        }
        if let Some(h) = &self.http_client {
            let keys = [
                (
                    h.pooled_connection_lifetime_in_seconds.is_some(),
                    "HttpClient.PooledConnectionLifeTimeInSeconds",
                ),
                (
                    h.pooled_connection_idle_timeout_in_seconds.is_some(),
                    "HttpClient.PooledConnectionIdleTimeoutInSeconds",
                ),
                (
                    h.header_validation_mode.is_some(),
                    "HttpClient.HeaderValidationMode",
                ),
                (
                    h.allow_host_override.is_some(),
                    "HttpClient.AllowHostOverride",
                ),
                (
                    h.server_time_header.is_some(),
                    "HttpClient.ServerTimeHeader",
                ),
                (
                    h.server_time_format.is_some(),
                    "HttpClient.ServerTimeFormat",
                ),
            ];
            names.extend(keys.iter().filter(|(present, _)| *present).map(|(_, k)| *k));
        }
        if self
            .dashboard
            .as_ref()
            .is_some_and(|d| d.refresh_rate.is_some())
        {
            names.push("Dashboard.RefreshRate");
        }
        if self.influx_db.is_some() {
            names.push("InfluxDB");
        }
        names
    }
}

impl HttpClientFile {
    /// The checked section.
    fn check(self, source: &Source<'_>) -> Result<HttpClientSettings, ConfigError> {
        let at = |key: &str| source.at("HttpClient", key);
        let timeout = self.timeout(source)?;
        let (lifetime, idle) = self.pool(source)?;
        if self.max_connections_per_server == Some(0) {
            return Err(source.invalid(at("MaxConnectionsPerServer"), "0 is not above 0".into()));
        }
        let mode = self
            .header_validation_mode
            .map(|m| source.name(at("HeaderValidationMode"), &m, HeaderValidationMode::ALL))
            .transpose()?;
        if mode == Some(HeaderValidationMode::Strict) && self.allow_host_override == Some(true) {
            return Err(source.invalid(
                at("AllowHostOverride"),
                "true does not go with HeaderValidationMode Strict".into(),
            ));
        }
        Ok(HttpClientSettings {
            timeout,
            max_connections_per_server: self.max_connections_per_server,
            pooled_connection_lifetime: lifetime,
            pooled_connection_idle_timeout: idle,
            header_validation_mode: mode,
            allow_host_override: self.allow_host_override,
            server_time_header: self.server_time_header,
            server_time_format: self
                .server_time_format
                .map(|f| source.name(at("ServerTimeFormat"), &f, ServerTimeFormat::ALL))
                .transpose()?,
        })
    }

    /// The request timeout, which has two names (lps's and LPS's); one
    /// of them may be given.
    fn timeout(&self, source: &Source<'_>) -> Result<Duration, ConfigError> {
        let at = |key: &str| source.at("HttpClient", key);
        match (self.timeout_seconds, self.client_timeout_in_seconds) {
            (Some(_), Some(_)) => Err(source.invalid(
                at("ClientTimeoutInSeconds"),
                "TimeoutSeconds and ClientTimeoutInSeconds are the same setting (the request \
                 timeout): give one"
                    .into(),
            )),
            (Some(v), None) => source.seconds(at("TimeoutSeconds"), Some(v), DEFAULT_TIMEOUT),
            (None, v) => source.seconds(at("ClientTimeoutInSeconds"), v, DEFAULT_TIMEOUT),
        }
    }

    /// The pooled connections' lifetime and idle timeout; a connection may
    /// not be retired before it can idle out.
    fn pool(
        &self,
        source: &Source<'_>,
    ) -> Result<(Option<Duration>, Option<Duration>), ConfigError> {
        let at = |key: &str| source.at("HttpClient", key);
        let idle_key = "PooledConnectionIdleTimeoutInSeconds";
        let lifetime_key = "PooledConnectionLifeTimeInSeconds";
        let idle = source
            .optional_seconds(at(idle_key), self.pooled_connection_idle_timeout_in_seconds)?;
        let lifetime = source
            .optional_seconds(at(lifetime_key), self.pooled_connection_lifetime_in_seconds)?;
        if let (Some(lifetime), Some(idle)) = (lifetime, idle)
            && lifetime < idle
        {
            return Err(source.invalid(
                at(lifetime_key),
                format!("{lifetime:?} is shorter than {idle_key} ({idle:?})"),
            ));
        }
        Ok((lifetime, idle))
    }
}

impl DashboardFile {
    fn check(self, source: &Source<'_>) -> Result<DashboardSettings, ConfigError> {
        if self.refresh_rate == Some(0) {
            return Err(source.invalid(
                source.at("Dashboard", "RefreshRate"),
                "0 is not above 0".into(),
            ));
        }
        Ok(DashboardSettings {
            port: self.port.unwrap_or(DEFAULT_DASHBOARD_PORT),
            token: self.token,
            built_in: self.built_in_dashboard,
            refresh_rate: self
                .refresh_rate
                .map(|s| Duration::from_secs(s).min(crate::LONGEST)),
        })
    }
}

/// The settings text being checked, to name the file and line of a fault.
struct Source<'a> {
    text: &'a str,
    origin: &'a str,
    /// Where the sections are: the top level, or `LPSAppSettings`.
    root: KeyPath,
}

impl Source<'_> {
    /// The path of `key` in `section`.
    fn at(&self, section: &str, key: &str) -> KeyPath {
        self.root.key(section).key(key)
    }

    /// A [`ConfigError::Invalid`] for the value at `path`.
    fn invalid(&self, path: KeyPath, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.to_owned(),
            line: locate::line_of_any(self.text, Format::Json, std::slice::from_ref(&path)),
            key: path.to_string(),
            message,
        }
    }

    /// The duration of a seconds setting at `path`, `default` when absent.
    fn seconds(
        &self,
        path: KeyPath,
        value: Option<f64>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        Ok(self.optional_seconds(path, value)?.unwrap_or(default))
    }

    /// The duration of a seconds setting at `path`, if given.
    fn optional_seconds(
        &self,
        path: KeyPath,
        value: Option<f64>,
    ) -> Result<Option<Duration>, ConfigError> {
        value
            .map(|v| {
                positive_seconds(v).ok_or_else(|| {
                    self.invalid(
                        path,
                        format!("{v} is not a positive number of seconds (at most a year)"),
                    )
                })
            })
            .transpose()
    }
}

impl ClusterFile {
    /// The checked `Cluster` section; faults are reported in key order
    /// (`MasterNodeIP`, the TLS pair, `GRPCPort`, `MaxNodes`, then the
    /// timeouts).
    fn check(self, source: &Source<'_>) -> Result<ClusterSettings, ConfigError> {
        let at = |key: &str| source.at("Cluster", key);
        let master_node_ip = self.master_node_ip.trim().parse().map_err(|_| {
            source.invalid(
                at("MasterNodeIP"),
                format!("{:?} is not an IP address", self.master_node_ip),
            )
        })?;
        let tls = match (self.tls_certificate, self.tls_key) {
            (None, None) => None,
            (Some(certificate), Some(key)) => Some(ClusterTls {
                certificate: certificate.into(),
                key: key.into(),
                ca_certificate: self.tls_ca_certificate.map(Into::into),
            }),
            (Some(_), None) | (None, Some(_)) => {
                return Err(
                    source.invalid(at("TlsKey"), "TlsCertificate and TlsKey go together".into())
                );
            }
        };
        let grpc_port = match self.grpc_port {
            None => DEFAULT_GRPC_PORT,
            Some(0) => {
                return Err(
                    source.invalid(at("GRPCPort"), "0 is not a port workers can reach".into())
                );
            }
            Some(port) => port,
        };
        let expected_number_of_workers = self.expected_number_of_workers.unwrap_or(0);
        let max_nodes = self.max_nodes.unwrap_or(DEFAULT_MAX_NODES);
        if max_nodes == 0 || max_nodes < expected_number_of_workers {
            return Err(source.invalid(
                at("MaxNodes"),
                format!(
                    "{max_nodes} is fewer workers than ExpectedNumberOfWorkers ({expected_number_of_workers}), or none: the test could not start"
                ),
            ));
        }
        Ok(ClusterSettings {
            master_node_ip,
            master_node_is_worker: self.master_node_is_worker.unwrap_or(true),
            grpc_port,
            expected_number_of_workers,
            max_nodes,
            secret: self.secret.filter(|s| !s.is_empty()),
            connect_timeout: source.seconds(
                at("ConnectTimeoutSeconds"),
                self.connect_timeout_seconds,
                DEFAULT_CONNECT_TIMEOUT,
            )?,
            heartbeat_timeout: source.seconds(
                at("HeartbeatTimeoutSeconds"),
                self.heartbeat_timeout_seconds,
                DEFAULT_HEARTBEAT_TIMEOUT,
            )?,
            tls,
        })
    }
}
