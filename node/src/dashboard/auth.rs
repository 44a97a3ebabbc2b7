//! The bearer-token check in front of every route, when a token is set.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::BoardState;
use super::query::query_param;

/// Requires the token, when one is set, as `Authorization: Bearer TOKEN` or
/// `?token=TOKEN`.
pub(super) async fn require(
    State(board): State<Arc<BoardState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &board.bearer_token
        && !authorized(request.headers(), request.uri(), token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            r#"{"error":"a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN"}"#,
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether any `Authorization: Bearer` header, or else the first `token`
/// query parameter, is `token`.
fn authorized(headers: &HeaderMap, uri: &Uri, token: &str) -> bool {
    let by_header = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(bearer_credentials)
        .any(|given| same(given.as_bytes(), token.as_bytes()));
    by_header
        || query_param(uri.query().unwrap_or(""), "token")
            .is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// The credentials of a `Bearer` authorization value. The scheme is
/// case-insensitive (RFC 9110, 11.1): `bearer` and `BEARER` are `Bearer`.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| credentials.trim())
}

/// Compares without stopping at the first difference, so that the time
/// taken does not tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_by_header_or_query() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer t0k".parse().unwrap());
        let mut wrong = HeaderMap::new();
        wrong.insert(header::AUTHORIZATION, "Bearer t0kk".parse().unwrap());
        let none = HeaderMap::new();
        assert!(authorized(&bearer, &uri("/api/state"), "t0k"));
        assert!(authorized(&none, &uri("/api/state?token=t0k"), "t0k"));
        assert!(!authorized(&none, &uri("/api/state"), "t0k"));
        assert!(!authorized(&wrong, &uri("/api/state"), "t0k"));
        assert!(!authorized(&none, &uri("/api/state?token=t0"), "t0k"));
        assert!(!authorized(&none, &uri("/api/state?token="), "t0k"));
    }

    #[test]
    fn the_scheme_is_case_insensitive_the_token_is_not() {
        for (value, credentials) in [
            ("Bearer t0k", Some("t0k")),
            ("bearer t0k", Some("t0k")),
            ("BEARER t0k", Some("t0k")),
            ("bEaReR   t0k ", Some("t0k")),
            ("Bearer T0K", Some("T0K")),
            ("Basic t0k", None),
            ("Bearert0k", None),
            ("Bearer", None),
            ("", None),
        ] {
            assert_eq!(bearer_credentials(value), credentials, "{value:?}");
        }
        let mut lower = HeaderMap::new();
        lower.insert(header::AUTHORIZATION, "bearer t0k".parse().unwrap());
        assert!(authorized(&lower, &"/".parse().unwrap(), "t0k"));
    }

    #[test]
    fn same_is_byte_equality() {
        for (a, b, equal) in [
            ("", "", true),
            ("t0k", "t0k", true),
            ("t0k", "t0K", false),
            ("t0k", "t0", false),
            ("t0", "t0k", false),
            ("", "t", false),
        ] {
            assert_eq!(same(a.as_bytes(), b.as_bytes()), equal, "{a:?} {b:?}");
        }
    }
}
