//! Peers that are not honest workers, against a real master process on
//! loopback: a fake worker with the secret (a tonic client of lps-proto)
//! that sends counts no node could make or ends rounds the plan lacks, a
//! flood of registrations, idle connections to the gRPC port, and workers
//! that send snapshots faster than the master merges them.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Cluster, ClusterSettings, LPS, Lps, Target, args, read_json as json, u};
use lps_engine::{Snapshot, Stats};
use lps_proto as proto;
use proto::cluster_client::ClusterClient;
use proto::{MasterMessage, WorkerMessage, master_message, worker_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

const SECRET: &str = "test-secret";
const LISTENING: &str = "lps master: listening for workers on";
/// How long a master may take to print what a test waits for.
const SOON: Duration = Duration::from_secs(20);
const LIMIT: Duration = Duration::from_secs(60);
/// The master's bound on a connection that registers no worker (10 s), and
/// room for a loaded machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(16);

/// The fakes' runtime: the test's thread may block waiting for the master
/// while their connections run on the runtime's own.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn client(port: u16) -> ClusterClient<Channel> {
    let connect = ClusterClient::connect(format!("http://127.0.0.1:{port}"));
    tokio::time::timeout(SOON, connect)
        .await
        .expect("the master answers in time")
        .expect("the master's port takes gRPC")
}

fn register(id: &str, fingerprint: &str) -> proto::Register {
    proto::Register {
        node_id: id.into(),
        host: "fake".into(),
        cores: 2,
        lps_version: "fake".into(),
        protocol_version: proto::PROTOCOL_VERSION,
        plan_fingerprint: fingerprint.into(),
        secret: SECRET.into(),
        iterations: vec![],
        instance: 7,
    }
}

/// A worker that speaks the protocol by hand: a session the master welcomed.
struct Fake {
    tx: mpsc::Sender<WorkerMessage>,
    inbound: Streaming<MasterMessage>,
}

impl Fake {
    /// Opens a session on `client`; the master's refusal if it says no.
    async fn open(
        client: &mut ClusterClient<Channel>,
        reg: proto::Register,
    ) -> Result<Fake, Status> {
        let (tx, rx) = mpsc::channel(16);
        let hello = WorkerMessage {
            kind: Some(worker_message::Kind::Register(reg)),
        };
        tx.send(hello).await.expect("the channel has room");
        let answer = tokio::time::timeout(SOON, client.session(ReceiverStream::new(rx)));
        let mut inbound = answer.await.expect("an answer in time")?.into_inner();
        let first = tokio::time::timeout(SOON, inbound.message())
            .await
            .expect("a first message in time")?
            .expect("a first message");
        assert!(
            matches!(first.kind, Some(master_message::Kind::Welcome(_))),
            "{first:?}"
        );
        Ok(Fake { tx, inbound })
    }

    async fn send(&self, kind: worker_message::Kind) {
        let msg = WorkerMessage { kind: Some(kind) };
        self.tx.send(msg).await.expect("the session is open");
    }

    /// Waits for the master's RoundStart (other messages pass by); its round.
    async fn round_start(&mut self) -> u32 {
        loop {
            let msg = tokio::time::timeout(SOON, self.inbound.message())
                .await
                .expect("a round start in time")
                .expect("the session stays open")
                .expect("the master keeps the session");
            if let Some(master_message::Kind::RoundStart(r)) = msg.kind {
                return r.round;
            }
        }
    }

    /// Says Finished after snapshot `last_seq`, and waits for its ack.
    async fn finish(&mut self, last_seq: u64) {
        let done = proto::Finished {
            last_seq,
            interrupted: false,
        };
        self.send(worker_message::Kind::Finished(done)).await;
        self.acked(last_seq).await;
    }

    /// Waits for the master's ack of `seq` (state changes pass by).
    async fn acked(&mut self, seq: u64) {
        loop {
            let msg = tokio::time::timeout(SOON, self.inbound.message())
                .await
                .expect("an ack in time")
                .expect("the session stays open")
                .expect("the master keeps the session");
            if let Some(master_message::Kind::Ack(a)) = msg.kind
                && a.applied_seq >= seq
            {
                return;
            }
        }
    }
}

/// The master's plan fingerprint: it names it when refusing another.
async fn fingerprint(port: u16) -> String {
    let mut client = client(port).await;
    let Err(refused) = Fake::open(&mut client, register("probe", "?")).await else {
        panic!("a plan fingerprint of ? is taken");
    };
    let m = refused.message();
    let at = m.find("the master's ").expect(m) + "the master's ".len();
    m[at..].split(':').next().expect(m).to_string()
}

/// A snapshot of `ok` 200 responses and the given bytes, at 1 s of the run.
fn snapshot(seq: u64, ok: u64, bytes: u64, in_flight: u64) -> proto::Snapshot {
    let stats = Stats::from_parts(lps_engine::new_histogram(), &[(200, ok)], &[], bytes, bytes);
    let snap = Snapshot {
        core: 0,
        seq,
        elapsed: Duration::from_secs(1),
        in_flight,
        iterations: vec![stats],
        last: false,
    };
    lps::cluster::encode_snapshot(seq, &snap)
}

/// A fake worker: `impossible` snapshots, then one of 3 honest requests,
/// then Finished.
async fn fake_worker(port: u16, fingerprint: &str, id: &str, impossible: Vec<proto::Snapshot>) {
    let mut client = client(port).await;
    let mut fake = Fake::open(&mut client, register(id, fingerprint))
        .await
        .expect("registered");
    let honest = impossible.len() as u64 + 1;
    for s in impossible {
        fake.send(worker_message::Kind::Snapshot(s)).await;
    }
    fake.send(worker_message::Kind::Snapshot(snapshot(honest, 3, 300, 1)))
        .await;
    // Every snapshot is acknowledged, the impossible ones too: a worker
    // does not resend them for ever.
    fake.acked(honest).await;
    fake.finish(honest).await;
}

#[test]
fn impossible_counts_are_refused_logged_once_and_the_rest_is_kept() {
    let target = Target::start(&[]);
    let c = Cluster::new("impossible", ClusterSettings::for_test(2, true));
    let run = format!("-u {} -rc 100 --threads 1", target.url("/"));
    let mut master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json master.json")),
    );
    master.wait_for_line(LISTENING, SOON);
    runtime().block_on(async {
        let fingerprint = fingerprint(c.port).await;
        // The snapshot: 2^63 requests, every byte, 2^32-1 in flight.
        let wild = snapshot(1, 1 << 63, u64::MAX, u64::from(u32::MAX));
        let a = fake_worker(c.port, &fingerprint, "fake-a", vec![wild]);
        // Counts alone, then bytes alone, past what 2 cores do in 2 s.
        let counts = snapshot(1, 40_000_001, 0, 3);
        let bytes = snapshot(2, 1, 50_000_000_001, 3);
        let b = fake_worker(c.port, &fingerprint, "fake-b", vec![counts, bytes]);
        tokio::join!(a, b);
    });
    let out = master.wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let refused: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("refused snapshot"))
        .collect();
    assert_eq!(refused.len(), 2, "one line per node: {refused:?}");
    assert!(
        refused[..].iter().any(|l| l.contains(
            "of fake-a: bad snapshot: 4294967295 requests in flight on a node of 2 cores"
        )),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|l| l.contains(
            "snapshot 1 of fake-b: its requests (40000001 so far) are more than 2 cores can do in 2.0 s"
        )),
        "{refused:?}"
    );
    // The master's own requests and the honest ones, consistent.
    let report = json(&c.path("master.json"));
    let requests = &report["requests"];
    assert_eq!(u(&requests["total"]), 106, "{requests}");
    assert_eq!(u(&requests["ok"]) + u(&requests["failed"]), 106);
    let mut nodes: Vec<(String, u64, u64)> = report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let id = n["id"].as_str().unwrap().to_string();
            (id, u(&n["requests"]["total"]), u(&n["bytes"]["sent"]))
        })
        .collect();
    let master_bytes = nodes[0].2;
    // The two fakes register at once, in either order.
    nodes[1..].sort();
    assert_eq!(
        nodes,
        vec![
            ("master".to_string(), 100, master_bytes),
            ("fake-a".to_string(), 3, 300),
            ("fake-b".to_string(), 3, 300)
        ]
    );
    assert_eq!(u(&report["bytes"]["sent"]), master_bytes + 600);
}

#[test]
fn round_ends_out_of_range_or_said_twice_are_ignored_and_logged_once() {
    let target = Target::start(&[]);
    let c = Cluster::new("rounds", ClusterSettings::for_test(1, true));
    let plan = format!(
        "name: P\nrounds:\n  - name: A\n    iterations:\n      - name: a\n        requestCount: 3\n        httpRequest:\n          method: GET\n          url: {url}\n  - name: B\n    iterations:\n      - name: b\n        requestCount: 2\n        httpRequest:\n          method: GET\n          url: {url}\n",
        url = target.url("/")
    );
    let plan = c.dir.write("plan.yaml", plan);
    let mut master = c.spawn_plan("master", "127.0.0.1", &plan, &args("--threads 1"));
    master.wait_for_line(LISTENING, SOON);
    runtime().block_on(async {
        let fingerprint = fingerprint(c.port).await;
        let mut client = client(c.port).await;
        let mut fake = Fake::open(&mut client, register("fake", &fingerprint))
            .await
            .expect("registered");
        // The master's own round A runs; the fake ends rounds the plan of
        // two does not have: ignored, one line.
        target.wait_for_requests(3, SOON);
        for round in [2, u32::MAX] {
            let bad = proto::RoundDone { round };
            fake.send(worker_message::Kind::RoundDone(bad)).await;
        }
        master.wait_for_line("ignored fake's end of round index 2", SOON);
        // Round A, said twice: round B starts once, on the fake too.
        for _ in 0..2 {
            let done = proto::RoundDone { round: 0 };
            fake.send(worker_message::Kind::RoundDone(done)).await;
        }
        assert_eq!(fake.round_start().await, 1);
        fake.finish(0).await;
    });
    let out = master.wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let count = |s: &str| out.stderr.matches(s).count();
    assert_eq!(count("ignored fake's end of round"), 1, "{}", out.stderr);
    assert_eq!(count("round 2 of 2 starts"), 1, "{}", out.stderr);
    assert_eq!(u(&target.stats()["requests"]), 5);
}

/// A snapshot with a response in every latency bucket up to an hour, each
/// split, with a connect, a TLS handshake and a send lag of the same time:
/// a few kilobytes on the wire (runs of equal counts deflate well) that take
/// a debug master tens of milliseconds to merge. Its requests.
fn heavy_snapshot() -> (proto::Snapshot, u64) {
    let mut stats = Stats::new();
    let buckets = hdrhistogram::Histogram::<u64>::new_with_max(lps_engine::LATENCY_HIGH_US, 3)
        .expect("the engine's bounds");
    for v in buckets.iter_all().map(|v| v.value_iterated_to()) {
        stats.record_response(200, v, 40, 100);
        stats.record_split(v, v);
        stats.record_connect(v, false);
        stats.record_tls(v);
        stats.record_send_lag(v);
    }
    let requests = stats.requests();
    let snap = Snapshot {
        core: 0,
        seq: 1,
        elapsed: Duration::from_secs(1),
        in_flight: 1,
        iterations: vec![stats],
        last: false,
    };
    (lps::cluster::encode_snapshot(1, &snap), requests)
}

/// A fake worker that sends `count` copies of `heavy` at once (as a worker
/// does whose master has fallen behind), then Finished once all are acked.
async fn flooding_worker(
    port: u16,
    fingerprint: &str,
    id: &str,
    heavy: &proto::Snapshot,
    count: u64,
) {
    let mut client = client(port).await;
    let mut fake = Fake::open(&mut client, register(id, fingerprint))
        .await
        .expect("registered");
    for seq in 1..=count {
        let snap = proto::Snapshot {
            seq,
            ..heavy.clone()
        };
        fake.send(worker_message::Kind::Snapshot(snap)).await;
    }
    fake.acked(count).await;
    fake.finish(count).await;
}

#[test]
fn a_worker_whose_snapshots_wait_to_be_merged_is_not_lost() {
    // Three workers each send 40 heavy snapshots at once: seconds of
    // merging for a 1 s heartbeat timeout. None sends a heartbeat
    // meanwhile: its snapshots, still arriving, are its signs of life, and
    // no worker's stream may keep the master from the others' for a second.
    let (workers, snapshots) = (3, 40);
    let settings = ClusterSettings::for_test(workers, false).heartbeat_timeout(1);
    let c = Cluster::new("busy", settings);
    let run = "-u http://127.0.0.1:9/ -rc 1 --json master.json";
    let mut master = c.spawn("master", "127.0.0.1", &args(run));
    master.wait_for_line(LISTENING, SOON);
    let (heavy, requests) = heavy_snapshot();
    runtime().block_on(async {
        let fingerprint = fingerprint(c.port).await;
        let fakes = (0..workers).map(|i| {
            let (fingerprint, heavy) = (&fingerprint, &heavy);
            async move {
                let id = format!("busy-{i}");
                flooding_worker(c.port, fingerprint, &id, heavy, snapshots).await
            }
        });
        futures_util::future::join_all(fakes).await;
    });
    let out = master.wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(!out.stderr.contains(" lost "), "{}", out.stderr);
    let report = json(&c.path("master.json"));
    let all = u64::from(workers) * snapshots * requests;
    assert_eq!(u(&report["requests"]["total"]), all);
}

/// The master's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the master runs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_registration_flood_is_capped_and_does_not_start_the_test() {
    let target = Target::start(&[]);
    let settings = ClusterSettings::for_test(20, true).max_nodes(20);
    let c = Cluster::new("flood", settings);
    let run = format!("-u {} -rc 50 --threads 1", target.url("/"));
    let mut master = c.spawn(
        "master",
        "127.0.0.1",
        &args(&format!("{run} --json master.json")),
    );
    master.wait_for_line(LISTENING, SOON);
    let before = rss_kib(master.id());
    runtime().block_on(async {
        let fingerprint = fingerprint(c.port).await;
        let mut client = client(c.port).await;
        // 300 ids register and go at once, 10 at a time (fewer than the 20
        // expected are connected at any time).
        for batch in 1..=30 {
            let sessions = (0..10).map(|i| {
                let mut client = client.clone();
                let reg = register(&format!("flood-{batch}-{i}"), &fingerprint);
                async move { Fake::open(&mut client, reg).await.expect("room for it") }
            });
            drop(futures_util::future::join_all(sessions).await);
            let left = |s: &str| s.matches("left before the start").count();
            let stderr = common::poll("the flood's sessions gone", SOON, || {
                let stderr = master.stderr();
                (left(&stderr) >= batch * 10 || stderr.contains("Idle -> Ready")).then_some(stderr)
            });
            assert!(!stderr.contains("Idle -> Ready"), "{stderr}");
        }
        let grown_mib = rss_kib(master.id()).saturating_sub(before) / 1024;
        assert!(grown_mib < 16, "the master grew by {grown_mib} MiB");

        // 25 that stay: 20 are taken and start the test, 5 are refused.
        let mut live = Vec::new();
        let mut refused = Vec::new();
        for i in 0..25 {
            match Fake::open(&mut client, register(&format!("live-{i}"), &fingerprint)).await {
                Ok(fake) => live.push(fake),
                Err(status) => refused.push((status.code(), status.message().to_string())),
            }
        }
        assert_eq!(live.len(), 20);
        let full = (
            tonic::Code::FailedPrecondition,
            "the master has its MaxNodes (20) workers already".to_string(),
        );
        assert_eq!(refused, vec![full; 5]);
        master.wait_for_line("Idle -> Ready", SOON);
        // They go silent: lost after the heartbeat timeout, and the run ends.
        drop(live);
    });
    let out = master.wait(LIMIT);
    let full_lines = out
        .stderr
        .lines()
        .filter(|l| l.contains("MaxNodes (20)"))
        .count();
    // One line for the 5 refusals, not one each.
    assert_eq!(full_lines, 1, "{}", out.stderr);
    let report = json(&c.path("master.json"));
    let nodes = report["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 21, "the master and the 20 live ones");
    assert!(
        nodes
            .iter()
            .all(|n| !n["id"].as_str().unwrap().starts_with("flood"))
    );
    assert_eq!(u(&report["requests"]["total"]), 50);
}

/// Opens `n` TCP connections to `addr` that send nothing (those the
/// master's backlog does not take within a second are left out).
fn idle_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
        .inspect(|s| s.set_nonblocking(true).unwrap())
        .collect()
}

/// Whether the master closed `conn` (end of stream or a reset).
fn closed(conn: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match conn.read(&mut buf) {
        Ok(0) => true,
        // Some bytes (a TLS or HTTP/2 greeting) from a connection still open.
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[test]
fn idle_connections_are_closed_within_the_handshake_limit() {
    let c = Cluster::new("idle", ClusterSettings::for_test(1, false));
    let _master = c.spawn("master", "127.0.0.1", &args("-u http://127.0.0.1:9/ -rc 1"));
    _master.wait_for_line(LISTENING, SOON);
    let opened = Instant::now();
    let mut conns = idle_connections(([127, 0, 0, 1], c.port).into(), 50);
    assert_eq!(conns.len(), 50);
    common::poll("every idle connection closed", CLOSED_WITHIN, || {
        conns.retain_mut(|conn| !closed(conn));
        conns.is_empty().then_some(())
    });
    // Not at once either: a slow worker has its handshake time.
    assert!(
        opened.elapsed() >= Duration::from_secs(5),
        "{:?}",
        opened.elapsed()
    );
}

#[test]
fn idle_connections_at_the_file_limit_do_not_keep_a_worker_out() {
    let target = Target::start(&[]);
    let c = Cluster::new(
        "fdlimit",
        ClusterSettings::for_test(1, false).connect_timeout(15),
    );
    let run = format!("-u {} -rc 20 --threads 1", target.url("/"));
    // The master with 256 file descriptors, as in the issue.
    let mut master_cmd = Command::new("sh");
    master_cmd
        .current_dir(c.dir.dir())
        .args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\"", LPS])
        .args([
            "--settings",
            c.settings.to_str().unwrap(),
            "--role",
            "master",
        ])
        .args([
            "-q",
            "--dashboard-listen",
            "127.0.0.1:0",
            "--node-ip",
            "127.0.0.1",
        ])
        .args(args(&format!("{run} --json master.json")));
    let mut master = Lps::start(&mut master_cmd);
    master.wait_for_line(LISTENING, SOON);
    let idle = idle_connections(([127, 0, 0, 1], c.port).into(), 300);
    assert!(idle.len() > 256, "{} connections", idle.len());
    let mut worker = c.spawn("worker", "127.0.0.2", &args(&run));
    let out = worker.wait(LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let master = master.wait(LIMIT);
    assert_eq!(master.code, Some(0), "{}", master.stderr);
    assert_eq!(u(&json(&c.path("master.json"))["requests"]["total"]), 20);
    drop(idle);
}

/// Reads one HTTP/2 frame: its type, flags, stream and payload.
fn read_frame(conn: &mut TcpStream) -> (u8, u8, u32, Vec<u8>) {
    let mut head = [0u8; 9];
    conn.read_exact(&mut head).expect("an HTTP/2 frame");
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    conn.read_exact(&mut payload).expect("the frame's payload");
    (head[3], head[4], stream, payload)
}

const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;
const ACK: u8 = 0x1;
/// HTTP/2's initial windows, before any SETTINGS or WINDOW_UPDATE.
const DEFAULT_WINDOW: u32 = 65_535;

/// Opens an HTTP/2 connection to `addr` and returns the flow-control
/// windows its server grants: each new stream's, and the connection's.
fn granted_windows(addr: SocketAddr) -> (u32, u32) {
    use std::io::Write;
    let mut conn = TcpStream::connect(addr).expect("the master's port");
    conn.set_read_timeout(Some(SOON)).unwrap();
    let ping = |n: u8| [&[0, 0, 8, PING, 0, 0, 0, 0, 0][..], &[n; 8]].concat();
    let greeting = [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        &[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0],
        &ping(1),
    ]
    .concat();
    conn.write_all(&greeting).unwrap();
    let (mut stream, mut connection) = (DEFAULT_WINDOW, DEFAULT_WINDOW);
    // h2 sends its connection's WINDOW_UPDATE when it has read what came,
    // with the answer to the first ping at the latest: the answer to a
    // second one, sent after that, comes after it.
    let mut pongs = 0;
    while pongs < 2 {
        let (kind, flags, on, payload) = read_frame(&mut conn);
        match (kind, flags & ACK) {
            (SETTINGS, 0) => {
                for entry in payload.chunks_exact(6) {
                    if u16::from_be_bytes([entry[0], entry[1]]) == 0x4 {
                        stream = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                    }
                }
            }
            (WINDOW_UPDATE, _) if on == 0 => {
                let by = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                connection += by & 0x7fff_ffff;
            }
            (PING, ACK) => {
                pongs += 1;
                if pongs == 1 {
                    conn.write_all(&ping(2)).unwrap();
                }
            }
            _ => {}
        }
    }
    (stream, connection)
}

#[test]
fn a_worker_may_have_a_few_snapshots_unread_at_the_master_not_megabytes() {
    // What a worker sends and the master has not read waits in the master's
    // memory, up to the HTTP/2 windows it grants: for each of thousands of
    // workers when it falls behind. A worker sends a snapshot a second (8
    // KB at 16 cores in perf/master-scale) and keeps it until acked.
    let c = Cluster::new("window", ClusterSettings::for_test(1, false));
    let master = c.spawn("master", "127.0.0.1", &args("-u http://127.0.0.1:9/ -rc 1"));
    master.wait_for_line(LISTENING, SOON);
    let (stream, connection) = granted_windows(([127, 0, 0, 1], c.port).into());
    let few = |window: &u32| (DEFAULT_WINDOW..=64 * 1024).contains(window);
    assert!(
        few(&stream) && few(&connection),
        "windows granted: {stream} bytes a stream, {connection} bytes the connection"
    );
}
