//! This node as a cluster worker: it registers with the master, runs its
//! share of the plan and streams it; when the master is gone, its full
//! local result goes to disk.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lps_config::ClusterSettings;

use super::cli::ClusterArgs;
use super::{Error, Setup, options};
use crate::cluster::{self, worker::WorkerConfig};
use crate::report;

/// Runs the worker until its share is done and writes its own report.
pub fn run(setup: &Setup, cluster: &ClusterSettings, args: &ClusterArgs) -> Result<u8, Error> {
    refuse_cluster_outputs(setup)?;
    let cfg = WorkerConfig {
        watchdog: setup.settings.watchdog.clone(),
        ..config(cluster, args)?
    };
    let node_id = cfg.node_id.clone();
    let done = cluster::worker::run(setup.plan, cfg, &setup.opts, setup.stop)?;
    let mut to = options::destinations(setup.output);
    let fallback;
    if let Some(why) = &done.master_gone {
        // The master has not got everything: the full local result
        // must land on disk, whatever else was asked for.
        fallback = result_file(to.json, &node_id);
        log::warn!(
            "lps worker: {why}; the full local result is written to {}",
            fallback.display()
        );
        to.json = Some(&fallback);
    } else if done.delivered && done.restarts > 0 {
        log::info!(
            "lps worker: every snapshot reached the master (the master restarted; it was caught up with this worker's whole result)"
        );
    } else if done.delivered {
        log::info!("lps worker: every snapshot reached the master");
    }
    Ok(super::error::conclude(report::write(
        setup.plan,
        &done.outcome,
        setup.model,
        to,
        None,
        None,
    )))
}

/// `--series` and `--html` are the cluster's, the master's to write: a
/// worker refuses them before it registers.
fn refuse_cluster_outputs(setup: &Setup) -> Result<(), Error> {
    let output = setup.output;
    for (option, asked) in [("--series", &output.series), ("--html", &output.html)] {
        if asked.is_some() {
            return Err(Error::WorkerOutput { option });
        }
    }
    Ok(())
}

/// Where a worker whose master is gone writes its result: the `--json`
/// file, or `lps-worker-<node id>.json` when that is stdout or not given.
fn result_file(json: Option<&Path>, node_id: &str) -> PathBuf {
    json.filter(|p| *p != Path::new("-"))
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("lps-worker-{node_id}.json")))
}

/// The worker's configuration: the master's address from the settings,
/// this node's id and host from the options (or the machine).
fn config(cluster: &ClusterSettings, args: &ClusterArgs) -> Result<WorkerConfig, Error> {
    let host = args
        .node_ip
        .map(|ip| ip.to_string())
        .unwrap_or_else(hostname);
    let node_id = args
        .node_id
        .clone()
        .unwrap_or_else(|| format!("{host}-{}", std::process::id()));
    let tls_ca = match &cluster.tls {
        Some(tls) => Some(options::read_pem(
            tls.ca_certificate.as_ref().unwrap_or(&tls.certificate),
        )?),
        None => None,
    };
    Ok(WorkerConfig {
        master: SocketAddr::new(cluster.master_node_ip, cluster.grpc_port),
        secret: cluster::secret(cluster),
        connect_timeout: cluster.connect_timeout,
        node_id,
        host,
        tls_ca,
        watchdog: None,
    })
}

/// This machine's name: workers in containers all start as PID 1, so the
/// default node id needs more than the pid to tell them apart.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_without_its_master_writes_its_result_to_a_file() {
        let cases = [
            (None, "lps-worker-w1.json"),
            (Some("-"), "lps-worker-w1.json"),
            (Some("out/r.json"), "out/r.json"),
        ];
        for (json, expected) in cases {
            let got = result_file(json.map(Path::new), "w1");
            assert_eq!(got, PathBuf::from(expected), "{json:?}");
        }
    }
}
