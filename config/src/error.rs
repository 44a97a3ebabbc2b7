//! The one error type of this crate.
//!
//! Every variant renders as a single line that starts with the file (and,
//! when known, the line) so that a user can jump straight to the fault.

use std::path::PathBuf;

/// Why a plan or settings file could not be read, parsed, checked or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file could not be written.
    #[error("{}: cannot write: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The text is not well-formed JSON/YAML, has an unknown key, a missing
    /// key or a value of the wrong type.
    ///
    /// `plan.json:3:5: unknown field "numberOfClient", expected one of ...`
    /// `plan.yaml:9:23: rounds[0].iterations[0].requestCount: invalid u64`
    #[error("{file}:{line}:{column}: {}{message}", key_prefix(.key))]
    Syntax {
        /// The file name as the user gave it.
        file: String,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// Key path of the value at fault (`rounds[0].iterations[1].duration`);
        /// empty when the fault is at the top level or the syntax itself.
        key: String,
        message: String,
    },

    /// The text is well-formed but a value is not acceptable (a mode without
    /// its numbers, a zero count, a bad URL, ...).
    ///
    /// `plan.yaml:12: rounds[0].iterations[0] "home": iterationMode R requires requestCount`
    #[error("{file}{}: {key}: {message}", line_suffix(.line))]
    Invalid {
        /// The file name as the user gave it (or `command line`).
        file: String,
        /// 1-based line of the offending key, when the plan came from text.
        line: Option<usize>,
        /// The item at fault: a top-level key (`numberOfClients`), or a round or
        /// iteration with its name (`rounds[0].iterations[1] "home"`).
        key: String,
        /// What is wrong, starting with the key inside the item when there is one
        /// (`requestCount must be at least 1`).
        message: String,
    },

    /// A plan could not be turned into text (should not happen for a
    /// [`PlanFile`](crate::PlanFile); kept so that writing never panics).
    #[error("{file}: cannot serialise: {message}")]
    Serialize { file: String, message: String },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

fn line_suffix(line: &Option<usize>) -> String {
    match line {
        Some(line) => format!(":{line}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_per_variant() {
        let cases = [
            (
                ConfigError::Syntax {
                    file: "plan.json".into(),
                    line: 3,
                    column: 5,
                    key: String::new(),
                    message: "unknown field \"x\"".into(),
                },
                "plan.json:3:5: unknown field \"x\"",
            ),
            (
                ConfigError::Syntax {
                    file: "plan.yaml".into(),
                    line: 9,
                    column: 23,
                    key: "rounds[0].iterations[0].requestCount".into(),
                    message: "invalid u64".into(),
                },
                "plan.yaml:9:23: rounds[0].iterations[0].requestCount: invalid u64",
            ),
            (
                ConfigError::Invalid {
                    file: "plan.yaml".into(),
                    line: Some(12),
                    key: "rounds[0].iterations[0] \"home\"".into(),
                    message: "iterationMode R requires requestCount".into(),
                },
                "plan.yaml:12: rounds[0].iterations[0] \"home\": iterationMode R requires requestCount",
            ),
            (
                ConfigError::Invalid {
                    file: "command line".into(),
                    line: None,
                    key: "numberOfClients".into(),
                    message: "must be at least 1".into(),
                },
                "command line: numberOfClients: must be at least 1",
            ),
            (
                ConfigError::Read {
                    path: PathBuf::from("missing.yaml"),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
                },
                "missing.yaml: cannot read: not found",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.to_string(), expected);
        }
    }
}
