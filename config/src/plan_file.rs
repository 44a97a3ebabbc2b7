//! The on-disk plan: what a user writes, before it is checked.
//!
//! [`PlanFile`] mirrors the LPS plan file (camelCase keys, JSON or YAML);
//! every field that has a default is optional, and unknown keys are refused.
//! [`PlanFile::into_plan`] checks it and builds the [`Plan`] the engine runs;
//! [`PlanFile::from_plan`] goes the other way for `lps create` / `lps add`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::format::Format;
use crate::locate::{self, KeyPath};
use crate::plan::{
    HttpRequest, HttpVersion, Iteration, LONGEST, MOST_CLIENTS, Mode, Plan, Round, Scheme, Stage,
    Target,
};

/// Prefix of a payload that names a file instead of holding the body.
pub const PAYLOAD_PATH_PREFIX: &str = "path:";

/// A plan as written in a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanFile {
    pub name: String,
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_clients: Option<u32>,
    /// Milliseconds between client starts; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rampup_period: Option<u64>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_client_creation: Option<bool>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_in_parallel: Option<bool>,
    pub rounds: Vec<RoundFile>,
}

/// A round as written in a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoundFile {
    pub name: String,
    pub iterations: Vec<IterationFile>,
}

/// An iteration (HTTP run) as written in a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IterationFile {
    pub name: String,
    /// Default `R`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration_mode: Option<IterationMode>,
    /// Requests per client; modes R and CRB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_count: Option<u64>,
    /// Seconds; modes D and DCB, optional for CB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// Requests per batch; modes CB, CRB and DCB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Milliseconds between batches; modes CB, CRB and DCB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cool_down_time: Option<u64>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximize_throughput: Option<bool>,
    pub http_request: HttpRequestFile,
}

/// A request as written in a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRequestFile {
    /// Default `GET`; upper-cased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub url: String,
    /// Default 1.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_version: Option<HttpVersion>,
    #[serde(default, skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    /// Inline body, or `path:FILE` relative to the plan file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// The LPS iteration mode codes, as written in a file or on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IterationMode {
    R,
    D,
    CB,
    CRB,
    DCB,
}

impl IterationMode {
    pub const ALL: [IterationMode; 5] = [
        IterationMode::R,
        IterationMode::D,
        IterationMode::CB,
        IterationMode::CRB,
        IterationMode::DCB,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            IterationMode::R => "R",
            IterationMode::D => "D",
            IterationMode::CB => "CB",
            IterationMode::CRB => "CRB",
            IterationMode::DCB => "DCB",
        }
    }

    /// The code of a checked mode.
    pub fn of(mode: &Mode) -> IterationMode {
        match mode {
            Mode::Requests { .. } => IterationMode::R,
            Mode::Duration { .. } => IterationMode::D,
            Mode::CooldownBatch { .. } => IterationMode::CB,
            Mode::CooldownRequestBatch { .. } => IterationMode::CRB,
            Mode::DurationCooldownBatch { .. } => IterationMode::DCB,
        }
    }
}

impl fmt::Display for IterationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`IterationMode::from_str`] and [`HttpVersion::from_str`]: the
/// text given and the values accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{given}\" is not one of {expected}")]
pub struct UnknownValue {
    pub given: String,
    pub expected: &'static str,
}

const MODE_EXPECTED: &str = "R, D, CB, CRB, DCB";
const VERSION_EXPECTED: &str = "1.1, 2, 2.0";

impl FromStr for IterationMode {
    type Err = UnknownValue;

    /// Case-insensitive: `cb` is `CB`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        IterationMode::ALL
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| UnknownValue {
                given: text.to_owned(),
                expected: MODE_EXPECTED,
            })
    }
}

impl Serialize for IterationMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IterationMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModeVisitor;

        impl Visitor<'_> for ModeVisitor {
            type Value = IterationMode;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "one of {MODE_EXPECTED}")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<IterationMode, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }
        }

        deserializer.deserialize_str(ModeVisitor)
    }
}

impl FromStr for HttpVersion {
    type Err = UnknownValue;

    /// `1.1`, `2` or `2.0` (an `HTTP/` prefix is accepted).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let bare = match (trimmed.get(..5), trimmed.get(5..)) {
            (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case("http/") => rest,
            _ => trimmed,
        };
        match bare {
            "1.1" => Ok(HttpVersion::Http11),
            "2" | "2.0" => Ok(HttpVersion::Http2),
            _ => Err(UnknownValue {
                given: text.to_owned(),
                expected: VERSION_EXPECTED,
            }),
        }
    }
}

impl Serialize for HttpVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HttpVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionVisitor;

        impl Visitor<'_> for VersionVisitor {
            type Value = HttpVersion;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "one of {VERSION_EXPECTED}")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HttpVersion, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HttpVersion, E> {
                match v {
                    2 => Ok(HttpVersion::Http2),
                    _ => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HttpVersion, E> {
                match v {
                    2 => Ok(HttpVersion::Http2),
                    _ => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HttpVersion, E> {
                // 1.1 and 2.0 are exact in their decimal spelling, so the
                // parsed doubles compare equal to the literals.
                if v == 1.1 {
                    Ok(HttpVersion::Http11)
                } else if v == 2.0 {
                    Ok(HttpVersion::Http2)
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }
        }

        deserializer.deserialize_any(VersionVisitor)
    }
}

/// Request headers in the order given.
///
/// Read from a map (`{"Accept": "text/plain"}`) or a list of `"Name: value"`
/// strings; written as a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits a `Name: value` line (the form of `-h` and of the list form);
    /// the value is trimmed, the name is kept as written so that a bad name
    /// is reported rather than repaired.
    pub fn split_line(line: &str) -> Option<(String, String)> {
        let (name, value) = line.split_once(':')?;
        Some((name.to_owned(), value.trim().to_owned()))
    }
}

impl From<Vec<(String, String)>> for Headers {
    fn from(headers: Vec<(String, String)>) -> Self {
        Headers(headers)
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;

        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to values, or a list of \"Name: value\" strings")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Headers, E> {
                Ok(Headers::default())
            }

            fn visit_none<E: de::Error>(self) -> Result<Headers, E> {
                Ok(Headers::default())
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut headers = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, ScalarText>()? {
                    headers.push((name, value.0));
                }
                Ok(Headers(headers))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
                let mut headers = Vec::new();
                while let Some(line) = seq.next_element::<String>()? {
                    let header = Headers::split_line(&line).ok_or_else(|| {
                        de::Error::invalid_value(Unexpected::Str(&line), &"\"Name: value\"")
                    })?;
                    headers.push(header);
                }
                Ok(Headers(headers))
            }
        }

        deserializer.deserialize_any(HeadersVisitor)
    }
}

/// A header value: a string, or a number or boolean taken as its text
/// (YAML reads `X-Count: 5` as a number).
struct ScalarText(String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl Visitor<'_> for TextVisitor {
            type Value = ScalarText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header value")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<ScalarText, E> {
                Ok(ScalarText(String::new()))
            }
        }

        deserializer.deserialize_any(TextVisitor)
    }
}

/// Where a [`PlanFile`] came from: the name used in messages, the directory
/// `path:` payloads are relative to, and the text (to find lines of faults).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    name: &'a str,
    base_dir: Option<&'a Path>,
    source: Option<(&'a str, Format)>,
}

impl<'a> Origin<'a> {
    /// A plan with no file behind it (e.g. `command line`): errors carry no
    /// line, and `path:` payloads are relative to the working directory.
    pub fn new(name: &'a str) -> Self {
        Origin {
            name,
            base_dir: None,
            source: None,
        }
    }

    /// Resolve `path:` payloads relative to `dir`.
    pub fn with_base_dir(mut self, dir: &'a Path) -> Self {
        self.base_dir = Some(dir);
        self
    }

    /// The text the plan was parsed from, so that errors carry its lines.
    pub fn with_source(mut self, text: &'a str, format: Format) -> Self {
        self.source = Some((text, format));
        self
    }

    pub fn name(&self) -> &str {
        self.name
    }

    /// Builds an [`ConfigError::Invalid`] for the item `key`, locating the
    /// line from the candidate key paths (the deepest match wins).
    fn invalid(&self, at: &[KeyPath], key: &str, message: String) -> ConfigError {
        let line = self
            .source
            .and_then(|(text, format)| locate::line_of_any(text, format, at));
        ConfigError::Invalid {
            file: self.name.to_owned(),
            line,
            key: key.to_owned(),
            message,
        }
    }
}

/// Where a fault is while checking an item (plan, round or iteration).
struct Item<'o> {
    origin: &'o Origin<'o>,
    /// Key path of the item in the text.
    path: KeyPath,
    /// The item as shown in messages: `rounds[0].iterations[1] "home"`;
    /// empty for the plan itself, whose keys stand alone.
    label: String,
}

impl Item<'_> {
    /// A fault at `key` inside the item.
    fn error(&self, key: &str, message: impl fmt::Display) -> ConfigError {
        self.error_at(&[self.path.key(key)], key, message)
    }

    /// A fault inside the item, at the first of `at` that exists in the text.
    fn error_at(&self, at: &[KeyPath], key: &str, message: impl fmt::Display) -> ConfigError {
        if self.label.is_empty() {
            self.origin.invalid(at, key, message.to_string())
        } else {
            self.origin
                .invalid(at, &self.label, format!("{key} {message}"))
        }
    }
}

impl PlanFile {
    /// Checks the plan and builds what the engine runs.
    ///
    /// Fails on the first fault, naming the item, key and (when `origin`
    /// has the text) the line.
    pub fn into_plan(self, origin: Origin<'_>) -> Result<Plan, ConfigError> {
        let plan_item = Item {
            origin: &origin,
            path: KeyPath::default(),
            label: String::new(),
        };
        let clients = self.check_top_level(&plan_item)?;
        // (name, where it was first used) for the duplicate check across rounds.
        let mut seen: Vec<(String, String)> = Vec::new();
        let rampup = Duration::from_millis(self.rampup_period.unwrap_or(0));
        let mut rounds = Vec::with_capacity(self.rounds.len());
        for (r, round) in self.rounds.into_iter().enumerate() {
            // The plan-level load becomes every round's: LPS 3.x runs rounds
            // one after another, each with its own clients.
            let mut round = round.check(r, &origin, &mut seen)?;
            round.stages = vec![Stage {
                clients,
                arrival_delay: rampup,
                startup_delay: Duration::ZERO,
            }];
            round.delay_client_creation = self.delay_client_creation.unwrap_or(false);
            round.run_in_parallel = self.run_in_parallel.unwrap_or(true);
            rounds.push(round);
        }
        Ok(Plan {
            name: self.name,
            rounds,
            variables: Vec::new(),
        })
    }

    /// Checks the plan's own keys; returns the number of clients.
    fn check_top_level(&self, plan_item: &Item<'_>) -> Result<u32, ConfigError> {
        check_name(plan_item, &self.name)?;
        let clients = self.number_of_clients.unwrap_or(1);
        if clients == 0 {
            return Err(plan_item.error("numberOfClients", "must be at least 1"));
        }
        if clients > MOST_CLIENTS {
            return Err(plan_item.error(
                "numberOfClients",
                format_args!("must be at most {MOST_CLIENTS}"),
            ));
        }
        if self.rampup_period.unwrap_or(0) > LONGEST.as_millis() as u64 {
            return Err(plan_item.error(
                "rampupPeriod",
                too_long("milliseconds", LONGEST.as_millis()),
            ));
        }
        if self.rounds.is_empty() {
            return Err(plan_item.error("rounds", "must not be empty"));
        }
        Ok(clients)
    }

    /// The file form of a checked plan, every field written out. The older
    /// format has the load at plan level: the first round's is written
    /// (its first stage's clients and arrival delay).
    ///
    /// Durations are written in whole seconds (rounded up) and milliseconds;
    /// a body becomes an inline payload (invalid UTF-8 is replaced, and a body
    /// that starts with `path:` would be read back as a file name).
    pub fn from_plan(plan: &Plan) -> PlanFile {
        let first = plan.rounds.first();
        let stage = first.and_then(|r| r.stages.first());
        PlanFile {
            name: plan.name.clone(),
            number_of_clients: Some(stage.map_or(1, |s| s.clients)),
            rampup_period: Some(millis(stage.map_or(Duration::ZERO, |s| s.arrival_delay))),
            delay_client_creation: Some(first.is_some_and(|r| r.delay_client_creation)),
            run_in_parallel: Some(first.is_none_or(|r| r.run_in_parallel)),
            rounds: plan
                .rounds
                .iter()
                .map(|round| RoundFile {
                    name: round.name.clone(),
                    iterations: round
                        .iterations
                        .iter()
                        .map(IterationFile::from_iteration)
                        .collect(),
                })
                .collect(),
        }
    }
}

impl RoundFile {
    /// Checks round `r` and its iterations; `seen` holds the iteration names
    /// used so far in the plan, with where, and gains this round's.
    fn check(
        self,
        r: usize,
        origin: &Origin<'_>,
        seen: &mut Vec<(String, String)>,
    ) -> Result<Round, ConfigError> {
        let round_path = KeyPath::default().key("rounds").index(r);
        let round_item = Item {
            origin,
            label: format!("{round_path} {:?}", self.name),
            path: round_path,
        };
        check_name(&round_item, &self.name)?;
        if self.iterations.is_empty() {
            return Err(round_item.error("iterations", "must not be empty"));
        }
        let mut iterations = Vec::with_capacity(self.iterations.len());
        for (i, iteration) in self.iterations.into_iter().enumerate() {
            let path = round_item.path.key("iterations").index(i);
            let item = Item {
                origin,
                label: format!("{path} {:?}", iteration.name),
                path,
            };
            check_name(&item, &iteration.name)?;
            if let Some((_, first)) = seen.iter().find(|(name, _)| *name == iteration.name) {
                return Err(item.error("name", format_args!("is already used by {first}")));
            }
            seen.push((iteration.name.clone(), item.path.to_string()));
            iterations.push(iteration.check(&item)?);
        }
        let mut round = Round::single(self.name, 1, Duration::ZERO);
        round.iterations = iterations;
        Ok(round)
    }
}

impl IterationFile {
    /// The file form of a checked iteration.
    pub fn from_iteration(iteration: &Iteration) -> IterationFile {
        let mut file = IterationFile {
            name: iteration.name.clone(),
            iteration_mode: Some(IterationMode::of(&iteration.mode)),
            maximize_throughput: Some(iteration.maximize_throughput),
            http_request: HttpRequestFile::from_request(&iteration.request),
            ..IterationFile::default()
        };
        match iteration.mode {
            Mode::Requests { requests } => file.request_count = Some(requests),
            Mode::Duration { duration } => file.duration = Some(seconds(duration)),
            Mode::CooldownBatch {
                batch,
                cooldown,
                duration,
            } => {
                file.batch_size = Some(batch);
                file.cool_down_time = Some(millis(cooldown));
                file.duration = duration.map(seconds);
            }
            Mode::CooldownRequestBatch {
                requests,
                batch,
                cooldown,
            } => {
                file.request_count = Some(requests);
                file.batch_size = Some(batch);
                file.cool_down_time = Some(millis(cooldown));
            }
            Mode::DurationCooldownBatch {
                duration,
                batch,
                cooldown,
            } => {
                file.duration = Some(seconds(duration));
                file.batch_size = Some(batch);
                file.cool_down_time = Some(millis(cooldown));
            }
        }
        file
    }

    fn check(self, item: &Item<'_>) -> Result<Iteration, ConfigError> {
        let code = self.iteration_mode.unwrap_or(IterationMode::R);
        let mode = self.mode(code, item)?;
        let request = self.http_request.check(item)?;
        Ok(Iteration {
            name: self.name,
            mode,
            maximize_throughput: self.maximize_throughput.unwrap_or(false),
            startup_delay: Duration::ZERO,
            request,
            script: None,
            failure_rules: Vec::new(),
            termination_rules: Vec::new(),
        })
    }

    /// The checked mode: its required numbers present and not zero.
    fn mode(&self, code: IterationMode, item: &Item<'_>) -> Result<Mode, ConfigError> {
        let needs = required_keys(code);
        self.check_present(code, needs, item)?;
        let requests = match (self.request_count, needs.contains(&"requestCount")) {
            (Some(0), true) => return Err(item.error("requestCount", "must be at least 1")),
            (count, _) => count.unwrap_or(0),
        };
        let batch = match (self.batch_size, needs.contains(&"batchSize")) {
            (Some(0), true) => return Err(item.error("batchSize", "must be at least 1")),
            (size, _) => size.unwrap_or(0),
        };
        let duration = self.checked_duration(code, item)?;
        let cooldown = self.checked_cooldown(item)?;
        Ok(build_mode(code, requests, batch, duration, cooldown))
    }

    /// Fails when a key in `needs` is absent, naming every missing one.
    fn check_present(
        &self,
        code: IterationMode,
        needs: &[&str],
        item: &Item<'_>,
    ) -> Result<(), ConfigError> {
        let missing: Vec<&str> = needs
            .iter()
            .copied()
            .filter(|key| match *key {
                "requestCount" => self.request_count.is_none(),
                "duration" => self.duration.is_none(),
                "batchSize" => self.batch_size.is_none(),
                _ => self.cool_down_time.is_none(),
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let default = if self.iteration_mode.is_none() {
            " (the default)"
        } else {
            ""
        };
        Err(item.error(
            "iterationMode",
            format_args!("{code}{default} requires {}", and_list(&missing)),
        ))
    }

    /// `duration` at most a year, and not zero in the modes that run for it.
    fn checked_duration(
        &self,
        code: IterationMode,
        item: &Item<'_>,
    ) -> Result<Option<Duration>, ConfigError> {
        let uses_duration = matches!(
            code,
            IterationMode::D | IterationMode::DCB | IterationMode::CB
        );
        match (self.duration, uses_duration) {
            (Some(0), true) => Err(item.error("duration", "must be at least 1 second")),
            (Some(seconds), _) if seconds > LONGEST.as_secs() => {
                Err(item.error("duration", too_long("seconds", LONGEST.as_secs().into())))
            }
            (seconds, _) => Ok(seconds.map(Duration::from_secs)),
        }
    }

    /// `coolDownTime` (0 when absent), at most a year.
    fn checked_cooldown(&self, item: &Item<'_>) -> Result<Duration, ConfigError> {
        match self.cool_down_time.unwrap_or(0) {
            ms if ms > LONGEST.as_millis() as u64 => Err(item.error(
                "coolDownTime",
                too_long("milliseconds", LONGEST.as_millis()),
            )),
            ms => Ok(Duration::from_millis(ms)),
        }
    }
}

/// The keys mode `code` cannot do without.
fn required_keys(code: IterationMode) -> &'static [&'static str] {
    match code {
        IterationMode::R => &["requestCount"],
        IterationMode::D => &["duration"],
        IterationMode::CB => &["batchSize", "coolDownTime"],
        IterationMode::CRB => &["requestCount", "batchSize", "coolDownTime"],
        IterationMode::DCB => &["duration", "batchSize", "coolDownTime"],
    }
}

/// The mode `code` with its checked numbers; those it does not use are dropped.
fn build_mode(
    code: IterationMode,
    requests: u64,
    batch: u32,
    duration: Option<Duration>,
    cooldown: Duration,
) -> Mode {
    // `check_present` guarantees that `duration` is Some for D and DCB; the
    // zero is never used.
    let required_duration = duration.unwrap_or_default();
    match code {
        IterationMode::R => Mode::Requests { requests },
        IterationMode::D => Mode::Duration {
            duration: required_duration,
        },
        IterationMode::CB => Mode::CooldownBatch {
            batch,
            cooldown,
            duration,
        },
        IterationMode::CRB => Mode::CooldownRequestBatch {
            requests,
            batch,
            cooldown,
        },
        IterationMode::DCB => Mode::DurationCooldownBatch {
            duration: required_duration,
            batch,
            cooldown,
        },
    }
}

impl HttpRequestFile {
    /// The file form of a checked request.
    pub fn from_request(request: &HttpRequest) -> HttpRequestFile {
        HttpRequestFile {
            method: Some(request.method.clone()),
            url: request.target.url(),
            http_version: Some(request.version),
            headers: Headers(request.headers.clone()),
            payload: (!request.body.is_empty())
                .then(|| String::from_utf8_lossy(&request.body).into_owned()),
        }
    }

    fn check(self, item: &Item<'_>) -> Result<HttpRequest, ConfigError> {
        let at = item.path.key("httpRequest");
        let error = |key: &str, message: String| {
            item.error_at(&[at.key(key)], &format!("httpRequest.{key}"), message)
        };
        let method = match self.method {
            None => "GET".to_owned(),
            Some(method) => {
                let upper = method.trim().to_ascii_uppercase();
                if !is_token(&upper) {
                    return Err(error(
                        "method",
                        format!("{method:?} is not a valid HTTP method"),
                    ));
                }
                upper
            }
        };
        let target =
            Target::parse(&self.url).map_err(|e| error("url", format!("{:?}: {e}", self.url)))?;
        check_headers(&self.headers, item, &at)?;
        let body = match self.payload {
            None => Vec::new(),
            Some(payload) => match payload.strip_prefix(PAYLOAD_PATH_PREFIX) {
                Some(file) => read_payload(file, item.origin)
                    .map_err(|(path, e)| error("payload", format!("cannot read {path:?}: {e}")))?,
                None => payload.into_bytes(),
            },
        };
        Ok(HttpRequest {
            method,
            headers: self.headers.0,
            body,
            // The older format's HTTP/2 over `http://` has always been h2c
            // with prior knowledge; it keeps that meaning.
            version: match (self.http_version, target.scheme) {
                (Some(HttpVersion::Http2), Scheme::Http) => HttpVersion::H2c,
                (v, _) => v.unwrap_or(HttpVersion::Http11),
            },
            target,
            retry: None,
            client_identity: None,
        })
    }
}

/// True for `Content-Length` and `Transfer-Encoding` (any case): the headers
/// that frame a request's body. lps sends the payload with its own
/// `Content-Length`; one of the user's would replace it while the body went
/// out unchanged, and the server would read the rest as further requests.
pub fn is_framing_header(name: &str) -> bool {
    ["content-length", "transfer-encoding"]
        .iter()
        .any(|h| name.trim().eq_ignore_ascii_case(h))
}

/// Refuses a header whose name is not a token, that frames the body (lps
/// does), or whose value holds a line break or control character; `at` is
/// the key path of `httpRequest`.
fn check_headers(headers: &Headers, item: &Item<'_>, at: &KeyPath) -> Result<(), ConfigError> {
    for (i, (name, value)) in headers.0.iter().enumerate() {
        let at_header = [
            at.key("headers").key(name.clone()),
            at.key("headers").index(i),
        ];
        let header_error =
            |message: String| item.error_at(&at_header, "httpRequest.headers", message);
        if !is_token(name) {
            return Err(header_error(format!("{name:?} is not a valid header name")));
        }
        if is_framing_header(name) {
            return Err(header_error(format!(
                "{name:?} is not allowed: lps frames the payload itself (Content-Length)"
            )));
        }
        if value.contains(['\r', '\n']) {
            return Err(header_error(format!(
                "{name:?} has a line break in its value"
            )));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(header_error(format!(
                "{name:?} has a control character in its value"
            )));
        }
    }
    Ok(())
}

/// The body a `path:` payload names, relative to the plan's directory; on
/// failure, the path as shown to the user and why.
fn read_payload(file: &str, origin: &Origin<'_>) -> Result<Vec<u8>, (String, std::io::Error)> {
    let file = file.trim();
    let path = match origin.base_dir {
        Some(dir) => dir.join(file),
        None => PathBuf::from(file),
    };
    std::fs::read(&path).map_err(|e| (path.display().to_string(), e))
}

fn check_name(item: &Item<'_>, name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(item.error("name", "must not be empty"));
    }
    Ok(())
}

/// An RFC 9110 token: the syntax of methods and header names.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

/// A byte that may appear in an RFC 9110 token (`tchar`). `const`, so that
/// the engine builds its header-name table from it at compile time.
pub const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// The message for a value past [`LONGEST`], given in `unit`s.
fn too_long(unit: &str, longest: u128) -> String {
    format!("must be at most {longest} {unit} (a year)")
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(duration: Duration) -> u64 {
    let whole = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::parse_plan;

    /// Parses and checks YAML text as `plan.yaml`, with lines.
    fn check_yaml(text: &str) -> Result<Plan, ConfigError> {
        parse_plan(text, "plan.yaml", Format::Yaml)?
            .into_plan(Origin::new("plan.yaml").with_source(text, Format::Yaml))
    }

    fn check_json(text: &str) -> Result<Plan, ConfigError> {
        parse_plan(text, "plan.json", Format::Json)?
            .into_plan(Origin::new("plan.json").with_source(text, Format::Json))
    }

    /// A one-iteration plan; `body` holds the iteration's keys after
    /// `- name: home` (line 6), one per line from line 7, unindented.
    fn one_iteration(body: &str) -> String {
        let mut text = String::from(
            "name: Demo\nnumberOfClients: 2\nrounds:\n  - name: Round-1\n    iterations:\n      - name: home\n",
        );
        for line in body.lines() {
            text.push_str("        ");
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    fn target(url: &str) -> Target {
        Target::parse(url).expect("valid in the test")
    }

    #[test]
    fn parses_every_mode() {
        let text = "\
name: Modes
rounds:
  - name: Round-1
    iterations:
      - name: r
        iterationMode: R
        requestCount: 1000
        httpRequest: {url: http://h/}
      - name: d
        iterationMode: d
        duration: 10
        httpRequest: {url: http://h/}
      - name: cb
        iterationMode: Cb
        batchSize: 10
        coolDownTime: 100
        maximizeThroughput: true
        httpRequest: {url: http://h/}
      - name: cb-timed
        iterationMode: CB
        batchSize: 5
        coolDownTime: 0
        duration: 3
        httpRequest: {url: http://h/}
      - name: crb
        iterationMode: CRB
        requestCount: 50
        batchSize: 10
        coolDownTime: 100
        httpRequest: {url: http://h/}
      - name: dcb
        iterationMode: DCB
        duration: 2
        batchSize: 4
        coolDownTime: 250
        httpRequest: {url: http://h/}
      - name: default-mode
        requestCount: 7
        httpRequest: {url: http://h/}
";
        let plan = check_yaml(text).expect("valid plan");
        let modes: Vec<(&str, Mode, bool)> = plan.rounds[0]
            .iterations
            .iter()
            .map(|it| (it.name.as_str(), it.mode, it.maximize_throughput))
            .collect();
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        assert_eq!(
            modes,
            vec![
                ("r", Mode::Requests { requests: 1000 }, false),
                ("d", Mode::Duration { duration: s(10) }, false),
                (
                    "cb",
                    Mode::CooldownBatch {
                        batch: 10,
                        cooldown: ms(100),
                        duration: None
                    },
                    true
                ),
                (
                    "cb-timed",
                    Mode::CooldownBatch {
                        batch: 5,
                        cooldown: ms(0),
                        duration: Some(s(3))
                    },
                    false
                ),
                (
                    "crb",
                    Mode::CooldownRequestBatch {
                        requests: 50,
                        batch: 10,
                        cooldown: ms(100)
                    },
                    false
                ),
                (
                    "dcb",
                    Mode::DurationCooldownBatch {
                        duration: s(2),
                        batch: 4,
                        cooldown: ms(250)
                    },
                    false
                ),
                ("default-mode", Mode::Requests { requests: 7 }, false),
            ]
        );
    }

    #[test]
    fn applies_defaults() {
        let text = one_iteration("requestCount: 1\nhttpRequest:\n  url: http://127.0.0.1:8080/");
        let plan = check_yaml(&text).expect("valid plan");
        let expected = Plan {
            name: "Demo".into(),
            rounds: vec![Round {
                // The plan-level load of the older format, as the round's.
                stages: vec![Stage {
                    clients: 2,
                    arrival_delay: Duration::ZERO,
                    startup_delay: Duration::ZERO,
                }],
                run_in_parallel: true,
                iterations: vec![Iteration {
                    name: "home".into(),
                    mode: Mode::Requests { requests: 1 },
                    maximize_throughput: false,
                    startup_delay: Duration::ZERO,
                    request: HttpRequest {
                        method: "GET".into(),
                        target: target("http://127.0.0.1:8080/"),
                        headers: vec![],
                        body: vec![],
                        version: HttpVersion::Http11,
                        retry: None,
                        client_identity: None,
                    },
                    script: None,
                    failure_rules: Vec::new(),
                    termination_rules: Vec::new(),
                }],
                ..Round::single("Round-1", 1, Duration::ZERO)
            }],
            variables: Vec::new(),
        };
        assert_eq!(plan, expected);
    }

    #[test]
    fn reads_request_fields() {
        // The older format's 2.0 over http:// is h2c, as it always was.
        let cases = [
            // (httpRequest keys, method, headers, body, version)
            (
                "method: post\nurl: http://h/echo\nhttpVersion: \"2.0\"\npayload: hi",
                "POST",
                vec![],
                "hi",
                HttpVersion::H2c,
            ),
            (
                "url: http://h/\nhttpVersion: 2",
                "GET",
                vec![],
                "",
                HttpVersion::H2c,
            ),
            (
                "url: http://h/\nhttpVersion: 2.0",
                "GET",
                vec![],
                "",
                HttpVersion::H2c,
            ),
            (
                "url: http://h/\nhttpVersion: 1.1",
                "GET",
                vec![],
                "",
                HttpVersion::Http11,
            ),
            (
                "url: http://h/\nhttpVersion: HTTP/1.1",
                "GET",
                vec![],
                "",
                HttpVersion::Http11,
            ),
            (
                "url: http://h/\nheaders:\n  Accept: text/plain\n  X-Count: 5",
                "GET",
                vec![("Accept", "text/plain"), ("X-Count", "5")],
                "",
                HttpVersion::Http11,
            ),
            (
                "url: http://h/\nheaders:\n  - 'Accept: text/plain'\n  - 'X-Empty:'\n  - 'X-Time: 12:30'",
                "GET",
                vec![
                    ("Accept", "text/plain"),
                    ("X-Empty", ""),
                    ("X-Time", "12:30"),
                ],
                "",
                HttpVersion::Http11,
            ),
        ];
        for (request, method, headers, body, version) in cases {
            let mut keys = String::from("requestCount: 1\nhttpRequest:\n");
            for line in request.lines() {
                keys.push_str("  ");
                keys.push_str(line);
                keys.push('\n');
            }
            let plan = check_yaml(&one_iteration(&keys)).expect(request);
            let got = &plan.rounds[0].iterations[0].request;
            let headers: Vec<(String, String)> = headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(got.method, method, "{request}");
            assert_eq!(got.headers, headers, "{request}");
            assert_eq!(got.body, body.as_bytes(), "{request}");
            assert_eq!(got.version, version, "{request}");
        }
    }

    #[test]
    fn reports_iteration_errors_with_line() {
        const URL: &str = "httpRequest:\n  url: http://h/";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("iterationMode: R\n{URL}"),
                "plan.yaml:7: rounds[0].iterations[0] \"home\": iterationMode R requires requestCount",
            ),
            (
                URL.to_owned(),
                "plan.yaml:6: rounds[0].iterations[0] \"home\": iterationMode R (the default) requires requestCount",
            ),
            (
                format!("iterationMode: D\n{URL}"),
                "plan.yaml:7: rounds[0].iterations[0] \"home\": iterationMode D requires duration",
            ),
            (
                format!("iterationMode: CB\ncoolDownTime: 10\n{URL}"),
                "plan.yaml:7: rounds[0].iterations[0] \"home\": iterationMode CB requires batchSize",
            ),
            (
                format!("iterationMode: cb\n{URL}"),
                "plan.yaml:7: rounds[0].iterations[0] \"home\": iterationMode CB requires batchSize and coolDownTime",
            ),
            (
                format!("iterationMode: CRB\n{URL}"),
                "plan.yaml:7: rounds[0].iterations[0] \"home\": iterationMode CRB requires requestCount, batchSize and coolDownTime",
            ),
            (
                format!("iterationMode: DCB\nbatchSize: 1\ncoolDownTime: 1\n{URL}"),
                "plan.yaml:7: rounds[0].iterations[0] \"home\": iterationMode DCB requires duration",
            ),
            (
                format!("iterationMode: R\nrequestCount: 0\n{URL}"),
                "plan.yaml:8: rounds[0].iterations[0] \"home\": requestCount must be at least 1",
            ),
            (
                format!("iterationMode: CRB\nrequestCount: 0\nbatchSize: 1\ncoolDownTime: 1\n{URL}"),
                "plan.yaml:8: rounds[0].iterations[0] \"home\": requestCount must be at least 1",
            ),
            (
                format!("iterationMode: CB\nbatchSize: 0\ncoolDownTime: 1\n{URL}"),
                "plan.yaml:8: rounds[0].iterations[0] \"home\": batchSize must be at least 1",
            ),
            (
                format!("iterationMode: D\nduration: 0\n{URL}"),
                "plan.yaml:8: rounds[0].iterations[0] \"home\": duration must be at least 1 second",
            ),
            (
                format!("iterationMode: CB\nbatchSize: 1\ncoolDownTime: 1\nduration: 0\n{URL}"),
                "plan.yaml:10: rounds[0].iterations[0] \"home\": duration must be at least 1 second",
            ),
            (
                format!("iterationMode: DCB\nduration: 0\nbatchSize: 1\ncoolDownTime: 1\n{URL}"),
                "plan.yaml:8: rounds[0].iterations[0] \"home\": duration must be at least 1 second",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: ftp://h/".to_owned(),
                "plan.yaml:9: rounds[0].iterations[0] \"home\": httpRequest.url \"ftp://h/\": scheme \"ftp\" is not http or https",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  method: GET\n  url: http:///x".to_owned(),
                "plan.yaml:10: rounds[0].iterations[0] \"home\": httpRequest.url \"http:///x\": missing host",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h:99999/".to_owned(),
                "plan.yaml:9: rounds[0].iterations[0] \"home\": httpRequest.url \"http://h:99999/\": invalid port \"99999\"",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  method: GE T\n  url: http://h/".to_owned(),
                "plan.yaml:9: rounds[0].iterations[0] \"home\": httpRequest.method \"GE T\" is not a valid HTTP method",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  method: ''\n  url: http://h/".to_owned(),
                "plan.yaml:9: rounds[0].iterations[0] \"home\": httpRequest.method \"\" is not a valid HTTP method",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  headers:\n    Accept: a\n    Bad Name: x"
                    .to_owned(),
                "plan.yaml:12: rounds[0].iterations[0] \"home\": httpRequest.headers \"Bad Name\" is not a valid header name",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  headers:\n    - 'Accept: a'\n    - 'Bad(Name): x'"
                    .to_owned(),
                "plan.yaml:12: rounds[0].iterations[0] \"home\": httpRequest.headers \"Bad(Name)\" is not a valid header name",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  headers:\n    X-A: \"a\\r\\nInjected: b\""
                    .to_owned(),
                "plan.yaml:11: rounds[0].iterations[0] \"home\": httpRequest.headers \"X-A\" has a line break in its value",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  headers:\n    Accept: a\n    content-LENGTH: 0"
                    .to_owned(),
                "plan.yaml:12: rounds[0].iterations[0] \"home\": httpRequest.headers \"content-LENGTH\" is not allowed: lps frames the payload itself (Content-Length)",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  headers:\n    - 'Transfer-Encoding: chunked'"
                    .to_owned(),
                "plan.yaml:11: rounds[0].iterations[0] \"home\": httpRequest.headers \"Transfer-Encoding\" is not allowed: lps frames the payload itself (Content-Length)",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  headers:\n    X-A: \"a\\0b\"".to_owned(),
                "plan.yaml:11: rounds[0].iterations[0] \"home\": httpRequest.headers \"X-A\" has a control character in its value",
            ),
            (
                "requestCount: 1\nhttpRequest:\n  url: http://h/\n  payload: path:no-such-file.bin".to_owned(),
                "plan.yaml:10: rounds[0].iterations[0] \"home\": httpRequest.payload cannot read \"no-such-file.bin\": No such file or directory (os error 2)",
            ),
        ];
        for (body, expected) in cases {
            let text = one_iteration(&body);
            let error = check_yaml(&text).expect_err(&body);
            assert_eq!(error.to_string(), expected, "{text}");
        }
    }

    #[test]
    fn reports_plan_and_round_errors_with_line() {
        let cases = [
            (
                "name: Demo\nnumberOfClients: 0\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 1\n        httpRequest: {url: http://h/}\n",
                "plan.yaml:2: numberOfClients: must be at least 1",
            ),
            (
                "name: Demo\nrounds: []\n",
                "plan.yaml:2: rounds: must not be empty",
            ),
            (
                "name: ' '\nrounds: []\n",
                "plan.yaml:1: name: must not be empty",
            ),
            (
                "name: Demo\nrounds:\n  - name: R\n    iterations: []\n",
                "plan.yaml:4: rounds[0] \"R\": iterations must not be empty",
            ),
            (
                "name: Demo\nrounds:\n  - name: ''\n    iterations: []\n",
                "plan.yaml:3: rounds[0] \"\": name must not be empty",
            ),
            (
                "name: Demo\nrounds:\n  - name: R\n    iterations:\n      - name: ''\n        requestCount: 1\n        httpRequest: {url: http://h/}\n",
                "plan.yaml:5: rounds[0].iterations[0] \"\": name must not be empty",
            ),
            (
                "name: Demo
rounds:
  - name: R1
    iterations:
      - name: home
        requestCount: 1
        httpRequest: {url: http://h/}
  - name: R2
    iterations:
      - name: other
        requestCount: 1
        httpRequest: {url: http://h/}
      - name: home
        requestCount: 1
        httpRequest: {url: http://h/}
",
                "plan.yaml:13: rounds[1].iterations[1] \"home\": name is already used by rounds[0].iterations[0]",
            ),
        ];
        for (text, expected) in cases {
            let error = check_yaml(text).expect_err(text);
            assert_eq!(error.to_string(), expected, "{text}");
        }
    }

    #[test]
    fn reports_errors_with_json_lines() {
        let text = r#"{
  "name": "Demo",
  "rounds": [
    {
      "name": "R1",
      "iterations": [
        {
          "name": "home",
          "iterationMode": "CRB",
          "requestCount": 10,
          "batchSize": 0,
          "coolDownTime": 5,
          "httpRequest": { "url": "http://h/" }
        }
      ]
    }
  ]
}"#;
        let error = check_json(text).expect_err("batchSize 0");
        assert_eq!(
            error.to_string(),
            "plan.json:11: rounds[0].iterations[0] \"home\": batchSize must be at least 1"
        );
        let text = text
            .replace("\"batchSize\": 0", "\"batchSize\": 2")
            .replace(
                "{ \"url\": \"http://h/\" }",
                "{\n \"url\": \"http://h/\",\n \"headers\": [\"A: b\", \"C D: e\"]\n }",
            );
        let error = check_json(&text).expect_err("bad header");
        assert_eq!(
            error.to_string(),
            "plan.json:15: rounds[0].iterations[0] \"home\": httpRequest.headers \"C D\" is not a valid header name"
        );
    }

    #[test]
    fn errors_without_source_have_no_line() {
        let file = PlanFile {
            name: "Quick-Test-Plan".into(),
            number_of_clients: Some(0),
            rounds: vec![],
            ..PlanFile::default()
        };
        let error = file
            .into_plan(Origin::new("command line"))
            .expect_err("zero clients");
        assert_eq!(
            error.to_string(),
            "command line: numberOfClients: must be at least 1"
        );
    }

    #[test]
    fn mode_and_version_from_str() {
        let modes = [
            ("r", Ok(IterationMode::R)),
            (" dcb ", Ok(IterationMode::DCB)),
            ("Crb", Ok(IterationMode::CRB)),
        ];
        for (text, expected) in modes {
            assert_eq!(text.parse::<IterationMode>(), expected, "{text}");
        }
        assert_eq!(
            "X".parse::<IterationMode>().map_err(|e| e.to_string()),
            Err("\"X\" is not one of R, D, CB, CRB, DCB".to_owned())
        );
        let versions = [
            ("1.1", Ok(HttpVersion::Http11)),
            ("2", Ok(HttpVersion::Http2)),
            ("2.0", Ok(HttpVersion::Http2)),
            ("http/2", Ok(HttpVersion::Http2)),
        ];
        for (text, expected) in versions {
            assert_eq!(text.parse::<HttpVersion>(), expected, "{text}");
        }
        assert_eq!(
            "3".parse::<HttpVersion>().map_err(|e| e.to_string()),
            Err("\"3\" is not one of 1.1, 2, 2.0".to_owned())
        );
    }

    #[test]
    fn from_plan_writes_every_field() {
        let plan = check_yaml(&one_iteration(
            "iterationMode: DCB\nduration: 2\nbatchSize: 3\ncoolDownTime: 40\nhttpRequest:\n  method: PUT\n  url: https://h:8443/x?y=1\n  headers: {A: b}\n  payload: body",
        ))
        .expect("valid plan");
        let file = PlanFile::from_plan(&plan);
        let expected = PlanFile {
            name: "Demo".into(),
            number_of_clients: Some(2),
            rampup_period: Some(0),
            delay_client_creation: Some(false),
            run_in_parallel: Some(true),
            rounds: vec![RoundFile {
                name: "Round-1".into(),
                iterations: vec![IterationFile {
                    name: "home".into(),
                    iteration_mode: Some(IterationMode::DCB),
                    request_count: None,
                    duration: Some(2),
                    batch_size: Some(3),
                    cool_down_time: Some(40),
                    maximize_throughput: Some(false),
                    http_request: HttpRequestFile {
                        method: Some("PUT".into()),
                        url: "https://h:8443/x?y=1".into(),
                        http_version: Some(HttpVersion::Http11),
                        headers: Headers(vec![("A".into(), "b".into())]),
                        payload: Some("body".into()),
                    },
                }],
            }],
        };
        assert_eq!(file, expected);
        assert_eq!(
            file.into_plan(Origin::new("copy")).expect("checked before"),
            plan
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_secs(3)), 3);
        assert!(is_token("X-Custom_1"));
        assert!(!is_token("X Custom"));
        assert!(!is_token(""));
    }
}
