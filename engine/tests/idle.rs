//! A core's naps (`RunOptions::coalesce`) against real sockets: with many
//! requests in flight, the responses that arrive during a nap are read in
//! one wake-up; the open model's pacing never waits on a nap.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lps_config::Mode;
use lps_engine::{MAX_COALESCE, RunOptions};

mod common;

/// Held by each test: they measure time on a machine of two cores, and one
/// test's threads running beside another's would blur what it measures.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// Request heads (`\r\n\r\n`) in `buf`.
fn heads(buf: &[u8]) -> usize {
    buf.windows(4).filter(|w| w == b"\r\n\r\n").count()
}

/// Reads what `conn` (non-blocking) has into `buf`; false once it closed.
fn read_some(conn: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 1024];
    loop {
        match conn.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Waits until a connection of `conns` is readable (within 1 ms).
fn wait_readable(conns: &[TcpStream]) {
    let mut fds: Vec<libc::pollfd> = (conns.iter())
        .map(|c| libc::pollfd {
            fd: c.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1) };
}

/// Reads every connection, noting when each second request is whole.
fn watch(conns: &mut [TcpStream], bufs: &mut [Vec<u8>], second: &mut [Option<Instant>]) {
    for (i, conn) in conns.iter_mut().enumerate() {
        read_some(conn, &mut bufs[i]);
        if second[i].is_none() && heads(&bufs[i]) >= 2 {
            second[i] = Some(Instant::now());
        }
    }
}

/// `n` connections to `listener`, taken as they come (within `LIMIT`),
/// non-blocking and without Nagle's delay.
fn accept_all(listener: &TcpListener, n: usize) -> Vec<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let give_up = Instant::now() + common::LIMIT;
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nodelay(true).unwrap();
                conn.set_nonblocking(true).unwrap();
                conns.push(conn);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < give_up => {
                std::thread::sleep(Duration::from_micros(50))
            }
            Err(e) => panic!(
                "{} of {n} connections within {:?}: {e}",
                conns.len(),
                common::LIMIT
            ),
        }
    }
    conns
}

/// A server for `clients` connections of two requests each: once every
/// first request is in it waits `first` (a target slow to start), answers
/// them one at a time, `spacing` apart, and records when each second
/// request arrives (the client read its answer and sent the next); then
/// answers the second requests. Returns the arrivals, sorted.
fn spaced_server(
    clients: usize,
    first: Duration,
    spacing: Duration,
) -> (u16, JoinHandle<Vec<Instant>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut conns = accept_all(&listener, clients);
        let mut bufs = vec![Vec::new(); clients];
        let give_up = Instant::now() + common::LIMIT;
        // Every first request in, so that all are in flight at once.
        while bufs.iter().any(|b| heads(b) < 1) && Instant::now() < give_up {
            wait_readable(&conns);
            for (conn, buf) in conns.iter_mut().zip(&mut bufs) {
                read_some(conn, buf);
            }
        }
        std::thread::sleep(first);
        let mut second: Vec<Option<Instant>> = vec![None; clients];
        for i in 0..clients {
            conns[i].write_all(REPLY).unwrap();
            let next = Instant::now() + spacing;
            while Instant::now() < next {
                watch(&mut conns, &mut bufs, &mut second);
            }
        }
        while second.iter().any(Option::is_none) && Instant::now() < give_up {
            watch(&mut conns, &mut bufs, &mut second);
        }
        for conn in &mut conns {
            let _ = conn.write_all(REPLY);
        }
        let mut arrivals: Vec<Instant> = second.into_iter().flatten().collect();
        arrivals.sort();
        arrivals
    });
    (port, server)
}

/// Runs `clients` clients of two requests each on one core with naps of
/// `nap` against [`spaced_server`]; returns the median time between two
/// second requests' arrivals: `spacing` if each answer was read on its
/// own, far less if they were read in bursts.
fn median_gap(clients: u32, nap: Duration, spacing: Duration) -> Duration {
    // The first answer three naps late, as from a target slow to start: the
    // core's first nap finds nothing, and naps must not stop for that.
    let (port, server) = spaced_server(clients as usize, 3 * nap, spacing);
    let mut plan = common::get_plan(port, Mode::Requests { requests: 2 });
    plan.rounds[0].stages[0].clients = clients;
    let opts = RunOptions {
        threads: 1,
        pin: false,
        coalesce: nap,
        ..Default::default()
    };
    let run = lps_engine::start(&plan, &opts, Default::default()).unwrap();
    let agg = common::finish(run);
    let arrivals = server.join().unwrap();
    assert_eq!(
        arrivals.len(),
        clients as usize,
        "every second request came"
    );
    assert_eq!(agg.total().ok, 2 * u64::from(clients));
    let mut gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    gaps[gaps.len() / 2]
}

#[test]
fn responses_that_arrive_during_a_nap_are_answered_in_one_burst() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // 64 in flight, the fewest a core naps with; a response every 200 µs,
    // so a nap of 1 ms gathers about five.
    let spacing = Duration::from_micros(200);
    // This VM now and then takes milliseconds to wake an idle vCPU, and the
    // answers then bunch without naps too: the naps are judged between two
    // runs without them that came back spaced, and otherwise tried again.
    let mut tries = Vec::new();
    for _ in 0..TRIES {
        let before = median_gap(64, Duration::ZERO, spacing);
        let napping = median_gap(64, MAX_COALESCE, spacing);
        let after = median_gap(64, Duration::ZERO, spacing);
        if before > spacing / 2 && after > spacing / 2 {
            assert!(
                napping < spacing / 2,
                "answers {spacing:?} apart came back a median {napping:?} apart with naps, \
                 {before:?} and {after:?} without"
            );
            return;
        }
        tries.push((before, after));
    }
    panic!("answers {spacing:?} apart came back bunched without naps in each try: {tries:?}");
}

/// Tries of [`responses_that_arrive_during_a_nap_are_answered_in_one_burst`],
/// some 50 ms each.
const TRIES: usize = 20;

/// A server that answers each request `delay` after it came.
fn slow_server(delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                let mut answered = 0;
                while let Ok(n @ 1..) = conn.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                    while answered < heads(&buf) {
                        std::thread::sleep(delay);
                        if conn.write_all(REPLY).is_err() {
                            return;
                        }
                        answered += 1;
                    }
                }
            });
        }
    });
    port
}

#[test]
fn the_open_model_sends_on_time_with_many_requests_in_flight_and_long_naps() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // 2,000 requests a second answered after 50 ms: about 100 in flight,
    // enough for naps, and a request due every 500 µs.
    let port = slow_server(Duration::from_millis(50));
    let mut plan = common::get_plan(
        port,
        Mode::Duration {
            duration: Duration::from_millis(1_500),
        },
    );
    plan.rounds[0].stages[0].clients = 200;
    let opts = RunOptions {
        threads: 1,
        pin: false,
        rate: Some(2_000.0),
        coalesce: MAX_COALESCE,
        ..Default::default()
    };
    let run = lps_engine::start(&plan, &opts, Default::default()).unwrap();
    let total = common::finish(run).total();
    assert!(total.ok > 2_000, "{} answered", total.ok);
    let lag = total.send_lag.histogram();
    // A nap before each park would leave the median ~500 µs late.
    assert!(
        lag.value_at_quantile(0.5) < 250,
        "sent a median {} µs late",
        lag.value_at_quantile(0.5)
    );
}
