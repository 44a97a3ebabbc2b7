//! Section and key names as LPS reads them: case-insensitively.
//!
//! LPS reads its settings through Microsoft.Extensions.Configuration, where
//! `clienttimeoutinseconds` is `ClientTimeoutInSeconds`. serde matches names
//! exactly, so before deserialising, every known name in the text is
//! respelled as it is declared here. Only ASCII case changes, so the text
//! keeps its length and every line and column of a later error stays true.

/// The key that holds the sections in LPS's layout.
pub(crate) const LPS_ROOT: &str = "LPSAppSettings";

/// Every section with its keys, spelled as the deserialiser expects them.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    (
        "Cluster",
        &[
            "MasterNodeIP",
            "MasterNodeIsWorker",
            "GRPCPort",
            "ExpectedNumberOfWorkers",
            "Secret",
            "ConnectTimeoutSeconds",
            "HeartbeatTimeoutSeconds",
            "MaxNodes",
            "TlsCertificate",
            "TlsKey",
            "TlsCaCertificate",
        ],
    ),
    (
        "Dashboard",
        &["Port", "Token", "BuiltInDashboard", "RefreshRate"],
    ),
    (
        "HttpClient",
        &[
            "TimeoutSeconds",
            "ClientTimeoutInSeconds",
            "PooledConnectionLifeTimeInSeconds",
            "PooledConnectionIdleTimeoutInSeconds",
            "MaxConnectionsPerServer",
            "HeaderValidationMode",
            "AllowHostOverride",
            "ServerTimeHeader",
            "ServerTimeFormat",
        ],
    ),
    (
        "FileLogger",
        &[
            "LogFilePath",
            "LoggingLevel",
            // Sic: LPS's property has one "g".
            "ConsoleLogingLevel",
            "EnableConsoleLogging",
            "DisableConsoleErrorLogging",
            "DisableFileLogging",
        ],
    ),
    (
        "Watchdog",
        &[
            "MaxMemoryMB",
            "CoolDownMemoryMB",
            "MaxCPUPercentage",
            "CoolDownCPUPercentage",
            "CoolDownRetryTimeInMs",
            "MaxConcurrentConnectionsCountPerHostName",
            "CoolDownConcurrentConnectionsCountPerHostName",
            "MaxCoolingPeriod",
            "ResumeCoolingAfter",
            "SuspensionMode",
        ],
    ),
    (
        "InfluxDB",
        &["Enabled", "Url", "Token", "Organization", "Bucket"],
    ),
];

/// `text` (JSON that serde_json accepts) with every known section and key
/// name respelled as [`SECTIONS`] declares it, in both layouts: sections at
/// the top level, or under [`LPS_ROOT`]. Names written with escapes, and
/// unknown names, stay as they are (the deserialiser then names them).
pub(crate) fn canonical(text: &str) -> String {
    let mut out = text.to_owned();
    for (range, name) in names(text) {
        // Same length, ASCII only: the replacement cannot split a character.
        out.replace_range(range, name);
    }
    out
}

/// The byte range of each object key in `text` whose spelling differs from
/// a known name only in ASCII case, with that name.
fn names(text: &str) -> Vec<(std::ops::Range<usize>, &'static str)> {
    let bytes = text.as_bytes();
    // One entry per open object or array: for an object, the key whose value
    // is being read (canonical when known) and whether a key comes next.
    let mut open: Vec<Frame> = Vec::new();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => open.push(Frame::Object {
                key: None,
                key_next: true,
            }),
            b'[' => open.push(Frame::Array),
            b'}' | b']' => {
                open.pop();
            }
            b',' => {
                if let Some(Frame::Object { key_next, .. }) = open.last_mut() {
                    *key_next = true;
                }
            }
            b'"' => {
                let end = string_end(bytes, i);
                let is_key = matches!(open.last(), Some(Frame::Object { key_next: true, .. }));
                if is_key {
                    let raw = &text[i + 1..end - 1];
                    let known = known_name(&open_path(&open), raw);
                    if let Some(name) = known.filter(|name| *name != raw) {
                        found.push((i + 1..end - 1, name));
                    }
                    if let Some(Frame::Object { key, key_next }) = open.last_mut() {
                        *key = Some(known.unwrap_or(raw).to_owned());
                        *key_next = false;
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

enum Frame {
    Object { key: Option<String>, key_next: bool },
    Array,
}

/// The keys leading to the innermost open object; `None` inside an array
/// (no settings key lives there).
fn open_path(open: &[Frame]) -> Option<Vec<&str>> {
    let (_, outer) = open.split_last()?;
    outer
        .iter()
        .map(|frame| match frame {
            Frame::Object { key: Some(key), .. } => Some(key.as_str()),
            _ => None,
        })
        .collect()
}

/// The known name `raw` stands for at `path`, if any.
fn known_name(path: &Option<Vec<&str>>, raw: &str) -> Option<&'static str> {
    let path = path.as_deref()?;
    let section_names = || SECTIONS.iter().map(|(section, _)| *section);
    let keys_of = |section: &str| {
        SECTIONS
            .iter()
            .find(|(name, _)| *name == section)
            .map(|(_, keys)| keys.iter().copied())
    };
    let like = |name: &&str| name.eq_ignore_ascii_case(raw);
    match path {
        [] => std::iter::once(LPS_ROOT).chain(section_names()).find(like),
        [root] if *root == LPS_ROOT => section_names().find(like),
        [section] | [LPS_ROOT, section] => keys_of(section)?.find(like),
        _ => None,
    }
}

/// The index just past the closing quote of the string starting at `start`
/// (or the end of the text, which serde_json would not have accepted).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respells_known_names_in_both_layouts() {
        let cases = [
            (
                r#"{"cluster": {"masternodeip": "::1", "grpcPORT": 1}}"#,
                r#"{"Cluster": {"MasterNodeIP": "::1", "GRPCPort": 1}}"#,
            ),
            (
                r#"{"lpsappsettings": {"httpclient": {"CLIENTTIMEOUTINSECONDS": 5}, "influxdb": {}}}"#,
                r#"{"LPSAppSettings": {"HttpClient": {"ClientTimeoutInSeconds": 5}, "InfluxDB": {}}}"#,
            ),
            // Values, unknown names, names at other depths and names with
            // escapes stay as written.
            (
                r#"{"dashboard": {"port": "port", "x": {"token": 1}}, "Port": [{"cluster": 1}], "T\u006fken": 2}"#,
                r#"{"Dashboard": {"Port": "port", "x": {"token": 1}}, "Port": [{"cluster": 1}], "T\u006fken": 2}"#,
            ),
            // A key inside a section of LPS's layout, after a string with
            // an escaped quote.
            (
                "{\"LPSAppSettings\": {\"FileLogger\": {\"logfilepath\": \"a\\\"b\", \"logginglevel\": 0}}}",
                "{\"LPSAppSettings\": {\"FileLogger\": {\"LogFilePath\": \"a\\\"b\", \"LoggingLevel\": 0}}}",
            ),
            // A section name is not a key of LPSAppSettings's sections.
            (
                r#"{"LPSAppSettings": {"Cluster": {"cluster": 1}}}"#,
                r#"{"LPSAppSettings": {"Cluster": {"cluster": 1}}}"#,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(canonical(text), expected, "{text}");
        }
    }

    #[test]
    fn every_name_is_unique_within_its_section() {
        for (section, keys) in SECTIONS {
            for (i, key) in keys.iter().enumerate() {
                assert!(
                    !keys[i + 1..].iter().any(|k| k.eq_ignore_ascii_case(key)),
                    "{section}.{key}"
                );
            }
        }
    }
}
