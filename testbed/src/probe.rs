//! A minimal blocking HTTP/1.1 client, to ask a target (or a dashboard) a
//! question from a test: one request, one whole response, every read bounded
//! by [`IO_TIMEOUT`] so a stalled server fails a test instead of hanging it.
//!
//! Bodies are framed by `content-length`, by chunked encoding, or by the end
//! of the connection; the `Response` keeps the headers as sent, so tests can
//! check the framing itself.
//!
//! # Example
//! ```no_run
//! let target = lps_testbed::spawn(lps_testbed::TargetOptions {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     threads: 1,
//!     record_arrivals: false,
//! })?;
//! let stats = lps_testbed::probe::get(target.local_addr(), "/stats")?;
//! assert_eq!(stats.status, 200);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Upper bound on any single socket read.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Every header line, name and value trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }
}

/// `GET path` on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<Response> {
    request(addr, "GET", path, &[], b"")
}

/// One request on a fresh connection that the server is asked to close;
/// `headers` are whole lines (`"Authorization: Bearer x"`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> io::Result<Response> {
    let mut conn = Conn::connect(addr)?;
    let mut all = headers.to_vec();
    all.push("Connection: close");
    conn.send(method, path, &all, body)?;
    conn.read_response()
}

/// A keep-alive connection: requests one after the other.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    addr: SocketAddr,
    /// Bytes read past the end of the last response.
    buf: Vec<u8>,
    /// The server closed its side: no more bytes will come.
    eof: bool,
}

impl Conn {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            addr,
            buf: Vec::new(),
            eof: false,
        })
    }

    /// The socket, for a test that writes or reads raw bytes.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// `GET path`, and its response.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, &[], b"")
    }

    /// Sends one request and reads its response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &[u8],
    ) -> io::Result<Response> {
        self.send(method, path, headers, body)?;
        self.read_response()
    }

    /// Sends one request; a body, or a method other than GET and HEAD, gets a
    /// `content-length`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &[u8],
    ) -> io::Result<()> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        if !body.is_empty() || !matches!(method, "GET" | "HEAD") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)
    }

    /// Reads the next whole response.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let mut response = self.read_head()?;
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = match response.header("content-length") {
            Some(v) => Some(v.parse::<usize>().map_err(|_| invalid(v))?),
            None => None,
        };
        response.body = if matches!(response.status, 100..=199 | 204 | 304) {
            Vec::new()
        } else if chunked {
            self.read_chunked()?
        } else if let Some(len) = length {
            self.take(len)?
        } else {
            while self.fill()? > 0 {}
            std::mem::take(&mut self.buf)
        };
        Ok(response)
    }

    /// Reads a response's status line and headers; the body stays unread
    /// (for a stream that never ends, such as server-sent events).
    pub fn read_head(&mut self) -> io::Result<Response> {
        let end = self.find(b"\r\n\r\n")?;
        let head = self.take(end + 4)?;
        let head = String::from_utf8_lossy(&head[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid(status_line))?;
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').ok_or_else(|| invalid(l))?;
                Ok((n.trim().to_owned(), v.trim().to_owned()))
            })
            .collect::<io::Result<_>>()?;
        Ok(Response {
            status,
            headers,
            body: Vec::new(),
        })
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let end = self.find(b"\r\n")?;
            let line = self.take(end + 2)?;
            let size = String::from_utf8_lossy(&line[..end]);
            let size = size.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid(size))?;
            if size == 0 {
                // The trailer section ends at an empty line.
                let end = self.find(b"\r\n")?;
                self.take(end + 2)?;
                return Ok(body);
            }
            body.extend_from_slice(&self.take(size)?);
            self.take(2)?;
        }
    }

    /// Where `pattern` starts in the buffer, reading until it is there.
    fn find(&mut self, pattern: &[u8]) -> io::Result<usize> {
        loop {
            if let Some(at) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                return Ok(at);
            }
            if self.fill()? == 0 {
                return Err(closed());
            }
        }
    }

    /// The next `n` bytes, reading until they are there.
    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(closed());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads what the socket has into the buffer; 0 at the end of the stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let mut chunk = [0u8; 64 << 10];
        let n = self.stream.read(&mut chunk)?;
        self.eof = n == 0;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not HTTP/1.1: {what:?}"),
    )
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection mid-response",
    )
}
