//! The lps load engine: runs a [`Plan`](lps_config::Plan) thread-per-core and
//! reports what happened as exact, mergeable snapshots.
//!
//! Each engine thread is pinned to a core and owns a current-thread tokio
//! runtime, its clients, their connections and its own [`Stats`]. Once per
//! interval each core sends a [`Snapshot`] over a crossbeam channel; an
//! [`Aggregate`] merges them exactly. The engine never talks to a master: the
//! node crate forwards snapshots wherever they need to go.
//!
//! # Layout
//! - `stats`: per-iteration counters and latency histogram, and their merge.
//! - `compact`: the forms they are kept in, which allocate nothing until
//!   used and stay small while they hold little.
//! - `snapshot`: what a core sends per interval, and the aggregate of all.
//! - `runner`: [`start`] and its [`RunOptions`]: the plan prepared once, the
//!   per-core threads, and the [`Run`] handle.
//! - `rounds`: [`RoundGate`], the round barrier across nodes (a cluster's).
//! - `iteration`: the LPS modes (R, D, CB, CRB, DCB) and the open model.
//! - `client`: a lane sending requests over HTTP/1.1 or HTTP/2.
//! - `script`: LPS 3.x scripts while they run: sessions, templated
//!   requests, captures, expressions.
//! - `http1`: the HTTP/1.1 fast path (pre-built requests, in-place parsing).
//! - `http2`: the HTTP/2 client of the hot path (header blocks encoded
//!   once, responses read by the lanes, no connection task); the `h2`
//!   crate remains as the fallback.
//! - `head`: response heads, a one-pass scan with httparse for the rest.
//! - `pause`: [`PauseGate`], which holds every core's new requests while
//!   the node's watchdog says so.
//! - `terminate`: [`Terminations`], the iterations a termination rule ended:
//!   no core sends another of their requests.
//! - `alarm`: precise wake-ups for the open model (timerfd on Linux).
//! - `connect`: tuned TCP sockets and TLS.
//! - `fd_table`: each engine thread's own file table (Linux).
//! - `error`: [`EngineError`], why a run cannot start or finish.

mod alarm;
mod client;
mod compact;
mod connect;
mod error;
#[cfg(target_os = "linux")]
mod fd_table;
pub mod head;
pub mod http1;
mod http2;
mod idle;
mod iteration;
mod pause;
mod rounds;
mod runner;
mod script;
mod snapshot;
mod stats;
mod terminate;
#[cfg(test)]
mod testing;

pub use compact::{LATENCY_TOP_US, LazyHistogram};
pub use error::EngineError;
pub use pause::PauseGate;
pub use rounds::RoundGate;
pub use runner::{
    DEFAULT_COALESCE, DEFAULT_GRACE, DEFAULT_MAX_CONNECTIONS_PER_SERVER, MAX_COALESCE, MAX_THREADS,
    Run, RunOptions, start, thread_count,
};
pub use snapshot::{Aggregate, Snapshot};
pub use stats::{
    ErrorKind, LATENCY_HIGH_US, LATENCY_LOW_US, LATENCY_SIGFIG, Span, Stats, is_success,
    new_histogram,
};
pub use terminate::Terminations;
/// The one stop signal a run is given: cancelled, every core stops.
pub use tokio_util::sync::CancellationToken;
