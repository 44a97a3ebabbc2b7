//! The two JSON reports, read for comparison: only the fields `lps compare`
//! uses, so a single-node report and a cluster master's (with `nodes`) read
//! alike, and fields added later do not matter.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::CompareError;
use crate::report::SCHEMA_VERSION;

/// A JSON report, as `lps compare` reads it.
#[derive(Debug, Deserialize)]
pub struct Run {
    pub schema_version: u32,
    pub test: String,
    pub started_at: String,
    #[serde(flatten)]
    pub total: Sample,
    pub iterations: Vec<IterationIn>,
    /// A cluster master's report: its nodes, only counted.
    #[serde(default)]
    pub nodes: Option<Vec<serde::de::IgnoredAny>>,
}

/// One iteration of a report.
#[derive(Debug, Deserialize)]
pub struct IterationIn {
    pub name: String,
    pub round: String,
    #[serde(flatten)]
    pub sample: Sample,
}

/// The figures compared, of the total or of one iteration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Sample {
    pub requests: Counts,
    pub throughput_rps: f64,
    pub latency_us: Percentiles,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Counts {
    pub total: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Sample {
    /// Failed requests (status >= 400 or no response) over all requests; 0
    /// without any.
    pub fn error_rate(&self) -> f64 {
        match self.requests.total {
            0 => 0.0,
            total => self.requests.failed as f64 / total as f64,
        }
    }
}

impl Run {
    /// Nodes of a cluster report; 1 for a single node's.
    pub fn node_count(&self) -> usize {
        self.nodes.as_ref().map_or(1, Vec::len)
    }
}

/// Reads the JSON report at `path`.
pub fn read_report(path: &Path) -> Result<Run, CompareError> {
    let text = std::fs::read(path).map_err(|source| CompareError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_report(path, &text)
}

/// Parses a JSON report; `path` only names it in errors.
pub fn parse_report(path: &Path, text: &[u8]) -> Result<Run, CompareError> {
    let not_report = |source| CompareError::NotReport {
        path: path.to_path_buf(),
        source,
    };
    // The version first: a report of another version may lack the fields.
    #[derive(Deserialize)]
    struct Version {
        schema_version: Option<u32>,
    }
    let version: Version = serde_json::from_slice(text).map_err(not_report)?;
    check_version(path.to_path_buf(), version.schema_version)?;
    serde_json::from_slice(text).map_err(not_report)
}

fn check_version(path: PathBuf, found: Option<u32>) -> Result<(), CompareError> {
    match found {
        Some(SCHEMA_VERSION) => Ok(()),
        found => Err(CompareError::SchemaVersion { path, found }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_its_total_and_iterations() {
        let text = super::super::tests::report("T", &[("R", "I", 100, 5, 1000.0, 40)]);
        let run = parse_report(Path::new("r.json"), text.as_bytes()).unwrap();
        assert_eq!(run.test, "T");
        assert_eq!(run.node_count(), 1);
        assert_eq!(run.iterations[0].name, "I");
        assert_eq!(run.iterations[0].round, "R");
        assert_eq!(run.total.requests.total, 100);
        assert_eq!(run.total.latency_us.p99, 40);
        assert_eq!(run.total.error_rate(), 0.05);
    }

    #[test]
    fn what_is_not_a_report_of_this_version_is_named() {
        let cases: &[(&str, &str)] = &[
            (
                "{",
                "r.json: not an lps JSON report: EOF while parsing an object at line 1 column 1",
            ),
            (
                "[]",
                "r.json: not an lps JSON report: invalid length 0, expected struct Version with 1 element at line 1 column 2",
            ),
            (
                "{}",
                "r.json: schema_version missing; lps compare reads version 1 reports",
            ),
            (
                r#"{"schema_version": 2}"#,
                "r.json: schema_version 2; lps compare reads version 1 reports",
            ),
            (
                r#"{"schema_version": 1, "test": "t"}"#,
                "r.json: not an lps JSON report: missing field `started_at` at line 1 column 34",
            ),
        ];
        for (text, expected) in cases {
            let e = parse_report(Path::new("r.json"), text.as_bytes()).unwrap_err();
            assert_eq!(e.to_string(), *expected, "{text}");
        }
    }
}
