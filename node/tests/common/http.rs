//! HTTP from the tests: whole responses through `lps_testbed::probe`, and
//! the streams that never end (the dashboard's feed) on a raw socket.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

pub use lps_testbed::probe::{IO_TIMEOUT, Response};

/// `GET path` with `headers` (whole lines) on a fresh connection, read whole.
pub fn get(addr: SocketAddr, path: &str, headers: &[&str]) -> Response {
    lps_testbed::probe::request(addr, "GET", path, headers, b"")
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// `GET path`, which must answer 200 with JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let r = get(addr, path, &[]);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    json(&r)
}

/// A response's body as JSON.
pub fn json(r: &Response) -> serde_json::Value {
    r.json()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// Sends `GET path` and returns the connection, its response unread (for
/// a stream that never ends).
pub fn open(addr: SocketAddr, path: &str, headers: &[&str]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    s.write_all(text.as_bytes()).expect("send the request");
    s
}

/// The status of `GET path`, from the status line alone (the feed never ends).
pub fn status(addr: SocketAddr, path: &str, headers: &[&str]) -> u16 {
    let mut line = String::new();
    BufReader::new(open(addr, path, headers))
        .read_line(&mut line)
        .expect("read the status line");
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {line:?}"))
}
