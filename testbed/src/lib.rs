//! The built-in target of lps (`lps target`, `lps demo`): a fast local HTTP
//! server to load-test against, which counts what it receives.
//!
//! `lps target` is what the README, the tests, the benches and the perf harness aim lps at, so it
//! must never be the bottleneck and must answer the questions tests ask ("how many requests
//! arrived, and when?").
//!
//! # Layout
//! - [`spawn`] / [`run`]: bind, start one server thread per core, return a [`TargetHandle`].
//! - Binding: one listener per thread on the same address with `SO_REUSEPORT`, so the kernel
//!   spreads connections across threads and no thread ever touches another's sockets.
//! - Each thread: a pinned current-thread tokio runtime with a `LocalSet`; each connection is
//!   served by hyper-util's auto builder (HTTP/1.1 keep-alive, and h2c with prior knowledge on
//!   the same port).
//! - Routes and counters: [`route`] parses a path into an [`Action`] (pure, table-tested);
//!   counters live in one cache-line-padded slot per thread, summed only when `/stats` is asked.
//! - `journey`: the journey routes (login, a token-guarded shop, tags, data documents) and
//!   their counters, behind one lock that the load routes never take.
//! - `fixtures`: routes in the shape of the demo APIs the LPS documentation's examples call
//!   (fakestore, jsonplaceholder, httpbin's `/post`, stand-ins for invented hosts).
//! - [`probe`]: a minimal blocking HTTP/1.1 client, to ask the target (or a dashboard) from tests.
//!
//! # Routes
//! | path | answer |
//! |---|---|
//! | `/` | 200 `hello world` |
//! | `/status/{code}` | that status (200..=999; anything else 400) |
//! | `/delay/{ms}` | 200 after `ms` milliseconds (at most one hour) |
//! | `/bytes/{n}` | 200 with `n` bytes of `x` (at most 64 MiB) |
//! | `/echo` | 200 with the request body (any method; at most 64 MiB, else 413) |
//! | `/stats` | JSON counters (not counted, never paused) |
//! | `/stats/reset` | zero counters and arrivals, cancel a pause (not counted) |
//! | `/pause/{ms}` | hold every response for the next `ms` ms (not counted, answers at once; a bad `ms` is a counted 404) |
//! | `POST /login` | a token for `{"user": ..}` (JSON or form) |
//! | `/api/...` | a small shop that answers only a `Bearer` token from `/login` |
//! | `/tag/{value}` | 200, counting `value` |
//! | `/data/users.csv`, `/data/items.xml` | fixed documents to capture from |
//! | `/products`, `/carts`, `/auth/login`, `/users`, `/posts`, `/post`, `/hosts/{host}/...` | fixtures shaped like fakestore, jsonplaceholder and httpbin |
//! | anything else | 404 (counted) |
//!
//! The journey routes (`/login`, `/api/`, `/tag/`, `/data/`, module `journey`) count what each
//! request carried under `journey` in `/stats`, the fixtures (module `fixtures`) under
//! `fixtures`; both are matched after every load route, so those pay nothing for them.
//!
//! # Example
//! ```no_run
//! let target = lps_testbed::spawn(lps_testbed::TargetOptions {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     threads: 1,
//!     record_arrivals: false,
//! })?;
//! println!("aim at http://{}/", target.local_addr());
//! target.stop();
//! # Ok::<(), anyhow::Error>(())
//! ```

mod fixtures;
mod journey;
pub mod probe;

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, mpsc as std_mpsc};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Listen backlog of every per-thread listener: a load test opens hundreds of connections at
/// once, and a full accept queue turns into SYN retries (1 s stalls) on the client side.
const BACKLOG: i32 = 4096;
/// How long a stopping thread lets in-flight requests finish before dropping its connections.
const GRACE: Duration = Duration::from_secs(1);
/// Largest `/bytes/{n}` and `/echo` body.
pub const MAX_BODY: u64 = 64 << 20;
/// Longest `/delay/{ms}` and `/pause/{ms}`.
pub const MAX_DELAY_MS: u64 = 3_600_000;
/// Most arrival times kept when recording (16 MB); later arrivals are counted but not timed.
pub const MAX_ARRIVALS: usize = 2_000_000;

/// The body of `GET /`.
const HELLO: &[u8] = b"hello world";
/// Backing store of `/bytes/{n}`: bodies are sent as slices of it, so no request allocates.
static FILL: [u8; 64 << 10] = [b'x'; 64 << 10];

/// How to run the target.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// Address to listen on; port 0 picks a free port (read it back with
    /// [`TargetHandle::local_addr`]).
    pub listen: SocketAddr,
    /// Server threads, one per core; 0 means one per available core.
    pub threads: usize,
    /// Record each counted request's arrival time for `/stats` (`arrivals_us`).
    pub record_arrivals: bool,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            threads: 0,
            record_arrivals: false,
        }
    }
}

/// A running target: its threads, and the way to stop them.
///
/// Dropping the handle stops the target just like [`TargetHandle::stop`].
#[derive(Debug)]
pub struct TargetHandle {
    /// The address actually bound (the real port when the options asked for port 0).
    local_addr: SocketAddr,
    /// One per server thread; emptied by `stop`/`wait` so `Drop` joins nothing twice.
    threads: Vec<JoinHandle<()>>,
    /// The target's stop signal: a child of the one [`spawn_until`] was given, so stopping
    /// this target never stops its caller.
    stop: CancellationToken,
}

impl TargetHandle {
    /// The address the target listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Number of server threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// The token that stops this target (from any thread); idempotent.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops accepting, lets in-flight requests finish (at most one second), and joins every
    /// thread.
    pub fn stop(mut self) {
        self.stop.cancel();
        self.join();
    }

    /// Blocks until the target stops (its token, or the one it was spawned with, is
    /// cancelled); forever otherwise.
    pub fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        for thread in self.threads.drain(..) {
            // A server thread only panics on a bug in this module; the other threads and the
            // caller are unaffected, and the panic message was already printed by the hook.
            let _ = thread.join();
        }
    }
}

impl Drop for TargetHandle {
    fn drop(&mut self) {
        self.stop.cancel();
        self.join();
    }
}

/// Starts the target and returns once every thread is listening.
///
/// Errors (naming the address) when it cannot be bound, e.g. it is in use or not local.
pub fn spawn(opts: TargetOptions) -> anyhow::Result<TargetHandle> {
    spawn_until(opts, &CancellationToken::new())
}

/// Like [`spawn`], and the target also stops when `stop` is cancelled (Ctrl-C).
pub fn spawn_until(opts: TargetOptions, stop: &CancellationToken) -> anyhow::Result<TargetHandle> {
    let stop = stop.child_token();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let threads = match opts.threads {
        0 if !cores.is_empty() => cores.len(),
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let listeners = bind_all(opts.listen, threads)?;
    let local_addr = listeners[0]
        .local_addr()
        .with_context(|| format!("cannot read the bound address of {}", opts.listen))?;

    let shared = Arc::new(Shared {
        start: Instant::now(),
        cores: (0..threads).map(|_| CoreCounters::default()).collect(),
        pause_until_us: AtomicU64::new(0),
        arrivals: opts.record_arrivals.then(|| Mutex::new(Vec::new())),
        journey: journey::Journey::default(),
        fixtures: fixtures::Fixtures::default(),
    });
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let mut handles = Vec::with_capacity(threads);
    let mut spawn_error = None;
    for (index, listener) in listeners.into_iter().enumerate() {
        let stop = stop.clone();
        // Pin from the last core down: the load generator pins its workers from core 0 up, so
        // a target and a generator sharing a small machine overlap as little as possible.
        let core = (!cores.is_empty()).then(|| cores[cores.len() - 1 - index % cores.len()]);
        let shared = Arc::clone(&shared);
        let ready = ready_tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("lps-target-{index}"))
            .spawn(move || serve_thread(index, core, listener, shared, stop, ready));
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                spawn_error = Some(anyhow::Error::new(e).context("cannot start a target thread"));
                break;
            }
        }
    }
    // Only the threads hold senders now, so `recv` fails instead of hanging if one dies.
    drop(ready_tx);
    let handle = TargetHandle {
        local_addr,
        threads: handles,
        stop,
    };
    if let Some(e) = spawn_error {
        // Dropping the handle stops and joins the threads already started.
        drop(handle);
        return Err(e);
    }
    for _ in 0..handle.threads.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.context(format!("cannot serve on {local_addr}"))),
            Err(_) => anyhow::bail!("a target thread on {local_addr} exited while starting"),
        }
    }
    Ok(handle)
}

/// Starts the target, says where it listens on stderr, and blocks forever (until the process
/// is killed or a thread dies).
pub fn run(opts: TargetOptions) -> anyhow::Result<()> {
    run_until(opts, &CancellationToken::new())
}

/// Like [`run`], but stops gracefully once `stop` is cancelled (Ctrl-C).
pub fn run_until(opts: TargetOptions, stop: &CancellationToken) -> anyhow::Result<()> {
    let handle = spawn_until(opts, stop)?;
    eprintln!(
        "lps target listening on http://{} (h1 + h2c, {} threads)",
        handle.local_addr(),
        handle.threads()
    );
    handle.wait();
    Ok(())
}

/// Binds `n` listeners to `addr` with `SO_REUSEPORT`, all on the same port.
fn bind_all(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<std::net::TcpListener>> {
    assert!(n > 0, "at least one listener");
    // SO_REUSEPORT would let us join the group of another process of the same user already
    // listening there, silently splitting its traffic. A probe without it fails on any existing
    // listener instead, and for port 0 it picks a port nobody listens on.
    let probe = new_socket(addr, false).with_context(|| format!("cannot listen on {addr}"))?;
    probe
        .bind(&addr.into())
        .with_context(|| format!("cannot listen on {addr}"))?;
    let port = probe
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .with_context(|| format!("cannot read the port bound for {addr}"))?
        .port();
    drop(probe);
    let addr = SocketAddr::new(addr.ip(), port);
    (0..n)
        .map(|_| {
            let socket = new_socket(addr, true)?;
            socket.bind(&addr.into())?;
            socket.listen(BACKLOG)?;
            Ok(socket.into())
        })
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot listen on {addr}"))
}

fn new_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets a restarted target bind while connections of the last run sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// State every thread can see: written on the hot path only through the thread's own slot.
#[derive(Debug)]
struct Shared {
    /// Zero of `arrivals_us` and of the pause deadline.
    start: Instant,
    /// One slot per thread, summed by `/stats`.
    cores: Box<[CoreCounters]>,
    /// End of the current pause in µs since `start`; 0 when never paused or reset. Read by
    /// every request, written only by `/pause` and `/stats/reset`, so the line stays shared.
    pause_until_us: AtomicU64,
    /// Arrival times (µs since `start`) when recording, in roughly arrival order.
    arrivals: Option<Mutex<Vec<u64>>>,
    /// Tokens and counters of the journey routes (touched by those routes only).
    journey: journey::Journey,
    /// Counters of the fixture routes (touched by those routes only).
    fixtures: fixtures::Fixtures,
}

impl Shared {
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Returns once no pause is in force; a pause that starts or grows while waiting holds on.
    async fn hold_while_paused(&self) {
        loop {
            let until = self.pause_until_us.load(Relaxed);
            if until == 0 {
                return;
            }
            let now = self.now_us();
            if now >= until {
                return;
            }
            tokio::time::sleep(Duration::from_micros(until - now)).await;
        }
    }

    fn pause(&self, duration: Duration) {
        let until = self.now_us().saturating_add(duration.as_micros() as u64);
        // The later deadline wins when pauses overlap.
        self.pause_until_us.fetch_max(until, Relaxed);
    }

    fn reset(&self) {
        for core in self.cores.iter() {
            core.connections.store(0, Relaxed);
            for count in &core.by_route {
                count.store(0, Relaxed);
            }
        }
        if let Some(arrivals) = &self.arrivals {
            let mut arrivals = arrivals.lock().unwrap_or_else(PoisonError::into_inner);
            arrivals.clear();
            arrivals.shrink_to_fit();
        }
        self.pause_until_us.store(0, Relaxed);
        self.journey.reset();
        self.fixtures.reset();
    }

    fn stats_json(&self) -> String {
        let mut by_route = [0u64; Route::ALL.len()];
        let mut connections = 0;
        for core in self.cores.iter() {
            connections += core.connections.load(Relaxed);
            for (sum, count) in by_route.iter_mut().zip(&core.by_route) {
                *sum += count.load(Relaxed);
            }
        }
        let by_path: serde_json::Map<String, serde_json::Value> = Route::ALL
            .iter()
            .zip(by_route)
            .map(|(route, n)| (route.name().to_owned(), n.into()))
            .collect();
        let mut stats = serde_json::json!({
            "requests": by_route.iter().sum::<u64>(),
            "connections": connections,
            "threads": self.cores.len(),
            "by_path": by_path,
            "journey": self.journey.stats(),
            "fixtures": self.fixtures.stats(),
        });
        if let Some(arrivals) = &self.arrivals {
            let mut sorted = arrivals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            // Threads push under one lock but stamp before taking it, so order is nearly sorted.
            sorted.sort_unstable();
            stats["arrivals_us"] = sorted.into();
        }
        stats.to_string()
    }
}

/// One thread's counters, alone on its cache lines so threads never contend for them.
#[derive(Debug, Default)]
#[repr(align(128))]
struct CoreCounters {
    /// Connections accepted by this thread.
    connections: AtomicU64,
    /// Counted requests by route, indexed by `Route as usize`.
    by_route: [AtomicU64; Route::ALL.len()],
}

/// What a counted request is counted as (`by_path` in `/stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Hello,
    Status,
    Delay,
    Bytes,
    Echo,
    Login,
    Api,
    Tag,
    Data,
    Fixtures,
    NotFound,
}

impl Route {
    const ALL: [Route; 11] = [
        Route::Hello,
        Route::Status,
        Route::Delay,
        Route::Bytes,
        Route::Echo,
        Route::Login,
        Route::Api,
        Route::Tag,
        Route::Data,
        Route::Fixtures,
        Route::NotFound,
    ];

    fn name(self) -> &'static str {
        match self {
            Route::Hello => "/",
            Route::Status => "/status",
            Route::Delay => "/delay",
            Route::Bytes => "/bytes",
            Route::Echo => "/echo",
            Route::Login => "/login",
            Route::Api => "/api",
            Route::Tag => "/tag",
            Route::Data => "/data",
            Route::Fixtures => "fixtures",
            Route::NotFound => "other",
        }
    }
}

/// What a request path asks for, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action<'a> {
    Hello,
    Status(StatusCode),
    Delay(Duration),
    Bytes(u64),
    Echo,
    Login,
    Api(journey::Api),
    /// `/tag/{value}`, the value still URL-encoded.
    Tag(&'a str),
    Data(journey::DataFile),
    /// A fixture page (fakestore, jsonplaceholder, httpbin shapes, stand-in hosts).
    Fixture(fixtures::Page),
    Stats,
    StatsReset,
    Pause(Duration),
    /// A known route with a bad argument: counted as the route, answered 400 with the reason.
    BadRequest(Route, &'static str),
    NotFound,
}

impl Action<'_> {
    /// The route a request is counted as; `None` for the control routes.
    fn counted_as(&self) -> Option<Route> {
        match self {
            Action::Hello => Some(Route::Hello),
            Action::Status(_) => Some(Route::Status),
            Action::Delay(_) => Some(Route::Delay),
            Action::Bytes(_) => Some(Route::Bytes),
            Action::Echo => Some(Route::Echo),
            Action::Login => Some(Route::Login),
            Action::Api(_) => Some(Route::Api),
            Action::Tag(_) => Some(Route::Tag),
            Action::Data(_) => Some(Route::Data),
            Action::Fixture(_) => Some(Route::Fixtures),
            Action::BadRequest(route, _) => Some(*route),
            Action::NotFound => Some(Route::NotFound),
            Action::Stats | Action::StatsReset | Action::Pause(_) => None,
        }
    }
}

/// Parses a request path (without the query) into what it asks for.
fn route(path: &str) -> Action<'_> {
    if path == "/" {
        return Action::Hello;
    }
    if path == "/echo" {
        return Action::Echo;
    }
    if path == "/stats" {
        return Action::Stats;
    }
    if path == "/stats/reset" {
        return Action::StatsReset;
    }
    if let Some(code) = path.strip_prefix("/status/") {
        // 1xx cannot be a final response (hyper would turn it into a 500).
        return match code.parse::<u16>().ok().filter(|c| (200..=999).contains(c)) {
            Some(code) => StatusCode::from_u16(code).map_or(
                Action::BadRequest(Route::Status, "status code must be 200..=999\n"),
                Action::Status,
            ),
            None => Action::BadRequest(Route::Status, "status code must be 200..=999\n"),
        };
    }
    if let Some(ms) = path.strip_prefix("/delay/") {
        return match parse_ms(ms) {
            Some(d) => Action::Delay(d),
            None => Action::BadRequest(Route::Delay, "delay must be 0..=3600000 ms\n"),
        };
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match n.parse::<u64>().ok().filter(|&n| n <= MAX_BODY) {
            Some(n) => Action::Bytes(n),
            None => Action::BadRequest(Route::Bytes, "byte count must be 0..=67108864\n"),
        };
    }
    if let Some(ms) = path.strip_prefix("/pause/") {
        return parse_ms(ms).map_or(Action::NotFound, Action::Pause);
    }
    journey_route(path)
}

/// The journey routes, parsed only once every load route has failed to match.
fn journey_route(path: &str) -> Action<'_> {
    if path == "/login" {
        return Action::Login;
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        return Action::Api(journey::Api::parse(rest));
    }
    if let Some(value) = path.strip_prefix("/tag/") {
        return Action::Tag(value);
    }
    match path {
        "/data/users.csv" => Action::Data(journey::DataFile::UsersCsv),
        "/data/items.xml" => Action::Data(journey::DataFile::ItemsXml),
        _ => fixtures::Page::parse(path).map_or(Action::NotFound, Action::Fixture),
    }
}

fn parse_ms(ms: &str) -> Option<Duration> {
    ms.parse::<u64>()
        .ok()
        .filter(|&ms| ms <= MAX_DELAY_MS)
        .map(Duration::from_millis)
}

/// A response body whose length is always known up front, so hyper sends `content-length`.
#[derive(Debug)]
enum RespBody {
    /// The whole body; empty once sent.
    Full(Bytes),
    /// This many bytes still to send, as slices of [`FILL`].
    Fill(u64),
}

impl Body for RespBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = match self.get_mut() {
            RespBody::Full(bytes) if bytes.is_empty() => return Poll::Ready(None),
            RespBody::Full(bytes) => std::mem::take(bytes),
            RespBody::Fill(0) => return Poll::Ready(None),
            RespBody::Fill(left) => {
                let n = (*left).min(FILL.len() as u64);
                *left -= n;
                Bytes::from_static(&FILL[..n as usize])
            }
        };
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

impl RespBody {
    fn len(&self) -> u64 {
        match self {
            RespBody::Full(bytes) => bytes.len() as u64,
            RespBody::Fill(left) => *left,
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: RespBody) -> Response<RespBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<RespBody> {
    respond(
        status,
        "text/plain",
        RespBody::Full(Bytes::from_static(body.as_bytes())),
    )
}

/// A server thread's view: its slot index and the shared state. Lives in an `Rc`, so the
/// per-request clone is a plain increment rather than an atomic on a line all cores share.
struct Core {
    shared: Arc<Shared>,
    index: usize,
}

impl Core {
    fn counters(&self) -> &CoreCounters {
        &self.shared.cores[self.index]
    }

    fn count(&self, route: Route) {
        self.counters().by_route[route as usize].fetch_add(1, Relaxed);
        if let Some(arrivals) = &self.shared.arrivals {
            let now = self.shared.now_us();
            let mut arrivals = arrivals.lock().unwrap_or_else(PoisonError::into_inner);
            if arrivals.len() < MAX_ARRIVALS {
                arrivals.push(now);
            }
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<RespBody> {
        let action = route(req.uri().path());
        if let Some(route) = action.counted_as() {
            self.count(route);
        }
        let response = match action {
            // The control routes answer at once: never counted, never paused.
            Action::Stats => {
                let json = Bytes::from(self.shared.stats_json());
                return respond(StatusCode::OK, "application/json", RespBody::Full(json));
            }
            Action::StatsReset => {
                self.shared.reset();
                return text(StatusCode::OK, "reset\n");
            }
            Action::Pause(duration) => {
                self.shared.pause(duration);
                return text(StatusCode::OK, "paused\n");
            }
            Action::Hello => respond(
                StatusCode::OK,
                "text/plain",
                RespBody::Full(Bytes::from_static(HELLO)),
            ),
            Action::Status(status) => {
                // 204 and 304 carry no body by definition (hyper would drop it anyway).
                let body = match status {
                    StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED => "",
                    _ => status.canonical_reason().unwrap_or("status"),
                };
                text(status, body)
            }
            Action::Delay(delay) => {
                tokio::time::sleep(delay).await;
                text(StatusCode::OK, "delayed\n")
            }
            Action::Bytes(n) => respond(
                StatusCode::OK,
                "application/octet-stream",
                RespBody::Fill(n),
            ),
            Action::Echo => echo(req.into_body()).await,
            Action::Login => self.shared.journey.login(req).await,
            Action::Api(api) => self.shared.journey.api(api, req).await,
            Action::Tag(raw) => self.shared.journey.tag(raw),
            Action::Data(file) => journey::data(file),
            Action::Fixture(page) => {
                let shared = &self.shared;
                shared.fixtures.serve(page, req, &shared.journey).await
            }
            Action::BadRequest(_, reason) => text(StatusCode::BAD_REQUEST, reason),
            Action::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
        };
        self.shared.hold_while_paused().await;
        response
    }
}

async fn echo(body: Incoming) -> Response<RespBody> {
    match Limited::new(body, MAX_BODY as usize).collect().await {
        Ok(collected) => respond(
            StatusCode::OK,
            "application/octet-stream",
            RespBody::Full(collected.to_bytes()),
        ),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            text(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 MiB\n")
        }
        // The client broke off the body; this answer will most likely never be read.
        Err(_) => text(StatusCode::BAD_REQUEST, "incomplete body\n"),
    }
}

/// Spawns hyper's per-stream HTTP/2 tasks on the thread's `LocalSet`, so they stay on this core
/// and may hold `Rc`s.
#[derive(Debug, Clone, Copy)]
struct LocalExec;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Body of one server thread: pin, build the runtime, report readiness, serve until stopped.
fn serve_thread(
    index: usize,
    core: Option<core_affinity::CoreId>,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
    ready: std_mpsc::Sender<anyhow::Result<()>>,
) {
    if let Some(core) = core {
        // Pinning is an optimisation; an unpinned thread (e.g. in a restricted cpuset) still
        // serves correctly.
        let _ = core_affinity::set_for_current(core);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            // `spawn` is waiting on this channel; if it has gone, nobody needs the error.
            let _ = ready.send(Err(anyhow::Error::new(e).context("cannot build a runtime")));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                // As above: only `spawn` reads this, and only while starting.
                let _ = ready.send(Err(
                    anyhow::Error::new(e).context("cannot register listener")
                ));
                return;
            }
        };
        // As above: `spawn` may have given up on a sibling thread's error already.
        let _ = ready.send(Ok(()));
        drop(ready);
        let core = Rc::new(Core { shared, index });
        accept_loop(listener, core, stop).await;
    });
    // Dropping the `LocalSet` and the runtime here drops any connection that outlived `GRACE`.
}

/// How every connection is served: HTTP/1.1 keep-alive and h2c on one port.
fn connection_builder() -> auto::Builder<LocalExec> {
    let mut builder = auto::Builder::new(LocalExec);
    builder
        .http1()
        // No header-read timeout: it would arm a timer per request, and load tests leave
        // connections idle between phases on purpose.
        .header_read_timeout(None)
        .keep_alive(true)
        // Answers to pipelined requests go out in one write.
        .pipeline_flush(true)
        .timer(TokioTimer::new());
    builder
        .http2()
        // hyper's default of 200 would cap an h2 load test with many streams per connection.
        .max_concurrent_streams(4096)
        .timer(TokioTimer::new());
    builder
}

/// Accepts until stopped, then winds down this thread's connections within [`GRACE`].
async fn accept_loop(listener: tokio::net::TcpListener, core: Rc<Core>, stop: CancellationToken) {
    let builder = Rc::new(connection_builder());
    // Each connection task holds a clone of `done_tx`; `done_rx` yields `None` once all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    // Per-connection stop signals, dropped all at once on stop.
    let conn_stops: Rc<RefCell<HashMap<u64, oneshot::Sender<()>>>> = Rc::default();
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Per-connection failures (the peer reset before accept) need nothing; running
                // out of descriptors does: back off instead of spinning on the error.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted
                ) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                continue;
            }
        };
        core.counters().connections.fetch_add(1, Relaxed);
        // Small responses must not wait for Nagle; failure only costs latency.
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let (conn_stop_tx, conn_stop_rx) = oneshot::channel::<()>();
        conn_stops.borrow_mut().insert(id, conn_stop_tx);
        let task = serve_connection(
            stream,
            Rc::clone(&core),
            Rc::clone(&builder),
            conn_stop_rx,
            ConnGuard {
                id,
                conn_stops: Rc::clone(&conn_stops),
                _done: done_tx.clone(),
            },
        );
        tokio::task::spawn_local(task);
    }
    // Teardown order: stop accepting (close the listener), tell every connection to finish its
    // in-flight requests and close, then wait for them, at most `GRACE`.
    drop(listener);
    conn_stops.borrow_mut().clear();
    drop(done_tx);
    // On timeout the runtime's drop closes whatever is left; either way we are done.
    let _ = tokio::time::timeout(GRACE, done_rx.recv()).await;
}

/// Held by a connection task: deregisters its stop signal and releases `done` when it ends.
struct ConnGuard {
    id: u64,
    conn_stops: Rc<RefCell<HashMap<u64, oneshot::Sender<()>>>>,
    _done: mpsc::Sender<()>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.conn_stops.borrow_mut().remove(&self.id);
    }
}

/// Serves one connection until the peer closes it or the thread stops.
///
/// The stop signal is a per-connection oneshot rather than a shared watch: it is polled on every
/// wake-up of the connection, and a oneshot poll is one atomic load, not a lock.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    core: Rc<Core>,
    builder: Rc<auto::Builder<LocalExec>>,
    mut stop: oneshot::Receiver<()>,
    guard: ConnGuard,
) {
    let service = service_fn(move |req| {
        let core = Rc::clone(&core);
        async move { Ok::<_, Infallible>(core.handle(req).await) }
    });
    let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
    tokio::select! {
        // Connection errors (resets, malformed requests) are the client's business.
        _ = conn.as_mut() => {}
        _ = &mut stop => {
            conn.as_mut().graceful_shutdown();
            // As above: an error while winding down concerns only this client.
            let _ = conn.await;
        }
    }
    drop(guard);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let ms = Duration::from_millis;
        let bad_status = Action::BadRequest(Route::Status, "status code must be 200..=999\n");
        let bad_delay = Action::BadRequest(Route::Delay, "delay must be 0..=3600000 ms\n");
        let bad_bytes = Action::BadRequest(Route::Bytes, "byte count must be 0..=67108864\n");
        let table = [
            ("/", Action::Hello),
            ("/echo", Action::Echo),
            ("/stats", Action::Stats),
            ("/stats/reset", Action::StatsReset),
            ("/status/200", Action::Status(StatusCode::OK)),
            (
                "/status/503",
                Action::Status(StatusCode::SERVICE_UNAVAILABLE),
            ),
            (
                "/status/999",
                Action::Status(StatusCode::from_u16(999).unwrap()),
            ),
            ("/status/199", bad_status),
            ("/status/100", bad_status),
            ("/status/1000", bad_status),
            ("/status/", bad_status),
            ("/status/-1", bad_status),
            ("/status/2x", bad_status),
            ("/status/99999999999999999999", bad_status),
            ("/delay/0", Action::Delay(ms(0))),
            ("/delay/250", Action::Delay(ms(250))),
            ("/delay/3600000", Action::Delay(ms(3_600_000))),
            ("/delay/3600001", bad_delay),
            ("/delay/abc", bad_delay),
            ("/bytes/0", Action::Bytes(0)),
            ("/bytes/67108864", Action::Bytes(67_108_864)),
            ("/bytes/67108865", bad_bytes),
            ("/bytes/", bad_bytes),
            ("/pause/1000", Action::Pause(ms(1000))),
            ("/pause/x", Action::NotFound),
            ("/login", Action::Login),
            ("/api/items", Action::Api(journey::Api::Items)),
            ("/api/items/2", Action::Api(journey::Api::Item(2))),
            ("/api/cart", Action::Api(journey::Api::Cart)),
            ("/api/checkout", Action::Api(journey::Api::Checkout)),
            ("/api/me", Action::Api(journey::Api::Me)),
            ("/api/nope", Action::Api(journey::Api::NotFound)),
            ("/api/", Action::Api(journey::Api::NotFound)),
            ("/tag/prod", Action::Tag("prod")),
            ("/tag/a%20b/c", Action::Tag("a%20b/c")),
            ("/tag/", Action::Tag("")),
            ("/data/users.csv", Action::Data(journey::DataFile::UsersCsv)),
            ("/data/items.xml", Action::Data(journey::DataFile::ItemsXml)),
            ("/data/other.csv", Action::NotFound),
            ("/products", Action::Fixture(fixtures::Page::Products)),
            ("/users/1", Action::Fixture(fixtures::Page::User(1))),
            (
                "/hosts/api.example.com/users",
                Action::Fixture(fixtures::Page::Host),
            ),
            ("/users/x", Action::NotFound),
            ("/login/", Action::NotFound),
            ("/api", Action::NotFound),
            ("/tag", Action::NotFound),
            ("/echo/", Action::NotFound),
            ("/status", Action::NotFound),
            ("/hello", Action::NotFound),
            ("", Action::NotFound),
        ];
        for (path, expected) in table {
            assert_eq!(route(path), expected, "path {path:?}");
        }
    }

    #[test]
    fn counted_routes() {
        assert_eq!(Action::Hello.counted_as(), Some(Route::Hello));
        assert_eq!(
            Action::BadRequest(Route::Delay, "").counted_as(),
            Some(Route::Delay)
        );
        assert_eq!(Action::NotFound.counted_as(), Some(Route::NotFound));
        assert_eq!(Action::Login.counted_as(), Some(Route::Login));
        assert_eq!(
            Action::Api(journey::Api::NotFound).counted_as(),
            Some(Route::Api)
        );
        assert_eq!(Action::Tag("x").counted_as(), Some(Route::Tag));
        assert_eq!(
            Action::Data(journey::DataFile::ItemsXml).counted_as(),
            Some(Route::Data)
        );
        assert_eq!(Action::Stats.counted_as(), None);
        assert_eq!(Action::StatsReset.counted_as(), None);
        assert_eq!(Action::Pause(Duration::ZERO).counted_as(), None);
    }

    #[test]
    fn fill_body_is_sliced_exactly() {
        let total = 3 * FILL.len() as u64 + 5;
        let mut body = RespBody::Fill(total);
        assert_eq!(body.size_hint().exact(), Some(total));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            sizes.push(frame.into_data().map(|d| d.len()).unwrap_or(0));
        }
        assert_eq!(sizes, [65536, 65536, 65536, 5]);
        assert!(body.is_end_stream());
    }

    #[test]
    fn empty_full_body_ends_at_once() {
        let body = RespBody::Full(Bytes::new());
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }
}
