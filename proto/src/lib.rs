//! The lps cluster protocol: the messages and the `Cluster` gRPC service
//! generated from `lps.proto` (one bidirectional stream per worker).

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

/// Bumped whenever a change to `lps.proto` breaks compatibility.
pub const PROTOCOL_VERSION: u32 = 1;

tonic::include_proto!("lps.cluster.v1");
