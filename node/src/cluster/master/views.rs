//! The nodes as the dashboard and the report show them.

use std::time::Instant;

use super::state::{MasterState, Node};
use crate::dashboard::live::NodeView;
use crate::report::NodeReport;

fn role(n: &Node) -> &'static str {
    if n.is_master { "master" } else { "worker" }
}

/// The nodes table for the dashboard, as of `now`.
pub fn node_views(state: &MasterState, now: Instant) -> Vec<NodeView> {
    state
        .nodes()
        .iter()
        .map(|n| {
            let total = n.aggregate.total();
            let secs = n.elapsed.as_secs_f64();
            NodeView {
                id: n.id.clone(),
                host: n.host.clone(),
                role: role(n),
                state: n.phase.as_str(),
                cores: n.cores,
                requests: total.requests(),
                rps: if secs > 0.0 {
                    total.requests() as f64 / secs
                } else {
                    0.0
                },
                p99_us: if total.latency.is_empty() {
                    0
                } else {
                    total.latency.histogram().value_at_quantile(0.99)
                },
                errors: total.failed,
                last_heartbeat_s: if n.is_master {
                    0.0
                } else {
                    now.saturating_duration_since(n.last_seen).as_secs_f64()
                },
            }
        })
        .collect()
}

/// The nodes section of the report.
pub fn node_reports(state: &MasterState) -> Vec<NodeReport> {
    state
        .nodes()
        .iter()
        .map(|n| NodeReport {
            caught_up: n.caught_up,
            ..NodeReport::new(
                &n.id,
                &n.host,
                role(n),
                n.phase.as_str(),
                n.cores,
                &n.aggregate.total(),
                n.elapsed,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::state::Phase;
    use crate::dashboard::live::CLUSTER_NODE_STATES;

    #[test]
    fn the_metrics_know_every_phase() {
        for phase in [
            Phase::Observer,
            Phase::Running,
            Phase::Finished,
            Phase::Lost,
        ] {
            // A new phase fails to compile here: add it to CLUSTER_NODE_STATES.
            match phase {
                Phase::Observer | Phase::Running | Phase::Finished | Phase::Lost => {}
            }
            assert!(CLUSTER_NODE_STATES.contains(&phase.as_str()), "{phase:?}");
        }
    }
}
