//! LPS 3.x plan files (rounds with their own clients, stages, references,
//! `baseUrl`, retries, payload files) read into a [`Plan`] with LPS's own key
//! rules, defaults, units and checks (docs/dev/lps3-spec.md sections 1-2).
//!
//! Not wired to the engine yet: the old format (`plan_file`) is still what
//! `lps` runs.
//!
//! # Layout
//! - `model`: the plan as lps will run it ([`Plan`], [`Round`],
//!   [`Iteration`], [`HttpRequest`], ...) and [`Plan::first_unsupported`].
//! - `load`: [`load`] and [`parse`]: LPS's key rules per level, with
//!   [`Warning`]s for what LPS ignores.
//! - `request`: reading iterations, requests, payloads, retry, capture, rules.
//! - `check`: LPS's value rules (numbers, names, modes, URLs, versions).
//! - `edit`: [`Document`]: `lps create`, `round`, `iteration`, `capture` and
//!   `variable` editing a plan file and writing it back.
//! - `tree`: the file as a tree of texts with lines, from YAML or JSON.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use lps_config::{Format, Mode, lps3};
//!
//! let text = "\
//! name: Demo
//! rounds:
//!   - name: Warm
//!     baseUrl: http://127.0.0.1:8080
//!     numberOfClients: 2
//!     iterations:
//!       - name: home
//!         mode: R
//!         requestCount: '5'
//!         httpRequest:
//!           url: /index.html
//!           method: GET
//! ";
//! let loaded = lps3::parse(text, "demo.yaml", Format::Yaml, Path::new("."))?;
//! let round = &loaded.plan.rounds[0];
//! assert_eq!(round.clients, 2);
//! assert_eq!(round.iterations[0].mode, Mode::Requests { requests: 5 });
//! assert_eq!(round.iterations[0].request.url, "http://127.0.0.1:8080/index.html");
//! assert_eq!(loaded.plan.first_unsupported(), None);
//! # Ok::<(), lps_config::ConfigError>(())
//! ```

pub use edit::{
    CaptureSpec, Document, EditError, IterationSpec, RequestSpec, RoundSpec, VariableSpec,
};
pub use load::{Loaded, Warning, WarningKind, load, parse};
pub use model::{
    Capture, ClientCertificate, Environment, Feature, FileField, HttpRequest, HttpVersion,
    Iteration, Payload, Plan, Retry, Round, Rule, Script, Site, Stage, Strategy, TextField,
    Unsupported, Variable,
};

mod check;
mod edit;
mod load;
mod model;
mod request;
mod tree;

#[cfg(test)]
mod tests;
