//! The journey routes: a tiny shop behind a login, so end-to-end tests of user journeys
//! (captures, templates, skipped requests, per-client data, environments) can ask the target
//! what each request carried.
//!
//! These routes favour simplicity over speed: their counters sit behind one `Mutex`, and they
//! parse bodies and headers. The load routes never touch any of it.
//!
//! Tokens are not stored: a token is the user (hex), a serial and a keyed hash of both, so the
//! target checks any token it issued without a table that a long login-per-iteration run would
//! grow without end. The hash keys are random per target, so another run's tokens are refused.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, AUTHORIZATION, HeaderName, HeaderValue, SET_COOKIE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::{RespBody, respond};

/// Largest body `/login` and `/api/...` read.
pub const MAX_JOURNEY_BODY: usize = 64 << 10;
/// Longest user name `/login` accepts (its hex form goes into every token).
pub const MAX_USER: usize = 256;
/// Most distinct keys each `/stats` tally keeps (users, tags); later new keys are only counted
/// in `dropped`, so a run that tags every request with a fresh value cannot exhaust memory.
pub const MAX_KEYS: usize = 100_000;
/// `expiresIn` of every token (informative: tokens never expire).
const EXPIRES_IN: u64 = 3600;

/// One item of the shop (`/api/items`, `/data/items.xml`).
struct Item {
    id: u64,
    name: &'static str,
    price: f64,
    stock: u64,
}

/// The shop's catalogue: two items under 50 and one out of stock, for `$find` and `skipIf`.
const ITEMS: [Item; 5] = [
    Item {
        id: 1,
        name: "Keyboard",
        price: 49.99,
        stock: 12,
    },
    Item {
        id: 2,
        name: "Mouse",
        price: 19.5,
        stock: 40,
    },
    Item {
        id: 3,
        name: "Monitor",
        price: 189.0,
        stock: 5,
    },
    Item {
        id: 4,
        name: "Cable",
        price: 4.99,
        stock: 200,
    },
    Item {
        id: 5,
        name: "Headset",
        price: 79.0,
        stock: 0,
    },
];

/// `GET /data/users.csv`.
const USERS_CSV: &str = "user,password,email\n\
alice,alice-pw,alice@example.com\n\
bob,bob-pw,bob@example.com\n\
carol,carol-pw,carol@example.com\n\
dave,dave-pw,dave@example.com\n\
erin,erin-pw,erin@example.com\n";

static ITEMS_JSON: LazyLock<String> =
    LazyLock::new(|| Value::Array(ITEMS.iter().map(item_json).collect()).to_string());

static ITEMS_XML: LazyLock<String> = LazyLock::new(|| {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n");
    for item in &ITEMS {
        xml.push_str(&format!(
            "  <item id=\"{}\"><name>{}</name><price>{}</price><stock>{}</stock></item>\n",
            item.id, item.name, item.price, item.stock
        ));
    }
    xml.push_str("</items>\n");
    xml
});

fn item_json(item: &Item) -> Value {
    json!({"id": item.id, "name": item.name, "price": item.price, "stock": item.stock})
}

/// What a path under `/api/` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/api/items`
    Items,
    /// `/api/items/{id}` (the id parsed; it may still name no item)
    Item(u64),
    /// `/api/cart`
    Cart,
    /// `/api/checkout`
    Checkout,
    /// `/api/me`
    Me,
    /// Anything else under `/api/` (still needs a token first).
    NotFound,
}

impl Api {
    /// Parses the rest of a path after `/api/`.
    pub fn parse(rest: &str) -> Api {
        match rest {
            "items" => Api::Items,
            "cart" => Api::Cart,
            "checkout" => Api::Checkout,
            "me" => Api::Me,
            _ => rest
                .strip_prefix("items/")
                .and_then(|id| id.parse().ok())
                .map_or(Api::NotFound, Api::Item),
        }
    }
}

/// A file under `/data/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFile {
    /// `/data/users.csv`
    UsersCsv,
    /// `/data/items.xml`
    ItemsXml,
}

/// `/data/...`: a fixed document to capture CSV or XML from.
pub fn data(file: DataFile) -> Response<RespBody> {
    let (content_type, body) = match file {
        DataFile::UsersCsv => ("text/csv", USERS_CSV),
        DataFile::ItemsXml => ("application/xml", ITEMS_XML.as_str()),
    };
    respond(
        StatusCode::OK,
        content_type,
        RespBody::Full(Bytes::from_static(body.as_bytes())),
    )
}

/// Counts by key, keeping at most [`MAX_KEYS`] keys.
#[derive(Debug, Default)]
pub(super) struct Tally(HashMap<String, u64>);

impl Tally {
    /// Counts `key`; false when it is new and the tally is full (not counted by key).
    pub(super) fn add(&mut self, key: &str) -> bool {
        if let Some(n) = self.0.get_mut(key) {
            *n += 1;
            return true;
        }
        if self.0.len() >= MAX_KEYS {
            return false;
        }
        self.0.insert(key.to_owned(), 1);
        true
    }

    pub(super) fn json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, n)| (k.clone(), (*n).into()))
                .collect(),
        )
    }
}

/// What the journey routes received, for `/stats` (`journey`).
#[derive(Debug, Default)]
struct Counters {
    /// Successful logins by user.
    logins: Tally,
    /// Requests under `/api/` with a valid token, by the token's user.
    authorized: Tally,
    /// Requests under `/api/` without a valid token.
    unauthorized: u64,
    /// Items added to carts (`POST /api/cart` answered 201), by item id.
    cart: Tally,
    /// Orders placed (`POST /api/checkout` answered 200).
    checkouts: u64,
    /// `/tag/{value}` requests by value (URL-decoded).
    tags: Tally,
    /// Counts not kept by key because their tally was full.
    dropped: u64,
}

/// The journey routes' state, shared by every server thread.
///
/// Alone on its cache lines: its lock and serial are written by the journey routes, and must
/// not share a line with the pause deadline that every request reads.
#[derive(Debug)]
#[repr(align(128))]
pub struct Journey {
    /// Keys of the token hash: random per target.
    keys: RandomState,
    /// Serial of tokens, carts and orders: unique for the target's life.
    next_id: AtomicU64,
    counters: Mutex<Counters>,
}

impl Default for Journey {
    fn default() -> Self {
        Journey {
            keys: RandomState::new(),
            next_id: AtomicU64::new(1),
            counters: Mutex::default(),
        }
    }
}

impl Journey {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // Counting never panics midway, so a poisoned lock still holds whole counts.
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed)
    }

    /// Zeroes every journey counter; tokens already issued stay valid.
    pub fn reset(&self) {
        *self.counters() = Counters::default();
    }

    /// The `journey` object of `/stats`.
    pub fn stats(&self) -> Value {
        let c = self.counters();
        json!({
            "logins": c.logins.json(),
            "authorized": c.authorized.json(),
            "unauthorized": c.unauthorized,
            "cart": c.cart.json(),
            "checkouts": c.checkouts,
            "tags": c.tags.json(),
            "dropped": c.dropped,
        })
    }

    fn count(&self, tally: impl FnOnce(&mut Counters) -> &mut Tally, key: &str) {
        let mut c = self.counters();
        if !tally(&mut c).add(key) {
            c.dropped += 1;
        }
    }

    /// `/tag/{value}`: counts the URL-decoded value.
    pub fn tag(&self, raw: &str) -> Response<RespBody> {
        match percent_decode(raw) {
            Some(value) => {
                self.count(|c| &mut c.tags, &value);
                json_response(StatusCode::OK, &json!({ "tag": value }))
            }
            None => error(StatusCode::BAD_REQUEST, "bad percent-encoding"),
        }
    }

    /// `POST /login`: a token for the user of a JSON or form body.
    pub async fn login(&self, req: Request<Incoming>) -> Response<RespBody> {
        if req.method() != Method::POST {
            return not_allowed("POST");
        }
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let user = match login_user(&body) {
            Ok(user) => user,
            Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
        };
        let token = self.issue(&user);
        self.count(|c| &mut c.logins, &user);
        let mut response = json_response(
            StatusCode::OK,
            &json!({"token": token, "user": user, "expiresIn": EXPIRES_IN}),
        );
        let headers = response.headers_mut();
        // A token is hex digits and dots: always a valid header value.
        let session = HeaderValue::try_from(&token).expect("hex and dots");
        let cookie = HeaderValue::try_from(format!("session={token}; Path=/; HttpOnly"))
            .expect("hex, dots and ASCII text");
        headers.insert(HeaderName::from_static("x-session"), session);
        headers.insert(SET_COOKIE, cookie);
        response
    }

    /// Mints a token for `user`: `hex(user).serial.mac`.
    pub(super) fn issue(&self, user: &str) -> String {
        let serial = self.next_id();
        let mac = self.keys.hash_one((serial, user));
        format!("{}.{serial:x}.{mac:016x}", hex(user.as_bytes()))
    }

    /// The user a token was issued to; `None` for anything this target did not issue.
    pub(super) fn user_of(&self, token: &str) -> Option<String> {
        let mut parts = token.rsplitn(3, '.');
        let mac = u64::from_str_radix(parts.next()?, 16).ok()?;
        let serial = u64::from_str_radix(parts.next()?, 16).ok()?;
        let user = String::from_utf8(unhex(parts.next()?)?).ok()?;
        (self.keys.hash_one((serial, user.as_str())) == mac).then_some(user)
    }

    /// Everything under `/api/`: a valid bearer token first, then the endpoint.
    pub async fn api(&self, api: Api, req: Request<Incoming>) -> Response<RespBody> {
        let Some(user) = bearer(&req).and_then(|token| self.user_of(token)) else {
            self.counters().unauthorized += 1;
            let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized");
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        };
        self.count(|c| &mut c.authorized, &user);
        let method = req.method().clone();
        match (api, method) {
            (Api::Items, Method::GET) => respond(
                StatusCode::OK,
                "application/json",
                RespBody::Full(Bytes::from_static(ITEMS_JSON.as_bytes())),
            ),
            (Api::Item(id), Method::GET) => match ITEMS.iter().find(|i| i.id == id) {
                Some(item) => json_response(StatusCode::OK, &item_json(item)),
                None => error(StatusCode::NOT_FOUND, "no such item"),
            },
            (Api::Me, Method::GET) => json_response(StatusCode::OK, &json!({ "user": user })),
            (Api::Cart, Method::POST) => self.add_to_cart(req).await,
            (Api::Checkout, Method::POST) => {
                let order = format!("order-{}", self.next_id());
                self.counters().checkouts += 1;
                json_response(
                    StatusCode::OK,
                    &json!({"orderId": order, "status": "confirmed"}),
                )
            }
            (Api::Items | Api::Item(_) | Api::Me, _) => not_allowed("GET"),
            (Api::Cart | Api::Checkout, _) => not_allowed("POST"),
            (Api::NotFound, _) => error(StatusCode::NOT_FOUND, "not found"),
        }
    }

    /// `POST /api/cart` with `{"itemId": n, "quantity": q}` (quantity 1 when absent).
    async fn add_to_cart(&self, req: Request<Incoming>) -> Response<RespBody> {
        let body = match read_body(req.into_body()).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let (item, quantity) = match cart_line(&body) {
            Ok(line) => line,
            Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
        };
        if !ITEMS.iter().any(|i| i.id == item) {
            return error(StatusCode::NOT_FOUND, "no such item");
        }
        self.count(|c| &mut c.cart, &item.to_string());
        let cart = format!("cart-{}", self.next_id());
        json_response(
            StatusCode::CREATED,
            &json!({"cartId": cart, "itemId": item, "quantity": quantity}),
        )
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
pub(super) fn bearer(req: &Request<Incoming>) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(super) async fn read_body(body: Incoming) -> Result<Bytes, Response<RespBody>> {
    match Limited::new(body, MAX_JOURNEY_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(error(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB"))
        }
        // The client broke off the body; this answer will most likely never be read.
        Err(_) => Err(error(StatusCode::BAD_REQUEST, "incomplete body")),
    }
}

/// The user of a login body: JSON `{"user": ..}` (or `username`), else a form `user=..`.
fn login_user(body: &[u8]) -> Result<String, &'static str> {
    let is_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let user = if is_json {
        let value: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
        match value.get("user").or_else(|| value.get("username")) {
            Some(Value::String(user)) => Some(user.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    } else {
        let body = std::str::from_utf8(body).map_err(|_| "form body is not UTF-8")?;
        form_field(body, "user")
            .or_else(|| form_field(body, "username"))
            .transpose()
            .map_err(|()| "bad percent-encoding")?
    };
    match user {
        None => Err("user is required"),
        Some(user) if user.is_empty() => Err("user is required"),
        Some(user) if user.len() > MAX_USER => Err("user is longer than 256 bytes"),
        Some(user) => Ok(user),
    }
}

/// The decoded value of `name` in a `application/x-www-form-urlencoded` body.
fn form_field(body: &str, name: &str) -> Option<Result<String, ()>> {
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(&value.replace('+', " ")).ok_or(()))
    })
}

/// The item id and quantity of a cart body.
fn cart_line(body: &[u8]) -> Result<(u64, u64), &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON")?;
    let item = value
        .get("itemId")
        .and_then(whole_number)
        .ok_or("itemId must be a whole number")?;
    let quantity = match value.get("quantity") {
        None => 1,
        Some(q) => whole_number(q)
            .filter(|&q| q > 0)
            .ok_or("quantity must be a whole number over 0")?,
    };
    Ok((item, quantity))
}

/// A number, or a string holding one (a template may quote it).
fn whole_number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
pub fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response<RespBody> {
    respond(
        status,
        "application/json",
        RespBody::Full(Bytes::from(value.to_string())),
    )
}

pub(super) fn error(status: StatusCode, message: &str) -> Response<RespBody> {
    json_response(status, &json!({ "error": message }))
}

pub(super) fn not_allowed(allow: &'static str) -> Response<RespBody> {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        let table = [
            ("items", Api::Items),
            ("items/3", Api::Item(3)),
            ("items/99", Api::Item(99)),
            ("items/x", Api::NotFound),
            ("items/", Api::NotFound),
            ("cart", Api::Cart),
            ("checkout", Api::Checkout),
            ("me", Api::Me),
            ("", Api::NotFound),
            ("me/", Api::NotFound),
        ];
        for (rest, expected) in table {
            assert_eq!(Api::parse(rest), expected, "/api/{rest}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("%C3%A9t%c3%a9").as_deref(), Some("été"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
        assert_eq!(percent_decode("").as_deref(), Some(""));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn login_bodies() {
        let ok = |body: &str| login_user(body.as_bytes());
        assert_eq!(
            ok(r#"{"user": "alice", "password": "x"}"#),
            Ok("alice".into())
        );
        assert_eq!(ok(r#" {"username": "bob"}"#), Ok("bob".into()));
        assert_eq!(ok(r#"{"user": 7}"#), Ok("7".into()));
        assert_eq!(ok("user=carol&password=pw"), Ok("carol".into()));
        assert_eq!(ok("password=pw&user=d+e%21"), Ok("d e!".into()));
        assert_eq!(ok(r#"{"password": "x"}"#), Err("user is required"));
        assert_eq!(ok(r#"{"user": ""}"#), Err("user is required"));
        assert_eq!(ok(r#"{"user": null}"#), Err("user is required"));
        assert_eq!(ok("password=pw"), Err("user is required"));
        assert_eq!(ok(""), Err("user is required"));
        assert_eq!(ok("{not json"), Err("body is not JSON"));
        assert_eq!(ok("user=%zz"), Err("bad percent-encoding"));
        let long = format!(r#"{{"user": "{}"}}"#, "u".repeat(MAX_USER + 1));
        assert_eq!(ok(&long), Err("user is longer than 256 bytes"));
    }

    #[test]
    fn cart_bodies() {
        let line = |body: &str| cart_line(body.as_bytes());
        assert_eq!(line(r#"{"itemId": 2, "quantity": 3}"#), Ok((2, 3)));
        assert_eq!(line(r#"{"itemId": "4"}"#), Ok((4, 1)));
        assert_eq!(
            line(r#"{"quantity": 3}"#),
            Err("itemId must be a whole number")
        );
        assert_eq!(
            line(r#"{"itemId": -1}"#),
            Err("itemId must be a whole number")
        );
        assert_eq!(
            line(r#"{"itemId": 1.5}"#),
            Err("itemId must be a whole number")
        );
        assert_eq!(
            line(r#"{"itemId": 1, "quantity": 0}"#),
            Err("quantity must be a whole number over 0")
        );
        assert_eq!(line("itemId=1"), Err("body is not JSON"));
    }

    #[test]
    fn tokens_name_their_user_and_cannot_be_forged() {
        let journey = Journey::default();
        let a = journey.issue("alice");
        let b = journey.issue("alice");
        assert_ne!(a, b, "each login gets its own token");
        assert_eq!(journey.user_of(&a).as_deref(), Some("alice"));
        let odd = journey.issue("ü ser.with.dots");
        assert_eq!(journey.user_of(&odd).as_deref(), Some("ü ser.with.dots"));
        // Another user's name with alice's serial and hash.
        let forged = format!("{}{}", hex(b"bob"), &a[a.find('.').unwrap()..]);
        assert_eq!(journey.user_of(&forged), None);
        // A token of another target (other keys).
        assert_eq!(Journey::default().user_of(&a), None);
        for junk in ["", "x", "..", "616c696365.1.zz", "6.1.0", "alice"] {
            assert_eq!(journey.user_of(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn tallies_stop_keeping_new_keys_when_full() {
        let mut tally = Tally::default();
        for i in 0..MAX_KEYS {
            assert!(tally.add(&i.to_string()));
        }
        assert!(!tally.add("one too many"));
        assert!(tally.add("0"), "known keys are still counted");
        assert_eq!(tally.0["0"], 2);
        assert_eq!(tally.0.len(), MAX_KEYS);
    }

    #[test]
    fn data_documents_list_the_catalogue() {
        let items: Value = serde_json::from_str(&ITEMS_JSON).unwrap();
        assert_eq!(items.as_array().unwrap().len(), 5);
        assert_eq!(
            items[0],
            json!({"id": 1, "name": "Keyboard", "price": 49.99, "stock": 12})
        );
        assert_eq!(ITEMS_XML.matches("<item id=").count(), 5);
        assert!(ITEMS_XML.contains(
            "<item id=\"2\"><name>Mouse</name><price>19.5</price><stock>40</stock></item>"
        ));
        assert_eq!(USERS_CSV.lines().count(), 6);
        assert_eq!(USERS_CSV.lines().next(), Some("user,password,email"));
    }
}
