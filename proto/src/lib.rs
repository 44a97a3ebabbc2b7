//! The lps cluster protocol: the messages and the `Cluster` gRPC service
//! generated from `lps.proto` (one bidirectional stream per worker).

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

/// Bumped whenever a change to `lps.proto` breaks compatibility.
/// 2: snapshots carry connect times, and closed-model latency no longer
/// includes them, so figures of version 1 nodes would not add up.
/// 4: the Welcome names the master's instance and snapshots may be
/// catch-ups (a worker must know whether its master restarted); snapshots
/// carry send lags, unfinished requests and each iteration's span, without
/// which a cluster's report would lose them.
/// 5: rounds are a barrier across the cluster (RoundDone, RoundStart, the
/// Welcome's round): a version 4 worker would never say it finished a
/// round, and would run the next ones unaligned.
/// 6: the start (StateChange) gives each node its share of the feeders'
/// rows: a version 5 worker would take every row, handing rows that
/// other nodes hand out too.
/// 7: the master terminates iterations on every node (Terminate) when a
/// termination rule holds on the merged data: a version 6 worker would run
/// them on. Snapshots carry the TTFB and TLS handshake histograms.
pub const PROTOCOL_VERSION: u32 = 7;

tonic::include_proto!("lps.cluster.v1");
