//! `lps compare`: two JSON reports (a baseline and a new run) side by side,
//! iteration by iteration, with the change of each figure, a verdict, and
//! the limits a CI pipeline sets on regressions.
//!
//! Pure: it reads files and returns values; the command line (`app`)
//! prints them and picks the exit code.
//!
//! # Layout
//! - `input`: the reports, as compare reads them ([`Run`]).
//! - `limits`: `--max-regression` and `--limits FILE` ([`Limits`]), and
//!   the check of a comparison against them ([`Breach`]).
//! - `distribution`: histogram logs compared percentile by percentile,
//!   and the largest gap between their distributions.
//! - `table`: the comparison as text, and as JSON.

mod distribution;
mod input;
mod limits;
mod table;

use std::path::{Path, PathBuf};

pub use distribution::{Distribution, HistogramRow, compare_logs, read_log};
pub use input::{Run, Sample, parse_report, read_report};
pub use limits::{Amount, Breach, Limit, LimitError, Limits, check, parse_limits, read_limits};
pub use table::{Document, render};

/// What `lps compare` was given.
pub struct Inputs<'a> {
    pub base: &'a Path,
    pub new: &'a Path,
    /// `--histograms BASE NEW`.
    pub histograms: Option<(&'a Path, &'a Path)>,
    pub noise: Noise,
    pub limits: Limits,
}

/// A whole comparison: what the table and the JSON comparison show.
pub struct Comparison {
    pub base: Side,
    pub new: Side,
    pub noise: Noise,
    pub rows: Vec<Row>,
    /// With `--histograms`: the two logs and their histograms compared.
    pub histograms: Option<(PathBuf, PathBuf, Vec<HistogramRow>)>,
    pub limits: Limits,
    pub breaches: Vec<Breach>,
}

/// One of the two reports.
pub struct Side {
    pub path: PathBuf,
    pub run: Run,
}

/// Reads the reports (and histogram logs) and compares them.
pub fn compare_files(inputs: Inputs) -> Result<Comparison, CompareError> {
    let base = read_report(inputs.base)?;
    let new = read_report(inputs.new)?;
    let histograms = match inputs.histograms {
        Some((b, n)) => {
            let rows = compare_logs(&read_log(b)?, &read_log(n)?);
            Some((b.to_path_buf(), n.to_path_buf(), rows))
        }
        None => None,
    };
    let rows = compare(&base, &new, inputs.noise);
    let breaches = check(&rows, &inputs.limits);
    Ok(Comparison {
        base: Side {
            path: inputs.base.to_path_buf(),
            run: base,
        },
        new: Side {
            path: inputs.new.to_path_buf(),
            run: new,
        },
        noise: inputs.noise,
        rows,
        histograms,
        limits: inputs.limits,
        breaches,
    })
}

/// Why a comparison cannot be made: the user's input is at fault.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    // The cause is in the message: the command line prints one line.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an lps JSON report: {source}", .path.display())]
    NotReport {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: schema_version {}; lps compare reads version {} reports",
        .path.display(),
        .found.map_or("missing".to_string(), |v| v.to_string()),
        crate::report::SCHEMA_VERSION)]
    SchemaVersion { path: PathBuf, found: Option<u32> },
    #[error("--noise must be a number of percent, 0 or more, got {0}")]
    Noise(f64),
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("{}: {message}", .path.display())]
    Histogram { path: PathBuf, message: String },
}

/// A figure compared, as limits name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Figure {
    Requests,
    Rps,
    ErrorRate,
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Figure {
    /// In the order of the table.
    pub const ALL: [Figure; 8] = [
        Figure::Requests,
        Figure::Rps,
        Figure::ErrorRate,
        Figure::P50,
        Figure::P90,
        Figure::P99,
        Figure::P999,
        Figure::Max,
    ];

    /// Its name in limits, the table and the JSON comparison.
    pub fn name(self) -> &'static str {
        match self {
            Figure::Requests => "requests",
            Figure::Rps => "rps",
            Figure::ErrorRate => "error_rate",
            Figure::P50 => "p50",
            Figure::P90 => "p90",
            Figure::P99 => "p99",
            Figure::P999 => "p99.9",
            Figure::Max => "max",
        }
    }

    /// The figure a limit names: its name, any case; `p999` (the report's
    /// key) for `p99.9`.
    pub fn from_name(name: &str) -> Option<Figure> {
        let name = name.trim().to_ascii_lowercase();
        if name == "p999" {
            return Some(Figure::P999);
        }
        Figure::ALL.into_iter().find(|f| f.name() == name)
    }

    /// More requests and more throughput are better; lower error rates and
    /// latencies are.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Figure::Requests | Figure::Rps)
    }

    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Figure::P50 | Figure::P90 | Figure::P99 | Figure::P999 | Figure::Max
        )
    }

    /// Its value in `s`: a count, requests per second, a fraction, or µs.
    pub fn of(self, s: &Sample) -> f64 {
        let l = &s.latency_us;
        match self {
            Figure::Requests => s.requests.total as f64,
            Figure::Rps => s.throughput_rps,
            Figure::ErrorRate => s.error_rate(),
            Figure::P50 => l.p50 as f64,
            Figure::P90 => l.p90 as f64,
            Figure::P99 => l.p99 as f64,
            Figure::P999 => l.p999 as f64,
            Figure::Max => l.max as f64,
        }
    }
}

impl Figure {
    /// A value of this figure for people: `1200`, `950.3`, `1.25 %`, `1.20ms`.
    pub fn format(self, v: f64) -> String {
        match self {
            Figure::Requests => format!("{v:.0}"),
            Figure::Rps => format!("{v:.1}"),
            Figure::ErrorRate => format!("{:.2} %", v * 100.0),
            _ => crate::report::us(v.round() as u64),
        }
    }

    /// An absolute amount of this figure (a limit's) with its unit.
    pub fn format_delta(self, v: f64) -> String {
        match self {
            Figure::Requests => format!("{v:.0} requests"),
            Figure::Rps => format!("{v:.1} rps"),
            Figure::ErrorRate => format!("{:.2} points", v * 100.0),
            _ => crate::report::us(v.round() as u64),
        }
    }
}

/// What a change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Same,
    Worse,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Same => "same",
            Verdict::Worse => "worse",
        }
    }
}

/// The band within which a change is noise: the verdict is `same`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Relative change, in percent, of every figure but the error rate.
    pub percent: f64,
    /// Change of the error rate, in percentage points.
    pub error_points: f64,
}

impl Noise {
    pub const DEFAULT: Noise = Noise {
        percent: 2.0,
        error_points: 0.1,
    };

    /// The noise band of `--noise PCT`.
    pub fn percent(percent: f64) -> Result<Noise, CompareError> {
        if !percent.is_finite() || percent < 0.0 {
            return Err(CompareError::Noise(percent));
        }
        Ok(Noise {
            percent,
            ..Noise::DEFAULT
        })
    }
}

/// One figure, base and new.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub figure: Figure,
    pub base: f64,
    pub new: f64,
    pub verdict: Verdict,
}

impl Change {
    pub fn new(figure: Figure, base: f64, new: f64, noise: Noise) -> Change {
        let mut change = Change {
            figure,
            base,
            new,
            verdict: Verdict::Same,
        };
        change.verdict = change.judge(noise);
        change
    }

    /// The change in percent of the base; `None` when the base is 0 and the
    /// new value is not (no finite percentage).
    pub fn percent(&self) -> Option<f64> {
        match (self.base, self.new) {
            (b, n) if b == n => Some(0.0),
            (0.0, _) => None,
            (b, n) => Some((n - b) / b * 100.0),
        }
    }

    /// The error rate's change in percentage points.
    pub fn points(&self) -> f64 {
        (self.new - self.base) * 100.0
    }

    /// How much worse the new value is, in the figure's unit: positive
    /// when worse, negative when better.
    pub fn worsening(&self) -> f64 {
        if self.figure.higher_is_better() {
            self.base - self.new
        } else {
            self.new - self.base
        }
    }

    /// The change for people: `+12.5 %`, `-0.40 points` for the error
    /// rate, `from 0` when there is no finite percentage.
    pub fn describe(&self) -> String {
        if self.figure == Figure::ErrorRate {
            return format!("{:+.2} points", self.points());
        }
        match self.percent() {
            Some(p) => format!("{p:+.1} %"),
            None => "from 0".to_string(),
        }
    }

    fn judge(&self, noise: Noise) -> Verdict {
        let within = if self.figure == Figure::ErrorRate {
            self.points().abs() <= noise.error_points
        } else {
            self.percent().is_some_and(|p| p.abs() <= noise.percent)
        };
        match self.worsening() {
            _ if within => Verdict::Same,
            w if w > 0.0 => Verdict::Worse,
            _ => Verdict::Better,
        }
    }
}

/// What a row of the comparison is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Total,
    Iteration { round: String, name: String },
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Total => f.write_str("total"),
            Label::Iteration { round, name } => write!(f, "{round} / {name}"),
        }
    }
}

/// Which report has the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Both,
    /// In the baseline, not in the new run.
    MissingInNew,
    /// In the new run only: no baseline.
    OnlyInNew,
}

/// The total or one iteration, compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: Label,
    pub presence: Presence,
    /// Every figure of [`Figure::ALL`]; empty unless in both reports.
    pub changes: Vec<Change>,
}

impl Row {
    fn both(label: Label, base: &Sample, new: &Sample, noise: Noise) -> Row {
        let changes = Figure::ALL
            .into_iter()
            .map(|f| Change::new(f, f.of(base), f.of(new), noise))
            .collect();
        Row {
            label,
            presence: Presence::Both,
            changes,
        }
    }

    fn alone(label: Label, presence: Presence) -> Row {
        Row {
            label,
            presence,
            changes: Vec::new(),
        }
    }

    /// Worse when any figure is worse; better when any is better and none
    /// worse; else the same. `None` unless in both reports.
    pub fn verdict(&self) -> Option<Verdict> {
        let has = |v| self.changes.iter().any(|c| c.verdict == v);
        match self.presence {
            Presence::Both if has(Verdict::Worse) => Some(Verdict::Worse),
            Presence::Both if has(Verdict::Better) => Some(Verdict::Better),
            Presence::Both => Some(Verdict::Same),
            _ => None,
        }
    }
}

/// The total, then the baseline's iterations in its order, then those of
/// the new run only. Iterations match by round and name (the n-th of a
/// name in a round matches the n-th).
pub fn compare(base: &Run, new: &Run, noise: Noise) -> Vec<Row> {
    let mut rows = vec![Row::both(Label::Total, &base.total, &new.total, noise)];
    let base_keys = keys(base);
    let new_keys = keys(new);
    for (key, it) in base_keys.iter().zip(&base.iterations) {
        let label = key.label();
        match new_keys.iter().position(|k| k == key) {
            Some(at) => rows.push(Row::both(
                label,
                &it.sample,
                &new.iterations[at].sample,
                noise,
            )),
            None => rows.push(Row::alone(label, Presence::MissingInNew)),
        }
    }
    for key in new_keys.iter().filter(|k| !base_keys.contains(k)) {
        rows.push(Row::alone(key.label(), Presence::OnlyInNew));
    }
    rows
}

/// An iteration's identity in its report: round, name, and which of that
/// name in that round it is.
#[derive(Debug, PartialEq)]
struct Key<'a> {
    round: &'a str,
    name: &'a str,
    nth: usize,
}

impl Key<'_> {
    fn label(&self) -> Label {
        Label::Iteration {
            round: self.round.to_string(),
            name: self.name.to_string(),
        }
    }
}

fn keys(run: &Run) -> Vec<Key<'_>> {
    let mut keys: Vec<Key> = Vec::with_capacity(run.iterations.len());
    for it in &run.iterations {
        let (round, name) = (it.round.as_str(), it.name.as_str());
        let nth = keys
            .iter()
            .filter(|k| k.round == round && k.name == name)
            .count();
        keys.push(Key { round, name, nth });
    }
    keys
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A report of schema version 1 with the fields compare reads: the
    /// total sums the iterations (round, name, requests, failed, rps, p99
    /// in µs; the other percentiles derive from p99).
    /// An iteration of [`report`]: round, name, requests, failed, rps, p99.
    pub type It<'a> = (&'a str, &'a str, u64, u64, f64, u64);

    pub fn report(test: &str, iterations: &[It]) -> String {
        let sample = |requests: u64, failed: u64, rps: f64, p99: u64| {
            format!(
                r#""requests": {{"total": {requests}, "ok": {}, "failed": {failed}}},
                "throughput_rps": {rps},
                "latency_us": {{"p50": {}, "p90": {}, "p99": {p99}, "p999": {}, "max": {}}}"#,
                requests - failed,
                p99 / 2,
                p99 * 9 / 10,
                p99 * 2,
                p99 * 3
            )
        };
        let its: Vec<String> = iterations
            .iter()
            .map(|(round, name, n, f, rps, p99)| {
                format!(
                    r#"{{"round": "{round}", "name": "{name}", {}}}"#,
                    sample(*n, *f, *rps, *p99)
                )
            })
            .collect();
        let sum = |f: fn(&It) -> u64| iterations.iter().map(f).sum();
        let rps: f64 = iterations.iter().map(|i| i.4).sum();
        let p99 = iterations.iter().map(|i| i.5).max().unwrap_or(0);
        format!(
            r#"{{"schema_version": 1, "test": "{test}", "started_at": "2025-01-01T00:00:00.000Z",
            {}, "iterations": [{}]}}"#,
            sample(sum(|i| i.2), sum(|i| i.3), rps, p99),
            its.join(", ")
        )
    }

    pub fn run(text: &str) -> Run {
        parse_report(std::path::Path::new("r.json"), text.as_bytes()).unwrap()
    }

    fn change(figure: Figure, base: f64, new: f64) -> Change {
        Change::new(figure, base, new, Noise::DEFAULT)
    }

    #[test]
    fn figures_are_named_as_limits_spell_them() {
        for f in Figure::ALL {
            assert_eq!(Figure::from_name(f.name()), Some(f));
        }
        assert_eq!(Figure::from_name("P999"), Some(Figure::P999));
        assert_eq!(Figure::from_name(" Error_Rate "), Some(Figure::ErrorRate));
        assert_eq!(Figure::from_name("p95"), None);
    }

    #[test]
    fn changes_in_percent_and_points() {
        assert_eq!(change(Figure::P99, 1000.0, 1100.0).percent(), Some(10.0));
        assert_eq!(change(Figure::Rps, 200.0, 150.0).percent(), Some(-25.0));
        assert_eq!(change(Figure::P99, 0.0, 0.0).percent(), Some(0.0));
        assert_eq!(change(Figure::P99, 0.0, 5.0).percent(), None);
        assert_eq!(change(Figure::ErrorRate, 0.01, 0.035).points(), 2.5);
        assert_eq!(change(Figure::Rps, 200.0, 150.0).worsening(), 50.0);
        assert_eq!(change(Figure::P99, 1000.0, 900.0).worsening(), -100.0);
    }

    #[test]
    fn verdicts_take_the_direction_and_the_noise_band() {
        use Verdict::*;
        let cases = [
            (Figure::P99, 1000.0, 1020.0, Same),
            (Figure::P99, 1000.0, 1021.0, Worse),
            (Figure::P99, 1000.0, 979.0, Better),
            (Figure::P50, 0.0, 7.0, Worse),
            (Figure::Rps, 1000.0, 979.0, Worse),
            (Figure::Rps, 1000.0, 1021.0, Better),
            (Figure::Requests, 100.0, 100.0, Same),
            (Figure::Requests, 0.0, 10.0, Better),
            (Figure::ErrorRate, 0.0, 0.001, Same),
            (Figure::ErrorRate, 0.0, 0.0011, Worse),
            (Figure::ErrorRate, 0.5, 0.25, Better),
        ];
        for (figure, base, new, expected) in cases {
            assert_eq!(
                change(figure, base, new).verdict,
                expected,
                "{figure:?} {base} {new}"
            );
        }
        let wide = Noise::percent(50.0).unwrap();
        assert_eq!(Change::new(Figure::P99, 100.0, 150.0, wide).verdict, Same);
        assert!(Noise::percent(-1.0).is_err());
        assert!(Noise::percent(f64::NAN).is_err());
    }

    #[test]
    fn iterations_match_by_round_and_name() {
        let base = run(&report(
            "T",
            &[
                ("R1", "a", 100, 0, 100.0, 1000),
                ("R1", "b", 100, 0, 100.0, 1000),
                ("R2", "a", 100, 0, 100.0, 1000),
                ("R2", "a", 100, 0, 100.0, 1000),
            ],
        ));
        let new = run(&report(
            "T",
            &[
                ("R2", "a", 100, 0, 100.0, 2000),
                ("R1", "a", 100, 0, 100.0, 1000),
                ("R1", "c", 100, 0, 100.0, 1000),
            ],
        ));
        let rows = compare(&base, &new, Noise::DEFAULT);
        let summary: Vec<(String, Presence, Option<Verdict>)> = rows
            .iter()
            .map(|r| (r.label.to_string(), r.presence, r.verdict()))
            .collect();
        use Presence::*;
        assert_eq!(
            summary,
            [
                ("total".into(), Both, Some(Verdict::Worse)),
                ("R1 / a".into(), Both, Some(Verdict::Same)),
                ("R1 / b".into(), MissingInNew, None),
                ("R2 / a".into(), Both, Some(Verdict::Worse)),
                ("R2 / a".into(), MissingInNew, None),
                ("R1 / c".into(), OnlyInNew, None),
            ]
        );
        // The first R2 / a of the baseline met the first of the new run.
        let p99 = rows[3].changes.iter().find(|c| c.figure == Figure::P99);
        assert_eq!(p99.map(|c| (c.base, c.new)), Some((1000.0, 2000.0)));
    }

    #[test]
    fn a_row_is_better_only_when_nothing_is_worse() {
        let base = run(&report("T", &[("R", "a", 100, 0, 100.0, 1000)]));
        let faster = run(&report("T", &[("R", "a", 100, 0, 100.0, 500)]));
        let mixed = run(&report("T", &[("R", "a", 100, 0, 150.0, 2000)]));
        let rows = compare(&base, &faster, Noise::DEFAULT);
        assert_eq!(rows[1].verdict(), Some(Verdict::Better));
        let rows = compare(&base, &mixed, Noise::DEFAULT);
        assert_eq!(rows[1].verdict(), Some(Verdict::Worse));
        let rows = compare(&base, &base, Noise::DEFAULT);
        assert_eq!(rows[1].verdict(), Some(Verdict::Same));
    }
}
