//! The validated test plan that the engine runs.
//!
//! These types are what every other crate sees: they hold only checked
//! values (a mode always has its numbers, a URL always parses), so the engine
//! never re-validates. The on-disk shape and its checks live in
//! `plan_file`, reading and writing text in `format`, URL parsing
//! ([`Target::parse`]) in `target`.

use std::sync::Arc;
use std::time::Duration;

use lps_scenario::{Template, VarType};

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

/// A test plan: rounds run one after another, each with its own clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Name of the test (`-tn`), shown in reports.
    pub name: String,
    /// Rounds in order; a round starts once every client of the one before
    /// has finished (LPS 3.x).
    pub rounds: Vec<Round>,
    /// LPS 3.x global variables (plan `variables`, then the environments
    /// chosen with `-e`), in the order they were set.
    pub variables: Vec<GlobalVariable>,
}

/// A global variable and the value it took when the plan was read (a
/// `$random()` in it is drawn once, as LPS does).
#[derive(Clone, PartialEq)]
pub struct GlobalVariable {
    pub name: String,
    pub kind: VarType,
    /// As written in the plan.
    pub raw: String,
    pub value: String,
    /// Applied to what a path reads from it.
    pub regex: Option<String>,
}

/// Shows what was written, not what was drawn: nodes of a cluster that
/// read the same plan agree on it (the plan's fingerprint is its `Debug`).
impl std::fmt::Debug for GlobalVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalVariable")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("raw", &self.raw)
            .field("regex", &self.regex)
            .finish()
    }
}

/// What an LPS 3.x iteration runs besides its fixed request: expressions,
/// templates and captures. An iteration without one sends the bytes built
/// once, as any plan without variables does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Script {
    /// The iteration is skipped for a client when this is true.
    pub skip_if: Option<Template>,
    /// Resolved for their side effects before and after each client's run
    /// of the iteration.
    pub before: Vec<Template>,
    pub after: Vec<Template>,
    pub request: RequestScript,
}

/// A request's per-request parts (LPS resolves them for each request).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestScript {
    /// Replaces the request's method when given.
    pub method: Option<Template>,
    /// Replaces the target's path and query when given.
    pub path: Option<Template>,
    /// Headers with placeholders, sent after the fixed ones.
    pub headers: Vec<(String, Template)>,
    /// Replaces the body when given (a raw payload with placeholders).
    pub body: Option<Template>,
    pub capture: Option<Capture>,
    pub skip_if: Option<Template>,
    pub before: Vec<Template>,
    pub after: Vec<Template>,
    /// A retry's `if` and `stopIf` when they are expressions.
    pub retry_if: Option<Template>,
    pub stop_if: Option<Template>,
}

/// `capture`: the response stored as variable `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub to: String,
    /// How its body is read (`as`; `String` by default).
    pub kind: VarType,
    pub regex: Option<String>,
    /// For every client (`makeGlobal`), else this client's.
    pub global: bool,
}

impl Plan {
    /// The most clients any round runs at once: the peak, which is what the
    /// reports give as the plan's clients (rounds do not overlap).
    pub fn clients(&self) -> u32 {
        self.rounds.iter().map(Round::clients).max().unwrap_or(0)
    }
}

/// A round: its clients each run its iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub name: String,
    /// Waited once, before the round's first client starts.
    pub startup_delay: Duration,
    /// The client ramp, never empty: a round written without `stages` is
    /// one stage of its `numberOfClients` and `arrivalDelay`.
    pub stages: Vec<Stage>,
    /// Create each client only when it starts.
    pub delay_client_creation: bool,
    /// A client starts all its iterations at once; otherwise one after another.
    pub run_in_parallel: bool,
    /// Labels `lps run -t` selects rounds by.
    pub tags: Vec<String>,
    pub iterations: Vec<Iteration>,
}

/// One step of a round's client ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub clients: u32,
    /// Gap between the starts of consecutive clients of the stage.
    pub arrival_delay: Duration,
    /// Wait after the previous stage's last client started (LPS measures it
    /// from that spawn, not from that stage's end).
    pub startup_delay: Duration,
}

impl Round {
    /// A round of one stage: `clients` started `arrival_delay` apart.
    pub fn single(name: impl Into<String>, clients: u32, arrival_delay: Duration) -> Round {
        Round {
            name: name.into(),
            startup_delay: Duration::ZERO,
            stages: vec![Stage {
                clients,
                arrival_delay,
                startup_delay: Duration::ZERO,
            }],
            delay_client_creation: false,
            run_in_parallel: false,
            tags: Vec::new(),
            iterations: Vec::new(),
        }
    }

    /// Clients of the round, all stages together.
    pub fn clients(&self) -> u32 {
        self.stages
            .iter()
            .fold(0u32, |n, s| n.saturating_add(s.clients))
    }

    /// When client `i` (0-based, across stages) starts, from the round's
    /// start (after its `startup_delay`). LPS: client `i` of a stage starts
    /// at `offset + i * arrivalDelay`, where `offset` adds up each stage's
    /// `startupDelay` and the `(n - 1) * arrivalDelay` of the stages before.
    /// A client past the last stage starts with the last one.
    pub fn arrival(&self, i: u32) -> Duration {
        let mut offset = Duration::ZERO;
        let mut first = 0u32;
        for stage in &self.stages {
            offset = offset.saturating_add(stage.startup_delay);
            let last = stage.clients.saturating_sub(1);
            if i < first.saturating_add(stage.clients) {
                return offset.saturating_add(stage.arrival_delay.saturating_mul(i - first));
            }
            offset = offset.saturating_add(stage.arrival_delay.saturating_mul(last));
            first = first.saturating_add(stage.clients);
        }
        offset
    }
}

/// One HTTP run: a request and how often to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// Name used in reports (`-rn`); unique within the plan.
    pub name: String,
    pub mode: Mode,
    /// Batch modes: time the batches with the precise timer (LPS busy-polls
    /// for the same end). Batches never wait for the one before.
    pub maximize_throughput: bool,
    /// Waited by each client before it runs the iteration.
    pub startup_delay: Duration,
    pub request: HttpRequest,
    /// Variables, captures and expressions; `None` for a fixed request.
    pub script: Option<Arc<Script>>,
    /// LPS's `failureRules`: judged on the iteration's data when the run ends.
    pub failure_rules: Vec<crate::rules::Rule>,
    /// LPS's `terminationRules`: judged live on the whole test's data; one
    /// that holds for its grace period ends the iteration on every node.
    pub termination_rules: Vec<crate::rules::Rule>,
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
///
/// LPS's `1.0` is sent as HTTP/1.1: lps speaks no HTTP/1.0, and .NET sends
/// a 1.0 request much as a 1.1 one without keep-alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http11,
    /// HTTP/2 when the server agrees: over `https://` TLS offers ALPN `h2`
    /// then `http/1.1` and the server picks; over `http://` it is HTTP/1.1
    /// (LPS's 2.0 without `supportH2C`).
    Http2,
    /// HTTP/2 with prior knowledge over `http://` (LPS's `supportH2C`);
    /// over `https://` as [`HttpVersion::Http2`].
    H2c,
}

impl HttpVersion {
    pub fn as_str(&self) -> &'static str {
        match self {
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 | HttpVersion::H2c => "2",
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
    /// Sends again after each send, up to `max_retries` times (LPS's
    /// `retry`); `None` sends once.
    pub retry: Option<Retry>,
    /// The certificate a `https://` request presents (mutual TLS).
    pub client_identity: Option<ClientIdentity>,
}

/// LPS's retry with its `if` true and no `stopIf`: a request command sends
/// `1 + max_retries` requests, each recorded as any request, `delay` (or
/// an exponential back-off from it) apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Sends after the first (at least 1).
    pub max_retries: u32,
    /// Before the first retry; with [`Backoff::Exponential`] it doubles.
    pub delay: Duration,
    pub backoff: Backoff,
}

/// How the delay between retries grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Every retry waits `delay`.
    Fixed,
    /// Retry `n` (from 1) waits `delay * 2^(n-1)`, at most `max` when given.
    Exponential { max: Option<Duration> },
}

impl Retry {
    /// The wait before retry `n` (1 for the first), as LPS computes it.
    pub fn delay_before(&self, n: u32) -> Duration {
        debug_assert!(n >= 1, "retries count from 1");
        match self.backoff {
            Backoff::Fixed => self.delay,
            Backoff::Exponential { max } => {
                let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
                let grown = self.delay.saturating_mul(factor).min(LONGEST);
                max.map_or(grown, |max| grown.min(max))
            }
        }
    }
}

/// A client certificate chain and its private key, DER-encoded, checked
/// when the plan was read.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The file it was read from, for messages.
    pub path: std::path::PathBuf,
    /// The end-entity certificate first.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key: Vec<u8>,
}

/// Never prints the key. The chain (public) is given by a digest, so that
/// a plan's Debug text, which the cluster fingerprints, tells two
/// certificates apart.
impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // FNV-1a: a fingerprint, not a security measure.
        let digest = self
            .chain
            .iter()
            .flatten()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        f.debug_struct("ClientIdentity")
            .field("path", &self.path)
            .field(
                "chain",
                &format_args!("{} certificate(s), fnv {digest:016x}", self.chain.len()),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn stage(clients: u32, arrival: u64, startup: u64) -> Stage {
        Stage {
            clients,
            arrival_delay: ms(arrival),
            startup_delay: ms(startup),
        }
    }

    #[test]
    fn one_stage_is_a_linear_ramp() {
        let round = Round::single("r", 3, ms(100));
        assert_eq!(round.clients(), 3);
        let got: Vec<_> = (0..3).map(|i| round.arrival(i)).collect();
        assert_eq!(got, [ms(0), ms(100), ms(200)]);
        let burst = Round::single("r", 4, ms(0));
        assert!((0..4).all(|i| burst.arrival(i) == ms(0)));
    }

    #[test]
    fn stages_start_after_the_previous_stages_last_client() {
        // spec 2.2: offset += startupDelay; client i at offset + i * arrival;
        // offset += (n - 1) * arrival.
        let mut round = Round::single("r", 1, ms(0));
        round.stages = vec![stage(3, 100, 50), stage(2, 40, 500), stage(1, 999, 10)];
        assert_eq!(round.clients(), 6);
        let got: Vec<_> = (0..7).map(|i| round.arrival(i)).collect();
        // Stage 1: 50, 150, 250. Stage 2: 250 + 500 = 750, 790.
        // Stage 3: 790 + 10 = 800; client 6 is past the last stage.
        assert_eq!(
            got,
            [ms(50), ms(150), ms(250), ms(750), ms(790), ms(800), ms(800)]
        );
    }

    #[test]
    fn retry_delays_follow_lps() {
        let fixed = Retry {
            max_retries: 3,
            delay: ms(250),
            backoff: Backoff::Fixed,
        };
        let got: Vec<_> = (1..=3).map(|n| fixed.delay_before(n)).collect();
        assert_eq!(got, [ms(250), ms(250), ms(250)]);
        let capped = Retry {
            backoff: Backoff::Exponential { max: Some(ms(150)) },
            delay: ms(100),
            ..fixed
        };
        let got: Vec<_> = (1..=3).map(|n| capped.delay_before(n)).collect();
        assert_eq!(got, [ms(100), ms(150), ms(150)]);
        let open = Retry {
            backoff: Backoff::Exponential { max: None },
            ..capped
        };
        let got: Vec<_> = (1..=4).map(|n| open.delay_before(n)).collect();
        assert_eq!(got, [ms(100), ms(200), ms(400), ms(800)]);
        // A huge retry count neither overflows nor waits past a year.
        assert_eq!(open.delay_before(u32::MAX), LONGEST);
        assert_eq!(open.delay_before(40), LONGEST);
    }

    #[test]
    fn the_peak_round_gives_the_plans_clients() {
        let mut big = Round::single("b", 2, ms(0));
        big.stages.push(stage(5, 0, 0));
        let plan = Plan {
            name: "p".into(),
            rounds: vec![Round::single("a", 3, ms(0)), big],
            variables: Vec::new(),
        };
        assert_eq!(plan.clients(), 7);
    }
}
