//! Engine threads keep no copy of the process's other TCP sockets: a socket
//! the process closes during a run is closed at once, as a node closing a
//! gRPC stream or a dashboard connection expects, not when the run ends.

#![cfg(target_os = "linux")]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use lps_config::Mode;
use lps_engine::RunOptions;

mod common;

#[test]
fn a_socket_closed_during_a_run_closes_at_once() {
    // A socket of the process's own, open before the run starts.
    let side = TcpListener::bind("127.0.0.1:0").unwrap();
    let held = TcpStream::connect(side.local_addr().unwrap()).unwrap();
    let (mut peer, _) = side.accept().unwrap();

    // The target takes the engine's connection and never answers.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    let opts = RunOptions {
        threads: 1,
        pin: false,
        ..Default::default()
    };
    // A minute of load: the run lasts until stopped.
    let minute = Mode::Duration {
        duration: Duration::from_secs(60),
    };
    let stop = lps_engine::CancellationToken::new();
    let run = lps_engine::start(&common::get_plan(port, minute), &opts, stop.clone()).unwrap();
    // The engine connects once its thread has its own file table.
    let _engine_conn = common::accept_within(&target, Duration::from_secs(20));

    drop(held);
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let closed = peer.read(&mut buf);

    stop.cancel();
    common::finish(run);
    assert!(
        matches!(closed, Ok(0)),
        "the socket closed during the run still looked open to its peer: {closed:?}"
    );
}
