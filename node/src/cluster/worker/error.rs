//! Why the worker cannot go on, and why one session could not be opened.

use std::net::SocketAddr;
use std::time::Duration;

/// Why the worker cannot take part, or, after its run, why the master may
/// not have every snapshot. Each names the master's address where it matters.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No session could be opened within the time allowed.
    #[error(
        "cannot reach the master at {master} (Cluster.MasterNodeIP and GRPCPort) within {within:?}: {why}"
    )]
    Unreachable {
        master: SocketAddr,
        within: Duration,
        why: SessionError,
    },
    /// The master said no (secret, plan, version, node id): final.
    #[error("the master at {master} refused this worker: {reason}")]
    Refused { master: SocketAddr, reason: String },
    /// The master's test ended before this worker could join it.
    #[error("the test on the master at {master} is already over")]
    AlreadyOver { master: SocketAddr },
    /// The delivery time ran out with snapshots still unacknowledged.
    #[error("the master at {master} did not acknowledge the last snapshots")]
    Unacknowledged { master: SocketAddr },
    /// The control thread's tokio runtime could not be built.
    #[error("cannot start the control runtime: {0}")]
    Runtime(std::io::Error),
    /// The OS would not start the control thread.
    #[error("cannot start the lps-worker-control thread: {0}")]
    Thread(std::io::Error),
    /// Ctrl-C before the master said start.
    #[error("interrupted while waiting for the master")]
    Interrupted,
    /// The control thread ended without a word (it panicked).
    #[error("the control thread ended before the start")]
    ControlEnded,
}

/// Why one attempt to open a session failed; the next attempt may succeed
/// (the master may not be up yet, or a stream broke).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The transport's own words (refused connection, TLS, timeout).
    #[error("{0}")]
    Connect(String),
    #[error("no gRPC answer within {0:?} (is TLS configured on one side only?)")]
    NoAnswer(Duration),
    #[error("the master did not start with a Welcome")]
    NotWelcome,
    /// Any HTTP/2 server answers a POST; only an lps master then says Welcome.
    #[error("the peer answered but sent no Welcome: is this an lps master's gRPC port?")]
    NoWelcome,
    /// The peer's gRPC status message.
    #[error(
        "the peer answered, not in the lps cluster protocol ({0}): is this an lps master's gRPC port?"
    )]
    NotLps(String),
    /// A gRPC status other than a refusal: its message.
    #[error("{0}")]
    Status(String),
}
