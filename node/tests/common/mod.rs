//! Shared helpers for the integration tests: real `lps` processes on loopback.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const LPS: &str = env!("CARGO_BIN_EXE_lps");

/// A built-in target running as its own process; killed on drop.
pub struct Target {
    child: Child,
    pub addr: SocketAddr,
}

impl Target {
    pub fn start(extra: &[&str]) -> Target {
        let mut child = Command::new(LPS)
            .args(["target", "--listen", "127.0.0.1:0", "--threads", "1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lps target");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut line = String::new();
        BufReader::new(stderr)
            .read_line(&mut line)
            .expect("read target banner");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| c == '/' || c.is_whitespace()).next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in target banner {line:?}"));
        Target { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// GET `path` with a fresh connection; returns the body.
    pub fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(self.addr).expect("connect to target");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read response");
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }

    /// Freezes the target for `ms` milliseconds, `after` from now.
    pub fn pause_after(&self, after: Duration, ms: u64) -> std::thread::JoinHandle<()> {
        let addr = self.addr;
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let mut s = TcpStream::connect(addr).expect("connect to target");
            write!(
                s,
                "GET /pause/{ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut sink = String::new();
            let _ = s.read_to_string(&mut sink);
        })
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/stats")).expect("/stats is JSON")
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `lps ARGS` to completion (bounded by `limit`).
pub fn lps(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(LPS)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lps");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait lps").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "lps {args:?} did not finish within {limit:?}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs lps with `--json -` and returns (exit code, report, stderr).
pub fn lps_json(args: &[&str], limit: Duration) -> (i32, serde_json::Value, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--json", "-", "--quiet"]);
    let out = lps(&all, limit);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not a JSON report ({e}); stderr: {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// A loopback port that nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// A loopback peer that reads the first bytes of each connection and then
/// does `answer` with it (write, reset, close): a server lps must fail against.
pub fn raw_peer(answer: fn(&mut TcpStream)) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            answer(&mut stream);
        }
    });
    addr
}

/// Decodes standard base64 (padding and line breaks ignored).
pub fn base64(s: &str) -> Vec<u8> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut out, mut acc, mut bits) = (Vec::with_capacity(s.len() * 3 / 4), 0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = ALPHA
            .iter()
            .position(|a| *a == c)
            .unwrap_or_else(|| panic!("not a base64 character: {c:?}"));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Every histogram of an HdrHistogram interval log, with its tag.
pub fn histograms(log: &[u8]) -> Vec<(Option<String>, hdrhistogram::Histogram<u64>)> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut deserializer = hdrhistogram::serialization::Deserializer::new();
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(log) {
        if let Ok(LogEntry::Interval(h)) = entry {
            let bytes = base64(h.encoded_histogram());
            let hist = deserializer
                .deserialize(&mut bytes.as_slice())
                .expect("a V2 histogram");
            out.push((h.tag().map(|t| t.as_str().to_string()), hist));
        }
    }
    out
}

/// The `total` histogram of an HdrHistogram interval log.
pub fn total_histogram(log: &[u8]) -> hdrhistogram::Histogram<u64> {
    histograms(log)
        .into_iter()
        .find(|(tag, _)| tag.as_deref() == Some("total"))
        .map(|(_, h)| h)
        .unwrap_or_else(|| panic!("no total histogram in {}", String::from_utf8_lossy(log)))
}
