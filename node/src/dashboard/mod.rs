//! The live dashboard: an HTTP server in the `lps` process (axum), serving
//! the embedded page, a JSON API, a live feed and Prometheus metrics from a
//! [`Live`] view.
//!
//! The server runs on its own OS thread with its own current-thread tokio
//! runtime, so it never takes time from an engine core's runtime. Every
//! reader works on copies taken under `Live`'s short lock; one ticker per
//! server builds the periodic feed items once a second, whatever the number
//! of open pages. The routes, feed items and metrics are documented in
//! `docs/dashboard.md`.

pub mod live;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lps_engine::{ErrorKind, Stats};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::dashboard::live::Live;

/// The page, its style and its script, embedded and joined into one
/// document at start (one request; nothing else to authorise).
const PAGE_HTML: &str = include_str!("assets/index.html");
const PAGE_CSS: &str = include_str!("assets/style.css");
const PAGE_JS: &str = include_str!("assets/app.js");

/// How often the state, nodes and summary items go out on the feed.
const TICK: Duration = Duration::from_secs(1);
/// Periodic items a slow feed reader may fall behind before it skips ahead.
const PERIODIC_CAPACITY: usize = 16;
/// How long `stop` lets open requests finish before dropping them.
const GRACE: Duration = Duration::from_secs(1);
/// How long the runtime may take to drop what is left after the grace.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(250);

/// A running dashboard server. `stop` ends it and waits (bounded);
/// dropping it ends it without waiting.
pub struct Dashboard {
    addr: SocketAddr,
    /// Set to true to stop; dropped, it stops the server too.
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Dashboard {
    /// The address it listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving: open feeds end at once, other requests get up to
    /// [`GRACE`] to finish; returns when the server thread has ended.
    pub fn stop(mut self) {
        // The server may have ended already (and dropped the receivers):
        // then there is nothing to tell it.
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            // A panic in the server thread has already been printed; the
            // run's report does not depend on it.
            let _ = thread.join();
        }
    }
}

/// What every handler shares.
struct Shared {
    live: Arc<Live>,
    /// Required on every route when set.
    token: Option<String>,
    /// The page with its style and script inlined (cheap to clone).
    page: bytes::Bytes,
    /// State, nodes and summary items, once a second, for every open feed.
    periodic: broadcast::Sender<Arc<str>>,
    /// Becomes true (or closes) when the server stops.
    stop: watch::Receiver<bool>,
}

/// Starts serving `live` on `listen`; `token`, when set, is required.
pub fn serve(
    live: Arc<Live>,
    listen: SocketAddr,
    token: Option<String>,
) -> anyhow::Result<Dashboard> {
    // Bind here, on the caller's thread, so that a busy or forbidden
    // address is an error naming it rather than a message from a thread.
    let std_listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    std_listener
        .set_nonblocking(true)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = std_listener
        .local_addr()
        .with_context(|| format!("cannot listen on {listen}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the dashboard's runtime")?;
    let listener = {
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(std_listener)
            .with_context(|| format!("cannot listen on {listen}"))?
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        live,
        token: token.filter(|t| !t.is_empty()),
        page: PAGE_HTML
            .replacen("/*STYLE*/", PAGE_CSS, 1)
            .replacen("/*SCRIPT*/", PAGE_JS, 1)
            .into(),
        periodic: broadcast::channel(PERIODIC_CAPACITY).0,
        stop: stop_rx,
    });
    let app = router(shared.clone());
    let thread = std::thread::Builder::new()
        .name("lps-dashboard".into())
        .spawn(move || {
            runtime.block_on(run_server(listener, app, shared));
            // Connections still open after the grace are dropped here.
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
        })
        .context("cannot start the dashboard's thread")?;
    Ok(Dashboard {
        addr,
        stop: stop_tx,
        thread: Some(thread),
    })
}

/// Every route, behind the token check.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(api_state))
        .route("/api/summary", get(api_summary))
        .route("/api/nodes", get(api_nodes))
        .route("/api/series", get(api_series))
        .route("/api/report", get(api_report))
        .route("/api/histogram", get(api_histogram))
        .route("/api/feed", get(api_feed))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), auth))
        .with_state(shared)
}

/// Serves until stopped, then gives open requests [`GRACE`] to finish.
async fn run_server(listener: tokio::net::TcpListener, app: Router, shared: Arc<Shared>) {
    let ticker = tokio::spawn(tick(shared.clone()));
    let mut stop = shared.stop.clone();
    let mut signal = shared.stop.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stopped(&mut signal).await })
        .into_future();
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                eprintln!("lps: the dashboard stopped: {e}");
            }
        }
        () = async {
            stopped(&mut stop).await;
            tokio::time::sleep(GRACE).await;
        } => {}
    }
    ticker.abort();
}

/// Resolves once the server is told to stop (or its owner is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A closed channel means the `Dashboard` was dropped: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Once a second, while any feed is open: the state, nodes and summary
/// items, built once for all readers.
async fn tick(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The final report never changes: compacted once.
    let mut final_summary: Option<String> = None;
    loop {
        interval.tick().await;
        if shared.periodic.receiver_count() == 0 {
            continue;
        }
        let summary = match &final_summary {
            Some(text) => text.clone(),
            None => {
                let (text, is_final) = summary_item(&shared.live);
                if is_final {
                    final_summary = Some(text.clone());
                }
                text
            }
        };
        for item in [state_item(&shared.live), nodes_item(&shared.live), summary] {
            // Every reader may have gone in the meantime: nothing to do then.
            let _ = shared.periodic.send(Arc::from(item));
        }
    }
}

/// `{"type":"state", ...}`: the fields of `/api/state`.
fn state_item(live: &Live) -> String {
    let mut state = live.state_json();
    if let Some(fields) = state.as_object_mut() {
        fields.insert("type".into(), "state".into());
    }
    state.to_string()
}

/// `{"type":"nodes","nodes":[...]}`: the rows of `/api/nodes`.
fn nodes_item(live: &Live) -> String {
    match serde_json::to_string(&live.nodes()) {
        Ok(nodes) => format!(r#"{{"type":"nodes","nodes":{nodes}}}"#),
        Err(e) => error_item(&e),
    }
}

/// `{"type":"summary","summary":{...}}`: `/api/summary` on one line; and
/// whether it is the final report.
fn summary_item(live: &Live) -> (String, bool) {
    let (text, is_final) = match live.final_report() {
        Some(report) => (
            serde_json::from_str::<serde_json::Value>(&report).map(|v| v.to_string()),
            true,
        ),
        None => (serde_json::to_string(&live.summary()), false),
    };
    match text {
        Ok(summary) => (
            format!(r#"{{"type":"summary","summary":{summary}}}"#),
            is_final,
        ),
        Err(e) => (error_item(&e), false),
    }
}

fn error_item(e: &dyn std::fmt::Display) -> String {
    serde_json::json!({"type": "error", "error": e.to_string()}).to_string()
}

/// Requires the token, when one is set, as `Authorization: Bearer TOKEN` or
/// `?token=TOKEN`.
async fn auth(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    if let Some(token) = &shared.token
        && !authorized(request.headers(), request.uri(), token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            r#"{"error":"a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN"}"#,
        )
            .into_response();
    }
    next.run(request).await
}

fn authorized(headers: &HeaderMap, uri: &Uri, token: &str) -> bool {
    let by_header = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .any(|given| same(given.trim().as_bytes(), token.as_bytes()));
    by_header
        || query_param(uri.query().unwrap_or(""), "token")
            .is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// Compares without stopping at the first difference, so that the time
/// taken does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The first value of `name` in a query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
        .next()
}

/// Decodes `%XX` and `+`; a malformed escape is kept as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn json_error(status: StatusCode, message: &str) -> Response {
    let mut response = json(serde_json::json!({ "error": message }).to_string());
    *response.status_mut() = status;
    response
}

fn serialized<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => json(text),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn page(State(shared): State<Arc<Shared>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        shared.page.clone(),
    )
        .into_response()
}

async fn api_state(State(shared): State<Arc<Shared>>) -> Response {
    json(shared.live.state_json().to_string())
}

async fn api_summary(State(shared): State<Arc<Shared>>) -> Response {
    match shared.live.final_report() {
        Some(report) => json(report),
        None => serialized(&shared.live.summary()),
    }
}

async fn api_nodes(State(shared): State<Arc<Shared>>) -> Response {
    serialized(&shared.live.nodes())
}

async fn api_series(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let since = match query_param(uri.query().unwrap_or(""), "since") {
        None => f64::NEG_INFINITY,
        Some(text) => match text.parse::<f64>() {
            Ok(t) if !t.is_nan() => t,
            _ => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("since must be a number of seconds, got {text:?}"),
                );
            }
        },
    };
    serialized(&shared.live.series_since(since))
}

async fn api_report(State(shared): State<Arc<Shared>>) -> Response {
    match shared.live.final_report() {
        Some(report) => json(report),
        None => json_error(
            StatusCode::NOT_FOUND,
            "the run is not over; /api/summary has the run so far",
        ),
    }
}

async fn api_histogram(State(shared): State<Arc<Shared>>) -> Response {
    match shared.live.final_histogram() {
        Some(log) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            log,
        )
            .into_response(),
        None => json_error(StatusCode::NOT_FOUND, "the run is not over"),
    }
}

/// What one feed reader holds.
struct Feed {
    /// Items to send first: the current state, nodes and summary.
    first: VecDeque<String>,
    /// Series points and state changes, as they happen.
    live: broadcast::Receiver<Arc<str>>,
    /// The periodic items.
    periodic: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
}

/// `GET /api/feed`: Server-Sent Events, one JSON item per event. A reader
/// too slow to keep up skips the items it missed (`Lagged`) rather than
/// have them buffered.
async fn api_feed(State(shared): State<Arc<Shared>>) -> Response {
    let feed = Feed {
        first: VecDeque::from([
            state_item(&shared.live),
            nodes_item(&shared.live),
            summary_item(&shared.live).0,
        ]),
        live: shared.live.subscribe(),
        periodic: shared.periodic.subscribe(),
        stop: shared.stop.clone(),
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        if let Some(item) = feed.first.pop_front() {
            return Some((Ok::<_, Infallible>(Event::default().data(item)), feed));
        }
        loop {
            let received = tokio::select! {
                biased;
                () = stopped(&mut feed.stop) => return None,
                r = feed.live.recv() => r,
                r = feed.periodic.recv() => r,
            };
            match received {
                Ok(item) => return Some((Ok(Event::default().data(&*item)), feed)),
                // The oldest items are gone: go on from the oldest kept.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let mut response = Sse::new(stream).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let live = &shared.live;
    let input = MetricsInput {
        test: live.plan().name.clone(),
        per_node_iterations: live.per_node_iterations(),
        total: live.total_stats(),
        node_states: live.node_states(),
        in_flight: live.in_flight(),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        render_metrics(&input),
    )
        .into_response()
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such route; see docs/dashboard.md",
    )
}

/// What `/metrics` shows.
struct MetricsInput {
    /// The plan's name, for `lps_test_info`.
    test: String,
    /// Exact stats per (node, iteration name).
    per_node_iterations: Vec<(String, String, Stats)>,
    /// Everything merged (the latency summary, errors and bytes).
    total: Stats,
    node_states: Vec<&'static str>,
    in_flight: u64,
}

/// The quantiles of `lps_latency_seconds`.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Renders the Prometheus text format (version 0.0.4).
fn render_metrics(m: &MetricsInput) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let mut line = |text: std::fmt::Arguments| {
        let _ = out.write_fmt(text);
        out.push('\n');
    };

    line(format_args!(
        "# HELP lps_test_info The test being run (its plan's name)."
    ));
    line(format_args!("# TYPE lps_test_info gauge"));
    line(format_args!(
        "lps_test_info{{test=\"{}\"}} 1",
        label(&m.test)
    ));

    // Keyed by label set, so the series come out in a stable order.
    let mut requests: BTreeMap<(&str, &str, String), u64> = BTreeMap::new();
    for (node, iteration, stats) in &m.per_node_iterations {
        for (code, n) in stats.status_codes() {
            let count = requests
                .entry((node, iteration, code.to_string()))
                .or_default();
            *count = count.saturating_add(n);
        }
        let failed = stats.transport_errors();
        if failed > 0 {
            let count = requests
                .entry((node, iteration, "error".to_string()))
                .or_default();
            *count = count.saturating_add(failed);
        }
    }
    line(format_args!(
        "# HELP lps_requests_total Requests completed, by node, iteration and status code (\"error\": no response)."
    ));
    line(format_args!("# TYPE lps_requests_total counter"));
    for ((node, iteration, status), n) in &requests {
        line(format_args!(
            "lps_requests_total{{node=\"{}\",iteration=\"{}\",status=\"{status}\"}} {n}",
            label(node),
            label(iteration)
        ));
    }

    line(format_args!(
        "# HELP lps_errors_total Requests that failed without a response, by kind."
    ));
    line(format_args!("# TYPE lps_errors_total counter"));
    for kind in ErrorKind::ALL {
        line(format_args!(
            "lps_errors_total{{kind=\"{}\"}} {}",
            kind.as_str(),
            m.total.errors(kind)
        ));
    }

    let h = &m.total.latency;
    line(format_args!(
        "# HELP lps_latency_seconds Response latency, from the merged histogram (3 significant digits)."
    ));
    line(format_args!("# TYPE lps_latency_seconds summary"));
    for q in QUANTILES {
        if h.is_empty() {
            line(format_args!("lps_latency_seconds{{quantile=\"{q}\"}} NaN"));
        } else {
            line(format_args!(
                "lps_latency_seconds{{quantile=\"{q}\"}} {}",
                seconds(h.value_at_quantile(q) as f64)
            ));
        }
    }
    let sum = if h.is_empty() {
        0.0
    } else {
        h.mean() * h.len() as f64
    };
    line(format_args!("lps_latency_seconds_sum {}", seconds(sum)));
    line(format_args!("lps_latency_seconds_count {}", h.len()));

    let mut states: BTreeMap<&str, u64> = BTreeMap::new();
    for state in &m.node_states {
        *states.entry(state).or_default() += 1;
    }
    line(format_args!("# HELP lps_nodes Nodes of the run, by state."));
    line(format_args!("# TYPE lps_nodes gauge"));
    for (state, n) in &states {
        line(format_args!("lps_nodes{{state=\"{}\"}} {n}", label(state)));
    }

    line(format_args!(
        "# HELP lps_in_flight Requests sent and not yet answered."
    ));
    line(format_args!("# TYPE lps_in_flight gauge"));
    line(format_args!("lps_in_flight {}", m.in_flight));

    line(format_args!(
        "# HELP lps_bytes_total Bytes on the wire, heads included."
    ));
    line(format_args!("# TYPE lps_bytes_total counter"));
    line(format_args!(
        "lps_bytes_total{{direction=\"sent\"}} {}",
        m.total.bytes_sent
    ));
    line(format_args!(
        "lps_bytes_total{{direction=\"received\"}} {}",
        m.total.bytes_received
    ));
    out
}

/// Microseconds as seconds, without float noise (`123` -> `0.000123`).
fn seconds(us: f64) -> String {
    let s = format!("{:.6}", us / 1e6);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A label value escaped for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::Instant;

    use super::*;

    use crate::dashboard::live::tests::live;

    #[test]
    fn a_taken_address_is_an_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let Err(e) = serve(live(), addr, None) else {
            panic!("served on a taken address");
        };
        assert!(format!("{e:#}").contains(&addr.to_string()), "{e:#}");
    }

    #[test]
    fn stop_ends_open_feeds_and_returns_promptly() {
        let board = serve(live(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
        let addr = board.local_addr();
        assert_ne!(addr.port(), 0);
        let mut feed = std::net::TcpStream::connect(addr).unwrap();
        feed.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        feed.write_all(b"GET /api/feed HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(feed);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let started = Instant::now();
        board.stop();
        assert!(started.elapsed() < GRACE, "took {:?}", started.elapsed());
        // The stream ends (rather than hanging until the read timeout).
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
    }

    fn stats(codes: &[(u16, u64)], errors: &[(ErrorKind, u64)], latencies: &[u64]) -> Stats {
        let mut h = lps_engine::new_histogram();
        for v in latencies {
            h.record(*v).unwrap();
        }
        Stats::from_parts(h, codes, errors, 100, 2000)
    }

    #[test]
    fn metrics_render_exactly() {
        let a = stats(
            &[(200, 3), (503, 1)],
            &[(ErrorKind::Timeout, 2)],
            &[1000; 4],
        );
        let b = stats(&[(200, 1)], &[], &[2000]);
        let c = stats(&[(200, 5)], &[], &[]);
        let mut total = Stats::new();
        for s in [&a, &b, &c] {
            total.merge(s);
        }
        let input = MetricsInput {
            test: "Check\nout".into(),
            per_node_iterations: vec![
                ("w\"1".into(), "home".into(), a),
                ("w\"1".into(), "home".into(), c),
                ("w2".into(), "home".into(), b),
            ],
            total,
            node_states: vec!["Running", "Lost", "Running"],
            in_flight: 7,
        };
        let expected = r#"# HELP lps_test_info The test being run (its plan's name).
# TYPE lps_test_info gauge
lps_test_info{test="Check\nout"} 1
# HELP lps_requests_total Requests completed, by node, iteration and status code ("error": no response).
# TYPE lps_requests_total counter
lps_requests_total{node="w\"1",iteration="home",status="200"} 8
lps_requests_total{node="w\"1",iteration="home",status="503"} 1
lps_requests_total{node="w\"1",iteration="home",status="error"} 2
lps_requests_total{node="w2",iteration="home",status="200"} 1
# HELP lps_errors_total Requests that failed without a response, by kind.
# TYPE lps_errors_total counter
lps_errors_total{kind="connect"} 0
lps_errors_total{kind="timeout"} 2
lps_errors_total{kind="reset"} 0
lps_errors_total{kind="closed"} 0
lps_errors_total{kind="protocol"} 0
lps_errors_total{kind="tls"} 0
lps_errors_total{kind="other"} 0
# HELP lps_latency_seconds Response latency, from the merged histogram (3 significant digits).
# TYPE lps_latency_seconds summary
lps_latency_seconds{quantile="0.5"} 0.001
lps_latency_seconds{quantile="0.9"} 0.002
lps_latency_seconds{quantile="0.99"} 0.002
lps_latency_seconds{quantile="0.999"} 0.002
lps_latency_seconds_sum 0.006
lps_latency_seconds_count 5
# HELP lps_nodes Nodes of the run, by state.
# TYPE lps_nodes gauge
lps_nodes{state="Lost"} 1
lps_nodes{state="Running"} 2
# HELP lps_in_flight Requests sent and not yet answered.
# TYPE lps_in_flight gauge
lps_in_flight 7
# HELP lps_bytes_total Bytes on the wire, heads included.
# TYPE lps_bytes_total counter
lps_bytes_total{direction="sent"} 300
lps_bytes_total{direction="received"} 6000
"#;
        assert_eq!(render_metrics(&input), expected);
    }

    #[test]
    fn empty_latency_is_nan() {
        let input = MetricsInput {
            test: String::new(),
            per_node_iterations: vec![],
            total: Stats::new(),
            node_states: vec![],
            in_flight: 0,
        };
        let text = render_metrics(&input);
        assert!(text.contains("lps_latency_seconds{quantile=\"0.99\"} NaN\n"));
        assert!(text.contains("lps_latency_seconds_sum 0\nlps_latency_seconds_count 0\n"));
    }

    #[test]
    fn seconds_have_no_float_noise() {
        for (us, s) in [
            (0.0, "0"),
            (1.0, "0.000001"),
            (123.0, "0.000123"),
            (1_000_000.0, "1"),
            (1_500_000.0, "1.5"),
            (0.4, "0"),
        ] {
            assert_eq!(seconds(us), s, "{us}");
        }
    }

    #[test]
    fn query_params_are_decoded() {
        for (query, name, value) in [
            ("token=abc", "token", Some("abc")),
            ("since=3.5&token=a%2Bb%20c", "token", Some("a+b c")),
            ("token=a+b", "token", Some("a b")),
            ("x=1&token", "token", Some("")),
            ("tokens=1", "token", None),
            ("", "token", None),
            ("token=%zz%4", "token", Some("%zz%4")),
            ("token=first&token=second", "token", Some("first")),
        ] {
            assert_eq!(query_param(query, name).as_deref(), value, "{query} {name}");
        }
    }

    #[test]
    fn tokens_by_header_or_query() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer t0k".parse().unwrap());
        let mut wrong = HeaderMap::new();
        wrong.insert(header::AUTHORIZATION, "Bearer t0kk".parse().unwrap());
        let none = HeaderMap::new();
        assert!(authorized(&bearer, &uri("/api/state"), "t0k"));
        assert!(authorized(&none, &uri("/api/state?token=t0k"), "t0k"));
        assert!(!authorized(&none, &uri("/api/state"), "t0k"));
        assert!(!authorized(&wrong, &uri("/api/state"), "t0k"));
        assert!(!authorized(&none, &uri("/api/state?token=t0"), "t0k"));
        assert!(!authorized(&none, &uri("/api/state?token="), "t0k"));
    }
}
