//! The gRPC port's gate. Anyone can open a TCP connection to it, secret or
//! not, so a connection is only kept once a worker registered on it: until
//! then it has [`HANDSHAKE_LIMIT`] to complete TLS, HTTP/2 and a `Register`
//! the master accepts, and at most [`MAX_WAITING`] connections wait at once
//! (a new one closes the oldest). A real worker registers within
//! milliseconds of connecting, so idle connections can neither pile up nor
//! hold the file descriptors it needs.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_stream::Stream;
use tonic::transport::server::Connected;

/// How long a connection has to register a worker.
pub const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// Most connections waiting to register at once.
pub const MAX_WAITING: usize = 64;
/// How long accepting pauses when the process is out of file descriptors
/// and no waiting connection can make room.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

const WAITING: u8 = 0;
const ADMITTED: u8 = 1;
const CLOSED: u8 = 2;

/// A connection's standing, shared by its stream and the gRPC service.
#[derive(Default)]
struct Ticket {
    /// [`WAITING`], then [`ADMITTED`] or [`CLOSED`], for good.
    state: AtomicU8,
    /// The stream's reader, woken to close a waiting connection.
    waker: Mutex<Option<Waker>>,
}

impl Ticket {
    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn settle(&self, to: u8) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn waker(&self) -> MutexGuard<'_, Option<Waker>> {
        // Only a waker is kept here: a panic elsewhere leaves it whole.
        self.waker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the connection if it is still waiting.
    fn close(&self) {
        if self.settle(CLOSED)
            && let Some(waker) = self.waker().take()
        {
            waker.wake();
        }
    }
}

/// The connections waiting to register, oldest first.
#[derive(Default)]
pub struct Gate {
    waiting: Mutex<VecDeque<Arc<Ticket>>>,
}

impl Gate {
    fn waiting(&self) -> MutexGuard<'_, VecDeque<Arc<Ticket>>> {
        // Plain tickets: a panic elsewhere leaves the queue usable.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection's ticket; the oldest waiting one is closed if
    /// [`MAX_WAITING`] already wait.
    fn enter(&self) -> Arc<Ticket> {
        let mut waiting = self.waiting();
        waiting.retain(|t| t.state() == WAITING);
        if waiting.len() >= MAX_WAITING
            && let Some(oldest) = waiting.pop_front()
        {
            oldest.close();
        }
        let ticket = Arc::new(Ticket::default());
        waiting.push_back(ticket.clone());
        ticket
    }

    /// Closes the oldest waiting connection; false if none waits.
    fn close_oldest(&self) -> bool {
        let mut waiting = self.waiting();
        waiting.retain(|t| t.state() == WAITING);
        waiting.pop_front().inspect(|t| t.close()).is_some()
    }

    /// Connections waiting to register now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let mut waiting = self.waiting();
        waiting.retain(|t| t.state() == WAITING);
        waiting.len()
    }
}

/// What the gRPC service learns of a request's connection.
#[derive(Clone)]
pub struct Conn {
    pub remote: Option<SocketAddr>,
    ticket: Arc<Ticket>,
}

impl Conn {
    /// A worker registered on this connection: it is kept from now on.
    pub fn admit(&self) {
        self.ticket.settle(ADMITTED);
    }
}

/// An accepted connection, closed (its reads fail) if it is still waiting
/// at its deadline or when the gate closes it.
pub struct Gated {
    io: TcpStream,
    remote: Option<SocketAddr>,
    ticket: Arc<Ticket>,
    deadline: Pin<Box<Sleep>>,
}

impl Gated {
    fn new(io: TcpStream, remote: SocketAddr, ticket: Arc<Ticket>) -> Gated {
        Gated {
            io,
            remote: Some(remote),
            ticket,
            deadline: Box::pin(tokio::time::sleep(HANDSHAKE_LIMIT)),
        }
    }

    /// Ready with an error once the connection is closed; while it waits,
    /// its reader is woken by the deadline or the gate.
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.ticket.state() == WAITING {
            if self.deadline.as_mut().poll(cx).is_ready() {
                self.ticket.close();
            } else {
                *self.ticket.waker() = Some(cx.waker().clone());
            }
        }
        match self.ticket.state() {
            CLOSED => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "no worker registered on this connection in time",
            )),
            _ => Poll::Pending,
        }
    }

    fn closed(&self) -> bool {
        self.ticket.state() == CLOSED
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        // Out of the waiting count at once, not at the next accept.
        self.ticket.settle(CLOSED);
    }
}

impl AsyncRead for Gated {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ticket.state() != ADMITTED
            && let Poll::Ready(e) = self.poll_closed(cx)
        {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Gated {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed() {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connected for Gated {
    type ConnectInfo = Conn;

    fn connect_info(&self) -> Conn {
        Conn {
            remote: self.remote,
            ticket: self.ticket.clone(),
        }
    }
}

/// The accepted connections of `listener`, each gated.
pub fn incoming(
    listener: TcpListener,
    gate: Arc<Gate>,
) -> impl Stream<Item = io::Result<Gated>> + Send {
    futures_util::stream::unfold((listener, gate), |(listener, gate)| async move {
        let accepted = accept(&listener, &gate).await;
        Some((accepted, (listener, gate)))
    })
}

/// The next connection. Out of file descriptors, the oldest waiting
/// connection makes room (else accepting pauses), so that a worker still
/// gets in.
async fn accept(listener: &TcpListener, gate: &Gate) -> io::Result<Gated> {
    loop {
        match listener.accept().await {
            Ok((io, remote)) => {
                // Acks and state changes are small writes that a worker waits
                // for: Nagle would hold each back until the previous one is acked.
                // A socket that refuses the option still works, only slower.
                let _ = io.set_nodelay(true);
                return Ok(Gated::new(io, remote, gate.enter()));
            }
            Err(e) if out_of_descriptors(&e) => {
                gate.close_oldest();
                // The closed connection's task frees its descriptor once it runs.
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// EMFILE or ENFILE: the process's or the system's file table is full.
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn a_new_connection_beyond_the_limit_closes_the_oldest_waiting_one() {
        let gate = Gate::default();
        let tickets: Vec<_> = (0..MAX_WAITING).map(|_| gate.enter()).collect();
        assert_eq!(gate.len(), MAX_WAITING);
        // One registers: it no longer counts, and is never closed.
        tickets[0].settle(ADMITTED);
        let newer = gate.enter();
        assert_eq!(gate.len(), MAX_WAITING);
        assert!(tickets.iter().all(|t| t.state() != CLOSED));
        // Now full: the next one closes the oldest still waiting, tickets[1].
        let newest = gate.enter();
        assert_eq!(tickets[1].state(), CLOSED);
        assert_eq!(tickets[0].state(), ADMITTED);
        assert_eq!(tickets[2].state(), WAITING);
        assert_eq!((newer.state(), newest.state()), (WAITING, WAITING));
        assert!(gate.close_oldest());
        assert_eq!(tickets[2].state(), CLOSED);
        // An admitted connection cannot be closed after all.
        tickets[0].close();
        assert_eq!(tickets[0].state(), ADMITTED);
    }

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Gate::default();
        let _client = TcpStream::connect(addr).await.unwrap();
        let conn = accept(&listener, &gate).await.unwrap();
        assert!(conn.io.nodelay().unwrap(), "Nagle is off");
    }

    #[tokio::test]
    async fn a_waiting_connection_is_closed_by_the_gate_even_while_idle() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Gate::default();
        let _client = TcpStream::connect(addr).await.unwrap();
        let mut conn = accept(&listener, &gate).await.unwrap();
        let info = conn.connect_info();
        let mut buf = [0u8; 8];
        // Idle and waiting: a read blocks until the gate closes it.
        let read = tokio::spawn(async move { conn.read(&mut buf).await });
        tokio::task::yield_now().await;
        assert!(!read.is_finished());
        assert!(gate.close_oldest());
        let err = tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the read ends")
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // Closed for good: admitting it now changes nothing.
        info.admit();
        assert_eq!(info.ticket.state(), CLOSED);
    }
}
