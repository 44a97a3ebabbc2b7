//! What the lps benchmarks share: deterministic latency samples, filled
//! [`Stats`], an in-process HTTP/1.1 peer, the built-in target on loopback and
//! a ready-made R-mode plan.
//!
//! The benchmarks themselves live in `benches/` (one criterion binary each):
//! - `histogram`: `Stats::record_response`, `Stats::merge`, `Aggregate::add`.
//! - `http1`: `http1::Connection::exchange` against an in-process peer and
//!   against `lps target` over loopback, and whole `lps_engine::start` runs.
//! - `plan`: parsing and checking the plans in `config/examples`.
//! - `instructions` (gungraun, under callgrind): instructions per request on
//!   the HTTP/1.1, h2c and TLS paths, per snapshot merge and per plan load.
//!
//! # Layout
//! - [`latencies`], [`filled_stats`]: recorded data shaped like a real run.
//! - [`spawn_canned_peer`] and the canned responses: a peer that costs
//!   nothing but a memcpy, so a bench sees only the client side.
//! - [`loopback_target`], [`r_plan`], [`pin_to_core`]: real runs on loopback.
//! - [`tls_peer`]: a TLS 1.3 HTTP/1.1 keep-alive peer with a self-signed
//!   certificate, answering every request head with [`RESPONSE_TARGET`].
//! - [`instructions`]: figures from the deterministic (callgrind) bench,
//!   compared with the committed baseline (`perf/iai-check`).
//!
//! # Example
//! ```
//! let values = lps_benches::latencies(1000, 7);
//! assert_eq!(values.len(), 1000);
//! let stats = lps_benches::filled_stats(&values);
//! assert_eq!(stats.requests(), 1000);
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lps_config::{HttpRequest, HttpVersion, Iteration, Mode, Plan, Round, Scheme, Target};
use lps_engine::Stats;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;

/// What `lps target` answers to `GET /` (hyper's head, `date` included).
pub const RESPONSE_TARGET: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\ndate: Thu, 26 Nov 2026 04:08:42 GMT\r\n\r\nhello world";

/// What nginx answers to `return 200 "hello world\n"`.
pub const RESPONSE_NGINX: &[u8] = b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 04:08:42 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n";

/// The same body, chunked, with one trailer-free last chunk.
pub const RESPONSE_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n";

/// A response with a `len`-byte body: larger than the 8 KiB read buffer, it
/// takes the skip path that reads and drops body bytes.
pub fn response_with_body(len: usize) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n").into_bytes();
    out.resize(out.len() + len, b'x');
    out
}

/// `n` latencies in µs, the same for the same `seed`: 99 % log-uniform in
/// 50 µs..5 ms, 1 % log-uniform in 5 ms..2 s, so records touch many buckets
/// as a real run with a tail does.
pub fn latencies(n: usize, seed: u64) -> Vec<u64> {
    // xorshift64*: good enough to scatter values, and reproducible everywhere.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    (0..n)
        .map(|_| {
            let r = next();
            // 53 bits of the draw as a uniform in [0, 1).
            let u = (r >> 11) as f64 / (1u64 << 53) as f64;
            let (low, high): (f64, f64) = if r % 100 == 0 {
                (5_000.0, 2_000_000.0)
            } else {
                (50.0, 5_000.0)
            };
            (low * (high / low).powf(u)) as u64
        })
        .collect()
}

/// A [`Stats`] with one response per value: 5 % of them 503, the rest 200,
/// with the byte counts of `GET /` against `lps target`.
pub fn filled_stats(values: &[u64]) -> Stats {
    let mut stats = Stats::new();
    for (i, &v) in values.iter().enumerate() {
        let status = if i % 20 == 0 { 503 } else { 200 };
        stats.record_response(status, v, 40, RESPONSE_TARGET.len() as u64);
    }
    stats
}

/// Spawns on `rt` a peer that answers every `request_len` bytes it reads with
/// `response`, and returns the client's end. The peer ends when the client
/// end is dropped.
pub fn spawn_canned_peer(rt: &Runtime, request_len: usize, response: Vec<u8>) -> DuplexStream {
    assert!(request_len > 0, "requests have a length");
    // Room for a whole 16 KiB response, so the peer writes it in one go.
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    rt.spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending = 0usize;
        loop {
            let n = match server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            pending += n;
            while pending >= request_len {
                pending -= request_len;
                if server.write_all(&response).await.is_err() {
                    return;
                }
            }
        }
    });
    client
}

/// `lps target` on a free loopback port with one server thread (pinned by the
/// target itself to the last core, away from the bench on core 0).
pub fn loopback_target() -> lps_testbed::TargetHandle {
    let opts = lps_testbed::TargetOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        threads: 1,
        record_arrivals: false,
    };
    // Port 0 on loopback is always bindable: failing here means the machine
    // cannot run the benchmark at all.
    lps_testbed::spawn(opts).expect("lps target starts on 127.0.0.1:0")
}

/// A plan of one R-mode iteration: `clients` clients each send `requests`
/// `GET /` to `addr` over HTTP/1.1.
pub fn r_plan(addr: SocketAddr, clients: u32, requests: u64) -> Plan {
    Plan {
        name: "bench".into(),
        rounds: vec![Round {
            run_in_parallel: true,
            iterations: vec![Iteration {
                name: "home".into(),
                mode: Mode::Requests { requests },
                maximize_throughput: false,
                startup_delay: Duration::ZERO,
                request: HttpRequest {
                    method: "GET".into(),
                    target: Target {
                        scheme: Scheme::Http,
                        host: addr.ip().to_string(),
                        port: addr.port(),
                        path_and_query: "/".into(),
                    },
                    headers: Vec::new(),
                    body: Vec::new(),
                    version: HttpVersion::Http11,
                    retry: None,
                    client_identity: None,
                },
                script: None,
                failure_rules: Vec::new(),
                termination_rules: Vec::new(),
            }],
            ..Round::single("Round-1", clients, Duration::ZERO)
        }],
        variables: Vec::new(),
    }
}

/// A TLS peer on a free loopback port: TLS 1.3 (ring), a self-signed
/// certificate for `127.0.0.1` (so clients run insecure), ALPN `http/1.1`;
/// on each connection it answers every request head (`\r\n\r\n`) with
/// [`RESPONSE_TARGET`]. Its thread lives until the process ends: a bench
/// binary starts one per run.
pub fn tls_peer() -> SocketAddr {
    // Binding port 0 on loopback and building a config from a fresh
    // certificate cannot fail on a machine that can run a bench at all.
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("self-signed certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("ring supports TLS 1.3")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .expect("the certificate matches its key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let addr = listener.local_addr().expect("bound address");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("current-thread runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::task::spawn_local(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        answer_heads(tls).await;
                    }
                });
            }
        });
    });
    addr
}

/// Answers each request head read from `stream` with [`RESPONSE_TARGET`],
/// until the peer closes or an error; requests carry no body.
async fn answer_heads<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; 16 * 1024];
    // Bytes of a head end (`\r\n\r\n`) matched at the end of the last read.
    let mut matched = 0usize;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut heads = 0;
        for &b in &buf[..n] {
            matched = match (matched, b) {
                (0 | 2, b'\r') => matched + 1,
                (1 | 3, b'\n') => matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if matched == 4 {
                heads += 1;
                matched = 0;
            }
        }
        for _ in 0..heads {
            if stream.write_all(RESPONSE_TARGET).await.is_err() {
                return;
            }
        }
    }
}

/// Pins the calling thread to the `index`-th core it may run on (wrapping);
/// false when the platform refuses or lists no cores.
pub fn pin_to_core(index: usize) -> bool {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.is_empty() {
        return false;
    }
    core_affinity::set_for_current(cores[index % cores.len()])
}

pub mod instructions;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_reproducible_and_within_bounds() {
        let a = latencies(100_000, 3);
        assert_eq!(a, latencies(100_000, 3));
        assert_ne!(a, latencies(100_000, 4));
        assert!(a.iter().all(|&v| (50..=2_000_000).contains(&v)));
        let tail = a.iter().filter(|&&v| v >= 5_000).count();
        // 1 % drawn from the tail, give or take sampling noise.
        assert!((700..=1_300).contains(&tail), "tail {tail}");
    }

    #[test]
    fn filled_stats_counts_each_value_once() {
        let s = filled_stats(&latencies(1_000, 1));
        assert_eq!(s.requests(), 1_000);
        assert_eq!(s.failed, 50);
        assert_eq!(s.status_codes(), vec![(200, 950), (503, 50)]);
        assert_eq!(s.bytes_sent, 40_000);
    }

    #[test]
    fn the_plan_of_the_plan_load_bench_loads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
        let text = std::fs::read_to_string(dir.join("shop.yaml")).unwrap();
        let loaded =
            lps_config::lps3::parse(&text, "shop.yaml", lps_config::Format::Yaml, &dir).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let plan = lps_config::lps3::lower(loaded, "shop.yaml").unwrap().plan;
        let iterations: Vec<usize> = plan.rounds.iter().map(|r| r.iterations.len()).collect();
        assert_eq!(iterations, vec![1, 3, 2]);
        assert_eq!(plan.variables.len(), 4);
    }

    #[test]
    fn tls_peer_answers_every_request_of_an_engine_run() {
        let addr = tls_peer();
        let mut plan = r_plan(addr, 2, 50);
        plan.rounds[0].iterations[0].request.target.scheme = lps_config::Scheme::Https;
        let opts = lps_engine::RunOptions {
            threads: 1,
            insecure: true,
            ..Default::default()
        };
        let run = lps_engine::start(&plan, &opts, Default::default()).unwrap();
        let mut agg = lps_engine::Aggregate::new(1);
        for snap in run.snapshots().iter() {
            agg.add(&snap);
        }
        run.join().unwrap();
        let total = agg.total();
        assert_eq!(total.ok, 100);
        assert_eq!(total.status_codes(), vec![(200, 100)]);
        assert_eq!(total.tls.len(), 2, "one handshake per client");
    }

    #[test]
    fn canned_peer_answers_each_request() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let request = lps_engine::http1::build_request("GET", "x", "/", &[], b"");
        for response in [
            RESPONSE_TARGET.to_vec(),
            RESPONSE_NGINX.to_vec(),
            RESPONSE_CHUNKED.to_vec(),
            response_with_body(16 * 1024),
        ] {
            let stream = spawn_canned_peer(&rt, request.len(), response.clone());
            let mut conn = lps_engine::http1::Connection::new(stream);
            rt.block_on(async {
                for _ in 0..3 {
                    let r = conn.exchange(&request, false).await.unwrap();
                    assert_eq!(r.status, 200);
                    assert_eq!(r.received, response.len() as u64);
                    assert!(!r.close);
                }
            });
        }
    }
}
