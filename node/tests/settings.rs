//! The settings file as `lps` reads it: LPS's layout (`LPSAppSettings`)
//! beside lps's flat one, what is honoured and what is named as not used.

mod common;

use std::time::{Duration, Instant};

use common::{Lps, Scratch, Target, closed_port, lps, u};

const LIMIT: Duration = Duration::from_secs(60);

/// LPS 3.x's shipped `config/lpsSettings.json`, verbatim.
const LPS_DEFAULT_FILE: &str = include_str!("../../config/testdata/lps3-lpsSettings.json");

/// What lps says about LPS's shipped file: every key it reads and does not act on.
const LPS_DEFAULT_NOT_USED: &str = "lps: settings: not used by lps: FileLogger.ConsoleLogingLevel, \
     FileLogger.EnableConsoleLogging, FileLogger.DisableConsoleErrorLogging, \
     HttpClient.PooledConnectionLifeTimeInSeconds, HttpClient.PooledConnectionIdleTimeoutInSeconds, \
     HttpClient.HeaderValidationMode, \
     HttpClient.AllowHostOverride, Dashboard.RefreshRate, InfluxDB";

/// Runs `lps ARGS --json - --quiet` in `dir`; (exit code, report, stderr).
fn run_in(dir: &Scratch, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut all = args.to_vec();
    all.extend(["--json", "-", "--quiet"]);
    let out = Lps::spawn_in(dir.dir(), &all).wait(LIMIT);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a JSON report ({e}); stderr: {}", out.stderr));
    (out.code.unwrap_or(-1), report, out.stderr)
}

#[test]
fn lps_shipped_settings_file_in_config_runs_a_quick_test() {
    let target = Target::start(&[]);
    let dir = Scratch::new("lps-settings");
    std::fs::create_dir(dir.path("config")).expect("config dir");
    dir.write("config/lpsSettings.json", LPS_DEFAULT_FILE);
    let (code, report, stderr) = run_in(&dir, &["--url", &target.url("/"), "-rc", "20"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(u(&report["requests"]["ok"]), 20, "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("not used by lps"))
            .collect::<Vec<_>>(),
        vec![LPS_DEFAULT_NOT_USED],
        "{stderr}"
    );
    // BuiltInDashboard: true on port 8009: served (unless something else
    // holds that port on this machine, which is reported, not fatal).
    assert!(
        stderr.contains("lps: dashboard at http://127.0.0.1:8009/")
            || stderr.contains("lps: dashboard not started"),
        "{stderr}"
    );
}

#[test]
fn client_timeout_in_seconds_is_the_request_timeout() {
    let target = Target::start(&[]);
    let dir = Scratch::new("client-timeout");
    let settings = dir.write(
        "s.json",
        r#"{"LPSAppSettings": {"HttpClient": {"ClientTimeoutInSeconds": 1}}}"#,
    );
    let started = Instant::now();
    let (code, report, stderr) = run_in(
        &dir,
        &[
            "--settings",
            settings.to_str().expect("utf-8 path"),
            "--url",
            &target.url("/delay/3000"),
            "-rc",
            "2",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(u(&report["errors"]["timeout"]), 2, "{}", report["errors"]);
    // Two requests one after the other, each cut at 1 s, not served at 3 s.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!stderr.contains("not used by lps"), "{stderr}");
}

#[test]
fn max_connections_per_server_caps_a_clients_http11_connections() {
    // A batch of 6 requests of 300 ms from one client (the seventh, a batch of its own, 1 s later): with at most 2
    // connections they go out 2 at a time, in 3 waves; without the key,
    // all 6 at once on 6 connections.
    let run = |settings: &str| {
        let target = Target::start(&["--record-arrivals"]);
        let dir = Scratch::new("max-connections");
        let path = dir.write("s.json", settings);
        let url = target.url("/delay/300");
        let line = format!("--url {url} -hv 1.1 -im CRB -rc 7 -bs 6 -cdt 1000");
        let mut args = vec!["--settings", path.to_str().expect("utf-8 path")];
        args.extend(line.split(' '));
        let (code, report, stderr) = run_in(&dir, &args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(u(&report["requests"]["ok"]), 7, "{report}");
        let stats = target.stats();
        let t: Vec<u64> = stats["arrivals_us"]
            .as_array()
            .expect("arrivals recorded")
            .iter()
            .map(u)
            .collect();
        (u(&report["connections"]["opened"]), t)
    };
    let (opened, t) = run(r#"{"LPSAppSettings": {"HttpClient": {"MaxConnectionsPerServer": 2}}}"#);
    assert_eq!(opened, 2);
    // Waves 300 ms apart: the fifth request waits for two answers.
    assert!(t[4] - t[0] >= 590_000, "{t:?}");
    let (opened, t) = run(r#"{"LPSAppSettings": {"HttpClient": {}}}"#);
    assert_eq!(opened, 6);
    assert!(t[5] - t[0] < 250_000, "{t:?}");
}

#[test]
fn file_logger_writes_lps_log_file_from_its_level_up() {
    let target = Target::start(&[]);
    let dir = Scratch::new("file-logger");
    dir.write(
        "plan.yaml",
        format!(
            "name: Logged\nrounds:\n  - name: R\n    iterations:\n      - name: i\n        requestCount: 3\n        httpRequest:\n          method: GET\n          url: {}\n",
            target.url("/")
        ),
    );
    let run = |level: &str| {
        let settings = format!(
            r#"{{"LPSAppSettings": {{"FileLogger": {{"LogFilePath": "logs/{level}.log", "LoggingLevel": "{level}"}}}}}}"#
        );
        let settings = dir.write(&format!("{level}.json"), settings);
        // `-e` names an environment the plan lacks: a warning said before
        // the settings are read, which the log file must still get.
        let args = ["run", "plan.yaml", "-e", "qa", "--settings"];
        let mut args = args.to_vec();
        args.push(settings.to_str().expect("utf-8 path"));
        let (code, report, stderr) = run_in(&dir, &args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(u(&report["requests"]["ok"]), 3, "{stderr}");
        assert!(
            stderr.contains("environment \"qa\" is not in the plan"),
            "{stderr}"
        );
        // The file-only lines stay off the console.
        assert!(!stderr.contains("Logged started"), "{stderr}");
        std::fs::read_to_string(dir.path(&format!("logs/{level}.log"))).expect("the log file")
    };
    let verbose = run("Verbose");
    let lines: Vec<&str> = verbose.lines().collect();
    assert!(lines.len() >= 3, "{verbose}");
    assert!(
        lines[0].contains("[Warning] warning:") && lines[0].contains("\"qa\""),
        "{verbose}"
    );
    assert!(
        verbose.contains("[Verbose] lps: Logged started: 1 round(s), 1 client(s)"),
        "{verbose}"
    );
    assert!(verbose.contains("3 requests"), "{verbose}");
    // Lines start with an RFC 3339 UTC time.
    assert!(
        lines
            .iter()
            .all(|l| l.len() > 24 && &l[4..5] == "-" && &l[23..24] == "Z"),
        "{verbose}"
    );
    let warning = run("Warning");
    assert!(warning.contains("[Warning]"), "{warning}");
    assert!(!warning.contains("[Verbose]"), "{warning}");
}

#[test]
fn an_unwritable_log_file_is_refused_before_the_run() {
    let target = Target::start(&[]);
    let dir = Scratch::new("file-logger-bad");
    dir.write("blocker", "a file where a folder should be");
    let settings = dir.write(
        "s.json",
        r#"{"LPSAppSettings": {"FileLogger": {"LogFilePath": "blocker/lps.log"}}}"#,
    );
    let out = Lps::spawn_in(
        dir.dir(),
        &[
            "--settings",
            settings.to_str().expect("utf-8 path"),
            "--url",
            &target.url("/"),
            "-rc",
            "2",
        ],
    )
    .wait(LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("FileLogger.LogFilePath: cannot write blocker/lps.log"),
        "{}",
        out.stderr
    );
    assert_eq!(u(&target.stats()["requests"]), 0);
}

#[test]
fn built_in_dashboard_true_serves_the_dashboard_without_the_option() {
    let target = Target::start(&[]);
    let dir = Scratch::new("built-in-dashboard");
    let url = target.url("/");
    let run = |text: &str| {
        let settings = dir.write("s.json", text);
        let path = settings.to_str().expect("utf-8 path").to_owned();
        run_in(&dir, &["--settings", &path, "--url", &url, "-rc", "3"])
    };
    // Names in any case, as LPS reads them.
    let (code, _, stderr) =
        run(r#"{"lpsappsettings": {"DASHBOARD": {"builtindashboard": true, "port": 0}}}"#);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("lps: dashboard at http://127.0.0.1:"),
        "{stderr}"
    );
    let (code, _, stderr) =
        run(r#"{"LPSAppSettings": {"Dashboard": {"BuiltInDashboard": false}}}"#);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("dashboard"), "{stderr}");
}

#[test]
fn settings_faults_name_the_file_line_and_key() {
    let dir = Scratch::new("settings-faults");
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let cases = [
        (
            "{\n  \"LPSAppSettings\": {\"HttpClient\": {}},\n  \"Dashboard\": {\"Port\": 1}\n}",
            "s.json:3: Dashboard: a section beside LPSAppSettings: the sections go either all \
             under LPSAppSettings (LPS's layout) or all at the top level (lps's), not both",
        ),
        (
            "{\"LPSAppSettings\": {\n  \"Watchdog\": {\"MaxMemoryMB\": 400}}}",
            "s.json:2: LPSAppSettings.Watchdog.MaxMemoryMB: 400 is not above CoolDownMemoryMB \
             (500): the load would never resume",
        ),
    ];
    for (text, expected) in cases {
        let settings = dir.write("s.json", text);
        let path = settings.to_str().expect("utf-8 path");
        let out = lps(&["--settings", path, "--url", &url, "-rc", "1"], LIMIT);
        assert_eq!(out.code, Some(2), "{}", out.stderr);
        assert_eq!(
            out.stderr,
            format!("lps: error: {}\n", expected.replace("s.json", path)),
        );
    }
}

/// Runs a settings command in `dir`; (exit code, stderr).
fn edit_in(dir: &Scratch, args: &[&str]) -> (i32, String) {
    let out = Lps::spawn_in(dir.dir(), args).wait(LIMIT);
    (out.code.unwrap_or(-1), out.stderr)
}

fn settings_file(dir: &Scratch) -> serde_json::Value {
    common::read_json(&dir.path("config/lpsSettings.json"))
}

#[test]
fn settings_commands_merge_their_section_of_lps_shipped_file() {
    let dir = Scratch::new("settings-commands");
    std::fs::create_dir(dir.path("config")).expect("config dir");
    dir.write("config/lpsSettings.json", LPS_DEFAULT_FILE);
    let commands: &[(&[&str], &str, serde_json::Value)] = &[
        (
            &["dashboard", "-p", "8010", "-bid", "false", "-rr", "5"],
            "Dashboard",
            serde_json::json!({"BuiltInDashboard": false, "Port": 8010, "RefreshRate": 5}),
        ),
        (
            &[
                "httpclient",
                "-cto",
                "30",
                "-mcps",
                "10",
                "--ALLOWHOSTOVERRIDE",
                "-sth",
                "X-Time",
            ],
            "HttpClient",
            serde_json::json!({
                "ClientTimeoutInSeconds": 30,
                "PooledConnectionLifeTimeInSeconds": 1500,
                "PooledConnectionIdleTimeoutInSeconds": 350,
                "MaxConnectionsPerServer": 10,
                "HeaderValidationMode": "RawPassthrough",
                "AllowHostOverride": true,
                "ServerTimeHeader": "X-Time",
            }),
        ),
        (
            &["logger", "-ll", "Warning", "-cll", "3", "-dfl"],
            "FileLogger",
            serde_json::json!({
                "LogFilePath": "logs/lpslog.log",
                "ConsoleLogingLevel": 3,
                "EnableConsoleLogging": true,
                "DisableConsoleErrorLogging": true,
                "DisableFileLogging": true,
                "LoggingLevel": "Warning",
            }),
        ),
        (
            &[
                "watchdog",
                "--maxMemoryMB",
                "6000",
                "-sm",
                "All",
                "-cdrtims",
                "250",
            ],
            "Watchdog",
            serde_json::json!({
                "MaxMemoryMB": 6000,
                "CoolDownMemoryMB": 4000,
                "MaxCPUPercentage": 80,
                "CoolDownCPUPercentage": 60,
                "CoolDownRetryTimeInMs": 250,
                "MaxConcurrentConnectionsCountPerHostName": 3000,
                "CoolDownConcurrentConnectionsCountPerHostName": 1500,
                "MaxCoolingPeriod": 30,
                "ResumeCoolingAfter": 90,
                "SuspensionMode": "All",
            }),
        ),
        (
            &[
                "influxdb",
                "-ie",
                "-iu",
                "http://127.0.0.1:8086",
                "-it",
                "t",
                "-io",
                "o",
                "-ib",
                "b",
            ],
            "InfluxDB",
            serde_json::json!({
                "Enabled": true,
                "Url": "http://127.0.0.1:8086",
                "Token": "t",
                "Organization": "o",
                "Bucket": "b",
            }),
        ),
        (
            &[
                "cluster",
                "-mip",
                "127.0.0.1",
                "-gp",
                "5009",
                "-ew",
                "2",
                "-miw",
                "false",
            ],
            "Cluster",
            serde_json::json!({
                "MasterNodeIP": "127.0.0.1",
                "GRPCPort": 5009,
                "ExpectedNumberOfWorkers": 2,
                "MasterNodeIsWorker": false,
            }),
        ),
    ];
    for (args, section, expected) in commands {
        let before = settings_file(&dir);
        let (code, stderr) = edit_in(&dir, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let after = settings_file(&dir);
        assert_eq!(after["LPSAppSettings"][section], *expected, "{args:?}");
        // The other sections are as they were.
        for (name, value) in before["LPSAppSettings"].as_object().unwrap() {
            if name != section {
                assert_eq!(after["LPSAppSettings"][name], *value, "{args:?}: {name}");
            }
        }
    }
    // lps reads what the commands wrote.
    let settings = lps_config::Settings::load(&dir.path("config/lpsSettings.json")).unwrap();
    assert_eq!(settings.dashboard.port, 8010);
    assert_eq!(settings.cluster.map(|c| c.grpc_port), Some(5009));
}

#[test]
fn settings_commands_refuse_what_lps_refuses_and_write_nothing() {
    let dir = Scratch::new("settings-commands-bad");
    std::fs::create_dir(dir.path("config")).expect("config dir");
    dir.write("config/lpsSettings.json", LPS_DEFAULT_FILE);
    let cases: &[(&[&str], &str)] = &[
        (
            &["dashboard", "-p", "0x"],
            "-p/--port: expected a whole number, got \"0x\"",
        ),
        (&["dashboard", "-p", "70000"], "not written"),
        (&["watchdog", "-mmm", "100"], "not written"),
        (&["httpclient", "-hvm", "Strict", "-aho"], "not written"),
        (&["logger", "-ll", "Loud"], "not written"),
        (&["influxdb", "-ie", "-iu", "ftp://x"], "not written"),
        (&["cluster", "-gp", "5001"], "not written"),
        (&["dashboard", "--bogus", "1"], "unexpected argument"),
    ];
    for (args, needle) in cases {
        let (code, stderr) = edit_in(&dir, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
        let text = std::fs::read_to_string(dir.path("config/lpsSettings.json")).unwrap();
        assert_eq!(text, LPS_DEFAULT_FILE, "{args:?} wrote the file");
    }
}

#[test]
fn settings_commands_create_a_file_and_keep_lps_flat_layout() {
    let dir = Scratch::new("settings-commands-new");
    let (code, stderr) = edit_in(&dir, &["dashboard", "-bid", "-p", "8009"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        settings_file(&dir),
        serde_json::json!({"LPSAppSettings": {"Dashboard": {"BuiltInDashboard": true, "Port": 8009}}})
    );
    let flat = dir.write("flat.json", r#"{"HttpClient": {"TimeoutSeconds": 5}}"#);
    let flat_s = flat.to_str().unwrap();
    let (code, stderr) = edit_in(&dir, &["dashboard", "--settings", flat_s, "-p", "0"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        common::read_json(&flat),
        serde_json::json!({"HttpClient": {"TimeoutSeconds": 5}, "Dashboard": {"Port": 0}})
    );
    // The key order of the file is kept (serde_json's map would sort it).
    let text = std::fs::read_to_string(&flat).unwrap();
    assert!(text.find("HttpClient") < text.find("Dashboard"), "{text}");
}
