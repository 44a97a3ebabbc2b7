//! LPS 3.x's rules, parsed and checked as LPS's validators do: a metric
//! condition (`TotalTime.P90 > 250`, `ErrorRate between 0.1 and 0.2`), an
//! expression over the live metrics (`${Metrics.R.I.Throughput.RPS} < 40`),
//! the status codes that count as errors (`>= 500`) and a termination
//! rule's grace period (`00:00:05`). Spec section 6.

use std::fmt;
use std::time::Duration;

mod metrics;

pub use metrics::{MetricField, MetricRef, MetricsExpr, Part};

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Errors over requests, 0 to 1; errors by the rule's status codes.
    ErrorRate,
    /// Skipped requests over requests and skipped ones, 0 to 1.
    SkipRatio,
    /// Requests a `skipIf` skipped.
    SkippedCount,
    /// Successful requests per second over the iteration's own span (LPS
    /// counts only those).
    Throughput,
    /// A time in milliseconds, aggregated.
    Time(Timing, Aggregation),
}

/// The timings lps records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// From a request's start to its response (lps's latency).
    TotalTime,
    /// From a request's start (the latency's) to the first byte of its response.
    Ttfb,
    /// The TCP connect of a connection, alone.
    TcpHandshake,
    /// The TLS handshake of an https connection, alone (after its TCP connect).
    TlsHandshake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    P50,
    P90,
    P95,
    P99,
    Average,
    Min,
    Max,
    Sum,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Lt,
    Ge,
    Le,
    Ne,
    Eq,
    Between,
}

/// `metric op value [and value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
    /// The upper bound of `between`.
    pub upper: Option<f64>,
}

/// `errorStatusCodes`: which statuses count as errors (0: no response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCodes {
    pub op: Op,
    pub code: u16,
    pub upper: Option<u16>,
}

/// What a rule judges: a metric condition, or an expression over the
/// metrics. An LPS rule with both is two rules (LPS: independent triggers).
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Metric(Condition),
    Expression(MetricsExpr),
}

/// A failure rule (judged on the iteration's data when the run ends) or a
/// termination rule (judged live; the test stops the iteration once its
/// check has held for `grace`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The metric condition or the expression as written, for reports.
    pub text: String,
    pub check: Check,
    /// For a metric condition on ErrorRate: which statuses are errors.
    pub error_codes: Option<StatusCodes>,
    /// Termination rules: how long the check must hold without a break
    /// (zero: at once; failure rules have none).
    pub grace: Duration,
}

impl Condition {
    /// True when `value` meets the condition (equality within 1e-4, and
    /// `between` inclusive, as LPS's `RuleService`).
    pub fn holds(&self, observed: f64) -> bool {
        compare(self.op, observed, self.value, self.upper)
    }
}

impl StatusCodes {
    /// The statuses `>= 400` (LPS's default for an ErrorRate rule).
    pub const DEFAULT: StatusCodes = StatusCodes {
        op: Op::Ge,
        code: 400,
        upper: None,
    };

    pub fn matches(&self, status: u16) -> bool {
        compare(
            self.op,
            f64::from(status),
            f64::from(self.code),
            self.upper.map(f64::from),
        )
    }
}

fn compare(op: Op, x: f64, v: f64, upper: Option<f64>) -> bool {
    const TOLERANCE: f64 = 1e-4;
    match op {
        Op::Gt => x > v,
        Op::Lt => x < v,
        Op::Ge => x >= v,
        Op::Le => x <= v,
        Op::Eq => (x - v).abs() <= TOLERANCE,
        Op::Ne => (x - v).abs() > TOLERANCE,
        Op::Between => x >= v && x <= upper.unwrap_or(v),
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::Ne => "!=",
            Op::Eq => "=",
            Op::Between => "between",
        })
    }
}

/// Splits `text` into its operator and what follows: LPS's
/// `(>|<|>=|<=|!=|=|between)`, longest first.
fn split_op(text: &str) -> Option<(&str, Op, &str)> {
    let lower = text.to_ascii_lowercase();
    let ops = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
        ("between", Op::Between),
    ];
    ops.iter()
        .filter_map(|(s, op)| lower.find(s).map(|at| (at, s.len(), *op)))
        .min_by_key(|(at, len, _)| (*at, usize::MAX - len))
        .map(|(at, len, op)| (&text[..at], op, &text[at + len..]))
}

/// `v1` or `v1 and v2` (for `between`).
fn values(op: Op, rest: &str) -> Result<(f64, Option<f64>), String> {
    let number = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("{:?} is not a number", s.trim()))
    };
    let lower = rest.to_ascii_lowercase();
    match (op, lower.find(" and ")) {
        (Op::Between, Some(at)) => Ok((number(&rest[..at])?, Some(number(&rest[at + 5..])?))),
        (Op::Between, None) => Err("between needs two values: between X and Y".into()),
        (_, Some(_)) => Err("only between takes two values".into()),
        (_, None) => Ok((number(rest)?, None)),
    }
}

/// Parses `metric` (`TotalTime.P90 > 250`).
pub fn condition(text: &str) -> Result<Condition, String> {
    let (name, op, rest) =
        split_op(text).ok_or_else(|| format!("{text:?}: expected metric, operator and value"))?;
    let metric = metric(name.trim())?;
    let (value, upper) = values(op, rest)?;
    Ok(Condition {
        metric,
        op,
        value,
        upper,
    })
}

/// A metric by LPS's names and aliases (any case).
fn metric(name: &str) -> Result<Metric, String> {
    let (base, agg) = match name.split_once('.') {
        Some((b, a)) => (b, Some(a)),
        None => (name, None),
    };
    let scalar = |m: Metric| match agg {
        None => Ok(m),
        Some(a) => Err(format!("{base} takes no aggregation, got .{a}")),
    };
    match base.to_ascii_lowercase().as_str() {
        "errorrate" => scalar(Metric::ErrorRate),
        "skipratio" | "skippedratio" | "skippedrequestsratio" => scalar(Metric::SkipRatio),
        "skippedrequestscount" | "skippedcount" => scalar(Metric::SkippedCount),
        "throughput" | "rps" | "requestspersecond" => scalar(Metric::Throughput),
        "totaltime" => Ok(Metric::Time(Timing::TotalTime, aggregation(agg)?)),
        "ttfb" | "timetofirstbyte" => Ok(Metric::Time(Timing::Ttfb, aggregation(agg)?)),
        "tcphandshake" | "tcp" => Ok(Metric::Time(Timing::TcpHandshake, aggregation(agg)?)),
        "tlshandshake" | "tls" | "ssl" | "sslhandshake" => {
            Ok(Metric::Time(Timing::TlsHandshake, aggregation(agg)?))
        }
        "waitingtime" | "waiting" | "sendingtime" | "sending" | "upload" | "upstream"
        | "receivingtime" | "receiving" | "download" | "downstream" | "servertime" | "server"
        | "servertimedb" | "db" | "database" | "servertimecache" | "cache" | "servertimeapp"
        | "app" | "application" => Err(format!("{base} is not recorded by lps yet")),
        _ => Err(format!("{base:?} is not an LPS metric")),
    }
}

/// A timing's aggregation; Average when none is given (LPS).
fn aggregation(agg: Option<&str>) -> Result<Aggregation, String> {
    Ok(match agg.map(|a| a.to_ascii_lowercase()).as_deref() {
        None | Some("average") | Some("avg") => Aggregation::Average,
        Some("p50") => Aggregation::P50,
        Some("p90") => Aggregation::P90,
        Some("p95") => Aggregation::P95,
        Some("p99") => Aggregation::P99,
        Some("min") => Aggregation::Min,
        Some("max") => Aggregation::Max,
        Some("sum") => Aggregation::Sum,
        Some(other) => {
            return Err(format!(
                ".{other} is not an aggregation LPS has (P50 P90 P95 P99 Average Min Max Sum)"
            ));
        }
    })
}

/// Parses a `gracePeriod` as .NET's `TimeSpan.TryParse` reads the forms
/// plans use: `hh:mm`, `hh:mm:ss`, `d.hh:mm:ss`, with optional fractions of
/// a second, or a bare integer, which .NET reads as days.
pub fn grace_period(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("{t:?} is not a time span (hh:mm:ss, e.g. 00:00:30)");
    let int = |s: &str, max: u64| -> Result<u64, String> {
        let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let v: u64 = ok.then(|| s.parse().ok()).flatten().ok_or_else(bad)?;
        if v > max { Err(bad()) } else { Ok(v) }
    };
    let parts: Vec<&str> = t.split(':').collect();
    let (days, rest) = match parts[0].split_once('.') {
        Some((d, h)) if parts.len() == 3 => (int(d, 10_675_199)?, h),
        _ => (0, parts[0]),
    };
    let secs = match parts.len() {
        1 => int(rest, 10_675_199)? * 86_400,
        2 => int(rest, 23)? * 3600 + int(parts[1], 59)? * 60,
        3 => {
            let (s, frac) = parts[2].split_once('.').unwrap_or((parts[2], ""));
            let nanos = match frac {
                "" => 0,
                f if f.len() <= 7 && f.bytes().all(|b| b.is_ascii_digit()) => {
                    f.parse::<u64>().map_err(|_| bad())? * 10u64.pow(9 - f.len() as u32)
                }
                _ => return Err(bad()),
            };
            let whole = days * 86_400 + int(rest, 23)? * 3600 + int(parts[1], 59)? * 60;
            return Ok(Duration::new(whole + int(s, 59)?, nanos as u32));
        }
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

/// Parses `errorStatusCodes` (`>= 500`, `between 500 and 599`); codes are
/// 0 (no response) or 100-599.
pub fn status_codes(text: &str) -> Result<StatusCodes, String> {
    let (before, op, rest) = split_op(text.trim())
        .ok_or_else(|| format!("{text:?}: expected an operator and a code"))?;
    if !before.trim().is_empty() {
        return Err(format!("{text:?}: expected the operator first"));
    }
    let (value, upper) = values(op, rest)?;
    let code = |v: f64| {
        let ok = v.fract() == 0.0 && (v == 0.0 || (100.0..=599.0).contains(&v));
        ok.then_some(v as u16)
            .ok_or_else(|| format!("{v} is not 0 or a status code 100-599"))
    };
    Ok(StatusCodes {
        op,
        code: code(value)?,
        upper: upper.map(code).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_as_lps_writes_them() {
        let c = condition("TotalTime.P90 > 250").unwrap();
        assert_eq!(c.metric, Metric::Time(Timing::TotalTime, Aggregation::P90));
        assert_eq!((c.op, c.value), (Op::Gt, 250.0));
        assert!(c.holds(250.1) && !c.holds(250.0));
        let b = condition("ErrorRate between 0.1 and 0.2").unwrap();
        assert!(b.holds(0.1) && b.holds(0.2) && !b.holds(0.21));
        assert_eq!(condition("rps <= 40").unwrap().metric, Metric::Throughput);
        assert_eq!(
            condition("TotalTime >= 5").unwrap().metric,
            Metric::Time(Timing::TotalTime, Aggregation::Average)
        );
        assert!(condition("ErrorRate = 0.05").unwrap().holds(0.05005));
        assert!(condition("ErrorRate != 0").unwrap().holds(0.01));
        assert_eq!(
            condition("ErrorRate.P90 > 1").unwrap_err(),
            "ErrorRate takes no aggregation, got .P90"
        );
        assert!(condition("TotalTime.P10 > 1").is_err());
        assert!(
            condition("WaitingTime.P90 > 1")
                .unwrap_err()
                .contains("not recorded by lps yet")
        );
        assert!(condition("Nope > 1").is_err());
        assert!(condition("ErrorRate between 1").is_err());
    }

    #[test]
    fn grace_periods_as_dotnet_reads_them() {
        let s = |t: &str| grace_period(t).map(|d| d.as_secs_f64());
        assert_eq!(s("00:00:05"), Ok(5.0));
        assert_eq!(s("01:02:03"), Ok(3723.0));
        assert_eq!(s("00:00:00.5"), Ok(0.5));
        assert_eq!(s("1.00:00:01"), Ok(86_401.0));
        assert_eq!(s("00:10"), Ok(600.0));
        assert_eq!(s(""), Ok(0.0));
        // .NET reads a bare integer as days.
        assert_eq!(s("2"), Ok(172_800.0));
        for bad in [
            "00:00:60",
            "24:00:00",
            "5s",
            "00:00:-1",
            "1:2:3:4",
            "00:00:05.12345678",
        ] {
            assert!(grace_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_recorded_timing_by_its_lps_names() {
        let cases = [
            ("TTFB.P90 > 1", Timing::Ttfb, Aggregation::P90),
            ("TimeToFirstByte < 2", Timing::Ttfb, Aggregation::Average),
            ("ttfb.max >= 3", Timing::Ttfb, Aggregation::Max),
            (
                "TLSHandshake.P99 > 1",
                Timing::TlsHandshake,
                Aggregation::P99,
            ),
            ("TLS.Avg > 1", Timing::TlsHandshake, Aggregation::Average),
            ("SSL.P50 > 1", Timing::TlsHandshake, Aggregation::P50),
            (
                "SSLHandshake.Min > 1",
                Timing::TlsHandshake,
                Aggregation::Min,
            ),
            (
                "TCPHandshake.P95 > 1",
                Timing::TcpHandshake,
                Aggregation::P95,
            ),
            ("TCP > 1", Timing::TcpHandshake, Aggregation::Average),
            ("TotalTime.Sum > 1", Timing::TotalTime, Aggregation::Sum),
        ];
        for (text, timing, agg) in cases {
            assert_eq!(
                condition(text).map(|c| c.metric),
                Ok(Metric::Time(timing, agg)),
                "{text}"
            );
        }
        for refused in ["WaitingTime", "ServerTime.P90", "Download", "App.Max"] {
            let err = condition(&format!("{refused} > 1")).unwrap_err();
            assert!(
                err.ends_with("is not recorded by lps yet"),
                "{refused}: {err}"
            );
        }
    }

    #[test]
    fn status_codes_as_lps_writes_them() {
        let c = status_codes(">= 500").unwrap();
        assert!(c.matches(503) && !c.matches(404));
        let b = status_codes("between 400 and 499").unwrap();
        assert!(b.matches(404) && !b.matches(500));
        assert!(status_codes("= 0").unwrap().matches(0));
        assert!(status_codes(">= 600").is_err());
        assert!(status_codes("500").is_err());
    }
}
