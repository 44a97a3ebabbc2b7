//! `https://` targets: HTTP/1.1 over TLS on the fast path, HTTP/2 by ALPN
//! on lps's own HTTP/2 client, both recorded the same way; certificates are verified
//! unless `--insecure`.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Scratch, args, lps, lps_json};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
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
    tls_server_for(alpn, None)
}

/// As [`tls_server`]; with `client_ca`, the server requires a client
/// certificate issued by it (mutual TLS).
fn tls_server_for(alpn: &[&[u8]], client_ca: Option<CertificateDer<'static>>) -> TlsServer {
    tls_server_with(alpn, client_ca, Duration::ZERO)
}

/// As [`tls_server_for`], holding each TLS handshake `hold` after the TCP
/// connect (which the kernel completes without waiting for it).
fn tls_server_with(
    alpn: &[&[u8]],
    client_ca: Option<CertificateDer<'static>>,
    hold: Duration,
) -> TlsServer {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
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
                    if !hold.is_zero() {
                        tokio::time::sleep(hold).await;
                    }
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
fn the_tls_handshake_is_timed_apart_from_the_tcp_connect() {
    const HOLD_MS: u64 = 300;
    let server = tls_server_with(&[b"h2", b"http/1.1"], None, Duration::from_millis(HOLD_MS));
    let url = format!("https://{}/", server.addr);
    for version in ["1.1", "2.0"] {
        let line = format!("--url {url} --insecure -rc 3 -nc 2 -hv {version}");
        let (code, report, stderr) = lps_json(&args(&line), LIMIT);
        assert_eq!(code, 0, "{version}: {stderr}");
        let c = &report["connections"];
        assert_eq!(c["opened"], 2, "{version}: {c}");
        assert_eq!(c["tls_handshakes"], 2, "{version}: {c}");
        // The server holds the handshake, not the connect: the TCP connect
        // on loopback takes well under the hold, the handshake the rest of
        // it (a client that sees its connect late sees the handshake shorter
        // by as much: only their sum is at least the hold, per connection).
        let (tls, connect) = (&c["tls_us"], &c["connect_us"]);
        assert!(
            connect["max"].as_u64().unwrap() < HOLD_MS * 1000 / 2,
            "{version}: {c}"
        );
        assert!(
            tls["min"].as_u64().unwrap() + connect["max"].as_u64().unwrap() >= HOLD_MS * 1000,
            "{version}: {c}"
        );
        assert_eq!(c, &report["iterations"][0]["connections"], "{version}");
    }
    // The console shows the handshakes on a line of their own.
    let out = lps(&args(&format!("--url {url} --insecure -rc 1 -nc 1")), LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\n  TLS:         1 handshake, mean "),
        "{text}"
    );
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

/// A client certificate issued by a CA of its own: the CA's certificate,
/// and a PEM file's text holding the client's certificate and key.
fn client_identity() -> (CertificateDer<'static>, String) {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["lps-client".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    (
        ca.der().clone(),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
}

#[test]
fn a_client_certificate_from_the_plan_passes_mutual_tls() {
    let (ca, pem) = client_identity();
    let server = tls_server_for(&[b"h2", b"http/1.1"], Some(ca));
    let dir = Scratch::new("mtls");
    dir.write("client.pem", &pem);
    // A certificate of another CA, which the server must refuse as well.
    dir.write("other.pem", client_identity().1);
    let plan = |cert: &str| {
        format!(
            "name: Mtls\nrounds:\n  - name: R\n    iterations:\n      - name: secure\n        requestCount: 5\n        httpRequest:\n          method: GET\n          url: https://{}/\n{cert}",
            server.addr
        )
    };
    let run = |name: &str, cert: &str| {
        let path = dir.write(name, plan(cert));
        lps_json(&["run", path.to_str().unwrap(), "--insecure"], LIMIT)
    };
    let (code, report, stderr) = run("with.yaml", "          clientCertificatePath: client.pem\n");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["requests"]["ok"], 5, "{report}");
    let served = || server.h1.load(Ordering::SeqCst) + server.h2.load(Ordering::SeqCst);
    assert_eq!(served(), 5);
    for (name, cert) in [
        ("without.yaml", ""),
        ("other.yaml", "          clientCertificatePath: other.pem\n"),
    ] {
        let (code, report, stderr) = run(name, cert);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert_eq!(report["requests"]["ok"], 0, "{name}: {report}");
        assert_eq!(
            report["requests"]["failed"], 5,
            "{name}: {}",
            report["errors"]
        );
        assert_eq!(
            served(),
            5,
            "{name}: the server answered without a client certificate"
        );
        // TLS 1.3: the server refuses the certificate once the client's side
        // of the handshake is done, so the client sees the refusal on the
        // connection (an alert, or a reset), never a response.
        let e = &report["errors"];
        let on_the_connection = ["protocol", "reset", "closed", "tls"]
            .iter()
            .map(|k| e[k].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(on_the_connection, 5, "{name}: {e}");
    }
    // A certificate without its key stops the plan before any load.
    let cert_only = pem.split("-----BEGIN PRIVATE KEY").next().unwrap();
    dir.write("only.crt", cert_only);
    let path = dir.write(
        "only.yaml",
        plan("          clientCertificatePath: only.crt\n"),
    );
    let out = lps(&["run", path.to_str().unwrap(), "--insecure"], LIMIT);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let line = out.stderr.lines().find(|l| l.contains("only.yaml:10: "));
    assert!(
        line.is_some_and(|l| l.contains("httpRequest.clientCertificatePath")
            && l.contains("without its private key")),
        "{}",
        out.stderr
    );
    assert_eq!(served(), 5);
}
