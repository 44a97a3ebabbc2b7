//! The dashboard with real processes on loopback: the JSON API, the feed and
//! the metrics of a single-node run, the token, and the page itself in a
//! headless chromium during a cluster run.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::cluster::wait_for_node_requests;
use common::http::{get, get_json, json, open, status};
use common::{
    Cluster, ClusterSettings, LPS, Lps, Scratch, Target, args, closed_port, poll as wait_for, u,
};
use serde_json::Value;

/// The tests share two cores: one at a time keeps their timings honest.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the feed's items until `done` says so or `limit` passes.
fn feed(addr: SocketAddr, done: impl Fn(&[Value]) -> bool, limit: Duration) -> Vec<Value> {
    let mut s = open(addr, "/api/feed", &[]);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let (mut raw, mut items) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 16384];
    while Instant::now() < deadline && !done(&items) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
        // Whole lines only; each event is one `data:` line of JSON.
        while let Some(end) = raw.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = raw.drain(..=end).collect();
            if let Some(data) = line.strip_prefix(b"data: ") {
                items.push(serde_json::from_slice(data).expect("a feed item is JSON"));
            }
        }
    }
    items
}

/// Sends SIGINT (Ctrl-C) to `pid`.
fn interrupt(pid: u32) {
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The sum of the samples of the metric lines starting with `name`.
fn metric(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// The series' point count.
fn series_len(addr: SocketAddr) -> usize {
    get_json(addr, "/api/series").as_array().unwrap().len()
}

const LIMIT: Duration = Duration::from_secs(60);

/// The response head of `GET path` (status line and headers), lowercased;
/// also for the feed, whose body never ends.
fn head(addr: SocketAddr, path: &str, headers: &[&str]) -> String {
    let mut s = open(addr, path, headers);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

/// Every answer, a refusal and a 404 included, carries the security headers.
fn assert_security_headers(addr: SocketAddr, path: &str, headers: &[&str]) {
    let head = head(addr, path, headers);
    for line in [
        "\r\ncontent-security-policy: default-src 'none'; script-src 'sha256-",
        "\r\nx-frame-options: deny\r\n",
        "\r\nreferrer-policy: no-referrer\r\n",
        "\r\nx-content-type-options: nosniff\r\n",
    ] {
        assert!(head.contains(line), "{path}: no {line:?} in\n{head}");
    }
}

#[test]
fn a_single_node_run_is_served_live_and_its_report_after() {
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("single");
    let url = target.url("/");
    let line = format!(
        "--url {url} -im D -d 3 -nc 4 --threads 1 --dashboard --dashboard-listen 127.0.0.1:0 \
         --dashboard-linger 5 --json R.json -q"
    );
    let mut run = Lps::spawn_in(dir.dir(), &args(&line));
    let addr = run.dashboard(Duration::from_secs(10));
    let points = std::thread::spawn(move || {
        feed(
            addr,
            |items| items.iter().filter(|i| i["type"] == "point").count() >= 2,
            Duration::from_secs(10),
        )
    });

    // During the run: Running, a series that grows, no final report yet.
    let state = wait_for("state Running", Duration::from_secs(5), || {
        let s = get_json(addr, "/api/state");
        (s["state"] == "Running").then_some(s)
    });
    assert_eq!(state["test"], "Quick-Test-Plan");
    assert_eq!(state["finished"], false);
    let first = wait_for("a first point", Duration::from_secs(5), || {
        let n = series_len(addr);
        (n >= 1).then_some(n)
    });
    wait_for("the series to grow", Duration::from_secs(5), || {
        (series_len(addr) > first).then_some(())
    });
    // A loaded machine may close a first second before any snapshot is in:
    // wait for requests rather than for a number of points.
    let so_far = wait_for(
        "requests in the summary so far",
        Duration::from_secs(10),
        || {
            let s = get_json(addr, "/api/summary");
            (u(&s["requests"]["total"]) > 0).then_some(s)
        },
    );
    assert_eq!(so_far["schema_version"], 1);
    assert_eq!(get(addr, "/api/report", &[]).status, 404);
    assert_eq!(get(addr, "/api/histogram", &[]).status, 404);

    // The feed delivered points while the run was on.
    let items = points.join().unwrap();
    let point = items
        .iter()
        .find(|i| i["type"] == "point")
        .unwrap_or_else(|| panic!("no point in the feed: {items:?}"));
    for field in [
        "t",
        "rps",
        "p50_us",
        "p90_us",
        "p99_us",
        "in_flight",
        "status_2xx",
    ] {
        assert!(point["point"].get(field).is_some(), "{field} in {point}");
    }
    assert!(items.iter().any(|i| i["type"] == "state"), "{items:?}");
    assert!(items.iter().any(|i| i["type"] == "nodes"), "{items:?}");
    assert!(items.iter().any(|i| i["type"] == "summary"), "{items:?}");

    // After the run, while the dashboard lingers: every route.
    wait_for("the run to finish", Duration::from_secs(15), || {
        (get_json(addr, "/api/state")["finished"] == true).then_some(())
    });
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path("R.json")).unwrap()).unwrap();
    let total = u(&report["requests"]["total"]);
    assert!(total > 0);
    let state = get_json(addr, "/api/state");
    assert_eq!(state["state"], "Completed");
    assert_eq!(state["requests"]["total"], report["requests"]["total"]);
    let summary = get_json(addr, "/api/summary");
    let from_report = get_json(addr, "/api/report");
    for r in [&summary, &from_report] {
        assert_eq!(r["requests"], report["requests"]);
        assert_eq!(r["status_codes"], report["status_codes"]);
        assert_eq!(r["latency_us"], report["latency_us"]);
    }
    assert_eq!(from_report, report, "/api/report is the --json report");

    let nodes = get_json(addr, "/api/nodes");
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0]["id"], "local");
    assert_eq!(nodes[0]["state"], "Completed");
    assert_eq!(u(&nodes[0]["requests"]), total);

    let series = get_json(addr, "/api/series");
    let series = series.as_array().unwrap();
    assert!(series.len() >= 2, "{series:?}");
    let ts: Vec<f64> = series.iter().map(|p| p["t"].as_f64().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    // The last part-second is closed at the end: the series adds up.
    assert_eq!(series.iter().map(|p| u(&p["requests"])).sum::<u64>(), total);
    let later = get_json(addr, &format!("/api/series?since={}", ts[0]));
    assert_eq!(later.as_array().unwrap().len(), series.len() - 1);
    assert_eq!(get(addr, "/api/series?since=soon", &[]).status, 400);

    let log = get(addr, "/api/histogram", &[]);
    assert_eq!(log.status, 200);
    let h = common::total_histogram(&log.body);
    let no_response: u64 = report["errors"].as_object().unwrap().values().map(u).sum();
    assert_eq!(h.len(), total - no_response);
    assert_eq!(h.value_at_quantile(0.99), u(&report["latency_us"]["p99"]));

    let metrics = get(addr, "/metrics", &[]);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        metrics.headers
    );
    let metrics = metrics.text();
    let sum = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(sum("lps_requests_total{") as u64, total, "{metrics}");
    assert_eq!(sum("lps_errors_total{") as u64, no_response, "{metrics}");
    assert_eq!(
        sum("lps_latency_seconds_count") as u64,
        h.len(),
        "{metrics}"
    );
    assert_eq!(
        sum("lps_latency_seconds{quantile=\"0.99\"}"),
        h.value_at_quantile(0.99) as f64 / 1e6,
        "{metrics}"
    );
    assert_eq!(sum("lps_nodes{state=\"Completed\"}"), 1.0, "{metrics}");
    assert_eq!(sum("lps_in_flight"), 0.0, "{metrics}");
    assert_eq!(
        sum("lps_bytes_total{direction=\"received\"}") as u64,
        u(&report["bytes"]["received"])
    );

    let page = get(addr, "/", &[]);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<canvas"), "the page is served");
    assert!(!page.text().contains("/*SCRIPT*/"), "the script is inlined");
    assert_eq!(get(addr, "/nope", &[]).status, 404);

    // The linger ends on time even with a feed open, and the exit code is
    // the test's: 0.
    let _open_feed = open(addr, "/api/feed", &[]);
    let out = run.wait(Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn a_dashboard_open_beyond_loopback_is_warned_about_once() {
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("open-board");
    let url = target.url("/");
    // Bound on every interface (the load still goes to loopback only).
    let line = format!(
        "--url {url} -im D -d 1 -nc 1 --threads 1 --dashboard --dashboard-listen 0.0.0.0:0 -q"
    );
    let out = Lps::spawn_in(dir.dir(), &args(&line)).wait(Duration::from_secs(20));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("lps: warning: the dashboard at 0.0.0.0:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(warnings[0].contains("Dashboard.Token"), "{}", out.stderr);
}

#[test]
fn ctrl_c_stops_the_run_the_dashboard_lingers_and_a_second_ctrl_c_ends_it() {
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("linger");
    let url = target.url("/");
    let line = format!(
        "--url {url} -im D -d 60 -nc 2 --threads 1 --dashboard --dashboard-listen 127.0.0.1:0 \
         --dashboard-linger 60 -q"
    );
    let mut run = Lps::spawn_in(dir.dir(), &args(&line));
    let addr = run.dashboard(Duration::from_secs(10));
    wait_for("a first point", Duration::from_secs(10), || {
        (series_len(addr) >= 1).then_some(())
    });
    // The first Ctrl-C stops the run; its partial report stays served.
    interrupt(run.id());
    run.wait_for_line("lps: the dashboard stays at", Duration::from_secs(10));
    let report = get_json(addr, "/api/report");
    assert_eq!(report["interrupted"], true, "{report}");
    assert_eq!(get_json(addr, "/api/state")["state"], "Cancelled");
    // The second ends the linger at once, with the run's exit code.
    let started = Instant::now();
    interrupt(run.id());
    let out = run.wait(Duration::from_secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("lps: closing the dashboard"),
        "{}",
        out.stderr
    );
}

#[test]
fn after_a_cluster_run_with_a_lost_worker_nothing_is_in_flight_and_every_state_is_counted() {
    let _serial = serial();
    let target = Target::start(&[]);
    let c = Cluster::new("lost-board", ClusterSettings::for_test(2, true));
    let url = target.url("/");
    let run = format!("-u {url} -im D -d 4 -nc 2 --threads 1");
    // Not `c.spawn`, which adds -q: the master's console summary is checked.
    let mut master = Lps::start(
        Command::new(LPS)
            .current_dir(c.dir.dir())
            .args([
                "--settings",
                c.settings.to_str().unwrap(),
                "--role",
                "master",
            ])
            .args([
                "--node-ip",
                "127.0.0.1",
                "--dashboard-listen",
                "127.0.0.1:0",
            ])
            .args(args(&format!("{run} --dashboard-linger 60"))),
    );
    let board = master.dashboard(Duration::from_secs(10));
    let mut victim = c.spawn(
        "worker",
        "127.0.0.2",
        &args(&format!("{run} --node-id victim")),
    );
    let mut survivor = c.spawn(
        "worker",
        "127.0.0.3",
        &args(&format!("{run} --node-id survivor")),
    );
    wait_for_node_requests(board, Duration::from_secs(20), |id| id == "victim");
    victim.kill(); // SIGKILL: it never says it finished.
    let out = survivor.wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    master.wait_for_line("lps: the dashboard stays at", LIMIT);

    let state = get_json(board, "/api/state");
    assert_eq!(state["state"], "Completed", "{state}");
    assert_eq!(state["in_flight"], 0, "{state}");
    let metrics = get(board, "/metrics", &[]).text();
    assert_eq!(metric(&metrics, "lps_in_flight "), 0.0, "{metrics}");
    for (state, n) in [
        ("Observer", 0.0),
        ("Running", 0.0),
        ("Finished", 2.0),
        ("Lost", 1.0),
    ] {
        let line = format!("lps_nodes{{state=\"{state}\"}} ");
        assert!(metrics.contains(&line), "{line} in {metrics}");
        assert_eq!(metric(&metrics, &line), n, "{line} in {metrics}");
    }

    // Ctrl-C ends the master's linger; its summary counts every node's clients.
    interrupt(master.id());
    let out = master.wait(Duration::from_secs(10));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" — closed model, 6 clients on 3 nodes (2 each), 3 threads\n"),
        "{summary}"
    );
}

#[test]
fn a_token_guards_every_route() {
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("token");
    dir.write("settings.json", r#"{"Dashboard": {"Token": "t0k"}}"#);
    let url = target.url("/");
    let line = format!(
        "--settings settings.json -u {url} -im D -d 2 -nc 1 --threads 1 --dashboard \
         --dashboard-listen 127.0.0.1:0 --dashboard-linger 10 -q"
    );
    let run = Lps::spawn_in(dir.dir(), &args(&line));
    let addr = run.dashboard(Duration::from_secs(10));
    let check = |path: &str| {
        let with_query = |t: &str| {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{path}{sep}token={t}")
        };
        assert_eq!(status(addr, path, &[]), 401, "{path} without a token");
        assert_eq!(
            status(addr, &with_query("t0"), &[]),
            401,
            "{path} bad token"
        );
        assert_eq!(
            status(addr, path, &["Authorization: Bearer nope"]),
            401,
            "{path} bad header"
        );
        assert_eq!(
            status(addr, path, &["Authorization: Bearer t0k"]),
            200,
            "{path} by header"
        );
        // The scheme is case-insensitive (RFC 9110); the token is not.
        assert_eq!(
            status(addr, path, &["Authorization: bearer t0k"]),
            200,
            "{path} by header, lowercase scheme"
        );
        assert_eq!(
            status(addr, path, &["Authorization: bearer T0K"]),
            401,
            "{path} by header, token in another case"
        );
        assert_eq!(
            status(addr, &with_query("t0k"), &[]),
            200,
            "{path} by query"
        );
    };
    for path in [
        "/",
        "/api/state",
        "/api/summary",
        "/api/nodes",
        "/api/series?since=0",
        "/api/feed",
        "/metrics",
    ] {
        check(path);
    }
    let unauthorized = get(addr, "/api/state", &[]);
    assert_eq!(unauthorized.header("www-authenticate"), Some("Bearer"));
    for (path, headers) in [
        ("/", &[][..]),
        ("/?token=t0k", &[]),
        ("/api/state", &["Authorization: Bearer t0k"]),
        ("/api/feed?token=t0k", &[]),
        ("/metrics?token=t0k", &[]),
        ("/nope?token=t0k", &[]),
    ] {
        assert_security_headers(addr, path, headers);
    }
    wait_for("the run to finish", Duration::from_secs(15), || {
        let r = get(addr, "/api/state?token=t0k", &[]);
        (json(&r)["finished"] == true).then_some(())
    });
    check("/api/report");
    check("/api/histogram");
}

// ------------------------------------------------------------ the browser

/// The browser for a browser test; without one the test is skipped, but
/// fails under CI (which installs chromium).
fn chromium_or_skip() -> Option<PathBuf> {
    let exe = chromium();
    if exe.is_none() {
        let message = "chromium is not installed (apt-get install chromium, or set LPS_CHROMIUM): \
                       the dashboard's browser test cannot run";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("skipped: {message}");
    }
    exe
}

/// The chromium to drive: `LPS_CHROMIUM`, or the first on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LPS_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// Headless chromium driven over the DevTools protocol (a WebSocket, spoken
/// here in a few lines: text frames only, client frames masked).
struct Browser {
    ws: TcpStream,
    next_id: u64,
    /// Events that arrived while waiting for a reply, oldest first.
    events: Vec<Value>,
    /// Dropped last: closes chromium after the connection.
    _chromium: Chromium,
}

/// The chromium process, stopped on drop (also when `Browser::open` fails
/// half way).
struct Chromium {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    fn open(exe: &Path, url: &str, scratch: &Scratch) -> Browser {
        let profile = scratch.path("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        let log = std::fs::File::create(scratch.path("chromium.log")).unwrap();
        let child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--force-device-scale-factor=1",
                "--window-size=1440,1000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn chromium");
        let chromium = Chromium { child, profile };
        let profile = &chromium.profile;
        // Chromium writes its DevTools port into the profile once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let port: u16 = wait_for("chromium's DevTools port", Duration::from_secs(30), || {
            std::fs::read_to_string(&port_file)
                .ok()?
                .lines()
                .next()?
                .trim()
                .parse()
                .ok()
        });
        let devtools = SocketAddr::from(([127, 0, 0, 1], port));
        let page = wait_for(
            "the page's DevTools target",
            Duration::from_secs(15),
            || {
                let list = json(&get(devtools, "/json/list", &[]));
                list.as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")?
                    .get("webSocketDebuggerUrl")?
                    .as_str()
                    .map(str::to_string)
            },
        );
        let path = page
            .strip_prefix(&format!("ws://{devtools}"))
            .unwrap_or_else(|| panic!("unexpected DevTools URL {page}"));
        let mut ws = TcpStream::connect(devtools).unwrap();
        ws.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            ws,
            "GET {path} HTTP/1.1\r\nHost: {devtools}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bHBzLWRhc2hib2FyZC10ZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            ws.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Browser {
            ws,
            next_id: 0,
            events: Vec::new(),
            _chromium: chromium,
        }
    }

    fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x6c, 0x70, 0x73, 0x21];
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.ws.write_all(&frame).unwrap();
    }

    /// The next whole text message.
    fn recv(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.ws.read_exact(&mut head).expect("a DevTools message");
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let mut len = (head[1] & 0x7f) as u64;
            if len == 126 {
                let mut b = [0u8; 2];
                self.ws.read_exact(&mut b).unwrap();
                len = u16::from_be_bytes(b) as u64;
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.ws.read_exact(&mut b).unwrap();
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.ws.read_exact(&mut payload).unwrap();
            match opcode {
                0x0 | 0x1 => message.extend_from_slice(&payload),
                0x8 => panic!("chromium closed the DevTools connection"),
                0x9 => self.send_frame(0xA, &payload),
                _ => {}
            }
            if fin && (opcode == 0x0 || opcode == 0x1) {
                return String::from_utf8(message).unwrap();
            }
        }
    }

    /// Calls a DevTools method and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let text = serde_json::json!({"id": id, "method": method, "params": params}).to_string();
        self.send_frame(0x1, text.as_bytes());
        loop {
            let reply: Value = serde_json::from_str(&self.recv()).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
            if reply.get("method").is_some() {
                self.events.push(reply);
            }
        }
    }

    /// The events called `method` received so far (by earlier calls), taken.
    fn take_events(&mut self, method: &str) -> Vec<Value> {
        let (taken, kept) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|e| e["method"] == method);
        self.events = kept;
        taken
    }

    /// Evaluates `expression` in the page; returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// What the test checks on the page; None until the page has loaded.
    fn probe(&mut self) -> Option<Value> {
        self.eval(
            // Not while the page is still parsed: its later elements are not there yet.
            r##"document.readyState !== "loading" && window.__lpsErrors && JSON.stringify({
                state: document.body.dataset.state,
                finished: document.body.dataset.finished === "true",
                points: +document.body.dataset.points,
                first: document.body.dataset.first === undefined ? null : document.body.dataset.first,
                last: document.body.dataset.last === undefined ? null : document.body.dataset.last,
                rows: document.querySelectorAll("#nodes tbody tr:not(.empty)").length,
                lost: document.querySelectorAll("#nodes tbody tr.lost").length,
                nodeStates: [...document.querySelectorAll("#nodes tbody tr:not(.empty) .badge")].map(b => b.textContent),
                iterations: document.querySelectorAll("#iterations tbody tr:not(.empty)").length,
                legend: [...document.querySelectorAll(".chart .legend b")].map(b => b.textContent),
                errors: window.__lpsErrors,
                errorBox: document.getElementById("js-errors").textContent,
                reportTitle: document.getElementById("report-title").textContent,
                reportLink: !document.getElementById("dl-report").classList.contains("disabled"),
                requests: document.getElementById("k-requests").textContent,
                statusCodes: document.getElementById("r-status").textContent,
                latencies: document.getElementById("r-latency").textContent,
                facts: document.getElementById("r-facts").textContent,
                rulesShown: !document.getElementById("rules-panel").hidden,
                rules: [...document.querySelectorAll("#rules tbody tr")].map(tr => tr.textContent),
            })"##,
        )
        .as_str()
        .map(|s| serde_json::from_str(s).unwrap())
    }

    /// A PNG of the whole page.
    fn screenshot(&mut self, path: &Path) {
        let height = self
            .eval("document.documentElement.scrollHeight")
            .as_u64()
            .unwrap();
        self.call(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({"width": 1440, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        // The charts redraw in the frame after the resize is observed: wait
        // for three frames (the resize, the redraw, and one to spare).
        let r = self.call(
            "Runtime.evaluate",
            serde_json::json!({
                "expression": "new Promise(done => requestAnimationFrame(() => \
                    requestAnimationFrame(() => requestAnimationFrame(() => done(true)))))",
                "awaitPromise": true,
                "returnByValue": true,
            }),
        );
        assert_eq!(r["result"]["value"], true, "the page drew its frames: {r}");
        let shot = self.call(
            "Page.captureScreenshot",
            serde_json::json!({"format": "png"}),
        );
        let png = common::base64(shot["data"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // SIGTERM lets chromium take its helper processes down with it; if
        // it is gone already, there is nothing to do.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            // A poll for chromium's exit, bounded by the deadline.
            if let Ok(Some(_)) = self.child.try_wait() {
                // Best effort, as for the scratch directory.
                let _ = std::fs::remove_dir_all(&self.profile);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Still there after SIGTERM: SIGKILL it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the screenshots go: the cargo target directory (CI keeps them).
fn target_dir() -> PathBuf {
    Path::new(LPS)
        .ancestors()
        .nth(2)
        .expect("the lps binary lies in target/<profile>/")
        .to_path_buf()
}

#[test]
fn the_page_draws_a_cluster_run_in_a_browser() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let _serial = serial();
    let target = Target::start(&[]);
    let c = Cluster::new(
        "browser",
        ClusterSettings::for_test(2, true).heartbeat_timeout(5),
    );
    let url = target.url("/");
    let line = format!("-u {url} -n Checkout -in home -im D -d 8 -nc 2 --threads 1");
    let run = args(&line);
    let mut master = c.spawn(
        "master",
        "127.0.0.1",
        &[&run[..], &["--dashboard-linger", "10"]].concat(),
    );
    let addr = master.dashboard(Duration::from_secs(10));
    let mut browser = Browser::open(&exe, &format!("http://{addr}/"), &c.dir);
    let idle = wait_for(
        "the page to show the master",
        Duration::from_secs(15),
        || {
            let p = browser.probe()?;
            (p["state"] == "Idle").then_some(p)
        },
    );
    assert_eq!(idle["errors"], serde_json::json!([]), "{idle}");
    let mut w1 = c.spawn(
        "worker",
        "127.0.0.2",
        &[&run[..], &["--node-id", "worker-1"]].concat(),
    );
    let mut w2 = c.spawn(
        "worker",
        "127.0.0.3",
        &[&run[..], &["--node-id", "worker-2"]].concat(),
    );

    // While running: charts with points, every node listed.
    let running = wait_for("charts and 3 nodes while running", LIMIT, || {
        let p = browser.probe()?;
        assert_eq!(p["errors"], serde_json::json!([]), "{p}");
        (p["state"] == "Running" && u(&p["points"]) >= 2 && u(&p["rows"]) == 3).then_some(p)
    });
    assert!(
        running["legend"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v != "\u{2013}"),
        "every chart shows values: {running}"
    );
    assert_eq!(running["lost"], 0, "{running}");
    std::fs::create_dir_all(target_dir()).unwrap();
    browser.screenshot(&target_dir().join("dashboard-screenshot-running.png"));

    // After the run: the final report stays, with its downloads.
    for worker in [&mut w1, &mut w2] {
        let out = worker.wait(LIMIT);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    let done = wait_for("the final report on the page", LIMIT, || {
        let p = browser.probe()?;
        (p["finished"] == true && p["reportLink"] == true).then_some(p)
    });
    assert_eq!(done["state"], "Completed", "{done}");
    assert_eq!(done["reportTitle"], "Final report", "{done}");
    assert_eq!(u(&done["rows"]), 3, "{done}");
    assert_eq!(done["iterations"], 1, "{done}");
    let report = get_json(addr, "/api/report");
    let total = u(&report["requests"]["total"]);
    assert!(total > 0);
    assert_eq!(
        done["requests"].as_str().unwrap().replace(',', ""),
        total.to_string(),
        "{done}"
    );
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let shot = target_dir().join("dashboard-screenshot.png");
    browser.screenshot(&shot);
    let last = browser.probe().expect("the page");
    assert_eq!(last["errors"], serde_json::json!([]), "{last}");
    assert_eq!(last["errorBox"], "", "{last}");
    eprintln!("dashboard screenshot: {}", shot.display());
    drop(browser);
    // The master lingers for the page; the test has seen what it needed
    // (and `Lps`'s drop would kill it anyway).
    master.kill();
}

#[test]
fn a_page_opened_mid_run_keeps_the_history_a_live_point_overtook() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("race");
    let url = target.url("/");
    let line = format!(
        "--url {url} -im D -d 6 -nc 2 --threads 1 --dashboard --dashboard-listen 127.0.0.1:0 \
         --dashboard-linger 20 -q"
    );
    let mut run = Lps::spawn_in(dir.dir(), &args(&line));
    let addr = run.dashboard(Duration::from_secs(10));
    // Mid-run: the series has a history the page must show.
    wait_for("a history of 2 points", Duration::from_secs(10), || {
        (series_len(addr) >= 2).then_some(())
    });

    // The race made certain: the page's /api/series requests are held by
    // the browser until a live point from the feed is on the page.
    let mut browser = Browser::open(&exe, "about:blank", &dir);
    browser.call(
        "Fetch.enable",
        serde_json::json!({"patterns": [{"urlPattern": "*/api/series*", "requestStage": "Request"}]}),
    );
    browser.call(
        "Page.navigate",
        serde_json::json!({"url": format!("http://{addr}/")}),
    );
    let mut held = Vec::new();
    wait_for(
        "a live point before the history",
        Duration::from_secs(15),
        || {
            held.extend(browser.take_events("Fetch.requestPaused"));
            let p = browser.probe()?;
            (u(&p["points"]) >= 1).then_some(())
        },
    );
    // Every request the page made for the series is still held.
    held.extend(browser.take_events("Fetch.requestPaused"));
    assert!(!held.is_empty(), "the page asked for the series");
    for e in &held {
        browser.call(
            "Fetch.continueRequest",
            serde_json::json!({"requestId": e["params"]["requestId"]}),
        );
    }
    browser.call("Fetch.disable", serde_json::json!({}));

    // Once the run is over, the page has every point, from the first.
    wait_for("the run to finish", LIMIT, || {
        (get_json(addr, "/api/state")["finished"] == true).then_some(())
    });
    let series = get_json(addr, "/api/series");
    let series = series.as_array().unwrap();
    let whole = series.len() as u64;
    let seconds = |v: &Value| v.as_str().and_then(|t| t.parse::<f64>().ok());
    let end = series.last().unwrap()["t"].as_f64();
    // The feed sends the last point before the state that ends the run.
    let page = wait_for("the page to show the run's end", LIMIT, || {
        let p = browser.probe()?;
        (p["finished"] == true).then_some(p)
    });
    assert_eq!(page["errors"], serde_json::json!([]), "{page}");
    assert_eq!(u(&page["points"]), whole, "every point: {page}");
    assert_eq!(seconds(&page["last"]), end, "{page}");
    assert_eq!(
        seconds(&page["first"]),
        series[0]["t"].as_f64(),
        "the chart starts at the run's first second: {page}"
    );
    drop(browser);
    run.kill();
}

#[test]
fn the_final_report_of_a_run_without_responses_shows_none() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let _serial = serial();
    let dir = Scratch::new("no-responses");
    // Every connect is refused: requests, and not one response.
    let line = format!(
        "--url http://127.0.0.1:{}/ -im D -d 1 -nc 1 --threads 1 --dashboard \
         --dashboard-listen 127.0.0.1:0 --dashboard-linger 60 -q",
        closed_port()
    );
    let mut run = Lps::spawn_in(dir.dir(), &args(&line));
    let addr = run.dashboard(Duration::from_secs(10));
    run.wait_for_line("lps: the dashboard stays at", Duration::from_secs(20));
    let mut browser = Browser::open(&exe, &format!("http://{addr}/"), &dir);
    let page = wait_for("the final report on the page", LIMIT, || {
        let p = browser.probe()?;
        (p["finished"] == true && p["reportTitle"] == "Final report").then_some(p)
    });
    assert_eq!(page["errors"], serde_json::json!([]), "{page}");
    assert_ne!(page["requests"], "0", "requests were sent: {page}");
    assert_eq!(page["statusCodes"], "none", "{page}");
    assert!(!page["latencies"].as_str().unwrap().contains("s"), "{page}");
    drop(browser);
    run.kill();
}

#[test]
fn the_final_report_of_an_open_model_run_shows_its_send_lag() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("send-lag");
    let line = format!(
        "--url {} -im D -d 1 -nc 1 --threads 1 --rate 200 --dashboard \
         --dashboard-listen 127.0.0.1:0 --dashboard-linger 60 -q",
        target.url("/")
    );
    let mut run = Lps::spawn_in(dir.dir(), &args(&line));
    let addr = run.dashboard(Duration::from_secs(10));
    run.wait_for_line("lps: the dashboard stays at", Duration::from_secs(20));
    let mut browser = Browser::open(&exe, &format!("http://{addr}/"), &dir);
    let page = wait_for("the final report on the page", LIMIT, || {
        let p = browser.probe()?;
        (p["finished"] == true && p["reportTitle"] == "Final report").then_some(p)
    });
    assert_eq!(page["errors"], serde_json::json!([]), "{page}");
    let facts = page["facts"].as_str().unwrap();
    assert!(facts.contains("Send lagp50 "), "{page}");
    assert!(facts.contains(" p99 "), "{page}");
    drop(browser);
    run.kill();
}

#[test]
fn the_page_shows_each_rule_s_state_as_it_changes() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("rules-page");
    // The termination rule holds from the first response: it breaches for
    // its 3 s grace, then ends the 60 s iteration.
    let url = target.url("/");
    let text = format!(
        "--url {url} -im D -d 60 -nc 1 --threads 1 --dashboard --dashboard-listen 127.0.0.1:0 \
         --dashboard-linger 60 -q"
    );
    let mut line = args(&text);
    line.extend([
        "-tr",
        "TotalTime.Max >= 0;00:00:03",
        "-fr",
        "ErrorRate > 0.5",
    ]);
    let mut run = Lps::spawn_in(dir.dir(), &line);
    let addr = run.dashboard(Duration::from_secs(10));
    let mut browser = Browser::open(&exe, &format!("http://{addr}/"), &dir);
    let rules = |p: &Value| -> Vec<String> {
        p["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    };
    let breaching = wait_for("a breaching rule on the page", LIMIT, || {
        let p = browser.probe()?;
        let r = rules(&p);
        r.iter().any(|r| r.starts_with("breaching ")).then_some(p)
    });
    assert_eq!(breaching["rulesShown"], true, "{breaching}");
    let r = rules(&breaching);
    assert!(r.iter().any(|r| r.starts_with("passingfailure")), "{r:?}");
    // The state's change comes first and the final summary just after it
    // (fetched on that change): the page shows the final report once the
    // rules have their final verdicts.
    let done = wait_for("the final report on the page", LIMIT, || {
        let p = browser.probe()?;
        let verdicts = rules(&p).iter().all(|r| !r.starts_with("breaching"));
        (p["finished"] == true && p["reportTitle"] == "Final report" && verdicts).then_some(p)
    });
    assert_eq!(done["errors"], serde_json::json!([]), "{done}");
    let r = rules(&done);
    assert!(
        r[0].starts_with("passedfailureQuick-Test-Round / Quick-Http-IterationErrorRate > 0.5"),
        "{r:?}"
    );
    assert!(r[1].starts_with("terminated at "), "{r:?}");
    assert!(
        r[1].contains("terminationQuick-Test-Round / Quick-Http-IterationTotalTime.Max >= 0"),
        "{r:?}"
    );
    browser.screenshot(&dir.path("rules.png"));
    // Prometheus sees the same verdicts.
    let metrics = String::from_utf8(get(addr, "/metrics", &[]).body).expect("utf-8");
    let rule = |kind: &str| {
        metric(
            &metrics,
            &format!(
                "lps_rule_failed{{round=\"Quick-Test-Round\",iteration=\"Quick-Http-Iteration\",kind=\"{kind}\""
            ),
        )
    };
    assert_eq!(
        (rule("failure"), rule("termination")),
        (0.0, 1.0),
        "{metrics}"
    );
    drop(browser);
    run.kill();
}

/// The HTML report of a run with rules (one holds, one does not): three
/// iterations one after another, refused connections, 503s, and 2 s of
/// paced 200s.
fn html_report_plan(url: &str) -> String {
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    format!(
        "name: Report\nrounds:\n  - name: r\n    numberOfClients: 2\n    iterations:\n      \
         - name: refused\n        mode: R\n        requestCount: 5\n        httpRequest:\n          method: GET\n          url: {refused}\n      \
         - name: bad\n        mode: R\n        requestCount: 20\n        httpRequest:\n          method: GET\n          url: {url}/status/503\n        \
         failureRules:\n          - metric: ErrorRate > 0.5\n      \
         - name: ok\n        mode: D\n        duration: 2\n        httpRequest:\n          method: GET\n          url: {url}/delay/5\n        \
         failureRules:\n          - metric: TotalTime.P90 > 60000\n"
    )
}

/// Pixels of `#id`'s canvas in the colour `rgb` (give or take 8 per channel,
/// opaque): what a chart drew of its series.
fn pixels_of(browser: &mut Browser, id: &str, rgb: [u8; 3]) -> u64 {
    let [r, g, b] = rgb;
    let js = format!(
        "(() => {{ const c = document.querySelector('#{id} canvas'); \
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; \
         for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - {r}) <= 8 && \
         Math.abs(d[i + 1] - {g}) <= 8 && Math.abs(d[i + 2] - {b}) <= 8 && d[i + 3] === 255) n++; \
         return n; }})()"
    );
    browser.eval(&js).as_u64().unwrap()
}

#[test]
fn the_html_report_opens_from_disk_draws_the_run_and_asks_for_nothing() {
    let Some(exe) = chromium_or_skip() else {
        return;
    };
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("html-report");
    let plan = dir.write("plan.yaml", html_report_plan(&target.url("")));
    let line = format!(
        "run {} --threads 1 --html r.html --json r.json -q",
        plan.display()
    );
    let out = Lps::spawn_in(dir.dir(), &args(&line)).wait(LIMIT);
    assert_eq!(out.code, Some(4), "a failure rule held: {}", out.stderr);
    let report = common::read_json(&dir.path("r.json"));
    let file = std::fs::canonicalize(dir.path("r.html")).unwrap();
    let url = format!("file://{}", file.display());

    // Every request the page makes is seen from its first.
    let mut browser = Browser::open(&exe, "about:blank", &dir);
    browser.call("Network.enable", serde_json::json!({}));
    browser.call("Page.navigate", serde_json::json!({ "url": url }));
    let page = wait_for("the report drawn", LIMIT, || {
        let p = browser.probe()?;
        // A request the policy blocked is an error on the page: fail now.
        assert_eq!(p["errors"], serde_json::json!([]), "{p}");
        (browser.eval("document.body.dataset.report") == "drawn").then_some(p)
    });
    assert_eq!(page["state"], "Completed", "{page}");
    assert_eq!(page["finished"], true, "{page}");
    assert_eq!(page["reportTitle"], "Final report", "{page}");
    // The totals are the JSON report's.
    let total = u(&report["requests"]["total"]);
    assert_eq!(
        page["requests"].as_str().unwrap().replace(',', ""),
        total.to_string(),
        "{page}"
    );
    assert_eq!(page["iterations"], 3, "{page}");
    let codes = page["statusCodes"].as_str().unwrap();
    assert!(codes.contains("200") && codes.contains("503"), "{page}");
    // The charts are drawn: every second of the run, values in every legend,
    // the throughput's line on its canvas.
    assert!(u(&page["points"]) >= 2, "{page}");
    assert!(
        page["legend"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v != "\u{2013}"),
        "every chart shows values: {page}"
    );
    assert!(pixels_of(&mut browser, "c-rps", [0x4f, 0x9d, 0xff]) > 50);
    assert!(pixels_of(&mut browser, "c-latency", [0xf2, 0x5f, 0x5c]) > 50);
    // The rules, each with its observed value and verdict.
    let rules = browser.eval(
        "[...document.querySelectorAll('#rules tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))",
    );
    let observed = report["rules"][0]["observed"].as_f64().unwrap();
    assert_eq!(
        rules[0],
        serde_json::json!([
            "failed",
            "failure",
            "r / bad",
            "ErrorRate > 0.5",
            observed.to_string()
        ]),
        "{rules}"
    );
    assert_eq!(rules[1][2], "r / ok", "{rules}");
    assert_eq!(rules[1][0], "passed", "{rules}");
    assert_eq!(rules.as_array().unwrap().len(), 2, "{rules}");
    assert_eq!(
        browser.eval("document.getElementById('rules-panel').hidden"),
        false
    );
    // Nothing was asked of a network: the file itself, and its empty icon.
    let requests: Vec<String> = browser
        .take_events("Network.requestWillBeSent")
        .iter()
        .map(|e| e["params"]["request"]["url"].as_str().unwrap().to_string())
        .collect();
    assert!(requests.contains(&url), "{requests:?}");
    assert!(
        requests.iter().all(|r| *r == url || r.starts_with("data:")),
        "{requests:?}"
    );
    let shot = target_dir().join("report-html-screenshot.png");
    browser.screenshot(&shot);
    let last = browser.probe().expect("the page");
    assert_eq!(last["errors"], serde_json::json!([]), "{last}");
    eprintln!("HTML report screenshot: {}", shot.display());
}
