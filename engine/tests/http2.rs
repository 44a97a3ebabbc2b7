//! HTTP/2 against real servers over loopback: lps's own client
//! (`engine/src/http2`) and the `h2` crate's (`RunOptions::h2_crate`) send the
//! same plans and must report the same counts, to the byte; servers that
//! reset streams, go away, pad, continue header blocks or send frames
//! nobody asked for are met by both.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{RAW_PING, RawH2, h2_frame};
use lps_config::{HttpVersion, Mode, Plan, Scheme};
use lps_engine::{ErrorKind, RunOptions, Stats};

/// `requests` requests from each of `clients` clients, over HTTP/2 (h2c,
/// or ALPN over TLS) to `path`.
fn plan(port: u16, tls: bool, path: &str, mode: Mode, clients: u32) -> Plan {
    let mut plan = common::get_plan(port, mode);
    plan.rounds[0].stages[0].clients = clients;
    let req = &mut plan.rounds[0].iterations[0].request;
    req.target.path_and_query = path.into();
    if tls {
        req.target.scheme = Scheme::Https;
        req.version = HttpVersion::Http2;
    } else {
        req.version = HttpVersion::H2c;
    }
    plan
}

fn requests(requests: u64) -> Mode {
    Mode::Requests { requests }
}

/// Runs `plan` on one engine thread, through lps's client or the h2 crate.
fn run(plan: &Plan, h2_crate: bool) -> Stats {
    run_with(plan, h2_crate, 1)
}

/// Runs `plan` on one engine thread with `h2_streams` clients per connection.
fn run_with(plan: &Plan, h2_crate: bool, h2_streams: u32) -> Stats {
    let opts = RunOptions {
        threads: 1,
        pin: false,
        insecure: true,
        timeout: Duration::from_secs(10),
        h2_crate,
        h2_streams,
        ..Default::default()
    };
    let run = lps_engine::start(plan, &opts, Default::default()).unwrap();
    common::finish(run).total()
}

/// Runs `plan` through both clients: lps's, then the h2 crate's.
fn both(plan: &Plan) -> [Stats; 2] {
    [run(plan, false), run(plan, true)]
}

/// What the reports of both clients must agree on.
fn counts(s: &Stats) -> (u64, u64, u64, u64, Vec<(u16, u64)>) {
    (
        s.ok,
        s.failed,
        s.bytes_sent,
        s.bytes_received,
        s.status_codes(),
    )
}

/// A response head as lps counts it, its HTTP/1.1 equivalent: status line
/// (17), each field with ": " and CRLF, and the blank line.
fn head_bytes(fields: &[(&str, usize)]) -> u64 {
    17 + fields
        .iter()
        .map(|(n, v)| (n.len() + v + 4) as u64)
        .sum::<u64>()
        + 2
}

/// An h2 crate server in process: h2c, or TLS offering only `h2`.
struct H2Server {
    port: u16,
    connections: Arc<AtomicU64>,
}

impl H2Server {
    fn start(tls: bool, max_streams: Option<u32>) -> H2Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicU64::new(0));
        let accepted = connections.clone();
        let acceptor = tls.then(tls_acceptor);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let counter = Arc::new(AtomicU64::new(0));
                while let Ok((tcp, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (acceptor, counter) = (acceptor.clone(), counter.clone());
                    tokio::spawn(async move {
                        match acceptor {
                            Some(a) => {
                                if let Ok(tls) = a.accept(tcp).await {
                                    serve(tls, max_streams, counter).await;
                                }
                            }
                            None => serve(tcp, max_streams, counter).await,
                        }
                    });
                }
            });
        });
        H2Server { port, connections }
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

async fn serve<T>(io: T, max_streams: Option<u32>, counter: Arc<AtomicU64>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = h2::server::Builder::new();
    if let Some(n) = max_streams {
        builder.max_concurrent_streams(n);
    }
    let Ok(mut conn) = builder.handshake::<_, Bytes>(io).await else {
        return;
    };
    while let Some(Ok((req, respond))) = conn.accept().await {
        tokio::spawn(answer(req, respond, counter.fetch_add(1, Ordering::SeqCst)));
    }
}

/// The fields `/headers` answers with: two fixed, one changing with every
/// response (200 bytes, so that the dynamic table keeps evicting).
fn headers_fields(n: u64) -> [(&'static str, String); 3] {
    [
        ("content-type", "text/plain; charset=utf-8".to_owned()),
        ("x-fixed", "the same value every time".to_owned()),
        ("x-count", format!("{n:0200}")),
    ]
}

async fn answer(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    n: u64,
) {
    let path = req.uri().path().to_owned();
    let mut body_in = req.into_body();
    let mut echoed = Vec::new();
    while let Some(Ok(data)) = body_in.data().await {
        let _ = body_in.flow_control().release_capacity(data.len());
        echoed.extend_from_slice(&data);
    }
    let mut res = http::Response::new(());
    let body: Vec<u8> = match path.as_str() {
        "/echo" => echoed,
        "/rst" => return respond.send_reset(h2::Reason::INTERNAL_ERROR),
        "/delay" => {
            tokio::time::sleep(Duration::from_millis(30)).await;
            b"late".to_vec()
        }
        "/headers" => {
            for (name, value) in headers_fields(n) {
                res.headers_mut()
                    .insert(name, http::HeaderValue::from_str(&value).unwrap());
            }
            b"hi".to_vec()
        }
        p => match p.strip_prefix("/bytes/") {
            Some(n) => vec![b'x'; n.parse().unwrap()],
            None => {
                *res.status_mut() = http::StatusCode::NOT_FOUND;
                Vec::new()
            }
        },
    };
    let Ok(mut out) = respond.send_response(res, body.is_empty()) else {
        return;
    };
    let mut left = Bytes::from(body);
    while !left.is_empty() {
        out.reserve_capacity(left.len());
        let Some(Ok(cap)) = std::future::poll_fn(|cx| out.poll_capacity(cx)).await else {
            return;
        };
        let chunk = left.split_to(cap.min(left.len()));
        if out.send_data(chunk, left.is_empty()).is_err() {
            return;
        }
    }
}

#[test]
fn huffman_coded_indexed_headers_are_counted_exactly_as_the_h2_crate_counts_them() {
    for tls in [false, true] {
        let server = H2Server::start(tls, None);
        let plan = plan(server.port, tls, "/headers", requests(300), 2);
        let [lean, krate] = both(&plan);
        assert_eq!(counts(&lean), counts(&krate), "tls {tls}");
        assert_eq!(lean.ok, 600);
        // Every response has the same lengths: the counter is 200 digits.
        let fields = headers_fields(0);
        let lens: Vec<(&str, usize)> = fields.iter().map(|(n, v)| (*n, v.len())).collect();
        assert_eq!(lean.bytes_received, 600 * (head_bytes(&lens) + 2));
        // One connection per client on each path.
        assert_eq!(server.connections.load(Ordering::SeqCst), 4, "tls {tls}");
    }
}

#[test]
fn bodies_past_the_flow_control_windows_both_ways() {
    let server = H2Server::start(false, None);
    // 3 MiB responses: past our 2 MiB stream window, and four of them on
    // one connection past its 5 MiB window.
    let big = 3 * 1024 * 1024;
    let [lean, krate] = both(&plan(
        server.port,
        false,
        &format!("/bytes/{big}"),
        requests(4),
        1,
    ));
    assert_eq!(counts(&lean), counts(&krate));
    assert_eq!((lean.ok, lean.failed), (4, 0));
    assert_eq!(lean.bytes_received, 4 * (head_bytes(&[]) + big as u64));
    // Uploads past the server's 64 KiB windows, in several DATA frames, and
    // echoed back.
    for size in [0usize, 10_000, 200_000] {
        let mut plan = plan(server.port, false, "/echo", requests(5), 2);
        let req = &mut plan.rounds[0].iterations[0].request;
        req.method = "POST".into();
        req.body = vec![b'b'; size];
        let [lean, krate] = both(&plan);
        assert_eq!(counts(&lean), counts(&krate), "body of {size}");
        assert_eq!(lean.ok, 10, "body of {size}");
        assert_eq!(lean.bytes_received, 10 * (head_bytes(&[]) + size as u64));
    }
}

#[test]
fn batches_multiplex_on_one_connection_within_the_servers_stream_limit() {
    for max_streams in [None, Some(3)] {
        let server = H2Server::start(false, max_streams);
        let mode = Mode::CooldownRequestBatch {
            requests: 40,
            batch: 10,
            cooldown: Duration::from_millis(5),
        };
        let plan = plan(server.port, false, "/delay", mode, 2);
        let lean = run(&plan, false);
        assert_eq!((lean.ok, lean.failed), (80, 0), "{max_streams:?}");
        // One connection per client.
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
        if max_streams.is_none() {
            // Ten streams of 30 ms at once: a batch is not ten times 30 ms.
            let max = lean.latency.histogram().max();
            assert!(max < 250_000, "{max}");
            // The h2 crate counts the same. (With a limit of 3 streams it
            // opens more before the server's SETTINGS come, and some are
            // refused; lps's client opens one until then.)
            let krate = run(&plan, true);
            assert_eq!(counts(&lean), counts(&krate));
        }
    }
}

#[test]
fn clients_share_connections_ten_to_one_within_the_servers_stream_limit() {
    // h2load -c 2 -m 10: 20 closed-model clients on one core, ten streams
    // in flight on each of two connections; over h2c and TLS, through both
    // clients, and with a server that takes only 3 streams at once.
    let cases = [
        (false, false, None),
        (true, false, None),
        (false, true, None),
        (false, false, Some(3)),
    ];
    for (tls, h2_crate, max_streams) in cases {
        let case = format!("tls {tls}, h2 crate {h2_crate}, max streams {max_streams:?}");
        let server = H2Server::start(tls, max_streams);
        let plan = plan(server.port, tls, "/delay", requests(10), 20);
        let s = run_with(&plan, h2_crate, 10);
        assert_eq!((s.ok, s.failed), (200, 0), "{case}");
        assert_eq!(s.status_codes(), [(200, 200)], "{case}");
        // Every answer: an empty head and "late".
        assert_eq!(s.bytes_received, 200 * (head_bytes(&[]) + 4), "{case}");
        assert_eq!(server.connections.load(Ordering::SeqCst), 2, "{case}");
        if max_streams.is_none() {
            // Ten streams of 30 ms at once: a client does not wait for the
            // other nine's responses (that would be 300 ms).
            let max = s.latency.histogram().max();
            assert!(max < 250_000, "{case}: {max}");
        }
    }
}

#[test]
fn groups_are_of_the_clients_on_one_core() {
    // 20 clients dealt to two cores: ten on each, one connection each.
    let server = H2Server::start(false, None);
    let opts = RunOptions {
        threads: 2,
        pin: false,
        timeout: Duration::from_secs(10),
        h2_streams: 10,
        ..Default::default()
    };
    let plan = plan(server.port, false, "/delay", requests(5), 20);
    let run = lps_engine::start(&plan, &opts, Default::default()).unwrap();
    let s = common::finish(run).total();
    assert_eq!((s.ok, s.failed), (100, 0));
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn batch_clients_share_their_groups_connection() {
    // Six clients, three to a connection, each sending batches of 4.
    let server = H2Server::start(false, None);
    let mode = Mode::CooldownRequestBatch {
        requests: 8,
        batch: 4,
        cooldown: Duration::from_millis(5),
    };
    let s = run_with(&plan(server.port, false, "/delay", mode, 6), false, 3);
    assert_eq!((s.ok, s.failed), (48, 0));
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn reset_streams_fail_as_resets_and_the_connection_stays() {
    let server = H2Server::start(false, None);
    let plan = plan(server.port, false, "/rst", requests(20), 1);
    let lean = run(&plan, false);
    assert_eq!(lean.errors(ErrorKind::Reset), 20);
    // A reset ends a stream, not the connection.
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    // The h2 crate path counts the same (it opens a connection per error).
    let krate = run(&plan, true);
    assert_eq!(counts(&lean), counts(&krate));
    assert_eq!(krate.errors(ErrorKind::Reset), 20);
}

/// Answers with GOAWAY, the request's stream left unprocessed.
fn go_away(code: u32) -> common::RawAnswer {
    match code {
        0 => |id, _, out| goaway_frame(out, id.saturating_sub(2), 0),
        _ => |id, _, out| goaway_frame(out, id.saturating_sub(2), 2),
    }
}

fn goaway_frame(out: &mut Vec<u8>, last: u32, code: u32) {
    h2_frame(out, 8, 0x7, 0, 0);
    out.extend_from_slice(&last.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
}

#[test]
fn goaway_fails_the_streams_it_did_not_process_and_a_new_connection_follows() {
    // NO_ERROR: the server closed gracefully; any other code: a reset.
    for (code, kind) in [(0, ErrorKind::Closed), (2, ErrorKind::Reset)] {
        let server = RawH2::start(go_away(code));
        let plan = plan(server.port, false, "/", requests(6), 1);
        let lean = run(&plan, false);
        // Left unprocessed, a request goes once more on a fresh connection
        // (RFC 9113 6.8), where this server turns it away again.
        assert_eq!(server.get(|c| &c.connections), 12, "code {code}");
        let krate = run(&plan, true);
        assert_eq!(counts(&lean), counts(&krate), "code {code}");
        assert_eq!(lean.errors(kind), 6, "code {code}");
        assert_eq!(krate.errors(kind), 6, "code {code}");
        // The h2 crate's path does not retry: a connection per request.
        assert_eq!(server.get(|c| &c.connections), 18);
    }
}

/// Answers twenty requests of a connection, the last with a graceful
/// GOAWAY naming it the last processed, and no other: a server recycling
/// its connections, as nginx does after `keepalive_requests`.
fn recycle_after_twenty(id: u32, n: u64, out: &mut Vec<u8>) {
    if n < 20 {
        // ":status: 200" (static index 8), END_STREAM.
        h2_frame(out, 1, 0x1, 0x4 | 0x1, id);
        out.push(0x88);
    }
    if n == 19 {
        goaway_frame(out, id, 0);
    }
}

#[test]
fn requests_a_graceful_goaway_left_unprocessed_go_again_on_a_new_connection() {
    // Ten clients multiplexed on one connection (in flight at the GOAWAY:
    // up to nine streams above the last one processed), and one client alone.
    for (clients, streams, each) in [(10, 10, 10), (1, 1, 40)] {
        let server = RawH2::start(recycle_after_twenty);
        let plan = plan(server.port, false, "/", requests(each), clients);
        let s = run_with(&plan, false, streams);
        let all = u64::from(clients) * each;
        assert_eq!((s.ok, s.failed), (all, 0), "{clients} clients");
        assert_eq!(s.status_codes(), [(200, all)], "{clients} clients");
        assert_eq!(
            server.get(|c| &c.connections),
            all / 20,
            "{clients} clients"
        );
    }
}

/// A response that uses what a client must take in stride: PING, frames of
/// unknown types, PRIORITY, an interim 103 head, a padded HEADERS frame
/// with the priority flag continued in CONTINUATION, padded DATA, trailers.
fn odd_frames(id: u32, _: u64, out: &mut Vec<u8>) {
    h2_frame(out, 8, 0x6, 0, 0);
    out.extend_from_slice(&RAW_PING);
    h2_frame(out, 3, 0xfa, 0, 0);
    out.extend_from_slice(b"???");
    h2_frame(out, 5, 0x2, 0, id);
    out.extend_from_slice(&[0, 0, 0, 0, 7]);
    // 103 Early Hints: ":status: 103" with the name indexed (8), no END_STREAM.
    h2_frame(out, 5, 0x1, 0x4, id);
    out.extend_from_slice(&[0x08, 0x03, b'1', b'0', b'3']);
    // The head: ":status: 201", "x-a: 12345" (a new name), split after 4
    // bytes; 2 bytes of padding and 5 of priority in front.
    let block = [
        0x08, 0x03, b'2', b'0', b'1', 0x00, 0x03, b'x', b'-', b'a', 0x05, b'1', b'2', b'3', b'4',
        b'5',
    ];
    h2_frame(out, 1 + 5 + 4 + 2, 0x1, 0x8 | 0x20, id);
    out.push(2);
    out.extend_from_slice(&[0, 0, 0, 0, 9]);
    out.extend_from_slice(&block[..4]);
    out.extend_from_slice(&[0, 0]);
    // Nothing may come between a HEADERS frame and its CONTINUATION.
    h2_frame(out, block.len() - 4, 0x9, 0x4, id);
    out.extend_from_slice(&block[4..]);
    h2_frame(out, 3, 0xfb, 0, id);
    out.extend_from_slice(b"!!!");
    // 7 body bytes, padded with 3.
    h2_frame(out, 1 + 7 + 3, 0x0, 0x8, id);
    out.push(3);
    out.extend_from_slice(b"body!!!");
    out.extend_from_slice(&[0, 0, 0]);
    // Trailers: "x-t: 1", a new name, never indexed.
    h2_frame(out, 7, 0x1, 0x4 | 0x1, id);
    out.extend_from_slice(&[0x10, 0x03, b'x', b'-', b't', 0x01, b'1']);
}

#[test]
fn padding_continuation_interim_heads_trailers_and_unknown_frames_are_read() {
    let server = RawH2::start(odd_frames);
    let plan = plan(server.port, false, "/", requests(50), 1);
    let lean = run(&plan, false);
    assert_eq!((lean.ok, lean.failed), (50, 0), "{:?}", lean.status_codes());
    assert_eq!(lean.status_codes(), [(201, 50)]);
    // The final head and the body; not the interim head, nor the trailers.
    assert_eq!(lean.bytes_received, 50 * (head_bytes(&[("x-a", 5)]) + 7));
    // Every PING was answered, on the one connection (the last ack may
    // reach the server after the run ends).
    let give_up = std::time::Instant::now() + common::LIMIT;
    while server.get(|c| &c.ping_acks) < 50 && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.get(|c| &c.ping_acks), 50);
    assert_eq!(server.get(|c| &c.connections), 1);
    // The h2 crate reads the same.
    let krate = run(&plan, true);
    assert_eq!(counts(&lean), counts(&krate));
}
