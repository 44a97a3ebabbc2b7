//! The master: keeps the cluster's test state, serves one gRPC stream per
//! worker on a control thread of its own, merges every node's snapshots
//! exactly, and hands back what the cluster report needs.
//!
//! States: `Idle` until `ExpectedNumberOfWorkers` workers registered (at
//! once with 0), then `Ready` with a start instant a moment ahead that every
//! node shares, `Running` from that instant, and `Completed` when every node
//! finished or was lost (`Cancelled` on Ctrl-C).
//!
//! # Layout
//! - `state`: the state machine, pure: states, node phases, transitions and
//!   the events they cause, with the time passed in.
//! - `shared`: that state behind a lock, shared by the gRPC tasks, the timers
//!   and the run, with the effects of its events (log lines, the state every
//!   worker stream watches, the dashboard).
//! - `views`: the nodes as the dashboard and the report show them.
//! - `service`: the gRPC service: registration checks, then one session per
//!   worker (state changes and acks out, snapshots in).
//! - `control`: the control thread: the gRPC server and the timers.
//! - `gate`: the gRPC port's connections: closed unless a worker registers
//!   on them in time, and only so many waiting at once.
//! - `run`: the master's run: wait for the start, run its own load, wait for
//!   the end (or Ctrl-C and a grace), stop serving.

mod control;
mod gate;
mod run;
mod service;
mod shared;
mod state;
mod views;

pub use run::{ClusterOutcome, run};
pub use state::{Phase, State};

use std::net::SocketAddr;
use std::time::Duration;

/// Largest message a worker may send (a snapshot of many iterations).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Settings the master runs with.
#[derive(Debug, Clone)]
pub struct MasterConfig {
    pub listen: SocketAddr,
    pub secret: Option<String>,
    pub expected_workers: u32,
    pub master_is_worker: bool,
    pub heartbeat_timeout: Duration,
    /// `MaxNodes`: the most workers the master keeps.
    pub max_nodes: u32,
    /// PEM certificate chain and key: serve gRPC over TLS.
    pub tls: Option<(Vec<u8>, Vec<u8>)>,
    /// The settings' `Watchdog`: pauses the master's own load.
    pub watchdog: Option<lps_config::WatchdogSettings>,
}
