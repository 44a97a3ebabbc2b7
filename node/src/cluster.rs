//! What master and workers share: who is which role, the plan fingerprint,
//! and the wire form of engine snapshots (HdrHistogram V2 + deflate).

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use lps_config::{ClusterSettings, Plan};
use lps_engine::{ErrorKind, Snapshot, Stats};
use lps_proto as proto;

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

/// Why a peer's snapshot was rejected.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("iteration index {0} is not in the plan")]
    Iteration(u32),
    #[error("histogram of iteration {0} does not decode: {1}")]
    Histogram(u32, String),
    #[error("unknown error kind {0:?}")]
    ErrorKind(String),
    #[error("status code {0} is out of range")]
    Status(u32),
}

/// Encodes one core snapshot for the wire; empty iterations are left out.
pub fn encode_snapshot(seq: u64, snap: &Snapshot) -> proto::Snapshot {
    let mut serializer = V2DeflateSerializer::new();
    let iterations = snap
        .iterations
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(index, s)| {
            let mut histogram = Vec::new();
            let mut connect_histogram = Vec::new();
            // Serialising into a Vec cannot fail for a histogram this crate built.
            let _ = serializer.serialize(&s.latency, &mut histogram);
            if !s.connect.is_empty() {
                let _ = serializer.serialize(&s.connect, &mut connect_histogram);
            }
            proto::IterationStats {
                index: index as u32,
                histogram,
                connect_histogram,
                status_codes: s
                    .status_codes()
                    .into_iter()
                    .map(|(code, count)| proto::StatusCount {
                        code: u32::from(code),
                        count,
                    })
                    .collect(),
                errors: ErrorKind::ALL
                    .iter()
                    .filter(|k| s.errors(**k) > 0)
                    .map(|k| proto::ErrorCount {
                        kind: k.as_str().to_string(),
                        count: s.errors(*k),
                    })
                    .collect(),
                bytes_sent: s.bytes_sent,
                bytes_received: s.bytes_received,
            }
        })
        .collect();
    proto::Snapshot {
        seq,
        core: snap.core as u32,
        elapsed_ms: snap.elapsed.as_millis() as u64,
        in_flight: snap.in_flight,
        iterations,
        last: snap.last,
    }
}

/// Decodes a peer's snapshot into an engine snapshot of a plan with
/// `iterations` iterations. Nothing a peer sends can panic here.
pub fn decode_snapshot(msg: &proto::Snapshot, iterations: usize) -> Result<Snapshot, WireError> {
    let mut stats: Vec<Stats> = (0..iterations).map(|_| Stats::new()).collect();
    let mut deserializer = Deserializer::new();
    for it in &msg.iterations {
        let slot = stats
            .get_mut(it.index as usize)
            .ok_or(WireError::Iteration(it.index))?;
        let latency: hdrhistogram::Histogram<u64> = deserializer
            .deserialize(&mut it.histogram.as_slice())
            .map_err(|e| WireError::Histogram(it.index, format!("{e:?}")))?;
        // Left empty by a core that opened no connection in the interval.
        let connect: Option<hdrhistogram::Histogram<u64>> = if it.connect_histogram.is_empty() {
            None
        } else {
            Some(
                deserializer
                    .deserialize(&mut it.connect_histogram.as_slice())
                    .map_err(|e| WireError::Histogram(it.index, format!("{e:?}")))?,
            )
        };
        let mut codes = Vec::with_capacity(it.status_codes.len());
        for s in &it.status_codes {
            let code = u16::try_from(s.code).map_err(|_| WireError::Status(s.code))?;
            codes.push((code, s.count));
        }
        let mut errors = Vec::with_capacity(it.errors.len());
        for e in &it.errors {
            let kind = ErrorKind::from_name(&e.kind)
                .ok_or_else(|| WireError::ErrorKind(e.kind.clone()))?;
            errors.push((kind, e.count));
        }
        let rebuilt = Stats::from_parts(latency, &codes, &errors, it.bytes_sent, it.bytes_received);
        *slot = match &connect {
            Some(connect) => rebuilt.with_connect(connect),
            None => rebuilt,
        };
    }
    Ok(Snapshot {
        core: msg.core as usize,
        seq: msg.seq,
        elapsed: Duration::from_millis(msg.elapsed_ms),
        in_flight: msg.in_flight,
        iterations: stats,
        last: msg.last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_round_trip_exactly() {
        let mut a = Stats::new();
        for v in 1..=2000u64 {
            a.record_response(if v % 7 == 0 { 500 } else { 200 }, v * 31, 40, 120);
        }
        a.record_error(ErrorKind::Reset, 40, 3);
        for us in [35, 90, 4000] {
            a.record_connect(us);
        }
        let snap = Snapshot {
            core: 1,
            seq: 9,
            elapsed: Duration::from_millis(1500),
            in_flight: 4,
            iterations: vec![Stats::new(), a.clone()],
            last: true,
        };
        let wire = encode_snapshot(12, &snap);
        assert_eq!(wire.seq, 12);
        assert_eq!(wire.iterations.len(), 1, "empty iterations are not sent");
        let back = decode_snapshot(&wire, 2).unwrap();
        let b = &back.iterations[1];
        assert_eq!(b.latency, a.latency);
        assert_eq!(b.connect, a.connect);
        assert_eq!(b.connect.len(), 3);
        assert_eq!((b.ok, b.failed), (a.ok, a.failed));
        assert_eq!(b.status_codes(), a.status_codes());
        assert_eq!(b.errors(ErrorKind::Reset), 1);
        assert_eq!(
            (b.bytes_sent, b.bytes_received),
            (a.bytes_sent, a.bytes_received)
        );
        assert!(back.iterations[0].is_empty());
        assert_eq!((back.core, back.in_flight, back.last), (1, 4, true));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut wire = encode_snapshot(
            1,
            &Snapshot {
                core: 0,
                seq: 0,
                elapsed: Duration::ZERO,
                in_flight: 0,
                iterations: vec![{
                    let mut s = Stats::new();
                    s.record_response(200, 5, 1, 1);
                    s
                }],
                last: false,
            },
        );
        assert!(matches!(
            decode_snapshot(&wire, 0),
            Err(WireError::Iteration(0))
        ));
        wire.iterations[0].connect_histogram = b"not a histogram either".to_vec();
        assert!(matches!(
            decode_snapshot(&wire, 1),
            Err(WireError::Histogram(0, _))
        ));
        wire.iterations[0].connect_histogram.clear();
        wire.iterations[0].histogram = b"not a histogram".to_vec();
        assert!(matches!(
            decode_snapshot(&wire, 1),
            Err(WireError::Histogram(0, _))
        ));
        wire.iterations[0].histogram.clear();
        assert!(decode_snapshot(&wire, 1).is_err());
    }

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
