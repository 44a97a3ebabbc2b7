//! JSON and YAML text: telling them apart, reading them with errors that
//! name the file, line and key, and writing plans back.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_path_to_error::{Segment, Track};

use crate::error::ConfigError;
use crate::locate::{KeyPath, Seg};
use crate::plan::Plan;
use crate::plan_file::{Origin, PlanFile};

/// The text format of a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The format named by the file extension (`.json`, `.yaml`, `.yml`; any case).
    pub fn from_extension(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// The format of `text`: by extension when `path` has a known one,
    /// otherwise JSON when the first non-space character is `{`, else YAML.
    pub fn detect(path: Option<&Path>, text: &str) -> Format {
        if let Some(format) = path.and_then(Format::from_extension) {
            return format;
        }
        match strip_bom(text).trim_start().chars().next() {
            Some('{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

/// Reads, checks and builds the plan in `path` (JSON or YAML).
///
/// Errors name the file as given, the line and the key. `path:` payloads
/// are read relative to the plan file's directory.
pub fn load_plan(path: &Path) -> Result<Plan, ConfigError> {
    let text = read(path)?;
    let name = path.display().to_string();
    let format = Format::detect(Some(path), &text);
    let file = parse_plan(&text, &name, format)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    file.into_plan(
        Origin::new(&name)
            .with_base_dir(dir)
            .with_source(&text, format),
    )
}

/// Reads the plan in `path` without checking it (for `lps add`, which
/// appends to it and writes it back with [`save_plan_file`]).
pub fn load_plan_file(path: &Path) -> Result<PlanFile, ConfigError> {
    let text = read(path)?;
    let format = Format::detect(Some(path), &text);
    parse_plan(&text, &path.display().to_string(), format)
}

/// Parses plan text; `origin` is the file name used in messages.
///
/// Only the shape is checked here (keys, types); [`PlanFile::into_plan`]
/// checks the values.
pub fn parse_plan(text: &str, origin: &str, format: Format) -> Result<PlanFile, ConfigError> {
    deserialize(text, origin, format)
}

/// Writes `plan` to `path` as JSON when the extension is `.json`, else YAML.
pub fn save_plan_file(path: &Path, plan: &PlanFile) -> Result<(), ConfigError> {
    let format = Format::from_extension(path).unwrap_or(Format::Yaml);
    let text = to_text(plan, format, &path.display().to_string())?;
    std::fs::write(path, text).map_err(|source| ConfigError::Write {
        path: path.to_owned(),
        source,
    })
}

impl PlanFile {
    /// The plan as JSON or YAML text, ending in a newline; fields that are
    /// `None` are left out.
    pub fn to_text(&self, format: Format) -> Result<String, ConfigError> {
        to_text(self, format, &format!("plan {:?}", self.name))
    }
}

fn to_text(plan: &PlanFile, format: Format, what: &str) -> Result<String, ConfigError> {
    let serialize_error = |message: String| ConfigError::Serialize {
        file: what.to_owned(),
        message,
    };
    let mut text = match format {
        Format::Json => {
            serde_json::to_string_pretty(plan).map_err(|e| serialize_error(e.to_string()))?
        }
        Format::Yaml => {
            let options = serde_saphyr::ser_options! {
                // `rounds:` then indented `- name:` items, as people write them.
                compact_list_indent: false,
                // Folded (`>`) scalars re-wrap long payloads, and a payload
                // must come back byte for byte; quoted strings always do.
                prefer_block_scalars: false,
            };
            serde_saphyr::to_string_with_options(plan, options)
                .map_err(|e| serialize_error(e.to_string()))?
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(strip_bom(&text).to_owned())
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{FEFF}').unwrap_or(text)
}

/// Deserialises `text`, turning any error into a one-line
/// [`ConfigError::Syntax`] with the key path of the fault.
pub(crate) fn deserialize<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    format: Format,
) -> Result<T, ConfigError> {
    let text = strip_bom(text);
    let mut track = Track::new();
    match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = T::deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
                .and_then(|value| de.end().map(|()| value));
            value.map_err(|e| {
                let (line, column) = (e.line(), e.column());
                let full = e.to_string();
                let suffix = format!(" at line {line} column {column}");
                let message = full.strip_suffix(&suffix).unwrap_or(&full);
                syntax_error(origin, line, column, &track.path(), message)
            })
        }
        Format::Yaml => {
            let value = serde_saphyr::with_deserializer_from_str(text, |de| {
                T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
            });
            value.map_err(|e| {
                let (line, column, message) = yaml_error(e);
                syntax_error(origin, line, column, &track.path(), &message)
            })
        }
    }
}

/// A serde-saphyr error as line, column and a message without them (which
/// the caller puts first, with the file).
pub(crate) fn yaml_error(e: serde_saphyr::Error) -> (usize, usize, String) {
    let e = e.without_snippet();
    let (line, column) = e.location().map_or((0, 0), |location| {
        (to_usize(location.line()), to_usize(location.column()))
    });
    let full = e.to_string();
    let suffix = format!(" at line {line}, column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    // serde-saphyr's advice is about its own API, not the file.
    let message = if message.starts_with("multiple YAML documents detected") {
        "a plan is one YAML document; this file holds more (a second `---`?)"
    } else {
        message
    };
    (line, column, message.to_owned())
}

pub(crate) fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn syntax_error(
    origin: &str,
    line: usize,
    column: usize,
    path: &serde_path_to_error::Path,
    message: &str,
) -> ConfigError {
    let mut key = KeyPath(
        path.iter()
            .filter_map(|segment| match segment {
                Segment::Seq { index } => Some(Seg::Index(*index)),
                Segment::Map { key } => Some(Seg::Key(key.clone())),
                Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                Segment::Unknown => None,
            })
            .collect(),
    );
    // The path of an unknown key ends in that key, which the message names
    // already; name the map that holds it instead.
    if message.starts_with("unknown field") {
        key.0.pop();
    }
    let message = requote(
        &message
            .replace(", set DuplicateKeyPolicy in Options if acceptable", "")
            .replace(['\r', '\n'], " "),
    );
    ConfigError::Syntax {
        file: origin.to_owned(),
        line: line.max(1),
        column: column.max(1),
        key: key.to_string(),
        message,
    }
}

/// Rewrites serde's `name` quoting as "name", and drops it around numbers
/// and booleans (`integer `3`` becomes `integer 3`), so that quotes in a
/// message always mean text.
fn requote(message: &str) -> String {
    let parts: Vec<&str> = message.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unmatched backtick: leave the message as it is.
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len() + 2);
    for (i, part) in parts.iter().enumerate() {
        let inside = i % 2 == 1;
        let plain = part.parse::<f64>().is_ok() || *part == "true" || *part == "false";
        if inside && !plain {
            out.push('"');
            out.push_str(part);
            out.push('"');
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::plan::{HttpVersion, Mode};
    use crate::plan_file::{Headers, HttpRequestFile, IterationFile, IterationMode, RoundFile};

    /// A fresh directory for one test, removed by [`TempDir::drop`].
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("lps-config-{}-{name}", std::process::id()));
            // A leftover from an earlier run with the same pid may or may not exist.
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir is writable");
            TempDir(dir)
        }

        fn join(&self, file: &str) -> PathBuf {
            self.0.join(file)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            // Best effort: a leftover temp dir harms nothing.
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn example(file: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(file)
    }

    #[test]
    fn detects_format() {
        let cases = [
            (Some("p.json"), "name: x", Format::Json),
            (Some("p.YAML"), "{}", Format::Yaml),
            (Some("p.yml"), "{}", Format::Yaml),
            (Some("p.txt"), "  \n {\"name\": 1}", Format::Json),
            (Some("plan"), "\u{FEFF}{}", Format::Json),
            (None, "name: x", Format::Yaml),
            (None, "", Format::Yaml),
        ];
        for (path, text, expected) in cases {
            assert_eq!(
                Format::detect(path.map(Path::new), text),
                expected,
                "{path:?} {text:?}"
            );
        }
    }

    #[test]
    fn reports_yaml_syntax_errors() {
        let cases = [
            ("", "plan.yaml:1:1: unexpected end of input"),
            ("name: x\n", "plan.yaml:1:1: missing field \"rounds\""),
            (
                "name: x\nrounds: []\nnumberOfClient: 1\n",
                "plan.yaml:3:1: unknown field \"numberOfClient\", expected one of name, numberOfClients, rampupPeriod, delayClientCreation, runInParallel, rounds",
            ),
            (
                "name: x\nrounds:\n  - name: r\n    iteration: []\n",
                "plan.yaml:4:5: rounds[0]: unknown field \"iteration\", expected one of name, iterations",
            ),
            (
                "name: x\nrounds:\n  - name: r\n    iterations:\n      - name: a\n        requestCount: many\n",
                "plan.yaml:6:23: rounds[0].iterations[0].requestCount: invalid u64",
            ),
            (
                "name: x\nrounds:\n  - name: r\n    iterations:\n      - name: a\n        iterationMode: X\n",
                "plan.yaml:6:9: rounds[0].iterations[0].iterationMode: invalid value: string \"X\", expected one of R, D, CB, CRB, DCB",
            ),
            (
                "name: x\nrounds:\n  - name: r\n    iterations:\n      - name: a\n        httpRequest:\n          httpVersion: 3\n",
                "plan.yaml:7:11: rounds[0].iterations[0].httpRequest.httpVersion: invalid value: integer 3, expected one of 1.1, 2, 2.0",
            ),
            (
                "name: x\nrounds:\n  - name: r\n    iterations:\n      - name: a\n        httpRequest:\n          headers: [nocolon]\n",
                "plan.yaml:7:11: rounds[0].iterations[0].httpRequest.headers: invalid value: string \"nocolon\", expected \"Name: value\"",
            ),
            (
                "name: x\nrounds:\n  - name: r\n    iterations:\n      - name: a\n        httpRequest: {method: GET}\n",
                "plan.yaml:6:23: rounds[0].iterations[0].httpRequest: missing field \"url\"",
            ),
            (
                "name: x\nname: y\n",
                "plan.yaml:2:1: duplicate mapping key: name",
            ),
            ("name: [x\n", "plan.yaml:1:7: name: expected string scalar"),
        ];
        let wrong: Vec<(String, &str)> = cases
            .iter()
            .map(|(text, expected)| {
                let error = parse_plan(text, "plan.yaml", Format::Yaml).expect_err(text);
                (error.to_string(), *expected)
            })
            .filter(|(got, expected)| got != expected)
            .collect();
        assert_eq!(wrong, vec![]);
    }

    #[test]
    fn reports_json_syntax_errors() {
        let cases = [
            ("", "plan.json:1:1: EOF while parsing a value"),
            (
                "{\"name\": \"x\"}",
                "plan.json:1:13: missing field \"rounds\"",
            ),
            (
                "{\"name\": \"x\",\n  \"rounds\": [],\n  \"numberOfClient\": 1}",
                "plan.json:3:18: unknown field \"numberOfClient\", expected one of \"name\", \"numberOfClients\", \"rampupPeriod\", \"delayClientCreation\", \"runInParallel\", \"rounds\"",
            ),
            (
                "{\"name\": \"x\",\n \"rounds\": [{\"name\": \"r\",\n  \"iterations\": [{\"name\": \"a\", \"duration\": -1}]}]}",
                "plan.json:3:45: rounds[0].iterations[0].duration: invalid value: integer -1, expected u64",
            ),
            (
                "{\"name\": \"x\",\n \"numberOfClients\": \"4\"}",
                "plan.json:2:23: numberOfClients: invalid type: string \"4\", expected u32",
            ),
            (
                "{\"name\": \"x\", \"rounds\": []} trailing",
                "plan.json:1:29: trailing characters",
            ),
            ("{\"name\": \"x\",}", "plan.json:1:14: trailing comma"),
        ];
        let wrong: Vec<(String, &str)> = cases
            .iter()
            .map(|(text, expected)| {
                let error = parse_plan(text, "plan.json", Format::Json).expect_err(text);
                (error.to_string(), *expected)
            })
            .filter(|(got, expected)| got != expected)
            .collect();
        assert_eq!(wrong, vec![]);
    }

    #[test]
    fn requote_messages() {
        let cases = [
            (
                "unknown field `x`, expected `a`",
                "unknown field \"x\", expected \"a\"",
            ),
            ("invalid value: integer `3`", "invalid value: integer 3"),
            ("invalid type: boolean `true`", "invalid type: boolean true"),
            ("odd ` tick", "odd ` tick"),
            ("plain", "plain"),
        ];
        for (message, expected) in cases {
            assert_eq!(requote(message), expected);
        }
    }

    #[test]
    fn loads_the_examples() {
        // The examples are LPS 3.x plans, read and lowered as `lps run` does.
        let load3 = |file: &str| {
            let loaded = crate::lps3::load(&example(file)).expect("a valid example");
            assert_eq!(loaded.warnings, vec![], "{file}");
            crate::lps3::lower(loaded, file).expect("runs").plan
        };
        let quick = load3("quick.yaml");
        assert_eq!(quick.name, "Quick-Plan");
        assert_eq!(quick.clients(), 1);
        assert_eq!(quick.rounds.len(), 1);
        let home = &quick.rounds[0].iterations[0];
        assert_eq!(home.name, "home");
        assert_eq!(home.mode, Mode::Requests { requests: 100 });
        assert_eq!(home.request.target.url(), "http://127.0.0.1:8080/");

        let mixed = load3("mixed.json");
        assert_eq!(mixed.name, "Mixed-Plan");
        assert_eq!(mixed.clients(), 2);
        let ramp = &mixed.rounds[0].stages;
        assert_eq!(ramp[0].arrival_delay, Duration::from_millis(100));
        let summary: Vec<(&str, &str, Mode, &str, String)> = mixed
            .rounds
            .iter()
            .flat_map(|round| {
                round.iterations.iter().map(move |it| {
                    (
                        round.name.as_str(),
                        it.name.as_str(),
                        it.mode,
                        it.request.method.as_str(),
                        it.request.target.path_and_query.clone(),
                    )
                })
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "Warm-Up",
                    "home",
                    Mode::Requests { requests: 200 },
                    "GET",
                    "/".to_owned()
                ),
                (
                    "Warm-Up",
                    "bytes",
                    Mode::Duration {
                        duration: Duration::from_secs(1)
                    },
                    "GET",
                    "/bytes/1024".to_owned()
                ),
                (
                    "Echo",
                    "echo",
                    Mode::CooldownRequestBatch {
                        requests: 100,
                        batch: 10,
                        cooldown: Duration::from_millis(50)
                    },
                    "POST",
                    "/echo".to_owned()
                ),
            ]
        );
        let echo = &mixed.rounds[1].iterations[0].request;
        assert_eq!(echo.body, b"{\"hello\": \"lps\"}");
        assert_eq!(
            echo.headers,
            vec![
                ("Content-Type".to_owned(), "application/json".to_owned()),
                ("X-Test".to_owned(), "mixed".to_owned())
            ]
        );
    }

    fn sample_plan_file() -> PlanFile {
        PlanFile {
            name: "Round-Trip".into(),
            number_of_clients: Some(3),
            rampup_period: Some(250),
            delay_client_creation: Some(true),
            run_in_parallel: None,
            rounds: vec![RoundFile {
                name: "Round-1".into(),
                iterations: vec![
                    IterationFile {
                        name: "get".into(),
                        iteration_mode: Some(IterationMode::CB),
                        batch_size: Some(4),
                        cool_down_time: Some(10),
                        duration: Some(2),
                        maximize_throughput: Some(true),
                        http_request: HttpRequestFile {
                            url: "http://[::1]:8080/a?b=1".into(),
                            http_version: Some(HttpVersion::Http2),
                            headers: Headers(vec![
                                ("Accept".into(), "*/*".into()),
                                ("X-Num".into(), "5".into()),
                                ("X-Bool".into(), "true".into()),
                            ]),
                            ..HttpRequestFile::default()
                        },
                        ..IterationFile::default()
                    },
                    IterationFile {
                        name: "post".into(),
                        request_count: Some(5),
                        http_request: HttpRequestFile {
                            method: Some("POST".into()),
                            url: "https://example.test/echo".into(),
                            http_version: Some(HttpVersion::Http11),
                            payload: Some(
                                "line 1\n  line  2 with  double  spaces and a long tail that goes past eighty characters for sure\n\ttab \"q\" 'x' # not a comment: colon\n\n"
                                    .into(),
                            ),
                            ..HttpRequestFile::default()
                        },
                        ..IterationFile::default()
                    },
                ],
            }],
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = TempDir::new("round-trip");
        let file = sample_plan_file();
        for name in ["plan.yaml", "plan.json", "plan"] {
            let path = dir.join(name);
            save_plan_file(&path, &file).expect("writable");
            assert_eq!(load_plan_file(&path).expect(name), file, "{name}");
            let plan = load_plan(&path).expect(name);
            let expected = file.clone().into_plan(Origin::new(name)).expect("valid");
            assert_eq!(plan, expected, "{name}");
            // And back through the checked plan.
            save_plan_file(&path, &PlanFile::from_plan(&plan)).expect("writable");
            assert_eq!(load_plan(&path).expect(name), plan, "{name}");
        }
        let text = std::fs::read_to_string(dir.join("plan")).expect("written");
        assert!(
            text.starts_with("name: Round-Trip\n"),
            "no extension means YAML: {text}"
        );
    }

    #[test]
    fn create_add_load() {
        let dir = TempDir::new("create-add");
        let path = dir.join("test.yaml");
        // `lps create`: a plan with one round and no iterations yet.
        let created = PlanFile {
            name: "Created".into(),
            rounds: vec![RoundFile {
                name: "Round-1".into(),
                iterations: vec![],
            }],
            ..PlanFile::default()
        };
        save_plan_file(&path, &created).expect("writable");
        // `lps add`: append an iteration.
        let mut file = load_plan_file(&path).expect("just written");
        file.rounds[0].iterations.push(IterationFile {
            name: "home".into(),
            request_count: Some(10),
            http_request: HttpRequestFile {
                url: "http://127.0.0.1:8080/".into(),
                ..HttpRequestFile::default()
            },
            ..IterationFile::default()
        });
        save_plan_file(&path, &file).expect("writable");
        let text = std::fs::read_to_string(&path).expect("written");
        assert_eq!(
            text,
            "name: Created\nrounds:\n  - name: Round-1\n    iterations:\n      - name: home\n        requestCount: 10\n        httpRequest:\n          url: http://127.0.0.1:8080/\n"
        );
        let plan = load_plan(&path).expect("valid");
        assert_eq!(
            plan.rounds[0].iterations[0].mode,
            Mode::Requests { requests: 10 }
        );
    }

    #[test]
    fn payload_path_is_relative_to_the_plan() {
        let dir = TempDir::new("payload");
        std::fs::write(dir.join("body.bin"), [0u8, 159, 146, 150]).expect("writable");
        let plan_path = dir.join("plan.json");
        std::fs::write(
            &plan_path,
            r#"{"name": "P", "rounds": [{"name": "R", "iterations": [{"name": "a", "requestCount": 1,
              "httpRequest": {"method": "PUT", "url": "http://h/", "payload": "path:body.bin"}}]}]}"#,
        )
        .expect("writable");
        let plan = load_plan(&plan_path).expect("valid");
        assert_eq!(
            plan.rounds[0].iterations[0].request.body,
            vec![0u8, 159, 146, 150]
        );
    }

    #[test]
    fn missing_file_is_a_read_error() {
        let error = load_plan(Path::new("/nonexistent/plan.yaml")).expect_err("no such file");
        assert_eq!(
            error.to_string(),
            "/nonexistent/plan.yaml: cannot read: No such file or directory (os error 2)"
        );
    }
}
