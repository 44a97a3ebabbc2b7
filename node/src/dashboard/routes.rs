//! The router and its handlers: the page, the JSON API, the feed and
//! `/metrics`, every route behind the token check, every answer with the
//! security headers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::query::query_param;
use super::{BoardState, auth, feed, metrics};

/// Every route, behind the token check; the security headers go on every
/// answer, a refusal or a 404 included.
pub(super) fn router(board: Arc<BoardState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/state", get(api_state))
        .route("/api/summary", get(api_summary))
        .route("/api/nodes", get(api_nodes))
        .route("/api/series", get(api_series))
        .route("/api/report", get(api_report))
        .route("/api/histogram", get(api_histogram))
        .route("/api/feed", get(api_feed))
        .route("/metrics", get(api_metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(board.clone(), auth::require))
        .layer(middleware::from_fn_with_state(
            board.clone(),
            security_headers,
        ))
        .with_state(board)
}

/// The page's Content-Security-Policy, no framing (clickjacking) and no
/// `Referer` (a `?token=` in the page's address must not leak to links).
async fn security_headers(
    State(board): State<Arc<BoardState>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, board.policy.clone());
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn page(State(board): State<Arc<BoardState>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        board.page.clone(),
    )
        .into_response()
}

async fn api_state(State(board): State<Arc<BoardState>>) -> Response {
    json(board.live.state_json().to_string())
}

async fn api_summary(State(board): State<Arc<BoardState>>) -> Response {
    match board.live.final_report() {
        Some(report) => json(report),
        None => serialized(&board.live.summary()),
    }
}

async fn api_nodes(State(board): State<Arc<BoardState>>) -> Response {
    serialized(&board.live.nodes())
}

/// `GET /api/series?since=T`: the points after `T` seconds (all without it).
async fn api_series(State(board): State<Arc<BoardState>>, uri: Uri) -> Response {
    let since = match query_param(uri.query().unwrap_or(""), "since") {
        None => f64::NEG_INFINITY,
        Some(text) => match text.parse::<f64>() {
            Ok(t) if !t.is_nan() => t,
            _ => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("since must be a number of seconds, got {text:?}"),
                );
            }
        },
    };
    serialized(&board.live.series_since(since))
}

async fn api_report(State(board): State<Arc<BoardState>>) -> Response {
    match board.live.final_report() {
        Some(report) => json(report),
        None => json_error(
            StatusCode::NOT_FOUND,
            "the run is not over; /api/summary has the run so far",
        ),
    }
}

async fn api_histogram(State(board): State<Arc<BoardState>>) -> Response {
    match board.live.final_histogram() {
        Some(log) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            log,
        )
            .into_response(),
        None => json_error(StatusCode::NOT_FOUND, "the run is not over"),
    }
}

/// `GET /api/feed`: Server-Sent Events, one JSON item per event (see
/// [`feed::events`]).
async fn api_feed(State(board): State<Arc<BoardState>>) -> Response {
    let mut response = Sse::new(feed::events(&board)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

async fn api_metrics(State(board): State<Arc<BoardState>>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics::render(&metrics::MetricsInput::of(&board.live)),
    )
        .into_response()
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "no such route; see docs/dashboard.md",
    )
}

/// A JSON body, never cached.
fn json(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `{"error": message}` with `status`.
fn json_error(status: StatusCode, message: &str) -> Response {
    let mut response = json(serde_json::json!({ "error": message }).to_string());
    *response.status_mut() = status;
    response
}

fn serialized<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => json(text),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
