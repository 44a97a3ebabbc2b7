//! The settings file's shape, as deserialised: every key optional and
//! unchecked until [`super`] checks it. Names as in [`super::keys::SECTIONS`]
//! (the text is respelled to them first).

use serde::Deserialize;

/// LPS's layout: the sections under `LPSAppSettings`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LpsFile {
    #[serde(rename = "LPSAppSettings")]
    pub sections: SectionsFile,
}

/// The sections, at the top level (lps's layout) or under `LPSAppSettings`.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SectionsFile {
    #[serde(rename = "Cluster")]
    pub cluster: Option<ClusterFile>,
    #[serde(rename = "Dashboard")]
    pub dashboard: Option<DashboardFile>,
    #[serde(rename = "HttpClient")]
    pub http_client: Option<HttpClientFile>,
    #[serde(rename = "FileLogger")]
    pub file_logger: Option<FileLoggerFile>,
    #[serde(rename = "Watchdog")]
    pub watchdog: Option<WatchdogFile>,
    #[serde(rename = "InfluxDB")]
    pub influx_db: Option<InfluxDbFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterFile {
    /// Parsed after deserialisation so that a bad address names its key.
    #[serde(rename = "MasterNodeIP")]
    pub master_node_ip: String,
    #[serde(rename = "MasterNodeIsWorker")]
    pub master_node_is_worker: Option<bool>,
    #[serde(rename = "GRPCPort")]
    pub grpc_port: Option<u16>,
    #[serde(rename = "ExpectedNumberOfWorkers")]
    pub expected_number_of_workers: Option<u32>,
    #[serde(rename = "Secret")]
    pub secret: Option<String>,
    #[serde(rename = "ConnectTimeoutSeconds")]
    pub connect_timeout_seconds: Option<f64>,
    #[serde(rename = "HeartbeatTimeoutSeconds")]
    pub heartbeat_timeout_seconds: Option<f64>,
    #[serde(rename = "MaxNodes")]
    pub max_nodes: Option<u32>,
    #[serde(rename = "TlsCertificate")]
    pub tls_certificate: Option<String>,
    #[serde(rename = "TlsKey")]
    pub tls_key: Option<String>,
    #[serde(rename = "TlsCaCertificate")]
    pub tls_ca_certificate: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DashboardFile {
    #[serde(rename = "Port")]
    pub port: Option<u16>,
    #[serde(rename = "Token")]
    pub token: Option<String>,
    #[serde(rename = "BuiltInDashboard")]
    pub built_in_dashboard: Option<bool>,
    #[serde(rename = "RefreshRate")]
    pub refresh_rate: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpClientFile {
    /// lps's name for the request timeout.
    #[serde(rename = "TimeoutSeconds")]
    pub timeout_seconds: Option<f64>,
    /// LPS's name for the same.
    #[serde(rename = "ClientTimeoutInSeconds")]
    pub client_timeout_in_seconds: Option<f64>,
    #[serde(rename = "PooledConnectionLifeTimeInSeconds")]
    pub pooled_connection_lifetime_in_seconds: Option<f64>,
    #[serde(rename = "PooledConnectionIdleTimeoutInSeconds")]
    pub pooled_connection_idle_timeout_in_seconds: Option<f64>,
    #[serde(rename = "MaxConnectionsPerServer")]
    pub max_connections_per_server: Option<u32>,
    #[serde(rename = "HeaderValidationMode")]
    pub header_validation_mode: Option<String>,
    #[serde(rename = "AllowHostOverride")]
    pub allow_host_override: Option<bool>,
    #[serde(rename = "ServerTimeHeader")]
    pub server_time_header: Option<String>,
    #[serde(rename = "ServerTimeFormat")]
    pub server_time_format: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLoggerFile {
    #[serde(rename = "LogFilePath")]
    pub log_file_path: Option<String>,
    /// A number 0-4 or a level's name.
    #[serde(rename = "LoggingLevel")]
    pub logging_level: Option<serde_json::Value>,
    #[serde(rename = "ConsoleLogingLevel")]
    pub console_logging_level: Option<serde_json::Value>,
    #[serde(rename = "EnableConsoleLogging")]
    pub enable_console_logging: Option<bool>,
    #[serde(rename = "DisableConsoleErrorLogging")]
    pub disable_console_error_logging: Option<bool>,
    #[serde(rename = "DisableFileLogging")]
    pub disable_file_logging: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WatchdogFile {
    #[serde(rename = "MaxMemoryMB")]
    pub max_memory_mb: Option<u64>,
    #[serde(rename = "CoolDownMemoryMB")]
    pub cool_down_memory_mb: Option<u64>,
    #[serde(rename = "MaxCPUPercentage")]
    pub max_cpu_percentage: Option<u64>,
    #[serde(rename = "CoolDownCPUPercentage")]
    pub cool_down_cpu_percentage: Option<u64>,
    #[serde(rename = "CoolDownRetryTimeInMs")]
    pub cool_down_retry_time_in_ms: Option<u64>,
    #[serde(rename = "MaxConcurrentConnectionsCountPerHostName")]
    pub max_concurrent_connections_count_per_host_name: Option<u64>,
    #[serde(rename = "CoolDownConcurrentConnectionsCountPerHostName")]
    pub cool_down_concurrent_connections_count_per_host_name: Option<u64>,
    #[serde(rename = "MaxCoolingPeriod")]
    pub max_cooling_period: Option<u64>,
    #[serde(rename = "ResumeCoolingAfter")]
    pub resume_cooling_after: Option<u64>,
    /// `Any` (0) or `All` (1).
    #[serde(rename = "SuspensionMode")]
    pub suspension_mode: Option<serde_json::Value>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InfluxDbFile {
    #[serde(rename = "Enabled")]
    pub enabled: Option<bool>,
    #[serde(rename = "Url")]
    pub url: Option<String>,
    #[serde(rename = "Token")]
    pub token: Option<String>,
    #[serde(rename = "Organization")]
    pub organization: Option<String>,
    #[serde(rename = "Bucket")]
    pub bucket: Option<String>,
}
