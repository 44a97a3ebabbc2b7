//! One fake worker: registers as a real one, waits for the start, sends a
//! snapshot of all its cores at every whole second of the run with
//! heartbeats in between, then its RoundDone and Finished, and reads the
//! master's acks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use lps_proto as proto;
use proto::cluster_client::ClusterClient;
use proto::{MasterMessage, WorkerMessage, master_message, worker_message};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::payload::Payload;
use crate::tally::{self, Tally};

/// As a real worker: a heartbeat every 500 ms.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a worker waits for the start once registered (the others
/// register meanwhile).
const START_WAIT: Duration = Duration::from_secs(600);
/// How long a worker waits for the ack of its Finished.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);
/// Attempts to open a session before the worker gives up.
const ATTEMPTS: u32 = 20;

/// What every fake worker shares.
pub struct Setup {
    pub master: SocketAddr,
    /// The registration, less the node id and instance.
    pub register: proto::Register,
    pub payload: Payload,
    pub seconds: u64,
    /// Held while connecting and registering.
    pub registering: tokio::sync::Semaphore,
    pub tally: Tally,
    /// When the harness started its workers.
    pub began: Instant,
}

/// An open session.
struct Session {
    tx: mpsc::Sender<WorkerMessage>,
    inbound: Streaming<MasterMessage>,
    /// Sent snapshots not acknowledged yet, with when they were sent.
    pending: VecDeque<(u64, Instant)>,
    lags: Histogram<u64>,
    acked: u64,
}

/// Runs fake worker `index` to its end; a failure is counted and said once.
pub async fn run(setup: Arc<Setup>, index: u32) {
    if let Err(e) = play(&setup, index).await {
        let before = setup
            .tally
            .failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if before < 5 {
            eprintln!("lps-swarm: worker {index}: {e:#}");
        }
    }
}

async fn play(setup: &Setup, index: u32) -> anyhow::Result<()> {
    let mut session = register(setup, index).await?;
    setup.tally.add(&setup.tally.registered, 1);
    let played = session.play(setup, index).await;
    // The lags seen count even when the session broke later.
    setup
        .tally
        .add(&setup.tally.snapshots_acked, session.lags.len());
    setup.tally.add_lags(&session.lags);
    played?;
    setup.tally.add(&setup.tally.delivered, 1);
    Ok(())
}

/// Opens a session, retrying as a real worker does (the master's gate closes
/// connections beyond the 64 that wait to register).
async fn register(setup: &Setup, index: u32) -> anyhow::Result<Session> {
    let mut reg = setup.register.clone();
    reg.node_id = format!("swarm-{index:05}");
    reg.instance = u64::from(index) + 1;
    let mut backoff = Duration::from_millis(100);
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let permit = setup.registering.acquire().await?;
        let began = Instant::now();
        let opened = open(setup.master, &reg).await;
        drop(permit);
        match opened {
            Ok(session) => {
                setup.tally.add_register(began.elapsed().as_micros() as u64);
                let since = setup.began.elapsed().as_micros() as u64;
                (setup.tally.all_registered_us)
                    .fetch_max(since, std::sync::atomic::Ordering::Relaxed);
                return Ok(session);
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt")))
}

async fn open(master: SocketAddr, reg: &proto::Register) -> anyhow::Result<Session> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{master}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .context("connecting")?;
    let mut client = ClusterClient::new(channel);
    let (tx, rx) = mpsc::channel::<WorkerMessage>(256);
    let hello = worker_message::Kind::Register(reg.clone());
    tx.send(WorkerMessage { kind: Some(hello) }).await?;
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.session(ReceiverStream::new(rx)),
    )
    .await
    .context("no answer to the session")?
    .map_err(|s| anyhow::anyhow!("refused: {}", s.message()))?;
    let mut inbound = response.into_inner();
    match inbound.message().await? {
        Some(MasterMessage {
            kind: Some(master_message::Kind::Welcome(_)),
        }) => {}
        other => bail!("not a welcome: {other:?}"),
    }
    Ok(Session {
        tx,
        inbound,
        pending: VecDeque::new(),
        lags: tally::histogram(),
        acked: 0,
    })
}

fn finished(last_seq: u64) -> worker_message::Kind {
    worker_message::Kind::Finished(proto::Finished {
        last_seq,
        interrupted: false,
    })
}

fn heartbeat(phase: &str) -> worker_message::Kind {
    worker_message::Kind::Heartbeat(proto::Heartbeat {
        phase: phase.into(),
    })
}

fn heartbeats() -> tokio::time::Interval {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    every
}

impl Session {
    /// The test, from the wait for the start to the ack of Finished.
    async fn play(&mut self, setup: &Setup, index: u32) -> anyhow::Result<()> {
        let start = self.wait_start().await?;
        let last_seq = self.stream(setup, index, start).await?;
        self.send(finished(last_seq)).await?;
        self.wait_acked(last_seq).await
    }

    async fn send(&self, kind: worker_message::Kind) -> anyhow::Result<()> {
        self.tx
            .send(WorkerMessage { kind: Some(kind) })
            .await
            .context("the stream closed")
    }

    /// Waits as an observer until the master says when load starts.
    async fn wait_start(&mut self) -> anyhow::Result<Instant> {
        let mut beat = heartbeats();
        let deadline = Instant::now() + START_WAIT;
        loop {
            tokio::select! {
                _ = beat.tick() => self.send(heartbeat("observer")).await?,
                m = self.inbound.message() => {
                    if let Some(master_message::Kind::State(s)) = self.on_master(m)?
                        && s.start_at_unix_ms > 0
                    {
                        let at = lps::cluster::instant_of_unix_ms(s.start_at_unix_ms);
                        return Ok(Instant::from_std(at));
                    }
                }
                _ = tokio::time::sleep_until(deadline) => bail!("no start within {START_WAIT:?}"),
            }
        }
    }

    /// Sends the worker's snapshot (all its cores) at each whole second of
    /// the run; returns the last seq.
    async fn stream(&mut self, setup: &Setup, index: u32, start: Instant) -> anyhow::Result<u64> {
        let mut beat = heartbeats();
        let mut requests = 0u64;
        for second in 1..=setup.seconds {
            let at = start + Duration::from_secs(second);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => break,
                    _ = beat.tick() => self.send(heartbeat("running")).await?,
                    m = self.inbound.message() => { self.on_master(m)?; }
                }
            }
            let last = second == setup.seconds;
            let variant = (index as usize * 7) + (second as usize) * 3;
            let elapsed = Duration::from_secs(second);
            let (snap, n) = setup.payload.snapshot(variant, second, elapsed, last);
            self.send(worker_message::Kind::Snapshot(snap)).await?;
            self.pending.push_back((second, Instant::now()));
            requests += n;
            setup.tally.add(&setup.tally.snapshots_sent, 1);
        }
        setup.tally.add(&setup.tally.requests_sent, requests);
        self.send(worker_message::Kind::RoundDone(proto::RoundDone {
            round: 0,
        }))
        .await?;
        Ok(setup.seconds)
    }

    /// Waits for the master to acknowledge every snapshot.
    async fn wait_acked(&mut self, last_seq: u64) -> anyhow::Result<()> {
        let mut beat = heartbeats();
        let deadline = Instant::now() + DELIVERY_WAIT;
        while self.acked < last_seq {
            tokio::select! {
                _ = beat.tick() => self.send(heartbeat("finished")).await?,
                m = self.inbound.message() => { self.on_master(m)?; }
                _ = tokio::time::sleep_until(deadline) => {
                    bail!("{} of {last_seq} snapshots acknowledged after {DELIVERY_WAIT:?}", self.acked)
                }
            }
        }
        Ok(())
    }

    /// Takes one message of the master: acks are timed; the rest is handed back.
    fn on_master(
        &mut self,
        m: Result<Option<MasterMessage>, tonic::Status>,
    ) -> anyhow::Result<Option<master_message::Kind>> {
        let kind = match m {
            Ok(Some(MasterMessage { kind: Some(kind) })) => kind,
            Ok(Some(_)) => return Ok(None),
            Ok(None) => bail!("the master ended the stream"),
            Err(status) => bail!("the stream broke: {}", status.message()),
        };
        match kind {
            master_message::Kind::Ack(ack) => {
                let now = Instant::now();
                while let Some(&(seq, sent)) = self.pending.front() {
                    if seq > ack.applied_seq {
                        break;
                    }
                    self.pending.pop_front();
                    self.lags
                        .saturating_record(now.duration_since(sent).as_micros() as u64);
                }
                self.acked = self.acked.max(ack.applied_seq);
                Ok(None)
            }
            master_message::Kind::Refused(r) => bail!("refused: {}", r.reason),
            other => Ok(Some(other)),
        }
    }
}
