//! The limits on regressions: `--max-regression p99=10%,rps=5%,error_rate=0.01`
//! or the same keys in a file (`--limits FILE`, JSON or YAML), and the check
//! of a comparison against them.
//!
//! Grammar (docs/cli.md): `LIMIT[,LIMIT...]`, each `FIGURE=AMOUNT`; an
//! amount is how much worse the new run may be than the baseline:
//! `N%` relative to the baseline, else absolute in the figure's unit:
//! latencies in µs or with `us`, `µs`, `ms`, `s`; `rps` (optional unit
//! `rps`); `requests`; `error_rate` as a fraction (`0.01`) or in
//! percentage points (`1pp`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Change, Figure, Label, Presence, Row};

/// Why a limit is refused; each names where it was given.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("{origin}: {limit:?}: {why}")]
    Bad {
        /// `--max-regression`, or the limits file.
        origin: String,
        limit: String,
        why: Why,
    },
    #[error("--limits: cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--limits: {}: {message}", .path.display())]
    File { path: PathBuf, message: String },
}

/// What is wrong with one limit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Why {
    #[error("expected FIGURE=AMOUNT, such as p99=10%")]
    NoEquals,
    #[error(
        "unknown figure {0:?}; the figures are requests, rps, error_rate, p50, p90, p99, p99.9, max"
    )]
    UnknownFigure(String),
    #[error("{0:?} is not a number of 0 or more, then % or a unit")]
    Number(String),
    #[error("unit {unit:?} does not apply to {figure}; it takes {allowed}")]
    Unit {
        unit: String,
        figure: &'static str,
        allowed: &'static str,
    },
    #[error("{0} has a limit already")]
    Twice(&'static str),
    #[error("an amount is a string (\"10%\") or a number")]
    NotAmount,
}

/// How much worse a figure may get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// In percent of the baseline's value.
    Relative(f64),
    /// In the figure's unit: µs, requests, requests per second, or a
    /// fraction for the error rate.
    Absolute(f64),
}

/// One limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    pub figure: Figure,
    pub amount: Amount,
}

/// The limits of one comparison, at most one per figure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits(pub Vec<Limit>);

/// A limit the new run does not keep.
#[derive(Debug, Clone, PartialEq)]
pub enum Breach {
    Exceeded {
        label: Label,
        change: Change,
        limit: Limit,
    },
    /// An iteration of the baseline that the new run lacks: none of its
    /// limits can be checked.
    Missing { label: Label },
}

/// Parses `--max-regression`'s value.
pub fn parse_limits(text: &str) -> Result<Limits, LimitError> {
    let mut limits = Limits::default();
    for item in text.split(',') {
        let bad = |why| LimitError::Bad {
            origin: "--max-regression".into(),
            limit: item.trim().to_string(),
            why,
        };
        let (figure, amount) = item.split_once('=').ok_or_else(|| bad(Why::NoEquals))?;
        limits.add(figure, amount).map_err(bad)?;
    }
    Ok(limits)
}

impl Limits {
    fn add(&mut self, figure: &str, amount: &str) -> Result<(), Why> {
        let figure =
            Figure::from_name(figure).ok_or_else(|| Why::UnknownFigure(figure.trim().into()))?;
        if self.0.iter().any(|l| l.figure == figure) {
            return Err(Why::Twice(figure.name()));
        }
        let amount = parse_amount(figure, amount.trim())?;
        self.0.push(Limit { figure, amount });
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads `--limits FILE`: JSON when it ends in `.json`, else YAML.
pub fn read_limits(path: &Path) -> Result<Limits, LimitError> {
    let text = std::fs::read_to_string(path).map_err(|source| LimitError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file_error = |message: String| LimitError::File {
        path: path.to_path_buf(),
        message,
    };
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    // A map of figure to amount: a string (`"10%"`) or a number (`0.01`).
    let map: BTreeMap<String, serde_json::Value> = if json {
        serde_json::from_str(&text).map_err(|e| file_error(e.to_string()))?
    } else {
        serde_saphyr::from_str(&text).map_err(|e| file_error(yaml_message(e)))?
    };
    let mut limits = Limits::default();
    for (figure, amount) in map {
        let text = match amount {
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::String(s) => Ok(s),
            other => Err(other.to_string()),
        };
        let shown = text.as_ref().unwrap_or_else(|other| other);
        let bad = |why| LimitError::Bad {
            origin: format!("--limits: {}", path.display()),
            limit: format!("{figure}: {shown}"),
            why,
        };
        let text = text.as_deref().map_err(|_| bad(Why::NotAmount))?;
        limits.add(&figure, text).map_err(bad)?;
    }
    Ok(limits)
}

/// A YAML error on one line: `line 2 column 1: duplicate mapping key: p99`.
fn yaml_message(e: serde_saphyr::Error) -> String {
    let e = e.without_snippet();
    let line = e.location().map(|l| l.line());
    let text = e.to_string();
    // serde-saphyr's advice is about its own API, not the file.
    let text = match text.split_once(", set DuplicateKeyPolicy") {
        Some((head, _)) => head.to_string(),
        None => text,
    };
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    match line {
        Some(line) if !text.contains(" line ") => format!("line {line}: {text}"),
        _ => text.to_string(),
    }
}

/// `10%`, `250ms`, `0.01`, `1pp`... for `figure`.
fn parse_amount(figure: Figure, text: &str) -> Result<Amount, Why> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| Why::Number(text.to_string()))?;
    let unit = unit.trim();
    if unit == "%" {
        return Ok(Amount::Relative(n));
    }
    let scale = unit_scale(figure, unit).ok_or_else(|| Why::Unit {
        unit: unit.to_string(),
        figure: figure.name(),
        allowed: units(figure),
    })?;
    Ok(Amount::Absolute(n * scale))
}

/// What `unit` multiplies a number by, to the figure's own unit.
fn unit_scale(figure: Figure, unit: &str) -> Option<f64> {
    match (figure, unit) {
        (_, "") => Some(1.0),
        (f, "us" | "µs") if f.is_latency() => Some(1.0),
        (f, "ms") if f.is_latency() => Some(1e3),
        (f, "s") if f.is_latency() => Some(1e6),
        (Figure::Rps, "rps") => Some(1.0),
        (Figure::ErrorRate, "pp") => Some(0.01),
        _ => None,
    }
}

/// The units of `figure`, for the message of a wrong one.
fn units(figure: Figure) -> &'static str {
    match figure {
        f if f.is_latency() => "%, or µs without a unit or with us, µs, ms, s",
        Figure::Rps => "%, or requests per second without a unit or with rps",
        Figure::ErrorRate => "%, a fraction without a unit (0.01), or pp (percentage points)",
        _ => "% or a number of requests",
    }
}

/// Above this, a worsening is over its limit: a limit exactly met passes,
/// whatever the rounding of the division.
const SLACK: f64 = 1e-9;

/// Whether `change` is worse than `amount` allows. Relative to a baseline
/// of 0, any worsening is.
pub fn exceeds(change: &Change, amount: Amount) -> bool {
    let worse = change.worsening();
    match amount {
        Amount::Relative(_) if change.base == 0.0 => worse > 0.0,
        Amount::Relative(p) => worse / change.base.abs() * 100.0 > p + SLACK,
        Amount::Absolute(a) => worse > a + SLACK,
    }
}

/// The limits the new run does not keep, row by row: each figure over its
/// limit, and each iteration of the baseline missing from the new run
/// (when there are limits at all). An iteration of the new run only has no
/// baseline and breaks none.
pub fn check(rows: &[Row], limits: &Limits) -> Vec<Breach> {
    if limits.is_empty() {
        return Vec::new();
    }
    let mut breaches = Vec::new();
    for row in rows {
        if row.presence == Presence::MissingInNew {
            breaches.push(Breach::Missing {
                label: row.label.clone(),
            });
        }
        for limit in &limits.0 {
            let over = row
                .changes
                .iter()
                .find(|c| c.figure == limit.figure && exceeds(c, limit.amount));
            if let Some(change) = over {
                breaches.push(Breach::Exceeded {
                    label: row.label.clone(),
                    change: *change,
                    limit: limit.clone(),
                });
            }
        }
    }
    breaches
}

impl Limit {
    /// The limit in words, with the figure's unit: `p99 may rise 10 %`,
    /// `rps may fall 50.0`, `error_rate may rise 1.00 points`.
    pub fn describe(&self) -> String {
        let way = if self.figure.higher_is_better() {
            "fall"
        } else {
            "rise"
        };
        let amount = match self.amount {
            Amount::Relative(p) => format!("{p} %"),
            Amount::Absolute(a) => self.figure.format_delta(a),
        };
        format!("{} may {way} {amount}", self.figure.name())
    }
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Breach::Missing { label } => {
                write!(f, "{label}: missing in NEW, its limits cannot be checked")
            }
            Breach::Exceeded {
                label,
                change,
                limit,
            } => {
                let figure = change.figure;
                write!(
                    f,
                    "{label}: {} {} -> {} ({}); the limit: {}",
                    figure.name(),
                    figure.format(change.base),
                    figure.format(change.new),
                    change.describe(),
                    limit.describe()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Noise;
    use super::*;

    fn limits(text: &str) -> Vec<(Figure, Amount)> {
        parse_limits(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
            .into_iter()
            .map(|l| (l.figure, l.amount))
            .collect()
    }

    fn refused(text: &str) -> String {
        parse_limits(text).expect_err(text).to_string()
    }

    #[test]
    fn the_grammar() {
        use Amount::*;
        assert_eq!(
            limits("p99=10%,rps=5%,error_rate=0.01"),
            [
                (Figure::P99, Relative(10.0)),
                (Figure::Rps, Relative(5.0)),
                (Figure::ErrorRate, Absolute(0.01))
            ]
        );
        assert_eq!(
            limits(" p50 = 250us , p90=1.5ms, P99.9=2s, max=700 µs"),
            [
                (Figure::P50, Absolute(250.0)),
                (Figure::P90, Absolute(1500.0)),
                (Figure::P999, Absolute(2_000_000.0)),
                (Figure::Max, Absolute(700.0)),
            ]
        );
        assert_eq!(
            limits("error_rate=2pp,rps=100rps,requests=0,p999=0%"),
            [
                (Figure::ErrorRate, Absolute(0.02)),
                (Figure::Rps, Absolute(100.0)),
                (Figure::Requests, Absolute(0.0)),
                (Figure::P999, Relative(0.0)),
            ]
        );
    }

    #[test]
    fn a_bad_limit_is_named() {
        let cases = [
            (
                "p99",
                r#"--max-regression: "p99": expected FIGURE=AMOUNT, such as p99=10%"#,
            ),
            (
                "p99=10%,p98=5%",
                r#"--max-regression: "p98=5%": unknown figure "p98"; the figures are requests, rps, error_rate, p50, p90, p99, p99.9, max"#,
            ),
            (
                "p99=-1%",
                r#"--max-regression: "p99=-1%": "-1%" is not a number of 0 or more, then % or a unit"#,
            ),
            (
                "p99=ten",
                r#"--max-regression: "p99=ten": "ten" is not a number of 0 or more, then % or a unit"#,
            ),
            (
                "p99=1..2",
                r#"--max-regression: "p99=1..2": "1..2" is not a number of 0 or more, then % or a unit"#,
            ),
            (
                "rps=5ms",
                r#"--max-regression: "rps=5ms": unit "ms" does not apply to rps; it takes %, or requests per second without a unit or with rps"#,
            ),
            (
                "error_rate=1pt",
                r#"--max-regression: "error_rate=1pt": unit "pt" does not apply to error_rate; it takes %, a fraction without a unit (0.01), or pp (percentage points)"#,
            ),
            (
                "p99=1%,P99=2%",
                r#"--max-regression: "P99=2%": p99 has a limit already"#,
            ),
            (
                "",
                r#"--max-regression: "": expected FIGURE=AMOUNT, such as p99=10%"#,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(refused(text), expected, "{text}");
        }
    }

    #[test]
    fn a_limits_file_in_json_or_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let yaml = file("l.yaml", "p99: 10%\nrps: 5%\nerror_rate: 0.01\nmax: 2ms\n");
        let json = file(
            "l.json",
            r#"{"p99": "10%", "error_rate": 0.01, "p999": "1.5ms"}"#,
        );
        let read = |path| {
            let mut limits: Vec<(Figure, Amount)> = read_limits(path)
                .unwrap()
                .0
                .into_iter()
                .map(|l| (l.figure, l.amount))
                .collect();
            limits.sort_by_key(|(f, _)| f.name());
            limits
        };
        use Amount::*;
        assert_eq!(
            read(&yaml),
            [
                (Figure::ErrorRate, Absolute(0.01)),
                (Figure::Max, Absolute(2000.0)),
                (Figure::P99, Relative(10.0)),
                (Figure::Rps, Relative(5.0)),
            ]
        );
        assert_eq!(
            read(&json),
            [
                (Figure::ErrorRate, Absolute(0.01)),
                (Figure::P99, Relative(10.0)),
                (Figure::P999, Absolute(1500.0)),
            ]
        );
        let refused = |name, text| {
            let path = file(name, text);
            read_limits(&path)
                .unwrap_err()
                .to_string()
                .replace(&*dir.path().to_string_lossy(), "D")
        };
        assert_eq!(
            refused("a.yaml", "p99: 10%\np95: 1ms\n"),
            r#"--limits: D/a.yaml: "p95: 1ms": unknown figure "p95"; the figures are requests, rps, error_rate, p50, p90, p99, p99.9, max"#
        );
        assert_eq!(
            refused("b.yaml", "p99: [1]\n"),
            r#"--limits: D/b.yaml: "p99: [1]": an amount is a string ("10%") or a number"#
        );
        assert_eq!(
            refused("c.yaml", "p99: 10%\np99: 20%\n"),
            "--limits: D/c.yaml: line 2: duplicate mapping key: p99"
        );
        assert_eq!(
            refused("d.json", "{\"p99\": }"),
            "--limits: D/d.json: expected value at line 1 column 9"
        );
    }

    fn row(figure: Figure, base: f64, new: f64) -> Row {
        Row {
            label: Label::Total,
            presence: Presence::Both,
            changes: vec![Change::new(figure, base, new, Noise::DEFAULT)],
        }
    }

    fn over(text: &str, figure: Figure, base: f64, new: f64) -> bool {
        let limits = parse_limits(text).unwrap();
        !check(&[row(figure, base, new)], &limits).is_empty()
    }

    #[test]
    fn a_limit_exactly_met_passes() {
        let cases = [
            ("p99=10%", Figure::P99, 1000.0, 1100.0, false),
            ("p99=10%", Figure::P99, 1000.0, 1101.0, true),
            ("p99=10%", Figure::P99, 1000.0, 10.0, false),
            ("p99=10%", Figure::P99, 0.0, 1.0, true),
            ("p99=10%", Figure::P99, 0.0, 0.0, false),
            ("p99=100us", Figure::P99, 1000.0, 1100.0, false),
            ("p99=100us", Figure::P99, 1000.0, 1101.0, true),
            ("rps=5%", Figure::Rps, 1000.0, 950.0, false),
            ("rps=5%", Figure::Rps, 1000.0, 949.0, true),
            ("rps=5%", Figure::Rps, 1000.0, 5000.0, false),
            ("error_rate=0.01", Figure::ErrorRate, 0.1, 0.11, false),
            ("error_rate=0.01", Figure::ErrorRate, 0.1, 0.111, true),
            ("error_rate=1pp", Figure::ErrorRate, 0.1, 0.111, true),
            ("error_rate=50%", Figure::ErrorRate, 0.1, 0.15, false),
            ("error_rate=50%", Figure::ErrorRate, 0.0, 0.001, true),
            ("requests=0", Figure::Requests, 100.0, 99.0, true),
            // A limit on another figure does not apply.
            ("p50=0%", Figure::P99, 100.0, 200.0, false),
        ];
        for (text, figure, base, new, expected) in cases {
            assert_eq!(
                over(text, figure, base, new),
                expected,
                "{text} {base} -> {new}"
            );
        }
    }

    #[test]
    fn missing_iterations_break_limits_and_new_ones_do_not() {
        let label = Label::Iteration {
            round: "R".into(),
            name: "I".into(),
        };
        let alone = |presence| Row {
            label: label.clone(),
            presence,
            changes: vec![],
        };
        let limits = parse_limits("p99=10%").unwrap();
        let rows = [alone(Presence::MissingInNew), alone(Presence::OnlyInNew)];
        assert_eq!(check(&rows, &limits), [Breach::Missing { label }]);
        assert_eq!(check(&rows, &Limits::default()), []);
    }

    #[test]
    fn breaches_in_words() {
        let limits = parse_limits("p99=10%,rps=50rps,error_rate=0.01").unwrap();
        let rows = [Row {
            label: Label::Total,
            presence: Presence::Both,
            changes: vec![
                Change::new(Figure::P99, 1000.0, 1500.0, Noise::DEFAULT),
                Change::new(Figure::Rps, 1000.0, 900.0, Noise::DEFAULT),
                Change::new(Figure::ErrorRate, 0.01, 0.035, Noise::DEFAULT),
            ],
        }];
        let lines: Vec<String> = check(&rows, &limits)
            .iter()
            .map(|b| b.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "total: p99 1.00ms -> 1.50ms (+50.0 %); the limit: p99 may rise 10 %",
                "total: rps 1000.0 -> 900.0 (-10.0 %); the limit: rps may fall 50.0 rps",
                "total: error_rate 1.00 % -> 3.50 % (+2.50 points); the limit: error_rate may rise 1.00 points",
            ]
        );
    }
}
