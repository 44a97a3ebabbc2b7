//! The HTTP/1.1 request path, from one exchange to a whole engine run.
//!
//! Throughput is in requests (criterion's elements), so `elem/s` is requests
//! per second of the one thread running the bench.
//!
//! - `head/parse/*`, `head/httparse/*`: one response head, lps's one-pass
//!   scan against httparse alone; `head/repeat/*`: the same head again, as a
//!   connection sees it on every response, answered from its last head.
//! - `http1/duplex/*`: [`Connection::exchange`] against an in-process peer
//!   on a tokio duplex, same thread: parsing and task overhead, no syscalls.
//! - `http1/loopback/1-conn`: one keep-alive TCP connection to `lps target`
//!   (one thread, on the last core) from a client thread on core 0: a round
//!   trip per request.
//! - `http1/loopback/64-conns`: 64 connections driven by one current-thread
//!   runtime on core 0, as one engine core drives its clients. Both cores are
//!   busy; compare with `perf/run` for the generator's own CPU cost.
//! - `engine/R/*`: `lps_engine::start` of an R-mode plan, one engine thread
//!   (pinned by the engine to core 0), until its last snapshot: the engine's
//!   start lead, the connects and every request included. `engine/R-h2/*`:
//!   the same over HTTP/2 (h2c), one connection per client.
//!
//! Nothing here pins the main thread: `lps target` and the engine pin their
//! threads among the cores the spawning thread may use, so a pinned main
//! thread would put them all on one core.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use lps_benches::{
    RESPONSE_CHUNKED, RESPONSE_NGINX, RESPONSE_TARGET, loopback_target, pin_to_core, r_plan,
    response_with_body, spawn_canned_peer,
};
use lps_config::HttpVersion;
use lps_engine::head;
use lps_engine::http1::{Connection, build_request};
use lps_engine::{Aggregate, RunOptions};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

// The `lps` binary's allocator, so that costs match what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Connections of the one-thread loopback bench (perf/run's default too).
const LANES: usize = 64;

fn runtime() -> Runtime {
    // A current-thread runtime cannot fail to build short of the OS refusing
    // a timer or an epoll instance, and then no bench can run.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime")
}

/// One response head parsed: `head::parse` (the one-pass scan) against
/// httparse alone on the same bytes, headers looked at the same way.
fn head(c: &mut Criterion) {
    let mut group = c.benchmark_group("head");
    group.throughput(Throughput::Elements(1));
    for (name, response) in [("nginx", RESPONSE_NGINX), ("lps-target", RESPONSE_TARGET)] {
        group.bench_function(BenchmarkId::new("parse", name), |b| {
            b.iter(|| black_box(head::parse(black_box(response))))
        });
        group.bench_function(BenchmarkId::new("repeat", name), |b| {
            let mut last = head::LastHead::default();
            b.iter(|| black_box(last.parse(black_box(response))))
        });
        group.bench_function(BenchmarkId::new("httparse", name), |b| {
            b.iter(|| {
                // As the engine used it: header slots left uninitialised.
                let mut headers =
                    [const { MaybeUninit::<httparse::Header>::uninit() }; head::MAX_HEADERS];
                let mut res = httparse::Response::new(&mut []);
                let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                    &mut res,
                    black_box(response),
                    &mut headers,
                );
                // What lps needs from the headers: the framing ones, found by name.
                let framing = res.headers.iter().filter(|h| {
                    let n = h.name.as_bytes();
                    n.eq_ignore_ascii_case(b"content-length")
                        || n.eq_ignore_ascii_case(b"transfer-encoding")
                        || n.eq_ignore_ascii_case(b"connection")
                });
                black_box((parsed, framing.count()))
            })
        });
    }
    group.finish();
}

fn duplex(c: &mut Criterion) {
    let rt = runtime();
    let request = build_request("GET", "127.0.0.1:8080", "/", &[], b"");
    let cases = [
        ("lps-target", RESPONSE_TARGET.to_vec()),
        ("nginx", RESPONSE_NGINX.to_vec()),
        ("chunked", RESPONSE_CHUNKED.to_vec()),
        ("16KiB", response_with_body(16 * 1024)),
    ];
    let mut group = c.benchmark_group("http1");
    group.throughput(Throughput::Elements(1));
    for (name, response) in cases {
        let mut conn = Connection::new(spawn_canned_peer(&rt, request.len(), response));
        group.bench_function(BenchmarkId::new("duplex", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        // The canned peer answers every request in full.
                        let r = conn.exchange(&request, false).await.expect("canned answer");
                        black_box(r);
                    }
                    t.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// A client thread pinned to core 0 that keeps `lanes` keep-alive connections
/// to a target and, per command, sends that many requests spread over them,
/// answering with the time they took.
///
/// The bench's main thread stays unpinned on purpose: a target started from
/// a thread pinned to core 0 would see only core 0 and pin itself there too.
struct Lanes {
    /// Requests to send; closing it ends the thread.
    cmd: mpsc::Sender<u64>,
    /// Time each command took.
    done: mpsc::Receiver<Duration>,
    thread: std::thread::JoinHandle<()>,
}

impl Lanes {
    fn start(addr: SocketAddr, lanes: usize) -> Lanes {
        let (cmd, commands) = mpsc::channel::<u64>();
        let (report, done) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            pin_to_core(0);
            let rt = runtime();
            let request: Rc<[u8]> = build_request("GET", &addr.to_string(), "/", &[], b"").into();
            let mut conns = rt.block_on(async {
                let mut v = Vec::with_capacity(lanes);
                for _ in 0..lanes {
                    // The target was just started on loopback and accepts thousands.
                    let s = TcpStream::connect(addr)
                        .await
                        .expect("connect to lps target");
                    s.set_nodelay(true).expect("TCP_NODELAY on a fresh socket");
                    v.push(Connection::new(s));
                }
                v
            });
            for iters in commands {
                let local = tokio::task::LocalSet::new();
                let took = local.block_on(&rt, async {
                    let t = Instant::now();
                    let mut tasks = Vec::with_capacity(lanes);
                    for (i, mut conn) in conns.drain(..).enumerate() {
                        // Lanes share the requests; the first `iters % lanes` send one more.
                        let n = iters / lanes as u64 + u64::from((i as u64) < iters % lanes as u64);
                        let request = request.clone();
                        tasks.push(tokio::task::spawn_local(async move {
                            for _ in 0..n {
                                // The target answers `/` with 200 as long as it runs.
                                let r = conn.exchange(&request, false).await.expect("answer");
                                black_box(r);
                            }
                            conn
                        }));
                    }
                    for task in tasks {
                        // A lane only panics if an exchange failed, which fails the bench anyway.
                        conns.push(task.await.expect("lane finished"));
                    }
                    t.elapsed()
                });
                if report.send(took).is_err() {
                    return;
                }
            }
        });
        Lanes { cmd, done, thread }
    }

    /// Sends `iters` requests and returns the time they took.
    fn run(&self, iters: u64) -> Duration {
        // The thread only exits when `cmd` closes or an exchange panicked,
        // and a panic has already failed the bench.
        self.cmd.send(iters).expect("client thread running");
        self.done.recv().expect("client thread answers")
    }

    fn finish(self) {
        // Closing the command channel ends the thread's loop; it drops its
        // connections before the caller stops the target.
        drop(self.cmd);
        // A panic in the thread was already reported by `run`.
        let _ = self.thread.join();
    }
}

fn loopback(c: &mut Criterion) {
    let target = loopback_target();
    let mut group = c.benchmark_group("http1");
    group.throughput(Throughput::Elements(1));
    for lanes in [1, LANES] {
        let client = Lanes::start(target.local_addr(), lanes);
        let name = if lanes == 1 {
            "1-conn".to_owned()
        } else {
            format!("{lanes}-conns")
        };
        group.bench_function(BenchmarkId::new("loopback", name), |b| {
            b.iter_custom(|iters| client.run(iters))
        });
        client.finish();
    }
    group.finish();
    target.stop();
}

fn engine(c: &mut Criterion) {
    let target = loopback_target();
    let opts = RunOptions {
        threads: 1,
        ..RunOptions::default()
    };
    let mut group = c.benchmark_group("engine");
    // A run takes 60-200 ms: flat sampling (the same iterations per sample)
    // keeps 10 samples within the measurement time instead of warning.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(4));
    let runs = [
        ("R", HttpVersion::Http11, 1u32, 2_000u64),
        ("R", HttpVersion::Http11, 64, 100),
        ("R-h2", HttpVersion::H2c, 64, 100),
    ];
    for (name, version, clients, requests) in runs {
        let mut plan = r_plan(target.local_addr(), clients, requests);
        plan.rounds[0].iterations[0].request.version = version;
        let total = clients as u64 * requests;
        group.throughput(Throughput::Elements(total));
        group.bench_function(
            BenchmarkId::new(name, format!("{clients}x{requests}")),
            |b| {
                b.iter(|| {
                    // The plan is valid and the target local: start cannot fail.
                    let run =
                        lps_engine::start(&plan, &opts, Default::default()).expect("engine starts");
                    let mut agg = Aggregate::new(1);
                    for snap in run.snapshots().iter() {
                        agg.add(&snap);
                    }
                    run.join().expect("engine thread does not panic");
                    assert_eq!(agg.total().ok, total, "every request answered");
                })
            },
        );
    }
    group.finish();
    target.stop();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = head, duplex, loopback, engine
}
criterion_main!(benches);
