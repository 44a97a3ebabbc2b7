//! LPS 3.x plan files (rounds with their own clients, stages, references,
//! `baseUrl`, retries, payload files) read into a [`Plan`] with LPS's own key
//! rules, defaults, units and checks (docs/dev/lps3-spec.md sections 1-2).
//!
//! [`lower`] turns a loaded plan into the [`crate::Plan`] the engine runs,
//! refusing what lps cannot run yet.
//!
//! # Layout
//! - `model`: the plan as lps will run it ([`Plan`], [`Round`],
//!   [`Iteration`], [`HttpRequest`], ...).
//! - `load`: [`load`] and [`parse`]: LPS's key rules per level, with
//!   [`Warning`]s for what LPS ignores.
//! - `request`: reading iterations, requests, payloads, retry, capture, rules.
//! - `lower`: [`lower`], to the engine's plan.
//! - `script`: an iteration's templates, expressions and capture, lowered.
//! - `certificate`: client certificate files (PEM, PKCS#12) read for mTLS.
//! - `vars`: the global variables, environments over them, and the
//!   build-time placeholders they resolve.
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
//! # Ok::<(), lps_config::ConfigError>(())
//! ```

pub use edit::{
    CaptureSpec, Document, EditError, IterationSpec, RequestSpec, RoundSpec, RuleSpec, VariableSpec,
};
pub use load::{Loaded, Warning, WarningKind, load, load_with, parse, parse_with};
pub use lower::{Lowered, lower};
pub use model::{
    Capture, ClientCertificate, Environment, FileField, HttpRequest, HttpVersion, Iteration,
    Payload, Plan, Retry, Round, Rule, Script, Site, Stage, Strategy, TextField, Variable,
};

mod certificate;
mod check;
mod edit;
mod load;
mod lower;
mod model;
mod request;
mod script;
mod vars;

#[cfg(test)]
mod tests;

/// True when `text` is a plan in lps's older format rather than LPS 3.x: a
/// plan-level `numberOfClients`, `rampupPeriod`, `delayClientCreation` or
/// `runInParallel`, or an iteration's `iterationMode`. Text that does not
/// parse is not called older: the 3.x reader reports what is wrong with it.
pub fn is_older_format(text: &str, format: crate::Format) -> bool {
    use crate::tree::{self, Value};
    let Ok(root) = tree::parse(text, "", format) else {
        return false;
    };
    let Value::Map(plan) = &root.value else {
        return false;
    };
    const PLAN_KEYS: [&str; 4] = [
        "numberOfClients",
        "rampupPeriod",
        "delayClientCreation",
        "runInParallel",
    ];
    if plan.iter().any(|e| PLAN_KEYS.contains(&e.key.as_str())) {
        return true;
    }
    let items = |node: &tree::Node| match &node.value {
        Value::List(items) => items.clone(),
        _ => Vec::new(),
    };
    let field = |node: &tree::Node, key: &str| match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.node.clone()),
        _ => None,
    };
    let rounds = plan
        .iter()
        .find(|e| e.key == "rounds")
        .map(|e| items(&e.node));
    rounds.unwrap_or_default().iter().any(|round| {
        let iterations = field(round, "iterations").map(|n| items(&n));
        iterations
            .unwrap_or_default()
            .iter()
            .any(|it| field(it, "iterationMode").is_some())
    })
}
