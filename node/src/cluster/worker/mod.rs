//! A worker: registers with the master over one gRPC stream, waits as an
//! observer until the master is ready, runs the test command locally from
//! the shared start instant, and streams one snapshot per interval for all
//! its cores (their snapshots merged exactly on the worker: the master's
//! work per worker does not grow with its cores).
//!
//! Snapshots carry a per-worker sequence number and stay buffered until the
//! master acknowledges them, so a dropped connection is resumed without loss
//! or double counting. A master that restarted (another instance, which
//! holds nothing) is caught up: the worker sends it everything its run did
//! so far, merged into one. If the master is gone for good, the worker
//! finishes its run and writes its full local result to disk.
//!
//! Two threads: the caller's runs the plan ([`run`]); `lps-worker-control`
//! talks to the master. The run sends [`Outgoing`] snapshots to the control
//! thread, which answers with [`Event`]s.
//!
//! # Layout
//! - `run`: [`run`]: starts the control thread, waits for the start instant,
//!   runs the plan locally, then waits for the master to have everything.
//! - `control`: the control thread: reconnects with backoff, serves one
//!   session at a time, answers the master's messages, sends heartbeats.
//! - `session`: opening one session: connect, register, wait for the Welcome.
//! - `merge`: the cores' snapshots of one interval merged into the one sent.
//! - `outbox`: the snapshots the master has not acknowledged yet, and the
//!   run's finished marker: what a new session resends.
//! - `catchup`: everything the run sent, merged: what a restarted
//!   master is sent.
//! - `error`: why the worker cannot go on ([`WorkerError`]), and why one
//!   session could not be opened ([`SessionError`]).

mod catchup;
mod control;
mod error;
mod merge;
mod outbox;
mod run;
mod session;

pub use error::{SessionError, WorkerError};
pub use run::{WorkerOutcome, run};

use std::net::SocketAddr;
use std::time::Duration;

use lps_proto as proto;

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
    /// The settings' `Watchdog`: pauses this worker's load.
    pub watchdog: Option<lps_config::WatchdogSettings>,
}

/// From the run to the control thread.
enum Outgoing {
    /// The wire form, and the snapshot itself for the catch-up's merge.
    Snapshot(proto::Snapshot, Box<lps_engine::Snapshot>),
    Finished {
        last_seq: u64,
        interrupted: bool,
    },
}

/// From the control thread to the run.
enum Event {
    /// Start load at this wall-clock time (Unix ms), taking this share of
    /// the feeders' rows (`RunOptions::feed_share`).
    Start { at_ms: u64, feed_share: (u32, u32) },
    /// The worker cannot take part: unreachable or refused.
    Fatal(WorkerError),
    /// Every snapshot reached the master; after catching up this many
    /// restarted masters.
    Delivered { restarts: u32 },
    /// The master could not be reached again after the run started.
    MasterGone(WorkerError),
    /// The process's stop signal (Ctrl-C) fired.
    Stopped,
}
