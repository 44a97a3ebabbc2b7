//! The fixtures: routes in the shape of the public demo APIs that the LPS documentation's
//! example plans call (fakestoreapi.com, jsonplaceholder.typicode.com, httpbin.org's `/post`),
//! so those plans run against the built-in target with only their scheme and host rewritten.
//!
//! The data is this project's own, in those APIs' shapes. Where an example tests a value (the
//! first user's name, username, e-mail domain, city and company; the last user's name; products
//! under 50), the fixture holds such a value, so each example's conditions mean what they mean
//! against the real service.
//!
//! Like the journey routes, these are matched only after every load route has failed, and
//! their counters sit behind one lock that the load routes never take.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::journey::{
    Journey, MAX_USER, Tally, bearer, error, json_response, not_allowed, read_body,
};
use super::{RespBody, respond};

/// What a fixture path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// `/products` (fakestore)
    Products,
    /// `/products/{id}`
    Product(u64),
    /// `/carts` (fakestore: POST creates a cart)
    Carts,
    /// `/carts/{id}` (fakestore: PUT or PATCH updates it)
    Cart(u64),
    /// `/auth/login` (fakestore: a token for a username and password)
    AuthLogin,
    /// `/users` (jsonplaceholder)
    Users,
    /// `/users/{id}`
    User(u64),
    /// `/users/{id}/{albums|todos|posts}`
    OfUser(u64, Kind),
    /// `/posts`
    Posts,
    /// `/posts/{id}`
    Post(u64),
    /// `/post` (httpbin: the body it got)
    HttpbinPost,
    /// `/hosts/{host}/{rest}`: a stand-in for a host the documentation invents
    /// (`api.example.com`); [`split_host`] reads the host and the rest from the path.
    Host,
}

/// What a user owns (jsonplaceholder's nested routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Albums,
    Todos,
    Posts,
}

impl Page {
    /// Parses a path (with its leading `/`); `None` when no fixture serves it.
    pub fn parse(path: &str) -> Option<Page> {
        if split_host(path).is_some() {
            return Some(Page::Host);
        }
        let mut parts = path.strip_prefix('/')?.split('/');
        let first = parts.next()?;
        let id = parts.next().map(|id| id.parse::<u64>().ok());
        let third = parts.next();
        if parts.next().is_some() {
            return None;
        }
        Some(match (first, id, third) {
            ("products", None, None) => Page::Products,
            ("products", Some(Some(id)), None) => Page::Product(id),
            ("carts", None, None) => Page::Carts,
            ("carts", Some(Some(id)), None) => Page::Cart(id),
            ("users", None, None) => Page::Users,
            ("users", Some(Some(id)), None) => Page::User(id),
            ("users", Some(Some(id)), Some("albums")) => Page::OfUser(id, Kind::Albums),
            ("users", Some(Some(id)), Some("todos")) => Page::OfUser(id, Kind::Todos),
            ("users", Some(Some(id)), Some("posts")) => Page::OfUser(id, Kind::Posts),
            ("posts", None, None) => Page::Posts,
            ("posts", Some(Some(id)), None) => Page::Post(id),
            ("post", None, None) => Page::HttpbinPost,
            ("auth", _, None) if path == "/auth/login" => Page::AuthLogin,
            _ => return None,
        })
    }
}

/// The host and the rest of a `/hosts/{host}/{rest}` path (the rest without its leading `/`).
pub fn split_host(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/hosts/")?;
    let (host, rest) = rest.split_once('/').unwrap_or((rest, ""));
    (!host.is_empty()).then_some((host, rest))
}

/// One product of the store: four under 50 (ids 2, 4, 5, 7), for the checkout's `$find`.
struct Product {
    id: u64,
    title: &'static str,
    price: f64,
    category: &'static str,
}

const PRODUCTS: [Product; 8] = [
    Product {
        id: 1,
        title: "Canvas Backpack",
        price: 64.0,
        category: "men's clothing",
    },
    Product {
        id: 2,
        title: "Cotton T-Shirt",
        price: 18.5,
        category: "men's clothing",
    },
    Product {
        id: 3,
        title: "Rain Jacket",
        price: 55.99,
        category: "women's clothing",
    },
    Product {
        id: 4,
        title: "Silver Ring",
        price: 9.99,
        category: "jewelery",
    },
    Product {
        id: 5,
        title: "USB-C Drive 64 GB",
        price: 24.0,
        category: "electronics",
    },
    Product {
        id: 6,
        title: "27-inch Monitor",
        price: 249.0,
        category: "electronics",
    },
    Product {
        id: 7,
        title: "Wool Scarf",
        price: 29.95,
        category: "women's clothing",
    },
    Product {
        id: 8,
        title: "Gold Bracelet",
        price: 169.0,
        category: "jewelery",
    },
];

/// One user: name, username, e-mail, city, company.
type UserRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// Ten users (ids 1..=10). The first and last carry the values the documentation's examples
/// test (Leanne Graham, Bret, an `.biz` address, Gwenborough, Romaguera-Crona; Clementina).
const USERS: [UserRow; 10] = [
    (
        "Leanne Graham",
        "Bret",
        "leanne@graham.biz",
        "Gwenborough",
        "Romaguera-Crona",
    ),
    (
        "Ravi Patel",
        "ravi.p",
        "ravi@patel.example",
        "Northfield",
        "Patel & Sons",
    ),
    (
        "Mina Okafor",
        "minao",
        "mina@okafor.example",
        "Eastbrook",
        "Okafor Logistics",
    ),
    (
        "Tomas Lindqvist",
        "tlind",
        "tomas@lindqvist.example",
        "Westvale",
        "Lindqvist AB",
    ),
    (
        "Aiko Tanaka",
        "aikot",
        "aiko@tanaka.example",
        "Southport",
        "Tanaka Works",
    ),
    (
        "Jonas Weber",
        "jweber",
        "jonas@weber.example",
        "Riverton",
        "Weber GmbH",
    ),
    (
        "Sofia Costa",
        "scosta",
        "sofia@costa.example",
        "Lakeside",
        "Costa Lda",
    ),
    (
        "Omar Haddad",
        "ohaddad",
        "omar@haddad.example",
        "Hillcrest",
        "Haddad Trading",
    ),
    (
        "Lena Novak",
        "lnovak",
        "lena@novak.example",
        "Brookfield",
        "Novak Studio",
    ),
    (
        "Clementina DuBuque",
        "clementina",
        "clementina@dubuque.example",
        "Oakridge",
        "DuBuque Group",
    ),
];
/// Albums, todos and posts each user owns.
const ALBUMS_EACH: u64 = 3;
const TODOS_EACH: u64 = 4;
const POSTS_EACH: u64 = 2;

static PRODUCTS_JSON: LazyLock<Vec<Value>> =
    LazyLock::new(|| PRODUCTS.iter().map(product_json).collect());
static USERS_JSON: LazyLock<Vec<Value>> = LazyLock::new(|| {
    (1..=USERS.len() as u64)
        .zip(USERS.iter())
        .map(|(id, row)| user_json(id, row))
        .collect()
});
static POSTS_JSON: LazyLock<Vec<Value>> =
    LazyLock::new(|| (1..=USERS.len() as u64).flat_map(posts_of).collect());

fn product_json(p: &Product) -> Value {
    json!({
        "id": p.id,
        "title": p.title,
        "price": p.price,
        "description": format!("{}, from the built-in target's store.", p.title),
        "category": p.category,
        "image": format!("https://store.example/img/{}.png", p.id),
        "rating": {"rate": 3.0 + (p.id % 5) as f64 * 0.4, "count": 40 * p.id + 7},
    })
}

fn user_json(id: u64, &(name, username, email, city, company): &UserRow) -> Value {
    json!({
        "id": id,
        "name": name,
        "username": username,
        "email": email,
        "address": {
            "street": format!("{} Main Street", 100 + id * 7),
            "suite": format!("Apt. {}", 100 * id),
            "city": city,
            "zipcode": format!("{:05}", 10_000 + id * 137),
            "geo": {"lat": format!("{:.4}", 40.0 + id as f64 / 10.0), "lng": format!("{:.4}", -70.0 - id as f64 / 10.0)},
        },
        "phone": format!("555-01{id:02}"),
        "website": format!("{}.example", username.to_lowercase()),
        "company": {"name": company, "catchPhrase": "Load-tested daily", "bs": "fast local fixtures"},
    })
}

fn albums_of(user: u64) -> impl Iterator<Item = Value> {
    (1..=ALBUMS_EACH).map(move |k| {
        let id = (user - 1) * ALBUMS_EACH + k;
        json!({"userId": user, "id": id, "title": format!("album {k} of user {user}")})
    })
}

/// Todos; every third (by id) is completed.
fn todos_of(user: u64) -> impl Iterator<Item = Value> {
    (1..=TODOS_EACH).map(move |k| {
        let id = (user - 1) * TODOS_EACH + k;
        json!({"userId": user, "id": id, "title": format!("task {k} of user {user}"), "completed": id.is_multiple_of(3)})
    })
}

fn posts_of(user: u64) -> impl Iterator<Item = Value> {
    (1..=POSTS_EACH).map(move |k| {
        let id = (user - 1) * POSTS_EACH + k;
        json!({
            "userId": user,
            "id": id,
            "title": format!("post {k} of user {user}"),
            "body": format!("the body of post {id}"),
        })
    })
}

/// Request headers not counted under `headers` (transport, not content a plan chose).
const UNCOUNTED_HEADERS: [&str; 9] = [
    "host",
    "content-length",
    "content-type",
    "connection",
    "user-agent",
    "accept",
    "accept-encoding",
    "transfer-encoding",
    "te",
];

/// What the fixture routes received, for `/stats` (`fixtures`).
#[derive(Debug, Default)]
struct Counters {
    /// Every fixture request, as `METHOD path`.
    requests: Tally,
    /// Request headers other than [`UNCOUNTED_HEADERS`], as `name: value`.
    headers: Tally,
    /// Successful `/auth/login`s by username.
    logins: Tally,
    /// Carts created (`POST /carts` answered 200).
    carts: u64,
    /// Lines of the created carts, by `productId`.
    cart_products: Tally,
    /// Carts updated (`PUT`/`PATCH /carts/{id}` answered 200).
    cart_updates: u64,
    /// Of those, the ones carrying `Authorization: Bearer <token from /auth/login>`.
    cart_updates_authorized: u64,
    /// Counts not kept by key because their tally was full.
    dropped: u64,
}

/// The fixture routes' state, shared by every server thread (its own cache lines, like
/// [`Journey`]).
#[derive(Debug)]
#[repr(align(128))]
pub struct Fixtures {
    /// Ids of created carts (fakestore's first new cart is 11).
    next_cart: AtomicU64,
    counters: Mutex<Counters>,
}

impl Default for Fixtures {
    fn default() -> Self {
        Fixtures {
            next_cart: AtomicU64::new(11),
            counters: Mutex::default(),
        }
    }
}

impl Fixtures {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        // Counting never panics midway, so a poisoned lock still holds whole counts.
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Zeroes every fixture counter.
    pub fn reset(&self) {
        *self.counters() = Counters::default();
    }

    /// The `fixtures` object of `/stats`.
    pub fn stats(&self) -> Value {
        let c = self.counters();
        json!({
            "requests": c.requests.json(),
            "headers": c.headers.json(),
            "logins": c.logins.json(),
            "carts": c.carts,
            "cart_products": c.cart_products.json(),
            "cart_updates": c.cart_updates,
            "cart_updates_authorized": c.cart_updates_authorized,
            "dropped": c.dropped,
        })
    }

    /// Counts `key` in a tally, or in `dropped` when the tally is full.
    fn count(c: &mut Counters, tally: impl FnOnce(&mut Counters) -> &mut Tally, key: &str) {
        if !tally(c).add(key) {
            c.dropped += 1;
        }
    }

    /// Counts the request line and the headers a plan chose.
    fn count_request(&self, req: &Request<Incoming>) {
        let mut c = self.counters();
        let line = format!("{} {}", req.method(), req.uri().path());
        Self::count(&mut c, |c| &mut c.requests, &line);
        for (name, value) in req.headers() {
            if UNCOUNTED_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes());
            Self::count(&mut c, |c| &mut c.headers, &format!("{name}: {value}"));
        }
    }

    /// Answers a fixture page; `journey` mints and checks the store's tokens.
    pub async fn serve(
        &self,
        page: Page,
        req: Request<Incoming>,
        journey: &Journey,
    ) -> Response<RespBody> {
        self.count_request(&req);
        let method = req.method().clone();
        match (page, method) {
            (Page::Carts, Method::POST) => self.create_cart(req).await,
            (Page::Cart(id), Method::PUT | Method::PATCH) => {
                self.update_cart(id, req, journey).await
            }
            (Page::AuthLogin, Method::POST) => self.login(req, journey).await,
            (Page::HttpbinPost, Method::POST) => httpbin_post(req).await,
            (Page::Host, method) => {
                let (host, rest) = split_host(req.uri().path()).unwrap_or_default();
                let path = format!("/{rest}");
                json_response(
                    StatusCode::OK,
                    &json!({"host": host, "path": path, "method": method.as_str()}),
                )
            }
            (Page::Carts | Page::AuthLogin | Page::HttpbinPost, _) => not_allowed("POST"),
            (Page::Cart(_), _) => not_allowed("PUT, PATCH"),
            (page, Method::GET) => read(page),
            _ => not_allowed("GET"),
        }
    }

    /// `POST /carts`: a JSON object; answers it with a new `id`.
    async fn create_cart(&self, req: Request<Incoming>) -> Response<RespBody> {
        let mut cart = match json_object(req).await {
            Ok(cart) => cart,
            Err(response) => return response,
        };
        let id = self.next_cart.fetch_add(1, Relaxed);
        {
            let mut c = self.counters();
            c.carts += 1;
            let lines = cart.get("products").and_then(Value::as_array);
            for line in lines.into_iter().flatten() {
                let product = line
                    .get("productId")
                    .map_or("none".into(), Value::to_string);
                Self::count(&mut c, |c| &mut c.cart_products, &product);
            }
        }
        cart.insert("id".into(), id.into());
        json_response(StatusCode::OK, &Value::Object(cart))
    }

    /// `PUT`/`PATCH /carts/{id}`: a JSON object; answers it with that `id`.
    async fn update_cart(
        &self,
        id: u64,
        req: Request<Incoming>,
        journey: &Journey,
    ) -> Response<RespBody> {
        let authorized = bearer(&req).and_then(|t| journey.user_of(t)).is_some();
        let mut cart = match json_object(req).await {
            Ok(cart) => cart,
            Err(response) => return response,
        };
        {
            let mut c = self.counters();
            c.cart_updates += 1;
            c.cart_updates_authorized += u64::from(authorized);
        }
        cart.insert("id".into(), id.into());
        json_response(StatusCode::OK, &Value::Object(cart))
    }

    /// `POST /auth/login` with `{"username": .., "password": ..}`: `{"token": ..}`.
    async fn login(&self, req: Request<Incoming>, journey: &Journey) -> Response<RespBody> {
        let body = match json_object(req).await {
            Ok(body) => body,
            Err(response) => return response,
        };
        let field = |name| {
            body.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(user), Some(_)) = (field("username"), field("password")) else {
            return error(
                StatusCode::BAD_REQUEST,
                "username and password are not provided in JSON format",
            );
        };
        if user.len() > MAX_USER {
            return error(StatusCode::BAD_REQUEST, "username is longer than 256 bytes");
        }
        let token = journey.issue(user);
        {
            let mut c = self.counters();
            Self::count(&mut c, |c| &mut c.logins, user);
        }
        json_response(StatusCode::OK, &json!({ "token": token }))
    }
}

/// A request body that must be a JSON object (400 otherwise).
async fn json_object(req: Request<Incoming>) -> Result<Map<String, Value>, Response<RespBody>> {
    let body = read_body(req.into_body()).await?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(error(StatusCode::BAD_REQUEST, "body is not a JSON object")),
    }
}

/// httpbin's `POST /post`: the body as text, and as JSON when it is JSON.
async fn httpbin_post(req: Request<Incoming>) -> Response<RespBody> {
    let body = match read_body(req.into_body()).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let parsed = serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(&body);
    json_response(StatusCode::OK, &json!({"data": text, "json": parsed}))
}

/// The read-only pages (`GET`).
fn read(page: Page) -> Response<RespBody> {
    let by_id = |list: &[Value], id: u64| {
        list.iter()
            .find(|v| v["id"] == id)
            .map(|v| json_response(StatusCode::OK, v))
    };
    let found = match page {
        Page::Products => Some(list(&PRODUCTS_JSON)),
        Page::Product(id) => by_id(&PRODUCTS_JSON, id),
        Page::Users => Some(list(&USERS_JSON)),
        Page::User(id) => by_id(&USERS_JSON, id),
        Page::OfUser(id, kind) if (1..=USERS.len() as u64).contains(&id) => {
            let items: Vec<Value> = match kind {
                Kind::Albums => albums_of(id).collect(),
                Kind::Todos => todos_of(id).collect(),
                Kind::Posts => posts_of(id).collect(),
            };
            Some(list(&items))
        }
        Page::Posts => Some(list(&POSTS_JSON)),
        Page::Post(id) => by_id(&POSTS_JSON, id),
        _ => None,
    };
    // jsonplaceholder answers an unknown id with 404 and an empty object.
    found.unwrap_or_else(|| json_response(StatusCode::NOT_FOUND, &json!({})))
}

fn list(items: &[Value]) -> Response<RespBody> {
    // A slice of JSON values always serializes.
    let body = serde_json::to_vec(items).expect("JSON values serialize");
    respond(
        StatusCode::OK,
        "application/json; charset=utf-8",
        RespBody::Full(Bytes::from(body)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let table = [
            ("/products", Some(Page::Products)),
            ("/products/3", Some(Page::Product(3))),
            ("/products/x", None),
            ("/carts", Some(Page::Carts)),
            ("/carts/11", Some(Page::Cart(11))),
            ("/auth/login", Some(Page::AuthLogin)),
            ("/auth", None),
            ("/auth/login/x", None),
            ("/users", Some(Page::Users)),
            ("/users/1", Some(Page::User(1))),
            ("/users/1/albums", Some(Page::OfUser(1, Kind::Albums))),
            ("/users/2/todos", Some(Page::OfUser(2, Kind::Todos))),
            ("/users/3/posts", Some(Page::OfUser(3, Kind::Posts))),
            ("/users/3/photos", None),
            ("/users/1/albums/1", None),
            ("/users/", None),
            ("/posts", Some(Page::Posts)),
            ("/posts/2", Some(Page::Post(2))),
            ("/post", Some(Page::HttpbinPost)),
            ("/hosts/api.example.com/users", Some(Page::Host)),
            ("/hosts/h", Some(Page::Host)),
            ("/hosts/", None),
            ("/nope", None),
            ("/", None),
            ("", None),
        ];
        for (path, expected) in table {
            assert_eq!(Page::parse(path), expected, "{path:?}");
        }
        assert_eq!(
            split_host("/hosts/api.example.com/users/1"),
            Some(("api.example.com", "users/1"))
        );
        assert_eq!(split_host("/hosts/h"), Some(("h", "")));
        assert_eq!(split_host("/hosts//x"), None);
    }

    #[test]
    fn the_data_holds_what_the_examples_test() {
        let users = &*USERS_JSON;
        assert_eq!(users.len(), 10);
        assert_eq!(users[0]["name"], "Leanne Graham");
        assert_eq!(users[0]["username"], "Bret");
        assert!(users[0]["email"].as_str().unwrap().ends_with(".biz"));
        assert_eq!(users[0]["address"]["city"], "Gwenborough");
        assert_eq!(users[0]["company"]["name"], "Romaguera-Crona");
        assert_eq!(users[9]["id"], 10);
        assert!(users[9]["name"].as_str().unwrap().starts_with("Clementina"));
        let cheap: Vec<u64> = PRODUCTS
            .iter()
            .filter(|p| p.price < 50.0)
            .map(|p| p.id)
            .collect();
        assert_eq!(cheap, [2, 4, 5, 7]);
        let todos: Vec<Value> = todos_of(1).collect();
        assert_eq!(todos.len(), 4);
        assert_eq!(todos.iter().filter(|t| t["completed"] == true).count(), 1);
        assert_eq!(POSTS_JSON.len(), 20);
        assert_eq!(POSTS_JSON[1]["id"], 2);
        assert_eq!(albums_of(2).next().unwrap()["id"], 4);
    }
}
