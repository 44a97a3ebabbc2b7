//! The validated test plan that the engine runs.
//!
//! These types are what every other crate sees: they hold only checked
//! values (a mode always has its numbers, a URL always parses), so the engine
//! never re-validates. The on-disk shape and its checks live in
//! `plan_file`, reading and writing text in `format`, URL parsing
//! ([`Target::parse`]) in `target`.

use std::time::Duration;

/// Most clients a plan may ask for: each is a task with its own connection
/// and state on every node, so past this a typo exhausts memory, not a target.
pub const MOST_CLIENTS: u32 = 1_000_000;

/// The longest duration, cool-down, ramp-up step or timeout a plan or the
/// settings may give: a year. Longer ones mean nothing to a test and would
/// overflow the engine's clock arithmetic (an `Instant` plus them).
pub const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// `seconds` as a duration when it is one a setting or option may take:
/// above zero and at most [`LONGEST`] (not NaN, negative or infinite).
pub fn positive_seconds(seconds: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero() && *d <= LONGEST)
}

/// A test plan: clients that each run the rounds in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Name of the test (`-tn`), shown in reports.
    pub name: String,
    /// Concurrent clients (`-nc`); each runs every round of the plan.
    pub clients: u32,
    /// Delay before each next client starts (`-rp`).
    pub rampup: Duration,
    /// Create each client only when it starts (`-dcc`).
    pub delay_client_creation: bool,
    /// Iterations of a round run concurrently (`-rip`); otherwise one after another.
    pub run_in_parallel: bool,
    /// Rounds run one after another by every client.
    pub rounds: Vec<Round>,
}

/// A round groups iterations that run together.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub name: String,
    pub iterations: Vec<Iteration>,
}

/// One HTTP run: a request and how often to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// Name used in reports (`-rn`); unique within the plan.
    pub name: String,
    pub mode: Mode,
    /// Batch modes: start the next batch after the cooldown even if the
    /// previous batch has not finished.
    pub maximize_throughput: bool,
    pub request: HttpRequest,
}

/// The LPS iteration modes, each with the numbers it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// `R`: each client sends `requests` requests one after another.
    Requests { requests: u64 },
    /// `D`: each client sends back to back for `duration`.
    Duration { duration: Duration },
    /// `CB`: batches of `batch` with `cooldown` between them, until the test
    /// is stopped or `duration` (when given) elapses.
    CooldownBatch {
        batch: u32,
        cooldown: Duration,
        duration: Option<Duration>,
    },
    /// `CRB`: as CB, stopping after `requests` requests per client.
    CooldownRequestBatch {
        requests: u64,
        batch: u32,
        cooldown: Duration,
    },
    /// `DCB`: as CB, for `duration`.
    DurationCooldownBatch {
        duration: Duration,
        batch: u32,
        cooldown: Duration,
    },
}

impl Mode {
    /// The LPS short name of the mode (`R`, `D`, `CB`, `CRB`, `DCB`).
    pub fn code(&self) -> &'static str {
        match self {
            Mode::Requests { .. } => "R",
            Mode::Duration { .. } => "D",
            Mode::CooldownBatch { .. } => "CB",
            Mode::CooldownRequestBatch { .. } => "CRB",
            Mode::DurationCooldownBatch { .. } => "DCB",
        }
    }

    /// Requests one client sends, when the mode fixes that number.
    pub fn requests_per_client(&self) -> Option<u64> {
        match *self {
            Mode::Requests { requests } | Mode::CooldownRequestBatch { requests, .. } => {
                Some(requests)
            }
            _ => None,
        }
    }

    /// How long the mode runs, when it is bounded by time.
    pub fn duration(&self) -> Option<Duration> {
        match *self {
            Mode::Duration { duration } | Mode::DurationCooldownBatch { duration, .. } => {
                Some(duration)
            }
            Mode::CooldownBatch { duration, .. } => duration,
            _ => None,
        }
    }
}

/// HTTP version a request is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http11,
    /// HTTP/2: h2 over TLS for `https://`, h2c with prior knowledge for `http://`.
    Http2,
}

impl HttpVersion {
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }
}

/// URL scheme of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A checked `http://` or `https://` URL, split for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Scheme,
    /// Host as written (name, IPv4, or IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with `/`.
    pub path_and_query: String,
}

impl Target {
    /// The `Host` header value: the port is omitted when it is the scheme's default.
    pub fn authority(&self) -> String {
        let default = match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The URL as text.
    pub fn url(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        format!("{scheme}://{}{}", self.authority(), self.path_and_query)
    }
}

/// The request an iteration sends.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Upper-case method token (`GET`, `POST`, ...).
    pub method: String,
    pub target: Target,
    /// Headers in the order given; names as written.
    pub headers: Vec<(String, String)>,
    /// Request body; empty means none.
    pub body: Vec<u8>,
    pub version: HttpVersion,
}
