//! A comparison as text (the table `lps compare` prints) and as JSON
//! (`lps compare --json`).

use std::fmt::Write as _;

use serde::Serialize;

use super::{
    Breach, Change, Comparison, Distribution, Figure, HistogramRow, Label, Presence, Row, Side,
};

/// The comparison as the table `lps compare` prints.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    render_head(&mut out, c);
    for row in &c.rows {
        render_row(&mut out, row);
    }
    if let Some((base, new, rows)) = &c.histograms {
        let _ = writeln!(out, "\nHistograms: {} vs {}", base.display(), new.display());
        for row in rows {
            render_histogram(&mut out, row);
        }
    }
    render_limits(&mut out, c);
    out
}

fn render_head(out: &mut String, c: &Comparison) {
    let side = |s: &Side| {
        let nodes = match s.run.node_count() {
            1 => "one node".to_string(),
            n => format!("a cluster of {n} nodes"),
        };
        format!(
            "{}: \"{}\", started {}, {nodes}",
            s.path.display(),
            s.run.test,
            s.run.started_at
        )
    };
    let _ = writeln!(out, "BASE  {}", side(&c.base));
    let _ = writeln!(out, "NEW   {}", side(&c.new));
    let _ = writeln!(
        out,
        "Same: within ±{} % (the error rate: ±{} points)",
        c.noise.percent, c.noise.error_points
    );
}

/// Columns: figure, BASE, NEW, change, verdict.
const HEAD: &str = "  figure              BASE          NEW          change  verdict";

fn render_row(out: &mut String, row: &Row) {
    let _ = write!(out, "\n{}: ", row.label);
    match (row.presence, row.verdict()) {
        (Presence::MissingInNew, _) => {
            let _ = writeln!(out, "missing in NEW");
            return;
        }
        (Presence::OnlyInNew, _) => {
            let _ = writeln!(out, "in NEW only (no baseline)");
            return;
        }
        (Presence::Both, verdict) => {
            let _ = writeln!(out, "{}", verdict.map_or("", |v| v.as_str()));
        }
    }
    let _ = writeln!(out, "{HEAD}");
    for c in &row.changes {
        let _ = writeln!(
            out,
            "  {:<11} {:>12} {:>12} {:>15}  {}",
            c.figure.name(),
            c.figure.format(c.base),
            c.figure.format(c.new),
            c.describe(),
            c.verdict.as_str()
        );
    }
}

fn render_histogram(out: &mut String, row: &HistogramRow) {
    let _ = write!(out, "\n{}: ", row.tag);
    let (Some(base), Some(new)) = (row.base, row.new) else {
        let where_ = match row.presence {
            Presence::OnlyInNew => "in NEW only (no baseline)",
            _ => "missing in NEW",
        };
        let _ = writeln!(out, "{where_}");
        return;
    };
    let _ = writeln!(out, "{} vs {} responses", base.count, new.count);
    let _ = writeln!(
        out,
        "  figure              BASE          NEW          change"
    );
    for (name, b, n) in percentiles(&base, &new) {
        let change = Change::new(Figure::P99, b as f64, n as f64, super::Noise::DEFAULT);
        let _ = writeln!(
            out,
            "  {name:<11} {:>12} {:>12} {:>15}",
            crate::report::us(b),
            crate::report::us(n),
            change.describe()
        );
    }
    if let Some((gap, at)) = row.gap {
        let _ = writeln!(
            out,
            "  largest gap between the distributions: {:.1} % of responses, at {}",
            gap * 100.0,
            crate::report::us(at)
        );
    }
}

/// The percentiles of a histogram row, by name.
fn percentiles(b: &Distribution, n: &Distribution) -> [(&'static str, u64, u64); 6] {
    [
        ("p50", b.p50, n.p50),
        ("p90", b.p90, n.p90),
        ("p99", b.p99, n.p99),
        ("p99.9", b.p999, n.p999),
        ("p99.99", b.p9999, n.p9999),
        ("max", b.max, n.max),
    ]
}

fn render_limits(out: &mut String, c: &Comparison) {
    if c.limits.is_empty() {
        return;
    }
    let limits: Vec<String> = c.limits.0.iter().map(|l| l.describe()).collect();
    let _ = write!(out, "\nLimits: {}: ", limits.join(", "));
    let _ = match c.breaches.len() {
        0 => writeln!(out, "all kept"),
        1 => writeln!(out, "1 exceeded"),
        n => writeln!(out, "{n} exceeded"),
    };
    for breach in &c.breaches {
        let _ = writeln!(out, "  {breach}");
    }
}

/// The comparison as `lps compare --json` writes it.
#[derive(Serialize)]
pub struct Document<'a> {
    pub base: SideOut<'a>,
    pub new: SideOut<'a>,
    pub noise: NoiseOut,
    pub rows: Vec<RowOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histograms: Option<Vec<HistogramOut<'a>>>,
    /// Each limit in words (`p99 may rise 10 %`).
    pub limits: Vec<String>,
    /// Each limit not kept, in words.
    pub breaches: Vec<String>,
    /// No limit exceeded (true without limits).
    pub passed: bool,
}

#[derive(Serialize)]
pub struct SideOut<'a> {
    pub path: String,
    pub test: &'a str,
    pub started_at: &'a str,
    pub nodes: usize,
}

#[derive(Serialize)]
pub struct NoiseOut {
    pub percent: f64,
    pub error_points: f64,
}

#[derive(Serialize)]
pub struct RowOut<'a> {
    /// `null` for the total.
    pub round: Option<&'a str>,
    /// `total`, or the iteration's name.
    pub name: &'a str,
    /// `both`, `missing_in_new` or `only_in_new`.
    pub presence: &'static str,
    /// `better`, `same` or `worse`; `null` unless in both.
    pub verdict: Option<&'static str>,
    pub figures: Vec<FigureOut>,
}

#[derive(Serialize)]
pub struct FigureOut {
    pub figure: &'static str,
    pub base: f64,
    pub new: f64,
    /// In percent of the base; `null` from a base of 0.
    pub change_pct: Option<f64>,
    /// The error rate only: the change in percentage points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_points: Option<f64>,
    pub verdict: &'static str,
}

#[derive(Serialize)]
pub struct HistogramOut<'a> {
    pub tag: &'a str,
    pub presence: &'static str,
    pub base: Option<DistributionOut>,
    pub new: Option<DistributionOut>,
    /// The largest gap between the two distributions, 0 to 1.
    pub largest_gap: Option<f64>,
    /// Where it is, in µs.
    pub largest_gap_at_us: Option<u64>,
}

#[derive(Serialize)]
pub struct DistributionOut {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub p9999: u64,
    pub max: u64,
}

impl<'a> Document<'a> {
    pub fn new(c: &'a Comparison) -> Document<'a> {
        Document {
            base: side(&c.base),
            new: side(&c.new),
            noise: NoiseOut {
                percent: c.noise.percent,
                error_points: c.noise.error_points,
            },
            rows: c.rows.iter().map(row).collect(),
            histograms: c
                .histograms
                .as_ref()
                .map(|(_, _, rows)| rows.iter().map(histogram).collect()),
            limits: c.limits.0.iter().map(|l| l.describe()).collect(),
            breaches: c.breaches.iter().map(Breach::to_string).collect(),
            passed: c.breaches.is_empty(),
        }
    }
}

fn side(s: &Side) -> SideOut<'_> {
    SideOut {
        path: s.path.display().to_string(),
        test: &s.run.test,
        started_at: &s.run.started_at,
        nodes: s.run.node_count(),
    }
}

fn presence(p: Presence) -> &'static str {
    match p {
        Presence::Both => "both",
        Presence::MissingInNew => "missing_in_new",
        Presence::OnlyInNew => "only_in_new",
    }
}

fn row(r: &Row) -> RowOut<'_> {
    let (round, name) = match &r.label {
        Label::Total => (None, "total"),
        Label::Iteration { round, name } => (Some(round.as_str()), name.as_str()),
    };
    RowOut {
        round,
        name,
        presence: presence(r.presence),
        verdict: r.verdict().map(|v| v.as_str()),
        figures: r.changes.iter().map(figure).collect(),
    }
}

fn figure(c: &Change) -> FigureOut {
    FigureOut {
        figure: c.figure.name(),
        base: c.base,
        new: c.new,
        change_pct: c.percent(),
        change_points: (c.figure == Figure::ErrorRate).then(|| c.points()),
        verdict: c.verdict.as_str(),
    }
}

fn histogram(r: &HistogramRow) -> HistogramOut<'_> {
    let out = |d: Distribution| DistributionOut {
        count: d.count,
        p50: d.p50,
        p90: d.p90,
        p99: d.p99,
        p999: d.p999,
        p9999: d.p9999,
        max: d.max,
    };
    HistogramOut {
        tag: &r.tag,
        presence: presence(r.presence),
        base: r.base.map(out),
        new: r.new.map(out),
        largest_gap: r.gap.map(|g| g.0),
        largest_gap_at_us: r.gap.map(|g| g.1),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{report, run};
    use super::super::{Limits, Noise, check, compare, parse_limits};
    use super::*;

    fn comparison(base: &str, new: &str, limits: Limits) -> Comparison {
        let (base, new) = (run(base), run(new));
        let rows = compare(&base, &new, Noise::DEFAULT);
        let breaches = check(&rows, &limits);
        Comparison {
            base: Side {
                path: "base.json".into(),
                run: base,
            },
            new: Side {
                path: "new.json".into(),
                run: new,
            },
            noise: Noise::DEFAULT,
            rows,
            histograms: None,
            limits,
            breaches,
        }
    }

    #[test]
    fn the_table() {
        let base = report(
            "T",
            &[
                ("R", "a", 1000, 0, 500.0, 2000),
                ("R", "b", 10, 0, 5.0, 100),
            ],
        );
        let new = report(
            "T",
            &[
                ("R", "a", 1000, 30, 400.0, 2100),
                ("R", "c", 10, 0, 5.0, 100),
            ],
        );
        let c = comparison(&base, &new, parse_limits("p99=10%,rps=10%").unwrap());
        let expected = r#"BASE  base.json: "T", started 2025-01-01T00:00:00.000Z, one node
NEW   new.json: "T", started 2025-01-01T00:00:00.000Z, one node
Same: within ±2 % (the error rate: ±0.1 points)

total: worse
  figure              BASE          NEW          change  verdict
  requests            1010         1010          +0.0 %  same
  rps                505.0        405.0         -19.8 %  worse
  error_rate        0.00 %       2.97 %    +2.97 points  worse
  p50               1.00ms       1.05ms          +5.0 %  worse
  p90               1.80ms       1.89ms          +5.0 %  worse
  p99               2.00ms       2.10ms          +5.0 %  worse
  p99.9             4.00ms       4.20ms          +5.0 %  worse
  max               6.00ms       6.30ms          +5.0 %  worse

R / a: worse
  figure              BASE          NEW          change  verdict
  requests            1000         1000          +0.0 %  same
  rps                500.0        400.0         -20.0 %  worse
  error_rate        0.00 %       3.00 %    +3.00 points  worse
  p50               1.00ms       1.05ms          +5.0 %  worse
  p90               1.80ms       1.89ms          +5.0 %  worse
  p99               2.00ms       2.10ms          +5.0 %  worse
  p99.9             4.00ms       4.20ms          +5.0 %  worse
  max               6.00ms       6.30ms          +5.0 %  worse

R / b: missing in NEW

R / c: in NEW only (no baseline)

Limits: p99 may rise 10 %, rps may fall 10 %: 3 exceeded
  total: rps 505.0 -> 405.0 (-19.8 %); the limit: rps may fall 10 %
  R / a: rps 500.0 -> 400.0 (-20.0 %); the limit: rps may fall 10 %
  R / b: missing in NEW, its limits cannot be checked
"#;
        assert_eq!(render(&c), expected);
    }

    #[test]
    fn the_json_comparison() {
        let base = report("T", &[("R", "a", 1000, 0, 500.0, 2000)]);
        let new = report("T", &[("R", "a", 1000, 10, 500.0, 2000)]);
        let c = comparison(&base, &new, parse_limits("error_rate=0.5pp").unwrap());
        let doc = serde_json::to_value(Document::new(&c)).unwrap();
        assert_eq!(doc["passed"], false);
        assert_eq!(doc["rows"][1]["round"], "R");
        assert_eq!(doc["rows"][1]["name"], "a");
        assert_eq!(doc["rows"][1]["verdict"], "worse");
        let rate = &doc["rows"][1]["figures"][2];
        assert_eq!(rate["figure"], "error_rate");
        assert_eq!(rate["base"], 0.0);
        assert_eq!(rate["new"], 0.01);
        assert_eq!(rate["change_pct"], serde_json::Value::Null);
        assert_eq!(rate["change_points"], 1.0);
        assert_eq!(doc["limits"][0], "error_rate may rise 0.50 points");
        assert_eq!(doc["breaches"].as_array().map(Vec::len), Some(2));
        assert_eq!(doc["rows"][0]["round"], serde_json::Value::Null);
        assert!(doc.get("histograms").is_none());
    }
}
