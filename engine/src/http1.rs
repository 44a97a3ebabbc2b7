//! The HTTP/1.1 keep-alive fast path.
//!
//! Request bytes are built once per iteration ([`build_request`]) and written
//! as they are; response heads are parsed in place ([`head`]) in a buffer
//! that lives as long as the connection, and bodies are skipped without copying:
//! on plain TCP the kernel drops body bytes that are not yet read
//! ([`Discard`]). Nothing here allocates per request.

use std::io;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::head::{LastHead, MAX_HEAD};
use crate::stats::ErrorKind;

/// A connection's first read buffer: room for the head of nearly any
/// response, and little memory when there are 10,000 connections.
const FIRST_BUF: usize = 1024;
/// The buffer of a connection whose responses do not fit the first one:
/// responses up to this size are read in one call. Bodies larger than that
/// are dropped in the kernel ([`Discard`]) and need no buffer; streams that
/// read them (TLS) read this much at a time. Heads larger than it grow the
/// buffer further.
const READ_BUF: usize = 8 * 1024;

/// The request an HTTP/1.1 iteration sends, serialised once.
pub fn build_request(
    method: &str,
    authority: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    let pairs = headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    build_request_into(&mut out, method, authority, path_and_query, pairs, body);
    out
}

/// [`build_request`] appending to `out`, for requests built per send.
pub fn build_request_into<'a>(
    out: &mut Vec<u8>,
    method: &str,
    authority: &str,
    path_and_query: &str,
    headers: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    body: &[u8],
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| headers.clone().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers.clone() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let needs_length = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if needs_length && !has("content-length") && !has("transfer-encoding") {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// The most body bytes a capture keeps; the rest is read and dropped.
pub const MAX_KEPT: usize = 16 * 1024 * 1024;

/// A response kept for a capture: its head as received and its body
/// (de-chunked). Reused from one capture to the next.
#[derive(Debug, Default)]
pub struct Kept {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
}

impl Kept {
    fn clear(&mut self) {
        self.head.clear();
        self.body.clear();
    }

    /// Keeps an HTTP/2 response's head, written as HTTP/1.1's.
    pub fn keep_h2_head<T>(&mut self, res: &http::Response<T>) {
        self.clear();
        let status = res.status();
        let reason = status.canonical_reason().unwrap_or("");
        self.head
            .extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", status.as_u16()).as_bytes());
        for (name, value) in res.headers() {
            self.head.extend_from_slice(name.as_str().as_bytes());
            self.head.extend_from_slice(b": ");
            self.head.extend_from_slice(value.as_bytes());
            self.head.extend_from_slice(b"\r\n");
        }
        self.head.extend_from_slice(b"\r\n");
    }

    /// Adds body bytes, up to [`MAX_KEPT`] in all.
    pub fn keep_body(&mut self, data: &[u8]) {
        let room = MAX_KEPT.saturating_sub(self.body.len()).min(data.len());
        self.body.extend_from_slice(&data[..room]);
    }

    /// The status, reason phrase and headers of the kept head.
    pub fn parts(&self) -> (u16, String, Vec<(String, String)>) {
        let mut headers = [httparse::EMPTY_HEADER; crate::head::MAX_HEADERS];
        let mut res = httparse::Response::new(&mut headers);
        if res.parse(&self.head).is_err() {
            return (0, String::new(), Vec::new());
        }
        let all = res
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        (
            res.code.unwrap_or(0),
            res.reason.unwrap_or("").to_owned(),
            all,
        )
    }
}

/// What one exchange produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Bytes read for this response, head and body.
    pub received: u64,
    /// The connection cannot be reused (`Connection: close`, HTTP/1.0 or a
    /// body delimited by close).
    pub close: bool,
    /// When its first byte was read, if the response needed more reads
    /// after that one; `None` when the read that brought its first byte
    /// also completed it (then the caller's end instant is that moment).
    pub first_byte: Option<Instant>,
}

/// A failed exchange: its kind and the bytes that moved before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub received: u64,
}

/// A stream that can drop incoming bytes without handing them to user space.
///
/// A load generator reads response bodies only to count and skip them. On a
/// TCP socket `recv(MSG_TRUNC)` does that in the kernel: no copy, and one
/// syscall for all that has arrived instead of one per buffer. Streams that
/// must see the bytes (TLS decrypts them) keep the default and are read.
pub trait Discard {
    /// Drops up to `max` bytes; `Ready(Ok(0))` at end of stream. `None` when
    /// the stream cannot, and the caller reads instead. `ends` says that
    /// `max` bytes end the response, so that nothing more is due before the
    /// next request.
    fn poll_discard(
        &mut self,
        _cx: &mut Context<'_>,
        _max: usize,
        _ends: bool,
    ) -> Option<Poll<io::Result<usize>>> {
        None
    }
}

/// `MSG_TRUNC` discards on TCP only on Linux (tcp(7)); elsewhere TCP is read.
#[cfg(not(target_os = "linux"))]
impl Discard for TcpStream {}

#[cfg(target_os = "linux")]
impl Discard for TcpStream {
    fn poll_discard(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
        ends: bool,
    ) -> Option<Poll<io::Result<usize>>> {
        use std::os::fd::AsRawFd;
        let fd = self.as_raw_fd();
        Some(loop {
            match self.poll_read_ready(cx) {
                Poll::Pending => break Poll::Pending,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            let mut dropped = 0;
            let out = self.try_io(Interest::READABLE, || {
                // SAFETY: with MSG_TRUNC, TCP writes nothing to the buffer
                // (tcp(7)), so none is passed; `fd` is this open socket.
                let n = unsafe {
                    libc::recv(
                        fd,
                        std::ptr::null_mut(),
                        max,
                        libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                dropped = n as usize;
                if dropped > 0 && (dropped < max || ends) {
                    // The socket is drained (a short drop), or holds nothing
                    // the exchange waits for (the response is whole): report
                    // WouldBlock so tokio clears its readiness, as its own
                    // reads do on a short read, instead of the next read
                    // finding out with EAGAIN. Bytes that arrive later raise
                    // readiness anew, and tokio keeps a seen end of stream.
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(dropped)
            });
            match out {
                Ok(n) => break Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && dropped > 0 => {
                    break Poll::Ready(Ok(dropped));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                // A kernel that refuses the call dropped nothing: read instead.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EFAULT | libc::EINVAL | libc::EOPNOTSUPP)
                    ) =>
                {
                    return None;
                }
                Err(e) => break Poll::Ready(Err(e)),
            }
        })
    }
}

/// In-memory streams (tests, benches) read what they skip.
impl Discard for tokio::io::DuplexStream {}

/// One keep-alive connection with its read buffer.
pub struct Connection<S> {
    stream: S,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    last_head: LastHead,
    /// Where the response in progress is in its first byte's timing.
    first: FirstByte,
}

/// The time to first byte, read from the clock only when it is needed: a
/// response that arrives whole in one read (most, on keep-alive) costs no
/// clock read here, its end instant being the instant of its first byte.
#[derive(Debug, Clone, Copy)]
enum FirstByte {
    /// No byte of the response read yet.
    Awaited,
    /// Bytes were read and the clock not yet: read it before waiting again.
    Arrived,
    /// The clock read before the first wait after the first byte: the
    /// first byte's instant, up to the CPU time in between (no wait).
    At(Instant),
}

impl FirstByte {
    /// Called before each read: the first one after bytes arrived reads the clock.
    #[inline]
    fn before_read(&mut self) {
        if let FirstByte::Arrived = self {
            *self = FirstByte::At(Instant::now());
        }
    }

    /// Called after a read of `n > 0` bytes.
    #[inline]
    fn after_read(&mut self) {
        if let FirstByte::Awaited = self {
            *self = FirstByte::Arrived;
        }
    }

    /// The instant to report in [`Response::first_byte`].
    fn instant(self) -> Option<Instant> {
        match self {
            FirstByte::At(at) => Some(at),
            FirstByte::Awaited | FirstByte::Arrived => None,
        }
    }
}

/// How the body of a response is delimited.
enum Body {
    Length(u64),
    Chunked,
    UntilClose,
}

impl<S: AsyncRead + AsyncWrite + Discard + Unpin> Connection<S> {
    pub fn new(stream: S) -> Connection<S> {
        Connection {
            stream,
            buf: vec![0; FIRST_BUF],
            start: 0,
            end: 0,
            last_head: LastHead::default(),
            first: FirstByte::Awaited,
        }
    }

    /// Sends `request` and reads the whole response. `head` is true for HEAD
    /// requests, whose responses carry no body whatever their headers say.
    pub async fn exchange(&mut self, request: &[u8], head: bool) -> Result<Response, Failure> {
        self.exchange_keeping(request, head, None).await
    }

    /// [`Connection::exchange`] that also keeps the response's head and
    /// body in `kept` when given (a capture), the body up to [`MAX_KEPT`].
    pub async fn exchange_keeping(
        &mut self,
        request: &[u8],
        head: bool,
        mut kept: Option<&mut Kept>,
    ) -> Result<Response, Failure> {
        let mut received = 0u64;
        let fail = |kind, received| Failure { kind, received };
        self.first = FirstByte::Awaited;
        if let Err(e) = self.stream.write_all(request).await {
            return Err(fail(ErrorKind::from_io(&e), 0));
        }
        loop {
            let (status, head_len, body, close) = match self.parse_head(head) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => {
                    match self.fill().await {
                        Ok(0) => return Err(fail(ErrorKind::Closed, received)),
                        Ok(n) => received += n as u64,
                        Err(e) => return Err(fail(ErrorKind::from_io(&e), received)),
                    }
                    continue;
                }
                Err(kind) => return Err(fail(kind, received)),
            };
            if let Some(k) = kept.as_deref_mut() {
                k.clear();
                k.head
                    .extend_from_slice(&self.buf[self.start..self.start + head_len]);
            }
            self.start += head_len;
            // Interim 1xx responses (100 Continue, 103 Early Hints) precede the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            if let Some(k) = kept.as_deref_mut() {
                let read = match body {
                    Body::Length(n) => self.keep_exact(n, &mut k.body).await,
                    Body::Chunked => self.keep_chunked(&mut k.body).await,
                    Body::UntilClose => self.keep_to_close(&mut k.body).await,
                };
                return match read {
                    Ok(n) => Ok(Response {
                        status,
                        received: received + n,
                        close: close || matches!(body, Body::UntilClose),
                        first_byte: self.first.instant(),
                    }),
                    Err((kind, n)) => Err(fail(kind, received + n)),
                };
            }
            if let Body::Length(n) = body {
                // A response that would have fitted a larger buffer: make the
                // next one on this connection a single read.
                let total = (head_len as u64).saturating_add(n);
                if total > self.buf.len() as u64 && total <= READ_BUF as u64 {
                    self.grow_to(READ_BUF);
                }
            }
            let skipped = match body {
                Body::Length(n) => self.skip_exact(n, true).await,
                Body::Chunked => self.skip_chunked().await,
                Body::UntilClose => self.skip_to_close().await,
            };
            return match skipped {
                Ok(n) => Ok(Response {
                    status,
                    received: received + n,
                    close: close || matches!(body, Body::UntilClose),
                    first_byte: self.first.instant(),
                }),
                Err((kind, n)) => Err(fail(kind, received + n)),
            };
        }
    }

    /// Parses the response head in the buffer, if it is complete.
    fn parse_head(&mut self, head: bool) -> Result<Option<(u16, usize, Body, bool)>, ErrorKind> {
        let Some(parsed) = self.last_head.parse(&self.buf[self.start..self.end])? else {
            return Ok(None);
        };
        let (status, framing) = (parsed.status, parsed.framing);
        if framing.bad_length {
            return Err(ErrorKind::Protocol);
        }
        let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
        let body = if no_body {
            Body::Length(0)
        } else if framing.chunked {
            Body::Chunked
        } else if let Some(n) = framing.length {
            Body::Length(n)
        } else {
            Body::UntilClose
        };
        Ok(Some((status, parsed.len, body, framing.close)))
    }

    /// Enlarges the buffer to `len` bytes, keeping what it holds.
    fn grow_to(&mut self, len: usize) {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
    }

    /// Reads more bytes into the buffer, compacting or growing it first.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let len = (self.buf.len() * 2).min(MAX_HEAD + READ_BUF);
                self.buf.resize(len, 0);
            }
        }
        self.first.before_read();
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n > 0 {
            self.first.after_read();
        }
        self.end += n;
        Ok(n)
    }

    /// Skips `n` body bytes; returns the bytes read from the socket for them.
    /// `ends`: they end the response.
    async fn skip_exact(&mut self, mut n: u64, ends: bool) -> Result<u64, (ErrorKind, u64)> {
        let mut read = 0u64;
        loop {
            let have = (self.end - self.start) as u64;
            if have >= n {
                self.start += n as usize;
                return Ok(read);
            }
            n -= have;
            self.start = self.end;
            let max = usize::try_from(n).unwrap_or(usize::MAX);
            // Dropped bytes never reach the buffer; read ones are counted
            // off `n` on the next turn.
            let (got, dropped) = self.drop_or_read(max, ends).await;
            match got {
                Ok(0) => return Err((ErrorKind::Closed, read)),
                Ok(got) => {
                    read += got as u64;
                    if dropped {
                        n -= got as u64;
                    }
                }
                Err(e) => return Err((ErrorKind::from_io(&e), read)),
            }
        }
    }

    /// Drops up to `max` bytes past the buffer or, when the stream cannot,
    /// reads into it (grown to [`READ_BUF`]); true when they were dropped.
    async fn drop_or_read(&mut self, max: usize, ends: bool) -> (io::Result<usize>, bool) {
        match self.discard(max, ends).await {
            Some(got) => (got, true),
            None => {
                self.grow_to(READ_BUF);
                (self.fill().await, false)
            }
        }
    }

    /// Drops up to `max` bytes past the buffer, when the stream can.
    async fn discard(&mut self, max: usize, ends: bool) -> Option<io::Result<usize>> {
        // Only body bytes are dropped: the head, so the first byte, came before.
        self.first.before_read();
        let stream = &mut self.stream;
        let mut supported = true;
        let out = std::future::poll_fn(|cx| match stream.poll_discard(cx, max, ends) {
            Some(p) => p,
            None => {
                supported = false;
                Poll::Ready(Ok(0))
            }
        })
        .await;
        supported.then_some(out)
    }

    /// Skips a chunked body and its trailers.
    async fn skip_chunked(&mut self) -> Result<u64, (ErrorKind, u64)> {
        let mut read = 0u64;
        loop {
            let size = self.chunk_size(&mut read).await?;
            if size == 0 {
                return self.skip_trailers(read).await;
            }
            // Chunk data and its CRLF; a size line of 16 hex digits parses.
            let chunk = size.checked_add(2).ok_or((ErrorKind::Protocol, read))?;
            read += self
                .skip_exact(chunk, false)
                .await
                .map_err(|(k, n)| (k, read + n))?;
        }
    }

    /// Reads the next chunk's size line; the bytes read for it are added
    /// to `read`.
    async fn chunk_size(&mut self, read: &mut u64) -> Result<u64, (ErrorKind, u64)> {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete((used, size))) => {
                    self.start += used;
                    return Ok(size);
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err((ErrorKind::Protocol, *read)),
            }
            *read += self.fill_or_closed(*read).await?;
        }
    }

    /// Reads until the peer closes the connection.
    async fn skip_to_close(&mut self) -> Result<u64, (ErrorKind, u64)> {
        let mut read = 0u64;
        loop {
            self.start = self.end;
            let (got, _) = self.drop_or_read(usize::MAX, true).await;
            match got {
                Ok(0) => return Ok(read),
                Ok(n) => read += n as u64,
                Err(e) => return Err((ErrorKind::from_io(&e), read)),
            }
        }
    }

    /// Reads `n` body bytes into `out` (up to [`MAX_KEPT`] of them kept);
    /// returns the bytes read from the stream for them.
    async fn keep_exact(&mut self, mut n: u64, out: &mut Vec<u8>) -> Result<u64, (ErrorKind, u64)> {
        let mut read = 0u64;
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n) as usize;
            let room = MAX_KEPT.saturating_sub(out.len()).min(take);
            out.extend_from_slice(&self.buf[self.start..self.start + room]);
            self.start += take;
            n -= take as u64;
            if n == 0 {
                return Ok(read);
            }
            self.grow_to(READ_BUF);
            read += self.fill_or_closed(read).await?;
        }
    }

    /// Reads a chunked body into `out`, its trailers dropped.
    async fn keep_chunked(&mut self, out: &mut Vec<u8>) -> Result<u64, (ErrorKind, u64)> {
        let mut read = 0u64;
        loop {
            let size = self.chunk_size(&mut read).await?;
            if size == 0 {
                return self.skip_trailers(read).await;
            }
            let add =
                |r: Result<u64, (ErrorKind, u64)>, read: u64| r.map_err(|(k, n)| (k, read + n));
            read += add(self.keep_exact(size, out).await, read)?;
            read += add(self.skip_exact(2, false).await, read)?;
        }
    }

    /// Skips the trailers after a last chunk, through the empty line.
    async fn skip_trailers(&mut self, mut read: u64) -> Result<u64, (ErrorKind, u64)> {
        loop {
            let data = &self.buf[self.start..self.end];
            if let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
                self.start += pos + 2;
                if pos == 0 {
                    return Ok(read);
                }
                continue;
            }
            read += self.fill_or_closed(read).await?;
        }
    }

    /// Reads a body delimited by the end of the connection into `out`.
    async fn keep_to_close(&mut self, out: &mut Vec<u8>) -> Result<u64, (ErrorKind, u64)> {
        let mut read = 0u64;
        loop {
            let room = MAX_KEPT
                .saturating_sub(out.len())
                .min(self.end - self.start);
            out.extend_from_slice(&self.buf[self.start..self.start + room]);
            self.start = self.end;
            self.grow_to(READ_BUF);
            match self.fill().await {
                Ok(0) => return Ok(read),
                Ok(n) => read += n as u64,
                Err(e) => return Err((ErrorKind::from_io(&e), read)),
            }
        }
    }

    async fn fill_or_closed(&mut self, read: u64) -> Result<u64, (ErrorKind, u64)> {
        match self.fill().await {
            Ok(0) => Err((ErrorKind::Closed, read)),
            Ok(n) => Ok(n as u64),
            Err(e) => Err((ErrorKind::from_io(&e), read)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Runs one exchange against a scripted peer that answers `reply` in
    /// pieces of `split` bytes, then closes if `close_after`.
    async fn exchange_with(reply: &[u8], split: usize, head: bool) -> Result<Response, Failure> {
        exchange_keeping(reply, split, head, None).await
    }

    /// [`exchange_with`], keeping the response in `kept` when given.
    async fn exchange_keeping(
        reply: &[u8],
        split: usize,
        head: bool,
        kept: Option<&mut Kept>,
    ) -> Result<Response, Failure> {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let reply = reply.to_vec();
        let peer = tokio::spawn(async move {
            let mut req = [0u8; 256];
            let _n = server.read(&mut req).await;
            for piece in reply.chunks(split.max(1)) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
            // Dropping `server` closes the stream, which ends close-delimited bodies.
        });
        let mut conn = Connection::new(client);
        let out = conn
            .exchange_keeping(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", head, kept)
            .await;
        let _ = peer.await;
        out
    }

    #[tokio::test]
    async fn a_kept_response_has_its_head_and_whole_body_however_framed() {
        let replies: [(&[u8], &[u8]); 3] = [
            (b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Id: 7\r\n\r\nhello", b"hello"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nT: x\r\n\r\n",
                b"abcde",
            ),
            (b"HTTP/1.0 200 OK\r\n\r\nuntil close", b"until close"),
        ];
        for split in [1, 4, 1024] {
            for (reply, body) in replies {
                let mut kept = Kept::default();
                let r = exchange_keeping(reply, split, false, Some(&mut kept)).await;
                let r =
                    r.unwrap_or_else(|f| panic!("{f:?} for {:?}", String::from_utf8_lossy(reply)));
                assert_eq!(r.received, reply.len() as u64);
                assert_eq!(kept.body, body, "split {split}");
                let (status, _, headers) = kept.parts();
                assert_eq!(status, r.status);
                if r.status == 201 {
                    assert!(
                        headers.contains(&("X-Id".to_owned(), "7".to_owned())),
                        "{headers:?}"
                    );
                }
            }
        }
    }

    /// The same over a loopback TCP connection, where bodies are dropped in
    /// the kernel ([`Discard`]) instead of read.
    async fn exchange_over_tcp(
        reply: &[u8],
        split: usize,
        head: bool,
    ) -> Result<Response, Failure> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = reply.to_vec();
        let peer = tokio::spawn(async move {
            let (mut server, _) = listener.accept().await.unwrap();
            server.set_nodelay(true).unwrap();
            let mut req = [0u8; 256];
            let _n = server.read(&mut req).await;
            for piece in reply.chunks(split.max(1)) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
                // Let the client run between pieces, so that it meets each
                // piece apart rather than all of them queued.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let mut conn = Connection::new(client);
        let out = conn
            .exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", head)
            .await;
        let _ = peer.await;
        out
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn request_bytes() {
        let req = build_request(
            "POST",
            "127.0.0.1:8080",
            "/echo?x=1",
            &[("X-A".into(), "1".into())],
            b"hi",
        );
        assert_eq!(
            req,
            b"POST /echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi"
        );
        let get = build_request("GET", "h", "/", &[("host".into(), "other".into())], b"");
        assert_eq!(get, b"GET / HTTP/1.1\r\nhost: other\r\n\r\n");
    }

    #[test]
    fn parses_framings_in_pieces() {
        // (reply, HEAD request, expected (status, bytes read, close) or failure)
        type Case = (&'static [u8], bool, Result<(u16, u64, bool), ErrorKind>);
        let cases: &[Case] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, Ok((200, 43, false))),
            (b"HTTP/1.1 503 X\r\ncontent-length: 0\r\nConnection: close\r\n\r\n", false, Ok((503, 56, true))),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n", false, Ok((200, 80, false))),
            (b"HTTP/1.0 200 OK\r\n\r\nuntil close", false, Ok((200, 30, true))),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false, Ok((204, 52, false))),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, Ok((200, 39, false))),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, Err(ErrorKind::Closed)),
            (b"garbage\r\n\r\n", false, Err(ErrorKind::Protocol)),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false, Err(ErrorKind::Protocol)),
            (b"", false, Err(ErrorKind::Closed)),
        ];
        let check = |got: Result<Response, Failure>, want, how: &str, reply: &[u8], split| {
            let got = got
                .map(|r| (r.status, r.received, r.close))
                .map_err(|f| f.kind);
            assert_eq!(
                &got,
                want,
                "{how}reply {:?} split {split}",
                String::from_utf8_lossy(reply)
            );
        };
        for split in [1usize, 3, 1000] {
            for (reply, head, want) in cases {
                let got = rt().block_on(exchange_with(reply, split, *head));
                check(got, want, "", reply, split);
            }
        }
        for (reply, head, want) in cases {
            for split in [3usize, 1000] {
                let got = rt().block_on(exchange_over_tcp(reply, split, *head));
                check(got, want, "over TCP, ", reply, split);
            }
        }
    }

    /// A chunked response carrying `body` in chunks of `chunk` bytes.
    fn chunked_reply(body: &[u8], chunk: usize) -> Vec<u8> {
        let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in body.chunks(chunk) {
            reply.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            reply.extend_from_slice(piece);
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(b"0\r\n\r\n");
        reply
    }

    #[test]
    fn large_bodies_over_tcp_are_counted_to_the_byte() {
        let body = vec![b'x'; 300_000];
        let with_length = [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            &body[..],
        ]
        .concat();
        let chunked = chunked_reply(&body, 70_000);
        let until_close = [b"HTTP/1.0 200 OK\r\n\r\n".as_slice(), &body[..]].concat();
        let cut_short = &with_length[..with_length.len() - 1000];
        // Status, bytes and close; or the failure and the bytes read.
        type Want = Result<(u16, u64, bool), (ErrorKind, u64)>;
        let cases: [(&[u8], Want); 4] = [
            (&with_length, Ok((200, with_length.len() as u64, false))),
            (&chunked, Ok((200, chunked.len() as u64, false))),
            (&until_close, Ok((200, until_close.len() as u64, true))),
            (cut_short, Err((ErrorKind::Closed, cut_short.len() as u64))),
        ];
        for (reply, want) in cases {
            // Pieces smaller than, and larger than, the read buffer.
            for split in [5_000usize, 100_000] {
                let got = rt()
                    .block_on(exchange_over_tcp(reply, split, false))
                    .map(|r| (r.status, r.received, r.close))
                    .map_err(|f| (f.kind, f.received));
                assert_eq!(got, want, "split {split}, reply of {} bytes", reply.len());
            }
        }
    }

    /// Answers each request on one connection with the next body size.
    async fn sized_peer<S: AsyncRead + AsyncWrite + Unpin>(mut server: S, sizes: Vec<usize>) {
        let mut req = [0u8; 256];
        for size in sizes {
            if server.read(&mut req).await.unwrap_or(0) == 0 {
                return;
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            let reply = [head.as_bytes(), &vec![b'x'; size]].concat();
            if server.write_all(&reply).await.is_err() {
                return;
            }
        }
    }

    /// Exchanges on `conn` against [`sized_peer`]: per (body size, buffer
    /// length after it), every byte counted and the buffer at that length.
    async fn check_steps<S: AsyncRead + AsyncWrite + Discard + Unpin>(
        mut conn: Connection<S>,
        steps: &[(usize, usize)],
        label: &str,
    ) {
        for &(size, buf_len) in steps {
            let r = conn
                .exchange(b"GET / HTTP/1.1\r\n\r\n", false)
                .await
                .unwrap();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").len();
            assert_eq!(r.received, (head + size) as u64, "{label}, body {size}");
            assert_eq!(conn.buf.len(), buf_len, "{label}, after a body of {size}");
        }
    }

    #[test]
    fn the_buffer_grows_only_for_responses_it_would_hold() {
        // (body size, buffer length after it) on one keep-alive connection.
        let tcp_steps = [
            (10, FIRST_BUF),
            // Dropped in the kernel: no buffer needed.
            (300_000, FIRST_BUF),
            // Would fit 8 KiB: the next such response is one read.
            (3_000, READ_BUF),
            (10, READ_BUF),
        ];
        // A stream that reads what it skips reads it 8 KiB at a time.
        let duplex_steps = [(10, FIRST_BUF), (300_000, READ_BUF), (10, READ_BUF)];
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let sizes = tcp_steps.iter().map(|s| s.0).collect();
            let peer = tokio::spawn(async move {
                let (server, _) = listener.accept().await.unwrap();
                sized_peer(server, sizes).await;
            });
            let conn = Connection::new(TcpStream::connect(addr).await.unwrap());
            check_steps(conn, &tcp_steps, "TCP").await;
            peer.await.unwrap();

            let (client, server) = tokio::io::duplex(1 << 16);
            let sizes = duplex_steps.iter().map(|s| s.0).collect();
            let peer = tokio::spawn(sized_peer(server, sizes));
            check_steps(Connection::new(client), &duplex_steps, "duplex").await;
            peer.await.unwrap();
        });
    }

    #[test]
    fn chunked_bodies_sent_whole_on_a_kept_alive_connection_complete() {
        // Each response is written at once, chunk headers queued behind the
        // data of the chunk before, and the connection stays open: a drop
        // that forgot those would wait for bytes that never come.
        let reply = chunked_reply(&vec![b'x'; 200_000], 50_000);
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let answer = reply.clone();
            let peer = tokio::spawn(async move {
                let (mut server, _) = listener.accept().await.unwrap();
                let mut req = [0u8; 256];
                while server.read(&mut req).await.unwrap_or(0) > 0 {
                    server.write_all(&answer).await.unwrap();
                }
            });
            let mut conn = Connection::new(TcpStream::connect(addr).await.unwrap());
            for i in 0..3 {
                let r = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    conn.exchange(b"GET / HTTP/1.1\r\n\r\n", false),
                )
                .await
                .unwrap_or_else(|_| panic!("exchange {i} stalled"))
                .unwrap();
                assert_eq!(r.received, reply.len() as u64, "exchange {i}");
            }
            drop(conn);
            peer.await.unwrap();
        });
    }

    #[test]
    fn the_first_byte_is_timed_only_when_the_response_takes_more_reads() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
        let hold = std::time::Duration::from_millis(150);
        rt().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = tokio::spawn(async move {
                let (mut server, _) = listener.accept().await.unwrap();
                server.set_nodelay(true).unwrap();
                let mut req = [0u8; 256];
                // Whole at once, then the head and the body `hold` apart.
                let _n = server.read(&mut req).await;
                server
                    .write_all(&[&head[..], b"body"].concat())
                    .await
                    .unwrap();
                let _n = server.read(&mut req).await;
                server.write_all(head).await.unwrap();
                tokio::time::sleep(hold).await;
                server.write_all(b"body").await.unwrap();
            });
            let mut conn = Connection::new(TcpStream::connect(addr).await.unwrap());
            let request = b"GET / HTTP/1.1\r\n\r\n";
            let whole = conn.exchange(request, false).await.unwrap();
            assert_eq!(
                whole.first_byte, None,
                "one read: its end is the first byte"
            );
            let sent = Instant::now();
            let held = conn.exchange(request, false).await.unwrap();
            let ended = Instant::now();
            assert_eq!(held.received, head.len() as u64 + 4);
            let first = held
                .first_byte
                .expect("the head came a read before the body");
            assert!(
                first >= sent && first + hold <= ended,
                "{:?} {:?}",
                first - sent,
                ended - first
            );
            peer.await.unwrap();
        });
    }

    #[test]
    fn keep_alive_reuses_buffer_for_many_responses() {
        rt().block_on(async {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let peer = tokio::spawn(async move {
                let mut req = [0u8; 64];
                for i in 0..100u32 {
                    let _n = server.read(&mut req).await;
                    let body = "x".repeat(i as usize);
                    let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", i);
                    server.write_all(reply.as_bytes()).await.unwrap();
                }
            });
            let mut conn = Connection::new(client);
            for i in 0..100u32 {
                let r = conn
                    .exchange(b"GET / HTTP/1.1\r\n\r\n", false)
                    .await
                    .unwrap();
                assert_eq!(r.status, 200);
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {i}\r\n\r\n").len() as u64;
                assert_eq!(r.received, head + i as u64);
            }
            peer.await.unwrap();
        });
    }
}
