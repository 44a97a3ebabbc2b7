//! The settings file's tests: both layouts, every key, every fault.

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
            layout: Layout::Flat,
            cluster: None,
            dashboard: DashboardSettings {
                port: 5050,
                token: None,
                built_in: None,
                refresh_rate: None,
            },
            http_client: HttpClientSettings {
                timeout: Duration::from_secs(30),
                max_connections_per_server: None,
                pooled_connection_lifetime: None,
                pooled_connection_idle_timeout: None,
                header_validation_mode: None,
                allow_host_override: None,
                server_time_header: None,
                server_time_format: None,
            },
            file_logger: None,
            watchdog: None,
            influx_db: None,
            not_used: vec![],
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
        layout: Layout::Flat,
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
            ..DashboardSettings::default()
        },
        http_client: HttpClientSettings {
            timeout: Duration::from_millis(2500),
            ..HttpClientSettings::default()
        },
        ..Settings::default()
    };
    assert_eq!(parse(text).expect("valid"), expected);
}

#[test]
fn reports_errors_with_key_and_line() {
    let cases = [
        (
            "{\n  \"Clusters\": {}\n}",
            "lpsSettings.json:2:12: unknown field \"Clusters\", expected one of \"Cluster\", \"Dashboard\", \"HttpClient\", \"FileLogger\", \"Watchdog\", \"InfluxDB\"",
        ),
        (
            "{\n  \"Dashboard\": {\n    \"Port\": 1,\n    \"Refresh\": 5\n  }\n}",
            "lpsSettings.json:4:13: Dashboard: unknown field \"Refresh\", expected one of \"Port\", \"Token\", \"BuiltInDashboard\", \"RefreshRate\"",
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
    assert_eq!(settings.dashboard.built_in, Some(false));
    assert_eq!(settings.not_used, Vec::<&str>::new());
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

/// LPS 3.x's shipped `config/lpsSettings.json`, verbatim (docs/dev/lps3-spec.md §4.1).
const LPS_DEFAULT_FILE: &str = include_str!("../../testdata/lps3-lpsSettings.json");

#[test]
fn reads_lps_shipped_file() {
    let settings = parse(LPS_DEFAULT_FILE).expect("LPS's own file loads");
    let expected = Settings {
        layout: Layout::Lps,
        cluster: None,
        dashboard: DashboardSettings {
            port: 8009,
            token: None,
            built_in: Some(true),
            refresh_rate: Some(Duration::from_secs(3)),
        },
        http_client: HttpClientSettings {
            timeout: Duration::from_secs(60),
            max_connections_per_server: Some(3000),
            pooled_connection_lifetime: Some(Duration::from_secs(1500)),
            pooled_connection_idle_timeout: Some(Duration::from_secs(350)),
            header_validation_mode: Some(HeaderValidationMode::RawPassthrough),
            allow_host_override: Some(false),
            server_time_header: None,
            server_time_format: None,
        },
        file_logger: Some(FileLoggerSettings {
            log_file_path: Some("logs/lpslog.log".into()),
            logging_level: Some(LogLevel::Verbose),
            console_logging_level: Some(LogLevel::Information),
            enable_console_logging: Some(true),
            disable_console_error_logging: Some(true),
            disable_file_logging: Some(false),
        }),
        watchdog: Some(WatchdogSettings {
            max_memory_mb: 5000,
            cool_down_memory_mb: 4000,
            max_cpu_percentage: 80,
            cool_down_cpu_percentage: 60,
            cool_down_retry_time: Duration::from_millis(100),
            max_connections_per_host: 3000,
            cool_down_connections_per_host: 1500,
            max_cooling_period: Duration::from_secs(30),
            resume_cooling_after: Duration::from_secs(90),
            suspension_mode: SuspensionMode::Any,
        }),
        influx_db: Some(InfluxDbSettings {
            enabled: false,
            url: Some("<YOUR_INFLUXDB_URL>".into()),
            token: Some("<YOUR_INFLUXDB_TOKEN>".into()),
            organization: Some("LPS".into()),
            bucket: Some("LPS_Metrics".into()),
        }),
        not_used: vec![
            "FileLogger.ConsoleLogingLevel",
            "FileLogger.EnableConsoleLogging",
            "FileLogger.DisableConsoleErrorLogging",
            "HttpClient.PooledConnectionLifeTimeInSeconds",
            "HttpClient.PooledConnectionIdleTimeoutInSeconds",
            "HttpClient.HeaderValidationMode",
            "HttpClient.AllowHostOverride",
            "Dashboard.RefreshRate",
            "InfluxDB",
        ],
    };
    assert_eq!(settings, expected);
}

#[test]
fn reads_the_cluster_under_lps_root_and_lps_extras_in_the_flat_layout() {
    let nested = parse(
        r#"{"LPSAppSettings": {"Cluster": {"MasterNodeIP": "127.0.0.1", "GRPCPort": 6001,
            "ExpectedNumberOfWorkers": 2, "MasterNodeIsWorker": false, "Secret": "s"}}}"#,
    )
    .expect("valid");
    let cluster = nested.cluster.expect("a cluster");
    assert_eq!(
        (
            cluster.grpc_port,
            cluster.expected_number_of_workers,
            cluster.master_node_is_worker,
            cluster.secret.as_deref()
        ),
        (6001, 2, false, Some("s"))
    );
    // The sections are the same in both layouts.
    let flat =
        parse(r#"{"HttpClient": {"ClientTimeoutInSeconds": 7}, "InfluxDB": {}}"#).expect("valid");
    assert_eq!(flat.layout, Layout::Flat);
    assert_eq!(flat.http_client.timeout, Duration::from_secs(7));
    assert_eq!(flat.not_used, vec!["InfluxDB"]);
}

#[test]
fn names_are_case_insensitive_as_in_lps() {
    let settings = parse(
        r#"{"lpsappsettings": {
  "HTTPCLIENT": {"clientTimeoutInSeconds": 2, "headervalidationmode": "strict"},
  "dashboard": {"builtindashboard": true, "PORT": 0},
  "watchdog": {"suspensionmode": "all", "maxcpupercentage": 90},
  "fileLogger": {"logginglevel": "warning", "consoleloginglevel": 3},
  "cluster": {"masternodeip": "::1"}
}}"#,
    )
    .expect("valid");
    assert_eq!(settings.layout, Layout::Lps);
    assert_eq!(settings.http_client.timeout, Duration::from_secs(2));
    assert_eq!(
        settings.http_client.header_validation_mode,
        Some(HeaderValidationMode::Strict)
    );
    assert_eq!(
        (settings.dashboard.built_in, settings.dashboard.port),
        (Some(true), 0)
    );
    let watchdog = settings.watchdog.expect("a watchdog");
    assert_eq!(
        (watchdog.suspension_mode, watchdog.max_cpu_percentage),
        (SuspensionMode::All, 90)
    );
    let logger = settings.file_logger.expect("a logger");
    assert_eq!(
        (logger.logging_level, logger.console_logging_level),
        (Some(LogLevel::Warning), Some(LogLevel::Error))
    );
    assert_eq!(
        settings.cluster.map(|c| c.master_node_ip),
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
    );
    // The flat layout too.
    let flat = parse(r#"{"httpclient": {"timeoutseconds": 4}}"#).expect("valid");
    assert_eq!(flat.http_client.timeout, Duration::from_secs(4));
}

#[test]
fn refuses_both_layouts_in_one_file() {
    let text = "{\n  \"LPSAppSettings\": {\"HttpClient\": {}},\n  \"dashboard\": {\"Port\": 1}\n}";
    assert_eq!(
        parse(text).expect_err("both").to_string(),
        "lpsSettings.json:3: Dashboard: a section beside LPSAppSettings: the sections go either \
         all under LPSAppSettings (LPS's layout) or all at the top level (lps's), not both"
    );
    // Anything else beside LPSAppSettings is an unknown key.
    assert_eq!(
        parse("{\"LPSAppSettings\": {},\n \"Extra\": 1}")
            .expect_err("unknown")
            .to_string(),
        "lpsSettings.json:2:8: unknown field \"Extra\", expected \"LPSAppSettings\""
    );
}

#[test]
fn reports_lps_faults_with_file_line_and_key() {
    let lps = |section: &str| format!("{{\n  \"LPSAppSettings\": {{\n    {section}\n  }}\n}}");
    let cases = [
        (
            lps(r#""HttpClient": {"ClientTimeoutInSeconds": 0}"#),
            "lpsSettings.json:3: LPSAppSettings.HttpClient.ClientTimeoutInSeconds: 0 is not a positive number of seconds (at most a year)",
        ),
        (
            lps(r#""HttpClient": {"ClientTimeoutInSeconds": 5, "TimeoutSeconds": 5}"#),
            "lpsSettings.json:3: LPSAppSettings.HttpClient.ClientTimeoutInSeconds: TimeoutSeconds and ClientTimeoutInSeconds are the same setting (the request timeout): give one",
        ),
        (
            lps(r#""HttpClient": {"ClientTimeoutInSeconds": "60"}"#),
            "lpsSettings.json:3:49: LPSAppSettings.HttpClient.ClientTimeoutInSeconds: invalid type: string \"60\", expected f64",
        ),
        (
            lps(r#""HttpClient": {"MaxConnectionsPerServer": 0}"#),
            "lpsSettings.json:3: LPSAppSettings.HttpClient.MaxConnectionsPerServer: 0 is not above 0",
        ),
        (
            lps(
                r#""HttpClient": {"PooledConnectionLifeTimeInSeconds": 10, "PooledConnectionIdleTimeoutInSeconds": 20}"#,
            ),
            "lpsSettings.json:3: LPSAppSettings.HttpClient.PooledConnectionLifeTimeInSeconds: 10s is shorter than PooledConnectionIdleTimeoutInSeconds (20s)",
        ),
        (
            lps(r#""HttpClient": {"HeaderValidationMode": "Loose"}"#),
            "lpsSettings.json:3: LPSAppSettings.HttpClient.HeaderValidationMode: \"Loose\" is not one of Strict, Lenient, RawPassthrough",
        ),
        (
            lps(r#""HttpClient": {"HeaderValidationMode": "Strict", "AllowHostOverride": true}"#),
            "lpsSettings.json:3: LPSAppSettings.HttpClient.AllowHostOverride: true does not go with HeaderValidationMode Strict",
        ),
        (
            lps(r#""Dashboard": {"RefreshRate": 0}"#),
            "lpsSettings.json:3: LPSAppSettings.Dashboard.RefreshRate: 0 is not above 0",
        ),
        (
            lps(r#""Dashboard": {"BuiltInDashboard": "yes"}"#),
            "lpsSettings.json:3:43: LPSAppSettings.Dashboard.BuiltInDashboard: invalid type: string \"yes\", expected a boolean",
        ),
        (
            lps(r#""FileLogger": {"LoggingLevel": 5}"#),
            "lpsSettings.json:3: LPSAppSettings.FileLogger.LoggingLevel: 5 is not one of Verbose, Information, Warning, Error, Critical (or 0-4)",
        ),
        (
            lps(r#""FileLogger": {"ConsoleLogingLevel": "Debug"}"#),
            "lpsSettings.json:3: LPSAppSettings.FileLogger.ConsoleLogingLevel: \"Debug\" is not one of Verbose, Information, Warning, Error, Critical",
        ),
        (
            lps(r#""FileLogger": {"LogFilePath": ""}"#),
            "lpsSettings.json:3: LPSAppSettings.FileLogger.LogFilePath: the path is empty",
        ),
        (
            lps(r#""Watchdog": {"MaxMemoryMB": 400}"#),
            "lpsSettings.json:3: LPSAppSettings.Watchdog.MaxMemoryMB: 400 is not above CoolDownMemoryMB (500): the load would never resume",
        ),
        (
            lps(r#""Watchdog": {"CoolDownRetryTimeInMs": 0}"#),
            "lpsSettings.json:3: LPSAppSettings.Watchdog.CoolDownRetryTimeInMs: 0 is not above 0",
        ),
        (
            lps(r#""Watchdog": {"SuspensionMode": 2}"#),
            "lpsSettings.json:3: LPSAppSettings.Watchdog.SuspensionMode: 2 is not one of Any, All (or 0-1)",
        ),
        (
            lps(r#""InfluxDB": {"Enabled": true, "Url": "x", "Token": "t", "Organization": "o"}"#),
            "lpsSettings.json:3: LPSAppSettings.InfluxDB.Url: \"x\" does not start with http:// or https://",
        ),
        (
            lps(r#""InfluxDB": {"Enabled": true, "Url": "http://i:8086"}"#),
            "lpsSettings.json:3: LPSAppSettings.InfluxDB.Token: required when Enabled is true",
        ),
        (
            lps(r#""Cluster": {"MasterNodeIP": "nowhere"}"#),
            "lpsSettings.json:3: LPSAppSettings.Cluster.MasterNodeIP: \"nowhere\" is not an IP address",
        ),
        // Two spellings of one name are one key given twice.
        (
            lps("\"Dashboard\": {\"Port\": 1,\n     \"port\": 2}"),
            "lpsSettings.json:4:11: LPSAppSettings.Dashboard: duplicate field \"Port\"",
        ),
        (
            lps(r#""Watchdog": {"Max": 1}"#),
            "lpsSettings.json:3:22: LPSAppSettings.Watchdog: unknown field \"Max\", expected one of \"MaxMemoryMB\", \"CoolDownMemoryMB\", \"MaxCPUPercentage\", \"CoolDownCPUPercentage\", \"CoolDownRetryTimeInMs\", \"MaxConcurrentConnectionsCountPerHostName\", \"CoolDownConcurrentConnectionsCountPerHostName\", \"MaxCoolingPeriod\", \"ResumeCoolingAfter\", \"SuspensionMode\"",
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
fn not_used_lists_exactly_the_present_keys_lps_does_not_act_on() {
    let cases: [(&str, &[&str]); 4] = [
        // Only what lps honours: nothing to say.
        (
            r#"{"LPSAppSettings": {"HttpClient": {"ClientTimeoutInSeconds": 5},
                "Dashboard": {"Port": 1, "BuiltInDashboard": false},
                "Cluster": {"MasterNodeIP": "::1"}}}"#,
            &[],
        ),
        (
            r#"{"LPSAppSettings": {"InfluxDB": {"Enabled": false},
                "HttpClient": {"MaxConnectionsPerServer": 10, "ServerTimeFormat": "auto"}}}"#,
            &["HttpClient.ServerTimeFormat", "InfluxDB"],
        ),
        // Sections lps acts on are not named, even empty.
        (
            r#"{"FileLogger": {}, "Watchdog": {}, "Dashboard": {"RefreshRate": 1}}"#,
            &["Dashboard.RefreshRate"],
        ),
        (
            r#"{"FileLogger": {"LoggingLevel": 1, "EnableConsoleLogging": true}, "HttpClient": {"ServerTimeHeader": "x",
                "AllowHostOverride": false, "PooledConnectionIdleTimeoutInSeconds": 1}}"#,
            &[
                "FileLogger.EnableConsoleLogging",
                "HttpClient.PooledConnectionIdleTimeoutInSeconds",
                "HttpClient.AllowHostOverride",
                "HttpClient.ServerTimeHeader",
            ],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).expect(text).not_used, expected, "{text}");
    }
}
