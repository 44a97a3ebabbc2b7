//! A lane: one connection (or one HTTP/2 stream slot) sending requests one
//! after another and recording each into its core's [`Stats`].
//!
//! Both protocol paths end in the same `record` call, so HTTP/1.1, HTTP/2 and
//! TLS requests land in the same histogram with the same error kinds.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use rustls::pki_types::ServerName;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsConnector;

use crate::connect::{self, Stream};
use crate::http1::{self, Failure, Kept};
use crate::http2;
use crate::script::{self, Built, Client, Scripted};
use crate::stats::{ErrorKind, Stats};
use lps_config::{HttpVersion, Mode, Retry};

/// An iteration made ready to send: addresses resolved, request bytes built.
pub(crate) struct Prepared {
    /// Index of the iteration in the plan, across rounds.
    pub index: usize,
    pub mode: Mode,
    pub maximize_throughput: bool,
    /// Addresses of the target host, tried in order on connect.
    pub addrs: Vec<SocketAddr>,
    /// TLS name when the URL is `https://`.
    pub tls_name: Option<ServerName<'static>>,
    /// How a connection is opened and which protocol it speaks.
    pub wire: Wire,
    /// Waited by each client before it runs the iteration.
    pub startup_delay: Duration,
    /// The whole HTTP/1.1 request, written as is on every send.
    pub h1_request: Vec<u8>,
    /// HEAD responses carry no body whatever their headers say.
    pub head: bool,
    /// The parts of the request for the HTTP/2 client.
    pub h2: H2Request,
    /// Retries after each send (LPS's `retry`).
    pub retry: Option<Retry>,
    /// Its own TLS connector when it presents a client certificate (the
    /// ALPN its wire offers); otherwise the shared ones serve.
    pub tls: Option<TlsConnector>,
    /// LPS 3.x variables, captures and expressions; `None` sends the
    /// request above as it is.
    pub script: Option<Box<Scripted>>,
    /// No script and no retry: one send per command, of the bytes above.
    pub plain: bool,
}

pub(crate) struct H2Request {
    pub method: http::Method,
    pub uri: http::Uri,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The above as an HPACK header block, encoded once for the lean
    /// client ([`crate::http2`]).
    pub block: Vec<u8>,
}

impl H2Request {
    /// The request, its header block encoded into `block` (a buffer reused).
    pub fn new(
        method: http::Method,
        uri: http::Uri,
        headers: http::HeaderMap,
        body: Bytes,
        mut block: Vec<u8>,
    ) -> H2Request {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let parts = (
            method.as_str(),
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str()),
            path,
        );
        crate::http2::request_block(&mut block, parts, &headers);
        H2Request {
            method,
            uri,
            headers,
            body,
            block,
        }
    }
}

/// The protocol a request's connections speak, from its version and scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// HTTP/1.1 (TLS offers only `http/1.1`).
    Http1,
    /// TLS offering `h2` then `http/1.1`; the server's pick is spoken.
    Alpn,
    /// HTTP/2 with prior knowledge over plain TCP.
    H2c,
}

impl Wire {
    pub fn of(version: HttpVersion, tls: bool) -> Wire {
        match (version, tls) {
            (HttpVersion::Http11, _) => Wire::Http1,
            (HttpVersion::Http2 | HttpVersion::H2c, true) => Wire::Alpn,
            // LPS's 2.0 over http:// without supportH2C is HTTP/1.1.
            (HttpVersion::Http2, false) => Wire::Http1,
            (HttpVersion::H2c, false) => Wire::H2c,
        }
    }
}

/// A round as the cores run it.
pub(crate) struct RoundRun {
    /// Indices of the round's iterations, in order.
    pub iterations: Vec<usize>,
    /// The round's load: clients, ramp, delays (its iterations left out).
    pub round: lps_config::Round,
}

/// What all cores share, read-only.
pub(crate) struct Shared {
    pub iterations: Vec<Prepared>,
    /// Rounds in order.
    pub rounds: Vec<RoundRun>,
    /// Cores that finished a round, all rounds together: before round `r`
    /// (from 1) a core waits until it is `r * cores_running`, so that a round
    /// starts only once the last client of the one before is done on every core.
    pub rounds_done: std::sync::atomic::AtomicUsize,
    /// Cores whose runtime started (one that could not build it runs nothing).
    pub cores_running: std::sync::atomic::AtomicUsize,
    pub timeout: Duration,
    /// How long requests in flight may finish after a deadline or a stop.
    pub grace: Duration,
    /// Open model: requests per second across all clients.
    pub rate: Option<f64>,
    /// Most HTTP/1.1 lanes a client's batch loop opens
    /// ([`crate::RunOptions::max_connections_per_server`]).
    pub max_lanes: u32,
    /// TLS connectors offering `http/1.1`, and `h2` then `http/1.1`.
    pub tls_h1: TlsConnector,
    pub tls_h2: TlsConnector,
    /// The instant every core starts from.
    pub start: Instant,
    /// The round barrier across nodes, if any ([`crate::RunOptions::rounds`]).
    pub gate: Option<Arc<crate::rounds::RoundGate>>,
    /// Iterations a termination rule ended, if the run judges any.
    pub terminations: Option<Arc<crate::Terminations>>,
    /// The plan's global variables (LPS 3.x), and what clients make global.
    pub globals: lps_scenario::Globals,
    /// Some iteration has a script: clients keep a session.
    pub scripted: bool,
    /// HTTP/2 goes through the `h2` crate ([`crate::RunOptions::h2_crate`]).
    pub h2_crate: bool,
    /// Clients per HTTP/2 connection ([`crate::RunOptions::h2_streams`]).
    pub h2_streams: u32,
    /// A core's nap before it blocks ([`crate::RunOptions::coalesce`]).
    pub coalesce: std::time::Duration,
}

impl Shared {
    /// True once a termination rule ended iteration `index`.
    #[inline]
    pub fn terminated(&self, index: usize) -> bool {
        self.terminations
            .as_ref()
            .is_some_and(|t| t.is_terminated(index))
    }
}

/// One core's state, shared by its tasks through `Rc`: no locks.
pub(crate) struct Core {
    pub shared: Arc<Shared>,
    /// What this core recorded since its last snapshot, per iteration.
    pub stats: RefCell<Vec<Stats>>,
    /// Set when the run is stopped (Ctrl-C, the master): clients start
    /// nothing new, and what is in flight gets the grace to finish.
    pub stopping: Cell<Option<Instant>>,
    /// Engine threads of the run: clients are dealt to them round-robin,
    /// so this core's clients are every `cores`-th.
    pub cores: u32,
    /// Per iteration, the HTTP/2 connections its clients on this core share
    /// ([`Shared::h2_streams`] to one), by group: made when a group's first
    /// client needs it, dropped at the end of the round.
    pub h2_groups: RefCell<Vec<Vec<H2Slot>>>,
}

impl Core {
    /// True once the run is stopped.
    #[inline]
    pub fn stopped(&self) -> bool {
        self.stopping.get().is_some()
    }

    /// True once the run is stopped or iteration `index` terminated: its
    /// clients start nothing new.
    #[inline]
    pub fn ended(&self, index: usize) -> bool {
        self.stopped() || self.shared.terminated(index)
    }

    /// The HTTP/2 connection client `client` shares with the others of its
    /// group for `it`, when clients share connections and `it` may speak
    /// HTTP/2; `None`: the client's lanes open their own.
    pub fn h2_group(&self, it: &Prepared, client: u32) -> Option<H2Slot> {
        let n = self.shared.h2_streams;
        if n <= 1 || it.wire == Wire::Http1 {
            return None;
        }
        // Clients 0..n-1 of this core share the first connection, and so on.
        let group = (client / self.cores.max(1) / n) as usize;
        let mut groups = self.h2_groups.borrow_mut();
        let slots = &mut groups[it.index];
        if slots.len() <= group {
            slots.resize_with(group + 1, || Rc::new(tokio::sync::Mutex::new(None)));
        }
        Some(slots[group].clone())
    }

    /// Microseconds from the run's start to `at`.
    pub fn offset_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.shared.start).as_micros() as u64
    }
}

/// When an open-model request is due: its intended start (its latency runs
/// from there) and the instant lps could send it, the later of that and the
/// previous response on its lane (its send lag runs from there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub intended: Instant,
    pub ready: Instant,
}

/// One connection slot of a client.
pub(crate) struct Lane {
    conn: Conn,
    /// The per-request timeout, re-armed rather than re-created per request.
    timer: Pin<Box<Sleep>>,
    gate: TimerGate,
    /// Lanes of one client's batches multiplex their HTTP/2 streams over
    /// one connection, kept here.
    h2_shared: Option<H2Slot>,
    /// The end of the client's iteration (D, DCB): no retry starts at or
    /// after it.
    deadline: Option<Instant>,
    /// A scripted iteration's request, built per send into buffers kept here.
    built: Option<Box<Built>>,
}

/// A client's HTTP/2 connection, shared by its lanes. The async lock makes
/// the lanes of a first batch wait for one handshake instead of each
/// opening a connection. It holds a [`Conn::H2`] or a [`Conn::Lean`].
pub(crate) type H2Slot = Rc<tokio::sync::Mutex<Option<Conn>>>;

pub(crate) enum Conn {
    None,
    H1(http1::Connection<Stream>),
    /// HTTP/2 through the `h2` crate (the fallback).
    H2(SendRequest<Bytes>),
    /// HTTP/2 through lps's own client.
    Lean(http2::Conn<Stream>),
}

impl Conn {
    /// Another handle on an HTTP/2 connection, for a sibling lane.
    fn share(&self) -> Option<Conn> {
        match self {
            Conn::H2(sender) => Some(Conn::H2(sender.clone())),
            Conn::Lean(c) => Some(Conn::Lean(c.clone())),
            Conn::None | Conn::H1(_) => None,
        }
    }

    /// False once a lean connection takes no new stream (GOAWAY, broken);
    /// the `h2` crate's connections say so when a request is sent.
    fn usable(&self) -> bool {
        match self {
            Conn::Lean(c) => c.usable(),
            Conn::None | Conn::H1(_) | Conn::H2(_) => true,
        }
    }
}

/// Polls a tokio timer only when it may be ready.
///
/// Polling a `Sleep` stores the task's waker in it, and the waker stays there
/// until the timer fires. While one task drives the timer, it needs polling
/// again only once it has fired or been reset, not on every wake-up of the
/// request it guards (two per request); a lane reused by another task
/// (batches) polls it again once for that task. Resets go through
/// [`TimerGate::reset`], since a fired timer that is reset holds no waker.
#[derive(Default)]
pub(crate) struct TimerGate {
    /// The waker the timer holds, when it was polled.
    waker: Option<Waker>,
}

impl TimerGate {
    pub fn poll(&mut self, timer: Pin<&mut Sleep>, cx: &mut Context<'_>) -> Poll<()> {
        let registered = self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if registered && !timer.is_elapsed() {
            return Poll::Pending;
        }
        let ready = timer.poll(cx);
        if !registered {
            self.waker = Some(cx.waker().clone());
        }
        ready
    }

    /// Moves the timer to `at`; the next [`TimerGate::poll`] polls it.
    pub fn reset(&mut self, timer: Pin<&mut Sleep>, at: Instant) {
        timer.reset(at);
        self.waker = None;
    }
}

/// One request from its start to its record: decrements the in-flight gauge
/// however the request ends and, when it is dropped unanswered after its
/// bytes went out (the grace at the end of the run ran out), records it as
/// unfinished, so that what the target received is all in the report.
struct InFlight<'a> {
    core: &'a Core,
    index: usize,
    /// The request's bytes once written to a connection; 0 before, and
    /// again once the request is recorded.
    written: Cell<u64>,
}

impl<'a> InFlight<'a> {
    fn enter(core: &'a Core, index: usize) -> InFlight<'a> {
        crate::idle::sent();
        InFlight {
            core,
            index,
            written: Cell::new(0),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        crate::idle::answered();
        let sent = self.written.get();
        // Stats are borrowed only for a moment by code that never awaits,
        // so the borrow succeeds; were it refused, one count is lost, not the run.
        if sent > 0
            && let Ok(mut stats) = self.core.stats.try_borrow_mut()
        {
            stats[self.index].record_unfinished(sent);
        }
    }
}

/// Result of one exchange: the answer, or failure kind and bytes sent and
/// received.
type Outcome = Result<Answer, (ErrorKind, u64, u64)>;

/// A response to one exchange.
struct Answer {
    status: u16,
    sent: u64,
    received: u64,
    /// When its first byte arrived, if before the exchange ended; `None`
    /// when it arrived in the read that completed the response.
    first_byte: Option<Instant>,
}

impl Lane {
    pub fn new() -> Lane {
        Lane {
            conn: Conn::None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            gate: TimerGate::default(),
            h2_shared: None,
            deadline: None,
            built: None,
        }
    }

    /// The lane starts no retry at or after `deadline`.
    pub fn until(self, deadline: Option<Instant>) -> Lane {
        Lane { deadline, ..self }
    }

    /// True from the lane's deadline on.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// A lane that shares its client's HTTP/2 connection with sibling lanes.
    pub fn sharing(slot: H2Slot) -> Lane {
        Lane {
            h2_shared: Some(slot),
            ..Lane::new()
        }
    }

    /// Runs one request command of `it`: the request, then the retries its
    /// `retry` asks for, each a request of its own, recorded as any (LPS,
    /// spec 2.8). No retry starts after the stop or the lane's deadline. A
    /// scripted iteration builds each request for `client`.
    pub async fn send(
        &mut self,
        core: &Core,
        it: &Prepared,
        schedule: Option<Schedule>,
        client: Option<&Client>,
    ) {
        if let (Some(sc), Some(client)) = (it.script.as_deref(), client) {
            return self.send_scripted(core, it, (sc, client), schedule).await;
        }
        self.send_once(core, it, schedule, Req::of(it)).await;
        if let Some(retry) = &it.retry {
            for n in 1..=retry.max_retries {
                if !self.wait_retry(core, (it.index, retry), n).await {
                    return;
                }
                self.send_once(core, it, None, Req::of(it)).await;
            }
        }
    }

    /// A scripted request command: `before` and `skipIf`, then each send
    /// built from the templates (its response captured when asked), the
    /// retries the script's `if`/`stopIf` allow, then `after`.
    async fn send_scripted(
        &mut self,
        core: &Core,
        it: &Prepared,
        (sc, client): (&Scripted, &Client),
        mut schedule: Option<Schedule>,
    ) {
        if !script::start_request(core, it, sc, client) {
            return;
        }
        let mut built = self.built.take().unwrap_or_default();
        let capture = sc.script.request.capture.is_some();
        let retries = it.retry.map_or(0, |r| r.max_retries);
        for n in 0..=retries {
            if n > 0 {
                let retry = it.retry.as_ref().expect("retries come from a retry");
                if !script::retry_again(core, it, sc, client)
                    || !self.wait_retry(core, (it.index, retry), n).await
                {
                    break;
                }
            }
            let answered = match script::build(core, it, sc, client, &mut built) {
                Ok(()) => {
                    let b = &mut *built;
                    let h2 = b.h2.as_ref().unwrap_or(&it.h2);
                    let keep = capture.then_some(&mut b.kept);
                    let req = Req {
                        h1: &b.h1,
                        h2,
                        head: b.head,
                        keep,
                    };
                    self.send_once(core, it, schedule.take(), req).await
                }
                Err(kind) => {
                    core.stats.borrow_mut()[it.index].record_error(kind, 0, 0);
                    false
                }
            };
            if answered && capture {
                script::capture(core, sc, client, &built.kept);
            }
        }
        self.built = Some(built);
        script::end_request(core, it, sc, client);
    }

    /// Waits before retry `n`; false when no retry may start: the run
    /// stopped or the iteration terminated, or the wait passes the lane's deadline (then the command
    /// lasts to the deadline rather than ending early, when the loop would
    /// start the next one at once). Retries are not paced: in the open
    /// model their latency runs from when they go out.
    async fn wait_retry(&self, core: &Core, (index, retry): (usize, &Retry), n: u32) -> bool {
        if core.ended(index) {
            return false;
        }
        let at = Instant::now() + retry.delay_before(n);
        if let Some(deadline) = self.deadline
            && at >= deadline
        {
            tokio::time::sleep_until(deadline).await;
            return false;
        }
        tokio::time::sleep_until(at).await;
        !core.ended(index)
    }

    /// Sends one request of `it` and records it. Latency and the time to
    /// first byte both run from the intended start of `schedule` (the open
    /// model: what a user due at that instant waits, a late send included)
    /// or, without one, from when the request goes out: now, or once a
    /// connection it needs has opened (its TCP connect and TLS handshake
    /// are recorded apart). The timeout covers both.
    /// True when the request got a response. Loops call it directly for a
    /// plain request (no script, no retry): through [`Lane::send`], its
    /// future would be polled one level deeper on every wake-up (about 90
    /// instructions a request, measured with callgrind).
    pub async fn send_once(
        &mut self,
        core: &Core,
        it: &Prepared,
        schedule: Option<Schedule>,
        req: Req<'_>,
    ) -> bool {
        let in_flight = InFlight::enter(core, it.index);
        let started = Instant::now();
        let intended = schedule.map(|s| {
            let lag = started.saturating_duration_since(s.ready).as_micros() as u64;
            core.stats.borrow_mut()[it.index].record_send_lag(lag);
            s.intended
        });
        let due = started + core.shared.timeout;
        // The timer is not re-armed per request (each reset is a timer-wheel
        // update): one armed for an earlier request fires early at most once
        // per timeout period, and is then moved to this request's deadline.
        let deadline = self.timer.deadline();
        if deadline <= started || deadline > due || self.timer.is_elapsed() {
            self.gate.reset(self.timer.as_mut(), due);
        }
        let mut timed_out = false;
        let mut opened: Option<Instant> = None;
        let outcome = {
            let exchange = exchange(
                &mut self.conn,
                (core, it, req),
                self.h2_shared.as_ref(),
                &mut opened,
                &in_flight.written,
            );
            tokio::pin!(exchange);
            let (timer, gate) = (&mut self.timer, &mut self.gate);
            std::future::poll_fn(|cx| {
                if let Poll::Ready(out) = exchange.as_mut().poll(cx) {
                    return Poll::Ready(out);
                }
                while gate.poll(timer.as_mut(), cx).is_ready() {
                    if Instant::now() >= due {
                        timed_out = true;
                        let sent = in_flight.written.get();
                        return Poll::Ready(Err((ErrorKind::Timeout, sent, 0)));
                    }
                    gate.reset(timer.as_mut(), due);
                }
                Poll::Pending
            })
            .await
        };
        if timed_out {
            // The connection is mid-exchange: it cannot be reused.
            self.conn = Conn::None;
        }
        let end = Instant::now();
        let start = intended.or(opened).unwrap_or(started);
        let since_start = |at: Instant| at.saturating_duration_since(start).as_micros() as u64;
        let latency_us = since_start(end);
        // Recorded below as answered or failed, not as unfinished.
        in_flight.written.set(0);
        let mut stats = core.stats.borrow_mut();
        let stats = &mut stats[it.index];
        match outcome {
            Ok(a) => {
                stats.record_response(a.status, latency_us, a.sent, a.received);
                // A response that came whole in one read had its first byte at its end.
                if let Some(first) = a.first_byte {
                    stats.record_split(latency_us, since_start(first));
                }
                true
            }
            Err((kind, sent, received)) => {
                stats.record_error(kind, sent, received);
                false
            }
        }
    }
}

/// The bytes one send puts on the wire, and where its response is kept.
pub(crate) struct Req<'a> {
    pub h1: &'a [u8],
    pub h2: &'a H2Request,
    /// A HEAD request: its response has no body.
    pub head: bool,
    /// Keeps the response's head and body (a capture).
    pub keep: Option<&'a mut Kept>,
}

impl<'a> Req<'a> {
    /// The request `it` was prepared with.
    #[inline]
    pub fn of(it: &'a Prepared) -> Req<'a> {
        Req {
            h1: &it.h1_request,
            h2: &it.h2,
            head: it.head,
            keep: None,
        }
    }
}

/// `opened` is set to the instant the last connection this exchange needed
/// was ready, when it needed one; `written` to the request's bytes once they
/// go out on a connection.
async fn exchange(
    conn: &mut Conn,
    (core, it, mut req): (&Core, &Prepared, Req<'_>),
    h2_shared: Option<&H2Slot>,
    opened: &mut Option<Instant>,
    written: &Cell<u64>,
) -> Outcome {
    let sent = req.h1.len() as u64;
    // A reused keep-alive connection may have been closed by the server
    // while idle, or an HTTP/2 one gone away before it processed the
    // request; that request is retried once on a fresh connection.
    for attempt in 0..2 {
        if !conn.usable() {
            *conn = Conn::None;
        }
        if let (Conn::None, Some(slot), Wire::Alpn | Wire::H2c) = (&*conn, h2_shared, it.wire) {
            join_shared(conn, (core, it), slot, opened)
                .await
                .map_err(|k| (k, 0, 0))?;
        }
        let reused = !matches!(conn, Conn::None);
        if !reused {
            let (fresh, ready) = open_timed(core, it).await.map_err(|k| (k, 0, 0))?;
            *conn = fresh;
            *opened = Some(ready);
        }
        match conn {
            Conn::None => unreachable!("opened above"),
            Conn::H1(c) => {
                written.set(sent);
                match c
                    .exchange_keeping(req.h1, req.head, req.keep.as_deref_mut())
                    .await
                {
                    Ok(r) => {
                        if r.close {
                            *conn = Conn::None;
                        }
                        return Ok(Answer {
                            status: r.status,
                            sent,
                            received: r.received,
                            first_byte: r.first_byte,
                        });
                    }
                    Err(Failure { kind, received }) => {
                        *conn = Conn::None;
                        let stale = reused
                            && received == 0
                            && matches!(kind, ErrorKind::Closed | ErrorKind::Reset);
                        if stale && attempt == 0 {
                            // The server closed the connection before reading it.
                            written.set(0);
                            continue;
                        }
                        return Err((kind, sent, received));
                    }
                }
            }
            Conn::Lean(_) => {
                match lean_exchange(conn, &mut req, written, (sent, attempt == 0)).await {
                    Some(out) => return out,
                    None => continue,
                }
            }
            Conn::H2(sender) => {
                let out = h2_exchange(sender, &mut req, written).await;
                if out.is_err() {
                    *conn = Conn::None;
                    // A broken shared connection is replaced by the next lane that needs one.
                    if let Some(slot) = h2_shared {
                        slot.lock().await.take();
                    }
                }
                return out;
            }
        }
    }
    Err((ErrorKind::Closed, sent, 0))
}

/// Takes the client's shared HTTP/2 connection from `slot` into `conn`,
/// opening one when it holds none still usable. The lock makes the lanes of
/// a first batch wait for one handshake instead of each opening a connection.
async fn join_shared(
    conn: &mut Conn,
    (core, it): (&Core, &Prepared),
    slot: &H2Slot,
    opened: &mut Option<Instant>,
) -> Result<(), ErrorKind> {
    let mut shared = slot.lock().await;
    if shared.as_ref().is_some_and(|c| !c.usable()) {
        *shared = None;
    }
    if shared.is_none() {
        let (fresh, ready) = open_timed(core, it).await?;
        if fresh.share().is_some() {
            *shared = Some(fresh);
        } else {
            // The TLS handshake settled on HTTP/1.1: nothing to share,
            // and this lane keeps the connection it paid for.
            *conn = fresh;
            *opened = Some(ready);
        }
    }
    if let Some(c) = shared.as_ref().and_then(Conn::share) {
        *conn = c;
        // A sibling lane may have held the lock for its handshake.
        *opened = Some(Instant::now());
    }
    Ok(())
}

/// One request on the lean HTTP/2 connection in `conn`; `None` when it
/// should go out again on a fresh connection (`retry` allows it): the
/// connection went away (GOAWAY) before the request went out on it, or
/// before the server processed it.
async fn lean_exchange(
    conn: &mut Conn,
    req: &mut Req<'_>,
    written: &Cell<u64>,
    (sent, retry): (u64, bool),
) -> Option<Outcome> {
    let Conn::Lean(c) = conn else {
        unreachable!("called on a lean connection");
    };
    let block = (&req.h2.block[..], &req.h2.body[..]);
    let out = c
        .exchange(block, req.keep.as_deref_mut(), written, sent)
        .await;
    let usable = c.usable();
    if !usable {
        // Siblings sharing it replace it when they next send.
        *conn = Conn::None;
    }
    match out {
        Ok(r) => Some(Ok(Answer {
            status: r.status,
            sent,
            received: r.received,
            first_byte: r.first_byte,
        })),
        Err((Failure { kind, received }, unprocessed)) => {
            let unsent = written.get() == 0;
            if (unsent || unprocessed) && !usable && retry {
                written.set(0);
                return None;
            }
            let sent = if unsent { 0 } else { sent };
            Some(Err((kind, sent, received)))
        }
    }
}

/// Opens a connection for `it`, records how long its TCP connect (from the
/// first address tried) and its TLS handshake took, and returns it with the
/// instant it was ready.
async fn open_timed(core: &Core, it: &Prepared) -> Result<(Conn, Instant), ErrorKind> {
    let begun = Instant::now();
    // Boxed: the connect, TLS and h2 handshake futures are large, and a
    // client's task would carry their size for its whole life otherwise
    // (one allocation per connect, none per request).
    let (conn, tcp_at, tls) = Box::pin(open(core, it)).await?;
    let ready = Instant::now();
    let us = tcp_at.saturating_duration_since(begun).as_micros() as u64;
    let h2 = matches!(conn, Conn::H2(_) | Conn::Lean(_));
    // Both in one borrow: a snapshot never holds a handshake without its connect.
    let mut stats = core.stats.borrow_mut();
    stats[it.index].record_connect(us, h2);
    if let Some(tls) = tls {
        stats[it.index].record_tls(tls.as_micros() as u64);
    }
    Ok((conn, ready))
}

/// Opens a connection to the first address of `it` that takes one: the
/// connection, when its TCP connect ended and how long its TLS handshake took.
async fn open(core: &Core, it: &Prepared) -> Result<(Conn, Instant, Option<Duration>), ErrorKind> {
    let shared = &core.shared;
    let connector = match (&it.tls, it.wire) {
        (Some(own), _) => own,
        (None, Wire::Alpn) => &shared.tls_h2,
        (None, Wire::Http1 | Wire::H2c) => &shared.tls_h1,
    };
    let tls = it.tls_name.as_ref().map(|name| (connector, name));
    let mut last = ErrorKind::Connect;
    for addr in &it.addrs {
        match connect::open(*addr, tls).await {
            Ok(connect::Opened {
                stream,
                tcp_at,
                tls,
            }) => {
                // Over TLS the server decides by ALPN; h2c is HTTP/2 with
                // prior knowledge.
                let use_h2 = match it.wire {
                    Wire::Alpn => stream.alpn_h2(),
                    Wire::H2c => true,
                    Wire::Http1 => false,
                };
                if !use_h2 {
                    return Ok((Conn::H1(http1::Connection::new(stream)), tcp_at, tls));
                }
                if !shared.h2_crate {
                    let conn = http2::Conn::handshake(stream).await?;
                    return Ok((Conn::Lean(conn), tcp_at, tls));
                }
                let (sender, connection) = h2_builder()
                    .handshake(stream)
                    .await
                    .map_err(|e| h2_error_kind(&e))?;
                // The connection task ends when every sender is dropped or the
                // peer goes away; its error, if any, surfaces on the next send.
                tokio::task::spawn_local(async move {
                    let _ = connection.await;
                });
                return Ok((Conn::H2(sender), tcp_at, tls));
            }
            Err(kind) => last = kind,
        }
    }
    Err(last)
}

/// hyper's HTTP/2 client settings: windows large enough that a response of
/// a few MiB needs no window update, at most 100 streams until the server's
/// SETTINGS say how many it takes, and no server push.
fn h2_builder() -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.initial_max_send_streams(100)
        .initial_window_size(2 * 1024 * 1024)
        .initial_connection_window_size(5 * 1024 * 1024)
        .max_header_list_size(16 * 1024)
        .max_send_buffer_size(1024 * 1024)
        .max_frame_size(16 * 1024)
        .enable_push(false);
    b
}

async fn h2_exchange(
    sender: &mut SendRequest<Bytes>,
    send: &mut Req<'_>,
    written: &Cell<u64>,
) -> Outcome {
    let r = send.h2;
    let sent = send.h1.len() as u64;
    // Waits while the connection is at the peer's limit of concurrent streams.
    if std::future::poll_fn(|cx| sender.poll_ready(cx))
        .await
        .is_err()
    {
        return Err((ErrorKind::Closed, 0, 0));
    }
    let mut req = http::Request::new(());
    *req.method_mut() = r.method.clone();
    *req.uri_mut() = r.uri.clone();
    *req.headers_mut() = r.headers.clone();
    let end = r.body.is_empty();
    let (response, mut body_out) = match sender.send_request(req, end) {
        Ok(stream) => stream,
        Err(e) => return Err((h2_error_kind(&e), 0, 0)),
    };
    written.set(sent);
    if !end {
        // Buffered by h2 and sent as the peer's flow-control window allows.
        if let Err(e) = body_out.send_data(r.body.clone(), true) {
            return Err((h2_error_kind(&e), sent, 0));
        }
    }
    let res = match response.await {
        Ok(res) => res,
        Err(e) => return Err((h2_error_kind(&e), sent, 0)),
    };
    // The head is the first of the response h2 hands over.
    let first_byte = Some(Instant::now());
    let status = res.status().as_u16();
    // HTTP/2 bytes are counted as their HTTP/1.1 equivalent (head + body)
    // so both paths report comparable figures; frame overhead is not counted.
    let received: u64 = 17
        + res
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.len() + 4) as u64)
            .sum::<u64>()
        + 2;
    if let Some(kept) = send.keep.as_deref_mut() {
        kept.keep_h2_head(&res);
    }
    let received = h2_body(res.into_body(), received, send.keep.as_deref_mut())
        .await
        .map_err(|(kind, received)| (kind, sent, received))?;
    Ok(Answer {
        status,
        sent,
        received,
        first_byte,
    })
}

/// Reads a response body from the h2 crate, counting it onto `received`
/// (keeping it in `keep` when given) and giving its window back.
async fn h2_body(
    mut body: h2::RecvStream,
    mut received: u64,
    mut keep: Option<&mut Kept>,
) -> Result<u64, (ErrorKind, u64)> {
    while let Some(data) = body.data().await {
        match data {
            Ok(data) => {
                received += data.len() as u64;
                if let Some(kept) = keep.as_deref_mut() {
                    kept.keep_body(&data);
                }
                // Gives the window back, or the peer stops sending.
                let _ = body.flow_control().release_capacity(data.len());
            }
            Err(e) => return Err((h2_error_kind(&e), received)),
        }
    }
    Ok(received)
}

fn h2_error_kind(e: &h2::Error) -> ErrorKind {
    if let Some(io) = e.get_io() {
        return ErrorKind::from_io(io);
    }
    if e.is_go_away() && e.reason() == Some(h2::Reason::NO_ERROR) {
        // A graceful GOAWAY: the server closed the connection.
        ErrorKind::Closed
    } else if e.is_library() {
        // h2 found the peer breaking the protocol.
        ErrorKind::Protocol
    } else {
        ErrorKind::Reset
    }
}
