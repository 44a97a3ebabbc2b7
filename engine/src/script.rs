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

/// A request built for one send, reused by its lane: its buffers keep
/// their capacity, so a request allocates only for what its templates
/// produce the first times (and for a templated path).
#[derive(Default)]
pub(crate) struct Built {
    pub h1: Vec<u8>,
    pub h2: Option<H2Request>,
    pub head: bool,
    /// The response kept for a capture.
    pub kept: Kept,
    method: String,
    path: String,
    /// The templated headers' values, in order.
    values: Vec<String>,
    body: String,
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
    let s = &sc.script;
    start(core, it, client, (&s.before, s.skip_if.as_ref()))
}

/// A client's end of an iteration: its `after`.
pub(crate) fn end_iteration(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) {
    end(core, it, client, &sc.script.after);
}

/// Before a request command: the request's `before`, then its `skipIf`;
/// false when it is skipped (counted).
pub(crate) fn start_request(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) -> bool {
    let r = &sc.script.request;
    start(core, it, client, (&r.before, r.skip_if.as_ref()))
}

/// After a request command (its retries included): its `after`.
pub(crate) fn end_request(core: &Core, it: &Prepared, sc: &Scripted, client: &Client) {
    end(core, it, client, &sc.script.request.after);
}

/// Runs `before`, then evaluates `skip_if`; false (and one skip counted)
/// when it is true.
fn start(
    core: &Core,
    it: &Prepared,
    client: &Client,
    (before, skip_if): (&[Template], Option<&Template>),
) -> bool {
    let skip = client.with(&core.shared.globals, |scope| {
        run_all(before, scope);
        skip_if.is_some_and(|t| expr::eval_template(t, scope))
    });
    if skip {
        core.stats.borrow_mut()[it.index].skipped += 1;
    }
    count_misses(core, it.index, client);
    !skip
}

/// Runs `after` for its side effects.
fn end(core: &Core, it: &Prepared, client: &Client, after: &[Template]) {
    client.with(&core.shared.globals, |scope| run_all(after, scope));
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
    client.with(&core.shared.globals, |scope| render_parts(r, scope, built));
    count_misses(core, it.index, client);
    let method = r
        .method
        .as_ref()
        .map_or(sc.method.as_str(), |_| built.method.as_str());
    let path = r
        .path
        .as_ref()
        .map_or(sc.path.as_str(), |_| built.path.as_str());
    // LPS attaches a payload to POST, PUT and PATCH only.
    let body: &[u8] = match (matches!(method, "POST" | "PUT" | "PATCH"), &r.body) {
        (false, _) => &[],
        (true, Some(_)) => built.body.as_bytes(),
        (true, None) => &sc.body,
    };
    let fixed = sc.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
    let templated = r
        .headers
        .iter()
        .zip(&built.values)
        .map(|((n, _), v)| (n.as_str(), v.as_str()));
    let all = fixed.chain(templated);
    built.head = method == "HEAD";
    built.h1.clear();
    http1::build_request_into(
        &mut built.h1,
        method,
        &sc.authority,
        path,
        all.clone(),
        body,
    );
    built.h2 = match it.wire {
        crate::client::Wire::Http1 => None,
        _ => {
            // The last send's header block buffer is reused for this one's.
            let block = built.h2.take().map(|h| h.block).unwrap_or_default();
            Some(h2_request(sc, (method, path), all, body, block)?)
        }
    };
    Ok(())
}

/// Renders the templated parts of the request into `built`'s buffers.
fn render_parts(r: &RequestScript, scope: &mut Scope<'_>, built: &mut Built) {
    if let Some(t) = &r.method {
        built.method.clear();
        t.render(scope, &mut built.method);
        let upper = built.method.trim().to_ascii_uppercase();
        built.method = upper;
    }
    if let Some(t) = &r.path {
        built.path.clear();
        t.render(scope, &mut built.path);
        built.path = lps_config::encode_request_target(&built.path);
    }
    built.values.resize_with(r.headers.len(), String::new);
    for ((_, t), value) in r.headers.iter().zip(built.values.iter_mut()) {
        value.clear();
        t.render(scope, value);
    }
    if let Some(t) = &r.body {
        built.body.clear();
        t.render(scope, &mut built.body);
    }
}

fn h2_request<'a>(
    sc: &Scripted,
    (method, path): (&str, &str),
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    block: Vec<u8>,
) -> Result<H2Request, ErrorKind> {
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| ErrorKind::Protocol)?;
    let uri = format!("{}{path}", sc.origin)
        .parse()
        .map_err(|_| ErrorKind::Protocol)?;
    let headers: Vec<(String, String)> =
        headers.map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    Ok(H2Request::new(
        method,
        uri,
        crate::runner::h2_headers(&headers).map_err(|_| ErrorKind::Protocol)?,
        Bytes::copy_from_slice(body),
        block,
    ))
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
