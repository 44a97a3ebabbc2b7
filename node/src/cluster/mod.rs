//! The cluster: what master and workers share (who is which role, the plan
//! fingerprint, the clock), the wire form of snapshots, and the two roles.
//!
//! # Layout
//! - `wire`: engine snapshots to and from the protocol (HdrHistogram V2 + deflate),
//!   with the checks that keep a peer from forging counts or exhausting memory.
//! - `master`: the master's state, its gRPC service and its run.
//! - `worker`: the worker's connection to the master, its outbox and its run.

pub mod master;
pub mod wire;
pub mod worker;

pub use wire::{Counts, HistogramError, Impossible, WireError, decode_snapshot, encode_snapshot};

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lps_config::{ClusterSettings, Plan};

/// The environment variable that overrides `Cluster.Secret`.
pub const SECRET_ENV: &str = "LPS_CLUSTER_SECRET";

/// Which part this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Worker,
}

/// Decides the role: `--role` wins; else a node whose address (`--node-ip`,
/// or any local address) is `MasterNodeIP` is the master.
pub fn resolve_role(
    cluster: &ClusterSettings,
    role: Option<Role>,
    node_ip: Option<IpAddr>,
) -> Role {
    if let Some(role) = role {
        return role;
    }
    let is_master = match node_ip {
        Some(ip) => ip == cluster.master_node_ip,
        // An address this machine can bind is one of its own.
        None => std::net::UdpSocket::bind((cluster.master_node_ip, 0)).is_ok(),
    };
    if is_master {
        Role::Master
    } else {
        Role::Worker
    }
}

/// The cluster secret: the environment variable, else the settings.
pub fn secret(cluster: &ClusterSettings) -> Option<String> {
    std::env::var(SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| cluster.secret.clone())
}

/// A stable hash of everything in the plan that changes what is sent, so a
/// worker started with another plan is refused. FNV-1a over the plan's
/// `Debug` form: the same binary gives the same text for the same plan.
pub fn fingerprint(plan: &Plan) -> String {
    let text = format!("{plan:?}");
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Iteration names of a plan, in index order.
pub fn iteration_names(plan: &Plan) -> Vec<String> {
    plan.rounds
        .iter()
        .flat_map(|r| r.iterations.iter().map(|i| i.name.clone()))
        .collect()
}

/// A number this process alone has (a worker's `Register.instance`, a
/// master's `Welcome.master_instance`): std's hasher keys are random per
/// process, and the pid and clock are mixed in.
pub fn process_instance() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The local instant of a wall-clock time given in Unix ms (now, if past).
pub fn instant_of_unix_ms(ms: u64) -> Instant {
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    let ahead = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + ahead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_when_plans_differ() {
        let q = |n: u64| {
            let text = format!(
                "name: P\nrounds:\n  - name: R\n    iterations:\n      - name: a\n        requestCount: {n}\n        httpRequest:\n          url: http://127.0.0.1:9/\n"
            );
            let file = lps_config::parse_plan(&text, "p.yaml", lps_config::Format::Yaml).unwrap();
            file.into_plan(lps_config::Origin::new("p.yaml")).unwrap()
        };
        assert_eq!(fingerprint(&q(5)), fingerprint(&q(5)));
        assert_ne!(fingerprint(&q(5)), fingerprint(&q(6)));
        assert_eq!(fingerprint(&q(5)).len(), 16);
    }
}
