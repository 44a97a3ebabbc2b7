//! Rule expressions over the live metrics: `${Metrics.<round>.<iteration>.
//! <group>.<field>}` placeholders, as LPS publishes each iteration's metric
//! snapshots under `Metrics` (`LPS:Monitoring/Metrics/*MetricAggregator.cs`),
//! inside an expression LPS evaluates as it does `skipIf`.

use super::{Aggregation, Timing};

/// A rule expression, split into its text and its metric references.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsExpr {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Ref(MetricRef),
}

/// `Metrics.<round>.<iteration>.<path>`: what an iteration's field is.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRef {
    pub round: String,
    pub iteration: String,
    pub field: MetricField,
}

/// The fields of LPS's metric snapshots that lps records.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricField {
    /// `Duration.<Timing>.<Aggregation>`, in milliseconds.
    Time(Timing, Aggregation),
    /// `Throughput.RPS`: successful requests per second over the
    /// iteration's span (LPS counts only those).
    Rps,
    /// `Throughput.RPSCD`: successful requests per cooldown period (batch
    /// modes; 0 in the others, as LPS).
    RpsPerCooldown,
    /// `Throughput.RequestsCount`.
    Requests,
    /// `Throughput.SuccessfulRequestCount`: requests that were not errors.
    Successful,
    /// `Throughput.FailedRequestsCount`: status >= 400 or no response.
    Failed,
    /// `Throughput.ErrorRate`: failed over requests, 0 to 1.
    ErrorRate,
    /// `Throughput.SkippedRequestsCount`.
    Skipped,
    /// `Throughput.TimeElapsed`, `DataTransmission.TimeElpased`: ms.
    Elapsed,
    /// `DataTransmission.DataSent` / `DataReceived`: bytes.
    BytesSent,
    BytesReceived,
    /// `DataTransmission.AverageDataSent` / `AverageDataReceived`: bytes
    /// per request.
    AverageSent,
    AverageReceived,
    /// `DataTransmission.UpstreamThroughputBps` / `Downstream...` /
    /// `ThroughputBps`: bytes per second.
    UpstreamBps,
    DownstreamBps,
    Bps,
}

impl MetricsExpr {
    /// Parses `text`: every `${...}` must be a metric reference lps records.
    /// Returns the expression and its skeleton (each reference replaced by
    /// `marker`) for the expression checker.
    pub fn parse(text: &str, marker: char) -> Result<(MetricsExpr, String), String> {
        let mut parts = Vec::new();
        let mut skeleton = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            let (before, from) = rest.split_at(at);
            let end = from
                .find('}')
                .ok_or_else(|| format!("{from:?}: a placeholder without its closing }}"))?;
            let inner = from[2..end].trim();
            let field = reference(inner)?;
            if !before.is_empty() {
                parts.push(Part::Text(before.to_owned()));
            }
            skeleton.push_str(before);
            skeleton.push(marker);
            parts.push(Part::Ref(field));
            rest = &from[end + 1..];
        }
        if rest.contains('$') {
            return Err(format!(
                "{rest:?}: lps reads only ${{Metrics.<round>.<iteration>...}} placeholders in a rule's expression"
            ));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        skeleton.push_str(rest);
        if !parts.iter().any(|p| matches!(p, Part::Ref(_))) {
            return Err(format!("{text:?} reads no ${{Metrics...}} value"));
        }
        Ok((MetricsExpr { parts }, skeleton))
    }

    /// The references, in order.
    pub fn refs(&self) -> impl Iterator<Item = &MetricRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            Part::Text(_) => None,
        })
    }

    /// The expression with each reference replaced by `value(reference)`;
    /// `None` when a value is missing (no data yet), as LPS's expression is
    /// then false.
    pub fn resolve(&self, mut value: impl FnMut(&MetricRef) -> Option<f64>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Ref(r) => out.push_str(&format!("{}", value(r)?)),
            }
        }
        Some(out)
    }

    /// The expression resolved by `value` and whether it is true; false
    /// when a value is missing or the expression errs (as LPS).
    pub fn eval(&self, value: impl FnMut(&MetricRef) -> Option<f64>) -> (Option<String>, bool) {
        let resolved = self.resolve(value);
        let holds = resolved
            .as_deref()
            .is_some_and(lps_scenario::expr::eval_bool);
        (resolved, holds)
    }
}

/// `Metrics.<round>.<iteration>.<group>.<field...>`: round and iteration
/// names are the segments before the last two (three for `Duration`), so a
/// name may hold a dot.
fn reference(inner: &str) -> Result<MetricRef, String> {
    let bad = |why: &str| format!("${{{inner}}}: {why}");
    let Some(path) = inner
        .strip_prefix("Metrics.")
        .or_else(|| inner.strip_prefix("metrics."))
    else {
        return Err(bad(
            "lps reads only ${Metrics.<round>.<iteration>...} placeholders in a rule's expression",
        ));
    };
    let segs: Vec<&str> = path.split('.').collect();
    let group_at = segs
        .iter()
        .rposition(|s| {
            ["duration", "throughput", "datatransmission", "responsecode"]
                .contains(&s.to_ascii_lowercase().as_str())
        })
        .filter(|&g| g >= 2)
        .ok_or_else(|| {
            bad("expected Metrics.<round>.<iteration>.<Duration|Throughput|DataTransmission>.<field>")
        })?;
    let (names, field) = segs.split_at(group_at);
    let field = field_of(field).map_err(|m| bad(&m))?;
    // The round is the first segment; an iteration name may hold dots.
    Ok(MetricRef {
        round: names[0].to_owned(),
        iteration: names[1..].join("."),
        field,
    })
}

/// `[group, field...]` to what lps computes (names in any case).
fn field_of(path: &[&str]) -> Result<MetricField, String> {
    let lower: Vec<String> = path.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    use MetricField as F;
    Ok(match lower.as_slice() {
        ["duration", timing, agg] => F::Time(duration_timing(timing)?, aggregation(agg)?),
        ["throughput", "rps"] => F::Rps,
        ["throughput", "rpscd"] => F::RpsPerCooldown,
        ["throughput", "requestscount"] => F::Requests,
        ["throughput", "successfulrequestcount"] => F::Successful,
        ["throughput", "failedrequestscount"] => F::Failed,
        ["throughput", "errorrate"] => F::ErrorRate,
        ["throughput", "skippedrequestscount"] => F::Skipped,
        ["throughput", "timeelapsed"] | ["datatransmission", "timeelpased"] => F::Elapsed,
        ["datatransmission", "datasent"] => F::BytesSent,
        ["datatransmission", "datareceived"] => F::BytesReceived,
        ["datatransmission", "averagedatasent"] => F::AverageSent,
        ["datatransmission", "averagedatareceived"] => F::AverageReceived,
        ["datatransmission", "upstreamthroughputbps"] => F::UpstreamBps,
        ["datatransmission", "downstreamthroughputbps"] => F::DownstreamBps,
        ["datatransmission", "throughputbps"] => F::Bps,
        [
            "throughput",
            "maxconcurrentrequests" | "currentactiverequests",
        ]
        | ["responsecode", ..] => {
            return Err(format!("{} is not recorded by lps", path.join(".")));
        }
        _ => {
            return Err(format!(
                "{} is not a field of LPS's metrics",
                path.join(".")
            ));
        }
    })
}

/// The timing objects of LPS's `Duration` snapshot.
fn duration_timing(name: &str) -> Result<Timing, String> {
    match name {
        "totaltime" => Ok(Timing::TotalTime),
        "tcphandshaketime" => Ok(Timing::TcpHandshake),
        "sslhandshaketime" => Ok(Timing::TlsHandshake),
        "timetofirstbyte" => Ok(Timing::Ttfb),
        "waitingtime" | "receivingtime" | "sendingtime" | "servertime" | "dbservertime"
        | "servercachetime" | "serverapptime" => {
            Err(format!("Duration.{name} is not recorded by lps yet"))
        }
        _ => Err(format!("Duration.{name} is not a timing of LPS's metrics")),
    }
}

/// A timing's field: LPS's `Sum Average Min Max P50 P90 P95 P99`.
fn aggregation(name: &str) -> Result<Aggregation, String> {
    super::aggregation(Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documentation_s_expressions_parse() {
        let (e, skeleton) = MetricsExpr::parse(
            "${Metrics.FailureRound.SearchIteration.Duration.TotalTime.P90} > 250",
            '#',
        )
        .unwrap();
        assert_eq!(skeleton, "# > 250");
        let r = e.refs().next().unwrap();
        assert_eq!(
            (r.round.as_str(), r.iteration.as_str()),
            ("FailureRound", "SearchIteration")
        );
        assert_eq!(
            r.field,
            MetricField::Time(Timing::TotalTime, Aggregation::P90)
        );
        let resolved = e.resolve(|_| Some(251.5)).unwrap();
        assert_eq!(resolved, "251.5 > 250");
        assert_eq!(e.eval(|_| Some(251.5)), (Some(resolved), true));
        assert!(!e.eval(|_| Some(250.0)).1);
        assert_eq!(e.eval(|_| None), (None, false));
        let (e, _) = MetricsExpr::parse(
            "${Metrics.R.I.Throughput.RPS} <= 40 && ${Metrics.R.I.Throughput.ErrorRate} > 0.1",
            '#',
        )
        .unwrap();
        assert_eq!(e.refs().count(), 2);
        assert_eq!(e.resolve(|_| None), None, "no data: no value");
        // An iteration name with a dot.
        let (e, _) =
            MetricsExpr::parse("${Metrics.R.v1.2.Throughput.RequestsCount} > 1", '#').unwrap();
        assert_eq!(e.refs().next().unwrap().iteration, "v1.2");
    }

    #[test]
    fn what_lps_does_not_record_is_said() {
        let err = |t: &str| MetricsExpr::parse(t, '#').unwrap_err();
        assert!(
            err("${Metrics.R.I.Throughput.MaxConcurrentRequests} < 10")
                .contains("not recorded by lps")
        );
        assert!(err("${Metrics.R.I.Duration.TotalTime.P10} > 1").contains("P10"));
        assert!(err("${Metrics.R.I.Duration.WaitingTime.P90} > 1").contains("not recorded by lps"));
        let (e, _) = MetricsExpr::parse(
            "${Metrics.R.I.Duration.TimeToFirstByte.P90} > ${Metrics.R.I.Duration.SSLHandshakeTime.Max}",
            '#',
        )
        .unwrap();
        let fields: Vec<MetricField> = e.refs().map(|r| r.field).collect();
        assert_eq!(
            fields,
            [
                MetricField::Time(Timing::Ttfb, Aggregation::P90),
                MetricField::Time(Timing::TlsHandshake, Aggregation::Max)
            ]
        );
        assert!(err("${Metrics.R.I.Nope.X} > 1").contains("expected Metrics"));
        assert!(err("${threshold} > 1").contains("only ${Metrics"));
        assert!(err("${Metrics.R.I.Throughput.RPS > 1").contains("closing"));
        assert!(err("1 > 0").contains("reads no"));
    }
}
