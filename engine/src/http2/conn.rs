//! One HTTP/2 connection and the streams of the lanes sending on it.
//!
//! The connection state sits in an `Rc<RefCell<..>>` shared by its lanes
//! (one core's tasks: no locks). There is no connection task: whichever
//! lane waits for its response reads the socket, parses every frame that
//! arrived and wakes the lanes whose streams ended. The last lane to find
//! the socket empty holds its read waker (the *driver*); a driver whose own
//! stream ends wakes another waiting lane to take over; while a driver
//! waits, other lanes do not read. Lanes woken by one read send their next
//! requests in one write: the first defers its flush until the others have
//! queued theirs. With one stream per connection, the common case, this is
//! the lane reading its own socket as `http1` does, with no wake-up in
//! between.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::frame::{self, Head};
use super::hpack::{Decoder, Value};
use crate::http1::{Failure, Kept, MAX_KEPT, Response};
use crate::stats::ErrorKind;

/// Our initial stream window (SETTINGS_INITIAL_WINDOW_SIZE) and the
/// connection's (raised by a WINDOW_UPDATE on stream 0): hyper's, as the
/// h2 crate's client is set up, so that responses of a few MiB need no
/// window update.
pub const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
pub const CONN_WINDOW: u32 = 5 * 1024 * 1024;
/// The window before any SETTINGS (RFC 9113 6.9.2).
const DEFAULT_WINDOW: i64 = 65_535;
/// Streams the peer takes before its SETTINGS say otherwise (the h2
/// crate's client assumes as many).
const DEFAULT_STREAMS: usize = 100;
/// A connection's first read buffer: a response head and a small body.
const FIRST_BUF: usize = 2048;
/// The buffer once a frame needs more: a whole frame of the largest size.
const BIG_BUF: usize = frame::HEADER_LEN + frame::MAX_FRAME;
/// The most a header block continued over CONTINUATION frames may hold.
const MAX_BLOCK: usize = 1 << 20;
/// Stream ids are 31 bits; a connection that used them all is replaced.
const LAST_ID: u32 = (1 << 31) - 1;

/// A client HTTP/2 connection, cloned by each lane that shares it.
pub struct Conn<S> {
    inner: Rc<RefCell<Inner<S>>>,
}

impl<S> Clone for Conn<S> {
    fn clone(&self) -> Conn<S> {
        Conn {
            inner: self.inner.clone(),
        }
    }
}

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the response's head (interim 1xx heads are skipped).
    Head,
    /// The head came; DATA and trailers until END_STREAM.
    Body,
    /// Ended: `None` answered, or how it failed.
    Done(Option<ErrorKind>),
}

/// When a stream's head arrived: like `http1`'s, the clock is read only
/// once its bytes are processed and the response is not yet whole.
#[derive(Debug, Clone, Copy)]
enum First {
    Awaited,
    Arrived,
    At(Instant),
}

/// One stream slot, reused by one request after another.
struct Slot {
    /// The stream's id; 0 when the slot is free.
    id: u32,
    /// The lane that waits for this stream.
    waker: Option<Waker>,
    /// The lane is woken (its stream ended while another lane read, or it
    /// deferred its flush) and has not run since.
    coming: bool,
    phase: Phase,
    status: u16,
    /// The response's bytes, counted as their HTTP/1.1 equivalent.
    received: u64,
    first: First,
    /// What the peer lets us send on this stream.
    send_window: i64,
    /// The request body waits for window.
    blocked: bool,
    /// The peer's GOAWAY says it never processed this stream: the request
    /// may go again, on another connection (RFC 9113 6.8).
    unprocessed: bool,
    /// DATA received and not yet given back by WINDOW_UPDATE.
    unacked: u32,
    /// The response is kept (a capture): its head written as HTTP/1.1's,
    /// and its body.
    keep: bool,
    head: Vec<u8>,
    body: Vec<u8>,
}

impl Slot {
    fn free() -> Slot {
        Slot {
            id: 0,
            waker: None,
            coming: false,
            phase: Phase::Head,
            status: 0,
            received: 0,
            first: First::Awaited,
            send_window: 0,
            blocked: false,
            unprocessed: false,
            unacked: 0,
            keep: false,
            head: Vec::new(),
            body: Vec::new(),
        }
    }

    fn live(&self) -> bool {
        self.id != 0 && !matches!(self.phase, Phase::Done(_))
    }
}

/// Where a lane's request is: the part of its body sent, and whether its
/// flush was deferred.
#[derive(Default)]
struct Progress {
    off: usize,
    deferred: bool,
}

/// The rest of a DATA frame whose payload is read as it arrives.
#[derive(Default)]
struct DataLeft {
    /// The slot it goes to, if its stream is still ours.
    slot: Option<usize>,
    body: usize,
    pad: usize,
    end_stream: bool,
}

struct Inner<S> {
    io: S,
    /// Unprocessed bytes are `rbuf[rstart..rend]`.
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Bytes the next frame needs from `rstart` to be processed.
    want: usize,
    /// Unwritten bytes are `wbuf[wstart..]`.
    wbuf: Vec<u8>,
    wstart: usize,
    /// Bytes were written and not yet flushed (TLS).
    unflushed: bool,
    hpack: Decoder,
    next_id: u32,
    slots: Vec<Slot>,
    /// Slots holding a stream.
    active: usize,
    /// The peer's SETTINGS: concurrent streams, initial stream window, frame size.
    max_streams: usize,
    peer_window: i64,
    peer_frame: usize,
    /// What the peer lets us send on the connection.
    send_window: i64,
    /// DATA received on the connection and not yet given back.
    unacked: u32,
    /// The stream whose lane holds the socket's wakers (0: none).
    driver: u32,
    /// The stream whose lane is processing frames now: it needs no wake-up.
    polling: u32,
    /// Lanes woken that have not run since: one of them flushes.
    coming: usize,
    /// Lanes waiting for a stream slot.
    waiting: Vec<Waker>,
    /// The peer's first SETTINGS came (it must be its first frame).
    settled: bool,
    /// The peer's GOAWAY: no new stream goes on this connection.
    goaway: bool,
    /// Why the connection is broken, once it is.
    failed: Option<ErrorKind>,
    /// A header block continued in CONTINUATION frames: its stream and the
    /// HEADERS frame's flags, and the block so far.
    continued: Option<(u32, u8)>,
    block: Vec<u8>,
    data: DataLeft,
    /// Some stream's head arrived in the bytes being processed.
    arrived: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Sends the connection preface and our SETTINGS over `io`; the peer's
    /// SETTINGS are read with the first response.
    pub async fn handshake(io: S) -> Result<Conn<S>, ErrorKind> {
        let mut inner = Inner::new(io);
        inner.wbuf.extend_from_slice(frame::PREFACE);
        frame::put_settings(
            &mut inner.wbuf,
            &[
                (frame::SETTINGS_ENABLE_PUSH, 0),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
                (frame::SETTINGS_MAX_HEADER_LIST_SIZE, 16 * 1024),
            ],
        );
        frame::put_window_update(&mut inner.wbuf, 0, CONN_WINDOW - DEFAULT_WINDOW as u32);
        poll_fn(|cx| inner.poll_flush(cx))
            .await
            .map_err(|e| ErrorKind::from_io(&e))?;
        Ok(Conn {
            inner: Rc::new(RefCell::new(inner)),
        })
    }

    /// True while a new stream may go on this connection.
    pub fn usable(&self) -> bool {
        self.inner.borrow().usable()
    }

    /// Sends one request, its header `block` already encoded, and reads
    /// its response; keeps it in `keep` when given. `written` is set to
    /// `sent` once the request is queued on the connection. A failure says
    /// too whether the server's GOAWAY left the request unprocessed (it may
    /// then go again, RFC 9113 6.8).
    pub async fn exchange(
        &self,
        (block, body): (&[u8], &[u8]),
        keep: Option<&mut Kept>,
        written: &Cell<u64>,
        sent: u64,
    ) -> Result<Response, (Failure, bool)> {
        let keeping = keep.is_some();
        let (slot, id) = poll_fn(|cx| {
            self.inner
                .borrow_mut()
                .poll_open(cx, block, body.is_empty(), keeping)
        })
        .await
        .map_err(|kind| (Failure { kind, received: 0 }, false))?;
        written.set(sent);
        let guard = Abandon {
            inner: &self.inner,
            slot,
            id,
        };
        let mut progress = Progress::default();
        poll_fn(|cx| {
            self.inner
                .borrow_mut()
                .poll_stream(cx, slot, body, &mut progress)
        })
        .await;
        std::mem::forget(guard);
        let mut inner = self.inner.borrow_mut();
        let unprocessed = inner.slots[slot].unprocessed;
        inner.finish(slot, keep).map_err(|f| (f, unprocessed))
    }
}

/// Cancels a stream whose lane stopped waiting (a timeout, the end of the
/// run): RST_STREAM, and its slot is freed.
struct Abandon<'a, S> {
    inner: &'a RefCell<Inner<S>>,
    slot: usize,
    id: u32,
}

impl<S> Drop for Abandon<'_, S> {
    fn drop(&mut self) {
        // Borrows end before every await, so none is held while a future drops.
        if let Ok(mut inner) = self.inner.try_borrow_mut()
            && inner.slots[self.slot].id == self.id
        {
            if inner.slots[self.slot].live() {
                frame::put_rst(&mut inner.wbuf, self.id, frame::CANCEL);
            }
            inner.release(self.slot);
        }
    }
}

impl<S> Inner<S> {
    fn new(io: S) -> Inner<S> {
        Inner {
            io,
            rbuf: vec![0; FIRST_BUF],
            rstart: 0,
            rend: 0,
            want: frame::HEADER_LEN,
            wbuf: Vec::with_capacity(256),
            wstart: 0,
            unflushed: false,
            hpack: Decoder::default(),
            next_id: 1,
            slots: Vec::new(),
            active: 0,
            max_streams: DEFAULT_STREAMS,
            peer_window: DEFAULT_WINDOW,
            peer_frame: frame::MAX_FRAME,
            send_window: DEFAULT_WINDOW,
            unacked: 0,
            driver: 0,
            polling: 0,
            coming: 0,
            waiting: Vec::new(),
            settled: false,
            goaway: false,
            failed: None,
            continued: None,
            block: Vec::new(),
            data: DataLeft::default(),
            arrived: false,
        }
    }

    fn usable(&self) -> bool {
        self.failed.is_none() && !self.goaway && self.next_id < LAST_ID
    }

    /// Frees `slot`: a waiting lane may open a stream, and when its lane
    /// held the socket, another waiting lane takes it over.
    fn release(&mut self, slot: usize) {
        self.back(slot);
        let id = std::mem::replace(&mut self.slots[slot].id, 0);
        self.active -= 1;
        if let Some(w) = self.waiting.pop() {
            w.wake();
        }
        if self.driver == id {
            self.hand_over();
        }
    }

    /// Wakes a lane still waiting in place of one that leaves: the driver,
    /// whose waker the socket holds, or a lane that read or could not
    /// flush (see [`Inner::leave`]). The woken lane reads until the socket
    /// is empty, and drives, or hands over in turn.
    fn hand_over(&mut self) {
        self.driver = 0;
        if let Some(w) = self
            .slots
            .iter_mut()
            .filter(|s| s.live())
            .find_map(|s| s.waker.take())
        {
            w.wake();
        }
    }

    /// Ends the stream in `slot` and wakes its lane, unless that lane is
    /// the one processing.
    fn end(&mut self, slot: usize, outcome: Option<ErrorKind>) {
        let s = &mut self.slots[slot];
        s.phase = Phase::Done(outcome);
        if s.id != self.polling {
            if let Some(w) = s.waker.take() {
                w.wake();
            }
            self.expect(slot);
        }
    }

    /// The lane of `slot` is woken: until it runs, writes may wait for it.
    fn expect(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if !s.coming {
            s.coming = true;
            self.coming += 1;
        }
    }

    /// The lane of `slot` runs.
    fn back(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        if s.coming {
            s.coming = false;
            self.coming -= 1;
        }
    }

    /// Keeps the waker of the lane of `slot`, which waits.
    fn park(&mut self, slot: usize, cx: &Context<'_>) {
        let s = &mut self.slots[slot];
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
    }

    /// The connection broke: every stream on it fails with `kind`.
    fn fail(&mut self, kind: ErrorKind) {
        self.failed.get_or_insert(kind);
        for i in 0..self.slots.len() {
            if self.slots[i].live() {
                self.end(i, Some(kind));
            }
        }
        for w in self.waiting.drain(..) {
            w.wake();
        }
    }

    /// The slot of live stream `id`.
    fn find(&self, id: u32) -> Option<usize> {
        self.slots.iter().position(|s| s.id == id && s.live())
    }

    /// Wakes the lanes whose request bodies wait for window.
    fn unblock(&mut self) {
        for s in &mut self.slots {
            if s.blocked {
                s.blocked = false;
                if let Some(w) = s.waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// The answer of the stream in `slot`, which has ended, and frees it.
    fn finish(&mut self, slot: usize, keep: Option<&mut Kept>) -> Result<Response, Failure> {
        let usable = self.usable();
        let s = &mut self.slots[slot];
        let out = match s.phase {
            Phase::Done(None) => {
                if let Some(k) = keep {
                    // Swapped, not copied: both keep their capacity.
                    std::mem::swap(&mut k.head, &mut s.head);
                    std::mem::swap(&mut k.body, &mut s.body);
                }
                Ok(Response {
                    status: s.status,
                    received: s.received,
                    close: !usable,
                    first_byte: match s.first {
                        First::At(at) => Some(at),
                        First::Awaited | First::Arrived => None,
                    },
                })
            }
            Phase::Done(Some(kind)) => Err(Failure {
                kind,
                received: s.received,
            }),
            Phase::Head | Phase::Body => unreachable!("finished streams have ended"),
        };
        self.release(slot);
        out
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    /// Opens a stream for a request once the peer takes one more, and
    /// queues its HEADERS: its slot and id.
    fn poll_open(
        &mut self,
        cx: &mut Context<'_>,
        block: &[u8],
        end_stream: bool,
        keep: bool,
    ) -> Poll<Result<(usize, u32), ErrorKind>> {
        if let Some(kind) = self.failed {
            return Poll::Ready(Err(kind));
        }
        if !self.usable() {
            return Poll::Ready(Err(ErrorKind::Closed));
        }
        // Until the peer's SETTINGS say how many streams it takes, one goes:
        // more could be refused.
        if self.active >= self.max_streams || (!self.settled && self.active > 0) {
            self.waiting.push(cx.waker().clone());
            return Poll::Pending;
        }
        let slot = match self.slots.iter().position(|s| s.id == 0) {
            Some(i) => i,
            None => {
                self.slots.push(Slot::free());
                self.slots.len() - 1
            }
        };
        let id = self.next_id;
        self.next_id += 2;
        self.active += 1;
        let s = &mut self.slots[slot];
        s.id = id;
        s.phase = Phase::Head;
        s.status = 0;
        s.received = 0;
        s.first = First::Awaited;
        s.send_window = self.peer_window;
        s.blocked = false;
        s.unprocessed = false;
        s.unacked = 0;
        s.keep = keep;
        s.head.clear();
        s.body.clear();
        frame::put_headers(&mut self.wbuf, id, block, end_stream, self.peer_frame);
        Poll::Ready(Ok((slot, id)))
    }

    /// Drives the connection until the stream in `slot` ends: sends what
    /// the windows let of `body[p.off..]`, flushes, reads and processes
    /// frames unless another lane drives.
    fn poll_stream(
        &mut self,
        cx: &mut Context<'_>,
        slot: usize,
        body: &[u8],
        p: &mut Progress,
    ) -> Poll<()> {
        self.back(slot);
        if self.defer_flush(slot, p) {
            self.park(slot, cx);
            self.expect(slot);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let id = self.slots[slot].id;
        self.polling = id;
        let mut read = false;
        loop {
            if !self.slots[slot].live() {
                self.leave(cx, read);
                return Poll::Ready(());
            }
            if p.off < body.len() {
                self.send_data(slot, body, &mut p.off);
            }
            if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
                self.fail(ErrorKind::from_io(&e));
                continue;
            }
            if self.driver != 0 && self.driver != id {
                // The driver reads for all, and wakes this lane.
                self.park(slot, cx);
                self.polling = 0;
                return Poll::Pending;
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) => self.fail(ErrorKind::Closed),
                Poll::Ready(Ok(_)) => {
                    read = true;
                    if let Err(kind) = self.process() {
                        self.fail(kind);
                    }
                    self.stamp_arrivals();
                }
                Poll::Ready(Err(e)) => self.fail(ErrorKind::from_io(&e)),
                Poll::Pending => {
                    self.park(slot, cx);
                    self.driver = id;
                    self.polling = 0;
                    return Poll::Pending;
                }
            }
        }
    }

    /// True, once per request, when its HEADERS wait in the buffer while
    /// other lanes are woken: their requests go out in the same write, by
    /// whichever lane flushes after them.
    fn defer_flush(&self, slot: usize, p: &mut Progress) -> bool {
        if p.deferred || self.coming == 0 || self.wstart == self.wbuf.len() {
            return false;
        }
        p.deferred = self.slots[slot].live();
        p.deferred
    }

    /// The lane of `slot`, whose stream ended, leaves: what reading queued
    /// (window updates, acks) goes out unless a lane still coming sends it
    /// with its request, and the reading passes to another lane if this
    /// one read (bytes may be left unread, in the socket or in TLS's
    /// plaintext buffer, which no new bytes will announce) or could not
    /// flush.
    fn leave(&mut self, cx: &mut Context<'_>, read: bool) {
        let mut unflushed = false;
        if self.wstart < self.wbuf.len() && self.failed.is_none() && self.coming == 0 {
            unflushed = self.poll_flush(cx).is_pending();
        }
        self.polling = 0;
        if (read || unflushed) && self.active > 1 {
            self.hand_over();
        }
    }

    /// Queues DATA frames of `body[*off..]` as far as the windows allow.
    fn send_data(&mut self, slot: usize, body: &[u8], off: &mut usize) {
        while *off < body.len() {
            let s = &mut self.slots[slot];
            let window = self.send_window.min(s.send_window).max(0) as usize;
            let n = (body.len() - *off).min(self.peer_frame).min(window);
            if n == 0 {
                s.blocked = true;
                return;
            }
            let end = *off + n == body.len();
            let flags = if end { frame::END_STREAM } else { 0 };
            frame::put_head(&mut self.wbuf, n, frame::DATA, flags, s.id);
            self.wbuf.extend_from_slice(&body[*off..*off + n]);
            s.send_window -= n as i64;
            self.send_window -= n as i64;
            *off += n;
        }
    }

    /// Writes what is queued.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wstart < self.wbuf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wstart..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.wstart += n;
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.wbuf.clear();
        self.wstart = 0;
        if self.unflushed {
            std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Reads more bytes, making room for the frame in progress first.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        if self.want > self.rbuf.len() {
            self.rbuf.resize(self.want.max(BIG_BUF), 0);
        }
        if self.rbuf.len() - self.rstart < self.want || self.rend == self.rbuf.len() {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rend == self.rbuf.len() {
            // Not reached (a full buffer holds a whole frame, processed
            // before reading more); a read into no room would look like EOF.
            self.rbuf.resize(self.rbuf.len() * 2, 0);
        }
        let mut buf = ReadBuf::new(&mut self.rbuf[self.rend..]);
        std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.rend += n;
        Poll::Ready(Ok(n))
    }

    /// Reads the clock for the heads that arrived in the bytes processed,
    /// when their responses are not yet whole.
    fn stamp_arrivals(&mut self) {
        if !self.arrived {
            return;
        }
        self.arrived = false;
        let now = Instant::now();
        for s in &mut self.slots {
            if s.live() && matches!(s.first, First::Arrived) {
                s.first = First::At(now);
            }
        }
    }
}

impl<S> Inner<S> {
    /// Processes every frame in the buffer; a DATA frame's payload as far
    /// as it arrived. An error is a connection error.
    fn process(&mut self) -> Result<(), ErrorKind> {
        loop {
            if self.data.body + self.data.pad > 0 {
                self.take_data();
                if self.data.body + self.data.pad > 0 {
                    return Ok(());
                }
                if let (true, Some(slot)) = (self.data.end_stream, self.data.slot) {
                    self.end(slot, None);
                }
            }
            let avail = self.rend - self.rstart;
            if avail < frame::HEADER_LEN {
                self.want = frame::HEADER_LEN;
                return Ok(());
            }
            let head = Head::parse(&self.rbuf[self.rstart..]);
            if head.len > frame::MAX_FRAME
                || (!self.settled && head.kind != frame::SETTINGS)
                || (self.continued.is_some() && head.kind != frame::CONTINUATION)
            {
                return Err(ErrorKind::Protocol);
            }
            if head.kind == frame::DATA {
                let padded = usize::from(head.flags & frame::PADDED != 0);
                if avail < frame::HEADER_LEN + padded {
                    self.want = frame::HEADER_LEN + padded;
                    return Ok(());
                }
                let pad = match padded {
                    1 => self.rbuf[self.rstart + frame::HEADER_LEN] as usize,
                    _ => 0,
                };
                self.rstart += frame::HEADER_LEN + padded;
                self.data_frame(head, padded + pad)?;
                continue;
            }
            let whole = frame::HEADER_LEN + head.len;
            if avail < whole {
                self.want = whole;
                return Ok(());
            }
            let start = self.rstart + frame::HEADER_LEN;
            self.rstart += whole;
            self.frame(head, start)?;
        }
    }

    /// Counts the DATA payload that arrived, keeping it for a capture.
    fn take_data(&mut self) {
        let avail = self.rend - self.rstart;
        let n = avail.min(self.data.body);
        if let Some(slot) = self.data.slot {
            let s = &mut self.slots[slot];
            s.received += n as u64;
            if s.keep {
                let room = MAX_KEPT.saturating_sub(s.body.len()).min(n);
                s.body
                    .extend_from_slice(&self.rbuf[self.rstart..self.rstart + room]);
            }
        }
        self.rstart += n;
        self.data.body -= n;
        let pad = (avail - n).min(self.data.pad);
        self.rstart += pad;
        self.data.pad -= pad;
    }

    /// A DATA frame's header (its pad length read): flow control, and its
    /// payload read as it comes. `extra` is the padding and its length byte.
    fn data_frame(&mut self, head: Head, extra: usize) -> Result<(), ErrorKind> {
        if head.stream == 0 || extra > head.len {
            return Err(ErrorKind::Protocol);
        }
        // The whole payload counts against the windows, padding included.
        let len = head.len as u32;
        self.unacked += len;
        if self.unacked >= CONN_WINDOW / 2 {
            frame::put_window_update(&mut self.wbuf, 0, self.unacked);
            self.unacked = 0;
        }
        let end_stream = head.flags & frame::END_STREAM != 0;
        let mut slot = self.find(head.stream);
        if let Some(i) = slot {
            let s = &mut self.slots[i];
            if s.phase == Phase::Head {
                // DATA before the response's head.
                self.end(i, Some(ErrorKind::Protocol));
                slot = None;
            } else {
                s.unacked += len;
                if !end_stream && s.unacked >= STREAM_WINDOW / 2 {
                    frame::put_window_update(&mut self.wbuf, s.id, s.unacked);
                    s.unacked = 0;
                }
            }
        }
        if head.len > self.rbuf.len() {
            // A large body: read it a whole frame at a time.
            self.want = BIG_BUF;
        }
        let pad = extra.saturating_sub(1).min(head.len);
        self.data = DataLeft {
            slot,
            body: head.len - extra,
            pad: if extra > 0 { pad } else { 0 },
            end_stream,
        };
        if self.data.body + self.data.pad == 0
            && end_stream
            && let Some(i) = slot
        {
            self.end(i, None);
        }
        Ok(())
    }

    /// Any frame but DATA, its payload at `rbuf[start..start + head.len]`.
    fn frame(&mut self, head: Head, start: usize) -> Result<(), ErrorKind> {
        let payload = start..start + head.len;
        match head.kind {
            frame::HEADERS => self.headers(head, start),
            frame::CONTINUATION => self.continuation(head, start),
            frame::RST_STREAM => {
                if head.len != 4 || head.stream == 0 {
                    return Err(ErrorKind::Protocol);
                }
                if let Some(i) = self.find(head.stream) {
                    self.end(i, Some(ErrorKind::Reset));
                }
                Ok(())
            }
            frame::SETTINGS => self.settings(head, start),
            frame::PING => {
                if head.len != 8 || head.stream != 0 {
                    return Err(ErrorKind::Protocol);
                }
                if head.flags & frame::ACK == 0 {
                    frame::put_head(&mut self.wbuf, 8, frame::PING, frame::ACK, 0);
                    self.wbuf.extend_from_slice(&self.rbuf[payload]);
                }
                Ok(())
            }
            frame::GOAWAY => {
                if head.len < 8 || head.stream != 0 {
                    return Err(ErrorKind::Protocol);
                }
                let last = frame::u31(&self.rbuf[start..]);
                let code = frame::u31(&self.rbuf[start + 4..]);
                self.go_away(last, code);
                Ok(())
            }
            frame::WINDOW_UPDATE => self.window_update(head, start),
            // Push was refused in our SETTINGS.
            frame::PUSH_PROMISE => Err(ErrorKind::Protocol),
            // PRIORITY, and frame types we do not know, are ignored (RFC 9113 4.1).
            _ => Ok(()),
        }
    }

    /// A CONTINUATION frame: more of the header block in progress, decoded
    /// once its last part came.
    fn continuation(&mut self, head: Head, start: usize) -> Result<(), ErrorKind> {
        let Some((stream, flags)) = self.continued else {
            return Err(ErrorKind::Protocol);
        };
        if stream != head.stream || self.block.len() + head.len > MAX_BLOCK {
            return Err(ErrorKind::Protocol);
        }
        self.block
            .extend_from_slice(&self.rbuf[start..start + head.len]);
        if head.flags & frame::END_HEADERS != 0 {
            self.continued = None;
            let block = std::mem::take(&mut self.block);
            let out = self.head_block(stream, flags, &block);
            self.block = block;
            self.block.clear();
            out?;
        }
        Ok(())
    }

    /// WINDOW_UPDATE: more window to send in, on the connection or a stream.
    fn window_update(&mut self, head: Head, start: usize) -> Result<(), ErrorKind> {
        if head.len != 4 {
            return Err(ErrorKind::Protocol);
        }
        let inc = frame::u31(&self.rbuf[start..]) as i64;
        if head.stream == 0 {
            self.send_window += inc;
            if inc == 0 || self.send_window > frame::MAX_WINDOW {
                return Err(ErrorKind::Protocol);
            }
        } else if let Some(i) = self.find(head.stream) {
            self.slots[i].send_window += inc;
        }
        self.unblock();
        Ok(())
    }

    /// A HEADERS frame: its block decoded now, or once its CONTINUATION
    /// frames have come.
    fn headers(&mut self, head: Head, start: usize) -> Result<(), ErrorKind> {
        let (mut a, mut b) = (start, start + head.len);
        if head.stream == 0 {
            return Err(ErrorKind::Protocol);
        }
        if head.flags & frame::PADDED != 0 {
            let pad = *self.rbuf[a..b].first().ok_or(ErrorKind::Protocol)? as usize;
            a += 1;
            if pad > b - a {
                return Err(ErrorKind::Protocol);
            }
            b -= pad;
        }
        if head.flags & frame::PRIORITY_FLAG != 0 {
            if b - a < 5 {
                return Err(ErrorKind::Protocol);
            }
            a += 5;
        }
        if head.flags & frame::END_HEADERS == 0 {
            self.block.clear();
            self.block.extend_from_slice(&self.rbuf[a..b]);
            self.continued = Some((head.stream, head.flags));
            return Ok(());
        }
        let rbuf = std::mem::take(&mut self.rbuf);
        let out = self.head_block(head.stream, head.flags, &rbuf[a..b]);
        self.rbuf = rbuf;
        out
    }

    /// A whole header block of stream `id`, its HEADERS frame's `flags`:
    /// the response's head, an interim head, or trailers. Every block is
    /// decoded, ours or not, to keep the dynamic table.
    fn head_block(&mut self, id: u32, flags: u8, block: &[u8]) -> Result<(), ErrorKind> {
        let end_stream = flags & frame::END_STREAM != 0;
        let slot = self.find(id);
        let Some(i) = slot.filter(|&i| self.slots[i].phase == Phase::Head) else {
            self.hpack
                .decode(block, false, |_, _| ())
                .map_err(|_| ErrorKind::Protocol)?;
            if let (Some(i), true) = (slot, end_stream) {
                // Trailers end the stream.
                self.end(i, None);
            }
            return Ok(());
        };
        let s = &mut self.slots[i];
        let keep = s.keep;
        let (mut status, mut bytes) = (0u16, 0u64);
        s.head.clear();
        self.hpack
            .decode(block, keep, |name, value| {
                if name == b":status" {
                    status = match value {
                        Value::Bytes(v) => parse_status(v),
                        Value::Len(_) => 0,
                    };
                    if keep {
                        status_line(&mut s.head, status);
                    }
                } else if name.first() != Some(&b':') {
                    bytes += (name.len() + value.len() + 4) as u64;
                    if let (true, Value::Bytes(v)) = (keep, value) {
                        for part in [name, b": ", v, b"\r\n"] {
                            s.head.extend_from_slice(part);
                        }
                    }
                }
            })
            .map_err(|_| ErrorKind::Protocol)?;
        if status == 0 {
            self.end(i, Some(ErrorKind::Protocol));
        } else if (100..200).contains(&status) {
            // An interim response (100 Continue, 103 Early Hints): the
            // final one follows.
            if end_stream {
                self.end(i, Some(ErrorKind::Protocol));
            }
        } else {
            // The head counted as HTTP/1.1's: status line, fields, blank line.
            s.received = 17 + bytes + 2;
            s.status = status;
            if keep {
                s.head.extend_from_slice(b"\r\n");
            }
            s.phase = Phase::Body;
            s.first = First::Arrived;
            self.arrived = true;
            if end_stream {
                self.end(i, None);
            }
        }
        Ok(())
    }

    /// A SETTINGS frame: the peer's limits, acknowledged.
    fn settings(&mut self, head: Head, start: usize) -> Result<(), ErrorKind> {
        if head.stream != 0 {
            return Err(ErrorKind::Protocol);
        }
        if head.flags & frame::ACK != 0 {
            return if head.len == 0 {
                Ok(())
            } else {
                Err(ErrorKind::Protocol)
            };
        }
        if !head.len.is_multiple_of(6) {
            return Err(ErrorKind::Protocol);
        }
        for at in (start..start + head.len).step_by(6) {
            let b = &self.rbuf[at..at + 6];
            let id = u16::from_be_bytes([b[0], b[1]]);
            let value = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
            match id {
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => {
                    self.max_streams = value as usize;
                    for w in self.waiting.drain(..) {
                        w.wake();
                    }
                }
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if value as i64 > frame::MAX_WINDOW {
                        return Err(ErrorKind::Protocol);
                    }
                    let delta = value as i64 - self.peer_window;
                    self.peer_window = value as i64;
                    for s in self.slots.iter_mut().filter(|s| s.id != 0) {
                        s.send_window += delta;
                    }
                    self.unblock();
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(16_384..=16_777_215).contains(&value) {
                        return Err(ErrorKind::Protocol);
                    }
                    self.peer_frame = value as usize;
                }
                // The table size only bounds an encoder that indexes; ours
                // never does. Push and the list size do not concern a client.
                _ => {}
            }
        }
        if !self.settled {
            self.settled = true;
            for w in self.waiting.drain(..) {
                w.wake();
            }
        }
        frame::put_head(&mut self.wbuf, 0, frame::SETTINGS, frame::ACK, 0);
        Ok(())
    }

    /// GOAWAY: no new stream; those above `last` were not processed and
    /// fail, as the h2 crate reports them (a graceful close, or a reset).
    fn go_away(&mut self, last: u32, code: u32) {
        self.goaway = true;
        let kind = if code == frame::NO_ERROR {
            ErrorKind::Closed
        } else {
            ErrorKind::Reset
        };
        for i in 0..self.slots.len() {
            if self.slots[i].live() && self.slots[i].id > last {
                self.slots[i].unprocessed = true;
                self.end(i, Some(kind));
            }
        }
        for w in self.waiting.drain(..) {
            w.wake();
        }
    }
}

/// A `:status` value: three digits, 0 when it is not one.
fn parse_status(v: &[u8]) -> u16 {
    match v {
        [a, b, c] if v.iter().all(u8::is_ascii_digit) => {
            (*a - b'0') as u16 * 100 + (*b - b'0') as u16 * 10 + (*c - b'0') as u16
        }
        _ => 0,
    }
}

/// Writes an HTTP/1.1 status line for a kept head.
fn status_line(out: &mut Vec<u8>, status: u16) {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// A response on `stream`: `:status: 200` and `body` bytes of DATA.
    fn response(out: &mut Vec<u8>, stream: u32, body: usize) {
        let end = if body == 0 { frame::END_STREAM } else { 0 };
        frame::put_head(out, 1, frame::HEADERS, frame::END_HEADERS | end, stream);
        out.push(0x88);
        let mut left = body;
        while left > 0 {
            let n = left.min(frame::MAX_FRAME);
            left -= n;
            let end = if left == 0 { frame::END_STREAM } else { 0 };
            frame::put_head(out, n, frame::DATA, end, stream);
            out.resize(out.len() + n, b'x');
        }
    }

    /// The server's side of the handshake: empty SETTINGS, and the
    /// client's preface read.
    async fn greet(io: &mut DuplexStream) {
        let mut out = Vec::new();
        frame::put_head(&mut out, 0, frame::SETTINGS, 0, 0);
        io.write_all(&out).await.unwrap();
        io.read_exact(&mut [0; 24]).await.unwrap();
    }

    /// Answers each (stream, body length) of `answers`, all in one write.
    async fn answer(io: &mut DuplexStream, answers: impl IntoIterator<Item = (u32, usize)>) {
        let mut out = Vec::new();
        for (stream, body) in answers {
            response(&mut out, stream, body);
        }
        io.write_all(&out).await.unwrap();
    }

    /// Reads what the client sends until it closes the connection.
    async fn until_closed(mut io: DuplexStream) {
        let mut sink = [0; 1024];
        while io.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    }

    /// One GET on `conn` (the server never decodes the header block).
    async fn get<S: AsyncRead + AsyncWrite + Unpin>(
        conn: &Conn<S>,
    ) -> Result<Response, (Failure, bool)> {
        let block: &[u8] = &[0x82];
        conn.exchange((block, &[]), None, &Cell::new(0), 1).await
    }

    /// Waits for three requests, then answers them in one write: the
    /// first's small answer (its lane drives: it read first), then the
    /// second's and the third's, each larger than one read.
    async fn answer_three(mut io: DuplexStream) {
        greet(&mut io).await;
        let ids = requests(&mut io, 3).await;
        answer(&mut io, [(ids[0], 0), (ids[1], 20_000), (ids[2], 20_000)]).await;
        until_closed(io).await;
    }

    /// Reads frames until `n` requests' HEADERS came.
    async fn requests(io: &mut DuplexStream, n: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        while ids.len() < n {
            let mut head = [0; frame::HEADER_LEN];
            io.read_exact(&mut head).await.unwrap();
            let head = Head::parse(&head);
            io.read_exact(&mut vec![0; head.len]).await.unwrap();
            if head.kind == frame::HEADERS {
                ids.push(head.stream);
            }
        }
        ids
    }

    /// Answers `lanes` requests at once, twice; says how many writes the
    /// client made between the first answers and the second requests.
    async fn answer_twice(mut io: DuplexStream, lanes: usize, writes: Rc<Cell<usize>>) -> usize {
        greet(&mut io).await;
        let ids = requests(&mut io, lanes).await;
        let before = writes.get();
        answer(&mut io, ids.into_iter().map(|id| (id, 0))).await;
        let ids = requests(&mut io, lanes).await;
        let between = writes.get() - before;
        answer(&mut io, ids.into_iter().map(|id| (id, 0))).await;
        until_closed(io).await;
        between
    }

    /// Lanes woken by one read send their next requests in one write, as a
    /// connection task would (and h2load does), not a write each.
    #[tokio::test(start_paused = true)]
    async fn lanes_woken_by_one_read_send_their_next_requests_in_one_write() {
        let local = tokio::task::LocalSet::new();
        let (between, answers) = local
            .run_until(async {
                let (client, server) = tokio::io::duplex(1 << 20);
                let counted = crate::testing::Counted::new(client);
                let writes = counted.writes.clone();
                let server = tokio::task::spawn_local(answer_twice(server, 10, writes));
                let conn = Conn::handshake(counted).await.unwrap();
                let lanes: Vec<_> = (0..10)
                    .map(|_| {
                        let conn = conn.clone();
                        tokio::task::spawn_local(async move {
                            let mut ok = 0;
                            for _ in 0..2 {
                                ok += u32::from(get(&conn).await.is_ok_and(|r| r.status == 200));
                            }
                            ok
                        })
                    })
                    .collect();
                // The lanes hold the connection; it closes once they end.
                drop(conn);
                let mut answers = 0;
                for lane in lanes {
                    let lane = tokio::time::timeout(Duration::from_secs(5), lane).await;
                    answers += lane.unwrap().unwrap();
                }
                let between = tokio::time::timeout(Duration::from_secs(5), server).await;
                (between.unwrap().unwrap(), answers)
            })
            .await;
        assert_eq!(answers, 20);
        assert_eq!(between, 1);
    }

    /// A lane whose stream ends in what it read may leave bytes unread
    /// (in the socket, or in TLS's plaintext buffer) that other lanes wait
    /// for; no new bytes will wake them: the lane hands the reading over.
    #[tokio::test(start_paused = true)]
    async fn a_lane_leaving_with_bytes_unread_hands_the_reading_over() {
        let local = tokio::task::LocalSet::new();
        let answers = local
            .run_until(async {
                let (client, server) = tokio::io::duplex(1 << 20);
                tokio::task::spawn_local(answer_three(server));
                let conn = Conn::handshake(client).await.unwrap();
                let lanes: Vec<_> = (0..3)
                    .map(|_| {
                        let conn = conn.clone();
                        tokio::task::spawn_local(async move {
                            let out = get(&conn).await;
                            out.map(|r| (r.status, r.received)).map_err(|(f, _)| f)
                        })
                    })
                    .collect();
                let mut answers = Vec::new();
                for lane in lanes {
                    let answer = tokio::time::timeout(Duration::from_secs(5), lane).await;
                    answers.push(answer.map(|joined| joined.unwrap()));
                }
                answers
            })
            .await;
        let bodies: Vec<_> = answers
            .iter()
            .map(|a| {
                a.as_ref()
                    .ok()
                    .and_then(|r| r.as_ref().ok())
                    .map(|r| r.1 - 19)
            })
            .collect();
        assert_eq!(bodies, [Some(0), Some(20_000), Some(20_000)], "{answers:?}");
    }
}
