//! What the engine's integration tests share: a plan, and waits bounded in time.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lps_config::{HttpRequest, HttpVersion, Iteration, Mode, Plan, Round, Scheme, Target};
use lps_engine::{Aggregate, Run};

/// The longest any wait in these tests may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// One client sending `GET /` to 127.0.0.1:`port` in `mode`.
pub fn get_plan(port: u16, mode: Mode) -> Plan {
    Plan {
        name: "test".into(),
        rounds: vec![Round {
            run_in_parallel: true,
            iterations: vec![Iteration {
                name: "i".into(),
                mode,
                maximize_throughput: false,
                startup_delay: Duration::ZERO,
                request: HttpRequest {
                    method: "GET".into(),
                    target: Target {
                        scheme: Scheme::Http,
                        host: "127.0.0.1".into(),
                        port,
                        path_and_query: "/".into(),
                    },
                    headers: vec![],
                    body: vec![],
                    version: HttpVersion::Http11,
                    retry: None,
                    client_identity: None,
                },
                script: None,
                failure_rules: Vec::new(),
                termination_rules: Vec::new(),
            }],
            ..Round::single("r", 1, Duration::ZERO)
        }],
        variables: Vec::new(),
    }
}

/// The first connection to `listener`, waited for within `limit`.
pub fn accept_within(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let give_up = Instant::now() + limit;
    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("no connection within {limit:?}: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn
}

/// Every snapshot of `run` (a plan of one iteration) until it ends, merged.
pub fn finish(run: Run) -> Aggregate {
    finish_iterations(run, 1)
}

/// Every snapshot of `run`, a plan of `iterations` iterations, until it
/// ends (each within `LIMIT`), merged; then joins it.
pub fn finish_iterations(run: Run, iterations: usize) -> Aggregate {
    let mut agg = Aggregate::new(iterations);
    while let Ok(snap) = run.snapshots().recv_timeout(LIMIT) {
        agg.add(&snap);
    }
    run.join().unwrap();
    agg
}

/// A keep-alive HTTP/1.1 server that allocates nothing per request: it
/// answers each request head with the same bytes.
pub fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = [0u8; 4096];
                let mut seen = 0usize;
                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
                loop {
                    let n = match stream.read(&mut buf[seen..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    seen += n;
                    // Answer every complete request head in the buffer.
                    let mut start = 0;
                    while let Some(end) = buf[start..seen].windows(4).position(|w| w == b"\r\n\r\n")
                    {
                        if stream.write_all(reply).is_err() {
                            return;
                        }
                        start += end + 4;
                    }
                    buf.copy_within(start..seen, 0);
                    seen -= start;
                }
            });
        }
    });
    port
}

/// When each request arrived at a server on the returned port, and its path.
pub type Arrivals = Arc<Mutex<Vec<(Instant, String)>>>;

/// A keep-alive HTTP/1.1 server that answers every request at once and
/// records when it arrived and its path.
pub fn recording_server() -> (u16, Arrivals) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut len = 0usize;
                let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                loop {
                    let n = match stream.read(&mut buf[len..]) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    len += n;
                    let mut start = 0;
                    while let Some(end) = buf[start..len].windows(4).position(|w| w == b"\r\n\r\n")
                    {
                        let head = String::from_utf8_lossy(&buf[start..start + end]);
                        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                        seen.lock().unwrap().push((Instant::now(), path));
                        if stream.write_all(reply).is_err() {
                            return;
                        }
                        start += end + 4;
                    }
                    buf.copy_within(start..len, 0);
                    len -= start;
                }
            });
        }
    });
    (port, arrivals)
}

/// Writes an HTTP/2 frame header (RFC 9113 4.1).
pub fn h2_frame(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let l = (len as u32).to_be_bytes();
    let s = stream.to_be_bytes();
    out.extend_from_slice(&[l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]);
}

/// What a [`RawH2`] server saw.
#[derive(Default)]
pub struct RawH2Counts {
    pub connections: std::sync::atomic::AtomicU64,
    /// Requests whose END_STREAM came, headers or body.
    pub requests: std::sync::atomic::AtomicU64,
    /// Request body bytes (DATA payloads).
    pub body_bytes: std::sync::atomic::AtomicU64,
    /// PING frames acknowledged by the client, with the payload sent.
    pub ping_acks: std::sync::atomic::AtomicU64,
}

/// Answers a request on stream `id`, the connection's `n`th (from 0), by
/// appending frames to `out`.
pub type RawAnswer = fn(id: u32, n: u64, out: &mut Vec<u8>);

/// An HTTP/2 server (prior knowledge) written frame by frame, so that tests
/// choose every byte of the answers; it allocates nothing per request.
pub struct RawH2 {
    pub port: u16,
    pub counts: Arc<RawH2Counts>,
}

/// The PING payload a [`RawH2`] answer sends; its ACK is counted.
pub const RAW_PING: [u8; 8] = *b"lps-ping";

impl RawH2 {
    /// Serves on a new port: sends empty SETTINGS, acknowledges the
    /// client's, and calls `answer` at the end of each request.
    pub fn start(answer: RawAnswer) -> RawH2 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(RawH2Counts::default());
        let shared = counts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let counts = shared.clone();
                counts
                    .connections
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || raw_h2_connection(stream, answer, &counts));
            }
        });
        RawH2 { port, counts }
    }

    pub fn get(&self, what: fn(&RawH2Counts) -> &std::sync::atomic::AtomicU64) -> u64 {
        what(&self.counts).load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn raw_h2_connection(mut stream: TcpStream, answer: RawAnswer, counts: &RawH2Counts) {
    use std::sync::atomic::Ordering::SeqCst;
    let _ = stream.set_nodelay(true);
    let mut preface = [0u8; 24];
    if stream.read_exact(&mut preface).is_err() {
        return;
    }
    let mut out = Vec::with_capacity(64 * 1024);
    h2_frame(&mut out, 0, 0x4, 0, 0);
    if stream.write_all(&out).is_err() {
        return;
    }
    let mut head = [0u8; 9];
    let mut payload = vec![0u8; 1 << 14];
    let mut n = 0u64;
    loop {
        if stream.read_exact(&mut head).is_err() {
            return;
        }
        let len = (head[0] as usize) << 16 | (head[1] as usize) << 8 | head[2] as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if stream.read_exact(&mut payload[..len]).is_err() {
            return;
        }
        out.clear();
        match kind {
            // SETTINGS, not an ACK: acknowledged.
            0x4 if flags & 1 == 0 => h2_frame(&mut out, 0, 0x4, 1, 0),
            0x6 if flags & 1 != 0 && payload[..8] == RAW_PING => {
                counts.ping_acks.fetch_add(1, SeqCst);
            }
            0x0 => {
                counts.body_bytes.fetch_add(len as u64, SeqCst);
                // The client's window, given back at once.
                if len > 0 {
                    for stream_id in [0, id] {
                        h2_frame(&mut out, 4, 0x8, 0, stream_id);
                        out.extend_from_slice(&(len as u32).to_be_bytes());
                    }
                }
            }
            _ => {}
        }
        let ends_request = matches!(kind, 0x0 | 0x1) && flags & 1 != 0;
        if ends_request {
            counts.requests.fetch_add(1, SeqCst);
            answer(id, n, &mut out);
            n += 1;
        }
        if !out.is_empty() && stream.write_all(&out).is_err() {
            return;
        }
    }
}
