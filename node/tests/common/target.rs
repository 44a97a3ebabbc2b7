//! What lps is aimed at: the built-in target as its own process, and peers
//! that misbehave on purpose.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::http;
use super::process::LPS;

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
        // The banner is printed once the target listens.
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

    /// The body of `GET path`.
    pub fn get(&self, path: &str) -> String {
        http::get(self.addr, path, &[]).text()
    }

    pub fn stats(&self) -> serde_json::Value {
        http::json(&http::get(self.addr, "/stats", &[]))
    }

    /// Waits (within `limit`) until the target has counted `at_least` requests.
    pub fn wait_for_requests(&self, at_least: u64, limit: Duration) {
        wait_for_requests_at(self.addr, at_least, limit);
    }

    /// Freezes the target for `ms` milliseconds, `after` its first request.
    /// The thread returns the requests the target had counted just before
    /// the freeze and just after it: on one thread (`--threads 1`, as
    /// [`Target::start`] runs it) the target answers in turn, so it answered
    /// every request it counted before the freeze, and held every later one.
    pub fn pause_after(&self, after: Duration, ms: u64) -> std::thread::JoinHandle<(u64, u64)> {
        let addr = self.addr;
        std::thread::spawn(move || {
            wait_for_requests_at(addr, 1, Duration::from_secs(30));
            // When the stall falls in the run is what the test is about.
            std::thread::sleep(after);
            let counted = || super::u(&http::json(&http::get(addr, "/stats", &[]))["requests"]);
            let before = counted();
            http::get(addr, &format!("/pause/{ms}"), &[]);
            (before, counted())
        })
    }
}

fn wait_for_requests_at(addr: SocketAddr, at_least: u64, limit: Duration) {
    super::poll(&format!("{at_least} requests at the target"), limit, || {
        let stats = http::json(&http::get(addr, "/stats", &[]));
        (super::u(&stats["requests"]) >= at_least).then_some(())
    });
}

impl Drop for Target {
    fn drop(&mut self) {
        // It may have exited already: then there is nothing to kill.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
