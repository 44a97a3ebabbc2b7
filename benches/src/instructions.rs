//! The figures of the `instructions` bench (callgrind via gungraun) and their
//! check against the committed baseline (`benches/baselines/instructions.json`),
//! which `perf/iai-check` runs.
//!
//! A bench whose id ends in `_<size>` comes in two sizes: its figure is the
//! difference of their counts divided by the difference of the sizes
//! (instructions per request, with start-up cancelled out). Any other bench's
//! figure is its count (per snapshot merge, per plan load). A figure is named
//! `<function>/<id without the size>`, e.g. `request/h1`, `merge/wire`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A figure more than this many percent above its baseline fails the check.
pub const THRESHOLD_PERCENT: u64 = 5;

/// Figures by name.
pub type Figures = BTreeMap<String, u64>;

/// Why the check could not compare.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CheckError {
    #[error("summary line {line}: {reason}")]
    Summary { line: usize, reason: String },
    #[error("{figure}: needs exactly two sizes, found {found:?}")]
    Sizes { figure: String, found: Vec<u64> },
    #[error(
        "{figure}: the larger run counts fewer instructions ({small} at {small_size}, {large} at {large_size})"
    )]
    Shrinks {
        figure: String,
        small_size: u64,
        small: u64,
        large_size: u64,
        large: u64,
    },
    #[error("baseline: {0}")]
    Baseline(String),
}

/// One bench's callgrind count: `Ir` of every thread it collected.
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    pub function: String,
    pub id: String,
    pub instructions: u64,
}

/// Reads gungraun's JSON output (`--output-format=json`: one summary per
/// line; lines that are not JSON objects are skipped).
pub fn parse_summaries(text: &str) -> Result<Vec<Count>, CheckError> {
    let mut counts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let error = |reason: &str| CheckError::Summary {
            line: i + 1,
            reason: reason.to_string(),
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| error(&e.to_string()))?;
        let function = v["function_name"]
            .as_str()
            .ok_or_else(|| error("no function_name"))?;
        let id = v["id"].as_str().unwrap_or("");
        let callgrind = v["profiles"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["tool"] == "Callgrind"))
            .ok_or_else(|| error("no Callgrind profile"))?;
        let ir = callgrind["data"]["total"]["metrics"]["Ir"]["values"]["new"]
            .as_u64()
            .ok_or_else(|| error("no total Ir"))?;
        counts.push(Count {
            function: function.to_string(),
            id: id.to_string(),
            instructions: ir,
        });
    }
    Ok(counts)
}

/// `id` split into its name and size when it ends in `_<digits>`.
fn sized(id: &str) -> Option<(&str, u64)> {
    let (name, size) = id.rsplit_once('_')?;
    if name.is_empty() || size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((name, size.parse().ok()?))
}

/// The figures of a run's counts (see the module doc).
pub fn figures(counts: &[Count]) -> Result<Figures, CheckError> {
    let mut sizes: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut out = Figures::new();
    for c in counts {
        match sized(&c.id) {
            Some((name, size)) => sizes
                .entry(format!("{}/{name}", c.function))
                .or_default()
                .push((size, c.instructions)),
            None if c.id.is_empty() => {
                out.insert(c.function.clone(), c.instructions);
            }
            None => {
                out.insert(format!("{}/{}", c.function, c.id), c.instructions);
            }
        }
    }
    for (figure, mut runs) in sizes {
        runs.sort_unstable();
        let &[(small_size, small), (large_size, large)] = runs.as_slice() else {
            let found = runs.iter().map(|r| r.0).collect();
            return Err(CheckError::Sizes { figure, found });
        };
        if small_size == large_size {
            return Err(CheckError::Sizes {
                figure,
                found: vec![small_size, large_size],
            });
        }
        if large < small {
            return Err(CheckError::Shrinks {
                figure,
                small_size,
                small,
                large_size,
                large,
            });
        }
        // Rounded to the nearest instruction.
        let units = large_size - small_size;
        out.insert(figure, (large - small + units / 2) / units);
    }
    Ok(out)
}

/// How one figure compares with its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Within the threshold (or below the baseline by less than it).
    Same,
    /// Grown more than [`THRESHOLD_PERCENT`]: the check fails.
    Regressed,
    /// Shrunk more than [`THRESHOLD_PERCENT`]: record it with `--update`.
    Improved,
    /// Not in the baseline: the check fails until it is recorded.
    New,
    /// In the baseline but not measured: the check fails.
    Missing,
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub figure: String,
    pub baseline: Option<u64>,
    pub now: Option<u64>,
}

impl Row {
    /// Change from the baseline in percent, when both are there.
    pub fn change_percent(&self) -> Option<f64> {
        match (self.baseline, self.now) {
            (Some(b), Some(n)) if b > 0 => Some((n as f64 - b as f64) * 100.0 / b as f64),
            _ => None,
        }
    }

    pub fn verdict(&self) -> Verdict {
        match (self.baseline, self.now) {
            (None, _) => Verdict::New,
            (_, None) => Verdict::Missing,
            (Some(b), Some(n)) => {
                // In integers, so that exactly +5 % passes on every machine.
                let (b, n) = (u128::from(b), u128::from(n));
                let t = u128::from(THRESHOLD_PERCENT);
                if n * 100 > b * (100 + t) {
                    Verdict::Regressed
                } else if n * 100 < b * (100 - t) {
                    Verdict::Improved
                } else {
                    Verdict::Same
                }
            }
        }
    }
}

/// Every figure of either side, by name.
pub fn compare(baseline: &Figures, now: &Figures) -> Vec<Row> {
    let mut names: Vec<&String> = baseline.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| Row {
            figure: name.clone(),
            baseline: baseline.get(name).copied(),
            now: now.get(name).copied(),
        })
        .collect()
}

/// True when no row fails the check.
pub fn passes(rows: &[Row]) -> bool {
    rows.iter()
        .all(|r| matches!(r.verdict(), Verdict::Same | Verdict::Improved))
}

/// The comparison as a text table: figure, baseline, now, change, verdict.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<20} {:>12} {:>12} {:>9}  {}\n",
        "figure", "baseline", "now", "change", "verdict"
    );
    let num = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    for r in rows {
        let change = r
            .change_percent()
            .map_or_else(|| "-".to_string(), |c| format!("{c:+.2} %"));
        let verdict = match r.verdict() {
            Verdict::Same => "ok",
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved (record it: --update)",
            Verdict::New => "NEW (record it: --update)",
            Verdict::Missing => "MISSING (not measured)",
        };
        // Writing into a String cannot fail.
        let _ = writeln!(
            out,
            "{:<20} {:>12} {:>12} {:>9}  {verdict}",
            r.figure,
            num(r.baseline),
            num(r.now),
            change
        );
    }
    out
}

/// Reads a baseline file's text: `{"figures": {"name": count, ...}}`.
pub fn parse_baseline(text: &str) -> Result<Figures, CheckError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CheckError::Baseline(e.to_string()))?;
    let figures = v["figures"]
        .as_object()
        .ok_or_else(|| CheckError::Baseline("no \"figures\" object".into()))?;
    figures
        .iter()
        .map(|(name, count)| {
            count
                .as_u64()
                .map(|c| (name.clone(), c))
                .ok_or_else(|| CheckError::Baseline(format!("{name}: not a count")))
        })
        .collect()
}

/// A baseline file's text for `figures`, with the note that says what it is.
pub fn baseline_text(figures: &Figures) -> String {
    let v = serde_json::json!({
        "note": "Instructions counted by callgrind (cargo bench -p lps-benches --bench instructions): \
                 request/* per request, merge/* per snapshot, plan/* per plan load. \
                 perf/iai-check fails when one grows more than 5 %; perf/iai-check --update rewrites this file.",
        "figures": figures,
    });
    // A map of strings to integers always serialises.
    serde_json::to_string_pretty(&v).expect("serialisable") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(function: &str, id: &str, instructions: u64) -> Count {
        Count {
            function: function.into(),
            id: id.into(),
            instructions,
        }
    }

    fn figs(pairs: &[(&str, u64)]) -> Figures {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn two_sizes_give_a_per_unit_figure_and_others_their_count() {
        let counts = [
            count("request", "h1_12000", 48_000_000 + 1_000_000),
            count("request", "h1_2000", 8_000_000 + 1_000_000),
            count("merge", "wire", 123_456),
            count("plan", "", 999),
        ];
        assert_eq!(
            figures(&counts).unwrap(),
            figs(&[
                ("request/h1", 4_000),
                ("merge/wire", 123_456),
                ("plan", 999)
            ])
        );
        // Rounded to the nearest instruction.
        let counts = [count("r", "a_10", 100), count("r", "a_20", 100 + 46)];
        assert_eq!(figures(&counts).unwrap(), figs(&[("r/a", 5)]));
    }

    #[test]
    fn sizes_must_come_in_pairs_that_grow() {
        assert_eq!(
            figures(&[count("request", "h1_2000", 5)]),
            Err(CheckError::Sizes {
                figure: "request/h1".into(),
                found: vec![2000]
            })
        );
        assert!(matches!(
            figures(&[
                count("r", "a_1", 5),
                count("r", "a_2", 6),
                count("r", "a_3", 7)
            ]),
            Err(CheckError::Sizes { .. })
        ));
        assert!(matches!(
            figures(&[count("r", "a_1", 9), count("r", "a_2", 6)]),
            Err(CheckError::Shrinks { .. })
        ));
        // Not a size: a name with an underscore, or nothing before it.
        assert_eq!(
            figures(&[count("r", "tls_v13", 1), count("r", "_5", 2)]).unwrap(),
            figs(&[("r/tls_v13", 1), ("r/_5", 2)])
        );
    }

    #[test]
    fn verdicts_at_the_threshold() {
        let row = |b, n| Row {
            figure: "x".into(),
            baseline: b,
            now: n,
        };
        assert_eq!(row(Some(1000), Some(1050)).verdict(), Verdict::Same);
        assert_eq!(row(Some(1000), Some(1051)).verdict(), Verdict::Regressed);
        assert_eq!(row(Some(1000), Some(950)).verdict(), Verdict::Same);
        assert_eq!(row(Some(1000), Some(949)).verdict(), Verdict::Improved);
        assert_eq!(row(None, Some(1)).verdict(), Verdict::New);
        assert_eq!(row(Some(1), None).verdict(), Verdict::Missing);
        assert_eq!(row(Some(1000), Some(1051)).change_percent(), Some(5.1));
    }

    #[test]
    fn the_check_fails_on_a_regression_a_new_or_a_missing_figure() {
        let base = figs(&[("a", 1000), ("b", 2000)]);
        let ok = compare(&base, &figs(&[("a", 1040), ("b", 1500)]));
        assert!(passes(&ok));
        assert!(!passes(&compare(&base, &figs(&[("a", 1060), ("b", 2000)]))));
        assert!(!passes(&compare(&base, &figs(&[("a", 1000)]))));
        assert!(!passes(&compare(
            &base,
            &figs(&[("a", 1000), ("b", 2000), ("c", 1)])
        )));
        let text = table(&ok);
        assert!(
            text.contains("a                            1000         1040   +4.00 %  ok"),
            "{text}"
        );
        assert!(text.contains("-25.00 %  improved"), "{text}");
    }

    #[test]
    fn summaries_are_read_from_gungraun_json_lines() {
        let line = |function: &str, id: Option<&str>, ir: u64| {
            let mut v = serde_json::json!({
                "function_name": function,
                "profiles": [{"tool": "Callgrind", "data": {"parts": [], "total": {
                    "metrics": {"Ir": {"values": {"new": ir}}}, "regressions": []}}}],
            });
            if let Some(id) = id {
                v["id"] = id.into();
            }
            v.to_string()
        };
        let text = format!(
            "   Compiling lps\n{}\n{}\n",
            line("request", Some("h1_2000"), 7),
            line("plan", None, 9)
        );
        assert_eq!(
            parse_summaries(&text).unwrap(),
            vec![count("request", "h1_2000", 7), count("plan", "", 9)]
        );
        let no_ir = r#"{"function_name": "x", "profiles": [{"tool": "Callgrind", "data": {}}]}"#;
        assert_eq!(
            parse_summaries(&format!("\n{no_ir}")),
            Err(CheckError::Summary {
                line: 2,
                reason: "no total Ir".into()
            })
        );
    }

    #[test]
    fn a_baseline_round_trips_and_bad_ones_are_named() {
        let f = figs(&[("request/h1", 3800), ("plan/lps3", 250_000)]);
        assert_eq!(parse_baseline(&baseline_text(&f)).unwrap(), f);
        assert_eq!(
            parse_baseline(r#"{"figures": {"a": "x"}}"#),
            Err(CheckError::Baseline("a: not a count".into()))
        );
        assert!(matches!(parse_baseline("{"), Err(CheckError::Baseline(_))));
    }
}
