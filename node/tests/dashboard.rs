//! The dashboard with real processes on loopback: the JSON API, the feed and
//! the metrics of a single-node run, the token, and the page itself in a
//! headless chromium during a cluster run.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use common::{LPS, Target};
use serde_json::Value;

/// The tests share two cores: one at a time keeps their timings honest.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("lps-dashboard-{}-{name}", std::process::id()));
        // A leftover of an earlier run, if any.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `lps` process whose stderr is collected; killed on drop.
struct Lps {
    child: Child,
    stderr: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
}

impl Lps {
    fn spawn(dir: &Path, args: &[&str]) -> Lps {
        let mut child = Command::new(LPS)
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lps");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let pipe = child.stderr.take().expect("stderr piped");
        let all = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                all.lock().unwrap().push_str(&format!("{line}\n"));
                // The test may have stopped listening; the text is kept above.
                let _ = tx.send(line);
            }
        });
        Lps {
            child,
            stderr,
            lines,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The address from `lps: dashboard at http://ADDR/`.
    fn dashboard(&self, limit: Duration) -> SocketAddr {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("lps: dashboard at http://") {
                        return rest.trim_end_matches('/').parse().unwrap();
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no dashboard address within {limit:?}: {}", self.stderr());
    }

    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "lps did not finish within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lps {
    fn drop(&mut self) {
        // It may have exited already: then there is nothing to kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 response.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// `GET path` on a fresh connection, reading the whole response (by its
/// length when it has one: a peer may keep the connection open).
fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Response {
    let mut s = BufReader::new(request(addr, path, headers));
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let before = head.len();
        s.read_line(&mut head).expect("read the response head");
        assert!(head.len() > before, "no response head: {head:?}");
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let mut response = Response {
        status,
        head,
        body: Vec::new(),
    };
    if let Some(len) = response.header("content-length") {
        response.body = vec![0; len.parse().unwrap()];
        s.read_exact(&mut response.body).expect("read the body");
    } else {
        s.read_to_end(&mut response.body).expect("read the body");
    }
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    response
}

fn request(addr: SocketAddr, path: &str, headers: &[&str]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    s.write_all(text.as_bytes()).unwrap();
    s
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// The status of `GET path`, from the status line alone (the feed never ends).
fn status(addr: SocketAddr, path: &str, headers: &[&str]) -> u16 {
    let s = request(addr, path, headers);
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let r = get(addr, path, &[]);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    r.json()
}

/// Reads the feed's items until `done` says so or `limit` passes.
fn feed(addr: SocketAddr, done: impl Fn(&[Value]) -> bool, limit: Duration) -> Vec<Value> {
    let mut s = request(addr, "/api/feed", &[]);
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

/// Polls `f` until it returns something, within `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The series' point count.
fn series_len(addr: SocketAddr) -> usize {
    get_json(addr, "/api/series").as_array().unwrap().len()
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_single_node_run_is_served_live_and_its_report_after() {
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("single");
    let url = target.url("/");
    let mut run = Lps::spawn(
        &dir.0,
        &[
            "--url",
            &url,
            "-im",
            "D",
            "-d",
            "3",
            "-nc",
            "4",
            "--threads",
            "1",
            "--dashboard",
            "--dashboard-listen",
            "127.0.0.1:0",
            "--dashboard-linger",
            "5",
            "--json",
            "R.json",
            "-q",
        ],
    );
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
    let so_far = get_json(addr, "/api/summary");
    assert_eq!(so_far["schema_version"], 1);
    assert!(u(&so_far["requests"]["total"]) > 0, "{so_far}");
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
        "{}",
        metrics.head
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
    let _open_feed = request(addr, "/api/feed", &[]);
    assert_eq!(run.wait(Duration::from_secs(10)), 0, "{}", run.stderr());
}

#[test]
fn a_token_guards_every_route() {
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("token");
    std::fs::write(
        dir.path("settings.json"),
        r#"{"Dashboard": {"Token": "t0k"}}"#,
    )
    .unwrap();
    let url = target.url("/");
    let run = Lps::spawn(
        &dir.0,
        &[
            "--settings",
            "settings.json",
            "-u",
            &url,
            "-im",
            "D",
            "-d",
            "2",
            "-nc",
            "1",
            "--threads",
            "1",
            "--dashboard",
            "--dashboard-listen",
            "127.0.0.1:0",
            "--dashboard-linger",
            "10",
            "-q",
        ],
    );
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
    wait_for("the run to finish", Duration::from_secs(15), || {
        let r = get(addr, "/api/state?token=t0k", &[]);
        (r.json()["finished"] == true).then_some(())
    });
    check("/api/report");
    check("/api/histogram");
}

// ------------------------------------------------------------ the browser

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
                let list = get(devtools, "/json/list", &[]).json();
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
        }
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
            r##"document.getElementById("js-errors") && window.__lpsErrors && JSON.stringify({
                state: document.body.dataset.state,
                finished: document.body.dataset.finished === "true",
                points: +document.body.dataset.points,
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
        // Let the charts redraw at the new size.
        std::thread::sleep(Duration::from_millis(400));
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
    let Some(exe) = chromium() else {
        let message = "chromium is not installed (apt-get install chromium, or set LPS_CHROMIUM): \
                       the dashboard's browser test cannot run";
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
        return;
    };
    let _serial = serial();
    let target = Target::start(&[]);
    let dir = Scratch::new("browser");
    let port = common::closed_port();
    std::fs::write(
        dir.path("settings.json"),
        format!(
            r#"{{ "Cluster": {{ "MasterNodeIP": "127.0.0.1", "GRPCPort": {port}, "MasterNodeIsWorker": true,
                 "ExpectedNumberOfWorkers": 2, "Secret": "test-secret", "HeartbeatTimeoutSeconds": 5 }} }}"#
        ),
    )
    .unwrap();
    let url = target.url("/");
    let run = [
        "--settings",
        "settings.json",
        "-u",
        url.as_str(),
        "-tn",
        "Checkout",
        "-rn",
        "home",
        "-im",
        "D",
        "-d",
        "8",
        "-nc",
        "2",
        "--threads",
        "1",
        "-q",
    ];
    let node = |role: &str, ip: &str, extra: &[&str]| {
        Lps::spawn(
            &dir.0,
            &[&run[..], &["--role", role, "--node-ip", ip], extra].concat(),
        )
    };
    let mut master = node(
        "master",
        "127.0.0.1",
        &[
            "--dashboard-listen",
            "127.0.0.1:0",
            "--dashboard-linger",
            "10",
        ],
    );
    let addr = master.dashboard(Duration::from_secs(10));
    let mut browser = Browser::open(&exe, &format!("http://{addr}/"), &dir);
    let idle = wait_for(
        "the page to show the master",
        Duration::from_secs(15),
        || {
            let p = browser.probe()?;
            (p["state"] == "Idle").then_some(p)
        },
    );
    assert_eq!(idle["errors"], serde_json::json!([]), "{idle}");
    let mut w1 = node("worker", "127.0.0.2", &["--node-id", "worker-1"]);
    let mut w2 = node("worker", "127.0.0.3", &["--node-id", "worker-2"]);

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
        assert_eq!(worker.wait(LIMIT), 0, "{}", worker.stderr());
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
    let _ = master.child.kill();
    master.wait(Duration::from_secs(10));
}
