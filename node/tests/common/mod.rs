//! What the node's integration tests share: real `lps` processes on
//! loopback, and the ways to wait for them.
//!
//! Tests wait for an event (a stderr line, a port, a state behind an HTTP
//! route), each wait bounded so a broken build fails instead of hanging.
//!
//! # Layout
//! - [`process`]: spawn `lps`, wait for its stderr lines and its exit ([`Lps`], [`lps`], [`lps_json`]).
//! - [`http`]: the raw HTTP/1.1 client (`lps_testbed::probe`) and the dashboard's streams.
//! - [`target`]: the built-in target as its own process, and peers lps must fail against.
//! - [`scratch`]: scratch directories removed on drop ([`Scratch`]).
//! - [`cluster`]: cluster settings built by one function, a cluster's directory and nodes.
//! - [`hdr`]: HdrHistogram interval logs, decoded.

#![allow(dead_code, unused_imports)]

pub mod cluster;
pub mod hdr;
pub mod http;
pub mod process;
pub mod scratch;
pub mod target;

use std::path::Path;
use std::time::{Duration, Instant};

pub use cluster::{Cluster, ClusterSettings};
pub use hdr::{base64, histograms, total_histogram};
pub use process::{Finished, LPS, Lps, lps, lps_json};
pub use scratch::Scratch;
pub use target::{Target, closed_port, raw_peer};

/// Command-line arguments from one line (no argument holds a space).
pub fn args(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// A JSON count.
pub fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// A JSON file, parsed.
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Polls `f` until it returns something, within `limit`.
pub fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
