//! This node as the cluster's master: it serves the workers, runs its own
//! share when it is also a worker, hosts the dashboard and writes the
//! cluster's report.

use std::net::SocketAddr;

use lps_config::ClusterSettings;

use super::cli::ClusterArgs;
use super::{Error, Setup, board, options};
use crate::cluster::{self, master::MasterConfig};
use crate::dashboard::live::Live;
use crate::report;

/// Runs the master until the cluster's test is over and writes the report.
pub fn run(setup: &Setup, cluster: &ClusterSettings, args: &ClusterArgs) -> Result<u8, Error> {
    let cfg = MasterConfig {
        watchdog: setup.settings.watchdog.clone(),
        ..config(cluster, args)?
    };
    // The master always hosts the dashboard.
    let live = Live::new(setup.plan, setup.model);
    options::prepare_live(&live, setup.output);
    let board = board::start(&live, setup.output, &setup.settings);
    let done = cluster::master::run(setup.plan, cfg, &setup.opts, Some(live.clone()), setup.stop)?;
    let code = super::error::conclude(report::write(
        setup.plan,
        &done.outcome,
        setup.model,
        options::destinations(setup.output),
        Some(done.nodes),
        Some(&live),
    ));
    board::linger(board, setup.output);
    Ok(code)
}

/// The master's configuration: the settings, `--grpc-listen` and the
/// secret; a master reachable beyond loopback must have a secret.
fn config(cluster: &ClusterSettings, args: &ClusterArgs) -> Result<MasterConfig, Error> {
    let secret = cluster::secret(cluster);
    let listen = args
        .grpc_listen
        .unwrap_or(SocketAddr::new(cluster.master_node_ip, cluster.grpc_port));
    if secret.is_none() && !listen.ip().is_loopback() {
        return Err(Error::SecretRequired { listen });
    }
    let tls = match &cluster.tls {
        Some(tls) => Some((
            options::read_pem(&tls.certificate)?,
            options::read_pem(&tls.key)?,
        )),
        None => None,
    };
    Ok(MasterConfig {
        listen,
        secret,
        expected_workers: cluster.expected_number_of_workers,
        master_is_worker: cluster.master_node_is_worker,
        heartbeat_timeout: cluster.heartbeat_timeout,
        max_nodes: cluster.max_nodes,
        tls,
        watchdog: None,
    })
}
