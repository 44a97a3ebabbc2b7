//! `--series`: the run's per-second series, for the whole run and for each
//! iteration, as CSV or JSON Lines (chosen by the file's extension).
//!
//! The seconds are the dashboard's (`dashboard::live`): the live model
//! closes each second into a [`Point`] and, when a series is recorded, hands
//! the same second to a [`Recorder`], which keeps a [`Row`] for the total
//! and one for each iteration that recorded anything in it. The `total`
//! rows add up to the report's totals: every snapshot lands in exactly one
//! second, and the run's end closes whatever is left.

use std::path::Path;
use std::time::Duration;

use lps_config::Plan;
use lps_engine::{ErrorKind, Stats};

use crate::dashboard::live::Point;

/// The format of a series file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesFormat {
    /// `.csv`: a header line, then one line per row.
    Csv,
    /// `.jsonl` or `.ndjson`: one JSON object per row and line.
    JsonLines,
}

impl SeriesFormat {
    /// The format `path`'s extension names (in any case); `None` for any
    /// other extension or none.
    pub fn of(path: &Path) -> Option<SeriesFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(SeriesFormat::Csv),
            "jsonl" | "ndjson" => Some(SeriesFormat::JsonLines),
            _ => None,
        }
    }
}

/// The scope of the rows that cover the whole run.
pub const TOTAL: &str = "total";

/// The columns of a row, in order: the CSV header and the JSON keys.
/// Latencies are in microseconds (`_us`), as in the JSON report.
pub const COLUMNS: [&str; 23] = [
    "time_s",
    "scope",
    "requests",
    "rps",
    "errors",
    "errors_connect",
    "errors_timeout",
    "errors_reset",
    "errors_closed",
    "errors_protocol",
    "errors_tls",
    "errors_other",
    "status_1xx",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
    "p50_us",
    "p90_us",
    "p99_us",
    "in_flight",
    "bytes_in",
    "bytes_out",
];

/// One second of the run, for the whole run or one iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Seconds since the start, at the end of this second (the last row's
    /// second ends with the run, and may be shorter).
    pub time_s: f64,
    /// [`TOTAL`], or the iteration as `round/iteration`.
    pub scope: String,
    /// Requests that completed or failed in this second.
    pub requests: u64,
    /// `requests` over this second's span.
    pub rps: f64,
    /// Failed requests: 4xx and 5xx responses, and failures without one.
    pub errors: u64,
    /// Failures without a response, by kind (as `ErrorKind::ALL`).
    pub errors_by_kind: [u64; ErrorKind::ALL.len()],
    /// Responses by status class, 1xx to 5xx.
    pub status: [u64; 5],
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    /// Requests in flight at the end of the second; `None` for an
    /// iteration (the engine counts them per core, not per iteration).
    pub in_flight: Option<u64>,
    /// Bytes read from the target in this second.
    pub bytes_in: u64,
    /// Bytes written to the target in this second.
    pub bytes_out: u64,
}

/// One cell of a row, as each format writes it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell<'a> {
    Count(u64),
    Number(f64),
    Text(&'a str),
    Missing,
}

impl Row {
    /// The row of `scope` for the seconds up to `upto` (`span` long), from
    /// what arrived in them; its percentiles and status classes are the
    /// dashboard's point's.
    pub fn new(
        scope: &str,
        interval: &Stats,
        (upto, span): (Duration, Duration),
        in_flight: Option<u64>,
    ) -> Row {
        let p = Point::new(interval, upto, span, in_flight.unwrap_or(0));
        Row {
            time_s: p.t,
            scope: scope.to_string(),
            requests: p.requests,
            rps: p.rps,
            errors: p.errors,
            errors_by_kind: ErrorKind::ALL.map(|k| interval.errors(k)),
            status: [
                p.status_1xx,
                p.status_2xx,
                p.status_3xx,
                p.status_4xx,
                p.status_5xx,
            ],
            p50_us: p.p50_us,
            p90_us: p.p90_us,
            p99_us: p.p99_us,
            in_flight,
            bytes_in: interval.bytes_received,
            bytes_out: interval.bytes_sent,
        }
    }

    /// The cells, in [`COLUMNS`]' order.
    fn cells(&self) -> [Cell<'_>; COLUMNS.len()] {
        use Cell::{Count, Number, Text};
        let [connect, timeout, reset, closed, protocol, tls, other] = self.errors_by_kind;
        let [s1, s2, s3, s4, s5] = self.status;
        [
            Number(self.time_s),
            Text(&self.scope),
            Count(self.requests),
            // Rates to the thousandth: more digits say nothing.
            Number((self.rps * 1000.0).round() / 1000.0),
            Count(self.errors),
            Count(connect),
            Count(timeout),
            Count(reset),
            Count(closed),
            Count(protocol),
            Count(tls),
            Count(other),
            Count(s1),
            Count(s2),
            Count(s3),
            Count(s4),
            Count(s5),
            Count(self.p50_us),
            Count(self.p90_us),
            Count(self.p99_us),
            self.in_flight.map_or(Cell::Missing, Count),
            Count(self.bytes_in),
            Count(self.bytes_out),
        ]
    }
}

/// The rows of a run, second by second: the total's, and each iteration's
/// for the seconds in which it recorded anything.
#[derive(Debug)]
pub struct Recorder {
    /// Each iteration's scope, `round/iteration`, indexed as in the plan
    /// (rounds flattened), as snapshots are.
    scopes: Vec<String>,
    /// What each iteration recorded since the last second closed.
    intervals: Vec<Stats>,
    rows: Vec<Row>,
}

impl Recorder {
    pub fn new(plan: &Plan) -> Recorder {
        let scopes: Vec<String> = plan
            .rounds
            .iter()
            .flat_map(|r| {
                r.iterations
                    .iter()
                    .map(|i| format!("{}/{}", r.name, i.name))
            })
            .collect();
        let intervals = scopes.iter().map(|_| Stats::new()).collect();
        Recorder {
            scopes,
            intervals,
            rows: Vec::new(),
        }
    }

    /// Adds a snapshot's stats, one per iteration (a peer's extra ones,
    /// which the master refuses anyway, are ignored).
    pub fn add(&mut self, iterations: &[Stats]) {
        for (interval, stats) in self.intervals.iter_mut().zip(iterations) {
            interval.merge(stats);
        }
    }

    /// Closes the seconds up to `upto` (`span` long): the total's row, from
    /// `total` (every iteration's stats of these seconds merged), then a row
    /// for each iteration that recorded anything in them.
    pub fn close(&mut self, total: &Stats, (upto, span): (Duration, Duration), in_flight: u64) {
        let seconds = (upto, span);
        self.rows
            .push(Row::new(TOTAL, total, seconds, Some(in_flight)));
        for (scope, interval) in self.scopes.iter().zip(&mut self.intervals) {
            if !interval.is_empty() {
                let interval = std::mem::take(interval);
                self.rows.push(Row::new(scope, &interval, seconds, None));
            }
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// The series file's text: CSV with its header, or one JSON object per
/// line.
pub fn render(rows: &[Row], format: SeriesFormat) -> String {
    let mut out = String::new();
    if format == SeriesFormat::Csv {
        out.push_str(&COLUMNS.join(","));
        out.push('\n');
    }
    for row in rows {
        match format {
            SeriesFormat::Csv => csv_line(&mut out, row),
            SeriesFormat::JsonLines => json_line(&mut out, row),
        }
        out.push('\n');
    }
    out
}

fn csv_line(out: &mut String, row: &Row) {
    for (i, cell) in row.cells().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Count(n) => out.push_str(&n.to_string()),
            Cell::Number(x) => out.push_str(&x.to_string()),
            Cell::Text(text) => out.push_str(&csv_field(text)),
            Cell::Missing => {}
        }
    }
}

/// A CSV field as RFC 4180 has it: quoted, its quotes doubled, when it
/// holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One JSON object, its keys in [`COLUMNS`]' order (serde_json's own map
/// would sort them).
fn json_line(out: &mut String, row: &Row) {
    out.push('{');
    for (i, (name, cell)) in COLUMNS.iter().zip(row.cells()).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let value = match cell {
            Cell::Count(n) => serde_json::Value::from(n),
            Cell::Number(x) => serde_json::Value::from(x),
            Cell::Text(text) => serde_json::Value::from(text),
            Cell::Missing => serde_json::Value::Null,
        };
        out.push_str(&format!("\"{name}\":{value}"));
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use lps_engine::new_histogram;

    use super::*;

    fn second(t: u64) -> (Duration, Duration) {
        (Duration::from_secs(t), Duration::from_secs(1))
    }

    /// `n` responses of `status` at 250 µs, 10 bytes out and 30 in each.
    fn responses(status: u16, n: u64) -> Stats {
        let mut h = new_histogram();
        h.record_n(250, n).unwrap();
        Stats::from_parts(h, &[(status, n)], &[], 10 * n, 30 * n)
    }

    fn plan() -> Plan {
        let text = "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n      - name: b,\"c\"\n        requestCount: 5\n        httpRequest:\n          url: http://127.0.0.1:9/\n";
        let file = lps_config::parse_plan(text, "p.yaml", lps_config::Format::Yaml).unwrap();
        file.into_plan(lps_config::Origin::new("p.yaml")).unwrap()
    }

    #[test]
    fn formats_follow_the_extension() {
        for (path, format) in [
            ("s.csv", Some(SeriesFormat::Csv)),
            ("out/S.CSV", Some(SeriesFormat::Csv)),
            ("s.jsonl", Some(SeriesFormat::JsonLines)),
            ("s.ndjson", Some(SeriesFormat::JsonLines)),
            ("s.json", None),
            ("s", None),
            ("csv", None),
        ] {
            assert_eq!(SeriesFormat::of(Path::new(path)), format, "{path}");
        }
    }

    #[test]
    fn error_columns_are_the_engines_kinds() {
        let kinds: Vec<String> = ErrorKind::ALL
            .iter()
            .map(|k| format!("errors_{}", k.as_str()))
            .collect();
        assert_eq!(COLUMNS[5..12], kinds);
    }

    #[test]
    fn each_second_has_a_total_row_and_one_per_busy_iteration() {
        let mut rec = Recorder::new(&plan());
        let mut failed = Stats::new();
        failed.record_errors(ErrorKind::Timeout, 2);
        rec.add(&[responses(200, 3), Stats::new()]);
        rec.add(&[responses(503, 1), failed.clone()]);
        let mut total = responses(200, 3);
        total.merge(&responses(503, 1));
        total.merge(&failed);
        rec.close(&total, second(1), 7);
        // Second 2: nothing at all.
        rec.close(&Stats::new(), second(2), 0);
        let rows = rec.rows();
        let scopes: Vec<(f64, &str)> = rows.iter().map(|r| (r.time_s, r.scope.as_str())).collect();
        assert_eq!(
            scopes,
            [
                (1.0, "total"),
                (1.0, "R/a"),
                (1.0, "R/b,\"c\""),
                (2.0, "total")
            ]
        );
        let t = &rows[0];
        assert_eq!(
            (t.requests, t.rps, t.errors, t.in_flight),
            (6, 6.0, 3, Some(7))
        );
        assert_eq!(t.errors_by_kind, [0, 2, 0, 0, 0, 0, 0]);
        assert_eq!(t.status, [0, 3, 0, 0, 1]);
        assert_eq!((t.bytes_out, t.bytes_in), (40, 120));
        assert_eq!(
            (rows[1].requests, rows[1].errors, rows[1].in_flight),
            (4, 1, None)
        );
        assert_eq!((rows[2].requests, rows[2].errors), (2, 2));
        assert_eq!(rows[2].p99_us, 0, "no response, no latency");
    }

    #[test]
    fn csv_and_json_lines_hold_the_same_cells() {
        let mut rec = Recorder::new(&plan());
        rec.add(&[Stats::new(), responses(404, 2)]);
        rec.close(
            &responses(404, 2),
            (Duration::from_millis(2500), Duration::from_millis(500)),
            1,
        );
        let csv = render(rec.rows(), SeriesFormat::Csv);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "2.5,total,2,4,2,0,0,0,0,0,0,0,0,0,0,2,0,250,250,250,1,60,20"
        );
        assert_eq!(
            lines[2],
            "2.5,\"R/b,\"\"c\"\"\",2,4,2,0,0,0,0,0,0,0,0,0,0,2,0,250,250,250,,60,20"
        );
        assert_eq!(lines.len(), 3);
        let jsonl = render(rec.rows(), SeriesFormat::JsonLines);
        let objects: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), 2);
        let keys: Vec<&str> = objects[1]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let first_key = jsonl.split(':').next();
        assert_eq!(first_key, Some("{\"time_s\""), "{jsonl}");
        let mut columns = COLUMNS.to_vec();
        columns.sort_unstable();
        assert_eq!(keys, columns);
        assert_eq!(objects[1]["scope"], "R/b,\"c\"");
        assert_eq!(objects[1]["in_flight"], serde_json::Value::Null);
        assert_eq!(objects[0]["in_flight"], 1);
        assert_eq!(objects[0]["rps"], 4.0);
        assert_eq!(objects[0]["p50_us"], 250);
    }
}
