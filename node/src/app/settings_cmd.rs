//! LPS's settings commands (`lps cluster`, `httpclient`, `dashboard`,
//! `logger`, `watchdog`, `influxdb`): merge the given keys over one
//! section of the settings file, check the whole file as `lps` reads it,
//! and write it back; nothing is written when the check fails.
//!
//! The file keeps its layout (LPS's `LPSAppSettings`, or lps's flat one; a
//! new file gets LPS's) and its key order. Unlike LPS, which writes every
//! key of the section with nulls for the unset ones, only the keys the file
//! had and the ones given are written.

use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use lps_config::{ConfigError, Settings};

/// How a key's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Text,
    /// A name, or its number as LPS writes it.
    Enum,
}

/// One option of a settings command: spellings, JSON key, kind.
struct Key(&'static [&'static str], &'static str, Kind);

use Kind::{Bool, Enum, Int, Text};

/// Command, section, keys (docs/dev/lps3-spec.md section 3.4).
const COMMANDS: &[(&str, &str, &[Key])] = &[
    (
        "cluster",
        "Cluster",
        &[
            Key(&["-mip", "--masternodeip"], "MasterNodeIP", Text),
            Key(&["-gp", "--grpcport"], "GRPCPort", Int),
            Key(
                &["-ew", "--expectednumberofworkers"],
                "ExpectedNumberOfWorkers",
                Int,
            ),
            Key(
                &["-miw", "--masternodeisworker"],
                "MasterNodeIsWorker",
                Bool,
            ),
        ],
    ),
    (
        "httpclient",
        "HttpClient",
        &[
            Key(
                &["-mcps", "--maxconnectionsperserver"],
                "MaxConnectionsPerServer",
                Int,
            ),
            Key(
                &["-pclt", "--poolconnectionlifetime"],
                "PooledConnectionLifeTimeInSeconds",
                Int,
            ),
            Key(
                &["-pcit", "--poolconnectionidletimeout"],
                "PooledConnectionIdleTimeoutInSeconds",
                Int,
            ),
            Key(&["-cto", "--clienttimeout"], "ClientTimeoutInSeconds", Int),
            Key(
                &["-hvm", "--headervalidationmode"],
                "HeaderValidationMode",
                Enum,
            ),
            Key(&["-aho", "--allowhostoverride"], "AllowHostOverride", Bool),
            Key(&["-sth", "--servertimeheader"], "ServerTimeHeader", Text),
            Key(&["-stf", "--servertimeformat"], "ServerTimeFormat", Enum),
        ],
    ),
    (
        "dashboard",
        "Dashboard",
        &[
            Key(&["-bid", "--builtindashboard"], "BuiltInDashboard", Bool),
            Key(&["-p", "--port"], "Port", Int),
            Key(&["-rr", "--refreshrate"], "RefreshRate", Int),
        ],
    ),
    (
        "logger",
        "FileLogger",
        &[
            Key(&["-lfp", "--logfilepath"], "LogFilePath", Text),
            Key(
                &["-dfl", "--disablefilelogging"],
                "DisableFileLogging",
                Bool,
            ),
            Key(
                &["-ecl", "--enableconsolelogging"],
                "EnableConsoleLogging",
                Bool,
            ),
            Key(
                &["-dcel", "--disableconsoleerrorlogging"],
                "DisableConsoleErrorLogging",
                Bool,
            ),
            Key(&["-ll", "--logginglevel"], "LoggingLevel", Enum),
            // LPS's own spelling, one "g".
            Key(
                &["-cll", "--consolelogginglevel"],
                "ConsoleLogingLevel",
                Enum,
            ),
        ],
    ),
    (
        "watchdog",
        "Watchdog",
        &[
            Key(&["-mmm", "--maxmemorymb"], "MaxMemoryMB", Int),
            Key(&["-mcp", "--maxcpupercentage"], "MaxCPUPercentage", Int),
            Key(&["-cdmm", "--cooldownmemorymb"], "CoolDownMemoryMB", Int),
            Key(
                &["-cdcp", "--cooldowncpupercentage"],
                "CoolDownCPUPercentage",
                Int,
            ),
            Key(
                &["-mcccphn", "--maxconcurrentconnectionscountperhostname"],
                "MaxConcurrentConnectionsCountPerHostName",
                Int,
            ),
            Key(
                &[
                    "-cdcccphn",
                    "--cooldownconcurrentconnectionscountperhostname",
                ],
                "CoolDownConcurrentConnectionsCountPerHostName",
                Int,
            ),
            Key(
                &["-cdrtims", "--cooldownretrytimeinms"],
                "CoolDownRetryTimeInMs",
                Int,
            ),
            Key(&["-maxcp", "--maxcoolingperiod"], "MaxCoolingPeriod", Int),
            Key(&["-rca", "--resumecoolingafter"], "ResumeCoolingAfter", Int),
            Key(&["-sm", "--suspensionmode"], "SuspensionMode", Enum),
        ],
    ),
    (
        "influxdb",
        "InfluxDB",
        &[
            Key(&["-ie", "--influxdbenabled"], "Enabled", Bool),
            Key(&["-iu", "--influxdburl"], "Url", Text),
            Key(&["-it", "--influxdbtoken"], "Token", Text),
            Key(&["-io", "--influxdborganization"], "Organization", Text),
            Key(&["-ib", "--influxdbbucket"], "Bucket", Text),
        ],
    ),
];

/// The section that settings command `word` edits, if it is one.
pub fn command(word: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(name, ..)| *name == word)
        .map(|(_, section, _)| *section)
}

/// The JSON key that `option` (`-gp`, `--GRPCPORT`) sets in `section`, and
/// whether it is a flag-or-value option.
pub fn lookup(section: &str, option: &str) -> Option<(&'static str, bool)> {
    let fold = |s: &str| s.replace(['-', '_'], "").to_ascii_lowercase();
    keys(section)
        .iter()
        .find(|Key(spellings, ..)| {
            spellings.iter().any(
                |s| match (s.strip_prefix("--"), option.strip_prefix("--")) {
                    (Some(a), Some(b)) => fold(a) == fold(b),
                    (None, None) => s.eq_ignore_ascii_case(option),
                    _ => false,
                },
            )
        })
        .map(|Key(_, key, kind)| (*key, *kind == Bool))
}

/// The options of settings command `word`, for its `--help`.
pub fn help(word: &str) -> String {
    let Some((_, section, keys)) = COMMANDS.iter().find(|(name, ..)| *name == word) else {
        return String::new();
    };
    let mut text = format!("Options (each sets the key of {section} named after the arrow):\n");
    for Key(spellings, key, kind) in *keys {
        let value = match kind {
            Bool => " [true|false]",
            Int => " N",
            Text | Enum => " VALUE",
        };
        text.push_str(&format!("  {}{value} -> {key}\n", spellings.join(", ")));
    }
    text
}

fn keys(section: &str) -> &'static [Key] {
    COMMANDS
        .iter()
        .find(|(_, s, _)| *s == section)
        .map_or(&[], |(_, _, keys)| keys)
}

/// Why a settings command wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum SettingsEditError {
    #[error("{option}: expected {expected}, got {value:?}")]
    Value {
        option: String,
        expected: &'static str,
        value: String,
    },
    #[error("{}: not written: {source}", .path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{}: {message}", .path.display())]
    Shape { path: PathBuf, message: String },
    #[error("{}: cannot write: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Merges `set` (`Key=value` pairs from [`super::cli::normalize`]) over
/// `section` of the settings file at `path`, checks, and writes it.
pub fn apply(path: &Path, section: &str, set: &[String]) -> Result<(), SettingsEditError> {
    let mut root = read(path)?;
    let values = set
        .iter()
        .map(|pair| typed(section, pair))
        .collect::<Result<Vec<_>, _>>()?;
    let shape = |message: &str| SettingsEditError::Shape {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    let sections = sections_of(&mut root).ok_or_else(|| shape("not a JSON object"))?;
    let current = entry_mut(sections, section);
    let Json::Object(entries) = current else {
        return Err(shape(&format!("{section} is not a JSON object")));
    };
    for (key, value) in values {
        let at = entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key));
        entries.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        let at = at.unwrap_or(entries.len()).min(entries.len());
        entries.insert(at, (key.to_owned(), value));
    }
    let mut text = serde_json::to_string_pretty(&root).map_err(|e| shape(&e.to_string()))?;
    text.push('\n');
    Settings::parse(&text, &path.display().to_string()).map_err(|source| {
        SettingsEditError::Invalid {
            path: path.to_owned(),
            source,
        }
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SettingsEditError::Write {
            path: path.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| SettingsEditError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The file's JSON, or LPS's layout with no sections when there is none.
fn read(path: &Path) -> Result<Json, SettingsEditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Json::Object(vec![(
                "LPSAppSettings".into(),
                Json::Object(Vec::new()),
            )]));
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }
            .into());
        }
    };
    // The check names the line of a syntax fault; then it cannot fail.
    Settings::parse(&text, &path.display().to_string())?;
    serde_json::from_str(&text).map_err(|e| SettingsEditError::Shape {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Where the sections are: under `LPSAppSettings` when the file has it,
/// else at the top level (lps's layout).
fn sections_of(root: &mut Json) -> Option<&mut Vec<(String, Json)>> {
    let Json::Object(top) = root else {
        return None;
    };
    let nested = top
        .iter()
        .position(|(k, _)| k.eq_ignore_ascii_case("LPSAppSettings"));
    match nested {
        Some(i) => match &mut top[i].1 {
            Json::Object(sections) => Some(sections),
            _ => None,
        },
        None => Some(top),
    }
}

/// The value under `key` (any case), an empty object added when absent.
fn entry_mut<'j>(entries: &'j mut Vec<(String, Json)>, key: &str) -> &'j mut Json {
    let i = match entries
        .iter()
        .position(|(k, _)| k.eq_ignore_ascii_case(key))
    {
        Some(i) => i,
        None => {
            entries.push((key.to_owned(), Json::Object(Vec::new())));
            entries.len() - 1
        }
    };
    &mut entries[i].1
}

/// `Key=value` as the JSON value of its kind.
fn typed(section: &str, pair: &str) -> Result<(&'static str, Json), SettingsEditError> {
    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
    let Some(Key(spellings, key, kind)) = keys(section).iter().find(|Key(_, k, _)| *k == key)
    else {
        return Err(SettingsEditError::Value {
            option: key.to_owned(),
            expected: "an option of this command",
            value: value.to_owned(),
        });
    };
    let bad = |expected| SettingsEditError::Value {
        option: spellings.join("/"),
        expected,
        value: value.to_owned(),
    };
    let json = match kind {
        Int => Json::Scalar(serde_json::Value::from(
            value.parse::<i64>().map_err(|_| bad("a whole number"))?,
        )),
        Bool => match value.to_ascii_lowercase().as_str() {
            "true" => Json::Scalar(true.into()),
            "false" => Json::Scalar(false.into()),
            _ => return Err(bad("true or false")),
        },
        Enum => match value.parse::<i64>() {
            Ok(n) => Json::Scalar(n.into()),
            Err(_) => Json::Scalar(value.into()),
        },
        Text => Json::Scalar(value.into()),
    };
    Ok((key, json))
}

/// JSON that keeps its objects' key order (serde_json's map sorts them).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Scalar(serde_json::Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Scalar(v) => v.serialize(serializer),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Scalar(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Scalar(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Scalar(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Scalar(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Scalar(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Scalar(serde_json::Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            entries.push((k, v));
        }
        Ok(Json::Object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_map_to_their_keys_in_any_case() {
        assert_eq!(lookup("Cluster", "-gp"), Some(("GRPCPort", false)));
        assert_eq!(
            lookup("Watchdog", "--maxMemoryMB"),
            Some(("MaxMemoryMB", false))
        );
        assert_eq!(
            lookup("Dashboard", "--BUILTINDASHBOARD"),
            Some(("BuiltInDashboard", true))
        );
        assert_eq!(lookup("Dashboard", "-gp"), None);
        assert_eq!(command("influxdb"), Some("InfluxDB"));
        assert_eq!(command("run"), None);
    }

    #[test]
    fn values_are_typed_by_key() {
        let cases = [
            ("Dashboard", "Port=8009", Ok(serde_json::json!(8009))),
            (
                "Dashboard",
                "BuiltInDashboard=TRUE",
                Ok(serde_json::json!(true)),
            ),
            (
                "FileLogger",
                "LoggingLevel=Warning",
                Ok(serde_json::json!("Warning")),
            ),
            ("FileLogger", "LoggingLevel=2", Ok(serde_json::json!(2))),
            (
                "Cluster",
                "MasterNodeIP=10.0.0.1",
                Ok(serde_json::json!("10.0.0.1")),
            ),
            (
                "Dashboard",
                "Port=80a",
                Err("-p/--port: expected a whole number, got \"80a\""),
            ),
            (
                "Dashboard",
                "BuiltInDashboard=yes",
                Err("-bid/--builtindashboard: expected true or false, got \"yes\""),
            ),
        ];
        for (section, pair, expected) in cases {
            let got = typed(section, pair)
                .map(|(_, j)| j)
                .map_err(|e| e.to_string());
            let expected = expected.map(Json::Scalar).map_err(String::from);
            assert_eq!(got, expected, "{pair}");
        }
    }
}
