//! The settings file (`config/lpsSettings.json`): cluster, dashboard and
//! HTTP client settings, PascalCase keys as in LPS.
//!
//! Every section is optional; without a `Cluster` section lps runs on one
//! node. Unknown keys are errors that name the key and line.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ConfigError;
use crate::format::{self, Format};
use crate::locate::{self, KeyPath};
use crate::plan::positive_seconds;

/// Checked settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Present when this node is part of a cluster.
    pub cluster: Option<ClusterSettings>,
    pub dashboard: DashboardSettings,
    pub http_client: HttpClientSettings,
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
    /// `Port`: default 5050.
    pub port: u16,
    /// `Token`: when set, the dashboard requires it.
    pub token: Option<String>,
}

/// The `HttpClient` section.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpClientSettings {
    /// `TimeoutSeconds`: how long one request may take; default 30 s.
    pub timeout: Duration,
}

pub const DEFAULT_GRPC_PORT: u16 = 5001;
pub const DEFAULT_DASHBOARD_PORT: u16 = 5050;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for DashboardSettings {
    fn default() -> Self {
        DashboardSettings {
            port: DEFAULT_DASHBOARD_PORT,
            token: None,
        }
    }
}

impl Default for HttpClientSettings {
    fn default() -> Self {
        HttpClientSettings {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Default for Settings {
    /// Single node, dashboard on 5050, 30 s request timeout.
    fn default() -> Self {
        Settings {
            cluster: None,
            dashboard: DashboardSettings::default(),
            http_client: HttpClientSettings::default(),
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

    /// Parses and checks settings JSON; `origin` is the file name used in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Settings, ConfigError> {
        let file: SettingsFile = format::deserialize(text, origin, Format::Json)?;
        let source = Source { text, origin };
        let cluster = file.cluster.map(|c| c.check(&source)).transpose()?;
        let dashboard = file.dashboard.unwrap_or_default();
        let timeout = source.seconds(
            KeyPath::default().key("HttpClient").key("TimeoutSeconds"),
            file.http_client.unwrap_or_default().timeout_seconds,
            DEFAULT_TIMEOUT,
        )?;
        Ok(Settings {
            cluster,
            dashboard: DashboardSettings {
                port: dashboard.port.unwrap_or(DEFAULT_DASHBOARD_PORT),
                token: dashboard.token,
            },
            http_client: HttpClientSettings { timeout },
        })
    }
}

/// The settings text being checked, to name the file and line of a fault.
struct Source<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Source<'_> {
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
        match value {
            None => Ok(default),
            Some(v) => positive_seconds(v).ok_or_else(|| {
                self.invalid(
                    path,
                    format!("{v} is not a positive number of seconds (at most a year)"),
                )
            }),
        }
    }
}

impl ClusterFile {
    /// The checked `Cluster` section; faults are reported in key order
    /// (`MasterNodeIP`, the TLS pair, `GRPCPort`, `MaxNodes`, then the
    /// timeouts).
    fn check(self, source: &Source<'_>) -> Result<ClusterSettings, ConfigError> {
        let at = |key: &str| KeyPath::default().key("Cluster").key(key);
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(rename = "Cluster")]
    cluster: Option<ClusterFile>,
    #[serde(rename = "Dashboard")]
    dashboard: Option<DashboardFile>,
    #[serde(rename = "HttpClient")]
    http_client: Option<HttpClientFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    /// Parsed after deserialisation so that a bad address names its key.
    #[serde(rename = "MasterNodeIP")]
    master_node_ip: String,
    #[serde(rename = "MasterNodeIsWorker")]
    master_node_is_worker: Option<bool>,
    #[serde(rename = "GRPCPort")]
    grpc_port: Option<u16>,
    #[serde(rename = "ExpectedNumberOfWorkers")]
    expected_number_of_workers: Option<u32>,
    #[serde(rename = "Secret")]
    secret: Option<String>,
    #[serde(rename = "ConnectTimeoutSeconds")]
    connect_timeout_seconds: Option<f64>,
    #[serde(rename = "HeartbeatTimeoutSeconds")]
    heartbeat_timeout_seconds: Option<f64>,
    #[serde(rename = "MaxNodes")]
    max_nodes: Option<u32>,
    #[serde(rename = "TlsCertificate")]
    tls_certificate: Option<String>,
    #[serde(rename = "TlsKey")]
    tls_key: Option<String>,
    #[serde(rename = "TlsCaCertificate")]
    tls_ca_certificate: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    #[serde(rename = "Port")]
    port: Option<u16>,
    #[serde(rename = "Token")]
    token: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpClientFile {
    #[serde(rename = "TimeoutSeconds")]
    timeout_seconds: Option<f64>,
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, "lpsSettings.json")
    }

    #[test]
    fn defaults() {
        assert_eq!(parse("{}").expect("empty is valid"), Settings::default());
        assert_eq!(
            Settings::default(),
            Settings {
                cluster: None,
                dashboard: DashboardSettings {
                    port: 5050,
                    token: None
                },
                http_client: HttpClientSettings {
                    timeout: Duration::from_secs(30)
                },
            }
        );
        let cluster = parse(r#"{"Cluster": {"MasterNodeIP": "10.0.0.1"}}"#).expect("valid");
        assert_eq!(
            cluster.cluster,
            Some(ClusterSettings {
                master_node_ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                master_node_is_worker: true,
                grpc_port: 5001,
                expected_number_of_workers: 0,
                max_nodes: 1000,
                secret: None,
                connect_timeout: Duration::from_secs(30),
                heartbeat_timeout: Duration::from_secs(3),
                tls: None,
            })
        );
    }

    #[test]
    fn reads_every_key() {
        let text = r#"{
  "Cluster": {
    "MasterNodeIP": "::1",
    "MasterNodeIsWorker": false,
    "GRPCPort": 6000,
    "ExpectedNumberOfWorkers": 3,
    "Secret": "s3",
    "ConnectTimeoutSeconds": 5,
    "HeartbeatTimeoutSeconds": 1.5,
    "MaxNodes": 40,
    "TlsCertificate": "c.pem",
    "TlsKey": "k.pem"
  },
  "Dashboard": { "Port": 8081, "Token": "secret" },
  "HttpClient": { "TimeoutSeconds": 2.5 }
}"#;
        let expected = Settings {
            cluster: Some(ClusterSettings {
                master_node_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                master_node_is_worker: false,
                grpc_port: 6000,
                expected_number_of_workers: 3,
                max_nodes: 40,
                secret: Some("s3".into()),
                connect_timeout: Duration::from_secs(5),
                heartbeat_timeout: Duration::from_millis(1500),
                tls: Some(ClusterTls {
                    certificate: "c.pem".into(),
                    key: "k.pem".into(),
                    ca_certificate: None,
                }),
            }),
            dashboard: DashboardSettings {
                port: 8081,
                token: Some("secret".into()),
            },
            http_client: HttpClientSettings {
                timeout: Duration::from_millis(2500),
            },
        };
        assert_eq!(parse(text).expect("valid"), expected);
    }

    #[test]
    fn reports_errors_with_key_and_line() {
        let cases = [
            (
                "{\n  \"Clusters\": {}\n}",
                "lpsSettings.json:2:12: unknown field \"Clusters\", expected one of \"Cluster\", \"Dashboard\", \"HttpClient\"",
            ),
            (
                "{\n  \"Dashboard\": {\n    \"Port\": 1,\n    \"Refresh\": 5\n  }\n}",
                "lpsSettings.json:4:13: Dashboard: unknown field \"Refresh\", expected \"Port\" or \"Token\"",
            ),
            (
                "{\n  \"Cluster\": {\n    \"MasterNodeIP\": \"10.0.0.256\"\n  }\n}",
                "lpsSettings.json:3: Cluster.MasterNodeIP: \"10.0.0.256\" is not an IP address",
            ),
            (
                "{\n  \"Cluster\": {\n    \"GRPCPort\": 5001\n  }\n}",
                "lpsSettings.json:4:3: Cluster: missing field \"MasterNodeIP\"",
            ),
            (
                "{\n  \"Cluster\": {\n    \"MasterNodeIP\": \"::1\",\n    \"GRPCPort\": 70000\n  }\n}",
                "lpsSettings.json:4:21: Cluster.GRPCPort: invalid value: integer 70000, expected u16",
            ),
            (
                "{\n  \"Cluster\": {\n    \"MasterNodeIP\": \"::1\",\n    \"GRPCPort\": 0\n  }\n}",
                "lpsSettings.json:4: Cluster.GRPCPort: 0 is not a port workers can reach",
            ),
            (
                "{\n  \"HttpClient\": {\n    \"TimeoutSeconds\": 0\n  }\n}",
                "lpsSettings.json:3: HttpClient.TimeoutSeconds: 0 is not a positive number of seconds (at most a year)",
            ),
            (
                "{\n  \"HttpClient\": {\n    \"TimeoutSeconds\": -1\n  }\n}",
                "lpsSettings.json:3: HttpClient.TimeoutSeconds: -1 is not a positive number of seconds (at most a year)",
            ),
        ];
        let wrong: Vec<(String, &str)> = cases
            .iter()
            .map(|(text, expected)| (parse(text).expect_err(text).to_string(), *expected))
            .filter(|(got, expected)| got != expected)
            .collect();
        assert_eq!(wrong, vec![]);
    }

    #[test]
    fn cluster_extensions_are_checked() {
        let err = |text: &str| parse(text).expect_err("invalid").to_string();
        assert_eq!(
            err(
                "{\n  \"Cluster\": {\"MasterNodeIP\": \"127.0.0.1\",\n    \"HeartbeatTimeoutSeconds\": 0}\n}"
            ),
            "lpsSettings.json:3: Cluster.HeartbeatTimeoutSeconds: 0 is not a positive number of seconds (at most a year)"
        );
        assert_eq!(
            err(
                "{\n  \"Cluster\": {\"MasterNodeIP\": \"127.0.0.1\",\n    \"ConnectTimeoutSeconds\": 1e19}\n}"
            ),
            "lpsSettings.json:3: Cluster.ConnectTimeoutSeconds: 10000000000000000000 is not a positive number of seconds (at most a year)"
        );
        assert_eq!(
            err("{\"Cluster\": {\"MasterNodeIP\": \"127.0.0.1\", \"TlsCertificate\": \"c.pem\"}}"),
            "lpsSettings.json:1: Cluster.TlsKey: TlsCertificate and TlsKey go together"
        );
        assert_eq!(
            err(
                "{\n  \"Cluster\": {\"MasterNodeIP\": \"127.0.0.1\",\n    \"ExpectedNumberOfWorkers\": 5,\n    \"MaxNodes\": 4}\n}"
            ),
            "lpsSettings.json:4: Cluster.MaxNodes: 4 is fewer workers than ExpectedNumberOfWorkers (5), or none: the test could not start"
        );
        assert!(
            err("{\"Cluster\": {\"MasterNodeIP\": \"127.0.0.1\", \"MaxNodes\": 0}}")
                .contains("Cluster.MaxNodes: 0 is fewer")
        );
        let empty_secret =
            parse(r#"{"Cluster": {"MasterNodeIP": "127.0.0.1", "Secret": ""}}"#).expect("valid");
        assert_eq!(empty_secret.cluster.and_then(|c| c.secret), None);
    }

    #[test]
    fn loads_files() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("lpsSettings.example.json");
        let settings = Settings::load(&example).expect("the example is valid");
        assert_eq!(
            settings.cluster.map(|cluster| cluster.master_node_ip),
            Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(settings.dashboard.port, 5050);
        let missing = Path::new("/nonexistent/lpsSettings.json");
        assert_eq!(
            Settings::load_default_if_exists(missing).expect("absent is fine"),
            None
        );
        let error = Settings::load(missing).expect_err("absent");
        assert_eq!(
            error.to_string(),
            "/nonexistent/lpsSettings.json: cannot read: No such file or directory (os error 2)"
        );
    }
}
