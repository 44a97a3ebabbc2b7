//! What the engine's integration tests share: a plan, and waits bounded in time.

#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lps_config::{HttpRequest, HttpVersion, Iteration, Mode, Plan, Round, Scheme, Target};
use lps_engine::{Aggregate, Run};

/// The longest any wait in these tests may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// One client sending `GET /` to 127.0.0.1:`port` in `mode`.
pub fn get_plan(port: u16, mode: Mode) -> Plan {
    Plan {
        name: "test".into(),
        clients: 1,
        rampup: Duration::ZERO,
        delay_client_creation: false,
        run_in_parallel: true,
        rounds: vec![Round {
            name: "r".into(),
            iterations: vec![Iteration {
                name: "i".into(),
                mode,
                maximize_throughput: false,
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
                },
            }],
        }],
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

/// Every snapshot of `run` until it ends (each within `LIMIT`), merged; then joins it.
pub fn finish(run: Run) -> Aggregate {
    let mut agg = Aggregate::new(1);
    while let Ok(snap) = run.snapshots().recv_timeout(LIMIT) {
        agg.add(&snap);
    }
    run.join().unwrap();
    agg
}
