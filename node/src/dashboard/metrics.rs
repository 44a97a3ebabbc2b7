//! `/metrics`: the run in the Prometheus text format (version 0.0.4), one
//! function per metric family.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use lps_engine::{ErrorKind, Stats};

use super::live::Live;
use crate::rules::RuleReport;

/// The requests of one node and iteration, as `lps_requests_total` counts
/// them: only these are copied per node, not its histograms (a master of
/// thousands of workers would copy hundreds of megabytes per scrape).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestCounts {
    /// Responses per status code, in ascending order.
    pub status_codes: Vec<(u16, u64)>,
    /// Requests that got no response.
    pub no_response: u64,
}

impl RequestCounts {
    pub fn of(stats: &Stats) -> RequestCounts {
        RequestCounts {
            status_codes: stats.status_codes(),
            no_response: stats.transport_errors(),
        }
    }
}

/// What `/metrics` shows.
pub(super) struct MetricsInput {
    /// The plan's name, for `lps_test_info`.
    pub test: String,
    /// Exact request counts per (node, iteration name).
    pub per_node_iterations: Vec<(String, String, RequestCounts)>,
    /// Everything merged (the latency summary, errors and bytes).
    pub total: Stats,
    /// Each node's state, for `lps_nodes`.
    pub node_states: Vec<&'static str>,
    /// Every state a node of the run can be in: each is exported.
    pub possible_node_states: &'static [&'static str],
    /// Requests in flight over every node and core.
    pub in_flight: u64,
    /// The plan's rules as they stand.
    pub rules: Vec<RuleReport>,
}

impl MetricsInput {
    /// Copies of what `/metrics` needs from `live`, now.
    pub fn of(live: &Live) -> MetricsInput {
        MetricsInput {
            test: live.plan().name.clone(),
            per_node_iterations: live.per_node_iterations(),
            total: live.total_stats(),
            node_states: live.node_states(),
            possible_node_states: live.possible_node_states(),
            in_flight: live.in_flight(),
            rules: live.rules(),
        }
    }
}

/// The quantiles of `lps_latency_seconds` and `lps_ttfb_seconds`.
const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

/// Renders every family, in a fixed order.
pub(super) fn render(m: &MetricsInput) -> String {
    let mut out = Text::default();
    test_info(&mut out, &m.test);
    requests(&mut out, &m.per_node_iterations);
    errors(&mut out, &m.total);
    summary(&mut out, LATENCY, &m.total.latency.histogram());
    summary(&mut out, TTFB, &m.total.ttfb());
    nodes(&mut out, m.possible_node_states, &m.node_states);
    in_flight(&mut out, m.in_flight);
    bytes(&mut out, &m.total);
    rules(&mut out, &m.rules);
    out.0
}

/// The text being written, one line at a time.
#[derive(Default)]
struct Text(String);

impl Text {
    /// A family's `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.line(format_args!("# HELP {name} {help}"));
        self.line(format_args!("# TYPE {name} {kind}"));
    }

    /// One line (a sample), ended by a newline.
    fn line(&mut self, text: std::fmt::Arguments) {
        // Writing to a String cannot fail.
        let _ = self.0.write_fmt(text);
        self.0.push('\n');
    }
}

fn test_info(out: &mut Text, test: &str) {
    out.family(
        "lps_test_info",
        "gauge",
        "The test being run (its plan's name).",
    );
    out.line(format_args!("lps_test_info{{test=\"{}\"}} 1", label(test)));
}

fn requests(out: &mut Text, per_node_iterations: &[(String, String, RequestCounts)]) {
    out.family(
        "lps_requests_total",
        "counter",
        "Requests completed, by node, iteration and status code (\"error\": no response).",
    );
    for ((node, iteration, status), n) in &requests_by_labels(per_node_iterations) {
        out.line(format_args!(
            "lps_requests_total{{node=\"{}\",iteration=\"{}\",status=\"{status}\"}} {n}",
            label(node),
            label(iteration)
        ));
    }
}

/// Responses per (node, iteration, status code), and requests without a
/// response as status `error`; keyed by label set, so that the series come
/// out in a stable order.
fn requests_by_labels(
    per_node_iterations: &[(String, String, RequestCounts)],
) -> BTreeMap<(&str, &str, String), u64> {
    let mut requests: BTreeMap<(&str, &str, String), u64> = BTreeMap::new();
    let mut add = |node, iteration, status: String, n: u64| {
        let count = requests.entry((node, iteration, status)).or_default();
        *count = count.saturating_add(n);
    };
    for (node, iteration, counts) in per_node_iterations {
        for &(code, n) in &counts.status_codes {
            add(node, iteration, code.to_string(), n);
        }
        let failed = counts.no_response;
        if failed > 0 {
            add(node, iteration, "error".to_string(), failed);
        }
    }
    requests
}

fn errors(out: &mut Text, total: &Stats) {
    out.family(
        "lps_errors_total",
        "counter",
        "Requests that failed without a response, by kind.",
    );
    for kind in ErrorKind::ALL {
        out.line(format_args!(
            "lps_errors_total{{kind=\"{}\"}} {}",
            kind.as_str(),
            total.errors(kind)
        ));
    }
}

/// A summary family's name and help.
type Family = (&'static str, &'static str);

const LATENCY: Family = (
    "lps_latency_seconds",
    "Response latency, from the merged histogram (3 significant digits).",
);
const TTFB: Family = (
    "lps_ttfb_seconds",
    "Time to the first byte of each response, from the latency's start (3 significant digits).",
);

/// A histogram of microseconds as a summary in seconds.
fn summary(out: &mut Text, (name, help): Family, h: &Histogram<u64>) {
    out.family(name, "summary", help);
    for q in QUANTILES {
        if h.is_empty() {
            out.line(format_args!("{name}{{quantile=\"{q}\"}} NaN"));
        } else {
            out.line(format_args!(
                "{name}{{quantile=\"{q}\"}} {}",
                seconds(h.value_at_quantile(q) as f64)
            ));
        }
    }
    let sum = if h.is_empty() {
        0.0
    } else {
        h.mean() * h.len() as f64
    };
    out.line(format_args!("{name}_sum {}", seconds(sum)));
    out.line(format_args!("{name}_count {}", h.len()));
}

/// One series per possible state, 0 where no node is: a state's series
/// stays when its last node moves on (a vanished series reads as "no data",
/// not 0). A state outside `possible` still shows, after them.
fn nodes(out: &mut Text, possible: &[&str], node_states: &[&str]) {
    let mut states: Vec<(&str, u64)> = possible.iter().map(|s| (*s, 0)).collect();
    for state in node_states {
        match states.iter_mut().find(|(s, _)| s == state) {
            Some((_, n)) => *n += 1,
            None => states.push((state, 1)),
        }
    }
    out.family("lps_nodes", "gauge", "Nodes of the run, by state.");
    for (state, n) in &states {
        out.line(format_args!("lps_nodes{{state=\"{}\"}} {n}", label(state)));
    }
}

fn in_flight(out: &mut Text, in_flight: u64) {
    out.family(
        "lps_in_flight",
        "gauge",
        "Requests sent and not yet answered.",
    );
    out.line(format_args!("lps_in_flight {in_flight}"));
}

fn bytes(out: &mut Text, total: &Stats) {
    out.family(
        "lps_bytes_total",
        "counter",
        "Bytes on the wire, heads included.",
    );
    out.line(format_args!(
        "lps_bytes_total{{direction=\"sent\"}} {}",
        total.bytes_sent
    ));
    out.line(format_args!(
        "lps_bytes_total{{direction=\"received\"}} {}",
        total.bytes_received
    ));
}

/// Microseconds as seconds, without float noise (`123` -> `0.000123`).
fn seconds(us: f64) -> String {
    let s = format!("{:.6}", us / 1e6);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// Only when the plan has rules.
fn rules(out: &mut Text, rules: &[RuleReport]) {
    if rules.is_empty() {
        return;
    }
    out.family(
        "lps_rule_failed",
        "gauge",
        "1 while a rule of the plan holds (the test fails on it): a failure rule on the data so far, a termination rule once it ended its iteration.",
    );
    for r in rules {
        out.line(format_args!(
            "lps_rule_failed{{round=\"{}\",iteration=\"{}\",kind=\"{}\",rule=\"{}\"}} {}",
            label(&r.round),
            label(&r.iteration),
            r.kind,
            label(&r.rule),
            u8::from(r.failed)
        ));
    }
}

/// A label value escaped for the text format.
fn label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stats of these responses, each with its first byte at half its latency.
    fn stats(codes: &[(u16, u64)], errors: &[(ErrorKind, u64)], latencies: &[u64]) -> Stats {
        let mut h = lps_engine::new_histogram();
        let mut ttfb = lps_engine::new_histogram();
        for v in latencies {
            h.record(*v).unwrap();
            ttfb.record(*v / 2).unwrap();
        }
        Stats::from_parts(h.clone(), codes, errors, 100, 2000).with_timings(Some((&h, &ttfb)), None)
    }

    #[test]
    fn metrics_render_exactly() {
        let a = stats(
            &[(200, 3), (503, 1)],
            &[(ErrorKind::Timeout, 2)],
            &[1000; 4],
        );
        let b = stats(&[(200, 1)], &[], &[2000]);
        let c = stats(&[(200, 5)], &[], &[]);
        let mut total = Stats::new();
        for s in [&a, &b, &c] {
            total.merge(s);
        }
        let input = MetricsInput {
            test: "Check\nout".into(),
            per_node_iterations: vec![
                ("w\"1".into(), "home".into(), RequestCounts::of(&a)),
                ("w\"1".into(), "home".into(), RequestCounts::of(&c)),
                ("w2".into(), "home".into(), RequestCounts::of(&b)),
            ],
            total,
            node_states: vec!["Running", "Lost", "Running"],
            possible_node_states: &crate::dashboard::live::CLUSTER_NODE_STATES,
            in_flight: 7,
            rules: vec![RuleReport {
                round: "r".into(),
                iteration: "home".into(),
                kind: "termination",
                rule: "TotalTime.P90 > \"1\"".into(),
                observed: Some(2.0),
                evaluated: None,
                grace_s: Some(5.0),
                terminated_at_s: Some(7.5),
                breaching_s: None,
                failed: true,
            }],
        };
        let expected = r#"# HELP lps_test_info The test being run (its plan's name).
# TYPE lps_test_info gauge
lps_test_info{test="Check\nout"} 1
# HELP lps_requests_total Requests completed, by node, iteration and status code ("error": no response).
# TYPE lps_requests_total counter
lps_requests_total{node="w\"1",iteration="home",status="200"} 8
lps_requests_total{node="w\"1",iteration="home",status="503"} 1
lps_requests_total{node="w\"1",iteration="home",status="error"} 2
lps_requests_total{node="w2",iteration="home",status="200"} 1
# HELP lps_errors_total Requests that failed without a response, by kind.
# TYPE lps_errors_total counter
lps_errors_total{kind="connect"} 0
lps_errors_total{kind="timeout"} 2
lps_errors_total{kind="reset"} 0
lps_errors_total{kind="closed"} 0
lps_errors_total{kind="protocol"} 0
lps_errors_total{kind="tls"} 0
lps_errors_total{kind="other"} 0
# HELP lps_latency_seconds Response latency, from the merged histogram (3 significant digits).
# TYPE lps_latency_seconds summary
lps_latency_seconds{quantile="0.5"} 0.001
lps_latency_seconds{quantile="0.9"} 0.002
lps_latency_seconds{quantile="0.99"} 0.002
lps_latency_seconds{quantile="0.999"} 0.002
lps_latency_seconds_sum 0.006
lps_latency_seconds_count 5
# HELP lps_ttfb_seconds Time to the first byte of each response, from the latency's start (3 significant digits).
# TYPE lps_ttfb_seconds summary
lps_ttfb_seconds{quantile="0.5"} 0.0005
lps_ttfb_seconds{quantile="0.9"} 0.001
lps_ttfb_seconds{quantile="0.99"} 0.001
lps_ttfb_seconds{quantile="0.999"} 0.001
lps_ttfb_seconds_sum 0.003
lps_ttfb_seconds_count 5
# HELP lps_nodes Nodes of the run, by state.
# TYPE lps_nodes gauge
lps_nodes{state="Observer"} 0
lps_nodes{state="Running"} 2
lps_nodes{state="Finished"} 0
lps_nodes{state="Lost"} 1
# HELP lps_in_flight Requests sent and not yet answered.
# TYPE lps_in_flight gauge
lps_in_flight 7
# HELP lps_bytes_total Bytes on the wire, heads included.
# TYPE lps_bytes_total counter
lps_bytes_total{direction="sent"} 300
lps_bytes_total{direction="received"} 6000
# HELP lps_rule_failed 1 while a rule of the plan holds (the test fails on it): a failure rule on the data so far, a termination rule once it ended its iteration.
# TYPE lps_rule_failed gauge
lps_rule_failed{round="r",iteration="home",kind="termination",rule="TotalTime.P90 > \"1\""} 1
"#;
        assert_eq!(render(&input), expected);
    }

    #[test]
    fn empty_latency_is_nan() {
        let input = MetricsInput {
            test: String::new(),
            per_node_iterations: vec![],
            total: Stats::new(),
            node_states: vec![],
            possible_node_states: &[],
            in_flight: 0,
            rules: Vec::new(),
        };
        let text = render(&input);
        assert!(text.contains("lps_latency_seconds{quantile=\"0.99\"} NaN\n"));
        assert!(text.contains("lps_latency_seconds_sum 0\nlps_latency_seconds_count 0\n"));
        assert!(!text.contains("lps_rule_failed"), "no rules, no family");
        assert!(text.contains("lps_ttfb_seconds{quantile=\"0.5\"} NaN\n"));
    }

    #[test]
    fn every_node_state_is_exported_zero_where_none() {
        let mut out = Text::default();
        nodes(
            &mut out,
            &crate::dashboard::live::LOCAL_NODE_STATES,
            &["Completed"],
        );
        assert_eq!(
            out.0,
            "# HELP lps_nodes Nodes of the run, by state.\n# TYPE lps_nodes gauge\n\
             lps_nodes{state=\"Idle\"} 0\nlps_nodes{state=\"Running\"} 0\n\
             lps_nodes{state=\"Completed\"} 1\nlps_nodes{state=\"Cancelled\"} 0\n"
        );
        let mut out = Text::default();
        nodes(&mut out, &["Running"], &["Ready"]);
        assert!(
            out.0
                .ends_with("lps_nodes{state=\"Running\"} 0\nlps_nodes{state=\"Ready\"} 1\n"),
            "{}",
            out.0
        );
    }

    #[test]
    fn seconds_have_no_float_noise() {
        for (us, s) in [
            (0.0, "0"),
            (1.0, "0.000001"),
            (123.0, "0.000123"),
            (1_000_000.0, "1"),
            (1_500_000.0, "1.5"),
            (0.4, "0"),
        ] {
            assert_eq!(seconds(us), s, "{us}");
        }
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(label("line\nbreak"), r"line\nbreak");
    }
}
