//! An LPS 3.x plan as lps will run it: every default applied, units turned
//! into durations, `baseUrl` joined and `reference`s resolved.
//!
//! Variables, environments, captures, expressions, rules and `${...}` /
//! `$method(...)` placeholders are kept here as located raw text, for
//! `vars`, `script` and `lower` to evaluate, compile and check.

use std::path::PathBuf;
use std::time::Duration;

use crate::plan::Mode;

/// Where a value is in the plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Key path (`rounds[0].iterations[1].skipIf`).
    pub key: String,
    /// 1-based line.
    pub line: usize,
}

/// Raw text of an expression or a value with placeholders, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub site: Site,
    pub text: String,
}

/// An LPS 3.x test plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    /// Global variables (`variables`).
    pub variables: Vec<Variable>,
    pub environments: Vec<Environment>,
    /// Plan-level iterations, used only through a round's `reference`; their
    /// URLs are as written (not joined with any `baseUrl`).
    pub iterations: Vec<Iteration>,
    /// Rounds in file order; LPS runs them one after another.
    pub rounds: Vec<Round>,
    /// Values other than expressions that hold a `${...}`, `$name`,
    /// `$method(...)` or `$$`, in document order. Such a value needs the
    /// resolver: a text keeps it as written, a number or switch gets a
    /// stand-in (its default, or 1) until `vars` resolves it.
    pub placeholders: Vec<Script>,
}

/// A plan variable (`variables[i]`, strict keys `name`, `value`, `as`, `regex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub site: Site,
    pub name: String,
    pub value: String,
    /// Type name as written (`String` when absent).
    pub as_type: String,
    pub regex: String,
}

/// An environment: variables selected with `lps run -e NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub site: Site,
    pub name: String,
    pub variables: Vec<Variable>,
}

/// A round: clients that each run the round's iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub name: String,
    /// Line of the round's item in the file.
    pub line: usize,
    /// As written; already prepended to relative iteration URLs.
    pub base_url: String,
    /// Once per round, before any client starts (`startupDelay`, ms).
    pub startup_delay: Duration,
    /// `numberOfClients` (default 1); not used when `stages` is non-empty.
    pub clients: u32,
    /// Gap between consecutive clients' starts (`arrivalDelay`, ms); not used
    /// when `stages` is non-empty.
    pub arrival_delay: Duration,
    /// `delayClientCreationUntilIsNeeded`.
    pub delay_client_creation: bool,
    /// A client starts all its iterations at once instead of one after another.
    pub run_in_parallel: bool,
    pub tags: Vec<String>,
    pub stages: Vec<Stage>,
    /// Inline iterations in file order, then the referenced ones in
    /// `reference` order (each a copy with this round's `baseUrl` joined).
    pub iterations: Vec<Iteration>,
}

/// One step of a round's client ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub clients: u32,
    /// Gap between this stage's clients (ms in the file).
    pub arrival_delay: Duration,
    /// Wait after the previous stage's last client was spawned (ms in the file).
    pub startup_delay: Duration,
}

/// One HTTP iteration: a request and how often to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    pub name: String,
    /// Line of the iteration's item in the file (the plan-level item for a
    /// referenced one).
    pub line: usize,
    /// `mode` with its numbers: `requestCount`, `duration` (s), `batchSize`,
    /// `coolDownTime` (ms). CB has no duration in LPS 3.x.
    pub mode: Mode,
    /// Batch modes: poll for the next batch instead of sleeping.
    pub maximize_throughput: bool,
    /// Per client, before this iteration (`startupDelay` or `delay`, ms).
    pub startup_delay: Duration,
    pub request: HttpRequest,
    pub skip_if: Option<Script>,
    pub before: Vec<Script>,
    pub after: Vec<Script>,
    pub failure_rules: Vec<Rule>,
    pub termination_rules: Vec<Rule>,
}

/// A failure or termination rule, its keys as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub site: Site,
    pub metric: Option<String>,
    pub error_status_codes: Option<String>,
    pub expression: Option<String>,
    /// Termination rules only (`hh:mm:ss`).
    pub grace_period: Option<String>,
}

/// The request an iteration sends.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Upper-cased (LPS matches methods case-insensitively).
    pub method: String,
    /// Absolute after joining the round's `baseUrl`, with empty path
    /// segments removed as LPS's URL re-assembly does.
    pub url: String,
    pub version: HttpVersion,
    /// HTTP/2 with prior knowledge over `http://`.
    pub support_h2c: bool,
    /// In file order; names as written.
    pub headers: Vec<(String, String)>,
    pub payload: Payload,
    pub save_response: bool,
    pub download_html_embedded_resources: bool,
    pub retry: Option<Retry>,
    pub client_certificate: Option<ClientCertificate>,
    pub capture: Option<Capture>,
    pub skip_if: Option<Script>,
    pub before: Vec<Script>,
    pub after: Vec<Script>,
}

/// The HTTP version LPS asks for.
///
/// LPS maps only the texts `1.0`, `1.1` and `2.0` at send time; the other
/// accepted spellings (`HTTP/1.1`, `HTTP/2`, ...) all become 2.0. lps copies
/// that, so a plan sends what it sent under LPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http10,
    Http11,
    Http2,
}

/// A request body; LPS attaches it only to POST, PUT and PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// UTF-8 text, no Content-Type added.
    Raw(String),
    /// A file read at load time, sent as `application/octet-stream`.
    Binary { path: PathBuf, bytes: Vec<u8> },
    Multipart {
        fields: Vec<TextField>,
        files: Vec<FileField>,
    },
}

/// A text part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextField {
    pub name: String,
    pub value: String,
    /// `text/plain` when absent.
    pub content_type: String,
}

/// A file part of a multipart body, read at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileField {
    /// The lower-cased file name when absent.
    pub name: String,
    pub path: PathBuf,
    /// From the file extension when absent.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// How a failed request is sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Retry only when this is true; `None` means always (LPS's `"true"`).
    pub retry_if: Option<Script>,
    /// Stop retrying when this is true.
    pub stop_if: Option<Script>,
    /// At most this many more sends (default 1).
    pub max_retries: u32,
    pub strategy: Strategy,
    /// `delayInMs` (default 100 ms): the delay, or the first delay of an
    /// exponential back-off.
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Fixed,
    /// `delay * 2^(attempt-1)`, capped by `max_delay` when given.
    Exponential {
        max_delay: Option<Duration>,
    },
}

/// A client certificate for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// Where `clientCertificatePath` is.
    pub site: Site,
    pub path: PathBuf,
    pub password: Option<String>,
}

/// `httpRequest.capture` (strict keys `to`, `as`, `makeGlobal`, `regex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub site: Site,
    pub to: String,
    /// Type name as written (`String` when absent).
    pub as_type: String,
    pub make_global: bool,
    pub regex: String,
}

impl Retry {
    /// Whether a request is ever sent again, when `if` and `stopIf` are
    /// absent or literal; `None` when either needs the expression engine.
    /// LPS (spec 2.8): a true `stopIf` or a false `if` stops after the
    /// first send; an absent `if` is true, an absent `stopIf` never stops.
    pub fn resends(&self) -> Option<bool> {
        let value = |s: &Option<Script>, absent| match s {
            None => Some(absent),
            Some(s) => literal_bool(&s.text),
        };
        Some(value(&self.retry_if, true)? && !value(&self.stop_if, false)?)
    }
}

/// `true` or `false` in any case, as Flee reads the literal; `None` for any
/// other expression.
pub(super) fn literal_bool(text: &str) -> Option<bool> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}
