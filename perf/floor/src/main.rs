//! `lps-floor`: the least a closed-model HTTP/1.1 load generator can do per
//! request with epoll, as perf/run's reference next to lps and wrk.
//!
//! One thread, one epoll loop (mio), `GET /` on keep-alive connections: per
//! response one read, one httparse parse, two clock reads, one histogram
//! record and one write of the next request. No runtime, no timeouts, no
//! plan, no snapshots, no error recovery: nothing a real tool can do without.
//! What it spends per request bounds what any epoll-based generator spends
//! on this machine, so perf/run prints how far lps and wrk are from it.
//!
//! Usage: `lps-floor HOST:PORT CONNECTIONS SECONDS REPORT.json`. The report
//! has the keys of lps's JSON report that perf/run reads.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Token};

const BUF: usize = 16 * 1024;

struct Conn {
    stream: mio::net::TcpStream,
    buf: Box<[u8; BUF]>,
    filled: usize,
    sent_at: Instant,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, conns, secs, report] = args.as_slice() else {
        eprintln!("usage: lps-floor HOST:PORT CONNECTIONS SECONDS REPORT.json");
        return ExitCode::from(2);
    };
    let parsed = (
        addr.parse::<SocketAddr>(),
        conns.parse::<usize>(),
        secs.parse::<f64>(),
    );
    let (Ok(addr), Ok(conns @ 1..), Ok(secs @ 0.1..=3600.0)) = parsed else {
        eprintln!(
            "lps-floor: bad arguments {args:?} (HOST:PORT, CONNECTIONS >= 1, SECONDS 0.1..3600)"
        );
        return ExitCode::from(2);
    };
    match run(addr, conns, Duration::from_secs_f64(secs)) {
        Ok(result) => match std::fs::write(report, result.json()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lps-floor: cannot write {report}: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("lps-floor: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Outcome {
    latency: Histogram<u64>,
    failed: u64,
    elapsed: Duration,
}

impl Outcome {
    fn json(&self) -> String {
        let h = &self.latency;
        let total = h.len() + self.failed;
        format!(
            "{{\n  \"requests\": {{ \"total\": {total}, \"failed\": {} }},\n  \"throughput_rps\": {:.1},\n  \"latency_us\": {{ \"p50\": {}, \"p99\": {}, \"max\": {} }}\n}}\n",
            self.failed,
            total as f64 / self.elapsed.as_secs_f64(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        )
    }
}

fn run(addr: SocketAddr, n: usize, duration: Duration) -> std::io::Result<Outcome> {
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let std = TcpStream::connect(addr)?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = mio::net::TcpStream::from_std(std);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        conns.push(Conn {
            stream,
            buf: Box::new([0; BUF]),
            filled: 0,
            sent_at: Instant::now(),
        });
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let mut failed = 0u64;
    let start = Instant::now();
    let deadline = start + duration;
    for c in &mut conns {
        c.sent_at = Instant::now();
        c.stream.write_all(&request)?;
    }
    let mut events = Events::with_capacity(1024);
    while Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(50)))?;
        for event in &events {
            let c = &mut conns[event.token().0];
            // Edge-triggered: read until the response is whole or the
            // socket is drained; nothing else arrives before the next send.
            loop {
                let read = match c.stream.read(&mut c.buf[c.filled..]) {
                    Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                    Ok(read) => read,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                };
                c.filled += read;
                let Some((status, len)) = parse(&c.buf[..c.filled])? else {
                    continue;
                };
                if c.filled < len {
                    continue;
                }
                let now = Instant::now();
                if (100..400).contains(&status) {
                    let us = now.saturating_duration_since(c.sent_at).as_micros() as u64;
                    latency.saturating_record(us.max(1));
                } else {
                    failed += 1;
                }
                c.filled = 0;
                c.sent_at = Instant::now();
                c.stream.write_all(&request)?;
                break;
            }
        }
    }
    Ok(Outcome {
        latency,
        failed,
        elapsed: start.elapsed(),
    })
}

/// Status and whole length of a response with a Content-Length body, once
/// its head is complete.
fn parse(buf: &[u8]) -> std::io::Result<Option<(u16, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if buf.len() < BUF => return Ok(None),
        _ => return Err(ErrorKind::InvalidData.into()),
    };
    let body = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        })
        .ok_or(ErrorKind::InvalidData)?;
    match head.checked_add(body) {
        Some(len) if len <= BUF => Ok(Some((response.code.unwrap_or(0), len))),
        _ => Err(ErrorKind::InvalidData.into()),
    }
}
