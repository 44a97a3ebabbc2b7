//! Editing an LPS 3.x plan file as `lps create`, `round`, `iteration`,
//! `capture` and `variable` do: load it, upsert one item, check the result
//! with [`parse`](super::parse), write it back in its format.
//!
//! The file is edited as its tree, so what lps does not model (stages,
//! rules, retries, expressions) is kept as written. Every value is written
//! as a string, which LPS's JSON reader requires and its YAML reader
//! accepts; keys are LPS's property names (`httpMethod`, `httpHeaders`,
//! `httpVersion`, `startupDelay`), which both of LPS's readers know. A key
//! that is not given is left out, as LPS omits defaults.

use std::path::{Path, PathBuf};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::load::{Loaded, parse};
use crate::error::ConfigError;
use crate::format::{self, Format};
use crate::tree::{self, Entry, Node, Value};

/// Why an edit cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The plan has no round of that name (matched case-insensitively).
    #[error("{file}: no round named {name:?}")]
    NoRound { file: String, name: String },
    /// No iteration of that name in the round, or among the plan's.
    #[error("{file}: no iteration named {name:?} {place}")]
    NoIteration {
        file: String,
        name: String,
        place: String,
    },
    /// The plan the edit makes fails LPS's checks; the file is unchanged.
    /// The line is the one in the plan as it would have been written.
    #[error("{file}: not written: {source}")]
    NotWritten {
        file: String,
        #[source]
        source: ConfigError,
    },
    /// A key the edit must descend into holds something else than a
    /// mapping or a list.
    #[error("{file}: {key} is not a {expected}; edit it by hand")]
    Shape {
        file: String,
        key: String,
        expected: &'static str,
    },
}

/// A round's keys as `lps round` sets them; `None` leaves a key out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundSpec {
    pub name: String,
    pub base_url: Option<String>,
    pub startup_delay: Option<String>,
    pub number_of_clients: Option<String>,
    pub arrival_delay: Option<String>,
    pub delay_client_creation: Option<String>,
    pub run_in_parallel: Option<String>,
    pub tags: Vec<String>,
}

/// An iteration's keys as `lps iteration` (and the quick test) sets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IterationSpec {
    pub name: String,
    pub startup_delay: Option<String>,
    pub mode: Option<String>,
    pub request_count: Option<String>,
    pub duration: Option<String>,
    pub batch_size: Option<String>,
    pub cool_down_time: Option<String>,
    pub maximize_throughput: Option<String>,
    pub request: RequestSpec,
    /// `failureRules` and `terminationRules`: each replaces the iteration's
    /// list when given, and leaves it as it is when empty.
    pub failure_rules: Vec<RuleSpec>,
    pub termination_rules: Vec<RuleSpec>,
}

/// A rule as the command line gives it (`-fr`, `-tr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSpec {
    pub metric: String,
    pub grace_period: Option<String>,
    pub error_status_codes: Option<String>,
}

/// The `httpRequest` keys an iteration command sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestSpec {
    pub url: Option<String>,
    pub method: Option<String>,
    pub version: Option<String>,
    /// In order; written as the `httpHeaders` mapping.
    pub headers: Vec<(String, String)>,
    /// A Raw payload's text.
    pub payload: Option<String>,
    pub save_response: Option<String>,
    pub download_html_embedded_resources: Option<String>,
    pub support_h2c: Option<String>,
    pub client_certificate_path: Option<String>,
    pub client_certificate_password: Option<String>,
}

/// `httpRequest.capture` as `lps capture` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureSpec {
    pub to: String,
    pub as_type: Option<String>,
    pub make_global: Option<String>,
    pub regex: Option<String>,
}

/// A variable as `lps variable` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VariableSpec {
    pub name: String,
    pub value: String,
    pub as_type: Option<String>,
    pub regex: Option<String>,
}

/// An LPS 3.x plan file being edited.
#[derive(Debug, Clone)]
pub struct Document {
    path: PathBuf,
    format: Format,
    root: Node,
}

impl Document {
    /// Reads the plan at `path`.
    pub fn open(path: &Path) -> Result<Document, ConfigError> {
        let text = format::read(path)?;
        let format = Format::detect(Some(path), &text);
        let mut root = tree::parse(&text, &path.display().to_string(), format)?;
        if root.is_null() {
            root = Node::empty(1);
        }
        Ok(Document {
            path: path.to_owned(),
            format,
            root,
        })
    }

    /// Reads the plan at `path`, or starts an empty one when there is no
    /// file (`lps create`; YAML unless the name ends in `.json`).
    pub fn open_or_new(path: &Path) -> Result<Document, ConfigError> {
        if path.exists() {
            return Document::open(path);
        }
        Ok(Document::new(
            path,
            Format::from_extension(path).unwrap_or(Format::Yaml),
        ))
    }

    /// An empty plan that will be saved to `path` as `format`.
    pub fn new(path: &Path, format: Format) -> Document {
        Document {
            path: path.to_owned(),
            format,
            root: Node::empty(1),
        }
    }

    /// Sets the plan's `name`.
    pub fn set_name(&mut self, name: &str) -> Result<(), EditError> {
        let root = self.map_at_root()?;
        set(root, &["name"], text(name));
        Ok(())
    }

    /// Sets the plan's name when it has none (`lps round` on a new file,
    /// as LPS does with `Default`).
    pub fn name_if_missing(&mut self, name: &str) -> Result<(), EditError> {
        let root = self.map_at_root()?;
        if find(root, &["name"]).is_none() {
            set(root, &["name"], text(name));
        }
        Ok(())
    }

    /// Adds the round, or replaces the keys of the one of the same name
    /// (case-insensitive): keys not given are removed, stages and
    /// iterations are kept.
    pub fn upsert_round(&mut self, spec: &RoundSpec) -> Result<(), EditError> {
        let file = self.file();
        let rounds = list_at(self.map_at_root()?, "rounds", &file)?;
        let round = match position_by_name(rounds, &spec.name) {
            Some(i) => &mut rounds[i],
            None => {
                rounds.push(Node::empty(0));
                rounds.last_mut().expect("just pushed")
            }
        };
        let map = as_map(round, &format!("round {:?}", spec.name), &file)?;
        let keys: [(&[&str], Option<Node>); 8] = [
            (&["name"], Some(text(&spec.name))),
            (&["baseUrl"], spec.base_url.as_deref().map(text)),
            (&["startupDelay"], spec.startup_delay.as_deref().map(text)),
            (
                &["numberOfClients"],
                spec.number_of_clients.as_deref().map(text),
            ),
            (&["arrivalDelay"], spec.arrival_delay.as_deref().map(text)),
            (
                &["delayClientCreationUntilIsNeeded"],
                spec.delay_client_creation.as_deref().map(text),
            ),
            (
                &["runInParallel"],
                spec.run_in_parallel.as_deref().map(text),
            ),
            (
                &["tags"],
                (!spec.tags.is_empty()).then(|| texts(&spec.tags)),
            ),
        ];
        for (names, value) in keys {
            put(map, names, value);
        }
        Ok(())
    }

    /// Adds or replaces (by name, case-insensitive) an iteration in round
    /// `round`'s inline iterations, or among the plan's iterations when
    /// `round` is `None`. The iteration's other keys (rules, expressions,
    /// `retry`, `capture`) are kept.
    pub fn upsert_iteration(
        &mut self,
        round: Option<&str>,
        spec: &IterationSpec,
    ) -> Result<(), EditError> {
        let file = self.file();
        let list = match round {
            Some(round) => {
                let map = self.round_map(round)?;
                list_at(map, "iterations", &file)?
            }
            None => list_at(self.map_at_root()?, "iterations", &file)?,
        };
        let item = match position_by_name(list, &spec.name) {
            Some(i) => &mut list[i],
            None => {
                list.push(Node::empty(0));
                list.last_mut().expect("just pushed")
            }
        };
        let map = as_map(item, &format!("iteration {:?}", spec.name), &file)?;
        write_iteration(map, spec, &file)
    }

    /// Appends `name` to round `round`'s `reference` list, once.
    pub fn add_reference(&mut self, round: &str, name: &str) -> Result<(), EditError> {
        let file = self.file();
        let map = self.round_map(round)?;
        let refs = list_at(map, "reference", &file)?;
        let present = refs
            .iter()
            .any(|n| matches!(&n.value, Value::Text(t) if t.eq_ignore_ascii_case(name)));
        if !present {
            refs.push(text(name));
        }
        Ok(())
    }

    /// Sets `httpRequest.capture` of iteration `iteration`: the first of
    /// that name in round `round`, or among the plan's iterations.
    pub fn set_capture(
        &mut self,
        round: Option<&str>,
        iteration: &str,
        spec: &CaptureSpec,
    ) -> Result<(), EditError> {
        let file = self.file();
        let (list, place) = match round {
            Some(round) => (
                list_at(self.round_map(round)?, "iterations", &file)?,
                format!("in round {round:?}"),
            ),
            None => (
                list_at(self.map_at_root()?, "iterations", &file)?,
                "among the plan's iterations".to_owned(),
            ),
        };
        let Some(i) = position_by_name(list, iteration) else {
            return Err(EditError::NoIteration {
                file,
                name: iteration.to_owned(),
                place,
            });
        };
        let map = as_map(&mut list[i], iteration, &file)?;
        let request = map_at(map, &["httpRequest"], "httpRequest", &file)?;
        let mut capture = vec![entry("to", text(&spec.to))];
        let optional = [
            ("as", &spec.as_type),
            ("makeGlobal", &spec.make_global),
            ("regex", &spec.regex),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                capture.push(entry(key, text(value)));
            }
        }
        set(request, &["capture"], node(Value::Map(capture)));
        Ok(())
    }

    /// Adds or replaces (by name, case-insensitive) a variable among the
    /// plan's `variables`, or in each of `environments` (created when
    /// missing).
    pub fn upsert_variable(
        &mut self,
        environments: &[String],
        spec: &VariableSpec,
    ) -> Result<(), EditError> {
        let file = self.file();
        let root = self.map_at_root()?;
        if environments.is_empty() {
            return upsert_variable_in(list_at(root, "variables", &file)?, spec, &file);
        }
        let envs = list_at(root, "environments", &file)?;
        for env in environments {
            let i = match position_by_name(envs, env) {
                Some(i) => i,
                None => {
                    envs.push(node(Value::Map(vec![entry("name", text(env))])));
                    envs.len() - 1
                }
            };
            let map = as_map(&mut envs[i], &format!("environment {env:?}"), &file)?;
            upsert_variable_in(list_at(map, "variables", &file)?, spec, &file)?;
        }
        Ok(())
    }

    /// The plan as text in its format, ending in a newline.
    pub fn to_text(&self) -> Result<String, ConfigError> {
        let serialize_error = |message: String| ConfigError::Serialize {
            file: self.file(),
            message,
        };
        let mut text = match self.format {
            Format::Json => serde_json::to_string_pretty(&self.root)
                .map_err(|e| serialize_error(e.to_string()))?,
            Format::Yaml => {
                let options = serde_saphyr::ser_options! {
                    compact_list_indent: false,
                    // A payload must come back byte for byte.
                    prefer_block_scalars: false,
                };
                serde_saphyr::to_string_with_options(&self.root, options)
                    .map_err(|e| serialize_error(e.to_string()))?
            }
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(text)
    }

    /// The plan as LPS would load it, with lps's checks.
    pub fn check(&self) -> Result<Loaded, ConfigError> {
        let text = self.to_text()?;
        parse(&text, &self.file(), self.format, self.dir())
    }

    /// Checks the plan and writes it; nothing is written when the check
    /// fails.
    pub fn save(&self) -> Result<Loaded, EditError> {
        let loaded = self.check().map_err(|source| EditError::NotWritten {
            file: self.file(),
            source,
        })?;
        let text = self.to_text()?;
        std::fs::write(&self.path, text).map_err(|source| ConfigError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(loaded)
    }

    fn file(&self) -> String {
        self.path.display().to_string()
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        }
    }

    fn map_at_root(&mut self) -> Result<&mut Vec<Entry>, EditError> {
        let file = self.file();
        as_map(&mut self.root, "the plan", &file)
    }

    fn round_map(&mut self, round: &str) -> Result<&mut Vec<Entry>, EditError> {
        let file = self.file();
        let rounds = list_at(self.map_at_root()?, "rounds", &file)?;
        let Some(i) = position_by_name(rounds, round) else {
            return Err(EditError::NoRound {
                file,
                name: round.to_owned(),
            });
        };
        as_map(&mut rounds[i], &format!("round {round:?}"), &file)
    }
}

/// Writes the iteration's keys over `map`, replacing every spelling of
/// each (LPS matches iteration and request keys case-insensitively, with
/// aliases).
fn write_iteration(
    map: &mut Vec<Entry>,
    spec: &IterationSpec,
    file: &str,
) -> Result<(), EditError> {
    let keys: [(&[&str], &Option<String>); 7] = [
        (&["startupDelay", "delay"], &spec.startup_delay),
        (&["mode"], &spec.mode),
        (&["requestCount"], &spec.request_count),
        (&["duration"], &spec.duration),
        (&["batchSize"], &spec.batch_size),
        (&["coolDownTime"], &spec.cool_down_time),
        (&["maximizeThroughput"], &spec.maximize_throughput),
    ];
    put(map, &["name"], Some(text(&spec.name)));
    for (names, value) in keys {
        put(map, names, value.as_deref().map(text));
    }
    write_rules(map, spec);
    let request = map_at(map, &["httpRequest"], "httpRequest", file)?;
    let r = &spec.request;
    let headers = r
        .headers
        .iter()
        .map(|(name, value)| entry(name, text(value)))
        .collect::<Vec<_>>();
    let payload = r.payload.as_deref().map(|raw| {
        node(Value::Map(vec![
            entry("type", text("Raw")),
            entry("raw", text(raw)),
        ]))
    });
    let keys: [(&[&str], Option<Node>); 10] = [
        (&["url"], r.url.as_deref().map(text)),
        (&["httpMethod", "method"], r.method.as_deref().map(text)),
        (&["httpVersion", "version"], r.version.as_deref().map(text)),
        (
            &["httpHeaders", "headers"],
            (!headers.is_empty()).then(|| node(Value::Map(headers))),
        ),
        (&["payload"], payload),
        (&["saveResponse"], r.save_response.as_deref().map(text)),
        (
            &["downloadHtmlEmbeddedResources"],
            r.download_html_embedded_resources.as_deref().map(text),
        ),
        (&["supportH2C"], r.support_h2c.as_deref().map(text)),
        (
            &["clientCertificatePath"],
            r.client_certificate_path.as_deref().map(text),
        ),
        (
            &["clientCertificatePassword"],
            r.client_certificate_password.as_deref().map(text),
        ),
    ];
    for (names, value) in keys {
        put(request, names, value);
    }
    Ok(())
}

fn upsert_variable_in(
    list: &mut Vec<Node>,
    spec: &VariableSpec,
    file: &str,
) -> Result<(), EditError> {
    let i = match position_by_name(list, &spec.name) {
        Some(i) => i,
        None => {
            list.push(Node::empty(0));
            list.len() - 1
        }
    };
    let map = as_map(&mut list[i], &format!("variable {:?}", spec.name), file)?;
    // Variables are replaced whole: LPS's variable keys are exactly these.
    map.clear();
    map.push(entry("name", text(&spec.name)));
    map.push(entry("value", text(&spec.value)));
    if let Some(as_type) = &spec.as_type {
        map.push(entry("as", text(as_type)));
    }
    if let Some(regex) = &spec.regex {
        map.push(entry("regex", text(regex)));
    }
    Ok(())
}

fn node(value: Value) -> Node {
    Node { line: 0, value }
}

fn text(s: &str) -> Node {
    node(Value::Text(s.to_owned()))
}

/// The iteration's rule lists the spec gives; those it does not are kept.
fn write_rules(map: &mut Vec<Entry>, spec: &IterationSpec) {
    for (key, rules) in [
        ("failureRules", &spec.failure_rules),
        ("terminationRules", &spec.termination_rules),
    ] {
        if !rules.is_empty() {
            put(map, &[key], Some(rule_list(rules)));
        }
    }
}

/// Rules as LPS writes them: `metric`, then `gracePeriod` and
/// `errorStatusCodes` when given.
fn rule_list(rules: &[RuleSpec]) -> Node {
    let rule = |r: &RuleSpec| {
        let mut keys = vec![entry("metric", text(&r.metric))];
        if let Some(g) = &r.grace_period {
            keys.push(entry("gracePeriod", text(g)));
        }
        if let Some(c) = &r.error_status_codes {
            keys.push(entry("errorStatusCodes", text(c)));
        }
        node(Value::Map(keys))
    };
    node(Value::List(rules.iter().map(rule).collect()))
}

fn texts(items: &[String]) -> Node {
    node(Value::List(items.iter().map(|s| text(s)).collect()))
}

fn entry(key: &str, node: Node) -> Entry {
    Entry {
        key: key.to_owned(),
        line: 0,
        node,
    }
}

/// The first entry whose key is one of `names`, case-insensitively.
fn find<'m>(map: &'m mut [Entry], names: &[&str]) -> Option<&'m mut Entry> {
    map.iter_mut()
        .find(|e| names.iter().any(|n| n.eq_ignore_ascii_case(&e.key)))
}

/// Sets `names[0]` to `value`, in place of the first spelling present.
fn set(map: &mut Vec<Entry>, names: &[&str], value: Node) {
    put(map, names, Some(value));
}

/// Replaces every spelling of a key by `names[0]: value` where the first
/// one was (at the end when absent), or removes them all when `None`.
fn put(map: &mut Vec<Entry>, names: &[&str], value: Option<Node>) {
    let matches = |e: &Entry| names.iter().any(|n| n.eq_ignore_ascii_case(&e.key));
    let first = map.iter().position(matches);
    map.retain(|e| !matches(e));
    if let Some(value) = value {
        // A new key goes before the nested items, where people write it.
        let nested = [
            "stages",
            "iterations",
            "reference",
            "httpRequest",
            "capture",
        ];
        let before_nested = map.iter().position(|e| nested.contains(&e.key.as_str()));
        let at = first.or(before_nested).unwrap_or(map.len()).min(map.len());
        map.insert(at, entry(names[0], value));
    }
}

fn as_map<'n>(node: &'n mut Node, what: &str, file: &str) -> Result<&'n mut Vec<Entry>, EditError> {
    if node.is_null() {
        node.value = Value::Map(Vec::new());
    }
    match &mut node.value {
        Value::Map(entries) => Ok(entries),
        _ => Err(EditError::Shape {
            file: file.to_owned(),
            key: what.to_owned(),
            expected: "mapping",
        }),
    }
}

/// The mapping under `names` in `map`, created when absent or null.
fn map_at<'m>(
    map: &'m mut Vec<Entry>,
    names: &[&str],
    what: &str,
    file: &str,
) -> Result<&'m mut Vec<Entry>, EditError> {
    if find(map, names).is_none() {
        map.push(entry(names[0], Node::empty(0)));
    }
    let entry = find(map, names).expect("present or just added");
    as_map(&mut entry.node, what, file)
}

/// The list under `key` (exact camelCase: plan and round keys are exact in
/// LPS), created when absent or null.
fn list_at<'m>(
    map: &'m mut Vec<Entry>,
    key: &str,
    file: &str,
) -> Result<&'m mut Vec<Node>, EditError> {
    if !map.iter().any(|e| e.key == key) {
        map.push(entry(key, node(Value::List(Vec::new()))));
    }
    let entry = map
        .iter_mut()
        .find(|e| e.key == key)
        .expect("present or just added");
    if entry.node.is_null() {
        entry.node.value = Value::List(Vec::new());
    }
    match &mut entry.node.value {
        Value::List(items) => Ok(items),
        _ => Err(EditError::Shape {
            file: file.to_owned(),
            key: key.to_owned(),
            expected: "list",
        }),
    }
}

/// The item of `list` whose `name` is `name`, case-insensitively.
fn position_by_name(list: &[Node], name: &str) -> Option<usize> {
    list.iter().position(|item| match &item.value {
        Value::Map(entries) => entries.iter().any(|e| {
            e.key == "name"
                && matches!(&e.node.value, Value::Text(t) if t.eq_ignore_ascii_case(name))
        }),
        _ => false,
    })
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => serializer.serialize_unit(),
            Value::Text(text) => serializer.serialize_str(text),
            Value::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for e in entries {
                    map.serialize_entry(&e.key, &e.node)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lps3::{HttpVersion, Payload};
    use crate::plan::Mode;

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    fn round() -> RoundSpec {
        RoundSpec {
            name: "Warm".into(),
            base_url: some("http://127.0.0.1:9"),
            startup_delay: some("250"),
            number_of_clients: some("3"),
            arrival_delay: some("40"),
            delay_client_creation: some("true"),
            run_in_parallel: None,
            tags: vec!["smoke".into(), "fast".into()],
        }
    }

    fn iteration(name: &str) -> IterationSpec {
        IterationSpec {
            name: name.into(),
            mode: some("CRB"),
            request_count: some("10"),
            batch_size: some("5"),
            cool_down_time: some("20"),
            startup_delay: some("7"),
            maximize_throughput: None,
            duration: None,
            request: RequestSpec {
                url: some("/echo"),
                method: some("POST"),
                headers: vec![("X-A".into(), " 1".into())],
                payload: some("ping: 5"),
                ..RequestSpec::default()
            },
            failure_rules: Vec::new(),
            termination_rules: Vec::new(),
        }
    }

    #[test]
    fn create_round_iteration_read_back_in_both_formats() {
        for ext in ["yaml", "json"] {
            let dir = std::env::temp_dir().join(format!("lps-edit-{}-{ext}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("plan.{ext}"));
            let _ = std::fs::remove_file(&path);
            let mut doc = Document::open_or_new(&path).unwrap();
            doc.set_name("Edited").unwrap();
            doc.upsert_round(&round()).unwrap();
            doc.upsert_iteration(Some("warm"), &iteration("post"))
                .unwrap();
            doc.save().unwrap();

            let loaded = crate::lps3::load(&path).unwrap();
            assert_eq!(loaded.warnings, []);
            let plan = loaded.plan;
            assert_eq!(plan.name, "Edited");
            let r = &plan.rounds[0];
            assert_eq!(
                (r.name.as_str(), r.clients, r.startup_delay, r.arrival_delay),
                (
                    "Warm",
                    3,
                    Duration::from_millis(250),
                    Duration::from_millis(40)
                )
            );
            assert!(r.delay_client_creation && !r.run_in_parallel);
            assert_eq!(r.tags, ["smoke", "fast"]);
            let it = &r.iterations[0];
            assert_eq!(
                it.mode,
                Mode::CooldownRequestBatch {
                    requests: 10,
                    batch: 5,
                    cooldown: Duration::from_millis(20),
                }
            );
            assert_eq!(it.startup_delay, Duration::from_millis(7));
            assert_eq!(it.request.url, "http://127.0.0.1:9/echo");
            assert_eq!(it.request.method, "POST");
            assert_eq!(it.request.version, HttpVersion::Http2);
            assert_eq!(it.request.headers, [("X-A".to_owned(), " 1".to_owned())]);
            assert_eq!(it.request.payload, Payload::Raw("ping: 5".into()));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn an_update_replaces_every_spelling_and_keeps_what_lps_does_not_model() {
        let dir = std::env::temp_dir().join(format!("lps-edit-keep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.yaml");
        std::fs::write(
            &path,
            "name: P\nrounds:\n  - name: R\n    stages:\n      - numberOfClients: 2\n    iterations:\n      \
             - name: post\n        DELAY: 9\n        mode: R\n        requestCount: 1\n        \
             failureRules:\n          - metric: ErrorRate > 0.5\n        httpRequest:\n          \
             METHOD: GET\n          headers: { Old: x }\n          url: http://127.0.0.1:9/\n          \
             retry: { maxRetries: 2 }\n",
        )
        .unwrap();
        let mut doc = Document::open(&path).unwrap();
        doc.upsert_iteration(Some("r"), &iteration("POST")).unwrap();
        doc.upsert_round(&RoundSpec {
            name: "R".into(),
            ..RoundSpec::default()
        })
        .unwrap();
        let text = doc.to_text().unwrap();
        for gone in ["DELAY", "METHOD", "headers:", "Old"] {
            assert!(!text.contains(gone), "{gone} left in:\n{text}");
        }
        for kept in [
            "stages:",
            "failureRules:",
            "retry:",
            "startupDelay: \"7\"",
            "httpMethod: POST",
        ] {
            assert!(text.contains(kept), "{kept} lost from:\n{text}");
        }
        // The new URL is relative and the round has no baseUrl: nothing is written.
        assert!(doc.save().is_err());
        assert!(std::fs::read_to_string(&path).unwrap().contains("DELAY"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rules_given_replace_the_iteration_s_and_rules_not_given_are_kept() {
        let dir = std::env::temp_dir().join(format!("lps-edit-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plan.yaml");
        std::fs::write(
            &path,
            "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: get\n        \
             failureRules:\n          - metric: ErrorRate > 0.5\n        httpRequest:\n          \
             url: http://127.0.0.1:9/\n",
        )
        .unwrap();
        let mut spec = iteration("get");
        spec.request.url = Some("http://127.0.0.1:9/x".into());
        spec.termination_rules = vec![RuleSpec {
            metric: "TotalTime.P90 > 500".into(),
            grace_period: Some("00:00:05".into()),
            error_status_codes: None,
        }];
        let mut doc = Document::open(&path).unwrap();
        doc.upsert_iteration(Some("R"), &spec).unwrap();
        doc.save().unwrap();
        let plan = super::super::load(&path).unwrap().plan;
        let it = &plan.rounds[0].iterations[0];
        // The failure rule, not given, stays; the termination rule is written.
        assert_eq!(
            it.failure_rules[0].metric.as_deref(),
            Some("ErrorRate > 0.5")
        );
        let t = &it.termination_rules[0];
        assert_eq!(t.metric.as_deref(), Some("TotalTime.P90 > 500"));
        assert_eq!(t.grace_period.as_deref(), Some("00:00:05"));
        // Given, a list replaces the one there.
        spec.failure_rules = vec![RuleSpec {
            metric: "ErrorRate > 0.1".into(),
            grace_period: None,
            error_status_codes: Some(">= 500".into()),
        }];
        let mut doc = Document::open(&path).unwrap();
        doc.upsert_iteration(Some("R"), &spec).unwrap();
        doc.save().unwrap();
        let plan = super::super::load(&path).unwrap().plan;
        let f = &plan.rounds[0].iterations[0].failure_rules;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].metric.as_deref(), Some("ErrorRate > 0.1"));
        assert_eq!(f[0].error_status_codes.as_deref(), Some(">= 500"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
