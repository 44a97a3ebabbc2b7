//! A worker: registers with the master over one gRPC stream, waits as an
//! observer until the master is ready, runs the test command locally from
//! the shared start instant, and streams its per-core snapshots.
//!
//! Snapshots carry a per-worker sequence number and stay buffered until the
//! master acknowledges them, so a dropped connection is resumed without loss
//! or double counting. If the master is gone for good, the worker finishes
//! its run and writes its full local result to disk.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use lps_config::Plan;
use lps_engine::{RunOptions, Snapshot};
use lps_proto as proto;
use proto::cluster_client::ClusterClient;
use proto::{WorkerMessage, master_message, worker_message};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;

use crate::cluster;
use crate::cluster::master::MAX_MESSAGE_BYTES;
use crate::local::{self, Outcome};
use crate::shutdown::CancellationToken;

/// How often a worker says it is alive.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long the master may take to answer a new session.
const SESSION_TIMEOUT: Duration = Duration::from_secs(3);
/// After its run, how long a worker tries to deliver its last snapshots.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);

/// Settings the worker runs with.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub master: SocketAddr,
    pub secret: Option<String>,
    pub connect_timeout: Duration,
    pub node_id: String,
    pub host: String,
    /// PEM certificate(s) to trust: reach the master over TLS.
    pub tls_ca: Option<Vec<u8>>,
}

/// From the main thread to the control thread.
enum Outgoing {
    Snapshot(proto::Snapshot),
    Finished { last_seq: u64, interrupted: bool },
}

/// From the control thread to the main thread.
enum Event {
    /// Start load at this wall-clock time (Unix ms).
    Start(u64),
    /// The worker cannot take part: unreachable or refused.
    Fatal(String),
    /// Every snapshot reached the master.
    Delivered,
    /// The master could not be reached again after the run.
    MasterGone(String),
}

/// How the worker's part ended.
pub struct WorkerOutcome {
    pub outcome: Outcome,
    /// The master has every snapshot of this worker.
    pub delivered: bool,
    pub master_gone: Option<String>,
}

/// Registers, waits for the start, runs the plan locally and streams it.
pub fn run(
    plan: &Plan,
    cfg: WorkerConfig,
    opts: &RunOptions,
    stop: &CancellationToken,
) -> anyhow::Result<WorkerOutcome> {
    let register = proto::Register {
        node_id: cfg.node_id.clone(),
        host: cfg.host.clone(),
        cores: u32::try_from(lps_engine::thread_count(opts.threads)).unwrap_or(u32::MAX),
        lps_version: env!("CARGO_PKG_VERSION").to_string(),
        protocol_version: proto::PROTOCOL_VERSION,
        plan_fingerprint: cluster::fingerprint(plan),
        secret: cfg.secret.clone().unwrap_or_default(),
        iterations: cluster::iteration_names(plan),
        instance: instance(),
    };
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Outgoing>();
    let (event_tx, event_rx) = std::sync::mpsc::channel::<Event>();
    // The master's Cancel stops this run (a child: it does not cancel the process).
    let cancel = stop.child_token();
    let control = {
        let (cfg, cancel) = (cfg.clone(), cancel.clone());
        std::thread::Builder::new()
            .name("lps-control".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = event_tx.send(Event::Fatal(format!(
                            "cannot start the control runtime: {e}"
                        )));
                        return;
                    }
                };
                runtime.block_on(control(cfg, register, out_rx, event_tx, cancel));
            })
            .context("cannot start the lps-control thread")?
    };
    // Wait for the master's start instant.
    let start_ms = loop {
        match event_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Start(ms)) => break ms,
            Ok(Event::Fatal(msg)) => {
                let _ = control.join();
                anyhow::bail!("{msg}");
            }
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if stop.is_cancelled() {
                    anyhow::bail!("interrupted while waiting for the master");
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the control thread ended before the start");
            }
        }
    };
    let opts = RunOptions {
        start_at: Some(cluster::instant_of_unix_ms(start_ms)),
        ..opts.clone()
    };
    let mut seq = 0u64;
    let outcome = local::run(
        plan,
        &opts,
        |snap: &Snapshot| {
            seq += 1;
            // The control thread lives until it reports; a send fails only
            // after it gave up on the master, and the local result keeps the data.
            let _ = out_tx.send(Outgoing::Snapshot(cluster::encode_snapshot(seq, snap)));
        },
        &cancel,
        None,
        || {},
    )?;
    let _ = out_tx.send(Outgoing::Finished {
        last_seq: seq,
        interrupted: outcome.interrupted,
    });
    let deadline =
        Instant::now() + DELIVERY_GRACE + cfg.connect_timeout.min(Duration::from_secs(5));
    let mut delivered = false;
    let mut master_gone = None;
    while Instant::now() < deadline {
        match event_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Delivered) => {
                delivered = true;
                break;
            }
            Ok(Event::MasterGone(why)) | Ok(Event::Fatal(why)) => {
                master_gone = Some(why);
                break;
            }
            Ok(Event::Start(_)) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if !delivered && master_gone.is_none() {
        master_gone = Some(format!(
            "the master at {} did not acknowledge the last snapshots",
            cfg.master
        ));
    }
    drop(out_tx);
    // The control thread ends once its channel closes; it is not waited for
    // when the master is unreachable (its connect attempt is bounded anyway).
    if delivered {
        let _ = control.join();
    }
    Ok(WorkerOutcome {
        outcome,
        delivered,
        master_gone,
    })
}

/// The control thread's loop: connect (with retries), register, relay.
async fn control(
    cfg: WorkerConfig,
    register: proto::Register,
    mut out_rx: mpsc::UnboundedReceiver<Outgoing>,
    events: std::sync::mpsc::Sender<Event>,
    cancel: CancellationToken,
) {
    let mut unacked: VecDeque<proto::Snapshot> = VecDeque::new();
    let mut finished: Option<proto::Finished> = None;
    let mut started = false;
    let mut finished_at: Option<Instant> = None;
    let mut out_open = true;
    loop {
        // Connect, retrying with backoff; keep buffering what the run sends.
        let budget = if started {
            Duration::from_secs(3600)
        } else {
            cfg.connect_timeout
        };
        let deadline = Instant::now() + budget;
        let mut backoff = Duration::from_millis(100);
        let (tx, welcome, inbound) = loop {
            let error = match open_session(&cfg, &register).await {
                Ok(session) => break session,
                Err(Attempt::Refused(why)) => {
                    let _ = events.send(if started {
                        Event::MasterGone(why)
                    } else {
                        Event::Fatal(why)
                    });
                    return;
                }
                Err(Attempt::Retry(error)) => error,
            };
            let gave_up = Instant::now() >= deadline
                || finished_at.is_some_and(|t| t.elapsed() > DELIVERY_GRACE);
            if gave_up {
                let why = format!(
                    "cannot reach the master at {} (Cluster.MasterNodeIP and GRPCPort) within {:?}: {error}",
                    cfg.master,
                    if started {
                        DELIVERY_GRACE
                    } else {
                        cfg.connect_timeout
                    }
                );
                let _ = events.send(if started {
                    Event::MasterGone(why)
                } else {
                    Event::Fatal(why)
                });
                return;
            }
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    out = out_rx.recv(), if out_open => match out {
                        Some(Outgoing::Snapshot(s)) => unacked.push_back(s),
                        Some(Outgoing::Finished { last_seq, interrupted }) => {
                            finished = Some(proto::Finished { last_seq, interrupted });
                            finished_at = Some(Instant::now());
                        }
                        None => out_open = false,
                    },
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        };
        let send = |kind| WorkerMessage { kind: Some(kind) };
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        // The Welcome first, then the rest of the stream.
        let mut inbound = tokio_stream::iter([Ok(welcome)]).chain(inbound);
        'session: loop {
            tokio::select! {
                incoming = inbound.next() => {
                    let m = match incoming {
                        Some(Ok(m)) => m,
                        None | Some(Err(_)) => break 'session,
                    };
                    match m.kind {
                        Some(master_message::Kind::Welcome(w)) => {
                            unacked.retain(|s| s.seq > w.applied_seq);
                            if w.observer && !started {
                                eprintln!("lps worker: registered with the master at {} as an observer; waiting for it to be ready", cfg.master);
                            }
                            // Resend what the master has not merged yet, in order.
                            for s in &unacked {
                                if tx.send(send(worker_message::Kind::Snapshot(s.clone()))).await.is_err() {
                                    break 'session;
                                }
                            }
                            if let Some(f) = &finished
                                && tx.send(send(worker_message::Kind::Finished(*f))).await.is_err()
                            {
                                break 'session;
                            }
                        }
                        Some(master_message::Kind::State(change)) => {
                            let state = proto::State::try_from(change.state).unwrap_or(proto::State::Unspecified);
                            match state {
                                proto::State::Ready | proto::State::Running if !started => {
                                    started = true;
                                    let _ = events.send(Event::Start(change.start_at_unix_ms));
                                }
                                proto::State::Cancelled | proto::State::Failed => {
                                    eprintln!("lps worker: the master cancelled the test");
                                    cancel.cancel();
                                }
                                proto::State::Completed if !started => {
                                    let _ = events.send(Event::Fatal(format!("the test on the master at {} is already over", cfg.master)));
                                    return;
                                }
                                _ => {}
                            }
                        }
                        Some(master_message::Kind::Ack(ack)) => {
                            unacked.retain(|s| s.seq > ack.applied_seq);
                            if let Some(f) = &finished
                                && ack.applied_seq >= f.last_seq
                            {
                                let _ = events.send(Event::Delivered);
                                return;
                            }
                        }
                        Some(master_message::Kind::Refused(r)) => {
                            let _ = events.send(Event::Fatal(format!("the master at {} refused this worker: {}", cfg.master, r.reason)));
                            return;
                        }
                        None => {}
                    }
                }
                out = out_rx.recv(), if out_open => match out {
                    Some(Outgoing::Snapshot(s)) => {
                        unacked.push_back(s.clone());
                        if tx.send(send(worker_message::Kind::Snapshot(s))).await.is_err() {
                            break 'session;
                        }
                    }
                    Some(Outgoing::Finished { last_seq, interrupted }) => {
                        let f = proto::Finished { last_seq, interrupted };
                        finished = Some(f);
                        finished_at = Some(Instant::now());
                        if tx.send(send(worker_message::Kind::Finished(f))).await.is_err() {
                            break 'session;
                        }
                    }
                    None => out_open = false,
                },
                _ = heartbeat.tick() => {
                    let phase = if finished.is_some() { "finished" } else if started { "running" } else { "observer" };
                    if tx.send(send(worker_message::Kind::Heartbeat(proto::Heartbeat { phase: phase.into() }))).await.is_err() {
                        break 'session;
                    }
                }
            }
        }
        eprintln!(
            "lps worker: lost the stream to the master at {}; reconnecting",
            cfg.master
        );
    }
}

/// A number this process alone sends as its `Register.instance`: std's
/// hasher keys are random per process, and the pid and clock are mixed in.
fn instance() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Why a session could not be opened.
enum Attempt {
    /// Worth retrying: the master may not be up yet, or a stream broke.
    Retry(String),
    /// The master said no (secret, plan, version): final.
    Refused(String),
}

/// Connects, registers and waits for the master's Welcome, all bounded in
/// time: a master that never answers (TLS on one side only, a stalled peer,
/// a port that is not an lps master's) is retried like an unreachable one.
async fn open_session(
    cfg: &WorkerConfig,
    register: &proto::Register,
) -> Result<
    (
        mpsc::Sender<WorkerMessage>,
        proto::MasterMessage,
        tonic::Streaming<proto::MasterMessage>,
    ),
    Attempt,
> {
    let client = connect(cfg.master, cfg.tls_ca.as_deref())
        .await
        .map_err(Attempt::Retry)?;
    let mut client = client.max_decoding_message_size(MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel::<WorkerMessage>(256);
    let hello = WorkerMessage {
        kind: Some(worker_message::Kind::Register(register.clone())),
    };
    // The channel was just made with room to spare.
    let _ = tx.send(hello).await;
    match tokio::time::timeout(SESSION_TIMEOUT, client.session(ReceiverStream::new(rx))).await {
        Err(_) => Err(Attempt::Retry(format!(
            "no gRPC answer within {SESSION_TIMEOUT:?} (is TLS configured on one side only?)"
        ))),
        Ok(Ok(response)) => {
            // A session is the master's Welcome, not just an answer: any
            // HTTP/2 server answers a POST, and its stream then ends at once.
            let mut inbound = response.into_inner();
            match tokio::time::timeout(SESSION_TIMEOUT, inbound.message()).await {
                Ok(Ok(Some(first)))
                    if matches!(first.kind, Some(master_message::Kind::Welcome(_))) =>
                {
                    Ok((tx, first, inbound))
                }
                Ok(Ok(Some(_))) => Err(Attempt::Retry(
                    "the master did not start with a Welcome".into(),
                )),
                Ok(Ok(None)) | Err(_) => Err(Attempt::Retry(
                    "the peer answered but sent no Welcome: is this an lps master's gRPC port?"
                        .into(),
                )),
                Ok(Err(status)) => Err(Attempt::Retry(format!(
                    "the peer answered, not in the lps cluster protocol ({}): is this an lps master's gRPC port?",
                    status.message()
                ))),
            }
        }
        Ok(Err(status)) => {
            use tonic::Code;
            let why = format!(
                "the master at {} refused this worker: {}",
                cfg.master,
                status.message()
            );
            match status.code() {
                Code::PermissionDenied
                | Code::FailedPrecondition
                | Code::InvalidArgument
                | Code::AlreadyExists => Err(Attempt::Refused(why)),
                _ => Err(Attempt::Retry(status.message().to_string())),
            }
        }
    }
}

async fn connect(
    addr: SocketAddr,
    tls_ca: Option<&[u8]>,
) -> Result<ClusterClient<tonic::transport::Channel>, String> {
    let scheme = if tls_ca.is_some() { "https" } else { "http" };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(1))
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(5));
    if let Some(ca) = tls_ca {
        // The master's certificate must name its address (an IP SAN).
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca))
            .domain_name(addr.ip().to_string());
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = endpoint.connect().await.map_err(|e| {
        use std::error::Error;
        match e.source() {
            Some(inner) => inner.to_string(),
            None => e.to_string(),
        }
    })?;
    Ok(ClusterClient::new(channel))
}
