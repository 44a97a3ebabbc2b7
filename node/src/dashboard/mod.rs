//! The live dashboard: an HTTP server in the `lps` process (axum) that serves
//! the embedded page, a JSON API, a live feed and Prometheus metrics from a
//! run's [`Live`] view.
//!
//! The server runs on its own OS thread with its own current-thread tokio
//! runtime, so it never takes time from an engine core's runtime. Every
//! reader works on copies taken under `Live`'s short lock; one ticker per
//! server builds the periodic feed items once a second, whatever the number
//! of open pages. The routes, feed items and metrics are documented in
//! `docs/dashboard.md`.
//!
//! # Layout
//! - this file: the [`Dashboard`] handle, [`serve`] (bind, thread, runtime)
//!   and the stop signal (a [`CancellationToken`]).
//! - [`live`]: the running test as the dashboard shows it ([`Live`]).
//! - `routes`: the axum router and its handlers, the security headers.
//! - `page`: the page as one document, and its Content-Security-Policy.
//! - `auth`: the bearer-token check.
//! - `feed`: the Server-Sent Events feed and its once-a-second ticker.
//! - `metrics`: the Prometheus text format of `/metrics`.
//! - `query`: query-string parsing (`?token=`, `?since=`).
//! - `assets/`: the page, its style and its script, embedded.

mod auth;
mod feed;
pub mod live;
mod metrics;
mod page;
mod query;
mod routes;

pub(crate) use page::report_document;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::sync::broadcast;

use self::live::Live;
use crate::shutdown::CancellationToken;

/// Periodic items a slow feed reader may fall behind before it skips ahead.
const PERIODIC_CAPACITY: usize = 16;
/// How long `stop` lets open requests finish before dropping them.
const GRACE: Duration = Duration::from_secs(1);
/// How long the runtime may take to drop what is left after the grace.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(250);

/// A running dashboard server. `stop` ends it and waits (bounded);
/// dropping it ends it without waiting.
pub struct Dashboard {
    addr: SocketAddr,
    /// The server's own stop signal, independent of the run's: the
    /// dashboard outlives the run (`--dashboard-linger`). Cancelled by
    /// `stop` and on drop.
    stop: CancellationToken,
    /// The server's thread; taken by `stop` to wait for it.
    thread: Option<JoinHandle<()>>,
}

impl Dashboard {
    /// The address it listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving: open feeds end at once, other requests get up to
    /// [`GRACE`] to finish; returns when the server thread has ended.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            // A panic in the server thread has already been printed; the
            // run's report does not depend on it.
            let _ = thread.join();
        }
    }
}

impl Drop for Dashboard {
    /// A dropped handle stops the server too, without waiting for it.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What every handler, the feed and the token check share.
struct BoardState {
    /// The run being shown.
    live: Arc<Live>,
    /// Required on every route when set (never empty).
    bearer_token: Option<String>,
    /// The page with its style and script inlined (cheap to clone).
    page: bytes::Bytes,
    /// The page's Content-Security-Policy, sent with every answer.
    policy: axum::http::HeaderValue,
    /// State, nodes and summary items, once a second, for every open feed.
    periodic: broadcast::Sender<Arc<str>>,
    /// Cancelled when the server stops: open feeds and the ticker end.
    stop: CancellationToken,
}

/// Starts serving `live` on `listen`; `token`, when set, is required.
pub fn serve(
    live: Arc<Live>,
    listen: SocketAddr,
    token: Option<String>,
) -> anyhow::Result<Dashboard> {
    let (std_listener, addr) = bind(listen)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the dashboard's runtime")?;
    let listener = {
        // `from_std` registers the socket with the runtime's reactor.
        let _enter = runtime.enter();
        tokio::net::TcpListener::from_std(std_listener)
            .with_context(|| format!("cannot listen on {listen}"))?
    };
    let stop = CancellationToken::new();
    let document = page::document();
    let policy = axum::http::HeaderValue::try_from(page::content_security_policy(&document))
        .context("the dashboard's Content-Security-Policy is not a header value")?;
    let board = Arc::new(BoardState {
        live,
        bearer_token: token.filter(|t| !t.is_empty()),
        page: document.into(),
        policy,
        periodic: broadcast::channel(PERIODIC_CAPACITY).0,
        stop: stop.clone(),
    });
    let app = routes::router(board.clone());
    let thread = std::thread::Builder::new()
        .name("lps-dashboard".into())
        .spawn(move || {
            runtime.block_on(run_server(listener, app, board));
            // Connections still open after the grace are dropped here.
            runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
        })
        .context("cannot start the dashboard's thread")?;
    Ok(Dashboard {
        addr,
        stop,
        thread: Some(thread),
    })
}

/// Binds `listen` on the caller's thread, so that a busy or forbidden
/// address is an error naming it rather than a message from a thread.
fn bind(listen: SocketAddr) -> anyhow::Result<(std::net::TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    listener
        .set_nonblocking(true)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("cannot listen on {listen}"))?;
    Ok((listener, addr))
}

/// Serves until stopped, then gives open requests [`GRACE`] to finish.
async fn run_server(listener: tokio::net::TcpListener, app: Router, board: Arc<BoardState>) {
    let stop = board.stop.clone();
    let ticker = tokio::spawn(feed::tick(board));
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tokio::select! {
        result = server => {
            if let Err(e) = result {
                log::error!("lps: the dashboard stopped: {e}");
            }
        }
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(GRACE).await;
        } => {}
    }
    // The server may have ended by itself: the ticker is told here too.
    stop.cancel();
    // The ticker only ends on the token; a panic in it was printed already.
    let _ = ticker.await;
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::Instant;

    use super::*;

    use crate::dashboard::live::tests::live;

    #[test]
    fn a_taken_address_is_an_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let Err(e) = serve(live(), addr, None) else {
            panic!("served on a taken address");
        };
        assert!(format!("{e:#}").contains(&addr.to_string()), "{e:#}");
    }

    #[test]
    fn stop_ends_open_feeds_and_returns_promptly() {
        let board = serve(live(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
        let addr = board.local_addr();
        assert_ne!(addr.port(), 0);
        let mut feed = std::net::TcpStream::connect(addr).unwrap();
        feed.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        feed.write_all(b"GET /api/feed HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(feed);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        let started = Instant::now();
        board.stop();
        assert!(started.elapsed() < GRACE, "took {:?}", started.elapsed());
        // The stream ends (rather than hanging until the read timeout).
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
    }

    #[test]
    fn dropping_the_handle_ends_open_feeds() {
        let board = serve(live(), "127.0.0.1:0".parse().unwrap(), None).unwrap();
        let mut feed = std::net::TcpStream::connect(board.local_addr()).unwrap();
        feed.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        feed.write_all(b"GET /api/feed HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reader = BufReader::new(feed);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        drop(board);
        // The stream ends (rather than hanging until the read timeout).
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
    }
}
