//! An iteration's LPS 3.x script while it runs: each client's session (its
//! variables), requests built per send from their templates into buffers
//! the lane reuses, captures, and the expressions of `skipIf`, `before`,
//! `after` and a retry's `if` and `stopIf` (spec 5). Iterations without a
//! script never come here: they send the bytes built once.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use lps_config::{Capture, RequestScript, Script};
use lps_scenario::{Globals, Response, Scope, Session, Template, VarType, Variable, expr};
use regex::Regex;

use crate::client::{Core, H2Request, Prepared};
use crate::http1::{self, Kept};
use crate::stats::ErrorKind;

/// A scripted iteration, made ready: its script and the fixed parts its
/// requests are built around.
pub(crate) struct Scripted {
    pub script: Arc<Script>,
    /// The capture's regex, compiled once.
    pub capture_regex: Option<Regex>,
    pub method: String,
    /// `Host` value, and `scheme://authority` for HTTP/2 URIs.
    pub authority: String,
    pub origin: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One client's LPS session: its variables, for every iteration it runs
/// (concurrent ones share it; it is borrowed only between awaits).
pub(crate) struct Client {
    session: RefCell<Session>,
}

impl Client {
    pub fn new(id: u64) -> Client {
        Client {
            session: RefCell::new(Session::new(id)),
        }
    }

    /// Runs `f` with this client's scope.
    fn with<T>(&self, globals: &Globals, f: impl FnOnce(&mut Scope<'_>) -> T) -> T {
        let mut session = self.session.borrow_mut();
        f(&mut Scope::new(&mut session, globals))
    }
}

/// A request built for one send, reused by its lane.
#[derive(Default)]
pub(crate) struct Built {
    pub h1: Vec<u8>,
    pub h2: Option<H2Request>,
    pub head: bool,
    /// The response kept for a capture.
    pub kept: Kept,
    text: String,
}

/// Renders `templates` for their side effects (`before`, `after`).
fn run_all(templates: &[Template], scope: &mut Scope<'_>) {
    let mut sink = String::new();
    for t in templates {
        sink.clear();
        t.render(scope, &mut sink);
    }
}

/// Counts what the client's placeholders failed to read into the iteration.
fn count_misses(core: &Core, index: usize, client: &Client) {
    let misses = client.session.borrow_mut().take_misses();
    if misses > 0 {
        core.stats.borrow_mut()[index].unresolved += misses;
    }
}

/// A client's start of an iteration: `before`, then `skipIf`; false when
/// it skips the iteration (counted as skipped).
pub(crate) fn start_iteration(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) -> bool {
    let globals = &core.shared.globals;
    let s = &sc.script;
    let skip = client.with(globals, |scope| {
        run_all(&s.before, scope);
        s.skip_if
            .as_ref()
            .is_some_and(|t| expr::eval_template(t, scope))
    });
    if skip {
        core.stats.borrow_mut()[it.index].skipped += 1;
    }
    count_misses(core, it.index, client);
    !skip
}

/// A client's end of an iteration: its `after`.
pub(crate) fn end_iteration(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) {
    client.with(&core.shared.globals, |scope| {
        run_all(&sc.script.after, scope)
    });
    count_misses(core, it.index, client);
}

/// Before a request command: the request's `before`, then its `skipIf`;
/// false when it is skipped (counted).
pub(crate) fn start_request(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) -> bool {
    let r = &sc.script.request;
    let skip = client.with(&core.shared.globals, |scope| {
        run_all(&r.before, scope);
        r.skip_if
            .as_ref()
            .is_some_and(|t| expr::eval_template(t, scope))
    });
    if skip {
        core.stats.borrow_mut()[it.index].skipped += 1;
    }
    count_misses(core, it.index, client);
    !skip
}

/// After a request command (its retries included): its `after`.
pub(crate) fn end_request(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) {
    client.with(&core.shared.globals, |scope| {
        run_all(&sc.script.request.after, scope)
    });
    count_misses(core, it.index, client);
}

/// Whether a sent request is sent again (LPS, spec 2.8): not when `stopIf`
/// is true, nor when `if` is false; an absent `if` is true.
pub(crate) fn retry_again(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) -> bool {
    let r = &sc.script.request;
    let again = client.with(&core.shared.globals, |scope| {
        let stop = r
            .stop_if
            .as_ref()
            .is_some_and(|t| expr::eval_template(t, scope));
        !stop
            && r.retry_if
                .as_ref()
                .is_none_or(|t| expr::eval_template(t, scope))
    });
    count_misses(core, it.index, client);
    again
}

/// Builds the request for this send into `built`; an error when what the
/// templates gave cannot be sent (an invalid method, header or URI).
pub(crate) fn build(
    core: &Core,
    it: &Prepared,
    sc: &Scripted,
    client: &Client,
    built: &mut Built,
) -> Result<(), ErrorKind> {
    let r = &sc.script.request;
    let parts = client.with(&core.shared.globals, |scope| {
        render_parts(sc, r, scope, &mut built.text)
    });
    count_misses(core, it.index, client);
    let Parts {
        method,
        path,
        headers,
        body,
    } = parts;
    let all = sc.headers.iter().chain(headers.iter());
    built.head = method == "HEAD";
    built.h1.clear();
    http1::build_request_into(
        &mut built.h1,
        &method,
        &sc.authority,
        &path,
        all.clone(),
        &body,
    );
    built.h2 = match it.wire {
        crate::client::Wire::Http1 => None,
        _ => Some(h2_request(sc, &method, &path, all, body)?),
    };
    Ok(())
}

/// What the templates of one request gave.
struct Parts {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn render_parts(
    sc: &Scripted,
    r: &RequestScript,
    scope: &mut Scope<'_>,
    text: &mut String,
) -> Parts {
    let mut render = |t: &Template| {
        text.clear();
        t.render(scope, text);
        text.clone()
    };
    let method = r.method.as_ref().map_or_else(
        || sc.method.clone(),
        |t| render(t).trim().to_ascii_uppercase(),
    );
    let path = match &r.path {
        Some(t) => lps_config::encode_request_target(&render(t)),
        None => sc.path.clone(),
    };
    let headers = r
        .headers
        .iter()
        .map(|(n, t)| (n.clone(), render(t)))
        .collect();
    // LPS attaches a payload to POST, PUT and PATCH only.
    let body = if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        match &r.body {
            Some(t) => render(t).into_bytes(),
            None => sc.body.clone(),
        }
    } else {
        Vec::new()
    };
    Parts {
        method,
        path,
        headers,
        body,
    }
}

fn h2_request<'a>(
    sc: &Scripted,
    method: &str,
    path: &str,
    headers: impl Iterator<Item = &'a (String, String)>,
    body: Vec<u8>,
) -> Result<H2Request, ErrorKind> {
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| ErrorKind::Protocol)?;
    let uri = format!("{}{path}", sc.origin)
        .parse()
        .map_err(|_| ErrorKind::Protocol)?;
    let headers: Vec<(String, String)> = headers.cloned().collect();
    Ok(H2Request {
        method,
        uri,
        headers: crate::runner::h2_headers(&headers).map_err(|_| ErrorKind::Protocol)?,
        body: Bytes::from(body),
    })
}

/// Stores the response kept for `capture` in the client's session (or the
/// globals): its body read as the capture's type, status, reason, headers.
pub(crate) fn capture(core: &Core, sc: &Scripted, client: &Client, kept: &Kept) {
    let Some(c) = &sc.script.request.capture else {
        return;
    };
    let (status, reason, headers) = kept.parts();
    let body = String::from_utf8_lossy(&kept.body).into_owned();
    let kind = match c.kind {
        VarType::HttpResponse => VarType::String,
        k => k,
    };
    let response = Response {
        status,
        reason,
        headers,
    };
    let var = Variable::response(kind, body, response).with_regex(sc.capture_regex.clone());
    store(core, client, c, var);
}

fn store(core: &Core, client: &Client, c: &Capture, var: Variable) {
    client.with(&core.shared.globals, |scope| {
        scope.store(&c.to, var, c.global)
    });
}
