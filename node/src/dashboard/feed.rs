//! The live feed (`/api/feed`, Server-Sent Events): what a reader gets first,
//! then series points and state changes as they happen and, from one ticker
//! per server, the state, nodes and summary items once a second.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::BoardState;
use super::live::Live;
use crate::shutdown::CancellationToken;

/// How often the state, nodes and summary items go out on the feed.
const TICK: Duration = Duration::from_secs(1);

/// What one feed reader holds.
struct Reader {
    /// Items to send first: the current state, nodes and summary.
    first: VecDeque<String>,
    /// Series points and state changes, as they happen.
    live: broadcast::Receiver<Arc<str>>,
    /// The periodic items.
    periodic: broadcast::Receiver<Arc<str>>,
    /// The server's stop signal: the feed ends when it is cancelled.
    stop: CancellationToken,
}

/// One reader's events: one JSON item each, until the server stops. A
/// reader too slow to keep up skips the items it missed (`Lagged`) rather
/// than have them buffered.
pub(super) fn events(board: &BoardState) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
    let reader = Reader {
        first: VecDeque::from([
            state_item(&board.live),
            nodes_item(&board.live),
            summary_item(&board.live).0,
        ]),
        live: board.live.subscribe(),
        periodic: board.periodic.subscribe(),
        stop: board.stop.clone(),
    };
    futures_util::stream::unfold(reader, |mut reader| async move {
        let item = reader.next().await?;
        Some((Ok(Event::default().data(&*item)), reader))
    })
}

impl Reader {
    /// The next item to send; `None` once the server stops.
    async fn next(&mut self) -> Option<Arc<str>> {
        if let Some(item) = self.first.pop_front() {
            return Some(Arc::from(item));
        }
        loop {
            let received = tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                r = self.live.recv() => r,
                r = self.periodic.recv() => r,
            };
            match received {
                Ok(item) => return Some(item),
                // The oldest items are gone: go on from the oldest kept.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Once a second, while any feed is open: the state, nodes and summary
/// items, built once for all readers. Ends when the server stops.
pub(super) async fn tick(board: Arc<BoardState>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut summaries = SummaryItems::default();
    loop {
        tokio::select! {
            () = board.stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        if board.periodic.receiver_count() == 0 {
            continue;
        }
        let summary = summaries.item(&board.live);
        for item in [state_item(&board.live), nodes_item(&board.live), summary] {
            // Every reader may have gone in the meantime: nothing to do then.
            let _ = board.periodic.send(Arc::from(item));
        }
    }
}

/// The ticker's summary item: built anew each second until the final
/// report, which never changes and so is compacted once.
#[derive(Default)]
struct SummaryItems {
    final_item: Option<String>,
}

impl SummaryItems {
    fn item(&mut self, live: &Live) -> String {
        if let Some(text) = &self.final_item {
            return text.clone();
        }
        let (text, is_final) = summary_item(live);
        if is_final {
            self.final_item = Some(text.clone());
        }
        text
    }
}

/// `{"type":"state", ...}`: the fields of `/api/state`.
fn state_item(live: &Live) -> String {
    let mut state = live.state_json();
    if let Some(fields) = state.as_object_mut() {
        fields.insert("type".into(), "state".into());
    }
    state.to_string()
}

/// `{"type":"nodes","nodes":[...]}`: the rows of `/api/nodes`.
fn nodes_item(live: &Live) -> String {
    match serde_json::to_string(&live.nodes()) {
        Ok(nodes) => format!(r#"{{"type":"nodes","nodes":{nodes}}}"#),
        Err(e) => error_item(&e),
    }
}

/// `{"type":"summary","summary":{...}}`: `/api/summary` on one line; and
/// whether it is the final report.
fn summary_item(live: &Live) -> (String, bool) {
    let (text, is_final) = match live.final_report() {
        Some(report) => (
            serde_json::from_str::<serde_json::Value>(&report).map(|v| v.to_string()),
            true,
        ),
        None => (serde_json::to_string(&live.summary()), false),
    };
    match text {
        Ok(summary) => (
            format!(r#"{{"type":"summary","summary":{summary}}}"#),
            is_final,
        ),
        Err(e) => (error_item(&e), false),
    }
}

/// `{"type":"error","error":"..."}`: an item that could not be built.
fn error_item(e: &dyn std::fmt::Display) -> String {
    serde_json::json!({"type": "error", "error": e.to_string()}).to_string()
}
