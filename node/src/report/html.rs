//! `--html`: the report as one file that opens from disk, without a network:
//! the dashboard's own page, with the run's final data inside instead of
//! its API (`dashboard::report_document`).

use super::{Report, ReportError};
use crate::dashboard::live::Live;

/// The HTML report of a finished run: the final `report` (its summary,
/// iterations, status codes and rules), and from `live` the run's state,
/// nodes and per-second series (the last hour of a longer run, as the
/// dashboard keeps it).
pub fn document(report: &Report, live: &Live) -> Result<String, ReportError> {
    let summary = serde_json::to_value(report).map_err(ReportError::Encode)?;
    let data = serde_json::json!({
        "state": live.state_json(),
        "summary": summary,
        "nodes": live.nodes(),
        "series": live.series_since(f64::NEG_INFINITY),
    });
    Ok(crate::dashboard::report_document(&data))
}
