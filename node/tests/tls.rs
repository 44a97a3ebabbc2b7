//! `https://` targets: HTTP/1.1 over TLS on the fast path, HTTP/2 by ALPN
//! on the h2 crate, both recorded the same way; certificates are verified
//! unless `--insecure`.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{args, lps_json};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_rustls::TlsAcceptor;

/// A TLS server with a self-signed certificate for 127.0.0.1, offering the
/// ALPN protocols given; counts connections, and requests per protocol version.
struct TlsServer {
    addr: SocketAddr,
    h1: Arc<AtomicU64>,
    h2: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
}

fn start_tls_server() -> TlsServer {
    tls_server(&[b"h2", b"http/1.1"])
}

fn tls_server(alpn: &[&[u8]]) -> TlsServer {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (h1, h2) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (c1, c2) = (h1.clone(), h2.clone());
    let connections = Arc::new(AtomicU64::new(0));
    let accepted = connections.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, c1, c2) = (acceptor.clone(), c1.clone(), c2.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let counter = if req.version() == hyper::Version::HTTP_2 {
                            &c2
                        } else {
                            &c1
                        };
                        counter.fetch_add(1, Ordering::SeqCst);
                        async {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"secure"),
                            )))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    TlsServer {
        addr,
        h1,
        h2,
        connections,
    }
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn https_http1_and_h2_by_alpn_record_identically() {
    let server = start_tls_server();
    let url = format!("https://{}/", server.addr);
    let (code, r1, stderr) = lps_json(
        &[
            "--url",
            &url,
            "--insecure",
            "-rc",
            "100",
            "-nc",
            "2",
            "-hv",
            "1.1",
        ],
        LIMIT,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(r1["requests"]["ok"], 200);
    assert_eq!(r1["status_codes"]["200"], 200);
    assert_eq!(server.h1.load(Ordering::SeqCst), 200);
    let (code, r2, stderr) = lps_json(
        &args(&format!("--url {url} --insecure -rc 100 -nc 2 -hv 2.0")),
        LIMIT,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(r2["requests"]["ok"], 200);
    assert_eq!(server.h2.load(Ordering::SeqCst), 200);
    assert_eq!(r1["connections"]["http2"], 0);
    assert_eq!(r2["connections"]["http2"], r2["connections"]["opened"]);
    // The same responses give the same byte counts on both paths.
    assert_eq!(r1["bytes"]["sent"], r2["bytes"]["sent"]);
    assert!(r2["latency_us"]["p50"].as_u64().unwrap() > 0);
}

#[test]
fn h2_batches_against_a_server_without_alpn_fall_back_on_one_connection_per_lane() {
    // No ALPN answer: the server speaks HTTP/1.1. Batch modes share one
    // HTTP/2 connection between a batch's lanes, when there is one to share.
    let server = tls_server(&[]);
    let url = format!("https://{}/", server.addr);
    // The cooldown lets a batch be answered before the next (which does not
    // wait for it), so the next reuses its lanes.
    let line = format!("--url {url} --insecure -hv 2.0 -im CRB -rc 12 -bs 4 -cdt 200");
    let (code, report, stderr) = lps_json(&args(&line), LIMIT);
    assert_eq!(code, 0, "{stderr} {}", report["errors"]);
    assert_eq!(report["requests"]["ok"], 12);
    assert_eq!(server.h1.load(Ordering::SeqCst), 12);
    // The connection the handshake settled on HTTP/1.1 is used, not dropped
    // for another: one per lane of the batch.
    assert_eq!(server.connections.load(Ordering::SeqCst), 4);
    // HTTP/2 was asked for; HTTP/1.1 was spoken, and the report says so.
    assert_eq!(report["connections"]["opened"], 4);
    assert_eq!(report["connections"]["http2"], 0);
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let server = start_tls_server();
    let url = format!("https://{}/", server.addr);
    let (code, report, _) = lps_json(&["--url", &url, "-rc", "5", "-nc", "1"], LIMIT);
    assert_eq!(code, 1);
    assert_eq!(report["errors"]["tls"], 5);
    assert_eq!(
        server.h1.load(Ordering::SeqCst) + server.h2.load(Ordering::SeqCst),
        0
    );
}
