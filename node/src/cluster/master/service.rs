//! The gRPC service: checks a worker's registration, then serves its one
//! `Session` stream (state changes and acks out, snapshots in).

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lps_proto as proto;
use proto::cluster_server::Cluster;
use proto::{MasterMessage, WorkerMessage, master_message, worker_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::gate::Conn;
use super::shared::Master;
use super::state::{RegisterError, State};
use crate::cluster::decode_snapshot;

/// How long a new stream has to present its `Register`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);
/// Most cores a worker may declare: a snapshot's core index is checked
/// against them, and the in-flight gauges keep one slot per core.
const MAX_CORES: u32 = lps_engine::MAX_THREADS as u32;

/// The gRPC service: one `Session` stream per worker.
pub struct Service(pub Arc<Master>);

type SessionStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<MasterMessage, Status>> + Send>>;

/// What the master sends down a session.
type Outbox = mpsc::Sender<Result<MasterMessage, Status>>;

#[tonic::async_trait]
impl Cluster for Service {
    type SessionStream = SessionStream;

    async fn session(
        &self,
        req: Request<Streaming<WorkerMessage>>,
    ) -> Result<Response<SessionStream>, Status> {
        let conn = req.extensions().get::<Conn>().cloned();
        let peer = conn
            .as_ref()
            .and_then(|c| c.remote)
            .map_or_else(|| "unknown".to_string(), |a| a.to_string());
        let mut inbound = req.into_inner();
        let refuse = |status: Status| {
            log::warn!(
                "lps master: refused a client from {peer}: {}",
                status.message()
            );
            Err(status)
        };
        let reg = match first_register(&mut inbound).await {
            Ok(reg) => reg,
            Err(status) => return refuse(status),
        };
        let master = &self.0;
        if let Err(status) = check_register(master, &reg) {
            return refuse(status);
        }
        let welcome = match register_worker(master, &reg) {
            Ok(welcome) => welcome,
            // The state logged the first of these: a flood logs one line.
            Err(e @ RegisterError::Full { .. }) => return Err(register_status(&e)),
            Err(e) => return refuse(register_status(&e)),
        };
        // A worker registered on this connection: the gate keeps it.
        if let Some(conn) = &conn {
            conn.admit();
        }
        let session = SessionGuard {
            master: master.clone(),
            node_id: reg.node_id,
            instance: reg.instance,
        };
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(serve_worker(session, inbound, tx, welcome));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The stream's first message, which must be a `Register`.
async fn first_register(inbound: &mut Streaming<WorkerMessage>) -> Result<proto::Register, Status> {
    let first = match tokio::time::timeout(REGISTER_TIMEOUT, inbound.message()).await {
        Err(_) => return Err(Status::deadline_exceeded("no Register within 5 s")),
        Ok(Err(e)) => {
            return Err(Status::invalid_argument(format!(
                "unreadable first message: {}",
                e.message()
            )));
        }
        Ok(Ok(msg)) => msg,
    };
    match first {
        Some(WorkerMessage {
            kind: Some(worker_message::Kind::Register(reg)),
        }) => Ok(reg),
        _ => Err(Status::invalid_argument(
            "the first message must be Register",
        )),
    }
}

/// Whether the worker belongs to this test: the secret, protocol and plan.
fn check_register(master: &Master, reg: &proto::Register) -> Result<(), Status> {
    if let Some(secret) = &master.cfg.secret
        && !constant_time_eq(secret.as_bytes(), reg.secret.as_bytes())
    {
        return Err(Status::permission_denied("wrong cluster secret"));
    }
    if reg.protocol_version != proto::PROTOCOL_VERSION {
        return Err(Status::failed_precondition(format!(
            "protocol version {} differs from the master's {} (lps {} here, {} there)",
            reg.protocol_version,
            proto::PROTOCOL_VERSION,
            env!("CARGO_PKG_VERSION"),
            reg.lps_version
        )));
    }
    if reg.plan_fingerprint != master.fingerprint {
        return Err(Status::failed_precondition(format!(
            "plan fingerprint {} differs from the master's {}: run the same test command on every node",
            reg.plan_fingerprint, master.fingerprint
        )));
    }
    check_identity(reg)
}

/// Whether the worker's id, host and cores are fit to keep and print.
fn check_identity(reg: &proto::Register) -> Result<(), Status> {
    if reg.node_id.is_empty() || reg.node_id.len() > 200 || reg.host.len() > 200 {
        return Err(Status::invalid_argument(
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
        return Err(Status::invalid_argument(
            "node id and host must not hold control characters",
        ));
    }
    if reg.cores == 0 || reg.cores > MAX_CORES {
        return Err(Status::invalid_argument(format!(
            "a node runs 1 to {MAX_CORES} cores, not {}",
            reg.cores
        )));
    }
    Ok(())
}

/// Registers (or takes back) the worker; its welcome, or why not.
fn register_worker(
    master: &Master,
    reg: &proto::Register,
) -> Result<proto::Welcome, RegisterError> {
    let welcome = master.update(|state, now| state.register(reg, now))?;
    Ok(proto::Welcome {
        state: welcome.state.to_proto() as i32,
        applied_seq: welcome.applied_seq,
        observer: welcome.observer,
        master_id: master.master_id.clone(),
        master_instance: master.instance,
        round: welcome.round,
        round_start_unix_ms: welcome.round_start_ms,
    })
}

/// The answer to a refused registration; the worker takes each as final.
fn register_status(e: &RegisterError) -> Status {
    match e {
        RegisterError::Over | RegisterError::Full { .. } => {
            Status::failed_precondition(e.to_string())
        }
        RegisterError::MastersOwnId { .. } | RegisterError::Taken { .. } => {
            Status::already_exists(e.to_string())
        }
    }
}

/// One registered session of a worker: its end, however the stream ends
/// (or the server drops it), is told to the state.
struct SessionGuard {
    master: Arc<Master>,
    node_id: String,
    instance: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.master
            .update(|state, now| state.left(&self.node_id, self.instance, now));
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

/// A state change as node `node_id` is told it: with its share of the
/// feeders' rows, fixed once the test is Ready.
fn state_change(
    master: &Master,
    node_id: &str,
    (state, at): (State, u64),
) -> Result<MasterMessage, Status> {
    let (feed_index, feed_nodes) = master.read(|s| s.feed_share(node_id));
    msg(master_message::Kind::State(proto::StateChange {
        state: state.to_proto() as i32,
        start_at_unix_ms: at,
        feed_index,
        feed_nodes,
    }))
}

fn round_start((round, at): (u32, u64)) -> Result<MasterMessage, Status> {
    msg(master_message::Kind::RoundStart(proto::RoundStart {
        round,
        start_at_unix_ms: at,
    }))
}

fn terminate(iterations: Vec<u32>) -> Result<MasterMessage, Status> {
    msg(master_message::Kind::Terminate(proto::Terminate {
        iterations,
    }))
}

fn ack(applied_seq: u64) -> Result<MasterMessage, Status> {
    msg(master_message::Kind::Ack(proto::Ack { applied_seq }))
}

/// Feeds one worker's stream: its welcome, the state and the round, then
/// state changes, round starts, terminated iterations and acks out, snapshots and round ends in,
/// until either side hangs up.
async fn serve_worker(
    session: SessionGuard,
    mut inbound: Streaming<WorkerMessage>,
    tx: Outbox,
    welcome: proto::Welcome,
) {
    let (master, node_id) = (&session.master, session.node_id.as_str());
    let mut states = master.states();
    let mut rounds = master.rounds();
    let mut terminated = master.terminated();
    let now = (
        *states.borrow_and_update(),
        *rounds.borrow_and_update(),
        terminated.borrow_and_update().clone(),
    );
    if greet(master, node_id, &tx, welcome, now).await.is_break() {
        return;
    }
    loop {
        let flow = tokio::select! {
            changed = states.changed() => match changed {
                Ok(()) => {
                    let current = *states.borrow_and_update();
                    sent(tx.send(state_change(master, node_id, current)).await)
                }
                Err(_) => ControlFlow::Break(()),
            },
            changed = rounds.changed() => match changed {
                Ok(()) => {
                    let current = *rounds.borrow_and_update();
                    sent(tx.send(round_start(current)).await)
                }
                Err(_) => ControlFlow::Break(()),
            },
            changed = terminated.changed() => match changed {
                Ok(()) => {
                    let all = terminated.borrow_and_update().clone();
                    sent(tx.send(terminate(all)).await)
                }
                Err(_) => ControlFlow::Break(()),
            },
            incoming = inbound.message() => match incoming {
                Ok(Some(m)) => {
                    // Any message is a sign of life, a snapshot as much as a
                    // heartbeat: behind a master that merges slowly, a
                    // worker's heartbeats wait behind its snapshots.
                    master.update(|state, now| state.heartbeat(node_id, now));
                    handle(master, node_id, m, &tx).await
                }
                // The worker went away; the heartbeat check decides whether it is lost.
                Ok(None) | Err(_) => ControlFlow::Break(()),
            },
        };
        if flow.is_break() {
            return;
        }
    }
}

/// The first messages of a stream: the welcome and the state, then what a
/// worker back from a broken stream may have missed: the round's start and
/// the iterations terminated meanwhile.
async fn greet(
    master: &Master,
    node_id: &str,
    tx: &Outbox,
    welcome: proto::Welcome,
    (state, round, ended): ((State, u64), (u32, u64), Vec<u32>),
) -> ControlFlow<()> {
    sent(tx.send(msg(master_message::Kind::Welcome(welcome))).await)?;
    sent(tx.send(state_change(master, node_id, state)).await)?;
    if round.0 > 0 {
        sent(tx.send(round_start(round)).await)?;
    }
    if !ended.is_empty() {
        sent(tx.send(terminate(ended)).await)?;
    }
    ControlFlow::Continue(())
}

/// Whether the session goes on after a send.
fn sent<E>(r: Result<(), E>) -> ControlFlow<()> {
    match r {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    }
}

/// Handles one message of a registered worker.
async fn handle(master: &Master, node_id: &str, m: WorkerMessage, tx: &Outbox) -> ControlFlow<()> {
    match m.kind {
        Some(worker_message::Kind::Snapshot(s)) => {
            let flow = match apply(master, node_id, &s) {
                Ok(applied) => sent(tx.send(ack(applied)).await),
                Err(status) => {
                    // Closing the stream with the reason; the worker's data so far stays.
                    let _ = tx.send(Err(status)).await;
                    ControlFlow::Break(())
                }
            };
            // One snapshot per turn: every worker's stream and the timers
            // share this thread, and a stream with many snapshots waiting
            // would otherwise merge dozens before the others' next one (and
            // the heartbeat check would find them silent).
            tokio::task::yield_now().await;
            flow
        }
        Some(worker_message::Kind::RoundDone(done)) => {
            // A round said twice, or one the plan lacks, is ignored there.
            master.update(|state, now| state.round_done(node_id, done.round, now));
            ControlFlow::Continue(())
        }
        // Its sign of life was taken on receipt.
        Some(worker_message::Kind::Heartbeat(_)) => ControlFlow::Continue(()),
        Some(worker_message::Kind::Finished(f)) => {
            let applied = master.update(|state, now| state.finished(node_id, f.last_seq, now));
            // This ack tells the worker that the master holds all it sent.
            sent(tx.send(ack(applied)).await)
        }
        Some(worker_message::Kind::Register(_)) | None => {
            // The stream ends here either way: the worker learns why if it still listens.
            let _ = tx
                .send(Err(Status::invalid_argument("unexpected message")))
                .await;
            ControlFlow::Break(())
        }
    }
}

/// Merges a worker's snapshot once (decoded outside the lock); returns the
/// seq applied so far. A snapshot no node could have sent is refused, and
/// acknowledged all the same: the session goes on with the next ones.
fn apply(master: &Master, node_id: &str, snap: &proto::Snapshot) -> Result<u64, Status> {
    let not_registered = || Status::not_found("node not registered");
    let cores = master
        .read(|state| state.cores_of(node_id))
        .ok_or_else(not_registered)?;
    let decoded = match decode_snapshot(snap, master.iterations, cores) {
        Ok(decoded) => decoded,
        Err(e) => {
            let why = format!("bad snapshot: {e}");
            return master
                .update(|state, now| state.refuse(node_id, snap.seq, why, now))
                .map_err(|_| not_registered());
        }
    };
    master.update(|state, now| {
        let applied = state
            .apply(node_id, snap.seq, &decoded, now)
            .map_err(|_| not_registered())?;
        if applied.merged && snap.catch_up {
            state.caught_up(node_id, decoded.elapsed);
        }
        if applied.merged
            && let Some(live) = &master.live
        {
            live.add(node_id, &decoded);
        }
        Ok(applied.applied_seq)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cluster::master::shared::tests::{master, register};
    use crate::cluster::{self, master::state::Phase};

    fn snapshot(seq: u64, requests: u64) -> proto::Snapshot {
        let mut stats = lps_engine::Stats::new();
        for i in 0..requests {
            stats.record_response(200, 100 + i, 10, 10);
        }
        let snap = lps_engine::Snapshot {
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
    fn snapshots_are_decoded_merged_once_and_refused_from_strangers() {
        let master = master(2);
        register(&master, "w1");
        assert_eq!(apply(&master, "w1", &snapshot(1, 10)).unwrap(), 1);
        assert_eq!(apply(&master, "w1", &snapshot(2, 20)).unwrap(), 2);
        // A reconnect resends 2 and sends 3: 2 is skipped.
        assert_eq!(apply(&master, "w1", &snapshot(2, 20)).unwrap(), 2);
        assert_eq!(apply(&master, "w1", &snapshot(3, 5)).unwrap(), 3);
        assert_eq!(master.read(|s| s.global().total().requests()), 35);
        let unknown = apply(&master, "nobody", &snapshot(1, 1)).unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::NotFound);
        // w1 declared one core: refused, acknowledged, and the next merges.
        let mut bad = snapshot(4, 1);
        bad.core = 1;
        assert_eq!(apply(&master, "w1", &bad).unwrap(), 4);
        assert_eq!(master.read(|s| s.nodes()[0].refused), 1);
        assert_eq!(apply(&master, "w1", &snapshot(5, 2)).unwrap(), 5);
        assert_eq!(master.read(|s| s.global().total().requests()), 37);
        assert_eq!(master.read(|s| s.nodes()[0].phase), Phase::Observer);
    }

    #[test]
    fn the_masters_times_to_first_byte_and_handshakes_are_the_sum_of_the_nodes() {
        let master = master(2);
        register(&master, "w1");
        register(&master, "w2");
        let mut whole = lps_engine::Stats::new();
        for (node, seq, n) in [("w1", 1, 30u64), ("w2", 1, 700), ("w1", 2, 5)] {
            let mut stats = lps_engine::Stats::new();
            for i in 0..n {
                stats.record_response(200, 1_000 + i, 10, 10);
                // Every other response split: its first byte before its end.
                if i % 2 == 0 {
                    stats.record_split(1_000 + i, 300 + i * seq);
                }
            }
            stats.record_connect(50, false);
            stats.record_tls(2_000 + n);
            whole.merge(&stats);
            let snap = lps_engine::Snapshot {
                core: 0,
                seq: 0,
                elapsed: Duration::from_secs(seq),
                in_flight: 0,
                iterations: vec![stats],
                last: false,
            };
            let wire = cluster::encode_snapshot(seq, &snap);
            assert_eq!(apply(&master, node, &wire).unwrap(), seq);
        }
        let total = master.read(|s| s.global().total());
        assert_eq!(total.ttfb().len(), 735);
        assert_eq!(total.ttfb(), whole.ttfb());
        assert_eq!(total.split.ttfb, whole.split.ttfb);
        assert_eq!(total.tls.len(), 3);
        assert_eq!(total.tls, whole.tls);
        let node_ttfb: Vec<u64> = master.read(|s| {
            s.nodes()
                .iter()
                .map(|n| n.aggregate.total().ttfb().len())
                .collect()
        });
        assert_eq!(node_ttfb, [35, 700]);
    }

    #[test]
    fn a_catch_up_is_merged_once_and_marks_its_node() {
        let master = master(2);
        register(&master, "w1");
        // A restarted master's first snapshot of w1: everything up to seq 5.
        let mut catch_up = snapshot(5, 30);
        catch_up.catch_up = true;
        assert_eq!(apply(&master, "w1", &catch_up).unwrap(), 5);
        // Resent after a broken stream: skipped.
        assert_eq!(apply(&master, "w1", &catch_up).unwrap(), 5);
        assert_eq!(apply(&master, "w1", &snapshot(6, 4)).unwrap(), 6);
        assert_eq!(master.read(|s| s.global().total().requests()), 34);
        assert!(master.read(|s| s.nodes()[0].caught_up));
        let reports = master.read(crate::cluster::master::views::node_reports);
        assert!(reports[0].caught_up);
    }

    #[test]
    fn an_ordinary_snapshot_marks_nothing() {
        let master = master(2);
        register(&master, "w1");
        apply(&master, "w1", &snapshot(1, 3)).unwrap();
        assert!(!master.read(|s| s.nodes()[0].caught_up));
    }

    #[test]
    fn every_master_welcomes_with_its_own_instance() {
        let (one, two) = (master(2), master(2));
        assert_ne!(one.instance, two.instance);
        let reg = proto::Register {
            node_id: "w1".into(),
            host: "h".into(),
            cores: 1,
            ..Default::default()
        };
        assert_eq!(
            register_worker(&one, &reg).unwrap().master_instance,
            one.instance
        );
    }

    #[test]
    fn registrations_are_checked_before_they_are_taken() {
        let master = master(2);
        let good = proto::Register {
            node_id: "w1".into(),
            host: "h".into(),
            cores: 1,
            protocol_version: proto::PROTOCOL_VERSION,
            plan_fingerprint: master.fingerprint.clone(),
            ..Default::default()
        };
        assert!(check_register(&master, &good).is_ok());
        let refused = |reg: proto::Register| {
            let status = check_register(&master, &reg).unwrap_err();
            (status.code(), status.message().to_string())
        };
        let other_plan = proto::Register {
            plan_fingerprint: "0".into(),
            ..good.clone()
        };
        assert_eq!(refused(other_plan).0, tonic::Code::FailedPrecondition);
        let no_id = proto::Register {
            node_id: String::new(),
            ..good.clone()
        };
        assert_eq!(
            refused(no_id),
            (
                tonic::Code::InvalidArgument,
                "node id must be 1 to 200 bytes, and host at most 200".into()
            )
        );
        let control = proto::Register {
            host: "h\n".into(),
            ..good.clone()
        };
        assert_eq!(refused(control).0, tonic::Code::InvalidArgument);
        let no_cores = proto::Register {
            cores: 0,
            ..good.clone()
        };
        assert_eq!(
            refused(no_cores).1,
            format!("a node runs 1 to {MAX_CORES} cores, not 0")
        );
        let welcome = register_worker(&master, &good).unwrap();
        assert!(welcome.observer);
        assert_eq!(welcome.master_id, "master@127.0.0.1:1");
        let twin = proto::Register {
            instance: 7,
            ..good.clone()
        };
        let taken = register_status(&register_worker(&master, &twin).unwrap_err());
        assert_eq!(taken.code(), tonic::Code::AlreadyExists);
        let full = register_status(&RegisterError::Full { max: 3 });
        assert_eq!(
            (full.code(), full.message()),
            (
                tonic::Code::FailedPrecondition,
                "the master has its MaxNodes (3) workers already"
            )
        );
        master.update(|state, _| state.cancel());
        let late = register_status(&register_worker(&master, &good).unwrap_err());
        assert_eq!(
            (late.code(), late.message()),
            (tonic::Code::FailedPrecondition, "the test is already over")
        );
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
