//! The master: keeps the global test state, takes one gRPC stream per
//! worker on a control thread of its own, merges every node's snapshots
//! exactly, and writes the cluster report.
//!
//! States: `Idle` until `ExpectedNumberOfWorkers` workers registered (at
//! once with 0), then `Ready` with a start instant a moment ahead that every
//! node shares, `Running` from that instant, and `Completed` when every node
//! finished or was lost (`Cancelled` on Ctrl-C).

use std::cell::Cell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use lps_config::Plan;
use lps_engine::{Aggregate, RunOptions, Snapshot};
use lps_proto as proto;
use proto::cluster_server::{Cluster, ClusterServer};
use proto::{MasterMessage, WorkerMessage, master_message, worker_message};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::cluster::{self, decode_snapshot};
use crate::dashboard::live::{Live, NodeView};
use crate::local::{self, Outcome};
use crate::report::NodeReport;
use crate::shutdown::CancellationToken;

/// Largest message a worker may send (a snapshot of many iterations).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// How far ahead of "ready" the shared start instant lies.
const START_LEAD: Duration = Duration::from_millis(400);
/// How long a new stream has to present its `Register`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Most cores a worker may declare: a snapshot's core index is checked
/// against them, and the in-flight gauges keep one slot per core.
const MAX_CORES: u32 = lps_engine::MAX_THREADS as u32;

/// The master's test state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Idle,
    Ready,
    Running,
    Completed,
    Cancelled,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Ready => "Ready",
            State::Running => "Running",
            State::Completed => "Completed",
            State::Cancelled => "Cancelled",
        }
    }

    fn to_proto(self) -> proto::State {
        match self {
            State::Idle => proto::State::Idle,
            State::Ready => proto::State::Ready,
            State::Running => proto::State::Running,
            State::Completed => proto::State::Completed,
            State::Cancelled => proto::State::Cancelled,
        }
    }

    fn is_final(self) -> bool {
        matches!(self, State::Completed | State::Cancelled)
    }
}

/// What a node is doing, as the master sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Registered while the master was idle; waits for the start.
    Observer,
    Running,
    Finished,
    /// No heartbeat within the timeout; its data so far is kept.
    Lost,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Observer => "Observer",
            Phase::Running => "Running",
            Phase::Finished => "Finished",
            Phase::Lost => "Lost",
        }
    }
}

/// Settings the master runs with.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub listen: SocketAddr,
    pub secret: Option<String>,
    pub expected_workers: u32,
    pub master_is_worker: bool,
    pub heartbeat_timeout: Duration,
    /// PEM certificate chain and key: serve gRPC over TLS.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
}

/// One node's entry in the global state.
struct Node {
    id: String,
    /// The worker process's `Register.instance`; 0 for the master's own node.
    instance: u64,
    host: String,
    cores: u32,
    is_master: bool,
    phase: Phase,
    /// Highest snapshot seq merged; a resent snapshot at or below it is skipped.
    applied_seq: u64,
    /// The seq of the node's last snapshot, once it said it finished.
    finished_seq: Option<u64>,
    aggregate: Aggregate,
    last_seen: Instant,
    /// The latest snapshot's elapsed time, for the node's own rate.
    elapsed: Duration,
}

struct Inner {
    state: State,
    start_at_ms: u64,
    nodes: Vec<Node>,
    /// When the last node finished (or was lost).
    ended: Option<Instant>,
}

/// The global test state, shared by the gRPC tasks and the main thread.
pub struct Master {
    inner: Mutex<Inner>,
    /// State and start instant, watched by every worker stream.
    state_tx: watch::Sender<(State, u64)>,
    fingerprint: String,
    iterations: usize,
    cfg: MasterConfig,
    master_id: String,
    /// The dashboard's view, fed with every merged snapshot.
    live: Option<Arc<Live>>,
}

impl Master {
    fn new(plan: &Plan, cfg: MasterConfig, live: Option<Arc<Live>>) -> Master {
        Master {
            inner: Mutex::new(Inner {
                state: State::Idle,
                start_at_ms: 0,
                nodes: Vec::new(),
                ended: None,
            }),
            state_tx: watch::channel((State::Idle, 0)).0,
            fingerprint: cluster::fingerprint(plan),
            iterations: plan.rounds.iter().map(|r| r.iterations.len()).sum(),
            master_id: format!("master@{}", cfg.listen),
            cfg,
            live,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind, which
        // are still the best data there is: keep going with them.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_state(&self, inner: &mut Inner, state: State) {
        if inner.state != state {
            eprintln!("lps master: {} -> {}", inner.state.as_str(), state.as_str());
            inner.state = state;
            self.state_tx.send_replace((state, inner.start_at_ms));
            if let Some(live) = &self.live {
                live.set_state(state.as_str());
            }
        }
    }

    /// Idle -> Ready once enough workers registered; the start lies ahead.
    fn maybe_ready(&self, inner: &mut Inner) {
        if inner.state != State::Idle {
            return;
        }
        let workers = inner.nodes.iter().filter(|n| !n.is_master).count() as u32;
        if workers >= self.cfg.expected_workers {
            inner.start_at_ms = cluster::unix_ms(SystemTime::now() + START_LEAD);
            self.set_state(inner, State::Ready);
            for n in inner
                .nodes
                .iter_mut()
                .filter(|n| n.phase == Phase::Observer)
            {
                n.phase = Phase::Running;
            }
        }
    }

    /// Registers (or re-registers) a worker; returns its welcome, or why a
    /// known id is not this worker's to take.
    fn register(&self, reg: &proto::Register) -> Result<proto::Welcome, Status> {
        let mut inner = self.lock();
        let observer = inner.state == State::Idle;
        let state = inner.state;
        let applied_seq = match inner.nodes.iter_mut().find(|n| n.id == reg.node_id) {
            Some(node) if node.is_master => {
                return Err(Status::already_exists(format!(
                    "node id {:?} is the master's own: give the worker another --node-id",
                    node.id
                )));
            }
            // A known id is a reconnect only from the same worker process.
            Some(node) if node.instance != reg.instance => {
                return Err(Status::already_exists(format!(
                    "node id {:?} is taken by another worker (from {:?}): give each worker its own --node-id",
                    node.id, node.host
                )));
            }
            Some(node) => {
                // A reconnect: the node resumes where the master left it.
                if node.phase == Phase::Lost {
                    eprintln!("lps master: worker {} is back", node.id);
                    node.phase = if node.finished_seq.is_some() {
                        Phase::Finished
                    } else {
                        Phase::Running
                    };
                }
                node.last_seen = Instant::now();
                node.applied_seq
            }
            None => {
                eprintln!(
                    "lps master: worker {} registered from {} ({} cores){}",
                    reg.node_id,
                    reg.host,
                    reg.cores,
                    if observer { " as observer" } else { "" }
                );
                inner.nodes.push(Node {
                    id: reg.node_id.clone(),
                    instance: reg.instance,
                    host: reg.host.clone(),
                    cores: reg.cores,
                    is_master: false,
                    phase: if observer {
                        Phase::Observer
                    } else {
                        Phase::Running
                    },
                    applied_seq: 0,
                    finished_seq: None,
                    aggregate: Aggregate::new(self.iterations),
                    last_seen: Instant::now(),
                    elapsed: Duration::ZERO,
                });
                0
            }
        };
        self.maybe_ready(&mut inner);
        Ok(proto::Welcome {
            state: state.to_proto() as i32,
            applied_seq,
            observer,
            master_id: self.master_id.clone(),
        })
    }

    /// Merges a worker's snapshot once; returns the seq applied so far.
    fn apply(&self, node_id: &str, snap: &proto::Snapshot) -> Result<u64, Status> {
        let cores = self
            .lock()
            .nodes
            .iter()
            .find(|n| n.id == node_id)
            .map(|n| n.cores)
            .ok_or_else(|| Status::not_found("node not registered"))?;
        let decoded = decode_snapshot(snap, self.iterations, cores)
            .map_err(|e| Status::invalid_argument(format!("bad snapshot: {e}")))?;
        let mut inner = self.lock();
        let node = inner
            .nodes
            .iter_mut()
            .find(|n| n.id == node_id)
            .ok_or_else(|| Status::not_found("node not registered"))?;
        node.last_seen = Instant::now();
        if snap.seq > node.applied_seq {
            node.aggregate.add(&decoded);
            if let Some(live) = &self.live {
                live.add(node_id, &decoded);
            }
            node.applied_seq = snap.seq;
            node.elapsed = node.elapsed.max(decoded.elapsed);
        }
        Ok(node.applied_seq)
    }

    fn heartbeat(&self, node_id: &str) {
        let mut inner = self.lock();
        if let Some(node) = inner.nodes.iter_mut().find(|n| n.id == node_id) {
            node.last_seen = Instant::now();
            if node.phase == Phase::Lost {
                node.phase = if node.finished_seq.is_some() {
                    Phase::Finished
                } else {
                    Phase::Running
                };
            }
        }
    }

    /// Records that a node finished; returns the seq applied for it.
    fn finished(&self, node_id: &str, last_seq: u64) -> u64 {
        let mut inner = self.lock();
        let mut applied = 0;
        if let Some(node) = inner.nodes.iter_mut().find(|n| n.id == node_id) {
            node.finished_seq = Some(last_seq);
            node.last_seen = Instant::now();
            applied = node.applied_seq;
        }
        self.check_finished(&mut inner);
        applied
    }

    /// Nodes that said they finished and whose every snapshot arrived are done.
    fn check_finished(&self, inner: &mut Inner) {
        for n in inner.nodes.iter_mut() {
            if let Some(last) = n.finished_seq
                && n.applied_seq >= last
                && n.phase != Phase::Finished
            {
                n.phase = Phase::Finished;
                eprintln!(
                    "lps master: {} finished ({} requests)",
                    n.id,
                    n.aggregate.total().requests()
                );
            }
        }
    }

    /// Marks silent workers `Lost`.
    fn check_heartbeats(&self) {
        let mut inner = self.lock();
        for n in inner.nodes.iter_mut().filter(|n| !n.is_master) {
            let silent = n.last_seen.elapsed() > self.cfg.heartbeat_timeout;
            if silent && matches!(n.phase, Phase::Running | Phase::Observer) {
                n.phase = Phase::Lost;
                eprintln!(
                    "lps master: worker {} lost (no heartbeat for {:?}); its data up to snapshot {} is kept",
                    n.id, self.cfg.heartbeat_timeout, n.applied_seq
                );
            }
        }
    }

    /// The run is over when every node is finished or lost, and as many
    /// workers as expected (at least one when the master does not run load)
    /// took part.
    fn all_done(&self, inner: &Inner) -> bool {
        let workers = inner.nodes.iter().filter(|n| !n.is_master).count() as u32;
        let needed = if self.cfg.master_is_worker {
            self.cfg.expected_workers
        } else {
            self.cfg.expected_workers.max(1)
        };
        workers >= needed
            && inner
                .nodes
                .iter()
                .all(|n| matches!(n.phase, Phase::Finished | Phase::Lost))
    }

    /// The merge of every node's aggregate: exact, whatever the split.
    fn global(&self) -> Aggregate {
        let inner = self.lock();
        let mut global = Aggregate::new(self.iterations);
        for n in &inner.nodes {
            global.merge(&n.aggregate);
        }
        global
    }

    /// The nodes table for the dashboard.
    fn node_views(&self) -> Vec<NodeView> {
        let inner = self.lock();
        inner
            .nodes
            .iter()
            .map(|n| {
                let total = n.aggregate.total();
                let secs = n.elapsed.as_secs_f64();
                NodeView {
                    id: n.id.clone(),
                    host: n.host.clone(),
                    role: if n.is_master { "master" } else { "worker" },
                    state: n.phase.as_str(),
                    cores: n.cores,
                    requests: total.requests(),
                    rps: if secs > 0.0 {
                        total.requests() as f64 / secs
                    } else {
                        0.0
                    },
                    p99_us: if total.latency.is_empty() {
                        0
                    } else {
                        total.latency.value_at_quantile(0.99)
                    },
                    errors: total.failed,
                    last_heartbeat_s: if n.is_master {
                        0.0
                    } else {
                        n.last_seen.elapsed().as_secs_f64()
                    },
                }
            })
            .collect()
    }

    /// Brings the dashboard's view up to date (the nodes at most twice a second).
    fn refresh_live(&self, last: &Cell<Option<Instant>>) {
        let Some(live) = &self.live else { return };
        live.tick_if_due();
        if last
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(500))
        {
            live.set_nodes(self.node_views());
            last.set(Some(Instant::now()));
        }
    }

    fn node_reports(&self) -> Vec<NodeReport> {
        let inner = self.lock();
        inner
            .nodes
            .iter()
            .map(|n| {
                NodeReport::new(
                    &n.id,
                    &n.host,
                    if n.is_master { "master" } else { "worker" },
                    n.phase.as_str(),
                    n.cores,
                    &n.aggregate.total(),
                    n.elapsed,
                )
            })
            .collect()
    }
}

/// The gRPC service: one `Session` stream per worker.
struct Service(Arc<Master>);

type SessionStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<MasterMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Cluster for Service {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        req: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<SessionStream>, Status> {
        let peer = req
            .remote_addr()
            .map_or_else(|| "unknown".to_string(), |a| a.to_string());
        let mut inbound = req.into_inner();
        let refuse = |status: Status| {
            eprintln!(
                "lps master: refused a client from {peer}: {}",
                status.message()
            );
            Err(status)
        };
        let first = match tokio::time::timeout(REGISTER_TIMEOUT, inbound.message()).await {
            Err(_) => return refuse(Status::deadline_exceeded("no Register within 5 s")),
            Ok(Err(e)) => {
                return refuse(Status::invalid_argument(format!(
                    "unreadable first message: {}",
                    e.message()
                )));
            }
            Ok(Ok(msg)) => msg,
        };
        let Some(WorkerMessage {
            kind: Some(worker_message::Kind::Register(reg)),
        }) = first
        else {
            return refuse(Status::invalid_argument(
                "the first message must be Register",
            ));
        };
        let master = &self.0;
        if let Some(secret) = &master.cfg.secret
            && !constant_time_eq(secret.as_bytes(), reg.secret.as_bytes())
        {
            return refuse(Status::permission_denied("wrong cluster secret"));
        }
        if reg.protocol_version != proto::PROTOCOL_VERSION {
            return refuse(Status::failed_precondition(format!(
                "protocol version {} differs from the master's {} (lps {} here, {} there)",
                reg.protocol_version,
                proto::PROTOCOL_VERSION,
                env!("CARGO_PKG_VERSION"),
                reg.lps_version
            )));
        }
        if reg.plan_fingerprint != master.fingerprint {
            return refuse(Status::failed_precondition(format!(
                "plan fingerprint {} differs from the master's {}: run the same test command on every node",
                reg.plan_fingerprint, master.fingerprint
            )));
        }
        if reg.node_id.is_empty() || reg.node_id.len() > 200 || reg.host.len() > 200 {
            return refuse(Status::invalid_argument(
                "node id must be 1 to 200 bytes, and host at most 200",
            ));
        }
        // Both are printed in the master's log and reports.
        if reg
            .node_id
            .chars()
            .chain(reg.host.chars())
            .any(char::is_control)
        {
            return refuse(Status::invalid_argument(
                "node id and host must not hold control characters",
            ));
        }
        if reg.cores == 0 || reg.cores > MAX_CORES {
            return refuse(Status::invalid_argument(format!(
                "a node runs 1 to {MAX_CORES} cores, not {}",
                reg.cores
            )));
        }
        if master.lock().state.is_final() {
            return refuse(Status::failed_precondition("the test is already over"));
        }
        let welcome = match master.register(&reg) {
            Ok(welcome) => welcome,
            Err(status) => return refuse(status),
        };
        let (tx, rx) = mpsc::channel::<Result<MasterMessage, Status>>(64);
        let node_id = reg.node_id.clone();
        tokio::spawn(serve_worker(master.clone(), node_id, inbound, tx, welcome));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Compares secrets without leaking where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u32::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b.iter().cycle()) {
        diff |= u32::from(x ^ y);
    }
    diff == 0
}

fn msg(kind: master_message::Kind) -> Result<MasterMessage, Status> {
    Ok(MasterMessage { kind: Some(kind) })
}

/// Feeds one worker's stream: state changes and acks out, snapshots in.
async fn serve_worker(
    master: Arc<Master>,
    node_id: String,
    mut inbound: Streaming<WorkerMessage>,
    tx: mpsc::Sender<Result<MasterMessage, Status>>,
    welcome: proto::Welcome,
) {
    let mut states = master.state_tx.subscribe();
    if tx
        .send(msg(master_message::Kind::Welcome(welcome)))
        .await
        .is_err()
    {
        return;
    }
    let (state, at) = *states.borrow_and_update();
    let change = |state: State, at: u64| {
        msg(master_message::Kind::State(proto::StateChange {
            state: state.to_proto() as i32,
            start_at_unix_ms: at,
        }))
    };
    if tx.send(change(state, at)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    return;
                }
                let (state, at) = *states.borrow_and_update();
                if tx.send(change(state, at)).await.is_err() {
                    return;
                }
            }
            incoming = inbound.message() => {
                let m = match incoming {
                    Ok(Some(m)) => m,
                    // The worker went away; the heartbeat check decides whether it is lost.
                    Ok(None) | Err(_) => return,
                };
                match m.kind {
                    Some(worker_message::Kind::Snapshot(s)) => match master.apply(&node_id, &s) {
                        Ok(applied) => {
                            if tx.send(msg(master_message::Kind::Ack(proto::Ack { applied_seq: applied }))).await.is_err() {
                                return;
                            }
                            let mut inner = master.lock();
                            master.check_finished(&mut inner);
                        }
                        Err(status) => {
                            eprintln!("lps master: dropped a snapshot of {node_id}: {}", status.message());
                            // Closing the stream with the reason; the worker's data so far stays.
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                    },
                    Some(worker_message::Kind::Heartbeat(_)) => master.heartbeat(&node_id),
                    Some(worker_message::Kind::Finished(f)) => {
                        let applied = master.finished(&node_id, f.last_seq);
                        // This ack tells the worker that the master holds all it sent.
                        if tx.send(msg(master_message::Kind::Ack(proto::Ack { applied_seq: applied }))).await.is_err() {
                            return;
                        }
                    }
                    Some(worker_message::Kind::Register(_)) | None => {
                        let _ = tx.send(Err(Status::invalid_argument("unexpected message"))).await;
                        return;
                    }
                }
            }
        }
    }
}

/// Runs the control thread: the gRPC server and the heartbeat and start
/// timers, on a runtime of its own so that engine load never delays them.
fn spawn_control(
    master: Arc<Master>,
    serving: CancellationToken,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let listen = master.cfg.listen;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen for workers on {listen} (Cluster.GRPCPort)"))?;
    listener.set_nonblocking(true).context("gRPC listener")?;
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(2)))
        .http2_keepalive_timeout(Some(Duration::from_secs(5)));
    if let Some((cert, key)) = &master.cfg.tls {
        let identity = tonic::transport::Identity::from_pem(cert, key);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .context("invalid Cluster.TlsCertificate or TlsKey")?;
    }
    let handle = std::thread::Builder::new().name("lps-control".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("lps master: cannot start the control runtime: {e}");
                return;
            }
        };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                eprintln!("lps master: cannot use the gRPC listener");
                return;
            };
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let service = ClusterServer::new(Service(master.clone())).max_decoding_message_size(MAX_MESSAGE_BYTES);
            let shutdown = serving.cancelled_owned();
            let timers = {
                let master = master.clone();
                async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        master.check_heartbeats();
                        let mut inner = master.lock();
                        if inner.state == State::Ready && cluster::unix_ms(SystemTime::now()) >= inner.start_at_ms {
                            master.set_state(&mut inner, State::Running);
                        }
                    }
                }
            };
                        let server = builder
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, shutdown);
            tokio::select! {
                r = server => if let Err(e) = r { eprintln!("lps master: gRPC server stopped: {e}"); },
                _ = timers => {}
            }
        });
    })
    .context("cannot start the lps-control thread")?;
    Ok(handle)
}

/// What the master's run produced: the global outcome and the nodes.
pub struct ClusterOutcome {
    pub outcome: Outcome,
    pub nodes: Vec<NodeReport>,
}

/// Runs the master until the cluster's test is over.
pub fn run(
    plan: &Plan,
    cfg: MasterConfig,
    opts: &RunOptions,
    live: Option<Arc<Live>>,
    stop: &CancellationToken,
) -> anyhow::Result<ClusterOutcome> {
    let master = Arc::new(Master::new(plan, cfg.clone(), live.clone()));
    let live_refreshed = Cell::new(None);
    if cfg.master_is_worker {
        let mut inner = master.lock();
        inner.nodes.push(Node {
            id: "master".into(),
            instance: 0,
            host: cfg.listen.ip().to_string(),
            cores: u32::try_from(lps_engine::thread_count(opts.threads)).unwrap_or(u32::MAX),
            is_master: true,
            phase: Phase::Observer,
            applied_seq: 0,
            finished_seq: None,
            aggregate: Aggregate::new(master.iterations),
            last_seen: Instant::now(),
            elapsed: Duration::ZERO,
        });
    }
    // The end of the test ends serving; not a child of `stop`: after Ctrl-C
    // the workers still need the Cancelled state and time to report.
    let serving = CancellationToken::new();
    let control = spawn_control(master.clone(), serving.clone())?;
    eprintln!(
        "lps master: listening for workers on {}; expecting {} worker(s); the master {} load",
        cfg.listen,
        cfg.expected_workers,
        if cfg.master_is_worker {
            "runs"
        } else {
            "does not run"
        }
    );
    {
        let mut inner = master.lock();
        master.maybe_ready(&mut inner);
    }
    // Wait for the start instant (or Ctrl-C while idle).
    let start_ms = loop {
        if stop.is_cancelled() {
            break None;
        }
        let inner = master.lock();
        if matches!(inner.state, State::Ready | State::Running) {
            break Some(inner.start_at_ms);
        }
        drop(inner);
        master.refresh_live(&live_refreshed);
        std::thread::sleep(Duration::from_millis(20));
    };
    let started_at = SystemTime::UNIX_EPOCH + Duration::from_millis(start_ms.unwrap_or(0));
    let start_instant = start_ms
        .map(cluster::instant_of_unix_ms)
        .unwrap_or_else(Instant::now);
    if let Some(live) = &live {
        live.set_started(
            started_at,
            start_instant,
            lps_engine::thread_count(opts.threads),
        );
    }
    let mut threads = 0;
    if let Some(ms) = start_ms
        && cfg.master_is_worker
    {
        let opts = RunOptions {
            start_at: Some(cluster::instant_of_unix_ms(ms)),
            ..opts.clone()
        };
        let local_master = master.clone();
        let mut seq = 0u64;
        let outcome = local::run(
            plan,
            &opts,
            |snap: &Snapshot| {
                seq += 1;
                if let Some(live) = &local_master.live {
                    live.add("master", snap);
                }
                let mut inner = local_master.lock();
                if let Some(node) = inner.nodes.iter_mut().find(|n| n.is_master) {
                    node.aggregate.add(snap);
                    node.applied_seq = seq;
                    node.elapsed = node.elapsed.max(snap.elapsed);
                }
            },
            stop,
            None,
            || master.refresh_live(&live_refreshed),
        )?;
        threads = outcome.threads;
        let mut inner = master.lock();
        if let Some(node) = inner.nodes.iter_mut().find(|n| n.is_master) {
            node.phase = Phase::Finished;
            node.finished_seq = Some(seq);
        }
    }
    // Wait for every worker to finish or be lost.
    let mut cancel_deadline: Option<Instant> = None;
    loop {
        let mut inner = master.lock();
        if master.all_done(&inner) {
            inner.ended.get_or_insert_with(Instant::now);
            break;
        }
        if stop.is_cancelled() && inner.state != State::Cancelled {
            master.set_state(&mut inner, State::Cancelled);
            // Workers stop and send what they recorded; give them a moment.
            cancel_deadline = Some(Instant::now() + Duration::from_secs(3));
        }
        if cancel_deadline.is_some_and(|d| Instant::now() > d) {
            break;
        }
        drop(inner);
        master.refresh_live(&live_refreshed);
        std::thread::sleep(Duration::from_millis(50));
    }
    let ended = master.lock().ended.unwrap_or_else(Instant::now);
    let state = {
        let mut inner = master.lock();
        let end = if inner.state == State::Cancelled {
            State::Cancelled
        } else {
            State::Completed
        };
        master.set_state(&mut inner, end);
        end
    };
    let global = master.global();
    let nodes = master.node_reports();
    if let Some(live) = &live {
        live.set_nodes(master.node_views());
    }
    // Let the final state reach the workers' streams, then stop serving.
    std::thread::sleep(Duration::from_millis(300));
    serving.cancel();
    let _ = control.join();
    let duration = ended.saturating_duration_since(start_instant);
    Ok(ClusterOutcome {
        outcome: Outcome {
            aggregate: global,
            started_at,
            duration,
            threads: threads.max(1),
            interrupted: state == State::Cancelled,
        },
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let text = "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n";
        let file = lps_config::parse_plan(text, "p.yaml", lps_config::Format::Yaml).unwrap();
        file.into_plan(lps_config::Origin::new("p.yaml")).unwrap()
    }

    fn register(master: &Master, id: &str) -> proto::Welcome {
        master
            .register(&proto::Register {
                node_id: id.into(),
                host: "h".into(),
                cores: 1,
                ..Default::default()
            })
            .expect("registers")
    }

    fn snapshot(seq: u64, requests: u64) -> proto::Snapshot {
        let mut stats = lps_engine::Stats::new();
        for i in 0..requests {
            stats.record_response(200, 100 + i, 10, 10);
        }
        let snap = Snapshot {
            core: 0,
            seq: 0,
            elapsed: Duration::from_secs(seq),
            in_flight: 0,
            iterations: vec![stats],
            last: false,
        };
        cluster::encode_snapshot(seq, &snap)
    }

    #[test]
    fn resent_snapshots_are_applied_once_and_resume_where_they_left() {
        let cfg = MasterConfig {
            listen: "127.0.0.1:1".parse().unwrap(),
            secret: None,
            expected_workers: 2,
            master_is_worker: false,
            heartbeat_timeout: Duration::from_secs(3),
            tls: None,
        };
        let master = Master::new(&plan(), cfg, None);
        let w = register(&master, "w1");
        assert!(w.observer, "the master is idle: the first worker observes");
        assert_eq!(master.lock().state, State::Idle);
        assert_eq!(master.apply("w1", &snapshot(1, 10)).unwrap(), 1);
        assert_eq!(master.apply("w1", &snapshot(2, 20)).unwrap(), 2);
        // A reconnect resends 2 and sends 3: 2 is skipped.
        let again = register(&master, "w1");
        assert_eq!(again.applied_seq, 2);
        // Another process under the same id is not a reconnect.
        let twin = master.register(&proto::Register {
            node_id: "w1".into(),
            instance: 7,
            cores: 1,
            ..Default::default()
        });
        assert_eq!(twin.unwrap_err().code(), tonic::Code::AlreadyExists);
        assert_eq!(master.apply("w1", &snapshot(2, 20)).unwrap(), 2);
        assert_eq!(master.apply("w1", &snapshot(3, 5)).unwrap(), 3);
        assert_eq!(master.global().total().requests(), 35);
        // The second worker makes the expected two: Ready, with a start ahead.
        register(&master, "w2");
        let inner = master.lock();
        assert_eq!(inner.state, State::Ready);
        assert!(inner.start_at_ms > cluster::unix_ms(SystemTime::now()));
        drop(inner);
        // An unknown node's snapshot is refused, not merged.
        assert!(master.apply("nobody", &snapshot(1, 1)).is_err());
        assert_eq!(master.global().total().requests(), 35);
        // Finished once every snapshot up to the last arrived.
        assert_eq!(master.finished("w1", 4), 3);
        assert_eq!(master.lock().nodes[0].phase, Phase::Running);
        master.apply("w1", &snapshot(4, 1)).unwrap();
        master.check_finished(&mut master.lock());
        assert_eq!(master.lock().nodes[0].phase, Phase::Finished);
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
