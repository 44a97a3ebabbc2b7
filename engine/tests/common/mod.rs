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
