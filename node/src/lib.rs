//! The `lps` command: the LPS command line, a run on this node, the cluster
//! (master and workers), the dashboard and the reports. `main.rs` only calls
//! [`main`], so integration tests can drive the same code.
//!
//! Data flows one way: plan and settings (`lps-config`) -> the engine's cores
//! (`lps-engine`) -> snapshots -> this node (`local`) -> the master (`cluster`)
//! -> the dashboard and the reports.
//!
//! # Layout
//! - `app`: the command line and each role's entry point (a single node,
//!   master, worker, `demo`, `target`); its errors and their exit codes.
//! - `local`: running a plan on this node's engine, with progress.
//! - `cluster`: roles, plan fingerprint and clock; `cluster::wire`, the
//!   snapshot wire format; `cluster::master` and `cluster::worker`, the two
//!   roles.
//! - `dashboard`: its HTTP server, JSON API and Prometheus metrics;
//!   `dashboard::live`, the live model of a running test.
//! - `report`: console summary, JSON report, histogram log, and the verdict.
//! - `rules`: LPS's failure and termination rules, judged on merged data.
//! - `shutdown`: the one stop signal, and Ctrl-C.
//! - `logger`: what lps says on stderr, and LPS's log file (`FileLogger`).
//! - `watchdog`: LPS's watchdog: pauses the load while this node's memory,
//!   CPU or requests in flight are over the settings' limits.
//!
//! # Exit codes
//! - [`EXIT_OK`] (0): the test ran (or the command did its job).
//! - [`EXIT_FAILED`] (1): the test failed: every request failed, none
//!   completed, or the run could not complete.
//! - [`EXIT_BAD_INPUT`] (2): the options, plan or settings are at fault.
//! - [`EXIT_OUTPUT`] (3): the test ran and did not fail, but an output
//!   (`--json`, `--histogram`, the summary) could not be written; the
//!   others were. A failed test exits 1 all the same.
//! - [`EXIT_RULES`] (4): a limit or rule failed: a failure rule of the plan
//!   held (judged on the merged data: a master's is the cluster's verdict),
//!   or `lps compare` found a regression over its limits.

mod app;
pub mod cluster;
mod dashboard;
mod local;
mod logger;
pub mod report;
mod rules;
mod shutdown;
mod watchdog;

pub use app::main;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_OUTPUT: u8 = 3;
pub const EXIT_RULES: u8 = 4;
